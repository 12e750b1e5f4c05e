//! User-Agents of attack tools: vulnerability scanners, injection tools, directory brute
//! forcers, exploit kits.
//!
//! Only tools whose purpose is attacking belong on the list. Generic HTTP libraries (curl,
//! python-requests, Go-http-client), browsers, search-engine crawlers and monitoring agents
//! are not: legitimate scripts and uptime checks use them every minute, and an attacker can
//! send any User-Agent anyway, so this signal only catches the careless, and must never catch
//! the innocent. Patterns are case-insensitive substrings found with one automaton pass; a
//! pattern written with `\b` at an end must also sit on a word boundary there, so `\bnikto`
//! matches "Nikto/2.5" but not a product whose name merely contains those letters.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::detect::{list_entries, DetectError};

/// The list name used in errors.
const LIST: &str = "bad-user-agents";

/// Compiled scanner User-Agent patterns.
pub struct UserAgentMatcher {
    automaton: AhoCorasick,
    patterns: Vec<UserAgentPattern>,
}

/// One pattern as written, with its boundary requirements.
#[derive(Clone, Debug)]
struct UserAgentPattern {
    written: String,
    line: usize,
    boundary_before: bool,
    boundary_after: bool,
}

impl UserAgentMatcher {
    /// Builds the matcher from the text of a pattern list (one pattern per line, `#`
    /// comments, optional `\b` at either end).
    ///
    /// Fails when a pattern is empty once its `\b` markers are removed, is shorter than three
    /// characters (it would match too much), or when the list has no pattern.
    pub fn new(list: &str) -> Result<Self, DetectError> {
        let mut patterns = Vec::new();
        let mut needles = Vec::new();
        for (line, entry) in list_entries(list) {
            let pattern = parse_pattern(line, entry)?;
            needles.push(strip_markers(entry).to_ascii_lowercase());
            patterns.push(pattern);
        }
        if patterns.is_empty() {
            return Err(DetectError::EmptyList { list: LIST });
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&needles)
            .map_err(|source| DetectError::Automaton { list: LIST, source })?;
        Ok(UserAgentMatcher {
            automaton,
            patterns,
        })
    }

    /// Builds the matcher from the shipped `conf/lists/bad-user-agents.txt`.
    pub fn builtin() -> Self {
        UserAgentMatcher::new(include_str!("../../conf/lists/bad-user-agents.txt"))
            .expect("the shipped User-Agent list is valid: a unit test builds it")
    }

    /// Returns the index of the first pattern (in list order) that `user_agent` matches.
    pub fn matches(&self, user_agent: &str) -> Option<usize> {
        let bytes = user_agent.as_bytes();
        self.automaton
            .find_overlapping_iter(user_agent)
            .filter(|found| {
                let pattern = &self.patterns[found.pattern().as_usize()];
                pattern.fits(bytes, found.start(), found.end())
            })
            .map(|found| found.pattern().as_usize())
            .min()
    }

    /// The pattern at `index` as written in the list, for explaining a match.
    pub fn pattern(&self, index: usize) -> Option<&str> {
        self.patterns
            .get(index)
            .map(|pattern| pattern.written.as_str())
    }

    /// The 1-based list line of the pattern at `index`.
    pub fn line(&self, index: usize) -> Option<usize> {
        self.patterns.get(index).map(|pattern| pattern.line)
    }

    /// The number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Says whether the matcher has no pattern (never true for a built matcher).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

impl UserAgentPattern {
    /// Checks the `\b` requirements of one occurrence at `start..end`.
    fn fits(&self, bytes: &[u8], start: usize, end: usize) -> bool {
        let before_ok = !self.boundary_before || start == 0 || !is_word_byte(bytes[start - 1]);
        let after_ok =
            !self.boundary_after || bytes.get(end).is_none_or(|byte| !is_word_byte(*byte));
        before_ok && after_ok
    }
}

fn parse_pattern(line: usize, entry: &str) -> Result<UserAgentPattern, DetectError> {
    let needle = strip_markers(entry);
    if needle.trim().chars().count() < 3 {
        return Err(DetectError::InvalidEntry {
            list: LIST,
            line,
            entry: entry.to_string(),
            reason: "a pattern needs at least three characters besides its \\b markers",
        });
    }
    Ok(UserAgentPattern {
        written: entry.to_string(),
        line,
        boundary_before: entry.starts_with("\\b"),
        boundary_after: entry.len() > 2 && entry.ends_with("\\b"),
    })
}

/// The pattern without its `\b` markers.
fn strip_markers(entry: &str) -> &str {
    let entry = entry.strip_prefix("\\b").unwrap_or(entry);
    entry.strip_suffix("\\b").unwrap_or(entry)
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(list: &str, cases: &[(&str, Option<&str>)]) {
        let matcher = UserAgentMatcher::new(list).expect("the test list is valid");
        for (user_agent, expected) in cases {
            let found = matcher
                .matches(user_agent)
                .and_then(|index| matcher.pattern(index));
            assert_eq!(found, *expected, "{user_agent:?}");
        }
    }

    #[test]
    fn patterns_match_case_insensitively_and_respect_boundaries() {
        let list = "# scanners\nsqlmap\n\\bnikto\\b\n\\bzgrab\n";
        check(
            list,
            &[
                ("sqlmap/1.7#stable (https://sqlmap.org)", Some("sqlmap")),
                ("Mozilla/5.0 (Nikto/2.5.0)", Some("\\bnikto\\b")),
                ("Mozilla/5.0 Niktophone/1.0", None),
                ("Mozilla/5.0 zgrab/0.x", Some("\\bzgrab")),
                ("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", None),
            ],
        );
    }

    #[test]
    fn the_shipped_list_spares_generic_clients_and_crawlers() {
        let matcher = UserAgentMatcher::builtin();
        let innocent = [
            "curl/8.4.0",
            "python-requests/2.31.0",
            "Go-http-client/1.1",
            "Wget/1.21.3",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
            "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
            "Datadog Agent/7.50.0",
            "PagerDuty/1.0",
        ];
        for user_agent in innocent {
            assert_eq!(matcher.matches(user_agent), None, "{user_agent:?}");
        }
        for user_agent in [
            "sqlmap/1.8",
            "Mozilla/5.00 (Nikto/2.1.6)",
            "Fuzz Faster U Fool v2.1.0",
        ] {
            assert!(matcher.matches(user_agent).is_some(), "{user_agent:?}");
        }
    }

    #[test]
    fn short_or_empty_patterns_are_refused_with_their_line() {
        let error = UserAgentMatcher::new("nikto\n\\bab\\b\n")
            .err()
            .map(|error| error.to_string());
        assert_eq!(
            error.as_deref(),
            Some("bad-user-agents line 2: a pattern needs at least three characters besides its \\b markers: \"\\\\bab\\\\b\"")
        );
        assert!(matches!(
            UserAgentMatcher::new("# none\n"),
            Err(DetectError::EmptyList { .. })
        ));
    }
}

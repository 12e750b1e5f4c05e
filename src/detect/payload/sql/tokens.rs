//! The SQL tokeniser: one shape letter per token of a value read as SQL.
//!
//! It is deliberately forgiving: a value is a fragment that the application pastes into its
//! own statement, so strings may be left open, comments may run to the end, and anything
//! that is not SQL (non-ASCII words, stray punctuation) is read as an ordinary word or
//! skipped. See the shape alphabet in the parent module.

use super::words::{load_data_len, mysql_table_len, phrase, SqlWords};

/// At most this many tokens are shaped; injections show their structure early, and the cap
/// bounds the work on long text fields.
const MAX_TOKENS: usize = 96;

/// Appends the shape of `text` to `shape`, one letter per token.
pub(crate) fn shape_tokens(words: &SqlWords, text: &str, shape: &mut String) {
    let bytes = text.as_bytes();
    let mut index = 0;
    let mut tokens = 0;
    while index < bytes.len() && tokens < MAX_TOKENS {
        let (letter, next) = next_token(words, text, index);
        index = next;
        if let Some(letter) = letter {
            shape.push(letter);
            tokens += 1;
            if letter == 'c' {
                break;
            }
        }
    }
}

/// Reads the token at `index`; returns its letter (None for whitespace and inline comments)
/// and the index after it.
fn next_token(words: &SqlWords, text: &str, index: usize) -> (Option<char>, usize) {
    let bytes = text.as_bytes();
    let byte = bytes[index];
    let next = bytes.get(index + 1).copied();
    match byte {
        b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => (None, index + 1),
        b'\'' | b'"' => quoted_string(bytes, index),
        b'`' => backtick_identifier(words, text, index),
        b'0'..=b'9' => number(bytes, index),
        b'.' if next.is_some_and(|byte| byte.is_ascii_digit()) => number(bytes, index + 1),
        b'/' if next == Some(b'*') => block_comment(bytes, index),
        b'*' if next == Some(b'/') => (None, index + 2),
        b'-' if next == Some(b'-') => (Some('c'), bytes.len()),
        b'-' if next == Some(b'>') => json_arrow(bytes, index),
        b'#' => (Some('c'), bytes.len()),
        b'@' => variable(bytes, index),
        // `union+all+select` in a path, where a `+` is not a space but was meant as one.
        b'+' if between_letters(bytes, index) => (None, index + 1),
        b'a'..=b'z' | b'_' => word(words, text, index),
        0x80..=0xff => (Some('w'), foreign_word_end(bytes, index)),
        _ => operator(bytes, index),
    }
}

/// A quoted string, with doubled quotes and backslash escapes inside; open to the end if it
/// never closes.
fn quoted_string(bytes: &[u8], start: usize) -> (Option<char>, usize) {
    let quote = bytes[start];
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            byte if byte == quote && bytes.get(index + 1) == Some(&quote) => index += 2,
            byte if byte == quote => return (Some('s'), index + 1),
            _ => index += 1,
        }
    }
    (Some('u'), bytes.len())
}

/// A MySQL backtick-quoted identifier reads as a word, or as the catalogue it names.
fn backtick_identifier(words: &SqlWords, text: &str, start: usize) -> (Option<char>, usize) {
    let bytes = text.as_bytes();
    let Some(offset) = bytes[start + 1..].iter().position(|byte| *byte == b'`') else {
        return (Some('u'), bytes.len());
    };
    let name = &text[start + 1..start + 1 + offset];
    let letter = match words.classify(name, false) {
        'Q' => 'Q',
        _ => 'w',
    };
    (Some(letter), start + offset + 2)
}

/// A number. MySQL reads `1.e(` and `1.e.tables` as a number glued to what follows, a trick
/// that hides the next token from filters; no ordinary text writes numbers that way.
fn number(bytes: &[u8], start: usize) -> (Option<char>, usize) {
    let mut index = start;
    while index < bytes.len() && (bytes[index].is_ascii_alphanumeric() || bytes[index] == b'.') {
        index += 1;
    }
    let text = &bytes[start..index];
    let glued = text.ends_with(b".e") && matches!(bytes.get(index), Some(b'(' | b'.'));
    let glued =
        glued || (text.ends_with(b".e.") && bytes.get(index).is_some_and(u8::is_ascii_alphabetic));
    (Some(if glued { '!' } else { 'n' }), index)
}

/// `/* */` is whitespace to SQL; `/*! */` is MySQL's executable comment, whose content runs,
/// and `/*+ */` an Oracle optimiser hint. Both are SQL only, also with spaces before the mark.
fn block_comment(bytes: &[u8], start: usize) -> (Option<char>, usize) {
    let mut mark = start + 2;
    while bytes.get(mark).is_some_and(u8::is_ascii_whitespace) {
        mark += 1;
    }
    if matches!(bytes.get(mark), Some(b'+' | b'!')) {
        let mut index = mark + 1;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
        return (Some('!'), index);
    }
    let end = bytes[start + 2..]
        .windows(2)
        .position(|pair| pair == b"*/")
        .map_or(bytes.len(), |offset| start + 2 + offset + 2);
    (None, end)
}

/// PostgreSQL's and MySQL's JSON operators `->` and `->>` compare like `=` does.
fn json_arrow(bytes: &[u8], start: usize) -> (Option<char>, usize) {
    let len = if bytes.get(start + 2) == Some(&b'>') {
        3
    } else {
        2
    };
    (Some('o'), start + len)
}

/// `@@name` is a server variable (strong), `@name` a user variable.
fn variable(bytes: &[u8], start: usize) -> (Option<char>, usize) {
    let system = bytes.get(start + 1) == Some(&b'@');
    let mut index = start + 1 + usize::from(system);
    while index < bytes.len() && (bytes[index].is_ascii_alphanumeric() || bytes[index] == b'_') {
        index += 1;
    }
    let named = index > start + 1 + usize::from(system);
    let letter = match (system, named) {
        (true, true) => 'Q',
        (false, true) => 'v',
        _ => 'a',
    };
    (Some(letter), index)
}

fn between_letters(bytes: &[u8], index: usize) -> bool {
    let before = index.checked_sub(1).map(|before| bytes[before]);
    before.is_some_and(|byte| byte.is_ascii_alphabetic())
        && bytes.get(index + 1).is_some_and(u8::is_ascii_alphabetic)
}

/// A word in another script (or glued to one, as `elt` in `Haßelt`) is never SQL.
fn foreign_word_end(bytes: &[u8], start: usize) -> usize {
    let mut index = start;
    while index < bytes.len() && (bytes[index] >= 0x80 || bytes[index].is_ascii_alphanumeric()) {
        index += 1;
    }
    index
}

fn operator(bytes: &[u8], start: usize) -> (Option<char>, usize) {
    let pair = bytes.get(start..start + 2).unwrap_or(&[]);
    let (letter, len) = match pair {
        b"||" | b"&&" => ('&', 2),
        b"::" => return cast(bytes, start + 2),
        b"<=" if bytes.get(start + 2) == Some(&b'>') => ('o', 3),
        b"!=" | b"<>" | b"<=" | b">=" | b"==" | b":=" | b"@>" | b"<@" | b"?|" | b"?&" => ('o', 2),
        // PostgreSQL's `?` (key exists) between a JSON string and a key; elsewhere a `?` is
        // punctuation.
        b"? " | b"?'" | b"?\"" if next_is_quote(bytes, start + 1) => ('o', 1),
        _ => match bytes[start] {
            b'=' | b'<' | b'>' => ('o', 1),
            b'(' | b')' | b',' | b';' | b'.' => (char::from(bytes[start]), 1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'|' | b'&' | b'^' | b'~' | b'!' => ('a', 1),
            _ => return (None, start + 1),
        },
    };
    (Some(letter), start + len)
}

fn next_is_quote(bytes: &[u8], from: usize) -> bool {
    bytes[from..]
        .iter()
        .find(|byte| **byte != b' ')
        .is_some_and(|byte| matches!(byte, b'\'' | b'"'))
}

/// `::type` is a PostgreSQL cast; only SQL type names count, so `std::string` does not.
fn cast(bytes: &[u8], after: usize) -> (Option<char>, usize) {
    const TYPES: &[&[u8]] = &[
        b"int",
        b"integer",
        b"bigint",
        b"smallint",
        b"text",
        b"varchar",
        b"char",
        b"bool",
        b"boolean",
        b"json",
        b"jsonb",
        b"numeric",
        b"float",
        b"double",
        b"real",
        b"oid",
        b"regclass",
        b"bytea",
        b"date",
        b"timestamp",
        b"money",
        b"xml",
        b"inet",
    ];
    let end = after
        + bytes[after..]
            .iter()
            .take_while(|byte| byte.is_ascii_alphabetic())
            .count();
    match TYPES.contains(&&bytes[after..end]) {
        true => (Some('@'), end),
        false => (Some('a'), after),
    }
}

/// A word: keyword, function call, catalogue name or plain identifier.
fn word(words: &SqlWords, text: &str, start: usize) -> (Option<char>, usize) {
    let bytes = text.as_bytes();
    let mut end = start;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || b"_$".contains(&bytes[end])) {
        end += 1;
    }
    let name = &text[start..end];
    let rest = &text[end..];
    if name == "mysql" {
        if let Some(len) = mysql_table_len(rest) {
            return (Some('Q'), end + len);
        }
    }
    let next = rest.trim_start_matches([' ', '\t', '\n', '\r']);
    if name == "load" {
        if let Some(consumed) = load_data_len(next) {
            return (Some('Q'), text.len() - next.len() + consumed);
        }
    }
    if let Some((letter, consumed)) = phrase(name, next) {
        return (Some(letter), text.len() - next.len() + consumed);
    }
    (Some(words.classify(name, next.starts_with('('))), end)
}

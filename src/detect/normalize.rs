//! Canonical forms of request text, so that an evasion and its plain payload look alike.
//!
//! Attackers hide payloads behind encodings that the application will undo: double
//! percent-encoding, IIS `%u` escapes, overlong UTF-8, fullwidth letters, HTML entities, case
//! games, backslashes and `/./` in paths, comments inside SQL, quotes inside shell words. The
//! detectors match against the forms built here instead of enumerating every disguise. Each
//! function writes into a caller-provided `String`, so the request path reuses one buffer per
//! view and does not allocate once the buffers have grown. Decoding is bounded (a few rounds),
//! and every step only shrinks or keeps the text, so hostile input cannot make it explode.

mod decode;

use decode::{decode_references_in_place, percent_decode_in_place};

/// How many times decoding is repeated: enough for double and triple encoding, bounded so a
/// deeply nested input costs at most a few linear passes.
const MAX_ROUNDS: usize = 3;

/// How a literal `+` is read while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlusSign {
    /// A `+` stays a `+` (paths, headers).
    Literal,
    /// A `+` means a space, as in query strings and form bodies.
    Space,
}

/// Writes the canonical form of `raw` into `out`: decoded until stable, folded to lower-case
/// ASCII where a disguise maps to ASCII, without NUL bytes.
///
/// The steps, repeated up to three rounds while they still change something: percent-decoding
/// (including `%uXXXX`), HTML entities (`&lt;`, `&#60`, `&#x3c;`), JavaScript escapes
/// (`\u0061`, `\x61`), overlong UTF-8 (`%c0%af` is `/`), fullwidth forms (`＜` is `<`), odd
/// spaces and zero-width characters. Stray bytes that are not UTF-8 are dropped, except those
/// that legacy 7-bit decoders read as `<`, `>`, `"` or `'`.
pub fn canonicalize(raw: &str, plus: PlusSign, out: &mut String) {
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.clear();
    bytes.extend_from_slice(raw.as_bytes());
    if plus == PlusSign::Space {
        for byte in bytes.iter_mut().filter(|byte| **byte == b'+') {
            *byte = b' ';
        }
    }

    for _ in 0..MAX_ROUNDS {
        let mut changed = percent_decode_in_place(&mut bytes);
        changed |= decode_references_in_place(&mut bytes);
        changed |= fold_in_place(&mut bytes);
        if !changed {
            break;
        }
    }

    // The fold leaves only whole UTF-8 sequences behind; the fallback keeps this total.
    *out = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    };
}

/// Writes the path view of a canonical text: backslashes become slashes, `//` and `/./`
/// collapse, and the hex spellings `0x2e`, `0x2f`, `0x5c` count as the characters they name.
///
/// `..` segments are kept, since they are what the traversal detector looks for; a Tomcat
/// path parameter after them (`..;/`) is dropped because servlet containers ignore it.
pub fn path_view(canonical: &str, out: &mut String) {
    out.clear();
    let mut rest = canonical;
    while let Some(character) = rest.chars().next() {
        let (character, width) = match hex_spelled_separator(rest.as_bytes()) {
            Some(separator) => (separator, 4),
            None => (character, character.len_utf8()),
        };
        rest = &rest[width..];
        match character {
            '/' | '\\' => push_path_separator(out),
            _ => out.push(character),
        }
    }
}

/// Writes the SQL view of a canonical text: `/* */` comments become a space, MySQL's
/// executable comments `/*! ... */` keep their content, and `--` or `#` comments are cut to
/// the end of their line.
pub fn sql_view(canonical: &str, out: &mut String) {
    out.clear();
    let mut rest = canonical;
    while let Some(position) = rest.find(['/', '-', '#']) {
        out.push_str(&rest[..position]);
        let tail = &rest[position..];
        rest = if let Some(inner) = tail.strip_prefix("/*") {
            skip_block_comment(inner, out)
        } else if tail.starts_with("--") || tail.starts_with('#') {
            out.push(' ');
            tail.find('\n').map_or("", |newline| &tail[newline..])
        } else {
            out.push_str(&tail[..1]);
            &tail[1..]
        };
    }
    out.push_str(rest);
}

/// Writes the shell view of a canonical text: the characters a shell removes before running a
/// word (quotes, backslashes, cmd.exe carets, empty `$()` and backtick pairs, unset or special
/// variables inside a word) are removed, `$IFS` becomes a space, and brace expansion
/// punctuation becomes word separators, so `c''a\t /e$@tc/pa""sswd` reads `cat /etc/passwd`.
pub fn shell_view(canonical: &str, out: &mut String) {
    out.clear();
    let bytes = canonical.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        // `c:\windows`: after a drive letter a backslash separates directories; it quotes
        // nothing, so it is kept, as a slash.
        if bytes[index] == b'\\' && ends_with_drive(out) {
            out.push('/');
            index += 1;
            continue;
        }
        // A run of three or more backticks is a Markdown code fence, not two empty
        // substitutions; it is kept as written.
        if bytes[index..].starts_with(b"```") {
            let run = bytes[index..]
                .iter()
                .take_while(|byte| **byte == b'`')
                .count();
            out.push_str(&canonical[index..index + run]);
            index += run;
            continue;
        }
        let skipped = shell_noise_len(&bytes[index..], out);
        if skipped > 0 {
            index += skipped;
            continue;
        }
        let end = next_char_boundary(canonical, index);
        match bytes[index] {
            b',' | b'\t' => out.push(' '),
            b'{' if opens_brace_expansion(&bytes[index + 1..]) => out.push_str(" ; "),
            b'}' => out.push(' '),
            _ => out.push_str(&canonical[index..end]),
        }
        index = end;
    }
}

/// Lower-cases ASCII, folds disguised characters to ASCII, drops NUL and invisible
/// characters, and repairs bytes that are not UTF-8, all in place. Returns whether anything
/// other than letter case changed, which tells the caller another decoding round may help.
fn fold_in_place(bytes: &mut Vec<u8>) -> bool {
    let mut read = 0;
    let mut write = 0;
    let mut changed = false;
    while read < bytes.len() {
        let original = bytes[read];
        let (folded, consumed) = fold_at(&bytes[read..]);
        match folded {
            Folded::Keep => {
                bytes.copy_within(read..read + consumed, write);
                write += consumed;
            }
            Folded::Ascii(byte) => {
                bytes[write] = byte;
                write += 1;
                changed |= !original.is_ascii_uppercase();
            }
            Folded::Drop => changed = true,
        }
        read += consumed;
    }
    bytes.truncate(write);
    changed
}

/// What one character (or stray byte) becomes in the canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Folded {
    Keep,
    Ascii(u8),
    Drop,
}

/// Folds the character at the start of `input`; returns the result and the bytes it used.
fn fold_at(input: &[u8]) -> (Folded, usize) {
    let first = input[0];
    if first < 0x80 {
        return (fold_ascii(first), 1);
    }
    if let Some((character, width)) = utf8_char_at(input) {
        return (fold_char(character), width);
    }
    if let Some((byte, width)) = overlong_ascii(input) {
        let folded = match fold_ascii(byte) {
            Folded::Keep => Folded::Ascii(byte),
            other => other,
        };
        return (folded, width);
    }
    // Legacy 7-bit decoders read a stray byte with its top bit cleared; only the characters
    // that change the meaning of markup or queries are worth keeping from that reading.
    match first & 0x7f {
        byte @ (b'<' | b'>' | b'"' | b'\'') => (Folded::Ascii(byte), 1),
        _ => (Folded::Drop, 1),
    }
}

fn fold_ascii(byte: u8) -> Folded {
    match byte {
        0 => Folded::Drop,
        b'\t' | b'\n' | b'\r' => Folded::Keep,
        0x01..=0x1f | 0x7f => Folded::Ascii(b' '),
        b'A'..=b'Z' => Folded::Ascii(byte.to_ascii_lowercase()),
        _ => Folded::Keep,
    }
}

fn fold_char(character: char) -> Folded {
    let code = u32::from(character);
    match code {
        // Fullwidth ASCII: `＜ｓｃｒｉｐｔ＞` renders and is often normalised as `<script>`.
        0xff01..=0xff5e => Folded::Ascii(((code - 0xfee0) as u8).to_ascii_lowercase()),
        // No-break, typographic and ideographic spaces separate words like a space does.
        0xa0 | 0x2000..=0x200a | 0x202f | 0x205f | 0x3000 => Folded::Ascii(b' '),
        // Invisible characters split keywords without changing how they render.
        0xad | 0x200b..=0x200d | 0x2060 | 0xfeff => Folded::Drop,
        // Bytes 0xbc and 0xbe are `<` and `>` to a 7-bit decoder, whichever way they arrive.
        0xbc => Folded::Ascii(b'<'),
        // Slashes from other blocks that lenient path handling maps to `/` and `\`.
        0x2044 | 0x2215 | 0x29f8 => Folded::Ascii(b'/'),
        0x2216 | 0x29f9 | 0xfe68 => Folded::Ascii(b'\\'),
        0xbe => Folded::Ascii(b'>'),
        _ => Folded::Keep,
    }
}

/// Reads one well-formed UTF-8 character (not overlong, not a surrogate).
pub(super) fn utf8_char_at(input: &[u8]) -> Option<(char, usize)> {
    let width = match input[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let text = std::str::from_utf8(input.get(..width)?).ok()?;
    text.chars().next().map(|character| (character, width))
}

/// Decodes an overlong encoding of an ASCII character (`c0 af` is `/`), as lenient decoders
/// such as old IIS did; for two-byte forms the second byte's top bits are not checked,
/// which is how `%c1%1c` became a backslash.
fn overlong_ascii(input: &[u8]) -> Option<(u8, usize)> {
    let continuation = |byte: u8| byte & 0xc0 == 0x80;
    match *input {
        [lead @ (0xc0 | 0xc1), second, ..] => {
            let code = ((lead & 0x1f) << 6) | (second & 0x3f);
            // Where that arithmetic gives a control character, decoders that skip the bad
            // lead byte keep the second one instead: `%c0%5c` is a backslash to them.
            let printable_second = (0x20..0x7f).contains(&second);
            let byte = if code < 0x20 && printable_second {
                second
            } else {
                code
            };
            Some((byte, 2))
        }
        [0xe0, second, third, ..]
            if second < 0xa0 && continuation(second) && continuation(third) =>
        {
            let code = ((second & 0x3f) as u32) << 6 | (third & 0x3f) as u32;
            (code < 0x80).then_some((code as u8, 3))
        }
        [0xf0, second, third, fourth, ..]
            if second < 0x90
                && continuation(second)
                && continuation(third)
                && continuation(fourth) =>
        {
            let code = ((second & 0x3f) as u32) << 12
                | ((third & 0x3f) as u32) << 6
                | (fourth & 0x3f) as u32;
            (code < 0x80).then_some((code as u8, 4))
        }
        _ => None,
    }
}

/// Reads `0x2e`, `0x2f` or `0x5c` at the start of `input` as the separator it spells.
fn hex_spelled_separator(input: &[u8]) -> Option<char> {
    match input.get(..4)? {
        b"0x2e" => Some('.'),
        b"0x2f" => Some('/'),
        b"0x5c" => Some('\\'),
        _ => None,
    }
}

/// Appends a `/`, collapsing `//`, dropping a `.` segment and a `;` path parameter after `..`.
fn push_path_separator(out: &mut String) {
    if out.ends_with('/') {
        return;
    }
    if out == "." || out.ends_with("/.") {
        out.pop();
        if out.ends_with('/') {
            return;
        }
    } else if out.ends_with("..;") {
        out.pop();
    }
    out.push('/');
}

/// Skips a `/* */` comment whose opening has been consumed, writing what SQL would see in
/// its place: a space, or the content of a MySQL executable comment `/*!50000 ... */`.
fn skip_block_comment<'a>(inner: &'a str, out: &mut String) -> &'a str {
    let end = inner.find("*/");
    let body = end.map_or(inner, |end| &inner[..end]);
    let rest = end.map_or("", |end| &inner[end + 2..]);
    out.push(' ');
    if let Some(executable) = body.strip_prefix('!') {
        out.push_str(executable.trim_start_matches(|c: char| c.is_ascii_digit()));
        out.push(' ');
    }
    rest
}

/// Returns how many bytes at the start of `input` a shell would remove before running the
/// word, pushing any replacement (a space for `$IFS`) into `out`; 0 means keep the byte.
fn shell_noise_len(input: &[u8], out: &mut String) -> usize {
    match input {
        [b'\'' | b'"' | b'\\' | b'^', ..] => 1,
        [b'`', b'`', ..] => 2,
        [b'$' | b'<' | b'>', b'(', b')', ..] => 3,
        [b'$', b'{', rest @ ..] => braced_variable_len(rest, out),
        // `$'...'` and `$"..."` are quoting (ANSI-C and locale), so the `$` goes with them.
        [b'$', b'\'' | b'"', ..] => 1,
        [b'$', b'i', b'f', b's', ..] => {
            out.push(' ');
            4
        }
        [b'$', b'@' | b'*' | b'!' | b'?' | b'-' | b'#' | b'$' | b'0'..=b'9', ..] => 2,
        [b'$', rest @ ..] if out.ends_with(|c: char| c.is_ascii_alphabetic()) => {
            1 + rest
                .iter()
                .take_while(|byte| byte.is_ascii_alphanumeric() || **byte == b'_')
                .count()
        }
        _ => 0,
    }
}

/// Says whether a `{` opens a brace expansion, which needs a comma or `..` before its `}`:
/// `{cat,/etc/passwd}` runs, while `{ip}` in a URL template stays as written.
fn opens_brace_expansion(after: &[u8]) -> bool {
    let Some(close) = after.iter().take(256).position(|byte| *byte == b'}') else {
        return false;
    };
    let inside = &after[..close];
    inside.contains(&b',') || inside.windows(2).any(|pair| pair == b"..")
}

/// Says whether `out` ends with a Windows drive, a lone letter and a colon.
fn ends_with_drive(out: &str) -> bool {
    match out.as_bytes() {
        [.., before, letter, b':'] => {
            letter.is_ascii_alphabetic() && !before.is_ascii_alphanumeric()
        }
        [letter, b':'] => letter.is_ascii_alphabetic(),
        _ => false,
    }
}

/// Length of a `${name}` expansion that expands to nothing useful (an unset or special
/// variable, `$IFS`), or 0 when its content is code such as `${jndi:...}` or `${`id`}`.
fn braced_variable_len(rest: &[u8], out: &mut String) -> usize {
    let Some(close) = rest.iter().take(32).position(|byte| *byte == b'}') else {
        return 0;
    };
    let content = &rest[..close];
    let plain = content
        .iter()
        .all(|byte| byte.is_ascii_alphanumeric() || b"_#%?@*!-".contains(byte));
    if !plain {
        return 0;
    }
    if content.starts_with(b"ifs") {
        out.push(' ');
    }
    close + 3
}

/// The byte index just past the character that starts at `index`.
fn next_char_boundary(text: &str, index: usize) -> usize {
    let mut end = index + 1;
    while !text.is_char_boundary(end) {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests;

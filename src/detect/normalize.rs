//! Canonical forms of request text, so that an evasion and its plain payload look alike.
//!
//! Attackers hide payloads behind encodings that the application will undo: double
//! percent-encoding, IIS `%u` escapes, overlong UTF-8, fullwidth letters, HTML entities, case
//! games, backslashes and `/./` in paths, comments inside SQL, quotes inside shell words. The
//! detectors match against the forms built here instead of enumerating every disguise. Each
//! function writes into a caller-provided `String`, so the request path reuses one buffer per
//! view and does not allocate once the buffers have grown. Decoding is bounded (a few rounds),
//! and every step only shrinks or keeps the text, so hostile input cannot make it explode.

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

/// Says whether `raw` holds anything the normalisers would change or the detectors care about.
///
/// Plain text is only ASCII letters, digits and `/ _ . - ~`, without `..`; an ordinary path
/// such as `/static/app-1.2.js` is plain, so the proxy can skip every decoding step for it.
pub fn needs_normalizing(raw: &str) -> bool {
    let mut previous_dot = false;
    for &byte in raw.as_bytes() {
        let plain =
            byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'_' | b'.' | b'-' | b'~');
        if !plain || (previous_dot && byte == b'.') {
            return true;
        }
        previous_dot = byte == b'.';
    }
    false
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
        let skipped = shell_noise_len(&bytes[index..], out);
        if skipped > 0 {
            index += skipped;
            continue;
        }
        let end = next_char_boundary(canonical, index);
        match bytes[index] {
            b',' | b'\t' => out.push(' '),
            b'{' => out.push_str(" ; "),
            b'}' => out.push(' '),
            _ => out.push_str(&canonical[index..end]),
        }
        index = end;
    }
}

/// Decodes `%XX` and `%uXXXX` in place; returns whether anything was decoded.
///
/// `%XX` yields a raw byte that may not be UTF-8 on its own (`%c0%af`); the fold pass that
/// follows turns such bytes into characters or drops them.
fn percent_decode_in_place(bytes: &mut Vec<u8>) -> bool {
    let mut read = 0;
    let mut write = 0;
    while read < bytes.len() {
        let decoded = match bytes[read] {
            b'%' => decode_percent(&bytes[read..]),
            _ => None,
        };
        let Some((value, consumed)) = decoded else {
            bytes[write] = bytes[read];
            write += 1;
            read += 1;
            continue;
        };
        match value {
            Decoded::Byte(byte) => {
                bytes[write] = byte;
                write += 1;
            }
            Decoded::Char(character) => {
                let mut utf8 = [0u8; 4];
                let encoded = character.encode_utf8(&mut utf8).as_bytes();
                bytes[write..write + encoded.len()].copy_from_slice(encoded);
                write += encoded.len();
            }
        }
        read += consumed;
    }
    let changed = write < bytes.len();
    bytes.truncate(write);
    changed
}

/// A decoded escape: a raw byte (`%XX`) or a whole character (`%uXXXX`).
#[derive(Clone, Copy)]
enum Decoded {
    Byte(u8),
    Char(char),
}

/// Decodes the escape at the start of `input`, returning it and the bytes it used.
fn decode_percent(input: &[u8]) -> Option<(Decoded, usize)> {
    if let [b'%', b'u' | b'U', a, b, c, d, ..] = input {
        if let Some(code) = hex4(*a, *b, *c, *d) {
            // A lone surrogate has no character; a space keeps the words around it apart.
            return Some((Decoded::Char(char::from_u32(code).unwrap_or(' ')), 6));
        }
    }
    if let [b'%', high, low, ..] = input {
        let value = (hex_digit(*high)? << 4) | hex_digit(*low)?;
        return Some((Decoded::Byte(value as u8), 3));
    }
    None
}

fn hex_digit(byte: u8) -> Option<u32> {
    char::from(byte).to_digit(16)
}

fn hex4(a: u8, b: u8, c: u8, d: u8) -> Option<u32> {
    Some((hex_digit(a)? << 12) | (hex_digit(b)? << 8) | (hex_digit(c)? << 4) | hex_digit(d)?)
}

/// Decodes HTML character references and JavaScript escapes in place; returns whether
/// anything was decoded. Every reference is at least as long as the UTF-8 it stands for.
fn decode_references_in_place(bytes: &mut Vec<u8>) -> bool {
    let mut read = 0;
    let mut write = 0;
    while read < bytes.len() {
        let decoded = match bytes[read] {
            b'&' => decode_entity(&bytes[read..]),
            b'\\' => decode_js_escape(&bytes[read..]),
            _ => None,
        };
        let Some((character, consumed)) = decoded else {
            bytes[write] = bytes[read];
            write += 1;
            read += 1;
            continue;
        };
        let mut utf8 = [0u8; 4];
        let encoded = character.encode_utf8(&mut utf8).as_bytes();
        bytes[write..write + encoded.len()].copy_from_slice(encoded);
        write += encoded.len();
        read += consumed;
    }
    let changed = write < bytes.len();
    bytes.truncate(write);
    changed
}

/// Decodes `&#NN;`, `&#xNN;` (the `;` is optional, as browsers allow) and the named
/// references that matter for markup, scripts and URLs.
fn decode_entity(input: &[u8]) -> Option<(char, usize)> {
    if let Some(digits) = input
        .strip_prefix(b"&#x")
        .or_else(|| input.strip_prefix(b"&#X"))
    {
        return numeric_reference(digits, 16, 3);
    }
    if let Some(digits) = input.strip_prefix(b"&#") {
        return numeric_reference(digits, 10, 2);
    }
    let name_len = input[1..]
        .iter()
        .take(10)
        .take_while(|byte| byte.is_ascii_alphabetic())
        .count();
    if input.get(1 + name_len) != Some(&b';') {
        return None;
    }
    let name = std::str::from_utf8(&input[1..1 + name_len]).ok()?;
    named_reference(name).map(|character| (character, name_len + 2))
}

fn numeric_reference(digits: &[u8], radix: u32, prefix_len: usize) -> Option<(char, usize)> {
    let max_digits = if radix == 16 { 6 } else { 7 };
    let count = digits
        .iter()
        .take(max_digits)
        .take_while(|byte| char::from(**byte).is_digit(radix))
        .count();
    if count == 0 {
        return None;
    }
    let text = std::str::from_utf8(&digits[..count]).ok()?;
    let character = char::from_u32(u32::from_str_radix(text, radix).ok()?)?;
    let semicolon = usize::from(digits.get(count) == Some(&b';'));
    Some((character, prefix_len + count + semicolon))
}

/// The named references attackers use to spell markup and scripts; case is ignored because
/// decoders differ on it.
fn named_reference(name: &str) -> Option<char> {
    const NAMES: &[(&str, char)] = &[
        ("lt", '<'),
        ("gt", '>'),
        ("amp", '&'),
        ("quot", '"'),
        ("apos", '\''),
        ("tab", '\t'),
        ("newline", '\n'),
        ("nbsp", ' '),
        ("colon", ':'),
        ("semi", ';'),
        ("lpar", '('),
        ("rpar", ')'),
        ("lsqb", '['),
        ("rsqb", ']'),
        ("lcub", '{'),
        ("rcub", '}'),
        ("sol", '/'),
        ("bsol", '\\'),
        ("excl", '!'),
        ("num", '#'),
        ("dollar", '$'),
        ("percnt", '%'),
        ("ast", '*'),
        ("plus", '+'),
        ("comma", ','),
        ("period", '.'),
        ("equals", '='),
        ("quest", '?'),
        ("commat", '@'),
        ("lowbar", '_'),
        ("grave", '`'),
        ("verbar", '|'),
        ("hat", '^'),
    ];
    NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, character)| *character)
}

/// Decodes `\uXXXX` and `\u{X}` when they name an ASCII character, and `\xXX` always (as
/// the Latin-1 character it names, which the fold then reads as a 7-bit decoder would); other
/// escapes are left alone so Windows paths such as `c:\xampp` survive.
fn decode_js_escape(input: &[u8]) -> Option<(char, usize)> {
    let (code, consumed) = match input {
        [b'\\', b'u', b'{', rest @ ..] => {
            let count = rest
                .iter()
                .take(6)
                .take_while(|byte| byte.is_ascii_hexdigit())
                .count();
            if count == 0 || rest.get(count) != Some(&b'}') {
                return None;
            }
            let text = std::str::from_utf8(&rest[..count]).ok()?;
            (u32::from_str_radix(text, 16).ok()?, count + 4)
        }
        [b'\\', b'u', a, b, c, d, ..] => (hex4(*a, *b, *c, *d)?, 6),
        [b'\\', b'x', ..] => return decode_hex_escapes(input),
        _ => return None,
    };
    let character = char::from_u32(code).filter(|character| character.is_ascii())?;
    Some((character, consumed))
}

/// Decodes a run of `\xXX` escapes that spell one UTF-8 character (`\xc2\xbc` is `¼`), or
/// else the first escape alone as a Latin-1 character (`\xbc` is `¼` too, and `\xd0\xbc` is
/// the Cyrillic `м`, not a disguised `<`).
fn decode_hex_escapes(input: &[u8]) -> Option<(char, usize)> {
    let mut bytes = [0u8; 4];
    let mut count = 0;
    while count < 4 {
        match input.get(count * 4..count * 4 + 4) {
            Some([b'\\', b'x', high, low]) => {
                bytes[count] = ((hex_digit(*high)? << 4) | hex_digit(*low)?) as u8;
                count += 1;
            }
            _ if count == 0 => return None,
            _ => break,
        }
    }
    if let Some((character, width)) = utf8_char_at(&bytes[..count]) {
        return Some((character, width * 4));
    }
    Some((char::from(bytes[0]), 4))
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
        0xbe => Folded::Ascii(b'>'),
        _ => Folded::Keep,
    }
}

/// Reads one well-formed UTF-8 character (not overlong, not a surrogate).
fn utf8_char_at(input: &[u8]) -> Option<(char, usize)> {
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
        [lead @ (0xc0 | 0xc1), second, ..] => Some((
            (((lead & 0x1f) as u32) << 6 | (second & 0x3f) as u32) as u8,
            2,
        )),
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
mod tests {
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
                ("${jndi:ldap://x}", "$ ; jndi:ldap://x "),
                ("who^ami", "whoami"),
                ("type c:\\boot.ini", "type c:/boot.ini"),
                ("c\\at x:\\y", "cat x:/y"),
            ],
        );
    }

    #[test]
    fn plain_text_is_recognised_cheaply() {
        let plain = ["/static/app-1.2.js", "/a_b/~user/", "", "v1.0"];
        let not_plain = ["/a/../b", "/a?b", "/a%20b", "/a b", "/é", "..", "/a+b"];
        for raw in plain {
            assert!(!needs_normalizing(raw), "{raw:?} should be plain");
        }
        for raw in not_plain {
            assert!(needs_normalizing(raw), "{raw:?} should need normalizing");
        }
    }
}

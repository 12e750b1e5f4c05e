//! The decoders the canonical form is built with: percent escapes (also IIS's `%uXXXX`), HTML
//! character references and JavaScript escapes. Each works in place and only ever shrinks
//! the text, since every escape is at least as long as the UTF-8 it stands for.

use super::utf8_char_at;

/// Decodes `%XX` and `%uXXXX` in place; returns whether anything was decoded.
///
/// `%XX` yields a raw byte that may not be UTF-8 on its own (`%c0%af`); the fold pass that
/// follows turns such bytes into characters or drops them.
pub(super) fn percent_decode_in_place(bytes: &mut Vec<u8>) -> bool {
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
pub(super) fn decode_references_in_place(bytes: &mut Vec<u8>) -> bool {
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

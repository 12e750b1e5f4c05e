//! Text access logs in the common log format family, read in place.
//!
//! Covers Apache's common and combined formats, nginx's default `combined` (with or without
//! a trailing `"$http_x_forwarded_for"`), and the vhost-prefixed variants (`%v %h ...` and
//! `%v:%p %h ...`). Fields are found by walking the line once: bare tokens end at a space,
//! quoted fields at a `"` that is followed by a space or the end of the line, which copes
//! with both servers' escaping (`\"` from Apache, `\x22` from nginx) and with servers that do
//! not escape quotes at all. A field is copied only when it holds escapes to undo.

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use super::timestamp::TimeCache;
use super::{excerpt, header_value, parse_client, parse_status, LineError, LogEntry, Request};

/// Reads one line; `with_headers` also reads the Referer, User-Agent and X-Forwarded-For
/// fields that follow the size in the combined format.
pub(super) fn parse<'a>(
    line: &'a str,
    times: &mut TimeCache,
    with_headers: bool,
) -> Result<LogEntry<'a>, LineError> {
    let mut cursor = Cursor { line, pos: 0 };
    let (host, client) = vhost_and_client(&mut cursor)?;
    let time_ms = bracketed_time(&mut cursor, times)?;

    let request_field = cursor
        .quoted("request line")?
        .ok_or(LineError::MissingRequest)?;
    let status = parse_status(cursor.token().ok_or(LineError::MissingStatus)?)?;
    // The response size is not needed, but must be stepped over.
    cursor.token();

    let mut entry = LogEntry {
        client,
        time_ms,
        method: Cow::Borrowed(""),
        target: Cow::Borrowed(""),
        protocol: None,
        status,
        referer: None,
        user_agent: None,
        host: host.map(Cow::Borrowed),
        forwarded_for: None,
    };
    fill_request(&mut entry, request_field);
    if with_headers {
        entry.referer = cursor.quoted("referer")?.and_then(Quoted::header);
        entry.user_agent = cursor.quoted("user agent")?.and_then(Quoted::header);
        entry.forwarded_for = cursor.quoted("forwarded for")?.and_then(Quoted::header);
    }
    Ok(entry)
}

/// Reads the client address, and the vhost before it when the line starts with one.
///
/// A line starts with the client in the plain formats and with `vhost[:port]` in the
/// prefixed ones; the first token that is an IP address is the client.
fn vhost_and_client<'a>(
    cursor: &mut Cursor<'a>,
) -> Result<(Option<&'a str>, std::net::IpAddr), LineError> {
    let first = cursor.token().ok_or(LineError::MissingClient)?;
    if let Some(client) = parse_client(first) {
        return Ok((None, client));
    }

    let second = cursor.token().filter(|token| !token.starts_with('['));
    match second.and_then(parse_client) {
        Some(client) => Ok((Some(strip_port(first)), client)),
        None => Err(LineError::BadClient(excerpt(first))),
    }
}

/// Drops a `:port` suffix from a vhost, as written by `%v:%p`.
fn strip_port(vhost: &str) -> &str {
    match vhost.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => vhost,
    }
}

/// Skips the ident and user fields and reads the `[...]` timestamp after them.
fn bracketed_time(cursor: &mut Cursor<'_>, times: &mut TimeCache) -> Result<u64, LineError> {
    let rest = cursor.rest();
    let open = memchr(b'[', rest.as_bytes()).ok_or(LineError::MissingTimestamp)?;
    let Some(close) = memchr(b']', &rest.as_bytes()[open..]) else {
        return Err(LineError::BadTimestamp(excerpt(&rest[open + 1..])));
    };

    let text = &rest[open + 1..open + close];
    cursor.pos += open + close + 1;
    times
        .parse(text)
        .ok_or_else(|| LineError::BadTimestamp(excerpt(text)))
}

/// Splits the logged request line into the entry. Escapes are undone only in the target of
/// a well-formed line: the line of a malformed request is kept as logged, which is both
/// what an operator recognises and safe to print.
pub(super) fn fill_request<'a>(entry: &mut LogEntry<'a>, field: Quoted<'a>) {
    let request = Request::from_line(Cow::Borrowed(field.raw));
    let well_formed = !request.method.is_empty();
    entry.target = match request.target {
        Cow::Borrowed(target) if well_formed && field.escaped => unescape(target),
        target => target,
    };
    entry.method = request.method;
    entry.protocol = request.protocol;
}

/// A position in a line being read field by field.
pub(super) struct Cursor<'a> {
    pub(super) line: &'a str,
    pub(super) pos: usize,
}

/// A quoted field's text between the quotes, escapes still in place.
pub(super) struct Quoted<'a> {
    pub(super) raw: &'a str,
    escaped: bool,
}

impl<'a> Quoted<'a> {
    /// Turns a header field into the entry's value: `None` for `-` or empty, escapes undone.
    pub(super) fn header(self) -> Option<Cow<'a, str>> {
        let text = if self.escaped {
            unescape(self.raw)
        } else {
            Cow::Borrowed(self.raw)
        };
        header_value(text)
    }
}

impl<'a> Cursor<'a> {
    /// The unread part of the line.
    fn rest(&self) -> &'a str {
        &self.line[self.pos..]
    }

    /// Steps over spaces and tabs.
    fn skip_blanks(&mut self) {
        let blanks = self.rest().bytes().take_while(|&b| b == b' ' || b == b'\t');
        self.pos += blanks.count();
    }

    /// Reads the next space-separated token; `None` at the end of the line.
    pub(super) fn token(&mut self) -> Option<&'a str> {
        self.skip_blanks();
        let rest = self.rest();
        if rest.is_empty() {
            return None;
        }
        let len = rest.find([' ', '\t']).unwrap_or(rest.len());
        self.pos += len;
        Some(&rest[..len])
    }

    /// Reads the next field if it is quoted; `Ok(None)`, consuming nothing, if it is not.
    /// Fails when the closing quote is missing; `field` names the field for the message.
    pub(super) fn quoted(&mut self, field: &'static str) -> Result<Option<Quoted<'a>>, LineError> {
        self.skip_blanks();
        let rest = self.rest();
        if !rest.starts_with('"') {
            return Ok(None);
        }

        let bytes = rest.as_bytes();
        let mut escaped = false;
        let mut at = 1;
        while let Some(found) = memchr2(b'"', b'\\', &bytes[at..]) {
            let index = at + found;
            if bytes[index] == b'\\' {
                // A backslash escapes the byte after it, quote or not.
                escaped = true;
                at = index + 2;
            } else if matches!(bytes.get(index + 1), None | Some(b' ' | b'\t')) {
                self.pos += index + 1;
                let raw = &rest[1..index];
                return Ok(Some(Quoted { raw, escaped }));
            } else {
                at = index + 1;
            }
            if at >= bytes.len() {
                break;
            }
        }
        Err(LineError::Unterminated(field))
    }
}

/// Undoes the escapes Apache and nginx write into quoted fields: `\"`, `\\`, C-style
/// whitespace and `\xHH` bytes, keeping an unknown escape as it stands. When the bytes
/// that come out are not UTF-8 (a Referer in a legacy code page, binary junk), the field is
/// kept as logged instead, since replacement characters would lose what the escapes say.
pub(super) fn unescape(raw: &str) -> Cow<'_, str> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let (byte, width) = match (bytes[at], bytes.get(at + 1)) {
            (b'\\', Some(&letter)) => escape(letter, bytes.get(at + 2..at + 4)),
            (byte, _) => (byte, 1),
        };
        decoded.push(byte);
        at += width;
    }
    String::from_utf8(decoded).map_or(Cow::Borrowed(raw), Cow::Owned)
}

/// Decodes the escape whose letter is `letter` (`hex` holds the two bytes after it): the
/// byte it stands for and how many bytes of input it used, or a literal backslash.
fn escape(letter: u8, hex: Option<&[u8]>) -> (u8, usize) {
    let byte = match letter {
        b'"' | b'\\' => letter,
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'v' => 0x0b,
        b'f' => 0x0c,
        b'x' => return hex.and_then(hex_byte).map_or((b'\\', 1), |byte| (byte, 4)),
        _ => return (b'\\', 1),
    };
    (byte, 2)
}

/// Reads two hexadecimal digits as a byte.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let &[high, low] = digits else {
        return None;
    };
    let value = |digit: u8| char::from(digit).to_digit(16);
    u8::try_from(value(high)? << 4 | value(low)?).ok()
}

#[cfg(test)]
mod tests {
    use super::super::LineParser;
    use super::super::LogFormat;
    use super::*;

    /// Parses each line with `format` and compares every field of the outcome, shown as
    /// `client time method target protocol status referer ua host xff` or `error: ...`.
    fn check(format: LogFormat, cases: &[(&str, &str)]) {
        for &(line, expected) in cases {
            let outcome = match LineParser::new(format).parse(line) {
                Ok(entry) => show(&entry),
                Err(error) => format!("error: {error}"),
            };
            assert_eq!(outcome, expected, "line: {line}");
        }
    }

    /// One-line rendering of every field of an entry, `~` standing for `None`.
    fn show(entry: &LogEntry<'_>) -> String {
        let optional = |value: &Option<Cow<'_, str>>| value.as_deref().unwrap_or("~").to_owned();
        format!(
            "{} {} [{}] [{}] {} {} [{}] [{}] {} {}",
            entry.client,
            entry.time_ms,
            entry.method,
            entry.target,
            optional(&entry.protocol),
            entry.status,
            optional(&entry.referer),
            optional(&entry.user_agent),
            optional(&entry.host),
            optional(&entry.forwarded_for),
        )
    }

    const STAMP: &str = "[17/May/2015:10:05:14 +0000]";
    const MILLIS: u64 = 1_431_857_114_000;

    /// Builds a line from `before` (fields ahead of the timestamp) and `after` (from the
    /// request line on), around the usual timestamp.
    fn line(before: &str, after: &str) -> String {
        format!("{before} {STAMP} {after}")
    }

    #[test]
    fn combined_and_common() {
        let combined = line(
            "93.114.45.13 - -",
            r#""GET /a?b=1 HTTP/1.1" 200 18848 "http://x/" "Mozilla/5.0 (X11)""#,
        );
        let common = line("93.114.45.13 - frank", r#""POST /login HTTP/1.0" 302 -"#);
        let nginx_xff = line(
            "10.0.0.1 - -",
            r#""GET / HTTP/2.0" 404 0 "-" "curl/8" "203.0.113.9, 10.0.0.2""#,
        );
        let traefik = line(
            "172.17.0.1 - -",
            r#""GET /x HTTP/2" 200 352 "-" "Nikto" 244 "a@docker" "http://172.17.0.3:80" 42ms"#,
        );
        let m = MILLIS;
        check(
            LogFormat::Combined,
            &[
                (
                    &combined,
                    &format!("93.114.45.13 {m} [GET] [/a?b=1] HTTP/1.1 200 [http://x/] [Mozilla/5.0 (X11)] ~ ~"),
                ),
                (&common, &format!("93.114.45.13 {m} [POST] [/login] HTTP/1.0 302 [~] [~] ~ ~")),
                (
                    &nginx_xff,
                    &format!("10.0.0.1 {m} [GET] [/] HTTP/2.0 404 [~] [curl/8] ~ 203.0.113.9, 10.0.0.2"),
                ),
                (&traefik, &format!("172.17.0.1 {m} [GET] [/x] HTTP/2 200 [~] [Nikto] ~ ~")),
            ],
        );
        check(
            LogFormat::Common,
            &[(
                &combined,
                &format!("93.114.45.13 {m} [GET] [/a?b=1] HTTP/1.1 200 [~] [~] ~ ~"),
            )],
        );
    }

    #[test]
    fn vhosts_and_clients() {
        let m = MILLIS;
        let rest = r#""GET / HTTP/1.1" 200 1 "-" "ua""#;
        check(
            LogFormat::Combined,
            &[
                (
                    &line("www.example.com 1.2.3.4 - -", rest),
                    &format!("1.2.3.4 {m} [GET] [/] HTTP/1.1 200 [~] [ua] www.example.com ~"),
                ),
                (
                    &line("website.com:443 1.2.3.4 - -", rest),
                    &format!("1.2.3.4 {m} [GET] [/] HTTP/1.1 200 [~] [ua] website.com ~"),
                ),
                (
                    &line("192.168.1.1 - user123", rest),
                    &format!("192.168.1.1 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"),
                ),
                (
                    &line("192.168.1.1 -", rest),
                    &format!("192.168.1.1 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"),
                ),
                (
                    &line("192.168.1.1", rest),
                    &format!("192.168.1.1 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"),
                ),
                (
                    &line("2001:0db8:85a3:0000:0000:8a2e:0370:7334 - -", rest),
                    &format!(
                        "2001:db8:85a3::8a2e:370:7334 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"
                    ),
                ),
                (
                    &line("::1 - -", rest),
                    &format!("::1 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"),
                ),
                (
                    &line("[::1]:8080 - -", rest),
                    &format!("::1 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"),
                ),
                (
                    &line("::ffff:1.2.3.4 - -", rest),
                    &format!("1.2.3.4 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"),
                ),
                (
                    &line("\t 1.2.3.4\t-\t-", rest),
                    &format!("1.2.3.4 {m} [GET] [/] HTTP/1.1 200 [~] [ua] ~ ~"),
                ),
                (
                    &line("crawler.example.com - -", rest),
                    "error: bad client address `crawler.example.com`",
                ),
                (
                    &line("vhost crawler.example.com - -", rest),
                    "error: bad client address `vhost`",
                ),
                (&line("vhost", rest), "error: bad client address `vhost`"),
            ],
        );
    }

    #[test]
    fn escapes_in_quoted_fields() {
        let m = MILLIS;
        check(
            LogFormat::Combined,
            &[
                (
                    &line("1.2.3.4 - -", r#""GET /a?q=\"x\" HTTP/1.1" 200 1 "-" "say \"hi\" \\o/""#),
                    &format!(r#"1.2.3.4 {m} [GET] [/a?q="x"] HTTP/1.1 200 [~] [say "hi" \o/] ~ ~"#),
                ),
                (
                    &line("1.2.3.4 - -", r#""GET /s=/Index/\x5Cthink HTTP/1.1" 403 1 "-" "\xE2\x9C\x93 ok""#),
                    &format!(r#"1.2.3.4 {m} [GET] [/s=/Index/\think] HTTP/1.1 403 [~] [✓ ok] ~ ~"#),
                ),
                (
                    &line("1.2.3.4 - -", r#""GET /a\x22b\xFF\x4 \q HTTP/1.1" 200 1 "-" "tab\there""#),
                    &format!("1.2.3.4 {m} [GET] [/a\\x22b\\xFF\\x4 \\q] HTTP/1.1 200 [~] [tab\there] ~ ~"),
                ),
                (
                    &line("1.2.3.4 - -", r#""GET /a"b HTTP/1.1" 200 1 "-" "x"y""#),
                    &format!(r#"1.2.3.4 {m} [GET] [/a"b] HTTP/1.1 200 [~] [x"y] ~ ~"#),
                ),
                (
                    &line("1.2.3.4 - -", r#""GET /trailing\\" 200 1 "" "\\""#),
                    &format!(r#"1.2.3.4 {m} [GET] [/trailing\] ~ 200 [~] [\] ~ ~"#),
                ),
            ],
        );
    }

    #[test]
    fn malformed_request_lines() {
        let m = MILLIS;
        check(
            LogFormat::Combined,
            &[
                (
                    &line("1.2.3.4 - -", r#""-" 400 0 "-" "-""#),
                    &format!("1.2.3.4 {m} [] [] ~ 400 [~] [~] ~ ~"),
                ),
                (
                    &line("1.2.3.4 - -", r#""" 400 0 "-" "-""#),
                    &format!("1.2.3.4 {m} [] [] ~ 400 [~] [~] ~ ~"),
                ),
                (
                    &line("1.2.3.4 - -", r#""\x16\x03\x01\x01 \x02" 400 226 "-" "-""#),
                    &format!(r"1.2.3.4 {m} [] [\x16\x03\x01\x01 \x02] ~ 400 [~] [~] ~ ~"),
                ),
                (
                    &line("1.2.3.4 - -", r#""HELP" 400 157 "-" "-""#),
                    &format!("1.2.3.4 {m} [] [HELP] ~ 400 [~] [~] ~ ~"),
                ),
                (
                    &line("1.2.3.4 - -", r#""GET /no-protocol" 200 1"#),
                    &format!("1.2.3.4 {m} [GET] [/no-protocol] ~ 200 [~] [~] ~ ~"),
                ),
            ],
        );
    }

    #[test]
    fn broken_lines_are_errors() {
        check(
            LogFormat::Combined,
            &[
                ("1.2.3.4", "error: missing timestamp"),
                (
                    "1.2.3.4 - - 17/May/2015:10:05:14 +0000",
                    "error: missing timestamp",
                ),
                (
                    "1.2.3.4 - - [17/May/2015:10:05:14 +0000",
                    "error: bad timestamp `17/May/2015:10:05:14 +0000`",
                ),
                (
                    "1.2.3.4 - - [yesterday] \"GET / HTTP/1.1\" 200 1",
                    "error: bad timestamp `yesterday`",
                ),
                (&line("1.2.3.4 - -", ""), "error: missing request line"),
                (
                    &line("1.2.3.4 - -", "GET / HTTP/1.1 200 1"),
                    "error: missing request line",
                ),
                (
                    &line("1.2.3.4 - -", r#""GET / HTTP/1.1 200 1"#),
                    "error: unterminated request line",
                ),
                (
                    &line("1.2.3.4 - -", r#""GET / HTTP/1.1\" 200 1"#),
                    "error: unterminated request line",
                ),
                (
                    &line("1.2.3.4 - -", r#""GET / HTTP/1.1""#),
                    "error: missing status",
                ),
                (
                    &line("1.2.3.4 - -", r#""GET / HTTP/1.1" - - "-" "x""#),
                    "error: bad status `-`",
                ),
                (
                    &line("1.2.3.4 - -", r#""GET / HTTP/1.1" 2000 1"#),
                    "error: bad status `2000`",
                ),
                (
                    &line(
                        "1.2.3.4 - -",
                        r#""GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 (trunc"#,
                    ),
                    "error: unterminated user agent",
                ),
                (
                    &line("1.2.3.4 - -", r#""GET / HTTP/1.1" 200 1 "-"#),
                    "error: unterminated referer",
                ),
            ],
        );
    }

    #[test]
    fn unescape_leaves_plain_text_alone() {
        for (raw, expected) in [
            ("plain", "plain"),
            (r"\", r"\"),
            (r"a\", r"a\"),
            (r"\x", r"\x"),
            (r"\xg1", r"\xg1"),
            (r"\x+1", r"\x+1"),
            (r"\\\\", r"\\"),
            (r"\x41\x42", "AB"),
            (r"\xc3\xa9\x22", "é\""),
            (r"\xe4\xe5", r"\xe4\xe5"),
        ] {
            assert_eq!(unescape(raw), expected, "raw {raw:?}");
        }
    }
}

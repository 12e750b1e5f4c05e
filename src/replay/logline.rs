//! One access-log line, read into the facts the engine scores.
//!
//! `rapsheet replay` runs a server's access log through the same engine as live traffic, so
//! each line must yield what the proxy would have observed: client, time, method, target,
//! status, Referer, User-Agent and host. Text logs (Apache and nginx common and combined
//! formats, with or without a vhost in front), AWS Application Load Balancer logs and JSON
//! lines are understood. A replay reads hundreds of thousands of lines a second, so a text
//! line is read in place: every field borrows from the line, and one is copied only when it
//! holds backslash escapes to undo.

mod alb;
mod clf;
mod json;
#[cfg(test)]
mod tests_corpora;
mod timestamp;

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::str::FromStr;

use timestamp::TimeCache;

/// Longest offending value quoted in an error message, in characters.
const EXCERPT_CHARS: usize = 60;

/// One request as an access log recorded it; text borrows from the line where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    /// The client address; an IPv4-mapped IPv6 address is given as IPv4.
    pub client: IpAddr,
    /// When the request was logged, in milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// The request method; empty when the request line was not HTTP-shaped (`-`, a TLS
    /// handshake sent to a plain-text port, binary junk).
    pub method: Cow<'a, str>,
    /// The request target (path and query) as the client sent it, with the log's escapes
    /// undone unless that would not give UTF-8; for a request line that is not HTTP-shaped,
    /// the whole line as logged.
    pub target: Cow<'a, str>,
    /// The protocol named by the request line (`HTTP/1.1`), when it named one.
    pub protocol: Option<Cow<'a, str>>,
    /// The response status.
    pub status: u16,
    /// The Referer header; `None` when absent or logged as `-`.
    pub referer: Option<Cow<'a, str>>,
    /// The User-Agent header; `None` when absent or logged as `-`.
    pub user_agent: Option<Cow<'a, str>>,
    /// The virtual host, when the format carries one (a vhost prefix, a JSON host field).
    pub host: Option<Cow<'a, str>>,
    /// The X-Forwarded-For header as logged, when the format carries it, so that a replay of
    /// a log written behind a CDN can find the real client the way the proxy would.
    pub forwarded_for: Option<Cow<'a, str>>,
}

impl LogEntry<'_> {
    /// Copies whatever the entry borrows, so it can outlive the line it was read from.
    pub fn into_owned(self) -> LogEntry<'static> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        LogEntry {
            client: self.client,
            time_ms: self.time_ms,
            method: own(self.method),
            target: own(self.target),
            protocol: self.protocol.map(own),
            status: self.status,
            referer: self.referer.map(own),
            user_agent: self.user_agent.map(own),
            host: self.host.map(own),
            forwarded_for: self.forwarded_for.map(own),
        }
    }
}

/// The layout of an access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Decided line by line, JSON when the line is an object and a text log otherwise, so
    /// that logs of different servers can be replayed together; the choice costs one byte
    /// comparison.
    #[default]
    Auto,
    /// `%h %l %u %t "%r" %>s %b`; anything after the size is ignored.
    Common,
    /// Common plus `"%{Referer}i" "%{User-agent}i"`, and nginx's optional
    /// `"$http_x_forwarded_for"` after them.
    Combined,
    /// One JSON object per line, with the key names common loggers use.
    JsonLines,
}

impl FromStr for LogFormat {
    type Err = UnknownFormatError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "common" | "clf" => Ok(Self::Common),
            "combined" => Ok(Self::Combined),
            "json" | "jsonl" | "json-lines" => Ok(Self::JsonLines),
            _ => Err(UnknownFormatError(excerpt(name))),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Common => "common",
            Self::Combined => "combined",
            Self::JsonLines => "json",
        })
    }
}

/// A log format name that is not one of `auto`, `common`, `combined` or `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format `{0}` (expected auto, common, combined or json)")]
pub struct UnknownFormatError(String);

/// What was wrong with a line that could not be read as a request.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line held nothing but whitespace.
    #[error("empty line")]
    Empty,
    /// No client address where one was expected.
    #[error("missing client address")]
    MissingClient,
    /// The client field is not an IP address (a host name, say).
    #[error("bad client address `{0}`")]
    BadClient(String),
    /// No timestamp where one was expected.
    #[error("missing timestamp")]
    MissingTimestamp,
    /// The timestamp is in no supported shape, or names an impossible time.
    #[error("bad timestamp `{0}`")]
    BadTimestamp(String),
    /// No request line, nor a method and target.
    #[error("missing request line")]
    MissingRequest,
    /// A quoted field runs to the end of the line, as in a truncated line.
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    /// No status where one was expected.
    #[error("missing status")]
    MissingStatus,
    /// The status is not a number from 0 to 999.
    #[error("bad status `{0}`")]
    BadStatus(String),
    /// The line is not a JSON object.
    #[error("malformed json: {0}")]
    Json(serde_json::Error),
}

/// Reads access-log lines in one format, keeping what consecutive lines share (the last
/// timestamp). One parser serves any number of inputs in turn.
#[derive(Debug, Default)]
pub struct LineParser {
    format: LogFormat,
    times: TimeCache,
}

impl LineParser {
    /// Creates a parser for `format`.
    pub fn new(format: LogFormat) -> Self {
        Self {
            format,
            times: TimeCache::default(),
        }
    }

    /// Reads one line (a trailing line break is ignored) into the request it records.
    ///
    /// A Kubernetes container-runtime prefix (`<time> stdout F `) is skipped first. Fails
    /// when a field the engine needs (client, time, request, status) is missing or
    /// unreadable; a request line that is not HTTP-shaped is not an error (see
    /// [`LogEntry::method`]).
    pub fn parse<'a>(&mut self, line: &'a str) -> Result<LogEntry<'a>, LineError> {
        let line = strip_container_prefix(line.trim_end_matches(['\n', '\r'])).trim_start();
        let line = strip_syslog_prefix(line);
        if line.trim_end().is_empty() {
            return Err(LineError::Empty);
        }
        match self.format {
            LogFormat::Common => clf::parse(line, &mut self.times, false),
            LogFormat::Combined => clf::parse(line, &mut self.times, true),
            LogFormat::JsonLines => json::parse(line, &mut self.times),
            LogFormat::Auto if line.starts_with('{') => json::parse(line, &mut self.times),
            LogFormat::Auto if alb::is_alb_line(line) => alb::parse(line, &mut self.times),
            LogFormat::Auto => clf::parse(line, &mut self.times, true),
        }
    }
}

/// Skips the `<RFC 3339 time> <stream> <F|P> ` prefix the container runtime adds to each
/// line of a container's output, so logs collected from Kubernetes nodes replay as they are.
fn strip_container_prefix(line: &str) -> &str {
    let bytes = line.as_bytes();
    // The dash and `T` of the date cannot start an IP address or a JSON object.
    if bytes.len() < 30 || bytes[4] != b'-' || bytes[10] != b'T' {
        return line;
    }
    let Some((_, after_time)) = line.split_once(' ') else {
        return line;
    };
    ["stdout F ", "stderr F ", "stdout P ", "stderr P "]
        .iter()
        .find_map(|stream| after_time.strip_prefix(stream))
        .unwrap_or(line)
}

/// Skips the prefix syslog adds when a web server logs through it (`Sep 15 16:13:46 host
/// nginx[2869]: ` or `2021-09-15T16:13:46+00:00 host nginx: `), so such logs replay as they
/// are. The line's own timestamp, in the access-log part, is the one used.
fn strip_syslog_prefix(line: &str) -> &str {
    let bytes = line.as_bytes();
    let bsd = bytes.len() > 16
        && bytes[0].is_ascii_uppercase()
        && bytes[3] == b' '
        && bytes.get(9) == Some(&b':')
        && bytes.get(12) == Some(&b':');
    let iso = bytes.len() > 20 && bytes[4] == b'-' && bytes[10] == b'T';
    if !(bsd || iso) {
        return line;
    }
    // The tag ends with `: ` (after the host, within the first few words).
    let Some(end) = line.find(": ") else {
        return line;
    };
    let prefix = &line[..end];
    if prefix.split(' ').filter(|word| !word.is_empty()).count() > 6 {
        return line;
    }
    line[end + 2..].trim_start()
}

/// A request's method, target and protocol, as the entry carries them.
struct Request<'a> {
    method: Cow<'a, str>,
    target: Cow<'a, str>,
    protocol: Option<Cow<'a, str>>,
}

impl<'a> Request<'a> {
    /// Splits a request line such as `GET /x HTTP/1.1`. A line that is not HTTP-shaped
    /// yields an empty method and the whole line as target; `-` yields both empty.
    fn from_line(line: Cow<'a, str>) -> Self {
        if line.is_empty() || line == "-" {
            return Self::malformed(Cow::Borrowed(""));
        }
        match split_request_line(&line) {
            Some(spans) => Self {
                method: slice(&line, spans.method),
                target: slice(&line, spans.target),
                protocol: spans.protocol.map(|range| slice(&line, range)),
            },
            None => Self::malformed(line),
        }
    }

    /// A request whose line could not be split; the line is kept as the target.
    fn malformed(line: Cow<'a, str>) -> Self {
        Self {
            method: Cow::Borrowed(""),
            target: line,
            protocol: None,
        }
    }
}

/// Where the method, target and protocol sit in a request line.
struct RequestSpans {
    method: Range<usize>,
    target: Range<usize>,
    protocol: Option<Range<usize>>,
}

/// Finds the parts of `METHOD target [HTTP/x]`; `None` unless the method is an HTTP token
/// and a target follows. A target with spaces in it (a broken client) is kept whole.
fn split_request_line(line: &str) -> Option<RequestSpans> {
    let method_end = line.find(' ')?;
    if !is_token(&line[..method_end]) {
        return None;
    }
    let target_start = line.len() - line[method_end..].trim_start_matches(' ').len();
    let rest = line[target_start..].trim_end_matches(' ');
    if rest.is_empty() {
        return None;
    }

    let (target_len, protocol) = match rest.rfind(' ') {
        Some(space) if rest[space + 1..].starts_with("HTTP/") => {
            let protocol_start = target_start + space + 1;
            let target_len = rest[..space].trim_end_matches(' ').len();
            (target_len, Some(protocol_start..target_start + rest.len()))
        }
        _ => (rest.len(), None),
    };
    Some(RequestSpans {
        method: 0..method_end,
        target: target_start..target_start + target_len,
        protocol,
    })
}

/// Tells whether `text` is an HTTP token (RFC 9110 `tchar`s), as a method must be.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Takes part of a borrowed-or-owned text, borrowing from the line whenever the whole did.
fn slice<'a>(text: &Cow<'a, str>, range: Range<usize>) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(whole) => Cow::Borrowed(&whole[range]),
        Cow::Owned(whole) => Cow::Owned(whole[range].to_owned()),
    }
}

/// Reads a client address: a bare IP, or one with a port (`1.2.3.4:56`, `[2001:db8::1]:443`)
/// or in brackets, as some servers log it.
fn parse_client(text: &str) -> Option<IpAddr> {
    let ip = match text.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            Some(inner) => inner.parse::<IpAddr>().ok()?,
            None => text.parse::<SocketAddr>().ok()?.ip(),
        },
    };
    Some(ip.to_canonical())
}

/// Reads a response status, a number from 0 to 999 (nginx logs 0 and 499 for requests it
/// never answered, so no range of "real" statuses is imposed).
fn parse_status(text: &str) -> Result<u16, LineError> {
    match text.parse::<u16>() {
        Ok(status) if status < 1000 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(status),
        _ => Err(LineError::BadStatus(excerpt(text))),
    }
}

/// Makes an optional header value: `None` for an empty value or the `-` loggers write for
/// a missing header.
fn header_value(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!text.is_empty() && text != "-").then_some(text)
}

/// Quotes an offending value for an error message: at most [`EXCERPT_CHARS`] characters,
/// with control characters escaped so the message is safe to print on a terminal.
fn excerpt(text: &str) -> String {
    let mut quoted = String::new();
    for (position, c) in text.chars().enumerate() {
        if position == EXCERPT_CHARS {
            quoted.push('…');
            break;
        }
        if c.is_control() {
            quoted.extend(c.escape_default());
        } else {
            quoted.push(c);
        }
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses each line with `format` and compares a one-line summary of the outcome.
    fn check(format: LogFormat, cases: &[(&str, &str)]) {
        for &(line, expected) in cases {
            let mut parser = LineParser::new(format);
            let outcome = match parser.parse(line) {
                Ok(entry) => format!(
                    "{} {} {:?} {:?} {:?} {} ua={:?} host={:?}",
                    entry.client,
                    entry.time_ms,
                    entry.method,
                    entry.target,
                    entry.protocol.as_deref(),
                    entry.status,
                    entry.user_agent.as_deref(),
                    entry.host.as_deref(),
                ),
                Err(error) => format!("error: {error}"),
            };
            assert_eq!(outcome, expected, "line: {line:?}");
        }
    }

    #[test]
    fn auto_detects_each_line() {
        check(
            LogFormat::Auto,
            &[
                (
                    r#"1.2.3.4 - - [17/May/2015:10:05:14 +0000] "GET / HTTP/1.1" 200 5 "-" "x""#,
                    r#"1.2.3.4 1431857114000 "GET" "/" Some("HTTP/1.1") 200 ua=Some("x") host=None"#,
                ),
                (
                    r#"  {"ip":"1.2.3.4","ts":1431857114,"request":"GET / HTTP/1.1","status":200}"#,
                    r#"1.2.3.4 1431857114000 "GET" "/" Some("HTTP/1.1") 200 ua=None host=None"#,
                ),
                ("", "error: empty line"),
                (" \r\n", "error: empty line"),
            ],
        );
    }

    #[test]
    fn entries_can_outlive_their_line() {
        let entry = {
            let line =
                String::from(r#"::1 - - [17/May/2015:10:05:14 +0000] "GET / HTTP/1.1" 200 5"#);
            let borrowed = LineParser::new(LogFormat::Auto)
                .parse(&line)
                .map(LogEntry::into_owned);
            borrowed.expect("the line parses")
        };
        assert_eq!(
            (&*entry.method, &*entry.target, entry.status),
            ("GET", "/", 200)
        );
    }

    #[test]
    fn container_runtime_prefix() {
        check(
            LogFormat::Auto,
            &[
                (
                    r#"2026-01-24T01:34:36.743000000+00:00 stdout F 10.0.0.1 - - [24/Jan/2026:01:34:36 +0000] "GET /a HTTP/1.1" 404 0 "-" "curl/8""#,
                    r#"10.0.0.1 1769218476000 "GET" "/a" Some("HTTP/1.1") 404 ua=Some("curl/8") host=None"#,
                ),
                (
                    r#"2026-01-24T01:34:36.743000000+00:00 stderr F {"remote_addr":"::1","time":"2026-01-24T01:34:36Z","method":"GET","uri":"/","status":"200"}"#,
                    r#"::1 1769218476000 "GET" "/" None 200 ua=None host=None"#,
                ),
                (
                    "2026-01-24T01:34:36.743000000+00:00 stdout X 10.0.0.1",
                    "error: bad client address `2026-01-24T01:34:36.743000000+00:00`",
                ),
            ],
        );
    }

    #[test]
    fn syslog_prefix() {
        check(
            LogFormat::Auto,
            &[
                (
                    r#"Sep 15 16:13:46 ip-172-31-43-28.us-east-2.compute.internal nginx[2869]: 81.150.104.130 - - [15/Sep/2021:16:13:46 +0000] "POST /wp-login.php HTTP/1.1" 200 5364 "-" "x""#,
                    r#"81.150.104.130 1631722426000 "POST" "/wp-login.php" Some("HTTP/1.1") 200 ua=Some("x") host=None"#,
                ),
                (
                    r#"Jul  8 11:07:07 web nginx: 167.71.13.196 - - [08/Jul/2021:11:07:07 +0000] "GET /wp-config.php HTTP/1.1" 200 5 "-" "Go-http-client/1.1""#,
                    r#"167.71.13.196 1625742427000 "GET" "/wp-config.php" Some("HTTP/1.1") 200 ua=Some("Go-http-client/1.1") host=None"#,
                ),
                (
                    r#"2021-09-15T16:13:46+00:00 web nginx[1]: 10.0.0.1 - - [15/Sep/2021:16:13:46 +0000] "GET / HTTP/1.1" 200 1"#,
                    r#"10.0.0.1 1631722426000 "GET" "/" Some("HTTP/1.1") 200 ua=None host=None"#,
                ),
            ],
        );
    }

    /// Splits a request line and shows its parts as `method|target|protocol`.
    fn check_request(cases: &[(&str, &str)]) {
        for &(line, expected) in cases {
            let request = Request::from_line(Cow::Borrowed(line));
            let shown = format!(
                "{}|{}|{}",
                request.method,
                request.target,
                request.protocol.as_deref().unwrap_or("")
            );
            assert_eq!(shown, expected, "request line {line:?}");
        }
    }

    #[test]
    fn request_lines() {
        check_request(&[
            ("GET /a?b=c HTTP/1.1", "GET|/a?b=c|HTTP/1.1"),
            ("GET /a", "GET|/a|"),
            ("GET  /a  HTTP/1.0 ", "GET|/a|HTTP/1.0"),
            ("GET /a b HTTP/1.1", "GET|/a b|HTTP/1.1"),
            ("GET /a b", "GET|/a b|"),
            ("OPTIONS * HTTP/1.1", "OPTIONS|*|HTTP/1.1"),
            (
                "CONNECT example.com:443 HTTP/1.1",
                "CONNECT|example.com:443|HTTP/1.1",
            ),
            ("GET HTTP/1.1", "GET|HTTP/1.1|"),
            ("-", "||"),
            ("", "||"),
            ("HELP", "|HELP|"),
            ("GET ", "|GET |"),
            (r"\x16\x03\x01", r"|\x16\x03\x01|"),
            (r"\x16\x03\x01\x01 \x02", r"|\x16\x03\x01\x01 \x02|"),
            (
                "lv|'|'|VHJvamFuX0M0NkY2RTk=|'| x",
                "|lv|'|'|VHJvamFuX0M0NkY2RTk=|'| x|",
            ),
            ("GÉT /é HTTP/1.1", "|GÉT /é HTTP/1.1|"),
        ]);
    }

    #[test]
    fn client_addresses() {
        let cases = [
            ("1.2.3.4", Some("1.2.3.4")),
            (
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                Some("2001:db8:85a3::8a2e:370:7334"),
            ),
            ("::ffff:10.0.0.1", Some("10.0.0.1")),
            ("1.2.3.4:5678", Some("1.2.3.4")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("example.com", None),
            ("1.2.3.4.5", None),
            ("", None),
        ];
        for (text, expected) in cases {
            let parsed = parse_client(text).map(|ip| ip.to_string());
            assert_eq!(parsed.as_deref(), expected, "client {text:?}");
        }
    }

    #[test]
    fn format_names() {
        for (name, format) in [
            ("auto", LogFormat::Auto),
            ("Common", LogFormat::Common),
            ("combined", LogFormat::Combined),
            ("json", LogFormat::JsonLines),
        ] {
            assert_eq!(name.parse::<LogFormat>(), Ok(format));
            assert_eq!(format.to_string().parse::<LogFormat>(), Ok(format));
        }
        let error = "xml".parse::<LogFormat>().map_err(|e| e.to_string());
        assert_eq!(
            error,
            Err("unknown log format `xml` (expected auto, common, combined or json)".to_owned())
        );
    }

    #[test]
    fn excerpts_are_short_and_printable() {
        assert_eq!(excerpt("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        let long = "x".repeat(100);
        assert_eq!(excerpt(&long), format!("{}…", "x".repeat(EXCERPT_CHARS)));
    }
}

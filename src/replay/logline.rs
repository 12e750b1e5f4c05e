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
mod haproxy;
mod json;
mod npm;
mod tagged;
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

impl<'a> LogEntry<'a> {
    /// An entry for `request` from a log that records no headers.
    fn bare(client: IpAddr, time_ms: u64, request: Request<'a>, status: u16) -> Self {
        LogEntry {
            client,
            time_ms,
            method: request.method,
            target: request.target,
            protocol: request.protocol,
            status,
            referer: None,
            user_agent: None,
            host: None,
            forwarded_for: None,
        }
    }

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
    /// An error-log line about something other than a request.
    #[error("an error-log message that names no request")]
    NotARequest,
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
            LogFormat::Auto => parse_text(line, &mut self.times),
        }
    }
}

/// Reads a text line of any layout `auto` knows: an error log's, Nginx Proxy Manager's, an
/// AWS load balancer's, HAProxy's, or one of the common log format family.
fn parse_text<'a>(line: &'a str, times: &mut TimeCache) -> Result<LogEntry<'a>, LineError> {
    if tagged::is_tagged_line(line) {
        tagged::parse(line, times)
    } else if npm::is_npm_line(line) {
        npm::parse(line, times)
    } else if alb::is_alb_line(line) {
        alb::parse(line, times)
    } else {
        // HAProxy's lines start as the common format's do, and part where the request
        // line should be: only a line that fails there is tried as HAProxy's.
        match clf::parse(line, times, true) {
            Err(LineError::MissingRequest) => match haproxy::parse(line, times) {
                Err(LineError::NotARequest) => Err(LineError::NotARequest),
                Err(_) => Err(LineError::MissingRequest),
                read => read,
            },
            read => read,
        }
    }
}

/// Reads a log line that a collector wrapped in JSON (Docker's `log`, journald's `MESSAGE`,
/// a platform's `message`), after the syslog prefix or bare program tag (`nginx: `) the
/// server may have put before it. The entry is copied, since the text was unescaped.
fn parse_wrapped(text: &str, times: &mut TimeCache) -> Result<LogEntry<'static>, LineError> {
    let text = strip_syslog_prefix(text.trim());
    let text = strip_program_tag(text);
    parse_text(text, times).map(LogEntry::into_owned)
}

/// Skips a program tag of a few words before `: ` (`frontend.0 nginx: `), when what follows
/// starts with a client address.
fn strip_program_tag(text: &str) -> &str {
    let Some((tag, rest)) = text.split_once(": ") else {
        return text;
    };
    let short_tag = tag.len() <= 64 && tag.split(' ').count() <= 3 && !tag.contains(['[', '"']);
    let client_follows = rest
        .split(' ')
        .next()
        .is_some_and(|word| parse_client(word).is_some());
    if short_tag && client_follows {
        rest
    } else {
        text
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
/// nginx[2869]: `, `2021-09-15T16:13:46+00:00 host nginx: `, or RFC 5424's `<171>1
/// 2021-09-15T16:13:46Z host nginx - - - `, with or without the `<priority>`), so such logs
/// replay as they are. The line's own timestamp, in the access-log part, is the one used.
fn strip_syslog_prefix(line: &str) -> &str {
    let line = strip_priority(line);
    if let Some(message) = rfc5424_message(line) {
        return message;
    }
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

/// Skips a syslog `<priority>` (`<171>`) at the start of a line.
fn strip_priority(line: &str) -> &str {
    let Some(rest) = line.strip_prefix('<') else {
        return line;
    };
    match rest.split_once('>') {
        Some((digits, after)) if (1..=3).contains(&digits.len()) && is_digits(digits) => after,
        _ => line,
    }
}

/// The message of an RFC 5424 line (`1 <time> <host> <app> <procid> <msgid> <data> <msg>`),
/// past the structured data, which is `-` or bracketed elements.
fn rfc5424_message(line: &str) -> Option<&str> {
    let mut rest = line.strip_prefix("1 ")?;
    if rest.as_bytes().get(4).is_none_or(|byte| *byte != b'-') {
        return None;
    }
    for _ in 0..5 {
        rest = rest.split_once(' ')?.1;
    }
    let message = match rest.strip_prefix('-') {
        Some(after) => after,
        None => {
            while let Some(element) = rest.strip_prefix('[') {
                rest = element.split_once(']')?.1;
            }
            rest
        }
    };
    Some(
        message
            .trim_start_matches(' ')
            .trim_start_matches('\u{feff}'),
    )
}

/// True for a non-empty run of ASCII digits.
fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
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
    fn lines_wrapped_by_log_collectors() {
        check(
            LogFormat::Auto,
            &[
                // Docker's json-file driver.
                (
                    r#"{"log":"172.17.0.1 - - [17/May/2015:10:05:14 +0000] \"GET /x HTTP/1.1\" 404 5 \"-\" \"curl/8\"\n","stream":"stdout","time":"2015-05-17T10:05:14.1Z"}"#,
                    r#"172.17.0.1 1431857114000 "GET" "/x" Some("HTTP/1.1") 404 ua=Some("curl/8") host=None"#,
                ),
                // A hosting platform's journal, with syslog's program tag inside.
                (
                    r#"{"timestamp":1431857114,"type":"log.journald","message":"frontend.0 nginx: 203.0.113.1 - - [17/May/2015:10:05:14 +0000] \"GET / HTTP/1.1\" 502 1 \"-\" \"x\""}"#,
                    r#"203.0.113.1 1431857114000 "GET" "/" Some("HTTP/1.1") 502 ua=Some("x") host=None"#,
                ),
                // A structured line keeps its own fields; its message is only a message.
                (
                    r#"{"ip":"1.2.3.4","ts":1431857114,"request":"GET / HTTP/1.1","status":200,"msg":"handled request"}"#,
                    r#"1.2.3.4 1431857114000 "GET" "/" Some("HTTP/1.1") 200 ua=None host=None"#,
                ),
                (
                    r#"{"time":1431857114,"message":"server started"}"#,
                    "error: bad client address `server`",
                ),
                (r#"{"time":1431857114}"#, "error: missing client address"),
            ],
        );
    }

    #[test]
    fn error_log_lines_that_record_a_request() {
        check(
            LogFormat::Auto,
            &[
                (
                    "[Fri Oct 08 17:08:41.203277 2021] [core:error] [pid 7005:tid 1404] [client 88.168.206.87:14532] AH00126: Invalid URI in request GET /cgi-bin/.%2E/%2E%2E/etc/passwd HTTP/1.1",
                    r#"88.168.206.87 1633712921203 "GET" "/cgi-bin/.%2E/%2E%2E/etc/passwd" Some("HTTP/1.1") 400 ua=None host=None"#,
                ),
                (
                    r#"2021/12/01 13:53:33 [error] 31#31: *46 "/usr/share/nginx/html/market/index.html" is not found (2: No such file or directory), client: 172.17.0.1, server: localhost, request: "GET /market/ HTTP/1.1", host: "localhost""#,
                    r#"172.17.0.1 1638366813000 "GET" "/market/" Some("HTTP/1.1") 404 ua=None host=Some("localhost")"#,
                ),
                (
                    "2025/05/01 14:14:02 [2025-05-01 14:14:02.417736] [router:root-no_resp] [origin:10.10.10.10] [client: 192.168.1.1] [useragent: Mozilla/5.0 zgrab/0.x] GET /ecp/Current/x.application 444",
                    r#"192.168.1.1 1746108842000 "GET" "/ecp/Current/x.application" None 444 ua=Some("Mozilla/5.0 zgrab/0.x") host=None"#,
                ),
                (
                    "[Fri Oct 08 17:08:41.203277 2021] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.51 (Unix) configured -- resuming normal operations",
                    "error: missing client address",
                ),
                (
                    "[Fri Oct 08 17:08:41 2021] [authz_core:error] [client 10.0.0.1:5] AH01630: client denied by server configuration: /srv/www/.git",
                    "error: an error-log message that names no request",
                ),
                (
                    "2021/12/01 13:53:33 [notice] 1#1: signal process started",
                    "error: missing client address",
                ),
            ],
        );
    }

    #[test]
    fn haproxy_http_logs() {
        check(
            LogFormat::Auto,
            &[
                (
                    r#"117.136.40.129:14853 [14/Jan/2015:12:48:57.127] https-in~ app/node_8002 170/0/0/3/173 200 739 - - --NN 0/0/0/0/0 0/0 "GET /xxx/xxx HTTP/1.1""#,
                    r#"117.136.40.129 1421239737127 "GET" "/xxx/xxx" Some("HTTP/1.1") 200 ua=None host=None"#,
                ),
                (
                    r#"Apr  4 14:30:19 hap-1 haproxy[3946303]: 192.168.1.1:55032 [04/Apr/2024:14:30:18.885] front~ back/web 0/0/0/169/169 404 1541 - - ---- 5715/616/96/15/0 0/0 {Mozilla/5.0|cloud.example} "PROPFIND /remote.php/webdav/a%20b.json HTTP/1.1""#,
                    r#"192.168.1.1 1712241018885 "PROPFIND" "/remote.php/webdav/a%20b.json" Some("HTTP/1.1") 404 ua=None host=None"#,
                ),
                (
                    r#"10.0.0.1:5 [14/Jan/2015:12:48:57.127] https-in~ https-in/<NOSRV> -1/-1/-1/-1/10001 408 212 - - cR-- 1/1/0/0/0 0/0 "<BADREQ>""#,
                    "error: an error-log message that names no request",
                ),
                (
                    "192.168.1.4:50033 [28/Feb/2025:02:43:10.123] frontend/backend: SSL handshake failure",
                    "error: missing request line",
                ),
            ],
        );
    }

    #[test]
    fn rfc5424_syslog() {
        check(
            LogFormat::Auto,
            &[
                (
                    r#"<171>1 2025-11-05T20:47:03.000000+00:00 firewall.lan nginx - - - 2025/11/05 20:47:03 [error] 24537#230441: *914 open() "/usr/local/www/x" failed (2: No such file or directory), client: fdfd:ace:ace:7::17a, server: , request: "GET /x HTTP/2.0", host: "firewall.lan""#,
                    r#"fdfd:ace:ace:7::17a 1762375623000 "GET" "/x" Some("HTTP/2.0") 404 ua=None host=Some("firewall.lan")"#,
                ),
                (
                    r#"<34>1 2021-09-15T16:13:46Z web nginx 12 - [meta x="1"][origin ip="10.0.0.9"] 10.0.0.1 - - [15/Sep/2021:16:13:46 +0000] "GET / HTTP/1.1" 200 1"#,
                    r#"10.0.0.1 1631722426000 "GET" "/" Some("HTTP/1.1") 200 ua=None host=None"#,
                ),
            ],
        );
    }

    #[test]
    fn nginx_proxy_manager_logs() {
        check(
            LogFormat::Auto,
            &[
                (
                    r#"[24/Jan/2022:16:51:02 +0000] - 404 404 - GET http openresty.local "/sdfdsf" [Client 1.2.3.4] [Length 192] [Gzip 3.10] [Sent-to openresty] "Mozilla/5.0 (X11)" "-""#,
                    r#"1.2.3.4 1643043062000 "GET" "/sdfdsf" None 404 ua=Some("Mozilla/5.0 (X11)") host=Some("openresty.local")"#,
                ),
                (
                    r#"[24/Jan/2022:13:40:19 +0000] 444 - GET https 4.3.2.1 "/.env" [Client 207.32.219.89] [Length 0] [Gzip -] "UCBrowser/11.0" "-""#,
                    r#"207.32.219.89 1643031619000 "GET" "/.env" None 444 ua=Some("UCBrowser/11.0") host=Some("4.3.2.1")"#,
                ),
                (
                    r#"[10/Feb/2024:21:23:32 +0100] mx.example.org 192.168.1.100 0.227 "REPORT /SOGo/dav/ HTTP/2.0" 207 125 440 - Mozilla/5.0 (Windows NT 10.0) Thunderbird/123.0"#,
                    r#"192.168.1.100 1707596612000 "REPORT" "/SOGo/dav/" Some("HTTP/2.0") 207 ua=Some("Mozilla/5.0 (Windows NT 10.0) Thunderbird/123.0") host=Some("mx.example.org")"#,
                ),
                (
                    r#"[24/Jan/2022:16:51:02 +0000] - 404 404 - GET http openresty.local "/x" [Length 192] "-" "-""#,
                    "error: bad client address `404`",
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

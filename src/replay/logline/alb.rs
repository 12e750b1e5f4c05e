//! AWS Application Load Balancer access logs, read in place.
//!
//! A balancer writes one space-separated line per request: the listener type, an RFC 3339
//! time, the balancer's name, `client:port`, `target:port`, three processing times, the
//! balancer's and the target's status, the byte counts, then the quoted request line and
//! User-Agent, and fields replay does not need. The request line carries the absolute URL the
//! client asked for, so the site's host is read from it: a replay then sees the same host in
//! the target and in the entry, as the proxy would for an HTTP/2 request.

use std::borrow::Cow;

use super::clf::{fill_request, Cursor, Quoted};
use super::timestamp::TimeCache;
use super::{excerpt, parse_client, parse_status, LineError, LogEntry};

/// The listener types a balancer writes first on a line.
const LISTENER_TYPES: &[&str] = &["http", "https", "h2", "grpcs", "ws", "wss"];

/// Says whether a line looks like a balancer's: a listener type, then an RFC 3339 time.
pub(super) fn is_alb_line(line: &str) -> bool {
    let Some((listener, rest)) = line.split_once(' ') else {
        return false;
    };
    let time = rest.as_bytes();
    LISTENER_TYPES.contains(&listener) && time.get(4) == Some(&b'-') && time.get(10) == Some(&b'T')
}

/// Reads one balancer line.
///
/// Fails when the time, client, status or request line is missing or unreadable.
pub(super) fn parse<'a>(line: &'a str, times: &mut TimeCache) -> Result<LogEntry<'a>, LineError> {
    let mut cursor = Cursor { line, pos: 0 };
    cursor.token();
    let time_text = cursor.token().ok_or(LineError::MissingTimestamp)?;
    let time_ms = times
        .parse(time_text)
        .ok_or_else(|| LineError::BadTimestamp(excerpt(time_text)))?;
    cursor.token();
    let client_text = cursor.token().ok_or(LineError::MissingClient)?;
    let client =
        parse_client(client_text).ok_or_else(|| LineError::BadClient(excerpt(client_text)))?;

    // The target address and the three processing times come before the balancer's status;
    // the target's status and the two byte counts after it.
    skip_tokens(&mut cursor, 4);
    let status = parse_status(cursor.token().ok_or(LineError::MissingStatus)?)?;
    skip_tokens(&mut cursor, 3);

    let request_field = cursor
        .quoted("request line")?
        .ok_or(LineError::MissingRequest)?;
    let host = url_host(request_field.raw).map(Cow::Borrowed);
    let mut entry = LogEntry {
        client,
        time_ms,
        method: Cow::Borrowed(""),
        target: Cow::Borrowed(""),
        protocol: None,
        status,
        referer: None,
        user_agent: cursor.quoted("user agent")?.and_then(Quoted::header),
        host,
        forwarded_for: None,
    };
    fill_request(&mut entry, request_field);
    Ok(entry)
}

fn skip_tokens(cursor: &mut Cursor<'_>, count: usize) {
    for _ in 0..count {
        cursor.token();
    }
}

/// The host of the absolute URL in a request line, without its port.
fn url_host(request_line: &str) -> Option<&str> {
    let (_, rest) = request_line.split_once("://")?;
    let authority = rest.split(['/', '?', ' ']).next()?;
    let host = match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => name,
        _ => authority,
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::super::{LineParser, LogFormat};

    /// Lines and what they hold: `client time method target status ua host`.
    fn check(cases: &[(&str, &str)]) {
        let mut parser = LineParser::new(LogFormat::Auto);
        for (line, expected) in cases {
            let got = match parser.parse(line) {
                Ok(entry) => format!(
                    "{} {} {} {} {} {} {}",
                    entry.client,
                    entry.time_ms,
                    entry.method,
                    entry.target,
                    entry.status,
                    entry.user_agent.as_deref().unwrap_or("-"),
                    entry.host.as_deref().unwrap_or("-"),
                ),
                Err(error) => format!("error: {error}"),
            };
            assert_eq!(&got, expected, "{line}");
        }
    }

    #[test]
    fn balancer_lines_are_read() {
        check(&[
            (
                "https 2023-04-26T12:23:00.186641Z app/lb/490d 192.0.2.7:44740 10.0.0.1:80 0.086 \
                 0.048 0.037 200 200 0 57 \"GET https://www.example.com:443/robots.txt HTTP/1.1\" \
                 \"curl/7.46.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:x \"Root=1-5\" \
                 \"www.example.com\" \"arn:y\" 0",
                "192.0.2.7 1682511780186 GET https://www.example.com:443/robots.txt 200 \
                 curl/7.46.0 www.example.com",
            ),
            (
                "h2 2023-04-26T19:53:46.679895Z app/lb/490d [2001:db8::5]:44740 - -1 -1 -1 404 - \
                 204 167 \"GET https://[2001:db8::1]:773/ HTTP/2.0\" \"-\" - - - \"Root=1\"",
                "2001:db8::5 1682538826679 GET https://[2001:db8::1]:773/ 404 - [2001:db8::1]",
            ),
            (
                "https 2023-04-26T19:53:46.679895Z app/lb/490d 192.0.2.7:1 - -1 -1 -1 460 - 0 0",
                "error: missing request line",
            ),
        ]);
    }

    #[test]
    fn other_lines_are_not_taken_for_balancer_lines() {
        for line in [
            "192.0.2.7 - - [26/Apr/2023:12:23:00 +0000] \"GET / HTTP/1.1\" 200 1",
            "http x",
            "https-only 2023-04-26T12:23:00Z",
        ] {
            assert!(!super::is_alb_line(line), "{line}");
        }
    }
}

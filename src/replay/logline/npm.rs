//! Nginx Proxy Manager's access logs, which start with the time, read in place.
//!
//! ```text
//! [24/Jan/2022:16:51:02 +0000] - 404 404 - GET https example.org "/x" [Client 203.0.113.9] [Length 192] [Gzip 3.10] [Sent-to app] "Mozilla/5.0 …" "-"
//! [10/Feb/2024:21:23:32 +0100] example.org 203.0.113.9 0.227 "GET /x HTTP/2.0" 207 125 440 - Mozilla/5.0 …
//! ```
//!
//! The first is Nginx Proxy Manager's own layout (its `proxy` format, and the `standard` one
//! without the cache and upstream statuses): the status, the method, scheme and host, the
//! quoted path, bracketed tags naming the client, then the quoted User-Agent and Referer. The
//! second is NPMplus's: host, client, duration, the quoted request line, the status, two byte
//! counts, then the Referer and the User-Agent unquoted, the agent running to the end.

use std::borrow::Cow;

use super::clf::{fill_request, Cursor, Quoted};
use super::tagged::Tags;
use super::timestamp::TimeCache;
use super::{excerpt, header_value, parse_client, parse_status, LineError, LogEntry, Request};

/// Says whether a line starts with a common-log-format time in brackets.
pub(super) fn is_npm_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 30 && bytes[0] == b'[' && bytes[3] == b'/' && bytes[7] == b'/'
}

/// Reads one line that [`is_npm_line`] accepted.
pub(super) fn parse<'a>(line: &'a str, times: &mut TimeCache) -> Result<LogEntry<'a>, LineError> {
    let close = line.find(']').ok_or(LineError::MissingTimestamp)?;
    let time_text = &line[1..close];
    let time_ms = times
        .parse(time_text)
        .ok_or_else(|| LineError::BadTimestamp(excerpt(time_text)))?;
    let mut cursor = Cursor {
        line,
        pos: close + 1,
    };
    if line.contains("[Client ") {
        proxy_manager(&mut cursor, time_ms)
    } else {
        npm_plus(&mut cursor, time_ms)
    }
}

/// The rest of a line in Nginx Proxy Manager's own layout.
fn proxy_manager<'a>(cursor: &mut Cursor<'a>, time_ms: u64) -> Result<LogEntry<'a>, LineError> {
    let line = cursor.line;
    let quote = cursor.pos
        + line[cursor.pos..]
            .find('"')
            .ok_or(LineError::MissingRequest)?;
    // `[cache] [upstream status] status - METHOD scheme host`, read from the end.
    let mut head = line[cursor.pos..quote].split_whitespace().rev();
    let (host, _scheme, method) = (head.next(), head.next(), head.next());
    let (method, host) = method.zip(host).ok_or(LineError::MissingRequest)?;
    head.next();
    let status = parse_status(head.next().ok_or(LineError::MissingStatus)?)?;

    cursor.pos = quote;
    let path = cursor
        .quoted("request path")?
        .ok_or(LineError::MissingRequest)?
        .header()
        .unwrap_or(Cow::Borrowed("/"));
    let mut tags = Tags::default();
    let mut rest = &line[cursor.pos..];
    while let Some(group) = rest.trim_start().strip_prefix('[') {
        let Some((tag, after)) = group.split_once(']') else {
            break;
        };
        tags.read(tag);
        rest = after;
    }
    let client_text = tags.client.ok_or(LineError::MissingClient)?;
    let client =
        parse_client(client_text).ok_or_else(|| LineError::BadClient(excerpt(client_text)))?;
    cursor.pos = line.len() - rest.len();
    let user_agent = cursor.quoted("user agent")?.and_then(Quoted::header);
    let referer = cursor.quoted("referer")?.and_then(Quoted::header);

    let request = Request {
        method: Cow::Borrowed(method),
        target: path,
        protocol: None,
    };
    Ok(LogEntry {
        referer,
        user_agent,
        host: header_value(Cow::Borrowed(host)),
        ..LogEntry::bare(client, time_ms, request, status)
    })
}

/// The rest of a line in NPMplus's layout.
fn npm_plus<'a>(cursor: &mut Cursor<'a>, time_ms: u64) -> Result<LogEntry<'a>, LineError> {
    let host = cursor.token().ok_or(LineError::MissingClient)?;
    let client_text = cursor.token().ok_or(LineError::MissingClient)?;
    let client =
        parse_client(client_text).ok_or_else(|| LineError::BadClient(excerpt(client_text)))?;
    cursor.token();
    let request_field = cursor
        .quoted("request line")?
        .ok_or(LineError::MissingRequest)?;
    let status = parse_status(cursor.token().ok_or(LineError::MissingStatus)?)?;
    cursor.token();
    cursor.token();
    let referer = cursor.token().map(Cow::Borrowed).and_then(header_value);
    let user_agent = Cow::Borrowed(cursor.line[cursor.pos..].trim());

    let mut entry = LogEntry {
        referer,
        user_agent: header_value(user_agent),
        host: header_value(Cow::Borrowed(host)),
        ..LogEntry::bare(
            client,
            time_ms,
            Request::from_line(Cow::Borrowed("")),
            status,
        )
    };
    fill_request(&mut entry, request_field);
    Ok(entry)
}

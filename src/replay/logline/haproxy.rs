//! HAProxy's HTTP log format (`option httplog`), read in place.
//!
//! ```text
//! 203.0.113.9:14853 [14/Jan/2015:12:48:57.127] https-in~ app/node1 170/0/0/3/173 200 739 - - --NN 0/0/0/0/0 0/0 "GET /x HTTP/1.1"
//! ```
//!
//! The client with its port, the accept time in brackets, the frontend, `backend/server`, the
//! timers, the status, and the request line quoted at the end; captured headers, when the
//! configuration captures any, sit in braces before it and are not read. HAProxy escapes the
//! quotes inside a logged request line, so the line's last quoted field is the request.

use std::borrow::Cow;

use super::clf::Cursor;
use super::timestamp::TimeCache;
use super::{excerpt, parse_client, parse_status, LineError, LogEntry, Request};

/// Reads one line; fails unless it has the shape above.
pub(super) fn parse<'a>(line: &'a str, times: &mut TimeCache) -> Result<LogEntry<'a>, LineError> {
    let mut cursor = Cursor { line, pos: 0 };
    let client_text = cursor.token().ok_or(LineError::MissingClient)?;
    let client =
        parse_client(client_text).ok_or_else(|| LineError::BadClient(excerpt(client_text)))?;
    let time_token = cursor.token().ok_or(LineError::MissingTimestamp)?;
    let time_text = time_token
        .strip_prefix('[')
        .and_then(|text| text.strip_suffix(']'))
        .ok_or_else(|| LineError::BadTimestamp(excerpt(time_token)))?;
    let time_ms = times
        .parse(time_text)
        .ok_or_else(|| LineError::BadTimestamp(excerpt(time_text)))?;

    // The frontend and `backend/server`, then the timers (`Th/Ti/TR/Tw/Tc/Tr/Ta` or older
    // `Tq/Tw/Tc/Tr/Tt`), which set the format apart from others that start the same way.
    cursor.token();
    cursor.token();
    let timers = cursor.token().ok_or(LineError::MissingRequest)?;
    if timers.split('/').count() < 4 {
        return Err(LineError::MissingRequest);
    }
    let status = parse_status(cursor.token().ok_or(LineError::MissingStatus)?)?;

    let rest = line[cursor.pos..].trim_end();
    let request_line = rest
        .strip_suffix('"')
        .and_then(|head| head.rsplit_once('"'))
        .map(|(_, request)| request)
        .ok_or(LineError::MissingRequest)?;
    // A connection that timed out before sending a request (a browser's idle preconnect) is
    // logged as `<BADREQ>` with 408: no request was made.
    if status == 408 && request_line.starts_with('<') {
        return Err(LineError::NotARequest);
    }
    let request = Request::from_line(Cow::Borrowed(request_line));
    Ok(LogEntry::bare(client, time_ms, request, status))
}

//! Error-log lines: a timestamp, bracketed tags and a message, as Apache's and nginx's error
//! logs and some proxies write them.
//!
//! ```text
//! [Fri Oct 08 17:08:41.203277 2021] [core:error] [pid 7005] [client 203.0.113.9:14532] AH00126: Invalid URI in request GET /cgi-bin/.%2e/%2e%2e/etc/passwd HTTP/1.1
//! 2021/12/01 13:53:33 [error] 31#31: *46 open() "/srv/www/x" failed (2: No such file or directory), client: 203.0.113.9, server: _, request: "GET /x HTTP/1.1", host: "example.org"
//! 2025/05/01 14:14:02 [2025-05-01 14:14:02.417736] [router:root] [client: 203.0.113.9] [useragent: zgrab/0.x] GET /ecp/ 444
//! ```
//!
//! Such a line records a request when its message holds one: a quoted `request: "…"`, a
//! request line anywhere in the text (Apache's "Invalid URI in request GET …"), or a method,
//! target and status at its end. Some requests reach only the error log (a server refuses a
//! malformed URI before its access log sees it), so an error log is worth replaying beside the
//! access log. A line about anything else is not a request. The status is the one logged, or
//! 404 for a file the server could not find, 403 for a request it denied, and 400 otherwise.

use std::borrow::Cow;

use super::timestamp::TimeCache;
use super::{excerpt, header_value, parse_client, LineError, LogEntry, Request};

/// Says whether a line has an error log's layout: Apache's `[Www Mmm dd …` or the
/// `yyyy/mm/dd HH:MM:SS [` of nginx and of proxies that copied it.
pub(super) fn is_tagged_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    let apache = bytes.len() > 26
        && bytes[0] == b'['
        && bytes[1].is_ascii_uppercase()
        && bytes[4] == b' '
        && bytes[8] == b' ';
    let nginx = bytes.len() > 21
        && bytes[4] == b'/'
        && bytes[7] == b'/'
        && bytes[10] == b' '
        && bytes[19] == b' '
        && bytes[20] == b'[';
    apache || nginx
}

/// Reads one line that [`is_tagged_line`] accepted.
pub(super) fn parse<'a>(line: &'a str, times: &mut TimeCache) -> Result<LogEntry<'a>, LineError> {
    let (time_text, mut rest) = match line.strip_prefix('[') {
        Some(after) => after.split_once(']').ok_or(LineError::MissingTimestamp)?,
        None => line.split_at(19),
    };
    let time_ms = times
        .parse(time_text)
        .ok_or_else(|| LineError::BadTimestamp(excerpt(time_text)))?;

    let mut tags = Tags::default();
    while let Some(group) = rest.trim_start().strip_prefix('[') {
        let Some((tag, after)) = group.split_once(']') else {
            break;
        };
        tags.read(tag);
        rest = after;
    }
    let message = rest.trim();
    let client = tags
        .client
        .or_else(|| labelled(message, "client: "))
        .ok_or(LineError::MissingClient)?;
    let client = client.trim_end_matches(',');
    let client = parse_client(client).ok_or_else(|| LineError::BadClient(excerpt(client)))?;
    let (request, logged_status) = find_request(message).ok_or(LineError::NotARequest)?;
    let request = Request::from_line(Cow::Borrowed(request));
    if request.method.is_empty() {
        return Err(LineError::NotARequest);
    }
    let status = logged_status.unwrap_or_else(|| status_of(message));
    let quoted = |label| labelled_quoted(message, label).map(Cow::Borrowed);
    Ok(LogEntry {
        referer: quoted("referrer: \"").and_then(header_value),
        user_agent: tags.user_agent.map(Cow::Borrowed).and_then(header_value),
        host: quoted("host: \"").and_then(header_value),
        ..LogEntry::bare(client, time_ms, request, status)
    })
}

/// What the bracketed tags of a line say about its request.
#[derive(Default)]
pub(super) struct Tags<'a> {
    pub(super) client: Option<&'a str>,
    pub(super) user_agent: Option<&'a str>,
}

impl<'a> Tags<'a> {
    /// Reads one tag's text (without its brackets): `client 1.2.3.4:56`, `client: 1.2.3.4`,
    /// `useragent: …`; other tags (`core:error`, `pid 7005`) say nothing of the request.
    pub(super) fn read(&mut self, tag: &'a str) {
        let (name, value) = match tag.split_once([' ', ':']) {
            Some((name, value)) => (name, value.trim_start_matches([':', ' '])),
            None => return,
        };
        if name.eq_ignore_ascii_case("client") {
            self.client = Some(value);
        } else if name.eq_ignore_ascii_case("useragent") || name.eq_ignore_ascii_case("user-agent")
        {
            self.user_agent = Some(value);
        }
    }
}

/// The request a message records, and the status when the message ends with one.
fn find_request(message: &str) -> Option<(&str, Option<u16>)> {
    if let Some(quoted) = labelled_quoted(message, "request: \"") {
        return Some((quoted, None));
    }
    if let Some(version) = message.find(" HTTP/") {
        let end = message[version + 1..]
            .find([' ', ','])
            .map_or(message.len(), |offset| version + 1 + offset);
        let method_start = method_start(&message[..version])?;
        return Some((&message[method_start..end], None));
    }
    // `GET /x 404`: a method, a target and a status, and nothing after them.
    let status_start = message.rfind(' ')? + 1;
    let status = message[status_start..]
        .parse::<u16>()
        .ok()
        .filter(|status| (100..1000).contains(status))?;
    let request = &message[..status_start - 1];
    let method_start = method_start(request)?;
    let method = request[method_start..].split(' ').next()?;
    let is_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    is_method.then_some((&request[method_start..], Some(status)))
}

/// Where the method starts in text that ends with `METHOD target`: two words back.
fn method_start(text: &str) -> Option<usize> {
    let target_start = text.rfind(' ')? + 1;
    let method_start = text[..target_start - 1]
        .rfind(' ')
        .map_or(0, |space| space + 1);
    Some(method_start)
}

/// The status an error message implies: 404 when the server found no file, 403 when it
/// denied the request, 400 otherwise.
fn status_of(message: &str) -> u16 {
    let says = |phrases: &[&str]| phrases.iter().any(|phrase| message.contains(phrase));
    if says(&["No such file", "does not exist", "not found"]) {
        404
    } else if says(&["denied"]) {
        403
    } else {
        400
    }
}

/// The word after `label` in a message (`client: 1.2.3.4, server: …`), up to a space.
fn labelled<'a>(message: &'a str, label: &str) -> Option<&'a str> {
    let after = &message[message.find(label)? + label.len()..];
    after.split(' ').next().filter(|word| !word.is_empty())
}

/// The quoted text after `label`, which ends with the opening quote (`request: "`).
fn labelled_quoted<'a>(message: &'a str, label: &str) -> Option<&'a str> {
    let after = &message[message.find(label)? + label.len()..];
    after.split_once('"').map(|(quoted, _)| quoted)
}

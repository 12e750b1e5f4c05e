//! JSON-lines access logs, read with the key names common loggers use.
//!
//! There is no one JSON access-log schema: nginx and Apache users name their own keys, and
//! Caddy, Traefik and Envoy each have theirs. Each entry field therefore accepts a list of
//! key names, matched without regard to case, and when a line carries several of them (say
//! both `time` and `ts`) the better-ranked one wins instead of the line being rejected. Caddy
//! nests the request in a `request` object and headers in a `headers` object whose values
//! are arrays; both are read. Strings borrow from the line unless they hold JSON escapes.
//! A line with no client key but a text log line under `log`, `message`, `textPayload` or
//! `msg` is a collector's wrapper (Docker, journald, a hosting platform), and that line is
//! read instead.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::timestamp::{from_epoch_number, TimeCache};
use super::{excerpt, header_value, parse_client, parse_status, LineError, LogEntry, Request};

/// How deep `request` and `headers` objects may nest before they are ignored.
const MAX_DEPTH: u8 = 3;

/// Reads one JSON object into an entry.
pub(super) fn parse<'a>(line: &'a str, times: &mut TimeCache) -> Result<LogEntry<'a>, LineError> {
    let mut fields = Fields::default();
    let mut deserializer = serde_json::Deserializer::from_str(line);
    ObjectSeed {
        fields: &mut fields,
        depth: 0,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(LineError::Json)?;
    fields.into_entry(times)
}

/// The entry fields a JSON key can feed.
#[derive(Debug, Clone, Copy)]
enum Field {
    Client,
    Time,
    Method,
    Target,
    Query,
    RequestLine,
    Protocol,
    Status,
    Referer,
    UserAgent,
    Host,
    ForwardedFor,
    /// A whole text log line that a collector wrapped (Docker's `log`, journald's `MESSAGE`).
    Message,
    /// An object whose keys are read like the line's own (Caddy's `request`, `headers`).
    Nested,
}

/// Says which field a key feeds and its rank among that field's spellings (lower wins).
fn classify(key: &str) -> Option<(Field, u8)> {
    // Keys are compared in lower case; none of interest is longer than the buffer.
    let mut buffer = [0u8; 32];
    let lower = buffer.get_mut(..key.len())?;
    lower.copy_from_slice(key.as_bytes());
    lower.make_ascii_lowercase();

    let found = match &*lower {
        b"client_ip" => (Field::Client, 0),
        b"ip" => (Field::Client, 1),
        b"remote_addr" => (Field::Client, 2),
        b"client" => (Field::Client, 3),
        b"clienthost" => (Field::Client, 4),
        b"remote_ip" => (Field::Client, 5),
        b"remote_host" => (Field::Client, 6),
        b"clientaddr" => (Field::Client, 7),
        b"downstream_remote_address" => (Field::Client, 8),
        b"time" => (Field::Time, 0),
        b"timestamp" => (Field::Time, 1),
        b"@timestamp" => (Field::Time, 2),
        b"time_local" => (Field::Time, 3),
        b"time_iso8601" => (Field::Time, 4),
        b"ts" => (Field::Time, 5),
        b"msec" => (Field::Time, 6),
        b"startutc" => (Field::Time, 7),
        b"start_time" => (Field::Time, 8),
        b"method" => (Field::Method, 0),
        b"request_method" => (Field::Method, 1),
        b"requestmethod" => (Field::Method, 2),
        b"request_uri" => (Field::Target, 0),
        b"uri" => (Field::Target, 1),
        b"url" => (Field::Target, 2),
        b"path" => (Field::Target, 3),
        b"requestpath" => (Field::Target, 4),
        b"x-envoy-origin-path" => (Field::Target, 5),
        b"query_string" => (Field::Query, 0),
        b"args" => (Field::Query, 1),
        b"query" => (Field::Query, 2),
        b"protocol" => (Field::Protocol, 0),
        b"proto" => (Field::Protocol, 1),
        b"server_protocol" => (Field::Protocol, 2),
        b"requestprotocol" => (Field::Protocol, 3),
        b"status" => (Field::Status, 0),
        b"status_code" => (Field::Status, 1),
        b"response_code" => (Field::Status, 2),
        b"downstreamstatus" => (Field::Status, 3),
        b"referer" => (Field::Referer, 0),
        b"referrer" => (Field::Referer, 1),
        b"http_referer" => (Field::Referer, 2),
        b"request_referer" => (Field::Referer, 3),
        b"user_agent" => (Field::UserAgent, 0),
        b"ua" => (Field::UserAgent, 1),
        b"http_user_agent" => (Field::UserAgent, 2),
        b"user-agent" => (Field::UserAgent, 3),
        b"useragent" => (Field::UserAgent, 4),
        b"request_user-agent" => (Field::UserAgent, 5),
        b"host" => (Field::Host, 0),
        b"vhost" => (Field::Host, 1),
        b"http_host" => (Field::Host, 2),
        b"requesthost" => (Field::Host, 3),
        b":authority" => (Field::Host, 4),
        b"server_name" => (Field::Host, 5),
        b"http_x_forwarded_for" => (Field::ForwardedFor, 0),
        b"x_forwarded_for" => (Field::ForwardedFor, 1),
        b"x-forwarded-for" => (Field::ForwardedFor, 2),
        b"forwarded_for" => (Field::ForwardedFor, 3),
        b"xff" => (Field::ForwardedFor, 4),
        b"log" => (Field::Message, 0),
        b"message" => (Field::Message, 1),
        b"textpayload" => (Field::Message, 2),
        b"msg" => (Field::Message, 3),
        b"request" => (Field::RequestLine, 0),
        b"headers" => (Field::Nested, 0),
        _ => return None,
    };
    Some(found)
}

/// A JSON value as far as an entry cares: text, a number, or nothing usable.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Number(f64),
}

/// The best value seen so far for each entry field, with its key's rank.
#[derive(Debug, Default)]
struct Fields<'a> {
    client: Slot<'a>,
    time: Slot<'a>,
    method: Slot<'a>,
    target: Slot<'a>,
    query: Slot<'a>,
    request_line: Slot<'a>,
    protocol: Slot<'a>,
    status: Slot<'a>,
    referer: Slot<'a>,
    user_agent: Slot<'a>,
    host: Slot<'a>,
    forwarded_for: Slot<'a>,
    message: Slot<'a>,
}

/// One field's best value and the rank of the key it came from.
#[derive(Debug, Default)]
struct Slot<'a>(Option<(u8, Scalar<'a>)>);

impl<'a> Slot<'a> {
    /// Keeps `value` unless a better-ranked key already filled the slot.
    fn offer(&mut self, rank: u8, value: Scalar<'a>) {
        if self.0.as_ref().is_none_or(|(held, _)| rank < *held) {
            self.0 = Some((rank, value));
        }
    }

    /// The value as text, if there is one and it is text.
    fn text(self) -> Option<Cow<'a, str>> {
        match self.0 {
            Some((_, Scalar::Text(text))) => Some(text),
            _ => None,
        }
    }

    /// The value, if there is one.
    fn value(self) -> Option<Scalar<'a>> {
        self.0.map(|(_, value)| value)
    }
}

impl<'a> Fields<'a> {
    /// The slot a field's values go to.
    fn slot(&mut self, field: Field) -> Option<&mut Slot<'a>> {
        let slot = match field {
            Field::Client => &mut self.client,
            Field::Time => &mut self.time,
            Field::Method => &mut self.method,
            Field::Target => &mut self.target,
            Field::Query => &mut self.query,
            Field::RequestLine => &mut self.request_line,
            Field::Protocol => &mut self.protocol,
            Field::Status => &mut self.status,
            Field::Referer => &mut self.referer,
            Field::UserAgent => &mut self.user_agent,
            Field::Host => &mut self.host,
            Field::ForwardedFor => &mut self.forwarded_for,
            Field::Message => &mut self.message,
            Field::Nested => return None,
        };
        Some(slot)
    }

    /// Checks and converts the collected values into an entry. A line with no client of its
    /// own but a wrapped text line is read from that line.
    fn into_entry(self, times: &mut TimeCache) -> Result<LogEntry<'a>, LineError> {
        let Some(client_text) = self.client.text() else {
            return match self.message.text() {
                Some(wrapped) => super::parse_wrapped(&wrapped, times),
                None => Err(LineError::MissingClient),
            };
        };
        let client = parse_client(&client_text)
            .ok_or_else(|| LineError::BadClient(excerpt(&client_text)))?;
        let time_ms = read_time(self.time.value(), times)?;
        let status = read_status(self.status.value())?;

        let request = read_request(self.method, self.target, self.query, self.request_line)?;
        let protocol = self.protocol.text().or(request.protocol);
        Ok(LogEntry {
            client,
            time_ms,
            method: request.method,
            target: request.target,
            protocol,
            status,
            referer: self.referer.text().and_then(header_value),
            user_agent: self.user_agent.text().and_then(header_value),
            host: self.host.text().and_then(header_value),
            forwarded_for: self.forwarded_for.text().and_then(header_value),
        })
    }
}

/// Reads the time from text in any supported shape or from a number of seconds.
fn read_time(value: Option<Scalar<'_>>, times: &mut TimeCache) -> Result<u64, LineError> {
    match value.ok_or(LineError::MissingTimestamp)? {
        Scalar::Text(text) => times
            .parse(&text)
            .ok_or_else(|| LineError::BadTimestamp(excerpt(&text))),
        Scalar::Number(seconds) => {
            from_epoch_number(seconds).ok_or_else(|| LineError::BadTimestamp(seconds.to_string()))
        }
    }
}

/// Reads the status from a number or a string of digits.
fn read_status(value: Option<Scalar<'_>>) -> Result<u16, LineError> {
    match value.ok_or(LineError::MissingStatus)? {
        Scalar::Text(text) => parse_status(&text),
        Scalar::Number(number) if number.fract() == 0.0 && (0.0..1000.0).contains(&number) => {
            Ok(number as u16)
        }
        Scalar::Number(number) => Err(LineError::BadStatus(number.to_string())),
    }
}

/// Builds the request from separate method and target keys when the line has both, from a
/// request line otherwise (which still gives the protocol). A separate query string is
/// appended to a target without one.
fn read_request<'a>(
    method: Slot<'a>,
    target: Slot<'a>,
    query: Slot<'a>,
    request_line: Slot<'a>,
) -> Result<Request<'a>, LineError> {
    let line = request_line.text().map(Request::from_line);
    let (method, target) = match (method.text(), target.text()) {
        (Some(method), Some(target)) => (method, target),
        _ => return line.ok_or(LineError::MissingRequest),
    };

    let target = match query.text() {
        Some(query) if !query.is_empty() && query != "-" && !target.contains('?') => {
            Cow::Owned(format!("{target}?{query}"))
        }
        _ => target,
    };
    Ok(Request {
        method,
        target,
        protocol: line.and_then(|line| line.protocol),
    })
}

/// Reads a JSON object into `fields`, recursing into nested request and header objects.
struct ObjectSeed<'f, 'a> {
    fields: &'f mut Fields<'a>,
    depth: u8,
}

impl<'a> DeserializeSeed<'a> for ObjectSeed<'_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for ObjectSeed<'_, 'a> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let nested = self.depth < MAX_DEPTH;
            match key {
                Some((Field::Nested, _)) if nested => map.next_value_seed(ObjectSeed {
                    fields: &mut *self.fields,
                    depth: self.depth + 1,
                })?,
                Some((Field::RequestLine, rank)) if nested => map.next_value_seed(RequestSeed {
                    fields: &mut *self.fields,
                    depth: self.depth + 1,
                    rank,
                })?,
                Some((field, rank)) => {
                    let ScalarValue(value) = map.next_value()?;
                    if let (Some(slot), Some(value)) = (self.fields.slot(field), value) {
                        slot.offer(rank, value);
                    }
                }
                None => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(())
    }
}

/// Reads a `request` value: a request line as text, or an object of request fields.
struct RequestSeed<'f, 'a> {
    fields: &'f mut Fields<'a>,
    depth: u8,
    rank: u8,
}

impl<'a> DeserializeSeed<'a> for RequestSeed<'_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for RequestSeed<'_, 'a> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a request line or a request object")
    }

    fn visit_borrowed_str<E>(self, line: &'a str) -> Result<(), E> {
        let line = Scalar::Text(Cow::Borrowed(line));
        self.fields.request_line.offer(self.rank, line);
        Ok(())
    }

    fn visit_str<E>(self, line: &str) -> Result<(), E> {
        let line = Scalar::Text(Cow::Owned(line.to_owned()));
        self.fields.request_line.offer(self.rank, line);
        Ok(())
    }

    fn visit_map<M: MapAccess<'a>>(self, map: M) -> Result<(), M::Error> {
        let object = ObjectSeed {
            fields: self.fields,
            depth: self.depth,
        };
        object.visit_map(map)
    }

    fn visit_seq<S: SeqAccess<'a>>(self, seq: S) -> Result<(), S::Error> {
        IgnoredAny.visit_seq(seq).map(drop)
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
}

/// Classifies a key without copying it.
struct KeySeed;

impl<'a> DeserializeSeed<'a> for KeySeed {
    type Value = Option<(Field, u8)>;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<(Field, u8)>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(classify(key))
    }
}

/// A value read as a [`Scalar`], or `None` for one that is not usable (`null`, `true`, an
/// object, an empty array). An array stands for its first element, as Caddy writes headers.
struct ScalarValue<'a>(Option<Scalar<'a>>);

impl<'a> serde::Deserialize<'a> for ScalarValue<'a> {
    fn deserialize<D: Deserializer<'a>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Builds a [`ScalarValue`] from whatever JSON value comes.
struct ScalarVisitor;

impl<'a> Visitor<'a> for ScalarVisitor {
    type Value = ScalarValue<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string or a number")
    }

    fn visit_borrowed_str<E>(self, text: &'a str) -> Result<Self::Value, E> {
        Ok(ScalarValue(Some(Scalar::Text(Cow::Borrowed(text)))))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(ScalarValue(Some(Scalar::Text(Cow::Owned(text.to_owned())))))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Self::Value, E> {
        Ok(ScalarValue(Some(Scalar::Number(number as f64))))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Self::Value, E> {
        Ok(ScalarValue(Some(Scalar::Number(number as f64))))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Self::Value, E> {
        Ok(ScalarValue(Some(Scalar::Number(number))))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ScalarValue(None))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(ScalarValue(None))
    }

    fn visit_seq<S: SeqAccess<'a>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let first = seq.next_element::<ScalarValue<'a>>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(first.unwrap_or(ScalarValue(None)))
    }

    fn visit_map<M: MapAccess<'a>>(self, map: M) -> Result<Self::Value, M::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(ScalarValue(None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{LineParser, LogFormat};
    use super::*;

    /// Parses each line as JSON and compares every field of the outcome, shown as
    /// `client time method target protocol status referer ua host xff` or `error: ...`.
    fn check(cases: &[(&str, &str)]) {
        for &(line, expected) in cases {
            let outcome = match LineParser::new(LogFormat::JsonLines).parse(line) {
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

    #[test]
    fn common_key_names() {
        check(&[
            (
                r#"{"ip": "93.114.45.13", "time": "17/May/2015:10:05:14 +0000", "ts": 1.0, "method": "GET", "uri": "/a", "proto": "HTTP/1.1", "status": 200, "bytes": 1, "referer": "-", "ua": "Firefox"}"#,
                "93.114.45.13 1431857114000 [GET] [/a] HTTP/1.1 200 [~] [Firefox] ~ ~",
            ),
            (
                r#"{"remote_addr":"2001:db8::1","time_iso8601":"2015-05-17T12:05:14+02:00","request":"POST /login?x=1 HTTP/2.0","status":"401","http_referer":"https://e.com/","http_user_agent":"curl","http_host":"shop","http_x_forwarded_for":"203.0.113.7"}"#,
                "2001:db8::1 1431857114000 [POST] [/login?x=1] HTTP/2.0 401 [https://e.com/] [curl] shop 203.0.113.7",
            ),
            (
                r#"{"client":"1.2.3.4","@timestamp":"2015-05-17T10:05:14.5Z","request_method":"GET","path":"/s","args":"q=1","status_code":404.0,"referrer":"","user_agent":null,"host":"-"}"#,
                "1.2.3.4 1431857114500 [GET] [/s?q=1] ~ 404 [~] [~] ~ ~",
            ),
            (
                r#"{"client_ip":"10.0.0.9","ip":"10.0.0.1","timestamp":1431857114123,"method":"HEAD","request_uri":"/a?b","uri":"/a","query_string":"c","status":0,"request":"HEAD /a?b HTTP/1.0"}"#,
                "10.0.0.9 1431857114123 [HEAD] [/a?b] HTTP/1.0 0 [~] [~] ~ ~",
            ),
            (
                r#"{"IP":"1.2.3.4","Time":"1431857114","Method":"GET","URL":"http://x/y","Status":301,"User-Agent":"A"}"#,
                "1.2.3.4 1431857114000 [GET] [http://x/y] ~ 301 [~] [A] ~ ~",
            ),
        ]);
    }

    #[test]
    fn server_specific_layouts() {
        check(&[
            (
                r#"{"level":"info","ts":1693840791.7564995,"logger":"http.log.access","request":{"remote_ip":"172.17.0.1","remote_port":"44790","client_ip":"127.0.0.1","proto":"HTTP/1.0","method":"GET","host":"127.0.0.1:8080","uri":"/","headers":{"X-Forwarded-For":["127.0.0.1"],"User-Agent":["curl/7.74.0"],"Accept":["*/*"]}},"status":0}"#,
                "127.0.0.1 1693840791756 [GET] [/] HTTP/1.0 0 [~] [curl/7.74.0] 127.0.0.1:8080 127.0.0.1",
            ),
            (
                r#"{"ClientAddr":"172.17.0.1:39496","ClientHost":"172.17.0.1","DownstreamStatus":200,"RequestHost":"test.docker.localhost","RequestMethod":"GET","RequestPath":"/594VAEoi.save","RequestProtocol":"HTTP/1.1","ServiceURL":{"Scheme":"http","User":null},"StartUTC":"2021-12-08T14:02:43.587782192Z","request_User-Agent":"Nikto","time":"2021-12-08T14:02:43Z"}"#,
                "172.17.0.1 1638972163000 [GET] [/594VAEoi.save] HTTP/1.1 200 [~] [Nikto] test.docker.localhost ~",
            ),
            (
                r#"{":authority":"www.example.com","downstream_remote_address":"10.0.0.12:59292","method":"GET","protocol":"HTTP/2","response_code":200,"start_time":"2025-12-31T16:37:40.479Z","user-agent":"Mozilla/4.0","x-envoy-origin-path":"/assets/image.webp","x-forwarded-for":"10.0.0.12"}"#,
                "10.0.0.12 1767199060479 [GET] [/assets/image.webp] HTTP/2 200 [~] [Mozilla/4.0] www.example.com 10.0.0.12",
            ),
        ]);
    }

    #[test]
    fn escapes_and_odd_values() {
        check(&[
            (
                r#"{"ip":"1.2.3.4","ts":0,"method":"GET","uri":"/a\"b\u00e9","status":200,"ua":"say \"hi\"","host":["h1","h2"]}"#,
                "1.2.3.4 0 [GET] [/a\"bé] ~ 200 [~] [say \"hi\"] h1 ~",
            ),
            (
                r#"{"ip":"1.2.3.4","ts":0,"request":"\u0016\u0003\u0001","status":400}"#,
                "1.2.3.4 0 [] [\u{16}\u{3}\u{1}] ~ 400 [~] [~] ~ ~",
            ),
            (
                r#"{"ip":"1.2.3.4","ts":0,"request":"-","status":400,"ua":true,"referer":{"a":1},"host":[]}"#,
                "1.2.3.4 0 [] [] ~ 400 [~] [~] ~ ~",
            ),
            (
                r#"{"ip":"1.2.3.4","ts":0,"request":{"request":{"request":{"request":"GET /deep HTTP/1.1"}}},"status":200}"#,
                "1.2.3.4 0 [GET] [/deep] HTTP/1.1 200 [~] [~] ~ ~",
            ),
            (
                r#"{"ip":"1.2.3.4","ts":0,"request":{"request":{"request":{"request":{"method":"GET","uri":"/too-deep"}}}},"status":200}"#,
                "error: missing request line",
            ),
        ]);
    }

    #[test]
    fn broken_objects_are_errors() {
        check(&[
            ("{", "error: malformed json: EOF while parsing an object at line 1 column 1"),
            ("[1]", "error: malformed json: invalid type: sequence, expected a JSON object at line 1 column 0"),
            ("{} {}", "error: malformed json: trailing characters at line 1 column 4"),
            (r#"{"ts":0,"uri":"/","method":"GET","status":200}"#, "error: missing client address"),
            (r#"{"ip":"localhost","ts":0}"#, "error: bad client address `localhost`"),
            (r#"{"ip":7,"ts":0}"#, "error: missing client address"),
            (r#"{"ip":"1.2.3.4","uri":"/","method":"GET","status":200}"#, "error: missing timestamp"),
            (r#"{"ip":"1.2.3.4","ts":-1}"#, "error: bad timestamp `-1`"),
            (r#"{"ip":"1.2.3.4","time":"soon"}"#, "error: bad timestamp `soon`"),
            (r#"{"ip":"1.2.3.4","ts":0,"uri":"/","method":"GET"}"#, "error: missing status"),
            (r#"{"ip":"1.2.3.4","ts":0,"status":"2xx"}"#, "error: bad status `2xx`"),
            (r#"{"ip":"1.2.3.4","ts":0,"status":200.5}"#, "error: bad status `200.5`"),
            (r#"{"ip":"1.2.3.4","ts":0,"status":1e3}"#, "error: bad status `1000`"),
            (r#"{"ip":"1.2.3.4","ts":0,"status":200,"uri":"/"}"#, "error: missing request line"),
        ]);
    }
}

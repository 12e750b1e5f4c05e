//! Text fields of a request body, so payload detection can judge each field on its own.
//!
//! A form, a JSON document and a multipart upload all carry user text, but in different
//! wrappers; this module unwraps them and hands every field name and text value to a
//! callback, in the encoding the detectors expect (form values stay percent-encoded, since
//! the normaliser decodes them with the rest). Binary upload parts are skipped, but their
//! file names are not, because a file name is where traversal and web-shell uploads show.
//! Malformed bodies never panic: what cannot be parsed is handed over whole as text.

use std::borrow::Cow;

use serde_json::Value;

/// What a body field is: text the sender typed or chose, or the name of an uploaded file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A field name or a text value.
    Text,
    /// The `filename` of a multipart part: a name the server may store the upload under.
    FileName,
}

/// Calls `f` with every text field of `body`, as [`for_each_field`] does, without saying
/// which are file names.
pub fn for_each_text_field(content_type: Option<&str>, body: &[u8], mut f: impl FnMut(&str)) {
    for_each_field(content_type, body, |_, text| f(text));
}

/// Calls `f` with every text field of `body` and what it is, chosen by its Content-Type.
///
/// - `application/x-www-form-urlencoded` (also assumed for a body without a Content-Type
///   that looks like `name=value&...`): each name and each value, still encoded;
/// - JSON (`application/json`, `*+json`): every object key and string value, recursively;
/// - `multipart/form-data`: each part's field name and file name, and the content of parts
///   that are not binary files;
/// - anything else textual (XML, plain text, unknown): the whole body once.
pub fn for_each_field(content_type: Option<&str>, body: &[u8], mut f: impl FnMut(Field, &str)) {
    if body.is_empty() {
        return;
    }
    let media_type = content_type.map(media_type).unwrap_or_default();
    let text = text_of(body);
    if media_type == "multipart/form-data" {
        if let Some(boundary) = content_type.and_then(boundary) {
            return multipart_fields(body, boundary, &mut f);
        }
    }
    let mut text_field = |text: &str| f(Field::Text, text);
    match media_type.as_str() {
        "application/x-www-form-urlencoded" => form_fields(&text, &mut text_field),
        json if json.ends_with("json") => json_fields(body, &text, &mut text_field),
        "" if looks_like_form(&text) => form_fields(&text, &mut text_field),
        _ if is_binary(&media_type) => {}
        _ => text_field(&text),
    }
}

/// The lower-cased media type without parameters: `Text/HTML; charset=x` is `text/html`.
fn media_type(content_type: &str) -> String {
    let essence = content_type.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

/// Media types whose content is not text a person typed.
fn is_binary(media_type: &str) -> bool {
    let textual = media_type.starts_with("text/")
        || media_type.contains("json")
        || media_type.contains("xml")
        || media_type.contains("javascript")
        || media_type.contains("x-www-form-urlencoded")
        || media_type.contains("graphql")
        || media_type.contains("yaml");
    !textual && !media_type.is_empty()
}

/// Body bytes as text. Valid UTF-8 is borrowed; other bytes are read as Latin-1 so none is
/// lost (a stray 0xBC still reaches the normaliser, which knows what it can mean).
fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(latin1_fallback(bytes)),
    }
}

fn latin1_fallback(mut bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                text.push_str(valid);
                break;
            }
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad_len = error.error_len().unwrap_or(rest.len()).max(1);
                text.extend(rest[..bad_len].iter().map(|byte| char::from(*byte)));
                bytes = &rest[bad_len..];
            }
        }
    }
    text
}

/// A body without a Content-Type is treated as a form when its first field is `name=...`
/// with a name free of spaces and markup, which is what form-posting clients send.
fn looks_like_form(text: &str) -> bool {
    let first = text.split('&').next().unwrap_or_default();
    first
        .split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && !name.contains([' ', '\n', '<', '{', '"']))
}

fn form_fields(text: &str, f: &mut impl FnMut(&str)) {
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some((name, value)) => {
                f(name);
                f(value);
            }
            None => f(pair),
        }
    }
}

/// JSON keys and string values; a body that does not parse is judged as plain text.
fn json_fields(body: &[u8], text: &str, f: &mut impl FnMut(&str)) {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => walk_json(&value, f),
        Err(_) => f(text),
    }
}

fn walk_json(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(text) => f(text),
        Value::Array(items) => items.iter().for_each(|item| walk_json(item, f)),
        Value::Object(fields) => {
            for (key, item) in fields {
                f(key);
                walk_json(item, f);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The `boundary` parameter of a multipart Content-Type, without quotes.
fn boundary(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (name.trim().eq_ignore_ascii_case("boundary") && !value.is_empty()).then_some(value)
    })
}

fn multipart_fields(body: &[u8], boundary: &str, f: &mut impl FnMut(Field, &str)) {
    let delimiter = format!("--{boundary}");
    let text = text_of(body);
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        multipart_part(part, f);
    }
}

/// One part: its headers up to the first blank line, then its content.
fn multipart_part(part: &str, f: &mut impl FnMut(Field, &str)) {
    let part = part
        .strip_prefix("\r\n")
        .or_else(|| part.strip_prefix('\n'))
        .unwrap_or(part);
    let (headers, content) = match part.find("\r\n\r\n") {
        Some(end) => (&part[..end], &part[end + 4..]),
        None => match part.find("\n\n") {
            Some(end) => (&part[..end], &part[end + 2..]),
            None => ("", part),
        },
    };
    let content = content
        .strip_suffix("\r\n")
        .or_else(|| content.strip_suffix('\n'))
        .unwrap_or(content);

    let mut is_file = false;
    let mut part_type = String::new();
    for header in headers.lines() {
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            for (field, parameter_value) in disposition_parameters(value) {
                is_file |= field == Field::FileName;
                f(field, parameter_value);
            }
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            part_type = media_type(value);
        }
    }
    let binary_file = is_file && is_binary(&part_type);
    if !binary_file && !content.is_empty() {
        f(Field::Text, content);
    }
}

/// The `name` and `filename` parameters of a Content-Disposition value.
fn disposition_parameters(value: &str) -> impl Iterator<Item = (Field, &str)> {
    value.split(';').filter_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        let value = value.trim().trim_matches('"');
        let name = name.trim();
        if name.eq_ignore_ascii_case("name") {
            Some((Field::Text, value))
        } else if name.eq_ignore_ascii_case("filename") {
            Some((Field::FileName, value))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(content_type: Option<&str>, body: &[u8], expected: &[&str]) {
        let mut fields = Vec::new();
        for_each_text_field(content_type, body, |field| fields.push(field.to_string()));
        assert_eq!(
            fields,
            expected,
            "{content_type:?} {:?}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn forms_yield_names_and_encoded_values() {
        check(
            Some("application/x-www-form-urlencoded"),
            b"a=1%27&b=x+y&flag",
            &["a", "1%27", "b", "x+y", "flag"],
        );
        check(None, b"q=%3Cscript%3E", &["q", "%3Cscript%3E"]);
    }

    #[test]
    fn json_yields_keys_and_strings_recursively() {
        check(
            Some("application/json; charset=utf-8"),
            br#"{"a":["x",{"b":"y"}],"n":1,"t":true}"#,
            &["a", "x", "b", "y", "n", "t"],
        );
        check(
            Some("application/vnd.api+json"),
            b"{not json",
            &["{not json"],
        );
    }

    #[test]
    fn multipart_skips_binary_content_but_keeps_file_names() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../shell.php\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\xff\r\n--XX--\r\n";
        check(
            Some("multipart/form-data; boundary=XX"),
            body,
            &["note", "hello", "file", "../shell.php"],
        );
    }

    #[test]
    fn only_multipart_file_names_are_file_names() {
        let body = b"--XX\r\nContent-Disposition: form-data; NAME=\"up\"; FileName=\".htaccess\"\r\n\r\nAddType x\r\n--XX--\r\n";
        let mut names = Vec::new();
        for_each_field(
            Some("multipart/form-data; boundary=XX"),
            body,
            |field, text| {
                if field == Field::FileName {
                    names.push(text.to_string());
                }
            },
        );
        assert_eq!(names, [".htaccess"]);
        for_each_field(None, b"filename=.htaccess", |field, _| {
            assert_eq!(field, Field::Text);
        });
    }

    #[test]
    fn other_text_is_yielded_whole_and_binary_is_skipped() {
        check(
            Some("application/xml"),
            b"<a probe=\"x\"/>",
            &["<a probe=\"x\"/>"],
        );
        check(Some("text/plain"), b"var=\xbcscript", &["var=\u{bc}script"]);
        check(Some("image/png"), b"\x89PNG", &[]);
    }

    #[test]
    fn malformed_bodies_do_not_panic() {
        let inputs: [&[u8]; 5] = [
            b"--",
            b"\xff\xfe",
            b"=&=&",
            b"{\"a\":",
            b"--XX\r\nContent-Disposition",
        ];
        for body in inputs {
            for content_type in [
                None,
                Some("multipart/form-data; boundary=XX"),
                Some("application/json"),
                Some("text/plain"),
            ] {
                for_each_text_field(content_type, body, |_| {});
            }
        }
    }
}

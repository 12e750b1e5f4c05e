//! What the engine is told about a request: borrowed views of the request line and the
//! headers that matter, so building the facts of an ordinary request allocates nothing.

use std::net::IpAddr;

/// The observed facts of one request.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    /// The client address (after trusted-proxy resolution).
    pub client: IpAddr,
    /// The request method.
    pub method: &'a str,
    /// The Host header (or the authority of an absolute target), when known.
    pub host: Option<&'a str>,
    /// The path as received, still percent-encoded, without the query.
    pub path: &'a str,
    /// The query string without the `?`, when there is one.
    pub query: Option<&'a str>,
    /// The User-Agent header.
    pub user_agent: Option<&'a str>,
    /// The Referer header.
    pub referer: Option<&'a str>,
    /// The Cookie header.
    pub cookie: Option<&'a str>,
    /// All request headers, when the edge has them (the proxy does, a log replay does not);
    /// those not named above are scanned for payloads too.
    pub headers: Option<&'a http::HeaderMap>,
}

impl<'a> RequestFacts<'a> {
    /// Facts with only the client and the request target; the rest is empty. `target` is
    /// split into path and query at the first `?`.
    pub fn new(client: IpAddr, method: &'a str, target: &'a str) -> RequestFacts<'a> {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        RequestFacts {
            client,
            method,
            host: None,
            path,
            query,
            user_agent: None,
            referer: None,
            cookie: None,
            headers: None,
        }
    }
}

/// The host of an absolute URL (`https://www.example.com:8443/x` gives `www.example.com`),
/// or `None` when the text is not one.
pub fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = strip_port(host);
    (!host.is_empty()).then_some(host)
}

/// A host without its port; IPv6 literals keep their brackets off.
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_taken_from_urls() {
        let cases = [
            ("http://www.google.ro/url?q=x", Some("www.google.ro")),
            ("https://user@example.com:8443/a", Some("example.com")),
            ("https://[2001:db8::1]:443/", Some("2001:db8::1")),
            (
                "android-app://com.google.android.gm",
                Some("com.google.android.gm"),
            ),
            ("-", None),
            ("http:///nohost", None),
        ];
        for (url, host) in cases {
            assert_eq!(url_host(url), host, "{url}");
        }
    }

    #[test]
    fn targets_split_into_path_and_query() {
        let facts = RequestFacts::new("192.0.2.1".parse().unwrap(), "GET", "/a/b?c=d?e");
        assert_eq!((facts.path, facts.query), ("/a/b", Some("c=d?e")));
    }
}

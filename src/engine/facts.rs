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
    /// The host named by the request line itself: the authority of an absolute-form target
    /// (`GET http://host/ HTTP/1.1`) or of a CONNECT. Browsers send either only to a forward
    /// proxy, so at an origin it marks a client looking for one to relay through.
    pub target_host: Option<&'a str>,
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
    /// The request line was not HTTP (a log replay tells; the method and target then hold
    /// nothing and the junk as logged): only `malformed_request` judges it.
    pub malformed: bool,
}

impl<'a> RequestFacts<'a> {
    /// Facts with only the client and the request target; the rest is empty. An absolute
    /// `target` gives its host as `target_host` and its path, and the path is split from the
    /// query at the first `?`.
    pub fn new(client: IpAddr, method: &'a str, target: &'a str) -> RequestFacts<'a> {
        let (target_host, origin_form) = split_target(method, target);
        let (path, query) = match origin_form.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (origin_form, None),
        };
        // `http://host?q` has an empty path, which means the root.
        let path = if path.is_empty() { "/" } else { path };
        RequestFacts {
            client,
            method,
            host: None,
            target_host,
            path,
            query,
            user_agent: None,
            referer: None,
            cookie: None,
            headers: None,
            malformed: false,
        }
    }
}

/// Splits a logged request target into the host it names, if any, and the origin-form rest:
/// `http://a.example/x?y` gives `a.example` and `/x?y`, a CONNECT's `a.example:25` gives
/// `a.example` and itself.
fn split_target<'a>(method: &str, target: &'a str) -> (Option<&'a str>, &'a str) {
    if method.eq_ignore_ascii_case("CONNECT") {
        return (
            Some(strip_port(target)).filter(|host| !host.is_empty()),
            target,
        );
    }
    let scheme_len = ["http://", "https://"].into_iter().find_map(|scheme| {
        let prefix = target.get(..scheme.len())?;
        prefix.eq_ignore_ascii_case(scheme).then_some(scheme.len())
    });
    let Some(scheme_len) = scheme_len else {
        return (None, target);
    };
    let rest = &target[scheme_len..];
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    let origin_form = match &rest[path_start..] {
        "" => "/",
        origin_form => origin_form,
    };
    (url_host(target), origin_form)
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
        let cases = [
            ("GET", "/a/b?c=d?e", None, "/a/b", Some("c=d?e")),
            (
                "GET",
                "http://x.example:80/ip.php",
                Some("x.example"),
                "/ip.php",
                None,
            ),
            (
                "GET",
                "HTTPS://x.example?q=1",
                Some("x.example"),
                "/",
                Some("q=1"),
            ),
            ("GET", "http://x.example", Some("x.example"), "/", None),
            (
                "CONNECT",
                "mail.example:25",
                Some("mail.example"),
                "mail.example:25",
                None,
            ),
            (
                "GET",
                "/redirect?to=http://x.example/",
                None,
                "/redirect",
                Some("to=http://x.example/"),
            ),
        ];
        for (method, target, host, path, query) in cases {
            let facts = RequestFacts::new("192.0.2.1".parse().unwrap(), method, target);
            assert_eq!(
                (facts.target_host, facts.path, facts.query),
                (host, path, query),
                "{target}"
            );
        }
    }
}

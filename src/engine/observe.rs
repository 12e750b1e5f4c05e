//! Reading a request for the signals that judge its content: payloads in the request line
//! and headers, foreign Referers, and the evidence kept when something fired.

use http::header;

use super::facts::{self, RequestFacts};
use super::record::Evidence;
use crate::detect::payload::{Location, PayloadMatcher, PayloadSet};
use crate::policy::Policy;

/// The most characters of a client-supplied string kept as evidence.
const EVIDENCE_FIELD_MAX: usize = 256;

/// Headers never scanned for payloads: browsers send them on every request with a fixed
/// grammar, or they are scanned on their own (User-Agent, Referer, Cookie).
const UNSCANNED_HEADERS: &[header::HeaderName] = &[
    header::HOST,
    header::USER_AGENT,
    header::REFERER,
    header::COOKIE,
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::ACCEPT_LANGUAGE,
    header::CACHE_CONTROL,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::IF_MODIFIED_SINCE,
    header::IF_NONE_MATCH,
    header::PRAGMA,
    header::TE,
    header::UPGRADE_INSECURE_REQUESTS,
];

/// The payload kinds in the query and the headers but those the engine scans on its own:
/// the path and the Referer (see `Engine::scan_shared`), the User-Agent and the Cookie (see
/// `Engine::scan_remembered`).
pub(super) fn scan_payloads(payloads: &PayloadMatcher, request: &RequestFacts) -> PayloadSet {
    let mut found = match request.query {
        Some(query) => payloads.scan(Location::Query, query),
        None => PayloadSet::new(),
    };
    for (name, value) in request.headers.into_iter().flatten() {
        let browser_grammar = name.as_str().starts_with("sec-") || name.as_str() == "priority";
        if browser_grammar || UNSCANNED_HEADERS.contains(name) {
            continue;
        }
        if let Ok(text) = std::str::from_utf8(value.as_bytes()) {
            found = found.union(payloads.scan(Location::Header, text));
        }
    }
    found
}

/// A path without trailing slashes, so `/admin` and `/admin/` are the same path.
pub(super) fn trim_path(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }
}

/// True when the Referer names a host that is neither this site nor a known referrer.
pub(super) fn is_foreign_referer(policy: &Policy, request: &RequestFacts) -> bool {
    let Some(referer_host) = request.referer.and_then(facts::url_host) else {
        return false;
    };
    if let Some(host) = request.host.map(facts::strip_port) {
        if same_site(host, referer_host) {
            return false;
        }
    } else if policy.site_hosts.is_empty() {
        // Without a Host header nor configured site hosts there is nothing to compare with.
        return false;
    }
    let known = policy
        .lists
        .known_referrers
        .as_ref()
        .is_some_and(|list| list.matches(referer_host));
    !known && !policy.site_hosts.matches(referer_host)
}

/// True when the request asks this server to relay it elsewhere: any CONNECT, or a request
/// line naming a host that is neither the Host header's site nor one of `site_hosts`. An
/// HTTP/2 request always names its authority, which is the site's own.
pub(super) fn is_proxy_probe(policy: &Policy, request: &RequestFacts) -> bool {
    if request.method.eq_ignore_ascii_case("CONNECT") {
        return true;
    }
    let Some(target_host) = request.target_host else {
        return false;
    };
    let own_site = request
        .host
        .map(facts::strip_port)
        .is_some_and(|host| same_site(host, target_host));
    !own_site && !policy.site_hosts.matches(target_host)
}

/// True when one host is the other or under it (`www.example.com` and `example.com`).
fn same_site(a: &str, b: &str) -> bool {
    let under = |inner: &str, outer: &str| {
        inner.len() > outer.len()
            && inner[inner.len() - outer.len()..].eq_ignore_ascii_case(outer)
            && inner.as_bytes()[inner.len() - outer.len() - 1] == b'.'
    };
    a.eq_ignore_ascii_case(b) || under(a, b) || under(b, a)
}

pub(super) fn evidence_of(request: &RequestFacts, status: u16, now_ms: u64) -> Evidence {
    let mut target = String::with_capacity(request.path.len().min(EVIDENCE_FIELD_MAX) + 16);
    target.push_str(cut(request.path, EVIDENCE_FIELD_MAX));
    if let Some(query) = request.query {
        target.push('?');
        target.push_str(cut(
            query,
            EVIDENCE_FIELD_MAX - target.len().min(EVIDENCE_FIELD_MAX),
        ));
    }
    Evidence {
        id: 0,
        time_ms: now_ms,
        method: cut(request.method, 16).into(),
        target: target.into(),
        status,
        forwarded: true,
        user_agent: request
            .user_agent
            .map(|ua| cut(ua, EVIDENCE_FIELD_MAX).into()),
        referer: request.referer.map(|r| cut(r, EVIDENCE_FIELD_MAX).into()),
        signals: 0,
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

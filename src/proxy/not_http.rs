//! Requests Pingora cannot parse. Pingora answers a request line it cannot read with 400
//! before any phase of [`super::RapsheetProxy`] runs, so the proxy reads what a new
//! plain-text connection sent first itself, puts it back for Pingora, and judges two kinds of
//! it:
//!
//! - a first byte no HTTP method starts with (every method starts with a letter): a TLS
//!   handshake sent to the plain-text port starts with 0x16, and the probes port scanners
//!   send for other protocols (RDP, SMB, binary junk) with other bytes. Such a connection
//!   fires `malformed_request` for its peer, and Pingora answers it 400 as before;
//! - a request line whose target Pingora's URI parser refuses (a raw `<`, `"`, `{` or `|`,
//!   which browsers always percent-encode): attack tools send their payloads so. The request
//!   is scored like any other, from its line and User-Agent; when the verdict refuses it, the
//!   screen answers 403 itself (after the tarpit's delay when tarpitted), and otherwise
//!   Pingora answers 400.
//!
//! Only the first request of a connection is read this way; Pingora closes a connection after
//! a request it cannot parse, so a client's next malformed request comes on a new one. Junk
//! that starts with a letter and has a valid target (`HELP`, `HTTP/1.2` as the version) is
//! answered by Pingora alone.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::l4::stream::Stream as PlainStream;
use pingora::protocols::{GetSocketDigest, Stream};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::ServerConfig;
use crate::engine::{Action, RequestFacts};
use crate::policy::lists::CidrSet;
use crate::policy::Mode;
use crate::shared::Shared;

/// How much of a new connection is read to judge it: enough for a request line and the
/// headers a scanner sends.
const HEAD_BYTES: usize = 4096;

/// The answer the screen writes for a request it refuses.
const FORBIDDEN: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n\
    Cache-Control: no-store\r\nContent-Length: 15\r\nConnection: close\r\n\r\nAccess denied.\n";

/// Wraps the proxy application: judges what a new connection sent first, then hands the
/// connection, and every request it carries, to `inner`.
pub struct NotHttpScreen<A> {
    inner: Arc<A>,
    shared: Arc<Shared>,
    trusted_proxies: CidrSet,
    /// How long a new connection may stay silent before it is closed.
    first_byte: Duration,
    scoring: bool,
}

impl<A> NotHttpScreen<A> {
    /// Screens the connections of `inner` with the server's settings.
    pub fn new(inner: A, shared: Arc<Shared>, config: &ServerConfig) -> NotHttpScreen<A> {
        NotHttpScreen {
            inner: Arc::new(inner),
            shared,
            trusted_proxies: config.client_ip.trusted_proxies.clone(),
            first_byte: config.timeouts.keepalive,
            scoring: config.scoring,
        }
    }

    /// Reads what the connection sent first, puts it back, and judges it. Returns the
    /// connection for Pingora, or `None` when it closed, stayed silent too long, was refused
    /// here, or the server is shutting down.
    async fn screen(&self, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        // Only a plain TCP or Unix stream can be read and put back; a TLS stream was already
        // judged by its handshake.
        if stream.get_ssl_digest().is_some() || !stream.as_any().is::<PlainStream>() {
            return Some(stream);
        }
        let mut plain: Box<PlainStream> = stream.into_any().downcast().ok()?;
        let mut head = [0u8; HEAD_BYTES];
        let mut watch = shutdown.clone();
        let read = tokio::select! {
            biased;
            read = tokio::time::timeout(self.first_byte, plain.read(&mut head)) => read,
            _ = watch.changed() => return None,
        };
        let length = match read {
            Ok(Ok(length)) if length > 0 => length,
            _ => return None,
        };
        plain.rewind(&head[..length]);
        let head = &head[..length];
        let Some(peer) = peer_ip(&*plain).filter(|peer| !self.trusted_proxies.contains(*peer))
        else {
            return Some(plain);
        };
        if !head[0].is_ascii_alphabetic() {
            self.score_junk(peer, head[0]);
            return Some(plain);
        }
        if let Some(request) = unparsable_request(head) {
            if self.refuses(peer, &request, shutdown).await {
                let _ = plain.write_all(FORBIDDEN).await;
                let _ = plain.flush().await;
                return None;
            }
        }
        Some(plain)
    }

    /// Fires `malformed_request` for a peer whose connection started with `first`.
    fn score_junk(&self, peer: IpAddr, first: u8) {
        let target = if first == 0x16 {
            "(not HTTP: a TLS handshake on the plain-text port)"
        } else {
            "(not HTTP: binary data)"
        };
        let mut request = RequestFacts::new(peer, "", target);
        request.malformed = true;
        let policy = self.shared.policy.load();
        let now_ms = self.shared.clock.now_ms();
        let outcome = self.shared.engine.on_request(&policy, &request, now_ms);
        self.shared.metrics.count_fires(outcome.fired);
        if let Some(decision) = &outcome.decision {
            self.shared.report(&policy, decision);
        }
    }

    /// Scores a request Pingora would refuse to parse; true when the verdict refuses it in
    /// enforce mode, after holding it for the tarpit's delay when it was tarpitted.
    async fn refuses(&self, peer: IpAddr, head: &Unparsable<'_>, shutdown: &ShutdownWatch) -> bool {
        let mut request = RequestFacts::new(peer, head.method, head.target);
        request.user_agent = head.user_agent;
        let policy = self.shared.policy.load_full();
        let now_ms = self.shared.clock.now_ms();
        let outcome = self.shared.engine.on_request(&policy, &request, now_ms);
        self.shared.record(&policy, &outcome);
        if policy.mode != Mode::Enforce {
            return false;
        }
        match outcome.verdict.action {
            Action::Allow => false,
            Action::Block => true,
            Action::Tarpit => {
                let tarpits = &self.shared.tarpits;
                let Some(_slot) = tarpits.try_hold(policy.tarpit.max_held) else {
                    self.shared.metrics.tarpits_refused.inc();
                    return true;
                };
                let held = &self.shared.metrics.tarpits_held;
                held.inc();
                let mut watch = shutdown.clone();
                tokio::select! {
                    () = tokio::time::sleep(policy.tarpit.duration) => {}
                    _ = watch.changed() => {}
                }
                held.dec();
                true
            }
        }
    }
}

/// A request line, and the User-Agent after it, of a request Pingora cannot parse.
#[derive(Debug, PartialEq, Eq)]
struct Unparsable<'a> {
    method: &'a str,
    target: &'a str,
    user_agent: Option<&'a str>,
}

/// Reads the request line at the start of `head` when its target is one Pingora's URI
/// parser refuses; `None` for an ordinary request, or a line not all there or not text.
fn unparsable_request(head: &[u8]) -> Option<Unparsable<'_>> {
    let end = memchr::memchr(b'\n', head)?;
    let line = std::str::from_utf8(&head[..end])
        .ok()?
        .trim_end_matches('\r');
    let (method, rest) = line.split_once(' ')?;
    let (target, _version) = rest.rsplit_once(' ')?;
    // Characters every URI parser accepts: ordinary requests stop here.
    let plain =
        |byte: &u8| byte.is_ascii_alphanumeric() || b"-._~/?=&%:+,;@!$'()*#[]".contains(byte);
    if target.is_empty() || target.as_bytes().iter().all(plain) {
        return None;
    }
    if http::Uri::try_from(target).is_ok() {
        return None;
    }
    let headers = std::str::from_utf8(&head[end + 1..]).unwrap_or("");
    let user_agent = headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("user-agent")
            .then(|| value.trim())
    });
    Some(Unparsable {
        method,
        target,
        user_agent,
    })
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for NotHttpScreen<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let stream = match self.scoring {
            true => self.screen(stream, shutdown).await?,
            false => stream,
        };
        // A connection kept alive comes back here for its next request; only its first is
        // screened.
        let mut next = self.inner.process_new(stream, shutdown).await;
        while let Some(stream) = next {
            next = self.inner.process_new(stream, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// The peer's address; `None` on a Unix socket.
fn peer_ip(stream: &dyn GetSocketDigest) -> Option<IpAddr> {
    super::inet_ip(stream.get_socket_digest()?.peer_addr()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_targets_pingora_refuses_are_read() {
        let request = |head: &'static str| unparsable_request(head.as_bytes());
        assert_eq!(
            request("GET /get?x=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\nUser-Agent: sqlmap/1.7\r\n\r\n"),
            Some(Unparsable {
                method: "GET",
                target: "/get?x=<script>alert(1)</script>",
                user_agent: Some("sqlmap/1.7"),
            })
        );
        assert!(request("GET /a?b=\"c\" HTTP/1.1\r\n\r\n").is_some());
        for ordinary in [
            "GET /index.html?q=a+b&x=%3Cs%3E HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /a/b;c=d/[x] HTTP/1.1\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /cut-short?x=<scr",
            "HELP\r\n",
        ] {
            assert_eq!(request(ordinary), None, "{ordinary:?}");
        }
    }
}

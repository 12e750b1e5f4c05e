//! Connections that do not speak HTTP. Pingora answers a request line it cannot parse with
//! 400 before any phase of [`super::RapsheetProxy`] runs, so the proxy looks at the first
//! byte of each new plain-text connection itself: every HTTP method starts with a letter,
//! while a TLS handshake sent to the plain-text port starts with 0x16 and the probes port
//! scanners send for other protocols (RDP, SMB, binary junk) with other bytes. Such a
//! connection fires `malformed_request` for its peer, then goes on to Pingora, which answers
//! it as before.
//!
//! Junk that starts with a letter (`HELP`, `HTTP/1.2` as the version) is still answered by
//! Pingora alone: its peek reads until the buffer is full, so only one byte can be looked at
//! without waiting on a client that sent less.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

use crate::config::ServerConfig;
use crate::engine::RequestFacts;
use crate::policy::lists::CidrSet;
use crate::shared::Shared;

/// Wraps the proxy application: judges a new connection's first byte, then hands the
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

    /// Waits for the connection's first byte and scores its peer when that byte cannot start
    /// an HTTP request. `None` when the connection closed, stayed silent too long, or the
    /// server is shutting down.
    async fn screen(&self, stream: &mut Stream, shutdown: &ShutdownWatch) -> Option<()> {
        let mut first = [0u8; 1];
        let mut shutdown = shutdown.clone();
        let peeked = tokio::select! {
            biased;
            peeked = tokio::time::timeout(self.first_byte, stream.try_peek(&mut first)) => peeked,
            _ = shutdown.changed() => return None,
        };
        match peeked {
            // Peeking one byte either fills it or leaves the stream untouched.
            Ok(Ok(true)) if !first[0].is_ascii_alphabetic() => {
                if let Some(peer) = peer_ip(stream) {
                    self.score(peer, first[0]);
                }
                Some(())
            }
            Ok(Ok(_)) => Some(()),
            Ok(Err(_)) | Err(_) => None,
        }
    }

    fn score(&self, peer: IpAddr, first: u8) {
        if self.trusted_proxies.contains(peer) {
            return;
        }
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
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for NotHttpScreen<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // TLS streams were already judged by their handshake.
        if self.scoring && stream.get_ssl_digest().is_none() {
            self.screen(&mut stream, shutdown).await?;
        }
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
fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    super::inet_ip(stream.get_socket_digest()?.peer_addr()?)
}

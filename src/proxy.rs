//! The Pingora side: each phase gathers facts, asks the engine, applies the verdict and
//! records what was decided.
//!
//! - The connection filter drops a banned client's new connections before any HTTP is read.
//! - `request_filter` scores the request and answers 403 or tarpits it; such a request is
//!   never forwarded. A keep-alive connection opened before the ban is refused here.
//! - `upstream_request_filter` tells the upstream who the client is.
//! - `logging` hands the status actually sent to the engine (the 404 ratio and redirect
//!   probes learn from it). An upstream failure never counts against the client.

pub mod client_ip;
pub mod not_http;
pub mod tarpit;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use http::header;
use pingora::lb::{selection::RoundRobin, LoadBalancer};
use pingora::listeners::ConnectionFilter;
use pingora::prelude::HttpPeer;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::config::{ClientIpConfig, ServerConfig};
use crate::engine::{Action, Engine, Outcome, RefId, RequestFacts};
use crate::policy::{Mode, Policy, TarpitStyle};
pub use crate::shared::Shared;

/// Where requests are forwarded.
pub enum Upstream {
    /// One fixed address (the demo site).
    Fixed(std::net::SocketAddr),
    /// Health-checked upstreams, round-robin.
    Balanced(Arc<LoadBalancer<RoundRobin>>),
}

/// The per-request state carried from phase to phase.
#[derive(Default)]
pub struct RequestCtx {
    scored: Option<Scored>,
}

/// A request the engine has seen.
struct Scored {
    client: IpAddr,
    policy: Arc<Policy>,
    outcome: Outcome,
}

/// The Pingora proxy application.
pub struct RapsheetProxy {
    shared: Arc<Shared>,
    upstream: Upstream,
    client_ip: ClientIpConfig,
    scoring: bool,
    keepalive_secs: u64,
    request_header: std::time::Duration,
}

impl RapsheetProxy {
    /// A proxy for `config`, forwarding to `upstream`.
    pub fn new(shared: Arc<Shared>, upstream: Upstream, config: &ServerConfig) -> RapsheetProxy {
        RapsheetProxy {
            shared,
            upstream,
            client_ip: config.client_ip.clone(),
            scoring: config.scoring,
            keepalive_secs: config.timeouts.keepalive.as_secs().max(1),
            request_header: config.timeouts.request_header,
        }
    }

    /// Holds a tarpitted request, or refuses it at once when the budget is full.
    async fn tarpit(&self, session: &mut Session, policy: &Policy) -> Result<()> {
        let Some(slot) = self.shared.tarpits.try_hold(policy.tarpit.max_held) else {
            self.shared.metrics.tarpits_refused.inc();
            return refuse(session, None).await;
        };
        let held = &self.shared.metrics.tarpits_held;
        held.inc();
        let result = match policy.tarpit.style {
            TarpitStyle::Drip => tarpit::drip(session, &policy.tarpit, &slot).await,
            TarpitStyle::Delay => {
                tarpit::delay(session, &policy.tarpit, &slot).await;
                refuse(session, None).await
            }
        };
        held.dec();
        result
    }
}

impl RapsheetProxy {
    /// Reads a small request body before anything is forwarded and scores its text fields.
    /// Pingora keeps what was read in its retry buffer and sends it upstream first, so a
    /// clean body is forwarded whole, and a body-borne attack never reaches the upstream.
    /// Bodies without a length, longer than the policy's `body_limit`, or of binary types
    /// are not read here (and not inspected).
    async fn inspect_body(
        &self,
        session: &mut Session,
        policy: &Policy,
        client: IpAddr,
        outcome: &mut Outcome,
        now_ms: u64,
    ) -> Result<()> {
        let Some(length) = inspectable_length(session, policy) else {
            return Ok(());
        };
        session.as_downstream_mut().enable_retry_buffering();
        let mut body = Vec::with_capacity(length);
        while let Some(chunk) = session.read_request_body().await? {
            body.extend_from_slice(&chunk);
            if body.len() > policy.body_limit {
                break;
            }
        }
        let content_type = header_text(session, header::CONTENT_TYPE);
        let found = Engine::scan_body(policy, content_type, &body);
        let request = facts(session, client);
        self.shared
            .engine
            .on_body(policy, &request, outcome, found, now_ms);
        Ok(())
    }
}

/// The declared length of a body worth reading before forwarding, if the request has one.
fn inspectable_length(session: &Session, policy: &Policy) -> Option<usize> {
    if policy.body_limit == 0 || policy.lists.payloads.is_none() {
        return None;
    }
    let length: usize = header_text(session, header::CONTENT_LENGTH)?
        .trim()
        .parse()
        .ok()?;
    if length == 0 || length > policy.body_limit {
        return None;
    }
    let media = header_text(session, header::CONTENT_TYPE).unwrap_or("");
    let media = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let textual = media.is_empty()
        || media.starts_with("text/")
        || media.ends_with("json")
        || media.ends_with("xml")
        || media == "application/x-www-form-urlencoded"
        || media == "multipart/form-data";
    textual.then_some(length)
}

fn header_text(session: &Session, name: header::HeaderName) -> Option<&str> {
    let value = session.req_header().headers.get(name)?;
    std::str::from_utf8(value.as_bytes()).ok()
}

/// The client's address as the socket sees it; `None` on a Unix socket.
fn peer_ip(session: &Session) -> Option<IpAddr> {
    inet_ip(session.client_addr()?)
}

/// The IP address of a socket address; `None` for a Unix socket.
fn inet_ip(address: &PeerAddr) -> Option<IpAddr> {
    match address {
        PeerAddr::Inet(address) => Some(address.ip()),
        _ => None,
    }
}

/// Borrows the facts of the request in `session`.
fn facts(session: &Session, client: IpAddr) -> RequestFacts<'_> {
    let request = session.req_header();
    let text = |name| header_text(session, name);
    RequestFacts {
        client,
        method: request.method.as_str(),
        host: text(header::HOST).or_else(|| request.uri.host()),
        target_host: request.uri.host(),
        path: request.uri.path(),
        query: request.uri.query(),
        user_agent: text(header::USER_AGENT),
        referer: text(header::REFERER),
        cookie: text(header::COOKIE),
        headers: Some(&request.headers),
        // A request line that is not HTTP never gets here: see `not_http`.
        malformed: false,
    }
}

/// Answers 403 with a short body that names the reference, never the score or signals.
async fn refuse(session: &mut Session, reference: Option<RefId>) -> Result<()> {
    let body = match reference {
        Some(reference) => format!(
            "Access denied.\n\nIf you believe this is a mistake, contact the site owner and \
             quote reference {reference}.\n"
        ),
        None => "Access denied.\n".to_string(),
    };
    let mut header = pingora::http::ResponseHeader::build(403, Some(4))?;
    header.insert_header("Content-Type", "text/plain; charset=utf-8")?;
    header.insert_header("Cache-Control", "no-store")?;
    header.insert_header("Content-Length", body.len().to_string())?;
    session
        .as_downstream_mut()
        .write_error_response(header, Bytes::from(body))
        .await
}

#[async_trait]
impl ProxyHttp for RapsheetProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Runs right after the request head is read: bounds how long the connection may idle
    /// before its next request and how long each read of a later request head may take.
    async fn early_request_filter(&self, session: &mut Session, _: &mut RequestCtx) -> Result<()> {
        session.set_keepalive(Some(self.keepalive_secs));
        session
            .as_downstream_mut()
            .set_read_timeout(Some(self.request_header));
        Ok(())
    }

    /// Scores the request. `Ok(true)` means the request was answered here (403 or tarpit)
    /// and is not forwarded; `Ok(false)` forwards it.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if !self.scoring {
            return Ok(false);
        }
        let Some(peer) = peer_ip(session) else {
            return Ok(false);
        };
        let client = client_ip::client_ip(peer, &session.req_header().headers, &self.client_ip);
        let policy = self.shared.policy.load_full();
        let now_ms = self.shared.clock.now_ms();

        let started = Instant::now();
        let mut outcome = self
            .shared
            .engine
            .on_request(&policy, &facts(session, client), now_ms);
        self.shared
            .metrics
            .engine_seconds
            .observe(started.elapsed().as_secs_f64());
        if outcome.verdict.action == Action::Allow {
            self.inspect_body(session, &policy, client, &mut outcome, now_ms)
                .await?;
        }
        self.shared.record(&policy, &outcome);

        let (action, reference) = (outcome.verdict.action, outcome.verdict.reference);
        let enforce = policy.mode == Mode::Enforce;
        ctx.scored = Some(Scored {
            client,
            policy: Arc::clone(&policy),
            outcome,
        });
        match action {
            _ if !enforce => Ok(false),
            Action::Allow => Ok(false),
            Action::Block => refuse(session, reference).await.map(|()| true),
            Action::Tarpit => self.tarpit(session, &policy).await.map(|()| true),
        }
    }

    async fn upstream_peer(&self, _: &mut Session, _: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let address = match &self.upstream {
            Upstream::Fixed(address) => *address,
            Upstream::Balanced(balancer) => match balancer.select(b"", 256) {
                Some(backend) => match backend.addr.as_inet() {
                    Some(address) => *address,
                    None => return Err(no_upstream()),
                },
                None => return Err(no_upstream()),
            },
        };
        Ok(Box::new(HttpPeer::new(address, false, String::new())))
    }

    /// Tells the upstream who the client is: the peer is appended to X-Forwarded-For (as a
    /// proxy in a chain does) and X-Real-IP is set to the client rapsheet scored.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut pingora::http::RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(peer) = peer_ip(session) else {
            return Ok(());
        };
        let forwarded = match upstream_request.headers.get("x-forwarded-for") {
            Some(earlier) => format!("{}, {peer}", String::from_utf8_lossy(earlier.as_bytes())),
            None => peer.to_string(),
        };
        upstream_request.insert_header("X-Forwarded-For", forwarded)?;
        let client = ctx.scored.as_ref().map_or(peer, |scored| scored.client);
        upstream_request.insert_header("X-Real-IP", client.to_string())?;
        Ok(())
    }

    /// Runs last for every request: the engine learns from the status actually sent.
    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        if error.is_some_and(|error| error.esource() == &ErrorSource::Upstream) {
            self.shared.metrics.upstream_errors.inc();
            return;
        }
        let Some(scored) = ctx.scored.take() else {
            return;
        };
        let Some(status) = session.response_written().map(|r| r.status.as_u16()) else {
            return;
        };
        let now_ms = self.shared.clock.now_ms();
        let request = facts(session, scored.client);
        let learned = self.shared.engine.on_response(
            &scored.policy,
            &request,
            &scored.outcome,
            status,
            now_ms,
        );
        self.shared.metrics.count_fires(learned.fired);
        if let Some(decision) = &learned.decision {
            self.shared.report(&scored.policy, decision);
        }
    }
}

fn no_upstream() -> Box<Error> {
    Error::explain(ErrorType::ConnectNoRoute, "no healthy upstream").into_up()
}

/// Drops new connections of banned and blocklisted clients before any HTTP is read.
/// Connections from trusted proxies are always accepted: the client behind them is only
/// known from the request, where `request_filter` judges it.
#[derive(Clone)]
pub struct BanFilter {
    shared: Arc<Shared>,
    trusted_proxies: crate::policy::lists::CidrSet,
}

impl std::fmt::Debug for BanFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BanFilter")
    }
}

impl BanFilter {
    /// A filter over the shared state.
    pub fn new(shared: Arc<Shared>, config: &ServerConfig) -> BanFilter {
        BanFilter {
            shared,
            trusted_proxies: config.client_ip.trusted_proxies.clone(),
        }
    }
}

#[async_trait]
impl ConnectionFilter for BanFilter {
    async fn should_accept(&self, address: Option<&std::net::SocketAddr>) -> bool {
        let Some(address) = address else {
            return true;
        };
        let ip = address.ip();
        if self.trusted_proxies.contains(ip) {
            return true;
        }
        let policy = self.shared.policy.load();
        if policy.mode == Mode::Shadow {
            return true;
        }
        let now_ms = self.shared.clock.now_ms();
        if self.shared.engine.refuses_connection(&policy, ip, now_ms) {
            self.shared.metrics.connections_refused.inc();
            return false;
        }
        true
    }
}

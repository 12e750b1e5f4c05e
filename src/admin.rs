//! The admin API: rap sheets, bans and reloads over HTTP, on its own listener.
//!
//! Reads are open to loopback peers; every change, and any read from elsewhere, needs the
//! bearer token from the configured token file. Without a token file, changes are refused
//! outright. Errors say what was wrong with the request and nothing that helps an attacker.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};

use crate::reload::Reloader;
use crate::shared::Shared;

/// The largest request body the admin API reads.
const BODY_MAX: usize = 64 * 1024;

/// A request to the admin API, read off the session.
pub struct AdminRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The socket peer.
    pub peer: Option<IpAddr>,
    /// The bearer token the request carried.
    pub bearer: Option<String>,
    /// The body (at most [`BODY_MAX`] bytes).
    pub body: Vec<u8>,
}

/// An answer of the admin API.
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The Content-Type.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: StatusCode, value: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec_pretty(value).unwrap_or_default(),
        }
    }

    /// A JSON error: `{"error": message}`.
    pub fn error(status: StatusCode, message: &str) -> Reply {
        Reply::json(status, &json!({ "error": message }))
    }
}

/// The admin application.
pub struct AdminApp {
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    token: Option<String>,
}

impl AdminApp {
    /// The admin API over `shared`; `token` guards changes (none: changes are refused).
    pub fn new(shared: Arc<Shared>, reloader: Arc<Reloader>, token: Option<String>) -> AdminApp {
        AdminApp {
            shared,
            reloader,
            token: token.filter(|token| !token.is_empty()),
        }
    }

    /// True when the request carries the configured token. Compared in constant time, so
    /// the comparison does not leak how much of a guess was right.
    fn authorized(&self, request: &AdminRequest) -> bool {
        let (Some(expected), Some(given)) = (&self.token, &request.bearer) else {
            return false;
        };
        expected.len() == given.len()
            && expected
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }

    /// Answers one request.
    pub fn handle(&self, request: &AdminRequest) -> Reply {
        let changes = request.method != Method::GET && request.method != Method::HEAD;
        let local = request.peer.is_some_and(|peer| peer.is_loopback());
        if (changes || !local) && !self.authorized(request) {
            return Reply::error(StatusCode::UNAUTHORIZED, "missing or wrong token");
        }
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        match (&request.method, segments.as_slice()) {
            (&Method::GET, ["v1", "health"]) => self.health(),
            (&Method::POST, ["v1", "reload"]) => self.reload(),
            _ => Reply::error(StatusCode::NOT_FOUND, "no such endpoint"),
        }
    }

    fn health(&self) -> Reply {
        let policy = self.shared.policy.load();
        let body = json!({
            "status": "ok",
            "mode": format!("{:?}", policy.mode).to_lowercase(),
            "signals": policy.signals.count(),
            "clients": self.shared.engine.store().client_count(),
        });
        Reply::json(StatusCode::OK, &body)
    }

    fn reload(&self) -> Reply {
        match self.reloader.reload("admin API") {
            Ok(summary) => Reply::json(
                StatusCode::OK,
                &json!({
                    "reloaded": true,
                    "signals": summary.signals.1,
                    "list_entries": summary.list_entries.1,
                    "needs_restart": summary.needs_restart,
                }),
            ),
            Err(problems) => {
                let problems: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
                let body = json!({ "reloaded": false, "problems": problems });
                Reply::json(StatusCode::UNPROCESSABLE_ENTITY, &body)
            }
        }
    }
}

/// Reads the parts of the request the API needs.
async fn read_request(session: &mut ServerSession) -> AdminRequest {
    let header = session.req_header();
    let bearer = header
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_string());
    let mut request = AdminRequest {
        method: header.method.clone(),
        path: header.uri.path().to_string(),
        query: header.uri.query().map(str::to_string),
        peer: session
            .client_addr()
            .and_then(|address| address.as_inet())
            .map(|address| address.ip()),
        bearer,
        body: Vec::new(),
    };
    while request.body.len() < BODY_MAX {
        match session.read_request_body().await {
            Ok(Some(chunk)) => request.body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    request.body.truncate(BODY_MAX);
    request
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let request = read_request(session).await;
        let reply = self.handle(&request);
        Response::builder()
            .status(reply.status)
            .header(http::header::CONTENT_TYPE, reply.content_type)
            .header(http::header::CONTENT_LENGTH, reply.body.len())
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(reply.body)
            .unwrap_or_default()
    }
}

//! The admin API: rap sheets, bans, exports and reloads over HTTP, on its own listener.
//!
//! Reads are open to loopback peers; every change, and any read from elsewhere, needs the
//! bearer token from the configured token file. Without a token file, changes are refused
//! outright. Errors say what was wrong with the request and nothing that helps an attacker.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/` | the top offenders, as a page |
//! | GET | `/clients/{ip}` | a rap sheet, as a page |
//! | GET | `/v1/clients/{ip}` | a rap sheet, as JSON |
//! | GET | `/v1/offenders?limit=N` | the top offenders |
//! | GET | `/v1/subnets/{net}/{prefix}` | one subnet's bans and scored members |
//! | GET, POST | `/v1/bans` | the running bans; ban an address or network |
//! | DELETE | `/v1/bans/{ip}`, `/v1/bans/{net}/{prefix}` | lift a ban |
//! | GET | `/v1/exports/nftables`, `bans.txt`, `abuseipdb.csv` | the bans for other tools |
//! | POST | `/v1/reload` | reload the policy |
//! | GET | `/v1/health` | liveness and a few numbers |

mod bans;

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use ipnet::IpNet;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};

use crate::export::{self, ActiveBans};
use crate::reload::Reloader;
use crate::report::html;
use crate::report::offenders::top_offenders;
use crate::report::{rfc3339, Neighbourhood, RapSheet};
use crate::shared::Shared;

/// The largest request body the admin API reads.
const BODY_MAX: usize = 64 * 1024;

/// Offenders listed when the request does not say how many.
const OFFENDERS_DEFAULT: usize = 20;

/// The most offenders one request may list.
const OFFENDERS_MAX: usize = 1000;

/// Offenders on the index page.
const INDEX_OFFENDERS: usize = 50;

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

    /// A JSON answer from any serialisable value.
    pub fn serialized(status: StatusCode, value: &impl serde::Serialize) -> Reply {
        Reply::json(status, &serde_json::to_value(value).unwrap_or(Value::Null))
    }

    /// A JSON error: `{"error": message}`.
    pub fn error(status: StatusCode, message: &str) -> Reply {
        Reply::json(status, &json!({ "error": message }))
    }

    /// An HTML page.
    pub fn html(status: StatusCode, page: String) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: page.into_bytes(),
        }
    }

    /// A text answer of `content_type`.
    pub fn text(content_type: &'static str, text: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            body: text.into_bytes(),
        }
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
            (&Method::GET, [""]) => self.index(),
            (&Method::GET, ["clients", ip]) => self.sheet_page(ip),
            (&Method::GET, ["v1", "health"]) => self.health(),
            (&Method::GET, ["v1", "clients", ip]) => self.sheet(ip),
            (&Method::GET, ["v1", "offenders"]) => self.offenders(request.query.as_deref()),
            (&Method::GET, ["v1", "subnets", net, prefix]) => self.subnet(net, prefix),
            (&Method::GET, ["v1", "bans"]) => self.bans(),
            (&Method::POST, ["v1", "bans"]) => bans::start(&self.shared, &request.body),
            (&Method::DELETE, ["v1", "bans", ip]) => bans::lift(&self.shared, ip, None),
            (&Method::DELETE, ["v1", "bans", net, prefix]) => {
                bans::lift(&self.shared, net, Some(prefix))
            }
            (&Method::GET, ["v1", "exports", name]) => self.export(name),
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

    /// The rap sheet of `ip`, or the status and message that explain why there is none.
    fn build_sheet(&self, ip: &str) -> Result<RapSheet, (StatusCode, &'static str)> {
        let address: IpAddr = ip
            .parse()
            .map_err(|_| (StatusCode::BAD_REQUEST, "malformed address"))?;
        let policy = self.shared.policy.load();
        let now_ms = self.shared.clock.now_ms();
        RapSheet::build(&self.shared.engine, &policy, address, now_ms)
            .ok_or((StatusCode::NOT_FOUND, "unknown client"))
    }

    fn sheet(&self, ip: &str) -> Reply {
        match self.build_sheet(ip) {
            Ok(sheet) => Reply::serialized(StatusCode::OK, &sheet),
            Err((status, message)) => Reply::error(status, message),
        }
    }

    fn sheet_page(&self, ip: &str) -> Reply {
        match self.build_sheet(ip) {
            Ok(sheet) => Reply::html(StatusCode::OK, html::sheet_page(&sheet)),
            Err((status, message)) => Reply::html(status, html::error_page(message)),
        }
    }

    fn index(&self) -> Reply {
        let policy = self.shared.policy.load();
        let now_ms = self.shared.clock.now_ms();
        let rows = top_offenders(&self.shared.engine, &policy, INDEX_OFFENDERS, now_ms);
        Reply::html(StatusCode::OK, html::index_page(&rows, &rfc3339(now_ms)))
    }

    fn offenders(&self, query: Option<&str>) -> Reply {
        let Some(limit) = limit_of(query) else {
            return Reply::error(StatusCode::BAD_REQUEST, "malformed limit");
        };
        let policy = self.shared.policy.load();
        let now_ms = self.shared.clock.now_ms();
        let rows = top_offenders(&self.shared.engine, &policy, limit, now_ms);
        Reply::serialized(StatusCode::OK, &json!({ "offenders": rows }))
    }

    fn subnet(&self, net: &str, prefix: &str) -> Reply {
        let Some(net) = parse_net(net, prefix) else {
            return Reply::error(StatusCode::BAD_REQUEST, "malformed network");
        };
        let policy = self.shared.policy.load();
        let expected = match net {
            IpNet::V4(_) => policy.subnet_bans.ipv4_prefix,
            IpNet::V6(_) => policy.subnet_bans.ipv6_prefix,
        };
        if net.prefix_len() != expected {
            return Reply::error(StatusCode::BAD_REQUEST, "not a subnet of this policy");
        }
        let key = (net.network(), net.prefix_len());
        let engine = &self.shared.engine;
        if engine.store().subnet(key).is_none() {
            return Reply::error(StatusCode::NOT_FOUND, "unknown subnet");
        }
        let now_ms = self.shared.clock.now_ms();
        Reply::serialized(
            StatusCode::OK,
            &Neighbourhood::of(engine, &policy, key, None, now_ms),
        )
    }

    fn active_bans(&self) -> ActiveBans {
        let policy = self.shared.policy.load();
        ActiveBans::collect(&self.shared.engine, &policy, self.shared.clock.now_ms())
    }

    fn bans(&self) -> Reply {
        Reply::serialized(StatusCode::OK, &self.active_bans())
    }

    fn export(&self, name: &str) -> Reply {
        let render: fn(&ActiveBans) -> String = match name {
            "nftables" => export::nftables,
            "bans.txt" => export::plain_text,
            "abuseipdb.csv" => export::abuseipdb_csv,
            _ => return Reply::error(StatusCode::NOT_FOUND, "no such endpoint"),
        };
        let content_type = match name {
            "abuseipdb.csv" => "text/csv; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        };
        Reply::text(content_type, render(&self.active_bans()))
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

/// `limit=N` from a query string: the default without one, `None` when malformed or out of
/// range.
fn limit_of(query: Option<&str>) -> Option<usize> {
    let Some(query) = query.filter(|query| !query.is_empty()) else {
        return Some(OFFENDERS_DEFAULT);
    };
    let mut limit = OFFENDERS_DEFAULT;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("limit=") {
            limit = value.parse().ok()?;
        }
    }
    (1..=OFFENDERS_MAX).contains(&limit).then_some(limit)
}

/// A network from its address and prefix length written as two path segments.
fn parse_net(net: &str, prefix: &str) -> Option<IpNet> {
    let address: IpAddr = net.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    IpNet::new(address, prefix).ok().map(|net| net.trunc())
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
        // Every answer may carry what a client sent (paths, User-Agents): the browser must
        // treat it as exactly the declared type and run nothing in it.
        Response::builder()
            .status(reply.status)
            .header(http::header::CONTENT_TYPE, reply.content_type)
            .header(http::header::CONTENT_LENGTH, reply.body.len())
            .header(http::header::CACHE_CONTROL, "no-store")
            .header(
                http::header::CONTENT_SECURITY_POLICY,
                html::content_security_policy(),
            )
            .header(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(http::header::REFERRER_POLICY, "no-referrer")
            .body(reply.body)
            .unwrap_or_default()
    }
}

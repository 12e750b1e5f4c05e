//! Bans set and lifted by an operator. Each change is logged at info, counted, and written
//! to the decision log in one place here, as the engine's own decisions are in `Shared`.

use std::net::IpAddr;
use std::time::Duration;

use http::StatusCode;
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::json;

use super::{parse_net, Reply};
use crate::decision_log::DecisionEntry;
use crate::policy::Policy;
use crate::report::{key_text, mode_name, rfc3339};
use crate::shared::Shared;

/// The longest ban an operator may set in one request.
const MANUAL_BAN_MAX: Duration = Duration::from_secs(365 * 86_400);

/// The most characters of an operator's reason kept.
const REASON_MAX: usize = 200;

/// The narrowest prefix lengths a network ban may have: anything wider would refuse a
/// large part of the Internet on one typo.
const WIDEST_V4: u8 = 8;
const WIDEST_V6: u8 = 16;

/// The body of `POST /v1/bans`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    /// An address or a CIDR network.
    target: String,
    /// How long, written the human way (`1h`, `7d`).
    duration: String,
    /// Why, for the logs and the rap sheet.
    #[serde(default)]
    reason: String,
}

/// What to ban: one client, or a network.
enum Target {
    Client(IpAddr),
    Network(IpNet),
}

/// A change an operator made, as the log, the metric and the decision log see it.
struct Change {
    event: &'static str,
    target: String,
    is_client: bool,
    reference: Option<String>,
    strikes: Option<u32>,
    ttl_secs: Option<u64>,
    reason: Option<String>,
}

/// `POST /v1/bans`: bans an address (as the client key it falls under) or a network.
pub fn start(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<BanRequest>(body) else {
        return Reply::error(StatusCode::BAD_REQUEST, "malformed request body");
    };
    let Some(target) = parse_target(&request.target) else {
        return Reply::error(StatusCode::BAD_REQUEST, "malformed address");
    };
    let length = match humantime::parse_duration(&request.duration) {
        Ok(length) if length >= Duration::from_secs(1) && length <= MANUAL_BAN_MAX => length,
        _ => return Reply::error(StatusCode::BAD_REQUEST, "duration must be from 1s to 365d"),
    };
    let reason = clean_reason(&request.reason);
    let policy = shared.policy.load();
    let now_ms = shared.clock.now_ms();
    let (change, until_ms) = apply(shared, &policy, target, length, reason, now_ms);
    let ttl_secs = until_ms.saturating_sub(now_ms) / 1000;
    let change = Change {
        ttl_secs: Some(ttl_secs),
        ..change
    };
    shared
        .metrics
        .bans_started
        .with_label_values(&["manual"])
        .inc();
    tracing::info!(
        reference = change.reference.as_deref().unwrap_or_default(),
        target = %change.target,
        ttl_secs,
        reason = ?change.reason.as_deref().unwrap_or_default(),
        "Operator ban"
    );
    let body = json!({
        "banned": change.target,
        "reference": change.reference,
        "until": rfc3339(until_ms),
        "ttl_secs": ttl_secs,
        "strikes": change.strikes,
    });
    write_change(shared, change, now_ms);
    Reply::json(StatusCode::CREATED, &body)
}

/// Sets the ban; returns the change and when the ban ends.
fn apply(
    shared: &Shared,
    policy: &Policy,
    target: Target,
    length: Duration,
    reason: String,
    now_ms: u64,
) -> (Change, u64) {
    match target {
        Target::Client(ip) => {
            let offender = shared
                .engine
                .ban(policy, ip, length, reason.clone(), now_ms);
            let change = Change {
                event: "ban",
                target: key_text(policy, policy.client_key(ip)),
                is_client: true,
                reference: Some(offender.reference.to_string()),
                strikes: Some(offender.strikes),
                ttl_secs: None,
                reason: Some(reason),
            };
            (change, offender.until_ms)
        }
        Target::Network(net) => {
            let ban = shared
                .engine
                .ban_network(net, length, reason.clone(), now_ms);
            let change = Change {
                event: "network_ban",
                target: ban.net.to_string(),
                is_client: false,
                reference: Some(ban.reference.to_string()),
                strikes: None,
                ttl_secs: None,
                reason: Some(reason),
            };
            (change, ban.until_ms)
        }
    }
}

/// `DELETE /v1/bans/{ip}` or `/v1/bans/{net}/{prefix}`: lifts a client ban, a network ban
/// or a subnet ban.
pub fn lift(shared: &Shared, address: &str, prefix: Option<&str>) -> Reply {
    let net = match prefix {
        Some(prefix) => parse_net(address, prefix),
        None => address.parse::<IpAddr>().ok().map(IpNet::from),
    };
    let Some(net) = net else {
        return Reply::error(StatusCode::BAD_REQUEST, "malformed address");
    };
    let now_ms = shared.clock.now_ms();
    let is_client = net.prefix_len() == net.max_prefix_len();
    let Some(lifted) = lift_running(shared, net, now_ms) else {
        return Reply::error(StatusCode::NOT_FOUND, "no running ban");
    };
    tracing::info!(target = %lifted, "Ban lifted");
    let body = json!({ "lifted": lifted });
    let change = Change {
        event: "lift",
        target: lifted,
        is_client,
        reference: None,
        strikes: None,
        ttl_secs: None,
        reason: None,
    };
    write_change(shared, change, now_ms);
    Reply::json(StatusCode::OK, &body)
}

/// Lifts the running ban of exactly `net`: a client's for a single address, else a network
/// ban, else a subnet ban. Returns what was lifted, as an operator writes it.
fn lift_running(shared: &Shared, net: IpNet, now_ms: u64) -> Option<String> {
    let store = shared.engine.store();
    if net.prefix_len() == net.max_prefix_len() {
        let policy = shared.policy.load();
        let key = policy.client_key(net.addr());
        return store.lift_ban(key, now_ms).then(|| key_text(&policy, key));
    }
    if store.lift_network_ban(net) {
        return Some(net.to_string());
    }
    let subnet = store.subnet((net.network(), net.prefix_len()))?;
    if subnet.banned_until_ms() <= now_ms {
        return None;
    }
    subnet.lift();
    Some(net.to_string())
}

/// Writes an operator's change to the decision log, when one is configured.
fn write_change(shared: &Shared, change: Change, now_ms: u64) {
    let Some(log) = shared.decision_log() else {
        return;
    };
    let mode = mode_name(shared.policy.load().mode);
    log.write(DecisionEntry {
        time: rfc3339(now_ms),
        event: change.event,
        client: change.is_client.then(|| change.target.clone()),
        network: (!change.is_client).then_some(change.target),
        score: None,
        severity: None,
        signals: Vec::new(),
        verdict: if change.event == "lift" {
            "allow"
        } else {
            "block"
        },
        reference: change.reference,
        strikes: change.strikes,
        ttl_secs: change.ttl_secs,
        cause: "manual",
        reason: change.reason,
        mode,
    });
}

/// An address, or a network no wider than [`WIDEST_V4`] / [`WIDEST_V6`]; a network with
/// a host prefix is the address.
fn parse_target(text: &str) -> Option<Target> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(Target::Client(ip));
    }
    let net: IpNet = text.parse().ok()?;
    if net.prefix_len() == net.max_prefix_len() {
        return Some(Target::Client(net.addr()));
    }
    let widest = match net {
        IpNet::V4(_) => WIDEST_V4,
        IpNet::V6(_) => WIDEST_V6,
    };
    (net.prefix_len() >= widest).then(|| Target::Network(net.trunc()))
}

/// The operator's reason, bounded and without control characters, so it cannot forge log
/// lines; an empty reason says so.
fn clean_reason(reason: &str) -> String {
    let cleaned: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(REASON_MAX)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "no reason given".to_string()
    } else {
        cleaned.to_string()
    }
}

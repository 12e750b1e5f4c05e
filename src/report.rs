//! The rap sheet: everything rapsheet knows about one client, gathered from the engine's
//! state into one value that the admin API serves as JSON and renders as a web page.
//!
//! A rap sheet states facts the engine recorded (the score and the signals behind it, the
//! requests that fired them, the client's ban and its neighbours' bans) and derives only what
//! follows from them: the attack categories, a plain-language summary and recommendations
//! tied to what fired. It never claims what rapsheet does not look up: there is no
//! geolocation, no hosting-network data and no DNS blocklist check, and the sheet says so.
//!
//! Building a sheet reads the store and allocates; it runs on admin requests only, never on
//! the proxy's request path.

pub mod html;
mod narrative;
mod neighbourhood;
pub mod offenders;
mod recommend;

use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::engine::record::{secs, ClientRecord, SignalState};
use crate::engine::{Action, Category, Engine, Reason, Signal};
use crate::policy::{Mode, Policy};
use crate::store::{BanCause, Offender};
use neighbourhood::neighbourhood;
pub use neighbourhood::{Neighbour, Neighbourhood, NetBan};
pub use recommend::Recommendation;

/// What rapsheet does not look up, stated on every sheet so nobody reads more into it.
pub const NOT_CHECKED: &str =
    "Geolocation, hosting-network classification and DNS blocklists are not checked.";

/// The most neighbours a sheet lists.
const NEIGHBOURS_SHOWN: usize = 32;

/// One client's rap sheet.
#[derive(Debug, Clone, Serialize)]
pub struct RapSheet {
    /// The address asked about.
    pub address: IpAddr,
    /// The key the client is tracked under: the address, or its IPv6 prefix.
    pub client_key: String,
    /// When the sheet was made (RFC 3339).
    pub generated_at: String,
    /// `enforce`, or `shadow` when verdicts are only recorded.
    pub mode: &'static str,
    /// The score now: the points of every live signal.
    pub score: u32,
    /// The score as the seed report writes it, `165/100`.
    pub score_text: String,
    /// The score's severity band.
    pub severity: &'static str,
    /// What the proxy does with this client now.
    pub verdict: Standing,
    /// The client's current or last ban, while it is remembered.
    pub ban: Option<BanRecord>,
    /// Requests and timing; absent when the live record was evicted and only the ban is left.
    pub activity: Option<Activity>,
    /// Every signal the client ever fired that the record still holds.
    pub signals: Vec<SignalRow>,
    /// The distinct attack categories of those signals.
    pub categories: Vec<&'static str>,
    /// How many distinct categories: "N distinct attack vectors".
    pub attack_vectors: usize,
    /// The most recent requests that fired a signal, oldest first.
    pub evidence: Vec<EvidenceRow>,
    /// The client's subnet and the bans around it.
    pub neighbourhood: Neighbourhood,
    /// What to do about this client, from what it did.
    pub recommendations: Vec<Recommendation>,
    /// One paragraph in plain language, built from the facts above.
    pub summary: String,
    /// What rapsheet does not look up.
    pub not_checked: &'static str,
}

/// The verdict the proxy would give this client's next request.
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    /// `allow`, `tarpit` or `block`.
    pub action: &'static str,
    /// Why: `score`, `banned`, `subnet_banned`, `network_banned`, `allowlist`, `blocklist`.
    pub reason: &'static str,
    /// The reference of the ban that refuses the client, if one does.
    pub reference: Option<String>,
    /// When that ban ends (RFC 3339).
    pub until: Option<String>,
    /// Seconds until it ends.
    pub ttl_secs: Option<u64>,
}

/// A client ban, running or ended but still remembered for its strikes.
#[derive(Debug, Clone, Serialize)]
pub struct BanRecord {
    /// The reference shown to the client.
    pub reference: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ends or ended.
    pub until: String,
    /// True while it runs.
    pub active: bool,
    /// Bans within the strike memory, this one included.
    pub strikes: u32,
    /// `score` or `manual`.
    pub cause: &'static str,
    /// The operator's reason of a manual ban.
    pub reason: Option<String>,
    /// The score when the ban started.
    pub score_at_ban: u32,
}

/// How much the client did, and over what time.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// First request (RFC 3339).
    pub first_seen: String,
    /// Latest request.
    pub last_seen: String,
    /// Whole days the observation spans, at least 1.
    pub observation_days: u32,
    /// Requests seen.
    pub requests: u32,
    /// Requests that fired a signal or were refused.
    pub hostile_requests: u32,
    /// Hostile requests per day of the observation window.
    pub hostile_per_day: f64,
}

/// One signal on the sheet.
#[derive(Debug, Clone, Serialize)]
pub struct SignalRow {
    /// The signal's name.
    pub signal: &'static str,
    /// What it means.
    pub description: &'static str,
    /// Its attack category.
    pub category: &'static str,
    /// The points it carries; 0 once expired or turned off.
    pub points: u16,
    /// The points it reached when it last fired.
    pub peak_points: u16,
    /// True while its points count in the score.
    pub live: bool,
    /// Times it fired.
    pub fires: u16,
    /// When it last fired (RFC 3339).
    pub last_fired: String,
    /// When its points expire or expired.
    pub expires: String,
}

/// One request kept as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceRow {
    /// When it arrived (RFC 3339).
    pub time: String,
    /// The method.
    pub method: String,
    /// The path and query, cut to a bounded length.
    pub target: String,
    /// The status sent: the site's, or rapsheet's own 403 or 429 when it was not forwarded;
    /// 0 when the connection ended before an answer.
    pub status: u16,
    /// False when rapsheet refused or tarpitted the request, so the site never saw it.
    pub forwarded: bool,
    /// The User-Agent.
    pub user_agent: Option<String>,
    /// The Referer.
    pub referer: Option<String>,
    /// The signals the request fired.
    pub signals: Vec<&'static str>,
}

/// Formats ms since the Unix epoch as RFC 3339 in UTC, to the second. Times past the year
/// 9999 are shown as its last second rather than failing.
pub fn rfc3339(ms: u64) -> String {
    const LAST_MS: u64 = 253_402_300_799_000;
    let time = UNIX_EPOCH + Duration::from_millis(ms.min(LAST_MS));
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The name of a policy mode, as logs and reports write it.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    }
}

/// The key as an operator writes it: the address, or the IPv6 prefix it stands for.
pub fn key_text(policy: &Policy, key: IpAddr) -> String {
    match key {
        IpAddr::V6(_) if policy.ipv6_prefix < 128 => format!("{key}/{}", policy.ipv6_prefix),
        _ => key.to_string(),
    }
}

impl RapSheet {
    /// The rap sheet of `address` at `now_ms`; `None` when rapsheet knows nothing about it
    /// (no live record and no remembered ban).
    pub fn build(engine: &Engine, policy: &Policy, address: IpAddr, now_ms: u64) -> Option<Self> {
        let key = policy.client_key(address);
        let store = engine.store();
        let record = store.client(key);
        let offender = store.offender(key);
        if record.is_none() && offender.is_none() {
            return None;
        }
        let score = record.as_ref().map_or(0, |r| r.score(policy, now_ms));
        let signals = record
            .as_deref()
            .map(|r| signal_rows(r, policy, now_ms))
            .unwrap_or_default();
        let categories = categories_of(&signals);
        let mut sheet = RapSheet {
            address,
            client_key: key_text(policy, key),
            generated_at: rfc3339(now_ms),
            mode: mode_name(policy.mode),
            score,
            score_text: format!("{score}/100"),
            severity: policy.severity.of(score).name(),
            verdict: standing(engine, policy, address, score, now_ms),
            ban: offender.as_deref().map(|o| ban_record(o, now_ms)),
            activity: record.as_deref().map(activity),
            attack_vectors: categories.len(),
            categories,
            signals,
            evidence: record.as_deref().map(evidence_rows).unwrap_or_default(),
            neighbourhood: neighbourhood(engine, policy, address, now_ms),
            recommendations: Vec::new(),
            summary: String::new(),
            not_checked: NOT_CHECKED,
        };
        sheet.recommendations = recommend::recommendations(&sheet, policy, now_ms);
        sheet.summary = narrative::summary(&sheet);
        Some(sheet)
    }

    /// True when `signal` is on the sheet, live or expired.
    pub fn fired(&self, signal: Signal) -> bool {
        self.signals.iter().any(|row| row.signal == signal.name())
    }
}

/// The verdict the engine would give the client's next request, checked in the engine's
/// order: lists, the client's ban, a network ban, a subnet ban, then the score.
fn standing(
    engine: &Engine,
    policy: &Policy,
    address: IpAddr,
    score: u32,
    now_ms: u64,
) -> Standing {
    let store = engine.store();
    let key = policy.client_key(address);
    let plain = |action: Action, reason: Reason| Standing {
        action: action.name(),
        reason: reason.name(),
        reference: None,
        until: None,
        ttl_secs: None,
    };
    let refused = |reason: Reason, reference: Option<String>, until_ms: u64| Standing {
        reference,
        until: Some(rfc3339(until_ms)),
        ttl_secs: Some(until_ms.saturating_sub(now_ms) / 1000),
        ..plain(Action::Block, reason)
    };
    if policy.lists.allowlist.contains(address) {
        return plain(Action::Allow, Reason::Allowlisted);
    }
    if policy.lists.blocklist.contains(address) {
        return plain(Action::Block, Reason::Blocklisted);
    }
    if let Some(offender) = store.offender(key).filter(|o| o.is_banned(now_ms)) {
        let reference = Some(offender.reference.to_string());
        return refused(Reason::Banned, reference, offender.until_ms);
    }
    if let Some(ban) = store.network_ban(address, now_ms) {
        return refused(
            Reason::NetworkBanned,
            Some(ban.reference.to_string()),
            ban.until_ms,
        );
    }
    if let Some(subnet) = store.subnet(policy.subnet_of(key)) {
        let until_ms = subnet.banned_until_ms();
        if until_ms > now_ms {
            let reference = subnet.state().reference.map(|r| r.to_string());
            return refused(Reason::SubnetBanned, reference, until_ms);
        }
    }
    if score >= policy.block_at {
        return plain(Action::Block, Reason::Score);
    }
    if policy.tarpit_at.is_some_and(|at| score >= at) {
        return plain(Action::Tarpit, Reason::Score);
    }
    plain(Action::Allow, Reason::Score)
}

fn ban_record(offender: &Offender, now_ms: u64) -> BanRecord {
    let (cause, reason) = match &offender.cause {
        BanCause::Score => ("score", None),
        BanCause::Manual(reason) => ("manual", Some(reason.clone())),
    };
    BanRecord {
        reference: offender.reference.to_string(),
        started: rfc3339(offender.started_ms),
        until: rfc3339(offender.until_ms),
        active: offender.is_banned(now_ms),
        strikes: offender.strikes,
        cause,
        reason,
        score_at_ban: offender.score,
    }
}

fn activity(record: &ClientRecord) -> Activity {
    let (requests, hostile, first_secs, last_secs) = record.counts();
    let span_secs = last_secs.saturating_sub(first_secs);
    // A client seen for 40 seconds was observed within one day; the count per day is then
    // what it did in that day, never an extrapolation.
    let observation_days = span_secs.div_ceil(86_400).max(1);
    let per_day = f64::from(hostile) / f64::from(observation_days);
    Activity {
        first_seen: rfc3339(u64::from(first_secs) * 1000),
        last_seen: rfc3339(u64::from(last_secs) * 1000),
        observation_days,
        requests,
        hostile_requests: hostile,
        hostile_per_day: (per_day * 10.0).round() / 10.0,
    }
}

fn signal_rows(record: &ClientRecord, policy: &Policy, now_ms: u64) -> Vec<SignalRow> {
    let decay_secs = policy.decay.as_secs().max(1) as u32;
    let now_secs = secs(now_ms);
    Signal::ALL
        .into_iter()
        .filter_map(|signal| {
            let state: SignalState = record.signal(signal)?;
            let live = state.is_live(now_secs, decay_secs) && policy.signals.is_on(signal);
            let expires_secs = u64::from(state.fired_secs) + u64::from(decay_secs);
            Some(SignalRow {
                signal: signal.name(),
                description: signal.description(),
                category: signal.category().name(),
                points: if live { state.points } else { 0 },
                peak_points: state.points,
                live,
                fires: state.fires,
                last_fired: rfc3339(u64::from(state.fired_secs) * 1000),
                expires: rfc3339(expires_secs * 1000),
            })
        })
        .collect()
}

fn categories_of(signals: &[SignalRow]) -> Vec<&'static str> {
    let mut categories: Vec<Category> = signals
        .iter()
        .filter_map(|row| Signal::from_name(row.signal))
        .map(Signal::category)
        .collect();
    categories.sort();
    categories.dedup();
    categories.into_iter().map(Category::name).collect()
}

fn evidence_rows(record: &ClientRecord) -> Vec<EvidenceRow> {
    record
        .evidence()
        .into_iter()
        .map(|entry| EvidenceRow {
            time: rfc3339(entry.time_ms),
            method: entry.method.to_string(),
            target: entry.target.to_string(),
            status: entry.status,
            forwarded: entry.forwarded,
            user_agent: entry.user_agent.as_deref().map(str::to_string),
            referer: entry.referer.as_deref().map(str::to_string),
            signals: entry.fired().map(Signal::name).collect(),
        })
        .collect()
}

/// `word` with its first letter in upper case, for severities in prose.
fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;

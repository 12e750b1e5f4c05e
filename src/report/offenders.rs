//! The worst clients now: a walk over the store for the index page and `/v1/offenders`.

use std::net::IpAddr;

use serde::Serialize;

use super::{key_text, rfc3339};
use crate::engine::Engine;
use crate::policy::Policy;

/// One client in the list of top offenders.
#[derive(Debug, Clone, Serialize)]
pub struct OffenderRow {
    /// The client key as an operator writes it.
    pub client: String,
    /// The key as an address, for links to its sheet.
    pub address: IpAddr,
    /// The score now.
    pub score: u32,
    /// Its severity.
    pub severity: &'static str,
    /// When its ban ends (RFC 3339), while one runs.
    pub banned_until: Option<String>,
    /// Its strikes, while remembered.
    pub strikes: u32,
    /// Requests seen, when the live record is kept.
    pub requests: u32,
    /// Hostile requests seen.
    pub hostile_requests: u32,
    /// The latest request (RFC 3339).
    pub last_seen: Option<String>,
    /// The live signals, strongest first.
    pub signals: Vec<&'static str>,
}

/// The `limit` clients with the highest scores, banned clients first among equals. Clients
/// with no points and no running ban are not offenders and are left out.
pub fn top_offenders(
    engine: &Engine,
    policy: &Policy,
    limit: usize,
    now_ms: u64,
) -> Vec<OffenderRow> {
    let store = engine.store();
    let banned = |key: IpAddr| store.offender(key).is_some_and(|o| o.is_banned(now_ms));
    // Rank on plain tuples first, so a store of a million records costs one pass and no
    // per-client allocation; rows are built for the winners only.
    let mut ranked: Vec<(u32, bool, IpAddr)> = store
        .clients()
        .map(|(key, record)| (record.score(policy, now_ms), banned(key), key))
        .filter(|(score, banned, _)| *score > 0 || *banned)
        .collect();
    for (key, offender) in store.offenders() {
        if offender.is_banned(now_ms) && store.client(key).is_none() {
            ranked.push((0, true, key));
        }
    }
    let order = |a: &(u32, bool, IpAddr), b: &(u32, bool, IpAddr)| {
        b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
    };
    if ranked.len() > limit && limit > 0 {
        ranked.select_nth_unstable_by(limit - 1, order);
    }
    ranked.truncate(limit);
    ranked.sort_by(order);
    ranked
        .into_iter()
        .map(|(score, _, key)| row(engine, policy, key, score, now_ms))
        .collect()
}

fn row(engine: &Engine, policy: &Policy, key: IpAddr, score: u32, now_ms: u64) -> OffenderRow {
    let store = engine.store();
    let offender = store.offender(key);
    let record = store.client(key);
    let (requests, hostile, _, last_secs) = record.as_ref().map_or((0, 0, 0, 0), |r| r.counts());
    OffenderRow {
        client: key_text(policy, key),
        address: key,
        score,
        severity: policy.severity.of(score).name(),
        banned_until: offender
            .as_ref()
            .filter(|o| o.is_banned(now_ms))
            .map(|o| rfc3339(o.until_ms)),
        strikes: offender.as_ref().map_or(0, |o| o.strikes),
        requests,
        hostile_requests: hostile,
        last_seen: record
            .as_ref()
            .map(|_| rfc3339(u64::from(last_secs) * 1000)),
        signals: record.map_or_else(Vec::new, |r| {
            r.live_signals(policy, now_ms)
                .into_iter()
                .map(|(signal, _)| signal.name())
                .collect()
        }),
    }
}

//! The rows of the state file and their translation to and from the engine's types.
//! Structured fields (signal lists, evidence, subnet members) are stored as JSON text, so
//! the schema stays small and a person can read the file with the `sqlite3` shell.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use rusqlite::{params, Connection, Transaction};
use serde::{Deserialize, Serialize};

use super::parse_ip;
use crate::engine::record::{ClientRecord, Evidence, SignalState};
use crate::engine::{Engine, RefId, Signal};
use crate::store::{BanCause, NetworkBan, Offender, Store, SubnetRecord};

/// A ban and its strikes.
pub struct OffenderRow {
    client: IpAddr,
    offender: Offender,
}

impl OffenderRow {
    /// The row of `offender`, whose cache entry lives `offender.retain` from its start.
    pub fn of(client: IpAddr, offender: &Offender) -> OffenderRow {
        OffenderRow {
            client,
            offender: offender.clone(),
        }
    }
}

/// The cause as stored: `score`, or `manual:` and the reason.
fn cause_text(cause: &BanCause) -> String {
    match cause {
        BanCause::Score => "score".into(),
        BanCause::Manual(reason) => format!("manual:{reason}"),
    }
}

fn cause_of(text: &str) -> BanCause {
    match text.strip_prefix("manual:") {
        Some(reason) => BanCause::Manual(reason.to_string()),
        None => BanCause::Score,
    }
}

fn signals_json(signals: &[(Signal, u16)]) -> String {
    let named: Vec<(&str, u16)> = signals.iter().map(|(s, p)| (s.name(), *p)).collect();
    serde_json::to_string(&named).unwrap_or_else(|_| "[]".into())
}

fn signals_of(text: &str) -> Vec<(Signal, u16)> {
    let named: Vec<(String, u16)> = serde_json::from_str(text).unwrap_or_default();
    named
        .into_iter()
        .filter_map(|(name, points)| Some((Signal::from_name(&name)?, points)))
        .collect()
}

/// Replaces the offenders table with `rows`.
pub fn write_offenders(tx: &Transaction, rows: &[OffenderRow]) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM offenders", [])?;
    let mut insert = tx.prepare(
        "INSERT INTO offenders (client, reference, started_ms, until_ms, strikes, score, cause, \
         signals, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for row in rows {
        let o = &row.offender;
        let expires_ms = o.started_ms + o.retain.as_millis() as u64;
        insert.execute(params![
            row.client.to_string(),
            o.reference.0 as i64,
            o.started_ms as i64,
            o.until_ms as i64,
            o.strikes,
            o.score,
            cause_text(&o.cause),
            signals_json(&o.signals),
            expires_ms as i64,
        ])?;
    }
    Ok(())
}

/// The offenders still worth keeping at `now_ms`.
pub fn read_offenders(
    connection: &Connection,
    now_ms: u64,
) -> rusqlite::Result<Vec<(IpAddr, Offender)>> {
    let mut select = connection.prepare(
        "SELECT client, reference, started_ms, until_ms, strikes, score, cause, signals, \
         expires_ms FROM offenders",
    )?;
    let rows = select.query_map([], |row| {
        let client: String = row.get(0)?;
        let cause: String = row.get(6)?;
        let signals: String = row.get(7)?;
        let expires_ms = row.get::<_, i64>(8)? as u64;
        let offender = Offender {
            reference: RefId(row.get::<_, i64>(1)? as u64),
            started_ms: row.get::<_, i64>(2)? as u64,
            until_ms: row.get::<_, i64>(3)? as u64,
            strikes: row.get(4)?,
            score: row.get(5)?,
            cause: cause_of(&cause),
            signals: signals_of(&signals),
            retain: Duration::from_millis(expires_ms.saturating_sub(now_ms)),
        };
        Ok((parse_ip(&client), offender))
    })?;
    let mut offenders = Vec::new();
    for row in rows {
        if let (Some(client), offender) = row? {
            if !offender.retain.is_zero() {
                offenders.push((client, offender));
            }
        }
    }
    Ok(offenders)
}

/// Replaces the network bans with `bans`.
pub fn write_network_bans(tx: &Transaction, bans: &[NetworkBan]) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM network_bans", [])?;
    let mut insert = tx.prepare(
        "INSERT INTO network_bans (net, reference, started_ms, until_ms, reason) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for ban in bans {
        insert.execute(params![
            ban.net.to_string(),
            ban.reference.0 as i64,
            ban.started_ms as i64,
            ban.until_ms as i64,
            ban.reason,
        ])?;
    }
    Ok(())
}

/// Every network ban in the file.
pub fn read_network_bans(connection: &Connection) -> rusqlite::Result<Vec<NetworkBan>> {
    let mut select = connection
        .prepare("SELECT net, reference, started_ms, until_ms, reason FROM network_bans")?;
    let rows = select.query_map([], |row| {
        let net: String = row.get(0)?;
        Ok(net.parse::<IpNet>().ok().map(|net| NetworkBan {
            net,
            reference: RefId(row.get::<_, i64>(1).unwrap_or(0) as u64),
            started_ms: row.get::<_, i64>(2).unwrap_or(0) as u64,
            until_ms: row.get::<_, i64>(3).unwrap_or(0) as u64,
            reason: row.get(4).unwrap_or_default(),
        }))
    })?;
    let mut bans = Vec::new();
    for row in rows {
        bans.extend(row?);
    }
    Ok(bans)
}

/// A subnet that was banned or has banned members.
pub struct SubnetRow {
    net: IpAddr,
    prefix: u8,
    reference: u64,
    banned_at_ms: u64,
    until_ms: u64,
    members: Vec<(IpAddr, u64)>,
}

impl SubnetRow {
    /// The row of a subnet worth keeping, or `None`.
    pub fn of((net, prefix): (IpAddr, u8), record: &SubnetRecord) -> Option<SubnetRow> {
        let state = record.state();
        if state.reference.is_none() && state.banned_members.is_empty() {
            return None;
        }
        Some(SubnetRow {
            net,
            prefix,
            reference: state.reference.map_or(0, |r| r.0),
            banned_at_ms: state.banned_at_ms,
            until_ms: record.banned_until_ms(),
            members: state.banned_members,
        })
    }

    /// Puts the subnet's ban and banned members back.
    pub fn restore(self, store: &Store) {
        let record = store.subnet_or_insert((self.net, self.prefix));
        for (member, until_ms) in &self.members {
            record.note_banned(*member, *until_ms, self.banned_at_ms.min(*until_ms));
        }
        if self.until_ms > 0 && self.reference != 0 {
            record.ban(RefId(self.reference), self.banned_at_ms, self.until_ms);
            store.note_subnet_ban(self.until_ms);
        }
    }
}

/// Replaces the subnets table with `rows`.
pub fn write_subnets(tx: &Transaction, rows: &[SubnetRow]) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM subnets", [])?;
    let mut insert = tx.prepare(
        "INSERT INTO subnets (net, prefix, reference, banned_at_ms, until_ms, members) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for row in rows {
        let members: Vec<(String, u64)> = row
            .members
            .iter()
            .map(|(ip, until)| (ip.to_string(), *until))
            .collect();
        insert.execute(params![
            row.net.to_string(),
            row.prefix,
            row.reference as i64,
            row.banned_at_ms as i64,
            row.until_ms as i64,
            serde_json::to_string(&members).unwrap_or_else(|_| "[]".into()),
        ])?;
    }
    Ok(())
}

/// Every subnet row.
pub fn read_subnets(connection: &Connection) -> rusqlite::Result<Vec<SubnetRow>> {
    let mut select = connection
        .prepare("SELECT net, prefix, reference, banned_at_ms, until_ms, members FROM subnets")?;
    let rows = select.query_map([], |row| {
        let net: String = row.get(0)?;
        let members: String = row.get(5)?;
        let members: Vec<(String, u64)> = serde_json::from_str(&members).unwrap_or_default();
        Ok(parse_ip(&net).map(|net| SubnetRow {
            net,
            prefix: row.get(1).unwrap_or(24),
            reference: row.get::<_, i64>(2).unwrap_or(0) as u64,
            banned_at_ms: row.get::<_, i64>(3).unwrap_or(0) as u64,
            until_ms: row.get::<_, i64>(4).unwrap_or(0) as u64,
            members: members
                .into_iter()
                .filter_map(|(ip, until)| Some((parse_ip(&ip)?, until)))
                .collect(),
        }))
    })?;
    let mut subnets = Vec::new();
    for row in rows {
        subnets.extend(row?);
    }
    Ok(subnets)
}

/// One kept evidence request.
#[derive(Serialize, Deserialize)]
struct EvidenceRow {
    time_ms: u64,
    method: String,
    target: String,
    status: u16,
    #[serde(default = "forwarded_by_default")]
    forwarded: bool,
    user_agent: Option<String>,
    referer: Option<String>,
    signals: u16,
}

fn forwarded_by_default() -> bool {
    true
}

/// A client's record as history.
pub struct ClientRow {
    client: IpAddr,
    first_seen_secs: u32,
    last_seen_secs: u32,
    requests: u32,
    hostile: u32,
    /// `(signal name, fired secs, points, fires)`.
    signals: Vec<(String, u32, u16, u16)>,
    evidence: Vec<EvidenceRow>,
}

impl ClientRow {
    /// The row of `record`.
    pub fn of(client: IpAddr, record: &ClientRecord) -> ClientRow {
        let (requests, hostile, first_seen_secs, last_seen_secs) = record.counts();
        let signals = Signal::ALL
            .into_iter()
            .filter_map(|signal| {
                let state = record.signal(signal)?;
                Some((
                    signal.name().to_string(),
                    state.fired_secs,
                    state.points,
                    state.fires,
                ))
            })
            .collect();
        let evidence = record
            .evidence()
            .into_iter()
            .map(|e| EvidenceRow {
                time_ms: e.time_ms,
                method: e.method.into(),
                target: e.target.into(),
                status: e.status,
                forwarded: e.forwarded,
                user_agent: e.user_agent.map(Into::into),
                referer: e.referer.map(Into::into),
                signals: e.signals,
            })
            .collect();
        ClientRow {
            client,
            first_seen_secs,
            last_seen_secs,
            requests,
            hostile,
            signals,
            evidence,
        }
    }

    /// Puts the record back into `engine`, merging with what memory already holds.
    pub fn restore(self, engine: &Engine, now_ms: u64) {
        let record = engine.store().client_or_insert(self.client, now_ms);
        let empty_evidence = record.evidence().is_empty();
        record.restore_counts(
            self.requests,
            self.hostile,
            self.first_seen_secs,
            self.last_seen_secs,
        );
        for (name, fired_secs, points, fires) in self.signals {
            if let Some(signal) = Signal::from_name(&name) {
                let state = SignalState {
                    fired_secs,
                    points,
                    fires,
                };
                record.restore_signal(signal, state);
            }
        }
        if empty_evidence {
            for row in self.evidence {
                record.add_evidence(Evidence {
                    id: 0,
                    time_ms: row.time_ms,
                    method: row.method.into(),
                    target: row.target.into(),
                    status: row.status,
                    forwarded: row.forwarded,
                    user_agent: row.user_agent.map(Into::into),
                    referer: row.referer.map(Into::into),
                    signals: row.signals,
                });
            }
        }
    }
}

/// Writes client rows; counts never go backwards, first seen never moves later.
pub fn write_clients(tx: &Transaction, rows: &[ClientRow]) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare(
        "INSERT INTO clients (client, first_seen_secs, last_seen_secs, requests, hostile, \
         signals, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT(client) DO UPDATE SET \
         first_seen_secs = min(first_seen_secs, excluded.first_seen_secs), \
         last_seen_secs = max(last_seen_secs, excluded.last_seen_secs), \
         requests = max(requests, excluded.requests), \
         hostile = max(hostile, excluded.hostile), \
         signals = CASE WHEN excluded.signals = '[]' THEN signals ELSE excluded.signals END, \
         evidence = CASE WHEN excluded.evidence = '[]' THEN evidence ELSE excluded.evidence END",
    )?;
    for row in rows {
        upsert.execute(params![
            row.client.to_string(),
            row.first_seen_secs,
            row.last_seen_secs,
            row.requests,
            row.hostile,
            serde_json::to_string(&row.signals).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&row.evidence).unwrap_or_else(|_| "[]".into()),
        ])?;
    }
    Ok(())
}

/// Drops client rows last seen before `oldest_secs`.
pub fn prune_clients(tx: &Transaction, oldest_secs: u64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM clients WHERE last_seen_secs < ?1",
        params![oldest_secs as i64],
    )?;
    Ok(())
}

/// The client rows worth holding in memory: those seen since `since_secs`, and those that
/// ever fired a signal. The rest stay in the file as history.
pub fn read_clients(connection: &Connection, since_secs: u64) -> rusqlite::Result<Vec<ClientRow>> {
    let mut select = connection.prepare(
        "SELECT client, first_seen_secs, last_seen_secs, requests, hostile, signals, evidence \
         FROM clients WHERE last_seen_secs >= ?1 OR signals != '[]'",
    )?;
    let rows = select.query_map(params![since_secs as i64], |row| {
        let client: String = row.get(0)?;
        let signals: String = row.get(5)?;
        let evidence: String = row.get(6)?;
        Ok(parse_ip(&client).map(|client| ClientRow {
            client,
            first_seen_secs: row.get(1).unwrap_or(0),
            last_seen_secs: row.get(2).unwrap_or(0),
            requests: row.get(3).unwrap_or(0),
            hostile: row.get(4).unwrap_or(0),
            signals: serde_json::from_str(&signals).unwrap_or_default(),
            evidence: serde_json::from_str(&evidence).unwrap_or_default(),
        }))
    })?;
    let mut clients = Vec::new();
    for row in rows {
        clients.extend(row?);
    }
    Ok(clients)
}

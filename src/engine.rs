//! The scoring engine: it takes what was observed about a request or a response, and the
//! time, and returns a verdict with its reasons.
//!
//! The engine does no IO. It reads no clock, socket, file or environment variable: the
//! proxy, the log replay and the tests call it with real time, log time and virtual time, and
//! get the same decisions. Ordinary requests cost a cache lookup and a few atomic operations;
//! allocation, locking and anything worth logging happen only when a signal fires or a
//! verdict changes.

pub mod facts;
pub mod record;
pub mod signal;
pub mod window;

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header;

use crate::detect::payload::{Location, PayloadMatcher, PayloadSet};
use crate::policy::Policy;
use ipnet::IpNet;

use crate::store::{BanCause, NetworkBan, Offender, Store, StoreLimits};
pub use facts::RequestFacts;
use record::{hash32, secs, ClientRecord, Evidence};
pub use signal::{Category, Severity, Signal};

/// The id a refused client is shown and the logs carry, so a complaint can be matched to
/// the decision without telling the client why it was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefId(pub u64);

impl fmt::Display for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012x}", self.0 & 0xffff_ffff_ffff)
    }
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Forward it.
    Allow,
    /// Hold the client and answer slowly; never forward.
    Tarpit,
    /// Refuse with 403; never forward.
    Block,
}

impl Action {
    /// The name used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Tarpit => "tarpit",
            Action::Block => "block",
        }
    }
}

/// Why the verdict is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The client's score decided.
    Score,
    /// The address is on the allowlist: never scored.
    Allowlisted,
    /// The address is on the blocklist.
    Blocklisted,
    /// The client is banned.
    Banned,
    /// The client's subnet is banned.
    SubnetBanned,
    /// An operator banned a network the client is in.
    NetworkBanned,
}

impl Reason {
    /// The name used in logs, metrics and reports.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Score => "score",
            Reason::Allowlisted => "allowlist",
            Reason::Blocklisted => "blocklist",
            Reason::Banned => "banned",
            Reason::SubnetBanned => "subnet_banned",
            Reason::NetworkBanned => "network_banned",
        }
    }
}

/// The engine's answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The client's score after this request.
    pub score: u32,
    /// The reference of the ban that refuses the request, if one does.
    pub reference: Option<RefId>,
}

/// A verdict worth telling an operator about: a ban, a subnet ban, or a client entering the
/// tarpit. The edge logs it and counts it, once.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The reference shown to the client.
    pub reference: RefId,
    /// The client key.
    pub client: IpAddr,
    /// What was decided.
    pub action: Action,
    /// The score at the decision.
    pub score: u32,
    /// Its severity.
    pub severity: Severity,
    /// The live signals and their points, strongest first.
    pub signals: Vec<(Signal, u16)>,
    /// When the ban ends (ms since the Unix epoch); 0 for a tarpit.
    pub until_ms: u64,
    /// The client's strikes, this ban included.
    pub strikes: u32,
    /// The subnet banned along with this ban, if the ban tipped it.
    pub subnet: Option<(IpAddr, u8, RefId)>,
}

/// The engine's result for one request: the verdict, a decision to log if one was made, and
/// what the response phase needs to finish the job.
#[derive(Clone)]
pub struct Outcome {
    /// What to do with the request.
    pub verdict: Verdict,
    /// A decision made by this request.
    pub decision: Option<Box<Decision>>,
    /// The signals this request fired, by bit [`Signal::index`].
    pub fired: u16,
    record: Option<Arc<ClientRecord>>,
    evidence: Option<u32>,
    hostile: bool,
}

impl Outcome {
    fn listed(action: Action, reason: Reason) -> Outcome {
        Outcome {
            verdict: Verdict {
                action,
                reason,
                score: 0,
                reference: None,
            },
            decision: None,
            fired: 0,
            record: None,
            evidence: None,
            hostile: action != Action::Allow,
        }
    }
}

/// What a response taught the engine.
#[derive(Debug, Default)]
pub struct Learned {
    /// The signals the response fired, by bit [`Signal::index`].
    pub fired: u16,
    /// A ban the response caused.
    pub decision: Option<Box<Decision>>,
}

/// Up to one entry per signal, on the stack: what one request fired.
#[derive(Default)]
struct Fired {
    entries: [(u8, u16); Signal::COUNT],
    len: usize,
}

impl Fired {
    fn push(&mut self, signal: Signal, points: u16) {
        if points > 0 && self.len < Signal::COUNT {
            self.entries[self.len] = (signal as u8, points);
            self.len += 1;
        }
    }

    fn bits(&self) -> u16 {
        self.iter()
            .fold(0, |bits, (signal, _)| bits | 1 << signal.index())
    }

    fn iter(&self) -> impl Iterator<Item = (Signal, u16)> + '_ {
        self.entries[..self.len]
            .iter()
            .map(|(index, points)| (Signal::ALL[usize::from(*index)], *points))
    }
}

/// The most characters of a client-supplied string kept as evidence.
const EVIDENCE_FIELD_MAX: usize = 256;

/// Per-client state and the scoring logic over it.
pub struct Engine {
    store: Store,
    sequence: AtomicU64,
}

impl Engine {
    /// An engine with an empty store within `limits`.
    pub fn new(limits: StoreLimits) -> Engine {
        Engine {
            store: Store::new(limits),
            sequence: AtomicU64::new(0),
        }
    }

    /// The client state.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Scores a request and decides what to do with it.
    pub fn on_request(&self, policy: &Policy, request: &RequestFacts, now_ms: u64) -> Outcome {
        if policy.lists.allowlist.contains(request.client) {
            return Outcome::listed(Action::Allow, Reason::Allowlisted);
        }
        if policy.lists.blocklist.contains(request.client) {
            return Outcome::listed(Action::Block, Reason::Blocklisted);
        }
        let key = policy.client_key(request.client);
        let record = self.store.client_or_insert(key, now_ms);
        record.touch(now_ms);

        let mut fired = Fired::default();
        self.observe_request(policy, &record, request, now_ms, &mut fired);
        let evidence = self.remember(policy, &record, request, &fired, now_ms);
        let score = record.score(policy, now_ms);

        let (verdict, decision) = match self.refusal(policy, &record, now_ms) {
            Some(refused) => (Verdict { score, ..refused }, None),
            None => self.decide(policy, &record, score, now_ms),
        };
        let hostile = fired.len > 0 || verdict.action != Action::Allow;
        if hostile {
            record.count_hostile();
        }
        Outcome {
            verdict,
            decision,
            fired: fired.bits(),
            record: Some(record),
            evidence,
            hostile,
        }
    }

    /// The payload kinds in a request body's text fields (forms, JSON, multipart, text).
    pub fn scan_body(policy: &Policy, content_type: Option<&str>, body: &[u8]) -> PayloadSet {
        let Some(payloads) = &policy.lists.payloads else {
            return PayloadSet::new();
        };
        let mut found = PayloadSet::new();
        crate::detect::body::for_each_text_field(content_type, body, |field| {
            found = found.union(payloads.scan(Location::Body, field));
        });
        found
    }

    /// Scores what a request's body carried (`found`, from [`Engine::scan_body`]) on top of
    /// what its head earned, and decides again: a body-borne attack blocks the request before
    /// it is forwarded.
    pub fn on_body(
        &self,
        policy: &Policy,
        request: &RequestFacts,
        outcome: &mut Outcome,
        found: PayloadSet,
        now_ms: u64,
    ) {
        let Some(record) = outcome.record.clone() else {
            return;
        };
        if found.is_empty() || outcome.verdict.action != Action::Allow {
            return;
        }
        let mut fired = Fired::default();
        for kind in found.iter() {
            let signal = Signal::from(kind);
            fired.push(signal, policy.signals.payload_points[signal.index()]);
        }
        if fired.len == 0 {
            return;
        }
        let evidence = self.remember(policy, &record, request, &fired, now_ms);
        let score = record.score(policy, now_ms);
        let (verdict, decision) = self.decide(policy, &record, score, now_ms);
        if !outcome.hostile {
            record.count_hostile();
        }
        outcome.verdict = verdict;
        outcome.decision = outcome.decision.take().or(decision);
        outcome.fired |= fired.bits();
        outcome.evidence = evidence.or(outcome.evidence);
        outcome.hostile = true;
    }

    /// Learns from the status sent for a request: the 404 ratio and the redirect probe.
    /// Returns what fired, and a ban the response caused, which refuses the client's next
    /// request.
    pub fn on_response(
        &self,
        policy: &Policy,
        request: &RequestFacts,
        outcome: &Outcome,
        status: u16,
        now_ms: u64,
    ) -> Learned {
        let Some(record) = &outcome.record else {
            return Learned::default();
        };
        // Answers the proxy wrote itself (403, tarpit) say nothing about the site; the
        // evidence still records what the client got.
        if outcome.verdict.action != Action::Allow {
            if let Some(id) = outcome.evidence {
                record.mark_refused(id, status);
            }
            return Learned::default();
        }
        let mut fired = Fired::default();
        let is_static = policy.is_static(request.path);
        if let Some(rule) = &policy.signals.not_found_ratio {
            if rule.count_static || !is_static {
                let epoch = window::epoch(now_ms, rule.window, record::RATIO_BUCKETS);
                record.responses.update(epoch, |payload| {
                    window::add_pair(payload, 1, u16::from(status == 404))
                });
                let (total, not_found) = record.responses.fold(epoch, (0, 0), |(t, n), payload| {
                    let (pt, pn) = window::split_pair(payload);
                    (t + pt, n + pn)
                });
                if total >= rule.min_responses {
                    let ratio = f64::from(not_found) / f64::from(total);
                    let level = rule.levels.iter().rev().find(|level| ratio >= level.ratio);
                    if let Some(level) = level {
                        fired.push(Signal::NotFoundRatio, level.points);
                    }
                }
            }
        }
        if let Some(rule) = &policy.signals.brute_force {
            let login = request.method.eq_ignore_ascii_case("POST")
                && policy
                    .lists
                    .login_paths
                    .as_ref()
                    .is_some_and(|paths| paths.matches(request.path));
            if login || status == 401 || status == 407 {
                let epoch = window::epoch(now_ms, rule.within, record::ATTEMPT_BUCKETS);
                if record.note_attempt(epoch) >= rule.attempts {
                    fired.push(Signal::BruteForce, rule.points);
                }
            }
        }
        if let Some(points) = policy.signals.redirect_probe {
            let path_hash = hash32(trim_path(request.path));
            match status {
                301 | 302 | 303 | 307 | 308 => record.note_redirect(path_hash),
                404 if record.was_redirected(path_hash) => {
                    fired.push(Signal::RedirectProbe, points)
                }
                _ => {}
            }
        }

        let decay_secs = decay_secs(policy);
        let mut bits = 0u16;
        for (signal, points) in fired.iter() {
            record.fire(signal, points, secs(now_ms), decay_secs);
            bits |= 1 << signal.index();
        }
        match outcome.evidence {
            Some(id) => record.amend_evidence(id, status, bits),
            None if bits != 0 => {
                let id = record.add_evidence(evidence_of(request, 0, now_ms));
                record.amend_evidence(id, status, bits);
            }
            None => {}
        }
        if bits == 0 {
            return Learned::default();
        }
        if !outcome.hostile {
            record.count_hostile();
        }
        let score = record.score(policy, now_ms);
        let decision = if score < policy.block_at || record.banned_until_ms() > now_ms {
            None
        } else {
            self.start_ban(policy, record, score, now_ms)
        };
        Learned {
            fired: bits,
            decision,
        }
    }

    /// True when a new connection from `ip` must be dropped before any HTTP is read: the
    /// address is blocklisted, or banned, or in a banned subnet.
    pub fn refuses_connection(&self, policy: &Policy, ip: IpAddr, now_ms: u64) -> bool {
        if policy.lists.allowlist.contains(ip) {
            return false;
        }
        if policy.lists.blocklist.contains(ip) {
            return true;
        }
        let key = policy.client_key(ip);
        let banned = match self.store.client(key) {
            Some(record) => record.banned_until_ms() > now_ms,
            None => self
                .store
                .offender(key)
                .is_some_and(|o| o.is_banned(now_ms)),
        };
        banned
            || self.subnet_banned(policy, key, now_ms)
            || self.store.network_ban(ip, now_ms).is_some()
    }

    /// Bans a whole network for `length` on an operator's word.
    pub fn ban_network(
        &self,
        net: IpNet,
        length: Duration,
        reason: String,
        now_ms: u64,
    ) -> NetworkBan {
        let ban = NetworkBan {
            net: net.trunc(),
            reference: self.reference(net.network(), now_ms),
            started_ms: now_ms,
            until_ms: now_ms + length.as_millis() as u64,
            reason,
        };
        self.store.put_network_ban(ban.clone());
        ban
    }

    /// Bans `ip` (a client key) for `length` on an operator's word, counting a strike.
    pub fn ban(
        &self,
        policy: &Policy,
        ip: IpAddr,
        length: Duration,
        reason: String,
        now_ms: u64,
    ) -> Offender {
        let key = policy.client_key(ip);
        let strikes = self.strikes_before(policy, key, now_ms) + 1;
        let until_ms = now_ms + length.as_millis() as u64;
        let offender = Offender {
            reference: self.reference(key, now_ms),
            started_ms: now_ms,
            until_ms,
            strikes,
            score: self
                .store
                .client(key)
                .map_or(0, |r| r.score(policy, now_ms)),
            cause: BanCause::Manual(reason),
            signals: Vec::new(),
            retain: retain(policy, length),
        };
        self.store.put_offender(key, offender.clone(), now_ms);
        offender
    }

    fn observe_request(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        request: &RequestFacts,
        now_ms: u64,
        fired: &mut Fired,
    ) {
        let now_secs = secs(now_ms);
        let is_static = policy.is_static(request.path);
        if let Some(rule) = &policy.signals.burst {
            if rule.count_static || !is_static {
                let epoch = window::epoch(now_ms, rule.within, record::BURST_BUCKETS);
                record.burst.update(epoch, |n| n.saturating_add(1));
                if record.burst.sum(epoch) >= rule.requests {
                    fired.push(Signal::Burst, rule.points);
                }
            }
        }
        if let Some(rule) = &policy.signals.ua_rotation {
            let agent = hash32(request.user_agent.unwrap_or(""));
            let window_secs = rule.window.as_secs().max(1) as u32;
            if record.note_agent(agent, now_secs, window_secs) >= rule.distinct {
                fired.push(Signal::UaRotation, rule.points);
            }
        }
        if let Some(rule) = &policy.signals.foreign_referer {
            if (rule.count_static || !is_static) && is_foreign_referer(policy, request) {
                fired.push(Signal::ForeignReferer, rule.points);
            }
        }
        if let (Some(points), Some(agents)) = (
            policy.signals.scanner_user_agent,
            &policy.lists.bad_user_agents,
        ) {
            if request
                .user_agent
                .is_some_and(|ua| agents.matches(ua).is_some())
            {
                fired.push(Signal::ScannerUserAgent, points);
            }
        }
        if let Some(payloads) = &policy.lists.payloads {
            for kind in scan_payloads(payloads, request).iter() {
                let signal = Signal::from(kind);
                fired.push(signal, policy.signals.payload_points[signal.index()]);
            }
        }
        if let (Some(rule), Some(paths)) = (&policy.signals.danger_hits, &policy.lists.danger_paths)
        {
            if !is_static && paths.matches(request.path) {
                let fresh = record
                    .signal(Signal::DangerHits)
                    .is_none_or(|state| !state.is_live(now_secs, decay_secs(policy)));
                let distinct = record.note_danger_path(hash32(trim_path(request.path)), fresh);
                let points =
                    (u32::from(rule.points_per_path) * distinct).min(u32::from(rule.max_points));
                fired.push(Signal::DangerHits, points as u16);
            }
        }
    }

    /// Applies what fired to the record and keeps the request as evidence when a signal
    /// rose; returns the evidence id.
    fn remember(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        request: &RequestFacts,
        fired: &Fired,
        now_ms: u64,
    ) -> Option<u32> {
        if fired.len == 0 {
            return None;
        }
        let (now_secs, decay_secs) = (secs(now_ms), decay_secs(policy));
        let mut risen = 0u16;
        let mut bits = 0u16;
        for (signal, points) in fired.iter() {
            bits |= 1 << signal.index();
            if record.fire(signal, points, now_secs, decay_secs) {
                risen |= 1 << signal.index();
            }
        }
        if risen == 0 {
            return None;
        }
        if let Some(subnet) = self.subnet_record(policy, record.key()) {
            subnet.note_scored(record.key());
        }
        let mut evidence = evidence_of(request, 0, now_ms);
        evidence.signals = bits;
        Some(record.add_evidence(evidence))
    }

    /// The refusal that applies whatever the score: a running ban of the client or its
    /// subnet.
    fn refusal(&self, policy: &Policy, record: &ClientRecord, now_ms: u64) -> Option<Verdict> {
        let refused = |reason, reference| Verdict {
            action: Action::Block,
            reason,
            score: 0,
            reference,
        };
        if record.banned_until_ms() > now_ms {
            let reference = self.store.offender(record.key()).map(|o| o.reference);
            return Some(refused(Reason::Banned, reference));
        }
        if let Some(ban) = self.store.network_ban(record.key(), now_ms) {
            return Some(refused(Reason::NetworkBanned, Some(ban.reference)));
        }
        if self.subnet_banned(policy, record.key(), now_ms) {
            let subnet = self.subnet_record(policy, record.key());
            let reference = subnet.and_then(|s| s.state().reference);
            return Some(refused(Reason::SubnetBanned, reference));
        }
        None
    }

    fn decide(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        score: u32,
        now_ms: u64,
    ) -> (Verdict, Option<Box<Decision>>) {
        let verdict = |action, reference| Verdict {
            action,
            reason: Reason::Score,
            score,
            reference,
        };
        if score >= policy.block_at {
            let decision = self.start_ban(policy, record, score, now_ms);
            let reference = match &decision {
                Some(decision) => Some(decision.reference),
                None => self.store.offender(record.key()).map(|o| o.reference),
            };
            return (verdict(Action::Block, reference), decision);
        }
        if policy.tarpit_at.is_some_and(|at| score >= at) {
            let decision = record
                .start_tarpit(secs(now_ms), decay_secs(policy))
                .then(|| self.tarpit_decision(policy, record, score, now_ms));
            return (verdict(Action::Tarpit, None), decision);
        }
        (verdict(Action::Allow, None), None)
    }

    /// The decision reported when a client enters the tarpit.
    fn tarpit_decision(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        score: u32,
        now_ms: u64,
    ) -> Box<Decision> {
        Box::new(Decision {
            reference: self.reference(record.key(), now_ms),
            client: record.key(),
            action: Action::Tarpit,
            score,
            severity: policy.severity.of(score),
            signals: record.live_signals(policy, now_ms),
            until_ms: 0,
            strikes: 0,
            subnet: None,
        })
    }

    /// Bans the client of `record`, escalating for repeat offenders, and bans its subnet
    /// when enough of its members are banned. Returns `None` when another request started
    /// the same ban a moment earlier, so each ban is reported once.
    fn start_ban(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        score: u32,
        now_ms: u64,
    ) -> Option<Box<Decision>> {
        let key = record.key();
        let strikes = self.strikes_before(policy, key, now_ms) + 1;
        let length = ban_length(policy, key, strikes, now_ms);
        let until_ms = now_ms + length.as_millis() as u64;
        if !record.extend_ban(now_ms, until_ms) {
            return None;
        }
        let reference = self.reference(key, now_ms);
        let signals = record.live_signals(policy, now_ms);
        let offender = Offender {
            reference,
            started_ms: now_ms,
            until_ms,
            strikes,
            score,
            cause: BanCause::Score,
            signals: signals.clone(),
            retain: retain(policy, length),
        };
        self.store.put_offender(key, offender, now_ms);
        Some(Box::new(Decision {
            reference,
            client: key,
            action: Action::Block,
            score,
            severity: policy.severity.of(score),
            signals,
            until_ms,
            strikes,
            subnet: self.escalate_subnet(policy, key, until_ms, now_ms),
        }))
    }

    /// Strikes the client earned before now that are still remembered.
    fn strikes_before(&self, policy: &Policy, key: IpAddr, now_ms: u64) -> u32 {
        let memory_ms = policy.repeat_offenders.memory.as_millis() as u64;
        match self.store.offender(key) {
            Some(previous) if previous.until_ms + memory_ms > now_ms => previous.strikes,
            _ => 0,
        }
    }

    /// Notes a banned member in its subnet and bans the subnet at the policy's threshold.
    fn escalate_subnet(
        &self,
        policy: &Policy,
        key: IpAddr,
        until_ms: u64,
        now_ms: u64,
    ) -> Option<(IpAddr, u8, RefId)> {
        let subnet = policy.subnet_of(key);
        let record = self.store.subnet_or_insert(subnet);
        let banned = record.note_banned(key, until_ms, now_ms);
        let threshold = policy.subnet_bans.ban_after?;
        if banned < threshold {
            return None;
        }
        let reference = self.reference(subnet.0, now_ms);
        let subnet_until = now_ms + policy.subnet_bans.ban_for.as_millis() as u64;
        if !record.ban(reference, now_ms, subnet_until) {
            return None;
        }
        self.store.note_subnet_ban(subnet_until);
        Some((subnet.0, subnet.1, reference))
    }

    fn subnet_record(
        &self,
        policy: &Policy,
        key: IpAddr,
    ) -> Option<Arc<crate::store::SubnetRecord>> {
        self.store.subnet(policy.subnet_of(key))
    }

    fn subnet_banned(&self, policy: &Policy, key: IpAddr, now_ms: u64) -> bool {
        self.store.any_subnet_ban(now_ms)
            && self
                .subnet_record(policy, key)
                .is_some_and(|subnet| subnet.banned_until_ms() > now_ms)
    }

    fn reference(&self, key: IpAddr, now_ms: u64) -> RefId {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        RefId(mix(&(key, now_ms, sequence)))
    }
}

/// The length of a ban with `strikes` strikes: `ban_for` times the multiplier per earlier
/// strike, capped, then moved by up to the jitter share either way so that bans handed out
/// together do not all end together. The jitter derives from the client and time, which
/// keeps replays deterministic.
fn ban_length(policy: &Policy, key: IpAddr, strikes: u32, now_ms: u64) -> Duration {
    let repeat = &policy.repeat_offenders;
    let base = policy.ban_for.as_secs_f64();
    let grown = base
        * repeat
            .multiplier
            .powi(strikes.saturating_sub(1).min(64) as i32);
    let capped = grown.min(repeat.max_ban.as_secs_f64().max(base));
    let unit = (mix(&(key, strikes, now_ms)) % 2001) as f64 / 1000.0 - 1.0;
    Duration::from_secs_f64((capped * (1.0 + repeat.jitter * unit)).max(1.0))
}

/// How long to remember a ban of `length`: the ban plus the strike memory.
fn retain(policy: &Policy, length: Duration) -> Duration {
    length + policy.repeat_offenders.memory
}

fn decay_secs(policy: &Policy) -> u32 {
    policy.decay.as_secs().clamp(1, u64::from(u32::MAX)) as u32
}

fn mix(value: &impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x7a9_5eed).hash_one(value)
}

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

/// The payload kinds in the request line and headers.
fn scan_payloads(payloads: &PayloadMatcher, request: &RequestFacts) -> PayloadSet {
    let mut found = payloads.scan(Location::Path, request.path);
    let mut add = |location, text: Option<&str>| {
        if let Some(text) = text {
            found = found.union(payloads.scan(location, text));
        }
    };
    add(Location::Query, request.query);
    add(Location::Header, request.user_agent);
    add(Location::Header, request.referer);
    add(Location::Cookie, request.cookie);
    for (name, value) in request.headers.into_iter().flatten() {
        let browser_grammar = name.as_str().starts_with("sec-") || name.as_str() == "priority";
        if browser_grammar || UNSCANNED_HEADERS.contains(name) {
            continue;
        }
        add(Location::Header, std::str::from_utf8(value.as_bytes()).ok());
    }
    found
}

/// A path without trailing slashes, so `/admin` and `/admin/` are the same path.
fn trim_path(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }
}

/// True when the Referer names a host that is neither this site nor a known referrer.
fn is_foreign_referer(policy: &Policy, request: &RequestFacts) -> bool {
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

/// True when one host is the other or under it (`www.example.com` and `example.com`).
fn same_site(a: &str, b: &str) -> bool {
    let under = |inner: &str, outer: &str| {
        inner.len() > outer.len()
            && inner[inner.len() - outer.len()..].eq_ignore_ascii_case(outer)
            && inner.as_bytes()[inner.len() - outer.len() - 1] == b'.'
    };
    a.eq_ignore_ascii_case(b) || under(a, b) || under(b, a)
}

fn evidence_of(request: &RequestFacts, status: u16, now_ms: u64) -> Evidence {
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

#[cfg(test)]
mod tests;

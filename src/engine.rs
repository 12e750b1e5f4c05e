//! The scoring engine: it takes what was observed about a request or a response, and the
//! time, and returns a verdict with its reasons.
//!
//! The engine does no IO. It reads no clock, socket, file or environment variable: the
//! proxy, the log replay and the tests call it with real time, log time and virtual time, and
//! get the same decisions. Ordinary requests cost a table lookup (a shard's read lock, held
//! for one probe) and a few atomic operations; allocation, exclusive locks and anything worth
//! logging happen only for a new client, or when a signal fires or a verdict changes.

mod bans;
mod danger;
pub mod facts;
mod memo;
mod observe;
pub mod record;
mod secret;
pub mod signal;
mod verdict;
pub mod window;

use std::hash::BuildHasher;
use std::sync::atomic::AtomicU64;

use crate::detect::body::Field;
use crate::detect::payload::{Location, PayloadSet};
use crate::policy::Policy;
use crate::store::{Store, StoreLimits};
use danger::{
    danger_points, missing_danger_points, missing_exploit_points, path_danger, PathDanger,
};
pub use facts::RequestFacts;
use memo::CleanTexts;
use observe::{evidence_of, is_foreign_referer, is_proxy_probe, scan_payloads, trim_path};
use record::{hash32, secs, ClientRecord, Remembered};
use secret::is_restricted_upload;
pub use signal::{Category, Severity, Signal};
pub use verdict::{Action, Decision, Learned, Outcome, Reason, RefId, Verdict};

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

/// What a request body carried, from [`Engine::scan_body`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyFindings {
    /// The payload kinds in its text fields.
    pub payloads: PayloadSet,
    /// A multipart file part named like a file the server reads as its own configuration
    /// (`lists.restricted_uploads`).
    pub restricted_upload: bool,
}

impl BodyFindings {
    /// True when the body carried nothing to score.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty() && !self.restricted_upload
    }
}

/// Per-client state and the scoring logic over it.
pub struct Engine {
    store: Store,
    sequence: AtomicU64,
    /// Keys the hash a record remembers a clean User-Agent or cookie by (see
    /// `scan_remembered`), and the hash of the shared clean paths and Referers.
    memo_hasher: foldhash::fast::RandomState,
    /// Paths and Referers found clean under the current policy, for every client.
    clean: CleanTexts,
}

/// Tells a path from a Referer with the same text in the shared memo.
const PATH_MEMO: u64 = 0x7061_7468_0000_0000;
const REFERER_MEMO: u64 = 0x7265_6665_7265_7200;

/// What a request path on its own tells the engine.
struct PathView {
    is_static: bool,
    danger: PathDanger,
    /// The payload kinds in the path.
    payloads: PayloadSet,
}

impl Engine {
    /// An engine with an empty store within `limits`.
    pub fn new(limits: StoreLimits) -> Engine {
        Engine {
            store: Store::new(limits),
            sequence: AtomicU64::new(0),
            memo_hasher: foldhash::fast::RandomState::default(),
            clean: CleanTexts::default(),
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

    /// What a request body's text fields (forms, JSON, multipart, text) carry: payload kinds,
    /// and whether a multipart upload is named like a configuration file the server reads.
    pub fn scan_body(policy: &Policy, content_type: Option<&str>, body: &[u8]) -> BodyFindings {
        let payloads = policy.lists.payloads.as_ref();
        let uploads = policy.lists.restricted_uploads.as_ref();
        let mut found = BodyFindings::default();
        crate::detect::body::for_each_field(content_type, body, |field, text| {
            if let Some(payloads) = payloads {
                found.payloads = found.payloads.union(payloads.scan(Location::Body, text));
            }
            if field == Field::FileName {
                found.restricted_upload |= uploads.is_some_and(|u| is_restricted_upload(u, text));
            }
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
        found: BodyFindings,
        now_ms: u64,
    ) {
        let Some(record) = outcome.record.clone() else {
            return;
        };
        if found.is_empty() || outcome.verdict.action != Action::Allow {
            return;
        }
        let mut fired = Fired::default();
        for kind in found.payloads.iter() {
            let signal = Signal::from(kind);
            fired.push(signal, policy.signals.payload_points[signal.index()]);
        }
        if found.restricted_upload {
            let danger = policy.signals.danger_hits.as_ref();
            let strong = danger.and_then(|rule| rule.strong_points).unwrap_or(0);
            fired.push(Signal::DangerHits, strong);
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
        // The answer to a request line that was not HTTP says nothing about the site either.
        if request.malformed {
            if let Some(id) = outcome.evidence {
                record.amend_evidence(id, status, 0);
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
        let missing = missing_danger_points(policy, record, request, outcome.fired, status, now_ms);
        if let Some(points) = missing {
            fired.push(Signal::DangerHits, points);
        }
        if let Some(points) = missing_exploit_points(policy, request, status) {
            fired.push(Signal::WebShell, points);
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

    fn observe_request(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        request: &RequestFacts,
        now_ms: u64,
        fired: &mut Fired,
    ) {
        if request.malformed {
            if let Some(points) = policy.signals.malformed_request {
                fired.push(Signal::MalformedRequest, points);
            }
            return;
        }
        let now_secs = secs(now_ms);
        let path = self.view_path(policy, request.path);
        let is_static = path.is_static;
        if let Some(rule) = &policy.signals.burst {
            if rule.count_static || !is_static {
                let epoch = window::epoch(now_ms, rule.within, record::BURST_BUCKETS);
                record.burst.update(epoch, |n| n.saturating_add(1));
                // The flood's buckets are among the window's, so a window below the flood's
                // count (every ordinary client's) spares reading them again.
                let in_window = record.burst.sum(epoch);
                let flood = rule.flood.filter(|flood| {
                    in_window >= flood.requests
                        && record.burst.sum_newest(epoch, flood.buckets) >= flood.requests
                });
                if let Some(flood) = flood {
                    fired.push(Signal::Burst, rule.points.max(flood.points));
                } else if in_window >= rule.requests {
                    fired.push(Signal::Burst, rule.points);
                }
            }
        }
        if let Some(rule) = &policy.signals.ua_rotation {
            let agent = hash32(request.user_agent.unwrap_or(""));
            let window_secs = rule.window.as_secs().max(1) as u32;
            if record.note_agent(agent, now_secs, window_secs) >= rule.distinct {
                let rotating = rule.rotating.filter(|rotating| {
                    let arrivals = record.note_rotation(agent, now_secs, window_secs);
                    arrivals.agents >= rotating.agents
                        && f64::from(arrivals.agents)
                            >= rotating.share * f64::from(arrivals.requests)
                });
                let points =
                    rotating.map_or(rule.points, |rotating| rule.points.max(rotating.points));
                fired.push(Signal::UaRotation, points);
            }
        }
        if let Some(rule) = &policy.signals.foreign_referer {
            if (rule.count_static || !is_static) && is_foreign_referer(policy, request) {
                fired.push(Signal::ForeignReferer, rule.points);
            }
        }
        if let Some(points) = policy.signals.proxy_probe {
            if is_proxy_probe(policy, request) {
                fired.push(Signal::ProxyProbe, points);
            }
        }
        let in_agent = self.observe_agent(policy, record, request.user_agent, fired);
        if let Some(payloads) = &policy.lists.payloads {
            let cookie = Remembered::Cookie;
            let in_cookie = self.scan_remembered(policy, record, cookie, request.cookie, |text| {
                (payloads.scan(Location::Cookie, text), true)
            });
            let in_referer = self.scan_shared(policy, request.referer, REFERER_MEMO, |text| {
                payloads.scan(Location::Header, text)
            });
            let found = scan_payloads(payloads, request)
                .union(path.payloads)
                .union(in_referer)
                .union(in_agent)
                .union(in_cookie);
            for kind in found.iter() {
                let signal = Signal::from(kind);
                fired.push(signal, policy.signals.payload_points[signal.index()]);
            }
        }
        let danger = danger_points(policy, record, request, is_static, path.danger, now_secs);
        if let Some(points) = danger {
            fired.push(Signal::DangerHits, points);
        }
    }

    /// What the path alone tells. A path found clean before, for anyone, is neither scanned
    /// nor matched again: the shared memo keeps whether it is a static asset with it.
    fn view_path(&self, policy: &Policy, path: &str) -> PathView {
        let key = self.memo_key(policy, path) ^ PATH_MEMO;
        if let Some(is_static) = self.clean.get(key) {
            return PathView {
                is_static,
                danger: PathDanger::None,
                payloads: PayloadSet::new(),
            };
        }
        let is_static = policy.is_static(path);
        let danger = if is_static {
            PathDanger::None
        } else {
            path_danger(policy, path)
        };
        let payloads = match &policy.lists.payloads {
            Some(payloads) => payloads.scan(Location::Path, path),
            None => PayloadSet::new(),
        };
        if danger == PathDanger::None && payloads.is_empty() {
            self.clean.note(key, is_static);
        }
        PathView {
            is_static,
            danger,
            payloads,
        }
    }

    /// The keyed hash of `text` and the policy's load id: what the memos remember a clean
    /// text by, so a reload judges every text again. (The id is hashed with the text, not
    /// mixed in after: consecutive ids differ in their low bits only.)
    fn memo_key(&self, policy: &Policy, text: &str) -> u64 {
        self.memo_hasher.hash_one((policy.load_id, text.as_bytes()))
    }

    /// Runs `scan` on `text` unless the shared memo knows it clean under this policy, and
    /// remembers it when the scan finds nothing. For texts that many clients send alike.
    fn scan_shared(
        &self,
        policy: &Policy,
        text: Option<&str>,
        salt: u64,
        scan: impl FnOnce(&str) -> PayloadSet,
    ) -> PayloadSet {
        let Some(text) = text else {
            return PayloadSet::new();
        };
        let key = self.memo_key(policy, text) ^ salt;
        if self.clean.get(key).is_some() {
            return PayloadSet::new();
        }
        let found = scan(text);
        if found.is_empty() {
            self.clean.note(key, false);
        }
        found
    }

    /// Looks for a scanner's name and for payloads in the User-Agent; pushes the scanner
    /// signal and returns the payload kinds.
    fn observe_agent(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        user_agent: Option<&str>,
        fired: &mut Fired,
    ) -> PayloadSet {
        let header = Remembered::UserAgent;
        self.scan_remembered(policy, record, header, user_agent, |agent| {
            let scanner = policy.signals.scanner_user_agent.filter(|_| {
                let agents = policy.lists.bad_user_agents.as_ref();
                agents.is_some_and(|agents| agents.matches(agent).is_some())
            });
            if let Some(points) = scanner {
                fired.push(Signal::ScannerUserAgent, points);
            }
            let found = match &policy.lists.payloads {
                Some(payloads) => payloads.scan(Location::Header, agent),
                None => PayloadSet::new(),
            };
            (found, scanner.is_none())
        })
    }

    /// Runs `scan` on the value of a header that a client repeats request after request (its
    /// User-Agent, its session cookie) unless the record remembers that value as clean under
    /// this policy. `scan` returns the payload kinds and whether nothing else fired; a clean
    /// value is remembered by a hash keyed per process, so nobody can craft a value that
    /// collides with a clean one, mixed with the policy's load id, so a reload scans again.
    /// A browser's User-Agent is the costliest string of an ordinary request to screen.
    fn scan_remembered(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        header: Remembered,
        value: Option<&str>,
        scan: impl FnOnce(&str) -> (PayloadSet, bool),
    ) -> PayloadSet {
        let Some(value) = value else {
            return PayloadSet::new();
        };
        let memo = self.memo_key(policy, value);
        if record.is_clean(header, memo) {
            return PayloadSet::new();
        }
        let (found, nothing_else) = scan(value);
        if nothing_else && found.is_empty() {
            record.note_clean(header, memo);
        }
        found
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
}

fn decay_secs(policy: &Policy) -> u32 {
    policy.decay.as_secs().clamp(1, u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests;

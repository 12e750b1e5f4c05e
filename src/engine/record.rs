//! What is known about one client: counters an ordinary request updates with a few atomic
//! operations, and a detail block (signal points, probed paths, evidence) allocated only
//! once the client does something worth remembering.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::signal::Signal;
use super::window::Buckets;
use crate::policy::Policy;

/// How many recent evidence requests a record keeps.
pub const EVIDENCE_KEPT: usize = 16;

/// How many User-Agents a record tells apart at once.
pub const AGENT_SLOTS: usize = 4;

/// Distinct dangerous paths remembered per client; more than any sane `max_points` needs.
const DANGER_SLOTS: usize = 8;

/// Distinct User-Agents and requests within a client's rotation window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrivals {
    /// Distinct User-Agents.
    pub agents: u32,
    /// Requests, those that brought them included.
    pub requests: u32,
}

/// The bit of a danger-path slot that marks the path as one the site does not have.
const MISSING_MARK: u32 = 1 << 31;

/// The distinct dangerous paths a client asked for while `danger_hits` was live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DangerPaths {
    /// Distinct paths.
    pub distinct: u32,
    /// Of those, the ones the site answered 404, 410 or 403.
    pub missing: u32,
}

/// Redirected paths remembered per client for the redirect probe.
const REDIRECT_SLOTS: usize = 4;

/// Buckets of the burst window.
pub const BURST_BUCKETS: usize = 8;

/// Buckets of the 404 ratio window.
pub const RATIO_BUCKETS: usize = 4;

/// Buckets of the login-attempt window.
pub const ATTEMPT_BUCKETS: usize = 4;

/// The request headers whose last clean value a record remembers.
#[derive(Clone, Copy, Debug)]
pub enum Remembered {
    /// The User-Agent.
    UserAgent,
    /// The Cookie header.
    Cookie,
}

impl Remembered {
    const COUNT: usize = 2;
}

/// The live record of one client key.
pub struct ClientRecord {
    key: IpAddr,
    first_seen_secs: AtomicU32,
    last_seen_secs: AtomicU32,
    requests: AtomicU32,
    hostile: AtomicU32,
    banned_until_ms: AtomicU64,
    pub(super) burst: Buckets<BURST_BUCKETS>,
    /// Responses in the high half, 404s in the low half.
    pub(super) responses: Buckets<RATIO_BUCKETS>,
    /// `(hash << 32) | last seen secs` per User-Agent.
    agents: [AtomicU64; AGENT_SLOTS],
    /// Per `Remembered` header, the keyed hash of its last value found clean, mixed with the
    /// policy's load id.
    clean: [AtomicU64; Remembered::COUNT],
    detail: OnceLock<Box<Detail>>,
}

/// The part of a record that only hostile or redirected clients need.
struct Detail {
    /// `(fired secs << 32) | (points << 16) | fires` per signal.
    signals: [AtomicU64; Signal::COUNT],
    danger_paths: [AtomicU32; DANGER_SLOTS],
    redirects: [AtomicU32; REDIRECT_SLOTS],
    redirect_next: AtomicU32,
    /// When the client was last tarpitted (seconds).
    tarpitted_secs: AtomicU32,
    /// Login attempts, for the brute-force signal.
    attempts: Buckets<ATTEMPT_BUCKETS>,
    /// `((start secs + 1) << 32) | the client's request count before it` of the window in
    /// which distinct User-Agents are counted once `ua_rotation` fired.
    agent_window: AtomicU64,
    /// The User-Agents of that window, one bit each by their hash.
    agent_bits: [AtomicU64; 4],
    evidence: Mutex<EvidenceRing>,
}

#[derive(Default)]
struct EvidenceRing {
    next_id: u32,
    entries: VecDeque<Evidence>,
}

/// One request that fired a signal, as a report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// Identifies the entry within its record, to attach the response status later.
    pub id: u32,
    /// When the request arrived, in ms since the Unix epoch.
    pub time_ms: u64,
    /// The request method.
    pub method: Box<str>,
    /// The request target (path and query), cut to a bounded length.
    pub target: Box<str>,
    /// The status sent; 0 until known.
    pub status: u16,
    /// False when rapsheet answered the request itself (403, tarpit): the site never saw it.
    pub forwarded: bool,
    /// The User-Agent, cut to a bounded length.
    pub user_agent: Option<Box<str>>,
    /// The Referer, cut to a bounded length.
    pub referer: Option<Box<str>>,
    /// The signals this request fired, by bit [`Signal::index`].
    pub signals: u16,
}

impl Evidence {
    /// The signals this request fired.
    pub fn fired(&self) -> impl Iterator<Item = Signal> + '_ {
        Signal::ALL
            .into_iter()
            .filter(|signal| self.signals & (1 << signal.index()) != 0)
    }
}

/// The state of one signal in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalState {
    /// When it last fired, in seconds since the Unix epoch.
    pub fired_secs: u32,
    /// The points it carries while not expired.
    pub points: u16,
    /// How many times it fired (saturating).
    pub fires: u16,
}

impl SignalState {
    fn unpack(word: u64) -> SignalState {
        SignalState {
            fired_secs: (word >> 32) as u32,
            points: (word >> 16) as u16,
            fires: word as u16,
        }
    }

    fn pack(self) -> u64 {
        (u64::from(self.fired_secs) << 32) | (u64::from(self.points) << 16) | u64::from(self.fires)
    }

    /// True while the points count, i.e. less than `decay` after the last fire.
    pub fn is_live(&self, now_secs: u32, decay_secs: u32) -> bool {
        self.fires > 0 && now_secs.saturating_sub(self.fired_secs) < decay_secs
    }
}

/// Seconds since the Unix epoch, as records store them.
pub fn secs(now_ms: u64) -> u32 {
    (now_ms / 1000).min(u64::from(u32::MAX)) as u32
}

/// A non-zero 32-bit hash of `text`, for remembering paths and User-Agents compactly.
pub fn hash32(text: &str) -> u32 {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(text.as_bytes());
    (hash as u32) | 1
}

impl ClientRecord {
    /// A fresh record first seen at `now_ms`.
    pub fn new(key: IpAddr, now_ms: u64) -> ClientRecord {
        ClientRecord {
            key,
            first_seen_secs: AtomicU32::new(secs(now_ms)),
            last_seen_secs: AtomicU32::new(secs(now_ms)),
            requests: AtomicU32::new(0),
            hostile: AtomicU32::new(0),
            banned_until_ms: AtomicU64::new(0),
            burst: Buckets::default(),
            responses: Buckets::default(),
            agents: std::array::from_fn(|_| AtomicU64::new(0)),
            clean: std::array::from_fn(|_| AtomicU64::new(0)),
            detail: OnceLock::new(),
        }
    }

    /// The client key this record is for.
    pub fn key(&self) -> IpAddr {
        self.key
    }

    /// Counts a request at `now_ms`.
    pub fn touch(&self, now_ms: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_seen_secs
            .fetch_max(secs(now_ms), Ordering::Relaxed);
    }

    /// True when `memo` (a keyed hash of the header's value mixed with the policy's load id)
    /// is the one last found clean: a client sends the same User-Agent and session cookie
    /// request after request, and they need not be scanned again under the same policy.
    pub fn is_clean(&self, header: Remembered, memo: u64) -> bool {
        self.clean[header as usize].load(Ordering::Relaxed) == memo
    }

    /// Remembers `memo` as the header's value last found clean.
    pub fn note_clean(&self, header: Remembered, memo: u64) {
        self.clean[header as usize].store(memo, Ordering::Relaxed);
    }

    /// When the client was last seen (seconds).
    pub fn last_seen_secs(&self) -> u32 {
        self.last_seen_secs.load(Ordering::Relaxed)
    }

    /// Counts a request that fired a signal or was refused.
    pub fn count_hostile(&self) {
        self.hostile.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests seen, hostile requests seen, first and last seen (seconds).
    pub fn counts(&self) -> (u32, u32, u32, u32) {
        (
            self.requests.load(Ordering::Relaxed),
            self.hostile.load(Ordering::Relaxed),
            self.first_seen_secs.load(Ordering::Relaxed),
            self.last_seen_secs.load(Ordering::Relaxed),
        )
    }

    /// Restores counts kept from an earlier life of this record (persistence). Counts only
    /// grow, so restoring the same state twice changes nothing.
    pub fn restore_counts(&self, requests: u32, hostile: u32, first_secs: u32, last_secs: u32) {
        self.requests.fetch_max(requests, Ordering::Relaxed);
        self.hostile.fetch_max(hostile, Ordering::Relaxed);
        self.first_seen_secs
            .fetch_min(first_secs, Ordering::Relaxed);
        self.last_seen_secs.fetch_max(last_secs, Ordering::Relaxed);
    }

    /// The end of the client's own ban (ms), 0 when it never had one.
    pub fn banned_until_ms(&self) -> u64 {
        self.banned_until_ms.load(Ordering::Relaxed)
    }

    /// Sets the ban end if `until_ms` is later than the current one; true when this call
    /// started a ban (none was running at `now_ms`), so exactly one caller logs it.
    pub fn extend_ban(&self, now_ms: u64, until_ms: u64) -> bool {
        let previous = self.banned_until_ms.fetch_max(until_ms, Ordering::AcqRel);
        previous <= now_ms && until_ms > now_ms
    }

    /// Ends the client's own ban.
    pub fn lift_ban(&self) {
        self.banned_until_ms.store(0, Ordering::Release);
    }

    /// Remembers the User-Agent `hash` seen at `now_secs` and returns how many distinct ones
    /// were seen within `window_secs`.
    pub fn note_agent(&self, hash: u32, now_secs: u32, window_secs: u32) -> u32 {
        let mut live = 0;
        let mut found = false;
        let mut oldest = (u32::MAX, 0);
        for (i, slot) in self.agents.iter().enumerate() {
            let word = slot.load(Ordering::Relaxed);
            let (seen_hash, seen_secs) = ((word >> 32) as u32, word as u32);
            if word != 0 && seen_hash == hash {
                found = true;
                live += 1;
                if seen_secs != now_secs {
                    slot.store(pack_agent(hash, now_secs), Ordering::Relaxed);
                }
                continue;
            }
            if word != 0 && now_secs.saturating_sub(seen_secs) < window_secs {
                live += 1;
            }
            let age_key = if word == 0 { 0 } else { seen_secs };
            if age_key < oldest.0 {
                oldest = (age_key, i);
            }
        }
        if !found {
            self.agents[oldest.1].store(pack_agent(hash, now_secs), Ordering::Relaxed);
            live += 1;
        }
        live
    }

    /// Counts the User-Agent `hash` in a window of `window_secs` that starts with the first
    /// request counted: how many distinct agents arrived in it, and how many requests the
    /// client made in it. Agents are told apart by 256 bits of their hash, so an agent that
    /// comes back (a person behind the same NAT, again) is not new, where the four slots of
    /// [`ClientRecord::note_agent`] would have forgotten it. Called once `ua_rotation` fired,
    /// so clients with one browser never pay for it.
    pub fn note_rotation(&self, hash: u32, now_secs: u32, window_secs: u32) -> Arrivals {
        let detail = self.detail();
        let requests = self.requests.load(Ordering::Relaxed);
        let word = detail.agent_window.load(Ordering::Relaxed);
        let (start_secs, mut requests_before) = split_window(word);
        if word == 0 || now_secs.saturating_sub(start_secs) >= window_secs {
            requests_before = requests.wrapping_sub(1);
            let word = (u64::from(now_secs.saturating_add(1)) << 32) | u64::from(requests_before);
            detail.agent_window.store(word, Ordering::Relaxed);
            for bits in &detail.agent_bits {
                bits.store(0, Ordering::Relaxed);
            }
        }
        let bit = (hash >> 8) as usize % 256;
        detail.agent_bits[bit / 64].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        let agents = detail
            .agent_bits
            .iter()
            .map(|bits| bits.load(Ordering::Relaxed).count_ones())
            .sum();
        Arrivals {
            agents,
            requests: requests.wrapping_sub(requests_before),
        }
    }

    fn detail(&self) -> &Detail {
        self.detail.get_or_init(|| Box::new(Detail::default()))
    }

    /// The state of `signal`, if it ever fired.
    pub fn signal(&self, signal: Signal) -> Option<SignalState> {
        let detail = self.detail.get()?;
        let state = SignalState::unpack(detail.signals[signal.index()].load(Ordering::Relaxed));
        (state.fires > 0).then_some(state)
    }

    /// Puts back a signal's state kept from an earlier life of this record (persistence),
    /// keeping whichever fired later.
    pub fn restore_signal(&self, signal: Signal, state: SignalState) {
        if state.fires == 0 {
            return;
        }
        let slot = &self.detail().signals[signal.index()];
        let current = SignalState::unpack(slot.load(Ordering::Relaxed));
        if state.fired_secs >= current.fired_secs {
            slot.store(state.pack(), Ordering::Relaxed);
        }
    }

    /// True when the client ever did something worth remembering in detail.
    pub fn is_notable(&self) -> bool {
        self.detail.get().is_some()
    }

    /// Fires `signal` with `points` at `now_secs`: a live signal keeps the higher of its
    /// points and the new ones. Returns true when the points carried went up (or the signal
    /// came alive), which is when the request is kept as evidence.
    pub fn fire(&self, signal: Signal, points: u16, now_secs: u32, decay_secs: u32) -> bool {
        let slot = &self.detail().signals[signal.index()];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let old = SignalState::unpack(current);
            let live = old.is_live(now_secs, decay_secs);
            let carried = if live { old.points.max(points) } else { points };
            let next = SignalState {
                fired_secs: now_secs.max(old.fired_secs),
                points: carried,
                fires: old.fires.saturating_add(1),
            };
            match slot.compare_exchange_weak(
                current,
                next.pack(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return !live || carried > old.points,
                Err(seen) => current = seen,
            }
        }
    }

    /// The score: the points of every live signal the policy has on.
    pub fn score(&self, policy: &Policy, now_ms: u64) -> u32 {
        let Some(detail) = self.detail.get() else {
            return 0;
        };
        let now_secs = secs(now_ms);
        let decay_secs = policy.decay.as_secs().max(1) as u32;
        let mut score = 0;
        for signal in Signal::ALL {
            let state = SignalState::unpack(detail.signals[signal.index()].load(Ordering::Relaxed));
            if state.is_live(now_secs, decay_secs) && policy.signals.is_on(signal) {
                score += u32::from(state.points);
            }
        }
        score
    }

    /// The live signals and their points, strongest first.
    pub fn live_signals(&self, policy: &Policy, now_ms: u64) -> Vec<(Signal, u16)> {
        let now_secs = secs(now_ms);
        let decay_secs = policy.decay.as_secs().max(1) as u32;
        let mut live: Vec<(Signal, u16)> = Signal::ALL
            .into_iter()
            .filter(|signal| policy.signals.is_on(*signal))
            .filter_map(|signal| {
                let state = self.signal(signal)?;
                state
                    .is_live(now_secs, decay_secs)
                    .then_some((signal, state.points))
            })
            .collect();
        live.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        live
    }

    /// Adds `path_hash` to the distinct dangerous paths and returns how many there are, and
    /// how many of them the site answered as missing. The set starts over when `fresh` (the
    /// signal had expired).
    pub fn note_danger_path(&self, path_hash: u32, fresh: bool) -> DangerPaths {
        let slots = &self.detail().danger_paths;
        if fresh {
            slots
                .iter()
                .for_each(|slot| slot.store(0, Ordering::Relaxed));
        }
        let path_hash = path_hash & !MISSING_MARK;
        for slot in slots {
            match slot.compare_exchange(0, path_hash, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) if seen & !MISSING_MARK == path_hash => break,
                Err(_) => continue,
            }
        }
        self.danger_paths()
    }

    /// Marks `path_hash`, noted before, as a path the site does not have (it answered 404,
    /// 410 or 403) and returns the counts; `None` when the path is not among those noted.
    pub fn note_missing_danger_path(&self, path_hash: u32) -> Option<DangerPaths> {
        let path_hash = path_hash & !MISSING_MARK;
        let slots = &self.detail.get()?.danger_paths;
        let slot = slots
            .iter()
            .find(|slot| slot.load(Ordering::Relaxed) & !MISSING_MARK == path_hash)?;
        slot.fetch_or(MISSING_MARK, Ordering::Relaxed);
        Some(self.danger_paths())
    }

    fn danger_paths(&self) -> DangerPaths {
        let slots = &self.detail().danger_paths;
        slots.iter().fold(DangerPaths::default(), |counts, slot| {
            let word = slot.load(Ordering::Relaxed);
            DangerPaths {
                distinct: counts.distinct + u32::from(word != 0),
                missing: counts.missing + u32::from(word & MISSING_MARK != 0),
            }
        })
    }

    /// Remembers that `path_hash` was answered with a redirect.
    pub fn note_redirect(&self, path_hash: u32) {
        let detail = self.detail();
        if detail
            .redirects
            .iter()
            .any(|slot| slot.load(Ordering::Relaxed) == path_hash)
        {
            return;
        }
        let next = detail.redirect_next.fetch_add(1, Ordering::Relaxed) as usize;
        detail.redirects[next % REDIRECT_SLOTS].store(path_hash, Ordering::Relaxed);
    }

    /// True when `path_hash` was answered with a redirect earlier.
    pub fn was_redirected(&self, path_hash: u32) -> bool {
        self.detail.get().is_some_and(|detail| {
            detail
                .redirects
                .iter()
                .any(|slot| slot.load(Ordering::Relaxed) == path_hash)
        })
    }

    /// Counts a login attempt in the bucket of `epoch`; returns the attempts in the window.
    pub fn note_attempt(&self, epoch: u32) -> u32 {
        let attempts = &self.detail().attempts;
        attempts.update(epoch, |n| n.saturating_add(1));
        attempts.sum(epoch)
    }

    /// Notes a tarpitted request; true when it starts a new tarpit episode (the client was
    /// not tarpitted within `decay_secs`), which is when the tarpit is reported.
    pub fn start_tarpit(&self, now_secs: u32, decay_secs: u32) -> bool {
        let previous = self
            .detail()
            .tarpitted_secs
            .swap(now_secs, Ordering::Relaxed);
        previous == 0 || now_secs.saturating_sub(previous) >= decay_secs
    }

    /// Keeps `evidence` (its id is assigned here) and returns its id.
    pub fn add_evidence(&self, mut evidence: Evidence) -> u32 {
        let mut ring = self.detail().evidence.lock();
        evidence.id = ring.next_id;
        ring.next_id = ring.next_id.wrapping_add(1);
        if ring.entries.len() == EVIDENCE_KEPT {
            ring.entries.pop_front();
        }
        ring.entries.push_back(evidence);
        ring.next_id.wrapping_sub(1)
    }

    /// Marks evidence `id` as answered by rapsheet itself with `status`.
    pub fn mark_refused(&self, id: u32, status: u16) {
        let Some(detail) = self.detail.get() else {
            return;
        };
        let mut ring = detail.evidence.lock();
        if let Some(entry) = ring.entries.iter_mut().rev().find(|entry| entry.id == id) {
            entry.status = status;
            entry.forwarded = false;
        }
    }

    /// Updates evidence `id` with the status sent and signals fired by the response.
    pub fn amend_evidence(&self, id: u32, status: u16, signals: u16) {
        let Some(detail) = self.detail.get() else {
            return;
        };
        let mut ring = detail.evidence.lock();
        if let Some(entry) = ring.entries.iter_mut().rev().find(|entry| entry.id == id) {
            entry.status = status;
            entry.signals |= signals;
        }
    }

    /// The kept evidence, oldest first.
    pub fn evidence(&self) -> Vec<Evidence> {
        self.detail
            .get()
            .map(|detail| detail.evidence.lock().entries.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Default for Detail {
    fn default() -> Self {
        Detail {
            signals: std::array::from_fn(|_| AtomicU64::new(0)),
            danger_paths: std::array::from_fn(|_| AtomicU32::new(0)),
            redirects: std::array::from_fn(|_| AtomicU32::new(0)),
            redirect_next: AtomicU32::new(0),
            tarpitted_secs: AtomicU32::new(0),
            attempts: Buckets::default(),
            agent_window: AtomicU64::new(0),
            agent_bits: std::array::from_fn(|_| AtomicU64::new(0)),
            evidence: Mutex::new(EvidenceRing::default()),
        }
    }
}

/// The start (secs) and the request count before it of a rotation window. The start is kept
/// plus one, so that no window, even one starting at 0, reads as none.
fn split_window(word: u64) -> (u32, u32) {
    (((word >> 32) as u32).saturating_sub(1), word as u32)
}

fn pack_agent(hash: u32, now_secs: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(now_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_keeps_its_highest_level_until_it_expires() {
        let record = ClientRecord::new("192.0.2.1".parse().unwrap(), 0);
        assert!(record.fire(Signal::NotFoundRatio, 25, 100, 60));
        assert!(!record.fire(Signal::NotFoundRatio, 15, 110, 60));
        assert_eq!(record.signal(Signal::NotFoundRatio).unwrap().points, 25);
        // Expired: the next fire starts from its own points.
        assert!(record.fire(Signal::NotFoundRatio, 15, 200, 60));
        assert_eq!(record.signal(Signal::NotFoundRatio).unwrap().points, 15);
        assert_eq!(record.signal(Signal::NotFoundRatio).unwrap().fires, 3);
    }

    #[test]
    fn agents_are_counted_within_their_window() {
        let record = ClientRecord::new("192.0.2.1".parse().unwrap(), 0);
        assert_eq!(record.note_agent(11, 0, 60), 1);
        assert_eq!(record.note_agent(11, 5, 60), 1);
        assert_eq!(record.note_agent(13, 10, 60), 2);
        assert_eq!(record.note_agent(17, 20, 60), 3);
        // At 65 s the agent last seen at 5 s has aged out.
        assert_eq!(record.note_agent(17, 65, 60), 2);
    }

    #[test]
    fn agents_arriving_are_counted_against_the_requests_of_their_window() {
        let record = ClientRecord::new("192.0.2.1".parse().unwrap(), 0);
        let arrive = |hash: u32, now_secs: u32| {
            record.touch(u64::from(now_secs) * 1000);
            let arrivals = record.note_rotation(hash << 8, now_secs, 60);
            (arrivals.agents, arrivals.requests)
        };
        assert_eq!(arrive(1, 0), (1, 1));
        assert_eq!(arrive(2, 1), (2, 2));
        // An agent that comes back is not new, however many came in between.
        assert_eq!(arrive(1, 2), (2, 3));
        assert_eq!(arrive(3, 3), (3, 4));
        // A new window starts with the first request after the last one ended.
        assert_eq!(arrive(1, 70), (1, 1));
        assert_eq!(arrive(4, 71), (2, 2));
    }

    #[test]
    fn evidence_ring_is_bounded_and_amendable() {
        let record = ClientRecord::new("192.0.2.1".parse().unwrap(), 0);
        let mut last = 0;
        for i in 0..(EVIDENCE_KEPT as u64 + 3) {
            last = record.add_evidence(Evidence {
                id: 0,
                time_ms: i,
                method: "GET".into(),
                target: "/x".into(),
                status: 0,
                forwarded: true,
                user_agent: None,
                referer: None,
                signals: 1,
            });
        }
        record.amend_evidence(last, 404, 2);
        let kept = record.evidence();
        assert_eq!(kept.len(), EVIDENCE_KEPT);
        assert_eq!(kept[0].time_ms, 3);
        assert_eq!(
            (kept.last().unwrap().status, kept.last().unwrap().signals),
            (404, 3)
        );
    }
}

//! Bans: starting them when a score reaches `block_at` (escalating for repeat offenders and
//! tipping subnets), setting them on an operator's word, and asking whether one refuses a
//! client now. Every ban is stored twice: as the record's ban end, read by each request, and
//! in the offender table, which outlives the record.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::record::ClientRecord;
use super::{Action, Decision, Engine, Reason, RefId, Verdict};
use crate::policy::Policy;
use crate::store::{BanCause, NetworkBan, Offender, SubnetRecord};

impl Engine {
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

    /// The refusal that applies whatever the score: a running ban of the client or its
    /// subnet.
    pub(super) fn refusal(
        &self,
        policy: &Policy,
        record: &ClientRecord,
        now_ms: u64,
    ) -> Option<Verdict> {
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

    /// Bans the client of `record`, escalating for repeat offenders, and bans its subnet
    /// when enough of its members are banned. Returns `None` when another request started
    /// the same ban a moment earlier, so each ban is reported once.
    pub(super) fn start_ban(
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
    pub(super) fn strikes_before(&self, policy: &Policy, key: IpAddr, now_ms: u64) -> u32 {
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

    pub(super) fn subnet_record(&self, policy: &Policy, key: IpAddr) -> Option<Arc<SubnetRecord>> {
        self.store.subnet(policy.subnet_of(key))
    }

    pub(super) fn subnet_banned(&self, policy: &Policy, key: IpAddr, now_ms: u64) -> bool {
        self.store.any_subnet_ban(now_ms)
            && self
                .subnet_record(policy, key)
                .is_some_and(|subnet| subnet.banned_until_ms() > now_ms)
    }

    pub(super) fn reference(&self, key: IpAddr, now_ms: u64) -> RefId {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        RefId(mix(&(key, now_ms, sequence)))
    }
}

/// The length of a ban with `strikes` strikes: `ban_for` times the multiplier per earlier
/// strike, capped, then moved by up to the jitter share either way so that bans handed out
/// together do not all end together. The jitter derives from the client and time, which
/// keeps replays deterministic.
pub(super) fn ban_length(policy: &Policy, key: IpAddr, strikes: u32, now_ms: u64) -> Duration {
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
pub(super) fn retain(policy: &Policy, length: Duration) -> Duration {
    length + policy.repeat_offenders.memory
}

pub(super) fn mix(value: &impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x7a9_5eed).hash_one(value)
}

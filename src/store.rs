//! Where client state lives: a bounded table of client records and two bounded caches.
//!
//! - `clients`: the live [`ClientRecord`] of every client key, bounded in number and dropped
//!   when idle, so memory stays flat under address rotation (see [`clients`]).
//! - `offenders`: bans and strikes. They are kept apart from the records so that evicting a
//!   record (a spray of fresh addresses fills the store) never lifts a ban or forgets a
//!   strike; an entry lives until its ban ends plus the strike memory.
//! - `subnets`: the /24 and /48 aggregates, with their banned members and subnet bans.
//!
//! The two caches come from moka. The client table is this crate's own: moka's bookkeeping
//! costs more than a record itself, and the record table is the one that holds a million
//! entries.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use moka::sync::Cache;
use moka::Expiry;
use parking_lot::Mutex;
use prefix_trie::PrefixMap;

mod clients;

use crate::engine::record::ClientRecord;
use crate::engine::{RefId, Signal};
use clients::ClientTable;

/// How many clients to track and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// The most client records kept; beyond it the least valuable are evicted.
    pub max_clients: u64,
    /// A record nobody touched for this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_clients: 1_000_000,
            idle_timeout: Duration::from_secs(3600),
        }
    }
}

/// Why a ban was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BanCause {
    /// The client's score reached `block_at`.
    Score,
    /// An operator set it, with a reason.
    Manual(String),
}

/// A ban and the strikes behind it: what survives the record's eviction.
#[derive(Clone, Debug)]
pub struct Offender {
    /// The id the refused client is shown and the logs carry.
    pub reference: RefId,
    /// When the current (or last) ban started, ms since the Unix epoch.
    pub started_ms: u64,
    /// When it ends.
    pub until_ms: u64,
    /// How many bans this client earned within the strike memory, this one included.
    pub strikes: u32,
    /// The score that caused the ban.
    pub score: u32,
    /// Why.
    pub cause: BanCause,
    /// The signals and points at the time of the ban.
    pub signals: Vec<(Signal, u16)>,
    /// How long the cache keeps this entry: the ban plus the strike memory.
    pub retain: Duration,
}

impl Offender {
    /// True while the ban runs.
    pub fn is_banned(&self, now_ms: u64) -> bool {
        self.until_ms > now_ms
    }
}

/// The aggregate of one subnet.
#[derive(Default)]
pub struct SubnetRecord {
    banned_until_ms: AtomicU64,
    state: Mutex<SubnetState>,
}

/// Members and ban of a subnet; touched only when a member is banned or a report is read.
#[derive(Default, Clone, Debug)]
pub struct SubnetState {
    /// Members that were banned, with the end of their ban, bounded in number.
    pub banned_members: Vec<(IpAddr, u64)>,
    /// Members that carried points (for the combined score), bounded in number.
    pub scored_members: Vec<IpAddr>,
    /// The reference of the subnet ban, if one was set.
    pub reference: Option<RefId>,
    /// When the subnet ban started.
    pub banned_at_ms: u64,
}

/// The most members a subnet record lists.
const SUBNET_MEMBERS_KEPT: usize = 256;

impl SubnetRecord {
    /// The end of the subnet's ban (ms), 0 if never banned.
    pub fn banned_until_ms(&self) -> u64 {
        self.banned_until_ms.load(Ordering::Relaxed)
    }

    /// A copy of the members and ban details.
    pub fn state(&self) -> SubnetState {
        self.state.lock().clone()
    }

    /// Records that `member` is banned until `until_ms`; returns the number of members
    /// banned at `now_ms`.
    pub fn note_banned(&self, member: IpAddr, until_ms: u64, now_ms: u64) -> u32 {
        let mut state = self.state.lock();
        state
            .banned_members
            .retain(|(ip, until)| *ip != member && *until > now_ms);
        if state.banned_members.len() < SUBNET_MEMBERS_KEPT {
            state.banned_members.push((member, until_ms));
        }
        state.banned_members.len() as u32
    }

    /// Records that `member` carries points.
    pub fn note_scored(&self, member: IpAddr) {
        let mut state = self.state.lock();
        if state.scored_members.len() < SUBNET_MEMBERS_KEPT
            && !state.scored_members.contains(&member)
        {
            state.scored_members.push(member);
        }
    }

    /// Bans the subnet until `until_ms`; true when this call started the ban.
    pub fn ban(&self, reference: RefId, now_ms: u64, until_ms: u64) -> bool {
        let previous = self.banned_until_ms.fetch_max(until_ms, Ordering::AcqRel);
        let started = previous <= now_ms;
        if started {
            let mut state = self.state.lock();
            state.reference = Some(reference);
            state.banned_at_ms = now_ms;
        }
        started
    }

    /// Lifts the subnet ban.
    pub fn lift(&self) {
        self.banned_until_ms.store(0, Ordering::Release);
    }
}

/// An operator's ban of a whole network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkBan {
    /// The network.
    pub net: IpNet,
    /// The id refused clients are shown.
    pub reference: RefId,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// When it ends.
    pub until_ms: u64,
    /// Why.
    pub reason: String,
}

/// The network bans, looked up by longest prefix; replaced whole on every change (they are
/// few and change rarely), so lookups never lock.
#[derive(Default, Clone)]
struct NetworkBans {
    v4: PrefixMap<Ipv4Net, NetworkBan>,
    v6: PrefixMap<Ipv6Net, NetworkBan>,
    /// The latest end of any of them, so requests skip the lookup when none runs.
    latest_until_ms: u64,
}

impl NetworkBans {
    fn find(&self, ip: IpAddr) -> Option<&NetworkBan> {
        match ip {
            IpAddr::V4(ip) => self.v4.get_lpm(&Ipv4Net::from(ip)).map(|(_, ban)| ban),
            IpAddr::V6(ip) => self.v6.get_lpm(&Ipv6Net::from(ip)).map(|(_, ban)| ban),
        }
    }

    fn all(&self) -> impl Iterator<Item = &NetworkBan> {
        self.v4
            .iter()
            .map(|(_, ban)| ban)
            .chain(self.v6.iter().map(|(_, ban)| ban))
    }
}

/// Keeps each offender for its own `retain` time.
struct RetainOffender;

impl Expiry<IpAddr, Arc<Offender>> for RetainOffender {
    fn expire_after_create(
        &self,
        _: &IpAddr,
        value: &Arc<Offender>,
        _: Instant,
    ) -> Option<Duration> {
        Some(value.retain)
    }

    fn expire_after_update(
        &self,
        _: &IpAddr,
        value: &Arc<Offender>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.retain)
    }
}

/// Subnet ban state is kept a day after its last use.
const SUBNET_IDLE: Duration = Duration::from_secs(86_400);

/// The client table and the two caches.
pub struct Store {
    clients: ClientTable,
    offenders: Cache<IpAddr, Arc<Offender>>,
    subnets: Cache<(IpAddr, u8), Arc<SubnetRecord>>,
    /// The latest end of any subnet ban, so requests skip the subnet lookup when none runs.
    subnet_bans_until_ms: AtomicU64,
    network_bans: ArcSwap<NetworkBans>,
    limits: StoreLimits,
}

impl Store {
    /// An empty store within `limits`.
    pub fn new(limits: StoreLimits) -> Store {
        let idle_secs = u32::try_from(limits.idle_timeout.as_secs()).unwrap_or(u32::MAX);
        let clients = ClientTable::new(limits.max_clients, idle_secs);
        let offenders = Cache::builder()
            .max_capacity(limits.max_clients)
            .expire_after(RetainOffender)
            .build();
        let subnets = Cache::builder()
            .max_capacity(limits.max_clients / 4 + 1024)
            .time_to_idle(SUBNET_IDLE)
            .build();
        Store {
            clients,
            offenders,
            subnets,
            subnet_bans_until_ms: AtomicU64::new(0),
            network_bans: ArcSwap::from_pointee(NetworkBans::default()),
            limits,
        }
    }

    /// The limits this store was built with.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// The record of `key`, if one is kept.
    pub fn client(&self, key: IpAddr) -> Option<Arc<ClientRecord>> {
        self.clients.get(key)
    }

    /// The record of `key`, created at `now_ms` when new. A new record takes over a ban the
    /// offender table still holds (its earlier record was evicted, or state was restored).
    pub fn client_or_insert(&self, key: IpAddr, now_ms: u64) -> Arc<ClientRecord> {
        self.clients.get_or_insert(key, now_ms, || {
            let record = ClientRecord::new(key, now_ms);
            if let Some(offender) = self.offenders.get(&key) {
                record.extend_ban(now_ms, offender.until_ms);
            }
            record
        })
    }

    /// The ban and strikes of `key`, if any are remembered.
    pub fn offender(&self, key: IpAddr) -> Option<Arc<Offender>> {
        self.offenders.get(&key)
    }

    /// Stores the ban of `key` and mirrors its end into the live record.
    pub fn put_offender(&self, key: IpAddr, offender: Offender, now_ms: u64) {
        if let Some(record) = self.clients.get(key) {
            record.extend_ban(now_ms, offender.until_ms);
        }
        self.offenders.insert(key, Arc::new(offender));
    }

    /// Lifts the ban of `key`, keeping its strikes; false when it had none running.
    pub fn lift_ban(&self, key: IpAddr, now_ms: u64) -> bool {
        if let Some(record) = self.clients.get(key) {
            record.lift_ban();
        }
        let Some(offender) = self.offenders.get(&key) else {
            return false;
        };
        if !offender.is_banned(now_ms) {
            return false;
        }
        let mut lifted = (*offender).clone();
        lifted.until_ms = now_ms;
        self.offenders.insert(key, Arc::new(lifted));
        true
    }

    /// The subnet record for `subnet`, created when new.
    pub fn subnet_or_insert(&self, subnet: (IpAddr, u8)) -> Arc<SubnetRecord> {
        self.subnets.get_with(subnet, Default::default)
    }

    /// The subnet record for `subnet`, if one is kept.
    pub fn subnet(&self, subnet: (IpAddr, u8)) -> Option<Arc<SubnetRecord>> {
        self.subnets.get(&subnet)
    }

    /// Notes that a subnet ban runs until `until_ms`.
    pub fn note_subnet_ban(&self, until_ms: u64) {
        self.subnet_bans_until_ms
            .fetch_max(until_ms, Ordering::Relaxed);
    }

    /// True when some subnet ban may still run at `now_ms`.
    pub fn any_subnet_ban(&self, now_ms: u64) -> bool {
        self.subnet_bans_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// Bans `ban.net` (replacing an earlier ban of the same network).
    pub fn put_network_ban(&self, ban: NetworkBan) {
        self.network_bans.rcu(|bans| {
            let mut bans = NetworkBans::clone(bans);
            bans.latest_until_ms = bans.latest_until_ms.max(ban.until_ms);
            match ban.net.trunc() {
                IpNet::V4(net) => bans.v4.insert(net, ban.clone()),
                IpNet::V6(net) => bans.v6.insert(net, ban.clone()),
            };
            bans
        });
    }

    /// Lifts the ban of exactly `net`; false when there was none.
    pub fn lift_network_ban(&self, net: IpNet) -> bool {
        let mut lifted = false;
        self.network_bans.rcu(|bans| {
            let mut bans = NetworkBans::clone(bans);
            lifted = match net.trunc() {
                IpNet::V4(net) => bans.v4.remove(&net).is_some(),
                IpNet::V6(net) => bans.v6.remove(&net).is_some(),
            };
            bans
        });
        lifted
    }

    /// The running network ban covering `ip`, if any.
    pub fn network_ban(&self, ip: IpAddr, now_ms: u64) -> Option<NetworkBan> {
        let bans = self.network_bans.load();
        if bans.latest_until_ms <= now_ms {
            return None;
        }
        bans.find(ip).filter(|ban| ban.until_ms > now_ms).cloned()
    }

    /// Every network ban, running or ended but not lifted.
    pub fn network_bans(&self) -> Vec<NetworkBan> {
        self.network_bans.load().all().cloned().collect()
    }

    /// All client records, for reports and snapshots (a walk over the whole table).
    pub fn clients(&self) -> impl Iterator<Item = (IpAddr, Arc<ClientRecord>)> + '_ {
        self.clients.iter().map(|record| (record.key(), record))
    }

    /// All offenders, for the ban list and snapshots.
    pub fn offenders(&self) -> impl Iterator<Item = (IpAddr, Arc<Offender>)> + '_ {
        self.offenders
            .iter()
            .map(|(key, offender)| (*key, offender))
    }

    /// All subnet records.
    pub fn subnets(&self) -> impl Iterator<Item = ((IpAddr, u8), Arc<SubnetRecord>)> + '_ {
        self.subnets.iter().map(|(key, subnet)| (*key, subnet))
    }

    /// Client records kept now.
    pub fn client_count(&self) -> u64 {
        self.clients.len()
    }

    /// Records evicted for lack of room since start.
    pub fn evictions(&self) -> u64 {
        self.clients.evictions()
    }

    /// Drops client records idle longer than the idle timeout at `now_ms` (the engine's
    /// clock). New clients sweep their own shard as they arrive; this catches the rest.
    pub fn sweep_idle(&self, now_ms: u64) {
        self.clients.sweep(now_ms);
    }

    /// Runs the caches' pending maintenance, so counts are exact (tests, scrapes).
    pub fn sync(&self) {
        self.offenders.run_pending_tasks();
        self.subnets.run_pending_tasks();
    }
}

//! The client records: a hash table split into shards, each behind its own reader-writer
//! lock. A lookup holds one shard's read lock for the length of a hash probe, so readers never
//! wait on each other; a writer (a new client, an eviction batch) blocks only its own shard.
//!
//! Each slot is the pointer to its record and nothing else: the key and the last-seen time
//! are read from the record itself, so a tracked client costs its record, one pointer and a
//! control byte. There is no recency list to keep: when the table is full, the shard a new
//! client falls in picks its least valuable eighth in one pass (plain clients before those
//! with points or a ban, oldest first) and drops them together. A shard's records are a
//! random sample of all of them, so that is close to dropping the least valuable of the whole
//! table. Idle records go in a sweep on the engine's clock.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::engine::record::{secs, ClientRecord};

/// Records per shard the table aims at; the shard count follows from the capacity.
const RECORDS_PER_SHARD: u64 = 4096;

/// The most shards; enough that two workers (or twenty) seldom meet on one.
const MAX_SHARDS: u64 = 256;

/// A full shard drops this fraction of its records at once, so the pass that chooses them is
/// paid once per that many new clients.
const EVICT_FRACTION: usize = 8;

/// One shard, on its own cache line so that two workers' locks do not share one.
#[repr(align(64))]
struct Shard {
    records: RwLock<HashTable<Arc<ClientRecord>>>,
    /// When this shard last dropped its idle records (seconds).
    swept_secs: AtomicU32,
}

/// The bounded table of client records.
pub struct ClientTable {
    shards: Box<[Shard]>,
    /// Records kept, counted as they come and go, so the bound holds across shards.
    len: AtomicU64,
    capacity: u64,
    idle_secs: u32,
    hasher: foldhash::fast::RandomState,
    evictions: AtomicU64,
}

impl ClientTable {
    /// A table of at most `capacity` records that forgets a record idle for `idle_secs`.
    pub fn new(capacity: u64, idle_secs: u32) -> ClientTable {
        let capacity = capacity.max(1);
        let shards = capacity
            .div_ceil(RECORDS_PER_SHARD)
            .next_power_of_two()
            .min(MAX_SHARDS);
        ClientTable {
            shards: (0..shards)
                .map(|_| Shard {
                    records: RwLock::new(HashTable::new()),
                    swept_secs: AtomicU32::new(0),
                })
                .collect(),
            len: AtomicU64::new(0),
            capacity,
            idle_secs: idle_secs.max(1),
            hasher: foldhash::fast::RandomState::default(),
            evictions: AtomicU64::new(0),
        }
    }

    fn hash(&self, key: IpAddr) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of `hash`, chosen by bits the shard's own table does not use: its position
    /// comes from the low bits and its control byte from the top seven.
    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[(hash >> 32) as usize & (self.shards.len() - 1)]
    }

    /// The record of `key`, if one is kept.
    pub fn get(&self, key: IpAddr) -> Option<Arc<ClientRecord>> {
        let hash = self.hash(key);
        let records = self.shard(hash).records.read();
        records.find(hash, |record| record.key() == key).cloned()
    }

    /// The record of `key`; when there is none, `make` builds it and it is kept, making room
    /// first if the table is full. `now_ms` is the engine's clock, for the idle sweep.
    pub fn get_or_insert(
        &self,
        key: IpAddr,
        now_ms: u64,
        make: impl FnOnce() -> ClientRecord,
    ) -> Arc<ClientRecord> {
        if let Some(record) = self.get(key) {
            return record;
        }
        let fresh = Arc::new(make());
        let hash = self.hash(key);
        let shard = self.shard(hash);
        let mut records = shard.records.write();
        if let Some(record) = records.find(hash, |record| record.key() == key) {
            // Another worker added it first.
            return Arc::clone(record);
        }
        let now_secs = secs(now_ms);
        if self.sweep_due(shard, now_secs) {
            self.drop_idle(&mut records, now_secs);
        }
        if self.len.fetch_add(1, Ordering::AcqRel) >= self.capacity
            && self.evict(&mut records, now_secs) == 0
        {
            // The table is full and this shard holds nothing to drop (every record hashed
            // to other shards, which a random hash makes all but impossible): serve the
            // client untracked rather than break the bound.
            self.len.fetch_sub(1, Ordering::AcqRel);
            return fresh;
        }
        records.insert_unique(hash, Arc::clone(&fresh), |record| self.hash(record.key()));
        fresh
    }

    /// Drops the least valuable eighth of a shard: plain clients before those with points or
    /// a running ban, and among them the longest unseen first. Returns how many went.
    fn evict(&self, records: &mut HashTable<Arc<ClientRecord>>, now_secs: u32) -> u64 {
        if records.is_empty() {
            return 0;
        }
        let wanted = (records.len() / EVICT_FRACTION).max(1);
        let now_ms = u64::from(now_secs) * 1000;
        let rank = |record: &ClientRecord| {
            let valuable = record.is_notable() || record.banned_until_ms() > now_ms;
            (u64::from(valuable) << 32) | u64::from(record.last_seen_secs())
        };
        let mut ranks: Vec<u64> = records.iter().map(|record| rank(record)).collect();
        let (below, cutoff, _) = ranks.select_nth_unstable(wanted - 1);
        let cutoff = *cutoff;
        let below = below.iter().filter(|&&r| r < cutoff).count();
        // Every record ranked below the cutoff goes, and as many at the cutoff as make up
        // the number.
        let mut ties = wanted - below;
        records.retain(|record| {
            let r = rank(record);
            if r < cutoff {
                return false;
            }
            if r == cutoff && ties > 0 {
                ties -= 1;
                return false;
            }
            true
        });
        let dropped = (wanted - ties) as u64;
        self.len.fetch_sub(dropped, Ordering::AcqRel);
        self.evictions.fetch_add(dropped, Ordering::Relaxed);
        dropped
    }

    /// True, once, when a shard's last idle sweep is an eighth of the idle time ago; the
    /// caller sweeps it. Read without the shard's lock, so a timer skips shards not due.
    fn sweep_due(&self, shard: &Shard, now_secs: u32) -> bool {
        let every = (self.idle_secs / 8).max(1);
        let swept = shard.swept_secs.load(Ordering::Relaxed);
        if now_secs.saturating_sub(swept) < every {
            return false;
        }
        shard.swept_secs.store(now_secs, Ordering::Relaxed);
        true
    }

    /// Drops the records of one shard that have been idle for the idle time.
    fn drop_idle(&self, records: &mut HashTable<Arc<ClientRecord>>, now_secs: u32) {
        let idle = self.idle_secs;
        let before = records.len();
        records.retain(|record| now_secs.saturating_sub(record.last_seen_secs()) < idle);
        let dropped = (before - records.len()) as u64;
        self.len.fetch_sub(dropped, Ordering::AcqRel);
    }

    /// Drops idle records from every shard whose sweep is due; for a timer off the request
    /// path, so shards that see no new clients are swept too. Shards not due are not locked.
    pub fn sweep(&self, now_ms: u64) {
        let now_secs = secs(now_ms);
        for shard in self.shards.iter() {
            if self.sweep_due(shard, now_secs) {
                self.drop_idle(&mut shard.records.write(), now_secs);
            }
        }
    }

    /// Every record, shard by shard (each shard is copied out under its read lock).
    pub fn iter(&self) -> impl Iterator<Item = Arc<ClientRecord>> + '_ {
        self.shards.iter().flat_map(|shard| {
            let records = shard.records.read();
            records.iter().cloned().collect::<Vec<_>>()
        })
    }

    /// Records kept now.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire).min(self.capacity)
    }

    /// Records dropped for lack of room since the table was made.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::engine::Signal;

    const START_MS: u64 = 1_767_225_600_000;

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    fn add(table: &ClientTable, i: u32, now_ms: u64) -> Arc<ClientRecord> {
        let record = table.get_or_insert(ip(i), now_ms, || ClientRecord::new(ip(i), now_ms));
        record.touch(now_ms);
        record
    }

    #[test]
    fn a_flood_of_new_clients_never_grows_the_table_past_its_capacity() {
        let table = ClientTable::new(10_000, 3600);
        let mut most = 0;
        for i in 0..100_000 {
            add(&table, i, START_MS + u64::from(i));
            if i % 1000 == 0 {
                most = most.max(table.len());
            }
        }
        most = most.max(table.len());
        assert!(most <= 10_000, "held {most}");
        assert!(table.len() > 8_000, "kept only {}", table.len());
        assert_eq!(table.evictions(), 100_000 - table.len());
    }

    #[test]
    fn workers_adding_at_once_keep_the_bound_and_the_count() {
        let table = ClientTable::new(10_000, 3600);
        std::thread::scope(|scope| {
            for worker in 0..4 {
                let table = &table;
                scope.spawn(move || {
                    for i in 0..30_000 {
                        add(table, worker * 1_000_000 + i, START_MS + u64::from(i));
                    }
                });
            }
        });
        let held: usize = table.shards.iter().map(|s| s.records.read().len()).sum();
        assert!(held <= 10_000, "held {held}");
        assert_eq!(table.len(), held as u64);
        assert_eq!(table.evictions(), 120_000 - held as u64);
    }

    #[test]
    fn the_same_key_finds_the_same_record() {
        let table = ClientTable::new(100, 3600);
        let first = add(&table, 7, START_MS);
        let again = add(&table, 7, START_MS + 1000);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.counts().0, 2);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn clients_with_points_outlast_a_spray_of_plain_ones() {
        let table = ClientTable::new(4096, 3600);
        let watched: Vec<_> = (0..50)
            .map(|i| {
                let record = add(&table, i, START_MS);
                record.fire(Signal::DangerHits, 5, secs(START_MS), 600);
                record
            })
            .collect();
        for i in 1000..50_000 {
            add(&table, i, START_MS + u64::from(i) * 10);
        }
        for record in &watched {
            let kept = table
                .get(record.key())
                .expect("a client with points was evicted");
            assert!(Arc::ptr_eq(&kept, record));
        }
    }

    #[test]
    fn among_plain_clients_the_longest_unseen_go_first() {
        let table = ClientTable::new(1000, 3600);
        for i in 0..1000 {
            add(&table, i, START_MS);
        }
        // The first hundred come back later; then new clients push the rest out.
        for i in 0..100 {
            add(&table, i, START_MS + 60_000);
        }
        for i in 1000..1800 {
            add(&table, i, START_MS + 120_000);
        }
        let returned = (0..100).filter(|&i| table.get(ip(i)).is_some()).count();
        let stale = (100..1000).filter(|&i| table.get(ip(i)).is_some()).count();
        assert_eq!(returned, 100, "clients seen lately were evicted");
        assert!(stale < 200, "{stale} stale clients outlived fresher ones");
    }

    #[test]
    fn idle_records_are_swept_on_the_engines_clock() {
        let table = ClientTable::new(10_000, 600);
        for i in 0..500 {
            add(&table, i, START_MS);
        }
        let busy = add(&table, 10_000, START_MS);
        table.sweep(START_MS + 599_000);
        assert_eq!(table.len(), 501, "swept before the idle time ran out");
        busy.touch(START_MS + 500_000);
        table.sweep(START_MS + 700_000);
        assert_eq!(table.len(), 1);
        assert!(table.get(busy.key()).is_some());
        assert_eq!(table.evictions(), 0, "idle records are not evictions");
    }

    #[test]
    fn the_table_fills_to_its_capacity_before_it_evicts() {
        for capacity in [1, 3, 4097, 100_000] {
            let table = ClientTable::new(capacity, 3600);
            for i in 0..capacity as u32 {
                add(&table, i, START_MS);
            }
            let held: usize = table.shards.iter().map(|s| s.records.read().len()).sum();
            assert_eq!((held as u64, table.evictions()), (capacity, 0));
            add(&table, capacity as u32, START_MS);
            let held: usize = table.shards.iter().map(|s| s.records.read().len()).sum();
            assert!(held as u64 <= capacity && table.evictions() > 0);
            assert_eq!(table.len(), held as u64);
        }
    }
}

//! State that survives restarts: bans, strikes, subnet and network bans, and each client's
//! record (first seen, counts, signal history, recent evidence), kept in an SQLite file.
//!
//! The request path never touches the file. A background task copies the engine's state into
//! it every flush interval, in one transaction, so a crash (even `kill -9`) loses at most the
//! last interval and never leaves a half-written state: SQLite's journal makes each flush
//! atomic. At start the file is read back into the engine before the proxy accepts
//! connections. Several processes may open the file at once (SQLite locks it), which is what
//! a zero-downtime upgrade needs: the new process reads what the old one last flushed, and
//! reads again once the old one has made its final flush on the way out. Until then its own
//! flushes merge the file's bans in first, because a flush replaces the ban tables whole and
//! would otherwise erase what the old process wrote in the meantime.
//!
//! Client rows are history as much as state: they are kept for the retention period after a
//! client was last seen, beyond the in-memory store's idle timeout, so a rap sheet can say a
//! client was first seen months ago.

pub mod rows;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use rusqlite::{Connection, TransactionBehavior};

use crate::engine::Engine;
use crate::shared::Shared;
use crate::store::{NetworkBan, Offender};
use rows::{ClientRow, OffenderRow, SubnetRow};

/// Where and how often state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// The SQLite file.
    pub path: PathBuf,
    /// How often the engine's state is written; a crash loses at most this much.
    pub flush_interval: Duration,
    /// How long a client's row is kept after it was last seen.
    pub retention: Duration,
}

/// Why state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The database failed.
    #[error("state file {path}: {source}")]
    Database {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
}

/// Counts of what a load or a flush moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Client bans and strike records.
    pub offenders: usize,
    /// Client records.
    pub clients: usize,
    /// Subnet aggregates with a ban.
    pub subnets: usize,
    /// Network bans.
    pub network_bans: usize,
}

/// The state file.
pub struct StateStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS offenders (
    client TEXT PRIMARY KEY, reference INTEGER NOT NULL, started_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL, strikes INTEGER NOT NULL, score INTEGER NOT NULL,
    cause TEXT NOT NULL, signals TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS network_bans (
    net TEXT PRIMARY KEY, reference INTEGER NOT NULL, started_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subnets (
    net TEXT PRIMARY KEY, prefix INTEGER NOT NULL, reference INTEGER NOT NULL,
    banned_at_ms INTEGER NOT NULL, until_ms INTEGER NOT NULL, members TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    client TEXT PRIMARY KEY, first_seen_secs INTEGER NOT NULL, last_seen_secs INTEGER NOT NULL,
    requests INTEGER NOT NULL, hostile INTEGER NOT NULL, signals TEXT NOT NULL,
    evidence TEXT NOT NULL);
";

impl StateStore {
    /// Opens (creating when missing) the state file at `path`.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened or is not a rapsheet state file.
    pub fn open(path: &Path) -> Result<StateStore, PersistError> {
        let fail = |source| PersistError::Database {
            path: path.to_path_buf(),
            source,
        };
        let connection = Connection::open(path).map_err(fail)?;
        // WAL lets a reader (a process starting up) work beside a writer; NORMAL sync is
        // still atomic per transaction, and a flush interval is the promised loss anyway.
        connection
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(fail)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(fail)?;
        connection.execute_batch(SCHEMA).map_err(fail)?;
        Ok(StateStore {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
        })
    }

    fn fail(&self, source: rusqlite::Error) -> PersistError {
        PersistError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes the engine's state at `now_ms`: every ban and strike, every subnet and
    /// network ban, and the records of clients seen since `since_secs` (all when 0). Client
    /// rows older than `retention` are dropped.
    ///
    /// # Errors
    ///
    /// Fails when the transaction cannot be committed; nothing is written then.
    pub fn flush(
        &self,
        engine: &Engine,
        since_secs: u32,
        retention: Duration,
        now_ms: u64,
    ) -> Result<StateCounts, PersistError> {
        self.write(engine, since_secs, retention, now_ms, false)
    }

    /// Like `flush`, but first reads the bans in the file back into `engine`, in the same
    /// transaction. A flush replaces the ban tables whole; while two processes share the file
    /// during an upgrade, this keeps one from erasing the bans the other has just written.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read or the transaction cannot be committed.
    pub fn flush_merging(
        &self,
        engine: &Engine,
        since_secs: u32,
        retention: Duration,
        now_ms: u64,
    ) -> Result<StateCounts, PersistError> {
        self.write(engine, since_secs, retention, now_ms, true)
    }

    fn write(
        &self,
        engine: &Engine,
        since_secs: u32,
        retention: Duration,
        now_ms: u64,
        merge: bool,
    ) -> Result<StateCounts, PersistError> {
        let mut connection = self.connection.lock();
        // Immediate: the write lock is taken before reading, so no other process can write
        // between what is merged here and what is written.
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        if merge {
            let saved = SavedBans::read(&transaction, now_ms).map_err(|e| self.fail(e))?;
            saved.merge_into(engine, now_ms);
        }

        let store = engine.store();
        let offenders: Vec<OffenderRow> = store
            .offenders()
            .map(|(client, offender)| OffenderRow::of(client, &offender))
            .collect();
        let subnets: Vec<SubnetRow> = store
            .subnets()
            .filter_map(|(subnet, record)| SubnetRow::of(subnet, &record))
            .collect();
        let network_bans = store.network_bans();
        let clients: Vec<ClientRow> = store
            .clients()
            .filter(|(_, record)| record.counts().3 >= since_secs)
            .map(|(client, record)| ClientRow::of(client, &record))
            .collect();

        rows::write_offenders(&transaction, &offenders).map_err(|e| self.fail(e))?;
        rows::write_network_bans(&transaction, &network_bans).map_err(|e| self.fail(e))?;
        rows::write_subnets(&transaction, &subnets).map_err(|e| self.fail(e))?;
        rows::write_clients(&transaction, &clients).map_err(|e| self.fail(e))?;
        let oldest_secs = (now_ms / 1000).saturating_sub(retention.as_secs());
        rows::prune_clients(&transaction, oldest_secs).map_err(|e| self.fail(e))?;
        transaction.commit().map_err(|e| self.fail(e))?;
        Ok(StateCounts {
            offenders: offenders.len(),
            clients: clients.len(),
            subnets: subnets.len(),
            network_bans: network_bans.len(),
        })
    }

    /// Reads the state into `engine` at `now_ms`. Loading is a merge: a ban already known
    /// in memory keeps the later end, counts never go backwards, so loading twice is harmless.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read.
    pub fn load(&self, engine: &Engine, now_ms: u64) -> Result<StateCounts, PersistError> {
        let connection = self.connection.lock();
        let saved = SavedBans::read(&connection, now_ms).map_err(|e| self.fail(e))?;
        let idle_secs = engine.store().limits().idle_timeout.as_secs();
        let since_secs = (now_ms / 1000).saturating_sub(idle_secs);
        let clients = rows::read_clients(&connection, since_secs).map_err(|e| self.fail(e))?;
        drop(connection);

        let counts = StateCounts {
            offenders: saved.offenders.len(),
            clients: clients.len(),
            subnets: saved.subnets.len(),
            network_bans: saved.network_bans.len(),
        };
        for client in clients {
            client.restore(engine, now_ms);
        }
        saved.merge_into(engine, now_ms);
        Ok(counts)
    }
}

/// The ban tables of the file: client bans and strikes, subnet aggregates, network bans.
struct SavedBans {
    offenders: Vec<(IpAddr, Offender)>,
    subnets: Vec<SubnetRow>,
    network_bans: Vec<NetworkBan>,
}

impl SavedBans {
    fn read(connection: &Connection, now_ms: u64) -> rusqlite::Result<SavedBans> {
        Ok(SavedBans {
            offenders: rows::read_offenders(connection, now_ms)?,
            subnets: rows::read_subnets(connection)?,
            network_bans: rows::read_network_bans(connection)?,
        })
    }

    /// Merges into `engine`: a ban already known in memory keeps the later end.
    fn merge_into(self, engine: &Engine, now_ms: u64) {
        let store = engine.store();
        for (client, offender) in self.offenders {
            let known = store
                .offender(client)
                .is_some_and(|o| o.until_ms >= offender.until_ms);
            if !known {
                store.put_offender(client, offender, now_ms);
            }
        }
        for subnet in self.subnets {
            subnet.restore(store);
        }
        for ban in self
            .network_bans
            .into_iter()
            .filter(|ban| ban.until_ms > now_ms)
        {
            store.put_network_ban(ban);
        }
    }
}

/// Loads and flushes state for a running proxy.
pub struct PersistService {
    shared: Arc<Shared>,
    state: Arc<StateStore>,
    config: StateConfig,
    /// Set when this process took over from another (zero-downtime upgrade): state is read
    /// again once the old process has flushed on its way out.
    catch_up: bool,
}

/// Every this many flushes, all active client records are written, not only the notable.
const FULL_FLUSH_EVERY: u32 = 12;

/// When a process that took over reads the state again: after the old process's socket
/// handover pause and grace period (5 s each), when it has made its final flush.
const CATCH_UP_AFTER: [Duration; 2] = [Duration::from_secs(15), Duration::from_secs(30)];

impl PersistService {
    /// The service for `shared`, writing to `state`.
    pub fn new(
        shared: Arc<Shared>,
        state: Arc<StateStore>,
        config: StateConfig,
        catch_up: bool,
    ) -> PersistService {
        PersistService {
            shared,
            state,
            config,
            catch_up,
        }
    }

    /// One flush, logged when it fails. With `merge`, the bans in the file are merged in
    /// first: until the process this one took over from has made its final flush, its bans
    /// reach the file after this process read it, and a plain flush would erase them.
    fn flush(&self, since_secs: u32, merge: bool) {
        let now_ms = self.shared.clock.now_ms();
        let (engine, retention) = (&self.shared.engine, self.config.retention);
        let result = if merge {
            self.state
                .flush_merging(engine, since_secs, retention, now_ms)
        } else {
            self.state.flush(engine, since_secs, retention, now_ms)
        };
        if let Err(error) = result {
            tracing::warn!(%error, "State flush failed; will retry");
        }
    }

    fn catch_up(&self) {
        let now_ms = self.shared.clock.now_ms();
        match self.state.load(&self.shared.engine, now_ms) {
            Ok(counts) => tracing::info!(
                offenders = counts.offenders,
                clients = counts.clients,
                "State caught up after the upgrade handover"
            ),
            Err(error) => tracing::warn!(%error, "State catch-up failed"),
        }
    }
}

#[async_trait]
impl BackgroundService for PersistService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut ticker = tokio::time::interval(self.config.flush_interval);
        ticker.tick().await;
        let started = tokio::time::Instant::now();
        let mut catch_ups = if self.catch_up {
            &CATCH_UP_AFTER[..]
        } else {
            &[]
        };
        let mut flushes = 0u32;
        let mut last_flush_secs = 0u32;
        loop {
            let next_catch_up = catch_ups.first().map(|after| started + *after);
            tokio::select! {
                _ = shutdown.changed() => return,
                () = sleep_until(next_catch_up) => {
                    catch_ups = &catch_ups[1..];
                    self.catch_up();
                }
                _ = ticker.tick() => {
                    flushes = flushes.wrapping_add(1);
                    let full = flushes % FULL_FLUSH_EVERY == 0;
                    let since = if full { 0 } else { last_flush_secs };
                    last_flush_secs = (self.shared.clock.now_ms() / 1000) as u32;
                    self.flush(since.saturating_sub(1), !catch_ups.is_empty());
                }
            }
        }
    }
}

/// The final flush, whatever the way out: Pingora drops its services after their runtimes
/// stop, also on a fast shutdown (SIGINT) that never tells the service to finish.
impl Drop for PersistService {
    fn drop(&mut self) {
        self.flush(0, false);
        tracing::info!(path = %self.config.path.display(), "State saved");
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Parses a client key stored as text.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

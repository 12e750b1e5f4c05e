//! Reloading the policy and its lists while the proxy runs.
//!
//! A reload reads and validates every file into a new immutable [`Policy`] and swaps it in
//! whole; requests in flight keep the policy they started with, and client records, scores,
//! bans and strikes live in the engine, untouched. A policy with any mistake changes nothing:
//! the problems are logged at warn, counted, and returned to whoever asked.
//!
//! Three triggers: a change on disk (the directories of the policy and its lists are watched,
//! debounced for editors that write in several steps, and a reload happens only when some
//! file's contents changed, which also covers Kubernetes' symlink swaps), SIGHUP, and the
//! admin API.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify::RecursiveMode;
use parking_lot::Mutex;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::config::ServerConfig;
use crate::policy::Policy;
use crate::proxy::Shared;
use crate::yaml::Problems;

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// What a successful reload installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Signals on, before and after.
    pub signals: (usize, usize),
    /// List entries, before and after.
    pub list_entries: (usize, usize),
    /// Server settings that changed on disk but need a restart to apply.
    pub needs_restart: Vec<&'static str>,
}

/// Reloads the policy of one running proxy.
pub struct Reloader {
    shared: Arc<Shared>,
    config: ServerConfig,
    /// The fingerprint of the files the current policy was read from.
    loaded: Mutex<u64>,
}

impl Reloader {
    /// A reloader for the proxy sharing `shared`, started with `config`.
    pub fn new(shared: Arc<Shared>, config: ServerConfig) -> Reloader {
        let files = shared.policy.load().files.clone();
        Reloader {
            shared,
            config,
            loaded: Mutex::new(fingerprint(&files)),
        }
    }

    /// Reads and validates the policy and swaps it in; `trigger` names the cause in logs.
    ///
    /// # Errors
    ///
    /// Fails with every problem found; the running policy stays.
    pub fn reload(&self, trigger: &'static str) -> Result<ReloadSummary, Problems> {
        let loaded = match Policy::load(&self.config.policy) {
            Ok(policy) => policy,
            Err(problems) => {
                self.shared
                    .metrics
                    .reloads
                    .with_label_values(&["rejected"])
                    .inc();
                for problem in &problems.0 {
                    tracing::warn!(trigger, error = %problem, "Policy reload rejected");
                }
                return Err(problems);
            }
        };
        *self.loaded.lock() = fingerprint(&loaded.files);
        let old = self.shared.policy.swap(Arc::new(loaded));
        let new = self.shared.policy.load();
        let summary = ReloadSummary {
            signals: (old.signals.count(), new.signals.count()),
            list_entries: (old.lists.entry_count(), new.lists.entry_count()),
            needs_restart: self.settings_needing_restart(),
        };
        self.shared.metrics.reloads.with_label_values(&["ok"]).inc();
        tracing::info!(
            trigger,
            signals = summary.signals.1,
            signals_before = summary.signals.0,
            list_entries = summary.list_entries.1,
            list_entries_before = summary.list_entries.0,
            mode = ?new.mode,
            "Policy reloaded"
        );
        for setting in &summary.needs_restart {
            tracing::warn!(
                setting,
                "Server setting changed on disk; it applies after a restart"
            );
        }
        Ok(summary)
    }

    /// Reloads when the contents of a policy file changed since the last load.
    fn reload_if_changed(&self) {
        let files = self.shared.policy.load().files.clone();
        if fingerprint(&files) != *self.loaded.lock() {
            // Problems were logged and counted by `reload`.
            let _ = self.reload("file change");
        }
    }

    /// Server settings whose value on disk differs from the running one.
    fn settings_needing_restart(&self) -> Vec<&'static str> {
        match ServerConfig::load(&self.config.file) {
            Ok(on_disk) => self.config.settings_changed(&on_disk),
            Err(_) => Vec::new(),
        }
    }

    /// The directories to watch: those holding the policy and each list.
    fn watched_dirs(&self) -> BTreeSet<PathBuf> {
        let policy = self.shared.policy.load();
        policy
            .files
            .iter()
            .map(|file| file.parent().unwrap_or(Path::new(".")).to_path_buf())
            .collect()
    }
}

/// A hash over the contents of `files`; a missing file hashes as such.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let state = foldhash::fast::FixedState::with_seed(0xf11e);
    let contents: Vec<Option<Vec<u8>>> = files.iter().map(|f| std::fs::read(f).ok()).collect();
    state.hash_one(&contents)
}

/// The background task that watches files and SIGHUP.
pub struct ReloadService {
    reloader: Arc<Reloader>,
}

impl ReloadService {
    /// The service for `reloader`.
    pub fn new(reloader: Arc<Reloader>) -> ReloadService {
        ReloadService { reloader }
    }
}

#[async_trait]
impl BackgroundService for ReloadService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (changed, mut on_change) = tokio::sync::mpsc::channel::<()>(1);
        let debouncer = notify_debouncer_full::new_debouncer(DEBOUNCE, None, move |_| {
            // A full channel already holds a pending reload check.
            let _ = changed.try_send(());
        });
        let mut debouncer = match debouncer {
            Ok(debouncer) => Some(debouncer),
            Err(error) => {
                tracing::warn!(%error, "Cannot watch policy files; reload with SIGHUP or the admin API");
                None
            }
        };
        let mut watching = BTreeSet::new();
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            if let Some(debouncer) = debouncer.as_mut() {
                let dirs = self.reloader.watched_dirs();
                for dir in dirs.difference(&watching).cloned().collect::<Vec<_>>() {
                    match debouncer.watch(&dir, RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            watching.insert(dir);
                        }
                        Err(error) => tracing::warn!(%error, dir = %dir.display(), "Cannot watch"),
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = on_change.recv() => self.reloader.reload_if_changed(),
                Some(()) = recv_signal(&mut hangup) => {
                    let _ = self.reloader.reload("SIGHUP");
                }
            }
        }
    }
}

/// The next SIGHUP, or never when the handler could not be installed.
async fn recv_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

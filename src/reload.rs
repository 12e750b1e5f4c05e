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
use crate::tls::TlsCerts;
use crate::yaml::Problems;

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(100);

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
    /// The TLS listener's certificate, reloaded along with the policy.
    tls: Option<Arc<TlsCerts>>,
    /// The fingerprint of the files as last read, whether the policy was accepted or not, so
    /// a rejected file is not tried again until it changes.
    seen: Mutex<u64>,
}

impl Reloader {
    /// A reloader for the proxy sharing `shared`, started with `config`, serving `tls`.
    pub fn new(shared: Arc<Shared>, config: ServerConfig, tls: Option<Arc<TlsCerts>>) -> Reloader {
        let reloader = Reloader {
            shared,
            config,
            tls,
            seen: Mutex::new(0),
        };
        *reloader.seen.lock() = fingerprint(&reloader.watched_files());
        reloader
    }

    /// The policy's files and the TLS certificate and key.
    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = self.shared.policy.load().files.clone();
        if let Some(tls) = &self.tls {
            files.extend(tls.files().map(Path::to_path_buf));
        }
        files
    }

    /// Reads the TLS certificate again; a bad one is logged and the old one stays.
    fn reload_certificate(&self, trigger: &'static str) {
        let Some(tls) = &self.tls else {
            return;
        };
        match tls.reload() {
            Ok(()) => tracing::info!(trigger, "TLS certificate reloaded"),
            Err(error) => {
                tracing::warn!(trigger, %error, "TLS certificate reload rejected; keeping the old one")
            }
        }
    }

    /// Reads and validates the policy and swaps it in; `trigger` names the cause in logs.
    ///
    /// # Errors
    ///
    /// Fails with every problem found; the running policy stays.
    pub fn reload(&self, trigger: &'static str) -> Result<ReloadSummary, Problems> {
        self.reload_certificate(trigger);
        // Fingerprint before reading: a file that changes while the policy is read then
        // differs from the fingerprint, and the next event reloads again.
        let files_before = self.watched_files();
        let fingerprint_before = fingerprint(&files_before);
        *self.seen.lock() = fingerprint_before;
        let loaded = match Policy::load(&self.config.policy) {
            Ok(policy) => policy,
            Err(problems) => {
                self.shared.metrics.last_reload_ok.set(0);
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
        let old = self.shared.policy.swap(Arc::new(loaded));
        let files_after = self.watched_files();
        if files_after != files_before {
            *self.seen.lock() = fingerprint(&files_after);
        }
        self.shared.metrics.last_reload_ok.set(1);
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
        if fingerprint(&self.watched_files()) != *self.seen.lock() {
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
        self.watched_files()
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
        // Held tarpits wait on the same watch (see proxy/tarpit.rs).
        self.reloader.shared.tarpits.watch_shutdown(&shutdown);
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

//! The decision log: one JSON line per ban, tarpit start, subnet ban and operator action,
//! for auditing and for feeding other tools (a SIEM, a fail2ban-style action, a ticket).
//!
//! Decisions are made on the request path, and a disk that stalls must not stall requests.
//! So a decision is handed to a bounded queue and written by a thread of its own; when the
//! queue is full (the disk cannot keep up with an attack) the entry is dropped and counted
//! in `rapsheet_decision_log_dropped_total` instead of blocking. The human log says the same
//! things in prose, rate-limited; this log is the complete, machine-readable record.
//!
//! The log goes to standard output, standard error or a file opened for appending (rotate
//! it with `copytruncate`, or by moving it and restarting). Entries still queued when the
//! process exits may be lost; [`DecisionLog::flush`] waits for everything queued so far.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use prometheus::IntCounter;
use serde::Serialize;

use crate::engine::{Action, Decision};
use crate::report::rfc3339;

/// Entries waiting to be written before new ones are dropped.
const QUEUE: usize = 4096;

/// How long [`DecisionLog::flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Where decisions are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, appended to.
    File(PathBuf),
}

/// One line of the decision log.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionEntry {
    /// When it was decided (RFC 3339).
    pub time: String,
    /// `ban`, `tarpit`, `subnet_ban`, `network_ban` or `lift`.
    pub event: &'static str,
    /// The client key, for client events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The network, for subnet and network events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The score at the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    /// Its severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<&'static str>,
    /// The live signals and their points.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalPoints>,
    /// `block` or `tarpit`; `allow` for a lifted ban.
    pub verdict: &'static str,
    /// The reference shown to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The client's strikes, this ban included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strikes: Option<u32>,
    /// How long the ban runs, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// `score` for the engine's decisions, `manual` for an operator's.
    pub cause: &'static str,
    /// The operator's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `enforce` or `shadow`.
    pub mode: &'static str,
}

/// A signal and its points, as the log writes them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SignalPoints {
    /// The signal's name.
    pub signal: &'static str,
    /// Its points.
    pub points: u16,
}

impl DecisionEntry {
    /// The entry for a decision of the engine (a ban or a tarpit start) at `now_ms`.
    pub fn of_decision(decision: &Decision, mode: &'static str, now_ms: u64) -> DecisionEntry {
        let banned = decision.action == Action::Block;
        DecisionEntry {
            time: rfc3339(now_ms),
            event: if banned { "ban" } else { "tarpit" },
            client: Some(decision.client.to_string()),
            network: None,
            score: Some(decision.score),
            severity: Some(decision.severity.name()),
            signals: decision
                .signals
                .iter()
                .map(|(signal, points)| SignalPoints {
                    signal: signal.name(),
                    points: *points,
                })
                .collect(),
            verdict: decision.action.name(),
            reference: Some(decision.reference.to_string()),
            strikes: banned.then_some(decision.strikes),
            ttl_secs: banned.then(|| decision.until_ms.saturating_sub(now_ms) / 1000),
            cause: "score",
            reason: None,
            mode,
        }
    }

    /// The entry for the subnet ban `decision` caused (its `subnet`), which lasts `ttl_secs`.
    /// The client whose ban tipped the subnet, and its score and signals, are kept as the
    /// cause.
    pub fn of_subnet_ban(
        decision: &Decision,
        ttl_secs: u64,
        mode: &'static str,
        now_ms: u64,
    ) -> DecisionEntry {
        let mut entry = DecisionEntry::of_decision(decision, mode, now_ms);
        entry.event = "subnet_ban";
        entry.strikes = None;
        entry.ttl_secs = Some(ttl_secs);
        if let Some((subnet, prefix, reference)) = decision.subnet {
            entry.network = Some(format!("{subnet}/{prefix}"));
            entry.reference = Some(reference.to_string());
        }
        entry
    }
}

enum Message {
    Entry(Box<DecisionEntry>),
    Flush(SyncSender<()>),
}

/// Where the writer thread writes.
enum Sink {
    Stdout,
    Stderr,
    File(File),
}

/// The handle the proxy writes decisions through.
pub struct DecisionLog {
    sender: SyncSender<Message>,
    dropped: IntCounter,
}

impl DecisionLog {
    /// Opens `target` and starts the writer thread; entries that find the queue full are
    /// counted in `dropped`.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened for appending or the thread cannot start.
    pub fn open(target: &LogTarget, dropped: IntCounter) -> io::Result<DecisionLog> {
        let sink = match target {
            LogTarget::Stdout => Sink::Stdout,
            LogTarget::Stderr => Sink::Stderr,
            LogTarget::File(path) => {
                Sink::File(OpenOptions::new().create(true).append(true).open(path)?)
            }
        };
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || write_all(receiver, sink))?;
        Ok(DecisionLog { sender, dropped })
    }

    /// Queues `entry` without waiting; counts it as dropped when the queue is full or the
    /// writer has stopped.
    pub fn write(&self, entry: DecisionEntry) {
        match self.sender.try_send(Message::Entry(Box::new(entry))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }

    /// Waits until everything queued before this call is written and flushed; false when
    /// the writer did not confirm within a few seconds.
    pub fn flush(&self) -> bool {
        let (done, confirmed) = mpsc::sync_channel(1);
        if self.sender.send(Message::Flush(done)).is_err() {
            return false;
        }
        confirmed.recv_timeout(FLUSH_WAIT).is_ok()
    }
}

/// The writer thread: writes entries as they come and flushes whenever the queue runs
/// empty, so a quiet log is always on disk and a busy one is written in batches.
fn write_all(receiver: Receiver<Message>, sink: Sink) {
    let mut out: BufWriter<Box<dyn Write>> = BufWriter::new(match sink {
        Sink::Stdout => Box::new(io::stdout()),
        Sink::Stderr => Box::new(io::stderr()),
        Sink::File(file) => Box::new(file),
    });
    let mut failed = false;
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Entry(entry) => failed |= write_line(&mut out, &entry).is_err(),
                Message::Flush(done) => {
                    failed |= out.flush().is_err();
                    let _ = done.send(());
                }
            }
            next = receiver.try_recv().ok();
        }
        failed |= out.flush().is_err();
        if std::mem::take(&mut failed) {
            tracing::warn!("Decision log write failed");
        }
    }
    let _ = out.flush();
}

fn write_line(out: &mut impl Write, entry: &DecisionEntry) -> io::Result<()> {
    serde_json::to_writer(&mut *out, entry)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: &str) -> DecisionEntry {
        DecisionEntry {
            time: rfc3339(1_767_225_600_000),
            event: "ban",
            client: Some(client.to_string()),
            network: None,
            score: Some(120),
            severity: Some("critical"),
            signals: vec![SignalPoints {
                signal: "burst",
                points: 35,
            }],
            verdict: "block",
            reference: Some("00000000abcd".into()),
            strikes: Some(1),
            ttl_secs: Some(3600),
            cause: "score",
            reason: None,
            mode: "enforce",
        }
    }

    /// Writes `clients` through a log into a file and returns the lines written.
    fn check(clients: &[&str], expected: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let dropped = IntCounter::new("dropped", "dropped").unwrap();
        let log = DecisionLog::open(&LogTarget::File(path.clone()), dropped.clone()).unwrap();
        for client in clients {
            log.write(entry(client));
        }
        assert!(log.flush());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, expected);
        assert_eq!(dropped.get(), 0);
    }

    #[test]
    fn entries_are_one_json_line_each_in_order() {
        let line = |client: &str| {
            format!(
                "{{\"time\":\"2026-01-01T00:00:00Z\",\"event\":\"ban\",\"client\":\"{client}\",\
                 \"score\":120,\"severity\":\"critical\",\"signals\":[{{\"signal\":\"burst\",\
                 \"points\":35}}],\"verdict\":\"block\",\"reference\":\"00000000abcd\",\
                 \"strikes\":1,\"ttl_secs\":3600,\"cause\":\"score\",\"mode\":\"enforce\"}}"
            )
        };
        let (a, b) = (line("192.0.2.1"), line("2001:db8::"));
        check(&[], &[]);
        check(&["192.0.2.1", "2001:db8::"], &[a.as_str(), b.as_str()]);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        // A writer that never drains: the receiver is held, never read.
        let (sender, _receiver) = mpsc::sync_channel(2);
        let dropped = IntCounter::new("dropped", "dropped").unwrap();
        let log = DecisionLog {
            sender,
            dropped: dropped.clone(),
        };
        for i in 0..5 {
            log.write(entry(&format!("192.0.2.{i}")));
        }
        assert_eq!(dropped.get(), 3);
    }
}

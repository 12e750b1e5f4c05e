//! The `upgrade` scenario (issue 8): a zero-downtime upgrade under steady benign load.
//!
//! An old rapsheet with `state.path` bans a set of addresses by real traffic (one SQL
//! injection each) and flushes them. Benign keep-alive load then runs while a new process is
//! started with `--upgrade` and the old one gets SIGQUIT; once the sockets are handed over,
//! while both processes accept connections, a second set of addresses is banned, each in
//! whichever process accepts it. The scenario checks that no benign request failed, that the
//! old process exited and the new one serves, that the new process drops the first set as
//! soon as the old one is gone (loaded at its start) and the second set once it has caught
//! up with the old process's flushes, without any of them having to earn its ban again.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

use crate::addr::Block;
use crate::http::{Conn, Failure};
use crate::lab::{Lab, Server, UPGRADE_SOCKET};
use crate::load::{self, Tracks};
use crate::rapsheet::{metric, Options, Running};
use crate::scenario::{benign_failures, benign_group, load_settings, Settings};
use crate::site;
use crate::stats::ClassStats;
use crate::workload::request;

/// What the upgrade scenario does besides the benign load.
pub struct Plan {
    /// Addresses banned in the old process before the load starts.
    pub banned: u32,
    /// Addresses banned once the old process has handed its sockets over.
    pub late_banned: u32,
    /// How far into the benign load the new process is started.
    pub handover_after: Duration,
}

/// How often the old process flushes its state.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The new process reads the state again 15 s and 30 s after its start (see persist.rs);
/// late bans are given until a little after the second read.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(34);

/// The old process hands over, waits 5 s, then drains for a grace period of 5 s and stops its
/// runtimes within 5 s more; it must be gone well within this.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// How long the new process is given, once it has the sockets, to read the state file.
const AFTER_HANDOVER: Duration = Duration::from_millis(300);

/// A request that blocks in one: an SQL injection scores 100 under the default policy.
const INJECTION: &str = "/products/item?id=1%27%20OR%20%271%27%3D%271";

/// `count` addresses of `block`, one per /24 (a stride of 257), so that what is tested is
/// each address's own ban and not a subnet ban earned by banned neighbours.
fn addresses(block: &str, count: u32) -> anyhow::Result<Vec<Ipv4Addr>> {
    let block: Block = block.parse().map_err(anyhow::Error::msg)?;
    Ok((0..u64::from(count))
        .map(|index| block.nth(index * 257))
        .collect())
}

/// How a request from one address fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Answered with this status.
    Answered(u16),
    /// Accepted, then dropped without an answer: how a banned address is refused.
    Dropped,
    /// The connect itself failed: nothing is serving.
    Unreachable,
}

impl Outcome {
    /// A 403 or a dropped connection: the address is banned.
    fn refused(self) -> bool {
        matches!(self, Outcome::Answered(403) | Outcome::Dropped)
    }
}

/// Sends one GET for `path` from `source` on a fresh connection.
async fn send_from(listen: SocketAddr, source: Ipv4Addr, path: &str) -> Outcome {
    let Ok(mut conn) = Conn::open(listen, Some(source)).await else {
        return Outcome::Unreachable;
    };
    let head = request(path, site::BROWSERS[0], None, None);
    let exchange = tokio::time::timeout(Duration::from_secs(5), conn.exchange(&head, false));
    match exchange.await {
        Ok(Ok(reply)) => Outcome::Answered(reply.status),
        Ok(Err(Failure::Reset | Failure::Closed)) => Outcome::Dropped,
        _ => Outcome::Unreachable,
    }
}

/// Sends `path` from each of `sources`; returns how many were refused.
async fn refused_count(listen: SocketAddr, sources: &[Ipv4Addr], path: &str) -> usize {
    let mut refused = 0;
    for &source in sources {
        if send_from(listen, source, path).await.refused() {
            refused += 1;
        }
    }
    refused
}

/// Waits until `socket` exists, that is until the new process waits for the sockets, for at
/// most four seconds (it gives up after about five).
async fn wait_for_socket(new: &mut Server, socket: &Path) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        if let Some(status) = new.exited() {
            bail!("the new rapsheet exited with {status} before the handover");
        }
        if socket.exists() {
            return Ok(());
        }
        sleep(Duration::from_millis(20)).await;
    }
    bail!(
        "the new rapsheet did not open {} within 4 s",
        socket.display()
    )
}

/// Waits until `socket` is gone, for at most six seconds (the new process tries for five).
async fn wait_for_removal(socket: &Path) {
    let until = Instant::now() + Duration::from_secs(6);
    while socket.exists() && Instant::now() < until {
        sleep(Duration::from_millis(20)).await;
    }
}

/// Clears a stale upgrade socket, after giving another upgrade in progress time to finish:
/// Pingora removes the socket once the sockets have been handed over.
async fn clear_upgrade_socket(socket: &Path) {
    let until = Instant::now() + Duration::from_secs(10);
    while socket.exists() && Instant::now() < until {
        sleep(Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_file(socket);
}

/// Waits for `old` to exit, for at most `limit`; returns how long it took and its status.
async fn wait_for_exit(old: &mut Server, limit: Duration) -> Option<(Duration, String)> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = old.exited() {
            return Some((started.elapsed(), status.to_string()));
        }
        sleep(Duration::from_millis(50)).await;
    }
    None
}

/// What benign probes from banned addresses met.
#[derive(Clone, Copy, Debug, Default)]
struct Probe {
    /// Connections dropped at once: the address's ban is in force.
    dropped: usize,
    /// Probes answered 403: the ban was not there, the client's restored score earned a new
    /// one on this very request.
    rescored: usize,
}

/// Sends one benign GET from each of `sources`.
async fn probe(listen: SocketAddr, sources: &[Ipv4Addr]) -> Probe {
    let mut probe = Probe::default();
    for &source in sources {
        match send_from(listen, source, "/").await {
            Outcome::Dropped => probe.dropped += 1,
            Outcome::Answered(403) => probe.rescored += 1,
            _ => {}
        }
    }
    probe
}

/// Probes `sources` once a second until every connection is dropped or `until`; returns the
/// last probe, the 403s met on the way, and when all were dropped, if they were.
async fn wait_until_dropped(
    listen: SocketAddr,
    sources: &[Ipv4Addr],
    until: Instant,
) -> (Probe, usize, Option<Instant>) {
    let mut rescored = 0;
    loop {
        let last = probe(listen, sources).await;
        rescored += last.rescored;
        if last.dropped == sources.len() {
            return (last, rescored, Some(Instant::now()));
        }
        if Instant::now() >= until {
            return (last, rescored, None);
        }
        sleep(Duration::from_secs(1)).await;
    }
}

/// What happened around the handover, for the summary and the checks.
struct Handover {
    new: Server,
    new_started: Instant,
    signalled: Instant,
    late_banned_by_403: usize,
    old_exit: Option<(Duration, String)>,
}

/// Starts the new process, waits until it waits for the sockets, signals the old one, and
/// bans the late addresses once the sockets are handed over; then waits for the old process
/// to exit.
async fn hand_over(
    lab: &mut Lab,
    old: &mut Running,
    options: &Options,
    late: &[Ipv4Addr],
) -> anyhow::Result<Handover> {
    let socket = Path::new(UPGRADE_SOCKET);
    clear_upgrade_socket(socket).await;
    let new_started = Instant::now();
    let mut new = lab.rapsheet_upgrade(old, options)?;
    wait_for_socket(&mut new, socket).await?;

    old.server.signal(libc::SIGQUIT);
    let signalled = Instant::now();
    // Pingora removes the socket once the listening sockets have been handed over; the new
    // process then reads the state file. Bans made after that, while both processes accept
    // connections, reach the new process directly or by way of the old one's flushes.
    wait_for_removal(socket).await;
    sleep(AFTER_HANDOVER).await;
    let late_banned_by_403 = refused_count(old.files.listen, late, INJECTION).await;
    let old_exit = wait_for_exit(&mut old.server, EXIT_LIMIT).await;
    Ok(Handover {
        new,
        new_started,
        signalled,
        late_banned_by_403,
        old_exit,
    })
}

/// Everything the scenario saw, for its checks and its summary.
struct Observed {
    early: usize,
    late: usize,
    early_banned_by_403: usize,
    handover: Handover,
    early_at_exit: Probe,
    late_at_exit: Probe,
    late_last: Probe,
    late_rescored: usize,
    late_all_at: Option<Instant>,
    early_at_end: Probe,
    fresh: Outcome,
    new_running: bool,
    new_refusals: f64,
    benign: ClassStats,
    elapsed: Duration,
}

/// Runs the scenario and returns its summary.
///
/// # Errors
///
/// Fails when a rapsheet does not start or the new one never waits for the sockets.
pub async fn run(
    lab: &mut Lab,
    settings: &Settings,
    upstream: SocketAddr,
    plan: &Plan,
) -> anyhow::Result<Value> {
    let options = Options {
        threads: settings.threads,
        state_flush_interval: Some(FLUSH_INTERVAL),
        ..Options::default()
    };
    let mut old = lab.rapsheet(upstream, &options)?;
    let listen = old.files.listen;
    let early = addresses("127.80.0.0/16", plan.banned)?;
    let late = addresses("127.81.0.0/16", plan.late_banned)?;
    let early_banned_by_403 = refused_count(listen, &early, INJECTION).await;
    // Two flush intervals and a little: the bans are in the file before the upgrade.
    sleep(FLUSH_INTERVAL * 2 + Duration::from_millis(500)).await;

    let started = Instant::now();
    let mut target = load_settings(listen, settings);
    target.reconnect_stale = true;
    let deadline = started + settings.duration;
    let group = benign_group(settings);
    let benign = load::start(group, &target, deadline, &Tracks::default());
    sleep(plan.handover_after).await;
    let mut handover = hand_over(lab, &mut old, &options, &late).await?;

    let early_at_exit = probe(listen, &early).await;
    let late_at_exit = probe(listen, &late).await;
    let catch_up_until = handover.new_started + CATCH_UP_LIMIT;
    let (late_last, late_rescored, late_all_at) =
        wait_until_dropped(listen, &late, catch_up_until).await;
    let benign = benign.finish().await;
    let elapsed = started.elapsed();

    let early_at_end = probe(listen, &early).await;
    let fresh = send_from(listen, Ipv4Addr::new(127, 82, 0, 1), "/").await;
    let new_running = handover.new.exited().is_none();
    // The metrics port was handed over with the others: with the old process gone, the page
    // is the new process's.
    let metrics = old.metrics().await.unwrap_or_default();
    let new_refusals = metric(&metrics, "rapsheet_connections_refused_total").unwrap_or(0.0);
    let observed = Observed {
        early: early.len(),
        late: late.len(),
        early_banned_by_403,
        handover,
        early_at_exit,
        late_at_exit,
        late_last,
        late_rescored: late_at_exit.rescored + late_rescored,
        late_all_at,
        early_at_end,
        fresh,
        new_running,
        new_refusals,
        benign,
        elapsed,
    };
    Ok(summary(&observed, plan))
}

/// The checks that failed.
fn checks_failed(seen: &Observed) -> Vec<&'static str> {
    let mut failed = Vec::new();
    if benign_failures(&seen.benign) > 0 {
        failed.push("benign requests failed during the upgrade");
    }
    if seen.early_banned_by_403 < seen.early || seen.handover.late_banned_by_403 < seen.late {
        failed.push("not every address was banned by its injection");
    }
    if seen.handover.old_exit.is_none() {
        failed.push("the old process did not exit");
    }
    if !seen.new_running || seen.fresh != Outcome::Answered(200) {
        failed.push("the new process is not serving");
    }
    if seen.early_at_exit.dropped < seen.early || seen.early_at_end.dropped < seen.early {
        failed.push("the new process let an early-banned address through");
    }
    if seen.late_all_at.is_none() {
        failed.push("the new process did not catch up with the late bans");
    }
    if seen.late_rescored > 0 {
        failed.push("late bans were lost and had to be earned again");
    }
    if seen.new_refusals < 1.0 {
        failed.push("the new process counted no refused connection");
    }
    failed
}

/// The JSON summary, with the failed checks.
fn summary(seen: &Observed, plan: &Plan) -> Value {
    let handover = &seen.handover;
    let after_new_start = |at: Instant| at.duration_since(handover.new_started).as_secs_f64();
    let old_exit_after = handover
        .old_exit
        .as_ref()
        .map(|(after, _)| after.as_secs_f64());
    let old_exit_status = handover.old_exit.as_ref().map(|(_, status)| status.clone());
    json!({
        "scenario": "upgrade",
        "flush_interval_ms": FLUSH_INTERVAL.as_millis() as u64,
        "handover_after_load_start_s": plan.handover_after.as_secs_f64(),
        "sigquit_after_new_start_s": after_new_start(handover.signalled),
        "old_exit_after_sigquit_s": old_exit_after,
        "old_exit_status": old_exit_status,
        "new_running": seen.new_running,
        "fresh_client_after_upgrade": format!("{:?}", seen.fresh),
        "early_banned": seen.early,
        "early_banned_by_403": seen.early_banned_by_403,
        "early_dropped_by_new_once_old_exited": seen.early_at_exit.dropped,
        "early_dropped_by_new_at_end": seen.early_at_end.dropped,
        "late_banned": seen.late,
        "late_banned_by_403": handover.late_banned_by_403,
        "late_dropped_by_new_once_old_exited": seen.late_at_exit.dropped,
        "late_dropped_by_new_at_last_probe": seen.late_last.dropped,
        "late_rebanned_by_403_on_a_probe": seen.late_rescored,
        "late_all_dropped_after_new_start_s": seen.late_all_at.map(after_new_start),
        "new_rapsheet_connections_refused_total": seen.new_refusals,
        "benign": seen.benign.summary(seen.elapsed),
        "checks_failed": checks_failed(seen),
    })
}

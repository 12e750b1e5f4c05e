//! Scenarios against a rapsheet this command starts, each ending with a JSON summary on
//! stdout and the checks the issues ask for:
//!
//! - `benign`: benign load alone (optionally under `perf record`, for the profile).
//! - `attack`: scanners from a few hundred addresses among benign users.
//! - `spray`: a million fresh addresses, one request each, beside benign users; the store
//!   must stay within `store.max_clients` and benign users must still be served.
//! - `tarpit`: thousands of held tarpits while benign users go on.
//! - `reload`: benign load while the policy is reloaded, by file and by the admin API.
//! - `upgrade`: benign load across a zero-downtime upgrade; bans must survive it (upgrade.rs).

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

use crate::addr::Block;
use crate::lab::Lab;
use crate::load::{self, Group, Settings as LoadSettings, Tracks};
use crate::procstat;
use crate::rapsheet::{self, metric, Options};
use crate::stats::ClassStats;
use crate::upgrade;
use crate::workload::{Counter, Via, Workload};

/// Settings shared by the scenarios.
pub struct Settings {
    /// rapsheet worker threads.
    pub threads: usize,
    /// Benign connections.
    pub connections: usize,
    /// Where benign clients come from.
    pub sources: Block,
    /// The measured time of a phase.
    pub duration: Duration,
    /// Seed.
    pub seed: u64,
}

/// A scenario and its own settings.
#[derive(clap::Subcommand)]
pub enum Scenario {
    /// Benign load alone.
    Benign {
        /// Record a CPU profile of rapsheet with `perf record -g` into this file.
        #[arg(long)]
        perf_out: Option<PathBuf>,
        /// rapsheet's `scoring:` setting.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        scoring: bool,
    },
    /// Scanners among benign users.
    Attack {
        /// How many scanner addresses.
        #[arg(long, default_value_t = 300)]
        scanner_addresses: u32,
        /// Scanner connections open at once.
        #[arg(long, default_value_t = 8)]
        scanner_connections: usize,
    },
    /// A million fresh addresses, one request each, beside benign users.
    Spray {
        /// Fresh addresses in all.
        #[arg(long, default_value_t = 1_000_000)]
        addresses: u64,
        /// rapsheet's store.max_clients.
        #[arg(long, default_value_t = 100_000)]
        max_clients: u64,
        /// How addresses are presented: bind (one connection each) or forwarded-for.
        #[arg(long, default_value = "forwarded-for")]
        via: String,
        /// Spray connections open at once.
        #[arg(long, default_value_t = 16)]
        spray_connections: usize,
        /// Give up after this long.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        limit: Duration,
    },
    /// Held tarpits while benign users go on; one fresh rapsheet per level.
    Tarpit {
        /// Numbers of held clients, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "2000,10000")]
        held: Vec<u64>,
    },
    /// Policy reloads under steady benign load.
    Reload {
        /// Reloads in all, alternately by rewriting policy.yaml and by the admin API.
        #[arg(long, default_value_t = 50)]
        reloads: u32,
    },
    /// A zero-downtime upgrade under steady benign load, with bans to carry over.
    Upgrade {
        /// Addresses banned in the old process before the load starts.
        #[arg(long, default_value_t = 50)]
        banned: u32,
        /// Addresses banned once the old process has handed its sockets over.
        #[arg(long, default_value_t = 20)]
        late_banned: u32,
        /// How far into the benign load the new process is started.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        handover_after: Duration,
    },
}

/// Runs `scenario` and prints its summary.
///
/// # Errors
///
/// Fails when a server does not start or a check of the scenario fails.
pub async fn run(lab: &mut Lab, settings: &Settings, scenario: Scenario) -> anyhow::Result<()> {
    let upstream = lab.upstream()?;
    let summary = match scenario {
        Scenario::Benign { perf_out, scoring } => {
            benign_scenario(lab, settings, upstream.address, perf_out, scoring).await?
        }
        Scenario::Attack {
            scanner_addresses,
            scanner_connections,
        } => {
            attack(
                lab,
                settings,
                upstream.address,
                scanner_addresses,
                scanner_connections,
            )
            .await?
        }
        Scenario::Spray {
            addresses,
            max_clients,
            via,
            spray_connections,
            limit,
        } => {
            let via = match via.as_str() {
                "bind" => Via::Bind,
                "forwarded-for" => Via::ForwardedFor,
                other => bail!("--via must be bind or forwarded-for, not `{other}`"),
            };
            let spray = Spray {
                addresses,
                max_clients,
                via,
                connections: spray_connections,
                limit,
            };
            spray_scenario(lab, settings, upstream.address, &spray).await?
        }
        Scenario::Tarpit { held } => tarpit(lab, settings, upstream.address, &held).await?,
        Scenario::Reload { reloads } => reload(lab, settings, upstream.address, reloads).await?,
        Scenario::Upgrade {
            banned,
            late_banned,
            handover_after,
        } => {
            let plan = upgrade::Plan {
                banned,
                late_banned,
                handover_after,
            };
            upgrade::run(lab, settings, upstream.address, &plan).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&summary)?);
    let failed = summary["checks_failed"].as_array().map_or(0, Vec::len);
    if failed > 0 {
        bail!("{failed} check(s) failed: {}", summary["checks_failed"]);
    }
    Ok(())
}

/// Load settings for `target`: the scenario's seed, a 10 s request timeout, no pacing.
pub(crate) fn load_settings(target: SocketAddr, settings: &Settings) -> LoadSettings {
    LoadSettings {
        target,
        request_timeout: Duration::from_secs(10),
        seed: settings.seed,
        pace: None,
        reconnect_stale: false,
    }
}

/// The benign visitors of `settings`.
pub(crate) fn benign_group(settings: &Settings) -> Group {
    Group {
        connections: settings.connections,
        workload: Workload::Benign {
            sources: settings.sources,
        },
        ramp: Duration::from_millis(200),
    }
}

/// Runs benign load for `duration` and returns its counts and the time it took.
async fn benign_for(
    target: SocketAddr,
    settings: &Settings,
    duration: Duration,
) -> (ClassStats, Duration) {
    let started = Instant::now();
    let running = load::start(
        benign_group(settings),
        &load_settings(target, settings),
        started + duration,
        &Tracks::default(),
    );
    (running.finish().await, started.elapsed())
}

/// Benign responses must all be served: no failure, no refusal, no server error.
pub(crate) fn benign_failures(stats: &ClassStats) -> u64 {
    stats.failed() + stats.refused_or_5xx()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

async fn benign_scenario(
    lab: &mut Lab,
    settings: &Settings,
    upstream: SocketAddr,
    perf_out: Option<PathBuf>,
    scoring: bool,
) -> anyhow::Result<Value> {
    let options = Options {
        threads: settings.threads,
        scoring,
        ..Options::default()
    };
    let rapsheet = lab.rapsheet(upstream, &options)?;
    let target = rapsheet.files.listen;
    benign_for(target, settings, Duration::from_secs(3)).await;
    let perf = match &perf_out {
        Some(file) => Some(start_perf(rapsheet.server.pid(), file, settings.duration)?),
        None => None,
    };
    let (stats, elapsed) = benign_for(target, settings, settings.duration).await;
    if let Some(mut perf) = perf {
        let status = perf.wait()?;
        if !status.success() {
            bail!("perf record failed: {status}");
        }
    }
    let mut checks_failed = Vec::new();
    if benign_failures(&stats) > 0 {
        checks_failed.push("benign requests failed");
    }
    Ok(json!({
        "scenario": "benign", "scoring": scoring,
        "benign": stats.summary(elapsed),
        "rapsheet_peak_rss_mb": mb(procstat::hwm_bytes(rapsheet.server.pid())),
        "checks_failed": checks_failed,
    }))
}

fn start_perf(
    pid: u32,
    file: &std::path::Path,
    duration: Duration,
) -> anyhow::Result<std::process::Child> {
    let child = std::process::Command::new("perf")
        .args(["record", "-F", "999", "--call-graph", "dwarf,8192", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(file)
        .arg("--")
        .arg("sleep")
        .arg(duration.as_secs().max(1).to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting perf (apt-get install linux-perf)")?;
    Ok(child)
}

async fn attack(
    lab: &mut Lab,
    settings: &Settings,
    upstream: SocketAddr,
    addresses: u32,
    connections: usize,
) -> anyhow::Result<Value> {
    let options = Options {
        threads: settings.threads,
        ..Options::default()
    };
    let rapsheet = lab.rapsheet(upstream, &options)?;
    let target = load_settings(rapsheet.files.listen, settings);
    let tracks = Tracks::default();
    let started = Instant::now();
    let deadline = started + settings.duration;
    let benign = load::start(benign_group(settings), &target, deadline, &tracks);
    let scanners = Group {
        connections,
        workload: Workload::Scanner {
            sources: "127.66.0.0/16"
                .parse::<Block>()
                .map_err(anyhow::Error::msg)?,
            count: addresses.max(1),
            next: Counter::default(),
        },
        ramp: Duration::from_millis(500),
    };
    let scanners = load::start(scanners, &target, deadline, &tracks);
    let (benign, scanners) = (benign.finish().await, scanners.finish().await);
    let elapsed = started.elapsed();
    let metrics = rapsheet.metrics().await.unwrap_or_default();

    let tracks = tracks.borrow();
    let mut forwarded: Vec<u64> = tracks.values().map(|track| track.forwarded).collect();
    forwarded.sort_unstable();
    let quantile = |q: f64| {
        forwarded
            .get(((forwarded.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let never_refused = tracks.values().filter(|track| !track.refused).count();
    let mut checks_failed = Vec::new();
    if benign_failures(&benign) > 0 {
        checks_failed.push("benign requests failed or were refused");
    }
    Ok(json!({
        "scenario": "attack",
        "benign": benign.summary(elapsed),
        "scanner": scanners.summary(elapsed),
        "scanner_addresses_seen": tracks.len(),
        "scanner_addresses_never_refused": never_refused,
        "forwarded_before_first_refusal": {
            "median": quantile(0.5), "p90": quantile(0.9), "max": quantile(1.0),
            "total": forwarded.iter().sum::<u64>(),
        },
        "rapsheet": prometheus_lines(&metrics, &["rapsheet_requests_total", "rapsheet_bans_started_total",
            "rapsheet_active_subnet_bans", "rapsheet_connections_refused_total", "rapsheet_tarpits_refused_total"]),
        "checks_failed": checks_failed,
    }))
}

/// The series of `names` in a metrics page, as `{series: value}`.
fn prometheus_lines(text: &str, names: &[&str]) -> Value {
    let mut found = serde_json::Map::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        if let Some((series, value)) = line.rsplit_once(' ') {
            if names.iter().any(|name| series.starts_with(name)) {
                found.insert(
                    series.to_string(),
                    json!(value.parse::<f64>().unwrap_or(f64::NAN)),
                );
            }
        }
    }
    Value::Object(found)
}

struct Spray {
    addresses: u64,
    max_clients: u64,
    via: Via,
    connections: usize,
    limit: Duration,
}

/// What the metrics showed while a spray ran.
#[derive(Default)]
struct Watch {
    samples: u64,
    max_store_clients: f64,
    max_rss: u64,
    last_store_clients: f64,
    last_rss: u64,
    last_evictions: f64,
}

impl Watch {
    async fn sample(&mut self, rapsheet: &rapsheet::Running) {
        self.last_rss = procstat::rss_bytes(rapsheet.server.pid());
        self.max_rss = self.max_rss.max(self.last_rss);
        let Ok(text) = rapsheet.metrics().await else {
            return;
        };
        self.samples += 1;
        if let Some(clients) = metric(&text, "rapsheet_store_clients") {
            self.last_store_clients = clients;
            self.max_store_clients = self.max_store_clients.max(clients);
        }
        self.last_evictions =
            metric(&text, "rapsheet_store_evictions_total").unwrap_or(self.last_evictions);
    }
}

async fn spray_scenario(
    lab: &mut Lab,
    settings: &Settings,
    upstream: SocketAddr,
    spray: &Spray,
) -> anyhow::Result<Value> {
    let options = Options {
        threads: settings.threads,
        max_clients: spray.max_clients,
        // Only the spray's own connections come from 127.0.0.1; benign users bind elsewhere.
        trusted_proxies: vec!["127.0.0.1/32".into()],
        ..Options::default()
    };
    let rapsheet = lab.rapsheet(upstream, &options)?;
    let target = load_settings(rapsheet.files.listen, settings);
    let (baseline, baseline_elapsed) =
        benign_for(rapsheet.files.listen, settings, settings.duration).await;
    let mut before = Watch::default();
    before.sample(&rapsheet).await;

    let started = Instant::now();
    let deadline = started + spray.limit;
    let benign = load::start(
        benign_group(settings),
        &target,
        deadline,
        &Tracks::default(),
    );
    let group = Group {
        connections: spray.connections,
        workload: Workload::Spray {
            addresses: "127.64.0.0/10"
                .parse::<Block>()
                .map_err(anyhow::Error::msg)?,
            count: spray.addresses,
            via: spray.via,
            next: Counter::default(),
        },
        ramp: Duration::from_millis(200),
    };
    let sprayers = load::start(group, &target, deadline, &Tracks::default());
    let mut watch = Watch::default();
    while !sprayers.is_finished() && Instant::now() < deadline {
        watch.sample(&rapsheet).await;
        sleep(Duration::from_millis(250)).await;
    }
    let spray_elapsed = started.elapsed();
    benign.stop();
    let (benign, sprayed) = (benign.finish().await, sprayers.finish().await);
    watch.sample(&rapsheet).await;

    let mut checks_failed = Vec::new();
    if watch.max_store_clients > spray.max_clients as f64 {
        checks_failed.push("rapsheet_store_clients exceeded store.max_clients");
    }
    if benign_failures(&benign) > 0 || benign_failures(&baseline) > 0 {
        checks_failed.push("benign requests failed or were refused");
    }
    if sprayed.responses() < spray.addresses {
        checks_failed.push("the spray did not complete within --limit");
    }
    Ok(json!({
        "scenario": "spray",
        "via": format!("{:?}", spray.via),
        "addresses": spray.addresses,
        "max_clients": spray.max_clients,
        "spray_seconds": spray_elapsed.as_secs_f64(),
        "spray": sprayed.summary(spray_elapsed),
        "benign_before": baseline.summary(baseline_elapsed),
        "benign_during": benign.summary(spray_elapsed),
        "metric_samples": watch.samples,
        "max_rapsheet_store_clients": watch.max_store_clients,
        "rapsheet_store_evictions_total": watch.last_evictions,
        "rapsheet_max_rss_mb": mb(watch.max_rss),
        "before_spray": { "rss_mb": mb(before.last_rss), "store_clients": before.last_store_clients },
        "after_spray": { "rss_mb": mb(watch.last_rss), "store_clients": watch.last_store_clients },
        "checks_failed": checks_failed,
    }))
}

async fn tarpit(
    lab: &mut Lab,
    settings: &Settings,
    upstream: SocketAddr,
    levels: &[u64],
) -> anyhow::Result<Value> {
    let mut results = Vec::new();
    let mut checks_failed = Vec::new();
    for &held in levels {
        let result = tarpit_level(lab, settings, upstream, held).await?;
        for check in result["checks_failed"].as_array().into_iter().flatten() {
            checks_failed.push(format!("{held} held: {}", check.as_str().unwrap_or("")));
        }
        results.push(result);
    }
    Ok(json!({ "scenario": "tarpit", "levels": results, "checks_failed": checks_failed }))
}

/// Waits until `rapsheet_tarpits_held` reaches `held`, for at most `limit`; returns the last
/// value seen.
async fn wait_for_held(rapsheet: &rapsheet::Running, held: u64, limit: Duration) -> f64 {
    wait_for_tarpits(rapsheet, |seen| seen >= held as f64, limit).await
}

/// Waits until no tarpit is held, for at most `limit`; returns the last value seen.
async fn wait_for_released(rapsheet: &rapsheet::Running, limit: Duration) -> f64 {
    wait_for_tarpits(rapsheet, |seen| seen <= 0.0, limit).await
}

/// Polls `rapsheet_tarpits_held` until `done` says so or `limit` passes; the last value.
async fn wait_for_tarpits(
    rapsheet: &rapsheet::Running,
    done: impl Fn(f64) -> bool,
    limit: Duration,
) -> f64 {
    let until = Instant::now() + limit;
    loop {
        let text = rapsheet.metrics().await.unwrap_or_default();
        let seen = metric(&text, "rapsheet_tarpits_held").unwrap_or(0.0);
        if done(seen) || Instant::now() >= until {
            return seen;
        }
        sleep(Duration::from_millis(250)).await;
    }
}

/// Idle and held measurements alternate this many times per level, so the machine's drift
/// falls on both sides; the ratio reported is the median of the rounds' ratios.
const TARPIT_ROUNDS: u64 = 3;

async fn tarpit_level(
    lab: &mut Lab,
    settings: &Settings,
    upstream: SocketAddr,
    held: u64,
) -> anyhow::Result<Value> {
    // Long enough that nobody leaves the tarpit before a round's measurement ends.
    let hold = settings.duration * 2 + Duration::from_secs(60);
    let options = Options {
        threads: settings.threads,
        policy_edits: vec![
            ("  max_held".into(), held.to_string()),
            ("  duration".into(), format!("{}s", hold.as_secs())),
        ],
        // Every tarpitted client is logged at info; thousands of them would measure the log.
        log_filter: "warn".into(),
        ..Options::default()
    };
    let rapsheet = lab.rapsheet(upstream, &options)?;
    let pid = rapsheet.server.pid();
    let listen = rapsheet.files.listen;
    benign_for(listen, settings, Duration::from_secs(3)).await;
    let idle_rss = procstat::rss_bytes(pid);

    let mut rounds = Vec::new();
    let mut ratios = Vec::new();
    let mut held_rss = 0;
    let mut checks_failed = Vec::new();
    for round in 0..TARPIT_ROUNDS {
        let (idle_stats, idle_elapsed) = benign_for(listen, settings, settings.duration).await;
        // Fresh addresses every round: last round's holders may still carry their points.
        let ramp = Duration::from_millis(held.max(1) * 1000 / 2000);
        let group = Group {
            connections: held as usize,
            workload: Workload::Tarpit {
                sources: "127.96.0.0/12"
                    .parse::<Block>()
                    .map_err(anyhow::Error::msg)?,
                count: (round + 1) * held,
                next: Counter::new(Cell::new(round * held)),
            },
            ramp,
        };
        let holders = load::start(
            group,
            &load_settings(listen, settings),
            Instant::now() + hold,
            &Tracks::default(),
        );
        let reached = wait_for_held(&rapsheet, held, ramp + Duration::from_secs(60)).await;
        let (held_stats, held_elapsed) = benign_for(listen, settings, settings.duration).await;
        let still_held = wait_for_held(&rapsheet, held, Duration::ZERO).await;
        held_rss = held_rss.max(procstat::rss_bytes(pid));
        holders.stop();
        let holder_stats = holders.finish().await;
        let released = wait_for_released(&rapsheet, Duration::from_secs(30)).await;

        let idle_rate = idle_stats.responses() as f64 / idle_elapsed.as_secs_f64();
        let held_rate = held_stats.responses() as f64 / held_elapsed.as_secs_f64();
        ratios.push(held_rate / idle_rate);
        if reached < held as f64 {
            checks_failed.push(format!("round {round}: not every client was held"));
        }
        if benign_failures(&held_stats) + benign_failures(&idle_stats) > 0 {
            checks_failed.push(format!(
                "round {round}: benign requests failed or were refused"
            ));
        }
        rounds.push(json!({
            "rapsheet_tarpits_held_reached": reached,
            "rapsheet_tarpits_held_after_measurement": still_held,
            "rapsheet_tarpits_held_after_release": released,
            "benign_idle": idle_stats.summary(idle_elapsed),
            "benign_while_held": held_stats.summary(held_elapsed),
            "benign_throughput_ratio": held_rate / idle_rate,
            "holders": holder_stats.summary(hold),
        }));
    }
    let extra_mb = mb(held_rss.saturating_sub(idle_rss));
    Ok(json!({
        "held": held,
        "idle_rss_mb": mb(idle_rss),
        "held_rss_mb": mb(held_rss),
        "extra_mb": extra_mb,
        "extra_kb_per_held": extra_mb * 1024.0 / held.max(1) as f64,
        "benign_throughput_ratios": ratios,
        "benign_throughput_ratio": crate::compare::median(ratios.clone()),
        "rounds": rounds,
        "checks_failed": checks_failed,
    }))
}

/// Rewrites the policy file whole (a new file renamed over the old one, as editors and
/// configuration management do), toggling `tarpit_at` so every rewrite is a real change.
fn rewrite_policy(policy: &std::path::Path, count: u32) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(policy)?;
    let value = if count % 2 == 0 { "51" } else { "50" };
    let text = rapsheet::edit_yaml(&text, "tarpit_at", value)?;
    let fresh = policy.with_extension("yaml.new");
    std::fs::write(&fresh, text)?;
    std::fs::rename(&fresh, policy)?;
    Ok(())
}

async fn reload(
    lab: &mut Lab,
    settings: &Settings,
    upstream: SocketAddr,
    reloads: u32,
) -> anyhow::Result<Value> {
    let options = Options {
        threads: settings.threads,
        ..Options::default()
    };
    let rapsheet = lab.rapsheet(upstream, &options)?;
    let before = rapsheet.metrics().await.unwrap_or_default();
    let ok_series = "rapsheet_reloads_total{outcome=\"ok\"}";
    let ok_before = metric(&before, ok_series).unwrap_or(0.0);

    let started = Instant::now();
    let deadline = started + settings.duration;
    let benign = load::start(
        benign_group(settings),
        &load_settings(rapsheet.files.listen, settings),
        deadline,
        &Tracks::default(),
    );
    let interval = settings.duration / (reloads + 2);
    let (mut by_file, mut by_api, mut api_failures) = (0u32, 0u32, 0u32);
    for count in 0..reloads {
        sleep(interval).await;
        if count % 2 == 0 {
            rewrite_policy(&rapsheet.files.policy, count / 2)?;
            by_file += 1;
        } else {
            match rapsheet.reload().await {
                Ok(200) => by_api += 1,
                _ => api_failures += 1,
            }
        }
    }
    let stats = benign.finish().await;
    let elapsed = started.elapsed();
    // The file watcher debounces; give the last rewrite time to land.
    sleep(Duration::from_secs(2)).await;
    let after = rapsheet.metrics().await.unwrap_or_default();
    let ok = metric(&after, ok_series).unwrap_or(0.0) - ok_before;
    let rejected = metric(&after, "rapsheet_reloads_total{outcome=\"rejected\"}").unwrap_or(0.0);

    let mut checks_failed = Vec::new();
    if benign_failures(&stats) > 0 {
        checks_failed.push("requests failed during reloads");
    }
    if api_failures > 0 {
        checks_failed.push("an admin reload was not answered 200");
    }
    if ok < f64::from(reloads) {
        checks_failed.push("fewer successful reloads than asked for");
    }
    Ok(json!({
        "scenario": "reload",
        "reloads_by_file": by_file, "reloads_by_admin_api": by_api,
        "rapsheet_reloads_ok": ok, "rapsheet_reloads_rejected": rejected,
        "benign": stats.summary(elapsed),
        "checks_failed": checks_failed,
    }))
}

//! Side-by-side runs: the same benign load against rapsheet (scoring on), rapsheet with
//! `scoring: false`, plain nginx proxying, and nginx with ModSecurity and the CRS, all in
//! front of the same upstream. Each round runs every target once, in a rotated order, on a
//! freshly started server; the results are medians over rounds and medians of the per-round
//! ratios, so drift of the shared machine falls on all targets alike.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::lab::Lab;
use crate::load::{self, Group, Settings, Tracks};
use crate::procstat;
use crate::stats::ClassStats;
use crate::workload::Workload;

/// A server under comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// rapsheet with the default policy.
    Rapsheet,
    /// The same binary with `scoring: false`.
    RapsheetOff,
    /// nginx `proxy_pass`.
    Nginx,
    /// nginx with ModSecurity and the OWASP CRS.
    Modsecurity,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Rapsheet => "rapsheet",
            Target::RapsheetOff => "rapsheet-scoring-off",
            Target::Nginx => "nginx",
            Target::Modsecurity => "nginx-modsecurity-crs",
        }
    }
}

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Targets, in the first round's order.
    pub targets: Vec<Target>,
    /// Rounds (each target once per round).
    pub rounds: usize,
    /// Unmeasured load before each measurement.
    pub warmup: Duration,
    /// Measured load per trial.
    pub duration: Duration,
    /// Client connections.
    pub connections: usize,
    /// Where benign clients come from.
    pub sources: crate::addr::Block,
    /// The seed of every trial, so all targets see the same requests.
    pub seed: u64,
    /// Worker threads of rapsheet (nginx always runs one worker).
    pub threads: usize,
    /// Offered load in requests per second; `None` saturates the target.
    pub rate: Option<f64>,
}

/// One measured trial.
#[derive(Clone, Debug)]
pub struct Trial {
    target: Target,
    round: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_request: f64,
    peak_rss_mb: f64,
    failed: u64,
    refused: u64,
    generator_cpu: f64,
}

impl Trial {
    fn json(&self) -> Value {
        json!({
            "target": self.target.name(), "round": self.round,
            "per_second": self.per_second, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "cpu_us_per_request": self.cpu_us_per_request, "peak_rss_mb": self.peak_rss_mb,
            "failed": self.failed, "refused_or_5xx": self.refused,
            "generator_cpu_share": self.generator_cpu,
        })
    }
}

/// Runs benign load against `target` for `duration`.
pub async fn benign(target: SocketAddr, plan: &Plan, duration: Duration) -> (ClassStats, Duration) {
    let settings = Settings {
        target,
        request_timeout: Duration::from_secs(10),
        seed: plan.seed,
        pace: plan
            .rate
            .map(|rate| Duration::from_secs_f64(plan.connections as f64 / rate)),
        reconnect_stale: false,
    };
    let group = Group {
        connections: plan.connections,
        workload: Workload::Benign {
            sources: plan.sources,
        },
        ramp: Duration::from_millis(200),
    };
    let started = Instant::now();
    let running = load::start(group, &settings, started + duration, &Tracks::default());
    let stats = running.finish().await;
    (stats, started.elapsed())
}

/// A started server of any kind: the process ids to account and where it listens.
enum Started {
    Rapsheet(crate::rapsheet::Running),
    Nginx(crate::lab::Server),
}

impl Started {
    fn address(&self) -> SocketAddr {
        match self {
            Started::Rapsheet(running) => running.files.listen,
            Started::Nginx(server) => server.address,
        }
    }

    fn pids(&self) -> Vec<u32> {
        match self {
            Started::Rapsheet(running) => running.server.pids(),
            Started::Nginx(server) => server.pids(),
        }
    }
}

fn start(
    lab: &mut Lab,
    upstream: SocketAddr,
    target: Target,
    threads: usize,
) -> anyhow::Result<Started> {
    let options = crate::rapsheet::Options {
        threads,
        scoring: target == Target::Rapsheet,
        ..Default::default()
    };
    Ok(match target {
        Target::Rapsheet | Target::RapsheetOff => {
            Started::Rapsheet(lab.rapsheet(upstream, &options)?)
        }
        Target::Nginx => Started::Nginx(lab.nginx_proxy(upstream, false)?),
        Target::Modsecurity => Started::Nginx(lab.nginx_proxy(upstream, true)?),
    })
}

async fn trial(
    lab: &mut Lab,
    upstream: SocketAddr,
    plan: &Plan,
    target: Target,
    round: usize,
) -> anyhow::Result<Trial> {
    let server = start(lab, upstream, target, plan.threads)?;
    benign(server.address(), plan, plan.warmup).await;
    let pids = server.pids();
    let me = std::process::id();
    let (cpu_before, generator_before) =
        (procstat::cpu_seconds_of(&pids), procstat::cpu_seconds(me));
    let (stats, elapsed) = benign(server.address(), plan, plan.duration).await;
    let cpu = procstat::cpu_seconds_of(&pids) - cpu_before;
    let generator = procstat::cpu_seconds(me) - generator_before;
    let peak = procstat::hwm_bytes_of(&pids);
    drop(server);
    let responses = stats.responses().max(1);
    Ok(Trial {
        target,
        round,
        per_second: stats.responses() as f64 / elapsed.as_secs_f64(),
        p50_ms: stats.latency.quantile_micros(0.5) as f64 / 1000.0,
        p99_ms: stats.latency.quantile_micros(0.99) as f64 / 1000.0,
        cpu_us_per_request: cpu * 1e6 / responses as f64,
        peak_rss_mb: peak as f64 / 1048576.0,
        failed: stats.failed(),
        refused: stats.refused_or_5xx(),
        generator_cpu: generator / elapsed.as_secs_f64(),
    })
}

/// Runs every round and returns the trials in the order they ran.
///
/// # Errors
///
/// Fails when a server does not start.
pub async fn run(lab: &mut Lab, upstream: SocketAddr, plan: &Plan) -> anyhow::Result<Vec<Trial>> {
    let mut trials = Vec::new();
    for round in 0..plan.rounds {
        let mut order = plan.targets.clone();
        let shift = round % order.len().max(1);
        order.rotate_left(shift);
        for target in order {
            let trial = trial(lab, upstream, plan, target, round).await?;
            eprintln!("{}", trial.json());
            trials.push(trial);
        }
    }
    Ok(trials)
}

/// The median of `values` (NaN when there are none).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn of(trials: &[Trial], target: Target, value: fn(&Trial) -> f64) -> Vec<f64> {
    trials
        .iter()
        .filter(|t| t.target == target)
        .map(value)
        .collect()
}

/// Medians of `value` over rounds, of the per-round `combine(first, other)`.
fn paired(
    trials: &[Trial],
    first: Target,
    other: Target,
    value: fn(&Trial) -> f64,
    combine: fn(f64, f64) -> f64,
) -> f64 {
    let firsts = of(trials, first, value);
    let others = of(trials, other, value);
    median(
        firsts
            .iter()
            .zip(&others)
            .map(|(a, b)| combine(*a, *b))
            .collect(),
    )
}

/// The results as Markdown: medians per target, then rapsheet against each other target.
pub fn render(trials: &[Trial], plan: &Plan) -> String {
    let mut out = String::from(
        "| target | req/s | p50 ms | p99 ms | CPU µs/req | server CPU | peak RSS MB | failed | \
         refused/5xx | generator CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for &target in &plan.targets {
        let m = |value: fn(&Trial) -> f64| median(of(trials, target, value));
        out.push_str(&format!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.1} | {:.0} % | {:.1} | {:.0} | {:.0} | {:.0} % |\n",
            target.name(),
            m(|t| t.per_second),
            m(|t| t.p50_ms),
            m(|t| t.p99_ms),
            m(|t| t.cpu_us_per_request),
            // How busy the server's core was: near 100 % it was the bottleneck.
            m(|t| t.per_second * t.cpu_us_per_request / 1e4),
            m(|t| t.peak_rss_mb),
            m(|t| t.failed as f64),
            m(|t| t.refused as f64),
            m(|t| t.generator_cpu) * 100.0,
        ));
    }
    if !plan.targets.contains(&Target::Rapsheet) {
        return out;
    }
    out.push_str(
        "\n| rapsheet vs | throughput ratio | p50 Δ ms | p99 Δ ms | CPU/req ratio |\n|---|---:|---:|---:|---:|\n",
    );
    for &other in plan.targets.iter().filter(|t| **t != Target::Rapsheet) {
        let ratio = |a: f64, b: f64| a / b;
        let delta = |a: f64, b: f64| a - b;
        out.push_str(&format!(
            "| {} | {:.3} | {:+.3} | {:+.3} | {:.3} |\n",
            other.name(),
            paired(trials, Target::Rapsheet, other, |t| t.per_second, ratio),
            paired(trials, Target::Rapsheet, other, |t| t.p50_ms, delta),
            paired(trials, Target::Rapsheet, other, |t| t.p99_ms, delta),
            paired(
                trials,
                Target::Rapsheet,
                other,
                |t| t.cpu_us_per_request,
                ratio
            ),
        ));
    }
    out
}

/// The trials as JSON lines, for results files.
pub fn json_lines(trials: &[Trial]) -> String {
    trials
        .iter()
        .map(|trial| trial.json().to_string() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}

//! `rapsheet-load`: the load generator and benchmark driver of rapsheet.
//!
//! It drives HTTP/1.1 keep-alive connections from addresses spread over 127.0.0.0/8, on one
//! single-threaded runtime pinned to its own CPU, and starts the servers it measures itself
//! (rapsheet, nginx, nginx with ModSecurity) on loopback ports, pinned to the other CPU.
//! Every run stops by itself after its duration. See loadtest/README.md.

/// rapsheet's own allocator (see its main.rs), so `fill` measures what rapsheet would use.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod addr;
mod compare;
mod fill;
mod http;
mod lab;
mod load;
mod loggen;
mod nginx;
mod procstat;
mod rapsheet;
mod rng;
mod scenario;
mod site;
mod stats;
mod upgrade;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::addr::Block;

/// Load generator and benchmark driver for rapsheet.
#[derive(Parser)]
#[command(name = "rapsheet-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the servers and the generator run.
#[derive(Args, Clone)]
struct LabArgs {
    /// The rapsheet binary under test.
    #[arg(long, default_value = "target/release/rapsheet")]
    rapsheet: PathBuf,
    /// The configuration directory copied for each rapsheet (policy and lists).
    #[arg(long, default_value = "conf")]
    conf: PathBuf,
    /// CPUs of the server under test (comma-separated).
    #[arg(long, default_value = "1", value_delimiter = ',')]
    server_cpus: Vec<usize>,
    /// CPUs of the generator and the upstream.
    #[arg(long, default_value = "0", value_delimiter = ',')]
    client_cpus: Vec<usize>,
    /// Worker threads of rapsheet.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Connections of benign clients.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Where benign clients come from.
    #[arg(long, default_value = "127.16.0.0/12")]
    sources: Block,
    /// Measured time per run, e.g. 10s or 1m.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Seed of the generated traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Subcommand)]
enum Command {
    /// A/B comparison: rapsheet vs scoring off vs nginx vs nginx+ModSecurity+CRS.
    Compare {
        #[command(flatten)]
        lab: LabArgs,
        /// Rounds; each runs every target once.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Unmeasured load before each trial.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        warmup: Duration,
        /// Targets, comma-separated.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "rapsheet,rapsheet-off,nginx,modsecurity"
        )]
        targets: Vec<compare::Target>,
        /// Also write the trials as JSON lines here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Offer this many requests per second in all instead of saturating the target:
        /// latency then shows each proxy's own delay rather than queueing.
        #[arg(long)]
        rate: Option<f64>,
    },
    /// A scenario against a rapsheet this command starts: benign, attack, spray, tarpit, reload
    /// or upgrade.
    Scenario {
        #[command(flatten)]
        lab: LabArgs,
        #[command(subcommand)]
        scenario: scenario::Scenario,
    },
    /// Fills an engine with clients through `Engine::on_request` and reports memory per
    /// client.
    Fill {
        /// Clients to add.
        #[arg(long, default_value_t = 1_000_000)]
        clients: u32,
        /// The policy.
        #[arg(long, default_value = "conf/policy.yaml")]
        policy: PathBuf,
    },
    /// Writes a combined-format access log of realistic variety, for `rapsheet replay`.
    GenLog {
        /// Lines to write.
        #[arg(long, default_value_t = 2_000_000)]
        lines: u64,
        /// The file.
        #[arg(long)]
        out: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Raises the open-file limit to its hard limit: thousands of held connections need it.
fn raise_file_limit() {
    // SAFETY: getrlimit/setrlimit read and write a plain struct owned here.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Runs `work` on a single-threaded runtime with a `LocalSet`, after pinning this process.
fn on_runtime<T>(
    cpus: &[usize],
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    raise_file_limit();
    lab::pin(cpus)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&runtime, work)
}

fn new_lab(args: &LabArgs) -> anyhow::Result<lab::Lab> {
    let mut lab = lab::Lab::new(
        args.rapsheet.clone(),
        args.conf.clone(),
        args.server_cpus.clone(),
    )?;
    lab.upstream_cpus = args.client_cpus.clone();
    Ok(lab)
}

fn compare(
    args: &LabArgs,
    rounds: usize,
    warmup: Duration,
    targets: Vec<compare::Target>,
    out: Option<PathBuf>,
    rate: Option<f64>,
) -> anyhow::Result<()> {
    let plan = compare::Plan {
        targets,
        rounds,
        warmup,
        duration: args.duration,
        connections: args.connections,
        sources: args.sources,
        seed: args.seed,
        threads: args.threads,
        rate,
    };
    let mut lab = new_lab(args)?;
    let trials = on_runtime(&args.client_cpus, async {
        let upstream = lab.upstream()?;
        let address = upstream.address;
        compare::run(&mut lab, address, &plan).await
    })?;
    println!("{}", compare::render(&trials, &plan));
    if let Some(out) = out {
        std::fs::write(out, compare::json_lines(&trials))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare {
            lab,
            rounds,
            warmup,
            targets,
            out,
            rate,
        } => compare(&lab, rounds, warmup, targets, out, rate),
        Command::Scenario { lab, scenario } => new_lab(&lab).and_then(|mut built| {
            on_runtime(
                &lab.client_cpus,
                scenario::run(&mut built, &lab.scenario_settings(), scenario),
            )
        }),
        Command::Fill { clients, policy } => fill::run(clients, &policy),
        Command::GenLog { lines, out, seed } => loggen::write(&out, lines, seed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rapsheet-load: {error:#}");
            ExitCode::from(1)
        }
    }
}

impl LabArgs {
    fn scenario_settings(&self) -> scenario::Settings {
        scenario::Settings {
            threads: self.threads,
            connections: self.connections,
            sources: self.sources,
            duration: self.duration,
            seed: self.seed,
        }
    }
}

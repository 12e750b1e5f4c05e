//! The `rapsheet` command: `serve` runs the proxy, `check` validates a configuration.
//!
//! Exit codes: 0 on success; 1 when a configuration is invalid or the proxy fails to start;
//! 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use rapsheet::clock::SystemClock;
use rapsheet::config::ServerConfig;
use rapsheet::policy::Policy;
use rapsheet::replay::logline::LogFormat;
use rapsheet::yaml::Problems;

/// jemalloc, not glibc's malloc: after thousands of held tarpits are let go, glibc's free
/// lists are so fragmented that `malloc` alone took a third of the CPU of every request that
/// followed (BENCHMARKS.md, "Tarpit"); jemalloc's size classes keep that cost flat.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// An edge reverse proxy that keeps a rap sheet on every client and blocks abuse as it
/// happens.
#[derive(Parser)]
#[command(name = "rapsheet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve {
        /// The server configuration file.
        #[arg(short, long, value_name = "FILE", default_value = "conf/rapsheet.yaml")]
        config: PathBuf,
        /// Take over the listening sockets of a running rapsheet (zero-downtime upgrade);
        /// send the old process SIGQUIT after starting this one.
        #[arg(short, long)]
        upgrade: bool,
    },
    /// Validate a server configuration and the policy and lists it names.
    Check {
        /// The server configuration file.
        #[arg(short, long, value_name = "FILE", default_value = "conf/rapsheet.yaml")]
        config: PathBuf,
    },
    /// Replay access logs through a policy and report whom it would refuse.
    ///
    /// Reads Apache/nginx common and combined logs and JSON lines, plain or gzip. Exits 0
    /// when nobody would be blocked, 1 when someone would, 2 on error.
    Replay {
        /// Log files; `-` or none reads standard input.
        #[arg(value_name = "LOG")]
        logs: Vec<PathBuf>,
        /// The policy to replay under.
        #[arg(short, long, value_name = "FILE", default_value = "conf/policy.yaml")]
        policy: PathBuf,
        /// The log format.
        #[arg(long, value_name = "FORMAT", default_value = "auto")]
        log_format: LogFormat,
        /// The site's host name, for logs that do not record the Host header (used to tell
        /// foreign Referers).
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Never draw a progress bar.
        #[arg(long)]
        no_progress: bool,
    },
}

/// How `replay` prints its report.
#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    /// For people.
    Text,
    /// One JSON document, for machines.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Replay {
            logs,
            policy,
            log_format,
            host,
            format,
            no_progress,
        } => replay(&logs, &policy, log_format, host, format, !no_progress),
        Command::Serve { config, upgrade } => match serve(&config, upgrade) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("rapsheet: {error:#}");
                ExitCode::from(1)
            }
        },
    }
}

/// Loads the server configuration, then the policy it names.
fn load(path: &std::path::Path) -> Result<(ServerConfig, Policy), Problems> {
    let config = ServerConfig::load(path)?;
    let policy = Policy::load(&config.policy)?;
    Ok((config, policy))
}

fn check(path: &std::path::Path) -> ExitCode {
    match load(path) {
        Ok((config, policy)) => {
            println!(
                "{}: ok ({} signals on, {} list entries, policy {})",
                path.display(),
                policy.signals.count(),
                policy.lists.entry_count(),
                config.policy.display()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{problems}");
            let count = problems.0.len();
            eprintln!("{count} problem{} found", if count == 1 { "" } else { "s" });
            ExitCode::from(1)
        }
    }
}

fn serve(path: &std::path::Path, upgrade: bool) -> anyhow::Result<()> {
    let (config, policy) = load(path).map_err(|problems| {
        anyhow::anyhow!("{problems}\nrefusing to start with an invalid configuration")
    })?;
    if !upgrade {
        rapsheet::server::check_listeners(&config)?;
    }
    init_logging();
    let opt = pingora::server::configuration::Opt {
        upgrade,
        ..Default::default()
    };
    let built = rapsheet::server::build(&config, policy, Arc::new(SystemClock), Some(opt))
        .context("building the server")?;
    if let Some((_, address)) = &built.demo {
        tracing::info!(address = %address, "Demo site up");
    }
    tracing::info!(address = %config.listen, "Proxy listening");
    built.server.run_forever()
}

fn replay(
    logs: &[PathBuf],
    policy: &std::path::Path,
    log_format: LogFormat,
    host: Option<String>,
    format: OutputFormat,
    progress: bool,
) -> ExitCode {
    let policy = match Policy::load(policy) {
        Ok(policy) => policy,
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::from(2);
        }
    };
    let stdin = [PathBuf::from("-")];
    let logs = if logs.is_empty() { &stdin[..] } else { logs };
    let show_progress = progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = match rapsheet::replay::run(logs, log_format, policy, host, show_progress) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("rapsheet replay: {error}");
            return ExitCode::from(2);
        }
    };
    let output = match format {
        OutputFormat::Text => rapsheet::replay::render_text(&report),
        OutputFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
    };
    if let Err(error) = std::io::Write::write_all(&mut std::io::stdout(), output.as_bytes()) {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("rapsheet replay: {error}");
            return ExitCode::from(2);
        }
    }
    if report.blocked_clients() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Logs to standard error, filtered by `RUST_LOG` (default: info, Pingora at warn), with
/// repeated events of one statement rate-limited so an attack cannot flood the log.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,pingora=warn"));
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let limited = rapsheet::logging::RateLimit::new(
        output,
        rapsheet::logging::DEFAULT_BURST,
        rapsheet::logging::DEFAULT_INTERVAL,
    );
    tracing_subscriber::registry()
        .with(filter)
        .with(limited)
        .init();
}

//! Replays every CrowdSec hub fixture in `tests/data/crowdsec-hub-tests` through
//! `rapsheet replay`'s engine and policy, and reports, per fixture, whether each address the
//! hub expects to alert was tarpitted or blocked, and whether any address of a fixture that
//! expects no alert (parsers, whitelists of legitimate applications) was.
//!
//! ```text
//! cargo run --release --example crowdsec -- [--policy conf/policy.yaml] [--verbose]
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use rapsheet::policy::Policy;
use rapsheet::replay::logline::LogFormat;

/// One fixture, as `expected.jsonl` describes it.
#[derive(Deserialize)]
struct Fixture {
    test: String,
    log_file: String,
    /// `scenario` (expects alerts) or `parser-only`.
    kind: String,
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
struct Alert {
    sources: Vec<String>,
}

/// What replaying one fixture showed.
struct Outcome {
    lines: u64,
    malformed: u64,
    refused: BTreeSet<IpAddr>,
    expected: BTreeSet<IpAddr>,
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut policy_path = root.join("conf/policy.yaml");
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--policy" => policy_path = args.next().map(PathBuf::from).unwrap_or(policy_path),
            "--verbose" => verbose = true,
            other => anyhow::bail!("unknown argument `{other}`"),
        }
    }
    let base = root.join("tests/data/crowdsec-hub-tests");
    let fixtures = std::fs::read_to_string(base.join("expected.jsonl"))?;
    let (mut caught, mut missed, mut quiet, mut refused_benign) = (0, 0, 0, 0);
    for line in fixtures.lines() {
        let fixture: Fixture = serde_json::from_str(line)?;
        let log = base
            .join("tests")
            .join(&fixture.test)
            .join(&fixture.log_file);
        let policy = Policy::load(&policy_path).map_err(|p| anyhow::anyhow!("{p}"))?;
        let outcome = replay(&fixture, &log, policy)?;
        let expects_alert = fixture.kind == "scenario";
        let missing: Vec<&IpAddr> = outcome.expected.difference(&outcome.refused).collect();
        let verdict = match (
            expects_alert,
            missing.is_empty(),
            outcome.refused.is_empty(),
        ) {
            (true, true, _) => {
                caught += 1;
                "caught"
            }
            (true, false, _) => {
                missed += 1;
                "MISSED"
            }
            (false, _, true) => {
                quiet += 1;
                "quiet"
            }
            (false, _, false) => {
                refused_benign += 1;
                "REFUSED"
            }
        };
        let interesting = verdict == "MISSED" || verdict == "REFUSED";
        if verbose || interesting {
            println!(
                "{verdict:<8} {:<40} lines {:>4} (malformed {:>3})  missing {:?}  refused {:?}",
                fixture.test, outcome.lines, outcome.malformed, missing, outcome.refused
            );
        }
    }
    println!(
        "\nfixtures expecting alerts: {caught} caught, {missed} missed; \
         expecting none: {quiet} quiet, {refused_benign} with someone refused"
    );
    Ok(())
}

fn replay(fixture: &Fixture, log: &Path, policy: Policy) -> anyhow::Result<Outcome> {
    let report = rapsheet::replay::run(&[log.to_path_buf()], LogFormat::Auto, policy, None, false)?;
    let refused = report
        .refusals
        .iter()
        .map(|refusal| refusal.client)
        .collect();
    // Expected sources are matched as the engine keys clients: IPv6 by its /64.
    let key_policy = Policy::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/policy.yaml"))
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    let expected = fixture
        .alerts
        .iter()
        .flat_map(|alert| &alert.sources)
        .filter_map(|source| source.parse::<IpAddr>().ok())
        .map(|ip| key_policy.client_key(ip))
        .collect();
    Ok(Outcome {
        lines: report.lines,
        malformed: report.malformed,
        refused,
        expected,
    })
}

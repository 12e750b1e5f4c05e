//! The default policy against a real site's traffic: every client of the benign Apache log
//! that is not a probe is replayed through the engine on the log's own time, and none may be
//! refused. The same traffic under the strict (honeypot) policy shows why defaults matter.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use rapsheet::engine::{Action, Engine, RequestFacts};
use rapsheet::policy::Policy;
use rapsheet::store::StoreLimits;

use crate::harness::conf;

/// One line of the log.
#[derive(serde::Deserialize)]
struct Line {
    ip: IpAddr,
    ts: f64,
    method: String,
    uri: String,
    status: u16,
    referer: Option<String>,
    ua: Option<String>,
}

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/benign-apache-log")
        .join(name);
    std::fs::read_to_string(path).expect("test data")
}

/// The log's lines with each hour's lines spread evenly over the hour, in file order.
fn spread_lines() -> Vec<(u64, Line)> {
    let mut hours: BTreeMap<u64, Vec<Line>> = BTreeMap::new();
    for text in data("access.jsonl").lines() {
        let line: Line = serde_json::from_str(text).expect("valid test data");
        hours.entry(line.ts as u64 / 3600).or_default().push(line);
    }
    let mut spread = Vec::new();
    for (hour, lines) in hours {
        let count = lines.len() as u64;
        for (i, line) in lines.into_iter().enumerate() {
            spread.push((hour * 3_600_000 + i as u64 * 3_600_000 / count, line));
        }
    }
    spread
}

fn probes() -> HashSet<IpAddr> {
    data("annotations.tsv")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let ip = fields.next()?.parse().ok()?;
            (fields.next()? == "probe").then_some(ip)
        })
        .collect()
}

/// What a replay of the log found.
#[derive(Default, Debug)]
struct Replayed {
    /// Clients tarpitted or blocked at least once, with the signals behind the first time.
    refused: BTreeMap<IpAddr, (Action, String)>,
    /// Clients that carried points at some moment.
    scored: HashSet<IpAddr>,
}

impl Replayed {
    fn blocked(&self) -> usize {
        self.refused
            .values()
            .filter(|(action, _)| *action == Action::Block)
            .count()
    }
}

/// Replays the log's clients for which `include` holds under `policy`.
fn replay(policy: &Policy, include: impl Fn(&IpAddr) -> bool) -> Replayed {
    let engine = Engine::new(StoreLimits::default());
    let mut replayed = Replayed::default();
    for (now_ms, line) in spread_lines() {
        if !include(&line.ip) {
            continue;
        }
        let mut request = RequestFacts::new(line.ip, &line.method, &line.uri);
        request.host = Some("www.semicomplete.com");
        request.user_agent = line.ua.as_deref().filter(|ua| *ua != "-");
        request.referer = line.referer.as_deref().filter(|r| *r != "-");
        let outcome = engine.on_request(policy, &request, now_ms);
        engine.on_response(policy, &request, &outcome, line.status, now_ms);
        let record = engine
            .store()
            .client(line.ip)
            .expect("a scored client has a record");
        if record.score(policy, now_ms) > 0 {
            replayed.scored.insert(line.ip);
        }
        if outcome.verdict.action != Action::Allow {
            let signals = format!("{:?}", record.live_signals(policy, now_ms));
            replayed
                .refused
                .entry(line.ip)
                .or_insert((outcome.verdict.action, signals));
        }
    }
    replayed
}

#[test]
fn no_ordinary_client_of_a_real_log_is_refused_by_the_default_policy() {
    let probes = probes();
    let default = Policy::load(&conf("policy.yaml")).expect("shipped policy");
    let replayed = replay(&default, |ip| !probes.contains(ip));
    assert!(
        replayed.refused.is_empty(),
        "refused: {:#?}",
        replayed.refused
    );

    let strict = Policy::load(&conf("policy-strict.yaml")).expect("shipped policy");
    let strict_replayed = replay(&strict, |ip| !probes.contains(ip));
    println!(
        "ordinary clients: default policy scores {} and refuses none; strict policy scores {} \
         and blocks {}",
        replayed.scored.len(),
        strict_replayed.scored.len(),
        strict_replayed.blocked()
    );
}

#[test]
fn every_probe_client_of_the_log_gets_points() {
    let probes = probes();
    let default = Policy::load(&conf("policy.yaml")).expect("shipped policy");
    let replayed = replay(&default, |ip| probes.contains(ip));
    let missed: Vec<&IpAddr> = probes
        .iter()
        .filter(|ip| !replayed.scored.contains(ip))
        .collect();
    println!(
        "probe clients: {} of {} get points, {} have a request tarpitted or blocked",
        replayed.scored.len(),
        probes.len(),
        replayed.refused.len()
    );
    assert!(missed.is_empty(), "probes without points: {missed:?}");
}

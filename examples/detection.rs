//! The detection harness: replays a JSONL request corpus (the OWASP CRS regression format)
//! against a real rapsheet, each case from its own loopback address so no case inherits
//! another's points, and reports per family and paranoia level the share of attacks refused
//! (403 or tarpit) by their single request, split by where the payload sits, and the share of
//! benign cases wrongly refused, with the signals that fired.
//!
//! ```text
//! cargo run --release --example detection -- [CORPUS.jsonl] [--policy conf/policy.yaml]
//!     [--show-misses FAMILY|all] [--show-refused-benign]
//! ```
//!
//! The proxy runs in this process on free loopback ports in front of the demo site; requests
//! are written byte for byte on raw sockets, as the corpus gives them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use rapsheet::clock::SystemClock;
use rapsheet::config::ServerConfig;
use rapsheet::policy::Policy;
use rapsheet::shared::Shared;

/// Reads a JSON `null` as 0.
fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    Ok(Option::<u8>::deserialize(d)?.unwrap_or(0))
}

/// One corpus case.
#[derive(Deserialize)]
struct Case {
    family: String,
    rule: u64,
    test_title: String,
    method: String,
    uri: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    autocomplete_headers: bool,
    expect: String,
    /// Null for the few tests of rules that no paranoia level enables (949's anomaly
    /// threshold, for one); those are reported as level 0.
    #[serde(default, deserialize_with = "null_as_zero")]
    paranoia_level: u8,
    carriers: Vec<String>,
}

impl Case {
    /// Where the payload sits: `body` or `line+headers`.
    fn carrier(&self) -> &'static str {
        if self.carriers.iter().any(|c| c == "body") {
            "body"
        } else {
            "line+headers"
        }
    }

    /// The request as bytes, completing the headers a client would add when the corpus
    /// asks for that.
    fn bytes(&self) -> Vec<u8> {
        let body = self.body.as_deref().unwrap_or("");
        let mut head = format!("{} {} {}\r\n", self.method, self.uri, self.version);
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if self.autocomplete_headers {
            if !has("host") {
                head.push_str("Host: localhost\r\n");
            }
            if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            if !has("connection") {
                head.push_str("Connection: close\r\n");
            }
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }
}

/// The address case `i` is sent from: a /24 of its own, so that subnet bans earned by
/// earlier cases never refuse it.
fn source(i: usize) -> IpAddr {
    let n = i as u32;
    IpAddr::V4(Ipv4Addr::new(127, 100 + (n >> 8) as u8, n as u8, 1))
}

/// Sends one case and returns the status, or 0 when the connection was refused or reset.
async fn send(proxy: SocketAddr, from: IpAddr, bytes: &[u8]) -> u16 {
    let attempt = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let mut stream = socket.connect(proxy).await?;
        stream.write_all(bytes).await?;
        let mut answer = [0u8; 64];
        let n = stream.read(&mut answer).await?;
        let line = String::from_utf8_lossy(&answer[..n]).into_owned();
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok::<_, std::io::Error>(status)
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => {
            eprintln!("case from {from}: {error}");
            0
        }
        Err(_) => 0,
    }
}

/// Counts for one row of the report.
#[derive(Default)]
struct Tally {
    cases: usize,
    refused: usize,
    malformed: usize,
    unanswered: usize,
    signals: BTreeMap<&'static str, usize>,
}

impl Tally {
    /// Adds another tally's counts (not its signals) to this one.
    fn add(&mut self, other: &Tally) {
        self.cases += other.cases;
        self.refused += other.refused;
        self.malformed += other.malformed;
        self.unanswered += other.unanswered;
    }

    fn rate(&self) -> String {
        if self.cases == 0 {
            return "-".into();
        }
        let percent = 100.0 * self.refused as f64 / self.cases as f64;
        let mut rate = format!("{}/{} ({percent:.1} %)", self.refused, self.cases);
        if self.malformed + self.unanswered > 0 {
            rate.push_str(&format!(
                " [400: {}, none: {}]",
                self.malformed, self.unanswered
            ));
        }
        rate
    }
}

struct Options {
    corpus: PathBuf,
    policy: PathBuf,
    show_misses: Option<String>,
    show_refused_benign: bool,
}

const USAGE: &str = "usage: detection [CORPUS.jsonl] [--policy FILE] \
                     [--show-misses FAMILY|all] [--show-refused-benign]";

fn options() -> Options {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut options = Options {
        corpus: PathBuf::from("../shared/corpora/crs-regression/crs_regression_core.jsonl"),
        policy: root.join("conf/policy.yaml"),
        show_misses: None,
        show_refused_benign: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--policy" => options.policy = args.next().map(PathBuf::from).unwrap_or(options.policy),
            "--show-misses" => options.show_misses = args.next(),
            "--show-refused-benign" => options.show_refused_benign = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with('-') => {
                eprintln!("unknown option `{flag}`\n{USAGE}");
                std::process::exit(2);
            }
            corpus => options.corpus = PathBuf::from(corpus),
        }
    }
    options
}

/// Starts rapsheet with `policy` in front of the demo site; returns its address and state.
fn start_proxy(policy: &std::path::Path) -> anyhow::Result<(SocketAddr, Arc<Shared>)> {
    let dir = tempfile::tempdir()?.keep();
    let listen = rapsheet::server::free_loopback_port()?;
    let policy = std::fs::canonicalize(policy)?;
    let config = format!(
        "listen: {listen}\nupstreams: demo\npolicy: {}\nthreads: 1\n\
         metrics: {{ listen: null }}\nadmin: {{ listen: null }}\n",
        policy.display()
    );
    let path = dir.join("rapsheet.yaml");
    std::fs::write(&path, config)?;
    let config = ServerConfig::load(&path)?;
    let policy = Policy::load(&config.policy)?;
    let built = rapsheet::server::build(&config, policy, Arc::new(SystemClock), None)?;
    let shared = built.shared;
    let server = built.server;
    std::thread::spawn(move || server.run_forever());
    while std::net::TcpStream::connect(listen).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((listen, shared))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options();
    let (proxy, shared) = start_proxy(&options.policy)?;
    let text = std::fs::read_to_string(&options.corpus)?;
    let mut attacks: BTreeMap<(String, u8, &'static str), Tally> = BTreeMap::new();
    let mut benign: BTreeMap<String, Tally> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let case: Case = serde_json::from_str(line)?;
        if case.expect == "other" {
            continue;
        }
        let from = source(i);
        let status = send(proxy, from, &case.bytes()).await;
        // 403 and 429 are rapsheet's refusals; 400 is Pingora rejecting a malformed request
        // before rapsheet sees it (counted apart); 0 is no answer.
        let refused = matches!(status, 403 | 429);
        let signals = fired(&shared, from);
        let tally = if case.expect == "attack" {
            attacks
                .entry((case.family.clone(), case.paranoia_level, case.carrier()))
                .or_default()
        } else {
            benign.entry(case.family.clone()).or_default()
        };
        tally.cases += 1;
        tally.refused += usize::from(refused);
        tally.malformed += usize::from(status == 400);
        tally.unanswered += usize::from(status == 0);
        for signal in &signals {
            *tally.signals.entry(signal).or_default() += usize::from(refused);
        }
        let missed = case.expect == "attack" && !refused;
        let shown = options
            .show_misses
            .as_deref()
            .is_some_and(|family| family == "all" || family == case.family);
        if missed && shown {
            println!(
                "miss {} (rule {}, PL{}, answered {status}) {} {}",
                case.test_title, case.rule, case.paranoia_level, case.method, case.uri
            );
        }
        if case.expect == "benign" && refused && options.show_refused_benign {
            println!(
                "refused benign {} {:?} {} {}",
                case.test_title, signals, case.method, case.uri
            );
        }
    }
    report(&attacks, &benign);
    Ok(())
}

/// The signals that carry points for `client` now.
fn fired(shared: &Shared, client: IpAddr) -> Vec<&'static str> {
    let policy = shared.policy.load();
    let now = rapsheet::clock::Clock::now_ms(&*shared.clock);
    let key = policy.client_key(client);
    shared
        .engine
        .store()
        .client(key)
        .map(|record| record.live_signals(&policy, now))
        .unwrap_or_default()
        .into_iter()
        .map(|(signal, _)| signal.name())
        .collect()
}

fn report(attacks: &BTreeMap<(String, u8, &'static str), Tally>, benign: &BTreeMap<String, Tally>) {
    println!("attacks refused by their single request (403 or tarpit):");
    println!(
        "{:<8} {:<4} {:<14} {:<22} signals",
        "family", "PL", "carrier", "refused"
    );
    for ((family, level, carrier), tally) in attacks {
        println!(
            "{family:<8} {level:<4} {carrier:<14} {:<22} {:?}",
            tally.rate(),
            tally.signals
        );
    }
    print_totals("all families", attacks, |_| true);
    let is_payload_family = |family: &str| PAYLOAD_FAMILIES.contains(&family);
    if !attacks
        .keys()
        .all(|(family, _, _)| is_payload_family(family))
    {
        print_totals(
            "payload families (913, 930-934, 941, 942, 944; not the protocol and session rules)",
            attacks,
            is_payload_family,
        );
    }
    println!("\nbenign cases wrongly refused:");
    let mut all = Tally::default();
    for (family, tally) in benign {
        all.add(tally);
        println!("{family:<8} {:<22} {:?}", tally.rate(), tally.signals);
    }
    println!("all      {}", all.rate());
}

/// The CRS families whose rules look for attack payloads and scanners, as opposed to HTTP
/// protocol enforcement (920-922), session fixation (943) and the anomaly threshold (949).
const PAYLOAD_FAMILIES: [&str; 9] = [
    "913", "930", "931", "932", "933", "934", "941", "942", "944",
];

/// Prints the attack tallies summed per paranoia level and carrier over the families that
/// `include` accepts.
fn print_totals(
    title: &str,
    attacks: &BTreeMap<(String, u8, &'static str), Tally>,
    include: impl Fn(&str) -> bool,
) {
    let mut totals: BTreeMap<(u8, &'static str), Tally> = BTreeMap::new();
    for ((family, level, carrier), tally) in attacks {
        if include(family) {
            totals.entry((*level, carrier)).or_default().add(tally);
        }
    }
    println!("\n{title}:");
    for ((level, carrier), tally) in &totals {
        println!("PL{level} {carrier:<14} {}", tally.rate());
    }
}

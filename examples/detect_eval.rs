//! Measures the request-content detectors against the shared corpora and prints detection
//! and false-positive rates per family and paranoia level.
//!
//! Run from the crate root: `cargo run --release --example detect_eval [CORPORA_DIR]
//! [--show-misses FAMILY] [--show-fp]`. The corpora directory defaults to
//! `../shared/corpora` beside the crate. A request counts as detected when any payload kind
//! is found in its path, query, headers or body fields, its User-Agent matches the scanner
//! list, or its path names an entry of the danger-paths list (the engine's `danger_hits`
//! signal), which is how the proxy adds points. Danger-path hits are counted apart as well, so
//! the payload detectors' own share stays visible.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rapsheet::detect::body::for_each_text_field;
use rapsheet::detect::list_entries;
use rapsheet::detect::payload::{Location, PayloadMatcher, PayloadSet};
use rapsheet::detect::user_agent::UserAgentMatcher;
use serde_json::Value;

/// Extensions the default policy treats as static assets, which never count as danger hits.
const STATIC_EXTENSIONS: &[&str] = &[
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "woff",
    "woff2", "ttf", "otf", "eot", "mp4", "webm", "mp3",
];

/// Headers whose values are protocol structure rather than user-controlled text.
const STRUCTURAL_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "connection",
    "keep-alive",
    "proxy-connection",
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-charset",
    "cache-control",
    "pragma",
    "upgrade-insecure-requests",
    "te",
    "transfer-encoding",
];

struct Detectors {
    payloads: PayloadMatcher,
    user_agents: UserAgentMatcher,
    danger_paths: DangerPaths,
}

/// The danger-paths list read the way the engine's path list reads it: an entry matches
/// anywhere in the raw path, case-insensitively, when it ends at the end of the path or
/// before one of `/ . ? ; ~ _`; requests for static assets never count.
struct DangerPaths {
    entries: Vec<String>,
}

impl DangerPaths {
    fn load(text: &str) -> Self {
        let entries = list_entries(text)
            .map(|(_, entry)| entry.to_ascii_lowercase())
            .collect();
        DangerPaths { entries }
    }

    fn matches(&self, path: &str) -> bool {
        let last = path.rsplit('/').next().unwrap_or(path);
        let is_static = last.rsplit_once('.').is_some_and(|(_, extension)| {
            STATIC_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(extension))
        });
        if is_static {
            return false;
        }
        let lower = path.to_ascii_lowercase();
        self.entries.iter().any(|entry| {
            lower.match_indices(entry.as_str()).any(|(start, found)| {
                let end = start + found.len();
                lower[end..]
                    .bytes()
                    .next()
                    .is_none_or(|byte| b"/.?;~_".contains(&byte))
            })
        })
    }
}

/// What was found in one request.
#[derive(Default)]
struct Finding {
    kinds: PayloadSet,
    scanner_user_agent: bool,
    danger_path: bool,
}

impl Finding {
    fn detected(&self) -> bool {
        self.by_payload_or_user_agent() || self.danger_path
    }

    fn by_payload_or_user_agent(&self) -> bool {
        !self.kinds.is_empty() || self.scanner_user_agent
    }

    fn describe(&self) -> String {
        let mut names: Vec<&str> = self.kinds.iter().map(|kind| kind.name()).collect();
        if self.scanner_user_agent {
            names.push("scanner_user_agent");
        }
        if self.danger_path {
            names.push("danger_path");
        }
        names.join(",")
    }
}

struct Options {
    corpora: PathBuf,
    show_misses: Option<String>,
    show_false_positives: bool,
}

fn main() {
    let options = parse_options();
    let detectors = Detectors {
        payloads: PayloadMatcher::builtin(),
        user_agents: UserAgentMatcher::builtin(),
        danger_paths: DangerPaths::load(include_str!("../conf/lists/danger-paths.txt")),
    };
    crs_regression(&detectors, &options);
    user_agent_lists(&detectors, &options.corpora);
    fuzzdb(&detectors, &options.corpora);
    benign_log(&detectors, &options.corpora, options.show_false_positives);
}

fn parse_options() -> Options {
    let mut options = Options {
        corpora: Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"),
        show_misses: None,
        show_false_positives: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--show-misses" => options.show_misses = args.next(),
            "--show-fp" => options.show_false_positives = true,
            _ => options.corpora = PathBuf::from(arg),
        }
    }
    options
}

/// Scans one request's components.
fn scan_request(
    detectors: &Detectors,
    uri: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Finding {
    let mut finding = Finding::default();
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    finding.danger_path = detectors.danger_paths.matches(path);
    finding.kinds = detectors.payloads.scan(Location::Path, path);
    finding.kinds = finding
        .kinds
        .union(detectors.payloads.scan(Location::Query, query));
    let mut content_type = None;
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if name == "content-type" {
            content_type = Some(value.as_str());
        }
        if STRUCTURAL_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let location = if name == "cookie" {
            Location::Cookie
        } else {
            Location::Header
        };
        finding.kinds = finding
            .kinds
            .union(detectors.payloads.scan(location, value));
        if name == "user-agent" && detectors.user_agents.matches(value).is_some() {
            finding.scanner_user_agent = true;
        }
    }
    if let Some(body) = body {
        for_each_text_field(content_type, body, |field| {
            finding.kinds = finding
                .kinds
                .union(detectors.payloads.scan(Location::Body, field));
        });
    }
    finding
}

/// A CRS test request as headers, URI and body; `raw_request` records are parsed by hand.
fn crs_request(record: &Value) -> (String, Vec<(String, String)>, Option<Vec<u8>>) {
    if let Some(raw) = record["raw_request"].as_str() {
        return parse_raw_request(raw);
    }
    let uri = record["uri"].as_str().unwrap_or("/").to_string();
    let headers = record["headers"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| {
                    Some((pair[0].as_str()?.to_string(), pair[1].as_str()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let body = record["body"].as_str().map(|body| body.as_bytes().to_vec());
    (uri, headers, body)
}

fn parse_raw_request(raw: &str) -> (String, Vec<(String, String)>, Option<Vec<u8>>) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""));
    let mut lines = head.lines();
    let uri = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    (
        uri,
        headers,
        (!body.is_empty()).then(|| body.as_bytes().to_vec()),
    )
}

#[derive(Default)]
struct Tally {
    total: usize,
    hits: usize,
    /// Hits that did not need the danger-paths list.
    payload_hits: usize,
}

impl Tally {
    fn add(&mut self, hit: bool) {
        self.total += 1;
        self.hits += usize::from(hit);
        self.payload_hits += usize::from(hit);
    }

    fn add_finding(&mut self, finding: &Finding) {
        self.total += 1;
        self.hits += usize::from(finding.detected());
        self.payload_hits += usize::from(finding.by_payload_or_user_agent());
    }

    fn merge(&mut self, other: &Tally) {
        self.total += other.total;
        self.hits += other.hits;
        self.payload_hits += other.payload_hits;
    }

    fn rate(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100.0 * self.hits as f64 / self.total as f64
    }
}

fn crs_regression(detectors: &Detectors, options: &Options) {
    let path = options
        .corpora
        .join("crs-regression/crs_regression_core.jsonl");
    let Ok(text) = fs::read_to_string(&path) else {
        eprintln!("cannot read {}", path.display());
        return;
    };
    let mut attacks: BTreeMap<(String, u64, &str), Tally> = BTreeMap::new();
    let mut benign: BTreeMap<String, Tally> = BTreeMap::new();
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let family = record["family"].as_str().unwrap_or("?").to_string();
        let level = record["paranoia_level"].as_u64().unwrap_or(0);
        let (uri, headers, body) = crs_request(&record);
        let finding = scan_request(detectors, &uri, &headers, body.as_deref());
        let carriers = record["carriers"].to_string();
        match record["expect"].as_str() {
            Some("attack") => {
                let group = if carriers.contains("\"body\"") {
                    "body"
                } else {
                    "line+headers"
                };
                attacks
                    .entry((family.clone(), level, group))
                    .or_default()
                    .add_finding(&finding);
                if !finding.detected() && options.show_misses.as_deref() == Some(family.as_str()) {
                    println!(
                        "MISS {} PL{level} {group} {} {}",
                        record["rule"],
                        uri,
                        short(&record)
                    );
                }
            }
            Some("benign") => {
                benign
                    .entry(family.clone())
                    .or_default()
                    .add_finding(&finding);
                if finding.detected() && options.show_false_positives {
                    println!(
                        "FP {} {} [{}] {}",
                        record["rule"],
                        uri,
                        finding.describe(),
                        short(&record)
                    );
                }
            }
            _ => {}
        }
    }
    print_crs(&attacks, &benign);
}

/// Prints the CRS tables: attacks found per family, level and carrier, then benign tests
/// flagged per family.
fn print_crs(attacks: &BTreeMap<(String, u64, &str), Tally>, benign: &BTreeMap<String, Tally>) {
    println!("\nCRS regression (core): attacks detected");
    println!(
        "{:<6} {:<4} {:<13} {:>6} {:>6} {:>7} {:>8}",
        "family", "PL", "carried in", "tests", "found", "rate", "payload"
    );
    for ((family, level, group), tally) in attacks {
        println!(
            "{family:<6} PL{level:<2} {group:<13} {:>6} {:>6} {:>6.1}% {:>8}",
            tally.total,
            tally.hits,
            tally.rate(),
            tally.payload_hits
        );
    }
    print_grouped(attacks);
    println!("\nCRS regression (core): benign tests flagged");
    let mut all = Tally::default();
    for (family, tally) in benign {
        println!(
            "{family:<6} {:>6} {:>6} {:>6.1}%",
            tally.total,
            tally.hits,
            tally.rate()
        );
        all.merge(tally);
    }
    println!(
        "all    {:>6} {:>6} {:>6.1}%",
        all.total,
        all.hits,
        all.rate()
    );
}

/// Totals over all families by paranoia level and carrier group.
fn print_grouped(attacks: &BTreeMap<(String, u64, &str), Tally>) {
    let mut grouped: BTreeMap<(u64, &str), Tally> = BTreeMap::new();
    for ((_, level, group), tally) in attacks {
        grouped.entry((*level, group)).or_default().merge(tally);
    }
    println!("\nall families (payload: found without the danger-paths list)");
    for ((level, group), tally) in &grouped {
        println!(
            "PL{level:<2} {group:<13} {:>6} {:>6} {:>6.1}% {:>8}",
            tally.total,
            tally.hits,
            tally.rate(),
            tally.payload_hits
        );
    }
}

fn short(record: &Value) -> String {
    let mut text = String::new();
    if let Some(headers) = record["headers"].as_array() {
        for pair in headers {
            let name = pair[0].as_str().unwrap_or("");
            let value = pair[1].as_str().unwrap_or("");
            if !STRUCTURAL_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                && !value.contains("OWASP CRS")
            {
                text.push_str(&format!("[{name}: {value}] "));
            }
        }
    }
    if let Some(body) = record["body"].as_str() {
        text.push_str(
            &body
                .chars()
                .take(160)
                .collect::<String>()
                .replace('\n', "\\n"),
        );
    }
    text
}

fn user_agent_lists(detectors: &Detectors, corpora: &Path) {
    println!("\nUser-Agent lists (matched by the scanner list)");
    let top: Vec<String> = read_json(&corpora.join("top-user-agents/index.json"))
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default();
    report_user_agents(detectors, "top browser UAs (must be 0)", &top);
    report_payload_scan(detectors, "top browser UAs", &top);

    let mut bots = Vec::new();
    if let Ok(entries) = fs::read_dir(corpora.join("crowdsec-sec-lists/legit_bots")) {
        for entry in entries.flatten() {
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            let json = text
                .lines()
                .find(|line| line.starts_with('{'))
                .unwrap_or("{}");
            let token = serde_json::from_str::<Value>(json)
                .ok()
                .and_then(|value| value["user_agent"].as_str().map(str::to_string));
            if let Some(token) = token {
                bots.push(format!(
                    "Mozilla/5.0 (compatible; {token}/1.0; +https://example.com/bot)"
                ));
            }
        }
    }
    report_user_agents(detectors, "crowdsec legit bots (must be 0)", &bots);
    report_payload_scan(detectors, "crowdsec legit bots", &bots);
    let good = list_lines(&corpora.join("bad-bot-blocker-ua/good-user-agents.list"));
    report_user_agents(detectors, "bad-bot-blocker good UAs (must be 0)", &good);
    report_payload_scan(detectors, "bad-bot-blocker good UAs", &good);
    let crs = list_lines(&corpora.join("crs-rule-data/scanners-user-agents.data"));
    report_user_agents(detectors, "CRS scanner UAs", &crs);
    let crowdsec = list_lines(&corpora.join("crowdsec-sec-lists/web/bad_user_agents.txt"));
    report_user_agents(
        detectors,
        "crowdsec bad UAs (include SEO/AI/libraries)",
        &crowdsec,
    );
    let blocker: Vec<String> = list_lines(&corpora.join("bad-bot-blocker-ua/bad-user-agents.list"))
        .into_iter()
        .map(|line| line.replace("\\ ", " "))
        .collect();
    report_user_agents(detectors, "bad-bot-blocker bad UAs (policy list)", &blocker);
}

/// Counts the User-Agents in which the payload scan finds anything, read as a header.
fn report_payload_scan(detectors: &Detectors, label: &str, user_agents: &[String]) {
    let flagged = user_agents
        .iter()
        .filter(|user_agent| {
            !detectors
                .payloads
                .scan(Location::Header, user_agent)
                .is_empty()
        })
        .count();
    println!("{label} flagged by the payload scan (must be 0): {flagged}");
}

fn report_user_agents(detectors: &Detectors, label: &str, user_agents: &[String]) {
    let mut tally = Tally::default();
    for user_agent in user_agents {
        tally.add(detectors.user_agents.matches(user_agent).is_some());
    }
    println!(
        "{label:<45} {:>5} {:>5} {:>6.1}%",
        tally.total,
        tally.hits,
        tally.rate()
    );
}

fn fuzzdb(detectors: &Detectors, corpora: &Path) {
    println!("\nfuzzdb attack payloads, each line scanned as a header value (any kind found)");
    let families = [
        "xss",
        "sql-injection",
        "path-traversal",
        "lfi",
        "os-cmd-execution",
        "server-side-include",
        "no-sql-injection",
    ];
    for family in families {
        let mut tally = Tally::default();
        for file in text_files(&corpora.join("fuzzdb-payloads/attack").join(family)) {
            for line in list_lines(&file) {
                tally.add(!detectors.payloads.scan(Location::Header, &line).is_empty());
            }
        }
        println!(
            "{family:<22} {:>6} {:>6} {:>6.1}%",
            tally.total,
            tally.hits,
            tally.rate()
        );
    }
}

fn benign_log(detectors: &Detectors, corpora: &Path, show: bool) {
    let folder = corpora.join("benign-apache-log");
    let probes: Vec<String> = list_lines(&folder.join("annotations.tsv"))
        .into_iter()
        .filter(|line| line.split('\t').nth(1) == Some("probe"))
        .filter_map(|line| line.split('\t').next().map(str::to_string))
        .collect();
    let Ok(text) = fs::read_to_string(folder.join("access.jsonl")) else {
        return;
    };
    let mut tally = Tally::default();
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if probes
            .iter()
            .any(|ip| Some(ip.as_str()) == record["ip"].as_str())
        {
            continue;
        }
        let headers = vec![
            (
                "User-Agent".to_string(),
                record["ua"].as_str().unwrap_or("").to_string(),
            ),
            (
                "Referer".to_string(),
                record["referer"].as_str().unwrap_or("").to_string(),
            ),
        ];
        let finding = scan_request(
            detectors,
            record["uri"].as_str().unwrap_or("/"),
            &headers,
            None,
        );
        tally.add_finding(&finding);
        if finding.detected() && show {
            println!(
                "LOG-FP [{}] {} {:?}",
                finding.describe(),
                record["uri"],
                headers
            );
        }
    }
    println!(
        "\nbenign Apache log, non-probe requests flagged: {} of {} ({:.2}%), by the payload and \
         User-Agent detectors alone (must be 0): {}",
        tally.hits,
        tally.total,
        tally.rate(),
        tally.payload_hits
    );
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn list_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn text_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(folder) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(text_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "txt")
            && !path.ends_with("README.md")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

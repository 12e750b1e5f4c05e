//! The server configuration (`rapsheet.yaml`): where to listen, what to proxy to, which
//! policy to apply, and the limits of the process. Unlike the policy, it is read once at
//! start; changing it needs a restart (or a zero-downtime upgrade).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::decision_log::LogTarget;
use crate::policy::lists::{parse_net, CidrSet};
use crate::policy::schema::Span;
use crate::store::StoreLimits;
use crate::yaml::{Problem, Problems, YamlDoc};

/// The validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// Where clients connect.
    pub listen: SocketAddr,
    /// What requests are forwarded to.
    pub upstreams: Upstreams,
    /// The policy file.
    pub policy: PathBuf,
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// When false, requests are proxied without any scoring (for measuring its cost).
    pub scoring: bool,
    /// How many clients to track.
    pub store: StoreLimits,
    /// How the client address is found.
    pub client_ip: ClientIpConfig,
    /// Connection limits.
    pub timeouts: Timeouts,
    /// How often upstreams are health-checked.
    pub health_check_interval: Duration,
    /// Where Prometheus scrapes; `None` turns the endpoint off.
    pub metrics_listen: Option<SocketAddr>,
    /// The admin API.
    pub admin: AdminConfig,
    /// Where decisions are written as JSON lines; `None` (the default) writes none.
    pub decision_log: Option<LogTarget>,
    /// Where state is kept across restarts; `None` keeps it in memory only.
    pub state: Option<crate::persist::StateConfig>,
    /// The TLS listener, if any.
    pub tls: Option<TlsConfig>,
}

/// A TLS listener: HTTP/2 and HTTP/1.1 over rustls, with a reloadable certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Where TLS clients connect.
    pub listen: SocketAddr,
    /// The PEM certificate chain.
    pub cert: PathBuf,
    /// The PEM private key.
    pub key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    listen: String,
    cert: String,
    key: String,
}

/// The admin API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Where it listens; `None` turns it off.
    pub listen: Option<SocketAddr>,
    /// The file holding the bearer token that changes need; without one, changes are refused.
    pub token_file: Option<PathBuf>,
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstreams {
    /// The built-in demo site, served by the same process on a loopback port.
    Demo,
    /// Real upstreams, balanced round-robin.
    Addresses(Vec<SocketAddr>),
}

/// Which address is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIpConfig {
    /// Peers whose `header` is believed.
    pub trusted_proxies: CidrSet,
    /// The header naming the client, lower case.
    pub header: String,
}

/// Limits on connections a hostile client could otherwise stretch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long an idle keep-alive connection is kept.
    pub keepalive: Duration,
    /// How long one read of a request head may wait.
    pub request_header: Duration,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UpstreamsConfig {
    Named(String),
    List(Vec<String>),
}

impl Default for UpstreamsConfig {
    fn default() -> Self {
        UpstreamsConfig::List(Vec::new())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StoreConfig {
    max_clients: i64,
    idle_timeout: Span,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let limits = StoreLimits::default();
        StoreConfig {
            max_clients: limits.max_clients as i64,
            idle_timeout: Span(limits.idle_timeout),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ClientIpSection {
    trusted_proxies: Vec<String>,
    header: String,
}

impl Default for ClientIpSection {
    fn default() -> Self {
        ClientIpSection {
            trusted_proxies: Vec::new(),
            header: "X-Forwarded-For".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MetricsSection {
    listen: Option<String>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: Some("127.0.0.1:9187".into()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AdminSection {
    listen: Option<String>,
    token_file: Option<String>,
    /// Listening beyond loopback must be asked for by name.
    allow_remote: bool,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: Some("127.0.0.1:9188".into()),
            token_file: None,
            allow_remote: false,
        }
    }
}

/// `decision_log: { path: stdout | stderr | off | FILE }`; off when absent.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct DecisionLogSection {
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSection {
    path: String,
    #[serde(default = "default_flush_interval")]
    flush_interval: Span,
    #[serde(default = "default_retention")]
    retention: Span,
}

fn default_flush_interval() -> Span {
    Span(Duration::from_secs(5))
}

fn default_retention() -> Span {
    Span(Duration::from_secs(90 * 86_400))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TimeoutsConfig {
    keepalive: Span,
    request_header: Span,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            keepalive: Span(Duration::from_secs(60)),
            request_header: Span(Duration::from_secs(10)),
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "listen",
    "upstreams",
    "policy",
    "threads",
    "scoring",
    "store",
    "client_ip",
    "timeouts",
    "health_check_interval",
    "metrics",
    "admin",
    "decision_log",
    "state",
    "tls",
];

impl ServerConfig {
    /// Reads and validates the server configuration at `path` (not the policy it names).
    ///
    /// # Errors
    ///
    /// Fails with every problem found, each with its file, line and key.
    pub fn load(path: &Path) -> Result<ServerConfig, Problems> {
        let doc = YamlDoc::read(path)?;
        let mut problems = Vec::new();
        doc.check_keys(TOP_KEYS, &mut problems);
        let config = read(&doc, &mut problems);
        Problems(problems).into_result().map(|()| config)
    }
}

fn read(doc: &YamlDoc, problems: &mut Vec<Problem>) -> ServerConfig {
    let listen_text: String = doc.section("listen", problems).unwrap_or_default();
    let listen = socket_address(doc, "listen", &listen_text, problems);
    let upstreams = upstreams(doc, problems);
    let policy_name: String = doc.section("policy", problems).unwrap_or_default();
    if policy_name.is_empty() {
        problems.push(doc.problem("policy", "missing: the path of the policy file"));
    }
    let base = doc.file().parent().unwrap_or(Path::new("."));
    let threads: i64 = doc
        .section::<Option<i64>>("threads", problems)
        .flatten()
        .unwrap_or(2);
    if !(1..=256).contains(&threads) {
        problems.push(doc.problem(
            "threads",
            format!("must be between 1 and 256, got {threads}"),
        ));
    }
    let scoring = doc
        .section::<Option<bool>>("scoring", problems)
        .flatten()
        .unwrap_or(true);
    let store: StoreConfig = doc.section("store", problems).unwrap_or_default();
    if store.max_clients < 1 {
        let message = format!("must be at least 1, got {}", store.max_clients);
        problems.push(doc.problem("store.max_clients", message));
    }
    let timeouts: TimeoutsConfig = doc.section("timeouts", problems).unwrap_or_default();
    let interval = doc
        .section::<Option<Span>>("health_check_interval", problems)
        .flatten();
    ServerConfig {
        file: doc.file().to_path_buf(),
        listen,
        upstreams,
        policy: base.join(policy_name),
        threads: threads.clamp(1, 256) as usize,
        scoring,
        store: StoreLimits {
            max_clients: store.max_clients.max(1) as u64,
            idle_timeout: store.idle_timeout.0,
        },
        client_ip: client_ip(doc, problems),
        timeouts: Timeouts {
            keepalive: timeouts.keepalive.0,
            request_header: timeouts.request_header.0,
        },
        health_check_interval: interval.map_or(Duration::from_secs(5), |span| span.0),
        metrics_listen: metrics_listen(doc, problems),
        admin: admin(doc, base, problems),
        decision_log: decision_log(doc, base, problems),
        state: state(doc, base, problems),
        tls: tls(doc, base, problems),
    }
}

fn tls(doc: &YamlDoc, base: &Path, problems: &mut Vec<Problem>) -> Option<TlsConfig> {
    let section = doc
        .section::<Option<TlsSection>>("tls", problems)
        .flatten()?;
    let listen = socket_address(doc, "tls.listen", &section.listen, problems);
    let (cert, key) = (base.join(&section.cert), base.join(&section.key));
    // Checked here, so a bad file is a located error and never a panic inside Pingora.
    if let Err(error) = crate::tls::TlsCerts::load(&cert, &key) {
        let at = match &error {
            crate::tls::TlsError::Read { path, .. } if *path == cert => "tls.cert",
            crate::tls::TlsError::NoCertificate(_) => "tls.cert",
            _ => "tls.key",
        };
        problems.push(doc.problem(at, error.to_string()));
    }
    Some(TlsConfig { listen, cert, key })
}

fn state(
    doc: &YamlDoc,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<crate::persist::StateConfig> {
    let section = doc
        .section::<Option<StateSection>>("state", problems)
        .flatten()?;
    let path = base.join(&section.path);
    let parent = path.parent().unwrap_or(Path::new("."));
    if !parent.is_dir() {
        let message = format!("directory `{}` does not exist", parent.display());
        problems.push(doc.problem("state.path", message));
    }
    if section.flush_interval.0.is_zero() {
        problems.push(doc.problem("state.flush_interval", "must be longer than zero"));
    }
    Some(crate::persist::StateConfig {
        path,
        flush_interval: section.flush_interval.0,
        retention: section.retention.0,
    })
}

fn decision_log(doc: &YamlDoc, base: &Path, problems: &mut Vec<Problem>) -> Option<LogTarget> {
    let section: DecisionLogSection = doc.section("decision_log", problems).unwrap_or_default();
    let target = match section.path?.as_str() {
        "off" => return None,
        "stdout" => LogTarget::Stdout,
        "stderr" => LogTarget::Stderr,
        file => LogTarget::File(base.join(file)),
    };
    if let LogTarget::File(file) = &target {
        let directory = file.parent().unwrap_or(Path::new("."));
        if !directory.is_dir() {
            let message = format!("the directory `{}` does not exist", directory.display());
            problems.push(doc.problem("decision_log.path", message));
        }
    }
    Some(target)
}

fn metrics_listen(doc: &YamlDoc, problems: &mut Vec<Problem>) -> Option<SocketAddr> {
    let section: MetricsSection = doc.section("metrics", problems).unwrap_or_default();
    let text = section.listen?;
    Some(socket_address(doc, "metrics.listen", &text, problems))
}

fn admin(doc: &YamlDoc, base: &Path, problems: &mut Vec<Problem>) -> AdminConfig {
    let section: AdminSection = doc.section("admin", problems).unwrap_or_default();
    let listen = section
        .listen
        .map(|text| socket_address(doc, "admin.listen", &text, problems));
    if listen.is_some_and(|address| !address.ip().is_loopback()) && !section.allow_remote {
        let message = "listens beyond loopback: set admin.allow_remote: true to mean it";
        problems.push(doc.problem("admin.listen", message));
    }
    let token_file = section.token_file.map(|file| base.join(file));
    if let Some(file) = &token_file {
        if let Err(error) = std::fs::metadata(file) {
            let message = format!("cannot read `{}`: {error}", file.display());
            problems.push(doc.problem("admin.token_file", message));
        }
    }
    AdminConfig { listen, token_file }
}

impl ServerConfig {
    /// The settings that differ between `self` (running) and `other` (on disk) and only
    /// apply after a restart.
    pub fn settings_changed(&self, other: &ServerConfig) -> Vec<&'static str> {
        let differs = [
            ("listen", self.listen != other.listen),
            ("upstreams", self.upstreams != other.upstreams),
            ("policy", self.policy != other.policy),
            ("threads", self.threads != other.threads),
            ("scoring", self.scoring != other.scoring),
            ("store", self.store != other.store),
            ("client_ip", self.client_ip != other.client_ip),
            ("timeouts", self.timeouts != other.timeouts),
            ("metrics", self.metrics_listen != other.metrics_listen),
            ("admin", self.admin != other.admin),
            ("state", self.state != other.state),
            (
                "tls",
                self.tls.as_ref().map(|t| t.listen) != other.tls.as_ref().map(|t| t.listen),
            ),
            ("decision_log", self.decision_log != other.decision_log),
        ];
        differs
            .into_iter()
            .filter_map(|(name, changed)| changed.then_some(name))
            .collect()
    }
}

fn socket_address(doc: &YamlDoc, key: &str, text: &str, problems: &mut Vec<Problem>) -> SocketAddr {
    match text.parse::<SocketAddr>() {
        Ok(address) => address,
        Err(_) => {
            let message = format!("`{text}` is not an ip:port address such as 127.0.0.1:8080");
            problems.push(doc.problem(key, message));
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    }
}

fn upstreams(doc: &YamlDoc, problems: &mut Vec<Problem>) -> Upstreams {
    let config: UpstreamsConfig = doc.section("upstreams", problems).unwrap_or_default();
    let names = match config {
        UpstreamsConfig::Named(name) if name == "demo" => return Upstreams::Demo,
        UpstreamsConfig::Named(name) => vec![name],
        UpstreamsConfig::List(names) => names,
    };
    if names.is_empty() {
        problems.push(doc.problem("upstreams", "needs `demo` or a list of host:port upstreams"));
    }
    let mut addresses = Vec::new();
    for (i, name) in names.iter().enumerate() {
        // Pingora's peers take socket addresses; names are resolved once, here.
        match name.to_socket_addrs().map(|mut found| found.next()) {
            Ok(Some(address)) => addresses.push(address),
            _ => problems.push(doc.problem(
                &format!("upstreams[{i}]"),
                format!("`{name}` is not a reachable host:port"),
            )),
        }
    }
    Upstreams::Addresses(addresses)
}

fn client_ip(doc: &YamlDoc, problems: &mut Vec<Problem>) -> ClientIpConfig {
    let section: ClientIpSection = doc.section("client_ip", problems).unwrap_or_default();
    let mut trusted = CidrSet::default();
    for (i, entry) in section.trusted_proxies.iter().enumerate() {
        match parse_net(entry) {
            Some(net) => trusted.insert(net),
            None => problems.push(doc.problem(
                &format!("client_ip.trusted_proxies[{i}]"),
                format!("`{entry}` is not an ip address or cidr network"),
            )),
        }
    }
    if http::HeaderName::from_bytes(section.header.as_bytes()).is_err() {
        let message = format!("`{}` is not a valid header name", section.header);
        problems.push(doc.problem("client_ip.header", message));
    }
    ClientIpConfig {
        trusted_proxies: trusted,
        header: section.header.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<ServerConfig, Problems> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rapsheet.yaml");
        std::fs::write(&path, yaml).unwrap();
        ServerConfig::load(&path)
    }

    #[test]
    fn the_shipped_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/rapsheet.yaml");
        let config = ServerConfig::load(&path).unwrap_or_else(|problems| panic!("{problems}"));
        assert_eq!(config.upstreams, Upstreams::Demo);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(config.policy.ends_with("conf/policy.yaml"));
    }

    #[test]
    fn every_mistake_is_reported() {
        let yaml = "listen: localhost\nupstreams: []\nthreads: 0\nclient_ip:\n  \
                    trusted_proxies: [10.0.0.0/8, nope]\nport: 1\n";
        let problems = load(yaml).err().unwrap().0;
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "listen",
                "upstreams",
                "threads",
                "client_ip.trusted_proxies[1]",
                "port",
                "policy"
            ],
            "{problems:#?}"
        );
    }

    #[test]
    fn upstream_addresses_are_resolved() {
        let config =
            load("listen: 127.0.0.1:0\npolicy: p.yaml\nupstreams: [\"127.0.0.1:9\"]\n").unwrap();
        assert_eq!(
            config.upstreams,
            Upstreams::Addresses(vec!["127.0.0.1:9".parse().unwrap()])
        );
    }

    #[test]
    fn the_decision_log_is_off_unless_asked_for() {
        let base = "listen: 127.0.0.1:0\npolicy: p.yaml\nupstreams: demo\n";
        let cases: &[(&str, Result<Option<&str>, &str>)] = &[
            ("", Ok(None)),
            ("decision_log: { path: off }\n", Ok(None)),
            ("decision_log: { path: stdout }\n", Ok(Some("stdout"))),
            ("decision_log: { path: stderr }\n", Ok(Some("stderr"))),
            ("decision_log: { path: d.jsonl }\n", Ok(Some("d.jsonl"))),
            (
                "decision_log: { path: no/d.jsonl }\n",
                Err("decision_log.path"),
            ),
            ("decision_log: { file: stdout }\n", Err("decision_log.file")),
        ];
        for (extra, expected) in cases {
            let got = match load(&format!("{base}{extra}")) {
                Ok(config) => Ok(config.decision_log.map(|target| match target {
                    LogTarget::Stdout => "stdout".to_string(),
                    LogTarget::Stderr => "stderr".to_string(),
                    LogTarget::File(path) => path.file_name().unwrap().to_string_lossy().into(),
                })),
                Err(problems) => Err(problems.0[0].key.clone()),
            };
            let expected = expected
                .map(|target| target.map(str::to_string))
                .map_err(str::to_string);
            assert_eq!(got, expected, "{extra}");
        }
    }
}

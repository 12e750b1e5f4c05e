//! Starting a real rapsheet in-process for a test, and talking to it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};
use rapsheet::clock::ManualClock;
use rapsheet::config::ServerConfig;
use rapsheet::demo::DemoSite;
use rapsheet::policy::Policy;
use rapsheet::proxy::Shared;
use tokio::sync::Notify;

/// The start of the tests' virtual time: 2026-01-01T00:00:00Z.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// A running proxy with the demo site behind it.
pub struct TestProxy {
    /// Where the proxy listens.
    pub address: SocketAddr,
    /// Where the metrics are scraped.
    pub metrics: SocketAddr,
    /// Where the admin API listens.
    pub admin: SocketAddr,
    /// Where the TLS listener is, when configured.
    pub tls: Option<SocketAddr>,
    /// Reloads the policy.
    pub reloader: Arc<rapsheet::reload::Reloader>,
    /// The proxy's shared state.
    pub shared: Arc<Shared>,
    /// The upstream.
    pub demo: DemoSite,
    /// The proxy's clock.
    pub clock: Arc<ManualClock>,
    /// The directory holding the config, policy and lists.
    pub dir: tempfile::TempDir,
    stop: Arc<Notify>,
    graceful: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Fires a shutdown when notified: fast, or graceful (SIGTERM's) once `graceful` is set.
struct StopOnNotify {
    stop: Arc<Notify>,
    graceful: Arc<AtomicBool>,
}

#[async_trait]
impl ShutdownSignalWatch for StopOnNotify {
    async fn recv(&self) -> ShutdownSignal {
        self.stop.notified().await;
        if self.graceful.load(Ordering::Acquire) {
            ShutdownSignal::GracefulTerminate
        } else {
            ShutdownSignal::FastShutdown
        }
    }
}

/// The path of a shipped file under `conf/`.
pub fn conf(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(name)
}

impl TestProxy {
    /// Starts a proxy in front of the demo site with `policy` (YAML; `LISTS` stands for the
    /// shipped lists directory) and extra server configuration lines (where `ADMIN` stands
    /// for a free admin address).
    pub fn start(policy: &str, server_extra: &str) -> TestProxy {
        TestProxy::start_with_upstreams(policy, "demo", server_extra)
    }

    /// Starts a proxy in front of `upstreams` (YAML).
    pub fn start_with_upstreams(policy: &str, upstreams: &str, server_extra: &str) -> TestProxy {
        TestProxy::start_full(policy, upstreams, server_extra, &[])
    }

    /// Starts a proxy in front of the demo site with extra files (lists, tokens) written
    /// next to the policy first.
    pub fn start_with_files(policy: &str, server_extra: &str, files: &[(&str, &str)]) -> TestProxy {
        TestProxy::start_full(policy, "demo", server_extra, files)
    }

    fn start_full(
        policy: &str,
        upstreams: &str,
        server_extra: &str,
        files: &[(&str, &str)],
    ) -> TestProxy {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("writing a test file");
        }
        let lists = conf("lists");
        let policy = policy.replace("LISTS", lists.to_str().expect("utf-8 path"));
        std::fs::write(dir.path().join("policy.yaml"), policy).expect("writing policy");
        let address = rapsheet::server::free_loopback_port().expect("free port");
        let metrics = rapsheet::server::free_loopback_port().expect("free port");
        let admin = rapsheet::server::free_loopback_port().expect("free port");
        let tls = rapsheet::server::free_loopback_port().expect("free port");
        let admin_extra = server_extra
            .replace("ADMIN", &admin.to_string())
            .replace("TLS_LISTEN", &tls.to_string());
        let admin_section = if admin_extra.contains("admin:") {
            String::new()
        } else {
            format!("admin: {{ listen: \"{admin}\" }}\n")
        };
        let config = format!(
            "listen: {address}\nupstreams: {upstreams}\npolicy: policy.yaml\nthreads: 2\n\
             metrics: {{ listen: \"{metrics}\" }}\n{admin_section}{admin_extra}"
        );
        let config_path = dir.path().join("rapsheet.yaml");
        std::fs::write(&config_path, config).expect("writing config");
        TestProxy::launch(dir, Arc::new(ManualClock::new(EPOCH_MS)))
    }

    /// Runs the server configured in `dir`, reading time from `clock`.
    fn launch(dir: tempfile::TempDir, clock: Arc<ManualClock>) -> TestProxy {
        let config_path = dir.path().join("rapsheet.yaml");
        let config = ServerConfig::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
        let policy = Policy::load(&config.policy).unwrap_or_else(|e| panic!("{e}"));
        let built = rapsheet::server::build(&config, policy, clock.clone(), None)
            .expect("building the server");
        let address = config.listen;
        let (demo, demo_address) = built
            .demo
            .clone()
            .unwrap_or_else(|| (DemoSite::default(), address));
        let stop = Arc::new(Notify::new());
        let graceful = Arc::new(AtomicBool::new(false));
        let shutdown_signal = Box::new(StopOnNotify {
            stop: Arc::clone(&stop),
            graceful: Arc::clone(&graceful),
        });
        let server = built.server;
        let thread = std::thread::spawn(move || server.run(RunArgs { shutdown_signal }));
        let metrics = config.metrics_listen.expect("metrics configured");
        let admin = config.admin.listen.expect("admin configured");
        let tls = config.tls.as_ref().map(|tls| tls.listen);
        for listener in [address, demo_address, metrics, admin]
            .into_iter()
            .chain(tls)
        {
            wait_until_listening(listener);
        }
        TestProxy {
            address,
            metrics,
            admin,
            tls,
            reloader: built.reloader,
            shared: built.shared,
            demo,
            clock,
            dir,
            stop,
            graceful,
            thread: Some(thread),
        }
    }

    /// Stops the proxy as SIGTERM does (a grace period for requests in flight) and returns
    /// once it has exited.
    pub fn stop_gracefully(mut self) {
        self.graceful.store(true, Ordering::Release);
        self.stop_server();
    }

    /// Stops the proxy and starts it again on the same files and ports, with the clock
    /// where it was: what survives is what was persisted.
    pub fn restart(mut self) -> TestProxy {
        self.stop_server();
        let placeholder = tempfile::tempdir().expect("temporary directory");
        let dir = std::mem::replace(&mut self.dir, placeholder);
        let clock = Arc::new(ManualClock::new(self.now_ms()));
        TestProxy::launch(dir, clock)
    }

    fn stop_server(&mut self) {
        self.stop.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Starts a proxy with a shipped policy file.
    pub fn with_shipped_policy(name: &str, server_extra: &str) -> TestProxy {
        let text = std::fs::read_to_string(conf(name)).expect("shipped policy");
        TestProxy::start(&text.replace("lists/", "LISTS/"), server_extra)
    }

    /// A URL on the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The value of the series `name` (with its labels as rendered, e.g.
    /// `rapsheet_reloads_total{outcome="ok"}`), or `None` when it is absent.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = String::from_utf8(self.shared.metrics.render()).expect("utf-8 metrics");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// The current virtual time.
    pub fn now_ms(&self) -> u64 {
        rapsheet::clock::Clock::now_ms(&*self.clock)
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Waits up to two seconds for work the proxy finishes after answering (the logging phase,
/// file watching) until `done` holds.
pub fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within two seconds"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_until_listening(address: SocketAddr) {
    for _ in 0..500 {
        if std::net::TcpStream::connect(address).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing listens on {address}");
}

/// An HTTP client that connects from `source` (any 127.0.0.0/8 address), never follows
/// redirects, and keeps one connection per host so requests go in order.
pub fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("source address"))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// What a request got back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// Sends `GET path` with the given headers; `None` when the connection was refused or reset.
pub async fn get(
    client: &reqwest::Client,
    proxy: &TestProxy,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<Reply> {
    let mut request = client.get(proxy.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let body = response.text().await.ok()?;
    Some(Reply { status, body })
}

//! Assembling a running rapsheet: the Pingora server with the proxy service and its
//! connection filter, the demo site or the health-checked upstreams, and the shared state.
//! `rapsheet serve` and the integration tests build it the same way; only the clock and the
//! shutdown signal differ.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::Context;
use pingora::lb::health_check::TcpHealthCheck;
use pingora::lb::LoadBalancer;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::AdminApp;
use crate::clock::Clock;
use crate::config::{ServerConfig, TlsConfig, Upstreams};
use crate::decision_log::DecisionLog;
use crate::demo::DemoSite;
use crate::engine::Engine;
use crate::metrics::MetricsEndpoint;
use crate::persist::{PersistService, StateConfig, StateStore};
use crate::policy::Policy;
use crate::proxy::not_http::NotHttpScreen;
use crate::proxy::{BanFilter, RapsheetProxy, Shared, Upstream};
use crate::reload::{ReloadService, Reloader};
use crate::tls::TlsCerts;
use pingora::listeners::tls::TlsSettings;

/// Handles to a built server's parts.
pub struct Built {
    /// The Pingora server, ready to run.
    pub server: Server,
    /// State shared with the proxy.
    pub shared: Arc<Shared>,
    /// The demo site and its address, when `upstreams: demo`.
    pub demo: Option<(DemoSite, SocketAddr)>,
    /// Reloads the policy (the admin API and SIGHUP use it too).
    pub reloader: Arc<Reloader>,
}

/// Builds the server for `config` with `policy`, reading time from `clock`.
///
/// # Errors
///
/// Fails when no free loopback port can be found for the demo site, or the decision log
/// cannot be opened.
pub fn build(
    config: &ServerConfig,
    policy: Policy,
    clock: Arc<dyn Clock>,
    opt: Option<Opt>,
) -> anyhow::Result<Built> {
    let conf = ServerConf {
        threads: config.threads,
        // SIGTERM waits this long for requests in flight (tarpits end at once).
        grace_period_seconds: Some(5),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let upgrading = opt.as_ref().is_some_and(|opt| opt.upgrade);
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let engine = Engine::new(config.store);
    let mut shared = Shared::new(engine, policy, clock);
    if let Some(target) = &config.decision_log {
        let dropped = shared.metrics.decision_log_dropped.clone();
        let log = DecisionLog::open(target, dropped)
            .with_context(|| format!("opening the decision log {target:?}"))?;
        shared = shared.with_decision_log(log);
    }
    let shared = Arc::new(shared);
    if let Some(state) = &config.state {
        add_persistence(&mut server, state, &shared, upgrading)?;
    }
    let (upstream, demo) = upstream(config, &mut server)?;

    let proxy = RapsheetProxy::new(Arc::clone(&shared), upstream, config);
    let proxy = pingora::proxy::http_proxy(&server.configuration, proxy);
    let app = NotHttpScreen::new(proxy, Arc::clone(&shared), config);
    let mut service = Service::new("rapsheet".to_string(), app);
    service.add_tcp(&config.listen.to_string());
    let certs = match &config.tls {
        Some(tls) => Some(add_tls(&mut service, tls)?),
        None => None,
    };
    service.set_connection_filter(Arc::new(BanFilter::new(Arc::clone(&shared), config)));
    server.add_service(service);

    let reloader = Arc::new(Reloader::new(Arc::clone(&shared), config.clone(), certs));
    let reloads = ReloadService::new(Arc::clone(&reloader));
    server.add_service(background_service("policy reloader", reloads));
    add_endpoints(&mut server, config, &shared, &reloader)?;

    Ok(Built {
        server,
        shared,
        demo,
        reloader,
    })
}

/// Adds the TLS listener (HTTP/2 and HTTP/1.1) to the proxy service, serving the
/// certificate through a resolver that reloads can swap.
fn add_tls<A>(service: &mut Service<A>, tls: &TlsConfig) -> anyhow::Result<Arc<TlsCerts>> {
    let certs = Arc::new(TlsCerts::load(&tls.cert, &tls.key)?);
    let mut settings = TlsSettings::intermediate("", "")?;
    settings.set_cert_resolver(Arc::clone(&certs) as Arc<dyn rustls::server::ResolvesServerCert>);
    settings.enable_h2();
    service.add_tls_with_settings(&tls.listen.to_string(), None, settings);
    Ok(certs)
}

/// Reads the saved state into the engine, before any connection is accepted, and adds the
/// service that keeps saving it.
fn add_persistence(
    server: &mut Server,
    config: &StateConfig,
    shared: &Arc<Shared>,
    upgrading: bool,
) -> anyhow::Result<()> {
    let state = Arc::new(StateStore::open(&config.path)?);
    let counts = state.load(&shared.engine, shared.clock.now_ms())?;
    tracing::info!(
        path = %config.path.display(),
        offenders = counts.offenders,
        clients = counts.clients,
        subnets = counts.subnets,
        network_bans = counts.network_bans,
        "State loaded"
    );
    let service = PersistService::new(Arc::clone(shared), state, config.clone(), upgrading);
    server.add_service(background_service("state", service));
    Ok(())
}

/// Adds the metrics and admin listeners the configuration asks for.
fn add_endpoints(
    server: &mut Server,
    config: &ServerConfig,
    shared: &Arc<Shared>,
    reloader: &Arc<Reloader>,
) -> anyhow::Result<()> {
    if let Some(address) = config.metrics_listen {
        let endpoint = MetricsEndpoint::new(Arc::clone(shared));
        let mut service = Service::new("metrics".to_string(), endpoint);
        service.add_tcp(&address.to_string());
        server.add_service(service);
    }
    if let Some(address) = config.admin.listen {
        let token = match &config.admin.token_file {
            Some(file) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading the admin token {}", file.display()))?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let app = AdminApp::new(Arc::clone(shared), Arc::clone(reloader), token);
        let mut service = Service::new("admin".to_string(), app);
        service.add_tcp(&address.to_string());
        server.add_service(service);
    }
    Ok(())
}

type DemoHandle = Option<(DemoSite, SocketAddr)>;

fn upstream(config: &ServerConfig, server: &mut Server) -> anyhow::Result<(Upstream, DemoHandle)> {
    match &config.upstreams {
        Upstreams::Demo => {
            let address = free_loopback_port().context("finding a port for the demo site")?;
            let site = DemoSite::default();
            let mut service = Service::new("demo site".to_string(), site.clone());
            service.add_tcp(&address.to_string());
            server.add_service(service);
            Ok((Upstream::Fixed(address), Some((site, address))))
        }
        Upstreams::Addresses(addresses) => {
            let mut balancer = LoadBalancer::try_from_iter(addresses.iter().copied())
                .context("setting up the upstreams")?;
            balancer.set_health_check(TcpHealthCheck::new());
            balancer.health_check_frequency = Some(config.health_check_interval);
            let checks = background_service("upstream health checks", balancer);
            let balancer = checks.task();
            server.add_service(checks);
            Ok((Upstream::Balanced(balancer), None))
        }
    }
}

/// Checks that every address the configuration listens on can be bound now. Pingora binds
/// its listeners in service threads and only panics that thread when an address is taken,
/// leaving a process that runs but does not serve; checking first turns that into a clear
/// error and a failing exit, which a supervisor can act on. (An upgrade takes the sockets
/// of the running process instead, so it skips this.)
///
/// # Errors
///
/// Fails with the first address that cannot be bound and why.
pub fn check_listeners(config: &ServerConfig) -> anyhow::Result<()> {
    let addresses = [
        Some(config.listen),
        config.tls.as_ref().map(|tls| tls.listen),
    ]
    .into_iter()
    .chain([config.metrics_listen, config.admin.listen])
    .flatten();
    for address in addresses {
        TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))?;
    }
    Ok(())
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

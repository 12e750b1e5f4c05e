//! Prometheus metrics. Every series is `rapsheet_*`, counters end in `_total`, durations are
//! `_seconds` histograms, and labels only take values from closed sets (actions, reasons,
//! signal names, outcomes): never an address, path or User-Agent, so an attacker cannot
//! blow up the series count.
//!
//! The metrics live in a registry owned by the proxy rather than the process-wide default,
//! so several proxies in one process (the integration tests) each count their own. Labelled
//! children are resolved once here; the request path only increments atomics.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::engine::{Action, Reason, Signal};
use crate::shared::Shared;

/// Every metric of one proxy.
pub struct Metrics {
    registry: Registry,
    requests: [[IntCounter; REASONS.len()]; 3],
    signal_fires: Vec<IntCounter>,
    /// Scores of requests from clients carrying points, at the verdict.
    pub score: Histogram,
    /// Time spent in the engine per request.
    pub engine_seconds: Histogram,
    /// Bans started, by cause.
    pub bans_started: IntCounterVec,
    /// Bans that ended (ran out or were lifted).
    pub bans_ended: IntCounter,
    /// Bans running now, sampled.
    pub active_bans: IntGauge,
    /// Subnet bans started.
    pub subnet_bans_started: IntCounter,
    /// Subnet bans running now, sampled.
    pub active_subnet_bans: IntGauge,
    /// Tarpits held now.
    pub tarpits_held: IntGauge,
    /// Tarpit answers refused because the budget was full (the client got a 403 instead).
    pub tarpits_refused: IntCounter,
    /// Connections dropped before HTTP because the peer is banned.
    pub connections_refused: IntCounter,
    /// Client records in the store, sampled.
    pub store_clients: IntGauge,
    /// Client records evicted for lack of room.
    pub store_evictions: IntCounter,
    /// The store's configured capacity.
    pub store_capacity: IntGauge,
    /// Policy reloads, by outcome.
    pub reloads: IntCounterVec,
    /// 1 when the policy files on disk were last accepted, 0 while they are rejected.
    pub last_reload_ok: IntGauge,
    /// The tarpit budget of the policy in force (`tarpit.max_held`), sampled.
    pub tarpits_budget: IntGauge,
    /// Always 1, labelled with the version, so upgrades show on dashboards.
    pub build_info: IntGaugeVec,
    /// Requests the upstream could not answer (502/504 sent by the proxy).
    pub upstream_errors: IntCounter,
    /// Decision log entries dropped because the writer could not keep up.
    pub decision_log_dropped: IntCounter,
}

const REASONS: [Reason; 6] = [
    Reason::Score,
    Reason::Allowlisted,
    Reason::Blocklisted,
    Reason::Banned,
    Reason::SubnetBanned,
    Reason::NetworkBanned,
];

const ACTIONS: [Action; 3] = [Action::Allow, Action::Tarpit, Action::Block];

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "rapsheet_requests_total",
                "Requests by verdict (allow, tarpit, block) and the reason for it",
            ),
            &["verdict", "reason"],
        )
        .expect("static metric definition is valid");
        let signal_fires = IntCounterVec::new(
            Opts::new("rapsheet_signal_fires_total", "Times each signal fired"),
            &["signal"],
        )
        .expect("static metric definition is valid");
        let metrics = Metrics {
            requests: ACTIONS.map(|action| {
                REASONS.map(|reason| requests.with_label_values(&[action.name(), reason.name()]))
            }),
            signal_fires: Signal::ALL
                .iter()
                .map(|signal| signal_fires.with_label_values(&[signal.name()]))
                .collect(),
            score: histogram(
                "rapsheet_score_at_verdict",
                "Score of clients carrying points, at each verdict",
                vec![10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0],
            ),
            engine_seconds: histogram(
                "rapsheet_engine_seconds",
                "Time spent in the scoring engine per request",
                vec![
                    1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 5e-5, 1e-4, 1e-3,
                ],
            ),
            bans_started: counter_vec(
                "rapsheet_bans_started_total",
                "Client bans started, by cause (score, manual)",
                "cause",
            ),
            bans_ended: counter("rapsheet_bans_ended_total", "Client bans that ended"),
            active_bans: gauge("rapsheet_active_bans", "Client bans running now"),
            subnet_bans_started: counter(
                "rapsheet_subnet_bans_started_total",
                "Subnet bans started",
            ),
            active_subnet_bans: gauge("rapsheet_active_subnet_bans", "Subnet bans running now"),
            tarpits_held: gauge("rapsheet_tarpits_held", "Tarpitted requests held now"),
            tarpits_refused: counter(
                "rapsheet_tarpits_refused_total",
                "Tarpits refused because the budget was full (answered 403 instead)",
            ),
            connections_refused: counter(
                "rapsheet_connections_refused_total",
                "Connections dropped before HTTP because the client is banned or blocklisted",
            ),
            store_clients: gauge("rapsheet_store_clients", "Client records in the store"),
            store_evictions: counter(
                "rapsheet_store_evictions_total",
                "Client records evicted because the store was full",
            ),
            store_capacity: gauge("rapsheet_store_capacity", "Configured store capacity"),
            reloads: counter_vec(
                "rapsheet_reloads_total",
                "Policy reloads by outcome (ok, rejected)",
                "outcome",
            ),
            last_reload_ok: gauge(
                "rapsheet_policy_files_valid",
                "1 when the policy files on disk were last accepted, 0 while a change is rejected",
            ),
            tarpits_budget: gauge(
                "rapsheet_tarpits_budget",
                "Tarpits the policy allows to be held at once (tarpit.max_held)",
            ),
            build_info: IntGaugeVec::new(
                Opts::new(
                    "rapsheet_build_info",
                    "Always 1; the version label names the build",
                ),
                &["version"],
            )
            .expect("static metric definition is valid"),
            upstream_errors: counter(
                "rapsheet_upstream_errors_total",
                "Requests the upstream could not answer",
            ),
            decision_log_dropped: counter(
                "rapsheet_decision_log_dropped_total",
                "Decision log entries dropped because the writer could not keep up",
            ),
            registry,
        };
        metrics.register(requests, signal_fires);
        // Every label value exists from the start, so alerts on rates never see a missing
        // series.
        for outcome in ["ok", "rejected"] {
            metrics.reloads.with_label_values(&[outcome]);
        }
        for cause in ["score", "manual"] {
            metrics.bans_started.with_label_values(&[cause]);
        }
        metrics.last_reload_ok.set(1);
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        metrics
    }

    fn register(&self, requests: IntCounterVec, signal_fires: IntCounterVec) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(requests),
            Box::new(signal_fires),
            Box::new(self.score.clone()),
            Box::new(self.engine_seconds.clone()),
            Box::new(self.bans_started.clone()),
            Box::new(self.bans_ended.clone()),
            Box::new(self.active_bans.clone()),
            Box::new(self.subnet_bans_started.clone()),
            Box::new(self.active_subnet_bans.clone()),
            Box::new(self.tarpits_held.clone()),
            Box::new(self.tarpits_refused.clone()),
            Box::new(self.connections_refused.clone()),
            Box::new(self.store_clients.clone()),
            Box::new(self.store_evictions.clone()),
            Box::new(self.store_capacity.clone()),
            Box::new(self.reloads.clone()),
            Box::new(self.last_reload_ok.clone()),
            Box::new(self.tarpits_budget.clone()),
            Box::new(self.build_info.clone()),
            Box::new(self.upstream_errors.clone()),
            Box::new(self.decision_log_dropped.clone()),
        ];
        for collector in collectors {
            self.registry
                .register(collector)
                .expect("each metric name is registered once");
        }
    }

    /// The registry, for the scrape endpoint.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts a request's verdict.
    pub fn count_request(&self, action: Action, reason: Reason) {
        let action = ACTIONS.iter().position(|a| *a == action).unwrap_or(0);
        let reason = REASONS.iter().position(|r| *r == reason).unwrap_or(0);
        self.requests[action][reason].inc();
    }

    /// Counts the signals in `fired` (bits by [`Signal::index`]).
    pub fn count_fires(&self, fired: u16) {
        if fired == 0 {
            return;
        }
        for signal in Signal::ALL {
            if fired & (1 << signal.index()) != 0 {
                self.signal_fires[signal.index()].inc();
            }
        }
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        use prometheus::Encoder;
        let mut buffer = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = encoder.encode(&self.registry.gather(), &mut buffer);
        buffer
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The scrape endpoint: samples the state-derived gauges, then renders every metric.
pub struct MetricsEndpoint {
    shared: Arc<Shared>,
}

impl MetricsEndpoint {
    /// An endpoint over `shared`.
    pub fn new(shared: Arc<Shared>) -> MetricsEndpoint {
        MetricsEndpoint { shared }
    }
}

#[async_trait]
impl ServeHttp for MetricsEndpoint {
    async fn response(&self, _session: &mut ServerSession) -> Response<Vec<u8>> {
        self.shared.sample();
        let body = self.shared.metrics.render();
        Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body)
            .unwrap_or_default()
    }
}

fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("static metric definition is valid")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("static metric definition is valid")
}

fn counter_vec(name: &str, help: &str, label: &str) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), &[label]).expect("static metric definition is valid")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("static metric definition is valid")
}

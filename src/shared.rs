//! The state every part of a running rapsheet shares: the engine with its client records,
//! the policy in force (swapped whole on reload), the clock, the metrics and the tarpit
//! budget. Decisions are logged and counted here, in one place, so a log line and the metric
//! for the same decision cannot disagree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::decision_log::{DecisionEntry, DecisionLog};
use crate::engine::{Action, Decision, Engine, Outcome};
use crate::metrics::Metrics;
use crate::policy::{Mode, Policy};
use crate::proxy::tarpit::TarpitBudget;

/// What the proxy phases, the connection filter, the admin API and the reloader share.
pub struct Shared {
    /// Client state and the scoring logic.
    pub engine: Engine,
    /// The policy in force; replaced whole on reload.
    pub policy: ArcSwap<Policy>,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// The proxy's metrics.
    pub metrics: Metrics,
    /// The tarpit budget.
    pub tarpits: Arc<TarpitBudget>,
    /// When the sampled metrics were last brought up to date (ms).
    last_sample_ms: AtomicU64,
    /// The store's eviction count at the last sample.
    last_evictions: AtomicU64,
    /// Where decisions are written as JSON lines, when configured.
    decisions: Option<DecisionLog>,
}

impl Shared {
    /// Shared state around `engine` and `policy`.
    pub fn new(engine: Engine, policy: Policy, clock: Arc<dyn Clock>) -> Shared {
        let metrics = Metrics::new();
        metrics
            .store_capacity
            .set(engine.store().limits().max_clients as i64);
        Shared {
            engine,
            policy: ArcSwap::from_pointee(policy),
            clock,
            metrics,
            tarpits: Arc::new(TarpitBudget::default()),
            last_sample_ms: AtomicU64::new(0),
            last_evictions: AtomicU64::new(0),
            decisions: None,
        }
    }

    /// The same state, writing every decision to `log` as well.
    pub fn with_decision_log(mut self, log: DecisionLog) -> Shared {
        self.decisions = Some(log);
        self
    }

    /// The decision log, when one is configured.
    pub fn decision_log(&self) -> Option<&DecisionLog> {
        self.decisions.as_ref()
    }

    /// Brings the metrics that are sampled from state (active bans, store size, bans that
    /// ran out) up to date; runs before each scrape, off the request path.
    pub fn sample(&self) {
        let now_ms = self.clock.now_ms();
        let since_ms = self.last_sample_ms.swap(now_ms, Ordering::AcqRel);
        let store = self.engine.store();
        store.sweep_idle(now_ms);
        store.sync();
        let mut active = 0;
        let mut ended = 0;
        for (_, offender) in store.offenders() {
            if offender.is_banned(now_ms) {
                active += 1;
            } else if offender.until_ms > since_ms && since_ms > 0 {
                ended += 1;
            }
        }
        let subnet_bans = store
            .subnets()
            .filter(|(_, subnet)| subnet.banned_until_ms() > now_ms)
            .count();
        let metrics = &self.metrics;
        metrics
            .tarpits_budget
            .set(self.policy.load().tarpit.max_held as i64);
        metrics.active_bans.set(active);
        metrics.bans_ended.inc_by(ended);
        metrics.active_subnet_bans.set(subnet_bans as i64);
        metrics.store_clients.set(store.client_count() as i64);
        let evictions = store.evictions();
        let before = self.last_evictions.swap(evictions, Ordering::AcqRel);
        metrics
            .store_evictions
            .inc_by(evictions.saturating_sub(before));
    }

    /// Counts a request's outcome and reports any decision it carried, in one place so the
    /// log line and the metric of a decision never disagree.
    pub fn record(&self, policy: &Policy, outcome: &Outcome) {
        let verdict = &outcome.verdict;
        self.metrics.count_request(verdict.action, verdict.reason);
        self.metrics.count_fires(outcome.fired);
        if verdict.score > 0 {
            self.metrics.score.observe(f64::from(verdict.score));
        }
        if let Some(decision) = &outcome.decision {
            self.report(policy, decision);
        }
    }

    /// Logs and counts a decision: a ban and the subnet ban it may have caused, or a client
    /// entering the tarpit.
    pub fn report(&self, policy: &Policy, decision: &Decision) {
        let signals = signal_list(decision);
        let mode = mode_name(policy.mode);
        let now_ms = self.clock.now_ms();
        if let Some(log) = &self.decisions {
            log.write(DecisionEntry::of_decision(decision, mode, now_ms));
        }
        if decision.action == Action::Tarpit {
            tracing::info!(
                reference = %decision.reference,
                client.ip = %decision.client,
                score = decision.score,
                severity = %decision.severity,
                signals = %signals,
                mode,
                "Client tarpitted"
            );
            return;
        }
        let ttl_secs = decision.until_ms.saturating_sub(now_ms) / 1000;
        self.metrics
            .bans_started
            .with_label_values(&["score"])
            .inc();
        tracing::info!(
            reference = %decision.reference,
            client.ip = %decision.client,
            score = decision.score,
            severity = %decision.severity,
            signals = %signals,
            strikes = decision.strikes,
            ttl_secs,
            mode,
            "Client banned"
        );
        if let Some((subnet, prefix, reference)) = decision.subnet {
            if let Some(log) = &self.decisions {
                let ttl_secs = policy.subnet_bans.ban_for.as_secs();
                let entry = DecisionEntry::of_subnet_ban(decision, ttl_secs, mode, now_ms);
                log.write(entry);
            }
            self.metrics.subnet_bans_started.inc();
            tracing::info!(
                reference = %reference,
                subnet = %format_args!("{subnet}/{prefix}"),
                ttl_secs = policy.subnet_bans.ban_for.as_secs(),
                mode,
                "Subnet banned"
            );
        }
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    }
}

/// `burst=35 danger_hits=60`, the form logs carry signals in.
fn signal_list(decision: &Decision) -> String {
    let parts: Vec<String> = decision
        .signals
        .iter()
        .map(|(signal, points)| format!("{signal}={points}"))
        .collect();
    parts.join(" ")
}

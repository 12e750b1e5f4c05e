//! Log output that an attack cannot turn into a flood.
//!
//! A client can make the proxy repeat itself: every banned address of a botnet is another
//! "Client banned", every malformed request another warning from Pingora. Written in full,
//! an attack becomes a disk-filling, journal-rotating, alert-drowning log flood. So each log
//! statement (a call site, or for events from the `log` crate its module, file and line) may
//! pass a few events per interval; beyond that its events are counted, not written, and when
//! its interval ends one warning says how many were suppressed. Debug and trace events are
//! never limited: they are off unless someone is investigating, and then they are wanted.
//!
//! The decision log is the complete record of decisions; this limit applies to the human log
//! only.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value};
use tracing::metadata::Kind;
use tracing::subscriber::{Interest, Subscriber};
use tracing::{span, Event, Level, Metadata};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::clock::{Clock, SystemClock};

/// Events each statement may log per interval by default.
pub const DEFAULT_BURST: u32 = 10;

/// The default interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Statements tracked at once; more call sites than any build of rapsheet has.
const TRACKED_MAX: usize = 4096;

/// A layer that passes at most `burst` events per statement and interval to `inner`.
pub struct RateLimit<L> {
    inner: L,
    burst: u32,
    interval_ms: u64,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    windows: HashMap<u64, Window>,
    next_sweep_ms: u64,
}

/// One statement's current interval.
struct Window {
    started_ms: u64,
    passed: u32,
    suppressed: u64,
    /// Where the statement is, for the summary.
    label: String,
}

/// A summary owed for a statement whose interval ended with events suppressed.
struct Suppressed {
    label: String,
    count: u64,
}

impl<L> RateLimit<L> {
    /// Limits `inner` to `burst` events per statement per `interval`, on the system clock.
    pub fn new(inner: L, burst: u32, interval: Duration) -> RateLimit<L> {
        RateLimit::with_clock(inner, burst, interval, Arc::new(SystemClock))
    }

    /// The same on `clock`, for tests.
    pub fn with_clock(
        inner: L,
        burst: u32,
        interval: Duration,
        clock: Arc<dyn Clock>,
    ) -> RateLimit<L> {
        RateLimit {
            inner,
            burst,
            interval_ms: interval.as_millis().max(1) as u64,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// Decides whether `event` passes, and collects the summaries that are due.
    fn admit(&self, event: &Event<'_>, due: &mut Vec<Suppressed>) -> bool {
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if *metadata.level() > Level::INFO {
            return true;
        }
        let now_ms = self.clock.now_ms();
        let key = statement_key(metadata);
        let mut state = self.state.lock();
        if now_ms >= state.next_sweep_ms {
            state.next_sweep_ms = now_ms + self.interval_ms;
            let interval_ms = self.interval_ms;
            state.windows.retain(|_, window| {
                let open = now_ms < window.started_ms + interval_ms;
                if !open && window.suppressed > 0 {
                    due.push(window.summary());
                }
                open
            });
        }
        if state.windows.len() >= TRACKED_MAX && !state.windows.contains_key(&key) {
            return true;
        }
        let window = state.windows.entry(key).or_insert_with(|| Window {
            started_ms: now_ms,
            passed: 0,
            suppressed: 0,
            label: label(metadata),
        });
        if now_ms >= window.started_ms + self.interval_ms {
            if window.suppressed > 0 {
                due.push(window.summary());
            }
            window.started_ms = now_ms;
            window.passed = 0;
            window.suppressed = 0;
        }
        if window.passed < self.burst {
            window.passed += 1;
            return true;
        }
        window.suppressed += 1;
        false
    }
}

impl Window {
    fn summary(&self) -> Suppressed {
        Suppressed {
            label: self.label.clone(),
            count: self.suppressed,
        }
    }
}

/// Identifies a statement: the same level, target, file and line are the same statement.
fn statement_key(metadata: &Metadata<'_>) -> u64 {
    let mut hasher = foldhash::fast::FixedState::with_seed(0x10_9e).build_hasher();
    metadata.level().hash(&mut hasher);
    metadata.target().hash(&mut hasher);
    metadata.file().hash(&mut hasher);
    metadata.line().hash(&mut hasher);
    metadata.name().hash(&mut hasher);
    std::hash::Hasher::finish(&hasher)
}

fn label(metadata: &Metadata<'_>) -> String {
    match (metadata.file(), metadata.line()) {
        (Some(file), Some(line)) => format!("{} {file}:{line}", metadata.target()),
        _ => metadata.target().to_string(),
    }
}

/// The call site of the summary event, built by hand: a summary is written straight to the
/// inner layer, because an event logged from inside a layer may be dropped by the
/// dispatcher's guard against recursion.
struct SummarySite;

static SUMMARY_SITE: SummarySite = SummarySite;

static SUMMARY_FIELDS: &[&str] = &["message", "suppressed", "statement"];

static SUMMARY: Metadata<'static> = Metadata::new(
    "log events suppressed",
    "rapsheet::logging",
    Level::WARN,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(SUMMARY_FIELDS, Identifier(&SUMMARY_SITE)),
    Kind::EVENT,
);

impl Callsite for SummarySite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &SUMMARY
    }
}

impl<S, L> Layer<S> for RateLimit<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(id, values, ctx);
    }

    fn on_follows_from(&self, id: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(id, follows, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut due = Vec::new();
        let admitted = self.admit(event, &mut due);
        for summary in due {
            let fields = SUMMARY.fields();
            let (Some(message), Some(suppressed), Some(statement)) = (
                fields.field("message"),
                fields.field("suppressed"),
                fields.field("statement"),
            ) else {
                continue;
            };
            let text = format_args!("Repeated log events suppressed");
            let values: [(&_, Option<&dyn Value>); 3] = [
                (&message, Some(&text)),
                (&suppressed, Some(&summary.count)),
                (&statement, Some(&summary.label.as_str())),
            ];
            let value_set = fields.value_set(&values);
            self.inner
                .on_event(&Event::new(&SUMMARY, &value_set), ctx.clone());
        }
        if admitted {
            self.inner.on_event(event, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use tracing_subscriber::layer::SubscriberExt;

    /// One thing a test does: log from one of two statements, or let time pass.
    #[derive(Clone, Copy)]
    enum Step {
        First,
        Second,
        Debug,
        Wait(u64),
    }

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `steps` with a burst of 2 per 10 s and checks the messages written, in order.
    fn check(steps: &[Step], expected: &[&str]) {
        let captured = Captured::default();
        let writer = captured.clone();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let output = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(move || writer.clone());
        let limited = RateLimit::with_clock(output, 2, Duration::from_secs(10), clock.clone());
        let subscriber = tracing_subscriber::registry().with(limited);
        tracing::subscriber::with_default(subscriber, || {
            for step in steps {
                match *step {
                    Step::First => tracing::warn!(client.ip = "192.0.2.1", "First"),
                    Step::Second => tracing::info!("Second"),
                    Step::Debug => tracing::debug!("Debug"),
                    Step::Wait(ms) => clock.advance_ms(ms),
                }
            }
        });
        let text = String::from_utf8(captured.0.lock().clone()).unwrap();
        let messages: Vec<String> = text
            .lines()
            .map(|line| line.trim_start())
            .map(|line| line.split_once(' ').map_or(line, |(_, rest)| rest.trim()))
            .map(|line| line.split(" statement=").next().unwrap_or(line).to_string())
            .collect();
        assert_eq!(messages, expected, "{text}");
    }

    #[test]
    fn each_statement_passes_its_burst_then_is_counted() {
        use Step::*;
        check(
            &[First, First, First, First],
            &["First client.ip=\"192.0.2.1\""; 2],
        );
        check(
            &[First, Second, First, Second, First, Second],
            &[
                "First client.ip=\"192.0.2.1\"",
                "Second",
                "First client.ip=\"192.0.2.1\"",
                "Second",
            ],
        );
        check(&[Debug, Debug, Debug], &["Debug"; 3]);
    }

    #[test]
    fn a_summary_follows_the_interval_that_suppressed() {
        use Step::*;
        let first = "First client.ip=\"192.0.2.1\"";
        check(
            &[First, First, First, First, First, Wait(10_000), First],
            &[
                first,
                first,
                "Repeated log events suppressed suppressed=3",
                first,
            ],
        );
        // Another statement's event after the interval brings the summary too.
        check(
            &[First, First, First, Wait(10_000), Second],
            &[
                first,
                first,
                "Repeated log events suppressed suppressed=1",
                "Second",
            ],
        );
        check(&[First, Wait(10_000), First], &[first, first]);
    }
}

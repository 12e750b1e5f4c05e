//! The tarpit: a request that is held and answered slowly instead of forwarded. A held
//! request costs one parked task and its connection buffers (tens of kilobytes), so the
//! number held at once is capped by a global budget; past it the client gets a plain 403 at
//! once. A held request gives up as soon as the process starts shutting down.
//!
//! Thousands may be held at once, so a held request wakes only to write: between writes it
//! waits on a timer and on the process's shutdown watch together, not on a polling loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use pingora::Result;

use crate::policy::Tarpit;

/// Counts held tarpits against the budget.
#[derive(Debug, Default)]
pub struct TarpitBudget {
    held: AtomicUsize,
    /// The process's shutdown watch, once a background service has handed it over.
    shutdown: OnceLock<ShutdownWatch>,
}

/// A place in the budget, given back on drop.
pub struct TarpitSlot {
    budget: Arc<TarpitBudget>,
}

impl TarpitSlot {
    /// A receiver of the process's shutdown watch, when it is known.
    fn shutdown(&self) -> Option<ShutdownWatch> {
        self.budget.shutdown.get().cloned()
    }
}

impl TarpitBudget {
    /// Takes a place if fewer than `max_held` are held.
    pub fn try_hold(self: &Arc<Self>, max_held: usize) -> Option<TarpitSlot> {
        let taken = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < max_held).then_some(held + 1)
            })
            .is_ok();
        taken.then(|| TarpitSlot {
            budget: Arc::clone(self),
        })
    }

    /// Tarpits held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Lets held requests wait on `shutdown` instead of polling for it. The first watch
    /// given is kept.
    pub fn watch_shutdown(&self, shutdown: &ShutdownWatch) {
        let _ = self.shutdown.set(shutdown.clone());
    }
}

impl Drop for TarpitSlot {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The longest sleep between shutdown checks when no shutdown watch is known, so a held
/// request ends promptly on shutdown even with a long drip interval.
const SHUTDOWN_POLL: Duration = Duration::from_millis(250);

/// Answers 429 at once, then drips the body a byte per interval for the tarpit's duration,
/// ending with a short explanation. The body is chunked, so every byte is flushed as written.
/// The interval stretches when so many are held that their drips would pass the policy's
/// `max_drips_per_second` (each drip is a timer, a wake-up and a write).
///
/// # Errors
///
/// Fails when the client went away; the caller treats that as the end of the tarpit.
pub async fn drip(session: &mut Session, tarpit: &Tarpit, slot: &TarpitSlot) -> Result<()> {
    let mut shutdown = slot.shutdown();
    let mut header = ResponseHeader::build(429, Some(4))?;
    header.insert_header("Content-Type", "text/plain; charset=utf-8")?;
    header.insert_header("Cache-Control", "no-store")?;
    header.insert_header("Transfer-Encoding", "chunked")?;
    session.set_keepalive(None);
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session
        .write_response_body(Some(Bytes::from_static(b" ")), false)
        .await?;

    let mut left = tarpit.duration;
    while !left.is_zero() {
        let wait = tarpit.drip_interval(slot.budget.held()).min(left);
        if !pause(session, shutdown.as_mut(), wait).await {
            break;
        }
        left -= wait;
        session
            .write_response_body(Some(Bytes::from_static(b" ")), false)
            .await?;
    }
    let closing = Bytes::from_static(b"\nToo many requests. Slow down and try again later.\n");
    session.write_response_body(Some(closing), true).await
}

/// Waits the tarpit's duration, then lets the caller refuse.
pub async fn delay(session: &Session, tarpit: &Tarpit, slot: &TarpitSlot) {
    pause(session, slot.shutdown().as_mut(), tarpit.duration).await;
}

/// Waits `length`; false when shutdown began first. With the shutdown watch this is one
/// timer and no wake-up until either fires; without it, sleeps in short steps and checks.
async fn pause(session: &Session, shutdown: Option<&mut ShutdownWatch>, length: Duration) -> bool {
    if session.is_process_shutting_down() {
        return false;
    }
    if let Some(watch) = shutdown {
        if *watch.borrow() {
            return false;
        }
        // A watch whose sender is gone never fires again; only the timer is left then.
        tokio::select! {
            () = tokio::time::sleep(length) => {}
            Ok(()) = watch.changed() => return false,
        }
        return !session.is_process_shutting_down();
    }
    let mut left = length;
    while !left.is_zero() {
        if session.is_process_shutting_down() {
            return false;
        }
        let step = left.min(SHUTDOWN_POLL);
        tokio::time::sleep(step).await;
        left -= step;
    }
    !session.is_process_shutting_down()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_caps_and_returns_places() {
        let budget = Arc::new(TarpitBudget::default());
        let first = budget.try_hold(2);
        let second = budget.try_hold(2);
        assert!(first.is_some() && second.is_some());
        assert!(budget.try_hold(2).is_none());
        drop(first);
        assert_eq!(budget.held(), 1);
        assert!(budget.try_hold(2).is_some());
    }
}

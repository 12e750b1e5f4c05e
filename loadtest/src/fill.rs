//! Memory per tracked client: fills an [`Engine`] with clients through
//! `Engine::on_request` and `Engine::on_response`, the calls the proxy makes, and reports the
//! growth of this process's resident memory divided by the clients in the store.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use rapsheet::engine::{Engine, RequestFacts};
use rapsheet::policy::Policy;
use rapsheet::store::StoreLimits;

use crate::procstat;

/// A time in ms since the Unix epoch (1 January 2026): the engine takes time as an argument.
const START_MS: u64 = 1_767_225_600_000;

/// Fills an engine with `clients` clients and prints the memory they take.
///
/// # Errors
///
/// Fails when the policy does not load.
pub fn run(clients: u32, policy: &Path) -> anyhow::Result<()> {
    let policy = Policy::load(policy)
        .map_err(|problems| anyhow::anyhow!("{problems}"))
        .context("loading the policy")?;
    let engine = Engine::new(StoreLimits {
        max_clients: u64::from(clients),
        ..StoreLimits::default()
    });
    let me = std::process::id();
    let before = procstat::rss_bytes(me);
    let started = Instant::now();
    for i in 0..clients {
        // 10.0.0.0/8 here is only a key in memory; nothing is sent anywhere.
        let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let mut request = RequestFacts::new(client, "GET", "/blog/2024/a-post/");
        request.host = Some("www.example.com");
        request.user_agent = Some(crate::site::BROWSERS[(i % 6) as usize]);
        let now_ms = START_MS + u64::from(i / 1000);
        let outcome = engine.on_request(&policy, &request, now_ms);
        engine.on_response(&policy, &request, &outcome, 200, now_ms);
    }
    engine.store().sync();
    let filled = started.elapsed();
    let after = procstat::rss_bytes(me);
    let stored = engine.store().client_count();
    let delta = after.saturating_sub(before);
    let summary = serde_json::json!({
        "clients_added": clients,
        "clients_in_store": stored,
        "rss_before_mb": before as f64 / 1048576.0,
        "rss_after_mb": after as f64 / 1048576.0,
        "bytes_per_client": delta as f64 / stored.max(1) as f64,
        "fill_seconds": filled.as_secs_f64(),
        "fill_ns_per_client": filled.as_nanos() as f64 / f64::from(clients.max(1)),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

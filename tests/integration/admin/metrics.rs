//! The metrics endpoint after a mixed run: the scrape parses as the Prometheus text format,
//! every series `src/metrics.rs` declares is there with a sensible value, and no label
//! value is an address.

use std::net::IpAddr;

use super::prometheus_text;
use super::{admin, seed_scanner, start, TOKEN};
use crate::harness::{client_from, get, TestProxy};

/// Series after the mixed run and the range each value must fall in.
const SENSIBLE: &[(&str, f64, f64)] = &[
    (
        r#"rapsheet_requests_total{reason="score",verdict="allow"}"#,
        18.0,
        18.0,
    ),
    (
        r#"rapsheet_requests_total{reason="score",verdict="block"}"#,
        1.0,
        1.0,
    ),
    (
        r#"rapsheet_signal_fires_total{signal="danger_hits"}"#,
        6.0,
        16.0,
    ),
    (
        r#"rapsheet_signal_fires_total{signal="redirect_probe"}"#,
        1.0,
        1.0,
    ),
    (r#"rapsheet_signal_fires_total{signal="xss"}"#, 0.0, 0.0),
    (r#"rapsheet_bans_started_total{cause="score"}"#, 1.0, 1.0),
    (r#"rapsheet_bans_started_total{cause="manual"}"#, 1.0, 1.0),
    ("rapsheet_active_bans", 2.0, 2.0),
    ("rapsheet_connections_refused_total", 1.0, 1.0),
    (r#"rapsheet_reloads_total{outcome="ok"}"#, 1.0, 2.0),
    ("rapsheet_store_clients", 2.0, 2.0),
    ("rapsheet_store_capacity", 1e6, 1e6),
    ("rapsheet_score_at_verdict_count", 10.0, 16.0),
    ("rapsheet_engine_seconds_count", 19.0, 19.0),
    ("rapsheet_tarpits_held", 0.0, 0.0),
    ("rapsheet_upstream_errors_total", 0.0, 0.0),
    ("rapsheet_decision_log_dropped_total", 0.0, 0.0),
];

/// The seed scanner, an ordinary visitor, a manual ban and a reload.
async fn mixed_run(proxy: &TestProxy) {
    seed_scanner(proxy, "127.0.0.21").await;
    let visitor = client_from("127.0.0.22");
    for path in ["/", "/about", "/static/site.css"] {
        get(&visitor, proxy, path, &[]).await.expect("answered");
        proxy.clock.advance_ms(3_000);
    }
    let ban = r#"{"target": "127.0.0.23", "duration": "1h"}"#;
    admin(proxy, "POST", "/v1/bans", Some(TOKEN), Some(ban)).await;
    assert!(get(&client_from("127.0.0.23"), proxy, "/", &[])
        .await
        .is_none());
    let reload = admin(proxy, "POST", "/v1/reload", Some(TOKEN), None).await;
    assert_eq!(reload.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_parse_and_every_series_is_present_after_a_mixed_run() {
    let proxy = start();
    mixed_run(&proxy).await;
    let url = format!("http://{}/metrics", proxy.metrics);
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let scrape = prometheus_text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs");
    let source = std::fs::read_to_string(source).expect("src/metrics.rs");
    for name in prometheus_text::declared_names(&source) {
        assert!(scrape.has_family(&name), "{name} is not in the scrape");
    }
    for (label_values, series) in scrape.samples() {
        for value in label_values {
            let looks_like_address = value.parse::<IpAddr>().is_ok() || value.contains("127.0.");
            assert!(!looks_like_address, "{series} has an address label");
        }
    }
    for (series, low, high) in SENSIBLE {
        let value = scrape
            .value(series)
            .unwrap_or_else(|| panic!("{series} missing"));
        assert!((*low..=*high).contains(&value), "{series} = {value}");
    }
}

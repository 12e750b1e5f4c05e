//! The engine's cost on the request path: an ordinary page request, with a browser's
//! headers, from a client already in a store of many clients, and the same with its
//! response learned. Run with
//! `cargo bench --bench engine`; BENCHMARKS.md records the results.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rapsheet::engine::{Engine, RequestFacts};
use rapsheet::policy::Policy;
use rapsheet::store::StoreLimits;

const NOW_MS: u64 = 1_767_225_600_000;

fn policy() -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/policy.yaml");
    Policy::load(&path).expect("shipped policy loads")
}

/// An engine whose store holds `clients` clients, each seen once.
fn filled(policy: &Policy, clients: u32) -> Engine {
    let engine = Engine::new(StoreLimits {
        max_clients: u64::from(clients) * 2,
        ..StoreLimits::default()
    });
    for i in 0..clients {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let request = RequestFacts::new(ip, "GET", "/");
        engine.on_request(policy, &request, NOW_MS);
    }
    // Moka finishes the fill's maintenance a bounded batch at a time; let it finish now
    // rather than inside the first measurement.
    for _ in 0..clients / 1_000 {
        engine.store().sync();
    }
    engine
}

const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
const REFERER: &str = "https://www.example.com/blog/";
const COOKIE: &str = "session=4f2a9c0e8b7d41e6a3c5; theme=dark";

/// The headers a browser sends with a page request, as the proxy hands them to the engine.
fn browser_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "www.example.com"),
        ("user-agent", USER_AGENT),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-GB,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("referer", REFERER),
        ("cookie", COOKIE),
        ("connection", "keep-alive"),
        ("upgrade-insecure-requests", "1"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "same-origin"),
        ("priority", "u=0, i"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

fn ordinary_request(c: &mut Criterion) {
    let policy = policy();
    let mut group = c.benchmark_group("known_client_request");
    for clients in [100_000u32, 1_000_000] {
        let engine = filled(&policy, clients);
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + clients / 2));
        let headers = browser_headers();
        let mut page = RequestFacts::new(ip, "GET", "/blog/2024/a-post");
        page.host = Some("www.example.com");
        page.user_agent = Some(USER_AGENT);
        page.referer = Some(REFERER);
        // The same page as the proxy sees it from a browser: with the session cookie and
        // the headers every browser sends.
        let mut browser_page = page;
        browser_page.cookie = Some(COOKIE);
        browser_page.headers = Some(&headers);
        let mut now = NOW_MS;
        for (name, request) in [("on_request", &page), ("browser_on_request", &browser_page)] {
            group.bench_with_input(BenchmarkId::new(name, clients), &clients, |b, _| {
                b.iter(|| {
                    now += 1_000;
                    black_box(engine.on_request(&policy, black_box(request), now))
                })
            });
        }
        group.bench_with_input(
            BenchmarkId::new("browser_on_request+on_response", clients),
            &clients,
            |b, _| {
                b.iter(|| {
                    now += 1_000;
                    let outcome = engine.on_request(&policy, black_box(&browser_page), now);
                    black_box(engine.on_response(&policy, &browser_page, &outcome, 200, now))
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = ordinary_request
}
criterion_main!(benches);

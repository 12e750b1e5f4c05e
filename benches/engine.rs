//! The engine's cost on the request path: an ordinary request from a client already in a
//! store of many clients, and the same with its response learned. Run with
//! `cargo bench --bench engine`; BENCHMARKS.md records the results.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
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

fn ordinary_request(c: &mut Criterion) {
    let policy = policy();
    let mut group = c.benchmark_group("known_client_request");
    for clients in [100_000u32, 1_000_000] {
        let engine = filled(&policy, clients);
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + clients / 2));
        let mut request = RequestFacts::new(ip, "GET", "/blog/2024/a-post");
        request.host = Some("www.example.com");
        request.user_agent =
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0");
        request.referer = Some("https://www.example.com/blog/");
        let mut now = NOW_MS;
        group.bench_with_input(BenchmarkId::new("on_request", clients), &clients, |b, _| {
            b.iter(|| {
                now += 1_000;
                black_box(engine.on_request(&policy, black_box(&request), now))
            })
        });
        group.bench_with_input(
            BenchmarkId::new("on_request+on_response", clients),
            &clients,
            |b, _| {
                b.iter(|| {
                    now += 1_000;
                    let outcome = engine.on_request(&policy, black_box(&request), now);
                    black_box(engine.on_response(&policy, &request, &outcome, 200, now))
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

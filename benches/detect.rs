//! The payload scanner's cost on the request path: what an ordinary request pays for each
//! component it carries (a plain path, a browser User-Agent, a typical cookie, a query with a
//! few parameters, one in German) and what an attack string costs. Run with `cargo bench --bench detect`.
//!
//! Every component of every request goes through `PayloadMatcher::scan`, so the ordinary cases
//! are the ones that bound the proxy's throughput; the attack case only has to stay bounded.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rapsheet::detect::payload::{Location, PayloadMatcher};

/// The components measured, as the proxy hands them over.
const CASES: &[(&str, Location, &str)] = &[
    (
        "plain_path",
        Location::Path,
        "/blog/2024/05/a-post-about-things",
    ),
    (
        "browser_user_agent",
        Location::Header,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        "cookie",
        Location::Cookie,
        "_ga=GA1.2.123.456; session=abc123",
    ),
    (
        "query",
        Location::Query,
        "q=red+running+shoes&page=2&sort=price_asc&utm_source=newsletter",
    ),
    (
        "non_ascii_query",
        Location::Query,
        "q=Sch%C3%B6ne+Gr%C3%BC%C3%9Fe+aus+M%C3%BCnchen&lang=de",
    ),
    (
        "attack",
        Location::Query,
        "id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--",
    ),
];

fn scan(c: &mut Criterion) {
    let matcher = PayloadMatcher::builtin();
    let mut group = c.benchmark_group("payload_scan");
    for (name, location, raw) in CASES {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(matcher.scan(*location, black_box(raw))))
        });
    }
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);

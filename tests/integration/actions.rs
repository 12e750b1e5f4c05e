//! Actions and identity: tarpits and their budget, escalating bans, subnet bans, lists,
//! trusted proxies, connection-level refusal and shadow mode, against the real proxy.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{client_from, get, TestProxy};

/// Danger paths worth 10 points each; the shipped list.
const DANGER: &str = "lists: { danger_paths: LISTS/danger-paths.txt }\n";

fn danger_policy(extra: &str) -> String {
    format!(
        "{DANGER}signals: {{ danger_hits: {{ points_per_path: 10, max_points: 60 }} }}\n{extra}"
    )
}

/// A raw connection from `source`, for tests that need to see a connection refused or
/// keep one open across a ban.
async fn connect_from(source: &str, proxy: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.parse().expect("source"), 0))?;
    socket.connect(proxy).await
}

/// Sends one keep-alive GET on `stream` and returns the status line, or `None` when the
/// connection was closed without an answer.
async fn raw_get(stream: &mut TcpStream, path: &str) -> Option<String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await;
    let n = read.ok()?.ok()?;
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    text.lines()
        .next()
        .filter(|line| line.starts_with("HTTP/"))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tarpitted_client_is_held_and_the_budget_caps_the_tarpit() {
    let policy = danger_policy(
        "tarpit_at: 20\nblock_at: 100\ntarpit: { duration: 1s, interval: 200ms, max_held: 1 }\n",
    );
    let proxy = TestProxy::start(&policy, "");
    let slow = client_from("127.0.1.1");
    let other = client_from("127.0.1.2");
    for client in [&slow, &other] {
        for path in ["/.env", "/.git/config"] {
            get(client, &proxy, path, &[]).await.expect("answered");
        }
    }
    let seen = proxy.demo.requests();

    let started = Instant::now();
    let response = slow
        .get(proxy.url("/"))
        .send()
        .await
        .expect("headers arrive");
    let first_byte = started.elapsed();
    assert_eq!(response.status(), 429);

    // While it is held, the budget of one is full: the next client gets 403 at once.
    let refused_at = Instant::now();
    let refused = get(&other, &proxy, "/", &[]).await.expect("answered");
    assert_eq!(refused.status, 403);
    assert!(
        refused_at.elapsed() < Duration::from_millis(800),
        "{:?}",
        refused_at.elapsed()
    );

    let body = response.text().await.expect("the drip completes");
    let held = started.elapsed();
    assert!(
        first_byte < Duration::from_millis(500),
        "first byte after {first_byte:?}"
    );
    assert!(held >= Duration::from_millis(1000), "held only {held:?}");
    assert!(body.contains("Too many requests"), "{body}");
    assert_eq!(
        proxy.demo.requests(),
        seen,
        "tarpitted requests never reach the upstream"
    );
    assert_eq!(proxy.metric("rapsheet_tarpits_refused_total"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn held_tarpits_end_as_soon_as_a_graceful_shutdown_begins() {
    let policy =
        danger_policy("tarpit_at: 20\nblock_at: 100\ntarpit: { duration: 1h, interval: 30m }\n");
    let proxy = TestProxy::start(&policy, "");
    let client = client_from("127.0.1.3");
    get(&client, &proxy, "/.env", &[]).await.expect("answered");
    // The second probe reaches tarpit_at and is held.
    let response = client
        .get(proxy.url("/.git/config"))
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(response.status(), 429);

    let stopping = Instant::now();
    let stopped = tokio::task::spawn_blocking(move || proxy.stop_gracefully());
    let body = tokio::time::timeout(Duration::from_secs(60), response.text())
        .await
        .expect("the held answer ends")
        .expect("the held answer ends with its closing words");
    let ended = stopping.elapsed();
    // The grace period is 5 s: a tarpit that held on through it would end only after it.
    assert!(
        ended < Duration::from_secs(4),
        "held {ended:?} into shutdown"
    );
    assert!(body.contains("Too many requests"), "{body}");
    stopped.await.expect("the proxy stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ban_within_memory_is_longer_by_the_multiplier() {
    let policy = danger_policy(
        "block_at: 20\nban_for: 1m\ndecay: 10s\n\
         repeat_offenders: { memory: 1h, multiplier: 3, max_ban: 1d, jitter: 0 }\n",
    );
    let proxy = TestProxy::start(&policy, "");
    let client = client_from("127.0.2.1");
    let key: IpAddr = "127.0.2.1".parse().unwrap();
    let offend = |first: &'static str, second: &'static str| {
        let (client, proxy) = (&client, &proxy);
        async move {
            assert_eq!(
                get(client, proxy, first, &[])
                    .await
                    .expect("answered")
                    .status,
                404
            );
            assert_eq!(
                get(client, proxy, second, &[])
                    .await
                    .expect("answered")
                    .status,
                403
            );
        }
    };

    offend("/.env", "/.git").await;
    let first = proxy.shared.engine.store().offender(key).expect("banned");
    assert_eq!(
        (first.strikes, first.until_ms - first.started_ms),
        (1, 60_000)
    );

    proxy.clock.advance_ms(61_000);
    assert_eq!(
        get(&client, &proxy, "/", &[])
            .await
            .expect("free again")
            .status,
        200
    );
    offend("/.aws", "/.ssh").await;
    let second = proxy
        .shared
        .engine
        .store()
        .offender(key)
        .expect("banned again");
    assert_eq!(
        (second.strikes, second.until_ms - second.started_ms),
        (2, 180_000)
    );

    proxy.clock.advance_ms(179_000);
    assert!(
        get(&client, &proxy, "/", &[]).await.is_none(),
        "still banned"
    );
    proxy.clock.advance_ms(2_000);
    assert_eq!(
        get(&client, &proxy, "/", &[]).await.expect("free").status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_banned_client_is_dropped_before_http_and_refused_on_open_connections() {
    let proxy = TestProxy::start(&danger_policy("block_at: 100\n"), "");
    let mut open = connect_from("127.0.3.1", proxy.address)
        .await
        .expect("connects");
    assert_eq!(
        raw_get(&mut open, "/").await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );

    let policy = proxy.shared.policy.load();
    let now = proxy.now_ms();
    let key = "127.0.3.1".parse().unwrap();
    proxy
        .shared
        .engine
        .ban(&policy, key, Duration::from_secs(600), "test".into(), now);

    // A new connection is dropped before any HTTP is read: no status line comes back.
    let mut fresh = connect_from("127.0.3.1", proxy.address)
        .await
        .expect("tcp accepts");
    assert_eq!(raw_get(&mut fresh, "/").await, None);
    // The connection opened before the ban gets 403 on its next request.
    assert_eq!(
        raw_get(&mut open, "/").await.as_deref(),
        Some("HTTP/1.1 403 Forbidden")
    );
    // Others are unaffected.
    let mut neighbour = connect_from("127.0.3.2", proxy.address)
        .await
        .expect("connects");
    assert_eq!(
        raw_get(&mut neighbour, "/").await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    assert_eq!(
        proxy.metric("rapsheet_connections_refused_total"),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_third_banned_member_bans_the_subnet() {
    let policy = danger_policy("block_at: 20\nsubnet_bans: { ban_after: 3, ban_for: 1h }\n");
    let proxy = TestProxy::start(&policy, "");
    for member in ["127.0.5.1", "127.0.5.2", "127.0.5.3"] {
        let client = client_from(member);
        get(&client, &proxy, "/.env", &[]).await.expect("answered");
        let reply = get(&client, &proxy, "/.git", &[]).await.expect("answered");
        assert_eq!(reply.status, 403, "{member}");
    }
    let fresh = client_from("127.0.5.200");
    assert!(
        get(&fresh, &proxy, "/", &[]).await.is_none(),
        "the /24 is banned"
    );
    let neighbour = client_from("127.0.6.200");
    assert_eq!(
        get(&neighbour, &proxy, "/", &[])
            .await
            .expect("answered")
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_decide_before_scoring_for_ipv4_and_ipv6() {
    let policy = "block_at: 10\nlists: { allowlist: allow.txt, blocklist: block.txt, \
                  danger_paths: LISTS/danger-paths.txt }\n\
                  signals: { danger_hits: { points_per_path: 10, max_points: 60 } }\n";
    let proxy = TestProxy::start_with_files(
        policy,
        "client_ip: { trusted_proxies: [127.0.0.1/32] }\n",
        &[
            ("allow.txt", "127.0.7.0/24\n2001:db8:a::/48\n"),
            ("block.txt", "127.0.8.8\n2001:db8:b::/48\n"),
        ],
    );
    let direct = |source| client_from(source);
    let via_balancer = client_from("127.0.0.1");
    let cases: Vec<(reqwest::Client, &str, Option<&str>, Option<u16>)> = vec![
        // Allowlisted: even a danger path is never scored or refused.
        (direct("127.0.7.7"), "/.env", None, Some(404)),
        (
            via_balancer.clone(),
            "/.env",
            Some("2001:db8:a::5"),
            Some(404),
        ),
        // Blocklisted: refused before HTTP when direct, 403 behind the balancer.
        (direct("127.0.8.8"), "/", None, None),
        (
            via_balancer.clone(),
            "/",
            Some("2001:db8:b:1::9"),
            Some(403),
        ),
        // Neither: scored as usual (10 points block at 10).
        (direct("127.0.9.9"), "/.env", None, Some(403)),
        (via_balancer.clone(), "/", Some("2001:db8:c::1"), Some(200)),
    ];
    for (client, path, forwarded, expected) in cases {
        let headers: Vec<(&str, &str)> = forwarded
            .map(|f| ("X-Forwarded-For", f))
            .into_iter()
            .collect();
        let status = get(&client, &proxy, path, &headers)
            .await
            .map(|reply| reply.status);
        assert_eq!(status, expected, "{path} {forwarded:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_forwarded_client_is_judged() {
    let proxy = TestProxy::start(
        &danger_policy("block_at: 20\n"),
        "client_ip: { trusted_proxies: [127.0.0.1/32], header: X-Forwarded-For }\n",
    );
    let balancer = client_from("127.0.0.1");
    let as_client = |ip: &'static str| [("X-Forwarded-For", ip)];
    get(&balancer, &proxy, "/.env", &as_client("198.51.100.7"))
        .await
        .expect("answered");
    let banned = get(&balancer, &proxy, "/.git", &as_client("198.51.100.7"))
        .await
        .expect("answered");
    assert_eq!(banned.status, 403);
    // The ban follows the forwarded client, not the balancer.
    let again = get(&balancer, &proxy, "/", &as_client("198.51.100.7"))
        .await
        .expect("answered");
    assert_eq!(again.status, 403);
    let other = get(&balancer, &proxy, "/", &as_client("198.51.100.8"))
        .await
        .expect("answered");
    assert_eq!(other.status, 200);

    // From an untrusted peer the header is ignored: the banned address cannot be framed,
    // and the peer itself is judged.
    let stranger = client_from("127.0.4.4");
    let framed = get(&stranger, &proxy, "/", &as_client("198.51.100.8"))
        .await
        .expect("answered");
    assert_eq!(framed.status, 200);
    let spoof = get(&stranger, &proxy, "/", &as_client("198.51.100.7"))
        .await
        .expect("answered");
    assert_eq!(
        spoof.status, 200,
        "a forged header does not borrow someone else's ban"
    );
    assert!(proxy
        .shared
        .engine
        .store()
        .client("127.0.4.4".parse().unwrap())
        .is_some());

    // Garbage and absurdly long headers are handled.
    let garbage = "not-an-ip, [::zz], 999.1.1.1, , ,";
    let reply = get(&balancer, &proxy, "/", &[("X-Forwarded-For", garbage)]).await;
    assert_eq!(reply.expect("answered").status, 200);
    let long: Vec<String> = (0..500)
        .map(|i| format!("10.1.{}.{}", i / 250, i % 250))
        .collect();
    let long = long.join(", ");
    let reply = get(
        &balancer,
        &proxy,
        "/",
        &[("X-Forwarded-For", long.as_str())],
    )
    .await;
    assert_eq!(reply.expect("answered").status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn shadow_mode_forwards_everything_and_counts_what_it_would_do() {
    let proxy = TestProxy::start(
        &danger_policy("mode: shadow\ntarpit_at: 10\nblock_at: 30\n"),
        "",
    );
    let client = client_from("127.0.10.1");
    let paths = ["/.env", "/.git", "/.aws", "/.ssh", "/"];
    for path in paths {
        let reply = get(&client, &proxy, path, &[]).await.expect("forwarded");
        assert!(
            reply.status == 404 || reply.status == 200,
            "{path}: {}",
            reply.status
        );
    }
    assert_eq!(proxy.demo.requests(), paths.len() as u64);
    let cases = [
        (
            "rapsheet_requests_total{reason=\"score\",verdict=\"tarpit\"}",
            2.0,
        ),
        (
            "rapsheet_requests_total{reason=\"score\",verdict=\"block\"}",
            1.0,
        ),
        (
            "rapsheet_requests_total{reason=\"banned\",verdict=\"block\"}",
            2.0,
        ),
        ("rapsheet_bans_started_total{cause=\"score\"}", 1.0),
    ];
    for (series, expected) in cases {
        assert_eq!(proxy.metric(series), Some(expected), "{series}");
    }
    // What Prometheus scrapes over HTTP says the same.
    let scraped = reqwest::get(format!("http://{}/metrics", proxy.metrics))
        .await
        .expect("scraped")
        .text()
        .await
        .expect("text");
    assert!(
        scraped.contains("rapsheet_bans_started_total{cause=\"score\"} 1"),
        "{scraped}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_handshake_on_the_plain_port_scores_its_sender() {
    let policy = "tarpit_at: 50\nblock_at: 100\ntarpit: { duration: 1s, interval: 200ms }\n\
                  signals: { malformed_request: { points: 60 } }\n";
    let proxy = TestProxy::start(policy, "");
    let fires = "rapsheet_signal_fires_total{signal=\"malformed_request\"}";

    // An ordinary request, and a request line Pingora refuses that starts with a letter: no
    // points for either.
    let mut browser = connect_from("127.0.4.1", proxy.address).await.unwrap();
    let status = raw_get(&mut browser, "/").await.expect("answered");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let mut junk = connect_from("127.0.4.2", proxy.address).await.unwrap();
    junk.write_all(b"HELP\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), junk.read_to_end(&mut answer)).await;
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");

    // A TLS ClientHello's first bytes from a scanner: still answered 400 by Pingora, and now
    // scored; its next request is tarpitted.
    let mut scanner = connect_from("127.0.4.3", proxy.address).await.unwrap();
    scanner
        .write_all(b"\x16\x03\x01\x00\xf7\x01\x00\x00\xf3\x03\x03\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), scanner.read_to_end(&mut answer)).await;
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
    assert_eq!(proxy.metric(fires), Some(1.0));
    let store = proxy.shared.engine.store();
    let scanner_ip: IpAddr = "127.0.4.3".parse().unwrap();
    let record = store.client(scanner_ip).expect("the scanner has a record");
    let policy = proxy.shared.policy.load();
    assert_eq!(record.score(&policy, proxy.now_ms()), 60);
    for quiet in ["127.0.4.1", "127.0.4.2"] {
        let ip: IpAddr = quiet.parse().unwrap();
        let score = store
            .client(ip)
            .map_or(0, |r| r.score(&policy, proxy.now_ms()));
        assert_eq!(score, 0, "{quiet}");
    }
    let served = proxy.demo.requests();
    let next = get(&client_from("127.0.4.3"), &proxy, "/", &[]).await;
    assert!(
        next.is_none_or(|reply| reply.status != 200),
        "tarpitted, not served"
    );
    assert_eq!(proxy.demo.requests(), served);
}

/// Sends `request` on a new connection from `source` and returns the whole answer.
async fn send_raw(source: &str, proxy: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect_from(source, proxy).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    answer
}

#[tokio::test]
async fn a_payload_in_a_request_pingora_cannot_parse_is_refused_by_rapsheet() {
    let policy = "tarpit_at: 50\nblock_at: 100\nsignals: { xss: { points: 100 } }\n";
    let proxy = TestProxy::start(policy, "");
    let served = proxy.demo.requests();

    // A raw `<` in the target: Pingora's URI parser refuses it, rapsheet reads it first.
    let attack = b"GET /get?x=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    let answer = send_raw("127.0.5.1", proxy.address, attack).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let xss = "rapsheet_signal_fires_total{signal=\"xss\"}";
    assert_eq!(proxy.metric(xss), Some(1.0));

    assert_eq!(
        proxy.demo.requests(),
        served,
        "the attack never reached the site"
    );

    // A stray quote breaks the same parser but carries nothing: it is left to Pingora (which
    // repairs or refuses such a line), and earns no points.
    let clumsy = b"GET /search?q=\"red shoes\" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let answer = send_raw("127.0.5.2", proxy.address, clumsy).await;
    assert!(
        !answer.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let store = proxy.shared.engine.store();
    let policy = proxy.shared.policy.load();
    let clumsy_ip: IpAddr = "127.0.5.2".parse().unwrap();
    let score = store
        .client(clumsy_ip)
        .map_or(0, |record| record.score(&policy, proxy.now_ms()));
    assert_eq!(score, 0);
}

//! The core promise: score every request per client, and refuse from the request that
//! crosses the threshold on, without harming ordinary visitors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{client_from, eventually, get, TestProxy};
use rapsheet::engine::{Severity, Signal};

/// The seed report's scanner, request by request: (path, status the demo answers, seconds
/// to wait before it). The last request fires a sixth danger path, a burst, a second
/// User-Agent and a foreign Referer at once.
const SEED_SESSION: &[(&str, u16, u64)] = &[
    ("/", 200, 0),
    ("/admin", 302, 3),
    ("/admin/", 404, 3),
    ("/about", 200, 3),
    ("/.env", 404, 3),
    ("/blog/", 200, 3),
    ("/.git/config", 404, 3),
    ("/", 200, 3),
    ("/wp-login.php", 404, 3),
    ("/about", 200, 3),
    ("/phpmyadmin/", 404, 3),
];

const SCANNER_UA: &str = "Mozilla/5.0 (compatible; Scanner/1.0)";

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_scanner_is_blocked_at_165_and_the_upstream_never_sees_it() {
    let proxy = TestProxy::with_shipped_policy("policy-strict.yaml", "");
    let client = client_from("127.0.0.21");
    let agent = [("User-Agent", SCANNER_UA)];

    for (path, status, wait_secs) in SEED_SESSION {
        proxy.clock.advance_ms(wait_secs * 1000);
        let reply = get(&client, &proxy, path, &agent).await.expect("answered");
        assert_eq!(reply.status, *status, "{path}");
    }
    // Four quick requests, then the fifth within two seconds crosses the threshold.
    proxy.clock.advance_ms(3000);
    for path in ["/", "/about", "/blog/", "/"] {
        let reply = get(&client, &proxy, path, &agent).await.expect("answered");
        assert_eq!(reply.status, 200, "{path}");
        proxy.clock.advance_ms(400);
    }
    let seen_before = proxy.demo.requests();
    let crossing = [
        ("User-Agent", "python-requests/2.31"),
        ("Referer", "http://seo-offers.example.net/"),
    ];
    let reply = get(&client, &proxy, "/wp-config.php", &crossing)
        .await
        .expect("answered");
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("quote reference"), "{}", reply.body);
    assert!(
        !reply.body.contains("165"),
        "the client is not told its score"
    );

    // From the crossing request on, nothing reaches the upstream: the next connection is
    // dropped before HTTP.
    assert!(get(&client, &proxy, "/", &agent).await.is_none());
    assert_eq!(proxy.demo.requests(), seen_before);
    assert!(!proxy
        .demo
        .recent()
        .iter()
        .any(|target| target == "/wp-config.php"));

    let policy = proxy.shared.policy.load();
    let record = proxy
        .shared
        .engine
        .store()
        .client("127.0.0.21".parse().unwrap())
        .unwrap();
    let now = proxy.now_ms();
    let mut signals = record.live_signals(&policy, now);
    signals.sort();
    assert_eq!(
        signals,
        [
            (Signal::NotFoundRatio, 15),
            (Signal::Burst, 35),
            (Signal::DangerHits, 60),
            (Signal::ForeignReferer, 10),
            (Signal::RedirectProbe, 20),
            (Signal::UaRotation, 25),
        ]
    );
    let score = record.score(&policy, now);
    assert_eq!(
        (score, policy.severity.of(score)),
        (165, Severity::Critical)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn page_loads_and_three_browsers_behind_one_address_pass() {
    let proxy = TestProxy::with_shipped_policy("policy.yaml", "");
    let client = client_from("127.0.0.22");
    let browsers = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ];
    for page in ["/", "/about", "/blog/", "/blog/first-post", "/login"] {
        for browser in browsers {
            let headers = [
                ("User-Agent", browser),
                ("Referer", "https://www.google.com/"),
            ];
            let reply = get(&client, &proxy, page, &headers)
                .await
                .expect("answered");
            assert_eq!(reply.status, 200, "{page}");
            let own = [("User-Agent", browser), ("Referer", "http://localhost/")];
            for i in 0..20 {
                // Three assets exist, the others are missing (404): a sloppy theme.
                let asset = match i % 4 {
                    0 => "/static/site.css".to_string(),
                    1 => "/static/app.js".to_string(),
                    2 => "/static/logo.svg".to_string(),
                    _ => format!("/static/missing-{i}.png"),
                };
                let reply = get(&client, &proxy, &asset, &own).await.expect("answered");
                assert_ne!(reply.status, 403, "{asset}");
                assert_ne!(reply.status, 429, "{asset}");
                proxy.clock.advance_ms(40);
            }
            let reply = get(&client, &proxy, "/favicon.ico", &own)
                .await
                .expect("answered");
            assert_eq!(reply.status, 404);
            proxy.clock.advance_ms(1_000);
        }
    }
    let record = proxy
        .shared
        .engine
        .store()
        .client("127.0.0.22".parse().unwrap())
        .unwrap();
    assert_eq!(record.score(&proxy.shared.policy.load(), proxy.now_ms()), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_upstream_gives_502_and_costs_the_client_nothing() {
    let dead = rapsheet::server::free_loopback_port().unwrap();
    let upstreams = format!("[\"{dead}\"]");
    let proxy = TestProxy::start_with_upstreams(
        "block_at: 20\nsignals:\n  not_found_ratio:\n    min_responses: 1\n    levels: [{ ratio: 0.1, points: 50 }]\n",
        &upstreams,
        "",
    );
    let client = client_from("127.0.0.23");
    for _ in 0..5 {
        let reply = get(&client, &proxy, "/", &[]).await.expect("answered");
        assert_eq!(reply.status, 502);
    }
    let record = proxy
        .shared
        .engine
        .store()
        .client("127.0.0.23".parse().unwrap())
        .unwrap();
    assert_eq!(record.score(&proxy.shared.policy.load(), proxy.now_ms()), 0);
    // The logging phase runs after the answer is sent: give the last one a moment.
    eventually("five upstream errors counted", || {
        proxy.metric("rapsheet_upstream_errors_total") == Some(5.0)
    });
}

/// Sends raw bytes on a fresh connection and returns what came back (possibly nothing).
fn raw_exchange(proxy: &TestProxy, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(proxy.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_never_take_the_proxy_down() {
    let proxy = TestProxy::with_shipped_policy("policy.yaml", "");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let cases: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET /%zz%%41%c0%af?a=%ff%G1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nUser-Agent: \xc3\x28\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        huge.into_bytes(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
    ];
    for case in &cases {
        let answer = raw_exchange(&proxy, case);
        assert!(!answer.contains(" 500 "), "{answer}");
    }
    let client = client_from("127.0.0.24");
    let reply = get(&client, &proxy, "/", &[]).await.expect("still serving");
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_borne_attack_is_blocked_and_clean_bodies_are_forwarded_whole() {
    let proxy = TestProxy::with_shipped_policy("policy.yaml", "");
    let client = client_from("127.0.0.25");
    let form = "user=alice&password=correct+horse+battery+staple&remember=on";
    let clean = client
        .post(proxy.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("answered");
    assert_eq!(clean.status(), 302, "the demo's login redirects");
    let seen = proxy.demo.requests();

    let attack = "user=admin'%20OR%20'1'='1'--&password=x";
    let blocked = client
        .post(proxy.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(attack)
        .send()
        .await
        .expect("answered");
    assert_eq!(blocked.status(), 403);
    assert_eq!(
        proxy.demo.requests(),
        seen,
        "the attack never reached the upstream"
    );

    let json = client_from("127.0.0.26");
    let reply = json
        .post(proxy.url("/login"))
        .header("Content-Type", "application/json")
        .body(r#"{"q": "<script>alert(document.cookie)</script>"}"#)
        .send()
        .await
        .expect("answered");
    assert_eq!(reply.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_named_like_server_configuration_is_held_back() {
    let proxy = TestProxy::with_shipped_policy("policy.yaml", "");
    let multipart = |file_name: &str| {
        format!(
            "--XB\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\nAddHandler x\r\n--XB--\r\n"
        )
    };
    let upload = |client: reqwest::Client, file_name: &str| {
        client
            .post(proxy.url("/upload"))
            .header("Content-Type", "multipart/form-data; boundary=XB")
            .body(multipart(file_name))
            .send()
    };
    let photo = upload(client_from("127.0.0.27"), "holiday.jpg")
        .await
        .expect("answered");
    assert_ne!(photo.status(), 429);
    assert_ne!(photo.status(), 403);
    let seen = proxy.demo.requests();

    let config = upload(client_from("127.0.0.28"), ".htaccess")
        .await
        .expect("answered");
    assert_eq!(config.status(), 429, "tarpitted on its first request");
    assert_eq!(
        proxy.demo.requests(),
        seen,
        "the upload never reached the upstream"
    );
}

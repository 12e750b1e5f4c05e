//! The admin API over HTTP: the seed scanner's rap sheet as JSON and as a page, escaping of
//! what clients sent, the token rules for changes, bans set and lifted, the exports, the
//! decision log, and the metrics endpoint after a mixed run.

mod metrics;
mod prometheus_text;

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{client_from, conf, get, TestProxy};
use rapsheet::admin::{AdminApp, AdminRequest};

const TOKEN: &str = "s3cret-admin-token-for-tests";

const SCANNER_UA: &str = "Mozilla/5.0 (compatible; Scanner/1.0)";

/// The seed report's scanner: (path, seconds to wait before it), then four quick requests
/// and a crossing one with a new User-Agent and a foreign Referer (as in `core.rs`).
const SEED_SESSION: &[(&str, u64)] = &[
    ("/", 0),
    ("/admin", 3),
    ("/admin/", 3),
    ("/about", 3),
    ("/.env", 3),
    ("/blog/", 3),
    ("/.git/config", 3),
    ("/", 3),
    ("/wp-login.php", 3),
    ("/about", 3),
    ("/phpmyadmin/", 3),
];

/// The strict policy (the seed's values), a token file, and a decision log.
fn start() -> TestProxy {
    let text = std::fs::read_to_string(conf("policy-strict.yaml")).expect("shipped policy");
    let server = "admin: { listen: \"ADMIN\", token_file: admin.token }\n\
                  decision_log: { path: decisions.jsonl }\n";
    TestProxy::start_with_files(
        &text.replace("lists/", "LISTS/"),
        server,
        &[("admin.token", &format!("{TOKEN}\n"))],
    )
}

async fn seed_scanner(proxy: &TestProxy, source: &str) {
    let client = client_from(source);
    let agent = [("User-Agent", SCANNER_UA)];
    for (path, wait_secs) in SEED_SESSION {
        proxy.clock.advance_ms(wait_secs * 1000);
        get(&client, proxy, path, &agent).await.expect("answered");
    }
    proxy.clock.advance_ms(3000);
    for path in ["/", "/about", "/blog/", "/"] {
        get(&client, proxy, path, &agent).await.expect("answered");
        proxy.clock.advance_ms(400);
    }
    let crossing = [
        ("User-Agent", "python-requests/2.31"),
        ("Referer", "http://seo-offers.example.net/"),
    ];
    let reply = get(&client, proxy, "/wp-config.php", &crossing).await;
    assert_eq!(reply.expect("answered").status, 403);
}

/// What the admin API answered.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// Sends `method path` to the admin API from loopback, with `token` as bearer and `body`.
async fn admin(
    proxy: &TestProxy,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let url = format!("http://{}{path}", proxy.admin);
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("admin answered");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("admin body"),
    }
}

/// What the seed scanner's sheet says: JSON pointers and their values (as JSON).
const SEED_SHEET: &[(&str, &str)] = &[
    ("/score", "165"),
    ("/score_text", r#""165/100""#),
    ("/severity", r#""critical""#),
    ("/signals/0", r#"["not_found_ratio", 15]"#),
    ("/signals/1", r#"["burst", 35]"#),
    ("/signals/2", r#"["danger_hits", 60]"#),
    ("/signals/3", r#"["foreign_referer", 10]"#),
    ("/signals/4", r#"["redirect_probe", 20]"#),
    ("/signals/5", r#"["ua_rotation", 25]"#),
    ("/attack_vectors", "5"),
    ("/verdict/action", r#""block""#),
    ("/verdict/reason", r#""banned""#),
    ("/activity/requests", "16"),
    ("/activity/hostile_requests", "9"),
    ("/evidence/0/target", r#""/admin""#),
    ("/evidence/0/status", "302"),
    (
        "/evidence/0/user_agent",
        r#""Mozilla/5.0 (compatible; Scanner/1.0)""#,
    ),
    ("/evidence/8/target", r#""/wp-config.php""#),
    ("/evidence/8/method", r#""GET""#),
    ("/evidence/8/user_agent", r#""python-requests/2.31""#),
    ("/evidence/8/referer", r#""http://seo-offers.example.net/""#),
    ("/recommendations/0/topic", r#""not_found_ratio""#),
    ("/recommendations/5/topic", r#""ua_rotation""#),
    ("/recommendations/6/topic", r#""firewall""#),
];

/// The same facts on the page, as its HTML has them.
const SEED_PAGE: &[&str] = &[
    "<div class=\"big\">165/100</div>",
    "<strong>Critical</strong>",
    "<td class=\"mono\">danger_hits</td>",
    "<td class=\"num\">+60</td>",
    "<td class=\"num\">+35</td>",
    "<td class=\"mono\">/wp-config.php</td>",
    "<td class=\"mono\">python-requests/2.31</td>",
    "5 distinct attack vectors",
    "deploy/fail2ban/filter.d/rapsheet-404.conf",
    "nft add element inet rapsheet banned_v4 &#39;{ 127.0.0.21 timeout",
];

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_scanner_has_a_rap_sheet_with_its_six_signals_and_evidence() {
    let proxy = start();
    seed_scanner(&proxy, "127.0.0.21").await;

    let answer = admin(&proxy, "GET", "/v1/clients/127.0.0.21", None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut sheet = answer.json();
    // Signals compare as [name, points] pairs.
    for row in sheet["signals"].as_array_mut().expect("signals") {
        *row = serde_json::json!([row["signal"], row["points"]]);
    }
    for (pointer, expected) in SEED_SHEET {
        let expected: Value = serde_json::from_str(expected).expect("expected JSON");
        assert_eq!(sheet.pointer(pointer), Some(&expected), "{pointer}");
    }
    let summary = sheet["summary"].as_str().unwrap();
    for phrase in [
        "165/100 (Critical)",
        "5 distinct attack vectors",
        "are not checked",
    ] {
        assert!(summary.contains(phrase), "{summary}");
    }

    // The same facts as a page, with a policy that lets nothing run.
    let page = admin(&proxy, "GET", "/clients/127.0.0.21", None, None).await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    for fact in SEED_PAGE {
        assert!(page.body.contains(fact), "the page lacks {fact}");
    }
    let top = admin(&proxy, "GET", "/v1/offenders?limit=5", None, None).await;
    let first = &top.json()["offenders"][0];
    assert_eq!(
        (&first["client"], &first["score"]),
        (&"127.0.0.21".into(), &165.into())
    );
    let index = admin(&proxy, "GET", "/", None, None).await;
    let link = "<a href=\"/clients/127.0.0.21\">127.0.0.21</a>";
    assert!(index.body.contains(link), "{}", index.body);
}

/// Sends one raw request from `source`, so the target and headers hold exactly what a
/// hostile client would send.
async fn raw_request(proxy: &TestProxy, source: &str, target: &str, headers: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind((source.parse::<IpAddr>().unwrap(), 0).into())
        .unwrap();
    let mut stream = socket.connect(proxy.address).await.unwrap();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_client_sent_is_escaped_on_the_page() {
    let proxy = start();
    let source = "127.0.0.31";
    // A literal `<` in the request target never gets past the HTTP parser (rapsheet reads
    // such a line first, and leaves it to Pingora's 400 when no signal refuses it)...
    let refused = raw_request(&proxy, "127.0.0.32", "/<script>alert(0)</script>", "").await;
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    // ...but headers carry anything, and a target carries quotes and ampersands. A second
    // User-Agent fires ua_rotation and a foreign Referer fires foreign_referer, which keeps
    // the request as evidence.
    raw_request(&proxy, source, "/", "User-Agent: Mozilla/5.0\r\n").await;
    let target = "/search?q=%3Cscript%3Ealert(2)%3C/script%3E&x='y'";
    let headers = "User-Agent: <script>alert(1)</script>\r\n\
                   Referer: http://evil.example/\"><script>alert(3)</script>\r\n";
    let answer = raw_request(&proxy, source, target, headers).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    let sheet = admin(&proxy, "GET", "/v1/clients/127.0.0.31", None, None)
        .await
        .json();
    let evidence = &sheet["evidence"][0];
    assert_eq!(evidence["user_agent"], "<script>alert(1)</script>");
    assert_eq!(
        evidence["referer"],
        "http://evil.example/\"><script>alert(3)</script>"
    );
    assert_eq!(evidence["target"], target);

    let page = admin(&proxy, "GET", "/clients/127.0.0.31", None, None).await;
    for escaped in [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "http://evil.example/&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;",
        "/search?q=%3Cscript%3Ealert(2)%3C/script%3E&amp;x=&#39;y&#39;",
    ] {
        assert!(page.body.contains(escaped), "the page lacks {escaped}");
    }
    assert!(!page.body.contains("<script"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_need_the_token_and_a_refused_change_changes_nothing() {
    let proxy = start();
    let visitor = client_from("127.0.0.41");
    let ban = r#"{"target": "127.0.0.41", "duration": "1h", "reason": "test ban"}"#;
    let manual = "rapsheet_bans_started_total{cause=\"manual\"}";

    for token in [None, Some("wrong-token-of-the-same-len"), Some("")] {
        let answer = admin(&proxy, "POST", "/v1/bans", token, Some(ban)).await;
        assert_eq!(answer.status, 401, "{token:?}");
        assert_eq!(answer.json()["error"], "missing or wrong token");
    }
    let bans = admin(&proxy, "GET", "/v1/bans", None, None).await.json();
    assert_eq!(bans["clients"].as_array().unwrap().len(), 0);
    assert_eq!(proxy.metric(manual), Some(0.0));
    let reply = get(&visitor, &proxy, "/", &[]).await.expect("still served");
    assert_eq!(reply.status, 200);

    let answer = admin(&proxy, "POST", "/v1/bans", Some(TOKEN), Some(ban)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.json()["banned"], "127.0.0.41");
    assert_eq!(answer.json()["ttl_secs"], 3600);
    assert!(get(&client_from("127.0.0.41"), &proxy, "/", &[])
        .await
        .is_none());
    assert_eq!(proxy.metric(manual), Some(1.0));
    let bans = admin(&proxy, "GET", "/v1/bans", None, None).await.json();
    assert_eq!(bans["clients"][0]["client"], "127.0.0.41");
    assert_eq!(bans["clients"][0]["reason"], "test ban");
    let sheet = admin(&proxy, "GET", "/v1/clients/127.0.0.41", None, None)
        .await
        .json();
    assert_eq!(sheet["verdict"]["reason"], "banned");
    assert_eq!(sheet["ban"]["cause"], "manual");

    let lift = admin(&proxy, "DELETE", "/v1/bans/127.0.0.41", None, None).await;
    assert_eq!(lift.status, 401);
    assert!(get(&client_from("127.0.0.41"), &proxy, "/", &[])
        .await
        .is_none());
    let lift = admin(&proxy, "DELETE", "/v1/bans/127.0.0.41", Some(TOKEN), None).await;
    assert_eq!(
        (lift.status, lift.json()["lifted"].clone()),
        (200, "127.0.0.41".into())
    );
    let reply = get(&client_from("127.0.0.41"), &proxy, "/", &[]).await;
    assert_eq!(reply.expect("served again").status, 200);
    let again = admin(&proxy, "DELETE", "/v1/bans/127.0.0.41", Some(TOKEN), None).await;
    assert_eq!(again.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn networks_are_banned_exported_and_lifted() {
    let proxy = start();
    let ban = r#"{"target": "127.0.1.0/24", "duration": "30m", "reason": "test"}"#;
    let answer = admin(&proxy, "POST", "/v1/bans", Some(TOKEN), Some(ban)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let neighbour = client_from("127.0.1.5");
    assert!(get(&neighbour, &proxy, "/", &[]).await.is_none());
    seed_scanner(&proxy, "127.0.0.21").await;

    let export = |name: &'static str| admin(&proxy, "GET", name, None, None);
    let nft = export("/v1/exports/nftables").await.body;
    assert!(nft.contains("127.0.1.0/24 timeout "), "{nft}");
    assert!(nft.contains("127.0.0.21 timeout "), "{nft}");
    let text = export("/v1/exports/bans.txt").await.body;
    assert_eq!(text, "127.0.0.21\n127.0.1.0/24\n");
    let csv = export("/v1/exports/abuseipdb.csv").await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let rows: Vec<&str> = csv.body.lines().collect();
    assert_eq!(rows.len(), 2, "{}", csv.body);
    assert!(
        rows[1].starts_with("127.0.0.21,\"10,19,21\","),
        "{}",
        rows[1]
    );

    let subnet = export("/v1/subnets/127.0.0.0/24").await;
    assert_eq!(subnet.json()["subnet"], "127.0.0.0/24", "{}", subnet.body);
    let lift = admin(&proxy, "DELETE", "/v1/bans/127.0.1.0/24", Some(TOKEN), None).await;
    assert_eq!(lift.status, 200, "{}", lift.body);
    let reply = get(&client_from("127.0.1.5"), &proxy, "/", &[]).await;
    assert_eq!(reply.expect("served again").status, 200);

    let events = decision_log(&proxy);
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            let target = e["client"].as_str().or(e["network"].as_str()).unwrap();
            (e["event"].as_str().unwrap(), target)
        })
        .collect();
    let expected = [
        ("network_ban", "127.0.1.0/24"),
        ("ban", "127.0.0.21"),
        ("lift", "127.0.1.0/24"),
    ];
    assert_eq!(kinds, expected);
    assert_eq!(
        (&events[1]["score"], &events[1]["strikes"]),
        (&165.into(), &1.into())
    );
    assert_eq!(events[1]["signals"].as_array().unwrap().len(), 6);
    assert!(events[1]["ttl_secs"].as_u64().unwrap() > 3000);
}

/// Every line of the decision log, once everything queued is written.
fn decision_log(proxy: &TestProxy) -> Vec<Value> {
    let log = proxy.shared.decision_log().expect("configured");
    assert!(log.flush());
    let text = std::fs::read_to_string(proxy.dir.path().join("decisions.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Requests the API refuses: the request line, the body, and the status with the error.
const BAD_REQUESTS: &[(&str, &str, &str)] = &[
    (
        "GET /v1/clients/not-an-address",
        "",
        "400 malformed address",
    ),
    ("GET /v1/clients/192.0.2.99", "", "404 unknown client"),
    ("GET /v1/clients/2001:db8::1", "", "404 unknown client"),
    ("GET /v1/offenders?limit=0", "", "400 malformed limit"),
    (
        "GET /v1/subnets/127.0.0.0/16",
        "",
        "400 not a subnet of this policy",
    ),
    ("GET /v1/subnets/192.0.2.0/24", "", "404 unknown subnet"),
    ("GET /v1/exports/other", "", "404 no such endpoint"),
    ("POST /v1/bans", "{", "400 malformed request body"),
    (
        "POST /v1/bans",
        r#"{"target":"x","duration":"1h"}"#,
        "400 malformed address",
    ),
    (
        "POST /v1/bans",
        r#"{"target":"::/0","duration":"1h"}"#,
        "400 malformed address",
    ),
    (
        "POST /v1/bans",
        r#"{"target":"::1","duration":"1"}"#,
        DURATION,
    ),
    (
        "POST /v1/bans",
        r#"{"target":"::1","duration":"1h","x":1}"#,
        BODY,
    ),
    ("DELETE /v1/bans/nope", "", "400 malformed address"),
    ("DELETE /v1/bans/192.0.2.1", "", "404 no running ban"),
];

const DURATION: &str = "400 duration must be from 1s to 365d";

const BODY: &str = "400 malformed request body";

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_short_errors() {
    let proxy = start();
    for (request, body, expected) in BAD_REQUESTS {
        let (method, path) = request.split_once(' ').unwrap();
        let body = Some(*body).filter(|body| !body.is_empty());
        let answer = admin(&proxy, method, path, Some(TOKEN), body).await;
        let error = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(format!("{} {error}", answer.status), *expected, "{request}");
    }
    let page = admin(&proxy, "GET", "/clients/999.1.1.1", None, None).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("<h1>malformed address</h1>"));

    // Reads from beyond loopback need the token too.
    let (shared, reloader) = (proxy.shared.clone(), proxy.reloader.clone());
    let app = AdminApp::new(shared, reloader, Some(TOKEN.into()));
    let remote = |bearer: Option<&str>| AdminRequest {
        method: http::Method::GET,
        path: "/v1/bans".into(),
        query: None,
        peer: Some("192.0.2.50".parse::<IpAddr>().unwrap()),
        bearer: bearer.map(str::to_string),
        body: Vec::new(),
    };
    assert_eq!(app.handle(&remote(None)).status.as_u16(), 401);
    assert_eq!(app.handle(&remote(Some(TOKEN))).status.as_u16(), 200);
}

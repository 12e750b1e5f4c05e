//! Rap sheets as data: a client's requests through the engine, and what its sheet must say.
//! The nft commands a sheet recommends are handed to `nft -c` when nft can run here.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::*;
use crate::engine::RequestFacts;
use crate::store::StoreLimits;

/// 2026-01-01T00:00:00Z.
const START_MS: u64 = 1_767_225_600_000;

/// One request: (ms after the start, path, status the site answers, User-Agent, Referer).
type Request = (u64, &'static str, u16, &'static str, Option<&'static str>);

fn policy(name: &str) -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(name);
    Policy::load(&path).unwrap_or_else(|problems| panic!("{problems}"))
}

/// Plays `requests` from `ip` and returns the sheet one second after the last.
fn sheet_after(policy: &Policy, ip: &str, requests: &[Request]) -> RapSheet {
    let engine = Engine::new(StoreLimits::default());
    let ip: IpAddr = ip.parse().unwrap();
    let mut now_ms = START_MS;
    for (after_ms, path, status, agent, referer) in requests {
        now_ms = START_MS + after_ms;
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (*path, None),
        };
        let mut request = RequestFacts::new(ip, "GET", path);
        request.query = query;
        request.host = Some("www.example.com");
        request.user_agent = Some(agent);
        request.referer = *referer;
        let outcome = engine.on_request(policy, &request, now_ms);
        let status = if outcome.verdict.action == Action::Allow {
            *status
        } else {
            403
        };
        engine.on_response(policy, &request, &outcome, status, now_ms + 5);
    }
    if requests.is_empty() {
        engine.ban(
            policy,
            ip,
            Duration::from_secs(600),
            "by hand".into(),
            now_ms,
        );
    }
    RapSheet::build(&engine, policy, ip, now_ms + 1_000).expect("a known client")
}

/// Checks what `sheet` says: its recommendation topics in order, and phrases that must and
/// must not appear in its summary and advice.
fn check(sheet: &RapSheet, topics: &[&str], present: &[&str], absent: &[&str]) {
    let got: Vec<&str> = sheet.recommendations.iter().map(|r| r.topic).collect();
    assert_eq!(got, topics);
    let advice: Vec<&str> = sheet
        .recommendations
        .iter()
        .map(|r| r.advice.as_str())
        .collect();
    let text = format!("{}\n{}", sheet.summary, advice.join("\n"));
    for phrase in present {
        assert!(text.contains(phrase), "lacks {phrase:?}:\n{text}");
    }
    for phrase in absent {
        assert!(!text.contains(phrase), "has {phrase:?}:\n{text}");
    }
    assert!(sheet.summary.ends_with(NOT_CHECKED));
    check_nft_commands(sheet);
}

const UA: &str = "Mozilla/5.0 (compatible; Scanner/1.0)";

#[test]
fn a_probing_client_gets_advice_for_each_signal_and_the_firewall() {
    let requests: Vec<Request> = [
        "/.env",
        "/.git/config",
        "/wp-login.php",
        "/phpmyadmin/",
        "/admin/",
        "/.aws",
    ]
    .iter()
    .enumerate()
    .map(|(i, path)| {
        (
            i as u64 * 100,
            *path,
            404,
            UA,
            Some("http://spam.example.net/"),
        )
    })
    .collect();
    let sheet = sheet_after(&policy("policy-strict.yaml"), "192.0.2.10", &requests);
    // The fifth request crosses 100; the sixth, refused, still adds a sixth danger path.
    assert_eq!(
        (sheet.score_text.as_str(), sheet.severity),
        ("130/100", "critical")
    );
    check(
        &sheet,
        &[
            "not_found_ratio",
            "burst",
            "danger_hits",
            "foreign_referer",
            "firewall",
        ],
        &[
            "192.0.2.10 has a score of 130/100 (Critical) from 4 signals: not_found_ratio +25, \
             burst +35, danger_hits +60, foreign_referer +10.",
            "4 distinct attack vectors (enumeration, scanning, probing, referer spam)",
            "in its 1-day observation window it sent 6 requests, 6 of them hostile",
            "It is banned until 2026-01-01T0",
            "deploy/fail2ban/filter.d/rapsheet-404.conf",
            "(/.env, /.git/config, /wp-login.php, /phpmyadmin/, /admin/, /.aws)",
            "(http://spam.example.net/)",
            "(5 or more within 2s)",
            "no other client of 192.0.2.0/24 is banned now",
        ],
        &["located", "hosting provider", "data center", "country"],
    );
}

#[test]
fn payloads_get_the_fix_the_application_needs() {
    let requests: &[Request] = &[
        (
            0,
            "/item?id=1%27%20OR%20%271%27=%271",
            200,
            "Mozilla/5.0",
            None,
        ),
        (
            3_000,
            "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
            200,
            "Mozilla/5.0",
            None,
        ),
    ];
    let sheet = sheet_after(&policy("policy.yaml"), "198.51.100.20", requests);
    // The injection bans at once; the script, sent while banned, is still evidence.
    check(
        &sheet,
        &["xss", "sql_injection", "firewall"],
        &[
            "Encode output for its context",
            "parameterised queries",
            "rapsheet kept them from the site",
            "rapsheet refuses 198.51.100.20 until",
        ],
        &["answered these with success"],
    );
}

#[test]
fn an_ipv6_client_is_dropped_by_its_prefix() {
    // Banned by hand for ten minutes, a second before the sheet is taken.
    let sheet = sheet_after(&policy("policy.yaml"), "2001:db8:1:2::99", &[]);
    assert_eq!(sheet.client_key, "2001:db8:1:2::/64");
    check(
        &sheet,
        &["firewall"],
        &["rapsheet refuses 2001:db8:1:2::/64 until"],
        &[],
    );
    let commands = sheet.recommendations[0].commands.join("\n");
    assert!(commands.contains("banned_v6 '{ 2001:db8:1:2::/64 timeout 599s }'"));
    assert!(commands.contains("banned_v6 '{ 2001:db8:1::/48 timeout 599s }'"));
}

/// Runs every nft command and script the sheet recommends through `nft -c`. Each firewall
/// command is checked after the one-time setup, as its own transaction, the way an operator
/// runs them; a delete after the add it undoes.
fn check_nft_commands(sheet: &RapSheet) {
    if !nft_runs("table inet rapsheet_probe {}\n") {
        eprintln!("nft -c cannot run here; the recommended commands were not checked by nft");
        return;
    }
    for recommendation in &sheet.recommendations {
        let mut commands: Vec<String> = Vec::new();
        for block in &recommendation.commands {
            if let Some((_, script)) = block.split_once("<<'EOF'\n") {
                let script = script.trim_end_matches("EOF");
                assert!(nft_runs(script), "nft refuses:\n{script}");
                continue;
            }
            let lines = block.lines().filter_map(|line| line.strip_prefix("nft "));
            commands.extend(lines.map(|line| line.replace('\'', "") + "\n"));
        }
        let setup: String = commands
            .iter()
            .filter(|c| !c.contains(" element "))
            .cloned()
            .collect();
        let first_add = commands.iter().find(|c| c.starts_with("add element"));
        for command in commands.iter().filter(|c| c.contains(" element ")) {
            let before = match first_add {
                Some(add) if command.starts_with("delete") => add.as_str(),
                _ => "",
            };
            let script = format!("{setup}{before}{command}");
            assert!(nft_runs(&script), "nft refuses:\n{script}");
        }
    }
}

fn nft_runs(script: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("check.nft");
    std::fs::write(&path, script).unwrap();
    Command::new("nft")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .is_ok_and(|output| output.status.success())
}

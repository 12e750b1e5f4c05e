//! The exports as data: a set of bans, and the text each export must contain. The nftables
//! script is also handed to `nft -c` when nft can run here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::*;
use crate::engine::{Engine, RequestFacts};
use crate::store::StoreLimits;

/// When scored clients start probing: 2026-01-01T00:00:00Z.
const PROBE_MS: u64 = 1_767_225_600_000;

/// When operators ban and the exports are taken, a second later.
const NOW_MS: u64 = PROBE_MS + 1_000;

fn policy() -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/policy-strict.yaml");
    Policy::load(&path).unwrap_or_else(|problems| panic!("{problems}"))
}

/// A ban to set before exporting.
enum Ban {
    /// An operator's ban of an address or network, for this many seconds.
    Manual(&'static str, u64),
    /// A client of the strict policy that earns a ban by probing six danger paths in a
    /// second with two User-Agents.
    Scored(&'static str),
}

fn engine_with(policy: &Policy, bans: &[Ban]) -> Engine {
    let engine = Engine::new(StoreLimits::default());
    for ban in bans {
        match ban {
            Ban::Manual(target, secs) => {
                let length = Duration::from_secs(*secs);
                match target.parse::<IpAddr>() {
                    Ok(ip) => {
                        engine.ban(policy, ip, length, "test".into(), NOW_MS);
                    }
                    Err(_) => {
                        let net: IpNet = target.parse().unwrap();
                        engine.ban_network(net, length, "test".into(), NOW_MS);
                    }
                }
            }
            Ban::Scored(ip) => probe(&engine, policy, ip.parse().unwrap()),
        }
    }
    engine
}

fn probe(engine: &Engine, policy: &Policy, ip: IpAddr) {
    let paths = [
        "/.env",
        "/.git/config",
        "/wp-login.php",
        "/phpmyadmin/",
        "/admin/",
        "/.aws",
    ];
    for (i, path) in paths.into_iter().enumerate() {
        let at_ms = PROBE_MS + 100 * i as u64;
        let mut request = RequestFacts::new(ip, "GET", path);
        request.user_agent = Some(if i % 2 == 0 { "curl/8.0" } else { "Wget/1.21" });
        let outcome = engine.on_request(policy, &request, at_ms);
        engine.on_response(policy, &request, &outcome, 404, at_ms + 5);
    }
}

/// Exports the bans and checks that each export holds `expected` (lines or fragments) and
/// none of `absent`; returns the nftables script.
fn check(bans: &[Ban], expected: &[(&str, &str)], absent: &[(&str, &str)]) -> String {
    let policy = policy();
    let engine = engine_with(&policy, bans);
    let active = ActiveBans::collect(&engine, &policy, NOW_MS);
    let outputs = [
        ("nft", nftables(&active)),
        ("txt", plain_text(&active)),
        ("csv", abuseipdb_csv(&active)),
    ];
    let output = |name: &str| &outputs.iter().find(|(n, _)| *n == name).unwrap().1;
    for (name, fragment) in expected {
        assert!(
            output(name).contains(fragment),
            "{name} lacks {fragment:?}:\n{}",
            output(name)
        );
    }
    for (name, fragment) in absent {
        assert!(
            !output(name).contains(fragment),
            "{name} has {fragment:?}:\n{}",
            output(name)
        );
    }
    check_csv_rules(output("csv"));
    check_with_nft(output("nft"));
    output("nft").clone()
}

#[test]
fn bans_of_every_kind_are_exported() {
    check(
        &[
            Ban::Manual("192.0.2.7", 3600),
            Ban::Manual("2001:db8:1:2::99", 600),
            Ban::Manual("10.20.0.0/16", 86_400),
        ],
        &[
            ("nft", "192.0.2.7 timeout 3600s"),
            ("nft", "2001:db8:1:2::/64 timeout 600s"),
            ("nft", "10.20.0.0/16 timeout 86400s"),
            ("nft", "ip saddr @banned_v4 drop"),
            ("nft", "ip6 saddr @banned_v6 drop"),
            ("txt", "10.20.0.0/16\n192.0.2.7\n2001:db8:1:2::/64\n"),
            ("csv", "IP,Categories,ReportDate,Comment\n"),
        ],
        // A manual ban with no signals has nothing to categorise; an IPv6 client is a /64.
        &[("csv", "192.0.2.7"), ("csv", "2001:db8")],
    );
}

#[test]
fn scored_bans_are_reported_with_their_categories() {
    check(
        &[Ban::Scored("198.51.100.7")],
        &[
            ("txt", "198.51.100.7\n"),
            (
                "csv",
                "198.51.100.7,\"19,21\",2026-01-01T00:00:00+00:00,\"rapsheet ban ",
            ),
            (
                "csv",
                "danger_hits +50, burst +35, not_found_ratio +25, ua_rotation +25",
            ),
            ("csv", "; 6 hostile of 6 requests\"\n"),
        ],
        &[("csv", "/.env"), ("csv", "curl")],
    );
}

#[test]
fn addresses_inside_a_banned_network_collapse_into_it() {
    // Three scored bans in one /24 ban the subnet (ban_after: 3) as well.
    let nft = check(
        &[
            Ban::Scored("198.51.100.7"),
            Ban::Scored("198.51.100.8"),
            Ban::Scored("198.51.100.9"),
            Ban::Manual("203.0.113.5", 60),
            Ban::Manual("203.0.113.0/24", 60),
        ],
        &[
            ("nft", "198.51.100.0/24 timeout 3600s"),
            ("nft", "203.0.113.0/24 timeout 60s"),
            (
                "txt",
                "198.51.100.0/24\n198.51.100.7\n198.51.100.8\n198.51.100.9\n",
            ),
        ],
        &[("nft", "198.51.100.7 "), ("nft", "203.0.113.5 ")],
    );
    assert_eq!(nft.matches(" timeout ").count(), 2, "{nft}");
}

#[test]
fn nothing_banned_is_still_a_loadable_ruleset() {
    let nft = check(
        &[],
        &[("txt", ""), ("csv", "IP,Categories,ReportDate,Comment\n")],
        &[],
    );
    assert!(!nft.contains("elements"), "{nft}");
}

/// AbuseIPDB's documented rules for a bulk report: the header, at most 10,000 lines,
/// categories quoted and comma-separated, an ISO 8601 date with a zone, a quoted comment of
/// at most 1,024 bytes with no quote or backslash inside.
fn check_csv_rules(csv: &str) {
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "IP,Categories,ReportDate,Comment");
    assert!(lines.len() <= 10_000);
    for line in &lines[1..] {
        let (ip, rest) = line.split_once(",\"").unwrap();
        assert!(ip.parse::<IpAddr>().is_ok(), "{line}");
        let (categories, rest) = rest.split_once("\",").unwrap();
        for category in categories.split(',') {
            assert!(
                [10, 15, 16, 19, 21].contains(&category.parse().unwrap()),
                "{line}"
            );
        }
        let (date, comment) = rest.split_once(",\"").unwrap();
        assert!(date.len() == 25 && date.ends_with("+00:00"), "{line}");
        let comment = comment.strip_suffix('"').unwrap();
        assert!(
            comment.len() <= 1_024 && !comment.contains(['"', '\\']),
            "{line}"
        );
    }
}

/// Hands `script` to `nft -c -f` (parse and check against the kernel without applying)
/// when nft is installed and allowed to run here; a trivial script shows whether it is.
fn check_with_nft(script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let probe = write("probe.nft", "table inet rapsheet_probe {}\n");
    let runs = |path: &Path| {
        Command::new("nft")
            .arg("-c")
            .arg("-f")
            .arg(path)
            .output()
            .map(|output| (output.status.success(), output.stderr))
    };
    if !matches!(runs(&probe), Ok((true, _))) {
        eprintln!("nft -c cannot run here; the ruleset was checked by its text only");
        return;
    }
    let (ok, stderr) = runs(&write("bans.nft", script)).unwrap();
    assert!(ok, "{}\n{script}", String::from_utf8_lossy(&stderr));
}

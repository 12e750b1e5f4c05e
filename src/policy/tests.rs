//! Policy loading: the shipped files load, and every kind of mistake is reported with its
//! file, line and key, all at once.

use std::path::Path;

use super::*;
use crate::yaml::Problem;

fn conf(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(name)
}

/// Loads `yaml` as a policy file in a fresh directory and returns its problems as
/// `(line, key, message fragment)` checks.
fn problems_of(yaml: &str) -> Vec<Problem> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, yaml).unwrap();
    match Policy::load(&path) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.0,
    }
}

fn check(yaml: &str, expected: &[(Option<usize>, &str, &str)]) {
    let problems = problems_of(yaml);
    let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), expected.len(), "{got:#?}");
    for (problem, (line, key, fragment)) in problems.iter().zip(expected) {
        assert_eq!(problem.line, *line, "{problem}");
        assert_eq!(problem.key, *key, "{problem}");
        assert!(problem.message.contains(fragment), "{problem}");
    }
}

#[test]
fn shipped_policies_load() {
    for (name, signals) in [("policy.yaml", 15), ("policy-strict.yaml", 6)] {
        let policy = Policy::load(&conf(name)).unwrap_or_else(|problems| panic!("{problems}"));
        assert_eq!(policy.signals.count(), signals, "{name}");
        assert!(policy
            .lists
            .danger_paths
            .as_ref()
            .is_some_and(|l| l.len() > 50));
    }
}

#[test]
fn three_mistakes_give_three_located_problems() {
    let yaml = "\
block_at: -5
tarpit_at: 10
signals:
  burst:
    points: 35
    requests: 5
    within: 2s
    colour: red
  ua_rotation:
    points: 25
    distinct: 9
";
    check(
        yaml,
        &[
            (Some(1), "block_at", "must be between 1 and 100000, got -5"),
            (Some(8), "signals.burst.colour", "unknown field `colour`"),
            (
                Some(11),
                "signals.ua_rotation.distinct",
                "must be between 2 and 4, got 9",
            ),
        ],
    );
}

#[test]
fn unknown_keys_and_signals_are_errors() {
    check(
        "blok_at: 100\nsignals:\n  brust: { points: 1 }\n",
        &[
            (Some(1), "blok_at", "unknown key `blok_at`"),
            (Some(3), "signals.brust", "unknown key `brust`"),
        ],
    );
}

#[test]
fn syntax_errors_are_located() {
    check(
        "block_at: 100\nsignals:\n  burst: [1, 2\n",
        &[(Some(4), "", "invalid yaml")],
    );
}

#[test]
fn values_of_the_wrong_kind_are_located() {
    check(
        "decay: soon\nmode: loud\nseverity: { medium: 60, high: 50 }\n",
        &[
            (Some(1), "decay", "bad duration `soon`"),
            (Some(2), "mode", "unknown variant `loud`"),
            (Some(3), "severity", "bands must rise"),
        ],
    );
}

#[test]
fn thresholds_must_be_ordered() {
    check(
        "tarpit_at: 100\nblock_at: 100\n",
        &[(
            Some(1),
            "tarpit_at",
            "must be below block_at (100), got 100",
        )],
    );
}

#[test]
fn list_problems_name_the_list_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block.txt"), "# x\n10.0.0.1\n10.0.0.300\n").unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(
        &path,
        "lists:\n  blocklist: block.txt\n  allowlist: missing.txt\n",
    )
    .unwrap();
    let problems = Policy::load(&path).err().unwrap().0;
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].file.ends_with("block.txt"));
    assert_eq!(problems[0].line, Some(3));
    assert!(
        problems[0].message.contains("`10.0.0.300`"),
        "{}",
        problems[0]
    );
    assert_eq!(problems[1].key, "lists.allowlist");
    assert!(
        problems[1].message.contains("missing.txt"),
        "{}",
        problems[1]
    );
}

#[test]
fn danger_hits_need_their_list() {
    check(
        "signals:\n  danger_hits: { points_per_path: 10, max_points: 60 }\n",
        &[(None, "lists.danger_paths", "needs a danger_paths list")],
    );
}

#[test]
fn strong_points_are_checked_like_other_points() {
    check(
        "signals:\n  danger_hits: { points_per_path: 10, max_points: 60, strong_points: -5 }\n",
        &[
            (Some(2), "signals.danger_hits.strong_points", "got -5"),
            (None, "lists.danger_paths", "needs a danger_paths list"),
        ],
    );
}

#[test]
fn missing_points_and_rotation_are_checked() {
    check(
        "signals:\n  danger_hits: { points_per_path: 10, max_points: 60, missing_points: 70000 }\n  \
         ua_rotation: { points: 25, distinct: 4, rotating: { points: 60, agents: 1, share: 1.5 } }\n",
        &[
            (Some(2), "signals.danger_hits.missing_points", "got 70000"),
            (Some(3), "signals.ua_rotation.rotating.agents", "got 1"),
            (Some(3), "signals.ua_rotation.rotating.share", "got 1.5"),
            (None, "lists.danger_paths", "needs a danger_paths list"),
        ],
    );
}

#[test]
fn a_flood_window_longer_than_the_burst_is_refused() {
    check(
        "signals:\n  burst: { points: 35, requests: 40, within: 10s, \
         flood: { points: 60, requests: 40, within: 30s } }\n",
        &[(
            Some(2),
            "signals.burst.flood.within",
            "at most burst.within (10s)",
        )],
    );
}

#[test]
fn client_keys_and_subnets() {
    let policy = Policy::load(&conf("policy.yaml")).unwrap();
    let cases = [
        ("192.0.2.77", "192.0.2.77", "192.0.2.0"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::", "2001:db8:1::"),
        ("::ffff:192.0.2.9", "192.0.2.9", "192.0.2.0"),
    ];
    for (ip, key, subnet) in cases {
        let client = policy.client_key(ip.parse().unwrap());
        assert_eq!(client.to_string(), key);
        assert_eq!(policy.subnet_of(client).0.to_string(), subnet);
    }
    assert!(policy.is_static("/static/app.JS"));
    assert!(!policy.is_static("/blog/2024.post/"));
    assert!(!policy.is_static("/wp-login.php"));
}

#[test]
fn many_held_tarpits_drip_less_often_and_the_budget_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    let yaml = "tarpit: { interval: 1s, max_drips_per_second: 2000 }\n";
    std::fs::write(&path, yaml).unwrap();
    let policy = Policy::load(&path).unwrap_or_else(|problems| panic!("{problems}"));
    let tarpit = &policy.tarpit;
    assert_eq!(tarpit.drip_interval(0), Duration::from_secs(1));
    assert_eq!(tarpit.drip_interval(2000), Duration::from_secs(1));
    assert_eq!(tarpit.drip_interval(3000), Duration::from_millis(1500));
    assert_eq!(tarpit.drip_interval(10_000), Duration::from_secs(5));
    check(
        "tarpit:\n  max_drips_per_second: 0\n",
        &[(
            Some(2),
            "tarpit.max_drips_per_second",
            "must be between 1 and 1000000, got 0",
        )],
    );
}

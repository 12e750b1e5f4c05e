//! Engine behaviour as data: a policy, a sequence of requests with their times and the
//! statuses the site answered, and the verdict expected for each, through one `check`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::*;
use crate::policy::Policy;

/// One request in a scenario and what is expected of it.
struct Step {
    at_ms: u64,
    ip: &'static str,
    target: &'static str,
    agent: &'static str,
    referer: Option<&'static str>,
    /// What the site answers when the request is forwarded.
    status: u16,
    expect: Action,
    /// The score after the request, when the step checks it.
    score: Option<u32>,
}

fn step(at_ms: u64, target: &'static str, status: u16) -> Step {
    Step {
        at_ms,
        ip: "203.0.113.9",
        target,
        agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0",
        referer: None,
        status,
        expect: Action::Allow,
        score: None,
    }
}

impl Step {
    fn expect(mut self, action: Action, score: u32) -> Step {
        self.expect = action;
        self.score = Some(score);
        self
    }

    fn from(mut self, ip: &'static str) -> Step {
        self.ip = ip;
        self
    }

    fn agent(mut self, agent: &'static str) -> Step {
        self.agent = agent;
        self
    }

    fn referer(mut self, referer: &'static str) -> Step {
        self.referer = Some(referer);
        self
    }
}

fn conf(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(name)
}

fn shipped(name: &str) -> Policy {
    Policy::load(&conf(name)).unwrap_or_else(|problems| panic!("{problems}"))
}

/// A policy from YAML text; list paths may point at the shipped lists with `LISTS/`.
fn policy(yaml: &str) -> Policy {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    let lists = conf("lists");
    std::fs::write(&path, yaml.replace("LISTS", lists.to_str().unwrap())).unwrap();
    Policy::load(&path).unwrap_or_else(|problems| panic!("{problems}"))
}

/// A policy from YAML text loaded twice, before and after its list `LIST` changes from
/// `before` to `after`: a reload, with a new load id. `LISTS/` points at the shipped lists.
fn reloaded(yaml: &str, before: &str, after: &str) -> (Policy, Policy) {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    let path = dir.path().join("policy.yaml");
    let yaml = yaml
        .replace("LISTS", conf("lists").to_str().unwrap())
        .replace("LIST", list.to_str().unwrap());
    std::fs::write(&path, yaml).unwrap();
    let load = |entries: &str| {
        std::fs::write(&list, entries).unwrap();
        Policy::load(&path).unwrap_or_else(|problems| panic!("{problems}"))
    };
    (load(before), load(after))
}

/// Runs `steps` through one engine and checks each verdict; returns the engine.
fn check(policy: &Policy, steps: &[Step]) -> Engine {
    let engine = Engine::new(StoreLimits::default());
    for (i, step) in steps.iter().enumerate() {
        let mut request = RequestFacts::new(step.ip.parse().unwrap(), "GET", step.target);
        request.host = Some("www.example.com");
        request.user_agent = Some(step.agent);
        request.referer = step.referer;
        let outcome = engine.on_request(policy, &request, step.at_ms);
        let status = match outcome.verdict.action {
            Action::Allow => step.status,
            _ => 403,
        };
        engine.on_response(policy, &request, &outcome, status, step.at_ms + 5);
        let got = (outcome.verdict.action, outcome.verdict.score);
        let expected = (step.expect, step.score.unwrap_or(got.1));
        assert_eq!(got, expected, "step {i} ({} {})", step.ip, step.target);
    }
    engine
}

/// The seed report's scanner: every signal of the strict policy, crossing 100 on the last
/// request, which alone adds 80 points (a sixth danger path, a burst, a second User-Agent
/// and a foreign Referer).
fn seed_session() -> Vec<Step> {
    let gap = 3_000;
    let mut steps = vec![
        step(0, "/", 200).expect(Action::Allow, 0),
        step(gap, "/admin", 302).expect(Action::Allow, 10),
        step(2 * gap, "/admin/", 404).expect(Action::Allow, 10),
        step(3 * gap, "/about", 200).expect(Action::Allow, 30),
        step(4 * gap, "/.env", 404).expect(Action::Allow, 40),
        step(5 * gap, "/blog/", 200).expect(Action::Allow, 55),
        step(6 * gap, "/.git/config", 404).expect(Action::Allow, 65),
        step(7 * gap, "/", 200).expect(Action::Allow, 65),
        step(8 * gap, "/wp-login.php", 404).expect(Action::Allow, 75),
        step(9 * gap, "/about", 200).expect(Action::Allow, 75),
        step(10 * gap, "/phpmyadmin/", 404).expect(Action::Allow, 85),
    ];
    let burst_start = 11 * gap;
    for (i, target) in ["/", "/about", "/blog/", "/"].into_iter().enumerate() {
        steps.push(step(burst_start + 400 * i as u64, target, 200).expect(Action::Allow, 85));
    }
    steps.push(
        step(burst_start + 1_600, "/wp-config.php", 404)
            .agent("python-requests/2.31")
            .referer("http://seo-offers.example.net/")
            .expect(Action::Block, 165),
    );
    steps
}

#[test]
fn seed_session_reaches_165_with_the_six_signals() {
    let policy = shipped("policy-strict.yaml");
    let engine = check(&policy, &seed_session());
    let key: IpAddr = "203.0.113.9".parse().unwrap();
    let record = engine.store().client(key).unwrap();
    let now = 11 * 3_000 + 1_700;
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
    assert_eq!(
        policy.severity.of(record.score(&policy, now)),
        Severity::Critical
    );
    let offender = engine.store().offender(key).unwrap();
    assert_eq!((offender.strikes, offender.score), (1, 165));
}

#[test]
fn a_ban_outlasts_the_points_and_ends_on_time() {
    let policy = shipped("policy-strict.yaml");
    let mut steps = seed_session();
    let hour = 3_600_000;
    // Within the ban nothing fires any more, but the client stays refused.
    steps.push(step(40 * 60_000, "/", 200).expect(Action::Block, 165));
    // Past the decay and the ban (1 h, plus at most 10 % jitter): free again, score 0.
    steps.push(step(hour * 2 + 60_000, "/", 200).expect(Action::Allow, 0));
    check(&policy, &steps);
}

#[test]
fn page_loads_and_shared_addresses_pass_the_default_policy() {
    let policy = shipped("policy.yaml");
    let mut steps = Vec::new();
    let browsers = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ];
    let assets = [
        "/static/site.css",
        "/static/app.js",
        "/static/logo.png",
        "/static/font.woff2",
        "/static/a.jpg",
        "/static/b.jpg",
        "/static/c.jpg",
        "/static/d.jpg",
        "/static/e.svg",
        "/static/f.png",
        "/static/g.png",
        "/static/h.gif",
        "/static/i.webp",
        "/static/j.js",
        "/static/k.css",
        "/static/l.ico",
        "/static/m.png",
        "/static/n.png",
        "/static/o.png",
        "/static/p.png",
    ];
    let pages = ["/", "/about", "/blog/", "/blog/post-1", "/contact"];
    let mut at = 0;
    for (p, page) in pages.into_iter().enumerate() {
        for agent in browsers {
            let referer = "https://www.google.com/search?q=example";
            steps.push(step(at, page, 200).agent(agent).referer(referer));
            for (i, asset) in assets.into_iter().enumerate() {
                let ms = at + 40 * (i as u64 + 1);
                steps.push(
                    step(ms, asset, 200)
                        .agent(agent)
                        .referer("https://www.example.com/"),
                );
            }
            steps.push(step(at + 900, "/favicon.ico", 404).agent(agent));
            at += 1_000;
        }
        at += 10_000 * p as u64;
    }
    check(&policy, &steps);
}

#[test]
fn a_repeat_offender_is_banned_longer_by_the_multiplier() {
    let policy = policy(
        "block_at: 30\nban_for: 1m\ndecay: 10s\n\
         repeat_offenders: { memory: 1h, multiplier: 3, max_ban: 1h, jitter: 0 }\n\
         lists: { danger_paths: LISTS/danger-paths.txt }\n\
         signals: { danger_hits: { points_per_path: 30, max_points: 30 } }\n",
    );
    let steps = [
        step(0, "/.env", 404).expect(Action::Block, 30),
        // Banned one minute: refused at 59 s, free at 61 s.
        step(59_000, "/", 200).expect(Action::Block, 0),
        step(61_000, "/", 200).expect(Action::Allow, 0),
        // Second strike: three minutes.
        step(70_000, "/.git/config", 404).expect(Action::Block, 30),
        step(70_000 + 179_000, "/", 200).expect(Action::Block, 0),
        step(70_000 + 181_000, "/", 200).expect(Action::Allow, 0),
    ];
    let engine = check(&policy, &steps);
    let offender = engine
        .store()
        .offender("203.0.113.9".parse().unwrap())
        .unwrap();
    assert_eq!(offender.strikes, 2);
}

#[test]
fn the_third_banned_member_bans_its_subnet() {
    let policy = policy(
        "block_at: 30\nban_for: 1h\n\
         subnet_bans: { ban_after: 3, ban_for: 1h }\n\
         lists: { danger_paths: LISTS/danger-paths.txt }\n\
         signals: { danger_hits: { points_per_path: 30, max_points: 30 } }\n",
    );
    let steps = [
        step(0, "/.env", 404)
            .from("198.51.100.1")
            .expect(Action::Block, 30),
        step(10, "/.env", 404)
            .from("198.51.100.2")
            .expect(Action::Block, 30),
        step(20, "/", 200)
            .from("198.51.100.4")
            .expect(Action::Allow, 0),
        step(30, "/.env", 404)
            .from("198.51.100.3")
            .expect(Action::Block, 30),
        // A fresh address of the same /24 is refused; the next /24 is not.
        step(40, "/", 200)
            .from("198.51.100.77")
            .expect(Action::Block, 0),
        step(50, "/", 200)
            .from("198.51.101.77")
            .expect(Action::Allow, 0),
    ];
    check(&policy, &steps);
}

#[test]
fn lists_apply_before_scoring() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("allow.txt"),
        "192.0.2.0/24\n2001:db8:a::/48\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("block.txt"),
        "198.51.100.7\n2001:db8:b::/48\n",
    )
    .unwrap();
    let policy = policy(&format!(
        "block_at: 10\nlists: {{ allowlist: {0}/allow.txt, blocklist: {0}/block.txt, \
         danger_paths: LISTS/danger-paths.txt }}\n\
         signals: {{ danger_hits: {{ points_per_path: 10, max_points: 10 }} }}\n",
        dir.path().display()
    ));
    let steps = [
        step(0, "/.env", 404)
            .from("192.0.2.5")
            .expect(Action::Allow, 0),
        step(0, "/.env", 404)
            .from("2001:db8:a::5")
            .expect(Action::Allow, 0),
        step(0, "/", 200)
            .from("198.51.100.7")
            .expect(Action::Block, 0),
        step(0, "/", 200)
            .from("2001:db8:b:1::9")
            .expect(Action::Block, 0),
        step(0, "/", 200)
            .from("198.51.100.8")
            .expect(Action::Allow, 0),
    ];
    check(&policy, &steps);
}

#[test]
fn ipv6_clients_share_a_record_per_64() {
    let policy = policy(
        "block_at: 30\nlists: { danger_paths: LISTS/danger-paths.txt }\n\
         signals: { danger_hits: { points_per_path: 10, max_points: 60 } }\n",
    );
    let steps = [
        step(0, "/.env", 404)
            .from("2001:db8:1:2::1")
            .expect(Action::Allow, 10),
        step(1, "/.git", 404)
            .from("2001:db8:1:2::ffff")
            .expect(Action::Allow, 20),
        step(2, "/.aws", 404)
            .from("2001:db8:1:3::1")
            .expect(Action::Allow, 10),
    ];
    check(&policy, &steps);
}

#[test]
fn the_tarpit_band_lies_between_the_thresholds() {
    let policy = policy(
        "tarpit_at: 20\nblock_at: 40\nlists: { danger_paths: LISTS/danger-paths.txt }\n\
         signals: { danger_hits: { points_per_path: 10, max_points: 60 } }\n",
    );
    let steps = [
        step(0, "/.env", 404).expect(Action::Allow, 10),
        step(1, "/.git", 404).expect(Action::Tarpit, 20),
        step(2, "/", 200).expect(Action::Tarpit, 20),
        step(3, "/.aws", 404).expect(Action::Tarpit, 30),
        step(4, "/.ssh", 404).expect(Action::Block, 40),
    ];
    check(&policy, &steps);
}

#[test]
fn a_secret_file_reaches_the_strong_points_at_once() {
    let policy = policy(
        "tarpit_at: 50\nblock_at: 100\n\
         lists: { danger_paths: LISTS/danger-paths.txt, secret_files: LISTS/secret-files.txt }\n\
         signals: { danger_hits: { points_per_path: 10, max_points: 60, strong_points: 60 } }\n",
    );
    let steps = [
        step(0, "/.well-known/security.txt", 200).expect(Action::Allow, 0),
        step(1, "/wp-admin/", 200).expect(Action::Allow, 10),
        step(2, "/phpmyadmin/", 200).expect(Action::Allow, 20),
        step(3, "/.claude/settings.json", 404).expect(Action::Tarpit, 60),
        step(4, "/.git/config", 404).expect(Action::Tarpit, 60),
        step(5, "/get", 404)
            .from("198.51.100.7")
            .expect(Action::Allow, 0),
        step(6, "/get?code=backup.sql.zip", 404)
            .from("198.51.100.7")
            .expect(Action::Tarpit, 60),
    ];
    check(&policy, &steps);
}

#[test]
fn danger_paths_the_site_lacks_count_more_than_those_it_has() {
    let policy = policy(
        "tarpit_at: 50\nblock_at: 100\nlists: { danger_paths: LISTS/danger-paths.txt }\n\
         signals: { danger_hits: { points_per_path: 10, max_points: 30, missing_points: 25 } }\n",
    );
    let steps = [
        // The owner opens the panels the site has: points per path, up to max_points.
        step(0, "/wp-admin/", 200).expect(Action::Allow, 10),
        step(1, "/wp-login.php", 302).expect(Action::Allow, 20),
        step(2, "/xmlrpc.php", 200).expect(Action::Allow, 30),
        step(3, "/wp-admin/users.php", 403).expect(Action::Allow, 30),
        // Someone else hunts for panels this site does not have.
        step(10, "/phpmyadmin/", 404)
            .from("198.51.100.7")
            .expect(Action::Allow, 10),
        // The 404 above made it 25; the same path again is not a new one.
        step(11, "/phpmyadmin/", 404)
            .from("198.51.100.7")
            .expect(Action::Allow, 25),
        step(12, "/adminer.php", 410)
            .from("198.51.100.7")
            .expect(Action::Allow, 35),
        step(13, "/", 200)
            .from("198.51.100.7")
            .expect(Action::Tarpit, 50),
        step(14, "/manager/html", 404)
            .from("198.51.100.7")
            .expect(Action::Tarpit, 60),
        // Tarpitted requests are the proxy's answers, not the site's: they count as asked,
        // not as missing.
        step(15, "/webmin/", 404)
            .from("198.51.100.7")
            .expect(Action::Tarpit, 70),
    ];
    check(&policy, &steps);
}

#[test]
fn plugin_paths_count_only_when_the_site_lacks_them() {
    let policy = shipped("policy.yaml");
    let steps = [
        // A WordPress site's visitors load its plugins' files: nothing.
        step(1_000_000, "/wp-content/plugins/forms/submit.php", 200).expect(Action::Allow, 0),
        step(1_001_000, "/wp-content/plugins/forms/style.css", 404).expect(Action::Allow, 0),
        // A scanner asks for plugins this site does not have: 25 each once answered 404, so
        // its third request is tarpitted.
        step(
            1_000_000,
            "/wp-content/plugins/adminimize/adminimize_page.php",
            404,
        )
        .from("198.51.100.7")
        .expect(Action::Allow, 0),
        step(
            1_001_000,
            "/wp-content/plugins/sniplets/modules/syntax_highlight.php",
            404,
        )
        .from("198.51.100.7")
        .expect(Action::Allow, 25),
        step(
            1_002_000,
            "/wp-content/themes/twentyten/header-old.php",
            404,
        )
        .from("198.51.100.7")
        .expect(Action::Tarpit, 50),
    ];
    check(&policy, &steps);
}

#[test]
fn exploit_endpoints_a_site_serves_count_only_when_it_lacks_them() {
    let policy = shipped("policy.yaml");
    let steps = [
        // A site running Telerik UI answers its upload handler: nothing.
        step(1_000_000, "/Telerik.Web.UI.WebResource.axd?type=rau", 200).expect(Action::Allow, 0),
        step(1_001_000, "/", 200).expect(Action::Allow, 0),
        // Asked of a site without it, the one request is enough to block what follows.
        step(1_000_000, "/Telerik.Web.UI.WebResource.axd?type=rau", 404)
            .from("198.51.100.7")
            .expect(Action::Allow, 0),
        step(1_001_000, "/", 200)
            .from("198.51.100.7")
            .expect(Action::Block, 100),
        // A script disguised as a static file is refused on its own request.
        step(1_000_000, "/index.php/.js.map", 404)
            .from("198.51.100.8")
            .expect(Action::Block, 100),
    ];
    check(&policy, &steps);
}

/// Twelve browsers' User-Agents, as a bot that rotates them picks from.
const AGENTS: [&str; 12] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/124.0",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) Chrome/20.0.1092.0",
    "Opera/9.80 (Windows NT 6.0) Presto/2.12.388 Version/12.14",
    "Mozilla/5.0 (PLAYSTATION 3; 1.00)",
    "Mozilla/2.0 (compatible; Ask Jeeves/Teoma)",
    "Mozilla/5.0 (X11; U; Linux i686; it; rv:1.9.2.3) Firefox/3.6.3",
    "Mozilla/5.0 (iPad; CPU OS 12_2) Mobile/15E148",
];

#[test]
fn a_new_user_agent_on_nearly_every_request_is_rotation_not_a_nat() {
    let policy = policy(
        "tarpit_at: 50\nblock_at: 100\n\
         signals: { ua_rotation: { points: 25, distinct: 4, window: 10m, \
         rotating: { points: 60, agents: 8, share: 0.8 } } }\n",
    );
    // A bot: one request per agent. The fourth agent fires ua_rotation, and counting starts
    // there; the eleventh is the eighth counted.
    let mut steps: Vec<Step> = AGENTS
        .iter()
        .zip(0u64..)
        .map(|(agent, n)| {
            let (action, score) = match n {
                0..=2 => (Action::Allow, 0),
                3..=9 => (Action::Allow, 25),
                _ => (Action::Tarpit, 60),
            };
            // (From 1,000 s on: the agent slots read a time of 0 as empty.)
            step(1_000_000 + n * 1_000, "/", 200)
                .agent(agent)
                .expect(action, score)
        })
        .collect();
    // Twelve people behind one NAT, each loading a page and its assets, then coming back:
    // ua_rotation fires, rotation does not.
    for round in 0..3u64 {
        for (agent, n) in AGENTS.iter().zip(0u64..) {
            for (target, k) in ["/", "/site.css", "/app.js", "/logo.png"]
                .into_iter()
                .zip(0u64..)
            {
                let at_ms = 1_100_000 + round * 60_000 + n * 1_000 + k * 50;
                let score = if round == 0 && n < 3 { 0 } else { 25 };
                steps.push(
                    step(at_ms, target, 200)
                        .from("198.51.100.7")
                        .agent(agent)
                        .expect(Action::Allow, score),
                );
            }
        }
    }
    check(&policy, &steps);
}

#[test]
fn walking_wordpress_author_numbers_adds_up_like_distinct_danger_paths() {
    let policy = shipped("policy.yaml");
    let mut steps: Vec<Step> = ["/?author=1", "/?author=2", "/?author=3", "/?author=4"]
        .into_iter()
        .zip(1..)
        .map(|(target, n)| step(n * 2_000, target, 301).expect(Action::Allow, n as u32 * 10))
        .collect();
    steps.push(step(10_000, "/?author=5", 404).expect(Action::Tarpit, 50));
    // The same number again and again is one lookup; a name, or a search, is not a lookup.
    let visitor = [
        (0, "/?author=1", 301),
        (3_000, "/?author=1", 301),
        (6_000, "/?author=jane", 200),
        (9_000, "/?s=author=2", 200),
    ];
    steps.extend(visitor.into_iter().map(|(at_ms, target, status)| {
        step(at_ms, target, status)
            .from("198.51.100.7")
            .expect(Action::Allow, 10)
    }));
    steps.sort_by_key(|step| step.at_ms);
    check(&policy, &steps);
}

#[test]
fn a_signal_removed_from_the_policy_stops_counting() {
    let with = policy(
        "block_at: 100\nlists: { danger_paths: LISTS/danger-paths.txt }\n\
         signals: { danger_hits: { points_per_path: 10, max_points: 60 }, \
         redirect_probe: { points: 20 } }\n",
    );
    let without = policy(
        "block_at: 100\nlists: { danger_paths: LISTS/danger-paths.txt }\n\
         signals: { redirect_probe: { points: 20 } }\n",
    );
    let engine = check(&with, &[step(0, "/.env", 404).expect(Action::Allow, 10)]);
    let record = engine
        .store()
        .client("203.0.113.9".parse().unwrap())
        .unwrap();
    assert_eq!(record.score(&with, 1_000), 10);
    assert_eq!(record.score(&without, 1_000), 0);
}

#[test]
fn foreign_referers_respect_the_site_and_known_referrers() {
    let policy = policy(
        "block_at: 100\nlists: { known_referrers: LISTS/known-referrers.txt }\n\
         signals: { foreign_referer: { points: 10 } }\n",
    );
    let steps = [
        step(0, "/a", 200)
            .referer("https://www.example.com/x")
            .expect(Action::Allow, 0),
        step(1, "/a", 200)
            .referer("https://example.com/x")
            .expect(Action::Allow, 0),
        step(2, "/a", 200)
            .referer("https://www.google.co.uk/")
            .expect(Action::Allow, 0),
        step(3, "/a.png", 200)
            .referer("https://blog.other.net/")
            .expect(Action::Allow, 0),
        step(4, "/a", 200)
            .referer("https://casino.example.org/")
            .expect(Action::Allow, 10),
    ];
    check(&policy, &steps);
}

#[test]
fn a_burst_counts_pages_not_assets_by_default() {
    let policy =
        policy("block_at: 100\nsignals: { burst: { points: 35, requests: 5, within: 2s } }\n");
    let mut steps: Vec<Step> = (0..20)
        .map(|i| step(i * 50, "/static/x.css", 200).expect(Action::Allow, 0))
        .collect();
    for i in 0..4 {
        steps.push(step(1_000 + i * 100, "/page", 200).expect(Action::Allow, 0));
    }
    steps.push(step(1_400, "/page", 200).expect(Action::Allow, 35));
    check(&policy, &steps);
}

#[test]
fn a_flood_is_a_burst_in_a_fraction_of_its_window() {
    let policy = policy(
        "tarpit_at: 50\nblock_at: 100\nsignals: { burst: { points: 35, requests: 40, \
         within: 10s, flood: { points: 60, requests: 40, within: 2s } } }\n",
    );
    // Forty pages over eight seconds: a burst.
    let mut steps: Vec<Step> = (0..40)
        .map(|i| {
            let score = if i < 39 { 0 } else { 35 };
            step(1_000_000 + i * 200, "/page", 200).expect(Action::Allow, score)
        })
        .collect();
    // Forty pages in one second: a flood, tarpitted from the fortieth.
    steps.extend((0..41).map(|i| {
        let (action, score) = match i {
            0..39 => (Action::Allow, 0),
            _ => (Action::Tarpit, 60),
        };
        step(1_000_000 + i * 25, "/?cache=1", 200)
            .from("198.51.100.7")
            .expect(action, score)
    }));
    steps.sort_by_key(|step| step.at_ms);
    check(&policy, &steps);
}

#[test]
fn repeated_login_attempts_and_401s_fire_brute_force() {
    let policy = policy(
        "tarpit_at: 50\nblock_at: 100\nlists: { login_paths: LISTS/login-paths.txt }\n\
         signals: { brute_force: { points: 60, attempts: 3, within: 1m } }\n",
    );
    let engine = Engine::new(StoreLimits::default());
    let cases: &[(&str, &str, u16, Action)] = &[
        // A page view and a GET of the login form are not attempts.
        ("GET", "/wp-login.php", 200, Action::Allow),
        ("POST", "/contact", 200, Action::Allow),
        ("POST", "/wp-login.php", 200, Action::Allow),
        ("GET", "/private/", 401, Action::Allow),
        // The third attempt fires after its response; the next request is tarpitted.
        ("POST", "/wp-login.php", 200, Action::Allow),
        ("GET", "/", 200, Action::Tarpit),
    ];
    for (i, (method, target, status, expected)) in cases.iter().enumerate() {
        let request = RequestFacts::new("203.0.113.50".parse().unwrap(), method, target);
        let now = i as u64 * 1_000;
        let outcome = engine.on_request(&policy, &request, now);
        assert_eq!(
            outcome.verdict.action, *expected,
            "step {i}: {method} {target}"
        );
        engine.on_response(&policy, &request, &outcome, *status, now);
    }
}

#[test]
fn requests_to_relay_elsewhere_fire_proxy_probe() {
    let policy = policy("tarpit_at: 50\nblock_at: 100\nsignals: { proxy_probe: { points: 60 } }\n");
    // (method, target, Host header, fires): the site is www.example.com.
    let cases: &[(&str, &str, Option<&str>, bool)] = &[
        ("GET", "/", Some("www.example.com"), false),
        (
            "GET",
            "http://www.example.com/a",
            Some("www.example.com"),
            false,
        ),
        (
            "GET",
            "https://example.com:443/a",
            Some("www.example.com"),
            false,
        ),
        (
            "GET",
            "/go?to=http://other.example.net/",
            Some("www.example.com"),
            false,
        ),
        (
            "GET",
            "http://other.example.net:80/ip.php",
            Some("www.example.com"),
            true,
        ),
        ("GET", "http://other.example.net/", None, true),
        ("CONNECT", "mail.example.net:25", None, true),
    ];
    for (i, (method, target, host, fires)) in cases.iter().enumerate() {
        let engine = Engine::new(StoreLimits::default());
        let mut request = RequestFacts::new("203.0.113.60".parse().unwrap(), method, target);
        request.host = *host;
        let outcome = engine.on_request(&policy, &request, i as u64);
        let expected = if *fires {
            (Action::Tarpit, 60)
        } else {
            (Action::Allow, 0)
        };
        let got = (outcome.verdict.action, outcome.verdict.score);
        assert_eq!(got, expected, "{method} {target} (Host {host:?})");
    }
}

/// A User-Agent found clean is not scanned again by the same policy, but a reloaded policy
/// judges it afresh, and a client that changes its User-Agent is scanned at once.
#[test]
fn a_clean_user_agent_is_remembered_only_under_its_policy() {
    let (before, after) = reloaded(
        "block_at: 100\nlists: { bad_user_agents: LIST, web_shells: LISTS/web-shells.txt, \
         system_files: LISTS/system-files.txt, shell_commands: LISTS/shell-commands.txt }\n\
         signals: { scanner_user_agent: { points: 60 }, command_injection: { points: 100 } }\n",
        "sqlmap\n",
        "sqlmap\nsneakybrowser\n",
    );

    let sneaky = "Mozilla/5.0 (X11; Linux x86_64) SneakyBrowser/1.0";
    let engine = check(
        &before,
        &[
            step(0, "/", 200).agent(sneaky).expect(Action::Allow, 0),
            step(1, "/", 200).agent(sneaky).expect(Action::Allow, 0),
        ],
    );
    let ip = "203.0.113.9".parse().unwrap();
    let mut request = RequestFacts::new(ip, "GET", "/");
    request.user_agent = Some(sneaky);
    let outcome = engine.on_request(&after, &request, 2_000);
    assert_eq!(outcome.verdict.score, 60, "the reloaded list is applied");

    request.user_agent = Some("() { :; }; /bin/bash -c 'cat /etc/passwd'");
    let outcome = engine.on_request(&after, &request, 3_000);
    assert_eq!(
        outcome.verdict.action,
        Action::Block,
        "a new User-Agent is scanned"
    );
}

#[test]
fn a_remembered_clean_cookie_does_not_hide_the_next_one() {
    let policy = shipped("policy.yaml");
    let engine = Engine::new(StoreLimits::default());
    let ip = "203.0.113.10".parse().unwrap();
    let mut request = RequestFacts::new(ip, "GET", "/");
    request.cookie = Some("session=4f2a9c0e8b7d41e6; theme=dark");
    for now_ms in [1_000, 2_000] {
        let outcome = engine.on_request(&policy, &request, now_ms);
        assert_eq!(outcome.verdict.score, 0, "a session cookie is clean");
    }
    request.cookie = Some("session=1' UNION SELECT password FROM users--");
    let outcome = engine.on_request(&policy, &request, 3_000);
    assert_eq!(
        outcome.verdict.action,
        Action::Block,
        "a changed cookie is scanned"
    );
    assert_ne!(outcome.fired & (1 << Signal::SqlInjection.index()), 0);
}

#[test]
fn a_path_found_clean_for_one_client_is_judged_again_after_a_reload() {
    let (before, after) = reloaded(
        "block_at: 100\nlists: { danger_paths: LIST }\n\
         signals: { danger_hits: { points_per_path: 10, max_points: 60 } }\n",
        "/wp-admin\n",
        "/wp-admin\n/staff-only\n",
    );

    // The first client finds /staff-only clean; others asking for it share that answer,
    // and a listed path next to it still counts.
    let engine = check(
        &before,
        &[
            step(0, "/staff-only", 200).expect(Action::Allow, 0),
            step(1, "/staff-only", 200)
                .from("198.51.100.7")
                .expect(Action::Allow, 0),
            step(2, "/wp-admin", 200)
                .from("198.51.100.7")
                .expect(Action::Allow, 10),
        ],
    );
    let request = RequestFacts::new("192.0.2.44".parse().unwrap(), "GET", "/staff-only");
    let outcome = engine.on_request(&after, &request, 3_000);
    assert_eq!(outcome.verdict.score, 10, "the reloaded list is applied");
}

//! The scanner User-Agent signal: attack tools fire it on their first request; real
//! browsers, verified crawlers and monitoring agents never fire it, nor any payload signal.

use std::path::Path;

use rapsheet::engine::{Engine, RequestFacts, Signal};
use rapsheet::policy::Policy;
use rapsheet::store::StoreLimits;

use crate::harness::conf;

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/user-agents")
        .join(name);
    std::fs::read_to_string(path).expect("test data")
}

/// The signals one request with `user_agent` fires under the default policy.
fn fired(engine: &Engine, policy: &Policy, client: u32, user_agent: &str) -> Vec<Signal> {
    let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + client));
    let mut request = RequestFacts::new(ip, "GET", "/");
    request.host = Some("www.example.com");
    request.user_agent = Some(user_agent);
    let outcome = engine.on_request(policy, &request, 1_767_225_600_000);
    Signal::ALL
        .into_iter()
        .filter(|signal| outcome.fired & (1 << signal.index()) != 0)
        .collect()
}

#[test]
fn browsers_and_legitimate_bots_fire_nothing() {
    let policy = Policy::load(&conf("policy.yaml")).expect("shipped policy");
    let engine = Engine::new(StoreLimits::default());
    let browsers: Vec<String> = serde_json::from_str(&data("top-user-agents.json")).unwrap();
    assert_eq!(browsers.len(), 100);
    let bots: Vec<String> = data("legit-bots.jsonl")
        .lines()
        .map(|line| {
            let bot: serde_json::Value = serde_json::from_str(line).expect("json");
            let token = bot["user_agent"].as_str().expect("a token").to_string();
            format!("Mozilla/5.0 (compatible; {token}/2.1; +https://example.com/bot.html)")
        })
        .collect();
    assert_eq!(bots.len(), 24);
    for (i, agent) in browsers.iter().chain(&bots).enumerate() {
        assert_eq!(fired(&engine, &policy, i as u32, agent), [], "{agent}");
    }
}

#[test]
fn attack_tools_fire_on_their_first_request() {
    let policy = Policy::load(&conf("policy.yaml")).expect("shipped policy");
    let engine = Engine::new(StoreLimits::default());
    let tools = [
        "sqlmap/1.7.2#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)",
        "Mozilla/5.0 (Windows NT 10.0) Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
        "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
        "Mozilla/5.0 zgrab/0.x",
        "gobuster/3.6",
        "DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)",
        "WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "Fuzz Faster U Fool v2.1.0-dev",
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; SV1; .NET CLR 2.0.50727) Havij",
        "Arachni/0.2.1",
    ];
    for (i, agent) in tools.iter().enumerate() {
        let signals = fired(&engine, &policy, 1_000 + i as u32, agent);
        assert!(
            signals.contains(&Signal::ScannerUserAgent),
            "{agent}: {signals:?}"
        );
    }
}

/// Every token of the OWASP CRS scanner list, sent as the whole User-Agent, fires the signal,
/// except `vega`: the Vega scanner sends `Vega/1.0`, which fires, while the bare word is also
/// a phone model in Android User-Agents.
#[test]
fn the_crs_scanner_list_fires() {
    let policy = Policy::load(&conf("policy.yaml")).expect("shipped policy");
    let engine = Engine::new(StoreLimits::default());
    let list = data("crs-scanners-user-agents.data");
    let tokens: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && *line != "vega")
        .collect();
    assert!(tokens.len() > 70, "{} tokens", tokens.len());
    let silent: Vec<&str> = tokens
        .iter()
        .enumerate()
        .filter(|(i, token)| {
            !fired(&engine, &policy, 2_000 + *i as u32, token).contains(&Signal::ScannerUserAgent)
        })
        .map(|(_, token)| *token)
        .collect();
    assert!(silent.is_empty(), "silent scanner tokens: {silent:?}");
}

//! Recommendations: what to do about a client, derived from the signals it fired. Each one
//! names concrete settings, files or commands, and is only given when its signal fired, so
//! a sheet never advises on what did not happen.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::{rfc3339, RapSheet};
use crate::engine::Signal;
use crate::export::{nft_add_element, nft_delete_element, nft_setup_commands};
use crate::policy::Policy;

/// The fail2ban filter shipped in `deploy/`, for clients that enumerate paths.
pub const FAIL2BAN_FILTER: &str = "deploy/fail2ban/filter.d/rapsheet-404.conf";

/// The fail2ban jail shipped in `deploy/` that uses it.
pub const FAIL2BAN_JAIL: &str = "deploy/fail2ban/jail.d/rapsheet-404.local";

/// How many paths or User-Agents a recommendation quotes from the evidence.
const QUOTED: usize = 6;

/// One thing to do about a client.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// The signal it answers, or `firewall` for dropping the client itself.
    pub topic: &'static str,
    /// A short heading.
    pub title: &'static str,
    /// What to do and why, in sentences.
    pub advice: String,
    /// Configuration or commands to apply, each a block of text.
    pub commands: Vec<String>,
}

/// The recommendations for `sheet`, in the order of its signals, then the firewall.
pub fn recommendations(sheet: &RapSheet, policy: &Policy, now_ms: u64) -> Vec<Recommendation> {
    let mut found: Vec<Recommendation> = Signal::ALL
        .into_iter()
        .filter(|signal| sheet.fired(*signal))
        .filter_map(|signal| for_signal(sheet, policy, signal))
        .collect();
    if !sheet.signals.is_empty() || sheet.ban.is_some() {
        found.push(firewall(sheet, policy, now_ms));
    }
    found
}

fn for_signal(sheet: &RapSheet, policy: &Policy, signal: Signal) -> Option<Recommendation> {
    let who = sheet.address;
    let recommendation = match signal {
        Signal::NotFoundRatio => enumeration(who),
        Signal::Burst => floods(who, policy),
        Signal::DangerHits => secrets(sheet),
        Signal::ForeignReferer => referer_spam(sheet),
        Signal::RedirectProbe => redirect_probe(sheet),
        Signal::UaRotation => ua_rotation(sheet),
        Signal::ScannerUserAgent => scanner_agent(who),
        Signal::BruteForce => brute_force(who),
        payload => payload_fix(sheet, payload)?,
    };
    Some(recommendation)
}

fn enumeration(who: IpAddr) -> Recommendation {
    Recommendation {
        topic: Signal::NotFoundRatio.name(),
        title: "Path enumeration",
        advice: format!(
            "{who} is guessing paths: most of its requests were answered 404. Ban clients like \
             it at the firewall with the fail2ban filter and jail shipped with rapsheet \
             ({FAIL2BAN_FILTER} and {FAIL2BAN_JAIL}). Answer every missing, hidden or \
             forbidden path with the same 404 status, body and headers, so a probe cannot \
             tell what exists, and turn directory listings off."
        ),
        commands: vec![
            format!(
                "cp {FAIL2BAN_FILTER} /etc/fail2ban/filter.d/\n\
                 cp {FAIL2BAN_JAIL} /etc/fail2ban/jail.d/\n\
                 fail2ban-client reload"
            ),
            "# nginx, in the server block\nautoindex off;\n\
             # Apache, in the directory section\nOptions -Indexes"
                .to_string(),
        ],
    }
}

fn floods(who: IpAddr, policy: &Policy) -> Recommendation {
    let threshold = policy.signals.burst.as_ref().map_or(String::new(), |rule| {
        format!(
            " ({} or more within {})",
            rule.requests,
            humantime::format_duration(rule.within)
        )
    });
    Recommendation {
        topic: Signal::Burst.name(),
        title: "Request floods",
        advice: format!(
            "{who} sent requests faster than the policy allows{threshold}. Limit requests and \
             connections per source address in front of the application, so a flood costs the \
             sender more than it costs the site. The numbers below suit a site that is mostly \
             pages; raise them if many users share one address (offices, mobile carriers)."
        ),
        commands: vec![
            "# nginx: zones in the http block, limits in the server or location block\n\
             limit_req_zone $binary_remote_addr zone=per_ip:10m rate=10r/s;\n\
             limit_conn_zone $binary_remote_addr zone=per_ip_conn:10m;\n\
             limit_req zone=per_ip burst=20 nodelay;\n\
             limit_conn per_ip_conn 20;\n\
             limit_req_status 429;\n\
             limit_conn_status 429;"
                .to_string(),
            "# nftables: at most 20 new connections a second per IPv4 address or IPv6 /64\n\
             nft -f - <<'EOF'\n\
             table inet rapsheet_limits {\n\
             \tset new_conn_v4 { type ipv4_addr; flags dynamic; timeout 1m; size 65536; }\n\
             \tset new_conn_v6 { type ipv6_addr; flags dynamic; timeout 1m; size 65536; }\n\
             \tchain input {\n\
             \t\ttype filter hook input priority -5; policy accept;\n\
             \t\ttcp dport { 80, 443 } ct state new update @new_conn_v4 \
             { ip saddr limit rate over 20/second burst 40 packets } drop\n\
             \t\ttcp dport { 80, 443 } ct state new update @new_conn_v6 \
             { ip6 saddr and ffff:ffff:ffff:ffff:: limit rate over 20/second burst 40 packets } \
             drop\n\
             \t}\n\
             }\n\
             EOF"
            .to_string(),
        ],
    }
}

fn secrets(sheet: &RapSheet) -> Recommendation {
    let paths = quoted_targets(sheet, Signal::DangerHits);
    let served: Vec<&str> = sheet
        .evidence
        .iter()
        .filter(|row| row.status == 200 && row.signals.contains(&Signal::DangerHits.name()))
        .map(|row| row.target.as_str())
        .collect();
    let mut advice = format!(
        "{} asked for admin panels, configuration or secret files{}. Keep secrets (.env, \
         .git, backups, database dumps) out of the document root, answer requests for \
         dotfiles with 404, and put admin panels behind an allowlist or a VPN.",
        sheet.address,
        in_parens(&paths, ", ")
    );
    if !served.is_empty() {
        advice.push_str(&format!(
            " These were answered 200 and need checking now: {}.",
            served.join(", ")
        ));
    }
    Recommendation {
        topic: Signal::DangerHits.name(),
        title: "Probes for secrets and admin panels",
        advice,
        commands: vec![
            "# nginx, in the server block\nlocation ~ /\\.(?!well-known/) { return 404; }\n\
             # Apache\nRedirectMatch 404 /\\.(?!well-known/)"
                .to_string(),
        ],
    }
}

fn referer_spam(sheet: &RapSheet) -> Recommendation {
    let hosts = distinct(
        sheet
            .evidence
            .iter()
            .filter(|row| row.signals.contains(&Signal::ForeignReferer.name()))
            .filter_map(|row| row.referer.as_deref()),
    );
    Recommendation {
        topic: Signal::ForeignReferer.name(),
        title: "Referer spam",
        advice: format!(
            "{} sent Referers from unrelated sites{}. Referer spam aims at published \
             statistics: do not publish referrer reports, and filter these sites out of \
             analytics. If a site of your own triggers this, add it to the policy's \
             site_hosts; if a legitimate referrer does, add it to lists/known-referrers.txt.",
            sheet.address,
            in_parens(&hosts, ", ")
        ),
        commands: Vec::new(),
    }
}

fn redirect_probe(sheet: &RapSheet) -> Recommendation {
    let paths = quoted_targets(sheet, Signal::RedirectProbe);
    Recommendation {
        topic: Signal::RedirectProbe.name(),
        title: "Probing behind redirects",
        advice: format!(
            "{} was redirected away from a path and then asked for it again, getting 404{}. \
             A redirect confirms that an area exists. Answer unauthenticated requests for \
             areas that exist and areas that do not in the same way, for instance by requiring \
             login before redirecting anywhere, so probes learn nothing from the difference.",
            sheet.address,
            in_parens(&paths, ", ")
        ),
        commands: Vec::new(),
    }
}

fn ua_rotation(sheet: &RapSheet) -> Recommendation {
    let agents = distinct(
        sheet
            .evidence
            .iter()
            .filter_map(|row| row.user_agent.as_deref()),
    );
    Recommendation {
        topic: Signal::UaRotation.name(),
        title: "User-Agent rotation",
        advice: format!(
            "{} changed its User-Agent{}, which evades rules keyed on the agent. Add tool \
             strings among them to lists/bad-user-agents.txt (reloaded without a restart), \
             but never browser strings, which would block real people. Identify such clients \
             by their TLS fingerprint instead: compute JA4 (or JA3) where TLS is terminated \
             and rate-limit per fingerprint, since a bot that rotates User-Agents keeps one TLS \
             stack. rapsheet does not compute TLS fingerprints itself.",
            sheet.address,
            in_parens(&agents, "; ")
        ),
        commands: Vec::new(),
    }
}

fn scanner_agent(who: IpAddr) -> Recommendation {
    Recommendation {
        topic: Signal::ScannerUserAgent.name(),
        title: "Attack tool",
        advice: format!(
            "{who} announced an attack or vulnerability-scanning tool in its User-Agent. Such \
             a tool looks for known weaknesses: keep the software it probes patched, and keep \
             lists/bad-user-agents.txt current so the next one is refused on its first request."
        ),
        commands: Vec::new(),
    }
}

fn brute_force(who: IpAddr) -> Recommendation {
    Recommendation {
        topic: Signal::BruteForce.name(),
        title: "Password guessing",
        advice: format!(
            "{who} kept trying to log in. Slow every login endpoint per address and per account \
             (a growing delay or a lockout after a few failures), offer or require a second \
             factor, and check the accounts it tried for logins that succeeded. A per-address \
             rate limit on the login path in nginx stops the next guesser before the \
             application does any work."
        ),
        commands: vec![
            "limit_req_zone $binary_remote_addr zone=login:10m rate=5r/m;\n\
             location = /wp-login.php { limit_req zone=login burst=3 nodelay; limit_req_status 429; }"
                .to_string(),
        ],
    }
}

/// What the application should fix when a request carried an attack payload.
fn payload_fix(sheet: &RapSheet, signal: Signal) -> Option<Recommendation> {
    let targets = in_parens(&quoted_targets(sheet, signal), ", ");
    let who = sheet.address;
    let (title, fix, commands) = match signal {
        Signal::PathTraversal => (
            "Path traversal",
            "Canonicalise every file path built from input (realpath or the language's \
             equivalent) and refuse it unless it stays under the intended base directory; \
             never hand request input to file APIs unchecked.",
            Vec::new(),
        ),
        Signal::Xss => (
            "Cross-site scripting",
            "Encode output for its context (HTML text, attribute, JavaScript, URL) in every \
             template, and send a Content-Security-Policy without 'unsafe-inline' so an \
             injected script does not run; mark session cookies HttpOnly.",
            vec![
                "Content-Security-Policy: default-src 'self'; script-src 'self'; \
                  object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
                    .to_string(),
            ],
        ),
        Signal::SqlInjection => (
            "SQL injection",
            "Use parameterised queries (prepared statements) for every query that takes \
             input, never string concatenation, and give the application's database account \
             only the rights it needs. Check the database logs for errors at the times below.",
            Vec::new(),
        ),
        Signal::CommandInjection => (
            "Command injection",
            "Never pass request input to a shell: start programs with an argument vector \
             (no `sh -c`), check values against an allowlist, and patch the component the \
             payload targets.",
            Vec::new(),
        ),
        Signal::WebShell => (
            "Web shell and exploit probes",
            "Make sure none of these files exist on disk, remove or patch the component they \
             belong to, and stop scripts from running in upload directories. List recently \
             changed scripts under the web root to look for planted ones:",
            vec!["find /var/www -type f -name '*.php' -mtime -30 -ls".to_string()],
        ),
        _ => return None,
    };
    Some(Recommendation {
        topic: signal.name(),
        title,
        advice: format!(
            "{who} sent {} payloads{targets}. {} {fix}",
            signal.category().name(),
            reached(sheet, signal)
        ),
        commands,
    })
}

/// Whether the evidence of `signal` reached the site, and what to check if it did.
fn reached(sheet: &RapSheet, signal: Signal) -> String {
    let fired = || {
        sheet
            .evidence
            .iter()
            .filter(move |row| row.signals.contains(&signal.name()))
    };
    let served = distinct(
        fired()
            .filter(|row| (200..300).contains(&row.status))
            .map(|row| row.target.as_str()),
    );
    if !served.is_empty() {
        return format!(
            "The site answered these with success and needs checking now: {}.",
            served.join(", ")
        );
    }
    if fired().all(|row| !row.forwarded) {
        return "rapsheet kept them from the site; fix the application all the same, so its \
                safety does not rest on the proxy."
            .to_string();
    }
    "The site answered none of them with success.".to_string()
}

/// Dropping the client, and its subnet, at the firewall.
fn firewall(sheet: &RapSheet, policy: &Policy, now_ms: u64) -> Recommendation {
    let key = policy.client_key(sheet.address);
    let key_prefix = match key {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => policy.ipv6_prefix,
    };
    let client_net = IpNet::new(key, key_prefix).map_or(IpNet::from(key), |net| net.trunc());
    let (subnet, prefix) = policy.subnet_of(key);
    let subnet_net = IpNet::new(subnet, prefix).map_or(client_net, |net| net.trunc());
    let ttl_secs = match sheet.verdict.ttl_secs {
        Some(ttl) if ttl > 0 => ttl,
        _ => policy.ban_for.as_secs(),
    };
    let until = rfc3339(now_ms + ttl_secs * 1000);
    let who = &sheet.client_key;
    let opening = if sheet.verdict.reason == "banned" {
        format!("rapsheet refuses {who} until {until}; to drop its packets in the kernel too")
    } else {
        format!("To drop {who}'s packets in the kernel until {until}")
    };
    let neighbours = match sheet.neighbourhood.banned_clients.len() {
        0 => format!("no other client of {subnet_net} is banned now"),
        1 => format!("one other client of {subnet_net} is banned now"),
        n => format!("{n} other clients of {subnet_net} are banned now"),
    };
    let advice = format!(
        "{opening}, add it to the set of rapsheet's nftables table. Create the table once \
         (or load GET /v1/exports/nftables, which defines the same table with every active \
         ban). Drop the whole subnet only when more of its clients misbehave: {neighbours}. \
         nft refuses overlapping intervals, so delete the client's element before adding its \
         subnet."
    );
    Recommendation {
        topic: "firewall",
        title: "Drop it at the firewall",
        advice,
        commands: vec![
            format!("# once per host\n{}", nft_setup_commands().join("\n")),
            format!("# this client\n{}", nft_add_element(client_net, ttl_secs)),
            format!(
                "# its subnet instead\n{}\n{}",
                nft_delete_element(client_net),
                nft_add_element(subnet_net, ttl_secs)
            ),
        ],
    }
}

/// The distinct targets of evidence requests that fired `signal`, at most [`QUOTED`].
fn quoted_targets(sheet: &RapSheet, signal: Signal) -> Vec<String> {
    distinct(
        sheet
            .evidence
            .iter()
            .filter(|row| row.signals.contains(&signal.name()))
            .map(|row| row.target.as_str()),
    )
}

/// ` (a, b)` for a non-empty list, nothing for an empty one.
fn in_parens(items: &[String], separator: &str) -> String {
    if items.is_empty() {
        return String::new();
    }
    format!(" ({})", items.join(separator))
}

/// The distinct values of `items` in their order, at most [`QUOTED`].
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for item in items {
        if seen.len() == QUOTED {
            break;
        }
        if !seen.iter().any(|known| known == item) {
            seen.push(item.to_string());
        }
    }
    seen
}

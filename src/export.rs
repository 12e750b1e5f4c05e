//! The active bans in forms other tools take: an nftables ruleset, a plain list of addresses
//! and networks, and AbuseIPDB's bulk-report CSV.
//!
//! rapsheet refuses banned clients itself; the exports let a firewall drop them before they
//! reach the proxy, share the list with other hosts, or report the worst clients upstream.
//! Each export is a snapshot: a ban lifted in rapsheet stays in a loaded ruleset until the
//! ruleset is loaded again, so exports are meant to be regenerated periodically.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::engine::{Engine, Signal};
use crate::policy::Policy;
use crate::report::{key_text, rfc3339};
use crate::store::BanCause;

/// The nftables table rapsheet's exports and recommendations use.
pub const NFT_TABLE: &str = "rapsheet";

/// The chain's priority: ahead of the usual `filter` chains (priority 0), so a banned
/// client is dropped before other rules spend time on it.
const NFT_PRIORITY: i32 = -10;

/// The longest element timeout written; nft refuses values that do not fit its counters,
/// and a year is longer than any ban worth keeping in a kernel set unattended.
const NFT_TIMEOUT_MAX_SECS: u64 = 365 * 86_400;

/// AbuseIPDB takes at most 10,000 lines per file, the header included.
const ABUSEIPDB_ROWS_MAX: usize = 9_999;

/// AbuseIPDB keeps at most 1,024 bytes of a comment.
const ABUSEIPDB_COMMENT_MAX: usize = 1_024;

/// Every ban running at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActiveBans {
    /// When the snapshot was taken (RFC 3339).
    pub at: String,
    /// Client bans, by score or by an operator.
    pub clients: Vec<ClientBan>,
    /// Operators' bans of networks.
    pub networks: Vec<NetworkBanRow>,
    /// Subnets banned because enough of their clients were.
    pub subnets: Vec<SubnetBanRow>,
    #[serde(skip)]
    now_ms: u64,
}

/// A running client ban.
#[derive(Debug, Clone, Serialize)]
pub struct ClientBan {
    /// The client key as an operator writes it (an address, or an IPv6 prefix).
    pub client: String,
    /// The reference shown to the client.
    pub reference: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ends.
    pub until: String,
    /// Seconds until it ends.
    pub ttl_secs: u64,
    /// Bans within the strike memory, this one included.
    pub strikes: u32,
    /// The score when it started.
    pub score: u32,
    /// `score` or `manual`.
    pub cause: &'static str,
    /// The operator's reason of a manual ban.
    pub reason: Option<String>,
    /// The signals and their points when it started.
    pub signals: Vec<SignalPoints>,
    #[serde(skip)]
    net: IpNet,
    #[serde(skip)]
    started_ms: u64,
    #[serde(skip)]
    until_ms: u64,
    #[serde(skip)]
    severity: &'static str,
    #[serde(skip)]
    counts: Option<(u32, u32)>,
}

/// A signal and its points.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SignalPoints {
    /// The signal's name.
    pub signal: &'static str,
    /// Its points.
    pub points: u16,
}

/// A running network ban set by an operator.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkBanRow {
    /// The network.
    pub network: String,
    /// Its reference.
    pub reference: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ends.
    pub until: String,
    /// Seconds until it ends.
    pub ttl_secs: u64,
    /// The operator's reason.
    pub reason: String,
    #[serde(skip)]
    net: IpNet,
    #[serde(skip)]
    until_ms: u64,
}

/// A running subnet ban.
#[derive(Debug, Clone, Serialize)]
pub struct SubnetBanRow {
    /// The subnet.
    pub subnet: String,
    /// Its reference.
    pub reference: Option<String>,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ends.
    pub until: String,
    /// Seconds until it ends.
    pub ttl_secs: u64,
    #[serde(skip)]
    net: IpNet,
    #[serde(skip)]
    until_ms: u64,
}

impl ActiveBans {
    /// Walks the store for every ban running at `now_ms`.
    pub fn collect(engine: &Engine, policy: &Policy, now_ms: u64) -> ActiveBans {
        ActiveBans {
            at: rfc3339(now_ms),
            clients: client_bans(engine, policy, now_ms),
            networks: network_bans(engine, now_ms),
            subnets: subnet_bans(engine, now_ms),
            now_ms,
        }
    }

    /// Every banned address and network with the end of its ban, clients first.
    fn entries(&self) -> Vec<(IpNet, u64)> {
        let clients = self.clients.iter().map(|ban| (ban.net, ban.until_ms));
        let networks = self.networks.iter().map(|ban| (ban.net, ban.until_ms));
        let subnets = self.subnets.iter().map(|ban| (ban.net, ban.until_ms));
        clients.chain(networks).chain(subnets).collect()
    }
}

/// Seconds from `now_ms` until `until_ms`, rounded up so a running ban never shows 0.
fn ttl_secs(until_ms: u64, now_ms: u64) -> u64 {
    until_ms.saturating_sub(now_ms).div_ceil(1000)
}

fn client_bans(engine: &Engine, policy: &Policy, now_ms: u64) -> Vec<ClientBan> {
    let store = engine.store();
    let mut bans: Vec<ClientBan> = store
        .offenders()
        .filter(|(_, offender)| offender.is_banned(now_ms))
        .map(|(key, offender)| {
            let record = store.client(key);
            let mut signals = offender.signals.clone();
            if signals.is_empty() {
                // A manual ban records no signals; the live record may still hold some.
                if let Some(record) = &record {
                    signals = record.live_signals(policy, now_ms);
                }
            }
            let (cause, reason) = match &offender.cause {
                BanCause::Score => ("score", None),
                BanCause::Manual(reason) => ("manual", Some(reason.clone())),
            };
            ClientBan {
                client: key_text(policy, key),
                reference: offender.reference.to_string(),
                started: rfc3339(offender.started_ms),
                until: rfc3339(offender.until_ms),
                ttl_secs: ttl_secs(offender.until_ms, now_ms),
                strikes: offender.strikes,
                score: offender.score,
                cause,
                reason,
                signals: signals
                    .iter()
                    .map(|(signal, points)| SignalPoints {
                        signal: signal.name(),
                        points: *points,
                    })
                    .collect(),
                net: key_net(policy, key),
                started_ms: offender.started_ms,
                until_ms: offender.until_ms,
                severity: policy.severity.of(offender.score).name(),
                counts: record.map(|r| (r.counts().0, r.counts().1)),
            }
        })
        .collect();
    bans.sort_by_key(|ban| ban.net);
    bans
}

fn network_bans(engine: &Engine, now_ms: u64) -> Vec<NetworkBanRow> {
    let mut bans: Vec<NetworkBanRow> = engine
        .store()
        .network_bans()
        .into_iter()
        .filter(|ban| ban.until_ms > now_ms)
        .map(|ban| NetworkBanRow {
            network: ban.net.to_string(),
            reference: ban.reference.to_string(),
            started: rfc3339(ban.started_ms),
            until: rfc3339(ban.until_ms),
            ttl_secs: ttl_secs(ban.until_ms, now_ms),
            reason: ban.reason,
            net: ban.net,
            until_ms: ban.until_ms,
        })
        .collect();
    bans.sort_by_key(|ban| ban.net);
    bans
}

fn subnet_bans(engine: &Engine, now_ms: u64) -> Vec<SubnetBanRow> {
    let mut bans: Vec<SubnetBanRow> = engine
        .store()
        .subnets()
        .filter(|(_, subnet)| subnet.banned_until_ms() > now_ms)
        .filter_map(|((network, prefix), subnet)| {
            let net = IpNet::new(network, prefix).ok()?.trunc();
            let state = subnet.state();
            Some(SubnetBanRow {
                subnet: net.to_string(),
                reference: state.reference.map(|r| r.to_string()),
                started: rfc3339(state.banned_at_ms),
                until: rfc3339(subnet.banned_until_ms()),
                ttl_secs: ttl_secs(subnet.banned_until_ms(), now_ms),
                net,
                until_ms: subnet.banned_until_ms(),
            })
        })
        .collect();
    bans.sort_by_key(|ban| ban.net);
    bans
}

/// The network a client key stands for: the address itself, or its IPv6 prefix.
fn key_net(policy: &Policy, key: IpAddr) -> IpNet {
    let prefix = match key {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => policy.ipv6_prefix,
    };
    IpNet::new(key, prefix).map_or(IpNet::from(key), |net| net.trunc())
}

/// An address or network as nft and the plain list write it: a single address without a
/// prefix length.
fn net_text(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Drops every entry that a wider entry already covers, keeping the wider one.
///
/// nft refuses overlapping elements in an interval set, and a client inside a banned subnet
/// is dropped by the subnet's element anyway. Sorted by network address and then prefix
/// length, a covering network comes right before what it covers, so one pass against the
/// last kept entry suffices.
fn without_covered(mut entries: Vec<(IpNet, u64)>) -> Vec<(IpNet, u64)> {
    entries.sort_by_key(|(net, _)| (net.network(), net.prefix_len()));
    let mut kept: Vec<(IpNet, u64)> = Vec::with_capacity(entries.len());
    for (net, until_ms) in entries {
        match kept.last_mut() {
            Some((wider, _)) if wider.contains(&net) => {}
            _ => kept.push((net, until_ms)),
        }
    }
    kept
}

/// The nft commands that create rapsheet's table, its two sets and the chain that drops
/// their members; `add` leaves existing objects alone, but each `add rule` appends a rule,
/// so they are run once per host.
pub fn nft_setup_commands() -> Vec<String> {
    vec![
        format!("nft add table inet {NFT_TABLE}"),
        format!(
            "nft add set inet {NFT_TABLE} banned_v4 '{{ type ipv4_addr; flags interval, timeout; }}'"
        ),
        format!(
            "nft add set inet {NFT_TABLE} banned_v6 '{{ type ipv6_addr; flags interval, timeout; }}'"
        ),
        format!(
            "nft add chain inet {NFT_TABLE} input '{{ type filter hook input priority \
             {NFT_PRIORITY}; policy accept; }}'"
        ),
        format!("nft add rule inet {NFT_TABLE} input ip saddr @banned_v4 drop"),
        format!("nft add rule inet {NFT_TABLE} input ip6 saddr @banned_v6 drop"),
    ]
}

/// The nft command that drops `net` for `ttl_secs`.
pub fn nft_add_element(net: IpNet, ttl_secs: u64) -> String {
    format!(
        "nft add element inet {NFT_TABLE} {} '{{ {} timeout {}s }}'",
        set_of(net),
        net_text(net),
        ttl_secs.clamp(1, NFT_TIMEOUT_MAX_SECS)
    )
}

/// The nft command that removes `net` from rapsheet's set.
pub fn nft_delete_element(net: IpNet) -> String {
    format!(
        "nft delete element inet {NFT_TABLE} {} '{{ {} }}'",
        set_of(net),
        net_text(net)
    )
}

fn set_of(net: IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "banned_v4",
        IpNet::V6(_) => "banned_v6",
    }
}

/// The active bans as an nftables script for `nft -f`. Loading it replaces rapsheet's table
/// in one transaction; each element times out when its ban would.
pub fn nftables(bans: &ActiveBans) -> String {
    let entries = without_covered(bans.entries());
    let mut out = String::new();
    let _ = writeln!(out, "#!/usr/sbin/nft -f");
    let _ = writeln!(
        out,
        "# rapsheet's active bans at {}: {} client, {} network and {} subnet bans.",
        bans.at,
        bans.clients.len(),
        bans.networks.len(),
        bans.subnets.len()
    );
    out.push_str(
        "# Load with `nft -f FILE`; the table is replaced as a whole. Timeouts are the time left\n\
         # on each ban; reload this file after bans are lifted (regenerate it every minute).\n\
         # Addresses inside a banned network appear only as that network, since nft refuses\n\
         # overlapping intervals.\n",
    );
    // Creating the table first makes the delete succeed on a host that never loaded it.
    let _ = writeln!(out, "table inet {NFT_TABLE} {{}}");
    let _ = writeln!(out, "delete table inet {NFT_TABLE}");
    let _ = writeln!(out, "table inet {NFT_TABLE} {{");
    for (name, kind, v4) in [
        ("banned_v4", "ipv4_addr", true),
        ("banned_v6", "ipv6_addr", false),
    ] {
        let elements: Vec<String> = entries
            .iter()
            .filter(|(net, _)| matches!(net, IpNet::V4(_)) == v4)
            .map(|(net, until_ms)| {
                let ttl_secs = ttl_secs(*until_ms, bans.now_ms).clamp(1, NFT_TIMEOUT_MAX_SECS);
                format!("\t\t\t{} timeout {ttl_secs}s", net_text(*net))
            })
            .collect();
        let _ = writeln!(
            out,
            "\tset {name} {{\n\t\ttype {kind}\n\t\tflags interval, timeout"
        );
        if !elements.is_empty() {
            let _ = writeln!(out, "\t\telements = {{\n{}\n\t\t}}", elements.join(",\n"));
        }
        out.push_str("\t}\n");
    }
    let _ = writeln!(
        out,
        "\tchain input {{\n\t\ttype filter hook input priority {NFT_PRIORITY}; policy accept;\n\
         \t\tip saddr @banned_v4 drop\n\t\tip6 saddr @banned_v6 drop\n\t}}\n}}"
    );
    out
}

/// The active bans as plain text: one address or network per line, sorted.
pub fn plain_text(bans: &ActiveBans) -> String {
    let lines: BTreeSet<IpNet> = bans.entries().into_iter().map(|(net, _)| net).collect();
    let mut out = String::new();
    for net in lines {
        out.push_str(&net_text(net));
        out.push('\n');
    }
    out
}

/// The AbuseIPDB categories a signal stands for. AbuseIPDB's categories used here: 10 web
/// spam (includes HTTP Referer spam), 14 port scan, 15 hacking, 16 SQL injection, 19 bad web bot
/// (excessive requests, User-Agent spoofing), 21 web app attack (probing for or exploiting
/// installed web applications), 18 brute force (credential guessing).
pub fn abuseipdb_categories(signal: Signal) -> &'static [u8] {
    match signal {
        // Guessing paths and asking for admin panels and secrets is probing for installed
        // applications, the definition of 21.
        Signal::NotFoundRatio | Signal::DangerHits | Signal::RedirectProbe => &[21],
        // Looking for a server that relays traffic is hacking in 15's sense, not a web app
        // attack.
        Signal::ProxyProbe => &[15],
        // TLS handshakes and binary junk on a plain-text port are what port scanners send to
        // learn what listens there.
        Signal::MalformedRequest => &[14],
        // Floods, tool User-Agents and User-Agent rotation are what 19 lists.
        Signal::Burst | Signal::ScannerUserAgent | Signal::UaRotation => &[19],
        Signal::ForeignReferer => &[10],
        Signal::Xss => &[21],
        Signal::SqlInjection => &[16, 21],
        // Reading system files, running commands and using a backdoor are attempts at
        // unauthorized access to the host, beyond the web application.
        Signal::PathTraversal | Signal::CommandInjection | Signal::WebShell => &[15, 21],
        Signal::BruteForce => &[18, 21],
    }
}

/// The client bans as AbuseIPDB's bulk-report CSV, most recent bans first.
///
/// Only single addresses can be reported: a client tracked by its IPv6 prefix, and network
/// and subnet bans, are left out, as are bans with no signal to categorise (a manual ban of
/// an address rapsheet never scored). The comment carries the ban's reference, its score and
/// the signals with their points: nothing the client sent and nothing about the site's users.
pub fn abuseipdb_csv(bans: &ActiveBans) -> String {
    let mut rows: Vec<&ClientBan> = bans
        .clients
        .iter()
        .filter(|ban| ban.net.prefix_len() == ban.net.max_prefix_len())
        .filter(|ban| !ban.signals.is_empty())
        .collect();
    rows.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(a.net.cmp(&b.net)));
    let mut out = String::from("IP,Categories,ReportDate,Comment\n");
    for ban in rows.into_iter().take(ABUSEIPDB_ROWS_MAX) {
        let categories: BTreeSet<u8> = ban
            .signals
            .iter()
            .filter_map(|row| Signal::from_name(row.signal))
            .flat_map(|signal| abuseipdb_categories(signal).iter().copied())
            .collect();
        let categories: Vec<String> = categories.iter().map(u8::to_string).collect();
        let _ = writeln!(
            out,
            "{},\"{}\",{},\"{}\"",
            ban.net.addr(),
            categories.join(","),
            iso8601(ban.started_ms),
            abuseipdb_comment(ban)
        );
    }
    out
}

/// RFC 3339 with an explicit `+00:00` offset, the form AbuseIPDB's documentation shows.
fn iso8601(ms: u64) -> String {
    let text = rfc3339(ms);
    match text.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => text,
    }
}

fn abuseipdb_comment(ban: &ClientBan) -> String {
    let signals: Vec<String> = ban
        .signals
        .iter()
        .map(|row| format!("{} +{}", row.signal, row.points))
        .collect();
    let mut comment = format!(
        "rapsheet ban {}: score {} ({}), signals: {}",
        ban.reference,
        ban.score,
        ban.severity,
        signals.join(", ")
    );
    if let Some((requests, hostile)) = ban.counts {
        let _ = write!(comment, "; {hostile} hostile of {requests} requests");
    }
    if ban.cause == "manual" {
        comment.push_str("; banned by an operator");
    }
    // Everything above comes from closed sets, numbers and the operator's reference, so no
    // quote or backslash occurs and the quoted field needs no escaping.
    let mut end = comment.len().min(ABUSEIPDB_COMMENT_MAX);
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    comment.truncate(end);
    comment
}

#[cfg(test)]
mod tests;

//! The policy: what each signal is worth, when a client is tarpitted or blocked, how long
//! bans last, and the lists. It is read from YAML and list files, validated as a whole into
//! an immutable [`Policy`], and swapped in whole on reload; a file with any mistake yields
//! every mistake, located, and no policy.

pub mod lists;
mod reader;
pub mod schema;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::detect::payload::PayloadMatcher;
use crate::detect::user_agent::UserAgentMatcher;
use crate::engine::{Severity, Signal};
use crate::yaml::{Problems, YamlDoc};
use lists::{CidrSet, HostList, PathList, UploadNames};
pub use schema::{Mode, TarpitStyle};

/// The highest points a single signal level may carry.
pub const MAX_POINTS: i64 = 1000;

/// The largest request body that can be inspected before forwarding: Pingora replays at
/// most this much of a body it has already read.
pub const MAX_BODY_LIMIT: usize = 64 * 1024;

/// The highest threshold a policy may set.
pub const MAX_THRESHOLD: i64 = 100_000;

/// A validated, immutable policy.
#[derive(Debug)]
pub struct Policy {
    /// Enforce verdicts, or only record them.
    pub mode: Mode,
    /// Score from which requests are tarpitted; `None` when tarpitting is off.
    pub tarpit_at: Option<u32>,
    /// Score from which the client is banned and refused.
    pub block_at: u32,
    /// A signal's points expire this long after it last fired.
    pub decay: Duration,
    /// The severity bands.
    pub severity: SeverityBands,
    /// The first ban's length.
    pub ban_for: Duration,
    /// How bans grow for repeat offenders.
    pub repeat_offenders: RepeatOffenders,
    /// When whole subnets are banned.
    pub subnet_bans: SubnetBans,
    /// How tarpits answer.
    pub tarpit: Tarpit,
    /// IPv6 clients are aggregated to this prefix length.
    pub ipv6_prefix: u8,
    /// The site's own host names, for the foreign Referer signal (the request's Host always
    /// counts as the site's own).
    pub site_hosts: HostList,
    /// File extensions of static assets (lower case, without the dot).
    pub static_extensions: Vec<Box<str>>,
    /// Request bodies up to this many bytes are read and inspected before forwarding; 0
    /// turns body inspection off.
    pub body_limit: usize,
    /// The signals that are on, with their parameters.
    pub signals: Signals,
    /// The compiled lists.
    pub lists: Lists,
    /// Every file this policy was read from, for the file watcher.
    pub files: Vec<PathBuf>,
    /// Different at every load: a memo of a text found clean (a record's User-Agent and
    /// cookie, the engine's shared paths and Referers) holds only under the policy that found
    /// it so.
    pub load_id: u64,
}

/// Lower bounds of the severity bands above low.
#[derive(Debug, Clone, Copy)]
pub struct SeverityBands {
    /// From this score: medium.
    pub medium: u32,
    /// From this score: high.
    pub high: u32,
    /// From this score: critical.
    pub critical: u32,
}

impl SeverityBands {
    /// The band `score` falls in.
    pub fn of(&self, score: u32) -> Severity {
        if score >= self.critical {
            Severity::Critical
        } else if score >= self.high {
            Severity::High
        } else if score >= self.medium {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

/// How bans grow for clients banned again.
#[derive(Debug, Clone, Copy)]
pub struct RepeatOffenders {
    /// How long a strike is remembered after its ban ends.
    pub memory: Duration,
    /// Each further strike multiplies the ban by this.
    pub multiplier: f64,
    /// The longest ban.
    pub max_ban: Duration,
    /// The share of a ban added or taken at random.
    pub jitter: f64,
}

/// When a subnet is banned as a whole.
#[derive(Debug, Clone, Copy)]
pub struct SubnetBans {
    /// Banned members that ban the subnet; `None` when subnet bans are off.
    pub ban_after: Option<u32>,
    /// How long a subnet ban lasts.
    pub ban_for: Duration,
    /// IPv4 subnet prefix length.
    pub ipv4_prefix: u8,
    /// IPv6 subnet prefix length.
    pub ipv6_prefix: u8,
}

/// How tarpitted requests are answered.
#[derive(Debug, Clone, Copy)]
pub struct Tarpit {
    /// Drip a body, or wait then refuse.
    pub style: TarpitStyle,
    /// How long one request is held.
    pub duration: Duration,
    /// Time between dripped chunks.
    pub interval: Duration,
    /// Tarpits held at once before clients get a plain 403 instead.
    pub max_held: usize,
    /// Dripped chunks per second over all held tarpits: with more held than
    /// `max_drips_per_second × interval`, each one drips less often, so holding costs the
    /// proxy a bounded share of its CPU whatever the number held.
    pub max_drips_per_second: u32,
}

impl Tarpit {
    /// The time between drips with `held` tarpits held: the configured interval, stretched
    /// so that all of them together drip at most `max_drips_per_second` times a second.
    pub fn drip_interval(&self, held: usize) -> Duration {
        let spread = Duration::from_secs(held as u64) / self.max_drips_per_second.max(1);
        self.interval.max(spread)
    }
}

/// One level of the 404 ratio signal.
#[derive(Debug, Clone, Copy)]
pub struct RatioLevel {
    /// From this share of 404s...
    pub ratio: f64,
    /// ...the signal carries these points.
    pub points: u16,
}

/// The parameters of `not_found_ratio`.
#[derive(Debug, Clone)]
pub struct NotFoundRatio {
    /// Levels in increasing ratio.
    pub levels: Vec<RatioLevel>,
    /// Responses in the window before the ratio means anything.
    pub min_responses: u32,
    /// The window the ratio is taken over.
    pub window: Duration,
    /// Whether answers to static assets count.
    pub count_static: bool,
}

/// The parameters of `burst`.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    /// Points when it fires.
    pub points: u16,
    /// Requests within `within` that fire it.
    pub requests: u32,
    /// The window.
    pub within: Duration,
    /// Whether requests for static assets count.
    pub count_static: bool,
    /// More points for many more requests in a shorter time.
    pub flood: Option<Flood>,
}

/// The parameters of `burst.flood`: requests at a rate no page load reaches.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// Points when it fires.
    pub points: u16,
    /// Requests within `within` that fire it.
    pub requests: u32,
    /// The window, as the number of the burst window's newest buckets that cover it (1 to
    /// all of them): the flood is counted in the burst's buckets, at no extra cost.
    pub buckets: usize,
}

/// The parameters of `danger_hits`.
#[derive(Debug, Clone, Copy)]
pub struct DangerHits {
    /// Points for each distinct dangerous path.
    pub points_per_path: u16,
    /// The most the signal carries.
    pub max_points: u16,
    /// Points of one request for a secret or configuration file (`secret_files`, or a path
    /// segment that starts with a dot), at once; `None` leaves those to `points_per_path`.
    pub strong_points: Option<u16>,
    /// Points for each distinct dangerous path the site answered 404, 410 or 403, in place
    /// of `points_per_path` and on top of `max_points`; `None` counts them like the rest.
    pub missing_points: Option<u16>,
}

/// The parameters of `foreign_referer`.
#[derive(Debug, Clone, Copy)]
pub struct ForeignReferer {
    /// Points when it fires.
    pub points: u16,
    /// Whether requests for static assets (hot-linked images) count.
    pub count_static: bool,
}

/// The parameters of `ua_rotation`.
#[derive(Debug, Clone, Copy)]
pub struct UaRotation {
    /// Points when it fires.
    pub points: u16,
    /// Distinct User-Agents within the window that fire it.
    pub distinct: u32,
    /// The window.
    pub window: Duration,
    /// More points for a client that brings a new User-Agent on nearly every request.
    pub rotating: Option<Rotating>,
}

/// The parameters of `ua_rotation.rotating`: a client that sends a new User-Agent with nearly
/// every request, which no group of people behind one address does (each browser fetches a
/// page and its assets with the same agent), once `ua_rotation` fired.
#[derive(Debug, Clone, Copy)]
pub struct Rotating {
    /// Points when it fires.
    pub points: u16,
    /// New User-Agents within the window that fire it.
    pub agents: u32,
    /// The least share of the client's requests within the window that brought a new one.
    pub share: f64,
}

/// The parameters of `brute_force`.
#[derive(Debug, Clone, Copy)]
pub struct BruteForce {
    /// Points when it fires.
    pub points: u16,
    /// Login attempts within `within` that fire it.
    pub attempts: u32,
    /// The window.
    pub within: Duration,
}

/// The signals that are on. A signal absent from the policy is off and contributes nothing,
/// even points it earned under an earlier policy.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// 404 ratio.
    pub not_found_ratio: Option<NotFoundRatio>,
    /// Request bursts.
    pub burst: Option<Burst>,
    /// Admin panel and secret file probes.
    pub danger_hits: Option<DangerHits>,
    /// Referers from unrelated sites.
    pub foreign_referer: Option<ForeignReferer>,
    /// Points of the redirect-then-404 probe.
    pub redirect_probe: Option<u16>,
    /// User-Agent rotation.
    pub ua_rotation: Option<UaRotation>,
    /// Points of a scanner User-Agent.
    pub scanner_user_agent: Option<u16>,
    /// Password guessing.
    pub brute_force: Option<BruteForce>,
    /// Points of an open-proxy probe.
    pub proxy_probe: Option<u16>,
    /// Points of a request line that is not HTTP.
    pub malformed_request: Option<u16>,
    /// Points of each payload signal, by [`Signal::index`]; zero when off.
    pub payload_points: [u16; Signal::COUNT],
}

impl Signals {
    /// True when `signal` is on.
    pub fn is_on(&self, signal: Signal) -> bool {
        match signal {
            Signal::NotFoundRatio => self.not_found_ratio.is_some(),
            Signal::Burst => self.burst.is_some(),
            Signal::DangerHits => self.danger_hits.is_some(),
            Signal::ForeignReferer => self.foreign_referer.is_some(),
            Signal::RedirectProbe => self.redirect_probe.is_some(),
            Signal::UaRotation => self.ua_rotation.is_some(),
            Signal::ScannerUserAgent => self.scanner_user_agent.is_some(),
            Signal::BruteForce => self.brute_force.is_some(),
            Signal::ProxyProbe => self.proxy_probe.is_some(),
            Signal::MalformedRequest => self.malformed_request.is_some(),
            payload => self.payload_points[payload.index()] > 0,
        }
    }

    /// The number of signals that are on.
    pub fn count(&self) -> usize {
        Signal::ALL
            .iter()
            .filter(|signal| self.is_on(**signal))
            .count()
    }
}

/// The compiled lists.
#[derive(Default)]
pub struct Lists {
    /// Never scored or refused.
    pub allowlist: CidrSet,
    /// Always refused.
    pub blocklist: CidrSet,
    /// Admin panels, configuration and secret files.
    pub danger_paths: Option<PathList>,
    /// Secret and configuration files whose first request earns `danger_hits.strong_points`.
    pub secret_files: Option<PathList>,
    /// File names an upload must not carry; one such upload earns `danger_hits.strong_points`.
    pub restricted_uploads: Option<UploadNames>,
    /// Referrer hosts that are never foreign: search engines, social sites.
    pub known_referrers: Option<HostList>,
    /// User-Agents of scanners and attack tools.
    pub bad_user_agents: Option<UserAgentMatcher>,
    /// The payload detectors, built when any payload signal is on.
    pub payloads: Option<PayloadMatcher>,
    /// Login endpoints, for the brute-force signal.
    pub login_paths: Option<PathList>,
}

impl std::fmt::Debug for Lists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lists")
            .field("allowlist", &self.allowlist)
            .field("blocklist", &self.blocklist)
            .field("entries", &self.entry_count())
            .finish()
    }
}

impl Lists {
    /// Entries over all lists, for reload logs.
    pub fn entry_count(&self) -> usize {
        self.allowlist.len()
            + self.blocklist.len()
            + self.danger_paths.as_ref().map_or(0, PathList::len)
            + self.secret_files.as_ref().map_or(0, PathList::len)
            + self.restricted_uploads.as_ref().map_or(0, UploadNames::len)
            + self.known_referrers.as_ref().map_or(0, HostList::len)
            + self
                .bad_user_agents
                .as_ref()
                .map_or(0, UserAgentMatcher::len)
    }
}

impl Policy {
    /// Reads and validates the policy at `path` and every list it names.
    ///
    /// # Errors
    ///
    /// Fails with every problem found, each with its file, line and key.
    pub fn load(path: &Path) -> Result<Policy, Problems> {
        let doc = YamlDoc::read(path)?;
        reader::PolicyReader::new(&doc).read()
    }

    /// The key a client is tracked under: the IPv4 address, or the IPv6 address cut to the
    /// policy's prefix. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn client_key(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(mask_v6(v6, self.ipv6_prefix)),
            },
        }
    }

    /// The subnet `key` belongs to, as its network address and prefix length.
    pub fn subnet_of(&self, key: IpAddr) -> (IpAddr, u8) {
        match key {
            IpAddr::V4(v4) => {
                let prefix = self.subnet_bans.ipv4_prefix;
                let bits =
                    u32::from(v4) & (u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0));
                (IpAddr::V4(bits.into()), prefix)
            }
            IpAddr::V6(v6) => {
                let prefix = self.subnet_bans.ipv6_prefix;
                (IpAddr::V6(mask_v6(v6, prefix)), prefix)
            }
        }
    }

    /// True when `path` names a static asset by its extension.
    pub fn is_static(&self, path: &str) -> bool {
        let last = path.rsplit('/').next().unwrap_or(path);
        let Some((_, extension)) = last.rsplit_once('.') else {
            return false;
        };
        self.static_extensions
            .iter()
            .any(|known| known.eq_ignore_ascii_case(extension))
    }
}

fn mask_v6(ip: std::net::Ipv6Addr, prefix: u8) -> std::net::Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    (u128::from(ip) & mask).into()
}

#[cfg(test)]
mod tests;

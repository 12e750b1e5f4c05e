//! The policy: what each signal is worth, when a client is tarpitted or blocked, how long
//! bans last, and the lists. It is read from YAML and list files, validated as a whole into
//! an immutable [`Policy`], and swapped in whole on reload; a file with any mistake yields
//! every mistake, located, and no policy.

pub mod lists;
pub mod schema;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use crate::detect::payload::{PayloadMatcher, PayloadVocab};
use crate::detect::user_agent::UserAgentMatcher;
use crate::detect::DetectError;
use crate::engine::{Severity, Signal};
use crate::yaml::{check_mapping_keys, Problem, Problems, YamlDoc};
use lists::{read_list_text, CidrSet, HostList, ListFile, PathList};
use schema::{
    BruteForceConfig, BurstConfig, DangerHitsConfig, ForeignRefererConfig, ListsConfig,
    NotFoundRatioConfig, PointsConfig, RepeatOffendersConfig, SeverityConfig, Span,
    SubnetBansConfig, TarpitConfig, UaRotationConfig,
};
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
}

/// The parameters of `danger_hits`.
#[derive(Debug, Clone, Copy)]
pub struct DangerHits {
    /// Points for each distinct dangerous path.
    pub points_per_path: u16,
    /// The most the signal carries.
    pub max_points: u16,
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
        PolicyReader::new(&doc).read()
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

const TOP_KEYS: &[&str] = &[
    "mode",
    "tarpit_at",
    "block_at",
    "decay",
    "severity",
    "ban_for",
    "repeat_offenders",
    "subnet_bans",
    "tarpit",
    "ipv6_prefix",
    "site_hosts",
    "static_extensions",
    "body_limit",
    "lists",
    "signals",
];

const DEFAULT_STATIC: &[&str] = &[
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "woff",
    "woff2", "ttf", "otf", "eot", "mp4", "webm", "mp3",
];

/// Reads one policy document, collecting problems instead of stopping at the first.
struct PolicyReader<'a> {
    doc: &'a YamlDoc,
    problems: Vec<Problem>,
}

impl<'a> PolicyReader<'a> {
    fn new(doc: &'a YamlDoc) -> Self {
        PolicyReader {
            doc,
            problems: Vec::new(),
        }
    }

    fn read(mut self) -> Result<Policy, Problems> {
        self.doc.check_keys(TOP_KEYS, &mut self.problems);
        let mode = self
            .section::<Option<Mode>>("mode")
            .flatten()
            .unwrap_or_default();
        let block_at = self.threshold("block_at", 100);
        let tarpit_at = self.optional_threshold("tarpit_at");
        if let Some(tarpit_at) = tarpit_at.filter(|at| *at >= block_at) {
            self.problem(
                "tarpit_at",
                format!("must be below block_at ({block_at}), got {tarpit_at}"),
            );
        }
        let decay = self.duration("decay", Duration::from_secs(600));
        let ban_for = self.duration("ban_for", Duration::from_secs(3600));
        let policy = Policy {
            mode,
            tarpit_at,
            block_at,
            decay,
            severity: self.severity(),
            ban_for,
            repeat_offenders: self.repeat_offenders(),
            subnet_bans: self.subnet_bans(),
            tarpit: self.tarpit(),
            ipv6_prefix: self.prefix("ipv6_prefix", 64, 128),
            site_hosts: self.site_hosts(),
            static_extensions: self.static_extensions(),
            body_limit: self.body_limit(),
            signals: self.signals(),
            lists: Lists::default(),
            files: vec![self.doc.file().to_path_buf()],
        };
        let policy = self.lists(policy);
        Problems(self.problems).into_result().map(|()| policy)
    }

    fn section<T: serde::de::DeserializeOwned + Default>(&mut self, key: &str) -> Option<T> {
        self.doc.section(key, &mut self.problems)
    }

    fn problem(&mut self, key: &str, message: String) {
        let problem = self.doc.problem(key, message);
        self.problems.push(problem);
    }

    fn optional_threshold(&mut self, key: &str) -> Option<u32> {
        let value = self.section::<Option<i64>>(key).flatten()?;
        self.in_range(key, value, 1, MAX_THRESHOLD)
            .map(|v| v as u32)
    }

    fn threshold(&mut self, key: &str, default: u32) -> u32 {
        self.optional_threshold(key).unwrap_or(default)
    }

    /// `value` when it lies within `min..=max`, a located problem otherwise.
    fn in_range(&mut self, key: &str, value: i64, min: i64, max: i64) -> Option<i64> {
        if (min..=max).contains(&value) {
            return Some(value);
        }
        self.problem(key, format!("must be between {min} and {max}, got {value}"));
        None
    }

    fn points(&mut self, key: &str, value: i64) -> u16 {
        self.in_range(key, value, 0, MAX_POINTS).unwrap_or(0) as u16
    }

    fn duration(&mut self, key: &str, default: Duration) -> Duration {
        let span = self.section::<Option<Span>>(key).flatten();
        self.positive(key, span.map_or(default, |span| span.0))
    }

    fn positive(&mut self, key: &str, duration: Duration) -> Duration {
        if duration.is_zero() {
            self.problem(key, "must be longer than zero".into());
        }
        duration
    }

    fn prefix(&mut self, key: &str, default: i64, max: i64) -> u8 {
        let value = self
            .section::<Option<i64>>(key)
            .flatten()
            .unwrap_or(default);
        self.in_range(key, value, 1, max).unwrap_or(default) as u8
    }

    fn severity(&mut self) -> SeverityBands {
        let config = self
            .section::<SeverityConfig>("severity")
            .unwrap_or_default();
        let medium = self.in_range("severity.medium", config.medium, 1, MAX_THRESHOLD);
        let high = self.in_range("severity.high", config.high, 1, MAX_THRESHOLD);
        let critical = self.in_range("severity.critical", config.critical, 1, MAX_THRESHOLD);
        let (medium, high, critical) = (
            medium.unwrap_or(25) as u32,
            high.unwrap_or(50) as u32,
            critical.unwrap_or(100) as u32,
        );
        if !(medium < high && high < critical) {
            self.problem(
                "severity",
                format!("bands must rise: medium {medium} < high {high} < critical {critical}"),
            );
        }
        SeverityBands {
            medium,
            high,
            critical,
        }
    }

    fn repeat_offenders(&mut self) -> RepeatOffenders {
        let config = self
            .section::<RepeatOffendersConfig>("repeat_offenders")
            .unwrap_or_default();
        if !(1.0..=100.0).contains(&config.multiplier) {
            let message = format!("must be between 1 and 100, got {}", config.multiplier);
            self.problem("repeat_offenders.multiplier", message);
        }
        if !(0.0..=0.5).contains(&config.jitter) {
            let message = format!("must be between 0 and 0.5, got {}", config.jitter);
            self.problem("repeat_offenders.jitter", message);
        }
        RepeatOffenders {
            memory: config.memory.0,
            multiplier: config.multiplier,
            max_ban: self.positive("repeat_offenders.max_ban", config.max_ban.0),
            jitter: config.jitter,
        }
    }

    fn subnet_bans(&mut self) -> SubnetBans {
        let config = self
            .section::<SubnetBansConfig>("subnet_bans")
            .unwrap_or_default();
        let ban_after = self.in_range("subnet_bans.ban_after", config.ban_after, 0, 65_536);
        let ipv4 = self.in_range("subnet_bans.ipv4_prefix", config.ipv4_prefix, 8, 32);
        let ipv6 = self.in_range("subnet_bans.ipv6_prefix", config.ipv6_prefix, 16, 128);
        SubnetBans {
            ban_after: ban_after.filter(|n| *n > 0).map(|n| n as u32),
            ban_for: self.positive("subnet_bans.ban_for", config.ban_for.0),
            ipv4_prefix: ipv4.unwrap_or(24) as u8,
            ipv6_prefix: ipv6.unwrap_or(48) as u8,
        }
    }

    fn tarpit(&mut self) -> Tarpit {
        let config = self.section::<TarpitConfig>("tarpit").unwrap_or_default();
        let max_held = self.in_range("tarpit.max_held", config.max_held, 0, 1_000_000);
        Tarpit {
            style: config.style,
            duration: self.positive("tarpit.duration", config.duration.0),
            interval: self.positive("tarpit.interval", config.interval.0),
            max_held: max_held.unwrap_or(0) as usize,
        }
    }

    fn site_hosts(&mut self) -> HostList {
        let hosts = self
            .section::<Vec<String>>("site_hosts")
            .unwrap_or_default();
        let list = ListFile {
            path: self.doc.file().to_path_buf(),
            entries: hosts.into_iter().map(|host| (0, host)).collect(),
        };
        HostList::from_list(&list, &mut self.problems)
    }

    fn body_limit(&mut self) -> usize {
        let value = self.section::<Option<i64>>("body_limit").flatten();
        let limit = value.unwrap_or(MAX_BODY_LIMIT as i64);
        self.in_range("body_limit", limit, 0, MAX_BODY_LIMIT as i64)
            .unwrap_or(0) as usize
    }

    fn static_extensions(&mut self) -> Vec<Box<str>> {
        match self
            .section::<Option<Vec<String>>>("static_extensions")
            .flatten()
        {
            Some(extensions) => extensions
                .into_iter()
                .map(|ext| ext.trim_start_matches('.').to_ascii_lowercase().into())
                .collect(),
            None => DEFAULT_STATIC.iter().map(|ext| (*ext).into()).collect(),
        }
    }

    fn signals(&mut self) -> Signals {
        let mut signals = Signals::default();
        let Some(mapping) = self.doc.root().get("signals") else {
            return signals;
        };
        let Some(mapping) = mapping.as_mapping() else {
            self.problem("signals", "expected a mapping of signal names".into());
            return signals;
        };
        let known: Vec<&str> = Signal::ALL.iter().map(|signal| signal.name()).collect();
        check_mapping_keys(self.doc, "signals", mapping, &known, &mut self.problems);
        for (name, value) in mapping {
            let Some(signal) = name.as_str().and_then(Signal::from_name) else {
                continue;
            };
            self.signal(&mut signals, signal, value);
        }
        signals
    }

    fn signal(&mut self, signals: &mut Signals, signal: Signal, value: &Value) {
        let key = format!("signals.{}", signal.name());
        match signal {
            Signal::NotFoundRatio => {
                signals.not_found_ratio = self.parse(&key, value).map(|c| self.ratio(&key, c));
            }
            Signal::Burst => {
                signals.burst = self.parse(&key, value).map(|c| self.burst(&key, c));
            }
            Signal::DangerHits => {
                signals.danger_hits = self.parse(&key, value).map(|c| self.danger(&key, c));
            }
            Signal::ForeignReferer => {
                let config: Option<ForeignRefererConfig> = self.parse(&key, value);
                signals.foreign_referer = config.map(|config| ForeignReferer {
                    points: self.points(&format!("{key}.points"), config.points),
                    count_static: config.count_static,
                });
            }
            Signal::UaRotation => {
                signals.ua_rotation = self.parse(&key, value).map(|c| self.ua_rotation(&key, c));
            }
            Signal::RedirectProbe => signals.redirect_probe = self.plain_points(&key, value),
            Signal::ScannerUserAgent => signals.scanner_user_agent = self.plain_points(&key, value),
            Signal::BruteForce => {
                signals.brute_force = self.parse(&key, value).map(|c| self.brute_force(&key, c));
            }
            payload => {
                let points = self.plain_points(&key, value).unwrap_or(0);
                signals.payload_points[payload.index()] = points;
            }
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(&mut self, key: &str, value: &Value) -> Option<T> {
        self.doc.deserialize(key, value, &mut self.problems)
    }

    fn plain_points(&mut self, key: &str, value: &Value) -> Option<u16> {
        let config: PointsConfig = self.parse(key, value)?;
        Some(self.points(&format!("{key}.points"), config.points))
    }

    fn ratio(&mut self, key: &str, config: NotFoundRatioConfig) -> NotFoundRatio {
        if config.levels.is_empty() {
            self.problem(&format!("{key}.levels"), "needs at least one level".into());
        }
        let mut levels = Vec::with_capacity(config.levels.len());
        for (i, level) in config.levels.iter().enumerate() {
            let at = format!("{key}.levels[{i}]");
            if !(level.ratio > 0.0 && level.ratio <= 1.0) {
                let message = format!("must be above 0 and at most 1, got {}", level.ratio);
                self.problem(&format!("{at}.ratio"), message);
            }
            if levels
                .last()
                .is_some_and(|last: &RatioLevel| last.ratio >= level.ratio)
            {
                self.problem(&format!("{at}.ratio"), "levels must rise in ratio".into());
            }
            let points = self.points(&format!("{at}.points"), level.points);
            levels.push(RatioLevel {
                ratio: level.ratio,
                points,
            });
        }
        let min = self.in_range(
            &format!("{key}.min_responses"),
            config.min_responses,
            1,
            65_535,
        );
        NotFoundRatio {
            levels,
            min_responses: min.unwrap_or(1) as u32,
            window: self.positive(&format!("{key}.window"), config.window.0),
            count_static: config.count_static,
        }
    }

    fn burst(&mut self, key: &str, config: BurstConfig) -> Burst {
        let requests = self.in_range(&format!("{key}.requests"), config.requests, 2, 1_000_000);
        Burst {
            points: self.points(&format!("{key}.points"), config.points),
            requests: requests.unwrap_or(2) as u32,
            within: self.positive(&format!("{key}.within"), config.within.0),
            count_static: config.count_static,
        }
    }

    fn danger(&mut self, key: &str, config: DangerHitsConfig) -> DangerHits {
        let per_path = self.points(&format!("{key}.points_per_path"), config.points_per_path);
        let max = self.points(&format!("{key}.max_points"), config.max_points);
        DangerHits {
            points_per_path: per_path,
            max_points: max,
        }
    }

    fn brute_force(&mut self, key: &str, config: BruteForceConfig) -> BruteForce {
        let attempts = self.in_range(&format!("{key}.attempts"), config.attempts, 1, 1_000_000);
        BruteForce {
            points: self.points(&format!("{key}.points"), config.points),
            attempts: attempts.unwrap_or(1) as u32,
            within: self.positive(&format!("{key}.within"), config.within.0),
        }
    }

    fn ua_rotation(&mut self, key: &str, config: UaRotationConfig) -> UaRotation {
        let distinct = self.in_range(&format!("{key}.distinct"), config.distinct, 2, 4);
        UaRotation {
            points: self.points(&format!("{key}.points"), config.points),
            distinct: distinct.unwrap_or(2) as u32,
            window: self.positive(&format!("{key}.window"), config.window.0),
        }
    }

    /// Reads every list the policy names, relative to the policy file.
    fn lists(&mut self, mut policy: Policy) -> Policy {
        let config = self.section::<ListsConfig>("lists").unwrap_or_default();
        let base = self
            .doc
            .file()
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut text_of = |this: &mut Self, name: &str, file: &Option<String>| {
            let path = base.join(file.as_ref()?);
            policy.files.push(path.clone());
            match read_list_text(&path) {
                Ok(text) => Some((path, text)),
                Err(problem) => {
                    let located = this
                        .doc
                        .problem(&format!("lists.{name}"), problem.to_string());
                    this.problems.push(located);
                    None
                }
            }
        };
        let allow = text_of(self, "allowlist", &config.allowlist);
        let block = text_of(self, "blocklist", &config.blocklist);
        let danger = text_of(self, "danger_paths", &config.danger_paths);
        let referrers = text_of(self, "known_referrers", &config.known_referrers);
        let agents = text_of(self, "bad_user_agents", &config.bad_user_agents);
        let shells = text_of(self, "web_shells", &config.web_shells);
        let files = text_of(self, "system_files", &config.system_files);
        let commands = text_of(self, "shell_commands", &config.shell_commands);
        let logins = text_of(self, "login_paths", &config.login_paths);

        let problems = &mut self.problems;
        let list = |(path, text): (PathBuf, String)| ListFile::parse(&path, &text);
        let payloads_on = Signal::ALL
            .into_iter()
            .any(|signal| policy.signals.payload_points[signal.index()] > 0);
        policy.lists = Lists {
            allowlist: allow
                .map(|l| CidrSet::from_list(&list(l), problems))
                .unwrap_or_default(),
            blocklist: block
                .map(|l| CidrSet::from_list(&list(l), problems))
                .unwrap_or_default(),
            danger_paths: danger.map(|l| PathList::from_list(&list(l), problems)),
            known_referrers: referrers.map(|l| HostList::from_list(&list(l), problems)),
            bad_user_agents: agents
                .and_then(|(path, text)| detected(UserAgentMatcher::new(&text), &path, problems)),
            payloads: payloads_on
                .then(|| payload_matcher(shells, files, commands, problems))
                .flatten(),
            login_paths: logins.map(|l| PathList::from_list(&list(l), problems)),
        };
        if policy.signals.danger_hits.is_some() && policy.lists.danger_paths.is_none() {
            self.problem(
                "lists.danger_paths",
                "danger_hits needs a danger_paths list".into(),
            );
        }
        if policy.signals.scanner_user_agent.is_some() && config.bad_user_agents.is_none() {
            let message = "scanner_user_agent needs a bad_user_agents list".into();
            self.problem("lists.bad_user_agents", message);
        }
        policy
    }
}

/// Builds the payload detectors from the named vocabulary lists, falling back to the shipped
/// ones for a list the policy does not name.
fn payload_matcher(
    shells: Option<(PathBuf, String)>,
    files: Option<(PathBuf, String)>,
    commands: Option<(PathBuf, String)>,
    problems: &mut Vec<Problem>,
) -> Option<PayloadMatcher> {
    let builtin = PayloadVocab::builtin();
    let vocab = PayloadVocab {
        web_shells: shells.as_ref().map_or(builtin.web_shells, |(_, text)| text),
        system_files: files
            .as_ref()
            .map_or(builtin.system_files, |(_, text)| text),
        shell_commands: commands
            .as_ref()
            .map_or(builtin.shell_commands, |(_, text)| text),
    };
    let path_of = |list: &str| {
        let named = match list {
            "web-shells" => &shells,
            "system-files" => &files,
            _ => &commands,
        };
        named
            .as_ref()
            .map_or_else(|| PathBuf::from(list), |(path, _)| path.clone())
    };
    match PayloadMatcher::new(&vocab) {
        Ok(matcher) => Some(matcher),
        Err(error) => {
            let list = detect_error_list(&error);
            problems.push(detect_problem(&error, &path_of(list)));
            None
        }
    }
}

/// The matcher, or a problem located in `path` when the list could not be compiled.
fn detected<T>(
    built: Result<T, DetectError>,
    path: &Path,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    built
        .map_err(|error| problems.push(detect_problem(&error, path)))
        .ok()
}

fn detect_error_list(error: &DetectError) -> &'static str {
    match error {
        DetectError::InvalidEntry { list, .. }
        | DetectError::EmptyList { list }
        | DetectError::Automaton { list, .. } => list,
    }
}

fn detect_problem(error: &DetectError, path: &Path) -> Problem {
    let line = match error {
        DetectError::InvalidEntry { line, .. } => Some(*line),
        _ => None,
    };
    Problem {
        file: path.to_path_buf(),
        line,
        key: String::new(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests;

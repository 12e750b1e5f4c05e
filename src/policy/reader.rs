//! Reading a policy document into a [`Policy`]: every section is deserialised on its own and
//! checked, so that one mistake does not hide the next, and every problem is located by its
//! key path and line.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_yaml::Value;

use super::lists::{read_list_text, CidrSet, HostList, ListFile, PathList, UploadNames};
use super::schema::{
    BruteForceConfig, BurstConfig, DangerHitsConfig, FloodConfig, ForeignRefererConfig,
    ListsConfig, Mode, NotFoundRatioConfig, PointsConfig, RepeatOffendersConfig, RotatingConfig,
    SeverityConfig, Span, SubnetBansConfig, TarpitConfig, UaRotationConfig,
};
use super::*;
use crate::detect::payload::{PayloadMatcher, PayloadVocab};
use crate::detect::user_agent::UserAgentMatcher;
use crate::detect::DetectError;
use crate::engine::record::BURST_BUCKETS;
use crate::engine::Signal;
use crate::yaml::{check_mapping_keys, Problem, Problems, YamlDoc};

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

/// Policies loaded so far in this process, which numbers each one (`Policy::load_id`).
static LOADS: AtomicU64 = AtomicU64::new(1);

/// Reads one policy document, collecting problems instead of stopping at the first.
pub(super) struct PolicyReader<'a> {
    doc: &'a YamlDoc,
    problems: Vec<Problem>,
}

impl<'a> PolicyReader<'a> {
    pub(super) fn new(doc: &'a YamlDoc) -> Self {
        PolicyReader {
            doc,
            problems: Vec::new(),
        }
    }

    pub(super) fn read(mut self) -> Result<Policy, Problems> {
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
            load_id: LOADS.fetch_add(1, Ordering::Relaxed),
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

    /// Checks that `value` is a share: above 0 and at most 1.
    fn share(&mut self, key: &str, value: f64) {
        if !(value > 0.0 && value <= 1.0) {
            self.problem(key, format!("must be above 0 and at most 1, got {value}"));
        }
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
        let drips = config.max_drips_per_second;
        let max_drips = self.in_range("tarpit.max_drips_per_second", drips, 1, 1_000_000);
        Tarpit {
            style: config.style,
            duration: self.positive("tarpit.duration", config.duration.0),
            interval: self.positive("tarpit.interval", config.interval.0),
            max_held: max_held.unwrap_or(0) as usize,
            max_drips_per_second: max_drips.unwrap_or(2000) as u32,
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
            Signal::ProxyProbe => signals.proxy_probe = self.plain_points(&key, value),
            Signal::MalformedRequest => {
                signals.malformed_request = self.plain_points(&key, value);
            }
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
            self.share(&format!("{at}.ratio"), level.ratio);
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
        let within = self.positive(&format!("{key}.within"), config.within.0);
        Burst {
            points: self.points(&format!("{key}.points"), config.points),
            requests: requests.unwrap_or(2) as u32,
            within,
            count_static: config.count_static,
            flood: config
                .flood
                .map(|flood| self.flood(&format!("{key}.flood"), flood, within)),
        }
    }

    fn flood(&mut self, key: &str, config: FloodConfig, burst_within: Duration) -> Flood {
        let requests = self.in_range(&format!("{key}.requests"), config.requests, 2, 1_000_000);
        let within = self.positive(&format!("{key}.within"), config.within.0);
        if within > burst_within {
            let message = format!(
                "must be at most burst.within ({}), got {}",
                humantime::format_duration(burst_within),
                humantime::format_duration(within)
            );
            self.problem(&format!("{key}.within"), message);
        }
        let bucket = burst_within.as_secs_f64() / BURST_BUCKETS as f64;
        let buckets = (within.as_secs_f64() / bucket).ceil() as usize;
        Flood {
            points: self.points(&format!("{key}.points"), config.points),
            requests: requests.unwrap_or(2) as u32,
            buckets: buckets.clamp(1, BURST_BUCKETS),
        }
    }

    fn danger(&mut self, key: &str, config: DangerHitsConfig) -> DangerHits {
        let per_path = self.points(&format!("{key}.points_per_path"), config.points_per_path);
        let max = self.points(&format!("{key}.max_points"), config.max_points);
        let strong = config
            .strong_points
            .map(|points| self.points(&format!("{key}.strong_points"), points));
        let missing = config
            .missing_points
            .map(|points| self.points(&format!("{key}.missing_points"), points));
        DangerHits {
            points_per_path: per_path,
            max_points: max,
            strong_points: strong,
            missing_points: missing,
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
            rotating: config
                .rotating
                .map(|rotating| self.rotating(&format!("{key}.rotating"), rotating)),
        }
    }

    fn rotating(&mut self, key: &str, config: RotatingConfig) -> Rotating {
        let agents = self.in_range(&format!("{key}.agents"), config.agents, 2, 1_000_000);
        self.share(&format!("{key}.share"), config.share);
        Rotating {
            points: self.points(&format!("{key}.points"), config.points),
            agents: agents.unwrap_or(2) as u32,
            share: config.share,
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
        let secrets = text_of(self, "secret_files", &config.secret_files);
        let uploads = text_of(self, "restricted_uploads", &config.restricted_uploads);
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
            secret_files: secrets.map(|l| PathList::from_list(&list(l), problems)),
            restricted_uploads: uploads.map(|l| UploadNames::from_list(&list(l), problems)),
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

//! The policy file as written: serde structs that mirror the YAML, with defaults, before any
//! validation. Unknown keys are errors everywhere (a typo in a rule must not silently weaken
//! protection); numbers are read wide and signed so that validation can say "must be at
//! least 1" instead of a bare type error.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written the human way: `500ms`, `2s`, `10m`, `1h`, `7d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(Span)
            .map_err(|error| serde::de::Error::custom(format!("bad duration `{text}`: {error}")))
    }
}

/// Whether verdicts are carried out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Tarpit and block as the policy says.
    #[default]
    Enforce,
    /// Score, record and count, but forward every request.
    Shadow,
}

/// `severity:` the lower bounds of the bands above low.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityConfig {
    pub medium: i64,
    pub high: i64,
    pub critical: i64,
}

impl Default for SeverityConfig {
    fn default() -> Self {
        SeverityConfig {
            medium: 25,
            high: 50,
            critical: 100,
        }
    }
}

/// `repeat_offenders:` how bans grow for clients banned again.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepeatOffendersConfig {
    /// How long a strike is remembered after its ban ends.
    pub memory: Span,
    /// Each strike multiplies the ban by this.
    pub multiplier: f64,
    /// No ban is longer than this.
    pub max_ban: Span,
    /// A random share (0 to 0.5) added to or taken from each ban.
    pub jitter: f64,
}

impl Default for RepeatOffendersConfig {
    fn default() -> Self {
        RepeatOffendersConfig {
            memory: Span(Duration::from_secs(7 * 86_400)),
            multiplier: 2.0,
            max_ban: Span(Duration::from_secs(7 * 86_400)),
            jitter: 0.1,
        }
    }
}

/// `subnet_bans:` when a whole /24 or /48 is refused.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubnetBansConfig {
    /// Banned members of one subnet that ban the subnet; 0 turns subnet bans off.
    pub ban_after: i64,
    /// How long a subnet ban lasts.
    pub ban_for: Span,
    /// Prefix length of an IPv4 subnet.
    pub ipv4_prefix: i64,
    /// Prefix length of an IPv6 subnet.
    pub ipv6_prefix: i64,
}

impl Default for SubnetBansConfig {
    fn default() -> Self {
        SubnetBansConfig {
            ban_after: 0,
            ban_for: Span(Duration::from_secs(3600)),
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        }
    }
}

/// How a tarpitted client is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TarpitStyle {
    /// A chunked body dripped a few bytes at a time.
    #[default]
    Drip,
    /// Silence, then a 403.
    Delay,
}

/// `tarpit:` how long and how many.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TarpitConfig {
    pub style: TarpitStyle,
    /// How long one tarpitted request is held.
    pub duration: Span,
    /// Time between dripped chunks.
    pub interval: Span,
    /// Tarpits held at once, over all clients; past it a plain 403.
    pub max_held: i64,
    /// Dripped chunks per second over all held tarpits; more held stretch the interval.
    pub max_drips_per_second: i64,
}

impl Default for TarpitConfig {
    fn default() -> Self {
        TarpitConfig {
            style: TarpitStyle::Drip,
            duration: Span(Duration::from_secs(20)),
            interval: Span(Duration::from_secs(1)),
            max_held: 2000,
            max_drips_per_second: 2000,
        }
    }
}

/// `lists:` list files, relative to the policy file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListsConfig {
    pub allowlist: Option<String>,
    pub blocklist: Option<String>,
    pub danger_paths: Option<String>,
    pub secret_files: Option<String>,
    pub restricted_uploads: Option<String>,
    pub bad_user_agents: Option<String>,
    pub known_referrers: Option<String>,
    pub web_shells: Option<String>,
    pub system_files: Option<String>,
    pub shell_commands: Option<String>,
    pub login_paths: Option<String>,
}

/// One level of the 404 ratio signal.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioLevelConfig {
    /// The 404 share (0 to 1) from which this level applies.
    pub ratio: f64,
    pub points: i64,
}

/// `signals.not_found_ratio`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotFoundRatioConfig {
    pub levels: Vec<RatioLevelConfig>,
    #[serde(default = "default_min_responses")]
    pub min_responses: i64,
    #[serde(default = "default_ratio_window")]
    pub window: Span,
    #[serde(default)]
    pub count_static: bool,
}

fn default_min_responses() -> i64 {
    10
}

fn default_ratio_window() -> Span {
    Span(Duration::from_secs(300))
}

/// `signals.burst`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstConfig {
    pub points: i64,
    pub requests: i64,
    pub within: Span,
    #[serde(default)]
    pub count_static: bool,
    #[serde(default)]
    pub flood: Option<FloodConfig>,
}

/// `signals.burst.flood`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodConfig {
    pub points: i64,
    pub requests: i64,
    /// At most the burst's own window.
    pub within: Span,
}

/// `signals.danger_hits`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DangerHitsConfig {
    pub points_per_path: i64,
    pub max_points: i64,
    #[serde(default)]
    pub strong_points: Option<i64>,
    #[serde(default)]
    pub missing_points: Option<i64>,
}

/// `signals.foreign_referer`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignRefererConfig {
    pub points: i64,
    #[serde(default)]
    pub count_static: bool,
}

/// `signals.ua_rotation`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UaRotationConfig {
    pub points: i64,
    /// Distinct User-Agents within the window that fire the signal (2 to 4).
    pub distinct: i64,
    #[serde(default = "default_ua_window")]
    pub window: Span,
    #[serde(default)]
    pub rotating: Option<RotatingConfig>,
}

/// `signals.ua_rotation.rotating`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotatingConfig {
    pub points: i64,
    /// New User-Agents within the window, counted once the signal fired.
    pub agents: i64,
    /// The least share of the client's requests that brought a new User-Agent.
    pub share: f64,
}

fn default_ua_window() -> Span {
    Span(Duration::from_secs(600))
}

/// `signals.brute_force`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BruteForceConfig {
    pub points: i64,
    /// Login attempts (POSTs to a login path, 401 answers) within `within` that fire it.
    pub attempts: i64,
    pub within: Span,
}

/// A signal that needs nothing but its points.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsConfig {
    pub points: i64,
}

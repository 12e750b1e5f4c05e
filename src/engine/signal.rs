//! The vocabulary of signals: one name per detector, used the same way in the policy YAML,
//! metrics, logs and reports.

use std::fmt;

use crate::detect::payload::PayloadKind;

/// A kind of behaviour the engine scores. Each kind counts once in a score, at the highest
/// level it reached, until its points expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Signal {
    /// The share of 404 answers passes a ratio over enough responses.
    NotFoundRatio,
    /// More requests than a threshold within a short time.
    Burst,
    /// Requests for admin panels, configuration and secret files.
    DangerHits,
    /// A Referer from an unrelated site.
    ForeignReferer,
    /// A path answered with a redirect, then 404 for the same client.
    RedirectProbe,
    /// The client keeps changing its User-Agent.
    UaRotation,
    /// A User-Agent of a known scanner or attack tool.
    ScannerUserAgent,
    /// Path traversal or local file inclusion in the request.
    PathTraversal,
    /// Cross-site scripting in the request.
    Xss,
    /// SQL injection in the request.
    SqlInjection,
    /// Command injection or remote code execution in the request.
    CommandInjection,
    /// Requests for web shells, backdoors and exploit paths.
    WebShell,
    /// Repeated login attempts or authentication failures.
    BruteForce,
    /// A request asking this server to act as a forward proxy.
    ProxyProbe,
    /// A request line that is not HTTP: a TLS handshake or binary junk sent to a plain-text
    /// port, an HTTP version that does not exist.
    MalformedRequest,
}

impl Signal {
    /// The number of signal kinds.
    pub const COUNT: usize = 15;

    /// Every signal kind, in a stable order (the order of their indices).
    pub const ALL: [Signal; Signal::COUNT] = [
        Signal::NotFoundRatio,
        Signal::Burst,
        Signal::DangerHits,
        Signal::ForeignReferer,
        Signal::RedirectProbe,
        Signal::UaRotation,
        Signal::ScannerUserAgent,
        Signal::PathTraversal,
        Signal::Xss,
        Signal::SqlInjection,
        Signal::CommandInjection,
        Signal::WebShell,
        Signal::BruteForce,
        Signal::ProxyProbe,
        Signal::MalformedRequest,
    ];

    /// A dense index, for per-signal arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in YAML, metrics, logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Signal::NotFoundRatio => "not_found_ratio",
            Signal::Burst => "burst",
            Signal::DangerHits => "danger_hits",
            Signal::ForeignReferer => "foreign_referer",
            Signal::RedirectProbe => "redirect_probe",
            Signal::UaRotation => "ua_rotation",
            Signal::ScannerUserAgent => "scanner_user_agent",
            Signal::PathTraversal => "path_traversal",
            Signal::Xss => "xss",
            Signal::SqlInjection => "sql_injection",
            Signal::CommandInjection => "command_injection",
            Signal::WebShell => "web_shell",
            Signal::BruteForce => "brute_force",
            Signal::ProxyProbe => "proxy_probe",
            Signal::MalformedRequest => "malformed_request",
        }
    }

    /// The signal with this name, if any.
    pub fn from_name(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|signal| signal.name() == name)
    }

    /// The attack category the signal stands for, as reports group them.
    pub fn category(self) -> Category {
        match self {
            Signal::NotFoundRatio => Category::Enumeration,
            Signal::Burst => Category::Scanning,
            Signal::DangerHits | Signal::RedirectProbe | Signal::ProxyProbe => Category::Probing,
            Signal::ForeignReferer => Category::RefererSpam,
            Signal::UaRotation => Category::BotRotation,
            Signal::ScannerUserAgent | Signal::MalformedRequest => Category::Scanning,
            Signal::PathTraversal => Category::FileInclusion,
            Signal::Xss => Category::CrossSiteScripting,
            Signal::SqlInjection => Category::SqlInjection,
            Signal::CommandInjection => Category::CodeExecution,
            Signal::WebShell => Category::Backdoor,
            Signal::BruteForce => Category::BruteForce,
        }
    }

    /// A one-line description for reports, in the seed report's words where it had them.
    pub fn description(self) -> &'static str {
        match self {
            Signal::NotFoundRatio => "Majority of requests returned 404: enumeration",
            Signal::Burst => "Abnormally fast request rate: automated scanning",
            Signal::DangerHits => "Requests for admin panels, config and secret files",
            Signal::ForeignReferer => "Referer from an unrelated external domain",
            Signal::RedirectProbe => "A redirected path probed again and answered 404",
            Signal::UaRotation => "Multiple User-Agents: bot rotation technique",
            Signal::ScannerUserAgent => "User-Agent of a known scanner or attack tool",
            Signal::PathTraversal => "Path traversal or local file inclusion attempt",
            Signal::Xss => "Cross-site scripting payload",
            Signal::SqlInjection => "SQL injection payload",
            Signal::CommandInjection => "Command injection or remote code execution payload",
            Signal::WebShell => "Request for a web shell, backdoor or exploit path",
            Signal::BruteForce => "Repeated login attempts or authentication failures",
            Signal::ProxyProbe => "Asked to relay to another host: open-proxy probe",
            Signal::MalformedRequest => "Request line that is not HTTP: a port scanner's probe",
        }
    }
}

impl From<PayloadKind> for Signal {
    fn from(kind: PayloadKind) -> Signal {
        match kind {
            PayloadKind::PathTraversal => Signal::PathTraversal,
            PayloadKind::Xss => Signal::Xss,
            PayloadKind::SqlInjection => Signal::SqlInjection,
            PayloadKind::CommandInjection => Signal::CommandInjection,
            PayloadKind::WebShell => Signal::WebShell,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of abuse a signal points to; a report counts distinct categories as attack
/// vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Guessing paths: many 404s.
    Enumeration,
    /// Automated request floods and scanner tools.
    Scanning,
    /// Asking for admin panels, secrets and redirected paths.
    Probing,
    /// Referer spam and abuse.
    RefererSpam,
    /// Rotating User-Agents to evade per-agent limits.
    BotRotation,
    /// Path traversal and local file inclusion.
    FileInclusion,
    /// Cross-site scripting.
    CrossSiteScripting,
    /// SQL injection.
    SqlInjection,
    /// Command injection and remote code execution.
    CodeExecution,
    /// Web shells and backdoors.
    Backdoor,
    /// Password guessing.
    BruteForce,
}

impl Category {
    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Category::Enumeration => "enumeration",
            Category::Scanning => "scanning",
            Category::Probing => "probing",
            Category::RefererSpam => "referer spam",
            Category::BotRotation => "bot rotation",
            Category::FileInclusion => "file inclusion",
            Category::CrossSiteScripting => "cross-site scripting",
            Category::SqlInjection => "sql injection",
            Category::CodeExecution => "code execution",
            Category::Backdoor => "backdoor",
            Category::BruteForce => "brute force",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How bad a score is, by the policy's bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Below the medium band.
    Low,
    /// From the medium band.
    Medium,
    /// From the high band.
    High,
    /// From the critical band.
    Critical,
}

impl Severity {
    /// The lower-case name used in JSON, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_are_dense() {
        for (i, signal) in Signal::ALL.into_iter().enumerate() {
            assert_eq!(signal.index(), i);
            assert_eq!(Signal::from_name(signal.name()), Some(signal));
        }
        assert_eq!(Signal::from_name("nope"), None);
    }
}

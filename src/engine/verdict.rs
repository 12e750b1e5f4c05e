//! What the engine answers: the verdict for a request, the decisions worth reporting, and
//! the reference ids that tie a refused client's complaint to the log line behind it.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::record::ClientRecord;
use super::signal::{Severity, Signal};

/// The id a refused client is shown and the logs carry, so a complaint can be matched to
/// the decision without telling the client why it was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefId(pub u64);

impl fmt::Display for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012x}", self.0 & 0xffff_ffff_ffff)
    }
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Forward it.
    Allow,
    /// Hold the client and answer slowly; never forward.
    Tarpit,
    /// Refuse with 403; never forward.
    Block,
}

impl Action {
    /// The name used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Tarpit => "tarpit",
            Action::Block => "block",
        }
    }
}

/// Why the verdict is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The client's score decided.
    Score,
    /// The address is on the allowlist: never scored.
    Allowlisted,
    /// The address is on the blocklist.
    Blocklisted,
    /// The client is banned.
    Banned,
    /// The client's subnet is banned.
    SubnetBanned,
    /// An operator banned a network the client is in.
    NetworkBanned,
}

impl Reason {
    /// The name used in logs, metrics and reports.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Score => "score",
            Reason::Allowlisted => "allowlist",
            Reason::Blocklisted => "blocklist",
            Reason::Banned => "banned",
            Reason::SubnetBanned => "subnet_banned",
            Reason::NetworkBanned => "network_banned",
        }
    }
}

/// The engine's answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The client's score after this request.
    pub score: u32,
    /// The reference of the ban that refuses the request, if one does.
    pub reference: Option<RefId>,
}

/// A verdict worth telling an operator about: a ban, a subnet ban, or a client entering the
/// tarpit. The edge logs it and counts it, once.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The reference shown to the client.
    pub reference: RefId,
    /// The client key.
    pub client: IpAddr,
    /// What was decided.
    pub action: Action,
    /// The score at the decision.
    pub score: u32,
    /// Its severity.
    pub severity: Severity,
    /// The live signals and their points, strongest first.
    pub signals: Vec<(Signal, u16)>,
    /// When the ban ends (ms since the Unix epoch); 0 for a tarpit.
    pub until_ms: u64,
    /// The client's strikes, this ban included.
    pub strikes: u32,
    /// The subnet banned along with this ban, if the ban tipped it.
    pub subnet: Option<(IpAddr, u8, RefId)>,
}

/// The engine's result for one request: the verdict, a decision to log if one was made, and
/// what the response phase needs to finish the job.
#[derive(Clone)]
pub struct Outcome {
    /// What to do with the request.
    pub verdict: Verdict,
    /// A decision made by this request.
    pub decision: Option<Box<Decision>>,
    /// The signals this request fired, by bit [`Signal::index`].
    pub fired: u16,
    pub(super) record: Option<Arc<ClientRecord>>,
    pub(super) evidence: Option<u32>,
    pub(super) hostile: bool,
}

impl Outcome {
    pub(super) fn listed(action: Action, reason: Reason) -> Outcome {
        Outcome {
            verdict: Verdict {
                action,
                reason,
                score: 0,
                reference: None,
            },
            decision: None,
            fired: 0,
            record: None,
            evidence: None,
            hostile: action != Action::Allow,
        }
    }
}

/// What a response taught the engine.
#[derive(Debug, Default)]
pub struct Learned {
    /// The signals the response fired, by bit [`Signal::index`].
    pub fired: u16,
    /// A ban the response caused.
    pub decision: Option<Box<Decision>>,
}

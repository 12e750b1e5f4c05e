//! A client's neighbourhood: its subnet's banned and scored members, the subnet's ban, and
//! an operator's network ban over the client. Also the whole answer of `/v1/subnets`.

use std::net::IpAddr;

use serde::Serialize;

use super::{rfc3339, NEIGHBOURS_SHOWN};
use crate::engine::Engine;
use crate::policy::Policy;

/// The client's subnet and what is known about it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Neighbourhood {
    /// The subnet, `203.0.113.0/24`.
    pub subnet: String,
    /// Other clients of the subnet whose bans run now.
    pub banned_clients: Vec<Neighbour>,
    /// Other clients of the subnet that carry points.
    pub scored_clients: Vec<Neighbour>,
    /// The subnet's own ban, while it runs.
    pub subnet_ban: Option<NetBan>,
    /// An operator's ban of a network holding the address, while it runs.
    pub network_ban: Option<NetBan>,
}

/// Another client of the same subnet.
#[derive(Debug, Clone, Serialize)]
pub struct Neighbour {
    /// Its client key.
    pub client: IpAddr,
    /// Its score now.
    pub score: u32,
    /// When its ban ends (RFC 3339), if it is banned.
    pub banned_until: Option<String>,
}

/// A ban of a whole network.
#[derive(Debug, Clone, Serialize)]
pub struct NetBan {
    /// The network.
    pub network: String,
    /// Its reference.
    pub reference: Option<String>,
    /// When it ends (RFC 3339).
    pub until: String,
    /// The operator's reason, for a network ban.
    pub reason: Option<String>,
}

/// The neighbourhood of `address`.
pub(super) fn neighbourhood(
    engine: &Engine,
    policy: &Policy,
    address: IpAddr,
    now_ms: u64,
) -> Neighbourhood {
    let key = policy.client_key(address);
    let mut found = Neighbourhood::of(engine, policy, policy.subnet_of(key), Some(key), now_ms);
    found.network_ban = engine
        .store()
        .network_ban(address, now_ms)
        .map(|ban| NetBan {
            network: ban.net.to_string(),
            reference: Some(ban.reference.to_string()),
            until: rfc3339(ban.until_ms),
            reason: Some(ban.reason),
        });
    found
}

impl Neighbourhood {
    /// What is known about `subnet` (network address and prefix length) at `now_ms`, with
    /// `exclude` left out of its member lists; the network ban is left to the caller.
    pub fn of(
        engine: &Engine,
        policy: &Policy,
        subnet: (IpAddr, u8),
        exclude: Option<IpAddr>,
        now_ms: u64,
    ) -> Neighbourhood {
        let store = engine.store();
        let mut found = Neighbourhood {
            subnet: format!("{}/{}", subnet.0, subnet.1),
            ..Neighbourhood::default()
        };
        let Some(record) = store.subnet(subnet) else {
            return found;
        };
        let state = record.state();
        if record.banned_until_ms() > now_ms {
            found.subnet_ban = Some(NetBan {
                network: found.subnet.clone(),
                reference: state.reference.map(|r| r.to_string()),
                until: rfc3339(record.banned_until_ms()),
                reason: None,
            });
        }
        let score_of = |member: IpAddr| {
            store
                .client(member)
                .map_or(0, |client| client.score(policy, now_ms))
        };
        let others = |member: &IpAddr| Some(*member) != exclude;
        found.banned_clients = state
            .banned_members
            .iter()
            .filter(|(member, until_ms)| others(member) && *until_ms > now_ms)
            .take(NEIGHBOURS_SHOWN)
            .map(|(member, until_ms)| Neighbour {
                client: *member,
                score: score_of(*member),
                banned_until: Some(rfc3339(*until_ms)),
            })
            .collect();
        found.scored_clients = state
            .scored_members
            .iter()
            .filter(|member| others(member))
            .map(|member| (*member, score_of(*member)))
            .filter(|(_, score)| *score > 0)
            .take(NEIGHBOURS_SHOWN)
            .map(|(client, score)| Neighbour {
                client,
                score,
                banned_until: None,
            })
            .collect();
        found
    }
}

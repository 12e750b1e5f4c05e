//! Which address is the client. Behind a load balancer or CDN the socket peer is the
//! balancer; the client is in a header the balancer appends to. The header is believed only
//! when the peer is a configured trusted proxy, and then only up to the first hop that is not
//! itself trusted: everything left of that hop was written by the client and may be forged.

use std::net::IpAddr;

use http::HeaderMap;

use crate::config::ClientIpConfig;

/// The most hops of a forwarding header looked at; a longer chain of trusted proxies than
/// this is not a real deployment, and a header of hundreds of entries must cost nothing.
const MAX_HOPS: usize = 32;

/// The client address of a request that arrived from `peer` with `headers`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, config: &ClientIpConfig) -> IpAddr {
    let trusted = &config.trusted_proxies;
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    // Later header lines were appended later: walk the values, and the hops within each,
    // from the right.
    let hops = headers
        .get_all(config.header.as_str())
        .iter()
        .rev()
        .flat_map(|value| value.to_str().unwrap_or("").rsplit(','))
        .take(MAX_HOPS);
    for hop in hops {
        let Some(ip) = parse_hop(hop) else {
            // Garbage: whatever is left of it cannot be trusted either.
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// An address from one hop: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, possibly padded with spaces.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (address, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::lists::parse_net;

    fn config(trusted: &[&str], header: &str) -> ClientIpConfig {
        let mut config = ClientIpConfig {
            header: header.to_ascii_lowercase(),
            ..ClientIpConfig::default()
        };
        for net in trusted {
            config.trusted_proxies.insert(parse_net(net).unwrap());
        }
        config
    }

    fn check(config: &ClientIpConfig, peer: &str, values: &[&str], expected: &str) {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                http::HeaderName::from_bytes(config.header.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let got = client_ip(peer.parse().unwrap(), &headers, config);
        assert_eq!(got.to_string(), expected, "peer {peer}, header {values:?}");
    }

    #[test]
    fn the_header_is_read_only_from_trusted_peers() {
        let lb = config(&["10.0.0.0/8"], "X-Forwarded-For");
        check(&lb, "10.0.0.5", &["198.51.100.7"], "198.51.100.7");
        check(&lb, "203.0.113.1", &["198.51.100.7"], "203.0.113.1");
        check(&lb, "10.0.0.5", &[], "10.0.0.5");
        let none = config(&[], "X-Forwarded-For");
        check(&none, "10.0.0.5", &["198.51.100.7"], "10.0.0.5");
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let lb = config(&["10.0.0.0/8", "2001:db8:ffff::/48"], "X-Forwarded-For");
        let cases: &[(&[&str], &str)] = &[
            // The client forged a left-most entry; the balancer appended the real one.
            (&["1.2.3.4, 198.51.100.7"], "198.51.100.7"),
            (&["198.51.100.7, 10.0.0.9"], "198.51.100.7"),
            (&["1.2.3.4", "198.51.100.7, 10.1.1.1"], "198.51.100.7"),
            (&["[2001:db8::7]:443, 2001:db8:ffff::1"], "2001:db8::7"),
            (&["198.51.100.7:51234"], "198.51.100.7"),
            // Only trusted hops: the left-most of them.
            (&["10.9.9.9, 10.0.0.9"], "10.9.9.9"),
            // Garbage stops the walk at the last good hop.
            (&["198.51.100.7, garbage, 10.0.0.9"], "10.0.0.9"),
            (&["not an address at all"], "10.0.0.5"),
        ];
        for (values, expected) in cases {
            check(&lb, "10.0.0.5", values, expected);
        }
    }

    #[test]
    fn a_huge_header_is_bounded() {
        let lb = config(&["10.0.0.0/8"], "X-Forwarded-For");
        let many: Vec<String> = (0..500)
            .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
            .collect();
        check(&lb, "10.0.0.5", &[&many.join(", ")], "10.0.1.218");
    }

    #[test]
    fn single_address_headers_work_the_same() {
        let cdn = config(&["173.245.48.0/20"], "CF-Connecting-IP");
        check(&cdn, "173.245.48.10", &["2001:db8::99"], "2001:db8::99");
        check(&cdn, "198.51.100.1", &["2001:db8::99"], "198.51.100.1");
    }
}

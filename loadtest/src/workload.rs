//! What each class of client asks for. A workload hands its connections one session at a
//! time: the source address to connect from and the requests to send on that connection.
//!
//! - benign: visitors from a large block of addresses, each with one browser User-Agent; a
//!   visit is one to three page views with their assets, sometimes a redirect or a stale link.
//! - scanner: a few hundred addresses sweeping danger paths, sending payloads, announcing a
//!   scanner User-Agent, or bursting through 404s.
//! - spray: one request from each of many fresh addresses, bound or in X-Forwarded-For.
//! - tarpit: one scanner request per fresh address, whose slow answer is then held.

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::rc::Rc;

use crate::addr::Block;
use crate::rng::Rng;
use crate::site;

/// How a spray presents its addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Each address is a socket bound to it: one connection per address.
    Bind,
    /// Each address is an X-Forwarded-For value on a keep-alive connection from 127.0.0.1,
    /// which the proxy must trust.
    ForwardedFor,
}

/// One connection's worth of requests.
pub struct Session {
    /// The address to connect from; `None` is 127.0.0.1.
    pub source: Option<Ipv4Addr>,
    /// Complete request heads, sent one after another.
    pub requests: Vec<Vec<u8>>,
    /// Wait for a tarpit's whole slow answer instead of leaving at its first byte.
    pub hold: bool,
    /// The scanner address index, for counting what got through before a refusal.
    pub track: Option<u32>,
}

/// A counter shared by the connections of one group (the generator is single-threaded).
pub type Counter = Rc<Cell<u64>>;

/// The request generator of one group.
pub enum Workload {
    /// Visitors from `sources`.
    Benign {
        /// Where visitors come from.
        sources: Block,
    },
    /// `count` scanners cycling through addresses of `sources`.
    Scanner {
        /// Where scanner addresses are taken from.
        sources: Block,
        /// How many scanner addresses.
        count: u32,
        /// The next address to use.
        next: Counter,
    },
    /// `count` fresh addresses from `addresses`, one request each.
    Spray {
        /// The addresses, used in order.
        addresses: Block,
        /// How many addresses in all.
        count: u64,
        /// How they are presented.
        via: Via,
        /// The next address to use.
        next: Counter,
    },
    /// Fresh addresses from `sources`, one held tarpit each, `count` in all.
    Tarpit {
        /// Addresses, one per held client.
        sources: Block,
        /// How many clients in all.
        count: u64,
        /// The next address to use.
        next: Counter,
    },
}

/// A GET request head.
pub fn request(
    path: &str,
    user_agent: &str,
    referer: Option<&str>,
    forwarded: Option<Ipv4Addr>,
) -> Vec<u8> {
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {user_agent}\r\n\
         Accept: */*\r\nAccept-Language: en-GB,en;q=0.8\r\n",
        site::HOST
    );
    if let Some(referer) = referer {
        head.push_str(&format!("Referer: {referer}\r\n"));
    }
    if let Some(client) = forwarded {
        head.push_str(&format!("X-Forwarded-For: {client}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

impl Workload {
    /// The next session; `None` when the workload is used up.
    pub fn next(&self, rng: &mut Rng) -> Option<Session> {
        match self {
            Workload::Benign { sources } => {
                let address = sources.nth(rng.next_u64());
                Some(benign_visit(rng, address))
            }
            Workload::Scanner {
                sources,
                count,
                next,
            } => {
                let index = take(next, u64::MAX)? % u64::from(*count);
                // A prime stride puts neighbouring scanners in different /24s, so what is
                // measured is per-address scoring, not the subnet ban that five banned
                // neighbours would trigger.
                Some(scanner_session(rng, sources.nth(index * 257), index as u32))
            }
            Workload::Spray {
                addresses,
                count,
                via,
                next,
            } => spray_session(*addresses, *count, *via, next),
            Workload::Tarpit {
                sources,
                count,
                next,
            } => {
                let index = take(next, *count)?;
                let request = request("/", "Mozilla/5.00 (Nikto/2.1.6)", None, None);
                Some(Session {
                    source: Some(sources.nth(index)),
                    requests: vec![request],
                    hold: true,
                    track: None,
                })
            }
        }
    }
}

/// Takes the next index below `limit`.
fn take(counter: &Counter, limit: u64) -> Option<u64> {
    let index = counter.get();
    if index >= limit {
        return None;
    }
    counter.set(index + 1);
    Some(index)
}

/// A visit: one to three page views, each with the page's assets and images, the occasional
/// redirect followed to its page, and the occasional stale link.
fn benign_visit(rng: &mut Rng, address: Ipv4Addr) -> Session {
    // One visitor, one browser: rotating User-Agents is what bots do.
    let user_agent = site::BROWSERS[(u32::from(address) % site::BROWSERS.len() as u32) as usize];
    let base = format!("https://{}", site::HOST);
    let mut requests = Vec::new();
    let mut referer = rng.pick(site::ENTRY_REFERERS).map(str::to_string);
    let views = 1 + rng.below(3);
    for view in 0..views {
        let mut page = rng.pick(site::PAGES).to_string();
        if rng.chance(6) {
            let (old, new) = rng.pick(site::REDIRECTS);
            requests.push(request(old, user_agent, referer.as_deref(), None));
            page = new.to_string();
        }
        if rng.chance(2) {
            page = rng.pick(site::MISSING_PAGES).to_string();
        }
        requests.push(request(&page, user_agent, referer.as_deref(), None));
        let page_url = format!("{base}{page}");
        // Later views find the shared assets in the browser cache.
        if view == 0 {
            for (asset, _) in site::ASSETS {
                requests.push(request(asset, user_agent, Some(&page_url), None));
            }
        }
        for _ in 0..2 + rng.below(4) {
            let (image, _) = rng.pick(site::IMAGES);
            requests.push(request(image, user_agent, Some(&page_url), None));
        }
        if rng.chance(5) {
            let image = rng.pick(site::MISSING_IMAGES);
            requests.push(request(image, user_agent, Some(&page_url), None));
        }
        referer = Some(page_url);
    }
    Session {
        source: Some(address),
        requests,
        hold: false,
        track: None,
    }
}

const DANGER_PATHS: &[&str] = &[
    "/.env",
    "/wp-login.php",
    "/.git/config",
    "/phpmyadmin/",
    "/config.php",
    "/backup.sql",
    "/server-status",
    "/.aws/credentials",
    "/admin/",
    "/wp-admin/setup-config.php",
];

const PAYLOADS: &[&str] = &[
    "/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E",
    "/products/item?id=1%27%20OR%20%271%27%3D%271",
    "/download?file=..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/ping?host=127.0.0.1%3Bcat%20%2Fetc%2Fpasswd",
    "/uploads/shell.php?cmd=id",
    "/index.php?page=php://filter/convert.base64-encode/resource=index",
];

const SCANNER_AGENTS: &[&str] = &[
    "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
];

/// One attack from one address: a danger sweep, payloads, a scanner's User-Agent, or a
/// burst of page requests that mostly 404.
fn scanner_session(rng: &mut Rng, address: Ipv4Addr, index: u32) -> Session {
    let browser = site::BROWSERS[0];
    let requests = match rng.below(4) {
        0 => DANGER_PATHS
            .iter()
            .map(|path| request(path, browser, None, None))
            .collect(),
        1 => PAYLOADS
            .iter()
            .map(|path| request(path, "curl/8.5.0", None, None))
            .collect(),
        2 => {
            let agent = rng.pick(SCANNER_AGENTS);
            site::PAGES
                .iter()
                .map(|path| request(path, agent, None, None))
                .collect()
        }
        _ => (0..80)
            .map(|n| request(&format!("/page-{n}.html"), browser, None, None))
            .collect(),
    };
    Session {
        source: Some(address),
        requests,
        hold: false,
        track: Some(index),
    }
}

/// Spray: bound, one request per connection; forwarded, a hundred addresses per keep-alive
/// connection.
fn spray_session(addresses: Block, count: u64, via: Via, next: &Counter) -> Option<Session> {
    let browser = site::BROWSERS[2];
    match via {
        Via::Bind => {
            let index = take(next, count)?;
            Some(Session {
                source: Some(addresses.nth(index)),
                requests: vec![request("/", browser, None, None)],
                hold: false,
                track: None,
            })
        }
        Via::ForwardedFor => {
            let requests: Vec<Vec<u8>> = (0..100)
                .map_while(|_| take(next, count))
                .map(|index| request("/", browser, None, Some(addresses.nth(index))))
                .collect();
            (!requests.is_empty()).then_some(Session {
                source: None,
                requests,
                hold: false,
                track: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_keep_one_user_agent_and_start_with_a_page() {
        let mut rng = Rng::new(1);
        let session = benign_visit(&mut rng, Ipv4Addr::new(127, 16, 0, 5));
        let heads: Vec<String> = session
            .requests
            .iter()
            .map(|bytes| String::from_utf8(bytes.clone()).unwrap())
            .collect();
        let agent = |head: &String| {
            head.lines()
                .find(|l| l.starts_with("User-Agent"))
                .map(String::from)
        };
        assert!(heads.iter().all(|head| agent(head) == agent(&heads[0])));
        assert!(heads.len() >= 7);
    }

    #[test]
    fn sprays_stop_after_their_count() {
        let workload = Workload::Spray {
            addresses: "127.64.0.0/10".parse().unwrap(),
            count: 150,
            via: Via::ForwardedFor,
            next: Counter::default(),
        };
        let mut rng = Rng::new(1);
        let sizes: Vec<usize> = std::iter::from_fn(|| workload.next(&mut rng))
            .map(|session| session.requests.len())
            .collect();
        assert_eq!(sizes, [100, 50]);
    }
}

//! Remote file inclusion and server-side request forgery: a value that hands the application
//! an address to fetch, where the address is one that no honest form asks it to fetch.
//!
//! A URL in a parameter is ordinary (a return address, a link in a comment), so a URL alone
//! counts for nothing here. What counts is where it points: a cloud provider's instance
//! metadata service, which holds the machine's credentials; a host spelled as one big
//! number or in hex or octal, which only exists to slip past a block list; a scheme that
//! only request forgery uses (`gopher://`, `dict://`); a script or text file on a bare IP
//! address, or a URL ending in `?` so that the suffix the application appends is cut off,
//! which is how an inclusion bug is fed code from elsewhere. These are judged as file
//! inclusion, with path traversal: the server is asked to read what it should not.

use regex::RegexSet;

/// Rules read in the canonical view of one value.
const REMOTE_RULES: &[&str] = &[
    // Instance metadata services (AWS, GCP, Azure, OpenStack, Equinix, Oracle), as a host.
    r"(?:^|[/@=])(?:169\.254\.169\.254|\[?fd00:ec2::254\]?|metadata\.google\.internal|metadata\.packet\.net|metadata\.azure\.com|192\.0\.0\.192)(?:$|[:/?#])",
    // A URL whose host is a decimal, hex or octal spelling of an address.
    r"\b(?:https?|ftps?|gopher|dict)://(?:[^/@\s]*@)?(?:\d{8,}|0x[0-9a-f]+(?:\.0x[0-9a-f]+)*|0[0-7]+(?:\.0[0-7]*){1,3})(?:$|[:/?#])",
    // Names that reach the machine itself or its container host and cluster from inside:
    // loopback aliases that no browser or OAuth client sends (`localhost4`, `ip6-loopback`),
    // Docker's and Podman's host names, the Kubernetes API, and public names that resolve to
    // 127.0.0.1. Plain `localhost` and 127.0.0.1 are left alone: OAuth clients on the
    // user's own machine name them in their redirect addresses (RFC 8252).
    r"(?:^|[/@=])(?:localhost(?:\.localdomain|[46](?:\.localdomain[46])?)|ip6-(?:localhost|loopback)|ipv6-localhost|(?:host|gateway|kubernetes)\.docker\.internal|host\.containers\.internal|kubernetes\.default(?:\.svc(?:\.cluster\.local)?)?|localtest\.me|lvh\.me)(?:$|[:/?#])",
    // Schemes that nothing but request forgery sends through a web form.
    r"(?:^|[\s\x22'=(])(?:gopher|dict|tftp|netdoc)://",
    // A script or text file on a bare IP address, as the whole value.
    r"^(?:https?|ftps?)://(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\]|[0-9a-f]{0,4}:[0-9a-f:]+)(?::\d+)?/[^?#\s]*\.(?:php\d?|phtml|txt|inc|jsp|aspx?|pl|cgi|sh|py)(?:$|\?)",
    // A whole value that is a URL ending in `?`, cutting off what the application appends.
    r"^(?:https?|ftps?|file)://\S*\?$",
];

/// Compiled remote-inclusion rules.
pub(crate) struct RemoteMatcher {
    rules: RegexSet,
}

impl RemoteMatcher {
    /// Compiles the rules; they are constants, so failure is a bug.
    pub(crate) fn new() -> Result<Self, regex::Error> {
        Ok(Self {
            rules: super::rule_set(REMOTE_RULES.iter().copied())?,
        })
    }

    /// Says whether a canonical value asks the server to fetch from a forbidden address.
    pub(crate) fn is_remote_inclusion(&self, canonical: &str) -> bool {
        self.rules.is_match(canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_addresses_are_found_and_ordinary_urls_are_not() {
        let matcher = RemoteMatcher::new().expect("the rules compile");
        let cases = [
            ("http://169.254.169.254/latest/meta-data/iam/", true),
            ("http://metadata.google.internal/computemetadata/v1/", true),
            ("http://[fd00:ec2::254]/latest/", true),
            ("http://2852039166/", true),
            ("http://0xa9.0xfe.0xa9.0xfe/", true),
            ("http://0251.0376.0251.0376/", true),
            ("gopher://127.0.0.1:6379/_flushall", true),
            ("dict://localhost:11211/stats", true),
            ("http://66.240.183.75/crash.php", true),
            ("https://[2001:41d0:701:1100::29c8]/gecko.php", true),
            ("https://evil.example/shell.txt?", true),
            ("https://www.example.com/blog/", false),
            ("http://192.168.1.20:8123/api/webhook", false),
            ("https://example.com/search?q=metadata", false),
            ("see https://example.com/faq? it helps", false),
            ("the 169.254.169.254 address is link-local", false),
            ("http://10.0.0.5/", false),
            ("2852039166", false),
            ("host.docker.internal/", true),
            ("http://kubernetes.default.svc.cluster.local/api", true),
            ("http://localhost4.localdomain4/", true),
            ("http://127.0.0.1:53682/callback", false),
            ("http://localhost:8080/oauth2/callback", false),
            ("my.lvh.mechanic.example", false),
        ];
        for (value, expected) in cases {
            assert_eq!(matcher.is_remote_inclusion(value), expected, "{value:?}");
        }
    }
}

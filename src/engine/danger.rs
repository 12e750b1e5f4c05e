//! The `danger_hits` signal: requests for admin panels, product consoles, secret and
//! configuration files, and WordPress author lookups. Listed paths add up per distinct path;
//! a secret file earns the strong tier at once; a path the site answers as missing counts
//! more, since whoever asks for panels a site lacks is hunting for them.

use super::observe::trim_path;
use super::record::{hash32, secs, ClientRecord, DangerPaths};
use super::secret::{is_secret_path, names_restricted_upload, query_names_secret};
use super::{decay_secs, RequestFacts, Signal};
use crate::policy::{DangerHits, Policy};

/// How a request path on its own counts for `danger_hits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PathDanger {
    /// Neither listed nor a secret file.
    None,
    /// A listed danger path (an admin panel): points per distinct path.
    Listed,
    /// A secret or configuration file, with `strong_points` set: the strong tier at once.
    Secret,
}

/// The points of `danger_hits` for this request, when it asks for a listed danger path or a
/// secret file. Listed paths add `points_per_path` per distinct path up to `max_points`; a
/// secret file, with `strong_points` set, earns those at once, since the signal counts at the
/// highest level it reached.
pub(super) fn danger_points(
    policy: &Policy,
    record: &ClientRecord,
    request: &RequestFacts,
    is_static: bool,
    path: PathDanger,
    now_secs: u32,
) -> Option<u16> {
    let rule = policy.signals.danger_hits.as_ref()?;
    if is_static {
        return None;
    }
    let secrets = policy.lists.secret_files.as_ref();
    let uploads = policy.lists.restricted_uploads.as_ref();
    let strong = rule.strong_points.filter(|_| {
        path == PathDanger::Secret
            || request
                .query
                .is_some_and(|query| query_names_secret(secrets, query))
            || names_restricted_upload(uploads, request.headers)
    });
    let author = request.query.and_then(author_lookup);
    if path == PathDanger::None && strong.is_none() && author.is_none() {
        return None;
    }

    let fresh = is_fresh_danger(policy, record, now_secs);
    let paths = record.note_danger_path(probed_path(request), fresh);
    Some(danger_total(rule, paths).max(strong.unwrap_or(0)))
}

/// The points of `danger_hits` once the site answered `status` to a request that fired it:
/// with `missing_points` set, a danger path the site does not have (404, 410, 403) counts
/// those instead of `points_per_path`, since whoever asks for panels a site lacks is hunting
/// for them, not running the site. `None` when the answer changes nothing.
///
/// A path listed to count only when the site lacks it (a `?` entry, such as WordPress's
/// plugin folder, which a WordPress site serves itself) is noted here, on its 404.
pub(super) fn missing_danger_points(
    policy: &Policy,
    record: &ClientRecord,
    request: &RequestFacts,
    fired: u16,
    status: u16,
    now_ms: u64,
) -> Option<u16> {
    let rule = policy.signals.danger_hits.as_ref()?;
    rule.missing_points?;
    if !matches!(status, 403 | 404 | 410) {
        return None;
    }
    let probed = probed_path(request);
    let fired_danger = fired & (1 << Signal::DangerHits.index()) != 0;
    if !fired_danger {
        let listed = policy.lists.danger_paths.as_ref()?;
        if policy.is_static(request.path) || !listed.matches_if_missing(request.path) {
            return None;
        }
        let fresh = is_fresh_danger(policy, record, secs(now_ms));
        record.note_danger_path(probed, fresh);
    }
    let paths = record.note_missing_danger_path(probed)?;
    Some(danger_total(rule, paths))
}

/// The points of `web_shell` for a request the site answered `status`, when it asked for an
/// exploit endpoint listed to count only on sites that lack it (a `?` entry of the web-shell
/// list, such as Telerik's upload handler): a site running the product serves the endpoint
/// itself, while a client asking a site without it is trying the exploit blind.
pub(super) fn missing_exploit_points(
    policy: &Policy,
    request: &RequestFacts,
    status: u16,
) -> Option<u16> {
    if !matches!(status, 403 | 404 | 410) {
        return None;
    }
    let payloads = policy.lists.payloads.as_ref()?;
    payloads
        .names_exploit_if_missing(request.path)
        .then(|| policy.signals.payload_points[Signal::WebShell.index()])
}

/// What a request for a danger path is remembered by: the path, or the number of a
/// WordPress author lookup.
fn probed_path(request: &RequestFacts) -> u32 {
    let author = request.query.and_then(author_lookup);
    author.unwrap_or_else(|| hash32(trim_path(request.path)))
}

/// True when `danger_hits` is not live for the client (never fired, or expired), so its
/// distinct paths start over.
fn is_fresh_danger(policy: &Policy, record: &ClientRecord, now_secs: u32) -> bool {
    record
        .signal(Signal::DangerHits)
        .is_none_or(|state| !state.is_live(now_secs, decay_secs(policy)))
}

/// The points of `paths` under `rule`: `points_per_path` for each up to `max_points`, and
/// with `missing_points` set, those for each missing one on top instead.
fn danger_total(rule: &DangerHits, paths: DangerPaths) -> u16 {
    let (counted, missing) = match rule.missing_points {
        Some(points) => (
            paths.distinct.saturating_sub(paths.missing),
            u32::from(points) * paths.missing,
        ),
        None => (paths.distinct, 0),
    };
    let listed = (u32::from(rule.points_per_path) * counted).min(u32::from(rule.max_points));
    (listed + missing).min(u32::from(u16::MAX)) as u16
}

/// How `path` alone counts for `danger_hits` (a function of the policy and the path only,
/// so a path that counts for nothing can be remembered as clean).
pub(super) fn path_danger(policy: &Policy, path: &str) -> PathDanger {
    let Some(rule) = &policy.signals.danger_hits else {
        return PathDanger::None;
    };
    let secrets = policy.lists.secret_files.as_ref();
    if rule.strong_points.is_some() && is_secret_path(secrets, path) {
        return PathDanger::Secret;
    }
    let listed = policy.lists.danger_paths.as_ref();
    if listed.is_some_and(|paths| paths.matches(path)) {
        PathDanger::Listed
    } else {
        PathDanger::None
    }
}

/// A WordPress author lookup by number (`?author=3`), as a hash of the number: WordPress
/// answers it with a redirect to the author's page, which names the account, so walking the
/// numbers lists a site's user names for password guessing. Visitors follow the author links
/// a site shows, which are never numeric. Each distinct number counts as a distinct danger
/// path, so one lookup costs little and a walk adds up.
fn author_lookup(query: &str) -> Option<u32> {
    query.split('&').find_map(|pair| {
        let id = pair.strip_prefix("author=")?;
        let numeric = (1..=10).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
        numeric.then(|| hash32(pair))
    })
}

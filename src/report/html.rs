//! The rap sheet and the offender index as web pages.
//!
//! Everything a client sent (paths, User-Agents, Referers) is attacker-controlled, and these
//! pages are opened by operators while the attack runs. So every value is escaped for HTML,
//! the pages carry no script at all, and they are served with a Content-Security-Policy that
//! allows nothing but the page's own stylesheet: an injection that slipped past the escaping
//! still could not run, load or send anything.

use std::fmt::Write as _;
use std::sync::OnceLock;

use base64::Engine as _;

use super::offenders::OffenderRow;
use super::{capitalised, RapSheet, Recommendation, NOT_CHECKED};

/// The pages' only styling, inline so the page needs no second request; the policy allows
/// exactly this text by its hash.
const STYLE: &str = "\
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1150px;padding:1em 2em;\
color:#1d1d1f;background:#fafafa}\
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #e3e3e3;vertical-align:top}\
th{background:#f0f0f0}td.num{text-align:right}\
.mono,code,pre{font-family:ui-monospace,monospace;overflow-wrap:anywhere}\
pre{background:#f3f3f3;padding:.6em;white-space:pre-wrap}\
.score{display:flex;gap:1.5em;align-items:center;padding:.8em 1.2em;border-radius:6px;\
background:#eee}.score .big{font-size:2.4em;font-weight:700}\
.sev-critical{background:#f8d0d0}.sev-high{background:#fbe0c4}.sev-medium{background:#fbf1c4}\
.sev-low{background:#e3f1e3}.expired{color:#888}.note{color:#555;font-size:.9em}\
.time{white-space:nowrap}";

/// The Content-Security-Policy of every admin answer.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        )
    })
}

/// `text` made safe for HTML text and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page around `body`, titled `title` (both already safe).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{title}</title><style>{STYLE}</style></head>\n<body>\
         <p class=\"note\"><a href=\"/\">rapsheet</a></p>\n{body}</body></html>\n"
    )
}

/// A short page for an error.
pub fn error_page(message: &str) -> String {
    let message = escape(message);
    page(&message, &format!("<h1>{message}</h1>\n"))
}

/// The rap sheet as a page.
pub fn sheet_page(sheet: &RapSheet) -> String {
    let mut body = String::new();
    let who = escape(&sheet.client_key);
    let _ = write!(
        body,
        "<h1>Rap sheet of <span class=\"mono\">{who}</span></h1>\n\
         <div class=\"score sev-{}\" id=\"score\"><div class=\"big\">{}</div>\
         <div><strong>{}</strong><br>verdict: {} ({})</div></div>\n<p id=\"summary\">{}</p>\n",
        sheet.severity,
        escape(&sheet.score_text),
        escape(&capitalised(sheet.severity)),
        sheet.verdict.action,
        sheet.verdict.reason.replace('_', " "),
        escape(&sheet.summary)
    );
    record_table(sheet, &mut body);
    signal_table(sheet, &mut body);
    evidence_table(sheet, &mut body);
    neighbourhood(sheet, &mut body);
    recommendations(&sheet.recommendations, &mut body);
    let _ = writeln!(
        body,
        "<p class=\"note\">Generated at {}. {NOT_CHECKED}</p>",
        escape(&sheet.generated_at)
    );
    page(&format!("Rap sheet of {who}"), &body)
}

fn record_table(sheet: &RapSheet, body: &mut String) {
    let mut rows: Vec<(&str, String)> = vec![
        ("Address", sheet.address.to_string()),
        ("Tracked as", sheet.client_key.clone()),
        (
            "Score",
            format!("{} ({})", sheet.score_text, sheet.severity),
        ),
        (
            "Verdict",
            format!("{} ({})", sheet.verdict.action, sheet.verdict.reason),
        ),
        ("Mode", sheet.mode.to_string()),
    ];
    if let Some(until) = &sheet.verdict.until {
        rows.push(("Refused until", until.clone()));
    }
    if let Some(ban) = &sheet.ban {
        let state = if ban.active { "running" } else { "ended" };
        let reason = ban
            .reason
            .as_deref()
            .map_or(String::new(), |r| format!(": {r}"));
        rows.push((
            "Ban",
            format!(
                "{} ({state}), {} to {}, strike {}, cause {}{reason}",
                ban.reference, ban.started, ban.until, ban.strikes, ban.cause
            ),
        ));
    }
    if let Some(activity) = &sheet.activity {
        rows.push(("First seen", activity.first_seen.clone()));
        rows.push(("Last seen", activity.last_seen.clone()));
        rows.push((
            "Observation window",
            format!("{} day(s)", activity.observation_days),
        ));
        rows.push(("Requests", activity.requests.to_string()));
        rows.push(("Hostile requests", activity.hostile_requests.to_string()));
        rows.push((
            "Hostile requests per day",
            activity.hostile_per_day.to_string(),
        ));
    }
    body.push_str("<h2>Record</h2>\n<table id=\"record\">\n");
    for (name, value) in rows {
        let _ = writeln!(body, "<tr><th>{name}</th><td>{}</td></tr>", escape(&value));
    }
    body.push_str("</table>\n");
}

fn signal_table(sheet: &RapSheet, body: &mut String) {
    let _ = writeln!(
        body,
        "<h2>Signals</h2>\n<p>{} distinct attack vector{}: {}.</p>\n<table id=\"signals\">\
         <tr><th>Signal</th><th>Description</th><th>Category</th><th>Points</th><th>Fires</th>\
         <th>Last fired</th><th>Expires</th></tr>",
        sheet.attack_vectors,
        if sheet.attack_vectors == 1 { "" } else { "s" },
        escape(&sheet.categories.join(", "))
    );
    for row in &sheet.signals {
        let (class, points) = if row.live {
            ("", format!("+{}", row.points))
        } else {
            (
                " class=\"expired\"",
                format!("0 (was +{})", row.peak_points),
            )
        };
        let _ = writeln!(
            body,
            "<tr{class}><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td></tr>",
            row.signal,
            escape(row.description),
            row.category,
            points,
            row.fires,
            row.last_fired,
            row.expires
        );
    }
    let _ = writeln!(
        body,
        "<tr><th colspan=\"3\">Score</th><th class=\"num\">{}</th><th colspan=\"3\"></th></tr>\
         </table>",
        sheet.score
    );
}

fn evidence_table(sheet: &RapSheet, body: &mut String) {
    body.push_str(
        "<h2>Evidence</h2>\n<table id=\"evidence\"><tr><th>Time</th><th>Method</th>\
         <th>Target</th><th>Status</th><th>User-Agent</th><th>Referer</th><th>Signals</th></tr>\n",
    );
    for row in &sheet.evidence {
        // Requests rapsheet answered itself (403 or the tarpit) never reached the site.
        let status = match (row.forwarded, row.status) {
            (_, 0) => "no answer".to_string(),
            (false, status) => format!("{status} from rapsheet"),
            (true, status) => status.to_string(),
        };
        let _ = writeln!(
            body,
            "<tr><td class=\"time\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{status}</td>\
             <td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            escape(&row.time),
            escape(&row.method),
            escape(&row.target),
            escape(row.user_agent.as_deref().unwrap_or("")),
            escape(row.referer.as_deref().unwrap_or("")),
            row.signals.join(", ")
        );
    }
    body.push_str("</table>\n");
}

fn neighbourhood(sheet: &RapSheet, body: &mut String) {
    let around = &sheet.neighbourhood;
    let _ = writeln!(body, "<h2>Subnet {}</h2>", escape(&around.subnet));
    for ban in [&around.subnet_ban, &around.network_ban]
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            body,
            "<p>{} is banned until {} (reference {}){}.</p>",
            escape(&ban.network),
            escape(&ban.until),
            escape(ban.reference.as_deref().unwrap_or("none")),
            ban.reason
                .as_deref()
                .map_or(String::new(), |r| format!(": {}", escape(r)))
        );
    }
    if around.banned_clients.is_empty() && around.scored_clients.is_empty() {
        body.push_str("<p>No other client of this subnet is banned or carries points.</p>\n");
        return;
    }
    body.push_str(
        "<table id=\"neighbours\"><tr><th>Client</th><th>Score</th><th>Banned until</th></tr>\n",
    );
    for client in around.banned_clients.iter().chain(&around.scored_clients) {
        let address = escape(&client.client.to_string());
        let _ = writeln!(
            body,
            "<tr><td class=\"mono\"><a href=\"/clients/{address}\">{address}</a></td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            client.score,
            escape(client.banned_until.as_deref().unwrap_or("not banned"))
        );
    }
    body.push_str("</table>\n");
}

fn recommendations(list: &[Recommendation], body: &mut String) {
    if list.is_empty() {
        return;
    }
    body.push_str("<h2>Recommendations</h2>\n");
    for item in list {
        let _ = writeln!(
            body,
            "<h3>{}</h3>\n<p>{}</p>",
            escape(item.title),
            escape(&item.advice)
        );
        for block in &item.commands {
            let _ = writeln!(body, "<pre><code>{}</code></pre>", escape(block));
        }
    }
}

/// The index page: the top offenders, each linked to its sheet.
pub fn index_page(rows: &[OffenderRow], generated_at: &str) -> String {
    let mut body = String::from("<h1>Top offenders</h1>\n");
    if rows.is_empty() {
        body.push_str("<p>No client carries points or is banned.</p>\n");
    } else {
        body.push_str(
            "<table id=\"offenders\"><tr><th>Client</th><th>Score</th><th>Severity</th>\
             <th>Banned until</th><th>Hostile / requests</th><th>Signals</th></tr>\n",
        );
    }
    for row in rows {
        let address = escape(&row.address.to_string());
        let _ = writeln!(
            body,
            "<tr><td class=\"mono\"><a href=\"/clients/{address}\">{}</a></td>\
             <td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{} / {}</td>\
             <td>{}</td></tr>",
            escape(&row.client),
            row.score,
            row.severity,
            escape(row.banned_until.as_deref().unwrap_or("")),
            row.hostile_requests,
            row.requests,
            row.signals.join(", ")
        );
    }
    if !rows.is_empty() {
        body.push_str("</table>\n");
    }
    let _ = writeln!(
        body,
        "<p class=\"note\">Generated at {}.</p>",
        escape(generated_at)
    );
    page("rapsheet: top offenders", &body)
}

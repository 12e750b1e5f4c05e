//! The sheet's summary: one paragraph in plain language, every clause of it taken from a
//! fact on the sheet. Nothing is said about where the client is or what network it belongs
//! to, because rapsheet does not look that up.

use std::fmt::Write as _;

use super::{capitalised, RapSheet, NOT_CHECKED};

/// The paragraph for `sheet`.
pub fn summary(sheet: &RapSheet) -> String {
    let mut text = String::new();
    score_sentence(sheet, &mut text);
    activity_sentence(sheet, &mut text);
    verdict_sentence(sheet, &mut text);
    neighbourhood_sentence(sheet, &mut text);
    text.push_str(NOT_CHECKED);
    text
}

fn score_sentence(sheet: &RapSheet, text: &mut String) {
    let live: Vec<String> = sheet
        .signals
        .iter()
        .filter(|row| row.live)
        .map(|row| format!("{} +{}", row.signal, row.points))
        .collect();
    let expired = sheet.signals.len() - live.len();
    let _ = write!(
        text,
        "{} has a score of {} ({})",
        sheet.client_key,
        sheet.score_text,
        capitalised(sheet.severity)
    );
    match live.len() {
        0 => text.push_str(": no signal carries points now"),
        1 => {
            let _ = write!(text, " from one signal: {}", live[0]);
        }
        n => {
            let _ = write!(text, " from {n} signals: {}", live.join(", "));
        }
    }
    if expired > 0 {
        let _ = write!(
            text,
            ", and {expired} earlier signal{} expired",
            plural(expired)
        );
    }
    text.push_str(". ");
    if sheet.attack_vectors > 0 {
        let _ = write!(
            text,
            "Its requests show {} distinct attack vector{} ({}). ",
            sheet.attack_vectors,
            plural(sheet.attack_vectors),
            sheet.categories.join(", ")
        );
    }
}

fn activity_sentence(sheet: &RapSheet, text: &mut String) {
    let Some(activity) = &sheet.activity else {
        text.push_str("Its activity record has been evicted; only its ban is remembered. ");
        return;
    };
    let _ = write!(
        text,
        "It was first seen at {} and last seen at {}; in its {}-day observation window it sent \
         {} request{}, {} of them hostile (about {} a day). ",
        activity.first_seen,
        activity.last_seen,
        activity.observation_days,
        activity.requests,
        plural(activity.requests as usize),
        activity.hostile_requests,
        activity.hostile_per_day
    );
}

fn verdict_sentence(sheet: &RapSheet, text: &mut String) {
    let verdict = &sheet.verdict;
    let until = verdict.until.as_deref().unwrap_or("");
    let reference = verdict
        .reference
        .as_deref()
        .map_or(String::new(), |r| format!(" (reference {r})"));
    match verdict.reason {
        "banned" => {
            let strikes = sheet.ban.as_ref().map_or(1, |ban| ban.strikes);
            let _ = write!(
                text,
                "It is banned until {until}{reference}, strike {strikes}. "
            );
        }
        "subnet_banned" => {
            let _ = write!(text, "Its subnet is banned until {until}{reference}. ");
        }
        "network_banned" => {
            let _ = write!(
                text,
                "An operator's network ban covers it until {until}{reference}. "
            );
        }
        "allowlist" => text.push_str("It is on the allowlist and never refused. "),
        "blocklist" => text.push_str("It is on the blocklist and always refused. "),
        _ => {
            let next = match verdict.action {
                "block" => "refused and banned",
                "tarpit" => "tarpitted",
                _ => "forwarded",
            };
            let _ = write!(text, "It is not banned; its next request would be {next}. ");
        }
    }
    if sheet.mode == "shadow" {
        text.push_str("The policy runs in shadow mode: verdicts are recorded, not enforced. ");
    }
}

fn neighbourhood_sentence(sheet: &RapSheet, text: &mut String) {
    let around = &sheet.neighbourhood;
    let banned = around.banned_clients.len();
    if banned > 0 {
        let _ = write!(
            text,
            "{banned} other client{} of {} {} banned now. ",
            plural(banned),
            around.subnet,
            if banned == 1 { "is" } else { "are" }
        );
    }
    if let Some(ban) = &around.subnet_ban {
        if sheet.verdict.reason != "subnet_banned" {
            let _ = write!(
                text,
                "The subnet {} is banned until {}. ",
                ban.network, ban.until
            );
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

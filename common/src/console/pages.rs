//! The console's HTML, rendered on the server with `maud` (every value escaped; no JavaScript).

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use crate::ports::{serde_name, Direction, LogEntry, LogResult};

/// What every page shows around its body.
pub struct Frame<'a> {
    pub operator: &'a str,
    pub csrf: &'a str,
    pub active: &'static str,
    /// A message from the action that led here (`ok`, text).
    pub flash: Option<(bool, String)>,
}

const NAV: &[(&str, &str, &str)] = &[
    ("log", "/console/log", "Connector log"),
    ("orders", "/console/orders", "Order timeline"),
    ("failures", "/console/failures", "Failures"),
    ("queues", "/console/queues", "Queues"),
    ("connections", "/console/connections", "Connections"),
];

pub fn layout(title: &str, frame: &Frame<'_>, body: Markup) -> Markup {
    layout_refreshing(title, frame, body, None)
}

/// A page that reloads itself every `refresh` seconds (a running backfill's progress), with a
/// `<meta>` refresh: the console has no script.
pub fn layout_refreshing(title: &str, frame: &Frame<'_>, body: Markup, refresh: Option<u32>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if let Some(seconds) = refresh { meta http-equiv="refresh" content=(seconds); }
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Orderbridge" }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header {
                    span.brand { "Orderbridge" }
                    nav {
                        @for (id, href, label) in NAV {
                            a href=(href) class=[(*id == frame.active).then_some("active")] { (label) }
                        }
                    }
                    div.who {
                        span { "Signed in as " strong { (frame.operator) } }
                        form.inline method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(frame.csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if let Some((ok, text)) = &frame.flash {
                        div class={ "flash " (if *ok { "ok" } else { "bad" }) } role="status" id="flash" { (text) }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn login(error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · Orderbridge" }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                main.login {
                    div.card {
                        h1 { "Orderbridge console" }
                        @if let Some(error) = error {
                            div.flash.bad role="alert" id="flash" { (error) }
                        }
                        form method="post" action="/console/login" {
                            p.muted { "Sign in with your operator token (README, \"Console\")." }
                            p {
                                label for="token" { "Operator token" } br;
                                input #token type="password" name="token" autocomplete="current-password" required style="width:100%";
                            }
                            button type="submit" id="sign-in" { "Sign in" }
                        }
                    }
                }
            }
        }
    }
}

pub fn result_badge(result: LogResult) -> Markup {
    let name = serde_name(&result);
    html! { span class={ "result-" (name) } { (name) } }
}

pub fn time(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S")) } }
}

pub fn duration_ms(entry: &LogEntry) -> i64 {
    (entry.completed_at - entry.started_at).num_milliseconds()
}

/// `<option>`s with one selected.
pub fn options(choices: &[(String, String)], selected: &str) -> Markup {
    html! {
        @for (value, label) in choices {
            option value=(value) selected[value == selected] { (label) }
        }
    }
}

/// What an operator can do about an entry, from its action and result.
pub fn advice(entry: &LogEntry) -> &'static str {
    let notes = entry.notes.as_str();
    match entry.result {
        LogResult::Success => "Nothing to do.",
        LogResult::Skipped => "Nothing to do unless the skip reason is wrong; the notes say why it was skipped.",
        LogResult::Retry => {
            "Nothing to do yet: the action is retried automatically (queue redelivery or the next pull). If it keeps \
             failing, the message ends in a dead-letter queue (Queues page) and the alarm fires."
        }
        LogResult::Failure if notes.contains("not mapped") => {
            "Add the value to the mapping file named in the notes, upload it (Failures page or `orderbridge-admin \
             mapping-push`), then replay the blocked orders from the Failures page."
        }
        LogResult::Failure if notes.contains("not found in the ERP") || notes.contains("no match in the ERP") => {
            "Create or fix the item or customer in the ERP (or map it), then retry the order from the Failures page."
        }
        LogResult::Failure if notes.contains("401") || notes.contains("403") || notes.contains("credentials") => {
            "The vendor refused the credentials: fix them in the connections secret, then use Test connection on the \
             Connections page."
        }
        LogResult::Failure => {
            "Read the error chain above: fix the cause in the channel, the ERP or the mapping, then retry the order \
             (or skip it with a note) from the Failures page."
        }
    }
}

/// "Sellercloud to Acumatica": how the reference connector's log writes a direction.
pub fn direction_label(direction: Direction, channel: Option<&str>, erp: &str) -> String {
    match (direction, channel) {
        (Direction::Import, Some(channel)) => format!("{channel} to {erp}"),
        (Direction::Export, Some(channel)) => format!("{erp} to {channel}"),
        (Direction::Import, None) => format!("into {erp}"),
        (Direction::Export, None) => format!("out of {erp}"),
        (Direction::Internal, _) => "Orderbridge".to_owned(),
    }
}

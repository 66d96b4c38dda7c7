//! The console's handlers: read the query or form, call the operator actions, render a page.
//! Actions answer with a redirect to the page they came from (post/redirect/get) carrying a
//! short result message.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{self, Frame};
use super::{ConsoleApp, Session};
use crate::error::ErrorChain;
use crate::model::{ChannelOrderId, ConnectionId, ImportKey};
use crate::ports::{serde_name, Direction, LogEntry, LogGroup, LogResult};

/// Rows per log page (the reference connector's grid shows 100).
const PAGE_SIZE: usize = 100;
/// Entries read per connection for one log query at most.
const READ_LIMIT: usize = 5000;

type Fields = Vec<(String, String)>;

fn field<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.iter().find_map(|(k, v)| (k == name).then_some(v.as_str())).unwrap_or_default()
}

/// A page's result message, carried through the redirect after an action.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

impl Flash {
    fn take(&self) -> Option<(bool, String)> {
        match (&self.ok, &self.error) {
            (_, Some(e)) => Some((false, e.clone())),
            (Some(m), None) => Some((true, m.clone())),
            (None, None) => None,
        }
    }
}

fn back(to: &str, ok: bool, message: &str) -> Response {
    let key = if ok { "ok" } else { "error" };
    let separator = if to.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string([(key, message)]).unwrap_or_default();
    Redirect::to(&format!("{to}{separator}{query}")).into_response()
}

fn page(
    app: &ConsoleApp,
    session: &Session,
    active: &'static str,
    title: &str,
    flash: Option<(bool, String)>,
    body: Markup,
) -> Response {
    let csrf = session.cookie.as_deref().map(|c| app.auth.csrf_token(c)).unwrap_or_default();
    let frame = Frame { operator: &session.operator, csrf: &csrf, active, flash };
    Html(pages::layout(title, &frame, body).into_string()).into_response()
}

fn csrf(app: &ConsoleApp, session: &Session) -> String {
    session.cookie.as_deref().map(|c| app.auth.csrf_token(c)).unwrap_or_default()
}

fn failure(error: &dyn std::error::Error) -> String {
    format!("Failed: {}", ErrorChain(error))
}

pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("style.css")).into_response()
}

pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

pub async fn login_page() -> Response {
    Html(pages::login(None).into_string()).into_response()
}

pub async fn login(State(app): State<Arc<ConsoleApp>>, Form(form): Form<Fields>) -> Response {
    match app.auth.operator_for_token(field(&form, "token")) {
        Some(operator) => {
            tracing::info!(operator, "Console sign-in.");
            let value = app.auth.session_value(operator, app.records.clock.now());
            let mut response = Redirect::to("/console/log").into_response();
            if let Ok(cookie) = app.auth.session_cookie(&value).parse() {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        None => {
            tracing::warn!("Console sign-in refused: unknown token.");
            (StatusCode::UNAUTHORIZED, Html(pages::login(Some("That token is not an operator's.")).into_string()))
                .into_response()
        }
    }
}

pub async fn logout(State(app): State<Arc<ConsoleApp>>) -> Response {
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(cookie) = app.auth.cleared_cookie().parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Connector log
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    connection: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    entity: String,
    /// `YYYY-MM-DDTHH:MM` (UTC), as a `datetime-local` input sends it.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: Option<usize>,
}

fn parse_local(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

fn local(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

const GROUPS: &[LogGroup] = &[
    LogGroup::Orders,
    LogGroup::Customers,
    LogGroup::Shipments,
    LogGroup::Invoices,
    LogGroup::Statuses,
    LogGroup::Webhooks,
    LogGroup::Charges,
    LogGroup::Inventory,
    LogGroup::Retention,
    LogGroup::System,
];
const RESULTS: &[LogResult] = &[LogResult::Success, LogResult::Skipped, LogResult::Retry, LogResult::Failure];
const DIRECTIONS: &[Direction] = &[Direction::Import, Direction::Export, Direction::Internal];

impl ConsoleApp {
    fn vendor_of(&self, connection: &ConnectionId) -> Option<&'static str> {
        self.connections.iter().find(|c| &c.id == connection && c.channel).map(|c| c.vendor)
    }

    fn direction(&self, entry: &LogEntry) -> String {
        pages::direction_label(entry.direction, self.vendor_of(&entry.connection), self.erp_name)
    }
}

pub async fn log_page(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Query(query): Query<LogQuery>,
    Query(flash): Query<Flash>,
) -> Response {
    let now = app.records.clock.now();
    let to = parse_local(&query.to).unwrap_or(now + chrono::Duration::minutes(1));
    let from = parse_local(&query.from).unwrap_or(to - chrono::Duration::hours(24));
    let selected: Vec<ConnectionId> = app
        .connections
        .iter()
        .filter(|c| query.connection.is_empty() || c.id.as_str() == query.connection)
        .map(|c| c.id.clone())
        .collect();
    let mut entries = Vec::new();
    let mut error = None;
    for connection in &selected {
        match app.records.log.entries_between(connection, from, to, READ_LIMIT).await {
            Ok(mut e) => entries.append(&mut e),
            Err(e) => error = Some(failure(&e)),
        }
    }
    let entity = query.entity.trim().to_lowercase();
    let action = query.action.trim().to_lowercase();
    entries.retain(|e| {
        (query.group.is_empty() || serde_name(&e.group) == query.group)
            && (query.result.is_empty() || serde_name(&e.result) == query.result)
            && (query.direction.is_empty() || serde_name(&e.direction) == query.direction)
            && (action.is_empty() || e.action.to_lowercase().contains(&action))
            && (entity.is_empty() || e.entity_id.to_lowercase().contains(&entity))
    });
    entries.sort_by_key(|e| std::cmp::Reverse(e.started_at));
    let total = entries.len();
    let pages_count = total.div_ceil(PAGE_SIZE).max(1);
    let page_no = query.page.unwrap_or(1).clamp(1, pages_count);
    let shown = entries.iter().skip((page_no - 1) * PAGE_SIZE).take(PAGE_SIZE);
    let page_link = |n: usize| {
        let params = [
            ("connection", query.connection.as_str()),
            ("group", query.group.as_str()),
            ("action", query.action.as_str()),
            ("direction", query.direction.as_str()),
            ("result", query.result.as_str()),
            ("entity", query.entity.as_str()),
            ("from", &local(from)),
            ("to", &local(to)),
            ("page", &n.to_string()),
        ];
        format!("/console/log?{}", serde_urlencoded::to_string(params).unwrap_or_default())
    };
    let mut connection_choices = vec![(String::new(), "All connections".to_owned())];
    connection_choices.extend(app.connections.iter().map(|c| (c.id.to_string(), format!("{} ({})", c.id, c.vendor))));
    let mut group_choices = vec![(String::new(), "All groups".to_owned())];
    group_choices.extend(GROUPS.iter().map(|g| (serde_name(g), serde_name(g))));
    let mut result_choices = vec![(String::new(), "All results".to_owned())];
    result_choices.extend(RESULTS.iter().map(|r| (serde_name(r), serde_name(r))));
    let mut direction_choices = vec![(String::new(), "All directions".to_owned())];
    direction_choices
        .extend(DIRECTIONS.iter().map(|d| (serde_name(d), pages::direction_label(*d, Some("channel"), app.erp_name))));
    let body = html! {
        @if let Some(error) = &error { div.flash.bad { (error) } }
        form.filters.card method="get" action="/console/log" id="log-filters" {
            label { "Connection" select name="connection" { (pages::options(&connection_choices, &query.connection)) } }
            label { "Group" select name="group" { (pages::options(&group_choices, &query.group)) } }
            label { "Action" input type="text" name="action" value=(query.action) size="12"; }
            label { "Direction" select name="direction" { (pages::options(&direction_choices, &query.direction)) } }
            label { "Result" select name="result" { (pages::options(&result_choices, &query.result)) } }
            label { "Entity id" input type="text" name="entity" value=(query.entity) size="14"; }
            label { "From (UTC)" input type="datetime-local" name="from" value=(local(from)); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(local(to)); }
            button type="submit" id="apply-filters" { "Filter" }
        }
        p.muted { (total) " entries, newest first" }
        div.scroll {
            table id="log" {
                thead { tr {
                    th { "Start time" } th { "Complete time" } th { "Connection" } th { "Group" } th { "Action" }
                    th { "Sync direction" } th { "Result" } th { "Entity id" } th { "Notes" } th { "" }
                } }
                tbody {
                    @for e in shown {
                        tr {
                            td { (pages::time(e.started_at)) }
                            td { (pages::time(e.completed_at)) }
                            td { (e.connection) }
                            td { (serde_name(&e.group)) }
                            td { (e.action) }
                            td { (app.direction(e)) }
                            td { (pages::result_badge(e.result)) }
                            td { code { (e.entity_id) } }
                            td.notes { (e.notes.chars().take(160).collect::<String>()) @if e.notes.chars().count() > 160 { "…" } }
                            td { a.view href=(format!("/console/log/view?{}", serde_urlencoded::to_string([("connection", e.connection.to_string()), ("at", e.started_at.timestamp_millis().to_string()), ("id", e.id.to_string())]).unwrap_or_default())) { "View" } }
                        }
                    }
                }
            }
        }
        div.pager {
            @if page_no > 1 { a href=(page_link(page_no - 1)) { "← Newer" } }
            span { "Page " (page_no) " of " (pages_count) }
            @if page_no < pages_count { a href=(page_link(page_no + 1)) id="older" { "Older →" } }
        }
    };
    page(&app, &session, "log", "Connector log", flash.take(), body)
}

#[derive(Debug, Deserialize)]
pub struct ViewQuery {
    connection: String,
    at: i64,
    id: uuid::Uuid,
}

pub async fn log_view(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Query(query): Query<ViewQuery>,
) -> Response {
    let Ok(connection) = ConnectionId::parse(&query.connection) else { return not_found().await };
    let Some(at) = DateTime::<Utc>::from_timestamp_millis(query.at) else { return not_found().await };
    let entry = match app.records.log.entries_between(&connection, at, at + chrono::Duration::milliseconds(1), 50).await
    {
        Ok(entries) => entries.into_iter().find(|e| e.id == query.id),
        Err(e) => return page(&app, &session, "log", "Log entry", Some((false, failure(&e))), html! {}),
    };
    let Some(e) = entry else {
        return page(&app, &session, "log", "Log entry", Some((false, "No such entry (expired?)".into())), html! {});
    };
    let order = ChannelOrderId::parse_display(&e.entity_id);
    let body = html! {
        div.card id="entry" {
            dl.facts {
                dt { "Log id" } dd { code { (e.id) } }
                dt { "Connection" } dd { (e.connection) }
                dt { "Group" } dd { (serde_name(&e.group)) }
                dt { "Action" } dd { (e.action) }
                dt { "Sync direction" } dd { (app.direction(&e)) }
                dt { "Result" } dd { (pages::result_badge(e.result)) }
                dt { "Entity id" } dd { code { (e.entity_id) } }
                dt { "Start time" } dd { (pages::time(e.started_at)) }
                dt { "Complete time" } dd { (pages::time(e.completed_at)) " (" (pages::duration_ms(&e)) " ms)" }
                dt { "Correlation id" } dd { code { (e.correlation_id.as_deref().unwrap_or("-")) } }
            }
        }
        h2 { "Notes and error chain" }
        pre id="notes" { (e.notes.replace(": ", ":\n  ")) }
        h2 { "What to do" }
        p id="advice" { (pages::advice(&e)) }
        @if let Some(order) = order {
            p { a href=(format!("/console/orders?q={order}")) { "Open the order's timeline" } }
        }
    };
    page(&app, &session, "log", "Log entry", None, body)
}

// ---------------------------------------------------------------------------------------------
// Order timeline and per-record actions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct OrderQuery {
    #[serde(default)]
    q: String,
}

pub async fn order_page(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Query(query): Query<OrderQuery>,
    Query(flash): Query<Flash>,
) -> Response {
    let token = csrf(&app, &session);
    let search = html! {
        form.filters.card method="get" action="/console/orders" {
            label { "Import ID (SC-1001) or ERP order (SO/000123)" input type="search" name="q" value=(query.q) size="28"; }
            button type="submit" id="find-order" { "Find" }
        }
    };
    if query.q.trim().is_empty() {
        return page(&app, &session, "orders", "Order timeline", flash.take(), search);
    }
    let timeline = match app.records.timeline(&query.q).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            let body =
                html! { (search) p id="not-found" { "No order " code { (query.q) } " is known to Orderbridge." } };
            return page(&app, &session, "orders", "Order timeline", flash.take(), body);
        }
        Err(e) => return page(&app, &session, "orders", "Order timeline", Some((false, failure(&e))), search),
    };
    let key = &timeline.key;
    let status = timeline.claim.as_ref().map(|c| {
        if let Some(note) = c.skipped_note() {
            format!("skipped: {note}")
        } else {
            format!("{} after {} attempt(s)", serde_name(&c.status), c.attempts)
        }
    });
    let failed = timeline.claim.as_ref().is_some_and(|c| c.status == crate::ports::ClaimStatus::Failed);
    let completed = timeline.claim.as_ref().is_some_and(|c| c.status == crate::ports::ClaimStatus::Completed);
    let hidden = html! {
        input type="hidden" name="csrf" value=(token);
        input type="hidden" name="connection" value=(key.connection);
        input type="hidden" name="order" value=(key.order);
    };
    let body = html! {
        (search)
        div.card id="order" {
            dl.facts {
                dt { "Import ID" } dd { code { (key.import_id()) } }
                dt { "Connection" } dd { (key.connection) }
                dt { "Correlation id" } dd { code id="correlation" { (timeline.correlation_id) } }
                dt { "Import" } dd id="import-status" { (status.as_deref().unwrap_or("never attempted")) }
                @if let Some(c) = &timeline.claim { @if let Some(f) = &c.failure { dt { "Last failure" } dd { (f) } } }
                dt { "ERP order" } dd id="erp-order" { @if let Some(b) = &timeline.binding { (b.erp) " (" (b.origin.as_str()) ")" } @else { "none" } }
            }
            div.pager {
                @if !completed {
                    form.inline method="post" action="/console/orders/retry" { (hidden) button type="submit" id="retry" { "Retry now" } }
                }
                @if failed {
                    form.inline method="post" action="/console/orders/skip" {
                        (hidden)
                        input type="text" name="note" placeholder="Why skip (kept in the log)" required size="28";
                        button.danger type="submit" id="skip" { "Skip" }
                    }
                }
                @if completed {
                    form.inline method="post" action="/console/orders/reimport" {
                        (hidden)
                        button.secondary type="submit" id="reimport" { "Re-import after a reset in the channel" }
                    }
                }
            }
        }
        h2 { "Timeline" }
        ol.steps id="timeline" {
            @for step in &timeline.steps {
                li {
                    span.stage { (step.stage) } " · " (pages::time(step.at))
                    @if let Some(e) = &step.entry {
                        " · " (e.action) " · " (pages::result_badge(e.result)) " · " (app.direction(e))
                    }
                    div.muted { (step.detail) }
                }
            }
        }
    };
    page(&app, &session, "orders", &format!("Order {}", key.import_id()), flash.take(), body)
}

fn form_key(app: &ConsoleApp, form: &Fields) -> Result<ImportKey, String> {
    let connection = ConnectionId::parse(field(form, "connection")).map_err(|e| format!("connection: {e}"))?;
    if !app.records.connections.contains(&connection) {
        return Err(format!("connection {connection} is not configured"));
    }
    let order = ChannelOrderId::parse_display(field(form, "order"))
        .ok_or_else(|| format!("order {:?} is not an Import ID", field(form, "order")))?;
    Ok(ImportKey::new(connection, order))
}

fn timeline_url(key: &ImportKey) -> String {
    format!("/console/orders?q={}", key.import_id())
}

/// Retry now, Skip (with the form's note) or Re-import one order (`/console/orders/{action}`).
pub async fn order_action(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    axum::extract::Path(action): axum::extract::Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let key = match form_key(&app, &form) {
        Ok(k) => k,
        Err(e) => return back("/console/failures", false, &e),
    };
    let actor = session.actor();
    let result = match action.as_str() {
        "retry" => app.records.retry(&key, &actor).await,
        "skip" => app.records.skip(&key, field(&form, "note"), &actor).await,
        "reimport" => app.records.reimport(&key, &actor).await,
        _ => return not_found().await,
    };
    match result {
        Ok(report) => back(&timeline_url(&key), report.done, &report.message),
        Err(e) => back(&timeline_url(&key), false, &failure(&e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Failures inbox, replay, mapping upload
// ---------------------------------------------------------------------------------------------

pub async fn failures_page(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Query(flash): Query<Flash>,
) -> Response {
    let inbox = match app.records.inbox().await {
        Ok(i) => i,
        Err(e) => return page(&app, &session, "failures", "Failures", Some((false, failure(&e))), html! {}),
    };
    let token = csrf(&app, &session);
    let mapping_names: BTreeMap<&ConnectionId, &str> =
        app.connections.iter().filter_map(|c| Some((&c.id, c.mapping_name.as_deref()?))).collect();
    let body = html! {
        p.muted id="failed-count" { (inbox.total) " failed order(s)." }
        h2 { "Unmapped values" }
        @if inbox.unmapped.is_empty() { p.muted id="no-unmapped" { "No order waits for a mapping." } }
        @else {
            div.scroll { table id="unmapped" {
                thead { tr { th { "Connection" } th { "What" } th { "Value" } th.num { "Orders blocked" } th { "Add to " code { "mapping file" } } th { "" } } }
                tbody {
                    @for group in &inbox.unmapped {
                        tr {
                            td { (group.connection) }
                            td { (group.value.what) }
                            td { code.value { (group.value.value) } }
                            td.num.blocked { (group.orders.len()) }
                            td { code.line { (group.value.line_to_add()) } br; span.muted { "in " (group.value.mapping_path) " (stored as " (mapping_names.get(&group.connection).copied().unwrap_or("?")) ")" } }
                            td {
                                form.inline method="post" action="/console/failures/replay" {
                                    input type="hidden" name="csrf" value=(token);
                                    input type="hidden" name="connection" value=(group.connection);
                                    input type="hidden" name="section" value=(group.value.section);
                                    input type="hidden" name="value" value=(group.value.value);
                                    button type="submit" class="replay" { "Replay " (group.orders.len()) " order(s)" }
                                }
                            }
                        }
                    }
                }
            } }
            p.muted { "Fix the mapping (below or with " code { "orderbridge-admin mapping-push" } "), then replay: every blocked order is enqueued again and imported under the new mapping." }
        }
        h2 { "Failed orders by reason" }
        @if inbox.by_reason.is_empty() { p.muted { "Nothing failed." } }
        @for group in &inbox.by_reason {
            div.card.reason {
                p { strong { (group.reason) } " — " (group.orders.len()) " order(s)" }
                div.scroll { table {
                    thead { tr { th { "Order" } th { "Connection" } th { "Failed" } th.num { "Attempts" } th { "Actions" } } }
                    tbody {
                        @for order in &group.orders {
                            tr data-order=(order.key.import_id()) {
                                td { a href=(timeline_url(&order.key)) { (order.key.import_id()) } }
                                td { (order.key.connection) }
                                td { (pages::time(order.failed_at)) }
                                td.num { (order.attempts) }
                                td {
                                    form.inline method="post" action="/console/orders/retry" {
                                        input type="hidden" name="csrf" value=(token);
                                        input type="hidden" name="connection" value=(order.key.connection);
                                        input type="hidden" name="order" value=(order.key.order);
                                        button type="submit" class="retry" { "Retry" }
                                    }
                                    " "
                                    form.inline method="post" action="/console/orders/skip" {
                                        input type="hidden" name="csrf" value=(token);
                                        input type="hidden" name="connection" value=(order.key.connection);
                                        input type="hidden" name="order" value=(order.key.order);
                                        input type="text" name="note" placeholder="Why skip" required size="14";
                                        button type="submit" class="danger skip" { "Skip" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        h2 { "Upload a mapping" }
        form.card method="post" action="/console/mappings" id="mapping-upload" {
            input type="hidden" name="csrf" value=(token);
            p { label { "Mapping name " select name="name" {
                @for (connection, name) in &mapping_names { option value=(name) { (name) " (" (connection) ")" } }
            } } }
            p { textarea name="source" placeholder="The whole mapping file (TOML)" required {} }
            button type="submit" id="upload-mapping" { "Validate and store as the next version" }
        }
    };
    page(&app, &session, "failures", "Failures", flash.take(), body)
}

pub async fn replay(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Form(form): Form<Fields>,
) -> Response {
    let connection = match ConnectionId::parse(field(&form, "connection")) {
        Ok(c) => c,
        Err(e) => return back("/console/failures", false, &format!("connection: {e}")),
    };
    let (section, value) = (field(&form, "section"), field(&form, "value"));
    let filter = (!section.is_empty()).then_some((section, value));
    match app.records.replay(Some(&connection), filter, &session.actor()).await {
        Ok(report) => back(
            "/console/failures",
            true,
            &format!("{} order(s) of {connection} enqueued again.", report.enqueued.len()),
        ),
        Err(e) => back("/console/failures", false, &failure(&e)),
    }
}

pub async fn upload_mapping(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Form(form): Form<Fields>,
) -> Response {
    let name = field(&form, "name");
    if !app.connections.iter().any(|c| c.mapping_name.as_deref() == Some(name)) {
        return back("/console/failures", false, &format!("{name:?} is not the mapping of a configured connection"));
    }
    let path = format!("console upload by {}", session.operator);
    match crate::handlers::push_mapping(app.records.ledger.as_ref(), name, &path, field(&form, "source")).await {
        Ok(stored) => {
            tracing::info!(operator = %session.operator, mapping = name, version = stored.version, "Mapping uploaded from the console.");
            let recorder =
                crate::flows::LogRecorder { log: app.records.log.as_ref(), clock: app.records.clock.as_ref() };
            if let Some(c) = app.connections.iter().find(|c| c.mapping_name.as_deref() == Some(name)) {
                let action = recorder.start(&c.id, LogGroup::System, "mapping_upload", Direction::Internal, name);
                recorder
                    .finish(
                        action,
                        LogResult::Success,
                        format!(
                            "By {}: mapping {name} v{} stored (sha256 {}).",
                            session.actor(),
                            stored.version,
                            &stored.sha256[..12]
                        ),
                    )
                    .await;
            }
            back(
                "/console/failures",
                true,
                &format!("Mapping {name} v{} stored; it takes effect within the mapping cache time.", stored.version),
            )
        }
        Err(e) => back("/console/failures", false, &failure(&e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Queues and dead letters
// ---------------------------------------------------------------------------------------------

fn age(seconds: Option<std::time::Duration>) -> String {
    match seconds {
        None => "–".to_owned(),
        Some(d) if d.as_secs() < 120 => format!("{} s", d.as_secs()),
        Some(d) if d.as_secs() < 7200 => format!("{} min", d.as_secs() / 60),
        Some(d) => format!("{:.1} h", d.as_secs_f64() / 3600.0),
    }
}

pub async fn queues_page(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Query(flash): Query<Flash>,
) -> Response {
    let stats = match app.queues.stats().await {
        Ok(s) => s,
        Err(e) => return page(&app, &session, "queues", "Queues", Some((false, failure(&e))), html! {}),
    };
    let token = csrf(&app, &session);
    let mut dead = Vec::new();
    for queue in crate::ports::QueueName::ALL {
        match app.queues.dead_letters(queue, 50).await {
            Ok(letters) => dead.push((queue, letters)),
            Err(e) => return page(&app, &session, "queues", "Queues", Some((false, failure(&e))), html! {}),
        }
    }
    let body = html! {
        div.scroll { table id="queues" {
            thead { tr { th { "Queue" } th.num { "Waiting" } th.num { "In flight" } th.num { "Delayed" } th.num { "Oldest" } } }
            tbody {
                @for q in &stats {
                    tr data-queue=(q.name) {
                        td { (q.queue.as_str()) @if q.dead_letter { " dead-letter queue" } br; span.muted { code { (q.name) } } }
                        td.num.visible { (q.visible) }
                        td.num { (q.in_flight) }
                        td.num { (q.delayed) }
                        td.num { (age(q.oldest_age)) }
                    }
                }
            }
        } }
        p.muted { "A work queue's oldest message age is CloudWatch's ApproximateAgeOfOldestMessage (reading it here would count as a receive towards the DLQ); a dead-letter queue's is read from its messages." }
        @for (queue, letters) in &dead {
            h2 { "Dead letters of the " (queue.as_str()) " queue" }
            @if letters.is_empty() { p.muted { "None." } }
            @else {
                form method="post" action="/console/queues/redrive" id=(format!("dlq-{}", queue.as_str())) {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="queue" value=(queue.as_str());
                    div.scroll { table.dead-letters {
                        thead { tr { th { "" } th { "What" } th { "Connection" } th { "Order / shipment" } th { "Sent" } th.num { "Receives" } th { "Detail" } } }
                        tbody {
                            @for letter in letters {
                                tr {
                                    td { input type="checkbox" name="id" value=(letter.message_id) aria-label="select"; }
                                    td { code { (letter.what.kind) } @if !letter.what.readable { " (unreadable)" } }
                                    td { (letter.what.connection.as_ref().map(ToString::to_string).unwrap_or_default()) }
                                    td { (letter.what.entity.as_deref().unwrap_or("–")) }
                                    td { @if let Some(at) = letter.sent_at { (pages::time(at)) } }
                                    td.num { (letter.receive_count) }
                                    td.notes { (letter.what.detail) }
                                }
                            }
                        }
                    } }
                    div.pager {
                        button type="submit" name="all" value="0" class="redrive-selected" { "Redrive selected" }
                        button type="submit" name="all" value="1" class="secondary redrive-all" { "Redrive all " (letters.len()) }
                    }
                }
            }
        }
    };
    page(&app, &session, "queues", "Queues", flash.take(), body)
}

pub async fn redrive(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Form(form): Form<Fields>,
) -> Response {
    let queue = match field(&form, "queue") {
        "orders" => crate::ports::QueueName::Orders,
        "shipments" => crate::ports::QueueName::Shipments,
        other => return back("/console/queues", false, &format!("unknown queue {other:?}")),
    };
    let selection = if field(&form, "all") == "1" {
        crate::ports::RedriveSelection::All
    } else {
        let ids: Vec<String> = form.iter().filter(|(k, _)| k == "id").map(|(_, v)| v.clone()).collect();
        if ids.is_empty() {
            return back("/console/queues", false, "Select the messages to redrive (or use Redrive all).");
        }
        crate::ports::RedriveSelection::Ids(ids)
    };
    match app.queues.redrive(queue, &selection, &session.actor(), &|_| {}).await {
        Ok(report) => {
            let ok = report.failed.is_empty();
            let mut message = format!(
                "{} message(s) moved back to the {} queue; {} failed, {} not found.",
                report.moved.len(),
                queue.as_str(),
                report.failed.len(),
                report.not_found.len()
            );
            if let Some((id, why)) = report.failed.first() {
                message.push_str(&format!(" First failure: {id}: {why}"));
            }
            back("/console/queues", ok, &message)
        }
        Err(e) => back("/console/queues", false, &failure(&e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Connections: overview, Test connection, Run now, Backfill
// ---------------------------------------------------------------------------------------------

pub async fn connections_page(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Query(flash): Query<Flash>,
) -> Response {
    let overview = match app.connection_ops.overview().await {
        Ok(o) => o,
        Err(e) => return page(&app, &session, "connections", "Connections", Some((false, failure(&e))), html! {}),
    };
    let now = app.records.clock.now();
    let token = csrf(&app, &session);
    let today = now.date_naive();
    let body = html! {
        div.scroll { table id="connections" {
            thead { tr {
                th { "Connection" } th { "Kind" } th { "Schedule" } th { "Last pull" } th { "Last success" }
                th.num { "Failures 24 h" } th.num { "Imported 24 h" } th.num { "Shipments pushed 24 h" } th { "Actions" }
            } }
            tbody {
                @for c in &overview {
                    @let f = &c.figures;
                    tr data-connection=(c.connection) {
                        td { strong { (c.connection) } @if !c.enabled { br; span.muted { "disabled" } } }
                        td { (c.kind) }
                        td { (c.schedule) }
                        td { @if let Some(at) = c.last_pull { (pages::time(at)) } @else { "–" } }
                        td { @if let Some(at) = c.last_success { (pages::time(at)) } @else { "–" } }
                        td.num.failures { (c.failures_24h) @if c.retries_24h > 0 { br; span.muted { (c.retries_24h) " retried" } } }
                        td.num { (f.orders_imported) }
                        td.num { (f.shipments_pushed) }
                        td {
                            form.inline method="post" action="/console/connections/test" {
                                input type="hidden" name="csrf" value=(token);
                                input type="hidden" name="connection" value=(c.connection);
                                button type="submit" class="secondary test" { "Test connection" }
                            }
                            @if c.role == crate::ops::connections::ConnectionRole::Channel && c.enabled {
                                " "
                                form.inline method="post" action="/console/connections/run" {
                                    input type="hidden" name="csrf" value=(token);
                                    input type="hidden" name="connection" value=(c.connection);
                                    button type="submit" class="secondary run" { "Run now" }
                                }
                            }
                        }
                    }
                    @if let Some(last) = &c.last_failure { tr { td colspan="9" { span.muted { "Last failure: " } (last) } } }
                }
            }
        } }
        h2 { "Backfill a date window" }
        form.filters.card method="post" action="/console/connections/backfill" id="backfill" {
            input type="hidden" name="csrf" value=(token);
            label { "Connection" select name="connection" {
                @for c in overview.iter().filter(|c| c.role == crate::ops::connections::ConnectionRole::Channel && c.enabled) {
                    option value=(c.connection) { (c.connection) }
                }
            } }
            label { "Created from (UTC)" input type="date" name="from" value=((today - chrono::Days::new(7)).to_string()) required; }
            label { "to (UTC, exclusive)" input type="date" name="to" value=((today + chrono::Days::new(1)).to_string()) required; }
            button type="submit" id="start-backfill" { "Backfill" }
        }
        p.muted { "Re-lists the channel's orders created in the window and enqueues the ones not in the ERP (no binding); imported orders are counted and skipped." }
    };
    page(&app, &session, "connections", "Connections", flash.take(), body)
}

pub async fn test_connection(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Form(form): Form<Fields>,
) -> Response {
    let connection = field(&form, "connection");
    match app.connection_ops.test_connection(connection, &session.actor()).await {
        Ok(t) if t.ok => back(
            "/console/connections",
            true,
            &format!("{}: connected ({}, {} ms).", t.connection, t.call, t.latency_ms),
        ),
        Ok(t) => {
            let status = t.status.map(|s| format!("{s} ")).unwrap_or_default();
            let words = t.vendor_message.or(t.error).unwrap_or_else(|| "no answer".into());
            back(
                "/console/connections",
                false,
                &format!("{}: refused ({}, {} ms): {status}{words}", t.connection, t.call, t.latency_ms),
            )
        }
        Err(e) => back("/console/connections", false, &failure(&e)),
    }
}

pub async fn run_now(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Form(form): Form<Fields>,
) -> Response {
    let connection = field(&form, "connection");
    // Within API Gateway's 29 s: a pull that has more stops at its deadline and the next run
    // resumes from its cursor.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    match app.connection_ops.run_pull(connection, &session.actor(), deadline).await {
        Ok(r) => back(
            "/console/connections",
            true,
            &format!("{connection}: pulled {} page(s), {} listed, {} enqueued.", r.pages, r.listed, r.enqueued),
        ),
        Err(e) => back("/console/connections", false, &failure(&e)),
    }
}

fn date_or_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
        .or_else(|| parse_local(text))
}

pub async fn start_backfill(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Form(form): Form<Fields>,
) -> Response {
    let connection = field(&form, "connection");
    let (Some(from), Some(to)) = (date_or_time(field(&form, "from")), date_or_time(field(&form, "to"))) else {
        return back("/console/connections", false, "from and to must be dates (YYYY-MM-DD)");
    };
    // The orders queue drives the pages (order-import runs one per message), so a long window
    // never holds a console request.
    let drive = crate::ops::connections::BackfillDrive::Queue;
    match app.connection_ops.start_backfill(connection, from, to, &session.actor(), drive).await {
        Ok(job) => Redirect::to(&format!("/console/backfills?id={}", job.id)).into_response(),
        Err(e) => back("/console/connections", false, &failure(&e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct JobQuery {
    id: String,
}

pub async fn backfill_page(
    State(app): State<Arc<ConsoleApp>>,
    Extension(session): Extension<Session>,
    Query(query): Query<JobQuery>,
) -> Response {
    let job = match app.connection_ops.backfill_job(&query.id).await {
        Ok(job) => job,
        Err(e) => return page(&app, &session, "connections", "Backfill", Some((false, failure(&e))), html! {}),
    };
    let running = job.status == crate::ports::BackfillStatus::Running;
    let status = serde_name(&job.status);
    let body = html! {
        div.card id="backfill-job" {
            dl.facts {
                dt { "Connection" } dd { (job.connection) }
                dt { "Orders created" } dd { (pages::time(job.window.from)) " to " (pages::time(job.window.to)) }
                dt { "Started by" } dd { (job.actor) " at " (pages::time(job.created_at)) }
                dt { "Status" } dd id="backfill-status" { (status) @if running { " (this page refreshes every 2 s)" } }
                dt { "Pages read" } dd id="backfill-pages" { (job.pages) }
                dt { "Orders listed" } dd id="backfill-listed" { (job.listed) }
                dt { "Enqueued (not in the ERP)" } dd id="backfill-enqueued" { (job.enqueued) }
                dt { "Already in the ERP" } dd id="backfill-bound" { (job.already_bound) }
                dt { "Already queued" } dd { (job.already_queued) }
                @if let Some(e) = &job.error { dt { "Last error" } dd { (e) } }
                dt { "Updated" } dd { (pages::time(job.updated_at)) }
            }
        }
        p { a href="/console/connections" { "Back to connections" } }
    };
    let csrf = csrf(&app, &session);
    let frame = Frame { operator: &session.operator, csrf: &csrf, active: "connections", flash: None };
    Html(pages::layout_refreshing("Backfill", &frame, body, running.then_some(2)).into_string()).into_response()
}

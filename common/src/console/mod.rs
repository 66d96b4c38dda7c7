//! The operator console: server-rendered pages for the connector log, one order's timeline,
//! the failures inbox and the actions on them. One `axum` router, served by the `console` Lambda
//! behind the HTTP API (`/console/...`) and locally by `orderbridge-admin console`.
//!
//! Default deny: every route but the sign-in form and the stylesheet needs an operator (a bearer
//! token or the session cookie, see [`auth`]); every POST made with the cookie carries the
//! session's CSRF token, checked here before any handler runs. Every action is written to the
//! connector log with the operator's name. Pages never show a secret: connection settings are
//! not rendered at all, and the log's notes are written without credentials by the flows.

pub mod auth;
mod pages;
mod routes;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::SecretString;

use crate::config::{Env, QueueUrl, SettingsError};
use crate::connections::Connections;
use crate::connectors::registry::{self, Role};
use crate::handlers::{App, LoadSettings, PullSettings, SetupError};
use crate::model::ConnectionId;
use crate::ops::connections::{ConnectionOps, ConnectionOpsSettings};
use crate::ops::failures::{RecordOps, RecordSettings};
use crate::ops::queues::{QueueOps, QueueOpsSettings};

pub use auth::Auth;

/// Largest form the console reads (a mapping file upload).
const MAX_FORM_BYTES: usize = 512 * 1024;

/// A connection as the console shows it.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub id: ConnectionId,
    /// The vendor as people write it (`Sellercloud`).
    pub vendor: &'static str,
    pub kind: String,
    /// The mapping name (channels only).
    pub mapping_name: Option<String>,
    pub enabled: bool,
    pub channel: bool,
}

/// What the console holds, built once per cold start.
pub struct ConsoleApp {
    /// The record actions, and the state table, connector log and clock the pages read.
    pub records: RecordOps,
    /// Channel connections, then the ERP and the shipping tool under their log names.
    pub connections: Vec<ConnectionInfo>,
    /// The ERP's name as people write it.
    pub erp_name: &'static str,
    pub auth: Auth,
    /// Queue depths, dead letters, redrive.
    pub queues: QueueOps,
    /// Overview, Test connection, Run now, Backfill.
    pub connection_ops: ConnectionOps,
}

/// The console's settings: order-pull's (Run now and Backfill pull and enqueue as it does), the
/// shipments queue (its DLQ), the operators.
#[derive(Clone)]
pub struct ConsoleSettings {
    pub pull: PullSettings,
    pub shipments_queue: QueueUrl,
    /// ORDERBRIDGE_PULL_SCHEDULE (optional): the pull schedule, only to show it.
    pub pull_schedule: Option<String>,
    /// ORDERBRIDGE_CONSOLE_OPERATORS: `name=token` pairs (from Secrets Manager in AWS).
    pub operators: SecretString,
    /// ORDERBRIDGE_CONSOLE_LOCAL=1: cookies without `Secure` (plain HTTP on loopback only).
    pub local: bool,
}

impl LoadSettings for ConsoleSettings {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        Ok(Self {
            pull: PullSettings::load(env)?,
            shipments_queue: env.queue_url("ORDERBRIDGE_SHIPMENTS_QUEUE_URL")?,
            pull_schedule: env.optional("ORDERBRIDGE_PULL_SCHEDULE"),
            operators: SecretString::from(env.required(
                "ORDERBRIDGE_CONSOLE_OPERATORS",
                "set it to `name=token` pairs (README, \"Console\"); in AWS it comes from the console secret",
            )?),
            local: env.optional("ORDERBRIDGE_CONSOLE_LOCAL").is_some_and(|v| v == "1"),
        })
    }
}

impl App for ConsoleApp {
    type Settings = ConsoleSettings;

    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &ConsoleSettings,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let common = &settings.pull.common;
        let records = RecordOps::build(
            sdk,
            &RecordSettings { common: common.clone(), orders_queue: settings.pull.orders_queue.clone() },
            connections,
        )?;
        let queues = QueueOps::open(
            sdk,
            &QueueOpsSettings {
                common: common.clone(),
                orders_queue: settings.pull.orders_queue.clone(),
                shipments_queue: settings.shipments_queue.clone(),
            },
        );
        let connection_ops = ConnectionOps::build(
            sdk,
            &ConnectionOpsSettings { pull: settings.pull.clone(), pull_schedule: settings.pull_schedule.clone() },
            connections,
        )?;
        let auth = Auth::parse(&settings.operators, !settings.local)
            .map_err(|e| SetupError::Connection { connection: "console".into(), source: Box::new(e) })?;
        let infos = connection_infos(connections);
        Ok(Self {
            records,
            connections: infos,
            erp_name: registry::vendor_of_role(Role::Erp).map_or("the ERP", |v| v.name),
            auth,
            queues,
            connection_ops,
        })
    }
}

/// The connections of a deployment as the console lists them.
pub fn connection_infos(connections: &Connections) -> Vec<ConnectionInfo> {
    let mut infos: Vec<ConnectionInfo> = connections
        .connections
        .iter()
        .map(|c| ConnectionInfo {
            id: c.id.clone(),
            vendor: registry::vendor(&c.kind).map_or("unknown vendor", |v| v.name),
            kind: c.kind.clone(),
            mapping_name: Some(c.mapping_name().to_owned()),
            enabled: c.enabled,
            channel: true,
        })
        .collect();
    let mut others = vec![registry::vendor_of_role(Role::Erp)];
    if connections.shipstation.is_some() {
        others.push(registry::vendor_of_role(Role::ShippingTool));
    }
    for vendor in others.into_iter().flatten() {
        if let Ok(id) = ConnectionId::parse(vendor.kind) {
            infos.push(ConnectionInfo {
                id,
                vendor: vendor.name,
                kind: vendor.kind.to_owned(),
                mapping_name: None,
                enabled: true,
                channel: false,
            });
        }
    }
    infos
}

/// Who is asking, as the guard established it.
#[derive(Debug, Clone)]
pub struct Session {
    pub operator: String,
    /// The session cookie's value (None when signed in by bearer token).
    pub cookie: Option<String>,
}

impl Session {
    /// The name actions are logged under.
    pub fn actor(&self) -> String {
        format!("console:{}", self.operator)
    }
}

/// The console's routes. Mount it at the root: every path starts with `/console`.
pub fn router(app: Arc<ConsoleApp>) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/log") }))
        .route("/console/", get(|| async { Redirect::to("/console/log") }))
        .route("/console/login", get(routes::login_page).post(routes::login))
        .route("/console/logout", post(routes::logout))
        .route("/console/static/console.css", get(routes::stylesheet))
        .route("/console/log", get(routes::log_page))
        .route("/console/log/view", get(routes::log_view))
        .route("/console/orders", get(routes::order_page))
        .route("/console/orders/{action}", post(routes::order_action))
        .route("/console/failures", get(routes::failures_page))
        .route("/console/failures/replay", post(routes::replay))
        .route("/console/mappings", post(routes::upload_mapping))
        .route("/console/queues", get(routes::queues_page))
        .route("/console/queues/redrive", post(routes::redrive))
        .route("/console/connections", get(routes::connections_page))
        .route("/console/connections/test", post(routes::test_connection))
        .route("/console/connections/run", post(routes::run_now))
        .route("/console/connections/backfill", post(routes::start_backfill))
        .route("/console/backfills", get(routes::backfill_page))
        .fallback(routes::not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// Serves the console on `addr` until the process ends (`orderbridge-admin console`, the demo).
pub async fn serve(app: Arc<ConsoleApp>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(app)).await
}

fn public(path: &str) -> bool {
    path == "/console/login" || path == "/console/static/console.css"
}

/// Default deny: finds the operator (bearer token or session cookie) and checks the CSRF token
/// of cookie-authenticated POSTs before any handler runs.
async fn guard(State(app): State<Arc<ConsoleApp>>, request: Request, next: Next) -> Response {
    if public(request.uri().path()) {
        return next.run(request).await;
    }
    let now = app.records.clock.now();
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(auth::session_from_cookies)
        .map(str::to_owned);
    let session = match (bearer, cookie) {
        (Some(token), _) => {
            app.auth.operator_for_token(&token).map(|operator| Session { operator: operator.to_owned(), cookie: None })
        }
        (None, Some(value)) => {
            app.auth.session_operator(&value, now).map(|operator| Session { operator, cookie: Some(value) })
        }
        (None, None) => None,
    };
    let Some(session) = session else {
        tracing::info!(path = %request.uri().path(), method = %request.method(), "Console request refused: not signed in.");
        return if request.method() == Method::GET {
            Redirect::to("/console/login").into_response()
        } else {
            (StatusCode::UNAUTHORIZED, "Sign in first (operator token or session).").into_response()
        };
    };
    let mut request = request;
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if let Some(value) = &session.cookie {
            // Read the form once here, check its token, and hand the same bytes on.
            let (parts, body) = request.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
                Ok(b) => b,
                Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response(),
            };
            let presented = form_field(&bytes, "csrf").unwrap_or_default();
            if !app.auth.csrf_valid(value, &presented) {
                tracing::warn!(operator = %session.operator, path = %parts.uri.path(), "Console POST refused: CSRF token missing or forged.");
                return (StatusCode::FORBIDDEN, "Refused: the form's CSRF token is missing or not this session's.")
                    .into_response();
            }
            request = Request::from_parts(parts, Body::from(bytes));
        }
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Headers every console response carries: no framing, no sniffing, no caching of pages that
/// show order data, no referrer leaving the console, and a policy that allows only the
/// console's own stylesheet and forms (there is no script at all).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()");
    response
}

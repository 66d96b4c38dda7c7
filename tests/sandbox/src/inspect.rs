//! The inspection and control API every vendor port serves under `/_sandbox/...` (JSON, no auth,
//! no faults, no rate limits): write counters and duplicates, faults, rate limits, webhook
//! targets, deliveries and reset. Vendor-specific controls (create orders, confirm shipments) live
//! in each vendor module under the same prefix.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::RateLimitConfig;
use crate::core::{SharedState, Vendor};
use crate::faults::{FaultSpec, ScriptedFault};
use crate::seed::OrderOverrides;
use crate::webhook::WebhookTarget;

#[derive(Clone)]
pub(crate) struct Ctl {
    pub state: SharedState,
    pub vendor: Vendor,
}

/// A control-API error: `{"error": "..."}` with a 4xx status.
pub(crate) fn ctl_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

/// A control-API JSON body, or a 400 `{"error": "invalid body: ..."}`.
pub(crate) fn ctl_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| ctl_error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))
}

/// Body of a vendor's `POST /_sandbox/orders`: `{"count": n, ...overrides}`; an empty body means one.
#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateBody {
    count: Option<usize>,
    #[serde(flatten)]
    overrides: OrderOverrides,
}

/// A vendor's `POST /_sandbox/orders`: read [`CreateBody`], create the orders with `create` and
/// answer `{"created": [ids]}`.
pub(crate) fn ctl_create_orders(body: &[u8], create: impl FnOnce(usize, &OrderOverrides) -> Vec<i64>) -> Response {
    let b: CreateBody = if body.is_empty() {
        CreateBody::default()
    } else {
        match ctl_body(body) {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    Json(json!({ "created": create(b.count.unwrap_or(1), &b.overrides) })).into_response()
}

pub(crate) fn router(state: SharedState, vendor: Vendor) -> Router {
    Router::new()
        .route("/_sandbox/info", get(info))
        .route("/_sandbox/writes", get(writes))
        .route("/_sandbox/events", get(events))
        .route("/_sandbox/faults", get(get_faults).put(put_faults).delete(clear_faults))
        .route("/_sandbox/faults/script", post(push_fault))
        .route("/_sandbox/rate-limits", get(get_limits).put(put_limits))
        .route("/_sandbox/webhook", get(get_webhook).put(put_webhook).delete(delete_webhook))
        .route("/_sandbox/deliveries", get(deliveries))
        .route("/_sandbox/reset", post(reset))
        .with_state(Ctl { state, vendor })
}

async fn info(State(c): State<Ctl>) -> Json<Value> {
    let urls = c.state.urls().cloned();
    Json(json!({
        "vendor": c.vendor,
        "base_url": urls.as_ref().map(|u| u.get(c.vendor).to_string()),
        "credentials": crate::vendor_credentials(c.state.config(), c.vendor),
    }))
}

#[derive(Deserialize)]
struct WritesQuery {
    #[serde(default)]
    duplicates: bool,
}

async fn writes(State(c): State<Ctl>, Query(q): Query<WritesQuery>) -> Json<Value> {
    let counts = if q.duplicates { c.state.duplicates(c.vendor) } else { c.state.write_counts(c.vendor) };
    Json(json!(counts))
}

async fn events(State(c): State<Ctl>) -> Json<Value> {
    Json(json!(c.state.write_events(c.vendor)))
}

async fn get_faults(State(c): State<Ctl>) -> Json<Value> {
    Json(json!(c.state.faults(c.vendor)))
}

async fn put_faults(State(c): State<Ctl>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(spec) => {
            c.state.set_faults(c.vendor, spec.clone());
            Json(json!(spec)).into_response()
        }
        Err(e) => ctl_error(StatusCode::BAD_REQUEST, format!("invalid fault spec: {e}")),
    }
}

async fn clear_faults(State(c): State<Ctl>) -> Json<Value> {
    c.state.set_faults(c.vendor, FaultSpec::default());
    Json(json!(FaultSpec::default()))
}

async fn push_fault(State(c): State<Ctl>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<ScriptedFault>(&body) {
        Ok(f) => {
            c.state.push_fault(c.vendor, f);
            Json(json!(c.state.faults(c.vendor))).into_response()
        }
        Err(e) => ctl_error(StatusCode::BAD_REQUEST, format!("invalid scripted fault: {e}")),
    }
}

async fn get_limits(State(c): State<Ctl>) -> Json<Value> {
    let (enabled, limits) = c.state.rate_limits();
    Json(json!({ "enabled": enabled, "limits": limits }))
}

#[derive(Deserialize)]
struct LimitsBody {
    enabled: Option<bool>,
    limits: Option<RateLimitConfig>,
}

async fn put_limits(State(c): State<Ctl>, body: axum::body::Bytes) -> Response {
    let b: LimitsBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(l) = b.limits {
        c.state.set_rate_limits(l);
    }
    if let Some(e) = b.enabled {
        c.state.set_rate_limits_enabled(e);
    }
    get_limits(State(c)).await.into_response()
}

async fn get_webhook(State(c): State<Ctl>) -> Json<Value> {
    Json(json!(c.state.webhook(c.vendor)))
}

async fn put_webhook(State(c): State<Ctl>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<WebhookTarget>(&body) {
        Ok(t) if !t.url.is_empty() => {
            c.state.set_webhook(c.vendor, Some(t.clone()));
            Json(json!(t)).into_response()
        }
        Ok(_) => ctl_error(StatusCode::BAD_REQUEST, "url is required"),
        Err(e) => ctl_error(StatusCode::BAD_REQUEST, format!("invalid webhook target: {e}")),
    }
}

async fn delete_webhook(State(c): State<Ctl>) -> StatusCode {
    c.state.set_webhook(c.vendor, None);
    StatusCode::NO_CONTENT
}

async fn deliveries(State(c): State<Ctl>) -> Json<Value> {
    Json(json!(c.state.deliveries(c.vendor)))
}

async fn reset(State(c): State<Ctl>) -> Json<Value> {
    c.state.reset(c.vendor);
    Json(json!({ "reset": c.vendor }))
}

//! BigCommerce HTTP handlers, webhooks and the BigCommerce part of the control API.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{m4, rfc2822, status_name, BcOrder, STATUSES};
use crate::core::{parse_decimal, parse_i64, qget, query_pairs, SharedState, Vendor};
use crate::faults::{no_content, vendor_error};
use crate::inspect::{ctl_create_orders, ctl_error};
use crate::seed::OrderOverrides;
use crate::webhook::{Signing, WebhookTarget};

const V: Vendor = Vendor::Bigcommerce;

fn bad(msg: impl AsRef<str>) -> Response {
    vendor_error(V, StatusCode::BAD_REQUEST, msg.as_ref())
}

fn not_found() -> Response {
    vendor_error(V, StatusCode::NOT_FOUND, "The requested resource was not found.")
}

/// v3 error shape (used by /v3/hooks).
fn v3_error(status: StatusCode, title: &str, errors: Value) -> Response {
    (
        status,
        Json(json!({
            "status": status.as_u16(), "title": title,
            "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            "errors": errors,
        })),
    )
        .into_response()
}

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/stores/{hash}/v2/orders", get(list_orders))
        .route("/stores/{hash}/v2/orders/count", get(count_orders))
        .route("/stores/{hash}/v2/orders/{id}", get(get_order).put(update_order))
        .route("/stores/{hash}/v2/orders/{id}/products", get(get_products))
        .route("/stores/{hash}/v2/orders/{id}/shipping_addresses", get(get_addresses))
        .route("/stores/{hash}/v2/orders/{id}/coupons", get(get_coupons))
        .route("/stores/{hash}/v2/orders/{id}/shipments", get(list_shipments).post(create_shipment))
        .route("/stores/{hash}/v2/orders/{id}/shipments/count", get(count_shipments))
        .route("/stores/{hash}/v2/orders/{id}/shipments/{sid}", get(get_shipment))
        .route("/stores/{hash}/v2/order_statuses", get(order_statuses))
        .route("/stores/{hash}/v2/time", get(server_time))
        .route("/stores/{hash}/v3/hooks", get(list_hooks).post(create_hook))
        .route("/stores/{hash}/v3/hooks/{hid}", get(get_hook).put(update_hook).delete(delete_hook))
        .with_state(state)
}

/// Store hash and `X-Auth-Token` check.
fn auth(s: &SharedState, hash: &str, h: &HeaderMap) -> Result<(), Response> {
    if hash != s.config().bigcommerce_store_hash {
        return Err(not_found());
    }
    let ok = h
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == s.config().credentials.bigcommerce_access_token);
    if ok {
        Ok(())
    } else {
        Err(vendor_error(
            V,
            StatusCode::UNAUTHORIZED,
            "You are not authorized to access this resource. Check the X-Auth-Token header.",
        ))
    }
}

fn base(s: &SharedState) -> String {
    s.urls().map(|u| u.bigcommerce.clone()).unwrap_or_default()
}

/// RFC-2822 or ISO-8601 (offset-less values are read as UTC), or a date.
fn parse_date(v: &str) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if let Ok(d) = DateTime::parse_from_rfc2822(v) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S") {
        return Some(n.and_utc());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|n| n.and_utc())
}

fn order_id(id: &str) -> Result<i64, Response> {
    id.parse::<i64>().map_err(|_| bad(format!("The field 'id' is invalid: '{id}'.")))
}

/// Answers `f(order)` for an authorised request naming an existing order, else the vendor error.
fn with_order(s: &SharedState, hash: &str, h: &HeaderMap, id: &str, f: impl FnOnce(&BcOrder) -> Response) -> Response {
    let id = match auth(s, hash, h).and_then(|()| order_id(id)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s.bigcommerce().orders.get(&id) {
        Some(o) => f(o),
        None => not_found(),
    }
}

fn object_body(body: &[u8]) -> Result<Value, Response> {
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad("The request body must be a JSON object.")),
    }
}

fn paging(pairs: &[(String, String)], default_limit: usize) -> Result<(usize, usize), Response> {
    let page = match qget(pairs, "page") {
        None => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(bad("The field 'page' is invalid.")),
        },
    };
    let limit = match qget(pairs, "limit") {
        None => default_limit,
        // Values above 250 are clamped to 250 (UNCONFIRMED upstream, see README).
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(250),
            _ => return Err(bad("The field 'limit' is invalid.")),
        },
    };
    Ok((page, limit))
}

async fn list_orders(State(s): State<SharedState>, Path(hash): Path<String>, h: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = auth(&s, &hash, &h) {
        return r;
    }
    let pairs = query_pairs(uri.query());
    let (page, limit) = match paging(&pairs, 50) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let int = |k: &str| -> Result<Option<i64>, Response> {
        match qget(&pairs, k) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| bad(format!("The field '{k}' is invalid."))),
        }
    };
    let date = |k: &str| -> Result<Option<DateTime<Utc>>, Response> {
        match qget(&pairs, k) {
            None => Ok(None),
            Some(v) => parse_date(v)
                .map(Some)
                .ok_or_else(|| bad(format!("The field '{k}' is invalid. Use RFC-2822 or ISO-8601."))),
        }
    };
    let dec = |k: &str| -> Result<Option<Decimal>, Response> {
        match qget(&pairs, k) {
            None => Ok(None),
            Some(v) => parse_decimal(&json!(v)).map(Some).ok_or_else(|| bad(format!("The field '{k}' is invalid."))),
        }
    };
    let filters = (|| -> Result<_, Response> {
        Ok((
            int("min_id")?,
            int("max_id")?,
            int("customer_id")?,
            int("status_id")?,
            date("min_date_created")?,
            date("max_date_created")?,
            date("min_date_modified")?,
            date("max_date_modified")?,
            dec("min_total")?,
            dec("max_total")?,
        ))
    })();
    let (min_id, max_id, customer_id, status_id, min_c, max_c, min_m, max_m, min_t, max_t) = match filters {
        Ok(f) => f,
        Err(r) => return r,
    };
    if status_id.is_some_and(|x| !STATUSES.iter().any(|(i, _)| *i == x)) {
        return bad("The field 'status_id' is invalid.");
    }
    let email = qget(&pairs, "email").map(str::to_ascii_lowercase);
    let (sort_field, desc) = match qget(&pairs, "sort") {
        None => ("id".to_string(), false),
        Some(sv) => {
            let (f, d) = sv.split_once(':').unwrap_or((sv, "asc"));
            if !matches!(
                f,
                "id" | "customer_id" | "date_created" | "date_modified" | "status_id" | "channel_id" | "external_id"
            ) || !matches!(d.to_ascii_lowercase().as_str(), "asc" | "desc")
            {
                return bad("The field 'sort' is invalid.");
            }
            (f.to_string(), d.eq_ignore_ascii_case("desc"))
        }
    };
    let st = s.bigcommerce();
    let mut hits: Vec<&BcOrder> = st
        .orders
        .values()
        .filter(|o| {
            let total = o.gen.grand_total();
            min_id.is_none_or(|x| o.id >= x)
                && max_id.is_none_or(|x| o.id <= x)
                && customer_id.is_none_or(|x| o.customer_id == x)
                && status_id.is_none_or(|x| o.status_id == x)
                && min_c.is_none_or(|x| o.date_created >= x)
                && max_c.is_none_or(|x| o.date_created <= x)
                && min_m.is_none_or(|x| o.date_modified >= x)
                && max_m.is_none_or(|x| o.date_modified <= x)
                && min_t.is_none_or(|x| total >= x)
                && max_t.is_none_or(|x| total <= x)
                && email.as_ref().is_none_or(|e| o.gen.buyer.email.to_ascii_lowercase() == *e)
        })
        .collect();
    // Ties broken by id so paging is stable.
    hits.sort_by(|a, b| {
        let ord = match sort_field.as_str() {
            "customer_id" => a.customer_id.cmp(&b.customer_id),
            "date_created" => a.date_created.cmp(&b.date_created),
            "date_modified" => a.date_modified.cmp(&b.date_modified),
            "status_id" => a.status_id.cmp(&b.status_id),
            _ => std::cmp::Ordering::Equal,
        }
        .then(a.id.cmp(&b.id));
        if desc {
            ord.reverse()
        } else {
            ord
        }
    });
    let b = base(&s);
    let render = match consignments(&pairs) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let page_items: Vec<Value> =
        hits.iter().skip((page - 1).saturating_mul(limit)).take(limit).map(|o| render.order(o, &b)).collect();
    if page_items.is_empty() {
        // An empty page is 204 No Content, not [] (the historical, documented behaviour).
        return no_content();
    }
    Json(Value::Array(page_items)).into_response()
}

async fn count_orders(State(s): State<SharedState>, Path(hash): Path<String>, h: HeaderMap) -> Response {
    if let Err(r) = auth(&s, &hash, &h) {
        return r;
    }
    let st = s.bigcommerce();
    let statuses: Vec<Value> = STATUSES
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            json!({
                "id": id, "name": name, "system_label": name, "custom_label": name,
                "system_description": name, "sort_order": i,
                "count": st.orders.values().filter(|o| o.status_id == *id).count(),
            })
        })
        .collect();
    Json(json!({ "statuses": statuses, "count": st.orders.len() })).into_response()
}

async fn get_order(
    State(s): State<SharedState>,
    Path((hash, id)): Path<(String, String)>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    let b = base(&s);
    let render = match consignments(&query_pairs(uri.query())) {
        Ok(r) => r,
        Err(r) => return r,
    };
    with_order(&s, &hash, &h, &id, |o| Json(render.order(o, &b)).into_response())
}

/// How an order is rendered, from `include` and `consignment_structure`.
enum Render {
    Plain,
    Consignments { expand_lines: bool },
}

impl Render {
    fn order(&self, o: &BcOrder, base: &str) -> Value {
        match self {
            Self::Plain => o.to_json(base),
            Self::Consignments { expand_lines } => o.to_json_with_consignments(base, *expand_lines),
        }
    }
}

/// `include` is a comma-separated list of `consignments`, `consignments.line_items` and `fees`
/// (§3.2; anything else is 400). Consignments come as an object only with
/// `consignment_structure=object`; the legacy array is not modelled (sandbox README), so they
/// stay the resource link without it.
fn consignments(pairs: &[(String, String)]) -> Result<Render, Response> {
    let Some(include) = qget(pairs, "include") else { return Ok(Render::Plain) };
    let parts: Vec<&str> = include.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    if let Some(bad_part) = parts.iter().find(|p| !matches!(**p, "consignments" | "consignments.line_items" | "fees")) {
        return Err(bad(format!("The field 'include' is invalid: {bad_part:?}.")));
    }
    let object = match qget(pairs, "consignment_structure") {
        None => false,
        Some("object") => true,
        Some(_) => return Err(bad("The field 'consignment_structure' is invalid.")),
    };
    let wanted = parts.iter().any(|p| p.starts_with("consignments"));
    Ok(if wanted && object {
        Render::Consignments { expand_lines: parts.contains(&"consignments.line_items") }
    } else {
        Render::Plain
    })
}

async fn update_order(
    State(s): State<SharedState>,
    Path((hash, id)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, v) = match auth(&s, &hash, &h).and_then(|()| Ok((order_id(&id)?, object_body(&body)?))) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let new_status = match v.get("status_id") {
        None => None,
        Some(x) => match parse_i64(x).filter(|n| STATUSES.iter().any(|(i, _)| i == n)) {
            Some(n) => Some(n),
            None => return bad("The field 'status_id' is invalid."),
        },
    };
    let (json_out, change) = {
        let mut st = s.bigcommerce();
        let Some(o) = st.orders.get_mut(&id) else {
            return not_found();
        };
        if let Some(n) = v.get("staff_notes").and_then(Value::as_str) {
            o.staff_notes = n.to_string();
        }
        if let Some(n) = v.get("customer_message").and_then(Value::as_str) {
            o.customer_message = n.to_string();
        }
        let mut change = None;
        if let Some(n) = new_status {
            if n != o.status_id {
                change = Some((o.status_id, n));
                o.status_id = n;
            }
        }
        o.date_modified = Utc::now();
        (o.to_json(&base(&s)), change)
    };
    if let Some(n) = new_status {
        s.record_write(V, "status", &id.to_string(), json!({ "status_id": n }));
    }
    if let Some(n) = v.get("staff_notes").and_then(Value::as_str) {
        s.record_write(V, "staff_notes", &id.to_string(), json!({ "staff_notes": n }));
    }
    if let Some((old, new)) = change {
        s.bigcommerce_status_events(id, old, new);
    } else if new_status.is_some() || v.get("staff_notes").is_some() || v.get("customer_message").is_some() {
        s.bigcommerce_webhook("store/order/updated", id, None);
    }
    Json(json_out).into_response()
}

async fn get_products(
    State(s): State<SharedState>,
    Path((hash, id)): Path<(String, String)>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    let id = match auth(&s, &hash, &h).and_then(|()| order_id(&id)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (page, limit) = match paging(&query_pairs(uri.query()), 50) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let st = s.bigcommerce();
    let Some(o) = st.orders.get(&id) else {
        return not_found();
    };
    let items: Vec<Value> = o
        .products
        .iter()
        .enumerate()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(|(i, p)| o.product_json(p, i == 0))
        .collect();
    if items.is_empty() {
        return no_content();
    }
    Json(Value::Array(items)).into_response()
}

async fn get_addresses(
    State(s): State<SharedState>,
    Path((hash, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    with_order(&s, &hash, &h, &id, |o| Json(json!([o.address_json()])).into_response())
}

/// `GET /v2/orders/{id}/coupons`: the coupon applied to the order (one at most), or 204 No
/// Content like the other empty sub-resources; 404 only when the order does not exist.
async fn get_coupons(State(s): State<SharedState>, Path((hash, id)): Path<(String, String)>, h: HeaderMap) -> Response {
    with_order(&s, &hash, &h, &id, |o| match o.coupon_json() {
        Some(c) => Json(json!([c])).into_response(),
        None => no_content(),
    })
}

/// `GET /v2/time`: the store's clock in Unix seconds.
async fn server_time(State(s): State<SharedState>, Path(hash): Path<String>, h: HeaderMap) -> Response {
    if let Err(r) = auth(&s, &hash, &h) {
        return r;
    }
    Json(json!({ "time": Utc::now().timestamp() })).into_response()
}

async fn list_shipments(
    State(s): State<SharedState>,
    Path((hash, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    with_order(&s, &hash, &h, &id, |o| {
        if o.shipments.is_empty() {
            no_content()
        } else {
            Json(json!(o.shipments)).into_response()
        }
    })
}

async fn count_shipments(
    State(s): State<SharedState>,
    Path((hash, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    with_order(&s, &hash, &h, &id, |o| Json(json!({ "count": o.shipments.len() })).into_response())
}

async fn get_shipment(
    State(s): State<SharedState>,
    Path((hash, id, sid)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = auth(&s, &hash, &h) {
        return r;
    }
    let (Ok(id), Ok(sid)) = (id.parse::<i64>(), sid.parse::<i64>()) else {
        return not_found();
    };
    let st = s.bigcommerce();
    match st.orders.get(&id).and_then(|o| o.shipments.iter().find(|x| x["id"] == json!(sid))) {
        Some(x) => Json(x.clone()).into_response(),
        None => not_found(),
    }
}

const PROVIDERS: &[&str] =
    &["", "auspost", "canadapost", "endicia", "usps", "fedex", "royalmail", "ups", "upsready", "shipperhq"];

async fn create_shipment(
    State(s): State<SharedState>,
    Path((hash, id)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, v) = match auth(&s, &hash, &h).and_then(|()| Ok((order_id(&id)?, object_body(&body)?))) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(address_id) = v.get("order_address_id").and_then(parse_i64) else {
        return bad("The field 'order_address_id' is required.");
    };
    let Some(items) = v.get("items").and_then(Value::as_array).filter(|i| !i.is_empty()) else {
        return bad("The field 'items' is required.");
    };
    let tracking = v.get("tracking_number").and_then(Value::as_str).unwrap_or("").to_string();
    if tracking.chars().count() > 50 {
        return bad("The field 'tracking_number' must be at most 50 characters.");
    }
    let provider = v.get("shipping_provider").and_then(Value::as_str);
    if let Some(p) = provider {
        if !PROVIDERS.contains(&p) && !p.starts_with("carrier_") {
            return bad("The field 'shipping_provider' is invalid.");
        }
    }
    let mut wanted: Vec<(i64, i64)> = Vec::new();
    for it in items {
        let (Some(pid), Some(q)) =
            (it.get("order_product_id").and_then(parse_i64), it.get("quantity").and_then(parse_i64))
        else {
            return bad("Each item needs integer 'order_product_id' and 'quantity'.");
        };
        if q < 1 {
            return bad("The field 'quantity' must be at least 1.");
        }
        wanted.push((pid, q));
    }
    let (shipment, change) = {
        let mut st = s.bigcommerce();
        let sid = st.next_shipment;
        let Some(o) = st.orders.get_mut(&id) else {
            return not_found();
        };
        if address_id != o.address_id {
            return bad("The field 'order_address_id' is invalid.");
        }
        for (pid, q) in &wanted {
            match o.products.iter().find(|p| p.id == *pid) {
                None => return bad(format!("The field 'order_product_id' is invalid: {pid}.")),
                Some(p) if *q > p.quantity - p.quantity_shipped => {
                    return bad(format!("The quantity for order product {pid} exceeds the quantity remaining to ship."))
                }
                _ => {}
            }
        }
        for (pid, q) in &wanted {
            if let Some(p) = o.products.iter_mut().find(|p| p.id == *pid) {
                p.quantity_shipped += q;
            }
        }
        let now = Utc::now();
        let old = o.status_id;
        let new = if o.items_shipped() >= o.items_total() { 2 } else { 3 };
        o.status_id = new;
        o.date_shipped = Some(now);
        o.date_modified = now;
        let a = &o.gen.buyer.address;
        let provider = provider.unwrap_or("custom");
        let shipment = json!({
            "id": sid, "order_id": id, "customer_id": o.customer_id,
            "order_address_id": address_id, "date_created": rfc2822(&now),
            "tracking_number": tracking, "shipping_method": v.get("shipping_method").cloned().unwrap_or(json!("")),
            "shipping_provider": provider,
            "tracking_carrier": v.get("tracking_carrier").cloned().unwrap_or(json!("")),
            "tracking_link": v.get("tracking_link").cloned().unwrap_or(json!("")),
            "generated_tracking_link": if tracking.is_empty() { String::new() } else { format!("https://track.example.com/{provider}/{tracking}") },
            "shipping_provider_display_name": provider.to_ascii_uppercase(),
            "comments": v.get("comments").cloned().unwrap_or(json!("")),
            "billing_address": { "first_name": a.first_name, "last_name": a.last_name, "street_1": a.line1, "city": a.city, "state": a.state, "zip": a.postal, "country_iso2": a.country },
            "shipping_address": o.address_json(),
            "items": wanted.iter().map(|(pid, q)| json!({ "order_product_id": pid, "product_id": o.products.iter().find(|p| p.id == *pid).map(|p| p.product_id), "quantity": q })).collect::<Vec<_>>(),
        });
        o.shipments.push(shipment.clone());
        st.next_shipment += 1;
        (shipment, (old != new).then_some((old, new)))
    };
    s.record_write(V, "shipment", &id.to_string(), json!({ "shipment_id": shipment["id"] }));
    if !tracking.is_empty() {
        s.record_write(V, "tracking_number", &tracking, json!({ "order_id": id }));
    }
    if let Some((old, new)) = change {
        s.bigcommerce_status_events(id, old, new);
    }
    (StatusCode::CREATED, Json(shipment)).into_response()
}

async fn order_statuses(State(s): State<SharedState>, Path(hash): Path<String>, h: HeaderMap) -> Response {
    if let Err(r) = auth(&s, &hash, &h) {
        return r;
    }
    let out: Vec<Value> = STATUSES
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            json!({ "id": id, "name": name, "system_label": name, "custom_label": name,
                    "system_description": name, "order": i })
        })
        .collect();
    Json(json!(out)).into_response()
}

// ------------------------------------------------------------------------------------------
// v3 hooks
// ------------------------------------------------------------------------------------------

const SCOPES: &[&str] = &[
    "store/order/*",
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/statusUpdated",
    "store/order/message/created",
    "store/order/refund/created",
    "store/shipment/*",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
    "store/hook/deliveryException",
];

async fn list_hooks(State(s): State<SharedState>, Path(hash): Path<String>, h: HeaderMap) -> Response {
    if let Err(r) = auth(&s, &hash, &h) {
        return r;
    }
    let hooks: Vec<Value> = s.bigcommerce().hooks.values().cloned().collect();
    let n = hooks.len();
    Json(json!({ "data": hooks, "meta": { "pagination": { "total": n, "count": n, "per_page": 50, "current_page": 1, "total_pages": 1 } } })).into_response()
}

fn hook_from(v: &Value, existing: Option<&Value>) -> Result<Value, Response> {
    let mut out = existing.cloned().unwrap_or_else(|| json!({ "is_active": true, "headers": null }));
    if let Some(scope) = v.get("scope") {
        match scope.as_str().filter(|x| SCOPES.contains(x)) {
            Some(x) => out["scope"] = json!(x),
            None => {
                return Err(v3_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Input is invalid",
                    json!({ "scope": "scope is not a supported webhook scope" }),
                ))
            }
        }
    }
    if let Some(d) = v.get("destination") {
        match d.as_str().filter(|x| x.starts_with("http://") || x.starts_with("https://")) {
            Some(x) => out["destination"] = json!(x),
            None => {
                return Err(v3_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Input is invalid",
                    json!({ "destination": "destination must be a URL" }),
                ))
            }
        }
    }
    if let Some(a) = v.get("is_active").and_then(Value::as_bool) {
        out["is_active"] = json!(a);
    }
    if let Some(hd) = v.get("headers") {
        out["headers"] = hd.clone();
    }
    for f in ["scope", "destination"] {
        if out.get(f).is_none_or(Value::is_null) {
            return Err(v3_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Input is invalid",
                json!({ f: format!("{f} is required") }),
            ));
        }
    }
    Ok(out)
}

async fn create_hook(State(s): State<SharedState>, Path(hash): Path<String>, h: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = auth(&s, &hash, &h) {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut hook = match hook_from(&v, None) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut st = s.bigcommerce();
    let id = st.next_hook;
    st.next_hook += 1;
    let now = Utc::now().timestamp();
    hook["id"] = json!(id);
    hook["client_id"] = json!(s.config().credentials.bigcommerce_client_id);
    hook["store_hash"] = json!(hash);
    hook["created_at"] = json!(now);
    hook["updated_at"] = json!(now);
    st.hooks.insert(id, hook.clone());
    Json(json!({ "data": hook, "meta": {} })).into_response()
}

fn hook_id(x: &str) -> Result<i64, Response> {
    x.parse().map_err(|_| v3_error(StatusCode::NOT_FOUND, "Webhook not found", json!({})))
}

async fn get_hook(State(s): State<SharedState>, Path((hash, hid)): Path<(String, String)>, h: HeaderMap) -> Response {
    let hid = match auth(&s, &hash, &h).and_then(|()| hook_id(&hid)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s.bigcommerce().hooks.get(&hid) {
        Some(x) => Json(json!({ "data": x, "meta": {} })).into_response(),
        None => v3_error(StatusCode::NOT_FOUND, "Webhook not found", json!({})),
    }
}

async fn update_hook(
    State(s): State<SharedState>,
    Path((hash, hid)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let hid = match auth(&s, &hash, &h).and_then(|()| hook_id(&hid)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = s.bigcommerce();
    let Some(existing) = st.hooks.get(&hid).cloned() else {
        return v3_error(StatusCode::NOT_FOUND, "Webhook not found", json!({}));
    };
    match hook_from(&v, Some(&existing)) {
        Ok(mut hk) => {
            hk["updated_at"] = json!(Utc::now().timestamp());
            st.hooks.insert(hid, hk.clone());
            Json(json!({ "data": hk, "meta": {} })).into_response()
        }
        Err(r) => r,
    }
}

async fn delete_hook(
    State(s): State<SharedState>,
    Path((hash, hid)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    let hid = match auth(&s, &hash, &h).and_then(|()| hook_id(&hid)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s.bigcommerce().hooks.remove(&hid) {
        Some(x) => Json(json!({ "data": x, "meta": {} })).into_response(),
        None => v3_error(StatusCode::NOT_FOUND, "Webhook not found", json!({})),
    }
}

// ------------------------------------------------------------------------------------------
// Outbound webhooks and control API
// ------------------------------------------------------------------------------------------

impl SharedState {
    /// Send a thin `store/order/*` webhook, signed with Standard Webhooks, to the control-API
    /// target and every active hook whose scope matches.
    pub fn bigcommerce_webhook(&self, scope: &str, order_id: i64, status: Option<(i64, i64)>) {
        let mut data = json!({ "type": "order", "id": order_id });
        if let Some((old, new)) = status {
            data["status"] = json!({ "previous_status_id": old, "new_status_id": new });
        }
        self.bigcommerce_fire(scope, data);
    }

    /// A delivery to hook `hook` exhausted its retries: BigCommerce disables the hook and reports
    /// `store/hook/deliveryException` 90002 to the store's trouble hook (vendor-apis-erp-out §D).
    pub fn bigcommerce_hook_exhausted(&self, hook: i64) {
        let reported = {
            let mut st = self.bigcommerce();
            match st.hooks.get_mut(&hook) {
                Some(h) if h["is_active"].as_bool().unwrap_or(false) => {
                    h["is_active"] = json!(false);
                    h["updated_at"] = json!(Utc::now().timestamp());
                    h["scope"].as_str() != Some("store/hook/deliveryException")
                }
                _ => false,
            }
        };
        if reported {
            let data = json!({ "type": "webhook", "id": hook, "error_code": 90002,
                               "message": "Retries exhausted; the webhook has been deactivated" });
            self.bigcommerce_fire("store/hook/deliveryException", data);
        }
    }

    fn bigcommerce_fire(&self, scope: &str, data: Value) {
        let cfg = self.config();
        let created_at = Utc::now().timestamp();
        // The hash identifies the event: a redelivered copy carries the same hash.
        let mut hasher = Sha256::new();
        hasher.update(format!("{scope}|{data}|{}", uuid::Uuid::new_v4()));
        let hash: String = hasher.finalize().iter().take(20).map(|b| format!("{b:02x}")).collect();
        let body = json!({
            "scope": scope,
            "store_id": cfg.bigcommerce_store_id,
            "producer": format!("stores/{}", cfg.bigcommerce_store_hash),
            "hash": hash,
            "created_at": created_at,
            "data": data,
        });
        let extra: Vec<WebhookTarget> = self
            .bigcommerce()
            .hooks
            .iter()
            .filter(|(_, hk)| hk["is_active"].as_bool().unwrap_or(false))
            .filter(|(_, hk)| {
                let sc = hk["scope"].as_str().unwrap_or("");
                sc == scope || (sc.ends_with("/*") && scope.starts_with(sc.trim_end_matches('*')))
            })
            .filter_map(|(id, hk)| {
                let mut t = WebhookTarget::new(hk["destination"].as_str()?);
                t.bigcommerce_hook = Some(*id);
                if let Some(hs) = hk["headers"].as_object() {
                    for (k, v) in hs {
                        if let Some(v) = v.as_str() {
                            t = t.header(k, v);
                        }
                    }
                }
                Some(t)
            })
            .collect();
        let key = cfg.credentials.bigcommerce_client_secret.as_bytes().to_vec();
        self.dispatch(V, scope, body, Signing::StandardWebhooks { key }, extra);
    }

    /// A status change fires `store/order/statusUpdated` and also `store/order/updated`
    /// (BigCommerce sends both, so receivers must not double-process).
    pub fn bigcommerce_status_events(&self, order_id: i64, old: i64, new: i64) {
        self.bigcommerce_webhook("store/order/statusUpdated", order_id, Some((old, new)));
        self.bigcommerce_webhook("store/order/updated", order_id, None);
    }

    /// Create `count` orders now (Awaiting Fulfillment) and fire `store/order/created`.
    pub fn bigcommerce_create_orders(&self, count: usize, ov: &OrderOverrides) -> Vec<i64> {
        self.bigcommerce_create_orders_in(count, ov, 11)
    }

    /// Create `count` orders now in `status_id` (0: an incomplete checkout, for which BigCommerce
    /// fires `store/order/created` too) and fire `store/order/created`.
    pub fn bigcommerce_create_orders_in(&self, count: usize, ov: &OrderOverrides, status_id: i64) -> Vec<i64> {
        let seed = self.config().seed;
        let data = self.0.seed_data.clone();
        let ids: Vec<i64> = {
            let mut st = self.bigcommerce();
            (0..count.max(1))
                .map(|_| {
                    st.on_demand += 1;
                    let g = data.on_demand(seed, 0xbc, st.on_demand, Utc::now(), "BC", ov);
                    st.insert(g, status_id)
                })
                .collect()
        };
        for id in &ids {
            self.bigcommerce_webhook("store/order/created", *id, None);
        }
        ids
    }

    /// Change an order's status as the merchant would, firing `store/order/statusUpdated`.
    pub fn bigcommerce_set_status(&self, order_id: i64, status_id: i64) -> Result<(), String> {
        if !STATUSES.iter().any(|(i, _)| *i == status_id) {
            return Err(format!("unknown status_id {status_id}"));
        }
        let old = {
            let mut st = self.bigcommerce();
            let o = st.orders.get_mut(&order_id).ok_or_else(|| format!("order {order_id} not found"))?;
            let old = o.status_id;
            o.status_id = status_id;
            o.date_modified = Utc::now();
            old
        };
        if old != status_id {
            self.bigcommerce_status_events(order_id, old, status_id);
        }
        Ok(())
    }
}

pub fn control_router(state: SharedState) -> Router {
    Router::new()
        .route("/_sandbox/state", get(ctl_state))
        .route("/_sandbox/orders", get(ctl_orders).post(ctl_create))
        .route("/_sandbox/orders/{id}/status", put(ctl_status).post(ctl_status))
        .route("/_sandbox/shipments", get(ctl_shipments))
        .with_state(state)
}

async fn ctl_state(State(s): State<SharedState>) -> Json<Value> {
    let st = s.bigcommerce();
    Json(json!({
        "orders": st.orders.len(),
        "shipments": st.orders.values().map(|o| o.shipments.len()).sum::<usize>(),
        "hooks": st.hooks.len(),
        "writes": s.write_counts(V),
    }))
}

async fn ctl_orders(State(s): State<SharedState>) -> Json<Value> {
    let st = s.bigcommerce();
    Json(json!(st
        .orders
        .values()
        .map(|o| json!({ "id": o.id, "status_id": o.status_id, "status": status_name(o.status_id),
                         "total_inc_tax": m4(o.gen.grand_total()), "items_shipped": o.items_shipped() }))
        .collect::<Vec<_>>()))
}

async fn ctl_create(State(s): State<SharedState>, body: Bytes) -> Response {
    ctl_create_orders(&body, |n, ov| s.bigcommerce_create_orders(n, ov))
}

async fn ctl_status(State(s): State<SharedState>, Path(id): Path<i64>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(status) = v.get("status_id").and_then(parse_i64) else {
        return ctl_error(StatusCode::BAD_REQUEST, "status_id is required");
    };
    match s.bigcommerce_set_status(id, status) {
        Ok(()) => Json(json!({ "id": id, "status_id": status })).into_response(),
        Err(m) => ctl_error(StatusCode::NOT_FOUND, m),
    }
}

async fn ctl_shipments(State(s): State<SharedState>) -> Json<Value> {
    let st = s.bigcommerce();
    Json(json!(st.orders.values().flat_map(|o| o.shipments.clone()).collect::<Vec<_>>()))
}

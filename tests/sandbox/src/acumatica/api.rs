//! Acumatica HTTP handlers, push notifications and the Acumatica part of the control API.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    customer_json, filter, render, val, val_dec, val_str, w, AcState, OAuthToken, Session, ENDPOINT_VERSIONS,
    PAYMENT_METHODS, SHIP_VIAS,
};
use crate::core::{num, parse_decimal, qget, query_pairs, SharedState, Vendor};
use crate::faults::{no_content, vendor_error};
use crate::inspect::{ctl_body, ctl_error};
use crate::webhook::Signing;

const V: Vendor = Vendor::Acumatica;

pub(super) fn err(status: StatusCode, msg: impl AsRef<str>) -> Response {
    vendor_error(V, status, msg.as_ref())
}

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/{instance}/entity/auth/login", post(login))
        .route("/{instance}/entity/auth/logout", post(logout))
        .route("/{instance}/identity/connect/token", post(oauth_token))
        .route("/{instance}/entity", get(endpoints))
        .route("/{instance}/entity/Default/{ver}/swagger.json", get(swagger))
        .route("/{instance}/entity/Default/{ver}/{entity}", get(list_entities).put(put_entity))
        .route(
            "/{instance}/entity/Default/{ver}/{entity}/{*keys}",
            get(get_entity).delete(delete_entity).post(super::shipments::post_action),
        )
        .with_state(state)
}

fn check_instance(s: &SharedState, instance: &str) -> Result<(), Response> {
    if instance.eq_ignore_ascii_case(&s.config().acumatica_instance) {
        Ok(())
    } else {
        Err(err(StatusCode::NOT_FOUND, "The requested instance was not found."))
    }
}

fn check_version(ver: &str) -> Result<(), Response> {
    if ENDPOINT_VERSIONS.contains(&ver) {
        Ok(())
    } else {
        Err(err(StatusCode::NOT_FOUND, format!("Endpoint Default/{ver} was not found.")))
    }
}

fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// Cookie session or OAuth Bearer token; otherwise 401.
fn auth(s: &SharedState, h: &HeaderMap) -> Result<String, Response> {
    let idle = s.config().limits.acumatica_session_idle;
    let mut st = s.acumatica();
    if let Some(token) = h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return match st.tokens.get(token.trim()) {
            Some(t) if t.expires > Utc::now() => Ok(t.user.clone()),
            _ => Err(err(StatusCode::UNAUTHORIZED, "You are not logged in.")),
        };
    }
    if let Some(sid) = cookie(h, "ASP.NET_SessionId") {
        if let Some(sess) = st.sessions.get_mut(sid) {
            if sess.last_seen.elapsed() < idle {
                sess.last_seen = Instant::now();
                return Ok(sess.user.clone());
            }
            st.sessions.remove(sid);
        }
    }
    Err(err(StatusCode::UNAUTHORIZED, "You are not logged in."))
}

/// Body of login / token requests: JSON or form-encoded.
fn fields(h: &HeaderMap, body: &Bytes) -> Map<String, Value> {
    let is_json = h.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("json"));
    if is_json {
        return serde_json::from_slice::<Value>(body).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default();
    }
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect()
}

fn licence_full(s: &SharedState) -> bool {
    let (enabled, limits) = s.rate_limits();
    enabled && s.acumatica().active_api_users(limits.acumatica_session_idle) >= limits.acumatica_max_api_users
}

async fn login(State(s): State<SharedState>, Path(instance): Path<String>, h: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_instance(&s, &instance) {
        return r;
    }
    let f = fields(&h, &body);
    let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let c = &s.config().credentials;
    if get("name").is_empty() || get("password").is_empty() {
        return err(StatusCode::BAD_REQUEST, "The 'name' and 'password' fields are required.");
    }
    let tenant = get("tenant");
    if !get("name").eq_ignore_ascii_case(&c.acumatica_username)
        || get("password") != c.acumatica_password
        || (!tenant.is_empty() && !tenant.eq_ignore_ascii_case(&c.acumatica_tenant))
    {
        return err(StatusCode::UNAUTHORIZED, "Invalid credentials. Please try again.");
    }
    if licence_full(&s) {
        return err(
            StatusCode::TOO_MANY_REQUESTS,
            "API Login Limit: the maximum number of API users allowed by the license has been reached.",
        );
    }
    let sid = uuid::Uuid::new_v4().simple().to_string();
    s.acumatica().sessions.insert(sid.clone(), Session { user: get("name"), last_seen: Instant::now() });
    let mut resp = no_content();
    let hs = resp.headers_mut();
    for c in [
        format!("ASP.NET_SessionId={sid}; path=/; HttpOnly; SameSite=Lax"),
        format!(".ASPXAUTH={}; path=/; HttpOnly", uuid::Uuid::new_v4().simple()),
        "UserBranch=1; path=/".to_string(),
        "Locale=Culture=en-US&TimeZone=GMTM0500G; path=/".to_string(),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            hs.append("set-cookie", v);
        }
    }
    resp
}

async fn logout(State(s): State<SharedState>, Path(instance): Path<String>, h: HeaderMap) -> Response {
    if let Err(r) = check_instance(&s, &instance) {
        return r;
    }
    if let Some(sid) = cookie(&h, "ASP.NET_SessionId") {
        s.acumatica().sessions.remove(sid);
    }
    no_content()
}

fn oauth_err(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code }))).into_response()
}

async fn oauth_token(
    State(s): State<SharedState>,
    Path(instance): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = check_instance(&s, &instance) {
        return r;
    }
    let f = fields(&h, &body);
    let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let c = s.config().credentials.clone();
    if get("client_id") != c.acumatica_client_id || get("client_secret") != c.acumatica_client_secret {
        return oauth_err("invalid_client");
    }
    let scope = get("scope");
    let user = match get("grant_type").as_str() {
        "password" => {
            if !get("username").eq_ignore_ascii_case(&c.acumatica_username) || get("password") != c.acumatica_password {
                return oauth_err("invalid_grant");
            }
            get("username")
        }
        "refresh_token" => {
            let mut st = s.acumatica();
            match st.refresh_tokens.remove(&get("refresh_token")) {
                Some(old_access) => {
                    // The refreshed token replaces the old one: no extra API-user slot.
                    st.tokens.remove(&old_access);
                    c.acumatica_username.clone()
                }
                None => return oauth_err("invalid_grant"),
            }
        }
        "" => return oauth_err("invalid_request"),
        _ => return oauth_err("unsupported_grant_type"),
    };
    if licence_full(&s) {
        return err(
            StatusCode::TOO_MANY_REQUESTS,
            "API Login Limit: the maximum number of API users allowed by the license has been reached.",
        );
    }
    let ttl = s.config().acumatica_token_ttl;
    let access = uuid::Uuid::new_v4().simple().to_string();
    let mut st = s.acumatica();
    st.tokens.insert(
        access.clone(),
        OAuthToken { user, expires: Utc::now() + chrono::Duration::milliseconds(ttl.as_millis() as i64) },
    );
    let mut out = json!({
        "access_token": access,
        "expires_in": ttl.as_secs(),
        "token_type": "Bearer",
        "scope": if scope.is_empty() { "api".to_string() } else { scope.clone() },
    });
    if scope.split_whitespace().any(|x| x == "offline_access") || get("grant_type") == "refresh_token" {
        let refresh = uuid::Uuid::new_v4().simple().to_string();
        st.refresh_tokens.insert(refresh.clone(), access);
        out["refresh_token"] = json!(refresh);
    }
    // Every token issued holds a licence slot until it expires: tests count them per grant (a
    // sign-in, not a write of data, so not in the write log).
    *st.tokens_issued.entry(get("grant_type")).or_default() += 1;
    Json(out).into_response()
}

async fn endpoints(State(s): State<SharedState>, Path(instance): Path<String>, h: HeaderMap) -> Response {
    if let Err(r) = check_instance(&s, &instance).and_then(|_| auth(&s, &h).map(|_| ())) {
        return r;
    }
    let eps: Vec<Value> = ENDPOINT_VERSIONS
        .iter()
        .map(|v| json!({ "name": "Default", "version": v, "href": format!("/entity/Default/{v}/") }))
        .collect();
    Json(json!({ "version": { "acumaticaBuildVersion": "24.200.0000" }, "endpoints": eps })).into_response()
}

async fn swagger(
    State(s): State<SharedState>,
    Path((instance, ver)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = gate(&s, &instance, &ver, &h) {
        return r;
    }
    let instance_url =
        s.urls().map(|u| u.acumatica.clone()).unwrap_or_else(|| format!("/{}", s.config().acumatica_instance));
    Json(super::schema::swagger(&ver, &instance_url)).into_response()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Entity {
    SalesOrder,
    Customer,
    StockItem,
    Shipment,
    SalesInvoice,
}

/// Instance, endpoint version and session/token checks for `/entity/Default/{ver}/...`.
pub(super) fn gate(s: &SharedState, instance: &str, ver: &str, h: &HeaderMap) -> Result<(), Response> {
    check_instance(s, instance)?;
    check_version(ver)?;
    auth(s, h).map(|_| ())
}

/// [`gate`], then the entity name.
fn entity_gate(s: &SharedState, instance: &str, ver: &str, entity: &str, h: &HeaderMap) -> Result<Entity, Response> {
    gate(s, instance, ver, h)?;
    entity_of(entity)
}

fn entity_of(name: &str) -> Result<Entity, Response> {
    match name {
        "SalesOrder" => Ok(Entity::SalesOrder),
        "Customer" => Ok(Entity::Customer),
        "StockItem" => Ok(Entity::StockItem),
        "Shipment" => Ok(Entity::Shipment),
        "SalesInvoice" => Ok(Entity::SalesInvoice),
        other => Err(err(
            StatusCode::NOT_FOUND,
            format!(
                "The entity '{other}' is not modelled by the sandbox (SalesOrder, Customer, StockItem, Shipment, SalesInvoice are)."
            ),
        )),
    }
}

fn store(st: &AcState, e: Entity) -> &std::collections::BTreeMap<String, Value> {
    match e {
        Entity::SalesOrder => &st.sales_orders,
        Entity::Customer => &st.customers,
        Entity::StockItem => &st.stock_items,
        Entity::Shipment => &st.shipments,
        Entity::SalesInvoice => &st.invoices,
    }
}

fn store_mut(st: &mut AcState, e: Entity) -> &mut std::collections::BTreeMap<String, Value> {
    match e {
        Entity::SalesOrder => &mut st.sales_orders,
        Entity::Customer => &mut st.customers,
        Entity::StockItem => &mut st.stock_items,
        Entity::Shipment => &mut st.shipments,
        Entity::SalesInvoice => &mut st.invoices,
    }
}

pub(super) struct Shape {
    pub(super) expand: Vec<String>,
    pub(super) select: Vec<String>,
}

fn list_of(pairs: &[(String, String)], key: &str) -> Vec<String> {
    qget(pairs, key)
        .map(|v| {
            v.split(',')
                // Nested paths (`Packages/PackageContents`) are kept: `render` expands level by level.
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn shape(pairs: &[(String, String)]) -> Shape {
    Shape {
        expand: list_of(pairs, "$expand"),
        select: qget(pairs, "$select")
            .map(|v| v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
            .unwrap_or_default(),
    }
}

pub(super) fn with_links(mut e: Value, ver: &str, entity: &str) -> Value {
    if let Some(id) = e.get("id").and_then(Value::as_str).map(str::to_string) {
        e["_links"] = json!({
            "self": format!("/entity/Default/{ver}/{entity}/{id}"),
            "files:put": format!("/entity/Default/{ver}/files/PX.Objects.SO.SOOrderEntry/Document/{id}/{{filename}}"),
        });
    }
    e
}

async fn list_entities(
    State(s): State<SharedState>,
    Path((instance, ver, entity)): Path<(String, String, String)>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    let e = match entity_gate(&s, &instance, &ver, &entity, &h) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let pairs = query_pairs(uri.query());
    let sh = shape(&pairs);
    let filter = match qget(&pairs, "$filter").filter(|f| !f.trim().is_empty()) {
        Some(f) => match filter::parse(f) {
            Ok(x) => Some(x),
            Err(m) => return err(StatusCode::BAD_REQUEST, format!("Invalid $filter: {m}")),
        },
        None => None,
    };
    let parse_n = |k: &str| -> Result<Option<usize>, Response> {
        match qget(&pairs, k) {
            None => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| err(StatusCode::BAD_REQUEST, format!("{k} must be a non-negative integer."))),
        }
    };
    let (top, skip) = match (parse_n("$top"), parse_n("$skip")) {
        (Ok(t), Ok(s)) => (t, s.unwrap_or(0)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let st = s.acumatica();
    let mut out = Vec::new();
    // Records are stored by key, so iteration is in key order: $skip paging is stable.
    for rec in store(&st, e).values() {
        if let Some(f) = &filter {
            match filter::eval(f, rec) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(m) => return err(StatusCode::BAD_REQUEST, m),
            }
        }
        out.push(rec);
    }
    let page: Vec<Value> = out
        .into_iter()
        .skip(skip)
        .take(top.unwrap_or(usize::MAX))
        .map(|r| with_links(render(r, &sh.expand, &sh.select), &ver, &entity))
        .collect();
    Json(Value::Array(page)).into_response()
}

pub(super) fn find_key(st: &AcState, e: Entity, keys: &str) -> Option<String> {
    let map = store(st, e);
    let keys = keys.trim_matches('/');
    if map.contains_key(keys) {
        return Some(keys.to_string());
    }
    map.iter()
        .find(|(_, v)| v.get("id").and_then(Value::as_str).is_some_and(|id| id.eq_ignore_ascii_case(keys)))
        .map(|(k, _)| k.clone())
}

async fn get_entity(
    State(s): State<SharedState>,
    Path((instance, ver, entity, keys)): Path<(String, String, String, String)>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    let e = match entity_gate(&s, &instance, &ver, &entity, &h) {
        Ok(e) => e,
        Err(r) => return r,
    };
    if let Some(op) = super::shipments::operation_id(&keys) {
        return super::shipments::poll_operation(&s, op);
    }
    let sh = shape(&query_pairs(uri.query()));
    let st = s.acumatica();
    match find_key(&st, e, &keys) {
        Some(k) => Json(with_links(render(&store(&st, e)[&k], &sh.expand, &sh.select), &ver, &entity)).into_response(),
        None => err(StatusCode::NOT_FOUND, "No entity satisfies the condition."),
    }
}

async fn delete_entity(
    State(s): State<SharedState>,
    Path((instance, ver, entity, keys)): Path<(String, String, String, String)>,
    h: HeaderMap,
) -> Response {
    let e = match entity_gate(&s, &instance, &ver, &entity, &h) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut st = s.acumatica();
    match find_key(&st, e, &keys) {
        Some(k) => {
            store_mut(&mut st, e).remove(&k);
            no_content()
        }
        None => err(StatusCode::NOT_FOUND, "No entity satisfies the condition."),
    }
}

/// Merge a PUT body into a stored record: wrapped fields replace, linked objects merge field by
/// field, detail rows with `id` update (or `delete`), rows without `id` are added.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) else {
        return;
    };
    for (k, v) in p {
        if matches!(k.as_str(), "rowNumber" | "error" | "_links" | "delete" | "files") {
            continue;
        }
        if k == "id" {
            t.entry("id").or_insert(v.clone());
            continue;
        }
        match v {
            Value::Array(rows) => {
                let existing = t.entry(k.clone()).or_insert(json!([]));
                if !existing.is_array() {
                    *existing = json!([]);
                }
                if let Some(list) = existing.as_array_mut() {
                    merge_rows(list, rows);
                }
            }
            Value::Object(o) if o.contains_key("value") => {
                t.insert(k.clone(), json!({ "value": o.get("value").cloned().unwrap_or(Value::Null) }));
            }
            Value::Object(_) => {
                let existing = t.entry(k.clone()).or_insert(json!({}));
                if !existing.is_object() {
                    *existing = json!({});
                }
                merge(existing, v);
            }
            scalar => {
                // A bare scalar where a wrapper is expected (e.g. "note": "x"): wrap it.
                t.insert(k.clone(), json!({ "value": scalar }));
            }
        }
    }
}

fn merge_rows(list: &mut Vec<Value>, rows: &[Value]) {
    for row in rows {
        let id = row.get("id").and_then(Value::as_str);
        let delete = row.get("delete").and_then(Value::as_bool).unwrap_or(false);
        match id.and_then(|id| list.iter().position(|r| r.get("id").and_then(Value::as_str) == Some(id))) {
            Some(i) if delete => {
                list.remove(i);
            }
            Some(i) => merge(&mut list[i], row),
            None if delete => {}
            None => {
                let mut r = json!({ "id": uuid::Uuid::new_v4().to_string() });
                merge(&mut r, row);
                if let Some(o) = r.as_object_mut() {
                    o.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
                }
                list.push(r);
            }
        }
    }
}

/// Put `error` on a (possibly nested) field of `body`.
pub(super) fn annotate(body: &mut Value, path: &[&str], msg: &str) {
    let mut cur = body;
    for (i, seg) in path.iter().enumerate() {
        let last = i == path.len() - 1;
        if let Ok(idx) = seg.parse::<usize>() {
            match cur.get_mut(idx) {
                Some(n) => cur = n,
                None => return,
            }
            continue;
        }
        let Some(obj) = cur.as_object_mut() else { return };
        let node = obj.entry(seg.to_string()).or_insert(json!({}));
        if last {
            if let Some(o) = node.as_object_mut() {
                o.insert("error".into(), json!(msg));
            } else {
                *node = json!({ "value": node.clone(), "error": msg });
            }
            return;
        }
        cur = node;
    }
}

pub(super) type FieldErrors = Vec<(Vec<String>, String)>;

pub(super) fn validate_sales_order(st: &AcState, e: &Value, inserting: bool) -> FieldErrors {
    let mut errs: FieldErrors = Vec::new();
    let mut push = |p: &[&str], m: String| errs.push((p.iter().map(|x| x.to_string()).collect(), m));
    match val_str(e, "CustomerID") {
        None if inserting => push(&["CustomerID"], "'Customer' cannot be empty.".into()),
        Some(c) if !st.customers.contains_key(&c) => {
            push(&["CustomerID"], format!("Customer '{c}' cannot be found in the system."))
        }
        _ => {}
    }
    let ship_via_ok = |x: &str| SHIP_VIAS.iter().any(|v| v.eq_ignore_ascii_case(x));
    if let Some(sv) = val_str(e, "ShipVia").filter(|x| !ship_via_ok(x)) {
        push(&["ShipVia"], format!("Ship Via '{sv}' cannot be found in the system."));
    }
    if let Some(sv) = e.get("ShippingSettings").and_then(|x| val_str(x, "ShipVia")).filter(|x| !ship_via_ok(x)) {
        push(&["ShippingSettings", "ShipVia"], format!("Ship Via '{sv}' cannot be found in the system."));
    }
    let pm_ok = |x: &str| PAYMENT_METHODS.iter().any(|v| v.eq_ignore_ascii_case(x));
    if let Some(pm) = val_str(e, "PaymentMethod").filter(|x| !pm_ok(x)) {
        push(&["PaymentMethod"], format!("Payment Method '{pm}' cannot be found in the system."));
    }
    if let Some(d) = val_str(e, "Date") {
        if filter::parse_dt(&d).is_none() {
            push(&["Date"], format!("'{d}' is not a valid date."));
        }
    }
    for (i, p) in e.get("Payments").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(pm) = val_str(p, "PaymentMethod").filter(|x| !pm_ok(x)) {
            let idx = i.to_string();
            push(&["Payments", &idx, "PaymentMethod"], format!("Payment Method '{pm}' cannot be found in the system."));
        }
    }
    // Bound the other amounts that feed the totals, so decimal arithmetic cannot overflow.
    let limit = Decimal::from(1_000_000_000_000i64);
    for (coll, f) in [("TaxDetails", "TaxAmount"), ("DiscountDetails", "DiscountAmount")] {
        for (i, r) in e.get(coll).and_then(Value::as_array).into_iter().flatten().enumerate() {
            if let Some(v) = val(r, f) {
                if parse_decimal(v).is_none_or(|x| x.abs() > limit) {
                    let idx = i.to_string();
                    push(&[coll, &idx, f], format!("'{v}' is not a valid value for '{f}'."));
                }
            }
        }
    }
    for (path, v) in [
        (vec!["FreightPrice"], val(e, "FreightPrice")),
        (vec!["ShippingSettings", "FreightPrice"], e.get("ShippingSettings").and_then(|x| val(x, "FreightPrice"))),
    ] {
        if let Some(v) = v {
            if parse_decimal(v).is_none_or(|x| x.abs() > limit) {
                push(&path, format!("'{v}' is not a valid value for 'FreightPrice'."));
            }
        }
    }
    for (i, d) in e.get("Details").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let idx = i.to_string();
        match val_str(d, "InventoryID") {
            None => push(&["Details", &idx, "InventoryID"], "'Inventory ID' cannot be empty.".into()),
            Some(inv) if !st.stock_items.contains_key(&inv) => {
                push(&["Details", &idx, "InventoryID"], format!("Inventory ID '{inv}' cannot be found in the system."))
            }
            _ => {}
        }
        for f in ["OrderQty", "UnitPrice", "DiscountAmount", "DiscountPercent"] {
            if let Some(v) = val(d, f) {
                match parse_decimal(v) {
                    Some(x) if x.abs() > Decimal::from(1_000_000_000_000i64) => {
                        push(&["Details", &idx, f], format!("'{f}' is out of range."))
                    }
                    Some(x) if f == "OrderQty" && x < Decimal::ZERO => {
                        push(&["Details", &idx, f], format!("'{f}' cannot be negative."))
                    }
                    Some(_) => {}
                    None => push(&["Details", &idx, f], format!("'{v}' is not a valid value for '{f}'.")),
                }
            }
        }
    }
    errs
}

pub(super) fn money(d: Decimal) -> Value {
    w(num(d.round_dp(2)))
}

/// Fill computed fields: line numbers, amounts, open quantities and order totals.
pub(super) fn compute_sales_order(st: &AcState, e: &mut Value) {
    let mut line_total = Decimal::ZERO;
    let mut qty_total = Decimal::ZERO;
    let mut line_discounts = Decimal::ZERO;
    if let Some(rows) = e.get_mut("Details").and_then(Value::as_array_mut) {
        let mut max_line = rows.iter().filter_map(|r| val_dec(r, "LineNbr")).max().unwrap_or(Decimal::ZERO);
        for (i, r) in rows.iter_mut().enumerate() {
            r["rowNumber"] = json!(i + 1);
            if val(r, "LineNbr").is_none() {
                max_line += Decimal::ONE;
                r["LineNbr"] = w(num(max_line));
            }
            if val(r, "UOM").is_none() {
                r["UOM"] = w("EA");
            }
            if val(r, "WarehouseID").is_none() {
                r["WarehouseID"] = w("MAIN");
            }
            let inv = val_str(r, "InventoryID").unwrap_or_default();
            let qty = val_dec(r, "OrderQty").unwrap_or(Decimal::ZERO);
            let price = val_dec(r, "UnitPrice")
                .or_else(|| st.stock_items.get(&inv).and_then(|s| val_dec(s, "DefaultPrice")))
                .unwrap_or(Decimal::ZERO);
            let ext = (qty * price).round_dp(2);
            let discount = val_dec(r, "DiscountAmount").unwrap_or_else(|| {
                val_dec(r, "DiscountPercent")
                    .map(|p| (ext * p / Decimal::ONE_HUNDRED).round_dp(2))
                    .unwrap_or(Decimal::ZERO)
            });
            let shipped = val_dec(r, "QtyOnShipments").unwrap_or(Decimal::ZERO);
            r["UnitPrice"] = w(num(price));
            r["ExtendedPrice"] = money(ext);
            r["DiscountAmount"] = money(discount);
            r["Amount"] = money(ext - discount);
            r["OpenQty"] = w(num(qty - shipped));
            r["QtyOnShipments"] = w(num(shipped));
            r["Completed"] = w(qty > Decimal::ZERO && shipped >= qty);
            if val(r, "LineDescription").is_none() {
                if let Some(d) = st.stock_items.get(&inv).and_then(|s| val_str(s, "Description")) {
                    r["LineDescription"] = w(d);
                }
            }
            line_total += ext - discount;
            line_discounts += discount;
            qty_total += qty;
        }
    }
    let tax: Decimal = e
        .get("TaxDetails")
        .and_then(Value::as_array)
        .map(|rows| rows.iter().filter_map(|r| val_dec(r, "TaxAmount")).sum())
        .unwrap_or(Decimal::ZERO);
    let freight = e
        .get("ShippingSettings")
        .and_then(|s| val_dec(s, "FreightPrice"))
        .or_else(|| val_dec(e, "FreightPrice"))
        .or_else(|| e.get("Totals").and_then(|t| val_dec(t, "Freight")))
        .unwrap_or(Decimal::ZERO);
    let doc_discount: Decimal = e
        .get("DiscountDetails")
        .and_then(Value::as_array)
        .map(|rows| rows.iter().filter_map(|r| val_dec(r, "DiscountAmount")).sum())
        .unwrap_or(Decimal::ZERO);
    let total = line_total + freight + tax - doc_discount;
    // Payments applied to the order (a row sent without `AppliedToOrder` applies its amount).
    let paid: Decimal = e
        .get("Payments")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|r| val_dec(r, "AppliedToOrder").or_else(|| val_dec(r, "PaymentAmount")))
                .filter(|x| *x > Decimal::ZERO)
                .sum()
        })
        .unwrap_or(Decimal::ZERO);
    // What released invoices already bill of this order.
    let (order_type, order_nbr) = (val_str(e, "OrderType"), val_str(e, "OrderNbr"));
    let (mut billed_amount, mut billed_qty) = (Decimal::ZERO, Decimal::ZERO);
    if order_nbr.is_some() {
        for inv in st.invoices.values() {
            let rows = inv.get("Details").and_then(Value::as_array).into_iter().flatten();
            let ours: Vec<&Value> =
                rows.filter(|d| val_str(d, "OrderNbr") == order_nbr && val_str(d, "OrderType") == order_type).collect();
            if !ours.is_empty() {
                billed_amount += val_dec(inv, "Amount").unwrap_or(Decimal::ZERO);
                billed_qty += ours.iter().filter_map(|d| val_dec(d, "Qty")).sum::<Decimal>();
            }
        }
    }
    e["OrderedQty"] = w(num(qty_total));
    e["TaxTotal"] = money(tax);
    e["OrderTotal"] = money(total);
    let totals = json!({
        "LineTotalAmount": money(line_total), "Freight": money(freight),
        "DiscountTotal": money(line_discounts + doc_discount), "TaxTotal": money(tax),
        "UnpaidBalance": money((total - paid).max(Decimal::ZERO)),
        "UnbilledAmount": money((total - billed_amount).max(Decimal::ZERO)),
        "UnbilledQty": w(num((qty_total - billed_qty).max(Decimal::ZERO))),
    });
    e["Totals"] = totals;
}

pub(super) fn is_star(h: &HeaderMap, name: &str) -> bool {
    h.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "*")
}

async fn put_entity(
    State(s): State<SharedState>,
    Path((instance, ver, entity)): Path<(String, String, String)>,
    h: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let inquiry = matches!(entity.as_str(), "InventoryQuantityAvailable" | "InventorySummaryInquiry");
    let e = match if inquiry {
        gate(&s, &instance, &ver, &h).map(|()| Entity::StockItem)
    } else {
        entity_gate(&s, &instance, &ver, &entity, &h)
    } {
        Ok(e) => e,
        Err(r) => return r,
    };
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return err(StatusCode::BAD_REQUEST, "The request body must be a JSON object."),
        Err(x) => return err(StatusCode::BAD_REQUEST, format!("The request body is not valid JSON: {x}")),
    };
    let sh = shape(&query_pairs(uri.query()));
    if inquiry {
        return super::stock::put_inquiry(&s, &entity, &body, &sh);
    }
    match e {
        Entity::SalesOrder => put_sales_order(&s, &h, body, &sh, &ver),
        Entity::Customer => put_customer(&s, &h, body, &sh, &ver),
        Entity::Shipment => super::shipments::put_shipment(&s, &h, body, &sh, &ver),
        _ => err(StatusCode::BAD_REQUEST, format!("The sandbox does not model writes to '{entity}'.")),
    }
}

fn put_sales_order(s: &SharedState, h: &HeaderMap, body: Value, sh: &Shape, ver: &str) -> Response {
    let mut st = s.acumatica();
    let order_type = val_str(&body, "OrderType").unwrap_or_else(|| "SO".into());
    let key = if let Some(id) = body.get("id").and_then(Value::as_str) {
        find_key(&st, Entity::SalesOrder, id)
    } else {
        val_str(&body, "OrderNbr").map(|n| format!("{order_type}/{n}")).filter(|k| st.sales_orders.contains_key(k))
    };
    if key.is_some() && is_star(h, "if-none-match") {
        return err(StatusCode::PRECONDITION_FAILED, "The record already exists (If-None-Match: *).");
    }
    if key.is_none() && is_star(h, "if-match") {
        return err(StatusCode::PRECONDITION_FAILED, "The record does not exist (If-Match: *).");
    }
    let inserting = key.is_none();
    let before = key.as_ref().and_then(|k| st.sales_orders.get(k).cloned());
    let mut rec = before.clone().unwrap_or_else(|| json!({}));
    merge(&mut rec, &body);
    let errs = validate_sales_order(&st, &rec, inserting);
    if !errs.is_empty() {
        let mut echoed = body.clone();
        let mut summary = Vec::new();
        for (path, msg) in &errs {
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            annotate(&mut echoed, &p, msg);
            summary.push(format!("{}: {msg}", path.last().map(String::as_str).unwrap_or("")));
        }
        echoed["error"] = json!(format!(
            "{} 'Sales Order' record raised at least one error. Please review the errors.\n{}",
            if inserting { "Inserting" } else { "Updating" },
            summary.join("\n")
        ));
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(echoed)).into_response();
    }
    let now = st.now();
    if inserting {
        // No key in the body: auto-numbering inserts a new order, so a retried insert duplicates.
        let nbr = st.next_order_nbr();
        rec["id"] = json!(uuid::Uuid::new_v4().to_string());
        rec["OrderType"] = w(order_type.clone());
        rec["OrderNbr"] = w(nbr);
        if val(&rec, "Date").is_none() {
            rec["Date"] = w(st.today());
        }
        rec["CreatedDate"] = w(now.clone());
        if val(&rec, "CurrencyID").is_none() {
            rec["CurrencyID"] = w("USD");
        }
        if rec.get("Shipments").is_none() {
            rec["Shipments"] = json!([]);
        }
    }
    rec["rowNumber"] = json!(1);
    let hold = val(&rec, "Hold").and_then(Value::as_bool).unwrap_or(false);
    let old_status = before.as_ref().and_then(|b| val_str(b, "Status"));
    let status = match (&old_status, hold) {
        (_, true) => "On Hold".to_string(),
        (Some(s), false) if s != "On Hold" => s.clone(),
        _ => "Open".to_string(),
    };
    rec["Status"] = w(status.clone());
    rec["LastModified"] = w(now);
    compute_sales_order(&st, &mut rec);
    let nbr = val_str(&rec, "OrderNbr").unwrap_or_default();
    let k = format!("{order_type}/{nbr}");
    if inserting {
        st.commercial_transactions += 1;
    }
    st.sales_orders.insert(k, rec.clone());
    drop(st);
    for f in ["CustomerOrder", "ExternalRef"] {
        if let Some(r) = val_str(&body, f) {
            s.record_write(V, &format!("sales_order.{f}"), &r, json!({ "OrderNbr": nbr, "insert": inserting }));
        }
    }
    s.record_write(V, if inserting { "sales_order.insert" } else { "sales_order.update" }, &nbr, json!({}));
    if old_status.is_some_and(|o| o != status) {
        s.acumatica_push_order(&rec, old_status_of(&before));
    }
    Json(with_links(render(&rec, &sh.expand, &sh.select), ver, "SalesOrder")).into_response()
}

fn old_status_of(before: &Option<Value>) -> Option<String> {
    before.as_ref().and_then(|b| val_str(b, "Status"))
}

fn put_customer(s: &SharedState, h: &HeaderMap, body: Value, sh: &Shape, ver: &str) -> Response {
    let mut st = s.acumatica();
    let key = if let Some(id) = body.get("id").and_then(Value::as_str) {
        find_key(&st, Entity::Customer, id)
    } else {
        val_str(&body, "CustomerID").filter(|k| st.customers.contains_key(k))
    };
    if key.is_some() && is_star(h, "if-none-match") {
        return err(StatusCode::PRECONDITION_FAILED, "The record already exists (If-None-Match: *).");
    }
    if key.is_none() && is_star(h, "if-match") {
        return err(StatusCode::PRECONDITION_FAILED, "The record does not exist (If-Match: *).");
    }
    let inserting = key.is_none();
    if inserting && val_str(&body, "CustomerName").is_none() {
        let mut echoed = body.clone();
        annotate(&mut echoed, &["CustomerName"], "'Customer Name' cannot be empty.");
        echoed["error"] = json!("Inserting 'Customer' record raised at least one error. Please review the errors.");
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(echoed)).into_response();
    }
    let now = st.now();
    let mut rec = match &key {
        Some(k) => st.customers[k].clone(),
        None => {
            let id = val_str(&body, "CustomerID").unwrap_or_else(|| st.next_customer_id());
            let mut c = customer_json(&id, "", "", &now);
            if let Some(o) = c.as_object_mut() {
                o.remove("MainContact");
                o.remove("Email");
            }
            c
        }
    };
    merge(&mut rec, &body);
    // `Email` and `MainContact.Email` are the same field (the main contact's e-mail).
    if let Some(e) = body.get("MainContact").and_then(|c| val_str(c, "Email")) {
        rec["Email"] = w(e);
    } else if let Some(e) = val_str(&body, "Email") {
        rec["MainContact"]["Email"] = w(e);
    }
    rec["LastModifiedDateTime"] = w(now);
    let id = val_str(&rec, "CustomerID").unwrap_or_default();
    if !inserting {
        *st.customer_updates.entry(id.clone()).or_insert(0) += 1;
    }
    let email = rec.get("MainContact").and_then(|c| val_str(c, "Email")).or_else(|| val_str(&rec, "Email"));
    st.customers.insert(id.clone(), rec.clone());
    drop(st);
    s.record_write(V, if inserting { "customer.insert" } else { "customer.update" }, &id, json!({}));
    if let Some(e) = email {
        s.record_write(V, "customer.email", &e.to_ascii_lowercase(), json!({ "CustomerID": id }));
    }
    Json(with_links(render(&rec, &sh.expand, &sh.select), ver, "Customer")).into_response()
}

// ------------------------------------------------------------------------------------------
// Push notifications
// ------------------------------------------------------------------------------------------

/// One row of the order push query.
fn order_push_row(so: &Value, status: &str) -> Value {
    json!({
        "OrderType": val_str(so, "OrderType"), "OrderNbr": val_str(so, "OrderNbr"),
        "Status": status, "CustomerID": val_str(so, "CustomerID"),
        "CustomerOrder": val_str(so, "CustomerOrder"), "ExternalRef": val_str(so, "ExternalRef"),
        "LastModified": val_str(so, "LastModified").map(|d| d.chars().take(19).collect::<String>()),
    })
}

/// .NET ticks, the unit of the push `TimeStamp` (monotonic within the sandbox).
fn ticks() -> i64 {
    Utc::now().timestamp_micros() * 10 + 621_355_968_000_000_000
}

impl SharedState {
    pub(crate) fn acumatica_push(&self, query: &str, inserted: Vec<Value>, deleted: Vec<Value>) {
        let ts = {
            let mut st = self.acumatica();
            st.push_seq = st.push_seq.max(ticks() - 1) + 1;
            st.push_seq
        };
        let body = json!({
            "Inserted": inserted,
            "Deleted": deleted,
            "Query": query,
            "CompanyId": self.config().credentials.acumatica_tenant,
            "Id": uuid::Uuid::new_v4().to_string(),
            "TimeStamp": ts,
            "AdditionalInfo": {},
        });
        self.dispatch(V, query, body, Signing::None, Vec::new());
    }

    pub(super) fn acumatica_push_order(&self, so: &Value, old_status: Option<String>) {
        let new_status = val_str(so, "Status").unwrap_or_default();
        let deleted = old_status.map(|o| vec![order_push_row(so, &o)]).unwrap_or_default();
        let q = self.config().acumatica_order_query.clone();
        self.acumatica_push(&q, vec![order_push_row(so, &new_status)], deleted);
    }

    /// An order row changed (status, payment, invoice): the old row in `Deleted`, the new one in
    /// `Inserted`, as a generic inquiry reports a changed row.
    pub(super) fn acumatica_push_order_change(&self, before: &Value, after: &Value) {
        let old = order_push_row(before, &val_str(before, "Status").unwrap_or_default());
        let new = order_push_row(after, &val_str(after, "Status").unwrap_or_default());
        let q = self.config().acumatica_order_query.clone();
        self.acumatica_push(&q, vec![new], vec![old]);
    }

    /// Change a sales order's status (as an ERP user would) and push the change. `Canceled` is
    /// refused for an order with shipments (Acumatica: cancel or correct the shipments first);
    /// it zeroes the open quantities.
    pub fn acumatica_set_order_status(&self, order_nbr: &str, status: &str) -> Result<Value, String> {
        let (rec, old) = {
            let mut st = self.acumatica();
            let now = st.now();
            let key = st
                .sales_orders
                .iter()
                .find(|(_, o)| val_str(o, "OrderNbr").as_deref() == Some(order_nbr))
                .map(|(k, _)| k.clone())
                .ok_or_else(|| format!("sales order {order_nbr} not found"))?;
            let so = st.sales_orders.get_mut(&key).ok_or("vanished")?;
            let old = val_str(so, "Status");
            if status.eq_ignore_ascii_case("Canceled") || status.eq_ignore_ascii_case("Cancelled") {
                let shipped = so.get("Shipments").and_then(Value::as_array).is_some_and(|l| !l.is_empty());
                if shipped {
                    return Err(format!(
                        "The {order_nbr} sales order cannot be canceled because it has shipments. \
                         Cancel or correct the shipments first."
                    ));
                }
                if let Some(rows) = so.get_mut("Details").and_then(Value::as_array_mut) {
                    for r in rows {
                        r["OpenQty"] = w(0);
                    }
                }
                so["Status"] = w("Canceled");
                so["Hold"] = w(false);
            } else {
                so["Status"] = w(status);
            }
            so["LastModified"] = w(now);
            (so.clone(), old)
        };
        self.acumatica_push_order(&rec, old);
        Ok(rec)
    }

    /// Write a sales order's note (as an ERP user would, e.g. after a customer's call). Only
    /// `LastModified` moves: the push notifications' inquiries carry no note, so Orderbridge learns
    /// of it from its catch-up poll, as it would in Acumatica.
    pub fn acumatica_set_order_note(&self, order_nbr: &str, note: &str) -> Result<(), String> {
        let mut st = self.acumatica();
        let now = st.now();
        let so = st
            .sales_orders
            .values_mut()
            .find(|o| val_str(o, "OrderNbr").as_deref() == Some(order_nbr))
            .ok_or_else(|| format!("sales order {order_nbr} not found"))?;
        so["note"] = w(note);
        so["LastModified"] = w(now);
        Ok(())
    }

    /// Confirm a shipment for a sales order (all open quantities, or the given lines), with
    /// packages carrying tracking numbers. Updates the order and sends push notifications.
    pub fn acumatica_confirm_shipment(&self, req: &ConfirmShipment) -> Result<Value, String> {
        let (shipment, so, old_status) = {
            let mut st = self.acumatica();
            let key = format!("{}/{}", req.order_type, req.order_nbr);
            let so = st.sales_orders.get(&key).cloned().ok_or_else(|| format!("sales order {key} not found"))?;
            let old_status = val_str(&so, "Status");
            let rows = so.get("Details").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut to_ship: Vec<(usize, Decimal)> = Vec::new();
            for (i, r) in rows.iter().enumerate() {
                let open = val_dec(r, "OpenQty").unwrap_or(Decimal::ZERO);
                let line = val_dec(r, "LineNbr").unwrap_or(Decimal::ZERO);
                let q = match &req.lines {
                    None => open,
                    Some(ls) => {
                        ls.iter().find(|l| Decimal::from(l.line_nbr) == line).map(|l| l.qty).unwrap_or(Decimal::ZERO)
                    }
                };
                if q > open {
                    return Err(format!("line {line}: quantity {q} exceeds open quantity {open}"));
                }
                if q > Decimal::ZERO {
                    to_ship.push((i, q));
                }
            }
            if let Some(ls) = &req.lines {
                for l in ls {
                    if !rows.iter().any(|r| val_dec(r, "LineNbr") == Some(Decimal::from(l.line_nbr))) {
                        return Err(format!("line {} does not exist on {key}", l.line_nbr));
                    }
                }
            }
            if to_ship.is_empty() {
                return Err(format!("nothing left to ship on {key}"));
            }
            let ship_via =
                req.ship_via.clone().or_else(|| val_str(&so, "ShipVia")).unwrap_or_else(|| "UPSGROUND".into());
            let shipped_total: Decimal = to_ship.iter().map(|(_, q)| *q).sum();
            let details: Vec<Value> = to_ship
                .iter()
                .enumerate()
                .map(|(n, (i, q))| {
                    let r = &rows[*i];
                    json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": n + 1,
                        "LineNbr": w(n + 1), "InventoryID": w(val_str(r, "InventoryID")),
                        "ShippedQty": w(num(*q)), "OrderType": w(req.order_type.clone()),
                        "OrderNbr": w(req.order_nbr.clone()),
                        "OrderLineNbr": w(val(r, "LineNbr").cloned().unwrap_or(Value::Null)),
                        "WarehouseID": w("MAIN"), "UOM": w("EA"),
                    })
                })
                .collect();
            let pkgs = if req.packages.is_empty() { vec![ShipPackage::default()] } else { req.packages.clone() };
            // Order line number → (shipment detail line, InventoryID, quantity shipped).
            let shipped: Vec<(i64, usize, String, Decimal)> = to_ship
                .iter()
                .enumerate()
                .map(|(n, (i, q))| {
                    let r = &rows[*i];
                    let line = val_dec(r, "LineNbr").and_then(|d| i64::try_from(d).ok()).unwrap_or_default();
                    (line, n + 1, val_str(r, "InventoryID").unwrap_or_default(), *q)
                })
                .collect();
            let mut packed: BTreeMap<i64, Decimal> = BTreeMap::new();
            let mut contents_of: Vec<Vec<Value>> = Vec::new();
            for (n, p) in pkgs.iter().enumerate() {
                let lines: Vec<ShipLine> = match &p.contents {
                    Some(lines) => lines.clone(),
                    None if pkgs.len() == 1 => {
                        shipped.iter().map(|(line, _, _, q)| ShipLine { line_nbr: *line, qty: *q }).collect()
                    }
                    None => Vec::new(),
                };
                let mut rows_out = Vec::new();
                for (k, l) in lines.iter().enumerate() {
                    let Some((_, split, inventory, qty)) = shipped.iter().find(|(line, ..)| *line == l.line_nbr) else {
                        return Err(format!("package {}: line {} is not on this shipment", n + 1, l.line_nbr));
                    };
                    if l.qty <= Decimal::ZERO {
                        return Err(format!(
                            "package {}: line {} quantity {} must be positive",
                            n + 1,
                            l.line_nbr,
                            l.qty
                        ));
                    }
                    let total = packed.entry(l.line_nbr).or_default();
                    *total += l.qty;
                    if *total > *qty {
                        return Err(format!(
                            "package {}: line {} packs {total} in all but the shipment ships {qty} of it",
                            n + 1,
                            l.line_nbr,
                        ));
                    }
                    rows_out.push(json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": k + 1,
                        "InventoryID": w(inventory.clone()), "Quantity": w(num(l.qty)), "UOM": w("EA"),
                        "ShipmentSplitLineNbr": w(*split), "LotSerialNbr": w(""), "Subitem": w(""),
                    }));
                }
                contents_of.push(rows_out);
            }
            // Numbered only once the request is known to be valid: a refused one leaves no gap.
            let nbr = st.next_shipment_nbr();
            let now = st.now();
            let today = st.today();
            let packages: Vec<Value> = pkgs
                .iter()
                .enumerate()
                .map(|(n, p)| {
                    json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": n + 1,
                        "LineNbr": w(n + 1), "BoxID": w(p.box_id.clone().unwrap_or_else(|| "LARGE".into())),
                        "Type": w("Manual"),
                        "TrackingNbr": w(p.tracking_nbr.clone().unwrap_or_else(|| format!("1ZAC{nbr}{:02}", n + 1))),
                        "Weight": w(num(p.weight.unwrap_or(Decimal::new(25, 1)))), "UOM": w("LB"),
                        "DeclaredValue": w(0), "CODAmount": w(0), "Confirmed": w(true),
                        "Description": w(format!("Package {}", n + 1)),
                        "CustomRefNbr1": w(""), "CustomRefNbr2": w(""),
                        "PackageContents": contents_of[n],
                    })
                })
                .collect();
            let shipment = json!({
                "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1, "note": w(""),
                "ShipmentNbr": w(nbr.clone()), "Type": w("Shipment"), "Status": w("Confirmed"),
                "Operation": w("Issue"), "CustomerID": w(val_str(&so, "CustomerID")),
                "LocationID": w("MAIN"), "ShipmentDate": w(today), "ShipVia": w(ship_via),
                "WarehouseID": w("MAIN"), "Hold": w(false), "PackageCount": w(packages.len()),
                "ShippedQty": w(num(shipped_total)), "ShippedWeight": w(0),
                "FreightCost": w(0), "FreightPrice": w(0), "LastModifiedDateTime": w(now.clone()),
                "Orders": [{
                    "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1,
                    "OrderType": w(req.order_type.clone()), "OrderNbr": w(req.order_nbr.clone()),
                    "ShipmentNbr": w(nbr.clone()), "ShipmentType": w("Shipment"),
                    "ShippedQty": w(num(shipped_total)), "InvoiceType": w(""), "InvoiceNbr": w(""),
                }],
                "Details": details,
                "Packages": packages,
            });
            // Update the order: quantities on shipments, open quantities, status.
            let so_mut = st.sales_orders.get_mut(&key).ok_or("vanished")?;
            if let Some(rows) = so_mut.get_mut("Details").and_then(Value::as_array_mut) {
                for (i, q) in &to_ship {
                    let r = &mut rows[*i];
                    let shipped = val_dec(r, "QtyOnShipments").unwrap_or(Decimal::ZERO) + q;
                    let qty = val_dec(r, "OrderQty").unwrap_or(Decimal::ZERO);
                    r["QtyOnShipments"] = w(num(shipped));
                    r["OpenQty"] = w(num(qty - shipped));
                    r["Completed"] = w(shipped >= qty);
                }
            }
            let all_done = so_mut.get("Details").and_then(Value::as_array).is_some_and(|rows| {
                rows.iter().all(|r| val_dec(r, "OpenQty").unwrap_or(Decimal::ZERO) <= Decimal::ZERO)
            });
            so_mut["Status"] = w(if all_done { "Completed" } else { "Back Order" });
            so_mut["LastModified"] = w(now);
            let entry = json!({
                "id": uuid::Uuid::new_v4().to_string(), "ShipmentNbr": w(nbr.clone()),
                "ShipmentType": w("Shipment"), "Status": w("Confirmed"),
                "ShippedQty": w(num(shipped_total)), "ShipmentDate": shipment["ShipmentDate"].clone(),
                "InvoiceType": w(""), "InvoiceNbr": w(""),
            });
            match so_mut.get_mut("Shipments").and_then(Value::as_array_mut) {
                Some(list) => list.push(entry),
                None => so_mut["Shipments"] = json!([entry]),
            }
            let so_after = so_mut.clone();
            st.shipments.insert(nbr, shipment.clone());
            st.commercial_transactions += 1;
            (shipment, so_after, old_status)
        };
        let nbr = val_str(&shipment, "ShipmentNbr").unwrap_or_default();
        self.record_write(V, "shipment.confirmed", &nbr, json!({ "OrderNbr": req.order_nbr }));
        // Created and confirmed in one step: its rows enter the query (nothing in `Deleted`).
        let rows = super::shipments::push_rows(&shipment, Some(&so), "Confirmed");
        let q = self.config().acumatica_shipment_query.clone();
        self.acumatica_push(&q, rows, Vec::new());
        if old_status != val_str(&so, "Status") {
            self.acumatica_push_order(&so, old_status);
        }
        Ok(shipment)
    }
}

/// Control-API request to confirm a shipment.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmShipment {
    #[serde(default = "so")]
    pub order_type: String,
    pub order_nbr: String,
    /// Lines to ship (default: every open quantity).
    #[serde(default)]
    pub lines: Option<Vec<ShipLine>>,
    /// Packages (default: one package with a generated tracking number).
    #[serde(default)]
    pub packages: Vec<ShipPackage>,
    #[serde(default)]
    pub ship_via: Option<String>,
}

fn so() -> String {
    "SO".into()
}

impl ConfirmShipment {
    pub fn all(order_nbr: &str) -> Self {
        Self { order_type: "SO".into(), order_nbr: order_nbr.into(), lines: None, packages: Vec::new(), ship_via: None }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShipLine {
    pub line_nbr: i64,
    pub qty: Decimal,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShipPackage {
    #[serde(default)]
    pub tracking_nbr: Option<String>,
    #[serde(default)]
    pub weight: Option<Decimal>,
    #[serde(default, rename = "BoxID")]
    pub box_id: Option<String>,
    /// What is in the box: order lines and quantities. Default: everything shipped when the
    /// shipment has one box, nothing listed when it has several (a warehouse that did not pack
    /// by item).
    #[serde(default)]
    pub contents: Option<Vec<ShipLine>>,
}

// ------------------------------------------------------------------------------------------
// Control API
// ------------------------------------------------------------------------------------------

pub fn control_router(state: SharedState) -> Router {
    Router::new()
        .route("/_sandbox/state", get(ctl_state))
        .route("/_sandbox/sales-orders", get(ctl_list_orders))
        .route("/_sandbox/sales-orders/status", post(ctl_status))
        .route("/_sandbox/customers", get(ctl_customers))
        .route("/_sandbox/stock-items", get(ctl_stock))
        .route("/_sandbox/stock-items/bulk", post(super::stock::ctl_bulk))
        .route("/_sandbox/stock/adjust", post(super::stock::ctl_adjust))
        .route("/_sandbox/stock", get(super::stock::ctl_stock_levels))
        .route("/_sandbox/shipments", get(ctl_shipments))
        .route("/_sandbox/shipments/confirm", post(ctl_confirm))
        .route("/_sandbox/shipments/create", post(super::shipments::ctl_create))
        .route("/_sandbox/shipments/{nbr}/confirm", post(super::shipments::ctl_confirm_nbr))
        .route("/_sandbox/shipments/{nbr}/cancel", post(super::shipments::ctl_cancel))
        .route("/_sandbox/sales-orders/enter", post(super::erp::ctl_enter))
        .route("/_sandbox/sales-orders/payment", post(super::erp::ctl_payment))
        .route("/_sandbox/sales-orders/release-invoice", post(super::erp::ctl_release_invoice))
        .route("/_sandbox/invoices", get(super::erp::ctl_invoices))
        .route("/_sandbox/sessions/expire", put(ctl_expire).post(ctl_expire))
        .with_state(state)
}

async fn ctl_state(State(s): State<SharedState>) -> Json<Value> {
    let idle = s.config().limits.acumatica_session_idle;
    let mut st = s.acumatica();
    let users = st.active_api_users(idle);
    Json(json!({
        "sales_orders": st.sales_orders.len(),
        "customers": st.customers.len(),
        "stock_items": st.stock_items.len(),
        "shipments": st.shipments.len(),
        "invoices": st.invoices.len(),
        "sessions": st.sessions.len(),
        "oauth_tokens": st.tokens.len(),
        "active_api_users": users,
        "commercial_transactions": st.commercial_transactions,
        "writes": s.write_counts(V),
    }))
}

async fn ctl_list_orders(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.acumatica().sales_orders.values().cloned().collect::<Vec<_>>()))
}

/// Every customer with `Updates`: how many `PUT Customer` calls updated it (0 after insert).
async fn ctl_customers(State(s): State<SharedState>) -> Json<Value> {
    let st = s.acumatica();
    let list: Vec<Value> = st
        .customers
        .iter()
        .map(|(id, c)| {
            let mut c = c.clone();
            c["Updates"] = json!(st.customer_updates.get(id).copied().unwrap_or(0));
            c
        })
        .collect();
    Json(json!(list))
}

async fn ctl_stock(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.acumatica().stock_items.values().cloned().collect::<Vec<_>>()))
}

async fn ctl_shipments(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.acumatica().shipments.values().cloned().collect::<Vec<_>>()))
}

async fn ctl_confirm(State(s): State<SharedState>, body: Bytes) -> Response {
    let req: ConfirmShipment = match ctl_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match s.acumatica_confirm_shipment(&req) {
        Ok(sh) => Json(sh).into_response(),
        Err(m) => ctl_error(StatusCode::UNPROCESSABLE_ENTITY, m),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatusBody {
    order_nbr: String,
    status: String,
}

async fn ctl_status(State(s): State<SharedState>, body: Bytes) -> Response {
    let b: StatusBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s.acumatica_set_order_status(&b.order_nbr, &b.status) {
        Ok(so) => Json(so).into_response(),
        Err(m) if m.contains("not found") => ctl_error(StatusCode::NOT_FOUND, m),
        Err(m) => ctl_error(StatusCode::UNPROCESSABLE_ENTITY, m),
    }
}

async fn ctl_expire(State(s): State<SharedState>) -> Json<Value> {
    let mut st = s.acumatica();
    let n = st.sessions.len() + st.tokens.len();
    st.sessions.clear();
    st.tokens.clear();
    Json(json!({ "expired": n }))
}

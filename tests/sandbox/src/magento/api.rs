//! Magento HTTP handlers and the Magento part of the control API.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{mg_time, MgState};
use crate::core::{num_dp, parse_decimal, parse_i64, query_pairs, SharedState, Vendor};
use crate::faults::vendor_error;
use crate::inspect::ctl_create_orders;
use crate::seed::OrderOverrides;

const V: Vendor = Vendor::Magento;

pub(super) fn bad(msg: impl AsRef<str>) -> Response {
    vendor_error(V, StatusCode::BAD_REQUEST, msg.as_ref())
}

/// `{"message": "...", "parameters": {...}}` — Magento's documented error body [MG5].
pub(super) fn err_params(status: StatusCode, message: &str, params: Value) -> Response {
    (status, Json(json!({ "message": message, "parameters": params }))).into_response()
}

pub(super) fn no_entity(field: &str, value: &str) -> Response {
    err_params(
        StatusCode::NOT_FOUND,
        "No such entity with %fieldName = %fieldValue",
        json!({ "fieldName": field, "fieldValue": value }),
    )
}

pub fn router(state: SharedState) -> Router {
    let mut r = Router::new();
    for p in ["/rest/V1", "/rest/{store}/V1"] {
        r = r
            .route(&format!("{p}/integration/admin/token"), post(admin_token))
            .route(&format!("{p}/orders"), get(search_orders).post(create_order))
            .route(&format!("{p}/orders/create"), put(create_order))
            .route(&format!("{p}/orders/{{id}}"), get(get_order))
            .route(&format!("{p}/orders/{{id}}/comments"), get(list_comments).post(add_comment))
            .route(&format!("{p}/order/{{id}}/ship"), post(ship))
            .route(&format!("{p}/order/{{id}}/invoice"), post(invoice))
            .route(&format!("{p}/shipment/{{id}}"), get(get_shipment))
            .route(&format!("{p}/shipments"), get(search_shipments))
            .route(&format!("{p}/shipment/track"), post(add_track))
            .route(&format!("{p}/orders/{{id}}/cancel"), post(super::erp::cancel_order))
            .route(&format!("{p}/orders/{{id}}/hold"), post(super::erp::hold_order))
            .route(&format!("{p}/orders/{{id}}/unhold"), post(super::erp::unhold_order))
            .route(&format!("{p}/products"), get(super::erp::search_products))
            .route(&format!("{p}/products/{{sku}}"), get(super::erp::get_product))
            .route(
                &format!("{p}/inventory/get-product-salable-quantity/{{sku}}/{{stockId}}"),
                get(super::erp::salable_quantity),
            )
            .route(
                &format!("{p}/inventory/source-items"),
                get(super::erp::search_source_items).post(super::stock::save_source_items),
            )
            .route(&format!("{p}/customers"), post(super::erp::create_customer))
            .route(&format!("{p}/customers/search"), get(super::erp::search_customers))
            .route(&format!("{p}/customers/{{id}}"), get(super::erp::get_customer).put(super::storefront::put_customer))
            .route(&format!("{p}/stockItems/{{sku}}"), get(super::stock::get_stock_item))
            .route(&format!("{p}/products/{{sku}}/stockItems/{{itemId}}"), put(super::stock::put_stock_item));
    }
    r.with_state(state)
}

/// Store code in the URL: `default`, `all`, or absent.
fn check_store(params: &BTreeMap<String, String>) -> Result<(), Response> {
    match params.get("store").map(String::as_str) {
        None | Some("default") | Some("all") => Ok(()),
        Some(other) => Err(err_params(StatusCode::BAD_REQUEST, "Requested store is not found (%1)", json!([other]))),
    }
}

pub(super) fn auth(s: &SharedState, h: &HeaderMap, params: &BTreeMap<String, String>) -> Result<(), Response> {
    check_store(params)?;
    let token =
        h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let ok = match token {
        Some(t) if t == s.config().credentials.magento_integration_token => true,
        Some(t) => s.magento().tokens.get(t).is_some_and(|exp| *exp > Utc::now()),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(err_params(
            StatusCode::UNAUTHORIZED,
            "The consumer isn't authorized to access %resources.",
            json!({ "resources": "Magento_Sales::actions_view" }),
        ))
    }
}

async fn admin_token(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err(r) = check_store(&params) {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(u), Some(p)) = (v.get("username").and_then(Value::as_str), v.get("password").and_then(Value::as_str))
    else {
        return err_params(
            StatusCode::BAD_REQUEST,
            "\"%fieldName\" is required. Enter and try again.",
            json!({ "fieldName": "username" }),
        );
    };
    let c = &s.config().credentials;
    if u != c.magento_admin_username || p != c.magento_admin_password {
        return vendor_error(
            V,
            StatusCode::UNAUTHORIZED,
            "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later.",
        );
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let ttl = s.config().magento_token_ttl;
    let mut st = s.magento();
    let now = Utc::now();
    st.tokens.retain(|_, expires| *expires > now);
    st.tokens.insert(token.clone(), now + chrono::Duration::milliseconds(ttl.as_millis() as i64));
    drop(st);
    // The admin token endpoint answers a bare JSON string.
    Json(Value::String(token)).into_response()
}

// ------------------------------------------------------------------------------------------
// searchCriteria
// ------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
pub(super) struct Filter {
    pub(super) field: String,
    pub(super) value: String,
    pub(super) condition: String,
}

#[derive(Debug, Default)]
pub(super) struct Criteria {
    pub(super) groups: BTreeMap<usize, BTreeMap<usize, Filter>>,
    pub(super) sorts: BTreeMap<usize, (String, bool)>,
    pub(super) page_size: Option<usize>,
    pub(super) current_page: Option<usize>,
}

/// Parse `searchCriteria[filter_groups][0][filters][0][field]=...` style parameters.
pub(super) fn parse_criteria(pairs: &[(String, String)]) -> Result<Criteria, String> {
    let mut c = Criteria::default();
    for (k, v) in pairs {
        let Some(rest) = k.strip_prefix("searchCriteria") else {
            continue;
        };
        let parts: Vec<&str> = rest.split(['[', ']']).filter(|p| !p.is_empty()).collect();
        let idx = |s: &str| s.parse::<usize>().map_err(|_| format!("invalid index in '{k}'"));
        match parts.as_slice() {
            ["filter_groups" | "filterGroups", g, "filters", f, attr] => {
                let flt = c.groups.entry(idx(g)?).or_default().entry(idx(f)?).or_default();
                match *attr {
                    "field" => flt.field = v.clone(),
                    "value" => flt.value = v.clone(),
                    "condition_type" | "conditionType" => flt.condition = v.to_ascii_lowercase(),
                    other => return Err(format!("unknown filter attribute '{other}'")),
                }
            }
            ["sortOrders" | "sort_orders", i, attr] => {
                let e = c.sorts.entry(idx(i)?).or_insert((String::new(), false));
                match *attr {
                    "field" => e.0 = v.clone(),
                    "direction" => e.1 = v.eq_ignore_ascii_case("DESC"),
                    other => return Err(format!("unknown sort attribute '{other}'")),
                }
            }
            ["pageSize" | "page_size"] => {
                c.page_size = Some(v.parse().map_err(|_| "pageSize must be an integer".to_string())?)
            }
            ["currentPage" | "current_page"] => {
                c.current_page = Some(v.parse().map_err(|_| "currentPage must be an integer".to_string())?)
            }
            _ => return Err(format!("unsupported searchCriteria parameter '{k}'")),
        }
    }
    for g in c.groups.values() {
        for f in g.values() {
            if f.field.is_empty() {
                return Err("every filter needs a field".into());
            }
            const OK: &[&str] = &[
                "", "eq", "neq", "gt", "gteq", "lt", "lteq", "moreq", "from", "to", "like", "nlike", "in", "nin",
                "finset", "nfinset", "null", "notnull",
            ];
            if !OK.contains(&f.condition.as_str()) {
                return Err(format!("condition_type '{}' is not supported", f.condition));
            }
        }
    }
    Ok(c)
}

pub(super) fn field_str(o: &Value, field: &str) -> Option<String> {
    match o.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub(super) fn cmp_vals(a: &str, b: &str) -> Ordering {
    match (parse_decimal(&json!(a)), parse_decimal(&json!(b))) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn like(hay: &str, pat: &str) -> bool {
    let hay = hay.to_ascii_lowercase();
    let parts: Vec<String> = pat.to_ascii_lowercase().split('%').map(str::to_string).collect();
    if parts.len() == 1 {
        return hay == parts[0];
    }
    let mut pos = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        if i == 0 {
            if !hay.starts_with(p.as_str()) {
                return false;
            }
            pos = p.len();
        } else if i == parts.len() - 1 {
            return hay[pos..].ends_with(p.as_str());
        } else {
            match hay[pos..].find(p.as_str()) {
                Some(x) => pos += x + p.len(),
                None => return false,
            }
        }
    }
    true
}

fn matches(o: &Value, f: &Filter) -> bool {
    let v = field_str(o, &f.field);
    let list = || f.value.split(',').map(str::trim).collect::<Vec<_>>();
    match f.condition.as_str() {
        "null" => v.is_none(),
        "notnull" => v.is_some(),
        _ => {
            let Some(v) = v else { return false };
            match f.condition.as_str() {
                "" | "eq" => cmp_vals(&v, &f.value) == Ordering::Equal,
                "neq" => cmp_vals(&v, &f.value) != Ordering::Equal,
                "gt" => cmp_vals(&v, &f.value) == Ordering::Greater,
                "gteq" | "moreq" | "from" => cmp_vals(&v, &f.value) != Ordering::Less,
                "lt" => cmp_vals(&v, &f.value) == Ordering::Less,
                "lteq" | "to" => cmp_vals(&v, &f.value) != Ordering::Greater,
                "like" => like(&v, &f.value),
                "nlike" => !like(&v, &f.value),
                "in" => list().iter().any(|x| cmp_vals(&v, x) == Ordering::Equal),
                "nin" => !list().iter().any(|x| cmp_vals(&v, x) == Ordering::Equal),
                "finset" => v.split(',').any(|x| x.trim() == f.value),
                "nfinset" => !v.split(',').any(|x| x.trim() == f.value),
                _ => false,
            }
        }
    }
}

/// Filters in one group are OR-ed, except a `from`/`to` pair on the same field (a range).
pub(super) fn group_matches(o: &Value, g: &BTreeMap<usize, Filter>) -> bool {
    let fs: Vec<&Filter> = g.values().collect();
    let range_fields: Vec<&str> = fs
        .iter()
        .filter(|f| f.condition == "from")
        .filter(|f| fs.iter().any(|t| t.condition == "to" && t.field == f.field))
        .map(|f| f.field.as_str())
        .collect();
    let ranges_ok = range_fields.iter().any(|field| {
        fs.iter().filter(|f| f.field == *field && (f.condition == "from" || f.condition == "to")).all(|f| matches(o, f))
    });
    ranges_ok || fs.iter().filter(|f| !range_fields.contains(&f.field.as_str())).any(|f| matches(o, f))
}

pub(super) fn criteria_echo(c: &Criteria) -> Value {
    json!({
        "filter_groups": c.groups.values().map(|g| json!({
            "filters": g.values().map(|f| json!({
                "field": f.field, "value": f.value,
                "condition_type": if f.condition.is_empty() { "eq" } else { f.condition.as_str() },
            })).collect::<Vec<_>>()
        })).collect::<Vec<_>>(),
        "sort_orders": c.sorts.values().map(|(f, d)| json!({ "field": f, "direction": if *d { "DESC" } else { "ASC" } })).collect::<Vec<_>>(),
        "page_size": c.page_size,
        "current_page": c.current_page,
    })
}

async fn search_orders(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let pairs = query_pairs(uri.query());
    let c = match parse_criteria(&pairs) {
        Ok(c) => c,
        Err(m) => return bad(m),
    };
    let st = s.magento();
    let mut hits: Vec<&Value> = st.orders.values().filter(|o| c.groups.values().all(|g| group_matches(o, g))).collect();
    if !c.sorts.is_empty() {
        hits.sort_by(|a, b| {
            for (f, desc) in c.sorts.values() {
                let x = field_str(a, f).unwrap_or_default();
                let y = field_str(b, f).unwrap_or_default();
                let o = cmp_vals(&x, &y);
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            // Sorting on a non-unique field is unstable in Magento; here ties keep entity_id
            // order, which is kinder than the real thing (see README).
            Ordering::Equal
        });
    }
    let total = hits.len();
    let items: Vec<Value> = match c.page_size {
        Some(size) if size > 0 => {
            let last_page = total.div_ceil(size).max(1);
            // Asking past the last page returns the last page again (Magento's behaviour).
            let page = c.current_page.unwrap_or(1).clamp(1, last_page);
            hits.iter().skip((page - 1).saturating_mul(size)).take(size).map(|o| (*o).clone()).collect()
        }
        _ => hits.iter().map(|o| (*o).clone()).collect(),
    };
    Json(json!({ "items": items, "search_criteria": criteria_echo(&c), "total_count": total })).into_response()
}

pub(super) fn order_id(params: &BTreeMap<String, String>) -> Result<i64, Response> {
    let raw = params.get("id").cloned().unwrap_or_default();
    raw.parse::<i64>().map_err(|_| no_entity("orderId", &raw))
}

/// Answers `f(order)` for an authorised request naming an existing order, else the vendor error.
fn with_order(
    s: &SharedState,
    h: &HeaderMap,
    params: &BTreeMap<String, String>,
    f: impl FnOnce(&Value) -> Response,
) -> Response {
    let id = match auth(s, h, params).and_then(|()| order_id(params)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match s.magento().orders.get(&id) {
        Some(o) => f(o),
        None => no_entity("orderId", &id.to_string()),
    }
}

/// An optional JSON body (`ship`, `invoice`): empty reads as `{}`.
pub(super) fn optional_body(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| bad(format!("Decoding error: {e}")))
}

async fn get_order(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    with_order(&s, &h, &params, |o| Json(o.clone()).into_response())
}

pub(super) fn required(field: &str) -> Response {
    err_params(
        StatusCode::BAD_REQUEST,
        "\"%fieldName\" is required. Enter and try again.",
        json!({ "fieldName": field }),
    )
}

async fn create_order(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("Decoding error: {e}")),
    };
    let Some(entity) = v.get("entity").filter(|e| e.is_object()) else {
        return required("entity");
    };
    for f in ["base_grand_total", "grand_total", "customer_email"] {
        if entity.get(f).is_none_or(Value::is_null) {
            return required(f);
        }
    }
    for f in ["base_grand_total", "grand_total"] {
        if entity.get(f).and_then(parse_decimal).is_none() {
            return bad(format!("The \"{f}\" value's type is invalid."));
        }
    }
    let items = match entity.get("items").and_then(Value::as_array) {
        Some(i) if !i.is_empty() => i.clone(),
        _ => return required("items"),
    };
    // Bound amounts and quantities so later decimal arithmetic cannot overflow.
    let limit = Decimal::from(1_000_000_000_000i64);
    for (i, it) in items.iter().enumerate() {
        for f in ["qty_ordered", "price", "row_total", "tax_amount", "discount_amount"] {
            if it.get(f).filter(|v| !v.is_null()).is_some_and(|v| parse_decimal(v).is_none_or(|x| x.abs() > limit)) {
                return bad(format!("The \"items[{i}].{f}\" value's type is invalid."));
            }
        }
    }
    for f in ["base_grand_total", "grand_total", "shipping_amount", "total_invoiced"] {
        if entity.get(f).filter(|v| !v.is_null()).is_some_and(|v| parse_decimal(v).is_none_or(|x| x.abs() > limit)) {
            return bad(format!("The \"{f}\" value's type is invalid."));
        }
    }
    for (i, it) in items.iter().enumerate() {
        if it.get("sku").and_then(Value::as_str).is_none() {
            return required(&format!("items[{i}].sku"));
        }
        if it.get("qty_ordered").and_then(parse_decimal).is_none() {
            return required(&format!("items[{i}].qty_ordered"));
        }
    }
    if !entity.get("billing_address").is_some_and(Value::is_object) {
        return required("billing_address");
    }
    if entity.get("payment").and_then(|p| p.get("method")).and_then(Value::as_str).is_none() {
        return required("payment.method");
    }
    let (order, inserted) = {
        let mut st = s.magento();
        let existing = entity.get("entity_id").and_then(parse_i64).filter(|id| st.orders.contains_key(id));
        let increment = entity.get("increment_id").and_then(Value::as_str).map(str::to_string);
        if existing.is_none() {
            if let Some(inc) = &increment {
                if st.orders.values().any(|o| o["increment_id"].as_str() == Some(inc.as_str())) {
                    // increment_id is unique per store: a retried create with the same number fails.
                    return bad("Unique constraint violation found");
                }
            }
        }
        let now = mg_time(&Utc::now());
        let id = existing.unwrap_or_else(|| {
            let id = st.next_entity;
            st.next_entity += 1;
            id
        });
        let mut o = match existing {
            Some(i) => st.orders[&i].clone(),
            None => json!({ "created_at": now, "state": "new", "status": "pending", "store_id": 1,
                            "status_histories": [], "total_paid": 0, "total_invoiced": 0 }),
        };
        if let (Some(t), Some(p)) = (o.as_object_mut(), entity.as_object()) {
            for (k, val) in p {
                t.insert(k.clone(), val.clone());
            }
        }
        o["entity_id"] = json!(id);
        if o.get("increment_id").is_none_or(Value::is_null) {
            o["increment_id"] = json!(format!("{:09}", st.next_increment));
            st.next_increment += 1;
        }
        o["updated_at"] = json!(now);
        let mut next_item = st.next_item;
        if let Some(list) = o.get_mut("items").and_then(Value::as_array_mut) {
            for it in list.iter_mut() {
                if it.get("item_id").is_none_or(Value::is_null) {
                    it["item_id"] = json!(next_item);
                    next_item += 1;
                }
                it["order_id"] = json!(id);
                for q in ["qty_shipped", "qty_invoiced", "qty_canceled", "qty_refunded"] {
                    if it.get(q).is_none() {
                        it[q] = json!(0);
                    }
                }
            }
        }
        st.next_item = next_item;
        st.orders.insert(id, o.clone());
        (o, existing.is_none())
    };
    let inc = order["increment_id"].as_str().unwrap_or("").to_string();
    s.record_write(V, "order.increment_id", &inc, json!({ "entity_id": order["entity_id"], "insert": inserted }));
    if let Some(ext) = order.get("ext_order_id").and_then(Value::as_str) {
        s.record_write(V, "order.ext_order_id", ext, json!({ "entity_id": order["entity_id"] }));
    }
    Json(order).into_response()
}

/// Quantities per top-level item: (item_id, ordered, shipped, invoiced).
pub(super) fn top_items(o: &Value) -> Vec<(i64, Decimal, Decimal, Decimal)> {
    o["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i.get("parent_item_id").is_none_or(Value::is_null))
        .map(|i| {
            let d = |k: &str| i.get(k).and_then(parse_decimal).unwrap_or(Decimal::ZERO);
            (
                i["item_id"].as_i64().unwrap_or(0),
                d("qty_ordered") - d("qty_canceled"),
                d("qty_shipped"),
                d("qty_invoiced"),
            )
        })
        .collect()
}

/// Requested `items[{order_item_id, qty}]`, or everything remaining.
fn requested(body: &Value, tops: &[(i64, Decimal, Decimal)]) -> Result<Vec<(i64, Decimal)>, String> {
    match body.get("items").and_then(Value::as_array) {
        None => Ok(tops
            .iter()
            .filter(|(_, ordered, done)| ordered > done)
            .map(|(id, ordered, done)| (*id, ordered - done))
            .collect()),
        Some(list) => list
            .iter()
            .map(|it| {
                let id = it.get("order_item_id").and_then(parse_i64).ok_or("order_item_id is required")?;
                let qty = it.get("qty").and_then(parse_decimal).ok_or("qty is required")?;
                let (_, ordered, done) = tops
                    .iter()
                    .find(|(i, _, _)| *i == id)
                    .ok_or(format!("order item {id} is not a top-level item of this order"))?;
                if qty <= Decimal::ZERO || qty > *ordered - *done {
                    return Err(format!("The quantity for order item {id} exceeds the quantity remaining."));
                }
                Ok((id, qty))
            })
            .collect(),
    }
}

pub(super) fn bump(o: &mut Value, field: &str, wanted: &[(i64, Decimal)]) {
    if let Some(list) = o.get_mut("items").and_then(Value::as_array_mut) {
        for it in list.iter_mut() {
            let own = it["item_id"].as_i64().unwrap_or(0);
            let parent = it.get("parent_item_id").and_then(Value::as_i64);
            // Children follow their parent.
            if let Some((_, q)) = wanted.iter().find(|(id, _)| *id == own || Some(*id) == parent) {
                let cur = it.get(field).and_then(parse_decimal).unwrap_or(Decimal::ZERO);
                it[field] = num_dp(cur + q, 4);
            }
        }
    }
}

fn settle_state(o: &mut Value) {
    let tops = top_items(o);
    let shipped = tops.iter().all(|(_, ord, sh, _)| sh >= ord);
    let invoiced = tops.iter().all(|(_, ord, _, inv)| inv >= ord);
    let (state, status) = if shipped && invoiced { ("complete", "complete") } else { ("processing", "processing") };
    o["state"] = json!(state);
    o["status"] = json!(status);
    o["updated_at"] = json!(mg_time(&Utc::now()));
}

fn order_blocks(o: &Value, action: &str) -> Option<String> {
    let state = o["state"].as_str().unwrap_or("");
    matches!(state, "canceled" | "holded" | "closed" | "complete" | "payment_review")
        .then(|| format!("The order does not allow {action} to be created."))
}

async fn ship(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, v) = match auth(&s, &h, &params).and_then(|()| Ok((order_id(&params)?, optional_body(&body)?))) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let tracks: Vec<Value> = v.get("tracks").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, t) in tracks.iter().enumerate() {
        for f in ["track_number", "carrier_code"] {
            if t.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                return required(&format!("tracks[{i}].{f}"));
            }
        }
    }
    let sid = {
        let mut st: std::sync::MutexGuard<'_, MgState> = s.magento();
        let Some(o) = st.orders.get(&id).cloned() else {
            return no_entity("orderId", &id.to_string());
        };
        if let Some(m) = order_blocks(&o, "a shipment") {
            return bad(format!("Shipment Document Validation Error(s):\n{m}"));
        }
        let tops: Vec<(i64, Decimal, Decimal)> =
            top_items(&o).into_iter().map(|(i, ord, sh, _)| (i, ord, sh)).collect();
        let wanted = match requested(&v, &tops) {
            Ok(w) if !w.is_empty() => w,
            Ok(_) => {
                return bad("Shipment Document Validation Error(s):\nYou can't create a shipment without products.")
            }
            Err(m) => return bad(format!("Shipment Document Validation Error(s):\n{m}")),
        };
        // MSI: the source comes from `arguments.extension_attributes.source_code` (default `default`).
        let source = v
            .pointer("/arguments/extension_attributes/source_code")
            .and_then(Value::as_str)
            .unwrap_or(super::DEFAULT_SOURCE)
            .to_string();
        if source != super::DEFAULT_SOURCE {
            return bad(format!("Source item not found by source code: {source}"));
        }
        let sid = st.next_shipment;
        st.next_shipment += 1;
        let now = mg_time(&Utc::now());
        let tracks_json: Vec<Value> = tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({ "entity_id": sid * 10 + i as i64, "parent_id": sid, "order_id": id,
                        "track_number": t["track_number"], "title": t.get("title").cloned().unwrap_or(json!("")),
                        "carrier_code": t["carrier_code"], "created_at": now })
            })
            .collect();
        st.shipments.insert(
            sid,
            json!({
                "entity_id": sid, "order_id": id, "increment_id": format!("{:09}", sid),
                "created_at": now, "total_qty": num_dp(wanted.iter().map(|(_, q)| *q).sum(), 4),
                "items": wanted.iter().map(|(i, q)| json!({ "order_item_id": i, "qty": num_dp(*q, 4) })).collect::<Vec<_>>(),
                "tracks": tracks_json, "comments": v.get("comment").map(|c| vec![c.clone()]).unwrap_or_default(),
            }),
        );
        let o = st.orders.get_mut(&id).ok_or_else(|| no_entity("orderId", &id.to_string()));
        let o = match o {
            Ok(o) => o,
            Err(r) => return r,
        };
        bump(o, "qty_shipped", &wanted);
        settle_state(o);
        // Source deduction plus the compensating reservation (magento/inventory#3419).
        let shipped: Vec<(String, Decimal)> = super::erp::skus_of(&o.clone(), &wanted);
        st.deduct_for_shipment(id, &shipped);
        sid
    };
    s.record_write(V, "shipment", &id.to_string(), json!({ "shipment_id": sid }));
    for t in &tracks {
        if let Some(n) = t["track_number"].as_str() {
            s.record_write(V, "track_number", n, json!({ "order_id": id, "shipment_id": sid }));
        }
    }
    Json(json!(sid)).into_response()
}

async fn invoice(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, v) = match auth(&s, &h, &params).and_then(|()| Ok((order_id(&params)?, optional_body(&body)?))) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let iid = {
        let mut st = s.magento();
        let Some(o) = st.orders.get(&id).cloned() else {
            return no_entity("orderId", &id.to_string());
        };
        if let Some(m) = order_blocks(&o, "an invoice") {
            return bad(m);
        }
        let tops: Vec<(i64, Decimal, Decimal)> =
            top_items(&o).into_iter().map(|(i, ord, _, inv)| (i, ord, inv)).collect();
        let wanted = match requested(&v, &tops) {
            Ok(w) if !w.is_empty() => w,
            Ok(_) => return bad("The order does not allow an invoice to be created."),
            Err(m) => return bad(m),
        };
        let iid = st.next_invoice;
        st.next_invoice += 1;
        // Invoice amount: the items' row totals incl. tax minus discount, plus shipping on the
        // first invoice.
        let mut amount = Decimal::ZERO;
        for (item, q) in &wanted {
            if let Some(it) = o["items"].as_array().into_iter().flatten().find(|i| i["item_id"] == json!(item)) {
                let d = |k: &str| it.get(k).and_then(parse_decimal).unwrap_or(Decimal::ZERO);
                let ordered = d("qty_ordered").max(Decimal::ONE);
                amount += ((d("row_total") + d("tax_amount") - d("discount_amount")) * q / ordered).round_dp(2);
            }
        }
        let first = tops.iter().all(|(_, _, inv)| inv.is_zero());
        let d = |k: &str| o.get(k).and_then(parse_decimal).unwrap_or(Decimal::ZERO);
        if first {
            amount += d("shipping_amount");
        }
        let total_invoiced = (d("total_invoiced") + amount).min(d("grand_total"));
        st.invoices.insert(
            iid,
            json!({ "entity_id": iid, "order_id": id, "increment_id": format!("{:09}", iid),
                    "grand_total": num_dp(amount, 4), "state": 2, "created_at": mg_time(&Utc::now()),
                    "items": wanted.iter().map(|(i, q)| json!({ "order_item_id": i, "qty": num_dp(*q, 4) })).collect::<Vec<_>>() }),
        );
        let Some(o) = st.orders.get_mut(&id) else {
            return no_entity("orderId", &id.to_string());
        };
        bump(o, "qty_invoiced", &wanted);
        o["total_invoiced"] = num_dp(total_invoiced, 4);
        if v.get("capture").and_then(Value::as_bool).unwrap_or(false) {
            o["total_paid"] = num_dp(total_invoiced, 4);
            o["total_due"] = num_dp(d("grand_total") - total_invoiced, 4);
        }
        settle_state(o);
        iid
    };
    s.record_write(V, "invoice", &id.to_string(), json!({ "invoice_id": iid }));
    Json(json!(iid)).into_response()
}

async fn add_comment(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match auth(&s, &h, &params).and_then(|()| order_id(&params)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(h) = v.get("statusHistory").filter(|x| x.is_object()) else {
        return required("statusHistory");
    };
    let Some(comment) = h.get("comment").and_then(Value::as_str) else {
        return required("statusHistory.comment");
    };
    {
        let mut st = s.magento();
        let hid = st.next_history;
        st.next_history += 1;
        let Some(o) = st.orders.get_mut(&id) else {
            return no_entity("orderId", &id.to_string());
        };
        let status = h
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| o["status"].as_str().unwrap_or("").to_string());
        // 2.4.7 (magento_comment_sets_status = false): the comment is stored with the order's
        // own status and the status does not change.
        let status = if s.config().magento_comment_sets_status {
            if h.get("status").and_then(Value::as_str).is_some() {
                o["status"] = json!(status);
            }
            status
        } else {
            o["status"].as_str().unwrap_or("").to_string()
        };
        let entry = json!({
            "entity_id": hid, "parent_id": id, "comment": comment, "status": status,
            "entity_name": "order", "created_at": mg_time(&Utc::now()),
            "is_customer_notified": h.get("is_customer_notified").cloned().unwrap_or(json!(0)),
            "is_visible_on_front": h.get("is_visible_on_front").cloned().unwrap_or(json!(0)),
        });
        match o.get_mut("status_histories").and_then(Value::as_array_mut) {
            Some(list) => list.insert(0, entry),
            None => o["status_histories"] = json!([entry]),
        }
        o["updated_at"] = json!(mg_time(&Utc::now()));
    }
    s.record_write(V, "comment", &id.to_string(), json!({ "comment": comment }));
    Json(json!(true)).into_response()
}

async fn list_comments(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    with_order(&s, &h, &params, |o| {
        let items = o["status_histories"].clone();
        let n = items.as_array().map(Vec::len).unwrap_or(0);
        Json(json!({ "items": items, "search_criteria": { "filter_groups": [] }, "total_count": n })).into_response()
    })
}

async fn get_shipment(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let raw = params.get("id").cloned().unwrap_or_default();
    match raw.parse::<i64>().ok().and_then(|i| s.magento().shipments.get(&i).cloned()) {
        Some(x) => Json(x).into_response(),
        None => no_entity("id", &raw),
    }
}

/// `GET /V1/shipments?searchCriteria[filter_groups][0][filters][0][field]=order_id&...[value]=N`:
/// the shipments (with tracks) of an order. Only `order_id` filters are modelled.
async fn search_shipments(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let pairs = crate::core::query_pairs(uri.query());
    let field = pairs.iter().find(|(k, _)| k.ends_with("[field]")).map(|(_, v)| v.as_str());
    let value = pairs.iter().find(|(k, _)| k.ends_with("[value]")).and_then(|(_, v)| v.parse::<i64>().ok());
    let order = match (field, value) {
        (Some("order_id"), Some(id)) => Some(id),
        (None, None) => None,
        _ => return bad("Only order_id filters are supported by this sandbox."),
    };
    let items: Vec<Value> = s
        .magento()
        .shipments
        .values()
        .filter(|x| order.is_none_or(|id| x["order_id"].as_i64() == Some(id)))
        .cloned()
        .collect();
    let n = items.len();
    Json(json!({ "items": items, "search_criteria": { "filter_groups": [] }, "total_count": n })).into_response()
}

async fn add_track(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(e) = v.get("entity").filter(|x| x.is_object()) else {
        return required("entity");
    };
    let Some(parent) = e.get("parent_id").and_then(parse_i64) else {
        return required("entity.parent_id");
    };
    let Some(number) = e.get("track_number").and_then(Value::as_str).map(str::to_string) else {
        return required("entity.track_number");
    };
    let tid = {
        let mut st = s.magento();
        let Some(sh) = st.shipments.get_mut(&parent) else {
            return no_entity("parent_id", &parent.to_string());
        };
        let tid = parent * 10 + sh["tracks"].as_array().map(Vec::len).unwrap_or(0) as i64;
        // Like Magento (issue #7760), the order_id in the body is not validated.
        let track = json!({ "entity_id": tid, "parent_id": parent, "order_id": e.get("order_id"),
                            "track_number": number, "title": e.get("title"), "carrier_code": e.get("carrier_code"),
                            "created_at": mg_time(&Utc::now()) });
        if let Some(list) = sh["tracks"].as_array_mut() {
            list.push(track.clone());
        }
        tid
    };
    s.record_write(V, "track_number", &number, json!({ "shipment_id": parent }));
    let mut out = e.clone();
    out["entity_id"] = json!(tid);
    Json(out).into_response()
}

// ------------------------------------------------------------------------------------------
// Control API
// ------------------------------------------------------------------------------------------

impl SharedState {
    /// Create `count` Magento orders now (state processing). Returns their entity_ids.
    pub fn magento_create_orders(&self, count: usize, ov: &OrderOverrides) -> Vec<i64> {
        let seed = self.config().seed;
        let data = self.0.seed_data.clone();
        let mut st = self.magento();
        (0..count.max(1))
            .map(|_| {
                st.on_demand += 1;
                let g = data.on_demand(seed, 0x3a, st.on_demand, Utc::now(), "MG", ov);
                st.insert_generated(&g, "processing", "processing")
            })
            .collect()
    }
}

pub fn control_router(state: SharedState) -> Router {
    Router::new()
        .route("/_sandbox/state", get(ctl_state))
        .route("/_sandbox/orders", post(ctl_create))
        .route("/_sandbox/shipments", get(ctl_shipments))
        .route("/_sandbox/invoices", get(ctl_invoices))
        .route("/_sandbox/stock", get(super::erp::ctl_stock))
        .route(
            "/_sandbox/stock/writes",
            get(super::stock::ctl_stock_writes).delete(super::stock::ctl_clear_stock_writes),
        )
        .route("/_sandbox/sources", get(super::stock::ctl_sources).post(super::stock::ctl_add_source))
        .route("/_sandbox/input-limit", get(super::stock::ctl_input_limit).put(super::stock::ctl_set_input_limit))
        .route("/_sandbox/products", post(super::stock::ctl_add_products))
        .route("/_sandbox/customers", get(super::erp::ctl_customers).post(super::storefront::ctl_customer))
        .route("/_sandbox/orders/{id}/edit", post(super::storefront::ctl_edit_order))
        .route("/_sandbox/orders/{id}/status", post(super::storefront::ctl_order_status))
        .with_state(state)
}

async fn ctl_state(State(s): State<SharedState>) -> Json<Value> {
    let st = s.magento();
    Json(json!({
        "orders": st.orders.len(),
        "shipments": st.shipments.len(),
        "invoices": st.invoices.len(),
        "products": st.products.len(),
        "customers": st.customers.len(),
        "reservations": st.reservations.len(),
        "writes": s.write_counts(V),
    }))
}

async fn ctl_create(State(s): State<SharedState>, body: Bytes) -> Response {
    ctl_create_orders(&body, |n, ov| s.magento_create_orders(n, ov))
}

async fn ctl_shipments(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.magento().shipments.values().cloned().collect::<Vec<_>>()))
}

async fn ctl_invoices(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.magento().invoices.values().cloned().collect::<Vec<_>>()))
}

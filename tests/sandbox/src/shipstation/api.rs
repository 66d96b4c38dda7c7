//! ShipStation HTTP handlers, SHIP_NOTIFY webhooks and the ShipStation control API.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_ss_time, ss_time, CREATE_STATUSES, ORDER_STATUSES};
use crate::core::{parse_i64, qget, query_pairs, SharedState, Vendor};
use crate::faults::vendor_error;
use crate::inspect::{ctl_body, ctl_error};
use crate::webhook::{Signing, WebhookTarget};

const V: Vendor = Vendor::Shipstation;

fn bad(msg: impl AsRef<str>) -> Response {
    vendor_error(V, StatusCode::BAD_REQUEST, msg.as_ref())
}

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/orders", get(list_orders))
        .route("/orders/{id}", get(get_order))
        .route("/orders/createorder", post(create_order))
        .route("/orders/createorders", post(create_orders))
        .route("/orders/markasshipped", post(mark_shipped))
        .route("/shipments", get(list_shipments))
        .route("/webhooks", get(list_hooks))
        .route("/webhooks/subscribe", post(subscribe))
        .route("/webhooks/{id}", delete(unsubscribe))
        .with_state(state)
}

/// HTTP Basic with API key and secret.
fn auth(s: &SharedState, h: &HeaderMap) -> Result<(), Response> {
    let c = &s.config().credentials;
    let ok = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|kv| kv == format!("{}:{}", c.shipstation_api_key, c.shipstation_api_secret));
    if ok {
        Ok(())
    } else {
        Err(vendor_error(V, StatusCode::UNAUTHORIZED, "401 Unauthorized: the API key or secret is invalid."))
    }
}

fn paging(pairs: &[(String, String)]) -> Result<(usize, usize), Response> {
    let page = match qget(pairs, "page") {
        None => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(bad("The page parameter is invalid.")),
        },
    };
    let size = match qget(pairs, "pageSize") {
        None => 100,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => return Err(bad("pageSize must be between 1 and 500.")),
        },
    };
    Ok((page, size))
}

fn date_param(s: &SharedState, pairs: &[(String, String)], k: &str) -> Result<Option<DateTime<Utc>>, Response> {
    let tz = s.config().shipstation_time_zone;
    match qget(pairs, k) {
        None => Ok(None),
        Some(v) => {
            parse_ss_time(&tz, v).map(Some).ok_or_else(|| bad(format!("The {k} parameter is not a valid date.")))
        }
    }
}

/// [`date_param`] for each key, in order; the first bad one answers.
fn date_params(
    s: &SharedState,
    pairs: &[(String, String)],
    keys: &[&str],
) -> Result<Vec<Option<DateTime<Utc>>>, Response> {
    keys.iter().map(|k| date_param(s, pairs, k)).collect()
}

fn envelope(key: &str, items: Vec<Value>, total: usize, page: usize, size: usize) -> Response {
    Json(json!({
        key: items,
        "total": total,
        "page": page,
        "pages": total.div_ceil(size),
    }))
    .into_response()
}

async fn list_orders(State(s): State<SharedState>, h: HeaderMap, uri: Uri) -> Response {
    let pairs = query_pairs(uri.query());
    let (page, size) = match auth(&s, &h).and_then(|()| paging(&pairs)) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ranges = match date_params(
        &s,
        &pairs,
        &["createDateStart", "createDateEnd", "modifyDateStart", "modifyDateEnd", "orderDateStart", "orderDateEnd"],
    ) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let status = qget(&pairs, "orderStatus").map(str::to_string);
    if status.as_deref().is_some_and(|x| !ORDER_STATUSES.contains(&x)) {
        return bad("The orderStatus parameter is invalid.");
    }
    let number = qget(&pairs, "orderNumber").map(str::to_ascii_lowercase);
    let customer = qget(&pairs, "customerName").map(str::to_ascii_lowercase);
    let keyword = qget(&pairs, "itemKeyword").map(str::to_ascii_lowercase);
    let store = qget(&pairs, "storeId").and_then(|x| x.parse::<i64>().ok());
    let st = s.shipstation();
    // Range parameters are read in the account's zone, an order's orderDate in its store's.
    let tz = st.order_tz();
    let mut hits: Vec<&super::SsOrder> = st
        .orders
        .values()
        .filter(|o| {
            let j = &o.json;
            let od = j["orderDate"].as_str().and_then(|d| parse_ss_time(&tz, d));
            let within = |d: Option<DateTime<Utc>>, lo: Option<DateTime<Utc>>, hi: Option<DateTime<Utc>>| {
                lo.is_none_or(|l| d.is_some_and(|d| d >= l)) && hi.is_none_or(|h| d.is_some_and(|d| d <= h))
            };
            within(Some(o.created), ranges[0], ranges[1])
                && within(Some(o.modified), ranges[2], ranges[3])
                && within(od, ranges[4], ranges[5])
                && status.as_deref().is_none_or(|x| j["orderStatus"] == x)
                && number
                    .as_ref()
                    .is_none_or(|n| j["orderNumber"].as_str().unwrap_or("").to_ascii_lowercase().starts_with(n))
                && customer.as_ref().is_none_or(|c| {
                    j["shipTo"]["name"].as_str().unwrap_or("").to_ascii_lowercase().contains(c)
                        || j["billTo"]["name"].as_str().unwrap_or("").to_ascii_lowercase().contains(c)
                })
                && keyword.as_ref().is_none_or(|k| {
                    j["items"].as_array().into_iter().flatten().any(|i| {
                        i["sku"].as_str().unwrap_or("").to_ascii_lowercase().contains(k)
                            || i["name"].as_str().unwrap_or("").to_ascii_lowercase().contains(k)
                    })
                })
                && store.is_none_or(|x| j["advancedOptions"]["storeId"] == x)
        })
        .collect();
    let desc = qget(&pairs, "sortDir").is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
    let sort_by = qget(&pairs, "sortBy").unwrap_or("OrderId").to_string();
    hits.sort_by(|a, b| {
        let o = match sort_by.as_str() {
            "ModifyDate" => a.modified.cmp(&b.modified),
            "CreateDate" => a.created.cmp(&b.created),
            "OrderDate" => a.json["orderDate"].as_str().cmp(&b.json["orderDate"].as_str()),
            _ => std::cmp::Ordering::Equal,
        }
        .then(a.json["orderId"].as_i64().cmp(&b.json["orderId"].as_i64()));
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    let total = hits.len();
    let items = hits.iter().skip((page - 1).saturating_mul(size)).take(size).map(|o| o.json.clone()).collect();
    envelope("orders", items, total, page, size)
}

async fn get_order(State(s): State<SharedState>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = auth(&s, &h) {
        return r;
    }
    let Ok(id) = id.parse::<i64>() else {
        return bad(format!("The orderId '{id}' is not valid."));
    };
    match s.shipstation().orders.get(&id) {
        Some(o) => Json(o.json.clone()).into_response(),
        None => vendor_error(V, StatusCode::NOT_FOUND, &format!("Order {id} not found.")),
    }
}

/// Required-field validation for createorder [SS5].
fn validate_order(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("The request body must be an order object.".into());
    }
    match v.get("orderNumber").and_then(Value::as_str) {
        None | Some("") => return Err("orderNumber is required.".into()),
        Some(n) if n.chars().count() > 50 => return Err("orderNumber must be at most 50 characters.".into()),
        _ => {}
    }
    match v.get("orderDate").and_then(Value::as_str) {
        None => return Err("orderDate is required.".into()),
        Some(d) if parse_ss_time(&chrono_tz::America::Los_Angeles, d).is_none() => {
            return Err(format!("orderDate '{d}' is not a valid date."))
        }
        _ => {}
    }
    match v.get("orderStatus").and_then(Value::as_str) {
        None => return Err("orderStatus is required.".into()),
        Some(st) if !CREATE_STATUSES.contains(&st) => {
            return Err(format!("orderStatus '{st}' is not a valid order status ({}).", CREATE_STATUSES.join(", ")))
        }
        _ => {}
    }
    for f in ["billTo", "shipTo"] {
        if !v.get(f).is_some_and(Value::is_object) {
            return Err(format!("{f} is required."));
        }
    }
    if let Some(problem) = address_problem(&v["shipTo"], "shipTo") {
        return Err(problem);
    }
    for (i, it) in v.get("items").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if it.get("quantity").and_then(parse_i64).is_none() {
            return Err(format!("items[{i}].quantity must be an integer."));
        }
    }
    Ok(())
}

/// What is missing or wrong in a ship-to address (createorder refuses it): `name`, `street1`,
/// `city`, `postalCode` and a 2-letter `country` are required, `state` too for US and CA.
fn address_problem(a: &Value, path: &str) -> Option<String> {
    let text = |f: &str| match &a[f] {
        Value::String(x) => x.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    for f in ["name", "street1", "city", "postalCode", "country"] {
        if text(f).is_empty() {
            return Some(format!("{path}.{f} is required."));
        }
    }
    let country = text("country");
    if country.chars().count() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(format!("{path}.country '{country}' must be a 2-letter ISO country code."));
    }
    if matches!(country.to_ascii_uppercase().as_str(), "US" | "CA") && text("state").is_empty() {
        return Some(format!("{path}.state is required for country {country}."));
    }
    None
}

/// Why a label cannot be bought for an order: cancelled or on hold, or a ship-to address without
/// city, state (US/CA) or postal code ("Invalid City, State, or Zip").
fn label_problem(o: &Value) -> Option<String> {
    let number = o["orderNumber"].as_str().unwrap_or("");
    if let Some(st @ ("cancelled" | "on_hold")) = o["orderStatus"].as_str() {
        return Some(format!("order {number} is {st}: no label can be created for it"));
    }
    let a = &o["shipTo"];
    let empty = |f: &str| a[f].as_str().is_none_or(|x| x.trim().is_empty());
    let country = a["country"].as_str().unwrap_or("").to_ascii_uppercase();
    if empty("city") || empty("postalCode") || (matches!(country.as_str(), "US" | "CA") && empty("state")) {
        return Some(format!("order {number}: Invalid City, State, or Zip"));
    }
    if country.len() != 2 {
        return Some(format!("order {number}: the ship-to country is missing or invalid"));
    }
    None
}

fn upsert_one(s: &SharedState, v: &Value) -> Result<Value, String> {
    validate_order(v)?;
    let (order, created) = s.shipstation().upsert(v, Utc::now())?;
    let key = order["orderKey"].as_str().unwrap_or("").to_string();
    let number = order["orderNumber"].as_str().unwrap_or("").to_string();
    s.record_write(V, "order.orderKey", &key, json!({ "orderId": order["orderId"], "created": created }));
    s.record_write(V, "order.orderNumber", &number, json!({ "orderId": order["orderId"], "created": created }));
    Ok(order)
}

/// Basic auth, then the JSON body.
fn authed_body(s: &SharedState, h: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    auth(s, h)?;
    serde_json::from_slice(body).map_err(|e| bad(format!("The request body is not valid JSON: {e}")))
}

async fn create_order(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let v = match authed_body(&s, &h, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match upsert_one(&s, &v) {
        Ok(o) => Json(o).into_response(),
        Err(m) => bad(m),
    }
}

async fn create_orders(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let v = match authed_body(&s, &h, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(list) = v.as_array() else {
        return bad("The request body must be an array of orders.");
    };
    if list.len() > 100 {
        return bad("At most 100 orders can be created or updated per call.");
    }
    let mut has_errors = false;
    let results: Vec<Value> = list
        .iter()
        .map(|o| match upsert_one(&s, o) {
            Ok(x) => json!({ "orderId": x["orderId"], "orderNumber": x["orderNumber"],
                             "orderKey": x["orderKey"], "success": true, "errorMessage": null }),
            Err(m) => {
                has_errors = true;
                json!({ "orderId": 0, "orderNumber": o.get("orderNumber"), "orderKey": o.get("orderKey"),
                        "success": false, "errorMessage": m })
            }
        })
        .collect();
    Json(json!({ "hasErrors": has_errors, "results": results })).into_response()
}

async fn mark_shipped(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    let v = match authed_body(&s, &h, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = v.get("orderId").and_then(parse_i64) else {
        return bad("orderId is required.");
    };
    let Some(carrier) = v.get("carrierCode").and_then(Value::as_str).filter(|c| !c.is_empty()) else {
        return bad("carrierCode is required.");
    };
    let tracking = v.get("trackingNumber").and_then(Value::as_str).unwrap_or("").to_string();
    let number = {
        let mut st = s.shipstation();
        let tz = st.tz;
        let Some(o) = st.orders.get_mut(&id) else {
            return vendor_error(V, StatusCode::NOT_FOUND, &format!("Order {id} not found."));
        };
        let now = Utc::now();
        o.json["orderStatus"] = json!("shipped");
        o.json["shipDate"] = v.get("shipDate").cloned().unwrap_or(json!(now.format("%Y-%m-%d").to_string()));
        o.json["carrierCode"] = json!(carrier);
        o.json["modifyDate"] = json!(ss_time(&tz, &now));
        o.modified = now;
        o.json["orderNumber"].as_str().unwrap_or("").to_string()
    };
    s.record_write(V, "markasshipped", &id.to_string(), json!({ "trackingNumber": tracking }));
    if !tracking.is_empty() {
        s.record_write(V, "tracking_number", &tracking, json!({ "orderId": id }));
    }
    Json(json!({ "orderId": id, "orderNumber": number })).into_response()
}

async fn list_shipments(State(s): State<SharedState>, h: HeaderMap, uri: Uri) -> Response {
    let pairs = query_pairs(uri.query());
    let (page, size) = match auth(&s, &h).and_then(|()| paging(&pairs)) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ranges = match date_params(
        &s,
        &pairs,
        &["createDateStart", "createDateEnd", "shipDateStart", "shipDateEnd", "voidDateStart", "voidDateEnd"],
    ) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let eq = |k: &str| qget(&pairs, k).map(str::to_string);
    let (recipient, country, number, order_id, carrier, service, tracking, store, batch) = (
        eq("recipientName").map(|x| x.to_ascii_lowercase()),
        eq("recipientCountryCode"),
        eq("orderNumber"),
        eq("orderId"),
        eq("carrierCode"),
        eq("serviceCode"),
        eq("trackingNumber"),
        eq("storeId").or_else(|| eq("storeID")),
        eq("batchId"),
    );
    let include_items = qget(&pairs, "includeShipmentItems").is_some_and(|x| x.eq_ignore_ascii_case("true"));
    let tz = s.config().shipstation_time_zone;
    let st = s.shipstation();
    let mut hits: Vec<&Value> = st
        .shipments
        .values()
        .filter(|x| {
            let created = x["createDate"].as_str().and_then(|d| parse_ss_time(&tz, d));
            let shipped = x["shipDate"].as_str().and_then(|d| parse_ss_time(&tz, d));
            let voided = x["voidDate"].as_str().and_then(|d| parse_ss_time(&tz, d));
            let within = |d: Option<DateTime<Utc>>, lo: Option<DateTime<Utc>>, hi: Option<DateTime<Utc>>| {
                lo.is_none_or(|l| d.is_some_and(|d| d >= l)) && hi.is_none_or(|h| d.is_some_and(|d| d <= h))
            };
            let s_eq = |field: &str, want: &Option<String>| {
                want.as_ref().is_none_or(|w| match &x[field] {
                    Value::String(v) => v.eq_ignore_ascii_case(w),
                    Value::Number(n) => n.to_string() == *w,
                    _ => false,
                })
            };
            within(created, ranges[0], ranges[1])
                && within(shipped, ranges[2], ranges[3])
                && within(voided, ranges[4], ranges[5])
                && recipient
                    .as_ref()
                    .is_none_or(|r| x["shipTo"]["name"].as_str().unwrap_or("").to_ascii_lowercase().contains(r))
                && country.as_ref().is_none_or(|c| x["shipTo"]["country"].as_str() == Some(c.as_str()))
                && s_eq("orderNumber", &number)
                && s_eq("orderId", &order_id)
                && s_eq("carrierCode", &carrier)
                && s_eq("serviceCode", &service)
                && s_eq("trackingNumber", &tracking)
                && s_eq("batchNumber", &batch)
                && store.as_ref().is_none_or(|w| {
                    x["advancedOptions"]["storeId"].as_i64().map(|i| i.to_string()).as_deref() == Some(w.as_str())
                })
        })
        .collect();
    let desc = qget(&pairs, "sortDir").is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
    hits.sort_by_key(|x| x["shipmentId"].as_i64());
    if desc {
        hits.reverse();
    }
    let total = hits.len();
    let items = hits
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|x| {
            let mut x = (*x).clone();
            if !include_items {
                x["shipmentItems"] = Value::Null;
            }
            x
        })
        .collect();
    envelope("shipments", items, total, page, size)
}

const EVENTS: &[&str] = &[
    "ORDER_NOTIFY",
    "ITEM_ORDER_NOTIFY",
    "SHIP_NOTIFY",
    "ITEM_SHIP_NOTIFY",
    "FULFILLMENT_SHIPPED",
    "FULFILLMENT_REJECTED",
];

async fn subscribe(State(s): State<SharedState>, h: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = auth(&s, &h) {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(url) = v.get("target_url").and_then(Value::as_str).filter(|u| !u.is_empty()) else {
        return bad("target_url is required.");
    };
    let Some(event) = v.get("event").and_then(Value::as_str).filter(|e| EVENTS.contains(e)) else {
        return bad("event is required and must be a supported webhook event.");
    };
    let mut st = s.shipstation();
    let id = st.next_hook;
    st.next_hook += 1;
    st.webhooks.insert(
        id,
        json!({
            "IsLabelAPIHook": false, "WebHookID": id, "SellerID": 1,
            "StoreID": v.get("store_id").cloned().unwrap_or(Value::Null),
            "HookType": event, "MessageFormat": "Json", "Url": url,
            "Name": v.get("friendly_name").cloned().unwrap_or(Value::Null),
            "BulkCopyBatchID": null, "BulkCopyRecordID": null, "Active": true,
            "WebhookLogs": [], "Seller": null, "Store": null,
        }),
    );
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

async fn list_hooks(State(s): State<SharedState>, h: HeaderMap) -> Response {
    if let Err(r) = auth(&s, &h) {
        return r;
    }
    let hooks: Vec<Value> = s.shipstation().webhooks.values().cloned().collect();
    Json(json!({ "webhooks": hooks })).into_response()
}

async fn unsubscribe(State(s): State<SharedState>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = auth(&s, &h) {
        return r;
    }
    match id.parse::<i64>().ok().and_then(|i| s.shipstation().webhooks.remove(&i)) {
        Some(_) => StatusCode::OK.into_response(),
        None => vendor_error(V, StatusCode::NOT_FOUND, "Webhook not found."),
    }
}

// ------------------------------------------------------------------------------------------
// Label shipments on demand + SHIP_NOTIFY
// ------------------------------------------------------------------------------------------

/// Control-API request: create label shipments (one batch) for orders.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateShipments {
    pub order_ids: Vec<i64>,
    pub order_numbers: Vec<String>,
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
    /// Tracking numbers in order; generated when missing.
    pub tracking_numbers: Vec<String>,
}

impl SharedState {
    /// Create one label shipment per order in a single batch, mark the orders shipped and send
    /// `SHIP_NOTIFY` whose `resource_url` lists exactly that batch. Returns (batch id, shipments).
    pub fn shipstation_create_shipments(&self, req: &CreateShipments) -> Result<(String, Vec<Value>), String> {
        let (batch, shipments) = {
            let mut st = self.shipstation();
            let tz = st.tz;
            let mut ids = req.order_ids.clone();
            for n in &req.order_numbers {
                let id = st
                    .orders
                    .values()
                    .find(|o| o.json["orderNumber"].as_str() == Some(n.as_str()))
                    .and_then(|o| o.json["orderId"].as_i64())
                    .ok_or_else(|| format!("order number {n} not found"))?;
                ids.push(id);
            }
            if ids.is_empty() {
                return Err("orderIds or orderNumbers is required".into());
            }
            for id in &ids {
                let Some(o) = st.orders.get(id) else {
                    return Err(format!("order {id} not found"));
                };
                if let Some(m) = label_problem(&o.json) {
                    return Err(m);
                }
            }
            st.next_batch += 1;
            let batch = st.next_batch.to_string();
            let now = Utc::now();
            let mut out = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                st.next_shipment += 1;
                let sid = st.next_shipment;
                let store_id = st.store_id;
                let Some(o) = st.orders.get_mut(id) else { continue };
                let carrier = req.carrier_code.clone().unwrap_or_else(|| "ups".into());
                let tracking = req.tracking_numbers.get(i).cloned().unwrap_or_else(|| format!("1ZSS{sid:012}"));
                let items: Vec<Value> = o.json["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|it| {
                        json!({ "orderItemId": it["orderItemId"], "lineItemKey": it["lineItemKey"],
                                "sku": it["sku"], "name": it["name"], "imageUrl": null, "weight": null,
                                "quantity": it["quantity"], "unitPrice": it["unitPrice"],
                                "taxAmount": it.get("taxAmount"), "shippingAmount": null,
                                "warehouseLocation": null, "options": [], "productId": null,
                                "fulfillmentSku": null, "adjustment": false, "upc": it.get("upc") })
                    })
                    .collect();
                let shipment = json!({
                    "shipmentId": sid, "orderId": id, "orderKey": o.json["orderKey"],
                    "userId": "sandbox-user", "customerEmail": o.json.get("customerEmail"),
                    "orderNumber": o.json["orderNumber"], "createDate": ss_time(&tz, &now),
                    "shipDate": now.with_timezone(&tz).format("%Y-%m-%d").to_string(),
                    "shipmentCost": 7.85, "insuranceCost": 0, "trackingNumber": tracking,
                    "isReturnLabel": false, "batchNumber": batch, "carrierCode": carrier,
                    "serviceCode": req.service_code.clone().unwrap_or_else(|| "ups_ground".into()),
                    "packageCode": "package", "confirmation": "none", "warehouseId": 1,
                    "voided": false, "voidDate": null, "marketplaceNotified": false,
                    "notifyErrorMessage": null, "shipTo": o.json["shipTo"],
                    "weight": o.json["weight"], "dimensions": null,
                    "insuranceOptions": { "provider": null, "insureShipment": false, "insuredValue": 0 },
                    "advancedOptions": { "storeId": o.json["advancedOptions"]["storeId"].as_i64().unwrap_or(store_id) },
                    "labelData": null, "formData": null, "shipmentItems": items,
                });
                o.json["orderStatus"] = json!("shipped");
                o.json["shipDate"] = shipment["shipDate"].clone();
                o.json["modifyDate"] = json!(ss_time(&tz, &now));
                o.modified = now;
                st.shipments.insert(sid, shipment.clone());
                out.push(shipment);
            }
            (batch, out)
        };
        for sh in &shipments {
            self.record_write(
                V,
                "shipment",
                &sh["shipmentId"].to_string(),
                json!({ "orderId": sh["orderId"], "trackingNumber": sh["trackingNumber"] }),
            );
        }
        let base = self.urls().map(|u| u.shipstation.clone()).unwrap_or_default();
        let store = self.config().shipstation_store_id;
        let body = json!({
            "resource_url": format!("{base}/shipments?storeID={store}&batchId={batch}&includeShipmentItems=False"),
            "resource_type": "SHIP_NOTIFY",
        });
        let extra: Vec<WebhookTarget> = self
            .shipstation()
            .webhooks
            .values()
            .filter(|h| h["HookType"] == "SHIP_NOTIFY" && h["Active"] == true)
            .filter_map(|h| h["Url"].as_str().map(WebhookTarget::new))
            .collect();
        self.dispatch(V, "SHIP_NOTIFY", body, Signing::None, extra);
        Ok((batch, shipments))
    }

    /// Void a label shipment (it stays listed with `voided: true`). When the order has no other
    /// label left that is not voided, a shipped order goes back to `awaiting_shipment` (so
    /// createorder can update it again and a new label can be bought). Voiding twice is refused.
    pub fn shipstation_void_shipment(&self, shipment_id: i64) -> Result<Value, String> {
        let mut st = self.shipstation();
        let tz = st.tz;
        let now = Utc::now();
        let sh = st.shipments.get_mut(&shipment_id).ok_or_else(|| format!("shipment {shipment_id} not found"))?;
        if sh["voided"] == true {
            return Err(format!("shipment {shipment_id} is already voided"));
        }
        sh["voided"] = json!(true);
        sh["voidDate"] = json!(ss_time(&tz, &now));
        let voided = sh.clone();
        let order_id = voided["orderId"].as_i64();
        let labels_left = st.shipments.values().any(|x| x["orderId"].as_i64() == order_id && x["voided"] != true);
        if let Some(o) = order_id.and_then(|id| st.orders.get_mut(&id)) {
            if !labels_left && o.json["orderStatus"] == "shipped" {
                o.json["orderStatus"] = json!("awaiting_shipment");
                o.json["shipDate"] = Value::Null;
                o.json["modifyDate"] = json!(ss_time(&tz, &now));
                o.modified = now;
            }
        }
        Ok(voided)
    }
}

pub fn control_router(state: SharedState) -> Router {
    Router::new()
        .route("/_sandbox/state", get(ctl_state))
        .route("/_sandbox/orders", get(ctl_orders))
        .route("/_sandbox/shipments", get(ctl_shipments).post(ctl_create_shipments))
        .route("/_sandbox/shipments/{id}/void", post(ctl_void))
        .with_state(state)
}

async fn ctl_state(State(s): State<SharedState>) -> Json<Value> {
    let st = s.shipstation();
    Json(json!({
        "orders": st.orders.len(),
        "shipments": st.shipments.len(),
        "webhooks": st.webhooks.len(),
        "writes": s.write_counts(V),
        "time_zone": st.tz.name(),
        "store_time_zone": st.store_tz.map(|z| z.name().to_string()),
    }))
}

async fn ctl_orders(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.shipstation().orders.values().map(|o| o.json.clone()).collect::<Vec<_>>()))
}

async fn ctl_shipments(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.shipstation().shipments.values().cloned().collect::<Vec<_>>()))
}

async fn ctl_create_shipments(State(s): State<SharedState>, body: Bytes) -> Response {
    let req: CreateShipments = match ctl_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match s.shipstation_create_shipments(&req) {
        Ok((batch, shipments)) => Json(json!({ "batchId": batch, "shipments": shipments })).into_response(),
        Err(m) => ctl_error(StatusCode::UNPROCESSABLE_ENTITY, m),
    }
}

async fn ctl_void(State(s): State<SharedState>, Path(id): Path<i64>) -> Response {
    match s.shipstation_void_shipment(id) {
        Ok(x) => Json(x).into_response(),
        Err(m) => ctl_error(StatusCode::NOT_FOUND, m),
    }
}

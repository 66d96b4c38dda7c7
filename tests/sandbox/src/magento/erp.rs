//! What ERP-originated flows need from Magento besides orders: the catalogue (`/V1/products`),
//! MSI stock (source items on `default`, reservations, salable quantity), customers
//! (`/V1/customers`), and order cancel / hold / unhold.
//!
//! MSI as documented for the direct order route (`POST /V1/orders`, `PUT /V1/orders/create`):
//! no placement reservation is made; `/V1/order/{id}/ship` deducts the source quantity and appends
//! a compensating `+qty` reservation anyway, so salable quantity ends overstated by the shipped
//! quantity (magento/inventory#3419). Cancel appends `+qty` for the canceled quantity.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::api::{
    auth, bad, bump, cmp_vals, criteria_echo, err_params, field_str, group_matches, no_entity, order_id,
    parse_criteria, required, top_items, Criteria,
};
use super::{mg_time, MgState, DEFAULT_SOURCE, DEFAULT_STOCK_ID, SEEDED_SALABLE_QTY};
use crate::core::{num, num_dp, parse_decimal, parse_i64, query_pairs, SharedState, Vendor};
use crate::seed::SeedData;

const V: Vendor = Vendor::Magento;

impl MgState {
    /// Catalogue (one simple product per seeded product under its channel SKU, plus the ERP-only
    /// items), source items on `default`, customers from the buyer pool.
    pub(crate) fn seed_catalog_and_customers(&mut self, data: &SeedData) {
        let at = mg_time(&(data.anchor - Duration::days(365)));
        let add = |s: &mut Self, id: i64, sku: &str, name: &str, price: Decimal, upc: Option<&str>| {
            let mut custom = vec![json!({ "attribute_code": "url_key", "value": sku.to_ascii_lowercase() })];
            if let Some(u) = upc {
                custom.push(json!({ "attribute_code": "upc", "value": u }));
            }
            s.products.insert(
                sku.to_string(),
                json!({
                    "id": id, "sku": sku, "name": name, "attribute_set_id": 4, "price": num_dp(price, 4),
                    "status": 1, "visibility": 4, "type_id": "simple", "weight": 1,
                    "created_at": at, "updated_at": at,
                    "extension_attributes": { "website_ids": [1], "category_links": [] },
                    "product_links": [], "options": [], "media_gallery_entries": [], "tier_prices": [],
                    "custom_attributes": custom,
                }),
            );
        };
        for (i, p) in data.products.iter().enumerate() {
            add(self, 1 + i as i64, &p.sku, &p.name, p.price, Some(&p.upc));
        }
        let n = data.products.len() as i64;
        for (i, it) in crate::seed::erp_items().iter().enumerate() {
            if !self.products.contains_key(it.inventory_id) {
                add(self, n + 1 + i as i64, it.inventory_id, it.description, it.price, None);
            }
        }
        // Each SKU starts with SEEDED_SALABLE_QTY salable: the source holds that plus what the
        // open seeded orders reserve.
        let skus: Vec<String> = self.products.keys().cloned().collect();
        for sku in skus {
            let reserved = self.reserved(&sku);
            let qty = Decimal::from(SEEDED_SALABLE_QTY) - reserved;
            self.source_items.insert(si_key(&sku, DEFAULT_SOURCE), source_item(&sku, DEFAULT_SOURCE, qty, 1));
        }
        for b in &data.buyers {
            let id = 100 + b.index as i64;
            let a = &b.address;
            let when = mg_time(&(data.anchor - Duration::days(400) + Duration::hours(b.index as i64)));
            let aid = self.next_address;
            self.next_address += 1;
            let street = if a.line2.is_empty() { json!([a.line1]) } else { json!([a.line1, a.line2]) };
            self.customers.insert(
                id,
                json!({
                    "id": id, "group_id": 1, "default_billing": aid.to_string(), "default_shipping": aid.to_string(),
                    "created_at": when, "updated_at": when, "created_in": "Default Store View",
                    "email": b.email, "firstname": a.first_name, "lastname": a.last_name,
                    "store_id": 1, "website_id": 1, "disable_auto_group_change": 0,
                    "addresses": [{
                        "id": aid, "customer_id": id,
                        "region": { "region_code": a.state, "region": a.state, "region_id": 0 },
                        "region_id": 0, "country_id": a.country, "street": street, "company": a.company,
                        "telephone": a.phone, "postcode": a.postal, "city": a.city,
                        "firstname": a.first_name, "lastname": a.last_name,
                        "default_billing": true, "default_shipping": true,
                    }],
                    "extension_attributes": { "is_subscribed": false }, "custom_attributes": [],
                }),
            );
            self.next_customer = self.next_customer.max(id + 1);
        }
    }

    /// Append a reservation on the default stock.
    pub(crate) fn reserve(&mut self, sku: &str, qty: Decimal, event: &str, order_id: i64, increment: &str) {
        let rid = self.next_reservation;
        self.next_reservation += 1;
        self.reservations.push(json!({
            "reservation_id": rid, "stock_id": DEFAULT_STOCK_ID, "sku": sku, "quantity": num_dp(qty, 4),
            "metadata": json!({ "event_type": event, "object_type": "order", "object_id": order_id.to_string(),
                                "object_increment_id": increment }).to_string(),
        }));
    }

    /// Sum of the reservations of `sku` (negative while orders hold stock).
    pub fn reserved(&self, sku: &str) -> Decimal {
        self.reservations
            .iter()
            .filter(|r| r["sku"].as_str() == Some(sku))
            .filter_map(|r| parse_decimal(&r["quantity"]))
            .sum()
    }

    /// Quantity on source `default`.
    pub fn source_qty(&self, sku: &str) -> Option<Decimal> {
        self.source_items.get(&si_key(sku, DEFAULT_SOURCE)).and_then(|s| parse_decimal(&s["quantity"]))
    }

    /// The source items of `sku`, one per source it is assigned to.
    pub fn source_items_of<'a>(&'a self, sku: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.source_items
            .range((sku.to_string(), String::new())..)
            .take_while(move |((s, _), _)| s == sku)
            .map(|(_, v)| v)
    }

    /// Salable quantity on the default stock: Σ quantity of the in-stock source items on sources
    /// assigned to stock 1 (status 0 counts 0), plus the reservations. `None` without source items.
    pub fn salable_qty(&self, sku: &str) -> Option<Decimal> {
        let mut any = false;
        let mut qty = Decimal::ZERO;
        for item in self.source_items_of(sku) {
            let code = item["source_code"].as_str().unwrap_or("");
            let on_stock = self.sources.get(code).is_some_and(|s| s["stock_id"].as_i64() == Some(DEFAULT_STOCK_ID));
            if !on_stock {
                continue;
            }
            any = true;
            if item["status"].as_i64() == Some(1) {
                qty += parse_decimal(&item["quantity"]).unwrap_or(Decimal::ZERO);
            }
        }
        any.then(|| qty + self.reserved(sku))
    }

    /// A shipment: deduct each SKU from the source and append the compensating reservation.
    pub(crate) fn deduct_for_shipment(&mut self, order_id: i64, shipped: &[(String, Decimal)]) {
        let inc = self.orders.get(&order_id).and_then(|o| o["increment_id"].as_str()).unwrap_or("").to_string();
        for (sku, qty) in shipped {
            let Some(cur) = self.source_qty(sku) else {
                // Not in the catalogue: nothing to deduct, no reservation.
                continue;
            };
            if let Some(item) = self.source_items.get_mut(&si_key(sku, DEFAULT_SOURCE)) {
                item["quantity"] = num_dp(cur - qty, 4);
            }
            self.reserve(sku, *qty, "shipment_created", order_id, &inc);
        }
    }
}

pub(super) fn source_item(sku: &str, source: &str, qty: Decimal, status: i64) -> Value {
    json!({ "sku": sku, "source_code": source, "quantity": num_dp(qty, 4), "status": status })
}

/// Key of a source item: (SKU, source code).
pub(super) fn si_key(sku: &str, source: &str) -> (String, String) {
    (sku.to_string(), source.to_string())
}

/// SKU and quantity per requested top-level item (a configurable parent's stock is its child's).
pub(super) fn skus_of(order: &Value, wanted: &[(i64, Decimal)]) -> Vec<(String, Decimal)> {
    let items: Vec<&Value> = order["items"].as_array().into_iter().flatten().collect();
    wanted
        .iter()
        .filter_map(|(id, q)| {
            let child = items.iter().find(|i| i.get("parent_item_id").and_then(Value::as_i64) == Some(*id));
            let own = items.iter().find(|i| i["item_id"].as_i64() == Some(*id));
            child.or(own).and_then(|i| i["sku"].as_str()).map(|s| (s.to_string(), *q))
        })
        .collect()
}

/// Filter, sort and page `all` by `searchCriteria` (the orders search semantics, including the
/// last-page repeat) into `{items, search_criteria, total_count}`.
pub(super) fn search<'a>(all: impl Iterator<Item = &'a Value>, c: &Criteria) -> Value {
    let mut hits: Vec<&Value> = all.filter(|o| c.groups.values().all(|g| group_matches(o, g))).collect();
    if !c.sorts.is_empty() {
        hits.sort_by(|a, b| {
            for (f, desc) in c.sorts.values() {
                let o = cmp_vals(&field_str(a, f).unwrap_or_default(), &field_str(b, f).unwrap_or_default());
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    let total = hits.len();
    let items: Vec<Value> = match c.page_size {
        Some(size) if size > 0 => {
            let last_page = total.div_ceil(size).max(1);
            let page = c.current_page.unwrap_or(1).clamp(1, last_page);
            hits.iter().skip((page - 1).saturating_mul(size)).take(size).map(|o| (*o).clone()).collect()
        }
        _ => hits.iter().map(|o| (*o).clone()).collect(),
    };
    json!({ "items": items, "search_criteria": criteria_echo(c), "total_count": total })
}

pub(super) fn criteria(uri: &Uri) -> Result<Criteria, Response> {
    parse_criteria(&query_pairs(uri.query())).map_err(bad)
}

// ------------------------------------------------------------------------------------------
// Catalogue
// ------------------------------------------------------------------------------------------

pub(super) async fn get_product(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let sku = params.get("sku").cloned().unwrap_or_default();
    match s.magento().products.get(&sku) {
        Some(p) => Json(p.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(
                json!({ "message": "The product that was requested doesn't exist. Verify the product and try again." }),
            ),
        )
            .into_response(),
    }
}

pub(super) async fn search_products(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    let c = match auth(&s, &h, &params).and_then(|()| criteria(&uri)) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let st = s.magento();
    Json(search(st.products.values(), &c)).into_response()
}

// ------------------------------------------------------------------------------------------
// MSI
// ------------------------------------------------------------------------------------------

pub(super) async fn salable_quantity(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let sku = params.get("sku").cloned().unwrap_or_default();
    let stock = params.get("stockId").cloned().unwrap_or_default();
    if stock.parse::<i64>().ok() != Some(DEFAULT_STOCK_ID) {
        return no_entity("stockId", &stock);
    }
    match s.magento().salable_qty(&sku) {
        Some(q) => Json(num(q)).into_response(),
        None => bad("The requested sku is not assigned to given stock."),
    }
}

pub(super) async fn search_source_items(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    let c = match auth(&s, &h, &params).and_then(|()| criteria(&uri)) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let st = s.magento();
    Json(search(st.source_items.values(), &c)).into_response()
}

// ------------------------------------------------------------------------------------------
// Customers
// ------------------------------------------------------------------------------------------

pub(super) async fn search_customers(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    let c = match auth(&s, &h, &params).and_then(|()| criteria(&uri)) {
        Ok(c) => c,
        Err(r) => return r,
    };
    // The customer collection's key column is `entity_id`; the interface calls it `id`.
    let mut c = c;
    for g in c.groups.values_mut() {
        for f in g.values_mut() {
            if f.field == "entity_id" {
                f.field = "id".into();
            }
        }
    }
    for (f, _) in c.sorts.values_mut() {
        if f == "entity_id" {
            *f = "id".into();
        }
    }
    let st = s.magento();
    Json(search(st.customers.values(), &c)).into_response()
}

pub(super) async fn get_customer(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let raw = params.get("id").cloned().unwrap_or_default();
    match raw.parse::<i64>().ok().and_then(|i| s.magento().customers.get(&i).cloned()) {
        Some(c) => Json(c).into_response(),
        None => no_entity("customerId", &raw),
    }
}

fn required_value(field: &str) -> Response {
    err_params(StatusCode::BAD_REQUEST, "\"%fieldName\" is a required value.", json!({ "fieldName": field }))
}

pub(super) async fn create_customer(
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
    let Some(c) = v.get("customer").filter(|c| c.is_object()) else {
        return required("customer");
    };
    let text = |f: &str| c.get(f).and_then(Value::as_str).map(str::trim).filter(|x| !x.is_empty()).map(str::to_string);
    let (Some(first), Some(last), Some(email)) = (text("firstname"), text("lastname"), text("email")) else {
        let missing = ["firstname", "lastname", "email"].into_iter().find(|f| text(f).is_none()).unwrap_or("email");
        return required_value(missing);
    };
    let website = c.get("website_id").and_then(parse_i64).unwrap_or(1);
    let created = {
        let mut st = s.magento();
        let taken = st.customers.values().any(|x| {
            x["website_id"].as_i64() == Some(website)
                && x["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&email))
        });
        if taken {
            return bad("A customer with the same email address already exists in an associated website.");
        }
        let id = st.next_customer;
        st.next_customer += 1;
        let now = mg_time(&Utc::now());
        let mut addresses = Vec::new();
        let (mut default_billing, mut default_shipping) = (Value::Null, Value::Null);
        for a in c.get("addresses").and_then(Value::as_array).into_iter().flatten() {
            let aid = st.next_address;
            st.next_address += 1;
            let mut a = a.clone();
            a["id"] = json!(aid);
            a["customer_id"] = json!(id);
            for f in ["default_billing", "default_shipping"] {
                let on = a.get(f).and_then(Value::as_bool).unwrap_or(false);
                a[f] = json!(on);
            }
            if a["default_billing"] == json!(true) {
                default_billing = json!(aid.to_string());
            }
            if a["default_shipping"] == json!(true) {
                default_shipping = json!(aid.to_string());
            }
            addresses.push(a);
        }
        let mut out = json!({
            "id": id, "group_id": c.get("group_id").and_then(parse_i64).unwrap_or(1),
            "created_at": now, "updated_at": now, "created_in": "Default Store View",
            "email": email, "firstname": first, "lastname": last,
            "store_id": c.get("store_id").and_then(parse_i64).unwrap_or(1), "website_id": website,
            "disable_auto_group_change": 0, "addresses": addresses,
            "extension_attributes": { "is_subscribed": false }, "custom_attributes": [],
        });
        if !default_billing.is_null() {
            out["default_billing"] = default_billing;
        }
        if !default_shipping.is_null() {
            out["default_shipping"] = default_shipping;
        }
        st.customers.insert(id, out.clone());
        out
    };
    s.record_write(V, "customer.email", &email.to_ascii_lowercase(), json!({ "id": created["id"] }));
    Json(created).into_response()
}

// ------------------------------------------------------------------------------------------
// Cancel / hold / unhold
// ------------------------------------------------------------------------------------------

fn order_state(o: &Value) -> String {
    o["state"].as_str().unwrap_or("").to_string()
}

/// `POST /V1/orders/{id}/cancel`: `true`, or `false` when the order cannot be canceled
/// (canceled, complete, closed, on hold, in payment review, or fully invoiced).
pub(super) async fn cancel_order(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let id = match auth(&s, &h, &params).and_then(|()| order_id(&params)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let canceled = {
        let mut st = s.magento();
        let Some(o) = st.orders.get(&id).cloned() else {
            return no_entity("orderId", &id.to_string());
        };
        let tops = top_items(&o);
        let all_invoiced = tops.iter().all(|(_, ord, _, inv)| inv >= ord);
        if matches!(order_state(&o).as_str(), "canceled" | "complete" | "closed" | "holded" | "payment_review")
            || all_invoiced
        {
            return Json(json!(false)).into_response();
        }
        // Item::getQtyToCancel = min(qty to ship, qty to invoice).
        let wanted: Vec<(i64, Decimal)> = tops
            .iter()
            .map(|(i, ord, sh, inv)| (*i, (*ord - *sh).min(*ord - *inv).max(Decimal::ZERO)))
            .filter(|(_, q)| *q > Decimal::ZERO)
            .collect();
        let shipped_or_invoiced = tops.iter().any(|(_, _, sh, inv)| !sh.is_zero() || !inv.is_zero());
        let invoiced_unshipped = tops.iter().any(|(_, _, sh, inv)| inv > sh);
        let inc = o["increment_id"].as_str().unwrap_or("").to_string();
        let stock = skus_of(&o, &wanted);
        let Some(o) = st.orders.get_mut(&id) else {
            return no_entity("orderId", &id.to_string());
        };
        bump(o, "qty_canceled", &wanted);
        // Order::registerCancellation: invoiced lines keep the order processing (still to ship)
        // or complete; otherwise canceled.
        let state = if invoiced_unshipped {
            "processing"
        } else if shipped_or_invoiced && tops.iter().any(|(_, _, _, inv)| !inv.is_zero()) {
            "complete"
        } else {
            "canceled"
        };
        o["state"] = json!(state);
        o["status"] = json!(state);
        o["updated_at"] = json!(mg_time(&Utc::now()));
        for (sku, q) in &stock {
            if st.products.contains_key(sku) {
                st.reserve(sku, *q, "order_canceled", id, &inc);
            }
        }
        wanted
    };
    s.record_write(V, "order.cancel", &id.to_string(), json!({ "items": canceled.len() }));
    Json(json!(true)).into_response()
}

pub(super) async fn hold_order(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let id = match auth(&s, &h, &params).and_then(|()| order_id(&params)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    {
        let mut st = s.magento();
        let Some(o) = st.orders.get_mut(&id) else {
            return no_entity("orderId", &id.to_string());
        };
        if matches!(order_state(o).as_str(), "canceled" | "complete" | "closed" | "holded" | "payment_review") {
            return bad("A hold action is not available.");
        }
        o["hold_before_state"] = o["state"].clone();
        o["hold_before_status"] = o["status"].clone();
        o["state"] = json!("holded");
        o["status"] = json!("holded");
        o["updated_at"] = json!(mg_time(&Utc::now()));
    }
    s.record_write(V, "order.hold", &id.to_string(), json!({}));
    Json(json!(true)).into_response()
}

pub(super) async fn unhold_order(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let id = match auth(&s, &h, &params).and_then(|()| order_id(&params)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    {
        let mut st = s.magento();
        let Some(o) = st.orders.get_mut(&id) else {
            return no_entity("orderId", &id.to_string());
        };
        if order_state(o) != "holded" {
            return bad("You cannot remove the hold.");
        }
        let state = o.get("hold_before_state").and_then(Value::as_str).unwrap_or("processing").to_string();
        let status = o.get("hold_before_status").and_then(Value::as_str).unwrap_or(&state).to_string();
        o["state"] = json!(state);
        o["status"] = json!(status);
        o["hold_before_state"] = Value::Null;
        o["hold_before_status"] = Value::Null;
        o["updated_at"] = json!(mg_time(&Utc::now()));
    }
    s.record_write(V, "order.unhold", &id.to_string(), json!({}));
    Json(json!(true)).into_response()
}

// ------------------------------------------------------------------------------------------
// Rust helpers and control API
// ------------------------------------------------------------------------------------------

impl SharedState {
    /// Salable quantity of `sku` on the default stock (source + reservations); `None` when the
    /// SKU has no source item.
    pub fn magento_salable_qty(&self, sku: &str) -> Option<Decimal> {
        self.magento().salable_qty(sku)
    }

    /// Quantity of `sku` on source `default`.
    pub fn magento_source_qty(&self, sku: &str) -> Option<Decimal> {
        self.magento().source_qty(sku)
    }

    /// Every Magento customer, by id.
    pub fn magento_customers(&self) -> Vec<Value> {
        self.magento().customers.values().cloned().collect()
    }
}

pub(super) async fn ctl_customers(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.magento_customers()))
}

/// Per SKU: `default` source quantity, reservations sum, salable quantity, and every source item.
pub(super) async fn ctl_stock(State(s): State<SharedState>) -> Json<Value> {
    let st = s.magento();
    let mut skus: Vec<&str> = st.source_items.keys().map(|(sku, _)| sku.as_str()).collect();
    skus.dedup();
    let rows: Vec<Value> = skus
        .into_iter()
        .map(|sku| {
            let sources: Vec<Value> = st.source_items_of(sku).cloned().collect();
            json!({ "sku": sku, "source_quantity": st.source_qty(sku).map(num),
                    "reserved": num(st.reserved(sku)), "salable_quantity": st.salable_qty(sku).map(num),
                    "sources": sources })
        })
        .collect();
    Json(json!(rows))
}

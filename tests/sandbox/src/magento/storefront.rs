//! What shoppers and store staff do in Magento, and the API route that updates customers:
//! `PUT /V1/customers/{id}` (CustomerRepositoryInterface::save), customers registering or editing
//! their account (`POST /_sandbox/customers`), staff editing an order (`POST
//! /_sandbox/orders/{id}/edit`) or changing its status (`POST /_sandbox/orders/{id}/status`).
//! Each bumps `updated_at`, so `updated_at gteq` pulls see the change.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{auth, bad, err_params, no_entity, required};
use super::{mg_time, money, MgState};
use crate::core::{num_dp, parse_decimal, parse_i64, SharedState, Vendor};
use crate::inspect::{ctl_body, ctl_error};

const V: Vendor = Vendor::Magento;

const EMAIL_TAKEN: &str = "A customer with the same email address already exists in an associated website.";

fn required_value(field: &str) -> Response {
    err_params(StatusCode::BAD_REQUEST, "\"%fieldName\" is a required value.", json!({ "fieldName": field }))
}

/// Why a customer write was refused.
enum CustomerError {
    Required(&'static str),
    EmailTaken,
}

impl MgState {
    fn email_taken(&self, email: &str, website: i64, except: Option<i64>) -> bool {
        self.customers.values().any(|x| {
            x["website_id"].as_i64() == Some(website)
                && x["id"].as_i64() != except
                && x["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    }

    /// Replace a customer's addresses with `list` (ids kept for addresses of this customer,
    /// new ids otherwise) and set `default_billing`/`default_shipping` from the address flags,
    /// else from `top` (the body's own `default_billing`/`default_shipping`).
    fn set_addresses(&mut self, cust: &mut Value, list: &[Value], top: &Value) {
        let id = cust["id"].as_i64().unwrap_or(0);
        let old: Vec<i64> =
            cust["addresses"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_i64()).collect();
        let mut out = Vec::new();
        for a in list {
            let mut a = a.clone();
            let aid = match a.get("id").and_then(parse_i64).filter(|i| old.contains(i)) {
                Some(i) => i,
                None => {
                    self.next_address += 1;
                    self.next_address - 1
                }
            };
            a["id"] = json!(aid);
            a["customer_id"] = json!(id);
            if let Some(r) = a.get("region").and_then(Value::as_str).map(str::to_string) {
                a["region"] = json!({ "region_code": r, "region": r, "region_id": 0 });
            }
            if a.get("region_id").is_none() {
                a["region_id"] = json!(0);
            }
            for f in ["firstname", "lastname"] {
                if a.get(f).is_none_or(Value::is_null) {
                    a[f] = cust[f].clone();
                }
            }
            out.push(a);
        }
        for f in ["default_billing", "default_shipping"] {
            let flagged = out.iter().find(|a| a.get(f).and_then(Value::as_bool) == Some(true)).map(|a| a["id"].clone());
            let chosen = flagged
                .and_then(|v| v.as_i64())
                .or_else(|| top.get(f).and_then(parse_i64).filter(|i| out.iter().any(|a| a["id"].as_i64() == Some(*i))))
                .or_else(|| {
                    cust.get(f).and_then(parse_i64).filter(|i| out.iter().any(|a| a["id"].as_i64() == Some(*i)))
                });
            for a in out.iter_mut() {
                a[f] = json!(chosen.is_some() && a["id"].as_i64() == chosen);
            }
            match (chosen, cust.as_object_mut()) {
                (Some(c), _) => cust[f] = json!(c.to_string()),
                (None, Some(o)) => {
                    o.remove(f);
                }
                (None, None) => {}
            }
        }
        cust["addresses"] = json!(out);
    }

    /// Update customer `id` from a CustomerInterface body (`firstname`, `lastname`, `email`
    /// required, as `CustomerRepository::save` validates the whole entity).
    fn update_customer(&mut self, id: i64, c: &Value) -> Result<Value, CustomerError> {
        let text =
            |f: &str| c.get(f).and_then(Value::as_str).map(str::trim).filter(|x| !x.is_empty()).map(str::to_string);
        for f in ["firstname", "lastname", "email"] {
            if text(f).is_none() {
                return Err(CustomerError::Required(f));
            }
        }
        let mut cust = self.customers.get(&id).cloned().unwrap_or_default();
        let website = c.get("website_id").and_then(parse_i64).or_else(|| cust["website_id"].as_i64()).unwrap_or(1);
        let email = text("email").unwrap_or_default();
        if self.email_taken(&email, website, Some(id)) {
            return Err(CustomerError::EmailTaken);
        }
        for f in ["firstname", "lastname", "email"] {
            cust[f] = json!(text(f));
        }
        cust["website_id"] = json!(website);
        for f in ["group_id", "store_id", "disable_auto_group_change", "gender"] {
            if let Some(x) = c.get(f).and_then(parse_i64) {
                cust[f] = json!(x);
            }
        }
        for f in ["middlename", "prefix", "suffix", "dob", "taxvat"] {
            if let Some(x) = c.get(f).filter(|x| x.is_string() || x.is_null()) {
                cust[f] = x.clone();
            }
        }
        match c.get("addresses").and_then(Value::as_array) {
            Some(list) => self.set_addresses(&mut cust, list, c),
            None => {
                // Addresses not sent: kept; the defaults may still be moved between them.
                let list = cust["addresses"].as_array().cloned().unwrap_or_default();
                if c.get("default_billing").is_some() || c.get("default_shipping").is_some() {
                    let mut list = list;
                    for a in list.iter_mut() {
                        a.as_object_mut().map(|o| o.remove("default_billing"));
                        a.as_object_mut().map(|o| o.remove("default_shipping"));
                    }
                    self.set_addresses(&mut cust, &list, c);
                }
            }
        }
        cust["updated_at"] = json!(mg_time(&Utc::now()));
        self.customers.insert(id, cust.clone());
        Ok(cust)
    }

    /// A new customer (as registered in the store).
    fn insert_customer(&mut self, c: &Value) -> Result<Value, CustomerError> {
        let id = self.next_customer;
        let now = mg_time(&Utc::now());
        let website = c.get("website_id").and_then(parse_i64).unwrap_or(1);
        let email = c.get("email").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if self.email_taken(email, website, None) {
            return Err(CustomerError::EmailTaken);
        }
        self.customers.insert(
            id,
            json!({
                "id": id, "group_id": 1, "created_at": now, "updated_at": now,
                "created_in": "Default Store View", "store_id": 1, "website_id": website,
                "disable_auto_group_change": 0, "addresses": [],
                "extension_attributes": { "is_subscribed": false }, "custom_attributes": [],
            }),
        );
        self.next_customer += 1;
        let mut body = c.clone();
        // Registration with an address makes it the default billing and shipping address.
        if let Some(list) = body.get_mut("addresses").and_then(Value::as_array_mut) {
            let flagged = list.iter().any(|a| {
                a.get("default_billing").and_then(Value::as_bool) == Some(true)
                    || a.get("default_shipping").and_then(Value::as_bool) == Some(true)
            });
            if !flagged {
                if let Some(first) = list.first_mut() {
                    first["default_billing"] = json!(true);
                    first["default_shipping"] = json!(true);
                }
            }
        }
        match self.update_customer(id, &body) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.customers.remove(&id);
                self.next_customer -= 1;
                Err(e)
            }
        }
    }
}

/// `PUT /V1/customers/{id}` `{"customer":{...}}`: the whole customer (firstname, lastname, email
/// required); `addresses` replaces the list when sent (ids kept for this customer's addresses),
/// else the addresses stay; bumps `updated_at`.
pub(super) async fn put_customer(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let raw = params.get("id").cloned().unwrap_or_default();
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("Decoding error: {e}")),
    };
    let Some(c) = v.get("customer").filter(|c| c.is_object()) else {
        return required("customer");
    };
    let updated = {
        let mut st = s.magento();
        let Some(id) = raw.parse::<i64>().ok().filter(|i| st.customers.contains_key(i)) else {
            return no_entity("customerId", &raw);
        };
        match st.update_customer(id, c) {
            Ok(x) => x,
            Err(CustomerError::Required(f)) => return required_value(f),
            Err(CustomerError::EmailTaken) => return bad(EMAIL_TAKEN),
        }
    };
    s.record_write(V, "customer.update", &raw, json!({ "email": updated["email"] }));
    Json(updated).into_response()
}

// ------------------------------------------------------------------------------------------
// Control API: storefront activity
// ------------------------------------------------------------------------------------------

/// `POST /_sandbox/customers`: a shopper registers or edits their account.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StorefrontCustomer {
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    #[serde(default)]
    pub website_id: Option<i64>,
    /// Magento address objects (`street[]`, `city`, `region` (string or object), `postcode`,
    /// `country_id`, `telephone`, optional `default_billing`/`default_shipping`); replaces the
    /// list when present.
    #[serde(default)]
    pub addresses: Option<Vec<Value>>,
}

impl SharedState {
    /// Create the customer (by e-mail and website) or update their names and addresses; bumps
    /// `updated_at`. Returns the CustomerInterface JSON.
    pub fn magento_storefront_customer(&self, req: &StorefrontCustomer) -> Result<Value, String> {
        let mut st = self.magento();
        let website = req.website_id.unwrap_or(1);
        let existing = st
            .customers
            .values()
            .find(|c| {
                c["website_id"].as_i64() == Some(website)
                    && c["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(req.email.trim()))
            })
            .and_then(|c| c["id"].as_i64());
        let mut body = json!({
            "email": req.email, "firstname": req.firstname, "lastname": req.lastname, "website_id": website,
        });
        if let Some(a) = &req.addresses {
            body["addresses"] = json!(a);
        }
        let r = match existing {
            Some(id) => st.update_customer(id, &body),
            None => st.insert_customer(&body),
        };
        r.map_err(|e| match e {
            CustomerError::Required(f) => format!("{f} is required"),
            CustomerError::EmailTaken => EMAIL_TAKEN.to_string(),
        })
    }

    /// Store staff edit an order (see [`OrderEdit`]); totals recomputed, `updated_at` bumped.
    pub fn magento_edit_order(&self, id: i64, e: &OrderEdit) -> Result<Value, String> {
        let mut st = self.magento();
        let Some(mut o) = st.orders.get(&id).cloned() else {
            return Err(format!("order {id} not found"));
        };
        let now = mg_time(&Utc::now());
        if let Some(street) = &e.shipping_street {
            let addr = o.pointer_mut("/extension_attributes/shipping_assignments/0/shipping/address");
            match addr {
                Some(a) => a["street"] = json!(street),
                None => return Err(format!("order {id} has no shipping address")),
            }
        }
        if let Some(n) = &e.customer_note {
            o["customer_note"] = json!(n);
        }
        if let Some(add) = &e.add_qty {
            if add.qty <= Decimal::ZERO {
                return Err("add_qty.qty must be positive".into());
            }
            let inc = o["increment_id"].as_str().unwrap_or("").to_string();
            let items = o["items"].as_array_mut().ok_or("order has no items")?;
            let top = items.iter().position(|i| {
                i["sku"].as_str() == Some(add.sku.as_str()) && i.get("parent_item_id").is_none_or(Value::is_null)
            });
            match top {
                Some(pos) => {
                    let parent_id = items[pos]["item_id"].as_i64();
                    let d = |i: &Value, k: &str| i.get(k).and_then(parse_decimal).unwrap_or(Decimal::ZERO);
                    let it = &mut items[pos];
                    let price = d(it, "price");
                    let rate = d(it, "tax_percent");
                    let extra = (price * add.qty).round_dp(2);
                    let extra_tax = (extra * rate / Decimal::ONE_HUNDRED).round_dp(2);
                    let qty = d(it, "qty_ordered") + add.qty;
                    let row = d(it, "row_total") + extra;
                    let tax = d(it, "tax_amount") + extra_tax;
                    it["qty_ordered"] = num_dp(qty, 4);
                    for k in ["row_total", "base_row_total"] {
                        it[k] = money(row);
                    }
                    for k in ["tax_amount", "base_tax_amount"] {
                        it[k] = money(tax);
                    }
                    it["row_total_incl_tax"] = money(row + tax);
                    it["updated_at"] = json!(now);
                    // A configurable parent's child row follows its quantity.
                    for child in
                        items.iter_mut().filter(|i| i.get("parent_item_id").and_then(Value::as_i64) == parent_id)
                    {
                        child["qty_ordered"] = num_dp(qty, 4);
                    }
                }
                None => {
                    let Some(p) = st.products.get(&add.sku).cloned() else {
                        return Err(format!("SKU {} is not in the catalogue", add.sku));
                    };
                    let price = add.price.or_else(|| parse_decimal(&p["price"])).unwrap_or(Decimal::ZERO);
                    let rate = items
                        .first()
                        .and_then(|i| i.get("tax_percent"))
                        .and_then(parse_decimal)
                        .unwrap_or(Decimal::ZERO);
                    let row = (price * add.qty).round_dp(2);
                    let tax = (row * rate / Decimal::ONE_HUNDRED).round_dp(2);
                    let item_id = st.next_item;
                    st.next_item += 1;
                    let unit_tax = if add.qty.is_zero() { Decimal::ZERO } else { (tax / add.qty).round_dp(2) };
                    let items = o["items"].as_array_mut().ok_or("order has no items")?;
                    items.push(json!({
                        "item_id": item_id, "order_id": id, "parent_item_id": null,
                        "product_id": p["id"], "product_type": "simple", "sku": add.sku, "name": p["name"],
                        "qty_ordered": num_dp(add.qty, 4), "qty_shipped": num_dp(Decimal::ZERO, 4),
                        "qty_invoiced": num_dp(Decimal::ZERO, 4), "qty_canceled": 0, "qty_refunded": 0,
                        "price": money(price), "base_price": money(price), "original_price": money(price),
                        "price_incl_tax": money(price + unit_tax),
                        "row_total": money(row), "base_row_total": money(row), "row_total_incl_tax": money(row + tax),
                        "tax_amount": money(tax), "base_tax_amount": money(tax), "tax_percent": num_dp(rate, 4),
                        "discount_amount": money(Decimal::ZERO), "base_discount_amount": money(Decimal::ZERO),
                        "discount_percent": 0, "weight": 1, "is_virtual": 0, "created_at": now, "updated_at": now,
                    }));
                }
            }
            // MSI holds the added quantity while the order is open (as at checkout).
            if matches!(o["state"].as_str(), Some("new" | "processing" | "holded" | "pending_payment"))
                && st.products.contains_key(&add.sku)
            {
                st.reserve(&add.sku, -add.qty, "order_placed", id, &inc);
            }
            recompute_totals(&mut o);
        }
        if let Some(x) = &e.state {
            o["state"] = json!(x);
        }
        if let Some(x) = &e.status {
            o["status"] = json!(x);
        }
        o["updated_at"] = json!(now);
        st.orders.insert(id, o.clone());
        Ok(o)
    }

    /// Set an order's status and/or state (as staff or a payment/fulfilment extension would);
    /// bumps `updated_at`.
    pub fn magento_set_order_status(
        &self,
        id: i64,
        status: Option<&str>,
        state: Option<&str>,
    ) -> Result<Value, String> {
        let mut st = self.magento();
        let o = st.orders.get_mut(&id).ok_or_else(|| format!("order {id} not found"))?;
        if let Some(x) = state {
            o["state"] = json!(x);
        }
        if let Some(x) = status {
            o["status"] = json!(x);
        }
        o["updated_at"] = json!(mg_time(&Utc::now()));
        Ok(o.clone())
    }
}

/// Order totals from the top-level items, as seeded orders are built: `subtotal` = Σ row_total
/// (before discounts), `tax_amount` = Σ item tax + shipping tax, `grand_total` = subtotal +
/// discount_amount (negative) + shipping_amount + tax_amount; `base_*` the same (USD only).
pub(super) fn recompute_totals(o: &mut Value) {
    let d = |v: &Value, k: &str| v.get(k).and_then(parse_decimal).unwrap_or(Decimal::ZERO);
    let tops: Vec<&Value> = o["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i.get("parent_item_id").is_none_or(Value::is_null))
        .collect();
    let subtotal: Decimal = tops.iter().map(|i| d(i, "row_total")).sum();
    let item_tax: Decimal = tops.iter().map(|i| d(i, "tax_amount")).sum();
    let qty: Decimal = tops.iter().map(|i| d(i, "qty_ordered")).sum();
    let count = tops.len();
    let tax = item_tax + d(o, "shipping_tax_amount");
    let grand = subtotal + d(o, "discount_amount") + d(o, "shipping_amount") + tax;
    let paid = d(o, "total_paid");
    for (k, v) in [
        ("subtotal", subtotal),
        ("subtotal_incl_tax", subtotal + item_tax),
        ("tax_amount", tax),
        ("grand_total", grand),
        ("total_due", grand - paid),
    ] {
        o[k] = money(v);
        o[format!("base_{k}")] = money(v);
    }
    o["total_qty_ordered"] = num_dp(qty, 4);
    o["total_item_count"] = json!(count);
    o["weight"] = num_dp(qty, 4);
    if o.get("payment").is_some_and(Value::is_object) {
        o["payment"]["amount_ordered"] = money(grand);
        o["payment"]["base_amount_ordered"] = money(grand);
    }
}

/// `POST /_sandbox/orders/{id}/edit`: every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderEdit {
    /// New street lines of the shipping address.
    pub shipping_street: Option<Vec<String>>,
    pub customer_note: Option<String>,
    /// More of an existing top-level line (same SKU), or a new line of a catalogue product at
    /// `price` (default: the catalogue price) taxed at the order's first line rate.
    pub add_qty: Option<AddQty>,
    pub status: Option<String>,
    pub state: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AddQty {
    pub sku: String,
    pub qty: Decimal,
    #[serde(default)]
    pub price: Option<Decimal>,
}

fn ctl_result(r: Result<Value, String>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(m) if m.contains("not found") => ctl_error(StatusCode::NOT_FOUND, m),
        Err(m) => ctl_error(StatusCode::UNPROCESSABLE_ENTITY, m),
    }
}

fn path_id(params: &BTreeMap<String, String>) -> Result<i64, Response> {
    let raw = params.get("id").cloned().unwrap_or_default();
    raw.parse::<i64>().map_err(|_| ctl_error(StatusCode::NOT_FOUND, format!("order {raw} not found")))
}

pub(super) async fn ctl_customer(State(s): State<SharedState>, body: Bytes) -> Response {
    match ctl_body::<StorefrontCustomer>(&body) {
        Ok(req) => ctl_result(s.magento_storefront_customer(&req)),
        Err(r) => r,
    }
}

pub(super) async fn ctl_edit_order(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let id = match path_id(&params) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match ctl_body::<OrderEdit>(&body) {
        Ok(e) => ctl_result(s.magento_edit_order(id, &e)),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct StatusBody {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

pub(super) async fn ctl_order_status(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let id = match path_id(&params) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let b: StatusBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if b.status.is_none() && b.state.is_none() {
        return ctl_error(StatusCode::BAD_REQUEST, "status or state is required");
    }
    ctl_result(s.magento_set_order_status(id, b.status.as_deref(), b.state.as_deref()))
}

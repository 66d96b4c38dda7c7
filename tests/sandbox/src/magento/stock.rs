//! Magento stock beyond reading: MSI source-item saves on several sources (with the Web API input
//! limit), the legacy CatalogInventory stock item (`/V1/stockItems/{sku}`,
//! `/V1/products/{sku}/stockItems/{itemId}`) kept in sync with the `default` source item, a log of
//! every stock write, and the catalogue/source controls used by load tests.
//!
//! Findings from magento/inventory that shape this module:
//! - `SourceItemsSaveHandler::execute`: empty input → "Input data is empty"; the validator chain
//!   (SKU, source code, quantity, status) runs on every item first ("Validation Failed: …"), then
//!   one multi-row insert; any database failure → `CouldNotSaveException` "Could not save Source
//!   Item". No validator checks that the source exists (the foreign key refuses the insert), nor
//!   that the SKU is in the catalogue: a source item for an unknown SKU is saved
//!   (magento/inventory#889 removed the catalogue cross-check; magento/magento2#38154 and #30274
//!   report the 200 for a non-existent SKU).
//! - `SetDataToLegacyCatalogInventoryAtSourceItemsSavePlugin`: only items on the default source of
//!   a product that exists are copied to the legacy stock item;
//!   `UpdateSourceItemAtLegacyStockItemSavePlugin`: a legacy stock item save updates the default
//!   source item.
//! - magento/magento2 `Framework/Webapi/Validator/EntityArrayValidator`: an input array longer than
//!   the limit → 400 `Maximum items of type "%type" is %max`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{auth, bad, err_params, required};
use super::erp::{si_key, source_item};
use super::{mg_time, MgState, DEFAULT_SOURCE, DEFAULT_STOCK_ID};
use crate::core::{num, num_dp, parse_bool, parse_decimal, parse_i64, SharedState, Vendor};
use crate::inspect::{ctl_body, ctl_error};

const V: Vendor = Vendor::Magento;

/// The type Magento names in the input-limit error for `sourceItems`.
pub const SOURCE_ITEM_TYPE: &str = "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface";

pub(super) fn product_missing() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "message": "The product that was requested doesn't exist. Verify the product and try again." })),
    )
        .into_response()
}

/// 400 `{"message":"Maximum items of type \"%type\" is %max","parameters":{"type":…,"max":N}}`.
pub(super) fn over_input_limit(type_name: &str, max: usize) -> Response {
    err_params(
        StatusCode::BAD_REQUEST,
        "Maximum items of type \"%type\" is %max",
        json!({ "type": type_name, "max": max }),
    )
}

impl MgState {
    /// Append to the stock-write log.
    pub(crate) fn log_stock_write(&mut self, item: &Value, via: &str) {
        self.stock_writes.push(json!({
            "sku": item["sku"], "source_code": item["source_code"], "quantity": item["quantity"],
            "status": item["status"], "via": via,
            "at": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        }));
    }

    /// The legacy StockItemInterface of a catalogue product: quantity and status from its
    /// `default` source item (0 / out of stock without one).
    pub fn legacy_stock_item(&self, sku: &str) -> Option<Value> {
        let p = self.products.get(sku)?;
        let id = p["id"].as_i64().unwrap_or(0);
        let item = self.source_items.get(&si_key(sku, DEFAULT_SOURCE));
        let qty = item.and_then(|i| parse_decimal(&i["quantity"])).unwrap_or(Decimal::ZERO);
        let in_stock = item.is_some_and(|i| i["status"].as_i64() == Some(1));
        Some(json!({
            "item_id": id, "product_id": id, "stock_id": DEFAULT_STOCK_ID, "qty": num(qty),
            "is_in_stock": in_stock, "is_qty_decimal": false, "show_default_notification_message": false,
            "use_config_min_qty": true, "min_qty": 0, "use_config_min_sale_qty": 1, "min_sale_qty": 1,
            "use_config_max_sale_qty": true, "max_sale_qty": 10000, "use_config_backorders": true,
            "backorders": 0, "use_config_notify_stock_qty": true, "notify_stock_qty": 1,
            "use_config_qty_increments": true, "qty_increments": 0, "use_config_enable_qty_inc": true,
            "enable_qty_increments": false, "use_config_manage_stock": true, "manage_stock": true,
            "low_stock_date": null, "is_decimal_divided": false, "stock_status_changed_auto": 0,
        }))
    }
}

/// `GET /V1/stockItems/{sku}`: the legacy stock item; unknown SKU → 404 (product message).
pub(super) async fn get_stock_item(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let sku = params.get("sku").cloned().unwrap_or_default();
    match s.magento().legacy_stock_item(&sku) {
        Some(v) => Json(v).into_response(),
        None => product_missing(),
    }
}

/// `PUT /V1/products/{sku}/stockItems/{itemId}` `{"stockItem":{"qty":N,"is_in_stock":bool}}`:
/// updates the legacy stock item and, through it, the `default` source item; answers the item
/// id as a JSON number.
pub(super) async fn put_stock_item(
    State(s): State<SharedState>,
    Path(params): Path<BTreeMap<String, String>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = auth(&s, &h, &params) {
        return r;
    }
    let sku = params.get("sku").cloned().unwrap_or_default();
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("Decoding error: {e}")),
    };
    let Some(si) = v.get("stockItem").filter(|x| x.is_object()) else {
        return required("stockItem");
    };
    let qty = match si.get("qty").filter(|q| !q.is_null()) {
        None => None,
        Some(q) => match parse_decimal(q) {
            Some(d) if d.abs() < Decimal::from(1_000_000_000i64) => Some(d),
            _ => return bad("The \"stockItem.qty\" value's type is invalid."),
        },
    };
    let in_stock = match si.get("is_in_stock").filter(|q| !q.is_null()) {
        None => None,
        Some(b) => match parse_bool(b) {
            Some(b) => Some(b),
            None => return bad("The \"stockItem.is_in_stock\" value's type is invalid."),
        },
    };
    let (item_id, item) = {
        let mut st = s.magento();
        let Some(cur) = st.legacy_stock_item(&sku) else {
            return product_missing();
        };
        let q = qty.or_else(|| parse_decimal(&cur["qty"])).unwrap_or(Decimal::ZERO);
        let status = match in_stock.or_else(|| cur["is_in_stock"].as_bool()) {
            Some(true) => 1,
            _ => 0,
        };
        let item = source_item(&sku, DEFAULT_SOURCE, q, status);
        st.source_items.insert(si_key(&sku, DEFAULT_SOURCE), item.clone());
        st.log_stock_write(&item, "stock-item");
        (cur["item_id"].as_i64().unwrap_or(0), item)
    };
    s.record_write(V, "stock_item", &sku, json!({ "qty": item["quantity"], "status": item["status"] }));
    Json(json!(item_id)).into_response()
}

/// `POST /V1/inventory/source-items {"sourceItems":[{sku, source_code, quantity, status}]}`:
/// absolute quantities on any existing source; the input limit first, then every item
/// validated before any is saved; empty answer.
pub(super) async fn save_source_items(
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
    let Some(items) = v.get("sourceItems").and_then(Value::as_array) else {
        return required("sourceItems");
    };
    if let Some(max) = s.magento().input_limit {
        if items.len() > max {
            return over_input_limit(SOURCE_ITEM_TYPE, max);
        }
    }
    if items.is_empty() {
        return bad("Input data is empty");
    }
    let mut parsed = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let Some(sku) = it.get("sku").and_then(Value::as_str).filter(|x| !x.is_empty()) else {
            return required(&format!("sourceItems[{i}].sku"));
        };
        let Some(code) = it.get("source_code").and_then(Value::as_str).filter(|x| !x.is_empty()) else {
            return required(&format!("sourceItems[{i}].source_code"));
        };
        let qty = match it.get("quantity").filter(|q| !q.is_null()) {
            None => None,
            Some(q) => match parse_decimal(q) {
                Some(d) if d.abs() < Decimal::from(1_000_000_000i64) => Some(d),
                _ => return bad(format!("The \"sourceItems[{i}].quantity\" value's type is invalid.")),
            },
        };
        let status = match it.get("status").filter(|q| !q.is_null()).map(parse_i64) {
            None => None,
            Some(Some(x @ (0 | 1))) => Some(x),
            Some(_) => return bad(format!("Validation Failed: \"status\" should be 0 or 1 (sourceItems[{i}]).")),
        };
        parsed.push((sku.to_string(), code.to_string(), qty, status));
    }
    let saved = {
        let mut st = s.magento();
        // The insert is one statement: a source that does not exist fails it (foreign key), so
        // nothing is saved.
        if parsed.iter().any(|(_, code, _, _)| !st.sources.contains_key(code)) {
            return bad("Could not save Source Item");
        }
        let mut saved = Vec::new();
        for (sku, code, qty, status) in &parsed {
            let key = si_key(sku, code);
            let cur = st.source_items.get(&key).cloned();
            let q = qty.or_else(|| cur.as_ref().and_then(|c| parse_decimal(&c["quantity"]))).unwrap_or(Decimal::ZERO);
            let stt = status.or_else(|| cur.as_ref().and_then(|c| c["status"].as_i64())).unwrap_or(1);
            let item = source_item(sku, code, q, stt);
            st.source_items.insert(key, item.clone());
            st.log_stock_write(&item, "source-items");
            saved.push(item);
        }
        saved
    };
    for item in &saved {
        let sku = item["sku"].as_str().unwrap_or("");
        s.record_write(
            V,
            "source_item",
            sku,
            json!({ "source_code": item["source_code"], "quantity": item["quantity"] }),
        );
    }
    StatusCode::OK.into_response()
}

// ------------------------------------------------------------------------------------------
// Control API
// ------------------------------------------------------------------------------------------

impl SharedState {
    /// The stock-write log: `[{sku, source_code, quantity, status, via, at}]`.
    pub fn magento_stock_writes(&self) -> Vec<Value> {
        self.magento().stock_writes.clone()
    }

    /// Add (or replace) an MSI source; `stock_id` 1 assigns it to the default stock (counted in
    /// salable quantity), any other value leaves it unassigned.
    pub fn magento_add_source(&self, code: &str, name: Option<&str>, stock_id: Option<i64>) -> Value {
        let source = json!({
            "source_code": code, "name": name.unwrap_or(code), "enabled": true, "country_id": "US",
            "postcode": "00000", "stock_id": stock_id.unwrap_or(DEFAULT_STOCK_ID),
        });
        self.magento().sources.insert(code.to_string(), source.clone());
        source
    }

    /// Add catalogue products (simple, website 1) with `qty` on the `default` source (status 1
    /// when qty > 0). An existing SKU keeps its id and gets the new name/price/quantity.
    pub fn magento_add_products(&self, products: &[NewProduct]) -> usize {
        let mut st = self.magento();
        let mut next_id = st.products.values().filter_map(|p| p["id"].as_i64()).max().unwrap_or(0) + 1;
        let now = mg_time(&Utc::now());
        for p in products {
            let id = match st.products.get(&p.sku).and_then(|x| x["id"].as_i64()) {
                Some(id) => id,
                None => {
                    next_id += 1;
                    next_id - 1
                }
            };
            st.products.insert(
                p.sku.clone(),
                json!({
                    "id": id, "sku": p.sku, "name": p.name.clone().unwrap_or_else(|| p.sku.clone()),
                    "attribute_set_id": 4, "price": num_dp(p.price.unwrap_or(Decimal::ZERO), 4),
                    "status": 1, "visibility": 4, "type_id": "simple", "weight": 1,
                    "created_at": now, "updated_at": now,
                    "extension_attributes": { "website_ids": [1], "category_links": [] },
                    "product_links": [], "options": [], "media_gallery_entries": [], "tier_prices": [],
                    "custom_attributes": [{ "attribute_code": "url_key", "value": p.sku.to_ascii_lowercase() }],
                }),
            );
            let qty = p.qty.unwrap_or(Decimal::ZERO);
            let status = if qty > Decimal::ZERO { 1 } else { 0 };
            st.source_items.insert(si_key(&p.sku, DEFAULT_SOURCE), source_item(&p.sku, DEFAULT_SOURCE, qty, status));
        }
        products.len()
    }
}

/// One product of `POST /_sandbox/products`.
#[derive(Clone, Debug, Deserialize)]
pub struct NewProduct {
    pub sku: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub qty: Option<Decimal>,
}

#[derive(Deserialize)]
struct ProductsBody {
    products: Vec<NewProduct>,
}

pub(super) async fn ctl_add_products(State(s): State<SharedState>, body: Bytes) -> Response {
    let b: ProductsBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(i) = b.products.iter().position(|p| p.sku.trim().is_empty()) {
        return ctl_error(StatusCode::BAD_REQUEST, format!("products[{i}].sku is empty"));
    }
    let n = s.magento_add_products(&b.products);
    let total = s.magento().products.len();
    Json(json!({ "added": n, "products": total })).into_response()
}

pub(super) async fn ctl_stock_writes(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.magento_stock_writes()))
}

pub(super) async fn ctl_clear_stock_writes(State(s): State<SharedState>) -> Json<Value> {
    let mut st = s.magento();
    let n = st.stock_writes.len();
    st.stock_writes.clear();
    Json(json!({ "cleared": n }))
}

pub(super) async fn ctl_sources(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.magento().sources.values().cloned().collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct SourceBody {
    source_code: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    stock_id: Option<i64>,
}

pub(super) async fn ctl_add_source(State(s): State<SharedState>, body: Bytes) -> Response {
    let b: SourceBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if b.source_code.trim().is_empty() || b.source_code.contains(char::is_whitespace) {
        return ctl_error(StatusCode::BAD_REQUEST, "source_code must be non-empty without whitespace");
    }
    Json(s.magento_add_source(&b.source_code, b.name.as_deref(), b.stock_id)).into_response()
}

pub(super) async fn ctl_input_limit(State(s): State<SharedState>) -> Json<Value> {
    Json(json!({ "limit": s.magento().input_limit }))
}

#[derive(Deserialize)]
struct LimitBody {
    limit: Option<usize>,
}

pub(super) async fn ctl_set_input_limit(State(s): State<SharedState>, body: Bytes) -> Response {
    let b: LimitBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.magento().input_limit = b.limit;
    Json(json!({ "limit": b.limit })).into_response()
}

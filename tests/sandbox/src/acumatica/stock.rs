//! Acumatica inventory availability: on-hand per (InventoryID, WarehouseID), allocations from
//! open sales-order lines and unconfirmed shipments, issues by confirmed shipments, and the two
//! inquiries a client reads it through (`PUT InventoryQuantityAvailable`, `PUT
//! InventorySummaryInquiry`; inquiries are always called with PUT, doc B.2), plus the warehouse
//! controls (bulk stock items, on-hand adjustments with a push notification).
//!
//! Quantities are derived, not stored, so every existing path (API PUTs, ERP-entered orders,
//! shipments created / confirmed / canceled, cancellations) moves them without hooks:
//! - QtyOnHand = the level's base − Σ `ShippedQty` of Confirmed / Completed / Invoiced shipments
//!   of the item in that warehouse (a confirmation issues the stock);
//! - allocated = Σ `OpenQty` of the item's lines (line `WarehouseID`, else the order's, else
//!   `MAIN`) on orders not Canceled / Completed / Invoiced / Closed, + Σ `ShippedQty` on Open / On
//!   Hold / Shipping shipments;
//! - QtyAvailable = QtyOnHand − allocated; QtyAvailableForShipment = QtyOnHand − what unconfirmed
//!   shipments hold;
//! - LastModifiedDateTime of (item, warehouse) = the latest of: its on-hand change, the
//!   `LastModified` of any order with a line of it, the `LastModifiedDateTime` of any shipment
//!   with a detail of it (so it can move without the quantity changing; never misses a change,
//!   except a line deleted from an order, which is not reflected).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{annotate, Shape};
use super::{filter, val_dec, val_str, w, AcState};
use crate::core::{num, SharedState, Vendor};
use crate::inspect::{ctl_body, ctl_error};

const V: Vendor = Vendor::Acumatica;

/// On hand of every seeded stock item in `MAIN`.
pub const SEEDED_ON_HAND: i64 = 100;
/// Query name of the stock push notification (`POST /_sandbox/stock/adjust`).
pub const STOCK_QUERY: &str = "OB-StockAvailability";
/// The single warehouse location rows are reported in.
const DEFAULT_LOCATION: &str = "R1S1";

/// On hand of one (item, warehouse) before issues, and when it was last set.
#[derive(Clone, Debug)]
pub struct StockLevel {
    pub base: Decimal,
    pub modified: DateTime<Utc>,
}

/// Availability of one (item, warehouse).
#[derive(Clone, Debug, PartialEq)]
pub struct Availability {
    pub inventory_id: String,
    pub warehouse_id: String,
    pub on_hand: Decimal,
    pub allocated: Decimal,
    /// Held by unconfirmed shipments (part of `allocated`).
    pub on_shipments: Decimal,
    pub modified: DateTime<Utc>,
}

impl Availability {
    pub fn available(&self) -> Decimal {
        self.on_hand - self.allocated
    }
}

#[derive(Default)]
struct Acc {
    issued: Decimal,
    allocated: Decimal,
    on_shipments: Decimal,
    stamp: Option<DateTime<Utc>>,
}

fn stamp_of(v: &Value, field: &str) -> Option<DateTime<Utc>> {
    val_str(v, field).and_then(|s| filter::parse_dt(&s)).map(|d| d.with_timezone(&Utc))
}

impl AcState {
    /// Availability per (item, warehouse), in key order.
    pub fn availability(&self) -> Vec<Availability> {
        let mut acc: BTreeMap<(String, String), Acc> = BTreeMap::new();
        let mut touch = |key: (String, String), f: &dyn Fn(&mut Acc), at: Option<DateTime<Utc>>| {
            let a = acc.entry(key).or_default();
            f(a);
            if at > a.stamp {
                a.stamp = at;
            }
        };
        for so in self.sales_orders.values() {
            let open = !matches!(
                val_str(so, "Status").as_deref(),
                Some("Canceled" | "Cancelled" | "Completed" | "Invoiced" | "Closed")
            );
            let at = stamp_of(so, "LastModified");
            let order_wh = val_str(so, "WarehouseID");
            for l in so.get("Details").and_then(Value::as_array).into_iter().flatten() {
                let Some(inv) = val_str(l, "InventoryID") else { continue };
                let wh = val_str(l, "WarehouseID").or_else(|| order_wh.clone()).unwrap_or_else(|| "MAIN".into());
                let q = if open {
                    val_dec(l, "OpenQty").unwrap_or(Decimal::ZERO).max(Decimal::ZERO)
                } else {
                    Decimal::ZERO
                };
                touch((inv, wh), &|a| a.allocated += q, at);
            }
        }
        for sh in self.shipments.values() {
            let status = val_str(sh, "Status").unwrap_or_default();
            let confirmed = matches!(status.as_str(), "Confirmed" | "Completed" | "Invoiced");
            let pending = matches!(status.as_str(), "Open" | "On Hold" | "Shipping");
            let at = stamp_of(sh, "LastModifiedDateTime");
            let sh_wh = val_str(sh, "WarehouseID");
            for d in sh.get("Details").and_then(Value::as_array).into_iter().flatten() {
                let Some(inv) = val_str(d, "InventoryID") else { continue };
                let wh = val_str(d, "WarehouseID").or_else(|| sh_wh.clone()).unwrap_or_else(|| "MAIN".into());
                let q = val_dec(d, "ShippedQty").unwrap_or(Decimal::ZERO);
                touch(
                    (inv, wh),
                    &|a| {
                        if confirmed {
                            a.issued += q;
                        } else if pending {
                            a.allocated += q;
                            a.on_shipments += q;
                        }
                    },
                    at,
                );
            }
        }
        let mut keys: Vec<(String, String)> = self.stock_levels.keys().cloned().collect();
        keys.extend(acc.keys().filter(|k| !self.stock_levels.contains_key(*k)).cloned());
        keys.sort();
        keys.into_iter()
            .map(|k| {
                let level = self.stock_levels.get(&k);
                let a = acc.get(&k);
                let base = level.map(|l| l.base).unwrap_or(Decimal::ZERO);
                let modified = [level.map(|l| l.modified), a.and_then(|a| a.stamp)]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                Availability {
                    on_hand: base - a.map(|a| a.issued).unwrap_or(Decimal::ZERO),
                    allocated: a.map(|a| a.allocated).unwrap_or(Decimal::ZERO),
                    on_shipments: a.map(|a| a.on_shipments).unwrap_or(Decimal::ZERO),
                    modified,
                    inventory_id: k.0,
                    warehouse_id: k.1,
                }
            })
            .collect()
    }

    /// Availability of one (item, warehouse).
    pub fn availability_of(&self, inventory_id: &str, warehouse_id: &str) -> Option<Availability> {
        self.availability().into_iter().find(|a| a.inventory_id == inventory_id && a.warehouse_id == warehouse_id)
    }

    /// An instant in the instance time zone, with offset (the API's datetime form).
    pub fn local(&self, d: &DateTime<Utc>) -> String {
        d.with_timezone(&self.tz).to_rfc3339_opts(SecondsFormat::Millis, false)
    }

    /// A datetime value sent by a client: with an offset, or offset-less in the instance time zone.
    fn parse_client_dt(&self, s: &str) -> Option<DateTime<Utc>> {
        if let Ok(d) = DateTime::parse_from_rfc3339(s) {
            return Some(d.with_timezone(&Utc));
        }
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .or_else(|| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
            .and_then(|n| self.tz.from_local_datetime(&n).earliest())
            .map(|d| d.with_timezone(&Utc))
    }
}

/// 422 with the body echoed, the error in the field and at the entity level (the sandbox's
/// selector-error form, as for SalesOrder).
fn refuse(body: &Value, field: &str, msg: &str, entity: &str) -> Response {
    let mut echoed = body.clone();
    annotate(&mut echoed, &[field], msg);
    echoed["error"] = json!(format!(
        "Updating '{entity}' record raised at least one error. Please review the errors.\n{field}: {msg}"
    ));
    (StatusCode::UNPROCESSABLE_ENTITY, Json(echoed)).into_response()
}

fn expanded(sh: &Shape, name: &str) -> bool {
    sh.expand.iter().any(|e| e.eq_ignore_ascii_case(name))
}

/// `PUT …/InventoryQuantityAvailable` and `PUT …/InventorySummaryInquiry`.
pub(super) fn put_inquiry(s: &SharedState, entity: &str, body: &Value, sh: &Shape) -> Response {
    let st = s.acumatica();
    let inventory = val_str(body, "InventoryID").filter(|x| !x.is_empty());
    if let Some(inv) = &inventory {
        if !st.stock_items.contains_key(inv) {
            let label = if entity == "InventorySummaryInquiry" {
                "Inventory Summary Inquiry"
            } else {
                "Inventory Quantity Available"
            };
            return refuse(body, "InventoryID", &format!("Inventory ID '{inv}' cannot be found in the system."), label);
        }
    }
    if entity == "InventoryQuantityAvailable" {
        let since = match val_str(body, "LastModifiedDateTime") {
            None => None,
            Some(raw) => match st.parse_client_dt(&raw) {
                Some(d) => Some(d),
                None => {
                    return refuse(
                        body,
                        "LastModifiedDateTime",
                        &format!("'{raw}' is not a valid date."),
                        "Inventory Quantity Available",
                    )
                }
            },
        };
        // Per item: Σ QtyAvailable over warehouses, the latest change of any of them.
        let mut per_item: BTreeMap<String, (Decimal, DateTime<Utc>)> = BTreeMap::new();
        for a in st.availability() {
            if inventory.as_ref().is_some_and(|i| *i != a.inventory_id) {
                continue;
            }
            let e = per_item.entry(a.inventory_id.clone()).or_insert((Decimal::ZERO, DateTime::<Utc>::MIN_UTC));
            e.0 += a.available();
            e.1 = e.1.max(a.modified);
        }
        let mut out = json!({
            "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1,
            "InventoryID": body.get("InventoryID").cloned().unwrap_or(json!({})),
            "LastModifiedDateTime": body.get("LastModifiedDateTime").cloned().unwrap_or(json!({})),
            "custom": {},
        });
        if expanded(sh, "Results") {
            let rows: Vec<Value> = per_item
                .into_iter()
                .filter(|(_, (_, m))| since.is_none_or(|s| *m >= s))
                .enumerate()
                .map(|(n, (inv, (qty, m)))| {
                    json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": n + 1,
                        "InventoryID": w(inv), "QtyAvailable": w(num(qty)), "LastModifiedDateTime": w(st.local(&m)),
                    })
                })
                .collect();
            out["Results"] = json!(rows);
        }
        return Json(out).into_response();
    }
    // InventorySummaryInquiry: one row per warehouse of the item.
    let Some(inv) = inventory else {
        return refuse(body, "InventoryID", "'Inventory ID' cannot be empty.", "Inventory Summary Inquiry");
    };
    let warehouse = val_str(body, "WarehouseID").filter(|x| !x.is_empty());
    if let Some(wh) = &warehouse {
        if !st.warehouses.contains(wh) {
            return refuse(
                body,
                "WarehouseID",
                &format!("Warehouse '{wh}' cannot be found in the system."),
                "Inventory Summary Inquiry",
            );
        }
    }
    let uom = st.stock_items.get(&inv).and_then(|i| val_str(i, "BaseUOM")).unwrap_or_else(|| "EA".into());
    let mut out = json!({
        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1,
        "InventoryID": w(inv.clone()),
        "WarehouseID": body.get("WarehouseID").cloned().unwrap_or(json!({})),
        "LocationID": body.get("LocationID").cloned().unwrap_or(json!({})),
        "custom": {},
    });
    if expanded(sh, "Results") {
        let rows: Vec<Value> = st
            .availability()
            .into_iter()
            .filter(|a| a.inventory_id == inv && warehouse.as_ref().is_none_or(|wh| *wh == a.warehouse_id))
            .enumerate()
            .map(|(n, a)| {
                json!({
                    "id": uuid::Uuid::new_v4().to_string(), "rowNumber": n + 1,
                    "WarehouseID": w(a.warehouse_id.clone()), "LocationID": w(DEFAULT_LOCATION),
                    "QtyOnHand": w(num(a.on_hand)), "QtyAvailable": w(num(a.available())),
                    "QtyAvailableForShipment": w(num(a.on_hand - a.on_shipments)),
                    "QtyNotAvailable": w(0), "BaseUOM": w(uom.clone()),
                })
            })
            .collect();
        out["Results"] = json!(rows);
    }
    Json(out).into_response()
}

// ------------------------------------------------------------------------------------------
// Warehouse activity (Rust API and control routes)
// ------------------------------------------------------------------------------------------

/// One item of `POST /_sandbox/stock-items/bulk`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BulkStockItem {
    #[serde(rename = "InventoryID")]
    pub inventory_id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub qty_on_hand: Option<Decimal>,
    #[serde(default, rename = "WarehouseID")]
    pub warehouse_id: Option<String>,
    #[serde(default)]
    pub default_price: Option<Decimal>,
}

/// One row of `POST /_sandbox/stock/adjust`: the new absolute on-hand.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StockAdjustment {
    #[serde(rename = "InventoryID")]
    pub inventory_id: String,
    #[serde(default = "main_wh", rename = "WarehouseID")]
    pub warehouse_id: String,
    pub qty_on_hand: Decimal,
}

fn main_wh() -> String {
    "MAIN".into()
}

fn push_row(a: &Availability) -> Value {
    json!({ "InventoryID": a.inventory_id, "WarehouseID": a.warehouse_id, "QtyAvailable": num(a.available()) })
}

impl SharedState {
    /// Add stock items (ItemStatus Active, class GOODS, base UOM EA) with on-hand in their
    /// warehouse (default MAIN; a new warehouse id is created). An existing item gets the new
    /// description and on-hand. Returns how many were given.
    pub fn acumatica_add_stock_items(&self, items: &[BulkStockItem]) -> usize {
        let mut st = self.acumatica();
        let now = st.now();
        let at = Utc::now();
        // What confirmed shipments already issued per (item, warehouse), computed once.
        let issued: BTreeMap<(String, String), Decimal> = st
            .availability()
            .into_iter()
            .map(|a| {
                let key = (a.inventory_id.clone(), a.warehouse_id.clone());
                let base = st.stock_levels.get(&key).map(|l| l.base).unwrap_or(Decimal::ZERO);
                (key, base - a.on_hand)
            })
            .collect();
        for it in items {
            let wh = it.warehouse_id.clone().unwrap_or_else(main_wh);
            st.warehouses.insert(wh.clone());
            let desc = it.description.clone().unwrap_or_else(|| it.inventory_id.clone());
            match st.stock_items.get_mut(&it.inventory_id) {
                Some(rec) => {
                    rec["Description"] = w(desc);
                    rec["LastModified"] = w(now.clone());
                }
                None => {
                    let rec = json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1, "note": w(""),
                        "InventoryID": w(it.inventory_id.clone()), "Description": w(desc),
                        "ItemStatus": w("Active"), "ItemClass": w("GOODS"), "BaseUOM": w("EA"),
                        "DefaultPrice": w(num(it.default_price.unwrap_or(Decimal::ZERO))),
                        "DefaultWarehouseID": w(wh.clone()), "LastModified": w(now.clone()),
                        "LastModifiedDateTime": w(now.clone()), "CrossReferences": [],
                    });
                    st.stock_items.insert(it.inventory_id.clone(), rec);
                }
            }
            let key = (it.inventory_id.clone(), wh);
            let base = it.qty_on_hand.unwrap_or(Decimal::ZERO) + issued.get(&key).copied().unwrap_or(Decimal::ZERO);
            st.stock_levels.insert(key, StockLevel { base, modified: at });
        }
        items.len()
    }

    /// Set on-hand quantities (a physical count or receipt): each (item, warehouse) gets the new
    /// QtyOnHand and its LastModifiedDateTime; one `OB-StockAvailability` push with the changed
    /// rows (old values in `Deleted`, new ones in `Inserted`, one `Id`). Unknown item → error.
    pub fn acumatica_adjust_stock(&self, adjustments: &[StockAdjustment]) -> Result<Vec<Availability>, String> {
        let (before, after) = {
            let mut st = self.acumatica();
            if let Some(a) = adjustments.iter().find(|a| !st.stock_items.contains_key(&a.inventory_id)) {
                return Err(format!("stock item {} not found", a.inventory_id));
            }
            let before = st.availability();
            let at = Utc::now();
            for a in adjustments {
                st.warehouses.insert(a.warehouse_id.clone());
                let key = (a.inventory_id.clone(), a.warehouse_id.clone());
                let current = before.iter().find(|x| x.inventory_id == key.0 && x.warehouse_id == key.1);
                let issued =
                    current.map(|c| st.stock_levels.get(&key).map(|l| l.base).unwrap_or(Decimal::ZERO) - c.on_hand);
                let base = a.qty_on_hand + issued.unwrap_or(Decimal::ZERO);
                st.stock_levels.insert(key, StockLevel { base, modified: at });
            }
            (before, st.availability())
        };
        let touched = |a: &Availability| {
            adjustments.iter().any(|x| x.inventory_id == a.inventory_id && x.warehouse_id == a.warehouse_id)
        };
        let new_rows: Vec<&Availability> = after.iter().filter(|a| touched(a)).collect();
        let (mut inserted, mut deleted) = (Vec::new(), Vec::new());
        for n in &new_rows {
            let old = before.iter().find(|b| b.inventory_id == n.inventory_id && b.warehouse_id == n.warehouse_id);
            if old.map(Availability::available) != Some(n.available()) {
                inserted.push(push_row(n));
                if let Some(o) = old {
                    deleted.push(push_row(o));
                }
            }
        }
        for a in adjustments {
            self.record_write(
                V,
                "stock.adjust",
                &format!("{}/{}", a.inventory_id, a.warehouse_id),
                json!({ "QtyOnHand": num(a.qty_on_hand) }),
            );
        }
        if !inserted.is_empty() {
            self.acumatica_push(STOCK_QUERY, inserted, deleted);
        }
        Ok(new_rows.into_iter().cloned().collect())
    }
}

fn avail_json(st: &AcState, a: &Availability) -> Value {
    json!({
        "InventoryID": a.inventory_id, "WarehouseID": a.warehouse_id, "QtyOnHand": num(a.on_hand),
        "QtyAllocated": num(a.allocated), "QtyOnShipments": num(a.on_shipments),
        "QtyAvailable": num(a.available()), "LastModifiedDateTime": st.local(&a.modified),
    })
}

#[derive(Deserialize)]
struct BulkBody {
    items: Vec<BulkStockItem>,
}

pub(super) async fn ctl_bulk(State(s): State<SharedState>, body: Bytes) -> Response {
    let b: BulkBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(i) = b.items.iter().position(|x| x.inventory_id.trim().is_empty()) {
        return ctl_error(StatusCode::BAD_REQUEST, format!("items[{i}].InventoryID is empty"));
    }
    let n = s.acumatica_add_stock_items(&b.items);
    let total = s.acumatica().stock_items.len();
    Json(json!({ "added": n, "stock_items": total })).into_response()
}

#[derive(Deserialize)]
struct AdjustBody {
    adjustments: Vec<StockAdjustment>,
}

pub(super) async fn ctl_adjust(State(s): State<SharedState>, body: Bytes) -> Response {
    let b: AdjustBody = match ctl_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s.acumatica_adjust_stock(&b.adjustments) {
        Ok(rows) => {
            let st = s.acumatica();
            Json(json!({ "adjusted": rows.iter().map(|a| avail_json(&st, a)).collect::<Vec<_>>() })).into_response()
        }
        Err(m) => ctl_error(StatusCode::NOT_FOUND, m),
    }
}

pub(super) async fn ctl_stock_levels(State(s): State<SharedState>) -> Json<Value> {
    let st = s.acumatica();
    Json(json!(st.availability().iter().map(|a| avail_json(&st, a)).collect::<Vec<_>>()))
}

//! Acumatica contract-based REST simulator (Default endpoint 22.200.001 / 23.200.001 /
//! 24.200.001): cookie login/logout and OAuth 2.0 tokens counted against the licence's API-user
//! limit, SalesOrder (PUT insert-or-update with `If-None-Match`/`If-Match`, auto-numbering, selector
//! validation with per-field `error`), Customer, StockItem with UPC/EAN cross-references,
//! Shipment with packages and tracking numbers, `$filter/$expand/$select/$top/$skip`, the
//! `{"value": ...}` wrapper, custom fields, and push notifications on shipment confirmation and
//! order status changes. ERP-side activity (`erp.rs`): sales orders entered as in SO301000,
//! payments applied to them, SalesInvoice released from confirmed shipments. Shipping station
//! (`shipments.rs`): open shipments created for orders, `PUT Shipment` (Hold, ship-to, packages),
//! the `ConfirmShipment` action (202 + Location) and cancellation.

mod api;
mod erp;
pub mod filter;
pub mod schema;
mod shipments;
mod sim;
mod stock;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::config::SandboxConfig;
use crate::core::{num, parse_decimal};
use crate::seed::SeedData;

pub use api::{control_router, router, ConfirmShipment, ShipLine, ShipPackage};
pub use erp::{EnterLine, EnterOrder, ShipToOverride};
pub use shipments::{CreateShipment, NewPackage};
pub use sim::Sim;
pub use stock::{Availability, BulkStockItem, StockAdjustment, SEEDED_ON_HAND, STOCK_QUERY};

/// Endpoint versions served under `/entity/Default/{version}/`.
pub const ENDPOINT_VERSIONS: &[&str] = &["22.200.001", "23.200.001", "24.200.001"];

/// Payment methods that exist as selector values.
pub const PAYMENT_METHODS: &[&str] = &["CREDITCARD", "PAYPAL", "AMAZONPAY", "EBAYPAY", "WALMARTPAY", "CHECK", "CASH"];

/// Ship vias that exist as selector values.
pub const SHIP_VIAS: &[&str] =
    &["UPSGROUND", "UPSNEXTDAY", "FEDEX2DAY", "FEDEXGROUND", "USPSPRIORITY", "USPSFIRST", "WILLCALL", "LOCAL"];

/// `{"value": v}`.
pub fn w(v: impl Into<Value>) -> Value {
    json!({ "value": v.into() })
}

/// The unwrapped value of a top-level field.
pub fn val<'a>(e: &'a Value, field: &str) -> Option<&'a Value> {
    e.get(field).and_then(|f| f.get("value")).filter(|v| !v.is_null())
}

pub fn val_str(e: &Value, field: &str) -> Option<String> {
    val(e, field).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

pub fn val_dec(e: &Value, field: &str) -> Option<Decimal> {
    val(e, field).and_then(parse_decimal)
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user: String,
    pub last_seen: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct OAuthToken {
    pub user: String,
    pub expires: DateTime<Utc>,
}

/// In-memory Acumatica tenant.
#[derive(Debug)]
pub struct AcState {
    /// Keyed by `OrderType/OrderNbr`, e.g. `SO/SO000001`.
    pub sales_orders: BTreeMap<String, Value>,
    pub customers: BTreeMap<String, Value>,
    pub stock_items: BTreeMap<String, Value>,
    pub shipments: BTreeMap<String, Value>,
    /// SalesInvoice records keyed by `Type/ReferenceNbr`, e.g. `Invoice/INV000001`.
    pub invoices: BTreeMap<String, Value>,
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) tokens: HashMap<String, OAuthToken>,
    pub(crate) refresh_tokens: HashMap<String, String>,
    /// OAuth tokens issued, by grant type (`password`, `refresh_token`).
    pub tokens_issued: BTreeMap<String, u32>,
    next_so: u64,
    next_customer: u64,
    next_shipment: u64,
    next_invoice: u64,
    next_payment: u64,
    /// Sales orders and shipments created through the API (licence metering) [AC10].
    pub commercial_transactions: u64,
    pub tz: Tz,
    pub(crate) push_seq: i64,
    /// Long-running operations started by actions (202 + Location): id → polls still answering 202.
    pub(crate) operations: HashMap<String, u32>,
    /// On-hand per (InventoryID, WarehouseID), before confirmed shipments issue from it.
    pub stock_levels: BTreeMap<(String, String), stock::StockLevel>,
    /// Warehouse ids that exist (selector values of `WarehouseID`).
    pub warehouses: BTreeSet<String>,
    /// Customer updates through `PUT Customer`, by CustomerID.
    pub customer_updates: BTreeMap<String, u32>,
}

impl AcState {
    pub fn seeded(cfg: &SandboxConfig, data: &SeedData) -> Self {
        let mut s = Self {
            sales_orders: BTreeMap::new(),
            customers: BTreeMap::new(),
            stock_items: BTreeMap::new(),
            shipments: BTreeMap::new(),
            invoices: BTreeMap::new(),
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            tokens_issued: BTreeMap::new(),
            next_so: 1,
            next_customer: 1,
            next_shipment: 1,
            next_invoice: 1,
            next_payment: 1,
            commercial_transactions: 0,
            tz: cfg.acumatica_time_zone,
            push_seq: 0,
            operations: HashMap::new(),
            stock_levels: BTreeMap::new(),
            warehouses: ["MAIN", "RETAIL"].into_iter().map(String::from).collect(),
            customer_updates: BTreeMap::new(),
        };
        let now = s.now();
        for (i, p) in data.products.iter().enumerate() {
            let mut xrefs = Vec::new();
            let differs = p.erp_inventory_id != p.sku;
            // Items known under another id are linked only by barcode; a third of the others
            // also carry a UPC so identifier-priority matching has something to choose from.
            if differs || i % 3 == 0 {
                xrefs.push(json!({
                    "id": uuid_for("xref-upc", i), "rowNumber": 1,
                    "AlternateID": w(p.upc.clone()), "AlternateType": w("Barcode"),
                    "Description": w("UPC"), "UOM": w("EA"),
                }));
            }
            if differs {
                xrefs.push(json!({
                    "id": uuid_for("xref-ean", i), "rowNumber": 2,
                    "AlternateID": w(p.ean.clone()), "AlternateType": w("Barcode"),
                    "Description": w("EAN"), "UOM": w("EA"),
                }));
            }
            s.stock_items.insert(
                p.erp_inventory_id.clone(),
                json!({
                    "id": uuid_for("stock", i), "rowNumber": 1, "note": w(""),
                    "InventoryID": w(p.erp_inventory_id.clone()), "Description": w(p.name.clone()),
                    "ItemStatus": w("Active"), "ItemClass": w("GOODS"), "BaseUOM": w("EA"),
                    "DefaultPrice": w(num(p.price)), "DefaultWarehouseID": w("MAIN"),
                    "LastModified": w(now.clone()),
                    "CrossReferences": xrefs,
                }),
            );
        }
        // Items that exist only in the ERP (entered on ERP orders).
        for (i, it) in crate::seed::erp_items().iter().enumerate() {
            s.stock_items.entry(it.inventory_id.to_string()).or_insert_with(|| {
                json!({
                    "id": uuid_for("stock-erp", i), "rowNumber": 1, "note": w(""),
                    "InventoryID": w(it.inventory_id), "Description": w(it.description),
                    "ItemStatus": w("Active"), "ItemClass": w("GOODS"), "BaseUOM": w(it.base_uom),
                    "DefaultPrice": w(num(it.price)), "DefaultWarehouseID": w(it.warehouse),
                    "LastModified": w(now.clone()), "LastModifiedDateTime": w(now.clone()),
                    "CrossReferences": [],
                })
            });
        }
        // Every stock item starts with SEEDED_ON_HAND on hand in MAIN.
        let seeded_at = Utc::now();
        for inv in s.stock_items.keys().cloned().collect::<Vec<_>>() {
            s.stock_levels.insert(
                (inv, "MAIN".to_string()),
                stock::StockLevel { base: Decimal::from(SEEDED_ON_HAND), modified: seeded_at },
            );
        }
        // A handful of customers, the first ones matching channel buyer emails (repeat buyers
        // are drawn from the front of the pool, so these match often).
        for b in data.buyers.iter().take(12) {
            let id = s.next_customer_id();
            let a = &b.address;
            let mut c = customer_json(&id, &format!("{} {}", a.first_name, a.last_name), &b.email, &now);
            set_main_address(
                &mut c,
                &MainAddress {
                    line1: &a.line1,
                    line2: &a.line2,
                    city: &a.city,
                    state: &a.state,
                    postal: &a.postal,
                    country: &a.country,
                    phone: &a.phone,
                    company: &a.company,
                    attention: &format!("{} {}", a.first_name, a.last_name),
                },
            );
            c["CustomerClass"] = w("RETAIL");
            s.customers.insert(id, c);
        }
        // One catch-all customer for web-store guest checkouts.
        let id = s.next_customer_id();
        let mut guest = customer_json(&id, "Web Store Guest", "guest@webstore.example.com", &now);
        guest["CustomerClass"] = w("RETAIL");
        s.customers.insert(id, guest);
        // One customer per marketplace, as merchants set them up for marketplace orders (the
        // demo's sc-main mapping sends Amazon, eBay and Walmart orders to them).
        for (id, name, email) in [
            ("AMAZON", "Amazon Marketplace", "marketplace@amazon.example.com"),
            ("EBAY", "eBay Marketplace", "marketplace@ebay.example.com"),
            ("WALMART", "Walmart Marketplace", "marketplace@walmart.example.com"),
        ] {
            let mut c = customer_json(id, name, email, &now);
            c["CustomerClass"] = w("RETAIL");
            s.customers.insert(id.into(), c);
        }
        // A wholesale customer whose orders are entered in the ERP (SO301000), not on a channel.
        let mut aa = customer_json("AACUSTOMER", "Alta Ace", "ap@altaace.com", &now);
        aa["CustomerClass"] = w("WHOLESALE");
        set_main_address(
            &mut aa,
            &MainAddress {
                line1: "1200 Larimer St",
                line2: "Suite 400",
                city: "Denver",
                state: "CO",
                postal: "80204",
                country: "US",
                phone: "+1 303-555-0148",
                company: "Alta Ace",
                attention: "Accounts Payable",
            },
        );
        s.customers.insert("AACUSTOMER".into(), aa);
        s
    }

    /// Now in the instance time zone, with offset.
    pub fn now(&self) -> String {
        Utc::now().with_timezone(&self.tz).to_rfc3339_opts(SecondsFormat::Millis, false)
    }

    /// Today 00:00 local, the business-date form.
    pub fn today(&self) -> String {
        let local = Utc::now().with_timezone(&self.tz);
        format!("{}T00:00:00{}", local.format("%Y-%m-%d"), local.format("%:z"))
    }

    pub(crate) fn next_order_nbr(&mut self) -> String {
        let n = format!("SO{:06}", self.next_so);
        self.next_so += 1;
        n
    }

    pub(crate) fn next_customer_id(&mut self) -> String {
        let n = format!("C{:06}", self.next_customer);
        self.next_customer += 1;
        n
    }

    pub(crate) fn next_invoice_nbr(&mut self) -> String {
        let n = format!("INV{:06}", self.next_invoice);
        self.next_invoice += 1;
        n
    }

    pub(crate) fn next_payment_nbr(&mut self) -> String {
        let n = format!("{:06}", self.next_payment);
        self.next_payment += 1;
        n
    }

    /// Sales invoice by `ReferenceNbr` (type Invoice) — convenience for tests.
    pub fn sales_invoice(&self, reference_nbr: &str) -> Option<&Value> {
        self.invoices.get(&format!("Invoice/{reference_nbr}"))
    }

    /// Shipment by `ShipmentNbr` — convenience for tests.
    pub fn shipment(&self, shipment_nbr: &str) -> Option<&Value> {
        self.shipments.get(shipment_nbr)
    }

    pub(crate) fn next_shipment_nbr(&mut self) -> String {
        let n = format!("{:06}", self.next_shipment);
        self.next_shipment += 1;
        n
    }

    /// Sales order by `OrderNbr` (type SO) — convenience for tests.
    pub fn sales_order(&self, order_nbr: &str) -> Option<&Value> {
        self.sales_orders
            .get(&format!("SO/{order_nbr}"))
            .or_else(|| self.sales_orders.values().find(|o| val_str(o, "OrderNbr").as_deref() == Some(order_nbr)))
    }

    /// Sales orders whose `CustomerOrder` equals `reference`.
    pub fn sales_orders_by_customer_order(&self, reference: &str) -> Vec<&Value> {
        self.sales_orders.values().filter(|o| val_str(o, "CustomerOrder").as_deref() == Some(reference)).collect()
    }

    /// Inventory id of the stock item with a UPC/EAN cross-reference `code`.
    pub fn inventory_by_barcode(&self, code: &str) -> Option<String> {
        self.stock_items.values().find_map(|s| {
            let hit = s
                .get("CrossReferences")
                .and_then(Value::as_array)
                .is_some_and(|x| x.iter().any(|r| val_str(r, "AlternateID").as_deref() == Some(code)));
            hit.then(|| val_str(s, "InventoryID")).flatten()
        })
    }

    /// Sessions and tokens still holding a licence slot (none timed out yet): after a run, the
    /// ones a client never signed out of.
    pub fn api_users_signed_in(&mut self, idle: std::time::Duration) -> usize {
        self.active_api_users(idle)
    }

    /// Every OAuth access and refresh token issued and not yet replaced (tests look for them
    /// where they must not be).
    pub fn oauth_tokens(&self) -> Vec<String> {
        self.tokens.keys().chain(self.refresh_tokens.keys()).cloned().collect()
    }

    /// Ends every OAuth access and refresh token (an instance restart, an administrator's
    /// revocation): the next call with one is answered 401.
    pub fn revoke_tokens(&mut self) {
        self.tokens.clear();
        self.refresh_tokens.clear();
    }

    /// Active API users: live cookie sessions plus live OAuth tokens.
    pub(crate) fn active_api_users(&mut self, idle: std::time::Duration) -> usize {
        let now = Instant::now();
        self.sessions.retain(|_, s| now.duration_since(s.last_seen) < idle);
        let utc = Utc::now();
        self.tokens.retain(|_, t| t.expires > utc);
        self.sessions.len() + self.tokens.len()
    }
}

fn uuid_for(kind: &str, i: usize) -> String {
    // Stable ids for seeded records: deterministic per kind and index.
    let h = kind.bytes().fold(0xcbf2_9ce4_8422_2325u64, |a, b| (a ^ b as u64).wrapping_mul(0x100_0000_01b3));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        (i >> 12) & 0xfff,
        i & 0xfff,
        (h ^ i as u64) & 0xffff_ffff_ffff
    )
}

pub(crate) fn customer_json(id: &str, name: &str, email: &str, now: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1, "note": w(""),
        "CustomerID": w(id), "CustomerName": w(name), "CustomerClass": w("DEFAULT"),
        "Email": w(email), "Status": w("Active"), "Terms": w("30D"), "CurrencyID": w("USD"),
        "CreatedDateTime": w(now), "LastModifiedDateTime": w(now),
        "MainContact": { "Email": w(email), "DisplayName": w(name) },
    })
}

/// A customer's main address and contact details (seeded customers).
pub(crate) struct MainAddress<'a> {
    pub line1: &'a str,
    pub line2: &'a str,
    pub city: &'a str,
    pub state: &'a str,
    pub postal: &'a str,
    pub country: &'a str,
    pub phone: &'a str,
    pub company: &'a str,
    pub attention: &'a str,
}

/// Put `MainContact{Phone1, CompanyName, Attention, Address{...}}` on a customer.
pub(crate) fn set_main_address(c: &mut Value, a: &MainAddress<'_>) {
    let mc = &mut c["MainContact"];
    mc["Phone1"] = w(a.phone);
    mc["CompanyName"] = w(a.company);
    mc["Attention"] = w(a.attention);
    mc["Address"] = json!({
        "AddressLine1": w(a.line1), "AddressLine2": w(a.line2), "City": w(a.city),
        "State": w(a.state), "PostalCode": w(a.postal), "Country": w(a.country),
    });
}

/// Shape an entity for a response: wrapped fields always, linked objects and detail arrays only
/// when `$expand`ed (nested ones as `Packages/PackageContents`, like Acumatica), `$select`
/// narrowing fields (system fields always stay).
pub fn render(entity: &Value, expand: &[String], select: &[String]) -> Value {
    let Some(obj) = entity.as_object() else {
        return entity.clone();
    };
    // What `k/...` expands inside an expanded detail or linked object.
    let nested = |k: &str| -> Vec<String> {
        let prefix = format!("{}/", k.to_ascii_lowercase());
        expand
            .iter()
            .filter(|e| e.to_ascii_lowercase().starts_with(&prefix))
            .map(|e| e[prefix.len()..].to_owned())
            .collect()
    };
    // A nested path expands its parents too (`Packages/PackageContents` alone brings the
    // packages), as OData paths do.
    let expanded = |k: &str| expand.iter().any(|e| e.eq_ignore_ascii_case(k)) || !nested(k).is_empty();
    let selected_top: Vec<String> =
        select.iter().map(|s| s.split('/').next().unwrap_or("").to_ascii_lowercase()).collect();
    let mut out = Map::new();
    for (k, v) in obj {
        let system = matches!(k.as_str(), "id" | "rowNumber" | "note" | "custom" | "error" | "_links");
        let is_wrapped = v.as_object().is_some_and(|o| o.contains_key("value"));
        if !system && !select.is_empty() && !selected_top.contains(&k.to_ascii_lowercase()) {
            continue;
        }
        if system || is_wrapped {
            out.insert(k.clone(), v.clone());
        } else if expanded(k) {
            let inner = nested(k);
            let shaped = match v {
                Value::Array(items) => Value::Array(items.iter().map(|i| render(i, &inner, &[])).collect()),
                Value::Object(_) => render(v, &inner, &[]),
                other => other.clone(),
            };
            out.insert(k.clone(), shaped);
        }
    }
    Value::Object(out)
}

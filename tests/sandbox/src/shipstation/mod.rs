//! ShipStation V1 simulator: Basic auth, `POST /orders/createorder` (upsert on `orderKey`),
//! `createorders` (bulk), order list/detail, `markasshipped`, `GET /shipments` with the documented
//! filters (label shipments only), webhook subscriptions, `SHIP_NOTIFY` webhooks whose
//! `resource_url` points back at the sandbox's own `/shipments?...batchId=...` listing, the
//! 40-per-minute limit with `X-Rate-Limit-*` headers, and offset-less Pacific timestamps (the
//! `orderDate` in the store's time zone when one is configured). createorder validates the
//! required fields and the ship-to address; labels are refused for cancelled / on-hold orders and
//! incomplete addresses; voiding an order's last label returns it to awaiting_shipment.

mod api;
pub mod model;
mod sim;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::config::SandboxConfig;
use crate::core::num;
use crate::seed::{GenOrder, SeedData};

pub use api::{control_router, router, CreateShipments};
pub use sim::Sim;

/// Documented order statuses [SS5].
pub const ORDER_STATUSES: &[&str] =
    &["awaiting_payment", "awaiting_shipment", "pending_fulfillment", "shipped", "on_hold", "cancelled"];

/// Statuses `createorder` accepts in `orderStatus` (`pending_fulfillment` is set by ShipStation
/// for fulfillment providers, not by API clients) [SS5].
pub const CREATE_STATUSES: &[&str] = &["awaiting_payment", "awaiting_shipment", "shipped", "on_hold", "cancelled"];

/// Statuses in which `createorder` may still update an order [SS5].
pub const OPEN_STATUSES: &[&str] = &["awaiting_payment", "awaiting_shipment", "on_hold"];

/// An order plus the instants the filters work on.
#[derive(Clone, Debug)]
pub struct SsOrder {
    pub json: Value,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// In-memory ShipStation account.
#[derive(Debug)]
pub struct SsState {
    pub orders: BTreeMap<i64, SsOrder>,
    /// Label shipments (what `GET /shipments` returns), keyed by shipmentId.
    pub shipments: BTreeMap<i64, Value>,
    pub webhooks: BTreeMap<i64, Value>,
    pub tz: Tz,
    /// The store's "Configurable Time Zone": `orderDate` is read and returned in it. `None` = the
    /// account's Pacific convention ([`SsState::tz`]).
    pub store_tz: Option<Tz>,
    pub(crate) next_order: i64,
    pub(crate) next_item: i64,
    pub(crate) next_shipment: i64,
    pub(crate) next_batch: i64,
    pub(crate) next_hook: i64,
    pub store_id: i64,
}

/// ShipStation's wire datetime: Pacific, no offset, 7 fractional digits.
pub fn ss_time(tz: &Tz, d: &DateTime<Utc>) -> String {
    let l = d.with_timezone(tz);
    format!("{}.{:07}", l.format("%Y-%m-%dT%H:%M:%S"), l.nanosecond() / 100)
}

/// Parse a datetime parameter or field as Pacific local time.
pub fn parse_ss_time(tz: &Tz, s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let naive =
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    // Ambiguous local times (DST fall-back) resolve to the earlier instant.
    tz.from_local_datetime(&naive).earliest().map(|d| d.with_timezone(&Utc))
}

fn address(g: &GenOrder) -> Value {
    let a = &g.buyer.address;
    json!({
        "name": format!("{} {}", a.first_name, a.last_name), "company": a.company,
        "street1": a.line1, "street2": a.line2, "street3": null, "city": a.city,
        "state": a.state, "postalCode": a.postal, "country": a.country, "phone": a.phone,
        "residential": true, "addressVerified": "Address validated successfully",
    })
}

impl SsState {
    pub fn seeded(cfg: &SandboxConfig, data: &SeedData) -> Self {
        let mut s = Self {
            orders: BTreeMap::new(),
            shipments: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            tz: cfg.shipstation_time_zone,
            store_tz: cfg.shipstation_store_time_zone,
            next_order: 93_348_000,
            next_item: 128_000_000,
            next_shipment: 71_000_000,
            next_batch: 987_000,
            next_hook: 40_000,
            store_id: cfg.shipstation_store_id,
        };
        for g in &data.shipstation {
            let items: Vec<Value> = g
                .lines
                .iter()
                .map(|l| {
                    json!({ "lineItemKey": null, "sku": l.sku, "name": l.name, "quantity": l.qty,
                            "unitPrice": num(l.unit_price), "taxAmount": num(l.tax), "upc": l.upc })
                })
                .collect();
            let body = json!({
                "orderNumber": g.channel_order_id,
                "orderKey": format!("seed-{}", g.index),
                "orderDate": ss_time(&s.order_tz(), &g.created),
                "orderStatus": "awaiting_shipment",
                "customerEmail": g.buyer.email,
                "billTo": address(g),
                "shipTo": address(g),
                "items": items,
                "amountPaid": num(g.grand_total()),
                "taxAmount": num(g.tax()),
                "shippingAmount": num(g.shipping),
                "gift": g.gift_message.is_some(),
                "giftMessage": g.gift_message,
                "customerNotes": g.instructions,
                "requestedShippingService": g.ship_service,
            });
            let _ = s.upsert(&body, g.created);
        }
        s
    }

    /// The zone offset-less `orderDate` values are read and written in: the store's time zone
    /// when configured, else the account's (Pacific).
    pub fn order_tz(&self) -> Tz {
        self.store_tz.unwrap_or(self.tz)
    }

    /// `createorder` semantics: update the order with the same `orderKey`, else create.
    /// The body is read as the typed Order model ([`model`]): numbers and booleans sent as
    /// strings are converted and unknown fields dropped. Returns (order json, created?).
    pub fn upsert(&mut self, body: &Value, now: DateTime<Utc>) -> Result<(Value, bool), String> {
        let body = &model::order_from_request(body)?;
        let key = body.get("orderKey").and_then(Value::as_str).filter(|k| !k.is_empty()).map(str::to_string);
        let existing = key.as_ref().and_then(|k| {
            self.orders.iter().find(|(_, o)| o.json["orderKey"].as_str() == Some(k.as_str())).map(|(id, _)| *id)
        });
        if let Some(id) = existing {
            let status = self.orders[&id].json["orderStatus"].as_str().unwrap_or("").to_string();
            if !OPEN_STATUSES.contains(&status.as_str()) {
                return Err(format!("Order {id} is in status '{status}' and can no longer be updated."));
            }
        }
        let id = existing.unwrap_or_else(|| {
            let id = self.next_order;
            self.next_order += 1;
            id
        });
        let created = existing.map(|i| self.orders[&i].created).unwrap_or(now);
        let mut o = body.clone();
        // A store with its own time zone reads the offset-less orderDate in it and answers it in
        // ShipStation's wire form (7 fractional digits) in the same zone.
        if let Some(tz) = self.store_tz {
            if let Some(d) = o["orderDate"].as_str().and_then(|d| parse_ss_time(&tz, d)) {
                o["orderDate"] = json!(ss_time(&tz, &d));
            }
        }
        let items: Vec<Value> = body
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut it| {
                self.next_item += 1;
                it["orderItemId"] = json!(self.next_item);
                it["createDate"] = json!(ss_time(&self.tz, &now));
                it["modifyDate"] = json!(ss_time(&self.tz, &now));
                it
            })
            .collect();
        let qty: i64 = items.iter().filter_map(|i| i["quantity"].as_i64()).fold(0i64, i64::saturating_add);
        o["orderId"] = json!(id);
        o["orderKey"] = json!(key.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()));
        o["createDate"] = json!(ss_time(&self.tz, &created));
        o["modifyDate"] = json!(ss_time(&self.tz, &now));
        o["items"] = json!(items);
        o["orderTotal"] = o.get("amountPaid").cloned().filter(|v| !v.is_null()).unwrap_or(json!(0));
        o["userId"] = Value::Null;
        o["externallyFulfilled"] = json!(false);
        o["externallyFulfilledBy"] = Value::Null;
        o["labelMessages"] = Value::Null;
        if o["advancedOptions"].get("storeId").is_none_or(Value::is_null) {
            o["advancedOptions"]["storeId"] = json!(self.store_id);
        }
        o["weight"] = o
            .get("weight")
            .cloned()
            .filter(|w| !w.is_null())
            .unwrap_or(json!({ "value": qty.saturating_mul(16), "units": "ounces", "WeightUnits": 1 }));
        self.orders.insert(id, SsOrder { json: o.clone(), created, modified: now });
        Ok((o, existing.is_none()))
    }
}

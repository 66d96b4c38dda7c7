//! Magento 2 / Adobe Commerce REST simulator: admin token (and a standalone integration token),
//! order search with `searchCriteria` (OR within a filter group, AND across groups, the
//! last-page-repeat trap), order detail in the OrderInterface shape (configurable parent/child
//! rows, shipping address under `extension_attributes.shipping_assignments`), ERP-originated order
//! creation (`PUT /V1/orders/create`, `POST /V1/orders`), `order/{id}/ship` with tracks,
//! `order/{id}/invoice`, and status-history comments; for ERP-originated flows (`erp.rs`) the
//! catalogue, MSI source items / reservations / salable quantity, customers, and order
//! cancel / hold / unhold. Timestamps are UTC `YYYY-MM-DD HH:MM:SS`.

mod api;
mod erp;
mod sim;
mod stock;
mod storefront;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::config::SandboxConfig;
use crate::core::num_dp;
use crate::seed::{GenOrder, SeedData};

pub use api::{control_router, router};

/// The MSI source every product is assigned to (single-source mode) and the default stock.
pub const DEFAULT_SOURCE: &str = "default";
pub const DEFAULT_STOCK_ID: i64 = 1;
/// Source quantity of every catalogue product at start, after the open seeded orders' placement
/// reservations (so each SKU starts with this salable quantity).
pub const SEEDED_SALABLE_QTY: i64 = 100;
pub use sim::Sim;
pub use stock::NewProduct;
pub use storefront::{OrderEdit, StorefrontCustomer};

/// Magento's wire datetime (always UTC).
pub fn mg_time(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn money(d: Decimal) -> Value {
    num_dp(d, 4)
}

/// In-memory Magento store.
#[derive(Debug)]
pub struct MgState {
    /// OrderInterface JSON keyed by entity_id.
    pub orders: BTreeMap<i64, Value>,
    pub shipments: BTreeMap<i64, Value>,
    pub invoices: BTreeMap<i64, Value>,
    /// Catalogue (ProductInterface JSON) keyed by SKU.
    pub products: BTreeMap<String, Value>,
    /// MSI source items keyed by (SKU, source code): `{sku, source_code, quantity, status}`.
    pub source_items: BTreeMap<(String, String), Value>,
    /// MSI sources keyed by code (`default` seeded): `{source_code, name, enabled, stock_id}`.
    pub sources: BTreeMap<String, Value>,
    /// Every source-item and legacy stock-item write, in order (`GET /_sandbox/stock/writes`).
    pub stock_writes: Vec<Value>,
    /// Web API input limit (items per array), `None` = off.
    pub input_limit: Option<usize>,
    /// MSI reservations (`inventory_reservation`): `{reservation_id, stock_id, sku, quantity, metadata}`.
    pub reservations: Vec<Value>,
    /// Customers (CustomerInterface JSON) keyed by id.
    pub customers: BTreeMap<i64, Value>,
    pub(crate) next_customer: i64,
    pub(crate) next_address: i64,
    pub(crate) next_reservation: i64,
    pub(crate) tokens: HashMap<String, DateTime<Utc>>,
    pub(crate) next_entity: i64,
    pub(crate) next_increment: i64,
    pub(crate) next_item: i64,
    pub(crate) next_shipment: i64,
    pub(crate) next_invoice: i64,
    pub(crate) next_history: i64,
    pub(crate) on_demand: usize,
}

impl MgState {
    pub fn seeded(cfg: &SandboxConfig, data: &SeedData) -> Self {
        let mut s = Self {
            orders: BTreeMap::new(),
            shipments: BTreeMap::new(),
            invoices: BTreeMap::new(),
            products: BTreeMap::new(),
            source_items: BTreeMap::new(),
            sources: BTreeMap::from([(
                DEFAULT_SOURCE.to_string(),
                json!({ "source_code": DEFAULT_SOURCE, "name": "Default Source", "enabled": true,
                        "country_id": "US", "postcode": "00000", "stock_id": DEFAULT_STOCK_ID }),
            )]),
            stock_writes: Vec::new(),
            input_limit: cfg.magento_input_limit,
            reservations: Vec::new(),
            customers: BTreeMap::new(),
            next_customer: 100,
            next_address: 1,
            next_reservation: 1,
            tokens: HashMap::new(),
            next_entity: 3000,
            next_increment: 100_003_000,
            next_item: 9000,
            next_shipment: 500,
            next_invoice: 700,
            next_history: 1,
            on_demand: 0,
        };
        for g in &data.magento {
            let (state, status) = match g.status_roll {
                0..=59 => ("processing", "processing"),
                60..=74 => ("new", "pending"),
                75..=84 => ("complete", "complete"),
                85..=89 => ("canceled", "canceled"),
                90..=94 => ("holded", "holded"),
                _ => ("pending_payment", "pending_payment"),
            };
            let id = s.insert_generated(g, state, status);
            if state == "holded" {
                if let Some(o) = s.orders.get_mut(&id) {
                    o["hold_before_state"] = json!("processing");
                    o["hold_before_status"] = json!("processing");
                }
            }
        }
        s.seed_catalog_and_customers(data);
        s
    }

    /// Build an OrderInterface JSON from a generated order and store it. Returns entity_id.
    pub fn insert_generated(&mut self, g: &GenOrder, state: &str, status: &str) -> i64 {
        let id = self.next_entity;
        self.next_entity += 1;
        let inc = format!("{:09}", self.next_increment);
        self.next_increment += 1;
        let a = &g.buyer.address;
        let addr = |kind: &str| {
            json!({
                "address_type": kind, "entity_id": id * 10 + if kind == "billing" { 1 } else { 2 },
                "parent_id": id, "firstname": a.first_name, "lastname": a.last_name,
                "company": a.company,
                "street": if a.line2.is_empty() { json!([a.line1]) } else { json!([a.line1, a.line2]) },
                "city": a.city, "region": a.state, "region_code": a.state, "region_id": 0,
                "postcode": a.postal, "country_id": a.country, "telephone": a.phone,
                "email": g.buyer.email,
            })
        };
        let complete = state == "complete";
        let mut items = Vec::new();
        for (i, l) in g.lines.iter().enumerate() {
            let item_id = self.next_item;
            self.next_item += 1;
            let qty = Decimal::from(l.qty);
            let row = l.gross();
            // Every fourth line is a configurable product: the parent row carries the price,
            // the child row carries the simple SKU with zero price (Magento's shape).
            let configurable = i % 4 == 1;
            let done = if complete { qty } else { Decimal::ZERO };
            items.push(json!({
                "item_id": item_id, "order_id": id, "parent_item_id": null,
                "product_id": 5000 + i as i64, "product_type": if configurable { "configurable" } else { "simple" },
                "sku": l.sku, "name": l.name, "qty_ordered": num_dp(qty, 4),
                "qty_shipped": num_dp(done, 4), "qty_invoiced": num_dp(done, 4),
                "qty_canceled": 0, "qty_refunded": 0,
                "price": money(l.unit_price), "base_price": money(l.unit_price),
                "original_price": money(l.unit_price),
                "price_incl_tax": money((l.unit_price + l.tax / qty).round_dp(2)),
                "row_total": money(row), "base_row_total": money(row),
                "row_total_incl_tax": money(row + l.tax),
                "tax_amount": money(l.tax), "base_tax_amount": money(l.tax),
                "tax_percent": num_dp(g.tax_rate * Decimal::ONE_HUNDRED, 4),
                "discount_amount": money(l.discount), "base_discount_amount": money(l.discount),
                "discount_percent": 0, "weight": 1, "is_virtual": 0,
                "created_at": mg_time(&g.created), "updated_at": mg_time(&g.modified),
            }));
            if configurable {
                let child = self.next_item;
                self.next_item += 1;
                items.push(json!({
                    "item_id": child, "order_id": id, "parent_item_id": item_id,
                    "parent_item": { "item_id": item_id, "sku": l.sku },
                    "product_id": 6000 + i as i64, "product_type": "simple",
                    "sku": l.sku, "name": l.name, "qty_ordered": num_dp(qty, 4),
                    "qty_shipped": num_dp(done, 4), "qty_invoiced": num_dp(done, 4),
                    "qty_canceled": 0, "qty_refunded": 0, "price": money(Decimal::ZERO),
                    "base_price": money(Decimal::ZERO), "original_price": money(Decimal::ZERO),
                    "row_total": money(Decimal::ZERO), "base_row_total": money(Decimal::ZERO),
                    "tax_amount": money(Decimal::ZERO), "discount_amount": money(Decimal::ZERO),
                    "weight": 1, "is_virtual": 0,
                    "created_at": mg_time(&g.created), "updated_at": mg_time(&g.modified),
                }));
            }
        }
        let gross: Decimal = g.lines.iter().map(|l| l.gross()).sum();
        let tax = g.tax();
        let discount = g.line_discounts() + g.order_discount;
        let grand = g.grand_total();
        let method = match g.payment_method {
            "PAYPAL" => "paypal_express",
            "CREDITCARD" => "braintree",
            _ => "checkmo",
        };
        let paid = if complete || state == "processing" { grand } else { Decimal::ZERO };
        let mut order = json!({
            "entity_id": id, "increment_id": inc, "quote_id": id + 10_000, "store_id": 1,
            "protect_code": format!("{:x}", id * 7919),
            "state": state, "status": status,
            "created_at": mg_time(&g.created), "updated_at": mg_time(&g.modified),
            "customer_email": g.buyer.email, "customer_firstname": a.first_name,
            "customer_lastname": a.last_name, "customer_is_guest": if g.guest { 1 } else { 0 },
            "customer_group_id": if g.guest { 0 } else { 1 },
            "customer_note": g.instructions, "customer_note_notify": 1,
            "order_currency_code": "USD", "base_currency_code": "USD",
            "global_currency_code": "USD", "store_currency_code": "USD",
            "base_to_global_rate": 1, "base_to_order_rate": 1,
            "subtotal": money(gross), "base_subtotal": money(gross),
            "subtotal_incl_tax": money(gross + tax), "base_subtotal_incl_tax": money(gross + tax),
            "tax_amount": money(tax), "base_tax_amount": money(tax),
            "shipping_amount": money(g.shipping), "base_shipping_amount": money(g.shipping),
            "shipping_incl_tax": money(g.shipping), "base_shipping_incl_tax": money(g.shipping),
            "shipping_tax_amount": money(Decimal::ZERO), "base_shipping_tax_amount": money(Decimal::ZERO),
            "discount_amount": money(-discount), "base_discount_amount": money(-discount),
            "discount_description": g.promo_code,
            "grand_total": money(grand), "base_grand_total": money(grand),
            "total_qty_ordered": num_dp(Decimal::from(g.total_qty()), 4),
            "total_paid": money(paid), "base_total_paid": money(paid),
            "total_invoiced": money(if complete { grand } else { Decimal::ZERO }),
            "total_refunded": money(Decimal::ZERO),
            "total_due": money(grand - paid), "base_total_due": money(grand - paid),
            "total_item_count": g.lines.len(),
            "shipping_description": format!("{} - {}", g.carrier, g.ship_service),
            "weight": g.total_qty(), "remote_ip": "203.0.113.20",
            "items": items,
            "billing_address": addr("billing"),
            "payment": {
                "method": method, "amount_ordered": money(grand), "base_amount_ordered": money(grand),
                "amount_paid": money(paid), "last_trans_id": format!("txn-{id}"),
                "additional_information": [method], "parent_id": id, "entity_id": id,
            },
            "status_histories": [],
            "extension_attributes": {
                "shipping_assignments": [{
                    "shipping": {
                        "address": addr("shipping"),
                        "method": "flatrate_flatrate",
                        "total": {
                            "shipping_amount": money(g.shipping), "base_shipping_amount": money(g.shipping),
                            "shipping_incl_tax": money(g.shipping), "shipping_tax_amount": money(Decimal::ZERO),
                        },
                    },
                    "items": [],
                }],
                "payment_additional_info": [],
            },
        });
        if !g.guest {
            order["customer_id"] = json!(100 + g.buyer.index as i64);
        }
        if let Some(m) = &g.gift_message {
            order["extension_attributes"]["gift_message"] =
                json!({ "sender": a.first_name, "recipient": "", "message": m });
        }
        // Storefront orders went through checkout: MSI placed a reservation for every line still
        // open (a complete or canceled order's reservations have already netted to zero).
        if matches!(state, "new" | "processing" | "holded" | "pending_payment") {
            for l in &g.lines {
                self.reserve(&l.sku, -Decimal::from(l.qty), "order_placed", id, &inc);
            }
        }
        self.orders.insert(id, order);
        id
    }
}

//! BigCommerce simulator: v2 Orders (list with the documented filters, `page`/`limit`, count,
//! detail, status updates, products / shipping_addresses / shipments sub-resources, order
//! statuses) and v3 Webhooks (`/v3/hooks`), with `X-Auth-Token` auth, 4-decimal money strings,
//! RFC-2822 dates, the Standard-plan rate-limit headers and signed `store/order/*` webhooks.

mod api;
mod sim;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::SandboxConfig;
use crate::core::fixed;
use crate::seed::{Channel, GenOrder, SeedData};

pub use api::{control_router, router};
pub use sim::Sim;

/// BigCommerce order statuses [BC3]: (id, name).
pub const STATUSES: &[(i64, &str)] = &[
    (0, "Incomplete"),
    (1, "Pending"),
    (2, "Shipped"),
    (3, "Partially Shipped"),
    (4, "Refunded"),
    (5, "Cancelled"),
    (6, "Declined"),
    (7, "Awaiting Payment"),
    (8, "Awaiting Pickup"),
    (9, "Awaiting Shipment"),
    (10, "Completed"),
    (11, "Awaiting Fulfillment"),
    (12, "Manual Verification Required"),
    (13, "Disputed"),
    (14, "Partially Refunded"),
];

pub fn status_name(id: i64) -> &'static str {
    STATUSES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n).unwrap_or("Unknown")
}

/// Money as BigCommerce sends it: a string with 4 decimals.
pub fn m4(d: Decimal) -> Value {
    Value::String(fixed(d, 4))
}

/// RFC-2822 with a two-digit day, as BigCommerce renders dates.
pub fn rfc2822(d: &DateTime<Utc>) -> String {
    d.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

#[derive(Clone, Debug, Serialize)]
pub struct BcProduct {
    pub id: i64,
    pub product_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub quantity_shipped: i64,
    pub price: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub upc: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BcOrder {
    pub id: i64,
    pub gen: GenOrder,
    pub status_id: i64,
    pub customer_id: i64,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    pub date_shipped: Option<DateTime<Utc>>,
    pub products: Vec<BcProduct>,
    pub address_id: i64,
    pub shipments: Vec<Value>,
    pub staff_notes: String,
    pub customer_message: String,
}

/// In-memory BigCommerce store.
#[derive(Debug)]
pub struct BcState {
    pub orders: BTreeMap<i64, BcOrder>,
    pub hooks: BTreeMap<i64, Value>,
    next_order: i64,
    next_product: i64,
    next_address: i64,
    pub(crate) next_shipment: i64,
    pub(crate) next_hook: i64,
    pub(crate) on_demand: usize,
}

impl BcState {
    pub fn seeded(_cfg: &SandboxConfig, data: &SeedData) -> Self {
        let mut s = Self {
            orders: BTreeMap::new(),
            hooks: BTreeMap::new(),
            next_order: 100,
            next_product: 1,
            next_address: 1,
            next_shipment: 1,
            next_hook: 1,
            on_demand: 0,
        };
        for g in &data.bigcommerce {
            let status = match g.status_roll {
                0..=54 => 11,
                55..=64 => 9,
                65..=74 => 2,
                75..=79 => 10,
                80..=86 => 1,
                87..=90 => 5,
                91..=95 => 7,
                _ => 0,
            };
            let id = s.insert(g.clone(), status);
            if status == 2 || status == 10 {
                if let Some(o) = s.orders.get_mut(&id) {
                    for p in &mut o.products {
                        p.quantity_shipped = p.quantity;
                    }
                    o.date_shipped = Some(o.date_modified);
                }
            }
        }
        s
    }

    pub fn insert(&mut self, gen: GenOrder, status_id: i64) -> i64 {
        let id = self.next_order;
        self.next_order += 1;
        let address_id = self.next_address;
        self.next_address += 1;
        let products = gen
            .lines
            .iter()
            .map(|l| {
                let pid = self.next_product;
                self.next_product += 1;
                BcProduct {
                    id: pid,
                    product_id: 1000 + l.sku.rsplit('-').next().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0),
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    quantity: l.qty,
                    quantity_shipped: 0,
                    price: l.unit_price,
                    discount: l.discount,
                    tax: l.tax,
                    upc: l.upc.clone(),
                }
            })
            .collect();
        let customer_id = if gen.guest { 0 } else { 100 + gen.buyer.index as i64 };
        self.orders.insert(
            id,
            BcOrder {
                id,
                status_id,
                customer_id,
                date_created: gen.created,
                date_modified: gen.modified,
                date_shipped: None,
                products,
                address_id,
                shipments: Vec::new(),
                staff_notes: String::new(),
                customer_message: gen.instructions.clone().unwrap_or_default(),
                gen,
            },
        );
        id
    }
}

fn payment_label(g: &GenOrder) -> &'static str {
    match g.payment_method {
        "PAYPAL" => "PayPal",
        "AMAZONPAY" => "Amazon Pay",
        "EBAYPAY" => "eBay Managed Payments",
        "WALMARTPAY" => "Walmart",
        _ => "Credit Card",
    }
}

impl BcOrder {
    pub fn items_total(&self) -> i64 {
        self.products.iter().map(|p| p.quantity).sum()
    }
    pub fn items_shipped(&self) -> i64 {
        self.products.iter().map(|p| p.quantity_shipped).sum()
    }

    /// The v2 order object.
    pub fn to_json(&self, base: &str) -> Value {
        let g = &self.gen;
        let a = &g.buyer.address;
        let gross: Decimal = g.lines.iter().map(|l| l.gross()).sum();
        let discount = g.line_discounts() + g.order_discount;
        let tax = g.tax();
        let total_ex = gross - discount + g.shipping;
        let link = |r: &str| {
            json!({
                "url": format!("{base}/v2/orders/{}/{r}", self.id),
                "resource": format!("/orders/{}/{r}", self.id),
            })
        };
        let zero = m4(Decimal::ZERO);
        let external_source = match g.channel {
            Channel::Website => Value::Null,
            Channel::Amazon => json!("Amazon"),
            Channel::Ebay => json!("eBay"),
            Channel::Walmart => json!("Walmart"),
        };
        json!({
            "id": self.id,
            "customer_id": self.customer_id,
            "date_created": rfc2822(&self.date_created),
            "date_modified": rfc2822(&self.date_modified),
            "date_shipped": self.date_shipped.as_ref().map(rfc2822).unwrap_or_default(),
            "status_id": self.status_id,
            "status": status_name(self.status_id),
            "custom_status": status_name(self.status_id),
            "subtotal_ex_tax": m4(gross),
            "subtotal_inc_tax": m4(gross + tax),
            "subtotal_tax": m4(tax),
            "base_shipping_cost": m4(g.shipping),
            "shipping_cost_ex_tax": m4(g.shipping),
            "shipping_cost_inc_tax": m4(g.shipping),
            "shipping_cost_tax": zero,
            "shipping_cost_tax_class_id": 2,
            "base_handling_cost": zero, "handling_cost_ex_tax": zero,
            "handling_cost_inc_tax": zero, "handling_cost_tax": zero,
            "base_wrapping_cost": zero, "wrapping_cost_ex_tax": zero,
            "wrapping_cost_inc_tax": zero, "wrapping_cost_tax": zero,
            "total_ex_tax": m4(total_ex),
            "total_inc_tax": m4(total_ex + tax),
            "total_tax": m4(tax),
            "items_total": self.items_total(),
            "items_shipped": self.items_shipped(),
            "payment_method": payment_label(g),
            "payment_provider_id": format!("pp-{}", self.id),
            "payment_status": if self.status_id == 7 || self.status_id == 0 { "" } else { "captured" },
            "refunded_amount": zero,
            "order_is_digital": false,
            "store_credit_amount": zero,
            "gift_certificate_amount": zero,
            "ip_address": "203.0.113.10",
            "geoip_country": a.country,
            "geoip_country_iso2": a.country,
            "currency_id": 1,
            "currency_code": g.currency,
            "currency_exchange_rate": fixed(g.rate_to_usd, 10),
            "default_currency_id": 1,
            "default_currency_code": "USD",
            "store_default_currency_code": "USD",
            "store_default_to_transactional_exchange_rate": fixed(g.rate_to_usd, 10),
            "staff_notes": self.staff_notes,
            "customer_message": self.customer_message,
            "discount_amount": m4(discount),
            "coupon_discount": m4(g.order_discount),
            "shipping_address_count": 1,
            "is_deleted": false,
            "ebay_order_id": if g.channel == Channel::Ebay { json!(g.channel_order_id) } else { json!("0") },
            "cart_id": format!("cart-{}", self.id),
            "billing_address": {
                "first_name": a.first_name, "last_name": a.last_name, "company": a.company,
                "street_1": a.line1, "street_2": a.line2, "city": a.city, "state": a.state,
                "zip": a.postal, "country": country_name(&a.country), "country_iso2": a.country,
                "phone": a.phone, "email": g.buyer.email, "form_fields": [],
            },
            "is_email_opt_in": false,
            "credit_card_type": null,
            "order_source": if g.channel == Channel::Website { "www" } else { "external" },
            "channel_id": 1,
            "external_source": external_source,
            "external_id": null,
            "external_order_id": if g.channel == Channel::Website { json!("") } else { json!(g.channel_order_id) },
            "external_merchant_id": null,
            "tax_provider_id": "BasicTaxProvider",
            "customer_locale": "en",
            "products": link("products"),
            "shipping_addresses": link("shipping_addresses"),
            "coupons": link("coupons"),
            "consignments": link("consignments"),
        })
    }

    /// The order as `GET /v2/orders[/{id}]` answers with `include=consignments` (lines as product
    /// links) or `include=consignments.line_items` (lines as `/products` items), and
    /// `consignment_structure=object`: one shipping consignment (the sandbox's orders have one
    /// address and physical lines only); `products` and `shipping_addresses` stay links.
    pub fn to_json_with_consignments(&self, base: &str, expand_lines: bool) -> Value {
        let mut order = self.to_json(base);
        let mut shipping = self.address_json();
        if let Some(fields) = shipping.as_object_mut() {
            fields.remove("order_id");
            let lines: Vec<Value> = self
                .products
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if expand_lines {
                        self.product_json(p, i == 0)
                    } else {
                        json!({
                            "url": format!("{base}/v2/orders/{}/products/{}", self.id, p.id),
                            "resource": format!("/orders/{}/products/{}", self.id, p.id),
                        })
                    }
                })
                .collect();
            fields.insert("line_items".into(), Value::Array(lines));
            fields.insert(
                "shipping_quotes".into(),
                json!({
                    "url": format!("{base}/v2/orders/{}/consignments/shipping/{}/shipping_quotes", self.id, self.address_id),
                    "resource": format!("/orders/{}/consignments/shipping/{}/shipping_quotes", self.id, self.address_id),
                }),
            );
        }
        order["consignments"] = json!({
            "pickups": [],
            "shipping": [shipping],
            "downloads": [],
            "email": { "gift_certificates": [] },
        });
        order
    }

    pub fn product_json(&self, p: &BcProduct, first: bool) -> Value {
        let qty = Decimal::from(p.quantity.max(1));
        let unit_tax = (p.tax / qty).round_dp(4);
        let gross = p.price * Decimal::from(p.quantity);
        let g = &self.gen;
        let discounts = if p.discount.is_zero() {
            json!([])
        } else {
            json!([{ "id": "1", "amount": m4(p.discount), "name": "Line discount", "code": null, "target": "product" }])
        };
        json!({
            "id": p.id, "order_id": self.id, "product_id": p.product_id, "variant_id": p.product_id * 10,
            "order_address_id": self.address_id, "name": p.name, "sku": p.sku, "upc": p.upc,
            "type": "physical", "base_price": m4(p.price), "price_ex_tax": m4(p.price),
            "price_inc_tax": m4(p.price + unit_tax), "price_tax": m4(unit_tax),
            "base_total": m4(gross), "total_ex_tax": m4(gross), "total_inc_tax": m4(gross + p.tax),
            "total_tax": m4(p.tax), "weight": "1.0000", "quantity": p.quantity,
            "base_cost_price": m4(Decimal::ZERO), "quantity_shipped": p.quantity_shipped,
            "quantity_refunded": 0, "refund_amount": m4(Decimal::ZERO), "is_refunded": false,
            "applied_discounts": discounts, "product_options": [],
            "wrapping_name": if first && g.gift_message.is_some() { json!("Gift Wrap") } else { json!("") },
            "wrapping_message": if first { json!(g.gift_message.clone().unwrap_or_default()) } else { json!("") },
            "wrapping_cost_ex_tax": m4(Decimal::ZERO), "wrapping_cost_inc_tax": m4(Decimal::ZERO),
            "is_bundled_product": false, "parent_order_product_id": null,
        })
    }

    /// The order coupon (`GET /v2/orders/{id}/coupons` item), if a promo code was applied:
    /// `WELCOME10` is a 10 % percentage discount (coupon type 1) on the order.
    pub fn coupon_json(&self) -> Option<Value> {
        let g = &self.gen;
        let code = g.promo_code.as_ref()?;
        Some(json!({
            "id": self.id, "coupon_id": 1, "order_id": self.id, "code": code,
            "amount": m4(Decimal::new(10, 0)), "type": 1, "discount": m4(g.order_discount),
        }))
    }

    pub fn address_json(&self) -> Value {
        let g = &self.gen;
        let a = &g.buyer.address;
        json!({
            "id": self.address_id, "order_id": self.id, "first_name": a.first_name,
            "last_name": a.last_name, "company": a.company, "street_1": a.line1,
            "street_2": a.line2, "city": a.city, "zip": a.postal,
            "country": country_name(&a.country), "country_iso2": a.country, "state": a.state,
            "email": g.buyer.email, "phone": a.phone, "form_fields": [],
            "items_total": self.items_total(), "items_shipped": self.items_shipped(),
            "shipping_method": format!("{} {}", g.carrier, g.ship_service),
            "base_cost": m4(g.shipping), "cost_ex_tax": m4(g.shipping),
            "cost_inc_tax": m4(g.shipping), "cost_tax": m4(Decimal::ZERO), "cost_tax_class_id": 2,
            "base_handling_cost": m4(Decimal::ZERO), "handling_cost_ex_tax": m4(Decimal::ZERO),
            "handling_cost_inc_tax": m4(Decimal::ZERO), "handling_cost_tax": m4(Decimal::ZERO),
            "handling_cost_tax_class_id": 2, "shipping_zone_id": 1,
            "shipping_zone_name": if a.country == "US" { "United States" } else { "International" },
        })
    }
}

fn country_name(iso2: &str) -> &'static str {
    match iso2 {
        "US" => "United States",
        "CA" => "Canada",
        "GB" => "United Kingdom",
        "DE" => "Germany",
        _ => "Unknown",
    }
}

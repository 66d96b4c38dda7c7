//! Pure conversions from BigCommerce's wire types to the canonical order; no I/O.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;

use super::wire::{AddressWire, OrderWire, ProductWire};
use crate::http::{cap_message, json_message};
use crate::model::{
    Address, BigCommerceOrderId, ChannelOrderId, ConnectionId, Currency, Customer, Discount, ItemIdentifiers, Line,
    Money, Notes, Order, OrderSource, Payment, ShippingCharge, TaxLine, Totals,
};

/// v2 errors are `[{"status","message"}]`, v3 errors `{"title","errors"}` (§3.8).
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let first = match &value {
        Value::Array(items) => items.first()?.clone(),
        other => other.clone(),
    };
    json_message(&first, &["message", "title", "detail"]).map(|m| cap_message(&m))
}

fn header_ms(headers: &HeaderMap, name: &str) -> Option<Duration> {
    headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_millis)
}

/// After any response: when the window's requests are spent, wait for its reset (§3.7).
pub fn pause_hint(headers: &HeaderMap) -> Option<Duration> {
    let left = headers.get("X-Rate-Limit-Requests-Left")?.to_str().ok()?.trim().parse::<i64>().ok()?;
    (left <= 0).then(|| header_ms(headers, "X-Rate-Limit-Time-Reset-Ms")).flatten()
}

/// On 429: the reset time the store reports.
pub fn reset_after(headers: &HeaderMap) -> Option<Duration> {
    header_ms(headers, "X-Rate-Limit-Time-Reset-Ms")
}

fn clean(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn address(a: &AddressWire) -> Address {
    Address {
        name: [clean(&a.first_name), clean(&a.last_name)].into_iter().flatten().collect::<Vec<_>>().join(" "),
        company: clean(&a.company),
        line1: clean(&a.street_1).unwrap_or_default(),
        line2: clean(&a.street_2),
        city: clean(&a.city).unwrap_or_default(),
        region: clean(&a.state),
        postal_code: clean(&a.zip),
        country: clean(&a.country_iso2).map(|c| c.to_ascii_uppercase()).unwrap_or_default(),
        phone: clean(&a.phone),
        email: clean(&a.email),
    }
}

/// The canonical order of a v2 order with its products and shipping addresses.
///
/// Line discounts are the products' `applied_discounts`; the order discount is what remains of
/// `discount_amount`, so nothing is counted twice. Multi-address orders ship to the first address.
pub fn to_order(
    order: &OrderWire,
    products: &[ProductWire],
    addresses: &[AddressWire],
    connection: &ConnectionId,
    store_source: &str,
) -> Result<Order, String> {
    let id = order.id.ok_or("order without id")?;
    let channel_order_id = ChannelOrderId::BigCommerce(BigCommerceOrderId::new(id).map_err(|e| e.to_string())?);
    let currency =
        Currency::parse(order.currency_code.as_deref().unwrap_or("USD")).map_err(|e| format!("order {id}: {e}"))?;
    let money = |d: Option<Decimal>| Money::new(d.unwrap_or_default(), currency);
    let created = clean(&order.date_created).ok_or_else(|| format!("order {id}: no date_created"))?;
    let placed_at = DateTime::parse_from_rfc2822(&created)
        .map_err(|_| format!("order {id}: date_created {created:?} is not RFC 2822"))?
        .with_timezone(&Utc);
    let lines: Vec<Line> = products
        .iter()
        .map(|p| Line {
            channel_line_id: p.id.map(|i| i.to_string()).unwrap_or_default(),
            identifiers: ItemIdentifiers { sku: clean(&p.sku), upc: clean(&p.upc), ..Default::default() },
            description: clean(&p.name).unwrap_or_default(),
            quantity: p.quantity.unwrap_or_default(),
            unit_price: money(p.price_ex_tax),
            discount: Money::new(p.applied_discounts.iter().filter_map(|d| d.amount).sum(), currency),
            tax: money(p.total_tax),
            note: None,
        })
        .collect();
    let line_discounts: Decimal = lines.iter().map(|l| l.discount.amount).sum();
    let order_discount = (order.discount_amount.unwrap_or_default() - line_discounts).max(Decimal::ZERO);
    let tax = money(order.total_tax);
    let ship_to = addresses.first().map(address).unwrap_or_else(|| address(&order.billing_address));
    let bill_to = address(&order.billing_address);
    let shipping_method = addresses.first().and_then(|a| clean(&a.shipping_method)).unwrap_or_default();
    let lines_net: Decimal = lines.iter().map(|l| l.unit_price.amount * l.quantity - l.discount.amount).sum();
    let paid = clean(&order.payment_status).is_some();
    Ok(Order {
        connection: connection.clone(),
        channel_order_id,
        display_number: id.to_string(),
        order_source: OrderSource(clean(&order.external_source).unwrap_or_else(|| store_source.to_owned())),
        channel_status: clean(&order.status).unwrap_or_else(|| order.status_id.unwrap_or_default().to_string()),
        placed_at,
        requested_delivery: None,
        promised_ship_by: None,
        currency,
        customer: Customer {
            channel_customer_id: order.customer_id.filter(|c| *c > 0).map(|c| c.to_string()),
            email: bill_to.email.clone(),
            name: bill_to.name.clone(),
            company: bill_to.company.clone(),
            phone: bill_to.phone.clone(),
        },
        bill_to,
        ship_to,
        lines,
        payments: if paid {
            vec![Payment {
                method: clean(&order.payment_method).unwrap_or_default(),
                amount: money(order.total_inc_tax),
                reference: clean(&order.payment_provider_id),
                paid_at: Some(placed_at),
            }]
        } else {
            Vec::new()
        },
        shipping: ShippingCharge { method: shipping_method, carrier: None, amount: money(order.shipping_cost_ex_tax) },
        order_discounts: if order_discount.is_zero() {
            Vec::new()
        } else {
            vec![Discount {
                code: None,
                description: "Order discount".into(),
                amount: Money::new(order_discount, currency),
            }]
        },
        taxes: if tax.is_zero() {
            Vec::new()
        } else {
            vec![TaxLine {
                name: "Tax".into(),
                rate: None,
                taxable: Money::new(lines_net - order_discount, currency),
                amount: tax,
            }]
        },
        totals: Totals {
            subtotal: money(order.subtotal_ex_tax),
            discount: Money::new(order_discount, currency),
            shipping: money(order.shipping_cost_ex_tax),
            tax,
            grand_total: money(order.total_inc_tax),
        },
        notes: Notes {
            customer_instructions: clean(&order.customer_message),
            gift_message: products.iter().find_map(|p| clean(&p.wrapping_message)),
            internal: clean(&order.staff_notes),
        },
        tags: BTreeSet::new(),
    })
}

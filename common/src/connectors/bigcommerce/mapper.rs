//! Pure conversions from BigCommerce's wire types to the canonical order; no I/O.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;

use super::wire::{AddressWire, ConsignmentsWire, OrderWire, ProductWire, ShipmentItem};
use super::BigCommerceOrderId;
use crate::http::{cap_message, json_message};
use crate::model::{
    Address, ConnectionId, Currency, Customer, Discount, ItemIdentifiers, Line, Money, Notes, Order, OrderSource,
    PackageItem, Payment, ShippingCharge, TaxLine, Totals,
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

/// The products and shipping addresses embedded in an order read with
/// `include=consignments.line_items&consignment_structure=object`; None when they are not all
/// there (no consignment object, a line given only as a link, no line at all), and the caller
/// reads `/products` and `/shipping_addresses` instead.
pub fn embedded(order: &OrderWire) -> Option<(Vec<ProductWire>, Vec<AddressWire>)> {
    let Some(ConsignmentsWire::Object(consignments)) = &order.consignments else { return None };
    let mut products = Vec::new();
    let mut take = |items: &serde_json::Value| -> Option<()> {
        match items {
            serde_json::Value::Null => Some(()),
            serde_json::Value::Array(list) => {
                for item in list {
                    // A product carries its quantity; a link (`{url, resource}`) does not.
                    item.get("quantity")?;
                    products.push(serde_json::from_value::<ProductWire>(item.clone()).ok()?);
                }
                Some(())
            }
            // A single link (an example the documentation shows for downloads).
            _ => None,
        }
    };
    for shipping in &consignments.shipping {
        take(&shipping.line_items)?;
    }
    let others = consignments.pickups.iter().chain(&consignments.downloads);
    let certificates = consignments.email.iter().flat_map(|e| &e.gift_certificates);
    for holder in others.chain(certificates) {
        take(&holder.line_items)?;
    }
    if products.is_empty() {
        return None;
    }
    // In `/products` order (by id), whatever consignment each line sits in: the order's content
    // digest, which tells a changed order from a listed-again one, must not depend on the path.
    products.sort_by_key(|p| p.id);
    // A shipping consignment's id is the order address id its products name.
    let addresses = consignments.shipping.iter().map(|s| s.address.clone()).collect();
    Some((products, addresses))
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
    let channel_order_id = BigCommerceOrderId::new(id).map_err(|e| e.to_string())?.channel_order_id();
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

/// BigCommerce's `shipping_provider` and `tracking_carrier` (§3.5) for a carrier as the ERP or
/// ShipStation names it (`UPS`, `FedEx Ground`, `stamps_com`, ...); None when BigCommerce has no
/// provider for it (the caller sends `""` and names the carrier in `comments`).
///
/// The tracking carrier must belong to the provider's carrier, so both come from one table.
/// Endicia and Stamps.com print USPS labels: their tracking is USPS's.
pub fn provider_codes(carrier: &str) -> Option<(&'static str, &'static str)> {
    let key: String = carrier.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    let starts = |p: &str| key.starts_with(p);
    if starts("usps") || starts("stamps") || starts("endicia") || starts("uspostal") || starts("unitedstatespostal") {
        Some(("usps", "usps"))
    } else if starts("ups") || key == "unitedparcelservice" {
        Some(("ups", "ups"))
    } else if starts("fedex") || starts("federalexpress") {
        Some(("fedex", "fedex"))
    } else if starts("auspost") || starts("australiapost") {
        Some(("auspost", "australia-post"))
    } else if starts("canadapost") {
        Some(("canadapost", "canada-post"))
    } else if starts("royalmail") {
        Some(("royalmail", "royal-mail"))
    } else {
        None
    }
}

/// What is still unshipped of one order product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unshipped {
    pub order_product_id: i64,
    pub sku: Option<String>,
    pub order_address_id: Option<i64>,
    pub remaining: i64,
}

/// `quantity − quantity_shipped` of every product with an id (never below zero).
pub fn unshipped(products: &[ProductWire]) -> Vec<Unshipped> {
    let whole = |d: Option<Decimal>| d.and_then(|d| i64::try_from(d.trunc()).ok()).unwrap_or(0);
    products
        .iter()
        .filter_map(|p| {
            Some(Unshipped {
                order_product_id: p.id?,
                sku: clean(&p.sku),
                order_address_id: p.order_address_id,
                // Saturating: quantities near i64's ends overflowed the subtraction (found by fuzzing).
                remaining: whole(p.quantity).saturating_sub(whole(p.quantity_shipped)).max(0),
            })
        })
        .collect()
}

/// The shipments one package becomes: one per order address its items belong to (usually one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    pub by_address: Vec<(Option<i64>, Vec<ShipmentItem>)>,
    /// Items shipped short (or not at all) because the order has less left to ship: a repeat of
    /// a shipment BigCommerce already has, or an ERP quantity above the channel's.
    pub capped: Vec<String>,
}

impl Allocation {
    pub fn is_empty(&self) -> bool {
        self.by_address.iter().all(|(_, items)| items.is_empty())
    }
}

/// Takes a package's items out of `lines`, each capped at what is still unshipped, so a push never
/// asks BigCommerce to ship more than is left (it would refuse the whole shipment). An item with a
/// channel line id goes to that product (`order_product_id`, kept on the ERP line at import), so
/// an ERP item id that differs from the BigCommerce SKU still ships the right product; otherwise
/// by SKU, spread over the products carrying it in order. Errors name the item: a line or SKU not
/// on the order, or a quantity that is not a whole number.
pub fn allocate(items: &[PackageItem], lines: &mut [Unshipped]) -> Result<Allocation, String> {
    let mut out = Allocation::default();
    for item in items {
        let sku = item.item_id.trim();
        if item.quantity <= Decimal::ZERO {
            continue;
        }
        if !item.quantity.fract().is_zero() {
            return Err(format!("items[{sku}].quantity: {} is not a whole number", item.quantity));
        }
        let mut wanted = i64::try_from(item.quantity).map_err(|_| format!("items[{sku}].quantity: out of range"))?;
        let matching: Vec<usize> = match item.channel_line_id.as_deref() {
            Some(line_id) => {
                let found: Vec<usize> =
                    (0..lines.len()).filter(|i| lines[*i].order_product_id.to_string() == line_id.trim()).collect();
                if found.is_empty() {
                    return Err(format!(
                        "items[{sku}].channel_line_id: no product on the order has order_product_id {line_id:?}"
                    ));
                }
                found
            }
            None => (0..lines.len())
                .filter(|i| lines[*i].sku.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(sku)))
                .collect(),
        };
        if matching.is_empty() {
            return Err(format!("items[{sku}].item_id: no product on the order has SKU {sku:?}"));
        }
        for i in matching {
            let line = &mut lines[i];
            let take = wanted.min(line.remaining);
            if take == 0 {
                continue;
            }
            line.remaining -= take;
            wanted -= take;
            let group = match out.by_address.iter().position(|(a, _)| *a == line.order_address_id) {
                Some(g) => g,
                None => {
                    out.by_address.push((line.order_address_id, Vec::new()));
                    out.by_address.len() - 1
                }
            };
            let group = &mut out.by_address[group].1;
            match group.iter_mut().find(|s| s.order_product_id == line.order_product_id) {
                Some(existing) => existing.quantity += take,
                None => group.push(ShipmentItem { order_product_id: line.order_product_id, quantity: take }),
            }
        }
        if wanted > 0 {
            out.capped.push(format!("{sku} ({wanted} not shipped: none left on the order)"));
        }
    }
    Ok(out)
}

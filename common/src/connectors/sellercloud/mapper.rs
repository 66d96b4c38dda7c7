//! Pure conversions from Sellercloud's wire types to the canonical order; no I/O.

use std::collections::BTreeSet;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::Value;

use super::config::{SellercloudConfig, ORDER_STATUSES};
use super::wire::{AddressWire, OrderWire};
use super::SellercloudOrderId;
use crate::http::{cap_message, json_message};
use crate::model::{
    Address, ConnectionId, Customer, Discount, ItemIdentifiers, Line, Money, Notes, Order, OrderSource, Payment,
    Shipment, ShippingCharge, Tag, TaxLine, Totals,
};

/// Sellercloud datetimes carry no offset (§6.1): they are account-local. Ambiguous times (the
/// repeated hour when DST ends) take the earlier instant; times in the skipped hour (DST start)
/// are read as if the clock had not moved yet, i.e. one hour later in UTC terms.
pub fn local_to_utc(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(with_offset.with_timezone(&Utc));
    }
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())?;
    let naive = crate::model::without_leap_second(naive)?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest().map(|t| t.with_timezone(&Utc))
        }
    }
}

/// A UTC instant as a documented date parameter (`mm/dd/yyyy hh:mm`, account-local).
pub fn utc_to_local_param(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%m/%d/%Y %H:%M").to_string()
}

/// Sellercloud's error body: undocumented (§1.14); ASP.NET's `{"Message"}`, or the throttling
/// body `{"Error"}`.
pub fn error_message(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::String(s) => Some(cap_message(&s)),
        v => json_message(&v, &["Message", "message", "Error", "ExceptionMessage"]).map(|m| cap_message(&m)),
    }
}

/// The throttling body `{"Error":"Too many requests.","RateLimitResetTime":"..."}` (§1.4), with
/// any status: the wait until the reset time.
pub fn rate_limit_reset(body: &[u8], now: DateTime<Utc>) -> Option<std::time::Duration> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let reset = v.get("RateLimitResetTime")?.as_str()?;
    let at = DateTime::parse_from_rfc3339(reset.trim())
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(reset.trim(), "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc()))?;
    Some((at - now).to_std().unwrap_or_default())
}

fn clean(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn address(a: &AddressWire, fallback_email: Option<&str>) -> Address {
    let name = [clean(&a.FirstName), clean(&a.LastName)].into_iter().flatten().collect::<Vec<_>>().join(" ");
    Address {
        name,
        company: clean(&a.CompanyName),
        line1: clean(&a.StreetLine1).unwrap_or_default(),
        line2: clean(&a.StreetLine2),
        city: clean(&a.City).unwrap_or_default(),
        region: clean(&a.StateCode).or_else(|| clean(&a.StateName)),
        postal_code: clean(&a.PostalCode),
        country: clean(&a.CountryCode).map(|c| c.to_ascii_uppercase()).unwrap_or_default(),
        phone: clean(&a.PhoneNumber),
        email: clean(&a.EmailAddress).or_else(|| fallback_email.map(str::to_owned)),
    }
}

fn date_of(text: &Option<String>, tz: Tz) -> Option<NaiveDate> {
    clean(text).and_then(|t| local_to_utc(&t, tz)).map(|d| d.with_timezone(&tz).date_naive())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        Value::Number(n) => n.to_string() != "0",
        _ => false,
    }
}

/// Tags from the order's flags and custom columns: Prime, rush, `Priority:<x>`, other tag words.
fn tags(wire: &OrderWire) -> BTreeSet<Tag> {
    let mut tags = BTreeSet::new();
    if wire.Statuses.RushOrder == Some(true) || wire.ShippingDetails.RushOrder == Some(true) {
        tags.insert(Tag::Rush);
    }
    for column in &wire.CustomColumns {
        let name = column.ColumnName.as_deref().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("IsPrime") && truthy(&column.Value) {
            tags.insert(Tag::Prime);
        } else if name.eq_ignore_ascii_case("Tags") {
            let text = column.Value.as_str().unwrap_or("");
            for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                match word.split_once(':') {
                    _ if word.eq_ignore_ascii_case("Prime") => tags.insert(Tag::Prime),
                    _ if word.eq_ignore_ascii_case("Rush") => tags.insert(Tag::Rush),
                    Some((k, v)) if k.trim().eq_ignore_ascii_case("Priority") => {
                        tags.insert(Tag::ShipmentPriority(v.trim().to_owned()))
                    }
                    _ => tags.insert(Tag::Custom(word.to_owned())),
                };
            }
        }
    }
    tags
}

/// The canonical order of a full Sellercloud order. `instructions` are the order's
/// customer-instruction notes (category 1), read separately.
pub fn to_order(
    wire: &OrderWire,
    connection: &ConnectionId,
    config: &SellercloudConfig,
    instructions: Option<String>,
) -> Result<Order, String> {
    let tz = config.tz();
    let currency = config.currency;
    let money = |d: Option<Decimal>| Money::new(d.unwrap_or_default(), currency);
    let id = wire.ID.ok_or("order without ID")?;
    let channel_order_id = SellercloudOrderId::new(id).map_err(|e| e.to_string())?.channel_order_id();
    let placed_text =
        clean(&wire.TimeOfOrder).or_else(|| clean(&wire.OrderDetails.OrderDate)).or_else(|| clean(&wire.CreatedOn));
    let placed_at = placed_text
        .as_deref()
        .and_then(|t| local_to_utc(t, tz))
        .ok_or_else(|| format!("order {id}: no readable TimeOfOrder/OrderDate/CreatedOn"))?;
    let email = clean(&wire.OrderDetails.CustomerEmail).or_else(|| clean(&wire.BillingAddress.EmailAddress));
    let bill_to = address(&wire.BillingAddress, email.as_deref());
    let ship_to = address(&wire.ShippingAddress, email.as_deref());
    let lines = wire
        .OrderItems
        .iter()
        .map(|item| {
            let quantity = item.Qty.unwrap_or_default();
            let unit_price = money(item.SitePrice);
            // DiscountType 0 is an amount on the line; other types are percentages of the line.
            let raw_discount = item.DiscountValue.unwrap_or_default();
            let discount = match item.DiscountType.unwrap_or(0) {
                0 => raw_discount,
                _ => (unit_price.amount * quantity * raw_discount / Decimal::ONE_HUNDRED).round_dp(2),
            };
            Line {
                channel_line_id: item.ID.map(|i| i.to_string()).unwrap_or_default(),
                identifiers: ItemIdentifiers {
                    sku: clean(&item.ProductID),
                    upc: clean(&item.UPC),
                    ean: clean(&item.EAN),
                    ..Default::default()
                },
                description: clean(&item.DisplayName).unwrap_or_default(),
                quantity,
                unit_price,
                discount: Money::new(discount, currency),
                tax: money(item.LineTaxTotal),
                note: clean(&item.Notes),
            }
        })
        .collect::<Vec<_>>();
    let t = &wire.TotalInfo;
    let order_discount = t.Discount.unwrap_or_default();
    let order_discounts = if order_discount.is_zero() {
        Vec::new()
    } else {
        vec![Discount {
            code: clean(&t.PromoCode),
            description: clean(&t.PromoCode).map_or("Order discount".to_owned(), |c| format!("Promotion {c}")),
            amount: Money::new(order_discount, currency),
        }]
    };
    let tax = money(t.Tax);
    let lines_net: Decimal = lines.iter().map(|l| l.unit_price.amount * l.quantity - l.discount.amount).sum();
    let taxes = if tax.is_zero() {
        Vec::new()
    } else {
        vec![TaxLine {
            name: "Sales tax".into(),
            rate: None,
            taxable: Money::new(lines_net - order_discount, currency),
            amount: tax,
        }]
    };
    let payments = wire
        .Payments
        .iter()
        .filter(|p| p.PaidAmount.is_some_and(|a| !a.is_zero()))
        .map(|p| Payment {
            // The PaymentMethod enum is not documented; its code is mapped in the mapping file.
            method: p.PaymentMethod.map_or_else(|| "unknown".to_owned(), |m| m.to_string()),
            amount: money(p.PaidAmount),
            reference: clean(&p.TransactionReferenceNumber),
            paid_at: clean(&p.PaymentDate).and_then(|d| local_to_utc(&d, tz)),
        })
        .collect();
    let status = wire.StatusCode.map_or_else(String::new, |code| {
        ORDER_STATUSES.iter().find(|(_, c)| *c == code).map_or(code.to_string(), |(n, _)| (*n).to_owned())
    });
    Ok(Order {
        connection: connection.clone(),
        channel_order_id,
        display_number: clean(&wire.OrderSourceOrderID).unwrap_or_else(|| id.to_string()),
        order_source: OrderSource(config.source_name(wire.OrderSource.unwrap_or(-1))),
        channel_status: status,
        placed_at,
        requested_delivery: date_of(&wire.OrderDetails.EstimatedOrderDeliveryDate, tz),
        promised_ship_by: date_of(&wire.OrderDetails.PromiseDate, tz),
        currency,
        customer: Customer {
            channel_customer_id: wire.OrderDetails.CustomerID.filter(|c| *c > 0).map(|c| c.to_string()),
            email,
            name: if bill_to.name.is_empty() { ship_to.name.clone() } else { bill_to.name.clone() },
            company: bill_to.company.clone(),
            phone: bill_to.phone.clone().or_else(|| ship_to.phone.clone()),
        },
        bill_to,
        ship_to,
        lines,
        payments,
        shipping: ShippingCharge {
            method: clean(&wire.ShippingDetails.Service).unwrap_or_default(),
            carrier: clean(&wire.ShippingDetails.Carrier),
            amount: money(t.Shipping),
        },
        order_discounts,
        taxes,
        totals: Totals {
            subtotal: money(t.SubTotal),
            discount: Money::new(order_discount, currency),
            shipping: money(t.Shipping),
            tax,
            grand_total: money(t.GrandTotal),
        },
        notes: Notes {
            customer_instructions: instructions,
            gift_message: clean(&wire.GiftDetails.GiftMessage),
            internal: None,
        },
        tags: tags(wire),
    })
}

/// Sellercloud's `OrderShippingStatus` for a fully shipped order (§1.9).
pub const FULLY_SHIPPED: i64 = 3;

/// The `ShipDate` to send for a shipment, account-local without an offset (§6.1).
///
/// The instant is the confirmation time when it falls on the shipment's date in the account's
/// zone, otherwise noon of that date (a date alone says nothing about the hour, and noon keeps a
/// zone mismatch of up to 12 h on the same day). Sellercloud refuses a ShipDate in the future or
/// before the order was created (§1.11), so the result is clamped to `[created, now − 5 min]`;
/// the margin absorbs clock skew between us and Sellercloud. `created` wins over `now` when the
/// two cross (an order created in the last minutes).
pub fn ship_date_param(
    ship_date: NaiveDate,
    confirmed_at: Option<DateTime<Utc>>,
    tz: Tz,
    created: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    let noon = ship_date.and_hms_opt(12, 0, 0).unwrap_or_default();
    let intended = confirmed_at.filter(|c| c.with_timezone(&tz).date_naive() == ship_date).unwrap_or_else(|| {
        // Noon never falls in a DST gap, but fall back to reading it as UTC rather than panic.
        tz.from_local_datetime(&noon).earliest().map_or_else(|| noon.and_utc(), |t| t.with_timezone(&Utc))
    });
    let mut at = intended.min(now - chrono::Duration::minutes(5));
    if let Some(created) = created {
        // The parameter carries whole seconds: a creation time with a fraction is rounded up, or
        // an order shipped within minutes of its creation would get a ShipDate just before it.
        let whole = created.with_nanosecond(0).unwrap_or(created);
        at = at.max(if whole < created { whole + chrono::Duration::seconds(1) } else { whole });
    }
    at.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A status given as a documented name (`Completed`) or code (`3`); None for anything else.
pub fn status_code_of(value: &str) -> Option<i64> {
    let value = value.trim();
    match value.parse::<i64>() {
        Ok(code) => ORDER_STATUSES.iter().any(|(_, c)| *c == code).then_some(code),
        Err(_) => super::config::status_code(value),
    }
}

/// The note recording every tracking number of a shipment: Sellercloud's shipping call keeps one
/// tracking number per order, so the others would otherwise be lost.
pub fn tracking_note(shipment: &Shipment) -> String {
    let numbers: Vec<String> = shipment
        .packages
        .iter()
        .map(|p| {
            let t = &p.tracking;
            let how = [Some(t.carrier.trim()), t.service.as_deref().map(str::trim)]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if how.is_empty() {
                t.number.to_string()
            } else {
                format!("{} ({how})", t.number)
            }
        })
        .collect();
    format!(
        "Shipment {} shipped {} in {} package(s), tracking: {}",
        shipment.source,
        shipment.ship_date,
        shipment.packages.len(),
        numbers.join(", ")
    )
}

/// A money value of the profit & loss answer: order-level values are strings (`"12.34"`), item
/// values numbers; `"N/A"` (an unsettled marketplace commission), empty or null is not known yet.
fn pnl_amount(value: Option<&Value>) -> Result<Option<Decimal>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.to_string().parse::<Decimal>().map(Some).map_err(|e| e.to_string()),
        Some(Value::String(s)) => {
            let t = s.trim().trim_start_matches('$').replace(',', "");
            if t.is_empty() || t.eq_ignore_ascii_case("N/A") {
                return Ok(None);
            }
            t.parse::<Decimal>().map(Some).map_err(|_| format!("{s:?} is not an amount"))
        }
        Some(other) => Err(format!("{other} is not an amount")),
    }
}

/// One order of the `Orders/ProfitAndLoss` answer → its charges, by Sellercloud's charge names
/// (`charges`: the ones the connection writes).
pub fn charges_from_wire(row: &Value, charges: &[String], tz: Tz) -> Result<crate::model::OrderCharges, String> {
    let id = row
        .get("OrderID")
        .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())))
        .ok_or("OrderID: missing or not a number")?;
    let order = SellercloudOrderId::new(id).map_err(|e| format!("OrderID: {e}"))?.channel_order_id();
    let mut values = std::collections::BTreeMap::new();
    for name in charges {
        let amount = pnl_amount(row.get(name.as_str())).map_err(|e| format!("order {id}: {name}: {e}"))?;
        values.insert(name.clone(), amount);
    }
    let shipped_at = row.get("ShipDate").and_then(Value::as_str).and_then(|t| local_to_utc(t, tz));
    let settled = row.get("SettlementDataAvailable").is_some_and(truthy);
    Ok(crate::model::OrderCharges { order, shipped_at, settled, values })
}

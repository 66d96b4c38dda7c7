//! Pure conversions: ShipStation times ↔ UTC, shipments → canonical, error bodies, rate hints.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;

use super::wire::{ShipmentWire, Unreadable};
use crate::http::{cap_message, json_message};
use crate::model::{Package, PackageItem, Shipment, ShipmentSource, Tracking, TrackingNumber};
use crate::ports::ShippingToolOrder;

/// A ShipStation time (no offset, in the account's zone) as UTC. At the autumn change an hour
/// repeats: the earlier instant is taken, so a "since" window reads a little more, never less.
/// In the spring gap the local time does not exist: it is read as the instant the clocks jumped.
pub fn from_shipstation_time(tz: &Tz, text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    let naive = crate::model::without_leap_second(naive)?;
    let local = tz.from_local_datetime(&naive).earliest().or_else(|| {
        // Inside the spring-forward gap: the first valid local minute after it, which is the jump
        // itself (changes fall on whole minutes). Keeps the mapping monotonic: nothing read in
        // the gap lands after a time read just past it.
        let minute = naive.with_second(0)?.with_nanosecond(0)?;
        (1..=180).find_map(|m| tz.from_local_datetime(&(minute + chrono::Duration::minutes(m))).earliest())
    })?;
    Some(local.with_timezone(&Utc))
}

/// A UTC instant as ShipStation's filters read it: local time in the account's zone, no offset.
pub fn to_shipstation_time(tz: &Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// ShipStation errors: `{"Message": ...}` / `{"message": ...}` (ExceptionMessage on 500s).
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    json_message(&value, &["ExceptionMessage", "Message", "message"]).map(|m| cap_message(&m))
}

fn header_secs(headers: &HeaderMap, name: &str) -> Option<Duration> {
    headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// After any response: when the minute's requests are spent, wait for the reset (§4.0 (2)).
pub fn pause_hint(headers: &HeaderMap) -> Option<Duration> {
    let left = headers.get("X-Rate-Limit-Remaining")?.to_str().ok()?.trim().parse::<i64>().ok()?;
    (left <= 0).then(|| header_secs(headers, "X-Rate-Limit-Reset")).flatten()
}

/// On 429: `X-Rate-Limit-Reset` seconds.
pub fn reset_after(headers: &HeaderMap) -> Option<Duration> {
    header_secs(headers, "X-Rate-Limit-Reset")
}

/// Why a listed shipment is not returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// Voided labels stay listed (§4.3); they ship nothing.
    #[error("shipment {0} is voided")]
    Voided(i64),
    /// Nothing a channel could show the buyer; ShipStation labels normally have one.
    #[error("shipment {0} has no tracking number")]
    Untracked(i64),
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
}

/// One label read back: the order it belongs to, the canonical shipment, and what of it could
/// not be read and was left out (an item, the create date), each named for a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub order: ShippingToolOrder,
    pub shipment: Shipment,
    pub notes: Vec<Unreadable>,
}

/// A label shipment as a canonical shipment of one package.
pub fn to_shipment(tz: &Tz, wire: &ShipmentWire) -> Result<Mapped, Skip> {
    let id = wire.shipment_id;
    let bad = |field: &str, problem: String| Unreadable { shipment: id.to_string(), field: field.into(), problem };
    if wire.voided {
        return Err(Skip::Voided(id));
    }
    let Some(number) = wire.tracking_number.as_deref() else {
        return Err(Skip::Untracked(id));
    };
    let number = TrackingNumber::parse(number).map_err(|e| bad("trackingNumber", e.to_string()))?;
    // Carriers are mapped per channel from this code; a blank one would publish a nameless carrier.
    let carrier = wire.carrier_code.clone().ok_or_else(|| bad("carrierCode", "missing".into()))?;
    let order_number = wire.order_number.clone().ok_or_else(|| bad("orderNumber", "missing".into()))?;
    let ship_date = wire
        .ship_date
        .as_deref()
        .ok_or_else(|| bad("shipDate", "missing".into()))
        // A plain date, though some accounts send it with a midnight time.
        .and_then(|d| {
            NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d")
                .map_err(|_| bad("shipDate", format!("{d:?} is not a date")))
        })?;
    if id <= 0 {
        return Err(bad("shipmentId", format!("{id} is not a shipment id")).into());
    }
    let source = ShipmentSource::new(super::super::system_code(super::CODE), id.to_string());
    let mut notes = Vec::new();
    // Only informative (when the label was bought): an odd one must not cost the shipment.
    let confirmed_at = wire.create_date.as_deref().and_then(|d| {
        let at = from_shipstation_time(tz, d);
        if at.is_none() {
            notes.push(bad("createDate", format!("{d:?} is not a date and time; left out")));
        }
        at
    });
    let mut items = Vec::new();
    for (i, item) in wire.items.iter().enumerate() {
        let field = |name: &str| format!("shipmentItems[{i}].{name}");
        match (&item.sku, item.quantity) {
            (None, _) => notes.push(bad(&field("sku"), "missing".into())),
            (_, None) => notes.push(bad(&field("quantity"), "missing".into())),
            (_, Some(q)) if q <= Decimal::ZERO => {
                notes.push(bad(&field("quantity"), format!("{q} is not a positive quantity")))
            }
            (Some(sku), Some(quantity)) => items.push(PackageItem {
                item_id: sku.clone(),
                erp_line_nbr: None,
                channel_line_id: item.line_item_key.clone(),
                quantity,
            }),
        }
    }
    let shipment = Shipment {
        source,
        ship_date,
        confirmed_at,
        packages: vec![Package {
            // One label is one box; the push key is `SS-{shipmentId}#1`.
            package_id: "1".into(),
            tracking: Tracking { number, carrier, service: wire.service_code.clone(), url: None },
            items,
            weight: None,
        }],
        // A ShipStation label ships its order: split orders are separate orders there, each with
        // its own order number, and the tool knows nothing of the rest of an ERP order. So the
        // channel order this label names has nothing left to ship.
        completes_order: true,
    };
    let order = ShippingToolOrder { store_id: wire.store_id, order_number, order_key: wire.order_key.clone() };
    Ok(Mapped { order, shipment, notes })
}

/// Reads and maps one element of a listing's `shipments`.
pub fn map_shipment(tz: &Tz, raw: &Value) -> Result<Mapped, Skip> {
    to_shipment(tz, &ShipmentWire::decode(raw)?)
}

/// The `createorders` body of a station order; a fractional quantity (ShipStation counts whole
/// units) names the line.
pub fn order_body(order: &crate::model::StationOrder) -> Result<super::wire::OrderBody, String> {
    use super::wire::{AddressBody, AdvancedOptionsBody, ItemBody, OrderBody, WeightBody};
    let address = |a: &crate::model::Address| AddressBody {
        name: if a.name.trim().is_empty() { a.company.clone().unwrap_or_default() } else { a.name.clone() },
        company: a.company.clone().filter(|c| !c.trim().is_empty()),
        street1: a.line1.clone(),
        street2: a.line2.clone().filter(|l| !l.trim().is_empty()),
        city: a.city.clone(),
        state: a.region.clone().filter(|r| !r.trim().is_empty()),
        postal_code: a.postal_code.clone().unwrap_or_default(),
        country: a.country.trim().to_ascii_uppercase(),
        phone: a.phone.clone().filter(|p| !p.trim().is_empty()),
    };
    let items = order
        .items
        .iter()
        .map(|i| {
            let whole = i.quantity.normalize();
            let quantity = (whole.scale() == 0)
                .then(|| i64::try_from(whole.mantissa()).ok())
                .flatten()
                .filter(|q| *q > 0)
                .ok_or_else(|| {
                    format!("line {}: quantity {} is not a whole number of units", i.line_key, i.quantity)
                })?;
            Ok(ItemBody {
                line_item_key: i.line_key.clone(),
                sku: i.sku.clone(),
                name: i.name.chars().take(200).collect(),
                quantity,
                unit_price: i.unit_price,
                weight: i.unit_weight_lb.map(|value| WeightBody { value, units: "pounds" }),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(OrderBody {
        order_number: order.number.clone(),
        order_key: order.key.clone(),
        // Seconds are whole: ShipStation writes seven zeros after them.
        order_date: order.order_date.format("%Y-%m-%dT%H:%M:%S.0000000").to_string(),
        order_status: match order.status {
            crate::model::StationStatus::AwaitingShipment => "awaiting_shipment",
            crate::model::StationStatus::OnHold => "on_hold",
            crate::model::StationStatus::Cancelled => "cancelled",
        },
        bill_to: address(&order.bill_to),
        ship_to: address(&order.ship_to),
        items,
        requested_shipping_service: order.requested_service.clone(),
        customer_notes: order.notes.clone(),
        weight: order.weight_lb.map(|value| WeightBody { value, units: "pounds" }),
        advanced_options: AdvancedOptionsBody {
            store_id: order.store_id,
            custom_field1: order.erp_reference.chars().take(100).collect(),
            source: "orderbridge",
        },
    })
}

//! Pure conversions: ShipStation times ↔ UTC, shipments → canonical, error bodies, rate hints.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::wire::ShipmentWire;
use crate::http::{cap_message, json_message};
use crate::model::{Package, PackageItem, ShipStationShipmentId, Shipment, ShipmentSource, Tracking, TrackingNumber};
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
    let local = tz.from_local_datetime(&naive).earliest().or_else(|| {
        // Inside the spring-forward gap: the first valid local time after it.
        (1..=120).find_map(|m| tz.from_local_datetime(&(naive + chrono::Duration::minutes(m))).earliest())
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

/// A label shipment as a canonical shipment of one package. Voided labels and labels without a
/// tracking number give `Ok(None)`; a label that cannot be read gives the reason.
pub fn to_shipment(tz: &Tz, wire: &ShipmentWire) -> Result<Option<(ShippingToolOrder, Shipment)>, String> {
    let id = wire.shipment_id;
    if wire.voided {
        return Ok(None);
    }
    let Some(number) = wire.tracking_number.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let number = TrackingNumber::parse(number).map_err(|e| format!("shipment {id}: trackingNumber: {e}"))?;
    let order_number = wire
        .order_number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("shipment {id}: orderNumber is empty"))?;
    let ship_date = wire
        .ship_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok())
        .ok_or_else(|| format!("shipment {id}: shipDate {:?} is not a date", wire.ship_date))?;
    let items = wire
        .shipment_items
        .iter()
        .flatten()
        .filter_map(|i| {
            Some(PackageItem {
                item_id: i.sku.as_deref().map(str::trim).filter(|s| !s.is_empty())?.to_owned(),
                erp_line_nbr: None,
                channel_line_id: i.line_item_key.clone().filter(|k| !k.trim().is_empty()),
                quantity: i.quantity?,
            })
        })
        .collect();
    let shipment = Shipment {
        source: ShipmentSource::ShipStation(
            ShipStationShipmentId::new(id).map_err(|e| format!("shipment {id}: shipmentId: {e}"))?,
        ),
        ship_date,
        confirmed_at: wire.create_date.as_deref().and_then(|d| from_shipstation_time(tz, d)),
        packages: vec![Package {
            // One label is one box; its id is the shipment's, so the push key is `SS-{id}#1`.
            package_id: "1".into(),
            tracking: Tracking {
                number,
                carrier: wire.carrier_code.clone().unwrap_or_default(),
                service: wire.service_code.clone(),
                url: None,
            },
            items,
            weight: None,
        }],
        // A ShipStation label ships its order (split orders are separate orders there), and the
        // tool has no notion of the rest of an ERP order.
        completes_order: true,
    };
    let order = ShippingToolOrder {
        store_id: wire.advanced_options.as_ref().and_then(|a| a.store_id),
        order_number: order_number.to_owned(),
        order_key: wire.order_key.clone(),
    };
    Ok(Some((order, shipment)))
}

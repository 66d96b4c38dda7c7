//! Pure conversions: package items → Magento order items, carriers → carrier codes, errors.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::config::carrier_key;
use super::wire::{OrderItemWire, ShipItem, ShipTrack};
use crate::http::{cap_message, json_message};
use crate::model::{PackageItem, Tracking};

/// Magento errors: `{"message": "... %fieldName ...", "parameters": {...}}`, placeholders filled.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut message = json_message(&value, &["message"])?;
    match value.get("parameters") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                message = message.replace(&format!("%{k}"), v.as_str().unwrap_or(&v.to_string()));
            }
        }
        Some(Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                message = message.replace(&format!("%{}", i + 1), v.as_str().unwrap_or(&v.to_string()));
            }
        }
        _ => {}
    }
    Some(cap_message(&message))
}

/// Magento's carrier code for a carrier name (`custom` when it has none; the name goes in `title`).
pub fn carrier_code(carrier: &str) -> &'static str {
    let key = carrier_key(carrier);
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| key.starts_with(p));
    // USPS first: "usps" does not start with "ups", but "unitedstatespostal" would match nothing else.
    if starts(&["usps", "stamps", "unitedstatespostal"]) {
        "usps"
    } else if starts(&["ups", "unitedparcel"]) {
        "ups"
    } else if starts(&["fedex", "federalexpress"]) {
        "fedex"
    } else if starts(&["dhl"]) {
        "dhl"
    } else {
        "custom"
    }
}

/// The `/ship` track of a package: the configured code for its carrier (`mapped`), else the
/// built-in one. The title is what the admin and the customer see, so it names the carrier (and
/// service) even when the code is `custom`.
pub fn ship_track(tracking: &Tracking, mapped: Option<&str>) -> ShipTrack {
    let carrier = tracking.carrier.trim();
    let title = [Some(carrier), tracking.service.as_deref().map(str::trim)]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ShipTrack {
        track_number: tracking.number.as_str().to_owned(),
        title: if title.is_empty() { "Carrier".into() } else { title },
        carrier_code: mapped.unwrap_or_else(|| carrier_code(carrier)).to_owned(),
    }
}

/// What is still shippable per top-level order item (children of configurable or bundle items
/// ship through their parent, as `/ship` requires).
pub fn shippable(items: &[OrderItemWire]) -> BTreeMap<i64, Decimal> {
    items
        .iter()
        .filter(|i| i.parent_item_id.is_none())
        .filter_map(|i| Some((i.item_id?, (i.qty_ordered - i.qty_canceled - i.qty_shipped).max(Decimal::ZERO))))
        .collect()
}

/// The `/ship` items of one package, capped at what is left (`left` is updated). An item matches
/// its channel line id (Magento `item_id`) first, else its SKU (ignoring case); a child item ships
/// via its parent. A SKU on several order lines fills them in order. Returns the items and the
/// shortfalls (capped quantities), or an error naming the item.
pub fn ship_items(
    package: &[PackageItem],
    order_items: &[OrderItemWire],
    left: &mut BTreeMap<i64, Decimal>,
) -> Result<(Vec<ShipItem>, Vec<String>), String> {
    let top_of = |o: &OrderItemWire| o.parent_item_id.or(o.item_id);
    let mut out: Vec<ShipItem> = Vec::new();
    let mut capped = Vec::new();
    for item in package {
        let by_line = item.channel_line_id.as_deref().and_then(|l| l.trim().parse::<i64>().ok());
        let mut tops: Vec<i64> = Vec::new();
        match order_items.iter().find(|o| by_line.is_some() && o.item_id == by_line) {
            Some(line) => tops.extend(top_of(line)),
            None => {
                let sku = item.item_id.trim();
                for o in
                    order_items.iter().filter(|o| o.sku.as_deref().is_some_and(|s| s.trim().eq_ignore_ascii_case(sku)))
                {
                    if let Some(top) = top_of(o).filter(|t| !tops.contains(t)) {
                        tops.push(top);
                    }
                }
            }
        }
        if tops.is_empty() {
            return Err(format!("items[{}]: no item on the Magento order has this SKU or item_id", item.item_id));
        }
        let mut wanted = item.quantity;
        for top in tops {
            if wanted <= Decimal::ZERO {
                break;
            }
            let remaining = left.get(&top).copied().unwrap_or_default();
            let take = wanted.min(remaining);
            if take <= Decimal::ZERO {
                continue;
            }
            left.insert(top, remaining - take);
            wanted -= take;
            match out.iter_mut().find(|s| s.order_item_id == top) {
                Some(existing) => existing.qty += take,
                None => out.push(ShipItem { order_item_id: top, qty: take }),
            }
        }
        if wanted > Decimal::ZERO {
            capped.push(format!(
                "{}: {} of {} not shipped, the order has no more left",
                item.item_id, wanted, item.quantity
            ));
        }
    }
    Ok((out, capped))
}

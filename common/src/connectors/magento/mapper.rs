//! Pure conversions: package items → Magento order items, carriers → carrier codes, errors.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::wire::{OrderItemWire, ShipItem};
use crate::http::{cap_message, json_message};
use crate::model::PackageItem;

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
    let key: String = carrier.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    if key.starts_with("usps") || key.starts_with("stamps") {
        "usps"
    } else if key.starts_with("ups") {
        "ups"
    } else if key.starts_with("fedex") {
        "fedex"
    } else if key.starts_with("dhl") {
        "dhl"
    } else {
        "custom"
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
/// its channel line id (Magento `item_id`) first, else the SKU; a child item ships via its parent.
/// Returns the items and the shortfalls (capped quantities), or an error naming the item.
pub fn ship_items(
    package: &[PackageItem],
    order_items: &[OrderItemWire],
    left: &mut BTreeMap<i64, Decimal>,
) -> Result<(Vec<ShipItem>, Vec<String>), String> {
    let mut out: Vec<ShipItem> = Vec::new();
    let mut capped = Vec::new();
    for item in package {
        let by_line = item.channel_line_id.as_deref().and_then(|l| l.trim().parse::<i64>().ok());
        let found = order_items.iter().find(|o| by_line.is_some() && o.item_id == by_line).or_else(|| {
            order_items.iter().find(|o| o.sku.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(item.item_id.trim())))
        });
        let Some(found) = found else {
            return Err(format!("items[{}]: no item on the Magento order has this SKU or item_id", item.item_id));
        };
        let Some(top) = found.parent_item_id.or(found.item_id) else {
            return Err(format!("items[{}]: the order item has no item_id", item.item_id));
        };
        let remaining = left.get(&top).copied().unwrap_or_default();
        let take = item.quantity.min(remaining);
        if take < item.quantity {
            capped.push(format!("{} ({} not shipped: none left on the order)", item.item_id, item.quantity - take));
        }
        if take <= Decimal::ZERO {
            continue;
        }
        left.insert(top, remaining - take);
        match out.iter_mut().find(|s| s.order_item_id == top) {
            Some(existing) => existing.qty += take,
            None => out.push(ShipItem { order_item_id: top, qty: take }),
        }
    }
    Ok((out, capped))
}

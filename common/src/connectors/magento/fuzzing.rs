//! Fuzzing entry (see `crate::fuzzing`): Magento's response bodies through the client's own
//! decoding and the mapper, as `push_shipment`, `push_status` and the publish flow read them.

use super::mapper::{error_message, ship_items, shippable, status_steps, storefront_customer};
use super::wire::{
    CustomerSearch, CustomerWire, OrderRefSearch, OrderRefWire, OrderWire, ProductSearch, ShipmentSearch,
};
use crate::model::PackageItem;

/// `docs[0]`: the order (or a search result, a created customer or order, an error);
/// `docs[1]`: a package's items (canonical JSON) to ship from that order.
pub fn wire(docs: &[&[u8]]) {
    let body = docs.first().copied().unwrap_or_default();
    let _ = error_message(body);
    let _ = serde_json::from_slice::<ShipmentSearch>(body);
    let _ = serde_json::from_slice::<OrderRefSearch>(body);
    let _ = serde_json::from_slice::<OrderRefWire>(body);
    let _ = serde_json::from_slice::<ProductSearch>(body);
    if let Ok(found) = serde_json::from_slice::<CustomerSearch>(body) {
        found.items.iter().for_each(|c| drop(storefront_customer(c)));
    }
    if let Ok(created) = serde_json::from_slice::<CustomerWire>(body) {
        let _ = storefront_customer(&created);
    }
    // Storefront orders and accounts into the ERP: the listing, one order, the customer search.
    if let Ok(connection) = crate::model::ConnectionId::parse("mg-fuzz") {
        let import = super::config::MagentoImport::default();
        if let Ok(found) = serde_json::from_slice::<super::wire::StoreOrderSearch>(body) {
            for wire in &found.items {
                if let Ok(order) = super::orders_in::to_order(wire, &connection, &import) {
                    let _ = order.check_totals();
                    assert_eq!(order.content_digest().len(), 16);
                }
            }
        }
        if let Ok(wire) = serde_json::from_slice::<super::wire::StoreOrderWire>(body) {
            let _ = super::orders_in::to_order(&wire, &connection, &import);
        }
        if let Ok(found) = serde_json::from_slice::<super::wire::StoreCustomerSearch>(body) {
            found.items.iter().for_each(|c| drop(super::customers_in::to_customer(c, &connection)));
        }
    }
    let Ok(order) = serde_json::from_slice::<OrderWire>(body) else { return };
    for target in ["complete", "holded", "canceled", "processing"] {
        let _ = status_steps(&order, target);
    }
    let mut left = shippable(&order.items);
    let items = docs.get(1).and_then(|d| serde_json::from_slice::<Vec<PackageItem>>(d).ok()).unwrap_or_default();
    if let Ok((shipped, _capped)) = ship_items(&items, &order.items, &mut left) {
        assert!(shipped.iter().all(|s| s.qty > rust_decimal::Decimal::ZERO), "only positive quantities ship");
    }
}

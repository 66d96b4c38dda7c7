//! Fuzzing entry (see `crate::fuzzing`): BigCommerce's response bodies through the client's own
//! decoding and the mapper, as `list_new_orders`, `fetch_order` and `push_shipment` read them
//! (an order with its consignments embedded, too).

use super::mapper::{allocate, embedded, error_message, to_order, unshipped};
use super::wire::{AddressWire, OrderWire, ProductWire, ShipmentWire};
use crate::model::{ConnectionId, PackageItem};

/// `docs[0]`: the order (or a listing, the order's shipments, an error); `docs[1]`: its products;
/// `docs[2]`: its shipping addresses; `docs[3]`: a package's items (canonical JSON) to allocate.
pub fn wire(docs: &[&[u8]]) {
    let doc = |i: usize| docs.get(i).copied().unwrap_or(b"[]");
    let body = doc(0);
    let _ = error_message(body);
    let _ = serde_json::from_slice::<Vec<OrderWire>>(body);
    let _ = serde_json::from_slice::<Vec<ShipmentWire>>(body);
    let products = serde_json::from_slice::<Vec<ProductWire>>(doc(1)).unwrap_or_default();
    let addresses = serde_json::from_slice::<Vec<AddressWire>>(doc(2)).unwrap_or_default();
    if let Ok(order) = serde_json::from_slice::<OrderWire>(body) {
        let connection = ConnectionId::parse("bc-main").unwrap_or_else(|_| unreachable!("a valid id"));
        if let Ok(mapped) = to_order(&order, &products, &addresses, &connection, "BigCommerce") {
            let _ = mapped.check_totals();
        }
        // The same order read with its consignments (lines and addresses embedded).
        if let Some((products, addresses)) = embedded(&order) {
            if let Ok(mapped) = to_order(&order, &products, &addresses, &connection, "BigCommerce") {
                let _ = mapped.check_totals();
            }
        }
    }
    let mut lines = unshipped(&products);
    assert!(lines.iter().all(|l| l.remaining >= 0), "never less than nothing left to ship");
    if let Ok(items) = serde_json::from_slice::<Vec<PackageItem>>(doc(3)) {
        let _ = allocate(&items, &mut lines);
        assert!(lines.iter().all(|l| l.remaining >= 0), "allocation never ships more than is left");
    }
}

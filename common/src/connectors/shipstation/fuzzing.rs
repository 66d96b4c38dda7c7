//! Fuzzing entry (see `crate::fuzzing`): ShipStation's shipment listings through the client's own
//! decoding and the mapper, as the batch fetch and the catch-up poll read them.

use super::mapper::{error_message, from_shipstation_time, map_shipment};
use super::wire::ShipmentsPage;
use crate::model::Shipment;
use crate::ports::ShippingToolOrder;

/// `docs[0]`: a `GET /shipments` page (or an error body). Returns the shipments it maps to.
pub fn wire(docs: &[&[u8]]) -> Vec<(ShippingToolOrder, Shipment)> {
    let body = docs.first().copied().unwrap_or_default();
    let _ = error_message(body);
    let tz = chrono_tz::America::Los_Angeles;
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = from_shipstation_time(&tz, text);
    }
    let Ok(page) = serde_json::from_slice::<ShipmentsPage>(body) else { return Vec::new() };
    page.shipments.iter().filter_map(|raw| map_shipment(&tz, raw).ok()).map(|m| (m.order, m.shipment)).collect()
}

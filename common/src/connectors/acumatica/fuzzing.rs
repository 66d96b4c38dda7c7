//! Fuzzing entry (see `crate::fuzzing`): Acumatica's response bodies through the client's own
//! decoding and the mapper, as the shipment reads, the order state, the publish flow's sales
//! orders and invoices, the lookups and the error hooks read them.

use super::mapper::{
    entity_errors, error_message, invoice_from_wire, invoice_keys, is_entity_outcome_error, order_state_from_wire,
    sales_order_from_wire, shipment_to_canonical,
};
use super::wire::{
    CustomerClassWire, CustomerEmailKey, SalesInvoiceWire, SalesOrderInvoicesWire, SalesOrderKeys, SalesOrderStateWire,
    SalesOrderWire, ShipmentWire, StockItemWire,
};
use crate::model::{ErpOrderRef, Shipment};

/// `docs[0]`: one body as any of the client's reads returns it. Returns the shipments a shipment
/// body maps to.
pub fn wire(docs: &[&[u8]]) -> Vec<(ErpOrderRef, Shipment)> {
    let body = docs.first().copied().unwrap_or_default();
    let _ = error_message(body);
    let _ = is_entity_outcome_error(body);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = entity_errors(&value);
        let _ = serde_json::from_value::<SalesOrderKeys>(value);
    }
    let _ = serde_json::from_slice::<Vec<SalesOrderKeys>>(body);
    let _ = serde_json::from_slice::<Vec<CustomerEmailKey>>(body);
    let _ = serde_json::from_slice::<CustomerClassWire>(body);
    let _ = serde_json::from_slice::<Vec<StockItemWire>>(body);
    // Availability for storefronts (changed-since and per-item inquiries).
    let _ = serde_json::from_slice::<super::wire::QtyAvailableInquiry>(body);
    let _ = serde_json::from_slice::<super::wire::SummaryInquiry>(body);
    let shipped = ["Confirmed".to_owned(), "Completed".to_owned()];
    if let Ok(page) = serde_json::from_slice::<Vec<ShipmentWire>>(body) {
        page.iter().for_each(|s| drop(shipment_to_canonical(s, &shipped)));
    }
    if let Ok(state) = serde_json::from_slice::<SalesOrderStateWire>(body) {
        let _ = order_state_from_wire(&state);
    }
    if let Ok(order) = serde_json::from_slice::<SalesOrderWire>(body) {
        let _ = sales_order_from_wire(&order);
    }
    if let Ok(invoices) = serde_json::from_slice::<SalesOrderInvoicesWire>(body) {
        let _ = invoice_keys(&invoices);
    }
    if let Ok(invoice) = serde_json::from_slice::<SalesInvoiceWire>(body) {
        let erp = ErpOrderRef::parse("SO/SO000123").unwrap_or_else(|| unreachable!("a valid order key"));
        let _ = invoice_from_wire(&invoice, &erp, &("Invoice".to_owned(), "INV000042".to_owned()));
    }
    serde_json::from_slice::<ShipmentWire>(body)
        .ok()
        .and_then(|shipment| shipment_to_canonical(&shipment, &shipped).ok())
        .unwrap_or_default()
}

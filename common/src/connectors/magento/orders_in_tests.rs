use rust_decimal_macros::dec;
use serde_json::json;

use super::*;

fn connection() -> ConnectionId {
    ConnectionId::parse("mg-store").unwrap()
}

/// A storefront order as the order search answers it: a simple line with a discount, a
/// configurable line (parent row priced, child row at zero), an order discount, tax and shipping.
fn wire() -> StoreOrderWire {
    serde_json::from_value(json!({
        "entity_id": 3001, "increment_id": "100003001", "status": "processing", "state": "processing",
        "created_at": "2026-11-30 09:15:00", "updated_at": "2026-11-30 09:20:00",
        "customer_id": 104, "customer_is_guest": 0, "customer_email": "ann@example.com",
        "customer_firstname": "Ann", "customer_lastname": "Lee", "customer_note": "Leave at the door",
        "order_currency_code": "USD", "subtotal": 70.0, "discount_amount": -7.5,
        "discount_description": "WELCOME5", "shipping_amount": 5, "tax_amount": "5.10",
        "grand_total": 72.6, "shipping_description": "Flat Rate - Fixed",
        "items": [
            {"item_id": 9001, "sku": "SKU-1", "name": "Mug", "qty_ordered": 2, "price": 20,
             "discount_amount": 2.5, "tax_amount": 3.0, "product_type": "simple"},
            {"item_id": 9002, "sku": "SKU-2-M", "name": "Shirt", "qty_ordered": 1, "price": 30,
             "discount_amount": 0, "tax_amount": 2.1, "product_type": "configurable"},
            {"item_id": 9003, "parent_item_id": 9002, "sku": "SKU-2-M", "name": "Shirt", "qty_ordered": 1,
             "price": 0, "product_type": "simple"}
        ],
        "billing_address": {"firstname": "Ann", "lastname": "Lee", "street": ["1 Main St", "Apt 2"],
            "city": "Austin", "region": "Texas", "region_code": "TX", "postcode": "78701",
            "country_id": "US", "telephone": "555-0100", "email": "ann@example.com"},
        "payment": {"method": "checkmo", "amount_paid": 72.6, "last_trans_id": "txn-3001"},
        "status_histories": [],
        "extension_attributes": {
            "shipping_assignments": [{"shipping": {"method": "flatrate_flatrate", "address": {
                "firstname": "Bo", "lastname": "Lee", "street": ["9 Side Rd"], "city": "Dallas",
                "region_code": "TX", "postcode": "75201", "country_id": "US", "telephone": "555-0101"}}}],
            "gift_message": {"message": "Happy birthday"}
        }
    }))
    .unwrap()
}

#[test]
fn a_storefront_order_maps_to_the_cent() {
    let order = to_order(&wire(), &connection(), &MagentoImport::default()).unwrap();
    assert_eq!(order.channel_order_id.to_string(), "MG-3001");
    assert_eq!(order.display_number, "100003001");
    assert_eq!(order.lines.len(), 2, "the configurable's child row is not a line");
    assert_eq!(order.lines[1].identifiers.sku.as_deref(), Some("SKU-2-M"));
    assert_eq!(order.lines[0].discount.amount, dec!(2.5));
    assert_eq!(order.order_discounts[0].amount.amount, dec!(5.0), "7.50 in all less 2.50 on the line");
    assert_eq!(order.shipping.method, "flatrate_flatrate");
    assert_eq!(order.ship_to.name, "Bo Lee");
    assert_eq!(order.bill_to.line2.as_deref(), Some("Apt 2"));
    assert_eq!(order.bill_to.region.as_deref(), Some("TX"));
    assert_eq!(order.customer.channel_customer_id.as_deref(), Some("104"));
    assert_eq!(order.notes.gift_message.as_deref(), Some("Happy birthday"));
    assert_eq!(order.notes.customer_instructions.as_deref(), Some("Leave at the door"));
    assert_eq!(order.payments[0].amount.amount, dec!(72.6));
    assert_eq!(order.placed_at.to_rfc3339(), "2026-11-30T09:15:00+00:00");
    order.check_totals().unwrap();
}

#[test]
fn a_guest_has_no_customer_id_and_an_unpaid_order_no_payment() {
    let mut w = wire();
    w.customer_is_guest = Some(1);
    w.payment.as_mut().unwrap().amount_paid = None;
    let order = to_order(&w, &connection(), &MagentoImport::default()).unwrap();
    assert_eq!(order.customer.channel_customer_id, None);
    assert!(order.payments.is_empty());
}

#[test]
fn bad_orders_name_the_field() {
    let mut w = wire();
    w.created_at = Some("30/11/2026".into());
    assert!(to_order(&w, &connection(), &MagentoImport::default()).unwrap_err().contains("created_at"));
    let mut w = wire();
    w.items[0].sku = None;
    assert!(to_order(&w, &connection(), &MagentoImport::default()).unwrap_err().contains("items[0].sku"));
    let mut w = wire();
    w.billing_address = None;
    assert!(to_order(&w, &connection(), &MagentoImport::default()).unwrap_err().contains("billing_address"));
}

#[test]
fn positions_round_trip_and_foreign_tokens_are_refused() {
    let p = Position { since: parse_time("2026-11-30 09:00:00"), after: 3001, high: parse_time("2026-11-30 09:20:00") };
    assert_eq!(p.token().0, "mg1|2026-11-30 09:00:00|3001|2026-11-30 09:20:00");
    assert_eq!(Position::parse(&p.token()), Some(p));
    assert_eq!(Position::parse(&PageToken("mg1|||".into())), None, "after must be a number");
    assert_eq!(Position::parse(&PageToken("mg1||0|".into())), Some(Position::default()));
    assert_eq!(Position::parse(&PageToken("42".into())), None);
    assert_eq!(Position::parse(&PageToken("mg1|yesterday|0|".into())), None);
}

#[test]
fn the_imported_comment_marks_exactly_this_content() {
    let order = to_order(&wire(), &connection(), &MagentoImport::default()).unwrap();
    let digest = order.content_digest();
    let erp = crate::model::ErpOrderRef::parse("SO/000123").unwrap();
    let comment = imported_comment(&erp, &order.channel_order_id, Some(&digest));
    assert!(comment.contains("SO") && comment.contains("000123"), "{comment}");
    let mut w = wire();
    assert!(!imported_as_is(&w, &digest));
    w.status_histories.push(super::super::wire::HistoryWire { comment: Some(comment) });
    assert!(imported_as_is(&w, &digest));
    // Edited after the import: the comment no longer matches.
    w.items[0].qty_ordered = dec!(3);
    let edited = to_order(&w, &connection(), &MagentoImport::default()).unwrap();
    assert!(!imported_as_is(&w, &edited.content_digest()));
}

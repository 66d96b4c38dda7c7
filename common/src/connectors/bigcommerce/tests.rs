//! BigCommerce mapper tests with fixtures in the v2 shapes (§3.3, §3.4).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use rust_decimal_macros::dec;
use serde_json::json;

use super::config::BigCommerceConfig;
use super::mapper::{error_message, pause_hint, to_order};
use super::wire::{AddressWire, OrderWire, ProductWire};
use crate::model::ConnectionId;

#[test]
fn order_with_products_and_address_maps_exactly() {
    let order: OrderWire = serde_json::from_value(json!({
        "id": 1042, "customer_id": 0, "date_created": "Wed, 01 May 2024 14:03:11 +0000", "status_id": 11,
        "status": "Awaiting Fulfillment", "subtotal_ex_tax": "49.9800", "shipping_cost_ex_tax": "5.0000",
        "total_tax": "3.2000", "total_inc_tax": "54.1800", "discount_amount": "4.0000",
        "payment_method": "Credit Card", "payment_status": "captured", "payment_provider_id": "pp-1042",
        "currency_code": "USD", "customer_message": "Ring twice",
        "billing_address": {"first_name": "Ann", "last_name": "Lee", "street_1": "1 Main St", "city": "Austin",
                            "state": "Texas", "zip": "78701", "country_iso2": "US", "email": "ann@example.com"}
    }))
    .unwrap();
    let products: Vec<ProductWire> = serde_json::from_value(json!([
        {"id": 88, "sku": "SKU-RED-M", "upc": "012345678905", "name": "Red", "quantity": 2, "price_ex_tax": "19.9900",
         "total_tax": "3.2000", "applied_discounts": [{"id": "1", "amount": "1.0000", "target": "product"}],
         "wrapping_message": "Happy birthday"},
        {"id": 89, "sku": "SKU-BLUE-L", "name": "Blue", "quantity": 1, "price_ex_tax": "10.0000", "total_tax": "0.0000",
         "applied_discounts": []}
    ]))
    .unwrap();
    let addresses: Vec<AddressWire> = serde_json::from_value(json!([
        {"id": 7, "first_name": "Bo", "last_name": "Lee", "street_1": "2 Side St", "city": "Austin", "zip": "78702",
         "country_iso2": "US", "shipping_method": "UPS Ground"}
    ]))
    .unwrap();
    let o = to_order(&order, &products, &addresses, &ConnectionId::parse("bc-store").unwrap(), "Website").unwrap();
    assert_eq!(o.placed_at, Utc.with_ymd_and_hms(2024, 5, 1, 14, 3, 11).unwrap());
    assert_eq!(o.customer.channel_customer_id, None, "customer 0 is a guest");
    assert_eq!(o.lines[0].discount.amount, dec!(1.0000));
    assert_eq!(o.order_discounts[0].amount.amount, dec!(3.0000), "discount_amount minus line discounts");
    assert_eq!(o.ship_to.line1, "2 Side St");
    assert_eq!(o.shipping.method, "UPS Ground");
    assert_eq!(o.notes.gift_message.as_deref(), Some("Happy birthday"));
    assert_eq!(o.order_source.0, "Website");
    // 2×19.99 − 1 + 10 − 3 + 5 + 3.20 = 54.18.
    o.check_totals().unwrap();
}

#[test]
fn empty_left_pauses_until_reset_and_v2_errors_are_read() {
    let mut h = HeaderMap::new();
    h.insert("X-Rate-Limit-Requests-Left", HeaderValue::from_static("0"));
    h.insert("X-Rate-Limit-Time-Reset-Ms", HeaderValue::from_static("1500"));
    assert_eq!(pause_hint(&h), Some(Duration::from_millis(1500)));
    h.insert("X-Rate-Limit-Requests-Left", HeaderValue::from_static("3"));
    assert_eq!(pause_hint(&h), None);
    assert_eq!(
        error_message(br#"[{"status":400,"message":"The field 'status_id' is invalid."}]"#).as_deref(),
        Some("The field 'status_id' is invalid.")
    );
}

#[test]
fn config_refuses_a_downloaded_status_equal_to_new() {
    let mut c = BigCommerceConfig::new("https://api.bigcommerce.com/stores/abc", "t".to_string().into());
    c.validate().unwrap();
    c.downloaded_status_id = c.new_status_id;
    assert!(c.validate().unwrap_err().to_string().contains("downloaded_status_id"));
}

mod publisher {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::super::mapper::{allocate, provider_codes, unshipped, Unshipped};
    use super::super::wire::{ProductWire, ShipmentItem};
    use crate::model::PackageItem;

    fn item(sku: &str, quantity: Decimal) -> PackageItem {
        PackageItem { item_id: sku.into(), erp_line_nbr: None, channel_line_id: None, quantity }
    }

    fn line(id: i64, sku: &str, remaining: i64) -> Unshipped {
        Unshipped { order_product_id: id, sku: Some(sku.into()), order_address_id: Some(7), remaining }
    }

    #[test]
    fn carriers_map_to_bigcommerce_provider_codes() {
        assert_eq!(provider_codes("UPS"), Some(("ups", "ups")));
        assert_eq!(provider_codes("UPS Ground"), Some(("ups", "ups")));
        assert_eq!(provider_codes("USPS"), Some(("usps", "usps")), "USPS is not UPS");
        assert_eq!(provider_codes("stamps_com"), Some(("usps", "usps")));
        assert_eq!(provider_codes("FedEx"), Some(("fedex", "fedex")));
        assert_eq!(provider_codes("fedex_ground"), Some(("fedex", "fedex")));
        assert_eq!(provider_codes("Canada Post"), Some(("canadapost", "canada-post")));
        assert_eq!(provider_codes("DHL Express"), None);
        assert_eq!(provider_codes(""), None);
    }

    #[test]
    fn unshipped_is_quantity_minus_quantity_shipped() {
        let products: Vec<ProductWire> = serde_json::from_value(serde_json::json!([
            {"id": 88, "sku": "A", "quantity": 3, "quantity_shipped": 1, "order_address_id": 7},
            {"id": 89, "sku": "B", "quantity": 1, "quantity_shipped": 1},
            {"sku": "no-id", "quantity": 1}
        ]))
        .unwrap();
        let lines = unshipped(&products);
        assert_eq!(lines.len(), 2, "a product without an id cannot be shipped");
        assert_eq!((lines[0].remaining, lines[0].order_address_id), (2, Some(7)));
        assert_eq!(lines[1].remaining, 0);
    }

    #[test]
    fn quantities_are_capped_at_what_is_left_across_packages() {
        let mut lines = vec![line(88, "SKU-A", 3), line(89, "SKU-B", 1)];
        let first = allocate(&[item("sku-a", dec!(2)), item("SKU-B", dec!(1))], &mut lines).unwrap();
        assert_eq!(
            first.by_address,
            vec![(
                Some(7),
                vec![
                    ShipmentItem { order_product_id: 88, quantity: 2 },
                    ShipmentItem { order_product_id: 89, quantity: 1 }
                ]
            )]
        );
        assert!(first.capped.is_empty());
        // The second package asks for more than is left: capped, and the shortfall reported.
        let second = allocate(&[item("SKU-A", dec!(2)), item("SKU-B", dec!(1))], &mut lines).unwrap();
        assert_eq!(second.by_address, vec![(Some(7), vec![ShipmentItem { order_product_id: 88, quantity: 1 }])]);
        assert_eq!(second.capped.len(), 2);
        let third = allocate(&[item("SKU-A", dec!(1))], &mut lines).unwrap();
        assert!(third.is_empty(), "nothing left: nothing to post");
    }

    #[test]
    fn a_sku_on_two_lines_is_spread_over_them() {
        let mut lines = vec![line(88, "SKU-A", 1), line(90, "SKU-A", 2)];
        let a = allocate(&[item("SKU-A", dec!(3))], &mut lines).unwrap();
        assert_eq!(
            a.by_address[0].1,
            vec![
                ShipmentItem { order_product_id: 88, quantity: 1 },
                ShipmentItem { order_product_id: 90, quantity: 2 }
            ]
        );
    }

    #[test]
    fn the_channel_line_wins_over_an_erp_item_id_that_is_not_the_sku() {
        let mut lines = vec![line(88, "SKU-A", 1), line(89, "SKU-B", 2)];
        // The ERP knows SKU-B as WIDGET-9 (found by barcode at import); its line kept product 89.
        let mut widget = item("WIDGET-9", dec!(2));
        widget.channel_line_id = Some("89".into());
        let a = allocate(&[widget.clone()], &mut lines).unwrap();
        assert_eq!(a.by_address[0].1, vec![ShipmentItem { order_product_id: 89, quantity: 2 }]);
        widget.channel_line_id = Some("404".into());
        let e = allocate(&[widget], &mut lines).unwrap_err();
        assert!(e.contains("items[WIDGET-9].channel_line_id") && e.contains("404"), "{e}");
    }

    #[test]
    fn a_channel_line_picks_its_product_even_when_the_item_id_is_another_products_sku() {
        // Two products share SKU-A; the ERP line of the second one kept its product id 90.
        let mut lines = vec![line(88, "SKU-A", 1), line(90, "SKU-A", 1), line(91, "SKU-C", 1)];
        let mut second = item("SKU-A", dec!(1));
        second.channel_line_id = Some(" 90 ".into());
        // By SKU this would have gone to 88; without a channel line the next one still does.
        let a = allocate(&[second, item("sku-c", dec!(1)), item("SKU-A", dec!(1))], &mut lines).unwrap();
        assert_eq!(
            a.by_address[0].1,
            vec![
                ShipmentItem { order_product_id: 90, quantity: 1 },
                ShipmentItem { order_product_id: 91, quantity: 1 },
                ShipmentItem { order_product_id: 88, quantity: 1 }
            ]
        );
        // A channel line already shipped is capped, not moved to another product with the SKU.
        let mut lines = vec![line(88, "SKU-A", 1), line(90, "SKU-A", 0)];
        let mut again = item("SKU-A", dec!(1));
        again.channel_line_id = Some("90".into());
        let b = allocate(&[again], &mut lines).unwrap();
        assert!(b.is_empty() && b.capped.len() == 1, "{b:?}");
        assert_eq!(lines[0].remaining, 1);
    }

    #[test]
    fn unknown_skus_and_fractional_quantities_are_refused_by_name() {
        let mut lines = vec![line(88, "SKU-A", 3)];
        let e = allocate(&[item("NOPE", dec!(1))], &mut lines).unwrap_err();
        assert!(e.contains("items[NOPE].item_id"), "{e}");
        let e = allocate(&[item("SKU-A", dec!(1.5))], &mut lines).unwrap_err();
        assert!(e.contains("items[SKU-A].quantity"), "{e}");
        assert_eq!(lines[0].remaining, 3, "nothing taken");
    }
}

#[test]
fn shipped_quantities_at_the_ends_of_i64_do_not_overflow() {
    // Fuzzing regression: quantity − quantity_shipped overflowed an i64.
    let products: Vec<ProductWire> = serde_json::from_value(json!([
        {"id": 1, "quantity": "9223372036854775807", "quantity_shipped": "-9223372036854775807"},
        {"id": 2, "quantity": "-9223372036854775807", "quantity_shipped": "9223372036854775807"}
    ]))
    .unwrap();
    let remaining: Vec<i64> = super::mapper::unshipped(&products).iter().map(|u| u.remaining).collect();
    assert_eq!(remaining, vec![i64::MAX, 0]);
}

#[test]
fn the_erp_number_joins_the_staff_notes_without_losing_or_repeating_lines() {
    use super::client::with_orderbridge_line;
    assert_eq!(with_orderbridge_line(None, "Imported to the ERP as SO/000001."), "Imported to the ERP as SO/000001.");
    let staff = "Call before delivery\nVIP";
    let first = with_orderbridge_line(Some(staff), "Orderbridge could not import this order: unmapped X");
    assert_eq!(first, "Call before delivery\nVIP\nOrderbridge could not import this order: unmapped X");
    let fixed = with_orderbridge_line(Some(&first), "Imported to the ERP as SO/000002.");
    assert_eq!(fixed, "Call before delivery\nVIP\nImported to the ERP as SO/000002.", "the failure line is replaced");
    assert_eq!(with_orderbridge_line(Some(&fixed), "Imported to the ERP as SO/000002."), fixed, "idempotent");
}

/// An order as `include=consignments.line_items&consignment_structure=object` returns it, with
/// `consignments` replaced by `consignments` given.
fn with_consignments(consignments: serde_json::Value) -> OrderWire {
    serde_json::from_value(json!({
        "id": 1042, "date_created": "Wed, 01 May 2024 14:03:11 +0000", "status_id": 11,
        "currency_code": "USD", "total_tax": "0.0000", "total_inc_tax": "25.0000",
        "billing_address": {"first_name": "Ann", "last_name": "Lee", "street_1": "1 Main St", "city": "Austin",
                            "zip": "78701", "country_iso2": "US", "email": "ann@example.com"},
        "products": {"url": "https://api.bigcommerce.com/stores/x/v2/orders/1042/products", "resource": "/orders/1042/products"},
        "consignments": consignments,
    }))
    .unwrap()
}

fn shipping_consignment(line_items: serde_json::Value) -> serde_json::Value {
    // The documented shipping consignment fields (orders.v2.oas2.yml, shippingConsignment_Get);
    // costs as numbers, as the documentation's example gives them.
    json!({
        "id": 7, "first_name": "Bo", "last_name": "Lee", "company": "", "street_1": "2 Side St", "street_2": "",
        "city": "Austin", "state": "Texas", "zip": "78702", "country": "United States", "country_iso2": "US",
        "phone": "", "email": "bo@example.com", "form_fields": [], "shipping_method": "UPS Ground",
        "line_items": line_items, "items_total": 3, "items_shipped": 0, "base_cost": 5.1, "cost_ex_tax": 5.1,
        "cost_inc_tax": 5.1, "cost_tax": 0, "shipping_zone_id": 1, "shipping_zone_name": "United States",
        "shipping_quotes": {"url": "https://x/v2/orders/1042/consignments/shipping/7/shipping_quotes", "resource": "/x"}
    })
}

#[test]
fn consignments_with_their_lines_give_the_products_and_addresses_without_more_calls() {
    use super::mapper::embedded;
    let lines = json!([
        {"id": 88, "order_address_id": 7, "sku": "SKU-RED-M", "name": "Red", "quantity": 2, "price_ex_tax": "10.0000",
         "total_tax": "0.0000", "applied_discounts": []}
    ]);
    let pickup_lines = json!([
        {"id": 87, "sku": "SKU-BLUE-L", "name": "Blue", "quantity": 1, "price_ex_tax": "5.0000", "total_tax": "0.0000"}
    ]);
    let order = with_consignments(json!({
        "pickups": [{"id": 1, "pickup_method_id": 1, "line_items": pickup_lines}],
        "shipping": [shipping_consignment(lines)],
        "downloads": [],
        "email": {"gift_certificates": []}
    }));
    let (products, addresses) = embedded(&order).expect("every line embedded");
    assert_eq!(
        products.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![Some(87), Some(88)],
        "shipping and pickup lines, in /products order (by id)"
    );
    assert_eq!(addresses.len(), 1);
    assert_eq!((addresses[0].id, addresses[0].shipping_method.as_deref()), (Some(7), Some("UPS Ground")));
    let o = to_order(&order, &products, &addresses, &ConnectionId::parse("bc-store").unwrap(), "Website").unwrap();
    assert_eq!(o.ship_to.line1, "2 Side St");
    assert_eq!(o.lines.len(), 2);
    assert_eq!(o.lines[1].quantity, dec!(2));
}

#[test]
fn consignments_without_their_lines_or_as_a_link_mean_reading_the_lines_separately() {
    use super::mapper::embedded;
    // `include=consignments` alone: lines are product links.
    let links = with_consignments(json!({
        "pickups": [], "downloads": [], "email": {"gift_certificates": []},
        "shipping": [shipping_consignment(json!([{"url": "https://x/v2/orders/1042/products/88", "resource": "/orders/1042/products/88"}]))]
    }));
    assert!(embedded(&links).is_none(), "a line given as a link");
    // No include: the resource link.
    let link = with_consignments(
        json!({"url": "https://x/v2/orders/1042/consignments", "resource": "/orders/1042/consignments"}),
    );
    assert!(embedded(&link).is_none());
    // A download consignment whose line_items is a single link (the documentation's own example).
    let single = with_consignments(json!({
        "shipping": [shipping_consignment(json!([{"id": 88, "sku": "A", "quantity": 1}]))],
        "downloads": [{"id": 2, "recipient_email": "a@example.com", "line_items": {"url": "u", "resource": "/r"}}]
    }));
    assert!(embedded(&single).is_none(), "a line given as one link object");
    // Nothing to import from: no line at all.
    let empty = with_consignments(json!({"shipping": [shipping_consignment(json!([]))]}));
    assert!(embedded(&empty).is_none());
    // The legacy array structure.
    let legacy = with_consignments(json!([{"id": 1, "lineItemIds": ["88"]}]));
    assert!(embedded(&legacy).is_none());
}

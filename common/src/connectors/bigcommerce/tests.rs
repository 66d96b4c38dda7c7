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

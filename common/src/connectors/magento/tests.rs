use std::collections::BTreeMap;

use rust_decimal_macros::dec;

use super::mapper::{carrier_code, error_message, ship_items, shippable};
use super::wire::{OrderItemWire, ShipItem};
use super::MagentoConfig;
use crate::model::PackageItem;

fn order_items() -> Vec<OrderItemWire> {
    serde_json::from_value(serde_json::json!([
        {"item_id": 10, "sku": "MUG", "qty_ordered": 3, "qty_shipped": 1},
        {"item_id": 11, "sku": "TEE-PARENT", "qty_ordered": 2, "qty_shipped": 0},
        {"item_id": 12, "sku": "TEE-RED-M", "parent_item_id": 11, "qty_ordered": 2},
        {"item_id": 13, "sku": "CAP", "qty_ordered": 1, "qty_canceled": 1}
    ]))
    .unwrap()
}

fn item(sku: &str, qty: rust_decimal::Decimal, line: Option<&str>) -> PackageItem {
    PackageItem { item_id: sku.into(), erp_line_nbr: None, channel_line_id: line.map(str::to_owned), quantity: qty }
}

#[test]
fn children_ship_through_their_parent_and_quantities_are_capped_at_what_is_left() {
    let items = order_items();
    let mut left = shippable(&items);
    assert_eq!(left, BTreeMap::from([(10, dec!(2)), (11, dec!(2)), (13, dec!(0))]));
    let (first, capped) =
        ship_items(&[item("mug", dec!(1), None), item("TEE-RED-M", dec!(2), None)], &items, &mut left).unwrap();
    assert_eq!(first, vec![ShipItem { order_item_id: 10, qty: dec!(1) }, ShipItem { order_item_id: 11, qty: dec!(2) }]);
    assert!(capped.is_empty());
    // The ERP calls the mug something else; the channel line id still finds it. Only 1 is left.
    let (second, capped) = ship_items(&[item("ERP-MUG", dec!(3), Some("10"))], &items, &mut left).unwrap();
    assert_eq!(second, vec![ShipItem { order_item_id: 10, qty: dec!(1) }]);
    assert_eq!(capped.len(), 1);
    let err = ship_items(&[item("NOPE", dec!(1), None)], &items, &mut left).unwrap_err();
    assert!(err.contains("items[NOPE]"), "{err}");
}

#[test]
fn carriers_map_to_magento_codes_and_errors_fill_their_placeholders() {
    assert_eq!(carrier_code("UPS Ground"), "ups");
    assert_eq!(carrier_code("USPS"), "usps");
    assert_eq!(carrier_code("FedEx"), "fedex");
    assert_eq!(carrier_code("Royal Mail"), "custom");
    let body = br#"{"message":"No such entity with %fieldName = %fieldValue","parameters":{"fieldName":"orderId","fieldValue":"9"}}"#;
    assert_eq!(error_message(body).as_deref(), Some("No such entity with orderId = 9"));
}

#[test]
fn config_validation_names_the_field() {
    let mut c = MagentoConfig::new("https://shop.example.com", "t0k".to_string().into());
    c.validate().unwrap();
    assert!(!format!("{c:?}").contains("t0k"));
    c.base_url = "https://shop.example.com/rest/V1".into();
    assert!(c.validate().unwrap_err().to_string().contains("base_url"));
}

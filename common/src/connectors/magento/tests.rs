use std::collections::BTreeMap;

use rust_decimal_macros::dec;
use secrecy::SecretString;

use super::mapper::{carrier_code, error_message, ship_items, ship_track, shippable};
use super::wire::{OrderItemWire, ShipItem, ShipRequest};
use super::{MagentoClient, MagentoConfig};
use crate::model::{ConnectionId, PackageItem, Tracking, TrackingNumber};

fn order_items() -> Vec<OrderItemWire> {
    serde_json::from_value(serde_json::json!([
        {"item_id": 10, "sku": "MUG", "qty_ordered": 3, "qty_shipped": 1},
        {"item_id": 11, "sku": "TEE-PARENT", "qty_ordered": 2, "qty_shipped": 0},
        {"item_id": 12, "sku": "TEE-RED-M", "parent_item_id": 11, "qty_ordered": 2},
        {"item_id": 13, "sku": "CAP", "qty_ordered": 1, "qty_canceled": 1},
        {"item_id": 14, "sku": "SOCK", "qty_ordered": "1.0000", "qty_shipped": "0.0000"},
        {"item_id": 15, "sku": "sock", "qty_ordered": 2, "qty_shipped": 0}
    ]))
    .unwrap()
}

fn item(sku: &str, qty: rust_decimal::Decimal, line: Option<&str>) -> PackageItem {
    PackageItem { item_id: sku.into(), erp_line_nbr: None, channel_line_id: line.map(str::to_owned), quantity: qty }
}

fn tracking(carrier: &str, service: Option<&str>) -> Tracking {
    Tracking {
        number: TrackingNumber::parse("1Z999").unwrap(),
        carrier: carrier.into(),
        service: service.map(str::to_owned),
        url: None,
    }
}

fn config() -> MagentoConfig {
    MagentoConfig::new("https://shop.example.com", SecretString::from("t0k".to_string()))
}

#[test]
fn what_is_left_counts_top_level_items_net_of_shipped_and_canceled() {
    let left = shippable(&order_items());
    assert_eq!(left, BTreeMap::from([(10, dec!(2)), (11, dec!(2)), (13, dec!(0)), (14, dec!(1)), (15, dec!(2))]));
}

#[test]
fn children_ship_through_their_parent_and_quantities_are_capped_at_what_is_left() {
    let items = order_items();
    let mut left = shippable(&items);
    let (first, capped) =
        ship_items(&[item("mug", dec!(1), None), item("TEE-RED-M", dec!(2), None)], &items, &mut left).unwrap();
    assert_eq!(first, vec![ShipItem { order_item_id: 10, qty: dec!(1) }, ShipItem { order_item_id: 11, qty: dec!(2) }]);
    assert!(capped.is_empty());
    assert_eq!(left[&11], dec!(0));
    // The ERP calls the mug something else; the channel line id still finds it. Only 1 is left.
    let (second, capped) = ship_items(&[item("ERP-MUG", dec!(3), Some("10"))], &items, &mut left).unwrap();
    assert_eq!(second, vec![ShipItem { order_item_id: 10, qty: dec!(1) }]);
    assert_eq!(capped.len(), 1);
    assert!(capped[0].contains("2 of 3"), "{capped:?}");
    // Nothing left at all: no item, one shortfall.
    let (third, capped) = ship_items(&[item("MUG", dec!(1), None)], &items, &mut left).unwrap();
    assert!(third.is_empty());
    assert_eq!(capped.len(), 1);
    let err = ship_items(&[item("NOPE", dec!(1), None)], &items, &mut left).unwrap_err();
    assert!(err.contains("items[NOPE]"), "{err}");
}

#[test]
fn the_channel_line_id_wins_over_the_sku_and_a_child_line_id_ships_via_its_parent() {
    let items = order_items();
    let mut left = shippable(&items);
    // SKU says MUG, the line id says the configurable's child (12): the line id decides.
    let (out, _) = ship_items(&[item("MUG", dec!(1), Some("12"))], &items, &mut left).unwrap();
    assert_eq!(out, vec![ShipItem { order_item_id: 11, qty: dec!(1) }]);
    // A line id that is not on the order falls back to the SKU.
    let (out, _) = ship_items(&[item("MUG", dec!(1), Some("999"))], &items, &mut left).unwrap();
    assert_eq!(out, vec![ShipItem { order_item_id: 10, qty: dec!(1) }]);
}

#[test]
fn a_sku_on_two_order_lines_fills_them_in_order() {
    let items = order_items();
    let mut left = shippable(&items);
    let (out, capped) = ship_items(&[item("Sock", dec!(3), None)], &items, &mut left).unwrap();
    assert_eq!(out, vec![ShipItem { order_item_id: 14, qty: dec!(1) }, ShipItem { order_item_id: 15, qty: dec!(2) }]);
    assert!(capped.is_empty(), "{capped:?}");
}

#[test]
fn ship_request_sends_exact_quantities_and_omits_items_only_when_asked() {
    let request = ShipRequest {
        items: Some(vec![ShipItem { order_item_id: 10, qty: dec!(1.5000) }]),
        notify: false,
        tracks: vec![ship_track(&tracking("UPS", Some("Ground")), None)],
    };
    let text = serde_json::to_string(&request).unwrap();
    assert!(text.contains(r#""items":[{"order_item_id":10,"qty":1.5}]"#), "{text}");
    assert!(text.contains(r#""notify":false"#), "{text}");
    let whole = ShipRequest { items: None, ..request };
    assert!(!serde_json::to_string(&whole).unwrap().contains("items"));
}

#[test]
fn carriers_map_to_magento_codes_with_the_carrier_as_title() {
    assert_eq!(carrier_code("UPS Ground"), "ups");
    assert_eq!(carrier_code("USPS"), "usps");
    assert_eq!(carrier_code("stamps_com"), "usps");
    assert_eq!(carrier_code("FedEx"), "fedex");
    assert_eq!(carrier_code("Federal Express"), "fedex");
    assert_eq!(carrier_code("DHL Express"), "dhl");
    assert_eq!(carrier_code("Royal Mail"), "custom");
    assert_eq!(carrier_code(""), "custom");

    let t = ship_track(&tracking("Royal Mail", Some("Tracked 48")), None);
    assert_eq!(
        (t.carrier_code.as_str(), t.title.as_str(), t.track_number.as_str()),
        ("custom", "Royal Mail Tracked 48", "1Z999")
    );
    let t = ship_track(&tracking(" ", None), None);
    assert_eq!((t.carrier_code.as_str(), t.title.as_str()), ("custom", "Carrier"));

    // The configured map comes first, matching names loosely.
    let mut c = config();
    c.carriers.insert("Royal Mail".into(), "royalmail".into());
    c.validate().unwrap();
    assert_eq!(c.mapped_carrier("royal_mail"), Some("royalmail"));
    assert_eq!(c.mapped_carrier("UPS"), None);
    let t = ship_track(&tracking("ROYAL-MAIL", None), c.mapped_carrier("ROYAL-MAIL"));
    assert_eq!(t.carrier_code, "royalmail");
}

#[test]
fn errors_fill_their_placeholders() {
    let body = br#"{"message":"No such entity with %fieldName = %fieldValue","parameters":{"fieldName":"orderId","fieldValue":"9"}}"#;
    assert_eq!(error_message(body).as_deref(), Some("No such entity with orderId = 9"));
    let body = br#"{"message":"Requested store is not found (%1)","parameters":["nl"]}"#;
    assert_eq!(error_message(body).as_deref(), Some("Requested store is not found (nl)"));
    assert_eq!(error_message(b"<html>502</html>"), None);
}

fn problem(c: &MagentoConfig) -> String {
    c.validate().unwrap_err().to_string()
}

#[test]
fn config_validation_names_the_field() {
    let mut c = config();
    c.validate().unwrap();
    assert!(!format!("{c:?}").contains("t0k"));
    c.base_url = "https://shop.example.com/rest/V1".into();
    assert!(problem(&c).contains("base_url"));

    let mut c = config();
    c.store_code = "de store".into();
    assert!(problem(&c).contains("store_code"));

    let mut c = config();
    c.carriers.insert("Royal Mail".into(), "Royal Mail".into());
    assert!(problem(&c).contains("carriers.Royal Mail"));

    let mut c = config();
    c.access_token = Some(SecretString::from(" ".to_string()));
    assert!(problem(&c).contains("access_token: must not be empty"));
}

#[test]
fn exactly_one_way_to_authenticate_and_the_password_never_shows() {
    let admin =
        MagentoConfig::with_admin("https://shop.example.com", "api", SecretString::from("pa55word".to_string()));
    admin.validate().unwrap();
    assert!(!format!("{admin:?}").contains("pa55word"));

    let mut both = admin.clone();
    both.access_token = Some(SecretString::from("t0k".to_string()));
    assert!(problem(&both).contains("not both"));

    let mut no_password = admin.clone();
    no_password.admin_password = None;
    assert!(problem(&no_password).contains("admin_password: required"));

    let mut none = admin;
    none.admin_username = None;
    none.admin_password = None;
    let p = problem(&none);
    assert!(p.contains("access_token: required"), "{p}");
    assert!(!p.contains("pa55word"));

    // The client refuses to start on a bad config, naming the field.
    let err = MagentoClient::new(ConnectionId::parse("mg").unwrap(), none).unwrap_err();
    assert!(err.to_string().contains("access_token"), "{err}");
}

#[test]
fn toml_settings_are_strict_and_default_the_store() {
    let c: MagentoConfig = toml::from_str(
        r#"
        base_url = "https://shop.example.com"
        admin_username = "api"
        admin_password = "pa55word"
        [carriers]
        "Royal Mail" = "royalmail"
        "#,
    )
    .unwrap();
    assert_eq!(c.store_code, "default");
    c.validate().unwrap();
    let err = toml::from_str::<MagentoConfig>(
        r#"
        base_url = "https://shop.example.com"
        access_token = "t0k"
        token = "typo"
        "#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
}

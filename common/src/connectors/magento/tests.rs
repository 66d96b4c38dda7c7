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

// ---------------------------------------------------------------------------------------------
// ERP-originated orders.
// ---------------------------------------------------------------------------------------------

mod erp_orders {
    use chrono::{TimeZone, Utc};
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::super::mapper::{
        customer_body, invoice_items, invoice_request, order_body, split_name, status_steps, storefront_customer,
        StatusStep,
    };
    use super::super::wire::{CustomerWire, OrderWire, ShipItem};
    use super::config;
    use crate::model::{
        Address, ChannelOrderDraft, ConditionSet, Currency, Customer, DraftLine, ErpOrderRef, ErpOrderSync, Money,
        StorefrontCustomer,
    };

    fn usd(amount: rust_decimal::Decimal) -> Money {
        Money::new(amount, Currency::USD)
    }

    fn address(name: &str, phone: Option<&str>) -> Address {
        Address {
            name: name.into(),
            company: Some("Lee Co".into()),
            line1: "1 Main St".into(),
            line2: Some("Suite 2".into()),
            city: "Austin".into(),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: "us".into(),
            phone: phone.map(str::to_owned),
            email: None,
        }
    }

    /// 2 × 19.99 (39.98) less 0.10 line and 1.00 document discount, + 5.00 shipping + 3.20 tax = 47.08.
    fn draft() -> ChannelOrderDraft {
        ChannelOrderDraft {
            erp: ErpOrderRef::parse("SO/SO001234").unwrap(),
            erp_number: "SO001234".into(),
            currency: Currency::USD,
            placed_at: Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap(),
            customer: StorefrontCustomer {
                id: Some("42".into()),
                group_id: Some(3),
                email: "ann@example.com".into(),
                first_name: "Ann".into(),
                last_name: "Lee".into(),
            },
            bill_to: address("Ann Lee", None),
            ship_to: address("Bob van Dock", Some("555-0100")),
            lines: vec![DraftLine {
                sku: "SKU-RED-M".into(),
                name: "Red shirt M".into(),
                quantity: dec!(2),
                unit_price: usd(dec!(19.99)),
                row_total: usd(dec!(39.98)),
                discount: usd(dec!(0.10)),
                tax: usd(dec!(3.20)),
            }],
            shipping_method: "freeshipping_freeshipping".into(),
            shipping_title: "ERP freight".into(),
            payment_method: "checkmo".into(),
            subtotal: usd(dec!(39.98)),
            discount: usd(dec!(1.10)),
            shipping: usd(dec!(5.00)),
            tax: usd(dec!(3.20)),
            grand_total: usd(dec!(47.08)),
            comment: Some("Phone order, Acumatica SO001234".into()),
        }
    }

    #[test]
    fn the_order_body_is_the_direct_route_entity_with_exact_money() {
        let body = serde_json::to_value(order_body(&draft(), 1).unwrap()).unwrap();
        let e = &body["entity"];
        for (field, value) in [
            ("store_id", json!(1)),
            ("base_currency_code", json!("USD")),
            ("order_currency_code", json!("USD")),
            ("global_currency_code", json!("USD")),
            ("store_currency_code", json!("USD")),
            ("base_to_global_rate", json!(1)),
            ("base_to_order_rate", json!(1)),
            ("state", json!("new")),
            ("status", json!("pending")),
            ("ext_order_id", json!("SO001234")),
            ("created_at", json!("2024-05-01 09:30:00")),
            ("customer_is_guest", json!(0)),
            ("customer_id", json!(42)),
            ("customer_group_id", json!(3)),
            ("customer_email", json!("ann@example.com")),
            ("customer_firstname", json!("Ann")),
            ("customer_lastname", json!("Lee")),
            ("subtotal", json!(39.98)),
            ("base_subtotal", json!(39.98)),
            ("discount_amount", json!(-1.1)),
            ("base_discount_amount", json!(-1.1)),
            ("shipping_amount", json!(5)),
            ("base_shipping_amount", json!(5)),
            ("tax_amount", json!(3.2)),
            ("base_tax_amount", json!(3.2)),
            ("grand_total", json!(47.08)),
            ("base_grand_total", json!(47.08)),
            ("total_qty_ordered", json!(2)),
            ("total_due", json!(47.08)),
            ("base_total_due", json!(47.08)),
            ("shipping_method", json!("freeshipping_freeshipping")),
            ("shipping_description", json!("ERP freight")),
        ] {
            assert_eq!(e[field], value, "{field}");
        }
        let item = &e["items"][0];
        for (field, value) in [
            ("sku", json!("SKU-RED-M")),
            ("name", json!("Red shirt M")),
            ("product_type", json!("simple")),
            ("qty_ordered", json!(2)),
            ("price", json!(19.99)),
            ("base_price", json!(19.99)),
            ("original_price", json!(19.99)),
            ("row_total", json!(39.98)),
            ("base_row_total", json!(39.98)),
            ("discount_amount", json!(0.1)),
            ("tax_amount", json!(3.2)),
            ("price_incl_tax", json!(21.59)),
            ("row_total_incl_tax", json!(43.18)),
        ] {
            assert_eq!(item[field], value, "items[0].{field}");
        }
        assert_eq!(
            e["billing_address"],
            json!({"address_type": "billing", "firstname": "Ann", "lastname": "Lee", "company": "Lee Co",
                   "street": ["1 Main St", "Suite 2"], "city": "Austin", "region": "TX", "region_code": "TX",
                   "postcode": "78701", "country_id": "US", "telephone": "555-0100", "email": "ann@example.com"})
        );
        let shipping = &e["extension_attributes"]["shipping_assignments"][0]["shipping"];
        assert_eq!(shipping["method"], "freeshipping_freeshipping");
        assert_eq!(shipping["address"]["address_type"], "shipping");
        assert_eq!(
            (&shipping["address"]["firstname"], &shipping["address"]["lastname"]),
            (&json!("Bob"), &json!("van Dock"))
        );
        assert_eq!(e["payment"], json!({"method": "checkmo", "amount_ordered": 47.08, "base_amount_ordered": 47.08}));
        assert_eq!(e["status_histories"][0]["comment"], "Phone order, Acumatica SO001234");
        assert_eq!(e["status_histories"][0]["is_visible_on_front"], 0);
        // Exactness: the money is the decimal's own text, never an f64 rendering.
        let text = serde_json::to_string(&order_body(&draft(), 1).unwrap()).unwrap();
        assert!(text.contains(r#""grand_total":47.08"#) && text.contains(r#""price":19.99"#), "{text}");
    }

    #[test]
    fn a_guest_order_has_no_customer_id_and_no_comment_without_one() {
        let mut d = draft();
        d.customer.id = None;
        d.customer.group_id = None;
        d.comment = None;
        let body = serde_json::to_value(order_body(&d, 2).unwrap()).unwrap();
        let e = &body["entity"];
        assert_eq!(
            (&e["customer_is_guest"], &e["customer_group_id"], &e["store_id"]),
            (&json!(1), &json!(0), &json!(2))
        );
        assert!(e.get("customer_id").is_none());
        assert!(e.get("status_histories").is_none());
    }

    #[test]
    fn an_order_body_that_does_not_add_up_or_mixes_currencies_is_refused_naming_the_field() {
        let mut d = draft();
        d.grand_total = usd(dec!(47.09));
        let err = order_body(&d, 1).unwrap_err();
        assert!(err.starts_with("grand_total: 47.09 is not subtotal 39.98 - discount 1.10"), "{err}");
        let mut d = draft();
        d.subtotal = usd(dec!(40.00));
        d.grand_total = usd(dec!(47.10));
        assert!(order_body(&d, 1).unwrap_err().starts_with("subtotal: 40.00 is not the sum"));
        let mut d = draft();
        d.lines[0].tax = Money::new(dec!(3.20), Currency::EUR);
        assert_eq!(order_body(&d, 1).unwrap_err(), "lines[0].tax: currency EUR is not the order's USD");
        let mut d = draft();
        d.lines[0].sku = " ".into();
        assert_eq!(order_body(&d, 1).unwrap_err(), "lines[0].sku: must not be empty");
        let mut d = draft();
        d.customer.id = Some("abc".into());
        assert!(order_body(&d, 1).unwrap_err().starts_with("customer.id:"));
        let mut d = draft();
        d.lines.clear();
        assert!(order_body(&d, 1).unwrap_err().starts_with("lines:"));
    }

    #[test]
    fn names_split_at_the_first_word_and_a_one_word_name_gets_a_dash() {
        assert_eq!(split_name("Ann Lee"), ("Ann".into(), "Lee".into()));
        assert_eq!(split_name("  Anne  van der  Berg "), ("Anne".into(), "van der Berg".into()));
        assert_eq!(split_name("Cher"), ("Cher".into(), "-".into()));
        assert_eq!(split_name(" "), ("-".into(), "-".into()));
    }

    #[test]
    fn the_customer_body_has_the_default_address_in_the_configured_website() {
        let buyer = Customer {
            channel_customer_id: None,
            email: Some(" ann@example.com ".into()),
            name: "Ann Lee".into(),
            company: None,
            phone: Some("555-0199".into()),
        };
        let body = serde_json::to_value(customer_body(&buyer, &address("Ann B Lee", None), 2).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"customer": {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee", "website_id": 2,
                "addresses": [{"firstname": "Ann", "lastname": "B Lee", "company": "Lee Co",
                    "street": ["1 Main St", "Suite 2"], "city": "Austin", "region": {"region_code": "TX"},
                    "postcode": "78701", "country_id": "US", "telephone": "555-0199",
                    "default_billing": true, "default_shipping": true}]}})
        );
        let no_email = Customer { email: None, ..buyer };
        let err = customer_body(&no_email, &address("Ann", None), 1).unwrap_err();
        assert!(err.starts_with("customer.email"), "{err}");
    }

    #[test]
    fn a_found_customer_needs_an_id_and_an_email() {
        let wire: CustomerWire = serde_json::from_value(
            json!({"id": 7, "group_id": 1, "email": "a@b.c", "firstname": "A", "lastname": "B", "website_id": 1}),
        )
        .unwrap();
        assert_eq!(
            storefront_customer(&wire),
            Some(StorefrontCustomer {
                id: Some("7".into()),
                group_id: Some(1),
                email: "a@b.c".into(),
                first_name: "A".into(),
                last_name: "B".into()
            })
        );
        assert_eq!(storefront_customer(&CustomerWire { id: None, ..wire }), None);
    }

    fn order(value: serde_json::Value) -> OrderWire {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn invoice_items_are_capped_at_what_is_left_to_invoice() {
        let o = order(json!({"items": [
            {"item_id": 10, "sku": "MUG", "qty_ordered": 3, "qty_invoiced": 1},
            {"item_id": 11, "sku": "TEE", "qty_ordered": 2, "qty_invoiced": 2},
            {"item_id": 12, "sku": "CONF", "qty_ordered": 1},
            {"item_id": 13, "sku": "CONF-RED", "parent_item_id": 12, "qty_ordered": 1}
        ]}));
        let (items, capped) =
            invoice_items(&[("mug".into(), dec!(5)), ("TEE".into(), dec!(1)), ("CONF-RED".into(), dec!(1))], &o.items)
                .unwrap();
        assert_eq!(
            items,
            vec![ShipItem { order_item_id: 10, qty: dec!(2) }, ShipItem { order_item_id: 12, qty: dec!(1) }]
        );
        assert_eq!(capped.len(), 2, "{capped:?}");
        assert!(capped[0].starts_with("mug: 3 of 5"), "{capped:?}");
        // Everything invoiced already: nothing to send.
        let done = order(json!({"items": [{"item_id": 11, "sku": "TEE", "qty_ordered": 2, "qty_invoiced": 2}]}));
        assert!(invoice_items(&[("TEE".into(), dec!(2))], &done.items).unwrap().0.is_empty());
        let err = invoice_items(&[("NOPE".into(), dec!(1))], &o.items).unwrap_err();
        assert!(err.contains("NOPE"), "{err}");
        let body = serde_json::to_value(invoice_request(items, "Invoice/INV000001")).unwrap();
        assert_eq!(
            body,
            json!({"capture": true, "notify": false,
                   "items": [{"order_item_id": 10, "qty": 2}, {"order_item_id": 12, "qty": 1}],
                   "comment": {"comment": "Acumatica invoice Invoice/INV000001", "is_visible_on_front": 0}})
        );
    }

    #[test]
    fn statuses_move_through_hold_unhold_and_cancel_and_custom_ones_by_comment() {
        use StatusStep::*;
        let pending = order(json!({"state": "new", "status": "pending"}));
        let held = order(json!({"state": "holded", "status": "holded", "hold_before_status": "processing"}));
        assert_eq!(status_steps(&pending, "pending"), vec![], "already there: no call");
        assert_eq!(status_steps(&pending, " Pending "), vec![]);
        assert_eq!(status_steps(&pending, "canceled"), vec![Cancel]);
        assert_eq!(status_steps(&pending, "holded"), vec![Hold]);
        assert_eq!(status_steps(&pending, "erp_released"), vec![Comment]);
        assert_eq!(status_steps(&held, "holded"), vec![]);
        assert_eq!(status_steps(&held, "canceled"), vec![Unhold, Cancel]);
        assert_eq!(status_steps(&held, "processing"), vec![Unhold], "unhold restores the status before the hold");
        assert_eq!(status_steps(&held, "erp_released"), vec![Unhold, Comment]);
    }

    fn sync(when: Vec<ConditionSet>) -> ErpOrderSync {
        ErpOrderSync { enabled: true, when, ..ErpOrderSync::default() }
    }

    #[test]
    fn website_store_and_erp_order_settings_are_validated_naming_the_field() {
        let c = config();
        assert_eq!((c.website_id, c.store_id, c.erp_orders.clone()), (1, 1, None));
        let problem = |c: &super::MagentoConfig| c.validate().unwrap_err().to_string();
        let mut c = config();
        c.website_id = 0;
        assert!(problem(&c).contains("website_id: 0"), "{}", problem(&c));
        let mut c = config();
        c.store_id = -1;
        assert!(problem(&c).contains("store_id: -1"));
        let mut c = config();
        c.erp_orders = Some(sync(vec![]));
        assert!(problem(&c).contains("erp_orders.when: at least one condition set"), "{}", problem(&c));
        c.erp_orders = Some(ErpOrderSync { enabled: false, ..sync(vec![]) });
        c.validate().unwrap();
        c.erp_orders = Some(sync(vec![ConditionSet::default()]));
        assert!(problem(&c).contains("erp_orders.when[1]: names no criterion"), "{}", problem(&c));
        c.erp_orders = Some(sync(vec![
            ConditionSet { statuses: Some(vec!["Open".into()]), ..ConditionSet::default() },
            ConditionSet { order_types: Some(vec![]), ..ConditionSet::default() },
        ]));
        assert!(problem(&c).contains("erp_orders.when[2].order_types: an empty list never holds"), "{}", problem(&c));
        c.erp_orders = Some(sync(vec![ConditionSet { unpaid_balance_zero: Some(true), ..ConditionSet::default() }]));
        c.validate().unwrap();
    }

    #[test]
    fn erp_order_settings_read_from_toml_and_old_files_stay_valid() {
        let old: super::MagentoConfig = toml::from_str(
            r#"
            base_url = "https://shop.example.com"
            access_token = "t0k"
            "#,
        )
        .unwrap();
        old.validate().unwrap();
        assert_eq!((old.website_id, old.store_id), (1, 1));
        assert!(old.erp_orders.is_none());
        let c: super::MagentoConfig = toml::from_str(
            r#"
            base_url = "https://shop.example.com"
            access_token = "t0k"
            website_id = 2
            store_id = 3
            [erp_orders]
            customers = "find_or_guest"
            [[erp_orders.when]]
            order_types = ["SO"]
            statuses = ["Open", "Back Order"]
            [[erp_orders.when]]
            unpaid_balance_zero = true
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!((c.website_id, c.store_id), (2, 3));
        let sync = c.erp_orders.unwrap();
        assert!(sync.enabled && sync.invoices);
        assert_eq!(sync.when.len(), 2);
        assert_eq!(sync.customers, crate::model::PublishCustomers::FindOrGuest);
        let err = toml::from_str::<super::MagentoConfig>(
            r#"
            base_url = "https://shop.example.com"
            access_token = "t0k"
            [erp_orders]
            [[erp_orders.when]]
            status = ["Open"]
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("status"), "{err}");
    }
}

#[test]
fn error_placeholders_that_expand_into_placeholders_stay_bounded() {
    // Fuzzing regression: each value held the next placeholder, and filling them in turn asked
    // for 3 GB. The text stays bounded and is still read.
    let body = serde_json::json!({"message": "%a".repeat(40), "parameters": {
        "a": "%b".repeat(40), "b": "%c".repeat(40), "c": "%d".repeat(40), "d": "%e".repeat(40), "e": "%f".repeat(40),
        "f": "x".repeat(40)}});
    let message = error_message(body.to_string().as_bytes()).unwrap();
    assert!(message.len() <= 4096 && message.starts_with("%b%b"), "{}", message.len());
    let plain = serde_json::json!({"message": "No such entity with %fieldName = %fieldValue",
        "parameters": {"fieldName": "orderId", "fieldValue": "17"}});
    assert_eq!(error_message(plain.to_string().as_bytes()).as_deref(), Some("No such entity with orderId = 17"));
}

#[test]
fn quantities_whose_difference_overflows_leave_nothing_instead_of_panicking() {
    // Fuzzing regression: ordered − canceled overflowed a decimal.
    let items: Vec<OrderItemWire> = serde_json::from_value(serde_json::json!([
        {"item_id": 1, "qty_ordered": "79228162514264337593543950335", "qty_canceled": "-79228162514264337593543950335"},
        {"item_id": 2, "qty_ordered": 3, "qty_shipped": 1}
    ]))
    .unwrap();
    assert_eq!(shippable(&items).into_iter().collect::<Vec<_>>(), vec![(1, dec!(0)), (2, dec!(2))]);
    let (to_invoice, _) = super::mapper::invoice_items(&[("x".into(), dec!(1))], &items).unwrap_or_default();
    assert!(to_invoice.is_empty());
}

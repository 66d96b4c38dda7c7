use chrono::{TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use secrecy::SecretString;
use serde_json::json;

use rust_decimal::Decimal;

use super::mapper::{from_shipstation_time, map_shipment, pause_hint, to_shipstation_time, Mapped, Skip};
use super::ShipStationConfig;
use crate::ports::ShippingToolOrder;

#[test]
fn pacific_times_convert_both_ways_around_the_2026_changes() {
    // Plain winter and summer times.
    assert_eq!(
        from_shipstation_time(&Los_Angeles, "2026-01-15T09:30:00.0000000"),
        Some(Utc.with_ymd_and_hms(2026, 1, 15, 17, 30, 0).unwrap())
    );
    assert_eq!(
        from_shipstation_time(&Los_Angeles, "2026-07-15 09:30:00"),
        Some(Utc.with_ymd_and_hms(2026, 7, 15, 16, 30, 0).unwrap())
    );
    // Spring forward, 2026-03-08: 02:00-03:00 does not exist; it reads as the jump (10:00 UTC).
    assert_eq!(
        from_shipstation_time(&Los_Angeles, "2026-03-08T02:30:00"),
        Some(Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap())
    );
    assert_eq!(
        from_shipstation_time(&Los_Angeles, "2026-03-08T02:59:59.9990000"),
        Some(Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap())
    );
    assert_eq!(
        from_shipstation_time(&Los_Angeles, "2026-03-08T01:59:00"),
        Some(Utc.with_ymd_and_hms(2026, 3, 8, 9, 59, 0).unwrap())
    );
    assert_eq!(
        from_shipstation_time(&Los_Angeles, "2026-03-08T03:00:00"),
        Some(Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap())
    );
    // Fall back, 2026-11-01: 01:30 happens twice; the earlier (PDT, 08:30 UTC) is taken.
    assert_eq!(
        from_shipstation_time(&Los_Angeles, "2026-11-01T01:30:00"),
        Some(Utc.with_ymd_and_hms(2026, 11, 1, 8, 30, 0).unwrap())
    );
    // UTC → Pacific is always one answer, either side of both changes.
    assert_eq!(
        to_shipstation_time(&Los_Angeles, Utc.with_ymd_and_hms(2026, 11, 1, 8, 30, 0).unwrap()),
        "2026-11-01 01:30:00"
    );
    assert_eq!(
        to_shipstation_time(&Los_Angeles, Utc.with_ymd_and_hms(2026, 11, 1, 9, 30, 0).unwrap()),
        "2026-11-01 01:30:00"
    );
    assert_eq!(
        to_shipstation_time(&Los_Angeles, Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap()),
        "2026-03-08 03:00:00"
    );
    assert_eq!(from_shipstation_time(&Los_Angeles, "yesterday"), None);
}

#[test]
fn a_since_filter_never_starts_after_the_instant_it_stands_for() {
    // Every minute across both 2026 changes: converting to Pacific and back never moves later.
    for start in
        [Utc.with_ymd_and_hms(2026, 3, 8, 8, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 11, 1, 7, 0, 0).unwrap()]
    {
        for m in 0..240 {
            let at = start + chrono::Duration::minutes(m);
            let back = from_shipstation_time(&Los_Angeles, &to_shipstation_time(&Los_Angeles, at)).unwrap();
            assert!(back <= at, "{at} came back as {back}");
            assert!(at - back <= chrono::Duration::hours(1), "{at} came back an hour early at most: {back}");
        }
    }
}

fn map(value: serde_json::Value) -> Result<Mapped, Skip> {
    map_shipment(&Los_Angeles, &value)
}

#[test]
fn a_label_is_one_package_with_its_tracking_carrier_service_and_items() {
    let m = map(json!({
        "shipmentId": 71000001, "orderNumber": "5500003", "orderKey": "sc-5500003",
        "createDate": "2026-11-01T01:30:00.0000000", "shipDate": "2026-11-01",
        "trackingNumber": "1ZSS000071000001", "carrierCode": "ups", "serviceCode": "ups_ground", "voided": false,
        "advancedOptions": {"storeId": 123456},
        "shipmentItems": [{"sku": "MUG", "lineItemKey": "77", "quantity": 2}, {"sku": "TEE", "lineItemKey": null, "quantity": "1"}]
    }))
    .unwrap();
    let (order, shipment) = (m.order, m.shipment);
    assert_eq!(
        order,
        ShippingToolOrder {
            store_id: Some(123456),
            order_number: "5500003".into(),
            order_key: Some("sc-5500003".into())
        }
    );
    assert_eq!(shipment.source.to_string(), "SS-71000001");
    assert_eq!(shipment.ship_date, chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
    assert_eq!(shipment.packages.len(), 1);
    assert_eq!(shipment.push_key(&shipment.packages[0]), "SS-71000001#1");
    let p = &shipment.packages[0];
    assert_eq!(p.tracking.number.as_str(), "1ZSS000071000001");
    assert_eq!((p.tracking.carrier.as_str(), p.tracking.service.as_deref()), ("ups", Some("ups_ground")));
    assert_eq!(p.tracking.url, None);
    assert_eq!(p.items.len(), 2);
    assert_eq!((p.items[0].item_id.as_str(), p.items[0].channel_line_id.as_deref()), ("MUG", Some("77")));
    assert_eq!(p.items[0].quantity, Decimal::TWO);
    assert_eq!((p.items[1].item_id.as_str(), p.items[1].channel_line_id.as_deref()), ("TEE", None));
    assert_eq!(p.items[1].quantity, Decimal::ONE);
    // The repeated 01:30 of the fall-back night is the earlier one (PDT).
    assert_eq!(shipment.confirmed_at, Some(Utc.with_ymd_and_hms(2026, 11, 1, 8, 30, 0).unwrap()));
    assert!(shipment.completes_order);
    assert!(m.notes.is_empty());
}

#[test]
fn voided_and_untracked_labels_are_left_out_and_bad_ones_named() {
    let base = json!({"shipmentId": 5, "orderNumber": "1", "shipDate": "2026-11-01", "trackingNumber": "1Z5",
                      "carrierCode": "usps"});
    assert!(map(base.clone()).is_ok());
    let with = |field: &str, value: serde_json::Value| {
        let mut v = base.clone();
        v[field] = value;
        map(v)
    };
    assert_eq!(with("voided", json!(true)).unwrap_err(), Skip::Voided(5));
    assert_eq!(with("trackingNumber", json!("  ")).unwrap_err(), Skip::Untracked(5));
    assert_eq!(with("trackingNumber", json!(null)).unwrap_err(), Skip::Untracked(5));
    let named = |r: Result<Mapped, Skip>| match r {
        Err(Skip::Unreadable(e)) => (e.shipment, e.field),
        other => panic!("expected an unreadable shipment, got {other:?}"),
    };
    assert_eq!(named(with("shipDate", json!(null))), ("5".into(), "shipDate".into()));
    assert_eq!(named(with("shipDate", json!("soon"))), ("5".into(), "shipDate".into()));
    assert_eq!(named(with("carrierCode", json!(""))), ("5".into(), "carrierCode".into()));
    assert_eq!(named(with("orderNumber", json!(null))), ("5".into(), "orderNumber".into()));
    assert_eq!(named(with("trackingNumber", json!("1Z 5"))), ("5".into(), "trackingNumber".into()));
    assert_eq!(named(with("voided", json!("no"))), ("5".into(), "voided".into()));
    assert_eq!(
        named(with("advancedOptions", json!({"storeId": "abc"}))),
        ("5".into(), "advancedOptions.storeId".into())
    );
    assert_eq!(
        named(with("shipmentItems", json!([{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": "two"}]))),
        ("5".into(), "shipmentItems[1].quantity".into())
    );
    assert_eq!(named(with("shipmentId", json!("x7"))), ("\"x7\"".into(), "shipmentId".into()));
    assert_eq!(named(map(json!("not an object"))).1, "(shipment)");
    // A numeric order number is read as its text.
    assert_eq!(with("orderNumber", json!(1001)).unwrap().order.order_number, "1001");
}

#[test]
fn items_without_sku_or_quantity_and_odd_create_dates_are_left_out_with_a_note() {
    let m = map(json!({
        "shipmentId": 9, "orderNumber": "1", "shipDate": "2026-11-01T00:00:00", "trackingNumber": "1Z9",
        "carrierCode": "ups", "createDate": "last tuesday",
        "shipmentItems": [{"sku": null, "quantity": 1}, {"sku": "A", "quantity": 0}, {"sku": "B"}, {"sku": "C", "quantity": 3}]
    }))
    .unwrap();
    let items = &m.shipment.packages[0].items;
    assert_eq!(items.len(), 1);
    assert_eq!((items[0].item_id.as_str(), items[0].quantity), ("C", Decimal::from(3)));
    assert_eq!(m.shipment.confirmed_at, None);
    let fields: Vec<&str> = m.notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(
        fields,
        ["createDate", "shipmentItems[0].sku", "shipmentItems[1].quantity", "shipmentItems[2].quantity"]
    );
    assert!(m.notes.iter().all(|n| n.shipment == "9"));
}

#[test]
fn an_exhausted_minute_pauses_until_the_reset() {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("X-Rate-Limit-Remaining", "0".parse().unwrap());
    h.insert("X-Rate-Limit-Reset", "17".parse().unwrap());
    assert_eq!(pause_hint(&h), Some(std::time::Duration::from_secs(17)));
    h.insert("X-Rate-Limit-Remaining", "3".parse().unwrap());
    assert_eq!(pause_hint(&h), None);
}

#[test]
fn config_validation_names_the_field_and_hides_the_secret() {
    let mut c = ShipStationConfig::new(
        "https://ssapi.shipstation.com",
        SecretString::from("k3y-value".to_string()),
        SecretString::from("s3cret".to_string()),
    );
    c.validate().unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret") && !shown.contains("k3y-value"), "{shown}");
    c.api_key = SecretString::from("a:b".to_string());
    assert!(c.validate().unwrap_err().to_string().contains("api_key"));
    c.api_key = SecretString::from("key".to_string());
    c.api_secret = SecretString::from(" ".to_string());
    assert!(c.validate().unwrap_err().to_string().contains("api_secret"));
    c.api_secret = SecretString::from("s3cret".to_string());
    c.time_zone = "Pacific".into();
    assert!(c.validate().unwrap_err().to_string().contains("time_zone"));
    c.time_zone = "America/Los_Angeles".into();
    c.page_size = 501;
    assert!(c.validate().unwrap_err().to_string().contains("page_size"));
}

#[test]
fn config_reads_from_toml_with_documented_defaults_and_refuses_unknown_fields() {
    let c: ShipStationConfig = toml::from_str("api_key = \"k\"\napi_secret = \"s\"").unwrap();
    c.validate().unwrap();
    assert_eq!(c.base_url, "https://ssapi.shipstation.com");
    assert_eq!(c.time_zone, "America/Los_Angeles");
    assert_eq!(c.tz().unwrap(), Los_Angeles);
    assert_eq!(c.page_size, 100);
    let c: ShipStationConfig = toml::from_str(
        "api_key = \"k\"\napi_secret = \"s\"\nbase_url = \"http://127.0.0.1:9\"\ntime_zone = \"America/New_York\"\npage_size = 500",
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.tz().unwrap(), chrono_tz::America::New_York);
    assert!(toml::from_str::<ShipStationConfig>("api_key = \"k\"\napi_secret = \"s\"\napi_token = \"x\"").is_err());
}

/// Found by `make fuzz` (wire_shipstation): `createDate` with second 60 was read as a leap second,
/// which a push message wrote and read back as a different instant (and the account's zone in 1550
/// had a seconds offset). It reads as the start of the next minute.
#[test]
fn a_create_date_with_second_60_reads_as_the_next_minute() {
    let tz: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
    let leap = from_shipstation_time(&tz, "2026-11-02T01:30:60.0000040").unwrap();
    assert_eq!(leap, from_shipstation_time(&tz, "2026-11-02T01:31:00.0000040").unwrap());
    let text = serde_json::to_string(&leap).unwrap();
    assert_eq!(serde_json::from_str::<chrono::DateTime<chrono::Utc>>(&text).unwrap(), leap);
    let old = from_shipstation_time(&tz, "1550-11-01T01:30:60.0000040").unwrap();
    let text = serde_json::to_string(&old).unwrap();
    assert_eq!(serde_json::from_str::<chrono::DateTime<chrono::Utc>>(&text).unwrap(), old);
}

use chrono::{TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use secrecy::SecretString;
use serde_json::json;

use super::mapper::{from_shipstation_time, pause_hint, to_shipment, to_shipstation_time};
use super::wire::ShipmentWire;
use super::ShipStationConfig;

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

fn wire(value: serde_json::Value) -> ShipmentWire {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_label_is_one_package_with_its_tracking_carrier_service_and_items() {
    let w = wire(json!({
        "shipmentId": 71000001, "orderNumber": "5500003", "orderKey": "sc-5500003",
        "createDate": "2026-11-01T01:30:00.0000000", "shipDate": "2026-11-01",
        "trackingNumber": "1ZSS000071000001", "carrierCode": "ups", "serviceCode": "ups_ground", "voided": false,
        "advancedOptions": {"storeId": 123456},
        "shipmentItems": [{"sku": "MUG", "lineItemKey": "77", "quantity": 2}, {"sku": "TEE", "lineItemKey": null, "quantity": 1}]
    }));
    let (order, shipment) = to_shipment(&Los_Angeles, &w).unwrap().unwrap();
    assert_eq!((order.store_id, order.order_number.as_str()), (Some(123456), "5500003"));
    assert_eq!(shipment.source.to_string(), "SS-71000001");
    assert_eq!(shipment.push_key(&shipment.packages[0]), "SS-71000001#1");
    let p = &shipment.packages[0];
    assert_eq!((p.tracking.carrier.as_str(), p.tracking.service.as_deref()), ("ups", Some("ups_ground")));
    assert_eq!(p.items[0].channel_line_id.as_deref(), Some("77"));
    assert_eq!(p.items[1].quantity, rust_decimal::Decimal::ONE);
    assert_eq!(shipment.confirmed_at, Some(Utc.with_ymd_and_hms(2026, 11, 1, 8, 30, 0).unwrap()));
    assert!(shipment.completes_order);
}

#[test]
fn voided_and_untracked_labels_are_left_out_and_bad_ones_named() {
    let base = json!({"shipmentId": 5, "orderNumber": "1", "shipDate": "2026-11-01", "trackingNumber": "1Z5"});
    let mut voided = base.clone();
    voided["voided"] = json!(true);
    assert!(to_shipment(&Los_Angeles, &wire(voided)).unwrap().is_none());
    let mut untracked = base.clone();
    untracked["trackingNumber"] = json!("");
    assert!(to_shipment(&Los_Angeles, &wire(untracked)).unwrap().is_none());
    let mut no_date = base.clone();
    no_date["shipDate"] = json!(null);
    assert!(to_shipment(&Los_Angeles, &wire(no_date)).unwrap_err().contains("shipment 5: shipDate"));
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
    let mut c =
        ShipStationConfig::new("https://ssapi.shipstation.com", "key", SecretString::from("s3cret".to_string()));
    c.validate().unwrap();
    assert!(!format!("{c:?}").contains("s3cret"));
    c.time_zone = "Pacific".into();
    assert!(c.validate().unwrap_err().to_string().contains("time_zone"));
    c.time_zone = "America/Los_Angeles".into();
    c.page_size = 501;
    assert!(c.validate().unwrap_err().to_string().contains("page_size"));
}

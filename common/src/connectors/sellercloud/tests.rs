//! Sellercloud mapper and paging tests with fixtures in the community DTO shape (§1.6).

use chrono::{TimeZone, Utc};
use rust_decimal_macros::dec;
use serde_json::json;

use super::client::WalkToken;
use super::config::SellercloudConfig;
use super::mapper::{error_message, local_to_utc, rate_limit_reset, to_order, utc_to_local_param};
use super::wire::OrderWire;
use crate::model::{ConnectionId, Tag};

fn config() -> SellercloudConfig {
    SellercloudConfig::new("https://t.api.sellercloud.com", "api@example.com", "pw".to_string().into())
}

/// Money as numbers in some fields and numeric strings in others, as the community DTO types them.
fn fixture() -> serde_json::Value {
    json!({
        "ID": 5512345, "OrderSourceOrderID": "112-0000000-0000000", "OrderSource": 4, "StatusCode": 2,
        "TimeOfOrder": "2024-05-01T09:12:00",
        "OrderDetails": { "CompanyId": 163, "CustomerEmail": "buyer@example.com", "CustomerID": 200077,
                          "OrderDate": "2024-05-01T09:12:00", "PromiseDate": "2024-05-03T00:00:00" },
        "Statuses": { "OrderStatus": 2, "IsExported": false, "RushOrder": true },
        "OrderItems": [
            { "ID": 9001, "ProductID": "SKU-RED-M", "DisplayName": "Red shirt M", "Qty": 2, "SitePrice": "19.99",
              "DiscountValue": "1.00", "DiscountType": 0, "LineTaxTotal": 3.2, "UPC": "012345678905" },
            { "ID": 9002, "ProductID": "SKU-BLUE-L", "DisplayName": "Blue shirt L", "Qty": "1", "SitePrice": 10.1,
              "DiscountValue": 0, "LineTaxTotal": "0.00" }
        ],
        "TotalInfo": { "SubTotal": "50.08", "Discount": "2.00", "PromoCode": "SPRING", "Tax": "3.20",
                       "Shipping": 5, "GrandTotal": "55.28" },
        "Payments": [ { "TransactionReferenceNumber": "TXN-1", "PaidAmount": 55.28, "PaymentDate": "2024-05-01T09:13:00", "PaymentMethod": 0 } ],
        "ShippingDetails": { "Carrier": "UPS", "Service": "Ground", "RushOrder": false },
        "ShippingAddress": { "FirstName": "Ann", "LastName": "Lee", "StreetLine1": "1 Main St", "City": "Austin",
                             "StateCode": "TX", "PostalCode": "78701", "CountryCode": "us" },
        "BillingAddress": { "FirstName": "Ann", "LastName": "Lee", "StreetLine1": "1 Main St", "City": "Austin",
                            "StateCode": "TX", "PostalCode": "78701", "CountryCode": "US", "PhoneNumber": "512-555-0100" },
        "CustomColumns": [ { "ColumnName": "Tags", "Value": "Prime,Priority:Expedited" } ],
        "GiftDetails": { "IsGift": true, "GiftMessage": "Happy birthday" }
    })
}

#[test]
fn full_order_maps_exactly_to_the_cent() {
    let wire: OrderWire = serde_json::from_value(fixture()).unwrap();
    let conn = ConnectionId::parse("sc-main").unwrap();
    let order = to_order(&wire, &conn, &config(), Some("Leave at door".into())).unwrap();
    assert_eq!(order.display_number, "112-0000000-0000000");
    assert_eq!(order.order_source.0, "Amazon");
    assert_eq!(order.channel_status, "InProcess");
    assert_eq!(order.lines[0].unit_price.amount, dec!(19.99));
    assert_eq!(order.lines[0].discount.amount, dec!(1.00));
    assert_eq!(order.lines[0].identifiers.upc.as_deref(), Some("012345678905"));
    assert_eq!(order.lines[1].quantity, dec!(1));
    assert_eq!(order.lines[1].unit_price.amount, dec!(10.1));
    assert_eq!(order.totals.grand_total.amount, dec!(55.28));
    assert_eq!(order.order_discounts[0].code.as_deref(), Some("SPRING"));
    assert_eq!(order.payments[0].amount.amount, dec!(55.28));
    assert_eq!(order.customer.channel_customer_id.as_deref(), Some("200077"));
    assert_eq!(order.ship_to.country, "US");
    assert_eq!(order.notes.gift_message.as_deref(), Some("Happy birthday"));
    assert_eq!(order.notes.customer_instructions.as_deref(), Some("Leave at door"));
    assert!(order.tags.contains(&Tag::Prime) && order.tags.contains(&Tag::Rush));
    assert!(order.tags.contains(&Tag::ShipmentPriority("Expedited".into())));
    // 2×19.99−1 + 10.10 − 2 + 5 + 3.20 = 55.28: the parts add up to the channel's total.
    order.check_totals().unwrap();
    // New York is UTC−4 in May.
    assert_eq!(order.placed_at, Utc.with_ymd_and_hms(2024, 5, 1, 13, 12, 0).unwrap());
}

#[test]
fn offsetless_times_convert_in_the_account_zone_around_dst() {
    let ny = chrono_tz::America::New_York;
    // Winter: UTC−5; summer: UTC−4.
    assert_eq!(local_to_utc("2024-01-15T10:00:00", ny), Some(Utc.with_ymd_and_hms(2024, 1, 15, 15, 0, 0).unwrap()));
    assert_eq!(local_to_utc("2024-07-15T10:00:00.123", ny).map(|d| d.timestamp()), Some(1_721_052_000));
    // Fall back: 01:30 happens twice; the earlier (EDT) instant is taken.
    assert_eq!(local_to_utc("2024-11-03T01:30:00", ny), Some(Utc.with_ymd_and_hms(2024, 11, 3, 5, 30, 0).unwrap()));
    // Spring forward: 02:30 does not exist; read as 03:30 EDT.
    assert_eq!(local_to_utc("2024-03-10T02:30:00", ny), Some(Utc.with_ymd_and_hms(2024, 3, 10, 7, 30, 0).unwrap()));
    // Query parameters go out in the documented local format.
    assert_eq!(utc_to_local_param(Utc.with_ymd_and_hms(2024, 3, 10, 7, 30, 0).unwrap(), ny), "03/10/2024 03:30");
}

#[test]
fn lenient_money_accepts_numbers_and_strings_but_not_garbage() {
    let mut f = fixture();
    f["TotalInfo"]["GrandTotal"] = json!("abc");
    let err = serde_json::from_value::<OrderWire>(f).unwrap_err();
    assert!(err.to_string().contains("not a decimal"), "{err}");
    let mut f = fixture();
    f["TotalInfo"]["GrandTotal"] = json!(55.28);
    let wire: OrderWire = serde_json::from_value(f).unwrap();
    assert_eq!(wire.TotalInfo.GrandTotal, Some(dec!(55.28)));
}

#[test]
fn walk_steps_back_when_the_queue_shrank() {
    let t = WalkToken { page: 4, total: 200, from: 1_714_000_000 };
    assert_eq!(WalkToken::decode(&t.encode()), Some(t));
    assert_eq!(t.stepped_back(200, 50), 4, "nothing left the queue");
    assert_eq!(t.stepped_back(150, 50), 3, "a page's worth left: one page back");
    assert_eq!(t.stepped_back(149, 50), 2, "a partial page counts as a whole page");
    assert_eq!(t.stepped_back(0, 50), 1);
    assert_eq!(t.stepped_back(260, 50), 4, "growth at the end needs no step");
    assert!(WalkToken::decode(&crate::ports::PageToken("7".into())).is_none());
}

#[test]
fn throttling_body_gives_the_wait_until_reset() {
    let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 59, 0).unwrap();
    let body = br#"{"Error":"Too many requests.","RateLimitResetTime":"2024-05-01T13:00:00Z"}"#;
    assert_eq!(rate_limit_reset(body, now), Some(std::time::Duration::from_secs(60)));
    assert_eq!(rate_limit_reset(br#"{"Message":"x"}"#, now), None);
    assert_eq!(error_message(br#"{"Message":"Not Valid Token"}"#).as_deref(), Some("Not Valid Token"));
}

#[test]
fn config_validation_names_the_field() {
    let mut c = config();
    c.validate().unwrap();
    c.page_size = 51;
    assert!(c.validate().unwrap_err().to_string().contains("page_size"));
    c.page_size = 50;
    c.time_zone = "Mars/Olympus".into();
    assert!(c.validate().unwrap_err().to_string().contains("time_zone"));
    c.time_zone = "America/Chicago".into();
    c.order_statuses = vec!["Shipped".into()];
    assert!(c.validate().unwrap_err().to_string().contains("order_statuses"));
    assert_eq!(config().source_name(50), "Walmart");
    assert_eq!(config().source_name(999), "OrderSource 999");
}

mod publisher {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::super::mapper::{ship_date_param, status_code_of, tracking_note};
    use crate::model::{Package, Shipment, ShipmentSource, Tracking, TrackingNumber};

    const NY: chrono_tz::Tz = chrono_tz::America::New_York;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 5, d).unwrap()
    }

    #[test]
    fn ship_date_is_the_confirmation_time_in_the_account_zone_without_offset() {
        let confirmed = Utc.with_ymd_and_hms(2024, 5, 2, 19, 30, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2024, 5, 10, 0, 0, 0).unwrap();
        assert_eq!(ship_date_param(day(2), Some(confirmed), NY, None, now), "2024-05-02T15:30:00");
    }

    #[test]
    fn ship_date_without_a_matching_confirmation_is_noon_of_the_ship_date() {
        let now = Utc.with_ymd_and_hms(2024, 5, 10, 0, 0, 0).unwrap();
        // Confirmed at 02:00 UTC on the 3rd = 22:00 local on the 2nd, not the ship date (the 3rd).
        let confirmed = Utc.with_ymd_and_hms(2024, 5, 3, 2, 0, 0).unwrap();
        assert_eq!(ship_date_param(day(3), Some(confirmed), NY, None, now), "2024-05-03T12:00:00");
        assert_eq!(ship_date_param(day(3), None, NY, None, now), "2024-05-03T12:00:00");
    }

    #[test]
    fn ship_date_is_never_in_the_future_nor_before_the_order_was_created() {
        let now = Utc.with_ymd_and_hms(2024, 5, 2, 14, 0, 0).unwrap(); // 10:00 local
        assert_eq!(ship_date_param(day(2), None, NY, None, now), "2024-05-02T09:55:00", "five minutes before now");
        let created = Utc.with_ymd_and_hms(2024, 5, 2, 13, 58, 0).unwrap();
        assert_eq!(ship_date_param(day(2), None, NY, Some(created), now), "2024-05-02T09:58:00", "not before creation");
        let created_later_day = Utc.with_ymd_and_hms(2024, 5, 1, 20, 0, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2024, 5, 9, 0, 0, 0).unwrap();
        assert_eq!(ship_date_param(day(1), None, NY, Some(created_later_day), later), "2024-05-01T16:00:00");
        // Found by `make bench`: shipped a minute after creation, created at .4 of a second.
        let created_fraction =
            Utc.with_ymd_and_hms(2024, 5, 2, 13, 59, 0).unwrap() + chrono::Duration::milliseconds(400);
        assert_eq!(ship_date_param(day(2), None, NY, Some(created_fraction), now), "2024-05-02T09:59:01");
    }

    #[test]
    fn statuses_are_accepted_by_name_or_code_and_nothing_else() {
        assert_eq!(status_code_of("Completed"), Some(3));
        assert_eq!(status_code_of(" onhold "), Some(200));
        assert_eq!(status_code_of("Canceled"), Some(-1));
        assert_eq!(status_code_of("3"), Some(3));
        assert_eq!(status_code_of("-1"), Some(-1));
        assert_eq!(status_code_of("4"), None, "not a documented code");
        assert_eq!(status_code_of("Shipped"), None);
    }

    #[test]
    fn tracking_note_lists_every_package_with_its_carrier() {
        let package = |id: &str, n: &str, service: Option<&str>| Package {
            package_id: id.into(),
            tracking: Tracking {
                number: TrackingNumber::parse(n).unwrap(),
                carrier: "UPS".into(),
                service: service.map(Into::into),
                url: None,
            },
            items: vec![],
            weight: None,
        };
        let shipment = Shipment {
            source: ShipmentSource::new(crate::model::SystemCode::parse("AC").unwrap(), "000123"),
            ship_date: day(2),
            confirmed_at: None,
            packages: vec![package("1", "1ZA", Some("Ground")), package("2", "1ZB", None)],
            completes_order: true,
        };
        assert_eq!(
            tracking_note(&shipment),
            "Shipment AC-000123 shipped 2024-05-02 in 2 package(s), tracking: 1ZA (UPS Ground), 1ZB (UPS)"
        );
    }
}

#[test]
fn profit_and_loss_rows_read_string_money_na_and_the_local_ship_date() {
    let row = json!({
        "OrderID": 5828302, "ShipDate": "2024-05-02T15:30:00", "SettlementDataAvailable": false,
        "Comission": "N/A", "ShippingCost": "7.25", "ProfitLoss": "-1,140.50", "TransactionFee": 0.59,
        "ItemCost": ""
    });
    let names: Vec<String> = ["Comission", "ShippingCost", "ProfitLoss", "TransactionFee", "ItemCost"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let charges = super::mapper::charges_from_wire(&row, &names, chrono_tz::America::New_York).unwrap();
    assert_eq!(charges.order.to_string(), "SC-5828302");
    assert_eq!(charges.values["Comission"], None, "N/A is not known yet");
    assert_eq!(charges.values["ShippingCost"], Some(dec!(7.25)));
    assert_eq!(charges.values["ProfitLoss"], Some(dec!(-1140.50)));
    assert_eq!(charges.values["TransactionFee"], Some(dec!(0.59)));
    assert_eq!(charges.values["ItemCost"], None);
    assert_eq!(charges.shipped_at, Some(Utc.with_ymd_and_hms(2024, 5, 2, 19, 30, 0).unwrap()), "EDT is UTC-4");
    assert!(!charges.settled);

    let bad = json!({ "OrderID": 1, "ShippingCost": "seven" });
    let err = super::mapper::charges_from_wire(&bad, &names, chrono_tz::UTC).unwrap_err();
    assert!(err.contains("order 1: ShippingCost"), "{err}");
    assert!(super::mapper::charges_from_wire(&json!({}), &names, chrono_tz::UTC).unwrap_err().contains("OrderID"));
}

#[test]
fn profit_and_loss_settings_name_the_bad_charge_or_field() {
    use super::config::charge_name;
    assert_eq!(charge_name("commission").as_deref(), Some("Comission"));
    assert_eq!(charge_name("ShippingCostUsd").as_deref(), Some("ShippingCostUsd"));
    assert_eq!(charge_name("Margin"), None);

    let with = |fields: &[(&str, &str)], per_call: usize| {
        let mut c = config();
        let text = format!(
            "orders_per_call = {per_call}\n[fields]\n{}",
            fields.iter().map(|(k, v)| format!("{k} = \"{v}\"\n")).collect::<String>()
        );
        c.profit_and_loss = Some(toml::from_str(&text).unwrap());
        c.validate().map_err(|e| e.to_string())
    };
    assert!(with(&[("Comission", "UsrSCCommission"), ("ProfitLoss", "Document.UsrSCProfit")], 50).is_ok());
    let err = with(&[("Margin", "UsrSCMargin")], 50).unwrap_err();
    assert!(err.contains("profit_and_loss.fields.Margin") && err.contains("Comission"), "{err}");
    let err = with(&[("Comission", "Commission")], 50).unwrap_err();
    assert!(err.contains("user-defined field"), "{err}");
    let err = with(&[("Comission", "UsrSCCommission")], 101).unwrap_err();
    assert!(err.contains("at most") || err.contains("more than 100"), "{err}");
    assert!(with(&[], 50).unwrap_err().contains("at least one charge"));
}

#[test]
fn a_walk_steps_back_safely_whatever_totals_the_listing_reports() {
    // Fuzzing regression: total − TotalResults overflowed for totals near i64's ends.
    let t = WalkToken { page: 4, total: i64::MAX, from: 1_714_000_000 };
    assert_eq!(t.stepped_back(-i64::MAX, 50), 1);
    assert_eq!(t.stepped_back(i64::MIN, 1), 1);
    assert_eq!(WalkToken { total: i64::MIN, ..t }.stepped_back(i64::MAX, 50), 4, "a growing queue: no step back");
}

/// Sellercloud's zone-less times share ShipStation's leap-second fix (`model::without_leap_second`):
/// second 60 reads as the next minute and survives a queue message.
#[test]
fn a_local_time_with_second_60_reads_as_the_next_minute() {
    let la: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
    let leap = local_to_utc("1550-11-01T01:30:60.0000040", la).unwrap();
    assert_eq!(Some(leap), local_to_utc("1550-11-01T01:31:00.0000040", la));
    let text = serde_json::to_string(&leap).unwrap();
    assert_eq!(serde_json::from_str::<chrono::DateTime<Utc>>(&text).unwrap(), leap);
}

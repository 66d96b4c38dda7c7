//! The ShipStation client against the vendor sandbox: a SHIP_NOTIFY batch read back with its
//! items, resource URLs on other hosts refused before any request, the catch-up listing since a
//! cursor (Pacific filter, paging, voided labels left out), and the 40/min limit's headers.

use std::time::{Duration, Instant};

use chrono::Utc;
use orderbridge::connectors::shipstation::{ShipStationClient, ShipStationConfig};
use orderbridge::connectors::ConnectorError;
use orderbridge::error::{Classify, ErrorClass};
use orderbridge::model::{Shipment, ShipmentSource, SystemCode};
use orderbridge::ports::{ShippingTool, ShippingToolOrder};
use orderbridge_sandbox::shipstation::CreateShipments;
use orderbridge_sandbox::{
    start, DeliveryPolicy, FaultKind, FaultSpec, Sandbox, SandboxConfig, ScriptedFault, Vendor, WebhookTarget,
    WindowLimit,
};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{json, Value};

/// A sandbox whose SHIP_NOTIFY deliveries go to a closed port: each is recorded once (with its
/// body) and fails fast, which is all these tests need of them.
async fn sandbox_with(tweak: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config = SandboxConfig {
        seed: 11,
        shipstation_webhook: Some(WebhookTarget::new(format!("http://{closed}/hook"))),
        delivery: DeliveryPolicy { attempts: 1, retry_delay: Duration::ZERO, timeout: Duration::from_secs(2) },
        ..SandboxConfig::default()
    };
    tweak(&mut config);
    start(config).await.expect("sandbox starts")
}

fn config(sb: &Sandbox) -> ShipStationConfig {
    let c = &sb.state().config().credentials;
    ShipStationConfig::new(
        sb.urls().shipstation.clone(),
        SecretString::from(c.shipstation_api_key.clone()),
        SecretString::from(c.shipstation_api_secret.clone()),
    )
}

fn client(sb: &Sandbox) -> ShipStationClient {
    ShipStationClient::new(config(sb)).unwrap()
}

/// An awaiting-shipment order with these (sku, lineItemKey, quantity) items, as our order
/// connector would have created it.
fn new_order(sb: &Sandbox, number: &str, items: &[(&str, Option<&str>, i64)]) {
    let items: Vec<Value> = items
        .iter()
        .map(|(sku, key, qty)| json!({"sku": sku, "lineItemKey": key, "name": sku, "quantity": qty}))
        .collect();
    let body = json!({
        "orderNumber": number, "orderKey": format!("key-{number}"), "orderDate": "2026-11-20T09:30:00.0000000",
        "orderStatus": "awaiting_shipment", "billTo": {"name": "Ann Lee"},
        "shipTo": {"name": "Ann Lee", "street1": "1 Main St", "city": "Austin", "state": "TX", "postalCode": "78701",
                   "country": "US"},
        "items": items,
    });
    sb.state().shipstation().upsert(&body, Utc::now()).unwrap();
}

/// Labels for these orders in one batch; the shipments as the sandbox stores them and the
/// SHIP_NOTIFY `resource_url` it sent for the batch.
async fn labels(
    sb: &Sandbox,
    orders: &[&str],
    tracking: &[&str],
    carrier: &str,
    service: &str,
) -> (Vec<Value>, String) {
    let sent = sb.state().deliveries(Vendor::Shipstation).len();
    let (batch, made) = sb
        .state()
        .shipstation_create_shipments(&CreateShipments {
            order_numbers: orders.iter().map(|o| o.to_string()).collect(),
            carrier_code: Some(carrier.into()),
            service_code: Some(service.into()),
            tracking_numbers: tracking.iter().map(|t| t.to_string()).collect(),
            ..CreateShipments::default()
        })
        .unwrap();
    let delivered = sb.state().wait_for_deliveries(Vendor::Shipstation, sent + 1, Duration::from_secs(5)).await;
    let url = delivered
        .iter()
        .map(|d| d.body["resource_url"].as_str().unwrap().to_owned())
        .find(|u| u.contains(&format!("batchId={batch}&")))
        .unwrap_or_else(|| panic!("no SHIP_NOTIFY for batch {batch}"));
    (made, url)
}

/// The next `GET /shipments` answers 429 with the vendor's headers, `X-Rate-Limit-Reset` saying
/// `reset` (whole seconds).
fn throttle_once(sb: &Sandbox, reset: Duration) {
    let reset_ms = u64::try_from(reset.as_millis()).unwrap();
    sb.state().set_faults(Vendor::Shipstation, FaultSpec { throttle_reset_ms: reset_ms, ..FaultSpec::default() });
    sb.state().push_fault(Vendor::Shipstation, ScriptedFault::new(FaultKind::TooManyRequests).on("GET", "/shipments"));
}

fn by_order<'a>(found: &'a [(ShippingToolOrder, Shipment)], number: &str) -> &'a Shipment {
    let hits: Vec<_> = found.iter().filter(|(o, _)| o.order_number == number).collect();
    assert_eq!(hits.len(), 1, "{number} in {found:?}");
    &hits[0].1
}

fn items(s: &Shipment) -> Vec<(String, Option<String>, Decimal)> {
    s.packages[0].items.iter().map(|i| (i.item_id.clone(), i.channel_line_id.clone(), i.quantity)).collect()
}

#[tokio::test]
async fn a_ship_notify_batch_reads_back_exactly_its_labels_with_tracking_carrier_service_and_items() {
    let sb = sandbox_with(|_| ()).await;
    let ss = client(&sb);
    new_order(&sb, "1001", &[("MUG-RED", Some("bc-11"), 2), ("TEE-L", None, 1)]);
    new_order(&sb, "1002", &[("CAP-BLK", Some("bc-21"), 3)]);
    new_order(&sb, "1003", &[("SOCK", None, 1)]);
    // An earlier batch of another order must not show up in this batch's listing.
    let (_, earlier) = labels(&sb, &["1003"], &["9400EARLIER"], "usps", "usps_priority_mail").await;
    let (made, url) = labels(&sb, &["1001", "1002"], &["1ZBATCH0001", "1ZBATCH0002"], "fedex", "fedex_ground").await;
    assert_ne!(earlier, url);
    assert!(url.contains("includeShipmentItems=False"), "the webhook asks for no items: {url}");
    assert!(ss.allowed_hosts().iter().any(|h| url.contains(&format!("//{h}/"))), "{url} vs {:?}", ss.allowed_hosts());

    let before = Utc::now();
    let found = ss.shipments_at(&url).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");

    let a = by_order(&found, "1001");
    let b = by_order(&found, "1002");
    for (s, wire, tracking) in [(a, &made[0], "1ZBATCH0001"), (b, &made[1], "1ZBATCH0002")] {
        let id = wire["shipmentId"].as_i64().unwrap();
        assert_eq!(s.source, ShipmentSource::new(SystemCode::parse("SS").unwrap(), id.to_string()));
        assert_eq!(s.packages.len(), 1);
        let t = &s.packages[0].tracking;
        assert_eq!(
            (t.number.as_str(), t.carrier.as_str(), t.service.as_deref()),
            (tracking, "fedex", Some("fedex_ground"))
        );
        assert_eq!(s.ship_date.to_string(), wire["shipDate"].as_str().unwrap());
        // createDate is Pacific without an offset: read in the wrong zone it would be hours off.
        let at = s.confirmed_at.unwrap();
        assert!((before - at).num_seconds().abs() < 120, "confirmed_at {at} vs now {before}");
        assert!(s.completes_order);
    }
    let order = &found.iter().find(|(o, _)| o.order_number == "1001").unwrap().0;
    let store = sb.state().config().shipstation_store_id;
    assert_eq!((order.store_id, order.order_key.as_deref()), (Some(store), Some("key-1001")));
    assert_eq!(
        items(a),
        vec![("MUG-RED".into(), Some("bc-11".into()), Decimal::from(2)), ("TEE-L".into(), None, Decimal::ONE)]
    );
    assert_eq!(items(b), vec![("CAP-BLK".into(), Some("bc-21".into()), Decimal::from(3))]);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_resource_url_elsewhere_is_refused_without_any_request() {
    let sb = sandbox_with(|_| ()).await;
    let ss = client(&sb);
    new_order(&sb, "2001", &[("MUG-RED", None, 1)]);
    let (_, url) = labels(&sb, &["2001"], &["1ZFOREIGN"], "ups", "ups_ground").await;
    let query = url.split_once('?').unwrap().1;
    let own = url::Url::parse(&sb.urls().shipstation).unwrap();
    // Another sandbox vendor (a real server on another port of the same host), another scheme,
    // another host, credentials in the URL, another path on the right host.
    let elsewhere = [
        format!("{}/shipments?{query}", sb.urls().bigcommerce),
        format!("https://{}:{}/shipments?{query}", own.host_str().unwrap(), own.port().unwrap()),
        format!("http://localhost:{}/shipments?{query}", own.port().unwrap()),
        format!("http://ss-sandbox-key:x@{}:{}/shipments?{query}", own.host_str().unwrap(), own.port().unwrap()),
        format!("{}/orders?{query}", sb.urls().shipstation),
    ];
    let requests = |sb: &Sandbox| {
        [Vendor::Shipstation, Vendor::Bigcommerce, Vendor::Sellercloud, Vendor::Acumatica, Vendor::Magento]
            .map(|v| sb.state().request_count(v).total)
    };
    let counted = requests(&sb);
    for bad in &elsewhere {
        let err = ss.shipments_at(bad).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Rejected { .. }), "{bad}: {err}");
        assert_eq!(err.class(), ErrorClass::Permanent, "{bad}");
        assert!(!err.to_string().contains("ss-sandbox-secret"), "{err}");
    }
    assert_eq!(requests(&sb), counted, "no vendor saw a request");
    // The genuine URL still works, so the refusals above were about the URL.
    assert_eq!(ss.shipments_at(&url).await.unwrap().len(), 1);
    assert_eq!(sb.state().request_count(Vendor::Shipstation).total, counted[0] + 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn shipments_since_reads_labels_created_after_the_cursor_over_every_page_and_not_voided_ones() {
    let sb = sandbox_with(|_| ()).await;
    // One label a page, so the listing takes several pages.
    let ss = ShipStationClient::new(ShipStationConfig { page_size: 1, ..config(&sb) }).unwrap();
    for n in ["3001", "3002", "3003", "3004"] {
        new_order(&sb, n, &[("MUG-RED", Some("7"), 1)]);
    }
    labels(&sb, &["3001"], &["1ZBEFORE"], "ups", "ups_ground").await;
    // The filter has whole seconds: leave a second between the old label and the cursor.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (made, _) =
        labels(&sb, &["3002", "3003", "3004"], &["1ZAFTER2", "1ZAFTER3", "1ZAFTER4"], "ups", "ups_ground").await;
    sb.state().shipstation_void_shipment(made[1]["shipmentId"].as_i64().unwrap()).unwrap();
    let shipstation_requests = sb.state().request_count(Vendor::Shipstation).total;

    let found = ss.shipments_since(since).await.unwrap();
    let mut got: Vec<(&str, &str)> =
        found.iter().map(|(o, s)| (o.order_number.as_str(), s.packages[0].tracking.number.as_str())).collect();
    got.sort();
    assert_eq!(got, [("3002", "1ZAFTER2"), ("3004", "1ZAFTER4")], "after the cursor, voided 3003 left out");
    assert!(found.iter().all(|(_, s)| items(s) == [("MUG-RED".into(), Some("7".into()), Decimal::ONE)]));
    assert_eq!(
        sb.state().request_count(Vendor::Shipstation).total - shipstation_requests,
        3,
        "three labels since the cursor (one voided), one a page"
    );
    // A cursor before everything reads the old label too: the filter is what kept it out.
    let all = ss.shipments_since(since - chrono::Duration::minutes(5)).await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    // And one after everything reads nothing (a filter sent in UTC would read as hours ahead).
    assert!(ss.shipments_since(Utc::now() + chrono::Duration::seconds(2)).await.unwrap().is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn a_429_is_waited_out_for_the_seconds_x_rate_limit_reset_gives() {
    let sb = sandbox_with(|_| ()).await;
    let ss = client(&sb);
    new_order(&sb, "4001", &[("MUG-RED", None, 1)]);
    let (_, url) = labels(&sb, &["4001"], &["1ZTHROTTLED"], "ups", "ups_ground").await;
    throttle_once(&sb, Duration::from_secs(3));
    let started = Instant::now();
    let found = ss.shipments_at(&url).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1.packages[0].tracking.number.as_str(), "1ZTHROTTLED");
    assert_eq!(sb.state().request_count(Vendor::Shipstation).throttled, 1);
    // Our own backoff starts at 200 ms: only the header explains a three-second wait.
    assert!(started.elapsed() >= Duration::from_millis(2_900), "waited only {:?}", started.elapsed());
    sb.shutdown().await;
}

#[tokio::test]
async fn a_reset_longer_than_an_invocation_may_wait_goes_back_as_retryable_with_that_wait() {
    let sb = sandbox_with(|_| ()).await;
    let ss = client(&sb);
    // A whole minute: more than the 15 s one call may spend waiting by default.
    throttle_once(&sb, Duration::from_secs(60));
    let started = Instant::now();
    let err = ss.shipments_since(Utc::now()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "it must not sit out the minute");
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Retryable { after: Some(Duration::from_secs(60)) });
    sb.shutdown().await;
}

#[tokio::test]
async fn the_last_request_of_the_minute_pauses_the_next_instead_of_earning_a_429() {
    // Two requests per 2-second window; the listing takes three pages.
    let sb = sandbox_with(|c| c.limits.shipstation = WindowLimit::new(2, Duration::from_secs(2))).await;
    let ss = ShipStationClient::new(ShipStationConfig { page_size: 1, ..config(&sb) }).unwrap();
    let since = Utc::now() - chrono::Duration::minutes(1);
    for n in ["5001", "5002", "5003"] {
        new_order(&sb, n, &[("MUG-RED", None, 1)]);
    }
    labels(&sb, &["5001", "5002", "5003"], &[], "ups", "ups_ground").await;
    // The second request leaves `Remaining: 0`; without the pause the third would earn a 429.
    let found = ss.shipments_since(since).await.unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(sb.state().request_count(Vendor::Shipstation).throttled, 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_a_permanent_error_that_does_not_show_the_secret() {
    let sb = sandbox_with(|_| ()).await;
    let secret = "not-the-right-secret";
    let ss =
        ShipStationClient::new(ShipStationConfig { api_secret: SecretString::from(secret.to_owned()), ..config(&sb) })
            .unwrap();
    let err = ss.shipments_since(Utc::now()).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::Unauthorized { connection, .. } if connection == "shipstation"), "{err}");
    assert!(err.to_string().contains("credentials of connection shipstation were refused"), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!format!("{err} {err:?}").contains(secret));
    sb.shutdown().await;
}

fn station_order(key: &str, city: &str, quantity: Decimal) -> orderbridge::model::StationOrder {
    use orderbridge::model::{Address, StationItem, StationOrder, StationStatus};
    let address = Address {
        name: "Ann Lee".into(),
        line1: "1 Main St".into(),
        city: city.into(),
        region: Some("CO".into()),
        postal_code: Some("80202".into()),
        country: "US".into(),
        ..Address::default()
    };
    StationOrder {
        key: key.into(),
        number: key.trim_start_matches("AC-").into(),
        order_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap().and_hms_opt(11, 0, 0).unwrap(),
        status: StationStatus::AwaitingShipment,
        ship_to: address.clone(),
        bill_to: address,
        items: vec![StationItem {
            line_key: "1".into(),
            sku: "WATER2809".into(),
            name: "Water bottle".into(),
            quantity,
            unit_price: Some(Decimal::new(1250, 2)),
            unit_weight_lb: Some(Decimal::new(12, 1)),
        }],
        requested_service: Some("UPS Ground".into()),
        notes: None,
        store_id: None,
        weight_lb: Some(Decimal::new(25, 1)),
        erp_reference: format!("{key} (SO/SO000456)"),
    }
}

/// Orders created by key: a repeat updates the same order (status on hold), an order without a
/// city is refused alone in the station's words, a fractional quantity is refused before the call.
#[tokio::test]
async fn station_orders_are_created_and_updated_by_key_and_refusals_name_the_order() {
    use orderbridge::model::StationStatus;
    use orderbridge::ports::ShippingStation;
    let sb = sandbox_with(|_| {}).await;
    let ss = client(&sb);
    let orders = vec![
        station_order("AC-000123", "Denver", Decimal::from(2)),
        station_order("AC-000124", "", Decimal::from(1)),
        station_order("AC-000125", "Denver", Decimal::new(15, 1)),
    ];
    let outcomes = ss.upsert_orders(&orders).await.unwrap();
    let by_key = |k: &str| outcomes.iter().find(|o| o.key == k).unwrap().result.clone();
    let id = by_key("AC-000123").expect("created");
    assert!(by_key("AC-000124").unwrap_err().contains("city"), "{outcomes:?}");
    assert!(by_key("AC-000125").unwrap_err().contains("whole number"), "{outcomes:?}");

    let mut held = orders[0].clone();
    held.status = StationStatus::OnHold;
    let again = ss.upsert_orders(&[held]).await.unwrap();
    assert_eq!(again[0].result.as_deref(), Ok(id.as_str()), "the same order, updated");
    let state = sb.state();
    let st = state.shipstation();
    let ours: Vec<&Value> = st.orders.values().map(|o| &o.json).filter(|o| o["orderKey"] == "AC-000123").collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["orderStatus"], "on_hold");
    assert_eq!(ours[0]["items"][0]["quantity"], 2);
    assert_eq!(ours[0]["advancedOptions"]["customField1"], "AC-000123 (SO/SO000456)");
    assert!(st.orders.values().all(|o| o.json["orderKey"] != "AC-000124"), "the refused order was not created");
}

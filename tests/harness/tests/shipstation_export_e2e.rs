//! ERP shipments exported to ShipStation (its shipping station), end to end through status-push's
//! catch-up poll, the emulator and the sandbox: an Open shipment becomes one ShipStation order
//! (repeated polls create no second one), an incomplete ship-to is reported on the ERP shipment
//! and in the connector log once and exported after the fix, a hold and a cancel are followed, and
//! the order date is the ERP's business day in ShipStation's zone.
//!
//! Needs the emulator (`make test` starts it).

use std::time::Duration;

use orderbridge::connections::Connections;
use orderbridge::ports::LogResult;
use orderbridge_harness::report::log_since;
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::acumatica::{CreateShipment, EnterLine, EnterOrder};
use orderbridge_sandbox::{SandboxConfig, Vendor, WindowLimit};
use serde_json::{json, Value};

fn with_export(connections: &mut Connections) {
    if let Some(section) = connections.shipstation.as_mut() {
        section.export = Some(
            toml::from_str(
                "statuses = [\"Open\"]\nerp_time_zone = \"America/New_York\"\n[ship_via]\nUPSGROUND = \"UPS Ground\"",
            )
            .unwrap(),
        );
    }
}

async fn world() -> World {
    let mut config = SandboxConfig {
        seed: 2020,
        sellercloud_orders: 0,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("ssexport"), config);
    world_config.tweak_connections = Some(with_export);
    World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"))
}

/// A sales order entered in the ERP and an Open shipment for it; returns the shipment number.
fn open_shipment(world: &World, hold: bool, blank: &[&str]) -> String {
    let order = EnterOrder {
        customer_id: "AACUSTOMER".into(),
        ship_via: Some("UPSGROUND".into()),
        lines: vec![EnterLine::new("WATER2809", rust_decimal::Decimal::from(2))],
        ..EnterOrder::default()
    };
    let so = world.sandbox.state().acumatica_enter_order(&order).unwrap();
    let nbr = so["OrderNbr"]["value"].as_str().unwrap().to_owned();
    let request = CreateShipment {
        hold,
        blank: blank.iter().map(|b| (*b).to_owned()).collect(),
        ..CreateShipment::for_order(&nbr)
    };
    let shipment = world.sandbox.state().acumatica_create_shipment(&request).unwrap();
    shipment["ShipmentNbr"]["value"].as_str().unwrap().to_owned()
}

/// ShipStation orders created for shipment `nbr` (by its key, any generation).
fn station_orders(world: &World, nbr: &str) -> Vec<Value> {
    let state = world.sandbox.state();
    let ss = state.shipstation();
    let key = format!("AC-{nbr}");
    ss.orders
        .values()
        .map(|o| o.json.clone())
        .filter(|o| o["orderKey"].as_str().is_some_and(|k| k == key || k.starts_with(&format!("{key}-"))))
        .collect()
}

fn erp_shipment(world: &World, nbr: &str) -> Value {
    world.sandbox.state().acumatica().shipment(nbr).cloned().expect("shipment")
}

/// Edits a shipment through Acumatica's REST API, as a user of the API would.
async fn put_shipment(world: &World, body: Value) {
    let ac = &world.connections.acumatica;
    let c = &world.sandbox.state().config().credentials;
    let base = ac.base_url.trim_end_matches('/');
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/entity/auth/login"))
        .json(&json!({ "name": c.acumatica_username, "password": c.acumatica_password, "tenant": c.acumatica_tenant }))
        .send()
        .await
        .unwrap();
    let cookie: Vec<String> = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let cookie = cookie.join("; ");
    let put = http
        .put(format!("{base}/entity/{}/{}/Shipment", ac.endpoint, ac.endpoint_version))
        .header(reqwest::header::COOKIE, &cookie)
        .header("If-Match", "*")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = put.status();
    assert!(status.is_success(), "PUT Shipment: {status} {}", put.text().await.unwrap_or_default());
    let _ = http.post(format!("{base}/entity/auth/logout")).header(reqwest::header::COOKIE, &cookie).send().await;
}

async fn poll(world: &World) -> Value {
    // The shipment's modification time has whole-second precision in the filter: let it pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let summary = serde_json::to_value(world.status.run_catch_up().await).unwrap();
    println!("catch-up: {summary}");
    summary["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["source"] == "shipstation-export").cloned())
        .expect("the export is polled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_shipments_become_one_shipstation_order_each_and_follow_fixes_holds_and_cancels() {
    let world = world().await;
    let started = chrono::Utc::now() - chrono::Duration::minutes(1);
    let good = open_shipment(&world, false, &[]);
    let broken = open_shipment(&world, false, &["City", "PostalCode"]);
    let later = open_shipment(&world, false, &[]);

    let calls = |v: Vendor| world.sandbox.state().request_count(v).total;
    let (ac0, ss0) = (calls(Vendor::Acumatica), calls(Vendor::Shipstation));
    let first = poll(&world).await;
    assert!(first["error"].is_null(), "{first}");
    let (ac1, ss1) = (calls(Vendor::Acumatica), calls(Vendor::Shipstation));
    let orders = station_orders(&world, &good);
    assert_eq!(orders.len(), 1, "one ShipStation order for {good}");
    let order = &orders[0];
    assert_eq!(order["orderStatus"], "awaiting_shipment");
    assert_eq!(order["orderNumber"], good);
    assert_eq!(order["items"][0]["sku"], "WATER2809");
    assert_eq!(order["items"][0]["quantity"], 2);
    assert_eq!(order["requestedShippingService"], "UPS Ground");
    // The price of the sales order line it ships, and the order's bill-to (a shipment has neither).
    assert!(order["items"][0]["unitPrice"].as_f64().is_some_and(|p| p > 0.0), "{order}");
    assert!(order["billTo"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{order}");
    assert!(order["weight"]["value"].as_f64().is_some_and(|w| w > 0.0), "the packages' weight: {order}");
    let shipment_date = erp_shipment(&world, &good)["ShipmentDate"]["value"].as_str().unwrap()[..10].to_owned();
    assert_eq!(order["orderDate"].as_str().unwrap()[..10], shipment_date, "the ERP's business day");
    assert_eq!(station_orders(&world, &later).len(), 1);

    // The incomplete one: not exported, told on the ERP shipment and in the log, once.
    assert!(station_orders(&world, &broken).is_empty());
    let note = erp_shipment(&world, &broken)["note"]["value"].as_str().unwrap_or_default().to_owned();
    assert!(note.contains("lacks city, postal code"), "ERP note: {note:?}");
    let connection = orderbridge::model::ConnectionId::parse("shipstation").unwrap();
    let failures = |entries: &[orderbridge::ports::LogEntry]| {
        entries.iter().filter(|e| e.action == "export_shipment" && e.result == LogResult::Failure).count()
    };
    let entries = log_since(world.status.log.as_ref(), std::slice::from_ref(&connection), started).await;
    assert_eq!(failures(&entries), 1, "one failure logged");

    // Polling again: nothing new anywhere.
    let second = poll(&world).await;
    assert_eq!(second["report"]["enqueued"], 0, "{second}");
    assert_eq!(station_orders(&world, &good).len(), 1);
    let entries = log_since(world.status.log.as_ref(), std::slice::from_ref(&connection), started).await;
    assert_eq!(failures(&entries), 1, "the same problem is not reported twice");

    // The address fixed in the ERP: exported.
    put_shipment(
        &world,
        json!({ "ShipmentNbr": {"value": broken}, "ShippingSettings": {"ShipToAddress": {
            "City": {"value": "Springfield"}, "PostalCode": {"value": "62701"}}}}),
    )
    .await;
    poll(&world).await;
    assert_eq!(station_orders(&world, &broken).len(), 1, "exported after the fix");

    // On hold, released, cancelled: followed on the one order.
    put_shipment(&world, json!({ "ShipmentNbr": {"value": good}, "Hold": {"value": true} })).await;
    poll(&world).await;
    assert_eq!(station_orders(&world, &good)[0]["orderStatus"], "on_hold");
    put_shipment(&world, json!({ "ShipmentNbr": {"value": good}, "Hold": {"value": false} })).await;
    poll(&world).await;
    assert_eq!(station_orders(&world, &good)[0]["orderStatus"], "awaiting_shipment");
    world.sandbox.state().acumatica_cancel_shipment(&good).unwrap();
    poll(&world).await;
    let cancelled = station_orders(&world, &good);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["orderStatus"], "cancelled");
    // Dated on the days the clocks change (ERP in New York, ShipStation in Pacific time): the
    // station shows the ERP's business day, not the day a UTC conversion would give.
    for day in ["2026-03-08T00:00:00-05:00", "2026-11-01T00:00:00-04:00", "2026-12-31T00:00:00-05:00"] {
        put_shipment(&world, json!({ "ShipmentNbr": {"value": broken}, "ShipmentDate": {"value": day} })).await;
        poll(&world).await;
        let date = station_orders(&world, &broken)[0]["orderDate"].as_str().unwrap_or_default().to_owned();
        assert_eq!(&date[..10], &day[..10], "orderDate {date} for ERP date {day}");
    }

    // A label bought in ShipStation for an exported shipment: its tracking goes onto the ERP
    // shipment's package and the shipment is confirmed, once however often SHIP_NOTIFY comes.
    world.route_shipstation_notifications(Some(2));
    let label_started = std::time::Instant::now();
    let (ac2, ss2) = (calls(Vendor::Acumatica), calls(Vendor::Shipstation));
    let request = orderbridge_sandbox::shipstation::CreateShipments {
        order_numbers: vec![later.clone()],
        tracking_numbers: vec!["1ZEXPORT0000000001".into()],
        ..Default::default()
    };
    world.sandbox.state().shipstation_create_shipments(&request).unwrap();
    world.sandbox.state().wait_for_deliveries(Vendor::Shipstation, 2, Duration::from_secs(30)).await;
    let drained =
        orderbridge_harness::drive::drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(60)).await;
    assert!(drained.settled, "{drained:?}");
    let erp = erp_shipment(&world, &later);
    assert_eq!(erp["Status"]["value"], "Confirmed", "{erp}");
    let tracked: Vec<&str> = erp["Packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["TrackingNbr"]["value"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(tracked, vec!["1ZEXPORT0000000001"], "the tracking is on the one package, once");
    println!(
        "label → ERP package and confirmation: {:.1} s; Acumatica {} calls, ShipStation {} calls",
        label_started.elapsed().as_secs_f64(),
        calls(Vendor::Acumatica) - ac2,
        calls(Vendor::Shipstation) - ss2
    );
    println!("first poll: Acumatica {} calls, ShipStation {} calls for 3 shipments (2 exported)", ac1 - ac0, ss1 - ss0);
    world.shutdown().await;
}

/// The whole path on push notifications alone (no poll): a Sellercloud order imported into the
/// ERP gets an Open shipment there → Acumatica's notification → exported to ShipStation → a label
/// bought (SHIP_NOTIFY delivered twice) → tracking on the ERP package and the shipment confirmed →
/// the confirmation's notification → the tracking on the Sellercloud order exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_label_for_an_exported_shipment_reaches_the_channel_order_once_through_the_erp() {
    let mut config = SandboxConfig {
        seed: 2121,
        sellercloud_orders: 3,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("sslabel"), config);
    world_config.tweak_connections = Some(with_export);
    world_config.queue_timing = Some((2, 8));
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let settled = orderbridge_harness::drive::settle_orders(&world.app, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(settled.settled);
    let erp = orderbridge_harness::report::erp_orders_by_import_id(&world.sandbox);
    let (import_id, orders) = erp.iter().find(|(id, _)| id.starts_with("SC-")).expect("an imported Sellercloud order");
    let so_nbr = orders[0]["OrderNbr"]["value"].as_str().unwrap().to_owned();
    let sc_id: i64 = import_id[3..].parse().unwrap();
    world.route_acumatica_pushes(Some(1));
    world.route_shipstation_notifications(Some(2));

    let started = std::time::Instant::now();
    let shipment = world.sandbox.state().acumatica_create_shipment(&CreateShipment::for_order(&so_nbr)).unwrap();
    let nbr = shipment["ShipmentNbr"]["value"].as_str().unwrap().to_owned();
    world.sandbox.state().wait_for_deliveries(Vendor::Acumatica, 1, Duration::from_secs(30)).await;
    let drained =
        orderbridge_harness::drive::drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(60)).await;
    assert!(drained.settled);
    assert_eq!(station_orders(&world, &nbr).len(), 1, "exported on the notification alone");
    let exported_in = started.elapsed();

    let label = std::time::Instant::now();
    let request = orderbridge_sandbox::shipstation::CreateShipments {
        order_numbers: vec![nbr.clone()],
        tracking_numbers: vec!["1ZLABEL00000000042".into()],
        ..Default::default()
    };
    world.sandbox.state().shipstation_create_shipments(&request).unwrap();
    // Two SHIP_NOTIFY copies, then the ERP's notifications of the confirmation.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let drained =
            orderbridge_harness::drive::drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(60)).await;
        assert!(drained.settled);
    }
    let with_tracking = {
        let state = world.sandbox.state();
        let sc = state.sellercloud();
        sc.orders[&sc_id].packages.iter().filter(|p| p.tracking_number == "1ZLABEL00000000042").count()
    };
    assert_eq!(with_tracking, 1, "the tracking is on the Sellercloud order once");
    assert_eq!(erp_shipment(&world, &nbr)["Status"]["value"], "Confirmed");
    println!(
        "exported {:.1} s after the shipment was created; label → tracking on the Sellercloud order within {:.1} s",
        exported_in.as_secs_f64(),
        label.elapsed().as_secs_f64()
    );
    world.shutdown().await;
}

fn with_export_unconfirmed(connections: &mut Connections) {
    with_export(connections);
    if let Some(export) = connections.shipstation.as_mut().and_then(|s| s.export.as_mut()) {
        export.confirm_shipments = false;
    }
}

fn packages_tracking(world: &World, nbr: &str) -> Vec<String> {
    erp_shipment(world, nbr)["Packages"]
        .as_array()
        .map(|p| p.iter().map(|p| p["TrackingNbr"]["value"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

/// Voids and re-labels: a label voided before the ERP shipment is confirmed comes off its package
/// and the new label takes the package; a label voided after the confirmation (its tracking went
/// to the channel) is logged for an operator and the package is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_voided_label_comes_off_the_package_before_the_push_and_is_reported_after_it() {
    let mut config =
        SandboxConfig { seed: 2222, sellercloud_orders: 0, bigcommerce_orders: 0, ..SandboxConfig::default() };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("ssvoid"), config);
    world_config.tweak_connections = Some(with_export_unconfirmed);
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let started = chrono::Utc::now() - chrono::Duration::minutes(1);
    let nbr = open_shipment(&world, false, &[]);
    poll(&world).await;
    assert_eq!(station_orders(&world, &nbr).len(), 1);
    world.route_shipstation_notifications(Some(1));
    let label = |tracking: &str| {
        let request = orderbridge_sandbox::shipstation::CreateShipments {
            order_numbers: vec![nbr.clone()],
            tracking_numbers: vec![tracking.to_owned()],
            ..Default::default()
        };
        let (_, shipments) = world.sandbox.state().shipstation_create_shipments(&request).unwrap();
        shipments[0]["shipmentId"].as_i64().unwrap()
    };
    let drain = || orderbridge_harness::drive::drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(60));

    let first = label("1ZVOID0000000001");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(drain().await.settled);
    assert_eq!(packages_tracking(&world, &nbr), vec!["1ZVOID0000000001"]);
    assert_eq!(erp_shipment(&world, &nbr)["Status"]["value"], "Open", "not confirmed (confirm_shipments = false)");

    world.sandbox.state().shipstation_void_shipment(first).unwrap();
    poll(&world).await;
    assert_eq!(packages_tracking(&world, &nbr), vec![""], "the voided tracking is off the package");
    let second = label("1ZVOID0000000002");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(drain().await.settled);
    assert_eq!(packages_tracking(&world, &nbr), vec!["1ZVOID0000000002"], "the new label takes the package");

    // Confirmed (its tracking goes to the channel), then voided: told to an operator, left alone.
    world.sandbox.state().acumatica_confirm_shipment_nbr(&nbr).unwrap();
    world.sandbox.state().shipstation_void_shipment(second).unwrap();
    poll(&world).await;
    poll(&world).await;
    assert_eq!(packages_tracking(&world, &nbr), vec!["1ZVOID0000000002"]);
    let connection = orderbridge::model::ConnectionId::parse("shipstation").unwrap();
    let entries = log_since(world.status.log.as_ref(), std::slice::from_ref(&connection), started).await;
    let voids: Vec<(LogResult, String)> =
        entries.iter().filter(|e| e.action == "void_label").map(|e| (e.result, e.notes.clone())).collect();
    assert_eq!(voids.len(), 2, "each void handled once: {voids:?}");
    assert_eq!(voids[0].0, LogResult::Success);
    assert_eq!(voids[1].0, LogResult::Failure);
    assert!(voids[1].1.contains("by hand"), "{}", voids[1].1);
    world.shutdown().await;
}

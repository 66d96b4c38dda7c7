//! Orders entered in Acumatica → Magento, end to end through the real handlers, the vendor
//! sandbox and the emulator: the reference walkthrough (2 × WATER2809 at 20.00 for Alta Ace, Ship
//! Via LOCAL) waits while its balance is unpaid, is created in Magento exactly once when a payment
//! is applied (push notifications delivered three times, the create's answer lost once), then its
//! shipment with tracking, its invoice and Complete follow; an unmapped Ship Via fails by name and
//! is sent after the mapping is fixed; the poll finds what no notification announced.
//! Needs the emulator (`make test` starts it).

use std::time::{Duration, Instant};

use chrono::Utc;
use orderbridge::model::ConnectionId;
use orderbridge::ports::{serde_name, LogEntry, LogResult};
use orderbridge_harness::drive::{drain_shipments, settle_orders};
use orderbridge_harness::report::log_since;
use orderbridge_harness::world::{demo_dir, World, WorldConfig};
use orderbridge_sandbox::acumatica::{ConfirmShipment, EnterLine, EnterOrder};
use orderbridge_sandbox::faults::{FaultKind, ScriptedFault};
use orderbridge_sandbox::{SandboxConfig, Vendor};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

async fn world(prefix: &str, sellercloud_orders: usize) -> World {
    let config = SandboxConfig {
        seed: 12,
        sellercloud_orders,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        // Magento 2.4.7: a comment no longer moves the status, so statuses must go through
        // the documented endpoints (cancel, hold, unhold) to pass here.
        magento_comment_sets_status: false,
        ..SandboxConfig::default()
    };
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix(prefix), config);
    world_config.queue_timing = Some((2, 8));
    world_config.tweak_connections = Some(without_stock);
    World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"))
}

/// These tests follow Magento's own stock through the direct route (what a shipment deducts);
/// the store's stock from Acumatica (`magento_stock_e2e`) would overwrite it on every poll.
fn without_stock(connections: &mut orderbridge::connections::Connections) {
    for c in connections.connections.iter_mut().filter(|c| c.kind == "magento") {
        c.settings.remove("stock");
    }
}

/// The walkthrough's order as a user enters it in SO301000.
fn walkthrough(ship_via: &str) -> EnterOrder {
    EnterOrder {
        order_type: "SO".into(),
        customer_id: "AACUSTOMER".into(),
        location_id: "MAIN".into(),
        ship_via: Some(ship_via.into()),
        lines: vec![EnterLine {
            inventory_id: "WATER2809".into(),
            qty: dec!(2),
            uom: Some("BOTTLE".into()),
            warehouse: Some("RETAIL".into()),
            unit_price: Some(dec!(20.00)),
        }],
        ..EnterOrder::default()
    }
}

fn enter(world: &World, order: &EnterOrder) -> (String, String) {
    let so = world.sandbox.state().acumatica_enter_order(order).unwrap_or_else(|e| panic!("enter order: {e}"));
    let t = so["OrderType"]["value"].as_str().expect("OrderType").to_owned();
    let n = so["OrderNbr"]["value"].as_str().expect("OrderNbr").to_owned();
    (t, n)
}

fn pay(world: &World, (t, n): &(String, String), amount: Decimal) {
    world.sandbox.state().acumatica_apply_payment(t, n, amount).unwrap_or_else(|e| panic!("payment: {e}"));
}

/// Magento orders carrying `ext_order_id`.
fn magento_orders(world: &World, ext: &str) -> Vec<Value> {
    world
        .sandbox
        .state()
        .magento()
        .orders
        .values()
        .filter(|o| o["ext_order_id"].as_str() == Some(ext))
        .cloned()
        .collect()
}

fn erp_order(world: &World, (t, n): &(String, String)) -> Value {
    world.sandbox.state().acumatica().sales_orders[&format!("{t}/{n}")].clone()
}

/// Lets the sandbox's push notifications arrive (through the gateway into the shipments queue),
/// then runs status-push until the queue is empty and no new notification came meanwhile (the
/// flow's own writes to the ERP notify too).
async fn drain(world: &World) {
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = world.sandbox.state().deliveries(Vendor::Acumatica).len();
        let report = drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;
        assert!(report.settled, "shipments queue did not settle: {report:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        if world.sandbox.state().deliveries(Vendor::Acumatica).len() == before {
            break;
        }
    }
}

async fn mg_log(world: &World, since: chrono::DateTime<Utc>) -> Vec<LogEntry> {
    let mg = ConnectionId::parse("mg-store").unwrap();
    log_since(world.app.log(), &[mg], since).await
}

fn rows<'a>(log: &'a [LogEntry], group: &str, action: &str, result: LogResult) -> Vec<&'a LogEntry> {
    log.iter().filter(|e| serde_name(&e.group) == group && e.action == action && e.result == result).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_walkthrough_order_waits_for_payment_then_reaches_magento_once_with_shipment_invoice_and_complete() {
    let world = world("e2m-walk", 0).await;
    let salable_before = world.sandbox.state().magento_salable_qty("WATER2809").expect("WATER2809 in Magento");
    let source_before = world.sandbox.state().magento_source_qty("WATER2809").expect("WATER2809 stock");
    let since = Utc::now() - chrono::Duration::seconds(1);
    world.route_acumatica_pushes(Some(3));
    let order = enter(&world, &walkthrough("LOCAL"));
    let ext = format!("{}/{}", order.0, order.1);
    drain(&world).await;

    // Unpaid: skipped with the reason, nothing in Magento.
    assert!(magento_orders(&world, &ext).is_empty(), "an unpaid order must wait");
    let log = mg_log(&world, since).await;
    let skipped = rows(&log, "orders", "publisher", LogResult::Skipped);
    assert!(
        skipped.iter().any(|e| e.entity_id == ext && e.notes.contains("unpaid balance is 40.00")),
        "the skip names the failed condition: {log:#?}"
    );

    // The payment makes it qualify; the create's answer is lost once (the order exists in
    // Magento, the worker never learns it): the retry finds it by the ERP number.
    world
        .sandbox
        .state()
        .push_fault(Vendor::Magento, ScriptedFault::new(FaultKind::CommitThenDrop).on("POST", "/V1/orders").times(1));
    let paid_at = Instant::now();
    pay(&world, &order, dec!(40.00));
    drain(&world).await;
    let push_latency = paid_at.elapsed();
    let created = magento_orders(&world, &ext);
    assert_eq!(created.len(), 1, "exactly one Magento order for {ext}: {created:#?}");
    let mg = &created[0];
    assert_eq!(mg["status"], "pending");
    assert_eq!(mg["customer_email"], "ap@altaace.com");
    assert_eq!(mg["shipping_method"], "freeshipping_freeshipping");
    assert_eq!(mg["shipping_description"], "Free Shipping - Free");
    let money = |v: &Value| {
        v.as_str().map(|s| s.parse::<Decimal>().unwrap()).or_else(|| v.as_f64().map(|f| Decimal::try_from(f).unwrap()))
    };
    assert_eq!(money(&mg["grand_total"]), Some(dec!(40.00)));
    let items = mg["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["sku"], "WATER2809");
    assert_eq!(money(&items[0]["qty_ordered"]), Some(dec!(2)));
    assert_eq!(money(&items[0]["price"]), Some(dec!(20.00)));
    assert!(mg["customer_id"].as_i64().is_some(), "Alta Ace is a Magento customer (created by email)");
    let increment = mg["increment_id"].as_str().expect("increment_id").to_owned();
    let entity_id = mg["entity_id"].as_i64().expect("entity_id");
    assert_eq!(
        erp_order(&world, &order)["ExternalRef"]["value"].as_str(),
        Some(increment.as_str()),
        "the Magento order number is recorded on the Acumatica order"
    );
    // The direct route stores the order as sent: no MSI reservation, stock untouched (README).
    assert_eq!(world.sandbox.state().magento_salable_qty("WATER2809"), Some(salable_before));

    // Every notification came three times; a poll reading the order again creates nothing more.
    world.status.run_catch_up().await;
    drain(&world).await;
    assert_eq!(magento_orders(&world, &ext).len(), 1, "no second Magento order");

    // Shipment confirmed in Acumatica → Magento shipment with tracking and items.
    let request: ConfirmShipment = serde_json::from_value(json!({
        "OrderType": order.0, "OrderNbr": order.1, "Packages": [{"TrackingNbr": "1ZE2M0001"}]
    }))
    .unwrap();
    world.sandbox.state().acumatica_confirm_shipment(&request).unwrap_or_else(|e| panic!("confirm: {e}"));
    drain(&world).await;
    let shipments: Vec<Value> = world
        .sandbox
        .state()
        .magento()
        .shipments
        .values()
        .filter(|s| s["order_id"] == json!(entity_id))
        .cloned()
        .collect();
    assert_eq!(shipments.len(), 1, "{shipments:#?}");
    assert_eq!(shipments[0]["tracks"][0]["track_number"], "1ZE2M0001");
    assert_eq!(money(&shipments[0]["total_qty"]), Some(dec!(2)));
    // The shipment took the 2 bottles off the source; MSI's compensating reservation for a
    // placement that never happened leaves salable quantity where it was (magento/inventory#3419,
    // the documented trade-off of the direct route: README, "Why the direct route").
    assert_eq!(world.sandbox.state().magento_source_qty("WATER2809"), Some(source_before - dec!(2)));
    assert_eq!(world.sandbox.state().magento_salable_qty("WATER2809"), Some(salable_before));

    // Invoice released in Acumatica → Magento invoice, and the order ends Complete.
    world.sandbox.state().acumatica_release_invoice(&order.0, &order.1).unwrap_or_else(|e| panic!("invoice: {e}"));
    drain(&world).await;
    let invoices: Vec<Value> = world
        .sandbox
        .state()
        .magento()
        .invoices
        .values()
        .filter(|i| i["order_id"] == json!(entity_id))
        .cloned()
        .collect();
    assert_eq!(invoices.len(), 1, "{invoices:#?}");
    assert_eq!(money(&invoices[0]["grand_total"]), Some(dec!(40.00)));
    let done = &magento_orders(&world, &ext)[0];
    assert_eq!(done["state"], "complete", "{done:#?}");

    // The connector log in the reference's vocabulary.
    let log = mg_log(&world, since).await;
    let entity = entity_id.to_string();
    assert!(
        rows(&log, "orders", "create", LogResult::Retry).iter().any(|e| e.entity_id == ext),
        "the lost answer is a Retry row: {log:#?}"
    );
    let created_rows = rows(&log, "orders", "create", LogResult::Success);
    assert_eq!(created_rows.len(), 1, "{log:#?}");
    assert_eq!(created_rows[0].entity_id, entity, "Entity Id is the Magento id");
    assert!(created_rows[0].notes.contains(&ext), "Notes carry the Acumatica number: {}", created_rows[0].notes);
    assert!(rows(&log, "customers", "create", LogResult::Success).iter().any(|e| e.entity_id == "ap@altaace.com"));
    assert!(rows(&log, "invoices", "create", LogResult::Success).iter().any(|e| e.entity_id == entity));
    assert!(
        rows(&log, "shipments", "push_tracking", LogResult::Success).iter().any(|e| e.entity_id.contains(&entity)),
        "{log:#?}"
    );
    let correlation = created_rows[0].correlation_id.clone().expect("correlation id");
    assert!(
        log.iter().filter(|e| e.correlation_id.as_deref() == Some(&correlation)).count() >= 4,
        "one correlation id end to end"
    );
    println!("push path: payment applied → Magento order in {push_latency:?} (three deliveries per notification, one lost answer)");
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unmapped_ship_via_fails_by_name_and_is_sent_after_the_fix_and_the_poll_finds_unannounced_orders() {
    // Channel orders imported into the same ERP first: the poll reads them too, and must never
    // send one of them to Magento (they carry their channel's Import ID).
    let world = world("e2m-unmapped", 6).await;
    let since = Utc::now() - chrono::Duration::seconds(1);
    let imported = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(imported.settled && imported.enqueued > 0, "{imported:?}");
    // No push notifications: the poll is the only way in.
    world.route_acumatica_pushes(None);
    let order = enter(&world, &walkthrough("FEDEX2DAY"));
    let ext = format!("{}/{}", order.0, order.1);
    pay(&world, &order, dec!(40.00));
    let polled_at = Instant::now();
    world.status.run_catch_up().await;
    drain(&world).await;
    assert!(magento_orders(&world, &ext).is_empty());
    let log = mg_log(&world, since).await;
    let failed = rows(&log, "orders", "create", LogResult::Failure);
    assert!(
        failed.iter().any(|e| e.entity_id == ext
            && e.notes.contains("Ship Via \"FEDEX2DAY\" is not mapped: add `FEDEX2DAY = { method =")
            && e.notes.contains("[erp_orders.ship_via]")),
        "the failure names the value and the line to add: {log:#?}"
    );
    // A second poll without a mapping change does not retry it.
    world.status.run_catch_up().await;
    drain(&world).await;
    assert!(magento_orders(&world, &ext).is_empty());

    // The fix: the line the failure named, uploaded; the next poll sends the order.
    let path = demo_dir().join("mappings/mg-store.toml");
    let fixed = std::fs::read_to_string(&path).unwrap().replace(
        "[erp_orders.ship_via]\n",
        "[erp_orders.ship_via]\nFEDEX2DAY = { method = \"flatrate_flatrate\", title = \"Flat Rate - Fixed\" }\n",
    );
    world.push_mapping_text("mg-store", "mappings/mg-store.toml", &fixed).await.unwrap();
    world.status.run_catch_up().await;
    drain(&world).await;
    let created = magento_orders(&world, &ext);
    assert_eq!(created.len(), 1, "sent once after the fix: {created:#?}");
    assert_eq!(created[0]["shipping_method"], "flatrate_flatrate");
    let log = mg_log(&world, since).await;
    let failure_at = failed.iter().map(|e| e.started_at).min().expect("failure row");
    assert!(
        rows(&log, "orders", "create", LogResult::Success)
            .iter()
            .any(|e| e.notes.contains(&ext) && e.started_at > failure_at),
        "a Success row follows the Failure once the mapping is fixed: {log:#?}"
    );

    // An order no notification announced: found by the poll alone.
    let second = enter(&world, &walkthrough("LOCAL"));
    pay(&world, &second, dec!(40.00));
    let started = Instant::now();
    world.status.run_catch_up().await;
    drain(&world).await;
    let poll_latency = started.elapsed();
    assert_eq!(magento_orders(&world, &format!("{}/{}", second.0, second.1)).len(), 1);
    // The same customer is found by email, not created twice.
    let log = mg_log(&world, since).await;
    assert_eq!(rows(&log, "customers", "create", LogResult::Success).len(), 1, "{log:#?}");
    // Only the two ERP-entered orders are in Magento: none of the imported channel orders.
    assert_eq!(world.sandbox.state().magento().orders.len(), 2, "imported orders are never sent back");

    // Cancelled in the ERP → cancelled in Magento, through the cancel endpoint (the poll sees it).
    world.sandbox.state().acumatica_set_order_status(&second.1, "Canceled").unwrap_or_else(|e| panic!("cancel: {e}"));
    world.status.run_catch_up().await;
    drain(&world).await;
    let cancelled = &magento_orders(&world, &format!("{}/{}", second.0, second.1))[0];
    assert_eq!(cancelled["state"], "canceled", "{cancelled:#?}");
    println!(
        "poll path: one catch-up poll + drain → Magento order in {poll_latency:?} (first failure to fix: {:?})",
        polled_at.elapsed()
    );
    world.shutdown().await;
}

//! Acumatica stock → Magento, end to end through status-push, the vendor sandbox and the
//! emulator: 1,000 SKUs, 50 of which change → exactly 50 source-item quantities written, a second
//! run writes none; an SKU the store does not sell is reported once; out of stock makes the product
//! unsalable; an availability push notification reaches the store without waiting for the poll.
//! Needs the emulator (`make test` starts it).

use std::time::{Duration, Instant};

use orderbridge::model::ConnectionId;
use orderbridge::ports::{serde_name, LogResult};
use orderbridge_harness::drive::drain_shipments;
use orderbridge_harness::report::log_since;
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::acumatica::{BulkStockItem, StockAdjustment};
use orderbridge_sandbox::magento::NewProduct;
use orderbridge_sandbox::{SandboxConfig, Vendor};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const SKUS: usize = 1000;

async fn world(prefix: &str) -> World {
    let config = SandboxConfig {
        seed: 44,
        sellercloud_orders: 0,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix(prefix), config);
    world_config.queue_timing = Some((2, 8));
    World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"))
}

fn sku(i: usize) -> String {
    format!("LOAD-{i:04}")
}

/// The load catalogue in both systems: every SKU in Acumatica, all but `LOAD-0999` in Magento.
fn load_catalogue(world: &World) {
    let state = world.sandbox.state();
    let items: Vec<BulkStockItem> = (0..SKUS)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "InventoryID": sku(i), "Description": format!("Load item {i}"), "QtyOnHand": (i % 40) as i64,
            }))
            .unwrap()
        })
        .collect();
    state.acumatica_add_stock_items(&items);
    let products: Vec<NewProduct> = (0..SKUS - 1)
        .map(|i| serde_json::from_value(serde_json::json!({ "sku": sku(i), "price": 10, "qty": 0 })).unwrap())
        .collect();
    state.magento_add_products(&products);
}

fn writes_of(world: &World, prefix: &str) -> Vec<serde_json::Value> {
    world
        .sandbox
        .state()
        .magento_stock_writes()
        .into_iter()
        .filter(|w| w["sku"].as_str().is_some_and(|s| s.starts_with(prefix)))
        .collect()
}

fn adjust(world: &World, items: &[(String, Decimal)]) {
    let rows: Vec<StockAdjustment> = items
        .iter()
        .map(|(item, qty)| {
            serde_json::from_value(serde_json::json!({ "InventoryID": item, "WarehouseID": "MAIN", "QtyOnHand": qty }))
                .unwrap()
        })
        .collect();
    world.sandbox.state().acumatica_adjust_stock(&rows).unwrap_or_else(|e| panic!("adjust: {e}"));
}

fn clear_writes(world: &World) {
    world.sandbox.state().magento().stock_writes.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_changed_quantities_reach_magento_and_unknown_skus_are_reported_once() {
    let world = world("mg-stock").await;
    load_catalogue(&world);
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);

    // First poll: every SKU once (the baseline), the SKU Magento does not sell reported.
    let first = world.status.run_catch_up().await;
    assert!(first.stock.iter().all(|s| s.error.is_none()), "{:?}", first.stock);
    let baseline = writes_of(&world, "LOAD-");
    assert_eq!(baseline.len(), SKUS - 1, "every sold SKU written once");
    assert!(baseline.iter().all(|w| w["via"] == "source-items" && w["source_code"] == "default"));
    assert!(baseline.iter().all(|w| w["sku"] != "LOAD-0999"), "an unknown SKU is not written");

    // 50 SKUs change in Acumatica (no push routed): the poll writes exactly those 50.
    clear_writes(&world);
    let changed: Vec<(String, Decimal)> = (0..50).map(|i| (sku(i * 19), Decimal::from(200 + i))).collect();
    adjust(&world, &changed);
    let erp_before = world.sandbox.state().request_count(Vendor::Acumatica).total;
    let mg_before = world.sandbox.state().request_count(Vendor::Magento).total;
    let second = world.status.run_catch_up().await;
    assert!(second.stock.iter().all(|s| s.error.is_none()), "{:?}", second.stock);
    let written = writes_of(&world, "LOAD-");
    assert_eq!(written.len(), 50, "exactly the changed quantities: {written:?}");
    for (item, qty) in &changed {
        let w = written.iter().find(|w| w["sku"] == item.as_str()).unwrap_or_else(|| panic!("{item} not written"));
        assert_eq!(w["quantity"].to_string().parse::<Decimal>().unwrap(), *qty, "{item}");
        assert_eq!(w["status"], 1);
    }
    let stock_calls = world.sandbox.state().request_count(Vendor::Magento).total - mg_before;
    let erp_calls = world.sandbox.state().request_count(Vendor::Acumatica).total - erp_before;
    println!("poll path: 50 changed SKUs cost {stock_calls} Magento calls and {erp_calls} Acumatica calls (the poll's shipment reads included)");

    // A second run writes nothing.
    clear_writes(&world);
    world.status.run_catch_up().await;
    assert!(writes_of(&world, "LOAD-").is_empty(), "nothing changed, nothing written");

    // Reported once, however often the poll runs.
    let mg = ConnectionId::parse("mg-store").unwrap();
    let log = log_since(world.status.log.as_ref(), &[mg], since).await;
    let reports: Vec<_> = log
        .iter()
        .filter(|e| serde_name(&e.group) == "inventory" && e.entity_id == "LOAD-0999" && e.result == LogResult::Skipped)
        .collect();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(reports[0].notes.contains("no product with this SKU"), "{}", reports[0].notes);

    // Out of stock: status 0, so Magento stops selling it.
    clear_writes(&world);
    adjust(&world, &[(sku(3), Decimal::ZERO)]);
    world.status.run_catch_up().await;
    let out = writes_of(&world, "LOAD-0003");
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0]["quantity"].to_string().parse::<Decimal>().unwrap(), out[0]["status"].clone()),
        (dec!(0), serde_json::json!(0))
    );
    assert_eq!(world.sandbox.state().magento_salable_qty("LOAD-0003"), Some(Decimal::ZERO));

    // The push path: Acumatica notifies the availability change, status-push writes it at once.
    world.route_acumatica_pushes(Some(1));
    clear_writes(&world);
    let pushed_at = Instant::now();
    adjust(&world, &[(sku(7), dec!(77))]);
    let mut latency = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(30)).await;
        if !writes_of(&world, "LOAD-0007").is_empty() {
            latency = Some(pushed_at.elapsed());
            break;
        }
    }
    let latency = latency.expect("the push notification's change reached Magento");
    let w = writes_of(&world, "LOAD-0007");
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["quantity"].to_string().parse::<Decimal>().unwrap(), dec!(77));
    println!("push path: availability change to Magento in {} ms", latency.as_millis());
    world.shutdown().await;
}

/// Switches the Magento connection's stock to legacy stock items.
fn legacy_stock(connections: &mut orderbridge::connections::Connections) {
    for c in connections.connections.iter_mut().filter(|c| c.kind == "magento") {
        if let Some(toml::Value::Table(stock)) = c.settings.get_mut("stock") {
            stock.insert("inventory".into(), toml::Value::String("legacy".into()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_without_msi_gets_legacy_stock_items() {
    let config = SandboxConfig {
        seed: 45,
        sellercloud_orders: 0,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("mg-legacy"), config);
    world_config.tweak_connections = Some(legacy_stock);
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    world.status.run_catch_up().await;
    clear_writes(&world);
    let item = world.sandbox.state().magento().products.keys().next().cloned().expect("a catalogue SKU");
    if world.sandbox.state().acumatica().availability().iter().all(|a| a.inventory_id != item) {
        let items: Vec<BulkStockItem> =
            vec![serde_json::from_value(serde_json::json!({ "InventoryID": item, "QtyOnHand": 1 })).unwrap()];
        world.sandbox.state().acumatica_add_stock_items(&items);
        world.status.run_catch_up().await;
        clear_writes(&world);
    }
    adjust(&world, &[(item.clone(), dec!(0))]);
    world.status.run_catch_up().await;
    let w = writes_of(&world, &item);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["via"], "stock-item", "legacy stock item written: {w:?}");
    assert_eq!(w[0]["status"], 0, "out of stock");
    assert_eq!(world.sandbox.state().magento_salable_qty(&item), Some(Decimal::ZERO));
    world.shutdown().await;
}

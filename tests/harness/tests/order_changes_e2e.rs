//! Orders changed in the store after their import, end to end (the "reset to the new status"
//! rule of storefront connectors): a BigCommerce order edited and moved back to Awaiting
//! Fulfillment updates its open Acumatica order once; one whose Acumatica order has completed is
//! left alone and the reason lands in its staff notes; a Magento order whose lines staff changed
//! updates its open Acumatica order's lines and total. A second run changes nothing.
//! Needs the emulator (`make test` starts it).

use std::collections::BTreeMap;
use std::time::Duration;

use orderbridge_harness::drive::settle_orders;
use orderbridge_harness::report::erp_orders_by_import_id;
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::magento::OrderEdit;
use orderbridge_sandbox::SandboxConfig;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn money(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

fn erp_order(world: &World, import_id: &str) -> Value {
    let all = erp_orders_by_import_id(&world.sandbox);
    let found = all.get(import_id).unwrap_or_else(|| panic!("{import_id} not in the ERP"));
    assert_eq!(found.len(), 1, "{import_id}: {} ERP orders", found.len());
    found[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changed_orders_update_their_open_erp_order_once_and_shipped_ones_are_left_alone() {
    let config = SandboxConfig {
        seed: 52,
        sellercloud_orders: 0,
        bigcommerce_orders: 30,
        magento_orders: 30,
        shipstation_orders: 0,
        magento_comment_sets_status: false,
        ..SandboxConfig::default()
    };
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("changes"), config);
    world_config.queue_timing = Some((2, 8));
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let first = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(first.settled, "{first:?}");
    let erp = erp_orders_by_import_id(&world.sandbox);

    // Two imported BigCommerce orders and one imported Magento order (all SKUs the ERP knows).
    let bc: Vec<i64> = world
        .sandbox
        .state()
        .bigcommerce()
        .orders
        .values()
        .filter(|o| o.status_id == 9 && erp.contains_key(&format!("BC-{}", o.id)))
        .map(|o| o.id)
        .take(2)
        .collect();
    assert_eq!(bc.len(), 2, "two imported BigCommerce orders");
    let (open, shipped) = (bc[0], bc[1]);
    let mg: i64 = world
        .sandbox
        .state()
        .magento()
        .orders
        .values()
        .filter(|o| erp.contains_key(&format!("MG-{}", o["entity_id"])))
        .map(|o| o["entity_id"].as_i64().unwrap())
        .next()
        .expect("an imported Magento order");
    let shipped_so = erp_order(&world, &format!("BC-{shipped}"));
    world
        .sandbox
        .state()
        .acumatica_set_order_status(shipped_so["OrderNbr"]["value"].as_str().unwrap(), "Completed")
        .unwrap_or_else(|e| panic!("status: {e}"));
    let shipped_before = shipped_so.clone();

    // Store staff change the orders and move the BigCommerce ones back to Awaiting Fulfillment.
    for id in [open, shipped] {
        let state = world.sandbox.state();
        let mut bcs = state.bigcommerce();
        let o = bcs.orders.get_mut(&id).unwrap();
        o.gen.buyer.address.line1 = format!("{id} Changed Avenue");
        o.customer_message = "Please ring twice".into();
        o.status_id = 11;
    }
    let mg_before = world.sandbox.state().magento().orders[&mg].clone();
    let sku = mg_before["items"][0]["sku"].as_str().unwrap().to_owned();
    let edit: OrderEdit = serde_json::from_value(json!({ "add_qty": { "sku": sku, "qty": 1 } })).unwrap();
    let mg_after = world.sandbox.state().magento_edit_order(mg, &edit).unwrap_or_else(|e| panic!("edit: {e}"));

    let second = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(second.settled, "{second:?}");

    // The open BigCommerce order: its ERP order has the new address and note, once.
    let so = erp_order(&world, &format!("BC-{open}"));
    assert_eq!(so["ShipToAddress"]["AddressLine1"]["value"], format!("{open} Changed Avenue"), "{so}");
    assert!(
        so["Note"].to_string().contains("Please ring twice") || so["note"].to_string().contains("Please ring twice"),
        "{so}"
    );
    let (status, notes) = {
        let state = world.sandbox.state();
        let bcs = state.bigcommerce();
        (bcs.orders[&open].status_id, bcs.orders[&open].staff_notes.clone())
    };
    assert_eq!(status, 9, "acknowledged again");
    assert!(notes.contains("applied"), "{notes}");

    // The shipped one: untouched in the ERP, the reason in the store.
    let so = erp_order(&world, &format!("BC-{shipped}"));
    assert_eq!(so["ShipToAddress"], shipped_before["ShipToAddress"], "a completed ERP order is not changed");
    let (status, notes) = {
        let state = world.sandbox.state();
        let bcs = state.bigcommerce();
        (bcs.orders[&shipped].status_id, bcs.orders[&shipped].staff_notes.clone())
    };
    assert_eq!(status, 9);
    assert!(notes.contains("Completed") && notes.contains("not applied"), "{notes}");

    // The Magento order: one more of its first SKU, and the new total to the cent.
    let so = erp_order(&world, &format!("MG-{mg}"));
    assert_eq!(money(&so["OrderTotal"]["value"]), money(&mg_after["grand_total"]).round_dp(2), "{so}");
    let qty: Decimal = so["Details"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["InventoryID"]["value"].as_str().is_some())
        .map(|d| money(&d["OrderQty"]["value"]))
        .sum();
    let before_qty: Decimal = mg_before["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["parent_item_id"].is_null())
        .map(|i| money(&i["qty_ordered"]))
        .sum();
    assert_eq!(qty, before_qty + Decimal::ONE, "{so}");

    // A further run: nothing changes.
    let snapshot: BTreeMap<String, Vec<Value>> = erp_orders_by_import_id(&world.sandbox);
    let third = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(third.settled && third.enqueued == 0, "{third:?}");
    assert_eq!(erp_orders_by_import_id(&world.sandbox), snapshot, "nothing written the second time");
    world.shutdown().await;
}

//! Follow-ups of imported Sellercloud orders, end to end through the real handlers, the emulator
//! and the vendor sandbox:
//!
//! - profit & loss charges land in the Acumatica order's user-defined fields (one bulk Sellercloud
//!   call per 50 orders, one Acumatica call per changed order), change when Sellercloud's P&L
//!   changes (an Amazon settlement), are not rewritten when unchanged, yield to a backlog of
//!   imports, and stop being read a configured age after shipment;
//! - the retention purge removes every seeded name, email, phone and street line of orders shipped
//!   longer ago than the setting from everything Orderbridge stores (both tables, every queue),
//!   leaves recent orders intact, and changes nothing when run again.
//!
//! Needs the emulator (`make test` starts it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orderbridge::handlers::FollowupSummary;
use orderbridge_harness::drive::{drain_shipments, settle_orders};
use orderbridge_harness::followups::{
    charge_fields, charge_mismatches, erp_charges, find_stored, personal_data_of, personal_data_only_of, LaterClock,
};
use orderbridge_harness::report::{confirm_one_box, erp_orders_by_import_id};
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::sellercloud::ScPnlUpdate;
use orderbridge_sandbox::{SandboxConfig, Vendor, WindowLimit};
use rust_decimal_macros::dec;

async fn imported_world(prefix: &str, seed: u64, sellercloud_orders: usize) -> World {
    let mut config = SandboxConfig {
        seed,
        sellercloud_orders,
        bigcommerce_orders: 4,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix(prefix), config);
    world_config.queue_timing = Some((2, 8));
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(report.settled, "orders did not settle: {report:?}");
    world
}

/// Sellercloud ids of the imported Sellercloud orders.
fn imported_sellercloud(world: &World) -> Vec<i64> {
    erp_orders_by_import_id(&world.sandbox).keys().filter_map(|id| id.strip_prefix("SC-")?.parse().ok()).collect()
}

fn calls(world: &World, vendor: Vendor) -> u64 {
    world.sandbox.state().request_count(vendor).total
}

/// Runs the follow-ups schedule once; returns the sc-main part of the summary.
async fn followups(world: &World) -> (serde_json::Value, FollowupSummary) {
    let summary = world.status.run_followups(std::time::Instant::now() + std::time::Duration::from_secs(600)).await;
    let json = serde_json::to_value(&summary).unwrap();
    println!("follow-ups: {json}");
    let sc = json["connections"].as_array().unwrap().iter().find(|c| c["connection"] == "sc-main").cloned();
    (sc.expect("sc-main follows its orders"), summary)
}

/// Confirms one box per order in the ERP, lets Acumatica's push notifications through the local
/// gateway into shipment-webhook, and drains status-push: the tracking reaches Sellercloud.
async fn ship(world: &World, ids: &[i64]) {
    world.route_acumatica_pushes(Some(1));
    for id in ids {
        confirm_one_box(&world.sandbox, &format!("SC-{id}")).expect("shipment confirmed");
    }
    world.sandbox.state().wait_for_deliveries(Vendor::Acumatica, ids.len() * 2, Duration::from_secs(30)).await;
    let report = drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(report.settled, "shipments did not drain: {report:?}");
    world.route_acumatica_pushes(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn charges_land_in_the_erp_change_when_sellercloud_settles_and_stop_after_the_age_after_shipment() {
    let mut world = imported_world("scpnl", 1717, 24).await;
    let fields = charge_fields(&world.connections);
    assert!(fields.len() >= 3, "the demo connection names charges: {fields:?}");
    let ids = imported_sellercloud(&world);
    let n = ids.len() as u64;
    assert!(n >= 10, "imported Sellercloud orders: {ids:?}");
    let unsettled: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| world.sandbox.state().sellercloud_pnl(*id).is_some_and(|p| p["Comission"] == "N/A"))
        .collect();
    assert!(!unsettled.is_empty(), "some Amazon orders are not settled yet");

    // First pass: every order read in one bulk call, every order's known charges written.
    let (sc0, ac0) = (calls(&world, Vendor::Sellercloud), calls(&world, Vendor::Acumatica));
    let (first, _) = followups(&world).await;
    let (sc1, ac1) = (calls(&world, Vendor::Sellercloud), calls(&world, Vendor::Acumatica));
    assert_eq!(first["charges"]["read"], n);
    assert_eq!(first["charges"]["calls"], n.div_ceil(50));
    // The bulk reads, plus one sign-in of status-push's own Sellercloud client.
    assert!(sc1 - sc0 <= n.div_ceil(50) + 1, "Sellercloud calls: {}", sc1 - sc0);
    assert_eq!(first["charges"]["written"], n, "{first}");
    assert_eq!(charge_mismatches(&world.sandbox, &fields), Vec::<String>::new());
    let written = erp_charges(&world.sandbox);
    for id in &unsettled {
        assert!(!written[id].contains_key("UsrSCCommission"), "N/A commission not written for SC-{id}");
        assert!(written[id].contains_key("UsrSCProfit"));
    }
    let acumatica_per_changed = (ac1 - ac0) as f64 / n as f64;
    assert!(acumatica_per_changed <= 1.2, "Acumatica calls per changed order: {acumatica_per_changed}");

    // Nothing changed: one Sellercloud call, no Acumatica call.
    let (quiet, _) = followups(&world).await;
    assert_eq!(quiet["charges"]["written"], 0);
    assert_eq!(quiet["charges"]["unchanged"].as_u64().unwrap() + quiet["charges"]["not_known"].as_u64().unwrap(), n);
    assert_eq!(calls(&world, Vendor::Acumatica), ac1, "no ERP call when nothing changed");
    assert_eq!(calls(&world, Vendor::Sellercloud) - sc1, n.div_ceil(50));

    // Amazon settles: the commission and profit of those orders change, and only they are written.
    for id in &unsettled {
        let update = ScPnlUpdate { settled: Some(true), commission: Some(dec!(4.20)), ..Default::default() };
        world.sandbox.state().sellercloud_set_pnl(*id, &update).unwrap();
    }
    let ac2 = calls(&world, Vendor::Acumatica);
    let (settled, _) = followups(&world).await;
    assert_eq!(settled["charges"]["written"], unsettled.len() as u64, "{settled}");
    assert_eq!(charge_mismatches(&world.sandbox, &fields), Vec::<String>::new());
    assert_eq!(erp_charges(&world.sandbox)[&unsettled[0]]["UsrSCCommission"], dec!(4.20));
    let settled_calls = calls(&world, Vendor::Acumatica) - ac2;

    // Orders waiting to be imported come first: with a backlog, the pass reads nothing.
    world.sandbox.state().sellercloud_create_orders(2, &Default::default());
    world.app.run_pull(std::time::Instant::now() + Duration::from_secs(30)).await;
    let sc_before_deferred = calls(&world, Vendor::Sellercloud);
    let (deferred, _) = followups(&world).await;
    assert!(deferred["charges"]["deferred"].as_str().is_some_and(|d| d.contains("wait to be imported")), "{deferred}");
    assert_eq!(calls(&world, Vendor::Sellercloud), sc_before_deferred, "no call while imports wait");
    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(report.settled);
    let n = imported_sellercloud(&world).len() as u64;

    // Three orders ship; 31 days later they are no longer read, the others still are.
    let shipped: Vec<i64> = imported_sellercloud(&world).into_iter().take(3).collect();
    ship(&world, &shipped).await;
    world.status.clock = Arc::new(LaterClock(chrono::Duration::days(31)));
    let (late, _) = followups(&world).await;
    assert_eq!(late["charges"]["stopped"], 3, "{late}");
    assert_eq!(late["charges"]["read"], n - 3);
    // 91 days after import: the unshipped ones stop too, and a pass costs no Sellercloud call.
    world.status.clock = Arc::new(LaterClock(chrono::Duration::days(91)));
    let (all_stopped, _) = followups(&world).await;
    assert_eq!(all_stopped["charges"]["stopped"], n - 3);
    let sc_end = calls(&world, Vendor::Sellercloud);
    let (idle, _) = followups(&world).await;
    assert_eq!((idle["charges"]["calls"].as_u64(), calls(&world, Vendor::Sellercloud)), (Some(0), sc_end));
    println!(
        "Sellercloud calls per 1,000 orders polled for P&L: {:.0}; Acumatica calls per changed order: first pass {acumatica_per_changed:.2}, after settlement {:.2}",
        1000.0 * n.div_ceil(50) as f64 / n as f64,
        settled_calls as f64 / unsettled.len() as f64
    );
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_purge_removes_personal_data_of_orders_shipped_longer_ago_than_the_setting_and_keeps_recent_ones() {
    let mut world = imported_world("scpurge", 1818, 12).await;
    let ids = imported_sellercloud(&world);
    assert!(ids.len() >= 6, "imported Sellercloud orders: {ids:?}");
    let (old, recent) = ids.split_at(ids.len() / 2);
    ship(&world, old).await;

    // Values only the old orders carry (repeat buyers also have recent orders, kept on purpose;
    // BigCommerce orders keep theirs: that connection keeps personal data).
    let old_values = personal_data_only_of(&world.sandbox, old, recent);
    let recent_values: Vec<String> = recent.iter().flat_map(|id| personal_data_of(&world.sandbox, *id)).collect();
    assert!(!old_values.is_empty(), "distinct personal data of the old orders");
    let before = find_stored(&world.aws, &old_values).await;
    assert!(!before.is_empty(), "Orderbridge stores the buyers of the old orders before the purge");
    println!("before the purge: {} places, e.g. {:?}", before.len(), before.first());

    // 29 days after shipment: nothing is purged yet.
    world.status.clock = Arc::new(LaterClock(chrono::Duration::days(29)));
    let (early, _) = followups(&world).await;
    assert_eq!(early["purge"]["purged"], 0);

    // 31 days: the shipped orders lose their personal data everywhere; the recent ones keep it.
    world.status.clock = Arc::new(LaterClock(chrono::Duration::days(31)));
    let (purge, _) = followups(&world).await;
    assert_eq!(purge["purge"]["purged"], old.len() as u64, "{purge}");
    let left = find_stored(&world.aws, &old_values).await;
    assert!(left.is_empty(), "personal data of orders shipped 31 days ago is still stored:\n{}", left.join("\n"));
    assert!(!find_stored(&world.aws, &recent_values).await.is_empty(), "recent orders keep theirs");
    // Ids and the accounting stay: the bindings and the ERP orders are untouched.
    let connection = orderbridge::model::ConnectionId::parse("sc-main").unwrap();
    for id in old {
        let order = orderbridge::model::ChannelOrderId::new(
            orderbridge::model::SystemCode::parse("SC").unwrap(),
            id.to_string(),
        )
        .unwrap();
        let binding = world.status.ledger.binding_for_channel(&connection, &order).await.unwrap();
        assert!(binding.is_some(), "SC-{id} is still bound");
    }
    let erp: BTreeMap<String, usize> =
        erp_orders_by_import_id(&world.sandbox).into_iter().map(|(k, v)| (k, v.len())).collect();
    assert!(old.iter().all(|id| erp.get(&format!("SC-{id}")) == Some(&1)));

    // Idempotent.
    let (again, _) = followups(&world).await;
    assert_eq!(again["purge"]["purged"], 0);
    assert!(find_stored(&world.aws, &old_values).await.is_empty());
    world.shutdown().await;
}

//! End-to-end properties of the shape (issue 11): an order that can never be mapped is that
//! order's recorded failure after one attempt (never the DLQ), and one order keeps one correlation
//! id on every connector-log entry from the pull to the tracking push.

use std::time::Duration;

use orderbridge::connectors::bigcommerce::BigCommerceOrderId;
use orderbridge::connectors::sellercloud::SellercloudOrderId;
use orderbridge::model::{ConnectionId, ImportKey};
use orderbridge::ports::{ClaimKey, ClaimStatus, LogEntry, LogResult};
use orderbridge_harness::drive::{drain_shipments, settle_orders};
use orderbridge_harness::report::{erp_orders_by_import_id, log_since};
use orderbridge_harness::world::{set_setting, World, WorldConfig};
use orderbridge_sandbox::acumatica::ConfirmShipment;
use orderbridge_sandbox::{SandboxConfig, WindowLimit};
use serde_json::json;

async fn small_world(prefix: &str, seed: u64) -> World {
    let mut config = SandboxConfig {
        seed,
        sellercloud_orders: 12,
        bigcommerce_orders: 12,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix(prefix), config);
    world_config.tweak_connections = Some(|c| set_setting(c, "sellercloud", "max_age_days", 60.into()));
    world_config.queue_timing = Some((2, 8));
    World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"))
}

fn log_of(entries: &[LogEntry], entity_part: &str) -> Vec<LogEntry> {
    entries.iter().filter(|e| e.entity_id.split([',', ' ']).any(|p| p == entity_part)).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_that_can_never_be_mapped_fails_once_by_name_and_never_reaches_the_dlq() {
    let started = chrono::Utc::now();
    let world = small_world("e2e-unmappable", 41).await;
    // A BigCommerce order whose currency is no ISO code: the channel answers it the same way on
    // every read, so no retry can ever map it.
    let broken = {
        let mut state = world.sandbox.state().bigcommerce();
        let order = state.orders.values_mut().find(|o| o.status_id == 11).expect("a new BigCommerce order");
        order.gen.currency = "DOLLARS";
        order.id
    };

    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(report.settled, "did not settle: {report:?}");

    let connection = ConnectionId::parse("bc-store").unwrap();
    let key = ImportKey::new(connection.clone(), BigCommerceOrderId::new(broken).unwrap().channel_order_id());
    // The claim: failed after exactly one attempt, with the reason.
    let record = world.app.import.ledger.claim_record(&ClaimKey::import(&key)).await.unwrap().expect("a claim");
    assert_eq!(record.status, ClaimStatus::Failed, "{record:?}");
    assert_eq!(record.attempts, 1, "one attempt, no retries: {record:?}");
    let reason = record.failure.clone().unwrap_or_default();
    assert!(reason.contains("DOLLARS"), "the reason names the bad value: {reason}");

    // The connector log: one import_order entry, a failure naming the value, no retry entries.
    let entries = log_since(world.app.log(), std::slice::from_ref(&connection), started).await;
    let imports: Vec<&LogEntry> =
        entries.iter().filter(|e| e.action == "import_order" && e.entity_id == key.import_id()).collect();
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert_eq!(imports[0].result, LogResult::Failure);
    assert!(imports[0].notes.contains("DOLLARS"), "{}", imports[0].notes);

    // The channel: the import-error status and the reason where people see it.
    {
        let state = world.sandbox.state().bigcommerce();
        let order = &state.orders[&broken];
        assert_eq!(order.status_id, 12, "import-error status");
        assert!(order.staff_notes.contains("DOLLARS"), "staff notes: {}", order.staff_notes);
    }
    // Nothing of it in the ERP, nothing in the DLQ; the other orders are imported.
    let erp = erp_orders_by_import_id(&world.sandbox);
    assert!(!erp.contains_key(&key.import_id()));
    assert!(erp.len() >= 10, "the other orders are imported: {}", erp.len());
    let (visible, in_flight) = world.aws.queue_depth(&world.aws.resources.orders.dlq_url).await;
    assert_eq!((visible, in_flight), (0, 0), "orders DLQ");
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_order_carries_one_correlation_id_from_the_pull_to_the_tracking_push() {
    let started = chrono::Utc::now();
    let world = small_world("e2e-correlation", 43).await;
    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(report.settled, "did not settle: {report:?}");

    // Ship one imported Sellercloud order in the ERP; the push notification reaches status-push.
    let (import_id, erp) = erp_orders_by_import_id(&world.sandbox)
        .into_iter()
        .find(|(id, _)| id.starts_with("SC-"))
        .map(|(id, orders)| {
            let o = &orders[0];
            (
                id,
                (
                    o["OrderType"]["value"].as_str().unwrap().to_owned(),
                    o["OrderNbr"]["value"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .expect("an imported Sellercloud order");
    world.route_acumatica_pushes(Some(2));
    let request: ConfirmShipment = serde_json::from_value(json!({
        "OrderType": erp.0, "OrderNbr": erp.1, "Packages": [{"TrackingNbr": "1ZCORRELATION01"}]
    }))
    .unwrap();
    world.sandbox.state().acumatica_confirm_shipment(&request).unwrap_or_else(|e| panic!("confirm: {e}"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;

    let connection = ConnectionId::parse("sc-main").unwrap();
    let channel_id: i64 = import_id[3..].parse().unwrap();
    let key = ImportKey::new(connection.clone(), SellercloudOrderId::new(channel_id).unwrap().channel_order_id());
    let expected = key.correlation_id();
    let entries = log_of(&log_since(world.app.log(), &[connection], started).await, &import_id);
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for wanted in ["import_order", "acknowledge", "push_tracking"] {
        assert!(actions.contains(&wanted), "no {wanted} entry for {import_id}: {actions:?}");
    }
    for entry in &entries {
        let ids = entry.correlation_id.as_deref().unwrap_or_default();
        assert!(
            ids.split(',').any(|id| id == expected),
            "{} entry of {import_id} carries {ids:?}, not the order's {expected}",
            entry.action
        );
    }
    world.shutdown().await;
}

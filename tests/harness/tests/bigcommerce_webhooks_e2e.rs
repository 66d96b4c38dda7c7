//! BigCommerce order webhooks, end to end: the connection's hooks are registered as
//! `orderbridge-admin order-hooks` does; orders created in the store are announced through the
//! API Gateway stand-in to shipment-webhook, land on the orders queue and are imported by
//! order-import with no scheduled pull; an incomplete checkout is left alone until it is paid; a
//! forged delivery is refused; a hook BigCommerce disables (its deliveryException report, and
//! silently) is re-enabled with a connector-log entry. Needs the emulator (`make test` starts it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use orderbridge::ports::{HookAction, LogResult};
use orderbridge_harness::report::{erp_orders_by_import_id, log_since};
use orderbridge_harness::traffic::{empty_sandbox, Background};
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::seed::OrderOverrides;
use orderbridge_sandbox::Vendor;

/// Waits until `done` holds (checked every 50 ms) or `limit` passes; how long it took.
async fn until(limit: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn hook_active(world: &World, id: i64) -> bool {
    world.sandbox.state().bigcommerce().hooks[&id]["is_active"].as_bool().unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_orders_are_imported_within_seconds_and_disabled_hooks_come_back() {
    let config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("bchooks"), empty_sandbox(61));
    let world = Arc::new(World::start(config).await.unwrap_or_else(|e| panic!("{e}")));
    let changes = world.register_bigcommerce_hooks().await.unwrap();
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|c| c.action == HookAction::Created), "{changes:?}");
    assert!(world.register_bigcommerce_hooks().await.unwrap().iter().all(|c| c.action == HookAction::Unchanged));
    let log_from = chrono::Utc::now();

    // The SQS event source only: one pull at start (nothing to find), then none for an hour.
    let background = Background::start(&world, Duration::from_secs(3600), 2);
    let state = world.sandbox.state();
    // The start's pull is over well before this (its listings are not the webhook path's calls).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests_before = state.request_count(Vendor::Bigcommerce).total;
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..8 {
        let id = state.bigcommerce_create_orders(1, &OrderOverrides::default())[0];
        let key = format!("BC-{id}");
        let took = until(Duration::from_secs(30), || erp_orders_by_import_id(&world.sandbox).contains_key(&key)).await;
        latencies.push(took.unwrap_or_else(|| panic!("{key} was not imported within 30 s without a pull")));
        ids.push(id);
    }
    latencies.sort();
    let p95 = latencies[(latencies.len() * 95).div_ceil(100) - 1];
    println!("order created → ERP sales order by webhook: {latencies:?} (p95 {p95:?})");
    assert!(p95 <= Duration::from_secs(5), "webhook path p95 {p95:?} over 5 s");
    // Acknowledged in the store, each imported once.
    assert!(until(Duration::from_secs(10), || ids.iter().all(|id| state.bigcommerce().orders[id].status_id == 9))
        .await
        .is_some());
    let erp = erp_orders_by_import_id(&world.sandbox);
    assert!(ids.iter().all(|id| erp[&format!("BC-{id}")].len() == 1), "never a second ERP order");
    let calls = state.request_count(Vendor::Bigcommerce).total - requests_before;
    println!("BigCommerce calls per webhook order: {:.2}", calls as f64 / ids.len() as f64);
    assert!(calls <= 2 * ids.len() as u64 + 1, "{calls} calls for {} orders: one read and one PUT each", ids.len());

    // An incomplete checkout is announced too, and left alone until it is paid.
    let incomplete = state.bigcommerce_create_orders_in(1, &OrderOverrides::default(), 0)[0];
    let key = format!("BC-{incomplete}");
    let entries = || {
        let world = world.clone();
        async move { log_since(world.app.log(), &world.app.connections(), log_from).await }
    };
    let mut skipped = false;
    for _ in 0..100 {
        skipped = entries()
            .await
            .iter()
            .any(|e| e.entity_id.ends_with(&incomplete.to_string()) && e.notes.contains("not waiting for import"));
        if skipped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(skipped, "the incomplete order's announcement is recorded as not waiting");
    assert!(!erp_orders_by_import_id(&world.sandbox).contains_key(&key));
    state.bigcommerce_set_status(incomplete, 11).unwrap();
    assert!(
        until(Duration::from_secs(15), || erp_orders_by_import_id(&world.sandbox).contains_key(&key)).await.is_some(),
        "paid: announced by statusUpdated and imported"
    );

    // A delivery without the hook's secret is refused and enqueues nothing.
    let forged = reqwest::Client::new()
        .post(format!("{}/webhooks/orders/bc-store", world.gateway.base_url))
        .body(r#"{"scope":"store/order/created","hash":"f","data":{"type":"order","id":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);

    // BigCommerce gives up on a hook (retries exhausted): it disables it and reports
    // deliveryException 90002, which re-enables it at once.
    let created: i64 = changes[0].id.parse().unwrap();
    state.bigcommerce_hook_exhausted(created);
    assert!(
        until(Duration::from_secs(15), || hook_active(&world, created)).await.is_some(),
        "re-enabled on the report"
    );
    // The report's entry is written once the re-enabling answered: wait for it.
    let mut log = entries().await;
    for _ in 0..100 {
        if log.iter().any(|e| e.action == "hook_trouble") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = entries().await;
    }
    let trouble = log.iter().find(|e| e.action == "hook_trouble").expect("the report is in the connector log");
    assert_eq!(trouble.result, LogResult::Failure);
    assert!(
        trouble.notes.contains("90002") && trouble.notes.contains(&format!("re-enabled {created}")),
        "{}",
        trouble.notes
    );
    assert!(log.iter().any(|e| e.action == "reenable_hook" && e.result == LogResult::Success));
    background.stop().await;

    // Disabled silently (90 days without activity): the catch-up poll re-enables it.
    let status_updated: i64 = changes[1].id.parse().unwrap();
    state.bigcommerce().hooks.get_mut(&status_updated).unwrap()["is_active"] = serde_json::json!(false);
    let summary = world.status.run_catch_up().await;
    let check = summary.hooks.iter().find(|h| h.connection == "bc-store").expect("the poll checks the hooks");
    assert_eq!(check.reenabled, vec![format!("{status_updated} store/order/statusUpdated")]);
    assert!(hook_active(&world, status_updated));
    let second = world.status.run_catch_up().await;
    assert!(second.hooks.iter().all(|h| h.reenabled.is_empty() && h.error.is_none()), "{:?}", second.hooks);
}

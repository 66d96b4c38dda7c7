//! The operator's connection actions against the sandbox and the emulator: Test connection
//! succeeds for every configured connection and, with a wrong password, shows the vendor's own
//! refusal (never the password); Run now pulls one connection; a backfill of a window with five
//! Sellercloud orders, two of them bound, enqueues exactly the three others (driven by the
//! caller, and again through the orders queue's `backfill_page.v1` messages run by order-import),
//! and a window outside the data enqueues none.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use orderbridge::connectors::sellercloud::SellercloudOrderId;
use orderbridge::handlers::{deadline_from, App};
use orderbridge::model::{ConnectionId, ErpOrderRef};
use orderbridge::ops::connections::{BackfillDrive, ConnectionOps, ConnectionOpsSettings};
use orderbridge::ports::{BackfillStatus, Binding, BindingOrigin, LogResult};
use orderbridge_harness::aws::unique_prefix;
use orderbridge_harness::world::{set_setting, World, WorldConfig};
use orderbridge_sandbox::seed::OrderOverrides;
use orderbridge_sandbox::sellercloud::ScOrderUpdate;
use orderbridge_sandbox::SandboxConfig;
use serde_json::json;

const WRONG_PASSWORD: &str = "not-the-password-7341";

fn ops(world: &World, connections: &orderbridge::connections::Connections) -> ConnectionOps {
    let settings =
        ConnectionOpsSettings { pull: world.settings.pull.clone(), pull_schedule: Some("rate(5 minutes)".into()) };
    ConnectionOps::build(&world.aws.sdk, &settings, connections).expect("the console's connection actions build")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_run_and_backfill_connections_as_an_operator() {
    let sandbox = SandboxConfig {
        seed: 41,
        sellercloud_orders: 3,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let world = World::start(WorldConfig::demo(&unique_prefix("connections-e2e"), sandbox)).await.expect("world");
    let ops = ops(&world, &world.connections);
    let sc = ConnectionId::parse("sc-main").unwrap();

    // Test connection: every connection answers.
    let tests = ops.test_all("e2e:ana").await;
    let names: Vec<&str> = tests.iter().map(|t| t.connection.as_str()).collect();
    assert_eq!(names, ["sc-main", "bc-store", "mg-store", "acumatica", "shipstation"], "{tests:?}");
    for t in &tests {
        assert!(t.ok, "{t:?}");
        assert!(t.status.is_none() && t.vendor_message.is_none(), "{t:?}");
    }

    // With wrong passwords: the vendor's refusal in its own words, and no password anywhere.
    let mut wrong = world.connections.clone();
    set_setting(&mut wrong, "sellercloud", "password", WRONG_PASSWORD.into());
    wrong.acumatica.password = WRONG_PASSWORD.to_owned().into();
    let refused = ops_with(&world, &wrong);
    let sc_test = refused.test_connection("sc-main", "e2e:ana").await.unwrap();
    assert!(!sc_test.ok);
    assert_eq!(sc_test.status, Some(401), "{sc_test:?}");
    assert_eq!(sc_test.vendor_message.as_deref(), Some("The user name or password is incorrect."));
    let erp_test = refused.test_connection("acumatica", "e2e:ana").await.unwrap();
    assert_eq!((erp_test.ok, erp_test.status), (false, Some(401)), "{erp_test:?}");
    assert_eq!(erp_test.vendor_message.as_deref(), Some("Invalid credentials. Please try again."));
    for t in [&sc_test, &erp_test] {
        assert!(!format!("{t:?}").contains(WRONG_PASSWORD), "{t:?}");
    }
    let now = Utc::now();
    let logged = world.app.log().entries_between(&sc, now - chrono::Duration::hours(1), now, 100).await.unwrap();
    let tested: Vec<_> = logged.iter().filter(|e| e.action == "test_connection").collect();
    assert_eq!(tested.len(), 2, "{logged:?}");
    assert_eq!(tested[1].result, LogResult::Failure);
    assert!(tested[1].notes.contains("e2e:ana") && tested[1].notes.contains("incorrect"), "{}", tested[1].notes);
    assert!(!tested[1].notes.contains(WRONG_PASSWORD));

    // Run now: the new orders of sc-main are listed and enqueued, and the run is logged.
    let report = ops.run_pull("sc-main", "e2e:ana", deadline_from(Duration::from_secs(60))).await.unwrap();
    assert!(report.finished && report.pages >= 1, "{report:?}");
    assert_eq!(report.enqueued, report.listed, "{report:?}");
    let logged = world.app.log().entries_between(&sc, now - chrono::Duration::hours(1), Utc::now(), 100).await.unwrap();
    assert!(logged.iter().any(|e| e.action == "run_pull" && e.notes.contains("e2e:ana")), "{logged:?}");

    // Backfill: five orders created on 2 March (exported already, so no pull lists them), two
    // of them bound.
    let state = world.sandbox.state();
    let ids = state.sellercloud_create_orders(5, &OrderOverrides::default());
    for (i, id) in ids.iter().enumerate() {
        let update = ScOrderUpdate {
            created_on: Some(format!("2026-03-02T1{i}:00:00+00:00")),
            status: Some(json!("InProcess")),
            exported: Some(true),
            ..ScOrderUpdate::default()
        };
        state.sellercloud_update_order(*id, &update).expect("update order");
    }
    for id in &ids[..2] {
        let order = SellercloudOrderId::new(*id).unwrap().channel_order_id();
        let binding = Binding {
            connection: sc.clone(),
            channel_order_id: order,
            display_number: id.to_string(),
            erp: ErpOrderRef::parse(&format!("SO/SO{id}")).unwrap(),
            created_at: Utc::now(),
            origin: BindingOrigin::Channel,
            digest: None,
        };
        world.app.pull.ledger.bind(&binding).await.unwrap();
    }
    let (waiting_before, _) = world.aws.queue_depth(&world.aws.resources.orders.url).await;
    let from = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
    let pages = std::sync::Mutex::new(Vec::new());
    let job = ops
        .run_backfill("sc-main", from, to, "e2e:ana", &|j| pages.lock().unwrap().push((j.pages, j.enqueued)))
        .await
        .unwrap();
    assert_eq!(job.status, BackfillStatus::Done, "{job:?}");
    assert_eq!((job.listed, job.enqueued, job.already_bound, job.already_queued), (5, 3, 2, 0), "{job:?}");
    assert!(job.pages >= 1);
    assert_eq!(pages.lock().unwrap().first(), Some(&(0, 0)), "progress is reported from the start");
    assert_eq!(ops.backfill_job(&job.id).await.unwrap(), job, "the progress is in the state table");
    let (waiting, _) = world.aws.queue_depth(&world.aws.resources.orders.url).await;
    assert_eq!(waiting, waiting_before + 3);

    // A window outside the data enqueues none.
    let empty = ops
        .run_backfill(
            "sc-main",
            from - chrono::Duration::days(30),
            from - chrono::Duration::days(20),
            "e2e:ana",
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!((empty.status, empty.listed, empty.enqueued), (BackfillStatus::Done, 0, 0), "{empty:?}");

    // Through the queue: order-import runs the pages; the three are queued already (not twice).
    let queued = ops.start_backfill("sc-main", from, to, "e2e:ana", BackfillDrive::Queue).await.unwrap();
    let started = Instant::now();
    let finished = loop {
        let event = world.aws.receive_event(&world.aws.resources.orders, 1).await;
        if !event.records.is_empty() {
            let response =
                world.app.run_import_batch(event.clone(), deadline_from(Duration::from_secs(50)), "e2e").await;
            world.aws.delete_succeeded(&world.aws.resources.orders, &event, &response).await;
        }
        let now = ops.backfill_job(&queued.id).await.unwrap();
        if now.status != BackfillStatus::Running {
            break now;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the queued backfill did not finish: {now:?}");
    };
    assert_eq!(finished.status, BackfillStatus::Done, "{finished:?}");
    // The imports run in the same loop may have bound some of the three by the time the page ran.
    assert_eq!(finished.listed, 5, "{finished:?}");
    assert!(finished.already_bound >= 2, "{finished:?}");
    assert_eq!(finished.already_bound + finished.enqueued + finished.already_queued, 5, "{finished:?}");
    let logged =
        world.app.log().entries_between(&sc, now - chrono::Duration::hours(1), Utc::now(), 1000).await.unwrap();
    let backfills: Vec<_> = logged.iter().filter(|e| e.action == "backfill").collect();
    assert!(backfills.iter().all(|e| e.notes.contains("e2e:ana")), "{backfills:?}");
    assert!(backfills.iter().any(|e| e.notes.contains("3 enqueued")), "{backfills:?}");
    world.shutdown().await;
}

fn ops_with(world: &World, connections: &orderbridge::connections::Connections) -> ConnectionOps {
    ops(world, connections)
}

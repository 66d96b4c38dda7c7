//! Shipments and statuses back, end to end: orders imported through the real handlers, shipments
//! confirmed in the Acumatica sandbox (several packages, a partial shipment), push notifications
//! delivered three times each through the local API gateway into shipment-webhook, status-push
//! draining the shipments queue; and the same with webhooks off, through the catch-up poll.
//! Needs the emulator (`make test` starts it).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use orderbridge::connections::Connections;
use orderbridge::flows::format_log_line;
use orderbridge::model::ConnectionId;
use orderbridge_harness::drive::{drain_shipments, settle_orders};
use orderbridge_harness::report::{confirm_one_box, erp_orders_by_import_id, log_since};
use orderbridge_harness::world::{set_setting, World, WorldConfig};
use orderbridge_sandbox::acumatica::ConfirmShipment;
use orderbridge_sandbox::{FaultKind, FaultSpec, SandboxConfig, ScriptedFault, Vendor, WindowLimit};
use serde_json::{json, Value};

fn wide_windows(connections: &mut Connections) {
    set_setting(connections, "sellercloud", "max_age_days", 60.into());
}

async fn imported_world(prefix: &str, seed: u64) -> World {
    let mut config = SandboxConfig {
        seed,
        sellercloud_orders: 30,
        bigcommerce_orders: 30,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix(prefix), config);
    world_config.tweak_connections = Some(wide_windows);
    world_config.queue_timing = Some((2, 8));
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(report.settled, "orders did not settle: {report:?}");
    world
}

/// An imported order with at least two lines: (Import ID, ERP "type/nbr", ERP line numbers).
fn multi_line_orders(world: &World, prefix: &str) -> Vec<(String, String, Vec<i64>)> {
    erp_orders_by_import_id(&world.sandbox)
        .into_iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .filter_map(|(id, orders)| {
            let order = orders.into_iter().next()?;
            let nbr = format!("{}/{}", order["OrderType"]["value"].as_str()?, order["OrderNbr"]["value"].as_str()?);
            let lines: Vec<i64> =
                order["Details"].as_array()?.iter().filter_map(|l| l["LineNbr"]["value"].as_i64()).collect();
            (lines.len() >= 2).then_some((id, nbr, lines))
        })
        .collect()
}

/// Confirms a shipment of the order `type/nbr` named in the request's `Order`.
fn confirm(world: &World, mut request: Value) {
    let order = request["Order"].as_str().unwrap_or_default().to_owned();
    let (order_type, order_nbr) = order.split_once('/').expect("type/nbr");
    request["OrderType"] = json!(order_type);
    request["OrderNbr"] = json!(order_nbr);
    let request: ConfirmShipment = serde_json::from_value(request).expect("confirm request");
    world.sandbox.state().acumatica_confirm_shipment(&request).unwrap_or_else(|e| panic!("confirm: {e}"));
}

/// What the scenario expects each channel order to end with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    bc_partial: (i64, Vec<String>),
    bc_two_boxes: (i64, Vec<String>),
    sc_held: (i64, Vec<String>),
    sc_two_boxes: (i64, Vec<String>),
    /// A label bought in ShipStation for a Sellercloud order.
    sc_via_shipstation: (i64, Vec<String>),
}

fn channel_id(import_id: &str) -> i64 {
    import_id[3..].parse().expect("numeric channel id")
}

/// Confirms the scenario's shipments; `tag` keeps tracking numbers unique per world.
fn ship_round_one(world: &World, tag: &str) -> (Plan, String) {
    let bc = multi_line_orders(world, "BC-");
    let sc = multi_line_orders(world, "SC-");
    assert!(bc.len() >= 2 && sc.len() >= 2, "the seed must give two multi-line orders per channel");
    let t = |n: u32| format!("1Z{tag}{n:04}");

    // BigCommerce: a partial shipment (first line only), and a two-box shipment, one line per box.
    let (bc1, bc1_nbr, bc1_lines) = &bc[0];
    confirm(
        world,
        json!({"Order": bc1_nbr, "Lines": [{"LineNbr": bc1_lines[0], "Qty": 1}],
               "Packages": [{"TrackingNbr": t(1)}]}),
    );
    let (bc2, bc2_nbr, bc2_lines) = &bc[1];
    let open = |nbr: &str, line: i64| open_qty(world, nbr, line);
    confirm(
        world,
        json!({"Order": bc2_nbr, "Packages": [
            {"TrackingNbr": t(2), "Contents": [{"LineNbr": bc2_lines[0], "Qty": open(bc2_nbr, bc2_lines[0])}]},
            {"TrackingNbr": t(3), "Contents": bc2_lines[1..].iter().map(|l| json!({"LineNbr": l, "Qty": open(bc2_nbr, *l)})).collect::<Vec<_>>()}
        ]}),
    );
    // Sellercloud: a partial shipment that must wait for the rest, and a two-box shipment.
    let (sc1, sc1_nbr, sc1_lines) = &sc[0];
    confirm(
        world,
        json!({"Order": sc1_nbr, "Lines": [{"LineNbr": sc1_lines[0], "Qty": open(sc1_nbr, sc1_lines[0])}],
               "Packages": [{"TrackingNbr": t(4)}]}),
    );
    let (sc2, sc2_nbr, _) = &sc[1];
    confirm(world, json!({"Order": sc2_nbr, "Packages": [{"TrackingNbr": t(6)}, {"TrackingNbr": t(7)}]}));
    // ShipStation: the store holding Sellercloud orders buys a label for a third order.
    let sc3 = &sc[2].0;
    label_in_shipstation(world, channel_id(sc3), &t(8));
    let plan = Plan {
        bc_partial: (channel_id(bc1), vec![t(1)]),
        bc_two_boxes: (channel_id(bc2), vec![t(2), t(3)]),
        sc_held: (channel_id(sc1), vec![t(4), t(5)]),
        sc_two_boxes: (channel_id(sc2), vec![t(6), t(7)]),
        sc_via_shipstation: (channel_id(sc3), vec![t(8)]),
    };
    (plan, sc1_nbr.clone())
}

/// The order arrives in the ShipStation store mapped to `sc-main` (as ShipStation's own
/// Sellercloud integration would put it there) and a label is bought: SHIP_NOTIFY fires.
fn label_in_shipstation(world: &World, sellercloud_id: i64, tracking: &str) {
    let state = world.sandbox.state();
    let store = state.config().shipstation_store_id;
    let body = json!({
        "orderNumber": sellercloud_id.to_string(), "orderKey": format!("sc-{sellercloud_id}"),
        "orderDate": "2026-11-20T10:00:00.0000000", "orderStatus": "awaiting_shipment",
        "advancedOptions": {"storeId": store},
        "shipTo": {"name": "Buyer", "street1": "1 Main St", "city": "Austin", "state": "TX", "postalCode": "78701", "country": "US"},
        "items": [{"sku": "ANY", "name": "Item", "quantity": 1, "unitPrice": 1.0}],
    });
    state.shipstation().upsert(&body, chrono::Utc::now()).expect("ShipStation order");
    let request: orderbridge_sandbox::shipstation::CreateShipments = serde_json::from_value(json!({
        "orderNumbers": [sellercloud_id.to_string()], "carrierCode": "ups", "serviceCode": "ups_ground",
        "trackingNumbers": [tracking],
    }))
    .expect("create shipments request");
    state.shipstation_create_shipments(&request).expect("label");
}

/// The rest of the held Sellercloud order ships.
fn ship_round_two(world: &World, sc_nbr: &str, tag: &str) {
    confirm(world, json!({"Order": sc_nbr, "Packages": [{"TrackingNbr": format!("1Z{tag}0005")}]}));
}

fn open_qty(world: &World, nbr: &str, line: i64) -> i64 {
    let state = world.sandbox.state();
    let acumatica = state.acumatica();
    let order = &acumatica.sales_orders[nbr];
    order["Details"]
        .as_array()
        .and_then(|d| d.iter().find(|l| l["LineNbr"]["value"].as_i64() == Some(line)))
        .and_then(|l| l["OpenQty"]["value"].as_f64())
        .map_or(0, |q| q as i64)
}

/// Tracking numbers on a BigCommerce order, one per shipment, with each shipment's item count.
fn bc_shipments(world: &World, id: i64) -> Vec<(String, usize)> {
    let state = world.sandbox.state();
    let bc = state.bigcommerce();
    bc.orders[&id]
        .shipments
        .iter()
        .map(|s| {
            (s["tracking_number"].as_str().unwrap_or_default().to_owned(), s["items"].as_array().map_or(0, Vec::len))
        })
        .collect()
}

/// (package tracking numbers, notes, status code, shipping status) of a Sellercloud order.
fn sc_state(world: &World, id: i64) -> (Vec<String>, Vec<String>, i64, i64) {
    let state = world.sandbox.state();
    let sc = state.sellercloud();
    let order = &sc.orders[&id];
    let notes = sc.notes.get(&id).map(|n| n.iter().map(|n| n.message.clone()).collect()).unwrap_or_default();
    (
        order.packages.iter().map(|p| p.tracking_number.clone()).collect(),
        notes,
        order.status_code,
        order.shipping_status,
    )
}

fn check(world: &World, plan: &Plan) -> Vec<String> {
    let mut problems = Vec::new();
    let (id, want) = &plan.bc_partial;
    let got = bc_shipments(world, *id);
    if got.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>() != *want {
        problems.push(format!("BC-{id}: shipments {got:?}, want tracking {want:?}"));
    }
    let status = world.sandbox.state().bigcommerce().orders[id].status_id;
    if status != 3 {
        problems.push(format!("BC-{id}: status {status}, want 3 (Partially Shipped, mapped from Back Order)"));
    }
    let (id, want) = &plan.bc_two_boxes;
    let got = bc_shipments(world, *id);
    let tracking: BTreeSet<String> = got.iter().map(|(t, _)| t.clone()).collect();
    if got.len() != 2 || tracking != want.iter().cloned().collect() || got.iter().any(|(_, items)| *items == 0) {
        problems.push(format!("BC-{id}: shipments {got:?}, want one per box {want:?}, each with its items"));
    }
    let status = world.sandbox.state().bigcommerce().orders[id].status_id;
    if status != 2 {
        problems.push(format!("BC-{id}: status {status}, want 2 (Shipped, mapped from Completed)"));
    }
    for (id, want) in [&plan.sc_held, &plan.sc_two_boxes] {
        let (packages, notes, status, shipping) = sc_state(world, *id);
        if packages.len() != 1 || !want.contains(&packages[0]) {
            problems.push(format!("SC-{id}: packages {packages:?}, want one of {want:?}"));
        }
        for t in want {
            if !notes.iter().any(|n| n.contains(t.as_str())) {
                problems.push(format!("SC-{id}: no note lists {t}: {notes:?}"));
            }
        }
        if status != 3 || shipping != 3 {
            problems.push(format!(
                "SC-{id}: status {status} / shipping {shipping}, want 3 (Completed) / 3 (fully shipped)"
            ));
        }
    }
    let (id, want) = &plan.sc_via_shipstation;
    let (packages, _, _, shipping) = sc_state(world, *id);
    if packages != *want || shipping != 3 {
        problems
            .push(format!("SC-{id}: packages {packages:?} / shipping {shipping}, want {want:?} / 3 from ShipStation"));
    }
    let duplicates = world.sandbox.state().duplicates(Vendor::Bigcommerce).remove("tracking_number");
    if let Some(duplicates) = duplicates {
        problems.push(format!("BigCommerce duplicate writes: {duplicates:?}"));
    }
    problems
}

/// Every connection the shipments write connector-log entries under (the channels, and the
/// routes and sources of shipments: the ERP, the shipping tool, generic webhooks).
fn logged_connections() -> Vec<ConnectionId> {
    ["sc-main", "bc-store", "acumatica", "shipstation", "generic"]
        .into_iter()
        .filter_map(|c| ConnectionId::parse(c).ok())
        .collect()
}

/// Fails with the problems and the connector log, which says what each push did and why.
async fn assert_no_problems(world: &World, what: &str, problems: &[String]) {
    if problems.is_empty() {
        return;
    }
    let connections = logged_connections();
    let since = chrono::Utc::now() - chrono::Duration::minutes(30);
    let log = log_since(world.status.log.as_ref(), &connections, since).await;
    let lines: Vec<String> = log
        .iter()
        .filter(|e| e.action != "import_order" && e.action != "pull_page" && e.action != "acknowledge")
        .map(format_log_line)
        .collect();
    panic!("{what}:\n  {}\nconnector log:\n{}", problems.join("\n  "), lines.join("\n"));
}

async fn wait_for_pushes(world: &World, want: usize) {
    let got = world.sandbox.state().wait_for_deliveries(Vendor::Acumatica, want, Duration::from_secs(20)).await;
    assert!(got.len() >= want, "only {} of {want} push deliveries arrived", got.len());
    assert!(got.iter().all(|d| d.delivered), "a push delivery was refused: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shipments_reach_the_right_channel_orders_once_by_webhook_and_by_the_catch_up_poll() {
    orderbridge::telemetry::init();
    let (by_webhook, by_poll) = tokio::join!(imported_world("e2e-ship-hook", 31), imported_world("e2e-ship-poll", 31));

    // Webhooks on: every push notification delivered three times.
    let world = &by_webhook;
    world.route_acumatica_pushes(Some(3));
    world.route_shipstation_notifications(Some(3));
    let started = Instant::now();
    let (plan, held_nbr) = ship_round_one(world, "W");
    // Four shipments and four order-status changes, each pushed three times; one SHIP_NOTIFY, too.
    wait_for_pushes(world, 24).await;
    let notified = world.sandbox.state().wait_for_deliveries(Vendor::Shipstation, 3, Duration::from_secs(20)).await;
    assert!(notified.len() >= 3 && notified.iter().all(|d| d.delivered), "{notified:?}");
    let report = drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(report.settled, "{report:?}");
    let latency = started.elapsed();
    // Each confirmed shipment travelled whole in its notification's rows: none was read back.
    let shipment_reads: u64 = world
        .sandbox
        .state()
        .route_counts(Vendor::Acumatica)
        .iter()
        .filter(|(route, _)| route.starts_with("GET ") && route.contains("/Shipment/"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(shipment_reads, 0, "a shipment was read although its notification carried it");
    // The Sellercloud order shipped in part is held: nothing on it yet.
    assert!(sc_state(world, plan.sc_held.0).0.is_empty(), "a partial shipment reached Sellercloud");
    ship_round_two(world, &held_nbr, "W");
    wait_for_pushes(world, 30).await;
    let report = drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(report.settled, "{report:?}");
    assert_no_problems(world, "by webhook", &check(world, &plan)).await;
    // An accepted delivery has no entry of its own: the entries of its work carry when it came;
    // each duplicate delivery has one (Skipped).
    let connections = logged_connections();
    let log =
        log_since(world.status.log.as_ref(), &connections, chrono::Utc::now() - chrono::Duration::minutes(30)).await;
    let pushes: Vec<_> = log.iter().filter(|e| e.action == "push_tracking").collect();
    assert!(!pushes.is_empty());
    assert!(
        pushes.iter().all(|e| e.queued_at.is_some_and(|q| q <= e.started_at)),
        "a push entry lacks the time its delivery was enqueued: {:?}",
        pushes.iter().find(|e| e.queued_at.is_none()).map(|e| format_log_line(e))
    );
    let intake: Vec<_> = log.iter().filter(|e| e.action == "intake").collect();
    assert!(
        intake.iter().all(|e| e.result != orderbridge::ports::LogResult::Success),
        "accepted deliveries are logged by their work: {:?}",
        intake.iter().map(|e| format_log_line(e)).collect::<Vec<_>>()
    );
    let duplicates = intake.iter().filter(|e| e.notes.contains("Duplicate delivery")).count();
    assert!(
        duplicates >= 10,
        "each of the ten notifications was delivered three times: {duplicates} duplicates logged"
    );
    // A delivery whose work fails before writing any entry (the ERP answers 500 to the read of
    // the shipment's sales order; the shipment itself travels in its notification's rows) still
    // shows in the log: an intake entry saying it will be retried.
    let spare = erp_orders_by_import_id(&world.sandbox)
        .into_keys()
        .find(|id| confirm_one_box(&world.sandbox, id).is_some())
        .expect("an imported order left to ship");
    world.sandbox.state().set_faults(
        Vendor::Acumatica,
        FaultSpec {
            script: [ScriptedFault {
                kind: FaultKind::InternalError,
                method: Some("GET".into()),
                path_contains: Some("/SalesOrder/".into()),
                times: 1000,
            }]
            .into(),
            ..FaultSpec::default()
        },
    );
    wait_for_pushes(world, 33).await;
    drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(5)).await;
    world.sandbox.state().set_faults(Vendor::Acumatica, FaultSpec::default());
    let log =
        log_since(world.status.log.as_ref(), &connections, chrono::Utc::now() - chrono::Duration::minutes(30)).await;
    assert!(
        log.iter().any(|e| e.action == "intake" && e.result == orderbridge::ports::LogResult::Retry),
        "the failed delivery for {spare} left no entry"
    );
    let calls = world.gateway.calls();
    assert!(calls.iter().all(|c| c.status == 200), "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.path == "/webhooks/shipstation").count(), 3);
    let mut times: Vec<Duration> = calls.iter().map(|c| c.handler_time).collect();
    times.sort();
    println!(
        "webhook handler: {} requests, median {:?}, p95 {:?}, max {:?}; first round shipment-to-channel {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 95 / 100],
        times[times.len() - 1],
        latency
    );

    // Webhooks off: the same shipments reach the channels through the catch-up poll.
    let world = &by_poll;
    world.route_acumatica_pushes(None);
    world.route_shipstation_notifications(None);
    let (plan_poll, held_nbr) = ship_round_one(world, "P");
    let summary = world.status.run_catch_up().await;
    assert!(summary.sources.iter().all(|s| s.error.is_none()), "{summary:?}");
    drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(sc_state(world, plan_poll.sc_held.0).0.is_empty(), "a partial shipment reached Sellercloud");
    ship_round_two(world, &held_nbr, "P");
    let summary = world.status.run_catch_up().await;
    assert!(summary.sources.iter().all(|s| s.error.is_none()), "{summary:?}");
    println!("second poll: {summary:?}");
    drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;
    assert_no_problems(world, "by poll", &check(world, &plan_poll)).await;
    // Same orders, same shapes (tracking differs only by its W/P tag).
    let untag = |p: &Plan| format!("{p:?}").replace("1ZW", "1Z").replace("1ZP", "1Z");
    assert_eq!(untag(&plan), untag(&plan_poll));
    // A poll finding nothing new enqueues nothing.
    let again = world.status.run_catch_up().await;
    let enqueued: u32 = again.sources.iter().filter_map(|s| s.report.as_ref()).map(|r| r.enqueued).sum();
    assert_eq!(enqueued, 0, "{again:?}");

    for world in [&by_webhook, &by_poll] {
        let (visible, in_flight) = world.aws.queue_depth(&world.aws.resources.shipments.dlq_url).await;
        assert_eq!(visible + in_flight, 0, "nothing may end in the shipments DLQ");
    }
    by_webhook.shutdown().await;
    by_poll.shutdown().await;
}

/// (what, URL, headers, body, the status it must get).
type RefusalCase<'a> = (&'a str, String, Vec<(&'a str, String)>, Vec<u8>, u16);

/// Posts to the local gateway; returns the status code.
async fn post(client: &reqwest::Client, url: String, headers: &[(&str, String)], body: Vec<u8>) -> u16 {
    let mut request = client.post(url).body(body).header("content-type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    request.send().await.expect("gateway reachable").status().as_u16()
}

/// Standard Webhooks headers for `body`, signed with `key` at `timestamp`.
fn signed(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", orderbridge_sandbox::webhook::standard_webhooks_signature(key, id, timestamp, body)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_webhooks_enqueue_nothing_and_a_delivery_sent_three_times_pushes_once() {
    let world = imported_world("e2e-hooks", 37).await;
    let client = reqwest::Client::new();
    let base = world.gateway.base_url.clone();
    let secrets = world.secrets.clone();
    let now = chrono::Utc::now().timestamp();
    let ship_notify = |url: &str| json!({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).to_string().into_bytes();
    let good_generic =
        json!({"type": "order.status_changed", "data": {"erp_order": {"order_type": "SO", "order_nbr": "SO000001"}}})
            .to_string()
            .into_bytes();
    let acumatica_auth = vec![(secrets.acumatica_header.as_str(), secrets.acumatica_secret.clone())];
    let cases: Vec<RefusalCase> = vec![
        (
            "forged signature",
            format!("{base}/webhooks/generic"),
            signed(b"not-the-secret-key", "msg_forged", now, &good_generic),
            good_generic.clone(),
            401,
        ),
        (
            "wrong token",
            format!("{base}/webhooks/shipstation?token=guessed-token-123456"),
            vec![],
            ship_notify("https://ssapi.shipstation.com/shipments?batchId=1"),
            401,
        ),
        (
            "stale timestamp",
            format!("{base}/webhooks/generic"),
            signed(&secrets.generic_key, "msg_stale", now - 600, &good_generic),
            good_generic.clone(),
            401,
        ),
        (
            "body over the limit",
            format!("{base}/webhooks/shipstation?token={}", secrets.shipstation_token),
            vec![],
            vec![b' '; 70_000],
            413,
        ),
        (
            "malformed JSON",
            format!("{base}/webhooks/acumatica"),
            acumatica_auth.clone(),
            b"{\"Inserted\": [".to_vec(),
            400,
        ),
        (
            "resource_url on a foreign host",
            format!("{base}/webhooks/shipstation?token={}", secrets.shipstation_token),
            vec![],
            ship_notify("https://169.254.169.254/latest/meta-data?batchId=1"),
            400,
        ),
        ("missing Acumatica header", format!("{base}/webhooks/acumatica"), vec![], b"{}".to_vec(), 401),
    ];
    for (what, url, headers, body, want) in cases {
        let got = post(&client, url, &headers, body).await;
        assert_eq!(got, want, "{what}");
    }
    assert_eq!(world.aws.queue_depth(&world.aws.resources.shipments.url).await, (0, 0), "refusals enqueue nothing");

    // A signed generic shipment for an imported BigCommerce order, delivered three times.
    let (bc_id, erp, sku) = {
        let erp_orders = erp_orders_by_import_id(&world.sandbox);
        let state = world.sandbox.state();
        let bc = state.bigcommerce();
        let order = bc
            .orders
            .values()
            .find(|o| erp_orders.contains_key(&format!("BC-{}", o.id)))
            .expect("an imported BC order");
        let erp = &erp_orders[&format!("BC-{}", order.id)][0];
        let erp = json!({"order_type": erp["OrderType"]["value"], "order_nbr": erp["OrderNbr"]["value"]});
        (order.id, erp, order.products[0].sku.clone())
    };
    let body = json!({"type": "shipment.shipped", "data": {"erp_order": erp, "shipment": {
        "source": {"system": "acumatica", "id": "900001"}, "ship_date": "2026-11-20", "confirmed_at": null,
        "completes_order": false,
        "packages": [{"package_id": "1", "tracking": {"number": "1ZGENERIC01", "carrier": "UPS", "service": "Ground", "url": null},
                      "items": [{"item_id": sku, "erp_line_nbr": null, "quantity": "1"}]}]
    }}})
    .to_string()
    .into_bytes();
    let headers = signed(&secrets.generic_key, "msg_2f9c1e", now, &body);
    for _ in 0..3 {
        assert_eq!(post(&client, format!("{base}/webhooks/generic"), &headers, body.clone()).await, 200);
    }
    let (visible, _) = world.aws.queue_depth(&world.aws.resources.shipments.url).await;
    assert_eq!(visible, 1, "three deliveries of one webhook enqueue one message");
    let report = drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(60)).await;
    assert!(report.settled, "{report:?}");
    let shipments = bc_shipments(&world, bc_id);
    assert_eq!(shipments.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), vec!["1ZGENERIC01"], "{shipments:?}");

    let mut times: Vec<Duration> = world.gateway.calls().iter().map(|c| c.handler_time).collect();
    times.sort();
    println!(
        "webhook handler over {} requests (refusals included): median {:?}, max {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    world.shutdown().await;
}

/// A ShipmentsForSync push of `n` shipments confirmed in one transaction (each row as an Open →
/// Confirmed pair), as Acumatica sends it: no documented row limit.
fn mass_confirm_push(n: usize, id: &str) -> Vec<u8> {
    let row = |i: usize, status: &str| {
        json!({"ShipmentNbr": format!("{:06}", 900_000 + i), "Status": status, "OrderType": "SO",
               "OrderNbr": format!("SO{:06}", 900_000 + i), "TrackingNbr": format!("1Z999AA1{i:010}")})
    };
    json!({
        "Inserted": (0..n).map(|i| row(i, "Confirmed")).collect::<Vec<_>>(),
        "Deleted": (0..n).map(|i| row(i, "Open")).collect::<Vec<_>>(),
        "Query": "ShipmentsForSync", "CompanyId": "MyTenant", "Id": id,
        "TimeStamp": 638501234567890123_i64, "AdditionalInfo": {}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_of_thousands_of_rows_is_accepted_through_the_gateway_and_enqueued_once_in_parts() {
    let config = SandboxConfig {
        seed: 41,
        sellercloud_orders: 0,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("e2e-bigpush"), config);
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/acumatica", world.gateway.base_url);
    let auth = vec![(world.secrets.acumatica_header.as_str(), world.secrets.acumatica_secret.clone())];
    // 5,000 shipments: about 1 MB, far over the 64 KiB the other routes take.
    let body = mass_confirm_push(5000, "0f1e2d3c-0000-0000-0000-000000005000");
    assert!(body.len() > 16 * 64 * 1024, "{}", body.len());
    for _ in 0..2 {
        assert_eq!(post(&client, url.clone(), &auth, body.clone()).await, 200);
    }
    let (visible, _) = world.aws.queue_depth(&world.aws.resources.shipments.url).await;
    // 25 names per message (status-push reads each; one message must finish within an invocation):
    // 200 messages, and the redelivery enqueues none.
    assert_eq!(visible, 200, "5,000 shipment numbers in messages of 25; the redelivery is a duplicate");
    world.shutdown().await;
}

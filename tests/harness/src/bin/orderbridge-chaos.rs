//! `make chaos`: N orders and their shipments through the real handlers, the local emulator and
//! the vendor sandbox with faults on (5xx, 429, commit-then-fail on every vendor), invocations
//! killed before create / bind / complete / acknowledge / push-complete, short visibility
//! timeouts and claim leases, shipments both confirmed in Acumatica and bought as ShipStation
//! labels, Magento storefront orders imported and Acumatica's stock written to the store (a few
//! items adjusted mid-run, their availability pushes delivered three times), every webhook
//! delivered three times and a few poison messages; then a DLQ redrive of
//! everything that is not poison and an accounting. Exits non-zero if anything is lost, unexpected or duplicated, a total is off by a
//! cent, or a DLQ holds anything but the poison.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::FutureExt;
use orderbridge::aws::schema::QueueUrls;
use orderbridge::handlers::{deadline_from, PullSummary};
use orderbridge_harness::aws::{unique_prefix, LocalAws};
use orderbridge_harness::chaos::{
    as_import_invocation, new_channel_orders, new_storefront_orders, Accounting, DlqEntry, KillSwitch, KillingLedger,
    KillingSink, KillingSource,
};
use orderbridge_harness::report::{
    erp_orders_by_import_id, magento_acknowledgements, push_magento_substitutions, stock_check,
};
use orderbridge_harness::world::{rate_limit, set_setting, World, WorldConfig};
use orderbridge_sandbox::acumatica::{ConfirmShipment, EnterLine, EnterOrder};
use orderbridge_sandbox::shipstation::CreateShipments;
use orderbridge_sandbox::{FaultSpec, SandboxConfig, Vendor, WindowLimit};
use rust_decimal::Decimal;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "orderbridge-chaos", about = "Prove exactly-once under injected faults")]
struct Args {
    /// Orders seeded (70 % Sellercloud, 30 % BigCommerce).
    #[arg(long, default_value_t = 10_000)]
    orders: usize,
    /// Storefront orders seeded in Magento besides (default: one per 10 channel orders, at least
    /// 10); those in `processing` (about 60 %) are imported.
    #[arg(long)]
    magento_orders: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of invocations killed at each kill point.
    #[arg(long, default_value_t = 0.02)]
    kill_rate: f64,
    /// Give up after this many seconds (what is not done by then counts as lost). 10,000 seeded
    /// orders (about 6,100 new, with about 600 storefront orders) take well under an hour on
    /// 2 cores (README, "make chaos").
    #[arg(long, default_value_t = 3 * 3600)]
    limit_secs: u64,
    /// Orders entered in Acumatica for the Magento storefront (default: one per 20 channel
    /// orders, at least 4). Half are paid at once; the rest wait unpaid and are paid later.
    #[arg(long)]
    erp_orders: Option<usize>,
    /// Invocations of each queue's consumer running at once (the event source's maximum
    /// concurrency). Faults, not quotas, are under test here, so more than production's default
    /// of 2: more claims race, and a batch waiting out a 429 does not idle the run.
    #[arg(long, default_value_t = 8)]
    consumers: usize,
}

/// Enters `n` sales orders in the Acumatica sandbox as a user would (the walkthrough customer,
/// one or two lines, Ship Via LOCAL or UPSGROUND): (ERP number as Magento shows it, type, number,
/// total).
fn enter_erp_orders(world: &World, n: usize) -> Result<Vec<(String, String, String, Decimal)>, String> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut lines = vec![EnterLine::new("WATER2809", Decimal::from(1 + i % 3))];
        if i % 2 == 1 {
            lines.push(EnterLine::new("WATER2809", Decimal::ONE));
        }
        let order = EnterOrder {
            customer_id: "AACUSTOMER".into(),
            ship_via: Some(if i % 2 == 0 { "LOCAL" } else { "UPSGROUND" }.into()),
            freight: (i % 2 == 1).then(|| Decimal::new(595, 2)),
            lines,
            ..EnterOrder::default()
        };
        let so = world.sandbox.state().acumatica_enter_order(&order)?;
        let t = so["OrderType"]["value"].as_str().unwrap_or_default().to_owned();
        let nbr = so["OrderNbr"]["value"].as_str().unwrap_or_default().to_owned();
        out.push((format!("{t}/{nbr}"), t, nbr, decimal(&so["OrderTotal"])));
    }
    Ok(out)
}

/// A handler deadline short enough that a killed invocation's claims free themselves soon.
const DEADLINE: Duration = Duration::from_secs(10);
/// The handlers' lease slack in this run (production: 30 s). Nothing here outlives its deadline by
/// more than a vendor call, and the kills are panics that stop at once.
const LEASE_SLACK: Duration = Duration::from_secs(2);
/// How long a killed invocation's claims stay held at most. A handler given `deadline_from(DEADLINE)`
/// leases its claims for the time left plus the deadline margin plus the slack, and the margin
/// `deadline_from` took off comes back: DEADLINE + LEASE_SLACK from the invocation's start.
const LEASE: Duration = Duration::from_secs(DEADLINE.as_secs() + LEASE_SLACK.as_secs());
/// Every this-many-th imported Sellercloud order ships by a ShipStation label (20 %) instead of an
/// Acumatica confirmation.
const SHIPSTATION_EVERY: usize = 5;
/// ShipStation labels bought in one batch (one SHIP_NOTIFY names the whole batch).
const SHIPSTATION_BATCH: usize = 5;
const POISON_ORDERS: usize = 2;
const POISON_SHIPMENTS: usize = 1;

/// Every vendor: 3 % 500, 2 % 503, 5 % 429 and 2 % commit-then-fail on writes. An injected 429 is a
/// momentary spike (another app spent the account's budget) whose reset hint is 250 ms: the client
/// pauses every caller of that vendor until the reset, as it must, and with the sandbox's default
/// hint of a second a 5 % rate kept each vendor paused most of the run (the 2,000-order import
/// spent 70 % of its Sellercloud and BigCommerce time in those pauses, not in the faults).
fn faults() -> FaultSpec {
    FaultSpec {
        p500: 0.03,
        p503: 0.02,
        p429: 0.05,
        p_commit_then_fail: 0.02,
        jitter_ms: 2,
        throttle_reset_ms: 250,
        ..FaultSpec::default()
    }
}

#[derive(Clone, Copy)]
enum Which {
    Orders,
    Shipments,
}

/// Drains one queue like the event source: `consumers` invocations at once, each taking batches of
/// ten as soon as it is free (a slow batch, e.g. one waiting out a 429's Retry-After, does not
/// hold the others); a killed invocation deletes nothing. Returns (batches, killed).
async fn drain(world: &World, which: Which, limit: Instant, consumers: usize) -> (u32, u32) {
    let queue: &QueueUrls = match which {
        Which::Orders => &world.aws.resources.orders,
        Which::Shipments => &world.aws.resources.shipments,
    };
    let (batches, killed) = (AtomicU32::new(0), AtomicU32::new(0));
    let worker = |i: usize| {
        let (batches, killed) = (&batches, &killed);
        async move {
            loop {
                if Instant::now() > limit {
                    return;
                }
                let event = world.aws.receive_event(queue, 0).await;
                if event.records.is_empty() {
                    let (visible, in_flight) = world.aws.queue_depth(&queue.url).await;
                    if visible == 0 && in_flight == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                let request_id = format!("chaos-{}-{i}", uuid::Uuid::new_v4());
                let run = async {
                    match which {
                        Which::Orders => {
                            as_import_invocation(world.app.run_import_batch(
                                event.clone(),
                                deadline_from(DEADLINE),
                                &request_id,
                            ))
                            .await
                        }
                        Which::Shipments => {
                            world.status.run_batch(event.clone(), deadline_from(DEADLINE), &request_id).await
                        }
                    }
                };
                batches.fetch_add(1, Ordering::Relaxed);
                match AssertUnwindSafe(run).catch_unwind().await {
                    Ok(response) => {
                        world.aws.delete_succeeded(queue, &event, &response).await;
                    }
                    Err(_) => {
                        killed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    };
    futures::future::join_all((0..consumers.max(1)).map(worker)).await;
    (batches.into_inner(), killed.into_inner())
}

/// Up to ten DLQ messages, invisible for one second only: what stays (the poison) is visible
/// again for the accounting.
async fn peek_dlq(
    aws: &LocalAws,
    queue: &QueueUrls,
) -> Option<aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput> {
    aws.sqs
        .receive_message()
        .queue_url(&queue.dlq_url)
        .max_number_of_messages(10)
        .visibility_timeout(1)
        .send()
        .await
        .ok()
}

/// The envelope kind of a message body; `None` for poison.
fn message_kind(body: &str) -> Option<Value> {
    serde_json::from_str::<Value>(body).ok().and_then(|v| v.get("kind").cloned())
}

/// Moves every message of a DLQ that is a readable envelope back to its queue; returns how many.
async fn redrive(aws: &LocalAws, queue: &QueueUrls) -> usize {
    let mut moved = 0;
    loop {
        let Some(out) = peek_dlq(aws, queue).await else { return moved };
        let mut readable = 0;
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            if message_kind(body).is_none() {
                continue; // poison stays (it becomes visible again after the DLQ's timeout)
            }
            readable += 1;
            if aws.sqs.send_message().queue_url(&queue.url).message_body(body).send().await.is_ok() {
                if let Some(handle) = m.receipt_handle() {
                    let _ = aws.sqs.delete_message().queue_url(&queue.dlq_url).receipt_handle(handle).send().await;
                }
                moved += 1;
            }
        }
        if readable == 0 {
            return moved;
        }
    }
}

/// What a DLQ holds (every message, with what it is), read without consuming it.
async fn dlq_contents(aws: &LocalAws, queue: &QueueUrls, name: &str) -> Vec<DlqEntry> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (visible, in_flight) = aws.queue_depth(&queue.dlq_url).await;
    let mut out = Vec::new();
    let Some(got) = peek_dlq(aws, queue).await else { return out };
    for m in got.messages() {
        let body = m.body().unwrap_or_default();
        out.push(match message_kind(body) {
            Some(kind) => DlqEntry { poison: false, what: format!("{name} DLQ: {kind} message (not poison)") },
            None => DlqEntry {
                poison: true,
                what: format!("{name} DLQ: poison {:?}", body.chars().take(40).collect::<String>()),
            },
        });
    }
    // Messages not returned by the one receive still count.
    let total = usize::try_from(visible + in_flight).unwrap_or(usize::MAX);
    while out.len() < total {
        out.push(DlqEntry { poison: false, what: format!("{name} DLQ: message not read (counted by the queue)") });
    }
    out
}

/// Puts Sellercloud orders into the ShipStation store mapped to `sc-main` (as ShipStation's own
/// Sellercloud integration would) and buys one label each in a single batch, which fires one
/// SHIP_NOTIFY. Returns (Import ID, tracking number) per label.
fn labels_in_shipstation(
    world: &World,
    sellercloud_ids: &[i64],
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error + Send + Sync>> {
    let state = world.sandbox.state();
    let store = state.config().shipstation_store_id;
    let now = chrono::Utc::now();
    for id in sellercloud_ids {
        let body = json!({
            "orderNumber": id.to_string(), "orderKey": format!("sc-{id}"),
            "orderDate": now.format("%Y-%m-%dT%H:%M:%S%.6f0").to_string(), "orderStatus": "awaiting_shipment",
            "advancedOptions": {"storeId": store},
            "shipTo": {"name": "Buyer", "street1": "1 Main St", "city": "Austin", "state": "TX",
                       "postalCode": "78701", "country": "US"},
            "items": [{"sku": "ANY", "name": "Item", "quantity": 1, "unitPrice": 1.0}],
        });
        state.shipstation().upsert(&body, now)?;
    }
    let request = CreateShipments {
        order_numbers: sellercloud_ids.iter().map(ToString::to_string).collect(),
        carrier_code: Some("ups".into()),
        service_code: Some("ups_ground".into()),
        ..CreateShipments::default()
    };
    let (_batch, shipments) = state.shipstation_create_shipments(&request)?;
    Ok(shipments
        .iter()
        .filter_map(|s| {
            let number = s["orderNumber"].as_str()?;
            let tracking = s["trackingNumber"].as_str()?;
            Some((format!("SC-{number}"), tracking.to_owned()))
        })
        .collect())
}

fn decimal(v: &Value) -> Decimal {
    bare_decimal(&v["value"])
}

/// A JSON number or numeric string (Magento's amounts are bare, Acumatica's wrapped in `value`).
fn bare_decimal(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if std::env::var_os("RUST_LOG").is_none() {
        // The accounting reports outcomes; the injected poison would fill the screen with errors.
        std::env::set_var("RUST_LOG", "off");
    }
    orderbridge::telemetry::init();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Injected kills are expected; anything else is reported as usual.
        let injected = info.payload().downcast_ref::<String>().is_some_and(|m| m.starts_with("chaos: "));
        if !injected {
            default_hook(info);
        }
    }));
    let args = Args::parse();
    let started = Instant::now();
    let limit = started + Duration::from_secs(args.limit_secs);

    let mut sandbox = SandboxConfig {
        seed: args.seed,
        sellercloud_orders: args.orders * 7 / 10,
        bigcommerce_orders: args.orders - args.orders * 7 / 10,
        magento_orders: args.magento_orders.unwrap_or_else(|| (args.orders / 10).max(10)),
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    for vendor in [Vendor::Acumatica, Vendor::Sellercloud, Vendor::Bigcommerce, Vendor::Shipstation, Vendor::Magento] {
        sandbox.faults.set(vendor, faults());
    }
    // Faults, not quotas, are under test here (`make bench` measures the quotas).
    sandbox.limits.acumatica_per_minute = WindowLimit::new(100_000, Duration::from_secs(60));
    sandbox.limits.bigcommerce = WindowLimit::new(100_000, Duration::from_secs(30));
    sandbox.limits.shipstation = WindowLimit::new(100_000, Duration::from_secs(60));
    // Sellercloud's 10,800 requests an hour would end a 10,000-order run in a pause until the hour
    // turns (its 429 says when the window resets, and the client waits that long).
    sandbox.limits.sellercloud = WindowLimit::new(1_000_000, Duration::from_secs(3600));
    // A sign-in whose reply is lost (commit-then-fail) leaves a session holding an API-user slot
    // for 20 minutes; over a long run they would fill a small licence. That is a quota too, and
    // `acumatica_licence_full_of_api_users_is_retryable_and_says_so` covers what happens then.
    sandbox.limits.acumatica_max_api_users = 1_000;
    let mut config = WorldConfig::demo(&unique_prefix("orderbridge-chaos"), sandbox);
    // Redeliveries every 3 s and the DLQ after 6 receives: the poison leaves the queues in about
    // 20 s instead of holding each drain open for minutes, and an order that a kill's lease and
    // the faults keep failing six times lands in the DLQ, so the redrive below has real work.
    config.queue_timing = Some((3, 6));
    config.tweak_connections = Some(|c| {
        set_setting(c, "sellercloud", "max_age_days", 60.into());
        set_setting(c, "sellercloud", "rate_limit", rate_limit(100_000, 60));
        set_setting(c, "bigcommerce", "rate_limit", rate_limit(100_000, 30));
        set_setting(c, "magento", "rate_limit", rate_limit(100_000, 60));
        if let Some(shipstation) = &mut c.shipstation {
            shipstation.settings.rate_limit = orderbridge::http::RateBudget::new(100_000, 60);
        }
        // Profit & loss passes are capped per run (20 Sellercloud calls, 40 ERP writes) so they
        // never crowd imports out of the licence; at 10,000 orders that is over a hundred passes,
        // so the run raises the caps as it raises the quotas above.
        for connection in c.connections.iter_mut().filter(|c| c.kind == "sellercloud") {
            if let Some(toml::Value::Table(pl)) = connection.settings.get_mut("profit_and_loss") {
                pl.insert("max_calls_per_run".into(), 400.into());
                pl.insert("max_writes_per_run".into(), 5_000.into());
            }
        }
    });
    let mut world = World::start(config).await?;
    // The items Acumatica knows under another ID than the storefront's SKU, substituted in the
    // mg-store mapping, so every processing storefront order can import.
    push_magento_substitutions(&world).await?;
    let switch = KillSwitch::new(args.kill_rate, args.seed);
    world.app.pull.ledger = Arc::new(KillingLedger { inner: world.app.pull.ledger.clone(), switch: switch.clone() });
    world.app.import.ledger =
        Arc::new(KillingLedger { inner: world.app.import.ledger.clone(), switch: switch.clone() });
    world.app.import.sink = Arc::new(KillingSink { inner: world.app.import.sink.clone(), switch: switch.clone() });
    for channel in world.app.pull.channels.values_mut().chain(world.app.import.channels.values_mut()) {
        channel.source = Arc::new(KillingSource { inner: channel.source.clone(), switch: switch.clone() });
    }
    world.status.ledger = Arc::new(KillingLedger { inner: world.status.ledger.clone(), switch: switch.clone() });
    world.app.import.lease_slack = LEASE_SLACK;
    world.status.lease_slack = LEASE_SLACK;
    world.status.station = orderbridge_harness::world::station_export(&world);
    world.route_acumatica_pushes(Some(3));
    world.route_shipstation_notifications(Some(3));

    let mut expected = new_channel_orders(&world.sandbox);
    let storefront = new_storefront_orders(&world.sandbox);
    // Storefront orders there before the run: any other Magento order must be an ERP order.
    let seeded_in_magento: std::collections::BTreeSet<i64> =
        world.sandbox.state().magento().orders.keys().copied().collect();
    println!(
        "Chaos: {} new channel orders and {} Magento storefront orders, kill rate {} per point, faults {:?}",
        expected.len(),
        storefront.len(),
        args.kill_rate,
        faults()
    );
    for (queue, n) in [(&world.aws.resources.orders, POISON_ORDERS), (&world.aws.resources.shipments, POISON_SHIPMENTS)]
    {
        for i in 0..n {
            world
                .aws
                .sqs
                .send_message()
                .queue_url(&queue.url)
                .message_body(format!("poison {i}: not an envelope"))
                .send()
                .await?;
        }
    }

    // Orders in. Orders that kills and faults pushed into the DLQ come back in the redrive rounds
    // below, so three idle rounds in a row (longer than a killed invocation's lease) end this phase.
    let mut idle_rounds = 0;
    loop {
        let summary = PullSummary::from(world.app.run_pull(deadline_from(Duration::from_secs(120))).await);
        let enqueued: u32 = summary.connections.iter().filter_map(|c| c.report.as_ref()).map(|r| r.enqueued).sum();
        let (batches, killed) = drain(&world, Which::Orders, limit, args.consumers).await;
        let imported = erp_orders_by_import_id(&world.sandbox).len();
        println!(
            "  {:>6.0} s: pull enqueued {enqueued}, order-import ran {batches} batches ({killed} killed), \
             {imported} orders in the ERP",
            started.elapsed().as_secs_f64()
        );
        idle_rounds = if enqueued == 0 && batches == 0 { idle_rounds + 1 } else { 0 };
        if (imported >= expected.len() + storefront.len() && enqueued == 0)
            || idle_rounds >= 3
            || Instant::now() > limit
        {
            break;
        }
        if enqueued == 0 {
            // Killed imports hold their claims until the lease ends.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }

    // Orders announced by BigCommerce's order webhooks: the hooks registered (retried: the store
    // fails like the rest), new orders created in the store and imported from their announcement
    // with no pull (faults and kills as everywhere); then one hook's retries run out, BigCommerce
    // disables it and reports it, and status-push must re-enable it. A pull at the end is the
    // catch-up for any announcement the faults cost.
    let webhook = webhook_orders(&world, (args.orders / 50).max(5), limit, args.consumers).await;
    println!(
        "  {:>6.0} s: BigCommerce webhooks: {} orders announced, {} imported before any pull",
        started.elapsed().as_secs_f64(),
        webhook.orders.len(),
        webhook.without_pull
    );
    expected.extend(webhook.orders.clone());

    // Stock: a few items both catalogues sell get a new on-hand in Acumatica; its availability
    // push notifications (three copies each) reach status-push with the shipments below.
    let adjusted = adjust_stock(&world, (args.orders / 50).max(5))?;
    println!(
        "  {:>6.0} s: {adjusted} items adjusted in Acumatica (availability pushes to the Magento store)",
        started.elapsed().as_secs_f64()
    );

    // ERP-originated orders for the Magento storefront: half paid at once (they qualify now), half
    // left unpaid (skipped) and paid after the shipments below; every push notification comes
    // three times, Magento and Acumatica fail and commit-then-fail like the others, and
    // status-push is killed at the same points (before the bind, before the complete).
    let erp_count = args.erp_orders.unwrap_or_else(|| args.orders.div_ceil(20).max(4));
    let erp_entered = enter_erp_orders(&world, erp_count)?;
    for (i, (_, t, n, total)) in erp_entered.iter().enumerate() {
        if i % 2 == 0 {
            world.sandbox.state().acumatica_apply_payment(t, n, *total)?;
        }
    }
    println!(
        "  {:>6.0} s: {} orders entered in Acumatica for Magento ({} paid now, the rest later)",
        started.elapsed().as_secs_f64(),
        erp_entered.len(),
        erp_entered.len().div_ceil(2)
    );

    // Shipments back: one box per order, confirmed in the ERP, or for every fifth Sellercloud
    // order a label bought in ShipStation.
    let mut shipped: Vec<(String, String)> = Vec::new();
    let mut via_shipstation: Vec<i64> = Vec::new();
    let mut sellercloud_seen = 0;
    for (import_id, orders) in erp_orders_by_import_id(&world.sandbox) {
        if let Some(id) = import_id.strip_prefix("SC-").and_then(|i| i.parse::<i64>().ok()) {
            sellercloud_seen += 1;
            if sellercloud_seen % SHIPSTATION_EVERY == 0 {
                via_shipstation.push(id);
                continue;
            }
        }
        let Some(order) = orders.first() else { continue };
        let (Some(t), Some(n)) = (order["OrderType"]["value"].as_str(), order["OrderNbr"]["value"].as_str()) else {
            continue;
        };
        let request: ConfirmShipment = serde_json::from_value(serde_json::json!({"OrderType": t, "OrderNbr": n}))?;
        if let Ok(shipment) = world.sandbox.state().acumatica_confirm_shipment(&request) {
            let tracking = shipment["Packages"][0]["TrackingNbr"]["value"].as_str().unwrap_or_default().to_owned();
            shipped.push((import_id, tracking));
        }
    }
    let confirmed = shipped.len();
    let mut label_batches = 0;
    for batch in via_shipstation.chunks(SHIPSTATION_BATCH) {
        shipped.extend(labels_in_shipstation(&world, batch)?);
        label_batches += 1;
    }
    let sandbox = world.sandbox.state();
    // Each confirmation pushes its shipment and its order's status, each delivered 3 times.
    let pushed = sandbox.wait_for_deliveries(Vendor::Acumatica, confirmed * 6, Duration::from_secs(120)).await.len();
    let notified =
        sandbox.wait_for_deliveries(Vendor::Shipstation, label_batches * 3, Duration::from_secs(120)).await.len();
    println!(
        "  {:>6.0} s: {confirmed} shipments confirmed in Acumatica ({pushed} push deliveries), {} labels in \
         {label_batches} ShipStation batches ({notified} SHIP_NOTIFY deliveries)",
        started.elapsed().as_secs_f64(),
        shipped.len() - confirmed,
    );
    let (batches, killed) = drain(&world, Which::Shipments, limit, args.consumers).await;
    println!("  {:>6.0} s: status-push ran {batches} batches ({killed} killed)", started.elapsed().as_secs_f64());
    let delivered = world.sandbox.state().deliveries(Vendor::Acumatica).len();
    for (i, (_, t, n, total)) in erp_entered.iter().enumerate() {
        if i % 2 == 1 {
            world.sandbox.state().acumatica_apply_payment(t, n, *total)?;
        }
    }
    // Let the payments' notifications (three copies each) reach the queue.
    let paid_later = erp_entered.len() / 2;
    world
        .sandbox
        .state()
        .wait_for_deliveries(Vendor::Acumatica, delivered + paid_later * 3, Duration::from_secs(30))
        .await;
    let (batches, killed) = drain(&world, Which::Shipments, limit, args.consumers).await;
    println!(
        "  {:>6.0} s: the waiting ERP orders paid; status-push ran {batches} batches ({killed} killed)",
        started.elapsed().as_secs_f64()
    );

    // ShipStation as the shipping station: Open shipments of ERP orders exported on Acumatica's
    // notifications (three copies each, kills before the export record), then a label bought for
    // each (SHIP_NOTIFY three times) written back onto the ERP shipment.
    let exports = export_shipments(&world, (args.orders / 30).max(5))?;
    let delivered = world.sandbox.state().deliveries(Vendor::Acumatica).len();
    world
        .sandbox
        .state()
        .wait_for_deliveries(Vendor::Acumatica, delivered.min(exports.len() * 3), Duration::from_secs(30))
        .await;
    let (batches, killed) = drain(&world, Which::Shipments, limit, args.consumers).await;
    let notified = world.sandbox.state().deliveries(Vendor::Shipstation).len();
    let label_request = orderbridge_sandbox::shipstation::CreateShipments {
        order_numbers: exports.iter().map(|(nbr, _)| nbr.clone()).collect(),
        tracking_numbers: exports.iter().map(|(_, tracking)| tracking.clone()).collect(),
        ..Default::default()
    };
    // Orders not exported yet (a fault or a kill held them) get their label after the redrive.
    let labelled = world.sandbox.state().shipstation_create_shipments(&label_request).is_ok();
    world.sandbox.state().wait_for_deliveries(Vendor::Shipstation, notified + 3, Duration::from_secs(30)).await;
    let (label_batches, label_killed) = drain(&world, Which::Shipments, limit, args.consumers).await;
    println!(
        "  {:>6.0} s: {} ERP shipments for ShipStation; status-push ran {batches} batches ({killed} killed), labels {} and {label_batches} batches ({label_killed} killed)",
        started.elapsed().as_secs_f64(),
        exports.len(),
        if labelled { "bought" } else { "deferred" },
    );

    // Customer-service notes: an ERP user writes a note on some imported Sellercloud orders (no
    // push notification carries a note); the catch-up polls of the redrive rounds below find the
    // new order versions and status-push copies each note once as a Customer Service Note.
    let notes = write_erp_notes(&world, (args.orders / 100).max(3));
    println!(
        "  {:>6.0} s: {} notes written on ERP orders of Sellercloud orders",
        started.elapsed().as_secs_f64(),
        notes.len()
    );

    // Full drain: no more kills, leases run out, everything readable in the DLQs goes back.
    switch.disarm();
    for round in 1..=3 {
        tokio::time::sleep(LEASE).await;
        let moved = redrive(&world.aws, &world.aws.resources.orders).await
            + redrive(&world.aws, &world.aws.resources.shipments).await;
        let step = Instant::now();
        let _ = world.app.run_pull(deadline_from(Duration::from_secs(120))).await;
        let pull = step.elapsed();
        drain(&world, Which::Orders, limit, args.consumers).await;
        let orders = step.elapsed() - pull;
        let _ = world.status.run_catch_up().await;
        let poll = step.elapsed() - pull - orders;
        drain(&world, Which::Shipments, limit, args.consumers).await;
        let shipments = step.elapsed() - pull - orders - poll;
        println!(
            "  {:>6.0} s: redrive round {round}: {moved} messages back from the DLQs (pull {:.0} s, orders {:.0} s, \
             catch-up poll {:.0} s, shipments {:.0} s)",
            started.elapsed().as_secs_f64(),
            pull.as_secs_f64(),
            orders.as_secs_f64(),
            poll.as_secs_f64(),
            shipments.as_secs_f64()
        );
        if moved == 0 && round > 1 {
            break;
        }
    }

    // Labels deferred because an export was still missing: bought now, after the redrive.
    if !labelled {
        let label_request = orderbridge_sandbox::shipstation::CreateShipments {
            order_numbers: exports.iter().map(|(nbr, _)| nbr.clone()).collect(),
            tracking_numbers: exports.iter().map(|(_, tracking)| tracking.clone()).collect(),
            ..Default::default()
        };
        world.sandbox.state().shipstation_create_shipments(&label_request)?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        drain(&world, Which::Shipments, limit, args.consumers).await;
    }
    let _ = world.status.run_catch_up().await;
    drain(&world, Which::Shipments, limit, args.consumers).await;

    // Follow-ups: the P&L charges of every imported Sellercloud order reach its ERP order's fields
    // (passes under the same faults, each capped, until nothing differs or 40 passes).
    let fields = orderbridge_harness::followups::charge_fields(&world.connections);
    let mut charge_passes = 0;
    let mut charges_wrong = orderbridge_harness::followups::charge_mismatches(&world.sandbox, &fields);
    while !fields.is_empty() && charge_passes < 40 {
        charge_passes += 1;
        let _ = world.status.run_followups(std::time::Instant::now() + std::time::Duration::from_secs(600)).await;
        charges_wrong = orderbridge_harness::followups::charge_mismatches(&world.sandbox, &fields);
        if charges_wrong.is_empty() {
            break;
        }
    }
    println!(
        "  {:>6.0} s: follow-ups: {charge_passes} passes, {} orders' charges differ",
        started.elapsed().as_secs_f64(),
        charges_wrong.len()
    );

    // Stock: after everything above moved Acumatica's availability (imports allocate, confirmed
    // shipments issue), catch-up polls under the same faults until Magento holds Acumatica's
    // available quantity for every item both sell, or 20 polls.
    let mut stock_passes = 0;
    // (Checked first: the redrive rounds' catch-up polls ran already, and each poll costs minutes
    // at 10,000 orders.)
    let mut stock = stock_check(&world.sandbox, "default");
    while !stock.differing.is_empty() && stock_passes < 20 {
        stock_passes += 1;
        let _ = world.status.run_catch_up().await;
        drain(&world, Which::Shipments, limit, args.consumers).await;
        stock = stock_check(&world.sandbox, "default");
    }
    println!(
        "  {:>6.0} s: stock: {stock_passes} catch-up polls, {} items differ",
        started.elapsed().as_secs_f64(),
        stock.differing.len()
    );

    // Accounting.
    let state = world.sandbox.state();
    let erp = erp_orders_by_import_id(&world.sandbox);
    let hook_active =
        |id: i64| state.bigcommerce().hooks.get(&id).is_some_and(|h| h["is_active"].as_bool().unwrap_or(false));
    let mut a = Accounting {
        webhook_orders: webhook.orders.len(),
        webhook_imported_without_pull: webhook.without_pull,
        webhook_hook_disabled: webhook.disabled.is_some(),
        webhook_hook_reenabled: webhook.disabled.is_some_and(hook_active),
        seen: expected.len(),
        shipped: shipped.len(),
        shipped_via_shipstation: shipped.len() - confirmed,
        poison_injected: POISON_ORDERS + POISON_SHIPMENTS,
        kills: switch.kills(),
        charges_checked: orderbridge_harness::followups::erp_charges(&world.sandbox).len(),
        export_expected: exports.len(),
        charges_wrong,
        charge_passes,
        storefront_seen: storefront.len(),
        stock_compared: stock.compared,
        stock_differing: stock.differing,
        stock_not_sold: stock.not_sold,
        stock_adjusted: adjusted,
        stock_writes: state.magento_stock_writes().len(),
        stock_passes,
        ..Accounting::default()
    };
    for (import_id, total) in &expected {
        match erp.get(import_id) {
            None => a.lost.push(import_id.clone()),
            Some(orders) => {
                a.created += 1;
                if orders.len() > 1 {
                    a.erp_duplicates.push(format!("{import_id} ×{}", orders.len()));
                }
                let got = decimal(&orders[0]["OrderTotal"]);
                if got != *total {
                    a.wrong_totals.push(format!("{import_id}: {got} != {total}"));
                }
            }
        }
        let acknowledged = if let Some(id) = import_id.strip_prefix("SC-").and_then(|i| i.parse::<i64>().ok()) {
            state.sellercloud().orders.get(&id).is_some_and(|o| o.is_exported)
        } else if let Some(id) = import_id.strip_prefix("BC-").and_then(|i| i.parse::<i64>().ok()) {
            state.bigcommerce().orders.get(&id).is_some_and(|o| o.status_id != 11 && o.status_id != 12)
        } else {
            false
        };
        a.acknowledged += usize::from(acknowledged);
    }
    a.unexpected = erp.keys().filter(|k| !k.starts_with("MG-") && !expected.contains_key(*k)).cloned().collect();
    for (import_id, total) in &storefront {
        let Some(orders) = erp.get(import_id) else {
            a.storefront_lost.push(import_id.clone());
            continue;
        };
        a.storefront_created += 1;
        if orders.len() > 1 {
            a.storefront_duplicates.push(format!("{import_id} ×{}", orders.len()));
        }
        let got = decimal(&orders[0]["OrderTotal"]);
        if got != *total {
            a.storefront_wrong_totals.push(format!("{import_id}: {got} != {total}"));
        }
        let nbr = orders[0]["OrderNbr"]["value"].as_str().unwrap_or_default();
        let entity: i64 = import_id[3..].parse().unwrap_or_default();
        let order = state.magento().orders.get(&entity).cloned().unwrap_or_default();
        // A comment whose reply was lost may be posted again: at least one names the ERP order.
        a.storefront_acknowledged += usize::from(magento_acknowledgements(&order).iter().any(|c| c.contains(nbr)));
    }
    a.storefront_unexpected =
        erp.keys().filter(|k| k.starts_with("MG-") && !storefront.contains_key(*k)).cloned().collect();
    for (import_id, tracking) in &shipped {
        let on_channel = if let Some(id) = import_id.strip_prefix("SC-").and_then(|i| i.parse::<i64>().ok()) {
            state
                .sellercloud()
                .orders
                .get(&id)
                .is_some_and(|o| o.packages.iter().any(|p| p.tracking_number == *tracking))
        } else if let Some(id) = import_id.strip_prefix("BC-").and_then(|i| i.parse::<i64>().ok()) {
            state
                .bigcommerce()
                .orders
                .get(&id)
                .is_some_and(|o| o.shipments.iter().any(|s| s["tracking_number"].as_str() == Some(tracking)))
        } else if let Some(id) = import_id.strip_prefix("MG-").and_then(|i| i.parse::<i64>().ok()) {
            let on_order = magento_tracks_of(state, id).iter().filter(|t| *t == tracking).count();
            if on_order > 1 {
                a.tracking_duplicates.push(format!("Magento {tracking} ×{on_order}"));
            }
            on_order > 0
        } else {
            false
        };
        if on_channel {
            a.tracking_on_channel += 1;
        } else {
            a.tracking_missing.push(format!("{import_id} {tracking}"));
        }
    }
    for vendor in [Vendor::Sellercloud, Vendor::Bigcommerce] {
        for (tracking, n) in state.duplicates(vendor).get("tracking_number").cloned().unwrap_or_default() {
            a.tracking_duplicates.push(format!("{} {tracking} ×{n}", vendor.name()));
        }
    }
    a.notes_written = notes.len();
    let written: std::collections::BTreeMap<i64, &str> = notes.iter().map(|(id, n)| (*id, n.as_str())).collect();
    for (id, order_notes) in &state.sellercloud().notes {
        let service: Vec<&str> =
            order_notes.iter().filter(|n| n.category == CUSTOMER_SERVICE_NOTE).map(|n| n.message.as_str()).collect();
        match written.get(id) {
            Some(note) => match service.iter().filter(|m| *m == note).count() {
                0 => a.notes_lost.push(format!("SC-{id}")),
                1 => a.notes_once += 1,
                n => a.notes_duplicates.push(format!("SC-{id} ×{n}")),
            },
            None if !service.is_empty() => a.notes_unexpected.push(format!("SC-{id}: {}", service.join(" | "))),
            None => {}
        }
    }
    for id in written.keys().filter(|id| !state.sellercloud().notes.contains_key(id)) {
        a.notes_lost.push(format!("SC-{id}"));
    }
    a.erp_origin_entered = erp_entered.len();
    for (number, _, _, total) in &erp_entered {
        let in_magento: Vec<Value> = state
            .magento()
            .orders
            .values()
            .filter(|o| o["ext_order_id"].as_str() == Some(number.as_str()))
            .cloned()
            .collect();
        match in_magento.len() {
            0 => a.erp_origin_lost.push(number.clone()),
            1 => a.erp_origin_created += 1,
            n => a.erp_origin_duplicates.push(format!("{number} ×{n}")),
        }
        if let Some(first) = in_magento.first() {
            let got = bare_decimal(&first["grand_total"]);
            if got != *total {
                a.erp_origin_wrong_totals.push(format!("{number}: {got} != {total}"));
            }
        }
    }
    a.erp_origin_unexpected = state
        .magento()
        .orders
        .iter()
        .filter(|(id, _)| !seeded_in_magento.contains(*id))
        .map(|(_, o)| o)
        .filter(|o| !erp_entered.iter().any(|(number, ..)| o["ext_order_id"].as_str() == Some(number.as_str())))
        .map(|o| format!("Magento order {} ({})", o["increment_id"], o["ext_order_id"]))
        .collect();
    for (nbr, tracking) in &exports {
        let key = format!("AC-{nbr}");
        let in_station =
            state.shipstation().orders.values().filter(|o| o.json["orderKey"].as_str() == Some(&key)).count();
        match in_station {
            0 => a.export_lost.push(key.clone()),
            1 => a.export_created += 1,
            n => a.export_duplicates.push(format!("{key} ×{n}")),
        }
        let back = state.acumatica().shipment(nbr).is_some_and(|s| {
            s["Status"]["value"] == "Confirmed"
                && s["Packages"].as_array().is_some_and(|p| {
                    p.iter().filter(|p| p["TrackingNbr"]["value"].as_str() == Some(tracking.as_str())).count() == 1
                })
        });
        if back {
            a.labels_back += 1;
        } else {
            a.labels_missing.push(format!("{nbr} {tracking}"));
        }
    }
    a.dlq = dlq_contents(&world.aws, &world.aws.resources.orders, "orders").await;
    a.dlq.extend(dlq_contents(&world.aws, &world.aws.resources.shipments, "shipments").await);

    println!();
    println!("Accounting after {:.0} s:", started.elapsed().as_secs_f64());
    a.print();
    for vendor in [Vendor::Acumatica, Vendor::Sellercloud, Vendor::Bigcommerce, Vendor::Shipstation, Vendor::Magento] {
        let c = world.sandbox.state().request_count(vendor);
        println!(
            "  {:<12} {:>7} requests, {:>5} answered 429 (5xx and commit-then-fail not counted here)",
            vendor.name(),
            c.total,
            c.throttled
        );
    }
    let ok = a.ok();
    println!("  verdict: {}", if ok { "exactly once, money exact" } else { "FAILED" });
    world.shutdown().await;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// What the webhook phase did.
struct WebhookPhase {
    /// Import ID → total of the orders created for it.
    orders: std::collections::BTreeMap<String, Decimal>,
    without_pull: usize,
    /// The hook BigCommerce disabled (its retries exhausted), when registration succeeded.
    disabled: Option<i64>,
}

async fn webhook_orders(world: &World, n: usize, limit: Instant, consumers: usize) -> WebhookPhase {
    let mut hooks = None;
    for _ in 0..10 {
        match world.register_bigcommerce_hooks().await {
            Ok(changes) => {
                hooks = Some(changes);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let before: std::collections::BTreeSet<String> = new_channel_orders(&world.sandbox).into_keys().collect();
    let ids = world.sandbox.state().bigcommerce_create_orders(n, &Default::default());
    let orders: std::collections::BTreeMap<String, Decimal> = new_channel_orders(&world.sandbox)
        .into_iter()
        .filter(|(k, _)| !before.contains(k) && ids.iter().any(|id| *k == format!("BC-{id}")))
        .collect();
    let mut without_pull = 0;
    // The announcements arrive within a second; each drain round imports what they enqueued.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        drain(world, Which::Orders, limit, consumers).await;
        let erp = erp_orders_by_import_id(&world.sandbox);
        without_pull = orders.keys().filter(|k| erp.contains_key(*k)).count();
        if without_pull == orders.len() {
            break;
        }
    }
    let _ = world.app.run_pull(deadline_from(Duration::from_secs(120))).await;
    drain(world, Which::Orders, limit, consumers).await;
    let disabled = hooks.and_then(|h| h.first().and_then(|c| c.id.parse::<i64>().ok()));
    if let Some(id) = disabled {
        world.sandbox.state().bigcommerce_hook_exhausted(id);
    }
    WebhookPhase { orders, without_pull, disabled }
}

/// `n` sales orders entered in the ERP, each with an Open shipment for ShipStation to label; the
/// shipment numbers with the tracking number their label will get.
/// Sellercloud's category of a Customer Service Note (where ERP notes go).
const CUSTOMER_SERVICE_NOTE: i64 = 2;

/// Writes a distinct note on the ERP orders of `n` imported Sellercloud orders (spread over all of
/// them); returns (Sellercloud order id, note).
fn write_erp_notes(world: &World, n: usize) -> Vec<(i64, String)> {
    let imported: Vec<(i64, String)> = erp_orders_by_import_id(&world.sandbox)
        .into_iter()
        .filter_map(|(id, orders)| {
            let sc: i64 = id.strip_prefix("SC-")?.parse().ok()?;
            Some((sc, orders.first()?["OrderNbr"]["value"].as_str()?.to_owned()))
        })
        .collect();
    let step = (imported.len() / n.max(1)).max(1);
    imported
        .iter()
        .step_by(step)
        .take(n)
        .filter_map(|(sc, nbr)| {
            let note = format!("Customer called about {nbr}: leave the parcel with the neighbour at no. {sc}.");
            world.sandbox.state().acumatica_set_order_note(nbr, &note).ok().map(|()| (*sc, note))
        })
        .collect()
}

fn export_shipments(world: &World, n: usize) -> Result<Vec<(String, String)>, String> {
    use orderbridge_sandbox::acumatica::{CreateShipment, EnterLine, EnterOrder};
    let mut out = Vec::new();
    for i in 0..n {
        let order = EnterOrder {
            customer_id: "AACUSTOMER".into(),
            ship_via: Some("UPSGROUND".into()),
            lines: vec![EnterLine::new("WATER2809", Decimal::from(1 + i as i64 % 3))],
            ..EnterOrder::default()
        };
        let so = world.sandbox.state().acumatica_enter_order(&order)?;
        let nbr = so["OrderNbr"]["value"].as_str().unwrap_or_default().to_owned();
        let shipment = world.sandbox.state().acumatica_create_shipment(&CreateShipment::for_order(&nbr))?;
        let shipment_nbr = shipment["ShipmentNbr"]["value"].as_str().unwrap_or_default().to_owned();
        out.push((shipment_nbr, format!("1ZEXP{:013}", i + 1)));
    }
    Ok(out)
}

/// Tracking numbers on the shipments of Magento order `entity_id`.
fn magento_tracks_of(state: &orderbridge_sandbox::SharedState, entity_id: i64) -> Vec<String> {
    state
        .magento()
        .shipments
        .values()
        .filter(|s| s["order_id"].as_i64() == Some(entity_id))
        .flat_map(|s| s["tracks"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["track_number"].as_str().map(str::to_owned))
        .collect()
}

/// Gives `n` items that both Acumatica and the Magento store hold a new on-hand in Acumatica's
/// `MAIN` warehouse (one adjustment, one availability push notification); returns how many.
fn adjust_stock(world: &World, n: usize) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let items: Vec<String> = {
        let state = world.sandbox.state();
        let mg = state.magento();
        let both: Vec<String> = state
            .seed_data()
            .products
            .iter()
            .filter(|p| p.erp_inventory_id == p.sku && mg.products.contains_key(&p.sku))
            .map(|p| p.sku.clone())
            .collect();
        let step = (both.len() / n.max(1)).max(1);
        both.into_iter().step_by(step).take(n).collect()
    };
    let rows: Vec<orderbridge_sandbox::acumatica::StockAdjustment> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            // Every fifth goes out of stock; the rest get a new level.
            let qty = if i % 5 == 4 { 0 } else { 60 + 7 * i as i64 };
            serde_json::from_value(json!({ "InventoryID": item, "WarehouseID": "MAIN", "QtyOnHand": qty }))
        })
        .collect::<Result<_, _>>()?;
    world.sandbox.state().acumatica_adjust_stock(&rows)?;
    Ok(rows.len())
}

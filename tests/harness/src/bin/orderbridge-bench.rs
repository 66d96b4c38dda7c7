//! `make bench`: measures what the README claims, on this machine, and prints a table with how
//! each figure was taken.
//!
//! 1. Order latency: orders appear in the channels one by one while the pull runs on its
//!    schedule (`--pull-interval-secs`) and order-import consumes the queue as the SQS event
//!    source would; latency = order created in the channel → sales order exists in the ERP.
//! 2. Shipment latency: each of those orders is shipped in the ERP; Acumatica's push goes through
//!    the API Gateway stand-in to shipment-webhook, status-push consumes the shipments queue;
//!    latency = shipment confirmed → tracking on the channel order.
//! 3. Throughput: a burst of orders against the vendors' documented rate limits (enforced by the
//!    sandbox): requests per second as a share of each budget, 429 share, calls per order.
//! 4. The release binaries of the four functions and a hello-world `lambda_runtime` binary, run
//!    as Lambda runs them (a local Runtime API): init time, invocation time, peak RSS over a batch
//!    of 10 invocations, size.
//! 5. A cost model per million orders at AWS list prices from the measured durations and the
//!    DynamoDB / SQS / API Gateway calls counted by a metering proxy in front of the emulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use clap::Parser;
use orderbridge::handlers::ACUMATICA_ROUTE;
use orderbridge_harness::aws::{unique_prefix, LocalAws};
use orderbridge_harness::bench::{
    cost_per_million, gb_seconds, ratio, service_total, show, template_functions, usage_between, writes_between,
    AwsMeter, AwsUsage, FunctionProcess, PerOrder, Prices, Spread, WriteUsage,
};
use orderbridge_harness::drive::settle_orders;
use orderbridge_harness::gateway::api_gateway_event;
use orderbridge_harness::report::{
    confirm_one_box, erp_order_numbers, erp_orders_by_import_id, log_since, tracking_on_channel,
};
use orderbridge_harness::traffic::{empty_sandbox, new_order, quiet_logs, Background};
use orderbridge_harness::world::{demo_dir, World, WorldConfig};
use orderbridge_sandbox::{RequestCount, Vendor, WebhookTarget, WindowLimit};
use rust_decimal::Decimal;
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(name = "orderbridge-bench", about = "Measure latency, throughput, API economy, cold start and cost")]
struct Args {
    /// Seconds between scheduled pulls in the latency runs (the template's default is 5 minutes).
    #[arg(long, default_value_t = 30)]
    pull_interval_secs: u64,
    /// Orders arriving one by one in the latency run (70 % Sellercloud, 30 % BigCommerce).
    #[arg(long, default_value_t = 30)]
    latency_orders: usize,
    /// Seconds over which they arrive (and over which their shipments are confirmed).
    #[arg(long, default_value_t = 90)]
    arrival_secs: u64,
    /// Orders waiting at once in the throughput run.
    #[arg(long, default_value_t = 100)]
    burst_orders: usize,
    /// Cold starts measured per binary.
    #[arg(long, default_value_t = 5)]
    cold_starts: usize,
    /// Where the release binaries are (`make bench` builds them).
    #[arg(long, env = "BENCH_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Skip the release-binary measurements (and the parts of the cost model that need them).
    #[arg(long)]
    skip_binaries: bool,
    #[arg(long, default_value_t = 11)]
    seed: u64,
}

const FUNCTIONS: [(&str, &str); 4] = [
    ("order-pull", "OrderPullFunction"),
    ("order-import", "OrderImportFunction"),
    ("shipment-webhook", "ShipmentWebhookFunction"),
    ("status-push", "StatusPushFunction"),
];
const HELLO: &str = "hello-lambda";
/// Scheduled pulls a month at the template's default `rate(5 minutes)`.
const PULLS_PER_MONTH: u64 = 30 * 24 * 12;

fn vendor_counts(world: &World) -> Vec<(Vendor, RequestCount)> {
    [Vendor::Acumatica, Vendor::Sellercloud, Vendor::Bigcommerce, Vendor::Shipstation]
        .into_iter()
        .map(|v| (v, world.sandbox.state().request_count(v)))
        .collect()
}

fn vendor_delta(before: &[(Vendor, RequestCount)], after: &[(Vendor, RequestCount)], vendor: Vendor) -> RequestCount {
    let get = |list: &[(Vendor, RequestCount)]| list.iter().find(|(v, _)| *v == vendor).map(|(_, c)| *c);
    let (b, a) = (get(before).unwrap_or_default(), get(after).unwrap_or_default());
    RequestCount { total: a.total - b.total, throttled: a.throttled - b.throttled }
}

type Routes = BTreeMap<Vendor, BTreeMap<String, u64>>;

fn route_counts(world: &World) -> Routes {
    [Vendor::Acumatica, Vendor::Sellercloud, Vendor::Bigcommerce]
        .into_iter()
        .map(|v| (v, world.sandbox.state().route_counts(v)))
        .collect()
}

fn routes_between(before: &Routes, after: &Routes) -> Routes {
    after
        .iter()
        .map(|(v, routes)| {
            let earlier = before.get(v);
            let delta = routes
                .iter()
                .map(|(r, n)| (r.clone(), n - earlier.and_then(|e| e.get(r)).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect();
            (*v, delta)
        })
        .collect()
}

/// "GET /entity/…/Customer 0.42, PUT …/SalesOrder 1.00": a vendor's calls per route per item.
fn routes_per(routes: &Routes, vendor: Vendor, items: usize) -> String {
    let mut list: Vec<(&String, &u64)> = routes.get(&vendor).map(|r| r.iter().collect()).unwrap_or_default();
    list.sort_by_key(|b| std::cmp::Reverse(*b.1));
    list.iter().map(|(r, n)| format!("{r} {:.2}", **n as f64 / items.max(1) as f64)).collect::<Vec<_>>().join(", ")
}

/// Import ID → the ERP customer of its sales order.
fn customers_of(erp: &BTreeMap<String, Vec<Value>>) -> BTreeMap<&str, &str> {
    erp.iter()
        .filter_map(|(id, orders)| Some((id.as_str(), orders.first()?["CustomerID"]["value"].as_str()?)))
        .collect()
}

/// The marketplace customers the demo's sc-main mapping names in `customers.by_source`.
fn marketplace_customers() -> Vec<String> {
    let path = demo_dir().join("mappings/sc-main.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    match orderbridge::mapping::Mapping::parse(&path.to_string_lossy(), 1, &text) {
        Ok(mapping) => mapping.file.customers.by_source.values().map(|c| c.get_ref().clone()).collect(),
        Err(e) => {
            println!("  note: {} not read ({e}); every customer counted as a buyer's own", path.display());
            Vec::new()
        }
    }
}

/// Creates one order in a channel now; returns its Import ID.
/// Items as they arrive: what, and when it started to count.
type Arrivals<T> = Arc<Mutex<Vec<(T, Instant)>>>;

/// Watches items while they keep arriving, checking every 100 ms, until `arrived` is set and
/// every item is done or `limit` passes after the last arrival; returns how long each took from
/// its arrival to the first check that saw it done.
async fn watch<T: Clone>(
    items: &Arrivals<T>,
    arrived: &AtomicBool,
    limit: Duration,
    done: impl Fn(&T) -> bool,
) -> Vec<(T, Duration)> {
    let mut seen: Vec<Option<Duration>> = Vec::new();
    let mut all_arrived_at: Option<Instant> = None;
    loop {
        // Read before the snapshot: an item arriving after it is seen by the next round.
        let all_arrived = arrived.load(Ordering::SeqCst);
        let snapshot: Vec<(T, Instant)> = items.lock().map(|v| v.clone()).unwrap_or_default();
        seen.resize(snapshot.len(), None);
        for (i, (item, since)) in snapshot.iter().enumerate() {
            if seen[i].is_none() && done(item) {
                seen[i] = Some(since.elapsed());
            }
        }
        if all_arrived {
            let at = *all_arrived_at.get_or_insert_with(Instant::now);
            if seen.iter().all(Option::is_some) || at.elapsed() > limit {
                return snapshot.into_iter().zip(seen).filter_map(|((item, _), s)| s.map(|d| (item, d))).collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Makes `n` items spaced evenly over `over`, recording when each arrived, while `watch`
/// measures them; returns the measured items and every item that arrived.
async fn arrive_and_watch<T: Clone + Send + 'static>(
    n: usize,
    over: Duration,
    limit: Duration,
    make: impl Fn(usize) -> Option<T> + Send + 'static,
    done: impl Fn(&T) -> bool,
) -> (Vec<(T, Duration)>, Vec<T>) {
    let items: Arrivals<T> = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(AtomicBool::new(false));
    let gap = over / u32::try_from(n.max(1)).unwrap_or(1);
    let producer = {
        let (items, arrived) = (items.clone(), arrived.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            for i in 0..n {
                tokio::time::sleep_until((started + gap * u32::try_from(i).unwrap_or(0)).into()).await;
                if let Some(item) = make(i) {
                    if let Ok(mut v) = items.lock() {
                        v.push((item, Instant::now()));
                    }
                }
            }
            arrived.store(true, Ordering::SeqCst);
        })
    };
    let measured = watch(&items, &arrived, limit, done).await;
    let _ = producer.await;
    let arrived: Vec<T> = items.lock().map(|v| v.iter().map(|(t, _)| t.clone()).collect()).unwrap_or_default();
    (measured, arrived)
}

struct LatencyRun {
    orders: Vec<Duration>,
    orders_expected: usize,
    shipments: Vec<Duration>,
    shipments_expected: usize,
    deliveries: usize,
    webhook_handler: Vec<Duration>,
    vendor_orders: Vec<(Vendor, RequestCount)>,
    vendor_shipments: Vec<(Vendor, RequestCount)>,
    /// Calls per route while the shipments went back.
    shipment_routes: Routes,
}

async fn latency_run(world: &Arc<World>, args: &Args) -> LatencyRun {
    let interval = Duration::from_secs(args.pull_interval_secs);
    let counts_before = vendor_counts(world);
    let background = Background::start(world, interval, 2);

    println!(
        "Latency: {} orders arriving over {} s, pull every {} s ...",
        args.latency_orders, args.arrival_secs, args.pull_interval_secs
    );
    let over = Duration::from_secs(args.arrival_secs);
    let maker = world.clone();
    let watcher = world.clone();
    let log_from = chrono::Utc::now();
    let (orders, arrived) = arrive_and_watch(
        args.latency_orders,
        over,
        interval * 3 + Duration::from_secs(180),
        move |i| Some(new_order(&maker, i)),
        |id: &String| erp_order_numbers(&watcher.sandbox, [id.as_str()]).contains_key(id),
    )
    .await;
    let counts_orders = vendor_counts(world);
    let orders_expected = arrived.len();
    let missing: Vec<&String> = arrived.iter().filter(|id| !orders.iter().any(|(o, _)| o == *id)).collect();
    if !missing.is_empty() {
        // Say why, from the connector log, so a partial figure is never a mystery.
        let connections: Vec<_> = world.app.connections();
        let entries = log_since(world.app.log(), &connections, log_from).await;
        for id in missing {
            let number = id.split_once('-').map_or(id.as_str(), |(_, n)| n);
            let last = entries.iter().rev().find(|e| e.entity_id.ends_with(number));
            println!(
                "  {id} not in the ERP: {}",
                last.map(|e| format!("{} {:?}: {}", e.action, e.result, e.notes))
                    .unwrap_or_else(|| "never seen by a pull".into())
            );
        }
    }

    println!("Latency: {} shipments confirmed over {} s ...", orders.len(), args.arrival_secs);
    let routes_before = route_counts(world);
    let deliveries_before = world.gateway.calls().len();
    let to_ship: Vec<String> = orders.iter().map(|(id, _)| id.clone()).collect();
    let maker = world.clone();
    let (shipments, shipped) = arrive_and_watch(
        to_ship.len(),
        over,
        Duration::from_secs(240),
        move |i| to_ship.get(i).and_then(|id| confirm_one_box(&maker.sandbox, id).map(|t| (id.clone(), t))),
        |(id, tracking): &(String, String)| tracking_on_channel(&watcher.sandbox, id, tracking),
    )
    .await;
    background.stop().await;
    let shipment_routes = routes_between(&routes_before, &route_counts(world));
    let calls = world.gateway.calls();
    LatencyRun {
        shipment_routes,
        orders: orders.iter().map(|(_, d)| *d).collect(),
        orders_expected,
        shipments: shipments.iter().map(|(_, d)| *d).collect(),
        shipments_expected: shipped.len(),
        deliveries: calls.len() - deliveries_before,
        webhook_handler: calls[deliveries_before..].iter().map(|c| c.handler_time).collect(),
        vendor_orders: counts_orders
            .iter()
            .map(|(v, _)| (*v, vendor_delta(&counts_before, &counts_orders, *v)))
            .collect(),
        vendor_shipments: counts_orders
            .iter()
            .map(|(v, _)| (*v, vendor_delta(&counts_orders, &vendor_counts(world), *v)))
            .collect(),
    }
}

/// BigCommerce orders announced by the store's order webhooks, imported with no pull running.
struct WebhookRun {
    orders: Vec<Duration>,
    expected: usize,
    bigcommerce_calls: u64,
}

/// Registers the BigCommerce hooks, creates orders one by one with only the SQS event source
/// running (a pull at start finds nothing; the next would be an hour later), and measures each
/// order from its creation to its ERP sales order. The hooks are switched off again after, so the
/// burst measures the scheduled pull's path.
async fn webhook_run(world: &Arc<World>, args: &Args) -> WebhookRun {
    let n = (args.latency_orders / 2).max(5);
    println!("Latency: {n} BigCommerce orders announced by webhook over {} s, no pull ...", args.arrival_secs / 2);
    let hooks = world.register_bigcommerce_hooks().await.unwrap_or_default();
    let background = Background::start(world, Duration::from_secs(3600), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = world.sandbox.state().request_count(Vendor::Bigcommerce).total;
    let (maker, watcher) = (world.clone(), world.clone());
    let (orders, arrived) = arrive_and_watch(
        n,
        Duration::from_secs(args.arrival_secs / 2),
        Duration::from_secs(60),
        move |_| {
            maker.sandbox.state().bigcommerce_create_orders(1, &Default::default()).first().map(|id| format!("BC-{id}"))
        },
        |id: &String| erp_order_numbers(&watcher.sandbox, [id.as_str()]).contains_key(id),
    )
    .await;
    // Their acknowledgements finish with the import batch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bigcommerce_calls = world.sandbox.state().request_count(Vendor::Bigcommerce).total - before;
    background.stop().await;
    let state = world.sandbox.state();
    for id in hooks.iter().filter_map(|h| h.id.parse::<i64>().ok()) {
        if let Some(h) = state.bigcommerce().hooks.get_mut(&id) {
            h["is_active"] = json!(false);
        }
    }
    WebhookRun { orders: orders.iter().map(|(_, d)| *d).collect(), expected: arrived.len(), bigcommerce_calls }
}

struct BurstRun {
    orders: usize,
    sellercloud_orders: usize,
    imported: usize,
    elapsed: Duration,
    vendors: Vec<(Vendor, RequestCount)>,
    routes: Routes,
    /// Orders whose buyer had an earlier sales order in the ERP (before the burst or earlier in
    /// it): the repeat buyers, whose customer comes from the stored binding.
    repeat_buyers: usize,
    /// Orders whose customer is the buyer's own (not a marketplace's, `customers.by_source`), and
    /// how many of them came from a repeat buyer.
    per_buyer_orders: usize,
    per_buyer_repeat: usize,
}

async fn burst_run(world: &Arc<World>, args: &Args) -> BurstRun {
    println!("Throughput: {} orders waiting at once, documented rate limits ...", args.burst_orders);
    let ids: Vec<String> = (0..args.burst_orders).map(|i| new_order(world, i)).collect();
    let before = vendor_counts(world);
    let routes_before = route_counts(world);
    let customers_before: std::collections::BTreeSet<String> =
        customers_of(&erp_orders_by_import_id(&world.sandbox)).into_values().map(str::to_owned).collect();
    let started = Instant::now();
    settle_orders(&world.app, &world.aws, 2, Duration::from_secs(1800)).await;
    let elapsed = started.elapsed();
    let after = vendor_counts(world);
    let erp = erp_orders_by_import_id(&world.sandbox);
    let customers = customers_of(&erp);
    let burst_customers: Vec<&str> = ids.iter().filter_map(|id| customers.get(id.as_str()).copied()).collect();
    // Distinct customers first seen in the burst: each one's first order is a new buyer's.
    let new_in = |orders: &[&str]| {
        orders.iter().filter(|c| !customers_before.contains(**c)).collect::<std::collections::BTreeSet<_>>().len()
    };
    let marketplaces = marketplace_customers();
    let per_buyer: Vec<&str> =
        burst_customers.iter().copied().filter(|c| !marketplaces.iter().any(|m| m == c)).collect();
    BurstRun {
        routes: routes_between(&routes_before, &route_counts(world)),
        repeat_buyers: burst_customers.len() - new_in(&burst_customers),
        per_buyer_orders: per_buyer.len(),
        per_buyer_repeat: per_buyer.len() - new_in(&per_buyer),
        orders: ids.len(),
        sellercloud_orders: ids.iter().filter(|i| i.starts_with("SC-")).count(),
        imported: ids.iter().filter(|i| erp.contains_key(*i)).count(),
        elapsed,
        vendors: after.iter().map(|(v, _)| (*v, vendor_delta(&before, &after, *v))).collect(),
    }
}

/// What one function binary did in the batch run.
#[derive(Default)]
struct BinaryRun {
    name: String,
    memory_mb: u32,
    cold_inits: Vec<Duration>,
    durations: Vec<Duration>,
    /// Messages (SQS records) or orders handled per invocation, where that means something.
    items: Vec<usize>,
    errors: Vec<String>,
    peak_rss_kib: Option<u64>,
    size_bytes: u64,
    /// status-push only: the scheduled catch-up poll's duration.
    catch_up: Option<Duration>,
    /// DynamoDB and SQS calls of the work (order-pull: the first pull, which found the orders;
    /// shipment-webhook: every delivery, those handed to the in-process handler included).
    aws: AwsUsage,
    /// The DynamoDB item writes among those calls, per kind of item.
    writes: WriteUsage,
    /// order-pull only: the calls of the pulls that found nothing (the schedule's fixed cost).
    idle_aws: AwsUsage,
    /// shipment-webhook only: deliveries handled (by the binary and the in-process handler).
    deliveries: usize,
}

/// Captures Acumatica's push notifications so the real shipment-webhook binary can be handed them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Delivery>>>);

/// One captured request: path, query, headers, body.
type Delivery = (String, Option<String>, HeaderMap, Bytes);

async fn capture(State(c): State<Captured>, uri: OriginalUri, headers: HeaderMap, body: Bytes) -> &'static str {
    if let Ok(mut list) = c.0.lock() {
        list.push((uri.path().to_owned(), uri.query().map(str::to_owned), headers, body));
    }
    "ok"
}

fn binary_env(world: &World, meter: &AwsMeter) -> Result<Vec<(String, String)>, BoxError> {
    // Quotas are not what this part measures: the client budgets are lifted with the sandbox's,
    // so invocation times are the functions' own work, not waits for a budget.
    let relaxed = "rate_limit = { requests = 100000, per_seconds = 60 }";
    let mut connections = String::new();
    for line in std::fs::read_to_string(demo_dir().join("connections.toml"))?.lines() {
        connections.push_str(line);
        connections.push('\n');
        if line == "[acumatica]" || line == "[connection.settings]" {
            connections.push_str(relaxed);
            connections.push('\n');
        }
    }
    let r = &world.aws.resources;
    let mut env: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL".into(), meter.url.clone()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("RUST_LOG".into(), "info".into()),
        ("ORDERBRIDGE_STAGE".into(), "bench".into()),
        ("ORDERBRIDGE_STATE_TABLE".into(), r.state_table.clone()),
        ("ORDERBRIDGE_LOG_TABLE".into(), r.log_table.clone()),
        ("ORDERBRIDGE_ORDERS_QUEUE_URL".into(), r.orders.url.clone()),
        ("ORDERBRIDGE_SHIPMENTS_QUEUE_URL".into(), r.shipments.url.clone()),
        ("ORDERBRIDGE_CONNECTIONS".into(), connections),
    ];
    env.extend(world.connection_vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Ok(env)
}

fn scheduled_event() -> Value {
    json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Scheduled Event",
        "source": "aws.scheduler", "account": "000000000000", "time": chrono::Utc::now().to_rfc3339(),
        "region": "us-east-1", "resources": [], "detail": {}
    })
}

async fn sqs_event(aws: &LocalAws, shipments: bool) -> Option<SqsEvent> {
    let queue = if shipments { &aws.resources.shipments } else { &aws.resources.orders };
    for _ in 0..10 {
        let event = aws.receive_event(queue, 1).await;
        if !event.records.is_empty() {
            return Some(event);
        }
    }
    None
}

/// What the batch runs share: the world, the captured Acumatica pushes and the orders created for
/// the binaries.
struct Stage<'a> {
    world: &'a Arc<World>,
    captured: &'a Captured,
    capture_url: &'a str,
    ids: &'a [String],
    batch_orders: usize,
}

impl Stage<'_> {
    /// The event for invocation `i` of `name`, fetched as its trigger would deliver it; `None`
    /// when there is no more work for it.
    async fn event(&self, name: &str, i: usize) -> Result<Option<(Value, Option<SqsEvent>)>, BoxError> {
        let world = self.world;
        Ok(match name {
            HELLO => Some((json!({"n": i}), None)),
            "order-pull" => Some((scheduled_event(), None)),
            "order-import" | "status-push" => match sqs_event(&world.aws, name == "status-push").await {
                Some(e) => Some((serde_json::to_value(&e)?, Some(e))),
                None => None,
            },
            _ => {
                if i == 0 {
                    // Ship half of the orders the import just created; Acumatica pushes each
                    // shipment (and its order's status change) to the capture endpoint.
                    world.sandbox.state().set_webhook(
                        Vendor::Acumatica,
                        Some(
                            WebhookTarget::new(format!("{}{ACUMATICA_ROUTE}", self.capture_url))
                                .header(&world.secrets.acumatica_header, &world.secrets.acumatica_secret)
                                .copies(1),
                        ),
                    );
                    for id in self.ids.iter().take(self.batch_orders / 2) {
                        confirm_one_box(&world.sandbox, id);
                    }
                    let until = Instant::now() + Duration::from_secs(30);
                    while self.captured.0.lock().map(|c| c.len()).unwrap_or(0) < self.batch_orders
                        && Instant::now() < until
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                let delivery = self.captured.0.lock().ok().and_then(|c| c.get(i).cloned());
                match delivery {
                    Some((path, query, headers, body)) => {
                        Some((serde_json::to_value(api_gateway_event(&path, query.as_deref(), headers, &body))?, None))
                    }
                    None => None,
                }
            }
        })
    }

    /// Runs invocations `range` of `name` on `process`, recording durations, items and errors in
    /// `run`, and acknowledging SQS batches as the event source does.
    async fn invocations(
        &self,
        process: &FunctionProcess,
        name: &str,
        range: std::ops::Range<usize>,
        run: &mut BinaryRun,
    ) {
        for i in range {
            let (payload, sqs) = match self.event(name, i).await {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    run.errors.push(e.to_string());
                    break;
                }
            };
            match process.api.invoke(payload).await {
                Ok((answer, took)) => {
                    run.durations.push(took);
                    if let Some(event) = &sqs {
                        run.items.push(event.records.len());
                        let response: SqsBatchResponse = serde_json::from_value(answer).unwrap_or_default();
                        let resources = &self.world.aws.resources;
                        let queue = if name == "status-push" { &resources.shipments } else { &resources.orders };
                        self.world.aws.delete_succeeded(queue, event, &response).await;
                    } else if name == "shipment-webhook" && answer["statusCode"] != 200 {
                        run.errors.push(format!("answered {}", answer["statusCode"]));
                    }
                }
                Err(e) => run.errors.push(e),
            }
        }
    }
}

/// Returns the runs and the number of shipments confirmed for the webhook and status-push runs.
async fn binaries_run(
    world: &Arc<World>,
    meter: &AwsMeter,
    args: &Args,
    bin_dir: &Path,
) -> Result<(Vec<BinaryRun>, usize), BoxError> {
    let template = std::fs::read_to_string(demo_dir().join("../../../infra/template.yaml"))?;
    let functions = template_functions(&template)?;
    let env = binary_env(world, meter)?;
    let logs = PathBuf::from(".local/bench");
    std::fs::create_dir_all(&logs)?;
    let state = world.sandbox.state();
    let (_, mut limits) = state.rate_limits();
    limits.acumatica_per_minute = WindowLimit::new(100_000, Duration::from_secs(60));
    limits.sellercloud = WindowLimit::new(100_000, Duration::from_secs(60));
    limits.bigcommerce = WindowLimit::new(100_000, Duration::from_secs(30));
    state.set_rate_limits(limits);

    let mut plan: Vec<(String, u32, Duration)> = vec![(HELLO.into(), 128, Duration::from_secs(10))];
    for (name, logical) in FUNCTIONS {
        let (memory, timeout) =
            functions.get(logical).copied().ok_or_else(|| format!("{logical} not in the template"))?;
        plan.push((name.into(), memory, timeout));
    }
    let mut runs = Vec::new();
    for (name, memory, timeout) in &plan {
        let binary = bin_dir.join(name);
        let size = std::fs::metadata(&binary)
            .map_err(|e| format!("{}: {e}; `make bench` builds the release binaries first", binary.display()))?
            .len();
        let log = logs.join(format!("{name}.log"));
        let mut run = BinaryRun { name: name.clone(), memory_mb: *memory, size_bytes: size, ..BinaryRun::default() };
        for _ in 0..args.cold_starts {
            let process = FunctionProcess::start(&binary, name, *memory, *timeout, &env, &log).await?;
            run.cold_inits.push(process.init);
            process.stop().await;
        }
        runs.push(run);
    }
    println!("Binaries: {} cold starts each measured; batches of 10 ...", args.cold_starts);

    // A batch of ten invocations per binary, in pipeline order, each with real work.
    let batch_orders = 100;
    let ids: Vec<String> = (0..batch_orders).map(|i| new_order(world, i)).collect();
    let captured = Captured::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let capture_url = format!("http://{}", listener.local_addr()?);
    let router = axum::Router::new().fallback(capture).with_state(captured.clone());
    let capture_task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let stage = Stage { world, captured: &captured, capture_url: &capture_url, ids: &ids, batch_orders };
    let start = |name: &str| {
        let (memory, timeout) =
            plan.iter().find(|(n, _, _)| n == name).map(|(_, m, t)| (*m, *t)).unwrap_or((128, Duration::from_secs(10)));
        let (binary, log, env) = (bin_dir.join(name), logs.join(format!("{name}.log")), env.clone());
        let name = name.to_owned();
        async move { FunctionProcess::start(&binary, &name, memory, timeout, &env, &log).await }
    };
    let run_of = |runs: &mut Vec<BinaryRun>, name: &str| runs.iter().position(|r| r.name == name).unwrap_or(0);

    let hello = start(HELLO).await?;
    let i = run_of(&mut runs, HELLO);
    stage.invocations(&hello, HELLO, 0..10, &mut runs[i]).await;
    runs[i].peak_rss_kib = hello.peak_rss_kib();
    hello.stop().await;

    // order-pull: its first invocation finds the new orders; the other nine run after the
    // imports, as the schedule's later runs do, and find nothing new.
    let pull = start("order-pull").await?;
    let p = run_of(&mut runs, "order-pull");
    let (before, writes_before) = (meter.usage(), meter.writes());
    stage.invocations(&pull, "order-pull", 0..1, &mut runs[p]).await;
    let after_first = meter.usage();
    runs[p].aws = usage_between(&before, &after_first);
    runs[p].writes = writes_between(&writes_before, &meter.writes());

    for name in ["order-import", "shipment-webhook", "status-push"] {
        let process = start(name).await?;
        let r = run_of(&mut runs, name);
        let (before, writes_before) = (meter.usage(), meter.writes());
        // status-push drains its queue (until nothing arrives for 10 s): the order-status
        // notifications wait 10 s on it (DelaySeconds), so ten invocations may end before they are
        // visible, and their work would be missing from the cost model.
        let range = if name == "status-push" { 0..40 } else { 0..10 };
        stage.invocations(&process, name, range, &mut runs[r]).await;
        runs[r].peak_rss_kib = process.peak_rss_kib();
        if name == "shipment-webhook" {
            // The deliveries the binary did not take go through the in-process handler, so
            // status-push has ten batches to work on; their calls are webhook work too.
            let rest: Vec<_> = captured.0.lock().map(|c| c.iter().skip(10).cloned().collect()).unwrap_or_default();
            runs[r].deliveries = rest.len() + runs[r].durations.len();
            for (path, query, headers, body) in rest {
                world.webhooks.handle(&api_gateway_event(&path, query.as_deref(), headers, &body)).await;
            }
        }
        runs[r].aws = usage_between(&before, &meter.usage());
        runs[r].writes = writes_between(&writes_before, &meter.writes());
        if name == "status-push" {
            if let Ok((_, took)) = process.api.invoke(scheduled_event()).await {
                runs[r].catch_up = Some(took);
            }
        }
        process.stop().await;
    }

    let before_idle = meter.usage();
    stage.invocations(&pull, "order-pull", 1..10, &mut runs[p]).await;
    runs[p].idle_aws = usage_between(&before_idle, &meter.usage());
    runs[p].peak_rss_kib = pull.peak_rss_kib();
    pull.stop().await;
    capture_task.abort();
    let erp = erp_orders_by_import_id(&world.sandbox);
    let imported = ids.iter().filter(|i| erp.contains_key(*i)).count();
    if imported < batch_orders {
        println!(
            "  note: {imported} of {batch_orders} orders reached the ERP through the binaries' ten import batches"
        );
    }
    Ok((runs, batch_orders / 2))
}

fn budget_per_second(limit: WindowLimit) -> f64 {
    f64::from(limit.requests) / limit.window.as_secs_f64().max(1.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn print_latency(run: &LatencyRun, args: &Args) {
    println!();
    println!(
        "## Latency (pull every {} s; orders arrive one by one over {} s)",
        args.pull_interval_secs, args.arrival_secs
    );
    println!("| path | n | p50 | p95 | max | how |");
    println!("|---|---|---|---|---|---|");
    for (what, sample, expected, how) in [
        ("order in channel → ERP sales order", &run.orders, run.orders_expected, "order created in the sandbox channel until its sales order exists in the Acumatica sandbox (checked every 100 ms); scheduled pull + SQS import"),
        ("shipment confirmed → tracking on channel", &run.shipments, run.shipments_expected, "Acumatica shipment confirmed until its tracking number is on the channel order; push notification → API Gateway stand-in → shipment-webhook → SQS → status-push"),
    ] {
        match Spread::of(sample) {
            Some(s) => println!("| {what} | {}/{expected} | {} | {} | {} | {how} |", s.n, show(s.p50), show(s.p95), show(s.max)),
            None => println!("| {what} | 0/{expected} | - | - | - | {how} |"),
        }
    }
    if let Some(s) = Spread::of(&run.webhook_handler) {
        println!(
            "| shipment-webhook handler per delivery | {} | {} | {} | {} | in-process handler time per request (verify, dedupe, enqueue, log) |",
            s.n,
            show(s.p50),
            show(s.p95),
            show(s.max)
        );
    }
}

fn print_throughput(burst: &BurstRun, light: &LatencyRun, limits: &orderbridge_sandbox::RateLimitConfig) {
    println!();
    println!(
        "## Throughput ({} orders waiting at once, documented rate limits enforced by the sandbox): {}/{} imported in {:.0} s = {:.1} orders/min",
        burst.orders,
        burst.imported,
        burst.orders,
        burst.elapsed.as_secs_f64(),
        burst.imported as f64 / burst.elapsed.as_secs_f64().max(0.001) * 60.0
    );
    println!("| vendor | budget | requests | achieved | share of budget | answered 429 |");
    println!("|---|---|---|---|---|---|");
    for (vendor, limit) in [
        (Vendor::Acumatica, limits.acumatica_per_minute),
        (Vendor::Sellercloud, limits.sellercloud),
        (Vendor::Bigcommerce, limits.bigcommerce),
    ] {
        let c = burst.vendors.iter().find(|(v, _)| *v == vendor).map(|(_, c)| *c).unwrap_or_default();
        let achieved = c.total as f64 / burst.elapsed.as_secs_f64().max(0.001);
        println!(
            "| {} | {} per {} s ({:.2}/s) | {} | {:.2}/s | {:.0} % | {} ({:.1} %) |",
            vendor.name(),
            limit.requests,
            limit.window.as_secs(),
            budget_per_second(limit),
            c.total,
            achieved,
            achieved / budget_per_second(limit) * 100.0,
            c.throttled,
            ratio(Decimal::from(c.throttled), Decimal::from(c.total)).to_string().parse::<f64>().unwrap_or(0.0) * 100.0
        );
    }
    println!();
    println!("## API calls per order");
    let per = |list: &[(Vendor, RequestCount)], vendors: &[Vendor], n: usize| {
        let calls: u64 = list.iter().filter(|(v, _)| vendors.contains(v)).map(|(_, c)| c.total).sum();
        if n == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", calls as f64 / n as f64)
        }
    };
    let channels = [Vendor::Sellercloud, Vendor::Bigcommerce];
    let bc = burst.orders - burst.sellercloud_orders;
    let (n_light, n_ship) = (light.orders.len(), light.shipments_expected);
    println!("| calls | burst: import | light load: import | light load: shipment back |");
    println!("|---|---|---|---|");
    println!(
        "| Acumatica (ERP) per order | {} | {} | {} |",
        per(&burst.vendors, &[Vendor::Acumatica], burst.orders),
        per(&light.vendor_orders, &[Vendor::Acumatica], n_light),
        per(&light.vendor_shipments, &[Vendor::Acumatica], n_ship)
    );
    println!(
        "| channel per order | Sellercloud {} / BigCommerce {} | {} | {} |",
        per(&burst.vendors, &[Vendor::Sellercloud], burst.sellercloud_orders),
        per(&burst.vendors, &[Vendor::Bigcommerce], bc),
        per(&light.vendor_orders, &channels, n_light),
        per(&light.vendor_shipments, &channels, n_ship)
    );
    println!(
        "| webhook deliveries per shipment | | | {} |",
        if n_ship == 0 { "-".to_owned() } else { format!("{:.2}", light.deliveries as f64 / n_ship as f64) }
    );
    println!("(burst: calls of each channel / its orders, pulls included; light load: every call in the run / its orders or shipments, scheduled pulls included)");
    println!(
        "Burst buyers: {} of {} orders on a customer with an earlier sales order in the ERP; {} on a marketplace's customer (customers.by_source of sc-main); of the {} on the buyer's own customer, {} from repeat buyers.",
        burst.repeat_buyers,
        burst.orders,
        burst.orders - burst.per_buyer_orders,
        burst.per_buyer_orders,
        burst.per_buyer_repeat
    );
    println!(
        "Burst, Acumatica calls per order by route: {}.",
        routes_per(&burst.routes, Vendor::Acumatica, burst.orders)
    );
    println!(
        "Burst, Sellercloud calls per Sellercloud order: {}.",
        routes_per(&burst.routes, Vendor::Sellercloud, burst.sellercloud_orders)
    );
    println!("Burst, BigCommerce calls per BigCommerce order: {}.", routes_per(&burst.routes, Vendor::Bigcommerce, bc));
    println!(
        "Light load, Acumatica calls per shipment by route: {}.",
        routes_per(&light.shipment_routes, Vendor::Acumatica, n_ship)
    );
}

fn print_binaries(runs: &[BinaryRun]) {
    println!();
    println!("## Lambda binaries (release profile of this workspace, x86-64 on this machine; local Runtime API)");
    println!("| binary | size | init p50 (n) | init max | invocation p50 | invocation max | items/invocation | peak RSS over 10 | errors |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        let init = Spread::of(&r.cold_inits);
        let inv = Spread::of(&r.durations);
        let items = if r.items.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.1}", r.items.iter().sum::<usize>() as f64 / r.items.len() as f64)
        };
        println!(
            "| {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
            r.name,
            mib(r.size_bytes),
            init.map(|s| show(s.p50)).unwrap_or_default(),
            r.cold_inits.len(),
            init.map(|s| show(s.max)).unwrap_or_default(),
            inv.map(|s| show(s.p50)).unwrap_or_else(|| "-".into()),
            inv.map(|s| show(s.max)).unwrap_or_else(|| "-".into()),
            items,
            r.peak_rss_kib.map(|k| mib(k * 1024)).unwrap_or_else(|| "-".into()),
            if r.errors.is_empty() {
                "0".to_owned()
            } else {
                format!("{}: {}", r.errors.len(), r.errors[0].chars().take(80).collect::<String>())
            }
        );
    }
    println!("(init = process start → first `GET /runtime/invocation/next`; invocation = event handed over → response posted; peak RSS = VmHWM after the 10th invocation)");
}

/// SQS requests a piece of work costs: what it sent, and for each receive that returned messages
/// one receive and one DeleteMessageBatch, as Lambda's event source does (the harness deletes
/// one by one; empty long polls are the pollers' fixed cost, counted apart).
fn sqs_requests(usage: &AwsUsage) -> u64 {
    let sends: u64 = usage.iter().filter(|(op, _)| op.starts_with("sqs:Send")).map(|(_, s)| s.calls).sum();
    let receives = usage.get("sqs:ReceiveMessage").map(|s| s.calls - s.empty_receives).unwrap_or(0);
    sends + 2 * receives
}

fn print_cost(runs: &[BinaryRun], shipments: usize) {
    let find = |name: &str| runs.iter().find(|r| r.name == name);
    let (Some(pull), Some(import), Some(webhook), Some(push)) =
        (find("order-pull"), find("order-import"), find("shipment-webhook"), find("status-push"))
    else {
        return;
    };
    let count = |n: usize| Decimal::from(n.max(1) as u64);
    let imported: usize = import.items.iter().sum();
    let deliveries = webhook.deliveries;
    let pushed: usize = push.items.iter().sum();
    let orders = count(imported);
    let shipments = count(shipments);
    let deliveries_per_shipment = ratio(count(deliveries), shipments);
    // Per order: the pull that found it and its import; per shipment (one per order): its
    // webhook deliveries and the status-push work on the messages they queued.
    let per_order_of = |order_side: Decimal, shipment_side: Decimal| order_side / orders + shipment_side / shipments;
    let pull_busy: Vec<Duration> = pull.durations.first().copied().into_iter().collect();
    let pull_idle: Vec<Duration> = pull.durations.iter().skip(1).copied().collect();
    let webhook_each = ratio(gb_seconds(&webhook.durations, webhook.memory_mb), count(webhook.durations.len()));
    let push_per_message = ratio(gb_seconds(&push.durations, push.memory_mb), count(pushed));
    let per = PerOrder {
        lambda_gb_seconds: per_order_of(
            gb_seconds(&pull_busy, pull.memory_mb) + gb_seconds(&import.durations, import.memory_mb),
            (webhook_each + push_per_message) * count(deliveries),
        ),
        lambda_invocations: per_order_of(
            Decimal::from(import.durations.len() as u64),
            count(deliveries) + ratio(count(deliveries), ratio(count(pushed), count(push.durations.len()))),
        ),
        sqs_requests: per_order_of(
            Decimal::from(sqs_requests(&pull.aws) + sqs_requests(&import.aws)),
            Decimal::from(sqs_requests(&webhook.aws) + sqs_requests(&push.aws)),
        ),
        dynamodb_wru: per_order_of(
            Decimal::from(
                service_total(&pull.aws, "dynamodb").write_units + service_total(&import.aws, "dynamodb").write_units,
            ),
            Decimal::from(
                service_total(&webhook.aws, "dynamodb").write_units + service_total(&push.aws, "dynamodb").write_units,
            ),
        ),
        dynamodb_rru: per_order_of(
            Decimal::from(
                service_total(&pull.aws, "dynamodb").read_units + service_total(&import.aws, "dynamodb").read_units,
            ),
            Decimal::from(
                service_total(&webhook.aws, "dynamodb").read_units + service_total(&push.aws, "dynamodb").read_units,
            ),
        ),
        http_api_requests: deliveries_per_shipment,
    };
    let prices = Prices::default();
    println!();
    println!("## Cost per million orders (each imported once and shipped back once), AWS list prices us-east-1, free tiers ignored");
    println!("| item | per order | per million orders | unit price | cost |");
    println!("|---|---|---|---|---|");
    let mut total = Decimal::ZERO;
    for line in cost_per_million(&per, &prices) {
        total += line.cost;
        let unit_price = if line.item == "Lambda compute" {
            format!("${} per GB-s (arm64)", line.price)
        } else {
            format!("${} per million {}", line.price, line.unit)
        };
        println!(
            "| {} | {} {} | {} | {} | ${} |",
            line.item,
            (line.quantity / Decimal::from(1_000_000)).round_dp(4),
            line.unit,
            line.quantity.round_dp(0),
            unit_price,
            line.cost
        );
    }
    println!("| **total** | | | | **${total}** |");
    let idle_pull = ratio(gb_seconds(&pull_idle, pull.memory_mb), count(pull_idle.len()));
    let catch_up = push.catch_up.map(|d| gb_seconds(&[d], push.memory_mb)).unwrap_or_default();
    let idle = service_total(&pull.idle_aws, "dynamodb");
    let idle_wru = ratio(Decimal::from(idle.write_units), count(pull_idle.len()));
    let idle_rru = ratio(Decimal::from(idle.read_units), count(pull_idle.len()));
    let runs_a_month = Decimal::from(PULLS_PER_MONTH);
    let million = Decimal::from(1_000_000);
    let fixed_lambda = (idle_pull + catch_up) * runs_a_month * prices.lambda_gb_second
        + Decimal::from(2 * PULLS_PER_MONTH) * prices.lambda_per_million_requests / million;
    let fixed_dynamo = runs_a_month
        * (idle_wru * prices.dynamodb_per_million_wru + idle_rru * prices.dynamodb_per_million_rru)
        / million;
    // Lambda's SQS pollers long-poll each queue continuously: 5 pollers × 3 receives a minute.
    let idle_receives = Decimal::from(2u64 * 5 * 3 * 60 * 24 * 30);
    let fixed_sqs = idle_receives * prices.sqs_per_million_requests / million;
    println!(
        "Fixed per month at any volume (template default schedule, every 5 min = {PULLS_PER_MONTH} runs): pull + catch-up poll Lambda {:.3} + {:.3} GB-s per run ${}, their DynamoDB {idle_wru:.1} WRU + {idle_rru:.1} RRU per pull ${}, SQS event-source long polling of 2 queues (~{idle_receives} receives) ${}: ${} a month.",
        idle_pull,
        catch_up,
        fixed_lambda.round_dp(2),
        fixed_dynamo.round_dp(2),
        fixed_sqs.round_dp(2),
        (fixed_lambda + fixed_dynamo + fixed_sqs).round_dp(2)
    );
    println!(
        "How: GB-s from the release binaries' invocation times above (billed per ms) × the template's memory, batches as measured ({imported} orders in {} import invocations, {pushed} messages in {} status-push invocations); {deliveries_per_shipment:.2} webhook deliveries per shipment ({deliveries} Acumatica pushes for {shipments} shipments); SQS and DynamoDB from every call those invocations made (metering proxy; WRU by DynamoDB's item-size rule from each item before and after its write, index writes included; RRU = started 4 KiB of each read response, both over-estimates); ESM receive + batch delete once per non-empty batch. Measured against moto, not DynamoDB: real service latency differs.",
        import.durations.len(),
        push.durations.len()
    );
    let mut calls = AwsUsage::new();
    for run in [pull, import, webhook, push] {
        for (op, stats) in &run.aws {
            let entry = calls.entry(op.clone()).or_default();
            entry.calls += stats.calls;
            entry.write_units += stats.write_units;
        }
    }
    let breakdown: Vec<String> = calls
        .iter()
        .filter(|(op, _)| op.starts_with("dynamodb:"))
        .map(|(op, s)| format!("{} {} ({} WRU)", op.trim_start_matches("dynamodb:"), s.calls, s.write_units))
        .collect();
    println!("DynamoDB calls behind it ({imported} orders, {shipments} shipments): {}.", breakdown.join(", "));
    // Write units per order by kind of item: the order side over the orders, the shipment side
    // over the shipments, as in the total above.
    let mut kinds: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for (run, shipment_side) in [(pull, false), (import, false), (webhook, true), (push, true)] {
        for (kind, w) in &run.writes {
            let (per_count, units) =
                if shipment_side { (shipments, Decimal::from(w.calls)) } else { (orders, Decimal::from(w.calls)) };
            let e = kinds.entry(kind.clone()).or_default();
            e.0 += units / per_count;
            e.1 += Decimal::from(w.write_units) / per_count;
        }
    }
    let mut by_units: Vec<_> = kinds.into_iter().collect();
    by_units.sort_by_key(|b| std::cmp::Reverse(b.1 .1));
    let shown: Vec<String> = by_units
        .iter()
        .map(|(kind, (writes, units))| {
            format!("{kind} {:.2} writes / {:.2} WRU", writes.round_dp(2), units.round_dp(2))
        })
        .collect();
    println!("Write units per order by item (index writes included): {}.", shown.join("; "));
    println!("Not included: CloudWatch Logs ingestion, Secrets Manager, data transfer, DynamoDB storage.");
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    quiet_logs();
    let args = Args::parse();
    let upstream =
        std::env::var("AWS_ENDPOINT_URL").map_err(|_| "AWS_ENDPOINT_URL is unset: run through `make bench`")?;
    let meter = AwsMeter::start(&upstream).await?;
    // Everything below (the in-process handlers, the harness, the binaries) reaches the emulator
    // through the meter, SQS included (the stack serves SQS from a second process of its own; here
    // the main one serves both, so every call is counted).
    std::env::set_var("AWS_ENDPOINT_URL", &meter.url);
    std::env::remove_var("AWS_ENDPOINT_URL_SQS");
    let sandbox = empty_sandbox(args.seed);
    let limits = sandbox.limits.clone();
    let world = Arc::new(World::start(WorldConfig::demo(&unique_prefix("orderbridge-bench"), sandbox)).await?);
    world.route_acumatica_pushes(Some(1));
    let started = Instant::now();

    let light = latency_run(&world, &args).await;
    let hooked = webhook_run(&world, &args).await;
    let burst = burst_run(&world, &args).await;
    let (runs, shipped) = if args.skip_binaries {
        (Vec::new(), 0)
    } else {
        let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
            PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("release")
        });
        binaries_run(&world, &meter, &args, &bin_dir).await?
    };

    println!();
    println!(
        "# make bench ({} , {:.0} s)",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        started.elapsed().as_secs_f64()
    );
    print_latency(&light, &args);
    match Spread::of(&hooked.orders) {
        Some(s) => println!(
            "| BigCommerce order → ERP sales order, order webhook | {}/{} | {} | {} | {} | store/order/created → API Gateway stand-in → shipment-webhook → orders queue → order-import (one read, one status PUT: {:.2} BigCommerce calls per order), no pull |",
            s.n,
            hooked.expected,
            show(s.p50),
            show(s.p95),
            show(s.max),
            hooked.bigcommerce_calls as f64 / hooked.expected.max(1) as f64
        ),
        None => println!("| BigCommerce order → ERP sales order, order webhook | 0/{} | - | - | - | |", hooked.expected),
    }
    print_throughput(&burst, &light, &limits);
    if !runs.is_empty() {
        print_binaries(&runs);
        print_cost(&runs, shipped);
    }
    let failed = light.orders.len() < light.orders_expected
        || hooked.orders.len() < hooked.expected
        || light.shipments.len() < light.shipments_expected
        || burst.imported < burst.orders
        || runs.iter().any(|r| !r.errors.is_empty());
    if failed {
        println!("\nSome measurement did not complete (see the n columns and errors): figures above are partial.");
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The burst's buyer split reads the marketplace customers from the demo mapping itself.
    #[test]
    fn marketplace_customers_come_from_the_demo_mapping() {
        let customers = super::marketplace_customers();
        assert!(customers.iter().any(|c| c == "AMAZON"), "{customers:?}");
        assert!(!customers.is_empty() && customers.iter().all(|c| c.chars().all(|ch| ch.is_ascii_uppercase())));
    }
}

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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use clap::Parser;
use orderbridge::handlers::{deadline_from, ACUMATICA_ROUTE};
use orderbridge_harness::aws::{unique_prefix, LocalAws};
use orderbridge_harness::bench::{
    cost_per_million, gb_seconds, ratio, service_total, show, template_functions, usage_between, AwsMeter, AwsUsage,
    FunctionProcess, PerOrder, Prices, Spread,
};
use orderbridge_harness::drive::settle_orders;
use orderbridge_harness::gateway::api_gateway_event;
use orderbridge_harness::report::{confirm_one_box, erp_orders_by_import_id, tracking_on_channel};
use orderbridge_harness::world::{demo_dir, World, WorldConfig};
use orderbridge_sandbox::seed::OrderOverrides;
use orderbridge_sandbox::{RequestCount, SandboxConfig, Vendor, WebhookTarget, WindowLimit};
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

/// Creates one order in a channel now; returns its Import ID.
fn new_order(world: &World, index: usize) -> String {
    let state = world.sandbox.state();
    if index % 10 < 7 {
        let id = state.sellercloud_create_orders(1, &OrderOverrides::default())[0];
        format!("SC-{id}")
    } else {
        let id = state.bigcommerce_create_orders(1, &OrderOverrides::default())[0];
        format!("BC-{id}")
    }
}

/// The SQS event source and the EventBridge schedule, in the background: `pollers` consumers per
/// queue (long-polling one second) and a pull every `interval`.
struct Background {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    fn start(world: &Arc<World>, interval: Duration, pollers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        {
            let (world, stop) = (world.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let next = Instant::now() + interval;
                    let _ = world.app.run_pull(deadline_from(Duration::from_secs(120))).await;
                    while Instant::now() < next && !stop.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
        for shipments in [false, true] {
            for i in 0..pollers {
                let (world, stop) = (world.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    let queue = if shipments { &world.aws.resources.shipments } else { &world.aws.resources.orders };
                    while !stop.load(Ordering::SeqCst) {
                        let event = world.aws.receive_event(queue, 1).await;
                        if event.records.is_empty() {
                            continue;
                        }
                        let request_id = format!("bench-{i}-{}", uuid::Uuid::new_v4());
                        let deadline = deadline_from(Duration::from_secs(60));
                        let response = if shipments {
                            world.status.run_batch(event.clone(), deadline, &request_id).await
                        } else {
                            world.app.run_import_batch(event.clone(), deadline, &request_id).await
                        };
                        world.aws.delete_succeeded(queue, &event, &response).await;
                    }
                }));
            }
        }
        Self { stop, tasks }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Waits until `done` holds for every item or `limit` passes, checking every 100 ms; returns the
/// time each item was first seen done.
async fn watch<T: Clone>(items: &[(T, Instant)], limit: Duration, done: impl Fn(&T) -> bool) -> Vec<(T, Duration)> {
    let started = Instant::now();
    let mut seen: Vec<Option<Duration>> = vec![None; items.len()];
    while seen.iter().any(Option::is_none) && started.elapsed() < limit {
        for (i, (item, since)) in items.iter().enumerate() {
            if seen[i].is_none() && done(item) {
                seen[i] = Some(since.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    items.iter().zip(seen).filter_map(|((item, _), s)| s.map(|d| (item.clone(), d))).collect()
}

struct LatencyRun {
    orders: Vec<Duration>,
    orders_expected: usize,
    shipments: Vec<Duration>,
    shipments_expected: usize,
    aws: AwsUsage,
    deliveries: usize,
    webhook_handler: Vec<Duration>,
    vendor_orders: Vec<(Vendor, RequestCount)>,
    vendor_shipments: Vec<(Vendor, RequestCount)>,
}

async fn latency_run(world: &Arc<World>, meter: &AwsMeter, args: &Args) -> LatencyRun {
    let interval = Duration::from_secs(args.pull_interval_secs);
    let gap = Duration::from_secs(args.arrival_secs) / u32::try_from(args.latency_orders.max(1)).unwrap_or(1);
    let usage_before = meter.usage();
    let counts_before = vendor_counts(world);
    let background = Background::start(world, interval, 2);

    println!(
        "Latency: {} orders arriving over {} s, pull every {} s ...",
        args.latency_orders, args.arrival_secs, args.pull_interval_secs
    );
    let mut arrivals: Vec<(String, Instant)> = Vec::new();
    let started = Instant::now();
    for i in 0..args.latency_orders {
        tokio::time::sleep_until((started + gap * u32::try_from(i).unwrap_or(0)).into()).await;
        arrivals.push((new_order(world, i), Instant::now()));
    }
    let limit = interval * 3 + Duration::from_secs(180);
    let orders = watch(&arrivals, limit, |id| erp_orders_by_import_id(&world.sandbox).contains_key(id)).await;
    let counts_orders = vendor_counts(world);

    println!("Latency: {} shipments confirmed over {} s ...", orders.len(), args.arrival_secs);
    let deliveries_before = world.gateway.calls().len();
    let gap = Duration::from_secs(args.arrival_secs) / u32::try_from(orders.len().max(1)).unwrap_or(1);
    let mut confirmed: Vec<((String, String), Instant)> = Vec::new();
    let started = Instant::now();
    for (i, (import_id, _)) in orders.iter().enumerate() {
        tokio::time::sleep_until((started + gap * u32::try_from(i).unwrap_or(0)).into()).await;
        if let Some(tracking) = confirm_one_box(&world.sandbox, import_id) {
            confirmed.push(((import_id.clone(), tracking), Instant::now()));
        }
    }
    let shipments =
        watch(&confirmed, Duration::from_secs(240), |(id, tracking)| tracking_on_channel(&world.sandbox, id, tracking))
            .await;
    background.stop().await;
    let calls = world.gateway.calls();
    LatencyRun {
        orders: orders.iter().map(|(_, d)| *d).collect(),
        orders_expected: arrivals.len(),
        shipments: shipments.iter().map(|(_, d)| *d).collect(),
        shipments_expected: confirmed.len(),
        aws: usage_between(&usage_before, &meter.usage()),
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

struct BurstRun {
    orders: usize,
    sellercloud_orders: usize,
    imported: usize,
    elapsed: Duration,
    vendors: Vec<(Vendor, RequestCount)>,
}

async fn burst_run(world: &Arc<World>, args: &Args) -> BurstRun {
    println!("Throughput: {} orders waiting at once, documented rate limits ...", args.burst_orders);
    let ids: Vec<String> = (0..args.burst_orders).map(|i| new_order(world, i)).collect();
    let before = vendor_counts(world);
    let started = Instant::now();
    settle_orders(&world.app, &world.aws, 2, Duration::from_secs(1800)).await;
    let elapsed = started.elapsed();
    let after = vendor_counts(world);
    let erp = erp_orders_by_import_id(&world.sandbox);
    BurstRun {
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
}

/// Captures Acumatica's push notifications so the real shipment-webhook binary can be handed them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(String, Option<String>, HeaderMap, Bytes)>>>);

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

async fn binaries_run(
    world: &Arc<World>,
    meter: &AwsMeter,
    args: &Args,
    bin_dir: &Path,
) -> Result<Vec<BinaryRun>, BoxError> {
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
    for (run, (name, memory, timeout)) in runs.iter_mut().zip(&plan) {
        let log = logs.join(format!("{name}.log"));
        let process = FunctionProcess::start(&bin_dir.join(name), name, *memory, *timeout, &env, &log).await?;
        for i in 0..10 {
            let (payload, sqs): (Value, Option<SqsEvent>) = match name.as_str() {
                HELLO => (json!({"n": i}), None),
                "order-pull" => (scheduled_event(), None),
                "order-import" => match sqs_event(&world.aws, false).await {
                    Some(e) => (serde_json::to_value(&e)?, Some(e)),
                    None => break,
                },
                "shipment-webhook" => {
                    if i == 0 {
                        // Ship half of the orders the import just created; Acumatica pushes each
                        // shipment (and its order's status change) to the capture endpoint.
                        state.set_webhook(
                            Vendor::Acumatica,
                            Some(
                                WebhookTarget::new(format!("{capture_url}{ACUMATICA_ROUTE}"))
                                    .header(&world.secrets.acumatica_header, &world.secrets.acumatica_secret)
                                    .copies(1),
                            ),
                        );
                        for id in ids.iter().take(batch_orders / 2) {
                            confirm_one_box(&world.sandbox, id);
                        }
                        let until = Instant::now() + Duration::from_secs(30);
                        while captured.0.lock().map(|c| c.len()).unwrap_or(0) < batch_orders && Instant::now() < until {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    let delivery = captured.0.lock().ok().and_then(|c| c.get(i).cloned());
                    let Some((path, query, headers, body)) = delivery else { break };
                    (serde_json::to_value(api_gateway_event(&path, query.as_deref(), headers, &body))?, None)
                }
                _ => {
                    if i == 0 {
                        // The deliveries the binary did not take go through the in-process handler,
                        // so status-push has ten batches to work on.
                        let rest: Vec<_> =
                            captured.0.lock().map(|c| c.iter().skip(10).cloned().collect()).unwrap_or_default();
                        for (path, query, headers, body) in rest {
                            world.webhooks.handle(&api_gateway_event(&path, query.as_deref(), headers, &body)).await;
                        }
                    }
                    match sqs_event(&world.aws, true).await {
                        Some(e) => (serde_json::to_value(&e)?, Some(e)),
                        None => break,
                    }
                }
            };
            match process.api.invoke(payload).await {
                Ok((answer, took)) => {
                    run.durations.push(took);
                    if let Some(event) = &sqs {
                        run.items.push(event.records.len());
                        let response: SqsBatchResponse = serde_json::from_value(answer).unwrap_or_default();
                        let queue = if name == "status-push" {
                            &world.aws.resources.shipments
                        } else {
                            &world.aws.resources.orders
                        };
                        world.aws.delete_succeeded(queue, event, &response).await;
                    } else if name == "shipment-webhook" && answer["statusCode"] != 200 {
                        run.errors.push(format!("answered {}", answer["statusCode"]));
                    }
                }
                Err(e) => run.errors.push(e),
            }
        }
        run.peak_rss_kib = process.peak_rss_kib();
        if name == "status-push" {
            if let Ok((_, took)) = process.api.invoke(scheduled_event()).await {
                run.catch_up = Some(took);
            }
        }
        process.stop().await;
    }
    capture_task.abort();
    let erp = erp_orders_by_import_id(&world.sandbox);
    let imported = ids.iter().filter(|i| erp.contains_key(*i)).count();
    if imported < batch_orders {
        println!(
            "  note: {imported} of {batch_orders} orders reached the ERP through the binaries' ten import batches"
        );
    }
    Ok(runs)
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
    let per = |list: &[(Vendor, RequestCount)], vendor: Vendor, n: usize| {
        let c = list.iter().find(|(v, _)| *v == vendor).map(|(_, c)| c.total).unwrap_or(0);
        if n == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", c as f64 / n as f64)
        }
    };
    let bc = burst.orders - burst.sellercloud_orders;
    println!("| calls | burst (import only) | light load: import | light load: shipment back |");
    println!("|---|---|---|---|");
    let n_light = light.orders.len();
    let n_ship = light.shipments_expected;
    println!(
        "| Acumatica (ERP) per order | {} | {} | {} |",
        per(&burst.vendors, Vendor::Acumatica, burst.orders),
        per(&light.vendor_orders, Vendor::Acumatica, n_light),
        per(&light.vendor_shipments, Vendor::Acumatica, n_ship)
    );
    println!(
        "| channel per order (Sellercloud + BigCommerce) | {} | {} | {} |",
        per(&burst.vendors, Vendor::Sellercloud, burst.sellercloud_orders.max(1))
            .parse::<f64>()
            .map(|sc| {
                let bcv = per(&burst.vendors, Vendor::Bigcommerce, bc.max(1)).parse::<f64>().unwrap_or(0.0);
                format!("SC {sc:.2} / BC {bcv:.2}")
            })
            .unwrap_or_else(|_| "-".into()),
        format!(
            "{} total",
            per(&light.vendor_orders, Vendor::Sellercloud, n_light).parse::<f64>().unwrap_or(0.0)
                + per(&light.vendor_orders, Vendor::Bigcommerce, n_light).parse::<f64>().unwrap_or(0.0)
        ),
        format!(
            "{:.2} total",
            per(&light.vendor_shipments, Vendor::Sellercloud, n_ship).parse::<f64>().unwrap_or(0.0)
                + per(&light.vendor_shipments, Vendor::Bigcommerce, n_ship).parse::<f64>().unwrap_or(0.0)
        )
    );
    println!("(burst: per channel order of that channel; light load: all channel calls / orders, pulls on the schedule included)");
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

fn print_cost(light: &LatencyRun, runs: &[BinaryRun]) {
    let find = |name: &str| runs.iter().find(|r| r.name == name);
    let (Some(pull), Some(import), Some(webhook), Some(push)) =
        (find("order-pull"), find("order-import"), find("shipment-webhook"), find("status-push"))
    else {
        return;
    };
    let orders = Decimal::from(light.orders.len().max(1) as u64);
    let shipments = Decimal::from(light.shipments_expected.max(1) as u64);
    let deliveries_per_shipment = ratio(Decimal::from(light.deliveries as u64), shipments);
    let imported: usize = import.items.iter().sum();
    let pushed: usize = push.items.iter().sum();
    // The first scheduled pull of the batch run found the new orders; the others are the idle
    // schedule.
    let pull_busy = pull.durations.first().copied().map(|d| vec![d]).unwrap_or_default();
    let pull_idle: Vec<Duration> = pull.durations.iter().skip(1).copied().collect();
    let mut per = PerOrder::default();
    per.lambda_gb_seconds = ratio(gb_seconds(&pull_busy, pull.memory_mb), Decimal::from(imported.max(1) as u64))
        + ratio(gb_seconds(&import.durations, import.memory_mb), Decimal::from(imported.max(1) as u64))
        + ratio(gb_seconds(&webhook.durations, webhook.memory_mb), Decimal::from(webhook.durations.len() as u64))
            * deliveries_per_shipment
        + ratio(gb_seconds(&push.durations, push.memory_mb), Decimal::from(pushed.max(1) as u64))
            * deliveries_per_shipment;
    per.lambda_invocations = ratio(Decimal::from(import.durations.len() as u64), Decimal::from(imported.max(1) as u64))
        + deliveries_per_shipment
        + ratio(Decimal::from(push.durations.len() as u64), Decimal::from(pushed.max(1) as u64))
            * deliveries_per_shipment;
    let sqs = service_total(&light.aws, "sqs");
    let sends = light.aws.iter().filter(|(op, _)| op.starts_with("sqs:Send")).map(|(_, s)| s.calls).sum::<u64>();
    let receives = light.aws.get("sqs:ReceiveMessage").map(|s| s.calls - s.empty_receives).unwrap_or(0);
    // Each non-empty receive is followed by one DeleteMessageBatch in Lambda's event source.
    per.sqs_requests = ratio(Decimal::from(sends + 2 * receives), orders);
    let dynamo = service_total(&light.aws, "dynamodb");
    per.dynamodb_wru = ratio(Decimal::from(dynamo.write_units), orders);
    per.dynamodb_rru = ratio(Decimal::from(dynamo.read_units), orders);
    per.http_api_requests = deliveries_per_shipment;
    let prices = Prices::default();
    println!();
    println!("## Cost per million orders (each imported once and shipped back once), AWS list prices us-east-1, free tiers ignored");
    println!("| item | per order | per million orders | unit price | cost |");
    println!("|---|---|---|---|---|");
    let per_order = |q: Decimal| q / Decimal::from(1_000_000);
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
            per_order(line.quantity).round_dp(5),
            line.unit,
            line.quantity.round_dp(0),
            unit_price,
            line.cost
        );
    }
    println!("| **total** | | | | **${total}** |");
    let idle_pull = gb_seconds(&pull_idle, pull.memory_mb) / Decimal::from(pull_idle.len().max(1) as u64);
    let catch_up = push.catch_up.map(|d| gb_seconds(&[d], push.memory_mb)).unwrap_or_default();
    let pulls = Decimal::from(PULLS_PER_MONTH);
    let fixed_lambda = (idle_pull + catch_up) * pulls * prices.lambda_gb_second
        + Decimal::from(2 * PULLS_PER_MONTH) * prices.lambda_per_million_requests / Decimal::from(1_000_000);
    // Lambda's SQS pollers long-poll each queue continuously: 5 pollers × 3 receives a minute.
    let idle_receives = Decimal::from(2u64 * 5 * 3 * 60 * 24 * 30);
    let fixed_sqs = idle_receives * prices.sqs_per_million_requests / Decimal::from(1_000_000);
    println!(
        "Fixed per month whatever the volume: scheduled pull + catch-up poll every 5 min ({} invocations each, {:.3} + {:.3} GB-s per run) ${}; SQS event-source long polling of 2 queues (~{} receives) ${}.",
        PULLS_PER_MONTH,
        idle_pull,
        catch_up,
        fixed_lambda.round_dp(2),
        idle_receives,
        fixed_sqs.round_dp(2)
    );
    println!(
        "How: GB-s from the release binaries' invocation times above (billed per ms) × the template's memory; {deliveries_per_shipment:.2} webhook deliveries per shipment ({} Acumatica pushes for {} shipments); SQS and DynamoDB from every call the functions made in the latency run (metering proxy: {} SQS calls, {} DynamoDB calls, WRU = started KiB of each write request, RRU = started 4 KiB of each read response); ESM receive+delete counted once per non-empty batch.",
        light.deliveries, light.shipments_expected, sqs.calls, dynamo.calls
    );
    println!("Not included: CloudWatch Logs ingestion, Secrets Manager, data transfer, DynamoDB storage.");
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    orderbridge::telemetry::init();
    let args = Args::parse();
    let upstream =
        std::env::var("AWS_ENDPOINT_URL").map_err(|_| "AWS_ENDPOINT_URL is unset: run through `make bench`")?;
    let meter = AwsMeter::start(&upstream).await?;
    // Everything below (the in-process handlers, the harness, the binaries) reaches the emulator
    // through the meter.
    std::env::set_var("AWS_ENDPOINT_URL", &meter.url);
    let sandbox = SandboxConfig {
        seed: args.seed,
        sellercloud_orders: 0,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let limits = sandbox.limits.clone();
    let world = Arc::new(World::start(WorldConfig::demo(&unique_prefix("orderbridge-bench"), sandbox)).await?);
    world.route_acumatica_pushes(Some(1));
    let started = Instant::now();

    let light = latency_run(&world, &meter, &args).await;
    let burst = burst_run(&world, &args).await;
    let runs = if args.skip_binaries {
        Vec::new()
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
    print_throughput(&burst, &light, &limits);
    if !runs.is_empty() {
        print_binaries(&runs);
        print_cost(&light, &runs);
    }
    let failed = light.orders.len() < light.orders_expected
        || light.shipments.len() < light.shipments_expected
        || burst.imported < burst.orders
        || runs.iter().any(|r| !r.errors.is_empty());
    if failed {
        println!("\nSome measurement did not complete (see the n columns and errors): figures above are partial.");
        std::process::exit(1);
    }
    Ok(())
}

//! `make soak`: steady traffic for a long time (default an hour) and whether anything drifts.
//!
//! Orders arrive in the channels at a fixed rate (70 % Sellercloud, 30 % BigCommerce) while the
//! pull runs on its schedule and each queue's consumers run as the SQS event source would; every
//! imported order is shipped in the ERP at once (a one-box shipment whose push notification comes
//! twice), and status-push puts its tracking on the channel order. Every vendor fails now and
//! then (1 % 500, 1 % 503, 2 % 429, 1 % commit-then-fail). Every window (default five minutes)
//! prints: orders arrived and imported, order latency (created in the channel → ERP order) and
//! shipment latency (confirmed → tracking on the channel) percentiles, the largest backlog seen
//! (messages waiting or in flight), DLQ depth, the live heap and the resident memory of this
//! process (the handlers, with the vendor sandbox beside them) and the emulator's resident memory.
//! At the end it checks that nothing was lost and that the live heap, latency and backlog stayed
//! flat, and exits 1 otherwise.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use orderbridge_harness::aws::unique_prefix;
use orderbridge_harness::bench::{show, Spread};
use orderbridge_harness::report::{confirm_one_box, erp_order_numbers, tracking_on_channel};
use orderbridge_harness::traffic::{empty_sandbox, new_order, quiet_logs, Background};
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::{FaultSpec, Vendor};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Counts the bytes this process holds allocated. Resident memory also carries what the allocator
/// keeps for reuse and its fragmentation (glibc's per-thread arenas grow for a while under a
/// multi-threaded runtime and rarely give back), so a leak is judged on the live heap.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

#[derive(Parser)]
#[command(name = "orderbridge-soak", about = "Steady traffic with faults; memory, latency and backlog over time")]
struct Args {
    /// How long the traffic runs.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
    /// New channel orders per minute (each shipped once imported). The sandbox enforces the
    /// vendors' documented limits, and Acumatica's licence (100 requests a minute) carries about
    /// 10 orders a minute with their shipments today (`make bench`).
    #[arg(long, default_value_t = 6)]
    orders_per_minute: u32,
    /// Seconds between scheduled pulls (the template's default is 5 minutes).
    #[arg(long, default_value_t = 30)]
    pull_interval_secs: u64,
    /// Length of one report window.
    #[arg(long, default_value_t = 300)]
    window_secs: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The most the process's live heap may grow in the second half of the run, in KiB per order
    /// that arrived meanwhile. The sandbox forgets each finished order a window after its
    /// tracking lands (as a vendor's database archives it) and the test history every window;
    /// what it keeps for good per order (write counts, new buyers' customer records) is a few KiB.
    #[arg(long, default_value_t = 16)]
    max_growth_kib_per_order: u64,
}

/// How often pending orders and shipments are checked (the latencies' resolution).
const TICK: Duration = Duration::from_secs(1);
/// How often memory and queues are sampled.
const SAMPLE: Duration = Duration::from_secs(10);
/// status-push's scheduled catch-up poll, as the template deploys it: what a lost push
/// notification left behind is found here.
const CATCH_UP: Duration = Duration::from_secs(300);
/// How long the end waits for what is still on its way once the traffic stops.
const SETTLE: Duration = Duration::from_secs(240);

fn faults() -> FaultSpec {
    FaultSpec {
        p500: 0.01,
        p503: 0.01,
        p429: 0.02,
        p_commit_then_fail: 0.01,
        jitter_ms: 2,
        throttle_reset_ms: 250,
        ..FaultSpec::default()
    }
}

/// What one window saw.
#[derive(Default)]
struct Window {
    arrived: usize,
    imported: Vec<Duration>,
    shipped: Vec<Duration>,
    backlog_max: u64,
    dlq: u64,
    /// Acumatica push deliveries that needed more than one attempt, and those never delivered.
    pushes_retried: usize,
    pushes_lost: usize,
    heap: Vec<u64>,
    rss_self: Vec<u64>,
    rss_emulator: Vec<u64>,
}

/// Resident memory of a process in KiB (`VmRSS`), None when it cannot be read.
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The emulator's processes (`infra/local/stack.sh` writes their pids under `.local/`).
fn emulator_rss_kib() -> Option<u64> {
    let pids: Vec<String> = ["moto.pid", "moto-sqs.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!(".local/{f}")).ok())
        .map(|p| p.trim().to_owned())
        .collect();
    let total: u64 = pids.iter().filter_map(|p| rss_kib(p)).sum();
    (total > 0).then_some(total)
}

/// Counts the window's Acumatica push deliveries that took retries or were given up on (the
/// sandbox tries each copy three times); the caller then clears the sandbox's record.
fn count_pushes(world: &World, window: &mut Window) {
    for delivery in world.sandbox.state().deliveries(Vendor::Acumatica) {
        window.pushes_retried += usize::from(delivery.attempts.len() > 1);
        window.pushes_lost += usize::from(!delivery.delivered);
    }
}

fn cell(d: Option<Duration>) -> String {
    d.map(show).unwrap_or_else(|| "–".into())
}

fn median(values: &[u64]) -> Option<u64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// KiB as MiB with `places` decimals, "–" when unknown.
fn mib(kib: Option<u64>, places: usize) -> String {
    kib.map(|k| format!("{:.places$}", k as f64 / 1024.0)).unwrap_or_else(|| "–".into())
}

/// One figure of a window, compared between the halves of the run.
type Measure = fn(&Row) -> Option<u64>;

struct Row {
    end_min: f64,
    arrived: usize,
    imported: usize,
    /// Order latency (None when no order was imported in the window).
    orders: Option<Spread>,
    shipped: usize,
    /// Shipment latency.
    shipments: Option<Spread>,
    backlog_max: u64,
    dlq: u64,
    pushes_retried: usize,
    pushes_lost: usize,
    /// Live heap in KiB (median of the window's samples).
    heap: Option<u64>,
    rss_self: Option<u64>,
    rss_emulator: Option<u64>,
}

impl Row {
    fn of(window: &Window, end_min: f64) -> Self {
        Row {
            end_min,
            arrived: window.arrived,
            imported: window.imported.len(),
            orders: Spread::of(&window.imported),
            shipped: window.shipped.len(),
            shipments: Spread::of(&window.shipped),
            backlog_max: window.backlog_max,
            dlq: window.dlq,
            pushes_retried: window.pushes_retried,
            pushes_lost: window.pushes_lost,
            heap: median(&window.heap),
            rss_self: median(&window.rss_self),
            rss_emulator: median(&window.rss_emulator),
        }
    }

    fn print(&self) {
        println!(
            "| {:>5.1} | {:>4} | {:>4} | {:>7} | {:>7} | {:>7} | {:>4} | {:>7} | {:>7} | {:>4} | {:>3} | {:>3} / {:>1} | {:>5} | {:>4} | {:>5} |",
            self.end_min,
            self.arrived,
            self.imported,
            cell(self.orders.as_ref().map(|s| s.p50)),
            cell(self.orders.as_ref().map(|s| s.p95)),
            cell(self.orders.as_ref().map(|s| s.max)),
            self.shipped,
            cell(self.shipments.as_ref().map(|s| s.p50)),
            cell(self.shipments.as_ref().map(|s| s.p95)),
            self.backlog_max,
            self.dlq,
            self.pushes_retried,
            self.pushes_lost,
            mib(self.heap, 1),
            mib(self.rss_self, 0),
            mib(self.rss_emulator, 0),
        );
    }
}

fn header() {
    println!(
        "| min | orders in | imported | order p50 | order p95 | order max | shipped | ship p50 | ship p95 | backlog max | DLQ | pushes retried / lost | heap MiB (live) | RSS MiB (handlers + sandbox) | RSS MiB (emulator) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    quiet_logs();
    let args = Args::parse();
    let mut sandbox = empty_sandbox(args.seed);
    for vendor in [Vendor::Acumatica, Vendor::Sellercloud, Vendor::Bigcommerce] {
        sandbox.faults.set(vendor, faults());
    }
    let world = Arc::new(World::start(WorldConfig::demo(&unique_prefix("orderbridge-soak"), sandbox)).await?);
    world.route_acumatica_pushes(Some(2));
    let interval = Duration::from_secs(args.pull_interval_secs);
    let background = Background::start(&world, interval, 2);
    let catch_up = {
        let world = world.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CATCH_UP).await;
                let _ = world.status.run_catch_up().await;
            }
        })
    };
    let queues = [world.aws.resources.orders.url.clone(), world.aws.resources.shipments.url.clone()];
    let dlqs = [world.aws.resources.orders.dlq_url.clone(), world.aws.resources.shipments.dlq_url.clone()];

    println!(
        "Soak: {} orders a minute for {} minutes, pull every {} s, faults {:?}; a row every {} s.",
        args.orders_per_minute,
        args.minutes,
        args.pull_interval_secs,
        faults(),
        args.window_secs
    );
    header();
    let started = Instant::now();
    let end = started + Duration::from_secs(args.minutes * 60);
    let gap = Duration::from_secs_f64(60.0 / f64::from(args.orders_per_minute.max(1)));
    let window_len = Duration::from_secs(args.window_secs.max(SAMPLE.as_secs()));
    let mut next_order = started;
    let mut next_sample = started;
    let mut window_end = started + window_len;
    let mut index = 0usize;
    let mut pending_orders: VecDeque<(String, Instant)> = VecDeque::new();
    let mut pending_shipments: Vec<(String, String, Instant)> = Vec::new();
    // Orders whose tracking reached the channel in this window, and in the one before: the
    // sandbox forgets the latter at the window's end (late duplicate deliveries of their push
    // notifications have come and gone by then).
    let mut finished: Vec<String> = Vec::new();
    let mut finished_before: Vec<String> = Vec::new();
    let mut forgotten = 0usize;
    let (mut total_orders, mut total_imported, mut total_shipped) = (0usize, 0usize, 0usize);
    let mut window = Window::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut settle_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now < end {
            while next_order <= now {
                let id = new_order(&world, index);
                index += 1;
                total_orders += 1;
                window.arrived += 1;
                pending_orders.push_back((id, next_order));
                next_order += gap;
            }
        } else if settle_until.is_none() {
            settle_until = Some(now + SETTLE);
        }
        // Imported orders: measured, then shipped at once.
        if !pending_orders.is_empty() {
            let in_erp = erp_order_numbers(&world.sandbox, pending_orders.iter().map(|(id, _)| id.as_str()));
            let mut still = VecDeque::new();
            for (id, since) in pending_orders.drain(..) {
                if in_erp.contains_key(&id) {
                    window.imported.push(since.elapsed());
                    total_imported += 1;
                    if let Some(tracking) = confirm_one_box(&world.sandbox, &id) {
                        pending_shipments.push((id, tracking, Instant::now()));
                    }
                } else {
                    still.push_back((id, since));
                }
            }
            pending_orders = still;
        }
        pending_shipments.retain(|(id, tracking, since)| {
            if tracking_on_channel(&world.sandbox, id, tracking) {
                window.shipped.push(since.elapsed());
                total_shipped += 1;
                finished.push(id.clone());
                false
            } else {
                true
            }
        });
        if now >= next_sample {
            next_sample += SAMPLE;
            let mut backlog = 0;
            for url in &queues {
                let (visible, in_flight) = world.aws.queue_depth(url).await;
                backlog += visible + in_flight;
            }
            let mut dlq = 0;
            for url in &dlqs {
                let (visible, in_flight) = world.aws.queue_depth(url).await;
                dlq += visible + in_flight;
            }
            window.backlog_max = window.backlog_max.max(backlog);
            window.dlq = dlq;
            window.heap.push(ALLOCATOR.allocated() as u64 / 1024);
            if let Some(k) = rss_kib("self") {
                window.rss_self.push(k);
            }
            if let Some(k) = emulator_rss_kib() {
                window.rss_emulator.push(k);
            }
        }
        if now >= window_end && window_end <= end {
            count_pushes(&world, &mut window);
            // The write events and webhook deliveries the sandbox records for tests: nothing
            // else of this run reads them, and kept for an hour they would be most of the growth.
            world.sandbox.state().forget_history();
            forgotten += world.sandbox.state().forget_orders(&finished_before);
            finished_before = std::mem::take(&mut finished);
            let row = Row::of(&window, started.elapsed().as_secs_f64() / 60.0);
            row.print();
            rows.push(row);
            window = Window::default();
            window_end += window_len;
        }
        let settled = pending_orders.is_empty() && pending_shipments.is_empty();
        if let Some(until) = settle_until {
            if settled || Instant::now() > until {
                break;
            }
        }
        tokio::time::sleep(TICK).await;
    }
    catch_up.abort();
    background.stop().await;
    count_pushes(&world, &mut window);
    if !window.imported.is_empty() || !window.shipped.is_empty() {
        let row = Row::of(&window, started.elapsed().as_secs_f64() / 60.0);
        println!("(after the traffic stopped)");
        row.print();
    }

    // Flat: the second half against the first (the first window is warm-up).
    println!();
    println!(
        "Soak after {:.0} min: {total_orders} orders, {total_imported} imported, {total_shipped} tracking numbers on the channel; \
         {} orders and {} shipments still on their way; the sandbox archived {forgotten} finished orders.",
        started.elapsed().as_secs_f64() / 60.0,
        pending_orders.len(),
        pending_shipments.len()
    );
    let retried: usize = rows.iter().map(|r| r.pushes_retried).sum::<usize>() + window.pushes_retried;
    let lost: usize = rows.iter().map(|r| r.pushes_lost).sum::<usize>() + window.pushes_lost;
    println!(
        "  Acumatica push deliveries: {retried} needed a retry, {lost} were given up by the sender (the catch-up poll finds what those carried)."
    );
    let mut problems = Vec::new();
    if !pending_orders.is_empty() || !pending_shipments.is_empty() {
        problems.push(format!(
            "{} orders not in the ERP and {} shipments not on the channel {} after the traffic stopped",
            pending_orders.len(),
            pending_shipments.len(),
            show(SETTLE)
        ));
    }
    let measured: Vec<&Row> = rows.iter().skip(1).collect();
    if measured.len() >= 2 {
        let half = measured.len() / 2;
        let (early, late) = measured.split_at(half);
        let max_of = |rows: &[&Row], f: Measure| rows.iter().filter_map(|r| f(r)).max();
        // Memory: the growth across the second half per order that arrived in it. A peak bound
        // (second half against the first) lets a slow linear leak through, a rate does not. The
        // live heap decides; resident memory is shown beside it.
        if let (Some(first), Some(last)) = (late.first(), late.last()) {
            let orders: usize = late.iter().skip(1).map(|r| r.arrived).sum::<usize>().max(1);
            let hours = ((last.end_min - first.end_min) / 60.0).max(1.0 / 60.0);
            // (KiB per order, MiB per hour) from a to b KiB.
            let growth = |a: u64, b: u64| {
                let grown = b.saturating_sub(a);
                (grown / orders as u64, grown as f64 / 1024.0 / hours)
            };
            if let (Some(a), Some(b)) = (first.rss_self, last.rss_self) {
                let (per_order, per_hour) = growth(a, b);
                println!(
                    "  resident memory (handlers + sandbox): {} → {} MiB over the second half, {per_hour:.1} MiB/h, {per_order} KiB per order (shown, not judged)",
                    a / 1024,
                    b / 1024,
                );
            }
            if let (Some(a), Some(b)) = (first.heap, last.heap) {
                let (per_order, per_hour) = growth(a, b);
                let verdict = if per_order <= args.max_growth_kib_per_order { "flat" } else { "GROWS" };
                println!(
                    "  live heap (handlers + sandbox): {:.1} → {:.1} MiB over the second half, {per_hour:.1} MiB/h, {per_order} KiB per order (bound {} KiB): {verdict}",
                    a as f64 / 1024.0,
                    b as f64 / 1024.0,
                    args.max_growth_kib_per_order
                );
                if per_order > args.max_growth_kib_per_order {
                    problems.push(format!("the live heap grew {per_order} KiB per order in the second half"));
                }
            }
        }
        let checks: [(&str, Measure, f64, u64); 3] = [
            ("order latency p95 (ms)", |r| r.orders.as_ref().map(|s| s.p95.as_millis() as u64), 1.5, 5_000),
            ("shipment latency p95 (ms)", |r| r.shipments.as_ref().map(|s| s.p95.as_millis() as u64), 1.5, 5_000),
            ("backlog (messages)", |r| Some(r.backlog_max), 2.0, u64::from(args.orders_per_minute)),
        ];
        for (what, f, slack_ratio, slack_abs) in checks {
            if let (Some(a), Some(b)) = (max_of(early, f), max_of(late, f)) {
                let bound = (a as f64 * slack_ratio) as u64 + slack_abs;
                let verdict = if b <= bound { "flat" } else { "GROWS" };
                println!("  {what}: first half max {a}, second half max {b} (bound {bound}): {verdict}");
                if b > bound {
                    problems.push(format!("{what} grew from {a} to {b}"));
                }
            }
        }
    } else {
        println!("  (too short to compare halves: run at least three windows)");
    }
    if problems.is_empty() {
        println!("  verdict: flat, nothing lost");
        Ok(())
    } else {
        for p in &problems {
            println!("  problem: {p}");
        }
        std::process::exit(1);
    }
}

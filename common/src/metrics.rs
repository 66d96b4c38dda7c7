//! CloudWatch metrics in the embedded metric format (EMF): the metric names, units and
//! dimensions, the recorder a function installs, the per-invocation duration and cost estimate,
//! and the same order counts computed from the connector log (for the operator console).
//!
//! Recording goes through the `metrics` facade: with no recorder installed (tests, the demo, the
//! harness calling handlers in-process) every call is a no-op. A Lambda installs
//! `metrics_cloudwatch_embedded`'s recorder ([`install`]) and runs through [`run_metered`], which
//! flushes after each invocation: one JSON line on stdout per dimension set that has data.
//! CloudWatch Logs turns those lines into metrics; nothing calls `PutMetricData`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::metrics::Unit;
use lambda_runtime::{layers::TracingLayer, LambdaEvent, Runtime};
use metrics_cloudwatch_embedded::lambda::MetricsLayer;
pub use metrics_cloudwatch_embedded::{Builder, Collector};
use serde::{Deserialize, Serialize};

use crate::model::ConnectionId;
use crate::ports::{LogEntry, LogResult};

/// The CloudWatch namespace of every Orderbridge metric.
pub const NAMESPACE: &str = "Orderbridge";

/// Dimension on every metric: the Lambda function's name (`orderbridge-<stage>-order-import`),
/// so two stages in one account stay apart.
pub const FUNCTION: &str = "Function";
/// Dimension of the vendor call metrics: the vendor profile's name (`acumatica`, `sellercloud`, ...).
pub const VENDOR: &str = "Vendor";
/// Dimension of the order and shipment metrics' second set: the connection id.
pub const CONNECTION: &str = "Connection";

/// Orders a scheduled pull listed as new in a channel (Count).
pub const ORDERS_SEEN: &str = "OrdersSeen";
/// Orders created in the ERP (or found created by an earlier attempt), and imported orders whose
/// ERP order was updated to a change in the channel (Count): connector-log result `success`.
pub const ORDERS_IMPORTED: &str = "OrdersImported";
/// Orders whose import failed permanently and was written back to the channel (Count): result
/// `failure`. Retried failures are not counted; they end in the DLQ and its alarm.
pub const ORDERS_FAILED: &str = "OrdersFailed";
/// Orders not imported on purpose: already imported, published from the ERP, connection
/// disabled, a change the ERP order could not take (Count): result `skipped`.
pub const ORDERS_SKIPPED: &str = "OrdersSkipped";
/// Shipments whose tracking was pushed to a channel (Count).
pub const SHIPMENTS_PUSHED: &str = "ShipmentsPushed";
/// From the channel order's placed time to its ERP order's creation (Milliseconds).
pub const ORDER_LATENCY: &str = "OrderLatency";
/// HTTP requests sent to a vendor, retries included (Count, dimension Vendor).
pub const VENDOR_CALLS: &str = "VendorCalls";
/// Vendor responses that said "slow down": every 429, and a vendor's own throttling signal on
/// another status (Count, dimension Vendor).
pub const VENDOR_THROTTLED: &str = "VendorThrottled";
/// Wall time of one invocation's handler (Milliseconds).
pub const INVOCATION_DURATION: &str = "InvocationDuration";
/// US dollars per 1,000 orders (or shipments, in status-push) this invocation cost, from its
/// duration, memory and AWS requests at list prices (unit None: CloudWatch has no currency).
pub const ESTIMATED_COST_PER_1000_ORDERS: &str = "EstimatedCostPer1000Orders";

/// Environment switch: `emf` prints metrics anywhere, `off` nowhere; unset prints them only in
/// Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), so local runs stay quiet unless asked.
pub const SWITCH_VAR: &str = "ORDERBRIDGE_METRICS";

// AWS list prices, us-east-1, on-demand, free tiers ignored (the same as README "Cost per million
// orders" and tests/harness/src/bench.rs `Prices`). Sources: aws.amazon.com/lambda/pricing
// (arm64 duration, first tier; requests), aws.amazon.com/dynamodb/pricing/on-demand (since the
// November 2024 reduction), aws.amazon.com/sqs/pricing (standard queues). Re-price here.
/// Lambda arm64 duration, USD per GB-second.
pub const LAMBDA_ARM64_GB_SECOND_USD: f64 = 0.000_013_333_4;
/// Lambda requests, USD per request ($0.20 per million).
pub const LAMBDA_REQUEST_USD: f64 = 0.20 / 1e6;
/// DynamoDB on-demand write request unit, USD ($0.625 per million).
pub const DYNAMODB_WRITE_USD: f64 = 0.625 / 1e6;
/// DynamoDB on-demand read request unit, USD ($0.125 per million).
pub const DYNAMODB_READ_USD: f64 = 0.125 / 1e6;
/// SQS standard request, USD ($0.40 per million).
pub const SQS_REQUEST_USD: f64 = 0.40 / 1e6;
/// Memory when `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is absent (Lambda's own default), in MB.
pub const DEFAULT_MEMORY_MB: u64 = 128;

/// Work items this process handled (orders seen, imported, failed or skipped; shipments
/// pushed): the denominator of the cost estimate. Monotonic; an invocation reads its difference.
static HANDLED: AtomicU64 = AtomicU64::new(0);
static DYNAMODB_READS: AtomicU64 = AtomicU64::new(0);
static DYNAMODB_WRITES: AtomicU64 = AtomicU64::new(0);
static SQS_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Installs the EMF recorder for `function` (the binary's name; Lambda's own function name is
/// used when set) if [`SWITCH_VAR`] allows it here. None: metrics stay no-ops.
pub fn install(function: &str) -> Option<&'static Collector> {
    let lambda_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|n| !n.is_empty());
    if !enabled(std::env::var(SWITCH_VAR).ok().as_deref(), lambda_name.is_some()) {
        return None;
    }
    let name = lambda_name.unwrap_or_else(|| function.to_owned());
    // The request id goes on each line as a property (not a dimension), to find an
    // invocation's log lines from a data point.
    match builder(&name).with_lambda_request_id("RequestId").init() {
        Ok(collector) => {
            describe();
            Some(collector)
        }
        Err(e) => {
            tracing::warn!(error = %e, "Metrics recorder not installed; this process emits no metrics.");
            None
        }
    }
}

/// Whether EMF lines are printed: `emf` always, `off` never, otherwise only in Lambda.
fn enabled(switch: Option<&str>, in_lambda: bool) -> bool {
    match switch.map(str::trim) {
        Some("emf") => true,
        Some("off") => false,
        _ => in_lambda,
    }
}

/// The recorder's settings: our namespace and the `Function` dimension.
pub fn builder(function: &str) -> Builder {
    Builder::new().cloudwatch_namespace(NAMESPACE).with_dimension(FUNCTION, function.to_owned())
}

/// Declares each metric's unit to the installed recorder (a unit is per name, whatever its labels).
pub fn describe() {
    for name in [ORDERS_SEEN, ORDERS_IMPORTED, ORDERS_FAILED, ORDERS_SKIPPED, SHIPMENTS_PUSHED] {
        ::metrics::describe_counter!(name, Unit::Count, "");
    }
    for name in [VENDOR_CALLS, VENDOR_THROTTLED] {
        ::metrics::describe_counter!(name, Unit::Count, "");
    }
    ::metrics::describe_histogram!(ORDER_LATENCY, Unit::Milliseconds, "");
    ::metrics::describe_histogram!(INVOCATION_DURATION, Unit::Milliseconds, "");
    // EstimatedCostPer1000Orders stays undescribed: no unit is CloudWatch's `None`.
}

/// Runs the Lambda runtime with `handler`, each invocation metered ([`INVOCATION_DURATION`],
/// [`ESTIMATED_COST_PER_1000_ORDERS`]) and, when a recorder is installed, its metrics flushed
/// to stdout as it ends. Replaces `lambda_runtime::run(service_fn(handler))`.
pub async fn run_metered<A, R, F, Fut>(
    collector: Option<&'static Collector>,
    mut handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: FnMut(LambdaEvent<A>) -> Fut,
    Fut: Future<Output = Result<R, lambda_runtime::Error>>,
    A: for<'de> Deserialize<'de>,
    R: Serialize,
{
    let memory_mb = memory_mb(std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok().as_deref());
    let service = lambda_runtime::service_fn(move |event: LambdaEvent<A>| metered(memory_mb, handler(event)));
    // The metrics layer is outermost: it flushes once the metered handler has recorded.
    let runtime = Runtime::new(service).layer(TracingLayer::new());
    match collector {
        Some(collector) => runtime.layer(MetricsLayer::new(collector)).run().await,
        None => runtime.run().await,
    }
}

/// Times one invocation and records its duration and cost per 1,000 items.
pub async fn metered<R>(memory_mb: u64, invocation: impl Future<Output = R>) -> R {
    let before = Usage::now();
    let started = Instant::now();
    let result = invocation.await;
    record_invocation(started.elapsed(), memory_mb, Usage::now().since(&before));
    result
}

/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB; Lambda's default when absent or unreadable.
pub fn memory_mb(value: Option<&str>) -> u64 {
    value.and_then(|v| v.trim().parse().ok()).filter(|mb| *mb > 0).unwrap_or(DEFAULT_MEMORY_MB)
}

/// What this process has handled and requested so far (monotonic counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub handled: u64,
    pub dynamodb_reads: u64,
    pub dynamodb_writes: u64,
    pub sqs_requests: u64,
}

impl Usage {
    fn now() -> Self {
        Self {
            handled: HANDLED.load(Ordering::Relaxed),
            dynamodb_reads: DYNAMODB_READS.load(Ordering::Relaxed),
            dynamodb_writes: DYNAMODB_WRITES.load(Ordering::Relaxed),
            sqs_requests: SQS_REQUESTS.load(Ordering::Relaxed),
        }
    }

    fn since(&self, earlier: &Self) -> Self {
        Self {
            handled: self.handled.saturating_sub(earlier.handled),
            dynamodb_reads: self.dynamodb_reads.saturating_sub(earlier.dynamodb_reads),
            dynamodb_writes: self.dynamodb_writes.saturating_sub(earlier.dynamodb_writes),
            sqs_requests: self.sqs_requests.saturating_sub(earlier.sqs_requests),
        }
    }
}

/// USD one invocation cost: its billed duration (whole ms) × memory at the arm64 price, the
/// request, and the DynamoDB and SQS requests it made (each DynamoDB request priced as one unit:
/// our items are small; Lambda's own SQS polling is not seen here).
pub fn invocation_cost(duration: Duration, memory_mb: u64, usage: &Usage) -> f64 {
    let billed_ms = duration.as_millis().max(1) as f64;
    let gb_seconds = billed_ms / 1000.0 * memory_mb as f64 / 1024.0;
    gb_seconds * LAMBDA_ARM64_GB_SECOND_USD
        + LAMBDA_REQUEST_USD
        + usage.dynamodb_writes as f64 * DYNAMODB_WRITE_USD
        + usage.dynamodb_reads as f64 * DYNAMODB_READ_USD
        + usage.sqs_requests as f64 * SQS_REQUEST_USD
}

/// USD per 1,000 items at this invocation's cost; None when it handled none (no meaningful rate).
pub fn cost_per_1000(cost: f64, handled: u64) -> Option<f64> {
    (handled > 0).then(|| cost / handled as f64 * 1000.0)
}

fn record_invocation(duration: Duration, memory_mb: u64, usage: Usage) {
    ::metrics::histogram!(INVOCATION_DURATION).record(duration.as_secs_f64() * 1000.0);
    if let Some(rate) = cost_per_1000(invocation_cost(duration, memory_mb, &usage), usage.handled) {
        // A histogram, not a gauge: the recorder repeats a gauge's last value on every flush,
        // which would price invocations that handled nothing.
        ::metrics::histogram!(ESTIMATED_COST_PER_1000_ORDERS).record(rate);
    }
}

/// How one order's import ended, as the connector log's result words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderResult {
    Imported,
    Failed,
    Skipped,
}

/// One order's import outcome; counted in total and per connection.
pub fn record_order(connection: &ConnectionId, result: OrderResult) {
    let name = match result {
        OrderResult::Imported => ORDERS_IMPORTED,
        OrderResult::Failed => ORDERS_FAILED,
        OrderResult::Skipped => ORDERS_SKIPPED,
    };
    count(name, connection, 1);
}

/// Orders a pull listed as new in `connection`.
pub fn record_orders_seen(connection: &ConnectionId, listed: u64) {
    count(ORDERS_SEEN, connection, listed);
}

/// Shipments pushed to `connection`.
pub fn record_shipments_pushed(connection: &ConnectionId, shipments: u64) {
    count(SHIPMENTS_PUSHED, connection, shipments);
}

/// From a channel order's placed time to its ERP order's creation.
pub fn record_order_latency(connection: &ConnectionId, latency: Duration) {
    let ms = latency.as_secs_f64() * 1000.0;
    ::metrics::histogram!(ORDER_LATENCY).record(ms);
    ::metrics::histogram!(ORDER_LATENCY, CONNECTION => connection.to_string()).record(ms);
}

/// Items are counted twice: once per function (what the alarms watch) and once per connection
/// (what an operator drills into). The recorder writes one dimension set per line.
fn count(name: &'static str, connection: &ConnectionId, n: u64) {
    if n == 0 {
        return;
    }
    ::metrics::counter!(name).increment(n);
    ::metrics::counter!(name, CONNECTION => connection.to_string()).increment(n);
    HANDLED.fetch_add(n, Ordering::Relaxed);
}

/// One HTTP request sent to `vendor` (called by the shared HTTP client, which knows the vendor).
pub fn record_vendor_call(vendor: &'static str) {
    ::metrics::counter!(VENDOR_CALLS, VENDOR => vendor).increment(1);
}

/// One throttling answer from `vendor`.
pub fn record_vendor_throttled(vendor: &'static str) {
    ::metrics::counter!(VENDOR_THROTTLED, VENDOR => vendor).increment(1);
}

/// The kind of one AWS request, for the cost estimate (counted by the SDK clients' interceptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsRequest {
    DynamoDbRead,
    DynamoDbWrite,
    Sqs,
}

/// Counts one AWS request made by this process.
pub fn count_aws_request(kind: AwsRequest) {
    let counter = match kind {
        AwsRequest::DynamoDbRead => &DYNAMODB_READS,
        AwsRequest::DynamoDbWrite => &DYNAMODB_WRITES,
        AwsRequest::Sqs => &SQS_REQUESTS,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Connector-log counts the console shows next to a connection; the same counts as the EMF
/// metrics of the same name (vendor calls are not in the log, so they are not here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// `import_order` entries with result `success` ([`ORDERS_IMPORTED`]).
    pub orders_imported: u64,
    /// `import_order` entries with result `failure` ([`ORDERS_FAILED`]).
    pub orders_failed: u64,
    /// `import_order` entries with result `skipped` ([`ORDERS_SKIPPED`]).
    pub orders_skipped: u64,
    /// `import_order` entries with result `retry`: attempts that will be made again.
    pub orders_retried: u64,
    /// `push_tracking` entries with result `success` ([`SHIPMENTS_PUSHED`]).
    pub shipments_pushed: u64,
    /// `push_tracking` entries with result `failure`.
    pub shipments_failed: u64,
}

/// How far back the console's figures (and the connections overview) reach.
pub const FIGURES_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Counts `entries` (pass the last [`FIGURES_WINDOW`] of a connection's log, e.g.
/// `ConnectorLog::entries_between(connection, now - FIGURES_WINDOW, now, limit)`).
pub fn figures_from_log(entries: &[LogEntry]) -> Figures {
    let mut figures = Figures::default();
    for entry in entries {
        let slot = match (entry.action.as_str(), entry.result) {
            ("import_order", LogResult::Success) => &mut figures.orders_imported,
            ("import_order", LogResult::Failure) => &mut figures.orders_failed,
            ("import_order", LogResult::Skipped) => &mut figures.orders_skipped,
            ("import_order", LogResult::Retry) => &mut figures.orders_retried,
            ("push_tracking", LogResult::Success) => &mut figures.shipments_pushed,
            ("push_tracking", LogResult::Failure) => &mut figures.shipments_failed,
            _ => continue,
        };
        *slot += 1;
    }
    figures
}

#[cfg(test)]
mod tests;

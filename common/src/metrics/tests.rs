//! Tests of the metrics: the EMF lines a pull and two import invocations print (names, units,
//! dimensions, values), the cost arithmetic, the switch, and the console's figures from the log.
//!
//! The EMF recorder is process-global and other tests record into whatever is installed, so the
//! EMF test runs its scenario in a child process of this test binary (only that test, one thread)
//! and reads the lines the child printed, as CloudWatch Logs reads a function's stdout.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::*;
use crate::handlers::{deadline_from, ChannelEntry, ImportApp, MappingCache, PullApp};
use crate::http::{HttpSettings, Idempotency, RateBudget, RetryPolicy, Transport, VendorHttp, VendorProfile};
use crate::mapping::SalesOrderDraft;
use crate::model::{
    ChannelCustomer, ChannelOrderId, Customer, ErpCustomerId, ErpItemId, ErpOrderNbr, ErpOrderRef, ErpOrderType,
    IdentifierKind, Order,
};
use crate::ports::{
    Acknowledgement, Clock, ConnectorError, CustomerLookup, Direction, ErpCustomerWrites, ListedOrder, LogGroup,
    MappingStore, OrderPage, OrderSink, OrderSource, PageToken,
};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog, MemoryQueue};

const CHILD_VAR: &str = "ORDERBRIDGE_EMF_TEST_CHILD";
const FUNCTION_NAME: &str = "orderbridge-test-order-import";
const VENDOR_NAME: &str = "erp-test";
/// Prefix of the EMF lines the child prints: `emf[<invocation>] <json>`.
const LINE_PREFIX: &str = "emf[";

const MAPPING: &str = r#"
[order_types]
default = "SO"
[payment_methods]
"Amazon Pay" = "AMAZONPAY"
[shipping_methods]
Standard = "UPSGROUND"
[customers]
id_prefix = "SC"
[items]
identifier_priority = ["sku"]
[taxes]
tax_id = "CHANNELTAX"
[dates]
time_zone = "UTC"
"#;

fn connection() -> ConnectionId {
    ConnectionId::parse("sc-main").unwrap()
}

/// Order `id`, placed `minutes_ago` before `now`; an unmapped shipping method when `mapped` is false.
fn order(id: i64, now: DateTime<Utc>, minutes_ago: i64, mapped: bool) -> Order {
    let mut o = crate::model::fixtures::order();
    o.channel_order_id = ChannelOrderId::new(crate::model::SystemCode::parse("SC").unwrap(), id.to_string()).unwrap();
    o.display_number = format!("AMZ-{id}");
    o.shipping.method = if mapped { "Standard" } else { "Teleport" }.into();
    o.placed_at = now - chrono::Duration::minutes(minutes_ago);
    o
}

/// A channel that lists its orders on one page and takes acknowledgements.
struct Channel(Vec<Order>);

#[async_trait]
impl OrderSource for Channel {
    fn connection(&self) -> &ConnectionId {
        &self.0[0].connection
    }
    async fn list_new_orders(&self, _: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        let orders = self.0.iter().map(|o| ListedOrder::Whole(Box::new(o.clone()))).collect();
        Ok(OrderPage { orders, next: None, restart: None })
    }
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        self.0.iter().find(|o| &o.channel_order_id == id).cloned().ok_or(ConnectorError::Unmappable {
            vendor: "channel",
            operation: "get order",
            detail: format!("no order {id}"),
        })
    }
    async fn acknowledge(&self, _: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        Ok(Vec::new())
    }
}

fn no_message(_: &[u8]) -> Option<String> {
    None
}
fn no_hint(_: reqwest::StatusCode, _: &reqwest::header::HeaderMap, _: &[u8]) -> Option<Duration> {
    None
}
fn no_pause(_: &reqwest::header::HeaderMap) -> Option<Duration> {
    None
}
fn never(_: reqwest::StatusCode, _: &[u8]) -> bool {
    false
}

/// An ERP whose creates go over the shared HTTP client to a loopback stand-in, so vendor calls
/// and throttling are counted where production counts them.
struct HttpErp {
    http: VendorHttp,
    url: String,
    next: AtomicU32,
}

#[async_trait]
impl OrderSink for HttpErp {
    type Draft = SalesOrderDraft;
    fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<ErpCustomerId> {
        ErpCustomerId::parse(format!("{prefix}{}", customer.channel_customer_id.as_deref()?)).ok()
    }
    async fn find_by_import_id(&self, _: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
        Ok(None)
    }
    async fn create_order(&self, _: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
        self.http.send("create order", Idempotency::Unsafe, |c| c.put(&self.url)).await?;
        let n = self.next.fetch_add(1, AtomicOrdering::SeqCst) + 1;
        Ok(ErpOrderRef {
            order_type: ErpOrderType::parse("SO").unwrap(),
            order_nbr: ErpOrderNbr::parse(format!("SO{n:06}")).unwrap(),
        })
    }
    async fn find_customer(&self, _: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
        Ok(Some(ErpCustomerId::parse("SC77").unwrap()))
    }
    async fn create_customer(
        &self,
        id: &ErpCustomerId,
        _: &Customer,
        _: &Order,
        _: Option<&str>,
    ) -> Result<ErpCustomerId, ConnectorError> {
        Ok(id.clone())
    }
    async fn resolve_item(&self, _: IdentifierKind, value: &str) -> Result<Option<ErpItemId>, ConnectorError> {
        Ok(ErpItemId::parse(value).ok())
    }
}

#[async_trait]
impl ErpCustomerWrites for HttpErp {
    async fn create_customer_record(
        &self,
        _: &ErpCustomerId,
        _: &ChannelCustomer,
        _: Option<&str>,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn update_customer_record(
        &self,
        _: &ErpCustomerId,
        _: &ChannelCustomer,
        _: Option<&str>,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn sqs_event(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("m{i}"));
            record.body = Some(body.clone());
            record.attributes = HashMap::from([("ApproximateReceiveCount".to_string(), "1".to_string())]);
            record
        })
        .collect();
    event
}

/// The child's scenario: a pull of 4 orders; an import of them (3 created, the first create
/// answered 429 once, 1 with an unmapped shipping method); a redelivery of one imported order.
/// Each invocation is metered and flushed, and its lines printed with the invocation's number.
async fn child_scenario() {
    let collector = builder(FUNCTION_NAME).with_timestamp(1_700_000_000_000).init().expect("the only recorder");
    describe();

    let clock = Arc::new(ManualClock::new());
    let now = clock.now();
    let orders =
        vec![order(1, now, 10, true), order(2, now, 20, true), order(3, now, 30, true), order(4, now, 5, false)];
    let channel: Arc<dyn OrderSource> = Arc::new(Channel(orders));
    let ledger = Arc::new(MemoryLedger::default());
    ledger.save_mapping("sc-main", "mappings/sc-main.toml", MAPPING).await.unwrap();
    let log = Arc::new(MemoryLog::default());
    let queue = Arc::new(MemoryQueue::default());
    let entry = || ChannelEntry {
        source: channel.clone(),
        mapping_name: "sc-main".into(),
        enabled: true,
        follows_orders: false,
        customers: None,
    };

    let (url, _hits) = crate::http::tests::scripted(vec!["429 Too Many Requests\nretry-after: 0\n\n{}"]).await;
    const PROFILE: VendorProfile = VendorProfile {
        name: VENDOR_NAME,
        error_message: no_message,
        rate_hint: no_hint,
        pause_hint: no_pause,
        rejects: never,
    };
    let settings = HttpSettings::default();
    let transport = Transport {
        base_url: "http://127.0.0.1",
        rate_limit: RateBudget::new(100, 1),
        retry: RetryPolicy { max_attempts: 4, initial_delay_ms: 1, max_delay_ms: 5, max_total_wait_ms: 2_000 },
        http: &settings,
    };
    let erp =
        Arc::new(HttpErp { http: VendorHttp::new(PROFILE, "erp", transport).unwrap(), url, next: AtomicU32::new(0) });

    let pull = PullApp {
        ledger: ledger.clone(),
        log: log.clone(),
        queue: queue.clone(),
        clock: clock.clone(),
        channels: BTreeMap::from([(connection(), entry())]),
        mappings: MappingCache::new(Duration::from_secs(60)),
        enqueued_ttl: Duration::from_secs(900),
        budgets: None,
    };
    let import = ImportApp {
        ledger: ledger.clone(),
        log: log.clone(),
        clock: clock.clone(),
        channels: BTreeMap::from([(connection(), entry())]),
        sink: erp.clone(),
        customer_writes: erp,
        mappings: MappingCache::new(Duration::from_secs(60)),
        // One at a time, so the one 429 lands on the first create and the redelivery is ordered.
        import_concurrency: 1,
        lease_slack: Duration::from_secs(1),
        budgets: None,
        backfills: None,
    };

    let flush_and_print = |invocation: u32| {
        let mut buffer = Vec::new();
        collector.flush(&mut buffer).unwrap();
        for line in String::from_utf8(buffer).unwrap().lines() {
            println!("{LINE_PREFIX}{invocation}] {line}");
        }
    };

    metered(256, pull.run_pull(deadline_from(Duration::from_secs(60)))).await;
    flush_and_print(1);

    let bodies: Vec<String> = queue.0.lock().unwrap().iter().map(|m| m.body.clone()).collect();
    assert_eq!(bodies.len(), 4, "the pull enqueued every order");
    let response =
        metered(256, import.run_import_batch(sqs_event(&bodies), deadline_from(Duration::from_secs(60)), "r1")).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    flush_and_print(2);

    metered(256, import.run_import_batch(sqs_event(&bodies[..1]), deadline_from(Duration::from_secs(60)), "r2")).await;
    flush_and_print(3);
}

/// One EMF document the child printed.
#[derive(Debug)]
struct Doc {
    invocation: u32,
    json: Value,
}

impl Doc {
    fn dimension_names(&self) -> Vec<String> {
        let sets = self.json["_aws"]["CloudWatchMetrics"][0]["Dimensions"].as_array().cloned().unwrap_or_default();
        assert_eq!(sets.len(), 1, "one dimension set per line: {}", self.json);
        sets[0].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect()
    }

    /// Metric name → unit as declared in `_aws` (None: no unit).
    fn declared(&self) -> BTreeMap<String, Option<String>> {
        self.json["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap().to_owned(), m["Unit"].as_str().map(str::to_owned)))
            .collect()
    }
}

/// The line of `invocation` whose dimensions are exactly Function plus `extra`.
fn doc<'a>(docs: &'a [Doc], invocation: u32, extra: &[(&str, &str)]) -> &'a Doc {
    let mut wanted = vec![FUNCTION.to_owned()];
    wanted.extend(extra.iter().map(|(k, _)| (*k).to_owned()));
    let found: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.invocation == invocation)
        .filter(|d| {
            let mut names = d.dimension_names();
            names.sort();
            let mut w = wanted.clone();
            w.sort();
            names == w
        })
        .filter(|d| extra.iter().all(|(k, v)| d.json[*k] == *v))
        .collect();
    assert_eq!(found.len(), 1, "invocation {invocation}, dimensions {extra:?}: {found:?}");
    found[0]
}

fn sorted_values(value: &Value) -> Vec<f64> {
    let mut values: Vec<f64> = value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    values.sort_by(f64::total_cmp);
    values
}

#[test]
fn emf_lines_of_a_pull_and_an_import_batch_carry_names_units_dimensions_and_values() {
    if std::env::var_os(CHILD_VAR).is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(child_scenario());
        return;
    }

    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "metrics::tests::emf_lines_of_a_pull_and_an_import_batch_carry_names_units_dimensions_and_values",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let docs: Vec<Doc> = stdout
        .lines()
        // libtest prints the test's name before the child's first line, on the same line.
        .filter_map(|l| l.split_once(LINE_PREFIX).map(|(_, rest)| rest))
        .map(|rest| {
            let (n, json) = rest.split_once("] ").unwrap();
            Doc { invocation: n.parse().unwrap(), json: serde_json::from_str(json).unwrap() }
        })
        .collect();

    // Every line: our namespace, the function as a dimension, a value for each declared metric.
    assert!(!docs.is_empty(), "{stdout}");
    for d in &docs {
        assert_eq!(d.json["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(d.json["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(d.json[FUNCTION], FUNCTION_NAME);
        for name in d.declared().keys() {
            assert!(!d.json[name].is_null(), "{name} has no value in {}", d.json);
        }
    }
    let count = Some("Count".to_owned());
    let ms = Some("Milliseconds".to_owned());

    // 1: the pull listed 4 orders.
    let pulled = doc(&docs, 1, &[]);
    assert_eq!(pulled.declared()[ORDERS_SEEN], count);
    assert_eq!(pulled.json[ORDERS_SEEN], 4);
    assert_eq!(doc(&docs, 1, &[(CONNECTION, "sc-main")]).json[ORDERS_SEEN], 4);
    assert_eq!(pulled.declared()[INVOCATION_DURATION], ms);
    assert_eq!(pulled.json[INVOCATION_DURATION].as_array().unwrap().len(), 1);
    assert_eq!(docs.iter().filter(|d| d.invocation == 1).count(), 2, "no vendor was called by the pull");

    // 2: 3 imported, 1 failed (unmapped), none skipped; latency of the 3 created; 4 calls, one 429.
    let imported = doc(&docs, 2, &[]);
    let declared = imported.declared();
    assert_eq!((&declared[ORDERS_IMPORTED], &declared[ORDERS_FAILED]), (&count, &count));
    assert_eq!((imported.json[ORDERS_IMPORTED].as_u64(), imported.json[ORDERS_FAILED].as_u64()), (Some(3), Some(1)));
    assert!(!declared.contains_key(ORDERS_SKIPPED) && !declared.contains_key(ORDERS_SEEN), "{declared:?}");
    assert_eq!(declared[ORDER_LATENCY], ms);
    assert_eq!(sorted_values(&imported.json[ORDER_LATENCY]), vec![600_000.0, 1_200_000.0, 1_800_000.0]);
    let per_connection = doc(&docs, 2, &[(CONNECTION, "sc-main")]);
    assert_eq!(
        (per_connection.json[ORDERS_IMPORTED].as_u64(), per_connection.json[ORDERS_FAILED].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(sorted_values(&per_connection.json[ORDER_LATENCY]).len(), 3);
    let vendor = doc(&docs, 2, &[(VENDOR, VENDOR_NAME)]);
    assert_eq!((&vendor.declared()[VENDOR_CALLS], &vendor.declared()[VENDOR_THROTTLED]), (&count, &count));
    assert_eq!((vendor.json[VENDOR_CALLS].as_u64(), vendor.json[VENDOR_THROTTLED].as_u64()), (Some(4), Some(1)));

    // The cost line: no unit, and the price of this invocation's duration (no AWS requests: the
    // fakes are in memory) at 256 MB over its 4 orders.
    assert_eq!(declared[ESTIMATED_COST_PER_1000_ORDERS], None);
    let duration_ms = imported.json[INVOCATION_DURATION][0].as_f64().unwrap();
    // Billed in whole milliseconds; the printed duration is fractional, so allow one either side.
    let at = |ms: f64| cost_per_1000(invocation_cost(Duration::from_millis(ms as u64), 256, &Usage::default()), 4);
    let (low, high) = (at((duration_ms - 1.0).max(1.0)).unwrap(), at(duration_ms + 1.0).unwrap());
    let cost = imported.json[ESTIMATED_COST_PER_1000_ORDERS][0].as_f64().unwrap();
    assert!(low <= cost && cost <= high, "{cost} not in [{low}, {high}] for {duration_ms} ms");
    // More than the request price alone ($0.20 per million requests, 4 orders in the request).
    assert!(cost > LAMBDA_REQUEST_USD / 4.0 * 1000.0, "{cost}");

    // 3: the redelivered order is skipped; what invocation 2 counted is not counted again.
    let redelivered = doc(&docs, 3, &[]);
    assert_eq!(redelivered.json[ORDERS_SKIPPED], 1);
    assert_eq!(redelivered.declared()[ORDERS_SKIPPED], count);
    assert!(!redelivered.declared().contains_key(ORDERS_IMPORTED), "{}", redelivered.json);
    assert!(docs.iter().all(|d| d.invocation != 3 || d.json[VENDOR].is_null()), "no vendor call in 3");
}

#[test]
fn metrics_print_in_lambda_or_when_asked_and_never_when_switched_off() {
    assert!(enabled(None, true));
    assert!(!enabled(None, false), "tests and the demo stay quiet");
    assert!(enabled(Some("emf"), false));
    assert!(!enabled(Some("off"), true));
    assert!(!enabled(Some("bogus"), false));
}

#[test]
fn memory_size_comes_from_lambda_or_defaults_to_128() {
    assert_eq!(memory_mb(Some("256")), 256);
    assert_eq!(memory_mb(None), DEFAULT_MEMORY_MB);
    assert_eq!(memory_mb(Some("lots")), DEFAULT_MEMORY_MB);
    assert_eq!(memory_mb(Some("0")), DEFAULT_MEMORY_MB);
}

#[test]
fn an_invocation_is_priced_from_its_duration_memory_and_aws_requests() {
    // 2 s at 1024 MB = 2 GB-s; plus 10 writes, 4 reads and 2 SQS requests.
    let usage = Usage { handled: 10, dynamodb_reads: 4, dynamodb_writes: 10, sqs_requests: 2 };
    let cost = invocation_cost(Duration::from_secs(2), 1024, &usage);
    let expected = 2.0 * 0.000_013_333_4 + 0.20e-6 + 10.0 * 0.625e-6 + 4.0 * 0.125e-6 + 2.0 * 0.40e-6;
    assert!((cost - expected).abs() < 1e-15, "{cost} != {expected}");
    let per_1000 = cost_per_1000(cost, usage.handled).unwrap();
    assert!((per_1000 - expected * 100.0).abs() < 1e-12);
    assert_eq!(cost_per_1000(cost, 0), None, "an invocation that handled nothing has no rate");
}

fn entry(connection: &str, action: &str, result: LogResult, minutes_ago: i64) -> LogEntry {
    let at = Utc::now() - chrono::Duration::minutes(minutes_ago);
    LogEntry {
        id: uuid::Uuid::new_v4(),
        connection: ConnectionId::parse(connection).unwrap(),
        group: LogGroup::Orders,
        action: action.into(),
        direction: Direction::Import,
        result,
        entity_id: "x".into(),
        notes: String::new(),
        started_at: at,
        completed_at: at,
        correlation_id: None,
        queued_at: None,
    }
}

#[test]
fn figures_count_import_and_push_results_of_the_log() {
    let entries = vec![
        entry("sc-main", "import_order", LogResult::Success, 5),
        entry("sc-main", "import_order", LogResult::Success, 6),
        entry("sc-main", "import_order", LogResult::Failure, 7),
        entry("sc-main", "import_order", LogResult::Skipped, 8),
        entry("sc-main", "import_order", LogResult::Retry, 9),
        entry("sc-main", "push_tracking", LogResult::Success, 10),
        entry("sc-main", "push_tracking", LogResult::Failure, 11),
        entry("sc-main", "push_tracking", LogResult::Skipped, 12),
        entry("sc-main", "pull_page", LogResult::Success, 13),
        entry("sc-main", "acknowledge", LogResult::Failure, 14),
    ];
    let figures = figures_from_log(&entries);
    assert_eq!(
        figures,
        Figures {
            orders_imported: 2,
            orders_failed: 1,
            orders_skipped: 1,
            orders_retried: 1,
            shipments_pushed: 1,
            shipments_failed: 1,
        }
    );
}

/// Every `MetricName` under `Namespace: Orderbridge` anywhere in a YAML value.
fn orderbridge_metric_names(value: &serde_yaml::Value, out: &mut Vec<String>) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            if map.get("Namespace").and_then(|n| n.as_str()) == Some(NAMESPACE) {
                out.extend(map.get("MetricName").and_then(|n| n.as_str()).map(str::to_owned));
            }
            map.values().for_each(|v| orderbridge_metric_names(v, out));
        }
        serde_yaml::Value::Sequence(seq) => seq.iter().for_each(|v| orderbridge_metric_names(v, out)),
        serde_yaml::Value::Tagged(tagged) => orderbridge_metric_names(&tagged.value, out),
        _ => {}
    }
}

#[test]
fn the_template_alarms_watch_metrics_the_functions_emit() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = Vec::new();
    orderbridge_metric_names(&template, &mut names);
    assert!(names.len() >= 3, "the failed-orders, latency and throttling alarms: {names:?}");
    let emitted = [
        ORDERS_SEEN,
        ORDERS_IMPORTED,
        ORDERS_FAILED,
        ORDERS_SKIPPED,
        SHIPMENTS_PUSHED,
        ORDER_LATENCY,
        VENDOR_CALLS,
        VENDOR_THROTTLED,
        INVOCATION_DURATION,
        ESTIMATED_COST_PER_1000_ORDERS,
    ];
    for name in &names {
        assert!(emitted.contains(&name.as_str()), "the template watches {name}, which no function emits");
    }
}

//! The measuring parts of `make bench`: a metering proxy in front of the AWS emulator (every
//! DynamoDB and SQS call the functions make, with its bytes and capacity units), a local Lambda
//! Runtime API that runs the real release binaries (init time, invocation time, peak RSS), the
//! percentiles, and the cost model at AWS list prices.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ------------------------------------------------------------------------------------------
// Percentiles
// ------------------------------------------------------------------------------------------

/// p50 / p95 / max of a sample (nearest-rank), or `None` when it is empty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Spread {
    pub fn of(sample: &[Duration]) -> Option<Self> {
        if sample.is_empty() {
            return None;
        }
        let mut sorted = sample.to_vec();
        sorted.sort();
        let rank = |p: f64| {
            let r = (p * sorted.len() as f64).ceil() as usize;
            sorted[r.clamp(1, sorted.len()) - 1]
        };
        let total: Duration = sorted.iter().sum();
        Some(Self {
            n: sorted.len(),
            p50: rank(0.50),
            p95: rank(0.95),
            max: sorted[sorted.len() - 1],
            mean: total / u32::try_from(sorted.len()).unwrap_or(u32::MAX),
        })
    }
}

/// Seconds with a unit that suits the size: "850 ms", "12.4 s".
pub fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

// ------------------------------------------------------------------------------------------
// AWS metering proxy
// ------------------------------------------------------------------------------------------

/// Calls of one AWS operation and what they would be billed as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpStats {
    pub calls: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// DynamoDB write request units (on-demand), from the items written (see `item_write_units`).
    pub write_units: u64,
    pub read_units: u64,
    /// SQS receives that returned no message (pollers' idle cost, not an order's).
    pub empty_receives: u64,
}

impl OpStats {
    fn add(&mut self, other: &OpStats) {
        self.calls += other.calls;
        self.request_bytes += other.request_bytes;
        self.response_bytes += other.response_bytes;
        self.write_units += other.write_units;
        self.read_units += other.read_units;
        self.empty_receives += other.empty_receives;
    }
}

/// Operation name → stats, e.g. `dynamodb:PutItem`, `sqs:SendMessage`.
pub type AwsUsage = BTreeMap<String, OpStats>;

/// `after - before`, per operation.
pub fn usage_between(before: &AwsUsage, after: &AwsUsage) -> AwsUsage {
    let mut out = AwsUsage::new();
    for (op, a) in after {
        let b = before.get(op).copied().unwrap_or_default();
        let d = OpStats {
            calls: a.calls - b.calls,
            request_bytes: a.request_bytes - b.request_bytes,
            response_bytes: a.response_bytes - b.response_bytes,
            write_units: a.write_units - b.write_units,
            read_units: a.read_units - b.read_units,
            empty_receives: a.empty_receives - b.empty_receives,
        };
        if d.calls > 0 {
            out.insert(op.clone(), d);
        }
    }
    out
}

/// Sum over operations whose name starts with `service:`.
pub fn service_total(usage: &AwsUsage, service: &str) -> OpStats {
    let mut total = OpStats::default();
    for (_, s) in usage.iter().filter(|(op, _)| op.starts_with(&format!("{service}:"))) {
        total.add(s);
    }
    total
}

/// The operation an AWS JSON-protocol request names (`X-Amz-Target: DynamoDB_20120810.PutItem`,
/// `AmazonSQS.SendMessage`), or a query-protocol `Action=`.
pub fn operation_of(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, op) = target.split_once('.').unwrap_or(("", target));
        let service = if prefix.starts_with("DynamoDB") {
            "dynamodb"
        } else if prefix.starts_with("AmazonSQS") {
            "sqs"
        } else {
            "other"
        };
        return format!("{service}:{op}");
    }
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(|action| format!("other:{action}"))
        .unwrap_or_else(|| "other:unknown".into())
}

/// On-demand read units of one DynamoDB call, estimated from the wire: one unit per started 4 KiB
/// of the response (strongly consistent), twice inside a transaction; 0 for anything but a read.
/// Writes are priced from the items themselves (`item_write_units`).
pub fn read_units(operation: &str, response_bytes: u64) -> u64 {
    let per_4_kib = response_bytes.div_ceil(4096).max(1);
    match operation {
        "dynamodb:GetItem" | "dynamodb:Query" | "dynamodb:Scan" | "dynamodb:BatchGetItem" => per_4_kib,
        "dynamodb:TransactGetItems" => 2 * per_4_kib,
        _ => 0,
    }
}

/// DynamoDB's size of an item in bytes by its documented rules: each attribute's name (UTF-8)
/// plus its value (a string its UTF-8 bytes, a number 1 byte per two significant digits + 1, a
/// binary its bytes, a boolean or null 1, a list or map 3 + its elements + 1 per element).
pub fn item_size(item: &serde_json::Map<String, Value>) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let number = |n: &str| {
        let digits = n.trim_start_matches('-').replace('.', "");
        let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
        significant.div_ceil(2) + 1
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(t)) => t.len() as u64,
        ("N", Value::String(n)) => number(n),
        ("B", Value::String(b)) => (b.len() as u64 * 3) / 4,
        ("BOOL", _) | ("NULL", _) => 1,
        ("SS", Value::Array(v)) => v.iter().filter_map(Value::as_str).map(|t| t.len() as u64).sum(),
        ("NS", Value::Array(v)) => v.iter().filter_map(Value::as_str).map(number).sum(),
        ("BS", Value::Array(v)) => v.iter().filter_map(Value::as_str).map(|b| (b.len() as u64 * 3) / 4).sum(),
        ("L", Value::Array(v)) => 3 + v.iter().map(|e| value_size(e) + 1).sum::<u64>(),
        ("M", Value::Object(m)) => 3 + m.iter().map(|(k, e)| k.len() as u64 + value_size(e) + 1).sum::<u64>(),
        _ => 0,
    }
}

/// Write units of one item write by DynamoDB's on-demand rules: the larger of the item before and
/// after, one unit per started KiB (at least one, a failed condition included), plus the same for
/// each global secondary index (all our indexes project every attribute) the item is in before or
/// after, two when the write moves it between index keys. Doubled inside a transaction.
pub fn item_write_units(
    indexes: &[(&str, &str)],
    before: Option<&serde_json::Map<String, Value>>,
    after: Option<&serde_json::Map<String, Value>>,
    transaction: bool,
) -> u64 {
    let size = before.map(item_size).unwrap_or(0).max(after.map(item_size).unwrap_or(0));
    let units = size.div_ceil(1024).max(1);
    let mut total = units;
    if before != after {
        for (pk, sk) in indexes {
            let key = |item: Option<&serde_json::Map<String, Value>>| {
                item.and_then(|i| Some((i.get(*pk)?.clone(), i.get(*sk)?.clone())))
            };
            total += match (key(before), key(after)) {
                (Some(b), Some(a)) if b != a => 2 * units,
                (None, None) => 0,
                _ => units,
            };
        }
    }
    if transaction {
        2 * total
    } else {
        total
    }
}

/// Writes of one kind of item (`state CLAIM#IMPORT`, `connector-log import`): calls and units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub calls: u64,
    pub write_units: u64,
}

/// Category → writes.
pub type WriteUsage = BTreeMap<String, WriteStats>;

/// `after - before`, per category.
pub fn writes_between(before: &WriteUsage, after: &WriteUsage) -> WriteUsage {
    let mut out = WriteUsage::new();
    for (kind, a) in after {
        let b = before.get(kind).copied().unwrap_or_default();
        if a.calls > b.calls {
            out.insert(
                kind.clone(),
                WriteStats { calls: a.calls - b.calls, write_units: a.write_units - b.write_units },
            );
        }
    }
    out
}

/// What kind of item a write is about: the table (`state`, `connector-log`) and, in the state
/// table, the partition key's prefix (`CLAIM#IMPORT`, `BINDING`, `DEDUPE`), in the log the action.
fn write_category(table: &str, item: &serde_json::Map<String, Value>) -> String {
    let text = |name: &str| item.get(name).and_then(|v| v.get("S")).and_then(Value::as_str).unwrap_or("");
    if table.ends_with("-connector-log") {
        return format!("connector-log {}", text("action"));
    }
    let table_kind = table.rsplit('-').next().unwrap_or(table);
    let mut parts = text("pk").split('#');
    let first = parts.next().unwrap_or("");
    match first {
        "CLAIM" => format!("{table_kind} CLAIM#{}", parts.next().unwrap_or("")),
        "DEDUPE" => format!("{table_kind} DEDUPE#{}", parts.next().unwrap_or("")),
        other => format!("{table_kind} {other}"),
    }
}

/// The global secondary indexes (partition, sort key attribute) of one of our tables, by name.
fn table_indexes(table: &str) -> Vec<(&'static str, &'static str)> {
    orderbridge::aws::schema::TABLES
        .iter()
        .find(|t| table.ends_with(&format!("-{}", t.suffix)))
        .map(|t| t.indexes.iter().map(|i| (i.partition_key, i.sort_key)).collect())
        .unwrap_or_default()
}

struct MeterShared {
    upstream: String,
    http: reqwest::Client,
    usage: Mutex<AwsUsage>,
    writes: Mutex<WriteUsage>,
}

/// One item write inside a DynamoDB request: table, key, the item as sent (Put) and whether it is
/// part of a transaction.
struct ItemWrite {
    table: String,
    key: serde_json::Map<String, Value>,
    put: Option<serde_json::Map<String, Value>>,
    transaction: bool,
}

/// The item writes a DynamoDB write request makes (none for other operations).
fn item_writes(operation: &str, body: &[u8]) -> Vec<ItemWrite> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let key_of = |item: &serde_json::Map<String, Value>| {
        item.iter().filter(|(k, _)| *k == "pk" || *k == "sk").map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let one = |r: &Value, put: bool, transaction: bool| -> Option<ItemWrite> {
        let table = r.get("TableName")?.as_str()?.to_owned();
        if put {
            let item = r.get("Item")?.as_object()?.clone();
            Some(ItemWrite { table, key: key_of(&item), put: Some(item), transaction })
        } else {
            Some(ItemWrite { table, key: r.get("Key")?.as_object()?.clone(), put: None, transaction })
        }
    };
    match operation {
        "dynamodb:PutItem" => one(&request, true, false).into_iter().collect(),
        "dynamodb:UpdateItem" | "dynamodb:DeleteItem" => one(&request, false, false).into_iter().collect(),
        "dynamodb:TransactWriteItems" => request
            .get("TransactItems")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|t| {
                        if let Some(p) = t.get("Put") {
                            one(p, true, true)
                        } else {
                            ["Update", "Delete", "ConditionCheck"]
                                .iter()
                                .find_map(|k| t.get(*k))
                                .and_then(|r| one(r, false, true))
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

impl MeterShared {
    /// The item under `key` now, read from the emulator directly (not metered).
    async fn current(
        &self,
        table: &str,
        key: &serde_json::Map<String, Value>,
    ) -> Option<serde_json::Map<String, Value>> {
        let answer = self
            .http
            .post(format!("{}/", self.upstream))
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=meter/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
            .body(serde_json::json!({"TableName": table, "Key": key, "ConsistentRead": true}).to_string())
            .send()
            .await
            .ok()?;
        let body: Value = answer.json().await.ok()?;
        body.get("Item")?.as_object().cloned()
    }
}

/// An HTTP proxy in front of the AWS emulator that counts every call passing through it. The
/// functions and the harness point `AWS_ENDPOINT_URL` at it, so nothing in them changes.
pub struct AwsMeter {
    pub url: String,
    shared: Arc<MeterShared>,
    task: tokio::task::JoinHandle<()>,
}

impl AwsMeter {
    pub async fn start(upstream: &str) -> Result<Self, BoxError> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(MeterShared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
            usage: Mutex::new(AwsUsage::new()),
            writes: Mutex::new(WriteUsage::new()),
        });
        let router = axum::Router::new().fallback(meter_forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "AWS meter stopped.");
            }
        });
        Ok(Self { url, shared, task })
    }

    pub fn usage(&self) -> AwsUsage {
        self.shared.usage.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// DynamoDB item writes so far, per kind of item.
    pub fn writes(&self) -> WriteUsage {
        self.shared.writes.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

impl Drop for AwsMeter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn meter_forward(
    State(shared): State<Arc<MeterShared>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = operation_of(&headers, &body);
    // Each item write is priced from the item before and after it (read around the call).
    let writes = item_writes(&operation, &body);
    let mut befores = Vec::with_capacity(writes.len());
    for w in &writes {
        befores.push(shared.current(&w.table, &w.key).await);
    }
    let target = format!("{}{}", shared.upstream, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut forwarded = headers.clone();
    forwarded.remove("host");
    forwarded.remove("content-length");
    let answer = shared.http.request(method, target).headers(forwarded).body(body.clone()).send().await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("AWS meter: emulator unreachable: {e}")).into_response(),
    };
    let status = answer.status();
    let mut reply_headers = answer.headers().clone();
    reply_headers.remove("content-length");
    reply_headers.remove("transfer-encoding");
    let reply = answer.bytes().await.unwrap_or_default();
    let read_units = read_units(&operation, reply.len() as u64);
    let mut write_units = 0;
    for (w, before) in writes.iter().zip(befores) {
        let after = shared.current(&w.table, &w.key).await;
        let units = item_write_units(&table_indexes(&w.table), before.as_ref(), after.as_ref(), w.transaction);
        write_units += units;
        let category = after.as_ref().or(before.as_ref()).or(w.put.as_ref()).map(|i| write_category(&w.table, i));
        if let Ok(mut all) = shared.writes.lock() {
            let e = all.entry(category.unwrap_or_else(|| format!("{} ?", w.table))).or_default();
            e.calls += 1;
            e.write_units += units;
        }
    }
    let empty_receive = operation == "sqs:ReceiveMessage" && !String::from_utf8_lossy(&reply).contains("Body");
    if let Ok(mut usage) = shared.usage.lock() {
        let s = usage.entry(operation).or_default();
        s.calls += 1;
        s.request_bytes += body.len() as u64;
        s.response_bytes += reply.len() as u64;
        s.write_units += write_units;
        s.read_units += read_units;
        s.empty_receives += u64::from(empty_receive);
    }
    let mut response = (status, reply).into_response();
    response.headers_mut().extend(reply_headers);
    response
}

// ------------------------------------------------------------------------------------------
// Local Lambda Runtime API
// ------------------------------------------------------------------------------------------

struct Invocation {
    id: String,
    payload: Value,
    deadline_ms: i64,
}

#[derive(Default)]
struct RuntimeState {
    ready_at: Option<Instant>,
    init_error: Option<String>,
    waiting: HashMap<String, oneshot::Sender<Result<Value, String>>>,
}

struct RuntimeShared {
    state: Mutex<RuntimeState>,
    ready: Notify,
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
}

/// The Lambda Runtime API (2018-06-01) for one function process: `next` hands out the events
/// queued by `invoke`, `response`/`error` complete them. The first `next` call is the moment the
/// function finished its init and is ready for its first event.
pub struct RuntimeApi {
    /// host:port, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    shared: Arc<RuntimeShared>,
    sender: mpsc::Sender<Invocation>,
    timeout: Duration,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// `timeout` is the function's configured timeout: the deadline each event carries.
    pub async fn start(timeout: Duration) -> Result<Self, BoxError> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?.to_string();
        let (sender, receiver) = mpsc::channel(16);
        let shared = Arc::new(RuntimeShared {
            state: Mutex::new(RuntimeState::default()),
            ready: Notify::new(),
            next: tokio::sync::Mutex::new(receiver),
        });
        let router = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(runtime_next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(runtime_response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(runtime_error))
            .route("/2018-06-01/runtime/init/error", post(runtime_init_error))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "Local runtime API stopped.");
            }
        });
        Ok(Self { address, shared, sender, timeout, task })
    }

    /// When the function first asked for an event; an init error or `limit` ends the wait.
    pub async fn ready(&self, limit: Duration) -> Result<Instant, String> {
        let until = Instant::now() + limit;
        loop {
            let notified = self.shared.ready.notified();
            if let Ok(state) = self.shared.state.lock() {
                if let Some(at) = state.ready_at {
                    return Ok(at);
                }
                if let Some(e) = &state.init_error {
                    return Err(format!("init failed: {e}"));
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return Err(format!("not ready after {limit:?}"));
            }
        }
    }

    /// Hands the function one event; returns its answer and the time from handing it over to
    /// the answer being posted.
    pub async fn invoke(&self, payload: Value) -> Result<(Value, Duration), String> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut state) = self.shared.state.lock() {
            state.waiting.insert(id.clone(), tx);
        }
        let deadline_ms = chrono::Utc::now().timestamp_millis() + i64::try_from(self.timeout.as_millis()).unwrap_or(0);
        let started = Instant::now();
        self.sender.send(Invocation { id, payload, deadline_ms }).await.map_err(|_| "runtime API closed".to_owned())?;
        match tokio::time::timeout(self.timeout + Duration::from_secs(5), rx).await {
            Ok(Ok(Ok(answer))) => Ok((answer, started.elapsed())),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err("invocation dropped".into()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn runtime_next(State(shared): State<Arc<RuntimeShared>>) -> Response {
    if let Ok(mut state) = shared.state.lock() {
        if state.ready_at.is_none() {
            state.ready_at = Some(Instant::now());
        }
    }
    shared.ready.notify_waiters();
    let Some(invocation) = shared.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut response = axum::Json(invocation.payload).into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", invocation.id);
    set("lambda-runtime-deadline-ms", invocation.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:bench".into());
    set("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into());
    response
}

fn complete(shared: &RuntimeShared, id: &str, outcome: Result<Value, String>) -> StatusCode {
    let waiter = shared.state.lock().ok().and_then(|mut s| s.waiting.remove(id));
    match waiter {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn runtime_response(
    State(shared): State<Arc<RuntimeShared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let answer = serde_json::from_slice(&body).unwrap_or(Value::Null);
    complete(&shared, &id, Ok(answer))
}

async fn runtime_error(
    State(shared): State<Arc<RuntimeShared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    complete(&shared, &id, Err(String::from_utf8_lossy(&body).into_owned()))
}

async fn runtime_init_error(State(shared): State<Arc<RuntimeShared>>, _uri: OriginalUri, body: Bytes) -> StatusCode {
    if let Ok(mut state) = shared.state.lock() {
        state.init_error = Some(String::from_utf8_lossy(&body).into_owned());
    }
    shared.ready.notify_waiters();
    StatusCode::ACCEPTED
}

/// One function binary running against a local runtime API, as a Lambda execution environment
/// runs it.
pub struct FunctionProcess {
    pub api: RuntimeApi,
    child: tokio::process::Child,
    pub spawned_at: Instant,
    /// Time from the process start to its first `next` call.
    pub init: Duration,
}

impl FunctionProcess {
    /// Starts `binary` with exactly `env` (plus the Lambda variables) and waits until it is ready.
    pub async fn start(
        binary: &Path,
        name: &str,
        memory_mb: u32,
        timeout: Duration,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self, BoxError> {
        let api = RuntimeApi::start(timeout).await?;
        let log_file = std::fs::File::create(log)?;
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let child = command.spawn().map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let ready_at =
            api.ready(Duration::from_secs(30)).await.map_err(|e| format!("{name}: {e} (see {})", log.display()))?;
        Ok(Self { api, child, spawned_at, init: ready_at.saturating_duration_since(spawned_at) })
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

// ------------------------------------------------------------------------------------------
// Template facts
// ------------------------------------------------------------------------------------------

/// (memory MB, timeout) of each function in the SAM template, by logical id, with the Globals
/// applied, so the cost model bills what the deployment configures.
pub fn template_functions(template: &str) -> Result<BTreeMap<String, (u32, Duration)>, BoxError> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template)?;
    let number = |v: &serde_yaml::Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let globals = &doc["Globals"]["Function"];
    let mut out = BTreeMap::new();
    if let Some(resources) = doc["Resources"].as_mapping() {
        for (id, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let props = &resource["Properties"];
            let memory = number(&props["MemorySize"]).or_else(|| number(&globals["MemorySize"])).unwrap_or(128);
            let timeout = number(&props["Timeout"]).or_else(|| number(&globals["Timeout"])).unwrap_or(3);
            if let Some(id) = id.as_str() {
                out.insert(id.to_owned(), (memory, Duration::from_secs(u64::from(timeout))));
            }
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Cost model
// ------------------------------------------------------------------------------------------

/// AWS list prices (us-east-1, on-demand, free tiers ignored), as published on the services'
/// pricing pages; printed next to the model so a reader can re-price it.
#[derive(Debug, Clone)]
pub struct Prices {
    /// Lambda, arm64 (Graviton), per GB-second (first 6 billion GB-s a month tier).
    pub lambda_gb_second: Decimal,
    pub lambda_per_million_requests: Decimal,
    /// SQS standard queue, per million requests (each 64 KiB chunk of a payload is a request).
    pub sqs_per_million_requests: Decimal,
    /// DynamoDB on-demand, per million write / read request units.
    pub dynamodb_per_million_wru: Decimal,
    pub dynamodb_per_million_rru: Decimal,
    /// API Gateway HTTP API, per million requests (first 300 million a month).
    pub http_api_per_million_requests: Decimal,
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            lambda_gb_second: Decimal::new(133_334, 10),
            lambda_per_million_requests: Decimal::new(20, 2),
            sqs_per_million_requests: Decimal::new(40, 2),
            dynamodb_per_million_wru: Decimal::new(625, 3),
            dynamodb_per_million_rru: Decimal::new(125, 3),
            http_api_per_million_requests: Decimal::new(100, 2),
        }
    }
}

/// What one order costs in billed quantities (its import and its shipment coming back).
#[derive(Debug, Clone, Default)]
pub struct PerOrder {
    pub lambda_gb_seconds: Decimal,
    pub lambda_invocations: Decimal,
    pub sqs_requests: Decimal,
    pub dynamodb_wru: Decimal,
    pub dynamodb_rru: Decimal,
    pub http_api_requests: Decimal,
}

/// One line of the cost table: what, how many per million orders, the unit price, the cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostLine {
    pub item: &'static str,
    pub quantity: Decimal,
    pub unit: &'static str,
    pub price: Decimal,
    pub cost: Decimal,
}

/// Cost of a million orders, line by line, rounded to the cent.
pub fn cost_per_million(per_order: &PerOrder, prices: &Prices) -> Vec<CostLine> {
    let million = Decimal::from(1_000_000);
    let line = |item, per: Decimal, unit, price: Decimal, per_unit_count: Decimal| {
        let quantity = per * million;
        CostLine { item, quantity, unit, price, cost: (quantity / per_unit_count * price).round_dp(2) }
    };
    vec![
        line("Lambda compute", per_order.lambda_gb_seconds, "GB-s", prices.lambda_gb_second, Decimal::ONE),
        line("Lambda requests", per_order.lambda_invocations, "requests", prices.lambda_per_million_requests, million),
        line("SQS requests", per_order.sqs_requests, "requests", prices.sqs_per_million_requests, million),
        line("DynamoDB writes", per_order.dynamodb_wru, "WRU", prices.dynamodb_per_million_wru, million),
        line("DynamoDB reads", per_order.dynamodb_rru, "RRU", prices.dynamodb_per_million_rru, million),
        line(
            "API Gateway (HTTP API)",
            per_order.http_api_requests,
            "requests",
            prices.http_api_per_million_requests,
            million,
        ),
    ]
}

/// Billed GB-seconds of invocations of a function with `memory_mb`: each duration rounded up to
/// the millisecond, as Lambda bills.
pub fn gb_seconds(durations: &[Duration], memory_mb: u32) -> Decimal {
    let billed_ms: u128 = durations.iter().map(|d| d.as_micros().div_ceil(1000)).sum();
    Decimal::from(u64::try_from(billed_ms).unwrap_or(u64::MAX)) / Decimal::from(1000) * Decimal::from(memory_mb)
        / Decimal::from(1024)
}

/// A decimal ratio, zero when the denominator is.
pub fn ratio(numerator: impl Into<Decimal>, denominator: impl Into<Decimal>) -> Decimal {
    let d = denominator.into();
    if d.is_zero() {
        Decimal::ZERO
    } else {
        numerator.into() / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn spread_uses_nearest_rank() {
        let sample: Vec<Duration> = (1..=20).map(ms).collect();
        let s = Spread::of(&sample).expect("non-empty");
        assert_eq!((s.n, s.p50, s.p95, s.max), (20, ms(10), ms(19), ms(20)));
        assert_eq!(s.mean, Duration::from_micros(10_500));
        assert_eq!(Spread::of(&[ms(7)]).map(|s| (s.p50, s.p95)), Some((ms(7), ms(7))));
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn operations_are_named_from_the_target_header_or_the_action() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", HeaderValue::from_static("DynamoDB_20120810.PutItem"));
        assert_eq!(operation_of(&h, b"{}"), "dynamodb:PutItem");
        h.insert("x-amz-target", HeaderValue::from_static("AmazonSQS.ReceiveMessage"));
        assert_eq!(operation_of(&h, b"{}"), "sqs:ReceiveMessage");
        assert_eq!(operation_of(&HeaderMap::new(), b"Action=GetCallerIdentity&Version=1"), "other:GetCallerIdentity");
    }

    #[test]
    fn read_units_round_up_per_4_kib_of_reads() {
        assert_eq!(read_units("dynamodb:PutItem", 2), 0);
        assert_eq!(read_units("dynamodb:GetItem", 4097), 2);
        assert_eq!(read_units("dynamodb:Query", 0), 1);
        assert_eq!(read_units("dynamodb:TransactGetItems", 4096), 2);
        assert_eq!(read_units("dynamodb:DescribeTable", 900), 0);
        assert_eq!(read_units("sqs:SendMessage", 100), 0);
    }

    fn item(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn item_size_follows_dynamodbs_rules() {
        // "pk"(2) + "CLAIM#x"(7) + "n"(1) + 12345 (3 digits pairs + 1 = 4) + "ok"(2) + 1 + "l"(1) + [3 + (1+1) + (2+1)].
        let i = item(
            json!({"pk": {"S": "CLAIM#x"}, "n": {"N": "12345"}, "ok": {"BOOL": true}, "l": {"L": [{"S": "a"}, {"N": "10"}]}}),
        );
        assert_eq!(item_size(&i), 9 + 5 + 3 + 9);
        assert_eq!(item_size(&item(json!({"n": {"N": "-0.00100"}}))), 1 + 2);
    }

    #[test]
    fn item_writes_are_priced_from_the_larger_item_and_the_indexes_it_is_in() {
        let small = item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}}));
        let big = item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "notes": {"S": "x".repeat(1500)}}));
        let indexed = item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "gsi1pk": {"S": "p"}, "gsi1sk": {"S": "s"}}));
        let moved = item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "gsi1pk": {"S": "q"}, "gsi1sk": {"S": "s"}}));
        let gsi = [("gsi1pk", "gsi1sk")];
        assert_eq!(item_write_units(&gsi, None, Some(&small), false), 1);
        assert_eq!(item_write_units(&gsi, Some(&big), Some(&small), false), 2, "the larger of before and after");
        assert_eq!(item_write_units(&gsi, Some(&small), Some(&small), false), 1, "a failed condition still costs");
        assert_eq!(item_write_units(&gsi, None, Some(&indexed), false), 2, "table + index");
        assert_eq!(item_write_units(&gsi, Some(&indexed), Some(&moved), false), 3, "index entry moved: delete + put");
        assert_eq!(item_write_units(&gsi, Some(&indexed), None, true), 4, "deleted in a transaction");
        assert_eq!(item_write_units(&[], None, Some(&indexed), false), 1);
    }

    #[test]
    fn writes_are_named_by_table_and_key_prefix() {
        let claim = item(json!({"pk": {"S": "CLAIM#IMPORT#sc-main#1"}}));
        assert_eq!(write_category("p-state", &claim), "state CLAIM#IMPORT");
        assert_eq!(write_category("p-state", &item(json!({"pk": {"S": "BINDING#sc#1"}}))), "state BINDING");
        assert_eq!(
            write_category("p-connector-log", &item(json!({"action": {"S": "import"}}))),
            "connector-log import"
        );
        let put = br#"{"TableName":"p-state","Item":{"pk":{"S":"x"},"sk":{"S":"y"},"v":{"N":"1"}}}"#;
        let writes = item_writes("dynamodb:PutItem", put);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].key.len(), 2);
        let tx = br#"{"TransactItems":[{"Update":{"TableName":"t","Key":{"pk":{"S":"a"}}}},{"Put":{"TableName":"t","Item":{"pk":{"S":"b"}}}}]}"#;
        assert!(item_writes("dynamodb:TransactWriteItems", tx).iter().all(|w| w.transaction));
        assert_eq!(item_writes("dynamodb:GetItem", put).len(), 0);
    }

    #[test]
    fn usage_between_subtracts_per_operation_and_drops_idle_ones() {
        let stats = |calls, w| OpStats { calls, write_units: w, ..OpStats::default() };
        let before =
            AwsUsage::from([("dynamodb:PutItem".into(), stats(2, 2)), ("sqs:SendMessage".into(), stats(1, 0))]);
        let after = AwsUsage::from([("dynamodb:PutItem".into(), stats(5, 7)), ("sqs:SendMessage".into(), stats(1, 0))]);
        let d = usage_between(&before, &after);
        assert_eq!(d.len(), 1);
        assert_eq!(d["dynamodb:PutItem"], stats(3, 5));
        assert_eq!(service_total(&after, "dynamodb").calls, 5);
    }

    #[test]
    fn billed_gb_seconds_round_each_invocation_up_to_the_millisecond() {
        // 1.2 ms → 2 ms, 3 ms → 3 ms: 5 ms at 512 MB = 0.0025 GB-s.
        assert_eq!(gb_seconds(&[Duration::from_micros(1200), ms(3)], 512), Decimal::new(25, 4));
    }

    #[test]
    fn cost_model_prices_a_million_orders() {
        let per_order = PerOrder {
            lambda_gb_seconds: Decimal::new(1, 2),   // 0.01 GB-s
            lambda_invocations: Decimal::new(25, 1), // 2.5
            sqs_requests: Decimal::from(6),
            dynamodb_wru: Decimal::from(10),
            dynamodb_rru: Decimal::from(4),
            http_api_requests: Decimal::from(2),
        };
        let lines = cost_per_million(&per_order, &Prices::default());
        let cost = |item| lines.iter().find(|l| l.item == item).map(|l| l.cost).unwrap_or_default();
        assert_eq!(cost("Lambda compute"), Decimal::new(13, 2)); // 10,000 GB-s × $0.0000133334 = $0.133
        assert_eq!(cost("Lambda requests"), Decimal::new(50, 2));
        assert_eq!(cost("SQS requests"), Decimal::new(240, 2));
        assert_eq!(cost("DynamoDB writes"), Decimal::new(625, 2));
        assert_eq!(cost("DynamoDB reads"), Decimal::new(50, 2));
        assert_eq!(cost("API Gateway (HTTP API)"), Decimal::new(200, 2));
    }

    #[test]
    fn the_template_gives_every_function_its_memory_and_timeout() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml"))
            .expect("template");
        let functions = template_functions(&text).expect("parses");
        assert_eq!(functions.len(), 5, "{functions:?}");
        assert!(functions.contains_key("ConsoleFunction"), "{functions:?}");
        for (id, (memory, timeout)) in &functions {
            assert!(*memory >= 128 && *memory <= 10_240, "{id}: {memory}");
            assert!(!timeout.is_zero(), "{id}");
        }
    }

    #[tokio::test]
    async fn runtime_api_hands_out_events_and_collects_answers() {
        let api = RuntimeApi::start(Duration::from_secs(5)).await.expect("api");
        let base = format!("http://{}/2018-06-01/runtime", api.address);
        // A function: polls next, answers with the event's `n` doubled, once fails.
        let function = tokio::spawn(async move {
            let http = reqwest::Client::new();
            for _ in 0..2 {
                let next = http.get(format!("{base}/invocation/next")).send().await.expect("next");
                let id = next.headers()["lambda-runtime-aws-request-id"].to_str().expect("id").to_owned();
                assert!(next.headers().contains_key("lambda-runtime-deadline-ms"));
                let event: Value = next.json().await.expect("json");
                let n = event["n"].as_i64().unwrap_or_default();
                if n < 0 {
                    http.post(format!("{base}/invocation/{id}/error")).body("negative").send().await.expect("post");
                } else {
                    let answer = serde_json::json!({"doubled": n * 2});
                    http.post(format!("{base}/invocation/{id}/response")).json(&answer).send().await.expect("post");
                }
            }
        });
        api.ready(Duration::from_secs(5)).await.expect("ready");
        let (answer, took) = api.invoke(serde_json::json!({"n": 21})).await.expect("answer");
        assert_eq!(answer["doubled"], 42);
        assert!(took < Duration::from_secs(5));
        assert_eq!(api.invoke(serde_json::json!({"n": -1})).await.unwrap_err(), "negative");
        function.await.expect("function");
    }
}

//! Fault injection and the per-vendor request gate.
//!
//! Every vendor request passes [`gate`]: latency (fixed + random), then pre-handler faults
//! (429 with the vendor's own headers and body, 500, 503, hung connection, dropped connection),
//! then the vendor's rate limit, then the handler, then post-handler faults on writes — the
//! dangerous "commit then fail": the write is applied, the client gets a 5xx or a dropped
//! connection. Faults come from a seeded RNG (reproducible) or from a script of one-shot faults
//! that tests queue for the next matching request.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::core::{lock, SharedState, Vendor};
use crate::ratelimit::Decision;
use crate::server::ConnHandle;

/// What a one-shot fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with the vendor's rate-limit headers and body (before the handler).
    TooManyRequests,
    /// 500 with the vendor's error envelope (before the handler, nothing written).
    InternalError,
    /// 503 (before the handler, nothing written).
    Unavailable,
    /// Never answer (until `hang_for` or shutdown, then the connection is dropped).
    Hang,
    /// Drop the connection without running the handler.
    Drop,
    /// Run the write, then answer 500.
    CommitThen500,
    /// Run the write, then answer 503.
    CommitThen503,
    /// Run the write, then drop the connection before any response byte.
    CommitThenDrop,
    /// Answer 200 with well-formed JSON of another shape (`{"unexpected": true}`) without running
    /// the handler, as a changed API or a misbehaving proxy would: a client must report the
    /// record as unreadable for good, not retry it forever.
    WrongShape,
}

impl FaultKind {
    pub fn is_post(self) -> bool {
        matches!(self, FaultKind::CommitThen500 | FaultKind::CommitThen503 | FaultKind::CommitThenDrop)
    }
}

/// How a probabilistic commit-then-fail ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitFailMode {
    #[default]
    Status500,
    Status503,
    Drop,
}

/// A fault for the next request(s) that match `method` and `path_contains`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedFault {
    pub kind: FaultKind,
    /// Only requests with this method (case-insensitive), e.g. "PUT".
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path contains this text, e.g. "/SalesOrder".
    #[serde(default)]
    pub path_contains: Option<String>,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl ScriptedFault {
    pub fn new(kind: FaultKind) -> Self {
        Self { kind, method: None, path_contains: None, times: 1 }
    }
    pub fn on(mut self, method: &str, path_contains: &str) -> Self {
        self.method = Some(method.to_string());
        self.path_contains = Some(path_contains.to_string());
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }
    fn matches(&self, method: &Method, path: &str) -> bool {
        let m_ok = self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()));
        let p_ok =
            self.path_contains.as_deref().is_none_or(|p| path.to_ascii_lowercase().contains(&p.to_ascii_lowercase()));
        let write_ok = !self.kind.is_post() || is_write(method);
        m_ok && p_ok && write_ok
    }
}

/// Probabilistic faults of one vendor. Probabilities are per request in [0, 1].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSpec {
    /// Fixed latency added to every request.
    pub latency_ms: u64,
    /// Extra random latency, uniform in [0, jitter_ms].
    pub jitter_ms: u64,
    pub p429: f64,
    pub p500: f64,
    pub p503: f64,
    pub p_hang: f64,
    pub p_drop: f64,
    /// Probability that a successful write is followed by a failure (commit then fail).
    pub p_commit_then_fail: f64,
    pub commit_fail_mode: CommitFailMode,
    /// Reset hint of an injected 429, in ms (0 means 1000). An injected throttle models a
    /// momentary spike (another app on the same account spent the budget), not an exhausted
    /// hourly quota, so it tells the client to come back soon.
    #[serde(default)]
    pub throttle_reset_ms: u64,
    /// One-shot faults consumed in order by matching requests.
    pub script: VecDeque<ScriptedFault>,
}

/// Fault specs of all vendors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub vendors: BTreeMap<Vendor, FaultSpec>,
}

impl FaultPlan {
    pub fn get(&self, v: Vendor) -> FaultSpec {
        self.vendors.get(&v).cloned().unwrap_or_default()
    }
    pub fn set(&mut self, v: Vendor, spec: FaultSpec) {
        self.vendors.insert(v, spec);
    }
    pub fn push(&mut self, v: Vendor, f: ScriptedFault) {
        self.vendors.entry(v).or_default().script.push_back(f);
    }
    pub fn clear_script(&mut self, v: Vendor) {
        if let Some(s) = self.vendors.get_mut(&v) {
            s.script.clear();
        }
    }

    /// Parse the CLI form `vendor:key=value,key=value;vendor:...`.
    /// Keys: latency, jitter (ms), p429, p500, p503, hang, drop, commit_fail (probabilities),
    /// commit_mode (500 | 503 | drop).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut plan = FaultPlan::default();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (vendor, rest) =
                part.split_once(':').ok_or_else(|| format!("expected vendor:key=value in '{part}'"))?;
            let vendor: Vendor = vendor.parse()?;
            let mut spec = plan.get(vendor);
            for kv in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("expected key=value in '{kv}'"))?;
                let prob = || -> Result<f64, String> {
                    let p: f64 = v.parse().map_err(|_| format!("bad number '{v}' for {k}"))?;
                    if (0.0..=1.0).contains(&p) {
                        Ok(p)
                    } else {
                        Err(format!("{k} must be in [0,1]"))
                    }
                };
                let ms = || -> Result<u64, String> { v.parse().map_err(|_| format!("bad milliseconds '{v}' for {k}")) };
                match k.trim() {
                    "latency" | "latency_ms" => spec.latency_ms = ms()?,
                    "jitter" | "jitter_ms" => spec.jitter_ms = ms()?,
                    "p429" | "429" => spec.p429 = prob()?,
                    "p500" | "500" => spec.p500 = prob()?,
                    "p503" | "503" => spec.p503 = prob()?,
                    "hang" | "p_hang" => spec.p_hang = prob()?,
                    "drop" | "p_drop" => spec.p_drop = prob()?,
                    "commit_fail" | "p_commit_then_fail" => spec.p_commit_then_fail = prob()?,
                    "commit_mode" => {
                        spec.commit_fail_mode = match v {
                            "500" => CommitFailMode::Status500,
                            "503" => CommitFailMode::Status503,
                            "drop" => CommitFailMode::Drop,
                            _ => return Err(format!("commit_mode must be 500|503|drop, got {v}")),
                        }
                    }
                    other => return Err(format!("unknown fault key '{other}'")),
                }
            }
            plan.set(vendor, spec);
        }
        Ok(plan)
    }
}

pub(crate) fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Faults decided for one request.
struct Decided {
    latency: Duration,
    pre: Option<FaultKind>,
    post: Option<FaultKind>,
}

fn decide(state: &SharedState, vendor: Vendor, method: &Method, path: &str) -> Decided {
    let mut plan = lock(&state.0.faults);
    let spec = plan.vendors.entry(vendor).or_default();
    let mut rng = lock(&state.0.fault_rng);
    let jitter = if spec.jitter_ms > 0 { rng.gen_range(0..=spec.jitter_ms) } else { 0 };
    let latency = Duration::from_millis(spec.latency_ms + jitter);

    // Scripted faults take precedence over dice rolls.
    let mut scripted = None;
    if let Some(i) = spec.script.iter().position(|f| f.matches(method, path)) {
        let f = &mut spec.script[i];
        scripted = Some(f.kind);
        f.times = f.times.saturating_sub(1);
        if f.times == 0 {
            spec.script.remove(i);
        }
    }
    if let Some(k) = scripted {
        return if k.is_post() {
            Decided { latency, pre: None, post: Some(k) }
        } else {
            Decided { latency, pre: Some(k), post: None }
        };
    }

    let r: f64 = rng.gen();
    let mut acc = 0.0;
    let mut pre = None;
    for (p, k) in [
        (spec.p429, FaultKind::TooManyRequests),
        (spec.p500, FaultKind::InternalError),
        (spec.p503, FaultKind::Unavailable),
        (spec.p_hang, FaultKind::Hang),
        (spec.p_drop, FaultKind::Drop),
    ] {
        acc += p;
        if p > 0.0 && r < acc {
            pre = Some(k);
            break;
        }
    }
    let mut post = None;
    if pre.is_none() && is_write(method) && spec.p_commit_then_fail > 0.0 {
        let r2: f64 = rng.gen();
        if r2 < spec.p_commit_then_fail {
            post = Some(match spec.commit_fail_mode {
                CommitFailMode::Status500 => FaultKind::CommitThen500,
                CommitFailMode::Status503 => FaultKind::CommitThen503,
                CommitFailMode::Drop => FaultKind::CommitThenDrop,
            });
        }
    }
    Decided { latency, pre, post }
}

/// Context of the gate middleware of one vendor.
#[derive(Clone)]
pub struct GateCtx {
    pub state: SharedState,
    pub vendor: Vendor,
}

/// Releases a request's slot of its vendor's concurrency limit when it finishes (or is dropped).
struct InflightGuard(SharedState, Vendor);
impl Drop for InflightGuard {
    fn drop(&mut self) {
        lock(&self.0 .0.limiter).end_request(self.1);
    }
}

/// The per-vendor gate: latency, faults, rate limit, commit-then-fail, rate-limit headers.
/// Counts every API request and its answer, then applies faults and limits (`gate_inner`).
pub async fn gate(State(ctx): State<GateCtx>, req: Request, next: Next) -> Response {
    let state = ctx.state.clone();
    let vendor = ctx.vendor;
    let route = route_of(req.method(), req.uri().path());
    let response = gate_inner(State(ctx), req, next).await;
    state.count_request(vendor, response.status().as_u16(), &route);
    response
}

/// `GET /api/Orders/{n}`: the method and the path with every segment holding a digit (an id, a
/// key in quotes, a version is kept when it has dots) shown as `{n}`.
fn route_of(method: &Method, path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| if s.chars().any(|c| c.is_ascii_digit()) && !s.contains('.') { "{n}" } else { s })
        .collect();
    format!("{method} {}", segments.join("/"))
}

async fn gate_inner(State(ctx): State<GateCtx>, req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<ConnectInfo<ConnHandle>>().map(|c| c.0.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let vendor = ctx.vendor;
    let decided = decide(&ctx.state, vendor, &method, &path);
    if !decided.latency.is_zero() {
        tokio::time::sleep(decided.latency).await;
    }
    match decided.pre {
        Some(FaultKind::Hang) => {
            let mut rx = ctx.state.shutdown_rx();
            let hang_for = ctx.state.config().hang_for;
            tokio::select! {
                _ = tokio::time::sleep(hang_for) => {}
                _ = rx.wait_for(|v| *v) => {}
            }
            if let Some(c) = &conn {
                c.kill();
            }
            return vendor_error(vendor, StatusCode::SERVICE_UNAVAILABLE, "hung");
        }
        Some(FaultKind::Drop) => {
            if let Some(c) = &conn {
                c.kill();
            }
            return vendor_error(vendor, StatusCode::INTERNAL_SERVER_ERROR, "dropped");
        }
        Some(FaultKind::TooManyRequests) => {
            let reset_ms = match ctx.state.faults(vendor).throttle_reset_ms {
                0 => 1000,
                ms => ms,
            };
            let d = ctx.state.peek_quota(vendor).map(|d| Decision { reset: Duration::from_millis(reset_ms), ..d });
            return too_many(vendor, d);
        }
        Some(FaultKind::InternalError) => {
            return vendor_error(vendor, StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred.")
        }
        Some(FaultKind::Unavailable) => {
            return vendor_error(vendor, StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Some(FaultKind::WrongShape) => {
            return (StatusCode::OK, axum::Json(serde_json::json!({ "unexpected": true }))).into_response();
        }
        _ => {}
    }

    let sim = vendor.sim();
    let key = sim.rate_key(req.headers(), conn.as_ref().map(|c| c.remote));
    let decision = {
        let mut l = lock(&ctx.state.0.limiter);
        l.check(vendor, &key, Instant::now())
    };
    if let Some(d) = decision {
        if !d.allowed {
            return too_many(vendor, Some(d));
        }
    }

    let _inflight = {
        let mut l = lock(&ctx.state.0.limiter);
        if l.begin_request(vendor) {
            Some(InflightGuard(ctx.state.clone(), vendor))
        } else {
            drop(l);
            return vendor_error(vendor, StatusCode::TOO_MANY_REQUESTS, sim.concurrency_message());
        }
    };

    let mut resp = next.run(req).await;

    if resp.status().is_success() && is_write(&method) {
        match decided.post {
            Some(FaultKind::CommitThen500) => {
                resp = vendor_error(vendor, StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred.")
            }
            Some(FaultKind::CommitThen503) => {
                resp = vendor_error(vendor, StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            Some(FaultKind::CommitThenDrop) => {
                if let Some(c) = &conn {
                    c.kill();
                }
            }
            _ => {}
        }
    }
    if let Some(d) = decision {
        sim.rate_headers(resp.headers_mut(), &d);
    }
    resp
}

impl SharedState {
    /// Current quota of the vendor's shared window without counting a request (used to fill
    /// the headers of an injected 429).
    fn peek_quota(&self, vendor: Vendor) -> Option<Decision> {
        let l = lock(&self.0.limiter);
        let lim = vendor.sim().rate_limit(&l.config)?;
        Some(Decision { allowed: false, limit: lim.requests, remaining: 0, reset: lim.window, window: lim.window })
    }
}

/// The vendor's own 429, with its rate-limit headers showing an empty budget.
fn too_many(vendor: Vendor, d: Option<Decision>) -> Response {
    let sim = vendor.sim();
    let reset = d.map(|d| d.reset).unwrap_or(Duration::from_secs(60));
    let mut resp = sim.too_many_requests(reset);
    if let Some(d) = d {
        sim.rate_headers(resp.headers_mut(), &Decision { remaining: 0, ..d });
    }
    resp
}

/// An error in the vendor's documented envelope.
pub fn vendor_error(vendor: Vendor, status: StatusCode, message: &str) -> Response {
    let body = vendor.sim().error_body(status, message);
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert("Retry-After", HeaderValue::from_static("1"));
    }
    resp
}

/// An empty body helper (used by handlers that answer 204).
pub fn no_content() -> Response {
    Response::builder().status(StatusCode::NO_CONTENT).body(Body::empty()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_fault_string_parses_per_vendor() {
        let p =
            FaultPlan::parse("acumatica:p500=0.1,latency=50,commit_fail=0.05,commit_mode=drop;bc:p429=0.2").unwrap();
        let ac = p.get(Vendor::Acumatica);
        assert_eq!(ac.latency_ms, 50);
        assert_eq!(ac.p500, 0.1);
        assert_eq!(ac.commit_fail_mode, CommitFailMode::Drop);
        assert_eq!(p.get(Vendor::Bigcommerce).p429, 0.2);
        assert!(FaultPlan::parse("acumatica:p500=2").is_err());
        assert!(FaultPlan::parse("nosuch:p500=0.1").is_err());
    }

    #[test]
    fn commit_faults_only_match_writes() {
        let f = ScriptedFault::new(FaultKind::CommitThen500);
        assert!(!f.matches(&Method::GET, "/x"));
        assert!(f.matches(&Method::PUT, "/x"));
        let g = ScriptedFault::new(FaultKind::InternalError).on("GET", "/orders");
        assert!(g.matches(&Method::GET, "/api/Orders"));
        assert!(!g.matches(&Method::PUT, "/api/Orders"));
    }
}

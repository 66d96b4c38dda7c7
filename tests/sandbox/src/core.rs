//! Shared state of all five simulated vendors: their in-memory stores, the write log that counts
//! how often each external reference or tracking number was written (to expose duplicates), the
//! fault plan, the rate limiter and webhook deliveries. Tests reach it through [`SharedState`].

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use crate::config::{RateLimitConfig, SandboxConfig};
use crate::faults::FaultPlan;
use crate::ratelimit::RateLimiter;
pub use crate::vendor::Vendor;
use crate::webhook::{Delivery, WebhookTarget};
use crate::{acumatica, bigcommerce, magento, sellercloud, shipstation};

/// Base URL of each vendor. A documented client appends the vendor's documented path.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VendorUrls {
    /// `http://127.0.0.1:P` — append `/api/token`, `/api/Orders`, `/rest/api/...`.
    pub sellercloud: String,
    /// `http://127.0.0.1:P/{instance}` — append `/entity/auth/login`, `/entity/Default/24.200.001/SalesOrder`.
    pub acumatica: String,
    /// `http://127.0.0.1:P/stores/{hash}` — append `/v2/orders`, `/v3/hooks`.
    pub bigcommerce: String,
    /// `http://127.0.0.1:P` — append `/orders`, `/shipments`.
    pub shipstation: String,
    /// `http://127.0.0.1:P` — append `/rest/default/V1/orders`.
    pub magento: String,
}

impl VendorUrls {
    pub fn get(&self, v: Vendor) -> &str {
        v.sim().url(self)
    }
}

/// Lock a std mutex, recovering from poisoning (a panicking handler must not wedge the sandbox).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One recorded write against a vendor (what a client created or changed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WriteEvent {
    pub seq: u64,
    pub vendor: Vendor,
    /// e.g. `sales_order.CustomerOrder`, `tracking_number`, `exported`, `status`.
    pub kind: String,
    /// The external reference / tracking number / order id that was written.
    pub key: String,
    pub at: DateTime<Utc>,
    pub detail: Value,
}

/// Counts writes per (vendor, kind, key) so tests can assert "written exactly once".
#[derive(Default, Debug)]
pub struct WriteLog {
    seq: u64,
    pub events: Vec<WriteEvent>,
    pub counts: BTreeMap<Vendor, BTreeMap<String, BTreeMap<String, u32>>>,
}

impl WriteLog {
    pub fn record(&mut self, vendor: Vendor, kind: &str, key: &str, detail: Value) {
        self.seq += 1;
        *self
            .counts
            .entry(vendor)
            .or_default()
            .entry(kind.to_string())
            .or_default()
            .entry(key.to_string())
            .or_insert(0) += 1;
        self.events.push(WriteEvent {
            seq: self.seq,
            vendor,
            kind: kind.to_string(),
            key: key.to_string(),
            at: Utc::now(),
            detail,
        });
    }

    pub fn count(&self, vendor: Vendor, kind: &str, key: &str) -> u32 {
        self.counts.get(&vendor).and_then(|k| k.get(kind)).and_then(|m| m.get(key)).copied().unwrap_or(0)
    }

    pub fn clear_vendor(&mut self, vendor: Vendor) {
        self.counts.remove(&vendor);
        self.events.retain(|e| e.vendor != vendor);
    }
}

/// Everything the sandbox holds. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct SharedState(pub(crate) Arc<Inner>);

/// How many API requests a vendor answered (control routes excluded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    pub total: u64,
    pub throttled: u64,
}

pub(crate) struct Inner {
    pub config: SandboxConfig,
    pub sellercloud: Mutex<sellercloud::ScState>,
    pub acumatica: Mutex<acumatica::AcState>,
    pub bigcommerce: Mutex<bigcommerce::BcState>,
    pub shipstation: Mutex<shipstation::SsState>,
    pub magento: Mutex<magento::MgState>,
    pub faults: Mutex<FaultPlan>,
    pub fault_rng: Mutex<StdRng>,
    pub limiter: Mutex<RateLimiter>,
    pub webhooks: Mutex<BTreeMap<Vendor, WebhookTarget>>,
    pub deliveries: Mutex<Vec<Delivery>>,
    pub writes: Mutex<WriteLog>,
    /// API requests per vendor: (answered, of which 429).
    pub requests: Mutex<BTreeMap<Vendor, RequestCount>>,
    /// Requests per vendor and route (`GET /path/{n}`), for calls-per-order breakdowns.
    pub routes: Mutex<BTreeMap<Vendor, BTreeMap<String, u64>>>,
    pub urls: OnceLock<VendorUrls>,
    pub http: reqwest::Client,
    pub shutdown: watch::Sender<bool>,
    pub seed_data: Arc<crate::seed::SeedData>,
}

impl SharedState {
    /// Build state and seed every vendor from `config`.
    pub fn new(config: SandboxConfig) -> Self {
        let data = Arc::new(crate::seed::SeedData::generate(&config));
        let webhooks: BTreeMap<Vendor, WebhookTarget> = Vendor::ALL
            .into_iter()
            .filter_map(|v| v.sim().configured_webhook(&config).map(|t| (v, t.clone())))
            .collect();
        let (shutdown, _) = watch::channel(false);
        let limiter = RateLimiter::new(config.rate_limits, config.limits.clone());
        let http = reqwest::Client::builder().timeout(config.delivery.timeout).build().unwrap_or_default();
        Self(Arc::new(Inner {
            sellercloud: Mutex::new(sellercloud::ScState::seeded(&config, &data)),
            acumatica: Mutex::new(acumatica::AcState::seeded(&config, &data)),
            bigcommerce: Mutex::new(bigcommerce::BcState::seeded(&config, &data)),
            shipstation: Mutex::new(shipstation::SsState::seeded(&config, &data)),
            magento: Mutex::new(magento::MgState::seeded(&config, &data)),
            faults: Mutex::new(config.faults.clone()),
            fault_rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0xFA17_5EED)),
            limiter: Mutex::new(limiter),
            webhooks: Mutex::new(webhooks),
            deliveries: Mutex::new(Vec::new()),
            writes: Mutex::new(WriteLog::default()),
            requests: Mutex::new(BTreeMap::new()),
            routes: Mutex::new(BTreeMap::new()),
            urls: OnceLock::new(),
            http,
            shutdown,
            seed_data: data,
            config,
        }))
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.0.config
    }

    /// Base URLs (set once the listeners are bound).
    pub fn urls(&self) -> Option<&VendorUrls> {
        self.0.urls.get()
    }

    pub fn sellercloud(&self) -> MutexGuard<'_, sellercloud::ScState> {
        lock(&self.0.sellercloud)
    }
    pub fn acumatica(&self) -> MutexGuard<'_, acumatica::AcState> {
        lock(&self.0.acumatica)
    }
    pub fn bigcommerce(&self) -> MutexGuard<'_, bigcommerce::BcState> {
        lock(&self.0.bigcommerce)
    }
    pub fn shipstation(&self) -> MutexGuard<'_, shipstation::SsState> {
        lock(&self.0.shipstation)
    }
    pub fn magento(&self) -> MutexGuard<'_, magento::MgState> {
        lock(&self.0.magento)
    }

    /// Record a write (counted for duplicate detection).
    pub fn record_write(&self, vendor: Vendor, kind: &str, key: &str, detail: Value) {
        lock(&self.0.writes).record(vendor, kind, key, detail);
    }

    /// How many times `key` was written as `kind` on `vendor`.
    pub fn write_count(&self, vendor: Vendor, kind: &str, key: &str) -> u32 {
        lock(&self.0.writes).count(vendor, kind, key)
    }

    /// Counts one answered request of `vendor` (and of its route, e.g. `GET /api/Orders/{n}`).
    pub fn count_request(&self, vendor: Vendor, status: u16, route: &str) {
        {
            let mut requests = lock(&self.0.requests);
            let count = requests.entry(vendor).or_default();
            count.total += 1;
            if status == 429 {
                count.throttled += 1;
            }
        }
        *lock(&self.0.routes).entry(vendor).or_default().entry(route.to_owned()).or_default() += 1;
    }

    /// Requests answered for `vendor` so far, per route (ids in the path shown as `{n}`).
    pub fn route_counts(&self, vendor: Vendor) -> BTreeMap<String, u64> {
        lock(&self.0.routes).get(&vendor).cloned().unwrap_or_default()
    }

    /// API requests answered for `vendor` so far (for calls-per-order and 429-share figures).
    pub fn request_count(&self, vendor: Vendor) -> RequestCount {
        lock(&self.0.requests).get(&vendor).copied().unwrap_or_default()
    }

    pub fn write_counts(&self, vendor: Vendor) -> BTreeMap<String, BTreeMap<String, u32>> {
        lock(&self.0.writes).counts.get(&vendor).cloned().unwrap_or_default()
    }

    /// Keys written more than once: kind → key → count.
    pub fn duplicates(&self, vendor: Vendor) -> BTreeMap<String, BTreeMap<String, u32>> {
        let mut out = self.write_counts(vendor);
        for m in out.values_mut() {
            m.retain(|_, c| *c > 1);
        }
        out.retain(|_, m| !m.is_empty());
        out
    }

    pub fn write_events(&self, vendor: Vendor) -> Vec<WriteEvent> {
        lock(&self.0.writes).events.iter().filter(|e| e.vendor == vendor).cloned().collect()
    }

    /// Replace a vendor's fault spec at run time.
    pub fn set_faults(&self, vendor: Vendor, spec: crate::faults::FaultSpec) {
        lock(&self.0.faults).set(vendor, spec);
    }

    pub fn faults(&self, vendor: Vendor) -> crate::faults::FaultSpec {
        lock(&self.0.faults).get(vendor)
    }

    /// Queue a one-shot fault for the next matching request of `vendor`.
    pub fn push_fault(&self, vendor: Vendor, fault: crate::faults::ScriptedFault) {
        lock(&self.0.faults).push(vendor, fault);
    }

    /// Turn rate limiting on or off at run time (it is on by default).
    pub fn set_rate_limits_enabled(&self, on: bool) {
        lock(&self.0.limiter).enabled = on;
    }

    /// Replace the limits (and restart every window).
    pub fn set_rate_limits(&self, limits: RateLimitConfig) {
        let mut l = lock(&self.0.limiter);
        l.config = limits;
        l.reset();
    }

    pub fn rate_limits(&self) -> (bool, RateLimitConfig) {
        let l = lock(&self.0.limiter);
        (l.enabled, l.config.clone())
    }

    /// Set (or clear) the webhook / push target of a vendor.
    pub fn set_webhook(&self, vendor: Vendor, target: Option<WebhookTarget>) {
        let mut w = lock(&self.0.webhooks);
        match target {
            Some(t) => {
                w.insert(vendor, t);
            }
            None => {
                w.remove(&vendor);
            }
        }
    }

    pub fn webhook(&self, vendor: Vendor) -> Option<WebhookTarget> {
        lock(&self.0.webhooks).get(&vendor).cloned()
    }

    /// Completed webhook deliveries (every attempt of every copy is listed in `attempts`).
    pub fn deliveries(&self, vendor: Vendor) -> Vec<Delivery> {
        lock(&self.0.deliveries).iter().filter(|d| d.vendor == vendor).cloned().collect()
    }

    /// Wait until at least `n` deliveries of `vendor` finished (or the timeout passes).
    pub async fn wait_for_deliveries(&self, vendor: Vendor, n: usize, timeout: std::time::Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let d = self.deliveries(vendor);
            if d.len() >= n || tokio::time::Instant::now() >= deadline {
                return d;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Re-seed one vendor and forget its writes, deliveries, faults queue and rate windows.
    pub fn reset(&self, vendor: Vendor) {
        vendor.sim().reseed(self);
        lock(&self.0.writes).clear_vendor(vendor);
        lock(&self.0.deliveries).retain(|d| d.vendor != vendor);
        lock(&self.0.faults).clear_script(vendor);
        lock(&self.0.limiter).reset_vendor(vendor);
    }

    /// Forgets what the sandbox keeps only for tests to inspect afterwards: the write events
    /// (with their bodies) and the webhook deliveries. Vendor data, the write counts behind
    /// `duplicates`, rate windows and faults stay. A long run (`make soak`) calls it each window
    /// so the process's memory shows the handlers', not an ever-growing test record.
    pub fn forget_history(&self) {
        lock(&self.0.writes).events.clear();
        lock(&self.0.deliveries).clear();
    }

    /// Forgets finished orders, as a vendor's database archives them: for each Import ID
    /// (`SC-…`, `BC-…`) the channel order with its notes, the ERP sales orders that name it and
    /// their shipments. Customers, items, stock and counts stay. A long run (`make soak`) calls it
    /// for orders finished a window ago, so the process it measures holds a vendor's working set
    /// beside the handlers rather than an hour of vendor records (kept, they grew the soak's
    /// process about 280 KiB per order). Returns the ERP orders dropped.
    pub fn forget_orders(&self, import_ids: &[String]) -> usize {
        let wanted: std::collections::BTreeSet<&str> = import_ids.iter().map(String::as_str).collect();
        let mut dropped = 0;
        {
            let mut ac = self.acumatica();
            let keys: Vec<String> = ac
                .sales_orders
                .iter()
                .filter(|(_, o)| o["CustomerOrder"]["value"].as_str().is_some_and(|c| wanted.contains(c)))
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                let Some(order) = ac.sales_orders.remove(&key) else { continue };
                dropped += 1;
                for shipment in order["Shipments"].as_array().into_iter().flatten() {
                    if let Some(nbr) = shipment["ShipmentNbr"]["value"].as_str() {
                        ac.shipments.remove(nbr);
                    }
                }
            }
        }
        for id in &wanted {
            if let Some(n) = id.strip_prefix("SC-").and_then(|i| i.parse::<i64>().ok()) {
                let mut sc = self.sellercloud();
                sc.orders.remove(&n);
                sc.notes.remove(&n);
            } else if let Some(n) = id.strip_prefix("BC-").and_then(|i| i.parse::<i64>().ok()) {
                self.bigcommerce().orders.remove(&n);
            }
        }
        dropped
    }

    /// Reset every vendor.
    pub fn reset_all(&self) {
        for v in Vendor::ALL {
            self.reset(v);
        }
    }

    /// The seeded catalogue, buyers and generated orders.
    pub fn seed_data(&self) -> &crate::seed::SeedData {
        &self.0.seed_data
    }

    pub(crate) fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }
}

// ---------------------------------------------------------------------------------------------
// Money and JSON helpers shared by the vendor modules.
// ---------------------------------------------------------------------------------------------

/// A decimal as an exact JSON number (serde_json runs with `arbitrary_precision` in this
/// workspace, so no float rounding ever touches money).
pub fn num(d: Decimal) -> Value {
    let s = d.normalize().to_string();
    serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s))
}

/// A decimal rounded to `dp` places, as an exact JSON number with trailing zeros kept.
pub fn num_dp(d: Decimal, dp: u32) -> Value {
    let s = fixed(d, dp);
    serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s))
}

/// A decimal formatted with exactly `dp` decimals (BigCommerce money strings use 4).
pub fn fixed(d: Decimal, dp: u32) -> String {
    let mut r = d.round_dp(dp);
    r.rescale(dp);
    r.to_string()
}

/// Lenient money parse: a JSON number or a numeric string.
pub fn parse_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str(&s).ok().or_else(|| Decimal::from_scientific(&s).ok())
        }
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// Integer from a JSON number or numeric string.
pub fn parse_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.to_string().parse::<i64>().ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Boolean from JSON bool, 0/1 or "true"/"false".
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Parse a query string into (key, value) pairs, keeping repeats and order.
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    match q {
        Some(q) => url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        None => Vec::new(),
    }
}

/// Case-insensitive lookup of the first value for `key`.
pub fn qget<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forget_orders_drops_a_finished_orders_records_and_nothing_else() {
        let state = SharedState::new(SandboxConfig {
            sellercloud_orders: 0,
            bigcommerce_orders: 0,
            magento_orders: 0,
            shipstation_orders: 0,
            ..SandboxConfig::default()
        });
        let ids = state.sellercloud_create_orders(2, &crate::seed::OrderOverrides::default());
        let (done, open) = (format!("SC-{}", ids[0]), format!("SC-{}", ids[1]));
        {
            let mut ac = state.acumatica();
            for (nbr, id, shipment) in [("SO1", &done, "SH1"), ("SO2", &open, "SH2")] {
                ac.sales_orders.insert(
                    format!("SO/{nbr}"),
                    json!({ "CustomerOrder": { "value": id }, "Shipments": [{ "ShipmentNbr": { "value": shipment } }] }),
                );
                ac.shipments.insert(shipment.to_owned(), json!({}));
            }
        }
        assert_eq!(state.forget_orders(std::slice::from_ref(&done)), 1);
        {
            let ac = state.acumatica();
            assert!(!ac.sales_orders.contains_key("SO/SO1") && ac.sales_orders.contains_key("SO/SO2"));
            assert!(!ac.shipments.contains_key("SH1") && ac.shipments.contains_key("SH2"));
        }
        let sc = state.sellercloud();
        assert!(!sc.orders.contains_key(&ids[0]) && sc.orders.contains_key(&ids[1]));
    }
}

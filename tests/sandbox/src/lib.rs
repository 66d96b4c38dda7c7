//! Orderbridge vendor sandbox: a stateful simulator of the Sellercloud, Acumatica, BigCommerce,
//! ShipStation and Magento APIs that every test and the demo run against.
//!
//! Each vendor listens on its own loopback port and serves the vendor's documented paths, auth,
//! paging, field names, error envelopes and rate-limit behaviour, so a documented client needs
//! only its base URL changed. Every port also serves an inspection/control API under
//! `/_sandbox/...`, and the same operations are Rust methods on [`SharedState`].
//!
//! Each vendor module implements [`SimulatedVendor`] (routes, base URL, credentials, rate-limit
//! policy and headers, error envelopes); [`Vendor::sim`] is the single place that dispatches on
//! the [`Vendor`] enum. See [`vendor`] and the README for what a new simulated vendor needs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), orderbridge_sandbox::SandboxError> {
//! use orderbridge_sandbox::{start, SandboxConfig};
//! let sandbox = start(SandboxConfig { seed: 7, sellercloud_orders: 50, ..Default::default() }).await?;
//! let urls = sandbox.urls();
//! // Sellercloud:  {urls.sellercloud}/api/token, /api/Orders ...
//! // Acumatica:    {urls.acumatica}/entity/auth/login, /entity/Default/24.200.001/SalesOrder
//! // BigCommerce:  {urls.bigcommerce}/v2/orders            (base = http://127.0.0.1:P/stores/{hash})
//! // ShipStation:  {urls.shipstation}/orders, /shipments
//! // Magento:      {urls.magento}/rest/default/V1/orders
//! let written = sandbox.state().write_count(
//!     orderbridge_sandbox::Vendor::Acumatica, "sales_order.CustomerOrder", "SC-1001");
//! # let _ = (urls, written);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

// Handlers return `Result<_, Response>` so early exits carry the vendor's own error envelope;
// the response is built once per failed request, so boxing it would only add noise.
#![allow(clippy::result_large_err)]
// The vendor payloads are large `json!` literals.
#![recursion_limit = "256"]

pub mod acumatica;
pub mod bigcommerce;
pub mod config;
pub mod core;
pub mod faults;
pub(crate) mod inspect;
pub mod magento;
pub mod ratelimit;
pub mod seed;
pub mod sellercloud;
pub mod server;
pub mod shipstation;
pub mod vendor;
pub mod webhook;

use std::time::Duration;

use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::config::{Credentials, DeliveryPolicy, Ports, RateLimitConfig, SandboxConfig, WindowLimit};
pub use crate::core::{RequestCount, SharedState, Vendor, VendorUrls, WriteEvent};
pub use crate::faults::{CommitFailMode, FaultKind, FaultPlan, FaultSpec, ScriptedFault};
pub use crate::vendor::SimulatedVendor;
pub use crate::webhook::{Delivery, WebhookTarget};

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not bind {vendor} listener: {source}")]
    Bind {
        vendor: Vendor,
        #[source]
        source: std::io::Error,
    },
}

/// A running sandbox: five servers sharing one [`SharedState`].
pub struct Sandbox {
    urls: VendorUrls,
    state: SharedState,
    tasks: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Base URL of each vendor (see [`VendorUrls`] for what each includes).
    pub fn urls(&self) -> &VendorUrls {
        &self.urls
    }

    /// Direct Rust inspection and control (same operations as `/_sandbox/...`).
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// The JSON line the binary prints: base URLs and credentials per vendor.
    pub fn describe(&self) -> Value {
        let mut vendors = serde_json::Map::new();
        for v in Vendor::ALL {
            let mut entry = json!({ "base_url": self.urls.get(v) });
            if let (Some(e), Value::Object(c)) = (entry.as_object_mut(), vendor_credentials(self.state.config(), v)) {
                e.extend(c);
            }
            vendors.insert(v.name().to_string(), entry);
        }
        json!({
            "sandbox": "orderbridge-sandbox",
            "seed": self.state.config().seed,
            "control_prefix": "/_sandbox",
            "vendors": vendors,
        })
    }

    /// Stop every server: hung requests are released, in-flight requests get a moment to finish.
    pub async fn shutdown(self) {
        let _ = self.state.0.shutdown.send(true);
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), t).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Credentials a client of `vendor` must present (as JSON, printed at start-up).
pub fn vendor_credentials(cfg: &SandboxConfig, vendor: Vendor) -> Value {
    vendor.sim().credentials(cfg)
}

/// One port's app: the vendor API behind the fault/rate-limit gate, the common control API and
/// the vendor's own control routes.
fn vendor_router(state: &SharedState, vendor: Vendor) -> Router {
    let sim = vendor.sim();
    let gated = sim
        .router(state.clone())
        .layer(axum::middleware::from_fn_with_state(faults::GateCtx { state: state.clone(), vendor }, faults::gate));
    let app = gated.merge(inspect::router(state.clone(), vendor)).merge(sim.control_router(state.clone()));
    sim.finish_app(app)
}

/// Bind every vendor on 127.0.0.1 (port 0 = any free port unless `config.ports` says otherwise)
/// and serve until [`Sandbox::shutdown`].
pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
    let ports = config.ports;
    let state = SharedState::new(config);
    let mut listeners = Vec::new();
    for v in Vendor::ALL {
        let port = v.sim().port(&ports);
        let l =
            TcpListener::bind(("127.0.0.1", port)).await.map_err(|source| SandboxError::Bind { vendor: v, source })?;
        let addr = l.local_addr().map_err(|source| SandboxError::Bind { vendor: v, source })?;
        listeners.push((v, l, addr));
    }
    let mut urls = VendorUrls::default();
    for (v, _, addr) in &listeners {
        *v.sim().url_mut(&mut urls) = v.sim().base_url(&format!("http://{addr}"), state.config());
    }
    let _ = state.0.urls.set(urls.clone());
    let mut tasks = Vec::new();
    for (v, l, _) in listeners {
        let app = vendor_router(&state, v);
        let mut rx = state.shutdown_rx();
        let svc = app.into_make_service_with_connect_info::<server::ConnHandle>();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(server::KillableListener(l), svc)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await;
        }));
    }
    Ok(Sandbox { urls, state, tasks })
}

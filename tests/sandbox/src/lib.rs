//! Orderbridge vendor sandbox: a stateful simulator of the Sellercloud, Acumatica, BigCommerce,
//! ShipStation and Magento APIs that every test and the demo run against.
//!
//! Each vendor listens on its own loopback port and serves the vendor's documented paths, auth,
//! paging, field names, error envelopes and rate-limit behaviour, so a documented client needs
//! only its base URL changed. Every port also serves an inspection/control API under
//! `/_sandbox/...`, and the same operations are Rust methods on [`SharedState`].
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
pub mod webhook;

use std::time::Duration;

use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::config::{Credentials, DeliveryPolicy, Ports, RateLimitConfig, SandboxConfig, WindowLimit};
pub use crate::core::{RequestCount, SharedState, Vendor, VendorUrls, WriteEvent};
pub use crate::faults::{CommitFailMode, FaultKind, FaultPlan, FaultSpec, ScriptedFault};
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
    let c = &cfg.credentials;
    match vendor {
        Vendor::Sellercloud => json!({
            "username": c.sellercloud_username, "password": c.sellercloud_password,
        }),
        Vendor::Acumatica => json!({
            "username": c.acumatica_username, "password": c.acumatica_password,
            "tenant": c.acumatica_tenant, "client_id": c.acumatica_client_id,
            "client_secret": c.acumatica_client_secret, "endpoint": "Default",
            "endpoint_versions": acumatica::ENDPOINT_VERSIONS,
        }),
        Vendor::Bigcommerce => json!({
            "store_hash": cfg.bigcommerce_store_hash, "access_token": c.bigcommerce_access_token,
            "client_id": c.bigcommerce_client_id, "client_secret": c.bigcommerce_client_secret,
        }),
        Vendor::Shipstation => json!({
            "api_key": c.shipstation_api_key, "api_secret": c.shipstation_api_secret,
            "store_id": cfg.shipstation_store_id,
        }),
        Vendor::Magento => json!({
            "admin_username": c.magento_admin_username, "admin_password": c.magento_admin_password,
            "integration_token": c.magento_integration_token, "store_code": "default",
        }),
    }
}

fn vendor_router(state: &SharedState, vendor: Vendor) -> Router {
    let api = match vendor {
        Vendor::Sellercloud => sellercloud::router(state.clone()),
        Vendor::Acumatica => acumatica::router(state.clone()),
        Vendor::Bigcommerce => bigcommerce::router(state.clone()),
        Vendor::Shipstation => shipstation::router(state.clone()),
        Vendor::Magento => magento::router(state.clone()),
    };
    let gated =
        api.layer(axum::middleware::from_fn_with_state(faults::GateCtx { state: state.clone(), vendor }, faults::gate));
    let control = match vendor {
        Vendor::Sellercloud => sellercloud::control_router(state.clone()),
        Vendor::Acumatica => acumatica::control_router(state.clone()),
        Vendor::Bigcommerce => bigcommerce::control_router(state.clone()),
        Vendor::Shipstation => shipstation::control_router(state.clone()),
        Vendor::Magento => magento::control_router(state.clone()),
    };
    let app = gated.merge(inspect::router(state.clone(), vendor)).merge(control);
    match vendor {
        // ASP.NET routing is case-insensitive; Sellercloud's docs mix `/api/Orders` and
        // `/rest/api/orders/...`, so match paths case-insensitively.
        Vendor::Sellercloud => {
            Router::new().fallback_service(app).layer(axum::middleware::map_request(sellercloud::lowercase_path))
        }
        _ => app,
    }
}

/// Bind every vendor on 127.0.0.1 (port 0 = any free port unless `config.ports` says otherwise)
/// and serve until [`Sandbox::shutdown`].
pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
    let ports = config.ports;
    let state = SharedState::new(config);
    let mut listeners = Vec::new();
    for v in Vendor::ALL {
        let port = match v {
            Vendor::Sellercloud => ports.sellercloud,
            Vendor::Acumatica => ports.acumatica,
            Vendor::Bigcommerce => ports.bigcommerce,
            Vendor::Shipstation => ports.shipstation,
            Vendor::Magento => ports.magento,
        };
        let l =
            TcpListener::bind(("127.0.0.1", port)).await.map_err(|source| SandboxError::Bind { vendor: v, source })?;
        let addr = l.local_addr().map_err(|source| SandboxError::Bind { vendor: v, source })?;
        listeners.push((v, l, addr));
    }
    let base = |v: Vendor| {
        listeners.iter().find(|(x, _, _)| *x == v).map(|(_, _, a)| format!("http://{a}")).unwrap_or_default()
    };
    let cfg = state.config();
    let urls = VendorUrls {
        sellercloud: base(Vendor::Sellercloud),
        acumatica: format!("{}/{}", base(Vendor::Acumatica), cfg.acumatica_instance),
        bigcommerce: format!("{}/stores/{}", base(Vendor::Bigcommerce), cfg.bigcommerce_store_hash),
        shipstation: base(Vendor::Shipstation),
        magento: base(Vendor::Magento),
    };
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

//! BigCommerce as a [`SimulatedVendor`].

use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use crate::config::{Ports, RateLimitConfig, SandboxConfig, WindowLimit};
use crate::core::{SharedState, VendorUrls};
use crate::ratelimit::{header_value, Decision};
use crate::vendor::{SimulatedVendor, Vendor};
use crate::webhook::WebhookTarget;

/// BigCommerce v2/v3: `X-Auth-Token`, a per-store window with quota headers on every response,
/// v2 error arrays, signed webhooks.
pub struct Sim;

impl SimulatedVendor for Sim {
    fn vendor(&self) -> Vendor {
        Vendor::Bigcommerce
    }
    fn name(&self) -> &'static str {
        "bigcommerce"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["bc"]
    }

    fn port(&self, ports: &Ports) -> u16 {
        ports.bigcommerce
    }
    /// The store URL: `http://127.0.0.1:P/stores/{hash}`.
    fn base_url(&self, origin: &str, cfg: &SandboxConfig) -> String {
        format!("{origin}/stores/{}", cfg.bigcommerce_store_hash)
    }
    fn url<'a>(&self, urls: &'a VendorUrls) -> &'a str {
        &urls.bigcommerce
    }
    fn url_mut<'a>(&self, urls: &'a mut VendorUrls) -> &'a mut String {
        &mut urls.bigcommerce
    }
    fn credentials(&self, cfg: &SandboxConfig) -> Value {
        let c = &cfg.credentials;
        json!({
            "store_hash": cfg.bigcommerce_store_hash, "access_token": c.bigcommerce_access_token,
            "client_id": c.bigcommerce_client_id, "client_secret": c.bigcommerce_client_secret,
        })
    }
    fn configured_webhook<'a>(&self, cfg: &'a SandboxConfig) -> Option<&'a WebhookTarget> {
        cfg.bigcommerce_webhook.as_ref()
    }

    fn router(&self, state: SharedState) -> Router {
        super::router(state)
    }
    fn control_router(&self, state: SharedState) -> Router {
        super::control_router(state)
    }
    fn reseed(&self, state: &SharedState) {
        let fresh = super::BcState::seeded(state.config(), state.seed_data());
        *state.bigcommerce() = fresh;
    }

    /// Per store (the default bucket) [BC6].
    fn rate_limit(&self, limits: &RateLimitConfig) -> Option<WindowLimit> {
        Some(limits.bigcommerce)
    }
    /// Sent on every response [BC6].
    fn rate_headers(&self, h: &mut HeaderMap, d: &Decision) {
        h.insert("X-Rate-Limit-Time-Window-Ms", header_value(d.window.as_millis().to_string()));
        h.insert("X-Rate-Limit-Time-Reset-Ms", header_value(d.reset.as_millis().to_string()));
        h.insert("X-Rate-Limit-Requests-Quota", header_value(d.limit.to_string()));
        h.insert("X-Rate-Limit-Requests-Left", header_value(d.remaining.to_string()));
    }

    /// v2 error array.
    fn error_body(&self, status: StatusCode, message: &str) -> Value {
        json!([{ "status": status.as_u16(), "message": message }])
    }
    fn throttle_message(&self) -> &'static str {
        "You have exceeded your request quota. Please try again later."
    }
}

//! ShipStation as a [`SimulatedVendor`].

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};

use crate::config::{Ports, RateLimitConfig, SandboxConfig, WindowLimit};
use crate::core::{SharedState, VendorUrls};
use crate::ratelimit::{header_value, Decision};
use crate::vendor::{SimulatedVendor, Vendor};
use crate::webhook::WebhookTarget;

/// ShipStation V1: HTTP Basic, 40 requests per minute per API key with `X-Rate-Limit-*` headers,
/// `{"message"}` errors, thin `SHIP_NOTIFY` webhooks.
pub struct Sim;

impl SimulatedVendor for Sim {
    fn vendor(&self) -> Vendor {
        Vendor::Shipstation
    }
    fn name(&self) -> &'static str {
        "shipstation"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["ss"]
    }

    fn port(&self, ports: &Ports) -> u16 {
        ports.shipstation
    }
    fn url<'a>(&self, urls: &'a VendorUrls) -> &'a str {
        &urls.shipstation
    }
    fn url_mut<'a>(&self, urls: &'a mut VendorUrls) -> &'a mut String {
        &mut urls.shipstation
    }
    fn credentials(&self, cfg: &SandboxConfig) -> Value {
        let c = &cfg.credentials;
        json!({
            "api_key": c.shipstation_api_key, "api_secret": c.shipstation_api_secret,
            "store_id": cfg.shipstation_store_id,
        })
    }
    fn configured_webhook<'a>(&self, cfg: &'a SandboxConfig) -> Option<&'a WebhookTarget> {
        cfg.shipstation_webhook.as_ref()
    }

    fn router(&self, state: SharedState) -> Router {
        super::router(state)
    }
    fn control_router(&self, state: SharedState) -> Router {
        super::control_router(state)
    }
    fn reseed(&self, state: &SharedState) {
        let fresh = super::SsState::seeded(state.config(), state.seed_data());
        *state.shipstation() = fresh;
    }

    fn rate_limit(&self, limits: &RateLimitConfig) -> Option<WindowLimit> {
        Some(limits.shipstation)
    }
    /// Per API key (the Basic-auth user name) [SS1].
    fn rate_key(&self, headers: &HeaderMap, _remote: Option<SocketAddr>) -> String {
        headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(k, _)| k.to_string()))
            .unwrap_or_else(|| "anonymous".into())
    }
    /// Sent on every response [SS1].
    fn rate_headers(&self, h: &mut HeaderMap, d: &Decision) {
        h.insert("X-Rate-Limit-Limit", header_value(d.limit.to_string()));
        h.insert("X-Rate-Limit-Remaining", header_value(d.remaining.to_string()));
        // Seconds until the window resets, rounded up so a client never retries early.
        h.insert("X-Rate-Limit-Reset", header_value(d.reset.as_millis().div_ceil(1000).to_string()));
    }

    /// `{"message": …}` [SS3][SS8].
    fn error_body(&self, _status: StatusCode, message: &str) -> Value {
        json!({ "message": message })
    }
    fn throttle_message(&self) -> &'static str {
        "Too Many Requests"
    }
}

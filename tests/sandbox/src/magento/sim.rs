//! Magento as a [`SimulatedVendor`].

use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};

use crate::config::{Ports, RateLimitConfig, SandboxConfig, WindowLimit};
use crate::core::{SharedState, VendorUrls};
use crate::vendor::{SimulatedVendor, Vendor};

/// Magento 2 REST: admin or integration Bearer tokens, no documented rate limit (optional here),
/// `{"message"}` errors.
pub struct Sim;

impl SimulatedVendor for Sim {
    fn vendor(&self) -> Vendor {
        Vendor::Magento
    }
    fn name(&self) -> &'static str {
        "magento"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["mg"]
    }

    fn port(&self, ports: &Ports) -> u16 {
        ports.magento
    }
    fn url<'a>(&self, urls: &'a VendorUrls) -> &'a str {
        &urls.magento
    }
    fn url_mut<'a>(&self, urls: &'a mut VendorUrls) -> &'a mut String {
        &mut urls.magento
    }
    fn credentials(&self, cfg: &SandboxConfig) -> Value {
        let c = &cfg.credentials;
        json!({
            "admin_username": c.magento_admin_username, "admin_password": c.magento_admin_password,
            "integration_token": c.magento_integration_token, "store_code": "default",
        })
    }

    fn router(&self, state: SharedState) -> Router {
        super::router(state)
    }
    fn control_router(&self, state: SharedState) -> Router {
        super::control_router(state)
    }
    fn reseed(&self, state: &SharedState) {
        let fresh = super::MgState::seeded(state.config(), state.seed_data());
        *state.magento() = fresh;
    }

    /// No documented limit (server/WAF specific); `RateLimitConfig::magento` can set one.
    fn rate_limit(&self, limits: &RateLimitConfig) -> Option<WindowLimit> {
        limits.magento
    }

    fn error_body(&self, _status: StatusCode, message: &str) -> Value {
        json!({ "message": message })
    }
    fn throttle_message(&self) -> &'static str {
        "Too Many Requests"
    }
}

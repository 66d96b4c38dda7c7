//! Acumatica as a [`SimulatedVendor`].

use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};

use crate::config::{Ports, RateLimitConfig, SandboxConfig, WindowLimit};
use crate::core::{SharedState, VendorUrls};
use crate::vendor::{SimulatedVendor, Vendor};
use crate::webhook::WebhookTarget;

/// Acumatica contract-based REST: per-instance licence limits (requests per minute, concurrent
/// requests, API users), HttpError bodies, push notifications.
pub struct Sim;

impl SimulatedVendor for Sim {
    fn vendor(&self) -> Vendor {
        Vendor::Acumatica
    }
    fn name(&self) -> &'static str {
        "acumatica"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["ac"]
    }

    fn port(&self, ports: &Ports) -> u16 {
        ports.acumatica
    }
    /// The instance URL: `http://127.0.0.1:P/{instance}`.
    fn base_url(&self, origin: &str, cfg: &SandboxConfig) -> String {
        format!("{origin}/{}", cfg.acumatica_instance)
    }
    fn url<'a>(&self, urls: &'a VendorUrls) -> &'a str {
        &urls.acumatica
    }
    fn url_mut<'a>(&self, urls: &'a mut VendorUrls) -> &'a mut String {
        &mut urls.acumatica
    }
    fn credentials(&self, cfg: &SandboxConfig) -> Value {
        let c = &cfg.credentials;
        json!({
            "username": c.acumatica_username, "password": c.acumatica_password,
            "tenant": c.acumatica_tenant, "client_id": c.acumatica_client_id,
            "client_secret": c.acumatica_client_secret, "endpoint": "Default",
            "endpoint_versions": super::ENDPOINT_VERSIONS,
        })
    }
    fn configured_webhook<'a>(&self, cfg: &'a SandboxConfig) -> Option<&'a WebhookTarget> {
        cfg.acumatica_push.as_ref()
    }

    fn router(&self, state: SharedState) -> Router {
        super::router(state)
    }
    fn control_router(&self, state: SharedState) -> Router {
        super::control_router(state)
    }
    fn reseed(&self, state: &SharedState) {
        let fresh = super::AcState::seeded(state.config(), state.seed_data());
        *state.acumatica() = fresh;
    }

    /// Per instance (the default bucket) [AC9].
    fn rate_limit(&self, limits: &RateLimitConfig) -> Option<WindowLimit> {
        Some(limits.acumatica_per_minute)
    }
    fn max_concurrent(&self, limits: &RateLimitConfig) -> Option<usize> {
        Some(limits.acumatica_max_concurrent)
    }
    fn concurrency_message(&self) -> &'static str {
        "The maximum number of concurrent API requests allowed by the license has been exceeded."
    }

    /// HttpError [AC14].
    fn error_body(&self, _status: StatusCode, message: &str) -> Value {
        json!({
            "message": message,
            "exceptionMessage": message,
            "exceptionType": "PX.Api.ContractBased.SandboxException",
            "stackTrace": "",
        })
    }
    fn throttle_message(&self) -> &'static str {
        "The number of API requests per minute has exceeded the limit allowed by the license."
    }
}

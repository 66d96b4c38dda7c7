//! Sellercloud as a [`SimulatedVendor`].

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::config::{Ports, RateLimitConfig, SandboxConfig, WindowLimit};
use crate::core::{SharedState, VendorUrls};
use crate::vendor::{SimulatedVendor, Vendor};

/// Sellercloud REST: token auth, per-client-IP hourly limit, ASP.NET error bodies.
pub struct Sim;

impl SimulatedVendor for Sim {
    fn vendor(&self) -> Vendor {
        Vendor::Sellercloud
    }
    fn name(&self) -> &'static str {
        "sellercloud"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["sc"]
    }

    fn port(&self, ports: &Ports) -> u16 {
        ports.sellercloud
    }
    fn url<'a>(&self, urls: &'a VendorUrls) -> &'a str {
        &urls.sellercloud
    }
    fn url_mut<'a>(&self, urls: &'a mut VendorUrls) -> &'a mut String {
        &mut urls.sellercloud
    }
    fn credentials(&self, cfg: &SandboxConfig) -> Value {
        let c = &cfg.credentials;
        json!({ "username": c.sellercloud_username, "password": c.sellercloud_password })
    }

    fn router(&self, state: SharedState) -> Router {
        super::router(state)
    }
    fn control_router(&self, state: SharedState) -> Router {
        super::control_router(state)
    }
    /// ASP.NET routing is case-insensitive; Sellercloud's docs mix `/api/Orders` and
    /// `/rest/api/orders/...`, so paths are matched case-insensitively.
    fn finish_app(&self, app: Router) -> Router {
        Router::new().fallback_service(app).layer(axum::middleware::map_request(super::lowercase_path))
    }
    fn reseed(&self, state: &SharedState) {
        let fresh = super::ScState::seeded(state.config(), state.seed_data());
        *state.sellercloud() = fresh;
    }

    fn rate_limit(&self, limits: &RateLimitConfig) -> Option<WindowLimit> {
        Some(limits.sellercloud)
    }
    /// Per client (IP) [SC3].
    fn rate_key(&self, _headers: &HeaderMap, remote: Option<SocketAddr>) -> String {
        remote.map(|r| r.ip().to_string()).unwrap_or_else(|| "unknown".into())
    }

    /// ASP.NET Web API default error body (Sellercloud's own shape is undocumented).
    fn error_body(&self, _status: StatusCode, message: &str) -> Value {
        json!({ "Message": message })
    }
    fn throttle_message(&self) -> &'static str {
        "Too many requests."
    }
    /// The documented throttling body with the UTC instant the window refills.
    fn too_many_requests(&self, reset: Duration) -> Response {
        let at = Utc::now() + chrono::Duration::milliseconds(reset.as_millis() as i64);
        (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({
                "Error": self.throttle_message(),
                "RateLimitResetTime": at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            })),
        )
            .into_response()
    }
}

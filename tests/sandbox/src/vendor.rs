//! The simulated vendors and the one place the sandbox dispatches on them.
//!
//! Every simulated vendor is a module (`sellercloud`, `acumatica`, …) with a unit struct `Sim`
//! that implements [`SimulatedVendor`]: its name, where it listens, the base URL and credentials a
//! client is given, its API and control routers, how it is re-seeded, its rate-limit policy and
//! headers, and its error envelopes (what a 429, 500 or 503 looks like from that vendor).
//! [`Vendor`] is the public, serialisable name of a vendor; [`Vendor::sim`] maps it to its
//! implementation and is the only `match` on the variants. Everything else (server start-up,
//! the fault gate, the rate limiter, the control API, reset) calls trait methods.
//!
//! A new simulated vendor is one module implementing the trait and one variant here (plus its
//! arm in [`Vendor::sim`] and its entry in [`Vendor::ALL`]); see the README for the checklist.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Ports, RateLimitConfig, SandboxConfig, WindowLimit};
use crate::core::{SharedState, VendorUrls};
use crate::faults::vendor_error;
use crate::ratelimit::Decision;
use crate::webhook::WebhookTarget;
use crate::{acumatica, bigcommerce, magento, sellercloud, shipstation};

/// The five simulated vendors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Sellercloud,
    Acumatica,
    Bigcommerce,
    Shipstation,
    Magento,
}

impl Vendor {
    /// Every vendor, in start-up (and print) order.
    pub const ALL: [Vendor; 5] =
        [Vendor::Sellercloud, Vendor::Acumatica, Vendor::Bigcommerce, Vendor::Shipstation, Vendor::Magento];

    /// The implementation of this vendor: the one dispatch point of the sandbox.
    pub fn sim(self) -> &'static dyn SimulatedVendor {
        match self {
            Vendor::Sellercloud => &sellercloud::Sim,
            Vendor::Acumatica => &acumatica::Sim,
            Vendor::Bigcommerce => &bigcommerce::Sim,
            Vendor::Shipstation => &shipstation::Sim,
            Vendor::Magento => &magento::Sim,
        }
    }

    /// Lower-case name (`sellercloud`, …), as serialised and printed.
    pub fn name(self) -> &'static str {
        self.sim().name()
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Vendor {
    type Err = String;
    /// The name or a short alias (`sc`, `ac`, `bc`, `ss`, `mg`), case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Vendor::ALL
            .into_iter()
            .find(|v| v.sim().name() == wanted || v.sim().aliases().contains(&wanted.as_str()))
            .ok_or_else(|| format!("unknown vendor '{wanted}'"))
    }
}

/// Everything the shared machinery needs to know about one simulated vendor.
///
/// Required methods say what differs between every vendor; provided methods are the common
/// case (no vendor-specific path prefix, no webhook at start, one rate window per vendor, no
/// rate-limit headers, no concurrency limit, the 429 in the usual error envelope).
pub trait SimulatedVendor: Send + Sync + 'static {
    /// The enum variant this implements.
    fn vendor(&self) -> Vendor;

    /// Lower-case name used in JSON, logs and the CLI (`sellercloud`).
    fn name(&self) -> &'static str;

    /// Short names accepted by `--faults` and [`Vendor::from_str`] (`sc`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    // -- Where it listens and what a client is given ------------------------------------------

    /// The configured port (0 = any free port).
    fn port(&self, ports: &Ports) -> u16;

    /// The base URL handed to clients, from the listener's `http://127.0.0.1:P` origin
    /// (Acumatica appends its instance, BigCommerce `/stores/{hash}`).
    fn base_url(&self, origin: &str, _cfg: &SandboxConfig) -> String {
        origin.to_string()
    }

    /// This vendor's entry in [`VendorUrls`].
    fn url<'a>(&self, urls: &'a VendorUrls) -> &'a str;

    /// This vendor's entry in [`VendorUrls`], to fill in at start-up.
    fn url_mut<'a>(&self, urls: &'a mut VendorUrls) -> &'a mut String;

    /// The credentials a client must present, as printed at start-up and by `/_sandbox/info`.
    fn credentials(&self, cfg: &SandboxConfig) -> Value;

    /// The webhook / push target configured at start, if the vendor sends any.
    fn configured_webhook<'a>(&self, _cfg: &'a SandboxConfig) -> Option<&'a WebhookTarget> {
        None
    }

    // -- Routes and state ---------------------------------------------------------------------

    /// The vendor API (its own auth checks included); the fault/rate-limit gate wraps it.
    fn router(&self, state: SharedState) -> Router;

    /// Vendor-specific `/_sandbox/...` routes (never gated).
    fn control_router(&self, state: SharedState) -> Router;

    /// Last wrapping of the whole app of this port (Sellercloud: case-insensitive paths).
    fn finish_app(&self, app: Router) -> Router {
        app
    }

    /// Replace the vendor's store with freshly seeded data.
    fn reseed(&self, state: &SharedState);

    // -- Rate limits ----------------------------------------------------------------------------

    /// The fixed request window, or `None` when the vendor documents no limit.
    fn rate_limit(&self, limits: &RateLimitConfig) -> Option<WindowLimit>;

    /// Which bucket a request counts against (client IP, API key, store, instance).
    fn rate_key(&self, _headers: &HeaderMap, _remote: Option<SocketAddr>) -> String {
        "store".into()
    }

    /// The vendor's rate-limit headers, if it sends any.
    fn rate_headers(&self, _headers: &mut HeaderMap, _quota: &Decision) {}

    /// Maximum concurrent API requests (over it: 429 with [`Self::concurrency_message`]).
    fn max_concurrent(&self, _limits: &RateLimitConfig) -> Option<usize> {
        None
    }

    /// Message of the 429 sent over the concurrency limit.
    fn concurrency_message(&self) -> &'static str {
        self.throttle_message()
    }

    // -- Error envelopes ------------------------------------------------------------------------

    /// The body of an error response in the vendor's documented envelope.
    fn error_body(&self, status: StatusCode, message: &str) -> Value;

    /// Message of the vendor's over-the-limit 429.
    fn throttle_message(&self) -> &'static str;

    /// The vendor's 429 (without rate-limit headers; the gate adds them). `reset` is the time
    /// until the window refills.
    fn too_many_requests(&self, _reset: Duration) -> Response {
        vendor_error(self.vendor(), StatusCode::TOO_MANY_REQUESTS, self.throttle_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_dispatches_to_its_own_implementation() {
        for v in Vendor::ALL {
            assert_eq!(v.sim().vendor(), v);
            assert_eq!(v.name().parse::<Vendor>(), Ok(v));
            for a in v.sim().aliases() {
                assert_eq!(a.parse::<Vendor>(), Ok(v));
            }
            assert_eq!(serde_json::to_value(v).ok(), Some(Value::String(v.name().to_string())));
        }
        assert!("nosuch".parse::<Vendor>().is_err());
    }
}

//! Fixed-window rate limiting, modelled per vendor as each documents it: Sellercloud per client
//! per hour, BigCommerce per store per 30 s, ShipStation per API key per minute, Acumatica per
//! instance per minute plus concurrent-request and API-user licence limits. Each vendor's
//! window, bucket key and headers come from its [`SimulatedVendor`](crate::SimulatedVendor).
//!
//! With limits switched off (`--no-rate-limits`, `SandboxConfig::rate_limits = false` or the
//! control API) nothing is refused and nothing is counted: every request sees a full budget, so
//! the vendors' headers never count down and a well-behaved client never throttles itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::HeaderValue;

use crate::config::RateLimitConfig;
use crate::core::Vendor;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

/// Outcome of counting one request against its window.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Time until the window refills.
    pub reset: Duration,
    pub window: Duration,
}

/// All windows of all vendors.
#[derive(Debug)]
pub struct RateLimiter {
    pub enabled: bool,
    pub config: RateLimitConfig,
    windows: HashMap<(Vendor, String), Window>,
    /// Requests in flight per vendor with a concurrency limit.
    inflight: HashMap<Vendor, usize>,
}

impl RateLimiter {
    pub fn new(enabled: bool, config: RateLimitConfig) -> Self {
        Self { enabled, config, windows: HashMap::new(), inflight: HashMap::new() }
    }

    /// Take a slot of `vendor`'s concurrency limit; false (and nothing taken) when it is full.
    /// Vendors without such a limit, and every vendor with limits off, always get one.
    pub(crate) fn begin_request(&mut self, vendor: Vendor) -> bool {
        let max = vendor.sim().max_concurrent(&self.config);
        let n = self.inflight.entry(vendor).or_insert(0);
        if self.enabled && max.is_some_and(|m| *n >= m) {
            return false;
        }
        *n += 1;
        true
    }

    /// Give back the slot taken by [`Self::begin_request`].
    pub(crate) fn end_request(&mut self, vendor: Vendor) {
        if let Some(n) = self.inflight.get_mut(&vendor) {
            *n = n.saturating_sub(1);
        }
    }

    pub fn reset(&mut self) {
        self.windows.clear();
    }

    pub fn reset_vendor(&mut self, vendor: Vendor) {
        self.windows.retain(|(v, _), _| *v != vendor);
    }

    /// Count one request of `key` (client, store or API key) against `vendor`'s window.
    /// Rejected requests are not counted. With limits disabled every request is allowed and
    /// nothing is counted: the decision reports the full quota with a whole window to go.
    pub fn check(&mut self, vendor: Vendor, key: &str, now: Instant) -> Option<Decision> {
        let limit = vendor.sim().rate_limit(&self.config)?;
        if !self.enabled {
            return Some(Decision {
                allowed: true,
                limit: limit.requests,
                remaining: limit.requests,
                reset: limit.window,
                window: limit.window,
            });
        }
        let w = self.windows.entry((vendor, key.to_string())).or_insert(Window { start: now, used: 0 });
        if now.duration_since(w.start) >= limit.window {
            w.start = now;
            w.used = 0;
        }
        let reset = limit.window.saturating_sub(now.duration_since(w.start));
        let allowed = w.used < limit.requests;
        if allowed {
            w.used = w.used.saturating_add(1);
        }
        Some(Decision {
            allowed,
            limit: limit.requests,
            remaining: limit.requests.saturating_sub(w.used),
            reset,
            window: limit.window,
        })
    }
}

/// A header value from a number rendered as text (rate-limit headers).
pub(crate) fn header_value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WindowLimit;

    #[test]
    fn window_rejects_after_quota_and_refills_after_window() {
        let cfg = RateLimitConfig { shipstation: WindowLimit::new(2, Duration::from_secs(60)), ..Default::default() };
        let mut rl = RateLimiter::new(true, cfg);
        let t0 = Instant::now();
        assert!(rl.check(Vendor::Shipstation, "k", t0).unwrap().allowed);
        let second = rl.check(Vendor::Shipstation, "k", t0).unwrap();
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        assert!(!rl.check(Vendor::Shipstation, "k", t0).unwrap().allowed);
        // A different API key has its own window.
        assert!(rl.check(Vendor::Shipstation, "other", t0).unwrap().allowed);
        let later = t0 + Duration::from_secs(61);
        assert!(rl.check(Vendor::Shipstation, "k", later).unwrap().allowed);
    }

    #[test]
    fn disabled_limiter_allows_everything() {
        let cfg = RateLimitConfig { bigcommerce: WindowLimit::new(1, Duration::from_secs(30)), ..Default::default() };
        let mut rl = RateLimiter::new(false, cfg);
        let t0 = Instant::now();
        for _ in 0..5 {
            let d = rl.check(Vendor::Bigcommerce, "store", t0).unwrap();
            assert!(d.allowed);
            // Nothing counts down while limits are off.
            assert_eq!((d.remaining, d.reset), (1, Duration::from_secs(30)));
        }
        assert!(rl.check(Vendor::Magento, "x", t0).is_none());
    }
}

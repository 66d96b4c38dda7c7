//! Fixed-window rate limiting, modelled per vendor as each documents it: Sellercloud per client
//! per hour, BigCommerce per store per 30 s, ShipStation per API key per minute, Acumatica per
//! instance per minute plus concurrent-request and API-user licence limits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::{RateLimitConfig, WindowLimit};
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
    pub(crate) acumatica_inflight: usize,
}

impl RateLimiter {
    pub fn new(enabled: bool, config: RateLimitConfig) -> Self {
        Self { enabled, config, windows: HashMap::new(), acumatica_inflight: 0 }
    }

    pub fn reset(&mut self) {
        self.windows.clear();
    }

    pub fn reset_vendor(&mut self, vendor: Vendor) {
        self.windows.retain(|(v, _), _| *v != vendor);
    }

    fn limit_for(&self, vendor: Vendor) -> Option<WindowLimit> {
        match vendor {
            Vendor::Sellercloud => Some(self.config.sellercloud),
            Vendor::Bigcommerce => Some(self.config.bigcommerce),
            Vendor::Shipstation => Some(self.config.shipstation),
            Vendor::Acumatica => Some(self.config.acumatica_per_minute),
            Vendor::Magento => self.config.magento,
        }
    }

    /// Count one request of `key` (client, store or API key) against `vendor`'s window.
    /// Rejected requests are not counted. With limits disabled every request is allowed, but the
    /// quota is still tracked so header values stay realistic.
    pub fn check(&mut self, vendor: Vendor, key: &str, now: Instant) -> Option<Decision> {
        let limit = self.limit_for(vendor)?;
        let w = self.windows.entry((vendor, key.to_string())).or_insert(Window { start: now, used: 0 });
        if now.duration_since(w.start) >= limit.window {
            w.start = now;
            w.used = 0;
        }
        let reset = limit.window.saturating_sub(now.duration_since(w.start));
        let allowed = !self.enabled || w.used < limit.requests;
        if w.used < limit.requests || !self.enabled {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(rl.check(Vendor::Bigcommerce, "store", t0).unwrap().allowed);
        }
        assert!(rl.check(Vendor::Magento, "x", t0).is_none());
    }
}

//! Client-side rate limiting: a GCRA limiter sized from the vendor's documented budget, plus a
//! pause that vendor reset hints (429, `X-Rate-Limit-Requests-Left: 0`) impose on every caller.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota};
use serde::Deserialize;

/// A vendor's request budget: `requests` per `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateBudget {
    /// Requests allowed in one window.
    pub requests: u32,
    /// Window length in seconds.
    pub per_seconds: u64,
}

impl RateBudget {
    pub const fn new(requests: u32, per_seconds: u64) -> Self {
        Self { requests, per_seconds }
    }

    /// Names the field when the budget cannot be used.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        if self.requests == 0 || self.per_seconds == 0 {
            return Err(format!("{field}: requests and per_seconds must both be positive"));
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let requests = NonZeroU32::new(self.requests).unwrap_or(NonZeroU32::MIN);
        let window = Duration::from_secs(self.per_seconds.max(1));
        // One request per (window / requests), with a burst of at most one window's worth: the
        // vendor counts per window, so a full window may be spent at once but never more.
        let period = (window / requests.get()).max(Duration::from_micros(1));
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(requests)).allow_burst(requests)
    }
}

/// One vendor account's limiter, shared by every call of a client (one per warm Lambda container;
/// the cross-container share of the budget is enforced by SQS maximum concurrency, see §6.5).
pub struct RateLimiter {
    gcra: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("paused_for", &self.pause_remaining()).finish_non_exhaustive()
    }
}

impl RateLimiter {
    pub fn new(budget: RateBudget) -> Self {
        Self { gcra: governor::RateLimiter::direct(budget.quota()), paused_until: Mutex::new(None) }
    }

    /// Makes every caller wait `wait` from now (a vendor said the window is spent).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        if let Ok(mut guard) = self.paused_until.lock() {
            if guard.is_none_or(|current| current < until) {
                *guard = Some(until);
            }
        }
    }

    /// How long a caller would still have to wait for a vendor-imposed pause.
    pub fn pause_remaining(&self) -> Option<Duration> {
        let guard = self.paused_until.lock().ok()?;
        guard.and_then(|until| until.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// Waits for the pause (if any) and for a slot in the budget.
    pub async fn acquire(&self) {
        if let Some(wait) = self.pause_remaining() {
            tokio::time::sleep(wait).await;
        }
        self.gcra.until_ready().await;
    }
}

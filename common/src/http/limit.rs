//! Client-side rate limiting: a GCRA limiter sized from the vendor's documented budget, plus a
//! pause that vendor reset hints (429, `X-Rate-Limit-Requests-Left: 0`) impose on every caller.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota};
use serde::Deserialize;

use super::budget::SharedDraw;

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
        // Vendors count per fixed window. A GCRA limiter with burst b and rate r lets b + r·W
        // requests into any window of length W, so the burst is a tenth of the budget and the rate
        // the remaining nine tenths: never more than `requests` in any window, however aligned.
        let burst = (self.requests / 10).max(1);
        let steady = self.requests.saturating_sub(burst).max(1);
        let window = Duration::from_secs(self.per_seconds.max(1));
        let period = (window / steady).max(Duration::from_micros(1));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(burst)).allow_burst(burst)
    }
}

/// One vendor account's limiter, shared by every call of a client (one per warm Lambda container):
/// the container's own GCRA, the pause a vendor's reset hint imposes, and the account's draw on
/// the budget every container shares (when the call runs in a [`super::with_budget`] scope).
pub struct RateLimiter {
    gcra: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
    shared: SharedDraw,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("paused_for", &self.pause_remaining()).finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// The limiter of the account `key` (vendor and base URL: one licence or store).
    pub fn new(budget: RateBudget, key: String) -> Self {
        Self {
            gcra: governor::RateLimiter::direct(budget.quota()),
            paused_until: Mutex::new(None),
            shared: SharedDraw::new(key, budget),
        }
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

    /// Makes every caller of every container wait `wait` (this one at once, the others through
    /// the shared budget).
    pub async fn pause_everyone_for(&self, wait: Duration) {
        self.pause_for(wait);
        self.shared.hold(wait).await;
    }

    /// Waits for the pause (if any), for a slot in this container's budget and for one in the
    /// shared budget. `Err(wait)`: the shared budget has no room within `may_wait`.
    pub async fn acquire(&self, may_wait: Duration) -> Result<(), Duration> {
        if let Some(wait) = self.pause_remaining() {
            tokio::time::sleep(wait).await;
        }
        self.gcra.until_ready().await;
        self.shared.acquire(may_wait).await
    }
}

#[cfg(test)]
mod quota_tests {
    use super::*;

    #[test]
    fn no_fixed_window_ever_sees_more_than_the_budget() {
        for (requests, per_seconds) in [(100, 60), (10_800, 3600), (150, 30), (40, 60), (3, 1)] {
            let quota = RateBudget::new(requests, per_seconds).quota();
            let window = Duration::from_secs(per_seconds);
            let steady = window.as_nanos() / quota.replenish_interval().as_nanos();
            let worst_case = u128::from(quota.burst_size().get()) + steady;
            assert!(worst_case <= u128::from(requests), "{requests}/{per_seconds}s allows {worst_case}");
            assert!(
                worst_case * 100 >= u128::from(requests) * 95,
                "{requests}/{per_seconds}s wastes budget: {worst_case}"
            );
        }
    }
}

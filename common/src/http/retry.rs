//! Retry policy: jittered exponential backoff (backon) bounded by attempts and by total time,
//! because the retries happen inside one Lambda invocation; longer waits go back to SQS.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;

/// How a vendor call is retried within one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// First backoff delay in milliseconds; doubled per attempt, with jitter.
    pub initial_delay_ms: u64,
    /// Upper bound of one backoff delay in milliseconds.
    pub max_delay_ms: u64,
    /// Upper bound of the time spent waiting between attempts of one call, in milliseconds. A
    /// vendor hint longer than what is left is not waited for: the error is returned with it.
    pub max_total_wait_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, initial_delay_ms: 200, max_delay_ms: 5_000, max_total_wait_ms: 15_000 }
    }
}

impl RetryPolicy {
    /// No retries at all (tests, or callers that retry themselves).
    pub const NONE: RetryPolicy =
        RetryPolicy { max_attempts: 1, initial_delay_ms: 0, max_delay_ms: 0, max_total_wait_ms: 0 };

    pub fn max_total_wait(&self) -> Duration {
        Duration::from_millis(self.max_total_wait_ms)
    }

    /// Names the field when the policy cannot work.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err(format!("{field}.max_attempts must be at least 1"));
        }
        if self.initial_delay_ms > self.max_delay_ms {
            return Err(format!("{field}.initial_delay_ms must not exceed max_delay_ms"));
        }
        Ok(())
    }

    /// The backoff delays between attempts (one fewer than `max_attempts`), jittered.
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.initial_delay_ms))
            .with_max_delay(Duration::from_millis(self.max_delay_ms.max(self.initial_delay_ms)))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build()
    }
}

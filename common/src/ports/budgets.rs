//! Shared rate budgets: one request budget per vendor account, kept in the state table and drawn
//! on by every function and container, so their combined rate stays under the vendor's limit.
//!
//! The budget is a GCRA (generic cell rate algorithm) with one number per account, its
//! theoretical arrival time (TAT): a grant of `cost` moves it `cost` later, and a caller may take
//! a grant only while the TAT would stay within its priority's `ceiling` of now. Higher
//! priorities have higher ceilings, so under contention they are served while lower ones wait.

use std::time::Duration;

use async_trait::async_trait;

use super::LedgerError;

/// Whose call it is, highest priority first: order imports (and the pulls that feed them), then
/// shipment and status pushes, then polls, reports and everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallPriority {
    Import,
    Push,
    Background,
}

impl CallPriority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Push => "push",
            Self::Background => "background",
        }
    }
}

/// What a store answers to [`SharedBudgets::take`]. Times are microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Granted: the account's TAT is now `tat`.
    Granted { tat: i64 },
    /// Refused: the TAT is `tat`, too far ahead for this ceiling. Nothing was taken.
    Full { tat: i64 },
    /// Refused: the vendor asked every caller to pause until `until`. Nothing was taken.
    Paused { until: i64 },
}

#[async_trait]
pub trait SharedBudgets: Send + Sync {
    /// Takes `cost_us` of the budget under `key` at `now_us`, if the TAT afterwards is at most
    /// `ceiling_us` after now: TAT' = max(TAT, now) + cost. `hint` is the TAT the caller last saw;
    /// a store may use it to pick its first attempt (it must stay correct when the hint is stale).
    async fn take(&self, key: &str, now_us: i64, cost_us: i64, ceiling_us: i64, hint: i64)
        -> Result<Take, LedgerError>;
    /// Refuses every take of `key` until `until_us` (a vendor asked every caller to pause); a
    /// shorter pause than one already set changes nothing.
    async fn hold_until(&self, key: &str, until_us: i64) -> Result<(), LedgerError>;
}

/// How long a caller refused at `tat` waits before its take would fit under `ceiling_us`.
pub fn wait_for(tat: i64, now_us: i64, cost_us: i64, ceiling_us: i64) -> Duration {
    let wait = tat.saturating_add(cost_us).saturating_sub(ceiling_us).saturating_sub(now_us);
    Duration::from_micros(u64::try_from(wait).unwrap_or(0))
}

/// The GCRA step every store applies (the in-memory one directly, DynamoDB as conditions).
pub fn gcra_step(tat: Option<i64>, paused: Option<i64>, now_us: i64, cost_us: i64, ceiling_us: i64) -> Take {
    if let Some(until) = paused.filter(|until| *until > now_us) {
        return Take::Paused { until };
    }
    let current = tat.unwrap_or(i64::MIN);
    let next = current.max(now_us).saturating_add(cost_us);
    if next.saturating_sub(now_us) <= ceiling_us {
        Take::Granted { tat: next }
    } else {
        Take::Full { tat: current.max(now_us) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_budget_grants_from_now_and_a_busy_one_from_its_tat() {
        assert_eq!(gcra_step(None, None, 1_000, 100, 500), Take::Granted { tat: 1_100 });
        assert_eq!(gcra_step(Some(10), None, 1_000, 100, 500), Take::Granted { tat: 1_100 });
        assert_eq!(gcra_step(Some(1_300), None, 1_000, 100, 500), Take::Granted { tat: 1_400 });
        assert_eq!(gcra_step(Some(1_450), None, 1_000, 100, 500), Take::Full { tat: 1_450 });
        // A vendor's pause refuses every take until it ends, then it is forgotten.
        assert_eq!(gcra_step(Some(10), Some(5_000), 1_000, 100, 500), Take::Paused { until: 5_000 });
        assert_eq!(gcra_step(Some(10), Some(1_000), 1_000, 100, 500), Take::Granted { tat: 1_100 });
        assert_eq!(wait_for(1_450, 1_000, 100, 500), Duration::from_micros(50));
        assert_eq!(wait_for(900, 1_000, 100, 500), Duration::ZERO);
    }
}

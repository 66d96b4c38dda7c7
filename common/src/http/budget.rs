//! The shared side of a vendor account's rate limit: every call draws on one budget in the state
//! table ([`SharedBudgets`]), so all functions and containers together stay under the vendor's
//! limit, and a call's priority decides who goes first when they contend.
//!
//! The handler of each invocation names the store and the priority of its work once
//! ([`with_budget`]); every vendor call made inside (however deep in a flow) draws on it through
//! its [`RateLimiter`](super::RateLimiter). Outside such a scope (unit tests, the admin CLI) a
//! call is limited by its own container's limiter only.
//!
//! To spend about one state-table write per few calls rather than per call, a container takes its
//! grants in small chunks and uses them at once: a chunk that was used up doubles the next one (up
//! to a quarter of the burst), one that expired unused halves it. The budget's shape leaves room
//! for the chunk (see [`Shape`]), so no vendor window sees more than its documented requests.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tracing::{debug, warn};

use super::RateBudget;
use crate::ports::{wait_for, CallPriority, Clock, SharedBudgets, Take};

tokio::task_local! {
    static SCOPE: BudgetScope;
}

/// The budget store and priority of the work running in one scope.
#[derive(Clone)]
pub struct BudgetScope {
    pub budgets: Arc<dyn SharedBudgets>,
    pub priority: CallPriority,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BudgetScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetScope").field("priority", &self.priority).finish_non_exhaustive()
    }
}

/// Runs `work` with every vendor call inside drawing on `scope`'s shared budgets (none: the
/// container's own limiters only).
pub async fn with_budget<F: Future>(scope: Option<BudgetScope>, work: F) -> F::Output {
    match scope {
        Some(scope) => SCOPE.scope(scope, work).await,
        None => work.await,
    }
}

/// Runs `work` at `priority` within the current scope (no scope: unchanged).
pub async fn with_priority<F: Future>(priority: CallPriority, work: F) -> F::Output {
    let scope = SCOPE.try_with(|s| BudgetScope { priority, ..s.clone() }).ok();
    with_budget(scope, work).await
}

/// The scope the current task runs in, if any.
pub fn current_scope() -> Option<BudgetScope> {
    SCOPE.try_with(BudgetScope::clone).ok()
}

/// A budget as a GCRA: the interval between steady calls and each priority's ceiling (how far
/// ahead of now the budget may be committed), in µs.
///
/// For `requests` per `window`: a burst `b` of a tenth, a chunk `m` of at most a quarter of it,
/// and imports may commit `b - m` calls ahead. (A quarter rather than half: for Acumatica's 100 a
/// minute the steady rate is the same 90, while a pull's orders start with 8 calls at once instead
/// of 5 before the rest is paced, which the poll path's latency shows; chunks of at most 2 cost a
/// budget write per 2 calls instead of per up to 5.) A granted chunk is used within its own span (`m`
/// intervals) or within [`MIN_VALIDITY`], whichever is longer, so a call may be made up to `late`
/// = max(`m`, the calls of one [`MIN_VALIDITY`]) intervals after the slot it was counted in. The
/// steady rate is what is left, `requests - (b - m) - late` per window, and any window then sees
/// at most the ceiling + the steady calls + `late` = `requests`. Pushes may commit 60 % of the
/// import ceiling, background work 30 %: while imports keep the budget committed beyond those,
/// the others wait.
/// The shortest vendor pause shared with every container (see [`SharedDraw::hold`]).
pub const MIN_SHARED_PAUSE: Duration = Duration::from_secs(5);

/// How long a granted chunk may be used at least, however short its span: a budget of many calls
/// a second would otherwise see its chunks expire before the calls come, and pay a write per call.
/// At most a tenth of the budget's window.
pub const MIN_VALIDITY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub interval_us: i64,
    /// Ceilings in calls: import, push, background.
    pub ceilings: [u32; 3],
    pub max_chunk: u32,
    /// [`MIN_VALIDITY`], or a tenth of the window when that is shorter.
    pub min_validity_us: i64,
}

impl Shape {
    pub fn of(budget: RateBudget) -> Self {
        let burst = (budget.requests / 10).max(1);
        let max_chunk = (burst / 4).clamp(1, 8);
        let import = burst.saturating_sub(max_chunk).max(1);
        let window_us = i64::try_from(budget.per_seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let min_validity_us = (MIN_VALIDITY.as_micros() as i64).min(window_us / 10);
        // The calls of one minimum validity at the full rate, rounded up.
        let per_validity = u64::from(budget.requests)
            .saturating_mul(u64::try_from(min_validity_us).unwrap_or(0))
            .div_ceil(u64::try_from(window_us).unwrap_or(u64::MAX).max(1));
        let late = max_chunk.max(u32::try_from(per_validity).unwrap_or(u32::MAX));
        let steady = budget.requests.saturating_sub(import.saturating_add(late)).max(1);
        Self {
            // Rounded up: a shorter interval would let a little more than the steady rate through.
            interval_us: i64::try_from(u64::try_from(window_us).unwrap_or(0).div_ceil(u64::from(steady)))
                .unwrap_or(i64::MAX)
                .max(1),
            ceilings: [import, (import * 6 / 10).max(1), (import * 3 / 10).max(1)],
            max_chunk,
            min_validity_us,
        }
    }

    pub fn ceiling(&self, priority: CallPriority) -> u32 {
        self.ceilings[priority as usize]
    }

    fn us(&self, calls: u32) -> i64 {
        self.interval_us.saturating_mul(i64::from(calls))
    }
}

#[derive(Debug)]
struct Pool {
    /// Granted calls not yet used, and until when they may be used (µs).
    tokens: u32,
    valid_until: i64,
    chunk: u32,
    /// The TAT the store last reported.
    hint: i64,
    /// The store failed: logged once until it works again.
    degraded: bool,
}

/// One account's draw on its shared budget (inside a [`super::RateLimiter`]).
#[derive(Debug)]
pub struct SharedDraw {
    key: String,
    shape: Shape,
    pool: Mutex<Pool>,
}

impl SharedDraw {
    pub fn new(key: String, budget: RateBudget) -> Self {
        Self {
            key,
            shape: Shape::of(budget),
            pool: Mutex::new(Pool { tokens: 0, valid_until: 0, chunk: 1, hint: 0, degraded: false }),
        }
    }

    /// Takes one call from the shared budget of the current scope (none: returns at once).
    /// `Err(wait)`: the budget would not have room within `may_wait`; nothing was taken.
    pub async fn acquire(&self, may_wait: Duration) -> Result<(), Duration> {
        let Some(scope) = current_scope() else { return Ok(()) };
        let ceiling = self.shape.ceiling(scope.priority);
        let mut waited = Duration::ZERO;
        loop {
            let now = scope.clock.now().timestamp_micros();
            let (want, hint) = {
                let Ok(mut pool) = self.pool.lock() else { return Ok(()) };
                if pool.tokens > 0 && now <= pool.valid_until {
                    pool.tokens -= 1;
                    return Ok(());
                }
                if pool.tokens > 0 {
                    // A chunk expired unused: take smaller ones.
                    pool.tokens = 0;
                    pool.chunk = (pool.chunk / 2).max(1);
                }
                (pool.chunk.min(ceiling).max(1), pool.hint)
            };
            let cost = self.shape.us(want);
            let wait = match scope.budgets.take(&self.key, now, cost, self.shape.us(ceiling), hint).await {
                Ok(Take::Granted { tat }) => {
                    if let Ok(mut pool) = self.pool.lock() {
                        pool.tokens += want - 1;
                        let span_end = tat.max(now + self.shape.min_validity_us);
                        pool.valid_until = pool.valid_until.max(span_end);
                        pool.hint = tat;
                        pool.degraded = false;
                        // Used up before it expired (or a single call): the next chunk may be larger.
                        pool.chunk = (want * 2).min(self.shape.max_chunk);
                    }
                    if !waited.is_zero() {
                        debug!(budget = %self.key, priority = scope.priority.as_str(), waited_ms = waited.as_millis() as u64, "Waited for the shared rate budget.");
                    }
                    return Ok(());
                }
                Ok(Take::Full { tat }) => {
                    if let Ok(mut pool) = self.pool.lock() {
                        pool.hint = tat;
                        pool.chunk = 1;
                    }
                    if want > 1 {
                        // No room for a chunk: one call may still fit.
                        continue;
                    }
                    wait_for(tat, now, cost, self.shape.us(ceiling))
                }
                Ok(Take::Paused { until }) => Duration::from_micros(u64::try_from(until - now).unwrap_or(0)),
                Err(error) => {
                    // The budget is a courtesy to the vendor, not a reason to stop: the
                    // container's own limiter still applies, and the vendor's 429s are honoured.
                    if let Ok(mut pool) = self.pool.lock() {
                        if !pool.degraded {
                            pool.degraded = true;
                            warn!(budget = %self.key, error = %crate::error::ErrorChain(&error), "Shared rate budget unavailable; limiting this container alone.");
                        }
                    }
                    return Ok(());
                }
            };
            // A little jitter keeps the callers refused together from retrying together.
            let jitter = rand::thread_rng().gen_range(0..=self.shape.interval_us / 4).max(0);
            let wait = wait + Duration::from_micros(u64::try_from(jitter).unwrap_or(0));
            if waited + wait > may_wait {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// Holds every caller of the account for `wait` (the vendor said its window is spent). A
    /// pause shorter than [`MIN_SHARED_PAUSE`] stays in this container: vendors answer those for
    /// a moment's overload (too many requests at once), which a pause of every container would
    /// turn into a stall.
    pub async fn hold(&self, wait: Duration) {
        if wait < MIN_SHARED_PAUSE {
            return;
        }
        let Some(scope) = current_scope() else { return };
        let until = scope.clock.now().timestamp_micros() + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2);
        if let Err(error) = scope.budgets.hold_until(&self.key, until).await {
            warn!(budget = %self.key, error = %crate::error::ErrorChain(&error), "Could not share the vendor's pause.");
        }
        if let Ok(mut pool) = self.pool.lock() {
            pool.tokens = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::testing::MemoryLedger;

    /// Wall time that follows tokio's (paused) clock, as the budget reads it.
    struct TokioClock {
        base: DateTime<Utc>,
        start: tokio::time::Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> DateTime<Utc> {
            self.base + chrono::Duration::from_std(self.start.elapsed()).unwrap()
        }
    }

    fn scope(store: &Arc<MemoryLedger>, clock: &Arc<TokioClock>, priority: CallPriority) -> Option<BudgetScope> {
        Some(BudgetScope { budgets: store.clone(), priority, clock: clock.clone() })
    }

    fn clock() -> Arc<TokioClock> {
        Arc::new(TokioClock {
            base: Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap(),
            start: tokio::time::Instant::now(),
        })
    }

    /// `callers` tasks of one container each taking calls until `until`; the grant times (µs).
    async fn hammer(
        draw: &SharedDraw,
        clock: &TokioClock,
        callers: usize,
        until: Duration,
        limit: Option<usize>,
        log: &StdMutex<Vec<i64>>,
    ) {
        let start = tokio::time::Instant::now();
        let callers = (0..callers).map(|_| async {
            while start.elapsed() < until && limit.is_none_or(|l| log.lock().unwrap().len() < l) {
                if draw.acquire(Duration::from_secs(3600)).await.is_ok() {
                    log.lock().unwrap().push(clock.now().timestamp_micros());
                }
            }
        });
        futures::future::join_all(callers).await;
    }

    fn most_in_any_window(times: &[i64], window_us: i64) -> usize {
        let mut sorted = times.to_vec();
        sorted.sort_unstable();
        let mut most = 0;
        let mut first = 0;
        for (last, t) in sorted.iter().enumerate() {
            while sorted[first] <= t - window_us {
                first += 1;
            }
            most = most.max(last + 1 - first);
        }
        most
    }

    #[test]
    fn a_budget_leaves_room_for_a_chunk_and_ranks_its_priorities() {
        let shape = Shape::of(RateBudget::new(100, 60));
        assert_eq!(shape.ceilings, [8, 4, 2]);
        assert_eq!(shape.max_chunk, 2);
        // 90 steady calls a minute: 100 - ceiling 8 - chunk 2.
        assert_eq!(shape.interval_us, 666_667);
        for (requests, per_seconds) in [(100, 60), (150, 30), (40, 60), (10_800, 3600), (100_000, 60), (5, 1), (1, 1)] {
            let shape = Shape::of(RateBudget::new(requests, per_seconds));
            let steady = (per_seconds * 1_000_000) as i64 / shape.interval_us;
            // Calls made late: a chunk's span, or the calls of the minimum validity.
            let per_validity = (u64::from(requests) * shape.min_validity_us as u64).div_ceil(per_seconds * 1_000_000);
            let late = i64::from(shape.max_chunk).max(per_validity as i64);
            let worst = i64::from(shape.ceilings[0]) + steady + late;
            assert!(worst <= i64::from(requests).max(3), "{requests}/{per_seconds}s: {worst}");
            if requests >= 40 {
                assert!(
                    steady * 100 >= i64::from(requests) * 85,
                    "{requests}/{per_seconds}s keeps only {steady} steady"
                );
            }
            assert!(shape.ceilings[0] >= shape.ceilings[1] && shape.ceilings[1] >= shape.ceilings[2]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_containers_drawing_on_one_budget_stay_under_it_together() {
        let store = Arc::new(MemoryLedger::default());
        let clock = clock();
        let budget = RateBudget::new(100, 60);
        // Two containers: each its own draw (pool, chunk) on the same account.
        let (a, b) = (SharedDraw::new("erp#x".into(), budget), SharedDraw::new("erp#x".into(), budget));
        let log = StdMutex::new(Vec::new());
        let run = Duration::from_secs(300);
        with_budget(scope(&store, &clock, CallPriority::Import), async {
            tokio::join!(hammer(&a, &clock, 4, run, None, &log), hammer(&b, &clock, 4, run, None, &log));
        })
        .await;
        let times = log.into_inner().unwrap();
        let most = most_in_any_window(&times, 60_000_000);
        assert!(most <= 100, "{most} calls in one minute of a 100-a-minute budget");
        // Together they use the budget: 90 a minute steady (the rest is the chunk's room).
        assert!(times.len() >= 5 * 88, "only {} calls in 5 minutes", times.len());
        // Each container alone would have allowed itself the whole budget.
        assert!(times.len() <= 5 * 90 + 20, "{} calls in 5 minutes", times.len());
    }

    #[tokio::test(start_paused = true)]
    async fn imports_are_served_before_pushes_under_contention() {
        let store = Arc::new(MemoryLedger::default());
        let clock = clock();
        let budget = RateBudget::new(100, 60);
        let (imports, pushes) = (SharedDraw::new("erp#x".into(), budget), SharedDraw::new("erp#x".into(), budget));
        let (import_log, push_log) = (StdMutex::new(Vec::new()), StdMutex::new(Vec::new()));
        let run = Duration::from_secs(600);
        // 120 imports (80 s of the budget) and an endless stream of pushes, from t = 0.
        tokio::join!(
            with_budget(scope(&store, &clock, CallPriority::Import), async {
                hammer(&imports, &clock, 4, run, Some(120), &import_log).await
            }),
            with_budget(scope(&store, &clock, CallPriority::Push), async {
                hammer(&pushes, &clock, 4, Duration::from_secs(150), None, &push_log).await
            }),
        );
        let (imports, pushes) = (import_log.into_inner().unwrap(), push_log.into_inner().unwrap());
        // Each of the 4 callers checks the count before it waits: up to 3 more.
        assert!((120..=123).contains(&imports.len()), "{} imports", imports.len());
        let last_import = *imports.iter().max().unwrap();
        let pushes_meanwhile = pushes.iter().filter(|t| **t <= last_import).count();
        // Only what pushes took before the imports had committed the budget past their ceiling.
        assert!(pushes_meanwhile <= 6, "{pushes_meanwhile} pushes went before the last of 120 contending imports");
        let took = Duration::from_micros((last_import - imports.iter().min().unwrap()) as u64);
        assert!(took <= Duration::from_secs(84), "the imports took {took:?}, as if they shared the budget");
        // Once the imports are done, the pushes get the budget.
        assert!(pushes.len() >= 80, "only {} pushes in 150 s", pushes.len());
        let all: Vec<i64> = imports.iter().chain(&pushes).copied().collect();
        assert!(most_in_any_window(&all, 60_000_000) <= 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_push_that_would_wait_longer_than_it_may_is_refused_with_the_wait() {
        let store = Arc::new(MemoryLedger::default());
        let clock = clock();
        let draw = SharedDraw::new("erp#x".into(), RateBudget::new(100, 60));
        with_budget(scope(&store, &clock, CallPriority::Import), async {
            for _ in 0..8 {
                draw.acquire(Duration::ZERO).await.unwrap();
            }
        })
        .await;
        let other = SharedDraw::new("erp#x".into(), RateBudget::new(100, 60));
        let refused =
            with_budget(scope(&store, &clock, CallPriority::Push), other.acquire(Duration::from_secs(1))).await;
        // Committed 8 calls ahead: a push (ceiling 4) waits for 5 intervals of 667 ms (and a jitter
        // of at most a quarter interval).
        let wait = refused.expect_err("no room for a push within 1 s");
        assert!(wait >= Duration::from_millis(3_333) && wait <= Duration::from_millis(3_500), "{wait:?}");
        assert!(with_budget(scope(&store, &clock, CallPriority::Push), other.acquire(Duration::from_secs(4)))
            .await
            .is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_vendor_pause_holds_every_container() {
        let store = Arc::new(MemoryLedger::default());
        let clock = clock();
        let (a, b) = (
            SharedDraw::new("bc#s".into(), RateBudget::new(150, 30)),
            SharedDraw::new("bc#s".into(), RateBudget::new(150, 30)),
        );
        with_budget(scope(&store, &clock, CallPriority::Import), async {
            // A moment's pause stays with the container that was told.
            a.hold(Duration::from_secs(1)).await;
            let started = tokio::time::Instant::now();
            b.acquire(Duration::from_secs(60)).await.unwrap();
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "the other container waited {:?}",
                started.elapsed()
            );
            a.hold(Duration::from_secs(10)).await;
            let started = tokio::time::Instant::now();
            b.acquire(Duration::from_secs(60)).await.unwrap();
            assert!(started.elapsed() >= Duration::from_secs(10), "the other container waited {:?}", started.elapsed());
        })
        .await;
    }

    #[tokio::test]
    async fn outside_a_scope_nothing_is_shared() {
        let draw = SharedDraw::new("erp#x".into(), RateBudget::new(1, 3600));
        for _ in 0..5 {
            assert!(draw.acquire(Duration::ZERO).await.is_ok());
        }
    }
}

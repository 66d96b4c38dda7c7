//! Backfill: re-listing a channel's orders created in a date window, whatever their "new" or
//! "exported" state, and enqueueing the ones no binding says were imported. The job record
//! keeps its progress so a caller (the console, a queue message, the CLI) can drive it one page
//! at a time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{LedgerError, PageToken};
use crate::model::ConnectionId;

/// Orders created in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl CreatedWindow {
    /// A window that ends after it starts.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Self> {
        (from < to).then_some(Self { from, to })
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

impl std::fmt::Display for CreatedWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.from.format("%Y-%m-%d %H:%M:%S"), self.to.format("%Y-%m-%d %H:%M:%S UTC"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillStatus {
    Running,
    Done,
    /// Stopped for good (the channel refused the listing); `error` says why.
    Failed,
}

/// One backfill and how far it has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillJob {
    pub id: String,
    pub connection: ConnectionId,
    pub window: CreatedWindow,
    /// Who started it (`console:ana`, `cli:ops`).
    pub actor: String,
    pub status: BackfillStatus,
    /// Where the next page starts (None: the first page, or none left once done).
    pub next_page: Option<PageToken>,
    pub pages: u32,
    pub listed: u32,
    /// Orders with no binding, sent to the import.
    pub enqueued: u32,
    /// Orders a binding says are in the ERP already: skipped.
    pub already_bound: u32,
    /// Orders without a binding that were enqueued moments ago (by the pull or another
    /// backfill) and are waiting for their import: not sent twice.
    pub already_queued: u32,
    /// The last failure: why the job failed, or the retryable error its last step met.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented on every save; saves are conditional on it, so two callers driving the same
    /// job cannot both count a page.
    pub version: u64,
}

/// Where backfill jobs are kept (the state table).
#[async_trait]
pub trait BackfillJobs: Send + Sync {
    /// Stores a new job (version 1); an existing id is an error.
    async fn create_backfill(&self, job: &BackfillJob) -> Result<(), LedgerError>;
    async fn backfill(&self, id: &str) -> Result<Option<BackfillJob>, LedgerError>;
    /// Saves `job` (its `version` already incremented) if the stored one is still
    /// `job.version - 1`; false when another caller saved first (nothing is written).
    async fn save_backfill(&self, job: &BackfillJob) -> Result<bool, LedgerError>;
}

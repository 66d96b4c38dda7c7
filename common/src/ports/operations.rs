//! What an operator does to the records the flows keep: find the failed ones, skip one for
//! good, reset an import so it runs again. Narrow on purpose: the flows never use it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ClaimKey, LedgerError};
use crate::model::{ChannelOrderId, ConnectionId};

/// The text a skipped claim's result starts with; the rest is the operator's note.
pub const SKIPPED_PREFIX: &str = "skipped: ";

/// A claim whose last attempt failed permanently, waiting for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedClaim {
    pub key: ClaimKey,
    pub attempts: u32,
    /// Why the last attempt failed, as the flow recorded it.
    pub failure: String,
    pub updated_at: DateTime<Utc>,
}

impl super::ClaimRecord {
    /// The operator's note when the claim was skipped (resolved without its effect).
    pub fn skipped_note(&self) -> Option<&str> {
        self.result.as_deref().and_then(|r| r.strip_prefix(SKIPPED_PREFIX))
    }
}

/// How an operator's change of a claim ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimChange {
    Done,
    /// The claim is not in a state the change applies to (it was retried and imported meanwhile,
    /// or is being worked on now).
    NotApplicable,
}

/// Failed claims and the operator's changes to them.
#[async_trait]
pub trait FailedRecords: Send + Sync {
    /// Failed claims whose key starts with `namespace#` (e.g. `IMPORT`), up to `limit`.
    async fn failed_claims(&self, namespace: &str, limit: usize) -> Result<Vec<FailedClaim>, LedgerError>;
    /// Resolves a failed claim without its effect: it reads as completed with
    /// [`SKIPPED_PREFIX`] and the note, so no retry or pull takes it up again.
    async fn skip_failed(&self, key: &ClaimKey, note: &str) -> Result<ClaimChange, LedgerError>;
    /// Forgets an import that is not in progress (its claim and the order's binding), so the next
    /// import of the order runs the whole protocol again — look before you create finds the ERP
    /// order if it still exists.
    async fn reset_import(
        &self,
        key: &ClaimKey,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<ClaimChange, LedgerError>;
}

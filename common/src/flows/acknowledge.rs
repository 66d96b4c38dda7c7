//! Acknowledge: telling a channel what became of its orders (imported → mark exported or set the
//! downloaded status; failed → the import-error status or note). One routine for the batch after
//! an import and for re-acknowledging orders a pull still lists although they are imported.

use tracing::{info, warn};

use super::LogRecorder;
use crate::error::Classify;
use crate::model::ImportKey;
use crate::ports::{Acknowledgement, Direction, LogGroup, LogResult, OrderSource};

/// Why acknowledgements are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckRound {
    /// Right after the import of a batch.
    AfterImport,
    /// For orders imported earlier whose acknowledgement was lost (the pull lists them again).
    Again,
}

/// Acknowledges in bulk (where the channel allows) and records the outcome; answers the orders
/// whose acknowledgement did not land and may land on a retry. The caller must retry those: a
/// channel listed by status re-lists an unacknowledged order, but one listed by modification
/// time (a watermark) does not, since a failed acknowledgement leaves the order unmodified, so
/// after an import the messages of these orders are redelivered (their claims are complete, so
/// the redelivery only acknowledges again).
pub async fn acknowledge(
    source: &dyn OrderSource,
    acks: &[Acknowledgement],
    round: AckRound,
    recorder: &LogRecorder<'_>,
) -> Vec<crate::model::ChannelOrderId> {
    if acks.is_empty() {
        return Vec::new();
    }
    let connection = source.connection();
    let ids: Vec<String> = acks.iter().map(|a| a.order().to_string()).collect();
    let correlation: Vec<String> =
        acks.iter().map(|a| ImportKey::new(connection.clone(), a.order().clone()).correlation_id()).collect();
    let action = recorder
        .start(connection, LogGroup::Orders, "acknowledge", Direction::Export, ids.join(","))
        .correlated(&correlation.join(","));
    let again = if round == AckRound::Again { " again" } else { "" };
    match source.acknowledge(acks).await {
        Ok(missed) if missed.is_empty() => {
            info!(connection = %connection, count = acks.len(), round = ?round, "Orders acknowledged in the channel.");
            recorder.finish(action, LogResult::Success, format!("{} orders acknowledged{again}.", acks.len())).await;
            Vec::new()
        }
        Ok(missed) => {
            warn!(connection = %connection, missed = missed.len(), "Channel did not apply every acknowledgement; retried.");
            let names: Vec<String> = missed.iter().map(ToString::to_string).collect();
            recorder.finish(action, LogResult::Retry, format!("Not applied: {}; retrying.", names.join(","))).await;
            missed
        }
        Err(e) if e.is_retryable() => {
            warn!(connection = %connection, error = %e, "Acknowledgement failed; retried.");
            recorder.finish(action, LogResult::Retry, format!("Failed ({e}); retrying.")).await;
            acks.iter().map(|a| a.order().clone()).collect()
        }
        Err(e) => {
            // Refused for good (credentials, a rejected field): a retry would fail the same way,
            // and the connector log shows the operator what to fix.
            warn!(connection = %connection, error = %e, "Acknowledgement refused.");
            recorder.finish(action, LogResult::Failure, format!("Refused: {e}")).await;
            Vec::new()
        }
    }
}

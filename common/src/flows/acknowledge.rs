//! Acknowledge: telling a channel what became of its orders (imported → mark exported or set the
//! downloaded status; failed → the import-error status or note). One routine for the batch after
//! an import and for re-acknowledging orders a pull still lists although they are imported.

use tracing::{info, warn};

use super::LogRecorder;
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

/// Acknowledges in bulk (where the channel allows) and records the outcome. A failure loses
/// nothing: the order is bound, so the next pull lists it again and re-acknowledges it.
pub async fn acknowledge(
    source: &dyn OrderSource,
    acks: &[Acknowledgement],
    round: AckRound,
    recorder: &LogRecorder<'_>,
) {
    if acks.is_empty() {
        return;
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
        }
        Ok(missed) => {
            warn!(connection = %connection, missed = missed.len(), "Channel did not apply every acknowledgement; the next pull retries them.");
            let missed: Vec<String> = missed.iter().map(ToString::to_string).collect();
            recorder
                .finish(action, LogResult::Retry, format!("Not applied: {}; the next pull retries.", missed.join(",")))
                .await;
        }
        Err(e) => {
            warn!(connection = %connection, error = %e, "Acknowledgement failed; the next pull retries it.");
            recorder.finish(action, LogResult::Retry, format!("Failed ({e}); the next pull retries.")).await;
        }
    }
}

//! Status and notes: the ERP's *current* status, mapped per channel and pushed only when it
//! differs from the last one pushed; a note changed in the ERP copied to the channel once (the
//! note the import wrote is never echoed back).

use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use super::{LogRecorder, PushContext, PushError, PushOutcome, PushTarget};
use crate::error::{Classify, ErrorChain};
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef};
use crate::ports::{Binding, Direction, ErpOrderState, LedgerError, LogGroup, LogResult};

/// Ledger scope of ERP notes already copied to a channel (or written by the import).
pub const NOTE_SCOPE: &str = "note";
/// How long a copied note is remembered; a note unchanged for longer is copied again at most once.
pub const NOTE_MEMORY: Duration = Duration::from_secs(400 * 24 * 3600);

/// Handles an order-status notification: pushes the ERP's *current* status (so a late or
/// reordered notification never moves the channel backwards) when the mapping assigns one.
///
/// `reported` is the status the notification itself carried. When it maps to the status last
/// pushed to the channel, the order is not read: the channel has it, and any later change sends
/// its own notification. (The shipment a transaction confirms pushes the order's status as well,
/// so the order-status notification of the same transaction usually ends here.) A note changed in
/// the ERP without a status of its own is copied by the catch-up poll, which reads the order.
pub(crate) async fn push_status_of(
    erp: &ErpOrderRef,
    reported: Option<&str>,
    ctx: &PushContext<'_>,
) -> Result<PushOutcome, PushError> {
    let Some(binding) = super::binding_of(erp, ctx).await? else {
        return Ok(PushOutcome::NotOurs(format!("{erp} was not imported by Orderbridge")));
    };
    let Some(target) = ctx.targets.target(&binding.connection).await? else {
        return Ok(PushOutcome::NotOurs(format!("connection {} is not enabled", binding.connection)));
    };
    if let Some(mapped) = reported.and_then(|status| target.rules.statuses.get(status)) {
        let stream = status_stream(&binding.channel_order_id);
        // An unreadable cursor only costs the saving: the order is read as before.
        if let Ok(Some(last)) = ctx.cursors.cursor(&binding.connection, &stream).await {
            if last.value == *mapped.get_ref() {
                debug!(erp = %erp, status = ?reported, "Reported status already on the channel; order not read.");
                return Ok(PushOutcome::NoStatusChange);
            }
        }
    }
    let state = ctx
        .erp
        .order_state(erp)
        .await
        .map_err(|source| PushError::Vendor { what: format!("state of {erp}"), source })?;
    Ok(sync_status_and_note(&binding, &target, &state, ctx).await?.unwrap_or(PushOutcome::NoStatusChange))
}

/// The cursor stream holding the last status pushed to one channel order.
fn status_stream(order: &ChannelOrderId) -> String {
    format!("status#{order}")
}

/// Pushes the mapped status unless it is the last one pushed, then copies a changed ERP note.
pub(crate) async fn sync_status_and_note(
    binding: &Binding,
    target: &PushTarget,
    state: &ErpOrderState,
    ctx: &PushContext<'_>,
) -> Result<Option<PushOutcome>, PushError> {
    let connection = &binding.connection;
    let order = &binding.channel_order_id;
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let mut outcome = None;
    match target.rules.statuses.get(&state.status) {
        None => {
            let action = recorder
                .start(connection, LogGroup::Statuses, "push_status", Direction::Export, order.to_string())
                .correlated(&super::binding_correlation(binding));
            recorder
                .finish(
                    action,
                    LogResult::Skipped,
                    format!(
                        "ERP status {:?} of {} is not assigned in [status_push.statuses] of {}; nothing pushed.",
                        state.status, binding.erp, target.mapping_label
                    ),
                )
                .await;
        }
        Some(mapped) => {
            let mapped = mapped.get_ref();
            let stream = status_stream(order);
            let last = ctx
                .cursors
                .cursor(connection, &stream)
                .await
                .map_err(|source| PushError::Ledger { what: stream.clone(), source })?;
            if last.as_ref().is_none_or(|c| c.value != *mapped) {
                let action = recorder
                    .start(connection, LogGroup::Statuses, "push_status", Direction::Export, order.to_string())
                    .correlated(&super::binding_correlation(binding));
                match target.publisher.push_status(order, mapped).await {
                    Ok(()) => {
                        match ctx.cursors.save_cursor(connection, &stream, mapped, last.map(|c| c.version)).await {
                            Ok(_) | Err(LedgerError::CursorConflict { .. }) => {}
                            Err(source) => return Err(PushError::Ledger { what: stream, source }),
                        }
                        recorder
                            .finish(
                                action,
                                LogResult::Success,
                                format!("Status {mapped:?} (ERP {:?} of {}).", state.status, binding.erp),
                            )
                            .await;
                        outcome = Some(PushOutcome::StatusPushed {
                            connection: connection.clone(),
                            order: order.clone(),
                            status: mapped.clone(),
                        });
                    }
                    Err(e) if e.is_retryable() => {
                        recorder.finish(action, LogResult::Retry, format!("{e}; retrying.")).await;
                        return Err(PushError::Vendor { what: format!("status of {connection}/{order}"), source: e });
                    }
                    Err(e) => {
                        let reason = ErrorChain(&e).to_string();
                        recorder
                            .finish(action, LogResult::Failure, format!("{reason} (from {}).", target.mapping_label))
                            .await;
                        outcome = Some(PushOutcome::Failed(reason));
                    }
                }
            }
        }
    }
    if target.rules.sync_notes {
        if let Some(note) = &state.note {
            sync_note(binding, note, target, ctx).await?;
        }
    }
    Ok(outcome)
}

/// The dedupe key of one note text on one channel order.
pub fn note_key(connection: &ConnectionId, order: &ChannelOrderId, note: &str) -> String {
    let digest = Sha256::digest(note.trim().as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("{connection}#{order}#{hex}")
}

async fn sync_note(binding: &Binding, note: &str, target: &PushTarget, ctx: &PushContext<'_>) -> Result<(), PushError> {
    let (connection, order) = (&binding.connection, &binding.channel_order_id);
    let key = note_key(connection, order, note);
    let first = ctx
        .markers
        .remember_once(NOTE_SCOPE, &key, NOTE_MEMORY)
        .await
        .map_err(|source| PushError::Ledger { what: format!("note {key}"), source })?;
    if !first {
        return Ok(());
    }
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder
        .start(connection, LogGroup::Statuses, "push_note", Direction::Export, order.to_string())
        .correlated(&super::binding_correlation(binding));
    match target.publisher.add_note(order, note).await {
        Ok(()) => {
            recorder.finish(action, LogResult::Success, "ERP order note copied to the channel.").await;
            Ok(())
        }
        Err(e) => {
            // Forget it so the next event tries again; a permanent refusal is logged each time.
            if let Err(le) = ctx.markers.forget(NOTE_SCOPE, &key).await {
                warn!(key = %key, error = %le, "Note key not forgotten; this note version will not be retried.");
            }
            let retryable = e.is_retryable();
            recorder.finish(action, if retryable { LogResult::Retry } else { LogResult::Failure }, e.to_string()).await;
            if retryable {
                Err(PushError::Vendor { what: format!("note of {connection}/{order}"), source: e })
            } else {
                Ok(())
            }
        }
    }
}

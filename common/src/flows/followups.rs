//! Follow-ups of imported orders, run on their own schedule:
//!
//! - **Charges** (profit & loss): the channel's charges of followed orders are read in bulk and
//!   each configured charge is written to its ERP order field, only when it changed. Marketplace
//!   fees settle late, so an order is read again on every pass until a configured age after it
//!   shipped. A pass yields to imports: with orders waiting in the import queue it reads nothing,
//!   and it never makes more than `max_calls_per_run` channel calls, continuing where the last
//!   pass stopped.
//! - **Personal-data retention**: a configured number of days after an order shipped, the personal
//!   data Orderbridge keeps about it (names, emails, phones, street lines in the connector log,
//!   claim failures and the followed order's own record) is replaced by `[removed]`; ids, amounts
//!   and charges stay.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tracing::{info, warn};

use super::LogRecorder;
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::model::{ChannelOrderId, ChargeSync, ConnectionId, ImportKey, OrderCharges, REMOVED};
use crate::ports::{
    Backlog, ChargeSource, ClaimKey, Claims, Clock, ConnectorError, ConnectorLog, Cursors, Direction, ErpCharges,
    FollowedOrder, FollowedOrders, LedgerError, LogGroup, LogResult,
};

/// What the follow-ups use.
pub struct FollowupContext<'a> {
    pub followed: &'a dyn FollowedOrders,
    pub cursors: &'a dyn Cursors,
    pub claims: &'a dyn Claims,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub erp: &'a dyn ErpCharges,
    /// The import queue: charges wait while orders wait to be imported.
    pub imports: Option<&'a dyn Backlog>,
    /// When the invocation must stop (its remaining time less a margin).
    pub deadline: std::time::Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum FollowupError {
    #[error("ledger access failed: {what}")]
    Ledger {
        what: String,
        #[source]
        source: LedgerError,
    },
    #[error("reading charges from the channel failed")]
    Channel(#[source] ConnectorError),
}

impl Classify for FollowupError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Ledger { source, .. } => source.class(),
            Self::Channel(source) => source.class(),
        }
    }
}

fn ledger(what: impl Into<String>) -> impl FnOnce(LedgerError) -> FollowupError {
    let what = what.into();
    move |source| FollowupError::Ledger { what, source }
}

/// What one charges pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChargesReport {
    /// Orders read from the channel.
    pub read: u32,
    /// Channel calls made.
    pub calls: u32,
    /// Orders whose ERP fields were written (one ERP call each).
    pub written: u32,
    pub unchanged: u32,
    /// Orders the channel reports no charge for yet (e.g. an unsettled commission).
    pub not_known: u32,
    /// Orders no longer followed from this pass on (past the age after shipment).
    pub stopped: u32,
    /// ERP writes refused (logged; read again on the next pass).
    pub failed: u32,
    /// The write cap or the deadline stopped the pass; the next one resumes where it stopped.
    pub postponed: bool,
    /// Why nothing was read, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred: Option<String>,
}

const CHARGES_STREAM: &str = "charges";
/// Followed orders read per ledger page.
const PAGE: usize = 200;

/// One charges pass over a connection's followed orders.
pub async fn poll_charges(
    connection: &ConnectionId,
    source: &dyn ChargeSource,
    sync: &ChargeSync,
    ctx: &FollowupContext<'_>,
) -> Result<ChargesReport, FollowupError> {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let mut report = ChargesReport::default();
    if let Some(imports) = ctx.imports {
        match imports.waiting().await {
            Ok(0) => {}
            Ok(n) => {
                let why = format!("{n} orders wait to be imported; charges are read on a later pass (imports first).");
                let action = recorder.start(
                    connection,
                    LogGroup::Charges,
                    "read_charges",
                    Direction::Import,
                    connection.as_str(),
                );
                recorder.finish(action, LogResult::Skipped, why.clone()).await;
                report.deferred = Some(why);
                return Ok(report);
            }
            // Not knowing the backlog is no reason to skip a pass: the call cap still bounds it.
            Err(e) => warn!(connection = %connection, error = %ErrorChain(&e), "Import backlog unknown."),
        }
    }
    let now = ctx.clock.now();
    let cursor = ctx.cursors.cursor(connection, CHARGES_STREAM).await.map_err(ledger("charges cursor"))?;
    let mut after: Option<ChannelOrderId> = cursor.as_ref().and_then(|c| serde_json::from_str(&c.value).ok());
    let charges: Vec<&String> = sync.fields.keys().collect();
    // Each order with the position before it, so a pass stopped inside a batch resumes there.
    let mut batch: Vec<(Option<ChannelOrderId>, FollowedOrder)> = Vec::new();
    let mut exhausted = false;
    let mut stopped_at: Option<Option<ChannelOrderId>> = None;
    'pages: while report.calls < sync.max_calls_per_run {
        let page = ctx.followed.followed(connection, after.as_ref(), PAGE).await.map_err(ledger("followed orders"))?;
        if page.is_empty() {
            exhausted = true;
        }
        for mut order in page.into_iter() {
            let before = after.replace(order.channel_order_id.clone());
            if order.charges_done {
                continue;
            }
            if past_following(&order, sync, now) {
                order.charges_done = true;
                ctx.followed
                    .save_followed(&order)
                    .await
                    .map_err(ledger(format!("followed {}", order.channel_order_id)))?;
                report.stopped += 1;
                continue;
            }
            batch.push((before, order));
            if batch.len() >= sync.orders_per_call {
                stopped_at =
                    read_batch(connection, source, sync, &charges, std::mem::take(&mut batch), ctx, &mut report)
                        .await?;
                if stopped_at.is_some() || report.calls >= sync.max_calls_per_run {
                    break 'pages;
                }
            }
        }
        if exhausted {
            break;
        }
    }
    if !batch.is_empty() && stopped_at.is_none() {
        // The end of the listing: the rest of the batch is read now.
        stopped_at = read_batch(connection, source, sync, &charges, batch, ctx, &mut report).await?;
    }
    // Stopped by the write cap or the deadline: the next pass resumes at the first order not
    // handled; exhausted: it starts over from the first order; else it goes on from here.
    let value = match stopped_at {
        Some(resume) => resume.as_ref().map(json_id).unwrap_or_default(),
        None if exhausted => String::new(),
        None => after.as_ref().map(json_id).unwrap_or_default(),
    };
    save_cursor(ctx, connection, cursor.map(|c| c.version), &value).await?;
    if report.written > 0 || report.stopped > 0 || report.failed > 0 {
        let action =
            recorder.start(connection, LogGroup::Charges, "read_charges", Direction::Import, connection.as_str());
        let result = if report.failed > 0 { LogResult::Failure } else { LogResult::Success };
        let notes = format!(
            "Read charges of {} orders in {} calls: {} written to the ERP, {} unchanged, {} not known yet, {} no longer followed, {} refused.",
            report.read, report.calls, report.written, report.unchanged, report.not_known, report.stopped, report.failed
        );
        recorder.finish(action, result, notes).await;
    }
    info!(connection = %connection, report = ?report, "Charges pass done.");
    Ok(report)
}

fn json_id(id: &ChannelOrderId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

async fn save_cursor(
    ctx: &FollowupContext<'_>,
    connection: &ConnectionId,
    version: Option<u64>,
    value: &str,
) -> Result<(), FollowupError> {
    match ctx.cursors.save_cursor(connection, CHARGES_STREAM, value, version).await {
        // Another pass ran at the same time: its position is as good as ours.
        Ok(_) | Err(LedgerError::CursorConflict { .. }) => Ok(()),
        Err(e) => Err(FollowupError::Ledger { what: "charges cursor".into(), source: e }),
    }
}

/// Past the configured age after shipment (or, never shipped, after import).
fn past_following(order: &FollowedOrder, sync: &ChargeSync, now: DateTime<Utc>) -> bool {
    match order.shipped_at {
        Some(shipped) => now - shipped > Duration::days(i64::from(sync.stop_after_days)),
        None => now - order.imported_at > Duration::days(i64::from(sync.unshipped_days)),
    }
}

/// The ERP fields whose value differs from what was written last.
fn changed_fields(sync: &ChargeSync, reported: &OrderCharges, written: &BTreeMap<String, Decimal>) -> ChargeDiff {
    let mut diff = ChargeDiff::default();
    for (charge, field) in &sync.fields {
        match reported.values.get(charge).copied().flatten() {
            None => diff.unknown.push(charge.clone()),
            Some(value) if written.get(field) == Some(&value) => {}
            Some(value) => {
                diff.changes.insert(field.clone(), value);
                diff.labels.push(match written.get(field) {
                    Some(old) => format!("{charge} {old} → {value} ({field})"),
                    None => format!("{charge} {value} ({field})"),
                });
            }
        }
    }
    diff
}

#[derive(Debug, Default)]
struct ChargeDiff {
    changes: BTreeMap<String, Decimal>,
    labels: Vec<String>,
    unknown: Vec<String>,
}

/// Reads one batch and writes what changed. Returns where the next pass resumes when the write
/// cap or the deadline stopped it inside the batch (the position before the first order left).
async fn read_batch(
    connection: &ConnectionId,
    source: &dyn ChargeSource,
    sync: &ChargeSync,
    charges: &[&String],
    batch: Vec<(Option<ChannelOrderId>, FollowedOrder)>,
    ctx: &FollowupContext<'_>,
    report: &mut ChargesReport,
) -> Result<Option<Option<ChannelOrderId>>, FollowupError> {
    let ids: Vec<ChannelOrderId> = batch.iter().map(|(_, o)| o.channel_order_id.clone()).collect();
    report.calls += 1;
    let answered = source.order_charges(&ids).await.map_err(FollowupError::Channel)?;
    let by_order: BTreeMap<&ChannelOrderId, &OrderCharges> = answered.iter().map(|c| (&c.order, c)).collect();
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let now = ctx.clock.now();
    for (before, mut order) in batch {
        // The channel does not know it (deleted, or another account): nothing to write.
        let Some(reported) = by_order.get(&order.channel_order_id) else { continue };
        report.read += 1;
        // The record is written only when something changed: an order read on every pass for a
        // month must not cost a DynamoDB write per pass.
        let mut changed = false;
        if order.shipped_at.is_none() && reported.shipped_at.is_some() {
            order.shipped_at = reported.shipped_at;
            changed = true;
        }
        let diff = changed_fields(sync, reported, &order.charges);
        if diff.changes.is_empty() {
            if diff.unknown.len() == charges.len() {
                report.not_known += 1;
            } else {
                report.unchanged += 1;
            }
        } else {
            if report.written + report.failed >= sync.max_writes_per_run || std::time::Instant::now() >= ctx.deadline {
                // The ERP licence is shared with imports: the rest waits for the next pass.
                report.postponed = true;
                return Ok(Some(before));
            }
            let entity = ImportKey::new(connection.clone(), order.channel_order_id.clone());
            let action = recorder
                .start(connection, LogGroup::Charges, "write_charges", Direction::Import, entity.import_id())
                .correlated(&entity.correlation_id());
            match ctx.erp.write_charges(&order.erp, &diff.changes).await {
                Ok(()) => {
                    order.charges.extend(diff.changes.clone());
                    changed = true;
                    report.written += 1;
                    let mut notes = format!("Wrote to {}: {}.", order.erp, diff.labels.join(", "));
                    if !diff.unknown.is_empty() {
                        notes.push_str(&format!(" Not known yet: {}.", diff.unknown.join(", ")));
                    }
                    recorder.finish(action, LogResult::Success, notes).await;
                }
                Err(e) => {
                    report.failed += 1;
                    let (result, what) = if e.is_retryable() {
                        (LogResult::Retry, "written on the next pass")
                    } else {
                        (
                            LogResult::Failure,
                            "check the ERP fields in profit_and_loss.fields; read again on the next pass",
                        )
                    };
                    recorder
                        .finish(
                            action,
                            result,
                            format!("{} refused the charges: {}; {what}.", order.erp, ErrorChain(&e)),
                        )
                        .await;
                }
            }
        }
        if changed {
            order.charges_checked_at = Some(now);
            ctx.followed.save_followed(&order).await.map_err(ledger(format!("followed {}", order.channel_order_id)))?;
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Personal-data retention.
// ---------------------------------------------------------------------------------------------

/// What one purge pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Followed orders looked at.
    pub examined: u32,
    /// Orders whose personal data was removed in this pass.
    pub purged: u32,
    /// Connector-log entries rewritten.
    pub log_entries: u32,
    /// Claim failure texts rewritten.
    pub claims: u32,
    /// The deadline stopped the pass; the next one goes on.
    pub postponed: bool,
}

/// Orders that never ship are purged as if they had shipped this long after their import.
pub const UNSHIPPED_GRACE_DAYS: i64 = 90;
/// Connector-log entries read per entity (an order's whole history is far shorter).
const ENTRIES_PER_ENTITY: usize = 1000;

/// Removes the personal data of every followed order that shipped more than `days` ago. Orders
/// purged before are skipped, so a repeated pass changes nothing.
pub async fn purge_personal_data(
    connection: &ConnectionId,
    days: u32,
    ctx: &FollowupContext<'_>,
) -> Result<PurgeReport, FollowupError> {
    let now = ctx.clock.now();
    let cutoff = now - Duration::days(i64::from(days));
    let mut report = PurgeReport::default();
    let mut after: Option<ChannelOrderId> = None;
    loop {
        let page = ctx.followed.followed(connection, after.as_ref(), PAGE).await.map_err(ledger("followed orders"))?;
        let Some(last) = page.last() else { break };
        after = Some(last.channel_order_id.clone());
        for order in page {
            report.examined += 1;
            let reference = order.shipped_at.unwrap_or(order.imported_at + Duration::days(UNSHIPPED_GRACE_DAYS));
            if order.purged_at.is_some() || reference > cutoff {
                continue;
            }
            if std::time::Instant::now() >= ctx.deadline {
                // Purged orders are skipped next time: the next pass goes on from here.
                report.postponed = true;
                break;
            }
            purge_order(order, days, ctx, &mut report).await?;
        }
    }
    info!(connection = %connection, report = ?report, "Personal-data purge done.");
    Ok(report)
}

async fn purge_order(
    mut order: FollowedOrder,
    days: u32,
    ctx: &FollowupContext<'_>,
    report: &mut PurgeReport,
) -> Result<(), FollowupError> {
    let connection = order.connection.clone();
    let key = ImportKey::new(connection.clone(), order.channel_order_id.clone());
    let data = order.personal.clone().unwrap_or_default();
    let what = |thing: &str| format!("{thing} of {}", key.import_id());

    // The connector log: every entry about the order (by its ids) and about its buyer (by email).
    let mut entities: Vec<String> =
        vec![key.import_id(), order.display_number.clone(), order.erp.to_string(), order.erp.order_nbr.to_string()];
    entities.extend(data.emails.iter().cloned());
    entities.sort();
    entities.dedup();
    let mut rewritten = 0;
    for entity in &entities {
        let entries = ctx
            .log
            .entries_for_entity(&connection, entity, ENTRIES_PER_ENTITY)
            .await
            .map_err(ledger(what("connector log")))?;
        for mut entry in entries {
            let notes = data.redact(&entry.notes);
            let entity_id = data.redact(&entry.entity_id);
            if notes.is_none() && entity_id.is_none() {
                continue;
            }
            entry.notes = notes.unwrap_or(entry.notes);
            entry.entity_id = entity_id.map(|_| REMOVED.to_owned()).unwrap_or(entry.entity_id);
            ctx.log.rewrite(&entry).await.map_err(ledger(what("connector log entry")))?;
            rewritten += 1;
        }
    }
    // A failure the import recorded may quote the buyer (a customer that could not be matched).
    let claim = ClaimKey::import(&key);
    if let Some(record) = ctx.claims.claim_record(&claim).await.map_err(ledger(what("import claim")))? {
        if let Some(redacted) = record.failure.as_deref().and_then(|f| data.redact(f)) {
            ctx.claims.rewrite_failure(&claim, &redacted).await.map_err(ledger(what("import claim")))?;
            report.claims += 1;
        }
    }
    order.personal = None;
    order.purged_at = Some(ctx.clock.now());
    ctx.followed.save_followed(&order).await.map_err(ledger(what("followed order")))?;
    report.purged += 1;
    report.log_entries += rewritten;

    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let shipped =
        order.shipped_at.map_or_else(|| "never shipped".to_owned(), |s| format!("shipped {}", s.date_naive()));
    let action = recorder
        .start(&connection, LogGroup::Retention, "purge_personal_data", Direction::Internal, key.import_id())
        .correlated(&key.correlation_id());
    recorder
        .finish(
            action,
            LogResult::Success,
            format!(
                "Removed personal data ({shipped}; kept {days} days after shipment): {rewritten} connector-log entries rewritten; ids, amounts and charges kept."
            ),
        )
        .await;
    Ok(())
}

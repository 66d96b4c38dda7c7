//! Pull: page through a channel's new orders and enqueue one import message per order that is
//! neither imported, in flight, nor failed under the current mapping.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{acknowledge, AckRound, ImportOrder, LogRecorder, OrderMessage};
use crate::error::{Classify, ErrorClass};
use crate::model::{ErpOrderRef, ImportKey};
use crate::ports::{
    Acknowledgement, Bindings, ClaimKey, ClaimStatus, Claims, Clock, ConnectorError, ConnectorLog, Cursors, Direction,
    Envelope, LedgerError, LogGroup, LogResult, Markers, OrderSource, PageToken, Queue, QueueError,
};

/// The cursor stream the order pull keeps per connection.
pub const ORDERS_STREAM: &str = "orders";
/// Ledger scope of the "already enqueued" markers.
pub const ENQUEUED_SCOPE: &str = "enqueued";

/// What the pull needs besides the channel.
pub struct PullContext<'a> {
    pub claims: &'a dyn Claims,
    /// Bindings of imported orders: an order listed as new again is compared with what the ERP
    /// order reflects.
    pub bindings: &'a dyn Bindings,
    pub cursors: &'a dyn Cursors,
    pub markers: &'a dyn Markers,
    pub queue: &'a dyn Queue,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    /// The mapping version in force: orders that failed under it are not retried until it changes.
    pub mapping_version: u64,
    /// How long an enqueued order is not enqueued again while its import is pending. After it,
    /// a still-unimported order is enqueued again (the claim makes the duplicate harmless).
    pub enqueued_ttl: Duration,
    /// Stop starting new pages after this instant (the Lambda's deadline minus a margin); the
    /// cursor makes the next invocation resume.
    pub deadline: Instant,
}

/// Counts of one pull of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PullReport {
    pub pages: u32,
    pub listed: u32,
    pub enqueued: u32,
    /// Already imported: acknowledged again (the earlier acknowledgement was lost).
    pub reacknowledged: u32,
    pub in_flight: u32,
    pub failed_under_current_mapping: u32,
    /// True when the listing was read to its end; false when the deadline cut it short.
    pub finished: bool,
    /// True when the deadline had passed before the first page: nothing was read at all.
    pub out_of_time: bool,
    /// Changed customer accounts enqueued (connections that import them).
    pub customers_enqueued: u32,
    /// Imported orders listed as new again and sent to the import to compare (a reset after a
    /// change, or a lost acknowledgement of an order whose content only a fetch shows).
    pub revisited: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("listing orders failed")]
    Channel(#[source] ConnectorError),
    #[error("ledger access failed")]
    Ledger(#[source] LedgerError),
    #[error("enqueueing orders failed")]
    Queue(#[source] QueueError),
    #[error("{count} import messages were refused by SQS: {first}")]
    NotEnqueued { count: usize, first: String },
}

impl Classify for PullError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Channel(e) => e.class(),
            Self::Ledger(e) => e.class(),
            Self::Queue(e) => e.class(),
            Self::NotEnqueued { .. } => ErrorClass::RETRY,
        }
    }
}

/// The failure text recorded on a claim, prefixed with the mapping version it happened under.
pub fn failure_reason(mapping_version: u64, reason: &str) -> String {
    format!("mapping v{mapping_version}: {reason}")
}

fn failed_under(failure: Option<&str>, mapping_version: u64) -> bool {
    failure.is_some_and(|f| f.starts_with(&format!("mapping v{mapping_version}: ")))
}

/// The stored cursor: the mapping version it was read under, then the channel's page token.
fn cursor_value(mapping_version: u64, token: &str) -> String {
    format!("@{mapping_version} {token}")
}

/// Where a pull starts from a stored cursor. A cursor saved under another mapping version starts
/// the listing over: a channel listed by a watermark (orders updated since) would otherwise
/// never list again the orders the old mapping failed, and the new mapping must see them.
/// Cursors stored before the version was recorded resume as they are.
fn resume_from(value: &str, mapping_version: u64, connection: &crate::model::ConnectionId) -> Option<PageToken> {
    let token = match value.strip_prefix('@').and_then(|rest| rest.split_once(' ')) {
        Some((version, token)) if version.parse::<u64>().ok() == Some(mapping_version) => token,
        Some((version, _)) => {
            info!(connection = %connection, saved_under = version, mapping_version, "The mapping changed since the cursor was saved: listing from the start, so orders the old mapping failed are seen again.");
            return None;
        }
        None => value,
    };
    (!token.is_empty()).then(|| PageToken(token.to_owned()))
}

/// Pulls one connection until its listing is exhausted or the deadline passes.
pub async fn pull_connection(source: &dyn OrderSource, ctx: &PullContext<'_>) -> Result<PullReport, PullError> {
    let connection = source.connection().clone();
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let mut report = PullReport::default();
    let cursor = ctx.cursors.cursor(&connection, ORDERS_STREAM).await.map_err(PullError::Ledger)?;
    let mut version = cursor.as_ref().map(|c| c.version);
    let mut token = cursor.and_then(|c| resume_from(&c.value, ctx.mapping_version, &connection));
    // Re-acknowledgements wait until the listing is read: acknowledging shrinks a "not exported"
    // listing, which would shift the pages still to come and skip orders.
    let mut pending_reacks = Vec::new();
    if let Some(t) = &token {
        info!(connection = %connection, page = %t.0, "Resuming order pull from the saved cursor.");
    }

    loop {
        if Instant::now() >= ctx.deadline {
            warn!(connection = %connection, pages = report.pages, "Order pull stopped at the deadline; the next run resumes from the cursor.");
            acknowledge(source, &pending_reacks, AckRound::Again, &recorder).await;
            report.out_of_time = report.pages == 0;
            return Ok(report);
        }
        let action = recorder.start(
            &connection,
            LogGroup::Orders,
            "pull_page",
            Direction::Import,
            token.as_ref().map_or_else(|| "start".to_owned(), |t| t.0.clone()),
        );
        let page = match source.list_new_orders(token.as_ref()).await {
            Ok(page) => page,
            Err(e) => {
                let result = if e.is_retryable() { LogResult::Retry } else { LogResult::Failure };
                recorder.finish(action, result, format!("Listing failed: {e}")).await;
                return Err(PullError::Channel(e));
            }
        };
        report.pages += 1;

        let mut messages = Vec::new();
        let mut reacks = Vec::new();
        let (mut enqueued, mut in_flight, mut failed, mut reacked, mut revisits) = (0u32, 0u32, 0u32, 0u32, 0u32);
        for listed in page.orders {
            report.listed += 1;
            let key = ImportKey::new(connection.clone(), listed.id().clone());
            let record = ctx.claims.claim_record(&ClaimKey::import(&key)).await.map_err(PullError::Ledger)?;
            // An order that failed under an earlier mapping was enqueued for that mapping: its
            // marker must not hold back the replay under the new one.
            let mut marker = match &record {
                Some(r) if r.status == ClaimStatus::Failed => format!("{}@v{}", key.ledger_key(), ctx.mapping_version),
                _ => key.ledger_key(),
            };
            match record {
                Some(r) if r.status == ClaimStatus::Completed => {
                    // Listed as new again after its import: a lost acknowledgement, or the order
                    // was changed and reset to the new status. Unchanged (or imported before
                    // digests were kept) → acknowledged again; changed, or a reference whose
                    // content only a fetch shows → the import compares and updates the ERP order.
                    let bound = ctx
                        .bindings
                        .binding_for_channel(&connection, &key.order)
                        .await
                        .map_err(PullError::Ledger)?
                        .and_then(|b| b.digest);
                    let revisit = match (bound.as_deref(), listed.digest()) {
                        (None, _) => false,
                        (Some(bound), Some(now)) => bound != now,
                        (Some(_), None) => true,
                    };
                    if !revisit {
                        if let Some(erp) = r.result.as_deref().and_then(ErpOrderRef::parse) {
                            reacks.push(Acknowledgement::Imported {
                                order: key.order.clone(),
                                erp,
                                digest: listed.digest(),
                                remark: None,
                            });
                            reacked += 1;
                        }
                        continue;
                    }
                    marker = format!("{}#revisit@{}", key.ledger_key(), listed.digest().unwrap_or_default());
                    revisits += 1;
                }
                Some(r) if r.status == ClaimStatus::InProgress && r.lease_until > ctx.clock.now() => {
                    in_flight += 1;
                    continue;
                }
                Some(r)
                    if r.status == ClaimStatus::Failed && failed_under(r.failure.as_deref(), ctx.mapping_version) =>
                {
                    failed += 1;
                    continue;
                }
                _ => {}
            }
            // Marked before sending: a crash in between delays the order by `enqueued_ttl`, never loses it.
            if !ctx.markers.remember_once(ENQUEUED_SCOPE, &marker, ctx.enqueued_ttl).await.map_err(PullError::Ledger)? {
                in_flight += 1;
                continue;
            }
            // The order's correlation id is minted here, where the order is first seen, and
            // derived from its key, so a later pull of the same order carries the same one.
            let envelope = Envelope::correlated(
                OrderMessage::ImportOrderV1(ImportOrder {
                    connection: connection.clone(),
                    order: listed,
                    announced: false,
                }),
                ctx.clock.now(),
                key.correlation_id(),
            );
            let outgoing = envelope
                .to_outgoing(key.import_id())
                .map_err(|source| PullError::Queue(QueueError::Encode { queue: "orders".into(), source }))?;
            messages.push(outgoing);
            enqueued += 1;
        }

        if !messages.is_empty() {
            let sent = ctx.queue.send(messages).await.map_err(PullError::Queue)?;
            if let Some((first_id, reason)) = sent.failed.first() {
                let error = PullError::NotEnqueued { count: sent.failed.len(), first: format!("{first_id}: {reason}") };
                recorder.finish(action, LogResult::Retry, error.to_string()).await;
                return Err(error);
            }
        }
        pending_reacks.append(&mut reacks);
        report.enqueued += enqueued;
        report.in_flight += in_flight;
        report.failed_under_current_mapping += failed;
        report.reacknowledged += reacked;
        report.revisited += revisits;
        recorder
            .finish(
                action,
                LogResult::Success,
                format!(
                    "Page {}: {enqueued} enqueued ({revisits} imported before and listed again to compare), {reacked} already imported (acknowledged again), {in_flight} in flight, {failed} failed under mapping v{}.",
                    report.pages, ctx.mapping_version
                ),
            )
            .await;

        // Saved after the page's messages are safely in SQS: a crash re-reads at most this page.
        let next_value = page.next.as_ref().or(page.restart.as_ref()).map_or("", |t| t.0.as_str());
        let saved = ctx
            .cursors
            .save_cursor(&connection, ORDERS_STREAM, &cursor_value(ctx.mapping_version, next_value), version)
            .await
            .map_err(PullError::Ledger)?;
        version = Some(saved.version);
        match page.next {
            Some(next) => token = Some(next),
            None => {
                report.finished = true;
                acknowledge(source, &pending_reacks, AckRound::Again, &recorder).await;
                info!(connection = %connection, pages = report.pages, listed = report.listed, enqueued = report.enqueued, "Order pull finished.");
                return Ok(report);
            }
        }
    }
}

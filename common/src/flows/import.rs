//! Import: one channel order into the ERP, exactly once (architecture.md §5):
//! claim → (already done? acknowledge again) → fetch → look before you create → map → create →
//! bind → complete → acknowledge (batched by the caller).

use std::time::Duration;

use tracing::{info, warn};

use super::{buyer_key, customer_lookup, failure_reason, resolve_customer, resolve_lines, ImportOrder, LogRecorder};
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::mapping::{build_draft, Mapping, OrderMappingError, SalesOrderDraft};
use crate::model::{ConnectionId, ErpCustomerId, ErpOrderRef, ImportKey, Order};
use crate::ports::{
    Acknowledgement, AnnouncedOrder, Binding, BindingOrigin, Bindings, ClaimKey, ClaimLease, ClaimOutcome, Claims,
    Clock, ConnectorError, ConnectorLog, CustomerBindings, CustomerLookup, Direction, FollowedOrder, FollowedOrders,
    LedgerError, ListedOrder, LogGroup, LogResult, Markers, OrderSink, OrderSource,
};

/// What the import needs besides the channel.
pub struct ImportContext<'a> {
    pub claims: &'a dyn Claims,
    pub bindings: &'a dyn Bindings,
    pub markers: &'a dyn Markers,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub sink: &'a dyn OrderSink<Draft = SalesOrderDraft>,
    pub mapping: &'a Mapping,
    /// Identifies this attempt (request id); claims are fenced on it.
    pub owner: String,
    /// How long the claim is held: the invocation's remaining time, so a crash frees it soon after.
    pub lease: Duration,
    /// Where imported orders are followed when the connection follows them (charges, personal-data
    /// retention); None when it does not.
    pub follow: Option<&'a dyn FollowedOrders>,
    /// When the order's message was enqueued (the pull saw the order then), for the log.
    pub enqueued_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Where each buyer's ERP customer is remembered, so a repeat buyer costs no ERP lookup;
    /// None looks every buyer up.
    pub buyers: Option<&'a dyn CustomerBindings>,
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Created in the ERP by this attempt; `placed_at` is when the channel order was placed (the
    /// start of the order's channel-to-ERP latency).
    Created { erp: ErpOrderRef, placed_at: chrono::DateTime<chrono::Utc> },
    /// An earlier attempt created the order but did not record it (lost response or crash).
    Recovered(ErpOrderRef),
    /// Imported before; acknowledged again.
    AlreadyImported(ErpOrderRef),
    /// Entered in the ERP and published to the channel by Orderbridge: never imported back
    /// (the echo guard), and nothing is written to the channel about it.
    Published(ErpOrderRef),
    /// Changed in the channel after its import (listed again as new with other content): the
    /// open ERP order was updated.
    Revised(ErpOrderRef),
    /// Changed in the channel after its import, but the ERP order was not updated; the reason
    /// (shipped, closed, refused) is written back to the channel.
    NotRevised(ErpOrderRef, String),
    /// A permanent problem was recorded; it says what to fix.
    Failed(String),
    /// An operator skipped the order (resolved it without importing); the note says why.
    Skipped(String),
    /// A webhook announced the order, but it does not wait for import (an incomplete checkout,
    /// or moved on since): nothing done, its status as the channel names it.
    NotWaiting(String),
}

impl ImportOutcome {
    /// What to tell the channel, batched by the caller.
    /// `digest` is the imported order's content digest when known (a whole listed order). None:
    /// nothing to tell the channel.
    pub fn acknowledgement(
        &self,
        order: &crate::model::ChannelOrderId,
        digest: Option<String>,
    ) -> Option<Acknowledgement> {
        match self {
            Self::Created { erp, .. } | Self::Recovered(erp) | Self::AlreadyImported(erp) => {
                Some(Acknowledgement::Imported { order: order.clone(), erp: erp.clone(), digest, remark: None })
            }
            Self::Revised(erp) => Some(Acknowledgement::Imported {
                order: order.clone(),
                erp: erp.clone(),
                digest,
                remark: Some("Changes made after the import were applied to the ERP order.".into()),
            }),
            Self::NotRevised(erp, reason) => Some(Acknowledgement::Imported {
                order: order.clone(),
                erp: erp.clone(),
                digest,
                remark: Some(reason.clone()),
            }),
            Self::Published(_) | Self::Skipped(_) | Self::NotWaiting(_) => None,
            Self::Failed(reason) => Some(Acknowledgement::Failed { order: order.clone(), reason: reason.clone() }),
        }
    }
}

/// A failure that must be retried (the message goes back to the queue).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("order {key} is being imported by another worker (lease until {lease_until})")]
    InProgress { key: String, lease_until: chrono::DateTime<chrono::Utc> },
    #[error("ledger access failed for {key}")]
    Ledger {
        key: String,
        #[source]
        source: LedgerError,
    },
    #[error("vendor call failed for {key}")]
    Vendor {
        key: String,
        #[source]
        source: ConnectorError,
    },
}

impl Classify for ImportError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InProgress { .. } => ErrorClass::RETRY,
            Self::Ledger { source, .. } => source.class(),
            Self::Vendor { source, .. } => source.class(),
        }
    }
}

/// Imports one order. `Ok` means the outcome is final and recorded (created, recovered, already
/// imported, or a permanent failure with its reason); `Err` means "retry this message later".
pub async fn import_order(
    source: &dyn OrderSource,
    message: &ImportOrder,
    ctx: &ImportContext<'_>,
) -> Result<ImportOutcome, ImportError> {
    let key = ImportKey::new(message.connection.clone(), message.order.id().clone());
    let key_text = key.ledger_key();
    let ledger_err = |source: LedgerError| ImportError::Ledger { key: key_text.clone(), source };
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder
        .start(&key.connection, LogGroup::Orders, "import_order", Direction::Import, key.import_id())
        .correlated(&key.correlation_id())
        .queued(ctx.enqueued_at);

    // An order a webhook announced is read first (one call), and imported only if the pull would
    // have listed it; then it goes on as a whole order. An order that cannot be mapped goes on as
    // the reference, so the claimed import records that failure as it would for a pulled one.
    let read;
    let message = if message.announced {
        match source.fetch_announced(&key.order).await {
            Ok(AnnouncedOrder::Waiting(order)) => {
                read = ImportOrder { order: ListedOrder::Whole(order), announced: false, ..message.clone() };
                &read
            }
            Ok(AnnouncedOrder::NotWaiting { status }) => {
                let note = format!(
                    "Announced by the channel's webhook, but not waiting for import (status {status}); left alone."
                );
                recorder.finish(action, LogResult::Skipped, note).await;
                return Ok(ImportOutcome::NotWaiting(status));
            }
            Err(ConnectorError::Unmappable { .. }) => message,
            Err(source) => {
                let error = ImportError::Vendor { key: key_text.clone(), source };
                recorder.finish(action, LogResult::Retry, format!("Will retry: {}", ErrorChain(&error))).await;
                return Err(error);
            }
        }
    } else {
        message
    };

    let lease = match ctx.claims.claim(&ClaimKey::import(&key), &ctx.owner, ctx.lease).await.map_err(ledger_err)? {
        ClaimOutcome::Acquired(lease) => lease,
        ClaimOutcome::Completed(record) => {
            let binding = ctx.bindings.binding_for_channel(&key.connection, &key.order).await.map_err(ledger_err)?;
            if let Some(binding) = binding.as_ref().filter(|b| b.origin == BindingOrigin::Erp) {
                recorder
                    .finish(
                        action,
                        LogResult::Skipped,
                        format!("Entered in the ERP as {} and published here; not imported back.", binding.erp),
                    )
                    .await;
                return Ok(ImportOutcome::Published(binding.erp.clone()));
            }
            // Listed as new again with content the ERP order does not reflect: update it.
            if let Some(binding) = binding.filter(|b| b.digest.is_some()) {
                if let Some(order) = changed_since_import(source, message, &binding, &key_text).await? {
                    let outcome = revise(ctx, &key, &binding, &order).await;
                    let (result, notes) = match &outcome {
                        Ok(ImportOutcome::Revised(erp)) => (
                            LogResult::Success,
                            format!("Changed in the channel after the import: {erp} updated (lines, addresses, shipping, notes)."),
                        ),
                        Ok(ImportOutcome::NotRevised(erp, reason)) => (
                            LogResult::Skipped,
                            format!("Changed in the channel after the import; {erp} not updated: {reason}"),
                        ),
                        Ok(other) => (LogResult::Skipped, format!("{other:?}")),
                        Err(e) => (LogResult::Retry, format!("Will retry: {}", ErrorChain(e))),
                    };
                    recorder.finish(action, result, notes).await;
                    return outcome;
                }
            }
            if let Some(note) = record.skipped_note() {
                let note = note.to_owned();
                recorder.finish(action, LogResult::Skipped, format!("Skipped by an operator: {note}")).await;
                return Ok(ImportOutcome::Skipped(note));
            }
            if let Some(erp) = record.result.as_deref().and_then(ErpOrderRef::parse) {
                recorder
                    .finish(action, LogResult::Skipped, format!("Already imported as {erp}; acknowledging again."))
                    .await;
                return Ok(ImportOutcome::AlreadyImported(erp));
            }
            return Err(ledger_err(LedgerError::Corrupt {
                table: "state".into(),
                key: key_text.clone(),
                detail: format!("completed claim has result {:?}", record.result),
            }));
        }
        ClaimOutcome::InProgress { lease_until, .. } => {
            return Err(ImportError::InProgress { key: key_text.clone(), lease_until });
        }
    };

    match run_claimed(source, message, ctx, &key, &lease).await {
        Ok((outcome, notes)) => {
            let result = match outcome {
                ImportOutcome::Failed(_) => LogResult::Failure,
                ImportOutcome::Published(_) | ImportOutcome::Skipped(_) => LogResult::Skipped,
                _ => LogResult::Success,
            };
            recorder.finish(action, result, notes).await;
            Ok(outcome)
        }
        Err(error) => {
            // Free the claim at once so the redelivery need not wait for the lease to expire.
            if let Err(e) = ctx.claims.release(&lease).await {
                warn!(key = %key_text, error = %e, "Releasing the import claim failed; it frees itself when the lease expires.");
            }
            recorder.finish(action, LogResult::Retry, format!("Will retry: {}", ErrorChain(&error))).await;
            Err(error)
        }
    }
}

/// The channel order, when its content differs from what the bound ERP order reflects (None:
/// unchanged, a lost acknowledgement). A listed reference is fetched.
async fn changed_since_import(
    source: &dyn OrderSource,
    message: &ImportOrder,
    binding: &Binding,
    key_text: &str,
) -> Result<Option<Order>, ImportError> {
    let order = match &message.order {
        ListedOrder::Whole(order) => (**order).clone(),
        ListedOrder::Reference { id, .. } => {
            source.fetch_order(id).await.map_err(|source| ImportError::Vendor { key: key_text.to_owned(), source })?
        }
    };
    Ok((binding.digest.as_deref() != Some(order.content_digest().as_str())).then_some(order))
}

/// Updates the bound ERP order to a changed channel order, once per content (claim
/// `REVISE#<key>@<digest>`); an ERP order that can no longer change is left alone with the reason.
/// Either way the binding takes the new digest, so the change is handled once.
async fn revise(
    ctx: &ImportContext<'_>,
    key: &ImportKey,
    binding: &Binding,
    order: &Order,
) -> Result<ImportOutcome, ImportError> {
    let key_text = key.ledger_key();
    let ledger_err = |source: LedgerError| ImportError::Ledger { key: key_text.clone(), source };
    let digest = order.content_digest();
    let claim_key = ClaimKey::other("REVISE", &format!("{key_text}@{digest}"));
    let lease = match ctx.claims.claim(&claim_key, &ctx.owner, ctx.lease).await.map_err(ledger_err)? {
        ClaimOutcome::Acquired(lease) => lease,
        ClaimOutcome::Completed(_) => return Ok(ImportOutcome::Revised(binding.erp.clone())),
        ClaimOutcome::InProgress { lease_until, .. } => {
            return Err(ImportError::InProgress { key: claim_key.to_string(), lease_until })
        }
    };
    let erp = binding.erp.clone();
    let outcome = match map_order(ctx, &key.connection, order).await {
        Err(OrderMappingError::Lookup(e)) if not_the_orders(&e) => {
            Err(ImportError::Vendor { key: key_text.clone(), source: e })
        }
        Err(e) => Ok(ImportOutcome::NotRevised(erp.clone(), format!("the changed order cannot be mapped: {e}"))),
        Ok(mapped) => match ctx.sink.update_order(&erp, &mapped.draft).await {
            Ok(Ok(())) => Ok(ImportOutcome::Revised(erp.clone())),
            Ok(Err(reason)) => Ok(ImportOutcome::NotRevised(erp.clone(), reason)),
            Err(e) if not_the_orders(&e) => Err(ImportError::Vendor { key: key_text.clone(), source: e }),
            Err(e) => {
                if let (ConnectorError::Rejected { .. }, Some(buyer)) = (&e, &mapped.bound_buyer) {
                    forget_buyer(ctx, &key.connection, buyer, &mapped.draft.customer_id).await;
                }
                Ok(ImportOutcome::NotRevised(erp.clone(), format!("the ERP refused the update: {e}")))
            }
        },
    };
    match outcome {
        Ok(outcome) => {
            let revised = Binding { digest: Some(digest), ..binding.clone() };
            ctx.bindings.bind(&revised).await.map_err(ledger_err)?;
            ctx.claims.complete(&lease, &erp.to_string()).await.map_err(ledger_err)?;
            info!(key = %key_text, erp = %erp, outcome = ?outcome, "Changed channel order handled.");
            Ok(outcome)
        }
        Err(error) => {
            if let Err(e) = ctx.claims.release(&lease).await {
                warn!(key = %key_text, error = %e, "Releasing the revision claim failed; it frees itself when the lease expires.");
            }
            Err(error)
        }
    }
}

/// The claimed part: returns the outcome and the connector-log note.
async fn run_claimed(
    source: &dyn OrderSource,
    message: &ImportOrder,
    ctx: &ImportContext<'_>,
    key: &ImportKey,
    lease: &ClaimLease,
) -> Result<(ImportOutcome, String), ImportError> {
    let key_text = key.ledger_key();
    let ledger_err = |source: LedgerError| ImportError::Ledger { key: key_text.clone(), source };
    let vendor_err = |source: ConnectorError| ImportError::Vendor { key: key_text.clone(), source };

    // The echo guard: an order Orderbridge created in this channel from the ERP is bound with
    // origin `erp` before it is acknowledged there; it is that ERP order, never a new one.
    if let Some(binding) = ctx.bindings.binding_for_channel(&key.connection, &key.order).await.map_err(ledger_err)? {
        if binding.origin == BindingOrigin::Erp {
            ctx.claims.complete(lease, &binding.erp.to_string()).await.map_err(ledger_err)?;
            info!(key = %key_text, erp = %binding.erp, "Order was entered in the ERP and published here; not imported back.");
            return Ok((
                ImportOutcome::Published(binding.erp.clone()),
                format!(
                    "Not imported: entered in the ERP as {} and published to the channel by Orderbridge.",
                    binding.erp
                ),
            ));
        }
    }

    let order: Order = match &message.order {
        ListedOrder::Whole(order) => (**order).clone(),
        ListedOrder::Reference { id, .. } => match source.fetch_order(id).await {
            Ok(order) => order,
            // The channel answered, but with an order that can never be read or mapped: the same
            // answer comes back on every retry, so it is this order's recorded failure now, not a
            // message circling until the DLQ. Other permanent errors (refused credentials, a 404)
            // are not about the order: they go to the DLQ, and the order is pulled again once the
            // cause is fixed.
            Err(e @ ConnectorError::Unmappable { .. }) => {
                return record_failure(ctx, lease, &format!("the channel's order cannot be read: {e}"))
                    .await
                    .map_err(ledger_err)
            }
            Err(e) => return Err(vendor_err(e)),
        },
    };

    // Look before you create: a previous attempt may have created it and died before recording.
    // The first attempt ever made on this key has no predecessor, so it skips the lookup (one ERP
    // call saved per order under the ERP's per-minute licence limit).
    let existing =
        if lease.attempt > 1 { ctx.sink.find_by_import_id(&key.import_id()).await.map_err(vendor_err)? } else { None };
    let placed_at = order.placed_at;
    let (erp, created) = match existing {
        Some(erp) => (erp, false),
        None => {
            let mut mapped = match map_order(ctx, &key.connection, &order).await {
                Ok(mapped) => mapped,
                Err(OrderMappingError::Lookup(e)) if not_the_orders(&e) => return Err(vendor_err(e)),
                Err(e) => return record_failure(ctx, lease, &e.to_string()).await.map_err(ledger_err),
            };
            // Remembered before the create: a create whose reply is lost (or an invocation killed
            // right after it) is recovered by the lookup above, which never sees the draft, and
            // status-push would then copy the channel's own instructions back (found by `make
            // chaos` at 10,000 orders). The marker only says "this text came from the channel".
            remember_imported_note(ctx, key, mapped.draft.note.as_deref()).await;
            let mut created = ctx.sink.create_order(&mapped.draft).await;
            if let (Err(ConnectorError::Rejected { .. }), Some(buyer)) = (&created, mapped.bound_buyer.clone()) {
                // Refused for validation, so nothing was created: once more with the customer
                // looked up afresh rather than taken from the binding.
                forget_buyer(ctx, &key.connection, &buyer, &mapped.draft.customer_id).await;
                mapped = match map_order(ctx, &key.connection, &order).await {
                    Ok(mapped) => mapped,
                    Err(OrderMappingError::Lookup(e)) if not_the_orders(&e) => return Err(vendor_err(e)),
                    Err(e) => return record_failure(ctx, lease, &e.to_string()).await.map_err(ledger_err),
                };
                created = ctx.sink.create_order(&mapped.draft).await;
            }
            match created {
                Ok(erp) => (erp, true),
                Err(e) if !not_the_orders(&e) => {
                    return record_failure(ctx, lease, &format!("the ERP refused the order: {e}"))
                        .await
                        .map_err(ledger_err);
                }
                Err(e) => return Err(vendor_err(e)),
            }
        }
    };

    let binding = Binding {
        connection: key.connection.clone(),
        channel_order_id: key.order.clone(),
        display_number: order.display_number.clone(),
        erp: erp.clone(),
        created_at: ctx.clock.now(),
        origin: Default::default(),
        digest: Some(order.content_digest()),
    };
    ctx.bindings.bind(&binding).await.map_err(ledger_err)?;
    if let Some(follow) = ctx.follow {
        // Before `complete`: a crash here retries the whole step, and following twice is a no-op.
        follow.follow(&followed_order(&binding, &order)).await.map_err(ledger_err)?;
    }
    ctx.claims.complete(lease, &erp.to_string()).await.map_err(ledger_err)?;
    let (outcome, verb) = if created {
        (ImportOutcome::Created { erp: erp.clone(), placed_at }, "Created")
    } else {
        (ImportOutcome::Recovered(erp.clone()), "Found (created by an earlier attempt)")
    };
    info!(key = %key_text, correlation_id = %key.correlation_id(), erp = %erp, source = %order.order_source.0, total = %order.totals.grand_total, "Order imported.");
    Ok((
        outcome,
        format!(
            "{verb} {erp} for {} order {} of {} ({} lines, total {}).",
            order.order_source.0,
            order.display_number,
            buyer_label(&order),
            order.lines.len(),
            order.totals.grand_total
        ),
    ))
}

/// The buyer as operators recognise them in the log: the name, else the email. Personal data:
/// README "Personal data" lists this place, and the retention purge removes it.
fn buyer_label(order: &Order) -> String {
    let name = order.customer.name.trim();
    if !name.is_empty() {
        return name.to_owned();
    }
    order.customer.email.as_deref().map(str::trim).filter(|e| !e.is_empty()).unwrap_or("a guest").to_owned()
}

/// The record of an imported order the connection follows.
fn followed_order(binding: &Binding, order: &Order) -> FollowedOrder {
    FollowedOrder {
        connection: binding.connection.clone(),
        channel_order_id: binding.channel_order_id.clone(),
        display_number: binding.display_number.clone(),
        erp: binding.erp.clone(),
        imported_at: binding.created_at,
        shipped_at: None,
        charges: Default::default(),
        charges_checked_at: None,
        charges_done: false,
        personal: Some(crate::model::PersonalData::of_order(order)),
        purged_at: None,
    }
}

/// The note the import wrote is the channel's own text: status-push must not copy it back as if
/// customer service had written it.
async fn remember_imported_note(ctx: &ImportContext<'_>, key: &ImportKey, note: Option<&str>) {
    let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) else { return };
    let note_key = super::note_key(&key.connection, &key.order, note);
    if let Err(e) = ctx.markers.remember_once(super::NOTE_SCOPE, &note_key, super::NOTE_MEMORY).await {
        warn!(key = %key.ledger_key(), error = %e, "Imported note not remembered; status-push may copy it back once.");
    }
}

/// Errors that say nothing about the order: worth retrying, or the connection's credentials
/// refused (every order would fail alike until an operator fixes them; the messages wait in the
/// queue and then the DLQ, whose alarm fires, instead of each order recording a failure).
fn not_the_orders(e: &ConnectorError) -> bool {
    e.is_retryable() || matches!(e, ConnectorError::Unauthorized { .. })
}

/// A mapped order, and the buyer binding its customer came from (None: looked up or created).
struct Mapped {
    draft: SalesOrderDraft,
    bound_buyer: Option<String>,
}

/// The order's ERP customer: the one this buyer's earlier order was bound to (no ERP call), else
/// looked up or created, then bound for the next order.
async fn customer_of(
    ctx: &ImportContext<'_>,
    connection: &ConnectionId,
    order: &Order,
) -> Result<(ErpCustomerId, Option<String>), OrderMappingError> {
    if let Some(id) = super::resolve::source_customer(ctx.mapping, order)? {
        return Ok((id, None));
    }
    let key = ctx.buyers.and_then(|b| buyer_key(ctx.mapping, order, ctx.sink).map(|k| (b, k)));
    if let Some((buyers, key)) = &key {
        match buyers.customer_binding(connection, key).await {
            Ok(Some(id)) => return Ok((id, Some(key.clone()))),
            Ok(None) => {}
            // The binding saves a call; without it the lookup below answers.
            Err(e) => warn!(connection = %connection, error = %e, "Buyer binding not read; looking the customer up."),
        }
    }
    let id = resolve_customer(ctx.mapping, order, ctx.sink).await?;
    if let Some((buyers, key)) = &key {
        if let Err(e) = buyers.bind_customer(connection, key, &id).await {
            warn!(connection = %connection, error = %e, "Buyer binding not saved; the next order looks the customer up.");
        }
    }
    Ok((id, None))
}

/// Looks up ahead the buyers of one batch's orders whose import will ask the ERP for its customer
/// (no marketplace customer, no buyer binding): one request for the batch where the ERP answers
/// several lookups at once, instead of one per order. A lone lookup is left to the import (it
/// costs the same there), and a failed prefetch only costs the saving: each import looks its
/// customer up itself.
pub async fn prefetch_customers(
    sink: &dyn OrderSink<Draft = SalesOrderDraft>,
    buyers: Option<&dyn CustomerBindings>,
    batch: &[(&ConnectionId, &Mapping, &Order)],
) {
    let bound = futures::future::join_all(batch.iter().map(|(connection, mapping, order)| async move {
        if !matches!(super::resolve::source_customer(mapping, order), Ok(None)) {
            return true;
        }
        match (buyers, buyer_key(mapping, order, sink)) {
            (Some(buyers), Some(key)) => matches!(buyers.customer_binding(connection, &key).await, Ok(Some(_))),
            _ => false,
        }
    }))
    .await;
    let derived: Vec<(Option<ErpCustomerId>, &Order)> = batch
        .iter()
        .zip(bound)
        .filter(|(_, bound)| !bound)
        .map(|((_, mapping, order), _)| {
            (sink.derive_customer_id(mapping.file.customers.id_prefix.get_ref(), &order.customer), *order)
        })
        .collect();
    let lookups: Vec<CustomerLookup<'_>> =
        derived.iter().filter_map(|(id, order)| customer_lookup(id.as_ref(), order)).collect();
    if lookups.len() < 2 {
        return;
    }
    if let Err(e) = sink.prefetch_customers(&lookups).await {
        warn!(lookups = lookups.len(), error = %ErrorChain(&e), "Customers not looked up ahead; each order looks its own up.");
    }
}

/// After the ERP refused (validation, `Rejected`) an order whose customer came from a binding:
/// the binding may be what is wrong (the customer was deleted, merged or made inactive), so it is
/// dropped and the customer looked up afresh.
async fn forget_buyer(ctx: &ImportContext<'_>, connection: &ConnectionId, key: &str, customer: &ErpCustomerId) {
    if let Some(buyers) = ctx.buyers {
        if let Err(e) = buyers.forget_customer(connection, key, customer).await {
            warn!(connection = %connection, error = %e, "Buyer binding not forgotten after a refused order.");
        }
    }
}

async fn map_order(
    ctx: &ImportContext<'_>,
    connection: &ConnectionId,
    order: &Order,
) -> Result<Mapped, OrderMappingError> {
    let customer = customer_of(ctx, connection, order).await;
    let items = resolve_lines(ctx.mapping, order, ctx.sink).await;
    match (customer, items) {
        (Ok((customer, bound_buyer)), Ok(items)) => {
            build_draft(ctx.mapping, order, customer, items).map(|draft| Mapped { draft, bound_buyer })
        }
        // Report every problem at once, so one fix round is enough.
        (Err(OrderMappingError::Unmapped(mut a)), Err(OrderMappingError::Unmapped(b))) => {
            a.extend(b);
            Err(OrderMappingError::Unmapped(a))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

async fn record_failure(
    ctx: &ImportContext<'_>,
    lease: &ClaimLease,
    reason: &str,
) -> Result<(ImportOutcome, String), LedgerError> {
    ctx.claims.fail(lease, &failure_reason(ctx.mapping.version, reason)).await?;
    warn!(key = %lease.key, reason = %reason, "Order import failed permanently; fix the cause and it is imported on the next pull.");
    Ok((ImportOutcome::Failed(reason.to_owned()), format!("Not imported: {reason}")))
}

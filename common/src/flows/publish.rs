//! Publish: sales orders entered in the ERP become storefront orders exactly once, and their
//! invoices follow (shipments and statuses follow through push.rs and status.rs, because the
//! publish binds the ERP order to the storefront order like an import does).
//!
//! Per order: echo guard (an order imported from a channel is never sent back) → the first
//! storefront whose sync conditions hold (none: logged as Skipped with the reasons, and sent as
//! soon as a change makes it qualify) → claim on the ERP order → look in the storefront for the
//! ERP number → SKUs and customer resolved → pure draft → create → bind (origin ERP) → the
//! storefront's number recorded on the ERP order → complete.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{failure_reason, sync_status_and_note, LogRecorder, PushContext, PushError, PushOutcome};
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::mapping::{erp_number, storefront_draft, storefront_sku, toml_key, ErpOrderRules};
use crate::model::{
    ConnectionId, ErpOrderRef, ErpOrderSync, ErpSalesOrder, PublishCustomers, PublishedOrder, StorefrontCustomer,
};
use crate::ports::{
    Binding, BindingOrigin, ClaimKey, ClaimLease, ClaimOutcome, ClaimStatus, Direction, LedgerError, LogGroup,
    LogResult, OrderPublisher,
};

/// One storefront that receives ERP-originated orders.
#[derive(Clone)]
pub struct PublishTarget {
    pub connection: ConnectionId,
    pub publisher: Arc<dyn OrderPublisher>,
    pub sync: ErpOrderSync,
    pub rules: ErpOrderRules,
    /// `mappings/mg-store.toml (mapping v3)`.
    pub mapping_label: String,
    pub mapping_version: u64,
}

/// The storefronts configured to receive ERP orders, in the connections file's order.
#[async_trait]
pub trait PublishTargets: Send + Sync {
    /// Every enabled one (the first whose conditions hold gets the order).
    async fn publish_targets(&self) -> Result<Vec<PublishTarget>, PushError>;
    async fn publish_target(&self, connection: &ConnectionId) -> Result<Option<PublishTarget>, PushError>;
}

/// No storefront receives ERP orders (deployments without one, and tests of other flows).
pub struct NoPublishing;

#[async_trait]
impl PublishTargets for NoPublishing {
    async fn publish_targets(&self) -> Result<Vec<PublishTarget>, PushError> {
        Ok(Vec::new())
    }
    async fn publish_target(&self, _: &ConnectionId) -> Result<Option<PublishTarget>, PushError> {
        Ok(None)
    }
}

/// A whole ERP order the catch-up poll read, so the consumer need not read it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpOrderMessage {
    pub order: ErpSalesOrder,
}

/// The claim of publishing one ERP order (to whichever storefront: never to two).
pub fn publish_claim(erp: &ErpOrderRef) -> ClaimKey {
    ClaimKey::other("PUBLISH", &erp.to_string())
}

fn invoice_claim(connection: &ConnectionId, reference: &str) -> ClaimKey {
    ClaimKey::other("INVOICE", &format!("{connection}#{reference}"))
}

/// The cursor stream (on the storefront connection) listing orders that failed under a mapping
/// version, to be sent again once the mapping changes.
pub const WAITING_STREAM: &str = "erp-orders-waiting";

/// An order waiting for a mapping fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingOrder {
    pub erp: String,
    pub mapping_version: u64,
}

/// ERP statuses an unpublished order is never sent in.
const NEVER_SENT: [&str; 3] = ["Canceled", "Rejected", "Expired"];

/// True when `customer_order` is the Import ID of an order imported from one of `channel_codes`
/// (`SC-5512345`): such an order came from a channel and is never published back to one.
pub fn is_import_id(customer_order: &str, channel_codes: &[String]) -> bool {
    customer_order
        .trim()
        .split_once('-')
        .is_some_and(|(code, rest)| !rest.is_empty() && channel_codes.iter().any(|c| c == code))
}

fn vendor(what: String) -> impl FnOnce(crate::ports::ConnectorError) -> PushError {
    move |source| PushError::Vendor { what, source }
}

fn ledger(what: String) -> impl FnOnce(LedgerError) -> PushError {
    move |source| PushError::Ledger { what, source }
}

/// An ERP order changed (push notification, or the poll): publish it, or let its follow-ups run.
pub(crate) async fn erp_order_changed(
    erp: &ErpOrderRef,
    known: Option<ErpSalesOrder>,
    reported: Option<&str>,
    ctx: &PushContext<'_>,
) -> Result<Vec<PushOutcome>, PushError> {
    let binding = super::binding_of(erp, ctx).await?;
    match binding {
        Some(binding) if binding.origin == BindingOrigin::Erp => follow_up(&binding, ctx).await,
        Some(_) => Ok(vec![super::push_status_of(erp, reported, ctx).await?]),
        None => {
            let Some(source) = ctx.erp_orders else {
                return Ok(vec![super::push_status_of(erp, reported, ctx).await?]);
            };
            let targets = ctx.publishing.publish_targets().await?;
            if targets.is_empty() {
                return Ok(vec![super::push_status_of(erp, reported, ctx).await?]);
            }
            let order = match known {
                Some(order) => order,
                None => match source.sales_order(erp).await.map_err(vendor(format!("ERP order {erp}")))? {
                    Some(order) => order,
                    None => return Ok(vec![PushOutcome::NotOurs(format!("{erp} no longer exists in the ERP"))]),
                },
            };
            Ok(vec![publish(order, targets, ctx).await?])
        }
    }
}

/// Chooses the storefront and publishes the order there exactly once.
async fn publish(
    mut order: ErpSalesOrder,
    targets: Vec<PublishTarget>,
    ctx: &PushContext<'_>,
) -> Result<PushOutcome, PushError> {
    let erp = order.erp.clone();
    if let Some(import_id) = order.customer_order.as_deref().filter(|c| is_import_id(c, ctx.channel_codes)) {
        return Ok(PushOutcome::NotOurs(format!("{erp} was imported from a channel (Import ID {import_id})")));
    }
    // A cancelled, rejected or expired order that never reached a storefront stays out of it,
    // whatever the conditions say (a paid-then-cancelled order has a zero balance too).
    if let Some(status) = NEVER_SENT.iter().find(|s| s.eq_ignore_ascii_case(order.status.trim())) {
        return Ok(PushOutcome::NotQualified(format!("{erp} is {status} in the ERP; such orders are never sent")));
    }
    let source = ctx.erp_orders.ok_or_else(|| PushError::Unprocessable("no ERP order source configured".into()))?;
    if order.customer_class.is_none() && targets.iter().any(|t| t.sync.conditions().needs_customer_class()) {
        order.customer_class = source
            .customer_class(&order.customer_id)
            .await
            .map_err(vendor(format!("class of ERP customer {}", order.customer_id)))?;
    }
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let correlation = erp.correlation_id();
    let mut reasons = Vec::new();
    let mut chosen = None;
    for target in targets {
        match target.sync.conditions().evaluate(&order) {
            Ok(()) => {
                chosen = Some(target);
                break;
            }
            Err(reason) => reasons.push((target.connection.clone(), reason)),
        }
    }
    let Some(target) = chosen else {
        for (connection, reason) in &reasons {
            let action = recorder
                .start(connection, LogGroup::Orders, "publisher", Direction::Export, erp.to_string())
                .correlated(&correlation);
            recorder.finish(action, LogResult::Skipped, format!("{erp} not sent yet: {reason}.")).await;
        }
        let text: Vec<String> = reasons.iter().map(|(c, r)| format!("{c}: {r}")).collect();
        info!(erp = %erp, reasons = %text.join("; "), correlation_id = %correlation, "ERP order does not qualify for any storefront yet.");
        return Ok(PushOutcome::NotQualified(text.join("; ")));
    };
    let key = publish_claim(&erp);
    let lease = match ctx.claims.claim(&key, &ctx.owner, ctx.lease).await.map_err(ledger(key.to_string()))? {
        ClaimOutcome::Acquired(lease) => lease,
        ClaimOutcome::InProgress { .. } => return Err(PushError::InProgress { key: key.to_string() }),
        ClaimOutcome::Completed(record) => {
            return Ok(PushOutcome::AlreadyPublished { erp: erp.clone(), result: record.result.unwrap_or_default() })
        }
    };
    let started = recorder
        .start(&target.connection, LogGroup::Orders, "create", Direction::Export, erp.to_string())
        .correlated(&correlation);
    match publish_claimed(&order, &target, &lease, ctx).await {
        Ok((published, existed)) => {
            let mut action = started;
            action.entity_id = published.id.raw().to_owned();
            let how = if existed { "found already created (no second order)" } else { "created" };
            recorder
                .finish(
                    action,
                    LogResult::Success,
                    format!("{erp} → {} order {} {how}.", target.connection, published.display_number),
                )
                .await;
            info!(erp = %erp, order = %published.id, existed, correlation_id = %correlation, "ERP order published.");
            Ok(PushOutcome::Published { connection: target.connection.clone(), order: published.id, existed })
        }
        Err(e) if e.class() != ErrorClass::Permanent => {
            if let Err(release) = ctx.claims.release(&lease).await {
                warn!(key = %key, error = %release, "Releasing the publish claim failed; it frees itself when the lease expires.");
            }
            recorder.finish(started, LogResult::Retry, format!("{erp}: {}; retried.", ErrorChain(&e))).await;
            Err(e)
        }
        Err(e) => {
            let reason = ErrorChain(&e).to_string();
            ctx.claims
                .fail(&lease, &failure_reason(target.mapping_version, &reason))
                .await
                .map_err(ledger(key.to_string()))?;
            remember_waiting(&target, &erp, ctx).await?;
            recorder
                .finish(
                    started,
                    LogResult::Failure,
                    format!("{erp} not sent: {reason}. It is sent again once the mapping changes or the order does."),
                )
                .await;
            warn!(erp = %erp, reason = %reason, correlation_id = %correlation, "ERP order not published.");
            Ok(PushOutcome::Failed(reason))
        }
    }
}

/// Look before you create, create, bind, record the number on the ERP order, complete.
async fn publish_claimed(
    order: &ErpSalesOrder,
    target: &PublishTarget,
    lease: &ClaimLease,
    ctx: &PushContext<'_>,
) -> Result<(PublishedOrder, bool), PushError> {
    let erp = &order.erp;
    let publisher = target.publisher.as_ref();
    let number = erp_number(order);
    let found = publisher.find_by_erp_number(&number).await.map_err(vendor(format!("storefront order of {erp}")))?;
    let (published, existed) = match found {
        Some(found) => (found, true),
        None => {
            let skus: Vec<String> = order.lines.iter().map(|l| storefront_sku(&target.rules, &l.item_id)).collect();
            let unknown = publisher
                .unknown_skus(&skus)
                .await
                .map_err(vendor(format!("SKUs of {erp} in {}", target.connection)))?;
            if let Some(sku) = unknown.first() {
                return Err(PushError::Unprocessable(format!(
                    "SKU {sku:?} is unknown in {}: add `{} = \"<storefront SKU>\"` under [erp_orders.skus] in {}, or create the product there",
                    target.connection,
                    toml_key(sku),
                    target.mapping_label
                )));
            }
            let customer = resolve_customer(order, target, ctx).await?;
            let draft = storefront_draft(order, customer, &target.rules, &target.mapping_label)
                .map_err(|e| PushError::Unprocessable(e.to_string()))?;
            let created = publisher
                .create_order(&draft)
                .await
                .map_err(vendor(format!("create {erp} in {}", target.connection)))?;
            (created, false)
        }
    };
    let binding = Binding {
        connection: target.connection.clone(),
        channel_order_id: published.id.clone(),
        display_number: published.display_number.clone(),
        erp: erp.clone(),
        created_at: ctx.clock.now(),
        origin: BindingOrigin::Erp,
        digest: None,
    };
    ctx.bindings.bind(&binding).await.map_err(ledger(format!("binding of {erp}")))?;
    if order.external_ref.as_deref() != Some(published.display_number.as_str()) {
        if let Some(source) = ctx.erp_orders {
            source
                .record_channel_number(erp, &published.display_number)
                .await
                .map_err(vendor(format!("record the storefront number on {erp}")))?;
        }
    }
    ctx.claims.complete(lease, published.id.to_string().as_str()).await.map_err(ledger(lease.key.to_string()))?;
    Ok((published, existed))
}

/// The buyer in the storefront: found by email, else created or a guest, per the connection.
async fn resolve_customer(
    order: &ErpSalesOrder,
    target: &PublishTarget,
    ctx: &PushContext<'_>,
) -> Result<StorefrontCustomer, PushError> {
    let email = order
        .customer
        .email
        .as_deref()
        .or(order.bill_to.email.as_deref())
        .or(order.ship_to.email.as_deref())
        .map(str::trim)
        .filter(|e| e.contains('@'))
        .ok_or_else(|| {
            PushError::Unprocessable(format!(
                "{}: no email on the order's contacts or customer {} (the storefront needs one)",
                order.erp, order.customer_id
            ))
        })?;
    let (first, last) = split_name(&order.customer.name);
    let guest = StorefrontCustomer {
        id: None,
        group_id: None,
        email: email.to_owned(),
        first_name: first.clone(),
        last_name: last.clone(),
    };
    if target.sync.customers == PublishCustomers::Guest {
        return Ok(guest);
    }
    let publisher = target.publisher.as_ref();
    if let Some(found) = publisher.find_customer(email).await.map_err(vendor(format!("customer {email}")))? {
        return Ok(found);
    }
    if target.sync.customers == PublishCustomers::FindOrGuest {
        return Ok(guest);
    }
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder
        .start(&target.connection, LogGroup::Customers, "create", Direction::Export, email.to_owned())
        .correlated(&order.erp.correlation_id());
    match publisher.create_customer(&order.customer, &order.bill_to).await {
        Ok(created) => {
            recorder
                .finish(
                    action,
                    LogResult::Success,
                    format!("ERP customer {} created for {}.", order.customer_id, order.erp),
                )
                .await;
            Ok(created)
        }
        Err(e) => {
            let result = if e.class() == ErrorClass::Permanent { LogResult::Failure } else { LogResult::Retry };
            recorder.finish(action, result, ErrorChain(&e).to_string()).await;
            Err(PushError::Vendor { what: format!("create customer {email}"), source: e })
        }
    }
}

/// "Alta Ace" → ("Alta", "Ace"); a one-word name is both (the storefront requires both).
fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    match name.rsplit_once(' ') {
        Some((first, last)) if !first.trim().is_empty() => (first.trim().to_owned(), last.trim().to_owned()),
        _ => (name.to_owned(), name.to_owned()),
    }
}

/// Adds the order to the storefront's waiting list (sent again after a mapping change).
async fn remember_waiting(target: &PublishTarget, erp: &ErpOrderRef, ctx: &PushContext<'_>) -> Result<(), PushError> {
    for _ in 0..5 {
        let current =
            ctx.cursors.cursor(&target.connection, WAITING_STREAM).await.map_err(ledger(WAITING_STREAM.to_owned()))?;
        let mut list: Vec<WaitingOrder> =
            current.as_ref().and_then(|c| serde_json::from_str(&c.value).ok()).unwrap_or_default();
        list.retain(|w| w.erp != erp.to_string());
        list.push(WaitingOrder { erp: erp.to_string(), mapping_version: target.mapping_version });
        let value = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        match ctx.cursors.save_cursor(&target.connection, WAITING_STREAM, &value, current.map(|c| c.version)).await {
            Ok(_) => return Ok(()),
            Err(LedgerError::CursorConflict { .. }) => continue,
            Err(e) => return Err(PushError::Ledger { what: WAITING_STREAM.to_owned(), source: e }),
        }
    }
    Err(PushError::InProgress { key: format!("{WAITING_STREAM} of {}", target.connection) })
}

/// Shipments and statuses of a published order (as for imported ones), then its released
/// invoices, each once.
async fn follow_up(binding: &Binding, ctx: &PushContext<'_>) -> Result<Vec<PushOutcome>, PushError> {
    let erp = &binding.erp;
    let mut outcomes = Vec::new();
    let state = ctx.erp.order_state(erp).await.map_err(vendor(format!("state of {erp}")))?;
    if let Some(target) = ctx.targets.target(&binding.connection).await? {
        outcomes
            .push(sync_status_and_note(binding, &target, &state, ctx).await?.unwrap_or(PushOutcome::NoStatusChange));
    }
    let Some(publish) = ctx.publishing.publish_target(&binding.connection).await? else { return Ok(outcomes) };
    let could_be_invoiced =
        !state.shipment_nbrs.is_empty() || matches!(state.status.as_str(), "Invoiced" | "Completed");
    let Some(source) = ctx.erp_orders.filter(|_| publish.sync.invoices && could_be_invoiced) else {
        return Ok(outcomes);
    };
    let invoices = source.invoices_of(erp).await.map_err(vendor(format!("invoices of {erp}")))?;
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    for invoice in invoices.into_iter().filter(|i| i.released) {
        let key = invoice_claim(&binding.connection, &invoice.reference);
        let lease = match ctx.claims.claim(&key, &ctx.owner, ctx.lease).await.map_err(ledger(key.to_string()))? {
            ClaimOutcome::Acquired(lease) => lease,
            ClaimOutcome::InProgress { .. } => return Err(PushError::InProgress { key: key.to_string() }),
            ClaimOutcome::Completed(_) => continue,
        };
        let lines: Vec<(String, Decimal)> =
            invoice.lines.iter().map(|(item, qty)| (storefront_sku(&publish.rules, item), *qty)).collect();
        let action = recorder
            .start(
                &binding.connection,
                LogGroup::Invoices,
                "create",
                Direction::Export,
                binding.channel_order_id.raw().to_owned(),
            )
            .correlated(&erp.correlation_id());
        match publish.publisher.create_invoice(&binding.channel_order_id, &lines, &invoice.reference).await {
            Ok(()) => {
                ctx.claims.complete(&lease, &invoice.reference).await.map_err(ledger(key.to_string()))?;
                recorder
                    .finish(
                        action,
                        LogResult::Success,
                        format!("ERP invoice {} of {erp} → order {}.", invoice.reference, binding.display_number),
                    )
                    .await;
                outcomes.push(PushOutcome::Invoiced {
                    connection: binding.connection.clone(),
                    order: binding.channel_order_id.clone(),
                    invoice: invoice.reference.clone(),
                });
            }
            Err(e) if e.class() == ErrorClass::Permanent => {
                let reason = ErrorChain(&e).to_string();
                ctx.claims.fail(&lease, &reason).await.map_err(ledger(key.to_string()))?;
                recorder.finish(action, LogResult::Failure, format!("invoice {}: {reason}", invoice.reference)).await;
                outcomes.push(PushOutcome::Failed(reason));
            }
            Err(e) => {
                let _ = ctx.claims.release(&lease).await;
                recorder.finish(action, LogResult::Retry, ErrorChain(&e).to_string()).await;
                return Err(PushError::Vendor { what: format!("invoice {}", invoice.reference), source: e });
            }
        }
    }
    Ok(outcomes)
}

/// Whether a published order's publish claim is completed (the poll's accounting and tests).
pub async fn is_published(claims: &dyn crate::ports::Claims, erp: &ErpOrderRef) -> Result<bool, LedgerError> {
    Ok(claims.claim_record(&publish_claim(erp)).await?.is_some_and(|r| r.status == ClaimStatus::Completed))
}

/// How long the poll remembers an order version it already enqueued.
pub const SEEN_MEMORY: Duration = Duration::from_secs(3 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_of_channels_are_recognised() {
        let codes = vec!["SC".to_owned(), "BC".to_owned(), "MG".to_owned()];
        assert!(is_import_id("SC-5512345", &codes));
        assert!(is_import_id(" MG-17 ", &codes));
        assert!(!is_import_id("PO-4471", &codes), "a customer's own PO number is not an Import ID");
        assert!(!is_import_id("SC-", &codes));
        assert!(!is_import_id("", &codes));
    }

    #[test]
    fn names_split_into_first_and_last() {
        assert_eq!(split_name("Alta Ace"), ("Alta".into(), "Ace".into()));
        assert_eq!(split_name("Mary Ann Smith"), ("Mary Ann".into(), "Smith".into()));
        assert_eq!(split_name("Cher"), ("Cher".into(), "Cher".into()));
    }
}

//! Shipments and statuses back to the channel each order came from (status-push):
//! resolve the shipment to the channel order through the bindings → read the ERP order (status,
//! lines, note) → apply the channel's partial-shipment policy → claim every package on
//! `{shipment}#{package}` → push → complete; then the mapped status and the ERP note.
//!
//! Also the catch-up poll: webhooks are not guaranteed, so shipments modified since a cursor are
//! read from the ERP and the shipping tool and enqueued unless every package was pushed already.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::LogRecorder;
use crate::aws::{Envelope, LedgerError, QueueError};
use crate::connectors::ConnectorError;
use crate::error::{Classify, ErrorClass};
use crate::mapping::{PartialShipmentPolicy, StatusPushRules};
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef, OrderStatus, Package, Shipment, ShipmentSource};
use crate::ports::{
    Binding, ClaimKey, ClaimLease, ClaimOutcome, ClaimStatus, Clock, ConnectorLog, Direction, ErpOrderState,
    ErpShipments, Ledger, LogGroup, LogResult, OutgoingMessage, Queue, ShippingTool, ShippingToolOrder,
    StatusPublisher, WebhookEvent,
};

/// Messages on the shipments queue, tagged with kind and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ShipmentMessage {
    /// A verified webhook delivery, to be resolved (and fetched, for thin webhooks) and pushed.
    #[serde(rename = "webhook_event.v1")]
    WebhookEventV1(WebhookEvent),
    /// A shipment the catch-up poll found not yet pushed.
    #[serde(rename = "push_shipment.v1")]
    PushShipmentV1(PushShipment),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushShipment {
    pub origin: ShipmentOrigin,
    pub shipment: Shipment,
}

/// Which order a shipment belongs to, as the system that recorded it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "snake_case")]
pub enum ShipmentOrigin {
    Erp { order: ErpOrderRef },
    ShippingTool { order: ShippingToolOrder },
}

/// Connector-log "connections" of the systems shipments come from (they are not channels).
pub const ERP_LOG_CONNECTION: &str = "acumatica";
pub const TOOL_LOG_CONNECTION: &str = "shipstation";

/// Ledger scope of ERP notes already copied to a channel (or written by the import).
pub const NOTE_SCOPE: &str = "note";
/// How long a copied note is remembered; a note unchanged for longer is copied again at most once.
pub const NOTE_MEMORY: Duration = Duration::from_secs(400 * 24 * 3600);

/// One channel connection as status-push sees it.
#[derive(Clone)]
pub struct PushTarget {
    pub publisher: Arc<dyn StatusPublisher>,
    pub rules: StatusPushRules,
    /// `mappings/sc-main.toml (mapping v3)`, for messages that tell people where to change things.
    pub mapping_label: String,
    /// False for channels that mark the whole order shipped at once (Sellercloud).
    pub takes_partial_shipments: bool,
    /// Turns the order number a shipping tool shows into this channel's order id.
    pub order_id: fn(&str) -> Option<ChannelOrderId>,
}

/// The configured channels; `None` when a connection is unknown or disabled here.
#[async_trait]
pub trait PushTargets: Send + Sync {
    async fn target(&self, connection: &ConnectionId) -> Result<Option<PushTarget>, PushError>;
}

/// The ports status-push and the catch-up poll both read.
#[derive(Clone, Copy)]
pub struct ShipmentPorts<'a> {
    pub ledger: &'a dyn Ledger,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub erp: &'a dyn ErpShipments,
    pub tool: Option<&'a dyn ShippingTool>,
    /// ShipStation store id → the channel connection whose orders it ships.
    pub tool_stores: &'a BTreeMap<i64, ConnectionId>,
    pub targets: &'a dyn PushTargets,
}

pub struct PushContext<'a> {
    pub ports: ShipmentPorts<'a>,
    /// Identifies this attempt (request id); claims are fenced on it.
    pub owner: String,
    pub lease: Duration,
}

impl<'a> std::ops::Deref for PushContext<'a> {
    type Target = ShipmentPorts<'a>;
    fn deref(&self) -> &Self::Target {
        &self.ports
    }
}

/// A failure that must be retried (the message goes back to the queue), or a message that can
/// never be processed (it reaches the DLQ, where a person sees it).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{key} is being pushed by another worker")]
    InProgress { key: String },
    #[error("ledger access failed for {what}")]
    Ledger {
        what: String,
        #[source]
        source: LedgerError,
    },
    #[error("vendor call failed for {what}")]
    Vendor {
        what: String,
        #[source]
        source: ConnectorError,
    },
    #[error("{0}")]
    Unprocessable(String),
    #[error("{what}: the connection's mapping cannot be used")]
    Mapping {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        retryable: bool,
    },
}

impl Classify for PushError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InProgress { .. } => ErrorClass::RETRY,
            Self::Ledger { source, .. } => source.class(),
            Self::Vendor { source, .. } => source.class(),
            Self::Unprocessable(_) => ErrorClass::Permanent,
            Self::Mapping { retryable: true, .. } => ErrorClass::RETRY,
            Self::Mapping { .. } => ErrorClass::Permanent,
        }
    }
}

/// What one push did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed {
        connection: ConnectionId,
        order: ChannelOrderId,
        tracking: Vec<String>,
    },
    AlreadyPushed {
        connection: ConnectionId,
        order: ChannelOrderId,
    },
    /// A partial shipment held for a channel without partial shipments (policy `wait`).
    Held {
        connection: ConnectionId,
        order: ChannelOrderId,
    },
    StatusPushed {
        connection: ConnectionId,
        order: ChannelOrderId,
        status: String,
    },
    NoStatusChange,
    /// Not an order Orderbridge imported, or its connection is not configured here.
    NotOurs(String),
    /// A permanent problem, recorded on the claims and in the connector log.
    Failed(String),
}

fn connection_id(name: &str) -> ConnectionId {
    // Both names are constants that satisfy the id rules.
    ConnectionId::parse(name).unwrap_or_else(|_| unreachable!("{name} is a valid connection id"))
}

/// Handles one message of the shipments queue. `Ok` means every effect is done or recorded.
pub async fn handle_shipment_message(
    message: &ShipmentMessage,
    ctx: &PushContext<'_>,
) -> Result<Vec<PushOutcome>, PushError> {
    match message {
        ShipmentMessage::PushShipmentV1(push) => match &push.origin {
            ShipmentOrigin::Erp { order } => Ok(vec![push_from_erp(order, push.shipment.clone(), ctx).await?]),
            ShipmentOrigin::ShippingTool { order } => {
                Ok(vec![push_from_tool(order, push.shipment.clone(), ctx).await?])
            }
        },
        ShipmentMessage::WebhookEventV1(event) => handle_webhook_event(event, ctx).await,
    }
}

async fn handle_webhook_event(event: &WebhookEvent, ctx: &PushContext<'_>) -> Result<Vec<PushOutcome>, PushError> {
    let mut outcomes = Vec::new();
    if event.kind.starts_with("acumatica.") {
        let (shipments, orders) = acumatica_rows(&event.payload);
        if shipments.is_empty() && orders.is_empty() {
            warn!(kind = %event.kind, key = %event.dedupe_key, "Acumatica push names neither shipments nor orders; nothing to do.");
        }
        for nbr in shipments {
            let found = ctx
                .erp
                .shipment(&nbr)
                .await
                .map_err(|source| PushError::Vendor { what: format!("Acumatica shipment {nbr}"), source })?;
            if found.is_empty() {
                // Pushed before it was confirmed, or deleted since: the poll sees it once it ships.
                info!(shipment = %nbr, "Acumatica shipment is not shipped (or gone); nothing to push yet.");
            }
            for (erp, shipment) in found {
                outcomes.push(push_from_erp(&erp, shipment, ctx).await?);
            }
        }
        for erp in orders {
            outcomes.push(push_status_of(&erp, ctx).await?);
        }
    } else if event.kind == "shipstation.ship_notify" {
        let tool = ctx.tool.ok_or_else(|| {
            PushError::Unprocessable("a ShipStation webhook arrived, but no [shipstation] is configured".into())
        })?;
        let url = event.payload["resource_url"].as_str().ok_or_else(|| {
            PushError::Unprocessable(format!("ShipStation event {} has no resource_url", event.dedupe_key))
        })?;
        let found = tool
            .shipments_at(url)
            .await
            .map_err(|source| PushError::Vendor { what: "ShipStation webhook resource".into(), source })?;
        for (order, shipment) in found {
            outcomes.push(push_from_tool(&order, shipment, ctx).await?);
        }
    } else {
        outcomes.extend(handle_generic(event, ctx).await?);
    }
    Ok(outcomes)
}

/// Generic (Standard Webhooks) events: `{"type": "shipment.shipped", "data": {"erp_order":
/// {"order_type","order_nbr"}, "shipment": <Shipment>}}` or `{"type": "order.status_changed",
/// "data": {"erp_order": {...}}}`.
async fn handle_generic(event: &WebhookEvent, ctx: &PushContext<'_>) -> Result<Vec<PushOutcome>, PushError> {
    let kind = event.payload["type"].as_str().unwrap_or_default();
    let unprocessable = |what: String| PushError::Unprocessable(format!("event {}: {what}", event.dedupe_key));
    let erp: ErpOrderRef = serde_json::from_value(event.payload["data"]["erp_order"].clone())
        .map_err(|e| unprocessable(format!("data.erp_order: {e}")))?;
    match kind {
        "shipment.shipped" => {
            let shipment: Shipment = serde_json::from_value(event.payload["data"]["shipment"].clone())
                .map_err(|e| unprocessable(format!("data.shipment: {e}")))?;
            Ok(vec![push_from_erp(&erp, shipment, ctx).await?])
        }
        "order.status_changed" => Ok(vec![push_status_of(&erp, ctx).await?]),
        other => Err(unprocessable(format!("type {other:?} is not shipment.shipped or order.status_changed"))),
    }
}

/// Shipment numbers and (status-only) orders named by an Acumatica push's inserted rows.
fn acumatica_rows(payload: &serde_json::Value) -> (Vec<String>, Vec<ErpOrderRef>) {
    let mut shipments = Vec::new();
    let mut orders = Vec::new();
    let text = |row: &serde_json::Value, field: &str| {
        row.get(field).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
    };
    for row in payload["inserted"].as_array().into_iter().flatten() {
        if let Some(nbr) = text(row, "ShipmentNbr") {
            if !shipments.contains(&nbr) {
                shipments.push(nbr);
            }
        } else if let (Some(order_type), Some(order_nbr)) = (text(row, "OrderType"), text(row, "OrderNbr")) {
            let parsed = crate::flows::parse_erp_ref(&format!("{order_type}/{order_nbr}"));
            match parsed {
                Some(erp) if !orders.contains(&erp) => orders.push(erp),
                Some(_) => {}
                None => warn!(order_type, order_nbr, "Acumatica push row names an order that cannot be an order key."),
            }
        }
    }
    (shipments, orders)
}

async fn push_from_erp(erp: &ErpOrderRef, shipment: Shipment, ctx: &PushContext<'_>) -> Result<PushOutcome, PushError> {
    let binding = ctx
        .ledger
        .binding_for_erp(erp)
        .await
        .map_err(|source| PushError::Ledger { what: format!("binding of {erp}"), source })?;
    let Some(binding) = binding else {
        return not_ours(ctx, ERP_LOG_CONNECTION, &shipment, format!("{erp} was not imported by Orderbridge")).await;
    };
    push_to_channel(&binding, shipment, true, ctx).await
}

async fn push_from_tool(
    order: &ShippingToolOrder,
    shipment: Shipment,
    ctx: &PushContext<'_>,
) -> Result<PushOutcome, PushError> {
    let Some(connection) = order.store_id.and_then(|s| ctx.tool_stores.get(&s)) else {
        let store = order.store_id.map_or_else(|| "none".to_owned(), |s| s.to_string());
        return not_ours(
            ctx,
            TOOL_LOG_CONNECTION,
            &shipment,
            format!("store {store} is not in [shipstation.stores]; order {} left alone", order.order_number),
        )
        .await;
    };
    let Some(target) = ctx.targets.target(connection).await? else {
        return not_ours(ctx, TOOL_LOG_CONNECTION, &shipment, format!("connection {connection} is not enabled")).await;
    };
    let binding = match (target.order_id)(&order.order_number) {
        Some(id) => ctx
            .ledger
            .binding_for_channel(connection, &id)
            .await
            .map_err(|source| PushError::Ledger { what: format!("binding of {connection}/{id}"), source })?,
        None => None,
    };
    let Some(binding) = binding else {
        return not_ours(
            ctx,
            TOOL_LOG_CONNECTION,
            &shipment,
            format!("order {} of {connection} was not imported by Orderbridge", order.order_number),
        )
        .await;
    };
    push_to_channel(&binding, shipment, false, ctx).await
}

async fn not_ours(
    ctx: &PushContext<'_>,
    log_connection: &str,
    shipment: &Shipment,
    why: String,
) -> Result<PushOutcome, PushError> {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder.start(
        &connection_id(log_connection),
        LogGroup::Shipments,
        "push_tracking",
        Direction::Export,
        shipment.source.to_string(),
    );
    info!(shipment = %shipment.source, why = %why, "Shipment not pushed.");
    recorder.finish(action, LogResult::Skipped, format!("Not pushed: {why}.")).await;
    Ok(PushOutcome::NotOurs(why))
}

/// True when the ERP says nothing is left to ship on the order.
pub fn erp_order_complete(state: &ErpOrderState) -> bool {
    matches!(state.canonical, OrderStatus::Completed | OrderStatus::Shipped) || state.status == "Invoiced"
}

/// Fills each package item's channel line id from the ERP line it shipped (`ExternalRef`).
fn attach_channel_lines(shipment: &mut Shipment, state: &ErpOrderState) {
    for item in shipment.packages.iter_mut().flat_map(|p| p.items.iter_mut()) {
        if item.channel_line_id.is_some() {
            continue;
        }
        item.channel_line_id = item
            .erp_line_nbr
            .and_then(|n| state.lines.iter().find(|l| l.line_nbr == n))
            .and_then(|l| l.channel_line_id.clone());
    }
}

/// The carrier (and service) the channel knows, per the mapping; unlisted carriers pass as they are.
fn map_carrier(package: &mut Package, rules: &StatusPushRules) {
    let tracking = &mut package.tracking;
    let found = rules
        .carriers
        .get(&tracking.carrier)
        .or_else(|| rules.carriers.iter().find(|(k, _)| k.eq_ignore_ascii_case(&tracking.carrier)).map(|(_, v)| v));
    if let Some(target) = found {
        let target = target.get_ref();
        tracking.carrier = target.carrier().to_owned();
        if let Some(service) = target.service() {
            tracking.service = Some(service.to_owned());
        }
    }
}

async fn push_to_channel(
    binding: &Binding,
    mut shipment: Shipment,
    from_erp: bool,
    ctx: &PushContext<'_>,
) -> Result<PushOutcome, PushError> {
    let connection = &binding.connection;
    let order = &binding.channel_order_id;
    let Some(target) = ctx.targets.target(connection).await? else {
        return not_ours(ctx, ERP_LOG_CONNECTION, &shipment, format!("connection {connection} is not enabled")).await;
    };
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder.start(
        connection,
        LogGroup::Shipments,
        "push_tracking",
        Direction::Export,
        format!("{order} {}", shipment.source),
    );
    let state = ctx
        .erp
        .order_state(&binding.erp)
        .await
        .map_err(|source| PushError::Vendor { what: format!("state of {}", binding.erp), source })?;
    attach_channel_lines(&mut shipment, &state);
    if from_erp {
        shipment.completes_order = erp_order_complete(&state);
    }

    // Every package keeps the push key of the shipment it came from, so aggregating shipments for
    // a channel without partials never re-keys (and so never re-posts) a package.
    let mut packages: Vec<(String, Package)> =
        shipment.packages.iter().map(|p| (shipment.push_key(p), p.clone())).collect();
    if !target.takes_partial_shipments && target.rules.partial_shipments == PartialShipmentPolicy::Wait {
        if !shipment.completes_order {
            let note = format!(
                "Held: {} is {} in the ERP and this channel takes no partial shipments; the tracking of {} is pushed \
                 with the rest of the order (status_push.partial_shipments = \"wait\" in {}).",
                binding.erp, state.status, shipment.source, target.mapping_label
            );
            info!(connection = %connection, order = %order, shipment = %shipment.source, "Partial shipment held until the order completes.");
            recorder.finish(action, LogResult::Skipped, note).await;
            return Ok(PushOutcome::Held { connection: connection.clone(), order: order.clone() });
        }
        if from_erp {
            for (key, package) in earlier_shipments(&binding.erp, &shipment, &state, ctx).await? {
                if !packages.iter().any(|(k, _)| *k == key) {
                    packages.push((key, package));
                }
            }
        }
    }

    // Claims are taken in key order, so two messages covering the same packages (a held shipment
    // and the one that completed its order) never hold one each and wait on the other.
    packages.sort_by(|a, b| a.0.cmp(&b.0));
    let mut leases: Vec<(ClaimLease, Package)> = Vec::new();
    for (key, package) in packages {
        let claim_key = ClaimKey::push(connection, &key);
        let outcome = ctx.ledger.claim(&claim_key, &ctx.owner, ctx.lease).await;
        match outcome {
            Ok(ClaimOutcome::Acquired(lease)) => leases.push((lease, package)),
            Ok(ClaimOutcome::Completed(_)) => {}
            Ok(ClaimOutcome::InProgress { .. }) | Err(_) => {
                release_all(ctx, &leases).await;
                recorder
                    .finish(action, LogResult::Retry, format!("{claim_key} is busy or unreadable; retrying."))
                    .await;
                return match outcome {
                    Err(source) => Err(PushError::Ledger { what: claim_key.to_string(), source }),
                    _ => Err(PushError::InProgress { key: claim_key.to_string() }),
                };
            }
        }
    }

    let mut result = if leases.is_empty() {
        recorder.finish(action, LogResult::Skipped, "Every package was pushed before.").await;
        PushOutcome::AlreadyPushed { connection: connection.clone(), order: order.clone() }
    } else {
        let mut to_push = shipment.clone();
        to_push.packages = leases.iter().map(|(_, p)| p.clone()).collect();
        for package in &mut to_push.packages {
            map_carrier(package, &target.rules);
        }
        let tracking: Vec<String> = to_push.packages.iter().map(|p| p.tracking.number.to_string()).collect();
        match target.publisher.push_shipment(order, &to_push).await {
            Ok(()) => {
                for (lease, package) in &leases {
                    if let Err(e) = ctx.ledger.complete(lease, package.tracking.number.as_str()).await {
                        // The tracking is on the channel; a lost completion only costs a re-check
                        // (publishers skip tracking already on the order).
                        warn!(key = %lease.key, error = %e, "Push done but its claim was not completed.");
                    }
                }
                info!(connection = %connection, order = %order, tracking = ?tracking, "Tracking pushed to the channel.");
                recorder
                    .finish(action, LogResult::Success, format!("Pushed {} for {}.", tracking.join(", "), binding.erp))
                    .await;
                PushOutcome::Pushed { connection: connection.clone(), order: order.clone(), tracking }
            }
            Err(e) if e.is_retryable() => {
                release_all(ctx, &leases).await;
                recorder.finish(action, LogResult::Retry, format!("{e}; retrying.")).await;
                return Err(PushError::Vendor { what: format!("push to {connection}/{order}"), source: e });
            }
            Err(e) => {
                let reason = crate::aws::ErrorChain(&e).to_string();
                for (lease, _) in &leases {
                    if let Err(le) = ctx.ledger.fail(lease, &reason).await {
                        warn!(key = %lease.key, error = %le, "Failure not recorded on the claim.");
                    }
                }
                warn!(connection = %connection, order = %order, error = %reason, "Tracking push failed permanently.");
                recorder.finish(action, LogResult::Failure, reason.clone()).await;
                PushOutcome::Failed(reason)
            }
        }
    };
    if let Some(status) = sync_status_and_note(binding, &target, &state, ctx).await? {
        if matches!(result, PushOutcome::AlreadyPushed { .. }) {
            result = status;
        }
    }
    Ok(result)
}

/// Packages of the order's other shipments (for a channel that takes the whole order at once).
async fn earlier_shipments(
    erp: &ErpOrderRef,
    current: &Shipment,
    state: &ErpOrderState,
    ctx: &PushContext<'_>,
) -> Result<Vec<(String, Package)>, PushError> {
    let current_nbr = match &current.source {
        ShipmentSource::Acumatica(nbr) => nbr.to_string(),
        ShipmentSource::ShipStation(_) => String::new(),
    };
    let mut out = Vec::new();
    for nbr in state.shipment_nbrs.iter().filter(|n| **n != current_nbr) {
        let found = ctx
            .erp
            .shipment(nbr)
            .await
            .map_err(|source| PushError::Vendor { what: format!("Acumatica shipment {nbr}"), source })?;
        for (order, shipment) in found.into_iter().filter(|(o, _)| o == erp) {
            let _ = order;
            for package in &shipment.packages {
                out.push((shipment.push_key(package), package.clone()));
            }
        }
    }
    Ok(out)
}

async fn release_all(ctx: &PushContext<'_>, leases: &[(ClaimLease, Package)]) {
    for (lease, _) in leases {
        if let Err(e) = ctx.ledger.release(lease).await {
            warn!(key = %lease.key, error = %e, "Claim not released; it frees itself when the lease ends.");
        }
    }
}

/// Handles an order-status notification: pushes the ERP's *current* status (so a late or
/// reordered notification never moves the channel backwards) when the mapping assigns one.
async fn push_status_of(erp: &ErpOrderRef, ctx: &PushContext<'_>) -> Result<PushOutcome, PushError> {
    let binding = ctx
        .ledger
        .binding_for_erp(erp)
        .await
        .map_err(|source| PushError::Ledger { what: format!("binding of {erp}"), source })?;
    let Some(binding) = binding else {
        return Ok(PushOutcome::NotOurs(format!("{erp} was not imported by Orderbridge")));
    };
    let Some(target) = ctx.targets.target(&binding.connection).await? else {
        return Ok(PushOutcome::NotOurs(format!("connection {} is not enabled", binding.connection)));
    };
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
async fn sync_status_and_note(
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
            let action =
                recorder.start(connection, LogGroup::Statuses, "push_status", Direction::Export, order.to_string());
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
                .ledger
                .cursor(connection, &stream)
                .await
                .map_err(|source| PushError::Ledger { what: stream.clone(), source })?;
            if last.as_ref().is_none_or(|c| c.value != *mapped) {
                let action =
                    recorder.start(connection, LogGroup::Statuses, "push_status", Direction::Export, order.to_string());
                match target.publisher.push_status(order, mapped).await {
                    Ok(()) => {
                        match ctx.ledger.save_cursor(connection, &stream, mapped, last.map(|c| c.version)).await {
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
                        let reason = crate::aws::ErrorChain(&e).to_string();
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
            sync_note(connection, order, note, target, ctx).await?;
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

async fn sync_note(
    connection: &ConnectionId,
    order: &ChannelOrderId,
    note: &str,
    target: &PushTarget,
    ctx: &PushContext<'_>,
) -> Result<(), PushError> {
    let key = note_key(connection, order, note);
    let first = ctx
        .ledger
        .remember_once(NOTE_SCOPE, &key, NOTE_MEMORY)
        .await
        .map_err(|source| PushError::Ledger { what: format!("note {key}"), source })?;
    if !first {
        return Ok(());
    }
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder.start(connection, LogGroup::Statuses, "push_note", Direction::Export, order.to_string());
    match target.publisher.add_note(order, note).await {
        Ok(()) => {
            recorder.finish(action, LogResult::Success, "ERP order note copied to the channel.").await;
            Ok(())
        }
        Err(e) => {
            // Forget it so the next event tries again; a permanent refusal is logged each time.
            if let Err(le) = ctx.ledger.forget(NOTE_SCOPE, &key).await {
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

// ---------------------------------------------------------------------------------------------
// Catch-up poll.
// ---------------------------------------------------------------------------------------------

pub struct PollContext<'a> {
    pub ports: ShipmentPorts<'a>,
    pub queue: &'a dyn Queue,
    /// Read this much before the cursor: clock skew, and ShipStation's ambiguous DST hour.
    pub overlap: Duration,
    /// How far back the very first poll looks.
    pub first_window: Duration,
}

impl<'a> std::ops::Deref for PollContext<'a> {
    type Target = ShipmentPorts<'a>;
    fn deref(&self) -> &Self::Target {
        &self.ports
    }
}

/// What one poll of one source found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PollReport {
    pub seen: u32,
    pub enqueued: u32,
    pub already_pushed: u32,
    pub not_ours: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("ledger access failed during the {source_name} poll")]
    Ledger {
        source_name: &'static str,
        #[source]
        source: LedgerError,
    },
    #[error("reading {source_name} shipments failed")]
    Vendor {
        source_name: &'static str,
        #[source]
        source: ConnectorError,
    },
    #[error("enqueueing {source_name} shipments failed: {detail}")]
    Queue { source_name: &'static str, detail: String },
    #[error(transparent)]
    Push(#[from] PushError),
}

impl Classify for PollError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Ledger { source, .. } => source.class(),
            Self::Vendor { source, .. } => source.class(),
            Self::Queue { .. } => ErrorClass::RETRY,
            Self::Push(e) => e.class(),
        }
    }
}

const POLL_STREAM: &str = "shipments";

/// Polls the ERP and (when configured) the shipping tool; each source has its own cursor.
pub async fn catch_up(ctx: &PollContext<'_>) -> Vec<(&'static str, Result<PollReport, PollError>)> {
    let mut results = vec![(ERP_LOG_CONNECTION, poll_erp(ctx).await)];
    if ctx.tool.is_some() {
        results.push((TOOL_LOG_CONNECTION, poll_tool(ctx).await));
    }
    results
}

async fn window(ctx: &PollContext<'_>, name: &'static str) -> Result<(DateTime<Utc>, Option<u64>), PollError> {
    let cursor = ctx
        .ledger
        .cursor(&connection_id(name), POLL_STREAM)
        .await
        .map_err(|source| PollError::Ledger { source_name: name, source })?;
    let overlap = chrono::Duration::from_std(ctx.overlap).unwrap_or_default();
    let first = chrono::Duration::from_std(ctx.first_window).unwrap_or_default();
    let since = cursor
        .as_ref()
        .and_then(|c| DateTime::parse_from_rfc3339(&c.value).ok())
        .map_or_else(|| ctx.clock.now() - first, |t| t.with_timezone(&Utc) - overlap);
    Ok((since, cursor.map(|c| c.version)))
}

async fn all_pushed(
    ctx: &PollContext<'_>,
    connection: &ConnectionId,
    shipment: &Shipment,
    name: &'static str,
) -> Result<bool, PollError> {
    for package in &shipment.packages {
        let key = ClaimKey::push(connection, &shipment.push_key(package));
        let record =
            ctx.ledger.claim_record(&key).await.map_err(|source| PollError::Ledger { source_name: name, source })?;
        if record.is_none_or(|r| r.status != ClaimStatus::Completed) {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn poll_erp(ctx: &PollContext<'_>) -> Result<PollReport, PollError> {
    const NAME: &str = ERP_LOG_CONNECTION;
    let started = ctx.clock.now();
    let (since, version) = window(ctx, NAME).await?;
    let found =
        ctx.erp.shipments_since(since).await.map_err(|source| PollError::Vendor { source_name: NAME, source })?;
    let mut report = PollReport::default();
    let mut messages = Vec::new();
    for (erp, shipment) in found {
        report.seen += 1;
        let binding =
            ctx.ledger.binding_for_erp(&erp).await.map_err(|source| PollError::Ledger { source_name: NAME, source })?;
        let Some(binding) = binding else {
            report.not_ours += 1;
            continue;
        };
        if all_pushed(ctx, &binding.connection, &shipment, NAME).await? {
            report.already_pushed += 1;
            continue;
        }
        messages.push(PushShipment { origin: ShipmentOrigin::Erp { order: erp }, shipment });
    }
    finish_poll(ctx, NAME, started, version, messages, report).await
}

async fn poll_tool(ctx: &PollContext<'_>) -> Result<PollReport, PollError> {
    const NAME: &str = TOOL_LOG_CONNECTION;
    let Some(tool) = ctx.tool else { return Ok(PollReport::default()) };
    let started = ctx.clock.now();
    let (since, version) = window(ctx, NAME).await?;
    let found = tool.shipments_since(since).await.map_err(|source| PollError::Vendor { source_name: NAME, source })?;
    let mut report = PollReport::default();
    let mut messages = Vec::new();
    for (order, shipment) in found {
        report.seen += 1;
        let Some(connection) = order.store_id.and_then(|s| ctx.tool_stores.get(&s)) else {
            report.not_ours += 1;
            continue;
        };
        let target = ctx.targets.target(connection).await?;
        let id = target.and_then(|t| (t.order_id)(&order.order_number));
        let bound = match &id {
            Some(id) => ctx
                .ledger
                .binding_for_channel(connection, id)
                .await
                .map_err(|source| PollError::Ledger { source_name: NAME, source })?
                .is_some(),
            None => false,
        };
        if !bound {
            report.not_ours += 1;
            continue;
        }
        if all_pushed(ctx, connection, &shipment, NAME).await? {
            report.already_pushed += 1;
            continue;
        }
        messages.push(PushShipment { origin: ShipmentOrigin::ShippingTool { order }, shipment });
    }
    finish_poll(ctx, NAME, started, version, messages, report).await
}

/// Enqueues what the poll found, then moves the cursor to the poll's start (only after every
/// message is on the queue, so a failed send re-reads the same window next time).
async fn finish_poll(
    ctx: &PollContext<'_>,
    name: &'static str,
    started: DateTime<Utc>,
    version: Option<u64>,
    found: Vec<PushShipment>,
    mut report: PollReport,
) -> Result<PollReport, PollError> {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action =
        recorder.start(&connection_id(name), LogGroup::Shipments, "poll_shipments", Direction::Export, POLL_STREAM);
    let mut messages: Vec<OutgoingMessage> = Vec::new();
    for (i, push) in found.into_iter().enumerate() {
        let envelope = Envelope::new(ShipmentMessage::PushShipmentV1(push), ctx.clock.now());
        match envelope.to_outgoing(i.to_string()) {
            Ok(message) => messages.push(message),
            Err(e) => warn!(error = %e, "A found shipment could not be serialized; it is left for the next poll."),
        }
    }
    let count = messages.len() as u32;
    if !messages.is_empty() {
        let sent = ctx
            .queue
            .send(messages)
            .await
            .map_err(|e: QueueError| PollError::Queue { source_name: name, detail: e.to_string() })?;
        if !sent.failed.is_empty() {
            let detail = format!("{} of {count} messages refused: {:?}", sent.failed.len(), sent.failed);
            recorder.finish(action, LogResult::Retry, detail.clone()).await;
            return Err(PollError::Queue { source_name: name, detail });
        }
    }
    report.enqueued = count;
    match ctx.ledger.save_cursor(&connection_id(name), POLL_STREAM, &started.to_rfc3339(), version).await {
        // Another poll moved it meanwhile; its window covers ours.
        Ok(_) | Err(LedgerError::CursorConflict { .. }) => {}
        Err(source) => return Err(PollError::Ledger { source_name: name, source }),
    }
    recorder
        .finish(
            action,
            LogResult::Success,
            format!(
                "{} shipments seen, {} enqueued, {} already pushed, {} not Orderbridge orders.",
                report.seen, report.enqueued, report.already_pushed, report.not_ours
            ),
        )
        .await;
    Ok(report)
}

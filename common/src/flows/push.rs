//! Push: a shipment resolved to the channel order it belongs to (through the bindings) → the ERP
//! order read once (status, lines, note) → the channel's partial-shipment policy → every package
//! claimed on `{shipment}#{package}` → pushed → completed; then the status and note (status.rs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::{info, warn};

use super::{sync_status_and_note, LogRecorder, ShipmentMessage, ShipmentOrigin};
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::mapping::{PartialShipmentPolicy, StatusPushRules};
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef, OrderStatus, Package, Shipment};
use crate::ports::{
    reported_status, Binding, Bindings, ClaimKey, ClaimLease, ClaimOutcome, Claims, Clock, ConnectorError,
    ConnectorLog, Cursors, Direction, Envelope, ErpOrderState, ErpShipments, InboundEvent, LedgerError, LogGroup,
    LogResult, Markers, Queue, QueueError, ShippingTool, ShippingToolOrder, StatusPublisher, WebhookEvent,
};

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
    /// The connection follows its imported orders after the import (charges, personal-data
    /// retention): the first shipment pushed is recorded on the followed order.
    pub follows_orders: bool,
}

/// The configured channels; `None` when a connection is unknown or disabled here.
#[async_trait]
pub trait PushTargets: Send + Sync {
    async fn target(&self, connection: &ConnectionId) -> Result<Option<PushTarget>, PushError>;
}

/// The ports status-push and the catch-up poll both read.
#[derive(Clone, Copy)]
pub struct ShipmentPorts<'a> {
    pub claims: &'a dyn Claims,
    pub bindings: &'a dyn Bindings,
    pub cursors: &'a dyn Cursors,
    pub markers: &'a dyn Markers,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub erp: &'a dyn ErpShipments,
    pub tool: Option<&'a dyn ShippingTool>,
    /// The shipping tool's store id → the channel connection whose orders it ships.
    pub tool_stores: &'a BTreeMap<i64, ConnectionId>,
    pub targets: &'a dyn PushTargets,
    /// The ERP as the source of ERP-originated orders (None: nothing is published).
    pub erp_orders: Option<&'a dyn crate::ports::ErpOrders>,
    /// The storefronts that receive ERP-originated orders.
    pub publishing: &'a dyn super::PublishTargets,
    /// Codes of the channels orders are imported from: an ERP order carrying one of their Import
    /// IDs came from a channel and is never published.
    pub channel_codes: &'a [String],
    /// Connector-log names of the ERP and the shipping tool (shipments come from them; they are
    /// not channel connections).
    pub erp_name: &'a ConnectionId,
    pub tool_name: &'a ConnectionId,
    /// Imported orders followed after the import (their first shipment is recorded).
    pub followed: &'a dyn crate::ports::FollowedOrders,
    /// ERP shipments exported to a shipping station, when configured.
    pub station: Option<StationPorts<'a>>,
    /// Stock written to storefronts, when any storefront sells the ERP's stock.
    pub stock: Option<super::StockPorts<'a>>,
}

/// What exporting ERP shipments to the shipping station uses.
#[derive(Clone, Copy)]
pub struct StationPorts<'a> {
    pub erp: &'a dyn crate::ports::OutboundShipments,
    pub station: &'a dyn crate::ports::ShippingStation,
    pub settings: &'a crate::model::StationExport,
}

pub struct PushContext<'a> {
    pub ports: ShipmentPorts<'a>,
    /// Identifies this attempt (request id); claims are fenced on it.
    pub owner: String,
    pub lease: Duration,
    /// The shipments queue, where an event naming more work than one message does inline is
    /// split (see [`UNITS_INLINE`]); None handles every event inline (tests of single flows).
    pub fan_out: Option<&'a dyn Queue>,
}

/// The most shipments, orders or labels one shipments-queue message handles inline. A delivery
/// naming more (a ShipStation batch of hundreds of labels, an Acumatica push of 25 rows) cannot
/// finish within one invocation's timeout at the ERP licence's rate, and any failure among its
/// units would retry the whole, so after `maxReceiveCount` tries it would sit in the DLQ with all
/// its work. Each unit is idempotent on its own (claims, export records, absolute stock), so the
/// event is split into one message per unit, at the cost of one queue hop.
pub const UNITS_INLINE: usize = 4;

/// Items of a stock change handled per message (one availability read and one write per item
/// and storefront).
pub const STOCK_ITEMS_PER_MESSAGE: usize = 10;

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
    #[error("splitting {what} into messages failed")]
    FanOut {
        what: String,
        #[source]
        source: QueueError,
    },
    #[error("{what}: the connection's mapping cannot be used")]
    Mapping {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        retryable: bool,
    },
    #[error("publishing stock to {connection} failed")]
    Stock {
        connection: ConnectionId,
        #[source]
        source: Box<super::StockError>,
    },
}

impl Classify for PushError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InProgress { .. } => ErrorClass::RETRY,
            Self::Ledger { source, .. } => source.class(),
            Self::Vendor { source, .. } => source.class(),
            Self::Unprocessable(_) => ErrorClass::Permanent,
            Self::FanOut { source, .. } => source.class(),
            Self::Mapping { retryable: true, .. } => ErrorClass::RETRY,
            Self::Mapping { .. } => ErrorClass::Permanent,
            Self::Stock { source, .. } => source.class(),
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
    /// An ERP shipment created or updated in the shipping station.
    Exported {
        shipment: String,
        station_order: String,
    },
    /// Station labels of an exported shipment written onto the ERP shipment.
    LabelsToErp {
        shipment: String,
        tracking: Vec<String>,
    },
    /// An ERP order sent to a storefront (`existed`: found there already, bound without a create).
    Published {
        connection: ConnectionId,
        order: ChannelOrderId,
        existed: bool,
    },
    /// An ERP order whose publish was completed before.
    AlreadyPublished {
        erp: ErpOrderRef,
        result: String,
    },
    /// An ERP order no storefront's sync conditions accept yet; why, per storefront.
    NotQualified(String),
    /// A released ERP invoice sent to the storefront order.
    Invoiced {
        connection: ConnectionId,
        order: ChannelOrderId,
        invoice: String,
    },
    /// A permanent problem, recorded on the claims and in the connector log.
    Failed(String),
    /// An event naming more than [`UNITS_INLINE`] units, split into this many messages.
    FannedOut {
        event: String,
        messages: usize,
    },
}

/// The correlation id of the order a binding names (the one its import carried).
pub fn binding_correlation(binding: &Binding) -> String {
    if binding.origin == crate::ports::BindingOrigin::Erp {
        return binding.erp.correlation_id();
    }
    crate::model::ImportKey::new(binding.connection.clone(), binding.channel_order_id.clone()).correlation_id()
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
        ShipmentMessage::WebhookEventV2(event) => handle_webhook_event(event, ctx).await,
        ShipmentMessage::ErpOrderV1(message) => {
            super::erp_order_changed(&message.order.erp, Some(message.order.clone()), None, ctx).await
        }
        ShipmentMessage::StockResyncV1(resync) => {
            let Some(stock) = &ctx.stock else {
                info!(connection = %resync.connection, "Stock resync for a storefront that no longer takes stock; nothing to do.");
                return Ok(Vec::new());
            };
            if let Some(result) = super::resync_after_shipment(stock, &resync.connection, &resync.items).await {
                // Absolute quantities: a retry rewrites the same levels.
                result.map_err(|source| PushError::Stock {
                    connection: resync.connection.clone(),
                    source: Box::new(source),
                })?;
            }
            Ok(Vec::new())
        }
        // The consumer converts these with the sender's parser before calling (see `LegacyWebhookEvent`).
        ShipmentMessage::WebhookEventV1(legacy) => Err(PushError::Unprocessable(format!(
            "event {}: a webhook_event.v1 from {:?} was not converted to a typed event",
            legacy.dedupe_key, legacy.event
        ))),
    }
}

/// The events one naming more than [`UNITS_INLINE`] units of known work is split into (one per
/// shipment or order, stock in chunks of [`STOCK_ITEMS_PER_MESSAGE`]); None when it is handled
/// inline.
pub fn split_event(event: &WebhookEvent) -> Option<Vec<WebhookEvent>> {
    let parts: Vec<InboundEvent> = match &event.event {
        InboundEvent::ErpChanged { shipments, orders, statuses } if shipments.len() + orders.len() > UNITS_INLINE => {
            shipments
                .iter()
                .map(|s| InboundEvent::ErpChanged {
                    shipments: vec![s.clone()],
                    orders: Vec::new(),
                    statuses: Vec::new(),
                })
                .chain(orders.iter().map(|o| InboundEvent::ErpChanged {
                    shipments: Vec::new(),
                    orders: vec![o.clone()],
                    statuses: statuses.iter().filter(|r| r.erp == *o).cloned().collect(),
                }))
                .collect()
        }
        InboundEvent::StockChanged { items } if items.len() > STOCK_ITEMS_PER_MESSAGE => items
            .chunks(STOCK_ITEMS_PER_MESSAGE)
            .map(|chunk| InboundEvent::StockChanged { items: chunk.to_vec() })
            .collect(),
        _ => return None,
    };
    Some(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| WebhookEvent { dedupe_key: format!("{}#{}", event.dedupe_key, i + 1), event: part })
            .collect(),
    )
}

/// Sends the parts of a split event to the shipments queue; the event is done once all are there
/// (a failed send retries the whole event, and a part sent twice is handled once by its claims).
async fn fan_out(
    queue: &dyn Queue,
    what: String,
    parts: Vec<ShipmentMessage>,
    ctx: &PushContext<'_>,
) -> Result<PushOutcome, PushError> {
    let now = ctx.clock.now();
    let mut messages = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let message = Envelope::new(part, now).to_outgoing(i.to_string()).map_err(|source| PushError::FanOut {
            what: what.clone(),
            source: QueueError::Encode { queue: "shipments".into(), source },
        })?;
        messages.push(message);
    }
    let count = messages.len();
    let report = queue.send(messages).await.map_err(|source| PushError::FanOut { what: what.clone(), source })?;
    if !report.failed.is_empty() {
        return Err(PushError::FanOut {
            source: QueueError::Sqs {
                operation: "SendMessageBatch",
                queue: "shipments".into(),
                retryable: true,
                source: format!("{} of {count} messages refused: {:?}", report.failed.len(), report.failed).into(),
            },
            what,
        });
    }
    info!(event = %what, messages = count, "Event split into one message per unit of work.");
    Ok(PushOutcome::FannedOut { event: what, messages: count })
}

async fn handle_webhook_event(event: &WebhookEvent, ctx: &PushContext<'_>) -> Result<Vec<PushOutcome>, PushError> {
    if let (Some(queue), Some(parts)) = (ctx.fan_out, split_event(event)) {
        let parts = parts.into_iter().map(ShipmentMessage::WebhookEventV2).collect();
        let what = format!("{} {}", event.event.name(), event.dedupe_key);
        return Ok(vec![fan_out(queue, what, parts, ctx).await?]);
    }
    let mut outcomes = Vec::new();
    match &event.event {
        InboundEvent::ErpChanged { shipments, orders, statuses } => {
            if shipments.is_empty() && orders.is_empty() {
                warn!(key = %event.dedupe_key, "ERP notification names neither shipments nor orders; nothing to do.");
            }
            for nbr in shipments {
                let found = ctx
                    .erp
                    .shipment(nbr.as_str())
                    .await
                    .map_err(|source| PushError::Vendor { what: format!("ERP shipment {nbr}"), source })?;
                if found.is_empty() {
                    // Not shipped: a shipment to export to the shipping station, when one is set.
                    if let Some(station) = ctx.station {
                        outcomes.extend(super::export_on_notification(nbr.as_str(), &station, ctx).await?);
                        continue;
                    }
                    // Notified before it was confirmed, or deleted since: the poll sees it once it ships.
                    info!(shipment = %nbr, "ERP shipment is not shipped (or gone); nothing to push yet.");
                }
                for (erp, shipment) in found {
                    outcomes.push(push_from_erp(&erp, shipment, ctx).await?);
                }
            }
            for erp in orders {
                outcomes.extend(super::erp_order_changed(erp, None, reported_status(statuses, erp), ctx).await?);
            }
        }
        InboundEvent::ToolBatchReady { resource_url } => {
            let tool = ctx.tool.ok_or_else(|| {
                PushError::Unprocessable(format!(
                    "event {}: a shipping-tool webhook arrived, but no shipping tool is configured",
                    event.dedupe_key
                ))
            })?;
            let found = tool
                .shipments_at(resource_url)
                .await
                .map_err(|source| PushError::Vendor { what: "shipping-tool webhook resource".into(), source })?;
            if let Some(queue) = ctx.fan_out.filter(|_| found.len() > UNITS_INLINE) {
                // Read once here; each message carries its shipment whole, so no part reads it again.
                let parts = found
                    .into_iter()
                    .map(|(order, shipment)| {
                        ShipmentMessage::PushShipmentV1(super::PushShipment {
                            origin: ShipmentOrigin::ShippingTool { order },
                            shipment,
                        })
                    })
                    .collect();
                let what = format!("{} {}", event.event.name(), event.dedupe_key);
                return Ok(vec![fan_out(queue, what, parts, ctx).await?]);
            }
            for (order, shipment) in found {
                outcomes.push(push_from_tool(&order, shipment, ctx).await?);
            }
        }
        InboundEvent::Shipped { erp_order, shipment } => {
            outcomes.push(push_from_erp(erp_order, shipment.clone(), ctx).await?);
        }
        InboundEvent::StatusChanged { erp_order } => {
            outcomes.extend(super::erp_order_changed(erp_order, None, None, ctx).await?)
        }
        // Intake puts announced orders on the orders queue, and status-push's handler takes
        // delivery reports before this: neither is a shipment or status to push.
        InboundEvent::OrderAnnounced { .. } | InboundEvent::HookTrouble { .. } => {
            return Err(PushError::Unprocessable(format!(
                "event {}: a {} event is not handled by the shipments flow",
                event.dedupe_key,
                event.event.name()
            )))
        }
        InboundEvent::StockChanged { items } => {
            let Some(stock) = &ctx.stock else {
                info!(key = %event.dedupe_key, items = items.len(), "Stock changed in the ERP, but no storefront takes stock; nothing to do.");
                return Ok(outcomes);
            };
            for (connection, result) in super::items_changed(stock, items).await {
                // Absolute quantities: a retry of the whole event rewrites nothing already written.
                result.map_err(|source| PushError::Stock { connection, source: Box::new(source) })?;
            }
        }
    }
    Ok(outcomes)
}

/// The channel order an ERP order was imported from (None: not an Orderbridge order).
pub(crate) async fn binding_of(erp: &ErpOrderRef, ctx: &PushContext<'_>) -> Result<Option<Binding>, PushError> {
    ctx.bindings
        .binding_for_erp(erp)
        .await
        .map_err(|source| PushError::Ledger { what: format!("binding of {erp}"), source })
}

async fn push_from_erp(erp: &ErpOrderRef, shipment: Shipment, ctx: &PushContext<'_>) -> Result<PushOutcome, PushError> {
    let Some(binding) = binding_of(erp, ctx).await? else {
        return not_ours(ctx, ctx.erp_name, &shipment, format!("{erp} was not imported by Orderbridge")).await;
    };
    push_to_channel(&binding, shipment, true, ctx).await
}

async fn push_from_tool(
    order: &ShippingToolOrder,
    shipment: Shipment,
    ctx: &PushContext<'_>,
) -> Result<PushOutcome, PushError> {
    // A label for a shipment Orderbridge exported goes to the ERP shipment, not to a channel.
    if let Some(station) = ctx.station {
        if let Some(outcome) = super::labels_to_erp(order.order_key.as_deref(), &shipment, &station, ctx).await? {
            return Ok(outcome);
        }
    }
    let Some(connection) = order.store_id.and_then(|s| ctx.tool_stores.get(&s)) else {
        let store = order.store_id.map_or_else(|| "none".to_owned(), |s| s.to_string());
        return not_ours(
            ctx,
            ctx.tool_name,
            &shipment,
            format!(
                "store {store} is not mapped to a connection in the shipping tool's stores; order {} left alone",
                order.order_number
            ),
        )
        .await;
    };
    let Some(target) = ctx.targets.target(connection).await? else {
        return not_ours(ctx, ctx.tool_name, &shipment, format!("connection {connection} is not enabled")).await;
    };
    let binding = match (target.order_id)(&order.order_number) {
        Some(id) => ctx
            .bindings
            .binding_for_channel(connection, &id)
            .await
            .map_err(|source| PushError::Ledger { what: format!("binding of {connection}/{id}"), source })?,
        None => None,
    };
    let Some(binding) = binding else {
        return not_ours(
            ctx,
            ctx.tool_name,
            &shipment,
            format!("order {} of {connection} was not imported by Orderbridge", order.order_number),
        )
        .await;
    };
    push_to_channel(&binding, shipment, false, ctx).await
}

async fn not_ours(
    ctx: &PushContext<'_>,
    log_connection: &ConnectionId,
    shipment: &Shipment,
    why: String,
) -> Result<PushOutcome, PushError> {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder.start(
        log_connection,
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
        return not_ours(ctx, ctx.erp_name, &shipment, format!("connection {connection} is not enabled")).await;
    };
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder
        .start(connection, LogGroup::Shipments, "push_tracking", Direction::Export, order.to_string())
        .correlated(&binding_correlation(binding))
        .noting(format!("Shipment {}:", shipment.source));
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
        let outcome = ctx.claims.claim(&claim_key, &ctx.owner, ctx.lease).await;
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
                // Before the claims complete: a failure here retries the push (the channel skips
                // tracking it has) and so the resync, which is never lost behind a done claim.
                if let Err(e) = resync_stock(connection, &to_push, ctx).await {
                    release_all(ctx, &leases).await;
                    recorder.finish(action, LogResult::Retry, format!("{e}; retrying.")).await;
                    return Err(e);
                }
                for (lease, package) in &leases {
                    if let Err(e) = ctx.claims.complete(lease, package.tracking.number.as_str()).await {
                        // The tracking is on the channel; a lost completion only costs a re-check
                        // (publishers skip tracking already on the order).
                        warn!(key = %lease.key, error = %e, "Push done but its claim was not completed.");
                    }
                }
                info!(connection = %connection, order = %order, tracking = ?tracking, "Tracking pushed to the channel.");
                if target.follows_orders {
                    // The retention period and the end of charge polling count from here; a lost
                    // write is redone by the next shipment or by the channel's own ship date.
                    if let Err(e) = ctx.followed.mark_shipped(connection, order, ctx.clock.now()).await {
                        warn!(connection = %connection, order = %order, error = %e, "Shipment not recorded on the followed order.");
                    }
                }
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
                let reason = ErrorChain(&e).to_string();
                for (lease, _) in &leases {
                    if let Err(le) = ctx.claims.fail(lease, &reason).await {
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

/// After a shipment was created on a storefront that deducts shipped quantities from the stock
/// Orderbridge writes there, the shipped items' levels are written again — through the queue,
/// so the push does not wait on the ERP reads (inline when there is no queue, in tests).
async fn resync_stock(connection: &ConnectionId, shipment: &Shipment, ctx: &PushContext<'_>) -> Result<(), PushError> {
    let Some(stock) = &ctx.stock else { return Ok(()) };
    if !super::deducts_on_shipment(stock, connection) {
        return Ok(());
    }
    let items: Vec<String> = shipment
        .packages
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.item_id.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if items.is_empty() {
        return Ok(());
    }
    match ctx.fan_out {
        Some(queue) => {
            let message = ShipmentMessage::StockResyncV1(super::StockResync { connection: connection.clone(), items });
            fan_out(queue, format!("stock resync of {connection} after {}", shipment.source), vec![message], ctx)
                .await
                .map(|_| ())
        }
        None => match super::resync_after_shipment(stock, connection, &items).await {
            Some(Err(source)) => Err(PushError::Stock { connection: connection.clone(), source: Box::new(source) }),
            _ => Ok(()),
        },
    }
}

/// Packages of the order's other shipments (for a channel that takes the whole order at once).
async fn earlier_shipments(
    erp: &ErpOrderRef,
    current: &Shipment,
    state: &ErpOrderState,
    ctx: &PushContext<'_>,
) -> Result<Vec<(String, Package)>, PushError> {
    // Only called for shipments the ERP recorded: the source id is the ERP's shipment number.
    let current_nbr = current.source.id.as_str();
    let mut out = Vec::new();
    for nbr in state.shipment_nbrs.iter().filter(|n| **n != current_nbr) {
        let found = ctx
            .erp
            .shipment(nbr)
            .await
            .map_err(|source| PushError::Vendor { what: format!("ERP shipment {nbr}"), source })?;
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
        if let Err(e) = ctx.claims.release(lease).await {
            warn!(key = %lease.key, error = %e, "Claim not released; it frees itself when the lease ends.");
        }
    }
}

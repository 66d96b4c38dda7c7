//! The catch-up poll: webhooks are not guaranteed, so shipments modified since a cursor are read
//! from the ERP and the shipping tool and enqueued unless every package was pushed already.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::warn;

use super::{LogRecorder, PushError, PushShipment, ShipmentMessage, ShipmentOrigin, ShipmentPorts};
use crate::error::{Classify, ErrorClass};
use crate::model::{ConnectionId, Shipment};
use crate::ports::{
    BindingOrigin, ClaimKey, ClaimStatus, ConnectorError, Direction, Envelope, LedgerError, LogGroup, LogResult,
    OutgoingMessage, Queue, QueueError,
};

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
        source_name: String,
        #[source]
        source: LedgerError,
    },
    #[error("reading {source_name} shipments failed")]
    Vendor {
        source_name: String,
        #[source]
        source: ConnectorError,
    },
    #[error("enqueueing {source_name} shipments failed: {detail}")]
    Queue { source_name: String, detail: String },
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
pub async fn catch_up(ctx: &PollContext<'_>) -> Vec<(ConnectionId, Result<PollReport, PollError>)> {
    let mut results = vec![(ctx.erp_name.clone(), poll_erp(ctx).await)];
    if ctx.tool.is_some() {
        results.push((ctx.tool_name.clone(), poll_tool(ctx).await));
    }
    if let Some(station) = ctx.station {
        let name = ConnectionId::parse(format!("{}-export", ctx.tool_name)).unwrap_or_else(|_| ctx.tool_name.clone());
        results.push((name, poll_exports(ctx, &station).await));
    }
    if ctx.erp_orders.is_some() {
        let name = ConnectionId::parse(format!("{}-orders", ctx.erp_name)).unwrap_or_else(|_| ctx.erp_name.clone());
        match poll_erp_orders(ctx).await {
            Ok(None) => {}
            Ok(Some(report)) => results.push((name, Ok(report))),
            Err(e) => results.push((name, Err(e))),
        }
    }
    results
}

/// The cursor stream of ERP-originated orders (on the ERP's log name).
const ORDERS_STREAM: &str = "erp-orders";
/// Marker scope of ERP order versions the poll already enqueued (`SO/SO000123@<last modified>`).
const SEEN_SCOPE: &str = "erp-order-seen";

/// ERP sales orders modified since the cursor, read once per poll (None when the ERP is not a
/// source of orders). One listing serves two purposes:
///
/// - **Publishing** (when a storefront receives ERP orders): each new version of an order not
///   imported from a channel is enqueued whole (published, or its invoices and status followed);
///   orders that failed under an older mapping version are enqueued again.
/// - **Notes and statuses of imported orders**: each new version of an order bound to a channel
///   order (origin channel) whose channel syncs notes (`status_push.sync_notes`) is enqueued, so a
///   customer-service note written in the ERP reaches the channel without any shipment, status
///   event or push notification. The consumer reads the order's state once and copies the note
///   once per distinct text (the note the import wrote is never echoed) and the mapped status
///   when it differs from the last one pushed.
///
/// A version (`SO/SO000123@<LastModified>`) already enqueued is not enqueued again.
async fn poll_erp_orders(ctx: &PollContext<'_>) -> Result<Option<PollReport>, PollError> {
    let Some(source) = ctx.erp_orders else { return Ok(None) };
    let targets = ctx.publishing.publish_targets().await?;
    let name = ctx.erp_name;
    let ledger_err = |source| PollError::Ledger { source_name: name.to_string(), source };
    let started = ctx.clock.now();
    let (since, version) = window_of(ctx, name, ORDERS_STREAM).await?;
    let found = source
        .orders_modified_since(since)
        .await
        .map_err(|source| PollError::Vendor { source_name: name.to_string(), source })?;
    let mut report = PollReport::default();
    let mut messages = Vec::new();
    let mut remembered = Vec::new();
    // Whether each channel syncs notes, read once per poll.
    let mut syncs_notes: BTreeMap<ConnectionId, bool> = BTreeMap::new();
    for order in found {
        report.seen += 1;
        let imported = order.customer_order.as_deref().is_some_and(|c| super::is_import_id(c, ctx.channel_codes));
        if imported || targets.is_empty() {
            // Not for publishing: only an order imported from a channel that syncs notes.
            let binding = ctx.bindings.binding_for_erp(&order.erp).await.map_err(ledger_err)?;
            let Some(binding) = binding.filter(|b| b.origin == BindingOrigin::Channel) else {
                report.not_ours += 1;
                continue;
            };
            let syncs = match syncs_notes.get(&binding.connection) {
                Some(syncs) => *syncs,
                None => {
                    let target = ctx.targets.target(&binding.connection).await?;
                    let syncs = target.is_some_and(|t| t.rules.sync_notes);
                    syncs_notes.insert(binding.connection.clone(), syncs);
                    syncs
                }
            };
            if !syncs {
                report.not_ours += 1;
                continue;
            }
        }
        let seen = format!("{}@{}", order.erp, order.last_modified.to_rfc3339());
        if !ctx.markers.remember_once(SEEN_SCOPE, &seen, super::SEEN_MEMORY).await.map_err(ledger_err)? {
            report.already_pushed += 1;
            continue;
        }
        remembered.push(seen);
        messages.push(ShipmentMessage::ErpOrderV1(Box::new(super::ErpOrderMessage { order })));
    }
    // Orders that failed under an older mapping: the mapping changed, so they are tried again.
    for target in &targets {
        let waiting = ctx.cursors.cursor(&target.connection, super::WAITING_STREAM).await.map_err(ledger_err)?;
        let Some(waiting) = waiting else { continue };
        let list: Vec<super::WaitingOrder> = serde_json::from_str(&waiting.value).unwrap_or_default();
        let (retry, keep): (Vec<_>, Vec<_>) =
            list.into_iter().partition(|w| w.mapping_version < target.mapping_version);
        if retry.is_empty() {
            continue;
        }
        for w in &retry {
            if let Some(erp) = crate::model::ErpOrderRef::parse(&w.erp) {
                let event = crate::ports::InboundEvent::ErpChanged {
                    shipments: Vec::new(),
                    orders: vec![erp],
                    statuses: Vec::new(),
                };
                let dedupe_key = format!("retry:{}@v{}", w.erp, target.mapping_version);
                messages.push(ShipmentMessage::WebhookEventV2(crate::ports::WebhookEvent { dedupe_key, event }));
            }
        }
        let value = serde_json::to_string(&keep).unwrap_or_else(|_| "[]".into());
        match ctx.cursors.save_cursor(&target.connection, super::WAITING_STREAM, &value, Some(waiting.version)).await {
            // A publish failed meanwhile and added itself: the next poll sees the list again.
            Ok(_) | Err(LedgerError::CursorConflict { .. }) => {}
            Err(e) => return Err(ledger_err(e)),
        }
    }
    let result = finish_poll(ctx, name, ORDERS_STREAM, started, version, messages, report, "ERP orders").await;
    if result.is_err() {
        // Not on the queue: let the next poll enqueue these versions again.
        for key in &remembered {
            let _ = ctx.markers.forget(SEEN_SCOPE, key).await;
        }
    }
    result.map(Some)
}

async fn window(ctx: &PollContext<'_>, name: &ConnectionId) -> Result<(DateTime<Utc>, Option<u64>), PollError> {
    window_of(ctx, name, POLL_STREAM).await
}

async fn window_of(
    ctx: &PollContext<'_>,
    name: &ConnectionId,
    stream: &str,
) -> Result<(DateTime<Utc>, Option<u64>), PollError> {
    let cursor = ctx
        .cursors
        .cursor(name, stream)
        .await
        .map_err(|source| PollError::Ledger { source_name: name.to_string(), source })?;
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
    name: &ConnectionId,
) -> Result<bool, PollError> {
    for package in &shipment.packages {
        let key = ClaimKey::push(connection, &shipment.push_key(package));
        let record = ctx
            .claims
            .claim_record(&key)
            .await
            .map_err(|source| PollError::Ledger { source_name: name.to_string(), source })?;
        if record.is_none_or(|r| r.status != ClaimStatus::Completed) {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn poll_erp(ctx: &PollContext<'_>) -> Result<PollReport, PollError> {
    let name = ctx.erp_name;
    let started = ctx.clock.now();
    let (since, version) = window(ctx, name).await?;
    let found = ctx
        .erp
        .shipments_since(since)
        .await
        .map_err(|source| PollError::Vendor { source_name: name.to_string(), source })?;
    let mut report = PollReport::default();
    let mut messages = Vec::new();
    for (erp, shipment) in found {
        report.seen += 1;
        let binding = ctx
            .bindings
            .binding_for_erp(&erp)
            .await
            .map_err(|source| PollError::Ledger { source_name: name.to_string(), source })?;
        let Some(binding) = binding else {
            report.not_ours += 1;
            continue;
        };
        if all_pushed(ctx, &binding.connection, &shipment, name).await? {
            report.already_pushed += 1;
            continue;
        }
        messages.push(ShipmentMessage::PushShipmentV1(PushShipment {
            origin: ShipmentOrigin::Erp { order: erp },
            shipment,
        }));
    }
    finish_poll(ctx, name, POLL_STREAM, started, version, messages, report, "shipments").await
}

async fn poll_tool(ctx: &PollContext<'_>) -> Result<PollReport, PollError> {
    let name = ctx.tool_name;
    let Some(tool) = ctx.tool else { return Ok(PollReport::default()) };
    let started = ctx.clock.now();
    let (since, version) = window(ctx, name).await?;
    let found = tool
        .shipments_since(since)
        .await
        .map_err(|source| PollError::Vendor { source_name: name.to_string(), source })?;
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
                .bindings
                .binding_for_channel(connection, id)
                .await
                .map_err(|source| PollError::Ledger { source_name: name.to_string(), source })?
                .is_some(),
            None => false,
        };
        if !bound {
            report.not_ours += 1;
            continue;
        }
        if all_pushed(ctx, connection, &shipment, name).await? {
            report.already_pushed += 1;
            continue;
        }
        messages.push(ShipmentMessage::PushShipmentV1(PushShipment {
            origin: ShipmentOrigin::ShippingTool { order },
            shipment,
        }));
    }
    finish_poll(ctx, name, POLL_STREAM, started, version, messages, report, "shipments").await
}

/// Enqueues what the poll found, then moves the cursor to the poll's start (only after every
/// message is on the queue, so a failed send re-reads the same window next time).
#[allow(clippy::too_many_arguments)]
async fn finish_poll(
    ctx: &PollContext<'_>,
    name: &ConnectionId,
    stream: &'static str,
    started: DateTime<Utc>,
    version: Option<u64>,
    found: Vec<ShipmentMessage>,
    mut report: PollReport,
    what: &str,
) -> Result<PollReport, PollError> {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let (group, action_name) = if stream == POLL_STREAM {
        (LogGroup::Shipments, "poll_shipments")
    } else {
        (LogGroup::Orders, "poll_erp_orders")
    };
    let action = recorder.start(name, group, action_name, Direction::Export, stream);
    let mut messages: Vec<OutgoingMessage> = Vec::new();
    for (i, message) in found.into_iter().enumerate() {
        let envelope = Envelope::new(message, ctx.clock.now());
        match envelope.to_outgoing(i.to_string()) {
            Ok(message) => messages.push(message),
            Err(e) => warn!(error = %e, "A poll message could not be serialized; it is left for the next poll."),
        }
    }
    let count = messages.len() as u32;
    if !messages.is_empty() {
        let sent = ctx
            .queue
            .send(messages)
            .await
            .map_err(|e: QueueError| PollError::Queue { source_name: name.to_string(), detail: e.to_string() })?;
        if !sent.failed.is_empty() {
            let detail = format!("{} of {count} messages refused: {:?}", sent.failed.len(), sent.failed);
            recorder.finish(action, LogResult::Retry, detail.clone()).await;
            return Err(PollError::Queue { source_name: name.to_string(), detail });
        }
    }
    report.enqueued = count;
    match ctx.cursors.save_cursor(name, stream, &started.to_rfc3339(), version).await {
        // Another poll moved it meanwhile; its window covers ours.
        Ok(_) | Err(LedgerError::CursorConflict { .. }) => {}
        Err(source) => return Err(PollError::Ledger { source_name: name.to_string(), source }),
    }
    recorder
        .finish(
            action,
            LogResult::Success,
            format!(
                "{} {what} seen, {} enqueued, {} already handled, {} not Orderbridge's to send.",
                report.seen, report.enqueued, report.already_pushed, report.not_ours
            ),
        )
        .await;
    Ok(report)
}

/// The cursor stream of ERP shipments exported to the shipping station (on the station's name).
const EXPORT_STREAM: &str = "export-shipments";

/// ERP shipments modified since the cursor in an exported status (or on hold or cancelled, which
/// a station order follows), each exported inline: `seen` read, `enqueued` exported or updated,
/// `already_pushed` versions handled before, `not_ours` never exported and not to be.
async fn poll_exports(ctx: &PollContext<'_>, station: &super::StationPorts<'_>) -> Result<PollReport, PollError> {
    let name = ctx.tool_name;
    let started = ctx.clock.now();
    let (since, version) = window_of(ctx, name, EXPORT_STREAM).await?;
    let mut statuses = station.settings.statuses.clone();
    for also in ["On Hold", "Canceled"] {
        if !statuses.iter().any(|s| s.eq_ignore_ascii_case(also)) {
            statuses.push(also.to_owned());
        }
    }
    let found = station
        .erp
        .outbound_since(since, &statuses)
        .await
        .map_err(|source| PollError::Vendor { source_name: name.to_string(), source })?;
    let export = super::ExportContext {
        claims: ctx.claims,
        cursors: ctx.cursors,
        log: ctx.log,
        clock: ctx.clock,
        erp: station.erp,
        station: station.station,
        settings: station.settings,
        station_name: name,
        owner: format!("poll-{}", uuid::Uuid::new_v4()),
        lease: Duration::from_secs(120),
    };
    let mut report = PollReport::default();
    for shipment in &found {
        report.seen += 1;
        match super::export_shipment(shipment, &export).await? {
            super::ExportOutcome::Exported { .. } => report.enqueued += 1,
            super::ExportOutcome::AlreadyExported { .. } => report.already_pushed += 1,
            super::ExportOutcome::NotExported { .. } => report.not_ours += 1,
            super::ExportOutcome::Incomplete { .. } | super::ExportOutcome::Refused { .. } => {}
        }
    }
    super::handle_voided_labels(since, &export).await?;
    match ctx.cursors.save_cursor(name, EXPORT_STREAM, &started.to_rfc3339(), version).await {
        Ok(_) | Err(LedgerError::CursorConflict { .. }) => {}
        Err(source) => return Err(PollError::Ledger { source_name: name.to_string(), source }),
    }
    Ok(report)
}

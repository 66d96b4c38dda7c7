//! The catch-up poll: webhooks are not guaranteed, so shipments modified since a cursor are read
//! from the ERP and the shipping tool and enqueued unless every package was pushed already.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::warn;

use super::{LogRecorder, PushError, PushShipment, ShipmentMessage, ShipmentOrigin, ShipmentPorts};
use crate::error::{Classify, ErrorClass};
use crate::model::{ConnectionId, Shipment};
use crate::ports::{
    ClaimKey, ClaimStatus, ConnectorError, Direction, Envelope, LedgerError, LogGroup, LogResult, OutgoingMessage,
    Queue, QueueError,
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
    results
}

async fn window(ctx: &PollContext<'_>, name: &ConnectionId) -> Result<(DateTime<Utc>, Option<u64>), PollError> {
    let cursor = ctx
        .cursors
        .cursor(name, POLL_STREAM)
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
        messages.push(PushShipment { origin: ShipmentOrigin::Erp { order: erp }, shipment });
    }
    finish_poll(ctx, name, started, version, messages, report).await
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
        messages.push(PushShipment { origin: ShipmentOrigin::ShippingTool { order }, shipment });
    }
    finish_poll(ctx, name, started, version, messages, report).await
}

/// Enqueues what the poll found, then moves the cursor to the poll's start (only after every
/// message is on the queue, so a failed send re-reads the same window next time).
async fn finish_poll(
    ctx: &PollContext<'_>,
    name: &ConnectionId,
    started: DateTime<Utc>,
    version: Option<u64>,
    found: Vec<PushShipment>,
    mut report: PollReport,
) -> Result<PollReport, PollError> {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder.start(name, LogGroup::Shipments, "poll_shipments", Direction::Export, POLL_STREAM);
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
            .map_err(|e: QueueError| PollError::Queue { source_name: name.to_string(), detail: e.to_string() })?;
        if !sent.failed.is_empty() {
            let detail = format!("{} of {count} messages refused: {:?}", sent.failed.len(), sent.failed);
            recorder.finish(action, LogResult::Retry, detail.clone()).await;
            return Err(PollError::Queue { source_name: name.to_string(), detail });
        }
    }
    report.enqueued = count;
    match ctx.cursors.save_cursor(name, POLL_STREAM, &started.to_rfc3339(), version).await {
        // Another poll moved it meanwhile; its window covers ours.
        Ok(_) | Err(LedgerError::CursorConflict { .. }) => {}
        Err(source) => return Err(PollError::Ledger { source_name: name.to_string(), source }),
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

//! The status-push handler: consumes the shipments queue (webhook events and shipments the poll
//! found) with partial batch failures, and runs the scheduled catch-up poll.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::{error, info, warn};

use super::MappingCache;
use crate::aws::process_batch;
use crate::connectors::registry;
use crate::error::ErrorChain;
use crate::flows::{
    catch_up, handle_shipment_message, poll_charges, purge_personal_data, ChargesReport, DeliveryLog, FollowupContext,
    LogRecorder, PollContext, PollError, PollReport, PublishTarget, PublishTargets, PurgeReport, PushContext,
    PushError, PushOutcome, PushTarget, PushTargets, ShipmentMessage, ShipmentPorts,
};
use crate::model::{ChannelOrderId, ConnectionId};
use crate::model::{ChargeSync, ErpOrderSync, Retention};
use crate::ports::{
    Backlog, ChargeSource, Clock, ConnectorLog, Direction, Envelope, ErpCharges, ErpOrders, ErpShipments, InboundEvent,
    Ledger, LogGroup, LogResult, OrderPublisher, Queue, SharedBudgets, ShippingTool, StatusPublisher, WebhookEvent,
};

/// One channel connection's publisher.
pub struct PublisherEntry {
    pub publisher: Arc<dyn StatusPublisher>,
    pub mapping_name: String,
    pub enabled: bool,
    pub takes_partial_shipments: bool,
    pub order_id: fn(&str) -> Option<ChannelOrderId>,
    /// Charges or personal-data retention are configured: imported orders are followed.
    pub follows_orders: bool,
}

/// Everything status-push shares, built once per cold start.
pub struct StatusApp {
    pub ledger: Arc<dyn Ledger>,
    pub log: Arc<dyn ConnectorLog>,
    /// The shipments queue: the poll enqueues what it finds here.
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub erp: Arc<dyn ErpShipments>,
    pub tool: Option<Arc<dyn ShippingTool>>,
    pub tool_stores: BTreeMap<i64, ConnectionId>,
    /// Connector-log names of the ERP and the shipping tool.
    pub erp_name: ConnectionId,
    pub tool_name: ConnectionId,
    pub channels: BTreeMap<ConnectionId, PublisherEntry>,
    pub mappings: MappingCache,
    /// Messages of one batch handled at once.
    pub concurrency: usize,
    pub poll_overlap: Duration,
    pub poll_first_window: Duration,
    /// How far a push claim's lease reaches past the invocation's own deadline (and its margin).
    /// The claim must outlive the invocation, or a redelivery could push the same tracking while
    /// the holder's push is still under way. Production uses 30 s, as order-import does; the
    /// chaos harness shortens it so killed invocations free their claims within seconds.
    pub lease_slack: Duration,
    /// The vendor accounts' rate budgets every container shares (None: this container's own).
    pub budgets: Option<Arc<dyn SharedBudgets>>,
    /// Where ERP-originated orders are read.
    pub erp_orders: Option<Arc<dyn ErpOrders>>,
    /// Storefronts receiving ERP-originated orders, in the connections file's order.
    pub storefronts: Vec<StorefrontEntry>,
    /// Codes of the channels orders are imported from (the publish flow's echo guard).
    pub channel_codes: Vec<String>,
    /// Channel connections that follow their imported orders (charges, retention).
    pub followups: Vec<FollowupEntry>,
    /// Where charges are written on the ERP order.
    pub erp_charges: Arc<dyn ErpCharges>,
    /// The import queue: the charges pass yields while orders wait there.
    pub imports: Option<Arc<dyn Backlog>>,
    /// Where ERP shipments to export are read.
    pub outbound: Arc<dyn crate::ports::OutboundShipments>,
    /// The shipping station ERP shipments are exported to, with its settings, when configured.
    pub station: Option<(Arc<dyn crate::ports::ShippingStation>, crate::model::StationExport)>,
    /// Where the available stock storefronts sell is read.
    pub erp_stock: Arc<dyn crate::ports::ErpStock>,
    /// Storefronts the ERP's stock is written to, in the connections file's order.
    pub stock_targets: Vec<crate::flows::StockTarget>,
    /// Enabled channel connections whose order webhooks are configured.
    pub hooked: Vec<crate::flows::HookedChannel>,
}

/// A channel connection's follow-ups.
pub struct FollowupEntry {
    pub connection: ConnectionId,
    pub enabled: bool,
    pub charges: Option<(Arc<dyn ChargeSource>, ChargeSync)>,
    pub retention: Retention,
}

/// A storefront connection that receives ERP-originated orders.
pub struct StorefrontEntry {
    pub connection: ConnectionId,
    pub publisher: Arc<dyn OrderPublisher>,
    pub sync: ErpOrderSync,
}

impl StatusApp {
    fn budget_scope(&self, priority: crate::ports::CallPriority) -> Option<crate::http::BudgetScope> {
        super::budget_scope(self.budgets.as_ref(), &self.clock, priority)
    }

    async fn storefront(&self, entry: &StorefrontEntry) -> Result<Option<PublishTarget>, PushError> {
        let Some(channel) = self.channels.get(&entry.connection).filter(|c| c.enabled) else { return Ok(None) };
        let mapping = self.mappings.get(self.ledger.as_ref(), &channel.mapping_name).await.map_err(|e| {
            let retryable = crate::error::Classify::is_retryable(&e);
            PushError::Mapping { what: format!("connection {}", entry.connection), source: Box::new(e), retryable }
        })?;
        Ok(Some(PublishTarget {
            connection: entry.connection.clone(),
            publisher: entry.publisher.clone(),
            sync: entry.sync.clone(),
            rules: mapping.file.erp_orders.clone(),
            mapping_label: format!("{} (mapping v{})", mapping.path, mapping.version),
            mapping_version: mapping.version,
        }))
    }
}

#[async_trait]
impl PublishTargets for StatusApp {
    async fn publish_targets(&self) -> Result<Vec<PublishTarget>, PushError> {
        let mut out = Vec::new();
        for entry in &self.storefronts {
            out.extend(self.storefront(entry).await?);
        }
        Ok(out)
    }

    async fn publish_target(&self, connection: &ConnectionId) -> Result<Option<PublishTarget>, PushError> {
        match self.storefronts.iter().find(|s| &s.connection == connection) {
            Some(entry) => self.storefront(entry).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl PushTargets for StatusApp {
    async fn target(&self, connection: &ConnectionId) -> Result<Option<PushTarget>, PushError> {
        let Some(entry) = self.channels.get(connection).filter(|c| c.enabled) else { return Ok(None) };
        let mapping = self.mappings.get(self.ledger.as_ref(), &entry.mapping_name).await.map_err(|e| {
            let retryable = crate::error::Classify::is_retryable(&e);
            PushError::Mapping { what: format!("connection {connection}"), source: Box::new(e), retryable }
        })?;
        Ok(Some(PushTarget {
            publisher: entry.publisher.clone(),
            rules: mapping.file.status_push.clone(),
            mapping_label: format!("{} (mapping v{})", mapping.path, mapping.version),
            takes_partial_shipments: entry.takes_partial_shipments,
            order_id: entry.order_id,
            follows_orders: entry.follows_orders,
        }))
    }
}

/// What one catch-up poll did, returned by the Lambda and printed by the demo.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PollSummary {
    pub sources: Vec<SourcePoll>,
    /// Stock written to each storefront that takes the ERP's stock.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stock: Vec<StockPoll>,
    /// Order webhooks checked (and re-enabled where the channel had disabled them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<crate::flows::HookCheck>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StockPoll {
    pub connection: String,
    pub report: Option<crate::flows::StockReport>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SourcePoll {
    pub source: String,
    pub report: Option<PollReport>,
    pub error: Option<String>,
}

/// The poll failed for at least one source; the message names each.
#[derive(Debug, thiserror::Error)]
#[error("shipment catch-up poll failed for {0}")]
pub struct PollFailed(pub String);

impl PollSummary {
    pub fn into_result(self) -> Result<serde_json::Value, PollFailed> {
        let failed: Vec<String> = self
            .sources
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.source)))
            .chain(
                self.stock.iter().filter_map(|s| s.error.as_ref().map(|e| format!("stock of {}: {e}", s.connection))),
            )
            .chain(
                self.hooks
                    .iter()
                    .filter_map(|h| h.error.as_ref().map(|e| format!("webhooks of {}: {e}", h.connection))),
            )
            .collect();
        if failed.is_empty() {
            Ok(serde_json::to_value(&self).unwrap_or_default())
        } else {
            Err(PollFailed(failed.join("; ")))
        }
    }
}

impl StatusApp {
    /// The entry of a delivery whose work wrote none (a shipment not shipped yet, an order not
    /// imported by Orderbridge, or an attempt that failed before its first entry): intake leaves
    /// accepted deliveries to their work's entries, so this keeps every delivery in the log.
    async fn delivery_handled(
        &self,
        event: &WebhookEvent,
        handled: &Result<Vec<PushOutcome>, PushError>,
        queued_at: chrono::DateTime<chrono::Utc>,
    ) {
        let source = match event.event {
            InboundEvent::ToolBatchReady { .. } => &self.tool_name,
            _ => &self.erp_name,
        };
        let recorder = LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() };
        let action = recorder
            .start(
                source,
                LogGroup::Webhooks,
                "intake",
                Direction::Internal,
                crate::flows::marker_key(&event.dedupe_key),
            )
            .queued(Some(queued_at));
        let name = event.event.name();
        let (result, notes) = match handled {
            Err(e) => (LogResult::Retry, format!("{name}: will retry: {}", ErrorChain(e))),
            Ok(outcomes) if outcomes.is_empty() => {
                (LogResult::Skipped, format!("{name} handled; nothing to push yet."))
            }
            Ok(outcomes) => {
                let what: Vec<String> = outcomes
                    .iter()
                    .map(|o| match o {
                        PushOutcome::NotOurs(reason) => format!("not ours: {reason}"),
                        other => format!("{other:?}"),
                    })
                    .collect();
                (LogResult::Skipped, format!("{name} handled: {}.", what.join("; ")))
            }
        };
        recorder.finish(action, result, notes).await;
    }

    fn ports(&self) -> ShipmentPorts<'_> {
        ShipmentPorts {
            claims: self.ledger.as_ref(),
            bindings: self.ledger.as_ref(),
            cursors: self.ledger.as_ref(),
            markers: self.ledger.as_ref(),
            log: self.log.as_ref(),
            clock: self.clock.as_ref(),
            erp: self.erp.as_ref(),
            tool: self.tool.as_deref(),
            tool_stores: &self.tool_stores,
            targets: self,
            erp_orders: self.erp_orders.as_deref(),
            publishing: self,
            channel_codes: &self.channel_codes,
            erp_name: &self.erp_name,
            tool_name: &self.tool_name,
            followed: self.ledger.as_ref(),
            station: self.station.as_ref().map(|(station, settings)| crate::flows::StationPorts {
                erp: self.outbound.as_ref(),
                station: station.as_ref(),
                settings,
            }),
            stock: self.stock_ports(),
        }
    }

    /// The stock flow's ports; None when no enabled storefront takes the ERP's stock.
    fn stock_ports(&self) -> Option<crate::flows::StockPorts<'_>> {
        let any = self.stock_targets.iter().any(|t| t.enabled);
        any.then(|| crate::flows::StockPorts {
            erp: self.erp_stock.as_ref(),
            levels: self.ledger.as_ref(),
            cursors: self.ledger.as_ref(),
            log: self.log.as_ref(),
            clock: self.clock.as_ref(),
            targets: &self.stock_targets,
            overlap: chrono::Duration::from_std(self.poll_overlap).unwrap_or_else(|_| chrono::Duration::minutes(15)),
        })
    }

    /// Handles one SQS batch of the shipments queue.
    pub async fn run_batch(&self, event: SqsEvent, deadline: Instant, request_id: &str) -> SqsBatchResponse {
        crate::http::with_budget(
            self.budget_scope(crate::ports::CallPriority::Push),
            self.shipments_batch(event, deadline, request_id),
        )
        .await
    }

    async fn shipments_batch(&self, event: SqsEvent, deadline: Instant, request_id: &str) -> SqsBatchResponse {
        let lease =
            deadline.saturating_duration_since(Instant::now()) + super::orders::DEADLINE_MARGIN + self.lease_slack;
        let erp = crate::flows::StatesReadOnce::new(self.erp.as_ref());
        let erp = &erp;
        let response = process_batch(event, self.concurrency, |envelope: Envelope<ShipmentMessage>, meta| {
            let owner = format!("{request_id}/{}", meta.message_id);
            async move {
                // Entries carry when the message was enqueued (for a delivery: when it arrived).
                let log = DeliveryLog::new(self.log.as_ref(), envelope.sent_at);
                let ctx = PushContext {
                    ports: ShipmentPorts { erp, log: &log, ..self.ports() },
                    owner,
                    lease,
                    fan_out: Some(self.queue.as_ref()),
                };
                let message = upgrade(envelope.body)?;
                if let ShipmentMessage::WebhookEventV2(WebhookEvent {
                    event: InboundEvent::HookTrouble { connection, hook, code, message },
                    ..
                }) = &message
                {
                    return self.hook_trouble(connection, hook, code, message).await;
                }
                let priority = message_priority(&message);
                let handled = crate::http::with_priority(priority, handle_shipment_message(&message, &ctx)).await;
                if let ShipmentMessage::WebhookEventV2(event) = &message {
                    if !log.wrote() {
                        self.delivery_handled(event, &handled, envelope.sent_at).await;
                    }
                }
                let outcomes = handled?;
                for outcome in &outcomes {
                    if let PushOutcome::Pushed { connection, .. } = outcome {
                        crate::metrics::record_shipments_pushed(connection, 1);
                    }
                }
                info!(message_id = %meta.message_id, outcomes = ?outcomes, "Shipment message handled.");
                Ok::<(), PushError>(())
            }
        })
        .await;
        self.erp.end_session().await;
        response
    }

    /// The scheduled catch-up poll.
    pub async fn run_catch_up(&self) -> PollSummary {
        crate::http::with_budget(self.budget_scope(crate::ports::CallPriority::Background), self.catch_up_poll()).await
    }

    async fn catch_up_poll(&self) -> PollSummary {
        let ctx = PollContext {
            ports: self.ports(),
            queue: self.queue.as_ref(),
            overlap: self.poll_overlap,
            first_window: self.poll_first_window,
        };
        let results = catch_up(&ctx).await;
        let hooks = crate::flows::check_hooks(&self.hooked, &self.recorder()).await;
        let stock = match self.stock_ports() {
            Some(ports) => crate::flows::poll_stock(&ports).await,
            None => Vec::new(),
        };
        self.erp.end_session().await;
        let stock = stock
            .into_iter()
            .map(|(connection, result)| match result {
                Ok(report) => StockPoll { connection: connection.to_string(), report: Some(report), error: None },
                Err(e) => {
                    let text = ErrorChain(&e).to_string();
                    error!(connection = %connection, error = %text, "Stock poll failed.");
                    StockPoll { connection: connection.to_string(), report: None, error: Some(text) }
                }
            })
            .collect();
        let sources = results
            .into_iter()
            .map(|(source, result): (ConnectionId, Result<PollReport, PollError>)| match result {
                Ok(report) => SourcePoll { source: source.to_string(), report: Some(report), error: None },
                Err(e) => {
                    let text = ErrorChain(&e).to_string();
                    error!(source = %source, error = %text, "Shipment catch-up poll failed.");
                    SourcePoll { source: source.to_string(), report: None, error: Some(text) }
                }
            })
            .collect();
        PollSummary { sources, stock, hooks }
    }

    fn recorder(&self) -> LogRecorder<'_> {
        LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() }
    }

    /// A channel's report of failing webhook deliveries: recorded, and its disabled subscriptions
    /// re-enabled (retried while the channel cannot be reached).
    async fn hook_trouble(
        &self,
        connection: &ConnectionId,
        hook: &str,
        code: &str,
        message: &str,
    ) -> Result<(), PushError> {
        let Some(channel) = self.hooked.iter().find(|h| h.connection == *connection) else {
            warn!(connection = %connection, hook, code, "A webhook delivery report for a connection without order webhooks here; ignored.");
            return Ok(());
        };
        let recorder = self.recorder();
        crate::http::with_priority(
            crate::ports::CallPriority::Background,
            crate::flows::hook_trouble(channel, hook, code, message, &recorder),
        )
        .await
        .map(|_| ())
        .map_err(|source| PushError::Vendor { what: format!("order webhooks of {connection}"), source })
    }
}

/// What one follow-ups run did, per connection.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FollowupSummary {
    pub connections: Vec<ConnectionFollowups>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionFollowups {
    pub connection: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charges: Option<ChargesReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge: Option<PurgeReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl FollowupSummary {
    pub fn into_result(self) -> Result<serde_json::Value, PollFailed> {
        let failed: Vec<String> = self
            .connections
            .iter()
            .flat_map(|c| c.errors.iter().map(move |e| format!("{}: {e}", c.connection)))
            .collect();
        if failed.is_empty() {
            Ok(serde_json::to_value(&self).unwrap_or_default())
        } else {
            Err(PollFailed(failed.join("; ")))
        }
    }
}

impl StatusApp {
    /// The follow-ups schedule: each connection's charges pass, then its personal-data purge.
    /// A failure of one is reported and does not stop the others.
    pub async fn run_followups(&self, deadline: Instant) -> FollowupSummary {
        crate::http::with_budget(self.budget_scope(crate::ports::CallPriority::Background), self.followups(deadline))
            .await
    }

    async fn followups(&self, deadline: Instant) -> FollowupSummary {
        let ctx = FollowupContext {
            followed: self.ledger.as_ref(),
            cursors: self.ledger.as_ref(),
            claims: self.ledger.as_ref(),
            log: self.log.as_ref(),
            clock: self.clock.as_ref(),
            erp: self.erp_charges.as_ref(),
            imports: self.imports.as_deref(),
            deadline,
        };
        let mut summary = FollowupSummary::default();
        for entry in self.followups.iter().filter(|e| e.enabled) {
            let mut done = ConnectionFollowups {
                connection: entry.connection.to_string(),
                charges: None,
                purge: None,
                errors: vec![],
            };
            if let Some((source, sync)) = &entry.charges {
                match poll_charges(&entry.connection, source.as_ref(), sync, &ctx).await {
                    Ok(report) => done.charges = Some(report),
                    Err(e) => {
                        let text = ErrorChain(&e).to_string();
                        error!(connection = %entry.connection, error = %text, "Charges pass failed.");
                        done.errors.push(format!("charges: {text}"));
                    }
                }
            }
            if let Some(days) = entry.retention.days() {
                match purge_personal_data(&entry.connection, days, &ctx).await {
                    Ok(report) => done.purge = Some(report),
                    Err(e) => {
                        let text = ErrorChain(&e).to_string();
                        error!(connection = %entry.connection, error = %text, "Personal-data purge failed.");
                        done.errors.push(format!("purge: {text}"));
                    }
                }
            }
            summary.connections.push(done);
        }
        self.erp.end_session().await;
        summary
    }
}

/// A `webhook_event.v1` message (enqueued by an earlier version) turned into the typed event the
/// flows take, by the sender's own parser; the other kinds pass unchanged.
/// Shipments and status changes go before what the catch-up poll fans out (ERP orders to follow
/// or publish, stock to write again), so a poll's findings never hold a shipment back.
fn message_priority(message: &ShipmentMessage) -> crate::ports::CallPriority {
    match message {
        ShipmentMessage::WebhookEventV2(_)
        | ShipmentMessage::WebhookEventV1(_)
        | ShipmentMessage::PushShipmentV1(_) => crate::ports::CallPriority::Push,
        ShipmentMessage::ErpOrderV1(_) | ShipmentMessage::StockResyncV1(_) => crate::ports::CallPriority::Background,
    }
}

fn upgrade(message: ShipmentMessage) -> Result<ShipmentMessage, PushError> {
    match message {
        ShipmentMessage::WebhookEventV1(legacy) => registry::legacy_webhook_event(&legacy.event, &legacy.payload)
            .map(|event| ShipmentMessage::WebhookEventV2(WebhookEvent { dedupe_key: legacy.dedupe_key.clone(), event }))
            .map_err(|e| PushError::Unprocessable(format!("event {}: {e}", legacy.dedupe_key))),
        other => Ok(other),
    }
}

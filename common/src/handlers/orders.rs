//! The order-pull and order-import handlers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::{error, info, warn};

use super::MappingCache;
use crate::aws::{process_batch, Envelope};
use crate::error::{Classify, ErrorClass};
use crate::flows::{
    import_order, pull_connection, ImportContext, ImportError, LogRecorder, OrderMessage, PullContext, PullError,
    PullReport,
};
use crate::mapping::SalesOrderDraft;
use crate::model::ConnectionId;
use crate::ports::{
    Acknowledgement, Clock, ConnectorLog, Direction, Ledger, LogGroup, LogResult, OrderSink, OrderSource, Queue,
};

/// One sales-channel connection.
pub struct ChannelEntry {
    pub source: Arc<dyn OrderSource>,
    /// Name the connection's mapping is stored under.
    pub mapping_name: String,
    pub enabled: bool,
}

/// Everything the order functions share, built once per cold start.
pub struct OrdersApp {
    pub ledger: Arc<dyn Ledger>,
    pub log: Arc<dyn ConnectorLog>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub channels: BTreeMap<ConnectionId, ChannelEntry>,
    pub sink: Arc<dyn OrderSink<Draft = SalesOrderDraft>>,
    pub mappings: MappingCache,
    /// See `PullContext::enqueued_ttl`.
    pub enqueued_ttl: Duration,
    /// Orders of one SQS batch imported at once (the ERP's concurrent-request limit bounds it).
    pub import_concurrency: usize,
    /// How far an import claim's lease reaches past the invocation's own deadline (and its
    /// margin). The claim must outlive the invocation: if it lapsed while the holder was still
    /// in a vendor call or writing its binding (a call started just before the deadline, clock
    /// skew between hosts), a redelivery could claim the order and import it a second time.
    /// Production uses 30 s; the chaos harness shortens it so killed invocations free their
    /// claims within seconds.
    pub lease_slack: Duration,
}

/// Margin kept before the Lambda deadline for bookkeeping after the last vendor call.
pub(super) const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

pub fn deadline_from(remaining: Duration) -> Instant {
    Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN)
}

/// A failure of a message that is not about the order itself.
#[derive(Debug, thiserror::Error)]
enum MessageError {
    #[error("message names connection {0:?}, which is not configured (or disabled) in this deployment")]
    UnknownConnection(String),
    #[error(transparent)]
    Mapping(#[from] super::MappingLoadError),
    #[error(transparent)]
    Import(#[from] ImportError),
}

impl Classify for MessageError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownConnection(_) => ErrorClass::Permanent,
            Self::Mapping(e) => e.class(),
            Self::Import(e) => e.class(),
        }
    }
}

impl OrdersApp {
    /// Pulls every enabled connection concurrently (each has its own vendor budget).
    pub async fn run_pull(&self, deadline: Instant) -> Vec<(ConnectionId, Result<PullReport, PullError>)> {
        let pulls = self.channels.iter().filter(|(_, c)| c.enabled).map(|(id, channel)| async move {
            let mapping_version = match self.mappings.get(self.ledger.as_ref(), &channel.mapping_name).await {
                Ok(mapping) => mapping.version,
                Err(e) => {
                    // Without a mapping nothing can import; pulling would only queue failures.
                    error!(connection = %id, error = %e, "No usable mapping; skipping the pull of this connection.");
                    let recorder = LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() };
                    let action = recorder.start(id, LogGroup::Orders, "pull_page", Direction::Import, "start");
                    recorder.finish(action, LogResult::Failure, e.to_string()).await;
                    return (id.clone(), Ok(PullReport::default()));
                }
            };
            let ctx = PullContext {
                ledger: self.ledger.as_ref(),
                queue: self.queue.as_ref(),
                log: self.log.as_ref(),
                clock: self.clock.as_ref(),
                mapping_version,
                enqueued_ttl: self.enqueued_ttl,
                deadline,
            };
            (id.clone(), pull_connection(channel.source.as_ref(), &ctx).await)
        });
        futures::future::join_all(pulls).await
    }

    /// Imports one SQS batch; acknowledges the imported orders per connection in bulk afterwards.
    pub async fn run_import_batch(&self, event: SqsEvent, deadline: Instant, request_id: &str) -> SqsBatchResponse {
        let acks: Mutex<Vec<(ConnectionId, Acknowledgement)>> = Mutex::new(Vec::new());
        let lease = deadline.saturating_duration_since(Instant::now()) + DEADLINE_MARGIN + self.lease_slack;
        let response = process_batch(event, self.import_concurrency, |envelope: Envelope<OrderMessage>, meta| {
            let acks = &acks;
            async move {
                let OrderMessage::ImportOrderV1(message) = envelope.body;
                let channel = self
                    .channels
                    .get(&message.connection)
                    .ok_or_else(|| MessageError::UnknownConnection(message.connection.to_string()))?;
                let mapping = self.mappings.get(self.ledger.as_ref(), &channel.mapping_name).await?;
                let ctx = ImportContext {
                    ledger: self.ledger.as_ref(),
                    log: self.log.as_ref(),
                    clock: self.clock.as_ref(),
                    sink: self.sink.as_ref(),
                    mapping: &mapping,
                    owner: format!("{request_id}/{}", meta.message_id),
                    lease,
                };
                let outcome = import_order(channel.source.as_ref(), &message, &ctx).await?;
                if let Ok(mut acks) = acks.lock() {
                    acks.push((message.connection.clone(), outcome.acknowledgement(message.order.id())));
                }
                Ok::<(), MessageError>(())
            }
        })
        .await;
        self.acknowledge(acks.into_inner().unwrap_or_default()).await;
        self.sink.end_session().await;
        response
    }

    /// Acknowledges in bulk per connection. A failure here loses nothing: the order is bound, and
    /// the next pull lists it again and re-acknowledges it.
    async fn acknowledge(&self, acks: Vec<(ConnectionId, Acknowledgement)>) {
        let mut by_connection: BTreeMap<ConnectionId, Vec<Acknowledgement>> = BTreeMap::new();
        for (connection, ack) in acks {
            by_connection.entry(connection).or_default().push(ack);
        }
        let recorder = LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() };
        for (connection, acks) in by_connection {
            let Some(channel) = self.channels.get(&connection) else { continue };
            let ids: Vec<String> = acks
                .iter()
                .map(|a| match a {
                    Acknowledgement::Imported { order, .. } | Acknowledgement::Failed { order, .. } => {
                        order.to_string()
                    }
                })
                .collect();
            let action = recorder.start(&connection, LogGroup::Orders, "acknowledge", Direction::Export, ids.join(","));
            match channel.source.acknowledge(&acks).await {
                Ok(missed) if missed.is_empty() => {
                    info!(connection = %connection, count = acks.len(), "Orders acknowledged in the channel.");
                    recorder.finish(action, LogResult::Success, format!("{} orders acknowledged.", acks.len())).await;
                }
                Ok(missed) => {
                    warn!(connection = %connection, missed = missed.len(), "Channel did not apply every acknowledgement; the next pull retries them.");
                    let missed: Vec<String> = missed.iter().map(ToString::to_string).collect();
                    recorder
                        .finish(
                            action,
                            LogResult::Retry,
                            format!("Not applied: {}; the next pull retries.", missed.join(",")),
                        )
                        .await;
                }
                Err(e) => {
                    warn!(connection = %connection, error = %e, "Acknowledgement failed; the next pull retries it.");
                    recorder.finish(action, LogResult::Retry, format!("Failed ({e}); the next pull retries.")).await;
                }
            }
        }
    }
}

/// The result of one scheduled pull, returned by the Lambda and printed by the demo.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullSummary {
    pub connections: Vec<ConnectionPull>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionPull {
    pub connection: ConnectionId,
    pub report: Option<PullReport>,
    pub error: Option<String>,
    pub retryable: bool,
}

impl From<Vec<(ConnectionId, Result<PullReport, PullError>)>> for PullSummary {
    fn from(results: Vec<(ConnectionId, Result<PullReport, PullError>)>) -> Self {
        let connections = results
            .into_iter()
            .map(|(connection, result)| match result {
                Ok(report) => ConnectionPull { connection, report: Some(report), error: None, retryable: false },
                Err(e) => {
                    let text = crate::aws::ErrorChain(&e).to_string();
                    error!(connection = %connection, error = %text, "Order pull failed.");
                    ConnectionPull { connection, report: None, error: Some(text), retryable: e.is_retryable() }
                }
            })
            .collect();
        Self { connections }
    }
}

/// The pull failed for at least one connection; the message names each.
#[derive(Debug, thiserror::Error)]
#[error("order pull failed for {0}")]
pub struct PullFailed(pub String);

impl PullSummary {
    /// The summary as the Lambda's result: an error when any connection failed, so the function's
    /// error metric and alarm see it (the other connections' progress is saved regardless).
    pub fn into_result(self) -> Result<serde_json::Value, PullFailed> {
        let failed: Vec<String> = self
            .connections
            .iter()
            .filter_map(|c| c.error.as_ref().map(|e| format!("{}: {e}", c.connection)))
            .collect();
        if failed.is_empty() {
            Ok(serde_json::to_value(&self).unwrap_or_default())
        } else {
            Err(PullFailed(failed.join("; ")))
        }
    }
}

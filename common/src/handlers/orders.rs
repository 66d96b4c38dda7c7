//! The order-pull and order-import handlers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use tracing::error;

use super::MappingCache;
use crate::aws::process_batch;
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::flows::{
    acknowledge, backfill_page_message, backfill_step, import_customer, import_order, prefetch_customers,
    pull_connection, pull_customers, AckRound, BackfillContext, BackfillError, BackfillPage, BindingsReadOnce,
    CustomerError, CustomerImportContext, CustomerPullContext, ImportContext, ImportError, ImportOrder, ImportOutcome,
    LogRecorder, OrderMessage, PullContext, PullError, PullReport, BACKFILL_ENQUEUED_TTL,
};
use crate::mapping::SalesOrderDraft;
use crate::metrics::{self, OrderResult};
use crate::model::{ChannelOrderId, ConnectionId, ImportKey, Order};
use crate::ports::{
    Acknowledgement, BackfillJobs, BackfillStatus, Clock, ConnectorLog, CustomerBindings, CustomerSource, Direction,
    Envelope, ErpCustomerWrites, FollowedOrders, Ledger, ListedOrder, LogGroup, LogResult, OrderSink, OrderSource,
    Queue, SharedBudgets,
};

/// Orders read ahead of their imports, by connection and channel order id.
type ReadAhead = HashMap<(ConnectionId, ChannelOrderId), Box<Order>>;

/// One sales-channel connection orders are pulled from.
pub struct ChannelEntry {
    pub source: Arc<dyn OrderSource>,
    /// Name the connection's mapping is stored under.
    pub mapping_name: String,
    pub enabled: bool,
    /// Charges or personal-data retention are configured: imported orders are followed.
    pub follows_orders: bool,
    /// Where the connection's customer accounts are listed, when they are imported.
    pub customers: Option<Arc<dyn CustomerSource>>,
}

/// What order-pull holds, built once per cold start: the channels and the state store, no ERP.
pub struct PullApp {
    pub ledger: Arc<dyn Ledger>,
    pub log: Arc<dyn ConnectorLog>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub channels: BTreeMap<ConnectionId, ChannelEntry>,
    pub mappings: MappingCache,
    /// See `PullContext::enqueued_ttl`.
    pub enqueued_ttl: Duration,
    /// The vendor accounts' rate budgets every container shares (None: this container's own).
    pub budgets: Option<Arc<dyn SharedBudgets>>,
}

/// What order-import holds, built once per cold start.
pub struct ImportApp {
    pub ledger: Arc<dyn Ledger>,
    pub log: Arc<dyn ConnectorLog>,
    pub clock: Arc<dyn Clock>,
    pub channels: BTreeMap<ConnectionId, ChannelEntry>,
    pub sink: Arc<dyn OrderSink<Draft = SalesOrderDraft>>,
    /// Where customer accounts are written in the ERP.
    pub customer_writes: Arc<dyn ErpCustomerWrites>,
    pub mappings: MappingCache,
    /// Orders of one SQS batch imported at once (the ERP's concurrent-request limit bounds it).
    pub import_concurrency: usize,
    /// How far an import claim's lease reaches past the invocation's own deadline (and its
    /// margin). The claim must outlive the invocation: if it lapsed while the holder was still
    /// in a vendor call or writing its binding (a call started just before the deadline, clock
    /// skew between hosts), a redelivery could claim the order and import it a second time.
    /// Production uses 30 s; the chaos harness shortens it so killed invocations free their
    /// claims within seconds.
    pub lease_slack: Duration,
    /// The vendor accounts' rate budgets every container shares (None: this container's own).
    pub budgets: Option<Arc<dyn SharedBudgets>>,
    /// Backfill pages run from the queue (`backfill_page.v1`); None when the function has no
    /// orders queue to send to (`ORDERBRIDGE_ORDERS_QUEUE_URL` unset), and such a message fails.
    pub backfills: Option<Backfills>,
}

/// What order-import needs to run backfill pages from the orders queue.
pub struct Backfills {
    pub jobs: Arc<dyn BackfillJobs>,
    /// The orders queue: backfilled orders and the next page's message go there.
    pub queue: Arc<dyn Queue>,
}

/// Margin kept before the Lambda deadline for bookkeeping after the last vendor call.
pub(super) const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

pub fn deadline_from(remaining: Duration) -> Instant {
    Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN)
}

/// A failure of a message that is not about the order itself.
#[derive(Debug, thiserror::Error)]
enum MessageError {
    #[error("message names connection {0:?}, which is not configured in this deployment")]
    UnknownConnection(String),
    #[error(transparent)]
    Mapping(#[from] super::MappingLoadError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Customer(#[from] CustomerError),
    #[error(transparent)]
    Backfill(#[from] BackfillError),
    #[error("a backfill page arrived, but order-import has no orders queue to send to: set ORDERBRIDGE_ORDERS_QUEUE_URL (and allow sqs:SendMessage on it)")]
    NoBackfillQueue,
}

impl Classify for MessageError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownConnection(_) => ErrorClass::Permanent,
            Self::Mapping(e) => e.class(),
            Self::Import(e) => e.class(),
            Self::Customer(e) => e.class(),
            Self::Backfill(e) => e.class(),
            Self::NoBackfillQueue => ErrorClass::Permanent,
        }
    }
}

impl PullApp {
    fn budget_scope(&self, priority: crate::ports::CallPriority) -> Option<crate::http::BudgetScope> {
        super::budget_scope(self.budgets.as_ref(), &self.clock, priority)
    }

    fn recorder(&self) -> LogRecorder<'_> {
        LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() }
    }

    /// Pulls every enabled connection concurrently (each has its own vendor budget).
    pub async fn run_pull(&self, deadline: Instant) -> Vec<(ConnectionId, Result<PullReport, PullError>)> {
        crate::http::with_budget(self.budget_scope(crate::ports::CallPriority::Import), self.pull_enabled(deadline))
            .await
    }

    async fn pull_enabled(&self, deadline: Instant) -> Vec<(ConnectionId, Result<PullReport, PullError>)> {
        let pulls = self
            .channels
            .iter()
            .filter(|(_, c)| c.enabled)
            .map(|(id, channel)| async move { (id.clone(), self.pull_channel(id, channel, deadline).await) });
        futures::future::join_all(pulls).await
    }

    /// Pulls one connection's orders (and its customer accounts, when it imports them) with the
    /// mapping version in force; without a usable mapping nothing is pulled (logged, not failed).
    /// The scheduled pull and the operator's "run now" both come here.
    pub async fn pull_channel(
        &self,
        id: &ConnectionId,
        channel: &ChannelEntry,
        deadline: Instant,
    ) -> Result<PullReport, PullError> {
        let mapping_version = match self.mappings.get(self.ledger.as_ref(), &channel.mapping_name).await {
            Ok(mapping) => mapping.version,
            Err(e) => {
                // Without a mapping nothing can import; pulling would only queue failures.
                error!(connection = %id, error = %e, "No usable mapping; skipping the pull of this connection.");
                let recorder = self.recorder();
                let action = recorder.start(id, LogGroup::Orders, "pull_page", Direction::Import, "start");
                recorder.finish(action, LogResult::Failure, e.to_string()).await;
                return Ok(PullReport::default());
            }
        };
        let ctx = PullContext {
            claims: self.ledger.as_ref(),
            bindings: self.ledger.as_ref(),
            cursors: self.ledger.as_ref(),
            markers: self.ledger.as_ref(),
            queue: self.queue.as_ref(),
            log: self.log.as_ref(),
            clock: self.clock.as_ref(),
            mapping_version,
            enqueued_ttl: self.enqueued_ttl,
            deadline,
        };
        let mut result = pull_connection(channel.source.as_ref(), &ctx).await;
        // Customer accounts after the orders (orders first under a short deadline); a failed
        // customer pull is logged and retried next time, never failing the order pull.
        if let Some(customers) = &channel.customers {
            let ctx = CustomerPullContext {
                cursors: self.ledger.as_ref(),
                markers: self.ledger.as_ref(),
                queue: self.queue.as_ref(),
                log: self.log.as_ref(),
                clock: self.clock.as_ref(),
                enqueued_ttl: self.enqueued_ttl,
                deadline,
            };
            match pull_customers(customers.as_ref(), &ctx).await {
                Ok(report) => {
                    if let Ok(r) = result.as_mut() {
                        r.customers_enqueued = report.enqueued;
                    }
                }
                Err(e) => {
                    error!(connection = %id, error = %ErrorChain(&e), "Customer pull failed; the next run resumes from its cursor.")
                }
            }
        }
        if let Ok(report) = &result {
            metrics::record_orders_seen(id, u64::from(report.listed));
        }
        result
    }
}

impl ImportApp {
    fn budget_scope(&self, priority: crate::ports::CallPriority) -> Option<crate::http::BudgetScope> {
        super::budget_scope(self.budgets.as_ref(), &self.clock, priority)
    }

    /// One page of a backfill job, then the message for the next page. A message for a page the
    /// job has gone past is a duplicate (or a redelivery after its step was saved): it only sends
    /// the next page's message again when the job is exactly one page further, so a crash
    /// between saving the step and sending the next message does not stop the job; each step
    /// is saved conditionally, so a duplicate never counts a page twice.
    async fn backfill_page(&self, page: &BackfillPage) -> Result<(), MessageError> {
        let backfills = self.backfills.as_ref().ok_or(MessageError::NoBackfillQueue)?;
        let job = backfills
            .jobs
            .backfill(&page.job_id)
            .await
            .map_err(BackfillError::from)?
            .ok_or_else(|| BackfillError::UnknownJob(page.job_id.clone()))?;
        if job.status != BackfillStatus::Running || job.pages > page.pages + 1 {
            return Ok(());
        }
        let job = if job.pages == page.pages {
            let channel = self
                .channels
                .get(&job.connection)
                .ok_or_else(|| MessageError::UnknownConnection(job.connection.to_string()))?;
            let ctx = BackfillContext {
                jobs: backfills.jobs.as_ref(),
                bindings: self.ledger.as_ref(),
                markers: self.ledger.as_ref(),
                queue: backfills.queue.as_ref(),
                log: self.log.as_ref(),
                clock: self.clock.as_ref(),
                enqueued_ttl: BACKFILL_ENQUEUED_TTL,
            };
            let after = backfill_step(channel.source.as_ref(), &job.id, &ctx).await?;
            if after.pages != page.pages + 1 {
                // Another driver saved this page first; it sends the next message.
                return Ok(());
            }
            after
        } else {
            job
        };
        if job.status == BackfillStatus::Running {
            let message = backfill_page_message(&job, self.clock.now()).map_err(BackfillError::from)?;
            let sent = backfills.queue.send(vec![message]).await.map_err(BackfillError::from)?;
            if let Some((id, reason)) = sent.failed.first() {
                return Err(BackfillError::NotEnqueued { count: 1, first: format!("{id}: {reason}") }.into());
            }
        }
        Ok(())
    }

    /// One customer account change into the ERP, with the connection's mapping (customer class,
    /// id prefix).
    async fn import_customer_message(
        &self,
        message: &crate::flows::ImportCustomer,
        lease: Duration,
        request_id: &str,
        message_id: &str,
    ) -> Result<(), MessageError> {
        let connection = crate::flows::customer_connection(message);
        let channel =
            self.channels.get(connection).ok_or_else(|| MessageError::UnknownConnection(connection.to_string()))?;
        if !channel.enabled {
            tracing::info!(connection = %connection, "Connection is disabled; customer change not imported (listed again once enabled).");
            return Ok(());
        }
        let mapping = self.mappings.get(self.ledger.as_ref(), &channel.mapping_name).await?;
        let ctx = CustomerImportContext {
            claims: self.ledger.as_ref(),
            bindings: self.ledger.as_ref(),
            log: self.log.as_ref(),
            clock: self.clock.as_ref(),
            sink: self.sink.as_ref(),
            writes: self.customer_writes.as_ref(),
            mapping: &mapping,
            owner: format!("{request_id}/{message_id}"),
            lease,
        };
        import_customer(message, &ctx).await?;
        Ok(())
    }

    /// Imports one SQS batch; acknowledges the imported orders per connection in bulk afterwards.
    pub async fn run_import_batch(&self, event: SqsEvent, deadline: Instant, request_id: &str) -> SqsBatchResponse {
        crate::http::with_budget(
            self.budget_scope(crate::ports::CallPriority::Import),
            self.import_batch(event, deadline, request_id),
        )
        .await
    }

    /// The batch's orders a channel listed as references (it has no bulk read), read all at once
    /// before the imports start, so their buyers join the batch's customer prefetch and the reads
    /// overlap instead of each waiting inside its own import. An order not read here (a read
    /// failed, or its connection is disabled) stays a reference: its import reads it and handles
    /// the failure as it always has.
    async fn read_ahead(&self, event: &SqsEvent) -> ReadAhead {
        let mut references = Vec::new();
        for record in &event.records {
            let Ok(envelope) = Envelope::<OrderMessage>::parse("", record.body.as_deref()) else { continue };
            if let OrderMessage::ImportOrderV1(ImportOrder {
                connection,
                order: ListedOrder::Reference { id, .. },
                announced: false,
            }) = envelope.body
            {
                let enabled = self.channels.get(&connection).is_some_and(|c| c.enabled);
                if enabled && !references.iter().any(|(c, i, _)| *c == connection && *i == id) {
                    references.push((connection, id, envelope.correlation_id));
                }
            }
        }
        futures::stream::iter(references)
            .map(|(connection, id, correlation_id)| async move {
                let channel = self.channels.get(&connection)?;
                let span = tracing::info_span!("read_ahead", correlation_id = %correlation_id);
                match tracing::Instrument::instrument(channel.source.fetch_order(&id), span).await {
                    Ok(order) => Some(((connection, id), Box::new(order))),
                    Err(e) => {
                        tracing::info!(connection = %connection, order = %id, error = %ErrorChain(&e), "Order not read ahead; its import reads it.");
                        None
                    }
                }
            })
            .buffer_unordered(self.import_concurrency.max(1))
            .filter_map(|read| async move { read })
            .collect()
            .await
    }

    /// The customers of the batch's whole orders (read ahead included), looked up in the ERP ahead
    /// in one request (announced orders are read during their import, so they look up alone).
    async fn prefetch_customers(&self, event: &SqsEvent, read: &ReadAhead, buyers: &BindingsReadOnce<'_>) {
        let mut orders = Vec::new();
        for record in &event.records {
            let Ok(envelope) = Envelope::<OrderMessage>::parse("", record.body.as_deref()) else { continue };
            if let OrderMessage::ImportOrderV1(ImportOrder { connection, order, announced: false }) = envelope.body {
                match order {
                    ListedOrder::Whole(order) => orders.push((connection, order)),
                    ListedOrder::Reference { id, .. } => {
                        if let Some(order) = read.get(&(connection.clone(), id)) {
                            orders.push((connection, order.clone()));
                        }
                    }
                }
            }
        }
        let mut mappings = BTreeMap::new();
        for (connection, _) in &orders {
            let Some(channel) = self.channels.get(connection).filter(|c| c.enabled) else { continue };
            if !mappings.contains_key(connection) {
                if let Ok(mapping) = self.mappings.get(self.ledger.as_ref(), &channel.mapping_name).await {
                    mappings.insert(connection.clone(), mapping);
                }
            }
        }
        let batch: Vec<_> = orders
            .iter()
            .filter_map(|(connection, order)| {
                mappings.get(connection).map(|mapping| (connection, mapping.as_ref(), order.as_ref()))
            })
            .collect();
        prefetch_customers(self.sink.as_ref(), Some(buyers), &batch).await;
    }

    async fn import_batch(&self, event: SqsEvent, deadline: Instant, request_id: &str) -> SqsBatchResponse {
        // With the message each came from: a failed acknowledgement redelivers its message.
        let acks: Mutex<Vec<(ConnectionId, Acknowledgement, String)>> = Mutex::new(Vec::new());
        let lease = deadline.saturating_duration_since(Instant::now()) + DEADLINE_MARGIN + self.lease_slack;
        let recorder = LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() };
        // The prefetch reads each buyer's binding; the imports read them again from here.
        let buyers = BindingsReadOnce::new(self.ledger.as_ref());
        let read = self.read_ahead(&event).await;
        self.prefetch_customers(&event, &read, &buyers).await;
        let mut response = process_batch(event, self.import_concurrency, |envelope: Envelope<OrderMessage>, meta| {
            let (acks, recorder, buyers, read) = (&acks, &recorder, &buyers, &read);
            async move {
                let enqueued_at = Some(envelope.sent_at);
                let mut message = match envelope.body {
                    OrderMessage::ImportOrderV1(message) => message,
                    OrderMessage::ImportCustomerV1(message) => {
                        return self.import_customer_message(&message, lease, request_id, &meta.message_id).await;
                    }
                    OrderMessage::BackfillPageV1(page) => return self.backfill_page(&page).await,
                };
                let channel = self
                    .channels
                    .get(&message.connection)
                    .ok_or_else(|| MessageError::UnknownConnection(message.connection.to_string()))?;
                if !channel.enabled {
                    // Not imported, and not lost: the order is still unexported in the channel, so
                    // the pull lists it again once the connection is enabled.
                    let key = ImportKey::new(message.connection.clone(), message.order.id().clone());
                    let action = recorder
                        .start(
                            &message.connection,
                            LogGroup::Orders,
                            "import_order",
                            Direction::Import,
                            key.import_id(),
                        )
                        .correlated(&key.correlation_id());
                    recorder
                        .finish(action, LogResult::Skipped, "Connection is disabled (enabled = false); not imported.")
                        .await;
                    metrics::record_order(&message.connection, OrderResult::Skipped);
                    return Ok(());
                }
                if let (ListedOrder::Reference { id, .. }, false) = (&message.order, message.announced) {
                    if let Some(order) = read.get(&(message.connection.clone(), id.clone())) {
                        message.order = ListedOrder::Whole(order.clone());
                    }
                }
                let mapping = self.mappings.get(self.ledger.as_ref(), &channel.mapping_name).await?;
                let ctx = ImportContext {
                    claims: self.ledger.as_ref(),
                    bindings: self.ledger.as_ref(),
                    markers: self.ledger.as_ref(),
                    log: self.log.as_ref(),
                    clock: self.clock.as_ref(),
                    sink: self.sink.as_ref(),
                    mapping: &mapping,
                    owner: format!("{request_id}/{}", meta.message_id),
                    lease,
                    follow: channel.follows_orders.then_some(self.ledger.as_ref() as &dyn FollowedOrders),
                    enqueued_at,
                    buyers: Some(buyers as &dyn CustomerBindings),
                };
                let outcome = import_order(channel.source.as_ref(), &message, &ctx).await?;
                record_import(&message.connection, &outcome, self.clock.now());
                if let (Ok(mut acks), Some(ack)) =
                    (acks.lock(), outcome.acknowledgement(message.order.id(), message.order.digest()))
                {
                    acks.push((message.connection.clone(), ack, meta.message_id.clone()));
                }
                Ok::<(), MessageError>(())
            }
        })
        .await;
        let mut by_connection: BTreeMap<ConnectionId, Vec<(Acknowledgement, String)>> = BTreeMap::new();
        for (connection, ack, message_id) in acks.into_inner().unwrap_or_default() {
            by_connection.entry(connection).or_default().push((ack, message_id));
        }
        for (connection, entries) in by_connection {
            let Some(channel) = self.channels.get(&connection) else { continue };
            let acks: Vec<Acknowledgement> = entries.iter().map(|(a, _)| a.clone()).collect();
            let missed = acknowledge(channel.source.as_ref(), &acks, AckRound::AfterImport, &recorder).await;
            // The import is done (its claim complete); only the acknowledgement is redelivered.
            for (ack, message_id) in entries.iter().filter(|(a, _)| missed.contains(a.order())) {
                if !response.batch_item_failures.iter().any(|f| f.item_identifier == *message_id) {
                    tracing::info!(connection = %connection, order = %ack.order(), message = %message_id, "Message redelivered for its acknowledgement.");
                    let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
                    failure.item_identifier = message_id.clone();
                    response.batch_item_failures.push(failure);
                }
            }
        }
        self.sink.end_session().await;
        response
    }
}

/// Counts one final import outcome the way the connector log records it (so the metrics and the
/// console's figures agree), and the channel-to-ERP latency of an order created now.
fn record_import(connection: &ConnectionId, outcome: &ImportOutcome, now: chrono::DateTime<chrono::Utc>) {
    let result = match outcome {
        ImportOutcome::Created { .. } | ImportOutcome::Recovered(_) | ImportOutcome::Revised(_) => {
            OrderResult::Imported
        }
        ImportOutcome::Failed(_) => OrderResult::Failed,
        ImportOutcome::AlreadyImported(_)
        | ImportOutcome::Published(_)
        | ImportOutcome::NotRevised(..)
        | ImportOutcome::Skipped(_)
        | ImportOutcome::NotWaiting(_) => OrderResult::Skipped,
    };
    metrics::record_order(connection, result);
    if let ImportOutcome::Created { placed_at, .. } = outcome {
        // A placed time ahead of our clock (skew) has no latency worth reporting.
        if let Ok(latency) = (now - *placed_at).to_std() {
            metrics::record_order_latency(connection, latency);
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
                    let text = ErrorChain(&e).to_string();
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
            .filter_map(|c| match (&c.error, &c.report) {
                (Some(e), _) => Some(format!("{}: {e}", c.connection)),
                // Started with no time left: nothing was read, which is no success.
                (None, Some(r)) if r.out_of_time => {
                    Some(format!("{}: the deadline passed before the first page was read", c.connection))
                }
                _ => None,
            })
            .collect();
        if failed.is_empty() {
            Ok(serde_json::to_value(&self).unwrap_or_default())
        } else {
            Err(PullFailed(failed.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use async_trait::async_trait;
    use aws_lambda_events::event::sqs::SqsMessage;
    use chrono::Utc;

    use super::*;
    use crate::flows::ImportOrder;
    use crate::model::{ChannelOrderId, Customer, ErpCustomerId, ErpItemId, ErpOrderRef, IdentifierKind, Order};
    use crate::ports::{ConnectorError, CustomerLookup, ListedOrder, LogResult, OrderPage, PageToken};
    use crate::testing::{ManualClock, MemoryLedger, MemoryLog};

    /// A channel or ERP that must not be called.
    struct Untouchable(ConnectionId);

    #[async_trait]
    impl OrderSource for Untouchable {
        fn connection(&self) -> &ConnectionId {
            &self.0
        }
        async fn list_new_orders(&self, _: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
            unreachable!("a disabled connection is not listed")
        }
        async fn fetch_order(&self, _: &ChannelOrderId) -> Result<Order, ConnectorError> {
            unreachable!("a disabled connection's order is not fetched")
        }
        async fn acknowledge(&self, _: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
            unreachable!("nothing is acknowledged for a disabled connection")
        }
    }

    #[async_trait]
    impl OrderSink for Untouchable {
        type Draft = SalesOrderDraft;
        fn derive_customer_id(&self, _: &str, _: &Customer) -> Option<ErpCustomerId> {
            unreachable!("no customer is resolved for a disabled connection")
        }
        async fn find_by_import_id(&self, _: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
            unreachable!("no ERP lookup for a disabled connection")
        }
        async fn create_order(&self, _: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
            unreachable!("no ERP order for a disabled connection")
        }
        async fn find_customer(&self, _: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
            unreachable!()
        }
        async fn create_customer(
            &self,
            _: &ErpCustomerId,
            _: &Customer,
            _: &Order,
            _: Option<&str>,
        ) -> Result<ErpCustomerId, ConnectorError> {
            unreachable!()
        }
        async fn resolve_item(&self, _: IdentifierKind, _: &str) -> Result<Option<ErpItemId>, ConnectorError> {
            unreachable!()
        }
    }

    #[async_trait]
    impl crate::ports::ErpCustomerWrites for Untouchable {
        async fn create_customer_record(
            &self,
            _: &ErpCustomerId,
            _: &crate::model::ChannelCustomer,
            _: Option<&str>,
        ) -> Result<(), ConnectorError> {
            unreachable!("no ERP customer for a disabled connection")
        }
        async fn update_customer_record(
            &self,
            _: &ErpCustomerId,
            _: &crate::model::ChannelCustomer,
            _: Option<&str>,
        ) -> Result<(), ConnectorError> {
            unreachable!("no ERP customer for a disabled connection")
        }
    }

    #[test]
    fn a_pull_that_read_nothing_for_lack_of_time_is_no_success() {
        let connection = ConnectionId::parse("sc-main").unwrap();
        let starved = PullReport { out_of_time: true, ..PullReport::default() };
        let starved = PullSummary::from(vec![(connection.clone(), Ok(starved))]);
        assert!(starved.into_result().unwrap_err().to_string().contains("deadline passed"));
        let done = PullReport { pages: 1, finished: true, ..PullReport::default() };
        assert!(PullSummary::from(vec![(connection.clone(), Ok(done))]).into_result().is_ok());
        let no_mapping = PullSummary::from(vec![(connection, Ok(PullReport::default()))]);
        assert!(no_mapping.into_result().is_ok(), "a skipped connection is logged, not an out-of-time pull");
    }

    #[tokio::test]
    async fn a_queued_order_of_a_disabled_connection_is_skipped_not_imported_and_not_retried() {
        let connection = ConnectionId::parse("sc-off").unwrap();
        let log = Arc::new(MemoryLog::default());
        let app = ImportApp {
            ledger: Arc::new(MemoryLedger::default()),
            log: log.clone(),
            clock: Arc::new(ManualClock::new()),
            channels: BTreeMap::from([(
                connection.clone(),
                ChannelEntry {
                    source: Arc::new(Untouchable(connection.clone())),
                    mapping_name: "sc-off".into(),
                    enabled: false,
                    follows_orders: false,
                    customers: None,
                },
            )]),
            sink: Arc::new(Untouchable(connection.clone())),
            customer_writes: Arc::new(Untouchable(connection.clone())),
            mappings: super::super::MappingCache::new(Duration::from_secs(60)),
            import_concurrency: 1,
            lease_slack: Duration::from_secs(1),
            budgets: None,
            backfills: None,
        };
        let order = crate::model::fixtures::order();
        let key = ImportKey::new(connection.clone(), order.channel_order_id.clone());
        let message = OrderMessage::ImportOrderV1(ImportOrder {
            connection: connection.clone(),
            order: ListedOrder::Whole(Box::new(order)),
            announced: false,
        });
        let mut record = SqsMessage::default();
        record.message_id = Some("m1".into());
        record.body = Some(serde_json::to_string(&Envelope::new(message, Utc::now())).unwrap());
        record.attributes = HashMap::from([("ApproximateReceiveCount".to_string(), "1".to_string())]);
        let mut event = SqsEvent::default();
        event.records = vec![record];

        let response = app.run_import_batch(event, deadline_from(Duration::from_secs(30)), "req").await;

        assert!(response.batch_item_failures.is_empty(), "the message is done, not redelivered");
        let entries = log.0.lock().unwrap().clone();
        let skipped: Vec<_> = entries.iter().filter(|e| e.entity_id == key.import_id()).collect();
        assert_eq!(skipped.len(), 1, "{entries:?}");
        assert_eq!(skipped[0].result, LogResult::Skipped);
        assert!(skipped[0].notes.contains("enabled = false"), "{}", skipped[0].notes);
        assert_eq!(skipped[0].correlation_id.as_deref(), Some(key.correlation_id().as_str()));
    }
}

//! Customer accounts from a channel into the ERP, as orders go: the pull lists accounts changed
//! since its watermark and enqueues one message each; the import creates or updates the ERP
//! customer exactly once per change.
//!
//! Import, per account change (claim `CUSTOMER#<connection>#<id>@<updated_at>`): the ERP customer
//! is the bound one, else the one with the account's email, else the id Orderbridge derives for
//! the account (found there when an earlier attempt created it and died before binding), else
//! a new one under that id → update or create → bind → complete. A redelivery finds the claim
//! completed and writes nothing.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{failure_reason, LogRecorder};
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::mapping::Mapping;
use crate::model::{ChannelCustomer, ConnectionId, ErpCustomerId};
use crate::ports::{
    ClaimKey, ClaimLease, ClaimOutcome, Claims, Clock, ConnectorError, ConnectorLog, Cursors, CustomerBindings,
    CustomerLookup, CustomerSource, Direction, Envelope, ErpCustomerWrites, LedgerError, LogGroup, LogResult, Markers,
    OrderSink, PageToken, Queue, QueueError,
};

/// The cursor stream of the customer pull, per connection.
pub const CUSTOMERS_STREAM: &str = "customers";

/// Import one channel customer account (one change of it) into the ERP.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportCustomer {
    pub customer: ChannelCustomer,
}

impl ImportCustomer {
    fn claim_key(&self) -> ClaimKey {
        let c = &self.customer;
        ClaimKey::other(
            "CUSTOMER",
            &format!("{}#{}@{}", c.connection, c.channel_customer_id, c.updated_at.timestamp_micros()),
        )
    }
}

/// What the customer pull needs.
pub struct CustomerPullContext<'a> {
    pub cursors: &'a dyn Cursors,
    pub markers: &'a dyn Markers,
    pub queue: &'a dyn Queue,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub enqueued_ttl: Duration,
    pub deadline: Instant,
}

/// Counts of one customer pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CustomerPullReport {
    pub pages: u32,
    pub listed: u32,
    pub enqueued: u32,
    pub finished: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("listing customers failed")]
    Channel(#[source] ConnectorError),
    #[error("ERP customer write failed for {what}")]
    Erp {
        what: String,
        #[source]
        source: ConnectorError,
    },
    #[error("ledger access failed")]
    Ledger(#[source] LedgerError),
    #[error("enqueueing customers failed")]
    Queue(#[source] QueueError),
    #[error("customer {key} is being imported by another worker")]
    InProgress { key: String },
    #[error("{count} customer messages were refused by SQS: {first}")]
    NotEnqueued { count: usize, first: String },
}

impl Classify for CustomerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Channel(e) | Self::Erp { source: e, .. } => e.class(),
            Self::Ledger(e) => e.class(),
            Self::Queue(e) => e.class(),
            Self::InProgress { .. } | Self::NotEnqueued { .. } => ErrorClass::RETRY,
        }
    }
}

/// Lists the connection's changed accounts and enqueues each change once.
pub async fn pull_customers(
    source: &dyn CustomerSource,
    ctx: &CustomerPullContext<'_>,
) -> Result<CustomerPullReport, CustomerError> {
    let connection = source.connection().clone();
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let cursor = ctx.cursors.cursor(&connection, CUSTOMERS_STREAM).await.map_err(CustomerError::Ledger)?;
    let mut version = cursor.as_ref().map(|c| c.version);
    let mut token = cursor.filter(|c| !c.value.is_empty()).map(|c| PageToken(c.value));
    let mut report = CustomerPullReport::default();
    while Instant::now() < ctx.deadline {
        let action = recorder.start(
            &connection,
            LogGroup::Customers,
            "pull_customers",
            Direction::Import,
            token.as_ref().map_or_else(|| "start".to_owned(), |t| t.0.clone()),
        );
        let page = match source.list_changed_customers(token.as_ref()).await {
            Ok(page) => page,
            Err(e) => {
                let result = if e.is_retryable() { LogResult::Retry } else { LogResult::Failure };
                recorder.finish(action, result, format!("Listing failed: {e}")).await;
                return Err(CustomerError::Channel(e));
            }
        };
        report.pages += 1;
        let mut messages = Vec::new();
        for customer in page.customers {
            report.listed += 1;
            let message = ImportCustomer { customer };
            let key = message.claim_key();
            if !ctx
                .markers
                .remember_once(super::ENQUEUED_SCOPE, key.as_str(), ctx.enqueued_ttl)
                .await
                .map_err(CustomerError::Ledger)?
            {
                continue;
            }
            let envelope = Envelope::new(super::OrderMessage::ImportCustomerV1(Box::new(message)), ctx.clock.now());
            let entry = format!("customer-{}", report.listed);
            messages.push(
                envelope
                    .to_outgoing(entry)
                    .map_err(|source| CustomerError::Queue(QueueError::Encode { queue: "orders".into(), source }))?,
            );
        }
        let enqueued = messages.len() as u32;
        if !messages.is_empty() {
            let sent = ctx.queue.send(messages).await.map_err(CustomerError::Queue)?;
            if let Some((id, reason)) = sent.failed.first() {
                let error = CustomerError::NotEnqueued { count: sent.failed.len(), first: format!("{id}: {reason}") };
                recorder.finish(action, LogResult::Retry, error.to_string()).await;
                return Err(error);
            }
        }
        report.enqueued += enqueued;
        recorder
            .finish(
                action,
                LogResult::Success,
                format!("Page {}: {enqueued} changed customers enqueued.", report.pages),
            )
            .await;
        let next = page.next.as_ref().or(page.restart.as_ref()).map_or("", |t| t.0.as_str()).to_owned();
        let saved = ctx
            .cursors
            .save_cursor(&connection, CUSTOMERS_STREAM, &next, version)
            .await
            .map_err(CustomerError::Ledger)?;
        version = Some(saved.version);
        match page.next {
            Some(next) => token = Some(next),
            None => {
                report.finished = true;
                break;
            }
        }
    }
    info!(connection = %connection, listed = report.listed, enqueued = report.enqueued, "Customer pull finished.");
    Ok(report)
}

/// What importing a customer needs.
pub struct CustomerImportContext<'a> {
    pub claims: &'a dyn Claims,
    pub bindings: &'a dyn CustomerBindings,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    /// The ERP's customer lookups and the id Orderbridge derives for an account.
    pub sink: &'a dyn OrderSink<Draft = crate::mapping::SalesOrderDraft>,
    pub writes: &'a dyn ErpCustomerWrites,
    pub mapping: &'a Mapping,
    pub owner: String,
    pub lease: Duration,
}

/// How a customer import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerOutcome {
    Created(ErpCustomerId),
    Updated(ErpCustomerId),
    /// This change was imported before (a redelivery).
    AlreadyDone,
    /// A permanent problem, recorded with what to fix.
    Failed(String),
}

/// Imports one account change. `Ok` is final; `Err` means "retry this message".
pub async fn import_customer(
    message: &ImportCustomer,
    ctx: &CustomerImportContext<'_>,
) -> Result<CustomerOutcome, CustomerError> {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let customer = &message.customer;
    let action = recorder.start(
        &customer.connection,
        LogGroup::Customers,
        "customer_import",
        Direction::Import,
        customer.label(),
    );
    let key = message.claim_key();
    let lease = match ctx.claims.claim(&key, &ctx.owner, ctx.lease).await.map_err(CustomerError::Ledger)? {
        ClaimOutcome::Acquired(lease) => lease,
        ClaimOutcome::Completed(_) => {
            recorder.finish(action, LogResult::Skipped, "This change was imported before.").await;
            return Ok(CustomerOutcome::AlreadyDone);
        }
        ClaimOutcome::InProgress { .. } => return Err(CustomerError::InProgress { key: key.to_string() }),
    };
    match run_claimed(message, ctx, &lease).await {
        Ok((outcome, notes)) => {
            let result = match outcome {
                CustomerOutcome::Failed(_) => LogResult::Failure,
                _ => LogResult::Success,
            };
            recorder.finish(action, result, notes).await;
            Ok(outcome)
        }
        Err(error) => {
            if let Err(e) = ctx.claims.release(&lease).await {
                warn!(key = %key, error = %e, "Releasing the customer claim failed; it frees itself when the lease expires.");
            }
            recorder.finish(action, LogResult::Retry, format!("Will retry: {}", ErrorChain(&error))).await;
            Err(error)
        }
    }
}

async fn run_claimed(
    message: &ImportCustomer,
    ctx: &CustomerImportContext<'_>,
    lease: &ClaimLease,
) -> Result<(CustomerOutcome, String), CustomerError> {
    let c = &message.customer;
    let erp_err = |source: ConnectorError| CustomerError::Erp { what: c.label(), source };
    let rules = &ctx.mapping.file.customers;
    let class = rules.customer_class.as_deref();
    let email = c.customer.email.as_deref().map(str::trim).filter(|e| e.contains('@'));

    // Which ERP customer: bound, else by email, else the derived id (an earlier attempt's).
    let mut existing =
        ctx.bindings.customer_binding(&c.connection, &c.channel_customer_id).await.map_err(CustomerError::Ledger)?;
    if existing.is_none() {
        if let Some(email) = email {
            existing = ctx.sink.find_customer(CustomerLookup::Email(email)).await.map_err(erp_err)?;
        }
    }
    let derived = ctx.sink.derive_customer_id(rules.id_prefix.get_ref(), &c.customer);
    if existing.is_none() {
        if let Some(id) = &derived {
            existing = ctx.sink.find_customer(CustomerLookup::ChannelId(id.as_str())).await.map_err(erp_err)?;
        }
    }
    let (id, outcome) = match existing {
        Some(id) => match ctx.writes.update_customer_record(&id, c, class).await {
            Ok(()) => (id.clone(), CustomerOutcome::Updated(id)),
            Err(e) if !e.is_retryable() => {
                return record_failure(ctx, lease, &format!("the ERP refused the update of {id}: {e}")).await
            }
            Err(e) => return Err(erp_err(e)),
        },
        None => {
            let Some(id) = derived else {
                return record_failure(
                    ctx,
                    lease,
                    "the account has neither an id nor an email Orderbridge can name an ERP customer by",
                )
                .await;
            };
            match ctx.writes.create_customer_record(&id, c, class).await {
                Ok(()) => (id.clone(), CustomerOutcome::Created(id)),
                Err(e) if !e.is_retryable() => {
                    return record_failure(ctx, lease, &format!("the ERP refused the new customer {id}: {e}")).await
                }
                Err(e) => return Err(erp_err(e)),
            }
        }
    };
    ctx.bindings.bind_customer(&c.connection, &c.channel_customer_id, &id).await.map_err(CustomerError::Ledger)?;
    ctx.claims.complete(lease, id.as_str()).await.map_err(CustomerError::Ledger)?;
    let verb = if matches!(outcome, CustomerOutcome::Created(_)) { "Created" } else { "Updated" };
    info!(connection = %c.connection, customer = %c.channel_customer_id, erp = %id, verb, "Customer imported.");
    Ok((outcome, format!("{verb} ERP customer {id} from account {} ({}).", c.channel_customer_id, c.customer.name)))
}

async fn record_failure(
    ctx: &CustomerImportContext<'_>,
    lease: &ClaimLease,
    reason: &str,
) -> Result<(CustomerOutcome, String), CustomerError> {
    ctx.claims.fail(lease, &failure_reason(ctx.mapping.version, reason)).await.map_err(CustomerError::Ledger)?;
    Ok((CustomerOutcome::Failed(reason.to_owned()), format!("Not imported: {reason}")))
}

/// The connection a customer message is about (for the import handler's routing).
pub fn customer_connection(message: &ImportCustomer) -> &ConnectionId {
    &message.customer.connection
}

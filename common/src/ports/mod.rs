//! The ports: traits the flows are written against. Adapters (DynamoDB, SQS, vendor clients)
//! implement them; tests implement them in memory.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    ChannelOrderId, ConnectionId, Customer, ErpCustomerId, ErpItemId, ErpOrderRef, IdentifierKind, Order, OrderStatus,
    Shipment,
};

mod backfill;
mod budgets;
mod customers;
mod envelope;
mod erp_orders;
mod errors;
mod followups;
mod operations;
mod probe;
mod queue_admin;
mod station;
mod stock;
mod tokens;
mod webhook;

pub use backfill::*;
pub use budgets::*;
pub use customers::*;
pub use envelope::{Envelope, EnvelopeError};
pub use erp_orders::*;
pub use errors::*;
pub use followups::*;
pub use operations::*;
pub use probe::Probe;
pub use queue_admin::*;
pub use station::*;
pub use stock::*;
pub use tokens::*;
pub use webhook::*;

/// The time, so cursors, leases and expiry are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

// ---------------------------------------------------------------------------------------------
// Ledger: exactly-once bookkeeping in DynamoDB.
// ---------------------------------------------------------------------------------------------

/// A key that an effect is claimed under, namespaced by the kind of effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimKey(String);

impl ClaimKey {
    /// The import of one channel order into the ERP.
    pub fn import(key: &crate::model::ImportKey) -> Self {
        Self(format!("IMPORT#{}", key.ledger_key()))
    }

    /// The push of one shipment package to one channel order.
    pub fn push(connection: &ConnectionId, push_key: &str) -> Self {
        Self(format!("PUSH#{connection}#{push_key}"))
    }

    /// Any other effect, for adapters' own tests and future flows.
    pub fn other(namespace: &str, key: &str) -> Self {
        Self(format!("{namespace}#{key}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClaimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    InProgress,
    Completed,
    Failed,
}

/// Proof of holding a claim: completing or failing it is fenced on `owner`, so a worker whose
/// lease expired and was taken over cannot overwrite the new holder's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLease {
    pub key: ClaimKey,
    pub owner: String,
    pub attempt: u32,
    pub lease_until: DateTime<Utc>,
}

/// The stored state of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    pub key: ClaimKey,
    pub status: ClaimStatus,
    pub owner: String,
    pub attempts: u32,
    pub lease_until: DateTime<Utc>,
    /// What the completed effect produced (e.g. the ERP order number).
    pub result: Option<String>,
    /// Why the last attempt failed permanently.
    pub failure: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller holds the claim until `lease_until` and must complete or fail it.
    Acquired(ClaimLease),
    /// Another worker holds an unexpired lease.
    InProgress { owner: String, lease_until: DateTime<Utc> },
    /// The effect already happened.
    Completed(ClaimRecord),
}

/// A channel order and the ERP order it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub connection: ConnectionId,
    pub channel_order_id: ChannelOrderId,
    pub display_number: String,
    pub erp: ErpOrderRef,
    pub created_at: DateTime<Utc>,
    /// Where the order was entered: in the channel (imported) or in the ERP (published). An
    /// order the ERP published is never imported back (the echo guard).
    #[serde(default)]
    pub origin: BindingOrigin,
    /// The content digest of the channel order as the ERP order last reflects it
    /// ([`crate::model::Order::content_digest`]): an order listed again with another digest was
    /// changed in the channel after its import. None for bindings written before digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Which side an order was first entered on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingOrigin {
    /// Entered in the channel and imported into the ERP.
    #[default]
    Channel,
    /// Entered in the ERP and published to the channel.
    Erp,
}

impl BindingOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Erp => "erp",
        }
    }
}

/// Where a pull stream stopped; `value` is opaque to the ledger (a page token, a timestamp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub connection: ConnectionId,
    pub stream: String,
    pub value: String,
    /// Incremented on every save; saves are conditional on it (optimistic concurrency).
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// One stored version of a mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMapping {
    pub name: String,
    pub version: u64,
    /// The file as the user wrote it (TOML), so errors can name its lines.
    pub source: String,
    pub source_path: String,
    pub sha256: String,
    pub saved_at: DateTime<Utc>,
}

/// Exactly-once claims on effects (an import, a package push).
#[async_trait]
pub trait Claims: Send + Sync {
    /// Claims `key` for `lease`. Refused while another unexpired lease holds it; an expired
    /// in-progress claim or a failed one is taken over (with `attempt` incremented).
    async fn claim(&self, key: &ClaimKey, owner: &str, lease: Duration) -> Result<ClaimOutcome, LedgerError>;
    /// Marks the effect done with its result. Fails with `LeaseLost` if another owner took over.
    async fn complete(&self, lease: &ClaimLease, result: &str) -> Result<(), LedgerError>;
    /// Records a permanent failure; a later claim may retry (after the cause is fixed).
    async fn fail(&self, lease: &ClaimLease, reason: &str) -> Result<(), LedgerError>;
    /// Gives up the claim without an outcome, so a retry can take it at once.
    async fn release(&self, lease: &ClaimLease) -> Result<(), LedgerError>;
    async fn claim_record(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, LedgerError>;
    /// Replaces the recorded failure text of an existing claim (the retention purge); a claim
    /// that does not exist is left absent.
    async fn rewrite_failure(&self, key: &ClaimKey, failure: &str) -> Result<(), LedgerError>;
}

/// Bindings: a channel order and the ERP order it became, readable from either side.
#[async_trait]
pub trait Bindings: Send + Sync {
    /// Records a binding; writing the same binding again is a no-op, a conflicting one an error.
    async fn bind(&self, binding: &Binding) -> Result<(), LedgerError>;
    async fn binding_for_channel(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<Binding>, LedgerError>;
    async fn binding_for_erp(&self, erp: &ErpOrderRef) -> Result<Option<Binding>, LedgerError>;
}

/// Cursors: where a stream (a pull, a poll, the last status pushed) stopped.
#[async_trait]
pub trait Cursors: Send + Sync {
    async fn cursor(&self, connection: &ConnectionId, stream: &str) -> Result<Option<Cursor>, LedgerError>;
    /// Saves a cursor if its stored version is still `expected_version` (None: must not exist).
    async fn save_cursor(
        &self,
        connection: &ConnectionId,
        stream: &str,
        value: &str,
        expected_version: Option<u64>,
    ) -> Result<Cursor, LedgerError>;
}

/// Markers: keys remembered for a while (webhook delivery dedupe, enqueued orders, copied notes).
#[async_trait]
pub trait Markers: Send + Sync {
    /// True the first time `key` is seen in `scope` within `ttl`.
    async fn remember_once(&self, scope: &str, key: &str, ttl: Duration) -> Result<bool, LedgerError>;
    /// True when `key` is remembered in `scope` and has not expired (a read; remembers nothing).
    async fn seen(&self, scope: &str, key: &str) -> Result<bool, LedgerError>;
    /// Forgets a key remembered by `remember_once` (its effect did not happen after all).
    async fn forget(&self, scope: &str, key: &str) -> Result<(), LedgerError>;
}

/// Versioned mapping files.
#[async_trait]
pub trait MappingStore: Send + Sync {
    async fn save_mapping(&self, name: &str, source_path: &str, source: &str) -> Result<StoredMapping, LedgerError>;
    async fn latest_mapping(&self, name: &str) -> Result<Option<StoredMapping>, LedgerError>;
    async fn mapping_version(&self, name: &str, version: u64) -> Result<Option<StoredMapping>, LedgerError>;
}

/// All capabilities of the state table, for the adapters and apps that hold them together;
/// flows take only the capabilities they use.
pub trait Ledger:
    Claims + Bindings + Cursors + Markers + MappingStore + FollowedOrders + StockLevels + CustomerBindings
{
}

impl<T> Ledger for T where
    T: Claims + Bindings + Cursors + Markers + MappingStore + FollowedOrders + StockLevels + CustomerBindings + ?Sized
{
}

// ---------------------------------------------------------------------------------------------
// Connector log: every action, visible to operators.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogGroup {
    Orders,
    Customers,
    Shipments,
    Invoices,
    Statuses,
    Webhooks,
    /// Profit & loss and marketplace charges of imported orders.
    Charges,
    /// Stock levels published to storefronts.
    Inventory,
    /// Personal-data retention (purges).
    Retention,
    System,
}

/// Which way data moved: `import` is channel → ERP, `export` is ERP → channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Import,
    Export,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogResult {
    Success,
    Skipped,
    /// A transient failure; the action will be retried.
    Retry,
    Failure,
}

/// The snake_case name serde gives one of the log enums (how it is stored and shown).
pub fn serde_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// One connector-log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: uuid::Uuid,
    pub connection: ConnectionId,
    pub group: LogGroup,
    /// What was done: `pull_page`, `import_order`, `acknowledge`, `push_tracking`, ...
    pub action: String,
    pub direction: Direction,
    pub result: LogResult,
    /// The entity acted on: a channel order id, an ERP order number, a shipment.
    pub entity_id: String,
    pub notes: String,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// The order's (or delivery's) correlation id, the same in every function and log line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// When the message this entry handled was enqueued (an order's pull saw it then): the
    /// order timeline's "seen, enqueued" step and the queue wait before the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait ConnectorLog: Send + Sync {
    async fn record(&self, entry: &LogEntry) -> Result<(), LedgerError>;
    /// Entries of a connection that started in `[from, to)`, oldest first.
    async fn entries_between(
        &self,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, LedgerError>;
    /// Replaces an entry recorded before (same id and start time) with this text: the retention
    /// purge removes personal data from entries without losing them.
    async fn rewrite(&self, entry: &LogEntry) -> Result<(), LedgerError>;
    /// Entries about one entity, newest first.
    async fn entries_for_entity(
        &self,
        connection: &ConnectionId,
        entity_id: &str,
        limit: usize,
    ) -> Result<Vec<LogEntry>, LedgerError>;
}

// ---------------------------------------------------------------------------------------------
// Queues.
// ---------------------------------------------------------------------------------------------

/// One message ready to send: `entry_id` identifies it within its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub entry_id: String,
    pub body: String,
    /// Kept from consumers this long after the send (SQS `DelaySeconds`, at most 15 minutes).
    pub delay: Option<std::time::Duration>,
}

/// What happened to each entry of a send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: Vec<String>,
    /// Entries SQS refused, with its reason, after in-call retries of the retryable ones.
    pub failed: Vec<(String, String)>,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends messages in batches of ten, retrying entries SQS reports as retryable.
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Result<SendReport, QueueError>;
}

// ---------------------------------------------------------------------------------------------
// Vendors.
// ---------------------------------------------------------------------------------------------

/// An opaque position in a channel's listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageToken(pub String);

/// An order as a listing returns it: whole, or only its id when the channel needs more calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum ListedOrder {
    Whole(Box<Order>),
    Reference { id: ChannelOrderId, display_number: String },
}

impl ListedOrder {
    /// The content digest of a whole listed order; None for a reference.
    pub fn digest(&self) -> Option<String> {
        match self {
            Self::Whole(order) => Some(order.content_digest()),
            Self::Reference { .. } => None,
        }
    }

    pub fn id(&self) -> &ChannelOrderId {
        match self {
            Self::Whole(order) => &order.channel_order_id,
            Self::Reference { id, .. } => id,
        }
    }
}

/// An order a channel's webhook announced, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnouncedOrder {
    Waiting(Box<Order>),
    /// Not waiting for import (an incomplete checkout, or an order moved on since): `status` as
    /// the channel names it.
    NotWaiting {
        status: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderPage {
    pub orders: Vec<ListedOrder>,
    /// Where the next page starts; None when the listing is exhausted.
    pub next: Option<PageToken>,
    /// With `next` None: where the next listing starts (a channel listed by a watermark, such
    /// as an `updated_at` cursor); None starts it from the beginning.
    pub restart: Option<PageToken>,
}

/// What to tell a channel about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgement {
    /// The order is in the ERP: mark it exported / downloaded. `digest` is the content digest of
    /// the order as imported ([`Order::content_digest`]), for channels that record it.
    /// `remark`: what happened to changes made after the import (applied, or why not).
    Imported { order: ChannelOrderId, erp: ErpOrderRef, digest: Option<String>, remark: Option<String> },
    /// The order cannot be imported until someone acts; `reason` says what to do.
    Failed { order: ChannelOrderId, reason: String },
}

impl Acknowledgement {
    /// The channel order it is about.
    pub fn order(&self) -> &ChannelOrderId {
        match self {
            Self::Imported { order, .. } | Self::Failed { order, .. } => order,
        }
    }
}

/// A sales channel orders are pulled from.
#[async_trait]
pub trait OrderSource: Send + Sync {
    fn connection(&self) -> &ConnectionId;
    /// One page of orders that are new (not yet exported) under the connection's filters.
    async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError>;
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError>;
    /// Fetches an order a webhook announced, with whether it waits for import (the state the
    /// listing selects). Channels whose webhooks announce only orders to import need not check.
    async fn fetch_announced(&self, id: &ChannelOrderId) -> Result<AnnouncedOrder, ConnectorError> {
        self.fetch_order(id).await.map(|order| AnnouncedOrder::Waiting(Box::new(order)))
    }
    /// Acknowledges in bulk where the channel allows; returns the orders that were not updated.
    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError>;
    /// One page of the orders created in `window`, whether new, exported or imported already
    /// (the connection's other filters, such as companies and statuses, still apply): a
    /// backfill. Channels that cannot list by creation date answer `Unsupported`.
    async fn list_orders_created(
        &self,
        window: &CreatedWindow,
        page: Option<&PageToken>,
    ) -> Result<OrderPage, ConnectorError> {
        let _ = (window, page);
        Err(ConnectorError::Unsupported {
            connection: self.connection().to_string(),
            operation: "list orders by creation date (backfill)",
        })
    }
}

/// How a customer is looked up in the ERP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerLookup<'a> {
    /// By the CustomerID Orderbridge derives from the channel's customer id.
    ChannelId(&'a str),
    Email(&'a str),
    /// Either, in one request; a match on the id wins over a match on the email.
    IdOrEmail {
        id: &'a str,
        email: &'a str,
    },
}

/// The ERP orders are created in.
#[async_trait]
pub trait OrderSink: Send + Sync {
    type Draft: Send + Sync;
    /// Finds an ERP order by the Import ID stored on it (look before you create).
    async fn find_by_import_id(&self, import_id: &str) -> Result<Option<ErpOrderRef>, ConnectorError>;
    /// Creates the order (insert only: never updates an existing one).
    async fn create_order(&self, draft: &Self::Draft) -> Result<ErpOrderRef, ConnectorError>;
    /// The customer id Orderbridge gives a buyer it creates: `prefix` plus the channel's customer
    /// id, or a digest of the email; the ERP's own id rules decide (length, characters).
    fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<ErpCustomerId>;
    async fn find_customer(&self, lookup: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError>;
    /// Looks a batch's customers up ahead, in as few requests as the ERP allows, so that
    /// `find_customer` answers each of them without a request of its own (for a short while).
    /// Only a saving: an ERP without it answers every lookup on its own.
    async fn prefetch_customers(&self, lookups: &[CustomerLookup<'_>]) -> Result<(), ConnectorError> {
        let _ = lookups;
        Ok(())
    }
    /// Creates the customer under `id` (insert only; an existing `id` is returned as is), in the
    /// customer class `class` when the mapping names one (else the connection's default).
    async fn create_customer(
        &self,
        id: &ErpCustomerId,
        customer: &Customer,
        order: &Order,
        class: Option<&str>,
    ) -> Result<ErpCustomerId, ConnectorError>;
    /// Resolves a channel identifier to an ERP item id.
    async fn resolve_item(&self, kind: IdentifierKind, value: &str) -> Result<Option<ErpItemId>, ConnectorError>;
    /// Brings an open ERP order in line with the draft of its changed channel order: lines,
    /// addresses, shipping and notes (payments stay). An order already shipping, shipped or
    /// closed is not touched: `Ok(Err(reason))` says why, in words for the store's staff.
    async fn update_order(&self, erp: &ErpOrderRef, draft: &Self::Draft) -> Result<Result<(), String>, ConnectorError> {
        let _ = draft;
        Ok(Err(format!("this ERP cannot update {erp} after the import")))
    }
    /// Ends the ERP session at the end of a batch (log out, freeing a licensed API-user slot).
    async fn end_session(&self) {}
}

/// One ERP order line as shipments need it: the channel line it was imported from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpOrderLine {
    pub line_nbr: i64,
    pub item_id: String,
    /// The channel's line id stored on the line at import (`ExternalRef`).
    pub channel_line_id: Option<String>,
}

/// What status-push reads of an ERP order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpOrderState {
    /// The status as the ERP shows it (`Back Order`); status mappings are keyed on it.
    pub status: String,
    pub canonical: OrderStatus,
    /// The order's note as people edit it in the ERP (synced to channels that keep notes).
    pub note: Option<String>,
    pub lines: Vec<ErpOrderLine>,
    /// Numbers of the order's shipments, in the ERP's order.
    pub shipment_nbrs: Vec<String>,
}

/// The ERP side of shipments and statuses: what status-push and the catch-up poll read.
#[async_trait]
pub trait ErpShipments: Send + Sync {
    /// Shipped shipments modified since `since`, one entry per sales order each covers.
    async fn shipments_since(&self, since: DateTime<Utc>) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError>;
    /// One shipment by number (empty when it is not shipped yet or covers no sales order).
    async fn shipment(&self, shipment_nbr: &str) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError>;
    async fn order_state(&self, erp: &ErpOrderRef) -> Result<ErpOrderState, ConnectorError>;
    /// Ends the ERP session at the end of a batch.
    async fn end_session(&self) {}
}

/// The order a shipping tool's shipment belongs to, as the tool names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingToolOrder {
    /// The store the order came from (ShipStation `advancedOptions.storeId`).
    pub store_id: Option<i64>,
    /// The order number the tool shows (the channel's order number when the store imports it).
    pub order_number: String,
    pub order_key: Option<String>,
}

/// A shipping tool (ShipStation) whose labels are shipments to push back to the channels.
#[async_trait]
pub trait ShippingTool: Send + Sync {
    /// The shipments a webhook's `resource_url` lists. The URL's host must be the tool's own.
    async fn shipments_at(&self, resource_url: &str) -> Result<Vec<(ShippingToolOrder, Shipment)>, ConnectorError>;
    /// Shipments created since `since` (voided ones left out).
    async fn shipments_since(&self, since: DateTime<Utc>)
        -> Result<Vec<(ShippingToolOrder, Shipment)>, ConnectorError>;
}

/// A channel shipments and statuses are pushed back to.
#[async_trait]
pub trait StatusPublisher: Send + Sync {
    /// Posts one shipment's packages (tracking, carrier, items) to the channel order.
    async fn push_shipment(&self, order: &ChannelOrderId, shipment: &Shipment) -> Result<(), ConnectorError>;
    /// Sets the channel status the mapping chose.
    async fn push_status(&self, order: &ChannelOrderId, status: &str) -> Result<(), ConnectorError>;
    async fn add_note(&self, order: &ChannelOrderId, note: &str) -> Result<(), ConnectorError>;
}

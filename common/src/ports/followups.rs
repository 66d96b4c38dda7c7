//! Ports of the follow-ups of imported orders: charges read from the channel in bulk and written to
//! the ERP order, the record each followed order keeps, and the backlog of orders waiting to be
//! imported (imports come first).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ConnectorError, LedgerError, QueueError};
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef, OrderCharges, PersonalData};

/// A channel that reports what each order cost and earned.
#[async_trait]
pub trait ChargeSource: Send + Sync {
    /// The charges of these orders, in one bulk call (the caller keeps within the batch size the
    /// connection allows). Orders the channel does not know are left out.
    async fn order_charges(&self, orders: &[ChannelOrderId]) -> Result<Vec<OrderCharges>, ConnectorError>;
}

/// The ERP side of charges: the order's own fields receive them.
#[async_trait]
pub trait ErpCharges: Send + Sync {
    /// Writes `values` (ERP field → amount) onto the order in one update; an order deleted in the
    /// ERP meanwhile is a permanent error.
    async fn write_charges(&self, erp: &ErpOrderRef, values: &BTreeMap<String, Decimal>) -> Result<(), ConnectorError>;
}

/// One imported order Orderbridge follows after the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowedOrder {
    pub connection: ConnectionId,
    pub channel_order_id: ChannelOrderId,
    /// The number people see in the channel (the connector log's entity for some actions).
    pub display_number: String,
    pub erp: ErpOrderRef,
    pub imported_at: DateTime<Utc>,
    /// When Orderbridge first pushed a shipment of it (or the channel reported it shipped).
    pub shipped_at: Option<DateTime<Utc>>,
    /// Charges last written to the ERP, by ERP field.
    pub charges: BTreeMap<String, Decimal>,
    /// When a pass last changed the record (charges written, or the channel's ship date learned).
    pub charges_checked_at: Option<DateTime<Utc>>,
    /// Charges are no longer followed (past the age after shipment, or never shipped in time).
    pub charges_done: bool,
    /// The personal data Orderbridge's records about the order may contain (removed by the purge).
    pub personal: Option<PersonalData>,
    /// When the purge removed it.
    pub purged_at: Option<DateTime<Utc>>,
}

/// The followed orders of each connection.
#[async_trait]
pub trait FollowedOrders: Send + Sync {
    /// Starts following an order; an order already followed keeps its record.
    async fn follow(&self, order: &FollowedOrder) -> Result<(), LedgerError>;
    /// A page of a connection's followed orders in id order, after `after`.
    async fn followed(
        &self,
        connection: &ConnectionId,
        after: Option<&ChannelOrderId>,
        limit: usize,
    ) -> Result<Vec<FollowedOrder>, LedgerError>;
    async fn followed_order(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<FollowedOrder>, LedgerError>;
    /// Saves the record as it is now (the caller read it and changed it).
    async fn save_followed(&self, order: &FollowedOrder) -> Result<(), LedgerError>;
    /// Records the first shipment; a later one, or an order not followed, changes nothing.
    async fn mark_shipped(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError>;
}

/// How many messages wait in a queue: low-priority work yields to a backlog of imports.
#[async_trait]
pub trait Backlog: Send + Sync {
    /// Messages visible and in flight (approximate, as the queue reports them).
    async fn waiting(&self) -> Result<u64, QueueError>;
}

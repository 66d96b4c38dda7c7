//! Webhook intake's port: a verified delivery becomes a typed, vendor-neutral event at the edge,
//! and only that event travels the queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WebhookError;
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef, ErpShipmentNbr, Shipment};

/// A webhook request as API Gateway hands it over, body already base64-decoded.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub received_at: DateTime<Utc>,
}

/// What a verified delivery means, whoever sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundEvent {
    /// The ERP says these shipments and orders changed: status-push reads the shipments (with
    /// their packages) and the orders' current status.
    ErpChanged {
        shipments: Vec<ErpShipmentNbr>,
        orders: Vec<ErpOrderRef>,
        /// The status some of `orders` had in the notification's own rows (a sales-order
        /// query's `Status` column): status-push reads no order whose channel already has it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        statuses: Vec<ReportedStatus>,
    },
    /// The shipping tool has a batch of shipments ready at `resource_url` (on its own API host,
    /// checked at intake and again before the fetch).
    ToolBatchReady { resource_url: String },
    /// A shipment with every field, for an ERP order.
    Shipped { erp_order: ErpOrderRef, shipment: Shipment },
    /// An ERP order's status changed.
    StatusChanged { erp_order: ErpOrderRef },
    /// The ERP's availability of these items changed (ERP item ids): storefronts get the new
    /// quantities.
    StockChanged { items: Vec<String> },
    /// A channel says this order was created or reached the status orders are imported in:
    /// order-import fetches it at once and imports it if it is still waiting for import (the
    /// scheduled pull stays as the catch-up). Travels the orders queue.
    OrderAnnounced { connection: ConnectionId, order: ChannelOrderId },
    /// A channel reports that its deliveries to us fail (`code` and `message` as it sent them):
    /// status-push records it and re-enables the connection's webhooks if the channel disabled
    /// them.
    HookTrouble { connection: ConnectionId, hook: String, code: String, message: String },
}

impl InboundEvent {
    /// A short name for logs (`erp_changed`, `shipped`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ErpChanged { .. } => "erp_changed",
            Self::ToolBatchReady { .. } => "tool_batch_ready",
            Self::Shipped { .. } => "shipped",
            Self::StatusChanged { .. } => "status_changed",
            Self::StockChanged { .. } => "stock_changed",
            Self::OrderAnnounced { .. } => "order_announced",
            Self::HookTrouble { .. } => "hook_trouble",
        }
    }
}

/// An ERP order's status as a notification reported it, in the ERP's words (`Completed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedStatus {
    pub erp: ErpOrderRef,
    pub status: String,
}

/// The status `statuses` reports for `erp`, if any.
pub fn reported_status<'a>(statuses: &'a [ReportedStatus], erp: &ErpOrderRef) -> Option<&'a str> {
    statuses.iter().find(|r| r.erp == *erp).map(|r| r.status.as_str())
}

/// One verified delivery: the key to deduplicate it on, and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub dedupe_key: String,
    pub event: InboundEvent,
}

/// What registering or checking a channel's webhooks did to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookChange {
    pub id: String,
    pub scope: String,
    pub destination: String,
    pub action: HookAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    Created,
    /// Its destination, secret or activity was set again.
    Updated,
    /// The channel had disabled it (deliveries failed for too long); it is active again.
    Reactivated,
    Unchanged,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Reactivated => "re-enabled",
            Self::Unchanged => "unchanged",
        }
    }
}

/// A channel's webhook subscriptions for its orders: registered by `orderbridge-admin`, checked
/// by the catch-up poll and on the channel's delivery-failure reports.
#[async_trait::async_trait]
pub trait OrderHooks: Send + Sync {
    /// Creates or updates the order subscriptions (and the delivery-failure report's) so they
    /// deliver to `destination` with the connection's secret, active. Returns every subscription
    /// and what was done to it.
    async fn register(&self, destination: &str) -> Result<Vec<HookChange>, super::ConnectorError>;
    /// Re-enables this connection's subscriptions the channel disabled; returns those it did.
    async fn reactivate(&self) -> Result<Vec<HookChange>, super::ConnectorError>;
}

/// Authenticates and parses one sender's webhooks.
pub trait WebhookVerifier: Send + Sync {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError>;
}

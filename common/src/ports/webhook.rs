//! Webhook intake's port: a verified delivery becomes a typed, vendor-neutral event at the edge,
//! and only that event travels the queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WebhookError;
use crate::model::{ErpOrderRef, ErpShipmentNbr, Shipment};

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
    ErpChanged { shipments: Vec<ErpShipmentNbr>, orders: Vec<ErpOrderRef> },
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
        }
    }
}

/// One verified delivery: the key to deduplicate it on, and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub dedupe_key: String,
    pub event: InboundEvent,
}

/// Authenticates and parses one sender's webhooks.
pub trait WebhookVerifier: Send + Sync {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError>;
}

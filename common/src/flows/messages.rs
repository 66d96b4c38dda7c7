//! The messages of both queues: orders to import, and shipments and statuses to push.

use serde::{Deserialize, Serialize};

use crate::model::{ConnectionId, ErpOrderRef, Shipment};
use crate::ports::{ListedOrder, ShippingToolOrder, WebhookEvent};

/// Bodies of messages on the orders queue, tagged with kind and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum OrderMessage {
    /// Import one channel order into the ERP.
    #[serde(rename = "import_order.v1")]
    ImportOrderV1(ImportOrder),
    /// Import one change of a channel customer account into the ERP.
    #[serde(rename = "import_customer.v1")]
    ImportCustomerV1(Box<super::ImportCustomer>),
    /// Run the next page of a backfill job (and send the message for the page after it).
    #[serde(rename = "backfill_page.v1")]
    BackfillPageV1(super::BackfillPage),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportOrder {
    pub connection: ConnectionId,
    /// The order as the listing returned it: whole (a snapshot) or a reference to fetch.
    pub order: ListedOrder,
    /// The channel's webhook announced it (a reference): imported only if the read finds it
    /// still waiting for import, as the pull would have listed it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub announced: bool,
}

/// Messages on the shipments queue, tagged with kind and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ShipmentMessage {
    /// A verified webhook delivery as a typed event, to be resolved (and fetched, for thin
    /// webhooks) and pushed.
    #[serde(rename = "webhook_event.v2")]
    WebhookEventV2(WebhookEvent),
    /// A delivery enqueued before events were typed: the sender's payload as it came. The
    /// consumer turns it into a typed event with the sender's own parser before anything else.
    #[serde(rename = "webhook_event.v1")]
    WebhookEventV1(LegacyWebhookEvent),
    /// A shipment the catch-up poll found not yet pushed.
    #[serde(rename = "push_shipment.v1")]
    PushShipmentV1(PushShipment),
    /// An ERP order the catch-up poll read whole (changed since its cursor): published, or its
    /// invoices and status followed.
    #[serde(rename = "erp_order.v1")]
    ErpOrderV1(Box<super::ErpOrderMessage>),
    /// A shipment was created on a storefront that takes the shipped quantities off the stock
    /// written there: write these items' ERP availability again.
    #[serde(rename = "stock_resync.v1")]
    StockResyncV1(StockResync),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockResync {
    pub connection: ConnectionId,
    /// ERP item ids (the ids the stock flow writes).
    pub items: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushShipment {
    pub origin: ShipmentOrigin,
    pub shipment: Shipment,
}

/// Which order a shipment belongs to, as the system that recorded it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "snake_case")]
pub enum ShipmentOrigin {
    Erp { order: ErpOrderRef },
    ShippingTool { order: ShippingToolOrder },
}

/// A `webhook_event.v1` body: the sender's route name as `event` (`acumatica.ShipmentsForSync`,
/// `shipstation.ship_notify`, `generic`) and its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyWebhookEvent {
    pub dedupe_key: String,
    pub event: String,
    pub payload: serde_json::Value,
}

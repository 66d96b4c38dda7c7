//! The messages that flow through the orders queue.

use serde::{Deserialize, Serialize};

use crate::model::ConnectionId;
use crate::ports::ListedOrder;

/// Bodies of messages on the orders queue, tagged with kind and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum OrderMessage {
    /// Import one channel order into the ERP.
    #[serde(rename = "import_order.v1")]
    ImportOrderV1(ImportOrder),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportOrder {
    pub connection: ConnectionId,
    /// The order as the listing returned it: whole (a snapshot) or a reference to fetch.
    pub order: ListedOrder,
}

//! A channel's customer account, imported into the ERP as a customer of its own (not only as the
//! buyer of an order).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Address, ConnectionId, Customer};

/// A customer as the channel keeps it, with the address it bills to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCustomer {
    pub connection: ConnectionId,
    /// The channel's own id of the account.
    pub channel_customer_id: String,
    pub customer: Customer,
    /// The default billing address (else the first), when the account has one.
    pub address: Option<Address>,
    /// When the channel last changed the account: each change is imported once.
    pub updated_at: DateTime<Utc>,
}

impl ChannelCustomer {
    /// The email as the connector log names the customer (its entity id), else the channel id.
    pub fn label(&self) -> String {
        self.customer
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("customer {}", self.channel_customer_id))
    }
}

//! Ports of customer accounts imported from a channel into the ERP: the channel's changed
//! accounts, the ERP's customer writes, and which ERP customer each account became.

use async_trait::async_trait;

use super::{ConnectorError, LedgerError, PageToken};
use crate::model::{ChannelCustomer, ConnectionId, ErpCustomerId};

/// One page of changed customer accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPage {
    pub customers: Vec<ChannelCustomer>,
    /// Where the next page starts; None when the listing is exhausted.
    pub next: Option<PageToken>,
    /// With `next` None: where the next listing starts (the watermark).
    pub restart: Option<PageToken>,
}

/// A channel whose customer accounts are imported.
#[async_trait]
pub trait CustomerSource: Send + Sync {
    fn connection(&self) -> &ConnectionId;
    /// Accounts created or changed since the position the token holds (None: from the start).
    async fn list_changed_customers(&self, page: Option<&PageToken>) -> Result<CustomerPage, ConnectorError>;
}

/// The ERP's customer records, written from channel accounts.
#[async_trait]
pub trait ErpCustomerWrites: Send + Sync {
    /// Creates the customer under `id` (insert only; an existing `id` is an error the caller
    /// avoids by looking first), in `class` when the mapping names one.
    async fn create_customer_record(
        &self,
        id: &ErpCustomerId,
        customer: &ChannelCustomer,
        class: Option<&str>,
    ) -> Result<(), ConnectorError>;
    /// Updates an existing customer's name, contact and address (and class when given); a customer
    /// deleted meanwhile is a permanent error.
    async fn update_customer_record(
        &self,
        id: &ErpCustomerId,
        customer: &ChannelCustomer,
        class: Option<&str>,
    ) -> Result<(), ConnectorError>;
}

/// Which ERP customer each channel account became.
#[async_trait]
pub trait CustomerBindings: Send + Sync {
    async fn customer_binding(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
    ) -> Result<Option<ErpCustomerId>, LedgerError>;
    /// Records the binding; writing it again is a no-op.
    async fn bind_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &ErpCustomerId,
    ) -> Result<(), LedgerError>;
    /// Drops a binding that proved wrong (the ERP refused an order naming its customer), so the
    /// next attempt looks the customer up again; only while it still names `erp` (another order
    /// may have bound it afresh meanwhile).
    async fn forget_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &ErpCustomerId,
    ) -> Result<(), LedgerError>;
}

//! Ports of the ERP-originated direction: sales orders entered in the ERP are read
//! ([`ErpOrders`]) and published to a storefront ([`OrderPublisher`]) exactly once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::ConnectorError;
use crate::model::{
    Address, ChannelOrderDraft, ChannelOrderId, Customer, ErpInvoice, ErpOrderRef, ErpSalesOrder, PublishedOrder,
    StorefrontCustomer,
};

/// The ERP as the source of ERP-originated orders.
#[async_trait]
pub trait ErpOrders: Send + Sync {
    /// Sales orders modified since `since` (the ERP's last-modified field), whole: lines, totals,
    /// addresses and contacts. `customer_class` is left empty.
    async fn orders_modified_since(&self, since: DateTime<Utc>) -> Result<Vec<ErpSalesOrder>, ConnectorError>;
    /// One sales order, whole; None when it does not exist (deleted since the notification).
    async fn sales_order(&self, erp: &ErpOrderRef) -> Result<Option<ErpSalesOrder>, ConnectorError>;
    /// The class of an ERP customer (one read; callers cache per batch).
    async fn customer_class(&self, customer_id: &str) -> Result<Option<String>, ConnectorError>;
    /// Records the channel's order number on the ERP order (where people look for it).
    async fn record_channel_number(&self, erp: &ErpOrderRef, number: &str) -> Result<(), ConnectorError>;
    /// The order's invoices (released or not), with their lines for this order.
    async fn invoices_of(&self, erp: &ErpOrderRef) -> Result<Vec<ErpInvoice>, ConnectorError>;
}

/// A storefront that receives ERP-originated orders and their invoices. Shipments and statuses
/// go through its [`super::StatusPublisher`], like those of imported orders.
#[async_trait]
pub trait OrderPublisher: Send + Sync {
    /// The channel order carrying `erp_number` (look before you create).
    async fn find_by_erp_number(&self, erp_number: &str) -> Result<Option<PublishedOrder>, ConnectorError>;
    /// A customer by email.
    async fn find_customer(&self, email: &str) -> Result<Option<StorefrontCustomer>, ConnectorError>;
    /// Creates a customer with its default address.
    async fn create_customer(
        &self,
        customer: &Customer,
        address: &Address,
    ) -> Result<StorefrontCustomer, ConnectorError>;
    /// Of these SKUs, the ones the storefront's catalog does not have.
    async fn unknown_skus(&self, skus: &[String]) -> Result<Vec<String>, ConnectorError>;
    /// Creates the order as drafted (insert only).
    async fn create_order(&self, draft: &ChannelOrderDraft) -> Result<PublishedOrder, ConnectorError>;
    /// Invoices (and captures, the ERP having the payment) these quantities per SKU of the order;
    /// `erp_invoice` is recorded on it. Quantities already invoiced are not invoiced twice.
    async fn create_invoice(
        &self,
        order: &ChannelOrderId,
        lines: &[(String, Decimal)],
        erp_invoice: &str,
    ) -> Result<(), ConnectorError>;
}

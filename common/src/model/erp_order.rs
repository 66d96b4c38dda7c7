//! ERP-originated orders: a sales order entered in the ERP (phone, wholesale, sales reps) as the
//! publish flow reads it, and the vendor-neutral draft of the channel order it becomes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Address, ChannelOrderId, Currency, Customer, ErpOrderRef, Money};

/// A sales order as the ERP holds it (header, lines, totals, addresses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpSalesOrder {
    pub erp: ErpOrderRef,
    /// The status as the ERP shows it (`Open`, `On Hold`, `Back Order`, `Canceled`, ...).
    pub status: String,
    pub hold: bool,
    /// The ERP's customer id (`AACUSTOMER`).
    pub customer_id: String,
    /// The customer's class, filled only when a sync condition needs it (one more read).
    pub customer_class: Option<String>,
    pub location: Option<String>,
    /// The customer order number; orders imported from a channel carry their Import ID here.
    pub customer_order: Option<String>,
    /// Where Orderbridge records the channel's order number once the order is published.
    pub external_ref: Option<String>,
    pub ship_via: Option<String>,
    pub payment_method: Option<String>,
    pub currency: Currency,
    pub ordered_at: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// The buyer: email, name, company, phone (from the order's contact, else the customer's).
    pub customer: Customer,
    pub bill_to: Address,
    pub ship_to: Address,
    pub lines: Vec<ErpSalesLine>,
    pub totals: ErpOrderTotals,
    pub note: Option<String>,
}

/// One line of an ERP sales order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpSalesLine {
    pub line_nbr: i64,
    /// The ERP item id (InventoryID), which the storefront knows as its SKU.
    pub item_id: String,
    pub description: String,
    pub quantity: Decimal,
    pub uom: Option<String>,
    pub warehouse: Option<String>,
    pub unit_price: Money,
    /// Line discount (an amount, already applied to `amount`).
    pub discount: Money,
    /// Quantity × unit price − discount.
    pub amount: Money,
}

/// The order's totals as the ERP computed them; the published order must equal them to the cent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpOrderTotals {
    /// Sum of the lines' amounts (after line discounts).
    pub lines: Money,
    /// Document-level discounts (not line discounts).
    pub discount: Money,
    pub freight: Money,
    pub tax: Money,
    pub order_total: Money,
    /// What is still to be paid; 0 once payments cover the order.
    pub unpaid_balance: Money,
}

/// An ERP invoice of an order, as the follow-up step needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpInvoice {
    /// `Invoice/INV000123`: the type and reference number.
    pub reference: String,
    /// Released (open or closed): only released invoices go to the channel.
    pub released: bool,
    /// (item id, quantity) per invoiced line of this order.
    pub lines: Vec<(String, Decimal)>,
}

/// The buyer of a published order: a storefront customer, or a guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorefrontCustomer {
    /// The storefront's customer id; None for a guest order.
    pub id: Option<String>,
    pub group_id: Option<i64>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// One line of a draft channel order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftLine {
    pub sku: String,
    pub name: String,
    pub quantity: Decimal,
    pub unit_price: Money,
    /// Quantity × unit price, before the line discount.
    pub row_total: Money,
    pub discount: Money,
    pub tax: Money,
}

/// The storefront order an ERP order becomes: built by a pure mapping, sent as is, so its money
/// equals the ERP's to the cent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelOrderDraft {
    pub erp: ErpOrderRef,
    /// The ERP number as shown on the channel order (and searched for before a create).
    pub erp_number: String,
    pub currency: Currency,
    pub placed_at: DateTime<Utc>,
    pub customer: StorefrontCustomer,
    pub bill_to: Address,
    pub ship_to: Address,
    pub lines: Vec<DraftLine>,
    /// `carrier_method` code (`freeshipping_freeshipping`) and its title.
    pub shipping_method: String,
    pub shipping_title: String,
    pub payment_method: String,
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    pub tax: Money,
    pub grand_total: Money,
    pub comment: Option<String>,
}

/// A channel order created from an ERP order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedOrder {
    pub id: ChannelOrderId,
    /// The number the storefront shows (Magento `increment_id`).
    pub display_number: String,
}

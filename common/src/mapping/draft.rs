//! The ERP-ready sales order: a canonical order after every mapping has been applied, carrying
//! only ids that exist in the ERP. Fields are named by what they are to the business; the ERP's
//! connector turns the draft into its own wire format.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::{Address, Currency, ErpCustomerId, ErpItemId, ErpOrderType, ImportKey, Money};

/// A sales order ready to create in the ERP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesOrderDraft {
    pub import_key: ImportKey,
    /// Stored on the ERP order where it can be searched, so the order is found again by it (look
    /// before you create).
    pub import_id: String,
    /// The number people see in the channel, kept on the ERP order as its external reference.
    pub external_ref: String,
    pub order_type: ErpOrderType,
    pub customer_id: ErpCustomerId,
    /// The order's business date in the merchant's time zone.
    pub order_date: NaiveDate,
    pub requested_on: Option<NaiveDate>,
    pub description: String,
    pub currency: Currency,
    /// The ERP's shipping method (carrier and service) code.
    pub ship_via: Option<String>,
    pub bill_to: DraftContact,
    pub ship_to: DraftContact,
    pub lines: Vec<DraftLine>,
    pub payments: Vec<DraftPayment>,
    /// Shipping charged to the buyer, as charged (the ERP must not recompute it).
    #[serde(with = "rust_decimal::serde::str")]
    pub freight: Decimal,
    /// The channel's taxes, as charged (the ERP's own tax calculation is switched off for the order, so
    /// totals match the channel).
    pub taxes: Vec<DraftTax>,
    /// Order note: customer instructions, gift message, discount codes.
    pub note: Option<String>,
    /// Tags and other values for order attributes / custom fields: field name → value.
    pub attributes: BTreeMap<String, String>,
    /// The channel's grand total; the created order's total must equal it to the cent.
    pub expected_total: Money,
    /// Fields the mapping's `[fields]` templates chose not to send ("skip": the ERP's default
    /// applies) or to send empty ("empty"), by target name (`ship_via`, `ship_to.phone`,
    /// `lines.description`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_choices: BTreeMap<String, FieldChoice>,
}

/// What a template chose for a target field instead of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldChoice {
    /// Not sent: the ERP's own default applies.
    Omit,
    /// Sent as an empty value.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftContact {
    pub attention: String,
    pub business_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Address,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftLine {
    pub item_id: ErpItemId,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// The channel's price, kept as is (marked manual, so the ERP does not reprice the line).
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// Line discount plus this line's share of order discounts, kept as is.
    #[serde(with = "rust_decimal::serde::str")]
    pub discount_amount: Decimal,
    pub description: String,
    pub note: Option<String>,
    pub warehouse_id: Option<String>,
    /// The channel's line id, kept on the ERP line to map shipments back.
    pub channel_line_id: String,
}

impl DraftLine {
    /// `unit_price × quantity − discount_amount`, the line's amount in the ERP.
    pub fn amount(&self) -> Decimal {
        self.unit_price * self.quantity - self.discount_amount
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftPayment {
    /// The ERP's payment method code.
    pub payment_method: String,
    pub cash_account: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftTax {
    /// The ERP's tax id.
    pub tax_id: String,
    #[serde(with = "rust_decimal::serde::str_option", default)]
    pub rate: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    pub taxable_amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub tax_amount: Decimal,
}

impl SalesOrderDraft {
    /// Lines + freight + tax, what the ERP order's total must come to.
    pub fn computed_total(&self) -> Decimal {
        let lines: Decimal = self.lines.iter().map(DraftLine::amount).sum();
        let tax: Decimal = self.taxes.iter().map(|t| t.tax_amount).sum();
        lines + self.freight + tax
    }
}

//! Stock published from the ERP to storefronts: the quantity available to sell per item.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One item's quantity available to sell (the ERP's available quantity, not its on-hand: stock
/// already promised to open orders is not for sale), keyed by the item id both sides share (the
/// storefront's SKU is the ERP's item id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub item: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub available: Decimal,
}

/// An item whose availability changed in the ERP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedItem {
    pub item: String,
    /// Available in every warehouse together, when the ERP reports it with the change.
    pub available: Option<Decimal>,
    pub changed_at: DateTime<Utc>,
}

/// What was last written to a storefront for one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedLevel {
    #[serde(with = "rust_decimal::serde::str")]
    pub available: Decimal,
    /// The storefront has no such item: it was reported once and is not written until its
    /// quantity changes again (then it is looked for again).
    #[serde(default)]
    pub unknown: bool,
}

/// Which ERP stock a storefront sells (`[connection.settings.stock]`, the vendor-neutral part).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockSync {
    /// ERP warehouses whose available quantities are added up; empty: every warehouse.
    #[serde(default)]
    pub warehouses: Vec<String>,
}

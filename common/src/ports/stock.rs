//! Ports of stock publishing: availability read from the ERP, written to storefronts, and the
//! levels last written (so only changes are written).

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{ConnectorError, LedgerError};
use crate::model::{ChangedItem, ConnectionId, PushedLevel, StockLevel};

/// The ERP's available quantities.
#[async_trait]
pub trait ErpStock: Send + Sync {
    /// Items whose availability changed at or after `since`, in one call.
    async fn changed_since(&self, since: DateTime<Utc>) -> Result<Vec<ChangedItem>, ConnectorError>;
    /// One item's available quantity in these warehouses (every warehouse when empty); None when
    /// the ERP has no such item.
    async fn available(&self, item: &str, warehouses: &[String]) -> Result<Option<Decimal>, ConnectorError>;
}

/// A storefront stock levels are written to.
#[async_trait]
pub trait StockPublisher: Send + Sync {
    /// The items the storefront does not sell (no product with that id).
    async fn missing_items(&self, items: &[String]) -> Result<BTreeSet<String>, ConnectorError>;
    /// Writes the levels (batched within the storefront's limits); out of stock at zero or less.
    async fn write_levels(&self, levels: &[StockLevel]) -> Result<(), ConnectorError>;
    /// True when creating a shipment on the storefront takes the shipped quantities off the stock
    /// written here, so the level must be written again after each shipment.
    fn deducts_on_shipment(&self) -> bool {
        false
    }
}

/// The levels last written to each storefront.
#[async_trait]
pub trait StockLevels: Send + Sync {
    /// Every level written to the connection (one read, whatever the number of items).
    async fn pushed_levels(&self, connection: &ConnectionId) -> Result<HashMap<String, PushedLevel>, LedgerError>;
    /// Records what was written (or found unknown) for these items.
    async fn record_levels(
        &self,
        connection: &ConnectionId,
        levels: &[(String, PushedLevel)],
    ) -> Result<(), LedgerError>;
}

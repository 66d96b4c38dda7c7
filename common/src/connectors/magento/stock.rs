//! Stock levels into Magento (`StockPublisher`, vendor-apis-erp-out.md A.4): MSI source items in
//! batches (`POST /V1/inventory/source-items`, at most `batch_size` per call: 20 when the store
//! enables Web API input limits), or the legacy stock item per SKU (`GET /V1/stockItems/{sku}`
//! for its id, then `PUT /V1/products/{sku}/stockItems/{id}`). Zero or less is out of stock (status 0,
//! `is_in_stock` false), so the product stops being salable. MSI saves source items for SKUs the
//! catalogue does not have, so products are looked up first (`missing_items`).

use std::collections::BTreeSet;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{rejected, MagentoClient};
use super::VENDOR;
use crate::connectors::{lenient, ConnectorError};
use crate::http::Idempotency;
use crate::model::{StockLevel, StockSync};
use crate::ports::{OrderPublisher, StockPublisher};

/// Which stock model the store runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InventoryModel {
    /// Multi-Source Inventory: source items on `source_code`.
    #[default]
    Msi,
    /// The legacy stock item (MSI disabled, or a single `default` source).
    Legacy,
}

/// `[connection.settings.stock]`: the ERP's available quantities written to the store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagentoStock {
    /// ERP warehouses whose available quantities are added up; empty: every warehouse.
    #[serde(default)]
    pub warehouses: Vec<String>,
    #[serde(default)]
    pub inventory: InventoryModel,
    /// The MSI source written (`default`, or the store's own source code).
    #[serde(default = "default_source")]
    pub source_code: String,
    /// Source items per call, 1-1000 (20 is Magento's cap when input limits are on).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

fn default_source() -> String {
    "default".into()
}
fn default_batch() -> usize {
    20
}

impl MagentoStock {
    pub(super) fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.batch_size) {
            return Err(format!("stock.batch_size: {} is outside 1-1000", self.batch_size));
        }
        if self.source_code.trim().is_empty() {
            return Err("stock.source_code: must not be empty".into());
        }
        if self.warehouses.iter().any(|w| w.trim().is_empty()) {
            return Err("stock.warehouses: a warehouse id is empty".into());
        }
        Ok(())
    }

    /// The vendor-neutral part the flow reads.
    pub fn sync(&self) -> StockSync {
        StockSync { warehouses: self.warehouses.iter().map(|w| w.trim().to_owned()).collect() }
    }
}

#[derive(Serialize)]
struct SourceItem<'a> {
    sku: &'a str,
    source_code: &'a str,
    #[serde(serialize_with = "lenient::serialize_number")]
    quantity: Decimal,
    status: u8,
}

#[derive(Serialize)]
struct LegacyUpdate {
    #[serde(rename = "stockItem")]
    stock_item: LegacyStock,
}

#[derive(Serialize)]
struct LegacyStock {
    #[serde(serialize_with = "lenient::serialize_number")]
    qty: Decimal,
    is_in_stock: bool,
}

#[derive(Deserialize)]
struct StockItemWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    item_id: Option<i64>,
}

/// Magento's quantity: never below zero (the ERP's available goes negative when oversold).
fn quantity(level: &StockLevel) -> Decimal {
    level.available.max(Decimal::ZERO)
}

impl MagentoClient {
    /// The REST URL of these path segments, each escaped (a SKU may hold `/` or spaces).
    fn path_url(&self, segments: &[&str]) -> Result<url::Url, ConnectorError> {
        let mut url = url::Url::parse(&self.url("")).map_err(|e| rejected("build URL", e.to_string()))?;
        url.path_segments_mut()
            .map_err(|()| rejected("build URL", "base_url cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn stock_settings(&self, operation: &'static str) -> Result<&MagentoStock, ConnectorError> {
        self.config()
            .stock
            .as_ref()
            .ok_or_else(|| rejected(operation, "the connection has no [connection.settings.stock]".into()))
    }
}

#[async_trait]
impl StockPublisher for MagentoClient {
    /// With MSI, `POST /V1/order/{id}/ship` deducts the shipped quantity from the source
    /// (source deduction on shipment), the quantity this connection writes; legacy stock
    /// deducts at order placement instead and leaves shipments alone.
    fn deducts_on_shipment(&self) -> bool {
        self.stock_settings("stock").is_ok_and(|s| matches!(s.inventory, InventoryModel::Msi))
    }

    /// `GET /V1/products` by SKU, 20 per search.
    async fn missing_items(&self, items: &[String]) -> Result<BTreeSet<String>, ConnectorError> {
        Ok(OrderPublisher::unknown_skus(self, items).await?.into_iter().collect())
    }

    async fn write_levels(&self, levels: &[StockLevel]) -> Result<(), ConnectorError> {
        const OP: &str = "write stock";
        let settings = self.stock_settings(OP)?;
        match settings.inventory {
            InventoryModel::Msi => {
                let url = self.url("inventory/source-items");
                for chunk in levels.chunks(settings.batch_size) {
                    let items: Vec<SourceItem<'_>> = chunk
                        .iter()
                        .map(|l| SourceItem {
                            sku: &l.item,
                            source_code: &settings.source_code,
                            quantity: quantity(l),
                            status: u8::from(quantity(l) > Decimal::ZERO),
                        })
                        .collect();
                    let body = json!({ "sourceItems": items });
                    // Absolute quantities: writing the same batch twice is harmless.
                    self.call(OP, Idempotency::Safe, |c| c.post(&url).json(&body)).await?;
                }
            }
            InventoryModel::Legacy => {
                for level in levels {
                    let read = self.path_url(&["stockItems", &level.item])?;
                    let item: StockItemWire = self
                        .call("read stock item", Idempotency::Safe, |c| c.get(read.clone()))
                        .await?
                        .json(VENDOR, "read stock item")?;
                    let id = item
                        .item_id
                        .ok_or_else(|| rejected(OP, format!("stock item of {} has no item_id", level.item)))?;
                    let write = self.path_url(&["products", &level.item, "stockItems", &id.to_string()])?;
                    let qty = quantity(level);
                    let body = LegacyUpdate { stock_item: LegacyStock { qty, is_in_stock: qty > Decimal::ZERO } };
                    self.call(OP, Idempotency::Safe, |c| c.put(write.clone()).json(&body)).await?;
                }
            }
        }
        Ok(())
    }
}

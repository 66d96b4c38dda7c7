//! ShipStation's JSON as it arrives (camelCase, numbers for ids and quantities).

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::connectors::lenient;

/// `GET /shipments` page: `{shipments, total, page, pages}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ShipmentsPage {
    #[serde(default)]
    pub shipments: Vec<serde_json::Value>,
    #[serde(default)]
    pub pages: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentWire {
    pub shipment_id: i64,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub order_number: Option<String>,
    #[serde(default)]
    pub order_key: Option<String>,
    #[serde(default)]
    pub create_date: Option<String>,
    #[serde(default)]
    pub ship_date: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub carrier_code: Option<String>,
    #[serde(default)]
    pub service_code: Option<String>,
    #[serde(default)]
    pub voided: bool,
    #[serde(default)]
    pub advanced_options: Option<AdvancedOptions>,
    #[serde(default)]
    pub shipment_items: Option<Vec<ShipmentItemWire>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedOptions {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub store_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentItemWire {
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub line_item_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub quantity: Option<Decimal>,
}

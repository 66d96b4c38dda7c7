//! Magento's JSON (snake_case; quantities as numbers).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::connectors::lenient;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderWire {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub items: Vec<OrderItemWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderItemWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub item_id: Option<i64>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub parent_item_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub qty_ordered: Decimal,
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub qty_shipped: Decimal,
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub qty_canceled: Decimal,
}

/// `GET /V1/shipments` search result.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentSearch {
    #[serde(default)]
    pub items: Vec<ShipmentWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentWire {
    #[serde(default)]
    pub tracks: Vec<TrackWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrackWire {
    #[serde(default)]
    pub track_number: Option<String>,
}

/// `POST /V1/order/{id}/ship`.
#[derive(Debug, Clone, Serialize)]
pub struct ShipRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ShipItem>>,
    pub notify: bool,
    pub tracks: Vec<ShipTrack>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipItem {
    pub order_item_id: i64,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub qty: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShipTrack {
    pub track_number: String,
    pub title: String,
    pub carrier_code: String,
}

/// `POST /V1/orders/{id}/comments`.
#[derive(Debug, Clone, Serialize)]
pub struct CommentRequest<'a> {
    #[serde(rename = "statusHistory")]
    pub status_history: StatusHistory<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusHistory<'a> {
    pub comment: &'a str,
    pub status: &'a str,
    pub is_customer_notified: u8,
    pub is_visible_on_front: u8,
}

//! BigCommerce v2 JSON (§3.3, §3.4): money as 4-decimal strings, dates as RFC 2822.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::connectors::lenient;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AddressWire {
    /// The `order_address_id` shipments are created against.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub street_1: Option<String>,
    pub street_2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country_iso2: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub shipping_method: Option<String>,
}

/// A list item or `GET /v2/orders/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderWire {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub customer_id: Option<i64>,
    pub date_created: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub status_id: Option<i64>,
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub subtotal_ex_tax: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub shipping_cost_ex_tax: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub total_inc_tax: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub total_tax: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub discount_amount: Option<Decimal>,
    pub payment_method: Option<String>,
    pub payment_status: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub payment_provider_id: Option<String>,
    pub currency_code: Option<String>,
    pub billing_address: AddressWire,
    pub customer_message: Option<String>,
    pub staff_notes: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub external_source: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub external_order_id: Option<String>,
    /// With `include=consignments.line_items&consignment_structure=object`: the order's lines and
    /// shipping addresses in the same response (§3.2); otherwise a resource link.
    pub consignments: Option<ConsignmentsWire>,
}

/// An order's `consignments`: the object structure, or anything else (the `{url, resource}`
/// link, the legacy array), which means the lines must be read separately.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ConsignmentsWire {
    Object(ConsignmentObjectWire),
    Other(serde::de::IgnoredAny),
}

/// `consignment_structure=object`: consignments by kind. `shipping` is required, which tells the
/// object from a resource link.
#[derive(Debug, Deserialize)]
pub struct ConsignmentObjectWire {
    pub shipping: Vec<ShippingConsignmentWire>,
    #[serde(default)]
    pub pickups: Vec<LineHolderWire>,
    #[serde(default)]
    pub downloads: Vec<LineHolderWire>,
    #[serde(default)]
    pub email: Option<EmailConsignmentsWire>,
}

/// A shipping consignment: its address (as `/shipping_addresses` gives it) and its lines.
#[derive(Debug, Deserialize)]
pub struct ShippingConsignmentWire {
    #[serde(flatten)]
    pub address: AddressWire,
    /// Products (`consignments.line_items`) or product links (`consignments` alone).
    #[serde(default)]
    pub line_items: serde_json::Value,
}

/// A pickup, download or gift-certificate consignment: only its lines matter here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LineHolderWire {
    pub line_items: serde_json::Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailConsignmentsWire {
    pub gift_certificates: Vec<LineHolderWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AppliedDiscount {
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub amount: Option<Decimal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProductWire {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    pub name: Option<String>,
    pub sku: Option<String>,
    pub upc: Option<String>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub price_ex_tax: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub total_tax: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub quantity: Option<Decimal>,
    pub applied_discounts: Vec<AppliedDiscount>,
    pub wrapping_message: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub order_address_id: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub quantity_shipped: Option<Decimal>,
}

#[derive(Debug, Serialize)]
pub struct StatusUpdate<'a> {
    pub status_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_notes: Option<&'a str>,
}

/// `PUT /v2/orders/{id}` with only the staff notes.
#[derive(Debug, Serialize)]
pub struct NotesUpdate<'a> {
    pub staff_notes: &'a str,
}

/// `GET /v2/orders/{id}/shipments` item: the parts that tell whether a package was posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShipmentWire {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub tracking_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentItem {
    pub order_product_id: i64,
    pub quantity: i64,
}

/// `POST /v2/orders/{id}/shipments` (§3.5).
#[derive(Debug, Serialize)]
pub struct NewShipment<'a> {
    pub order_address_id: i64,
    pub tracking_number: &'a str,
    pub shipping_method: String,
    pub shipping_provider: &'static str,
    pub tracking_carrier: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_link: Option<&'a str>,
    pub comments: String,
    pub items: Vec<ShipmentItem>,
}

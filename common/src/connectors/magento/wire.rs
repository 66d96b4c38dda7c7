//! Magento's JSON (snake_case; quantities as numbers).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::connectors::lenient;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderWire {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// The status an order had before it was put on hold (restored by `/unhold`).
    #[serde(default)]
    pub hold_before_status: Option<String>,
    #[serde(default)]
    pub items: Vec<OrderItemWire>,
    /// The order's comments (a note added before is found here).
    #[serde(default)]
    pub status_histories: Vec<HistoryWire>,
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
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub qty_invoiced: Decimal,
}

/// A `searchCriteria` result (`GET /V1/orders`, `/shipments`, `/customers/search`, `/products`):
/// only `items` is read.
#[derive(Debug, Clone, Deserialize)]
pub struct Search<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

pub type ShipmentSearch = Search<ShipmentWire>;

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

// ---------------------------------------------------------------------------------------------
// ERP-originated orders (vendor-apis-erp-out.md A.1.1, A.2, A.3).
// ---------------------------------------------------------------------------------------------

/// `GET /V1/orders` with `fields=items[entity_id,increment_id,ext_order_id]`, and the answer of
/// `POST /V1/orders` (the whole order, of which only the ids are read).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderRefWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub entity_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub increment_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ext_order_id: Option<String>,
}

pub type OrderRefSearch = Search<OrderRefWire>;

/// A customer as `GET /V1/customers/search` and `POST /V1/customers` answer it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub group_id: Option<i64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub website_id: Option<i64>,
}

pub type CustomerSearch = Search<CustomerWire>;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductSkuWire {
    #[serde(default)]
    pub sku: Option<String>,
}

pub type ProductSearch = Search<ProductSkuWire>;

/// `POST /V1/customers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerCreate {
    pub customer: NewCustomer,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCustomer {
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    pub website_id: i64,
    pub addresses: Vec<CustomerAddress>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerAddress {
    pub firstname: String,
    pub lastname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    pub street: Vec<String>,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    pub country_id: String,
    pub telephone: String,
    pub default_billing: bool,
    pub default_shipping: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionCode {
    pub region_code: String,
}

/// `POST /V1/orders` (the direct route): `{"entity": <OrderInterface>}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderCreate {
    pub entity: OrderEntity,
}

/// The order as Magento stores it, every amount in both the order and the base currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderEntity {
    pub store_id: i64,
    pub base_currency_code: String,
    pub order_currency_code: String,
    pub global_currency_code: String,
    pub store_currency_code: String,
    pub base_to_global_rate: u8,
    pub base_to_order_rate: u8,
    pub state: &'static str,
    pub status: &'static str,
    pub ext_order_id: String,
    /// `YYYY-MM-DD HH:MM:SS`, UTC (§5.0 item 4).
    pub created_at: String,
    pub customer_is_guest: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    pub customer_group_id: i64,
    pub customer_email: String,
    pub customer_firstname: String,
    pub customer_lastname: String,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub subtotal: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_subtotal: Decimal,
    /// Negative, as Magento stores discounts on the order.
    #[serde(serialize_with = "lenient::serialize_number")]
    pub discount_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_discount_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub shipping_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_shipping_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub tax_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_tax_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub grand_total: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_grand_total: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub total_qty_ordered: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub total_due: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_total_due: Decimal,
    pub items: Vec<OrderItemCreate>,
    pub billing_address: OrderAddress,
    pub payment: OrderPayment,
    pub extension_attributes: OrderExtension,
    pub shipping_method: String,
    pub shipping_description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status_histories: Vec<OrderHistory>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderItemCreate {
    pub sku: String,
    pub name: String,
    pub product_type: &'static str,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub qty_ordered: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub price: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_price: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub original_price: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub row_total: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_row_total: Decimal,
    /// Positive on items (Magento's convention), unlike the order's.
    #[serde(serialize_with = "lenient::serialize_number")]
    pub discount_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_discount_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub tax_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_tax_amount: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub price_incl_tax: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_price_incl_tax: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub row_total_incl_tax: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_row_total_incl_tax: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderAddress {
    pub address_type: &'static str,
    pub firstname: String,
    pub lastname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    pub street: Vec<String>,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    pub country_id: String,
    pub telephone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderPayment {
    pub method: String,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub amount_ordered: Decimal,
    #[serde(serialize_with = "lenient::serialize_number")]
    pub base_amount_ordered: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderExtension {
    pub shipping_assignments: Vec<ShippingAssignment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShippingAssignment {
    pub shipping: Shipping,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shipping {
    pub address: OrderAddress,
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderHistory {
    pub comment: String,
    pub status: &'static str,
    pub is_customer_notified: u8,
    pub is_visible_on_front: u8,
}

/// `POST /V1/order/{id}/invoice`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvoiceRequest {
    pub capture: bool,
    pub notify: bool,
    pub items: Vec<ShipItem>,
    pub comment: InvoiceComment,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvoiceComment {
    pub comment: String,
    pub is_visible_on_front: u8,
}

// ---------------------------------------------------------------------------------------------
// Storefront orders imported into the ERP (vendor-apis.md §5.3, vendor-apis-erp-out.md A.5).
// ---------------------------------------------------------------------------------------------

/// A storefront order as `GET /V1/orders/{id}` and the order search answer it: every field the
/// canonical order needs. Amounts are exact decimals; dates are UTC `YYYY-MM-DD HH:MM:SS`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoreOrderWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub entity_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub increment_id: Option<String>,
    /// Set on orders created from outside (Orderbridge's ERP-originated orders carry the ERP number).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ext_order_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub customer_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub customer_is_guest: Option<i64>,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_firstname: Option<String>,
    #[serde(default)]
    pub customer_lastname: Option<String>,
    #[serde(default)]
    pub customer_note: Option<String>,
    #[serde(default)]
    pub order_currency_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub subtotal: Option<Decimal>,
    /// Negative: Magento stores the order's discounts (line discounts included) as one amount.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub discount_amount: Option<Decimal>,
    #[serde(default)]
    pub discount_description: Option<String>,
    /// Shipping before tax.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub shipping_amount: Option<Decimal>,
    /// All tax, the shipping's included.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub tax_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub grand_total: Option<Decimal>,
    #[serde(default)]
    pub shipping_description: Option<String>,
    #[serde(default)]
    pub items: Vec<StoreItemWire>,
    #[serde(default)]
    pub billing_address: Option<AddressWire>,
    #[serde(default)]
    pub payment: Option<PaymentWire>,
    #[serde(default)]
    pub status_histories: Vec<HistoryWire>,
    #[serde(default)]
    pub extension_attributes: Option<StoreOrderExtension>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoreItemWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub item_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub parent_item_id: Option<i64>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub qty_ordered: Decimal,
    /// Unit price before tax.
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub price: Decimal,
    /// Positive on items.
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub discount_amount: Decimal,
    #[serde(default, deserialize_with = "lenient::decimal_or_zero")]
    pub tax_amount: Decimal,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddressWire {
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub street: Vec<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub region_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub postcode: Option<String>,
    #[serde(default)]
    pub country_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub telephone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PaymentWire {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub amount_paid: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_trans_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HistoryWire {
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoreOrderExtension {
    #[serde(default)]
    pub shipping_assignments: Vec<AssignmentWire>,
    #[serde(default)]
    pub gift_message: Option<GiftMessageWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AssignmentWire {
    #[serde(default)]
    pub shipping: Option<ShippingWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShippingWire {
    #[serde(default)]
    pub address: Option<AddressWire>,
    #[serde(default)]
    pub method: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GiftMessageWire {
    #[serde(default)]
    pub message: Option<String>,
}

/// The order search with its `total_count` (paging stops on it and on ids, §5.0 item 8).
#[derive(Debug, Clone, Deserialize)]
pub struct StoreOrderSearch {
    #[serde(default = "Vec::new")]
    pub items: Vec<StoreOrderWire>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_count: Option<i64>,
}

/// Statuses of a batch of orders (`fields=items[entity_id,status]`), read before commenting.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderStatusWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub entity_id: Option<i64>,
    #[serde(default)]
    pub status: Option<String>,
}

pub type OrderStatusSearch = Search<OrderStatusWire>;

/// A customer account as `GET /V1/customers/search` answers it (A.3), with its addresses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoreCustomerWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The id of the default billing address, as a string.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub default_billing: Option<String>,
    #[serde(default)]
    pub addresses: Vec<CustomerAddressWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerAddressWire {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    #[serde(default)]
    pub default_billing: Option<bool>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub street: Vec<String>,
    #[serde(default)]
    pub city: Option<String>,
    /// `{region_code, region, region_id}`.
    #[serde(default)]
    pub region: Option<RegionWire>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub postcode: Option<String>,
    #[serde(default)]
    pub country_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub telephone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegionWire {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub region_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreCustomerSearch {
    #[serde(default = "Vec::new")]
    pub items: Vec<StoreCustomerWire>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_count: Option<i64>,
}

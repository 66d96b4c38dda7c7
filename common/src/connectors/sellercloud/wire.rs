//! Sellercloud's JSON (community DTO names, §1.6). Money and numbers are read leniently: the
//! same field comes as a number or a numeric string depending on the endpoint.
#![allow(non_snake_case)]

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::connectors::lenient;

#[derive(Debug, Serialize)]
pub struct TokenRequest<'a> {
    pub Username: &'a str,
    pub Password: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub expires_in: Option<i64>,
}

/// `GET /api/Orders` envelope.
#[derive(Debug, Deserialize)]
pub struct OrderList {
    #[serde(default)]
    pub Items: Vec<OrderSummary>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub TotalResults: Option<i64>,
}

/// A list item: only ids and a few headline fields (the full order needs `GET /api/Orders/{id}`).
#[derive(Debug, Deserialize)]
pub struct OrderSummary {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub ID: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub OrderSourceOrderID: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderDetails {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub CustomerEmail: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub CustomerID: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub OrderDate: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub PromiseDate: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub EstimatedOrderDeliveryDate: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Statuses {
    pub RushOrder: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub ShippingStatus: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderItem {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub ID: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub ProductID: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub DisplayName: Option<String>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub Qty: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub SitePrice: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub DiscountValue: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub DiscountType: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub LineTaxTotal: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub Notes: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub UPC: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub EAN: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TotalInfo {
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub SubTotal: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub Discount: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub PromoCode: Option<String>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub Tax: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub Shipping: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub GrandTotal: Option<Decimal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PaymentWire {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub TransactionReferenceNumber: Option<String>,
    #[serde(deserialize_with = "lenient::opt_decimal")]
    pub PaidAmount: Option<Decimal>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub PaymentDate: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub PaymentMethod: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShippingDetails {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub Carrier: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub Service: Option<String>,
    pub RushOrder: Option<bool>,
    /// OrderShippingStatus (§1.9): 3 = FullyShipped.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub ShippingStatus: Option<i64>,
}

/// One of the order's packages (`OrderPackages`), read to see which tracking is already there.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PackageWire {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub ID: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub TrackingNumber: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddressWire {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub FirstName: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub LastName: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub CompanyName: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub StreetLine1: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub StreetLine2: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub City: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub StateName: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub StateCode: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub PostalCode: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub CountryCode: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub PhoneNumber: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub EmailAddress: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CustomColumn {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub ColumnName: Option<String>,
    pub Value: serde_json::Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GiftDetails {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub GiftMessage: Option<String>,
}

/// `GET /api/Orders/{id}`: the parts the mapper reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderWire {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub ID: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub OrderSourceOrderID: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub OrderSource: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub StatusCode: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub TimeOfOrder: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub CreatedOn: Option<String>,
    pub OrderDetails: OrderDetails,
    pub Statuses: Statuses,
    pub OrderItems: Vec<OrderItem>,
    pub TotalInfo: TotalInfo,
    pub Payments: Vec<PaymentWire>,
    pub ShippingDetails: ShippingDetails,
    pub ShippingAddress: AddressWire,
    pub BillingAddress: AddressWire,
    pub CustomColumns: Vec<CustomColumn>,
    pub GiftDetails: GiftDetails,
    pub OrderPackages: Vec<PackageWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteWire {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub Category: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub Note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SetExported<'a> {
    pub Orders: &'a [i64],
    pub Exported: bool,
}

#[derive(Debug, Serialize)]
pub struct SetStatus<'a> {
    pub Orders: &'a [i64],
    pub Status: i64,
}

#[derive(Debug, Serialize)]
pub struct NoteBody<'a> {
    pub Category: i64,
    pub Message: &'a str,
}

#[derive(Debug, Serialize)]
pub struct AddNote<'a> {
    pub OrderID: i64,
    pub note: NoteBody<'a>,
}

/// `PUT /api/Orders/ShippingStatus/SinglePackage` (§1.11 B). `ShipDate` is account-local
/// without an offset; `PackageID` is left out so the first package gets the tracking.
#[derive(Debug, Serialize)]
pub struct ShipSinglePackage<'a> {
    pub OrderID: i64,
    pub CarrierName: &'a str,
    pub ShippingMethod: &'a str,
    pub TrackingNumber: &'a str,
    pub ShipDate: String,
}

/// `POST /api/Orders/ProfitAndLoss` (vendor-apis-erp-out §E.1): the orders to report on.
#[derive(Debug, Serialize)]
pub struct ProfitAndLossRequest<'a> {
    pub Orders: &'a [i64],
}

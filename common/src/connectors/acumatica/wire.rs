//! Acumatica's JSON: every non-system field wrapped as `{"value": ...}` (§2.4). Request types
//! serialize only the fields that are set; response types read only what the client needs.
#![allow(non_snake_case)] // Field names are Acumatica's, so the JSON maps one to one.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::connectors::lenient;

/// A wrapped field: `{"value": v}`. Absent when `None` (see [`val`]); a response may add `error`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Val<T> {
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub value: Option<T>,
    /// A field-level validation error the server attached (responses only).
    #[serde(default, skip_serializing)]
    pub error: Option<String>,
}

impl<T> Val<T> {
    pub fn new(value: T) -> Self {
        Self { value: Some(value), error: None }
    }
}

/// `Some(Val(v))`, the form entity fields take, so absent values are skipped on the wire.
pub fn val<T>(value: T) -> Option<Val<T>> {
    Some(Val::new(value))
}

/// `Some(Val(v))` when `value` is `Some`.
pub fn opt<T>(value: Option<T>) -> Option<Val<T>> {
    value.map(Val::new)
}

/// A decimal that goes over the wire as an exact JSON number and is read leniently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Num(pub Decimal);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lenient::serialize_number(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::decimal_or_zero(d).map(Num)
    }
}

pub fn num(value: Decimal) -> Option<Val<Num>> {
    val(Num(value))
}

// ---------------------------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize)]
pub struct LoginRequest<'a> {
    pub name: &'a str,
    pub password: &'a str,
    pub tenant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<&'a str>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AddressWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub AddressLine1: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub AddressLine2: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub City: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub State: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub PostalCode: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Country: Option<Val<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DocContactWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Attention: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BusinessName: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Email: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Phone1: Option<Val<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ShippingSettingsWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub FreightPrice: Option<Val<Num>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub OverrideFreightPrice: Option<Val<bool>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SalesOrderDetailWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub InventoryID: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub OrderQty: Option<Val<Num>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub UnitPrice: Option<Val<Num>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ManualPrice: Option<Val<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub DiscountAmount: Option<Val<Num>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ManualDiscount: Option<Val<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub LineDescription: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub WarehouseID: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ExternalRef: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Val<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SalesOrderPaymentWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub PaymentMethod: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CashAccount: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub PaymentAmount: Option<Val<Num>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub PaymentRef: Option<Val<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaxDetailWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub TaxID: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub TaxRate: Option<Val<Num>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub TaxableAmount: Option<Val<Num>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub TaxAmount: Option<Val<Num>>,
}

/// A custom field as the contract API writes it: `{"type": "CustomStringField", "value": ...}`.
#[derive(Debug, Clone, Serialize)]
pub struct CustomField {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
}

/// `PUT SalesOrder` body for an insert.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SalesOrderPut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub OrderType: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CustomerID: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CustomerOrder: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ExternalRef: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Date: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub RequestedOn: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Description: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CurrencyID: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ShipVia: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub DisableAutomaticTaxCalculation: Option<Val<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BillToAddressOverride: Option<Val<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BillToContactOverride: Option<Val<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BillToAddress: Option<AddressWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BillToContact: Option<DocContactWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ShipToAddressOverride: Option<Val<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ShipToContactOverride: Option<Val<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ShipToAddress: Option<AddressWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ShipToContact: Option<DocContactWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ShippingSettings: Option<ShippingSettingsWire>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub Details: Vec<SalesOrderDetailWire>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub Payments: Vec<SalesOrderPaymentWire>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub TaxDetails: Vec<TaxDetailWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Val<String>>,
    /// `{"Document": {"<field>": {"type": "CustomStringField", "value": ...}}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<std::collections::BTreeMap<&'static str, std::collections::BTreeMap<String, CustomField>>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContactWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Email: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Phone1: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub DisplayName: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CompanyName: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Address: Option<AddressWire>,
}

/// `PUT Customer` body for an insert.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CustomerPut {
    pub CustomerID: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CustomerName: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CustomerClass: Option<Val<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub MainContact: Option<ContactWire>,
}

// ---------------------------------------------------------------------------------------------
// Responses.
// ---------------------------------------------------------------------------------------------

/// The key fields of a sales order (find, create, status).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderKeys {
    #[serde(default)]
    pub OrderType: Option<Val<String>>,
    #[serde(default)]
    pub OrderNbr: Option<Val<String>>,
    #[serde(default)]
    pub OrderTotal: Option<Val<Num>>,
}

/// What status-push reads of a sales order (`$expand=Details,Shipments`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderStateWire {
    #[serde(default)]
    pub Status: Option<Val<String>>,
    /// `{"value": "..."}` in current versions, a bare string in some older ones.
    #[serde(default)]
    pub note: Option<serde_json::Value>,
    #[serde(default)]
    pub Details: Vec<SalesOrderLineStateWire>,
    #[serde(default)]
    pub Shipments: Vec<SalesOrderShipmentWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderLineStateWire {
    #[serde(default)]
    pub LineNbr: Option<Val<Num>>,
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub ExternalRef: Option<Val<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderShipmentWire {
    #[serde(default)]
    pub ShipmentNbr: Option<Val<String>>,
}

/// A customer as a lookup reads it: its id and its main contact's email.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerEmailKey {
    #[serde(default)]
    pub CustomerID: Option<Val<String>>,
    #[serde(default)]
    pub MainContact: Option<ContactWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CrossReferenceWire {
    #[serde(default)]
    pub AlternateID: Option<Val<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StockItemWire {
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub CrossReferences: Vec<CrossReferenceWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentOrderWire {
    #[serde(default)]
    pub OrderType: Option<Val<String>>,
    #[serde(default)]
    pub OrderNbr: Option<Val<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentDetailWire {
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub ShippedQty: Option<Val<Num>>,
    #[serde(default)]
    pub OrderNbr: Option<Val<String>>,
    #[serde(default)]
    pub OrderLineNbr: Option<Val<Num>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentPackageWire {
    /// ShipmentPackageDetail rows (expanded with `Packages/PackageContents`).
    #[serde(default)]
    pub PackageContents: Vec<PackageContentWire>,
    #[serde(default)]
    pub LineNbr: Option<Val<Num>>,
    #[serde(default)]
    pub TrackingNbr: Option<Val<String>>,
    #[serde(default)]
    pub Weight: Option<Val<Num>>,
}

/// One item line inside a package (ShipmentPackageDetail).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PackageContentWire {
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub Quantity: Option<Val<Num>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentWire {
    #[serde(default)]
    pub ShipmentNbr: Option<Val<String>>,
    #[serde(default)]
    pub Status: Option<Val<String>>,
    #[serde(default)]
    pub ShipmentDate: Option<Val<String>>,
    #[serde(default)]
    pub ShipVia: Option<Val<String>>,
    #[serde(default)]
    pub LastModifiedDateTime: Option<Val<String>>,
    #[serde(default)]
    pub Orders: Vec<ShipmentOrderWire>,
    #[serde(default)]
    pub Details: Vec<ShipmentDetailWire>,
    #[serde(default)]
    pub Packages: Vec<ShipmentPackageWire>,
}

/// The unwrapped value of an optional wrapped field.
pub fn get<T: Clone>(field: &Option<Val<T>>) -> Option<T> {
    field.as_ref().and_then(|v| v.value.clone())
}

/// The unwrapped, trimmed, non-empty text of an optional wrapped field.
pub fn text(field: &Option<Val<String>>) -> Option<String> {
    field.as_ref().and_then(|v| v.value.as_deref()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// ERP-originated orders (vendor-apis-erp-out.md B.1, B.4).
// ---------------------------------------------------------------------------------------------

/// A whole sales order as the publish flow reads it
/// (`$expand=Details,Totals,Payments,ShipToAddress,ShipToContact,BillToAddress,BillToContact`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderWire {
    #[serde(default)]
    pub OrderType: Option<Val<String>>,
    #[serde(default)]
    pub OrderNbr: Option<Val<String>>,
    #[serde(default)]
    pub Status: Option<Val<String>>,
    #[serde(default)]
    pub Hold: Option<Val<bool>>,
    #[serde(default)]
    pub CustomerID: Option<Val<String>>,
    #[serde(default)]
    pub LocationID: Option<Val<String>>,
    #[serde(default)]
    pub CustomerOrder: Option<Val<String>>,
    #[serde(default)]
    pub ExternalRef: Option<Val<String>>,
    #[serde(default)]
    pub ShipVia: Option<Val<String>>,
    #[serde(default)]
    pub PaymentMethod: Option<Val<String>>,
    #[serde(default)]
    pub CurrencyID: Option<Val<String>>,
    #[serde(default)]
    pub Date: Option<Val<String>>,
    #[serde(default)]
    pub LastModified: Option<Val<String>>,
    #[serde(default)]
    pub OrderTotal: Option<Val<Num>>,
    #[serde(default)]
    pub TaxTotal: Option<Val<Num>>,
    #[serde(default)]
    pub BillToAddress: Option<AddressWire>,
    #[serde(default)]
    pub BillToContact: Option<DocContactWire>,
    #[serde(default)]
    pub ShipToAddress: Option<AddressWire>,
    #[serde(default)]
    pub ShipToContact: Option<DocContactWire>,
    #[serde(default)]
    pub Totals: Option<TotalsWire>,
    #[serde(default)]
    pub Details: Vec<SalesOrderLineWire>,
    /// `{"value": "..."}` in current versions, a bare string in some older ones.
    #[serde(default)]
    pub note: Option<serde_json::Value>,
}

/// One `Details[]` row of a sales order, as the publish flow reads it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderLineWire {
    #[serde(default)]
    pub LineNbr: Option<Val<Num>>,
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub LineDescription: Option<Val<String>>,
    #[serde(default)]
    pub OrderQty: Option<Val<Num>>,
    #[serde(default)]
    pub UOM: Option<Val<String>>,
    #[serde(default)]
    pub WarehouseID: Option<Val<String>>,
    #[serde(default)]
    pub UnitPrice: Option<Val<Num>>,
    #[serde(default)]
    pub DiscountAmount: Option<Val<Num>>,
    #[serde(default)]
    pub Amount: Option<Val<Num>>,
}

/// The sales order's `Totals` block (`$expand=Totals`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TotalsWire {
    #[serde(default)]
    pub LineTotalAmount: Option<Val<Num>>,
    #[serde(default)]
    pub Freight: Option<Val<Num>>,
    #[serde(default)]
    pub TaxTotal: Option<Val<Num>>,
    #[serde(default)]
    pub DiscountTotal: Option<Val<Num>>,
    #[serde(default)]
    pub UnpaidBalance: Option<Val<Num>>,
}

/// `GET Customer/{id}?$select=CustomerID,CustomerClass`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerClassWire {
    #[serde(default)]
    pub CustomerClass: Option<Val<String>>,
}

/// `PUT SalesOrder` (update only, `If-Match: *`): the channel's order number in `ExternalRef`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SalesOrderExternalRefPut {
    pub OrderType: Option<Val<String>>,
    pub OrderNbr: Option<Val<String>>,
    pub ExternalRef: Option<Val<String>>,
}

/// A user-defined decimal field as the contract API writes it.
#[derive(Debug, Clone, Serialize)]
pub struct CustomDecimalField {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Num,
}

/// `PUT SalesOrder` writing user-defined fields of an existing order: view → field → value.
#[derive(Debug, Clone, Serialize)]
pub struct SalesOrderCustomPut {
    pub OrderType: Option<Val<String>>,
    pub OrderNbr: Option<Val<String>>,
    pub custom: std::collections::BTreeMap<String, std::collections::BTreeMap<String, CustomDecimalField>>,
}

/// `GET SalesOrder/{t}/{n}?$expand=Shipments`: the invoices of the order's shipments.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderInvoicesWire {
    #[serde(default)]
    pub Shipments: Vec<SalesOrderShipmentInvoiceWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesOrderShipmentInvoiceWire {
    #[serde(default)]
    pub InvoiceType: Option<Val<String>>,
    #[serde(default)]
    pub InvoiceNbr: Option<Val<String>>,
}

/// `GET SalesInvoice/{Type}/{ReferenceNbr}?$expand=Details`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesInvoiceWire {
    #[serde(default)]
    pub Type: Option<Val<String>>,
    #[serde(default)]
    pub ReferenceNbr: Option<Val<String>>,
    #[serde(default)]
    pub Status: Option<Val<String>>,
    #[serde(default)]
    pub Details: Vec<SalesInvoiceLineWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesInvoiceLineWire {
    #[serde(default)]
    pub OrderType: Option<Val<String>>,
    #[serde(default)]
    pub OrderNbr: Option<Val<String>>,
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub Qty: Option<Val<Num>>,
}

// ---------------------------------------------------------------------------------------------
// Shipments exported to a shipping station (vendor-apis-erp-out.md B.3).
// ---------------------------------------------------------------------------------------------

/// `GET Shipment?$expand=Details,Packages,Orders,ShippingSettings/ShipToAddress,ShippingSettings/ShipToContact`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutboundShipmentWire {
    #[serde(default)]
    pub ShipmentNbr: Option<Val<String>>,
    #[serde(default)]
    pub Status: Option<Val<String>>,
    #[serde(default)]
    pub ShipmentDate: Option<Val<String>>,
    #[serde(default)]
    pub ShipVia: Option<Val<String>>,
    #[serde(default)]
    pub CustomerID: Option<Val<String>>,
    #[serde(default)]
    pub LastModifiedDateTime: Option<Val<String>>,
    #[serde(default)]
    pub note: Option<serde_json::Value>,
    #[serde(default)]
    pub ShippingSettings: Option<ShipmentShippingWire>,
    #[serde(default)]
    pub Orders: Vec<ShipmentOrderWire>,
    #[serde(default)]
    pub Details: Vec<OutboundDetailWire>,
    #[serde(default)]
    pub Packages: Vec<OutboundPackageWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentShippingWire {
    #[serde(default)]
    pub ShipToAddress: Option<AddressWire>,
    #[serde(default)]
    pub ShipToContact: Option<DocContactWire>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutboundDetailWire {
    #[serde(default)]
    pub LineNbr: Option<Val<Num>>,
    #[serde(default)]
    pub OrderLineNbr: Option<Val<Num>>,
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub Description: Option<Val<String>>,
    #[serde(default)]
    pub ShippedQty: Option<Val<Num>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutboundPackageWire {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub BoxID: Option<Val<String>>,
    #[serde(default)]
    pub TrackingNbr: Option<Val<String>>,
    #[serde(default)]
    pub Weight: Option<Val<Num>>,
}

/// `PUT Shipment` adding or updating package rows (`id` updates a row; none adds one).
#[derive(Debug, Clone, Serialize)]
pub struct ShipmentPackagesPut {
    pub ShipmentNbr: Option<Val<String>>,
    pub Packages: Vec<PackageRowPut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageRowPut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BoxID: Option<Val<String>>,
    pub TrackingNbr: Option<Val<String>>,
}

/// `PUT Shipment` writing the shipment's note (update only).
#[derive(Debug, Clone, Serialize)]
pub struct ShipmentNotePut {
    pub ShipmentNbr: Option<Val<String>>,
    pub note: Option<Val<String>>,
}

/// `PUT InventoryQuantityAvailable?$expand=Results` (B.2): items whose availability changed since
/// `LastModifiedDateTime`, with the quantity available in every warehouse together.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QtyAvailableInquiry {
    #[serde(default)]
    pub Results: Vec<QtyAvailableRow>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QtyAvailableRow {
    #[serde(default)]
    pub InventoryID: Option<Val<String>>,
    #[serde(default)]
    pub QtyAvailable: Option<Val<Num>>,
    #[serde(default)]
    pub LastModifiedDateTime: Option<Val<String>>,
}

/// `PUT InventorySummaryInquiry?$expand=Results` (B.2): one item's quantities per warehouse.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SummaryInquiry {
    #[serde(default)]
    pub Results: Vec<SummaryRow>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SummaryRow {
    #[serde(default)]
    pub WarehouseID: Option<Val<String>>,
    #[serde(default)]
    pub QtyAvailable: Option<Val<Num>>,
}

//! ShipStation's JSON as it arrives (camelCase, numbers for ids and quantities).
//!
//! A listing's shipments are kept as raw JSON and decoded one field at a time, so one label with
//! an odd field is skipped with the field named instead of failing (or hiding) the whole page.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::connectors::lenient;

/// `GET /shipments` page: `{shipments, total, page, pages}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ShipmentsPage {
    #[serde(default)]
    pub shipments: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub pages: Option<i64>,
}

/// A listed shipment or one of its items that cannot be read: which shipment, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shipment {shipment}: {field}: {problem}")]
pub struct Unreadable {
    /// The `shipmentId` as sent (it may itself be the unreadable field).
    pub shipment: String,
    /// The JSON field, e.g. `shipDate` or `shipmentItems[1].quantity`.
    pub field: String,
    pub problem: String,
}

/// The fields of one label shipment Orderbridge uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShipmentWire {
    pub shipment_id: i64,
    pub order_number: Option<String>,
    pub order_key: Option<String>,
    pub create_date: Option<String>,
    pub ship_date: Option<String>,
    pub tracking_number: Option<String>,
    pub carrier_code: Option<String>,
    pub service_code: Option<String>,
    pub voided: bool,
    /// `advancedOptions.storeId`.
    pub store_id: Option<i64>,
    /// `shipmentItems`; empty when the listing left them out.
    pub items: Vec<ShipmentItemWire>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShipmentItemWire {
    pub sku: Option<String>,
    pub line_item_key: Option<String>,
    pub quantity: Option<Decimal>,
}

/// Absent, null and blank are `None`; numbers are taken as their text (order numbers can be numeric).
fn text(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("expected text, got {other}")),
    }
}

fn integer(value: Option<&Value>) -> Result<Option<i64>, String> {
    match lenient::decimal_from_value(value.unwrap_or(&Value::Null))? {
        None => Ok(None),
        Some(d) if d.fract().is_zero() => i64::try_from(d).map(Some).map_err(|_| format!("{d} is out of range")),
        Some(d) => Err(format!("{d} is not an integer")),
    }
}

fn flag(value: Option<&Value>) -> Result<bool, String> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("expected true or false, got {other}")),
    }
}

impl ShipmentWire {
    /// Reads one element of a listing's `shipments`; the error names the first unreadable field.
    pub fn decode(raw: &Value) -> Result<Self, Unreadable> {
        let shipment = raw.get("shipmentId").map_or_else(|| "(no shipmentId)".to_owned(), Value::to_string);
        let bad =
            |field: &str, problem: String| Unreadable { shipment: shipment.clone(), field: field.into(), problem };
        if !raw.is_object() {
            return Err(bad("(shipment)", format!("expected an object, got {raw}")));
        }
        let text_of = |field: &str| text(raw.get(field)).map_err(|p| bad(field, p));
        let shipment_id = integer(raw.get("shipmentId"))
            .map_err(|p| bad("shipmentId", p))?
            .ok_or_else(|| bad("shipmentId", "missing".into()))?;
        let store_id = match raw.get("advancedOptions") {
            None | Some(Value::Null) => None,
            Some(options) => integer(options.get("storeId")).map_err(|p| bad("advancedOptions.storeId", p))?,
        };
        let items = match raw.get("shipmentItems") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let field = |name: &str| format!("shipmentItems[{i}].{name}");
                    Ok(ShipmentItemWire {
                        sku: text(item.get("sku")).map_err(|p| bad(&field("sku"), p))?,
                        line_item_key: text(item.get("lineItemKey")).map_err(|p| bad(&field("lineItemKey"), p))?,
                        quantity: lenient::decimal_from_value(item.get("quantity").unwrap_or(&Value::Null))
                            .map_err(|p| bad(&field("quantity"), p))?,
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(bad("shipmentItems", format!("expected a list, got {other}"))),
        };
        Ok(Self {
            shipment_id,
            order_number: text_of("orderNumber")?,
            order_key: text_of("orderKey")?,
            create_date: text_of("createDate")?,
            ship_date: text_of("shipDate")?,
            tracking_number: text_of("trackingNumber")?,
            carrier_code: text_of("carrierCode")?,
            service_code: text_of("serviceCode")?,
            voided: flag(raw.get("voided")).map_err(|p| bad("voided", p))?,
            store_id,
            items,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Orders Orderbridge creates (`POST /orders/createorders`, vendor-apis-erp-out §C.1).
// ---------------------------------------------------------------------------------------------

/// An address as createorder takes it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressBody {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    pub street1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WeightBody {
    pub value: Decimal,
    pub units: &'static str,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    pub line_item_key: String,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<WeightBody>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedOptionsBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<i64>,
    pub custom_field1: String,
    pub source: &'static str,
}

/// One order of `createorder(s)`: created, or updated when `orderKey` exists.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    pub order_number: String,
    pub order_key: String,
    /// Offset-less, in the account's (or store's) zone.
    pub order_date: String,
    pub order_status: &'static str,
    pub bill_to: AddressBody,
    pub ship_to: AddressBody,
    pub items: Vec<ItemBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_shipping_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<WeightBody>,
    pub advanced_options: AdvancedOptionsBody,
}

/// The answer of `createorders`: one result per order.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrdersReply {
    #[serde(default)]
    pub results: Vec<CreateOrderResult>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderResult {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub order_id: Option<i64>,
    #[serde(default)]
    pub order_key: Option<String>,
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub error_message: Option<String>,
}

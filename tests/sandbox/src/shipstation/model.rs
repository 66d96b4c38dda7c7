//! The ShipStation V1 Order model [SS7][SS12]: what `createorder` keeps of a request and how it
//! answers. ShipStation binds the body to its typed model (JSON.NET): numbers and booleans sent as
//! strings are read as numbers and booleans, fields the model does not have are dropped, and the
//! answer is the model with every field present (`null` when not set, `false` for flags).

use serde_json::{Map, Value};

use crate::core::{parse_bool, parse_decimal, parse_i64};

/// Type of one model field.
#[derive(Clone, Copy)]
enum Ty {
    /// String (numbers and booleans are converted to their text).
    Str,
    /// Integer.
    Int,
    /// Decimal number.
    Dec,
    /// Nullable boolean.
    Bool,
    /// Non-nullable boolean: `false` when not sent.
    Flag,
    /// Nested object.
    Obj(&'static [(&'static str, Ty)]),
    /// Nested object that is always present (built from `{}` when not sent).
    Always(&'static [(&'static str, Ty)]),
    /// Array of objects.
    List(&'static [(&'static str, Ty)]),
    /// Nullable array of integers.
    Ints,
    /// Array of integers, `[]` when not sent.
    IntsOrEmpty,
}

use Ty::*;

const ADDRESS: &[(&str, Ty)] = &[
    ("name", Str),
    ("company", Str),
    ("street1", Str),
    ("street2", Str),
    ("street3", Str),
    ("city", Str),
    ("state", Str),
    ("postalCode", Str),
    ("country", Str),
    ("phone", Str),
    ("residential", Bool),
    ("addressVerified", Str),
];

const WEIGHT: &[(&str, Ty)] = &[("value", Dec), ("units", Str), ("WeightUnits", Int)];

const DIMENSIONS: &[(&str, Ty)] = &[("length", Dec), ("width", Dec), ("height", Dec), ("units", Str)];

const ITEM_OPTION: &[(&str, Ty)] = &[("name", Str), ("value", Str)];

const ITEM: &[(&str, Ty)] = &[
    ("orderItemId", Int),
    ("lineItemKey", Str),
    ("sku", Str),
    ("name", Str),
    ("imageUrl", Str),
    ("weight", Obj(WEIGHT)),
    ("quantity", Int),
    ("unitPrice", Dec),
    ("taxAmount", Dec),
    ("shippingAmount", Dec),
    ("warehouseLocation", Str),
    ("options", List(ITEM_OPTION)),
    ("productId", Int),
    ("fulfillmentSku", Str),
    ("adjustment", Flag),
    ("upc", Str),
    ("createDate", Str),
    ("modifyDate", Str),
];

const INSURANCE: &[(&str, Ty)] = &[("provider", Str), ("insureShipment", Flag), ("insuredValue", Dec)];

const CUSTOMS_ITEM: &[(&str, Ty)] = &[
    ("customsItemId", Int),
    ("description", Str),
    ("quantity", Int),
    ("value", Dec),
    ("harmonizedTariffCode", Str),
    ("countryOfOrigin", Str),
];

const INTERNATIONAL: &[(&str, Ty)] = &[("contents", Str), ("customsItems", List(CUSTOMS_ITEM)), ("nonDelivery", Str)];

const ADVANCED: &[(&str, Ty)] = &[
    ("warehouseId", Int),
    ("nonMachinable", Flag),
    ("saturdayDelivery", Flag),
    ("containsAlcohol", Flag),
    ("mergedOrSplit", Flag),
    ("mergedIds", IntsOrEmpty),
    ("parentId", Int),
    ("storeId", Int),
    ("customField1", Str),
    ("customField2", Str),
    ("customField3", Str),
    ("source", Str),
    ("billToParty", Str),
    ("billToAccount", Str),
    ("billToPostalCode", Str),
    ("billToCountryCode", Str),
    ("billToMyOtherAccount", Str),
];

/// The Order model, in ShipStation's field order.
const ORDER: &[(&str, Ty)] = &[
    ("orderId", Int),
    ("orderNumber", Str),
    ("orderKey", Str),
    ("orderDate", Str),
    ("createDate", Str),
    ("modifyDate", Str),
    ("paymentDate", Str),
    ("shipByDate", Str),
    ("orderStatus", Str),
    ("customerId", Int),
    ("customerUsername", Str),
    ("customerEmail", Str),
    ("billTo", Obj(ADDRESS)),
    ("shipTo", Obj(ADDRESS)),
    ("items", List(ITEM)),
    ("orderTotal", Dec),
    ("amountPaid", Dec),
    ("taxAmount", Dec),
    ("shippingAmount", Dec),
    ("customerNotes", Str),
    ("internalNotes", Str),
    ("gift", Flag),
    ("giftMessage", Str),
    ("paymentMethod", Str),
    ("requestedShippingService", Str),
    ("carrierCode", Str),
    ("serviceCode", Str),
    ("packageCode", Str),
    ("confirmation", Str),
    ("shipDate", Str),
    ("holdUntilDate", Str),
    ("weight", Obj(WEIGHT)),
    ("dimensions", Obj(DIMENSIONS)),
    ("insuranceOptions", Always(INSURANCE)),
    ("internationalOptions", Always(INTERNATIONAL)),
    ("advancedOptions", Always(ADVANCED)),
    ("tagIds", Ints),
    ("userId", Str),
    ("externallyFulfilled", Flag),
    ("externallyFulfilledBy", Str),
    ("labelMessages", Str),
];

/// The request body read as the Order model: known fields only, typed, every field present.
/// Fails like model binding does, naming the path of a value that cannot be converted.
pub fn order_from_request(body: &Value) -> Result<Value, String> {
    object(ORDER, body, "")
}

fn object(fields: &[(&str, Ty)], v: &Value, path: &str) -> Result<Value, String> {
    let empty = Map::new();
    let src = match v {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => return Err(invalid(other, "object", path)),
    };
    let mut out = Map::new();
    for (name, ty) in fields {
        let p = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
        out.insert(name.to_string(), field(*ty, src.get(*name).unwrap_or(&Value::Null), &p)?);
    }
    Ok(Value::Object(out))
}

fn field(ty: Ty, v: &Value, path: &str) -> Result<Value, String> {
    // An empty string reads as "not set" for every non-string type (JSON.NET does the same for
    // nullable values).
    let unset = v.is_null() || (v.as_str().is_some_and(|s| s.trim().is_empty()) && !matches!(ty, Str));
    if unset {
        return Ok(match ty {
            Flag => Value::Bool(false),
            IntsOrEmpty => Value::Array(Vec::new()),
            Always(fields) => object(fields, &Value::Null, path)?,
            _ => Value::Null,
        });
    }
    match ty {
        Str => match v {
            Value::String(_) => Ok(v.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(invalid(other, "string", path)),
        },
        Int => int(v, path),
        Dec => match v {
            Value::Number(_) => Ok(v.clone()),
            other => parse_decimal(other)
                .and_then(|d| serde_json::from_str::<Value>(&d.to_string()).ok())
                .ok_or_else(|| invalid(other, "decimal", path)),
        },
        Bool | Flag => parse_bool(v).map(Value::Bool).ok_or_else(|| invalid(v, "boolean", path)),
        Obj(fields) | Always(fields) => object(fields, v, path),
        List(fields) => match v {
            Value::Array(a) => a.iter().enumerate().map(|(i, x)| object(fields, x, &format!("{path}[{i}]"))).collect(),
            other => Err(invalid(other, "array", path)),
        },
        Ints | IntsOrEmpty => match v {
            Value::Array(a) => a.iter().enumerate().map(|(i, x)| int(x, &format!("{path}[{i}]"))).collect(),
            other => Err(invalid(other, "array", path)),
        },
    }
}

fn int(v: &Value, path: &str) -> Result<Value, String> {
    match v {
        Value::Number(_) | Value::String(_) => parse_i64(v).map(Value::from).ok_or_else(|| invalid(v, "integer", path)),
        other => Err(invalid(other, "integer", path)),
    }
}

fn invalid(v: &Value, ty: &str, path: &str) -> String {
    let shown = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("The request is invalid: could not convert '{shown}' to {ty}. Path '{path}'.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_become_typed_values_and_unknown_fields_are_dropped() {
        let o = order_from_request(&json!({
            "orderNumber": 1001, "amountPaid": "12.50", "gift": "True", "customerId": "42",
            "items": [{"quantity": "3", "unitPrice": 4, "adjustment": "false", "extra": 1}],
            "advancedOptions": {"storeId": "7", "mergedIds": ["1", 2]}, "tagIds": [], "bogus": {},
        }))
        .unwrap();
        assert_eq!(o["orderNumber"], "1001");
        assert_eq!(o["amountPaid"].to_string(), "12.50");
        assert_eq!(o["gift"], true);
        assert_eq!(o["customerId"], 42);
        assert_eq!(o["items"][0]["quantity"], 3);
        assert_eq!(o["items"][0]["unitPrice"], 4);
        assert_eq!(o["items"][0]["adjustment"], false);
        assert!(o["items"][0].get("extra").is_none());
        assert_eq!(o["advancedOptions"]["storeId"], 7);
        assert_eq!(o["advancedOptions"]["mergedIds"], json!([1, 2]));
        assert_eq!(o["advancedOptions"]["nonMachinable"], false);
        assert_eq!(o["insuranceOptions"]["insureShipment"], false);
        assert!(o["dimensions"].is_null() && o["billTo"].is_null());
        assert!(o.get("bogus").is_none());
        assert_eq!(o.as_object().unwrap().len(), ORDER.len());
    }

    #[test]
    fn unconvertible_values_name_their_path() {
        let e = order_from_request(&json!({"items": [{"quantity": "two"}]})).unwrap_err();
        assert!(e.contains("items[0].quantity"), "{e}");
        assert!(order_from_request(&json!({"gift": "maybe"})).unwrap_err().contains("'gift'"));
        assert!(order_from_request(&json!({"billTo": "Ann"})).unwrap_err().contains("'billTo'"));
    }
}

//! `GET /entity/Default/{version}/swagger.json`: an OpenAPI 2.0 description of the entities the
//! sandbox models, in the shape Acumatica's endpoint generator consumes (wrapped value types such
//! as `StringValue`, entity definitions that extend `Entity`, detail collections as arrays).
//! It lists only the modelled entities and fields.

use serde_json::{json, Map, Value};

/// (definition, [(field, type)]) — types: S string, D decimal, B bool, T datetime, I int, or a
/// definition name for linked entities, `[Name]` for detail collections.
const DEFS: &[(&str, &[(&str, &str)])] = &[
    (
        "SalesOrder",
        &[
            ("OrderType", "S"),
            ("OrderNbr", "S"),
            ("CustomerID", "S"),
            ("LocationID", "S"),
            ("ContactID", "S"),
            ("CustomerOrder", "S"),
            ("ExternalRef", "S"),
            ("Date", "T"),
            ("RequestedOn", "T"),
            ("EffectiveDate", "T"),
            ("CreatedDate", "T"),
            ("LastModified", "T"),
            ("Description", "S"),
            ("Status", "S"),
            ("Hold", "B"),
            ("CreditHold", "B"),
            ("Approved", "B"),
            ("CurrencyID", "S"),
            ("OrderTotal", "D"),
            ("TaxTotal", "D"),
            ("OrderedQty", "D"),
            ("ControlTotal", "D"),
            ("ShipVia", "S"),
            ("PaymentMethod", "S"),
            ("CashAccount", "S"),
            ("PaymentRef", "S"),
            ("DisableAutomaticTaxCalculation", "B"),
            ("DisableAutomaticDiscountUpdate", "B"),
            ("TaxCalcMode", "S"),
            ("WillCall", "B"),
            ("ExternalOrderOrigin", "S"),
            ("ExternalOrderSource", "S"),
            ("Branch", "S"),
            ("BillToAddressOverride", "B"),
            ("ShipToAddressOverride", "B"),
            ("BillToContactOverride", "B"),
            ("ShipToContactOverride", "B"),
            ("BillToAddress", "Address"),
            ("ShipToAddress", "Address"),
            ("BillToContact", "DocContact"),
            ("ShipToContact", "DocContact"),
            ("ShippingSettings", "SalesOrderShippingSettings"),
            ("Totals", "SalesOrderTotals"),
            ("Details", "[SalesOrderDetail]"),
            ("Payments", "[SalesOrderPayment]"),
            ("TaxDetails", "[TaxDetail]"),
            ("DiscountDetails", "[SalesOrdersDiscountDetails]"),
            ("Shipments", "[SalesOrderShipment]"),
        ],
    ),
    (
        "SalesOrderDetail",
        &[
            ("InventoryID", "S"),
            ("OrderQty", "D"),
            ("UOM", "S"),
            ("WarehouseID", "S"),
            ("LineNbr", "I"),
            ("LineDescription", "S"),
            ("LineType", "S"),
            ("UnitPrice", "D"),
            ("ManualPrice", "B"),
            ("DiscountAmount", "D"),
            ("DiscountPercent", "D"),
            ("DiscountCode", "S"),
            ("ManualDiscount", "B"),
            ("DiscountedUnitPrice", "D"),
            ("ExtendedPrice", "D"),
            ("Amount", "D"),
            ("UnitCost", "D"),
            ("FreeItem", "B"),
            ("TaxCategory", "S"),
            ("Completed", "B"),
            ("OpenQty", "D"),
            ("QtyOnShipments", "D"),
            ("ExternalRef", "S"),
            ("RequestedOn", "T"),
            ("ShipOn", "T"),
        ],
    ),
    (
        "SalesOrderPayment",
        &[
            ("DocType", "S"),
            ("ReferenceNbr", "S"),
            ("PaymentMethod", "S"),
            ("PaymentAmount", "D"),
            ("AppliedToOrder", "D"),
            ("PaymentRef", "S"),
            ("CashAccount", "S"),
            ("Currency", "S"),
            ("Status", "S"),
            ("Hold", "B"),
            ("ExternalRef", "S"),
        ],
    ),
    (
        "TaxDetail",
        &[
            ("TaxID", "S"),
            ("TaxRate", "D"),
            ("TaxableAmount", "D"),
            ("TaxAmount", "D"),
            ("TaxType", "S"),
            ("LineNbr", "I"),
            ("OrderNbr", "S"),
            ("OrderType", "S"),
            ("CustomerTaxZone", "S"),
        ],
    ),
    ("SalesOrdersDiscountDetails", &[("DiscountCode", "S"), ("DiscountAmount", "D"), ("ManualDiscount", "B")]),
    (
        "SalesOrderShipment",
        &[("ShipmentNbr", "S"), ("ShipmentType", "S"), ("Status", "S"), ("ShippedQty", "D"), ("ShipmentDate", "T")],
    ),
    (
        "SalesOrderShippingSettings",
        &[
            ("ShipVia", "S"),
            ("ShippingTerms", "S"),
            ("ShippingZone", "S"),
            ("FOBPoint", "S"),
            ("Priority", "I"),
            ("ShipSeparately", "B"),
            ("ShippingRule", "S"),
            ("ScheduledShipmentDate", "T"),
            ("CancelByDate", "T"),
            ("Canceled", "B"),
            ("PreferredWarehouseID", "S"),
            ("ResidentialDelivery", "B"),
            ("SaturdayDelivery", "B"),
            ("Insurance", "B"),
            ("FreightPrice", "D"),
            ("FreightCost", "D"),
            ("OverrideFreightPrice", "B"),
            ("OrderWeight", "D"),
            ("OrderVolume", "D"),
            ("PackageWeight", "D"),
        ],
    ),
    (
        "SalesOrderTotals",
        &[
            ("LineTotalAmount", "D"),
            ("Freight", "D"),
            ("DiscountTotal", "D"),
            ("TaxTotal", "D"),
            ("UnpaidBalance", "D"),
        ],
    ),
    (
        "Address",
        &[
            ("AddressLine1", "S"),
            ("AddressLine2", "S"),
            ("City", "S"),
            ("State", "S"),
            ("PostalCode", "S"),
            ("Country", "S"),
            ("Validated", "B"),
        ],
    ),
    ("DocContact", &[("Attention", "S"), ("BusinessName", "S"), ("Email", "S"), ("Phone1", "S")]),
    (
        "Customer",
        &[
            ("CustomerID", "S"),
            ("CustomerName", "S"),
            ("CustomerClass", "S"),
            ("Email", "S"),
            ("Status", "S"),
            ("Terms", "S"),
            ("TaxZone", "S"),
            ("ShipVia", "S"),
            ("CurrencyID", "S"),
            ("IsGuestCustomer", "B"),
            ("CreatedDateTime", "T"),
            ("LastModifiedDateTime", "T"),
            ("MainContact", "Contact"),
        ],
    ),
    ("Contact", &[("Email", "S"), ("Phone1", "S"), ("DisplayName", "S"), ("Address", "Address")]),
    (
        "StockItem",
        &[
            ("InventoryID", "S"),
            ("Description", "S"),
            ("ItemStatus", "S"),
            ("ItemClass", "S"),
            ("BaseUOM", "S"),
            ("DefaultPrice", "D"),
            ("DefaultWarehouseID", "S"),
            ("LastModified", "T"),
            ("CrossReferences", "[InventoryItemCrossReference]"),
        ],
    ),
    (
        "InventoryItemCrossReference",
        &[
            ("AlternateID", "S"),
            ("AlternateType", "S"),
            ("Description", "S"),
            ("Subitem", "S"),
            ("UOM", "S"),
            ("VendorOrCustomer", "S"),
        ],
    ),
    (
        "Shipment",
        &[
            ("ShipmentNbr", "S"),
            ("Type", "S"),
            ("Status", "S"),
            ("Operation", "S"),
            ("CustomerID", "S"),
            ("LocationID", "S"),
            ("ShipmentDate", "T"),
            ("ShipVia", "S"),
            ("WarehouseID", "S"),
            ("Hold", "B"),
            ("PackageCount", "I"),
            ("ShippedQty", "D"),
            ("ShippedWeight", "D"),
            ("FreightCost", "D"),
            ("FreightPrice", "D"),
            ("LastModifiedDateTime", "T"),
            ("Orders", "[ShipmentOrderDetail]"),
            ("Details", "[ShipmentDetail]"),
            ("Packages", "[ShipmentPackage]"),
        ],
    ),
    (
        "ShipmentOrderDetail",
        &[
            ("OrderType", "S"),
            ("OrderNbr", "S"),
            ("ShipmentNbr", "S"),
            ("ShipmentType", "S"),
            ("ShippedQty", "D"),
            ("InvoiceNbr", "S"),
        ],
    ),
    (
        "ShipmentDetail",
        &[
            ("LineNbr", "I"),
            ("InventoryID", "S"),
            ("ShippedQty", "D"),
            ("OrderType", "S"),
            ("OrderNbr", "S"),
            ("OrderLineNbr", "I"),
            ("WarehouseID", "S"),
            ("UOM", "S"),
        ],
    ),
    (
        "ShipmentPackage",
        &[
            ("LineNbr", "I"),
            ("BoxID", "S"),
            ("Type", "S"),
            ("TrackingNbr", "S"),
            ("Weight", "D"),
            ("UOM", "S"),
            ("DeclaredValue", "D"),
            ("CODAmount", "D"),
            ("Confirmed", "B"),
            ("Description", "S"),
            ("CustomRefNbr1", "S"),
            ("CustomRefNbr2", "S"),
            ("PackageContents", "[ShipmentPackageDetail]"),
        ],
    ),
    (
        "ShipmentPackageDetail",
        &[
            ("InventoryID", "S"),
            ("LotSerialNbr", "S"),
            ("Quantity", "D"),
            ("ShipmentSplitLineNbr", "I"),
            ("Subitem", "S"),
            ("UOM", "S"),
        ],
    ),
];

const TOP_LEVEL: &[&str] = &["SalesOrder", "Customer", "StockItem", "Shipment"];

fn value_def(json_type: &str, format: Option<&str>) -> Value {
    let mut v = json!({ "type": json_type });
    if let Some(f) = format {
        v["format"] = json!(f);
    }
    json!({ "type": "object", "properties": { "value": v } })
}

/// The OpenAPI 2.0 document for `version`.
pub fn swagger(version: &str, instance: &str) -> Value {
    let mut defs = Map::new();
    defs.insert("StringValue".into(), value_def("string", None));
    defs.insert("DecimalValue".into(), value_def("number", Some("double")));
    defs.insert("BooleanValue".into(), value_def("boolean", None));
    defs.insert("DateTimeValue".into(), value_def("string", Some("date-time")));
    defs.insert("IntValue".into(), value_def("integer", Some("int32")));
    defs.insert(
        "Entity".into(),
        json!({ "type": "object", "properties": {
            "id": { "type": "string", "format": "uuid" }, "rowNumber": { "type": "integer", "format": "int64" },
            "note": { "$ref": "#/definitions/StringValue" }, "custom": { "type": "object" },
            "error": { "type": "string" }, "files": { "type": "array", "items": { "type": "object" } },
        }}),
    );
    for (name, fields) in DEFS {
        let mut props = Map::new();
        for (f, t) in *fields {
            let p = match *t {
                "S" => json!({ "$ref": "#/definitions/StringValue" }),
                "D" => json!({ "$ref": "#/definitions/DecimalValue" }),
                "B" => json!({ "$ref": "#/definitions/BooleanValue" }),
                "T" => json!({ "$ref": "#/definitions/DateTimeValue" }),
                "I" => json!({ "$ref": "#/definitions/IntValue" }),
                other if other.starts_with('[') => {
                    json!({ "type": "array", "items": { "$ref": format!("#/definitions/{}", other.trim_matches(['[', ']'])) } })
                }
                other => json!({ "$ref": format!("#/definitions/{other}") }),
            };
            props.insert(f.to_string(), p);
        }
        defs.insert(
            name.to_string(),
            json!({ "allOf": [ { "$ref": "#/definitions/Entity" }, { "type": "object", "properties": props } ] }),
        );
    }
    let params = json!([
        { "name": "$select", "in": "query", "type": "string" },
        { "name": "$filter", "in": "query", "type": "string" },
        { "name": "$expand", "in": "query", "type": "string" },
        { "name": "$custom", "in": "query", "type": "string" },
        { "name": "$skip", "in": "query", "type": "integer" },
        { "name": "$top", "in": "query", "type": "integer" },
    ]);
    let mut paths = Map::new();
    for e in TOP_LEVEL {
        let r = json!({ "$ref": format!("#/definitions/{e}") });
        paths.insert(
            format!("/{e}"),
            json!({
                "get": { "tags": [e], "operationId": format!("{e}_GetList"), "parameters": params,
                         "responses": { "200": { "description": "OK", "schema": { "type": "array", "items": r } } } },
                "put": { "tags": [e], "operationId": format!("{e}_PutEntity"),
                         "parameters": [ { "name": "entity", "in": "body", "required": true, "schema": r } ],
                         "responses": { "200": { "description": "OK", "schema": r }, "412": { "description": "Precondition Failed" },
                                        "422": { "description": "Unprocessable Entity", "schema": r } } },
            }),
        );
        paths.insert(
            format!("/{e}/{{ids}}"),
            json!({
                "get": { "tags": [e], "operationId": format!("{e}_GetByKeys"),
                         "parameters": [ { "name": "ids", "in": "path", "required": true, "type": "string" } ],
                         "responses": { "200": { "description": "OK", "schema": r }, "404": { "description": "Not Found" } } },
                "delete": { "tags": [e], "operationId": format!("{e}_DeleteByKeys"),
                            "parameters": [ { "name": "ids", "in": "path", "required": true, "type": "string" } ],
                            "responses": { "204": { "description": "No Content" } } },
            }),
        );
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "Default/".to_string() + version, "version": version },
        "basePath": format!("/{instance}/entity/Default/{version}"),
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": defs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_to_a_definition() {
        let doc = swagger("24.200.001", "AcumaticaERP");
        let defs = doc["definitions"].as_object().unwrap();
        let text = doc.to_string();
        for piece in text.split("\"#/definitions/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(defs.contains_key(name), "dangling $ref {name}");
        }
        assert!(doc["paths"]["/SalesOrder"]["put"].is_object());
    }
}

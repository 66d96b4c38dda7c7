//! `GET /entity/Default/{version}/swagger.json`: the endpoint schema of the entities the sandbox
//! models, in the shape Acumatica's endpoint generator consumes (wrapped value types such as
//! `StringValue`, entity definitions that extend `Entity`, detail collections as arrays). It lists
//! only the modelled entities and fields.
//!
//! Acumatica serves **OpenAPI 3.0.1** for 24.200.001 and later (`"openapi": "3.0.1"`, `servers`,
//! `components/schemas`, `requestBody`, parameters by `$ref` to `components/parameters`) and
//! **Swagger 2.0** for 22.200.001 and 23.200.001 (`"swagger": "2.0"`, `host`/`basePath`,
//! `definitions`, a `body` parameter) — Acumatica/AcumaticaRESTAPIClientForCSharp,
//! `EndpointDefinitions/Default_2x.200.001`. Both shapes carry the same entities and fields.

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
            ("Balance", "D"),
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
        &[
            ("ShipmentNbr", "S"),
            ("ShipmentType", "S"),
            ("Status", "S"),
            ("ShippedQty", "D"),
            ("ShipmentDate", "T"),
            ("InvoiceType", "S"),
            ("InvoiceNbr", "S"),
        ],
    ),
    (
        "SalesInvoice",
        &[
            ("Type", "S"),
            ("ReferenceNbr", "S"),
            ("Status", "S"),
            ("Hold", "B"),
            ("CreditHold", "B"),
            ("Date", "T"),
            ("DueDate", "T"),
            ("CustomerID", "S"),
            ("LocationID", "S"),
            ("CustomerOrder", "S"),
            ("CurrencyID", "S"),
            ("Description", "S"),
            ("Amount", "D"),
            ("Balance", "D"),
            ("PaymentTotal", "D"),
            ("TaxTotal", "D"),
            ("DetailTotal", "D"),
            ("DiscountTotal", "D"),
            ("FreightPrice", "D"),
            ("CreatedDateTime", "T"),
            ("LastModifiedDateTime", "T"),
            ("Details", "[SalesInvoiceDetail]"),
            ("ApplicationsInvoice", "[SalesInvoiceApplicationInvoice]"),
            ("ApplicationsCreditMemo", "[SalesInvoiceApplicationInvoice]"),
        ],
    ),
    (
        "SalesInvoiceDetail",
        &[
            ("OrderType", "S"),
            ("OrderNbr", "S"),
            ("OrderLineNbr", "I"),
            ("ShipmentNbr", "S"),
            ("InventoryID", "S"),
            ("TransactionDescr", "S"),
            ("Qty", "D"),
            ("UOM", "S"),
            ("UnitPrice", "D"),
            ("Amount", "D"),
        ],
    ),
    (
        "SalesInvoiceApplicationInvoice",
        &[("DocType", "S"), ("ReferenceNbr", "S"), ("AmountPaid", "D"), ("Balance", "D")],
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
            ("UnbilledAmount", "D"),
            ("UnbilledQty", "D"),
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
            ("PackageWeight", "D"),
            ("ShippedQty", "D"),
            ("ShippedWeight", "D"),
            ("FreightCost", "D"),
            ("FreightPrice", "D"),
            ("LastModifiedDateTime", "T"),
            ("ShippingSettings", "ShipmentShippingSettings"),
            ("Orders", "[ShipmentOrderDetail]"),
            ("Details", "[ShipmentDetail]"),
            ("Packages", "[ShipmentPackage]"),
        ],
    ),
    (
        "ShipmentShippingSettings",
        &[
            ("ShipToAddressOverride", "B"),
            ("ShipToContactOverride", "B"),
            ("ShipToAddress", "Address"),
            ("ShipToContact", "DocContact"),
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

const TOP_LEVEL: &[&str] = &["SalesOrder", "Customer", "StockItem", "Shipment", "SalesInvoice"];

/// Actions served over HTTP: (entity, action).
const ACTIONS: &[(&str, &str)] = &[("Shipment", "ConfirmShipment")];

fn value_def(json_type: &str, format: Option<&str>) -> Value {
    let mut v = json!({ "type": json_type });
    if let Some(f) = format {
        v["format"] = json!(f);
    }
    json!({ "type": "object", "properties": { "value": v, "error": { "type": "string" } } })
}

/// Whether `version` is served as OpenAPI 3 (24.200.001 and later) rather than Swagger 2.0.
pub fn is_openapi3(version: &str) -> bool {
    version.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|major| major >= 24)
}

/// The entity schemas, with references written as `{prefix}Name` (`#/definitions/` in Swagger
/// 2.0, `#/components/schemas/` in OpenAPI 3).
fn schemas(prefix: &str) -> Map<String, Value> {
    let r = |name: &str| json!({ "$ref": format!("{prefix}{name}") });
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
            "note": r("StringValue"), "custom": { "type": "object" },
            "error": { "type": "string" }, "files": { "type": "array", "items": { "type": "object" } },
        }}),
    );
    for (name, fields) in DEFS {
        let mut props = Map::new();
        for (f, t) in *fields {
            let p = match *t {
                "S" => r("StringValue"),
                "D" => r("DecimalValue"),
                "B" => r("BooleanValue"),
                "T" => r("DateTimeValue"),
                "I" => r("IntValue"),
                other if other.starts_with('[') => {
                    json!({ "type": "array", "items": r(other.trim_matches(['[', ']'])) })
                }
                other => r(other),
            };
            props.insert(f.to_string(), p);
        }
        defs.insert(name.to_string(), json!({ "allOf": [ r("Entity"), { "type": "object", "properties": props } ] }));
    }
    for (entity, action) in ACTIONS {
        defs.insert(
            action.to_string(),
            json!({ "type": "object", "required": ["entity"], "properties": {
                "entity": r(entity), "parameters": { "type": "object" } } }),
        );
    }
    defs
}

/// The endpoint schema of `version`: OpenAPI 3.0.1 for 24.200.001 and later, Swagger 2.0 before.
/// `instance_url` is the instance's base URL (`http://127.0.0.1:P/AcumaticaERP`).
pub fn swagger(version: &str, instance_url: &str) -> Value {
    if is_openapi3(version) {
        openapi3(version, instance_url)
    } else {
        swagger2(version, instance_url)
    }
}

/// Query options as (component key, name, type, format).
const QUERY_OPTIONS: &[(&str, &str, &str, Option<&str>)] = &[
    ("select", "$select", "string", None),
    ("filter", "$filter", "string", None),
    ("expand", "$expand", "string", None),
    ("custom", "$custom", "string", None),
    ("skip", "$skip", "integer", Some("int32")),
    ("top", "$top", "integer", Some("int32")),
];

fn swagger2(version: &str, instance_url: &str) -> Value {
    let params: Vec<Value> =
        QUERY_OPTIONS.iter().map(|(_, name, ty, _)| json!({ "name": name, "in": "query", "type": ty })).collect();
    let mut paths = Map::new();
    for (e, a) in ACTIONS {
        paths.insert(
            format!("/{e}/{a}"),
            json!({ "post": { "tags": [e], "operationId": format!("{e}_InvokeAction_{a}"),
                "parameters": [ { "name": "invokeAction", "in": "body", "required": true,
                                  "schema": { "$ref": format!("#/definitions/{a}") } } ],
                "responses": { "202": { "description": "Accepted" }, "204": { "description": "No Content" } } } }),
        );
    }
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
    let (host, path) = match url::Url::parse(instance_url) {
        Ok(u) => (
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            }),
            u.path().trim_end_matches('/').to_string(),
        ),
        Err(_) => (None, instance_url.trim_end_matches('/').to_string()),
    };
    let mut doc = json!({
        "swagger": "2.0",
        "info": { "title": format!("Default/{version}"), "version": version },
        "basePath": format!("{path}/entity/Default/{version}"),
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": schemas("#/definitions/"),
    });
    if let Some(h) = host {
        doc["host"] = json!(h);
    }
    doc
}

fn openapi3(version: &str, instance_url: &str) -> Value {
    // Request and response bodies are offered as application/json and text/json.
    let content =
        |schema: Value| json!({ "application/json": { "schema": schema }, "text/json": { "schema": schema } });
    let param = |key: &str| json!({ "$ref": format!("#/components/parameters/{key}") });
    let mut parameters = Map::new();
    for (key, name, ty, format) in QUERY_OPTIONS {
        let mut schema = json!({ "type": ty });
        if let Some(f) = format {
            schema["format"] = json!(f);
        }
        parameters.insert(key.to_string(), json!({ "name": name, "in": "query", "schema": schema }));
    }
    parameters.insert(
        "ids".into(),
        json!({ "name": "ids", "in": "path", "required": true, "schema": { "type": "string" },
                "description": "The values of the key fields of the record. The values are slash-delimited." }),
    );
    let query = |keys: &[&str]| Value::Array(keys.iter().map(|k| param(k)).collect());
    let mut paths = Map::new();
    for (e, a) in ACTIONS {
        paths.insert(
            format!("/{e}/{a}"),
            json!({ "post": { "tags": [e], "operationId": format!("{e}_InvokeAction_{a}"),
                "requestBody": { "content": content(json!({ "$ref": format!("#/components/schemas/{a}") })),
                                 "required": true, "x-bodyName": "invokeAction" },
                "responses": { "202": { "description": "Accepted" }, "204": { "description": "No Content" } } } }),
        );
    }
    for e in TOP_LEVEL {
        let r = json!({ "$ref": format!("#/components/schemas/{e}") });
        paths.insert(
            format!("/{e}"),
            json!({
                "get": { "tags": [e], "operationId": format!("{e}_GetList"),
                         "parameters": query(&["select", "filter", "expand", "custom", "skip", "top"]),
                         "responses": { "200": { "description": "OK",
                                                 "content": content(json!({ "type": "array", "items": r })) } } },
                "put": { "tags": [e], "operationId": format!("{e}_PutEntity"),
                         "parameters": query(&["select", "filter", "expand", "custom"]),
                         "requestBody": { "description": "The record to be passed to the system.",
                                          "content": content(r.clone()), "required": true, "x-bodyName": "entity" },
                         "responses": { "200": { "description": "OK", "content": content(r.clone()) },
                                        "412": { "description": "Precondition Failed" },
                                        "422": { "description": "Unprocessable Entity", "content": content(r.clone()) } } },
            }),
        );
        paths.insert(
            format!("/{e}/{{ids}}"),
            json!({
                "get": { "tags": [e], "operationId": format!("{e}_GetByKeys"),
                         "parameters": query(&["ids", "select", "filter", "expand", "custom"]),
                         "responses": { "200": { "description": "OK", "content": content(r.clone()) },
                                        "404": { "description": "Not Found" } } },
                "delete": { "tags": [e], "operationId": format!("{e}_DeleteByKeys"),
                            "parameters": query(&["ids"]),
                            "responses": { "204": { "description": "No Content" } } },
            }),
        );
    }
    json!({
        "openapi": "3.0.1",
        "info": { "title": format!("Default/{version}"), "version": version },
        "servers": [ { "url": format!("{}/entity/Default/{version}", instance_url.trim_end_matches('/')) } ],
        "paths": paths,
        "components": { "schemas": schemas("#/components/schemas/"), "parameters": parameters },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_to_a_definition() {
        let doc = swagger("23.200.001", "http://127.0.0.1:8080/AcumaticaERP");
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["host"], "127.0.0.1:8080");
        assert_eq!(doc["basePath"], "/AcumaticaERP/entity/Default/23.200.001");
        let defs = doc["definitions"].as_object().unwrap();
        let text = doc.to_string();
        for piece in text.split("\"#/definitions/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(defs.contains_key(name), "dangling $ref {name}");
        }
        assert!(doc["paths"]["/SalesOrder"]["put"].is_object());
        assert!(doc["paths"]["/Shipment/ConfirmShipment"]["post"].is_object());
        assert!(defs["Shipment"].to_string().contains("ShipmentShippingSettings"));
    }

    #[test]
    fn openapi3_references_resolve_to_components() {
        let doc = swagger("24.200.001", "http://127.0.0.1:8080/AcumaticaERP");
        assert_eq!(doc["openapi"], "3.0.1");
        assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:8080/AcumaticaERP/entity/Default/24.200.001");
        let text = doc.to_string();
        for piece in text.split("\"#/components/").skip(1) {
            let path: Vec<&str> = piece.split('"').next().unwrap().split('/').collect();
            assert!(doc["components"][path[0]][path[1]].is_object(), "dangling $ref {path:?}");
        }
        assert!(!text.contains("#/definitions/"));
        assert!(is_openapi3("25.200.001") && !is_openapi3("22.200.001") && !is_openapi3("23.200.001"));
    }
}

//! Acumatica wire and mapper tests with fixtures in the documented shapes (§2.4, §2.6–§2.9).

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal_macros::dec;
use serde_json::json;

use super::mapper::*;
use super::wire::{val, Num, ShipmentWire, Val};
use super::AcumaticaConfig;
use crate::mapping::{DraftContact, DraftLine, DraftPayment, DraftTax, SalesOrderDraft};
use crate::model::{Address, Currency, Customer, ErpCustomerId, ErpItemId, ErpOrderType, Money, OrderStatus};

fn contact() -> DraftContact {
    DraftContact {
        attention: "Ann Lee".into(),
        business_name: None,
        email: Some("buyer@example.com".into()),
        phone: None,
        address: Address {
            name: "Ann Lee".into(),
            line1: "1 Main St".into(),
            city: "Austin".into(),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: "US".into(),
            ..Default::default()
        },
    }
}

fn draft() -> SalesOrderDraft {
    let order = crate::model::fixtures::order();
    SalesOrderDraft {
        import_key: order.import_key(),
        import_id: "SC-5512345".into(),
        external_ref: "112-0000000-0000000".into(),
        order_type: ErpOrderType::parse("SO").unwrap(),
        customer_id: ErpCustomerId::parse("SC77").unwrap(),
        order_date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        requested_on: None,
        description: "Amazon order 112-0000000-0000000".into(),
        currency: Currency::USD,
        ship_via: Some("UPSGROUND".into()),
        bill_to: contact(),
        ship_to: contact(),
        lines: vec![DraftLine {
            item_id: ErpItemId::parse("SKU-RED-M").unwrap(),
            quantity: dec!(2),
            unit_price: dec!(19.99),
            discount_amount: dec!(0.10),
            description: "Red shirt M".into(),
            note: None,
            warehouse_id: None,
            channel_line_id: "9001".into(),
        }],
        payments: vec![DraftPayment {
            payment_method: "AMAZONPAY".into(),
            cash_account: None,
            amount: dec!(48.08),
            reference: Some("TXN-1".into()),
        }],
        freight: dec!(5.00),
        taxes: vec![DraftTax {
            tax_id: "CHANNEL".into(),
            rate: Some(dec!(0.08)),
            taxable_amount: dec!(39.88),
            tax_amount: dec!(3.20),
        }],
        note: Some("Gift message: Happy birthday".into()),
        attributes: BTreeMap::from([("AttributePRIME".to_string(), "true".to_string())]),
        expected_total: Money::new(dec!(48.08), Currency::USD),
        field_choices: Default::default(),
    }
}

#[test]
fn val_wrapper_skips_absent_values_and_reads_field_errors() {
    assert_eq!(serde_json::to_value(Val::new("SO")).unwrap(), json!({"value": "SO"}));
    assert_eq!(serde_json::to_value(Val::<String>::default()).unwrap(), json!({}));
    let read: Val<String> = serde_json::from_value(json!({"value": "BADID", "error": "not found"})).unwrap();
    assert_eq!(read.error.as_deref(), Some("not found"));
    assert_eq!(serde_json::to_value(val(Num(dec!(19.990)))).unwrap(), json!({"value": 19.99}));
}

#[test]
fn template_choices_leave_fields_out_or_send_them_empty() {
    use crate::mapping::FieldChoice;
    let mut d = draft();
    d.field_choices = BTreeMap::from([
        ("ship_via".to_owned(), FieldChoice::Omit),
        ("description".to_owned(), FieldChoice::Omit),
        ("ship_to.phone".to_owned(), FieldChoice::Empty),
        ("bill_to.city".to_owned(), FieldChoice::Empty),
        ("lines.description".to_owned(), FieldChoice::Omit),
        ("note".to_owned(), FieldChoice::Empty),
        ("lines[0].note".to_owned(), FieldChoice::Empty),
        ("lines[7].note".to_owned(), FieldChoice::Empty),
    ]);
    let body = sales_order_body(&d);
    assert!(body.get("ShipVia").is_none() && body.get("Description").is_none(), "{body}");
    assert_eq!(body["ShipToContact"]["Phone1"], json!({"value": ""}));
    assert_eq!(body["BillToAddress"]["City"], json!({"value": ""}));
    assert_eq!(body["note"], json!({"value": ""}));
    assert!(body["Details"][0].get("LineDescription").is_none());
    assert_eq!(body["Details"][0]["note"], json!({"value": ""}), "one line's choice");
    assert_eq!(body["Details"].as_array().map(Vec::len), Some(d.lines.len()), "a missing line index is ignored");
    assert_eq!(body["Details"][0]["InventoryID"], sales_order_body(&draft())["Details"][0]["InventoryID"]);
    assert_eq!(body["ShipToAddress"], sales_order_body(&draft())["ShipToAddress"], "untouched fields stay");
}

#[test]
fn sales_order_body_wraps_every_field_and_keeps_money_exact() {
    let body = serde_json::to_value(sales_order_body(&draft())).unwrap();
    assert_eq!(body["CustomerOrder"], json!({"value": "SC-5512345"}));
    assert_eq!(body["ExternalRef"], json!({"value": "112-0000000-0000000"}));
    assert_eq!(body["Date"], json!({"value": "2024-05-01T00:00:00"}));
    assert_eq!(body["DisableAutomaticTaxCalculation"], json!({"value": true}));
    assert_eq!(body["ShipToAddressOverride"], json!({"value": true}));
    assert_eq!(body["ShipToAddress"]["State"], json!({"value": "TX"}));
    assert!(body["ShipToAddress"].get("AddressLine2").is_none(), "absent fields are not sent");
    let line = &body["Details"][0];
    assert_eq!(line["UnitPrice"], json!({"value": 19.99}));
    assert_eq!(line["DiscountAmount"], json!({"value": 0.1}));
    assert_eq!(line["ManualPrice"], json!({"value": true}));
    assert_eq!(line["ManualDiscount"], json!({"value": true}));
    assert_eq!(body["ShippingSettings"]["FreightPrice"], json!({"value": 5}));
    assert_eq!(body["ShippingSettings"]["OverrideFreightPrice"], json!({"value": true}));
    assert_eq!(body["Payments"][0]["PaymentAmount"], json!({"value": 48.08}));
    assert_eq!(body["TaxDetails"][0]["TaxAmount"], json!({"value": 3.2}));
    assert_eq!(body["note"], json!({"value": "Gift message: Happy birthday"}));
    assert_eq!(body["custom"]["Document"]["AttributePRIME"], json!({"type": "CustomStringField", "value": "true"}));
    // Exactness: the serialized number is the decimal's own text, not an f64 rendering.
    let text = serde_json::to_string(&sales_order_body(&draft())).unwrap();
    assert!(text.contains(r#""UnitPrice":{"value":19.99}"#), "{text}");
}

#[test]
fn import_id_literals_are_quoted_and_escaped() {
    assert_eq!(odata_string("SC-5512345"), "'SC-5512345'");
    assert_eq!(odata_string("O'Brien's"), "'O''Brien''s'");
}

#[test]
fn datetimeoffset_literals_carry_an_explicit_offset() {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 10, 31, 28).unwrap();
    assert_eq!(datetimeoffset(at), "datetimeoffset'2024-05-01T10:31:28.000+00:00'");
}

#[test]
fn customer_ids_derive_from_the_channel_id_or_the_email_digest() {
    let mut c = Customer {
        channel_customer_id: Some("200-123".into()),
        email: Some("Buyer@Example.com".into()),
        name: "Ann".into(),
        company: None,
        phone: None,
    };
    assert_eq!(derive_customer_id("SC", &c).unwrap().as_str(), "SC200123");
    c.channel_customer_id = Some("0".into()); // BigCommerce guest
    let by_email = derive_customer_id("BC", &c).unwrap();
    assert!(by_email.as_str().starts_with("BCE") && by_email.as_str().len() == 15, "{by_email}");
    c.email = Some("buyer@example.com".into());
    assert_eq!(derive_customer_id("BC", &c).unwrap(), by_email, "email case does not matter");
    c.email = None;
    assert!(derive_customer_id("BC", &c).is_none());
}

#[test]
fn http_error_envelope_gives_the_exception_message() {
    let body = br#"{"message":"An error has occurred.","exceptionMessage":"Customer 'X' cannot be found.","exceptionType":"PX.Data.PXException","stackTrace":"at ..."}"#;
    assert_eq!(error_message(body).as_deref(), Some("Customer 'X' cannot be found."));
}

#[test]
fn entity_errors_name_the_fields_and_mark_500_outcomes_as_validation() {
    let body = json!({
        "error": "Inserting 'Sales Order' record raised at least one error. Please review the errors.",
        "CustomerID": {"value": "BADID", "error": "Customer 'BADID' cannot be found in the system."},
        "Details": [{"InventoryID": {"value": "NOPE", "error": "Inventory ID 'NOPE' cannot be found in the system."}}]
    });
    let bytes = serde_json::to_vec(&body).unwrap();
    let msg = error_message(&bytes).unwrap();
    assert!(msg.contains("CustomerID: Customer 'BADID' cannot be found"), "{msg}");
    assert!(msg.contains("Details[0].InventoryID: Inventory ID 'NOPE'"), "{msg}");
    assert!(is_entity_outcome_error(&bytes));
    let outcome = br#"{"message":"x","exceptionType":"PX.Api.ContractBased.OutcomeEntityHasErrorsException"}"#;
    assert!(is_entity_outcome_error(outcome));
    assert!(!is_entity_outcome_error(br#"{"message":"An error has occurred."}"#));
}

#[test]
fn status_strings_map_to_canonical_statuses() {
    assert_eq!(order_status("Open"), OrderStatus::Open);
    assert_eq!(order_status("Back Order"), OrderStatus::BackOrder);
    assert_eq!(order_status("Canceled"), OrderStatus::Cancelled);
    assert_eq!(order_status("Weird"), OrderStatus::Other("Weird".into()));
}

#[test]
fn confirmed_shipments_map_per_order_with_one_package_per_tracking_number() {
    let wire: ShipmentWire = serde_json::from_value(json!({
        "ShipmentNbr": {"value": "000123"}, "Status": {"value": "Confirmed"},
        "ShipmentDate": {"value": "2024-05-02T00:00:00-04:00"}, "ShipVia": {"value": "UPSGROUND"},
        "LastModifiedDateTime": {"value": "2024-05-02T15:00:00.123-04:00"},
        "Orders": [{"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO001234"}}],
        "Details": [{"InventoryID": {"value": "SKU-RED-M"}, "ShippedQty": {"value": 2}, "OrderNbr": {"value": "SO001234"}, "OrderLineNbr": {"value": 1}}],
        "Packages": [{"LineNbr": {"value": 1}, "TrackingNbr": {"value": "1Z999AA10123456784"}, "Weight": {"value": 2.5}},
                     {"LineNbr": {"value": 2}, "TrackingNbr": {"value": ""}}]
    }))
    .unwrap();
    let out = shipment_to_canonical(&wire, &["Confirmed".into()]).unwrap();
    assert_eq!(out.len(), 1);
    let (erp, shipment) = &out[0];
    assert_eq!(erp.to_string(), "SO/SO001234");
    assert_eq!(shipment.source.to_string(), "AC-000123");
    assert_eq!(shipment.ship_date, NaiveDate::from_ymd_opt(2024, 5, 2).unwrap());
    assert_eq!(shipment.packages.len(), 1, "a package without tracking is not pushed");
    assert_eq!(shipment.packages[0].items[0].quantity, dec!(2));
    assert_eq!(shipment.packages[0].weight, Some(dec!(2.5)));
    assert!(shipment_to_canonical(&wire, &["Completed".into()]).unwrap().is_empty());
}

/// Found by `make fuzz` (wire_acumatica): a ShipmentNbr with a space inside became a push message
/// its consumer could not read (the shipment id of a push key takes no whitespace), so it would
/// have died in the DLQ. It is refused at the mapper, naming the field.
#[test]
fn a_shipment_number_no_push_key_can_carry_is_refused_naming_the_field() {
    let wire: ShipmentWire = serde_json::from_value(json!({
        "ShipmentNbr": {"value": "00 124"}, "Status": {"value": "Confirmed"},
        "ShipmentDate": {"value": "2024-05-02T00:00:00"},
        "Orders": [{"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO001234"}}],
        "Packages": [{"LineNbr": {"value": 1}, "TrackingNbr": {"value": "1Z999AA10123456784"}}]
    }))
    .unwrap();
    let error = shipment_to_canonical(&wire, &["Confirmed".into()]).unwrap_err();
    assert!(error.starts_with("ShipmentNbr: ") && error.contains("00 124"), "{error}");
}

#[test]
fn each_package_carries_its_own_contents_tied_to_the_order_lines() {
    let wire: ShipmentWire = serde_json::from_value(json!({
        "ShipmentNbr": {"value": "000124"}, "Status": {"value": "Confirmed"},
        "ShipmentDate": {"value": "2024-05-02T00:00:00"}, "ShipVia": {"value": "UPSGROUND"},
        "Orders": [{"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO001234"}}],
        "Details": [
            {"InventoryID": {"value": "MUG"}, "ShippedQty": {"value": 1}, "OrderLineNbr": {"value": 1}},
            {"InventoryID": {"value": "TEE"}, "ShippedQty": {"value": 2}, "OrderLineNbr": {"value": 2}},
            {"InventoryID": {"value": "TEE"}, "ShippedQty": {"value": 1}, "OrderLineNbr": {"value": 3}}
        ],
        "Packages": [
            {"LineNbr": {"value": 1}, "TrackingNbr": {"value": "1ZBOX1"},
             "PackageContents": [{"InventoryID": {"value": "MUG"}, "Quantity": {"value": 1}},
                                 {"InventoryID": {"value": "TEE"}, "Quantity": {"value": 1}}]},
            {"LineNbr": {"value": 2}, "TrackingNbr": {"value": "1ZBOX2"},
             "PackageContents": [{"InventoryID": {"value": "TEE"}, "Quantity": {"value": 2}}]},
            {"LineNbr": {"value": 3}, "TrackingNbr": {"value": "1ZBOX3"}}
        ]
    }))
    .unwrap();
    let (_, shipment) = shipment_to_canonical(&wire, &["Confirmed".into()]).unwrap().remove(0);
    let items = |p: usize| -> Vec<(String, Option<i64>, rust_decimal::Decimal)> {
        shipment.packages[p].items.iter().map(|i| (i.item_id.clone(), i.erp_line_nbr, i.quantity)).collect()
    };
    assert_eq!(items(0), vec![("MUG".into(), Some(1), dec!(1)), ("TEE".into(), Some(2), dec!(1))]);
    // The second box's two tees: the rest of line 2, then line 3.
    assert_eq!(items(1), vec![("TEE".into(), Some(2), dec!(1)), ("TEE".into(), Some(3), dec!(1))]);
    assert!(items(2).is_empty(), "a box without contents among several says nothing about its items");
}

/// (item id, ERP line, quantity) of each item in package `p`.
fn box_items(shipment: &crate::model::Shipment, p: usize) -> Vec<(String, Option<i64>, rust_decimal::Decimal)> {
    shipment.packages[p].items.iter().map(|i| (i.item_id.clone(), i.erp_line_nbr, i.quantity)).collect()
}

/// A confirmed shipment of `orders` with these details and packages, in Acumatica's shape (the
/// ShipmentPackageDetail rows as the Default endpoint returns them, system fields included).
fn shipment_wire(orders: &[&str], details: serde_json::Value, packages: serde_json::Value) -> ShipmentWire {
    let orders: Vec<_> =
        orders.iter().map(|o| json!({"OrderType": {"value": "SO"}, "OrderNbr": {"value": o}})).collect();
    serde_json::from_value(json!({
        "id": "5f0c6a57-0000-4000-8000-000000000001", "rowNumber": 1,
        "ShipmentNbr": {"value": "000200"}, "Status": {"value": "Confirmed"},
        "ShipmentDate": {"value": "2024-05-02T00:00:00-04:00"}, "ShipVia": {"value": "UPSGROUND"},
        "Orders": orders, "Details": details, "Packages": packages
    }))
    .unwrap()
}

fn detail(order: &str, inventory: &str, qty: i64, line: i64) -> serde_json::Value {
    json!({"OrderType": {"value": "SO"}, "OrderNbr": {"value": order}, "InventoryID": {"value": inventory},
           "ShippedQty": {"value": qty}, "OrderLineNbr": {"value": line}, "UOM": {"value": "EA"}})
}

fn content(inventory: &str, qty: i64) -> serde_json::Value {
    json!({"id": "5f0c6a57-0000-4000-8000-0000000000cc", "rowNumber": 1, "InventoryID": {"value": inventory},
           "Quantity": {"value": qty}, "UOM": {"value": "EA"}, "ShipmentSplitLineNbr": {"value": 1},
           "LotSerialNbr": {"value": ""}, "Subitem": {"value": ""}})
}

#[test]
fn a_shared_shipment_splits_box_contents_over_its_orders_lines_in_order() {
    let wire = shipment_wire(
        &["SO000001", "SO000002"],
        json!([detail("SO000001", "TEE", 1, 1), detail("SO000002", "TEE", 2, 4), detail("SO000002", "MUG", 1, 5)]),
        json!([
            {"LineNbr": {"value": 1}, "TrackingNbr": {"value": "1ZSHARED1"}, "PackageContents": [content("TEE", 2)]},
            {"LineNbr": {"value": 2}, "TrackingNbr": {"value": "1ZSHARED2"},
             "PackageContents": [content("TEE", 1), content("MUG", 1)]}
        ]),
    );
    let out = shipment_to_canonical(&wire, &["Confirmed".into()]).unwrap();
    let (first, second) = (&out[0].1, &out[1].1);
    // The first TEE of box 1 is order 1's only one; the second is order 2's line 4.
    assert_eq!(first.packages.len(), 1, "box 2 holds nothing of order 1, so it is not order 1's");
    assert_eq!(first.packages[0].tracking.number.to_string(), "1ZSHARED1");
    assert_eq!(box_items(first, 0), vec![("TEE".into(), Some(1), dec!(1))]);
    assert_eq!(second.packages.len(), 2);
    assert_eq!(box_items(second, 0), vec![("TEE".into(), Some(4), dec!(1))]);
    assert_eq!(box_items(second, 1), vec![("TEE".into(), Some(4), dec!(1)), ("MUG".into(), Some(5), dec!(1))]);
    assert!(second.packages.iter().flat_map(|p| &p.items).all(|i| i.channel_line_id.is_none()));
}

#[test]
fn untracked_boxes_use_up_lines_and_excess_contents_are_capped_at_what_shipped() {
    let wire = shipment_wire(
        &["SO000001"],
        json!([detail("SO000001", "TEE", 2, 1), detail("SO000001", "TEE", 1, 2)]),
        json!([
            // Not pushed (no tracking), but it holds line 1's first tee.
            {"LineNbr": {"value": 1}, "PackageContents": [content("TEE", 1)]},
            // Four tees where only two are left to ship: line 1's second one and line 2's.
            {"LineNbr": {"value": 2}, "TrackingNbr": {"value": "1ZTEES"}, "PackageContents": [content("TEE", 4)]}
        ]),
    );
    let (_, shipment) = shipment_to_canonical(&wire, &["Confirmed".into()]).unwrap().remove(0);
    assert_eq!(shipment.packages.len(), 1);
    assert_eq!(shipment.packages[0].package_id, "2");
    assert_eq!(box_items(&shipment, 0), vec![("TEE".into(), Some(1), dec!(1)), ("TEE".into(), Some(2), dec!(1))]);
}

#[test]
fn boxes_without_contents_keep_all_lines_when_alone_and_nothing_when_several() {
    let details = json!([detail("SO000001", "TEE", 2, 1), detail("SO000001", "MUG", 1, 2)]);
    let one = shipment_wire(&["SO000001"], details.clone(), json!([{"TrackingNbr": {"value": "1ZONE"}}]));
    let (_, shipment) = shipment_to_canonical(&one, &["Confirmed".into()]).unwrap().remove(0);
    assert_eq!(box_items(&shipment, 0), vec![("TEE".into(), Some(1), dec!(2)), ("MUG".into(), Some(2), dec!(1))]);

    let two = shipment_wire(
        &["SO000001"],
        details.clone(),
        json!([{"TrackingNbr": {"value": "1ZA"}, "PackageContents": []}, {"TrackingNbr": {"value": "1ZB"}}]),
    );
    let (_, shipment) = shipment_to_canonical(&two, &["Confirmed".into()]).unwrap().remove(0);
    assert_eq!(shipment.packages.len(), 2);
    assert!(shipment.packages.iter().all(|p| p.items.is_empty()));

    // Contents that tie to no shipped line are as good as none: the lone box still holds it all.
    let stray = shipment_wire(
        &["SO000001"],
        details,
        json!([{"TrackingNbr": {"value": "1ZSTRAY"}, "PackageContents": [content("KIT-PART", 1)]}]),
    );
    let (_, shipment) = shipment_to_canonical(&stray, &["Confirmed".into()]).unwrap().remove(0);
    assert_eq!(box_items(&shipment, 0).len(), 2);
}

#[test]
fn config_validation_names_the_field() {
    let mut c = AcumaticaConfig::new("https://erp.example.com/AcumaticaERP", "api", "pw".to_string().into(), "Company");
    c.validate().unwrap();
    c.endpoint_version = "24.200".into();
    assert!(c.validate().unwrap_err().to_string().contains("endpoint_version"));
    c.endpoint_version = "24.200.001".into();
    c.base_url = "https://erp.example.com/AcumaticaERP/entity/Default/24.200.001".into();
    assert!(c.validate().unwrap_err().to_string().contains("base_url"));
}

#[test]
fn config_deserializes_from_toml_with_defaults_and_hides_the_password() {
    let c: AcumaticaConfig = toml::from_str(
        r#"
        base_url = "https://erp.example.com/AcumaticaERP"
        username = "api_user"
        password = "s3cret"
        tenant = "Company"
        "#,
    )
    .unwrap();
    assert_eq!(c.endpoint_version, "24.200.001");
    assert_eq!(c.rate_limit.requests, 100);
    assert!(!format!("{c:?}").contains("s3cret"));
}

// ---------------------------------------------------------------------------------------------
// ERP-originated orders.
// ---------------------------------------------------------------------------------------------

/// SO/SO001234: 2 × 19.99 less 0.10 line discount (39.88) + 5.00 freight + 3.20 tax − 1.00
/// document discount = 47.08; DiscountTotal 1.10 holds both discounts.
fn erp_order_json() -> serde_json::Value {
    json!({
        "id": "6f1a", "rowNumber": 1,
        "OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO001234"},
        "Status": {"value": "Open"}, "Hold": {"value": false},
        "CustomerID": {"value": "AACUSTOMER"}, "LocationID": {"value": "MAIN"},
        "CustomerOrder": {"value": "PO-77"}, "ExternalRef": {"value": ""},
        "ShipVia": {"value": "UPSGROUND"}, "PaymentMethod": {"value": "CHECK"},
        "CurrencyID": {"value": "USD"},
        "Date": {"value": "2024-05-01T00:00:00+02:00"},
        "LastModified": {"value": "2024-05-02T10:31:28.45"},
        "OrderTotal": {"value": 47.08}, "TaxTotal": {"value": 3.2},
        "BillToAddress": {"AddressLine1": {"value": "1 Main St"}, "City": {"value": "Austin"},
                          "State": {"value": "TX"}, "PostalCode": {"value": "78701"}, "Country": {"value": "US"}},
        "BillToContact": {"Attention": {"value": "Ann Lee"}, "BusinessName": {"value": "Lee Co"},
                          "Email": {"value": "ann@example.com"}},
        "ShipToAddress": {"AddressLine1": {"value": "9 Dock Rd"}, "AddressLine2": {"value": "Unit 4"},
                          "City": {"value": "Dallas"}, "State": {"value": "TX"}, "PostalCode": {"value": "75201"},
                          "Country": {"value": "US"}},
        "ShipToContact": {"Attention": {"value": "Bob Dock"}, "Phone1": {"value": "555-0100"},
                          "Email": {"value": "bob@example.com"}},
        "Totals": {"LineTotalAmount": {"value": 39.88}, "Freight": {"value": 5.0}, "TaxTotal": {"value": 3.2},
                   "DiscountTotal": {"value": 1.1}, "UnpaidBalance": {"value": 47.08}},
        "Details": [{"LineNbr": {"value": 1}, "InventoryID": {"value": "SKU-RED-M"},
                     "LineDescription": {"value": "Red shirt M"}, "OrderQty": {"value": 2}, "UOM": {"value": "EA"},
                     "WarehouseID": {"value": "WH1"}, "UnitPrice": {"value": 19.99},
                     "DiscountAmount": {"value": 0.1}, "Amount": {"value": 39.88}}],
        "Payments": [],
        "note": {"value": " Call before delivery "}
    })
}

fn erp_order(value: serde_json::Value) -> Result<crate::model::ErpSalesOrder, String> {
    let wire: super::wire::SalesOrderWire = serde_json::from_value(value).unwrap();
    sales_order_from_wire(&wire)
}

#[test]
fn a_sales_order_maps_header_customer_addresses_lines_and_totals() {
    let o = erp_order(erp_order_json()).unwrap();
    assert_eq!(o.erp.to_string(), "SO/SO001234");
    assert_eq!((o.status.as_str(), o.hold, o.customer_id.as_str()), ("Open", false, "AACUSTOMER"));
    assert_eq!(o.customer_class, None);
    assert_eq!(o.location.as_deref(), Some("MAIN"));
    assert_eq!(o.customer_order.as_deref(), Some("PO-77"));
    assert_eq!(o.external_ref, None, "an empty ExternalRef is no number");
    assert_eq!((o.ship_via.as_deref(), o.payment_method.as_deref()), (Some("UPSGROUND"), Some("CHECK")));
    assert_eq!(o.currency, Currency::USD);
    assert_eq!(o.ordered_at, Utc.with_ymd_and_hms(2024, 4, 30, 22, 0, 0).unwrap());
    assert_eq!(
        o.last_modified,
        Utc.with_ymd_and_hms(2024, 5, 2, 10, 31, 28).unwrap() + chrono::Duration::milliseconds(450)
    );
    // The buyer from the bill-to contact, the phone from the ship-to contact (bill-to has none).
    assert_eq!(o.customer.email.as_deref(), Some("ann@example.com"));
    assert_eq!(o.customer.name, "Ann Lee");
    assert_eq!(o.customer.company.as_deref(), Some("Lee Co"));
    assert_eq!(o.customer.phone.as_deref(), Some("555-0100"));
    assert_eq!(o.customer.channel_customer_id, None);
    assert_eq!(
        o.bill_to,
        Address {
            name: "Ann Lee".into(),
            company: Some("Lee Co".into()),
            line1: "1 Main St".into(),
            line2: None,
            city: "Austin".into(),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: "US".into(),
            phone: None,
            email: Some("ann@example.com".into()),
        }
    );
    assert_eq!((o.ship_to.name.as_str(), o.ship_to.line2.as_deref()), ("Bob Dock", Some("Unit 4")));
    assert_eq!(o.ship_to.phone.as_deref(), Some("555-0100"));
    let line = &o.lines[0];
    assert_eq!((line.line_nbr, line.item_id.as_str(), line.description.as_str()), (1, "SKU-RED-M", "Red shirt M"));
    assert_eq!((line.quantity, line.uom.as_deref(), line.warehouse.as_deref()), (dec!(2), Some("EA"), Some("WH1")));
    assert_eq!(line.unit_price, Money::new(dec!(19.99), Currency::USD));
    assert_eq!(line.discount, Money::new(dec!(0.1), Currency::USD));
    assert_eq!(line.amount, Money::new(dec!(39.88), Currency::USD));
    let usd = |a| Money::new(a, Currency::USD);
    assert_eq!(o.totals.lines, usd(dec!(39.88)));
    assert_eq!(o.totals.freight, usd(dec!(5.00)));
    assert_eq!(o.totals.tax, usd(dec!(3.20)));
    assert_eq!(o.totals.discount, usd(dec!(1.00)), "DiscountTotal less the line discounts");
    assert_eq!(o.totals.order_total, usd(dec!(47.08)));
    assert_eq!(o.totals.unpaid_balance, usd(dec!(47.08)));
    assert_eq!(o.note.as_deref(), Some("Call before delivery"));
}

#[test]
fn a_discount_total_of_document_discounts_only_is_recognised_by_the_balance() {
    let mut v = erp_order_json();
    v["Totals"]["DiscountTotal"] = json!({"value": 1.0});
    let o = erp_order(v).unwrap();
    assert_eq!(o.totals.discount.amount, dec!(1.00));
    // Without line discounts both readings agree.
    let mut v = erp_order_json();
    v["Details"][0]["DiscountAmount"] = json!({"value": 0});
    v["Details"][0]["Amount"] = json!({"value": 39.98});
    v["Totals"]["LineTotalAmount"] = json!({"value": 39.98});
    v["OrderTotal"] = json!({"value": 47.18});
    v["Totals"]["DiscountTotal"] = json!({"value": 1.0});
    assert_eq!(erp_order(v).unwrap().totals.discount.amount, dec!(1.00));
}

#[test]
fn totals_that_do_not_add_up_to_the_cent_are_refused_naming_the_order() {
    let mut v = erp_order_json();
    v["OrderTotal"] = json!({"value": 47.09});
    let err = erp_order(v).unwrap_err();
    assert!(err.starts_with("sales order SO/SO001234: OrderTotal 47.09 is not"), "{err}");
    assert!(err.contains("Totals.LineTotalAmount 39.88") && err.contains("document discount 1.00"), "{err}");
    // Sub-cent noise is not a difference.
    let mut v = erp_order_json();
    v["OrderTotal"] = json!({"value": 47.0800});
    erp_order(v).unwrap();
}

#[test]
fn a_missing_required_field_is_refused_naming_the_order_and_the_field() {
    for (path, field) in [
        (vec!["CurrencyID"], "CurrencyID"),
        (vec!["OrderTotal"], "OrderTotal"),
        (vec!["Totals"], "Totals"),
        (vec!["CustomerID"], "CustomerID"),
        (vec!["Status"], "Status"),
        (vec!["Date"], "Date"),
        (vec!["LastModified"], "LastModified"),
        (vec!["Totals", "UnpaidBalance"], "Totals.UnpaidBalance"),
        (vec!["Totals", "LineTotalAmount"], "Totals.LineTotalAmount"),
        (vec!["Totals", "Freight"], "Totals.Freight"),
    ] {
        let mut v = erp_order_json();
        let (last, parents) = path.split_last().unwrap();
        let mut node = &mut v;
        for p in parents {
            node = &mut node[*p];
        }
        node.as_object_mut().unwrap().remove(*last);
        let err = erp_order(v).unwrap_err();
        assert_eq!(err, format!("sales order SO/SO001234: {field} is missing"));
    }
    let mut v = erp_order_json();
    v["Details"][0].as_object_mut().unwrap().remove("InventoryID");
    assert_eq!(erp_order(v).unwrap_err(), "sales order SO/SO001234: Details[0].InventoryID is missing");
    let mut v = erp_order_json();
    v["Date"] = json!({"value": "yesterday"});
    assert!(erp_order(v).unwrap_err().contains("Date \"yesterday\" is not a date"));
    // The tax falls back to Totals.TaxTotal.
    let mut v = erp_order_json();
    v.as_object_mut().unwrap().remove("TaxTotal");
    assert_eq!(erp_order(v).unwrap().totals.tax.amount, dec!(3.2));
}

#[test]
fn the_contact_falls_back_to_the_ship_to_contact() {
    let mut v = erp_order_json();
    v.as_object_mut().unwrap().remove("BillToContact");
    let o = erp_order(v).unwrap();
    assert_eq!(o.customer.email.as_deref(), Some("bob@example.com"));
    assert_eq!(o.customer.name, "Bob Dock");
    assert_eq!(o.customer.company, None);
    assert_eq!(o.bill_to.name, "", "the bill-to address keeps its own (absent) contact");
}

#[test]
fn the_channel_number_is_an_update_of_external_ref_only() {
    let erp = crate::model::ErpOrderRef::parse("SO/SO001234").unwrap();
    let body = serde_json::to_value(channel_number_body(&erp, " 000000123 ")).unwrap();
    assert_eq!(
        body,
        json!({"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO001234"}, "ExternalRef": {"value": "000000123"}})
    );
}

#[test]
fn invoices_are_the_distinct_invoices_of_the_shipments_with_this_orders_lines() {
    let order: super::wire::SalesOrderInvoicesWire = serde_json::from_value(json!({"Shipments": [
        {"ShipmentNbr": {"value": "000001"}, "InvoiceType": {"value": "Invoice"}, "InvoiceNbr": {"value": "INV000001"}},
        {"ShipmentNbr": {"value": "000002"}, "InvoiceType": {"value": "Invoice"}, "InvoiceNbr": {"value": "INV000001"}},
        {"ShipmentNbr": {"value": "000003"}, "InvoiceType": {"value": ""}, "InvoiceNbr": {"value": ""}},
        {"ShipmentNbr": {"value": "000004"}},
        {"ShipmentNbr": {"value": "000005"}, "InvoiceType": {"value": "Invoice"}, "InvoiceNbr": {"value": "INV000002"}}
    ]}))
    .unwrap();
    assert_eq!(
        invoice_keys(&order),
        vec![("Invoice".to_string(), "INV000001".to_string()), ("Invoice".to_string(), "INV000002".to_string())]
    );
    let erp = crate::model::ErpOrderRef::parse("SO/SO001234").unwrap();
    let invoice: super::wire::SalesInvoiceWire = serde_json::from_value(json!({
        "Type": {"value": "Invoice"}, "ReferenceNbr": {"value": "INV000001"}, "Status": {"value": "Open"},
        "Details": [
            {"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO001234"}, "InventoryID": {"value": "SKU-RED-M"}, "Qty": {"value": 2}},
            {"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO009999"}, "InventoryID": {"value": "OTHER"}, "Qty": {"value": 1}},
            {"OrderType": {"value": "RC"}, "OrderNbr": {"value": "SO001234"}, "InventoryID": {"value": "OTHER"}, "Qty": {"value": 1}},
            {"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO001234"}, "InventoryID": {"value": "MUG"}, "Qty": {"value": 1.5}}
        ]
    }))
    .unwrap();
    let key = ("Invoice".to_string(), "INV000001".to_string());
    let mapped = invoice_from_wire(&invoice, &erp, &key);
    assert_eq!(mapped.reference, "Invoice/INV000001");
    assert!(mapped.released);
    assert_eq!(mapped.lines, vec![("SKU-RED-M".to_string(), dec!(2)), ("MUG".to_string(), dec!(1.5))]);
    for (status, released) in [("Closed", true), ("Balanced", false), ("On Hold", false), ("", false)] {
        let mut i = invoice.clone();
        i.Status = val(status.to_string());
        assert_eq!(invoice_from_wire(&i, &erp, &key).released, released, "{status}");
    }
}

#[test]
fn charges_go_to_user_defined_decimal_fields_of_the_order_header_or_a_named_view() {
    let erp = crate::model::ErpOrderRef {
        order_type: ErpOrderType::parse("SO").unwrap(),
        order_nbr: crate::model::ErpOrderNbr::parse("SO000123").unwrap(),
    };
    let values = BTreeMap::from([
        ("UsrSCCommission".to_owned(), dec!(15.30)),
        ("Document.UsrSCProfit".to_owned(), dec!(-2.5)),
        ("CurrentDocument.UsrSCFee".to_owned(), dec!(0.59)),
    ]);
    let body = serde_json::to_value(charges_body(&erp, &values)).unwrap();
    assert_eq!(
        body,
        json!({
            "OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO000123"},
            "custom": {
                "Document": {
                    "UsrSCCommission": {"type": "CustomDecimalField", "value": 15.30},
                    "UsrSCProfit": {"type": "CustomDecimalField", "value": -2.5}
                },
                "CurrentDocument": {"UsrSCFee": {"type": "CustomDecimalField", "value": 0.59}}
            }
        })
    );
}

/// A sandbox and a client of its Acumatica, signing in with the user's password.
async fn sandbox_client() -> (orderbridge_sandbox::Sandbox, super::AcumaticaClient) {
    let sb = orderbridge_sandbox::start(orderbridge_sandbox::SandboxConfig { seed: 5, ..Default::default() })
        .await
        .expect("sandbox starts");
    let c = &sb.state().config().credentials;
    let config = AcumaticaConfig::new(
        sb.urls().acumatica.clone(),
        &c.acumatica_username,
        c.acumatica_password.clone().into(),
        &c.acumatica_tenant,
    );
    let client = super::AcumaticaClient::new(config).expect("valid config");
    (sb, client)
}

/// A SKU that is no InventoryID (the ERP knows the item by a cross-reference) is asked for once
/// per item index, not once per order line; a SKU that is an InventoryID costs no request.
#[tokio::test]
async fn a_sku_the_erp_does_not_know_is_asked_for_once_per_item_index() {
    use crate::model::IdentifierKind;
    use crate::ports::OrderSink;
    use orderbridge_sandbox::Vendor;

    let (sb, client) = sandbox_client().await;
    let seed = sb.state().seed_data();
    let renamed = seed.products.iter().find(|p| p.erp_inventory_id != p.sku).expect("a renamed item in the seed");
    let known = seed.products.iter().find(|p| p.erp_inventory_id == p.sku).expect("an item under its SKU");
    let direct_reads = || -> u64 {
        sb.state()
            .route_counts(Vendor::Acumatica)
            .iter()
            .filter(|(route, _)| route.starts_with("GET ") && route.contains("/StockItem/"))
            .map(|(_, n)| *n)
            .sum()
    };

    for _ in 0..3 {
        assert_eq!(client.resolve_item(IdentifierKind::Sku, &renamed.sku).await.expect("answered"), None);
        assert_eq!(
            client.resolve_item(IdentifierKind::Sku, &known.sku).await.expect("answered"),
            Some(ErpItemId::parse(known.erp_inventory_id.clone()).unwrap())
        );
        assert_eq!(
            client.resolve_item(IdentifierKind::Upc, &renamed.upc).await.expect("answered"),
            Some(ErpItemId::parse(renamed.erp_inventory_id.clone()).unwrap()),
            "the renamed item is found by its cross-reference"
        );
    }
    assert_eq!(direct_reads(), 1, "one direct read for the unknown SKU, none for the known one");
}

/// One request answers a batch's lookups, each as the lookup alone would (a derived-id match
/// wins over an email match; emails compare without case); each answer is used once.
#[tokio::test]
async fn a_batch_of_customer_lookups_costs_one_request_and_answers_each_once() {
    use crate::ports::{CustomerLookup, OrderSink};
    use orderbridge_sandbox::Vendor;

    let (sb, client) = sandbox_client().await;
    let customers: Vec<(String, String)> = sb
        .state()
        .acumatica()
        .customers
        .iter()
        .filter_map(|(id, c)| Some((id.clone(), c["MainContact"]["Email"]["value"].as_str()?.to_owned())))
        .take(2)
        .collect();
    let [(a_id, a_email), (b_id, _)] = &customers[..] else { panic!("two customers with emails in the seed") };
    let lookups_made = || -> u64 {
        sb.state()
            .route_counts(Vendor::Acumatica)
            .iter()
            .filter(|(r, _)| r.ends_with("/Customer"))
            .map(|(_, n)| *n)
            .sum()
    };
    let shouted = a_email.to_ascii_uppercase();
    let lookups = [
        CustomerLookup::IdOrEmail { id: "OBNOSUCH01", email: &shouted },
        CustomerLookup::ChannelId(b_id),
        CustomerLookup::Email("nobody-at-all@example.invalid"),
        CustomerLookup::IdOrEmail { id: b_id, email: a_email },
    ];
    client.prefetch_customers(&lookups).await.expect("prefetched");
    assert_eq!(lookups_made(), 1, "one request for four lookups");

    let answers = futures::future::join_all(lookups.iter().map(|l| client.find_customer(l.clone()))).await;
    let answers: Vec<Option<String>> =
        answers.into_iter().map(|a| a.expect("answered").map(|id| id.as_str().to_owned())).collect();
    assert_eq!(
        answers,
        vec![Some(a_id.clone()), Some(b_id.clone()), None, Some(b_id.clone())],
        "email without case; the derived id before the email"
    );
    assert_eq!(lookups_made(), 1, "the lookups were answered from the prefetch");

    // Used once: the same buyer's next order asks again (its customer may exist by now).
    assert_eq!(
        client.find_customer(lookups[0].clone()).await.expect("answered").map(|i| i.as_str().to_owned()),
        Some(a_id.clone())
    );
    assert_eq!(lookups_made(), 2);
    // The batch's end forgets what is left.
    client.prefetch_customers(&lookups[2..]).await.expect("prefetched");
    client.end_session().await;
    client.find_customer(lookups[2].clone()).await.expect("answered");
    assert_eq!(lookups_made(), 4);
}

/// The shipment push notification's rows rebuild a confirmed shipment exactly as `GET Shipment`
/// returns it (packages, tracking, weights, box contents tied to order lines), so status-push
/// pushes it without the read.
#[tokio::test]
async fn a_confirmed_shipments_push_rows_carry_what_the_shipment_read_returns() {
    use crate::ports::{ErpShipments, InboundEvent};
    use orderbridge_sandbox::acumatica::{ConfirmShipment, EnterLine, EnterOrder, ShipLine, ShipPackage};
    use orderbridge_sandbox::{Vendor, WebhookTarget};

    let (sb, client) = sandbox_client().await;
    // Nothing listens there: the delivery is recorded with its body after its attempts fail.
    sb.state().set_webhook(Vendor::Acumatica, Some(WebhookTarget::new("http://127.0.0.1:9/push")));
    let items: Vec<String> =
        sb.state().seed_data().products.iter().take(2).map(|p| p.erp_inventory_id.clone()).collect();
    let so = sb
        .state()
        .acumatica_enter_order(&EnterOrder {
            customer_id: "AACUSTOMER".into(),
            lines: vec![EnterLine::new(&items[0], dec!(3)), EnterLine::new(&items[1], dec!(1))],
            ship_via: Some("UPSGROUND".into()),
            ..EnterOrder::default()
        })
        .expect("order entered");
    let order_nbr = so["OrderNbr"]["value"].as_str().expect("numbered").to_owned();
    let line = |line_nbr, qty| ShipLine { line_nbr, qty };
    let mut confirm = ConfirmShipment::all(&order_nbr);
    confirm.packages = vec![
        ShipPackage {
            tracking_nbr: Some("1ZROWS1".into()),
            weight: Some(dec!(1.5)),
            contents: Some(vec![line(1, dec!(2))]),
            ..Default::default()
        },
        ShipPackage {
            tracking_nbr: Some("1ZROWS2".into()),
            weight: Some(dec!(4)),
            contents: Some(vec![line(1, dec!(1)), line(2, dec!(1))]),
            ..Default::default()
        },
    ];
    let shipment = sb.state().acumatica_confirm_shipment(&confirm).expect("confirmed");
    let nbr = shipment["ShipmentNbr"]["value"].as_str().expect("numbered").to_owned();

    let mut body = None;
    for _ in 0..100 {
        body = sb
            .state()
            .deliveries(Vendor::Acumatica)
            .into_iter()
            .find(|d| d.body["Query"] == "ShipmentsForSync")
            .map(|d| d.body);
        if body.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let events = super::shipment_rows::tests::verify_body(&body.expect("the shipment push was sent"));
    let carried: Vec<_> = events
        .iter()
        .map(|e| match &e.event {
            InboundEvent::Shipped { erp_order, shipment } => (erp_order.clone(), shipment.clone()),
            other => panic!("the shipment is carried, not named: {other:?}"),
        })
        .collect();

    let read = client.shipment(&nbr).await.expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(carried.len(), 1);
    let ((erp, from_rows), (read_erp, from_read)) = (&carried[0], &read[0]);
    assert_eq!(erp, read_erp);
    // The rows' time has no offset (the tenant's zone, which the settings do not name): unused.
    assert!(from_read.confirmed_at.is_some());
    assert_eq!(from_rows.confirmed_at, None);
    let same = crate::model::Shipment { confirmed_at: from_read.confirmed_at, ..from_rows.clone() };
    assert_eq!(&same, from_read);
    assert_eq!(from_rows.packages.len(), 2);
    assert_eq!(from_rows.packages[1].items.len(), 2, "box 2 holds a unit of each line: {from_rows:?}");
}

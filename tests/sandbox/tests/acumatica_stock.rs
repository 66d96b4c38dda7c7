//! Acumatica availability: InventorySummaryInquiry per warehouse, InventoryQuantityAvailable
//! "changed since" pulls, allocation by open orders and issue by confirmed shipments, bulk stock
//! items, on-hand adjustments with their push notification, customer updates.

mod common;

use std::time::Duration;

use orderbridge_sandbox::acumatica::ConfirmShipment;
use orderbridge_sandbox::{Sandbox, Vendor, WebhookTarget};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const EP: &str = "/entity/Default/24.200.001";

async fn login(base: &str) -> reqwest::Client {
    let r = common::client()
        .post(format!("{base}/entity/auth/login"))
        .json(&json!({"name": "api_user", "password": "ac-sandbox-password", "tenant": "Company"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("cookie", cookies.join("; ").parse().unwrap());
    reqwest::Client::builder().default_headers(h).timeout(Duration::from_secs(10)).build().unwrap()
}

async fn start() -> (Sandbox, String, reqwest::Client) {
    let sb = common::sandbox().await;
    let base = sb.urls().acumatica.clone();
    let c = login(&base).await;
    (sb, base, c)
}

fn control(base: &str) -> String {
    base.rsplit_once('/').unwrap().0.to_owned()
}

fn dec(v: &Value) -> Decimal {
    v["value"].to_string().trim_matches('"').parse().unwrap()
}

async fn summary(c: &reqwest::Client, base: &str, body: Value) -> reqwest::Response {
    c.put(format!("{base}{EP}/InventorySummaryInquiry?$expand=Results")).json(&body).send().await.unwrap()
}

async fn order(c: &reqwest::Client, base: &str, inv: &str, qty: i64) -> String {
    let body = json!({
        "OrderType": {"value": "SO"}, "CustomerID": {"value": "C000002"}, "CustomerOrder": {"value": format!("REF-{inv}")},
        "Details": [{"InventoryID": {"value": inv}, "OrderQty": {"value": qty}, "UnitPrice": {"value": 10}}],
    });
    let v: Value = common::json(c.put(format!("{base}{EP}/SalesOrder")).json(&body)).await;
    v["OrderNbr"]["value"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_open_order_allocates_and_a_confirmed_shipment_issues() {
    let (sb, base, c) = start().await;
    let inv = sb.state().seed_data().products[0].erp_inventory_id.clone();
    let rows = |v: &Value| v["Results"].as_array().unwrap().clone();
    let v: Value = summary(&c, &base, json!({"InventoryID": {"value": inv}})).await.json().await.unwrap();
    let r = rows(&v);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["WarehouseID"]["value"], "MAIN");
    assert_eq!(dec(&r[0]["QtyOnHand"]), Decimal::from(100));
    assert_eq!(dec(&r[0]["QtyAvailable"]), Decimal::from(100));
    assert_eq!(r[0]["BaseUOM"]["value"], "EA");
    assert!(r[0]["LocationID"]["value"].is_string());
    let nbr = order(&c, &base, &inv, 3).await;
    let v: Value = summary(&c, &base, json!({"InventoryID": {"value": inv}})).await.json().await.unwrap();
    let r = rows(&v);
    assert_eq!(dec(&r[0]["QtyOnHand"]), Decimal::from(100));
    assert_eq!(dec(&r[0]["QtyAvailable"]), Decimal::from(97));
    assert_eq!(dec(&r[0]["QtyAvailableForShipment"]), Decimal::from(100));
    sb.state().acumatica_confirm_shipment(&ConfirmShipment::all(&nbr)).unwrap();
    let v: Value = summary(&c, &base, json!({"InventoryID": {"value": inv}})).await.json().await.unwrap();
    let r = rows(&v);
    assert_eq!(dec(&r[0]["QtyOnHand"]), Decimal::from(97));
    assert_eq!(dec(&r[0]["QtyAvailable"]), Decimal::from(97));
    // A canceled order frees its allocation.
    let nbr = order(&c, &base, &inv, 5).await;
    assert_eq!(sb.state().acumatica().availability_of(&inv, "MAIN").unwrap().available(), Decimal::from(92));
    sb.state().acumatica_set_order_status(&nbr, "Canceled").unwrap();
    assert_eq!(sb.state().acumatica().availability_of(&inv, "MAIN").unwrap().available(), Decimal::from(97));
    sb.shutdown().await;
}

#[tokio::test]
async fn summary_rows_per_warehouse_and_unknown_values_fail_like_selectors() {
    let (sb, base, c) = start().await;
    let inv = sb.state().seed_data().products[1].erp_inventory_id.clone();
    let ctl = control(&base);
    let r = common::client()
        .post(format!("{ctl}/_sandbox/stock/adjust"))
        .json(&json!({"adjustments": [{"InventoryID": inv, "WarehouseID": "WH2", "QtyOnHand": 5}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["adjusted"][0]["QtyAvailable"], 5);
    let v: Value = summary(&c, &base, json!({"InventoryID": {"value": inv}})).await.json().await.unwrap();
    let whs: Vec<&str> =
        v["Results"].as_array().unwrap().iter().map(|r| r["WarehouseID"]["value"].as_str().unwrap()).collect();
    assert_eq!(whs, vec!["MAIN", "WH2"]);
    let v: Value = summary(&c, &base, json!({"InventoryID": {"value": inv}, "WarehouseID": {"value": "WH2"}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["Results"].as_array().unwrap().len(), 1);
    assert_eq!(dec(&v["Results"][0]["QtyOnHand"]), Decimal::from(5));
    assert_eq!(v["InventoryID"]["value"], inv.as_str());
    // Without $expand=Results there are no rows.
    let v: Value = common::json(
        c.put(format!("{base}{EP}/InventorySummaryInquiry")).json(&json!({"InventoryID": {"value": inv}})),
    )
    .await;
    assert!(v.get("Results").is_none());
    // Unknown item / warehouse.
    let r = summary(&c, &base, json!({"InventoryID": {"value": "NOPE"}})).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["InventoryID"]["error"], "Inventory ID 'NOPE' cannot be found in the system.");
    assert!(v["error"].as_str().unwrap().contains("Inventory ID 'NOPE' cannot be found in the system."));
    let r = summary(&c, &base, json!({"InventoryID": {"value": inv}, "WarehouseID": {"value": "NOWH"}})).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["WarehouseID"]["error"],
        "Warehouse 'NOWH' cannot be found in the system."
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn quantity_available_lists_the_items_changed_since_a_time() {
    let (sb, base, c) = start().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = sb.state().acumatica().now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let p = &sb.state().seed_data().products;
    let (a, b) = (p[2].erp_inventory_id.clone(), p[3].erp_inventory_id.clone());
    let url = format!("{base}{EP}/InventoryQuantityAvailable?$expand=Results");
    let v: Value = common::json(c.put(&url).json(&json!({"LastModifiedDateTime": {"value": since}}))).await;
    assert_eq!(v["Results"], json!([]));
    assert_eq!(v["LastModifiedDateTime"]["value"], since.as_str());
    assert_eq!(v["InventoryID"], json!({}));
    // An adjustment in two warehouses and an order: both items, summed over warehouses.
    sb.state()
        .acumatica_adjust_stock(&[
            serde_json::from_value(json!({"InventoryID": a, "WarehouseID": "MAIN", "QtyOnHand": 40})).unwrap(),
            serde_json::from_value(json!({"InventoryID": a, "WarehouseID": "WH2", "QtyOnHand": 2})).unwrap(),
        ])
        .unwrap();
    order(&c, &base, &b, 4).await;
    let v: Value = common::json(c.put(&url).json(&json!({"LastModifiedDateTime": {"value": since}}))).await;
    let rows = v["Results"].as_array().unwrap();
    let mut got: Vec<(String, Decimal)> = rows
        .iter()
        .map(|r| (r["InventoryID"]["value"].as_str().unwrap().to_string(), dec(&r["QtyAvailable"])))
        .collect();
    got.sort();
    let mut want = vec![(a.clone(), Decimal::from(42)), (b.clone(), Decimal::from(96))];
    want.sort();
    assert_eq!(got, want);
    for r in rows {
        assert!(r["LastModifiedDateTime"]["value"].as_str().unwrap() >= since.as_str());
        assert!(r["rowNumber"].is_u64() && r["id"].is_string());
    }
    // InventoryID narrows; no $expand → no Results.
    let v: Value =
        common::json(c.put(&url).json(&json!({"LastModifiedDateTime": {"value": since}, "InventoryID": {"value": a}})))
            .await;
    assert_eq!(v["Results"].as_array().unwrap().len(), 1);
    let v: Value = common::json(
        c.put(format!("{base}{EP}/InventoryQuantityAvailable"))
            .json(&json!({"LastModifiedDateTime": {"value": since}})),
    )
    .await;
    assert!(v.get("Results").is_none());
    // A later cursor sees nothing.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let later = sb.state().acumatica().now();
    let v: Value = common::json(c.put(&url).json(&json!({"LastModifiedDateTime": {"value": later}}))).await;
    assert_eq!(v["Results"], json!([]));
    sb.shutdown().await;
}

#[tokio::test]
async fn an_adjustment_pushes_the_stock_query_with_old_and_new_rows() {
    let rx = common::Receiver::start(0).await;
    let (sb, base, _c) = start().await;
    sb.state().set_webhook(
        Vendor::Acumatica,
        Some(WebhookTarget::new(&rx.url).header("X-Push-Secret", "s3cret").events(&["OB-StockAvailability"])),
    );
    let inv = sb.state().seed_data().products[4].erp_inventory_id.clone();
    let r = common::client()
        .post(format!("{}/_sandbox/stock/adjust", control(&base)))
        .json(&json!({"adjustments": [{"InventoryID": inv, "WarehouseID": "MAIN", "QtyOnHand": 60}, {"InventoryID": inv, "WarehouseID": "WH3", "QtyOnHand": 7}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = rx.wait(1).await;
    assert_eq!(got.len(), 1);
    let (h, b) = &got[0];
    assert_eq!(h["x-push-secret"], "s3cret");
    assert_eq!(b["Query"], "OB-StockAvailability");
    assert_eq!(b["CompanyId"], "Company");
    assert!(b["Id"].is_string() && b["TimeStamp"].is_i64());
    let mut ins = b["Inserted"].as_array().unwrap().clone();
    ins.sort_by_key(|r| r["WarehouseID"].as_str().unwrap().to_string());
    assert_eq!(
        ins,
        vec![
            json!({"InventoryID": inv, "WarehouseID": "MAIN", "QtyAvailable": 60}),
            json!({"InventoryID": inv, "WarehouseID": "WH3", "QtyAvailable": 7}),
        ]
    );
    assert_eq!(b["Deleted"], json!([{"InventoryID": inv, "WarehouseID": "MAIN", "QtyAvailable": 100}]));
    // Unknown item → 404, nothing pushed.
    let r = common::client()
        .post(format!("{}/_sandbox/stock/adjust", control(&base)))
        .json(&json!({"adjustments": [{"InventoryID": "NOPE", "WarehouseID": "MAIN", "QtyOnHand": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn bulk_stock_items_are_added_fast_with_on_hand() {
    let (sb, base, c) = start().await;
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"InventoryID": format!("BULK{i:04}"), "Description": format!("Bulk {i}"), "QtyOnHand": i % 7}))
        .collect();
    let started = std::time::Instant::now();
    let v: Value = common::json(
        common::client().post(format!("{}/_sandbox/stock-items/bulk", control(&base))).json(&json!({"items": items})),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(v["added"], 1000);
    let v: Value = common::json(c.get(format!("{base}{EP}/StockItem/BULK0006"))).await;
    assert_eq!(v["Description"]["value"], "Bulk 6");
    let v: Value = summary(&c, &base, json!({"InventoryID": {"value": "BULK0006"}})).await.json().await.unwrap();
    assert_eq!(dec(&v["Results"][0]["QtyOnHand"]), Decimal::from(6));
    let r = common::client()
        .post(format!("{}/_sandbox/stock-items/bulk", control(&base)))
        .json(&json!({"items": [{"InventoryID": "W9", "QtyOnHand": 3, "WarehouseID": "EAST"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sb.state().acumatica().availability_of("W9", "EAST").unwrap().on_hand, Decimal::from(3));
    sb.shutdown().await;
}

#[tokio::test]
async fn customers_update_by_id_and_preconditions_refuse() {
    let (sb, base, c) = start().await;
    let put = |h: Option<(&'static str, &'static str)>, body: Value| {
        let mut r = c.put(format!("{base}{EP}/Customer?$expand=MainContact/Address")).json(&body);
        if let Some((k, v)) = h {
            r = r.header(k, v);
        }
        r.send()
    };
    // If-None-Match on an existing customer, If-Match on a missing one.
    let r =
        put(Some(("If-None-Match", "*")), json!({"CustomerID": {"value": "C000001"}, "CustomerName": {"value": "X"}}))
            .await
            .unwrap();
    assert_eq!(r.status(), 412);
    let r = put(Some(("If-Match", "*")), json!({"CustomerID": {"value": "ZZNEW"}, "CustomerName": {"value": "X"}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let before = sb.state().acumatica().customers["C000001"].clone();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = put(
        None,
        json!({"CustomerID": {"value": "C000001"}, "CustomerName": {"value": "Renamed Buyer"}, "CustomerClass": {"value": "WHOLESALE"},
               "MainContact": {"Email": {"value": "renamed@example.com"}, "Phone1": {"value": "+1 555-0101"},
                               "Address": {"AddressLine1": {"value": "5 Oak Ave"}, "AddressLine2": {"value": ""}, "City": {"value": "Omaha"},
                                           "State": {"value": "NE"}, "PostalCode": {"value": "68102"}, "Country": {"value": "US"}}}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["MainContact"]["Address"]["City"]["value"], "Omaha");
    assert_eq!(v["Email"]["value"], "renamed@example.com");
    assert!(
        v["LastModifiedDateTime"]["value"].as_str().unwrap()
            > before["LastModifiedDateTime"]["value"].as_str().unwrap()
    );
    // `$expand=MainContact` gives the contact; its Address is a nested linked object (`MainContact/Address`).
    let v: Value = common::json(c.get(format!("{base}{EP}/Customer/C000001?$expand=MainContact"))).await;
    assert_eq!(v["MainContact"]["Email"]["value"], "renamed@example.com");
    assert!(v["MainContact"].get("Address").is_none());
    let v: Value = common::json(c.get(format!("{base}{EP}/Customer/C000001?$expand=MainContact/Address"))).await;
    assert_eq!(v["CustomerName"]["value"], "Renamed Buyer");
    assert_eq!(v["CustomerClass"]["value"], "WHOLESALE");
    assert_eq!(v["MainContact"]["Email"]["value"], "renamed@example.com");
    assert_eq!(v["MainContact"]["Phone1"]["value"], "+1 555-0101");
    assert_eq!(v["MainContact"]["Address"]["AddressLine1"]["value"], "5 Oak Ave");
    let list: Vec<Value> = common::json(common::client().get(format!("{}/_sandbox/customers", control(&base)))).await;
    let one = list.iter().find(|x| x["CustomerID"]["value"] == "C000001").unwrap();
    assert_eq!(one["Updates"], 1);
    let other = list.iter().find(|x| x["CustomerID"]["value"] == "C000002").unwrap();
    assert_eq!(other["Updates"], 0);
    sb.shutdown().await;
}

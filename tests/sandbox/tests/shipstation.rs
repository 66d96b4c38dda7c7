//! ShipStation simulator behaviour over HTTP: Basic auth, createorder upserts, paging and
//! filters, the 40/min limit headers, SHIP_NOTIFY with a resource_url that lists the batch, and
//! Pacific timestamps.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use orderbridge_sandbox::shipstation::CreateShipments;
use orderbridge_sandbox::{FaultKind, ScriptedFault, Vendor, WebhookTarget, WindowLimit};
use serde_json::{json, Value};

fn order(number: &str, key: Option<&str>, status: &str) -> Value {
    let mut o = json!({
        "orderNumber": number,
        "orderDate": "2024-05-01T09:30:00.0000000",
        "orderStatus": status,
        "billTo": {"name": "Ann Lee"},
        "shipTo": {"name": "Ann Lee", "street1": "1 Main St", "city": "Austin", "state": "TX",
                   "postalCode": "78701", "country": "US"},
        "items": [{"sku": "MUG-RED-0001", "name": "Mug", "quantity": 2, "unitPrice": 9.99}],
        "amountPaid": 19.98
    });
    if let Some(k) = key {
        o["orderKey"] = json!(k);
    }
    o
}

async fn post(c: &reqwest::Client, base: &str, path: &str, body: &Value) -> reqwest::Response {
    c.post(format!("{base}{path}"))
        .basic_auth("ss-sandbox-key", Some("ss-sandbox-secret"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get(c: &reqwest::Client, url: String) -> reqwest::Response {
    c.get(url).basic_auth("ss-sandbox-key", Some("ss-sandbox-secret")).send().await.unwrap()
}

/// `createorder` an awaiting-shipment order with an orderKey; the stored order.
async fn create_order(c: &reqwest::Client, base: &str, number: &str, key: &str) -> Value {
    post(c, base, "/orders/createorder", &order(number, Some(key), "awaiting_shipment")).await.json().await.unwrap()
}

#[tokio::test]
async fn basic_auth_is_required() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    assert_eq!(c.get(format!("{base}/orders")).send().await.unwrap().status(), 401);
    let r = c.get(format!("{base}/orders")).basic_auth("ss-sandbox-key", Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].is_string());
    sb.shutdown().await;
}

#[tokio::test]
async fn createorder_upserts_on_order_key_and_duplicates_without_one() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let a: Value = create_order(&c, &base, "SC-1", "sc-1").await;
    let mut again = order("SC-1", Some("sc-1"), "awaiting_shipment");
    again["internalNotes"] = json!("updated");
    let b: Value = post(&c, &base, "/orders/createorder", &again).await.json().await.unwrap();
    assert_eq!(a["orderId"], b["orderId"]);
    assert_eq!(b["internalNotes"], "updated");
    let x: Value =
        post(&c, &base, "/orders/createorder", &order("SC-2", None, "awaiting_shipment")).await.json().await.unwrap();
    let y: Value =
        post(&c, &base, "/orders/createorder", &order("SC-2", None, "awaiting_shipment")).await.json().await.unwrap();
    assert_ne!(x["orderId"], y["orderId"], "no orderKey: every POST creates an order");
    assert_eq!(sb.state().write_count(Vendor::Shipstation, "order.orderNumber", "SC-2"), 2);
    assert_eq!(sb.state().write_count(Vendor::Shipstation, "order.orderKey", "sc-1"), 2);
    // Missing required field names it.
    let mut bad = order("SC-3", None, "awaiting_shipment");
    bad.as_object_mut().unwrap().remove("shipTo");
    let r = post(&c, &base, "/orders/createorder", &bad).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("shipTo"));
    sb.shutdown().await;
}

#[tokio::test]
async fn order_paging_returns_each_order_once_and_filters_work() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let mut bodies = Vec::new();
    for i in 0..23 {
        let status = if i % 4 == 0 { "on_hold" } else { "awaiting_shipment" };
        bodies.push(order(&format!("WEB-{i:03}"), Some(&format!("k{i}")), status));
    }
    let r: Value = post(&c, &base, "/orders/createorders", &json!(bodies)).await.json().await.unwrap();
    assert_eq!(r["hasErrors"], false);
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let v: Value =
            get(&c, format!("{base}/orders?pageSize=5&page={page}&sortBy=CreateDate")).await.json().await.unwrap();
        assert_eq!(v["total"], 23);
        assert_eq!(v["pages"], 5);
        seen.extend(v["orders"].as_array().unwrap().iter().map(|o| o["orderId"].as_i64().unwrap()));
        if page >= v["pages"].as_u64().unwrap() {
            break;
        }
        page += 1;
    }
    assert_eq!(seen.len(), 23);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 23);
    let v: Value = get(&c, format!("{base}/orders?orderStatus=on_hold&pageSize=500")).await.json().await.unwrap();
    assert_eq!(v["total"], 6);
    let v: Value = get(&c, format!("{base}/orders?orderNumber=WEB-01")).await.json().await.unwrap();
    assert_eq!(v["total"], 10, "orderNumber is a starts-with match");
    let r = get(&c, format!("{base}/orders?pageSize=501")).await;
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn timestamps_are_pacific_without_offset_and_date_filters_read_pacific() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let before = chrono::Utc::now();
    let o: Value = create_order(&c, &base, "TZ-1", "tz-1").await;
    let created = o["createDate"].as_str().unwrap();
    assert_eq!(created.len(), "2024-05-01T14:00:34.8230000".len(), "{created}");
    let naive = chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.f").unwrap();
    let pacific_now = before.with_timezone(&chrono_tz::America::Los_Angeles).naive_local();
    assert!((naive - pacific_now).num_seconds().abs() < 60, "{naive} vs {pacific_now}");
    // A modifyDateStart one minute before now (Pacific) finds it; one minute after does not.
    let fmt = |d: chrono::NaiveDateTime| d.format("%Y-%m-%d %H:%M:%S").to_string();
    let lo = fmt(pacific_now - chrono::Duration::minutes(1));
    let hi = fmt(pacific_now + chrono::Duration::minutes(1));
    let v: Value = common::json(
        c.get(format!("{base}/orders"))
            .basic_auth("ss-sandbox-key", Some("ss-sandbox-secret"))
            .query(&[("modifyDateStart", lo.as_str())]),
    )
    .await;
    assert_eq!(v["total"], 1);
    let v: Value = common::json(
        c.get(format!("{base}/orders"))
            .basic_auth("ss-sandbox-key", Some("ss-sandbox-secret"))
            .query(&[("modifyDateStart", hi.as_str())]),
    )
    .await;
    assert_eq!(v["total"], 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn rate_limit_headers_and_429_after_the_quota() {
    let sb = common::sandbox_with(|c| c.limits.shipstation = WindowLimit::new(3, Duration::from_secs(60))).await;
    let c = common::client();
    let base = sb.urls().shipstation.clone();
    for remaining in [2, 1, 0] {
        let r = get(&c, format!("{base}/orders")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["X-Rate-Limit-Limit"], "3");
        assert_eq!(r.headers()["X-Rate-Limit-Remaining"], remaining.to_string().as_str());
        let reset: u64 = r.headers()["X-Rate-Limit-Reset"].to_str().unwrap().parse().unwrap();
        assert!(reset <= 60);
    }
    let r = get(&c, format!("{base}/orders")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["X-Rate-Limit-Remaining"], "0");
    // Another API key has its own budget.
    let r = c.get(format!("{base}/orders")).basic_auth("other", Some("x")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    sb.shutdown().await;
}

#[tokio::test]
async fn commit_then_fail_on_createorder_leaves_the_order() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    sb.state().push_fault(Vendor::Shipstation, ScriptedFault::new(FaultKind::CommitThen500).on("POST", "createorder"));
    let r = post(&c, &base, "/orders/createorder", &order("CTF-1", Some("ctf-1"), "awaiting_shipment")).await;
    assert_eq!(r.status(), 500);
    let v: Value = get(&c, format!("{base}/orders?orderNumber=CTF-1")).await.json().await.unwrap();
    assert_eq!(v["total"], 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn ship_notify_resource_url_lists_exactly_the_new_shipments() {
    let rx = common::Receiver::start(0).await;
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    // Subscribe through the documented API (the control-API target would work too).
    let r = post(
        &c,
        &base,
        "/webhooks/subscribe",
        &json!({"target_url": rx.url, "event": "SHIP_NOTIFY", "friendly_name": "erp"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let a: Value = create_order(&c, &base, "SN-1", "sn-1").await;
    let b: Value = create_order(&c, &base, "SN-2", "sn-2").await;
    // An earlier, unrelated batch.
    sb.state()
        .shipstation_create_shipments(&CreateShipments {
            order_ids: vec![b["orderId"].as_i64().unwrap()],
            ..Default::default()
        })
        .unwrap();
    let (_, made) = sb
        .state()
        .shipstation_create_shipments(&CreateShipments {
            order_ids: vec![a["orderId"].as_i64().unwrap()],
            tracking_numbers: vec!["1ZSHIPNOTIFY".into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(made.len(), 1);
    let got = rx.wait(2).await;
    let last = &got.last().unwrap().1;
    assert_eq!(last["resource_type"], "SHIP_NOTIFY");
    let url = last["resource_url"].as_str().unwrap();
    assert!(url.starts_with(&base) && url.contains("batchId="), "{url}");
    let v: Value = get(&c, url.to_string()).await.json().await.unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["shipments"][0]["trackingNumber"], "1ZSHIPNOTIFY");
    assert_eq!(v["shipments"][0]["orderKey"], "sn-1");
    assert!(v["shipments"][0]["shipmentItems"].is_null(), "includeShipmentItems=False");
    // The order is now shipped; markasshipped orders never appear in /shipments.
    let o: Value = get(&c, format!("{base}/orders/{}", a["orderId"])).await.json().await.unwrap();
    assert_eq!(o["orderStatus"], "shipped");
    let r: Value = create_order(&c, &base, "SN-3", "sn-3").await;
    let m = post(
        &c,
        &base,
        "/orders/markasshipped",
        &json!({"orderId": r["orderId"], "carrierCode": "ups", "trackingNumber": "1ZMARK"}),
    )
    .await;
    assert_eq!(m.status(), 200);
    let v: Value = get(&c, format!("{base}/shipments?trackingNumber=1ZMARK")).await.json().await.unwrap();
    assert_eq!(v["total"], 0);
    // A shipped order can no longer be updated through createorder.
    let r = post(&c, &base, "/orders/createorder", &order("SN-1", Some("sn-1"), "awaiting_shipment")).await;
    assert_eq!(r.status(), 400);
    // Duplicated deliveries on request.
    sb.state().set_webhook(Vendor::Shipstation, Some(WebhookTarget::new(&rx.url).copies(3)));
    let n0 = rx.got.lock().unwrap().len();
    let b2: Value = create_order(&c, &base, "SN-4", "sn-4").await;
    sb.state()
        .shipstation_create_shipments(&CreateShipments {
            order_ids: vec![b2["orderId"].as_i64().unwrap()],
            ..Default::default()
        })
        .unwrap();
    let got = rx.wait(n0 + 4).await;
    assert_eq!(got.len(), n0 + 4, "subscription once + control target three times");
    sb.shutdown().await;
}

#[tokio::test]
async fn createorder_answers_the_typed_order_model_without_unknown_fields() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let mut body = order("TYPED-1", Some("typed-1"), "awaiting_shipment");
    // Numbers and booleans sent as strings (JSON.NET reads them), plus fields the model lacks.
    body["amountPaid"] = json!("48.18");
    body["shippingAmount"] = json!("5.00");
    body["gift"] = json!("true");
    body["items"][0]["quantity"] = json!("2");
    body["items"][0]["unitPrice"] = json!("19.99");
    body["items"][0]["notAField"] = json!(true);
    body["shipTo"]["residential"] = json!("false");
    body["shipTo"]["nickname"] = json!("home");
    body["weight"] = json!({"value": "8", "units": "ounces"});
    body["advancedOptions"] = json!({"storeId": "123456", "customField1": "ERP:SO1", "whatever": 1});
    body["unknownTopLevel"] = json!("echo me not");
    let r = post(&c, &base, "/orders/createorder", &body).await;
    assert_eq!(r.status(), 200);
    let o: Value = r.json().await.unwrap();
    let number = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("{v} is a JSON number"));
    assert_eq!(number(&o["amountPaid"]), 48.18);
    assert_eq!(number(&o["orderTotal"]), 48.18);
    assert_eq!(number(&o["shippingAmount"]), 5.0);
    assert_eq!(o["gift"], json!(true));
    assert_eq!(o["items"][0]["quantity"].as_i64(), Some(2));
    assert_eq!(number(&o["items"][0]["unitPrice"]), 19.99);
    assert_eq!(o["shipTo"]["residential"], json!(false));
    assert_eq!(number(&o["weight"]["value"]), 8.0);
    assert_eq!(o["advancedOptions"]["storeId"].as_i64(), Some(123456));
    assert_eq!(o["advancedOptions"]["customField1"], "ERP:SO1");
    // Only the model's fields: unknown ones are dropped, absent ones come back as null.
    assert!(o.get("unknownTopLevel").is_none());
    assert!(o["items"][0].get("notAField").is_none());
    assert!(o["shipTo"].get("nickname").is_none());
    assert!(o["advancedOptions"].get("whatever").is_none());
    for k in ["paymentDate", "shipByDate", "customerId", "internalNotes", "tagIds", "carrierCode"] {
        assert!(o.get(k).is_some_and(Value::is_null), "{k} is present and null");
    }
    assert!(o["orderId"].is_i64());
    // The stored order (GET) is the same typed model.
    let id = o["orderId"].as_i64().unwrap();
    let got: Value = get(&c, format!("{base}/orders/{id}")).await.json().await.unwrap();
    assert_eq!(got, o);
    // A value that is not a number is refused, naming the field.
    let mut bad = order("TYPED-2", Some("typed-2"), "awaiting_shipment");
    bad["amountPaid"] = json!("lots");
    let r = post(&c, &base, "/orders/createorder", &bad).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("amountPaid"), "{v}");
    sb.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// Orders pushed from the ERP: address validation, statuses, store time zone, labels
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn createorder_requires_a_complete_ship_to_and_a_known_status() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut o = order("ERP-1", Some("acu-1"), "awaiting_shipment");
        f(&mut o);
        o
    };
    for (field, body) in [
        ("shipTo.city", with(&|o| o["shipTo"].as_object_mut().unwrap().remove("city").map(|_| ()).unwrap())),
        ("shipTo.postalCode", with(&|o| o["shipTo"]["postalCode"] = json!(""))),
        ("shipTo.street1", with(&|o| o["shipTo"]["street1"] = json!(" "))),
        ("shipTo.name", with(&|o| o["shipTo"]["name"] = Value::Null)),
        ("shipTo.country", with(&|o| o["shipTo"]["country"] = json!("USA"))),
        ("shipTo.country", with(&|o| o["shipTo"].as_object_mut().unwrap().remove("country").map(|_| ()).unwrap())),
        ("shipTo.state", with(&|o| o["shipTo"]["state"] = json!(""))),
        ("billTo", with(&|o| o["billTo"] = Value::Null)),
        ("orderStatus", with(&|o| o["orderStatus"] = json!("pending_fulfillment"))),
        ("orderDate", with(&|o| o.as_object_mut().unwrap().remove("orderDate").map(|_| ()).unwrap())),
    ] {
        let r = post(&c, &base, "/orders/createorder", &body).await;
        assert_eq!(r.status(), 400, "{field}");
        let e: Value = r.json().await.unwrap();
        assert!(e["message"].as_str().unwrap().contains(field), "{field}: {e}");
    }
    assert_eq!(sb.state().write_count(Vendor::Shipstation, "order.orderKey", "acu-1"), 0, "nothing stored");
    // No state outside the US and Canada is fine; Canada needs one.
    let gb = with(&|o| {
        o["shipTo"] =
            json!({"name": "Ann Lee", "street1": "1 Mall", "city": "London", "postalCode": "SW1A 1AA", "country": "GB"})
    });
    assert_eq!(post(&c, &base, "/orders/createorder", &gb).await.status(), 200);
    let ca = with(&|o| o["shipTo"]["country"] = json!("CA"));
    let ca = {
        let mut x = ca;
        x["shipTo"].as_object_mut().unwrap().remove("state");
        x
    };
    assert_eq!(post(&c, &base, "/orders/createorder", &ca).await.status(), 400);
    // createorders: the bad order fails alone.
    let mut bad = order("ERP-2", Some("acu-2"), "awaiting_shipment");
    bad["shipTo"]["city"] = json!("");
    let r: Value = post(
        &c,
        &base,
        "/orders/createorders",
        &json!([order("ERP-3", Some("acu-3"), "awaiting_shipment"), bad, order("ERP-4", Some("acu-4"), "on_hold")]),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["hasErrors"], true);
    let res = r["results"].as_array().unwrap();
    assert_eq!(res[0]["success"], true);
    assert_eq!(res[1]["success"], false);
    assert_eq!(res[1]["orderKey"], "acu-2");
    assert!(res[1]["errorMessage"].as_str().unwrap().contains("shipTo.city"));
    assert_eq!(res[2]["success"], true);
    let v: Value = get(&c, format!("{base}/orders?orderNumber=ERP-&pageSize=500")).await.json().await.unwrap();
    assert_eq!(v["total"], 3, "ERP-1 (GB), ERP-3, ERP-4");
    let many: Vec<Value> =
        (0..101).map(|i| order(&format!("B-{i}"), Some(&format!("b-{i}")), "awaiting_shipment")).collect();
    let r = post(&c, &base, "/orders/createorders", &json!(many)).await;
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn open_orders_move_between_statuses_and_closed_ones_refuse_updates_and_labels() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let a = create_order(&c, &base, "ERP-10", "acu-10").await;
    let id = a["orderId"].as_i64().unwrap();
    for status in ["on_hold", "awaiting_shipment", "on_hold"] {
        let v: Value = post(&c, &base, "/orders/createorder", &order("ERP-10", Some("acu-10"), status))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["orderId"], id);
        assert_eq!(v["orderStatus"], status);
    }
    // No label while on hold.
    let labels = |ids: Vec<i64>| CreateShipments { order_ids: ids, ..Default::default() };
    let e = sb.state().shipstation_create_shipments(&labels(vec![id])).unwrap_err();
    assert!(e.contains("on_hold"), "{e}");
    let v: Value = post(&c, &base, "/orders/createorder", &order("ERP-10", Some("acu-10"), "cancelled"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["orderStatus"], "cancelled");
    let r = post(&c, &base, "/orders/createorder", &order("ERP-10", Some("acu-10"), "awaiting_shipment")).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(e["message"].as_str().unwrap().contains("can no longer be updated"), "{e}");
    assert!(sb.state().shipstation_create_shipments(&labels(vec![id])).unwrap_err().contains("cancelled"));
    // An order that reached ShipStation without a city (not through createorder): no label.
    let mut body = order("ERP-11", Some("acu-11"), "awaiting_shipment");
    body["shipTo"]["city"] = json!("");
    let (o, _) = sb.state().shipstation().upsert(&body, chrono::Utc::now()).unwrap();
    let e = sb.state().shipstation_create_shipments(&labels(vec![o["orderId"].as_i64().unwrap()])).unwrap_err();
    assert!(e.contains("Invalid City, State, or Zip"), "{e}");
    sb.shutdown().await;
}

#[tokio::test]
async fn labels_for_createorder_orders_fire_ship_notify_and_voiding_reopens_the_order() {
    let rx = common::Receiver::start(0).await;
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    sb.state().set_webhook(Vendor::Shipstation, Some(WebhookTarget::new(&rx.url)));
    let mut body = order("SO000001-000001", Some("acu-SO-000001"), "awaiting_shipment");
    body["items"] = json!([
        {"lineItemKey": "1", "sku": "WATER2809", "name": "Spring water", "quantity": 3, "unitPrice": 20},
    ]);
    let a: Value = post(&c, &base, "/orders/createorder", &body).await.json().await.unwrap();
    let (_, made) = sb
        .state()
        .shipstation_create_shipments(&CreateShipments {
            order_numbers: vec!["SO000001-000001".into()],
            tracking_numbers: vec!["1ZERP0001".into()],
            ..Default::default()
        })
        .unwrap();
    let got = rx.wait(1).await;
    assert_eq!(got[0].1["resource_type"], "SHIP_NOTIFY");
    let url =
        got[0].1["resource_url"].as_str().unwrap().replace("includeShipmentItems=False", "includeShipmentItems=true");
    let v: Value = get(&c, url).await.json().await.unwrap();
    assert_eq!(v["shipments"][0]["orderKey"], "acu-SO-000001");
    assert_eq!(v["shipments"][0]["trackingNumber"], "1ZERP0001");
    assert_eq!(v["shipments"][0]["shipmentItems"][0]["lineItemKey"], "1");
    let o: Value = get(&c, format!("{base}/orders/{}", a["orderId"])).await.json().await.unwrap();
    assert_eq!(o["orderStatus"], "shipped");
    // Void: listed as voided, the order awaits shipment again and can be updated and relabelled.
    let sid = made[0]["shipmentId"].as_i64().unwrap();
    let voided = sb.state().shipstation_void_shipment(sid).unwrap();
    assert_eq!(voided["voided"], true);
    assert!(voided["voidDate"].is_string());
    assert!(sb.state().shipstation_void_shipment(sid).unwrap_err().contains("already voided"));
    let v: Value = get(&c, format!("{base}/shipments?orderId={}", a["orderId"])).await.json().await.unwrap();
    assert_eq!(v["shipments"][0]["voided"], true);
    let o: Value = get(&c, format!("{base}/orders/{}", a["orderId"])).await.json().await.unwrap();
    assert_eq!(o["orderStatus"], "awaiting_shipment");
    assert_eq!(post(&c, &base, "/orders/createorder", &body).await.status(), 200);
    sb.state()
        .shipstation_create_shipments(&CreateShipments {
            order_ids: vec![a["orderId"].as_i64().unwrap()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rx.wait(2).await.len(), 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_store_time_zone_reads_and_returns_the_order_date_in_it() {
    // Default: the account's Pacific convention.
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let mut body = order("TZ-1", Some("tz-1"), "awaiting_shipment");
    body["orderDate"] = json!("2024-05-01T09:00:00");
    let v: Value = post(&c, &base, "/orders/createorder", &body).await.json().await.unwrap();
    assert_eq!(v["orderDate"], "2024-05-01T09:00:00", "kept as sent");
    let n = |q: &str| {
        let (c, base) = (c.clone(), base.clone());
        let q = q.to_string();
        async move {
            let v: Value = get(&c, format!("{base}/orders?orderNumber=TZ-&{q}")).await.json().await.unwrap();
            v["total"].as_u64().unwrap()
        }
    };
    assert_eq!(n("orderDateStart=2024-05-01T08:30:00").await, 1);
    assert_eq!(n("orderDateStart=2024-05-01T09:30:00").await, 0);
    sb.shutdown().await;

    // A store in New York: 09:00 there is 06:00 Pacific, the zone of the range parameters.
    let sb = common::sandbox_with(|c| c.shipstation_store_time_zone = Some(chrono_tz::America::New_York)).await;
    let base = sb.urls().shipstation.clone();
    let v: Value = post(&c, &base, "/orders/createorder", &body).await.json().await.unwrap();
    assert_eq!(v["orderDate"], "2024-05-01T09:00:00.0000000", "returned in the store's zone");
    assert_eq!(v["createDate"].as_str().unwrap().len(), 27, "other timestamps stay Pacific");
    let n = |q: &str| {
        let (c, base) = (c.clone(), base.clone());
        let q = q.to_string();
        async move {
            let v: Value = get(&c, format!("{base}/orders?orderNumber=TZ-&{q}")).await.json().await.unwrap();
            v["total"].as_u64().unwrap()
        }
    };
    assert_eq!(n("orderDateStart=2024-05-01T05:30:00").await, 1);
    assert_eq!(n("orderDateStart=2024-05-01T06:30:00").await, 0);
    assert_eq!(n("orderDateEnd=2024-05-01T06:00:00").await, 1);
    assert_eq!(sb.state().shipstation().order_tz(), chrono_tz::America::New_York);
    let state: Value = common::json(c.get(format!("{base}/_sandbox/state"))).await;
    assert_eq!(state["store_time_zone"], "America/New_York");
    sb.shutdown().await;
}

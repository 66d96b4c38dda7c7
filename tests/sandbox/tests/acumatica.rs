//! Acumatica simulator behaviour over HTTP: auth and licence limits, SalesOrder PUT semantics,
//! selector validation, OData query options, cross-references, shipments and push notifications.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use orderbridge_sandbox::acumatica::ConfirmShipment;
use orderbridge_sandbox::{FaultKind, Sandbox, ScriptedFault, Vendor, WebhookTarget, WindowLimit};
use serde_json::{json, Value};

const EP: &str = "/entity/Default/24.200.001";

/// Log in through `/entity/auth/login` and return a client that sends the session cookies back
/// (what a cookie jar does; the workspace reqwest has no cookie feature).
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
    assert!(cookies.iter().any(|c| c.starts_with("ASP.NET_SessionId=")));
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("cookie", cookies.join("; ").parse().unwrap());
    reqwest::Client::builder().default_headers(h).timeout(Duration::from_secs(10)).build().unwrap()
}

/// A seeded sandbox, the Acumatica base URL and a logged-in client.
async fn start() -> (Sandbox, String, reqwest::Client) {
    let sb = common::sandbox().await;
    let base = sb.urls().acumatica.clone();
    let c = login(&base).await;
    (sb, base, c)
}

/// The OAuth password grant's answer (`access_token`, `refresh_token`) for `scope`.
async fn oauth_token(c: &reqwest::Client, base: &str, scope: &str) -> Value {
    common::json(c.post(format!("{base}/identity/connect/token")).form(&[
        ("grant_type", "password"),
        ("client_id", "1D6A2C4E-0000-4000-8000-0000000000AC@Company"),
        ("client_secret", "ac-client-secret"),
        ("username", "api_user"),
        ("password", "ac-sandbox-password"),
        ("scope", scope),
    ]))
    .await
}

/// Every record a `$top`/`$skip` URL pages through: `url(skip)` until a page comes back empty.
async fn all_pages(c: &reqwest::Client, url: impl Fn(usize) -> String) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let page: Vec<Value> = common::json(c.get(url(seen.len()))).await;
        if page.is_empty() {
            return seen;
        }
        seen.extend(page);
    }
}

fn sales_order(customer: &str, reference: &str, inv: &str) -> Value {
    json!({
        "OrderType": {"value": "SO"},
        "CustomerID": {"value": customer},
        "CustomerOrder": {"value": reference},
        "ShipVia": {"value": "UPSGROUND"},
        "Details": [
            {"InventoryID": {"value": inv}, "OrderQty": {"value": 2}, "UnitPrice": {"value": 19.99},
             "ManualPrice": {"value": true}, "DiscountAmount": {"value": 1.5}}
        ],
        "TaxDetails": [{"TaxID": {"value": "CHANNEL"}, "TaxAmount": {"value": 3.05}}],
        "DisableAutomaticTaxCalculation": {"value": true}
    })
}

#[tokio::test]
async fn auth_is_refused_without_session_or_token_and_bad_credentials_fail() {
    let sb = common::sandbox().await;
    let base = &sb.urls().acumatica;
    let c = common::client();
    let r = c.get(format!("{base}{EP}/SalesOrder")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].is_string(), "HttpError body: {v}");
    let r = c
        .post(format!("{base}/entity/auth/login"))
        .json(&json!({"name": "api_user", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // OAuth password grant works and the Bearer token is accepted.
    let t = oauth_token(&c, base.as_str(), "api offline_access").await;
    assert!(t["refresh_token"].is_string());
    let r =
        c.get(format!("{base}{EP}/Customer")).bearer_auth(t["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn api_user_licence_limit_refuses_extra_logins_with_429_until_logout() {
    let sb = common::sandbox_with(|c| c.limits.acumatica_max_api_users = 2).await;
    let base = sb.urls().acumatica.clone();
    let a = login(&base).await;
    let _b = login(&base).await;
    let c = common::client();
    let r = c
        .post(format!("{base}/entity/auth/login"))
        .json(&json!({"name": "api_user", "password": "ac-sandbox-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let r = a.post(format!("{base}/entity/auth/logout")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let _c = login(&base).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn requests_per_minute_limit_returns_429() {
    let sb =
        common::sandbox_with(|c| c.limits.acumatica_per_minute = WindowLimit::new(3, Duration::from_secs(60))).await;
    let base = sb.urls().acumatica.clone();
    let c = login(&base).await; // 1
    for _ in 0..2 {
        assert_eq!(c.get(format!("{base}{EP}/Customer")).send().await.unwrap().status(), 200);
    }
    let r = c.get(format!("{base}{EP}/Customer")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("license"));
    sb.shutdown().await;
}

#[tokio::test]
async fn put_without_order_nbr_inserts_every_time_and_if_none_match_refuses_existing() {
    let (sb, base, c) = start().await;
    let inv = sb.state().seed_data().products[0].erp_inventory_id.clone();
    let body = sales_order("C000001", "SC-900001", &inv);
    let mut nbrs = Vec::new();
    for _ in 0..2 {
        let r = c
            .put(format!("{base}{EP}/SalesOrder?$expand=Details"))
            .header("If-None-Match", "*")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["Details"].as_array().unwrap().len(), 1);
        // 2 × 19.99 − 1.50 + 3.05 tax = 41.53
        assert_eq!(v["OrderTotal"]["value"].to_string(), "41.53");
        nbrs.push(v["OrderNbr"]["value"].as_str().unwrap().to_string());
    }
    assert_ne!(nbrs[0], nbrs[1], "a retried insert duplicates (auto-numbering)");
    assert_eq!(sb.state().write_count(Vendor::Acumatica, "sales_order.CustomerOrder", "SC-900001"), 2);
    // Lookup by CustomerOrder finds both, as a defensive client would before inserting.
    let found: Value = common::json(
        c.get(format!("{base}{EP}/SalesOrder"))
            .query(&[("$filter", "CustomerOrder eq 'SC-900001'"), ("$select", "OrderNbr,CustomerOrder")]),
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 2);
    assert!(found[0].get("OrderTotal").is_none(), "$select narrows fields");
    // With the key present, If-None-Match: * refuses; without it the PUT updates.
    let mut upd = json!({"OrderType": {"value": "SO"}, "OrderNbr": {"value": nbrs[0]},
                         "Description": {"value": "updated"}});
    let r = c.put(format!("{base}{EP}/SalesOrder")).header("If-None-Match", "*").json(&upd).send().await.unwrap();
    assert_eq!(r.status(), 412);
    upd["Hold"] = json!({"value": false});
    let r = c.put(format!("{base}{EP}/SalesOrder")).json(&upd).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Description"]["value"], "updated");
    assert!(v.get("Details").is_none(), "details only with $expand");
    sb.shutdown().await;
}

#[tokio::test]
async fn unknown_selector_values_fail_with_per_field_errors() {
    let (sb, base, c) = start().await;
    let mut body = sales_order("C999999", "SC-BAD", "NO-SUCH-SKU");
    body["ShipVia"] = json!({"value": "TELEPORT"});
    body["PaymentMethod"] = json!({"value": "BITCOIN"});
    let r = c.put(format!("{base}{EP}/SalesOrder")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].is_string());
    assert!(v["CustomerID"]["error"].as_str().unwrap().contains("C999999"));
    assert!(v["ShipVia"]["error"].is_string());
    assert!(v["PaymentMethod"]["error"].is_string());
    assert!(v["Details"][0]["InventoryID"]["error"].as_str().unwrap().contains("NO-SUCH-SKU"));
    assert!(sb.state().acumatica().sales_orders.is_empty(), "nothing written");
    sb.shutdown().await;
}

#[tokio::test]
async fn top_skip_paging_returns_every_stock_item_once_and_cross_references_resolve() {
    let (sb, base, c) = start().await;
    let total = sb.state().acumatica().stock_items.len();
    let seen = all_pages(&c, |skip| format!("{base}{EP}/StockItem?$expand=CrossReferences&$top=25&$skip={skip}")).await;
    let ids: HashSet<String> = seen.iter().map(|s| s["InventoryID"]["value"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), total);
    assert_eq!(seen.len(), total);
    // A product whose channel SKU is not an InventoryID is reachable through its UPC and EAN.
    let p = sb.state().seed_data().products.iter().find(|p| p.erp_inventory_id != p.sku).unwrap().clone();
    let item = seen
        .iter()
        .find(|s| s["CrossReferences"].as_array().unwrap().iter().any(|x| x["AlternateID"]["value"] == p.ean.as_str()))
        .unwrap();
    assert_eq!(item["InventoryID"]["value"], p.erp_inventory_id.as_str());
    assert_eq!(sb.state().acumatica().inventory_by_barcode(&p.upc), Some(p.erp_inventory_id.clone()));
    // Filtering on detail fields is refused rather than silently unpredictable.
    let r = c
        .get(format!("{base}{EP}/StockItem"))
        .query(&[("$filter", format!("CrossReferences/AlternateID eq '{}'", p.upc))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Lookup by inventory id.
    let r = c.get(format!("{base}{EP}/StockItem/{}", p.erp_inventory_id)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn customer_lookup_by_email_and_create() {
    let (sb, base, c) = start().await;
    let email = sb.state().seed_data().buyers[0].email.clone();
    let v: Value = common::json(
        c.get(format!("{base}{EP}/Customer"))
            .query(&[("$filter", format!("MainContact/Email eq '{email}'")), ("$expand", "MainContact".into())]),
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["MainContact"]["Email"]["value"], email.as_str());
    let r = c
        .put(format!("{base}{EP}/Customer"))
        .json(&json!({"CustomerName": {"value": "New Buyer"},
                      "MainContact": {"Email": {"value": "new.buyer@example.com"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["CustomerID"]["value"].as_str().unwrap().starts_with('C'));
    let r = c
        .put(format!("{base}{EP}/Customer"))
        .json(&json!({"MainContact": {"Email": {"value": "x@example.com"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    sb.shutdown().await;
}

#[tokio::test]
async fn partial_shipment_confirmation_pushes_notification_with_custom_header() {
    let rx = common::Receiver::start(0).await;
    let sb = common::sandbox().await;
    sb.state().set_webhook(Vendor::Acumatica, Some(WebhookTarget::new(&rx.url).header("X-Push-Secret", "s3cret")));
    let base = sb.urls().acumatica.clone();
    let c = login(&base).await;
    let p = &sb.state().seed_data().products;
    let mut body = sales_order("C000002", "SC-777", &p[0].erp_inventory_id);
    body["Details"]
        .as_array_mut()
        .unwrap()
        .push(json!({"InventoryID": {"value": p[1].erp_inventory_id}, "OrderQty": {"value": 1}}));
    let v: Value = common::json(c.put(format!("{base}{EP}/SalesOrder")).json(&body)).await;
    let nbr = v["OrderNbr"]["value"].as_str().unwrap().to_string();
    let mut req = ConfirmShipment::all(&nbr);
    req.lines = Some(vec![serde_json::from_value(json!({"LineNbr": 1, "Qty": 1})).unwrap()]);
    req.packages = vec![
        serde_json::from_value(json!({"TrackingNbr": "1ZPART1"})).unwrap(),
        serde_json::from_value(json!({"TrackingNbr": "1ZPART2"})).unwrap(),
    ];
    sb.state().acumatica_confirm_shipment(&req).unwrap();
    assert_eq!(sb.state().acumatica().sales_order(&nbr).unwrap()["Status"]["value"], "Back Order");
    let got = rx.wait(2).await;
    let ship = got.iter().find(|(_, b)| b["Query"] == "ShipmentsForSync").unwrap();
    assert_eq!(ship.0["x-push-secret"], "s3cret");
    let rows = ship.1["Inserted"].as_array().unwrap();
    let tracking: HashSet<&str> = rows.iter().map(|r| r["TrackingNbr"].as_str().unwrap()).collect();
    assert_eq!(tracking, HashSet::from(["1ZPART1", "1ZPART2"]));
    assert_eq!(ship.1["CompanyId"], "Company");
    assert!(ship.1["Id"].is_string() && ship.1["TimeStamp"].is_i64());
    let order = got.iter().find(|(_, b)| b["Query"] == "SalesOrdersForSync").unwrap();
    assert_eq!(order.1["Deleted"][0]["Status"], "Open");
    assert_eq!(order.1["Inserted"][0]["Status"], "Back Order");
    // The shipment is readable through the API with packages and tracking numbers.
    let shipments: Value = common::json(c.get(format!("{base}{EP}/Shipment?$expand=Packages,Orders"))).await;
    assert_eq!(shipments[0]["Packages"].as_array().unwrap().len(), 2);
    assert_eq!(shipments[0]["Orders"][0]["OrderNbr"]["value"], nbr.as_str());
    // Shipping the rest completes the order.
    sb.state().acumatica_confirm_shipment(&ConfirmShipment::all(&nbr)).unwrap();
    assert_eq!(sb.state().acumatica().sales_order(&nbr).unwrap()["Status"]["value"], "Completed");
    sb.shutdown().await;
}

#[tokio::test]
async fn commit_then_drop_leaves_the_sales_order_in_place() {
    let (sb, base, c) = start().await;
    sb.state().push_fault(Vendor::Acumatica, ScriptedFault::new(FaultKind::CommitThenDrop).on("PUT", "/SalesOrder"));
    let inv = sb.state().seed_data().products[2].erp_inventory_id.clone();
    let r = c.put(format!("{base}{EP}/SalesOrder")).json(&sales_order("C000003", "SC-DROP", &inv)).send().await;
    assert!(r.is_err(), "client sees a dropped connection");
    assert_eq!(sb.state().acumatica().sales_orders_by_customer_order("SC-DROP").len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn sales_order_paging_with_top_and_skip_returns_each_order_once() {
    let (sb, base, c) = start().await;
    let inv = sb.state().seed_data().products[3].erp_inventory_id.clone();
    for i in 0..17 {
        let r = c
            .put(format!("{base}{EP}/SalesOrder"))
            .json(&sales_order("C000004", &format!("SC-P{i}"), &inv))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let seen: Vec<String> =
        all_pages(&c, |skip| format!("{base}{EP}/SalesOrder?$top=5&$skip={skip}&$select=OrderNbr,CustomerOrder"))
            .await
            .into_iter()
            .map(|o| o["OrderNbr"]["value"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(seen.len(), 17);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 17);
    // Keyset paging the community recommends works too.
    let after: Vec<Value> = common::json(
        c.get(format!("{base}{EP}/SalesOrder"))
            .query(&[("$filter", format!("OrderType eq 'SO' and OrderNbr gt '{}'", seen[9])), ("$top", "100".into())]),
    )
    .await;
    assert_eq!(after.len(), 7);
    // OAuth tokens expire.
    sb.shutdown().await;
}

#[tokio::test]
async fn expired_oauth_token_is_refused() {
    let sb = common::sandbox_with(|c| c.acumatica_token_ttl = Duration::from_millis(150)).await;
    let base = sb.urls().acumatica.clone();
    let c = common::client();
    let t = oauth_token(&c, base.as_str(), "api").await;
    let tok = t["access_token"].as_str().unwrap();
    assert_eq!(c.get(format!("{base}{EP}/Customer")).bearer_auth(tok).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.get(format!("{base}{EP}/Customer")).bearer_auth(tok).send().await.unwrap().status(), 401);
    sb.shutdown().await;
}

#[tokio::test]
async fn endpoint_schema_is_served_for_schema_driven_clients() {
    let sb = common::sandbox().await;
    let base = sb.urls().acumatica.clone();
    assert_eq!(common::client().get(format!("{base}{EP}/swagger.json")).send().await.unwrap().status(), 401);
    let c = login(&base).await;

    // 24.200.001: OpenAPI 3.0.1 — components/schemas, parameters by $ref, requestBody.
    let doc: Value = common::json(c.get(format!("{base}{EP}/swagger.json"))).await;
    assert_eq!(doc["openapi"], "3.0.1");
    assert!(doc.get("swagger").is_none() && doc.get("definitions").is_none());
    assert_eq!(doc["info"]["title"], "Default/24.200.001");
    assert!(doc["servers"][0]["url"].as_str().unwrap().ends_with("/AcumaticaERP/entity/Default/24.200.001"));
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SalesOrder"].is_object());
    assert!(schemas["ShipmentPackage"].to_string().contains("TrackingNbr"));
    assert!(schemas["ShipmentPackage"].to_string().contains("#/components/schemas/ShipmentPackageDetail"));
    assert!(schemas["ShipmentPackageDetail"].to_string().contains("ShipmentSplitLineNbr"));
    let list = &doc["paths"]["/Customer"]["get"];
    assert!(list["parameters"].as_array().unwrap().iter().any(|p| p["$ref"] == "#/components/parameters/filter"));
    assert_eq!(doc["components"]["parameters"]["filter"]["name"], "$filter");
    let put = &doc["paths"]["/SalesOrder"]["put"];
    assert_eq!(put["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/SalesOrder");
    assert!(put["parameters"].as_array().unwrap().iter().all(|p| p["in"] != "body"));
    assert_eq!(
        put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SalesOrder"
    );
    // Every $ref resolves.
    let text = doc.to_string();
    for piece in text.split("\"#/components/").skip(1) {
        let path: Vec<&str> = piece.split('"').next().unwrap().split('/').collect();
        assert!(doc["components"][path[0]][path[1]].is_object(), "dangling $ref {path:?}");
    }

    // 22.200.001 and 23.200.001: Swagger 2.0 with the same entities and fields.
    for ver in ["22.200.001", "23.200.001"] {
        let old: Value = common::json(c.get(format!("{base}/entity/Default/{ver}/swagger.json"))).await;
        assert_eq!(old["swagger"], "2.0", "{ver}");
        assert!(old.get("openapi").is_none() && old.get("components").is_none());
        let defs = &old["definitions"];
        assert!(defs["ShipmentPackage"].to_string().contains("#/definitions/ShipmentPackageDetail"));
        assert!(old["paths"]["/SalesOrder"]["put"]["parameters"].to_string().contains("\"in\":\"body\""));
        let names = |m: &Value| m.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(defs), names(schemas), "{ver}: same definitions");
        assert_eq!(
            defs["SalesOrder"].to_string().replace("#/definitions/", "#/components/schemas/"),
            schemas["SalesOrder"].to_string(),
            "{ver}: same SalesOrder fields"
        );
    }
    sb.shutdown().await;
}

/// The control-API host of the Acumatica server (the base URL without the instance).
fn control_host(base: &str) -> String {
    base.rsplit_once('/').unwrap().0.to_owned()
}

/// A sales order with two lines (2 × products[0], 1 × products[1]), channel line ids in each
/// line's `ExternalRef` and an order note; its `OrderNbr`.
async fn two_line_order(sb: &Sandbox, c: &reqwest::Client, base: &str, reference: &str) -> String {
    let p = &sb.state().seed_data().products;
    let mut body = sales_order("C000002", reference, &p[0].erp_inventory_id);
    body["note"] = json!({"value": "Gift wrap"});
    body["Details"][0]["ExternalRef"] = json!({"value": "501"});
    body["Details"]
        .as_array_mut()
        .unwrap()
        .push(json!({"InventoryID": {"value": p[1].erp_inventory_id}, "OrderQty": {"value": 1}, "ExternalRef": {"value": "502"}}));
    let v: Value = common::json(c.put(format!("{base}{EP}/SalesOrder")).json(&body)).await;
    v["OrderNbr"]["value"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn package_contents_are_confirmed_per_box_and_returned_only_when_expanded() {
    let (sb, base, c) = start().await;
    let p = sb.state().seed_data().products.clone();
    let nbr = two_line_order(&sb, &c, &base, "SC-BOXES").await;
    let confirm = json!({
        "OrderNbr": nbr,
        "Packages": [
            {"TrackingNbr": "1ZBOXA", "Contents": [{"LineNbr": 1, "Qty": 1}, {"LineNbr": 2, "Qty": 1}]},
            {"TrackingNbr": "1ZBOXB", "BoxID": "SMALL", "Contents": [{"LineNbr": 1, "Qty": 1}]}
        ]
    });
    let r = c.post(format!("{}/_sandbox/shipments/confirm", control_host(&base))).json(&confirm).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let shipped: Value = r.json().await.unwrap();
    let ship_nbr = shipped["ShipmentNbr"]["value"].as_str().unwrap().to_owned();

    let get = |expand: &str| c.get(format!("{base}{EP}/Shipment/{ship_nbr}?$expand={expand}"));
    let full: Value = common::json(get("Packages,Details,Orders,Packages/PackageContents")).await;
    assert_eq!(full["Details"].as_array().unwrap().len(), 2);
    assert_eq!(full["Orders"][0]["OrderNbr"]["value"], nbr.as_str());
    let boxes = full["Packages"].as_array().unwrap();
    assert_eq!(boxes.len(), 2);
    assert_eq!(boxes[0]["TrackingNbr"]["value"], "1ZBOXA");
    assert_eq!(boxes[1]["BoxID"]["value"], "SMALL");
    let a = boxes[0]["PackageContents"].as_array().unwrap();
    assert_eq!(a.len(), 2);
    let row = &a[0];
    assert!(row["id"].is_string());
    assert_eq!(row["rowNumber"], 1);
    assert_eq!(row["InventoryID"]["value"], p[0].erp_inventory_id.as_str());
    assert_eq!(row["Quantity"]["value"], 1);
    assert_eq!(row["UOM"]["value"], "EA");
    assert_eq!(row["ShipmentSplitLineNbr"]["value"], 1, "the shipment's detail line");
    assert_eq!(row["LotSerialNbr"]["value"], "");
    assert_eq!(row["Subitem"]["value"], "");
    assert_eq!(a[1]["InventoryID"]["value"], p[1].erp_inventory_id.as_str());
    assert_eq!(a[1]["ShipmentSplitLineNbr"]["value"], 2);
    let b = boxes[1]["PackageContents"].as_array().unwrap();
    assert_eq!((b.len(), &b[0]["Quantity"]["value"]), (1, &json!(1)));

    // `$expand=Packages` alone: packages without contents; the nested path alone brings both.
    let plain: Value = common::json(get("Packages")).await;
    assert!(plain["Packages"][0]["TrackingNbr"].is_object());
    assert!(plain["Packages"][0].get("PackageContents").is_none(), "{plain}");
    assert!(plain.get("Details").is_none());
    let nested: Value = common::json(get("Packages/PackageContents")).await;
    assert_eq!(nested["Packages"][1]["PackageContents"][0]["Quantity"]["value"], 1);
    let listed: Vec<Value> =
        common::json(c.get(format!("{base}{EP}/Shipment?$expand=Packages,Packages/PackageContents"))).await;
    assert_eq!(listed[0]["Packages"][0]["PackageContents"].as_array().unwrap().len(), 2);

    // The order: lines with their channel ids, the shipment, the note.
    let so: Value = common::json(c.get(format!("{base}{EP}/SalesOrder/SO/{nbr}?$expand=Details,Shipments"))).await;
    assert_eq!(so["Status"]["value"], "Completed");
    assert_eq!(so["note"]["value"], "Gift wrap");
    let lines: Vec<(Value, Value, Value)> = so["Details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["LineNbr"]["value"].clone(), l["InventoryID"]["value"].clone(), l["ExternalRef"]["value"].clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (json!(1), json!(p[0].erp_inventory_id), json!("501")),
            (json!(2), json!(p[1].erp_inventory_id), json!("502"))
        ]
    );
    assert_eq!(so["Shipments"][0]["ShipmentNbr"]["value"], ship_nbr.as_str());
    assert_eq!(so["Shipments"][0]["Status"]["value"], "Confirmed");

    // An unknown shipment number is Acumatica's 404 HttpError.
    let r = c.get(format!("{base}{EP}/Shipment/NOPE?$expand=Packages")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(e["message"].as_str().unwrap().contains("No entity satisfies the condition"), "{e}");
    assert!(e["exceptionType"].is_string());
    sb.shutdown().await;
}

#[tokio::test]
async fn package_contents_default_by_box_count_and_are_validated() {
    let (sb, base, c) = start().await;
    let p = sb.state().seed_data().products.clone();
    let ctl = format!("{}/_sandbox/shipments/confirm", control_host(&base));
    let confirm = |body: Value| c.post(&ctl).json(&body).send();

    // One box without contents holds everything shipped.
    let one = two_line_order(&sb, &c, &base, "SC-ONEBOX").await;
    let sh: Value =
        confirm(json!({"OrderNbr": one, "Packages": [{"TrackingNbr": "1ZONE"}]})).await.unwrap().json().await.unwrap();
    let rows: Vec<(Value, Value)> = sh["Packages"][0]["PackageContents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["InventoryID"]["value"].clone(), r["Quantity"]["value"].clone()))
        .collect();
    assert_eq!(rows, vec![(json!(p[0].erp_inventory_id), json!(2)), (json!(p[1].erp_inventory_id), json!(1))]);

    // Several boxes without contents: the warehouse did not pack by item.
    let two = two_line_order(&sb, &c, &base, "SC-TWOBOX").await;
    let sh: Value = confirm(json!({"OrderNbr": two, "Packages": [{"TrackingNbr": "1ZX"}, {"TrackingNbr": "1ZY"}]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for b in sh["Packages"].as_array().unwrap() {
        assert_eq!(b["PackageContents"], json!([]));
    }

    // Refusals name the package and line; nothing is shipped or numbered by them.
    let bad = two_line_order(&sb, &c, &base, "SC-BADBOX").await;
    let shipments_before = sb.state().acumatica().shipments.len();
    for (packages, lines, wanted) in [
        (json!([{"Contents": [{"LineNbr": 9, "Qty": 1}]}]), Value::Null, "package 1: line 9 is not on this shipment"),
        // Line 2 exists on the order but this shipment only takes line 1.
        (
            json!([{"Contents": [{"LineNbr": 2, "Qty": 1}]}]),
            json!([{"LineNbr": 1, "Qty": 2}]),
            "line 2 is not on this shipment",
        ),
        (
            json!([{"Contents": [{"LineNbr": 1, "Qty": 2}]}, {"Contents": [{"LineNbr": 1, "Qty": 1}]}]),
            Value::Null,
            "package 2: line 1 packs 3 in all but the shipment ships 2",
        ),
        (json!([{"Contents": [{"LineNbr": 1, "Qty": 0}]}]), Value::Null, "quantity 0 must be positive"),
    ] {
        let mut body = json!({"OrderNbr": bad, "Packages": packages});
        if !lines.is_null() {
            body["Lines"] = lines;
        }
        let r = confirm(body).await.unwrap();
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains(wanted), "{e} should say {wanted}");
    }
    assert_eq!(sb.state().acumatica().shipments.len(), shipments_before);
    assert_eq!(sb.state().acumatica().sales_order(&bad).unwrap()["Status"]["value"], "Open");
    // A valid confirmation afterwards gets the next number.
    let ok: Value = confirm(json!({"OrderNbr": bad})).await.unwrap().json().await.unwrap();
    assert_eq!(ok["ShipmentNbr"]["value"], format!("{:06}", shipments_before + 1));
    sb.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// ERP-originated orders: entered in SO301000, paid, shipped, invoiced, canceled
// ------------------------------------------------------------------------------------------

use orderbridge_sandbox::acumatica::{EnterLine, EnterOrder, ShipToOverride};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn water_order(qty: Decimal) -> EnterOrder {
    EnterOrder {
        customer_id: "AACUSTOMER".into(),
        lines: vec![EnterLine::new("WATER2809", qty)],
        ship_via: Some("UPSGROUND".into()),
        freight: Some(dec!(12.50)),
        tax: Some(dec!(8.00)),
        payment_method: Some("CHECK".into()),
        customer_order: Some("PO-7781".into()),
        ..EnterOrder::default()
    }
}

fn dec_of(v: &Value) -> Decimal {
    v["value"].as_f64().map(|f| Decimal::try_from(f).unwrap().round_dp(4)).unwrap()
}

#[tokio::test]
async fn an_entered_order_is_numbered_defaulted_from_the_customer_and_pushed() {
    let rx = common::Receiver::start(0).await;
    let sb = common::sandbox().await;
    sb.state().set_webhook(Vendor::Acumatica, Some(WebhookTarget::new(&rx.url)));
    let so = sb.state().acumatica_enter_order(&water_order(dec!(3))).unwrap();
    assert_eq!(so["OrderType"]["value"], "SO");
    assert_eq!(so["OrderNbr"]["value"], "SO000001");
    assert_eq!(so["Status"]["value"], "Open");
    assert_eq!(so["LocationID"]["value"], "MAIN");
    assert_eq!(so["CurrencyID"]["value"], "USD");
    assert_eq!(so["PaymentMethod"]["value"], "CHECK");
    assert!(so["LastModified"]["value"].is_string() && so.get("LastModifiedDateTime").is_none());
    assert_eq!(so["ShipToAddress"]["City"]["value"], "Denver");
    assert_eq!(so["ShipToContact"]["Email"]["value"], "ap@altaace.com");
    assert_eq!(so["ShipToContact"]["BusinessName"]["value"], "Alta Ace");
    assert_eq!(so["BillToAddress"]["PostalCode"]["value"], "80204");
    assert_eq!(so["BillToContact"]["Email"]["value"], "ap@altaace.com");
    // Line from the stock item: base UOM, default warehouse and price.
    let line = &so["Details"][0];
    assert_eq!(line["UOM"]["value"], "BOTTLE");
    assert_eq!(line["WarehouseID"]["value"], "RETAIL");
    assert_eq!(line["LineDescription"]["value"], "Spring water 28 oz");
    assert_eq!(dec_of(&line["Amount"]), dec!(60));
    // 3 × 20.00 + 12.50 freight + 8.00 tax.
    assert_eq!(dec_of(&so["OrderTotal"]), dec!(80.5));
    assert_eq!(dec_of(&so["Totals"]["UnpaidBalance"]), dec!(80.5));
    let got = rx.wait(1).await;
    assert_eq!(got[0].1["Query"], "SalesOrdersForSync");
    assert_eq!(got[0].1["Inserted"][0]["OrderNbr"], "SO000001");
    assert_eq!(got[0].1["Inserted"][0]["Status"], "Open");
    assert_eq!(got[0].1["Deleted"].as_array().unwrap().len(), 0);

    // Hold, and a ship-to override.
    let mut held = water_order(dec!(1));
    held.hold = true;
    held.ship_to =
        Some(ShipToOverride { city: Some("Boulder".into()), attention: Some("Dock 4".into()), ..Default::default() });
    let so = sb.state().acumatica_enter_order(&held).unwrap();
    assert_eq!(so["Status"]["value"], "On Hold");
    assert_eq!(so["OrderNbr"]["value"], "SO000002");
    assert_eq!(so["ShipToAddress"]["City"]["value"], "Boulder");
    assert_eq!(so["ShipToAddress"]["AddressLine1"]["value"], "1200 Larimer St");
    assert_eq!(so["ShipToAddressOverride"]["value"], true);
    assert_eq!(so["BillToAddress"]["City"]["value"], "Denver");

    // Refusals name the field and consume no number.
    let mut bad = water_order(dec!(1));
    bad.lines.push(EnterLine::new("NO-SUCH-ITEM", dec!(1)));
    assert!(sb.state().acumatica_enter_order(&bad).unwrap_err().contains("NO-SUCH-ITEM"));
    let bad = EnterOrder { customer_id: "NOBODY".into(), ..water_order(dec!(1)) };
    assert!(sb.state().acumatica_enter_order(&bad).unwrap_err().contains("NOBODY"));
    let bad = EnterOrder { location_id: "WEST".into(), ..water_order(dec!(1)) };
    assert!(sb.state().acumatica_enter_order(&bad).unwrap_err().contains("WEST"));
    let bad = EnterOrder { ship_via: Some("PIGEON".into()), ..water_order(dec!(1)) };
    assert!(sb.state().acumatica_enter_order(&bad).unwrap_err().contains("PIGEON"));
    let so = sb.state().acumatica_enter_order(&water_order(dec!(1))).unwrap();
    assert_eq!(so["OrderNbr"]["value"], "SO000003");
    // The seeded customer carries its class (not on the order).
    {
        let st = sb.state().acumatica();
        assert_eq!(st.customers["AACUSTOMER"]["CustomerClass"]["value"], "WHOLESALE");
        assert!(st.customers.values().all(|c| c["CustomerClass"]["value"].is_string()));
        assert!(so.get("CustomerClass").is_none());
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn entered_orders_are_listed_by_last_modified_with_the_documented_expansions() {
    let (sb, base, c) = start().await;
    for _ in 0..5 {
        sb.state().acumatica_enter_order(&water_order(dec!(2))).unwrap();
    }
    let url = |skip: usize| {
        format!(
            "{base}{EP}/SalesOrder?$filter={}&$expand=Details,Totals,Payments,ShipToAddress,ShipToContact,BillToAddress,BillToContact&$top=2&$skip={skip}",
            "OrderType%20eq%20'SO'%20and%20LastModified%20gt%20datetimeoffset'2024-05-01T00%3A00%3A00%2B00%3A00'"
        )
    };
    let all = all_pages(&c, url).await;
    assert_eq!(all.len(), 5);
    assert_eq!(all[0]["ShipToAddress"]["City"]["value"], "Denver");
    assert_eq!(all[0]["BillToContact"]["Email"]["value"], "ap@altaace.com");
    assert!(all[0]["Totals"]["UnpaidBalance"]["value"].is_number());
    assert!(all[0]["Payments"].is_array() && all[0]["Details"].is_array());
    // A filter after the last change finds nothing: the stored time is comparable.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S%%2B00:00").to_string();
    let v: Value =
        common::json(c.get(format!("{base}{EP}/SalesOrder?$filter=LastModified%20gt%20datetimeoffset'{later}'"))).await;
    assert_eq!(v.as_array().unwrap().len(), 0, "{v}");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_put_on_an_existing_order_updates_the_header_and_a_line_by_id() {
    let (sb, base, c) = start().await;
    let so = sb.state().acumatica_enter_order(&water_order(dec!(2))).unwrap();
    let line_id = so["Details"][0]["id"].as_str().unwrap().to_string();
    let body = json!({
        "OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO000001"},
        "ExternalRef": {"value": "MG-000000042"},
        "Details": [{"id": line_id, "ExternalRef": {"value": "item-9001"}}]
    });
    let r = c.put(format!("{base}{EP}/SalesOrder?$expand=Details")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ExternalRef"]["value"], "MG-000000042");
    assert_eq!(v["Details"].as_array().unwrap().len(), 1, "updated by id, not added");
    assert_eq!(v["Details"][0]["ExternalRef"]["value"], "item-9001");
    assert_eq!(v["Details"][0]["InventoryID"]["value"], "WATER2809");
    assert_eq!(sb.state().acumatica().sales_orders.len(), 1);
    assert_eq!(sb.state().write_count(Vendor::Acumatica, "sales_order.ExternalRef", "MG-000000042"), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn payments_reduce_the_unpaid_balance_and_overpaying_is_refused() {
    let rx = common::Receiver::start(0).await;
    let (sb, base, c) = start().await;
    sb.state().set_webhook(Vendor::Acumatica, Some(WebhookTarget::new(&rx.url)));
    sb.state().acumatica_enter_order(&water_order(dec!(3))).unwrap(); // 80.50
    let so = sb.state().acumatica_apply_payment("SO", "SO000001", dec!(30)).unwrap();
    assert_eq!(dec_of(&so["Totals"]["UnpaidBalance"]), dec!(50.5));
    let p = &so["Payments"][0];
    assert_eq!(p["DocType"]["value"], "Payment");
    assert_eq!(p["ReferenceNbr"]["value"], "000001");
    assert_eq!(dec_of(&p["PaymentAmount"]), dec!(30));
    assert_eq!(dec_of(&p["AppliedToOrder"]), dec!(30));
    assert_eq!(p["Status"]["value"], "Open");
    let err = sb.state().acumatica_apply_payment("SO", "SO000001", dec!(50.51)).unwrap_err();
    assert!(err.contains("unpaid balance"), "{err}");
    assert!(sb.state().acumatica_apply_payment("SO", "SO000001", dec!(0)).is_err());
    assert!(sb.state().acumatica_apply_payment("SO", "SO999999", dec!(1)).unwrap_err().contains("not found"));
    let so = sb.state().acumatica_apply_payment("SO", "SO000001", dec!(50.5)).unwrap();
    assert_eq!(dec_of(&so["Totals"]["UnpaidBalance"]), dec!(0));
    assert_eq!(so["Payments"][1]["ReferenceNbr"]["value"], "000002");
    assert!(sb.state().acumatica_apply_payment("SO", "SO000001", dec!(0.01)).is_err(), "nothing left to pay");
    // Readable through the API, and each payment pushed the order (insert + 2 changes).
    let v: Value = common::json(c.get(format!("{base}{EP}/SalesOrder/SO/SO000001?$expand=Payments,Totals"))).await;
    assert_eq!(v["Payments"].as_array().unwrap().len(), 2);
    assert_eq!(v["Totals"]["UnpaidBalance"]["value"], 0.0);
    let got = rx.wait(3).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].1["Deleted"][0]["OrderNbr"], "SO000001");
    assert_eq!(got[2].1["Inserted"][0]["Status"], "Open");
    sb.shutdown().await;
}

#[tokio::test]
async fn releasing_an_invoice_bills_confirmed_shipments_and_completes_the_order() {
    let (sb, base, c) = start().await;
    let st = sb.state();
    let mut req = water_order(dec!(4)); // 4 × 20 + 12.50 + 8.00 = 100.50
    req.lines.push(EnterLine { unit_price: Some(dec!(5)), ..EnterLine::new("WATER2809", dec!(2)) }); // +10
    st.acumatica_enter_order(&req).unwrap(); // 110.50
    assert!(st.acumatica_release_invoice("SO", "SO000001").unwrap_err().contains("no confirmed shipments"));
    st.acumatica_apply_payment("SO", "SO000001", dec!(40)).unwrap();
    // Partial shipment: 2 of line 1.
    let mut part = ConfirmShipment::all("SO000001");
    part.lines = Some(vec![serde_json::from_value(json!({"LineNbr": 1, "Qty": 2})).unwrap()]);
    st.acumatica_confirm_shipment(&part).unwrap();
    let inv = st.acumatica_release_invoice("SO", "SO000001").unwrap();
    assert_eq!(inv["Type"]["value"], "Invoice");
    assert_eq!(inv["ReferenceNbr"]["value"], "INV000001");
    assert_eq!(inv["CustomerID"]["value"], "AACUSTOMER");
    // Lines 40.00 + all freight 12.50 + tax share 8 × 40/90 = 3.56.
    assert_eq!(dec_of(&inv["Amount"]), dec!(56.06));
    assert_eq!(dec_of(&inv["PaymentTotal"]), dec!(40));
    assert_eq!(dec_of(&inv["Balance"]), dec!(16.06));
    assert_eq!(inv["Status"]["value"], "Open");
    assert_eq!(inv["Details"][0]["ShipmentNbr"]["value"], "000001");
    assert_eq!(inv["Details"][0]["OrderNbr"]["value"], "SO000001");
    assert_eq!(dec_of(&inv["Details"][0]["Qty"]), dec!(2));
    assert!(inv["LastModifiedDateTime"]["value"].is_string());
    assert!(st.acumatica_release_invoice("SO", "SO000001").is_err(), "nothing new to invoice");
    let so = st.acumatica().sales_order("SO000001").unwrap().clone();
    assert_eq!(so["Status"]["value"], "Back Order");
    assert_eq!(so["Shipments"][0]["InvoiceNbr"]["value"], "INV000001");
    assert_eq!(so["Shipments"][0]["InvoiceType"]["value"], "Invoice");
    assert_eq!(so["Payments"][0]["Status"]["value"], "Closed");
    assert_eq!(dec_of(&so["Totals"]["UnbilledAmount"]), dec!(54.44));
    // Ship and invoice the rest: the order completes; a fully paid invoice would be Closed.
    st.acumatica_apply_payment("SO", "SO000001", dec!(54.44)).unwrap();
    st.acumatica_confirm_shipment(&ConfirmShipment::all("SO000001")).unwrap();
    let so = st.acumatica().sales_order("SO000001").unwrap().clone();
    assert_eq!(so["Shipments"][1]["InvoiceNbr"]["value"], "");
    let err = st.acumatica_apply_payment("SO", "SO000001", dec!(1)).unwrap_err();
    assert!(err.contains("Completed"), "{err}");
    let inv2 = st.acumatica_release_invoice("SO", "SO000001").unwrap();
    // Lines 40 + 10, tax remainder 8 − 3.56, no freight again.
    assert_eq!(dec_of(&inv2["Amount"]), dec!(54.44));
    assert_eq!(inv2["Status"]["value"], "Closed");
    assert_eq!(dec_of(&inv2["Balance"]), dec!(0));
    let so = st.acumatica().sales_order("SO000001").unwrap().clone();
    assert_eq!(so["Status"]["value"], "Completed");
    assert_eq!(dec_of(&so["Totals"]["UnbilledAmount"]), dec!(0));
    // Over the API: the expansion, the invoice by key, the list.
    let v: Value = common::json(c.get(format!("{base}{EP}/SalesOrder/SO/SO000001?$expand=Shipments"))).await;
    let nbrs: Vec<&str> =
        v["Shipments"].as_array().unwrap().iter().map(|r| r["InvoiceNbr"]["value"].as_str().unwrap()).collect();
    assert_eq!(nbrs, ["INV000001", "INV000002"]);
    let r = c.get(format!("{base}{EP}/SalesInvoice/Invoice/INV000002?$expand=Details")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Status"]["value"], "Closed");
    assert_eq!(v["Details"].as_array().unwrap().len(), 2);
    let r = c.get(format!("{base}{EP}/SalesInvoice/Invoice/INV000009")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = common::json(c.get(format!("{base}{EP}/SalesInvoice?$filter=Status%20eq%20'Open'&$top=10"))).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["ReferenceNbr"]["value"], "INV000001");
    assert!(v[0].get("Details").is_none(), "details only with $expand");
    let sh: Value = common::json(c.get(format!("{base}{EP}/Shipment/000001?$expand=Orders"))).await;
    assert_eq!(sh["Status"]["value"], "Invoiced");
    assert_eq!(sh["Orders"][0]["InvoiceNbr"]["value"], "INV000001");
    sb.shutdown().await;
}

#[tokio::test]
async fn canceling_works_without_shipments_and_is_refused_with_confirmed_ones() {
    let sb = common::sandbox().await;
    let st = sb.state();
    st.acumatica_enter_order(&water_order(dec!(2))).unwrap();
    st.acumatica_enter_order(&water_order(dec!(2))).unwrap();
    let so = st.acumatica_set_order_status("SO000001", "Canceled").unwrap();
    assert_eq!(so["Status"]["value"], "Canceled");
    assert_eq!(so["Details"][0]["OpenQty"]["value"], 0);
    assert!(st.acumatica_confirm_shipment(&ConfirmShipment::all("SO000001")).is_err(), "nothing open to ship");
    st.acumatica_confirm_shipment(&ConfirmShipment::all("SO000002")).unwrap();
    let err = st.acumatica_set_order_status("SO000002", "Canceled").unwrap_err();
    assert!(err.contains("shipments"), "{err}");
    assert_eq!(st.acumatica().sales_order("SO000002").unwrap()["Status"]["value"], "Completed");
    sb.shutdown().await;
}

#[tokio::test]
async fn control_routes_enter_pay_invoice_and_list() {
    let sb = common::sandbox().await;
    // Control routes are on the port, outside the instance path.
    let base = sb.urls().acumatica.trim_end_matches("/AcumaticaERP").to_string();
    let c = common::client();
    let r = c
        .post(format!("{base}/_sandbox/sales-orders/enter"))
        .json(&json!({"customer_id": "AACUSTOMER", "lines": [{"inventory_id": "WATER2809", "qty": 2}], "freight": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let so: Value = r.json().await.unwrap();
    assert_eq!(so["OrderNbr"]["value"], "SO000001");
    assert_eq!(so["OrderTotal"]["value"], 45.0);
    let r = c
        .post(format!("{base}/_sandbox/sales-orders/enter"))
        .json(&json!({"customer_id": "AACUSTOMER", "lines": [{"inventory_id": "NOPE", "qty": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = c
        .post(format!("{base}/_sandbox/sales-orders/payment"))
        .json(&json!({"order_type": "SO", "order_nbr": "SO000001", "amount": 45}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/_sandbox/sales-orders/release-invoice"))
        .json(&json!({"order_nbr": "SO000001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "nothing shipped yet");
    let r = c
        .post(format!("{base}/_sandbox/shipments/confirm"))
        .json(&json!({"OrderNbr": "SO000001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/_sandbox/sales-orders/release-invoice"))
        .json(&json!({"order_type": "SO", "order_nbr": "SO000001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = common::json(c.get(format!("{base}/_sandbox/invoices"))).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["Status"]["value"], "Closed");
    let state: Value = common::json(c.get(format!("{base}/_sandbox/state"))).await;
    assert_eq!(state["invoices"], 1);
    let r = c
        .post(format!("{base}/_sandbox/sales-orders/status"))
        .json(&json!({"OrderNbr": "SO000001", "Status": "Canceled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    sb.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// Shipping station: open shipments, PUT Shipment, ConfirmShipment action, cancel
// ------------------------------------------------------------------------------------------

use orderbridge_sandbox::acumatica::{CreateShipment, NewPackage};

/// The pushes of one query the receiver got so far (deliveries run concurrently: any order).
fn pushes(got: &[(reqwest::header::HeaderMap, Value)], query: &str) -> Vec<Value> {
    got.iter().filter(|(_, b)| b["Query"] == query).map(|(_, b)| b.clone()).collect()
}

/// The one push whose first `Inserted` (or, with `Inserted` empty, `Deleted`) row has `status`.
fn push_to(pushes: &[Value], status: &str) -> Value {
    let hits: Vec<&Value> = pushes
        .iter()
        .filter(|p| {
            let first = if p["Inserted"].as_array().is_some_and(|a| a.is_empty()) {
                &p["Deleted"][0]
            } else {
                &p["Inserted"][0]
            };
            first["Status"] == status
        })
        .collect();
    assert_eq!(hits.len(), 1, "one push to {status}: {pushes:?}");
    hits[0].clone()
}

#[tokio::test]
async fn shipments_are_created_open_with_the_order_ship_to_default_package_and_push() {
    let rx = common::Receiver::start(0).await;
    let sb = common::sandbox().await;
    let st = sb.state();
    st.set_webhook(Vendor::Acumatica, Some(WebhookTarget::new(&rx.url)));
    st.acumatica_enter_order(&water_order(dec!(3))).unwrap();
    let sh = st.acumatica_create_shipment(&CreateShipment::for_order("SO000001")).unwrap();
    assert_eq!(sh["ShipmentNbr"]["value"], "000001");
    assert_eq!(sh["Status"]["value"], "Open");
    assert_eq!(sh["Hold"]["value"], false);
    assert_eq!(sh["ShipVia"]["value"], "UPSGROUND");
    assert!(sh["LastModifiedDateTime"]["value"].is_string() && sh["ShipmentDate"]["value"].is_string());
    assert_eq!(sh["Details"][0]["InventoryID"]["value"], "WATER2809");
    assert_eq!(sh["Details"][0]["ShippedQty"]["value"], 3);
    assert_eq!(sh["Details"][0]["OrderLineNbr"]["value"], 1);
    assert_eq!(sh["Orders"][0]["OrderNbr"]["value"], "SO000001");
    let ship_to = &sh["ShippingSettings"];
    assert_eq!(ship_to["ShipToAddress"]["City"]["value"], "Denver");
    assert_eq!(ship_to["ShipToAddress"]["PostalCode"]["value"], "80204");
    assert_eq!(ship_to["ShipToContact"]["Email"]["value"], "ap@altaace.com");
    let pk = sh["Packages"].as_array().unwrap();
    assert_eq!(pk.len(), 1);
    assert_eq!(pk[0]["BoxID"]["value"], "DEFAULT");
    assert_eq!(pk[0]["TrackingNbr"]["value"], "");
    assert_eq!(pk[0]["Confirmed"]["value"], false);
    assert_eq!(sh["PackageCount"]["value"], 1);
    // The order: quantities on the shipment, listed, status Shipping.
    {
        let ac = st.acumatica();
        let so = ac.sales_order("SO000001").unwrap();
        assert_eq!(so["Status"]["value"], "Shipping");
        assert_eq!(so["Details"][0]["OpenQty"]["value"], 0);
        assert_eq!(so["Shipments"][0]["Status"]["value"], "Open");
    }
    let got = rx.wait(3).await;
    let ship = pushes(&got, "ShipmentsForSync");
    assert_eq!(ship.len(), 1);
    assert_eq!(ship[0]["Inserted"][0]["ShipmentNbr"], "000001");
    assert_eq!(ship[0]["Inserted"][0]["Status"], "Open");
    assert!(ship[0]["Inserted"][0]["TrackingNbr"].is_null());
    assert_eq!(ship[0]["Deleted"].as_array().unwrap().len(), 0);
    let orders = pushes(&got, "SalesOrdersForSync");
    assert_eq!(push_to(&orders, "Shipping")["Deleted"][0]["Status"], "Open");
    // Nothing left to ship on that order.
    assert!(st.acumatica_create_shipment(&CreateShipment::for_order("SO000001")).unwrap_err().contains("nothing"));

    // On hold, an incomplete address, two packages, a partial quantity.
    st.acumatica_enter_order(&water_order(dec!(4))).unwrap();
    let req = CreateShipment {
        order_nbr: "SO000002".into(),
        hold: true,
        blank: vec!["City".into(), "PostalCode".into()],
        packages: Some(vec![NewPackage::new("SMALL", dec!(1.5)), NewPackage::new("large", dec!(3))]),
        lines: Some(vec![serde_json::from_value(json!({"LineNbr": 1, "Qty": 2})).unwrap()]),
        ..CreateShipment::default()
    };
    let sh = st.acumatica_create_shipment(&req).unwrap();
    assert_eq!(sh["Status"]["value"], "On Hold");
    assert_eq!(sh["Hold"]["value"], true);
    assert_eq!(sh["ShippingSettings"]["ShipToAddress"]["City"]["value"], "");
    assert_eq!(sh["ShippingSettings"]["ShipToAddress"]["PostalCode"]["value"], "");
    assert_eq!(sh["ShippingSettings"]["ShipToAddress"]["AddressLine1"]["value"], "1200 Larimer St");
    assert_eq!(sh["Packages"][1]["BoxID"]["value"], "LARGE");
    assert_eq!(sh["PackageCount"]["value"], 2);
    assert_eq!(sh["Details"][0]["ShippedQty"]["value"], 2);
    // No packages at all.
    let sh = st
        .acumatica_create_shipment(&CreateShipment {
            packages: Some(vec![]),
            lines: Some(vec![serde_json::from_value(json!({"LineNbr": 1, "Qty": 1})).unwrap()]),
            ..CreateShipment::for_order("SO000002")
        })
        .unwrap();
    assert_eq!(sh["Packages"].as_array().unwrap().len(), 0);
    assert_eq!(sh["PackageCount"]["value"], 0);
    // Refusals consume no number.
    let bad = CreateShipment {
        packages: Some(vec![NewPackage::new("CRATE", dec!(1))]),
        ..CreateShipment::for_order("SO000002")
    };
    assert!(st.acumatica_create_shipment(&bad).unwrap_err().contains("CRATE"));
    let bad = CreateShipment { blank: vec!["Planet".into()], ..CreateShipment::for_order("SO000002") };
    assert!(st.acumatica_create_shipment(&bad).unwrap_err().contains("Planet"));
    let bad = CreateShipment { ship_via: Some("PIGEON".into()), ..CreateShipment::for_order("SO000002") };
    assert!(st.acumatica_create_shipment(&bad).unwrap_err().contains("PIGEON"));
    let mut held = water_order(dec!(1));
    held.hold = true;
    st.acumatica_enter_order(&held).unwrap();
    assert!(st.acumatica_create_shipment(&CreateShipment::for_order("SO000003")).unwrap_err().contains("On Hold"));
    assert!(st.acumatica_create_shipment(&CreateShipment::for_order("SO999999")).unwrap_err().contains("not found"));
    let sh = st.acumatica_create_shipment(&CreateShipment::for_order("SO000002")).unwrap();
    assert_eq!(sh["ShipmentNbr"]["value"], "000004");
    // The existing confirm flow still works beside open shipments.
    st.acumatica_enter_order(&water_order(dec!(1))).unwrap();
    let confirmed = st.acumatica_confirm_shipment(&ConfirmShipment::all("SO000004")).unwrap();
    assert_eq!(confirmed["Status"]["value"], "Confirmed");
    assert_eq!(st.write_count(Vendor::Acumatica, "shipment.created", "000001"), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn put_shipment_edits_hold_ship_to_and_packages_by_the_detail_semantics() {
    let rx = common::Receiver::start(0).await;
    let (sb, base, c) = start().await;
    let st = sb.state();
    st.set_webhook(Vendor::Acumatica, Some(WebhookTarget::new(&rx.url)));
    st.acumatica_enter_order(&water_order(dec!(2))).unwrap();
    let created = st
        .acumatica_create_shipment(&CreateShipment {
            blank: vec!["City".into()],
            ..CreateShipment::for_order("SO000001")
        })
        .unwrap();
    let before = created["LastModifiedDateTime"]["value"].as_str().unwrap().to_string();
    let first_pkg = created["Packages"][0]["id"].as_str().unwrap().to_string();
    let url =
        format!("{base}{EP}/Shipment?$expand=Packages,ShippingSettings/ShipToAddress,ShippingSettings/ShipToContact");
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Add a package (no id), fill the city (the address override follows).
    let body = json!({
        "ShipmentNbr": {"value": "000001"},
        "ShippingSettings": {"ShipToAddress": {"City": {"value": "Boulder"}}},
        "Packages": [{"BoxID": {"value": "LARGE"}, "TrackingNbr": {"value": "1Z999AA10123456784"}, "Weight": {"value": 2.5}}],
    });
    let r = c.put(&url).header("If-Match", "*").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let pk = v["Packages"].as_array().unwrap();
    assert_eq!(pk.len(), 2, "a row without id is added");
    assert_eq!(pk[1]["TrackingNbr"]["value"], "1Z999AA10123456784");
    assert_eq!(pk[1]["LineNbr"]["value"], 2);
    assert_eq!(v["PackageCount"]["value"], 2);
    assert_eq!(v["ShippingSettings"]["ShipToAddress"]["City"]["value"], "Boulder");
    assert_eq!(v["ShippingSettings"]["ShipToAddressOverride"]["value"], true);
    assert_eq!(v["ShippingSettings"]["ShipToContact"]["Email"]["value"], "ap@altaace.com");
    assert_ne!(v["LastModifiedDateTime"]["value"].as_str().unwrap(), before, "bumped");
    assert_eq!(v["Status"]["value"], "Open");
    // Update the first package by id, then delete the added one.
    let added = pk[1]["id"].as_str().unwrap().to_string();
    let body = json!({"ShipmentNbr": {"value": "000001"}, "Packages": [
        {"id": first_pkg, "TrackingNbr": {"value": "1ZFIRST"}},
        {"id": added, "delete": true},
    ]});
    let v: Value = common::json(c.put(format!("{base}{EP}/Shipment?$expand=Packages")).json(&body)).await;
    let pk = v["Packages"].as_array().unwrap();
    assert_eq!(pk.len(), 1);
    assert_eq!(pk[0]["TrackingNbr"]["value"], "1ZFIRST");
    assert_eq!(pk[0]["BoxID"]["value"], "DEFAULT");
    assert!(v.get("ShippingSettings").is_none(), "not expanded");
    assert_eq!(st.write_count(Vendor::Acumatica, "shipment.TrackingNbr", "1ZFIRST"), 1);
    // Unknown box and a too-long tracking number: 422 with per-field errors, nothing changed.
    let long = "1Z".repeat(26);
    let body = json!({"ShipmentNbr": {"value": "000001"}, "Packages": [
        {"BoxID": {"value": "CRATE"}},
        {"BoxID": {"value": "SMALL"}, "TrackingNbr": {"value": long}},
        {"Weight": {"value": 1}},
    ]});
    let r = c.put(format!("{base}{EP}/Shipment")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(e["Packages"][0]["BoxID"]["error"].as_str().unwrap().contains("CRATE"), "{e}");
    assert!(e["Packages"][1]["TrackingNbr"]["error"].as_str().unwrap().contains("50"), "{e}");
    assert!(e["Packages"][2]["BoxID"]["error"].as_str().unwrap().contains("empty"), "{e}");
    assert!(e["error"].as_str().unwrap().starts_with("Updating 'Shipment' record raised at least one error"));
    assert_eq!(st.acumatica().shipment("000001").unwrap()["Packages"].as_array().unwrap().len(), 1);
    // Hold and release: status follows, each change pushed as a Deleted + Inserted pair.
    let v: Value = common::json(
        c.put(format!("{base}{EP}/Shipment"))
            .json(&json!({"ShipmentNbr": {"value": "000001"}, "Hold": {"value": true}})),
    )
    .await;
    assert_eq!(v["Status"]["value"], "On Hold");
    assert_eq!(st.acumatica().sales_order("SO000001").unwrap()["Shipments"][0]["Status"]["value"], "On Hold");
    let v: Value =
        common::json(c.put(format!("{base}{EP}/Shipment")).json(&json!({"id": v["id"], "Hold": {"value": false}})))
            .await;
    assert_eq!(v["Status"]["value"], "Open");
    let got = rx.wait(5).await;
    let ship = pushes(&got, "ShipmentsForSync");
    assert_eq!(ship.len(), 3, "created, held, released (package edits alone push nothing)");
    let held = push_to(&ship, "On Hold");
    assert_eq!(held["Deleted"][0]["Status"], "Open");
    assert_eq!(held["Inserted"][0]["TrackingNbr"], "1ZFIRST");
    let released: Vec<&Value> = ship.iter().filter(|p| p["Deleted"][0]["Status"] == "On Hold").collect();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["Inserted"][0]["Status"], "Open");
    // Keys: If-Match on an unknown shipment, no key at all, If-None-Match on an existing one.
    let r = c
        .put(format!("{base}{EP}/Shipment"))
        .header("If-Match", "*")
        .json(&json!({"ShipmentNbr": {"value": "999999"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = c.put(format!("{base}{EP}/Shipment")).json(&json!({"Hold": {"value": true}})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .put(format!("{base}{EP}/Shipment"))
        .header("If-None-Match", "*")
        .json(&json!({"ShipmentNbr": {"value": "000001"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    sb.shutdown().await;
}

#[tokio::test]
async fn shipment_lists_filter_on_status_and_last_modified_and_honour_expand_and_select() {
    let (sb, base, c) = start().await;
    let st = sb.state();
    st.acumatica_enter_order(&water_order(dec!(2))).unwrap();
    st.acumatica_enter_order(&water_order(dec!(2))).unwrap();
    st.acumatica_create_shipment(&CreateShipment::for_order("SO000001")).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cursor = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f%%2B00:00").to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    st.acumatica_create_shipment(&CreateShipment { hold: true, ..CreateShipment::for_order("SO000002") }).unwrap();
    let list = |q: String| {
        let c = c.clone();
        let base = base.clone();
        async move { common::json::<Value>(c.get(format!("{base}{EP}/Shipment?{q}"))).await }
    };
    let v = list("$filter=Status%20eq%20'Open'&$expand=Packages".into()).await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["ShipmentNbr"]["value"], "000001");
    assert!(v[0]["Packages"].is_array());
    let v = list(format!("$filter=LastModifiedDateTime%20gt%20datetimeoffset'{cursor}'")).await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["ShipmentNbr"]["value"], "000002");
    assert_eq!(v[0]["Status"]["value"], "On Hold");
    assert!(v[0].get("Packages").is_none() && v[0].get("ShippingSettings").is_none(), "not expanded");
    let v = list(
        "$filter=Status%20eq%20'Open'%20or%20Status%20eq%20'On%20Hold'&$expand=ShippingSettings/ShipToAddress&$select=ShipmentNbr,Status,ShippingSettings".into(),
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["ShippingSettings"]["ShipToAddress"]["City"]["value"], "Denver");
    assert!(v[0]["ShippingSettings"].get("ShipToContact").is_none(), "only the expanded part");
    assert!(v[0].get("ShipVia").is_none(), "$select");
    let one: Value =
        common::json(c.get(format!("{base}{EP}/Shipment/000002?$expand=Details,ShippingSettings/ShipToContact"))).await;
    assert_eq!(one["Details"][0]["ShippedQty"]["value"], 2);
    assert_eq!(one["ShippingSettings"]["ShipToContact"]["BusinessName"]["value"], "Alta Ace");
    sb.shutdown().await;
}

#[tokio::test]
async fn confirm_shipment_action_answers_202_with_a_location_polled_until_204_and_pushes() {
    let rx = common::Receiver::start(0).await;
    let sb = common::sandbox_with(|c| c.acumatica_action_pending_polls = 1).await;
    let base = sb.urls().acumatica.clone();
    let c = login(&base).await;
    let st = sb.state();
    st.set_webhook(Vendor::Acumatica, Some(WebhookTarget::new(&rx.url)));
    st.acumatica_enter_order(&water_order(dec!(2))).unwrap();
    st.acumatica_create_shipment(&CreateShipment::for_order("SO000001")).unwrap();
    let put = json!({"ShipmentNbr": {"value": "000001"}, "Packages": [{"id": st.acumatica().shipment("000001").unwrap()["Packages"][0]["id"], "TrackingNbr": {"value": "1ZLABEL1"}}]});
    assert_eq!(c.put(format!("{base}{EP}/Shipment")).json(&put).send().await.unwrap().status(), 200);
    let action = json!({"entity": {"ShipmentNbr": {"value": "000001"}}, "parameters": {}});
    let r = c.post(format!("{base}{EP}/Shipment/ConfirmShipment")).json(&action).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("/AcumaticaERP{EP}/Shipment/ConfirmShipment/status/")), "{location}");
    let host = control_host(&base);
    assert_eq!(c.get(format!("{host}{location}")).send().await.unwrap().status(), 202, "still running");
    assert_eq!(c.get(format!("{host}{location}")).send().await.unwrap().status(), 204, "done");
    assert_eq!(c.get(format!("{host}{location}")).send().await.unwrap().status(), 204, "stays done");
    let unknown = format!("{host}/AcumaticaERP{EP}/Shipment/ConfirmShipment/status/{}", uuid::Uuid::nil());
    assert_eq!(c.get(unknown).send().await.unwrap().status(), 404);
    let sh: Value = common::json(c.get(format!("{base}{EP}/Shipment/000001?$expand=Packages"))).await;
    assert_eq!(sh["Status"]["value"], "Confirmed");
    assert_eq!(sh["Packages"][0]["Confirmed"]["value"], true);
    assert!(sh["ShipmentDate"]["value"].is_string());
    {
        let ac = st.acumatica();
        let so = ac.sales_order("SO000001").unwrap();
        assert_eq!(so["Status"]["value"], "Completed");
        assert_eq!(so["Shipments"][0]["Status"]["value"], "Confirmed");
    }
    let got = rx.wait(5).await;
    let ship = pushes(&got, "ShipmentsForSync");
    let last = push_to(&ship, "Confirmed");
    assert_eq!(last["Inserted"][0]["Status"], "Confirmed");
    assert_eq!(last["Inserted"][0]["TrackingNbr"], "1ZLABEL1");
    assert_eq!(last["Inserted"][0]["OrderNbr"], "SO000001");
    assert_eq!(last["Deleted"][0]["Status"], "Open");
    assert_eq!(push_to(&pushes(&got, "SalesOrdersForSync"), "Completed")["Deleted"][0]["Status"], "Shipping");
    assert_eq!(st.write_count(Vendor::Acumatica, "shipment.confirmed", "000001"), 1);
    // Packages and address are read-only once confirmed; confirming twice is refused.
    let r = c.put(format!("{base}{EP}/Shipment")).json(&put).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("cannot be edited in status Confirmed"), "{e}");
    let r = c.post(format!("{base}{EP}/Shipment/ConfirmShipment")).json(&action).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(e["exceptionMessage"].as_str().unwrap().contains("already been confirmed"), "{e}");
    // On hold: refused; by id; unknown: 404; other actions are not modelled.
    st.acumatica_enter_order(&water_order(dec!(1))).unwrap();
    let held =
        st.acumatica_create_shipment(&CreateShipment { hold: true, ..CreateShipment::for_order("SO000002") }).unwrap();
    let by_id = json!({"entity": {"id": held["id"]}});
    let r = c.post(format!("{base}{EP}/Shipment/ConfirmShipment")).json(&by_id).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("on hold"));
    let release = json!({"ShipmentNbr": {"value": "000002"}, "Hold": {"value": false}});
    assert_eq!(c.put(format!("{base}{EP}/Shipment")).json(&release).send().await.unwrap().status(), 200);
    let r = c.post(format!("{base}{EP}/Shipment/ConfirmShipment")).json(&by_id).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(st.acumatica().shipment("000002").unwrap()["Status"]["value"], "Confirmed");
    let r = c
        .post(format!("{base}{EP}/Shipment/ConfirmShipment"))
        .json(&json!({"entity": {"ShipmentNbr": {"value": "424242"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.post(format!("{base}{EP}/Shipment/CorrectShipment")).json(&action).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // The confirmed shipments are invoiced like the ones the control confirm makes.
    let inv = st.acumatica_release_invoice("SO", "SO000001").unwrap();
    assert_eq!(inv["Details"][0]["ShipmentNbr"]["value"], "000001");
    assert_eq!(st.acumatica().shipment("000001").unwrap()["Status"]["value"], "Invoiced");
    sb.shutdown().await;
}

#[tokio::test]
async fn cancelled_shipments_leave_the_query_and_give_the_quantities_back_to_the_order() {
    let rx = common::Receiver::start(0).await;
    let sb = common::sandbox().await;
    let st = sb.state();
    st.set_webhook(Vendor::Acumatica, Some(WebhookTarget::new(&rx.url)));
    st.acumatica_enter_order(&water_order(dec!(3))).unwrap();
    st.acumatica_create_shipment(&CreateShipment { hold: true, ..CreateShipment::for_order("SO000001") }).unwrap();
    let sh = st.acumatica_cancel_shipment("000001").unwrap();
    assert_eq!(sh["Status"]["value"], "Canceled");
    {
        let ac = st.acumatica();
        let so = ac.sales_order("SO000001").unwrap();
        assert_eq!(so["Status"]["value"], "Open");
        assert_eq!(so["Details"][0]["OpenQty"]["value"], 3);
        assert_eq!(so["Shipments"].as_array().unwrap().len(), 0);
    }
    let got = rx.wait(5).await;
    let ship = pushes(&got, "ShipmentsForSync");
    let last: Vec<&Value> = ship.iter().filter(|p| p["Inserted"].as_array().is_some_and(|a| a.is_empty())).collect();
    assert_eq!(last.len(), 1, "{ship:?}");
    let last = last[0];
    assert_eq!(last["Deleted"][0]["ShipmentNbr"], "000001");
    assert_eq!(last["Deleted"][0]["Status"], "On Hold");
    assert!(st.acumatica_cancel_shipment("000001").unwrap_err().contains("Canceled"));
    assert!(st.acumatica_confirm_shipment_nbr("000001").unwrap_err().contains("canceled"));
    // The order can be shipped again, and then cancelled as a whole once nothing is on a shipment.
    st.acumatica_create_shipment(&CreateShipment::for_order("SO000001")).unwrap();
    st.acumatica_confirm_shipment_nbr("000002").unwrap();
    assert!(st.acumatica_cancel_shipment("000002").unwrap_err().contains("Confirmed"));
    st.acumatica_enter_order(&water_order(dec!(1))).unwrap();
    st.acumatica_create_shipment(&CreateShipment::for_order("SO000002")).unwrap();
    st.acumatica_cancel_shipment("000003").unwrap();
    assert_eq!(st.acumatica_set_order_status("SO000002", "Canceled").unwrap()["Status"]["value"], "Canceled");
    // Control routes.
    let host = control_host(&sb.urls().acumatica);
    let c = common::client();
    st.acumatica_enter_order(&water_order(dec!(2))).unwrap();
    let r = c
        .post(format!("{host}/_sandbox/shipments/create"))
        .json(&json!({"order_nbr": "SO000003", "blank": ["City"], "packages": [{"box_id": "SMALL", "weight": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ShipmentNbr"]["value"], "000004");
    assert_eq!(v["Packages"][0]["BoxID"]["value"], "SMALL");
    let r = c
        .post(format!("{host}/_sandbox/shipments/create"))
        .json(&json!({"order_nbr": "SO000003"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "nothing left to ship");
    assert_eq!(c.post(format!("{host}/_sandbox/shipments/000004/confirm")).send().await.unwrap().status(), 200);
    assert_eq!(c.post(format!("{host}/_sandbox/shipments/000004/cancel")).send().await.unwrap().status(), 422);
    assert_eq!(c.post(format!("{host}/_sandbox/shipments/999999/cancel")).send().await.unwrap().status(), 404);
    sb.shutdown().await;
}

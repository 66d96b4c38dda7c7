//! Magento simulator behaviour over HTTP: tokens, searchCriteria paging and filters (including
//! the last-page repeat), ERP-originated order creation, ship with tracks, invoice, comments.

mod common;

use std::collections::HashSet;

use orderbridge_sandbox::{FaultKind, Sandbox, ScriptedFault, Vendor};
use serde_json::{json, Value};

async fn token(c: &reqwest::Client, base: &str) -> String {
    let r = c
        .post(format!("{base}/rest/V1/integration/admin/token"))
        .json(&json!({"username": "admin", "password": "mg-sandbox-password1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<String>().await.unwrap()
}

/// A seeded sandbox, a client, the magento base URL and a fresh token.
async fn start() -> (Sandbox, reqwest::Client, String, String) {
    let (sb, c, base) = common::sandbox_for(Vendor::Magento).await;
    let t = token(&c, &base).await;
    (sb, c, base, t)
}

#[tokio::test]
async fn requests_without_a_token_are_refused() {
    let (sb, c, base) = common::sandbox_for(Vendor::Magento).await;
    let r = c.get(format!("{base}/rest/default/V1/orders")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["parameters"]["resources"], "Magento_Sales::actions_view");
    let r = c
        .post(format!("{base}/rest/V1/integration/admin/token"))
        .json(&json!({"username": "admin", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The integration token works as a standalone Bearer token.
    let r = c
        .get(format!("{base}/rest/default/V1/orders?searchCriteria[pageSize]=1"))
        .bearer_auth("mg-sandbox-integration-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn paging_by_entity_id_returns_each_order_once_and_past_the_end_repeats_the_last_page() {
    let (sb, c, base, t) = start().await;
    let total = sb.state().magento().orders.len();
    let mut seen = Vec::new();
    let mut page = 1;
    let size = 20;
    let mut last: Value;
    loop {
        let v: Value = common::json(c.get(format!("{base}/rest/default/V1/orders")).bearer_auth(&t).query(&[
            ("searchCriteria[sortOrders][0][field]", "entity_id"),
            ("searchCriteria[sortOrders][0][direction]", "ASC"),
            ("searchCriteria[pageSize]", &size.to_string()),
            ("searchCriteria[currentPage]", &page.to_string()),
        ]))
        .await;
        assert_eq!(v["total_count"].as_u64().unwrap() as usize, total);
        seen.extend(v["items"].as_array().unwrap().iter().map(|o| o["entity_id"].as_i64().unwrap()));
        last = v["items"].clone();
        if page * size >= total {
            break;
        }
        page += 1;
    }
    assert_eq!(seen.len(), total);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), total);
    // Magento's trap: asking past the last page returns the last page again.
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/orders")).bearer_auth(&t).query(&[
        ("searchCriteria[sortOrders][0][field]", "entity_id"),
        ("searchCriteria[pageSize]", &size.to_string()),
        ("searchCriteria[currentPage]", &(page + 1).to_string()),
    ]))
    .await;
    assert_eq!(v["items"], last);
    sb.shutdown().await;
}

#[tokio::test]
async fn filter_groups_or_within_and_across() {
    let (sb, c, base, t) = start().await;
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/orders")).bearer_auth(&t).query(&[
        ("searchCriteria[filter_groups][0][filters][0][field]", "status"),
        ("searchCriteria[filter_groups][0][filters][0][value]", "processing"),
        ("searchCriteria[filter_groups][0][filters][1][field]", "status"),
        ("searchCriteria[filter_groups][0][filters][1][value]", "pending"),
        ("searchCriteria[filter_groups][1][filters][0][field]", "created_at"),
        ("searchCriteria[filter_groups][1][filters][0][value]", "2024-05-15 00:00:00"),
        ("searchCriteria[filter_groups][1][filters][0][condition_type]", "gteq"),
    ]))
    .await;
    let items = v["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for o in items {
        assert!(o["status"] == "processing" || o["status"] == "pending");
        assert!(o["created_at"].as_str().unwrap() >= "2024-05-15 00:00:00");
    }
    let expected = sb
        .state()
        .magento()
        .orders
        .values()
        .filter(|o| {
            (o["status"] == "processing" || o["status"] == "pending")
                && o["created_at"].as_str().unwrap() >= "2024-05-15 00:00:00"
        })
        .count();
    assert_eq!(items.len(), expected);
    // Shipping address lives under extension_attributes; configurable children point at parents.
    let o = &items[0];
    assert!(o["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]["street"].is_array());
    let all: Vec<Value> = sb.state().magento().orders.values().cloned().collect();
    assert!(all.iter().any(|o| o["items"].as_array().unwrap().iter().any(|i| i["parent_item_id"].is_i64())));
    let r = c
        .get(format!("{base}/rest/default/V1/orders"))
        .bearer_auth(&t)
        .query(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "status"),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "almost"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn partial_ship_with_tracks_then_invoice_completes_the_order() {
    let (sb, c, base, t) = start().await;
    let p = sb.state().seed_data().products.clone();
    let id = sb.state().magento_create_orders(
        1,
        &serde_json::from_value(json!({"lines": [{"sku": p[0].sku, "qty": 2}, {"sku": p[1].sku, "qty": 1}]})).unwrap(),
    )[0];
    let o: Value = common::json(c.get(format!("{base}/rest/default/V1/orders/{id}")).bearer_auth(&t)).await;
    let first = o["items"][0]["item_id"].as_i64().unwrap();
    let r = c
        .post(format!("{base}/rest/default/V1/order/{id}/ship"))
        .bearer_auth(&t)
        .json(&json!({"items": [{"order_item_id": first, "qty": 1}], "notify": false,
                      "tracks": [{"track_number": "1ZMG1", "title": "UPS", "carrier_code": "ups"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap().is_i64(), "ship returns the shipment id");
    // Shipping everything remaining, then a further ship fails: nothing left.
    let r = c
        .post(format!("{base}/rest/default/V1/order/{id}/ship"))
        .bearer_auth(&t)
        .json(&json!({"tracks": [{"track_number": "1ZMG2", "carrier_code": "ups"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/rest/default/V1/order/{id}/ship"))
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("Shipment Document Validation"));
    let o: Value = common::json(c.get(format!("{base}/rest/default/V1/orders/{id}")).bearer_auth(&t)).await;
    assert_eq!(o["state"], "processing", "shipped but not invoiced");
    let r = c
        .post(format!("{base}/rest/default/V1/order/{id}/invoice"))
        .bearer_auth(&t)
        .json(&json!({"capture": true, "notify": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let o: Value = common::json(c.get(format!("{base}/rest/default/V1/orders/{id}")).bearer_auth(&t)).await;
    assert_eq!(o["state"], "complete");
    assert_eq!(o["total_invoiced"], o["grand_total"]);
    assert_eq!(sb.state().write_count(Vendor::Magento, "track_number", "1ZMG1"), 1);
    // Comments with a status change.
    let r = c.post(format!("{base}/rest/default/V1/orders/{id}/comments")).bearer_auth(&t)
        .json(&json!({"statusHistory": {"comment": "Shipped from ERP", "is_customer_notified": 0, "is_visible_on_front": 0, "parent_id": id}}))
        .send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/orders/{id}/comments")).bearer_auth(&t)).await;
    assert_eq!(v["items"][0]["comment"], "Shipped from ERP");
    let r = c.get(format!("{base}/rest/default/V1/orders/999999")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["parameters"]["fieldName"], "orderId");
    sb.shutdown().await;
}

#[tokio::test]
async fn erp_originated_order_create_validates_and_commit_then_fail_leaves_it() {
    let (sb, c, base, t) = start().await;
    let entity = json!({
        "increment_id": "ERP-000123", "ext_order_id": "SO000123", "customer_email": "erp@example.com",
        "base_grand_total": 21.5, "grand_total": 21.5, "order_currency_code": "USD",
        "items": [{"sku": "MUG-RED-0001", "qty_ordered": 1, "price": 21.5, "product_type": "simple"}],
        "billing_address": {"firstname": "Ann", "lastname": "Lee", "street": ["1 Main St"], "city": "Austin", "country_id": "US", "postcode": "78701", "telephone": "555"},
        "payment": {"method": "checkmo"}
    });
    let mut missing = entity.clone();
    missing.as_object_mut().unwrap().remove("payment");
    let r = c
        .put(format!("{base}/rest/default/V1/orders/create"))
        .bearer_auth(&t)
        .json(&json!({"entity": missing}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["parameters"]["fieldName"], "payment.method");
    sb.state().push_fault(Vendor::Magento, ScriptedFault::new(FaultKind::CommitThenDrop).on("PUT", "/orders/create"));
    let r = c
        .put(format!("{base}/rest/default/V1/orders/create"))
        .bearer_auth(&t)
        .json(&json!({"entity": entity}))
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(sb.state().write_count(Vendor::Magento, "order.increment_id", "ERP-000123"), 1);
    // The retry hits the unique increment_id.
    let r = c
        .put(format!("{base}/rest/default/V1/orders/create"))
        .bearer_auth(&t)
        .json(&json!({"entity": entity}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/orders")).bearer_auth(&t).query(&[
        ("searchCriteria[filter_groups][0][filters][0][field]", "ext_order_id"),
        ("searchCriteria[filter_groups][0][filters][0][value]", "SO000123"),
    ]))
    .await;
    assert_eq!(v["total_count"], 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn shipment_search_by_order_id_returns_that_orders_shipments_with_their_tracks() {
    let (sb, c, base, t) = start().await;
    let p = sb.state().seed_data().products.clone();
    let ids = sb.state().magento_create_orders(
        2,
        &serde_json::from_value(json!({"lines": [{"sku": p[0].sku, "qty": 2}, {"sku": p[2].sku, "qty": 1}]})).unwrap(),
    );
    let ship = |id: i64, track: &'static str| {
        let first = sb.state().magento().orders[&id]["items"][0]["item_id"].as_i64().unwrap();
        c.post(format!("{base}/rest/default/V1/order/{id}/ship")).bearer_auth(&t).json(&json!({
            "items": [{"order_item_id": first, "qty": 1}],
            "tracks": [{"track_number": track, "title": "UPS", "carrier_code": "ups"}]
        }))
    };
    for (id, track) in [(ids[0], "1ZSEARCH1"), (ids[0], "1ZSEARCH2"), (ids[1], "1ZSEARCH3")] {
        assert_eq!(ship(id, track).send().await.unwrap().status(), 200);
    }
    let search = |order: String| {
        c.get(format!("{base}/rest/default/V1/shipments")).bearer_auth(&t).query(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "order_id".to_owned()),
            ("searchCriteria[filter_groups][0][filters][0][value]", order),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "eq".to_owned()),
        ])
    };
    let v: Value = common::json(search(ids[0].to_string())).await;
    assert_eq!(v["total_count"], 2);
    let tracks: HashSet<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|s| assert_eq!(s["order_id"], ids[0]))
        .flat_map(|s| s["tracks"].as_array().unwrap())
        .map(|tr| tr["track_number"].as_str().unwrap())
        .collect();
    assert_eq!(tracks, HashSet::from(["1ZSEARCH1", "1ZSEARCH2"]));
    let v: Value = common::json(search(ids[1].to_string())).await;
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["items"][0]["items"][0]["qty"].to_string().parse::<rust_decimal::Decimal>().unwrap(), 1.into());
    // An order without shipments is an empty result, not an error.
    let v: Value = common::json(search("987654".into())).await;
    assert_eq!((v["total_count"].clone(), v["items"].clone()), (json!(0), json!([])));
    // Unmodelled filters are refused rather than silently ignored; no token, no shipments.
    let r = c
        .get(format!("{base}/rest/default/V1/shipments"))
        .bearer_auth(&t)
        .query(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "increment_id"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "000000500"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c.get(format!("{base}/rest/default/V1/shipments")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    sb.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// ERP-originated orders: catalogue, MSI stock, customers, cancel/hold/unhold, comments
// ------------------------------------------------------------------------------------------

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// A direct-route order entity for `sku` × `qty` at 20.00, ERP number `ext`.
fn erp_entity(ext: &str, sku: &str, qty: u32) -> Value {
    let total = 20 * qty;
    json!({
        "ext_order_id": ext, "customer_email": "ap@altaace.com", "customer_firstname": "Alta",
        "customer_lastname": "Ace", "customer_is_guest": 1, "state": "new", "status": "pending",
        "base_grand_total": total, "grand_total": total, "order_currency_code": "USD",
        "items": [{"sku": sku, "name": "Spring water 28 oz", "qty_ordered": qty, "price": 20, "row_total": total, "product_type": "simple"}],
        "billing_address": {"address_type": "billing", "firstname": "Alta", "lastname": "Ace", "street": ["1200 Larimer St"], "city": "Denver", "country_id": "US", "postcode": "80204", "telephone": "303"},
        "payment": {"method": "checkmo"}
    })
}

async fn create(c: &reqwest::Client, base: &str, t: &str, entity: Value) -> Value {
    let r = c
        .post(format!("{base}/rest/default/V1/orders"))
        .bearer_auth(t)
        .json(&json!({ "entity": entity }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn post_json(c: &reqwest::Client, url: String, t: &str, body: Value) -> (u16, Value) {
    let r = c.post(url).bearer_auth(t).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_catalogue_holds_the_erp_items_and_searches_by_sku() {
    let (sb, c, base, t) = start().await;
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/products/WATER2809")).bearer_auth(&t)).await;
    assert_eq!(v["sku"], "WATER2809");
    assert_eq!(v["type_id"], "simple");
    assert_eq!(v["price"], 20.0);
    assert!(v["id"].is_i64() && v["name"].is_string());
    let r = c.get(format!("{base}/rest/default/V1/products/NOPE-1")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "The product that was requested doesn't exist. Verify the product and try again."
    );
    // Every seeded stock item whose InventoryID is the channel SKU is a Magento SKU.
    let p = sb.state().seed_data().products.iter().find(|p| p.erp_inventory_id == p.sku).unwrap().clone();
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/products")).bearer_auth(&t).query(&[
        ("searchCriteria[filter_groups][0][filters][0][field]", "sku"),
        ("searchCriteria[filter_groups][0][filters][0][value]", &format!("WATER2809,{},NOPE-1", p.sku)),
        ("searchCriteria[filter_groups][0][filters][0][condition_type]", "in"),
    ]))
    .await;
    assert_eq!(v["total_count"], 2);
    let skus: HashSet<&str> = v["items"].as_array().unwrap().iter().map(|i| i["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, HashSet::from(["WATER2809", p.sku.as_str()]));
    assert_eq!(v["search_criteria"]["filter_groups"][0]["filters"][0]["condition_type"], "in");
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/products")).bearer_auth(&t).query(&[
        ("searchCriteria[filter_groups][0][filters][0][field]", "sku"),
        ("searchCriteria[filter_groups][0][filters][0][value]", "WATER2809"),
    ]))
    .await;
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["items"][0]["price"], 20.0);
    sb.shutdown().await;
}

#[tokio::test]
async fn direct_route_orders_reserve_nothing_and_shipping_them_overstates_salable_quantity() {
    let (sb, c, base, t) = start().await;
    let st = sb.state();
    assert_eq!(st.magento_source_qty("WATER2809"), Some(dec!(100)));
    assert_eq!(st.magento_salable_qty("WATER2809"), Some(dec!(100)));
    let o = create(&c, &base, &t, erp_entity("SO000001", "WATER2809", 4)).await;
    let id = o["entity_id"].as_i64().unwrap();
    // No reservation, no stock change.
    assert_eq!(st.magento_salable_qty("WATER2809"), Some(dec!(100)));
    assert_eq!(st.magento_source_qty("WATER2809"), Some(dec!(100)));
    let item = o["items"][0]["item_id"].as_i64().unwrap();
    let (code, _) = post_json(
        &c,
        format!("{base}/rest/default/V1/order/{id}/ship"),
        &t,
        json!({"items": [{"order_item_id": item, "qty": 3}], "arguments": {"extension_attributes": {"source_code": "default"}}}),
    )
    .await;
    assert_eq!(code, 200);
    // Source −3, compensating reservation +3: salable ends 3 too high (magento/inventory#3419).
    assert_eq!(st.magento_source_qty("WATER2809"), Some(dec!(97)));
    assert_eq!(st.magento_salable_qty("WATER2809"), Some(dec!(100)));
    let v: Value = common::json(
        c.get(format!("{base}/rest/default/V1/inventory/get-product-salable-quantity/WATER2809/1")).bearer_auth(&t),
    )
    .await;
    assert_eq!(v.as_f64(), Some(100.0));
    // An unknown source is refused and nothing moves.
    let (code, _) = post_json(
        &c,
        format!("{base}/rest/default/V1/order/{id}/ship"),
        &t,
        json!({"arguments": {"extension_attributes": {"source_code": "wh9"}}}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(st.magento_source_qty("WATER2809"), Some(dec!(97)));
    // Canceling the unshipped 1 adds +1 more.
    let (code, v) = post_json(&c, format!("{base}/rest/default/V1/orders/{id}/cancel"), &t, json!({})).await;
    assert_eq!((code, v), (200, json!(true)));
    assert_eq!(st.magento_salable_qty("WATER2809"), Some(dec!(101)));
    assert_eq!(st.magento_source_qty("WATER2809"), Some(dec!(97)));
    let o = st.magento().orders[&id].clone();
    assert_eq!(o["state"], "canceled");
    assert_eq!(o["items"][0]["qty_canceled"], 1.0);
    assert_eq!(st.write_count(Vendor::Magento, "order.cancel", &id.to_string()), 1);
    // A seeded (checkout) order nets to zero when shipped.
    let seeded = st
        .magento()
        .orders
        .values()
        .find(|o| {
            o["state"] == "processing" && o["items"].as_array().unwrap().iter().all(|i| i["product_type"] == "simple")
        })
        .cloned()
        .unwrap();
    let sku = seeded["items"][0]["sku"].as_str().unwrap().to_string();
    let before = st.magento_salable_qty(&sku).unwrap();
    let source_before = st.magento_source_qty(&sku).unwrap();
    let qty: i64 = seeded["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["sku"] == sku.as_str())
        .map(|i| i["qty_ordered"].as_f64().unwrap() as i64)
        .sum();
    let sid = seeded["entity_id"].as_i64().unwrap();
    let (code, _) = post_json(&c, format!("{base}/rest/default/V1/order/{sid}/ship"), &t, json!({})).await;
    assert_eq!(code, 200);
    // The placement reservation already took it off salable; the shipment's +qty cancels it out.
    assert_eq!(st.magento_salable_qty(&sku).unwrap(), before, "salable unchanged by the shipment");
    assert_eq!(st.magento_source_qty(&sku).unwrap(), source_before - Decimal::from(qty));
    sb.shutdown().await;
}

#[tokio::test]
async fn source_items_are_read_and_set_absolutely() {
    let (sb, c, base, t) = start().await;
    let r = c
        .post(format!("{base}/rest/default/V1/inventory/source-items"))
        .bearer_auth(&t)
        .json(&json!({"sourceItems": [{"sku": "WATER2809", "source_code": "default", "quantity": 42, "status": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(sb.state().magento_source_qty("WATER2809"), Some(dec!(42)));
    assert_eq!(sb.state().magento_salable_qty("WATER2809"), Some(dec!(42)));
    let v: Value =
        common::json(c.get(format!("{base}/rest/default/V1/inventory/source-items")).bearer_auth(&t).query(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "sku"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "WATER2809"),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "eq"),
        ]))
        .await;
    assert_eq!(v["total_count"], 1);
    let it = &v["items"][0];
    assert_eq!((&it["sku"], &it["source_code"], &it["status"]), (&json!("WATER2809"), &json!("default"), &json!(1)));
    assert_eq!(it["quantity"].as_f64(), Some(42.0));
    // Out of stock: nothing salable.
    let (code, _) = post_json(
        &c,
        format!("{base}/rest/default/V1/inventory/source-items"),
        &t,
        json!({"sourceItems": [{"sku": "WATER2809", "source_code": "default", "status": 0}]}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(sb.state().magento_source_qty("WATER2809"), Some(dec!(42)), "quantity kept");
    assert_eq!(sb.state().magento_salable_qty("WATER2809"), Some(dec!(0)));
    // Validation: the whole batch is refused.
    let (code, v) = post_json(
        &c,
        format!("{base}/rest/default/V1/inventory/source-items"),
        &t,
        json!({"sourceItems": [{"sku": "WATER2809", "source_code": "default", "quantity": 1}, {"source_code": "default"}]}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(v["parameters"]["fieldName"], "sourceItems[1].sku");
    assert_eq!(sb.state().magento_source_qty("WATER2809"), Some(dec!(42)));
    assert_eq!(sb.state().write_count(Vendor::Magento, "source_item", "WATER2809"), 2);
    let r = c
        .get(format!("{base}/rest/default/V1/inventory/get-product-salable-quantity/WATER2809/2"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{base}/rest/default/V1/inventory/get-product-salable-quantity/NOPE-1/1"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn customers_are_searched_created_and_read() {
    let (sb, c, base, t) = start().await;
    let email = sb.state().seed_data().buyers[0].email.clone();
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/customers/search")).bearer_auth(&t).query(&[
        ("searchCriteria[filter_groups][0][filters][0][field]", "email"),
        ("searchCriteria[filter_groups][0][filters][0][value]", email.as_str()),
        ("searchCriteria[filter_groups][0][filters][0][condition_type]", "eq"),
        ("searchCriteria[filter_groups][1][filters][0][field]", "website_id"),
        ("searchCriteria[filter_groups][1][filters][0][value]", "1"),
    ]))
    .await;
    assert_eq!(v["total_count"], 1);
    let cu = &v["items"][0];
    for f in [
        "id",
        "group_id",
        "default_billing",
        "default_shipping",
        "created_at",
        "updated_at",
        "created_in",
        "email",
        "firstname",
        "lastname",
        "store_id",
        "website_id",
        "addresses",
        "disable_auto_group_change",
        "extension_attributes",
        "custom_attributes",
    ] {
        assert!(cu.get(f).is_some(), "{f} missing: {cu}");
    }
    assert_eq!(cu["addresses"][0]["default_billing"], true);
    let body = json!({"customer": {"email": "ap@altaace.com", "firstname": "Alta", "lastname": "Ace", "website_id": 1, "group_id": 2,
        "addresses": [{"firstname": "Alta", "lastname": "Ace", "street": ["1200 Larimer St"], "city": "Denver", "postcode": "80204",
                       "country_id": "US", "telephone": "303", "region": {"region_code": "CO"}, "default_billing": true, "default_shipping": true}]}});
    let (code, created) = post_json(&c, format!("{base}/rest/default/V1/customers"), &t, body.clone()).await;
    assert_eq!(code, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["group_id"], 2);
    assert_eq!(created["default_billing"], created["addresses"][0]["id"].as_i64().unwrap().to_string());
    let (code, v) = post_json(&c, format!("{base}/rest/default/V1/customers"), &t, body.clone()).await;
    assert_eq!(code, 400);
    assert_eq!(v["message"], "A customer with the same email address already exists in an associated website.");
    let mut other_site = body.clone();
    other_site["customer"]["website_id"] = json!(2);
    assert_eq!(post_json(&c, format!("{base}/rest/default/V1/customers"), &t, other_site).await.0, 200);
    let mut nameless = body.clone();
    nameless["customer"]["email"] = json!("new@altaace.com");
    nameless["customer"].as_object_mut().unwrap().remove("firstname");
    let (code, v) = post_json(&c, format!("{base}/rest/default/V1/customers"), &t, nameless).await;
    assert_eq!(code, 400);
    assert_eq!(v, json!({"message": "\"%fieldName\" is a required value.", "parameters": {"fieldName": "firstname"}}));
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/customers/{id}")).bearer_auth(&t)).await;
    assert_eq!(v["email"], "ap@altaace.com");
    let r = c.get(format!("{base}/rest/default/V1/customers/999999")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Changed since: only the new ones.
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).format("%Y-%m-%d %H:%M:%S").to_string();
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/customers/search")).bearer_auth(&t).query(&[
        ("searchCriteria[filter_groups][0][filters][0][field]", "updated_at"),
        ("searchCriteria[filter_groups][0][filters][0][value]", since.as_str()),
        ("searchCriteria[filter_groups][0][filters][0][condition_type]", "gteq"),
        ("searchCriteria[pageSize]", "1"),
        ("searchCriteria[currentPage]", "1"),
    ]))
    .await;
    assert_eq!(v["total_count"], 2);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(sb.state().magento_customers().len(), sb.state().seed_data().buyers.len() + 2);
    assert_eq!(sb.state().write_count(Vendor::Magento, "customer.email", "ap@altaace.com"), 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn hold_unhold_and_cancel_follow_magentos_rules_and_ext_order_id_is_searchable() {
    let (sb, c, base, t) = start().await;
    let o = create(&c, &base, &t, erp_entity("SO000777", "WATER2809", 2)).await;
    let id = o["entity_id"].as_i64().unwrap();
    let v: Value = common::json(c.get(format!("{base}/rest/default/V1/orders")).bearer_auth(&t).query(&[
        ("searchCriteria[filter_groups][0][filters][0][field]", "ext_order_id"),
        ("searchCriteria[filter_groups][0][filters][0][value]", "SO000777"),
        ("searchCriteria[filter_groups][0][filters][0][condition_type]", "eq"),
    ]))
    .await;
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["items"][0]["entity_id"], id);
    let url = |action: &str| format!("{base}/rest/default/V1/orders/{id}/{action}");
    let (code, v) = post_json(&c, url("unhold"), &t, json!({})).await;
    assert_eq!((code, v["message"].as_str()), (400, Some("You cannot remove the hold.")));
    assert_eq!(post_json(&c, url("hold"), &t, json!({})).await, (200, json!(true)));
    assert_eq!(sb.state().magento().orders[&id]["state"], "holded");
    let (code, v) = post_json(&c, url("hold"), &t, json!({})).await;
    assert_eq!((code, v["message"].as_str()), (400, Some("A hold action is not available.")));
    // A held order cannot be canceled: Magento answers false.
    assert_eq!(post_json(&c, url("cancel"), &t, json!({})).await, (200, json!(false)));
    assert_eq!(post_json(&c, url("unhold"), &t, json!({})).await, (200, json!(true)));
    let o = sb.state().magento().orders[&id].clone();
    assert_eq!((o["state"].as_str(), o["status"].as_str()), (Some("new"), Some("pending")), "previous state restored");
    assert_eq!(post_json(&c, url("cancel"), &t, json!({})).await, (200, json!(true)));
    assert_eq!(post_json(&c, url("cancel"), &t, json!({})).await, (200, json!(false)), "already canceled");
    let (code, _) = post_json(&c, url("hold"), &t, json!({})).await;
    assert_eq!(code, 400);
    // A complete order cannot be canceled.
    let done = create(&c, &base, &t, erp_entity("SO000778", "WATER2809", 1)).await["entity_id"].as_i64().unwrap();
    post_json(&c, format!("{base}/rest/default/V1/order/{done}/ship"), &t, json!({})).await;
    post_json(&c, format!("{base}/rest/default/V1/order/{done}/invoice"), &t, json!({"capture": true})).await;
    assert_eq!(sb.state().magento().orders[&done]["state"], "complete");
    assert_eq!(
        post_json(&c, format!("{base}/rest/default/V1/orders/{done}/cancel"), &t, json!({})).await,
        (200, json!(false))
    );
    let r = c.post(format!("{base}/rest/default/V1/orders/999999/cancel")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(sb.state().write_count(Vendor::Magento, "order.hold", &id.to_string()), 1);
    assert_eq!(sb.state().write_count(Vendor::Magento, "order.unhold", &id.to_string()), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn on_2_4_7_a_comment_does_not_change_the_status() {
    for (sets, expected) in [(true, "erp_released"), (false, "pending")] {
        let sb = common::sandbox_with(|c| c.magento_comment_sets_status = sets).await;
        let (c, base) = (common::client(), sb.urls().magento.clone());
        let t = token(&c, &base).await;
        let id = create(&c, &base, &t, erp_entity("SO000900", "WATER2809", 1)).await["entity_id"].as_i64().unwrap();
        let (code, _) = post_json(
            &c,
            format!("{base}/rest/default/V1/orders/{id}/comments"),
            &t,
            json!({"statusHistory": {"comment": "Released in ERP", "status": "erp_released", "parent_id": id}}),
        )
        .await;
        assert_eq!(code, 200);
        let o = sb.state().magento().orders[&id].clone();
        assert_eq!(o["status"], expected, "comment_sets_status = {sets}");
        assert_eq!(o["status_histories"][0]["comment"], "Released in ERP");
        assert_eq!(o["status_histories"][0]["status"], expected);
        sb.shutdown().await;
    }
}

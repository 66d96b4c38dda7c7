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

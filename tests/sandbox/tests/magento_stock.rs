//! Magento stock and storefront activity: the Web API input limit on source items, legacy stock
//! items in sync with the `default` source, several sources, the stock-write log, bulk products,
//! customer updates and searches, store-staff order edits and status changes.

mod common;

use orderbridge_sandbox::{Sandbox, Vendor};
use rust_decimal::Decimal;
use serde_json::{json, Value};

async fn token(c: &reqwest::Client, base: &str) -> String {
    let r = c
        .post(format!("{base}/rest/V1/integration/admin/token"))
        .json(&json!({"username": "admin", "password": "mg-sandbox-password1"}))
        .send()
        .await
        .unwrap();
    r.json::<String>().await.unwrap()
}

async fn start() -> (Sandbox, reqwest::Client, String, String) {
    let (sb, c, base) = common::sandbox_for(Vendor::Magento).await;
    let t = token(&c, &base).await;
    (sb, c, base, t)
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    }
}

async fn save_items(c: &reqwest::Client, base: &str, t: &str, items: Value) -> reqwest::Response {
    c.post(format!("{base}/rest/default/V1/inventory/source-items"))
        .bearer_auth(t)
        .json(&json!({ "sourceItems": items }))
        .send()
        .await
        .unwrap()
}

fn items(n: usize, sku: &str) -> Value {
    json!((0..n).map(|i| json!({"sku": sku, "source_code": "default", "quantity": i, "status": 1})).collect::<Vec<_>>())
}

#[tokio::test]
async fn source_items_over_the_input_limit_are_refused_with_magentos_message() {
    let (sb, c, base, t) = start().await;
    let r = save_items(&c, &base, &t, items(21, "WATER2809")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["message"], "Maximum items of type \"%type\" is %max");
    assert_eq!(v["parameters"]["max"], 20);
    assert_eq!(v["parameters"]["type"], "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface");
    // Nothing was written.
    let log: Vec<Value> = common::json(c.get(format!("{base}/_sandbox/stock/writes"))).await;
    assert!(log.is_empty());
    assert_eq!(save_items(&c, &base, &t, items(20, "WATER2809")).await.status(), 200);
    let log: Vec<Value> = common::json(c.get(format!("{base}/_sandbox/stock/writes"))).await;
    assert_eq!(log.len(), 20);
    // The limit is a control setting too.
    let v: Value = common::json(c.put(format!("{base}/_sandbox/input-limit")).json(&json!({"limit": null}))).await;
    assert_eq!(v["limit"], Value::Null);
    assert_eq!(save_items(&c, &base, &t, items(21, "WATER2809")).await.status(), 200);
    sb.shutdown().await;

    // Off in the config.
    let sb = common::sandbox_with(|cfg| cfg.magento_input_limit = None).await;
    let base = sb.urls().magento.clone();
    let t = token(&c, &base).await;
    assert_eq!(save_items(&c, &base, &t, items(25, "WATER2809")).await.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn legacy_stock_items_and_the_default_source_item_stay_in_sync() {
    let (sb, c, base, t) = start().await;
    let r = c.get(format!("{base}/rest/default/V1/stockItems/WATER2809")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let si: Value = r.json().await.unwrap();
    let item_id = si["item_id"].as_i64().unwrap();
    assert_eq!(si["stock_id"], 1);
    assert_eq!(si["manage_stock"], true);
    assert_eq!(si["is_in_stock"], true);
    assert_eq!(si["product_id"], si["item_id"]);
    // Legacy write → default source item.
    let r = c
        .put(format!("{base}/rest/default/V1/products/WATER2809/stockItems/{item_id}"))
        .bearer_auth(&t)
        .json(&json!({"stockItem": {"qty": 7, "is_in_stock": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!(item_id));
    assert_eq!(sb.state().magento_source_qty("WATER2809"), Some(Decimal::from(7)));
    // Source item write → legacy stock item.
    assert_eq!(
        save_items(&c, &base, &t, json!([{"sku": "WATER2809", "source_code": "default", "quantity": 9, "status": 0}]))
            .await
            .status(),
        200
    );
    let si: Value = common::json(c.get(format!("{base}/rest/V1/stockItems/WATER2809")).bearer_auth(&t)).await;
    assert_eq!(dec(&si["qty"]), Decimal::from(9));
    assert_eq!(si["is_in_stock"], false);
    // Status 0: not salable whatever the quantity.
    let salable = sb.state().magento_salable_qty("WATER2809").unwrap();
    assert_eq!(salable, sb.state().magento().reserved("WATER2809"));
    // Unknown SKU: Magento's missing-product 404 on both routes.
    for r in [
        c.get(format!("{base}/rest/V1/stockItems/NOPE-1")).bearer_auth(&t).send().await.unwrap(),
        c.put(format!("{base}/rest/V1/products/NOPE-1/stockItems/1"))
            .bearer_auth(&t)
            .json(&json!({"stockItem": {"qty": 1}}))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), 404);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["message"], "The product that was requested doesn't exist. Verify the product and try again.");
    }
    // The log shows both writes, in order.
    let log: Vec<Value> = common::json(c.get(format!("{base}/_sandbox/stock/writes"))).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["via"], "stock-item");
    assert_eq!(
        (&log[0]["sku"], &log[0]["source_code"], &log[0]["status"]),
        (&json!("WATER2809"), &json!("default"), &json!(1))
    );
    assert_eq!(dec(&log[0]["quantity"]), Decimal::from(7));
    assert_eq!(log[1]["via"], "source-items");
    assert!(log[1]["at"].is_string());
    let v: Value = common::json(c.delete(format!("{base}/_sandbox/stock/writes"))).await;
    assert_eq!(v["cleared"], 2);
    let log: Vec<Value> = common::json(c.get(format!("{base}/_sandbox/stock/writes"))).await;
    assert!(log.is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn several_sources_count_in_salable_quantity_and_unknown_sources_fail() {
    let (sb, c, base, t) = start().await;
    let before = sb.state().magento_salable_qty("WATER2809").unwrap();
    // Unknown source: the insert fails, nothing saved.
    let r = save_items(
        &c,
        &base,
        &t,
        json!([{"sku": "WATER2809", "source_code": "default", "quantity": 1}, {"sku": "WATER2809", "source_code": "wh2", "quantity": 5}]),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["message"], "Could not save Source Item");
    assert_eq!(sb.state().magento_salable_qty("WATER2809"), Some(before));
    let v: Value = common::json(
        c.post(format!("{base}/_sandbox/sources")).json(&json!({"source_code": "wh2", "name": "Warehouse 2"})),
    )
    .await;
    assert_eq!(v["stock_id"], 1);
    let r = save_items(&c, &base, &t, json!([{"sku": "WATER2809", "source_code": "wh2", "quantity": 5, "status": 1}]))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.state().magento_salable_qty("WATER2809"), Some(before + Decimal::from(5)));
    // The default source is untouched; the search lists both source items.
    let v: Value = common::json(
        c.get(format!(
            "{base}/rest/V1/inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=sku&searchCriteria[filter_groups][0][filters][0][value]=WATER2809"
        ))
        .bearer_auth(&t),
    )
    .await;
    assert_eq!(v["total_count"], 2);
    // An SKU that is not in the catalogue is saved, as MSI does (no catalogue check).
    let r =
        save_items(&c, &base, &t, json!([{"sku": "NOT-IN-CATALOGUE", "source_code": "default", "quantity": 3}])).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.state().magento_source_qty("NOT-IN-CATALOGUE"), Some(Decimal::from(3)));
    let r = c.get(format!("{base}/rest/V1/stockItems/NOT-IN-CATALOGUE")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let stock: Vec<Value> = common::json(c.get(format!("{base}/_sandbox/stock"))).await;
    let water = stock.iter().find(|r| r["sku"] == "WATER2809").unwrap();
    assert_eq!(water["sources"].as_array().unwrap().len(), 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn bulk_products_load_a_thousand_skus_fast() {
    let (sb, c, base, t) = start().await;
    let products: Vec<Value> = (0..1000)
        .map(|i| json!({"sku": format!("LOAD-{i:04}"), "name": format!("Load {i}"), "price": 9.5, "qty": i % 3}))
        .collect();
    let started = std::time::Instant::now();
    let v: Value = common::json(c.post(format!("{base}/_sandbox/products")).json(&json!({"products": products}))).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(v["added"], 1000);
    let p: Value = common::json(c.get(format!("{base}/rest/V1/products/LOAD-0001")).bearer_auth(&t)).await;
    assert_eq!(p["name"], "Load 1");
    assert_eq!(sb.state().magento_salable_qty("LOAD-0001"), Some(Decimal::ONE));
    // qty 0 → status 0 (out of stock).
    let si: Value = common::json(c.get(format!("{base}/rest/V1/stockItems/LOAD-0003")).bearer_auth(&t)).await;
    assert_eq!(si["is_in_stock"], false);
    sb.shutdown().await;
}

async fn put_customer(c: &reqwest::Client, base: &str, t: &str, id: &str, body: Value) -> reqwest::Response {
    c.put(format!("{base}/rest/default/V1/customers/{id}")).bearer_auth(t).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn customers_are_updated_with_put_and_found_by_updated_at() {
    let (sb, c, base, t) = start().await;
    let list = sb.state().magento_customers();
    let (a, b) = (&list[0], &list[1]);
    let id = a["id"].as_i64().unwrap();
    let body = json!({"customer": {
        "id": id, "email": "new.address@example.com", "firstname": "Ann", "lastname": "Other", "group_id": 2,
        "website_id": 1,
        "addresses": [{"id": a["addresses"][0]["id"], "street": ["1 New St", "Unit 4"], "city": "Austin",
                       "region": {"region_code": "TX", "region": "Texas", "region_id": 57}, "postcode": "78701",
                       "country_id": "US", "telephone": "512-555-0100", "default_billing": true, "default_shipping": true}]
    }});
    let r = put_customer(&c, &base, &t, &id.to_string(), body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (&v["email"], &v["firstname"], &v["group_id"]),
        (&json!("new.address@example.com"), &json!("Ann"), &json!(2))
    );
    assert_eq!(v["addresses"][0]["id"], a["addresses"][0]["id"]);
    assert_eq!(v["addresses"][0]["street"], json!(["1 New St", "Unit 4"]));
    assert_eq!(v["default_billing"], json!(a["addresses"][0]["id"].as_i64().unwrap().to_string()));
    assert_eq!(v["created_at"], a["created_at"]);
    assert!(v["updated_at"].as_str().unwrap() > a["updated_at"].as_str().unwrap());
    let changed_at = v["updated_at"].as_str().unwrap().to_string();
    // Same e-mail as another customer of the website.
    let r = put_customer(
        &c,
        &base,
        &t,
        &id.to_string(),
        json!({"customer": {"email": b["email"], "firstname": "A", "lastname": "B"}}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "A customer with the same email address already exists in an associated website."
    );
    // Missing required field, unknown id.
    let r =
        put_customer(&c, &base, &t, &id.to_string(), json!({"customer": {"email": "x@example.com", "firstname": "A"}}))
            .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["parameters"]["fieldName"], "lastname");
    let r = put_customer(
        &c,
        &base,
        &t,
        "999999",
        json!({"customer": {"email": "x@example.com", "firstname": "A", "lastname": "B"}}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["message"], "No such entity with %fieldName = %fieldValue");
    assert_eq!(v["parameters"], json!({"fieldName": "customerId", "fieldValue": "999999"}));
    // Search: updated_at gteq the change, e-mail eq, sorted by entity_id.
    let since = &changed_at[..];
    let q = format!(
        "{base}/rest/V1/customers/search?searchCriteria[filter_groups][0][filters][0][field]=updated_at&searchCriteria[filter_groups][0][filters][0][value]={}&searchCriteria[filter_groups][0][filters][0][condition_type]=gteq&searchCriteria[sortOrders][0][field]=entity_id&searchCriteria[sortOrders][0][direction]=ASC",
        since.replace(' ', "%20")
    );
    let v: Value = common::json(c.get(&q).bearer_auth(&t)).await;
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["items"][0]["id"], id);
    let v: Value = common::json(
        c.get(format!(
            "{base}/rest/V1/customers/search?searchCriteria[filter_groups][0][filters][0][field]=email&searchCriteria[filter_groups][0][filters][0][value]=new.address@example.com&searchCriteria[filter_groups][0][filters][0][condition_type]=eq"
        ))
        .bearer_auth(&t),
    )
    .await;
    assert_eq!(v["items"][0]["id"], id);
    // Paging past the end repeats the last page.
    let total = sb.state().magento_customers().len();
    let size = 40;
    let last = total.div_ceil(size);
    let page = |p: usize| {
        format!("{base}/rest/V1/customers/search?searchCriteria[sortOrders][0][field]=id&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={size}&searchCriteria[currentPage]={p}")
    };
    let mut ids = Vec::new();
    for p in 1..=last {
        let v: Value = common::json(c.get(page(p)).bearer_auth(&t)).await;
        ids.extend(v["items"].as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()));
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), total);
    assert_eq!(ids, sorted);
    let a: Value = common::json(c.get(page(last)).bearer_auth(&t)).await;
    let b: Value = common::json(c.get(page(last + 1)).bearer_auth(&t)).await;
    assert_eq!(a["items"], b["items"]);
    sb.shutdown().await;
}

#[tokio::test]
async fn storefront_customers_register_and_edit_their_account() {
    let (sb, c, base, _t) = start().await;
    let body = json!({"email": "shopper@example.com", "firstname": "Sho", "lastname": "Pper",
                      "addresses": [{"street": ["9 Elm St"], "city": "Reno", "region": "NV", "postcode": "89501",
                                     "country_id": "US", "telephone": "775-555-0199"}]});
    let v: Value = common::json(c.post(format!("{base}/_sandbox/customers")).json(&body)).await;
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["addresses"][0]["region"]["region_code"], "NV");
    assert_eq!(v["default_shipping"], json!(v["addresses"][0]["id"].as_i64().unwrap().to_string()));
    let v: Value = common::json(
        c.post(format!("{base}/_sandbox/customers"))
            .json(&json!({"email": "SHOPPER@example.com", "firstname": "Shona", "lastname": "Pper"})),
    )
    .await;
    assert_eq!(v["id"], id);
    assert_eq!(v["firstname"], "Shona");
    assert_eq!(v["addresses"].as_array().unwrap().len(), 1);
    sb.shutdown().await;
}

fn d(o: &Value, k: &str) -> Decimal {
    dec(&o[k])
}

#[tokio::test]
async fn store_staff_edits_recompute_totals_and_bump_updated_at() {
    let (sb, c, base, t) = start().await;
    let created: Value = common::json(c.post(format!("{base}/_sandbox/orders")).json(&json!({"count": 1}))).await;
    let id = created["created"][0].as_i64().unwrap();
    let before = sb.state().magento().orders[&id].clone();
    assert!(before.get("ext_order_id").is_none());
    let line = before["items"][0].clone();
    let sku = line["sku"].as_str().unwrap().to_string();
    let salable = sb.state().magento_salable_qty(&sku).unwrap();
    let v: Value = common::json(c.post(format!("{base}/_sandbox/orders/{id}/edit")).json(&json!({
        "shipping_street": ["77 Changed Rd", "Floor 2"], "customer_note": "Leave at the door",
        "add_qty": {"sku": sku, "qty": 2}
    })))
    .await;
    let item = v["items"].as_array().unwrap().iter().find(|i| i["item_id"] == line["item_id"]).unwrap();
    assert_eq!(d(item, "qty_ordered"), d(&line, "qty_ordered") + Decimal::from(2));
    assert_eq!(d(item, "row_total"), d(&line, "row_total") + d(&line, "price") * Decimal::from(2));
    let o = &v;
    assert_eq!(
        d(o, "grand_total"),
        d(o, "subtotal") + d(o, "discount_amount") + d(o, "shipping_amount") + d(o, "tax_amount")
    );
    assert_eq!(d(o, "base_grand_total"), d(o, "grand_total"));
    assert_eq!(d(o, "base_subtotal"), d(o, "subtotal"));
    assert_eq!(d(o, "total_qty_ordered"), d(&before, "total_qty_ordered") + Decimal::from(2));
    assert!(d(o, "grand_total") > d(&before, "grand_total"));
    assert_eq!(dec(&o["payment"]["amount_ordered"]), d(o, "grand_total"));
    assert_eq!(
        o["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]["street"],
        json!(["77 Changed Rd", "Floor 2"])
    );
    assert_eq!(o["customer_note"], "Leave at the door");
    assert!(o["updated_at"].as_str().unwrap() >= before["updated_at"].as_str().unwrap());
    assert_eq!(sb.state().magento_salable_qty(&sku).unwrap(), salable - Decimal::from(2));
    // A new catalogue line at a given price.
    let v: Value = common::json(
        c.post(format!("{base}/_sandbox/orders/{id}/edit"))
            .json(&json!({"add_qty": {"sku": "WATER2809", "qty": 3, "price": 2.5}})),
    )
    .await;
    let new = v["items"].as_array().unwrap().iter().find(|i| i["sku"] == "WATER2809").unwrap();
    assert_eq!(d(new, "row_total"), Decimal::new(75, 1));
    assert_eq!(d(&v, "subtotal") - d(o, "subtotal"), Decimal::new(75, 1));
    assert_eq!(v["total_item_count"], o["total_item_count"].as_u64().unwrap() + 1);
    // Unknown SKU, unknown order.
    let r = c
        .post(format!("{base}/_sandbox/orders/{id}/edit"))
        .json(&json!({"add_qty": {"sku": "NOPE", "qty": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = c.post(format!("{base}/_sandbox/orders/1/edit")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Status control, then the order search finds it by status, updated_at, entity_id and no ext_order_id.
    let v: Value = common::json(
        c.post(format!("{base}/_sandbox/orders/{id}/status"))
            .json(&json!({"status": "fraud_check", "state": "processing"})),
    )
    .await;
    assert_eq!((&v["status"], &v["state"]), (&json!("fraud_check"), &json!("processing")));
    let f = |g: usize, field: &str, value: &str, cond: &str| {
        format!("searchCriteria[filter_groups][{g}][filters][0][field]={field}&searchCriteria[filter_groups][{g}][filters][0][value]={value}&searchCriteria[filter_groups][{g}][filters][0][condition_type]={cond}")
    };
    let url = format!(
        "{base}/rest/default/V1/orders?{}&{}&{}&{}&searchCriteria[sortOrders][0][field]=entity_id&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]=50",
        f(0, "status", "fraud_check,pending", "in"),
        f(1, "updated_at", &before["created_at"].as_str().unwrap().replace(' ', "%20"), "gteq"),
        f(2, "entity_id", &(id - 1).to_string(), "gt"),
        f(3, "ext_order_id", "", "null"),
    );
    let v: Value = common::json(c.get(url).bearer_auth(&t)).await;
    let ids: Vec<i64> = v["items"].as_array().unwrap().iter().map(|o| o["entity_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![id]);
    sb.shutdown().await;
}

//! BigCommerce simulator behaviour over HTTP: X-Auth-Token, v2 order paging and filters,
//! sub-resources, shipments, rate-limit headers and 429, signed webhooks with duplicates.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use orderbridge_sandbox::webhook::standard_webhooks_signature;
use orderbridge_sandbox::{FaultKind, ScriptedFault, Vendor, WebhookTarget, WindowLimit};
use serde_json::{json, Value};

fn get(c: &reqwest::Client, url: String) -> reqwest::RequestBuilder {
    c.get(url).header("X-Auth-Token", "bc-sandbox-access-token").header("Accept", "application/json")
}

#[tokio::test]
async fn requests_without_the_access_token_are_refused() {
    let (sb, c, base) = common::sandbox_for(Vendor::Bigcommerce).await;
    let r = c.get(format!("{base}/v2/orders")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["status"], 401);
    let r = c.get(format!("{base}/v2/orders")).header("X-Auth-Token", "wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    sb.shutdown().await;
}

#[tokio::test]
async fn paging_returns_every_order_once_and_ends_with_204() {
    let (sb, c, base) = common::sandbox_for(Vendor::Bigcommerce).await;
    let expected: HashSet<i64> = sb.state().bigcommerce().orders.keys().copied().collect();
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let r = get(&c, format!("{base}/v2/orders?limit=20&page={page}&sort=date_modified:asc")).send().await.unwrap();
        if r.status() == 204 {
            break;
        }
        assert_eq!(r.status(), 200);
        let v: Vec<Value> = r.json().await.unwrap();
        seen.extend(v.iter().map(|o| o["id"].as_i64().unwrap()));
        page += 1;
    }
    assert_eq!(seen.len(), expected.len());
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
    sb.shutdown().await;
}

#[tokio::test]
async fn filters_and_money_and_date_formats_follow_the_docs() {
    let (sb, c, base) = common::sandbox_for(Vendor::Bigcommerce).await;
    let v: Vec<Value> = common::json(get(&c, format!("{base}/v2/orders?status_id=11&limit=250"))).await;
    let expected = sb.state().bigcommerce().orders.values().filter(|o| o.status_id == 11).count();
    assert_eq!(v.len(), expected);
    assert!(v.iter().all(|o| o["status_id"] == 11 && o["status"] == "Awaiting Fulfillment"));
    let o = &v[0];
    // Money: 4-decimal strings that add up; dates: RFC-2822.
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let d = |k: &str| Decimal::from_str(o[k].as_str().unwrap()).unwrap();
    assert_eq!(o["total_inc_tax"].as_str().unwrap().split('.').nth(1).unwrap().len(), 4);
    assert_eq!(
        d("total_inc_tax"),
        d("subtotal_ex_tax") - d("discount_amount") + d("shipping_cost_ex_tax") + d("total_tax")
    );
    chrono::DateTime::parse_from_rfc2822(o["date_created"].as_str().unwrap()).unwrap();
    // Date filter in RFC-2822, as documented.
    let r = get(&c, format!("{base}/v2/orders"))
        .query(&[("min_date_created", "Sat, 25 May 2024 00:00:00 +0000"), ("limit", "250")])
        .send()
        .await
        .unwrap();
    let list: Vec<Value> = r.json().await.unwrap();
    assert!(!list.is_empty());
    for o in &list {
        let dc = chrono::DateTime::parse_from_rfc2822(o["date_created"].as_str().unwrap()).unwrap();
        assert!(dc >= chrono::DateTime::parse_from_rfc3339("2024-05-25T00:00:00Z").unwrap());
    }
    let r = get(&c, format!("{base}/v2/orders?status_id=99")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Guests have customer_id 0.
    let all: Vec<Value> = common::json(get(&c, format!("{base}/v2/orders?limit=250"))).await;
    assert!(all.iter().any(|o| o["customer_id"] == 0));
    sb.shutdown().await;
}

#[tokio::test]
async fn shipment_with_tracking_moves_order_to_partially_shipped_then_shipped() {
    let (sb, c, base) = common::sandbox_for(Vendor::Bigcommerce).await;
    let sku_a = sb.state().seed_data().products[0].sku.clone();
    let sku_b = sb.state().seed_data().products[1].sku.clone();
    let id = sb.state().bigcommerce_create_orders(
        1,
        &serde_json::from_value(json!({"lines": [{"sku": sku_a, "qty": 2}, {"sku": sku_b, "qty": 1}]})).unwrap(),
    )[0];
    let products: Vec<Value> = common::json(get(&c, format!("{base}/v2/orders/{id}/products"))).await;
    let addrs: Vec<Value> = common::json(get(&c, format!("{base}/v2/orders/{id}/shipping_addresses"))).await;
    let addr = addrs[0]["id"].as_i64().unwrap();
    let post = |items: Value, tn: &str| {
        c.post(format!("{base}/v2/orders/{id}/shipments"))
            .header("X-Auth-Token", "bc-sandbox-access-token")
            .json(&json!({"order_address_id": addr, "tracking_number": tn, "shipping_provider": "ups", "items": items}))
            .send()
    };
    let r = post(json!([{"order_product_id": products[0]["id"], "quantity": 1}]), "1ZBC1").await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(sb.state().bigcommerce().orders[&id].status_id, 3);
    // Over-shipping is refused.
    let r = post(json!([{"order_product_id": products[0]["id"], "quantity": 5}]), "1ZBC2").await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        json!([{"order_product_id": products[0]["id"], "quantity": 1}, {"order_product_id": products[1]["id"], "quantity": 1}]),
        "1ZBC3",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let o: Value = common::json(get(&c, format!("{base}/v2/orders/{id}"))).await;
    assert_eq!(o["status_id"], 2);
    assert_eq!(o["items_shipped"], 3);
    assert_eq!(sb.state().write_count(Vendor::Bigcommerce, "tracking_number", "1ZBC3"), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn rate_limit_headers_on_every_response_and_429_when_exhausted() {
    let sb = common::sandbox_with(|c| c.limits.bigcommerce = WindowLimit::new(3, Duration::from_secs(30))).await;
    let c = common::client();
    let base = sb.urls().bigcommerce.clone();
    for left in [2, 1, 0] {
        let r = get(&c, format!("{base}/v2/orders?limit=1")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["X-Rate-Limit-Requests-Quota"], "3");
        assert_eq!(h["X-Rate-Limit-Requests-Left"], left.to_string().as_str());
        assert_eq!(h["X-Rate-Limit-Time-Window-Ms"], "30000");
        assert!(h["X-Rate-Limit-Time-Reset-Ms"].to_str().unwrap().parse::<u64>().unwrap() <= 30000);
    }
    let r = get(&c, format!("{base}/v2/orders")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["X-Rate-Limit-Requests-Left"], "0");
    assert!(r.headers().contains_key("X-Rate-Limit-Time-Reset-Ms"));
    sb.shutdown().await;
}

#[tokio::test]
async fn injected_429_carries_the_vendor_headers() {
    let sb = common::sandbox().await;
    sb.state().push_fault(Vendor::Bigcommerce, ScriptedFault::new(FaultKind::TooManyRequests));
    let r = get(&common::client(), format!("{}/v2/orders", sb.urls().bigcommerce)).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("X-Rate-Limit-Time-Reset-Ms"));
    sb.shutdown().await;
}

#[tokio::test]
async fn commit_then_fail_on_shipment_leaves_the_shipment() {
    let (sb, c, base) = common::sandbox_for(Vendor::Bigcommerce).await;
    let id = sb.state().bigcommerce_create_orders(1, &Default::default())[0];
    let (pid, qty, addr) = {
        let st = sb.state().bigcommerce();
        let o = &st.orders[&id];
        (o.products[0].id, o.products[0].quantity, o.address_id)
    };
    sb.state().push_fault(Vendor::Bigcommerce, ScriptedFault::new(FaultKind::CommitThen503).on("POST", "/shipments"));
    let r = c
        .post(format!("{base}/v2/orders/{id}/shipments"))
        .header("X-Auth-Token", "bc-sandbox-access-token")
        .json(&json!({"order_address_id": addr, "tracking_number": "1ZCTF",
                      "items": [{"order_product_id": pid, "quantity": qty}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(sb.state().bigcommerce().orders[&id].shipments.len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn webhooks_are_signed_thin_and_delivered_as_many_times_as_asked() {
    let rx = common::Receiver::start(0).await;
    let hook_rx = common::Receiver::start(0).await;
    let sb = common::sandbox().await;
    sb.state().set_webhook(
        Vendor::Bigcommerce,
        Some(
            WebhookTarget::new(&rx.url)
                .header("X-Our-Secret", "abc")
                .copies(2)
                .events(&["store/order/created", "store/order/statusUpdated"]),
        ),
    );
    // A hook registered through the documented v3 API also receives statusUpdated events.
    let c = common::client();
    let r = c
        .post(format!("{}/v3/hooks", sb.urls().bigcommerce))
        .header("X-Auth-Token", "bc-sandbox-access-token")
        .json(&json!({"scope": "store/order/statusUpdated", "destination": hook_rx.url, "is_active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = sb.state().bigcommerce_create_orders(1, &Default::default())[0];
    sb.state().bigcommerce_set_status(id, 2).unwrap();
    let got = rx.wait(4).await;
    assert_eq!(got.len(), 4, "two events × two copies");
    let created: Vec<_> = got.iter().filter(|(_, b)| b["scope"] == "store/order/created").collect();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].1["hash"], created[1].1["hash"], "duplicates share the hash");
    assert_eq!(created[0].0["webhook-id"], created[1].0["webhook-id"]);
    assert_eq!(created[0].1["data"], json!({"type": "order", "id": id}));
    let upd = got.iter().find(|(_, b)| b["scope"] == "store/order/statusUpdated").unwrap();
    assert_eq!(upd.1["data"]["status"], json!({"previous_status_id": 11, "new_status_id": 2}));
    // Verify the Standard Webhooks signature over the raw body.
    let raw = rx.got.lock().unwrap()[0].1.clone();
    let h = &rx.got.lock().unwrap()[0].0.clone();
    let id_h = h["webhook-id"].to_str().unwrap();
    let ts: i64 = h["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    assert_eq!(
        h["webhook-signature"].to_str().unwrap(),
        standard_webhooks_signature(b"bc-sandbox-client-secret", id_h, ts, &raw)
    );
    assert_eq!(h["x-our-secret"], "abc");
    // A status change also fires store/order/updated (not subscribed by either target here).
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(rx.got.lock().unwrap().len(), 4, "event filter honoured");
    let hooked = hook_rx.wait(1).await;
    assert_eq!(hooked.len(), 1);
    assert_eq!(hooked[0].1["scope"], "store/order/statusUpdated");
    sb.shutdown().await;
}

#[tokio::test]
async fn failed_webhook_deliveries_are_retried() {
    let rx = common::Receiver::start(1).await;
    let sb = common::sandbox_with(|c| c.delivery.retry_delay = Duration::from_millis(10)).await;
    // Unfiltered targets get every event, including store/order/updated on status changes.
    let all = common::Receiver::start(0).await;
    sb.state().set_webhook(Vendor::Bigcommerce, Some(WebhookTarget::new(&rx.url)));
    sb.state().bigcommerce_create_orders(1, &Default::default());
    let d = sb.state().wait_for_deliveries(Vendor::Bigcommerce, 1, Duration::from_secs(5)).await;
    assert!(d[0].delivered);
    assert_eq!(d[0].attempts.len(), 2);
    assert_eq!(d[0].attempts[0].status, Some(500));
    sb.state().set_webhook(Vendor::Bigcommerce, Some(WebhookTarget::new(&all.url)));
    let id = sb.state().bigcommerce_create_orders(1, &Default::default())[0];
    sb.state().bigcommerce_set_status(id, 5).unwrap();
    let got = all.wait(3).await;
    let scopes: Vec<&str> = got.iter().map(|(_, b)| b["scope"].as_str().unwrap()).collect();
    assert!(scopes.contains(&"store/order/created"));
    assert!(scopes.contains(&"store/order/statusUpdated"));
    assert!(scopes.contains(&"store/order/updated"));
    sb.shutdown().await;
}

#[tokio::test]
async fn order_coupons_link_answers_204_when_empty_and_lists_the_coupon_otherwise() {
    let (sb, c, base) = common::sandbox_for(Vendor::Bigcommerce).await;
    let (plain, couponed) = {
        let st = sb.state().bigcommerce();
        let plain = st.orders.values().find(|o| o.gen.promo_code.is_none()).map(|o| o.id).unwrap();
        let couponed = st.orders.values().find(|o| o.gen.promo_code.is_some()).map(|o| o.id).unwrap();
        (plain, couponed)
    };
    // Follow the order's own `coupons` link, as a client would.
    let order: Value = common::json(get(&c, format!("{base}/v2/orders/{plain}"))).await;
    let link = order["coupons"]["url"].as_str().unwrap().to_string();
    let r = get(&c, link).send().await.unwrap();
    assert_eq!(r.status(), 204, "an order without coupons has an empty coupons sub-resource");
    assert!(r.bytes().await.unwrap().is_empty());
    // Like the other empty sub-resources (products, shipments): 204, not 404.
    assert_eq!(get(&c, format!("{base}/v2/orders/{plain}/shipments")).send().await.unwrap().status(), 204);

    let order: Value = common::json(get(&c, format!("{base}/v2/orders/{couponed}"))).await;
    let r = get(&c, format!("{base}/v2/orders/{couponed}/coupons")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let coupons: Vec<Value> = r.json().await.unwrap();
    assert_eq!(coupons.len(), 1);
    assert_eq!(coupons[0]["order_id"], couponed);
    assert_eq!(coupons[0]["code"], "WELCOME10");
    assert_eq!(coupons[0]["type"], 1, "percentage_discount");
    assert_eq!(coupons[0]["amount"], "10.0000");
    assert_eq!(coupons[0]["discount"], order["coupon_discount"]);

    // A missing order is still 404, and the token is still required.
    assert_eq!(get(&c, format!("{base}/v2/orders/999999/coupons")).send().await.unwrap().status(), 404);
    assert_eq!(c.get(format!("{base}/v2/orders/{plain}/coupons")).send().await.unwrap().status(), 401);
    sb.shutdown().await;
}

#[tokio::test]
async fn time_endpoint_returns_unix_seconds_and_requires_the_token() {
    let (sb, c, base) = common::sandbox_for(Vendor::Bigcommerce).await;
    let r = get(&c, format!("{base}/v2/time")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let t = v["time"].as_i64().expect("time is an integer");
    assert!((t - chrono::Utc::now().timestamp()).abs() <= 5);
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(c.get(format!("{base}/v2/time")).send().await.unwrap().status(), 401);
    sb.shutdown().await;
}

//! The inspection/control API under `/_sandbox`, determinism of seeded data and of faults.

mod common;

use std::time::{Duration, Instant};

use orderbridge_sandbox::Vendor;
use serde_json::{json, Value};

async fn sc_token(c: &reqwest::Client, base: &str) -> reqwest::Response {
    c.post(format!("{base}/api/token"))
        .json(&json!({"Username": "api@orderbridge.test", "Password": "sc-sandbox-password"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn faults_set_over_http_apply_at_run_time_and_can_be_cleared() {
    let (sb, c, base) = common::sandbox_for(Vendor::Sellercloud).await;
    let r = c.put(format!("{base}/_sandbox/faults")).json(&json!({"p503": 1.0})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = sc_token(&c, &base).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(c.delete(format!("{base}/_sandbox/faults")).send().await.unwrap().status(), 200);
    assert_eq!(sc_token(&c, &base).await.status(), 200);
    // Latency is added to every request.
    c.put(format!("{base}/_sandbox/faults")).json(&json!({"latency_ms": 150})).send().await.unwrap();
    let t0 = Instant::now();
    sc_token(&c, &base).await;
    assert!(t0.elapsed() >= Duration::from_millis(150));
    // A scripted one-shot fault.
    c.delete(format!("{base}/_sandbox/faults")).send().await.unwrap();
    c.post(format!("{base}/_sandbox/faults/script"))
        .json(&json!({"kind": "internal_error", "method": "POST", "path_contains": "/api/token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sc_token(&c, &base).await.status(), 500);
    assert_eq!(sc_token(&c, &base).await.status(), 200, "one-shot");
    let r = c.put(format!("{base}/_sandbox/faults")).json(&json!({"p500": "lots"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn write_counters_expose_duplicates_and_reset_restores_the_seed() {
    let (sb, c, base) = common::sandbox_for(Vendor::Sellercloud).await;
    let t: Value = sc_token(&c, &base).await.json().await.unwrap();
    let t = t["access_token"].as_str().unwrap().to_string();
    let created: Value =
        common::json(c.post(format!("{base}/_sandbox/orders")).json(&json!({"count": 2, "channel": "ebay"}))).await;
    let id = created["created"][0].as_i64().unwrap();
    for _ in 0..2 {
        c.put(format!("{base}/api/Orders/SetExported"))
            .bearer_auth(&t)
            .json(&json!({"Orders": [id], "Exported": true}))
            .send()
            .await
            .unwrap();
    }
    let d: Value = common::json(c.get(format!("{base}/_sandbox/writes?duplicates=true"))).await;
    assert_eq!(d["exported"][id.to_string()], 2);
    let o: Value = common::json(c.get(format!("{base}/api/Orders/{id}")).bearer_auth(&t)).await;
    assert_eq!(o["OrderSource"], 1, "created on demand as an eBay order");
    let before = sb.state().sellercloud().orders.len();
    c.post(format!("{base}/_sandbox/reset")).send().await.unwrap();
    assert_eq!(sb.state().sellercloud().orders.len(), before - 2);
    let d: Value = common::json(c.get(format!("{base}/_sandbox/writes"))).await;
    assert_eq!(d, json!({}));
    sb.shutdown().await;
}

#[tokio::test]
async fn rate_limits_can_be_tightened_and_disabled_over_http() {
    let (sb, c, base) = common::sandbox_for(Vendor::Shipstation).await;
    let mut limits: Value = common::json(c.get(format!("{base}/_sandbox/rate-limits"))).await;
    assert_eq!(limits["enabled"], true);
    assert_eq!(limits["limits"]["shipstation"]["requests"], 40);
    limits["limits"]["shipstation"]["requests"] = json!(1);
    c.put(format!("{base}/_sandbox/rate-limits")).json(&json!({"limits": limits["limits"]})).send().await.unwrap();
    let call = || c.get(format!("{base}/orders")).basic_auth("ss-sandbox-key", Some("ss-sandbox-secret")).send();
    assert_eq!(call().await.unwrap().status(), 200);
    assert_eq!(call().await.unwrap().status(), 429);
    c.put(format!("{base}/_sandbox/rate-limits")).json(&json!({"enabled": false})).send().await.unwrap();
    assert_eq!(call().await.unwrap().status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn same_seed_gives_identical_api_output() {
    let a = common::sandbox().await;
    let b = common::sandbox().await;
    let c = common::client();
    let mut bodies = Vec::new();
    for sb in [&a, &b] {
        let base = sb.urls().bigcommerce.clone();
        let v: Value =
            common::json(c.get(format!("{base}/v2/orders?limit=5")).header("X-Auth-Token", "bc-sandbox-access-token"))
                .await;
        // Sub-resource links carry the (different) port; everything else must match.
        bodies.push(v.to_string().replace(&base, "BASE"));
    }
    assert_eq!(bodies[0], bodies[1]);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn probabilistic_faults_are_reproducible_for_a_seed() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sb = common::sandbox_with(|cfg| {
            cfg.faults = orderbridge_sandbox::FaultPlan::parse("sellercloud:p500=0.3,p429=0.2").unwrap();
        })
        .await;
        let c = common::client();
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(sc_token(&c, &sb.urls().sellercloud).await.status().as_u16());
        }
        runs.push(statuses);
        sb.shutdown().await;
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&500) && runs[0].contains(&429) && runs[0].contains(&200));
}

#[tokio::test]
async fn ten_thousand_orders_page_quickly() {
    let sb = common::sandbox_with(|cfg| {
        cfg.sellercloud_orders = 10_000;
        cfg.bigcommerce_orders = 0;
        cfg.magento_orders = 0;
    })
    .await;
    let c = common::client();
    let base = sb.urls().sellercloud.clone();
    let t: Value = sc_token(&c, &base).await.json().await.unwrap();
    let t = t["access_token"].as_str().unwrap();
    let t0 = Instant::now();
    let v: Value =
        common::json(c.get(format!("{base}/api/Orders?model.pageSize=50&model.pageNumber=150")).bearer_auth(t)).await;
    assert_eq!(v["TotalResults"], 10_000);
    assert_eq!(v["Items"].as_array().unwrap().len(), 50);
    assert!(t0.elapsed() < Duration::from_secs(2));
    sb.shutdown().await;
}

#[tokio::test]
async fn absurd_input_gets_a_vendor_error_not_a_crash() {
    let sb = common::sandbox().await;
    let c = common::client();
    let ss = sb.urls().shipstation.clone();
    let r = c
        .get(format!("{ss}/orders?page=18446744073709551615&pageSize=500"))
        .basic_auth("ss-sandbox-key", Some("ss-sandbox-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bc = sb.urls().bigcommerce.clone();
    let r = c
        .get(format!("{bc}/v2/orders?page=18446744073709551615"))
        .header("X-Auth-Token", "bc-sandbox-access-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let sc = sb.urls().sellercloud.clone();
    let t: Value = sc_token(&c, &sc).await.json().await.unwrap();
    let r = c
        .get(format!("{sc}/api/Orders?model.pageNumber=9223372036854775807"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .put(format!("{sc}/api/Orders/SetExported"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["Message"].is_string());
    sb.shutdown().await;
}

#[tokio::test]
async fn with_rate_limits_off_the_quota_headers_never_count_down() {
    use orderbridge_sandbox::WindowLimit;
    use std::time::Duration;
    let sb = common::sandbox_with(|c| {
        c.rate_limits = false; // what `--no-rate-limits` sets
        c.limits.shipstation = WindowLimit::new(3, Duration::from_secs(60));
        c.limits.bigcommerce = WindowLimit::new(3, Duration::from_secs(30));
    })
    .await;
    let c = common::client();
    let ss = sb.urls().shipstation.clone();
    let bc = sb.urls().bigcommerce.clone();
    for _ in 0..6 {
        let r = c.get(format!("{ss}/orders")).basic_auth("ss-sandbox-key", Some("ss-sandbox-secret")).send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        // A full budget on every response: a client that honours the headers never waits.
        assert_eq!(r.headers()["X-Rate-Limit-Remaining"], "3");
        assert_eq!(r.headers()["X-Rate-Limit-Reset"], "60");
        let r = c.get(format!("{bc}/v2/order_statuses")).header("X-Auth-Token", "bc-sandbox-access-token").send();
        let r = r.await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["X-Rate-Limit-Requests-Left"], "3");
        assert_eq!(r.headers()["X-Rate-Limit-Time-Reset-Ms"], "30000");
    }
    // Switching limits on at run time starts counting from a fresh window.
    let r = c.put(format!("{ss}/_sandbox/rate-limits")).json(&serde_json::json!({"enabled": true})).send().await;
    assert_eq!(r.unwrap().status(), 200);
    let r = c.get(format!("{ss}/orders")).basic_auth("ss-sandbox-key", Some("ss-sandbox-secret")).send().await;
    assert_eq!(r.unwrap().headers()["X-Rate-Limit-Remaining"], "2");
    sb.shutdown().await;
}

//! Sellercloud simulator behaviour, exercised over HTTP the way a documented client calls it.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use orderbridge_sandbox::{FaultKind, Sandbox, ScriptedFault, Vendor, WindowLimit};
use serde_json::{json, Value};

async fn token(c: &reqwest::Client, base: &str) -> String {
    let r = c
        .post(format!("{base}/api/token"))
        .json(&json!({"Username": "api@orderbridge.test", "Password": "sc-sandbox-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "bearer");
    v["access_token"].as_str().unwrap().to_string()
}

/// A seeded sandbox, a client, the sellercloud base URL and a fresh token.
async fn start() -> (Sandbox, reqwest::Client, String, String) {
    let (sb, c, base) = common::sandbox_for(Vendor::Sellercloud).await;
    let t = token(&c, &base).await;
    (sb, c, base, t)
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_with_401() {
    let (sb, c, base) = common::sandbox_for(Vendor::Sellercloud).await;
    let r = c.get(format!("{base}/api/Orders")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Message"], "Not Valid Token");
    let r = c.get(format!("{base}/api/Orders")).bearer_auth("forged").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{base}/api/token"))
        .json(&json!({"Username": "api@orderbridge.test", "Password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    sb.shutdown().await;
}

#[tokio::test]
async fn paging_not_exported_returns_every_order_exactly_once() {
    let (sb, c, base, t) = start().await;
    let expected: HashSet<i64> = sb.state().sellercloud().unexported_ids().into_iter().collect();
    assert!(expected.len() > 50, "needs several pages");
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let v: Value = common::json(
            c.get(format!("{base}/api/Orders?model.exported=0&model.pageSize=50&model.pageNumber={page}"))
                .bearer_auth(&t),
        )
        .await;
        assert_eq!(v["TotalResults"].as_u64().unwrap() as usize, expected.len());
        let items = v["Items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        seen.extend(items.iter().map(|o| o["ID"].as_i64().unwrap()));
        page += 1;
    }
    assert_eq!(seen.len(), expected.len(), "no order repeated");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
    sb.shutdown().await;
}

#[tokio::test]
async fn page_size_over_50_is_rejected_naming_the_field() {
    let (sb, c, base, t) = start().await;
    let r = c.get(format!("{base}/api/Orders?model.pageSize=51")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["Message"].as_str().unwrap().contains("pageSize"));
    sb.shutdown().await;
}

#[tokio::test]
async fn filters_status_company_exported_and_date_range_behave_as_documented() {
    let (sb, c, base, t) = start().await;
    let get = |q: String| {
        let c = c.clone();
        let t = t.clone();
        let base = base.clone();
        async move {
            let v: Value =
                common::json(c.get(format!("{base}/api/Orders?model.pageSize=50&{q}")).bearer_auth(&t)).await;
            v
        }
    };
    let v = get("model.orderStatus=InProcess&model.companyID=164".into()).await;
    let n = v["TotalResults"].as_u64().unwrap();
    assert!(n > 0);
    for o in v["Items"].as_array().unwrap() {
        assert_eq!(o["StatusCode"], 2);
        assert_eq!(o["CompanyId"], 164);
    }
    let expected =
        sb.state().sellercloud().orders.values().filter(|o| o.status_code == 2 && o.gen.company_id == 164).count()
            as u64;
    assert_eq!(n, expected);

    let v = get("model.exported=1".into()).await;
    for o in v["Items"].as_array().unwrap() {
        assert_eq!(o["IsExported"], true);
    }
    // Date range in the documented mm/dd/yyyy hh:mm form, account-local time.
    let v = get("model.createdOnFrom=05/20/2024 00:00&model.createdOnTo=05/25/2024 23:59".into()).await;
    let n = v["TotalResults"].as_u64().unwrap();
    assert!(n > 0);
    for o in v["Items"].as_array().unwrap() {
        let created = o["CreatedOn"].as_str().unwrap();
        assert!(("2024-05-20".."2024-05-26").contains(&&created[..10]), "{created}");
    }
    let r = c.get(format!("{base}/api/Orders?model.orderStatus=Shipped")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn order_detail_has_consistent_totals_and_documented_blocks() {
    let (sb, c, base, t) = start().await;
    let id = *sb.state().sellercloud().orders.keys().next().unwrap();
    let v: Value = common::json(c.get(format!("{base}/api/Orders/{id}")).bearer_auth(&t)).await;
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let d = |x: &Value| Decimal::from_str(x.as_str().unwrap()).unwrap();
    let lines: Decimal = v["OrderItems"].as_array().unwrap().iter().map(|l| d(&l["LineTotal"])).sum();
    let ti = &v["TotalInfo"];
    assert_eq!(lines, d(&ti["SubTotal"]));
    assert_eq!(d(&ti["GrandTotal"]), d(&ti["SubTotal"]) - d(&ti["Discount"]) + d(&ti["Shipping"]) + d(&ti["Tax"]));
    assert!(v["ProfitAndLoss"]["Comission"].is_number());
    assert!(v["Statuses"]["IsExported"].is_boolean());
    assert!([1, 4, 6, 50].contains(&v["OrderSource"].as_i64().unwrap()));
    // Datetimes carry no offset.
    assert!(!v["CreatedOn"].as_str().unwrap().ends_with('Z'));
    sb.shutdown().await;
}

#[tokio::test]
async fn set_exported_shipping_status_and_notes_are_recorded_and_counted() {
    let (sb, c, base, t) = start().await;
    let ids = sb.state().sellercloud_create_orders(2, &Default::default());
    let r: Value = common::json(
        c.put(format!("{base}/api/Orders/SetExported"))
            .bearer_auth(&t)
            .json(&json!({"Orders": [ids[0], ids[1], 1], "Exported": true})),
    )
    .await;
    assert_eq!(r, json!([ids[0], ids[1]]), "unknown id 1 is not echoed");
    assert!(sb.state().sellercloud().orders[&ids[0]].is_exported);

    for _ in 0..2 {
        let r = c
            .put(format!("{base}/api/Orders/ShippingStatus/SinglePackage"))
            .bearer_auth(&t)
            .json(&json!({"OrderID": ids[0], "CarrierName": "UPS", "ShippingMethod": "Ground",
                          "TrackingNumber": "1ZTEST0001"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(sb.state().sellercloud().orders[&ids[0]].shipping_status, 3);
    assert_eq!(
        sb.state().write_count(Vendor::Sellercloud, "tracking_number", "1ZTEST0001"),
        2,
        "duplicates are visible"
    );
    // Missing required field names the field.
    let r = c
        .put(format!("{base}/api/Orders/ShippingStatus/SinglePackage"))
        .bearer_auth(&t)
        .json(&json!({"OrderID": ids[1], "ShippingMethod": "Ground"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("CarrierName"));

    let r = c
        .post(format!("{base}/rest/api/orders/{}/notes/", ids[1]))
        .bearer_auth(&t)
        .json(&json!({"OrderID": ids[1], "note": {"Category": 0, "Message": "Imported as SO000001"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let notes: Value = common::json(c.get(format!("{base}/rest/api/orders/notes/{}", ids[1])).bearer_auth(&t)).await;
    assert!(notes.as_array().unwrap().iter().any(|n| n["Note"] == "Imported as SO000001"));
    sb.shutdown().await;
}

#[tokio::test]
async fn rate_limit_returns_429_with_documented_body() {
    let sb = common::sandbox_with(|c| {
        c.limits.sellercloud = WindowLimit::new(3, Duration::from_secs(3600));
    })
    .await;
    let c = common::client();
    let base = sb.urls().sellercloud.clone();
    let t = token(&c, &base).await; // 1
    for _ in 0..2 {
        let r = c.get(format!("{base}/api/Orders")).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = c.get(format!("{base}/api/Orders")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Error"], "Too many requests.");
    assert!(v["RateLimitResetTime"].as_str().unwrap().ends_with('Z'));
    // Control API is never rate limited.
    let r = c.get(format!("{base}/_sandbox/state")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn commit_then_fail_leaves_the_export_flag_set() {
    let (sb, c, base, t) = start().await;
    let ids = sb.state().sellercloud_create_orders(1, &Default::default());
    sb.state().push_fault(Vendor::Sellercloud, ScriptedFault::new(FaultKind::CommitThen500).on("PUT", "SetExported"));
    let r = c
        .put(format!("{base}/api/Orders/SetExported"))
        .bearer_auth(&t)
        .json(&json!({"Orders": [ids[0]], "Exported": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(sb.state().sellercloud().orders[&ids[0]].is_exported);

    // Dropped connection variant: the client sees a transport error, the write is in place.
    sb.state().push_fault(Vendor::Sellercloud, ScriptedFault::new(FaultKind::CommitThenDrop).on("PUT", "StatusCode"));
    let r = c
        .put(format!("{base}/api/Orders/StatusCode"))
        .bearer_auth(&t)
        .json(&json!({"Orders": [ids[0]], "Status": 3}))
        .send()
        .await;
    assert!(r.is_err(), "connection dropped: {r:?}");
    assert_eq!(sb.state().sellercloud().orders[&ids[0]].status_code, 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn hung_connection_never_answers() {
    let sb = common::sandbox().await;
    let base = sb.urls().sellercloud.clone();
    sb.state().push_fault(Vendor::Sellercloud, ScriptedFault::new(FaultKind::Hang));
    let c = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let r = c.post(format!("{base}/api/token")).json(&json!({})).send().await;
    assert!(r.unwrap_err().is_timeout());
    sb.shutdown().await;
}

#[tokio::test]
async fn expired_token_is_refused_and_a_new_token_works() {
    let sb = common::sandbox_with(|c| c.sellercloud_token_ttl = Duration::from_millis(150)).await;
    let c = common::client();
    let base = sb.urls().sellercloud.clone();
    let t = token(&c, &base).await;
    assert_eq!(c.get(format!("{base}/api/Orders")).bearer_auth(&t).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.get(format!("{base}/api/Orders")).bearer_auth(&t).send().await.unwrap().status(), 401);
    let t2 = token(&c, &base).await;
    assert_eq!(c.get(format!("{base}/api/Orders")).bearer_auth(&t2).send().await.unwrap().status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn ship_date_with_offset_is_converted_to_the_account_zone_and_future_dates_are_refused() {
    let (sb, c, base, t) = start().await;
    let id = sb.state().sellercloud_create_orders(1, &Default::default())[0];
    let ship_on = |date: String| {
        c.put(format!("{base}/api/Orders/ShippingStatus/SinglePackage"))
            .bearer_auth(&t)
            .json(&json!({"OrderID": id, "CarrierName": "UPS", "ShippingMethod": "Ground", "ShipDate": date}))
            .send()
    };
    let future = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    assert_eq!(ship_on(future).await.unwrap().status(), 400);
    let now_utc = chrono::Utc::now().to_rfc3339();
    assert_eq!(ship_on(now_utc).await.unwrap().status(), 200);
    let ship = sb.state().sellercloud().orders[&id].ship_date.unwrap();
    let local_now = chrono::Utc::now().with_timezone(&chrono_tz::America::New_York).naive_local();
    assert!((local_now - ship).num_seconds().abs() < 60, "stored in account-local time");
    sb.shutdown().await;
}

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

// ------------------------------------------------------------------------------------------
// Orders/ProfitAndLoss (bulk P&L)
// ------------------------------------------------------------------------------------------

mod pnl {
    use super::*;
    use orderbridge_sandbox::seed::Channel;
    use orderbridge_sandbox::sellercloud::ScPnlUpdate;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn d(v: &Value) -> Decimal {
        Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("money string, got {v}"))).unwrap()
    }

    /// A money string with exactly two decimals.
    fn assert_money(v: &Value, k: &str) {
        let s = v[k].as_str().unwrap_or_else(|| panic!("{k} is a string: {v}"));
        let (_, frac) = s.split_once('.').unwrap_or_else(|| panic!("{k}={s} has decimals"));
        assert_eq!(frac.len(), 2, "{k}={s}");
        Decimal::from_str(s).unwrap();
    }

    async fn pnl(c: &reqwest::Client, base: &str, t: &str, body: Value) -> reqwest::Response {
        c.post(format!("{base}/api/Orders/ProfitAndLoss")).bearer_auth(t).json(&body).send().await.unwrap()
    }

    /// The first seeded order of `ch` (Amazon) or of any other channel.
    fn seeded(sb: &Sandbox, amazon: bool) -> i64 {
        let st = sb.state().sellercloud();
        st.orders.values().find(|o| (o.gen.channel == Channel::Amazon) == amazon).map(|o| o.id).unwrap()
    }

    /// ProfitLoss = GrandTotal − Tax − OrderCost + Adjustments; OrderCost = its parts; Usd at the rate.
    fn assert_adds_up(p: &Value, detail: &Value) {
        let grand = d(&detail["TotalInfo"]["GrandTotal"]);
        let commission = if p["Comission"] == "N/A" { Decimal::ZERO } else { d(&p["Comission"]) };
        let cost =
            d(&p["ItemCost"]) + commission + d(&p["TransactionFee"]) + d(&p["PostingFee"]) + d(&p["ShippingCost"]);
        assert_eq!(d(&p["OrderCost"]), cost);
        assert_eq!(d(&p["Tax"]), d(&detail["TotalInfo"]["Tax"]));
        assert_eq!(d(&p["ProfitLoss"]), grand - d(&p["Tax"]) - cost + d(&p["Adjustments"]));
        let pct = (d(&p["ProfitLoss"]) / grand * Decimal::ONE_HUNDRED).round_dp(1);
        let mut pct_s = pct;
        pct_s.rescale(1);
        assert_eq!(p["ProfitLossPercentage"], format!("{pct_s} %"));
        let rate = Decimal::from_str(&detail["CurrencyRateToUSD"].to_string()).unwrap();
        for k in ["ItemCost", "TransactionFee", "ShippingCost", "Tax", "OrderCost", "ProfitLoss"] {
            assert_money(p, k);
            assert_eq!(d(&p[format!("{k}Usd").as_str()]), (d(&p[k]) * rate).round_dp(2), "{k}Usd");
        }
        for k in [
            "FbaOrderHandling",
            "FbaPickAndPack",
            "FbaShippingChargeback",
            "FbaGiftWrapChargeback",
            "FbaWeightHandling",
        ] {
            assert_eq!(p[k], "0.00");
        }
        // Items: numbers that add up to the order.
        let items = p["OrderItems"].as_array().unwrap();
        assert_eq!(items.len(), detail["OrderItems"].as_array().unwrap().len());
        let n = |v: &Value| Decimal::from_str(&v.to_string()).unwrap();
        let item_cost: Decimal = items.iter().map(|i| n(&i["OrderSiteCost"])).sum();
        assert_eq!(item_cost, d(&p["ItemCost"]));
        let item_commission: Decimal = items.iter().map(|i| n(&i["ChannelCommission"])).sum();
        assert_eq!(item_commission, commission);
        for i in items {
            assert!(i["QtySold"].is_i64() && i["SellingPrice"].is_number() && i["Profit"].is_number(), "{i}");
            assert_eq!(n(&i["Profit"]), n(&i["SellingPrice"]) - n(&i["FinalCostTotal"]));
        }
    }

    #[tokio::test]
    async fn seeded_amazon_order_is_unsettled_and_other_orders_add_up() {
        let (sb, c, base, t) = start().await;
        let (amazon, other) = (seeded(&sb, true), seeded(&sb, false));
        let r = pnl(&c, &base, &t, json!({"Orders": [amazon, other]})).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 2);
        assert_eq!(arr[0], sb.state().sellercloud_pnl(amazon).unwrap(), "the Rust reader answers the same");
        assert_eq!(arr[1], sb.state().sellercloud_pnl(other).unwrap());

        let a = &arr[0];
        assert_eq!(a["OrderID"], amazon);
        assert_eq!(a["Comission"], "N/A");
        assert_eq!(a["ComissionUsd"], "N/A");
        assert_eq!(a["SettlementDataAvailable"], false);
        assert_eq!(a["Channel"], 4);
        let detail_a: Value = common::json(c.get(format!("{base}/api/Orders/{amazon}")).bearer_auth(&t)).await;
        assert_adds_up(a, &detail_a);

        let o = &arr[1];
        assert_eq!(o["OrderID"], other);
        assert_eq!(o["SettlementDataAvailable"], true);
        let detail_o: Value = common::json(c.get(format!("{base}/api/Orders/{other}")).bearer_auth(&t)).await;
        assert_eq!(o["Channel"], detail_o["OrderSource"]);
        assert_eq!(o["PaymentStatus"], detail_o["PaymentStatus"]);
        assert_eq!(o["ShippingStatus"], detail_o["Statuses"]["ShippingStatus"]);
        assert_eq!(o["CustomerID"], detail_o["OrderDetails"]["CustomerID"]);
        let grand = d(&detail_o["TotalInfo"]["GrandTotal"]);
        assert_money(o, "Comission");
        assert_eq!(d(&o["Comission"]), (grand * Decimal::new(15, 2)).round_dp(2));
        assert_eq!(d(&o["TransactionFee"]), (grand * Decimal::new(29, 3)).round_dp(2) + Decimal::new(30, 2));
        assert_eq!(o["PostingFee"], "0.00");
        assert_adds_up(o, &detail_o);
        assert!(sb.state().write_counts(Vendor::Sellercloud).is_empty(), "a read records no write");
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn settling_through_the_control_api_reveals_the_commission() {
        let (sb, c, base, t) = start().await;
        let amazon = seeded(&sb, true);
        let before = sb.state().sellercloud_pnl(amazon).unwrap();
        assert!(sb.state().sellercloud_set_pnl(1, &ScPnlUpdate::default()).is_err(), "unknown order");
        let settle = ScPnlUpdate { settled: Some(true), commission: Some(Decimal::new(1234, 2)), ..Default::default() };
        sb.state().sellercloud_set_pnl(amazon, &settle).unwrap();
        let v: Value = pnl(&c, &base, &t, json!({"Orders": [amazon]})).await.json().await.unwrap();
        let after = &v[0];
        assert_eq!(after["SettlementDataAvailable"], true);
        assert_eq!(after["Comission"], "12.34");
        assert_eq!(d(&after["ProfitLoss"]), d(&before["ProfitLoss"]) - Decimal::new(1234, 2));
        let detail: Value = common::json(c.get(format!("{base}/api/Orders/{amazon}")).bearer_auth(&t)).await;
        assert_adds_up(after, &detail);

        // The HTTP control route: strings or numbers, answers the new P&L.
        let r = c
            .put(format!("{base}/_sandbox/orders/{amazon}/profitandloss"))
            .json(&json!({"adjustments": "-2.50", "transaction_fee": 1, "shipping_cost": 4.2}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let p: Value = r.json().await.unwrap();
        assert_eq!((p["Adjustments"].clone(), p["TransactionFee"].clone()), (json!("-2.50"), json!("1.00")));
        assert_eq!(p["ShippingCost"], "4.20");
        assert_eq!(p, sb.state().sellercloud_pnl(amazon).unwrap());
        assert_adds_up(&p, &detail);
        let r = c.put(format!("{base}/_sandbox/orders/1/profitandloss")).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = c
            .put(format!("{base}/_sandbox/orders/{amazon}/profitandloss"))
            .json(&json!({"commission": "lots"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn request_validation_unknown_ids_duplicates_and_auth() {
        let (sb, c, base, t) = start().await;
        let ids: Vec<i64> = sb.state().sellercloud().orders.keys().copied().take(101).collect();
        assert_eq!(ids.len(), 101);
        let r = pnl(&c, &base, &t, json!({"Orders": ids})).await;
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("at most 100 orders per request"));
        let r = pnl(&c, &base, &t, json!({"Orders": ids[..100]})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap().as_array().unwrap().len(), 100);
        for bad in [json!({"Orders": []}), json!({}), json!({"Orders": 5}), json!([1]), json!({"Orders": ["x"]})] {
            let r = pnl(&c, &base, &t, bad.clone()).await;
            assert_eq!(r.status(), 400, "{bad}");
            assert!(r.json::<Value>().await.unwrap()["Message"].as_str().unwrap().contains("Orders"), "{bad}");
        }
        // Unknown ids left out, duplicates once, request order kept; lower-case key, /rest prefix.
        let r = c
            .post(format!("{base}/rest/api/orders/profitandloss"))
            .bearer_auth(&t)
            .json(&json!({"orders": [ids[5], 1, ids[2], ids[5]]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let got: Vec<i64> = v.as_array().unwrap().iter().map(|o| o["OrderID"].as_i64().unwrap()).collect();
        assert_eq!(got, vec![ids[5], ids[2]]);
        let r =
            c.post(format!("{base}/api/Orders/ProfitAndLoss")).json(&json!({"Orders": [ids[0]]})).send().await.unwrap();
        assert_eq!(r.status(), 401);
        // GET /api/Orders/{id} still answers the detail.
        let r = c.get(format!("{base}/api/Orders/{}", ids[0])).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(sb.state().write_counts(Vendor::Sellercloud).is_empty());
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn ship_date_and_shipping_cost_follow_a_posted_shipment() {
        let (sb, c, base, t) = start().await;
        let id = sb.state().sellercloud_create_orders(1, &Default::default())[0];
        let v: Value = pnl(&c, &base, &t, json!({"Orders": [id]})).await.json().await.unwrap();
        assert_eq!(v[0]["ShipDate"], Value::Null);
        assert_eq!(v[0]["ShippingCost"], "0.00");
        assert_eq!(v[0]["ShippingStatus"], 1);
        let r = c
            .put(format!("{base}/api/Orders/ShippingStatus/SinglePackage"))
            .bearer_auth(&t)
            .json(&json!({"OrderID": id, "CarrierName": "UPS", "ShippingMethod": "Ground",
                          "TrackingNumber": "1ZPNL0001", "ShippingCost": 7.25}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = pnl(&c, &base, &t, json!({"Orders": [id]})).await.json().await.unwrap();
        let detail: Value = common::json(c.get(format!("{base}/api/Orders/{id}")).bearer_auth(&t)).await;
        assert_eq!(v[0]["ShipDate"], detail["ShippingDetails"]["ShipDate"]);
        assert!(v[0]["ShipDate"].is_string());
        assert_eq!(v[0]["ShippingStatus"], 3);
        assert_eq!(v[0]["ShippingCost"], "7.25");
        assert_adds_up(&v[0], &detail);
        sb.shutdown().await;
    }
}

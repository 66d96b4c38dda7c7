//! Sellercloud's Get Orders filters at their boundaries, through the real client against the
//! sandbox: order statuses, dropship statuses, company ids and the age window (an order one
//! minute inside and one minute outside `max_age_days`, in the account's time zone). Each
//! excluded order is listed once its filter is relaxed, so it is that filter that excludes it.
//! Needs no emulator: the sandbox runs in-process.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use orderbridge::connectors::sellercloud::{SellercloudClient, SellercloudConfig, SellercloudOrderId};
use orderbridge::model::ConnectionId;
use orderbridge::ports::OrderSource;
use orderbridge_sandbox::seed::OrderOverrides;
use orderbridge_sandbox::sellercloud::ScOrderUpdate;
use orderbridge_sandbox::{start, Sandbox, SandboxConfig};
use serde_json::json;

/// Far from UTC, so a window computed in UTC or in the wrong zone misses by hours.
const TIME_ZONE: &str = "Pacific/Auckland";
const MAX_AGE_DAYS: u32 = 3;

fn config(sb: &Sandbox) -> SellercloudConfig {
    let c = &sb.state().config().credentials;
    let mut config = SellercloudConfig::new(
        sb.urls().sellercloud.clone(),
        &c.sellercloud_username,
        c.sellercloud_password.clone().into(),
    );
    config.company_ids = vec![163];
    config.order_statuses = vec!["InProcess".into(), "OnHold".into()];
    config.dropship_statuses = vec!["None".into(), "Processed".into()];
    config.max_age_days = MAX_AGE_DAYS;
    config.time_zone = TIME_ZONE.into();
    config.read_customer_instructions = false;
    config
}

/// Every order the client lists, over all pages.
async fn listed(config: SellercloudConfig) -> BTreeSet<i64> {
    let client = SellercloudClient::new(ConnectionId::parse("sc-main").unwrap(), config).expect("valid config");
    let mut out = BTreeSet::new();
    let mut token = None;
    loop {
        let page = client.list_new_orders(token.as_ref()).await.expect("list orders");
        for order in &page.orders {
            out.insert(SellercloudOrderId::of(order.id()).expect("a Sellercloud id").get());
        }
        match page.next {
            Some(next) => token = Some(next),
            None => return out,
        }
    }
}

/// A new not-exported order with these details.
fn order(sb: &Sandbox, created: chrono::DateTime<Utc>, company: i64, status: &str, dropship: &str) -> i64 {
    let ov = OrderOverrides { company_id: Some(company), ..OrderOverrides::default() };
    let id = sb.state().sellercloud_create_orders(1, &ov)[0];
    let update = ScOrderUpdate {
        created_on: Some(created.to_rfc3339()),
        company_id: Some(company),
        status: Some(json!(status)),
        dropship_status: Some(json!(dropship)),
        exported: Some(false),
    };
    sb.state().sellercloud_update_order(id, &update).expect("update order");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_get_orders_filter_holds_at_its_boundary() {
    let mut sandbox_config = SandboxConfig {
        seed: 16,
        sellercloud_orders: 0,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    sandbox_config.sellercloud_time_zone = TIME_ZONE.parse().unwrap();
    let sb = start(sandbox_config).await.expect("sandbox starts");

    let now = Utc::now();
    let window = Duration::days(i64::from(MAX_AGE_DAYS));
    let recent = now - Duration::hours(2);
    let inside = order(&sb, now - window + Duration::minutes(1), 163, "InProcess", "None");
    let outside = order(&sb, now - window - Duration::minutes(1), 163, "InProcess", "None");
    let other_company = order(&sb, recent, 164, "InProcess", "None");
    let other_status = order(&sb, recent, 163, "Completed", "None");
    let other_dropship = order(&sb, recent, 163, "InProcess", "Pending");
    let held_processed = order(&sb, recent, 163, "OnHold", "Processed");
    // Stored in account-local time: Auckland is 12-13 hours ahead of UTC.
    let stored = sb.state().sellercloud().orders[&inside].created_on;
    let tz = sb.state().sellercloud().tz;
    assert_eq!(stored, (now - window + Duration::minutes(1)).with_timezone(&tz).naive_local());

    let all = listed(config(&sb)).await;
    assert_eq!(all, BTreeSet::from([inside, held_processed]), "only the orders every filter admits");

    // Each filter relaxed in turn lists the one order it alone excluded.
    let mut wider = config(&sb);
    wider.max_age_days = MAX_AGE_DAYS + 1;
    assert_eq!(listed(wider).await, BTreeSet::from([inside, outside, held_processed]), "age window");

    let mut wider = config(&sb);
    wider.company_ids = Vec::new();
    assert_eq!(listed(wider).await, BTreeSet::from([inside, other_company, held_processed]), "company ids");

    let mut wider = config(&sb);
    wider.order_statuses.push("Completed".into());
    assert_eq!(listed(wider).await, BTreeSet::from([inside, other_status, held_processed]), "order statuses");

    let mut wider = config(&sb);
    wider.dropship_statuses = Vec::new();
    assert_eq!(listed(wider).await, BTreeSet::from([inside, other_dropship, held_processed]), "no dropship filter");

    let mut narrower = config(&sb);
    narrower.dropship_statuses = vec!["Processed".into()];
    assert_eq!(listed(narrower).await, BTreeSet::from([held_processed]), "one dropship status");

    // An unknown dropship status is refused by the config, not sent.
    let mut bad = config(&sb);
    bad.dropship_statuses = vec!["Shipped".into()];
    let err = bad.validate().expect_err("not a DropShipStatusType name");
    assert!(err.to_string().contains("dropship_statuses"), "{err}");

    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeded_orders_spread_over_dropship_statuses_and_the_filter_sends_documented_names() {
    let sb = start(SandboxConfig { seed: 7, sellercloud_orders: 60, ..SandboxConfig::default() }).await.unwrap();
    let spread: BTreeSet<i64> = sb.state().sellercloud().orders.values().map(|o| o.dropship_status).collect();
    assert!(spread.len() >= 4, "seeded dropship statuses: {spread:?}");
    let mut config = config(&sb);
    config.time_zone = "America/New_York".into();
    config.max_age_days = 365;
    config.company_ids = Vec::new();
    config.order_statuses = vec!["InProcess".into()];
    config.dropship_statuses = vec!["pending".into(), "Canceled".into()];
    let want: BTreeSet<i64> = sb
        .state()
        .sellercloud()
        .orders
        .values()
        .filter(|o| !o.is_exported && o.status_code == 2 && [1, 6].contains(&o.dropship_status))
        .map(|o| o.id)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(listed(config).await, want);
    sb.shutdown().await;
}

//! The Magento publisher against the vendor sandbox: one Magento shipment per box with its track
//! and items, nothing twice on a repeated (or half-failed) push, partial shipments, status and
//! note comments, unknown orders, and admin-token authentication.

use std::str::FromStr;
use std::time::Duration;

use orderbridge::connectors::magento::{MagentoClient, MagentoConfig};
use orderbridge::connectors::ConnectorError;
use orderbridge::error::{Classify, ErrorClass};
use orderbridge::model::{
    ChannelOrderId, ConnectionId, Package, PackageItem, Shipment, ShipmentSource, Tracking, TrackingNumber,
};
use orderbridge::ports::StatusPublisher;
use orderbridge_sandbox::{start, FaultKind, Sandbox, SandboxConfig, ScriptedFault, Vendor};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{json, Value};

async fn sandbox() -> Sandbox {
    start(SandboxConfig { seed: 5, magento_orders: 3, ..SandboxConfig::default() }).await.expect("sandbox starts")
}

fn client(sb: &Sandbox) -> MagentoClient {
    let token = sb.state().config().credentials.magento_integration_token.clone();
    MagentoClient::new(
        ConnectionId::parse("mg-store").unwrap(),
        MagentoConfig::new(sb.urls().magento.clone(), token.into()),
    )
    .unwrap()
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|_| panic!("{v} is not a number"))
}

/// One order line as the sandbox stores it.
#[derive(Debug, Clone)]
struct Line {
    item_id: i64,
    sku: String,
    parent: Option<i64>,
    ordered: Decimal,
    shipped: Decimal,
}

fn lines(sb: &Sandbox, order: i64) -> Vec<Line> {
    sb.state().magento().orders[&order]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Line {
            item_id: i["item_id"].as_i64().unwrap(),
            sku: i["sku"].as_str().unwrap().to_owned(),
            parent: i["parent_item_id"].as_i64(),
            ordered: dec(&i["qty_ordered"]),
            shipped: dec(&i["qty_shipped"]),
        })
        .collect()
}

/// The top-level lines only (what `/ship` takes), in order.
fn tops(sb: &Sandbox, order: i64) -> Vec<Line> {
    lines(sb, order).into_iter().filter(|l| l.parent.is_none()).collect()
}

/// A new processing order with these quantities of distinct catalogue SKUs. Its second line is a
/// configurable product (parent row plus child row), as the sandbox generates every 4th line.
fn new_order(sb: &Sandbox, quantities: &[i64]) -> (i64, ChannelOrderId) {
    let products = sb.state().seed_data().products.clone();
    let lines: Vec<Value> = quantities.iter().zip(&products).map(|(q, p)| json!({ "sku": p.sku, "qty": q })).collect();
    let id = sb.state().magento_create_orders(1, &serde_json::from_value(json!({ "lines": lines })).unwrap())[0];
    (id, orderbridge::connectors::magento::MagentoOrderId::new(id).unwrap().channel_order_id())
}

fn package(id: &str, tracking: &str, carrier: &str, items: Vec<PackageItem>) -> Package {
    Package {
        package_id: id.into(),
        tracking: Tracking {
            number: TrackingNumber::parse(tracking).unwrap(),
            carrier: carrier.into(),
            service: None,
            url: None,
        },
        items,
        weight: None,
    }
}

fn by_sku(sku: &str, qty: i64) -> PackageItem {
    PackageItem { item_id: sku.into(), erp_line_nbr: None, channel_line_id: None, quantity: Decimal::from(qty) }
}

fn shipment(packages: Vec<Package>, completes: bool) -> Shipment {
    Shipment {
        source: ShipmentSource::new(orderbridge::model::SystemCode::parse("AC").unwrap(), "000777"),
        ship_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        confirmed_at: None,
        packages,
        completes_order: completes,
    }
}

fn shipments_of(sb: &Sandbox, order: i64) -> Vec<Value> {
    sb.state().magento().shipments.values().filter(|s| s["order_id"].as_i64() == Some(order)).cloned().collect()
}

/// The shipment carrying this tracking number, and its items as (order_item_id, qty).
fn shipment_with(sb: &Sandbox, order: i64, tracking: &str) -> (Value, Vec<(i64, Decimal)>) {
    let found = shipments_of(sb, order)
        .into_iter()
        .find(|s| s["tracks"].as_array().unwrap().iter().any(|t| t["track_number"] == tracking))
        .unwrap_or_else(|| panic!("no shipment with {tracking}"));
    let mut items: Vec<(i64, Decimal)> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["order_item_id"].as_i64().unwrap(), dec(&i["qty"])))
        .collect();
    items.sort();
    (found, items)
}

fn histories(sb: &Sandbox, order: i64) -> Vec<Value> {
    // Newest first, as Magento lists them.
    sb.state().magento().orders[&order]["status_histories"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_two_box_shipment_becomes_two_magento_shipments_each_with_its_own_track_and_items() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let (id, order) = new_order(&sb, &[2, 1, 1]);
    let t = tops(&sb, id);
    let all = lines(&sb, id);
    assert_eq!(all.len(), 4, "line 2 is configurable: parent and child rows: {all:?}");
    let child = all.iter().find(|l| l.parent == Some(t[1].item_id)).unwrap().clone();

    // Box 2 names the configurable by its child's line id, the way an importer records it.
    let via_child = PackageItem {
        item_id: "ERP-NAME".into(),
        erp_line_nbr: None,
        channel_line_id: Some(child.item_id.to_string()),
        quantity: Decimal::ONE,
    };
    let two_boxes = shipment(
        vec![
            package("1", "1ZMGBOX1", "UPS", vec![by_sku(&t[0].sku.to_lowercase(), 2)]),
            package("2", "RM123456GB", "Royal Mail", vec![via_child, by_sku(&t[2].sku, 1)]),
        ],
        true,
    );
    mg.push_shipment(&order, &two_boxes).await.unwrap();

    assert_eq!(shipments_of(&sb, id).len(), 2);
    let (first, items) = shipment_with(&sb, id, "1ZMGBOX1");
    assert_eq!(items, vec![(t[0].item_id, Decimal::from(2))]);
    assert_eq!(first["tracks"].as_array().unwrap().len(), 1);
    assert_eq!(first["tracks"][0]["carrier_code"], "ups");
    let (second, items) = shipment_with(&sb, id, "RM123456GB");
    assert_eq!(
        items,
        vec![(t[1].item_id, Decimal::ONE), (t[2].item_id, Decimal::ONE)],
        "the child ships via its parent"
    );
    assert_eq!(second["tracks"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&second["tracks"][0]["carrier_code"], &second["tracks"][0]["title"]),
        (&json!("custom"), &json!("Royal Mail"))
    );
    // Everything is shipped now, the configurable's child row included.
    assert!(lines(&sb, id).iter().all(|l| l.shipped == l.ordered), "{:?}", lines(&sb, id));
    sb.shutdown().await;
}

#[tokio::test]
async fn pushing_the_same_shipment_again_creates_nothing() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let (id, order) = new_order(&sb, &[3, 1, 2]);
    let t = tops(&sb, id);
    // Staff already typed box 1's tracking number by hand, in lower case.
    let token = sb.state().config().credentials.magento_integration_token.clone();
    let r = reqwest::Client::new()
        .post(format!("{}/rest/default/V1/order/{id}/ship", sb.urls().magento))
        .bearer_auth(token)
        .json(&json!({ "items": [{ "order_item_id": t[0].item_id, "qty": 1 }],
                       "tracks": [{ "track_number": "1zmgsame1", "title": "UPS", "carrier_code": "ups" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let boxes = shipment(
        vec![
            package("1", "1ZMGSAME1", "UPS", vec![by_sku(&t[0].sku, 1)]),
            package("2", "1ZMGSAME2", "FedEx", vec![by_sku(&t[1].sku, 1)]),
        ],
        false,
    );
    mg.push_shipment(&order, &boxes).await.unwrap();
    assert_eq!(shipments_of(&sb, id).len(), 2, "box 1 was already there");
    let shipped: Vec<Decimal> = tops(&sb, id).iter().map(|l| l.shipped).collect();

    mg.push_shipment(&order, &boxes).await.unwrap();
    assert_eq!(shipments_of(&sb, id).len(), 2, "a redelivery posts nothing");
    assert_eq!(tops(&sb, id).iter().map(|l| l.shipped).collect::<Vec<_>>(), shipped);
    assert_eq!(sb.state().write_count(Vendor::Magento, "track_number", "1ZMGSAME2"), 1);
    assert_eq!(sb.state().write_count(Vendor::Magento, "track_number", "1ZMGSAME1"), 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_lost_ship_response_is_not_repeated_and_the_retry_posts_only_the_missing_box() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let (id, order) = new_order(&sb, &[2, 1, 1]);
    let t = tops(&sb, id);
    let boxes = shipment(
        vec![
            package("1", "1ZMGLOST1", "UPS", vec![by_sku(&t[0].sku, 1)]),
            package("2", "1ZMGLOST2", "UPS", vec![by_sku(&t[1].sku, 1), by_sku(&t[2].sku, 1)]),
        ],
        true,
    );
    // Magento commits the first /ship, then the connection drops before the answer. Box 1 leaves
    // a unit of line 1 unshipped, so only the track check keeps it from being posted again.
    sb.state().push_fault(Vendor::Magento, ScriptedFault::new(FaultKind::CommitThenDrop).on("POST", "/ship").times(1));
    let err = mg.push_shipment(&order, &boxes).await.unwrap_err();
    assert!(matches!(err.class(), ErrorClass::Retryable { .. }), "the flow retries the whole push: {err}");
    assert_eq!(shipments_of(&sb, id).len(), 1, "a /ship whose answer was lost is never repeated blindly");

    mg.push_shipment(&order, &boxes).await.unwrap();
    assert_eq!(shipments_of(&sb, id).len(), 2);
    assert!(
        !sb.state().duplicates(Vendor::Magento).contains_key("track_number"),
        "{:?}",
        sb.state().duplicates(Vendor::Magento)
    );
    let shipped: Vec<Decimal> = tops(&sb, id).iter().map(|l| l.shipped).collect();
    assert_eq!(shipped, vec![Decimal::ONE, Decimal::ONE, Decimal::ONE]);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_partial_shipment_ships_only_its_items_and_leaves_the_rest_unshipped() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let (id, order) = new_order(&sb, &[3, 2, 1]);
    let t = tops(&sb, id);
    // The ERP's item id differs from the Magento SKU; the channel line id still finds the line.
    let one_of_three = PackageItem {
        item_id: "ERP-ONLY-NAME".into(),
        erp_line_nbr: None,
        channel_line_id: Some(t[0].item_id.to_string()),
        quantity: Decimal::ONE,
    };
    mg.push_shipment(&order, &shipment(vec![package("1", "1ZMGPART1", "USPS", vec![one_of_three])], false))
        .await
        .unwrap();
    let after = tops(&sb, id);
    assert_eq!(after.iter().map(|l| l.shipped).collect::<Vec<_>>(), vec![Decimal::ONE, Decimal::ZERO, Decimal::ZERO]);
    assert_eq!(sb.state().magento().orders[&id]["state"], "processing");
    let (first, items) = shipment_with(&sb, id, "1ZMGPART1");
    assert_eq!(items, vec![(t[0].item_id, Decimal::ONE)]);
    assert_eq!(first["tracks"][0]["carrier_code"], "usps");

    // More than is left is capped (and warned about), not refused: 2 of the 5 ship.
    mg.push_shipment(&order, &shipment(vec![package("1", "1ZMGPART2", "UPS", vec![by_sku(&t[0].sku, 5)])], false))
        .await
        .unwrap();
    let (_, items) = shipment_with(&sb, id, "1ZMGPART2");
    assert_eq!(items, vec![(t[0].item_id, Decimal::from(2))]);
    let after = tops(&sb, id);
    assert_eq!(
        after.iter().map(|l| l.shipped).collect::<Vec<_>>(),
        vec![Decimal::from(3), Decimal::ZERO, Decimal::ZERO]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_box_without_items_ships_the_rest_only_when_it_is_the_whole_rest_of_the_order() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let (id, order) = new_order(&sb, &[2, 1]);
    let t = tops(&sb, id);

    let not_complete = shipment(vec![package("B1", "1ZMGEMPTY1", "UPS", vec![])], false);
    let err = mg.push_shipment(&order, &not_complete).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("AC-000777") && text.contains("package B1") && text.contains("items"), "{text}");
    assert_eq!(err.class(), ErrorClass::Permanent);

    // Among several boxes, an empty one refuses the whole shipment before anything is posted.
    let mixed = shipment(
        vec![
            package("B1", "1ZMGEMPTY2", "UPS", vec![by_sku(&t[0].sku, 1)]),
            package("B2", "1ZMGEMPTY3", "UPS", vec![]),
        ],
        true,
    );
    let err = mg.push_shipment(&order, &mixed).await.unwrap_err();
    assert!(err.to_string().contains("package B2"), "{err}");
    assert!(shipments_of(&sb, id).is_empty(), "nothing posted");

    let rest = shipment(vec![package("B1", "1ZMGEMPTY4", "UPS", vec![])], true);
    mg.push_shipment(&order, &rest).await.unwrap();
    let (_, items) = shipment_with(&sb, id, "1ZMGEMPTY4");
    assert_eq!(items, vec![(t[0].item_id, Decimal::from(2)), (t[1].item_id, Decimal::ONE)]);
    sb.shutdown().await;
}

#[tokio::test]
async fn status_and_note_land_as_comments_and_the_note_keeps_the_status() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let (id, order) = new_order(&sb, &[1]);

    mg.push_status(&order, " erp_released ").await.unwrap();
    let h = histories(&sb, id);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["status"], "erp_released");
    assert!(h[0]["comment"].as_str().unwrap().contains("erp_released"), "{}", h[0]);
    assert_eq!((&h[0]["is_customer_notified"], &h[0]["is_visible_on_front"]), (&json!(0), &json!(0)));
    assert_eq!(sb.state().magento().orders[&id]["status"], "erp_released");

    mg.add_note(&order, "Customer asked for a gift receipt").await.unwrap();
    let h = histories(&sb, id);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["comment"], "Customer asked for a gift receipt");
    assert_eq!(h[0]["status"], "erp_released");
    assert_eq!(sb.state().magento().orders[&id]["status"], "erp_released", "a note never changes the status");

    let err = mg.push_status(&order, "  ").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }) && err.to_string().contains("status"), "{err}");
    assert_eq!(histories(&sb, id).len(), 2, "nothing written");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_bad_order_id_is_a_clear_permanent_error() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let missing = orderbridge::connectors::magento::MagentoOrderId::new(987_654).unwrap().channel_order_id();
    let boxes = shipment(vec![package("1", "1ZMGNONE", "UPS", vec![by_sku("ANY", 1)])], true);
    for err in [
        mg.push_shipment(&missing, &boxes).await.unwrap_err(),
        mg.push_status(&missing, "complete").await.unwrap_err(),
        mg.add_note(&missing, "hello").await.unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(matches!(err, ConnectorError::Status { status: 404, .. }), "{err:?}");
        assert!(text.contains("No such entity with orderId = 987654"), "{text}");
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
    assert!(sb.state().magento().shipments.is_empty());

    let foreign = orderbridge::connectors::bigcommerce::BigCommerceOrderId::new(42).unwrap().channel_order_id();
    let err = mg.push_status(&foreign, "complete").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }) && err.to_string().contains("not a Magento order"), "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn admin_credentials_get_a_token_and_renew_it_when_the_store_expires_it() {
    let sb = start(SandboxConfig {
        seed: 5,
        magento_orders: 1,
        magento_token_ttl: Duration::from_millis(300),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let creds = sb.state().config().credentials.clone();
    let connection = ConnectionId::parse("mg-admin").unwrap();
    let admin = MagentoClient::new(
        connection.clone(),
        MagentoConfig::with_admin(
            sb.urls().magento.clone(),
            creds.magento_admin_username.clone(),
            SecretString::from(creds.magento_admin_password.clone()),
        ),
    )
    .unwrap();
    let (id, order) = new_order(&sb, &[1]);
    admin.push_status(&order, "erp_one").await.unwrap();
    // The store's token lifetime is shorter than the client assumes: the 401 renews it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    admin.add_note(&order, "after the token expired").await.unwrap();
    assert_eq!(histories(&sb, id).len(), 2);

    let wrong = MagentoClient::new(
        connection,
        MagentoConfig::with_admin(sb.urls().magento.clone(), "admin", SecretString::from("not-the-pa55".to_string())),
    )
    .unwrap();
    let err = wrong.push_status(&order, "erp_two").await.unwrap_err();
    assert!(matches!(&err, ConnectorError::Unauthorized { connection, .. } if connection.starts_with("mg")), "{err:?}");
    assert!(!format!("{err:?}").contains("not-the-pa55"));
    assert_eq!(histories(&sb, id).len(), 2);
    sb.shutdown().await;
}

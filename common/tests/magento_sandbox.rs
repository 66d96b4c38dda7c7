//! The Magento publisher against the vendor sandbox: one Magento shipment per box with its track
//! and items, nothing twice on a repeated push, partial shipments, status and note comments.

use orderbridge::connectors::magento::{MagentoClient, MagentoConfig};
use orderbridge::model::{
    AcumaticaShipmentNbr, ChannelOrderId, ConnectionId, MagentoOrderId, Package, PackageItem, Shipment, ShipmentSource,
    Tracking, TrackingNumber,
};
use orderbridge::ports::StatusPublisher;
use orderbridge_sandbox::{start, Sandbox, SandboxConfig, Vendor};
use serde_json::Value;

async fn sandbox() -> Sandbox {
    start(SandboxConfig { seed: 5, magento_orders: 6, ..SandboxConfig::default() }).await.expect("sandbox starts")
}

fn client(sb: &Sandbox) -> MagentoClient {
    let token = sb.state().config().credentials.magento_integration_token.clone();
    MagentoClient::new(
        ConnectionId::parse("mg-store").unwrap(),
        MagentoConfig::new(sb.urls().magento.clone(), token.into()),
    )
    .unwrap()
}

/// A seeded open order with at least two top-level items, nothing shipped yet: (entity_id,
/// [(sku, qty ordered)]).
fn order_with_two_items(sb: &Sandbox) -> (i64, Vec<(String, i64)>) {
    let state = sb.state();
    let magento = state.magento();
    magento
        .orders
        .iter()
        .filter_map(|(id, o)| {
            let tops: Vec<(String, i64)> = o["items"]
                .as_array()?
                .iter()
                .filter(|i| i["parent_item_id"].is_null())
                .map(|i| {
                    (i["sku"].as_str().unwrap_or_default().to_owned(), i["qty_ordered"].as_f64().unwrap_or(0.0) as i64)
                })
                .collect();
            let untouched = o["items"].as_array()?.iter().all(|i| i["qty_shipped"].as_f64().unwrap_or(0.0) == 0.0);
            let open = matches!(o["state"].as_str(), Some("new" | "processing"));
            (tops.len() >= 2 && untouched && open).then_some((*id, tops))
        })
        .next()
        .expect("a seeded Magento order with two items")
}

fn package(id: &str, tracking: &str, items: &[(String, i64)]) -> Package {
    Package {
        package_id: id.into(),
        tracking: Tracking {
            number: TrackingNumber::parse(tracking).unwrap(),
            carrier: "UPS".into(),
            service: Some("Ground".into()),
            url: None,
        },
        items: items
            .iter()
            .map(|(sku, q)| PackageItem {
                item_id: sku.clone(),
                erp_line_nbr: None,
                channel_line_id: None,
                quantity: rust_decimal::Decimal::from(*q),
            })
            .collect(),
        weight: None,
    }
}

fn shipment(packages: Vec<Package>, completes: bool) -> Shipment {
    Shipment {
        source: ShipmentSource::Acumatica(AcumaticaShipmentNbr::parse("000777").unwrap()),
        ship_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        confirmed_at: None,
        packages,
        completes_order: completes,
    }
}

fn shipments_of(sb: &Sandbox, order: i64) -> Vec<Value> {
    sb.state().magento().shipments.values().filter(|s| s["order_id"].as_i64() == Some(order)).cloned().collect()
}

#[tokio::test]
async fn each_box_becomes_one_magento_shipment_once_and_statuses_and_notes_are_comments() {
    let sb = sandbox().await;
    let mg = client(&sb);
    let (id, items) = order_with_two_items(&sb);
    let order = ChannelOrderId::Magento(MagentoOrderId::new(id).unwrap());

    // A partial shipment: the first item only, one unit.
    let first = shipment(vec![package("1", "1ZMG0001", &[(items[0].0.clone(), 1)])], false);
    mg.push_shipment(&order, &first).await.unwrap();
    assert_eq!(shipments_of(&sb, id).len(), 1, "{}", sb.state().magento().orders[&id]["items"]);
    let ordered_first = items[0].1;

    // The rest in two boxes, one per item; pushed twice (a redelivery): created once.
    let rest = shipment(
        vec![
            package(
                "1",
                "1ZMG0002",
                &[(items[0].0.clone(), ordered_first - 1)].into_iter().filter(|(_, q)| *q > 0).collect::<Vec<_>>(),
            ),
            package("2", "1ZMG0003", &[items[1].clone()]),
        ],
        true,
    );
    let rest = if ordered_first > 1 { rest } else { shipment(vec![rest.packages[1].clone()], true) };
    mg.push_shipment(&order, &rest).await.unwrap();
    mg.push_shipment(&order, &rest).await.unwrap();
    let all = shipments_of(&sb, id);
    let tracks: Vec<String> = all
        .iter()
        .flat_map(|s| s["tracks"].as_array().cloned().unwrap_or_default())
        .map(|t| t["track_number"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(tracks.len(), rest.packages.len() + 1, "one shipment per box, none twice: {tracks:?}");
    assert!(all.iter().all(
        |s| s["tracks"].as_array().map(Vec::len) == Some(1) && s["items"].as_array().is_some_and(|i| !i.is_empty())
    ));
    assert!(!sb.state().duplicates(Vendor::Magento).contains_key("track_number"));
    let o = sb.state().magento().orders[&id].clone();
    let shipped: f64 = o["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["parent_item_id"].is_null())
        .map(|i| i["qty_shipped"].as_f64().unwrap_or(0.0))
        .sum();
    let ordered: f64 = items.iter().map(|(_, q)| *q as f64).sum();
    assert!((shipped - ordered).abs() < 1e-9, "everything shipped: {shipped} of {ordered}");

    // Status and note land as comments; the note keeps the status.
    mg.push_status(&order, "complete").await.unwrap();
    mg.add_note(&order, "Customer asked for a gift receipt").await.unwrap();
    let o = sb.state().magento().orders[&id].clone();
    assert_eq!(o["status"], "complete");
    let comments: Vec<&str> =
        o["status_histories"].as_array().unwrap().iter().filter_map(|h| h["comment"].as_str()).collect();
    assert!(comments.contains(&"Customer asked for a gift receipt"), "{comments:?}");

    // A box without items among several is refused before anything is posted.
    let unclear = shipment(vec![package("1", "1ZMG0009", &[]), package("2", "1ZMG0010", &[])], false);
    let err = mg.push_shipment(&order, &unclear).await.unwrap_err();
    assert!(err.to_string().contains("items: none listed"), "{err}");
    // An unknown order is the vendor's clear error.
    let missing = ChannelOrderId::Magento(MagentoOrderId::new(987_654).unwrap());
    let err = mg.push_status(&missing, "complete").await.unwrap_err();
    assert!(err.to_string().contains("987654"), "{err}");
    sb.shutdown().await;
}

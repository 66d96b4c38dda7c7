//! Checking the follow-ups of imported orders against the sandbox: charges on the ERP orders
//! compared with Sellercloud's profit & loss, and a scan of everything Orderbridge stores for
//! personal data.

use std::collections::BTreeMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use orderbridge::connections::Connections;
use orderbridge::ports::Clock;
use orderbridge_sandbox::Sandbox;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::aws::LocalAws;
use crate::report::erp_orders_by_import_id;

/// The charge → ERP field map of the first Sellercloud connection's `profit_and_loss`.
pub fn charge_fields(connections: &Connections) -> BTreeMap<String, String> {
    connections
        .connections
        .iter()
        .find(|c| c.kind == "sellercloud")
        .and_then(|c| c.settings.get("profit_and_loss"))
        .and_then(|p| p.get("fields"))
        .and_then(|f| f.as_table())
        .map(|t| t.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

fn amount(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// The user-defined fields on the ERP order of each imported Sellercloud order: Sellercloud id →
/// field → amount.
pub fn erp_charges(sandbox: &Sandbox) -> BTreeMap<i64, BTreeMap<String, Decimal>> {
    erp_orders_by_import_id(sandbox)
        .into_iter()
        .filter_map(|(import_id, orders)| {
            let id = import_id.strip_prefix("SC-")?.parse::<i64>().ok()?;
            let order = orders.into_iter().next()?;
            let fields = order["custom"]["Document"]
                .as_object()
                .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), amount(&v["value"])?))).collect())
                .unwrap_or_default();
            Some((id, fields))
        })
        .collect()
}

/// What the ERP fields of Sellercloud order `id` should hold: each charge Sellercloud reports a
/// value for ("N/A" is no value yet).
pub fn expected_charges(sandbox: &Sandbox, id: i64, fields: &BTreeMap<String, String>) -> BTreeMap<String, Decimal> {
    let Some(pnl) = sandbox.state().sellercloud_pnl(id) else { return BTreeMap::new() };
    fields.iter().filter_map(|(charge, field)| Some((field.clone(), amount(&pnl[charge.as_str()])?))).collect()
}

/// Orders whose ERP fields differ from Sellercloud's profit & loss, with both sides.
pub fn charge_mismatches(sandbox: &Sandbox, fields: &BTreeMap<String, String>) -> Vec<String> {
    erp_charges(sandbox)
        .into_iter()
        .filter_map(|(id, written)| {
            let expected = expected_charges(sandbox, id, fields);
            (written != expected).then(|| format!("SC-{id}: ERP {written:?}, Sellercloud {expected:?}"))
        })
        .collect()
}

/// A generated buyer's personal data: name, email, phone and street lines (each at least 5
/// characters, so a scan never matches a short word).
fn buyer_values(buyer: &orderbridge_sandbox::seed::Buyer) -> Vec<String> {
    let a = &buyer.address;
    [
        format!("{} {}", a.first_name, a.last_name),
        buyer.email.clone(),
        a.phone.clone(),
        a.line1.clone(),
        a.line2.clone(),
    ]
    .into_iter()
    .map(|v| v.trim().to_owned())
    .filter(|v| v.chars().count() >= 5)
    .collect()
}

/// The personal data of BigCommerce order `id` as the sandbox generated it.
pub fn bigcommerce_personal_data_of(sandbox: &Sandbox, id: i64) -> Vec<String> {
    let state = sandbox.state();
    let bc = state.bigcommerce();
    bc.orders.get(&id).map(|o| buyer_values(&o.gen.buyer)).unwrap_or_default()
}

/// The personal data of Sellercloud order `id` as the sandbox generated it.
pub fn personal_data_of(sandbox: &Sandbox, id: i64) -> Vec<String> {
    let state = sandbox.state();
    let sc = state.sellercloud();
    sc.orders.get(&id).map(|o| buyer_values(&o.gen.buyer)).unwrap_or_default()
}

fn attribute_text(value: &AttributeValue, out: &mut String) {
    match value {
        AttributeValue::S(s) => out.push_str(s),
        AttributeValue::N(n) => out.push_str(n),
        AttributeValue::Ss(list) => list.iter().for_each(|s| out.push_str(s)),
        AttributeValue::L(list) => list.iter().for_each(|v| attribute_text(v, out)),
        AttributeValue::M(map) => map.values().for_each(|v| attribute_text(v, out)),
        _ => {}
    }
    out.push('\n');
}

/// Every item of both tables and every message waiting in the queues and DLQs, as one text per
/// place (`table state pk=…`, `queue orders`), for scans.
pub async fn everything_stored(aws: &LocalAws) -> Vec<(String, String)> {
    let mut places = Vec::new();
    for table in [&aws.resources.state_table, &aws.resources.log_table] {
        let mut start = None;
        loop {
            let page = aws
                .dynamo
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
            for item in page.items() {
                let key = ["pk", "sk"]
                    .iter()
                    .filter_map(|k| item.get(*k).and_then(|v| v.as_s().ok()).cloned())
                    .collect::<Vec<_>>()
                    .join("/");
                let mut text = String::new();
                item.values().for_each(|v| attribute_text(v, &mut text));
                places.push((format!("table {table} {key}"), text));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
    }
    for (name, url) in [
        ("orders", &aws.resources.orders.url),
        ("orders-dlq", &aws.resources.orders.dlq_url),
        ("shipments", &aws.resources.shipments.url),
        ("shipments-dlq", &aws.resources.shipments.dlq_url),
    ] {
        // Visibility 0: the messages stay where they are for whoever consumes them.
        let out = aws
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive {name}: {e:?}"));
        for m in out.messages() {
            places.push((format!("queue {name}"), m.body().unwrap_or_default().to_owned()));
        }
    }
    places
}

/// Where any of `values` occurs (case-insensitive) in what Orderbridge stores.
pub async fn find_stored(aws: &LocalAws, values: &[String]) -> Vec<String> {
    let stored = everything_stored(aws).await;
    let mut found = Vec::new();
    for (place, text) in &stored {
        let lower = text.to_lowercase();
        for v in values.iter().filter(|v| lower.contains(&v.to_lowercase())) {
            found.push(format!("{v:?} in {place}"));
        }
    }
    found
}

/// A clock `offset` ahead of the real one: runs the follow-ups as the schedule would later.
pub struct LaterClock(pub chrono::Duration);

impl Clock for LaterClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.0
    }
}

/// The personal data of Sellercloud orders `ids` that no other order carries (repeat buyers with
/// orders in `other` Sellercloud ids, or in BigCommerce, whose connection keeps personal data).
pub fn personal_data_only_of(sandbox: &Sandbox, ids: &[i64], other: &[i64]) -> Vec<String> {
    let mut kept: std::collections::BTreeSet<String> =
        other.iter().flat_map(|id| personal_data_of(sandbox, *id)).map(|v| v.to_lowercase()).collect();
    {
        let state = sandbox.state();
        let bc = state.bigcommerce();
        kept.extend(bc.orders.values().flat_map(|o| buyer_values(&o.gen.buyer)).map(|v| v.to_lowercase()));
    }
    let mut values: Vec<String> = ids.iter().flat_map(|id| personal_data_of(sandbox, *id)).collect();
    values.retain(|v| !kept.contains(&v.to_lowercase()));
    values.sort();
    values.dedup();
    values
}

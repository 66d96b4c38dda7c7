//! Summaries printed by the demo and asserted by the tests: what the channels listed, what the
//! ERP holds, what failed and why, from the sandbox's state and the connector log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use orderbridge::flows::format_log_line;
use orderbridge::model::ConnectionId;
use orderbridge::ports::{ConnectorLog, LogEntry, LogResult};
use orderbridge_sandbox::Sandbox;
use serde_json::Value;

/// The ERP's sales orders grouped by the Import ID stored in `CustomerOrder`.
pub fn erp_orders_by_import_id(sandbox: &Sandbox) -> BTreeMap<String, Vec<Value>> {
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for order in sandbox.state().acumatica().sales_orders.values() {
        let key = order["CustomerOrder"]["value"].as_str().unwrap_or_default().to_owned();
        // Orders entered in the ERP itself carry no Import ID: they are not imports.
        if key.is_empty() {
            continue;
        }
        by_id.entry(key).or_default().push(order.clone());
    }
    by_id
}

/// Connector-log entries of the given connections since `from`, oldest first.
pub async fn log_since(log: &dyn ConnectorLog, connections: &[ConnectionId], from: DateTime<Utc>) -> Vec<LogEntry> {
    let mut all = Vec::new();
    for c in connections {
        if let Ok(entries) = log.entries_between(c, from, Utc::now() + chrono::Duration::seconds(1), 100_000).await {
            all.extend(entries);
        }
    }
    all.sort_by_key(|e| e.started_at);
    all
}

/// Import outcomes per connection from the log: (created or recovered, skipped, failed reasons).
#[derive(Debug, Default, Clone)]
pub struct ImportCounts {
    pub imported: usize,
    pub skipped: usize,
    pub retried: usize,
    /// Latest failure reason per order (an order that later imported is not counted).
    pub failed: BTreeMap<String, String>,
}

pub fn import_counts(entries: &[LogEntry]) -> BTreeMap<String, ImportCounts> {
    let mut counts: BTreeMap<String, ImportCounts> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.action == "import_order") {
        let c = counts.entry(e.connection.to_string()).or_default();
        match e.result {
            LogResult::Success => {
                c.imported += 1;
                c.failed.remove(&e.entity_id);
            }
            LogResult::Skipped => c.skipped += 1,
            LogResult::Retry => c.retried += 1,
            LogResult::Failure => {
                c.failed.insert(e.entity_id.clone(), e.notes.clone());
            }
        }
    }
    counts
}

pub fn print_log_tail(entries: &[LogEntry], n: usize) {
    for e in entries.iter().rev().take(n).collect::<Vec<_>>().into_iter().rev() {
        println!("  {}", format_log_line(e));
    }
}

/// Confirms a one-box shipment of the ERP order imported under `import_id` in the Acumatica
/// sandbox (as a warehouse would); returns its tracking number.
pub fn confirm_one_box(sandbox: &Sandbox, import_id: &str) -> Option<String> {
    let erp = erp_orders_by_import_id(sandbox);
    let order = erp.get(import_id)?.first()?;
    let request: orderbridge_sandbox::acumatica::ConfirmShipment = serde_json::from_value(serde_json::json!({
        "OrderType": order["OrderType"]["value"],
        "OrderNbr": order["OrderNbr"]["value"],
    }))
    .ok()?;
    let shipment = sandbox.state().acumatica_confirm_shipment(&request).ok()?;
    shipment["Packages"][0]["TrackingNbr"]["value"].as_str().map(str::to_owned)
}

/// Whether the channel order behind `import_id` (`SC-…` / `BC-…`) carries `tracking`.
pub fn tracking_on_channel(sandbox: &Sandbox, import_id: &str, tracking: &str) -> bool {
    let state = sandbox.state();
    if let Some(id) = import_id.strip_prefix("SC-").and_then(|i| i.parse::<i64>().ok()) {
        state.sellercloud().orders.get(&id).is_some_and(|o| o.packages.iter().any(|p| p.tracking_number == tracking))
    } else if let Some(id) = import_id.strip_prefix("BC-").and_then(|i| i.parse::<i64>().ok()) {
        state
            .bigcommerce()
            .orders
            .get(&id)
            .is_some_and(|o| o.shipments.iter().any(|s| s["tracking_number"].as_str() == Some(tracking)))
    } else {
        false
    }
}

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

/// The (OrderType, OrderNbr) of the ERP order imported under each of `import_ids` that is there
/// yet (the first when there are several). Clones nothing: a long run asks every second.
pub fn erp_order_numbers<'a>(
    sandbox: &Sandbox,
    import_ids: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, (Value, Value)> {
    let wanted: std::collections::BTreeSet<&str> = import_ids.into_iter().collect();
    let mut found = BTreeMap::new();
    if wanted.is_empty() {
        return found;
    }
    for order in sandbox.state().acumatica().sales_orders.values() {
        if let Some(id) = order["CustomerOrder"]["value"].as_str().filter(|id| wanted.contains(id)) {
            found
                .entry(id.to_owned())
                .or_insert_with(|| (order["OrderType"]["value"].clone(), order["OrderNbr"]["value"].clone()));
        }
    }
    found
}

/// Confirms a one-box shipment of the ERP order imported under `import_id` in the Acumatica
/// sandbox (as a warehouse would); returns its tracking number.
pub fn confirm_one_box(sandbox: &Sandbox, import_id: &str) -> Option<String> {
    let (order_type, order_nbr) = erp_order_numbers(sandbox, [import_id]).remove(import_id)?;
    let request: orderbridge_sandbox::acumatica::ConfirmShipment = serde_json::from_value(serde_json::json!({
        "OrderType": order_type,
        "OrderNbr": order_nbr,
    }))
    .ok()?;
    let shipment = sandbox.state().acumatica_confirm_shipment(&request).ok()?;
    shipment["Packages"][0]["TrackingNbr"]["value"].as_str().map(str::to_owned)
}

/// Whether the channel order behind `import_id` (`SC-…` / `BC-…` / `MG-…`) carries `tracking`.
pub fn tracking_on_channel(sandbox: &Sandbox, import_id: &str, tracking: &str) -> bool {
    if let Some(id) = import_id.strip_prefix("MG-").and_then(|i| i.parse::<i64>().ok()) {
        return magento_tracks(sandbox, id).iter().any(|t| t == tracking);
    }
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

/// What Magento storefront orders carry when Orderbridge acknowledged their import.
pub const MAGENTO_IMPORTED_MARK: &str = "Imported into the ERP as";

/// Storefront orders the `mg-store` connection imports: status `processing`, not created from
/// outside (no `ext_order_id`), by entity id.
pub fn magento_importable(sandbox: &Sandbox) -> BTreeMap<i64, Value> {
    sandbox
        .state()
        .magento()
        .orders
        .iter()
        .filter(|(_, o)| o["status"] == "processing" && o["ext_order_id"].as_str().is_none_or(str::is_empty))
        .map(|(id, o)| (*id, o.clone()))
        .collect()
}

/// Catalogue items whose Acumatica InventoryID differs from the SKU the storefront sells
/// (SKU → InventoryID): a storefront line carries only the SKU.
pub fn renamed_items(sandbox: &Sandbox) -> BTreeMap<String, String> {
    sandbox
        .state()
        .seed_data()
        .products
        .iter()
        .filter(|p| p.erp_inventory_id != p.sku)
        .map(|p| (p.sku.clone(), p.erp_inventory_id.clone()))
        .collect()
}

/// A mapping's text with `substitutions = { "SKU" = "InventoryID", … }` added to its `[items]`.
pub fn with_substitutions(source: &str, substitutions: &BTreeMap<String, String>) -> String {
    if substitutions.is_empty() {
        return source.to_owned();
    }
    let subs: Vec<String> = substitutions.iter().map(|(sku, id)| format!("{sku:?} = {id:?}")).collect();
    let line = format!("substitutions = {{ {} }}\n", subs.join(", "));
    if source.contains("[items]\n") {
        source.replacen("[items]\n", &format!("[items]\n{line}"), 1)
    } else {
        format!("{source}\n[items]\n{line}")
    }
}

/// The demo's `mg-store` mapping with a substitution for every renamed item, uploaded (what an
/// operator does once the first renamed SKU fails by name). Returns how many were added.
pub async fn push_magento_substitutions(world: &crate::world::World) -> Result<usize, crate::world::BoxError> {
    let path = crate::world::demo_dir().join("mappings/mg-store.toml");
    let renamed = renamed_items(&world.sandbox);
    let source = with_substitutions(&std::fs::read_to_string(&path)?, &renamed);
    world.push_mapping_text("mg-store", "mappings/mg-store.toml", &source).await?;
    Ok(renamed.len())
}

/// The comments of a Magento order that acknowledge its import.
pub fn magento_acknowledgements(order: &Value) -> Vec<String> {
    order["status_histories"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|c| c["comment"].as_str())
                .filter(|c| c.starts_with(MAGENTO_IMPORTED_MARK))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON amount (a bare number or a numeric string) as a decimal, never through a float.
pub fn json_decimal(v: &Value) -> rust_decimal::Decimal {
    match v {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => rust_decimal::Decimal::ZERO,
    }
}

/// Tracking numbers on a Magento order's shipments (every track of every shipment).
pub fn magento_tracks(sandbox: &Sandbox, entity_id: i64) -> Vec<String> {
    let state = sandbox.state();
    let mg = state.magento();
    mg.shipments
        .values()
        .filter(|s| s["order_id"].as_i64() == Some(entity_id))
        .flat_map(|s| s["tracks"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["track_number"].as_str().map(str::to_owned))
        .collect()
}

/// Acumatica's availability against what the storefront holds, per item.
#[derive(Debug, Default, Clone)]
pub struct StockCheck {
    /// Items in both catalogues (InventoryID = SKU) compared.
    pub compared: usize,
    /// `SKU: magento X != acumatica Y` for each item whose `default` source quantity differs from
    /// the ERP's available quantity (all warehouses, never below zero).
    pub differing: Vec<String>,
    /// ERP items the storefront does not sell (nothing to write).
    pub not_sold: usize,
}

/// Compares, for every Acumatica stock item the storefront sells, the quantity of its `source`
/// source item with the ERP's available quantity summed over warehouses (Magento's quantity is
/// never below zero).
pub fn stock_check(sandbox: &Sandbox, source: &str) -> StockCheck {
    let mut available: BTreeMap<String, rust_decimal::Decimal> = BTreeMap::new();
    {
        let state = sandbox.state();
        let ac = state.acumatica();
        for item in ac.stock_items.keys() {
            available.entry(item.clone()).or_default();
        }
        for a in ac.availability() {
            if ac.stock_items.contains_key(&a.inventory_id) {
                *available.entry(a.inventory_id.clone()).or_default() += a.available();
            }
        }
    }
    let state = sandbox.state();
    let mg = state.magento();
    let mut check = StockCheck::default();
    for (item, qty) in &available {
        if !mg.products.contains_key(item) {
            check.not_sold += 1;
            continue;
        }
        check.compared += 1;
        let expected = (*qty).max(rust_decimal::Decimal::ZERO);
        let held = mg.source_items.get(&(item.clone(), source.to_owned())).map(|s| json_decimal(&s["quantity"]));
        if held != Some(expected) {
            let held = held.map_or_else(|| "none".to_owned(), |h| h.normalize().to_string());
            check.differing.push(format!("{item}: magento {held} != acumatica {}", expected.normalize()));
        }
    }
    check
}

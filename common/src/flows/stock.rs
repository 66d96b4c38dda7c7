//! Stock out: the ERP's available quantities written to the storefronts that sell its items, only
//! where they changed since the last write. Two ways in: the poll reads what changed since its
//! cursor (one ERP call, plus one per item when warehouses are chosen), and an ERP push
//! notification names the items that changed (one ERP read per item).
//!
//! Per storefront: read the levels last written (one ledger read) → keep the items whose quantity
//! differs → look up in the storefront the items never written there (so an item it does not sell
//! is reported once, not written forever) → write the rest in batches → record. A crash between
//! the write and the record writes the same quantities again next time: absolute levels make
//! that harmless.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use tracing::{info, warn};

use super::LogRecorder;
use crate::error::{Classify, ErrorClass};
use crate::model::{ChangedItem, ConnectionId, PushedLevel, StockLevel, StockSync};
use crate::ports::{
    Clock, ConnectorError, ConnectorLog, Cursors, Direction, ErpStock, LedgerError, LogGroup, LogResult, StockLevels,
    StockPublisher,
};

/// The cursor stream of the stock poll, per storefront connection.
pub const STOCK_STREAM: &str = "stock";

/// How many items one connector-log entry names before it says "and N more".
const LOG_ITEMS: usize = 20;

/// A storefront stock is written to.
pub struct StockTarget {
    pub connection: ConnectionId,
    /// A disabled connection is skipped.
    pub enabled: bool,
    pub publisher: std::sync::Arc<dyn StockPublisher>,
    pub sync: StockSync,
}

/// What the stock flow uses.
#[derive(Clone, Copy)]
pub struct StockPorts<'a> {
    pub erp: &'a dyn ErpStock,
    pub levels: &'a dyn StockLevels,
    pub cursors: &'a dyn Cursors,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub targets: &'a [StockTarget],
    /// How far before its cursor the poll reads again (changes committed late).
    pub overlap: Duration,
}

/// What one pass did for one storefront.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StockReport {
    /// Items the ERP reported changed.
    pub changed: u32,
    /// Quantities written.
    pub written: u32,
    /// Changed in the ERP, but the quantity is what the storefront already has.
    pub unchanged: u32,
    /// Items the storefront does not sell (reported once each).
    pub unknown: u32,
    /// Items the ERP does not know (a push naming a deleted item).
    pub not_in_erp: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("reading stock from the ERP failed")]
    Erp(#[source] ConnectorError),
    #[error("writing stock to {connection} failed")]
    Storefront {
        connection: ConnectionId,
        #[source]
        source: ConnectorError,
    },
    #[error("ledger access failed")]
    Ledger(#[source] LedgerError),
}

impl Classify for StockError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Erp(e) | Self::Storefront { source: e, .. } => e.class(),
            Self::Ledger(e) => e.class(),
        }
    }
}

fn first_run() -> DateTime<Utc> {
    // Before any ERP change: the first poll of a storefront writes every item once.
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

/// The poll: per storefront, what changed since its cursor.
pub async fn poll_stock(ports: &StockPorts<'_>) -> Vec<(ConnectionId, Result<StockReport, StockError>)> {
    let mut out = Vec::new();
    for target in ports.targets.iter().filter(|t| t.enabled) {
        out.push((target.connection.clone(), poll_target(ports, target).await));
    }
    out
}

async fn poll_target(ports: &StockPorts<'_>, target: &StockTarget) -> Result<StockReport, StockError> {
    let cursor = ports.cursors.cursor(&target.connection, STOCK_STREAM).await.map_err(StockError::Ledger)?;
    let since = cursor
        .as_ref()
        .and_then(|c| DateTime::parse_from_rfc3339(&c.value).ok())
        .map(|t| t.with_timezone(&Utc) - ports.overlap)
        .unwrap_or_else(first_run);
    let changed = ports.erp.changed_since(since).await.map_err(StockError::Erp)?;
    let newest = changed.iter().map(|c| c.changed_at).max();
    let report = read_and_write(ports, target, &changed, false).await?;
    // Saved after the writes: a crash re-reads the same changes (and writes nothing twice).
    if let Some(newest) = newest.filter(|n| cursor.as_ref().is_none_or(|c| c.value < n.to_rfc3339())) {
        ports
            .cursors
            .save_cursor(&target.connection, STOCK_STREAM, &newest.to_rfc3339(), cursor.map(|c| c.version))
            .await
            .map_err(StockError::Ledger)?;
    }
    Ok(report)
}

/// A push notification named these items: read each one's availability and write the changes
/// to every storefront.
pub async fn items_changed(
    ports: &StockPorts<'_>,
    items: &[String],
) -> Vec<(ConnectionId, Result<StockReport, StockError>)> {
    let changed = named_items(ports, items);
    let mut out = Vec::new();
    for target in ports.targets.iter().filter(|t| t.enabled) {
        out.push((target.connection.clone(), read_and_write(ports, target, &changed, false).await));
    }
    out
}

/// Items a message named, once each, to be read from the ERP.
fn named_items(ports: &StockPorts<'_>, items: &[String]) -> Vec<ChangedItem> {
    items
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|item| ChangedItem { item: item.clone(), available: None, changed_at: ports.clock.now() })
        .collect()
}

/// Reads the items' levels and writes them to one storefront (`force`: even those the ledger
/// says it holds).
async fn read_and_write(
    ports: &StockPorts<'_>,
    target: &StockTarget,
    changed: &[ChangedItem],
    force: bool,
) -> Result<StockReport, StockError> {
    let levels = resolve_levels(ports.erp, changed, &target.sync).await?;
    let mut report = write_changes(ports, target, levels.found, force).await?;
    report.changed = changed.len() as u32;
    report.not_in_erp = levels.missing;
    Ok(report)
}

/// The storefront took these items' shipped quantities off its own stock when a shipment was
/// created there (Magento's `/ship` deducts from the source, see
/// [`StockPublisher::deducts_on_shipment`]), while the ERP's available quantity does not move
/// when its shipment is confirmed (on hand and allocated drop together). So the level last
/// written is no longer what the storefront holds: each item's ERP availability is read and
/// written again, whatever the ledger says. None when the connection takes no stock.
pub async fn resync_after_shipment(
    ports: &StockPorts<'_>,
    connection: &ConnectionId,
    items: &[String],
) -> Option<Result<StockReport, StockError>> {
    let target = ports.targets.iter().find(|t| t.enabled && t.connection == *connection)?;
    Some(read_and_write(ports, target, &named_items(ports, items), true).await)
}

/// Whether a shipment created on `connection` moves the stock Orderbridge writes there.
pub fn deducts_on_shipment(ports: &StockPorts<'_>, connection: &ConnectionId) -> bool {
    ports.targets.iter().any(|t| t.enabled && t.connection == *connection && t.publisher.deducts_on_shipment())
}

struct Resolved {
    found: Vec<StockLevel>,
    missing: u32,
}

/// Each changed item's level in the storefront's warehouses: the ERP's total when it reported one
/// and every warehouse counts, else one read per item.
async fn resolve_levels(erp: &dyn ErpStock, changed: &[ChangedItem], sync: &StockSync) -> Result<Resolved, StockError> {
    let mut found = Vec::with_capacity(changed.len());
    let mut missing = 0;
    for c in changed {
        let available = match c.available.filter(|_| sync.warehouses.is_empty()) {
            Some(total) => Some(total),
            None => erp.available(&c.item, &sync.warehouses).await.map_err(StockError::Erp)?,
        };
        match available {
            Some(available) => found.push(StockLevel { item: c.item.clone(), available }),
            None => missing += 1,
        }
    }
    Ok(Resolved { found, missing })
}

/// Items named in a log note: the first few with their quantities, then how many more.
fn named(levels: &[StockLevel]) -> String {
    let mut text: Vec<String> =
        levels.iter().take(LOG_ITEMS).map(|l| format!("{}={}", l.item, l.available.normalize())).collect();
    if levels.len() > LOG_ITEMS {
        text.push(format!("and {} more", levels.len() - LOG_ITEMS));
    }
    text.join(", ")
}

async fn write_changes(
    ports: &StockPorts<'_>,
    target: &StockTarget,
    levels: Vec<StockLevel>,
    // The storefront's quantity moved on its own (a shipment there): write even a level the
    // ledger says was written.
    force: bool,
) -> Result<StockReport, StockError> {
    let recorder = LogRecorder { log: ports.log, clock: ports.clock };
    let mut report = StockReport::default();
    if levels.is_empty() {
        return Ok(report);
    }
    let pushed = ports.levels.pushed_levels(&target.connection).await.map_err(StockError::Ledger)?;
    // One level per item (a push may name an item twice); the last read wins.
    let latest: BTreeMap<String, StockLevel> = levels.into_iter().map(|l| (l.item.clone(), l)).collect();
    let mut to_write = Vec::new();
    let mut to_check = Vec::new();
    for (item, level) in latest {
        match pushed.get(&item) {
            Some(p) if p.available == level.available && !force => report.unchanged += 1,
            Some(p) if !p.unknown => to_write.push(level),
            // Never written here, or unknown before: look it up first.
            _ => to_check.push(level),
        }
    }
    let mut unknown = Vec::new();
    if !to_check.is_empty() {
        let items: Vec<String> = to_check.iter().map(|l| l.item.clone()).collect();
        let missing = target
            .publisher
            .missing_items(&items)
            .await
            .map_err(|source| StockError::Storefront { connection: target.connection.clone(), source })?;
        for level in to_check {
            if missing.contains(&level.item) {
                unknown.push(level);
            } else {
                to_write.push(level);
            }
        }
    }
    if !to_write.is_empty() {
        let action = recorder.start(
            &target.connection,
            LogGroup::Inventory,
            "stock_update",
            Direction::Export,
            to_write[0].item.clone(),
        );
        match target.publisher.write_levels(&to_write).await {
            Ok(()) => {
                recorder
                    .finish(
                        action,
                        LogResult::Success,
                        format!("{} quantities written: {}.", to_write.len(), named(&to_write)),
                    )
                    .await
            }
            Err(source) => {
                let result = if source.is_retryable() { LogResult::Retry } else { LogResult::Failure };
                recorder
                    .finish(action, result, format!("Writing {} quantities failed: {source}", to_write.len()))
                    .await;
                return Err(StockError::Storefront { connection: target.connection.clone(), source });
            }
        }
    }
    // Reported once: an item found unknown again after a change is not logged again.
    for level in &unknown {
        if pushed.get(&level.item).is_none_or(|p| !p.unknown) {
            let action = recorder.start(
                &target.connection,
                LogGroup::Inventory,
                "stock_update",
                Direction::Export,
                level.item.clone(),
            );
            recorder
                .finish(
                    action,
                    LogResult::Skipped,
                    format!(
                        "Not sold in the storefront (no product with this SKU); available {} not written. Reported once; looked up again when its quantity changes.",
                        level.available.normalize()
                    ),
                )
                .await;
        }
    }
    let record: Vec<(String, PushedLevel)> = to_write
        .iter()
        .map(|l| (l.item.clone(), PushedLevel { available: l.available, unknown: false }))
        .chain(unknown.iter().map(|l| (l.item.clone(), PushedLevel { available: l.available, unknown: true })))
        .collect();
    if let Err(e) = ports.levels.record_levels(&target.connection, &record).await {
        // The storefront has the quantities; the next pass writes them again, harmlessly.
        warn!(connection = %target.connection, error = %e, "Written stock levels not recorded.");
        return Err(StockError::Ledger(e));
    }
    report.written = to_write.len() as u32;
    report.unknown = unknown.len() as u32;
    info!(connection = %target.connection, written = report.written, unchanged = report.unchanged, unknown = report.unknown, "Stock levels published.");
    Ok(report)
}

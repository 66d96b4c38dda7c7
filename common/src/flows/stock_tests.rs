use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::model::{ChangedItem, ConnectionId, StockLevel, StockSync};
use crate::ports::{ConnectorError, ErpStock, LogResult, StockPublisher};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog};

/// An item's quantity per warehouse and when it last changed.
type Stocked = (BTreeMap<String, Decimal>, DateTime<Utc>);

/// An ERP whose items each have a quantity per warehouse and a change time.
#[derive(Default)]
struct Erp {
    items: Mutex<BTreeMap<String, Stocked>>,
    reads: Mutex<u32>,
}

impl Erp {
    fn set(&self, item: &str, warehouse: &str, qty: Decimal, at: DateTime<Utc>) {
        let mut items = self.items.lock().unwrap();
        let entry = items.entry(item.to_owned()).or_default();
        entry.0.insert(warehouse.to_owned(), qty);
        entry.1 = at;
    }
}

#[async_trait]
impl ErpStock for Erp {
    async fn changed_since(&self, since: DateTime<Utc>) -> Result<Vec<ChangedItem>, ConnectorError> {
        *self.reads.lock().unwrap() += 1;
        Ok(self
            .items
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (_, at))| *at >= since)
            .map(|(item, (by_wh, at))| ChangedItem {
                item: item.clone(),
                available: Some(by_wh.values().copied().sum()),
                changed_at: *at,
            })
            .collect())
    }

    async fn available(&self, item: &str, warehouses: &[String]) -> Result<Option<Decimal>, ConnectorError> {
        *self.reads.lock().unwrap() += 1;
        Ok(self.items.lock().unwrap().get(item).map(|(by_wh, _)| {
            by_wh.iter().filter(|(w, _)| warehouses.is_empty() || warehouses.contains(w)).map(|(_, q)| *q).sum()
        }))
    }
}

/// A storefront that sells some SKUs and records every write.
#[derive(Default)]
struct Store {
    sells: BTreeSet<String>,
    writes: Mutex<Vec<StockLevel>>,
    lookups: Mutex<u32>,
}

#[async_trait]
impl StockPublisher for Store {
    async fn missing_items(&self, items: &[String]) -> Result<BTreeSet<String>, ConnectorError> {
        *self.lookups.lock().unwrap() += 1;
        Ok(items.iter().filter(|i| !self.sells.contains(*i)).cloned().collect())
    }

    async fn write_levels(&self, levels: &[StockLevel]) -> Result<(), ConnectorError> {
        self.writes.lock().unwrap().extend_from_slice(levels);
        Ok(())
    }
}

struct World {
    erp: Erp,
    store: Arc<Store>,
    ledger: MemoryLedger,
    log: MemoryLog,
    clock: ManualClock,
    targets: Vec<StockTarget>,
}

impl World {
    fn new(skus: usize, warehouses: &[&str]) -> Self {
        let store = Arc::new(Store { sells: (0..skus).map(|i| format!("SKU{i:04}")).collect(), ..Store::default() });
        let erp = Erp::default();
        let t0 = Utc::now() - Duration::hours(2);
        for i in 0..skus {
            erp.set(&format!("SKU{i:04}"), "MAIN", Decimal::from(i % 17), t0);
        }
        let targets = vec![StockTarget {
            connection: ConnectionId::parse("mg-store").unwrap(),
            enabled: true,
            publisher: store.clone(),
            sync: StockSync { warehouses: warehouses.iter().map(|w| (*w).to_owned()).collect() },
        }];
        Self {
            erp,
            store,
            ledger: MemoryLedger::default(),
            log: MemoryLog::default(),
            clock: ManualClock::new(),
            targets,
        }
    }

    fn ports(&self) -> StockPorts<'_> {
        StockPorts {
            erp: &self.erp,
            levels: &self.ledger,
            cursors: &self.ledger,
            log: &self.log,
            clock: &self.clock,
            targets: &self.targets,
            overlap: Duration::minutes(10),
        }
    }

    fn writes(&self) -> usize {
        self.store.writes.lock().unwrap().len()
    }
}

fn report(results: Vec<(ConnectionId, Result<StockReport, StockError>)>) -> StockReport {
    results.into_iter().next().unwrap().1.unwrap()
}

#[tokio::test]
async fn of_a_thousand_items_only_the_fifty_that_changed_are_written_and_then_none() {
    let world = World::new(1000, &[]);
    let first = report(poll_stock(&world.ports()).await);
    assert_eq!((first.changed, first.written), (1000, 1000), "the first poll writes every item once");
    world.store.writes.lock().unwrap().clear();

    let now = Utc::now();
    for i in (0..1000).step_by(20) {
        world.erp.set(&format!("SKU{i:04}"), "MAIN", dec!(500), now);
    }
    // One more item touched without a quantity change: read, compared, not written.
    world.erp.set("SKU0001", "MAIN", Decimal::ONE, now);
    let second = report(poll_stock(&world.ports()).await);
    assert_eq!(second.written, 50, "{second:?}");
    assert_eq!(world.writes(), 50);
    // The overlap re-reads the first poll's changes too (all at one instant): compared, not written.
    assert_eq!(second.unchanged, 950);
    assert_eq!(*world.store.lookups.lock().unwrap(), 1, "known items are not looked up again");

    let third = report(poll_stock(&world.ports()).await);
    assert_eq!(third.written, 0, "the cursor's overlap re-reads the changes, nothing is written twice");
    assert_eq!(world.writes(), 50);
}

#[tokio::test]
async fn an_item_the_store_does_not_sell_is_reported_once_and_not_written() {
    let world = World::new(3, &[]);
    world.erp.set("GHOST-1", "MAIN", dec!(7), Utc::now());
    let first = report(poll_stock(&world.ports()).await);
    assert_eq!((first.written, first.unknown), (3, 1));
    assert!(world.store.writes.lock().unwrap().iter().all(|l| l.item != "GHOST-1"));
    let logged = |log: &MemoryLog| {
        log.0.lock().unwrap().iter().filter(|e| e.entity_id == "GHOST-1" && e.result == LogResult::Skipped).count()
    };
    assert_eq!(logged(&world.log), 1);

    // Same quantity again: nothing. A new quantity: looked up again, still unknown, not logged twice.
    report(poll_stock(&world.ports()).await);
    world.erp.set("GHOST-1", "MAIN", dec!(9), Utc::now() + Duration::seconds(1));
    let later = report(poll_stock(&world.ports()).await);
    assert_eq!((later.written, later.unknown), (0, 1));
    assert_eq!(logged(&world.log), 1, "reported once");
}

#[tokio::test]
async fn a_notification_reads_each_item_in_the_chosen_warehouses() {
    let world = World::new(2, &["MAIN", "EAST"]);
    let t = Utc::now();
    world.erp.set("SKU0000", "EAST", dec!(4), t);
    world.erp.set("SKU0000", "WEST", dec!(100), t);
    let items = vec!["SKU0000".to_owned(), "SKU0000".to_owned(), "NOPE".to_owned()];
    let r = report(items_changed(&world.ports(), &items).await);
    assert_eq!((r.changed, r.written, r.not_in_erp), (2, 1, 1), "{r:?}");
    let written = world.store.writes.lock().unwrap().clone();
    assert_eq!(
        written,
        vec![StockLevel { item: "SKU0000".into(), available: dec!(4) }],
        "MAIN 0 + EAST 4, WEST left out"
    );
    assert_eq!(*world.erp.reads.lock().unwrap(), 2, "one read per distinct item");
}

#[tokio::test]
async fn oversold_items_are_written_as_they_are_for_the_store_to_clamp() {
    let world = World::new(1, &[]);
    world.erp.set("SKU0000", "MAIN", dec!(-3), Utc::now());
    let r = report(poll_stock(&world.ports()).await);
    assert_eq!(r.written, 1);
    assert_eq!(world.store.writes.lock().unwrap()[0].available, dec!(-3));
}

/// A storefront that takes shipped quantities off the stock written to it (Magento MSI).
struct DeductingStore(Store);

#[async_trait]
impl StockPublisher for DeductingStore {
    async fn missing_items(&self, items: &[String]) -> Result<BTreeSet<String>, ConnectorError> {
        self.0.missing_items(items).await
    }
    async fn write_levels(&self, levels: &[StockLevel]) -> Result<(), ConnectorError> {
        self.0.write_levels(levels).await
    }
    fn deducts_on_shipment(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn after_a_shipment_on_the_storefront_the_shipped_items_are_written_again_though_the_erp_did_not_change() {
    let mut world = World::new(3, &[]);
    let mg = ConnectionId::parse("mg-store").unwrap();
    assert!(!deducts_on_shipment(&world.ports(), &mg), "a storefront deducts only when it says so");
    let store = Arc::new(DeductingStore(Store { sells: world.store.sells.clone(), ..Store::default() }));
    world.targets[0].publisher = store.clone();
    assert!(deducts_on_shipment(&world.ports(), &mg));
    report(poll_stock(&world.ports()).await);
    let written = |s: &DeductingStore| s.0.writes.lock().unwrap().clone();
    assert_eq!(written(&store).len(), 3);

    // The ERP's availability is what was written; a poll writes nothing, a resync writes again.
    assert_eq!(report(poll_stock(&world.ports()).await).written, 0);
    let items = vec!["SKU0002".to_owned(), "SKU0002".to_owned(), "NOPE".to_owned()];
    let r = resync_after_shipment(&world.ports(), &mg, &items).await.expect("a stock target").unwrap();
    assert_eq!((r.changed, r.written, r.not_in_erp), (2, 1, 1), "{r:?}");
    assert_eq!(written(&store)[3..], [StockLevel { item: "SKU0002".into(), available: dec!(2) }]);

    let other = ConnectionId::parse("bc-main").unwrap();
    assert!(resync_after_shipment(&world.ports(), &other, &items).await.is_none(), "not a stock target");
}

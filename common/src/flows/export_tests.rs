//! Export over in-memory ports: one station order per shipment whatever repeats, hold and cancel
//! followed, a reinstated shipment under a new key, an incomplete address reported once and
//! exported once fixed, a transient station failure retried.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use rust_decimal_macros::dec;

use super::*;
use crate::model::{
    Address, ConnectionId, ErpOrderRef, OutboundLine, OutboundPackage, OutboundShipment, OutboundState, ShipmentSource,
    StationExport, StationOrder, StationStatus, SystemCode,
};
use crate::ports::{ConnectorError, OutboundShipments, ShippingStation, StationOutcome};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog};

#[derive(Default)]
struct Erp {
    notes: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl OutboundShipments for Erp {
    async fn outbound_since(
        &self,
        _: chrono::DateTime<Utc>,
        _: &[String],
    ) -> Result<Vec<OutboundShipment>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn outbound(&self, _: &str) -> Result<Option<OutboundShipment>, ConnectorError> {
        Ok(None)
    }
    async fn note_on_shipment(&self, nbr: &str, note: &str) -> Result<(), ConnectorError> {
        self.notes.lock().unwrap().push((nbr.into(), note.into()));
        Ok(())
    }
    async fn record_labels(
        &self,
        _: &str,
        labels: &[crate::ports::StationLabel],
    ) -> Result<crate::ports::LabelsRecorded, ConnectorError> {
        Ok(crate::ports::LabelsRecorded {
            stored: labels.iter().map(|l| l.tracking.clone()).collect(),
            ..Default::default()
        })
    }
    async fn confirm_shipment(&self, _: &str) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn clear_label(&self, _: &str, _: &str) -> Result<crate::ports::LabelCleared, ConnectorError> {
        Ok(crate::ports::LabelCleared::Cleared)
    }
}

#[derive(Default)]
struct Station {
    orders: Mutex<BTreeMap<String, (String, StationOrder)>>,
    calls: Mutex<u32>,
    fail_next: Mutex<bool>,
}

#[async_trait]
impl ShippingStation for Station {
    async fn upsert_orders(&self, orders: &[StationOrder]) -> Result<Vec<StationOutcome>, ConnectorError> {
        *self.calls.lock().unwrap() += 1;
        if std::mem::take(&mut *self.fail_next.lock().unwrap()) {
            return Err(ConnectorError::Status {
                vendor: "station",
                operation: "upsert",
                status: 503,
                message: "busy".into(),
                retry_after: None,
            });
        }
        let mut all = self.orders.lock().unwrap();
        Ok(orders
            .iter()
            .map(|o| {
                let next = (all.len() + 1).to_string();
                let entry = all.entry(o.key.clone()).or_insert_with(|| (next, o.clone()));
                if entry.1.status == StationStatus::Cancelled {
                    return StationOutcome {
                        key: o.key.clone(),
                        result: Err("cancelled orders cannot be updated".into()),
                    };
                }
                entry.1 = o.clone();
                StationOutcome { key: o.key.clone(), result: Ok(entry.0.clone()) }
            })
            .collect())
    }
    fn time_zone(&self) -> chrono_tz::Tz {
        chrono_tz::America::Los_Angeles
    }
    async fn voided_since(&self, _: chrono::DateTime<Utc>) -> Result<Vec<crate::ports::VoidedLabel>, ConnectorError> {
        Ok(Vec::new())
    }
}

struct World {
    ledger: MemoryLedger,
    log: MemoryLog,
    clock: ManualClock,
    erp: Erp,
    station: Station,
    settings: StationExport,
    name: ConnectionId,
}

impl World {
    fn new() -> Self {
        Self {
            ledger: MemoryLedger::default(),
            log: MemoryLog::default(),
            clock: ManualClock::new(),
            erp: Erp::default(),
            station: Station::default(),
            settings: toml::from_str("erp_time_zone = \"America/Denver\"").unwrap(),
            name: ConnectionId::parse("station").unwrap(),
        }
    }

    fn ctx(&self) -> ExportContext<'_> {
        ExportContext {
            claims: &self.ledger,
            cursors: &self.ledger,
            log: &self.log,
            clock: &self.clock,
            erp: &self.erp,
            station: &self.station,
            settings: &self.settings,
            station_name: &self.name,
            owner: "test".into(),
            lease: Duration::from_secs(60),
        }
    }

    fn calls(&self) -> u32 {
        *self.station.calls.lock().unwrap()
    }
}

fn shipment(status: &str, minute: u32) -> OutboundShipment {
    OutboundShipment {
        source: ShipmentSource::new(SystemCode::parse("AC").unwrap(), "000123"),
        state: match status {
            "Open" => OutboundState::Open,
            "On Hold" => OutboundState::OnHold,
            "Canceled" => OutboundState::Canceled,
            _ => OutboundState::Shipped,
        },
        erp_status: status.into(),
        shipment_date: NaiveDate::from_ymd_opt(2026, 11, 30),
        last_modified: chrono::DateTime::from_timestamp(1_790_000_000 + i64::from(minute) * 60, 0).unwrap(),
        ship_via: Some("UPSGROUND".into()),
        customer_id: None,
        orders: vec![ErpOrderRef::parse("SO/SO000456").unwrap()],
        ship_to: Address {
            name: "Ann Lee".into(),
            line1: "1 Main St".into(),
            city: "Denver".into(),
            region: Some("CO".into()),
            postal_code: Some("80202".into()),
            country: "US".into(),
            ..Address::default()
        },
        bill_to: None,
        lines: vec![OutboundLine {
            line_nbr: 1,
            order_line_nbr: Some(1),
            sku: "WATER2809".into(),
            description: "Water bottle".into(),
            quantity: dec!(2),
            unit_price: None,
            unit_weight_lb: None,
        }],
        packages: vec![OutboundPackage { id: "p1".into(), box_id: None, tracking: None, weight_lb: None }],
        note: None,
    }
}

#[tokio::test]
async fn one_station_order_per_shipment_whatever_repeats_and_hold_and_cancel_follow() {
    let w = World::new();
    let first = export_shipment(&shipment("Open", 0), &w.ctx()).await.unwrap();
    assert!(
        matches!(&first, ExportOutcome::Exported { station_order, status: StationStatus::AwaitingShipment, .. } if station_order == "1"),
        "{first:?}"
    );
    // The same version again (a redelivered notification, a repeated poll): no call.
    let again = export_shipment(&shipment("Open", 0), &w.ctx()).await.unwrap();
    assert!(matches!(again, ExportOutcome::AlreadyExported { .. }));
    assert_eq!(w.calls(), 1);
    // On hold, then released: the same order.
    let held = export_shipment(&shipment("On Hold", 1), &w.ctx()).await.unwrap();
    assert!(
        matches!(held, ExportOutcome::Exported { status: StationStatus::OnHold, ref station_order, .. } if station_order == "1")
    );
    export_shipment(&shipment("Open", 2), &w.ctx()).await.unwrap();
    // Cancelled, then reinstated: the cancelled order stays cancelled and a new key is used.
    let cancelled = export_shipment(&shipment("Canceled", 3), &w.ctx()).await.unwrap();
    assert!(matches!(cancelled, ExportOutcome::Exported { status: StationStatus::Cancelled, .. }));
    let reinstated = export_shipment(&shipment("Open", 4), &w.ctx()).await.unwrap();
    assert!(
        matches!(reinstated, ExportOutcome::Exported { ref station_order, .. } if station_order == "2"),
        "{reinstated:?}"
    );
    let orders = w.station.orders.lock().unwrap();
    assert_eq!(orders.keys().cloned().collect::<Vec<_>>(), vec!["AC-000123".to_owned(), "AC-000123-2".to_owned()]);
    assert_eq!(orders["AC-000123"].1.status, StationStatus::Cancelled);
    let record = futures::executor::block_on(export_record(&w.ledger, &w.name, "000123")).unwrap().unwrap();
    assert_eq!((record.generation, record.station_order_id.as_deref()), (2, Some("2")));
}

#[tokio::test]
async fn an_incomplete_address_is_reported_once_on_the_erp_shipment_and_exported_once_fixed() {
    let w = World::new();
    let mut broken = shipment("Open", 0);
    broken.ship_to.city = String::new();
    let outcome = export_shipment(&broken, &w.ctx()).await.unwrap();
    assert!(matches!(outcome, ExportOutcome::Incomplete { reported: true, .. }), "{outcome:?}");
    broken.last_modified += chrono::Duration::minutes(1);
    let quiet = export_shipment(&broken, &w.ctx()).await.unwrap();
    assert!(
        matches!(quiet, ExportOutcome::Incomplete { reported: false, .. }),
        "the same problem is not reported twice"
    );
    let notes = w.erp.notes.lock().unwrap().clone();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].1.contains("lacks city"), "{notes:?}");
    let failures: Vec<String> = w
        .log
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.result == crate::ports::LogResult::Failure)
        .map(|e| e.notes.clone())
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(w.calls(), 0, "nothing sent to the station");
    let fixed = export_shipment(&shipment("Open", 2), &w.ctx()).await.unwrap();
    assert!(matches!(fixed, ExportOutcome::Exported { .. }));
}

#[tokio::test]
async fn a_transient_station_failure_releases_the_claim_and_the_retry_exports_once() {
    let w = World::new();
    *w.station.fail_next.lock().unwrap() = true;
    let err = export_shipment(&shipment("Open", 0), &w.ctx()).await.unwrap_err();
    assert!(crate::error::Classify::is_retryable(&err), "{err}");
    let retried = export_shipment(&shipment("Open", 0), &w.ctx()).await.unwrap();
    assert!(matches!(retried, ExportOutcome::Exported { .. }));
    assert_eq!(w.station.orders.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn shipments_never_exported_are_left_alone_unless_their_status_is_exported() {
    let w = World::new();
    for status in ["On Hold", "Canceled", "Confirmed"] {
        let outcome = export_shipment(&shipment(status, 0), &w.ctx()).await.unwrap();
        assert!(matches!(outcome, ExportOutcome::NotExported { .. }), "{status}: {outcome:?}");
    }
    assert_eq!(w.calls(), 0);
}

/// The cursors of the ledger, failing the first export-record write: a crash after the station
/// created the order and before Orderbridge recorded it.
struct CrashBeforeRecord<'a>(&'a MemoryLedger, std::sync::atomic::AtomicBool);

#[async_trait]
impl crate::ports::Cursors for CrashBeforeRecord<'_> {
    async fn cursor(
        &self,
        connection: &ConnectionId,
        stream: &str,
    ) -> Result<Option<crate::ports::Cursor>, crate::ports::LedgerError> {
        self.0.cursor(connection, stream).await
    }
    async fn save_cursor(
        &self,
        connection: &ConnectionId,
        stream: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<crate::ports::Cursor, crate::ports::LedgerError> {
        if stream.starts_with("export#") && !self.1.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::ports::LedgerError::CursorConflict {
                connection: connection.to_string(),
                stream: stream.into(),
                expected,
            });
        }
        self.0.save_cursor(connection, stream, value, expected).await
    }
}

#[tokio::test]
async fn a_crash_between_the_station_create_and_the_record_makes_no_second_order() {
    let w = World::new();
    let crashing = CrashBeforeRecord(&w.ledger, Default::default());
    let ctx = ExportContext { cursors: &crashing, ..w.ctx() };
    assert!(export_shipment(&shipment("Open", 0), &ctx).await.is_err(), "the first attempt dies");
    // Its claim is held until the lease ends; then the redelivery takes it over.
    *w.ledger.now.lock().unwrap() = Some(Utc::now() + chrono::Duration::minutes(5));
    let retried = export_shipment(&shipment("Open", 0), &ctx).await.unwrap();
    assert!(
        matches!(retried, ExportOutcome::Exported { ref station_order, .. } if station_order == "1"),
        "{retried:?}"
    );
    assert_eq!(w.calls(), 2, "the station was asked twice");
    assert_eq!(w.station.orders.lock().unwrap().len(), 1, "and holds one order: the key is the shipment's");
}

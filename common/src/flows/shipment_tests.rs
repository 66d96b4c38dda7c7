//! Status-push flow tests over in-memory ports: per-package exactly-once, the partial-shipment
//! policy, mapped statuses, note sync, permanent refusals and the catch-up poll.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::connectors::ConnectorError;
use crate::mapping::Mapping;
use crate::model::{
    ChannelOrderId, ConnectionId, ErpOrderNbr, ErpOrderRef, ErpOrderType, Package, PackageItem, Shipment,
    ShipmentSource, Tracking, TrackingNumber,
};
use crate::ports::{
    Binding, Bindings, ClaimKey, ClaimStatus, Claims, Clock, Cursors, ErpOrderLine, ErpOrderState, ErpShipments,
    Markers, StatusPublisher, WebhookEvent,
};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog, MemoryQueue};

fn erp(n: u32) -> ErpOrderRef {
    ErpOrderRef {
        order_type: ErpOrderType::parse("SO").unwrap(),
        order_nbr: ErpOrderNbr::parse(format!("SO{n:06}")).unwrap(),
    }
}

fn package(id: &str, tracking: &str, line: i64) -> Package {
    Package {
        package_id: id.into(),
        tracking: Tracking {
            number: TrackingNumber::parse(tracking).unwrap(),
            carrier: "UPSGROUND".into(),
            service: None,
            url: None,
        },
        items: vec![PackageItem {
            item_id: "WIDGET".into(),
            erp_line_nbr: Some(line),
            channel_line_id: None,
            quantity: 1.into(),
        }],
        weight: None,
    }
}

fn shipment(nbr: &str, packages: Vec<Package>) -> Shipment {
    Shipment {
        source: ShipmentSource::new(crate::model::SystemCode::parse("AC").unwrap(), nbr),
        ship_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        confirmed_at: None,
        packages,
        completes_order: false,
    }
}

#[derive(Default)]
struct FakeErp {
    shipments: Mutex<BTreeMap<String, (ErpOrderRef, Shipment)>>,
    states: Mutex<BTreeMap<String, ErpOrderState>>,
    /// Order states read.
    state_reads: std::sync::atomic::AtomicU32,
}

impl FakeErp {
    fn set_state(&self, erp: &ErpOrderRef, status: &str, note: Option<&str>) {
        let shipment_nbrs =
            self.shipments.lock().unwrap().iter().filter(|(_, (o, _))| o == erp).map(|(n, _)| n.clone()).collect();
        self.states.lock().unwrap().insert(
            erp.to_string(),
            ErpOrderState {
                status: status.into(),
                canonical: match status {
                    "Completed" => crate::model::OrderStatus::Completed,
                    "Back Order" => crate::model::OrderStatus::BackOrder,
                    other => crate::model::OrderStatus::Other(other.into()),
                },
                note: note.map(str::to_owned),
                lines: vec![ErpOrderLine { line_nbr: 1, item_id: "WIDGET".into(), channel_line_id: Some("77".into()) }],
                shipment_nbrs,
            },
        );
    }
}

#[async_trait]
impl ErpShipments for FakeErp {
    async fn shipments_since(&self, _: DateTime<Utc>) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        Ok(self.shipments.lock().unwrap().values().cloned().collect())
    }
    async fn shipment(&self, nbr: &str) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        Ok(self.shipments.lock().unwrap().get(nbr).cloned().into_iter().collect())
    }
    async fn order_state(&self, erp: &ErpOrderRef) -> Result<ErpOrderState, ConnectorError> {
        self.state_reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.states.lock().unwrap().get(&erp.to_string()).cloned().ok_or(ConnectorError::Status {
            vendor: "erp",
            operation: "get sales order state",
            status: 404,
            message: "not found".into(),
            retry_after: None,
        })
    }
}

#[derive(Default)]
struct FakeChannel {
    shipments: Mutex<Vec<(ChannelOrderId, Shipment)>>,
    statuses: Mutex<Vec<String>>,
    notes: Mutex<Vec<String>>,
    refuse: Mutex<Option<String>>,
}

#[async_trait]
impl StatusPublisher for FakeChannel {
    async fn push_shipment(&self, order: &ChannelOrderId, shipment: &Shipment) -> Result<(), ConnectorError> {
        if let Some(message) = self.refuse.lock().unwrap().clone() {
            return Err(ConnectorError::Rejected { vendor: "Fake", operation: "push shipment", message });
        }
        self.shipments.lock().unwrap().push((order.clone(), shipment.clone()));
        Ok(())
    }
    async fn push_status(&self, _: &ChannelOrderId, status: &str) -> Result<(), ConnectorError> {
        self.statuses.lock().unwrap().push(status.into());
        Ok(())
    }
    async fn add_note(&self, _: &ChannelOrderId, note: &str) -> Result<(), ConnectorError> {
        self.notes.lock().unwrap().push(note.into());
        Ok(())
    }
}

const MAPPING: &str = r#"
[order_types]
default = "SO"
[customers]
id_prefix = "SC"
[items]
identifier_priority = ["sku"]
[taxes]
tax_id = "CHANNELTAX"
[dates]
time_zone = "America/New_York"
[status_push]
statuses = { "Completed" = "ShippingComplete", "Back Order" = "InProcess" }
carriers = { UPSGROUND = { carrier = "UPS", service = "Ground" } }
"#;

struct Targets {
    channel: Arc<FakeChannel>,
    takes_partials: bool,
    rules: crate::mapping::StatusPushRules,
}

#[async_trait]
impl PushTargets for Targets {
    async fn target(&self, _: &ConnectionId) -> Result<Option<PushTarget>, PushError> {
        Ok(Some(PushTarget {
            publisher: self.channel.clone(),
            rules: self.rules.clone(),
            mapping_label: "mappings/test.toml (mapping v1)".into(),
            takes_partial_shipments: self.takes_partials,
            order_id: |raw| raw.parse::<u64>().ok().and_then(|n| ChannelOrderId::new(code("SC"), n.to_string()).ok()),
            follows_orders: true,
        }))
    }
}

struct World {
    erp_name: ConnectionId,
    tool_name: ConnectionId,
    ledger: MemoryLedger,
    log: MemoryLog,
    clock: ManualClock,
    erp: FakeErp,
    targets: Targets,
    stores: BTreeMap<i64, ConnectionId>,
}

fn conn() -> ConnectionId {
    ConnectionId::parse("sc-main").unwrap()
}

impl World {
    async fn new(takes_partials: bool, policy: &str) -> Self {
        let mapping = Mapping::parse("t.toml", 1, &format!("{MAPPING}partial_shipments = \"{policy}\"\n")).unwrap();
        let world = Self {
            erp_name: ConnectionId::parse("erp").unwrap(),
            tool_name: ConnectionId::parse("tool").unwrap(),
            ledger: MemoryLedger::default(),
            log: MemoryLog::default(),
            clock: ManualClock::new(),
            erp: FakeErp::default(),
            targets: Targets {
                channel: Arc::new(FakeChannel::default()),
                takes_partials,
                rules: mapping.file.status_push.clone(),
            },
            stores: BTreeMap::new(),
        };
        let order = if takes_partials {
            ChannelOrderId::new(code("BC"), "500").unwrap()
        } else {
            ChannelOrderId::new(code("SC"), "500").unwrap()
        };
        world
            .ledger
            .bind(&Binding {
                connection: conn(),
                channel_order_id: order,
                display_number: "500".into(),
                erp: erp(1),
                created_at: Utc::now(),
                origin: Default::default(),
                digest: None,
            })
            .await
            .unwrap();
        world
    }

    fn ports(&self) -> ShipmentPorts<'_> {
        ShipmentPorts {
            claims: &self.ledger,
            bindings: &self.ledger,
            cursors: &self.ledger,
            markers: &self.ledger,
            log: &self.log,
            clock: &self.clock,
            erp: &self.erp,
            tool: None,
            tool_stores: &self.stores,
            targets: &self.targets,
            erp_orders: None,
            publishing: &super::NoPublishing,
            channel_codes: &[],
            erp_name: &self.erp_name,
            tool_name: &self.tool_name,
            followed: &self.ledger,
            stock: None,
            station: None,
        }
    }

    fn ctx(&self) -> PushContext<'_> {
        PushContext { ports: self.ports(), owner: "test".into(), lease: Duration::from_secs(60), fan_out: None }
    }

    fn confirm(&self, nbr: &str, packages: Vec<Package>, order_status: &str) {
        self.erp.shipments.lock().unwrap().insert(nbr.into(), (erp(1), shipment(nbr, packages)));
        self.erp.set_state(&erp(1), order_status, None);
    }

    fn pushed_tracking(&self) -> Vec<String> {
        self.targets
            .channel
            .shipments
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, s)| s.packages.iter().map(|p| p.tracking.number.to_string()))
            .collect()
    }
}

fn code(c: &str) -> crate::model::SystemCode {
    crate::model::SystemCode::parse(c).unwrap()
}

/// An ERP notification naming shipments (by number) and orders (`TYPE/NBR`), as the ERP's webhook
/// parser produces it; repeats are kept, as a notification may repeat a row.
fn erp_event(id: &str, shipments: &[&str], orders: &[&str]) -> ShipmentMessage {
    ShipmentMessage::WebhookEventV2(WebhookEvent {
        dedupe_key: format!("erp:{id}"),
        event: crate::ports::InboundEvent::ErpChanged {
            shipments: shipments.iter().map(|n| crate::model::ErpShipmentNbr::parse(*n).unwrap()).collect(),
            orders: orders.iter().map(|o| ErpOrderRef::parse(o).unwrap()).collect(),
            statuses: Vec::new(),
        },
    })
}

#[tokio::test]
async fn each_package_is_pushed_once_however_often_the_shipment_arrives() {
    let world = World::new(true, "wait").await;
    world.confirm("000010", vec![package("1", "1ZA1", 1), package("2", "1ZA2", 1)], "Completed");
    let event = erp_event("a", &["000010", "000010"], &[]);
    for _ in 0..3 {
        handle_shipment_message(&event, &world.ctx()).await.unwrap();
    }
    assert_eq!(world.pushed_tracking(), vec!["1ZA1", "1ZA2"]);
    let pushed = world.targets.channel.shipments.lock().unwrap()[0].1.clone();
    // Carrier mapped, channel line attached from the ERP line's ExternalRef.
    assert_eq!(pushed.packages[0].tracking.carrier, "UPS");
    assert_eq!(pushed.packages[0].tracking.service.as_deref(), Some("Ground"));
    assert_eq!(pushed.packages[0].items[0].channel_line_id.as_deref(), Some("77"));
    let key = ClaimKey::push(&conn(), "AC-000010#2");
    assert_eq!(world.ledger.claim_record(&key).await.unwrap().unwrap().status, ClaimStatus::Completed);
    // The mapped status went once, although three events carried it.
    assert_eq!(*world.targets.channel.statuses.lock().unwrap(), vec!["ShippingComplete"]);
}

#[tokio::test]
async fn a_partial_shipment_waits_for_the_rest_when_the_channel_takes_no_partials() {
    let world = World::new(false, "wait").await;
    world.confirm("000010", vec![package("1", "1ZA1", 1)], "Back Order");
    let first = erp_event("a", &["000010"], &[]);
    let outcomes = handle_shipment_message(&first, &world.ctx()).await.unwrap();
    assert!(matches!(outcomes[0], PushOutcome::Held { .. }), "{outcomes:?}");
    assert!(world.pushed_tracking().is_empty());
    assert!(world.log.0.lock().unwrap().iter().any(|e| e.notes.contains("partial_shipments = \"wait\"")));

    world.confirm("000011", vec![package("1", "1ZB1", 1)], "Completed");
    let second = erp_event("b", &["000011"], &[]);
    handle_shipment_message(&second, &world.ctx()).await.unwrap();
    let mut tracking = world.pushed_tracking();
    tracking.sort();
    assert_eq!(tracking, vec!["1ZA1", "1ZB1"], "one push with every package of the order");
    assert_eq!(world.targets.channel.shipments.lock().unwrap().len(), 1);
    // A late redelivery of the first shipment pushes nothing more.
    handle_shipment_message(&first, &world.ctx()).await.unwrap();
    assert_eq!(world.targets.channel.shipments.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn mark_shipped_pushes_a_partial_shipment_at_once() {
    let world = World::new(false, "mark_shipped").await;
    world.confirm("000010", vec![package("1", "1ZA1", 1)], "Back Order");
    handle_shipment_message(&erp_event("a", &["000010"], &[]), &world.ctx()).await.unwrap();
    assert_eq!(world.pushed_tracking(), vec!["1ZA1"]);
    assert_eq!(*world.targets.channel.statuses.lock().unwrap(), vec!["InProcess"]);
}

#[tokio::test]
async fn statuses_follow_the_mapping_and_unassigned_ones_push_nothing() {
    let world = World::new(true, "wait").await;
    world.erp.set_state(&erp(1), "On Hold", None);
    let status_event = |id: &str| erp_event(id, &[], &["SO/SO000001"]);
    let outcomes = handle_shipment_message(&status_event("1"), &world.ctx()).await.unwrap();
    assert_eq!(outcomes, vec![PushOutcome::NoStatusChange]);
    assert!(world.log.0.lock().unwrap().iter().any(|e| e.notes.contains("not assigned in [status_push.statuses]")));
    world.erp.set_state(&erp(1), "Back Order", None);
    handle_shipment_message(&status_event("2"), &world.ctx()).await.unwrap();
    handle_shipment_message(&status_event("3"), &world.ctx()).await.unwrap();
    world.erp.set_state(&erp(1), "Completed", None);
    handle_shipment_message(&status_event("4"), &world.ctx()).await.unwrap();
    assert_eq!(*world.targets.channel.statuses.lock().unwrap(), vec!["InProcess", "ShippingComplete"]);
}

#[tokio::test]
async fn a_reported_status_the_channel_already_has_costs_no_order_read() {
    use std::sync::atomic::Ordering::SeqCst;
    let world = World::new(true, "wait").await;
    let reported = |id: &str, status: &str| {
        let ShipmentMessage::WebhookEventV2(mut event) = erp_event(id, &[], &["SO/SO000001"]) else { unreachable!() };
        if let crate::ports::InboundEvent::ErpChanged { statuses, .. } = &mut event.event {
            statuses.push(crate::ports::ReportedStatus { erp: erp(1), status: status.into() });
        }
        ShipmentMessage::WebhookEventV2(event)
    };
    // Nothing pushed yet: the order is read and its current status pushed.
    world.erp.set_state(&erp(1), "Back Order", None);
    handle_shipment_message(&reported("1", "Back Order"), &world.ctx()).await.unwrap();
    assert_eq!(world.erp.state_reads.load(SeqCst), 1);
    assert_eq!(*world.targets.channel.statuses.lock().unwrap(), vec!["InProcess"]);
    // The same status reported again (the notification of the transaction a shipment push
    // already covered): no read, nothing pushed.
    let outcomes = handle_shipment_message(&reported("2", "Back Order"), &world.ctx()).await.unwrap();
    assert_eq!(outcomes, vec![PushOutcome::NoStatusChange]);
    assert_eq!(world.erp.state_reads.load(SeqCst), 1, "no read for a status the channel has");
    // A new status is read (the ERP's current one is pushed, not the reported one).
    world.erp.set_state(&erp(1), "Completed", None);
    handle_shipment_message(&reported("3", "Open"), &world.ctx()).await.unwrap();
    assert_eq!(world.erp.state_reads.load(SeqCst), 2);
    assert_eq!(*world.targets.channel.statuses.lock().unwrap(), vec!["InProcess", "ShippingComplete"]);
    // Without a reported status the order is read as before.
    handle_shipment_message(&erp_event("4", &[], &["SO/SO000001"]), &world.ctx()).await.unwrap();
    assert_eq!(world.erp.state_reads.load(SeqCst), 3);
}

#[tokio::test]
async fn a_changed_erp_note_is_copied_once_and_the_imported_note_never() {
    let world = World::new(false, "wait").await;
    let order = ChannelOrderId::new(code("SC"), "500").unwrap();
    world
        .ledger
        .remember_once(NOTE_SCOPE, &note_key(&conn(), &order, "Gift: happy birthday"), NOTE_MEMORY)
        .await
        .unwrap();
    let status_event = |id: &str| erp_event(id, &[], &["SO/SO000001"]);
    world.erp.set_state(&erp(1), "On Hold", Some("Gift: happy birthday"));
    handle_shipment_message(&status_event("1"), &world.ctx()).await.unwrap();
    assert!(world.targets.channel.notes.lock().unwrap().is_empty());
    world.erp.set_state(&erp(1), "On Hold", Some("Customer called: ship to the office"));
    handle_shipment_message(&status_event("2"), &world.ctx()).await.unwrap();
    handle_shipment_message(&status_event("3"), &world.ctx()).await.unwrap();
    assert_eq!(*world.targets.channel.notes.lock().unwrap(), vec!["Customer called: ship to the office"]);
}

#[tokio::test]
async fn a_permanent_refusal_is_recorded_on_the_claims_and_not_retried() {
    let world = World::new(true, "wait").await;
    world.confirm("000010", vec![package("1", "1ZA1", 1)], "Completed");
    *world.targets.channel.refuse.lock().unwrap() = Some("order 500 is cancelled".into());
    let outcomes = handle_shipment_message(&erp_event("a", &["000010"], &[]), &world.ctx()).await.unwrap();
    assert!(matches!(&outcomes[0], PushOutcome::Failed(r) if r.contains("cancelled")), "{outcomes:?}");
    let record = world.ledger.claim_record(&ClaimKey::push(&conn(), "AC-000010#1")).await.unwrap().unwrap();
    assert_eq!(record.status, ClaimStatus::Failed);
    assert!(record.failure.unwrap().contains("cancelled"));
}

#[tokio::test]
async fn shipments_of_orders_orderbridge_did_not_import_are_left_alone() {
    let world = World::new(true, "wait").await;
    world
        .erp
        .shipments
        .lock()
        .unwrap()
        .insert("000099".into(), (erp(99), shipment("000099", vec![package("1", "1ZX", 1)])));
    let outcomes = handle_shipment_message(&erp_event("a", &["000099"], &[]), &world.ctx()).await.unwrap();
    assert!(matches!(&outcomes[0], PushOutcome::NotOurs(w) if w.contains("SO/SO000099")), "{outcomes:?}");
    assert!(world.pushed_tracking().is_empty());
}

#[tokio::test]
async fn the_poll_enqueues_only_shipments_not_yet_pushed_and_moves_its_cursor() {
    let world = World::new(true, "wait").await;
    world.confirm("000010", vec![package("1", "1ZA1", 1)], "Completed");
    handle_shipment_message(&erp_event("a", &["000010"], &[]), &world.ctx()).await.unwrap();
    world.confirm("000011", vec![package("1", "1ZB1", 1)], "Completed");
    world
        .erp
        .shipments
        .lock()
        .unwrap()
        .insert("000099".into(), (erp(99), shipment("000099", vec![package("1", "1ZX", 1)])));
    let queue = MemoryQueue::default();
    let poll = PollContext {
        ports: world.ports(),
        queue: &queue,
        overlap: Duration::from_secs(600),
        first_window: Duration::from_secs(86_400),
    };
    let results = catch_up(&poll).await;
    let report = results[0].1.as_ref().unwrap();
    assert_eq!((report.seen, report.enqueued, report.already_pushed, report.not_ours), (3, 1, 1, 1));
    let sent = queue.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.contains("push_shipment.v1") && sent[0].body.contains("000011"));
    let cursor = world.ledger.cursor(&ConnectionId::parse("erp").unwrap(), "shipments").await.unwrap();
    assert_eq!(cursor.unwrap().value, world.clock.now().to_rfc3339());

    // The enqueued message, handled, pushes the missing shipment.
    let envelope: crate::ports::Envelope<ShipmentMessage> =
        crate::aws::Envelope::parse("m", Some(&sent[0].body)).unwrap();
    handle_shipment_message(&envelope.body, &world.ctx()).await.unwrap();
    assert_eq!(world.pushed_tracking(), vec!["1ZA1", "1ZB1"]);
}

// ---------------------------------------------------------------------------------------------
// The catch-up poll finds ERP notes of imported orders (no storefront receives ERP orders).
// ---------------------------------------------------------------------------------------------

/// The ERP as an order source: the orders it lists as modified, and how often it was asked.
#[derive(Default)]
struct ModifiedOrders {
    orders: Mutex<Vec<crate::model::ErpSalesOrder>>,
    listings: Mutex<u32>,
}

fn sales_order(
    n: u32,
    customer_order: &str,
    note: Option<&str>,
    modified: DateTime<Utc>,
) -> crate::model::ErpSalesOrder {
    use crate::model::{Address, Currency, Customer, ErpOrderTotals, ErpSalesLine, Money};
    let usd = |v: i64| Money::new(rust_decimal::Decimal::from(v), Currency::parse("USD").unwrap());
    let address =
        Address { name: "Ann Buyer".into(), line1: "1 Main St".into(), country: "US".into(), ..Address::default() };
    crate::model::ErpSalesOrder {
        erp: erp(n),
        status: "On Hold".into(),
        hold: true,
        customer_id: "SC000001".into(),
        customer_class: None,
        location: None,
        customer_order: Some(customer_order.into()),
        external_ref: None,
        ship_via: None,
        payment_method: None,
        currency: Currency::parse("USD").unwrap(),
        ordered_at: modified,
        last_modified: modified,
        customer: Customer {
            channel_customer_id: None,
            email: None,
            name: "Ann Buyer".into(),
            company: None,
            phone: None,
        },
        bill_to: address.clone(),
        ship_to: address,
        lines: vec![ErpSalesLine {
            line_nbr: 1,
            item_id: "WIDGET".into(),
            description: "Widget".into(),
            quantity: rust_decimal::Decimal::ONE,
            uom: None,
            warehouse: None,
            unit_price: usd(10),
            discount: usd(0),
            amount: usd(10),
        }],
        totals: ErpOrderTotals {
            lines: usd(10),
            discount: usd(0),
            freight: usd(0),
            tax: usd(0),
            order_total: usd(10),
            unpaid_balance: usd(0),
        },
        note: note.map(str::to_owned),
    }
}

#[async_trait]
impl crate::ports::ErpOrders for ModifiedOrders {
    async fn orders_modified_since(
        &self,
        _: DateTime<Utc>,
    ) -> Result<Vec<crate::model::ErpSalesOrder>, ConnectorError> {
        *self.listings.lock().unwrap() += 1;
        Ok(self.orders.lock().unwrap().clone())
    }
    async fn sales_order(&self, erp: &ErpOrderRef) -> Result<Option<crate::model::ErpSalesOrder>, ConnectorError> {
        Ok(self.orders.lock().unwrap().iter().find(|o| &o.erp == erp).cloned())
    }
    async fn customer_class(&self, _: &str) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }
    async fn record_channel_number(&self, _: &ErpOrderRef, _: &str) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn invoices_of(&self, _: &ErpOrderRef) -> Result<Vec<crate::model::ErpInvoice>, ConnectorError> {
        Ok(Vec::new())
    }
}

impl World {
    /// One catch-up poll with `orders` as the ERP's order source; the messages it enqueued.
    async fn poll_with(&self, orders: &ModifiedOrders, codes: &[String]) -> (PollReport, Vec<ShipmentMessage>) {
        let queue = MemoryQueue::default();
        let mut ports = self.ports();
        ports.erp_orders = Some(orders);
        ports.channel_codes = codes;
        let poll = PollContext {
            ports,
            queue: &queue,
            overlap: Duration::from_secs(600),
            first_window: Duration::from_secs(86_400),
        };
        let results = catch_up(&poll).await;
        let (name, report) = results.last().expect("the ERP orders poll reports");
        assert_eq!(name.as_str(), "erp-orders", "{results:?}");
        let report = report.as_ref().expect("poll succeeds").clone();
        let sent = queue.0.lock().unwrap().clone();
        let messages = sent
            .iter()
            .map(|m| crate::aws::Envelope::<ShipmentMessage>::parse("m", Some(&m.body)).unwrap().body)
            .collect();
        (report, messages)
    }

    /// Handles what a poll enqueued, as status-push does.
    async fn handle_all(&self, messages: &[ShipmentMessage], orders: &ModifiedOrders) {
        let mut ports = self.ports();
        ports.erp_orders = Some(orders);
        let ctx = PushContext { ports, owner: "test".into(), lease: Duration::from_secs(60), fan_out: None };
        for message in messages {
            handle_shipment_message(message, &ctx).await.unwrap();
        }
    }
}

#[tokio::test]
async fn the_poll_enqueues_a_changed_bound_order_once_so_its_note_reaches_the_channel_once() {
    let world = World::new(false, "wait").await;
    let codes = vec!["SC".to_owned()];
    let orders = ModifiedOrders::default();
    let at = world.clock.now();
    let note = "Customer called: leave at the back door";
    world.erp.set_state(&erp(1), "On Hold", Some(note));
    // SO000001 is bound to SC 500; SO000002 carries an Import ID but Orderbridge has no binding
    // for it; SO000003 was entered in the ERP (not an Import ID) and no storefront publishes.
    orders.orders.lock().unwrap().extend([
        sales_order(1, "SC-500", Some(note), at),
        sales_order(2, "SC-501", Some("Someone else's order"), at),
        sales_order(3, "PO-7", Some("An ERP order"), at),
    ]);

    let (report, messages) = world.poll_with(&orders, &codes).await;
    assert_eq!((report.seen, report.enqueued, report.already_pushed, report.not_ours), (3, 1, 0, 2), "{report:?}");
    assert_eq!(messages.len(), 1);
    assert!(matches!(&messages[0], ShipmentMessage::ErpOrderV1(m) if m.order.erp == erp(1)), "{messages:?}");
    assert_eq!(*orders.listings.lock().unwrap(), 1, "one ERP listing per poll");
    world.handle_all(&messages, &orders).await;
    assert_eq!(*world.targets.channel.notes.lock().unwrap(), vec![note]);

    // The same version again (the poll's overlap): nothing is enqueued.
    let (report, messages) = world.poll_with(&orders, &codes).await;
    assert_eq!((report.enqueued, report.already_pushed), (0, 1), "{report:?}");
    assert!(messages.is_empty());

    // The note edited (a new version): enqueued once, copied once.
    let edited = "Customer called again: ring twice";
    world.clock.advance(chrono::Duration::seconds(60));
    let later = world.clock.now();
    world.erp.set_state(&erp(1), "On Hold", Some(edited));
    orders.orders.lock().unwrap()[0] = sales_order(1, "SC-500", Some(edited), later);
    let (report, messages) = world.poll_with(&orders, &codes).await;
    assert_eq!(report.enqueued, 1, "{report:?}");
    world.handle_all(&messages, &orders).await;
    world.handle_all(&messages, &orders).await;
    assert_eq!(*world.targets.channel.notes.lock().unwrap(), vec![note, edited]);
}

#[tokio::test]
async fn the_note_the_import_wrote_is_not_echoed_by_the_poll() {
    let world = World::new(false, "wait").await;
    let codes = vec!["SC".to_owned()];
    let order = ChannelOrderId::new(code("SC"), "500").unwrap();
    let instructions = "Please gift wrap";
    // What the import remembers when it writes the buyer's instructions into the ERP note.
    world.ledger.remember_once(NOTE_SCOPE, &note_key(&conn(), &order, instructions), NOTE_MEMORY).await.unwrap();
    world.erp.set_state(&erp(1), "On Hold", Some(instructions));
    let orders = ModifiedOrders::default();
    orders.orders.lock().unwrap().push(sales_order(1, "SC-500", Some(instructions), world.clock.now()));
    let (report, messages) = world.poll_with(&orders, &codes).await;
    assert_eq!(report.enqueued, 1, "{report:?}");
    world.handle_all(&messages, &orders).await;
    assert!(world.targets.channel.notes.lock().unwrap().is_empty(), "the import's note came back");
}

#[tokio::test]
async fn channels_that_do_not_sync_notes_get_nothing_enqueued() {
    let mut world = World::new(false, "wait").await;
    world.targets.rules.sync_notes = false;
    let orders = ModifiedOrders::default();
    orders.orders.lock().unwrap().push(sales_order(1, "SC-500", Some("A note"), world.clock.now()));
    let (report, messages) = world.poll_with(&orders, &["SC".to_owned()]).await;
    assert_eq!((report.seen, report.enqueued, report.not_ours), (1, 0, 1), "{report:?}");
    assert!(messages.is_empty());
}

/// The messages a fan-out sent, parsed back as the consumer would.
fn sent_messages(queue: &MemoryQueue) -> Vec<ShipmentMessage> {
    queue
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|m| crate::ports::Envelope::<ShipmentMessage>::parse("m", Some(&m.body)).unwrap().body)
        .collect()
}

#[tokio::test]
async fn an_event_naming_many_shipments_is_split_into_one_message_each_and_each_pushes_once() {
    let world = World::new(true, "mark_shipped").await;
    let nbrs: Vec<String> = (10..10 + UNITS_INLINE as u32 + 3).map(|n| format!("{n:06}")).collect();
    for (i, nbr) in nbrs.iter().enumerate() {
        world.confirm(nbr, vec![package("1", &format!("1ZF{i}"), 1)], "Back Order");
    }
    let names: Vec<&str> = nbrs.iter().map(String::as_str).collect();
    let event = erp_event("big", &names, &["SO/SO000001"]);
    let queue = MemoryQueue::default();
    let ctx = PushContext { fan_out: Some(&queue), ..world.ctx() };

    let outcomes = handle_shipment_message(&event, &ctx).await.unwrap();
    assert!(
        matches!(&outcomes[..], [PushOutcome::FannedOut { messages, .. }] if *messages == nbrs.len() + 1),
        "{outcomes:?}"
    );
    assert!(world.pushed_tracking().is_empty(), "nothing is pushed by the event that was split");
    let parts = sent_messages(&queue);
    assert_eq!(parts.len(), nbrs.len() + 1);
    for part in &parts {
        let ShipmentMessage::WebhookEventV2(WebhookEvent { event, dedupe_key }) = part else { panic!("{part:?}") };
        assert!(dedupe_key.starts_with("erp:big#"), "{dedupe_key}");
        let crate::ports::InboundEvent::ErpChanged { shipments, orders, .. } = event else { panic!("{event:?}") };
        assert_eq!(shipments.len() + orders.len(), 1, "one unit per message: {event:?}");
    }
    // Each part handled (twice: a redelivered part pushes nothing more), the parts split no further.
    for part in parts.iter().chain(parts.iter()) {
        handle_shipment_message(part, &ctx).await.unwrap();
    }
    assert_eq!(sent_messages(&queue).len(), nbrs.len() + 1);
    let mut tracking = world.pushed_tracking();
    tracking.sort();
    let mut expected: Vec<String> = (0..nbrs.len()).map(|i| format!("1ZF{i}")).collect();
    expected.sort();
    assert_eq!(tracking, expected);
}

#[tokio::test]
async fn a_small_event_is_handled_inline_and_a_large_stock_change_goes_in_chunks() {
    let world = World::new(true, "mark_shipped").await;
    world.confirm("000010", vec![package("1", "1ZA1", 1)], "Back Order");
    let queue = MemoryQueue::default();
    let ctx = PushContext { fan_out: Some(&queue), ..world.ctx() };
    let outcomes = handle_shipment_message(&erp_event("small", &["000010"], &[]), &ctx).await.unwrap();
    assert!(matches!(outcomes[..], [PushOutcome::Pushed { .. }]), "{outcomes:?}");
    assert!(queue.0.lock().unwrap().is_empty());

    let items: Vec<String> = (0..STOCK_ITEMS_PER_MESSAGE * 2 + 1).map(|i| format!("ITEM-{i}")).collect();
    let stock = WebhookEvent {
        dedupe_key: "stock:1".into(),
        event: crate::ports::InboundEvent::StockChanged { items: items.clone() },
    };
    let parts = split_event(&stock).expect("more items than one message takes");
    assert_eq!(parts.len(), 3);
    let rejoined: Vec<String> = parts
        .iter()
        .flat_map(|p| match &p.event {
            crate::ports::InboundEvent::StockChanged { items } => {
                assert!(items.len() <= STOCK_ITEMS_PER_MESSAGE);
                items.clone()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(rejoined, items, "every item once, in order");
    let few = WebhookEvent {
        dedupe_key: "stock:2".into(),
        event: crate::ports::InboundEvent::StockChanged { items: items[..STOCK_ITEMS_PER_MESSAGE].to_vec() },
    };
    assert!(split_event(&few).is_none());
}

/// A shipping tool whose webhook resource lists these shipments.
struct FakeTool(Vec<(crate::ports::ShippingToolOrder, Shipment)>);

#[async_trait]
impl crate::ports::ShippingTool for FakeTool {
    async fn shipments_at(&self, _: &str) -> Result<Vec<(crate::ports::ShippingToolOrder, Shipment)>, ConnectorError> {
        Ok(self.0.clone())
    }
    async fn shipments_since(
        &self,
        _: DateTime<Utc>,
    ) -> Result<Vec<(crate::ports::ShippingToolOrder, Shipment)>, ConnectorError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn a_shipping_tool_batch_of_many_labels_is_read_once_and_split_into_one_push_each() {
    let mut world = World::new(false, "mark_shipped").await;
    world.stores.insert(1, conn());
    world.erp.set_state(&erp(1), "Back Order", None);
    let labels = UNITS_INLINE + 2;
    let tool = FakeTool(
        (0..labels)
            .map(|i| {
                let order =
                    crate::ports::ShippingToolOrder { store_id: Some(1), order_number: "500".into(), order_key: None };
                let mut label = shipment(&format!("SS{i}"), vec![package("1", &format!("1ZT{i}"), 1)]);
                label.source = ShipmentSource::new(code("SS"), format!("{}", 9000 + i));
                (order, label)
            })
            .collect(),
    );
    let queue = MemoryQueue::default();
    let ctx = PushContext {
        ports: ShipmentPorts { tool: Some(&tool), ..world.ports() },
        owner: "test".into(),
        lease: Duration::from_secs(60),
        fan_out: Some(&queue),
    };
    let event = ShipmentMessage::WebhookEventV2(WebhookEvent {
        dedupe_key: "ss:batch".into(),
        event: crate::ports::InboundEvent::ToolBatchReady { resource_url: "https://ssapi.example/shipments".into() },
    });
    let outcomes = handle_shipment_message(&event, &ctx).await.unwrap();
    assert!(matches!(&outcomes[..], [PushOutcome::FannedOut { messages, .. }] if *messages == labels), "{outcomes:?}");
    let parts = sent_messages(&queue);
    assert!(parts.iter().all(|p| matches!(
        p,
        ShipmentMessage::PushShipmentV1(PushShipment { origin: ShipmentOrigin::ShippingTool { .. }, .. })
    )));
    for part in parts.iter().chain(parts.iter()) {
        handle_shipment_message(part, &ctx).await.unwrap();
    }
    let mut tracking = world.pushed_tracking();
    tracking.sort();
    let mut expected: Vec<String> = (0..labels).map(|i| format!("1ZT{i}")).collect();
    expected.sort();
    assert_eq!(tracking, expected, "each label pushed once although every part came twice");
}

/// An ERP whose every item has 7 available, counting its reads.
#[derive(Default)]
struct SevenEach(Mutex<u32>);

#[async_trait]
impl crate::ports::ErpStock for SevenEach {
    async fn changed_since(&self, _: DateTime<Utc>) -> Result<Vec<crate::model::ChangedItem>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn available(&self, _: &str, _: &[String]) -> Result<Option<rust_decimal::Decimal>, ConnectorError> {
        *self.0.lock().unwrap() += 1;
        Ok(Some(7.into()))
    }
}

/// A storefront stock that deducts on shipment (or not), recording writes.
struct ShelfStore(bool, Mutex<Vec<crate::model::StockLevel>>);

#[async_trait]
impl crate::ports::StockPublisher for ShelfStore {
    async fn missing_items(&self, _: &[String]) -> Result<std::collections::BTreeSet<String>, ConnectorError> {
        Ok(Default::default())
    }
    async fn write_levels(&self, levels: &[crate::model::StockLevel]) -> Result<(), ConnectorError> {
        self.1.lock().unwrap().extend_from_slice(levels);
        Ok(())
    }
    fn deducts_on_shipment(&self) -> bool {
        self.0
    }
}

#[tokio::test]
async fn a_shipment_on_a_storefront_that_deducts_stock_sends_one_resync_of_its_items_and_the_resync_writes_them() {
    for deducts in [true, false] {
        let world = World::new(true, "mark_shipped").await;
        let erp_stock = SevenEach::default();
        let store = Arc::new(ShelfStore(deducts, Mutex::new(Vec::new())));
        let targets = vec![super::StockTarget {
            connection: conn(),
            enabled: true,
            publisher: store.clone(),
            sync: crate::model::StockSync::default(),
        }];
        let stock = super::StockPorts {
            erp: &erp_stock,
            levels: &world.ledger,
            cursors: &world.ledger,
            log: &world.log,
            clock: &world.clock,
            targets: &targets,
            overlap: chrono::Duration::minutes(10),
        };
        world.confirm("000010", vec![package("1", "1ZR1", 1), package("2", "1ZR2", 2)], "Completed");
        let queue = MemoryQueue::default();
        let ctx = PushContext {
            ports: ShipmentPorts { stock: Some(stock), ..world.ports() },
            fan_out: Some(&queue),
            ..world.ctx()
        };
        let outcomes = handle_shipment_message(&erp_event("one", &["000010"], &[]), &ctx).await.unwrap();
        assert!(matches!(outcomes[..], [PushOutcome::Pushed { .. }]), "{outcomes:?}");
        let sent = sent_messages(&queue);
        if !deducts {
            assert!(sent.is_empty(), "a storefront whose stock shipments leave alone gets no resync: {sent:?}");
            continue;
        }
        let [ShipmentMessage::StockResyncV1(resync)] = &sent[..] else { panic!("{sent:?}") };
        assert_eq!((resync.connection.clone(), resync.items.clone()), (conn(), vec!["WIDGET".to_owned()]));
        // The same event again pushes nothing and sends nothing more.
        handle_shipment_message(&erp_event("one", &["000010"], &[]), &ctx).await.unwrap();
        assert_eq!(sent_messages(&queue).len(), 1);
        // Handled twice (redelivered), it writes the ERP's level each time.
        handle_shipment_message(&sent[0], &ctx).await.unwrap();
        handle_shipment_message(&sent[0], &ctx).await.unwrap();
        let written = store.1.lock().unwrap().clone();
        assert_eq!(written.len(), 2, "{written:?}");
        assert!(written.iter().all(|l| l.item == "WIDGET" && l.available == 7.into()));
    }
}

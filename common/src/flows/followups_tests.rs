//! Follow-ups over in-memory ports: charges written only when they change, read in bulk within the
//! call cap, stopped after the age after shipment, deferred behind an import backlog; the purge
//! removes personal data of orders shipped long enough ago and nothing else.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Duration;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::model::{
    ChannelOrderId, ChargeSync, ConnectionId, ErpOrderNbr, ErpOrderRef, ErpOrderType, OrderCharges, PersonalData,
    SystemCode,
};
use crate::ports::{
    Backlog, ChargeSource, ClaimKey, Claims, ConnectorError, ConnectorLog, Direction, ErpCharges, FollowedOrder,
    FollowedOrders, LogEntry, LogGroup, LogResult, QueueError,
};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog};

fn id(n: i64) -> ChannelOrderId {
    ChannelOrderId::new(SystemCode::parse("SC").unwrap(), n.to_string()).unwrap()
}

fn erp(n: i64) -> ErpOrderRef {
    ErpOrderRef {
        order_type: ErpOrderType::parse("SO").unwrap(),
        order_nbr: ErpOrderNbr::parse(format!("SO{n:06}")).unwrap(),
    }
}

#[derive(Default)]
struct Channel {
    charges: Mutex<BTreeMap<ChannelOrderId, OrderCharges>>,
    calls: Mutex<Vec<usize>>,
}

impl Channel {
    fn set(
        &self,
        n: i64,
        commission: Option<Decimal>,
        profit: Decimal,
        shipped: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let values = BTreeMap::from([("Comission".to_owned(), commission), ("ProfitLoss".to_owned(), Some(profit))]);
        self.charges
            .lock()
            .unwrap()
            .insert(id(n), OrderCharges { order: id(n), shipped_at: shipped, settled: commission.is_some(), values });
    }
}

#[async_trait]
impl ChargeSource for Channel {
    async fn order_charges(&self, orders: &[ChannelOrderId]) -> Result<Vec<OrderCharges>, ConnectorError> {
        self.calls.lock().unwrap().push(orders.len());
        let all = self.charges.lock().unwrap();
        Ok(orders.iter().filter_map(|o| all.get(o).cloned()).collect())
    }
}

#[derive(Default)]
struct Erp {
    writes: Mutex<Vec<(ErpOrderRef, BTreeMap<String, Decimal>)>>,
}

#[async_trait]
impl ErpCharges for Erp {
    async fn write_charges(&self, erp: &ErpOrderRef, values: &BTreeMap<String, Decimal>) -> Result<(), ConnectorError> {
        self.writes.lock().unwrap().push((erp.clone(), values.clone()));
        Ok(())
    }
}

struct Waiting(u64);

#[async_trait]
impl Backlog for Waiting {
    async fn waiting(&self) -> Result<u64, QueueError> {
        Ok(self.0)
    }
}

struct World {
    connection: ConnectionId,
    ledger: MemoryLedger,
    log: MemoryLog,
    clock: ManualClock,
    channel: Channel,
    erp: Erp,
}

impl World {
    fn new() -> Self {
        Self {
            connection: ConnectionId::parse("sc-main").unwrap(),
            ledger: MemoryLedger::default(),
            log: MemoryLog::default(),
            clock: ManualClock::new(),
            channel: Channel::default(),
            erp: Erp::default(),
        }
    }

    fn ctx<'a>(&'a self, imports: Option<&'a dyn Backlog>) -> FollowupContext<'a> {
        FollowupContext {
            followed: &self.ledger,
            cursors: &self.ledger,
            claims: &self.ledger,
            log: &self.log,
            clock: &self.clock,
            erp: &self.erp,
            imports,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(600),
        }
    }

    async fn follow(&self, n: i64, personal: Option<PersonalData>) {
        let order = FollowedOrder {
            connection: self.connection.clone(),
            channel_order_id: id(n),
            display_number: format!("AMZ-{n}"),
            erp: erp(n),
            imported_at: self.clock.now(),
            shipped_at: None,
            charges: BTreeMap::new(),
            charges_checked_at: None,
            charges_done: false,
            personal,
            purged_at: None,
        };
        self.ledger.follow(&order).await.unwrap();
    }

    fn writes(&self) -> usize {
        self.erp.writes.lock().unwrap().len()
    }

    fn calls(&self) -> Vec<usize> {
        std::mem::take(&mut *self.channel.calls.lock().unwrap())
    }
}

use crate::ports::Clock;

fn sync(per_call: usize, max_calls: u32) -> ChargeSync {
    ChargeSync {
        fields: BTreeMap::from([
            ("Comission".to_owned(), "UsrSCCommission".to_owned()),
            ("ProfitLoss".to_owned(), "UsrSCProfit".to_owned()),
        ]),
        stop_after_days: 30,
        unshipped_days: 90,
        orders_per_call: per_call,
        max_calls_per_run: max_calls,
        max_writes_per_run: 40,
    }
}

#[tokio::test]
async fn charges_are_written_once_and_again_only_when_they_change_and_an_unknown_charge_is_not_written() {
    let w = World::new();
    for n in 1..=3 {
        w.follow(n, None).await;
    }
    w.channel.set(1, Some(dec!(15.00)), dec!(40.10), None);
    w.channel.set(2, None, dec!(22.00), None); // unsettled: commission N/A
    w.channel.set(3, Some(dec!(3.50)), dec!(9.99), None);
    let s = sync(50, 20);

    let first = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!((first.calls, first.read, first.written), (1, 3, 3), "{first:?}");
    assert_eq!(w.calls(), vec![3], "one bulk call for three orders");
    let writes = w.erp.writes.lock().unwrap().clone();
    assert_eq!(
        writes[0].1,
        BTreeMap::from([("UsrSCCommission".into(), dec!(15.00)), ("UsrSCProfit".into(), dec!(40.10))])
    );
    assert_eq!(writes[1].1, BTreeMap::from([("UsrSCProfit".into(), dec!(22.00))]), "N/A commission not written");

    let quiet = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!((quiet.calls, quiet.written, quiet.unchanged), (1, 0, 3), "{quiet:?}");
    assert_eq!(w.writes(), 3);

    // Amazon settles order 2: only its commission and profit change, and only they are written.
    w.channel.set(2, Some(dec!(3.30)), dec!(18.70), None);
    let settled = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!(settled.written, 1);
    let last = w.erp.writes.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.0, erp(2));
    assert_eq!(last.1, BTreeMap::from([("UsrSCCommission".into(), dec!(3.30)), ("UsrSCProfit".into(), dec!(18.70))]));
    let logged: Vec<LogEntry> =
        w.log.0.lock().unwrap().iter().filter(|e| e.action == "write_charges").cloned().collect();
    assert_eq!(logged.len(), 4);
    assert!(logged[3].notes.contains("ProfitLoss 22.00 → 18.70 (UsrSCProfit)"), "{}", logged[3].notes);
}

#[tokio::test]
async fn polling_stops_after_the_age_after_shipment_and_unshipped_orders_after_their_own_limit() {
    let w = World::new();
    w.follow(1, None).await;
    w.follow(2, None).await;
    let shipped = w.clock.now();
    w.channel.set(1, Some(dec!(1)), dec!(1), Some(shipped));
    w.channel.set(2, Some(dec!(2)), dec!(2), None);
    let s = sync(50, 20);
    poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!(w.calls(), vec![2]);
    let one = w.ledger.followed_order(&w.connection, &id(1)).await.unwrap().unwrap();
    assert_eq!(one.shipped_at, Some(shipped), "the channel's ship date is kept");

    // 30 days after shipment: still read; one more day: no longer.
    w.clock.advance(Duration::days(30));
    poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!(w.calls(), vec![2]);
    w.clock.advance(Duration::days(1));
    let report = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!(report.stopped, 1);
    assert_eq!(w.calls(), vec![1], "only the unshipped order is read");
    // The unshipped order stops 90 days after its import.
    w.clock.advance(Duration::days(60));
    let report = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!((report.stopped, report.calls), (1, 0));
    let again = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!((again.stopped, again.calls), (0, 0), "stopped orders cost nothing");
    assert!(w.calls().is_empty());
}

#[tokio::test]
async fn a_pass_keeps_to_its_call_cap_and_the_next_one_goes_on_where_it_stopped() {
    let w = World::new();
    for n in 1..=7 {
        w.follow(n, None).await;
        w.channel.set(n, Some(dec!(1)), Decimal::from(n), None);
    }
    let s = sync(2, 2);
    let first = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!(first.calls, 2);
    assert_eq!(w.calls(), vec![2, 2]);
    let second = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!(w.calls(), vec![2, 1], "the rest, then the listing ends");
    assert_eq!(first.written + second.written, 7, "every order read once across the passes");
    poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!(w.calls(), vec![2, 2], "the next pass starts over");
}

#[tokio::test]
async fn orders_waiting_to_be_imported_defer_the_pass_without_a_call() {
    let w = World::new();
    w.follow(1, None).await;
    w.channel.set(1, Some(dec!(1)), dec!(1), None);
    let backlog = Waiting(37);
    let report = poll_charges(&w.connection, &w.channel, &sync(50, 20), &w.ctx(Some(&backlog))).await.unwrap();
    assert_eq!(report.calls, 0);
    assert!(report.deferred.as_deref().is_some_and(|d| d.contains("37 orders")), "{report:?}");
    assert!(w.calls().is_empty());
    let empty = Waiting(0);
    let report = poll_charges(&w.connection, &w.channel, &sync(50, 20), &w.ctx(Some(&empty))).await.unwrap();
    assert_eq!(report.calls, 1);
}

fn ada() -> PersonalData {
    PersonalData {
        names: vec!["Ada Lovelace".into()],
        emails: vec!["ada@example.com".into()],
        phones: vec!["+1 555 0100".into()],
        street_lines: vec!["12 Analytical Engine Way".into()],
    }
}

fn grace() -> PersonalData {
    PersonalData { names: vec!["Grace Hopper".into()], emails: vec!["grace@example.com".into()], ..Default::default() }
}

async fn log(w: &World, entity: &str, notes: &str) {
    let now = w.clock.now();
    let entry = LogEntry {
        id: uuid::Uuid::new_v4(),
        connection: w.connection.clone(),
        group: LogGroup::Orders,
        action: "import_order".into(),
        direction: Direction::Import,
        result: LogResult::Success,
        entity_id: entity.into(),
        notes: notes.into(),
        started_at: now,
        completed_at: now,
        correlation_id: None,
        queued_at: None,
    };
    w.log.record(&entry).await.unwrap();
}

#[tokio::test]
async fn the_purge_removes_personal_data_of_orders_shipped_long_enough_ago_and_leaves_recent_ones() {
    let w = World::new();
    w.follow(1, Some(ada())).await;
    w.follow(2, Some(grace())).await;
    log(&w, "SC-1", "Created SO/SO000001 for Amazon order AMZ-1 of Ada Lovelace (1 lines, total 10).").await;
    log(&w, "ada@example.com", "Customer ada@example.com created, phone +1 555 0100.").await;
    log(&w, "SC-2", "Created SO/SO000002 for Amazon order AMZ-2 of Grace Hopper (1 lines, total 10).").await;
    // A failure the import recorded quotes the buyer.
    let key = ClaimKey::import(&crate::model::ImportKey::new(w.connection.clone(), id(1)));
    let lease = match w.ledger.claim(&key, "t", std::time::Duration::from_secs(60)).await.unwrap() {
        crate::ports::ClaimOutcome::Acquired(l) => l,
        other => panic!("{other:?}"),
    };
    w.ledger.fail(&lease, "customer \"ada@example.com\": no ERP customer").await.unwrap();

    w.ledger.mark_shipped(&w.connection, &id(1), w.clock.now()).await.unwrap();
    w.clock.advance(Duration::days(20));
    w.ledger.mark_shipped(&w.connection, &id(2), w.clock.now()).await.unwrap();

    // 29 days after order 1 shipped: nothing yet.
    w.clock.advance(Duration::days(9));
    let early = purge_personal_data(&w.connection, 30, &w.ctx(None)).await.unwrap();
    assert_eq!(early.purged, 0);

    w.clock.advance(Duration::days(2));
    let report = purge_personal_data(&w.connection, 30, &w.ctx(None)).await.unwrap();
    assert_eq!((report.purged, report.log_entries, report.claims), (1, 2, 1), "{report:?}");
    let entries = w.log.0.lock().unwrap().clone();
    let all_text: String = entries.iter().map(|e| format!("{} {}\n", e.entity_id, e.notes)).collect();
    for value in ada().values() {
        assert!(!all_text.to_lowercase().contains(&value.to_lowercase()), "{value} left in:\n{all_text}");
    }
    assert!(all_text.contains("Grace Hopper"), "the recent order is intact");
    assert!(all_text.contains("Created SO/SO000001 for Amazon order AMZ-1 of [removed]"), "{all_text}");
    assert!(entries.iter().any(|e| e.action == "purge_personal_data" && e.entity_id == "SC-1"));
    let failure = w.ledger.claim_record(&key).await.unwrap().unwrap().failure.unwrap();
    assert_eq!(failure, "customer \"[removed]\": no ERP customer");
    let one = w.ledger.followed_order(&w.connection, &id(1)).await.unwrap().unwrap();
    assert!(one.personal.is_none() && one.purged_at.is_some());
    assert_eq!(one.erp, erp(1), "ids kept");
    let two = w.ledger.followed_order(&w.connection, &id(2)).await.unwrap().unwrap();
    assert_eq!(two.personal, Some(grace()));

    // Idempotent: a second pass changes nothing.
    let count = w.log.0.lock().unwrap().len();
    let again = purge_personal_data(&w.connection, 30, &w.ctx(None)).await.unwrap();
    assert_eq!(again.purged, 0);
    assert_eq!(w.log.0.lock().unwrap().len(), count);
}

#[tokio::test]
async fn the_write_cap_postpones_the_rest_of_a_batch_to_the_next_pass_without_losing_an_order() {
    let w = World::new();
    for n in 1..=5 {
        w.follow(n, None).await;
        w.channel.set(n, Some(dec!(1)), Decimal::from(n), None);
    }
    let mut s = sync(50, 20);
    s.max_writes_per_run = 2;
    let mut written = Vec::new();
    for pass in 1..=3 {
        let report = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
        written.push(report.written);
        assert_eq!(report.postponed, pass < 3, "pass {pass}: {report:?}");
    }
    assert_eq!(written, vec![2, 2, 1]);
    let orders: Vec<ErpOrderRef> = w.erp.writes.lock().unwrap().iter().map(|(e, _)| e.clone()).collect();
    assert_eq!(orders, (1..=5).map(erp).collect::<Vec<_>>(), "each order written once, in order");
    let quiet = poll_charges(&w.connection, &w.channel, &s, &w.ctx(None)).await.unwrap();
    assert_eq!((quiet.written, quiet.unchanged, quiet.postponed), (0, 5, false));
}

/// A DynamoDB write per order per pass would cost more than the rest of the system: the record is
/// written only when a pass changes it.
#[tokio::test]
async fn a_pass_that_changes_nothing_writes_no_followed_record() {
    struct CountingSaves<'a>(&'a MemoryLedger, std::sync::atomic::AtomicU32);
    #[async_trait]
    impl FollowedOrders for CountingSaves<'_> {
        async fn follow(&self, o: &FollowedOrder) -> Result<(), crate::ports::LedgerError> {
            self.0.follow(o).await
        }
        async fn followed(
            &self,
            c: &ConnectionId,
            a: Option<&ChannelOrderId>,
            l: usize,
        ) -> Result<Vec<FollowedOrder>, crate::ports::LedgerError> {
            self.0.followed(c, a, l).await
        }
        async fn followed_order(
            &self,
            c: &ConnectionId,
            o: &ChannelOrderId,
        ) -> Result<Option<FollowedOrder>, crate::ports::LedgerError> {
            self.0.followed_order(c, o).await
        }
        async fn save_followed(&self, o: &FollowedOrder) -> Result<(), crate::ports::LedgerError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.save_followed(o).await
        }
        async fn mark_shipped(
            &self,
            c: &ConnectionId,
            o: &ChannelOrderId,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), crate::ports::LedgerError> {
            self.0.mark_shipped(c, o, at).await
        }
    }
    let w = World::new();
    for n in 1..=3 {
        w.follow(n, None).await;
        w.channel.set(n, Some(dec!(1)), dec!(2), None);
    }
    let saves = CountingSaves(&w.ledger, Default::default());
    let ctx = FollowupContext { followed: &saves, ..w.ctx(None) };
    poll_charges(&w.connection, &w.channel, &sync(50, 20), &ctx).await.unwrap();
    assert_eq!(saves.1.load(std::sync::atomic::Ordering::SeqCst), 3, "each order written once");
    poll_charges(&w.connection, &w.channel, &sync(50, 20), &ctx).await.unwrap();
    assert_eq!(saves.1.load(std::sync::atomic::Ordering::SeqCst), 3, "nothing changed: no write");
}

//! Flow tests over in-memory ports: the exactly-once protocol under lost responses, crashes,
//! contention, unmapped values and resumed pulls.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;

use super::*;
use crate::connectors::ConnectorError;
use crate::mapping::{Mapping, SalesOrderDraft};
use crate::model::fixtures;
use crate::model::{
    ChannelOrderId, ConnectionId, Customer, ErpCustomerId, ErpItemId, ErpOrderNbr, ErpOrderRef, ErpOrderType,
    IdentifierKind, ImportKey, Order,
};
use crate::ports::Clock;
use crate::ports::{
    Acknowledgement, Bindings, ClaimKey, ClaimOutcome, ClaimStatus, Claims, Cursors, CustomerBindings, CustomerLookup,
    ListedOrder, MappingStore, OrderPage, OrderSink, OrderSource, PageToken,
};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog, MemoryQueue};

const MAPPING: &str = r#"
[order_types]
default = "SO"
[payment_methods]
"Amazon Pay" = "AMAZONPAY"
[shipping_methods]
Standard = "UPSGROUND"
[customers]
id_prefix = "SC"
[items]
identifier_priority = ["sku"]
[taxes]
tax_id = "CHANNELTAX"
[dates]
time_zone = "UTC"
"#;

fn mapping(version: u64, source: &str) -> Mapping {
    Mapping::parse("mappings/sc-main.toml", version, source).unwrap()
}

fn order(id: i64) -> Order {
    let mut o = fixtures::order();
    o.channel_order_id = ChannelOrderId::new(crate::model::SystemCode::parse("SC").unwrap(), id.to_string()).unwrap();
    o.display_number = format!("AMZ-{id}");
    o.shipping.method = "Standard".into();
    o
}

/// A channel that lists orders not yet acknowledged, two per page.
struct FakeSource {
    connection: ConnectionId,
    orders: Vec<Order>,
    exported: Mutex<HashSet<ChannelOrderId>>,
    acks: Mutex<Vec<Acknowledgement>>,
    fail_next_page: AtomicBool,
}

impl FakeSource {
    fn new(n: i64) -> Self {
        Self {
            connection: ConnectionId::parse("sc-main").unwrap(),
            orders: (1..=n).map(order).collect(),
            exported: Mutex::new(HashSet::new()),
            acks: Mutex::new(Vec::new()),
            fail_next_page: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl OrderSource for FakeSource {
    fn connection(&self) -> &ConnectionId {
        &self.connection
    }

    async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        if self.fail_next_page.swap(false, Ordering::SeqCst) {
            return Err(ConnectorError::Status {
                vendor: "fake",
                operation: "list",
                status: 503,
                message: "unavailable".into(),
                retry_after: None,
            });
        }
        let exported = self.exported.lock().unwrap().clone();
        let open: Vec<&Order> = self.orders.iter().filter(|o| !exported.contains(&o.channel_order_id)).collect();
        let start: usize = page.map_or(0, |p| p.0.parse().unwrap());
        let items: Vec<ListedOrder> =
            open.iter().skip(start).take(2).map(|o| ListedOrder::Whole(Box::new((*o).clone()))).collect();
        let next = (start + 2 < open.len()).then(|| PageToken((start + 2).to_string()));
        Ok(OrderPage { orders: items, next, restart: None })
    }

    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        Ok(self.orders.iter().find(|o| &o.channel_order_id == id).cloned().unwrap())
    }

    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        for ack in acks {
            if let Acknowledgement::Imported { order, .. } = ack {
                self.exported.lock().unwrap().insert(order.clone());
            }
        }
        self.acks.lock().unwrap().extend(acks.iter().cloned());
        Ok(Vec::new())
    }
}

/// An ERP that can lose the response of a create it committed.
#[derive(Default)]
struct FakeErp {
    created: Mutex<Vec<SalesOrderDraft>>,
    /// When set, no customer is found and creates record (id, class) here.
    no_customers: AtomicBool,
    customers_created: Mutex<Vec<(String, Option<String>)>>,
    lose_next_response: AtomicBool,
    next_nbr: AtomicU32,
    lookups: AtomicU32,
    /// Orders updated after a change in the channel.
    updated: Mutex<Vec<(ErpOrderRef, SalesOrderDraft)>>,
    /// When set, every ERP order has shipped: updates are refused.
    shipped: AtomicBool,
    /// Customer lookups answered.
    customer_lookups: AtomicU32,
    /// When set, the next create is refused for good (as a deleted customer makes the ERP do).
    refuse_next_create: AtomicBool,
    /// When set, every create finds the connection's credentials refused.
    credentials_refused: AtomicBool,
    /// The lookups of each customer prefetch asked for.
    prefetched: Mutex<Vec<Vec<String>>>,
}

#[async_trait]
impl OrderSink for FakeErp {
    type Draft = SalesOrderDraft;

    fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<crate::model::ErpCustomerId> {
        let id = customer.channel_customer_id.as_deref()?;
        crate::model::ErpCustomerId::parse(format!("{prefix}{id}")).ok()
    }

    async fn find_by_import_id(&self, import_id: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let created = self.created.lock().unwrap();
        Ok(created.iter().position(|d| d.import_id == import_id).map(|i| erp_ref(i as u32 + 1)))
    }

    async fn create_order(&self, draft: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
        if self.credentials_refused.load(Ordering::SeqCst) {
            return Err(ConnectorError::Unauthorized {
                vendor: "fake",
                operation: "sign in (OAuth)",
                connection: "erp".into(),
                message: "invalid_client".into(),
            });
        }
        if self.refuse_next_create.swap(false, Ordering::SeqCst) {
            return Err(ConnectorError::Rejected {
                vendor: "fake",
                operation: "create",
                message: format!("CustomerID: '{}' cannot be found in the system.", draft.customer_id),
            });
        }
        self.created.lock().unwrap().push(draft.clone());
        let nbr = self.next_nbr.fetch_add(1, Ordering::SeqCst) + 1;
        if self.lose_next_response.swap(false, Ordering::SeqCst) {
            return Err(ConnectorError::Status {
                vendor: "fake",
                operation: "create",
                status: 502,
                message: "connection dropped".into(),
                retry_after: None,
            });
        }
        Ok(erp_ref(nbr))
    }

    async fn find_customer(&self, _: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
        self.customer_lookups.fetch_add(1, Ordering::SeqCst);
        if self.no_customers.load(Ordering::SeqCst) {
            return Ok(None);
        }
        Ok(Some(ErpCustomerId::parse("SC77").unwrap()))
    }

    async fn prefetch_customers(&self, lookups: &[CustomerLookup<'_>]) -> Result<(), ConnectorError> {
        self.prefetched.lock().unwrap().push(lookups.iter().map(|l| format!("{l:?}")).collect());
        Ok(())
    }

    async fn create_customer(
        &self,
        id: &ErpCustomerId,
        _: &Customer,
        _: &Order,
        class: Option<&str>,
    ) -> Result<ErpCustomerId, ConnectorError> {
        self.customers_created.lock().unwrap().push((id.to_string(), class.map(str::to_owned)));
        Ok(id.clone())
    }

    async fn resolve_item(&self, _: IdentifierKind, value: &str) -> Result<Option<ErpItemId>, ConnectorError> {
        Ok(Some(ErpItemId::parse(value).unwrap()))
    }

    async fn update_order(
        &self,
        erp: &ErpOrderRef,
        draft: &SalesOrderDraft,
    ) -> Result<Result<(), String>, ConnectorError> {
        if self.shipped.load(Ordering::SeqCst) {
            return Ok(Err(format!("ERP order {erp} is Completed")));
        }
        self.updated.lock().unwrap().push((erp.clone(), draft.clone()));
        Ok(Ok(()))
    }
}

fn erp_ref(n: u32) -> ErpOrderRef {
    ErpOrderRef {
        order_type: ErpOrderType::parse("SO").unwrap(),
        order_nbr: ErpOrderNbr::parse(format!("SO{n:06}")).unwrap(),
    }
}

struct World {
    ledger: MemoryLedger,
    log: MemoryLog,
    queue: MemoryQueue,
    clock: ManualClock,
    erp: FakeErp,
}

impl World {
    fn new() -> Self {
        Self {
            ledger: MemoryLedger::default(),
            log: MemoryLog::default(),
            queue: MemoryQueue::default(),
            clock: ManualClock::new(),
            erp: FakeErp::default(),
        }
    }

    fn import_ctx<'a>(&'a self, mapping: &'a Mapping, owner: &str) -> ImportContext<'a> {
        ImportContext {
            claims: &self.ledger,
            bindings: &self.ledger,
            markers: &self.ledger,
            log: &self.log,
            clock: &self.clock,
            sink: &self.erp,
            mapping,
            owner: owner.into(),
            lease: Duration::from_secs(60),
            follow: Some(&self.ledger),
            enqueued_at: None,
            buyers: None,
        }
    }

    fn pull_ctx(&self, mapping_version: u64) -> PullContext<'_> {
        PullContext {
            claims: &self.ledger,
            bindings: &self.ledger,
            cursors: &self.ledger,
            markers: &self.ledger,
            queue: &self.queue,
            log: &self.log,
            clock: &self.clock,
            mapping_version,
            enqueued_ttl: Duration::from_secs(900),
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }

    fn queued(&self) -> Vec<ImportOrder> {
        self.queue
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|m| match crate::aws::Envelope::<OrderMessage>::parse("m", Some(&m.body)).unwrap().body {
                OrderMessage::ImportOrderV1(msg) => msg,
                OrderMessage::ImportCustomerV1(msg) => panic!("a customer message among orders: {msg:?}"),
                OrderMessage::BackfillPageV1(msg) => panic!("a backfill page among orders: {msg:?}"),
            })
            .collect()
    }
}

fn message(id: i64) -> ImportOrder {
    ImportOrder {
        connection: ConnectionId::parse("sc-main").unwrap(),
        order: ListedOrder::Whole(Box::new(order(id))),
        announced: false,
    }
}

#[tokio::test]
async fn a_redelivered_message_does_not_create_a_second_order() {
    let world = World::new();
    let source = FakeSource::new(1);
    let m = mapping(1, MAPPING);
    let first = import_order(&source, &message(1), &world.import_ctx(&m, "a")).await.unwrap();
    assert!(matches!(first, ImportOutcome::Created { .. }));
    assert_eq!(world.erp.lookups.load(Ordering::SeqCst), 0, "a first attempt has nothing to look for");
    let second = import_order(&source, &message(1), &world.import_ctx(&m, "b")).await.unwrap();
    assert_eq!(second, ImportOutcome::AlreadyImported(erp_ref(1)));
    assert_eq!(world.erp.created.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_order_changed_after_its_import_updates_the_open_erp_order_once() {
    let world = World::new();
    let source = FakeSource::new(1);
    let m = mapping(1, MAPPING);
    import_order(&source, &message(1), &world.import_ctx(&m, "a")).await.unwrap();
    // Listed again unchanged: a lost acknowledgement, acknowledged again.
    let same = import_order(&source, &message(1), &world.import_ctx(&m, "b")).await.unwrap();
    assert_eq!(same, ImportOutcome::AlreadyImported(erp_ref(1)));
    // Changed in the channel and reset to new: the ERP order is updated, once.
    let mut changed = message(1);
    let ListedOrder::Whole(order) = &mut changed.order else { unreachable!() };
    order.ship_to.line1 = "9 New Street".into();
    order.notes.gift_message = Some("Happy birthday".into());
    order.channel_status = "reset".into();
    let revised = import_order(&source, &changed, &world.import_ctx(&m, "c")).await.unwrap();
    assert_eq!(revised, ImportOutcome::Revised(erp_ref(1)));
    let ack = revised.acknowledgement(changed.order.id(), changed.order.digest()).unwrap();
    assert!(matches!(&ack, Acknowledgement::Imported { remark: Some(r), .. } if r.contains("applied")), "{ack:?}");
    let redelivered = import_order(&source, &changed, &world.import_ctx(&m, "d")).await.unwrap();
    assert_eq!(redelivered, ImportOutcome::AlreadyImported(erp_ref(1)), "the binding now reflects the change");
    assert_eq!(world.erp.updated.lock().unwrap().len(), 1, "updated once");
    assert_eq!(world.erp.created.lock().unwrap().len(), 1, "never a second ERP order");

    // Shipped in the ERP, then changed again: left alone, the reason goes back to the channel.
    world.erp.shipped.store(true, Ordering::SeqCst);
    let ListedOrder::Whole(order) = &mut changed.order else { unreachable!() };
    order.notes.customer_instructions = Some("Leave at the back door".into());
    let refused = import_order(&source, &changed, &world.import_ctx(&m, "e")).await.unwrap();
    let ImportOutcome::NotRevised(erp, reason) = &refused else { panic!("{refused:?}") };
    assert_eq!((erp, reason.contains("Completed")), (&erp_ref(1), true));
    assert_eq!(world.erp.updated.lock().unwrap().len(), 1);
    let again = import_order(&source, &changed, &world.import_ctx(&m, "f")).await.unwrap();
    assert_eq!(again, ImportOutcome::AlreadyImported(erp_ref(1)), "the refusal is told once");
}

#[tokio::test]
async fn an_order_published_from_the_erp_is_never_imported_back() {
    let world = World::new();
    let source = FakeSource::new(1);
    let m = mapping(1, MAPPING);
    let msg = message(1);
    world
        .ledger
        .bind(&crate::ports::Binding {
            connection: msg.connection.clone(),
            channel_order_id: msg.order.id().clone(),
            display_number: "1".into(),
            erp: erp_ref(7),
            created_at: Utc::now(),
            origin: crate::ports::BindingOrigin::Erp,
            digest: None,
        })
        .await
        .unwrap();
    let outcome = import_order(&source, &msg, &world.import_ctx(&m, "a")).await.unwrap();
    assert_eq!(outcome, ImportOutcome::Published(erp_ref(7)));
    assert_eq!(outcome.acknowledgement(msg.order.id(), None), None, "nothing is written to the channel");
    assert!(world.erp.created.lock().unwrap().is_empty(), "no ERP order created");
    let again = import_order(&source, &msg, &world.import_ctx(&m, "b")).await.unwrap();
    assert_eq!(again, ImportOutcome::Published(erp_ref(7)), "a redelivery neither imports nor acknowledges");
    assert!(world.erp.created.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_new_buyer_is_created_in_the_customer_class_the_mapping_names() {
    let world = World::new();
    world.erp.no_customers.store(true, Ordering::SeqCst);
    let source = FakeSource::new(2);
    let with_class =
        mapping(1, &MAPPING.replace("id_prefix = \"SC\"", "id_prefix = \"SC\"\ncustomer_class = \"RETAIL\""));
    import_order(&source, &message(1), &world.import_ctx(&with_class, "a")).await.unwrap();
    let without = mapping(2, MAPPING);
    import_order(&source, &message(2), &world.import_ctx(&without, "b")).await.unwrap();
    let created = world.erp.customers_created.lock().unwrap().clone();
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(created[0].1.as_deref(), Some("RETAIL"), "the mapping's class is passed on");
    assert_eq!(created[1].1, None, "no class in the mapping: the connection's default applies");
}

#[tokio::test]
async fn a_repeat_buyer_costs_no_customer_lookup_until_the_erp_refuses_their_customer() {
    let world = World::new();
    let source = FakeSource::new(4);
    let m = mapping(1, MAPPING);
    let with_buyers = |owner: &str| ImportContext { buyers: Some(&world.ledger), ..world.import_ctx(&m, owner) };
    import_order(&source, &message(1), &with_buyers("a")).await.unwrap();
    import_order(&source, &message(2), &with_buyers("b")).await.unwrap();
    assert_eq!(world.erp.customer_lookups.load(Ordering::SeqCst), 1, "the second order of the buyer used the binding");
    let created = world.erp.created.lock().unwrap().clone();
    assert_eq!(created.len(), 2);
    assert_eq!(created[1].customer_id, created[0].customer_id, "the same customer");
    assert!(
        world.ledger.customers.lock().unwrap().keys().all(|(_, k)| k.starts_with("buyer#") && !k.contains('@')),
        "bound under a hash, never the email"
    );

    // The ERP refuses the next order naming the bound customer (deleted, merged, made inactive):
    // the binding is dropped and the order created at once with the customer looked up afresh.
    world.erp.refuse_next_create.store(true, Ordering::SeqCst);
    let retried = import_order(&source, &message(3), &with_buyers("c")).await.unwrap();
    assert!(matches!(retried, ImportOutcome::Created { .. }), "{retried:?}");
    assert_eq!(world.erp.customer_lookups.load(Ordering::SeqCst), 2, "looked up again after the refusal");
    assert_eq!(world.ledger.customers.lock().unwrap().len(), 1, "bound again to what the lookup found");
    import_order(&source, &message(4), &with_buyers("d")).await.unwrap();
    assert_eq!(world.erp.customer_lookups.load(Ordering::SeqCst), 2, "the new binding serves the next order");

    // A refusal without a binding involved is the order's recorded failure, as before.
    let fresh = ImportContext { buyers: None, ..world.import_ctx(&m, "e") };
    world.erp.refuse_next_create.store(true, Ordering::SeqCst);
    let refused = import_order(&FakeSource::new(5), &message(5), &fresh).await.unwrap();
    assert!(matches!(refused, ImportOutcome::Failed(_)), "{refused:?}");
}

#[tokio::test]
async fn a_marketplace_order_goes_to_its_sources_customer_with_no_lookup_create_or_binding() {
    let world = World::new();
    world.erp.no_customers.store(true, Ordering::SeqCst);
    let source = FakeSource::new(2);
    let m =
        mapping(1, &MAPPING.replace("id_prefix = \"SC\"", "id_prefix = \"SC\"\nby_source = { Amazon = \"AMAZON\" }"));
    let with_buyers = |owner: &str| ImportContext { buyers: Some(&world.ledger), ..world.import_ctx(&m, owner) };
    import_order(&source, &message(1), &with_buyers("a")).await.unwrap();
    let created = world.erp.created.lock().unwrap().clone();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].customer_id.as_str(), "AMAZON");
    assert_eq!(world.erp.customer_lookups.load(Ordering::SeqCst), 0, "no lookup");
    assert!(world.erp.customers_created.lock().unwrap().is_empty(), "no customer created");
    assert!(world.ledger.customers.lock().unwrap().is_empty(), "no buyer binding written");
    // Another source still gets a customer per buyer.
    let mut web = message(2);
    if let ListedOrder::Whole(order) = &mut web.order {
        order.order_source = crate::model::OrderSource("Website".into());
    }
    import_order(&source, &web, &with_buyers("b")).await.unwrap();
    assert_eq!(world.erp.customer_lookups.load(Ordering::SeqCst), 1);
    assert_eq!(world.erp.customers_created.lock().unwrap().len(), 1);
    // An id the ERP cannot take is refused when the mapping is read, naming the field.
    let bad = Mapping::parse(
        "mappings/sc-main.toml",
        2,
        &MAPPING.replace(
            "id_prefix = \"SC\"",
            "id_prefix = \"SC\"\nby_source = { Amazon = \"NOT A VALID CUSTOMER ID BECAUSE IT IS FAR TOO LONG\" }",
        ),
    );
    assert!(format!("{:?}", bad.err()).contains("customers.by_source"));
}

#[tokio::test]
async fn a_batch_looks_up_ahead_only_the_buyers_its_imports_would_look_up() {
    let world = World::new();
    let m =
        mapping(1, &MAPPING.replace("id_prefix = \"SC\"", "id_prefix = \"SC\"\nby_source = { Amazon = \"AMAZON\" }"));
    let connection = ConnectionId::parse("sc-main").unwrap();
    let buyer = |id: i64, source: &str| {
        let mut o = order(id);
        o.order_source = crate::model::OrderSource(source.into());
        o.customer.channel_customer_id = Some(format!("B{id}"));
        o.customer.email = Some(format!("buyer{id}@example.com"));
        o
    };
    let (marketplace, bound, new_a, new_b) =
        (buyer(1, "Amazon"), buyer(2, "Website"), buyer(3, "Website"), buyer(4, "Website"));
    let key = buyer_key(&m, &bound, &world.erp).expect("a buyer key");
    world.ledger.bind_customer(&connection, &key, &ErpCustomerId::parse("SCB2").unwrap()).await.unwrap();

    let batch = [
        (&connection, &m, &marketplace),
        (&connection, &m, &bound),
        (&connection, &m, &new_a),
        (&connection, &m, &new_b),
    ];
    prefetch_customers(&world.erp, Some(&world.ledger), &batch).await;
    let asked = world.erp.prefetched.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "one prefetch for the batch");
    assert_eq!(asked[0].len(), 2, "only the two new buyers: {asked:?}");
    assert!(asked[0][0].contains("SCB3") && asked[0][0].contains("buyer3@example.com"), "{asked:?}");
    assert!(asked[0][1].contains("SCB4"), "{asked:?}");

    // A lone lookup costs the same in the import: no prefetch.
    prefetch_customers(&world.erp, Some(&world.ledger), &batch[..3]).await;
    assert_eq!(world.erp.prefetched.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn refused_erp_credentials_leave_the_order_to_be_retried_not_failed() {
    let world = World::new();
    let source = FakeSource::new(1);
    let m = mapping(1, MAPPING);
    world.erp.credentials_refused.store(true, Ordering::SeqCst);
    let refused = import_order(&source, &message(1), &world.import_ctx(&m, "a")).await;
    assert!(matches!(refused, Err(ImportError::Vendor { .. })), "{refused:?}");
    let key = ImportKey::new(ConnectionId::parse("sc-main").unwrap(), order(1).channel_order_id);
    let record = world.ledger.claim_record(&ClaimKey::import(&key)).await.unwrap();
    assert!(record.as_ref().is_none_or(|r| r.status != ClaimStatus::Failed), "no failure recorded: {record:?}");
    // The credentials fixed, the redelivered message imports the order.
    world.erp.credentials_refused.store(false, Ordering::SeqCst);
    let imported = import_order(&source, &message(1), &world.import_ctx(&m, "b")).await.unwrap();
    assert!(matches!(imported, ImportOutcome::Created { .. }), "{imported:?}");
}

#[tokio::test]
async fn a_lost_create_response_is_recovered_by_lookup_not_duplicated() {
    let world = World::new();
    let source = FakeSource::new(1);
    let m = mapping(1, MAPPING);
    world.erp.lose_next_response.store(true, Ordering::SeqCst);
    let mut with_instructions = order(1);
    with_instructions.notes.customer_instructions = Some("Leave at the back door".into());
    let msg = ImportOrder { order: ListedOrder::Whole(Box::new(with_instructions)), ..message(1) };
    let err = import_order(&source, &msg, &world.import_ctx(&m, "a")).await.unwrap_err();
    assert!(crate::error::Classify::is_retryable(&err), "{err}");
    // The claim was released, so the redelivery proceeds at once and finds the committed order.
    let retry = import_order(&source, &msg, &world.import_ctx(&m, "b")).await.unwrap();
    assert_eq!(retry, ImportOutcome::Recovered(erp_ref(1)));
    assert_eq!(world.erp.created.lock().unwrap().len(), 1);
    let key = ImportKey::new(source.connection.clone(), order(1).channel_order_id);
    assert!(world.ledger.binding_for_channel(&key.connection, &key.order).await.unwrap().is_some());
    // The order's own note (its instructions) is remembered although the create's reply was lost,
    // so status-push never copies it back as a customer-service note.
    use crate::ports::Markers as _;
    let note = world.erp.created.lock().unwrap()[0].note.clone().expect("the instructions become the ERP note");
    let key_of_note = super::note_key(&key.connection, &key.order, &note);
    let first = world.ledger.remember_once(super::NOTE_SCOPE, &key_of_note, super::NOTE_MEMORY).await.unwrap();
    assert!(!first, "the imported note was not remembered");
}

#[tokio::test]
async fn a_crash_between_create_and_bind_is_finished_by_the_next_attempt() {
    let world = World::new();
    let source = FakeSource::new(1);
    let m = mapping(1, MAPPING);
    let key = ImportKey::new(source.connection.clone(), order(1).channel_order_id);
    // The crashed attempt: it claimed and created, then died before binding.
    let ClaimOutcome::Acquired(_) =
        world.ledger.claim(&ClaimKey::import(&key), "crashed", Duration::from_secs(30)).await.unwrap()
    else {
        panic!("claim")
    };
    let draft = crate::mapping::build_draft(
        &m,
        &order(1),
        ErpCustomerId::parse("SC77").unwrap(),
        vec![ErpItemId::parse("SKU-RED-M").unwrap()],
    )
    .unwrap();
    world.erp.create_order(&draft).await.unwrap();

    // While the crashed lease runs, redeliveries back off.
    let busy = import_order(&source, &message(1), &world.import_ctx(&m, "early")).await.unwrap_err();
    assert!(matches!(busy, ImportError::InProgress { .. }));
    *world.ledger.now.lock().unwrap() = Some(Utc::now() + chrono::Duration::seconds(31));
    let outcome = import_order(&source, &message(1), &world.import_ctx(&m, "rescuer")).await.unwrap();
    assert_eq!(outcome, ImportOutcome::Recovered(erp_ref(1)));
    assert_eq!(world.erp.created.lock().unwrap().len(), 1);
    let record = world.ledger.claim_record(&ClaimKey::import(&key)).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (ClaimStatus::Completed, 2));
}

#[tokio::test]
async fn an_unmapped_value_fails_by_name_and_imports_after_the_mapping_is_fixed() {
    let world = World::new();
    let source = FakeSource::new(1);
    let mut unmapped = order(1);
    unmapped.shipping.method = "UPS Ground Saver".into();
    let source = FakeSource { orders: vec![unmapped.clone()], ..source };
    let v1 = mapping(1, MAPPING);

    world.ledger.save_mapping("sc-main", "m", MAPPING).await.unwrap();
    let report = pull_connection(&source, &world.pull_ctx(1)).await.unwrap();
    assert_eq!(report.enqueued, 1);
    let msg = world.queued().remove(0);
    let outcome = import_order(&source, &msg, &world.import_ctx(&v1, "a")).await.unwrap();
    let ImportOutcome::Failed(reason) = &outcome else { panic!("expected failure, got {outcome:?}") };
    assert!(reason.contains("shipping method \"UPS Ground Saver\""), "{reason}");
    assert!(reason.contains("[shipping_methods] in mappings/sc-main.toml"), "{reason}");
    assert!(world.erp.created.lock().unwrap().is_empty());
    let failures = world.log.0.lock().unwrap().iter().filter(|e| e.result == crate::ports::LogResult::Failure).count();
    assert_eq!(failures, 1, "the failure is in the connector log");

    // Under the same mapping the order is not re-queued (markers expired or not).
    world.clock.advance(chrono::Duration::hours(1));
    *world.ledger.now.lock().unwrap() = Some(world.clock.now());
    let again = pull_connection(&source, &world.pull_ctx(1)).await.unwrap();
    assert_eq!((again.enqueued, again.failed_under_current_mapping), (0, 1));

    // The user maps the method (v2): the next pull enqueues it and it imports.
    let fixed_text =
        MAPPING.replace("Standard = \"UPSGROUND\"", "Standard = \"UPSGROUND\"\n\"UPS Ground Saver\" = \"UPSGROUND\"");
    let v2 = mapping(2, &fixed_text);
    let after_fix = pull_connection(&source, &world.pull_ctx(2)).await.unwrap();
    assert_eq!(after_fix.enqueued, 1);
    let msg = world.queued().pop().unwrap();
    let outcome = import_order(&source, &msg, &world.import_ctx(&v2, "b")).await.unwrap();
    assert!(matches!(outcome, ImportOutcome::Created { .. }), "{outcome:?}");
}

#[tokio::test]
async fn pull_enqueues_each_order_once_and_reacknowledges_imported_ones() {
    let world = World::new();
    let source = FakeSource::new(5);
    let first = pull_connection(&source, &world.pull_ctx(1)).await.unwrap();
    assert_eq!((first.pages, first.enqueued, first.finished), (3, 5, true));
    // Nothing imported yet: a second pull must not flood the queue with duplicates.
    let second = pull_connection(&source, &world.pull_ctx(1)).await.unwrap();
    assert_eq!((second.enqueued, second.in_flight), (0, 5));

    // Import all but do not acknowledge (the acknowledgement was lost).
    let m = mapping(1, MAPPING);
    for msg in world.queued() {
        import_order(&source, &msg, &world.import_ctx(&m, "w")).await.unwrap();
    }
    let third = pull_connection(&source, &world.pull_ctx(1)).await.unwrap();
    assert_eq!((third.enqueued, third.reacknowledged), (0, 5));
    assert_eq!(source.exported.lock().unwrap().len(), 5, "the pull acknowledged them again");
    assert_eq!(world.erp.created.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_pull_that_fails_half_way_resumes_from_its_cursor() {
    let world = World::new();
    let source = FakeSource::new(6);
    // Page 1 succeeds, page 2 fails.
    let ctx = world.pull_ctx(1);
    let cursor_before = world.ledger.cursor(&source.connection, ORDERS_STREAM).await.unwrap();
    assert!(cursor_before.is_none());
    struct FailSecond<'a>(&'a FakeSource, AtomicU32);
    #[async_trait]
    impl OrderSource for FailSecond<'_> {
        fn connection(&self) -> &ConnectionId {
            self.0.connection()
        }
        async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
            if self.1.fetch_add(1, Ordering::SeqCst) == 1 {
                self.0.fail_next_page.store(true, Ordering::SeqCst);
            }
            self.0.list_new_orders(page).await
        }
        async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
            self.0.fetch_order(id).await
        }
        async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
            self.0.acknowledge(acks).await
        }
    }
    let flaky = FailSecond(&source, AtomicU32::new(0));
    assert!(pull_connection(&flaky, &ctx).await.is_err());
    assert_eq!(world.queue.0.lock().unwrap().len(), 2, "page 1 was enqueued before the failure");
    let cursor = world.ledger.cursor(&source.connection, ORDERS_STREAM).await.unwrap().unwrap();
    assert_eq!(cursor.value, "@1 2", "the mapping version, then the channel's token");

    let resumed = pull_connection(&source, &ctx).await.unwrap();
    assert_eq!((resumed.pages, resumed.enqueued, resumed.finished), (2, 4, true));
    let ids: HashSet<String> = world.queued().iter().map(|m| m.order.id().to_string()).collect();
    assert_eq!(ids.len(), 6, "every order enqueued exactly once");
    assert_eq!(world.ledger.cursor(&source.connection, ORDERS_STREAM).await.unwrap().unwrap().value, "@1 ");

    // A cursor saved under another mapping starts the listing over (the new mapping must see the
    // orders the old one failed); one stored before versions were recorded resumes as it is.
    let stored = world.ledger.cursor(&source.connection, ORDERS_STREAM).await.unwrap().unwrap();
    world.ledger.save_cursor(&source.connection, ORDERS_STREAM, "@1 4", Some(stored.version)).await.unwrap();
    let listed = std::sync::Arc::new(Mutex::new(Vec::new()));
    struct Watch<'a>(&'a FakeSource, std::sync::Arc<Mutex<Vec<Option<String>>>>);
    #[async_trait]
    impl OrderSource for Watch<'_> {
        fn connection(&self) -> &ConnectionId {
            self.0.connection()
        }
        async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
            self.1.lock().unwrap().push(page.map(|p| p.0.clone()));
            self.0.list_new_orders(page).await
        }
        async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
            self.0.fetch_order(id).await
        }
        async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
            self.0.acknowledge(acks).await
        }
    }
    let watch = Watch(&source, listed.clone());
    pull_connection(&watch, &world.pull_ctx(2)).await.unwrap();
    assert_eq!(listed.lock().unwrap().first(), Some(&None), "mapping v2 lists from the start");
    let stored = world.ledger.cursor(&source.connection, ORDERS_STREAM).await.unwrap().unwrap();
    world.ledger.save_cursor(&source.connection, ORDERS_STREAM, "4", Some(stored.version)).await.unwrap();
    listed.lock().unwrap().clear();
    pull_connection(&watch, &world.pull_ctx(2)).await.unwrap();
    assert_eq!(listed.lock().unwrap().first(), Some(&Some("4".to_owned())), "a legacy cursor resumes");
}

/// A channel whose every order fetch fails with one error.
struct FetchFails(ConnectionId, fn() -> ConnectorError);

#[async_trait]
impl OrderSource for FetchFails {
    fn connection(&self) -> &ConnectionId {
        &self.0
    }
    async fn list_new_orders(&self, _: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        unreachable!()
    }
    async fn fetch_order(&self, _: &ChannelOrderId) -> Result<Order, ConnectorError> {
        Err((self.1)())
    }
    async fn acknowledge(&self, _: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        unreachable!()
    }
}

fn referenced(id: i64) -> ImportOrder {
    ImportOrder {
        connection: ConnectionId::parse("sc-main").unwrap(),
        order: ListedOrder::Reference { id: order(id).channel_order_id, display_number: id.to_string() },
        announced: false,
    }
}

#[tokio::test]
async fn an_order_that_can_never_be_read_fails_once_but_refused_credentials_are_retried() {
    let world = World::new();
    let m = mapping(1, MAPPING);
    let unreadable = FetchFails(ConnectionId::parse("sc-main").unwrap(), || ConnectorError::Unmappable {
        vendor: "channel",
        operation: "get order",
        detail: "order 7: invalid currency code \"DOLLARS\"".into(),
    });
    let outcome = import_order(&unreadable, &referenced(7), &world.import_ctx(&m, "a")).await.unwrap();
    assert!(matches!(&outcome, ImportOutcome::Failed(reason) if reason.contains("DOLLARS")), "{outcome:?}");
    let key = ImportKey::new(ConnectionId::parse("sc-main").unwrap(), order(7).channel_order_id);
    let record = world.ledger.claim_record(&ClaimKey::import(&key)).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (ClaimStatus::Failed, 1));

    // Credentials refused: not the order's fault, so no recorded failure; the message retries.
    let refused = FetchFails(ConnectionId::parse("sc-main").unwrap(), || ConnectorError::Unauthorized {
        vendor: "channel",
        operation: "get order",
        connection: "sc-main".into(),
        message: "HTTP 401".into(),
    });
    let err = import_order(&refused, &referenced(8), &world.import_ctx(&m, "b")).await.unwrap_err();
    assert!(matches!(err, ImportError::Vendor { .. }), "{err}");
    let key = ImportKey::new(ConnectionId::parse("sc-main").unwrap(), order(8).channel_order_id);
    let record = world.ledger.claim_record(&ClaimKey::import(&key)).await.unwrap().unwrap();
    assert_ne!(record.status, ClaimStatus::Failed, "released, not failed: {record:?}");
}

#[tokio::test]
async fn a_pull_started_past_its_deadline_reads_nothing_and_says_so() {
    let world = World::new();
    let source = FakeSource::new(3);
    let mut ctx = world.pull_ctx(1);
    ctx.deadline = Instant::now();
    let report = pull_connection(&source, &ctx).await.unwrap();
    assert_eq!((report.pages, report.finished, report.out_of_time), (0, false, true));
    let report = pull_connection(&source, &world.pull_ctx(1)).await.unwrap();
    assert!(report.finished && !report.out_of_time);
}

/// A channel whose webhook announces orders: order 1 waits for import, the others do not.
struct Announcing(FakeSource);

#[async_trait]
impl OrderSource for Announcing {
    fn connection(&self) -> &ConnectionId {
        self.0.connection()
    }
    async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        self.0.list_new_orders(page).await
    }
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        self.0.fetch_order(id).await
    }
    async fn fetch_announced(&self, id: &ChannelOrderId) -> Result<crate::ports::AnnouncedOrder, ConnectorError> {
        if *id == order(1).channel_order_id {
            return self.0.fetch_order(id).await.map(|o| crate::ports::AnnouncedOrder::Waiting(Box::new(o)));
        }
        Ok(crate::ports::AnnouncedOrder::NotWaiting { status: "Incomplete".into() })
    }
    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        self.0.acknowledge(acks).await
    }
}

#[tokio::test]
async fn an_announced_order_is_imported_only_if_it_waits_for_import_and_claims_nothing_otherwise() {
    let world = World::new();
    let m = mapping(1, MAPPING);
    let source = Announcing(FakeSource::new(2));
    let announced = |id| ImportOrder { announced: true, ..referenced(id) };

    let outcome = import_order(&source, &announced(2), &world.import_ctx(&m, "a")).await.unwrap();
    assert_eq!(outcome, ImportOutcome::NotWaiting("Incomplete".into()));
    assert_eq!(outcome.acknowledgement(&order(2).channel_order_id, None), None, "nothing written to the channel");
    let key = ImportKey::new(ConnectionId::parse("sc-main").unwrap(), order(2).channel_order_id);
    assert!(world.ledger.claim_record(&ClaimKey::import(&key)).await.unwrap().is_none(), "no claim taken");
    let entries = world.log.0.lock().unwrap().clone();
    assert!(entries
        .iter()
        .any(|e| e.result == crate::ports::LogResult::Skipped && e.notes.contains("not waiting for import")));

    let outcome = import_order(&source, &announced(1), &world.import_ctx(&m, "b")).await.unwrap();
    assert!(matches!(outcome, ImportOutcome::Created { .. }), "{outcome:?}");
    assert_eq!(world.erp.created.lock().unwrap().len(), 1);
    // The scheduled pull's copy of the same order finds it imported.
    let outcome = import_order(&source, &message(1), &world.import_ctx(&m, "c")).await.unwrap();
    assert!(matches!(outcome, ImportOutcome::AlreadyImported(_)), "{outcome:?}");
    assert_eq!(world.erp.created.lock().unwrap().len(), 1, "never a second ERP order");
}

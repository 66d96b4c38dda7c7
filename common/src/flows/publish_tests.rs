//! The publish flow against in-memory ports: conditions, exactly-once under redelivery and a lost
//! create answer, the echo guard, unmapped values waiting for a mapping change, and invoices.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::connectors::ConnectorError;
use crate::mapping::Mapping;
use crate::model::{
    Address, ChannelOrderDraft, ChannelOrderId, ConnectionId, Currency, Customer, ErpInvoice, ErpOrderRef,
    ErpOrderSync, ErpSalesOrder, Money, PublishedOrder, Shipment, StorefrontCustomer, SystemCode,
};
use crate::ports::{
    BindingOrigin, Bindings, Cursors, ErpOrderState, ErpOrders, ErpShipments, LogResult, OrderPublisher,
    StatusPublisher,
};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog};

fn usd(v: Decimal) -> Money {
    Money::new(v, Currency::parse("USD").unwrap())
}

/// The walkthrough order under another number, balance and SKU.
fn erp_order(nbr: &str, unpaid: Decimal, sku: &str) -> ErpSalesOrder {
    let mut order = crate::model::erp_fixtures::walkthrough_order();
    order.erp = ErpOrderRef::parse(&format!("SO/{nbr}")).unwrap();
    order.totals.unpaid_balance = usd(unpaid);
    order.lines[0].item_id = sku.into();
    order
}

#[derive(Default)]
struct FakeErp {
    orders: Mutex<BTreeMap<String, ErpSalesOrder>>,
    numbers: Mutex<BTreeMap<String, String>>,
    class_reads: Mutex<u32>,
    invoices: Mutex<Vec<ErpInvoice>>,
}

fn not_found(operation: &'static str) -> ConnectorError {
    ConnectorError::Status { vendor: "erp", operation, status: 404, message: "not found".into(), retry_after: None }
}

#[async_trait]
impl ErpOrders for FakeErp {
    async fn orders_modified_since(&self, _: DateTime<Utc>) -> Result<Vec<ErpSalesOrder>, ConnectorError> {
        Ok(self.orders.lock().unwrap().values().cloned().collect())
    }
    async fn sales_order(&self, erp: &ErpOrderRef) -> Result<Option<ErpSalesOrder>, ConnectorError> {
        Ok(self.orders.lock().unwrap().get(&erp.to_string()).cloned())
    }
    async fn customer_class(&self, _: &str) -> Result<Option<String>, ConnectorError> {
        *self.class_reads.lock().unwrap() += 1;
        Ok(Some("WHOLESALE".into()))
    }
    async fn record_channel_number(&self, erp: &ErpOrderRef, number: &str) -> Result<(), ConnectorError> {
        self.numbers.lock().unwrap().insert(erp.to_string(), number.into());
        Ok(())
    }
    async fn invoices_of(&self, _: &ErpOrderRef) -> Result<Vec<ErpInvoice>, ConnectorError> {
        Ok(self.invoices.lock().unwrap().clone())
    }
}

#[async_trait]
impl ErpShipments for FakeErp {
    async fn shipments_since(&self, _: DateTime<Utc>) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn shipment(&self, _: &str) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn order_state(&self, erp: &ErpOrderRef) -> Result<ErpOrderState, ConnectorError> {
        let order = self.orders.lock().unwrap().get(&erp.to_string()).cloned().ok_or(not_found("order state"))?;
        Ok(ErpOrderState {
            status: order.status.clone(),
            canonical: crate::model::OrderStatus::Other(order.status),
            note: None,
            lines: Vec::new(),
            shipment_nbrs: vec!["000001".into()],
        })
    }
}

/// An invoice the store received: the order, (SKU, quantity) lines, the ERP invoice.
type StoreInvoice = (ChannelOrderId, Vec<(String, Decimal)>, String);

#[derive(Default)]
struct FakeStore {
    orders: Mutex<Vec<(ChannelOrderDraft, PublishedOrder)>>,
    customers: Mutex<Vec<StorefrontCustomer>>,
    /// The next create happens, but its answer is lost.
    lose_next_answer: Mutex<bool>,
    invoices: Mutex<Vec<StoreInvoice>>,
}

#[async_trait]
impl OrderPublisher for FakeStore {
    async fn find_by_erp_number(&self, number: &str) -> Result<Option<PublishedOrder>, ConnectorError> {
        Ok(self.orders.lock().unwrap().iter().find(|(d, _)| d.erp_number == number).map(|(_, p)| p.clone()))
    }
    async fn find_customer(&self, email: &str) -> Result<Option<StorefrontCustomer>, ConnectorError> {
        Ok(self.customers.lock().unwrap().iter().find(|c| c.email == email).cloned())
    }
    async fn create_customer(&self, customer: &Customer, _: &Address) -> Result<StorefrontCustomer, ConnectorError> {
        let mut all = self.customers.lock().unwrap();
        let created = StorefrontCustomer {
            id: Some((all.len() + 1).to_string()),
            group_id: Some(1),
            email: customer.email.clone().unwrap_or_default(),
            first_name: "Alta".into(),
            last_name: "Ace".into(),
        };
        all.push(created.clone());
        Ok(created)
    }
    async fn unknown_skus(&self, skus: &[String]) -> Result<Vec<String>, ConnectorError> {
        Ok(skus.iter().filter(|s| s.as_str() != "WATER2809").cloned().collect())
    }
    async fn create_order(&self, draft: &ChannelOrderDraft) -> Result<PublishedOrder, ConnectorError> {
        let mut orders = self.orders.lock().unwrap();
        let n = orders.len() + 1;
        let published = PublishedOrder {
            id: ChannelOrderId::new(SystemCode::parse("MG").unwrap(), n.to_string()).unwrap(),
            display_number: format!("{n:09}"),
        };
        orders.push((draft.clone(), published.clone()));
        if std::mem::take(&mut *self.lose_next_answer.lock().unwrap()) {
            return Err(ConnectorError::Transport {
                vendor: "store",
                operation: "create order",
                stage: crate::ports::TransportStage::Exchange,
                source: "connection reset".into(),
            });
        }
        Ok(published)
    }
    async fn create_invoice(
        &self,
        order: &ChannelOrderId,
        lines: &[(String, Decimal)],
        erp_invoice: &str,
    ) -> Result<(), ConnectorError> {
        self.invoices.lock().unwrap().push((order.clone(), lines.to_vec(), erp_invoice.into()));
        Ok(())
    }
}

#[async_trait]
impl StatusPublisher for FakeStore {
    async fn push_shipment(&self, _: &ChannelOrderId, _: &Shipment) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn push_status(&self, _: &ChannelOrderId, _: &str) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn add_note(&self, _: &ChannelOrderId, _: &str) -> Result<(), ConnectorError> {
        Ok(())
    }
}

const MAPPING: &str = r#"
[order_types]
default = "SO"
[customers]
id_prefix = "MG"
[items]
identifier_priority = ["sku"]
[taxes]
tax_id = "CHANNELTAX"
[dates]
time_zone = "America/Denver"
[erp_orders]
default_payment_method = "checkmo"
ship_via = { LOCAL = { method = "freeshipping_freeshipping", title = "Free Shipping - Free" } }
"#;

struct World {
    ledger: MemoryLedger,
    log: MemoryLog,
    clock: ManualClock,
    erp: FakeErp,
    store: Arc<FakeStore>,
    sync: ErpOrderSync,
    mapping_version: Mutex<u64>,
    connection: ConnectionId,
    erp_name: ConnectionId,
    tool_name: ConnectionId,
    stores: BTreeMap<i64, ConnectionId>,
    codes: Vec<String>,
}

struct NoPushTargets;

#[async_trait]
impl PushTargets for NoPushTargets {
    async fn target(&self, _: &ConnectionId) -> Result<Option<PushTarget>, PushError> {
        Ok(None)
    }
}

#[async_trait]
impl PublishTargets for World {
    async fn publish_targets(&self) -> Result<Vec<PublishTarget>, PushError> {
        Ok(self.publish_target(&self.connection).await?.into_iter().collect())
    }
    async fn publish_target(&self, connection: &ConnectionId) -> Result<Option<PublishTarget>, PushError> {
        if connection != &self.connection {
            return Ok(None);
        }
        let version = *self.mapping_version.lock().unwrap();
        let mapping = Mapping::parse("mappings/mg.toml", version, MAPPING).unwrap();
        Ok(Some(PublishTarget {
            connection: self.connection.clone(),
            publisher: self.store.clone(),
            sync: self.sync.clone(),
            rules: mapping.file.erp_orders,
            mapping_label: format!("mappings/mg.toml (mapping v{version})"),
            mapping_version: version,
        }))
    }
}

impl World {
    fn new(conditions: &str) -> Self {
        Self {
            ledger: MemoryLedger::default(),
            log: MemoryLog::default(),
            clock: ManualClock::new(),
            erp: FakeErp::default(),
            store: Arc::new(FakeStore::default()),
            sync: toml::from_str(conditions).unwrap(),
            mapping_version: Mutex::new(1),
            connection: ConnectionId::parse("mg-store").unwrap(),
            erp_name: ConnectionId::parse("erp").unwrap(),
            tool_name: ConnectionId::parse("tool").unwrap(),
            stores: BTreeMap::new(),
            codes: vec!["SC".into(), "BC".into(), "MG".into()],
        }
    }

    fn enter(&self, order: ErpSalesOrder) -> ErpOrderRef {
        let erp = order.erp.clone();
        self.erp.orders.lock().unwrap().insert(erp.to_string(), order);
        erp
    }

    fn ctx(&self, owner: &str) -> PushContext<'_> {
        PushContext {
            ports: ShipmentPorts {
                claims: &self.ledger,
                bindings: &self.ledger,
                cursors: &self.ledger,
                markers: &self.ledger,
                log: &self.log,
                clock: &self.clock,
                erp: &self.erp,
                tool: None,
                tool_stores: &self.stores,
                targets: &NoPushTargets,
                erp_orders: Some(&self.erp),
                publishing: self,
                channel_codes: &self.codes,
                erp_name: &self.erp_name,
                tool_name: &self.tool_name,
                followed: &self.ledger,
                stock: None,
                station: None,
            },
            owner: owner.into(),
            lease: Duration::from_secs(60),
            fan_out: None,
        }
    }

    async fn changed(&self, erp: &ErpOrderRef) -> Result<Vec<PushOutcome>, PushError> {
        erp_order_changed(erp, None, None, &self.ctx("test")).await
    }

    /// Order rows (not customer or invoice rows) with this action and result.
    fn log_rows(&self, action: &str, result: LogResult) -> Vec<crate::ports::LogEntry> {
        let orders = |e: &&crate::ports::LogEntry| e.group == crate::ports::LogGroup::Orders;
        self.log
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(orders)
            .filter(|e| e.action == action && e.result == result)
            .cloned()
            .collect()
    }
}

const PAID_ONLY: &str = "[[when]]\nunpaid_balance_zero = true\n";

#[tokio::test]
async fn an_unpaid_order_waits_and_is_published_once_when_paid() {
    let world = World::new(PAID_ONLY);
    let erp = world.enter(erp_order("SO000001", dec!(40), "WATER2809"));
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(
        matches!(&outcomes[0], PushOutcome::NotQualified(why) if why.contains("unpaid balance is 40.00 USD")),
        "{outcomes:?}"
    );
    assert!(world.store.orders.lock().unwrap().is_empty());
    assert_eq!(world.log_rows("publisher", LogResult::Skipped).len(), 1);

    world.erp.orders.lock().unwrap().get_mut(&erp.to_string()).unwrap().totals.unpaid_balance = usd(dec!(0));
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(matches!(&outcomes[0], PushOutcome::Published { existed: false, .. }), "{outcomes:?}");
    // Redelivered: the binding (origin ERP) routes it to the follow-ups, nothing is created again.
    let again = world.changed(&erp).await.unwrap();
    assert!(!again.iter().any(|o| matches!(o, PushOutcome::Published { .. })), "{again:?}");
    assert_eq!(world.store.orders.lock().unwrap().len(), 1);
    let binding = world.ledger.binding_for_erp(&erp).await.unwrap().expect("bound");
    assert_eq!(binding.origin, BindingOrigin::Erp);
    assert_eq!(world.erp.numbers.lock().unwrap()[&erp.to_string()], "000000001");
    let created = world.log_rows("create", LogResult::Success);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].entity_id, "1", "Entity Id is the storefront's id");
    assert_eq!(created[0].correlation_id.as_deref(), Some(erp.correlation_id().as_str()));
    assert!(is_published(&world.ledger, &erp).await.unwrap());
    assert_eq!(*world.erp.class_reads.lock().unwrap(), 0, "no condition needs the customer class");
}

#[tokio::test]
async fn a_lost_create_answer_is_retried_and_finds_the_order_instead_of_creating_another() {
    let world = World::new(PAID_ONLY);
    let erp = world.enter(erp_order("SO000002", dec!(0), "WATER2809"));
    *world.store.lose_next_answer.lock().unwrap() = true;
    let err = world.changed(&erp).await.unwrap_err();
    assert!(crate::error::Classify::is_retryable(&err), "{err}");
    assert_eq!(world.log_rows("create", LogResult::Retry).len(), 1);
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(matches!(&outcomes[0], PushOutcome::Published { existed: true, .. }), "{outcomes:?}");
    assert_eq!(world.store.orders.lock().unwrap().len(), 1, "one storefront order");
    assert!(world.ledger.binding_for_erp(&erp).await.unwrap().is_some());
}

#[tokio::test]
async fn orders_imported_from_a_channel_are_never_published() {
    let world = World::new(PAID_ONLY);
    let mut order = erp_order("SO000003", dec!(0), "WATER2809");
    order.customer_order = Some("SC-5512345".into());
    let erp = world.enter(order);
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(matches!(&outcomes[0], PushOutcome::NotOurs(why) if why.contains("SC-5512345")), "{outcomes:?}");
    assert!(world.store.orders.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_cancelled_order_that_never_reached_the_storefront_is_never_sent() {
    let world = World::new(PAID_ONLY);
    let mut order = erp_order("SO000007", dec!(0), "WATER2809");
    order.status = "Canceled".into();
    let erp = world.enter(order);
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(matches!(&outcomes[0], PushOutcome::NotQualified(why) if why.contains("Canceled")), "{outcomes:?}");
    assert!(world.store.orders.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_sku_fails_by_name_and_waits_for_a_mapping_change() {
    let world = World::new(PAID_ONLY);
    let erp = world.enter(erp_order("SO000004", dec!(0), "NOSUCH-1"));
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(
        matches!(&outcomes[0], PushOutcome::Failed(why) if why.contains("SKU \"NOSUCH-1\" is unknown in mg-store: add `NOSUCH-1 = \"<storefront SKU>\"` under [erp_orders.skus]")),
        "{outcomes:?}"
    );
    let waiting = world.ledger.cursor(&world.connection, WAITING_STREAM).await.unwrap().expect("waiting list");
    let list: Vec<WaitingOrder> = serde_json::from_str(&waiting.value).unwrap();
    assert_eq!(list, vec![WaitingOrder { erp: erp.to_string(), mapping_version: 1 }]);
    assert_eq!(world.log_rows("create", LogResult::Failure).len(), 1);
}

#[tokio::test]
async fn the_customer_class_is_read_only_for_conditions_that_need_it() {
    let world = World::new("[[when]]\ncustomer_classes = [\"WHOLESALE\"]\nstatuses = [\"Open\"]\n");
    let erp = world.enter(erp_order("SO000005", dec!(40), "WATER2809"));
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(matches!(&outcomes[0], PushOutcome::Published { .. }), "{outcomes:?}");
    assert_eq!(*world.erp.class_reads.lock().unwrap(), 1);
    assert_eq!(world.store.customers.lock().unwrap().len(), 1, "the buyer was created by email");
}

#[tokio::test]
async fn released_invoices_follow_once_and_unreleased_ones_wait() {
    let world = World::new(PAID_ONLY);
    let erp = world.enter(erp_order("SO000006", dec!(0), "WATER2809"));
    world.changed(&erp).await.unwrap();
    world.erp.invoices.lock().unwrap().extend([
        ErpInvoice {
            reference: "Invoice/INV000001".into(),
            released: true,
            lines: vec![("WATER2809".into(), dec!(2))],
        },
        ErpInvoice {
            reference: "Invoice/INV000002".into(),
            released: false,
            lines: vec![("WATER2809".into(), dec!(1))],
        },
    ]);
    let outcomes = world.changed(&erp).await.unwrap();
    assert!(
        outcomes.iter().any(|o| matches!(o, PushOutcome::Invoiced { invoice, .. } if invoice == "Invoice/INV000001")),
        "{outcomes:?}"
    );
    world.changed(&erp).await.unwrap();
    let invoices = world.store.invoices.lock().unwrap().clone();
    assert_eq!(invoices.len(), 1, "each released invoice once: {invoices:?}");
    assert_eq!(invoices[0].1, vec![("WATER2809".to_owned(), dec!(2))]);
}

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};

use super::*;
use crate::mapping::{Mapping, SalesOrderDraft};
use crate::model::{
    Address, ChannelCustomer, ConnectionId, Customer, ErpCustomerId, ErpItemId, ErpOrderRef, IdentifierKind, Order,
};
use crate::ports::{ConnectorError, CustomerBindings, CustomerLookup, ErpCustomerWrites, LedgerError, OrderSink};
use crate::testing::{ManualClock, MemoryLedger, MemoryLog};

/// An ERP customer: name, email, class, and how many writes it had.
type ErpCustomer = (String, Option<String>, Option<String>, u32);

/// ERP customers by id.
#[derive(Default)]
struct Erp {
    customers: Mutex<BTreeMap<String, ErpCustomer>>,
    creates: Mutex<u32>,
}

#[async_trait]
impl OrderSink for Erp {
    type Draft = SalesOrderDraft;
    async fn find_by_import_id(&self, _: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
        unreachable!()
    }
    async fn create_order(&self, _: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
        unreachable!()
    }
    fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<ErpCustomerId> {
        customer.channel_customer_id.as_ref().and_then(|id| ErpCustomerId::parse(format!("{prefix}{id}")).ok())
    }
    async fn find_customer(&self, lookup: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
        let customers = self.customers.lock().unwrap();
        let found = match lookup {
            CustomerLookup::ChannelId(id) => customers.contains_key(id).then(|| id.to_owned()),
            CustomerLookup::Email(email) => {
                customers.iter().find(|(_, c)| c.1.as_deref() == Some(email)).map(|(id, _)| id.clone())
            }
            CustomerLookup::IdOrEmail { .. } => unreachable!(),
        };
        Ok(found.and_then(|id| ErpCustomerId::parse(id).ok()))
    }
    async fn create_customer(
        &self,
        _: &ErpCustomerId,
        _: &Customer,
        _: &Order,
        _: Option<&str>,
    ) -> Result<ErpCustomerId, ConnectorError> {
        unreachable!()
    }
    async fn resolve_item(&self, _: IdentifierKind, _: &str) -> Result<Option<ErpItemId>, ConnectorError> {
        unreachable!()
    }
}

#[async_trait]
impl ErpCustomerWrites for Erp {
    async fn create_customer_record(
        &self,
        id: &ErpCustomerId,
        c: &ChannelCustomer,
        class: Option<&str>,
    ) -> Result<(), ConnectorError> {
        *self.creates.lock().unwrap() += 1;
        let mut customers = self.customers.lock().unwrap();
        assert!(!customers.contains_key(id.as_str()), "{id} created twice");
        customers
            .insert(id.to_string(), (c.customer.name.clone(), c.customer.email.clone(), class.map(str::to_owned), 1));
        Ok(())
    }
    async fn update_customer_record(
        &self,
        id: &ErpCustomerId,
        c: &ChannelCustomer,
        class: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let mut customers = self.customers.lock().unwrap();
        let entry = customers.get_mut(id.as_str()).expect("updated customer exists");
        *entry = (c.customer.name.clone(), c.customer.email.clone(), class.map(str::to_owned), entry.3 + 1);
        Ok(())
    }
}

/// A ledger whose customer binding write fails once (the crash between ERP write and bind).
struct FailingBind<'a>(&'a MemoryLedger, AtomicBool);

#[async_trait]
impl CustomerBindings for FailingBind<'_> {
    async fn customer_binding(&self, c: &ConnectionId, id: &str) -> Result<Option<ErpCustomerId>, LedgerError> {
        self.0.customer_binding(c, id).await
    }
    async fn bind_customer(&self, c: &ConnectionId, id: &str, erp: &ErpCustomerId) -> Result<(), LedgerError> {
        if self.1.swap(false, Ordering::SeqCst) {
            return Err(LedgerError::Corrupt { table: "state".into(), key: id.into(), detail: "killed".into() });
        }
        self.0.bind_customer(c, id, erp).await
    }
    async fn forget_customer(&self, c: &ConnectionId, id: &str, erp: &ErpCustomerId) -> Result<(), LedgerError> {
        self.0.forget_customer(c, id, erp).await
    }
}

fn account(id: &str, email: &str, name: &str, minute: u32) -> ImportCustomer {
    ImportCustomer {
        customer: ChannelCustomer {
            connection: ConnectionId::parse("mg-store").unwrap(),
            channel_customer_id: id.into(),
            customer: Customer {
                channel_customer_id: Some(id.into()),
                email: Some(email.into()),
                name: name.into(),
                company: None,
                phone: None,
            },
            address: Some(Address {
                name: name.into(),
                line1: "1 Main St".into(),
                city: "Austin".into(),
                country: "US".into(),
                ..Default::default()
            }),
            updated_at: Utc.with_ymd_and_hms(2026, 11, 30, 9, minute, 0).unwrap(),
        },
    }
}

const MAPPING: &str = r#"
[order_types]
default = "SO"
[customers]
id_prefix = "MG"
customer_class = "WEB"
[items]
identifier_priority = ["sku"]
[taxes]
tax_id = "TAX"
[dates]
time_zone = "UTC"
"#;

fn mapping() -> Mapping {
    Mapping::parse("mappings/mg-store.toml", 1, MAPPING).unwrap()
}

struct World {
    ledger: MemoryLedger,
    log: MemoryLog,
    clock: ManualClock,
    erp: Erp,
    mapping: Mapping,
}

impl World {
    fn new() -> Self {
        Self {
            ledger: MemoryLedger::default(),
            log: MemoryLog::default(),
            clock: ManualClock::new(),
            erp: Erp::default(),
            mapping: mapping(),
        }
    }

    fn ctx<'a>(&'a self, bindings: &'a dyn CustomerBindings) -> CustomerImportContext<'a> {
        CustomerImportContext {
            claims: &self.ledger,
            bindings,
            log: &self.log,
            clock: &self.clock,
            sink: &self.erp,
            writes: &self.erp,
            mapping: &self.mapping,
            owner: "t".into(),
            lease: Duration::from_secs(60),
        }
    }
}

#[tokio::test]
async fn a_new_account_is_created_once_in_the_mapped_class_and_a_redelivery_writes_nothing() {
    let world = World::new();
    let msg = account("104", "ann@example.com", "Ann Lee", 1);
    let first = import_customer(&msg, &world.ctx(&world.ledger)).await.unwrap();
    assert_eq!(first, CustomerOutcome::Created(ErpCustomerId::parse("MG104").unwrap()));
    assert_eq!(world.erp.customers.lock().unwrap()["MG104"].2.as_deref(), Some("WEB"));
    let again = import_customer(&msg, &world.ctx(&world.ledger)).await.unwrap();
    assert_eq!(again, CustomerOutcome::AlreadyDone);
    assert_eq!(world.erp.customers.lock().unwrap()["MG104"].3, 1, "one write");
    let entries = world.log.0.lock().unwrap().clone();
    assert!(entries.iter().all(|e| e.entity_id == "ann@example.com"), "logged under the email: {entries:#?}");
}

#[tokio::test]
async fn an_account_matching_an_erp_customer_by_email_updates_it_and_later_changes_follow_the_binding() {
    let world = World::new();
    world
        .erp
        .customers
        .lock()
        .unwrap()
        .insert("ANNLEE".into(), ("Ann".into(), Some("ann@example.com".into()), None, 0));
    let outcome =
        import_customer(&account("104", "ann@example.com", "Ann Lee", 1), &world.ctx(&world.ledger)).await.unwrap();
    assert_eq!(outcome, CustomerOutcome::Updated(ErpCustomerId::parse("ANNLEE").unwrap()));
    // She changes her email in the store: the binding, not the email, finds her ERP customer.
    let changed = account("104", "ann.lee@example.com", "Ann Lee", 2);
    let outcome = import_customer(&changed, &world.ctx(&world.ledger)).await.unwrap();
    assert_eq!(outcome, CustomerOutcome::Updated(ErpCustomerId::parse("ANNLEE").unwrap()));
    let customers = world.erp.customers.lock().unwrap();
    assert_eq!(customers["ANNLEE"].1.as_deref(), Some("ann.lee@example.com"));
    assert_eq!(customers.len(), 1, "no second customer");
    assert_eq!(*world.erp.creates.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_crash_between_the_erp_write_and_the_binding_updates_instead_of_creating_twice() {
    let world = World::new();
    let failing = FailingBind(&world.ledger, AtomicBool::new(true));
    let msg = account("105", "bo@example.com", "Bo Li", 1);
    assert!(import_customer(&msg, &world.ctx(&failing)).await.is_err(), "the binding write failed: retry");
    // The redelivery finds the customer under the id Orderbridge derived (by email here too).
    world.erp.customers.lock().unwrap().get_mut("MG105").unwrap().1 = None;
    let retry = import_customer(&msg, &world.ctx(&failing)).await.unwrap();
    assert_eq!(retry, CustomerOutcome::Updated(ErpCustomerId::parse("MG105").unwrap()));
    assert_eq!(*world.erp.creates.lock().unwrap(), 1, "created once");
    let bound = world.ledger.customer_binding(&msg.customer.connection, "105").await.unwrap();
    assert_eq!(bound, Some(ErpCustomerId::parse("MG105").unwrap()));
}

//! Adapter tests against the local AWS emulator (moto), started by `make test`.
//!
//! These tests never skip: without the emulator they fail and say how to start it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use orderbridge::aws::schema::{self, QueueUrls};
use orderbridge::aws::{process_batch, DynamoConnectorLog, DynamoLedger, Envelope, SqsQueue};
use orderbridge::error::{Classify, ErrorClass};
use orderbridge::model::{
    ChannelOrderId, ConnectionId, ErpOrderNbr, ErpOrderRef, ErpOrderType, ImportKey, PersonalData, SystemCode,
};
use orderbridge::ports::{
    Binding, Bindings, ClaimKey, ClaimOutcome, ClaimStatus, Claims, Clock, ConnectorLog, Cursors, Direction,
    FollowedOrder, FollowedOrders, LogEntry, LogGroup, LogResult, MappingStore, Markers, Queue,
};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const HOW_TO_START: &str = "The emulator tests need the local AWS emulator (moto). Run them with `make test`, \
     which installs and starts it, or start it yourself with `make local-up && source .local/stack.env` \
     and run `cargo test --workspace`.";

fn endpoint() -> String {
    let endpoint = std::env::var("ORDERBRIDGE_TEST_AWS_ENDPOINT")
        .unwrap_or_else(|_| panic!("ORDERBRIDGE_TEST_AWS_ENDPOINT is not set. {HOW_TO_START}"));
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    if std::net::TcpStream::connect_timeout(
        &addr
            .parse()
            .unwrap_or_else(|_| panic!("ORDERBRIDGE_TEST_AWS_ENDPOINT={endpoint} is not host:port. {HOW_TO_START}")),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!("The emulator at {endpoint} is unreachable. {HOW_TO_START}");
    }
    endpoint
}

async fn sdk_config() -> aws_config::SdkConfig {
    orderbridge::aws::sdk_defaults()
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "static"))
        .load()
        .await
}

/// A prefix no other test (or earlier run against the same emulator) uses.
fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis() % 1_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst),
        test.replace('_', "-").chars().take(30).collect::<String>()
    )
}

/// A clock tests move by hand.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn at(time: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(time)))
    }

    fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

async fn ledger(test: &str) -> (DynamoLedger, Arc<TestClock>) {
    let config = sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = schema::STATE_TABLE.physical_name(&unique_prefix(test));
    schema::ensure_table(&client, &schema::STATE_TABLE, &table).await.expect("create state table");
    let clock = TestClock::at(Utc::now());
    (DynamoLedger::new(client, table, clock.clone()), clock)
}

fn conn(name: &str) -> ConnectionId {
    ConnectionId::parse(name).unwrap()
}

fn sc_order(id: i64) -> ChannelOrderId {
    orderbridge::connectors::sellercloud::SellercloudOrderId::new(id).unwrap().channel_order_id()
}

fn import_claim(id: i64) -> ClaimKey {
    ClaimKey::import(&ImportKey::new(conn("sc-main"), sc_order(id)))
}

fn erp(nbr: &str) -> ErpOrderRef {
    ErpOrderRef { order_type: ErpOrderType::parse("SO").unwrap(), order_nbr: ErpOrderNbr::parse(nbr).unwrap() }
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn second_claim_is_refused_while_first_in_progress() {
    let (ledger, _clock) = ledger("claim-refused").await;
    let key = import_claim(1);
    let first = ledger.claim(&key, "worker-a", Duration::from_secs(60)).await.unwrap();
    assert!(matches!(first, ClaimOutcome::Acquired(ref lease) if lease.attempt == 1), "{first:?}");
    let second = ledger.claim(&key, "worker-b", Duration::from_secs(60)).await.unwrap();
    match second {
        ClaimOutcome::InProgress { owner, .. } => assert_eq!(owner, "worker-a"),
        other => panic!("expected InProgress, got {other:?}"),
    }
}

#[tokio::test]
async fn expired_in_progress_claim_can_be_taken_over_and_fences_the_old_owner() {
    let (ledger, clock) = ledger("claim-takeover").await;
    let key = import_claim(2);
    let ClaimOutcome::Acquired(old) = ledger.claim(&key, "crashed", Duration::from_secs(30)).await.unwrap() else {
        panic!("first claim must be acquired")
    };
    clock.advance(chrono::Duration::seconds(31));
    let ClaimOutcome::Acquired(new) = ledger.claim(&key, "rescuer", Duration::from_secs(30)).await.unwrap() else {
        panic!("an expired claim must be taken over")
    };
    assert_eq!(new.attempt, 2);
    // The crashed worker wakes up late: it must not overwrite the rescuer's outcome.
    let late = ledger.complete(&old, "SO-STALE").await.unwrap_err();
    assert!(matches!(late, orderbridge::aws::LedgerError::LeaseLost { .. }), "{late}");
    assert!(late.is_retryable());
    ledger.complete(&new, "SO000123").await.unwrap();
    let record = ledger.claim_record(&key).await.unwrap().unwrap();
    assert_eq!(record.result.as_deref(), Some("SO000123"));
}

#[tokio::test]
async fn completed_key_reports_completed_with_its_result() {
    let (ledger, clock) = ledger("claim-completed").await;
    let key = import_claim(3);
    let ClaimOutcome::Acquired(lease) = ledger.claim(&key, "w", Duration::from_secs(30)).await.unwrap() else {
        panic!("acquire")
    };
    ledger.complete(&lease, "SO000777").await.unwrap();
    // Even long after any lease would have expired, the effect stays done.
    clock.advance(chrono::Duration::days(3));
    match ledger.claim(&key, "other", Duration::from_secs(30)).await.unwrap() {
        ClaimOutcome::Completed(record) => {
            assert_eq!(record.status, ClaimStatus::Completed);
            assert_eq!(record.result.as_deref(), Some("SO000777"));
        }
        other => panic!("expected Completed, got {other:?}"),
    }
}

#[tokio::test]
async fn failed_claim_can_be_claimed_again_after_the_cause_is_fixed() {
    let (ledger, _clock) = ledger("claim-failed").await;
    let key = import_claim(4);
    let ClaimOutcome::Acquired(lease) = ledger.claim(&key, "w1", Duration::from_secs(30)).await.unwrap() else {
        panic!("acquire")
    };
    ledger.fail(&lease, "unmapped shipping method \"UPS Ground Saver\"").await.unwrap();
    let record = ledger.claim_record(&key).await.unwrap().unwrap();
    assert_eq!(record.status, ClaimStatus::Failed);
    assert!(record.failure.unwrap().contains("UPS Ground Saver"));
    let again = ledger.claim(&key, "w2", Duration::from_secs(30)).await.unwrap();
    assert!(matches!(again, ClaimOutcome::Acquired(ref l) if l.attempt == 2), "{again:?}");
}

#[tokio::test]
async fn released_claim_is_free_at_once() {
    let (ledger, _clock) = ledger("claim-release").await;
    let key = import_claim(5);
    let ClaimOutcome::Acquired(lease) = ledger.claim(&key, "w1", Duration::from_secs(300)).await.unwrap() else {
        panic!("acquire")
    };
    ledger.release(&lease).await.unwrap();
    assert!(matches!(ledger.claim(&key, "w2", Duration::from_secs(30)).await.unwrap(), ClaimOutcome::Acquired(_)));
}

// ---------------------------------------------------------------------------------------------
// Bindings, cursors, dedupe, mappings
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bindings_read_both_ways_and_refuse_a_conflicting_rebind() {
    let (ledger, _clock) = ledger("bindings").await;
    let binding = Binding {
        connection: conn("bc-store"),
        channel_order_id: orderbridge::connectors::bigcommerce::BigCommerceOrderId::new(1042)
            .unwrap()
            .channel_order_id(),
        display_number: "1042".into(),
        erp: erp("SO001042"),
        created_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        origin: Default::default(),
        digest: Some("0123456789abcdef".into()),
    };
    ledger.bind(&binding).await.unwrap();
    // Writing the same binding again (a retried import) is fine.
    ledger.bind(&binding).await.unwrap();

    let by_channel = ledger.binding_for_channel(&binding.connection, &binding.channel_order_id).await.unwrap();
    assert_eq!(by_channel.as_ref(), Some(&binding));
    let by_erp = ledger.binding_for_erp(&erp("SO001042")).await.unwrap();
    assert_eq!(by_erp.as_ref(), Some(&binding));
    assert_eq!(ledger.binding_for_erp(&erp("SO999999")).await.unwrap(), None);

    // The same binding with a new digest (the ERP order updated after a change in the channel).
    let revised = Binding { digest: Some("fedcba9876543210".into()), ..binding.clone() };
    ledger.bind(&revised).await.unwrap();
    let read = ledger.binding_for_channel(&binding.connection, &binding.channel_order_id).await.unwrap();
    assert_eq!(read.and_then(|b| b.digest).as_deref(), Some("fedcba9876543210"));

    let mut conflicting = binding.clone();
    conflicting.erp = erp("SO002000");
    let err = ledger.bind(&conflicting).await.unwrap_err();
    assert!(err.to_string().contains("SO/SO001042"), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn cursor_saves_are_optimistic() {
    let (ledger, _clock) = ledger("cursor").await;
    let c = conn("sc-main");
    assert_eq!(ledger.cursor(&c, "orders").await.unwrap(), None);
    let v1 = ledger.save_cursor(&c, "orders", "page=1", None).await.unwrap();
    assert_eq!(v1.version, 1);
    // A second writer that read no cursor must not clobber the first.
    assert!(ledger.save_cursor(&c, "orders", "page=9", None).await.is_err());
    let v2 = ledger.save_cursor(&c, "orders", "page=2", Some(1)).await.unwrap();
    assert_eq!(v2.version, 2);
    let stale = ledger.save_cursor(&c, "orders", "page=3", Some(1)).await.unwrap_err();
    assert!(stale.is_retryable(), "{stale}");
    let read = ledger.cursor(&c, "orders").await.unwrap().unwrap();
    assert_eq!((read.value.as_str(), read.version), ("page=2", 2));
}

#[tokio::test]
async fn dedupe_keys_expire_even_though_the_emulator_never_deletes_them() {
    let (ledger, clock) = ledger("dedupe").await;
    let ttl = Duration::from_secs(3600);
    assert!(ledger.remember_once("shipstation", "batch-987654", ttl).await.unwrap());
    assert!(!ledger.remember_once("shipstation", "batch-987654", ttl).await.unwrap());
    assert!(ledger.remember_once("acumatica", "batch-987654", ttl).await.unwrap(), "scopes are separate");
    clock.advance(chrono::Duration::seconds(3601));
    assert!(ledger.remember_once("shipstation", "batch-987654", ttl).await.unwrap(), "expired key counts as new");
    ledger.forget("shipstation", "batch-987654").await.unwrap();
    assert!(ledger.remember_once("shipstation", "batch-987654", ttl).await.unwrap(), "a forgotten key is new again");
}

#[tokio::test]
async fn seen_reads_a_dedupe_key_without_remembering_it() {
    let (ledger, clock) = ledger("seen").await;
    let ttl = Duration::from_secs(60);
    assert!(!ledger.seen("webhook", "k1").await.unwrap(), "never remembered");
    assert!(!ledger.seen("webhook", "k1").await.unwrap(), "looking did not remember it");
    assert!(ledger.remember_once("webhook", "k1", ttl).await.unwrap());
    assert!(ledger.seen("webhook", "k1").await.unwrap());
    clock.advance(chrono::Duration::seconds(61));
    assert!(!ledger.seen("webhook", "k1").await.unwrap(), "an expired key is not seen");
}

#[tokio::test]
async fn one_caller_at_a_time_renews_a_shared_token() {
    use orderbridge::ports::{SharedTokens, StoredToken};
    use secrecy::ExposeSecret;
    let (ledger, clock) = ledger("tokens").await;
    let lease = Duration::from_secs(15);
    assert!(ledger.token("acumatica#t").await.unwrap().is_none());
    // Two callers find no token: the first takes the lease, the second is refused.
    assert!(ledger.lease_renewal("acumatica#t", 0, lease, "a").await.unwrap());
    assert!(!ledger.lease_renewal("acumatica#t", 0, lease, "b").await.unwrap(), "the lease is held");
    let record = ledger.token("acumatica#t").await.unwrap().expect("the lease made the record");
    assert!(record.token.is_none() && record.version == 0);
    let token = |access: &str, refresh: Option<&str>| StoredToken {
        access: access.to_owned().into(),
        refresh: refresh.map(|r| r.to_owned().into()),
        expires_at: clock.now() + chrono::Duration::hours(1),
        renew_at: clock.now() + chrono::Duration::minutes(59),
    };
    assert!(!ledger.save_token("acumatica#t", &token("b1", None), 0, "b").await.unwrap(), "not b's lease");
    assert!(ledger.save_token("acumatica#t", &token("a1", Some("r1")), 0, "a").await.unwrap());
    let record = ledger.token("acumatica#t").await.unwrap().unwrap();
    assert_eq!(record.version, 1);
    let stored = record.token.expect("saved");
    assert_eq!(stored.access.expose_secret(), "a1");
    assert_eq!(stored.refresh.as_ref().map(|r| r.expose_secret().to_owned()).as_deref(), Some("r1"));
    assert_eq!(stored.expires_at.timestamp(), (clock.now() + chrono::Duration::hours(1)).timestamp());
    assert_eq!(stored.renew_at.timestamp(), (clock.now() + chrono::Duration::minutes(59)).timestamp());
    // A caller that read version 0 is too late for a lease and for a save.
    assert!(!ledger.lease_renewal("acumatica#t", 0, lease, "c").await.unwrap(), "version moved on");
    assert!(!ledger.save_token("acumatica#t", &token("late", None), 0, "a").await.unwrap());
    // A renewal that failed ends its lease at once; only its owner can end it.
    assert!(ledger.lease_renewal("acumatica#t", 1, lease, "c").await.unwrap());
    ledger.end_lease("acumatica#t", "d").await.unwrap();
    assert!(!ledger.lease_renewal("acumatica#t", 1, lease, "d").await.unwrap(), "c still holds it");
    ledger.end_lease("acumatica#t", "c").await.unwrap();
    // The next renewal; its holder dies, and after the lease another caller takes over, while
    // the late holder's save is refused.
    assert!(ledger.lease_renewal("acumatica#t", 1, lease, "d").await.unwrap(), "ended, so free");
    assert!(!ledger.lease_renewal("acumatica#t", 1, lease, "e").await.unwrap());
    clock.advance(chrono::Duration::seconds(16));
    assert!(ledger.lease_renewal("acumatica#t", 1, lease, "e").await.unwrap(), "an expired lease is taken over");
    assert!(!ledger.save_token("acumatica#t", &token("d2", None), 1, "d").await.unwrap(), "d's lease was taken");
    assert!(ledger.save_token("acumatica#t", &token("e2", None), 1, "e").await.unwrap());
    let record = ledger.token("acumatica#t").await.unwrap().unwrap();
    assert_eq!(record.version, 2);
    let stored = record.token.unwrap();
    assert_eq!(stored.access.expose_secret(), "e2");
    assert!(stored.refresh.is_none(), "a token issued without a refresh token keeps none");
}

#[tokio::test]
async fn mappings_are_stored_by_version() {
    let (ledger, _clock) = ledger("mappings").await;
    let v1 =
        ledger.save_mapping("sc-main", "mappings/sc-main.toml", "[ship_via]\nGround = \"UPSGROUND\"\n").await.unwrap();
    assert_eq!(v1.version, 1);
    let same =
        ledger.save_mapping("sc-main", "mappings/sc-main.toml", "[ship_via]\nGround = \"UPSGROUND\"\n").await.unwrap();
    assert_eq!(same.version, 1, "saving identical content does not make a new version");
    let v2 = ledger
        .save_mapping("sc-main", "mappings/sc-main.toml", "[ship_via]\nGround = \"FEDEXGROUND\"\n")
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(ledger.latest_mapping("sc-main").await.unwrap().unwrap().version, 2);
    assert!(ledger.mapping_version("sc-main", 1).await.unwrap().unwrap().source.contains("UPSGROUND"));
    assert_eq!(ledger.latest_mapping("other").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Connector log
// ---------------------------------------------------------------------------------------------

fn log_entry(connection: &str, entity: &str, at: DateTime<Utc>, action: &str) -> LogEntry {
    // The log stores millisecond precision.
    let at = at.trunc_subsecs(3);
    LogEntry {
        id: uuid::Uuid::new_v4(),
        connection: conn(connection),
        group: LogGroup::Orders,
        action: action.into(),
        direction: Direction::Import,
        result: LogResult::Success,
        entity_id: entity.into(),
        notes: format!("{action} {entity}"),
        started_at: at,
        completed_at: at + chrono::Duration::milliseconds(250),
        // Half the entries carry one, so both forms are stored and read back.
        correlation_id: entity.ends_with(['0', '2', '4', '6', '8']).then(|| format!("corr-{entity}")),
        // Likewise a queue time on some (millisecond precision, as stored).
        queued_at: entity.ends_with(['0', '3', '6', '9']).then(|| at - chrono::Duration::milliseconds(1500)),
    }
}

#[tokio::test]
async fn connector_log_is_queryable_by_time_and_by_entity_and_hides_expired_entries() {
    let config = sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = schema::LOG_TABLE.physical_name(&unique_prefix("log"));
    schema::ensure_table(&client, &schema::LOG_TABLE, &table).await.unwrap();
    let log = DynamoConnectorLog::new(client.clone(), &table, Duration::from_secs(30 * 24 * 3600));

    let now = Utc::now();
    let yesterday = now - chrono::Duration::days(1);
    let e1 = log_entry("sc-main", "SC-1", yesterday, "import_order");
    let e2 = log_entry("sc-main", "SC-1", now - chrono::Duration::minutes(5), "acknowledge");
    let e3 = log_entry("sc-main", "SC-2", now - chrono::Duration::minutes(1), "import_order");
    let other = log_entry("bc-store", "SC-1", now - chrono::Duration::minutes(1), "import_order");
    for e in [&e1, &e2, &e3, &other] {
        log.record(e).await.unwrap();
    }

    let window = log.entries_between(&conn("sc-main"), now - chrono::Duration::minutes(10), now, 100).await.unwrap();
    assert_eq!(window.iter().map(|e| e.id).collect::<Vec<_>>(), vec![e2.id, e3.id]);
    let two_days = log.entries_between(&conn("sc-main"), now - chrono::Duration::days(2), now, 100).await.unwrap();
    assert_eq!(two_days.len(), 3);

    let for_entity = log.entries_for_entity(&conn("sc-main"), "SC-1", 10).await.unwrap();
    assert_eq!(for_entity.iter().map(|e| e.id).collect::<Vec<_>>(), vec![e2.id, e1.id], "newest first, one connection");
    assert_eq!(for_entity[0], e2);

    // An entry past its retention (TTL) is hidden although the emulator keeps it.
    let short = DynamoConnectorLog::new(client, &table, Duration::from_secs(1));
    let old = log_entry("sc-main", "SC-3", now - chrono::Duration::minutes(2), "import_order");
    short.record(&old).await.unwrap();
    assert!(log.entries_for_entity(&conn("sc-main"), "SC-3", 10).await.unwrap().is_empty());
}

/// The retention purge rewrites entries in place: an entry read back carries the keys it was
/// written under (the start to the microsecond), so the rewrite replaces it, and the by-entity
/// index follows a changed entity id.
#[tokio::test]
async fn a_rewritten_log_entry_replaces_the_original_and_moves_to_its_new_entity() {
    let config = sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = schema::LOG_TABLE.physical_name(&unique_prefix("logrw"));
    schema::ensure_table(&client, &schema::LOG_TABLE, &table).await.unwrap();
    let log = DynamoConnectorLog::new(client.clone(), &table, Duration::from_secs(30 * 24 * 3600));
    let mut entry = log_entry("sc-main", "ada@example.com", Utc::now(), "create_customer");
    entry.started_at = Utc::now().trunc_subsecs(6); // microseconds, as the sort key keeps them
    entry.notes = "Customer Ada Lovelace <ada@example.com> created.".into();
    log.record(&entry).await.unwrap();

    let mut read = log.entries_for_entity(&conn("sc-main"), "ada@example.com", 10).await.unwrap().remove(0);
    assert_eq!(read.started_at, entry.started_at, "the start is read back to the microsecond");
    read.notes = "Customer [removed] <[removed]> created.".into();
    read.entity_id = "[removed]".into();
    log.rewrite(&read).await.unwrap();

    assert!(log.entries_for_entity(&conn("sc-main"), "ada@example.com", 10).await.unwrap().is_empty());
    let moved = log.entries_for_entity(&conn("sc-main"), "[removed]", 10).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].notes, "Customer [removed] <[removed]> created.");
    let day = log
        .entries_between(&conn("sc-main"), entry.started_at - chrono::Duration::minutes(1), Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(day.len(), 1, "replaced, not copied");
}

/// Followed orders on DynamoDB: following twice keeps the first record, pages come in id order,
/// the first shipment is kept against a later one and against a save from an older read.
#[tokio::test]
async fn followed_orders_page_in_order_and_keep_their_first_shipment() {
    let (ledger, _) = ledger("follow").await;
    let connection = conn("sc-main");
    let order = |n: i64| FollowedOrder {
        connection: connection.clone(),
        channel_order_id: ChannelOrderId::new(SystemCode::parse("SC").unwrap(), n.to_string()).unwrap(),
        display_number: format!("AMZ-{n}"),
        erp: ErpOrderRef::parse(&format!("SO/SO{n:06}")).unwrap(),
        imported_at: Utc::now().trunc_subsecs(3),
        shipped_at: None,
        charges: Default::default(),
        charges_checked_at: None,
        charges_done: false,
        personal: Some(PersonalData { names: vec!["Ada Lovelace".into()], ..Default::default() }),
        purged_at: None,
    };
    for n in 1..=5 {
        ledger.follow(&order(n)).await.unwrap();
    }
    let mut changed = order(1);
    changed.display_number = "changed".into();
    ledger.follow(&changed).await.unwrap();
    let first = ledger.followed(&connection, None, 2).await.unwrap();
    assert_eq!(first.iter().map(|o| o.display_number.as_str()).collect::<Vec<_>>(), vec!["AMZ-1", "AMZ-2"]);
    let rest = ledger.followed(&connection, Some(&first[1].channel_order_id), 10).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert!(ledger.followed(&conn("other"), None, 10).await.unwrap().is_empty());

    let stale = ledger.followed_order(&connection, &order(2).channel_order_id).await.unwrap().unwrap();
    let shipped = Utc::now().trunc_subsecs(3);
    ledger.mark_shipped(&connection, &stale.channel_order_id, shipped).await.unwrap();
    ledger.mark_shipped(&connection, &stale.channel_order_id, shipped + chrono::Duration::days(1)).await.unwrap();
    let mut purged = stale.clone();
    purged.personal = None;
    ledger.save_followed(&purged).await.unwrap();
    let now = ledger.followed_order(&connection, &stale.channel_order_id).await.unwrap().unwrap();
    assert_eq!(now.shipped_at, Some(shipped), "the first shipment, kept through a save of an older read");
    assert_eq!(now.personal, None);
    // Marking an order nobody follows creates nothing.
    ledger.mark_shipped(&connection, &order(9).channel_order_id, shipped).await.unwrap();
    assert!(ledger.followed_order(&connection, &order(9).channel_order_id).await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// SQS
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum TestMessage {
    #[serde(rename = "test.v1")]
    Work { n: u32, poison: bool },
}

#[derive(Debug, thiserror::Error)]
#[error("handler refused message {0}")]
struct Refused(u32);

impl Classify for Refused {
    fn class(&self) -> ErrorClass {
        ErrorClass::RETRY
    }
}

async fn test_queue(test: &str, visibility: u32, max_receive: u32) -> (aws_sdk_sqs::Client, QueueUrls) {
    let config = sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&config);
    let prefix = unique_prefix(test);
    let urls = schema::ensure_queue(
        &client,
        &schema::ORDERS_QUEUE,
        &schema::ORDERS_QUEUE.physical_name(&prefix),
        &schema::ORDERS_QUEUE.dlq_physical_name(&prefix),
        Some((visibility, max_receive)),
    )
    .await
    .expect("create queue");
    (client, urls)
}

async fn receive_all(client: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    for _ in 0..20 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap();
        all.extend(out.messages().iter().cloned());
        if all.len() >= expected {
            break;
        }
    }
    all
}

#[tokio::test]
async fn batch_send_delivers_every_message_in_tens() {
    let (client, urls) = test_queue("send", 30, 5).await;
    let queue = SqsQueue::new(client.clone(), &urls.url);
    let messages = (0..25)
        .map(|n| {
            Envelope::new(TestMessage::Work { n, poison: false }, Utc::now())
                .to_outgoing(format!("order #{n}"))
                .unwrap()
        })
        .collect();
    let report = queue.send(messages).await.unwrap();
    assert_eq!(report.sent.len(), 25);
    assert!(report.failed.is_empty());
    assert!(report.sent.contains(&"order #24".to_string()), "caller ids are reported back");
    let received = receive_all(&client, &urls.url, 25).await;
    let mut ns: Vec<u32> = received
        .iter()
        .map(|m| match Envelope::<TestMessage>::parse("x", m.body()).unwrap().body {
            TestMessage::Work { n, .. } => n,
        })
        .collect();
    ns.sort();
    assert_eq!(ns, (0..25).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_delayed_message_is_held_from_consumers_for_its_delay() {
    let (client, urls) = test_queue("delay", 30, 5).await;
    let queue = SqsQueue::new(client.clone(), &urls.url);
    let mut held = Envelope::new(TestMessage::Work { n: 1, poison: false }, Utc::now()).to_outgoing("held").unwrap();
    held.delay = Some(Duration::from_secs(2));
    let now = Envelope::new(TestMessage::Work { n: 2, poison: false }, Utc::now()).to_outgoing("now").unwrap();
    queue.send(vec![held, now]).await.unwrap();
    let first = client.receive_message().queue_url(&urls.url).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<_> = first.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies.len(), 1, "only the undelayed message at once: {bodies:?}");
    assert!(bodies[0].contains("\"n\":2"), "{bodies:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = receive_all(&client, &urls.url, 1).await;
    assert!(later[0].body().unwrap_or_default().contains("\"n\":1"), "the delayed one after its delay");
}

#[tokio::test]
async fn message_failing_max_receive_count_times_lands_in_the_dlq() {
    let (client, urls) = test_queue("dlq", 1, 2).await;
    let queue = SqsQueue::new(client.clone(), &urls.url);
    let poison = Envelope::new(TestMessage::Work { n: 7, poison: true }, Utc::now());
    queue.send(vec![poison.to_outgoing("p").unwrap()]).await.unwrap();

    // Two receives without a delete (the consumer failed both times)...
    for attempt in 1..=2 {
        let got = receive_all(&client, &urls.url, 1).await;
        assert_eq!(got.len(), 1, "receive {attempt}");
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    // ...and the third receive moves it to the DLQ instead of delivering it.
    let third = client.receive_message().queue_url(&urls.url).wait_time_seconds(1).send().await.unwrap();
    assert!(third.messages().is_empty(), "message must not be delivered a third time");
    let dead = receive_all(&client, &urls.dlq_url, 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(Envelope::<TestMessage>::parse("d", dead[0].body()).unwrap(), poison);
}

#[tokio::test]
async fn partial_batch_failures_name_exactly_the_failed_message_ids() {
    let (client, urls) = test_queue("partial", 30, 5).await;
    let queue = SqsQueue::new(client.clone(), &urls.url);
    let mut outgoing: Vec<_> = (0..6)
        .map(|n| {
            Envelope::new(TestMessage::Work { n, poison: n % 3 == 1 }, Utc::now()).to_outgoing(n.to_string()).unwrap()
        })
        .collect();
    outgoing.push(orderbridge::ports::OutgoingMessage {
        entry_id: "garbage".into(),
        body: "{\"kind\":\"nope\"}".into(),
        delay: None,
    });
    queue.send(outgoing).await.unwrap();
    let received = receive_all(&client, &urls.url, 7).await;
    assert_eq!(received.len(), 7);

    // Build the Lambda event from what SQS delivered, as the event source mapping does.
    let mut event = SqsEvent::default();
    let mut expected_failures = Vec::new();
    for m in &received {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id().map(str::to_owned);
        record.body = m.body().map(str::to_owned);
        let parsed = Envelope::<TestMessage>::parse("x", m.body());
        if !matches!(parsed, Ok(Envelope { body: TestMessage::Work { poison: false, .. }, .. })) {
            expected_failures.push(m.message_id().unwrap().to_owned());
        }
        event.records.push(record);
    }
    let response = process_batch(event, 3, |env: Envelope<TestMessage>, _meta| async move {
        match env.body {
            TestMessage::Work { n, poison: true } => Err(Refused(n)),
            TestMessage::Work { .. } => Ok(()),
        }
    })
    .await;
    let mut failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    failed.sort();
    expected_failures.sort();
    assert_eq!(failed.len(), 3, "two poison messages and one unreadable body");
    assert_eq!(failed, expected_failures);
}

// ---------------------------------------------------------------------------------------------
// Provisioning
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn provisioning_twice_is_idempotent_and_applies_the_redrive_policy() {
    let config = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let prefix = unique_prefix("provision");
    let first = schema::provision(&dynamo, &sqs, &prefix).await.unwrap();
    let second = schema::provision(&dynamo, &sqs, &prefix).await.unwrap();
    assert_eq!(first, second);

    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&first.orders.url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], schema::ORDERS_QUEUE.visibility_timeout_secs.to_string());
    let redrive: serde_json::Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], first.orders.dlq_arn.as_str());
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        schema::ORDERS_QUEUE.max_receive_count.to_string()
    );

    let table = dynamo.describe_table().table_name(&first.state_table).send().await.unwrap();
    let gsis = table.table().unwrap().global_secondary_indexes();
    assert_eq!(gsis.len(), 1);
    assert_eq!(gsis[0].index_name(), Some("gsi1"));
    let ttl = dynamo.describe_time_to_live().table_name(&first.log_table).send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().unwrap().attribute_name(), Some(schema::TTL_ATTRIBUTE));
}

// ---------------------------------------------------------------------------------------------
// Shared rate budgets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_shared_budget_take_is_one_conditional_write_whatever_the_callers_hint() {
    use orderbridge::ports::{SharedBudgets, Take};
    let (ledger, _) = ledger("budget-take").await;
    let key = "acumatica#https://erp.example";
    let now = 1_000_000_000;
    // Idle: from now.
    assert_eq!(ledger.take(key, now, 100, 500, 0).await.unwrap(), Take::Granted { tat: now + 100 });
    // Busy, and the caller believes it idle (another container took): from the TAT.
    assert_eq!(ledger.take(key, now, 100, 500, 0).await.unwrap(), Take::Granted { tat: now + 200 });
    assert_eq!(ledger.take(key, now, 200, 500, now + 200).await.unwrap(), Take::Granted { tat: now + 400 });
    // Past the ceiling: refused with the TAT, nothing taken.
    assert_eq!(ledger.take(key, now, 200, 500, now + 400).await.unwrap(), Take::Full { tat: now + 400 });
    // A higher ceiling still fits.
    assert_eq!(ledger.take(key, now, 100, 500, now + 400).await.unwrap(), Take::Granted { tat: now + 500 });
    // Later, the budget went idle while the caller believed it busy.
    assert_eq!(ledger.take(key, now + 10_000, 100, 500, now + 500).await.unwrap(), Take::Granted { tat: now + 10_100 });
    // A vendor's pause refuses every take until it ends; a shorter one does not shorten it.
    ledger.hold_until(key, now + 50_000).await.unwrap();
    ledger.hold_until(key, now + 20_000).await.unwrap();
    assert_eq!(ledger.take(key, now + 10_000, 100, 500, 0).await.unwrap(), Take::Paused { until: now + 50_000 });
    assert_eq!(
        ledger.take(key, now + 10_000, 100, 500, now + 20_000).await.unwrap(),
        Take::Paused { until: now + 50_000 }
    );
    assert_eq!(ledger.take(key, now + 50_000, 100, 500, 0).await.unwrap(), Take::Granted { tat: now + 50_100 });
    // Another account is untouched.
    assert_eq!(ledger.take("bigcommerce#s", now, 100, 500, 0).await.unwrap(), Take::Granted { tat: now + 100 });
}

#[tokio::test]
async fn two_containers_share_one_budget_in_the_state_table() {
    use orderbridge::http::{with_budget, BudgetScope, RateBudget, RateLimiter};
    use orderbridge::ports::{CallPriority, SystemClock};
    let (ledger, _) = ledger("budget-share").await;
    let ledger = Arc::new(ledger);
    // 30 calls per 3 s; each container's own limiter would allow it all of them.
    let budget = RateBudget::new(30, 3);
    let containers = [RateLimiter::new(budget, "erp#x".into()), RateLimiter::new(budget, "erp#x".into())];
    let scope = BudgetScope { budgets: ledger.clone(), priority: CallPriority::Import, clock: Arc::new(SystemClock) };
    let started = std::time::Instant::now();
    let run = Duration::from_secs(9);
    let calls = Mutex::new(Vec::new());
    with_budget(Some(scope), async {
        let callers = containers.iter().flat_map(|limiter| (0..3).map(move |_| limiter)).map(|limiter| async {
            while started.elapsed() < run {
                limiter.acquire(Duration::from_secs(30)).await.expect("room within 30 s");
                calls.lock().unwrap().push(started.elapsed());
            }
        });
        futures::future::join_all(callers).await;
    })
    .await;
    let mut calls = calls.into_inner().unwrap();
    calls.sort();
    let most = (0..calls.len())
        .map(|i| calls[i..].iter().take_while(|t| **t < calls[i] + Duration::from_secs(3)).count())
        .max()
        .unwrap_or(0);
    assert!(most <= 30, "{most} calls in one 3 s window of a 30-per-3-s budget shared by two containers");
    // The steady rate is 27 per 3 s: about 81 in 9 s plus the first burst.
    assert!(calls.len() >= 70, "only {} calls in 9 s", calls.len());
}

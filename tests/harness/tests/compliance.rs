//! The connector compliance suite: every vendor in the registry, built through the registry from
//! a connections file as a deployment builds it, passes the same checks against the sandbox.
//!
//! - a listing is paged to its end without repeats, and resumes from a saved page token in a new
//!   container with nothing lost;
//! - a push repeated (a redelivery) writes nothing more;
//! - a 429 is retryable and carries the vendor's reset hint;
//! - refused credentials are a permanent error naming the connection, without the secret;
//! - a record the vendor answers in another shape is a permanent error (the record's failure,
//!   recorded once), not a retry loop.
//!
//! What differs per vendor is only how a sandbox record to push to is found (`fixture_order`).

use std::collections::BTreeSet;
use std::time::Duration;

use orderbridge::connections::{ChannelConnection, Connections};
use orderbridge::connectors::registry::{self, ChannelParts, Role, VENDORS};
use orderbridge::error::Classify;
use orderbridge::model::{
    ChannelOrderId, Package, PackageItem, Shipment, ShipmentSource, SystemCode, Tracking, TrackingNumber,
};
use orderbridge::ports::{ConnectorError, OrderSource};
use orderbridge_harness::world::{demo_connections, WebhookSecrets};
use orderbridge_sandbox::{FaultKind, FaultSpec, Sandbox, SandboxConfig, ScriptedFault, Vendor};

const WRONG_SECRET: &str = "compliance-wrong-secret";

/// Setting names that hold a credential, whatever the vendor calls it.
const SECRET_FIELDS: &[&str] = &["password", "access_token", "api_secret", "token", "client_secret"];

struct Suite {
    sandbox: Sandbox,
    connections: Connections,
}

impl Suite {
    async fn start() -> Self {
        let config = SandboxConfig {
            seed: 17,
            sellercloud_orders: 40,
            bigcommerce_orders: 40,
            // Enough processing storefront orders to fill more than one page of five.
            magento_orders: 30,
            shipstation_orders: 4,
            ..SandboxConfig::default()
        };
        let sandbox = orderbridge_sandbox::start(config).await.expect("sandbox");
        let (mut connections, _) = demo_connections(&sandbox, &WebhookSecrets::generate()).expect("connections");
        // A publish-only storefront, as a deployment adds one: `kind` and `settings` only.
        let describe = sandbox.describe();
        let mg = &describe["vendors"]["magento"];
        let mut settings = toml::Table::new();
        settings.insert("base_url".into(), mg["base_url"].as_str().unwrap_or_default().into());
        settings.insert("access_token".into(), mg["integration_token"].as_str().unwrap_or_default().into());
        // The demo's file has one (receiving ERP orders); the suite checks a plain one as well.
        connections.connections.push(connection("mg-plain", "magento", settings));
        Self { sandbox, connections }
    }

    fn connection_of(&self, kind: &str) -> ChannelConnection {
        self.connections.connections.iter().find(|c| c.kind == kind).cloned().unwrap_or_else(|| {
            panic!("{kind}: no connection of this kind in the suite's connections file; add one to Suite::start")
        })
    }
}

fn connection(id: &str, kind: &str, settings: toml::Table) -> ChannelConnection {
    let text = format!("id = \"{id}\"\nkind = \"{kind}\"\n[settings]\n{}", toml::to_string(&settings).unwrap());
    toml::from_str(&text).expect("a channel connection")
}

fn with(mut c: ChannelConnection, key: &str, value: toml::Value) -> ChannelConnection {
    c.settings.insert(key.into(), value);
    c
}

fn vendor_of(kind: &str) -> Vendor {
    kind.parse().unwrap_or_else(|_| panic!("{kind}: the sandbox simulates no vendor of this name"))
}

fn build(c: &ChannelConnection) -> ChannelParts {
    registry::channel(c).unwrap_or_else(|e| panic!("{}: {e}", c.id))
}

/// Every page of a listing from `token` on: the ids in order, and how many pages.
async fn walk(source: &dyn OrderSource, token: Option<orderbridge::ports::PageToken>) -> (Vec<ChannelOrderId>, u32) {
    let (mut ids, mut pages, mut token) = (Vec::new(), 0u32, token);
    loop {
        let page = source.list_new_orders(token.as_ref()).await.unwrap_or_else(|e| panic!("listing: {e}"));
        pages += 1;
        ids.extend(page.orders.iter().map(|o| o.id().clone()));
        match page.next {
            Some(next) => token = Some(next),
            None => return (ids, pages),
        }
        assert!(pages < 500, "the listing never ends");
    }
}

async fn paging_and_resume(suite: &Suite, kind: &str) {
    let base = suite.connection_of(kind);
    let small = with(base.clone(), "page_size", 5.into());
    let source = build(&small).source.expect("a source");
    let (all, pages) = walk(source.as_ref(), None).await;
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), all.len(), "{kind}: an order listed twice in one walk");
    assert!(pages >= 2 && all.len() > 5, "{kind}: the seed must fill more than one page ({} orders)", all.len());
    let (big, _) = walk(build(&with(base, "page_size", 50.into())).source.expect("a source").as_ref(), None).await;
    assert_eq!(big.into_iter().collect::<BTreeSet<_>>(), distinct, "{kind}: page size changes what is listed");

    // Resume: the token of page one, handed to a new container, continues where it stopped.
    let first = source.list_new_orders(None).await.unwrap();
    let token = first.next.expect("a second page");
    let fresh = build(&small).source.expect("a source");
    let (rest, _) = walk(fresh.as_ref(), Some(token)).await;
    let resumed: BTreeSet<_> = first.orders.iter().map(|o| o.id().clone()).chain(rest).collect();
    assert_eq!(resumed, distinct, "{kind}: resuming from a saved page token lost or added orders");
}

/// An order of the channel to push to, and a one-box shipment of its lines.
async fn fixture_order(suite: &Suite, kind: &str, parts: &ChannelParts) -> (ChannelOrderId, Shipment) {
    let (id, items) = match &parts.source {
        Some(source) => {
            let listed = source.list_new_orders(None).await.unwrap();
            let id = listed.orders.first().expect("a listed order").id().clone();
            let order = source.fetch_order(&id).await.unwrap_or_else(|e| panic!("{kind}: fetch {id}: {e}"));
            let items = order
                .lines
                .iter()
                .map(|l| PackageItem {
                    item_id: l.identifiers.sku.clone().unwrap_or_default(),
                    erp_line_nbr: None,
                    channel_line_id: Some(l.channel_line_id.clone()),
                    quantity: l.quantity,
                })
                .collect();
            (id, items)
        }
        // A publish-only storefront: one of the sandbox's own orders.
        None => {
            let products = suite.sandbox.state().seed_data().products.clone();
            let lines = serde_json::json!({ "lines": [{ "sku": products[0].sku, "qty": 1 }] });
            let raw = suite.sandbox.state().magento_create_orders(1, &serde_json::from_value(lines).unwrap())[0];
            let id = (parts.order_id)(&raw.to_string()).expect("the channel's own id");
            let item = PackageItem {
                item_id: products[0].sku.clone(),
                erp_line_nbr: None,
                channel_line_id: None,
                quantity: 1.into(),
            };
            (id, vec![item])
        }
    };
    let package = Package {
        package_id: "1".into(),
        tracking: Tracking {
            number: TrackingNumber::parse(format!("1ZCOMPLY{}", kind.len())).unwrap(),
            carrier: "UPS".into(),
            service: Some("Ground".into()),
            url: None,
        },
        items,
        weight: None,
    };
    let shipment = Shipment {
        source: ShipmentSource::new(SystemCode::parse("AC").unwrap(), format!("C{}", kind.len())),
        ship_date: chrono::Utc::now().date_naive(),
        confirmed_at: None,
        packages: vec![package],
        completes_order: true,
    };
    (id, shipment)
}

fn writes(sandbox: &Sandbox, vendor: Vendor) -> u32 {
    sandbox.state().write_counts(vendor).values().flat_map(|m| m.values()).sum()
}

async fn repeated_push_writes_nothing(suite: &Suite, kind: &str) {
    let parts = build(&suite.connection_of(kind));
    let (order, shipment) = fixture_order(suite, kind, &parts).await;
    parts.publisher.push_shipment(&order, &shipment).await.unwrap_or_else(|e| panic!("{kind}: first push: {e}"));
    let after_first = writes(&suite.sandbox, vendor_of(kind));
    assert!(after_first > 0, "{kind}: the first push wrote nothing");
    parts.publisher.push_shipment(&order, &shipment).await.unwrap_or_else(|e| panic!("{kind}: repeated push: {e}"));
    assert_eq!(writes(&suite.sandbox, vendor_of(kind)), after_first, "{kind}: a repeated push wrote again");
}

/// A note added again (the first add's reply was lost, or the message came twice) is found on
/// the order and not written a second time.
async fn repeated_note_writes_nothing(suite: &Suite, kind: &str) {
    let parts = build(&suite.connection_of(kind));
    let (order, _) = fixture_order(suite, kind, &parts).await;
    let before = writes(&suite.sandbox, vendor_of(kind));
    parts.publisher.add_note(&order, "compliance: once").await.unwrap_or_else(|e| panic!("{kind}: first note: {e}"));
    let after_first = writes(&suite.sandbox, vendor_of(kind));
    assert!(after_first > before, "{kind}: the first note wrote nothing");
    parts
        .publisher
        .add_note(&order, " compliance: once ")
        .await
        .unwrap_or_else(|e| panic!("{kind}: repeated note: {e}"));
    assert_eq!(writes(&suite.sandbox, vendor_of(kind)), after_first, "{kind}: a repeated note wrote again");
}

/// A 429 whose reset is longer than a call may wait comes back retryable, with the vendor's hint
/// when the vendor gives one.
fn assert_throttled(kind: &str, result: Result<(), ConnectorError>) {
    let err = result.expect_err("a throttled call fails");
    let class = err.class();
    assert!(class.is_retryable(), "{kind}: 429 must be retryable: {err}");
    if !registry::vendor(kind).is_some_and(|v| v.throttle_hint) {
        return;
    }
    match class {
        orderbridge::ErrorClass::Retryable { after: Some(after) } => {
            assert!(after >= Duration::from_secs(30), "{kind}: the hint ({after:?}) is the vendor's reset")
        }
        other => panic!("{kind}: a 429 must carry the vendor's reset hint, got {other:?}: {err}"),
    }
}

fn throttle(sandbox: &Sandbox, vendor: Vendor) {
    sandbox.state().set_faults(vendor, FaultSpec { throttle_reset_ms: 120_000, ..FaultSpec::default() });
    let mut fault = ScriptedFault::new(FaultKind::TooManyRequests);
    fault.times = 20;
    sandbox.state().push_fault(vendor, fault);
}

fn clear_faults(sandbox: &Sandbox, vendor: Vendor) {
    // The spec holds the scripted faults too: a default one clears both.
    sandbox.state().set_faults(vendor, FaultSpec::default());
}

/// Refused credentials: permanent, naming the connection, never showing the secret.
fn assert_refused(kind: &str, connection: &str, result: Result<(), ConnectorError>) {
    let err = result.expect_err("wrong credentials fail");
    let text = format!("{err} {err:?}");
    assert!(!err.is_retryable(), "{kind}: refused credentials are permanent: {err}");
    assert!(matches!(&err, ConnectorError::Unauthorized { .. }), "{kind}: {err:?}");
    assert!(err.to_string().contains(connection), "{kind}: the error names the connection: {err}");
    assert!(!text.contains(WRONG_SECRET), "{kind}: the secret leaked: {text}");
}

fn with_wrong_secret(mut c: ChannelConnection) -> ChannelConnection {
    for field in SECRET_FIELDS {
        if c.settings.contains_key(*field) {
            c.settings.insert((*field).into(), WRONG_SECRET.into());
        }
    }
    c
}

async fn channel_checks(suite: &Suite, kind: &str) {
    let vendor = vendor_of(kind);
    let conn = suite.connection_of(kind);
    let parts = build(&conn);
    let (order, _) = fixture_order(suite, kind, &parts).await;
    if parts.source.is_some() {
        paging_and_resume(suite, kind).await;
    }
    repeated_push_writes_nothing(suite, kind).await;
    repeated_note_writes_nothing(suite, kind).await;

    if let Some(source) = &parts.source {
        // The order answered in another shape: that order's permanent failure, by name.
        let mut fault = ScriptedFault::new(FaultKind::WrongShape).on("GET", order.raw());
        fault.times = 5;
        suite.sandbox.state().push_fault(vendor, fault);
        let err = source.fetch_order(&order).await.expect_err("an unreadable order");
        clear_faults(&suite.sandbox, vendor);
        assert!(!err.is_retryable(), "{kind}: an order that can never be read must not be retried: {err}");
        assert!(matches!(err, ConnectorError::Unmappable { .. }), "{kind}: {err:?}");
    }
    throttle(&suite.sandbox, vendor);
    assert_throttled(kind, parts.publisher.add_note(&order, "compliance: throttled").await);
    clear_faults(&suite.sandbox, vendor);

    let refused = build(&with_wrong_secret(conn.clone()));
    assert_refused(kind, conn.id.as_str(), refused.publisher.add_note(&order, "compliance: refused").await);
}

async fn erp_checks(suite: &Suite, kind: &str) {
    let vendor = vendor_of(kind);
    let erp = registry::erp(&suite.connections, None).expect("the ERP");
    let since = chrono::Utc::now() - chrono::Duration::days(400);
    erp.shipments.shipments_since(since).await.unwrap_or_else(|e| panic!("{kind}: shipments: {e}"));

    throttle(&suite.sandbox, vendor);
    assert_throttled(kind, erp.shipments.shipments_since(since).await.map(|_| ()));
    clear_faults(&suite.sandbox, vendor);
    erp.sink.end_session().await;

    let mut wrong = suite.connections.clone();
    wrong.acumatica.password = WRONG_SECRET.to_owned().into();
    let refused = registry::erp(&wrong, None).expect("the ERP");
    assert_refused(kind, kind, refused.shipments.shipments_since(since).await.map(|_| ()));
}

async fn tool_checks(suite: &Suite, kind: &str) {
    let vendor = vendor_of(kind);
    let tool = registry::shipping_tool(&suite.connections).expect("the tool").expect("configured");
    let since = chrono::Utc::now() - chrono::Duration::days(400);
    tool.tool.shipments_since(since).await.unwrap_or_else(|e| panic!("{kind}: shipments: {e}"));

    throttle(&suite.sandbox, vendor);
    assert_throttled(kind, tool.tool.shipments_since(since).await.map(|_| ()));
    clear_faults(&suite.sandbox, vendor);

    let mut wrong = suite.connections.clone();
    if let Some(section) = &mut wrong.shipstation {
        section.settings.api_secret = WRONG_SECRET.to_owned().into();
    }
    let refused = registry::shipping_tool(&wrong).expect("the tool").expect("configured");
    assert_refused(kind, kind, refused.tool.shipments_since(since).await.map(|_| ()));
}

/// Runs the suite for one registered vendor: the one line each connector's checks come down to.
async fn comply(kind: &str) {
    let suite = Suite::start().await;
    let vendor = VENDORS.iter().find(|v| v.kind == kind).unwrap_or_else(|| panic!("{kind} is not registered"));
    match vendor.role {
        Role::Channel => channel_checks(&suite, kind).await,
        Role::Erp => erp_checks(&suite, kind).await,
        Role::ShippingTool => tool_checks(&suite, kind).await,
    }
    suite.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_vendor_passes_the_compliance_suite() {
    for vendor in VENDORS {
        comply(vendor.kind).await;
    }
}

//! Mapping dry run end to end: the vendor sandbox's new orders (not imported) mapped with the
//! stored mapping and with an edited copy, through the same channel and ERP clients the functions
//! build from the connections file. Nothing may be written: no vendor write, no DynamoDB item,
//! no queued message. Needs the emulator (`make test` starts it).

use std::collections::BTreeMap;
use std::time::Duration;

use orderbridge::connections::Connections;
use orderbridge::handlers::{dry_run, DryRunReport, DryRunSummary, MappingCache, Verdict};
use orderbridge::mapping::Mapping;
use orderbridge::model::ConnectionId;
use orderbridge::ports::OrderSource;
use orderbridge_harness::report::erp_orders_by_import_id;
use orderbridge_harness::world::{demo_dir, set_setting, World, WorldConfig};
use orderbridge_sandbox::{SandboxConfig, Vendor, WindowLimit};

/// A vendor's writes as the sandbox counts them: kind → key → count.
type WriteCounts = BTreeMap<String, BTreeMap<String, u32>>;

/// Everything the dry run could have written to, read back.
#[derive(Debug, PartialEq)]
struct Written {
    vendor_writes: Vec<(Vendor, WriteCounts)>,
    sellercloud_exported: Vec<i64>,
    bigcommerce_statuses: BTreeMap<i64, i64>,
    erp_sales_orders: usize,
    erp_customers: usize,
    state_items: usize,
    log_items: usize,
    orders_queue: (u64, u64),
}

async fn item_count(world: &World, table: &str) -> usize {
    let mut count = 0usize;
    let mut start = None;
    loop {
        let out = world
            .aws
            .dynamo
            .scan()
            .table_name(table)
            // The shared Acumatica sign-in token is a session, not data: signing in (as a cookie
            // session would) is no write of the dry run's.
            .filter_expression("NOT begins_with(pk, :token)")
            .expression_attribute_values(":token", aws_sdk_dynamodb::types::AttributeValue::S("TOKEN#".into()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| panic!("scanning {table}: {e:?}"));
        count += usize::try_from(out.count()).unwrap_or_default();
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return count;
        }
    }
}

async fn written(world: &World) -> Written {
    let state = world.sandbox.state();
    let vendor_writes = Vendor::ALL.iter().map(|v| (*v, state.write_counts(*v))).collect();
    let sellercloud_exported = state.sellercloud().orders.values().filter(|o| o.is_exported).map(|o| o.id).collect();
    let bigcommerce_statuses = state.bigcommerce().orders.values().map(|o| (o.id, o.status_id)).collect();
    let (erp_sales_orders, erp_customers) = {
        let erp = state.acumatica();
        (erp.sales_orders.len(), erp.customers.len())
    };
    Written {
        vendor_writes,
        sellercloud_exported,
        bigcommerce_statuses,
        erp_sales_orders,
        erp_customers,
        state_items: item_count(world, &world.aws.resources.state_table).await,
        log_items: item_count(world, &world.aws.resources.log_table).await,
        orders_queue: world.aws.queue_depth(&world.aws.resources.orders.url).await,
    }
}

fn wide_window(connections: &mut Connections) {
    // The seed spreads orders over 30 days; a wider window lists every new one.
    set_setting(connections, "sellercloud", "max_age_days", 60.into());
}

async fn start() -> World {
    let mut sandbox = SandboxConfig {
        seed: 47,
        sellercloud_orders: 60,
        bigcommerce_orders: 60,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    // Room for two hundred lookups a minute; the client keeps to whatever the licence says.
    sandbox.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("e2e-dry-run"), sandbox);
    config.tweak_connections = Some(wide_window);
    World::start(config).await.unwrap_or_else(|e| panic!("{e}"))
}

fn source<'a>(world: &'a World, connection: &str) -> &'a dyn OrderSource {
    let id = ConnectionId::parse(connection).unwrap_or_else(|e| panic!("{e}"));
    world.app.pull.channels.get(&id).unwrap_or_else(|| panic!("no channel {connection}")).source.as_ref()
}

async fn stored(world: &World, name: &str) -> Mapping {
    let mapping = MappingCache::new(Duration::ZERO)
        .get(world.app.pull.ledger.as_ref(), name)
        .await
        .unwrap_or_else(|e| panic!("stored mapping {name}: {e}"));
    assert_eq!(mapping.version, 1, "the world uploads each demo mapping once");
    (*mapping).clone()
}

/// The demo mapping's text with each (from, to) replaced; every replacement must apply.
fn edited(file: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(demo_dir().join("mappings").join(file)).unwrap_or_else(|e| panic!("{e}"));
    for (from, to) in edits {
        assert!(text.contains(from), "{file} has no {from:?}");
        text = text.replace(from, to);
    }
    text
}

fn candidate(path: &str, text: &str) -> Mapping {
    Mapping::parse(path, 2, text).unwrap_or_else(|e| panic!("{e}"))
}

async fn run(world: &World, connection: &str, current: &Mapping, candidate: &Mapping) -> DryRunReport {
    let sink = world.app.import.sink.as_ref();
    let report = dry_run(source(world, connection), sink, current, candidate, 50)
        .await
        .unwrap_or_else(|e| panic!("dry run of {connection}: {}", orderbridge::error::ErrorChain(&e)));
    assert_eq!(report.summary.orders, report.orders.len());
    report
}

/// Every order whose verdict is `WouldChange` differs in exactly `ship_via: from → to`.
fn assert_only_ship_via_changed(report: &DryRunReport, from: &str, to: &str) {
    for o in report.orders.iter().filter(|o| o.verdict() == Verdict::WouldChange) {
        assert_eq!(o.changes.len(), 1, "{}: {:?}", o.order, o.changes);
        let c = &o.changes[0];
        assert_eq!(
            (c.field.as_str(), c.before.as_deref(), c.after.as_deref()),
            ("ship_via", Some(from), Some(to)),
            "{}",
            o.order
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dry_run_shows_what_a_mapping_change_would_do_and_writes_nothing() {
    let world = start().await;
    let before = written(&world).await;

    // ---- Sellercloud: the new orders the channel lists (status InProcess, not exported). ----
    let sc: Vec<(i64, String, bool)> = {
        let state = world.sandbox.state();
        let orders = state.sellercloud();
        orders
            .orders
            .values()
            .filter(|o| o.status_code == 2 && !o.is_exported)
            .map(|o| (o.id, o.service.clone(), o.payment_status == 30))
            .collect()
    };
    assert!((30..=50).contains(&sc.len()), "the seed must give 30 to 50 new Sellercloud orders, gave {}", sc.len());
    let sc_ground = sc.iter().filter(|(_, service, _)| service == "Ground").count();
    let sc_paid = sc.iter().filter(|(_, _, paid)| *paid).count();
    assert!(sc_ground > 0 && sc_ground < sc.len(), "the seed must mix shipping services ({sc_ground} Ground)");

    let sc_v1 = stored(&world, "sc-main").await;
    let ground_to_fedex = ("\"Ground\" = \"UPSGROUND\"", "\"Ground\" = \"FEDEXGROUND\"");
    // 1. The shipping change alone: Ground orders change in ship_via only, the rest do not change.
    let ship_only = candidate("candidate/sc-main.toml", &edited("sc-main.toml", &[ground_to_fedex]));
    let report = run(&world, "sc-main", &sc_v1, &ship_only).await;
    assert_eq!(report.listed, sc.len());
    assert_eq!(
        report.summary,
        DryRunSummary {
            orders: sc.len(),
            unchanged: sc.len() - sc_ground,
            would_change: sc_ground,
            would_fail: 0,
            would_start_to_succeed: 0,
            fail_both: 0
        }
    );
    assert_only_ship_via_changed(&report, "UPSGROUND", "FEDEXGROUND");
    let placed: Vec<_> = report.orders.iter().map(|o| o.placed_at).collect();
    assert!(placed.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // 2. The same plus the payment code "0" removed: Sellercloud reports every payment with code
    //    0, so every paid order fails by name; an unpaid one (none in this seed) would only change.
    let without_code_0 = candidate(
        "candidate/sc-main.toml",
        &edited("sc-main.toml", &[ground_to_fedex, ("\"0\" = \"CREDITCARD\"\n", "")]),
    );
    let report = run(&world, "sc-main", &sc_v1, &without_code_0).await;
    let unpaid_ground = sc.iter().filter(|(_, service, paid)| !*paid && service == "Ground").count();
    assert_eq!(
        report.summary,
        DryRunSummary {
            orders: sc.len(),
            unchanged: sc.len() - sc_paid - unpaid_ground,
            would_change: unpaid_ground,
            would_fail: sc_paid,
            would_start_to_succeed: 0,
            fail_both: 0
        }
    );
    assert_only_ship_via_changed(&report, "UPSGROUND", "FEDEXGROUND");
    for o in report.orders.iter().filter(|o| o.verdict() == Verdict::WouldFail) {
        let reason = o.after.failure().unwrap_or_default();
        assert!(
            reason.contains(
                "payment method \"0\": not mapped; add it to [payment_methods] in candidate/sc-main.toml (mapping v2)"
            ),
            "{}: {reason}",
            o.order
        );
    }
    let text = report.render();
    assert!(text.contains(&report.summary.line()), "{text}");
    assert!(
        text.contains(&format!(
            "Summary: {} orders: {unpaid_ground} would change, {sc_paid} would fail, 0 would start to succeed, 0 fail with both,",
            sc.len()
        )),
        "{text}"
    );

    // 3. The other way round: the broken mapping in force, the fixed file as the candidate.
    let report = run(&world, "sc-main", &without_code_0, &sc_v1).await;
    assert_eq!(report.summary.would_start_to_succeed, sc_paid);
    assert_eq!(report.summary.would_fail, 0);
    for o in report.orders.iter().filter(|o| o.verdict() == Verdict::WouldStartToSucceed) {
        assert!(o.before.failure().unwrap_or_default().contains("payment method \"0\": not mapped"), "{}", o.order);
    }

    // ---- BigCommerce: payment methods vary, so one candidate gives every kind of outcome. ----
    let bc: Vec<(i64, String, &'static str)> = {
        let state = world.sandbox.state();
        let orders = state.bigcommerce();
        orders
            .orders
            .values()
            .filter(|o| o.status_id == 11)
            .map(|o| (o.id, format!("{} {}", o.gen.carrier, o.gen.ship_service), o.gen.payment_method))
            .collect()
    };
    assert!((30..=50).contains(&bc.len()), "the seed must give 30 to 50 new BigCommerce orders, gave {}", bc.len());
    let amazon_pay = bc.iter().filter(|(_, _, pay)| *pay == "AMAZONPAY").count();
    let ground_not_amazon_pay = bc.iter().filter(|(_, ship, pay)| ship == "UPS Ground" && *pay != "AMAZONPAY").count();
    assert!(
        amazon_pay > 0 && ground_not_amazon_pay > 0,
        "the seed must have Amazon Pay ({amazon_pay}) and UPS Ground orders"
    );

    let bc_v1 = stored(&world, "bc-store").await;
    let bc_candidate = candidate(
        "candidate/bc-store.toml",
        &edited(
            "bc-store.toml",
            &[
                ("\"UPS Ground\" = \"UPSGROUND\"", "\"UPS Ground\" = \"FEDEXGROUND\""),
                ("\"Amazon Pay\" = \"AMAZONPAY\"\n", ""),
            ],
        ),
    );
    let report = run(&world, "bc-store", &bc_v1, &bc_candidate).await;
    assert_eq!(report.listed, bc.len());
    assert_eq!(
        report.summary,
        DryRunSummary {
            orders: bc.len(),
            unchanged: bc.len() - amazon_pay - ground_not_amazon_pay,
            would_change: ground_not_amazon_pay,
            would_fail: amazon_pay,
            would_start_to_succeed: 0,
            fail_both: 0
        }
    );
    assert_only_ship_via_changed(&report, "UPSGROUND", "FEDEXGROUND");
    let failing: Vec<String> =
        report.orders.iter().filter(|o| o.verdict() == Verdict::WouldFail).map(|o| o.order.to_string()).collect();
    let want: Vec<String> = {
        let mut w: Vec<String> =
            bc.iter().filter(|(_, _, pay)| *pay == "AMAZONPAY").map(|(id, _, _)| format!("BC-{id}")).collect();
        w.sort();
        w
    };
    let mut got = failing.clone();
    got.sort();
    assert_eq!(got, want, "the orders paid with Amazon Pay, and only those, would fail");
    for o in report.orders.iter().filter(|o| o.verdict() == Verdict::WouldFail) {
        let reason = o.after.failure().unwrap_or_default();
        assert!(reason.contains("payment method \"Amazon Pay\": not mapped; add it to [payment_methods] in candidate/bc-store.toml (mapping v2)"), "{}: {reason}", o.order);
    }
    let text = report.render();
    assert!(text.contains("    ship_via: UPSGROUND → FEDEXGROUND\n"), "{text}");
    assert!(
        text.contains(&format!(
            "Summary: {} orders: {ground_not_amazon_pay} would change, {amazon_pay} would fail, 0 would start to succeed, 0 fail with both, {} unchanged.",
            bc.len(),
            bc.len() - amazon_pay - ground_not_amazon_pay
        )),
        "{text}"
    );
    eprintln!("{text}");

    // ---- Nothing was written: not in any vendor, not in the tables, not in the queue. ----
    let after = written(&world).await;
    assert_eq!(after, before, "a dry run must write nothing");
    {
        let state = world.sandbox.state();
        let (sc_orders, bc_orders) = (state.sellercloud(), state.bigcommerce());
        assert!(sc.iter().all(|(id, _, _)| !sc_orders.orders[id].is_exported), "no order may be acknowledged");
        assert!(bc.iter().all(|(id, _, _)| bc_orders.orders[id].status_id == 11), "no order may be acknowledged");
    }
    let erp = erp_orders_by_import_id(&world.sandbox);
    let imported: Vec<String> = sc
        .iter()
        .map(|(id, _, _)| format!("SC-{id}"))
        .chain(bc.iter().map(|(id, _, _)| format!("BC-{id}")))
        .filter(|import_id| erp.contains_key(import_id))
        .collect();
    assert!(imported.is_empty(), "no order may be imported: {imported:?}");
    world.shutdown().await;
}

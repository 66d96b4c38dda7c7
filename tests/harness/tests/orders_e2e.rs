//! Orders in, end to end: the vendor sandbox (Sellercloud, BigCommerce, Acumatica) and the local
//! AWS emulator, driven through the order-pull and order-import handlers as Lambda would run them.
//! Needs the emulator (`make test` starts it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orderbridge::connections::Connections;
use orderbridge_harness::drive::settle_orders;
use orderbridge_harness::report::{erp_orders_by_import_id, import_counts, log_since};
use orderbridge_harness::world::{demo_dir, rate_limit, set_setting, World, WorldConfig};
use orderbridge_sandbox::{FaultSpec, SandboxConfig, Vendor, WindowLimit};
use rust_decimal::Decimal;
use serde_json::Value;

/// The Sellercloud and BigCommerce orders the channels list as new, by Import ID, with what the
/// ERP order must carry: (order type, ship via, channel grand total, line SKUs' ERP ids).
#[derive(Debug, Clone)]
struct Expected {
    order_type: &'static str,
    ship_via: &'static str,
    /// The buyer's shipping service as the channel reports it.
    service: &'static str,
    total: Decimal,
    inventory_ids: Vec<String>,
    prime: bool,
    instructions: Option<String>,
    gift: Option<String>,
}

fn ship_via(service: &str) -> &'static str {
    match service {
        "Ground" => "UPSGROUND",
        "Priority Mail" => "USPSPRIORITY",
        "2Day" => "FEDEX2DAY",
        "Next Day Air" => "UPSNEXTDAY",
        other => panic!("the seed uses an unexpected service {other}"),
    }
}

fn expected_orders(world: &World) -> BTreeMap<String, Expected> {
    let state = world.sandbox.state();
    let erp_id: BTreeMap<String, String> =
        state.seed_data().products.iter().map(|p| (p.sku.clone(), p.erp_inventory_id.clone())).collect();
    let ids = |lines: &[orderbridge_sandbox::seed::GenLine]| -> Vec<String> {
        lines.iter().map(|l| erp_id[&l.sku].clone()).collect()
    };
    let mut out = BTreeMap::new();
    for o in state.sellercloud().orders.values().filter(|o| o.status_code == 2 && !o.is_exported) {
        let g = &o.gen;
        let order_type = match g.channel {
            orderbridge_sandbox::seed::Channel::Amazon => "AM",
            orderbridge_sandbox::seed::Channel::Ebay => "EB",
            orderbridge_sandbox::seed::Channel::Walmart => "WM",
            orderbridge_sandbox::seed::Channel::Website => "SO",
        };
        out.insert(
            format!("SC-{}", o.id),
            Expected {
                order_type,
                // The demo mapping's rule: Amazon Prime orders ship FedEx 2Day.
                ship_via: if g.prime && g.channel == orderbridge_sandbox::seed::Channel::Amazon {
                    "FEDEX2DAY"
                } else {
                    ship_via(g.ship_service)
                },
                service: g.ship_service,
                total: g.grand_total(),
                inventory_ids: ids(&g.lines),
                prime: g.prime,
                instructions: g.instructions.clone(),
                gift: g.gift_message.clone(),
            },
        );
    }
    for o in state.bigcommerce().orders.values().filter(|o| o.status_id == 11) {
        let g = &o.gen;
        out.insert(
            format!("BC-{}", o.id),
            Expected {
                order_type: "SO",
                ship_via: ship_via(g.ship_service),
                service: g.ship_service,
                total: g.grand_total(),
                inventory_ids: ids(&g.lines),
                // BigCommerce has no Prime flag; buyer messages and gift wrapping messages do exist.
                prime: false,
                instructions: g.instructions.clone(),
                gift: g.gift_message.clone(),
            },
        );
    }
    out
}

fn value(v: &Value) -> Option<&str> {
    v["value"].as_str()
}

fn decimal(v: &Value) -> Decimal {
    match &v["value"] {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

fn wide_windows(connections: &mut Connections) {
    // The seed spreads orders over 30 days; a wider window keeps the boundary out of the test.
    set_setting(connections, "sellercloud", "max_age_days", 60.into());
    // The store is on BigCommerce's Pro plan in these tests (see `sandbox`).
    set_setting(connections, "bigcommerce", "rate_limit", rate_limit(450, 30));
}

fn sandbox(seed: u64, sellercloud: usize, bigcommerce: usize) -> SandboxConfig {
    let mut config = SandboxConfig {
        seed,
        sellercloud_orders: sellercloud,
        bigcommerce_orders: bigcommerce,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    // A larger Acumatica licence (read from SM604000 per customer) and BigCommerce's Pro plan, so
    // 500 orders fit a test run; the limits stay enforced and the clients follow them.
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    config.limits.bigcommerce = WindowLimit::new(450, Duration::from_secs(30));
    // Room for the sessions a lost sign-in reply leaves behind. With 5 % commit-then-fail on every
    // write, about one sign-in in twenty creates a session whose cookie never arrives; it holds an
    // API-user slot for the 20-minute idle timeout. A run signs in over a hundred times, so a
    // five-user licence fills up in some runs and every later sign-in is refused until the test's
    // time is up. What the product does then (a retryable error in Acumatica's words) is
    // `acumatica_licence_full_of_api_users_is_retryable_and_says_so`; here exactly-once is under test.
    config.limits.acumatica_max_api_users = 50;
    config
}

async fn start(prefix: &str, config: SandboxConfig) -> World {
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix(prefix), config);
    world_config.tweak_connections = Some(wide_windows);
    world_config.queue_timing = Some((2, 8));
    World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Checks every expected order is in the ERP exactly once with the right values; returns problems.
fn check_erp(world: &World, expected: &BTreeMap<String, Expected>) -> Vec<String> {
    let erp = erp_orders_by_import_id(&world.sandbox);
    let mut problems = Vec::new();
    for (import_id, want) in expected {
        let Some(orders) = erp.get(import_id) else {
            problems.push(format!("{import_id}: not in the ERP"));
            continue;
        };
        if orders.len() != 1 {
            problems.push(format!("{import_id}: {} ERP orders", orders.len()));
            continue;
        }
        let got = &orders[0];
        if value(&got["OrderType"]) != Some(want.order_type) {
            problems.push(format!("{import_id}: order type {:?}, want {}", got["OrderType"], want.order_type));
        }
        let ship_via = value(&got["ShipVia"]).or_else(|| value(&got["ShippingSettings"]["ShipVia"]));
        if ship_via != Some(want.ship_via) {
            problems.push(format!("{import_id}: ship via {ship_via:?}, want {}", want.ship_via));
        }
        if decimal(&got["OrderTotal"]) != want.total {
            problems.push(format!("{import_id}: total {}, want {}", decimal(&got["OrderTotal"]), want.total));
        }
        let lines: Vec<String> = got["Details"]
            .as_array()
            .map(|d| d.iter().filter_map(|l| value(&l["InventoryID"]).map(str::to_owned)).collect())
            .unwrap_or_default();
        if lines != want.inventory_ids {
            problems.push(format!("{import_id}: lines {lines:?}, want {:?}", want.inventory_ids));
        }
        if value(&got["CustomerID"]).is_none_or(str::is_empty) {
            problems.push(format!("{import_id}: no customer"));
        }
        if got["Payments"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{import_id}: no payment"));
        }
        let note = value(&got["note"]).unwrap_or_default();
        for text in [&want.instructions, &want.gift].into_iter().flatten() {
            if !note.contains(text.as_str()) {
                problems.push(format!("{import_id}: note {note:?} lacks {text:?}"));
            }
        }
        let prime = got["custom"]["Document"]["PRIME"]["value"].as_str() == Some("true");
        if prime != want.prime {
            problems.push(format!("{import_id}: Prime tag {prime}, want {}", want.prime));
        }
    }
    for (import_id, orders) in &erp {
        if !expected.contains_key(import_id) {
            problems.push(format!("{import_id}: unexpected ERP order ({} of them)", orders.len()));
        }
    }
    problems
}

fn check_channels(world: &World, expected: &BTreeMap<String, Expected>) -> Vec<String> {
    let mut problems = Vec::new();
    let state = world.sandbox.state();
    let sc = state.sellercloud();
    let bc = state.bigcommerce();
    for import_id in expected.keys() {
        if let Some(id) = import_id.strip_prefix("SC-").and_then(|i| i.parse::<i64>().ok()) {
            if !sc.orders[&id].is_exported {
                problems.push(format!("{import_id}: not marked exported in Sellercloud"));
            }
        } else if let Some(id) = import_id.strip_prefix("BC-").and_then(|i| i.parse::<i64>().ok()) {
            if bc.orders[&id].status_id != 9 {
                problems.push(format!(
                    "{import_id}: BigCommerce status {} instead of 9 (downloaded)",
                    bc.orders[&id].status_id
                ));
            }
        }
    }
    problems
}

/// The ERP order number of every imported order is in its connector-log entry, and a clean import
/// writes no note on the channel order (since issue 18 the acknowledgement is the status alone:
/// BigCommerce's one `PUT`, Sellercloud's bulk `SetExported`; `erp_number_note` is off).
async fn check_erp_numbers(
    world: &World,
    expected: &BTreeMap<String, Expected>,
    since: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let erp = erp_orders_by_import_id(&world.sandbox);
    let entries = log_since(world.app.log(), &world.app.connections(), since).await;
    let state = world.sandbox.state();
    let (sc, bc) = (state.sellercloud(), state.bigcommerce());
    let mut problems = Vec::new();
    for import_id in expected.keys() {
        let Some(so) = erp.get(import_id).and_then(|v| v.first()) else { continue };
        let number = format!(
            "{}/{}",
            so["OrderType"]["value"].as_str().unwrap_or(""),
            so["OrderNbr"]["value"].as_str().unwrap_or("")
        );
        let logged = entries.iter().any(|e| {
            e.action == "import_order"
                && e.entity_id == *import_id
                && e.result == orderbridge::ports::LogResult::Success
                && e.notes.contains(&number)
        });
        if !logged {
            problems.push(format!("{import_id}: no successful import entry names {number}"));
        }
        if let Some(id) = import_id.strip_prefix("SC-").and_then(|i| i.parse::<i64>().ok()) {
            let notes =
                sc.notes.get(&id).map(|n| n.iter().filter(|n| n.message.contains(&number)).count()).unwrap_or(0);
            if notes != 0 {
                problems.push(format!("{import_id}: {notes} Sellercloud notes name {number} (erp_number_note is off)"));
            }
        } else if let Some(id) = import_id.strip_prefix("BC-").and_then(|i| i.parse::<i64>().ok()) {
            if bc.orders[&id].staff_notes.contains("Imported to the ERP") {
                problems.push(format!(
                    "{import_id}: staff notes written on a clean import: {:?}",
                    bc.orders[&id].staff_notes
                ));
            }
        }
    }
    problems
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problems, first ones:\n  {}",
        problems.len(),
        problems.iter().take(15).cloned().collect::<Vec<_>>().join("\n  ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_orders_are_imported_exactly_once_with_the_right_values() {
    let started = chrono::Utc::now();
    let world = start("e2e-clean", sandbox(11, 580, 260)).await;
    let expected = expected_orders(&world);
    let sources: BTreeSet<&str> = expected.values().map(|e| e.order_type).collect();
    assert!(expected.len() >= 500, "the seed must give at least 500 new orders, gave {}", expected.len());
    assert_eq!(sources.len(), 4, "four order sources: {sources:?}");

    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(600)).await;
    eprintln!("clean settle: {report:?}");
    assert!(report.settled, "did not settle: {report:?}");
    assert_no_problems("ERP", &check_erp(&world, &expected));
    assert_no_problems("channels", &check_channels(&world, &expected));
    assert_no_problems("ERP numbers", &check_erp_numbers(&world, &expected, started).await);

    // Sellercloud lists references: each order is read once, ahead of its import, so its buyer
    // joins the batch's customer prefetch (one request answers the batch's new buyers) instead of
    // a lookup of its own. Without the read-ahead this seed costs 70 lookups in 55 batches.
    let state = world.sandbox.state();
    let sellercloud = state.route_counts(Vendor::Sellercloud);
    let imported_sc = expected.keys().filter(|k| k.starts_with("SC-")).count() as u64;
    assert_eq!(sellercloud.get("GET /api/orders/{n}").copied(), Some(imported_sc), "{sellercloud:?}");
    let acumatica = state.route_counts(Vendor::Acumatica);
    let customers = |method: &str| {
        acumatica
            .iter()
            .filter(|(r, _)| r.starts_with(method) && r.ends_with("/Customer"))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let (lookups, creates) = (customers("GET "), customers("PUT "));
    assert!(creates > 50, "the seed brings new buyers: {acumatica:?}");
    assert!(
        lookups <= report.batches as u64,
        "{lookups} customer lookups in {} import batches ({creates} customers created): {acumatica:?}",
        report.batches
    );

    // A second run finds nothing new and creates nothing.
    let before = world.sandbox.state().acumatica().sales_orders.len();
    let again = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(120)).await;
    assert_eq!(again.enqueued, 0);
    assert_eq!(world.sandbox.state().acumatica().sales_orders.len(), before);
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_faults_on_every_order_still_lands_exactly_once_and_unmapped_ones_fail_by_name() {
    let started = chrono::Utc::now();
    let mut config = sandbox(23, 580, 260);
    let noisy = |commit_then_fail: f64| FaultSpec {
        p429: 0.05,
        p500: 0.03,
        p503: 0.02,
        p_commit_then_fail: commit_then_fail,
        jitter_ms: 5,
        ..FaultSpec::default()
    };
    config.faults.set(Vendor::Acumatica, noisy(0.05));
    config.faults.set(Vendor::Sellercloud, noisy(0.05));
    config.faults.set(Vendor::Bigcommerce, noisy(0.05));
    let world = start("e2e-faults", config).await;
    let expected = expected_orders(&world);

    // The first mapping does not know FedEx 2Day: those orders must fail by name, not block others.
    let sc_text = std::fs::read_to_string(demo_dir().join("mappings/sc-main.toml")).unwrap();
    let without_2day = sc_text.replace("\"2Day\" = \"FEDEX2DAY\"\n", "");
    assert_ne!(without_2day, sc_text);
    world.push_mapping_text("sc-main", "mappings/sc-main.toml", &without_2day).await.unwrap();
    let first = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(600)).await;
    let idle = world.sandbox.state().config().limits.acumatica_session_idle;
    let left_signed_in = world.sandbox.state().acumatica().api_users_signed_in(idle);
    eprintln!("faults, first settle: {first:?}; Acumatica sessions left signed in: {left_signed_in}");
    assert!(first.settled, "did not settle: {first:?}");

    let entries = log_since(world.app.log(), &world.app.connections(), started).await;
    let failed = import_counts(&entries).get("sc-main").cloned().unwrap_or_default().failed;
    let want_failed: BTreeSet<String> = expected
        .iter()
        // Without "2Day" in [shipping_methods]: every Sellercloud order with that service fails,
        // except Amazon Prime ones, which the rule sends FedEx 2Day before the table is asked.
        .filter(|(id, e)| id.starts_with("SC-") && e.service == "2Day" && !e.prime)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!want_failed.is_empty());
    assert_eq!(failed.keys().cloned().collect::<BTreeSet<_>>(), want_failed);
    for reason in failed.values() {
        assert!(
            reason.contains(
                "shipping method \"2Day\": not mapped; add it to [shipping_methods] in mappings/sc-main.toml"
            ),
            "{reason}"
        );
    }
    let erp = erp_orders_by_import_id(&world.sandbox);
    assert!(want_failed.iter().all(|id| !erp.contains_key(id)), "failed orders must not reach the ERP");

    // The user fixes the mapping: the next pulls import the failed orders, still exactly once.
    world.push_mapping_text("sc-main", "mappings/sc-main.toml", &sc_text).await.unwrap();
    let second = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(600)).await;
    eprintln!("faults, second settle: {second:?}");
    assert!(second.settled, "did not settle after the fix: {second:?}");
    assert_no_problems("ERP", &check_erp(&world, &expected));
    assert_no_problems("channels", &check_channels(&world, &expected));
    let (visible, in_flight) = world.aws.queue_depth(&world.aws.resources.orders.dlq_url).await;
    assert_eq!(visible + in_flight, 0, "nothing may end in the DLQ");
    world.shutdown().await;
}

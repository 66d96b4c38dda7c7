//! Customer-service notes back to Sellercloud, end to end: orders imported through the real
//! handlers; with Acumatica push notifications off and no shipment or status event, a note
//! written on one ERP order through Acumatica's REST API (as a user of the API would) reaches
//! that Sellercloud order as exactly one Customer Service Note (category 2) after one catch-up
//! poll and a drain of the shipments queue; the note edited gives exactly one more; polling
//! again adds nothing; the buyer's instructions the import wrote into the ERP note are never
//! echoed back. Needs the emulator (`make test` starts it).

use std::time::Duration;

use orderbridge::connections::Connections;
use orderbridge_harness::drive::{drain_shipments, settle_orders};
use orderbridge_harness::report::erp_orders_by_import_id;
use orderbridge_harness::world::{set_setting, World, WorldConfig};
use orderbridge_sandbox::{SandboxConfig, Vendor, WindowLimit};
use serde_json::{json, Value};

fn wide_windows(connections: &mut Connections) {
    set_setting(connections, "sellercloud", "max_age_days", 60.into());
}

async fn imported_world(prefix: &str, seed: u64) -> World {
    let mut config = SandboxConfig {
        seed,
        sellercloud_orders: 16,
        bigcommerce_orders: 4,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix(prefix), config);
    world_config.tweak_connections = Some(wide_windows);
    world_config.queue_timing = Some((2, 8));
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(report.settled, "orders did not settle: {report:?}");
    world
}

/// Writes the sales order's note through Acumatica's contract-based REST API: sign in, `PUT
/// SalesOrder` with the key fields and `note`, sign out.
async fn write_erp_note(world: &World, order_type: &str, order_nbr: &str, note: &str) {
    let ac = &world.connections.acumatica;
    let c = &world.sandbox.state().config().credentials;
    let base = ac.base_url.trim_end_matches('/');
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/entity/auth/login"))
        .json(&json!({ "name": c.acumatica_username, "password": c.acumatica_password, "tenant": c.acumatica_tenant }))
        .send()
        .await
        .expect("login");
    assert!(login.status().is_success(), "login: {}", login.status());
    let cookies: Vec<String> = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let cookie = cookies.join("; ");
    let put = http
        .put(format!("{base}/entity/{}/{}/SalesOrder", ac.endpoint, ac.endpoint_version))
        .header(reqwest::header::COOKIE, &cookie)
        .json(&json!({
            "OrderType": { "value": order_type },
            "OrderNbr": { "value": order_nbr },
            "note": { "value": note },
        }))
        .send()
        .await
        .expect("put sales order");
    let status = put.status();
    assert!(status.is_success(), "PUT SalesOrder: {status} {}", put.text().await.unwrap_or_default());
    let _ = http.post(format!("{base}/entity/auth/logout")).header(reqwest::header::COOKIE, &cookie).send().await;
}

/// The notes of one Sellercloud order in `category`.
fn notes(world: &World, id: i64, category: i64) -> Vec<String> {
    let st = world.sandbox.state().sellercloud();
    st.notes
        .get(&id)
        .map_or_else(Vec::new, |ns| ns.iter().filter(|n| n.category == category).map(|n| n.message.clone()).collect())
}

fn all_customer_service_notes(world: &World) -> usize {
    let st = world.sandbox.state().sellercloud();
    st.notes.values().flatten().filter(|n| n.category == 2).count()
}

async fn poll_and_drain(world: &World) -> Value {
    let summary = world.status.run_catch_up().await;
    let report = drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(report.settled, "shipments queue did not drain: {report:?}");
    let summary = serde_json::to_value(&summary).unwrap_or_default();
    println!("catch-up: {summary}");
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erp_note_reaches_sellercloud_once_as_a_customer_service_note_by_the_catch_up_poll() {
    let world = imported_world("scnotes", 1616).await;
    world.route_acumatica_pushes(None);

    // An imported Sellercloud order whose ERP note holds the buyer's instructions, if any has.
    let imports: Vec<(i64, String, String, Option<String>)> = erp_orders_by_import_id(&world.sandbox)
        .into_iter()
        .filter(|(id, _)| id.starts_with("SC-"))
        .filter_map(|(id, orders)| {
            let o = orders.into_iter().next()?;
            let note = o["note"]["value"].as_str().or(o["note"].as_str()).map(str::to_owned).filter(|n| !n.is_empty());
            Some((
                id[3..].parse().ok()?,
                o["OrderType"]["value"].as_str()?.to_owned(),
                o["OrderNbr"]["value"].as_str()?.to_owned(),
                note,
            ))
        })
        .collect();
    assert!(imports.len() >= 2, "imported Sellercloud orders: {imports:?}");
    let with_instructions = imports.iter().filter(|i| i.3.is_some()).count();
    let (sc_id, order_type, order_nbr, _) = imports[0].clone();
    assert!(notes(&world, sc_id, 2).is_empty());

    let before = world.sandbox.state().request_count(Vendor::Acumatica).total;
    let note = "Customer called: deliver to the side entrance, not the front desk.";
    write_erp_note(&world, &order_type, &order_nbr, note).await;
    let written = world.sandbox.state().request_count(Vendor::Acumatica).total;
    poll_and_drain(&world).await;
    let first_poll = world.sandbox.state().request_count(Vendor::Acumatica).total - written;
    assert_eq!(notes(&world, sc_id, 2), vec![note.to_owned()], "one Customer Service Note");
    assert_eq!(all_customer_service_notes(&world), 1, "no other order got a note (instructions not echoed)");
    assert!(notes(&world, sc_id, 0).iter().all(|n| n != note), "not written as a General note");

    // The note edited: exactly one more.
    let edited = "Customer called again: side entrance, ring twice.";
    write_erp_note(&world, &order_type, &order_nbr, edited).await;
    let written_again = world.sandbox.state().request_count(Vendor::Acumatica).total;
    poll_and_drain(&world).await;
    let second_poll = world.sandbox.state().request_count(Vendor::Acumatica).total - written_again;
    assert_eq!(notes(&world, sc_id, 2), vec![note.to_owned(), edited.to_owned()]);

    // Polling again: nothing more.
    let quiet_from = world.sandbox.state().request_count(Vendor::Acumatica).total;
    poll_and_drain(&world).await;
    let quiet_poll = world.sandbox.state().request_count(Vendor::Acumatica).total - quiet_from;
    assert_eq!(notes(&world, sc_id, 2).len(), 2);
    assert_eq!(all_customer_service_notes(&world), 2);
    println!(
        "Acumatica calls: note written {} (login, PUT, logout); first poll + drain {first_poll} \
         ({} imported orders, {with_instructions} with instructions, all versions new); \
         poll + drain with one changed order {second_poll}; quiet poll {quiet_poll}",
        written - before,
        imports.len()
    );
    world.shutdown().await;
}

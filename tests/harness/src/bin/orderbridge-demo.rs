//! `make demo`: a real sync on this machine. Seeds orders in the Sellercloud, BigCommerce and
//! Magento sandboxes, runs the order-pull and order-import handlers (the code the Lambdas run)
//! against the local emulator until everything settles, writes Acumatica's stock to the Magento
//! store, then ships every order in the ERP sandbox and runs shipment-webhook and status-push
//! until the tracking is on each channel order, and prints what happened.

use std::time::{Duration, Instant};

use clap::Parser;
use orderbridge::model::ConnectionId;
use orderbridge_harness::drive::{drain_shipments, settle_orders};
use orderbridge_harness::report::{
    erp_orders_by_import_id, import_counts, json_decimal, log_since, magento_acknowledgements, magento_importable,
    magento_tracks, print_log_tail, push_magento_substitutions, renamed_items, stock_check,
};
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::acumatica::{ConfirmShipment, EnterLine, EnterOrder};
use orderbridge_sandbox::{SandboxConfig, Vendor};

#[derive(Parser)]
#[command(name = "orderbridge-demo", about = "Sync seeded sandbox orders into the sandbox ERP through Orderbridge")]
struct Args {
    /// Orders seeded in the Sellercloud sandbox.
    #[arg(long, default_value_t = 30)]
    sellercloud_orders: usize,
    /// Orders seeded in the BigCommerce sandbox.
    #[arg(long, default_value_t = 20)]
    bigcommerce_orders: usize,
    /// Storefront orders seeded in the Magento sandbox (those in `processing` are imported).
    #[arg(long, default_value_t = 30)]
    magento_orders: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Orders entered in the Acumatica sandbox for the Magento storefront.
    #[arg(long, default_value_t = 4)]
    erp_orders: usize,
    /// Give up settling after this many seconds.
    #[arg(long, default_value_t = 300)]
    limit_secs: u64,
    /// After the summary, keep serving the operator console over the demo's state until Enter
    /// (default when stdin is a terminal; `--keep-console false` ends at once).
    #[arg(long)]
    keep_console: Option<bool>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    orderbridge::telemetry::init();
    let args = Args::parse();
    let started_at = chrono::Utc::now();
    let sandbox = SandboxConfig {
        seed: args.seed,
        sellercloud_orders: args.sellercloud_orders,
        bigcommerce_orders: args.bigcommerce_orders,
        magento_orders: args.magento_orders,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let mut world =
        World::start(WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("orderbridge-demo"), sandbox)).await?;
    // The demo connections file has [shipstation.export] commented out; the demo turns it on.
    world.status.station = world.status.station.take().or_else(|| orderbridge_harness::world::station_export(&world));
    println!("Sandbox (rate limits on, as documented by each vendor):");
    for (vendor, url) in world.sandbox.describe()["vendors"].as_object().into_iter().flatten() {
        println!("  {vendor:<12} {}", url["base_url"].as_str().unwrap_or_default());
    }
    // The operator console over the demo's state, for the whole run.
    let console = world.console("demo").await?;
    println!("Operator console: {}/console  (operator token: {})", console.base_url, console.token);
    println!(
        "Local AWS: {}  tables {} / {}",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
        world.aws.resources.state_table,
        world.aws.resources.log_table
    );
    // Storefront lines carry only the SKU: the items Acumatica knows under another InventoryID
    // are substituted in the mg-store mapping (else those orders fail by name until it is fixed).
    let substituted = push_magento_substitutions(&world).await?;
    let mg_expected = magento_importable(&world.sandbox);
    let renamed = renamed_items(&world.sandbox);
    let mg_renamed = mg_expected
        .values()
        .filter(|o| {
            o["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["sku"].as_str().is_some_and(|s| renamed.contains_key(s)))
        })
        .count();
    println!("Syncing...");

    let clock = Instant::now();
    let drive = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(args.limit_secs)).await;
    let elapsed = clock.elapsed();

    let connections: Vec<ConnectionId> = world.app.connections();
    let entries = log_since(world.app.log(), &connections, started_at).await;
    let counts = import_counts(&entries);
    let erp = erp_orders_by_import_id(&world.sandbox);
    let duplicates = erp.values().filter(|v| v.len() > 1).count();

    println!();
    println!(
        "Summary ({:.1} s, {} pulls, {} import batches, {} deliveries of which {} redelivered later):",
        elapsed.as_secs_f64(),
        drive.pulls,
        drive.batches,
        drive.deliveries,
        drive.failed_deliveries
    );
    println!(
        "  {:<10} {:>7} {:>9} {:>7} {:>22}",
        "connection", "listed", "imported", "failed", "attempts retried later"
    );
    for c in &connections {
        let n = counts.get(c.as_str()).cloned().unwrap_or_default();
        let listed = entries
            .iter()
            .filter(|e| e.action == "import_order" && e.connection == *c)
            .map(|e| e.entity_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        println!("  {:<10} {:>7} {:>9} {:>7} {:>22}", c.as_str(), listed, n.imported, n.failed.len(), n.retried);
    }
    println!("  orders seen in the channels and enqueued: {}", drive.enqueued);
    println!(
        "  ERP sales orders: {} (duplicates by Import ID: {duplicates})",
        erp.values().map(Vec::len).sum::<usize>()
    );
    let mg_ok = magento_imports(&world, &erp, &mg_expected, mg_renamed, substituted);
    let failures: Vec<(String, String, String)> = counts
        .iter()
        .flat_map(|(c, n)| n.failed.iter().map(move |(id, why)| (c.clone(), id.clone(), why.clone())))
        .collect();
    if !failures.is_empty() {
        println!("  Failed (fix the mapping, then they import on the next pull):");
        for (c, id, why) in &failures {
            println!("    {c} {id}: {why}");
        }
    }
    let imported: usize = counts.values().map(|n| n.imported).sum();
    if imported > 0 {
        let per_order = |vendor: Vendor, orders: usize| {
            let c = world.sandbox.state().request_count(vendor);
            (c.total as f64 / orders.max(1) as f64, c.throttled)
        };
        let sc = counts.get("sc-main").map_or(0, |n| n.imported);
        let bc = counts.get("bc-store").map_or(0, |n| n.imported);
        let mg = counts.get("mg-store").map_or(0, |n| n.imported);
        let (erp, erp_429) = per_order(Vendor::Acumatica, imported);
        let (scp, sc_429) = per_order(Vendor::Sellercloud, sc);
        let (bcp, bc_429) = per_order(Vendor::Bigcommerce, bc);
        let (mgp, mg_429) = per_order(Vendor::Magento, mg);
        println!(
            "  API calls per imported order: Acumatica {erp:.2} ({erp_429} answered 429), Sellercloud {scp:.2} ({sc_429}), \
             BigCommerce {bcp:.2} ({bc_429}), Magento {mgp:.2} ({mg_429})"
        );
        println!(
            "  Throughput: {:.2} orders/s with the vendors' default limits",
            imported as f64 / elapsed.as_secs_f64()
        );
    }
    println!("  Settled: {}", if drive.settled { "yes" } else { "NO (limit reached)" });

    let hooked = bigcommerce_webhooks(&world).await?;
    let stocked = stock_to_magento(&world).await?;
    let shipped = ship_back(&world, args.limit_secs).await?;
    let published = erp_orders_to_magento(&world, args.erp_orders, args.limit_secs).await?;
    let followed = followups(&mut world).await?;
    let exported = shipstation_export(&world, args.limit_secs).await?;
    println!();
    println!("Last connector-log lines:");
    let mut all = connections.clone();
    for c in ["acumatica", "mg-store"].into_iter().filter_map(|c| ConnectionId::parse(c).ok()) {
        if !all.contains(&c) {
            all.push(c);
        }
    }
    let entries = log_since(world.app.log(), &all, started_at).await;
    print_log_tail(&entries, 12);
    use std::io::IsTerminal;
    if args.keep_console.unwrap_or_else(|| std::io::stdin().is_terminal()) {
        println!();
        println!(
            "The operator console keeps serving the demo's state at {}/console (token {}). Press Enter to stop.",
            console.base_url, console.token
        );
        let mut line = String::new();
        let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
    }
    drop(console);
    world.shutdown().await;
    if !drive.settled
        || duplicates > 0
        || !mg_ok
        || !hooked
        || !stocked
        || !shipped
        || !published
        || !followed
        || !exported
    {
        std::process::exit(1);
    }
    Ok(())
}

/// BigCommerce's order webhooks: the hooks registered as `orderbridge-admin order-hooks` does,
/// then new store orders announced through the local API gateway to shipment-webhook and
/// imported by order-import from the orders queue, with no pull. Returns whether all were
/// imported once within 5 s each.
async fn bigcommerce_webhooks(world: &World) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    const ORDERS: usize = 5;
    println!();
    println!("BigCommerce order webhooks (bc-store): hooks registered, {ORDERS} new store orders, no pull...");
    let changes = world.register_bigcommerce_hooks().await?;
    let state = world.sandbox.state();
    let calls_before = state.request_count(Vendor::Bigcommerce).total;
    let mut took = Vec::new();
    for _ in 0..ORDERS {
        let id = state.bigcommerce_create_orders(1, &Default::default())[0];
        let key = format!("BC-{id}");
        let started = Instant::now();
        let mut report = orderbridge_harness::drive::DriveReport::default();
        while started.elapsed() < Duration::from_secs(30) && !erp_orders_by_import_id(&world.sandbox).contains_key(&key)
        {
            orderbridge_harness::drive::drain_orders(
                &world.app,
                &world.aws,
                2,
                &mut report,
                started,
                Duration::from_secs(30),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let erp = erp_orders_by_import_id(&world.sandbox);
        took.push((erp.get(&key).map(Vec::len).unwrap_or_default(), started.elapsed()));
    }
    let calls = state.request_count(Vendor::Bigcommerce).total - calls_before;
    let once = took.iter().filter(|(n, _)| *n == 1).count();
    let slowest = took.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let ok = once == ORDERS && slowest <= Duration::from_secs(5);
    println!(
        "  hooks: {}",
        changes.iter().map(|c| format!("{} {}", c.scope, c.action.as_str())).collect::<Vec<_>>().join(", ")
    );
    println!(
        "  imported once without a pull: {once}/{ORDERS}, slowest {:.1} s (order created → ERP sales order), \
         BigCommerce calls per order {:.2}{}",
        slowest.as_secs_f64(),
        calls as f64 / ORDERS as f64,
        if ok { "" } else { "  PROBLEM" }
    );
    Ok(ok)
}

/// Ships every imported order in the ERP sandbox (one box each) with push notifications going
/// through the local API gateway into shipment-webhook, drains status-push, and checks every
/// tracking number reached its channel order once. Returns whether all did.
async fn ship_back(world: &World, limit_secs: u64) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    println!();
    println!("Shipping back: confirming one shipment per imported order in the ERP sandbox...");
    world.route_acumatica_pushes(Some(1));
    let vendors = [Vendor::Acumatica, Vendor::Sellercloud, Vendor::Bigcommerce, Vendor::Magento];
    let calls_before: Vec<u64> = vendors.iter().map(|v| world.sandbox.state().request_count(*v).total).collect();
    let erp = erp_orders_by_import_id(&world.sandbox);
    let started = Instant::now();
    let mut confirmed = 0usize;
    for orders in erp.values() {
        let Some(order) = orders.first() else { continue };
        let (Some(order_type), Some(order_nbr)) =
            (order["OrderType"]["value"].as_str(), order["OrderNbr"]["value"].as_str())
        else {
            continue;
        };
        let request: ConfirmShipment =
            serde_json::from_value(serde_json::json!({ "OrderType": order_type, "OrderNbr": order_nbr }))?;
        world.sandbox.state().acumatica_confirm_shipment(&request).map_err(|e| format!("confirm {order_nbr}: {e}"))?;
        confirmed += 1;
    }
    // One shipment push and one order-status push per order.
    world.sandbox.state().wait_for_deliveries(Vendor::Acumatica, confirmed * 2, Duration::from_secs(30)).await;
    let drive = drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(limit_secs)).await;
    let elapsed = started.elapsed();

    let state = world.sandbox.state();
    // Tracking numbers the ERP sandbox generated for these shipments start with 1ZAC.
    let ours = |t: &str| t.starts_with("1ZAC");
    let on_sellercloud: usize =
        state.sellercloud().orders.values().filter(|o| o.packages.iter().any(|p| ours(&p.tracking_number))).count();
    let on_bigcommerce: usize = state
        .bigcommerce()
        .orders
        .values()
        .flat_map(|o| o.shipments.iter())
        .filter(|s| s["tracking_number"].as_str().is_some_and(ours))
        .count();
    let bc_duplicates =
        state.duplicates(Vendor::Bigcommerce).get("tracking_number").map_or(0, std::collections::BTreeMap::len);
    // Storefront orders imported from Magento get their tracking as Magento shipments.
    let (mut on_magento, mut mg_duplicates) = (0usize, 0usize);
    for id in erp.keys().filter_map(|k| k.strip_prefix("MG-")?.parse::<i64>().ok()) {
        let tracks: Vec<String> = magento_tracks(&world.sandbox, id).into_iter().filter(|t| ours(t)).collect();
        on_magento += usize::from(!tracks.is_empty());
        let distinct: std::collections::BTreeSet<&String> = tracks.iter().collect();
        mg_duplicates += tracks.len() - distinct.len();
    }
    let connections: Vec<ConnectionId> = world.status.channels.keys().cloned().collect();
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    for e in log_since(world.status.log.as_ref(), &connections, since).await {
        if e.action.starts_with("push_") && e.result == orderbridge::ports::LogResult::Failure {
            println!("  FAILED {} {}: {}", e.connection, e.entity_id, e.notes);
        }
    }
    let mut handler: Vec<Duration> = world.gateway.calls().iter().map(|c| c.handler_time).collect();
    handler.sort();
    let median = handler.get(handler.len() / 2).copied().unwrap_or_default();
    let p95 = handler.get(handler.len() * 95 / 100).copied().unwrap_or_default();
    println!(
        "  {confirmed} shipments confirmed; {} webhook deliveries, handler median {median:?}, p95 {p95:?}",
        handler.len()
    );
    println!(
        "  Sellercloud orders with tracking: {on_sellercloud}; BigCommerce shipments: {on_bigcommerce} (duplicates: {bc_duplicates}); \
         Magento orders with tracking: {on_magento} (duplicates: {mg_duplicates})"
    );
    let calls: Vec<f64> = vendors
        .iter()
        .zip(&calls_before)
        .map(|(v, before)| (world.sandbox.state().request_count(*v).total - before) as f64 / confirmed.max(1) as f64)
        .collect();
    println!(
        "  API calls per shipment (tracking + status): Acumatica {:.2}, Sellercloud {:.2} per SC order, BigCommerce {:.2} per BC order, \
         Magento {:.2} per MG order",
        calls[0],
        calls[1] * confirmed as f64 / on_sellercloud.max(1) as f64,
        calls[2] * confirmed as f64 / on_bigcommerce.max(1) as f64,
        calls[3] * confirmed as f64 / on_magento.max(1) as f64
    );
    println!(
        "  All {confirmed} pushed {:.1} s after the first confirmation ({} status-push batches)",
        elapsed.as_secs_f64(),
        drive.batches
    );
    Ok(drive.settled
        && on_sellercloud + on_bigcommerce + on_magento == confirmed
        && bc_duplicates == 0
        && mg_duplicates == 0)
}

/// Lets the push notifications arrive, then drains status-push until nothing new comes.
async fn settle_pushes(world: &World, limit_secs: u64) -> u32 {
    let mut batches = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = world.sandbox.state().deliveries(Vendor::Acumatica).len();
        batches += drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(limit_secs)).await.batches;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if world.sandbox.state().deliveries(Vendor::Acumatica).len() == before {
            return batches;
        }
    }
}

/// Orders entered in Acumatica → Magento: `n` sales orders entered as a user would (the first
/// one unpaid at first, so it waits), paid, created in Magento through the push notifications;
/// then each is shipped and invoiced in the ERP and the shipment and invoice follow. Returns
/// whether every order reached Magento once, with its tracking, its invoice and Complete.
async fn erp_orders_to_magento(
    world: &World,
    n: usize,
    limit_secs: u64,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    if n == 0 {
        return Ok(true);
    }
    println!();
    println!("ERP-originated orders: {n} sales orders entered in Acumatica for the Magento storefront mg-store...");
    world.route_acumatica_pushes(Some(1));
    let count = |v: Vendor| world.sandbox.state().request_count(v).total;
    let before = (count(Vendor::Acumatica), count(Vendor::Magento));
    let mut entered = Vec::new();
    for i in 0..n {
        let order = EnterOrder {
            customer_id: "AACUSTOMER".into(),
            ship_via: Some(if i % 2 == 0 { "LOCAL" } else { "UPSGROUND" }.into()),
            freight: (i % 2 == 1).then(|| rust_decimal::Decimal::new(595, 2)),
            lines: vec![EnterLine::new("WATER2809", rust_decimal::Decimal::from(2 + i as i64 % 3))],
            ..EnterOrder::default()
        };
        let so = world.sandbox.state().acumatica_enter_order(&order)?;
        let t = so["OrderType"]["value"].as_str().unwrap_or_default().to_owned();
        let nbr = so["OrderNbr"]["value"].as_str().unwrap_or_default().to_owned();
        // The amount as the sandbox wrote it (a JSON number), read as a decimal, never a float.
        let total: rust_decimal::Decimal =
            so["OrderTotal"]["value"].to_string().trim_matches('"').parse().unwrap_or_default();
        entered.push((t, nbr, total));
    }
    settle_pushes(world, limit_secs).await;
    let waiting = magento_orders(world, &entered).iter().filter(|c| **c == 0).count();
    let started = Instant::now();
    for (t, nbr, total) in &entered {
        world.sandbox.state().acumatica_apply_payment(t, nbr, *total)?;
    }
    settle_pushes(world, limit_secs).await;
    let created_in = started.elapsed();
    let counts = magento_orders(world, &entered);
    let created = counts.iter().filter(|c| **c == 1).count();
    let duplicates = counts.iter().filter(|c| **c > 1).count();
    let calls = (count(Vendor::Acumatica) - before.0, count(Vendor::Magento) - before.1);
    for (t, nbr, _) in &entered {
        let request: ConfirmShipment = serde_json::from_value(serde_json::json!({ "OrderType": t, "OrderNbr": nbr }))?;
        world.sandbox.state().acumatica_confirm_shipment(&request).map_err(|e| format!("confirm {nbr}: {e}"))?;
    }
    settle_pushes(world, limit_secs).await;
    for (t, nbr, _) in &entered {
        world.sandbox.state().acumatica_release_invoice(t, nbr).map_err(|e| format!("invoice {nbr}: {e}"))?;
    }
    settle_pushes(world, limit_secs).await;
    let state = world.sandbox.state();
    let mg = state.magento();
    let ours: Vec<&serde_json::Value> = mg
        .orders
        .values()
        .filter(|o| entered.iter().any(|(t, nbr, _)| o["ext_order_id"].as_str() == Some(&format!("{t}/{nbr}"))))
        .collect();
    let with_tracking = ours
        .iter()
        .filter(|o| {
            mg.shipments.values().any(|s| s["order_id"] == o["entity_id"] && s["tracks"][0]["track_number"].is_string())
        })
        .count();
    let invoiced = ours.iter().filter(|o| mg.invoices.values().any(|i| i["order_id"] == o["entity_id"])).count();
    let complete = ours.iter().filter(|o| o["state"] == "complete").count();
    println!(
        "  {n} entered ({waiting} waiting while unpaid); after payment {created} created in Magento once \
         (duplicates {duplicates}) in {:.1} s on the push path",
        created_in.as_secs_f64()
    );
    println!("  shipped with tracking {with_tracking}, invoiced {invoiced}, Complete {complete}");
    println!(
        "  API calls per ERP order from entry to the Magento order (the read while it waited unpaid included): Acumatica {:.2}, Magento {:.2}",
        calls.0 as f64 / n as f64,
        calls.1 as f64 / n as f64
    );
    Ok(waiting == n && created == n && duplicates == 0 && with_tracking == n && invoiced == n && complete == n)
}

/// The follow-ups schedule of sc-main: profit & loss charges into the Acumatica orders (again
/// after the Amazon settlement), then the personal-data purge as the schedule runs it 31 days
/// after the shipments above. Returns whether every charge matches Sellercloud's P&L and no
/// personal data of the shipped orders is left.
async fn followups(world: &mut World) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    use orderbridge_harness::followups::{charge_fields, charge_mismatches, find_stored, personal_data_only_of};
    println!();
    println!("Follow-ups of sc-main (profit & loss into Acumatica, personal-data retention 30 days):");
    let fields = charge_fields(&world.connections);
    let count = |w: &World, v: Vendor| w.sandbox.state().request_count(v).total;
    let ids: Vec<i64> =
        erp_orders_by_import_id(&world.sandbox).keys().filter_map(|id| id.strip_prefix("SC-")?.parse().ok()).collect();
    let before = (count(world, Vendor::Sellercloud), count(world, Vendor::Acumatica));
    let first =
        sc_main(&world.status.run_followups(std::time::Instant::now() + std::time::Duration::from_secs(600)).await);
    let charges = &first["charges"];
    let mismatched = charge_mismatches(&world.sandbox, &fields);
    println!(
        "  charges of {} orders read in {} Sellercloud calls ({} in all, sign-in included); {} written to Acumatica ({} calls), {} not known yet",
        charges["read"],
        charges["calls"],
        count(world, Vendor::Sellercloud) - before.0,
        charges["written"],
        count(world, Vendor::Acumatica) - before.1,
        charges["not_known"]
    );
    let unsettled: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| world.sandbox.state().sellercloud_pnl(*id).is_some_and(|p| p["Comission"] == "N/A"))
        .collect();
    for id in &unsettled {
        let settle = orderbridge_sandbox::sellercloud::ScPnlUpdate { settled: Some(true), ..Default::default() };
        world.sandbox.state().sellercloud_set_pnl(*id, &settle)?;
    }
    let settled =
        sc_main(&world.status.run_followups(std::time::Instant::now() + std::time::Duration::from_secs(600)).await);
    let mismatched_after = charge_mismatches(&world.sandbox, &fields);
    println!(
        "  Amazon settles {} orders: {} written again, {} unchanged; ERP fields differing from Sellercloud's P&L: {}",
        unsettled.len(),
        settled["charges"]["written"],
        settled["charges"]["unchanged"],
        mismatched.len() + mismatched_after.len()
    );
    // Buyers who also ordered in the Magento store (whose connection keeps personal data) keep theirs.
    let magento_values = magento_personal_values(world);
    let mut values = personal_data_only_of(&world.sandbox, &ids, &[]);
    values.retain(|v| !magento_values.contains(&v.to_lowercase()));
    let stored_before = find_stored(&world.aws, &values).await.len();
    world.status.clock = std::sync::Arc::new(orderbridge_harness::followups::LaterClock(chrono::Duration::days(31)));
    let later =
        sc_main(&world.status.run_followups(std::time::Instant::now() + std::time::Duration::from_secs(600)).await);
    world.status.clock = std::sync::Arc::new(orderbridge::ports::SystemClock);
    let left = find_stored(&world.aws, &values).await;
    println!(
        "  31 days after shipment: personal data of {} shipped orders purged ({} connector-log entries rewritten); \
         places holding their buyers' names, emails, phones or streets: {stored_before} before, {} after",
        later["purge"]["purged"],
        later["purge"]["log_entries"],
        left.len()
    );
    for place in left.iter().take(5) {
        println!("    LEFT: {place}");
    }
    Ok(mismatched.is_empty()
        && mismatched_after.is_empty()
        && settled["charges"]["written"] == unsettled.len() as u64
        && left.is_empty()
        && later["purge"]["purged"] == ids.len() as u64)
}

fn sc_main(summary: &orderbridge::handlers::FollowupSummary) -> serde_json::Value {
    let json = serde_json::to_value(summary).unwrap_or_default();
    json["connections"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["connection"] == "sc-main").cloned())
        .unwrap_or_default()
}

/// How many Magento orders carry each entered order's ERP number.
fn magento_orders(world: &World, entered: &[(String, String, rust_decimal::Decimal)]) -> Vec<usize> {
    let state = world.sandbox.state();
    let mg = state.magento();
    entered
        .iter()
        .map(|(t, nbr, _)| {
            let number = format!("{t}/{nbr}");
            mg.orders.values().filter(|o| o["ext_order_id"].as_str() == Some(number.as_str())).count()
        })
        .collect()
}

/// Three sales orders entered in the ERP get Open shipments there; Acumatica's notifications
/// export them to ShipStation; a label bought for each comes back onto the ERP package and
/// confirms the shipment. Returns whether each was exported once and came back confirmed.
async fn shipstation_export(world: &World, limit_secs: u64) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    use orderbridge_sandbox::acumatica::{CreateShipment, EnterLine, EnterOrder};
    println!();
    println!("ShipStation as the shipping station: 3 Open shipments in Acumatica exported, labels back...");
    world.route_acumatica_pushes(Some(1));
    world.route_shipstation_notifications(Some(1));
    let count = |v: Vendor| world.sandbox.state().request_count(v).total;
    let before = (count(Vendor::Acumatica), count(Vendor::Shipstation));
    let started = Instant::now();
    let mut shipments = Vec::new();
    for i in 0..3 {
        let order = EnterOrder {
            customer_id: "AACUSTOMER".into(),
            ship_via: Some("UPSGROUND".into()),
            lines: vec![EnterLine::new("WATER2809", rust_decimal::Decimal::from(1 + i))],
            ..EnterOrder::default()
        };
        let so = world.sandbox.state().acumatica_enter_order(&order)?;
        let nbr = so["OrderNbr"]["value"].as_str().unwrap_or_default().to_owned();
        let shipment = world.sandbox.state().acumatica_create_shipment(&CreateShipment::for_order(&nbr))?;
        shipments.push(shipment["ShipmentNbr"]["value"].as_str().unwrap_or_default().to_owned());
    }
    settle_pushes(world, limit_secs).await;
    let exported_in = started.elapsed();
    let in_station = |nbr: &str| {
        let state = world.sandbox.state();
        let ss = state.shipstation();
        ss.orders.values().filter(|o| o.json["orderKey"].as_str() == Some(&format!("AC-{nbr}"))).count()
    };
    let once = shipments.iter().filter(|n| in_station(n) == 1).count();
    let exported_calls = (count(Vendor::Acumatica) - before.0, count(Vendor::Shipstation) - before.1);
    let label_started = Instant::now();
    let request =
        orderbridge_sandbox::shipstation::CreateShipments { order_numbers: shipments.clone(), ..Default::default() };
    world.sandbox.state().shipstation_create_shipments(&request)?;
    world.sandbox.state().wait_for_deliveries(Vendor::Shipstation, 1, Duration::from_secs(30)).await;
    settle_pushes(world, limit_secs).await;
    let confirmed = shipments
        .iter()
        .filter(|n| {
            world.sandbox.state().acumatica().shipment(n).is_some_and(|s| {
                s["Status"]["value"] == "Confirmed"
                    && s["Packages"].as_array().is_some_and(|p| {
                        p.iter().filter(|p| p["TrackingNbr"]["value"].as_str().is_some_and(|t| !t.is_empty())).count()
                            == 1
                    })
            })
        })
        .count();
    let all_calls = (count(Vendor::Acumatica) - before.0, count(Vendor::Shipstation) - before.1);
    println!(
        "  {once} of 3 exported once on Acumatica's notifications in {:.1} s; labels → tracking on the ERP package and confirmed: {confirmed} of 3 in {:.1} s",
        exported_in.as_secs_f64(),
        label_started.elapsed().as_secs_f64()
    );
    println!(
        "  API calls per shipment: export Acumatica {:.2}, ShipStation {:.2}; with the label back Acumatica {:.2}, ShipStation {:.2}",
        exported_calls.0 as f64 / 3.0,
        exported_calls.1 as f64 / 3.0,
        all_calls.0 as f64 / 3.0,
        all_calls.1 as f64 / 3.0
    );
    Ok(once == 3 && confirmed == 3)
}

/// Every string a Magento order carries, lowercased (names, emails, phones, streets among them).
fn magento_personal_values(world: &World) -> std::collections::BTreeSet<String> {
    fn strings(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::String(s) => {
                out.insert(s.to_lowercase());
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(o) => {
                // Names are also stored joined ("First Last").
                for (first, last) in [("firstname", "lastname"), ("customer_firstname", "customer_lastname")] {
                    if let (Some(f), Some(l)) =
                        (o.get(first).and_then(|v| v.as_str()), o.get(last).and_then(|v| v.as_str()))
                    {
                        out.insert(format!("{f} {l}").to_lowercase());
                    }
                }
                o.values().for_each(|v| strings(v, out));
            }
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for order in world.sandbox.state().magento().orders.values() {
        strings(order, &mut out);
    }
    out
}

/// Checks and prints the Magento storefront orders of the import: each `processing` order
/// imported once, its total to the cent, acknowledged with a comment naming its ERP order.
fn magento_imports(
    world: &World,
    erp: &std::collections::BTreeMap<String, Vec<serde_json::Value>>,
    expected: &std::collections::BTreeMap<i64, serde_json::Value>,
    renamed: usize,
    substituted: usize,
) -> bool {
    let (mut once, mut to_the_cent, mut acknowledged, mut problems) = (0usize, 0usize, 0usize, Vec::new());
    for (id, order) in expected {
        let import_id = format!("MG-{id}");
        let Some(created) = erp.get(&import_id) else {
            problems.push(format!("{import_id} not in the ERP"));
            continue;
        };
        if created.len() == 1 {
            once += 1;
        } else {
            problems.push(format!("{import_id} ×{}", created.len()));
        }
        let total = json_decimal(&created[0]["OrderTotal"]["value"]);
        if total == json_decimal(&order["grand_total"]).round_dp(2) {
            to_the_cent += 1;
        } else {
            problems.push(format!("{import_id}: ERP total {total} != {}", order["grand_total"]));
        }
        let nbr = created[0]["OrderNbr"]["value"].as_str().unwrap_or_default();
        let now = world.sandbox.state().magento().orders.get(id).cloned().unwrap_or_default();
        let acks = magento_acknowledgements(&now);
        if acks.len() == 1 && acks[0].contains(nbr) {
            acknowledged += 1;
        } else {
            problems.push(format!("{import_id}: acknowledgements {acks:?}"));
        }
    }
    let unexpected =
        erp.keys().filter(|k| k.starts_with("MG-") && !expected.contains_key(&k[3..].parse::<i64>().unwrap_or(0)));
    problems.extend(unexpected.map(|k| format!("{k} imported but not a processing storefront order")));
    println!(
        "  mg-store storefront orders: {} processing ({renamed} with an item Acumatica knows by another ID; \
         {substituted} substitutions in the mapping): {once} imported once, {to_the_cent} totals to the cent, \
         {acknowledged} acknowledged with a comment naming the ERP order",
        expected.len()
    );
    for p in problems.iter().take(10) {
        println!("    PROBLEM: {p}");
    }
    problems.is_empty()
}

/// Stock Acumatica → Magento (mg-store, MSI source `default`): the first catch-up poll writes the
/// quantities that differ; then three items are adjusted in Acumatica and the next poll writes
/// exactly those. Returns whether it did, and whether Magento then holds Acumatica's available
/// quantity for every item both sell.
async fn stock_to_magento(world: &World) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    use orderbridge_sandbox::acumatica::StockAdjustment;
    use rust_decimal::Decimal;
    println!();
    println!("Stock Acumatica → Magento (mg-store, MSI source default, catch-up poll of status-push):");
    let stock_of =
        |poll: &orderbridge::handlers::PollSummary| poll.stock.iter().find(|s| s.connection == "mg-store").cloned();
    let first = world.status.run_catch_up().await;
    let Some(report) = stock_of(&first).and_then(|s| s.report) else {
        println!("  FAILED: no stock report for mg-store: {:?}", stock_of(&first).and_then(|s| s.error));
        return Ok(false);
    };
    println!(
        "  stock → mg-store: {} quantities written, {} unchanged, {} unknown SKUs (of {} items read as changed)",
        report.written, report.unchanged, report.unknown, report.changed
    );
    let check = stock_check(&world.sandbox, "default");
    println!(
        "  Magento quantity = Acumatica available for {} of {} items both sell ({} ERP items not sold in the store)",
        check.compared - check.differing.len(),
        check.compared,
        check.not_sold
    );
    // Three items both sell, adjusted in Acumatica (no push routed: the next poll finds them).
    let items: Vec<String> = {
        let state = world.sandbox.state();
        let mg = state.magento();
        state
            .seed_data()
            .products
            .iter()
            .filter(|p| p.erp_inventory_id == p.sku && mg.products.contains_key(&p.sku))
            .take(3)
            .map(|p| p.sku.clone())
            .collect()
    };
    let on_hand = [Decimal::from(250), Decimal::ZERO, Decimal::from(40)];
    let rows: Vec<StockAdjustment> = items
        .iter()
        .zip(on_hand)
        .map(|(item, qty)| {
            serde_json::from_value(serde_json::json!({ "InventoryID": item, "WarehouseID": "MAIN", "QtyOnHand": qty }))
        })
        .collect::<Result<_, _>>()?;
    let writes_before = world.sandbox.state().magento_stock_writes().len();
    world.sandbox.state().acumatica_adjust_stock(&rows)?;
    let second = world.status.run_catch_up().await;
    let report = stock_of(&second).and_then(|s| s.report).unwrap_or_default();
    let writes: Vec<serde_json::Value> =
        world.sandbox.state().magento_stock_writes().into_iter().skip(writes_before).collect();
    let expected: Vec<(String, Decimal)> = {
        let state = world.sandbox.state();
        let ac = state.acumatica();
        items
            .iter()
            .map(|item| {
                let available: Decimal =
                    ac.availability().iter().filter(|a| &a.inventory_id == item).map(|a| a.available()).sum();
                (item.clone(), available.max(Decimal::ZERO))
            })
            .collect()
    };
    let exact = writes.len() == expected.len()
        && expected.iter().all(|(item, qty)| {
            writes.iter().any(|w| w["sku"] == item.as_str() && json_decimal(&w["quantity"]) == *qty)
        });
    let shown: Vec<String> = writes
        .iter()
        .map(|w| {
            format!(
                "{}={}{}",
                w["sku"].as_str().unwrap_or_default(),
                json_decimal(&w["quantity"]).normalize(),
                if w["status"] == 0 { " (out of stock)" } else { "" }
            )
        })
        .collect();
    println!(
        "  {} items adjusted in Acumatica (on hand {}); next poll: {} written ({}), {} unchanged — {}",
        items.len(),
        items.iter().zip(on_hand).map(|(i, q)| format!("{i} → {q}")).collect::<Vec<_>>().join(", "),
        report.written,
        shown.join(", "),
        report.unchanged,
        if exact { "exactly those" } else { "NOT exactly those" }
    );
    let after = stock_check(&world.sandbox, "default");
    for d in after.differing.iter().take(5) {
        println!("    DIFFERS: {d}");
    }
    Ok(exact && after.differing.is_empty() && check.differing.is_empty())
}

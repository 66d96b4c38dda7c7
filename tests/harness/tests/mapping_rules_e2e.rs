//! Mapping templates and rules end to end: the demo's Sellercloud mapping (its rule sends Amazon
//! Prime orders FedEx 2Day, every other order's Ship Via comes from [shipping_methods]) plus a
//! skipped field, a field set empty, a line field from a template and a custom field from an order
//! field, imported through the real handlers into the Acumatica sandbox.
//! Needs the emulator (`make test` starts it).

use std::time::Duration;

use orderbridge_harness::drive::settle_orders;
use orderbridge_harness::report::erp_orders_by_import_id;
use orderbridge_harness::world::{demo_dir, set_setting, World, WorldConfig};
use orderbridge_sandbox::seed::Channel;
use orderbridge_sandbox::SandboxConfig;
use serde_json::Value;

/// A seeded Sellercloud order as the rule sees it: Import ID, Amazon Prime, service, (SKU, qty) lines.
type Seeded = (String, bool, &'static str, Vec<(String, i64)>, &'static str);

fn value(v: &Value) -> Option<&str> {
    v.get("value").and_then(Value::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_skip_empty_templates_and_custom_fields_shape_the_erp_order() {
    let config = SandboxConfig {
        seed: 31,
        sellercloud_orders: 40,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("rules-e2e"), config);
    world_config.mappings.retain(|(name, _)| name != "sc-main");
    world_config.tweak_connections = Some(|c| set_setting(c, "sellercloud", "max_age_days", 60.into()));
    let world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let demo = std::fs::read_to_string(demo_dir().join("mappings/sc-main.toml")).unwrap();
    assert!(demo.contains("then = { value = \"FEDEX2DAY\" }"), "the demo mapping carries the Prime rule");
    let order_type_rule = "order_type = { rules = [\n    { when = [{ field = \"ship_to.country\", is_not = \"US\" }], then = { value = \"EX\" } },\n], default = { set = \"order_types\" } }\n";
    let mapping = demo
        .replace("[fields.header]\n", &format!("[fields.header]\ndescription = \"skip\"\n{order_type_rule}"))
        + r#"
[fields.ship_to]
phone = "empty"
[fields.lines]
note = { template = "{line.sku} x {line.quantity}" }
[fields.custom]
UsrChannelStatus = { field = "channel_status" }
"#;
    world.push_mapping_text("sc-main", "mappings/sc-main.toml", &mapping).await.unwrap();

    let expected: Vec<Seeded> = world
        .sandbox
        .state()
        .sellercloud()
        .orders
        .values()
        .filter(|o| o.status_code == 2 && !o.is_exported)
        .map(|o| {
            let g = &o.gen;
            let lines = g.lines.iter().map(|l| (l.sku.clone(), l.qty)).collect();
            // Outside the US: the rule's EX; else [order_types] by the channel.
            let order_type = match (g.buyer.address.country.as_str(), g.channel) {
                (country, _) if country != "US" => "EX",
                (_, Channel::Amazon) => "AM",
                (_, Channel::Ebay) => "EB",
                (_, Channel::Walmart) => "WM",
                (_, Channel::Website) => "SO",
            };
            (format!("SC-{}", o.id), g.channel == Channel::Amazon && g.prime, g.ship_service, lines, order_type)
        })
        .collect();
    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(report.settled, "{report:?}");

    let erp = erp_orders_by_import_id(&world.sandbox);
    let mut prime = 0;
    let mut abroad = 0;
    for (import_id, is_prime, service, lines, order_type) in &expected {
        let order = &erp.get(import_id).unwrap_or_else(|| panic!("{import_id} not imported"))[0];
        let want = if *is_prime {
            prime += 1;
            "FEDEX2DAY"
        } else {
            match *service {
                "Ground" => "UPSGROUND",
                "Priority Mail" => "USPSPRIORITY",
                "2Day" => "FEDEX2DAY",
                "Next Day Air" => "UPSNEXTDAY",
                other => panic!("unexpected service {other}"),
            }
        };
        assert_eq!(value(&order["ShipVia"]), Some(want), "{import_id} ({service}, prime {is_prime})");
        assert_eq!(value(&order["OrderType"]), Some(*order_type), "{import_id}: order type by rule or table");
        abroad += usize::from(*order_type == "EX");
        assert!(order.get("Description").is_none_or(Value::is_null), "{import_id}: description skipped");
        assert_eq!(value(&order["ShipToContact"]["Phone1"]), Some(""), "{import_id}: ship-to phone set empty");
        assert!(
            order["custom"]["Document"]["UsrChannelStatus"]["value"].as_str().is_some_and(|s| !s.is_empty()),
            "{import_id}: custom field from the channel status: {}",
            order["custom"]
        );
        let details = order["Details"].as_array().expect("details");
        for (sku, qty) in lines {
            let note = format!("{sku} x {qty}");
            assert!(
                details.iter().any(|d| d["note"]["value"].as_str() == Some(note.as_str())),
                "{import_id}: a line note {note:?} from the template: {details:?}"
            );
        }
    }
    assert!(prime > 0, "the seed must hold Amazon Prime orders for the rule to show");
    assert!(abroad > 0 && abroad < expected.len(), "the seed must hold orders on both sides of the country rule");
    world.shutdown().await;
}

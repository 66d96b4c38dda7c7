//! No secret anywhere, personal data only where README "Personal data" says: the demo's job (orders
//! pulled and imported, shipments confirmed in the ERP and pushed back through the webhook intake,
//! a forged delivery refused, the follow-ups with charges and a purge) runs with distinctive
//! secrets, and every function log line (JSON, as in Lambda, at debug level), every item of both
//! tables and every queue message met on the way is scanned.
//!
//! Needs the emulator (`make test` starts it).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use orderbridge_harness::aws::LocalAws;
use orderbridge_harness::drive::{drain_shipments, settle_orders};
use orderbridge_harness::followups::{bigcommerce_personal_data_of, personal_data_of, LaterClock};
use orderbridge_harness::report::{confirm_one_box, erp_orders_by_import_id};
use orderbridge_harness::world::{World, WorldConfig};
use orderbridge_sandbox::{Credentials, SandboxConfig, Vendor, WindowLimit};

/// Every log line any test of this binary emits, as Lambda would print it (JSON lines).
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let make_writer = move || Capture(writer.clone());
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,aws_smithy_runtime=info,aws_smithy_http_client=info,aws_config=info,aws_sdk_dynamodb=info,\
             aws_sdk_sqs=info,hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info,tower=info,axum=info",
        );
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter)
            .with_writer(make_writer)
            .try_init()
            .expect("this test binary installs the only subscriber");
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map(|mut b| b.extend_from_slice(buf)).ok();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&captured().lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
}

/// Distinctive credentials for every vendor, so a leak cannot hide behind a common word.
fn credentials() -> Credentials {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    Credentials {
        sellercloud_password: format!("scPw-{tag}"),
        acumatica_password: format!("acPw-{tag}"),
        acumatica_client_secret: format!("acCs-{tag}"),
        bigcommerce_access_token: format!("bcTok-{tag}"),
        bigcommerce_client_secret: format!("bcCs-{tag}"),
        shipstation_api_key: format!("ssKey-{tag}"),
        shipstation_api_secret: format!("ssSec-{tag}"),
        magento_admin_password: format!("mgPw-{tag}1"),
        magento_integration_token: format!("mgTok-{tag}"),
        ..Credentials::default()
    }
}

/// Where a value was found, and whether README lets personal data be there.
#[derive(Debug)]
struct Place {
    name: String,
    text: String,
    personal_data_allowed: bool,
}

fn attribute_text(value: &AttributeValue, out: &mut String) {
    match value {
        AttributeValue::S(s) => out.push_str(s),
        AttributeValue::N(n) => out.push_str(n),
        AttributeValue::L(list) => list.iter().for_each(|v| attribute_text(v, out)),
        AttributeValue::M(map) => map.values().for_each(|v| attribute_text(v, out)),
        _ => {}
    }
    out.push('\n');
}

/// Both tables, item by item, each marked with whether README's "Personal data" table lists it.
async fn table_places(aws: &LocalAws) -> Vec<Place> {
    let mut places = Vec::new();
    for (table, is_log) in [(&aws.resources.state_table, false), (&aws.resources.log_table, true)] {
        let mut start = None;
        loop {
            let page =
                aws.dynamo.scan().table_name(table).set_exclusive_start_key(start.take()).send().await.expect("scan");
            for item in page.items() {
                let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                let (pk, action, group) = (get("pk"), get("action"), get("group"));
                let allowed = if is_log {
                    // Import entries name the buyer; customer entries of ERP-originated orders
                    // are about one customer (the email is their entity).
                    action == "import_order" || group == "customers"
                } else {
                    // The followed order's record, and an import claim's failure text.
                    pk.starts_with("FOLLOW#") || pk.starts_with("CLAIM#IMPORT#")
                };
                let mut text = String::new();
                item.values().for_each(|v| attribute_text(v, &mut text));
                places.push(Place {
                    name: format!("{table} {pk} {}", get("sk")),
                    text,
                    personal_data_allowed: allowed,
                });
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
    }
    places
}

/// Every message waiting in `url`, left in place (received, then made visible again).
async fn queue_places(aws: &LocalAws, name: &str, url: &str) -> Vec<Place> {
    let mut places = Vec::new();
    let mut handles = Vec::new();
    loop {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            places.push(Place {
                name: format!("queue {name}"),
                text: m.body().unwrap_or_default().to_owned(),
                // Whole orders travel in messages, deleted within days (README).
                personal_data_allowed: true,
            });
            handles.extend(m.receipt_handle().map(str::to_owned));
        }
    }
    for handle in handles {
        let _ = aws
            .sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await;
    }
    places
}

/// Findings: every secret anywhere, and personal data outside the places README allows.
fn scan(places: &[Place], secrets: &[String], personal: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for p in places {
        let lower = p.text.to_lowercase();
        for s in secrets.iter().filter(|s| p.text.contains(s.as_str())) {
            found.push(format!("secret {s:?} in {}", p.name));
        }
        if !p.personal_data_allowed {
            for v in personal.iter().filter(|v| lower.contains(&v.to_lowercase())) {
                found.push(format!("personal data {v:?} in {}", p.name));
            }
        }
    }
    found
}

fn secrets_of(world: &World, credentials: &Credentials) -> Vec<String> {
    vec![
        credentials.sellercloud_password.clone(),
        credentials.acumatica_password.clone(),
        credentials.acumatica_client_secret.clone(),
        credentials.bigcommerce_access_token.clone(),
        credentials.bigcommerce_client_secret.clone(),
        credentials.shipstation_api_key.clone(),
        credentials.shipstation_api_secret.clone(),
        credentials.magento_admin_password.clone(),
        credentials.magento_integration_token.clone(),
        world.secrets.shipstation_token.clone(),
        world.secrets.acumatica_secret.clone(),
        world.secrets.generic_secret.clone(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_is_stored_or_logged_and_personal_data_stays_where_readme_says() {
    captured();
    let credentials = credentials();
    let mut config = SandboxConfig {
        seed: 1919,
        sellercloud_orders: 10,
        bigcommerce_orders: 4,
        magento_orders: 0,
        shipstation_orders: 0,
        credentials: credentials.clone(),
        ..SandboxConfig::default()
    };
    config.limits.acumatica_per_minute = WindowLimit::new(3000, Duration::from_secs(60));
    let mut world_config = WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("scan"), config);
    world_config.queue_timing = Some((2, 8));
    let mut world = World::start(world_config).await.unwrap_or_else(|e| panic!("{e}"));
    let secrets = secrets_of(&world, &credentials);
    let mut places = Vec::new();

    // Orders pulled: the import messages are scanned before they are consumed.
    world.app.run_pull(std::time::Instant::now() + Duration::from_secs(60)).await;
    places.extend(queue_places(&world.aws, "orders", &world.aws.resources.orders.url).await);
    assert!(!places.is_empty(), "the pull enqueued orders");
    let report = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(300)).await;
    assert!(report.settled, "{report:?}");

    // Shipments confirmed in the ERP, pushed back through the webhook intake.
    world.route_acumatica_pushes(Some(1));
    let imported: Vec<String> = erp_orders_by_import_id(&world.sandbox).into_keys().collect();
    for import_id in &imported {
        confirm_one_box(&world.sandbox, import_id).expect("confirmed");
    }
    world.sandbox.state().wait_for_deliveries(Vendor::Acumatica, imported.len() * 2, Duration::from_secs(30)).await;
    places.extend(queue_places(&world.aws, "shipments", &world.aws.resources.shipments.url).await);
    assert!(drain_shipments(&world.status, &world.aws, 2, Duration::from_secs(120)).await.settled);

    // A forged delivery carrying a secret-looking wrong token is refused (and not stored).
    let forged = format!(
        "{}{}?token=forged-{}",
        world.gateway.base_url,
        orderbridge::handlers::SHIPSTATION_ROUTE,
        uuid::Uuid::new_v4().simple()
    );
    let answer = reqwest::Client::new()
        .post(&forged)
        .json(&serde_json::json!({"resource_url": "https://ssapi.shipstation.com/shipments?batchId=1", "resource_type": "SHIP_NOTIFY"}))
        .send()
        .await
        .expect("gateway answers");
    assert!(answer.status().is_client_error(), "forged delivery: {}", answer.status());

    // Follow-ups: charges now, then the purge as the schedule runs it 31 days later.
    let far = || std::time::Instant::now() + Duration::from_secs(600);
    world.status.run_followups(far()).await;
    world.status.clock = Arc::new(LaterClock(chrono::Duration::days(31)));
    world.status.run_followups(far()).await;

    places.extend(table_places(&world.aws).await);
    let logs = log_text();
    places.push(Place { name: "function log lines".into(), text: logs.clone(), personal_data_allowed: false });
    let id_of = |prefix: &str, id: &String| id.strip_prefix(prefix).and_then(|i| i.parse::<i64>().ok());
    let personal: Vec<String> = imported
        .iter()
        .filter_map(|id| id_of("SC-", id))
        .flat_map(|id| personal_data_of(&world.sandbox, id))
        .chain(
            imported
                .iter()
                .filter_map(|id| id_of("BC-", id))
                .flat_map(|id| bigcommerce_personal_data_of(&world.sandbox, id)),
        )
        .collect();
    assert!(personal.len() >= 10, "seeded personal data: {personal:?}");
    assert!(logs.lines().count() > 100, "the run logged: {} lines", logs.lines().count());

    let findings = scan(&places, &secrets, &personal);
    assert!(findings.is_empty(), "{} findings:\n{}", findings.len(), findings.join("\n"));
    // The Acumatica OAuth tokens the run signed in with live in the state table's shared-token
    // item (README "Table design") and nowhere else: no log line, log entry or message.
    let place_count = places.len();
    let tokens = world.sandbox.state().acumatica().oauth_tokens();
    assert!(!tokens.is_empty(), "the demo signs in to Acumatica with OAuth");
    let (token_items, elsewhere): (Vec<Place>, Vec<Place>) =
        places.into_iter().partition(|p| p.name.contains(" TOKEN#acumatica#"));
    assert_eq!(token_items.len(), 1, "one shared token for every function");
    assert!(!scan(&token_items, &tokens, &[]).is_empty(), "the scan finds the token where it is kept");
    let token_findings = scan(&elsewhere, &tokens, &[]);
    assert!(token_findings.is_empty(), "{} token findings:\n{}", token_findings.len(), token_findings.join("\n"));
    // The scan itself can fail: a secret logged on purpose is found in the captured lines.
    tracing::info!(password = %credentials.acumatica_password, "Deliberately logged secret (scan self-test).");
    let with_leak = vec![Place { name: "function log lines".into(), text: log_text(), personal_data_allowed: false }];
    let leak = scan(&with_leak, &secrets, &personal);
    assert_eq!(leak.len(), 1, "the deliberate leak is the one finding: {leak:?}");
    // And personal data outside the documented places is found too.
    let stray = vec![Place { name: "a stray place".into(), text: personal[0].clone(), personal_data_allowed: false }];
    assert_eq!(scan(&stray, &secrets, &personal).len(), 1);
    println!(
        "scanned {} places ({} log lines): no secret, personal data only where README says",
        place_count,
        logs.lines().count()
    );
    world.shutdown().await;
}

//! The operator console in a real browser: headless Chromium through WebDriver (chromedriver),
//! against the console served over a live world (emulator + vendor sandbox). Screenshots of each
//! page go to `.local/console-screenshots/<test>/`.
//!
//! Needs the emulator (`make test` starts it) and Debian's chromium + chromium-driver
//! (`infra/local/browser.sh`, which `make test` runs).

use std::time::{Duration, Instant};

use fantoccini::Locator;
use orderbridge::model::ConnectionId;
use orderbridge::ports::ClaimKey;
use orderbridge_harness::browser::Browser;
use orderbridge_harness::drive::{drain_orders, settle_orders, DriveReport};
use orderbridge_harness::report::erp_orders_by_import_id;
use orderbridge_harness::world::{demo_dir, World, WorldConfig};
use orderbridge_sandbox::SandboxConfig;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Waits (up to 10 s) for an element: a form's POST → redirect → GET may still be loading when
/// the click returns, most of all on a busy machine.
async fn element(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    match browser.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => panic!("{css} not on {:?}: {e}", browser.client.current_url().await.ok()),
    }
}

async fn text(browser: &Browser, css: &str) -> String {
    element(browser, css).await.text().await.unwrap_or_default()
}

/// Clicks what submits a form or follows a link, and waits until the next page replaced this one
/// (the old page's body goes stale), so nothing is read from the page being left.
async fn click(browser: &Browser, css: &str) {
    let old_body = element(browser, "body").await;
    element(browser, css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    let started = Instant::now();
    while old_body.tag_name().await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(10), "no new page after clicking {css}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn goto(browser: &Browser, url: &str) {
    browser.client.goto(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
}

/// Signs in on the console at `base` with `token` (typed into the sign-in form).
async fn sign_in(browser: &Browser, base: &str, token: &str) -> TestResult {
    goto(browser, &format!("{base}/console/login")).await;
    element(browser, "#token").await.send_keys(token).await?;
    click(browser, "#sign-in").await;
    Ok(())
}

/// Imports what the orders queue holds, without a pull (so only what an action enqueued).
async fn drain(world: &World) {
    let mut report = DriveReport::default();
    drain_orders(&world.app, &world.aws, 2, &mut report, Instant::now(), Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_finds_fixes_replays_retries_and_skips_orders_in_the_console() -> TestResult {
    let config = SandboxConfig {
        seed: 61,
        sellercloud_orders: 12,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let world = World::start(WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("console"), config)).await?;
    let console = world.console("ana").await?;
    let base = console.base_url.clone();
    let browser = Browser::start("operator").await?;

    // Default deny: no page without signing in, no action without a session.
    goto(&browser, &format!("{base}/console/failures")).await;
    assert!(browser.client.current_url().await?.path().ends_with("/console/login"), "redirected to sign in");
    browser.screenshot("01-sign-in").await?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let anonymous = http
        .post(format!("{base}/console/orders/retry"))
        .form(&[("connection", "sc-main"), ("order", "SC-1")])
        .send()
        .await?;
    assert_eq!(anonymous.status(), 401, "an unauthenticated action is refused");
    let page = http.get(format!("{base}/console/log")).send().await?;
    assert_eq!(page.status(), 303);
    let csp = page.headers().get("content-security-policy").map(|v| v.to_str().unwrap_or_default().to_owned());
    assert!(csp.is_some_and(|v| v.contains("default-src 'none'")), "security headers on every response");
    // A wrong token does not sign in.
    goto(&browser, &format!("{base}/console/login")).await;
    browser.client.find(Locator::Css("#token")).await?.send_keys("not-the-token-of-anyone-at-all").await?;
    click(&browser, "#sign-in").await;
    assert!(text(&browser, "#flash").await.contains("not an operator"));

    // Five listed orders get shipping services the mapping does not know: three "Drone
    // Delivery", one "Teleport", one "Carrier Pigeon".
    let sc = ConnectionId::parse("sc-main")?;
    let listed = world.app.pull.channels[&sc].source.list_new_orders(None).await?;
    let ids: Vec<String> = listed.orders.iter().map(|o| o.id().raw().to_owned()).take(5).collect();
    assert_eq!(ids.len(), 5, "the sandbox lists at least five new orders");
    {
        let mut state = world.sandbox.state().sellercloud();
        for (i, id) in ids.iter().enumerate() {
            let order = state.orders.get_mut(&id.parse::<i64>()?).expect("listed order exists");
            order.service =
                ["Drone Delivery", "Drone Delivery", "Drone Delivery", "Teleport", "Carrier Pigeon"][i].into();
        }
    }
    let first = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(240)).await;
    assert!(first.settled, "{first:?}");
    let import_id = |i: usize| format!("SC-{}", ids[i]);
    let erp = erp_orders_by_import_id(&world.sandbox);
    for i in 0..5 {
        assert!(!erp.contains_key(&import_id(i)), "{} must be blocked", import_id(i));
    }

    // Sign in.
    sign_in(&browser, &base, &console.token).await?;
    assert!(browser.client.current_url().await?.path().ends_with("/console/log"));
    browser.screenshot("02-connector-log").await?;

    // Filter the log to failed order imports and open a View.
    let form = browser.client.form(Locator::Css("#log-filters")).await?;
    form.set_by_name("group", "orders").await?;
    form.set_by_name("result", "failure").await?;
    form.set_by_name("action", "import_order").await?;
    click(&browser, "#apply-filters").await;
    let rows = browser.client.find_all(Locator::Css("#log tbody tr")).await?;
    assert!(rows.len() >= 5, "five failed imports at least, got {}", rows.len());
    for row in &rows {
        assert!(row.text().await?.contains("failure"), "only failures after filtering");
    }
    let shown = browser.client.find(Locator::Css("#log tbody")).await?.text().await?;
    assert!(shown.contains("Sellercloud to Acumatica"), "directions read as the reference's log");
    browser.screenshot("03-log-filtered").await?;
    click(&browser, "#log tbody tr a.view").await;
    assert!(text(&browser, "#notes").await.contains("not mapped"));
    assert!(text(&browser, "#advice").await.contains("replay"), "the View says what to do");
    browser.screenshot("04-log-view").await?;

    // The inbox groups the three orders under one value, with the line to add.
    goto(&browser, &format!("{base}/console/failures")).await;
    let unmapped = text(&browser, "#unmapped").await;
    let drone_row = browser
        .client
        .find(Locator::XPath("//table[@id='unmapped']//tr[.//code[@class='value' and text()='Drone Delivery']]"))
        .await?;
    let drone_text = drone_row.text().await?;
    assert!(drone_text.contains("[shipping_methods] \"Drone Delivery\" = \"<the ERP Ship Via>\""), "{drone_text}");
    assert_eq!(drone_row.find(Locator::Css("td.blocked")).await?.text().await?.trim(), "3", "{unmapped}");
    browser.screenshot("05-failures").await?;

    // Fix the mapping in the console and replay the three.
    let mut mapping = std::fs::read_to_string(demo_dir().join("mappings/sc-main.toml"))?;
    mapping = mapping.replacen(
        "[shipping_methods]\n",
        "[shipping_methods]\n\"Drone Delivery\" = \"UPSGROUND\"\n\"Teleport\" = \"UPSGROUND\"\n",
        1,
    );
    let upload = browser.client.form(Locator::Css("#mapping-upload")).await?;
    upload.set_by_name("name", "sc-main").await?;
    upload.set_by_name("source", &mapping).await?;
    click(&browser, "#upload-mapping").await;
    assert!(text(&browser, "#flash").await.contains("sc-main v2 stored"), "{}", text(&browser, "#flash").await);
    drone_row_replay(&browser).await?;
    assert!(text(&browser, "#flash").await.contains("3 order(s) of sc-main enqueued again"));
    drain(&world).await;
    let erp = erp_orders_by_import_id(&world.sandbox);
    for i in 0..3 {
        assert_eq!(erp.get(&import_id(i)).map(Vec::len), Some(1), "{} imported once by the replay", import_id(i));
    }
    assert!(!erp.contains_key(&import_id(3)), "replay sent only the value's orders");

    // Retry the Teleport order from its timeline.
    goto(&browser, &format!("{base}/console/orders?q={}", import_id(3))).await;
    assert!(text(&browser, "#import-status").await.contains("failed"));
    click(&browser, "#retry").await;
    assert!(text(&browser, "#flash").await.contains("enqueued for import"));
    drain(&world).await;
    assert_eq!(
        erp_orders_by_import_id(&world.sandbox).get(&import_id(3)).map(Vec::len),
        Some(1),
        "retried and imported"
    );

    // Skip the pigeon with a note: never retried, never pulled again.
    goto(&browser, &format!("{base}/console/orders?q={}", import_id(4))).await;
    browser.client.find(Locator::Css("input[name=note]")).await?.send_keys("test order, not shipped").await?;
    click(&browser, "#skip").await;
    assert!(text(&browser, "#flash").await.contains("will not be retried"));
    assert!(text(&browser, "#import-status").await.contains("skipped: test order, not shipped (by console:ana)"));
    let again = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(120)).await;
    assert!(again.settled && again.enqueued == 0, "nothing left to import: {again:?}");
    assert!(!erp_orders_by_import_id(&world.sandbox).contains_key(&import_id(4)), "a skipped order stays out");
    goto(&browser, &format!("{base}/console/orders?q={}", import_id(4))).await;
    assert!(browser.client.find(Locator::Css("#retry")).await.is_err(), "a skipped order offers no retry");
    browser.screenshot("07-skipped-order").await?;
    let claim = world
        .app
        .pull
        .ledger
        .claim_record(&ClaimKey::import(&orderbridge::model::ImportKey::new(
            sc.clone(),
            orderbridge::model::ChannelOrderId::parse_display(&import_id(4)).expect("import id"),
        )))
        .await?
        .expect("claim");
    assert_eq!(claim.skipped_note(), Some("test order, not shipped (by console:ana)"));

    // One replayed order's timeline: seen, imported, acknowledged, with the operator's replay.
    goto(&browser, &format!("{base}/console/orders")).await;
    browser.client.find(Locator::Css("input[name=q]")).await?.send_keys(&import_id(0)).await?;
    click(&browser, "#find-order").await;
    let steps = text(&browser, "#timeline").await.to_lowercase();
    // In order: seen and enqueued, the failure under v1, the operator's replay, the import, its
    // acknowledgement in the channel.
    let mut at = 0;
    for wanted in ["seen, enqueued", "import failed", "operator", "imported · ", "acknowledged · "] {
        let found = steps[at..].find(wanted).unwrap_or_else(|| panic!("{wanted:?} after {at} in {steps}"));
        at += found + wanted.len();
    }
    assert!(steps.contains("erp order"), "{steps}");
    assert!(!text(&browser, "#correlation").await.is_empty());
    assert!(text(&browser, "#erp-order").await.contains("SO/"));
    browser.screenshot("06-order-timeline").await?;
    let by_erp = text(&browser, "#erp-order").await;
    let erp_ref = by_erp.split_whitespace().next().unwrap_or_default().to_owned();
    goto(&browser, &format!("{base}/console/orders?q={erp_ref}")).await;
    assert!(text(&browser, "#order").await.contains(&import_id(0)), "found by its ERP order too");

    // Every action is in the log with who took it.
    let entries = world.app.pull.log.entries_for_entity(&sc, &import_id(4), 50).await?;
    assert!(entries.iter().any(|e| e.action == "operator_skip" && e.notes.contains("console:ana")));

    // CSRF: the browser's session with a forged token (or none) is refused; its own is accepted.
    let cookie = browser.client.get_named_cookie("ob_session").await?;
    let session = format!("ob_session={}", cookie.value());
    for forged in [Some("forged-token"), None] {
        let mut form = vec![("connection", "sc-main".to_owned()), ("order", import_id(3))];
        if let Some(token) = forged {
            form.push(("csrf", token.to_owned()));
        }
        let refused =
            http.post(format!("{base}/console/orders/retry")).header("cookie", &session).form(&form).send().await?;
        assert_eq!(refused.status(), 403, "forged CSRF token {forged:?} refused");
    }
    let genuine = browser.client.find(Locator::Css("input[name=csrf]")).await?.attr("value").await?.unwrap_or_default();
    let accepted = http
        .post(format!("{base}/console/orders/retry"))
        .header("cookie", &session)
        .form(&[("connection", "sc-main"), ("order", import_id(3).as_str()), ("csrf", genuine.as_str())])
        .send()
        .await?;
    assert_eq!(accepted.status(), 303, "the page's own token is accepted");

    browser.close().await;
    drop(console);
    world.shutdown().await;
    Ok(())
}

async fn drone_row_replay(browser: &Browser) -> TestResult {
    let row = browser
        .client
        .find(Locator::XPath("//table[@id='unmapped']//tr[.//code[@class='value' and text()='Drone Delivery']]"))
        .await?;
    let old_body = browser.client.find(Locator::Css("body")).await?;
    row.find(Locator::Css("button.replay")).await?.click().await?;
    while old_body.tag_name().await.is_ok() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_redrives_dead_letters_tests_connections_and_backfills_in_the_console() -> TestResult {
    let config = SandboxConfig {
        seed: 62,
        sellercloud_orders: 10,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    };
    let world =
        World::start(WorldConfig::demo(&orderbridge_harness::aws::unique_prefix("console-ops"), config)).await?;
    // Two orders marked exported by someone else: the pull never lists them, a backfill does.
    let sc = ConnectionId::parse("sc-main")?;
    let listed = world.app.pull.channels[&sc].source.list_new_orders(None).await?;
    let hidden: Vec<String> = listed.orders.iter().map(|o| format!("SC-{}", o.id().raw())).take(2).collect();
    {
        let mut state = world.sandbox.state().sellercloud();
        for id in &hidden {
            let raw: i64 = id.trim_start_matches("SC-").parse()?;
            state.orders.get_mut(&raw).expect("listed order").is_exported = true;
        }
    }
    let first = settle_orders(&world.app, &world.aws, 2, Duration::from_secs(240)).await;
    assert!(first.settled, "{first:?}");
    let imported_before = erp_orders_by_import_id(&world.sandbox);
    assert!(!imported_before.is_empty());
    assert!(hidden.iter().all(|id| !imported_before.contains_key(id)), "exported orders are not pulled");
    let console = world.console("ben").await?;
    let base = console.base_url.clone();
    let browser = Browser::start("operations").await?;
    sign_in(&browser, &base, &console.token).await?;

    // A dead letter: an import that exhausted its receives (sent straight to the DLQ here).
    let order = orderbridge::model::ChannelOrderId::parse_display("SC-9100001").expect("id");
    let envelope = orderbridge::ports::Envelope::correlated(
        orderbridge::flows::OrderMessage::ImportOrderV1(orderbridge::flows::ImportOrder {
            connection: sc.clone(),
            order: orderbridge::ports::ListedOrder::Reference { id: order.clone(), display_number: "9100001".into() },
            announced: false,
        }),
        chrono::Utc::now(),
        "corr-dead-letter".into(),
    );
    let sqs = aws_sdk_sqs::Client::new(&world.aws.sdk);
    sqs.send_message()
        .queue_url(&world.aws.resources.orders.dlq_url)
        .message_body(serde_json::to_string(&envelope)?)
        .send()
        .await?;
    sqs.send_message().queue_url(&world.aws.resources.orders.dlq_url).message_body("not json at all").send().await?;
    goto(&browser, &format!("{base}/console/queues")).await;
    let dlq = text(&browser, "#dlq-orders").await;
    assert!(dlq.contains("import_order.v1") && dlq.contains("SC-9100001") && dlq.contains("sc-main"), "{dlq}");
    assert!(dlq.contains("unreadable"), "a poison body is shown as such: {dlq}");
    let row = browser.client.find(Locator::XPath("//form[@id='dlq-orders']//tr[.//td[text()='SC-9100001']]")).await?;
    row.find(Locator::Css("input[type=checkbox]")).await?.click().await?;
    browser.screenshot("01-queues").await?;
    click(&browser, "#dlq-orders button.redrive-selected").await;
    let flash = text(&browser, "#flash").await;
    assert!(flash.contains("1 message(s) moved back to the orders queue"), "{flash}");
    let dlq_after = text(&browser, "#dlq-orders").await;
    assert!(!dlq_after.contains("SC-9100001") && dlq_after.contains("unreadable"), "only the selected one moved");
    let (waiting, _) = world.aws.queue_depth(&world.aws.resources.orders.url).await;
    assert_eq!(waiting, 1, "the redriven message is back on the orders queue");

    // Test connection: the sandbox answers; with a wrong password, the vendor's own refusal.
    goto(&browser, &format!("{base}/console/connections")).await;
    browser.screenshot("02-connections").await?;
    click(&browser, "tr[data-connection='sc-main'] button.test").await;
    let flash = text(&browser, "#flash").await;
    assert!(flash.starts_with("sc-main: connected (POST /api/token"), "{flash}");
    let mut wrong = world.connections.clone();
    orderbridge_harness::world::set_setting(&mut wrong, "sellercloud", "password", "not-the-password".into());
    let wrong_console = world.console_with("ben", &wrong).await?;
    sign_in(&browser, &wrong_console.base_url, &wrong_console.token).await?;
    goto(&browser, &format!("{}/console/connections", wrong_console.base_url)).await;
    browser.screenshot("03-connections-wrong-password").await?;
    click(&browser, "tr[data-connection='sc-main'] button.test").await;
    let refused = text(&browser, "#flash").await;
    assert!(refused.contains("refused") && refused.contains("401"), "{refused}");
    assert!(refused.contains("The user name or password is incorrect."), "the vendor's own words: {refused}");
    assert!(!refused.contains("not-the-password"), "never the password");
    browser.screenshot("03-test-connection-refused").await?;
    drop(wrong_console);

    // Backfill a window holding every seeded order: imported ones are counted, only the others
    // are enqueued, and the page shows the progress.
    sign_in(&browser, &base, &console.token).await?;
    goto(&browser, &format!("{base}/console/connections")).await;
    let form = browser.client.form(Locator::Css("#backfill")).await?;
    form.set_by_name("connection", "sc-main").await?;
    form.set_by_name("from", "2020-01-01").await?;
    click(&browser, "#start-backfill").await;
    assert_eq!(text(&browser, "#backfill-status").await.split_whitespace().next(), Some("running"));
    browser.screenshot("04-backfill-running").await?;
    drain(&world).await;
    goto(&browser, browser.client.current_url().await?.as_ref()).await;
    assert_eq!(text(&browser, "#backfill-status").await.trim(), "done");
    let number = |s: String| s.trim().parse::<u32>().unwrap_or(u32::MAX);
    let listed = number(text(&browser, "#backfill-listed").await);
    let enqueued = number(text(&browser, "#backfill-enqueued").await);
    let bound = number(text(&browser, "#backfill-bound").await);
    assert!(number(text(&browser, "#backfill-pages").await) >= 1);
    assert_eq!(bound as usize, imported_before.len(), "every imported order is counted as bound, not enqueued");
    assert_eq!(enqueued, 2, "exactly the two orders not in the ERP are enqueued");
    assert_eq!(listed, bound + enqueued, "listed {listed}, bound {bound}, enqueued {enqueued}");
    browser.screenshot("05-backfill-done").await?;
    let after = erp_orders_by_import_id(&world.sandbox);
    assert!(after.values().all(|orders| orders.len() == 1), "no order created twice");
    for id in imported_before.keys().chain(&hidden) {
        assert!(after.contains_key(id), "{id} in the ERP after the backfill");
    }

    browser.close().await;
    drop(console);
    world.shutdown().await;
    Ok(())
}

//! The vendor clients against the in-process vendor sandbox: each speaks its vendor's wire
//! format well enough to page, fetch, create and acknowledge, and throttling is retried.

use std::collections::BTreeSet;

use orderbridge::connectors::acumatica::{AcumaticaClient, AcumaticaConfig};
use orderbridge::connectors::bigcommerce::{BigCommerceClient, BigCommerceConfig};
use orderbridge::connectors::sellercloud::{SellercloudClient, SellercloudConfig};
use orderbridge::model::{ConnectionId, ErpOrderRef, IdentifierKind};
use orderbridge::ports::{Acknowledgement, CustomerLookup, ErpShipments, ListedOrder, OrderSink, OrderSource};
use orderbridge_sandbox::{start, FaultKind, Sandbox, SandboxConfig, ScriptedFault, Vendor};

async fn sandbox() -> Sandbox {
    start(SandboxConfig { seed: 11, sellercloud_orders: 137, bigcommerce_orders: 40, ..SandboxConfig::default() })
        .await
        .expect("sandbox starts")
}

fn acumatica(sb: &Sandbox) -> AcumaticaClient {
    let c = &sb.state().config().credentials;
    let mut config = AcumaticaConfig::new(
        sb.urls().acumatica.clone(),
        &c.acumatica_username,
        c.acumatica_password.clone().into(),
        &c.acumatica_tenant,
    );
    config.retry.initial_delay_ms = 10;
    AcumaticaClient::new(config).expect("valid config")
}

fn erp_ref() -> ErpOrderRef {
    ErpOrderRef {
        order_type: orderbridge::model::ErpOrderType::parse("SO").unwrap(),
        order_nbr: orderbridge::model::ErpOrderNbr::parse("SO000001").unwrap(),
    }
}

#[tokio::test]
async fn sellercloud_pages_every_not_exported_order_once_and_marks_them_exported() {
    let sb = sandbox().await;
    let c = &sb.state().config().credentials;
    let mut config = SellercloudConfig::new(
        sb.urls().sellercloud.clone(),
        &c.sellercloud_username,
        c.sellercloud_password.clone().into(),
    );
    config.max_age_days = 3650;
    config.page_size = 20;
    let client = SellercloudClient::new(ConnectionId::parse("sc-main").unwrap(), config).unwrap();
    let expected: BTreeSet<i64> = sb
        .state()
        .sellercloud()
        .orders
        .values()
        .filter(|o| !o.is_exported && o.status_code == 2)
        .map(|o| o.id)
        .collect();
    assert!(expected.len() > 40, "enough orders for several pages");

    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = client.list_new_orders(token.as_ref()).await.unwrap();
        // Acknowledge as we go, so the not-exported set shrinks under the walk (§1.15).
        let acks: Vec<Acknowledgement> = page
            .orders
            .iter()
            .map(|o| Acknowledgement::Imported { order: o.id().clone(), erp: erp_ref(), digest: None, remark: None })
            .collect();
        assert!(client.acknowledge(&acks).await.unwrap().is_empty());
        seen.extend(page.orders.iter().map(|o| o.id().raw().parse::<i64>().unwrap()));
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no order listed twice");
    assert_eq!(unique, expected, "every not-exported InProcess order listed");
    assert!(sb.state().sellercloud().orders.values().filter(|o| expected.contains(&o.id)).all(|o| o.is_exported));

    let first = orderbridge::connectors::sellercloud::SellercloudOrderId::new(seen[0]).unwrap().channel_order_id();
    let order = client.fetch_order(&first).await.unwrap();
    assert!(!order.lines.is_empty());
    order.check_totals().unwrap();
    sb.shutdown().await;
}

#[tokio::test]
async fn bigcommerce_lists_new_orders_fetches_them_and_moves_their_status() {
    let sb = sandbox().await;
    let client = bigcommerce_with(&sb, |c| c.page_size = 10);
    let expected: BTreeSet<i64> =
        sb.state().bigcommerce().orders.values().filter(|o| o.status_id == 11).map(|o| o.id).collect();

    let requests = || sb.state().request_count(Vendor::Bigcommerce).total;
    let before = requests();
    let mut listed = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let page = client.list_new_orders(token.as_ref()).await.unwrap();
        pages += 1;
        listed.extend(page.orders);
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let ids: BTreeSet<i64> = listed.iter().map(|o| o.id().raw().parse().unwrap()).collect();
    assert_eq!(ids, expected);
    assert_eq!(requests() - before, pages, "one request per page, none per order");
    // The listing carries each order whole (lines and address from its consignments).
    let ListedOrder::Whole(whole) = &listed[0] else { panic!("listed by reference: {:?}", listed[0]) };
    assert!(listed.iter().all(|o| matches!(o, ListedOrder::Whole(_))));

    let first = listed[0].id().clone();
    let before = requests();
    let order = client.fetch_order(&first).await.unwrap();
    assert_eq!(requests() - before, 1, "one order read is one request");
    assert!(!order.lines.is_empty() && !order.ship_to.line1.is_empty());
    order.check_totals().unwrap();
    assert_eq!(**whole, order, "listed and read alone, the same order");

    let second = listed[1].id().clone();
    let before = requests();
    let missed = client
        .acknowledge(&[Acknowledgement::Imported { order: first.clone(), erp: erp_ref(), digest: None, remark: None }])
        .await
        .unwrap();
    assert!(missed.is_empty());
    assert_eq!(requests() - before, 1, "an import is acknowledged with one status PUT");
    let before = requests();
    let missed = client
        .acknowledge(&[Acknowledgement::Failed { order: second.clone(), reason: "unknown SKU X".into() }])
        .await
        .unwrap();
    assert!(missed.is_empty());
    assert_eq!(requests() - before, 2, "a failure reads the staff notes and writes them back with the reason");
    {
        let st = sb.state().bigcommerce();
        assert_eq!(st.orders[&first.raw().parse::<i64>().unwrap()].status_id, 9);
        let failed = &st.orders[&second.raw().parse::<i64>().unwrap()];
        assert_eq!(failed.status_id, 12);
        assert!(failed.staff_notes.contains("unknown SKU X"));
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn bigcommerce_announced_orders_are_read_once_and_only_a_waiting_one_is_offered() {
    use orderbridge::ports::AnnouncedOrder;
    let sb = sandbox().await;
    let client = bigcommerce(&sb);
    let (waiting, incomplete) = {
        let st = sb.state().bigcommerce();
        let waiting = st.orders.values().find(|o| o.status_id == 11).map(|o| o.id).unwrap();
        let other = st.orders.values().find(|o| o.status_id != 11).map(|o| o.id).unwrap();
        (waiting, other)
    };
    sb.state().bigcommerce_set_status(incomplete, 0).unwrap();
    let id = |n: i64| orderbridge::connectors::bigcommerce::BigCommerceOrderId::new(n).unwrap().channel_order_id();
    let requests = || sb.state().request_count(Vendor::Bigcommerce).total;
    let before = requests();
    let AnnouncedOrder::Waiting(order) = client.fetch_announced(&id(waiting)).await.unwrap() else { panic!("waiting") };
    assert_eq!(requests() - before, 1, "one read");
    assert_eq!(*order, client.fetch_order(&id(waiting)).await.unwrap());
    let not = client.fetch_announced(&id(incomplete)).await.unwrap();
    assert_eq!(not, AnnouncedOrder::NotWaiting { status: "Incomplete".into() });
    sb.shutdown().await;
}

#[tokio::test]
async fn bigcommerce_order_hooks_are_registered_once_and_a_disabled_one_is_reenabled() {
    use orderbridge::ports::{HookAction, OrderHooks};
    let sb = sandbox().await;
    let client = bigcommerce_with(&sb, |c| c.webhook_secret = vec!["hook-secret-0123456789abcdef".to_owned().into()]);
    let destination = "https://hooks.example.com/webhooks/orders/bc-store";

    let first = client.register(destination).await.unwrap();
    let scopes: Vec<(&str, HookAction)> = first.iter().map(|c| (c.scope.as_str(), c.action)).collect();
    assert_eq!(
        scopes,
        [
            ("store/order/created", HookAction::Created),
            ("store/order/statusUpdated", HookAction::Created),
            ("store/hook/deliveryException", HookAction::Created)
        ]
    );
    assert_eq!(first[2].destination, format!("{destination}?report=delivery"), "a destination of its own");
    {
        let st = sb.state().bigcommerce();
        assert_eq!(st.hooks.len(), 3);
        for hook in st.hooks.values() {
            assert_eq!(hook["headers"]["X-Orderbridge-Hook-Key"], "hook-secret-0123456789abcdef");
            assert_eq!(hook["is_active"], true);
        }
    }
    let again = client.register(destination).await.unwrap();
    assert!(again.iter().all(|c| c.action == HookAction::Unchanged), "{again:?}");
    assert_eq!(sb.state().bigcommerce().hooks.len(), 3, "nothing registered twice");

    // BigCommerce disables a hook whose deliveries failed for two days.
    let created: i64 = first[0].id.parse().unwrap();
    sb.state().bigcommerce_hook_exhausted(created);
    assert_eq!(sb.state().bigcommerce().hooks[&created]["is_active"], false);
    let fixed = client.reactivate().await.unwrap();
    assert_eq!(fixed.len(), 1);
    assert_eq!((fixed[0].id.as_str(), fixed[0].action), (first[0].id.as_str(), HookAction::Reactivated));
    assert_eq!(sb.state().bigcommerce().hooks[&created]["is_active"], true);
    assert!(client.reactivate().await.unwrap().is_empty(), "nothing left to re-enable");
    sb.shutdown().await;
}

#[tokio::test]
async fn acumatica_finds_creates_and_finds_again_then_logs_out() {
    let sb = sandbox().await;
    let client = acumatica(&sb);
    assert_eq!(client.find_by_import_id("SC-424242").await.unwrap(), None);

    // Items: by InventoryID and by barcode.
    let product = sb.state().seed_data().products.iter().find(|p| p.erp_inventory_id != p.sku).unwrap().clone();
    let by_id = client.resolve_item(IdentifierKind::Sku, &product.erp_inventory_id).await.unwrap();
    assert_eq!(by_id.unwrap().as_str(), product.erp_inventory_id);
    assert_eq!(client.resolve_item(IdentifierKind::Sku, "NO-SUCH-SKU").await.unwrap(), None);
    let by_upc = client.resolve_item(IdentifierKind::Upc, &product.upc).await.unwrap();
    assert_eq!(by_upc.unwrap().as_str(), product.erp_inventory_id);
    // An MPN or ASIN recorded as a cross-reference is found the same way (here the barcode one).
    let by_mpn = client.resolve_item(IdentifierKind::Mpn, &product.upc).await.unwrap();
    assert_eq!(by_mpn.unwrap().as_str(), product.erp_inventory_id);
    assert_eq!(client.resolve_item(IdentifierKind::Asin, "B000NOSUCH").await.unwrap(), None);

    // Customers: create with the derived id, then find by id and by email.
    let mut order = orderbridge_test_order();
    order.customer.channel_customer_id = Some("777".into());
    let derived = orderbridge::connectors::acumatica::derive_customer_id("SC", &order.customer).unwrap();
    let id = client.create_customer(&derived, &order.customer.clone(), &order, None).await.unwrap();
    assert_eq!(id.as_str(), "SC777");
    assert_eq!(client.find_customer(CustomerLookup::ChannelId("SC777")).await.unwrap(), Some(id.clone()));
    let email = order.customer.email.clone().unwrap();
    assert_eq!(client.find_customer(CustomerLookup::Email(&email)).await.unwrap(), Some(id.clone()));
    assert_eq!(client.find_customer(CustomerLookup::ChannelId("SC000")).await.unwrap(), None);
    // One request finds it by either key; the id wins over another customer's email.
    let either = CustomerLookup::IdOrEmail { id: "SC777", email: "someone-else@example.com" };
    assert_eq!(client.find_customer(either).await.unwrap(), Some(id.clone()));
    let by_email_only = CustomerLookup::IdOrEmail { id: "SC000", email: &email };
    assert_eq!(client.find_customer(by_email_only).await.unwrap(), Some(id.clone()));

    // A draft order.
    let draft = orderbridge::mapping::SalesOrderDraft {
        import_key: order.import_key(),
        import_id: "SC-424242".into(),
        external_ref: "112-424242".into(),
        order_type: orderbridge::model::ErpOrderType::parse("SO").unwrap(),
        customer_id: id,
        order_date: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        requested_on: None,
        description: "Test order".into(),
        currency: orderbridge::model::Currency::USD,
        ship_via: Some("UPSGROUND".into()),
        bill_to: contact(),
        ship_to: contact(),
        lines: vec![orderbridge::mapping::DraftLine {
            item_id: orderbridge::model::ErpItemId::parse(product.erp_inventory_id.clone()).unwrap(),
            quantity: rust_decimal::Decimal::from(2),
            unit_price: rust_decimal::Decimal::new(1999, 2),
            discount_amount: rust_decimal::Decimal::new(100, 2),
            description: "Item".into(),
            note: None,
            warehouse_id: None,
            channel_line_id: "9001".into(),
        }],
        payments: vec![],
        freight: rust_decimal::Decimal::new(500, 2),
        taxes: vec![orderbridge::mapping::DraftTax {
            tax_id: "CHANNEL".into(),
            rate: None,
            taxable_amount: rust_decimal::Decimal::new(3898, 2),
            tax_amount: rust_decimal::Decimal::new(320, 2),
        }],
        note: Some("Leave at door".into()),
        attributes: Default::default(),
        expected_total: orderbridge::model::Money::new(
            rust_decimal::Decimal::new(4718, 2),
            orderbridge::model::Currency::USD,
        ),
        field_choices: Default::default(),
    };
    // The licence throttles the first create: it is retried and succeeds.
    sb.state().push_fault(Vendor::Acumatica, ScriptedFault::new(FaultKind::TooManyRequests).on("PUT", "/SalesOrder"));
    let created = client.create_order(&draft).await.unwrap();
    assert_eq!(client.find_by_import_id("SC-424242").await.unwrap(), Some(created.clone()));
    let so = sb.state().acumatica().sales_order(created.order_nbr.as_str()).cloned().unwrap();
    assert_eq!(so["OrderTotal"]["value"], serde_json::json!(47.18));
    assert_eq!(sb.state().write_count(Vendor::Acumatica, "sales_order.CustomerOrder", "SC-424242"), 1);

    // A bad InventoryID is a permanent rejection naming the field.
    let mut bad = draft.clone();
    bad.import_id = "SC-424243".into();
    bad.lines[0].item_id = orderbridge::model::ErpItemId::parse("NOPE").unwrap();
    let err = client.create_order(&bad).await.unwrap_err();
    assert!(err.to_string().contains("InventoryID"), "{err}");
    assert!(!orderbridge::Classify::is_retryable(&err));

    // Shipments back: a two-line order packed in two boxes, read box by box with their contents.
    let other = sb
        .state()
        .seed_data()
        .products
        .iter()
        .find(|p| p.erp_inventory_id != product.erp_inventory_id)
        .unwrap()
        .clone();
    let mut two_lines = draft.clone();
    two_lines.import_id = "SC-424244".into();
    let mut second = two_lines.lines[0].clone();
    second.item_id = orderbridge::model::ErpItemId::parse(other.erp_inventory_id.clone()).unwrap();
    second.quantity = rust_decimal::Decimal::ONE;
    second.unit_price = rust_decimal::Decimal::new(1000, 2);
    second.discount_amount = rust_decimal::Decimal::ZERO;
    second.channel_line_id = "9002".into();
    two_lines.lines.push(second);
    two_lines.expected_total =
        orderbridge::model::Money::new(rust_decimal::Decimal::new(5718, 2), orderbridge::model::Currency::USD);
    let boxed = client.create_order(&two_lines).await.unwrap();
    let confirm: orderbridge_sandbox::acumatica::ConfirmShipment = serde_json::from_value(serde_json::json!({
        "OrderType": "SO", "OrderNbr": boxed.order_nbr.as_str(),
        "Packages": [{"TrackingNbr": "1ZBOXONE", "Contents": [{"LineNbr": 1, "Qty": 1}, {"LineNbr": 2, "Qty": 1}]},
                     {"TrackingNbr": "1ZBOXTWO", "Contents": [{"LineNbr": 1, "Qty": 1}]}]
    }))
    .unwrap();
    let shipped = sb.state().acumatica_confirm_shipment(&confirm).unwrap();
    let nbr = shipped["ShipmentNbr"]["value"].as_str().unwrap().to_owned();
    let found = ErpShipments::shipment(&client, &nbr).await.unwrap();
    assert_eq!(found.len(), 1);
    let (erp, shipment) = &found[0];
    assert_eq!(erp, &boxed);
    let boxes: Vec<(String, Vec<BoxItem>)> = shipment
        .packages
        .iter()
        .map(|p| {
            let items = p.items.iter().map(|i| (i.item_id.clone(), i.erp_line_nbr, i.quantity)).collect();
            (p.tracking.number.to_string(), items)
        })
        .collect();
    let one = rust_decimal::Decimal::ONE;
    assert_eq!(
        boxes,
        vec![
            (
                "1ZBOXONE".to_owned(),
                vec![(product.erp_inventory_id.clone(), Some(1), one), (other.erp_inventory_id.clone(), Some(2), one)]
            ),
            ("1ZBOXTWO".to_owned(), vec![(product.erp_inventory_id.clone(), Some(1), one)]),
        ]
    );
    // The order's state: status, lines with the channel line ids kept at import, shipments, note.
    let state = ErpShipments::order_state(&client, &boxed).await.unwrap();
    assert_eq!(state.status, "Completed");
    let lines: Vec<(i64, &str, Option<&str>)> =
        state.lines.iter().map(|l| (l.line_nbr, l.item_id.as_str(), l.channel_line_id.as_deref())).collect();
    assert_eq!(
        lines,
        vec![(1, product.erp_inventory_id.as_str(), Some("9001")), (2, other.erp_inventory_id.as_str(), Some("9002"))]
    );
    assert_eq!(state.shipment_nbrs, vec![nbr]);
    assert_eq!(state.note.as_deref(), Some("Leave at door"));
    let untouched = ErpShipments::order_state(&client, &created).await.unwrap();
    assert_eq!((untouched.status.as_str(), untouched.shipment_nbrs.len()), ("Open", 0));
    for unknown in ["999999", "NOPE"] {
        assert!(ErpShipments::shipment(&client, unknown).await.unwrap().is_empty(), "{unknown} is not a shipment");
    }

    client.logout().await;
    let host = sb.urls().acumatica.rsplit_once('/').unwrap().0.to_owned();
    let state: serde_json::Value = reqwest::get(format!("{host}/_sandbox/state")).await.unwrap().json().await.unwrap();
    assert_eq!(state["sessions"], 0, "the API-user slot is freed");
    // The next call signs in again by itself.
    assert!(client.find_by_import_id("SC-424242").await.unwrap().is_some());
    client.logout().await;
    sb.shutdown().await;
}

/// (item id, ERP line, quantity) of one item in a box.
type BoxItem = (String, Option<i64>, rust_decimal::Decimal);

fn contact() -> orderbridge::mapping::DraftContact {
    orderbridge::mapping::DraftContact {
        attention: "Ann Lee".into(),
        business_name: None,
        email: Some("ann.lee@example.com".into()),
        phone: None,
        address: orderbridge::model::Address {
            name: "Ann Lee".into(),
            line1: "1 Main St".into(),
            city: "Austin".into(),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: "US".into(),
            ..Default::default()
        },
    }
}

/// A minimal canonical order to create a customer from (the model's own fixtures are crate-private).
fn orderbridge_test_order() -> orderbridge::model::Order {
    use orderbridge::model::*;
    let usd = |d| Money::new(d, Currency::USD);
    let zero = rust_decimal::Decimal::ZERO;
    Order {
        connection: ConnectionId::parse("sc-main").unwrap(),
        channel_order_id: orderbridge::connectors::sellercloud::SellercloudOrderId::new(424242)
            .unwrap()
            .channel_order_id(),
        display_number: "112-424242".into(),
        order_source: OrderSource("Amazon".into()),
        channel_status: "InProcess".into(),
        placed_at: chrono::Utc::now(),
        requested_delivery: None,
        promised_ship_by: None,
        currency: Currency::USD,
        customer: Customer {
            channel_customer_id: None,
            email: Some("ann.lee.sandbox@example.com".into()),
            name: "Ann Lee".into(),
            company: None,
            phone: Some("512-555-0100".into()),
        },
        bill_to: contact().address,
        ship_to: contact().address,
        lines: vec![],
        payments: vec![],
        shipping: ShippingCharge { method: "Ground".into(), carrier: None, amount: usd(zero) },
        order_discounts: vec![],
        taxes: vec![],
        totals: Totals {
            subtotal: usd(zero),
            discount: usd(zero),
            shipping: usd(zero),
            tax: usd(zero),
            grand_total: usd(zero),
        },
        notes: Notes::default(),
        tags: Default::default(),
    }
}

// ---------------------------------------------------------------------------------------------
// StatusPublisher: shipments, statuses and notes back to the channels.
// ---------------------------------------------------------------------------------------------

fn package(id: &str, tracking: &str, carrier: &str, items: &[(&str, i64)]) -> orderbridge::model::Package {
    use orderbridge::model::*;
    Package {
        package_id: id.into(),
        tracking: Tracking {
            number: TrackingNumber::parse(tracking).unwrap(),
            carrier: carrier.into(),
            service: Some("Ground".into()),
            url: None,
        },
        items: items
            .iter()
            .map(|(sku, q)| PackageItem {
                item_id: (*sku).into(),
                erp_line_nbr: None,
                channel_line_id: None,
                quantity: rust_decimal::Decimal::from(*q),
            })
            .collect(),
        weight: None,
    }
}

fn shipment(nbr: &str, packages: Vec<orderbridge::model::Package>) -> orderbridge::model::Shipment {
    use orderbridge::model::*;
    Shipment {
        source: ShipmentSource::new(orderbridge::model::SystemCode::parse("AC").unwrap(), nbr),
        ship_date: chrono::Utc::now().with_timezone(&chrono_tz::America::New_York).date_naive(),
        confirmed_at: Some(chrono::Utc::now() - chrono::Duration::minutes(30)),
        packages,
        completes_order: true,
    }
}

fn bigcommerce(sb: &Sandbox) -> BigCommerceClient {
    bigcommerce_with(sb, |_| {})
}

/// The sandbox store's client with quick retries and `tweak` applied to its settings.
fn bigcommerce_with(sb: &Sandbox, tweak: impl FnOnce(&mut BigCommerceConfig)) -> BigCommerceClient {
    let token = sb.state().config().credentials.bigcommerce_access_token.clone();
    let mut config = BigCommerceConfig::new(sb.urls().bigcommerce.clone(), token.into());
    config.retry.initial_delay_ms = 10;
    tweak(&mut config);
    BigCommerceClient::new(ConnectionId::parse("bc-store").unwrap(), config).unwrap()
}

/// Tracking numbers and `(order_product_id, quantity)` of every shipment on a sandbox order.
fn bc_shipments(sb: &Sandbox, id: i64) -> Vec<(String, Vec<(i64, i64)>)> {
    sb.state().bigcommerce().orders[&id]
        .shipments
        .iter()
        .map(|s| {
            let items = s["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (i["order_product_id"].as_i64().unwrap(), i["quantity"].as_i64().unwrap()))
                .collect();
            (s["tracking_number"].as_str().unwrap().to_owned(), items)
        })
        .collect()
}

#[tokio::test]
async fn bigcommerce_gets_one_shipment_per_package_and_a_repeated_push_creates_nothing() {
    use orderbridge::ports::StatusPublisher;
    let sb = sandbox().await;
    let client = bigcommerce(&sb);
    let (id, products) = {
        let st = sb.state().bigcommerce();
        let o = st
            .orders
            .values()
            .find(|o| o.status_id == 11 && o.products.len() >= 2 && o.products.iter().all(|p| p.quantity_shipped == 0))
            .expect("an unshipped order with two products");
        (o.id, o.products.iter().map(|p| (p.id, p.sku.clone(), p.quantity)).collect::<Vec<_>>())
    };
    let order = orderbridge::connectors::bigcommerce::BigCommerceOrderId::new(id).unwrap().channel_order_id();
    let (a, b) = (&products[0], &products[1]);
    let ship = shipment(
        "000901",
        vec![
            package("1", "1ZBCPKG0000000001", "UPS", &[(&a.1, a.2)]),
            package("2", "9400BCPKG0002", "USPS", &[(&b.1, b.2)]),
        ],
    );
    // The first post commits and its response is lost: the push fails without a blind retry...
    sb.state().push_fault(Vendor::Bigcommerce, ScriptedFault::new(FaultKind::CommitThenDrop).on("POST", "/shipments"));
    assert!(client.push_shipment(&order, &ship).await.is_err());
    // ...and the caller's retry posts only what is missing.
    client.push_shipment(&order, &ship).await.unwrap();
    let expected =
        vec![("1ZBCPKG0000000001".to_owned(), vec![(a.0, a.2)]), ("9400BCPKG0002".to_owned(), vec![(b.0, b.2)])];
    assert_eq!(bc_shipments(&sb, id), expected);
    {
        let st = sb.state().bigcommerce();
        let providers: Vec<&str> =
            st.orders[&id].shipments.iter().map(|s| s["shipping_provider"].as_str().unwrap()).collect();
        assert_eq!(providers, ["ups", "usps"]);
    }

    // The same shipment again: nothing new, each tracking number written once.
    client.push_shipment(&order, &ship).await.unwrap();
    assert_eq!(bc_shipments(&sb, id), expected);
    for t in ["1ZBCPKG0000000001", "9400BCPKG0002"] {
        assert_eq!(sb.state().write_count(Vendor::Bigcommerce, "tracking_number", t), 1, "{t}");
    }

    // An unknown SKU is refused by name before anything is posted.
    let bad = shipment("000902", vec![package("1", "1ZBCPKG0000000003", "UPS", &[("NO-SUCH-SKU", 1)])]);
    let err = client.push_shipment(&order, &bad).await.unwrap_err();
    assert!(err.to_string().contains("NO-SUCH-SKU"), "{err}");
    assert_eq!(bc_shipments(&sb, id).len(), 2);

    // Status by numeric id; anything else is refused naming the value.
    client.push_status(&order, "10").await.unwrap();
    assert_eq!(sb.state().bigcommerce().orders[&id].status_id, 10);
    let err = client.push_status(&order, "Shipped").await.unwrap_err();
    assert!(err.to_string().contains("\"Shipped\""), "{err}");

    // Notes are appended to staff_notes, once.
    client.add_note(&order, "Shipped from the ERP.").await.unwrap();
    client.add_note(&order, "Shipped from the ERP.").await.unwrap();
    let notes = sb.state().bigcommerce().orders[&id].staff_notes.clone();
    assert_eq!(notes.matches("Shipped from the ERP.").count(), 1, "{notes}");
    sb.shutdown().await;
}

#[tokio::test]
async fn sellercloud_order_is_marked_shipped_with_the_first_tracking_and_a_note_lists_them_all() {
    use orderbridge::ports::StatusPublisher;
    let sb = sandbox().await;
    let c = &sb.state().config().credentials;
    let mut config = SellercloudConfig::new(
        sb.urls().sellercloud.clone(),
        &c.sellercloud_username,
        c.sellercloud_password.clone().into(),
    );
    config.retry.initial_delay_ms = 10;
    let client = SellercloudClient::new(ConnectionId::parse("sc-main").unwrap(), config).unwrap();
    let id = sb
        .state()
        .sellercloud()
        .orders
        .values()
        .find(|o| o.status_code == 2 && o.shipping_status != 3)
        .map(|o| o.id)
        .expect("an unshipped order");
    let order = orderbridge::connectors::sellercloud::SellercloudOrderId::new(id).unwrap().channel_order_id();
    let ship = shipment(
        "000903",
        vec![package("1", "1ZSCPKG0000000001", "UPS", &[]), package("2", "1ZSCPKG0000000002", "UPS", &[])],
    );
    client.push_shipment(&order, &ship).await.unwrap();
    client.push_shipment(&order, &ship).await.unwrap();
    {
        let st = sb.state().sellercloud();
        let o = &st.orders[&id];
        assert_eq!(o.shipping_status, 3, "fully shipped");
        assert_eq!(o.packages[0].tracking_number, "1ZSCPKG0000000001");
        assert_eq!((o.carrier.as_str(), o.service.as_str()), ("UPS", "Ground"));
        let notes: Vec<&str> =
            st.notes.get(&id).map(|n| n.iter().map(|n| n.message.as_str()).collect()).unwrap_or_default();
        let tracking_notes: Vec<&&str> = notes.iter().filter(|n| n.contains("1ZSCPKG0000000001")).collect();
        assert_eq!(tracking_notes.len(), 1, "one note, not repeated: {notes:?}");
        assert!(tracking_notes[0].contains("1ZSCPKG0000000002"));
    }
    assert_eq!(sb.state().write_count(Vendor::Sellercloud, "tracking_number", "1ZSCPKG0000000001"), 1);

    // A later shipment does not overwrite the tracking; its numbers go to a note.
    let later = shipment("000904", vec![package("1", "1ZSCPKG0000000009", "FedEx", &[])]);
    client.push_shipment(&order, &later).await.unwrap();
    {
        let st = sb.state().sellercloud();
        assert_eq!(st.orders[&id].packages[0].tracking_number, "1ZSCPKG0000000001");
        assert!(st.notes[&id].iter().any(|n| n.message.contains("1ZSCPKG0000000009")));
    }

    // Status by name or code; anything else is refused naming the value.
    client.push_status(&order, "OnHold").await.unwrap();
    assert_eq!(sb.state().sellercloud().orders[&id].status_code, 200);
    client.push_status(&order, "3").await.unwrap();
    assert_eq!(sb.state().sellercloud().orders[&id].status_code, 3);
    let err = client.push_status(&order, "Shipped").await.unwrap_err();
    assert!(err.to_string().contains("\"Shipped\""), "{err}");

    client.add_note(&order, "Delivered per carrier.").await.unwrap();
    {
        let st = sb.state().sellercloud();
        let note = st.notes[&id].iter().find(|n| n.message == "Delivered per carrier.").expect("note added");
        assert_eq!(note.category, 2, "an ERP note is a Customer Service Note");
    }
    sb.shutdown().await;
}

/// An Acumatica whose sign-in works but whose every session is ended before it is used (another
/// invocation signing out, the licence's API-user limit): the client signs in again once, then
/// reports a retryable error, never the order's permanent failure.
#[tokio::test]
async fn acumatica_session_ended_again_after_signing_in_is_retryable() {
    use axum::http::{header::SET_COOKIE, StatusCode};
    use axum::response::IntoResponse;
    use orderbridge::connectors::ConnectorError;
    use orderbridge::error::{Classify, ErrorClass};
    use orderbridge::ports::OrderSink;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    let logins = Arc::new(AtomicU32::new(0));
    let counted = logins.clone();
    let app = axum::Router::new()
        .route(
            "/entity/auth/login",
            axum::routing::post(move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move { ([(SET_COOKIE, format!("ASP.NET_SessionId=s{n}; path=/"))], StatusCode::NO_CONTENT) }
            }),
        )
        .fallback(|| async { (StatusCode::UNAUTHORIZED, "{\"message\":\"You are not logged in.\"}").into_response() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut config = AcumaticaConfig::new(base, "admin", "secret".to_owned().into(), "Company");
    config.retry.initial_delay_ms = 10;
    let client = AcumaticaClient::new(config).expect("valid config");
    let err = client.find_by_import_id("SC-1").await.unwrap_err();
    assert!(matches!(err, ConnectorError::SessionLost { .. }), "{err:?}");
    assert!(matches!(err.class(), ErrorClass::Retryable { .. }), "{err:?}");
    assert_eq!(logins.load(Ordering::SeqCst), 2, "signed in, then once again after the first 401");
}

/// Every API user of the Acumatica licence is signed in (another integration, or sessions a lost
/// sign-in reply left behind until their idle timeout): the client reports a retryable error in
/// Acumatica's own words, so the operator knows which limit to look at, and works again as soon
/// as a slot is free.
#[tokio::test]
async fn acumatica_licence_full_of_api_users_is_retryable_and_says_so() {
    use orderbridge::error::{Classify, ErrorClass};

    let mut config =
        SandboxConfig { seed: 11, sellercloud_orders: 1, bigcommerce_orders: 1, ..SandboxConfig::default() };
    config.limits.acumatica_max_api_users = 1;
    let sb = start(config).await.expect("sandbox starts");
    let other_integration = acumatica(&sb);
    assert_eq!(other_integration.find_by_import_id("SC-1").await.unwrap(), None);

    let ours = acumatica(&sb);
    let err = ours.find_by_import_id("SC-1").await.unwrap_err();
    assert!(matches!(err.class(), ErrorClass::Retryable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("API Login Limit"), "the vendor's reason must reach the log: {text}");
    assert!(text.contains("login"), "names the failing call: {text}");

    other_integration.logout().await;
    assert_eq!(ours.find_by_import_id("SC-1").await.unwrap(), None, "signs in once a slot is free");
    ours.logout().await;
    sb.shutdown().await;
}

/// Shipments to export read back whole: an Open shipment with its line, package and ship-to,
/// listed by status and modification time (an On Hold one only when asked for), read one by one,
/// a blanked address showing what a label lacks, and a note written on the shipment.
#[tokio::test]
async fn acumatica_reads_open_shipments_for_a_shipping_station_and_notes_what_is_missing() {
    use orderbridge::model::{missing_address_fields, OutboundState};
    use orderbridge::ports::OutboundShipments;
    use orderbridge_sandbox::acumatica::{CreateShipment, EnterLine, EnterOrder};
    let sb = sandbox().await;
    let client = acumatica(&sb);
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let mut shipments = Vec::new();
    for (hold, blank) in [(false, vec![]), (true, vec![]), (false, vec!["City".to_owned(), "PostalCode".to_owned()])] {
        let order = EnterOrder {
            customer_id: "AACUSTOMER".into(),
            ship_via: Some("UPSGROUND".into()),
            lines: vec![EnterLine::new("WATER2809", rust_decimal::Decimal::from(3))],
            ..EnterOrder::default()
        };
        let so = sb.state().acumatica_enter_order(&order).unwrap();
        let nbr = so["OrderNbr"]["value"].as_str().unwrap().to_owned();
        let request = CreateShipment { hold, blank, ..CreateShipment::for_order(&nbr) };
        let shipment = sb.state().acumatica_create_shipment(&request).unwrap();
        shipments.push(shipment["ShipmentNbr"]["value"].as_str().unwrap().to_owned());
    }
    let open = client.outbound_since(since, &["Open".to_owned()]).await.unwrap();
    let nbrs: Vec<&str> = open.iter().map(|s| s.source.id.as_str()).collect();
    assert_eq!(nbrs, vec![shipments[0].as_str(), shipments[2].as_str()], "On Hold left out");
    let first = &open[0];
    assert_eq!(first.state, OutboundState::Open);
    assert_eq!(first.lines.len(), 1);
    assert_eq!(first.lines[0].sku, "WATER2809");
    assert_eq!(first.lines[0].quantity, rust_decimal::Decimal::from(3));
    assert!(first.lines[0].unit_price.is_some_and(|p| p > rust_decimal::Decimal::ZERO), "the order line's price");
    assert!(first.bill_to.as_ref().is_some_and(|b| !b.name.is_empty() || b.company.is_some()), "{:?}", first.bill_to);
    assert_eq!(first.packages.len(), 1);
    assert!(first.packages[0].tracking.is_none());
    assert_eq!(first.orders.len(), 1);
    assert!(first.shipment_date.is_some());
    assert!(missing_address_fields(&first.ship_to).is_empty(), "{:?}", first.ship_to);
    assert_eq!(missing_address_fields(&open[1].ship_to), vec!["city", "postal code"]);
    let both = client.outbound_since(since, &["Open".to_owned(), "On Hold".to_owned()]).await.unwrap();
    assert_eq!(both.len(), 3);
    let held = client.outbound(&shipments[1]).await.unwrap().unwrap();
    assert_eq!(held.state, OutboundState::OnHold);
    assert!(client.outbound("999999").await.unwrap().is_none());

    client.note_on_shipment(&shipments[2], "Orderbridge: the ship-to address lacks city, postal code").await.unwrap();
    let again = client.outbound(&shipments[2]).await.unwrap().unwrap();
    assert_eq!(again.note.as_deref(), Some("Orderbridge: the ship-to address lacks city, postal code"));
    assert!(again.last_modified >= first.last_modified);
    let err = client.note_on_shipment("999999", "x").await.unwrap_err();
    assert!(err.to_string().contains("999999"), "{err}");
}

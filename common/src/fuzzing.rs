//! Fuzzing entry points: one per parser of outside input, each fed arbitrary bytes by a libFuzzer
//! target in `tests/fuzz` (`make fuzz`). Not part of the API: the targets live outside the
//! workspace (they need nightly), so the vendors' private decoding is reached through here, and
//! `tests::every_seed_runs_clean` replays the seed corpora on stable.
//!
//! The property is "no panic, bounded memory, no hang"; where it is cheap, an entry also asserts
//! an invariant of what it parsed (a queue message reads back equal, a split event stays within
//! the SQS limit, a quantity never goes below zero).
//!
//! Input framing, so seeds stay readable:
//! - webhooks: an HTTP-like request: first line the query string, then `name: value` header
//!   lines, a blank line, then the body;
//! - vendor wire: one or more JSON documents separated by a line `---` (a response body, then the
//!   other bodies or canonical inputs the same mapper call takes, per vendor).

use std::sync::OnceLock;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use secrecy::SecretString;
use sha2::Sha256;

use crate::connections::Connections;
use crate::connectors::acumatica::webhook::{split_event, Changed, MAX_KEYS_PER_EVENT};
use crate::connectors::acumatica::AcumaticaPushVerifier;
use crate::connectors::registry::{legacy_webhook_event, webhook_routes};
use crate::connectors::shipstation::ShipStationVerifier;
use crate::flows::{OrderMessage, PushShipment, ShipmentMessage, ShipmentOrigin};
use crate::mapping::{build_draft, Mapping};
use crate::model::{
    Address, ChannelOrderId, ConnectionId, Currency, Customer, ErpCustomerId, ErpItemId, ItemIdentifiers, Line, Money,
    Notes, Order, OrderSource, Payment, ShippingCharge, SystemCode, Tag, Totals,
};
use crate::ports::{Envelope, InboundEvent, WebhookEvent, WebhookRequest, WebhookVerifier};
use crate::webhooks::{StandardWebhooksVerifier, MAX_EVENT_MESSAGE};

/// A target's entry point: any bytes, no panic.
pub type Entry = fn(&[u8]);

/// Every target: its name (the file under `tests/fuzz/fuzz_targets/` and the seed folder under
/// `tests/fuzz/corpus/`) and its entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("webhook_shipstation", webhook_shipstation),
    ("webhook_acumatica", webhook_acumatica),
    ("webhook_generic", webhook_generic),
    ("webhook_bigcommerce", webhook_bigcommerce),
    ("wire_sellercloud", wire_sellercloud),
    ("wire_bigcommerce", wire_bigcommerce),
    ("wire_magento", wire_magento),
    ("wire_acumatica", wire_acumatica),
    ("wire_shipstation", wire_shipstation),
    ("sqs_envelope", sqs_envelope),
    ("connections_file", connections_file),
    ("mapping_file", mapping_file),
];

/// The instant every delivery is received at (seeds carry timestamps near it).
pub const RECEIVED_AT: i64 = 1_714_557_600;

/// The secrets the verifiers are built with; seeds carry them so the body parsers are reached.
pub const SHIPSTATION_TOKEN: &str = "tok";
pub const ACUMATICA_HEADER: &str = "X-Orderbridge-Key";
pub const ACUMATICA_SECRET: &str = "k3y";
pub const GENERIC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const BIGCOMMERCE_HOOK_SECRET: &str = "bc-hook-secret-0123456789";

fn received_at() -> DateTime<Utc> {
    Utc.timestamp_opt(RECEIVED_AT, 0).single().unwrap_or_default()
}

/// A webhook delivery as the framing above writes it.
struct Delivery {
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Delivery {
    fn read(data: &[u8]) -> Self {
        let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (&data[..0], data),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let query = lines.next().unwrap_or_default().to_owned();
        let headers =
            lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
        Self { query, headers, body: body.to_vec() }
    }

    fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    fn request(&self, path: &'static str) -> WebhookRequest<'_> {
        WebhookRequest {
            path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            received_at: received_at(),
        }
    }
}

/// What intake enqueues for an accepted delivery, status-push reads back the same.
fn accepted(events: Vec<WebhookEvent>) {
    for event in events {
        assert!(!event.dedupe_key.is_empty(), "an event without a dedupe key");
        queue_round_trip(ShipmentMessage::WebhookEventV2(event));
    }
}

/// A shipments-queue message written as the producers write it reads back equal.
fn queue_round_trip(message: ShipmentMessage) {
    let sent = Envelope::correlated(message, received_at(), "c".into());
    let out = sent.to_outgoing("0").unwrap_or_else(|e| panic!("a queue message that cannot be written: {e}"));
    let back = Envelope::<ShipmentMessage>::parse("m", Some(&out.body))
        .unwrap_or_else(|e| panic!("a queue message its consumer cannot read: {e}\n{}", out.body));
    assert_eq!(back, sent, "a queue message that reads back different:\n{}", out.body);
}

/// ShipStation's `SHIP_NOTIFY`: the URL token, then `{resource_url, resource_type}`.
pub fn webhook_shipstation(data: &[u8]) {
    static VERIFIER: OnceLock<ShipStationVerifier> = OnceLock::new();
    let verifier =
        VERIFIER.get_or_init(|| ShipStationVerifier::new(vec![SecretString::from(SHIPSTATION_TOKEN.to_owned())], None));
    let delivery = Delivery::read(data);
    if let Ok(events) = verifier.verify(&delivery.request(crate::connectors::registry::SHIPSTATION_ROUTE)) {
        accepted(events);
    }
}

/// Acumatica's push notification: the configured header, then `{Inserted, Deleted, Query, Id, ...}`;
/// an accepted push is also split again at small limits to check the parts.
pub fn webhook_acumatica(data: &[u8]) {
    static VERIFIER: OnceLock<AcumaticaPushVerifier> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(|| {
        AcumaticaPushVerifier::new(ACUMATICA_HEADER, vec![SecretString::from(ACUMATICA_SECRET.to_owned())])
    });
    let delivery = Delivery::read(data);
    let Ok(events) = verifier.verify(&delivery.request(crate::connectors::registry::ACUMATICA_ROUTE)) else {
        return;
    };
    let (mut shipments, mut orders, mut statuses) = (Vec::new(), Vec::new(), Vec::new());
    for event in &events {
        let size = serde_json::to_vec(event).map_or(usize::MAX, |b| b.len());
        assert!(size <= MAX_EVENT_MESSAGE, "an event of {size} bytes does not fit a queue message");
        let (s, o) = match &event.event {
            InboundEvent::ErpChanged { shipments, orders, statuses: reported } => {
                assert!(
                    reported.iter().all(|r| orders.contains(&r.erp)),
                    "a status for an order the event does not name"
                );
                statuses.extend(reported.iter().cloned());
                (shipments, orders)
            }
            // An availability query's rows: items named once each, a few hundred per event.
            InboundEvent::StockChanged { items } => {
                let distinct: std::collections::BTreeSet<&String> = items.iter().collect();
                assert!(!items.is_empty() && distinct.len() == items.len() && items.len() <= 500, "{event:?}");
                continue;
            }
            other => panic!("an Acumatica push is an ErpChanged or StockChanged event: {other:?}"),
        };
        assert!(s.len() + o.len() <= MAX_KEYS_PER_EVENT, "an event naming {} keys", s.len() + o.len());
        shipments.extend(s.iter().cloned());
        orders.extend(o.iter().cloned());
    }
    let key = events.first().map(|e| e.dedupe_key.split('#').next().unwrap_or_default().to_owned());
    let changed = Changed { shipments: shipments.clone(), orders: orders.clone(), statuses: statuses.clone() };
    let parts = split_event(&key.unwrap_or_default(), changed, 160, 3);
    let (mut s2, mut o2, mut r2) = (Vec::new(), Vec::new(), Vec::new());
    for part in &parts {
        let InboundEvent::ErpChanged { shipments: s, orders: o, statuses: r } = &part.event else { unreachable!() };
        r2.extend(r.iter().cloned());
        let size = serde_json::to_vec(part).map_or(usize::MAX, |b| b.len());
        assert!(s.len() + o.len() <= 3, "a part naming {} keys", s.len() + o.len());
        assert!(size <= 160 || s.len() + o.len() <= 1, "a part of {size} bytes with several keys");
        s2.extend(s.iter().cloned());
        o2.extend(o.iter().cloned());
    }
    assert_eq!((s2, o2), (shipments, orders), "the parts name every key once, in order");
    assert_eq!(r2, statuses, "the parts carry every reported status once, in order");
    accepted(events);
}

/// A BigCommerce order webhook on `/webhooks/orders/bc-store`: the hook's secret header, then
/// `{scope, producer, hash, data}` of store `abc123`. An accepted delivery is at most one event,
/// an announced order of this connection or a delivery report, and travels the queue intact.
pub fn webhook_bigcommerce(data: &[u8]) {
    static VERIFIER: OnceLock<crate::connectors::bigcommerce::BigCommerceOrderVerifier> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(|| {
        let mut config = crate::connectors::bigcommerce::BigCommerceConfig::new(
            "https://api.bigcommerce.com/stores/abc123",
            SecretString::from("t".to_owned()),
        );
        config.webhook_secret = vec![SecretString::from(BIGCOMMERCE_HOOK_SECRET.to_owned())];
        let connection = ConnectionId::parse("bc-store").unwrap_or_else(|_| unreachable!("a valid id"));
        crate::connectors::bigcommerce::BigCommerceOrderVerifier::new(connection, &config)
    });
    let delivery = Delivery::read(data);
    let Ok(events) = verifier.verify(&delivery.request("/webhooks/orders/bc-store")) else { return };
    assert!(events.len() <= 1, "one delivery, {} events", events.len());
    for event in &events {
        match &event.event {
            InboundEvent::OrderAnnounced { connection, order } => {
                assert_eq!(connection.as_str(), "bc-store");
                assert_eq!(order.channel_code().as_str(), "BC");
            }
            InboundEvent::HookTrouble { message, .. } => assert!(message.chars().count() <= 500),
            other => panic!("a BigCommerce order webhook is an announcement or a delivery report: {other:?}"),
        }
    }
    accepted(events);
}

/// A Standard Webhooks delivery on the generic route. Without a `webhook-signature` header the
/// harness signs the delivery with the route's secret (and adds a current `webhook-timestamp`
/// when none is given), so the body parser is reached; with one, the signature check is fuzzed.
pub fn webhook_generic(data: &[u8]) {
    static VERIFIER: OnceLock<StandardWebhooksVerifier> = OnceLock::new();
    let verifier = VERIFIER
        .get_or_init(|| StandardWebhooksVerifier::new("generic", &[SecretString::from(GENERIC_SECRET.to_owned())]));
    let mut delivery = Delivery::read(data);
    if !delivery.has("webhook-signature") {
        if !delivery.has("webhook-timestamp") {
            delivery.headers.push(("webhook-timestamp".into(), RECEIVED_AT.to_string()));
        }
        let header =
            |name: &str| delivery.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let (id, timestamp) = (header("webhook-id").unwrap_or_default(), header("webhook-timestamp"));
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b64.decode(GENERIC_SECRET.trim_start_matches("whsec_")).unwrap_or_default();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(format!("{id}.{}.", timestamp.unwrap_or_default().trim()).as_bytes());
        mac.update(&delivery.body);
        let signature = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
        delivery.headers.push(("webhook-signature".into(), signature));
    }
    if let Ok(events) = verifier.verify(&delivery.request(crate::connectors::registry::GENERIC_ROUTE)) {
        accepted(events);
    }
}

/// Splits a wire input into its JSON documents (at most four).
fn documents(data: &[u8]) -> Vec<&[u8]> {
    let mut docs = Vec::new();
    let mut rest = data;
    while docs.len() < 3 {
        match rest.windows(5).position(|w| w == b"\n---\n") {
            Some(at) => {
                docs.push(&rest[..at]);
                rest = &rest[at + 5..];
            }
            None => break,
        }
    }
    docs.push(rest);
    docs
}

/// Sellercloud: an order, a listing page, notes, a token or an error body (then the next page).
pub fn wire_sellercloud(data: &[u8]) {
    crate::connectors::sellercloud::fuzzing::wire(&documents(data));
}

/// BigCommerce: an order, its products, its shipping addresses, a package's items.
pub fn wire_bigcommerce(data: &[u8]) {
    crate::connectors::bigcommerce::fuzzing::wire(&documents(data));
}

/// Magento: an order (or a search result, an error), then a package's items to ship from it.
pub fn wire_magento(data: &[u8]) {
    crate::connectors::magento::fuzzing::wire(&documents(data));
}

/// Acumatica: a shipment, sales order, order state, invoice, lookup or error body. A shipment the
/// catch-up poll maps goes on the queue and must read back the same.
pub fn wire_acumatica(data: &[u8]) {
    for (order, shipment) in crate::connectors::acumatica::fuzzing::wire(&documents(data)) {
        let origin = ShipmentOrigin::Erp { order };
        queue_round_trip(ShipmentMessage::PushShipmentV1(PushShipment { origin, shipment }));
    }
}

/// ShipStation: a shipments page or an error body; mapped labels go on the queue as the poll's do.
pub fn wire_shipstation(data: &[u8]) {
    for (order, shipment) in crate::connectors::shipstation::fuzzing::wire(&documents(data)) {
        let origin = ShipmentOrigin::ShippingTool { order };
        queue_round_trip(ShipmentMessage::PushShipmentV1(PushShipment { origin, shipment }));
    }
}

/// An SQS message body of either queue (a `webhook_event.v1` also through its sender's parser),
/// and the Lambda trigger payload; whatever parses is written again and must read back equal.
pub fn sqs_envelope(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else { return };
    if let Ok(envelope) = Envelope::<OrderMessage>::parse("m", Some(body)) {
        let out = envelope.to_outgoing("0").unwrap_or_else(|e| panic!("cannot write back: {e}"));
        let back = Envelope::<OrderMessage>::parse("m", Some(&out.body))
            .unwrap_or_else(|e| panic!("an orders message its consumer cannot read: {e}\n{}", out.body));
        assert_eq!(back, envelope, "an orders message that reads back different:\n{}", out.body);
    }
    if let Ok(envelope) = Envelope::<ShipmentMessage>::parse("m", Some(body)) {
        if let ShipmentMessage::WebhookEventV1(legacy) = &envelope.body {
            if let Ok(event) = legacy_webhook_event(&legacy.event, &legacy.payload) {
                let dedupe_key = legacy.dedupe_key.clone();
                queue_round_trip(ShipmentMessage::WebhookEventV2(WebhookEvent { dedupe_key, event }));
            }
        }
        queue_round_trip(envelope.body);
    }
    if let Ok(payload) = serde_json::from_str::<serde_json::Value>(body) {
        let _ = crate::handlers::classify(payload);
    }
}

/// The connections file (`ORDERBRIDGE_CONNECTIONS`) with its `${VAR}` references, then the
/// webhook routes it configures.
pub fn connections_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lookup = |var: &str| (var.len() % 2 == 0).then(|| format!("value-of-{var}"));
    if let Ok(connections) = Connections::parse("fuzz.toml", &text, lookup) {
        let _ = webhook_routes(&connections);
    }
}

/// A mapping file, then the draft it makes of a sample order (its templates evaluated).
pub fn mapping_file(data: &[u8]) {
    static ORDER: OnceLock<Order> = OnceLock::new();
    let text = String::from_utf8_lossy(data);
    let Ok(mapping) = Mapping::parse("mappings/fuzz.toml", 1, &text) else { return };
    let order = ORDER.get_or_init(sample_order);
    let customer = ErpCustomerId::parse("SC77").unwrap_or_else(|_| unreachable!("a valid customer id"));
    let items = order.lines.iter().map(|_| ErpItemId::parse("RED-M")).collect::<Result<Vec<_>, _>>();
    let _ = build_draft(&mapping, order, customer, items.unwrap_or_default());
}

/// A consistent two-line order with a discount, a payment and a tag.
fn sample_order() -> Order {
    let usd = |cents: i64| Money::new(Decimal::new(cents, 2), Currency::USD);
    let line = |sku: &str, qty: i64, price: i64, discount: i64, tax: i64| Line {
        channel_line_id: format!("line-{sku}"),
        identifiers: ItemIdentifiers { sku: Some(sku.into()), ..Default::default() },
        description: format!("Item {sku}"),
        quantity: Decimal::from(qty),
        unit_price: usd(price),
        discount: usd(discount),
        tax: usd(tax),
        note: None,
    };
    let address = Address {
        name: "Ann Lee".into(),
        line1: "1 Main St".into(),
        city: "Austin".into(),
        country: "US".into(),
        ..Default::default()
    };
    let ids = || -> Option<(ConnectionId, ChannelOrderId)> {
        let channel = SystemCode::parse("SC").ok()?;
        Some((ConnectionId::parse("sc-main").ok()?, ChannelOrderId::new(channel, "5512345").ok()?))
    };
    let (connection, channel_order_id) = ids().unwrap_or_else(|| unreachable!("valid ids"));
    Order {
        connection,
        channel_order_id,
        display_number: "112-0000000-0000000".into(),
        order_source: OrderSource("Amazon".into()),
        channel_status: "InProcess".into(),
        placed_at: received_at(),
        requested_delivery: None,
        promised_ship_by: None,
        currency: Currency::USD,
        customer: Customer {
            channel_customer_id: Some("77".into()),
            email: Some("buyer@example.com".into()),
            name: "Ann Lee".into(),
            company: None,
            phone: None,
        },
        bill_to: address.clone(),
        ship_to: address,
        lines: vec![line("SKU-RED-M", 2, 1999, 0, 320), line("SKU-BLUE-L", 1, 1000, 150, 0)],
        payments: vec![Payment { method: "Amazon Pay".into(), amount: usd(5668), reference: None, paid_at: None }],
        shipping: ShippingCharge { method: "Standard".into(), carrier: None, amount: usd(500) },
        order_discounts: vec![],
        taxes: vec![],
        totals: Totals {
            subtotal: usd(4998),
            discount: usd(150),
            shipping: usd(500),
            tax: usd(320),
            grand_total: usd(5668),
        },
        notes: Notes::default(),
        tags: [Tag::Prime].into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn fuzz_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz")
    }

    #[test]
    fn the_sample_order_adds_up() {
        sample_order().check_totals().unwrap();
    }

    /// Every target has its libFuzzer target and seeds, and every seed (and every regression input
    /// kept beside them) runs through its entry point without a panic, on stable.
    #[test]
    fn every_seed_runs_clean() {
        for (name, entry) in TARGETS {
            let target = fuzz_dir().join(format!("fuzz_targets/{name}.rs"));
            assert!(target.is_file(), "{} is missing", target.display());
            let seeds = fuzz_dir().join(format!("corpus/{name}"));
            let files: Vec<_> = std::fs::read_dir(&seeds)
                .unwrap_or_else(|e| panic!("{}: {e}", seeds.display()))
                .map(|f| f.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            assert!(!files.is_empty(), "{} has no seeds", seeds.display());
            for file in files {
                let data = std::fs::read(&file).unwrap();
                entry(&data);
            }
        }
    }

    #[test]
    fn the_seeds_reach_the_body_parsers() {
        // A seed refused at authentication would leave the parser behind it unfuzzed at first.
        let seed =
            |target: &str, file: &str| std::fs::read(fuzz_dir().join(format!("corpus/{target}/{file}"))).unwrap();
        let shipstation = ShipStationVerifier::new(vec![SecretString::from(SHIPSTATION_TOKEN.to_owned())], None);
        let delivery = Delivery::read(&seed("webhook_shipstation", "ship_notify"));
        assert_eq!(shipstation.verify(&delivery.request("")).unwrap().len(), 1);
        let acumatica =
            AcumaticaPushVerifier::new(ACUMATICA_HEADER, vec![SecretString::from(ACUMATICA_SECRET.to_owned())]);
        let delivery = Delivery::read(&seed("webhook_acumatica", "shipments_for_sync"));
        assert!(!acumatica.verify(&delivery.request("")).unwrap().is_empty());
        assert_eq!(documents(b"{}\n---\n[]\n---\n[1]"), vec![&b"{}"[..], b"[]", b"[1]"]);
    }
}

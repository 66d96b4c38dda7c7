//! Intake: a verified delivery is enqueued once (a duplicate or a delivery that could not be
//! enqueued is logged here; an accepted one is logged by its work, see `DeliveryLog`). The
//! delivery id is looked up before the send and remembered only after it, so no failure in
//! between makes the sender's retry look like a duplicate (see `enqueue_once`).

use std::time::Duration;

use sha2::Digest;
use tracing::{error, info, warn};

use super::{ImportOrder, LogRecorder, OrderMessage, ShipmentMessage};
use crate::error::ErrorChain;
use crate::model::{ConnectionId, ImportKey};
use crate::ports::{
    Clock, ConnectorLog, Direction, Envelope, InboundEvent, ListedOrder, LogGroup, LogResult, Markers, OutgoingMessage,
    Queue, WebhookEvent,
};

/// Ledger scope of delivery dedupe keys.
pub const WEBHOOK_SCOPE: &str = "webhook";

/// What intake needs.
pub struct IntakeContext<'a> {
    pub markers: &'a dyn Markers,
    /// The shipments queue: every event but an announced order.
    pub queue: &'a dyn Queue,
    /// The orders queue, where an announced order goes for import (None: this deployment takes
    /// no order webhooks, and such a delivery is answered 503 until it does).
    pub orders: Option<&'a dyn Queue>,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    /// How long a delivery id is remembered (vendors retry for up to 48 h).
    pub dedupe_ttl: Duration,
}

/// How a delivery's intake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// Every event is on the queue (now, or from an earlier delivery of the same id).
    Enqueued,
    /// An event could not be enqueued (and its id is not remembered): answer so that the sender retries.
    NotEnqueued(String),
}

/// Enqueues each event unless its delivery was seen; stops at the first that cannot be enqueued.
/// `source` names the route in the connector log.
pub async fn intake(source: &ConnectionId, events: &[WebhookEvent], ctx: &IntakeContext<'_>) -> IntakeOutcome {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    for event in events {
        let message = match Message::of(event, ctx) {
            Ok(message) => message,
            Err(reason) => {
                error!(source = %source, key = %event.dedupe_key, error = %reason, "Webhook not enqueued; the sender will retry.");
                return IntakeOutcome::NotEnqueued(reason);
            }
        };
        let action = recorder
            .start(source, LogGroup::Webhooks, "intake", Direction::Internal, marker_key(&event.dedupe_key))
            .correlated(&message.correlation_id);
        match enqueue_once(event, &message, ctx).await {
            Ok(true) => {
                // No entry of its own: the entries its work writes carry the time it was enqueued
                // (and a delivery whose work writes none gets one then; see `DeliveryLog`).
                info!(source = %source, key = %event.dedupe_key, event = event.event.name(), correlation_id = %message.correlation_id, "Webhook accepted.");
                drop(action);
            }
            Ok(false) => {
                info!(source = %source, key = %event.dedupe_key, "Duplicate webhook delivery ignored.");
                recorder.finish(action, LogResult::Skipped, "Duplicate delivery; enqueued before.").await;
            }
            Err(reason) => {
                error!(source = %source, key = %event.dedupe_key, error = %reason, "Webhook not enqueued; the sender will retry.");
                recorder.finish(action, LogResult::Retry, "Not enqueued; answered 503 so the sender retries.").await;
                return IntakeOutcome::NotEnqueued(reason);
            }
        }
    }
    // Every event was enqueued or was a duplicate: the delivery is safe either way.
    IntakeOutcome::Enqueued
}

/// An event as the queue message it travels in.
struct Message<'a> {
    queue: &'a dyn Queue,
    outgoing: OutgoingMessage,
    correlation_id: String,
}

impl<'a> Message<'a> {
    /// An announced order goes to the orders queue as an import by reference (order-import reads
    /// it and checks that it still waits for import), correlated like every message of that
    /// order; everything else goes to the shipments queue for status-push.
    fn of(event: &WebhookEvent, ctx: &IntakeContext<'a>) -> Result<Self, String> {
        let now = ctx.clock.now();
        let text = |e: serde_json::Error| ErrorChain(&e).to_string();
        if let InboundEvent::OrderAnnounced { connection, order } = &event.event {
            let queue = ctx.orders.ok_or_else(|| "no orders queue is configured for order webhooks".to_owned())?;
            let correlation_id = ImportKey::new(connection.clone(), order.clone()).correlation_id();
            let body = OrderMessage::ImportOrderV1(ImportOrder {
                connection: connection.clone(),
                order: ListedOrder::Reference { id: order.clone(), display_number: order.raw().to_owned() },
                announced: true,
            });
            let envelope = Envelope::correlated(body, now, correlation_id.clone());
            return Ok(Self { queue, outgoing: envelope.to_outgoing("0").map_err(text)?, correlation_id });
        }
        let envelope = Envelope::new(ShipmentMessage::WebhookEventV2(event.clone()), now);
        let mut outgoing = envelope.to_outgoing("0").map_err(text)?;
        outgoing.delay = status_delay(&event.event);
        Ok(Self { queue: ctx.queue, outgoing, correlation_id: envelope.correlation_id })
    }
}

/// How long an ERP notification naming only orders, with the status its rows reported, waits on
/// the queue. One ERP transaction that confirms a shipment also changes its order's status and
/// fires both notifications at once; the shipment's push reads the order and pushes that status.
/// Arriving after it, the status notification finds its status on the channel and reads nothing
/// (see `push_status_of`); arriving beside it (another batch, another container), it would read
/// the order too. A status or an ERP-entered order reaches its channel this much later.
pub const REPORTED_STATUS_DELAY: std::time::Duration = std::time::Duration::from_secs(10);

/// The delay of an event on the shipments queue: [`REPORTED_STATUS_DELAY`] for order changes
/// that report their status and name no shipment, none for everything else.
pub fn status_delay(event: &InboundEvent) -> Option<std::time::Duration> {
    match event {
        InboundEvent::ErpChanged { shipments, orders, statuses }
            if shipments.is_empty() && !orders.is_empty() && !statuses.is_empty() =>
        {
            Some(REPORTED_STATUS_DELAY)
        }
        _ => None,
    }
}

/// Longest delivery key stored as it is; a longer one (a sender's long URL) is stored as its
/// SHA-256, well inside DynamoDB's 2,048-byte key limit with the scope and prefix around it.
const MAX_PLAIN_KEY: usize = 512;

/// The key a delivery is remembered under.
pub fn marker_key(dedupe_key: &str) -> String {
    if dedupe_key.len() <= MAX_PLAIN_KEY {
        return dedupe_key.to_owned();
    }
    let digest = sha2::Sha256::digest(dedupe_key.as_bytes());
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Look, send, then remember. Remembering first (and forgetting on a failed send) loses the
/// event when the handler dies between the two — a Lambda timeout, or the sender giving up and
/// the connection's future being dropped — because the sender's retry then finds the key and
/// is answered "duplicate". In this order every failure leaves the key unremembered, so the
/// retry enqueues again; the cost is a rare second message for one delivery (two copies in
/// flight at once, or a death after the send), which the consumers' claims absorb.
async fn enqueue_once(event: &WebhookEvent, message: &Message<'_>, ctx: &IntakeContext<'_>) -> Result<bool, String> {
    let key = marker_key(&event.dedupe_key);
    if ctx.markers.seen(WEBHOOK_SCOPE, &key).await.map_err(|e| ErrorChain(&e).to_string())? {
        return Ok(false);
    }
    let report = message.queue.send(vec![message.outgoing.clone()]).await.map_err(|e| ErrorChain(&e).to_string())?;
    if !report.failed.is_empty() {
        return Err(format!("{:?}", report.failed));
    }
    // The event is on the queue whatever happens next: a key not remembered only lets a later
    // copy of this delivery through as a second message.
    if let Err(e) = ctx.markers.remember_once(WEBHOOK_SCOPE, &key, ctx.dedupe_ttl).await {
        warn!(key = %event.dedupe_key, error = %ErrorChain(&e), "Enqueued, but the dedupe key was not remembered.");
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErpOrderRef, ErpShipmentNbr};
    use crate::ports::InboundEvent;
    use crate::testing::{ManualClock, MemoryLedger, MemoryLog, MemoryQueue};

    fn context<'a>(
        markers: &'a MemoryLedger,
        queue: &'a dyn crate::ports::Queue,
        log: &'a MemoryLog,
        clock: &'a ManualClock,
    ) -> IntakeContext<'a> {
        IntakeContext { markers, queue, orders: None, log, clock, dedupe_ttl: Duration::from_secs(3600) }
    }

    fn shipment_event(dedupe_key: &str) -> WebhookEvent {
        WebhookEvent {
            dedupe_key: dedupe_key.into(),
            event: InboundEvent::ErpChanged {
                shipments: vec![ErpShipmentNbr::parse("000042").unwrap()],
                orders: vec![ErpOrderRef::parse("SO/SO42").unwrap()],
                statuses: Vec::new(),
            },
        }
    }

    /// A queue whose first send never answers (the handler is cut off there, as by a Lambda
    /// timeout or a sender that gave up), then sends normally.
    #[derive(Default)]
    struct StallsOnce {
        stalled: std::sync::atomic::AtomicBool,
        inner: MemoryQueue,
    }

    #[async_trait::async_trait]
    impl crate::ports::Queue for StallsOnce {
        async fn send(
            &self,
            messages: Vec<crate::ports::OutgoingMessage>,
        ) -> Result<crate::ports::SendReport, crate::ports::QueueError> {
            if !self.stalled.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            self.inner.send(messages).await
        }
    }

    #[tokio::test]
    async fn a_delivery_cut_off_during_its_send_is_enqueued_by_the_senders_retry() {
        // The soak lost a shipment push this way: the first attempt's handler was dropped after
        // the key was remembered and before the send, and the retry was answered "duplicate".
        let (markers, queue, log, clock) =
            (MemoryLedger::default(), StallsOnce::default(), MemoryLog::default(), ManualClock::new());
        let ctx = context(&markers, &queue, &log, &clock);
        let event = shipment_event("erp:Shipments:0f9c");
        let source = ConnectionId::parse("erp").unwrap();
        let cut_off =
            tokio::time::timeout(Duration::from_millis(50), intake(&source, std::slice::from_ref(&event), &ctx)).await;
        assert!(cut_off.is_err(), "the first attempt never finished");
        assert_eq!(intake(&source, std::slice::from_ref(&event), &ctx).await, IntakeOutcome::Enqueued);
        assert_eq!(queue.inner.0.lock().unwrap().len(), 1, "the retry enqueued the event");
        assert_eq!(intake(&source, &[event], &ctx).await, IntakeOutcome::Enqueued);
        assert_eq!(queue.inner.0.lock().unwrap().len(), 1, "a later copy is a duplicate");
    }

    #[tokio::test]
    async fn a_delivery_key_beyond_the_store_limit_is_hashed_and_still_deduplicated() {
        let (markers, queue, log, clock) =
            (MemoryLedger::default(), MemoryQueue::default(), MemoryLog::default(), ManualClock::new());
        let ctx = context(&markers, &queue, &log, &clock);
        let long = format!("generic:{}", "k".repeat(3000));
        let event = shipment_event(&long);
        let source = ConnectionId::parse("generic").unwrap();
        assert_eq!(intake(&source, std::slice::from_ref(&event), &ctx).await, IntakeOutcome::Enqueued);
        assert_eq!(intake(&source, &[event], &ctx).await, IntakeOutcome::Enqueued);
        assert_eq!(queue.0.lock().unwrap().len(), 1, "the second delivery is a duplicate");
        let key = marker_key(&long);
        assert!(key.starts_with("sha256:") && key.len() < 100, "{key}");
        assert_eq!(marker_key("erp:Q:1"), "erp:Q:1", "short keys stay readable");
        let entries = log.0.lock().unwrap().clone();
        assert!(entries.iter().all(|e| e.entity_id.len() < 100), "the log names the hashed key");
    }

    #[tokio::test]
    async fn an_order_change_that_reports_its_status_waits_on_the_queue_and_a_shipment_does_not() {
        let (markers, queue, log, clock) =
            (MemoryLedger::default(), MemoryQueue::default(), MemoryLog::default(), ManualClock::new());
        let ctx = context(&markers, &queue, &log, &clock);
        let erp = ErpOrderRef::parse("SO/SO42").unwrap();
        let event =
            |key: &str, shipments: Vec<ErpShipmentNbr>, statuses: Vec<crate::ports::ReportedStatus>| WebhookEvent {
                dedupe_key: key.into(),
                event: InboundEvent::ErpChanged { shipments, orders: vec![erp.clone()], statuses },
            };
        let reported = vec![crate::ports::ReportedStatus { erp: erp.clone(), status: "Completed".into() }];
        let source = ConnectionId::parse("erp").unwrap();
        let events = [
            event("erp:orders:1", Vec::new(), reported.clone()),
            event("erp:orders:2", Vec::new(), Vec::new()),
            event("erp:shipments:3", vec![ErpShipmentNbr::parse("000042").unwrap()], reported),
        ];
        assert_eq!(intake(&source, &events, &ctx).await, IntakeOutcome::Enqueued);
        let delays: Vec<_> = queue.0.lock().unwrap().iter().map(|m| m.delay).collect();
        assert_eq!(
            delays,
            vec![Some(REPORTED_STATUS_DELAY), None, None],
            "only a status-only change that reports its status waits"
        );
    }

    #[tokio::test]
    async fn an_announced_order_goes_to_the_orders_queue_correlated_like_its_import() {
        let (markers, shipments, orders, log, clock) = (
            MemoryLedger::default(),
            MemoryQueue::default(),
            MemoryQueue::default(),
            MemoryLog::default(),
            ManualClock::new(),
        );
        let connection = ConnectionId::parse("bc-store").unwrap();
        let order = crate::model::ChannelOrderId::new(crate::model::SystemCode::parse("BC").unwrap(), "42").unwrap();
        let event = WebhookEvent {
            dedupe_key: "bc:store/order/created:3f".into(),
            event: InboundEvent::OrderAnnounced { connection: connection.clone(), order: order.clone() },
        };
        // Without an orders queue the delivery is refused, so the channel retries it later.
        let ctx = context(&markers, &shipments, &log, &clock);
        assert!(matches!(intake(&connection, std::slice::from_ref(&event), &ctx).await, IntakeOutcome::NotEnqueued(_)));
        let ctx = IntakeContext { orders: Some(&orders), ..context(&markers, &shipments, &log, &clock) };
        assert_eq!(intake(&connection, std::slice::from_ref(&event), &ctx).await, IntakeOutcome::Enqueued);
        assert_eq!(intake(&connection, &[event], &ctx).await, IntakeOutcome::Enqueued);
        assert!(shipments.0.lock().unwrap().is_empty());
        let sent = orders.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "the second delivery is a duplicate");
        let envelope: Envelope<OrderMessage> = Envelope::parse("m", Some(&sent[0].body)).unwrap();
        let key = ImportKey::new(connection.clone(), order.clone());
        assert_eq!(envelope.correlation_id, key.correlation_id());
        let OrderMessage::ImportOrderV1(message) = envelope.body else { panic!("{}", sent[0].body) };
        assert!(message.announced && message.connection == connection && *message.order.id() == order);
    }
}

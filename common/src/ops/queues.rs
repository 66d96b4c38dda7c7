//! Queues for operators: depth and oldest message per queue and DLQ, the dead letters with what
//! each one is (kind, connection, order or shipment, correlation id), and redrive of selected
//! ones or all, each redrive written to the connector log with who did it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::{DynamoConnectorLog, SqsQueueAdmin};
use crate::config::{CommonSettings, Env, QueueUrl, SettingsError};
use crate::flows::{LogRecorder, OrderMessage, ShipmentMessage, ShipmentOrigin};
use crate::handlers::{App, LoadSettings, SetupError};
use crate::model::ConnectionId;
use crate::ports::{
    Clock, ConnectorLog, Direction, Envelope, InboundEvent, LogGroup, LogResult, PeekedMessage, QueueAdmin, QueueError,
    QueueName, QueueStats, RedriveProgress, RedriveReport, RedriveSelection, SystemClock,
};

/// What a dead letter is, read from its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageSummary {
    /// The envelope's kind and version (`import_order.v1`), or what the body claims to be when it
    /// cannot be read (`import_order.v9`), or `unreadable`.
    pub kind: String,
    /// False when the body is not a message this version reads (it would fail again as it is).
    pub readable: bool,
    pub connection: Option<ConnectionId>,
    /// The order, customer, shipment or ERP order it is about (`SC-5512345`, `SO SO004512`).
    pub entity: Option<String>,
    pub correlation_id: Option<String>,
    /// More words: the display number, the event, or why the body cannot be read.
    pub detail: String,
}

/// One message of a DLQ as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub receive_count: u32,
    pub what: MessageSummary,
}

/// The largest body excerpt shown for an unreadable message.
const EXCERPT_CHARS: usize = 120;

fn excerpt(body: &str) -> String {
    let mut text: String = body.chars().take(EXCERPT_CHARS).collect();
    if body.chars().count() > EXCERPT_CHARS {
        text.push('…');
    }
    text
}

fn unreadable(body: Option<&str>, why: String) -> MessageSummary {
    // The kind a newer (or older) sender wrote, when the body is JSON with one.
    let claimed = body
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned));
    let correlation_id = body
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("correlation_id").and_then(|k| k.as_str()).map(str::to_owned));
    MessageSummary {
        kind: claimed.unwrap_or_else(|| "unreadable".into()),
        readable: false,
        connection: None,
        entity: None,
        correlation_id,
        detail: match body {
            Some(b) => format!("{why}; body: {}", excerpt(b)),
            None => why,
        },
    }
}

/// What a message of `queue` is. Never fails: a body this version cannot read is described as
/// such, with an excerpt.
pub fn describe(queue: QueueName, message_id: &str, body: Option<&str>) -> MessageSummary {
    match queue {
        QueueName::Orders => match Envelope::<OrderMessage>::parse(message_id, body) {
            Ok(envelope) => describe_order(&envelope),
            Err(e) => unreadable(body, e.to_string()),
        },
        QueueName::Shipments => match Envelope::<ShipmentMessage>::parse(message_id, body) {
            Ok(envelope) => describe_shipment(&envelope),
            Err(e) => unreadable(body, e.to_string()),
        },
    }
}

fn describe_order(envelope: &Envelope<OrderMessage>) -> MessageSummary {
    let correlation_id = Some(envelope.correlation_id.clone());
    match &envelope.body {
        OrderMessage::ImportOrderV1(m) => MessageSummary {
            kind: "import_order.v1".into(),
            readable: true,
            connection: Some(m.connection.clone()),
            entity: Some(m.order.id().to_string()),
            correlation_id,
            detail: match &m.order {
                crate::ports::ListedOrder::Whole(order) => format!("order {}", order.display_number),
                crate::ports::ListedOrder::Reference { display_number, .. } => format!("order {display_number}"),
            },
        },
        OrderMessage::ImportCustomerV1(m) => MessageSummary {
            kind: "import_customer.v1".into(),
            readable: true,
            connection: Some(m.customer.connection.clone()),
            entity: Some(m.customer.channel_customer_id.clone()),
            correlation_id,
            detail: format!("customer account changed {}", m.customer.updated_at.format("%Y-%m-%d %H:%M:%S UTC")),
        },
        OrderMessage::BackfillPageV1(page) => MessageSummary {
            kind: "backfill_page.v1".into(),
            readable: true,
            connection: None,
            entity: Some(page.job_id.clone()),
            correlation_id,
            detail: format!("backfill job, after page {}", page.pages),
        },
    }
}

fn describe_shipment(envelope: &Envelope<ShipmentMessage>) -> MessageSummary {
    let correlation_id = Some(envelope.correlation_id.clone());
    let summary = |kind: &str, entity: Option<String>, detail: String| MessageSummary {
        kind: kind.into(),
        readable: true,
        connection: None,
        entity,
        correlation_id: correlation_id.clone(),
        detail,
    };
    match &envelope.body {
        ShipmentMessage::WebhookEventV2(event) => {
            let (entity, detail) = match &event.event {
                InboundEvent::ErpChanged { shipments, orders, .. } => (
                    shipments.first().map(|s| s.to_string()).or_else(|| orders.first().map(|o| o.to_string())),
                    format!("erp_changed: {} shipments, {} orders", shipments.len(), orders.len()),
                ),
                InboundEvent::ToolBatchReady { resource_url } => {
                    (None, format!("tool_batch_ready: {}", excerpt(resource_url)))
                }
                InboundEvent::Shipped { erp_order, shipment } => {
                    (Some(erp_order.to_string()), format!("shipped: shipment {}", shipment.source))
                }
                InboundEvent::StatusChanged { erp_order } => (Some(erp_order.to_string()), "status_changed".into()),
                InboundEvent::StockChanged { items } => (None, format!("stock_changed: {} items", items.len())),
                InboundEvent::OrderAnnounced { connection, order } => {
                    (Some(order.to_string()), format!("order_announced: {connection}"))
                }
                InboundEvent::HookTrouble { connection, hook, code, .. } => {
                    (None, format!("hook_trouble: {connection} hook {hook} code {code}"))
                }
            };
            summary("webhook_event.v2", entity, format!("{detail} (delivery {})", event.dedupe_key))
        }
        ShipmentMessage::WebhookEventV1(event) => {
            summary("webhook_event.v1", None, format!("{} (delivery {})", event.event, event.dedupe_key))
        }
        ShipmentMessage::PushShipmentV1(push) => {
            let order = match &push.origin {
                ShipmentOrigin::Erp { order } => order.to_string(),
                ShipmentOrigin::ShippingTool { order } => format!("shipping-tool order {}", order.order_number),
            };
            summary("push_shipment.v1", Some(push.shipment.source.to_string()), format!("shipment of {order}"))
        }
        ShipmentMessage::ErpOrderV1(message) => summary(
            "erp_order.v1",
            Some(message.order.erp.to_string()),
            format!("ERP order, status {}", message.order.status),
        ),
        ShipmentMessage::StockResyncV1(resync) => summary(
            "stock_resync.v1",
            Some(resync.connection.to_string()),
            format!("stock of {} items after a shipment", resync.items.len()),
        ),
    }
}

/// The queue actions, over the stage's queues and the connector log.
pub struct QueueOps {
    pub admin: Arc<dyn QueueAdmin>,
    pub log: Arc<dyn ConnectorLog>,
    pub clock: Arc<dyn Clock>,
}

impl QueueOps {
    /// Each work queue and its DLQ: visible, in flight, delayed, oldest message age.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
        self.admin.stats().await
    }

    /// Up to `max` dead letters of `queue` (peeked, left in place), oldest first, with what each is.
    pub async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let peeked = self.admin.dead_letters(queue, max).await?;
        Ok(peeked.into_iter().map(|m| dead_letter(queue, m)).collect())
    }

    /// Moves the selected dead letters of `queue` (or all) back to it. One connector-log entry
    /// under [`super::OPERATOR_LOG`] says who did it and what moved; each moved message whose
    /// connection is known also gets an entry in that connection's log, about its order.
    pub async fn redrive(
        &self,
        queue: QueueName,
        selection: &RedriveSelection,
        actor: &str,
        progress: &(dyn Fn(RedriveProgress) + Send + Sync),
    ) -> Result<RedriveReport, QueueError> {
        let recorder = LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() };
        let what = match selection {
            RedriveSelection::All => "all".to_owned(),
            RedriveSelection::Ids(ids) => format!("{} selected", ids.len()),
        };
        let action = recorder.start(
            &super::operator_log(),
            LogGroup::System,
            "redrive",
            Direction::Internal,
            format!("{queue}-dlq"),
        );
        let report = match self.admin.redrive(queue, selection, progress).await {
            Ok(report) => report,
            Err(e) => {
                let notes = format!("Redrive of {what} from the {queue} DLQ by {actor} failed: {e}");
                recorder.finish(action, LogResult::Failure, notes).await;
                return Err(e);
            }
        };
        let group = match queue {
            QueueName::Orders => LogGroup::Orders,
            QueueName::Shipments => LogGroup::Shipments,
        };
        for (message_id, body) in &report.moved_bodies {
            let summary = describe(queue, message_id, body.as_deref());
            let Some(connection) = &summary.connection else { continue };
            let mut entry = recorder.start(
                connection,
                group,
                "redrive",
                Direction::Internal,
                summary.entity.clone().unwrap_or_else(|| message_id.clone()),
            );
            if let Some(correlation_id) = &summary.correlation_id {
                entry = entry.correlated(correlation_id);
            }
            let notes = format!("Moved from the {queue} DLQ back to its queue by {actor} (message {message_id}).");
            recorder.finish(entry, LogResult::Success, notes).await;
        }
        let result = if report.failed.is_empty() { LogResult::Success } else { LogResult::Failure };
        let mut notes = format!(
            "Redrive of {what} from the {queue} DLQ by {actor}: {} moved, {} failed, {} not found.",
            report.moved.len(),
            report.failed.len(),
            report.not_found.len()
        );
        if let Some((id, why)) = report.failed.first() {
            notes.push_str(&format!(" First failure: {id}: {why}."));
        }
        recorder.finish(action, result, notes).await;
        Ok(report)
    }
}

fn dead_letter(queue: QueueName, message: PeekedMessage) -> DeadLetter {
    let what = describe(queue, &message.message_id, message.body.as_deref());
    DeadLetter { message_id: message.message_id, sent_at: message.sent_at, receive_count: message.receive_count, what }
}

/// What the queue actions read from the environment: the connector log and both work queues
/// (their DLQs are found from the queues' redrive policies).
#[derive(Debug, Clone)]
pub struct QueueOpsSettings {
    pub common: CommonSettings,
    pub orders_queue: QueueUrl,
    pub shipments_queue: QueueUrl,
}

impl LoadSettings for QueueOpsSettings {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::load(env)?,
            orders_queue: env.queue_url("ORDERBRIDGE_ORDERS_QUEUE_URL")?,
            shipments_queue: env.queue_url("ORDERBRIDGE_SHIPMENTS_QUEUE_URL")?,
        })
    }
}

impl QueueOps {
    /// Built from explicit settings (no vendor is involved, so no connections file).
    pub fn open(sdk: &aws_config::SdkConfig, settings: &QueueOpsSettings) -> Self {
        let dynamo = crate::aws::dynamodb(sdk);
        Self {
            admin: Arc::new(SqsQueueAdmin::new(
                crate::aws::sqs(sdk),
                settings.orders_queue.as_str(),
                settings.shipments_queue.as_str(),
            )),
            log: Arc::new(DynamoConnectorLog::new(
                dynamo,
                settings.common.log_table.as_str(),
                settings.common.log_retention,
            )),
            clock: Arc::new(SystemClock),
        }
    }

    /// From the process environment (`ORDERBRIDGE_LOG_TABLE`, `ORDERBRIDGE_STATE_TABLE`,
    /// `ORDERBRIDGE_ORDERS_QUEUE_URL`, `ORDERBRIDGE_SHIPMENTS_QUEUE_URL`); needs no connections file.
    pub async fn from_env() -> Result<Self, SetupError> {
        let settings = QueueOpsSettings::load(&Env::process())?;
        Ok(Self::open(&crate::aws::load_sdk_config().await, &settings))
    }
}

/// So the console can build it like the functions' apps: `handlers::from_env::<QueueOps>()`.
impl App for QueueOps {
    type Settings = QueueOpsSettings;

    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &QueueOpsSettings,
        _: &crate::connections::Connections,
    ) -> Result<Self, SetupError> {
        Ok(Self::open(sdk, settings))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::flows::ImportOrder;
    use crate::model::ImportKey;
    use crate::ports::ListedOrder;
    use crate::testing::{ManualClock, MemoryLog};

    fn import_body(connection: &str, display: &str) -> (String, ImportKey) {
        let order = crate::model::fixtures::order();
        let connection = ConnectionId::parse(connection).unwrap();
        let key = ImportKey::new(connection.clone(), order.channel_order_id.clone());
        let message = OrderMessage::ImportOrderV1(ImportOrder {
            connection,
            order: ListedOrder::Reference { id: order.channel_order_id.clone(), display_number: display.into() },
            announced: false,
        });
        let envelope = Envelope::correlated(message, Utc::now(), key.correlation_id());
        (serde_json::to_string(&envelope).unwrap(), key)
    }

    #[test]
    fn an_import_message_says_its_kind_connection_order_and_correlation_id() {
        let (body, key) = import_body("sc-main", "112-555");
        let what = describe(QueueName::Orders, "m1", Some(&body));
        assert_eq!(what.kind, "import_order.v1");
        assert!(what.readable);
        assert_eq!(what.connection.as_ref().map(ConnectionId::as_str), Some("sc-main"));
        assert_eq!(what.entity.as_deref(), Some(key.import_id().as_str()));
        assert_eq!(what.correlation_id.as_deref(), Some(key.correlation_id().as_str()));
        assert!(what.detail.contains("112-555"), "{}", what.detail);
    }

    #[test]
    fn unreadable_bodies_are_shown_as_such_with_the_kind_they_claim() {
        let poison = describe(QueueName::Orders, "m1", Some("poison 0: not an envelope"));
        assert_eq!(poison.kind, "unreadable");
        assert!(!poison.readable);
        assert!(poison.detail.contains("poison 0"), "{}", poison.detail);
        let newer = r#"{"correlation_id":"c-1","sent_at":"2026-01-01T00:00:00Z","kind":"import_order.v9"}"#;
        let newer = describe(QueueName::Orders, "m2", Some(newer));
        assert_eq!((newer.kind.as_str(), newer.readable), ("import_order.v9", false));
        assert_eq!(newer.correlation_id.as_deref(), Some("c-1"));
        let empty = describe(QueueName::Shipments, "m3", None);
        assert_eq!(empty.kind, "unreadable");
        let long = "x".repeat(500);
        assert!(describe(QueueName::Orders, "m4", Some(&long)).detail.len() < 300);
    }

    #[test]
    fn a_shipment_push_names_its_shipment() {
        let body = r#"{"correlation_id":"c","sent_at":"2026-01-01T00:00:00Z","kind":"webhook_event.v2",
            "dedupe_key":"d-1","event":{"type":"status_changed","erp_order":{"order_type":"SO","order_nbr":"SO004512"}}}"#;
        let what = describe(QueueName::Shipments, "m1", Some(body));
        assert!(what.readable, "{what:?}");
        assert_eq!(what.kind, "webhook_event.v2");
        assert!(what.entity.as_deref().is_some_and(|e| e.contains("SO004512")), "{what:?}");
        assert!(what.detail.contains("status_changed") && what.detail.contains("d-1"), "{}", what.detail);
    }

    /// A DLQ in memory: redrive moves the selected bodies.
    struct FakeAdmin(Mutex<Vec<PeekedMessage>>);

    #[async_trait]
    impl QueueAdmin for FakeAdmin {
        async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
            Ok(Vec::new())
        }
        async fn dead_letters(&self, _: QueueName, max: usize) -> Result<Vec<PeekedMessage>, QueueError> {
            Ok(self.0.lock().unwrap().iter().take(max).cloned().collect())
        }
        async fn redrive(
            &self,
            _: QueueName,
            selection: &RedriveSelection,
            progress: &(dyn Fn(RedriveProgress) + Send + Sync),
        ) -> Result<RedriveReport, QueueError> {
            let mut dlq = self.0.lock().unwrap();
            let mut report = RedriveReport::default();
            dlq.retain(|m| {
                let selected = match selection {
                    RedriveSelection::All => true,
                    RedriveSelection::Ids(ids) => ids.contains(&m.message_id),
                };
                if selected {
                    report.moved.push(m.message_id.clone());
                    report.moved_bodies.push((m.message_id.clone(), m.body.clone()));
                }
                !selected
            });
            progress(RedriveProgress { moved: report.moved.len(), failed: 0, expected: report.moved.len() });
            Ok(report)
        }
    }

    #[tokio::test]
    async fn a_redrive_is_logged_with_its_actor_for_the_stage_and_for_each_known_order() {
        let (body, key) = import_body("sc-main", "112-555");
        let admin = FakeAdmin(Mutex::new(vec![
            PeekedMessage { message_id: "m1".into(), body: Some(body), sent_at: None, receive_count: 6 },
            PeekedMessage { message_id: "m2".into(), body: Some("poison".into()), sent_at: None, receive_count: 6 },
        ]));
        let log = Arc::new(MemoryLog::default());
        let ops = QueueOps { admin: Arc::new(admin), log: log.clone(), clock: Arc::new(ManualClock::new()) };
        let listed = ops.dead_letters(QueueName::Orders, 10).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].what.entity.as_deref(), Some(key.import_id().as_str()));

        let report = ops
            .redrive(QueueName::Orders, &RedriveSelection::Ids(vec!["m1".into()]), "console:ana", &|_| {})
            .await
            .unwrap();

        assert_eq!(report.moved, vec!["m1".to_owned()]);
        let entries = log.0.lock().unwrap().clone();
        let stage: Vec<_> = entries.iter().filter(|e| e.connection.as_str() == crate::ops::OPERATOR_LOG).collect();
        assert_eq!(stage.len(), 1, "{entries:?}");
        assert_eq!((stage[0].group, stage[0].action.as_str()), (LogGroup::System, "redrive"));
        assert!(stage[0].notes.contains("console:ana") && stage[0].notes.contains("1 moved"), "{}", stage[0].notes);
        let order: Vec<_> = entries.iter().filter(|e| e.connection.as_str() == "sc-main").collect();
        assert_eq!(order.len(), 1, "{entries:?}");
        assert_eq!(order[0].entity_id, key.import_id());
        assert_eq!(order[0].correlation_id.as_deref(), Some(key.correlation_id().as_str()));
        assert!(order[0].notes.contains("console:ana"));
    }
}

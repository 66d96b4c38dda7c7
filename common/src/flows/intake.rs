//! Intake: a verified delivery is enqueued once. The delivery id is remembered before the send and
//! forgotten again if the send fails, so the sender's retry is not mistaken for a duplicate.

use std::time::Duration;

use sha2::Digest;
use tracing::{error, info};

use super::{LogRecorder, ShipmentMessage};
use crate::error::ErrorChain;
use crate::model::ConnectionId;
use crate::ports::{Clock, ConnectorLog, Direction, Envelope, LogGroup, LogResult, Markers, Queue, WebhookEvent};

/// Ledger scope of delivery dedupe keys.
pub const WEBHOOK_SCOPE: &str = "webhook";

/// What intake needs.
pub struct IntakeContext<'a> {
    pub markers: &'a dyn Markers,
    pub queue: &'a dyn Queue,
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
    /// An event could not be enqueued (and its id was forgotten): answer so that the sender retries.
    NotEnqueued(String),
}

/// Enqueues each event unless its delivery was seen; stops at the first that cannot be enqueued.
/// `source` names the route in the connector log.
pub async fn intake(source: &ConnectionId, events: &[WebhookEvent], ctx: &IntakeContext<'_>) -> IntakeOutcome {
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    for event in events {
        let envelope = Envelope::new(ShipmentMessage::WebhookEventV2(event.clone()), ctx.clock.now());
        let action = recorder
            .start(source, LogGroup::Webhooks, "intake", Direction::Internal, marker_key(&event.dedupe_key))
            .correlated(&envelope.correlation_id);
        match enqueue_once(event, &envelope, ctx).await {
            Ok(true) => {
                info!(source = %source, key = %event.dedupe_key, event = event.event.name(), correlation_id = %envelope.correlation_id, "Webhook accepted.");
                recorder.finish(action, LogResult::Success, format!("{} enqueued.", event.event.name())).await;
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

async fn enqueue_once(
    event: &WebhookEvent,
    envelope: &Envelope<ShipmentMessage>,
    ctx: &IntakeContext<'_>,
) -> Result<bool, String> {
    let key = marker_key(&event.dedupe_key);
    let first =
        ctx.markers.remember_once(WEBHOOK_SCOPE, &key, ctx.dedupe_ttl).await.map_err(|e| ErrorChain(&e).to_string())?;
    if !first {
        return Ok(false);
    }
    let sent = match envelope.to_outgoing("0") {
        Ok(message) => ctx.queue.send(vec![message]).await.map_err(|e| ErrorChain(&e).to_string()),
        Err(e) => Err(ErrorChain(&e).to_string()),
    };
    match sent {
        Ok(report) if report.failed.is_empty() => Ok(true),
        other => {
            let reason = match other {
                Ok(report) => format!("{:?}", report.failed),
                Err(e) => e,
            };
            if let Err(e) = ctx.markers.forget(WEBHOOK_SCOPE, &key).await {
                error!(key = %event.dedupe_key, error = %e, "Could not forget the dedupe key of an unsent webhook.");
            }
            Err(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErpOrderRef, ErpShipmentNbr};
    use crate::ports::InboundEvent;
    use crate::testing::{ManualClock, MemoryLedger, MemoryLog, MemoryQueue};

    #[tokio::test]
    async fn a_delivery_key_beyond_the_store_limit_is_hashed_and_still_deduplicated() {
        let (markers, queue, log, clock) =
            (MemoryLedger::default(), MemoryQueue::default(), MemoryLog::default(), ManualClock::new());
        let ctx = IntakeContext {
            markers: &markers,
            queue: &queue,
            log: &log,
            clock: &clock,
            dedupe_ttl: Duration::from_secs(3600),
        };
        let long = format!("generic:{}", "k".repeat(3000));
        let event = WebhookEvent {
            dedupe_key: long.clone(),
            event: InboundEvent::ErpChanged {
                shipments: vec![ErpShipmentNbr::parse("000001").unwrap()],
                orders: vec![ErpOrderRef::parse("SO/SO1").unwrap()],
            },
        };
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
}

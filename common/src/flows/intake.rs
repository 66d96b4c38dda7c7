//! Intake: a verified delivery is enqueued once. The delivery id is remembered before the send and
//! forgotten again if the send fails, so the sender's retry is not mistaken for a duplicate.

use std::time::Duration;

use tracing::{error, info};

use super::{LogRecorder, ShipmentMessage};
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
            .start(source, LogGroup::Webhooks, "intake", Direction::Internal, event.dedupe_key.clone())
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

async fn enqueue_once(
    event: &WebhookEvent,
    envelope: &Envelope<ShipmentMessage>,
    ctx: &IntakeContext<'_>,
) -> Result<bool, String> {
    let first =
        ctx.markers.remember_once(WEBHOOK_SCOPE, &event.dedupe_key, ctx.dedupe_ttl).await.map_err(|e| e.to_string())?;
    if !first {
        return Ok(false);
    }
    let sent = match envelope.to_outgoing("0") {
        Ok(message) => ctx.queue.send(vec![message]).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match sent {
        Ok(report) if report.failed.is_empty() => Ok(true),
        other => {
            let reason = match other {
                Ok(report) => format!("{:?}", report.failed),
                Err(e) => e,
            };
            if let Err(e) = ctx.markers.forget(WEBHOOK_SCOPE, &event.dedupe_key).await {
                error!(key = %event.dedupe_key, error = %e, "Could not forget the dedupe key of an unsent webhook.");
            }
            Err(reason)
        }
    }
}

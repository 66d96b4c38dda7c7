//! Runs an SQS batch through a per-message handler and reports partial batch failures, so one
//! bad message never fails (and redelivers) its whole batch.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tracing::{error, warn};

use super::Envelope;
use crate::error::{Classify, ErrorChain};

/// What the handler learns about the SQS record besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub message_id: String,
    /// `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
}

/// Handles every record of `event` (up to `concurrency` at once) and returns the ids of the
/// records that must be redelivered: those whose body is not a valid envelope (they reach the DLQ
/// after `maxReceiveCount` tries, where a person can see them) and those whose handler failed.
///
/// A handler that meets a permanent problem it can record (an unmapped SKU) records it and
/// returns `Ok`; an `Err` always means "try this message again later".
pub async fn process_batch<B, H, Fut, E>(event: SqsEvent, concurrency: usize, handler: H) -> SqsBatchResponse
where
    B: DeserializeOwned,
    H: Fn(Envelope<B>, RecordMeta) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Classify,
{
    let handler = &handler;
    let failures: Vec<String> = futures::stream::iter(event.records)
        .map(|record| async move {
            let Some(message_id) = record.message_id.clone() else {
                // Without an id SQS cannot be told which record failed; it is retried as part of
                // the batch only if another record fails. This does not happen with real SQS.
                error!("SQS record without a messageId skipped.");
                return None;
            };
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let envelope = match Envelope::<B>::parse(&message_id, record.body.as_deref()) {
                Ok(envelope) => envelope,
                Err(e) => {
                    error!(message_id = %message_id, receive_count, error = %e, "Unreadable message; it will reach the DLQ.");
                    return Some(message_id);
                }
            };
            let correlation_id = envelope.correlation_id.clone();
            let meta = RecordMeta { message_id: message_id.clone(), receive_count };
            // Every log line the handler writes carries the message's correlation id (an order's
            // is the same in every function it passes through).
            let span = tracing::info_span!("message", correlation_id = %correlation_id, message_id = %message_id);
            match tracing::Instrument::instrument(handler(envelope, meta), span).await {
                Ok(()) => None,
                Err(e) => {
                    let e = ErrorChain(&e);
                    if e.0.is_retryable() {
                        warn!(message_id = %message_id, correlation_id = %correlation_id, receive_count, error = %e, "Message failed; SQS will redeliver it.");
                    } else {
                        error!(message_id = %message_id, correlation_id = %correlation_id, receive_count, error = %e, "Message failed permanently; SQS will redeliver it until it reaches the DLQ.");
                    }
                    Some(message_id)
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for id in failures {
        response.add_failure(id);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_lambda_events::event::sqs::SqsMessage;
    use chrono::Utc;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::error::ErrorClass;

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(tag = "kind")]
    enum Body {
        #[serde(rename = "work.v1")]
        Work { fail: bool },
    }

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;
    impl Classify for Boom {
        fn class(&self) -> ErrorClass {
            ErrorClass::RETRY
        }
    }

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes = HashMap::from([("ApproximateReceiveCount".to_string(), "2".to_string())]);
        m
    }

    fn work(fail: bool) -> String {
        serde_json::to_string(&Envelope::new(Body::Work { fail }, Utc::now())).unwrap()
    }

    #[tokio::test]
    async fn failures_name_exactly_the_failed_and_unreadable_messages() {
        let mut event = SqsEvent::default();
        event.records = vec![
            record("ok-1", &work(false)),
            record("fail-2", &work(true)),
            record("garbage-3", "{not json"),
            record("ok-4", &work(false)),
        ];
        let response = process_batch(event, 2, |env: Envelope<Body>, meta| async move {
            assert_eq!(meta.receive_count, 2);
            match env.body {
                Body::Work { fail: true } => Err(Boom),
                Body::Work { fail: false } => Ok(()),
            }
        })
        .await;
        let mut failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        failed.sort();
        assert_eq!(failed, vec!["fail-2".to_string(), "garbage-3".to_string()]);
    }

    #[tokio::test]
    async fn an_all_good_batch_reports_no_failures() {
        let mut event = SqsEvent::default();
        event.records = (0..10).map(|i| record(&format!("m{i}"), &work(false))).collect();
        let response = process_batch(event, 4, |_env: Envelope<Body>, _| async { Ok::<_, Boom>(()) }).await;
        assert!(response.batch_item_failures.is_empty());
    }
}

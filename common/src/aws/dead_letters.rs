//! [`SqsQueueAdmin`]: the stage's work queues and their dead-letter queues on SQS, for operators
//! (depth and age, dead letters, redrive).
//!
//! The functions know only the work queues' URLs; each DLQ is found from its queue's
//! `RedrivePolicy` (`deadLetterTargetArn` → name → `GetQueueUrl`), which works the same on AWS
//! and the local emulator, whatever the DLQ is called.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;
use tracing::{info, warn};

use super::QueueError;
use crate::ports::{
    PeekedMessage, QueueAdmin, QueueName, QueueStats, RedriveProgress, RedriveReport, RedriveSelection, PEEK_LIMIT,
};

/// How long a peeked dead letter stays hidden if making it visible again fails (it is made
/// visible at once otherwise). Short, so a failed reset hides nothing for long.
const PEEK_VISIBILITY_SECS: i32 = 10;
/// How long a message being redriven stays hidden: long enough to send and delete it.
const REDRIVE_VISIBILITY_SECS: i32 = 60;
/// Receives of one redrive at most (ten messages each): a bound, so a DLQ that keeps filling
/// cannot hold an operator's call forever.
const MAX_REDRIVE_RECEIVES: usize = 1_000;

/// A queue whose configuration is not what Orderbridge provisions.
fn misconfigured(queue: &str, problem: String) -> QueueError {
    QueueError::Sqs {
        operation: "GetQueueAttributes",
        queue: queue.to_owned(),
        retryable: false,
        source: problem.into(),
    }
}

/// The last path segment of a queue URL: its name.
fn name_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

/// The DLQ's name from a `RedrivePolicy` attribute (`{"deadLetterTargetArn": "arn:…:name", …}`).
pub(crate) fn dead_letter_name(redrive_policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(redrive_policy).ok()?;
    let arn = policy.get("deadLetterTargetArn")?.as_str()?;
    arn.rsplit(':').next().filter(|n| !n.trim().is_empty()).map(str::to_owned)
}

fn sent_at(message: &Message) -> Option<DateTime<Utc>> {
    let millis = message.attributes()?.get(&MessageSystemAttributeName::SentTimestamp)?.parse::<i64>().ok()?;
    DateTime::from_timestamp_millis(millis)
}

fn receive_count(message: &Message) -> u32 {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The orders and shipments queues of one stage, with their DLQs.
pub struct SqsQueueAdmin {
    client: aws_sdk_sqs::Client,
    orders: String,
    shipments: String,
    orders_dlq: OnceCell<String>,
    shipments_dlq: OnceCell<String>,
}

impl SqsQueueAdmin {
    /// The work queues by URL; their DLQs are looked up on first use.
    pub fn new(client: aws_sdk_sqs::Client, orders_url: impl Into<String>, shipments_url: impl Into<String>) -> Self {
        Self {
            client,
            orders: orders_url.into(),
            shipments: shipments_url.into(),
            orders_dlq: OnceCell::new(),
            shipments_dlq: OnceCell::new(),
        }
    }

    fn url(&self, queue: QueueName) -> &str {
        match queue {
            QueueName::Orders => &self.orders,
            QueueName::Shipments => &self.shipments,
        }
    }

    /// The DLQ's URL, from the queue's redrive policy (cached).
    async fn dlq_url(&self, queue: QueueName) -> Result<&str, QueueError> {
        let cell = match queue {
            QueueName::Orders => &self.orders_dlq,
            QueueName::Shipments => &self.shipments_dlq,
        };
        let url = self.url(queue);
        cell.get_or_try_init(|| async move {
            let out = self
                .client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::RedrivePolicy)
                .send()
                .await
                .map_err(|e| super::schema::sqs_err("GetQueueAttributes", url, e))?;
            let policy = out
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
                .ok_or_else(|| misconfigured(url, "the queue has no RedrivePolicy, so no dead-letter queue".into()))?;
            let name = dead_letter_name(policy).ok_or_else(|| {
                misconfigured(url, format!("its RedrivePolicy names no deadLetterTargetArn: {policy}"))
            })?;
            let found = self
                .client
                .get_queue_url()
                .queue_name(&name)
                .send()
                .await
                .map_err(|e| super::schema::sqs_err("GetQueueUrl", &name, e))?;
            found
                .queue_url()
                .map(str::to_owned)
                .ok_or_else(|| misconfigured(&name, "GetQueueUrl returned no URL".into()))
        })
        .await
        .map(String::as_str)
    }

    async fn counts(&self, url: &str) -> Result<(u64, u64, u64), QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| super::schema::sqs_err("GetQueueAttributes", url, e))?;
        let get = |name: QueueAttributeName| -> u64 {
            out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        ))
    }

    /// One receive of up to ten messages, hidden for `visibility` seconds. Waits a second at
    /// most: a long poll asks every SQS server, so an empty answer means the queue is empty.
    async fn receive(&self, url: &str, max: usize, visibility: i32) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(visibility)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| super::schema::sqs_err("ReceiveMessage", url, e))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Makes received messages visible again at once (a failure only delays them by the
    /// visibility timeout they were received with, so it is logged, not returned).
    async fn release(&self, url: &str, handles: &[String]) {
        for chunk in handles.chunks(10) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, handle)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            let result =
                self.client.change_message_visibility_batch().queue_url(url).set_entries(Some(entries)).send().await;
            match result {
                Ok(out) if !out.failed().is_empty() => {
                    warn!(queue = %name_of(url), failed = out.failed().len(), "Some peeked messages stay hidden until their visibility timeout.")
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(queue = %name_of(url), error = %e, "Peeked messages stay hidden until their visibility timeout.")
                }
            }
        }
    }

    /// Up to `max` distinct messages of `url`, peeked and made visible again.
    async fn peek(&self, url: &str, max: usize) -> Result<Vec<PeekedMessage>, QueueError> {
        let mut seen = BTreeMap::new();
        let mut handles = Vec::new();
        let max = max.min(PEEK_LIMIT);
        let result = async {
            while seen.len() < max {
                let batch = self.receive(url, max - seen.len(), PEEK_VISIBILITY_SECS).await?;
                if batch.is_empty() {
                    break;
                }
                for m in batch {
                    if let Some(handle) = m.receipt_handle() {
                        handles.push(handle.to_owned());
                    }
                    let Some(id) = m.message_id().map(str::to_owned) else { continue };
                    seen.entry(id.clone()).or_insert_with(|| PeekedMessage {
                        message_id: id,
                        body: m.body().map(str::to_owned),
                        sent_at: sent_at(&m),
                        receive_count: receive_count(&m),
                    });
                }
            }
            Ok::<(), QueueError>(())
        }
        .await;
        self.release(url, &handles).await;
        result?;
        let mut messages: Vec<PeekedMessage> = seen.into_values().collect();
        messages.sort_by(|a, b| a.sent_at.cmp(&b.sent_at).then_with(|| a.message_id.cmp(&b.message_id)));
        Ok(messages)
    }

    /// Sends `messages` to `target`, then deletes each sent one from `dlq`; records the outcome.
    async fn move_batch(
        &self,
        dlq: &str,
        target: &str,
        messages: &[(String, String, Option<String>)],
        report: &mut RedriveReport,
    ) -> Result<(), QueueError> {
        let entries: Vec<SendMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, (_, _, body))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body.clone().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        let sent = self
            .client
            .send_message_batch()
            .queue_url(target)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| super::schema::sqs_err("SendMessageBatch", target, e))?;
        let mut delete = Vec::new();
        for ok in sent.successful() {
            if let Some(i) = ok.id().parse::<usize>().ok().filter(|i| *i < messages.len()) {
                delete.push(i);
            }
        }
        for failed in sent.failed() {
            if let Some((id, _, _)) = failed.id().parse::<usize>().ok().and_then(|i| messages.get(i)) {
                report.failed.push((id.clone(), format!("{}: {}", failed.code(), failed.message().unwrap_or(""))));
            }
        }
        if delete.is_empty() {
            return Ok(());
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = delete
            .iter()
            .filter_map(|&i| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(&messages[i].1).build().ok()
            })
            .collect();
        let deleted = self.client.delete_message_batch().queue_url(dlq).set_entries(Some(entries)).send().await;
        let not_deleted: BTreeSet<usize> = match &deleted {
            Ok(out) => out.failed().iter().filter_map(|f| f.id().parse().ok()).collect(),
            Err(_) => delete.iter().copied().collect(),
        };
        for i in delete {
            let (id, _, body) = &messages[i];
            if not_deleted.contains(&i) {
                // Sent but still in the DLQ: it is in both now. The consumer's claim makes the
                // copy harmless; a later redrive of the DLQ copy is too.
                warn!(message_id = %id, "Redriven message could not be deleted from the DLQ; a copy stays there.");
            }
            report.moved.push(id.clone());
            report.moved_bodies.push((id.clone(), body.clone()));
        }
        Ok(())
    }
}

#[async_trait]
impl QueueAdmin for SqsQueueAdmin {
    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
        let mut stats = Vec::new();
        for queue in QueueName::ALL {
            let url = self.url(queue);
            let (visible, in_flight, delayed) = self.counts(url).await?;
            stats.push(QueueStats {
                queue,
                dead_letter: false,
                name: name_of(url),
                visible,
                in_flight,
                delayed,
                oldest_age: None,
            });
            let dlq = self.dlq_url(queue).await?;
            let (visible, in_flight, delayed) = self.counts(dlq).await?;
            // The oldest by peeking: only when something is there to peek.
            let oldest_age = if visible > 0 {
                let now = Utc::now();
                self.peek(dlq, PEEK_LIMIT)
                    .await?
                    .iter()
                    .filter_map(|m| m.sent_at)
                    .min()
                    .map(|at| (now - at).to_std().unwrap_or(Duration::ZERO))
            } else {
                None
            };
            stats.push(QueueStats {
                queue,
                dead_letter: true,
                name: name_of(dlq),
                visible,
                in_flight,
                delayed,
                oldest_age,
            });
        }
        Ok(stats)
    }

    async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<PeekedMessage>, QueueError> {
        let dlq = self.dlq_url(queue).await?;
        self.peek(dlq, max).await
    }

    async fn redrive(
        &self,
        queue: QueueName,
        selection: &RedriveSelection,
        progress: &(dyn Fn(RedriveProgress) + Send + Sync),
    ) -> Result<RedriveReport, QueueError> {
        let target = self.url(queue).to_owned();
        let dlq = self.dlq_url(queue).await?.to_owned();
        let wanted: Option<BTreeSet<&str>> = match selection {
            RedriveSelection::All => None,
            RedriveSelection::Ids(ids) => Some(ids.iter().map(String::as_str).collect()),
        };
        let expected = match &wanted {
            Some(ids) => ids.len(),
            None => self.counts(&dlq).await?.0 as usize,
        };
        let mut report = RedriveReport::default();
        // Messages received but not selected: hidden until the end, so the loop does not meet
        // them again, then made visible at once.
        let mut skipped = Vec::new();
        let mut seen = BTreeSet::new();
        let result = async {
            for _ in 0..MAX_REDRIVE_RECEIVES {
                if wanted.as_ref().is_some_and(|w| w.iter().all(|id| seen.contains(*id))) {
                    break;
                }
                let batch = self.receive(&dlq, 10, REDRIVE_VISIBILITY_SECS).await?;
                if batch.is_empty() {
                    break;
                }
                let mut chosen = Vec::new();
                for m in batch {
                    let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else { continue };
                    let selected = wanted.as_ref().is_none_or(|w| w.contains(id)) && seen.insert(id.to_owned());
                    if selected {
                        chosen.push((id.to_owned(), handle.to_owned(), m.body().map(str::to_owned)));
                    } else {
                        skipped.push(handle.to_owned());
                    }
                }
                if !chosen.is_empty() {
                    self.move_batch(&dlq, &target, &chosen, &mut report).await?;
                    // Those SQS refused to send stay in the DLQ, visible again at the end.
                    let refused: BTreeSet<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
                    skipped.extend(
                        chosen.iter().filter(|(id, _, _)| refused.contains(id.as_str())).map(|(_, h, _)| h.clone()),
                    );
                    progress(RedriveProgress { moved: report.moved.len(), failed: report.failed.len(), expected });
                }
            }
            Ok::<(), QueueError>(())
        }
        .await;
        self.release(&dlq, &skipped).await;
        result?;
        if let Some(wanted) = &wanted {
            report.not_found = wanted.iter().filter(|id| !seen.contains(**id)).map(|id| (*id).to_owned()).collect();
        }
        info!(queue = %queue, moved = report.moved.len(), failed = report.failed.len(), not_found = report.not_found.len(), "Dead letters redriven.");
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_queue_is_named_by_the_redrive_policy_arn() {
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:orderbridge-prod-orders-dlq","maxReceiveCount":5}"#;
        assert_eq!(dead_letter_name(policy).as_deref(), Some("orderbridge-prod-orders-dlq"));
        // moto writes maxReceiveCount as a string; the name is all that is read.
        let moto =
            r#"{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:x-fast-dlq", "maxReceiveCount": "5"}"#;
        assert_eq!(dead_letter_name(moto).as_deref(), Some("x-fast-dlq"));
        assert_eq!(dead_letter_name("{}"), None);
        assert_eq!(dead_letter_name("not json"), None);
        assert_eq!(dead_letter_name(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:"}"#), None);
    }

    #[test]
    fn a_queue_is_named_by_the_last_segment_of_its_url() {
        assert_eq!(name_of("http://127.0.0.1:5000/123456789012/orderbridge-local-orders"), "orderbridge-local-orders");
    }
}

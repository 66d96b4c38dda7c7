//! SQS adapter: batch sends in tens with per-entry failure handling.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::{sdk_error_is_retryable, QueueError};
use crate::ports::{OutgoingMessage, Queue, SendReport};

/// SQS accepts at most ten entries per SendMessageBatch.
const BATCH_LIMIT: usize = 10;
/// In-call retries of entries SQS reports as its own fault, and of throttled calls.
const SEND_ATTEMPTS: u32 = 4;

/// One SQS queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one chunk (≤ 10), retrying the entries that failed through no fault of ours.
    async fn send_chunk(&self, chunk: &[OutgoingMessage], report: &mut SendReport) -> Result<(), QueueError> {
        // Entry ids must be unique in a batch and match [A-Za-z0-9_-]{1,80}: use positions and
        // translate back, so callers can use any id.
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let entries: Vec<SendMessageBatchRequestEntry> = pending
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&chunk[i].body)
                        // SQS takes 0–900 s; a longer delay is sent as the longest.
                        .set_delay_seconds(chunk[i].delay.map(|d| d.as_secs().min(900) as i32))
                        .build()
                        .expect("batch entry has id and body")
                })
                .collect();
            let result = self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await;
            let out = match result {
                Ok(out) => out,
                Err(err) => {
                    let retryable = sdk_error_is_retryable(&err);
                    if retryable && attempt < SEND_ATTEMPTS {
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(QueueError::Sqs {
                        operation: "SendMessageBatch",
                        queue: self.url.clone(),
                        retryable,
                        source: Box::new(err),
                    });
                }
            };
            for ok in out.successful() {
                if let Some(i) = ok.id().parse::<usize>().ok().filter(|i| *i < chunk.len()) {
                    report.sent.push(chunk[i].entry_id.clone());
                }
            }
            let mut retry = Vec::new();
            for failed in out.failed() {
                let Some(i) = failed.id().parse::<usize>().ok().filter(|i| *i < chunk.len()) else { continue };
                if !failed.sender_fault() && attempt < SEND_ATTEMPTS {
                    retry.push(i);
                } else {
                    let reason = format!("{}: {}", failed.code(), failed.message().unwrap_or("no message"));
                    report.failed.push((chunk[i].entry_id.clone(), reason));
                }
            }
            if !retry.is_empty() {
                tokio::time::sleep(backoff(attempt)).await;
            }
            pending = retry;
        }
        Ok(())
    }
}

/// Exponential backoff with full jitter, capped at two seconds (we are inside a Lambda call).
fn backoff(attempt: u32) -> Duration {
    let cap_ms = (50u64 << attempt.min(6)).min(2_000);
    Duration::from_millis(rand::random::<u64>() % cap_ms + 1)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Result<SendReport, QueueError> {
        let mut report = SendReport::default();
        for chunk in batches(&messages) {
            self.send_chunk(chunk, &mut report).await?;
        }
        Ok(report)
    }
}

/// SQS refuses a batch whose bodies add up to more than 256 KiB (`BatchRequestTooLong`), so
/// large messages (whole orders) go in smaller batches; a message alone over the limit goes alone
/// and SQS reports it failed, by entry.
const BATCH_BYTES: usize = 256 * 1024;

/// Batches of at most ten messages and `BATCH_BYTES`, in order.
fn batches(messages: &[OutgoingMessage]) -> Vec<&[OutgoingMessage]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, message) in messages.iter().enumerate() {
        let size = message.body.len();
        if i > start && (i - start == BATCH_LIMIT || bytes + size > BATCH_BYTES) {
            out.push(&messages[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

#[async_trait]
impl crate::ports::Backlog for SqsQueue {
    /// `ApproximateNumberOfMessages`: messages waiting to be received (those in flight are being
    /// worked on already).
    async fn waiting(&self) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|err| QueueError::Sqs {
                operation: "GetQueueAttributes",
                queue: self.url.clone(),
                retryable: sdk_error_is_retryable(&err),
                source: Box::new(err),
            })?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    fn message(i: usize, kib: usize) -> OutgoingMessage {
        OutgoingMessage { entry_id: i.to_string(), body: "x".repeat(kib * 1024), delay: None }
    }

    #[test]
    fn batches_hold_ten_messages_and_at_most_256_kib() {
        let small: Vec<_> = (0..23).map(|i| message(i, 1)).collect();
        assert_eq!(batches(&small).iter().map(|b| b.len()).collect::<Vec<_>>(), [10, 10, 3]);
        let large: Vec<_> = (0..10).map(|i| message(i, 60)).collect();
        let sizes: Vec<usize> = batches(&large).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [4, 4, 2], "60 KiB each: four fit in 256 KiB");
        let huge = vec![message(0, 300), message(1, 1)];
        assert_eq!(batches(&huge).iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1], "an oversized one alone");
        assert!(batches(&[]).is_empty());
        let all: Vec<&str> = batches(&large).iter().flat_map(|b| b.iter().map(|m| m.entry_id.as_str())).collect();
        assert_eq!(all, (0..10).map(|i| i.to_string()).collect::<Vec<_>>(), "every message once, in order");
    }
}

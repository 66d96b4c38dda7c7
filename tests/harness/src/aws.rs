//! The local AWS emulator as the harness uses it: a fresh set of tables and queues per run.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use orderbridge::aws::schema::{self, Provisioned, QueueUrls};

/// How to reach the emulator; the error says how to start it.
#[derive(Debug, thiserror::Error)]
pub enum LocalAwsError {
    #[error(
        "the local AWS emulator is not configured: AWS_ENDPOINT_URL is unset. Run through `make demo` / `make test`, \
         or `make local-up && source .local/stack.env`"
    )]
    NotConfigured,
    #[error("the local AWS emulator at {0} is unreachable. Run through `make demo` / `make test`, or `make local-up && source .local/stack.env`")]
    Unreachable(String),
    #[error("provisioning failed: {0}")]
    Provision(String),
}

/// Clients and resources of one harness run.
pub struct LocalAws {
    pub sdk: aws_config::SdkConfig,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub resources: Provisioned,
}

/// A prefix unique to this process and call.
pub fn unique_prefix(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis() % 10_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

impl LocalAws {
    /// Provisions every table and queue under `prefix`. `queue_timing` overrides the queues'
    /// (visibility seconds, maxReceiveCount) so redeliveries happen within a test's time.
    pub async fn provision(prefix: &str, queue_timing: Option<(u32, u32)>) -> Result<Self, LocalAwsError> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| LocalAwsError::NotConfigured)?;
        let addr = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let reachable = addr
            .parse()
            .ok()
            .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok());
        if !reachable {
            return Err(LocalAwsError::Unreachable(endpoint));
        }
        let sdk = orderbridge::aws::sdk_defaults()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "static"))
            .load()
            .await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut resources =
            schema::provision(&dynamo, &sqs, prefix).await.map_err(|e| LocalAwsError::Provision(e.to_string()))?;
        if let Some(timing) = queue_timing {
            for (spec, urls) in
                [(&schema::ORDERS_QUEUE, &mut resources.orders), (&schema::SHIPMENTS_QUEUE, &mut resources.shipments)]
            {
                *urls = schema::ensure_queue(
                    &sqs,
                    spec,
                    &format!("{}-fast", spec.physical_name(prefix)),
                    &format!("{}-fast-dlq", spec.physical_name(prefix)),
                    Some(timing),
                )
                .await
                .map_err(|e| LocalAwsError::Provision(e.to_string()))?;
            }
        }
        Ok(Self { sdk, dynamo, sqs, resources })
    }

    /// Messages waiting or in flight on a queue.
    pub async fn queue_depth(&self, url: &str) -> (u64, u64) {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .ok();
        let get = |name: QueueAttributeName| {
            attrs
                .as_ref()
                .and_then(|a| a.attributes())
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            // Delayed messages are not done either: they become visible by themselves.
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                + get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        )
    }

    /// Receives up to ten messages as the SQS event source would hand them to a function.
    pub async fn receive_event(&self, queue: &QueueUrls, wait_secs: i32) -> aws_lambda_events::event::sqs::SqsEvent {
        self.receive_up_to(queue, wait_secs, 10).await
    }

    async fn receive_up_to(
        &self,
        queue: &QueueUrls,
        wait_secs: i32,
        max: i32,
    ) -> aws_lambda_events::event::sqs::SqsEvent {
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        let Ok(out) = self
            .sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
        else {
            return event;
        };
        for m in out.messages() {
            let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
            record.message_id = m.message_id().map(str::to_owned);
            record.receipt_handle = m.receipt_handle().map(str::to_owned);
            record.body = m.body().map(str::to_owned);
            if let Some(count) =
                m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            {
                record.attributes.insert("ApproximateReceiveCount".into(), count.clone());
            }
            record.event_source = Some("aws:sqs".into());
            event.records.push(record);
        }
        event
    }

    /// One batch as Lambda's SQS event source hands it over with `MaximumBatchingWindowInSeconds`
    /// = `window`: after the first message arrives (long-polling `wait_secs`), it keeps gathering
    /// until the batch holds 10 records or `window` has passed since then.
    pub async fn receive_batch(
        &self,
        queue: &QueueUrls,
        wait_secs: i32,
        window: std::time::Duration,
    ) -> aws_lambda_events::event::sqs::SqsEvent {
        let mut event = self.receive_event(queue, wait_secs).await;
        if event.records.is_empty() || window.is_zero() {
            return event;
        }
        let until = std::time::Instant::now() + window;
        while event.records.len() < 10 && std::time::Instant::now() < until {
            let room = i32::try_from(10 - event.records.len()).unwrap_or(1);
            let more = self.receive_up_to(queue, 0, room).await;
            if more.records.is_empty() {
                let left = until.saturating_duration_since(std::time::Instant::now());
                tokio::time::sleep(std::time::Duration::from_millis(100).min(left)).await;
                continue;
            }
            event.records.extend(more.records);
        }
        event
    }

    /// Deletes the records the function did not report as failed, as the event source mapping does.
    pub async fn delete_succeeded(
        &self,
        queue: &QueueUrls,
        event: &aws_lambda_events::event::sqs::SqsEvent,
        response: &aws_lambda_events::event::sqs::SqsBatchResponse,
    ) -> usize {
        let failed: std::collections::HashSet<&str> =
            response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        let mut deleted = 0;
        for record in &event.records {
            let (Some(id), Some(handle)) = (record.message_id.as_deref(), record.receipt_handle.as_deref()) else {
                continue;
            };
            if failed.contains(id) {
                continue;
            }
            if self.sqs.delete_message().queue_url(&queue.url).receipt_handle(handle).send().await.is_ok() {
                deleted += 1;
            }
        }
        deleted
    }
}

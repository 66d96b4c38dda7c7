//! The operator's view of the stage's queues: depth and age of each queue and its dead-letter
//! queue, the dead letters themselves, and moving them back (redrive).
//!
//! Vendor-neutral and message-neutral: bodies come back as the queue holds them; what a body
//! means (an order to import, a shipment to push) is read by `ops::queues`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::QueueError;

/// One of the stage's two work queues (each with its dead-letter queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    /// order-pull → order-import.
    Orders,
    /// shipment-webhook and the catch-up poll → status-push.
    Shipments,
}

impl QueueName {
    pub const ALL: [QueueName; 2] = [QueueName::Orders, QueueName::Shipments];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Shipments => "shipments",
        }
    }

    /// `orders` or `shipments` (case-insensitive), as the console and the CLI name them.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "orders" => Some(Self::Orders),
            "shipments" => Some(Self::Shipments),
            _ => None,
        }
    }
}

impl std::fmt::Display for QueueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Depth and age of one queue (or its dead-letter queue), as the queue reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queue: QueueName,
    /// True for the dead-letter queue of `queue`.
    pub dead_letter: bool,
    /// The physical queue name (`orderbridge-prod-orders-dlq`).
    pub name: String,
    /// Waiting to be received (`ApproximateNumberOfMessages`).
    pub visible: u64,
    /// Received and not yet deleted (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// Sent with a delay not yet over (`ApproximateNumberOfMessagesDelayed`).
    pub delayed: u64,
    /// Age of the oldest message. Dead-letter queues: the oldest `SentTimestamp` among the
    /// messages peeked (up to [`PEEK_LIMIT`]). Work queues: None, because peeking would raise
    /// each message's receive count towards the DLQ; in AWS, CloudWatch's
    /// `ApproximateAgeOfOldestMessage` has it.
    #[serde(with = "opt_secs", default)]
    pub oldest_age: Option<Duration>,
}

/// How many dead letters a peek reads at most (each receive is ten).
pub const PEEK_LIMIT: usize = 200;

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// A message of a dead-letter queue, peeked (made visible again right after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekedMessage {
    pub message_id: String,
    pub body: Option<String>,
    /// When it was first sent (`SentTimestamp`; SQS keeps it when it moves a message to the DLQ).
    pub sent_at: Option<DateTime<Utc>>,
    /// `ApproximateReceiveCount`: the receives on the work queue that sent it here, plus earlier
    /// peeks of the DLQ itself.
    pub receive_count: u32,
}

/// Which dead letters to move back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveSelection {
    All,
    /// These message ids (as the DLQ listing shows them).
    Ids(Vec<String>),
}

/// How far a redrive has got, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveProgress {
    pub moved: usize,
    pub failed: usize,
    /// How many were to be moved: the ids given, or the DLQ's depth when it started.
    pub expected: usize,
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedriveReport {
    /// Message ids moved back to the work queue (they get new ids there).
    pub moved: Vec<String>,
    /// Message ids not moved, with why; they stay in the DLQ.
    pub failed: Vec<(String, String)>,
    /// Ids asked for that the DLQ did not hand out (already moved, expired, or in flight).
    pub not_found: Vec<String>,
    /// The bodies of the moved messages, in the order moved (for the connector log).
    #[serde(skip)]
    pub moved_bodies: Vec<(String, Option<String>)>,
}

/// The stage's queues as an operator handles them.
#[async_trait]
pub trait QueueAdmin: Send + Sync {
    /// Each work queue and its dead-letter queue, in [`QueueName::ALL`] order, queue before DLQ.
    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError>;
    /// Up to `max` messages of `queue`'s dead-letter queue, peeked with a short visibility timeout
    /// and made visible again.
    async fn dead_letters(&self, queue: QueueName, max: usize) -> Result<Vec<PeekedMessage>, QueueError>;
    /// Moves the selected dead letters back to `queue` (send, then delete from the DLQ: a crash in
    /// between leaves a copy in both, which the consumers' claims make harmless).
    async fn redrive(
        &self,
        queue: QueueName,
        selection: &RedriveSelection,
        progress: &(dyn Fn(RedriveProgress) + Send + Sync),
    ) -> Result<RedriveReport, QueueError>;
}

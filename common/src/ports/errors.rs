//! The errors the ports speak: each port owns its failure type, and adapters translate their own
//! (DynamoDB, SQS, HTTP) into it, so flows classify failures without knowing which adapter failed.

use std::error::Error as StdError;
use std::time::Duration;

use crate::error::{classify_http_status, Classify, ErrorClass};

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A failure of the state store (claims, bindings, cursors, markers, mappings) or the connector log.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("DynamoDB {operation} on table {table} failed")]
    Dynamo {
        operation: &'static str,
        table: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
    #[error("claim {key} was taken over by another worker after this worker's lease expired")]
    LeaseLost { key: String },
    #[error("cursor {connection}/{stream} was saved concurrently (expected version {expected:?})")]
    CursorConflict { connection: String, stream: String, expected: Option<u64> },
    #[error(
        "channel order {channel_order} is already bound to ERP order {existing}; refusing to bind it to {attempted}"
    )]
    BindingConflict { channel_order: String, existing: String, attempted: String },
    #[error("stored item {key} in table {table} is malformed: {detail}")]
    Corrupt { table: String, key: String, detail: String },
}

impl Classify for LedgerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Dynamo { retryable: true, .. } | Self::CursorConflict { .. } => ErrorClass::RETRY,
            // Another worker owns the effect now; redelivery will find it completed.
            Self::LeaseLost { .. } => ErrorClass::RETRY,
            Self::Dynamo { .. } | Self::BindingConflict { .. } | Self::Corrupt { .. } => ErrorClass::Permanent,
        }
    }
}

/// A failure to send to or receive from a queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS {operation} on {queue} failed")]
    Sqs {
        operation: &'static str,
        queue: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
    #[error("message for {queue} could not be encoded")]
    Encode {
        queue: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Classify for QueueError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Sqs { retryable: true, .. } => ErrorClass::RETRY,
            _ => ErrorClass::Permanent,
        }
    }
}

/// How far a request got before its transport failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportStage {
    /// The request could not even be built (a malformed URL): retrying cannot help.
    Build,
    /// No connection was made: the vendor never saw the request, so even a create may be repeated.
    Connect,
    /// Sent, but no complete answer came back: the vendor may have acted on it.
    Exchange,
}

/// A vendor call that failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{vendor} {operation}: request failed before a response arrived")]
    Transport {
        vendor: &'static str,
        operation: &'static str,
        stage: TransportStage,
        #[source]
        source: BoxError,
    },
    #[error("{vendor} {operation}: HTTP {status}: {message}")]
    Status {
        vendor: &'static str,
        operation: &'static str,
        status: u16,
        /// The vendor's error message (from its documented error envelope), trimmed.
        message: String,
        retry_after: Option<Duration>,
    },
    /// The vendor's budget is spent. `message` keeps the vendor's own words: an ERP's 429 may
    /// mean requests per minute or that every licensed API user is signed in, and only the words
    /// tell an operator which limit to look at.
    #[error("{vendor} {operation}: rate limited ({message}); {}", retry_text(*retry_after))]
    RateLimited { vendor: &'static str, operation: &'static str, message: String, retry_after: Option<Duration> },
    /// The answer could not be read at all (not the documented envelope): most often a proxy's
    /// error page, so it is retried, then the DLQ.
    #[error("{vendor} {operation}: unexpected response body: {detail}")]
    Decode { vendor: &'static str, operation: &'static str, detail: String },
    /// The answer was read, but the record in it can never become a canonical one (a field the
    /// model refuses): retrying returns the same record, so it is that record's permanent failure.
    #[error("{vendor} {operation}: {detail}")]
    Unmappable { vendor: &'static str, operation: &'static str, detail: String },
    #[error("{vendor} {operation}: {message}")]
    Rejected { vendor: &'static str, operation: &'static str, message: String },
    /// Refused with 401 right after signing in (or renewing the token) with the configured
    /// credentials: the credentials are wrong or lack the permission.
    #[error("{vendor} {operation}: the credentials of connection {connection} were refused: {message}")]
    Unauthorized { vendor: &'static str, operation: &'static str, connection: String, message: String },
    /// The connector has no way to do this (a backfill of a channel that cannot list orders by
    /// creation date).
    #[error("connection {connection}: {operation} is not supported by this channel")]
    Unsupported { connection: String, operation: &'static str },
    /// Signed in again after a 401 and refused again: the new session was ended at once (another
    /// sign-out, or the licence's API-user limit). The credentials work (the sign-in succeeded),
    /// so this is worth retrying later, not recording as the order's failure.
    #[error("{vendor} {operation}: the session was ended again right after signing in; will retry")]
    SessionLost { vendor: &'static str, operation: &'static str },
    /// The state table holding the shared sign-in token could not be read or written.
    #[error("{vendor} sign-in: the shared token could not be read or saved")]
    TokenStore {
        vendor: &'static str,
        #[source]
        source: LedgerError,
    },
}

fn retry_text(after: Option<Duration>) -> String {
    match after {
        Some(wait) => format!("retry in {:.1} s", wait.as_secs_f64()),
        None => "the vendor gave no reset time; retried with backoff".to_owned(),
    }
}

impl Classify for ConnectorError {
    fn class(&self) -> ErrorClass {
        match self {
            // Timeouts and refused connections are transient; a malformed request URL is not.
            Self::Transport { stage: TransportStage::Build, .. } => ErrorClass::Permanent,
            Self::Transport { .. } => ErrorClass::RETRY,
            Self::Status { status, retry_after, .. } => classify_http_status(*status, *retry_after),
            Self::RateLimited { retry_after, .. } => ErrorClass::Retryable { after: *retry_after },
            Self::Decode { .. } => ErrorClass::RETRY,
            Self::Unmappable { .. } | Self::Rejected { .. } | Self::Unauthorized { .. } | Self::Unsupported { .. } => {
                ErrorClass::Permanent
            }
            Self::SessionLost { .. } => ErrorClass::Retryable { after: Some(Duration::from_secs(5)) },
            // The state table, not the order: retried, and in the DLQ if it lasts.
            Self::TokenStore { .. } => ErrorClass::RETRY,
        }
    }
}

/// A webhook that was refused. Each variant maps to the HTTP status the intake answers with.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("signature does not match")]
    BadSignature,
    #[error("timestamp outside the tolerance window")]
    Stale,
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error("resource host {0:?} is not on the allowlist")]
    ForeignHost(String),
}

impl WebhookError {
    /// The status code a refused delivery gets; never a body that reveals internals.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Unauthorized | Self::BadSignature | Self::Stale => 401,
            Self::TooLarge { .. } => 413,
            Self::Malformed(_) | Self::ForeignHost(_) => 400,
        }
    }
}

impl Classify for WebhookError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

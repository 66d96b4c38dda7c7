//! AWS adapters: DynamoDB (ledger, connector log) and SQS (typed envelopes, batch helpers).

mod batch;
mod connector_log;
mod envelope;
mod item;
mod ledger;
mod queue;
pub mod schema;

use std::error::Error as StdError;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use batch::{process_batch, ErrorChain, RecordMeta};
pub use connector_log::DynamoConnectorLog;
pub use envelope::{Envelope, EnvelopeError};
pub use ledger::DynamoLedger;
pub use queue::SqsQueue;

use crate::error::{Classify, ErrorClass};

type BoxError = Box<dyn StdError + Send + Sync>;

/// A failure of the DynamoDB-backed ledger or connector log.
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

/// A failure to send to or receive from SQS.
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

/// Error codes AWS documents as transient for DynamoDB and SQS.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "TransactionConflictException",
    "RequestThrottled",
    "KMSThrottlingException",
];

/// Whether an SDK error is worth retrying: transport failures and timeouts always are,
/// service errors when AWS documents their code as transient.
pub(crate) fn sdk_error_is_retryable<E, R>(error: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => service.err().code().is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    }
}

/// Wraps a DynamoDB SDK error with the operation and table it came from, classified.
pub(crate) fn dynamo_error<E, R>(
    operation: &'static str,
    table: &str,
    source: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> LedgerError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    LedgerError::Dynamo {
        operation,
        table: table.to_owned(),
        retryable: sdk_error_is_retryable(&source),
        source: Box::new(source),
    }
}

/// Shared AWS configuration, loaded once per cold start. `AWS_ENDPOINT_URL` (read natively by
/// the SDK) points it at the local emulator in tests and the demo.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

//! AWS adapters: DynamoDB (ledger, connector log) and SQS (typed envelopes, batch helpers).

mod batch;
mod budgets;
mod connector_log;
mod dead_letters;
mod item;
mod ledger;
mod metered;
mod queue;
pub mod schema;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use crate::ports::{Envelope, EnvelopeError};
pub use batch::{process_batch, RecordMeta};
pub use connector_log::DynamoConnectorLog;
pub use dead_letters::SqsQueueAdmin;
pub use ledger::DynamoLedger;
pub use metered::{dynamodb_client, sqs_client};
pub use queue::SqsQueue;

pub use crate::error::ErrorChain;
pub use crate::ports::{LedgerError, QueueError};

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
    sdk_defaults().load().await
}

/// The SDK's configuration loader with our HTTPS client: every SDK config (the functions', the
/// tests', the harness's) starts here, as the SDK is built without a default client.
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client())
}

/// The SDK's HTTPS client: hyper on rustls with ring (the crypto reqwest uses for the vendors).
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

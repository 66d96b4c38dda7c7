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

/// The functions' AWS configuration, built once per cold start from the environment Lambda sets:
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`) and the execution role's `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. `AWS_ENDPOINT_URL` (and the per-service
/// `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_DYNAMODB`, see [`service_endpoint`]) point it at the
/// local emulator in tests and the demo, as the SDK's own loader would.
///
/// Not the SDK's default loader: its credential and region chains (profile files, SSO,
/// `credential_process`, web identity and assume-role through STS, the ECS and EC2 metadata
/// endpoints) are never reached in Lambda, yet linked them into every function's binary. An
/// operator's machine needs them: `orderbridge-admin` loads [`load_operator_sdk_config`].
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
    use aws_sdk_dynamodb::config::SharedCredentialsProvider;
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).map(aws_config::Region::new);
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .http_client(http_client())
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .retry_config(aws_config::retry::RetryConfig::standard());
    if let Some(url) = env("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// The service's own endpoint from the environment (`AWS_ENDPOINT_URL_SQS`,
/// `AWS_ENDPOINT_URL_DYNAMODB`), which the SDK's default loader reads and [`load_sdk_config`]
/// leaves to each client.
pub fn service_endpoint(service: &str) -> Option<String> {
    env(&format!("AWS_ENDPOINT_URL_{service}"))
}

/// An environment variable's trimmed value; unset and blank are both `None`.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A DynamoDB client configuration on `sdk`, at the service's own endpoint when the environment names one.
pub fn dynamodb_config(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk);
    match service_endpoint("DYNAMODB") {
        Some(url) => config.endpoint_url(url),
        None => config,
    }
}

/// An SQS client configuration on `sdk`, at the service's own endpoint when the environment names one.
pub fn sqs_config(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::config::Builder {
    let config = aws_sdk_sqs::config::Builder::from(sdk);
    match service_endpoint("SQS") {
        Some(url) => config.endpoint_url(url),
        None => config,
    }
}

/// A DynamoDB client on `sdk` (see [`dynamodb_config`]).
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config(sdk).build())
}

/// An SQS client on `sdk` (see [`sqs_config`]).
pub fn sqs(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(sqs_config(sdk).build())
}

/// The SDK's default configuration chain (profiles, SSO, assume-role, instance metadata), for
/// `orderbridge-admin` on an operator's machine.
pub async fn load_operator_sdk_config() -> aws_config::SdkConfig {
    sdk_defaults().load().await
}

/// The SDK's configuration loader with our HTTPS client: every SDK config (the functions', the
/// tests', the harness's) starts here, as the SDK is built without a default client.
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client())
}

/// The SDK's HTTPS client: hyper on rustls with ring (the crypto reqwest uses for the vendors),
/// trusting Mozilla's root certificates compiled into the binary, as reqwest does for the vendors.
/// The SDK's default reads the system's store (`/etc/ssl/certs`, every file) when a client is built,
/// which `make bench` measured at about half of each function's cold start; AWS's endpoints chain
/// to Amazon's roots, which Mozilla's set carries. Falls back to the system's store if the compiled
/// set were ever refused.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
    let builder = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    let store = TrustStore::empty().with_native_roots(false).with_pem_certificate(compiled_roots_pem());
    let client = match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(e) => {
            tracing::warn!(error = %e, "The compiled root certificates were refused; using the system's.");
            builder.build_https()
        }
    };
    aws_sdk_dynamodb::config::SharedHttpClient::new(FirstUse(client))
}

/// The SDK's HTTP client, its TLS connector (and root store) built at the first request rather
/// than when an SDK client is constructed: the smithy client builds it in
/// `validate_base_client_config` on purpose, which put it in every function's cold start, before
/// the first `next` (the init `make bench` compares with a hello-world binary). The first
/// request of an invocation pays it instead, once per container.
#[derive(Debug)]
struct FirstUse(aws_sdk_dynamodb::config::SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for FirstUse {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::HttpClient::http_connector(&self.0, settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        aws_smithy_runtime_api::client::http::HttpClient::connector_metadata(&self.0)
    }
}

/// Mozilla's root certificates (`webpki-root-certs`) as one PEM bundle.
fn compiled_roots_pem() -> Vec<u8> {
    use base64::Engine;
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod roots_tests {
    #[test]
    fn the_compiled_roots_make_one_pem_bundle_with_amazons_roots() {
        let pem = String::from_utf8(super::compiled_roots_pem()).unwrap();
        let certs = pem.matches("-----BEGIN CERTIFICATE-----").count();
        assert!(certs > 100, "{certs} roots");
        assert_eq!(certs, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        // Amazon Root CA 1's subject, DER-encoded ("Amazon Root CA 1" as a PrintableString).
        let amazon = b"Amazon Root CA 1";
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .any(|c| c.as_ref().windows(amazon.len()).any(|w| w == amazon)));
        let store = aws_smithy_http_client::tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(pem);
        assert!(aws_smithy_http_client::tls::TlsContext::builder().with_trust_store(store).build().is_ok());
    }
}

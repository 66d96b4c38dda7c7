//! Tracing setup: JSON lines in Lambda (CloudWatch Logs Insights can filter on the fields),
//! compact human-readable lines elsewhere.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored (tests call it freely).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let result = if in_lambda {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(false)
            .flatten_event(true)
            .with_target(false)
            // CloudWatch stamps each line itself.
            .without_time()
            .try_init()
    } else {
        tracing_subscriber::fmt().compact().with_env_filter(filter).with_writer(std::io::stderr).try_init()
    };
    // Already initialised (tests, or a second call): keep the first subscriber.
    let _ = result;
}

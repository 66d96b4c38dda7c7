//! Tracing setup: JSON lines in Lambda (CloudWatch Logs Insights can filter on the fields),
//! compact human-readable lines elsewhere.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `RUST_LOG` as target=level directives (`info`, `warn,orderbridge=debug`), else `info`. A
/// `Targets` filter rather than `EnvFilter`: no span or field matching, and so no regex engine
/// in every binary (part of the init and size budget).
fn filter(directives: Option<&str>) -> Targets {
    directives
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// Installs the global subscriber once; later calls are ignored (tests call it freely).
pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let result = if in_lambda {
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .flatten_event(true)
            .with_target(false)
            // CloudWatch stamps each line itself.
            .without_time();
        tracing_subscriber::registry().with(layer).with(filter).try_init()
    } else {
        let layer = tracing_subscriber::fmt::layer().compact().with_writer(std::io::stderr);
        tracing_subscriber::registry().with(layer).with(filter).try_init()
    };
    // Already initialised (tests, or a second call): keep the first subscriber.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn rust_log_directives_set_levels_per_target_else_info() {
        let targets = filter(Some("warn,orderbridge=debug"));
        assert!(targets.would_enable("orderbridge::flows", &tracing::Level::DEBUG));
        assert!(!targets.would_enable("aws_smithy_runtime", &tracing::Level::INFO));
        for fallback in [None, Some("orderbridge=loud")] {
            let targets = filter(fallback);
            assert_eq!(targets.default_level(), Some(LevelFilter::INFO), "{fallback:?}");
            assert!(!targets.would_enable("orderbridge", &tracing::Level::DEBUG));
        }
    }
}

//! order-pull: on each EventBridge schedule, page through every enabled sales channel's new
//! orders and enqueue one import message per order.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use orderbridge::handlers::{deadline_from, from_env, PullApp, PullSummary};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderbridge::telemetry::init();
    let app = Arc::new(from_env::<PullApp>().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            let deadline = deadline_from(
                event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default(),
            );
            let summary = PullSummary::from(app.run_pull(deadline).await);
            // A failed connection fails the invocation so the error metric and alarm see it; the
            // other connections' work is already saved (cursors, queue).
            summary.into_result().map_err(Error::from)
        }
    }))
    .await
}

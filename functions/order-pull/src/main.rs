//! order-pull: on each EventBridge schedule, page through every enabled sales channel's new
//! orders and enqueue one import message per order. Any other event is refused.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent};
use orderbridge::handlers::{classify, deadline_from, from_env, PullApp, PullSummary, Trigger, UnexpectedEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderbridge::telemetry::init();
    let metrics = orderbridge::metrics::install("order-pull");
    let app = Arc::new(from_env::<PullApp>().await?);
    orderbridge::metrics::run_metered(metrics, move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            if let trigger @ (Trigger::Sqs(_) | Trigger::Followups) = classify(event.payload)? {
                return Err(UnexpectedEvent(format!("order-pull runs on its schedule, not {}", trigger.name())).into());
            }
            let remaining = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
            // A failed connection fails the invocation so the error metric and alarm see it; the
            // other connections' work is already saved (cursors, queue).
            PullSummary::from(app.run_pull(deadline_from(remaining)).await).into_result().map_err(Error::from)
        }
    })
    .await
}

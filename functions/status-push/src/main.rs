//! status-push: consumes the shipments queue (webhook events, shipments found by the poll) and
//! pushes tracking, statuses and notes to the channel each order came from, reporting partial
//! batch failures; on its EventBridge schedule it runs the catch-up poll instead, and on the
//! follow-ups schedule the charges pass and the personal-data purge. Any other event
//! is refused.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent};
use orderbridge::handlers::{classify, deadline_from, from_env, StatusApp, Trigger};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderbridge::telemetry::init();
    let metrics = orderbridge::metrics::install("status-push");
    let app = Arc::new(from_env::<StatusApp>().await?);
    orderbridge::metrics::run_metered(metrics, move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            match classify(event.payload)? {
                Trigger::Sqs(batch) => {
                    let remaining =
                        event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
                    let response = app.run_batch(batch, deadline_from(remaining), &event.context.request_id).await;
                    Ok(serde_json::to_value(response)?)
                }
                Trigger::Schedule => app.run_catch_up().await.into_result().map_err(Error::from),
                Trigger::Followups => {
                    let remaining =
                        event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
                    app.run_followups(deadline_from(remaining)).await.into_result().map_err(Error::from)
                }
            }
        }
    })
    .await
}

//! order-import: consume the orders queue, import each order into the ERP exactly once, and
//! report partial batch failures so only the failed orders are redelivered. Any other event is
//! refused.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent};
use orderbridge::handlers::{classify, deadline_from, from_env, ImportApp, Trigger, UnexpectedEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderbridge::telemetry::init();
    let metrics = orderbridge::metrics::install("order-import");
    let app = Arc::new(from_env::<ImportApp>().await?);
    orderbridge::metrics::run_metered(metrics, move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            let Trigger::Sqs(batch) = classify(event.payload)? else {
                return Err(UnexpectedEvent("order-import consumes the orders queue only".into()).into());
            };
            let remaining = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
            let response = app.run_import_batch(batch, deadline_from(remaining), &event.context.request_id).await;
            Ok::<_, Error>(serde_json::to_value(response)?)
        }
    })
    .await
}

//! order-import: consume the orders queue, import each order into the ERP exactly once, and
//! report partial batch failures so only the failed orders are redelivered.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orderbridge::handlers::{deadline_from, from_env, ImportApp};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderbridge::telemetry::init();
    let app = Arc::new(from_env::<ImportApp>().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move {
            let deadline = deadline_from(
                event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default(),
            );
            let response: SqsBatchResponse =
                app.run_import_batch(event.payload, deadline, &event.context.request_id).await;
            Ok::<_, Error>(response)
        }
    }))
    .await
}

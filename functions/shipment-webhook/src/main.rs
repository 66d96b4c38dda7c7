//! shipment-webhook: behind an API Gateway HTTP API. Authenticates each delivery (ShipStation
//! token, Acumatica push header, Standard Webhooks signature), deduplicates it, enqueues it on the
//! shipments queue and answers at once; no vendor is called in the request path.

use std::sync::Arc;

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{Error, LambdaEvent};
use orderbridge::handlers::{from_env, WebhookApp};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderbridge::telemetry::init();
    let metrics = orderbridge::metrics::install("shipment-webhook");
    let app = Arc::new(from_env::<WebhookApp>().await?);
    orderbridge::metrics::run_metered(metrics, move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let app = app.clone();
        async move { Ok::<ApiGatewayV2httpResponse, Error>(app.handle(&event.payload).await) }
    })
    .await
}

//! console: the operator console's pages and actions behind the HTTP API (`/console/...`).
//! The same router `orderbridge-admin console` serves locally; this only adapts it to Lambda.

use std::sync::Arc;

use orderbridge::console::{router, ConsoleApp};
use orderbridge::handlers::from_env;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderbridge::telemetry::init();
    let app = Arc::new(from_env::<ConsoleApp>().await?);
    lambda_http::run(router(app)).await
}

//! The baseline for `make bench`: a lambda_runtime function that answers each event with itself,
//! built with the same release profile as the four Orderbridge functions. Whatever init time,
//! memory or size the real functions spend beyond this is theirs.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}

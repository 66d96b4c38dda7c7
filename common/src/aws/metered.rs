//! DynamoDB and SQS clients that count their requests, for the per-invocation cost estimate
//! (`crate::metrics::EstimatedCostPer1000Orders`): one SDK interceptor, no change to the adapters.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

use crate::metrics::{count_aws_request, AwsRequest};

/// DynamoDB operations billed as reads (everything else is priced as a write).
const DYNAMODB_READS: &[&str] = &["GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable"];

/// Counts each request as it is sent (retries included: each attempt is billed).
#[derive(Debug, Clone, Copy)]
struct CountRequests {
    service: Service,
}

#[derive(Debug, Clone, Copy)]
enum Service {
    DynamoDb,
    Sqs,
}

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "OrderbridgeCountRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let kind = match self.service {
            Service::Sqs => AwsRequest::Sqs,
            // DynamoDB's JSON protocol names the operation in `X-Amz-Target: DynamoDB_20120810.GetItem`.
            Service::DynamoDb => {
                let target = context.request().headers().get("x-amz-target").unwrap_or_default();
                let operation = target.rsplit('.').next().unwrap_or_default();
                if DYNAMODB_READS.contains(&operation) {
                    AwsRequest::DynamoDbRead
                } else {
                    AwsRequest::DynamoDbWrite
                }
            }
        };
        count_aws_request(kind);
        Ok(())
    }
}

/// A DynamoDB client on `sdk` whose requests are counted.
pub fn dynamodb_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = super::dynamodb_config(sdk).interceptor(CountRequests { service: Service::DynamoDb });
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// An SQS client on `sdk` whose requests are counted.
pub fn sqs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let config = super::sqs_config(sdk).interceptor(CountRequests { service: Service::Sqs });
    aws_sdk_sqs::Client::from_conf(config.build())
}

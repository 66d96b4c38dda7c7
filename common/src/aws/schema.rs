//! The tables and queues Orderbridge needs, defined once.
//!
//! The local stack and every emulator test create resources from these definitions, and a test
//! (`tests/template_drift.rs`) checks that `infra/template.yaml` declares the same keys, indexes,
//! TTL attribute and redrive settings, so the emulator never tests a different shape than AWS runs.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::{dynamo_error, sdk_error_is_retryable, LedgerError, QueueError};

/// The attribute every table uses for DynamoDB TTL (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// A global secondary index, projecting all attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// A table with string partition and sort keys, on-demand billing and TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The resource's logical id in `infra/template.yaml`.
    pub logical_id: &'static str,
    /// Suffix of the physical name: `{prefix}-{suffix}`.
    pub suffix: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexSpec],
    pub ttl_attribute: &'static str,
}

/// Ledger state: claims, bindings (with the reverse index), cursors, dedupe keys, mappings.
pub const STATE_TABLE: TableSpec = TableSpec {
    logical_id: "StateTable",
    suffix: "state",
    partition_key: "pk",
    sort_key: "sk",
    indexes: &[IndexSpec { name: "gsi1", partition_key: "gsi1pk", sort_key: "gsi1sk" }],
    ttl_attribute: TTL_ATTRIBUTE,
};

/// Connector log: partitioned by connection and day, with an index by entity.
pub const LOG_TABLE: TableSpec = TableSpec {
    logical_id: "ConnectorLogTable",
    suffix: "connector-log",
    partition_key: "pk",
    sort_key: "sk",
    indexes: &[IndexSpec { name: "by-entity", partition_key: "entity_pk", sort_key: "entity_sk" }],
    ttl_attribute: TTL_ATTRIBUTE,
};

pub const TABLES: &[TableSpec] = &[STATE_TABLE, LOG_TABLE];

/// A standard queue with its dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: &'static str,
    pub dlq_logical_id: &'static str,
    pub suffix: &'static str,
    /// At least six times the consuming function's timeout (AWS's guidance for SQS event sources).
    pub visibility_timeout_secs: u32,
    pub max_receive_count: u32,
    pub retention_secs: u32,
    pub dlq_retention_secs: u32,
    /// The timeout of the function that consumes the queue, which the visibility is derived from.
    pub consumer_timeout_secs: u32,
}

/// Orders to import: order-pull → order-import.
pub const ORDERS_QUEUE: QueueSpec = QueueSpec {
    logical_id: "OrdersQueue",
    dlq_logical_id: "OrdersDeadLetterQueue",
    suffix: "orders",
    visibility_timeout_secs: 360,
    max_receive_count: 5,
    retention_secs: 4 * 24 * 3600,
    dlq_retention_secs: 14 * 24 * 3600,
    consumer_timeout_secs: 60,
};

/// Shipment and status events to push back to channels: shipment-webhook / catch-up → status-push.
pub const SHIPMENTS_QUEUE: QueueSpec = QueueSpec {
    logical_id: "ShipmentsQueue",
    dlq_logical_id: "ShipmentsDeadLetterQueue",
    suffix: "shipments",
    visibility_timeout_secs: 360,
    max_receive_count: 5,
    retention_secs: 4 * 24 * 3600,
    dlq_retention_secs: 14 * 24 * 3600,
    consumer_timeout_secs: 60,
};

pub const QUEUES: &[QueueSpec] = &[ORDERS_QUEUE, SHIPMENTS_QUEUE];

impl TableSpec {
    pub fn physical_name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.suffix)
    }
}

impl QueueSpec {
    pub fn physical_name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.suffix)
    }

    pub fn dlq_physical_name(&self, prefix: &str) -> String {
        format!("{prefix}-{}-dlq", self.suffix)
    }
}

fn key_element(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema element has its required fields")
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition has its required fields")
}

/// Creates `spec` as `name` (on-demand, TTL on) unless it exists. Returns true when created.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
    name: &str,
) -> Result<bool, LedgerError> {
    let mut attributes = vec![string_attribute(spec.partition_key), string_attribute(spec.sort_key)];
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(spec.partition_key, KeyType::Hash))
        .key_schema(key_element(spec.sort_key, KeyType::Range));
    for index in spec.indexes {
        attributes.push(string_attribute(index.partition_key));
        attributes.push(string_attribute(index.sort_key));
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key_element(index.partition_key, KeyType::Hash))
                .key_schema(key_element(index.sort_key, KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("index has its required fields"),
        );
    }
    let created = match request.set_attribute_definitions(Some(attributes)).send().await {
        Ok(_) => true,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => false,
        Err(err) => return Err(dynamo_error("CreateTable", name, err)),
    };
    let ttl = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(spec.ttl_attribute)
                .build()
                .expect("TTL specification has its required fields"),
        )
        .send()
        .await;
    if let Err(err) = ttl {
        // Enabling TTL twice is refused with a ValidationException; that means it is already on.
        let already_on =
            err.as_service_error().and_then(|e| e.meta().message()).is_some_and(|m| m.contains("already enabled"));
        if !already_on {
            return Err(dynamo_error("UpdateTimeToLive", name, err));
        }
    }
    Ok(created)
}

/// URLs of a queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub url: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

/// An SQS call's failure, classified retryable or not from the SDK error.
pub(crate) fn sqs_err<E, R>(
    operation: &'static str,
    queue: &str,
    source: aws_sdk_sqs::error::SdkError<E, R>,
) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    QueueError::Sqs {
        operation,
        queue: queue.to_owned(),
        retryable: sdk_error_is_retryable(&source),
        source: Box::new(source),
    }
}

/// Creates the queue and its DLQ with the redrive policy (idempotent: CreateQueue with the same
/// attributes returns the existing queue). `overrides` lets tests shorten timings.
pub async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    spec: &QueueSpec,
    name: &str,
    dlq_name: &str,
    overrides: Option<(u32, u32)>,
) -> Result<QueueUrls, QueueError> {
    let (visibility, max_receive) = overrides.unwrap_or((spec.visibility_timeout_secs, spec.max_receive_count));
    let dlq = client
        .create_queue()
        .queue_name(dlq_name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, spec.dlq_retention_secs.to_string())
        .send()
        .await
        .map_err(|e| sqs_err("CreateQueue", dlq_name, e))?;
    let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
    let dlq_attrs = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sqs_err("GetQueueAttributes", dlq_name, e))?;
    let dlq_arn =
        dlq_attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive }).to_string();
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility.to_string())
        .attributes(QueueAttributeName::MessageRetentionPeriod, spec.retention_secs.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| sqs_err("CreateQueue", name, e))?;
    Ok(QueueUrls { url: queue.queue_url().unwrap_or_default().to_owned(), dlq_url, dlq_arn })
}

/// Physical names and URLs of everything one stage (or one test) uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub state_table: String,
    pub log_table: String,
    pub orders: QueueUrls,
    pub shipments: QueueUrls,
}

impl Provisioned {
    /// The environment variables the functions read (see `config.rs`).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ORDERBRIDGE_STATE_TABLE", self.state_table.clone()),
            ("ORDERBRIDGE_LOG_TABLE", self.log_table.clone()),
            ("ORDERBRIDGE_ORDERS_QUEUE_URL", self.orders.url.clone()),
            ("ORDERBRIDGE_SHIPMENTS_QUEUE_URL", self.shipments.url.clone()),
        ]
    }
}

/// Creates every table and queue under `prefix` (idempotent).
pub async fn provision(
    dynamo: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
) -> Result<Provisioned, ProvisionError> {
    for table in TABLES {
        ensure_table(dynamo, table, &table.physical_name(prefix)).await?;
    }
    let orders = ensure_queue(
        sqs,
        &ORDERS_QUEUE,
        &ORDERS_QUEUE.physical_name(prefix),
        &ORDERS_QUEUE.dlq_physical_name(prefix),
        None,
    )
    .await?;
    let shipments = ensure_queue(
        sqs,
        &SHIPMENTS_QUEUE,
        &SHIPMENTS_QUEUE.physical_name(prefix),
        &SHIPMENTS_QUEUE.dlq_physical_name(prefix),
        None,
    )
    .await?;
    Ok(Provisioned {
        state_table: STATE_TABLE.physical_name(prefix),
        log_table: LOG_TABLE.physical_name(prefix),
        orders,
        shipments,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Table(#[from] LedgerError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_visibility_is_at_least_six_times_the_consumer_timeout() {
        for q in QUEUES {
            assert!(q.visibility_timeout_secs >= 6 * q.consumer_timeout_secs, "{}", q.logical_id);
            assert!(q.max_receive_count >= 5, "{}", q.logical_id);
        }
    }
}

//! Building the order functions' shared state once per cold start, from the environment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{ChannelEntry, MappingCache, OrdersApp};
use crate::aws::{DynamoConnectorLog, DynamoLedger, SqsQueue};
use crate::config::{CommonSettings, Env, QueueUrl, SettingsError};
use crate::connections::{ChannelSettings, Connections, ConnectionsError};
use crate::connectors::acumatica::AcumaticaClient;
use crate::connectors::bigcommerce::BigCommerceClient;
use crate::connectors::sellercloud::SellercloudClient;
use crate::ports::{OrderSource, SystemClock};

/// Why a function could not start; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Connections(#[from] ConnectionsError),
    #[error("connection {connection} is misconfigured")]
    Connection {
        connection: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Settings of the order functions beyond the common ones.
#[derive(Debug, Clone)]
pub struct OrdersSettings {
    pub common: CommonSettings,
    pub orders_queue: QueueUrl,
    /// ORDERBRIDGE_ENQUEUED_TTL_SECS (default 900): how long an enqueued order is not enqueued again.
    pub enqueued_ttl: Duration,
    /// ORDERBRIDGE_IMPORT_CONCURRENCY (default 4): orders of one batch imported at once.
    pub import_concurrency: usize,
    /// ORDERBRIDGE_MAPPING_CACHE_SECS (default 60): how soon an uploaded mapping takes effect.
    pub mapping_cache: Duration,
}

impl OrdersSettings {
    pub fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        let import_concurrency: usize = env.number("ORDERBRIDGE_IMPORT_CONCURRENCY", 4)?;
        if import_concurrency == 0 {
            return Err(SettingsError::Invalid {
                var: "ORDERBRIDGE_IMPORT_CONCURRENCY",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            common: CommonSettings::load(env)?,
            orders_queue: env.queue_url("ORDERBRIDGE_ORDERS_QUEUE_URL")?,
            enqueued_ttl: env.seconds("ORDERBRIDGE_ENQUEUED_TTL_SECS", Duration::from_secs(900))?,
            import_concurrency,
            mapping_cache: env.seconds("ORDERBRIDGE_MAPPING_CACHE_SECS", Duration::from_secs(60))?,
        })
    }
}

impl OrdersApp {
    /// Reads settings and the connections file from the environment and builds every client.
    pub async fn from_env() -> Result<Self, SetupError> {
        let env = Env::process();
        let settings = OrdersSettings::load(&env)?;
        let text =
            env.required("ORDERBRIDGE_CONNECTIONS", "set it to the connections TOML (see README, Configuration)")?;
        let connections = Connections::parse("ORDERBRIDGE_CONNECTIONS", &text, |var| env.optional(var))?;
        let sdk = crate::aws::load_sdk_config().await;
        Self::build(&sdk, &settings, &connections)
    }

    /// Builds the app from explicit settings (the demo and tests use this directly).
    pub fn build(
        sdk: &aws_config::SdkConfig,
        settings: &OrdersSettings,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let clock = Arc::new(SystemClock);
        let mut channels = BTreeMap::new();
        for connection in &connections.connections {
            let channel_err = |source: Box<dyn std::error::Error + Send + Sync>| SetupError::Connection {
                connection: connection.id.to_string(),
                source,
            };
            let source: Arc<dyn OrderSource> = match &connection.channel {
                ChannelSettings::Sellercloud(config) => Arc::new(
                    SellercloudClient::new(connection.id.clone(), (**config).clone())
                        .map_err(|e| channel_err(Box::new(e)))?,
                ),
                ChannelSettings::Bigcommerce(config) => Arc::new(
                    BigCommerceClient::new(connection.id.clone(), (**config).clone())
                        .map_err(|e| channel_err(Box::new(e)))?,
                ),
            };
            channels.insert(
                connection.id.clone(),
                ChannelEntry {
                    source,
                    mapping_name: connection.mapping_name().to_owned(),
                    enabled: connection.enabled,
                },
            );
        }
        Ok(Self {
            ledger: Arc::new(DynamoLedger::new(dynamo.clone(), settings.common.state_table.as_str(), clock.clone())),
            log: Arc::new(DynamoConnectorLog::new(
                dynamo,
                settings.common.log_table.as_str(),
                settings.common.log_retention,
            )),
            queue: Arc::new(SqsQueue::new(sqs, settings.orders_queue.as_str())),
            clock,
            channels,
            sink: Arc::new(
                AcumaticaClient::new(connections.acumatica.clone())
                    .map_err(|e| SetupError::Connection { connection: "acumatica".into(), source: Box::new(e) })?,
            ),
            mappings: MappingCache::new(settings.mapping_cache),
            enqueued_ttl: settings.enqueued_ttl,
            import_concurrency: settings.import_concurrency,
        })
    }
}

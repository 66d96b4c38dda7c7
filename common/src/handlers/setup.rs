//! Building the order functions' shared state once per cold start, from the environment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{ChannelEntry, MappingCache, OrdersApp, PublisherEntry, StatusApp, WebhookApp};
use crate::aws::{DynamoConnectorLog, DynamoLedger, SqsQueue};
use crate::config::{CommonSettings, Env, QueueUrl, SettingsError};
use crate::connections::{ChannelSettings, Connections, ConnectionsError};
use crate::connectors::acumatica::AcumaticaClient;
use crate::connectors::bigcommerce::BigCommerceClient;
use crate::connectors::magento::MagentoClient;
use crate::connectors::sellercloud::SellercloudClient;
use crate::connectors::shipstation::ShipStationClient;
use crate::model::{BigCommerceOrderId, ChannelOrderId, ConnectionId, MagentoOrderId, SellercloudOrderId};
use crate::ports::{OrderSource, StatusPublisher, SystemClock, WebhookVerifier};
use crate::webhooks::{AcumaticaPushVerifier, ShipStationVerifier, StandardWebhooksVerifier};

/// Claim lease beyond the deadline (and its margin) in production; see `OrdersApp::lease_slack`.
const DEFAULT_LEASE_SLACK: Duration = Duration::from_secs(30);

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
        let import_concurrency = env.count("ORDERBRIDGE_IMPORT_CONCURRENCY", 4)?;
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
        let connections = connections_from_env(&env)?;
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
            let built = build_channel(connection)?;
            let Some(source) = built.source else {
                tracing::info!(connection = %connection.id, "Connection takes shipments only; no orders are pulled from it.");
                continue;
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
            lease_slack: DEFAULT_LEASE_SLACK,
        })
    }
}

/// One channel connection's clients: the order source (channels orders are pulled from) and the
/// publisher shipments and statuses go back to.
pub struct BuiltChannel {
    pub source: Option<Arc<dyn OrderSource>>,
    pub publisher: Arc<dyn StatusPublisher>,
    /// False for channels that mark the whole order shipped at once (Sellercloud).
    pub takes_partial_shipments: bool,
    pub order_id: fn(&str) -> Option<ChannelOrderId>,
}

fn sellercloud_order_id(raw: &str) -> Option<ChannelOrderId> {
    SellercloudOrderId::parse(raw).ok().map(ChannelOrderId::Sellercloud)
}

fn bigcommerce_order_id(raw: &str) -> Option<ChannelOrderId> {
    BigCommerceOrderId::parse(raw).ok().map(ChannelOrderId::BigCommerce)
}

fn magento_order_id(raw: &str) -> Option<ChannelOrderId> {
    MagentoOrderId::parse(raw).ok().map(ChannelOrderId::Magento)
}

pub fn build_channel(connection: &crate::connections::ChannelConnection) -> Result<BuiltChannel, SetupError> {
    let channel_err = |source: Box<dyn std::error::Error + Send + Sync>| SetupError::Connection {
        connection: connection.id.to_string(),
        source,
    };
    Ok(match &connection.channel {
        ChannelSettings::Sellercloud(config) => {
            let client = Arc::new(
                SellercloudClient::new(connection.id.clone(), (**config).clone())
                    .map_err(|e| channel_err(Box::new(e)))?,
            );
            BuiltChannel {
                source: Some(client.clone()),
                publisher: client,
                takes_partial_shipments: false,
                order_id: sellercloud_order_id,
            }
        }
        ChannelSettings::Bigcommerce(config) => {
            let client = Arc::new(
                BigCommerceClient::new(connection.id.clone(), (**config).clone())
                    .map_err(|e| channel_err(Box::new(e)))?,
            );
            BuiltChannel {
                source: Some(client.clone()),
                publisher: client,
                takes_partial_shipments: true,
                order_id: bigcommerce_order_id,
            }
        }
        ChannelSettings::Magento(config) => BuiltChannel {
            source: None,
            publisher: Arc::new(
                MagentoClient::new(connection.id.clone(), (**config).clone()).map_err(|e| channel_err(Box::new(e)))?,
            ),
            takes_partial_shipments: true,
            order_id: magento_order_id,
        },
    })
}

/// Settings of status-push beyond the common ones.
#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub common: CommonSettings,
    pub shipments_queue: QueueUrl,
    /// ORDERBRIDGE_PUSH_CONCURRENCY (default 4): messages of one batch handled at once.
    pub concurrency: usize,
    /// ORDERBRIDGE_POLL_OVERLAP_SECS (default 900): how far before its cursor the poll reads again.
    pub poll_overlap: Duration,
    /// ORDERBRIDGE_POLL_FIRST_WINDOW_SECS (default 86400): how far back the first poll looks.
    pub poll_first_window: Duration,
    /// ORDERBRIDGE_MAPPING_CACHE_SECS (default 60).
    pub mapping_cache: Duration,
}

impl StatusSettings {
    pub fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        let concurrency = env.count("ORDERBRIDGE_PUSH_CONCURRENCY", 4)?;
        Ok(Self {
            common: CommonSettings::load(env)?,
            shipments_queue: env.queue_url("ORDERBRIDGE_SHIPMENTS_QUEUE_URL")?,
            concurrency,
            poll_overlap: env.seconds("ORDERBRIDGE_POLL_OVERLAP_SECS", Duration::from_secs(900))?,
            poll_first_window: env.seconds("ORDERBRIDGE_POLL_FIRST_WINDOW_SECS", Duration::from_secs(86_400))?,
            mapping_cache: env.seconds("ORDERBRIDGE_MAPPING_CACHE_SECS", Duration::from_secs(60))?,
        })
    }
}

fn connections_from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Connections, SetupError> {
    let text = env.required("ORDERBRIDGE_CONNECTIONS", "set it to the connections TOML (see README, Configuration)")?;
    Ok(Connections::parse("ORDERBRIDGE_CONNECTIONS", &text, |var| env.optional(var))?)
}

impl StatusApp {
    pub async fn from_env() -> Result<Self, SetupError> {
        let env = Env::process();
        let settings = StatusSettings::load(&env)?;
        let connections = connections_from_env(&env)?;
        let sdk = crate::aws::load_sdk_config().await;
        Self::build(&sdk, &settings, &connections)
    }

    pub fn build(
        sdk: &aws_config::SdkConfig,
        settings: &StatusSettings,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let clock = Arc::new(SystemClock);
        let mut channels = BTreeMap::new();
        for connection in &connections.connections {
            let built = build_channel(connection)?;
            channels.insert(
                connection.id.clone(),
                PublisherEntry {
                    publisher: built.publisher,
                    mapping_name: connection.mapping_name().to_owned(),
                    enabled: connection.enabled,
                    takes_partial_shipments: built.takes_partial_shipments,
                    order_id: built.order_id,
                },
            );
        }
        let (tool, tool_stores) = build_shipping_tool(connections)?;
        Ok(Self {
            ledger: Arc::new(DynamoLedger::new(dynamo.clone(), settings.common.state_table.as_str(), clock.clone())),
            log: Arc::new(DynamoConnectorLog::new(
                dynamo,
                settings.common.log_table.as_str(),
                settings.common.log_retention,
            )),
            queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), settings.shipments_queue.as_str())),
            clock,
            erp: Arc::new(
                AcumaticaClient::new(connections.acumatica.clone())
                    .map_err(|e| SetupError::Connection { connection: "acumatica".into(), source: Box::new(e) })?,
            ),
            tool,
            tool_stores,
            channels,
            mappings: MappingCache::new(settings.mapping_cache),
            concurrency: settings.concurrency,
            poll_overlap: settings.poll_overlap,
            poll_first_window: settings.poll_first_window,
            lease_slack: DEFAULT_LEASE_SLACK,
        })
    }
}

type ToolParts = (Option<Arc<dyn crate::ports::ShippingTool>>, BTreeMap<i64, ConnectionId>);

fn build_shipping_tool(connections: &Connections) -> Result<ToolParts, SetupError> {
    let Some(section) = &connections.shipstation else { return Ok((None, BTreeMap::new())) };
    let err = |source: Box<dyn std::error::Error + Send + Sync>| SetupError::Connection {
        connection: "shipstation".into(),
        source,
    };
    let client = ShipStationClient::new(section.settings.clone()).map_err(|e| err(Box::new(e)))?;
    let stores = section.store_map().map_err(|e| err(e.into()))?;
    Ok((Some(Arc::new(client)), stores))
}

/// Settings of shipment-webhook beyond the common ones.
#[derive(Debug, Clone)]
pub struct WebhookSettingsEnv {
    pub common: CommonSettings,
    pub shipments_queue: QueueUrl,
}

impl WebhookSettingsEnv {
    pub fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::load(env)?,
            shipments_queue: env.queue_url("ORDERBRIDGE_SHIPMENTS_QUEUE_URL")?,
        })
    }
}

/// The routes of shipment-webhook (paths as API Gateway's `rawPath`).
pub const SHIPSTATION_ROUTE: &str = "/webhooks/shipstation";
pub const ACUMATICA_ROUTE: &str = "/webhooks/acumatica";
pub const GENERIC_ROUTE: &str = "/webhooks/generic";

impl WebhookApp {
    pub async fn from_env() -> Result<Self, SetupError> {
        let env = Env::process();
        let settings = WebhookSettingsEnv::load(&env)?;
        let connections = connections_from_env(&env)?;
        let sdk = crate::aws::load_sdk_config().await;
        Ok(Self::build(&sdk, &settings, &connections))
    }

    /// Builds the routes whose secrets are configured; the others answer 404.
    pub fn build(sdk: &aws_config::SdkConfig, settings: &WebhookSettingsEnv, connections: &Connections) -> Self {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let clock = Arc::new(SystemClock);
        let hooks = &connections.webhooks;
        let mut routes: Vec<(String, Arc<dyn WebhookVerifier>)> = Vec::new();
        if let Some(token) = &hooks.shipstation_token {
            routes.push((
                SHIPSTATION_ROUTE.into(),
                Arc::new(ShipStationVerifier::new(token.clone(), shipstation_hosts(connections))),
            ));
        }
        if let (Some(header), Some(secret)) = (&hooks.acumatica_header, &hooks.acumatica_secret) {
            routes.push((ACUMATICA_ROUTE.into(), Arc::new(AcumaticaPushVerifier::new(header, secret.clone()))));
        }
        if !hooks.generic_secrets.is_empty() {
            routes.push((
                GENERIC_ROUTE.into(),
                Arc::new(StandardWebhooksVerifier::new("generic", &hooks.generic_secrets)),
            ));
        }
        Self {
            ledger: Arc::new(DynamoLedger::new(dynamo.clone(), settings.common.state_table.as_str(), clock.clone())),
            log: Arc::new(DynamoConnectorLog::new(
                dynamo,
                settings.common.log_table.as_str(),
                settings.common.log_retention,
            )),
            queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), settings.shipments_queue.as_str())),
            clock,
            routes,
            dedupe_ttl: Duration::from_secs(hooks.dedupe_hours.unwrap_or(72) * 3600),
        }
    }
}

/// Hosts a ShipStation `resource_url` may name: the configured API host (ShipStation's own by
/// default), and nothing else.
fn shipstation_hosts(connections: &Connections) -> Vec<String> {
    let base =
        connections.shipstation.as_ref().map_or("https://ssapi.shipstation.com", |s| s.settings.base_url.as_str());
    url::Url::parse(base)
        .ok()
        .and_then(|u| match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            (Some(h), None) => Some(h.to_owned()),
            _ => None,
        })
        .into_iter()
        .collect()
}

//! Building the order functions' shared state once per cold start, from the environment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{
    ChannelEntry, FollowupEntry, ImportApp, MappingCache, PublisherEntry, PullApp, StatusApp, StorefrontEntry,
    WebhookApp,
};
use crate::aws::{DynamoConnectorLog, DynamoLedger, SqsQueue};
use crate::config::{CommonSettings, Env, QueueUrl, SettingsError};
use crate::connections::{Connections, ConnectionsError};
use crate::connectors::registry;
use crate::connectors::SetupError as ConnectorSetupError;
use crate::model::ConnectionId;
use crate::ports::{Clock, ConnectorLog, Ledger, SystemClock};

/// Claim lease beyond the deadline (and its margin) in production; see `ImportApp::lease_slack`.
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

/// Settings of order-pull beyond the common ones.
#[derive(Debug, Clone)]
pub struct PullSettings {
    pub common: CommonSettings,
    pub orders_queue: QueueUrl,
    /// ORDERBRIDGE_ENQUEUED_TTL_SECS (default 900): how long an enqueued order is not enqueued again.
    pub enqueued_ttl: Duration,
    /// ORDERBRIDGE_MAPPING_CACHE_SECS (default 60): how soon an uploaded mapping takes effect.
    pub mapping_cache: Duration,
}

impl LoadSettings for PullSettings {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::load(env)?,
            orders_queue: env.queue_url("ORDERBRIDGE_ORDERS_QUEUE_URL")?,
            enqueued_ttl: env.seconds("ORDERBRIDGE_ENQUEUED_TTL_SECS", Duration::from_secs(900))?,
            mapping_cache: env.seconds("ORDERBRIDGE_MAPPING_CACHE_SECS", Duration::from_secs(60))?,
        })
    }
}

/// Settings of order-import beyond the common ones.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub common: CommonSettings,
    /// ORDERBRIDGE_IMPORT_CONCURRENCY (default 4): orders of one batch imported at once.
    pub import_concurrency: usize,
    /// ORDERBRIDGE_MAPPING_CACHE_SECS (default 60): how soon an uploaded mapping takes effect.
    pub mapping_cache: Duration,
    /// ORDERBRIDGE_ORDERS_QUEUE_URL (optional): the function's own queue, which backfill pages
    /// send their orders and next page to; without it a `backfill_page.v1` message fails.
    pub orders_queue: Option<QueueUrl>,
}

impl LoadSettings for ImportSettings {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::load(env)?,
            import_concurrency: env.count("ORDERBRIDGE_IMPORT_CONCURRENCY", 4)?,
            mapping_cache: env.seconds("ORDERBRIDGE_MAPPING_CACHE_SECS", Duration::from_secs(60))?,
            orders_queue: match env.optional("ORDERBRIDGE_ORDERS_QUEUE_URL") {
                Some(_) => Some(env.queue_url("ORDERBRIDGE_ORDERS_QUEUE_URL")?),
                None => None,
            },
        })
    }
}

/// The clients and stores every app opens: the state table, the connector log, the clock.
struct Common {
    ledger: Arc<dyn Ledger>,
    /// The same table, where the ERP's shared sign-in token lives.
    tokens: Arc<dyn crate::ports::SharedTokens>,
    /// The same table, where every vendor account's shared rate budget lives.
    budgets: Arc<dyn crate::ports::SharedBudgets>,
    log: Arc<dyn ConnectorLog>,
    clock: Arc<dyn Clock>,
}

impl Common {
    fn open(sdk: &aws_config::SdkConfig, settings: &CommonSettings) -> Self {
        registry::install();
        let dynamo = crate::aws::dynamodb_client(sdk);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ledger = Arc::new(DynamoLedger::new(dynamo.clone(), settings.state_table.as_str(), clock.clone()));
        Self {
            tokens: ledger.clone(),
            budgets: ledger.clone(),
            ledger,
            log: Arc::new(DynamoConnectorLog::new(dynamo, settings.log_table.as_str(), settings.log_retention)),
            clock,
        }
    }

    fn queue(sdk: &aws_config::SdkConfig, url: &QueueUrl) -> Arc<SqsQueue> {
        Arc::new(SqsQueue::new(crate::aws::sqs_client(sdk), url.as_str()))
    }
}

/// A function's settings, read from its environment; every error names the variable.
pub trait LoadSettings: Sized {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError>;
}

/// An app a function runs: its own settings, built with the connections file.
pub trait App: Sized {
    type Settings: LoadSettings;
    /// Builds the app from explicit settings (the demo and tests call this directly).
    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &Self::Settings,
        connections: &Connections,
    ) -> Result<Self, SetupError>;
}

/// Reads the app's settings and the connections file from the process environment, loads the AWS
/// configuration and builds the app: a function's cold start.
pub async fn from_env<A: App>() -> Result<A, SetupError> {
    let env = Env::process();
    let settings = A::Settings::load(&env)?;
    let text = env.required("ORDERBRIDGE_CONNECTIONS", "set it to the connections TOML (see README, Configuration)")?;
    let connections = Connections::parse("ORDERBRIDGE_CONNECTIONS", &text, |var| env.optional(var))?;
    A::build(&crate::aws::load_sdk_config().await, &settings, &connections)
}

fn connection_error(connection: impl Into<String>) -> impl FnOnce(ConnectorSetupError) -> SetupError {
    let connection = connection.into();
    move |e| SetupError::Connection { connection, source: Box::new(e) }
}

/// The order sources of the channels that have one (publish-only channels are skipped).
fn sources(connections: &Connections) -> Result<BTreeMap<ConnectionId, ChannelEntry>, SetupError> {
    let mut channels = BTreeMap::new();
    for connection in &connections.connections {
        let parts = registry::channel(connection).map_err(connection_error(connection.id.as_str()))?;
        let Some(source) = parts.source else {
            tracing::info!(connection = %connection.id, "Connection takes shipments only; no orders are pulled from it.");
            continue;
        };
        channels.insert(
            connection.id.clone(),
            ChannelEntry {
                source,
                mapping_name: connection.mapping_name().to_owned(),
                enabled: connection.enabled,
                follows_orders: parts.charges.is_some() || connection.retention().days().is_some(),
                customers: parts.customers.clone(),
            },
        );
    }
    Ok(channels)
}

impl App for PullApp {
    type Settings = PullSettings;

    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &PullSettings,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let common = Common::open(sdk, &settings.common);
        Ok(Self {
            ledger: common.ledger,
            log: common.log,
            queue: Common::queue(sdk, &settings.orders_queue),
            clock: common.clock,
            channels: sources(connections)?,
            mappings: MappingCache::new(settings.mapping_cache),
            enqueued_ttl: settings.enqueued_ttl,
            budgets: Some(common.budgets),
        })
    }
}

impl App for ImportApp {
    type Settings = ImportSettings;

    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &ImportSettings,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let common = Common::open(sdk, &settings.common);
        let erp = registry::erp(connections, Some(common.tokens.clone())).map_err(connection_error("erp"))?;
        let backfills = settings.orders_queue.as_ref().map(|url| super::Backfills {
            jobs: Arc::new(DynamoLedger::new(
                crate::aws::dynamodb(sdk),
                settings.common.state_table.as_str(),
                common.clock.clone(),
            )),
            queue: Common::queue(sdk, url),
        });
        Ok(Self {
            backfills,
            ledger: common.ledger,
            log: common.log,
            clock: common.clock,
            channels: sources(connections)?,
            sink: erp.sink,
            customer_writes: erp.customer_writes,
            mappings: MappingCache::new(settings.mapping_cache),
            import_concurrency: settings.import_concurrency,
            lease_slack: DEFAULT_LEASE_SLACK,
            budgets: Some(common.budgets),
        })
    }
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
    /// ORDERBRIDGE_ORDERS_QUEUE_URL (optional): the import queue, whose backlog the charges pass
    /// yields to.
    pub orders_queue: Option<QueueUrl>,
}

impl LoadSettings for StatusSettings {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        let concurrency = env.count("ORDERBRIDGE_PUSH_CONCURRENCY", 4)?;
        Ok(Self {
            common: CommonSettings::load(env)?,
            shipments_queue: env.queue_url("ORDERBRIDGE_SHIPMENTS_QUEUE_URL")?,
            concurrency,
            poll_overlap: env.seconds("ORDERBRIDGE_POLL_OVERLAP_SECS", Duration::from_secs(900))?,
            poll_first_window: env.seconds("ORDERBRIDGE_POLL_FIRST_WINDOW_SECS", Duration::from_secs(86_400))?,
            mapping_cache: env.seconds("ORDERBRIDGE_MAPPING_CACHE_SECS", Duration::from_secs(60))?,
            orders_queue: match env.optional("ORDERBRIDGE_ORDERS_QUEUE_URL") {
                Some(_) => Some(env.queue_url("ORDERBRIDGE_ORDERS_QUEUE_URL")?),
                None => None,
            },
        })
    }
}

impl App for StatusApp {
    type Settings = StatusSettings;

    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &StatusSettings,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let common = Common::open(sdk, &settings.common);
        let mut channels = BTreeMap::new();
        let mut storefronts = Vec::new();
        let mut followups = Vec::new();
        let mut stock_targets = Vec::new();
        let mut hooked = Vec::new();
        for connection in &connections.connections {
            let parts = registry::channel(connection).map_err(connection_error(connection.id.as_str()))?;
            if let Some(hooks) = parts.hooks.clone().filter(|_| connection.enabled) {
                hooked.push(crate::flows::HookedChannel { connection: connection.id.clone(), hooks });
            }
            let follows_orders = parts.charges.is_some() || connection.retention().days().is_some();
            if follows_orders {
                followups.push(FollowupEntry {
                    connection: connection.id.clone(),
                    enabled: connection.enabled,
                    charges: parts.charges.clone(),
                    retention: connection.retention(),
                });
            }
            if let Some((publisher, sync)) = parts.storefront.clone() {
                storefronts.push(StorefrontEntry { connection: connection.id.clone(), publisher, sync });
            }
            if let Some((publisher, sync)) = parts.stock.clone() {
                stock_targets.push(crate::flows::StockTarget {
                    connection: connection.id.clone(),
                    enabled: connection.enabled,
                    publisher,
                    sync,
                });
            }
            channels.insert(
                connection.id.clone(),
                PublisherEntry {
                    publisher: parts.publisher,
                    mapping_name: connection.mapping_name().to_owned(),
                    enabled: connection.enabled,
                    takes_partial_shipments: parts.takes_partial_shipments,
                    order_id: parts.order_id,
                    follows_orders,
                },
            );
        }
        let erp = registry::erp(connections, Some(common.tokens.clone())).map_err(connection_error("erp"))?;
        let tool = registry::shipping_tool(connections).map_err(connection_error("shipping tool"))?;
        Ok(Self {
            ledger: common.ledger,
            log: common.log,
            queue: Common::queue(sdk, &settings.shipments_queue),
            clock: common.clock,
            erp: erp.shipments,
            erp_orders: Some(erp.orders),
            erp_charges: erp.charges,
            erp_stock: erp.stock,
            stock_targets,
            outbound: erp.outbound,
            station: tool.as_ref().and_then(|t| t.station.clone()),
            followups,
            imports: settings
                .orders_queue
                .as_ref()
                .map(|url| Common::queue(sdk, url) as Arc<dyn crate::ports::Backlog>),
            storefronts,
            channel_codes: registry::channel_codes(),
            erp_name: erp.log_name,
            tool_stores: tool.as_ref().map(|t| t.stores.clone()).unwrap_or_default(),
            tool: tool.map(|t| t.tool),
            tool_name: registry::shipping_tool_log_name(),
            channels,
            mappings: MappingCache::new(settings.mapping_cache),
            concurrency: settings.concurrency,
            poll_overlap: settings.poll_overlap,
            poll_first_window: settings.poll_first_window,
            lease_slack: DEFAULT_LEASE_SLACK,
            budgets: Some(common.budgets),
            hooked,
        })
    }
}

/// Settings of shipment-webhook beyond the common ones.
#[derive(Debug, Clone)]
pub struct WebhookSettingsEnv {
    pub common: CommonSettings,
    pub shipments_queue: QueueUrl,
    /// Where channels' order webhooks put the orders they announce (optional: without it such
    /// a delivery is answered 503, and the scheduled pull still imports the order).
    pub orders_queue: Option<QueueUrl>,
}

impl LoadSettings for WebhookSettingsEnv {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::load(env)?,
            shipments_queue: env.queue_url("ORDERBRIDGE_SHIPMENTS_QUEUE_URL")?,
            orders_queue: match env.optional("ORDERBRIDGE_ORDERS_QUEUE_URL") {
                Some(_) => Some(env.queue_url("ORDERBRIDGE_ORDERS_QUEUE_URL")?),
                None => None,
            },
        })
    }
}

impl App for WebhookApp {
    type Settings = WebhookSettingsEnv;

    /// The routes whose secrets are configured; the others answer 404. No vendor client.
    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &WebhookSettingsEnv,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let common = Common::open(sdk, &settings.common);
        Ok(Self {
            ledger: common.ledger,
            log: common.log,
            queue: Common::queue(sdk, &settings.shipments_queue),
            orders: settings.orders_queue.as_ref().map(|url| Common::queue(sdk, url) as Arc<dyn crate::ports::Queue>),
            clock: common.clock,
            routes: registry::webhook_routes(connections),
            dedupe_ttl: Duration::from_secs(connections.webhooks.dedupe_hours.unwrap_or(72) * 3600),
        })
    }
}

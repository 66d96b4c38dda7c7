//! One complete local world: the vendor sandbox, fresh tables and queues on the emulator, the
//! connections file filled with the sandbox's URLs and credentials, uploaded mappings, and the
//! order functions' app built from all of it exactly as a Lambda cold start would.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use orderbridge::config::{QueueUrl, TableName};
use orderbridge::connections::Connections;
use orderbridge::handlers::{
    push_mapping, App, ImportApp, ImportSettings, PullApp, PullSettings, StatusApp, StatusSettings, WebhookApp,
    WebhookSettingsEnv, ACUMATICA_ROUTE, SHIPSTATION_ROUTE,
};
use orderbridge::http::RateBudget;
use orderbridge::model::ConnectionId;
use orderbridge_sandbox::{Sandbox, SandboxConfig, Vendor, WebhookTarget};

use crate::aws::LocalAws;
use crate::gateway::LocalGateway;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What to start.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub prefix: String,
    pub sandbox: SandboxConfig,
    /// (visibility seconds, maxReceiveCount) of the queues; short so redeliveries happen in a test.
    pub queue_timing: Option<(u32, u32)>,
    /// Mapping files to upload: (connection id, path).
    pub mappings: Vec<(String, PathBuf)>,
    /// Orders of one SQS batch imported at once.
    pub import_concurrency: usize,
    /// Last changes to the parsed connections file (tests widen windows, change statuses).
    pub tweak_connections: Option<fn(&mut Connections)>,
}

/// The demo's files, next to this crate.
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo")
}

impl WorldConfig {
    /// The demo's connections and mappings with the sandbox's default (documented) limits.
    pub fn demo(prefix: &str, sandbox: SandboxConfig) -> Self {
        Self {
            prefix: prefix.to_owned(),
            sandbox,
            queue_timing: Some((5, 5)),
            mappings: vec![
                ("sc-main".into(), demo_dir().join("mappings/sc-main.toml")),
                ("bc-store".into(), demo_dir().join("mappings/bc-store.toml")),
                ("mg-store".into(), demo_dir().join("mappings/mg-store.toml")),
            ],
            import_concurrency: 4,
            tweak_connections: None,
        }
    }
}

/// order-pull and order-import side by side, as the two functions run against one deployment.
pub struct OrdersApp {
    pub pull: PullApp,
    pub import: ImportApp,
}

impl OrdersApp {
    pub async fn run_pull(
        &self,
        deadline: std::time::Instant,
    ) -> Vec<(ConnectionId, Result<orderbridge::flows::PullReport, orderbridge::flows::PullError>)> {
        self.pull.run_pull(deadline).await
    }

    pub async fn run_import_batch(
        &self,
        event: aws_lambda_events::event::sqs::SqsEvent,
        deadline: std::time::Instant,
        request_id: &str,
    ) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        self.import.run_import_batch(event, deadline, request_id).await
    }

    /// The connector log both write to.
    pub fn log(&self) -> &dyn orderbridge::ports::ConnectorLog {
        self.pull.log.as_ref()
    }

    /// The channel connections orders are pulled from.
    pub fn connections(&self) -> Vec<ConnectionId> {
        self.pull.channels.keys().cloned().collect()
    }
}

/// The settings of both order functions.
#[derive(Debug, Clone)]
pub struct OrdersSettings {
    pub pull: PullSettings,
    pub import_concurrency: usize,
}

impl OrdersSettings {
    pub fn import(&self) -> ImportSettings {
        ImportSettings {
            common: self.pull.common.clone(),
            import_concurrency: self.import_concurrency,
            mapping_cache: self.pull.mapping_cache,
            orders_queue: Some(self.pull.orders_queue.clone()),
        }
    }
}

/// Sets `key` in the settings of every connection of `kind`, as a line in its
/// `[connection.settings]` would.
pub fn set_setting(connections: &mut Connections, kind: &str, key: &str, value: toml::Value) {
    for c in connections.connections.iter_mut().filter(|c| c.kind == kind) {
        c.settings.insert(key.to_owned(), value.clone());
    }
}

/// A `rate_limit = { requests, per_seconds }` setting.
pub fn rate_limit(requests: i64, per_seconds: i64) -> toml::Value {
    let mut table = toml::Table::new();
    table.insert("requests".into(), requests.into());
    table.insert("per_seconds".into(), per_seconds.into());
    toml::Value::Table(table)
}

pub struct World {
    pub sandbox: Sandbox,
    pub aws: LocalAws,
    pub app: OrdersApp,
    /// status-push, built from the same connections file.
    pub status: StatusApp,
    /// shipment-webhook, reachable over HTTP through `gateway`.
    pub webhooks: Arc<WebhookApp>,
    pub gateway: LocalGateway,
    pub secrets: WebhookSecrets,
    pub connections: Connections,
    pub settings: OrdersSettings,
    /// The `${VAR}` values the demo connections file was filled with (the bench hands them to
    /// the real function binaries with the file itself, as `ORDERBRIDGE_CONNECTIONS`).
    pub connection_vars: Vec<(&'static str, String)>,
}

/// The demo's BigCommerce connection.
pub const BIGCOMMERCE_CONNECTION: &str = "bc-store";

/// The webhook secrets of one world (fresh per run, as an operator would generate them).
#[derive(Debug, Clone)]
pub struct WebhookSecrets {
    pub shipstation_token: String,
    pub acumatica_header: String,
    pub acumatica_secret: String,
    /// The generic endpoint's Standard Webhooks secret, `whsec_<base64>`.
    pub generic_secret: String,
    /// The BigCommerce connection's order-webhook secret (its hooks' custom header).
    pub bigcommerce_secret: String,
    pub generic_key: Vec<u8>,
}

impl WebhookSecrets {
    pub fn generate() -> Self {
        let key: Vec<u8> =
            uuid::Uuid::new_v4().as_bytes().iter().chain(uuid::Uuid::new_v4().as_bytes()).copied().collect();
        Self {
            shipstation_token: uuid::Uuid::new_v4().simple().to_string(),
            acumatica_header: "X-Orderbridge-Key".into(),
            acumatica_secret: uuid::Uuid::new_v4().simple().to_string(),
            generic_secret: format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key)),
            bigcommerce_secret: uuid::Uuid::new_v4().simple().to_string(),
            generic_key: key,
        }
    }
}

fn credential(describe: &serde_json::Value, vendor: &str, field: &str) -> String {
    describe["vendors"][vendor][field].as_str().unwrap_or_default().to_owned()
}

/// The `${VAR}` values a connections file was filled with.
pub type ConnectionVars = Vec<(&'static str, String)>;

/// The demo's connections file filled in for `sandbox` (every vendor pointed at it), and the
/// `${VAR}` values it was filled with.
pub fn demo_connections(
    sandbox: &Sandbox,
    secrets: &WebhookSecrets,
) -> Result<(Connections, ConnectionVars), BoxError> {
    let describe = sandbox.describe();
    let urls = sandbox.urls();
    let vars: Vec<(&'static str, String)> = vec![
        ("DEMO_SHIPSTATION_WEBHOOK_TOKEN", secrets.shipstation_token.clone()),
        ("DEMO_ACUMATICA_PUSH_SECRET", secrets.acumatica_secret.clone()),
        ("DEMO_GENERIC_WEBHOOK_SECRET", secrets.generic_secret.clone()),
        ("DEMO_ACUMATICA_URL", urls.get(Vendor::Acumatica).to_owned()),
        ("DEMO_ACUMATICA_USERNAME", credential(&describe, "acumatica", "username")),
        ("DEMO_ACUMATICA_PASSWORD", credential(&describe, "acumatica", "password")),
        ("DEMO_ACUMATICA_TENANT", credential(&describe, "acumatica", "tenant")),
        ("DEMO_ACUMATICA_CLIENT_ID", credential(&describe, "acumatica", "client_id")),
        ("DEMO_ACUMATICA_CLIENT_SECRET", credential(&describe, "acumatica", "client_secret")),
        ("DEMO_SELLERCLOUD_URL", urls.get(Vendor::Sellercloud).to_owned()),
        ("DEMO_SELLERCLOUD_USERNAME", credential(&describe, "sellercloud", "username")),
        ("DEMO_SELLERCLOUD_PASSWORD", credential(&describe, "sellercloud", "password")),
        ("DEMO_BIGCOMMERCE_URL", urls.get(Vendor::Bigcommerce).to_owned()),
        ("DEMO_BIGCOMMERCE_TOKEN", credential(&describe, "bigcommerce", "access_token")),
        ("DEMO_BIGCOMMERCE_WEBHOOK_SECRET", secrets.bigcommerce_secret.clone()),
        ("DEMO_MAGENTO_URL", urls.get(Vendor::Magento).to_owned()),
        ("DEMO_MAGENTO_TOKEN", credential(&describe, "magento", "integration_token")),
        ("DEMO_SHIPSTATION_URL", urls.get(Vendor::Shipstation).to_owned()),
        ("DEMO_SHIPSTATION_API_KEY", credential(&describe, "shipstation", "api_key")),
        ("DEMO_SHIPSTATION_API_SECRET", credential(&describe, "shipstation", "api_secret")),
        ("DEMO_SHIPSTATION_STORE_ID", describe["vendors"]["shipstation"]["store_id"].to_string()),
    ];
    let text = std::fs::read_to_string(demo_dir().join("connections.toml"))?;
    let connections = Connections::parse("demo/connections.toml", &text, |var| {
        vars.iter().find(|(k, _)| *k == var).map(|(_, v)| v.clone())
    })?;
    Ok((connections, vars))
}

impl World {
    pub async fn start(config: WorldConfig) -> Result<Self, BoxError> {
        let limits = config.sandbox.limits.clone();
        let sandbox = orderbridge_sandbox::start(config.sandbox).await?;
        let aws = LocalAws::provision(&config.prefix, config.queue_timing).await?;
        let secrets = WebhookSecrets::generate();
        let (mut connections, vars) = demo_connections(&sandbox, &secrets)?;
        // The client's budget follows the licence the sandbox enforces.
        connections.acumatica.rate_limit =
            RateBudget::new(limits.acumatica_per_minute.requests, limits.acumatica_per_minute.window.as_secs().max(1));

        if let Some(tweak) = config.tweak_connections {
            tweak(&mut connections);
        }
        let settings = OrdersSettings {
            pull: PullSettings {
                common: orderbridge::config::CommonSettings {
                    stage: "local".into(),
                    state_table: TableName::parse("state", &aws.resources.state_table)?,
                    log_table: TableName::parse("log", &aws.resources.log_table)?,
                    log_retention: Duration::from_secs(7 * 24 * 3600),
                },
                orders_queue: QueueUrl::parse("orders", &aws.resources.orders.url)?,
                enqueued_ttl: Duration::from_secs(60),
                mapping_cache: Duration::from_secs(0),
            },
            import_concurrency: config.import_concurrency,
        };
        let app = OrdersApp {
            pull: PullApp::build(&aws.sdk, &settings.pull, &connections)?,
            import: ImportApp::build(&aws.sdk, &settings.import(), &connections)?,
        };
        let shipments_queue = QueueUrl::parse("shipments", &aws.resources.shipments.url)?;
        let status_settings = StatusSettings {
            common: settings.pull.common.clone(),
            shipments_queue: shipments_queue.clone(),
            concurrency: 4,
            poll_overlap: Duration::from_secs(900),
            poll_first_window: Duration::from_secs(86_400),
            mapping_cache: Duration::from_secs(0),
            orders_queue: Some(QueueUrl::parse("orders", &aws.resources.orders.url)?),
        };
        let status = StatusApp::build(&aws.sdk, &status_settings, &connections)?;
        let webhooks = Arc::new(WebhookApp::build(
            &aws.sdk,
            &WebhookSettingsEnv {
                common: settings.pull.common.clone(),
                shipments_queue,
                orders_queue: Some(QueueUrl::parse("orders", &aws.resources.orders.url)?),
            },
            &connections,
        )?);
        let gateway = LocalGateway::start(webhooks.clone()).await?;
        let world = Self {
            sandbox,
            aws,
            app,
            status,
            webhooks,
            gateway,
            secrets,
            connections,
            settings,
            connection_vars: vars,
        };
        for (name, path) in &config.mappings {
            world.push_mapping(name, path).await?;
        }
        Ok(world)
    }

    /// Validates and uploads a mapping file, as `orderbridge-admin mapping-push` does.
    pub async fn push_mapping(&self, name: &str, path: &Path) -> Result<u64, BoxError> {
        let source = std::fs::read_to_string(path)?;
        let shown = path.strip_prefix(demo_dir()).unwrap_or(path).display().to_string();
        Ok(push_mapping(self.app.pull.ledger.as_ref(), name, &shown, &source).await?.version)
    }

    /// Uploads mapping text directly (tests that edit a mapping).
    pub async fn push_mapping_text(&self, name: &str, shown_path: &str, source: &str) -> Result<u64, BoxError> {
        Ok(push_mapping(self.app.pull.ledger.as_ref(), name, shown_path, source).await?.version)
    }

    /// Points the Acumatica sandbox's push notifications at shipment-webhook (through the local
    /// gateway), each delivered `copies` times; `None` switches them off.
    pub fn route_acumatica_pushes(&self, copies: Option<u32>) {
        let target = copies.map(|n| {
            WebhookTarget::new(format!("{}{ACUMATICA_ROUTE}", self.gateway.base_url))
                .header(&self.secrets.acumatica_header, &self.secrets.acumatica_secret)
                .copies(n)
        });
        self.sandbox.state().set_webhook(Vendor::Acumatica, target);
    }

    /// Points ShipStation's SHIP_NOTIFY at shipment-webhook (with the token in the URL), each
    /// delivered `copies` times; `None` switches them off.
    pub fn route_shipstation_notifications(&self, copies: Option<u32>) {
        let target = copies.map(|n| {
            WebhookTarget::new(format!(
                "{}{SHIPSTATION_ROUTE}?token={}",
                self.gateway.base_url, self.secrets.shipstation_token
            ))
            .copies(n)
        });
        self.sandbox.state().set_webhook(Vendor::Shipstation, target);
    }

    /// Registers the BigCommerce connection's order webhooks (as `orderbridge-admin order-hooks`
    /// does) to deliver to shipment-webhook through the local gateway: from now on each order
    /// created or moved into the pulled status is announced and imported at once.
    pub async fn register_bigcommerce_hooks(&self) -> Result<Vec<orderbridge::ports::HookChange>, BoxError> {
        orderbridge::connectors::registry::register_order_hooks(
            &self.connections,
            BIGCOMMERCE_CONNECTION,
            &self.gateway.base_url,
        )
        .await
        .map_err(|e| -> BoxError { e.to_string().into() })
    }

    pub async fn shutdown(self) {
        self.sandbox.shutdown().await;
    }
}

/// ShipStation as the ERP's shipping station, as `[shipstation.export]` configures it (statuses
/// Open, the sandbox ERP's time zone, UPSGROUND → "UPS Ground"): the demo and chaos turn it on.
pub fn station_export(
    world: &World,
) -> Option<(Arc<dyn orderbridge::ports::ShippingStation>, orderbridge::model::StationExport)> {
    let section = world.connections.shipstation.as_ref()?;
    let client = orderbridge::connectors::shipstation::ShipStationClient::new(section.settings.clone()).ok()?;
    let settings = toml::from_str(
        "statuses = [\"Open\"]\nerp_time_zone = \"America/New_York\"\n[ship_via]\nUPSGROUND = \"UPS Ground\"",
    )
    .ok()?;
    Some((Arc::new(client), settings))
}

/// The operator console served on loopback over this world's state, as `orderbridge-admin
/// console` serves it (plain HTTP, so cookies without `Secure`).
pub struct LocalConsole {
    /// `http://127.0.0.1:PORT`; pages are under `/console`.
    pub base_url: String,
    /// The one operator's name and token.
    pub operator: String,
    pub token: String,
    pub app: Arc<orderbridge::console::ConsoleApp>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalConsole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl World {
    /// Starts the console for one operator with a fresh token.
    pub async fn console(&self, operator: &str) -> Result<LocalConsole, BoxError> {
        self.console_with(operator, &self.connections).await
    }

    /// The console over this world's state with another connections file (a wrong password).
    pub async fn console_with(&self, operator: &str, connections: &Connections) -> Result<LocalConsole, BoxError> {
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let settings = orderbridge::console::ConsoleSettings {
            pull: self.settings.pull.clone(),
            shipments_queue: QueueUrl::parse("shipments", &self.aws.resources.shipments.url)?,
            pull_schedule: Some("rate(5 minutes)".into()),
            operators: format!("{operator}={token}").into(),
            local: true,
        };
        let app = Arc::new(orderbridge::console::ConsoleApp::build(&self.aws.sdk, &settings, connections)?);
        let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let served = app.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = orderbridge::console::serve(served, listener).await {
                tracing::error!(error = %e, "Local console stopped.");
            }
        });
        Ok(LocalConsole { base_url, operator: operator.to_owned(), token, app, task })
    }
}

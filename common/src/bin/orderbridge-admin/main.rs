//! Operator and developer commands: provision the tables and queues of a stage on the emulator
//! (or any AWS account the environment points at), upload mapping files, read the connector log,
//! and the operator actions the console offers (queues, connections), each in its own module.

mod connections;
mod queues;

mod records;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use orderbridge::aws::{load_operator_sdk_config, schema, DynamoConnectorLog, DynamoLedger};
use orderbridge::config::{CommonSettings, Env};
use orderbridge::model::ConnectionId;
use orderbridge::ports::{ConnectorLog, SystemClock};

#[derive(Parser)]
#[command(name = "orderbridge-admin", about = "Orderbridge operator commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create every table and queue under a name prefix (idempotent) and print their env vars.
    Provision {
        /// Name prefix, e.g. `orderbridge-local`.
        #[arg(long, default_value = "orderbridge-local")]
        prefix: String,
        /// Append `export VAR=value` lines to this file.
        #[arg(long)]
        env_file: Option<std::path::PathBuf>,
    },
    /// Validate a mapping file and store it as the next version (needs ORDERBRIDGE_STATE_TABLE).
    MappingPush {
        /// Name the connection's mapping is stored under (usually the connection id).
        #[arg(long)]
        name: String,
        file: std::path::PathBuf,
    },
    /// Validate a mapping file without storing it; with `--dry-run`, also map the connection's
    /// newest new orders with the stored mapping and with FILE and print what would change.
    /// A dry run writes nothing: orders are only read, customers and items only looked up.
    MappingCheck {
        file: std::path::PathBuf,
        /// Compare FILE with the connection's stored mapping on real orders (needs
        /// ORDERBRIDGE_STATE_TABLE and ORDERBRIDGE_CONNECTIONS, as the functions do).
        #[arg(long, requires = "connection")]
        dry_run: bool,
        /// The connection whose orders and stored mapping are used (with --dry-run).
        #[arg(long)]
        connection: Option<String>,
        /// How many of the newest new orders to map (with --dry-run).
        #[arg(long, default_value_t = 50)]
        orders: usize,
    },
    #[command(flatten)]
    Records(records::RecordCommand),
    /// Serve the operator console locally (needs the functions' environment and
    /// ORDERBRIDGE_CONSOLE_OPERATORS; set ORDERBRIDGE_CONSOLE_LOCAL=1 for plain HTTP).
    Console {
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: std::net::SocketAddr,
    },
    /// Print the connector log of a connection for the last N minutes, oldest first.
    Log {
        #[arg(long)]
        connection: String,
        #[arg(long, default_value_t = 60)]
        minutes: i64,
        /// Only entries about this entity (order id, shipment).
        #[arg(long)]
        entity: Option<String>,
    },
    /// Depth and oldest message of each queue and DLQ.
    Queues,
    /// Dead letters: `dlq list --queue orders`.
    Dlq {
        #[command(subcommand)]
        command: queues::DlqCommand,
    },
    /// Move dead letters back to their queue (`--all` or `--id ID...`), with a progress bar.
    Redrive(queues::RedriveArgs),
    /// Each connection's kind, schedule, last pull, last success and failures in 24 hours.
    Connections,
    /// One cheap authenticated call per connection (or `--connection ID`): result, latency, the
    /// vendor's words on failure; exits non-zero when any failed.
    TestConnection(connections::TestArgs),
    /// Pull one connection's orders now.
    Run(connections::RunArgs),
    /// Re-list a connection's orders created in [--from, --to) and enqueue those not imported.
    Backfill(connections::BackfillArgs),
    /// Register (or repair) a channel connection's order webhooks (BigCommerce
    /// `store/order/created`, `statusUpdated` and `store/hook/deliveryException`) to deliver to
    /// shipment-webhook's route `/webhooks/orders/<connection>` under --api, with the secret of
    /// its `webhook_secret` setting. Idempotent: prints each subscription and what was done.
    OrderHooks(connections::OrderHooksArgs),
}

/// Who the connector log says did an operator action: `cli:$USER`, or `cli`.
pub(crate) fn actor() -> String {
    match std::env::var("USER").ok().filter(|u| !u.trim().is_empty()) {
        Some(user) => format!("cli:{}", user.trim()),
        None => "cli".to_owned(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    orderbridge::telemetry::init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // People read this: Display with every source, not Debug.
            eprintln!("error: {}", orderbridge::aws::ErrorChain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Provision { prefix, env_file } => {
            let config = load_operator_sdk_config().await;
            let dynamo = aws_sdk_dynamodb::Client::new(&config);
            let sqs = aws_sdk_sqs::Client::new(&config);
            let provisioned = schema::provision(&dynamo, &sqs, &prefix).await?;
            let lines: String = provisioned.env_vars().iter().map(|(k, v)| format!("export {k}={v}\n")).collect();
            print!("{lines}");
            if let Some(path) = env_file {
                use std::io::Write;
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                file.write_all(lines.as_bytes())?;
            }
        }
        Command::MappingCheck { file, dry_run, connection, orders } => {
            let source = std::fs::read_to_string(&file)?;
            let candidate = orderbridge::mapping::Mapping::parse(&file.display().to_string(), 0, &source)?;
            println!("{}: valid", file.display());
            if dry_run {
                let connection = connection.ok_or("--dry-run needs --connection")?;
                mapping_dry_run(candidate, &connection, orders).await?;
            }
        }
        Command::MappingPush { name, file } => {
            let settings = CommonSettings::load(&Env::process())?;
            let config = load_operator_sdk_config().await;
            let ledger = DynamoLedger::new(
                aws_sdk_dynamodb::Client::new(&config),
                settings.state_table.as_str(),
                Arc::new(SystemClock),
            );
            let source = std::fs::read_to_string(&file)?;
            let stored =
                orderbridge::handlers::push_mapping(&ledger, &name, &file.display().to_string(), &source).await?;
            println!("{name}: mapping v{} stored (sha256 {})", stored.version, &stored.sha256[..12]);
        }
        Command::Records(command) => records::run(command).await?,
        Command::Console { listen } => records::serve_console(listen).await?,
        Command::Log { connection, minutes, entity } => {
            let settings = CommonSettings::load(&Env::process())?;
            let config = load_operator_sdk_config().await;
            let log = DynamoConnectorLog::new(
                aws_sdk_dynamodb::Client::new(&config),
                settings.log_table.as_str(),
                settings.log_retention,
            );
            let connection = ConnectionId::parse(connection)?;
            let now = chrono::Utc::now();
            let entries = match entity {
                Some(entity) => {
                    let mut e = log.entries_for_entity(&connection, &entity, 200).await?;
                    e.reverse();
                    e
                }
                None => log.entries_between(&connection, now - chrono::Duration::minutes(minutes), now, 1000).await?,
            };
            for e in entries {
                println!("{}", orderbridge::flows::format_log_line(&e));
            }
        }
        Command::Queues => queues::stats().await?,
        Command::Dlq { command } => queues::dlq(command).await?,
        Command::Redrive(args) => queues::redrive(args).await?,
        Command::Connections => connections::overview().await?,
        Command::TestConnection(args) => connections::test(args).await?,
        Command::Run(args) => connections::run(args).await?,
        Command::Backfill(args) => connections::backfill(args).await?,
        Command::OrderHooks(args) => connections::order_hooks(args).await?,
    }
    Ok(())
}

/// `mapping-check --dry-run`: the stored mapping of `connection` and `candidate` on its newest
/// new orders. Opens only what it reads: the state table (the stored mapping), the channel and
/// the ERP as the connections file configures them.
async fn mapping_dry_run(
    mut candidate: orderbridge::mapping::Mapping,
    connection: &str,
    orders: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use orderbridge::connections::Connections;
    use orderbridge::connectors::registry;
    use orderbridge::handlers::{dry_run_with_progress, DryRunProgress, MappingCache};

    let env = Env::process();
    let settings = CommonSettings::load(&env)?;
    let text = env.required("ORDERBRIDGE_CONNECTIONS", "set it to the connections TOML (see README, Configuration)")?;
    let connections = Connections::parse("ORDERBRIDGE_CONNECTIONS", &text, |var| env.optional(var))?;
    let Some(channel) = connections.connections.iter().find(|c| c.id.as_str() == connection) else {
        let known: Vec<&str> = connections.connections.iter().map(|c| c.id.as_str()).collect();
        return Err(format!(
            "connection {connection:?} is not in ORDERBRIDGE_CONNECTIONS (it has: {})",
            known.join(", ")
        )
        .into());
    };
    registry::install();
    let source = registry::channel(channel)
        .map_err(|e| format!("connection {connection} is misconfigured: {e}"))?
        .source
        .ok_or_else(|| format!("connection {connection} takes shipments only; it has no orders to map"))?;
    let config = load_operator_sdk_config().await;
    let ledger =
        DynamoLedger::new(aws_sdk_dynamodb::Client::new(&config), settings.state_table.as_str(), Arc::new(SystemClock));
    let sink = registry::erp(&connections, Some(Arc::new(ledger.clone())))
        .map_err(|e| format!("the ERP connection is misconfigured: {e}"))?
        .sink;

    let current = MappingCache::new(std::time::Duration::ZERO).get(&ledger, channel.mapping_name()).await?;
    // The version the file would get if pushed, so its messages read as they would then.
    candidate.version = current.version + 1;
    eprintln!(
        "{connection}: comparing the stored mapping {:?} v{} with {} on the {orders} newest new orders (read-only).",
        channel.mapping_name(),
        current.version,
        candidate.path
    );
    let progress = |p: DryRunProgress| match p {
        DryRunProgress::Listed { pages, listed } => eprintln!("  listed page {pages}: {listed} new orders so far"),
        DryRunProgress::Mapped { done, total } if done == total || done % 10 == 0 => {
            eprintln!("  mapped {done}/{total} orders")
        }
        DryRunProgress::Mapped { .. } => {}
    };
    let report = dry_run_with_progress(source.as_ref(), sink.as_ref(), &current, &candidate, orders, &progress).await?;
    print!("{}", report.render());
    Ok(())
}

//! Operator commands on failed and imported orders (the console's Failures and Order pages on
//! the command line), and `console`, which serves the console locally.

use std::sync::Arc;

use clap::Subcommand;
use orderbridge::handlers::from_env;
use orderbridge::model::{ChannelOrderId, ConnectionId, ImportKey};
use orderbridge::ops::failures::RecordOps;

#[derive(Subcommand)]
pub enum RecordCommand {
    /// Failed orders grouped by unmapped value (with the line to add) and by reason.
    Failures,
    /// Enqueue a failed (or never imported) order for import now.
    Retry {
        #[arg(long)]
        connection: String,
        /// The Import ID, e.g. SC-1001.
        #[arg(long)]
        order: String,
    },
    /// Resolve a failed order without importing it; it is never retried again.
    Skip {
        #[arg(long)]
        connection: String,
        #[arg(long)]
        order: String,
        /// Why (kept in the claim and the connector log).
        #[arg(long)]
        note: String,
    },
    /// Forget an order's import and enqueue it again (after a reset in the channel).
    Reimport {
        #[arg(long)]
        connection: String,
        #[arg(long)]
        order: String,
    },
    /// Enqueue again every failed order (of one connection, or that one unmapped value blocked).
    Replay {
        #[arg(long)]
        connection: Option<String>,
        /// Mapping section of the unmapped value, e.g. shipping_methods (with --value).
        #[arg(long, requires = "value")]
        section: Option<String>,
        #[arg(long, requires = "section")]
        value: Option<String>,
    },
    /// One order across systems, by Import ID (SC-1001) or ERP order (SO/000123).
    Timeline { query: String },
}

fn actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "operator".into()))
}

fn key(connection: &str, order: &str) -> Result<ImportKey, Box<dyn std::error::Error>> {
    let order = ChannelOrderId::parse_display(order)
        .ok_or_else(|| format!("--order {order:?} is not an Import ID (channel code, dash, id: SC-1001)"))?;
    Ok(ImportKey::new(ConnectionId::parse(connection)?, order))
}

pub async fn run(command: RecordCommand) -> Result<(), Box<dyn std::error::Error>> {
    let ops: RecordOps = from_env().await?;
    let report = match command {
        RecordCommand::Failures => {
            let inbox = ops.inbox().await?;
            println!("{} failed order(s).", inbox.total);
            for group in &inbox.unmapped {
                println!(
                    "\n{} {:?} ({}) blocks {} order(s) of {}: add to {}\n  {}\n  orders: {}",
                    group.value.what,
                    group.value.value,
                    group.value.section,
                    group.orders.len(),
                    group.connection,
                    group.value.mapping_path,
                    group.value.line_to_add(),
                    group.orders.iter().map(ImportKey::import_id).collect::<Vec<_>>().join(", ")
                );
            }
            for group in &inbox.by_reason {
                println!("\n{} — {} order(s)", group.reason, group.orders.len());
                for o in &group.orders {
                    println!(
                        "  {:<10} {:<14} attempts {:>2}  {}",
                        o.key.connection,
                        o.key.import_id(),
                        o.attempts,
                        o.failed_at
                    );
                }
            }
            return Ok(());
        }
        RecordCommand::Retry { connection, order } => ops.retry(&key(&connection, &order)?, &actor()).await?,
        RecordCommand::Skip { connection, order, note } => {
            ops.skip(&key(&connection, &order)?, &note, &actor()).await?
        }
        RecordCommand::Reimport { connection, order } => ops.reimport(&key(&connection, &order)?, &actor()).await?,
        RecordCommand::Replay { connection, section, value } => {
            let connection = connection.map(ConnectionId::parse).transpose()?;
            let filter = section.as_deref().zip(value.as_deref());
            let report = ops.replay(connection.as_ref(), filter, &actor()).await?;
            println!("{} order(s) enqueued again.", report.enqueued.len());
            for key in &report.enqueued {
                println!("  {} {}", key.connection, key.import_id());
            }
            return Ok(());
        }
        RecordCommand::Timeline { query } => {
            let Some(t) = ops.timeline(&query).await? else {
                return Err(format!("no order {query:?} is known to Orderbridge").into());
            };
            println!("{} on {} (correlation {})", t.key.import_id(), t.key.connection, t.correlation_id);
            if let Some(c) = &t.claim {
                println!(
                    "import: {:?} after {} attempt(s){}",
                    c.status,
                    c.attempts,
                    c.failure.as_deref().map(|f| format!(": {f}")).unwrap_or_default()
                );
            }
            for s in &t.steps {
                println!("{}  {:<12} {}", s.at.format("%Y-%m-%d %H:%M:%S%.3f"), s.stage, s.detail);
            }
            return Ok(());
        }
    };
    println!("{}", report.message);
    if report.done {
        Ok(())
    } else {
        Err("nothing was done".into())
    }
}

/// Serves the console on `listen` until interrupted.
pub async fn serve_console(listen: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let app: orderbridge::console::ConsoleApp = from_env().await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    eprintln!(
        "Console at http://{address}/console (sign in with a token of ORDERBRIDGE_CONSOLE_OPERATORS); Ctrl-C stops it."
    );
    orderbridge::console::serve(Arc::new(app), listener).await?;
    Ok(())
}

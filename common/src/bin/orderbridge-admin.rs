//! Operator and developer commands: provision the tables and queues of a stage on the emulator
//! (or any AWS account the environment points at).

use clap::{Parser, Subcommand};
use orderbridge::aws::{load_sdk_config, schema};

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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    orderbridge::telemetry::init();
    match Cli::parse().command {
        Command::Provision { prefix, env_file } => {
            let config = load_sdk_config().await;
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
    }
    Ok(())
}

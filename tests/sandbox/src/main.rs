//! `orderbridge-sandbox`: start all five vendor simulators, print one JSON line with each
//! vendor's base URL and credentials, and serve until Ctrl-C / SIGTERM.

use clap::Parser;
use orderbridge_sandbox::{start, FaultPlan, SandboxConfig};

#[derive(Parser, Debug)]
#[command(name = "orderbridge-sandbox", about = "Stateful simulator of the Orderbridge vendor APIs")]
struct Args {
    /// Seed of the data generator and of the fault RNG.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seeded orders per channel vendor (Sellercloud, BigCommerce, Magento) unless overridden.
    #[arg(long)]
    orders: Option<usize>,
    #[arg(long)]
    sellercloud_orders: Option<usize>,
    #[arg(long)]
    bigcommerce_orders: Option<usize>,
    #[arg(long)]
    magento_orders: Option<usize>,
    #[arg(long)]
    shipstation_orders: Option<usize>,
    /// Catalogue size (channel products = Acumatica stock items).
    #[arg(long)]
    products: Option<usize>,
    /// Turn off every vendor's rate limit (on by default, as the vendors enforce them).
    #[arg(long)]
    no_rate_limits: bool,
    /// Faults, e.g. "acumatica:p500=0.05,latency=100,commit_fail=0.02,commit_mode=drop;bigcommerce:p429=0.1".
    #[arg(long)]
    faults: Option<String>,
    /// Fixed ports (0 = any free port).
    #[arg(long, default_value_t = 0)]
    sellercloud_port: u16,
    #[arg(long, default_value_t = 0)]
    acumatica_port: u16,
    #[arg(long, default_value_t = 0)]
    bigcommerce_port: u16,
    #[arg(long, default_value_t = 0)]
    shipstation_port: u16,
    #[arg(long, default_value_t = 0)]
    magento_port: u16,
    /// Acumatica push-notification target URL.
    #[arg(long)]
    acumatica_push_url: Option<String>,
    /// BigCommerce webhook target URL.
    #[arg(long)]
    bigcommerce_webhook_url: Option<String>,
    /// ShipStation webhook target URL.
    #[arg(long)]
    shipstation_webhook_url: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let a = Args::parse();
    let d = SandboxConfig::default();
    let faults = match &a.faults {
        Some(f) => FaultPlan::parse(f).map_err(|e| format!("--faults: {e}"))?,
        None => FaultPlan::default(),
    };
    let target = |u: &Option<String>| u.clone().map(orderbridge_sandbox::WebhookTarget::new);
    let config = SandboxConfig {
        seed: a.seed,
        sellercloud_orders: a.sellercloud_orders.or(a.orders).unwrap_or(d.sellercloud_orders),
        bigcommerce_orders: a.bigcommerce_orders.or(a.orders).unwrap_or(d.bigcommerce_orders),
        magento_orders: a.magento_orders.or(a.orders).unwrap_or(d.magento_orders),
        shipstation_orders: a.shipstation_orders.unwrap_or(d.shipstation_orders),
        products: a.products.unwrap_or(d.products),
        rate_limits: !a.no_rate_limits,
        faults,
        ports: orderbridge_sandbox::Ports {
            sellercloud: a.sellercloud_port,
            acumatica: a.acumatica_port,
            bigcommerce: a.bigcommerce_port,
            shipstation: a.shipstation_port,
            magento: a.magento_port,
        },
        acumatica_push: target(&a.acumatica_push_url),
        bigcommerce_webhook: target(&a.bigcommerce_webhook_url),
        shipstation_webhook: target(&a.shipstation_webhook_url),
        ..d
    };
    let sandbox = start(config).await?;
    println!("{}", sandbox.describe());
    wait_for_signal().await;
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

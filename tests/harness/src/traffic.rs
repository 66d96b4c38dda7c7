//! Steady traffic for `make bench` and `make soak`: new channel orders as shops take them, and the
//! event sources of a deployment (the pull's schedule and each queue's consumers) running in the
//! background against one world.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orderbridge::handlers::deadline_from;
use orderbridge_sandbox::seed::OrderOverrides;
use orderbridge_sandbox::SandboxConfig;

use crate::world::World;

/// A sandbox seeded with no orders: the traffic brings them.
pub fn empty_sandbox(seed: u64) -> SandboxConfig {
    SandboxConfig {
        seed,
        sellercloud_orders: 0,
        bigcommerce_orders: 0,
        magento_orders: 0,
        shipstation_orders: 0,
        ..SandboxConfig::default()
    }
}

/// Logs errors only, unless `RUST_LOG` says otherwise: the figures are the output.
pub fn quiet_logs() {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    orderbridge::telemetry::init();
}

/// A new order in a channel (70 % Sellercloud, 30 % BigCommerce by `index`); its Import ID.
pub fn new_order(world: &World, index: usize) -> String {
    let state = world.sandbox.state();
    if index % 10 < 7 {
        let id = state.sellercloud_create_orders(1, &OrderOverrides::default())[0];
        format!("SC-{id}")
    } else {
        let id = state.bigcommerce_create_orders(1, &OrderOverrides::default())[0];
        format!("BC-{id}")
    }
}

/// `MaximumBatchingWindowInSeconds` of order-import's and status-push's SQS event sources in
/// `infra/template.yaml` (a test keeps them equal).
pub const ORDERS_BATCHING_WINDOW: Duration = Duration::from_secs(0);
pub const SHIPMENTS_BATCHING_WINDOW: Duration = Duration::from_secs(2);

/// The SQS event source (with the template's batching windows) and the EventBridge schedule, in
/// the background: `pollers` consumers per
/// queue (long-polling one second) and a pull every `interval`.
pub struct Background {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub fn start(world: &Arc<World>, interval: Duration, pollers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        {
            let (world, stop) = (world.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let next = Instant::now() + interval;
                    let _ = world.app.run_pull(deadline_from(Duration::from_secs(120))).await;
                    while Instant::now() < next && !stop.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
        for shipments in [false, true] {
            for i in 0..pollers {
                let (world, stop) = (world.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    let queue = if shipments { &world.aws.resources.shipments } else { &world.aws.resources.orders };
                    while !stop.load(Ordering::SeqCst) {
                        let window = if shipments { SHIPMENTS_BATCHING_WINDOW } else { ORDERS_BATCHING_WINDOW };
                        let event = world.aws.receive_batch(queue, 1, window).await;
                        if event.records.is_empty() {
                            continue;
                        }
                        let request_id = format!("bench-{i}-{}", uuid::Uuid::new_v4());
                        let deadline = deadline_from(Duration::from_secs(60));
                        let response = if shipments {
                            world.status.run_batch(event.clone(), deadline, &request_id).await
                        } else {
                            world.app.run_import_batch(event.clone(), deadline, &request_id).await
                        };
                        world.aws.delete_succeeded(queue, &event, &response).await;
                    }
                }));
            }
        }
        Self { stop, tasks }
    }

    pub async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness's event source batches as the template's event source mappings do.
    #[test]
    fn batching_windows_match_the_template() {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml"))
            .expect("infra/template.yaml");
        let doc: serde_yaml::Value = serde_yaml::from_str(&template).expect("template parses");
        let window = |function: &str, event: &str| {
            doc["Resources"][function]["Properties"]["Events"][event]["Properties"]["MaximumBatchingWindowInSeconds"]
                .as_u64()
                .map(Duration::from_secs)
        };
        assert_eq!(window("OrderImportFunction", "Orders"), Some(ORDERS_BATCHING_WINDOW));
        assert_eq!(window("StatusPushFunction", "Shipments"), Some(SHIPMENTS_BATCHING_WINDOW));
    }
}

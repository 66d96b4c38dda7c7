//! Helpers shared by the vendor test files: start a sandbox on port 0 with a fixed anchor.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use orderbridge_sandbox::{start, Sandbox, SandboxConfig};

pub fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z").unwrap().with_timezone(&Utc)
}

pub fn config() -> SandboxConfig {
    SandboxConfig {
        seed: 11,
        sellercloud_orders: 137,
        bigcommerce_orders: 83,
        magento_orders: 71,
        anchor: Some(anchor()),
        ..SandboxConfig::default()
    }
}

pub async fn sandbox() -> Sandbox {
    start(config()).await.expect("sandbox starts")
}

pub async fn sandbox_with(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut c = config();
    f(&mut c);
    start(c).await.expect("sandbox starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap()
}

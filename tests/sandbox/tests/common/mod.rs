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

/// Requests a [`Receiver`] got: headers and raw body.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A webhook receiver on a free port that records every request (headers + raw body) and can
/// answer 500 to the first `fail_first` requests to exercise redelivery.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Received,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let got: Received = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let g = got.clone();
        let app = axum::Router::new().fallback(move |h: axum::http::HeaderMap, body: axum::body::Bytes| {
            let g = g.clone();
            let calls = calls.clone();
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                g.lock().unwrap().push((h, body.to_vec()));
                if n < fail_first {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        Self { url, got }
    }

    pub async fn wait(&self, n: usize) -> Vec<(axum::http::HeaderMap, serde_json::Value)> {
        for _ in 0..300 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(h, b)| (h.clone(), serde_json::from_slice(b).unwrap_or_default()))
            .collect()
    }
}

/// Sends `req` and reads the JSON answer, whatever the status.
pub async fn json<T: serde::de::DeserializeOwned>(req: reqwest::RequestBuilder) -> T {
    req.send().await.unwrap().json().await.unwrap()
}

/// A seeded sandbox, a client and `vendor`'s base URL.
pub async fn sandbox_for(vendor: orderbridge_sandbox::Vendor) -> (Sandbox, reqwest::Client, String) {
    let sb = sandbox().await;
    let base = sb.urls().get(vendor).to_string();
    (sb, client(), base)
}

//! Headless Chromium driven through WebDriver (Debian's `chromium` and `chromium-driver`,
//! installed by `infra/local/browser.sh`), for the console's browser tests.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

use crate::world::BoxError;

/// A chromedriver process and one browser session on it; both end on drop.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    profile: PathBuf,
    screenshots: PathBuf,
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session. Fails with what
    /// to run when the browser is not installed (the test must not pass without a browser).
    pub async fn start(test: &str) -> Result<Self, BoxError> {
        let driver_bin = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .or_else(|| find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]))
            .ok_or(
                "chromedriver not found: run infra/local/browser.sh (installs Debian's chromium and chromium-driver)",
            )?;
        let chromium = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .or_else(|| find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]))
            .ok_or("chromium not found: run infra/local/browser.sh")?;
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let driver = tokio::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let profile = std::env::temp_dir().join(format!("orderbridge-chromium-{}", uuid::Uuid::new_v4().simple()));
        // The flags a closed network needs (no background calls to Google's hosts) and a fresh
        // profile per run; running as root needs --no-sandbox.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium.display().to_string(), "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..50 {
            let http = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(http).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => {
                    let screenshots = screenshot_dir().join(test);
                    std::fs::create_dir_all(&screenshots)?;
                    return Ok(Self { client, driver, profile, screenshots });
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("chromedriver at {url} did not start a session: {last:?}").into())
    }

    /// Saves a PNG of the current page as `<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, BoxError> {
        let png = self.client.screenshot().await?;
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where the browser tests save their screenshots: `.local/console-screenshots/<test>/` in the
/// repository (git-ignored), or `ORDERBRIDGE_SCREENSHOTS`.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("ORDERBRIDGE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/console-screenshots"))
}

//! The sandbox starts with one command and prints one JSON line with every vendor's base URL and
//! credentials.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn binary_prints_one_json_line_with_each_vendor_and_serves_until_killed() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderbridge-sandbox"))
        .args(["--seed", "3", "--orders", "20", "--no-rate-limits"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("prints within 20 s")
        .unwrap()
        .expect("one line");
    let v: Value = serde_json::from_str(&line).expect("the line is JSON");
    for vendor in ["sellercloud", "acumatica", "bigcommerce", "shipstation", "magento"] {
        let url = v["vendors"][vendor]["base_url"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{vendor}: {url}");
    }
    assert!(v["vendors"]["bigcommerce"]["base_url"].as_str().unwrap().contains("/stores/"));
    assert_eq!(v["vendors"]["shipstation"]["api_key"], "ss-sandbox-key");
    let sc = v["vendors"]["sellercloud"]["base_url"].as_str().unwrap();
    let state: Value = reqwest::get(format!("{sc}/_sandbox/state")).await.unwrap().json().await.unwrap();
    assert_eq!(state["orders"], 20);
    child.kill().await.unwrap();
}

//! Tests of the shared HTTP layer: message capping, classification, hints, and the retry loop
//! against a scripted loopback server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::error::Classify;

fn generic_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    json_message(&v, &["message"])
}

fn no_hint(_: StatusCode, _: &HeaderMap, _: &[u8]) -> Option<Duration> {
    None
}

fn no_pause(_: &HeaderMap) -> Option<Duration> {
    None
}

fn never(_: StatusCode, _: &[u8]) -> bool {
    false
}

const PROFILE: VendorProfile = VendorProfile {
    name: "test",
    error_message: generic_message,
    rate_hint: no_hint,
    pause_hint: no_pause,
    rejects: never,
};

fn fast_policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 4, initial_delay_ms: 1, max_delay_ms: 5, max_total_wait_ms: 2_000 }
}

/// Serves `responses` (raw status line + headers + body) one per connection, then 200 `{}`.
/// Also the vendor stand-in of the metrics test.
pub(crate) async fn scripted(responses: Vec<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 8192];
            let _ = sock.read(&mut buf).await;
            let (head, body) = match responses.get(n) {
                Some(r) => r.split_once("\n\n").unwrap_or((r, "")),
                None => ("200 OK", "{}"),
            };
            let mut lines = head.lines();
            let status = lines.next().unwrap_or("200 OK");
            let extra: String = lines.map(|l| format!("{l}\r\n")).collect();
            let raw = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(raw.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, hits)
}

#[test]
fn messages_are_single_line_and_capped() {
    let long = format!("line one\nline\ttwo {}", "x".repeat(500));
    let capped = cap_message(&long);
    assert!(capped.starts_with("line one line two"), "{capped}");
    assert_eq!(capped.chars().count(), MAX_MESSAGE_CHARS);
    assert!(capped.ends_with('…'));
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_static("7"));
    assert_eq!(retry_after_header(&h), Some(Duration::from_secs(7)));
    h.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
    assert_eq!(retry_after_header(&h), Some(Duration::ZERO), "a date in the past means now");
}

#[test]
fn statuses_classify_per_architecture_and_keep_the_envelope_message() {
    let e = classify_failure(&PROFILE, "op", StatusCode::NOT_FOUND, &HeaderMap::new(), br#"{"message":"nope"}"#);
    assert!(matches!(&e, crate::ports::ConnectorError::Status { status: 404, message, .. } if message == "nope"));
    assert!(!e.is_retryable());
    let e = classify_failure(&PROFILE, "op", StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>proxy</html>");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("no readable error message"), "{e}");
    assert!(!e.to_string().contains("proxy"), "bodies are not echoed: {e}");
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_static("3"));
    let e = classify_failure(&PROFILE, "op", StatusCode::TOO_MANY_REQUESTS, &h, b"");
    assert_eq!(e.class(), crate::ErrorClass::Retryable { after: Some(Duration::from_secs(3)) });
}

#[test]
fn budgets_and_policies_name_the_bad_field() {
    assert!(RateBudget::new(0, 60).validate("acumatica.rate_limit").unwrap_err().contains("acumatica.rate_limit"));
    let bad = RetryPolicy { max_attempts: 0, ..RetryPolicy::default() };
    assert!(bad.validate("retry").unwrap_err().contains("retry.max_attempts"));
    assert_eq!(RetryPolicy::default().delays().count(), 3);
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let (url, hits) =
        scripted(vec!["503 Service Unavailable\n\n{\"message\":\"busy\"}", "500 Internal Server Error\n\n{}"]).await;
    let http = VendorHttp::new(
        PROFILE,
        "test-conn",
        transport(&HttpSettings::default(), RateBudget::new(100, 1), fast_policy()),
    )
    .unwrap();
    let reply = http.send("get", Idempotency::Safe, |c| c.get(&url)).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn unsafe_requests_are_not_repeated_after_a_server_error() {
    let (url, hits) = scripted(vec!["500 Internal Server Error\n\n{\"message\":\"boom\"}"]).await;
    let http = VendorHttp::new(
        PROFILE,
        "test-conn",
        transport(&HttpSettings::default(), RateBudget::new(100, 1), fast_policy()),
    )
    .unwrap();
    let err = http.send("insert", Idempotency::Unsafe, |c| c.put(&url)).await.unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unsafe_requests_are_repeated_when_throttled() {
    let (url, hits) = scripted(vec!["429 Too Many Requests\nretry-after: 0\n\n{}"]).await;
    let http = VendorHttp::new(
        PROFILE,
        "test-conn",
        transport(&HttpSettings::default(), RateBudget::new(100, 1), fast_policy()),
    )
    .unwrap();
    http.send("insert", Idempotency::Unsafe, |c| c.put(&url)).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_hint_longer_than_the_budget_is_returned_not_waited_for() {
    let (url, hits) = scripted(vec!["429 Too Many Requests\nretry-after: 3600\n\n{}"]).await;
    let http = VendorHttp::new(
        PROFILE,
        "test-conn",
        transport(&HttpSettings::default(), RateBudget::new(100, 1), fast_policy()),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = http.send("get", Idempotency::Safe, |c| c.get(&url)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(err.class(), crate::ErrorClass::Retryable { after: Some(Duration::from_secs(3600)) });
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The pause now applies to the next call too, without touching the server.
    let again = http.send("get", Idempotency::Safe, |c| c.get(&url)).await.unwrap_err();
    assert!(matches!(again, crate::ports::ConnectorError::RateLimited { .. }));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn base_urls_are_checked_and_joined() {
    assert!(validate_base_url("sellercloud.base_url", "ftp://x").is_err());
    assert!(validate_base_url("sellercloud.base_url", "not a url").unwrap_err().contains("sellercloud.base_url"));
    assert_eq!(join_url("http://h/base/", "/api/token"), "http://h/base/api/token");
}

fn transport(http: &HttpSettings, rate_limit: RateBudget, retry: RetryPolicy) -> super::Transport<'_> {
    super::Transport { base_url: "http://127.0.0.1", rate_limit, retry, http }
}

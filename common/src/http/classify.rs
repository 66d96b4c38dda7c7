//! Turning a failed vendor response into a [`ConnectorError`]: status classification
//! (architecture.md §6), the `Retry-After` header, vendor rate-limit hints and a short message
//! read from the vendor's error envelope. Never whole bodies, never credentials.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use super::VendorProfile;
use crate::ports::ConnectorError;

/// Longest vendor message kept in an error or a log line.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// One line, control characters removed, at most [`MAX_MESSAGE_CHARS`] characters.
pub fn cap_message(text: &str) -> String {
    let mut out = String::new();
    let mut last_space = false;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() { ' ' } else { c };
        if c == ' ' && (last_space || out.is_empty()) {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    let trimmed = out.trim_end();
    if trimmed.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = trimmed.chars().take(MAX_MESSAGE_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        trimmed.to_owned()
    }
}

/// The first non-empty string among `fields` of a JSON object (for envelope parsers).
pub fn json_message(value: &Value, fields: &[&str]) -> Option<String> {
    fields
        .iter()
        .filter_map(|f| value.get(*f))
        .filter_map(Value::as_str)
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(raw).ok()?.with_timezone(&Utc);
    Some((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// Classifies a non-success response. A vendor rate-limit signal (429 or the vendor's own hint)
/// becomes `RateLimited` with the wait; everything else `Status` with the envelope's message.
pub fn classify_failure(
    profile: &VendorProfile,
    operation: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ConnectorError {
    let header_wait = retry_after_header(headers);
    let hint = (profile.rate_hint)(status, headers, body);
    let message = match (profile.error_message)(body) {
        Some(m) => cap_message(&m),
        None if body.is_empty() => "empty body".to_owned(),
        None => format!("no readable error message ({} byte body)", body.len()),
    };
    if status == StatusCode::TOO_MANY_REQUESTS || hint.is_some() {
        return ConnectorError::RateLimited {
            vendor: profile.name,
            operation,
            message: format!("HTTP {}: {message}", status.as_u16()),
            retry_after: hint.or(header_wait),
        };
    }
    ConnectorError::Status {
        vendor: profile.name,
        operation,
        status: status.as_u16(),
        message,
        retry_after: header_wait,
    }
}

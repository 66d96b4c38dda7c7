//! Vendor connectors: one folder per vendor (config, wire, client, mapper, tests).

use std::time::Duration;

use crate::error::{classify_http_status, Classify, ErrorClass};

/// A vendor call that failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{vendor} {operation}: request failed before a response arrived")]
    Transport {
        vendor: &'static str,
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{vendor} {operation}: HTTP {status}: {message}")]
    Status {
        vendor: &'static str,
        operation: &'static str,
        status: u16,
        /// The vendor's error message (from its documented error envelope), trimmed.
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{vendor} {operation}: rate limited; retry in {retry_after:?}")]
    RateLimited { vendor: &'static str, operation: &'static str, retry_after: Option<Duration> },
    #[error("{vendor} {operation}: unexpected response body: {detail}")]
    Decode { vendor: &'static str, operation: &'static str, detail: String },
    #[error("{vendor} {operation}: {message}")]
    Rejected { vendor: &'static str, operation: &'static str, message: String },
}

impl Classify for ConnectorError {
    fn class(&self) -> ErrorClass {
        match self {
            // Timeouts and refused connections are transient; a malformed request URL is not.
            Self::Transport { source, .. } if source.is_builder() => ErrorClass::Permanent,
            Self::Transport { .. } => ErrorClass::RETRY,
            Self::Status { status, retry_after, .. } => classify_http_status(*status, *retry_after),
            Self::RateLimited { retry_after, .. } => ErrorClass::Retryable { after: *retry_after },
            // A vendor answering garbage is most often a proxy error page; retry, then DLQ.
            Self::Decode { .. } => ErrorClass::RETRY,
            Self::Rejected { .. } => ErrorClass::Permanent,
        }
    }
}

/// A webhook that was refused. Each variant maps to the HTTP status the intake answers with.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("signature does not match")]
    BadSignature,
    #[error("timestamp outside the tolerance window")]
    Stale,
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error("resource host {0:?} is not on the allowlist")]
    ForeignHost(String),
}

impl WebhookError {
    /// The status code a refused delivery gets; never a body that reveals internals.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Unauthorized | Self::BadSignature | Self::Stale => 401,
            Self::TooLarge { .. } => 413,
            Self::Malformed(_) | Self::ForeignHost(_) => 400,
        }
    }
}

impl Classify for WebhookError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

//! Shared HTTP layer of the vendor clients: client builder, rate limiting, retries with backoff,
//! and the translation of vendor responses into [`ConnectorError`](crate::ports::ConnectorError).
//!
//! Every vendor client owns one [`VendorHttp`]: it waits for the vendor's budget, sends, classifies
//! the response per architecture.md §6, retries what may be retried within a bounded time (we run
//! inside one Lambda invocation), and logs one debug line per call outcome.

mod budget;
mod classify;
mod client;
mod limit;
mod retry;
mod session;

use std::time::Duration;

use serde::Deserialize;

use crate::ports::ConnectorError;

pub use budget::{current_scope, with_budget, with_priority, BudgetScope, Shape};
pub use classify::{cap_message, classify_failure, json_message, retry_after_header, MAX_MESSAGE_CHARS};
pub use client::{BuildRequest, Idempotency, Reply, VendorHttp, VendorProfile};
pub use limit::{RateBudget, RateLimiter};
pub use retry::RetryPolicy;
pub use session::{Credential, SecondRefusal, Session};

/// Timeouts and identification of the outgoing HTTP client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Time allowed to open the TCP/TLS connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time allowed for one whole request (send, wait, read the body), in milliseconds.
    pub request_timeout_ms: u64,
    /// `User-Agent` header; vendors ask integrations to identify themselves.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            request_timeout_ms: 20_000,
            user_agent: concat!("orderbridge/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl HttpSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Builds the reqwest client every vendor client uses: rustls, bounded timeouts, our user agent,
/// no automatic cookie store (Acumatica's session cookie is handled explicitly, as a secret).
pub fn build_client(vendor: &'static str, settings: &HttpSettings) -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(settings.connect_timeout())
        .timeout(settings.request_timeout())
        .user_agent(settings.user_agent.clone())
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .map_err(|source| client::transport_error(vendor, "build HTTP client", source))
}

/// Declares a vendor connection's settings: the vendor's own fields as written, then the transport
/// fields every vendor shares (`rate_limit` with the vendor's documented budget as its default,
/// `retry`, `http`), refusing unknown keys, and `transport()`, which lends them to
/// [`VendorHttp`] and to the one check in [`Transport::validate`]. The vendor's fields end with
/// a comma; `rate_limit` takes its doc text and the name of the vendor's default function.
#[macro_export]
macro_rules! vendor_settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($fields:tt)*
        }
        rate_limit($budget_doc:literal, default = $default:literal);
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($fields)*
            #[doc = $budget_doc]
            #[serde(default = $default)]
            pub rate_limit: $crate::http::RateBudget,
            /// Retries inside one invocation.
            #[serde(default)]
            pub retry: $crate::http::RetryPolicy,
            /// HTTP timeouts and user agent.
            #[serde(default)]
            pub http: $crate::http::HttpSettings,
        }

        impl $name {
            /// The shared transport fields (base URL, rate limit, retry, timeouts), checked in one place.
            pub fn transport(&self) -> $crate::http::Transport<'_> {
                $crate::http::Transport {
                    base_url: &self.base_url,
                    rate_limit: self.rate_limit,
                    retry: self.retry,
                    http: &self.http,
                }
            }
        }
    };
}

/// The transport part every vendor connection's settings share: where the vendor is, how fast
/// it may be called, how often a call is retried, and the client's timeouts. Each vendor config
/// lends its fields through `transport()`, so they are checked in one place.
#[derive(Debug, Clone, Copy)]
pub struct Transport<'a> {
    pub base_url: &'a str,
    pub rate_limit: RateBudget,
    pub retry: RetryPolicy,
    pub http: &'a HttpSettings,
}

impl Transport<'_> {
    /// Checks the shared fields; the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        validate_base_url("base_url", self.base_url)?;
        self.rate_limit.validate("rate_limit")?;
        self.retry.validate("retry")?;
        if self.http.connect_timeout_ms == 0 || self.http.request_timeout_ms == 0 {
            return Err("http: connect_timeout_ms and request_timeout_ms must be above 0".into());
        }
        Ok(())
    }
}

/// Joins a configured base URL and a path without doubling or losing the slash between them.
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Checks that a configured base URL is an absolute http(s) URL; names the field when it is not.
pub fn validate_base_url(field: &str, value: &str) -> Result<(), String> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("{field}: {value:?} must be an http(s) URL with a host")),
        Err(e) => Err(format!("{field}: {value:?} is not a URL ({e})")),
    }
}

#[cfg(test)]
pub(crate) mod tests;

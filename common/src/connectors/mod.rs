//! Vendor connectors: one folder per vendor (config, wire, client, mapper, tests).

pub mod acumatica;
pub mod bigcommerce;
pub mod magento;
pub mod sellercloud;
pub mod shipstation;

use std::time::Duration;

use crate::error::{classify_http_status, Classify, ErrorClass};

/// A vendor connection's configuration that cannot work; names the field and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vendor} configuration: {problem}")]
pub struct InvalidConfig {
    pub vendor: &'static str,
    /// The offending field and what is wrong with it, e.g. `page_size: must be 1-50`.
    pub problem: String,
}

impl Classify for InvalidConfig {
    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

/// Serde helpers shared by the vendors' wire types: money and numbers arrive as JSON numbers or
/// numeric strings depending on the vendor (and the field), and must never pass through `f64`.
pub mod lenient {
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    /// Parses a JSON number or numeric string exactly; blank strings and null are `None`.
    pub fn decimal_from_value(value: &Value) -> Result<Option<Decimal>, String> {
        let text = match value {
            Value::Null => return Ok(None),
            // serde_json runs with arbitrary_precision here, so this is the number's exact text.
            Value::Number(n) => n.to_string(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => s.trim().to_owned(),
            other => return Err(format!("expected a number or numeric string, got {other}")),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map(Some)
            .map_err(|_| format!("{text:?} is not a decimal number"))
    }

    /// `deserialize_with` for `Option<Decimal>` fields (use with `#[serde(default)]`).
    pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let value = Value::deserialize(d)?;
        decimal_from_value(&value).map_err(serde::de::Error::custom)
    }

    /// `deserialize_with` for `Decimal` fields that default to zero when absent, null or blank.
    pub fn decimal_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        opt_decimal(d).map(Option::unwrap_or_default)
    }

    /// `deserialize_with` for integer quantities and ids sent as numbers or strings.
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let value = Value::deserialize(d)?;
        match decimal_from_value(&value).map_err(serde::de::Error::custom)? {
            None => Ok(None),
            Some(dec) if dec.fract().is_zero() => {
                i64::try_from(dec).map(Some).map_err(|_| serde::de::Error::custom("integer out of range"))
            }
            Some(dec) => Err(serde::de::Error::custom(format!("{dec} is not an integer"))),
        }
    }

    /// `deserialize_with` for strings that some vendors send as numbers, bools or null.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
    }

    /// Serializes a decimal as an exact JSON number (never through `f64`).
    pub fn serialize_number<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision::serialize(&value.normalize(), s)
    }
}

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
    /// The vendor's budget is spent. `message` keeps the vendor's own words: an Acumatica 429
    /// may mean requests per minute or "API Login Limit" (every licensed API user signed in),
    /// and only the words tell an operator which limit to look at.
    #[error("{vendor} {operation}: rate limited ({message}); {}", retry_text(*retry_after))]
    RateLimited { vendor: &'static str, operation: &'static str, message: String, retry_after: Option<Duration> },
    #[error("{vendor} {operation}: unexpected response body: {detail}")]
    Decode { vendor: &'static str, operation: &'static str, detail: String },
    #[error("{vendor} {operation}: {message}")]
    Rejected { vendor: &'static str, operation: &'static str, message: String },
    /// Signed in again after a 401 and refused again: the new session was ended at once (another
    /// sign-out, or the licence's API-user limit). The credentials work (the sign-in succeeded),
    /// so this is worth retrying later, not recording as the order's failure.
    #[error("{vendor} {operation}: the session was ended again right after signing in; will retry")]
    SessionLost { vendor: &'static str, operation: &'static str },
}

fn retry_text(after: Option<Duration>) -> String {
    match after {
        Some(wait) => format!("retry in {:.1} s", wait.as_secs_f64()),
        None => "the vendor gave no reset time; retried with backoff".to_owned(),
    }
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
            Self::SessionLost { .. } => ErrorClass::Retryable { after: Some(Duration::from_secs(5)) },
        }
    }
}

/// Why a vendor client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] InvalidConfig),
    #[error(transparent)]
    Http(#[from] ConnectorError),
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

//! Error classification: every error in Orderbridge says whether trying again can help.

use std::time::Duration;

/// Whether an operation that failed may succeed when repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A transient condition (network, throttling, 5xx, contention). `after` carries the
    /// server's hint (`Retry-After`, a rate-limit reset) when it gave one.
    Retryable { after: Option<Duration> },
    /// Retrying cannot help (validation, mapping, 4xx): record it and stop.
    Permanent,
}

impl ErrorClass {
    pub const RETRY: ErrorClass = ErrorClass::Retryable { after: None };

    pub fn is_retryable(&self) -> bool {
        matches!(self, ErrorClass::Retryable { .. })
    }
}

/// Implemented by every error type so flows can decide between retry, DLQ and recorded failure
/// without knowing which adapter failed.
pub trait Classify {
    fn class(&self) -> ErrorClass;

    fn is_retryable(&self) -> bool {
        self.class().is_retryable()
    }
}

/// Classifies an HTTP status the way architecture.md §6 prescribes: 408, 429 and 5xx other
/// than 501 are transient; every other 4xx and 501 is permanent.
pub fn classify_http_status(status: u16, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        408 | 429 => ErrorClass::Retryable { after: retry_after },
        501 => ErrorClass::Permanent,
        500..=599 => ErrorClass::Retryable { after: retry_after },
        _ => ErrorClass::Permanent,
    }
}

/// Displays an error with its sources, so a log line says what failed down to the vendor's words.
pub struct ErrorChain<'a, E: std::error::Error + ?Sized>(pub &'a E);

impl<E: std::error::Error + ?Sized> std::fmt::Display for ErrorChain<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_are_classified_as_documented() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(classify_http_status(status, None).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 422, 501] {
            assert!(!classify_http_status(status, None).is_retryable(), "{status}");
        }
        assert_eq!(
            classify_http_status(429, Some(Duration::from_secs(3))),
            ErrorClass::Retryable { after: Some(Duration::from_secs(3)) }
        );
    }
}

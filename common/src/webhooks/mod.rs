//! Webhook intake: authenticate and parse each vendor's deliveries into canonical events before
//! anything is enqueued. No vendor is called here; fetching what a thin webhook points to is
//! status-push's job.

mod acumatica;
mod shipstation;
mod standard;

pub use acumatica::AcumaticaPushVerifier;
pub use shipstation::ShipStationVerifier;
pub use standard::StandardWebhooksVerifier;

use subtle::ConstantTimeEq;

use crate::connectors::WebhookError;
use crate::ports::WebhookRequest;

/// Bodies above this are refused with 413 before parsing (every vendor's payload is far smaller).
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// Compares secrets without leaking, through timing, how much of a guess matched.
pub(crate) fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && bool::from(given.ct_eq(expected))
}

/// The first value of a header, matched case-insensitively as HTTP requires.
pub(crate) fn header<'a>(request: &'a WebhookRequest<'_>, name: &str) -> Option<&'a str> {
    request.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// One query parameter's value (`a=1&token=x`), percent-decoding not needed for our tokens.
pub(crate) fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

pub(crate) fn check_size(request: &WebhookRequest<'_>, limit: usize) -> Result<(), WebhookError> {
    if request.body.len() > limit {
        Err(WebhookError::TooLarge { limit })
    } else {
        Ok(())
    }
}

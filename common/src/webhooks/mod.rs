//! Webhook intake helpers shared by every sender's verifier (constant-time comparison, headers,
//! query parameters, the body limit), and the vendor-neutral Standard Webhooks verifier. Each
//! vendor's own verifier and payload parser live in its connector folder.

mod standard;

pub use standard::{event_of as generic_event, StandardWebhooksVerifier};

use subtle::ConstantTimeEq;

use crate::ports::{WebhookError, WebhookRequest};

/// Bodies above this are refused with 413 before parsing (every vendor's payload is far smaller;
/// a route whose sender documents no size limit, such as Acumatica's push, sets its own).
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// The largest serialized event one queue message may carry: SQS takes 256 KiB per message, and
/// the envelope (correlation id, time, kind) around the event needs well under the 16 KiB left.
/// A delivery whose event would be larger is split into several events, each under this.
pub const MAX_EVENT_MESSAGE: usize = 240 * 1024;

/// Compares secrets without leaking, through timing, how much of a guess matched.
pub fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && bool::from(given.ct_eq(expected))
}

/// Checks a delivery's shared secret against every accepted one (the current and, while rotating,
/// the previous): each is compared, so the time taken does not tell which, if any, came close.
pub fn check_secret(given: Option<&str>, accepted: &[secrecy::SecretString]) -> Result<(), WebhookError> {
    use secrecy::ExposeSecret;
    let given = given.ok_or(WebhookError::Unauthorized)?;
    let matches = accepted.iter().filter(|s| secrets_equal(given.as_bytes(), s.expose_secret().as_bytes())).count();
    if matches == 0 {
        Err(WebhookError::Unauthorized)
    } else {
        Ok(())
    }
}

/// The first value of a header, matched case-insensitively as HTTP requires.
pub fn header<'a>(request: &'a WebhookRequest<'_>, name: &str) -> Option<&'a str> {
    request.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// One query parameter's value (`a=1&token=x`), percent-decoding not needed for our tokens.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

pub fn check_size(request: &WebhookRequest<'_>, limit: usize) -> Result<(), WebhookError> {
    if request.body.len() > limit {
        Err(WebhookError::TooLarge { limit })
    } else {
        Ok(())
    }
}

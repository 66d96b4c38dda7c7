//! Typed, versioned SQS message envelopes.
//!
//! The body is a serde-tagged enum whose tags carry a version (`import_order.v1`), so a consumer
//! that meets a kind it does not know refuses the message (it goes to the DLQ, visible) instead of
//! misreading it.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::OutgoingMessage;

/// A message with the metadata every hop carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<B> {
    /// Follows one order or shipment through every function and log line.
    pub correlation_id: String,
    pub sent_at: DateTime<Utc>,
    /// The payload, tagged with its kind and version (`{"kind": "import_order.v1", ...}`).
    #[serde(flatten)]
    pub body: B,
}

/// A message body that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("message {message_id} has no body")]
    Empty { message_id: String },
    #[error("message {message_id} is not a valid envelope: {source}")]
    Malformed {
        message_id: String,
        #[source]
        source: serde_json::Error,
    },
}

impl<B> Envelope<B> {
    /// A new envelope with a fresh correlation id.
    pub fn new(body: B, now: DateTime<Utc>) -> Self {
        Self { correlation_id: uuid::Uuid::new_v4().to_string(), sent_at: now, body }
    }

    /// A new envelope carrying an existing correlation id (an order's, derived from its key).
    pub fn correlated(body: B, now: DateTime<Utc>, correlation_id: String) -> Self {
        Self { correlation_id, sent_at: now, body }
    }

    /// A follow-up message in the same flow keeps the correlation id.
    pub fn follow_up<C>(&self, body: C, now: DateTime<Utc>) -> Envelope<C> {
        Envelope { correlation_id: self.correlation_id.clone(), sent_at: now, body }
    }
}

impl<B: Serialize> Envelope<B> {
    pub fn to_outgoing(&self, entry_id: impl Into<String>) -> Result<OutgoingMessage, serde_json::Error> {
        Ok(OutgoingMessage { entry_id: entry_id.into(), body: serde_json::to_string(self)?, delay: None })
    }
}

impl<B: DeserializeOwned> Envelope<B> {
    pub fn parse(message_id: &str, body: Option<&str>) -> Result<Self, EnvelopeError> {
        let body = body
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| EnvelopeError::Empty { message_id: message_id.to_owned() })?;
        serde_json::from_str(body)
            .map_err(|source| EnvelopeError::Malformed { message_id: message_id.to_owned(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind")]
    enum TestBody {
        #[serde(rename = "ping.v1")]
        PingV1 { n: u32 },
        #[serde(rename = "ping.v2")]
        PingV2 { n: u32, note: String },
    }

    #[test]
    fn envelope_round_trips_with_kind_and_version_tag() {
        let env = Envelope::new(TestBody::PingV1 { n: 3 }, Utc::now());
        let out = env.to_outgoing("0").unwrap();
        assert!(out.body.contains(r#""kind":"ping.v1""#), "{}", out.body);
        let back = Envelope::<TestBody>::parse("m1", Some(&out.body)).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn unknown_versions_and_empty_bodies_are_refused() {
        let err = Envelope::<TestBody>::parse(
            "m1",
            Some(r#"{"correlation_id":"c","sent_at":"2024-01-01T00:00:00Z","kind":"ping.v9","n":1}"#),
        );
        assert!(matches!(err, Err(EnvelopeError::Malformed { .. })));
        assert!(matches!(Envelope::<TestBody>::parse("m2", Some("  ")), Err(EnvelopeError::Empty { .. })));
        let v2 = Envelope::<TestBody>::parse(
            "m3",
            Some(r#"{"correlation_id":"c","sent_at":"2024-01-01T00:00:00Z","kind":"ping.v2","n":1,"note":"x"}"#),
        )
        .unwrap();
        assert_eq!(v2.body, TestBody::PingV2 { n: 1, note: "x".into() });
    }

    #[test]
    fn follow_up_keeps_the_correlation_id() {
        let env = Envelope::new(TestBody::PingV1 { n: 1 }, Utc::now());
        let next = env.follow_up(TestBody::PingV1 { n: 2 }, Utc::now());
        assert_eq!(next.correlation_id, env.correlation_id);
    }
}

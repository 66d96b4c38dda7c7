//! Standard Webhooks (standardwebhooks.com, used by BigCommerce): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, base64 in `webhook-signature: v1,<sig>` (several,
//! space separated, during secret rotation), timestamps within a tolerance.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use serde::Deserialize;

use super::{check_size, header, secrets_equal, DEFAULT_MAX_BODY};
use crate::model::{ErpOrderRef, Shipment};
use crate::ports::{InboundEvent, WebhookError, WebhookEvent, WebhookRequest, WebhookVerifier};

/// Verifies Standard Webhooks deliveries for any sender that signs them.
pub struct StandardWebhooksVerifier {
    /// HMAC keys: the current secret first, then any still accepted during rotation.
    keys: Vec<Vec<u8>>,
    tolerance_secs: i64,
    max_body: usize,
    /// Event kind recorded for the deliveries (`generic`, `bigcommerce`).
    kind: String,
}

impl StandardWebhooksVerifier {
    /// `secrets` are `whsec_<base64>` as the spec writes them, or raw secrets (BigCommerce's client
    /// secret is used as raw bytes). The 5-minute tolerance is the spec's default.
    pub fn new(kind: &str, secrets: &[SecretString]) -> Self {
        let keys = secrets
            .iter()
            .map(|s| {
                let s = s.expose_secret();
                match s.strip_prefix("whsec_") {
                    Some(encoded) => B64.decode(encoded).unwrap_or_else(|_| s.as_bytes().to_vec()),
                    None => s.as_bytes().to_vec(),
                }
            })
            .collect();
        Self { keys, tolerance_secs: 300, max_body: DEFAULT_MAX_BODY, kind: kind.to_owned() }
    }

    pub fn with_tolerance(mut self, secs: i64) -> Self {
        self.tolerance_secs = secs;
        self
    }

    fn expected(&self, key: &[u8], signed: &[u8]) -> Option<Vec<u8>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
        mac.update(signed);
        Some(mac.finalize().into_bytes().to_vec())
    }
}

impl WebhookVerifier for StandardWebhooksVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        check_size(request, self.max_body)?;
        let id = header(request, "webhook-id").filter(|v| !v.is_empty()).ok_or(WebhookError::Unauthorized)?;
        let timestamp = header(request, "webhook-timestamp").ok_or(WebhookError::Unauthorized)?;
        let signatures = header(request, "webhook-signature").ok_or(WebhookError::Unauthorized)?;
        let sent: i64 = timestamp.trim().parse().map_err(|_| WebhookError::Unauthorized)?;
        // abs_diff: a timestamp near i64::MIN or MAX overflows a subtraction (found by fuzzing).
        let age = request.received_at.timestamp().abs_diff(sent);
        if u64::try_from(self.tolerance_secs).map_or(true, |tolerance| age > tolerance) {
            return Err(WebhookError::Stale);
        }
        let mut signed = Vec::with_capacity(id.len() + timestamp.len() + request.body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp.trim().as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(request.body);
        let candidates: Vec<Vec<u8>> = signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|b64| B64.decode(b64).ok())
            .collect();
        let valid = self
            .keys
            .iter()
            .filter_map(|key| self.expected(key, &signed))
            .any(|expected| candidates.iter().any(|given| secrets_equal(given, &expected)));
        if !valid {
            return Err(WebhookError::BadSignature);
        }
        let payload: serde_json::Value = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("body is not JSON: {e}")))?;
        let event = event_of(&payload).map_err(WebhookError::Malformed)?;
        Ok(vec![WebhookEvent { dedupe_key: format!("{}:{id}", self.kind), event }])
    }
}

/// The body of a generic delivery.
#[derive(Deserialize)]
#[serde(tag = "type", content = "data")]
enum GenericBody {
    #[serde(rename = "shipment.shipped")]
    Shipped { erp_order: ErpOrderRef, shipment: Shipment },
    #[serde(rename = "order.status_changed")]
    StatusChanged { erp_order: ErpOrderRef },
}

/// Reads a generic delivery: `{"type": "shipment.shipped", "data": {"erp_order": {"order_type",
/// "order_nbr"}, "shipment": <Shipment>}}` or `{"type": "order.status_changed", "data":
/// {"erp_order": {...}}}`. Anything else is refused at intake (400), naming what is wrong.
pub fn event_of(payload: &serde_json::Value) -> Result<InboundEvent, String> {
    if !payload.is_object() {
        return Err("body is not a JSON object".into());
    }
    let kind = payload["type"].as_str().unwrap_or_default();
    if !matches!(kind, "shipment.shipped" | "order.status_changed") {
        return Err(format!("type {kind:?} is not shipment.shipped or order.status_changed"));
    }
    match serde_json::from_value::<GenericBody>(payload.clone()).map_err(|e| format!("{kind}: data: {e}"))? {
        GenericBody::Shipped { erp_order, shipment } => Ok(InboundEvent::Shipped { erp_order, shipment }),
        GenericBody::StatusChanged { erp_order } => Ok(InboundEvent::StatusChanged { erp_order }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    /// The spec's published test vector (standard-webhooks, spec/standard-webhooks.md).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn request<'a>(headers: &'a [(String, String)], body: &'a [u8], at: i64) -> WebhookRequest<'a> {
        WebhookRequest {
            path: "/webhooks/generic",
            query: "",
            headers,
            body,
            received_at: Utc.timestamp_opt(at, 0).unwrap(),
        }
    }

    fn headers(id: &str, ts: &str, sig: &str) -> Vec<(String, String)> {
        vec![
            ("Webhook-Id".into(), id.into()),
            ("webhook-timestamp".into(), ts.into()),
            ("webhook-signature".into(), sig.into()),
        ]
    }

    fn verifier(secrets: &[&str]) -> StandardWebhooksVerifier {
        StandardWebhooksVerifier::new(
            "generic",
            &secrets.iter().map(|s| SecretString::from(s.to_string())).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn the_specs_test_vector_verifies() {
        let h = headers(ID, TS, SIG);
        // The signature verifies; the vector's body is no event of ours, so it is refused after.
        let err = verifier(&[SECRET]).verify(&request(&h, BODY.as_bytes(), 1614265330)).unwrap_err();
        assert!(matches!(err, WebhookError::Malformed(ref m) if m.contains("type")), "{err}");
    }

    fn sign(secret: &str, id: &str, ts: &str, body: &str) -> String {
        let key = B64.decode(secret.trim_start_matches("whsec_")).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_stale_not_a_panic() {
        // Fuzzing regression: `received - sent` overflowed for these (and i64::MIN.abs() too).
        let v = verifier(&[SECRET]);
        for ts in ["-9223372036854775808", "9223372036854775807", "-9223372035140218208"] {
            let h = headers(ID, ts, SIG);
            assert!(matches!(v.verify(&request(&h, BODY.as_bytes(), 1_714_557_600)), Err(WebhookError::Stale)), "{ts}");
        }
    }

    #[test]
    fn signed_generic_events_become_typed_events_and_bad_ones_are_named() {
        let status = r#"{"type":"order.status_changed","data":{"erp_order":{"order_type":"SO","order_nbr":"SO0042"}}}"#;
        let h = headers(ID, TS, &sign(SECRET, ID, TS, status));
        let events = verifier(&[SECRET]).verify(&request(&h, status.as_bytes(), 1614265330)).unwrap();
        assert_eq!(events[0].dedupe_key, format!("generic:{ID}"));
        assert_eq!(
            events[0].event,
            InboundEvent::StatusChanged { erp_order: ErpOrderRef::parse("SO/SO0042").unwrap() }
        );
        // Fields the spec recommends (`timestamp`) or a sender adds are no reason to refuse.
        let extra = r#"{"type":"order.status_changed","timestamp":"2026-11-30T10:00:00Z","data":{"erp_order":{"order_type":"SO","order_nbr":"SO0043"},"source":"erp"}}"#;
        let h = headers(ID, TS, &sign(SECRET, ID, TS, extra));
        assert!(verifier(&[SECRET]).verify(&request(&h, extra.as_bytes(), 1614265330)).is_ok());
        for (body, named) in [
            (r#"{"type":"order.created","data":{}}"#, "order.created"),
            (r#"{"type":"shipment.shipped","data":{"erp_order":{"order_type":"SO","order_nbr":"1"}}}"#, "shipment"),
            (
                r#"{"type":"order.status_changed","data":{"erp_order":{"order_type":"SOXX","order_nbr":"1"}}}"#,
                "ERP order type",
            ),
        ] {
            let h = headers(ID, TS, &sign(SECRET, ID, TS, body));
            let err = verifier(&[SECRET]).verify(&request(&h, body.as_bytes(), 1614265330)).unwrap_err();
            assert!(matches!(&err, WebhookError::Malformed(m) if m.contains(named)), "{body}: {err}");
        }
    }

    #[test]
    fn any_of_several_signatures_and_secrets_may_match_during_rotation() {
        let h = headers(ID, TS, &format!("v1,bm90IGl0 {SIG}"));
        let v = verifier(&["whsec_b2xkLXNlY3JldA==", SECRET]);
        assert!(matches!(v.verify(&request(&h, BODY.as_bytes(), 1614265330)), Err(WebhookError::Malformed(_))));
    }

    #[test]
    fn forged_stale_and_tampered_deliveries_are_refused() {
        let v = verifier(&[SECRET]);
        let tampered = r#"{"test": 2432232315}"#;
        let h = headers(ID, TS, SIG);
        assert!(matches!(v.verify(&request(&h, tampered.as_bytes(), 1614265330)), Err(WebhookError::BadSignature)));
        assert!(matches!(v.verify(&request(&h, BODY.as_bytes(), 1614265330 + 301)), Err(WebhookError::Stale)));
        let wrong_secret = verifier(&["whsec_d3Jvbmc="]);
        assert!(matches!(
            wrong_secret.verify(&request(&h, BODY.as_bytes(), 1614265330)),
            Err(WebhookError::BadSignature)
        ));
        let no_headers: Vec<(String, String)> = vec![];
        let err = v.verify(&request(&no_headers, BODY.as_bytes(), 1614265330)).unwrap_err();
        assert_eq!(err.status_code(), 401);
        let big = vec![b' '; DEFAULT_MAX_BODY + 1];
        assert_eq!(v.verify(&request(&h, &big, 1614265330)).unwrap_err().status_code(), 413);
    }
}

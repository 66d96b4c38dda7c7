//! Outbound webhooks / push notifications: Acumatica push (custom header), BigCommerce v3
//! webhooks (Standard Webhooks signature), ShipStation SHIP_NOTIFY (no signature).
//! Delivery is at-least-once: each copy is retried on a non-2xx answer or a transport error, and a
//! target can ask for every event to be delivered N times (duplicates) to test idempotency.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::core::{lock, SharedState, Vendor};

/// Where a vendor sends its webhooks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    pub url: String,
    /// Extra headers sent on every delivery (Acumatica's Header Name/Value, BigCommerce custom
    /// `headers` of the hook).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Signing secret override (BigCommerce: defaults to the client secret).
    #[serde(default)]
    pub secret: Option<String>,
    /// Deliver every event this many times (>= 1). Copies share the event id / hash.
    #[serde(default = "one")]
    pub copies: u32,
    /// Only these events (BigCommerce scope, Acumatica query name, `SHIP_NOTIFY`); empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// The BigCommerce hook (`/v3/hooks`) this target came from: when a delivery to it exhausts
    /// its retries, BigCommerce disables the hook and reports `store/hook/deliveryException`.
    #[serde(default)]
    pub bigcommerce_hook: Option<i64>,
}

fn one() -> u32 {
    1
}

impl WebhookTarget {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: BTreeMap::new(),
            secret: None,
            copies: 1,
            events: Vec::new(),
            bigcommerce_hook: None,
        }
    }
    /// Restrict the target to these events.
    pub fn events(mut self, events: &[&str]) -> Self {
        self.events = events.iter().map(|e| e.to_string()).collect();
        self
    }
    fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.insert(k.to_string(), v.to_string());
        self
    }
    pub fn copies(mut self, n: u32) -> Self {
        self.copies = n.max(1);
        self
    }
}

/// One attempt at delivering one copy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A finished delivery of one copy of one event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub vendor: Vendor,
    pub event: String,
    pub url: String,
    pub body: Value,
    pub copy: u32,
    pub webhook_id: Option<String>,
    pub attempts: Vec<Attempt>,
    pub delivered: bool,
    pub finished_at: DateTime<Utc>,
}

/// How deliveries are signed.
#[derive(Clone, Debug)]
pub enum Signing {
    None,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64>`.
    StandardWebhooks {
        key: Vec<u8>,
    },
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` as the Standard Webhooks spec
/// defines it. BigCommerce's key is the raw bytes of the app's client secret.
pub fn standard_webhooks_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this branch is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let sig = mac.finalize().into_bytes();
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(sig))
}

impl SharedState {
    /// Send `body` to the vendor's configured target (and `extra` targets), in the background.
    pub(crate) fn dispatch(
        &self,
        vendor: Vendor,
        event: &str,
        body: Value,
        signing: Signing,
        extra: Vec<WebhookTarget>,
    ) {
        let mut targets: Vec<WebhookTarget> = extra;
        if let Some(t) = self.webhook(vendor).filter(|t| t.wants(event)) {
            targets.push(t);
        }
        if targets.is_empty() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        for target in targets {
            let state = self.clone();
            let body = body.clone();
            let event = event.to_string();
            let signing = signing.clone();
            let webhook_id = webhook_id.clone();
            handle.spawn(async move {
                state.deliver(vendor, &event, target, body, signing, webhook_id).await;
            });
        }
    }

    async fn deliver(
        &self,
        vendor: Vendor,
        event: &str,
        target: WebhookTarget,
        body: Value,
        signing: Signing,
        webhook_id: String,
    ) {
        let policy = self.config().delivery.clone();
        let raw = serde_json::to_vec(&body).unwrap_or_default();
        for copy in 0..target.copies.max(1) {
            let mut attempts = Vec::new();
            let mut delivered = false;
            for attempt in 0..policy.attempts.max(1) {
                if attempt > 0 {
                    tokio::time::sleep(policy.retry_delay).await;
                }
                let mut req =
                    self.0.http.post(&target.url).header("Content-Type", "application/json").body(raw.clone());
                for (k, v) in &target.headers {
                    req = req.header(k, v);
                }
                if let Signing::StandardWebhooks { key } = &signing {
                    let ts = Utc::now().timestamp();
                    let key = target.secret.as_ref().map(|s| s.as_bytes().to_vec()).unwrap_or_else(|| key.clone());
                    req = req
                        .header("webhook-id", &webhook_id)
                        .header("webhook-timestamp", ts.to_string())
                        .header("webhook-signature", standard_webhooks_signature(&key, &webhook_id, ts, &raw));
                }
                match req.send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        attempts.push(Attempt { status: Some(r.status().as_u16()), error: None });
                        if ok {
                            delivered = true;
                            break;
                        }
                    }
                    Err(e) => attempts.push(Attempt { status: None, error: Some(e.to_string()) }),
                }
            }
            lock(&self.0.deliveries).push(Delivery {
                vendor,
                event: event.to_string(),
                url: target.url.clone(),
                body: body.clone(),
                copy,
                webhook_id: matches!(signing, Signing::StandardWebhooks { .. }).then(|| webhook_id.clone()),
                attempts,
                delivered,
                finished_at: Utc::now(),
            });
            if let (false, Some(hook)) = (delivered, target.bigcommerce_hook) {
                self.bigcommerce_hook_exhausted(hook);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_standard_webhooks_reference_vector() {
        // Reference vector from the Standard Webhooks spec test suite: secret
        // "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" (base64-decoded key), id "msg_p5jXN8AQM9LWM0D4loKWxJek",
        // timestamp 1614265330, body {"test": 2432232314}.
        let key = base64::engine::general_purpose::STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig =
            standard_webhooks_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}

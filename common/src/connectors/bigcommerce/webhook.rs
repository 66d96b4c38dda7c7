//! BigCommerce order webhooks (v3 hooks, vendor-apis.md §3.6 and erp-out §D): thin
//! `{scope, store_id, producer, hash, created_at, data}` bodies. A delivery is authenticated by
//! the secret header `orderbridge-admin order-hooks` registers on each hook (BigCommerce sends a
//! hook's custom `headers` on every callback), compared in constant time, and must come from this
//! connection's store (`producer` = `stores/{store_hash}`).
//!
//! What becomes an event:
//! - `store/order/created` → the order is announced (it may be an incomplete checkout, status 0:
//!   order-import checks the status after its one read and leaves such an order alone);
//! - `store/order/statusUpdated` into the status orders are pulled in → announced; into any
//!   other status (Orderbridge's own acknowledgement among them) → nothing, answered 200;
//! - `store/hook/deliveryException` → `HookTrouble` (status-push re-enables disabled hooks);
//! - any other scope → nothing, answered 200 (a hook registered by hand for more scopes).
//!
//! The dedupe key is the scope plus BigCommerce's `hash`, which is the same on every redelivery
//! of one event.

use secrecy::SecretString;
use serde::Deserialize;

use super::{BigCommerceOrderId, VENDOR};
use crate::model::ConnectionId;
use crate::ports::{InboundEvent, WebhookError, WebhookEvent, WebhookRequest, WebhookVerifier};
use crate::webhooks::{check_secret, check_size, header, DEFAULT_MAX_BODY};

/// The header every hook Orderbridge registers carries its secret in.
pub const HOOK_KEY_HEADER: &str = "X-Orderbridge-Hook-Key";

/// Scopes Orderbridge registers for a store's orders.
pub const ORDER_SCOPES: [&str; 2] = ["store/order/created", "store/order/statusUpdated"];

/// The scope of delivery-failure reports (one per store and client; its destination must differ
/// from every other hook's, so it gets [`TROUBLE_QUERY`] appended).
pub const TROUBLE_SCOPE: &str = "store/hook/deliveryException";

/// Appended to the trouble hook's destination.
pub const TROUBLE_QUERY: &str = "report=delivery";

#[derive(Deserialize)]
struct Payload {
    scope: String,
    #[serde(default)]
    producer: Option<String>,
    hash: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default, deserialize_with = "crate::connectors::lenient::opt_i64")]
    id: Option<i64>,
    #[serde(default)]
    status: Option<StatusChange>,
    #[serde(default, deserialize_with = "crate::connectors::lenient::opt_string")]
    error_code: Option<String>,
    #[serde(default, deserialize_with = "crate::connectors::lenient::opt_string")]
    message: Option<String>,
}

#[derive(Deserialize)]
struct StatusChange {
    #[serde(deserialize_with = "crate::connectors::lenient::opt_i64")]
    new_status_id: Option<i64>,
}

/// Verifies and reads one store connection's order webhooks.
pub struct BigCommerceOrderVerifier {
    connection: ConnectionId,
    secrets: Vec<SecretString>,
    /// `stores/{store_hash}` of the configured base URL.
    producer: String,
    /// The status the pull lists: a change into it announces the order.
    new_status_id: i64,
}

impl BigCommerceOrderVerifier {
    pub fn new(connection: ConnectionId, config: &super::BigCommerceConfig) -> Self {
        Self {
            connection,
            secrets: config.webhook_secret.clone(),
            producer: producer_of(&config.base_url),
            new_status_id: config.new_status_id,
        }
    }
}

/// `stores/{hash}` of `https://api.bigcommerce.com/stores/{hash}`.
fn producer_of(base_url: &str) -> String {
    let hash = base_url.trim_end_matches('/').rsplit("/stores/").next().unwrap_or_default();
    format!("stores/{}", hash.split('/').next().unwrap_or_default())
}

impl WebhookVerifier for BigCommerceOrderVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        check_size(request, DEFAULT_MAX_BODY)?;
        check_secret(header(request, HOOK_KEY_HEADER), &self.secrets)?;
        let payload: Payload = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("expected {{scope, hash, data}}: {e}")))?;
        if let Some(producer) = payload.producer.as_deref().filter(|p| *p != self.producer) {
            return Err(WebhookError::Malformed(format!("producer {producer:?} is not this connection's store")));
        }
        if payload.hash.trim().is_empty() || payload.hash.len() > 128 {
            return Err(WebhookError::Malformed("hash: expected the event's hash".into()));
        }
        let dedupe_key = format!("{VENDOR}:{}:{}:{}", self.connection, payload.scope, payload.hash.trim());
        let order = || {
            payload
                .data
                .id
                .and_then(|id| BigCommerceOrderId::new(id).ok())
                .map(BigCommerceOrderId::channel_order_id)
                .ok_or_else(|| WebhookError::Malformed("data.id: expected the order id".into()))
        };
        let event = match payload.scope.as_str() {
            "store/order/created" => {
                InboundEvent::OrderAnnounced { connection: self.connection.clone(), order: order()? }
            }
            "store/order/statusUpdated" => {
                let new = payload.data.status.as_ref().and_then(|s| s.new_status_id).ok_or_else(|| {
                    WebhookError::Malformed("data.status.new_status_id: expected the new status".into())
                })?;
                if new != self.new_status_id {
                    return Ok(Vec::new());
                }
                InboundEvent::OrderAnnounced { connection: self.connection.clone(), order: order()? }
            }
            TROUBLE_SCOPE => InboundEvent::HookTrouble {
                connection: self.connection.clone(),
                hook: payload.data.id.map(|id| id.to_string()).unwrap_or_default(),
                code: payload.data.error_code.clone().unwrap_or_default(),
                message: payload.data.message.clone().unwrap_or_default().chars().take(500).collect(),
            },
            _ => return Ok(Vec::new()),
        };
        Ok(vec![WebhookEvent { dedupe_key, event }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChannelOrderId;

    const SECRET: &str = "bc-hook-secret-0123456789";

    fn verifier() -> BigCommerceOrderVerifier {
        let mut config = super::super::BigCommerceConfig::new(
            "https://api.bigcommerce.com/stores/abc123",
            SecretString::from("t".to_owned()),
        );
        config.webhook_secret = vec![SecretString::from(SECRET.to_owned())];
        BigCommerceOrderVerifier::new(ConnectionId::parse("bc-main").unwrap(), &config)
    }

    fn verify(key: Option<&str>, body: &str) -> Result<Vec<WebhookEvent>, WebhookError> {
        let headers: Vec<(String, String)> =
            key.map(|k| vec![("x-orderbridge-hook-key".to_owned(), k.to_owned())]).unwrap_or_default();
        verifier().verify(&WebhookRequest {
            path: "/webhooks/orders/bc-main",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
            received_at: chrono::Utc::now(),
        })
    }

    fn body(scope: &str, data: &str) -> String {
        format!(
            r#"{{"scope":"{scope}","store_id":"1001","producer":"stores/abc123","hash":"3f9ec1","created_at":1714572191,"data":{data}}}"#
        )
    }

    #[test]
    fn created_and_status_into_the_pulled_status_announce_the_order() {
        let bc42: ChannelOrderId = BigCommerceOrderId::new(42).unwrap().channel_order_id();
        let events = verify(Some(SECRET), &body("store/order/created", r#"{"type":"order","id":42}"#)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].dedupe_key, "bigcommerce:bc-main:store/order/created:3f9ec1");
        assert_eq!(
            events[0].event,
            InboundEvent::OrderAnnounced { connection: ConnectionId::parse("bc-main").unwrap(), order: bc42.clone() }
        );
        let into_new = r#"{"type":"order","id":42,"status":{"previous_status_id":0,"new_status_id":11}}"#;
        let events = verify(Some(SECRET), &body("store/order/statusUpdated", into_new)).unwrap();
        assert!(matches!(&events[0].event, InboundEvent::OrderAnnounced { order, .. } if *order == bc42));
        // Orderbridge's own acknowledgement (11 → 9) and other scopes announce nothing.
        let ours = r#"{"type":"order","id":42,"status":{"previous_status_id":11,"new_status_id":9}}"#;
        assert!(verify(Some(SECRET), &body("store/order/statusUpdated", ours)).unwrap().is_empty());
        assert!(verify(Some(SECRET), &body("store/order/updated", r#"{"type":"order","id":42}"#)).unwrap().is_empty());
    }

    #[test]
    fn a_delivery_exception_is_hook_trouble() {
        let data = r#"{"type":"webhook","id":17,"error_code":90002,"message":"Retries exhausted"}"#;
        let events = verify(Some(SECRET), &body(TROUBLE_SCOPE, data)).unwrap();
        let InboundEvent::HookTrouble { hook, code, message, .. } = &events[0].event else { panic!("{events:?}") };
        assert_eq!((hook.as_str(), code.as_str(), message.as_str()), ("17", "90002", "Retries exhausted"));
    }

    #[test]
    fn forged_foreign_or_malformed_deliveries_are_refused() {
        let created = body("store/order/created", r#"{"type":"order","id":42}"#);
        assert_eq!(verify(None, &created).unwrap_err().status_code(), 401);
        assert_eq!(verify(Some("bc-hook-secret-0123456788"), &created).unwrap_err().status_code(), 401);
        let foreign = created.replace("stores/abc123", "stores/other");
        assert!(verify(Some(SECRET), &foreign).unwrap_err().to_string().contains("producer"));
        let no_id = body("store/order/created", r#"{"type":"order"}"#);
        assert!(verify(Some(SECRET), &no_id).unwrap_err().to_string().contains("data.id"));
        let no_status = body("store/order/statusUpdated", r#"{"type":"order","id":42}"#);
        assert!(verify(Some(SECRET), &no_status).unwrap_err().to_string().contains("new_status_id"));
        assert_eq!(verify(Some(SECRET), "{oops").unwrap_err().status_code(), 400);
        assert_eq!(verify(Some(SECRET), &"x".repeat(DEFAULT_MAX_BODY + 1)).unwrap_err().status_code(), 413);
    }
}

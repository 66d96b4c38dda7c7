//! ShipStation V1 webhooks: thin `{resource_url, resource_type}` bodies with no signature. The
//! delivery is authenticated by a secret token in the webhook URL (compared in constant time), and
//! `resource_url` must point at an allowed host, because status-push will fetch it with our
//! credentials (no server-side request forgery).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::ports::{InboundEvent, WebhookError, WebhookEvent, WebhookRequest, WebhookVerifier};
use crate::webhooks::{check_size, query_param, secrets_equal, DEFAULT_MAX_BODY};

/// Event types whose resource lists shipments.
const SHIPMENT_EVENTS: &[&str] = &["SHIP_NOTIFY", "ITEM_SHIP_NOTIFY"];

#[derive(Deserialize)]
struct Body {
    resource_url: String,
    resource_type: String,
}

pub struct ShipStationVerifier {
    token: SecretString,
    /// Hosts (`host` or `host:port`) `resource_url` may name; `ssapi.shipstation.com` in production.
    allowed_hosts: Vec<String>,
    max_body: usize,
}

impl ShipStationVerifier {
    pub fn new(token: SecretString, allowed_hosts: Vec<String>) -> Self {
        Self { token, allowed_hosts, max_body: DEFAULT_MAX_BODY }
    }
}

impl WebhookVerifier for ShipStationVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        check_size(request, self.max_body)?;
        let given = query_param(request.query, "token").ok_or(WebhookError::Unauthorized)?;
        if !secrets_equal(given.as_bytes(), self.token.expose_secret().as_bytes()) {
            return Err(WebhookError::Unauthorized);
        }
        let body: Body = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("expected {{resource_url, resource_type}}: {e}")))?;
        if !SHIPMENT_EVENTS.contains(&body.resource_type.as_str()) {
            return Err(WebhookError::Malformed(format!(
                "resource_type {:?} is not a shipment event",
                body.resource_type
            )));
        }
        let url = url::Url::parse(&body.resource_url)
            .map_err(|e| WebhookError::Malformed(format!("resource_url is not a URL: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(WebhookError::Malformed("resource_url has no host".into())),
        };
        if !matches!(url.scheme(), "https" | "http")
            || !self.allowed_hosts.iter().any(|a| a.eq_ignore_ascii_case(&host))
        {
            return Err(WebhookError::ForeignHost(host));
        }
        Ok(vec![WebhookEvent {
            // ShipStation retries the same batch with the same URL: that is the delivery's identity.
            dedupe_key: format!("shipstation:{}", body.resource_url),
            event: InboundEvent::ToolBatchReady { resource_url: body.resource_url },
        }])
    }
}

/// A `webhook_event.v1` payload (enqueued before events were typed) as a typed event.
pub fn legacy_event(payload: &serde_json::Value) -> Result<InboundEvent, String> {
    payload["resource_url"]
        .as_str()
        .map(|url| InboundEvent::ToolBatchReady { resource_url: url.to_owned() })
        .ok_or_else(|| "has no resource_url".to_owned())
}

/// Hosts a `resource_url` may name: the configured API host (ShipStation's own by default), and
/// nothing else.
pub fn api_hosts(base_url: Option<&str>) -> Vec<String> {
    url::Url::parse(base_url.unwrap_or(super::config::DEFAULT_BASE_URL))
        .ok()
        .and_then(|u| match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            (Some(h), None) => Some(h.to_owned()),
            _ => None,
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn verifier() -> ShipStationVerifier {
        ShipStationVerifier::new(SecretString::from("s3cret-token".to_string()), vec!["ssapi.shipstation.com".into()])
    }

    fn request<'a>(query: &'a str, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest { path: "/webhooks/shipstation", query, headers: &[], body, received_at: Utc::now() }
    }

    const GOOD: &str = r#"{"resource_url":"https://ssapi.shipstation.com/shipments?storeID=123456&batchId=987654&includeShipmentItems=False","resource_type":"SHIP_NOTIFY"}"#;

    #[test]
    fn a_delivery_with_the_token_and_an_allowed_host_is_accepted() {
        let events = verifier().verify(&request("token=s3cret-token", GOOD.as_bytes())).unwrap();
        assert!(events[0].dedupe_key.contains("batchId=987654"));
        assert!(
            matches!(&events[0].event, InboundEvent::ToolBatchReady { resource_url } if resource_url.contains("batchId=987654"))
        );
    }

    #[test]
    fn wrong_token_foreign_host_and_malformed_bodies_are_refused_with_their_status() {
        let v = verifier();
        assert_eq!(v.verify(&request("token=guess", GOOD.as_bytes())).unwrap_err().status_code(), 401);
        assert_eq!(v.verify(&request("", GOOD.as_bytes())).unwrap_err().status_code(), 401);
        let foreign = GOOD.replace("ssapi.shipstation.com", "169.254.169.254");
        let err = v.verify(&request("token=s3cret-token", foreign.as_bytes())).unwrap_err();
        assert!(matches!(err, WebhookError::ForeignHost(ref h) if h == "169.254.169.254"));
        assert_eq!(err.status_code(), 400);
        assert_eq!(v.verify(&request("token=s3cret-token", b"{not json")).unwrap_err().status_code(), 400);
        let order_event = GOOD.replace("SHIP_NOTIFY", "ORDER_NOTIFY");
        assert_eq!(v.verify(&request("token=s3cret-token", order_event.as_bytes())).unwrap_err().status_code(), 400);
    }
}

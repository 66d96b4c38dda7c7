//! ShipStation V1 webhooks: thin `{resource_url, resource_type}` bodies with no signature. The
//! delivery is authenticated by a secret token in the webhook URL (compared in constant time), and
//! `resource_url` must point at an allowed host, because status-push will fetch it with our
//! credentials (no server-side request forgery).

use secrecy::SecretString;
use serde::Deserialize;

use crate::ports::{InboundEvent, WebhookError, WebhookEvent, WebhookRequest, WebhookVerifier};
use crate::webhooks::{check_secret, check_size, query_param, DEFAULT_MAX_BODY};

/// Event types whose resource lists shipments.
const SHIPMENT_EVENTS: &[&str] = &["SHIP_NOTIFY", "ITEM_SHIP_NOTIFY"];

#[derive(Deserialize)]
struct Body {
    resource_url: String,
    resource_type: String,
}

pub struct ShipStationVerifier {
    /// Accepted tokens: the current one, and the previous one while the webhook URL is switched.
    tokens: Vec<SecretString>,
    /// The configured API base (`https://ssapi.shipstation.com/` in production): the only place a
    /// `resource_url` may point to.
    api: Option<url::Url>,
    max_body: usize,
}

impl ShipStationVerifier {
    /// `base_url`: the configured `[shipstation.settings] base_url` (ShipStation's own by default).
    pub fn new(tokens: Vec<SecretString>, base_url: Option<&str>) -> Self {
        Self {
            tokens,
            api: api_base(base_url.unwrap_or(super::config::DEFAULT_BASE_URL)).ok(),
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl WebhookVerifier for ShipStationVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        check_size(request, self.max_body)?;
        check_secret(query_param(request.query, "token"), &self.tokens)?;
        let body: Body = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("expected {{resource_url, resource_type}}: {e}")))?;
        if !SHIPMENT_EVENTS.contains(&body.resource_type.as_str()) {
            return Err(WebhookError::Malformed(format!(
                "resource_type {:?} is not a shipment event",
                body.resource_type
            )));
        }
        // The same check status-push applies before fetching: a URL it would refuse is refused
        // here (400, nothing stored), so it never reaches the queue or the dedupe key.
        let api = self.api.as_ref().ok_or_else(|| WebhookError::Malformed("no usable ShipStation base_url".into()))?;
        check_resource_url(api, &body.resource_url).map_err(|refusal| match refusal {
            ResourceRefusal::ForeignHost(host) => WebhookError::ForeignHost(host),
            ResourceRefusal::Malformed(why) => WebhookError::Malformed(why),
        })?;
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

/// The longest `resource_url` ShipStation's Webhook model allows (vendor-apis.md §4).
pub const MAX_RESOURCE_URL: usize = 200;

/// Why a `resource_url` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRefusal {
    /// Another scheme, host or port than the configured API (no request forgery).
    ForeignHost(String),
    Malformed(String),
}

impl std::fmt::Display for ResourceRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ForeignHost(host) => write!(f, "resource_url host {host} is not the configured ShipStation API's"),
            Self::Malformed(why) => f.write_str(why),
        }
    }
}

/// The API base as `resource_url`s are checked against: the configured base URL with a trailing
/// slash (so joining `shipments` keeps a proxy's path prefix).
pub fn api_base(base_url: &str) -> Result<url::Url, String> {
    let mut base = url::Url::parse(base_url).map_err(|e| format!("base_url: {e}"))?;
    if base.query().is_some() || base.fragment().is_some() || !base.username().is_empty() {
        return Err("base_url: must not carry a query, fragment or user name".into());
    }
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    Ok(base)
}

/// `host` or `host:port` (only a non-default port is written; `url` drops default ones).
pub fn host_of(url: &url::Url) -> Option<String> {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        (Some(h), None) => Some(h.to_owned()),
        (None, _) => None,
    }
}

/// The one check of a webhook's `resource_url`, at intake and again before the fetch: at most
/// 200 characters, the API's own scheme, host and port, no credentials, and the shipments listing
/// path; the fragment is dropped.
pub fn check_resource_url(api: &url::Url, text: &str) -> Result<url::Url, ResourceRefusal> {
    let text = text.trim();
    if text.len() > MAX_RESOURCE_URL {
        return Err(ResourceRefusal::Malformed(format!(
            "resource_url is {} characters; ShipStation sends at most {MAX_RESOURCE_URL}",
            text.len()
        )));
    }
    let mut url =
        url::Url::parse(text).map_err(|e| ResourceRefusal::Malformed(format!("resource_url is not a URL: {e}")))?;
    if host_of(&url) != host_of(api) {
        return Err(ResourceRefusal::ForeignHost(host_of(&url).unwrap_or_default()));
    }
    if url.scheme() != api.scheme() {
        return Err(ResourceRefusal::Malformed(format!(
            "resource_url scheme {} is not the configured API's {}",
            url.scheme(),
            api.scheme()
        )));
    }
    // Credentials in the URL would be sent instead of (or beside) ours, and stored with the event.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ResourceRefusal::Malformed("resource_url must not carry credentials".into()));
    }
    // SHIP_NOTIFY points at a shipments listing; anything else is not ours to fetch.
    let listing = api.join("shipments").map_err(|e| ResourceRefusal::Malformed(format!("base_url: {e}")))?;
    if !url.path().trim_end_matches('/').eq_ignore_ascii_case(listing.path()) {
        return Err(ResourceRefusal::Malformed(format!(
            "resource_url path {:?} is not {:?}",
            url.path(),
            listing.path()
        )));
    }
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn verifier() -> ShipStationVerifier {
        ShipStationVerifier::new(
            vec![SecretString::from("old-token-0000".to_string()), SecretString::from("s3cret-token".to_string())],
            None,
        )
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
        assert!(
            v.verify(&request("token=old-token-0000", GOOD.as_bytes())).is_ok(),
            "a token being rotated out still works"
        );
        assert_eq!(v.verify(&request("", GOOD.as_bytes())).unwrap_err().status_code(), 401);
        let foreign = GOOD.replace("ssapi.shipstation.com", "169.254.169.254");
        let err = v.verify(&request("token=s3cret-token", foreign.as_bytes())).unwrap_err();
        assert!(matches!(err, WebhookError::ForeignHost(ref h) if h == "169.254.169.254"));
        assert_eq!(err.status_code(), 400);
        assert_eq!(v.verify(&request("token=s3cret-token", b"{not json")).unwrap_err().status_code(), 400);
        let order_event = GOOD.replace("SHIP_NOTIFY", "ORDER_NOTIFY");
        assert_eq!(v.verify(&request("token=s3cret-token", order_event.as_bytes())).unwrap_err().status_code(), 400);
    }

    #[test]
    fn resource_urls_status_push_would_refuse_are_refused_at_intake_without_echoing_credentials() {
        let v = verifier();
        for (url, status) in [
            // Credentials would be stored in the dedupe key, the log and the queue.
            ("https://user:pa55@ssapi.shipstation.com/shipments?batchId=1", 400),
            // Another scheme than the configured API.
            ("http://ssapi.shipstation.com/shipments?batchId=1", 400),
            // Not the shipments listing.
            ("https://ssapi.shipstation.com/accounts/listtags", 400),
            ("https://ssapi.shipstation.com/shipments/../users", 400),
        ] {
            let body = format!(r#"{{"resource_url":"{url}","resource_type":"SHIP_NOTIFY"}}"#);
            let err = v.verify(&request("token=s3cret-token", body.as_bytes())).unwrap_err();
            assert_eq!(err.status_code(), status, "{url}: {err}");
            assert!(!err.to_string().contains("pa55"), "{err}");
        }
        let long = format!("https://ssapi.shipstation.com/shipments?batchId=1&pad={}", "x".repeat(200));
        let body = format!(r#"{{"resource_url":"{long}","resource_type":"SHIP_NOTIFY"}}"#);
        let err = v.verify(&request("token=s3cret-token", body.as_bytes())).unwrap_err();
        assert!(err.to_string().contains("at most 200"), "{err}");
    }

    #[test]
    fn a_configured_base_url_with_a_path_prefix_is_the_only_allowed_place() {
        let api = api_base("http://127.0.0.1:4000/proxy").unwrap();
        assert!(check_resource_url(&api, "http://127.0.0.1:4000/proxy/shipments?batchId=9#frag").is_ok());
        assert_eq!(
            check_resource_url(&api, "http://127.0.0.1:4001/proxy/shipments"),
            Err(ResourceRefusal::ForeignHost("127.0.0.1:4001".into()))
        );
        assert!(matches!(
            check_resource_url(&api, "http://127.0.0.1:4000/shipments"),
            Err(ResourceRefusal::Malformed(_))
        ));
    }
}

//! Acumatica push notifications (form SM302000): `{Inserted, Deleted, Query, CompanyId, Id,
//! TimeStamp}` with no signature; authenticated by the custom header configured on the form,
//! compared in constant time, and deduplicated on the data-transaction `Id`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{check_size, header, secrets_equal, DEFAULT_MAX_BODY};
use crate::connectors::WebhookError;
use crate::ports::{WebhookEvent, WebhookRequest, WebhookVerifier};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Push {
    #[serde(default)]
    inserted: Vec<serde_json::Value>,
    #[serde(default)]
    deleted: Vec<serde_json::Value>,
    query: String,
    id: String,
    time_stamp: i64,
    #[serde(default)]
    company_id: Option<String>,
}

pub struct AcumaticaPushVerifier {
    header_name: String,
    header_value: SecretString,
    max_body: usize,
}

impl AcumaticaPushVerifier {
    pub fn new(header_name: &str, header_value: SecretString) -> Self {
        Self { header_name: header_name.to_owned(), header_value, max_body: DEFAULT_MAX_BODY }
    }
}

impl WebhookVerifier for AcumaticaPushVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        check_size(request, self.max_body)?;
        let given = header(request, &self.header_name).ok_or(WebhookError::Unauthorized)?;
        if !secrets_equal(given.as_bytes(), self.header_value.expose_secret().as_bytes()) {
            return Err(WebhookError::Unauthorized);
        }
        let push: Push = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("not an Acumatica push notification: {e}")))?;
        if push.id.trim().is_empty() {
            return Err(WebhookError::Malformed("push notification without Id".into()));
        }
        Ok(vec![WebhookEvent {
            dedupe_key: format!("acumatica:{}", push.id),
            kind: format!("acumatica.{}", push.query),
            payload: serde_json::json!({
                "query": push.query, "company": push.company_id, "timestamp": push.time_stamp,
                "inserted": push.inserted, "deleted": push.deleted,
            }),
        }])
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    const BODY: &str = r#"{"Inserted":[{"ShipmentNbr":"000123","Status":"Confirmed","OrderNbr":"SO001234"}],"Deleted":[],"Query":"ShipmentsForSync","CompanyId":"Company","Id":"4b6c0f1e-0000-0000-0000-000000000000","TimeStamp":638501234567890123,"AdditionalInfo":{}}"#;

    fn request<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest { path: "/webhooks/acumatica", query: "", headers, body, received_at: Utc::now() }
    }

    #[test]
    fn a_push_with_the_configured_header_is_accepted_and_keyed_on_its_id() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", SecretString::from("k3y".to_string()));
        let h = vec![("x-orderbridge-key".to_string(), "k3y".to_string())];
        let events = v.verify(&request(&h, BODY.as_bytes())).unwrap();
        assert_eq!(events[0].dedupe_key, "acumatica:4b6c0f1e-0000-0000-0000-000000000000");
        assert_eq!(events[0].kind, "acumatica.ShipmentsForSync");
        assert_eq!(events[0].payload["inserted"][0]["ShipmentNbr"], "000123");
    }

    #[test]
    fn a_wrong_or_missing_header_and_a_malformed_body_are_refused() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", SecretString::from("k3y".to_string()));
        let wrong = vec![("X-Orderbridge-Key".to_string(), "k3z".to_string())];
        assert_eq!(v.verify(&request(&wrong, BODY.as_bytes())).unwrap_err().status_code(), 401);
        assert_eq!(v.verify(&request(&[], BODY.as_bytes())).unwrap_err().status_code(), 401);
        let right = vec![("X-Orderbridge-Key".to_string(), "k3y".to_string())];
        assert_eq!(v.verify(&request(&right, br#"{"Query":"x"}"#)).unwrap_err().status_code(), 400);
    }
}

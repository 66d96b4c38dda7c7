//! Acumatica push notifications (form SM302000): `{Inserted, Deleted, Query, CompanyId, Id,
//! TimeStamp}` with no signature; authenticated by the custom header configured on the form,
//! compared in constant time, and deduplicated on the data-transaction `Id`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use tracing::warn;

use crate::model::{ErpOrderRef, ErpShipmentNbr};
use crate::ports::{InboundEvent, WebhookError, WebhookEvent, WebhookRequest, WebhookVerifier};
use crate::webhooks::{check_size, header, secrets_equal, DEFAULT_MAX_BODY};

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
    /// Accepted values: the current one, and the previous one while the push definition is switched.
    header_values: Vec<SecretString>,
    max_body: usize,
}

impl AcumaticaPushVerifier {
    pub fn new(header_name: &str, header_values: Vec<SecretString>) -> Self {
        Self { header_name: header_name.to_owned(), header_values, max_body: DEFAULT_MAX_BODY }
    }
}

impl WebhookVerifier for AcumaticaPushVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        check_size(request, self.max_body)?;
        let given = header(request, &self.header_name).ok_or(WebhookError::Unauthorized)?;
        let matches =
            self.header_values.iter().filter(|v| secrets_equal(given.as_bytes(), v.expose_secret().as_bytes())).count();
        if matches == 0 {
            return Err(WebhookError::Unauthorized);
        }
        let push: Push = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("not an Acumatica push notification: {e}")))?;
        if push.id.trim().is_empty() {
            return Err(WebhookError::Malformed("push notification without Id".into()));
        }
        // Deleted rows, the company and the time stamp say nothing a push needs.
        let _ = (&push.deleted, push.time_stamp, &push.company_id);
        // One transaction firing two push definitions sends two notifications with one `Id`: the
        // documented key is `Id` with `Query`.
        let dedupe_key = format!("acumatica:{}:{}", push.query.trim(), push.id.trim());
        Ok(vec![WebhookEvent { dedupe_key, event: changed_rows(&push.inserted) }])
    }
}

/// The shipments and orders named by a push notification's inserted rows: rows with `ShipmentNbr`
/// are shipments; rows with `OrderType`/`OrderNbr` and no `ShipmentNbr` (a sales-order query, or
/// an invoice query without shipment column) are changed orders, which status-push and the publish
/// flow of ERP-originated orders read again. An invoice row (`InvoiceNbr` or `ReferenceNbr`) that
/// names its order is a changed order even when it also names a shipment: a released invoice is
/// news for the order (its storefront invoice), not for the shipment.
pub fn changed_rows(inserted: &[serde_json::Value]) -> InboundEvent {
    let mut shipments: Vec<ErpShipmentNbr> = Vec::new();
    let mut orders: Vec<ErpOrderRef> = Vec::new();
    let text = |row: &serde_json::Value, field: &str| {
        row.get(field).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
    };
    let mut add_order =
        |order_type: String, order_nbr: String| match ErpOrderRef::parse(&format!("{order_type}/{order_nbr}")) {
            Some(erp) if !orders.contains(&erp) => orders.push(erp),
            Some(_) => {}
            None => warn!(order_type, order_nbr, "Acumatica push row names an order that cannot be an order key."),
        };
    for row in inserted {
        let order = text(row, "OrderType").zip(text(row, "OrderNbr"));
        let invoice = text(row, "InvoiceNbr").or_else(|| text(row, "ReferenceNbr")).is_some();
        if let (true, Some((order_type, order_nbr))) = (invoice, order.clone()) {
            add_order(order_type, order_nbr);
        } else if let Some(nbr) = text(row, "ShipmentNbr") {
            match ErpShipmentNbr::parse(nbr.as_str()) {
                Ok(nbr) if !shipments.contains(&nbr) => shipments.push(nbr),
                Ok(_) => {}
                Err(_) => {
                    warn!(shipment = %nbr, "Acumatica push row names a shipment that cannot be a shipment number.")
                }
            }
        } else if let Some((order_type, order_nbr)) = order {
            add_order(order_type, order_nbr);
        }
    }
    InboundEvent::ErpChanged { shipments, orders }
}

/// A `webhook_event.v1` payload (enqueued before events were typed) as a typed event.
pub fn legacy_event(payload: &serde_json::Value) -> InboundEvent {
    changed_rows(payload["inserted"].as_array().map(Vec::as_slice).unwrap_or_default())
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
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())]);
        let h = vec![("x-orderbridge-key".to_string(), "k3y".to_string())];
        let events = v.verify(&request(&h, BODY.as_bytes())).unwrap();
        assert_eq!(events[0].dedupe_key, "acumatica:ShipmentsForSync:4b6c0f1e-0000-0000-0000-000000000000");
        // Another push definition fired by the same transaction is another delivery.
        let other = BODY.replace("ShipmentsForSync", "OrderStatusForSync");
        let again = v.verify(&request(&h, other.as_bytes())).unwrap();
        assert_ne!(again[0].dedupe_key, events[0].dedupe_key);
        let InboundEvent::ErpChanged { shipments, orders } = &events[0].event else { panic!("{:?}", events[0]) };
        assert_eq!(shipments.iter().map(ErpShipmentNbr::as_str).collect::<Vec<_>>(), ["000123"]);
        assert!(orders.is_empty(), "a row with a shipment number is a shipment, not a status change");
    }

    #[test]
    fn order_rows_become_status_changes_and_repeats_are_dropped() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"OrderType":"SO","OrderNbr":"SO1"},{"OrderType":"SO","OrderNbr":"SO1"},{"ShipmentNbr":"7"},{"ShipmentNbr":"7"},{"OrderNbr":"X"}]"#,
        )
        .unwrap();
        let InboundEvent::ErpChanged { shipments, orders } = changed_rows(&rows) else { panic!() };
        assert_eq!(shipments.len(), 1);
        assert_eq!(orders, vec![ErpOrderRef::parse("SO/SO1").unwrap()]);
        let legacy = serde_json::json!({"inserted": rows});
        assert_eq!(legacy_event(&legacy), changed_rows(&rows));
    }

    #[test]
    fn sales_order_and_invoice_query_rows_become_changed_orders() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())]);
        let h = vec![("X-Orderbridge-Key".to_string(), "k3y".to_string())];
        let body = r#"{"Inserted":[{"OrderType":"SO","OrderNbr":"SO001234","Status":"Open","LastModified":"2024-05-01T10:00:00"}],"Deleted":[],"Query":"ErpOrdersForSync","CompanyId":"Company","Id":"aa","TimeStamp":1}"#;
        let events = v.verify(&request(&h, body.as_bytes())).unwrap();
        assert_eq!(
            events[0].event,
            InboundEvent::ErpChanged { shipments: vec![], orders: vec![ErpOrderRef::parse("SO/SO001234").unwrap()] }
        );
        // An invoice query: the invoice's order is what changed, even when the row names the shipment.
        let rows: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"Type":"Invoice","ReferenceNbr":"INV000001","Status":"Open","OrderType":"SO","OrderNbr":"SO001234","ShipmentNbr":"000123"},
                {"InvoiceNbr":"INV000002","OrderType":"SO","OrderNbr":"SO005678"},
                {"ReferenceNbr":"INV000003","OrderType":"SO","OrderNbr":"SO001234"},
                {"ReferenceNbr":"INV000004","Status":"Open"}]"#,
        )
        .unwrap();
        let InboundEvent::ErpChanged { shipments, orders } = changed_rows(&rows) else { panic!() };
        assert!(shipments.is_empty(), "{shipments:?}");
        assert_eq!(
            orders,
            vec![ErpOrderRef::parse("SO/SO001234").unwrap(), ErpOrderRef::parse("SO/SO005678").unwrap()]
        );
    }

    #[test]
    fn a_wrong_or_missing_header_and_a_malformed_body_are_refused() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())]);
        let wrong = vec![("X-Orderbridge-Key".to_string(), "k3z".to_string())];
        assert_eq!(v.verify(&request(&wrong, BODY.as_bytes())).unwrap_err().status_code(), 401);
        assert_eq!(v.verify(&request(&[], BODY.as_bytes())).unwrap_err().status_code(), 401);
        let right = vec![("X-Orderbridge-Key".to_string(), "k3y".to_string())];
        assert_eq!(v.verify(&request(&right, br#"{"Query":"x"}"#)).unwrap_err().status_code(), 400);
    }
}

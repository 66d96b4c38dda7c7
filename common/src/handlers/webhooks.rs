//! The shipment-webhook handler: route an API Gateway HTTP API request to its vendor's verifier,
//! refuse anything forged, stale, oversized or malformed with the right 4xx and nothing enqueued,
//! deduplicate deliveries, enqueue the rest, and answer fast. No vendor is called here.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine;
use tracing::warn;

pub use crate::flows::WEBHOOK_SCOPE;
use crate::flows::{intake, IntakeContext, IntakeOutcome, LogRecorder};
use crate::model::ConnectionId;
use crate::ports::{
    Clock, ConnectorLog, Direction, Ledger, LogGroup, LogResult, Queue, WebhookRequest, WebhookVerifier,
};

pub struct WebhookApp {
    pub ledger: Arc<dyn Ledger>,
    pub log: Arc<dyn ConnectorLog>,
    /// The shipments queue.
    pub queue: Arc<dyn Queue>,
    /// The orders queue, for orders a channel's webhook announces.
    pub orders: Option<Arc<dyn Queue>>,
    pub clock: Arc<dyn Clock>,
    /// Path (as API Gateway's `rawPath`) → the verifier of that vendor's deliveries.
    pub routes: Vec<(String, Arc<dyn WebhookVerifier>)>,
    /// How long a delivery id is remembered (vendors retry for up to 48 h).
    pub dedupe_ttl: Duration,
}

fn respond(status: u16, text: &'static str) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert("content-type", aws_lambda_events::http::HeaderValue::from_static("text/plain"));
    response.body = Some(Body::Text(text.to_owned()));
    response
}

/// A body for people that reveals nothing about our internals.
fn reason_text(status: u16) -> &'static str {
    match status {
        401 => "unauthorized",
        404 => "not found",
        413 => "payload too large",
        503 => "try again later",
        _ => "bad request",
    }
}

/// The connector-log "connection" of a route: its last path segment (`shipstation`), or `webhooks`.
fn log_connection(path: &str) -> ConnectionId {
    let name = path.rsplit('/').next().unwrap_or_default();
    ConnectionId::parse(name)
        .or_else(|_| ConnectionId::parse("webhooks"))
        .unwrap_or_else(|_| unreachable!("\"webhooks\" is a valid connection id"))
}

impl WebhookApp {
    pub async fn handle(&self, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let path = request.raw_path.as_deref().unwrap_or_default();
        let Some((_, verifier)) = self.routes.iter().find(|(p, _)| p == path) else {
            return respond(404, reason_text(404));
        };
        let raw = request.body.as_deref().unwrap_or_default();
        let body = if request.is_base64_encoded {
            match base64::engine::general_purpose::STANDARD.decode(raw) {
                Ok(bytes) => bytes,
                Err(_) => return respond(400, reason_text(400)),
            }
        } else {
            raw.as_bytes().to_vec()
        };
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
            .collect();
        let webhook = WebhookRequest {
            path,
            query: request.raw_query_string.as_deref().unwrap_or_default(),
            headers: &headers,
            body: &body,
            received_at: self.clock.now(),
        };
        let recorder = LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() };
        let source = log_connection(path);
        let events = match verifier.verify(&webhook) {
            Ok(events) => events,
            Err(e) => {
                // The reason goes to our logs only; never a secret, never the body.
                warn!(path = %path, status = e.status_code(), reason = %e, "Webhook refused.");
                let action = recorder.start(&source, LogGroup::Webhooks, "intake", Direction::Internal, path);
                recorder.finish(action, LogResult::Failure, format!("Refused with {}: {e}.", e.status_code())).await;
                return respond(e.status_code(), reason_text(e.status_code()));
            }
        };
        let ctx = IntakeContext {
            markers: self.ledger.as_ref(),
            queue: self.queue.as_ref(),
            orders: self.orders.as_deref(),
            log: self.log.as_ref(),
            clock: self.clock.as_ref(),
            dedupe_ttl: self.dedupe_ttl,
        };
        match intake(&source, &events, &ctx).await {
            IntakeOutcome::Enqueued => respond(200, "ok"),
            IntakeOutcome::NotEnqueued(_) => respond(503, reason_text(503)),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::connectors::acumatica::AcumaticaPushVerifier;
    use crate::connectors::shipstation::ShipStationVerifier;
    use crate::flows::ShipmentMessage;
    use crate::ports::{Envelope, InboundEvent};
    use crate::testing::{ManualClock, MemoryLedger, MemoryQueue};

    const SHIP_NOTIFY: &str = r#"{"resource_url":"https://ssapi.shipstation.com/shipments?storeID=1&batchId=42","resource_type":"SHIP_NOTIFY"}"#;

    fn app() -> (WebhookApp, Arc<MemoryQueue>) {
        let queue = Arc::new(MemoryQueue::default());
        let app = WebhookApp {
            ledger: Arc::new(MemoryLedger::default()),
            log: Arc::new(crate::testing::MemoryLog::default()),
            queue: queue.clone(),
            orders: None,
            clock: Arc::new(ManualClock::new()),
            routes: vec![
                (
                    "/webhooks/shipstation".into(),
                    Arc::new(ShipStationVerifier::new(vec![SecretString::from("tok".to_string())], None)),
                ),
                (
                    "/webhooks/acumatica".into(),
                    Arc::new(AcumaticaPushVerifier::new("X-Key", vec![SecretString::from("k".to_string())])),
                ),
            ],
            dedupe_ttl: Duration::from_secs(48 * 3600),
        };
        (app, queue)
    }

    fn request(path: &str, query: &str, body: &str, base64: bool) -> ApiGatewayV2httpRequest {
        let mut r = ApiGatewayV2httpRequest::default();
        r.raw_path = Some(path.into());
        r.raw_query_string = Some(query.into());
        r.is_base64_encoded = base64;
        r.body = Some(if base64 { base64::engine::general_purpose::STANDARD.encode(body) } else { body.into() });
        r
    }

    #[tokio::test]
    async fn a_delivery_sent_three_times_is_enqueued_once() {
        let (app, queue) = app();
        for _ in 0..3 {
            let response = app.handle(&request("/webhooks/shipstation", "token=tok", SHIP_NOTIFY, true)).await;
            assert_eq!(response.status_code, 200);
        }
        assert_eq!(queue.0.lock().unwrap().len(), 1);
        let body = queue.0.lock().unwrap()[0].body.clone();
        // status-push must be able to read what the intake wrote.
        let envelope: Envelope<ShipmentMessage> = Envelope::parse("m", Some(&body)).unwrap();
        let ShipmentMessage::WebhookEventV2(event) = envelope.body else { panic!("{body}") };
        let InboundEvent::ToolBatchReady { resource_url } = event.event else { panic!("{body}") };
        assert!(resource_url.contains("batchId=42"));
    }

    #[tokio::test]
    async fn refused_deliveries_get_their_status_a_bland_body_and_enqueue_nothing() {
        let (app, queue) = app();
        let cases = [
            (request("/webhooks/shipstation", "token=wrong", SHIP_NOTIFY, false), 401),
            (request("/webhooks/shipstation", "token=tok", "{oops", false), 400),
            (
                request(
                    "/webhooks/shipstation",
                    "token=tok",
                    &SHIP_NOTIFY.replace("ssapi.shipstation.com", "evil.example"),
                    false,
                ),
                400,
            ),
            (request("/webhooks/shipstation", "token=tok", &"x".repeat(70_000), false), 413),
            (request("/webhooks/acumatica", "", "{}", false), 401),
            (request("/webhooks/unknown", "", "{}", false), 404),
        ];
        for (req, status) in cases {
            let response = app.handle(&req).await;
            assert_eq!(response.status_code, status, "{:?}", req.raw_path);
            let Some(Body::Text(text)) = &response.body else { panic!("text body") };
            assert!(!text.contains("tok") && !text.contains("evil"), "{text}");
        }
        assert!(queue.0.lock().unwrap().is_empty());
    }

    /// An ErpOrdersForSync push of `n` orders (Deleted + Inserted pairs) and `m` withdrawn shipments.
    fn large_push(orders: usize, shipments: usize) -> String {
        let order = |i: usize, status: &str| {
            format!(
                r#"{{"OrderType":"SO","OrderNbr":"SO{i:06}","Status":"{status}","LastModified":"2024-05-01T10:00:00"}}"#
            )
        };
        let inserted: Vec<String> = (1..=orders).map(|i| order(i, "Completed")).collect();
        let mut deleted: Vec<String> = (1..=orders).map(|i| order(i, "Open")).collect();
        deleted.extend(
            (1..=shipments)
                .map(|i| format!(r#"{{"ShipmentNbr":"{i:06}","Status":"Confirmed","OrderNbr":"SO{i:06}"}}"#)),
        );
        format!(
            r#"{{"Inserted":[{}],"Deleted":[{}],"Query":"ErpOrdersForSync","CompanyId":"MyTenant","Id":"9a","TimeStamp":1,"AdditionalInfo":{{}}}}"#,
            inserted.join(","),
            deleted.join(",")
        )
    }

    #[tokio::test]
    async fn a_push_of_thousands_of_rows_is_enqueued_in_messages_sqs_takes_and_a_larger_body_gets_413() {
        let (app, queue) = app();
        let body = large_push(7000, 5000);
        assert!(body.len() > 64 * 1024 * 10, "{}", body.len());
        let mut req = request("/webhooks/acumatica", "", &body, true);
        req.headers.insert("x-key", aws_lambda_events::http::HeaderValue::from_static("k"));
        assert_eq!(app.handle(&req).await.status_code, 200);
        let messages = queue.0.lock().unwrap().clone();
        assert!(messages.len() > 1, "{}", messages.len());
        let (mut shipments, mut orders) = (Vec::new(), Vec::new());
        for message in &messages {
            assert!(message.body.len() < 256 * 1024, "SQS takes 256 KiB: {}", message.body.len());
            let envelope: Envelope<ShipmentMessage> = Envelope::parse("m", Some(&message.body)).unwrap();
            let ShipmentMessage::WebhookEventV2(event) = envelope.body else { panic!() };
            assert!(event.dedupe_key.starts_with("acumatica:ErpOrdersForSync:9a#part"), "{}", event.dedupe_key);
            let InboundEvent::ErpChanged { shipments: s, orders: o, .. } = event.event else { panic!() };
            shipments.extend(s.iter().map(ToString::to_string));
            orders.extend(o.iter().map(ToString::to_string));
        }
        assert_eq!(shipments, (1..=5000).map(|i| format!("{i:06}")).collect::<Vec<_>>());
        assert_eq!(orders, (1..=7000).map(|i| format!("SO/SO{i:06}")).collect::<Vec<_>>());
        // The same push again: every part is a duplicate.
        assert_eq!(app.handle(&req).await.status_code, 200);
        assert_eq!(queue.0.lock().unwrap().len(), messages.len());

        // Over the route's 4 MiB: 413, nothing enqueued.
        let mut body = large_push(1, 0);
        body.push_str(&" ".repeat(crate::connectors::acumatica::webhook::ACUMATICA_MAX_BODY + 1 - body.len()));
        let mut req = request("/webhooks/acumatica", "", &body, true);
        req.headers.insert("x-key", aws_lambda_events::http::HeaderValue::from_static("k"));
        let response = app.handle(&req).await;
        assert_eq!(response.status_code, 413);
        assert_eq!(queue.0.lock().unwrap().len(), messages.len());
    }
}

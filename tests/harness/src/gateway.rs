//! A local stand-in for the API Gateway HTTP API in front of shipment-webhook: every request is
//! turned into the payload-2.0 event API Gateway would send (`rawPath`, `rawQueryString`,
//! headers, base64 body) and handed to the same `WebhookApp::handle` the Lambda runs. It records
//! how long the handler took per request, for the figures the bench and notes quote.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use orderbridge::handlers::WebhookApp;

/// One request the gateway passed on: its path, the status answered and the handler's time.
#[derive(Debug, Clone)]
pub struct GatewayCall {
    pub path: String,
    pub status: u16,
    pub handler_time: Duration,
}

struct Shared {
    app: Arc<WebhookApp>,
    calls: Mutex<Vec<GatewayCall>>,
}

pub struct LocalGateway {
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl LocalGateway {
    pub async fn start(app: Arc<WebhookApp>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared { app, calls: Mutex::new(Vec::new()) });
        let router = axum::Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "Local gateway stopped.");
            }
        });
        Ok(Self { base_url, shared, task })
    }

    pub fn calls(&self) -> Vec<GatewayCall> {
        self.shared.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for LocalGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The payload-2.0 event API Gateway's HTTP API hands the function for one request.
pub fn api_gateway_event(path: &str, query: Option<&str>, headers: HeaderMap, body: &[u8]) -> ApiGatewayV2httpRequest {
    let mut event = ApiGatewayV2httpRequest::default();
    event.raw_path = Some(path.to_owned());
    event.raw_query_string = Some(query.unwrap_or_default().to_owned());
    event.headers = headers;
    event.is_base64_encoded = true;
    event.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
    event.request_context.time_epoch = chrono::Utc::now().timestamp_millis();
    event
}

async fn forward(State(shared): State<Arc<Shared>>, uri: OriginalUri, headers: HeaderMap, body: Bytes) -> Response {
    let event = api_gateway_event(uri.path(), uri.query(), headers, &body);
    let started = Instant::now();
    let answer = shared.app.handle(&event).await;
    let handler_time = started.elapsed();
    let status = u16::try_from(answer.status_code).unwrap_or(500);
    if let Ok(mut calls) = shared.calls.lock() {
        calls.push(GatewayCall { path: uri.path().to_owned(), status, handler_time });
    }
    let text = match answer.body {
        Some(LambdaBody::Text(t)) => t,
        _ => String::new(),
    };
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), text).into_response()
}

//! [`MagentoClient`]: shipments, statuses and notes back to Magento orders (`StatusPublisher`).
//!
//! Calls: `push_shipment` 2 reads (the order; its shipments and their tracks) + 1 `/ship` per
//! package not yet on the order; `push_status` 1; `add_note` 2 (read the status, then comment).
//! With admin credentials, a new container or an expired token adds one
//! `POST /V1/integration/admin/token`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tracing::{debug, info, warn};

use super::config::{Credentials, MagentoConfig};
use super::mapper::{error_message, ship_items, ship_track, shippable};
use super::wire::{CommentRequest, OrderWire, ShipRequest, ShipmentSearch, StatusHistory};
use super::VENDOR;
use crate::connectors::{ConnectorError, SetupError};
use crate::http::{
    join_url, BuildRequest, Credential, Idempotency, Reply, SecondRefusal, Session, VendorHttp, VendorProfile,
};
use crate::model::{ChannelOrderId, ConnectionId, Shipment};
use crate::ports::StatusPublisher;

fn no_hint(_: StatusCode, _: &HeaderMap, _: &[u8]) -> Option<Duration> {
    None
}

fn no_pause(_: &HeaderMap) -> Option<Duration> {
    None
}

fn never(_: StatusCode, _: &[u8]) -> bool {
    false
}

const PROFILE: VendorProfile =
    VendorProfile { name: VENDOR, error_message, rate_hint: no_hint, pause_hint: no_pause, rejects: never };

/// Admin tokens live 4 hours by default (§5.0) but the store can shorten that; a 401 renews the
/// token early, and this margin keeps a call from starting on a token about to lapse.
const ADMIN_TOKEN_LIFETIME: Duration = Duration::from_secs(4 * 3600);
const TOKEN_MARGIN: Duration = Duration::from_secs(10 * 60);

/// The Magento client of one store connection. Build once per container and share.
pub struct MagentoClient {
    connection: ConnectionId,
    config: MagentoConfig,
    credentials: Credentials,
    http: VendorHttp,
    admin_token: Session,
}

impl std::fmt::Debug for MagentoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MagentoClient")
            .field("connection", &self.connection)
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

fn rejected(operation: &'static str, message: String) -> ConnectorError {
    ConnectorError::Rejected { vendor: VENDOR, operation, message }
}

/// Tracking numbers as compared with those already on the order: staff may have typed them in
/// another case.
fn track_key(number: &str) -> String {
    number.trim().to_ascii_uppercase()
}

fn require_id(id: &ChannelOrderId, operation: &'static str) -> Result<i64, ConnectorError> {
    super::MagentoOrderId::of(id)
        .map(super::MagentoOrderId::get)
        .ok_or_else(|| rejected(operation, format!("{id} is not a Magento order")))
}

impl MagentoClient {
    pub fn new(connection: ConnectionId, config: MagentoConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let credentials =
            config.credentials().map_err(|problem| crate::connectors::InvalidConfig { vendor: VENDOR, problem })?;
        let http = VendorHttp::new(PROFILE, connection.as_str(), config.transport())?;
        Ok(Self { connection, config, credentials, http, admin_token: Session::new(SecondRefusal::Unauthorized) })
    }

    pub fn connection(&self) -> &ConnectionId {
        &self.connection
    }

    fn url(&self, path: &str) -> String {
        join_url(&self.config.base_url, &format!("rest/{}/V1/{path}", self.config.store_code))
    }

    /// `POST integration/admin/token` with the admin username and password.
    async fn admin_sign_in(&self, username: &str, password: &SecretString) -> Result<Credential, ConnectorError> {
        let url = self.url("integration/admin/token");
        let body = json!({ "username": username, "password": password.expose_secret() });
        let reply = self.http.send("get admin token", Idempotency::Safe, |c| c.post(&url).json(&body)).await?;
        // The endpoint answers a bare JSON string.
        let token: String = reply.json(VENDOR, "get admin token")?;
        if token.trim().is_empty() {
            return Err(ConnectorError::Decode {
                vendor: VENDOR,
                operation: "get admin token",
                detail: "empty token".into(),
            });
        }
        debug!(connection = %self.connection, "Magento admin token issued.");
        Ok(Credential {
            secret: SecretString::from(token),
            renew_after: Some(Instant::now() + ADMIN_TOKEN_LIFETIME.saturating_sub(TOKEN_MARGIN)),
        })
    }

    /// Sends with the Bearer token. An admin token that expired early answers 401; the request
    /// was refused unprocessed, so even a `/ship` may be repeated once with a new token.
    async fn call(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        build: impl BuildRequest,
    ) -> Result<Reply, ConnectorError> {
        let bearer = |request: reqwest::RequestBuilder, token: &SecretString| {
            request.bearer_auth(token.expose_secret()).header(ACCEPT, "application/json")
        };
        match &self.credentials {
            // An integration token is not renewed: a refusal names the connection.
            Credentials::Integration(token) => {
                self.http.send(operation, idempotency, |c| bearer(build(c), token)).await
            }
            Credentials::Admin { username, password } => {
                let sign_in = || self.admin_sign_in(username, password);
                self.admin_token.send(&self.http, operation, idempotency, sign_in, bearer, build).await
            }
        }
    }

    async fn order(&self, id: i64) -> Result<OrderWire, ConnectorError> {
        let url = self.url(&format!("orders/{id}"));
        self.call("get order", Idempotency::Safe, |c| c.get(&url)).await?.json(VENDOR, "get order")
    }

    /// Tracking numbers already on the order's shipments.
    async fn posted_tracks(&self, id: i64) -> Result<BTreeSet<String>, ConnectorError> {
        let url = self.url("shipments");
        let query = [
            ("searchCriteria[filter_groups][0][filters][0][field]", "order_id".to_owned()),
            ("searchCriteria[filter_groups][0][filters][0][value]", id.to_string()),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "eq".to_owned()),
        ];
        let found: ShipmentSearch = self
            .call("list shipments", Idempotency::Safe, |c| c.get(&url).query(&query))
            .await?
            .json(VENDOR, "list shipments")?;
        Ok(found
            .items
            .iter()
            .flat_map(|s| s.tracks.iter())
            .filter_map(|t| t.track_number.as_deref().map(track_key))
            .collect())
    }

    async fn comment(&self, id: i64, comment: &str, status: &str) -> Result<(), ConnectorError> {
        let url = self.url(&format!("orders/{id}/comments"));
        let body = CommentRequest {
            status_history: StatusHistory { comment, status, is_customer_notified: 0, is_visible_on_front: 0 },
        };
        self.call("add comment", Idempotency::Unsafe, |c| c.post(&url).json(&body)).await.map(|_| ())
    }
}

/// **One Magento shipment per package**, with its track and the items in it. Before posting, the
/// order's shipments are read and a package whose tracking number is already there is skipped
/// (a retried `/ship` would otherwise create a second shipment, §5.7); quantities are capped at
/// what is still unshipped. Everything is checked before the first `/ship`, so a bad shipment
/// posts nothing.
#[async_trait]
impl StatusPublisher for MagentoClient {
    async fn push_shipment(&self, order: &ChannelOrderId, shipment: &Shipment) -> Result<(), ConnectorError> {
        const OP: &str = "push shipment";
        let id = require_id(order, OP)?;
        if shipment.packages.is_empty() {
            return Err(rejected(OP, format!("shipment {}: packages: none to push", shipment.source)));
        }
        let wire = self.order(id).await?;
        let posted = self.posted_tracks(id).await?;
        let mut left = shippable(&wire.items);
        let mut planned = Vec::new();
        for package in &shipment.packages {
            let number = package.tracking.number.as_str();
            if posted.contains(&track_key(number)) {
                debug!(connection = %self.connection, order = id, tracking = number, "Track already on the order; skipped.");
                continue;
            }
            let items = if package.items.is_empty() {
                // Magento ships "everything left" when items are omitted: right only when this box
                // is the whole rest of the order.
                if shipment.packages.len() == 1 && shipment.completes_order {
                    None
                } else {
                    return Err(rejected(
                        OP,
                        format!(
                            "shipment {} package {}: items: none listed, and Magento would ship the whole rest of the order",
                            shipment.source, package.package_id
                        ),
                    ));
                }
            } else {
                let (items, capped) = ship_items(&package.items, &wire.items, &mut left).map_err(|m| {
                    rejected(OP, format!("shipment {} package {}: {m}", shipment.source, package.package_id))
                })?;
                if !capped.is_empty() {
                    warn!(connection = %self.connection, order = id, tracking = number, capped = ?capped, "Shipped short: the order has less left to ship.");
                }
                if items.is_empty() {
                    warn!(connection = %self.connection, order = id, tracking = number, "Nothing left to ship for this package; not posted.");
                    continue;
                }
                Some(items)
            };
            let mapped = self.config.mapped_carrier(&package.tracking.carrier);
            planned.push(ShipRequest { items, notify: false, tracks: vec![ship_track(&package.tracking, mapped)] });
        }
        for request in planned {
            let url = self.url(&format!("order/{id}/ship"));
            let reply = self.call("create shipment", Idempotency::Unsafe, |c| c.post(&url).json(&request)).await?;
            // The answer is the new shipment's id; only logged, so an odd body is no failure.
            let shipment_id: Option<i64> = reply.json(VENDOR, "create shipment").ok();
            let tracking: Vec<&str> = request.tracks.iter().map(|t| t.track_number.as_str()).collect();
            info!(connection = %self.connection, order = id, shipment_id, tracking = ?tracking, items = request.items.as_ref().map_or(0, Vec::len), "Magento shipment created.");
        }
        Ok(())
    }

    async fn push_status(&self, order: &ChannelOrderId, status: &str) -> Result<(), ConnectorError> {
        const OP: &str = "set status";
        let id = require_id(order, OP)?;
        let status = status.trim();
        if status.is_empty() {
            return Err(rejected(OP, "status: must not be empty".into()));
        }
        self.comment(id, &format!("Status {status} from the ERP (Orderbridge)."), status).await
    }

    async fn add_note(&self, order: &ChannelOrderId, note: &str) -> Result<(), ConnectorError> {
        const OP: &str = "add note";
        let id = require_id(order, OP)?;
        if note.trim().is_empty() {
            return Err(rejected(OP, "note: must not be empty".into()));
        }
        // The comment endpoint sets the status it is given: keep the current one.
        let status = self.order(id).await?.status.unwrap_or_default();
        self.comment(id, note.trim(), &status).await
    }
}

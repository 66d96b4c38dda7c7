//! [`MagentoClient`]: shipments, statuses and notes back to Magento orders (`StatusPublisher`).
//!
//! Calls: `push_shipment` 2 reads (the order; its shipments and their tracks) + 1 `/ship` per
//! package not yet on the order; `push_status` 1; `add_note` 2 (read the status, then comment).

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tracing::{debug, info, warn};

use super::config::MagentoConfig;
use super::mapper::{carrier_code, error_message, ship_items, shippable};
use super::wire::{CommentRequest, OrderWire, ShipRequest, ShipTrack, ShipmentSearch, StatusHistory};
use super::VENDOR;
use crate::connectors::{ConnectorError, SetupError};
use crate::http::{join_url, Idempotency, Reply, VendorHttp, VendorProfile};
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

/// The Magento client of one store connection. Build once per container and share.
pub struct MagentoClient {
    connection: ConnectionId,
    config: MagentoConfig,
    http: VendorHttp,
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

fn require_id(id: &ChannelOrderId, operation: &'static str) -> Result<i64, ConnectorError> {
    match id {
        ChannelOrderId::Magento(m) => Ok(m.get()),
        other => Err(rejected(operation, format!("{other} is not a Magento order"))),
    }
}

impl MagentoClient {
    pub fn new(connection: ConnectionId, config: MagentoConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let http = VendorHttp::new(PROFILE, &config.http, config.rate_limit, config.retry)?;
        Ok(Self { connection, config, http })
    }

    pub fn connection(&self) -> &ConnectionId {
        &self.connection
    }

    fn url(&self, path: &str) -> String {
        join_url(&self.config.base_url, &format!("rest/{}/V1/{path}", self.config.store_code))
    }

    async fn call<F>(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        build: F,
    ) -> Result<Reply, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let token = self.config.access_token.expose_secret();
        self.http.send(operation, idempotency, |c| build(c).bearer_auth(token).header(ACCEPT, "application/json")).await
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
            .filter_map(|t| t.track_number.as_deref().map(str::trim).map(str::to_owned))
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
            if posted.contains(number) {
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
            let carrier = package.tracking.carrier.trim();
            let title = [Some(carrier), package.tracking.service.as_deref().map(str::trim)]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            planned.push(ShipRequest {
                items,
                notify: false,
                tracks: vec![ShipTrack {
                    track_number: number.to_owned(),
                    title: if title.is_empty() { "Carrier".into() } else { title },
                    carrier_code: carrier_code(carrier).to_owned(),
                }],
            });
        }
        for request in planned {
            let url = self.url(&format!("order/{id}/ship"));
            self.call("create shipment", Idempotency::Unsafe, |c| c.post(&url).json(&request)).await?;
            info!(connection = %self.connection, order = id, tracking = %request.tracks[0].track_number, "Magento shipment created.");
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

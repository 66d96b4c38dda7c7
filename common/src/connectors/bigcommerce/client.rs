//! [`BigCommerceClient`]: a sales channel (`OrderSource`) over BigCommerce's v2 Orders API.
//!
//! Listing returns `Reference`s and `fetch_order` makes the three calls an order needs (order,
//! products, shipping addresses). Fetching inside the listing would spend 3 × 50 = 150 calls on
//! one page — the whole Standard plan's 30-second window — inside the pull Lambda's time limit;
//! deferring them to the import Lambdas spreads them over SQS-throttled concurrency instead.
//!
//! Calls per operation: `list_new_orders` 1, `fetch_order` 3 (+1 per further 250 products),
//! `acknowledge` 1 per order (v2 has no bulk update).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tracing::{info, warn};

use super::config::BigCommerceConfig;
use super::mapper::{error_message, pause_hint, reset_after, to_order};
use super::wire::{AddressWire, OrderWire, ProductWire, StatusUpdate};
use super::VENDOR;
use crate::connectors::{ConnectorError, SetupError};
use crate::http::{join_url, Idempotency, Reply, VendorHttp, VendorProfile};
use crate::model::{BigCommerceOrderId, ChannelOrderId, ConnectionId, Order};
use crate::ports::{Acknowledgement, ListedOrder, OrderPage, OrderSource, PageToken};

fn rate_hint(status: StatusCode, headers: &HeaderMap, _: &[u8]) -> Option<Duration> {
    (status == StatusCode::TOO_MANY_REQUESTS).then(|| reset_after(headers)).flatten()
}

fn never(_: StatusCode, _: &[u8]) -> bool {
    false
}

const PROFILE: VendorProfile = VendorProfile { name: VENDOR, error_message, rate_hint, pause_hint, rejects: never };

/// The BigCommerce client of one store connection. Build once per container and share.
pub struct BigCommerceClient {
    connection: ConnectionId,
    config: BigCommerceConfig,
    http: VendorHttp,
}

impl std::fmt::Debug for BigCommerceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCommerceClient")
            .field("connection", &self.connection)
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

impl BigCommerceClient {
    /// Validates the config and builds the HTTP client; no request is sent until first use.
    pub fn new(connection: ConnectionId, config: BigCommerceConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let http = VendorHttp::new(PROFILE, &config.http, config.rate_limit, config.retry)?;
        Ok(Self { connection, config, http })
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
        self.http
            .send(operation, idempotency, |c| build(c).header("X-Auth-Token", token).header(ACCEPT, "application/json"))
            .await
    }

    /// A bare JSON array, where 204 or an empty body is an empty list (§3.2).
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ConnectorError> {
        let url = join_url(&self.config.base_url, path);
        let reply = self.call(operation, Idempotency::Safe, |c| c.get(&url).query(query)).await?;
        if reply.is_empty() {
            return Ok(Vec::new());
        }
        reply.json(VENDOR, operation)
    }

    async fn set_status(&self, id: i64, status_id: i64, staff_notes: Option<&str>) -> Result<(), ConnectorError> {
        let url = join_url(&self.config.base_url, &format!("v2/orders/{id}"));
        let body = StatusUpdate { status_id, staff_notes };
        self.call("update order status", Idempotency::Safe, |c| c.put(&url).json(&body)).await.map(|_| ())
    }
}

fn bigcommerce_id(id: &ChannelOrderId) -> Option<i64> {
    match id {
        ChannelOrderId::BigCommerce(bc) => Some(bc.get()),
        _ => None,
    }
}

#[async_trait]
impl OrderSource for BigCommerceClient {
    fn connection(&self) -> &ConnectionId {
        &self.connection
    }

    /// `GET /v2/orders?status_id={new}&sort=id:asc&min_id={token}&page=1&limit={page_size}`.
    ///
    /// Keyset paging: the token is the smallest id not yet listed. Orders leave the new status as
    /// they are acknowledged, so `page=N` would skip orders that slid forward (§3.9, §6.4);
    /// `min_id` with `page=1` never does, and new orders (higher ids) are reached in turn.
    async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        let min_id = match page {
            None => 1,
            Some(t) => t.0.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| ConnectorError::Rejected {
                vendor: VENDOR,
                operation: "list orders",
                message: format!("page token {:?} is not one this client issued; clear the connection's cursor", t.0),
            })?,
        };
        let query = [
            ("status_id", self.config.new_status_id.to_string()),
            ("sort", "id:asc".to_owned()),
            ("min_id", min_id.to_string()),
            ("page", "1".to_owned()),
            ("limit", self.config.page_size.to_string()),
        ];
        let listed: Vec<OrderWire> = self.list("list orders", "v2/orders", &query).await?;
        let mut orders = Vec::with_capacity(listed.len());
        let mut max_id = None;
        for o in &listed {
            let Some(id) = o.id.and_then(|i| BigCommerceOrderId::new(i).ok()) else {
                warn!(connection = %self.connection, "Skipped a listed order without a valid id.");
                continue;
            };
            max_id = max_id.max(Some(id.get()));
            orders.push(ListedOrder::Reference { id: ChannelOrderId::BigCommerce(id), display_number: id.to_string() });
        }
        let full = listed.len() as u32 >= self.config.page_size;
        let next = max_id.filter(|_| full).map(|m| PageToken((m + 1).to_string()));
        Ok(OrderPage { orders, next })
    }

    /// `GET /v2/orders/{id}`, `/products` (all pages) and `/shipping_addresses`.
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        let raw = bigcommerce_id(id).ok_or_else(|| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: "get order",
            message: format!("{id} is not a BigCommerce order"),
        })?;
        let url = join_url(&self.config.base_url, &format!("v2/orders/{raw}"));
        let order: OrderWire =
            self.call("get order", Idempotency::Safe, |c| c.get(&url)).await?.json(VENDOR, "get order")?;
        let mut products: Vec<ProductWire> = Vec::new();
        for page in 1.. {
            let query = [("page", page.to_string()), ("limit", "250".to_owned())];
            let batch: Vec<ProductWire> =
                self.list("get order products", &format!("v2/orders/{raw}/products"), &query).await?;
            let done = batch.len() < 250;
            products.extend(batch);
            if done {
                break;
            }
        }
        let addresses: Vec<AddressWire> =
            self.list("get shipping addresses", &format!("v2/orders/{raw}/shipping_addresses"), &[]).await?;
        to_order(&order, &products, &addresses, &self.connection, &self.config.store_source_name)
            .map_err(|detail| ConnectorError::Decode { vendor: VENDOR, operation: "get order", detail })
    }

    /// `PUT /v2/orders/{id}` per order: the downloaded status, or the import-error status with
    /// the reason in `staff_notes`. Orders whose update failed are returned.
    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        let mut missed = Vec::new();
        let mut done = 0usize;
        for ack in acks {
            let (order, status, notes) = match ack {
                Acknowledgement::Imported { order, erp } => {
                    (order, self.config.downloaded_status_id, Some(format!("Imported to the ERP as {erp}.")))
                }
                Acknowledgement::Failed { order, reason } => (
                    order,
                    self.config.import_error_status_id,
                    Some(format!("Orderbridge could not import this order: {reason}")),
                ),
            };
            let Some(id) = bigcommerce_id(order) else {
                missed.push(order.clone());
                continue;
            };
            let notes = notes.filter(|_| matches!(ack, Acknowledgement::Failed { .. }));
            match self.set_status(id, status, notes.as_deref()).await {
                Ok(()) => done += 1,
                Err(e) => {
                    warn!(connection = %self.connection, order = id, error = %e, "Could not update the order status.");
                    missed.push(order.clone());
                }
            }
        }
        info!(connection = %self.connection, updated = done, missed = missed.len(), "BigCommerce orders acknowledged.");
        Ok(missed)
    }
}

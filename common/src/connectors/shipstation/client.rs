//! [`ShipStationClient`]: label shipments read back from ShipStation (`ShippingTool`).
//!
//! Calls: `shipments_at` 1 per page of the webhook's batch (usually 1), `shipments_since` 1 per
//! page of `page_size`. Both count against the 40-per-minute budget, which the limiter and the
//! `X-Rate-Limit-*` headers keep.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tracing::{debug, warn};

use super::config::ShipStationConfig;
use super::mapper::{error_message, map_shipment, pause_hint, reset_after, to_shipstation_time, Skip};
use super::wire::ShipmentsPage;
use super::VENDOR;
use crate::connectors::{ConnectorError, InvalidConfig, SetupError};
use crate::http::{Idempotency, VendorHttp, VendorProfile};
use crate::model::Shipment;
use crate::ports::{ShippingTool, ShippingToolOrder};

fn rate_hint(status: StatusCode, headers: &HeaderMap, _: &[u8]) -> Option<Duration> {
    (status == StatusCode::TOO_MANY_REQUESTS).then(|| reset_after(headers)).flatten()
}

fn never(_: StatusCode, _: &[u8]) -> bool {
    false
}

const PROFILE: VendorProfile = VendorProfile { name: VENDOR, error_message, rate_hint, pause_hint, rejects: never };

/// More pages than any batch or catch-up window can have (500 a page): a vendor answering the
/// same `pages` forever must not keep one invocation looping.
const MAX_PAGES: i64 = 1_000;

const FETCH_RESOURCE: &str = "fetch webhook resource";
const LIST_SHIPMENTS: &str = "list shipments";

/// The ShipStation client of one account. Build once per container and share.
pub struct ShipStationClient {
    config: ShipStationConfig,
    base: url::Url,
    tz: chrono_tz::Tz,
    http: VendorHttp,
}

impl std::fmt::Debug for ShipStationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipStationClient").field("base_url", &self.config.base_url).finish_non_exhaustive()
    }
}

impl ShipStationClient {
    pub fn new(config: ShipStationConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let tz = config.tz()?;
        let base =
            super::webhook::api_base(&config.base_url).map_err(|problem| InvalidConfig { vendor: VENDOR, problem })?;
        let http = VendorHttp::new(PROFILE, VENDOR, config.transport())?;
        Ok(Self { tz, base, config, http })
    }

    /// The hosts a webhook's `resource_url` may name: the API's own (`host` or `host:port`).
    pub fn allowed_hosts(&self) -> Vec<String> {
        super::webhook::host_of(&self.base).into_iter().collect()
    }

    fn shipments_url(&self) -> Result<url::Url, ConnectorError> {
        self.base.join("shipments").map_err(|e| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: LIST_SHIPMENTS,
            message: format!("base_url: {e}"),
        })
    }

    /// The webhook's URL if it passes the intake's own check (`webhook::check_resource_url`):
    /// checked again here because it is fetched with our credentials (no request forgery even if
    /// the intake was bypassed, or the message was enqueued by an older version).
    fn own_url(&self, text: &str) -> Result<url::Url, ConnectorError> {
        super::webhook::check_resource_url(&self.base, text).map_err(|refusal| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: FETCH_RESOURCE,
            message: refusal.to_string(),
        })
    }

    async fn page(&self, operation: &'static str, url: &url::Url) -> Result<ShipmentsPage, ConnectorError> {
        let (key, secret) = (self.config.api_key.expose_secret(), self.config.api_secret.expose_secret());
        let reply = self
            .http
            .send(operation, Idempotency::Safe, |c| {
                c.get(url.clone()).basic_auth(key, Some(secret)).header(ACCEPT, "application/json")
            })
            .await?;
        reply.json(VENDOR, operation)
    }

    /// Every page of a shipments listing, mapped; shipments that cannot be used are skipped with
    /// a warning naming them, never failing the rest.
    async fn all_pages(
        &self,
        operation: &'static str,
        mut url: url::Url,
    ) -> Result<Vec<(ShippingToolOrder, Shipment)>, ConnectorError> {
        let mut out = Vec::new();
        let mut page = 1i64;
        loop {
            set_param(&mut url, "page", &page.to_string());
            let reply = self.page(operation, &url).await?;
            for raw in &reply.shipments {
                match map_shipment(&self.tz, raw) {
                    Ok(mapped) => {
                        for note in &mapped.notes {
                            warn!(vendor = VENDOR, shipment_id = %note.shipment, field = %note.field,
                                problem = %note.problem, "Left part of a ShipStation shipment out.");
                        }
                        out.push((mapped.order, mapped.shipment));
                    }
                    Err(Skip::Voided(id)) => debug!(vendor = VENDOR, shipment_id = id, "Skipped a voided label."),
                    Err(Skip::Untracked(id)) => {
                        warn!(
                            vendor = VENDOR,
                            shipment_id = id,
                            "Skipped a ShipStation shipment without a tracking number."
                        )
                    }
                    Err(Skip::Unreadable(e)) => warn!(vendor = VENDOR, shipment_id = %e.shipment, field = %e.field,
                        problem = %e.problem, "Skipped a ShipStation shipment that cannot be read."),
                }
            }
            let pages = reply.pages.unwrap_or(1);
            if reply.shipments.is_empty() || page >= pages {
                return Ok(out);
            }
            if page >= MAX_PAGES {
                return Err(ConnectorError::Decode {
                    vendor: VENDOR,
                    operation,
                    detail: format!("listing claims {pages} pages; stopped after {MAX_PAGES}"),
                });
            }
            page += 1;
        }
    }
}

/// Sets one query parameter, replacing any existing one of the same name (case-insensitively:
/// ShipStation reads `includeShipmentItems` and `IncludeShipmentItems` alike).
fn set_param(url: &mut url::Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept).append_pair(name, value);
}

#[async_trait]
impl ShippingTool for ShipStationClient {
    async fn shipments_at(&self, resource_url: &str) -> Result<Vec<(ShippingToolOrder, Shipment)>, ConnectorError> {
        let mut url = self.own_url(resource_url)?;
        // SHIP_NOTIFY's URL asks for no items (`includeShipmentItems=False`); the channels need them.
        set_param(&mut url, "includeShipmentItems", "True");
        self.all_pages(FETCH_RESOURCE, url).await
    }

    async fn shipments_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(ShippingToolOrder, Shipment)>, ConnectorError> {
        let mut url = self.shipments_url()?;
        url.query_pairs_mut()
            .append_pair("createDateStart", &to_shipstation_time(&self.tz, since))
            .append_pair("includeShipmentItems", "true")
            // Oldest first, so labels created while paging land on later pages, not shift earlier ones.
            .append_pair("sortBy", "CreateDate")
            .append_pair("sortDir", "ASC")
            .append_pair("pageSize", &self.config.page_size.to_string());
        self.all_pages(LIST_SHIPMENTS, url).await
    }
}

/// ShipStation accepts at most 100 orders per `createorders` call (vendor-apis §4.4).
const CREATE_ORDERS_LIMIT: usize = 100;

#[async_trait]
impl crate::ports::ShippingStation for ShipStationClient {
    /// `POST /orders/createorders` in chunks of 100: created, or updated by `orderKey`, so a
    /// repeat after a lost answer updates the same order (retried like a read). An order the
    /// body cannot express (a fractional quantity) is refused before the call.
    async fn upsert_orders(
        &self,
        orders: &[crate::model::StationOrder],
    ) -> Result<Vec<crate::ports::StationOutcome>, ConnectorError> {
        const OP: &str = "create or update orders";
        let mut outcomes = Vec::new();
        let mut bodies = Vec::new();
        for order in orders {
            match super::mapper::order_body(order) {
                Ok(body) => bodies.push(body),
                Err(refusal) => {
                    outcomes.push(crate::ports::StationOutcome { key: order.key.clone(), result: Err(refusal) })
                }
            }
        }
        let url = self.base.join("orders/createorders").map_err(|e| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: OP,
            message: format!("base_url: {e}"),
        })?;
        let (key, secret) = (self.config.api_key.expose_secret(), self.config.api_secret.expose_secret());
        for chunk in bodies.chunks(CREATE_ORDERS_LIMIT) {
            let reply = self
                .http
                .send(OP, Idempotency::Safe, |c| {
                    c.post(url.clone()).basic_auth(key, Some(secret)).header(ACCEPT, "application/json").json(chunk)
                })
                .await?;
            let answer: super::wire::CreateOrdersReply = reply.json(VENDOR, OP)?;
            for body in chunk {
                let result = answer.results.iter().find(|r| r.order_key.as_deref() == Some(body.order_key.as_str()));
                let result = match result {
                    Some(r) if r.success => {
                        r.order_id.map(|id| id.to_string()).ok_or_else(|| "no orderId in the answer".into())
                    }
                    Some(r) => Err(r.error_message.clone().unwrap_or_else(|| "refused without a message".into())),
                    None => Err("not in ShipStation's answer".into()),
                };
                outcomes.push(crate::ports::StationOutcome { key: body.order_key.clone(), result });
            }
        }
        Ok(outcomes)
    }

    fn time_zone(&self) -> chrono_tz::Tz {
        self.tz
    }

    /// `GET /shipments?voidDateStart=…` (Pacific, oldest first), every page: the voided labels
    /// with the order key they belong to.
    async fn voided_since(&self, since: DateTime<Utc>) -> Result<Vec<crate::ports::VoidedLabel>, ConnectorError> {
        const OP: &str = "list voided labels";
        let mut url = self.shipments_url()?;
        url.query_pairs_mut()
            .append_pair("voidDateStart", &to_shipstation_time(&self.tz, since))
            .append_pair("sortBy", "CreateDate")
            .append_pair("sortDir", "ASC")
            .append_pair("pageSize", &self.config.page_size.to_string());
        let mut out = Vec::new();
        let mut page = 1i64;
        loop {
            set_param(&mut url, "page", &page.to_string());
            let reply = self.page(OP, &url).await?;
            for raw in &reply.shipments {
                let voided = raw.get("voided").and_then(serde_json::Value::as_bool).unwrap_or(false);
                let key = raw.get("orderKey").and_then(serde_json::Value::as_str).map(str::trim);
                let tracking = raw.get("trackingNumber").and_then(serde_json::Value::as_str).map(str::trim);
                if let (true, Some(key), Some(tracking)) = (voided, key, tracking) {
                    if !key.is_empty() && !tracking.is_empty() {
                        out.push(crate::ports::VoidedLabel {
                            order_key: key.to_owned(),
                            tracking: tracking.to_owned(),
                        });
                    }
                }
            }
            if reply.shipments.is_empty() || page >= reply.pages.unwrap_or(1) || page >= MAX_PAGES {
                return Ok(out);
            }
            page += 1;
        }
    }
}

/// Test connection: `GET /webhooks` with the API key and secret (the account's webhook list: one
/// small read).
#[async_trait]
impl crate::ports::Probe for ShipStationClient {
    fn probe_call(&self) -> &'static str {
        "GET /webhooks"
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        const OP: &str = "test connection";
        let url = self.base.join("webhooks").map_err(|e| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: OP,
            message: format!("base_url: {e}"),
        })?;
        let (key, secret) = (self.config.api_key.expose_secret(), self.config.api_secret.expose_secret());
        self.http
            .send(OP, Idempotency::Safe, |c| {
                c.get(url.clone()).basic_auth(key, Some(secret)).header(ACCEPT, "application/json")
            })
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod url_tests {
    use secrecy::SecretString;

    use super::*;

    fn client(base: &str) -> ShipStationClient {
        let secret = |s: &str| SecretString::from(s.to_owned());
        ShipStationClient::new(ShipStationConfig::new(base, secret("key"), secret("secret"))).unwrap()
    }

    #[test]
    fn only_shipment_listings_on_the_api_host_are_fetched() {
        let c = client("https://ssapi.shipstation.com");
        assert_eq!(c.allowed_hosts(), vec!["ssapi.shipstation.com".to_owned()]);
        let ok = c.own_url("https://ssapi.shipstation.com:443/shipments?storeID=1&batchId=2#x").unwrap();
        assert_eq!(ok.as_str(), "https://ssapi.shipstation.com/shipments?storeID=1&batchId=2");
        for bad in [
            "https://evil.example/shipments?batchId=2",
            "http://ssapi.shipstation.com/shipments?batchId=2",
            "https://ssapi.shipstation.com:8443/shipments?batchId=2",
            "https://ssapi.shipstation.com.evil.example/shipments",
            "https://user:pw@ssapi.shipstation.com/shipments",
            "https://ssapi.shipstation.com/orders?orderId=1",
            "/shipments?batchId=2",
        ] {
            let err = c.own_url(bad).unwrap_err();
            assert!(matches!(err, ConnectorError::Rejected { .. }), "{bad}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        let local = client("http://127.0.0.1:4000/prefix");
        assert_eq!(local.allowed_hosts(), vec!["127.0.0.1:4000".to_owned()]);
        assert!(local.own_url("http://127.0.0.1:4000/prefix/shipments?batchId=1").is_ok());
        assert!(local.own_url("http://127.0.0.1:4000/shipments?batchId=1").is_err());
    }

    #[test]
    fn the_items_flag_is_replaced_not_duplicated() {
        let mut url =
            url::Url::parse("https://x.test/shipments?storeID=1&includeShipmentItems=False&batchId=9").unwrap();
        set_param(&mut url, "includeShipmentItems", "True");
        assert_eq!(url.query(), Some("storeID=1&batchId=9&includeShipmentItems=True"));
    }
}

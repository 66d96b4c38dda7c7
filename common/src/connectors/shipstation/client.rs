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
use tracing::warn;

use super::config::ShipStationConfig;
use super::mapper::{error_message, pause_hint, reset_after, to_shipment, to_shipstation_time};
use super::wire::{ShipmentWire, ShipmentsPage};
use super::VENDOR;
use crate::connectors::{ConnectorError, SetupError};
use crate::http::{join_url, Idempotency, VendorHttp, VendorProfile};
use crate::model::Shipment;
use crate::ports::{ShippingTool, ShippingToolOrder};

fn rate_hint(status: StatusCode, headers: &HeaderMap, _: &[u8]) -> Option<Duration> {
    (status == StatusCode::TOO_MANY_REQUESTS).then(|| reset_after(headers)).flatten()
}

fn never(_: StatusCode, _: &[u8]) -> bool {
    false
}

const PROFILE: VendorProfile = VendorProfile { name: VENDOR, error_message, rate_hint, pause_hint, rejects: never };

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

fn host_of(url: &url::Url) -> Option<String> {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        (Some(h), None) => Some(h.to_owned()),
        (None, _) => None,
    }
}

impl ShipStationClient {
    pub fn new(config: ShipStationConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let base = url::Url::parse(&config.base_url).map_err(|e| {
            SetupError::Config(crate::connectors::InvalidConfig { vendor: VENDOR, problem: format!("base_url: {e}") })
        })?;
        let http = VendorHttp::new(PROFILE, &config.http, config.rate_limit, config.retry)?;
        Ok(Self { tz: config.tz(), base, config, http })
    }

    /// The hosts a webhook's `resource_url` may name: the API's own (`host` or `host:port`).
    pub fn allowed_hosts(&self) -> Vec<String> {
        host_of(&self.base).into_iter().collect()
    }

    /// Refuses any URL not on the API's scheme, host and port: it is fetched with our credentials.
    fn own_url(&self, text: &str) -> Result<url::Url, ConnectorError> {
        let refuse = |why: String| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: "fetch webhook resource",
            message: why,
        };
        let url = url::Url::parse(text).map_err(|e| refuse(format!("resource_url is not a URL: {e}")))?;
        if url.scheme() != self.base.scheme() || host_of(&url) != host_of(&self.base) {
            return Err(refuse(format!(
                "resource_url host {:?} is not the configured ShipStation API host",
                host_of(&url).unwrap_or_default()
            )));
        }
        Ok(url)
    }

    async fn page(&self, operation: &'static str, url: &url::Url) -> Result<ShipmentsPage, ConnectorError> {
        let secret = self.config.api_secret.expose_secret();
        let reply = self
            .http
            .send(operation, Idempotency::Safe, |c| {
                c.get(url.clone()).basic_auth(&self.config.api_key, Some(secret)).header(ACCEPT, "application/json")
            })
            .await?;
        reply.json(VENDOR, operation)
    }

    /// Every page of a shipments listing, mapped; unreadable shipments are skipped with a warning.
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
                let mapped = serde_json::from_value::<ShipmentWire>(raw.clone())
                    .map_err(|e| format!("shipment {}: {e}", raw["shipmentId"]))
                    .and_then(|wire| to_shipment(&self.tz, &wire));
                match mapped {
                    Ok(Some(found)) => out.push(found),
                    Ok(None) => {}
                    Err(problem) => warn!(problem = %problem, "Skipped a ShipStation shipment that cannot be read."),
                }
            }
            let pages = reply.pages.unwrap_or(1);
            if reply.shipments.is_empty() || page >= pages {
                return Ok(out);
            }
            page += 1;
        }
    }
}

/// Sets one query parameter, replacing any existing one of the same name (case-insensitively).
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
        // The webhook's URL leaves items out; the channels need them.
        set_param(&mut url, "includeShipmentItems", "True");
        self.all_pages("fetch webhook resource", url).await
    }

    async fn shipments_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(ShippingToolOrder, Shipment)>, ConnectorError> {
        let mut url = url::Url::parse(&join_url(&self.config.base_url, "shipments")).map_err(|e| {
            ConnectorError::Rejected { vendor: VENDOR, operation: "list shipments", message: format!("base_url: {e}") }
        })?;
        url.query_pairs_mut()
            .append_pair("createDateStart", &to_shipstation_time(&self.tz, since))
            .append_pair("includeShipmentItems", "true")
            .append_pair("sortBy", "CreateDate")
            .append_pair("sortDir", "ASC")
            .append_pair("pageSize", &self.config.page_size.to_string());
        self.all_pages("list shipments", url).await
    }
}

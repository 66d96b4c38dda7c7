//! [`SellercloudClient`]: a sales channel (`OrderSource`) over Sellercloud's REST API.
//!
//! Calls per operation (with a live token; a new container or an expired token adds one
//! `POST /api/token`): `list_new_orders` 1, `fetch_order` 2 (order + notes for customer
//! instructions; 1 with `read_customer_instructions = false`), `acknowledge` 1 `SetExported` for
//! all imported orders (+ 1 note per imported order with `erp_number_note`) + 1 note per failed
//! order + 1 `StatusCode` for all failed orders.
//! `push_shipment` 1 (read the order) + 1 `ShippingStatus/SinglePackage` unless the order already
//! carries tracking, plus (several packages, or other tracking already on the order) 1 notes
//! read and 1 note unless it is already there;
//! `push_status` 1; `add_note` 1 (a Customer Service Note, category 2); `order_charges` 1 per
//! call of up to `profit_and_loss.orders_per_call` orders.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use tracing::{debug, info, warn};

use super::config::{dropship_status_name, status_code, SellercloudConfig};
use super::mapper::{
    charges_from_wire, error_message, local_to_utc, rate_limit_reset, ship_date_param, status_code_of, to_order,
    tracking_note, utc_to_local_param, FULLY_SHIPPED,
};
use super::wire::{
    AddNote, NoteBody, NoteWire, OrderList, OrderWire, ProfitAndLossRequest, SetExported, SetStatus, ShipSinglePackage,
    TokenRequest, TokenResponse,
};
use super::SellercloudOrderId;
use super::VENDOR;
use crate::connectors::{ConnectorError, SetupError};
use crate::http::{
    join_url, BuildRequest, Credential, Idempotency, Reply, SecondRefusal, Session, VendorHttp, VendorProfile,
};
use crate::model::{ChannelOrderId, ConnectionId, Order, OrderCharges, Shipment};
use crate::ports::{
    Acknowledgement, ChargeSource, CreatedWindow, ListedOrder, OrderPage, OrderSource, PageToken, StatusPublisher,
};

fn rate_hint(_: StatusCode, _: &HeaderMap, body: &[u8]) -> Option<Duration> {
    rate_limit_reset(body, Utc::now())
}

fn no_pause(_: &HeaderMap) -> Option<Duration> {
    None
}

fn never(_: StatusCode, _: &[u8]) -> bool {
    false
}

const PROFILE: VendorProfile =
    VendorProfile { name: VENDOR, error_message, rate_hint, pause_hint: no_pause, rejects: never };

/// Note categories (§1.9, confirmed in vendor-apis-erp-out §E.2): our own breadcrumbs (tracking
/// lists, import failures) are General; the ERP's customer-service note is a Customer Service
/// Note. Category 1 (Customer Instructions) is the buyer's, read on import and never written.
const NOTE_GENERAL: i64 = 0;
const NOTE_CUSTOMER_SERVICE: i64 = 2;

/// Refresh this long before the token's stated expiry (the docs disagree on 30 or 60 min).
const TOKEN_MARGIN: Duration = Duration::from_secs(120);

/// Where a walk over the not-exported queue stands.
///
/// The queue is `exported=0`, and the import Lambdas mark orders exported while we page, so the
/// result set shrinks under us (§1.15): plain `pageNumber + 1` would skip orders that slid onto
/// pages already read. The token therefore remembers the page to read next, the `TotalResults`
/// seen on the last page, and the fixed `createdOnFrom` of the walk. When the total has dropped
/// by `d`, the walk steps back ⌈d / pageSize⌉ pages. That may list an order twice, which the pull
/// flow tolerates (it skips orders already imported or in flight); it never skips one whose
/// position only moved because earlier orders left the queue. An order that left and came back
/// is picked up by the next walk, which starts at page 1 after the last page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalkToken {
    pub page: u32,
    pub total: i64,
    pub from: i64,
}

impl WalkToken {
    pub fn encode(&self) -> PageToken {
        PageToken(format!("v1:{}:{}:{}", self.page, self.total, self.from))
    }

    pub fn decode(token: &PageToken) -> Option<Self> {
        let mut parts = token.0.strip_prefix("v1:")?.split(':');
        let page = parts.next()?.parse().ok().filter(|p| *p >= 1)?;
        let total = parts.next()?.parse().ok()?;
        let from = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self { page, total, from })
    }

    /// The page to read given the total now reported by the first read of `self.page`.
    pub fn stepped_back(&self, total_now: i64, page_size: u32) -> u32 {
        // Saturating: totals near i64's ends (the vendor's TotalResults) overflowed (found by fuzzing).
        let shrink = self.total.saturating_sub(total_now).max(0) as u64;
        let back = u32::try_from(shrink.div_ceil(page_size.max(1) as u64)).unwrap_or(u32::MAX);
        self.page.saturating_sub(back).max(1)
    }
}

/// The Sellercloud client of one connection. Build once per container and share.
pub struct SellercloudClient {
    connection: ConnectionId,
    config: SellercloudConfig,
    http: VendorHttp,
    token: Session,
}

impl std::fmt::Debug for SellercloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SellercloudClient")
            .field("connection", &self.connection)
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

impl SellercloudClient {
    /// Validates the config and builds the HTTP client; no request is sent until first use.
    pub fn new(connection: ConnectionId, config: SellercloudConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let http = VendorHttp::new(PROFILE, connection.as_str(), config.transport())?;
        Ok(Self { connection, config, http, token: Session::new(SecondRefusal::Unauthorized) })
    }

    fn url(&self, path: &str) -> String {
        join_url(&self.config.base_url, path)
    }

    /// `POST api/token`: a bearer token, renewed a little before its stated expiry.
    async fn sign_in(&self) -> Result<Credential, ConnectorError> {
        let url = self.url("api/token");
        let body = TokenRequest { Username: &self.config.username, Password: self.config.password.expose_secret() };
        let reply = self.http.send("get token", Idempotency::Safe, |c| c.post(&url).json(&body)).await?;
        let token: TokenResponse = reply.json(VENDOR, "get token")?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(1800).max(0) as u64);
        debug!(connection = %self.connection, lifetime_s = lifetime.as_secs(), "Sellercloud token issued.");
        Ok(Credential {
            secret: SecretString::from(token.access_token),
            renew_after: Some(Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN)),
        })
    }

    /// Sends with the bearer token; on 401 ("Not Valid Token") gets a new token once and repeats.
    async fn authed(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        build: impl BuildRequest,
    ) -> Result<Reply, ConnectorError> {
        let bearer =
            |request: reqwest::RequestBuilder, token: &SecretString| request.bearer_auth(token.expose_secret());
        self.token.send(&self.http, operation, idempotency, || self.sign_in(), bearer, build).await
    }

    /// The connection's own filters (companies, statuses, dropship statuses), which the new-order
    /// listing and a backfill's window listing both apply.
    fn push_filters(&self, query: &mut Vec<(&'static str, String)>) {
        query.extend(self.config.company_ids.iter().map(|c| ("model.companyID", c.to_string())));
        query.extend(self.config.order_statuses.iter().map(|s| ("model.orderStatus", s.clone())));
        query.extend(
            self.config
                .dropship_statuses
                .iter()
                .filter_map(|s| dropship_status_name(s))
                .map(|s| ("model.dropshipStatus", s.to_owned())),
        );
    }

    async fn list_page(&self, page: u32, from: DateTime<Utc>) -> Result<OrderList, ConnectorError> {
        let url = self.url("api/Orders");
        let mut query: Vec<(&str, String)> = vec![
            ("model.exported", "0".into()),
            ("model.pageSize", self.config.page_size.to_string()),
            ("model.pageNumber", page.to_string()),
            ("model.createdOnFrom", utc_to_local_param(from, self.config.tz())),
        ];
        self.push_filters(&mut query);
        let reply = self.authed("list orders", Idempotency::Safe, |c| c.get(&url).query(&query)).await?;
        reply.json(VENDOR, "list orders")
    }

    async fn get_order(&self, id: i64) -> Result<OrderWire, ConnectorError> {
        let url = self.url(&format!("api/Orders/{id}"));
        let reply = self.authed("get order", Idempotency::Safe, |c| c.get(&url)).await?;
        reply.json(VENDOR, "get order")
    }

    async fn notes(&self, id: i64) -> Result<Vec<NoteWire>, ConnectorError> {
        let url = self.url(&format!("rest/api/orders/notes/{id}"));
        let reply = self.authed("get notes", Idempotency::Safe, |c| c.get(&url)).await?;
        if reply.is_empty() {
            return Ok(Vec::new());
        }
        reply.json(VENDOR, "get notes")
    }

    async fn customer_instructions(&self, id: i64) -> Result<Option<String>, ConnectorError> {
        let notes = self.notes(id).await?;
        let text: Vec<String> = notes
            .into_iter()
            .filter(|n| n.Category == Some(1))
            .filter_map(|n| n.Note.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
            .collect();
        Ok((!text.is_empty()).then(|| text.join("\n")))
    }

    /// `POST /rest/api/orders/{id}/notes/` (the documented path, §1.12) in `category`.
    async fn post_note(&self, id: i64, category: i64, message: &str) -> Result<(), ConnectorError> {
        let url = self.url(&format!("rest/api/orders/{id}/notes/"));
        let body = AddNote { OrderID: id, note: NoteBody { Category: category, Message: message } };
        // Not idempotent (a repeat adds a second note), so only throttling is retried.
        self.authed("add note", Idempotency::Unsafe, |c| c.post(&url).json(&body)).await.map(|_| ())
    }

    async fn put_ids(
        &self,
        operation: &'static str,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<BTreeSet<i64>, ConnectorError> {
        let url = self.url(path);
        let reply = self.authed(operation, Idempotency::Safe, |c| c.put(&url).json(body)).await?;
        let ids: Vec<serde_json::Value> = reply.json(VENDOR, operation)?;
        Ok(ids.iter().filter_map(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))).collect())
    }
}

fn sellercloud_id(id: &ChannelOrderId) -> Option<i64> {
    SellercloudOrderId::of(id).map(SellercloudOrderId::get)
}

fn rejected(operation: &'static str, message: String) -> ConnectorError {
    ConnectorError::Rejected { vendor: VENDOR, operation, message }
}

fn require_id(id: &ChannelOrderId, operation: &'static str) -> Result<i64, ConnectorError> {
    sellercloud_id(id).ok_or_else(|| rejected(operation, format!("{id} is not a Sellercloud order")))
}

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Shipments, statuses and notes back to Sellercloud.
///
/// **Several packages.** Sellercloud's shipping call marks the *whole* order shipped and keeps
/// one tracking number (the first package's, §1.11); it has no partial shipments. The docs
/// mention a `PackageID` on the single-package call, but what it does on an order with one
/// package is UNCONFIRMED (§1.15) and the sandbox, like the docs, always writes the first
/// package. So the first package's tracking goes through `ShippingStatus/SinglePackage`, and
/// when the shipment has more than one package, a General note lists every tracking number with
/// its carrier and service, so none is lost and staff can see them on the order.
///
/// **Partial shipments.** `completes_order` is not consulted: the ERP mapper cannot tell yet
/// (it reports `false`), and holding an update until the order is complete is the flow's
/// business decision (§6.2). Once an order carries tracking, a later shipment does not
/// overwrite it (Sellercloud would not move the ShipDate anyway); its tracking goes to a note.
///
/// **Retries.** The order is read first: if it is already shipped with this tracking number, the
/// shipping call is skipped, and a note identical to an existing one is not added again, so a
/// repeated push changes nothing. Writes are sent as `Unsafe`: a lost response is left to the
/// caller's retry, which then finds the effect through the same reads.
#[async_trait]
impl StatusPublisher for SellercloudClient {
    async fn push_shipment(&self, order: &ChannelOrderId, shipment: &Shipment) -> Result<(), ConnectorError> {
        const OP: &str = "push shipment";
        let id = require_id(order, OP)?;
        let Some(first) = shipment.packages.first() else {
            return Err(rejected(OP, format!("shipment {}: packages: none to push", shipment.source)));
        };
        let wire = self.get_order(id).await?;
        let tz = self.config.tz();
        let tracked: Vec<&str> = wire.OrderPackages.iter().filter_map(|p| text(&p.TrackingNumber)).collect();
        let shipped = wire.ShippingDetails.ShippingStatus.or(wire.Statuses.ShippingStatus) == Some(FULLY_SHIPPED);
        let has_ours = tracked.contains(&first.tracking.number.as_str());
        // Tracking is written unless the order already has some (ours on a retry, or an earlier
        // shipment's, which we must not overwrite).
        let write_tracking = !shipped || tracked.is_empty();
        if write_tracking {
            let carrier = first.tracking.carrier.trim();
            if carrier.is_empty() {
                return Err(rejected(
                    OP,
                    format!("package {}: tracking.carrier (CarrierName) is empty", first.package_id),
                ));
            }
            // ShippingMethod is required; the order's own service is the best fallback.
            let service = first
                .tracking
                .service
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .or_else(|| text(&wire.ShippingDetails.Service))
                .ok_or_else(|| {
                    rejected(
                        OP,
                        format!(
                            "package {}: tracking.service (ShippingMethod) is empty and the order has no service",
                            first.package_id
                        ),
                    )
                })?;
            let created = text(&wire.CreatedOn)
                .or_else(|| text(&wire.TimeOfOrder))
                .or_else(|| text(&wire.OrderDetails.OrderDate))
                .and_then(|t| local_to_utc(t, tz));
            let body = ShipSinglePackage {
                OrderID: id,
                CarrierName: carrier,
                ShippingMethod: service,
                TrackingNumber: first.tracking.number.as_str(),
                ShipDate: ship_date_param(shipment.ship_date, shipment.confirmed_at, tz, created, Utc::now()),
            };
            let url = self.url("api/Orders/ShippingStatus/SinglePackage");
            self.authed("update tracking", Idempotency::Unsafe, |c| c.put(&url).json(&body)).await?;
            info!(connection = %self.connection, order = id, tracking = %first.tracking.number, "Sellercloud order marked shipped.");
        } else if !has_ours {
            warn!(connection = %self.connection, order = id, shipment = %shipment.source, "Order already shipped with other tracking; recording this shipment's tracking as a note.");
        }
        if shipment.packages.len() > 1 || (!write_tracking && !has_ours) {
            let message = tracking_note(shipment);
            let existing = self.notes(id).await?;
            if existing.iter().any(|n| text(&n.Note) == Some(message.as_str())) {
                debug!(connection = %self.connection, order = id, "Tracking note already on the order.");
            } else {
                self.post_note(id, NOTE_GENERAL, &message).await?;
            }
        }
        Ok(())
    }

    /// `PUT /api/Orders/StatusCode` for the one order; the status is a documented name or code.
    async fn push_status(&self, order: &ChannelOrderId, status: &str) -> Result<(), ConnectorError> {
        const OP: &str = "set status";
        let id = require_id(order, OP)?;
        let code = status_code_of(status).ok_or_else(|| {
            rejected(
                OP,
                format!("status {status:?} is not a Sellercloud status name or code (InProcess, Completed, 3, ...)"),
            )
        })?;
        let updated = self.put_ids(OP, "api/Orders/StatusCode", &SetStatus { Orders: &[id], Status: code }).await?;
        if !updated.contains(&id) {
            return Err(rejected(OP, format!("order {id} was not updated to status {code}")));
        }
        Ok(())
    }

    /// The ERP order's customer-service note, as a Customer Service Note (category 2, confirmed
    /// in vendor-apis-erp-out §E.2). Adding is not idempotent, so the order's notes are read
    /// first (`GET /rest/api/orders/notes/{id}`): an add whose reply was lost after Sellercloud
    /// stored it is found there and not repeated. Notes are rare, so the read costs little.
    async fn add_note(&self, order: &ChannelOrderId, note: &str) -> Result<(), ConnectorError> {
        let id = require_id(order, "add note")?;
        let note = note.trim();
        if note.is_empty() {
            return Err(rejected("add note", "note: must not be empty".into()));
        }
        let existing = self.notes(id).await?;
        if existing.iter().any(|n| n.Category == Some(NOTE_CUSTOMER_SERVICE) && text(&n.Note) == Some(note)) {
            debug!(connection = %self.connection, order = id, "Customer service note already on the order.");
            return Ok(());
        }
        self.post_note(id, NOTE_CUSTOMER_SERVICE, note).await
    }
}

#[async_trait]
impl OrderSource for SellercloudClient {
    fn connection(&self) -> &ConnectionId {
        &self.connection
    }

    /// `GET /api/Orders?model.exported=0&...` — list items are summaries, so every order comes
    /// back as a `Reference` and `fetch_order` reads it whole. See [`WalkToken`] for paging.
    async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        let walk = match page {
            None => None,
            Some(t) => Some(WalkToken::decode(t).ok_or_else(|| ConnectorError::Rejected {
                vendor: VENDOR,
                operation: "list orders",
                message: format!("page token {:?} is not one this client issued; clear the connection's cursor", t.0),
            })?),
        };
        let from = walk
            .and_then(|w| DateTime::from_timestamp(w.from, 0))
            .unwrap_or_else(|| Utc::now() - chrono::Duration::days(i64::from(self.config.max_age_days)));
        let mut number = walk.map_or(1, |w| w.page);
        let mut list = self.list_page(number, from).await?;
        if let Some(w) = walk {
            let stepped = w.stepped_back(list.TotalResults.unwrap_or(w.total), self.config.page_size);
            if stepped != number {
                debug!(connection = %self.connection, from_page = number, to_page = stepped, "Queue shrank; stepping back.");
                number = stepped;
                list = self.list_page(number, from).await?;
            }
        }
        let mut orders = Vec::with_capacity(list.Items.len());
        for item in &list.Items {
            let Some(id) = item.ID.and_then(|i| SellercloudOrderId::new(i).ok()) else {
                warn!(connection = %self.connection, "Skipped a listed order without a valid ID.");
                continue;
            };
            let display =
                item.OrderSourceOrderID.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| id.to_string());
            orders.push(ListedOrder::Reference { id: id.channel_order_id(), display_number: display });
        }
        let total = list.TotalResults.unwrap_or_default();
        let full = list.Items.len() as u32 >= self.config.page_size;
        let read_so_far = i64::from(number) * i64::from(self.config.page_size);
        let next = (full && read_so_far < total)
            .then(|| WalkToken { page: number + 1, total, from: from.timestamp() }.encode());
        Ok(OrderPage { orders, next, restart: None })
    }

    /// `GET /api/Orders` with `model.createdOnFrom`/`createdOnTo` (the window, in the account's
    /// time zone, to the minute: the start rounded down, the end up, so the window is covered;
    /// an order a minute outside is harmless, the backfill skips bound orders), the connection's
    /// companies, statuses and dropship statuses, without `model.exported` (exported orders too)
    /// and without the age window. Paged by number (`w1:{page}`): nothing leaves this listing
    /// while it is read, so pages do not shift.
    async fn list_orders_created(
        &self,
        window: &CreatedWindow,
        page: Option<&PageToken>,
    ) -> Result<OrderPage, ConnectorError> {
        const OP: &str = "list orders by creation date";
        let number =
            match page {
                None => 1,
                Some(t) => t.0.strip_prefix("w1:").and_then(|n| n.parse::<u32>().ok()).filter(|n| *n >= 1).ok_or_else(
                    || rejected(OP, format!("page token {:?} is not one this client issued for a backfill", t.0)),
                )?,
            };
        let minute = chrono::Duration::minutes(1);
        let floor = |t: DateTime<Utc>| t - chrono::Duration::seconds(i64::from(t.timestamp().rem_euclid(60) as u32));
        let from = floor(window.from);
        let to = if floor(window.to) == window.to { window.to } else { floor(window.to) + minute };
        let url = self.url("api/Orders");
        let mut query: Vec<(&str, String)> = vec![
            ("model.pageSize", self.config.page_size.to_string()),
            ("model.pageNumber", number.to_string()),
            ("model.createdOnFrom", utc_to_local_param(from, self.config.tz())),
            ("model.createdOnTo", utc_to_local_param(to, self.config.tz())),
        ];
        self.push_filters(&mut query);
        let list: OrderList =
            self.authed(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;
        let mut orders = Vec::with_capacity(list.Items.len());
        for item in &list.Items {
            let Some(id) = item.ID.and_then(|i| SellercloudOrderId::new(i).ok()) else { continue };
            let display =
                item.OrderSourceOrderID.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| id.to_string());
            orders.push(ListedOrder::Reference { id: id.channel_order_id(), display_number: display });
        }
        let full = list.Items.len() as u32 >= self.config.page_size;
        let read_so_far = i64::from(number) * i64::from(self.config.page_size);
        let next = (full && read_so_far < list.TotalResults.unwrap_or(i64::MAX))
            .then(|| PageToken(format!("w1:{}", number + 1)));
        Ok(OrderPage { orders, next, restart: None })
    }

    /// `GET /api/Orders/{id}` (+ its notes for customer instructions), mapped to the canonical order.
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        let raw = sellercloud_id(id).ok_or_else(|| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: "get order",
            message: format!("{id} is not a Sellercloud order"),
        })?;
        let wire = self.get_order(raw).await?;
        let instructions =
            if self.config.read_customer_instructions { self.customer_instructions(raw).await? } else { None };
        // The order was read but can never become a canonical order: its permanent failure.
        to_order(&wire, &self.connection, &self.config, instructions).map_err(|message| ConnectorError::Unmappable {
            vendor: VENDOR,
            operation: "get order",
            detail: message,
        })
    }

    /// Imported orders: one `PUT /api/Orders/SetExported` for all (ids missing from the response
    /// are returned), then a General note on each naming its ERP order. Failed orders: a General note with the reason each, then (if
    /// `failed_status` is set) one `PUT /api/Orders/StatusCode`; they stay not exported, so they
    /// are listed again once the cause is fixed.
    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        let mut missed = Vec::new();
        let mut imported = Vec::new();
        let mut failed = Vec::new();
        let mut erp_numbers = Vec::new();
        for ack in acks {
            let (order, target) = match ack {
                Acknowledgement::Imported { order, erp, remark, .. } => {
                    if let Some(id) = sellercloud_id(order) {
                        let remark = remark.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
                        erp_numbers.push((id, format!("{erp} by Orderbridge.{remark}")));
                    }
                    (order, &mut imported)
                }
                Acknowledgement::Failed { order, reason } => {
                    let Some(id) = sellercloud_id(order) else {
                        missed.push(order.clone());
                        continue;
                    };
                    failed.push((id, reason.as_str()));
                    continue;
                }
            };
            match sellercloud_id(order) {
                Some(id) => target.push(id),
                None => missed.push(order.clone()),
            }
        }
        if !imported.is_empty() {
            let updated = self
                .put_ids("set exported", "api/Orders/SetExported", &SetExported { Orders: &imported, Exported: true })
                .await?;
            for id in imported.iter().filter(|id| !updated.contains(id)) {
                missed.extend(SellercloudOrderId::new(*id).ok().map(SellercloudOrderId::channel_order_id));
            }
            info!(connection = %self.connection, sent = imported.len(), updated = updated.len(), "Orders marked exported in Sellercloud.");
            // The ERP order number on the Sellercloud order, where staff look (a General note):
            // a missing note is logged, not retried (the order is exported either way).
            let noted = erp_numbers.iter().filter(|_| self.config.erp_number_note);
            for (id, erp) in noted.filter(|(id, _)| updated.contains(id)) {
                let note = format!("Imported into the ERP as {erp}");
                if let Err(e) = self.post_note(*id, NOTE_GENERAL, &note).await {
                    warn!(connection = %self.connection, order = id, error = %e, "Could not add the ERP order number note.");
                }
            }
        }
        let mut noted = Vec::new();
        for (id, reason) in &failed {
            let message = format!("Orderbridge could not import this order: {reason}");
            match self.post_note(*id, NOTE_GENERAL, &message).await {
                Ok(()) => noted.push(*id),
                Err(e) => {
                    warn!(connection = %self.connection, order = id, error = %e, "Could not add the import-failure note.");
                    missed.extend(SellercloudOrderId::new(*id).ok().map(SellercloudOrderId::channel_order_id));
                }
            }
        }
        if let (Some(code), false) = (self.config.failed_status.as_deref().and_then(status_code), noted.is_empty()) {
            let updated = self
                .put_ids("set status", "api/Orders/StatusCode", &SetStatus { Orders: &noted, Status: code })
                .await?;
            for id in noted.iter().filter(|id| !updated.contains(id)) {
                missed.extend(SellercloudOrderId::new(*id).ok().map(SellercloudOrderId::channel_order_id));
            }
        }
        Ok(missed)
    }
}

#[async_trait]
impl ChargeSource for SellercloudClient {
    /// `POST /api/Orders/ProfitAndLoss` `{"Orders": [ids]}` (vendor-apis-erp-out §E.1; the method
    /// is not stated there, POST is assumed). A read, so it is retried like one. Rows that cannot
    /// be read fail the call with the order and field named.
    async fn order_charges(&self, orders: &[ChannelOrderId]) -> Result<Vec<OrderCharges>, ConnectorError> {
        const OP: &str = "get profit and loss";
        let Some(settings) = &self.config.profit_and_loss else {
            return Err(rejected(OP, "profit_and_loss is not configured for this connection".into()));
        };
        let ids: Vec<i64> = orders.iter().map(|o| require_id(o, OP)).collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > super::config::PNL_MAX_ORDERS {
            return Err(rejected(
                OP,
                format!("{} orders in one request; at most {}", ids.len(), super::config::PNL_MAX_ORDERS),
            ));
        }
        let charges: Vec<String> = settings.fields.keys().filter_map(|n| super::config::charge_name(n)).collect();
        let url = self.url("api/Orders/ProfitAndLoss");
        let body = ProfitAndLossRequest { Orders: &ids };
        let reply = self.authed(OP, Idempotency::Safe, |c| c.post(&url).json(&body)).await?;
        let rows: Vec<serde_json::Value> = reply.json(VENDOR, OP)?;
        let tz = self.config.tz();
        rows.iter()
            .map(|row| charges_from_wire(row, &charges, tz))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| ConnectorError::Unmappable { vendor: VENDOR, operation: OP, detail })
    }
}

/// Test connection: a fresh `POST /api/token` with the configured username and password (the
/// sign-in is the authentication; a refusal comes back in Sellercloud's words).
#[async_trait]
impl crate::ports::Probe for SellercloudClient {
    fn probe_call(&self) -> &'static str {
        "POST /api/token"
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.sign_in().await.map(|_| ())
    }
}

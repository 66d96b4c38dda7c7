//! [`BigCommerceClient`]: a sales channel (`OrderSource`) over BigCommerce's v2 Orders API.
//!
//! Listing asks for each order's consignments and their lines
//! (`include=consignments.line_items&consignment_structure=object`), so a listed order arrives
//! whole; a store that answers without them costs `/products` and `/shipping_addresses` per order
//! at import instead.
//!
//! Calls per operation: `list_new_orders` 1 per page, `fetch_order` and `fetch_announced` 1 (3
//! without the embedded lines), `acknowledge` 1 per imported order (v2 has no bulk update; 2 for a
//! failure, whose reason is added to the staff notes). `push_shipment` 3 reads (products, shipping
//! addresses, existing shipments; +1 per further 250 products) + 1 `POST …/shipments` per package
//! not yet on the order; `push_status` 1; `add_note` 2 (read the notes, write them back). Order
//! webhooks: `register` 1 list + 1 per hook created or changed, `reactivate` 1 list + 1 per hook.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tracing::{debug, info, warn};

use super::config::BigCommerceConfig;
use super::mapper::{allocate, embedded, error_message, pause_hint, provider_codes, reset_after, to_order, unshipped};
use super::wire::{AddressWire, NewShipment, NotesUpdate, OrderWire, ProductWire, ShipmentWire, StatusUpdate};
use super::BigCommerceOrderId;
use super::VENDOR;
use crate::connectors::{ConnectorError, SetupError};
use crate::http::{join_url, BuildRequest, Idempotency, Reply, VendorHttp, VendorProfile};
use crate::model::{ChannelOrderId, ConnectionId, Order, Shipment};
use crate::ports::{
    Acknowledgement, AnnouncedOrder, CreatedWindow, ListedOrder, OrderPage, OrderSource, PageToken, StatusPublisher,
};

fn rate_hint(status: StatusCode, headers: &HeaderMap, _: &[u8]) -> Option<Duration> {
    (status == StatusCode::TOO_MANY_REQUESTS).then(|| reset_after(headers)).flatten()
}

fn never(_: StatusCode, _: &[u8]) -> bool {
    false
}

const PROFILE: VendorProfile = VendorProfile { name: VENDOR, error_message, rate_hint, pause_hint, rejects: never };

/// The BigCommerce client of one store connection. Build once per container and share.
pub struct BigCommerceClient {
    pub(super) connection: ConnectionId,
    pub(super) config: BigCommerceConfig,
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
        let http = VendorHttp::new(PROFILE, connection.as_str(), config.transport())?;
        Ok(Self { connection, config, http })
    }

    pub(super) async fn call(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        build: impl BuildRequest,
    ) -> Result<Reply, ConnectorError> {
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

    /// `GET /v2/orders/{id}/products`, every page.
    async fn products(&self, id: i64) -> Result<Vec<ProductWire>, ConnectorError> {
        let mut products: Vec<ProductWire> = Vec::new();
        for page in 1.. {
            let query = [("page", page.to_string()), ("limit", "250".to_owned())];
            let batch: Vec<ProductWire> =
                self.list("get order products", &format!("v2/orders/{id}/products"), &query).await?;
            let done = batch.len() < 250;
            products.extend(batch);
            if done {
                break;
            }
        }
        Ok(products)
    }

    /// `GET /v2/orders/{id}` with its consignments and their lines (one call), and the raw id.
    async fn order_wire(&self, id: &ChannelOrderId) -> Result<(OrderWire, i64), ConnectorError> {
        let raw = bigcommerce_id(id).ok_or_else(|| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: "get order",
            message: format!("{id} is not a BigCommerce order"),
        })?;
        let url = join_url(&self.config.base_url, &format!("v2/orders/{raw}"));
        let query = [INCLUDE, STRUCTURE];
        let order: OrderWire = self
            .call("get order", Idempotency::Safe, |c| c.get(&url).query(&query))
            .await?
            .json(VENDOR, "get order")?;
        Ok((order, raw))
    }

    /// The canonical order of a read order: its embedded lines and addresses, or (a store that
    /// answered without them) `/products` (all pages) and `/shipping_addresses`.
    async fn complete(&self, order: &OrderWire, raw: i64) -> Result<Order, ConnectorError> {
        let (products, addresses) = match embedded(order) {
            Some(parts) => parts,
            None => {
                let products = self.products(raw).await?;
                let addresses: Vec<AddressWire> =
                    self.list("get shipping addresses", &format!("v2/orders/{raw}/shipping_addresses"), &[]).await?;
                (products, addresses)
            }
        };
        to_order(order, &products, &addresses, &self.connection, &self.config.store_source_name)
            // The order was read but can never become a canonical order: its permanent failure.
            .map_err(|detail| ConnectorError::Unmappable { vendor: VENDOR, operation: "get order", detail })
    }

    /// `GET /v2/orders/{id}`: its staff notes.
    async fn staff_notes(&self, id: i64) -> Result<Option<String>, ConnectorError> {
        let url = join_url(&self.config.base_url, &format!("v2/orders/{id}"));
        self.call("get order", Idempotency::Safe, |c| c.get(&url))
            .await?
            .json::<OrderWire>(VENDOR, "get order")
            .map(|o| o.staff_notes)
    }

    async fn set_status(&self, id: i64, status_id: i64, staff_notes: Option<&str>) -> Result<(), ConnectorError> {
        let url = join_url(&self.config.base_url, &format!("v2/orders/{id}"));
        let body = StatusUpdate { status_id, staff_notes };
        self.call("update order status", Idempotency::Safe, |c| c.put(&url).json(&body)).await.map(|_| ())
    }
}

/// The lines Orderbridge writes into `staff_notes`; an earlier one is replaced, never repeated.
const OUR_LINES: [&str; 2] = ["Imported to the ERP as ", "Orderbridge could not import this order: "];

/// The staff's notes with Orderbridge's current line last (its earlier lines removed).
pub(super) fn with_orderbridge_line(existing: Option<&str>, line: &str) -> String {
    let mut lines: Vec<&str> = existing
        .unwrap_or_default()
        .lines()
        .filter(|l| !OUR_LINES.iter().any(|ours| l.trim_start().starts_with(ours)))
        .collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.push(line);
    lines.join("\n")
}

/// Asked on every order read: the order's lines and shipping addresses come in the same
/// response (§3.2; vendor-apis-erp-out.md confirms the form on the list and on one order).
const INCLUDE: (&str, &str) = ("include", "consignments.line_items");
const STRUCTURE: (&str, &str) = ("consignment_structure", "object");
/// The largest order listed whole (its canonical JSON); larger ones are listed by reference.
const WHOLE_ORDER_BYTES: usize = 64 * 1024;

impl BigCommerceClient {
    /// A listed order whole, when its consignments carry every line and it maps; otherwise its
    /// reference, and the import reads it (and records why it cannot be imported, if so).
    fn listed(&self, order: &OrderWire, id: BigCommerceOrderId) -> ListedOrder {
        let whole = embedded(order).and_then(|(products, addresses)| {
            to_order(order, &products, &addresses, &self.connection, &self.config.store_source_name).ok()
        });
        // A very large order travels by reference: the queue message stays far below SQS's
        // limits and the import reads it (one call).
        let fits = |order: &Order| serde_json::to_vec(order).is_ok_and(|bytes| bytes.len() <= WHOLE_ORDER_BYTES);
        match whole.filter(fits) {
            Some(order) => ListedOrder::Whole(Box::new(order)),
            None => ListedOrder::Reference { id: id.channel_order_id(), display_number: id.to_string() },
        }
    }
}

fn bigcommerce_id(id: &ChannelOrderId) -> Option<i64> {
    BigCommerceOrderId::of(id).map(BigCommerceOrderId::get)
}

fn rejected(operation: &'static str, message: String) -> ConnectorError {
    ConnectorError::Rejected { vendor: VENDOR, operation, message }
}

fn require_id(id: &ChannelOrderId, operation: &'static str) -> Result<i64, ConnectorError> {
    bigcommerce_id(id).ok_or_else(|| rejected(operation, format!("{id} is not a BigCommerce order")))
}

/// Shipments, statuses and notes back to BigCommerce.
///
/// **One BigCommerce shipment per package**, with that package's tracking number and items, so
/// the customer sees which box holds what. Partial shipments are native (§6.2): BigCommerce
/// moves the order to Partially Shipped or Shipped by itself.
///
/// **Retries.** Before posting, the order's shipments are read and a package whose tracking
/// number is already on one is skipped; the quantities of the others are capped at what is
/// still unshipped (`quantity − quantity_shipped`), so a repeated push creates nothing and can
/// never ship more than the order has. Everything is checked before the first write (unknown
/// SKU, fractional quantity, package without items, no address), so a bad shipment posts
/// nothing. Posts are `Unsafe`: a lost response is left to the caller's retry, which then finds
/// the shipment by its tracking number.
#[async_trait]
impl StatusPublisher for BigCommerceClient {
    async fn push_shipment(&self, order: &ChannelOrderId, shipment: &Shipment) -> Result<(), ConnectorError> {
        const OP: &str = "push shipment";
        let id = require_id(order, OP)?;
        if shipment.packages.is_empty() {
            return Err(rejected(OP, format!("shipment {}: packages: none to push", shipment.source)));
        }
        // Every BigCommerce shipment needs its items; the split of items over packages must come
        // from the source, guessing it would misstate what is in each box.
        if let Some(p) = shipment.packages.iter().find(|p| p.items.is_empty()) {
            return Err(rejected(
                OP,
                format!(
                    "shipment {} package {}: items: none listed, and a BigCommerce shipment needs its items",
                    shipment.source, p.package_id
                ),
            ));
        }
        let products = self.products(id).await?;
        let addresses: Vec<AddressWire> =
            self.list("get shipping addresses", &format!("v2/orders/{id}/shipping_addresses"), &[]).await?;
        let existing: Vec<ShipmentWire> =
            self.list("list shipments", &format!("v2/orders/{id}/shipments"), &[("limit", "250".to_owned())]).await?;
        let posted: BTreeSet<String> =
            existing.iter().filter_map(|s| s.tracking_number.as_deref()).map(|t| t.trim().to_owned()).collect();
        let default_address = addresses.iter().find_map(|a| a.id);
        let mut lines = unshipped(&products);

        let mut planned = Vec::new();
        for package in &shipment.packages {
            let number = package.tracking.number.as_str();
            if posted.contains(number) {
                debug!(connection = %self.connection, order = id, tracking = number, "Package already on the order; skipped.");
                continue;
            }
            let allocation = allocate(&package.items, &mut lines).map_err(|m| {
                rejected(OP, format!("shipment {} package {}: {m}", shipment.source, package.package_id))
            })?;
            if !allocation.capped.is_empty() {
                warn!(connection = %self.connection, order = id, tracking = number, capped = ?allocation.capped, "Shipped short: the order has less left to ship.");
            }
            if allocation.is_empty() {
                warn!(connection = %self.connection, order = id, tracking = number, "Nothing left to ship for this package; not posted.");
                continue;
            }
            for (address, items) in allocation.by_address {
                let address = address.or(default_address).ok_or_else(|| {
                    rejected(OP, format!("order {id}: order_address_id: the order has no shipping address"))
                })?;
                planned.push((package, address, items));
            }
        }

        for (package, address, items) in planned {
            let t = &package.tracking;
            let carrier = t.carrier.trim();
            let codes = provider_codes(carrier);
            let mut comments = format!("Shipment {} package {}", shipment.source, package.package_id);
            if codes.is_none() && !carrier.is_empty() {
                // No BigCommerce provider: the carrier still reaches staff and the customer.
                comments.push_str(&format!(", carrier {carrier}"));
            }
            let (provider, tracking_carrier) = codes.unwrap_or(("", ""));
            let body = NewShipment {
                order_address_id: address,
                tracking_number: t.number.as_str(),
                shipping_method: [Some(carrier), t.service.as_deref().map(str::trim)]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                shipping_provider: provider,
                tracking_carrier,
                tracking_link: t.url.as_deref().map(str::trim).filter(|u| !u.is_empty()),
                comments,
                items,
            };
            let url = join_url(&self.config.base_url, &format!("v2/orders/{id}/shipments"));
            self.call("create shipment", Idempotency::Unsafe, |c| c.post(&url).json(&body)).await?;
            info!(connection = %self.connection, order = id, tracking = %t.number, "BigCommerce shipment created.");
        }
        Ok(())
    }

    /// `PUT /v2/orders/{id}` `{"status_id": n}`; the status is the numeric id (0-14, §3.0).
    async fn push_status(&self, order: &ChannelOrderId, status: &str) -> Result<(), ConnectorError> {
        const OP: &str = "update order status";
        let id = require_id(order, OP)?;
        let status_id = status.trim().parse::<i64>().ok().filter(|n| (0..=14).contains(n)).ok_or_else(|| {
            rejected(OP, format!("status {status:?} is not a BigCommerce status id (0-14, e.g. 2 = Shipped)"))
        })?;
        self.set_status(id, status_id, None).await
    }

    /// Appends a line to `staff_notes` (read, then written back whole). A note the notes already
    /// end with is not appended again, so a retried call does not double it.
    async fn add_note(&self, order: &ChannelOrderId, note: &str) -> Result<(), ConnectorError> {
        const OP: &str = "add note";
        let id = require_id(order, OP)?;
        let note = note.trim();
        if note.is_empty() {
            return Err(rejected(OP, "note: must not be empty".into()));
        }
        let url = join_url(&self.config.base_url, &format!("v2/orders/{id}"));
        let current: OrderWire =
            self.call("get order", Idempotency::Safe, |c| c.get(&url)).await?.json(VENDOR, "get order")?;
        let existing = current.staff_notes.as_deref().unwrap_or("").trim_end();
        if existing == note || existing.ends_with(&format!("\n{note}")) {
            debug!(connection = %self.connection, order = id, "Note already the last staff note.");
            return Ok(());
        }
        let text = if existing.is_empty() { note.to_owned() } else { format!("{existing}\n{note}") };
        // Setting the whole text is idempotent, so it may be retried.
        self.call(OP, Idempotency::Safe, |c| c.put(&url).json(&NotesUpdate { staff_notes: &text })).await.map(|_| ())
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
            (INCLUDE.0, INCLUDE.1.to_owned()),
            (STRUCTURE.0, STRUCTURE.1.to_owned()),
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
            orders.push(self.listed(o, id));
        }
        let full = listed.len() as u32 >= self.config.page_size;
        let next = max_id.filter(|_| full).map(|m| PageToken((m + 1).to_string()));
        Ok(OrderPage { orders, next, restart: None })
    }

    /// `GET /v2/orders?min_date_created={from}&max_date_created={to − 1 s}&sort=id:asc&min_id=…`
    /// (BigCommerce's bounds are inclusive, to the second), every status but Incomplete (0, an
    /// abandoned checkout, never an order to import). Keyset paging on `min_id` as the listing
    /// of new orders does.
    async fn list_orders_created(
        &self,
        window: &CreatedWindow,
        page: Option<&PageToken>,
    ) -> Result<OrderPage, ConnectorError> {
        const OP: &str = "list orders by creation date";
        let min_id = match page {
            None => 1,
            Some(t) => t.0.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                rejected(OP, format!("page token {:?} is not one this client issued for a backfill", t.0))
            })?,
        };
        let iso = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let query = [
            ("min_date_created", iso(window.from)),
            ("max_date_created", iso(window.to - chrono::Duration::seconds(1))),
            ("sort", "id:asc".to_owned()),
            ("min_id", min_id.to_string()),
            ("page", "1".to_owned()),
            ("limit", self.config.page_size.to_string()),
            (INCLUDE.0, INCLUDE.1.to_owned()),
            (STRUCTURE.0, STRUCTURE.1.to_owned()),
        ];
        let listed: Vec<OrderWire> = self.list(OP, "v2/orders", &query).await?;
        let mut orders = Vec::with_capacity(listed.len());
        let mut max_id = None;
        for o in &listed {
            let Some(id) = o.id.and_then(|i| BigCommerceOrderId::new(i).ok()) else { continue };
            max_id = max_id.max(Some(id.get()));
            if o.status_id == Some(0) {
                continue;
            }
            orders.push(self.listed(o, id));
        }
        let full = listed.len() as u32 >= self.config.page_size;
        let next = max_id.filter(|_| full).map(|m| PageToken((m + 1).to_string()));
        Ok(OrderPage { orders, next, restart: None })
    }

    /// `GET /v2/orders/{id}` with its consignments and their lines: one call. A store that
    /// answers without them costs `/products` (all pages) and `/shipping_addresses` besides.
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        let (wire, raw) = self.order_wire(id).await?;
        self.complete(&wire, raw).await
    }

    /// One read, then the status check: only an order in `new_status_id` (what the pull lists)
    /// is imported; an incomplete checkout (status 0) or one already moved on is left alone.
    async fn fetch_announced(&self, id: &ChannelOrderId) -> Result<AnnouncedOrder, ConnectorError> {
        let (wire, raw) = self.order_wire(id).await?;
        match wire.status_id {
            Some(status) if status == self.config.new_status_id => {
                self.complete(&wire, raw).await.map(|order| AnnouncedOrder::Waiting(Box::new(order)))
            }
            status => Ok(AnnouncedOrder::NotWaiting {
                status: wire.status.clone().unwrap_or_else(|| status.map_or_else(|| "none".into(), |s| s.to_string())),
            }),
        }
    }

    /// Status only for an import (`PUT /v2/orders/{id}` `{"status_id": downloaded}`, one call:
    /// the ERP order number is in the connector log, so the staff's notes are not touched);
    /// for a failure, or an import with a remark, `GET` the staff notes first and `PUT` them
    /// back with Orderbridge's line replaced (`staff_notes` is one field the PUT overwrites).
    /// Orders whose update failed are returned.
    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        let mut missed = Vec::new();
        let mut done = 0usize;
        for ack in acks {
            let (order, status, notes) = match ack {
                Acknowledgement::Imported { order, remark: None, .. } => {
                    (order, self.config.downloaded_status_id, None)
                }
                Acknowledgement::Imported { order, erp, remark: Some(remark), .. } => {
                    (order, self.config.downloaded_status_id, Some(format!("Imported to the ERP as {erp}. {remark}")))
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
            let notes = match notes {
                None => None,
                Some(line) => match self.staff_notes(id).await {
                    Ok(current) => Some(with_orderbridge_line(current.as_deref(), &line)),
                    Err(e) => {
                        warn!(connection = %self.connection, order = id, error = %e, "Could not read the order's staff notes.");
                        missed.push(order.clone());
                        continue;
                    }
                },
            };
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
/// Test connection: `GET /v2/orders/count` with the store's `X-Auth-Token` (one small read that
/// needs the orders scope the connection uses).
#[async_trait]
impl crate::ports::Probe for BigCommerceClient {
    fn probe_call(&self) -> &'static str {
        "GET /v2/orders/count"
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let url = join_url(&self.config.base_url, "v2/orders/count");
        self.call("test connection", Idempotency::Safe, |c| c.get(&url)).await.map(|_| ())
    }
}

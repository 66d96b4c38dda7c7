//! [`MagentoClient`]: shipments, statuses and notes back to Magento orders (`StatusPublisher`),
//! and ERP-originated orders created in the store (`OrderPublisher`, direct route `POST /V1/orders`).
//!
//! Calls: `push_shipment` 2 reads (the order; its shipments and their tracks) + 1 `/ship` per
//! package not yet on the order; `push_status` 1 read of the order + 0 (already there), 1
//! (`/hold`, `/cancel`, `/unhold` back to the status before the hold, or a comment) or 2 (`/unhold`
//! then `/cancel` or a comment); `add_note` 2 (read the status, then comment).
//! ERP-originated orders: `find_by_erp_number` 1, `find_customer` 1, `create_customer` 1 (+1 search
//! when Magento refuses it because the e-mail exists), `unknown_skus` ⌈SKUs / 20⌉, `create_order` 1
//! (never repeated after an ambiguous failure), `create_invoice` 1 read of the order + 0 (all
//! invoiced already) or 1 `/invoice`.
//! With admin credentials, a new container or an expired token adds one
//! `POST /V1/integration/admin/token`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tracing::{debug, info, warn};

use super::config::{Credentials, MagentoConfig};
use super::mapper::{
    customer_body, error_message, invoice_items, invoice_request, order_body, ship_items, ship_track, shippable,
    status_steps, storefront_customer, StatusStep,
};
use super::wire::{
    CommentRequest, CustomerSearch, CustomerWire, OrderRefSearch, OrderRefWire, OrderWire, ProductSearch, ShipRequest,
    ShipmentSearch, StatusHistory,
};
use super::{MagentoOrderId, VENDOR};
use crate::connectors::{ConnectorError, SetupError};
use crate::http::{
    join_url, BuildRequest, Credential, Idempotency, Reply, SecondRefusal, Session, VendorHttp, VendorProfile,
};
use crate::model::{
    Address, ChannelOrderDraft, ChannelOrderId, ConnectionId, Customer, PublishedOrder, Shipment, StorefrontCustomer,
};
use crate::ports::{OrderPublisher, StatusPublisher};

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

pub(super) fn rejected(operation: &'static str, message: String) -> ConnectorError {
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

/// `searchCriteria` with each filter in its own group (all must hold), plus extra parameters.
pub(super) fn search_query(filters: &[(&str, &str, &str)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut query = Vec::new();
    for (g, (field, condition, value)) in filters.iter().enumerate() {
        let at = format!("searchCriteria[filter_groups][{g}][filters][0]");
        query.push((format!("{at}[field]"), (*field).to_owned()));
        query.push((format!("{at}[value]"), (*value).to_owned()));
        query.push((format!("{at}[condition_type]"), (*condition).to_owned()));
    }
    query.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    query
}

/// Magento's SKU search chunk: the store's Web API input limit is 20 when switched on (A.4).
const SKU_CHUNK: usize = 20;

fn published(operation: &'static str, wire: &OrderRefWire) -> Result<PublishedOrder, ConnectorError> {
    let decode = |detail: String| ConnectorError::Decode { vendor: VENDOR, operation, detail };
    let id = wire.entity_id.ok_or_else(|| decode("order without entity_id".into()))?;
    let id = MagentoOrderId::new(id).map_err(|e| decode(e.to_string()))?;
    Ok(PublishedOrder {
        id: id.channel_order_id(),
        display_number: wire.increment_id.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| id.to_string()),
    })
}

impl MagentoClient {
    pub fn new(connection: ConnectionId, config: MagentoConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let credentials =
            config.credentials().map_err(|problem| crate::connectors::InvalidConfig { vendor: VENDOR, problem })?;
        let http = VendorHttp::new(PROFILE, connection.as_str(), config.transport())?;
        Ok(Self { connection, config, credentials, http, admin_token: Session::new(SecondRefusal::Unauthorized) })
    }

    pub(super) fn config(&self) -> &MagentoConfig {
        &self.config
    }

    pub fn connection(&self) -> &ConnectionId {
        &self.connection
    }

    pub(super) fn url(&self, path: &str) -> String {
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
    pub(super) async fn call(
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

    /// `POST orders/{id}/{action}` (`hold`, `unhold`, `cancel`): Magento answers `true`, or
    /// `false` when the order does not allow it (a complete order cannot be canceled).
    async fn order_action(&self, id: i64, action: &'static str, operation: &'static str) -> Result<(), ConnectorError> {
        let url = self.url(&format!("orders/{id}/{action}"));
        let reply = self.call(operation, Idempotency::Unsafe, |c| c.post(&url)).await?;
        match reply.json::<serde_json::Value>(VENDOR, operation) {
            Ok(serde_json::Value::Bool(false)) => {
                Err(rejected(operation, format!("order {id}: Magento did not allow {action} in its current state")))
            }
            _ => Ok(()),
        }
    }

    async fn search_customers(&self, email: &str) -> Result<Option<StorefrontCustomer>, ConnectorError> {
        const OP: &str = "find customer";
        let email = email.trim();
        if email.is_empty() {
            return Ok(None);
        }
        let url = self.url("customers/search");
        let website = self.config.website_id.to_string();
        let query = search_query(&[("email", "eq", email), ("website_id", "eq", &website)], &[]);
        let found: CustomerSearch =
            self.call(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;
        Ok(found
            .items
            .iter()
            .filter(|c| c.email.as_deref().is_some_and(|e| e.trim().eq_ignore_ascii_case(email)))
            .filter(|c| c.website_id.is_none_or(|w| w == self.config.website_id))
            .find_map(storefront_customer))
    }

    pub(super) async fn comment(&self, id: i64, comment: &str, status: &str) -> Result<(), ConnectorError> {
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
        let order = self.order(id).await?;
        let steps = status_steps(&order, status);
        if steps.is_empty() {
            debug!(connection = %self.connection, order = id, status, "The order has this status already.");
        }
        for step in steps {
            match step {
                StatusStep::Hold => self.order_action(id, "hold", "hold order").await?,
                StatusStep::Unhold => self.order_action(id, "unhold", "unhold order").await?,
                StatusStep::Cancel => self.order_action(id, "cancel", "cancel order").await?,
                StatusStep::Comment => {
                    warn!(connection = %self.connection, order = id, status,
                        "Setting a custom status with a comment; Magento 2.4.7 and later may keep the old status.");
                    self.comment(id, &format!("Status {status} from the ERP (Orderbridge)."), status).await?
                }
            }
        }
        info!(connection = %self.connection, order = id, status, "Magento status pushed.");
        Ok(())
    }

    async fn add_note(&self, order: &ChannelOrderId, note: &str) -> Result<(), ConnectorError> {
        const OP: &str = "add note";
        let id = require_id(order, OP)?;
        if note.trim().is_empty() {
            return Err(rejected(OP, "note: must not be empty".into()));
        }
        let current = self.order(id).await?;
        // Look before adding: a comment whose reply was lost is on the order already, and a
        // repeat would show the note twice.
        if current.status_histories.iter().any(|h| h.comment.as_deref().map(str::trim) == Some(note.trim())) {
            debug!(connection = %self.connection, order = id, "Note already among the order's comments.");
            return Ok(());
        }
        // The comment endpoint sets the status it is given: keep the current one.
        self.comment(id, note.trim(), &current.status.unwrap_or_default()).await
    }
}

/// ERP-originated orders on the direct route (A.1.1): Magento stores the ERP's prices and totals
/// as sent. Look before you create: the flow calls [`OrderPublisher::find_by_erp_number`] first,
/// and `create_order` is never repeated by the HTTP layer after an ambiguous failure.
#[async_trait]
impl OrderPublisher for MagentoClient {
    /// `GET orders?searchCriteria` `ext_order_id eq <erp_number>`,
    /// `fields=items[entity_id,increment_id,ext_order_id]`.
    async fn find_by_erp_number(&self, erp_number: &str) -> Result<Option<PublishedOrder>, ConnectorError> {
        const OP: &str = "find order by ERP number";
        let number = erp_number.trim();
        if number.is_empty() {
            return Ok(None);
        }
        let url = self.url("orders");
        let query = search_query(
            &[("ext_order_id", "eq", number)],
            &[("fields", "items[entity_id,increment_id,ext_order_id]")],
        );
        let found: OrderRefSearch =
            self.call(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;
        // A store that ignored the filter would list other orders: only an exact match counts.
        let mut matches = found.items.iter().filter(|o| o.ext_order_id.as_deref().map(str::trim) == Some(number));
        let Some(first) = matches.next() else { return Ok(None) };
        if matches.next().is_some() {
            warn!(connection = %self.connection, erp_number = number, "Several Magento orders carry this ERP number; using the first.");
        }
        published(OP, first).map(Some)
    }

    /// `GET customers/search` with `email eq` and `website_id eq` the configured website.
    async fn find_customer(&self, email: &str) -> Result<Option<StorefrontCustomer>, ConnectorError> {
        self.search_customers(email).await
    }

    /// `POST customers` with the default billing and shipping address, no password (Magento
    /// e-mails the customer to set one). Refused because the e-mail exists (a lost answer of an
    /// earlier attempt), the existing customer is returned.
    async fn create_customer(
        &self,
        customer: &Customer,
        address: &Address,
    ) -> Result<StorefrontCustomer, ConnectorError> {
        const OP: &str = "create customer";
        let body = customer_body(customer, address, self.config.website_id).map_err(|m| rejected(OP, m))?;
        let url = self.url("customers");
        match self.call(OP, Idempotency::Unsafe, |c| c.post(&url).json(&body)).await {
            Ok(reply) => {
                let created: CustomerWire = reply.json(VENDOR, OP)?;
                let made = storefront_customer(&created).ok_or_else(|| ConnectorError::Decode {
                    vendor: VENDOR,
                    operation: OP,
                    detail: "the created customer has no id or email".into(),
                })?;
                info!(connection = %self.connection, customer = ?made.id, "Magento customer created.");
                Ok(made)
            }
            Err(ConnectorError::Status { status: 400, message, .. }) => {
                match self.search_customers(&body.customer.email).await? {
                    Some(existing) => Ok(existing),
                    None => Err(rejected(OP, message)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `GET products?searchCriteria` `sku in <up to 20>` per chunk (`fields=items[sku]`); SKUs
    /// compare ignoring case. A SKU containing a comma cannot be in an `in` list and is asked
    /// for alone (`eq`).
    async fn unknown_skus(&self, skus: &[String]) -> Result<Vec<String>, ConnectorError> {
        const OP: &str = "find products";
        let mut wanted: Vec<&str> = Vec::new();
        for sku in skus.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if !wanted.iter().any(|w| w.eq_ignore_ascii_case(sku)) {
                wanted.push(sku);
            }
        }
        let (lists, alone): (Vec<&str>, Vec<&str>) = wanted.iter().partition(|s| !s.contains(','));
        let mut queries: Vec<(String, &str)> = lists.chunks(SKU_CHUNK).map(|c| (c.join(","), "in")).collect();
        queries.extend(alone.iter().map(|s| ((*s).to_owned(), "eq")));
        let url = self.url("products");
        let mut known: Vec<String> = Vec::new();
        for (value, condition) in &queries {
            let size = SKU_CHUNK.to_string();
            let query = search_query(
                &[("sku", condition, value)],
                &[("searchCriteria[pageSize]", size.as_str()), ("fields", "items[sku]")],
            );
            let found: ProductSearch =
                self.call(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;
            known.extend(found.items.into_iter().filter_map(|p| p.sku));
        }
        Ok(wanted
            .into_iter()
            .filter(|w| !known.iter().any(|k| k.trim().eq_ignore_ascii_case(w)))
            .map(str::to_owned)
            .collect())
    }

    /// `POST orders` `{"entity": …}` (the direct route), `Idempotency::Unsafe`: after an
    /// ambiguous failure the flow looks the order up by its ERP number before creating again.
    async fn create_order(&self, draft: &ChannelOrderDraft) -> Result<PublishedOrder, ConnectorError> {
        const OP: &str = "create order";
        let body = order_body(draft, self.config.store_id)
            .map_err(|m| rejected(OP, format!("ERP order {}: {m}", draft.erp_number)))?;
        let url = self.url("orders");
        let reply = match self.call(OP, Idempotency::Unsafe, |c| c.post(&url).json(&body)).await {
            Ok(reply) => reply,
            Err(ConnectorError::Status { status: 400, message, .. }) => return Err(rejected(OP, message)),
            Err(e) => return Err(e),
        };
        let created: OrderRefWire = reply.json(VENDOR, OP)?;
        let order = published(OP, &created)?;
        info!(connection = %self.connection, erp = %draft.erp, order = %order.id, number = %order.display_number,
            "ERP order created in Magento.");
        Ok(order)
    }

    /// Reads the order's items, then `POST order/{id}/invoice` with the quantities still to
    /// invoice (`capture: true`: the ERP has the payment). Nothing left to invoice: no call.
    async fn create_invoice(
        &self,
        order: &ChannelOrderId,
        lines: &[(String, Decimal)],
        erp_invoice: &str,
    ) -> Result<(), ConnectorError> {
        const OP: &str = "create invoice";
        let id = require_id(order, OP)?;
        let wire = self.order(id).await?;
        let (items, capped) =
            invoice_items(lines, &wire.items).map_err(|m| rejected(OP, format!("invoice {erp_invoice}: {m}")))?;
        if !capped.is_empty() {
            warn!(connection = %self.connection, order = id, invoice = erp_invoice, capped = ?capped,
                "Invoiced short: the order has less left to invoice.");
        }
        if items.is_empty() {
            debug!(connection = %self.connection, order = id, invoice = erp_invoice, "Nothing left to invoice.");
            return Ok(());
        }
        let body = invoice_request(items, erp_invoice);
        let url = self.url(&format!("order/{id}/invoice"));
        let reply = match self.call(OP, Idempotency::Unsafe, |c| c.post(&url).json(&body)).await {
            Ok(reply) => reply,
            Err(ConnectorError::Status { status: 400, message, .. }) => return Err(rejected(OP, message)),
            Err(e) => return Err(e),
        };
        let invoice_id: Option<i64> = reply.json(VENDOR, OP).ok();
        info!(connection = %self.connection, order = id, invoice_id, erp_invoice, "Magento invoice created.");
        Ok(())
    }
}

/// Test connection. With admin credentials: a fresh `POST /V1/integration/admin/token` (the
/// sign-in is the authentication). With an integration token: `GET /V1/orders` for one order's
/// count only (`searchCriteria[pageSize]=1`, `fields=total_count`).
#[async_trait]
impl crate::ports::Probe for MagentoClient {
    fn probe_call(&self) -> &'static str {
        match &self.credentials {
            Credentials::Admin { .. } => "POST /V1/integration/admin/token",
            Credentials::Integration(_) => "GET /V1/orders?searchCriteria[pageSize]=1",
        }
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        match &self.credentials {
            Credentials::Admin { username, password } => self.admin_sign_in(username, password).await.map(|_| ()),
            Credentials::Integration(_) => {
                let url = self.url("orders");
                let query = [
                    ("searchCriteria[pageSize]", "1"),
                    ("searchCriteria[currentPage]", "1"),
                    ("fields", "total_count"),
                ];
                self.call("test connection", Idempotency::Safe, |c| c.get(&url).query(&query)).await.map(|_| ())
            }
        }
    }
}

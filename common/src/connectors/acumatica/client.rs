//! [`AcumaticaClient`]: the ERP side of the import (`OrderSink`), of status-push (`ErpShipments`)
//! and the source of ERP-originated orders (`ErpOrders`), over one cookie session that is reused by
//! every call of a warm Lambda container and ended with [`AcumaticaClient::logout`].
//!
//! Calls per operation (with a live session; the first call of a container adds one login):
//! `find_by_import_id` 1, `create_order` 1 (+1 lookup and at most one more PUT after an ambiguous
//! failure), `find_customer` 1, `create_customer` 1, `resolve_item` by SKU 1, by UPC/EAN 0 while
//! the cross-reference index is fresh, else ⌈items / page_size⌉, `shipments_since`
//! ⌈shipments / page_size⌉, `shipment` 1, `order_state` 1, `logout` 1; ERP-originated orders: `orders_modified_since`
//! ⌈orders / page_size⌉, `sales_order` 1, `customer_class` 1, `record_channel_number` 1,
//! `invoices_of` 1 + 1 per distinct invoice of the order's shipments. A 401 costs one re-login and a repeat.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use super::config::AcumaticaConfig;
use super::mapper::{
    channel_number_body, customer_body, datetimeoffset, error_message, invoice_from_wire, invoice_keys,
    is_entity_outcome_error, odata_string, order_state_from_wire, sales_order_body, sales_order_from_wire,
    shipment_to_canonical,
};
use super::oauth::OAuthState;
use super::wire::{
    get, text, CustomerClassWire, CustomerEmailKey, LoginRequest, SalesInvoiceWire, SalesOrderInvoicesWire,
    SalesOrderKeys, SalesOrderStateWire, SalesOrderWire, ShipmentWire, StockItemWire,
};
use super::VENDOR;
use crate::connectors::{ConnectorError, SetupError};
use crate::error::Classify;
use crate::http::{BuildRequest, Credential, Idempotency, Reply, SecondRefusal, Session, VendorHttp, VendorProfile};
use crate::mapping::SalesOrderDraft;
use crate::model::{
    Customer, ErpCustomerId, ErpInvoice, ErpItemId, ErpOrderNbr, ErpOrderRef, ErpOrderType, ErpSalesOrder,
    IdentifierKind, Order, Shipment,
};
use crate::ports::{CustomerLookup, ErpOrderState, ErpOrders, ErpShipments, OrderSink, SharedTokens};

fn no_hint(_: StatusCode, _: &HeaderMap, _: &[u8]) -> Option<Duration> {
    // Acumatica documents no rate-limit headers; a 429 is classified as throttling by status.
    None
}

fn no_pause(_: &HeaderMap) -> Option<Duration> {
    None
}

/// 422 is a validation outcome; so is a 500 carrying `OutcomeEntityHasErrorsException` or an
/// entity with `error` strings (some versions answer validation failures that way, §2.9).
fn rejects(status: StatusCode, body: &[u8]) -> bool {
    status == StatusCode::UNPROCESSABLE_ENTITY || (status.is_server_error() && is_entity_outcome_error(body))
}

const PROFILE: VendorProfile =
    VendorProfile { name: VENDOR, error_message, rate_hint: no_hint, pause_hint: no_pause, rejects };

/// UPC/EAN → InventoryID, built from stock-item cross-references (detail fields cannot be
/// filtered on, §2.3), reused for `item_index_ttl_secs`.
struct ItemIndex {
    built: Instant,
    /// UPC/EAN cross-reference → InventoryID.
    by_code: HashMap<String, ErpItemId>,
    /// Every InventoryID, so SKU lookups of known items cost no request.
    ids: HashSet<String>,
    /// SKUs asked for directly since the index was built and answered 404: forgotten with the
    /// index, so a SKU that is not an InventoryID (an item the ERP knows by a cross-reference)
    /// costs one request per `item_index_ttl_secs`, not one per order line.
    absent: std::sync::Mutex<HashSet<String>>,
}

/// How long a customer looked up ahead answers the import's own lookup: a batch's imports
/// follow its prefetch within seconds, and a customer entered in the ERP after the prefetch is
/// then found by the next batch (a create under the derived id finds one made meanwhile).
const PREFETCH_TTL: Duration = Duration::from_secs(60);
/// Lookups per prefetch request: two OData clauses each keep the URL well under 4 KB.
const PREFETCH_CHUNK: usize = 20;

/// The cache key of a lookup: emails compare without case, as Acumatica's `eq` does.
fn lookup_key(lookup: &CustomerLookup<'_>) -> String {
    match lookup {
        CustomerLookup::ChannelId(id) => format!("id:{id}"),
        CustomerLookup::Email(email) => format!("email:{}", email.trim().to_ascii_lowercase()),
        CustomerLookup::IdOrEmail { id, email } => format!("id:{id}|email:{}", email.trim().to_ascii_lowercase()),
    }
}

/// The customer a lookup finds among the records a batch lookup returned, as the lookup on its
/// own would choose: a match on the derived id wins over a match on the email.
fn answer_of(lookup: &CustomerLookup<'_>, found: &[(String, Option<String>)]) -> Option<ErpCustomerId> {
    let by_id = |id: &str| found.iter().find(|(c, _)| c == id);
    let by_email = |email: &str| {
        let email = email.trim();
        found.iter().find(|(_, e)| e.as_deref().is_some_and(|e| e.trim().eq_ignore_ascii_case(email)))
    };
    let hit = match lookup {
        CustomerLookup::ChannelId(id) => by_id(id),
        CustomerLookup::Email(email) => by_email(email),
        CustomerLookup::IdOrEmail { id, email } => by_id(id).or_else(|| by_email(email)),
    };
    hit.and_then(|(c, _)| ErpCustomerId::parse(c.clone()).ok())
}

/// The Acumatica contract-based REST client. Build once per container and share.
pub struct AcumaticaClient {
    pub(super) config: AcumaticaConfig,
    pub(super) http: VendorHttp,
    /// The `Cookie` header of the live session, or the OAuth access token; a secret.
    session: Session,
    /// Set when the connection signs in with OAuth (`[acumatica.oauth]`).
    oauth: Option<OAuthState>,
    items: Mutex<Option<Arc<ItemIndex>>>,
    /// Answers of the current batch's customer prefetch, by [`lookup_key`]; each is used once.
    prefetched: std::sync::Mutex<HashMap<String, (Instant, Option<ErpCustomerId>)>>,
}

impl std::fmt::Debug for AcumaticaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcumaticaClient")
            .field("base_url", &self.config.base_url)
            .field("endpoint", &format_args!("{}/{}", self.config.endpoint, self.config.endpoint_version))
            .finish_non_exhaustive()
    }
}

impl AcumaticaClient {
    /// Validates the config and builds the HTTP client; no request is sent until first use.
    pub fn new(config: AcumaticaConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let http = VendorHttp::new(PROFILE, VENDOR, config.transport())?;
        let oauth = config.oauth.clone().map(|settings| OAuthState {
            settings,
            shared: None,
            last: std::sync::Mutex::new(None),
        });
        Ok(Self {
            config,
            http,
            session: Session::new(SecondRefusal::SessionLost),
            oauth,
            items: Mutex::new(None),
            prefetched: Default::default(),
        })
    }

    /// Keeps the OAuth token in `store`, shared with every other function and container (no
    /// effect for a cookie connection).
    pub fn with_shared_tokens(mut self, store: Arc<dyn SharedTokens>) -> Self {
        if let Some(oauth) = self.oauth.as_mut() {
            oauth.shared = Some(store);
        }
        self
    }

    /// Signs in the configured way.
    async fn sign_in(&self) -> Result<Credential, ConnectorError> {
        match &self.oauth {
            Some(state) => self.oauth_sign_in(state).await,
            None => self.login().await,
        }
    }

    fn url(&self, path: &str) -> String {
        crate::http::join_url(&self.config.base_url, path)
    }

    /// `{base}/entity/{endpoint}/{version}/{segments...}` with each segment percent-encoded.
    pub(super) fn entity_url(&self, segments: &[&str]) -> Result<url::Url, ConnectorError> {
        let base = self.url(&format!("entity/{}/{}", self.config.endpoint, self.config.endpoint_version));
        let mut url = url::Url::parse(&base).map_err(|e| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: "build URL",
            message: format!("base_url is not usable: {e}"),
        })?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        Ok(url)
    }

    /// Signs in (`POST /entity/auth/login`) and keeps the session cookies.
    pub(super) async fn login(&self) -> Result<Credential, ConnectorError> {
        let body = LoginRequest {
            name: &self.config.username,
            password: self.config.password.expose_secret(),
            tenant: &self.config.tenant,
            branch: self.config.branch.as_deref().filter(|b| !b.trim().is_empty()),
        };
        let url = self.url("entity/auth/login");
        let reply = self.http.send("login", Idempotency::Safe, |c| c.post(&url).json(&body)).await?;
        let cookies: Vec<String> = reply
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .filter(|kv| kv.contains('='))
            .map(str::to_owned)
            .collect();
        if cookies.is_empty() {
            return Err(ConnectorError::Decode {
                vendor: VENDOR,
                operation: "login",
                detail: "login succeeded but set no session cookie".into(),
            });
        }
        let cookie = cookies.join("; ");
        if HeaderValue::from_str(&cookie).is_err() {
            return Err(ConnectorError::Decode {
                vendor: VENDOR,
                operation: "login",
                detail: "session cookie is not a valid header value".into(),
            });
        }
        info!(tenant = %self.config.tenant, "Signed in to Acumatica.");
        Ok(Credential { secret: SecretString::from(cookie), renew_after: None })
    }

    /// Sends with the session cookie (or the OAuth token); on 401 signs in again once and repeats
    /// (the session timed out or was ended by someone else); refused again, the new session was
    /// ended at once (another sign-out, or every licensed API user signed in): `SessionLost`,
    /// retried later.
    pub(super) async fn authed(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        build: impl BuildRequest,
    ) -> Result<Reply, ConnectorError> {
        let bearer = self.oauth.is_some();
        let attach = |request: reqwest::RequestBuilder, secret: &SecretString| {
            let (name, value) = if bearer {
                (AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", secret.expose_secret())))
            } else {
                (COOKIE, HeaderValue::from_str(secret.expose_secret()))
            };
            match value {
                Ok(mut header) => {
                    header.set_sensitive(true);
                    request.header(name, header)
                }
                // Without the credential the request is refused and signs in again.
                Err(_) => request,
            }
        };
        self.session.send(&self.http, operation, idempotency, || self.sign_in(), attach, build).await
    }

    /// Ends the session (`POST /entity/auth/logout`), freeing the licence's API-user slot. Call it
    /// at the end of every invocation batch; the next call signs in again. Never fails: a logout
    /// that does not arrive only holds the slot until the idle timeout.
    /// An OAuth token is kept: it is one shared API user, not one per batch.
    pub async fn logout(&self) {
        if self.oauth.is_some() {
            return;
        }
        let Some(cookie) = self.session.take().await else { return };
        self.sign_out(cookie).await;
    }

    /// `POST /entity/auth/logout` with this session's cookie; failures are logged only.
    pub(super) async fn sign_out(&self, cookie: SecretString) {
        let url = self.url("entity/auth/logout");
        let Ok(mut header) = HeaderValue::from_str(cookie.expose_secret()) else { return };
        header.set_sensitive(true);
        match self.http.send("logout", Idempotency::Safe, |c| c.post(&url).header(COOKIE, header.clone())).await {
            Ok(_) => debug!("Signed out of Acumatica."),
            Err(e) => warn!(error = %e, "Acumatica logout failed; the session ends at its idle timeout."),
        }
    }

    /// Finds the sales order carrying `import_id` in `CustomerOrder`.
    async fn find_order(&self, import_id: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
        let url = self.entity_url(&["SalesOrder"])?;
        let filter = format!("CustomerOrder eq {}", odata_string(import_id));
        let reply = self
            .authed("find sales order", Idempotency::Safe, |c| {
                c.get(url.clone())
                    .query(&[("$filter", filter.as_str()), ("$select", "OrderType,OrderNbr,CustomerOrder")])
            })
            .await?;
        let found: Vec<SalesOrderKeys> = reply.json(VENDOR, "find sales order")?;
        let mut refs = found.iter().filter_map(|o| erp_ref(o).ok());
        let first = refs.next();
        if refs.next().is_some() {
            warn!(import_id, "Several Acumatica orders carry the same Import ID; using the first.");
        }
        Ok(first)
    }

    async fn put_order(&self, draft: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
        const OP: &str = "create sales order";
        let url = self.entity_url(&["SalesOrder"])?;
        let body = sales_order_body(draft);
        let result = self
            .authed(OP, Idempotency::Unsafe, |c| {
                c.put(url.clone())
                    .query(&[("$expand", "Details,Payments,TaxDetails")])
                    .header("If-None-Match", "*")
                    .json(&body)
            })
            .await;
        let value = entity_written(OP, result)?;
        let keys: SalesOrderKeys = serde_json::from_value(value).map_err(|e| ConnectorError::Decode {
            vendor: VENDOR,
            operation: OP,
            detail: e.to_string(),
        })?;
        let erp = erp_ref(&keys)?;
        let total = get(&keys.OrderTotal).map(|n| n.0);
        let expected = draft.expected_total.round_to_minor().amount;
        if total.is_some_and(|t| t.round_dp(2) != expected.round_dp(2)) {
            warn!(erp = %erp, import_id = %draft.import_id, total = ?total, expected = %expected,
                "Acumatica order total differs from the channel's grand total.");
        }
        info!(erp = %erp, import_id = %draft.import_id, "Sales order created in Acumatica.");
        Ok(erp)
    }

    /// `GET Shipment/{nbr}?$expand=…`; 404 → None. The shipment alone (no order read).
    async fn read_outbound(
        &self,
        shipment_nbr: &str,
    ) -> Result<Option<crate::model::OutboundShipment>, ConnectorError> {
        const OP: &str = "get shipment to export";
        let url = self.entity_url(&["Shipment", shipment_nbr.trim()])?;
        let reply = match self
            .authed(OP, Idempotency::Safe, |c| c.get(url.clone()).query(&[("$expand", OUTBOUND_EXPAND)]))
            .await
        {
            Ok(reply) => reply,
            Err(ConnectorError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let wire: super::wire::OutboundShipmentWire = reply.json(VENDOR, OP)?;
        let shipment = super::mapper::outbound_from_wire(&wire).map_err(|detail| ConnectorError::Unmappable {
            vendor: VENDOR,
            operation: OP,
            detail,
        })?;
        Ok(Some(shipment))
    }

    /// The unit prices of a shipment's lines and the bill-to, from the (first) sales order it
    /// covers: a shipment carries neither. One order read per shipment; a shipment of no order,
    /// or of one deleted meanwhile, keeps its ship-to as the bill-to and no prices.
    async fn with_order_details(&self, shipment: &mut crate::model::OutboundShipment) -> Result<(), ConnectorError> {
        if shipment.state == crate::model::OutboundState::Shipped {
            return Ok(());
        }
        let Some(erp) = shipment.orders.first().cloned() else { return Ok(()) };
        let Some(order) = crate::ports::ErpOrders::sales_order(self, &erp).await? else { return Ok(()) };
        for line in &mut shipment.lines {
            line.unit_price = line
                .order_line_nbr
                .and_then(|n| order.lines.iter().find(|l| l.line_nbr == n))
                .map(|l| l.unit_price.amount);
        }
        shipment.bill_to = Some(order.bill_to);
        Ok(())
    }

    /// `PUT {entity}?$select=…` with `If-Match: *`: an update of an existing record only (one
    /// deleted meanwhile is not re-created: 412 becomes `Rejected`). Writing the same values twice
    /// is harmless, so the call is retried like a read; entity errors in the answer are `Rejected`.
    pub(super) async fn update_entity(
        &self,
        op: &'static str,
        entity: &str,
        what: &str,
        body: &(impl serde::Serialize + Sync),
        select: &str,
    ) -> Result<(), ConnectorError> {
        let url = self.entity_url(&[entity])?;
        let result = self
            .authed(op, Idempotency::Safe, |c| {
                c.put(url.clone()).query(&[("$select", select)]).header("If-Match", "*").json(body)
            })
            .await;
        let reply = match result {
            Ok(reply) => reply,
            Err(ConnectorError::Status { status: 412, .. }) => {
                return Err(ConnectorError::Rejected {
                    vendor: VENDOR,
                    operation: op,
                    message: format!("{what} no longer exists"),
                })
            }
            Err(ConnectorError::Status { status: 400, message, .. }) => {
                return Err(ConnectorError::Rejected { vendor: VENDOR, operation: op, message })
            }
            Err(e) => return Err(e),
        };
        if !reply.is_empty() {
            let value: serde_json::Value = reply.json(VENDOR, op)?;
            let errors = super::mapper::entity_errors(&value);
            if !errors.is_empty() {
                return Err(ConnectorError::Rejected { vendor: VENDOR, operation: op, message: errors.join("; ") });
            }
        }
        Ok(())
    }

    async fn customer_exists(&self, id: &ErpCustomerId) -> Result<bool, ConnectorError> {
        let url = self.entity_url(&["Customer", id.as_str()])?;
        match self
            .authed("get customer", Idempotency::Safe, |c| c.get(url.clone()).query(&[("$select", "CustomerID")]))
            .await
        {
            Ok(_) => Ok(true),
            Err(ConnectorError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The customers matching any of `lookups` by CustomerID or main-contact email, as (id,
    /// email) pairs: one `GET Customer` with the ids and emails joined by `or` (none without any).
    async fn customers_matching(
        &self,
        lookups: &[CustomerLookup<'_>],
    ) -> Result<Vec<(String, Option<String>)>, ConnectorError> {
        const OP: &str = "find customers by id or email";
        let mut clauses = std::collections::BTreeSet::new();
        for lookup in lookups {
            let (id, email) = match lookup {
                CustomerLookup::ChannelId(id) => (Some(*id), None),
                CustomerLookup::Email(email) => (None, Some(email.trim())),
                CustomerLookup::IdOrEmail { id, email } => (Some(*id), Some(email.trim())),
            };
            if let Some(id) = id {
                clauses.insert(format!("CustomerID eq {}", odata_string(id)));
            }
            if let Some(email) = email.filter(|e| !e.is_empty()) {
                clauses.insert(format!("MainContact/Email eq {}", odata_string(email)));
            }
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let filter = clauses.into_iter().collect::<Vec<_>>().join(" or ");
        let url = self.entity_url(&["Customer"])?;
        let reply = self
            .authed(OP, Idempotency::Safe, |c| {
                c.get(url.clone()).query(&[
                    ("$filter", filter.as_str()),
                    ("$expand", "MainContact"),
                    ("$select", "CustomerID,MainContact/Email"),
                ])
            })
            .await?;
        let records: Vec<CustomerEmailKey> = reply.json(VENDOR, OP)?;
        Ok(records
            .iter()
            .filter_map(|c| text(&c.CustomerID).map(|id| (id, c.MainContact.as_ref().and_then(|m| text(&m.Email)))))
            .collect())
    }

    async fn item_index(&self) -> Result<Arc<ItemIndex>, ConnectorError> {
        let mut guard = self.items.lock().await;
        let ttl = Duration::from_secs(self.config.item_index_ttl_secs);
        if let Some(index) = guard.as_ref().filter(|i| i.built.elapsed() < ttl) {
            return Ok(Arc::clone(index));
        }
        let mut ids = HashSet::new();
        let url = self.entity_url(&["StockItem"])?;
        let top = self.config.page_size.to_string();
        let mut by_code = HashMap::new();
        let mut skip = 0usize;
        loop {
            let skip_text = skip.to_string();
            let reply = self
                .authed("list stock items", Idempotency::Safe, |c| {
                    c.get(url.clone()).query(&[
                        ("$expand", "CrossReferences"),
                        ("$select", "InventoryID,CrossReferences"),
                        ("$top", top.as_str()),
                        ("$skip", skip_text.as_str()),
                    ])
                })
                .await?;
            let page: Vec<StockItemWire> = reply.json(VENDOR, "list stock items")?;
            for item in &page {
                let Some(id) = text(&item.InventoryID).and_then(|i| ErpItemId::parse(i).ok()) else {
                    continue;
                };
                ids.insert(id.as_str().to_owned());
                for xref in &item.CrossReferences {
                    if let Some(code) = text(&xref.AlternateID) {
                        by_code.entry(code).or_insert_with(|| id.clone());
                    }
                }
            }
            skip += page.len();
            if page.len() < self.config.page_size as usize {
                break;
            }
        }
        debug!(codes = by_code.len(), items = skip, "Built the Acumatica item index.");
        let index = Arc::new(ItemIndex { built: Instant::now(), by_code, ids, absent: Default::default() });
        *guard = Some(Arc::clone(&index));
        Ok(index)
    }
}

/// The entity a `PUT` wrote, or `Rejected` with Acumatica's words: 422 and entity-error 500s are
/// already `Rejected` (see `rejects`); 400 and 412 are made so; `error` strings in the answer too.
pub(super) fn entity_written(
    op: &'static str,
    result: Result<Reply, ConnectorError>,
) -> Result<serde_json::Value, ConnectorError> {
    let reply = match result {
        Ok(reply) => reply,
        Err(ConnectorError::Status { status: 400 | 412, message, .. }) => {
            return Err(ConnectorError::Rejected { vendor: VENDOR, operation: op, message })
        }
        Err(e) => return Err(e),
    };
    let value: serde_json::Value = reply.json(VENDOR, op)?;
    let errors = super::mapper::entity_errors(&value);
    if !errors.is_empty() {
        return Err(ConnectorError::Rejected { vendor: VENDOR, operation: op, message: errors.join("; ") });
    }
    Ok(value)
}

fn erp_ref(keys: &SalesOrderKeys) -> Result<ErpOrderRef, ConnectorError> {
    let bad = |detail: String| ConnectorError::Decode { vendor: VENDOR, operation: "read sales order keys", detail };
    let order_type = text(&keys.OrderType).ok_or_else(|| bad("no OrderType in the response".into()))?;
    let order_nbr = text(&keys.OrderNbr).ok_or_else(|| bad("no OrderNbr in the response".into()))?;
    Ok(ErpOrderRef {
        order_type: ErpOrderType::parse(order_type).map_err(|e| bad(e.to_string()))?,
        order_nbr: ErpOrderNbr::parse(order_nbr).map_err(|e| bad(e.to_string()))?,
    })
}

/// Test connection: a fresh sign-in (`POST /entity/auth/login`, the authentication itself) and
/// its sign-out at once, so the test holds no licensed API-user slot. The session the functions
/// use is not touched.
#[async_trait]
impl crate::ports::Probe for AcumaticaClient {
    fn probe_call(&self) -> &'static str {
        if self.oauth.is_some() {
            "POST /entity/auth/login and /entity/auth/logout, then POST /identity/connect/token renewing no token"
        } else {
            "POST /entity/auth/login, then /entity/auth/logout"
        }
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        if let Some(state) = &self.oauth {
            return self.probe_oauth(&state.settings).await;
        }
        let session = self.login().await?;
        self.sign_out(session.secret).await;
        Ok(())
    }
}

#[async_trait]
impl OrderSink for AcumaticaClient {
    type Draft = SalesOrderDraft;

    fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<ErpCustomerId> {
        super::derive_customer_id(prefix, customer)
    }

    /// `GET SalesOrder?$filter=CustomerOrder eq '<import id>'&$select=OrderType,OrderNbr,CustomerOrder`.
    async fn find_by_import_id(&self, import_id: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
        self.find_order(import_id).await
    }

    /// `PUT SalesOrder?$expand=Details,Payments,TaxDetails` with `If-None-Match: *`. Only throttling
    /// and refused connections are retried blindly; after an ambiguous failure (5xx, lost
    /// response) the order is looked up by its Import ID, and the insert is repeated once only if
    /// it is not there. Validation errors come back as `Rejected` naming the fields.
    async fn create_order(&self, draft: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
        match self.put_order(draft).await {
            Err(e) if e.is_retryable() && !matches!(e, ConnectorError::RateLimited { .. }) => {
                warn!(import_id = %draft.import_id, error = %e, "Ambiguous create failure; looking the order up before retrying.");
                // The order may exist: whatever stops the lookup, the outcome stays the create's own
                // (retryable) failure, never a permanent one that would record a created order as failed.
                match self.find_order(&draft.import_id).await {
                    Ok(Some(found)) => return Ok(found),
                    Ok(None) => {}
                    Err(lookup) => {
                        warn!(import_id = %draft.import_id, error = %lookup, "Lookup after an ambiguous create failed; retrying later.");
                        return Err(e);
                    }
                }
                self.put_order(draft).await
            }
            other => other,
        }
    }

    async fn find_customer(&self, lookup: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
        // Taken, not read: a second order of the same new buyer looks again (its first order
        // may have created the customer by then).
        let ahead = self.prefetched.lock().ok().and_then(|mut p| p.remove(&lookup_key(&lookup)));
        if let Some((_, answer)) = ahead.filter(|(at, _)| at.elapsed() < PREFETCH_TTL) {
            return Ok(answer);
        }
        match lookup {
            CustomerLookup::ChannelId(id) => {
                let Ok(id) = ErpCustomerId::parse(id) else { return Ok(None) };
                Ok(self.customer_exists(&id).await?.then_some(id))
            }
            // By id and email, or by email: the same query a batch's prefetch makes, for one.
            other => {
                let found = self.customers_matching(std::slice::from_ref(&other)).await?;
                Ok(answer_of(&other, &found))
            }
        }
    }

    /// Looks up to [`PREFETCH_CHUNK`] lookups at a time ahead (see [`AcumaticaClient::customers_matching`]);
    /// each lookup's answer is chosen here as the lookup alone would have chosen it.
    async fn prefetch_customers(&self, lookups: &[CustomerLookup<'_>]) -> Result<(), ConnectorError> {
        for chunk in lookups.chunks(PREFETCH_CHUNK) {
            let found = self.customers_matching(chunk).await?;
            let now = Instant::now();
            if let Ok(mut prefetched) = self.prefetched.lock() {
                prefetched.retain(|_, (at, _)| at.elapsed() < PREFETCH_TTL);
                for lookup in chunk {
                    prefetched.insert(lookup_key(lookup), (now, answer_of(lookup, &found)));
                }
            }
            debug!(lookups = chunk.len(), found = found.len(), "Looked a batch's customers up in Acumatica.");
        }
        Ok(())
    }

    /// `PUT Customer` with `If-None-Match: *` under the given CustomerID; a 412 (it already exists,
    /// e.g. the response of an earlier attempt was lost) returns that id.
    async fn create_customer(
        &self,
        id: &ErpCustomerId,
        customer: &Customer,
        order: &Order,
        class: Option<&str>,
    ) -> Result<ErpCustomerId, ConnectorError> {
        const OP: &str = "create customer";
        let id = id.clone();
        let class = class.or(self.config.customer_class.as_deref());
        let body = customer_body(&id, customer, &order.bill_to, class);
        let url = self.entity_url(&["Customer"])?;
        let result = self
            .authed(OP, Idempotency::Safe, |c| {
                c.put(url.clone()).query(&[("$select", "CustomerID")]).header("If-None-Match", "*").json(&body)
            })
            .await;
        match result {
            Ok(_) | Err(ConnectorError::Status { status: 412, .. }) => {
                info!(customer_id = %id, "Customer created in Acumatica.");
                Ok(id)
            }
            Err(ConnectorError::Status { status: 400, message, .. }) => {
                Err(ConnectorError::Rejected { vendor: VENDOR, operation: OP, message })
            }
            Err(e) => Err(e),
        }
    }

    /// SKU: the item index, else `GET StockItem/{InventoryID}` (404 → None). UPC, EAN, MPN,
    /// ASIN: the cross-reference index.
    async fn resolve_item(&self, kind: IdentifierKind, value: &str) -> Result<Option<ErpItemId>, ConnectorError> {
        let value = value.trim();
        match kind {
            IdentifierKind::Sku => {
                let Ok(id) = ErpItemId::parse(value) else { return Ok(None) };
                // Known items need no request; an unknown one may have been added since the index
                // was built, so it is asked for directly, once per index: the answer "no such
                // InventoryID" is kept as long as the index's own knowledge.
                let index = self.item_index().await?;
                if index.ids.contains(id.as_str()) {
                    return Ok(Some(id));
                }
                if index.absent.lock().is_ok_and(|a| a.contains(id.as_str())) {
                    return Ok(None);
                }
                let url = self.entity_url(&["StockItem", id.as_str()])?;
                match self
                    .authed("get stock item", Idempotency::Safe, |c| {
                        c.get(url.clone()).query(&[("$select", "InventoryID")])
                    })
                    .await
                {
                    Ok(reply) => {
                        let item: StockItemWire = reply.json(VENDOR, "get stock item")?;
                        Ok(text(&item.InventoryID).and_then(|i| ErpItemId::parse(i).ok()).or(Some(id)))
                    }
                    Err(ConnectorError::Status { status: 404, .. }) => {
                        if let Ok(mut absent) = index.absent.lock() {
                            absent.insert(id.as_str().to_owned());
                        }
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            // Every alternate id is a cross-reference of the item (barcodes as Global, an MPN or
            // an ASIN as the merchant's own), so all four are looked up in the same index.
            IdentifierKind::Upc | IdentifierKind::Ean | IdentifierKind::Mpn | IdentifierKind::Asin => {
                Ok(self.item_index().await?.by_code.get(value).cloned())
            }
        }
    }

    async fn update_order(
        &self,
        erp: &ErpOrderRef,
        draft: &SalesOrderDraft,
    ) -> Result<Result<(), String>, ConnectorError> {
        self.revise_order(erp, draft).await
    }

    async fn end_session(&self) {
        if let Ok(mut prefetched) = self.prefetched.lock() {
            prefetched.clear();
        }
        self.logout().await;
    }
}

impl AcumaticaClient {
    /// Every record of `entity` matching `filter`, with `expand`, read in pages of `page_size`
    /// (`$top`/`$skip`) until a short page.
    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        entity: &str,
        filter: &str,
        expand: &str,
    ) -> Result<Vec<T>, ConnectorError> {
        let url = self.entity_url(&[entity])?;
        let top = self.config.page_size.to_string();
        let mut out = Vec::new();
        loop {
            let skip = out.len().to_string();
            let reply = self
                .authed(operation, Idempotency::Safe, |c| {
                    c.get(url.clone()).query(&[
                        ("$filter", filter),
                        ("$expand", expand),
                        ("$top", top.as_str()),
                        ("$skip", skip.as_str()),
                    ])
                })
                .await?;
            let page: Vec<T> = reply.json(VENDOR, operation)?;
            let short = page.len() < self.config.page_size as usize;
            out.extend(page);
            if short {
                return Ok(out);
            }
        }
    }
}

/// Shipments with their orders, lines, packages and what is in each package. PackageContents is a
/// detail of a detail: Acumatica returns it only for the nested path, never for `Packages` alone.
const SHIPMENT_EXPAND: &str = "Packages,Details,Orders,Packages/PackageContents";

#[async_trait]
impl ErpShipments for AcumaticaClient {
    /// `GET Shipment?$filter=LastModifiedDateTime gt datetimeoffset'…'&$expand=` [`SHIPMENT_EXPAND`],
    /// paged with `$top`/`$skip`, keeping the statuses in `shipped_statuses`.
    async fn shipments_since(&self, since: DateTime<Utc>) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        let filter = format!("LastModifiedDateTime gt {}", datetimeoffset(since));
        let page: Vec<ShipmentWire> = self.list_all("list shipments", "Shipment", &filter, SHIPMENT_EXPAND).await?;
        let mut out = Vec::new();
        for shipment in &page {
            match shipment_to_canonical(shipment, &self.config.shipped_statuses) {
                Ok(items) => out.extend(items),
                Err(problem) => warn!(problem = %problem, "Skipped an Acumatica shipment that cannot be read."),
            }
        }
        Ok(out)
    }

    /// `GET Shipment/{nbr}?$expand=` [`SHIPMENT_EXPAND`]; a shipment that does not exist (yet)
    /// is empty, like one that is not shipped.
    async fn shipment(&self, shipment_nbr: &str) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        const OP: &str = "get shipment";
        let url = self.entity_url(&["Shipment", shipment_nbr])?;
        let reply = match self
            .authed(OP, Idempotency::Safe, |c| c.get(url.clone()).query(&[("$expand", SHIPMENT_EXPAND)]))
            .await
        {
            Ok(reply) => reply,
            Err(ConnectorError::Status { status: 404, .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let wire: ShipmentWire = reply.json(VENDOR, OP)?;
        shipment_to_canonical(&wire, &self.config.shipped_statuses).map_err(|detail| ConnectorError::Unmappable {
            vendor: VENDOR,
            operation: OP,
            detail,
        })
    }

    /// `GET SalesOrder/{type}/{nbr}?$expand=Details,Shipments`: status, note, lines, shipments.
    async fn order_state(&self, erp: &ErpOrderRef) -> Result<ErpOrderState, ConnectorError> {
        const OP: &str = "get sales order state";
        let url = self.entity_url(&["SalesOrder", erp.order_type.as_str(), erp.order_nbr.as_str()])?;
        let reply = self
            .authed(OP, Idempotency::Safe, |c| c.get(url.clone()).query(&[("$expand", "Details,Shipments")]))
            .await?;
        let wire: SalesOrderStateWire = reply.json(VENDOR, OP)?;
        order_state_from_wire(&wire).map_err(|detail| ConnectorError::Decode { vendor: VENDOR, operation: OP, detail })
    }

    async fn end_session(&self) {
        self.logout().await;
    }
}

/// What the publish flow reads of a sales order: lines, totals, payments, addresses and contacts.
const SALES_ORDER_EXPAND: &str = "Details,Totals,Payments,ShipToAddress,ShipToContact,BillToAddress,BillToContact";

#[async_trait]
impl ErpOrders for AcumaticaClient {
    /// `GET SalesOrder?$filter=LastModified gt datetimeoffset'…'&$expand=` [`SALES_ORDER_EXPAND`],
    /// paged with `$top`/`$skip`. An order that cannot be mapped (a missing field, totals that do
    /// not add up) is left out with a warning naming it and the field, so one bad order does not
    /// hold up the others; [`ErpOrders::sales_order`] reports it as `Unmappable`.
    async fn orders_modified_since(&self, since: DateTime<Utc>) -> Result<Vec<ErpSalesOrder>, ConnectorError> {
        let filter = format!("LastModified gt {}", datetimeoffset(since));
        let page: Vec<SalesOrderWire> =
            self.list_all("list sales orders", "SalesOrder", &filter, SALES_ORDER_EXPAND).await?;
        let mut out = Vec::new();
        for order in &page {
            match sales_order_from_wire(order) {
                Ok(order) => out.push(order),
                Err(problem) => warn!(problem = %problem, "Skipped an Acumatica sales order that cannot be read."),
            }
        }
        Ok(out)
    }

    /// `GET SalesOrder/{type}/{nbr}?$expand=` [`SALES_ORDER_EXPAND`]; 404 → None.
    async fn sales_order(&self, erp: &ErpOrderRef) -> Result<Option<ErpSalesOrder>, ConnectorError> {
        const OP: &str = "get sales order";
        let url = self.entity_url(&["SalesOrder", erp.order_type.as_str(), erp.order_nbr.as_str()])?;
        let reply = match self
            .authed(OP, Idempotency::Safe, |c| c.get(url.clone()).query(&[("$expand", SALES_ORDER_EXPAND)]))
            .await
        {
            Ok(reply) => reply,
            Err(ConnectorError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let wire: SalesOrderWire = reply.json(VENDOR, OP)?;
        sales_order_from_wire(&wire).map(Some).map_err(|detail| ConnectorError::Unmappable {
            vendor: VENDOR,
            operation: OP,
            detail,
        })
    }

    /// `GET Customer/{id}?$select=CustomerID,CustomerClass`; 404 (or no class) → None.
    async fn customer_class(&self, customer_id: &str) -> Result<Option<String>, ConnectorError> {
        const OP: &str = "get customer class";
        let id = customer_id.trim();
        if id.is_empty() {
            return Ok(None);
        }
        let url = self.entity_url(&["Customer", id])?;
        match self
            .authed(OP, Idempotency::Safe, |c| c.get(url.clone()).query(&[("$select", "CustomerID,CustomerClass")]))
            .await
        {
            Ok(reply) => Ok(text(&reply.json::<CustomerClassWire>(VENDOR, OP)?.CustomerClass)),
            Err(ConnectorError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT SalesOrder` `{OrderType, OrderNbr, ExternalRef}` with `If-Match: *` (update only: an
    /// order deleted meanwhile is not re-created, it answers 412). Setting the same value twice is
    /// harmless, so the call is retried like a read. Entity errors in the answer are `Rejected`.
    async fn record_channel_number(&self, erp: &ErpOrderRef, number: &str) -> Result<(), ConnectorError> {
        const OP: &str = "record channel order number";
        if number.trim().is_empty() {
            return Err(ConnectorError::Rejected {
                vendor: VENDOR,
                operation: OP,
                message: format!("sales order {erp}: ExternalRef: the channel order number is empty"),
            });
        }
        let what = format!("sales order {erp}");
        self.update_entity(
            OP,
            "SalesOrder",
            &what,
            &channel_number_body(erp, number),
            "OrderType,OrderNbr,ExternalRef",
        )
        .await?;
        info!(erp = %erp, number = number.trim(), "Channel order number recorded on the Acumatica order.");
        Ok(())
    }

    /// `GET SalesOrder/{t}/{n}?$expand=Shipments` → the distinct invoices of its shipments →
    /// `GET SalesInvoice/{InvoiceType}/{InvoiceNbr}?$expand=Details` each (an invoice deleted
    /// meanwhile, 404, is left out).
    async fn invoices_of(&self, erp: &ErpOrderRef) -> Result<Vec<ErpInvoice>, ConnectorError> {
        const OP: &str = "get sales order invoices";
        let url = self.entity_url(&["SalesOrder", erp.order_type.as_str(), erp.order_nbr.as_str()])?;
        let reply =
            self.authed(OP, Idempotency::Safe, |c| c.get(url.clone()).query(&[("$expand", "Shipments")])).await?;
        let wire: SalesOrderInvoicesWire = reply.json(VENDOR, OP)?;
        let mut out = Vec::new();
        for key in invoice_keys(&wire) {
            const GET: &str = "get sales invoice";
            let url = self.entity_url(&["SalesInvoice", key.0.as_str(), key.1.as_str()])?;
            let reply = match self
                .authed(GET, Idempotency::Safe, |c| c.get(url.clone()).query(&[("$expand", "Details")]))
                .await
            {
                Ok(reply) => reply,
                Err(ConnectorError::Status { status: 404, .. }) => {
                    warn!(erp = %erp, invoice = %format!("{}/{}", key.0, key.1), "An invoice of the order's shipments does not exist; left out.");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let invoice: SalesInvoiceWire = reply.json(VENDOR, GET)?;
            out.push(invoice_from_wire(&invoice, erp, &key));
        }
        Ok(out)
    }
}

#[async_trait]
impl crate::ports::ErpCharges for AcumaticaClient {
    /// One `PUT SalesOrder` with the key fields and the values as user-defined decimal fields
    /// (`custom.Document.UsrX`, vendor-apis §2.3), update only.
    async fn write_charges(
        &self,
        erp: &ErpOrderRef,
        values: &std::collections::BTreeMap<String, rust_decimal::Decimal>,
    ) -> Result<(), ConnectorError> {
        const OP: &str = "write order charges";
        let body = super::mapper::charges_body(erp, values);
        self.update_entity(OP, "SalesOrder", &format!("sales order {erp}"), &body, "OrderType,OrderNbr").await?;
        info!(erp = %erp, fields = values.len(), "Charges written to the Acumatica order.");
        Ok(())
    }
}

/// What the export reads of a shipment.
const OUTBOUND_EXPAND: &str = "Details,Packages,Orders,ShippingSettings/ShipToAddress,ShippingSettings/ShipToContact";

#[async_trait]
impl crate::ports::OutboundShipments for AcumaticaClient {
    /// `GET Shipment?$filter=LastModifiedDateTime gt datetimeoffset'…' and (Status eq 'Open' or …)`
    /// with the lines, packages, orders and ship-to, paged.
    async fn outbound_since(
        &self,
        since: DateTime<Utc>,
        statuses: &[String],
    ) -> Result<Vec<crate::model::OutboundShipment>, ConnectorError> {
        const OP: &str = "list shipments to export";
        let statuses: Vec<String> = statuses
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("Status eq {}", super::mapper::odata_string(s.trim())))
            .collect();
        let mut filter = format!("LastModifiedDateTime gt {}", datetimeoffset(since));
        if !statuses.is_empty() {
            filter.push_str(&format!(" and ({})", statuses.join(" or ")));
        }
        let wires: Vec<super::wire::OutboundShipmentWire> =
            self.list_all(OP, "Shipment", &filter, OUTBOUND_EXPAND).await?;
        let mut shipments: Vec<crate::model::OutboundShipment> = wires
            .iter()
            .map(super::mapper::outbound_from_wire)
            .collect::<Result<_, _>>()
            .map_err(|detail| ConnectorError::Unmappable { vendor: VENDOR, operation: OP, detail })?;
        for shipment in &mut shipments {
            self.with_order_details(shipment).await?;
        }
        Ok(shipments)
    }

    /// The shipment with the prices and bill-to of its sales order.
    async fn outbound(&self, shipment_nbr: &str) -> Result<Option<crate::model::OutboundShipment>, ConnectorError> {
        let Some(mut shipment) = self.read_outbound(shipment_nbr).await? else { return Ok(None) };
        self.with_order_details(&mut shipment).await?;
        Ok(Some(shipment))
    }

    /// Reads the shipment's packages, then one `PUT Shipment` with the package rows to update
    /// (`id` + `TrackingNbr`) or add (`BoxID` of the others + `TrackingNbr`). A confirmed shipment's
    /// packages are read-only: tracking not on it yet is refused.
    async fn record_labels(
        &self,
        shipment_nbr: &str,
        labels: &[crate::ports::StationLabel],
    ) -> Result<crate::ports::LabelsRecorded, ConnectorError> {
        const OP: &str = "write labels on shipment";
        let Some(shipment) = self.read_outbound(shipment_nbr).await? else {
            return Err(ConnectorError::Rejected {
                vendor: VENDOR,
                operation: OP,
                message: format!("shipment {shipment_nbr} no longer exists"),
            });
        };
        let mut done = crate::ports::LabelsRecorded::default();
        let mut free = shipment.packages.iter().filter(|p| p.tracking.is_none());
        let box_id = shipment.packages.iter().rev().find_map(|p| p.box_id.clone());
        let mut rows = Vec::new();
        for label in labels {
            let tracking = label.tracking.trim();
            if shipment.packages.iter().any(|p| p.tracking.as_deref() == Some(tracking)) {
                done.already.push(tracking.to_owned());
                continue;
            }
            if shipment.packages.is_empty() {
                done.no_package = true;
                continue;
            }
            let row = match free.next() {
                Some(p) => super::wire::PackageRowPut {
                    id: Some(p.id.clone()),
                    BoxID: None,
                    TrackingNbr: super::wire::val(tracking.to_owned()),
                },
                None => super::wire::PackageRowPut {
                    id: None,
                    BoxID: box_id.clone().map(super::wire::Val::new),
                    TrackingNbr: super::wire::val(tracking.to_owned()),
                },
            };
            rows.push(row);
            done.stored.push(tracking.to_owned());
        }
        if !rows.is_empty() {
            if shipment.state == crate::model::OutboundState::Shipped {
                return Err(ConnectorError::Rejected {
                    vendor: VENDOR,
                    operation: OP,
                    message: format!(
                        "shipment {shipment_nbr} is {} and its packages can no longer change; add {} by hand",
                        shipment.erp_status,
                        done.stored.join(", ")
                    ),
                });
            }
            let body = super::wire::ShipmentPackagesPut {
                ShipmentNbr: super::wire::val(shipment_nbr.trim().to_owned()),
                Packages: rows,
            };
            self.update_entity(OP, "Shipment", &format!("shipment {}", shipment_nbr.trim()), &body, "ShipmentNbr")
                .await?;
        }
        Ok(done)
    }

    /// Reads the shipment; while it is not confirmed, one `PUT Shipment` empties the tracking of
    /// the package that carries it.
    async fn clear_label(
        &self,
        shipment_nbr: &str,
        tracking: &str,
    ) -> Result<crate::ports::LabelCleared, ConnectorError> {
        const OP: &str = "clear voided label";
        let Some(shipment) = self.read_outbound(shipment_nbr).await? else {
            return Ok(crate::ports::LabelCleared::NotOnShipment);
        };
        let Some(package) = shipment.packages.iter().find(|p| p.tracking.as_deref() == Some(tracking.trim())) else {
            return Ok(crate::ports::LabelCleared::NotOnShipment);
        };
        if shipment.state == crate::model::OutboundState::Shipped {
            return Ok(crate::ports::LabelCleared::AlreadyShipped);
        }
        let body = super::wire::ShipmentPackagesPut {
            ShipmentNbr: super::wire::val(shipment_nbr.trim().to_owned()),
            Packages: vec![super::wire::PackageRowPut {
                id: Some(package.id.clone()),
                BoxID: None,
                TrackingNbr: super::wire::val(String::new()),
            }],
        };
        self.update_entity(OP, "Shipment", &format!("shipment {}", shipment_nbr.trim()), &body, "ShipmentNbr").await?;
        Ok(crate::ports::LabelCleared::Cleared)
    }

    /// `POST Shipment/ConfirmShipment` `{"entity": {"ShipmentNbr": …}}` → 202 with `Location`,
    /// polled until 204 (vendor-apis §2.0 item 8). Not retried blindly: a repeat of a confirm
    /// that went through is refused by the ERP, so the shipment's state is read first.
    async fn confirm_shipment(&self, shipment_nbr: &str) -> Result<(), ConnectorError> {
        const OP: &str = "confirm shipment";
        match self.read_outbound(shipment_nbr).await? {
            Some(s) if s.state == crate::model::OutboundState::Shipped => return Ok(()),
            Some(_) => {}
            None => {
                return Err(ConnectorError::Rejected {
                    vendor: VENDOR,
                    operation: OP,
                    message: format!("shipment {shipment_nbr} no longer exists"),
                })
            }
        }
        let url = self.entity_url(&["Shipment", "ConfirmShipment"])?;
        let body =
            serde_json::json!({ "entity": { "ShipmentNbr": { "value": shipment_nbr.trim() } }, "parameters": {} });
        let reply = self.authed(OP, Idempotency::Unsafe, |c| c.post(url.clone()).json(&body)).await?;
        let Some(location) = reply.headers.get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()) else {
            return Ok(());
        };
        let status_url = url.join(location).map_err(|e| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: OP,
            message: format!("Location {location:?}: {e}"),
        })?;
        for attempt in 0..30u64 {
            let poll = self.authed(OP, Idempotency::Safe, |c| c.get(status_url.clone())).await?;
            if poll.status != reqwest::StatusCode::ACCEPTED {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(200 * (attempt + 1).min(5))).await;
        }
        Err(ConnectorError::Status {
            vendor: VENDOR,
            operation: OP,
            status: 202,
            message: format!("shipment {shipment_nbr}: the confirmation is still running"),
            retry_after: None,
        })
    }

    /// `PUT Shipment` `{ShipmentNbr, note}` with `If-Match: *` (update only).
    async fn note_on_shipment(&self, shipment_nbr: &str, note: &str) -> Result<(), ConnectorError> {
        const OP: &str = "write shipment note";
        let body = super::wire::ShipmentNotePut {
            ShipmentNbr: super::wire::val(shipment_nbr.trim().to_owned()),
            note: super::wire::val(note.to_owned()),
        };
        self.update_entity(OP, "Shipment", &format!("shipment {}", shipment_nbr.trim()), &body, "ShipmentNbr").await?;
        Ok(())
    }
}

//! Start-up configuration of the sandbox: seed, data volumes, credentials, time zones, rate limits,
//! faults and webhook targets. Every knob has a default so `SandboxConfig::default()` is a working
//! sandbox that behaves like the vendors' documented production defaults.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::faults::FaultPlan;
use crate::webhook::WebhookTarget;

/// Credentials each simulated vendor accepts. The binary prints them with the base URLs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credentials {
    pub sellercloud_username: String,
    pub sellercloud_password: String,
    pub acumatica_username: String,
    pub acumatica_password: String,
    pub acumatica_tenant: String,
    pub acumatica_client_id: String,
    pub acumatica_client_secret: String,
    pub bigcommerce_access_token: String,
    pub bigcommerce_client_id: String,
    /// Key for the Standard Webhooks signature (raw bytes of the app's client secret).
    pub bigcommerce_client_secret: String,
    pub shipstation_api_key: String,
    pub shipstation_api_secret: String,
    pub magento_admin_username: String,
    pub magento_admin_password: String,
    /// A never-expiring integration access token accepted as a standalone Bearer token
    /// (the 2.4.4+ "Allow OAuth Access Tokens to be used as standalone Bearer tokens" setting on).
    pub magento_integration_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            sellercloud_username: "api@orderbridge.test".into(),
            sellercloud_password: "sc-sandbox-password".into(),
            acumatica_username: "api_user".into(),
            acumatica_password: "ac-sandbox-password".into(),
            acumatica_tenant: "Company".into(),
            acumatica_client_id: "1D6A2C4E-0000-4000-8000-0000000000AC@Company".into(),
            acumatica_client_secret: "ac-client-secret".into(),
            bigcommerce_access_token: "bc-sandbox-access-token".into(),
            bigcommerce_client_id: "bc-sandbox-client-id".into(),
            bigcommerce_client_secret: "bc-sandbox-client-secret".into(),
            shipstation_api_key: "ss-sandbox-key".into(),
            shipstation_api_secret: "ss-sandbox-secret".into(),
            magento_admin_username: "admin".into(),
            magento_admin_password: "mg-sandbox-password1".into(),
            magento_integration_token: "mg-sandbox-integration-token".into(),
        }
    }
}

/// A fixed-window request quota.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WindowLimit {
    pub requests: u32,
    #[serde(with = "duration_ms")]
    pub window: Duration,
}

impl WindowLimit {
    pub fn new(requests: u32, window: Duration) -> Self {
        Self { requests, window }
    }
}

/// Rate limits and license limits, one per vendor, as each vendor documents them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RateLimitConfig {
    /// Sellercloud: 10,800 calls per hour per client (IP) [SC3].
    pub sellercloud: WindowLimit,
    /// BigCommerce Standard/Plus plan: ~150 requests per 30 s window per store [BC6].
    pub bigcommerce: WindowLimit,
    /// ShipStation V1: 40 requests per 60 s per API key/secret pair [SS1].
    pub shipstation: WindowLimit,
    /// Acumatica license: maximum API requests per minute per instance [AC9]. The real value is
    /// per licence (read SM604000); 100/min is the community guidance for standard tiers [AC16].
    pub acumatica_per_minute: WindowLimit,
    /// Acumatica license: maximum number of concurrent web-service API users (sessions + OAuth
    /// tokens). A trial licence allows 2 [AC9]; the default here is a small paid licence.
    pub acumatica_max_api_users: usize,
    /// Acumatica license: maximum concurrent API requests (over the limit: 429).
    pub acumatica_max_concurrent: usize,
    /// Idle timeout after which an un-logged-out Acumatica session frees its API-user slot.
    #[serde(with = "duration_ms")]
    pub acumatica_session_idle: Duration,
    /// Magento has no documented API rate limit (server/WAF specific); `None` = unlimited.
    pub magento: Option<WindowLimit>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            sellercloud: WindowLimit::new(10_800, Duration::from_secs(3600)),
            bigcommerce: WindowLimit::new(150, Duration::from_secs(30)),
            shipstation: WindowLimit::new(40, Duration::from_secs(60)),
            acumatica_per_minute: WindowLimit::new(100, Duration::from_secs(60)),
            acumatica_max_api_users: 5,
            acumatica_max_concurrent: 10,
            acumatica_session_idle: Duration::from_secs(20 * 60),
            magento: None,
        }
    }
}

/// Webhook delivery policy shared by all vendors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryPolicy {
    /// Attempts per copy (at-least-once: a non-2xx or transport error is retried).
    pub attempts: u32,
    /// Delay between attempts. The real vendors wait minutes to hours; tests want milliseconds.
    #[serde(with = "duration_ms")]
    pub retry_delay: Duration,
    /// Per-attempt timeout.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self { attempts: 3, retry_delay: Duration::from_millis(200), timeout: Duration::from_secs(5) }
    }
}

/// Everything the sandbox needs at start-up. `Default` gives a sandbox with documented production
/// behaviour (rate limits on, no faults) and a modest amount of seeded data.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Seed of the data generator and of the fault RNG: same seed, same data, same faults.
    pub seed: u64,
    pub sellercloud_orders: usize,
    pub bigcommerce_orders: usize,
    pub magento_orders: usize,
    /// Orders already present in ShipStation at start (normally 0: our connector creates them).
    pub shipstation_orders: usize,
    /// Catalogue size (channel products = Acumatica stock items).
    pub products: usize,
    /// Size of the buyer pool; smaller pools mean more repeat customers.
    pub buyers: usize,
    /// Instant the seeded data is generated back from. `None` = today 00:00 UTC, so data is
    /// deterministic per seed within a day; set it for byte-identical runs across days.
    pub anchor: Option<DateTime<Utc>>,
    /// Rate limits on by default, as the vendors enforce them.
    pub rate_limits: bool,
    pub limits: RateLimitConfig,
    pub faults: FaultPlan,
    pub credentials: Credentials,
    /// Sellercloud account time zone used for offset-less datetimes (UNCONFIRMED upstream).
    pub sellercloud_time_zone: Tz,
    /// Acumatica instance time zone (offsets on returned datetimes).
    pub acumatica_time_zone: Tz,
    /// ShipStation V1 renders datetimes in Pacific time without an offset.
    pub shipstation_time_zone: Tz,
    /// ShipStation store setting "Configurable Time Zone": the zone the offset-less `orderDate` of
    /// the store's orders is read and returned in. `None` = the account's Pacific convention
    /// (`shipstation_time_zone`). Whether API-created orders honour it is UNCONFIRMED (doc C.1).
    pub shipstation_store_time_zone: Option<Tz>,
    /// Acumatica instance name: the first path segment of its base URL.
    pub acumatica_instance: String,
    /// Acumatica push notification query names (SM302000 "Query" field).
    pub acumatica_shipment_query: String,
    pub acumatica_order_query: String,
    /// Acumatica boxes (Boxes form, CS207600): the values `Shipment.Packages[].BoxID` accepts.
    /// The default package of a shipment created by `acumatica_create_shipment` uses `DEFAULT`
    /// when listed, else the first box.
    pub acumatica_boxes: Vec<String>,
    /// Acumatica actions (`POST …/Shipment/ConfirmShipment`): how many polls of the `Location`
    /// answer 202 (still running) before 204 (done). 0 = done on the first poll.
    pub acumatica_action_pending_polls: u32,
    pub bigcommerce_store_hash: String,
    pub bigcommerce_store_id: String,
    pub shipstation_store_id: i64,
    /// Webhook/push targets configured at start (can also be set at run time).
    pub acumatica_push: Option<WebhookTarget>,
    pub bigcommerce_webhook: Option<WebhookTarget>,
    pub shipstation_webhook: Option<WebhookTarget>,
    pub delivery: DeliveryPolicy,
    /// Upper bound on a "hung" request before the sandbox drops the connection anyway.
    pub hang_for: Duration,
    /// Sellercloud token lifetime (docs say 60 min; an older sample says 30 min).
    pub sellercloud_token_ttl: Duration,
    /// Magento admin token lifetime (4 h by default).
    pub magento_token_ttl: Duration,
    /// Acumatica OAuth access-token lifetime.
    pub acumatica_token_ttl: Duration,
    /// Magento `POST /V1/orders/{id}/comments` with a `status`: `true` (default, Magento ≤ 2.4.6)
    /// changes the order's status; `false` is 2.4.7 behaviour (core commit 632f2531): the comment
    /// is stored and the status stays as it was.
    pub magento_comment_sets_status: bool,
    /// Magento Web API input limit ("Input Limits" in Stores > Configuration > Services > Web API
    /// Limits): the most items a synchronous request may send in one array (`sourceItems`).
    /// `Some(20)` = on with the default 20 (on by default since 2.4.3 / 2.3.7-p1); `None` = off.
    pub magento_input_limit: Option<usize>,
    /// Fixed loopback ports per vendor (0 = any free port).
    pub ports: Ports,
}

/// Optional fixed ports; 0 picks a free one.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Ports {
    pub sellercloud: u16,
    pub acumatica: u16,
    pub bigcommerce: u16,
    pub shipstation: u16,
    pub magento: u16,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            sellercloud_orders: 200,
            bigcommerce_orders: 100,
            magento_orders: 100,
            shipstation_orders: 0,
            products: 120,
            buyers: 150,
            anchor: None,
            rate_limits: true,
            limits: RateLimitConfig::default(),
            faults: FaultPlan::default(),
            credentials: Credentials::default(),
            sellercloud_time_zone: chrono_tz::America::New_York,
            acumatica_time_zone: chrono_tz::America::New_York,
            shipstation_time_zone: chrono_tz::America::Los_Angeles,
            shipstation_store_time_zone: None,
            acumatica_instance: "AcumaticaERP".into(),
            acumatica_shipment_query: "ShipmentsForSync".into(),
            acumatica_order_query: "SalesOrdersForSync".into(),
            acumatica_boxes: ["LARGE", "MEDIUM", "SMALL", "DEFAULT"].map(String::from).to_vec(),
            acumatica_action_pending_polls: 0,
            bigcommerce_store_hash: "abc123sbx".into(),
            bigcommerce_store_id: "1001234567".into(),
            shipstation_store_id: 123456,
            acumatica_push: None,
            bigcommerce_webhook: None,
            shipstation_webhook: None,
            delivery: DeliveryPolicy::default(),
            hang_for: Duration::from_secs(600),
            sellercloud_token_ttl: Duration::from_secs(3600),
            magento_token_ttl: Duration::from_secs(4 * 3600),
            acumatica_token_ttl: Duration::from_secs(3600),
            magento_comment_sets_status: true,
            magento_input_limit: Some(20),
            ports: Ports::default(),
        }
    }
}

impl SandboxConfig {
    /// The data anchor: configured, or today 00:00 UTC.
    pub fn anchor(&self) -> DateTime<Utc> {
        self.anchor.unwrap_or_else(|| {
            let today = Utc::now().date_naive();
            today.and_hms_opt(0, 0, 0).map(|n| n.and_utc()).unwrap_or_else(Utc::now)
        })
    }
}

/// Serialises a `Duration` as integer milliseconds (readable in the control API).
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

//! Acumatica connection settings, read from the connections TOML file.

use secrecy::SecretString;

use super::VENDOR;
use crate::connectors::InvalidConfig;
use crate::http::{HttpSettings, RateBudget, RetryPolicy};

crate::vendor_settings! {
    /// How Orderbridge reaches one Acumatica tenant.
    pub struct AcumaticaConfig {
        /// Instance URL, everything before `/entity`: `https://erp.example.com/AcumaticaERP`.
        pub base_url: String,
        /// Web-service endpoint name; `Default` unless the tenant publishes an extended endpoint.
        #[serde(default = "default_endpoint")]
        pub endpoint: String,
        /// Endpoint version, pinned because field sets differ between versions (§2.12).
        #[serde(default = "default_endpoint_version")]
        pub endpoint_version: String,
        /// API user name (a dedicated API user; it counts against the licence's API-user limit).
        pub username: String,
        /// API user password.
        pub password: SecretString,
        /// Tenant login name (form SM203520).
        pub tenant: String,
        /// Branch ID to sign in to (form CS102000); omitted when empty.
        #[serde(default)]
        pub branch: Option<String>,
        /// Customer class of created customers; the tenant's default class when absent.
        #[serde(default)]
        pub customer_class: Option<String>,
        /// Shipment `Status` values that count as shipped for `shipments_since`.
        #[serde(default = "default_shipped_statuses")]
        pub shipped_statuses: Vec<String>,
        /// Seconds the UPC/EAN → InventoryID index built from stock-item cross-references is reused.
        #[serde(default = "default_item_index_ttl")]
        pub item_index_ttl_secs: u64,
        /// `$top` used when paging stock items and shipments.
        #[serde(default = "default_page_size")]
        pub page_size: u32,
        /// Sign in with OAuth 2.0 (a connected application, form SM303010) instead of a cookie
        /// session: one token, kept in the state table and shared by every function, renewed
        /// with its refresh token. Without it each batch signs in and out with a cookie.
        #[serde(default)]
        pub oauth: Option<AcumaticaOAuth>,
    }
    rate_limit("The licence's request budget (read it from SM604000); 100 per minute by default.", default = "default_budget");
}

/// The connected application Orderbridge signs in as (`[acumatica.oauth]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcumaticaOAuth {
    /// Client ID as SM303010 shows it, `<guid>@<tenant>`.
    pub client_id: String,
    pub client_secret: SecretString,
    /// Seconds before its expiry a token is renewed.
    #[serde(default = "default_renew_margin")]
    pub renew_margin_secs: u64,
}

fn default_renew_margin() -> u64 {
    60
}

fn default_endpoint() -> String {
    "Default".into()
}

fn default_endpoint_version() -> String {
    "24.200.001".into()
}

fn default_budget() -> RateBudget {
    RateBudget::new(100, 60)
}

pub(super) fn default_shipped_statuses() -> Vec<String> {
    vec!["Confirmed".into(), "Completed".into()]
}

fn default_item_index_ttl() -> u64 {
    900
}

fn default_page_size() -> u32 {
    200
}

impl AcumaticaConfig {
    /// A config with defaults for everything but the URL and credentials.
    pub fn new(base_url: impl Into<String>, username: impl Into<String>, password: SecretString, tenant: &str) -> Self {
        Self {
            base_url: base_url.into(),
            endpoint: default_endpoint(),
            endpoint_version: default_endpoint_version(),
            username: username.into(),
            password,
            tenant: tenant.into(),
            branch: None,
            rate_limit: default_budget(),
            retry: RetryPolicy::default(),
            http: HttpSettings::default(),
            customer_class: None,
            shipped_statuses: default_shipped_statuses(),
            item_index_ttl_secs: default_item_index_ttl(),
            page_size: default_page_size(),
            oauth: None,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |problem: String| Err(InvalidConfig { vendor: VENDOR, problem });
        self.transport().validate().or_else(bad)?;
        if self.base_url.contains("/entity") {
            return bad(format!("base_url: {:?} must stop before /entity (the instance URL)", self.base_url));
        }
        if self.endpoint.trim().is_empty() || self.endpoint.contains('/') {
            return bad("endpoint: must be a name such as Default".into());
        }
        let version_ok = self.endpoint_version.split('.').count() == 3
            && self.endpoint_version.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !version_ok {
            return bad(format!("endpoint_version: {:?} must look like 24.200.001", self.endpoint_version));
        }
        if self.username.trim().is_empty() {
            return bad("username: must not be empty".into());
        }
        if self.tenant.trim().is_empty() {
            return bad("tenant: must not be empty (the tenant's login name from SM203520)".into());
        }
        if let Some(oauth) = &self.oauth {
            if oauth.client_id.trim().is_empty() {
                return bad("oauth.client_id: must not be empty (the connected application's ID from SM303010)".into());
            }
        }
        if self.page_size == 0 || self.page_size > 1000 {
            return bad("page_size: must be 1-1000".into());
        }
        Ok(())
    }
}

//! Magento connection settings, read from the connections TOML file.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};

use super::VENDOR;
use crate::connectors::InvalidConfig;
use crate::http::{HttpSettings, RateBudget, RetryPolicy};

crate::vendor_settings! {
    /// How Orderbridge reaches one Magento 2 store. Authenticate with **either** `access_token` (an
    /// integration token) **or** `admin_username` + `admin_password` (exchanged for a 4-hour admin
    /// token, renewed on expiry).
    pub struct MagentoConfig {
        /// The store's base URL, before `/rest`: `https://shop.example.com`.
        pub base_url: String,
        /// Integration access token (System → Integrations), sent as `Authorization: Bearer`. The
        /// integration needs `Magento_Sales::sales` (ship, comment). Since 2.4.4 the store must allow
        /// OAuth access tokens as standalone Bearer tokens (§5.0).
        #[serde(default)]
        pub access_token: Option<SecretString>,
        /// Admin user for `POST /V1/integration/admin/token`, when no integration token is used.
        #[serde(default)]
        pub admin_username: Option<String>,
        #[serde(default)]
        pub admin_password: Option<SecretString>,
        /// Store code in the path (`/rest/{store_code}/V1`): `default` or `all`.
        #[serde(default = "default_store")]
        pub store_code: String,
        /// Carrier name as the ERP or shipping tool writes it → Magento `carrier_code`, for carriers
        /// the built-in list (ups, usps, fedex, dhl) does not know. Names match ignoring case, spaces
        /// and punctuation.
        #[serde(default)]
        pub carriers: BTreeMap<String, String>,
        /// Website of the customers Orderbridge finds and creates for ERP-originated orders
        /// (`website_id`; 1 is the default website).
        #[serde(default = "default_website_id")]
        pub website_id: i64,
        /// Store view ERP-originated orders are created in (`store_id`; 1 is the default store view).
        #[serde(default = "default_store_id")]
        pub store_id: i64,
        /// `[connection.settings.erp_orders]`: which ERP orders this storefront receives, and how.
        /// Absent: it receives none.
        #[serde(default)]
        pub erp_orders: Option<crate::model::ErpOrderSync>,
        /// `[connection.settings.import]`: which storefront orders are imported into the ERP.
        /// Absent: none (the store only receives shipments, statuses and ERP-originated orders).
        #[serde(default)]
        pub import: Option<MagentoImport>,
        /// Orders and customer accounts per search page, 1-300 (300 is the cap when the store
        /// enables Web API input limits, A.5).
        #[serde(default = "default_import_page")]
        pub page_size: u32,
        /// `[connection.settings.stock]`: the ERP's available quantities written to the store.
        /// Absent: stock is not published.
        #[serde(default)]
        pub stock: Option<super::stock::MagentoStock>,
    }
    rate_limit("Magento documents no rate limit; this keeps a busy status-push from overrunning the store.", default = "default_budget");
}

/// The credentials a validated config resolves to.
#[derive(Debug, Clone)]
pub(super) enum Credentials {
    Integration(SecretString),
    Admin { username: String, password: SecretString },
}

fn default_store() -> String {
    "default".into()
}
fn default_budget() -> RateBudget {
    RateBudget::new(300, 60)
}
fn default_website_id() -> i64 {
    1
}
fn default_store_id() -> i64 {
    1
}

impl MagentoConfig {
    /// A config authenticating with an integration token.
    pub fn new(base_url: impl Into<String>, access_token: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            access_token: Some(access_token),
            admin_username: None,
            admin_password: None,
            store_code: default_store(),
            carriers: BTreeMap::new(),
            website_id: default_website_id(),
            store_id: default_store_id(),
            erp_orders: None,
            import: None,
            page_size: default_import_page(),
            stock: None,
            rate_limit: default_budget(),
            retry: RetryPolicy::default(),
            http: HttpSettings::default(),
        }
    }

    /// A config authenticating as an admin user (token from `/V1/integration/admin/token`).
    pub fn with_admin(base_url: impl Into<String>, username: impl Into<String>, password: SecretString) -> Self {
        Self {
            access_token: None,
            admin_username: Some(username.into()),
            admin_password: Some(password),
            ..Self::new(base_url, SecretString::from(String::new()))
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |problem: String| Err(InvalidConfig { vendor: VENDOR, problem });
        self.transport().validate().or_else(bad)?;
        if self.base_url.trim_end_matches('/').ends_with("/rest") || self.base_url.contains("/V1") {
            return bad(format!("base_url: {:?} must stop before /rest (the store's base URL)", self.base_url));
        }
        self.credentials().map_err(|problem| InvalidConfig { vendor: VENDOR, problem })?;
        if self.store_code.is_empty() || !self.store_code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad(format!("store_code: {:?} is not a store code", self.store_code));
        }
        for (name, code) in &self.carriers {
            if carrier_key(name).is_empty() {
                return bad(format!("carriers: {name:?} is not a carrier name"));
            }
            // Magento carrier codes are lowercase identifiers (`ups`, `custom`, `dhl_express`).
            if code.is_empty() || !code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                return bad(format!("carriers.{name}: {code:?} is not a Magento carrier code (e.g. \"custom\")"));
            }
        }
        if self.website_id < 1 {
            return bad(format!("website_id: {} is not a website id (1 is the default website)", self.website_id));
        }
        if self.store_id < 1 {
            return bad(format!("store_id: {} is not a store view id (1 is the default store view)", self.store_id));
        }
        if let Some(sync) = &self.erp_orders {
            validate_erp_orders(sync).or_else(bad)?;
        }
        if let Some(import) = &self.import {
            import.validate().or_else(bad)?;
        }
        if !(1..=300).contains(&self.page_size) {
            return bad(format!("page_size: {} is outside 1-300", self.page_size));
        }
        if let Some(stock) = &self.stock {
            stock.validate().or_else(bad)?;
        }
        Ok(())
    }

    /// The one authentication method configured, or the problem naming the field.
    pub(super) fn credentials(&self) -> Result<Credentials, String> {
        let blank = |s: &SecretString| s.expose_secret().trim().is_empty();
        match (&self.access_token, &self.admin_username, &self.admin_password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err("access_token: set either access_token or admin_username/admin_password, not both".into())
            }
            (Some(t), None, None) if blank(t) => Err("access_token: must not be empty".into()),
            (Some(t), None, None) => Ok(Credentials::Integration(t.clone())),
            (None, Some(u), Some(_)) if u.trim().is_empty() => Err("admin_username: must not be empty".into()),
            (None, Some(_), Some(p)) if blank(p) => Err("admin_password: must not be empty".into()),
            (None, Some(u), Some(p)) => Ok(Credentials::Admin { username: u.trim().to_owned(), password: p.clone() }),
            (None, Some(_), None) => Err("admin_password: required with admin_username".into()),
            (None, None, Some(_)) => Err("admin_username: required with admin_password".into()),
            (None, None, None) => Err("access_token: required (or admin_username and admin_password)".into()),
        }
    }

    /// The configured carrier code for a carrier name, if the `carriers` map has it.
    pub(super) fn mapped_carrier(&self, carrier: &str) -> Option<&str> {
        let key = carrier_key(carrier);
        self.carriers.iter().find(|(name, _)| carrier_key(name) == key).map(|(_, code)| code.as_str())
    }
}

/// A carrier name reduced to what identifies it: `"Royal Mail"`, `"royal_mail"` → `royalmail`.
pub(super) fn carrier_key(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase()
}

/// The ERP-order settings: when enabled, at least one condition set, and each set naming a
/// criterion with something to match (an empty set or list never holds).
fn validate_erp_orders(sync: &crate::model::ErpOrderSync) -> Result<(), String> {
    if sync.enabled && sync.when.is_empty() {
        return Err("erp_orders.when: at least one condition set is required when erp_orders is enabled \
             (e.g. [[connection.settings.erp_orders.when]] statuses = [\"Open\"])"
            .into());
    }
    for (i, set) in sync.when.iter().enumerate() {
        let at = format!("erp_orders.when[{}]", i + 1);
        let lists = [
            ("order_types", &set.order_types),
            ("statuses", &set.statuses),
            ("customer_classes", &set.customer_classes),
        ];
        for (name, list) in lists {
            if list.as_ref().is_some_and(|l| l.iter().all(|v| v.trim().is_empty())) {
                return Err(format!("{at}.{name}: an empty list never holds"));
            }
        }
        if lists.iter().all(|(_, l)| l.is_none()) && set.unpaid_balance_zero != Some(true) {
            return Err(format!(
                "{at}: names no criterion (order_types, statuses, customer_classes or unpaid_balance_zero = true)"
            ));
        }
    }
    Ok(())
}

/// Which storefront orders are imported, read from `[connection.settings.import]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagentoImport {
    /// Order statuses to import (status codes, custom ones included): `["processing"]`.
    #[serde(default = "default_import_statuses")]
    pub statuses: Vec<String>,
    /// Minutes re-read before the latest `updated_at` seen, so an order saved by a transaction
    /// that committed late is not missed. Re-read orders cost nothing (the ledger knows them).
    #[serde(default = "default_overlap")]
    pub overlap_minutes: u32,
    /// Orders created before this UTC date are never imported (a store connected with years of
    /// history). Absent: every order in the statuses.
    #[serde(default)]
    pub created_from: Option<chrono::NaiveDate>,
    /// The order source the mapping file sees (order type, payment and shipping rules).
    #[serde(default = "default_order_source")]
    pub order_source: String,
    /// Skip orders carrying an `ext_order_id`: the direct-route orders Orderbridge creates from the
    /// ERP carry the ERP number there (the ledger's bindings are the first guard; this one holds
    /// even for an order whose binding was never written). Turn off only when an extension of the
    /// store writes `ext_order_id` on its own orders.
    #[serde(default = "default_true")]
    pub skip_external_orders: bool,
    /// Also import the store's customer accounts (new and changed, by `updated_at`) into the ERP
    /// as customers, matched by email, in the mapping's customer class.
    #[serde(default)]
    pub customers: bool,
}

fn default_import_statuses() -> Vec<String> {
    vec!["processing".into()]
}
fn default_import_page() -> u32 {
    100
}
fn default_overlap() -> u32 {
    10
}
fn default_order_source() -> String {
    "Website".into()
}
fn default_true() -> bool {
    true
}

impl Default for MagentoImport {
    fn default() -> Self {
        Self {
            statuses: default_import_statuses(),
            overlap_minutes: default_overlap(),
            created_from: None,
            order_source: default_order_source(),
            skip_external_orders: true,
            customers: false,
        }
    }
}

impl MagentoImport {
    fn validate(&self) -> Result<(), String> {
        if self.statuses.is_empty() || self.statuses.iter().any(|s| !is_status_code(s)) {
            return Err(format!(
                "import.statuses: {:?} must list Magento status codes (lowercase letters, digits, _), e.g. [\"processing\"]",
                self.statuses
            ));
        }
        if self.overlap_minutes > 24 * 60 {
            return Err(format!("import.overlap_minutes: {} is more than a day", self.overlap_minutes));
        }
        if self.order_source.trim().is_empty() {
            return Err("import.order_source: must not be empty".into());
        }
        Ok(())
    }
}

/// Magento status codes are lowercase identifiers (`processing`, `pending_payment`, custom ones).
fn is_status_code(code: &str) -> bool {
    !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

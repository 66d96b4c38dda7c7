//! Magento connection settings, read from the connections TOML file.

use secrecy::SecretString;
use serde::Deserialize;

use super::VENDOR;
use crate::connectors::InvalidConfig;
use crate::http::{validate_base_url, HttpSettings, RateBudget, RetryPolicy};

/// How Orderbridge reaches one Magento 2 store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagentoConfig {
    /// The store's base URL, before `/rest`: `https://shop.example.com`.
    pub base_url: String,
    /// Integration access token (System → Integrations), sent as `Authorization: Bearer`. The
    /// integration needs `Magento_Sales::sales` (ship, comment).
    pub access_token: SecretString,
    /// Store code in the path (`/rest/{store_code}/V1`): `default` or `all`.
    #[serde(default = "default_store")]
    pub store_code: String,
    /// Magento documents no rate limit; this keeps a busy status-push from overrunning the store.
    #[serde(default = "default_budget")]
    pub rate_limit: RateBudget,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub http: HttpSettings,
}

fn default_store() -> String {
    "default".into()
}
fn default_budget() -> RateBudget {
    RateBudget::new(300, 60)
}

impl MagentoConfig {
    pub fn new(base_url: impl Into<String>, access_token: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            access_token,
            store_code: default_store(),
            rate_limit: default_budget(),
            retry: RetryPolicy::default(),
            http: HttpSettings::default(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |problem: String| Err(InvalidConfig { vendor: VENDOR, problem });
        if let Err(p) = validate_base_url("base_url", &self.base_url) {
            return bad(p);
        }
        if self.base_url.trim_end_matches('/').ends_with("/rest") || self.base_url.contains("/V1") {
            return bad(format!("base_url: {:?} must stop before /rest (the store's base URL)", self.base_url));
        }
        if self.store_code.is_empty() || !self.store_code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad(format!("store_code: {:?} is not a store code", self.store_code));
        }
        self.rate_limit.validate("rate_limit").or_else(bad)?;
        self.retry.validate("retry").or_else(bad)
    }
}

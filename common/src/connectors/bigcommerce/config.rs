//! BigCommerce connection settings, read from the connections TOML file.

use secrecy::{ExposeSecret, SecretString};

use super::VENDOR;
use crate::connectors::InvalidConfig;
use crate::http::{HttpSettings, RateBudget, RetryPolicy};

crate::vendor_settings! {
    /// How Orderbridge reaches one BigCommerce store and which orders it pulls.
    pub struct BigCommerceConfig {
        /// Store API base including the store hash: `https://api.bigcommerce.com/stores/{store_hash}`.
        pub base_url: String,
        /// Store-level API account access token (sent as `X-Auth-Token`).
        pub access_token: SecretString,
        /// `status_id` of orders waiting to be imported (11 = Awaiting Fulfillment).
        #[serde(default = "default_new_status")]
        pub new_status_id: i64,
        /// `status_id` set once an order is in the ERP (9 = Awaiting Shipment); must differ from new.
        #[serde(default = "default_downloaded_status")]
        pub downloaded_status_id: i64,
        /// `status_id` set when the import failed; the reason goes to `staff_notes` (12 = Manual
        /// Verification Required).
        #[serde(default = "default_error_status")]
        pub import_error_status_id: i64,
        /// `limit` of list and products pages, 1-250.
        #[serde(default = "default_page_size")]
        pub page_size: u32,
        /// Source name of store-front orders (orders with an `external_source` use that name).
        #[serde(default = "default_source")]
        pub store_source_name: String,
        /// Secret of the store's order webhooks (`store/order/created`, `statusUpdated`): sent
        /// by BigCommerce in the `X-Orderbridge-Hook-Key` header `orderbridge-admin order-hooks`
        /// registers, and checked before anything is enqueued. One, or a list while rotating.
        /// Unset: no webhook route for this connection, and orders arrive by the scheduled pull.
        #[serde(default, deserialize_with = "crate::connections::one_or_many")]
        pub webhook_secret: Vec<SecretString>,
    }
    rate_limit("The store's quota: the Standard/Plus plan allows about 150 requests per 30 s (§3.7).", default = "default_budget");
}

fn default_new_status() -> i64 {
    11
}
fn default_downloaded_status() -> i64 {
    9
}
fn default_error_status() -> i64 {
    12
}
fn default_page_size() -> u32 {
    50
}
fn default_source() -> String {
    "Website".into()
}
fn default_budget() -> RateBudget {
    RateBudget::new(150, 30)
}

impl BigCommerceConfig {
    /// A config with defaults for everything but the URL and token.
    pub fn new(base_url: impl Into<String>, access_token: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            access_token,
            new_status_id: default_new_status(),
            downloaded_status_id: default_downloaded_status(),
            import_error_status_id: default_error_status(),
            page_size: default_page_size(),
            store_source_name: default_source(),
            webhook_secret: Vec::new(),
            rate_limit: default_budget(),
            retry: RetryPolicy::default(),
            http: HttpSettings::default(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |problem: String| Err(InvalidConfig { vendor: VENDOR, problem });
        self.transport().validate().or_else(bad)?;
        if !self.base_url.contains("/stores/") {
            return bad(format!("base_url: {:?} must end with /stores/{{store_hash}}", self.base_url));
        }
        for (field, id) in [
            ("new_status_id", self.new_status_id),
            ("downloaded_status_id", self.downloaded_status_id),
            ("import_error_status_id", self.import_error_status_id),
        ] {
            if !(0..=14).contains(&id) {
                return bad(format!("{field}: {id} is not a BigCommerce status id (0-14)"));
            }
        }
        if self.downloaded_status_id == self.new_status_id || self.import_error_status_id == self.new_status_id {
            return bad("downloaded_status_id / import_error_status_id: must differ from new_status_id, or orders are pulled again".into());
        }
        for (i, secret) in self.webhook_secret.iter().enumerate() {
            if secret.expose_secret().trim().len() < crate::connections::MIN_WEBHOOK_SECRET {
                return bad(format!(
                    "webhook_secret[{i}]: use at least {} random characters",
                    crate::connections::MIN_WEBHOOK_SECRET
                ));
            }
        }
        if !(1..=250).contains(&self.page_size) {
            return bad(format!("page_size: {} is outside 1-250", self.page_size));
        }
        Ok(())
    }
}

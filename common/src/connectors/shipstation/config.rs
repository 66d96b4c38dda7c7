//! ShipStation connection settings, read from the connections TOML file (`[shipstation.settings]`).

use secrecy::{ExposeSecret, SecretString};

use super::VENDOR;
use crate::connectors::InvalidConfig;
use crate::http::{HttpSettings, RateBudget, RetryPolicy};

crate::vendor_settings! {
    /// How Orderbridge reaches one ShipStation account.
    pub struct ShipStationConfig {
        /// API base: `https://ssapi.shipstation.com`. Webhook `resource_url`s must be on this host.
        #[serde(default = "default_base_url")]
        pub base_url: String,
        /// API key (the Basic-auth user name). Secret too: with the secret it is the account.
        pub api_key: SecretString,
        /// API secret (the Basic-auth password).
        pub api_secret: SecretString,
        /// IANA zone ShipStation's offset-less times are in (§4.7: Pacific).
        #[serde(default = "default_time_zone")]
        pub time_zone: String,
        /// `pageSize` of shipment listings, 1-500 (§4.3: at most 500; ShipStation's default is 100).
        #[serde(default = "default_page_size")]
        pub page_size: u32,
    }
    rate_limit("40 requests per minute per key pair (§4.0).", default = "default_budget");
}

/// ShipStation's API host.
pub const DEFAULT_BASE_URL: &str = "https://ssapi.shipstation.com";

fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}
fn default_time_zone() -> String {
    "America/Los_Angeles".into()
}
fn default_page_size() -> u32 {
    100
}
fn default_budget() -> RateBudget {
    RateBudget::new(40, 60)
}

impl ShipStationConfig {
    /// A config with defaults for everything but the base URL and credentials.
    pub fn new(base_url: impl Into<String>, api_key: SecretString, api_secret: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            api_secret,
            time_zone: default_time_zone(),
            page_size: default_page_size(),
            rate_limit: default_budget(),
            retry: RetryPolicy::default(),
            http: HttpSettings::default(),
        }
    }

    /// The configured zone; `validate` refuses names chrono-tz does not know.
    pub fn tz(&self) -> Result<chrono_tz::Tz, InvalidConfig> {
        self.time_zone.parse().map_err(|_| InvalidConfig {
            vendor: VENDOR,
            problem: format!("time_zone: {:?} is not an IANA time zone name", self.time_zone),
        })
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |problem: String| Err(InvalidConfig { vendor: VENDOR, problem });
        self.transport().validate().or_else(bad)?;
        if self.api_key.expose_secret().trim().is_empty() {
            return bad("api_key: must not be empty".into());
        }
        // Basic auth joins the two with a colon: one in the key would shift it into the secret.
        if self.api_key.expose_secret().contains(':') {
            return bad("api_key: must not contain ':'".into());
        }
        if self.api_secret.expose_secret().trim().is_empty() {
            return bad("api_secret: must not be empty".into());
        }
        self.tz()?;
        if !(1..=500).contains(&self.page_size) {
            return bad(format!("page_size: {} is outside 1-500", self.page_size));
        }
        Ok(())
    }
}

//! ShipStation connection settings, read from the connections TOML file (`[shipstation.settings]`).

use secrecy::SecretString;
use serde::Deserialize;

use super::VENDOR;
use crate::connectors::InvalidConfig;
use crate::http::{validate_base_url, HttpSettings, RateBudget, RetryPolicy};

/// How Orderbridge reaches one ShipStation account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipStationConfig {
    /// API base: `https://ssapi.shipstation.com`. Webhook `resource_url`s must be on this host.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// API key (the Basic-auth user name).
    pub api_key: String,
    /// API secret (the Basic-auth password).
    pub api_secret: SecretString,
    /// IANA zone ShipStation's offset-less times are in (§4.7: Pacific).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// `pageSize` of shipment listings, 1-500.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// 40 requests per minute per key pair (§4.0).
    #[serde(default = "default_budget")]
    pub rate_limit: RateBudget,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub http: HttpSettings,
}

fn default_base_url() -> String {
    "https://ssapi.shipstation.com".into()
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
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>, api_secret: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            api_secret,
            time_zone: default_time_zone(),
            page_size: default_page_size(),
            rate_limit: default_budget(),
            retry: RetryPolicy::default(),
            http: HttpSettings::default(),
        }
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::America::Los_Angeles)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |problem: String| Err(InvalidConfig { vendor: VENDOR, problem });
        if let Err(p) = validate_base_url("base_url", &self.base_url) {
            return bad(p);
        }
        if self.api_key.trim().is_empty() {
            return bad("api_key: must not be empty".into());
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return bad(format!("time_zone: {:?} is not an IANA time zone", self.time_zone));
        }
        if !(1..=500).contains(&self.page_size) {
            return bad(format!("page_size: {} is outside 1-500", self.page_size));
        }
        self.rate_limit.validate("rate_limit").or_else(bad)?;
        self.retry.validate("retry").or_else(bad)
    }
}

//! Sellercloud connection settings, read from the connections TOML file.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use secrecy::SecretString;

use super::VENDOR;
use crate::connectors::InvalidConfig;
use crate::http::{HttpSettings, RateBudget, RetryPolicy};
use crate::model::Currency;

/// Order status names Sellercloud documents, with their codes (§1.9).
pub const ORDER_STATUSES: &[(&str, i64)] = &[
    ("Cancelled", -1),
    ("ShoppingCart", 1),
    ("InProcess", 2),
    ("Completed", 3),
    ("ProblemOrder", 100),
    ("OnHold", 200),
    ("Quote", 300),
    ("Void", 999),
];

/// `DropShipStatusType` names Sellercloud documents, with their codes (§1.9); the Get Orders
/// filter `model.dropshipStatus` takes the names (a `List<string>`, vendor-apis-erp-out §E.4).
pub const DROPSHIP_STATUSES: &[(&str, i64)] = &[
    ("None", 0),
    ("Pending", 1),
    ("Requested", 2),
    ("Acknowledged", 3),
    ("Processed", 4),
    ("PartialProcessed", 5),
    ("Cancelled", 6),
    ("Invalid", 7),
];

/// The documented spelling of a dropship status name (case-insensitive; `Canceled` accepted).
pub fn dropship_status_name(name: &str) -> Option<&'static str> {
    let name = if name.trim().eq_ignore_ascii_case("Canceled") { "Cancelled" } else { name.trim() };
    DROPSHIP_STATUSES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(n, _)| *n)
}

/// The status code of a documented status name (case-insensitive; `Canceled` accepted).
pub fn status_code(name: &str) -> Option<i64> {
    let name = if name.eq_ignore_ascii_case("Canceled") { "Cancelled" } else { name };
    ORDER_STATUSES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| *c)
}

crate::vendor_settings! {
    /// How Orderbridge reaches one Sellercloud team and which orders it pulls.
    pub struct SellercloudConfig {
        /// REST endpoint of the team (from `server-by-team`), without `/api`: `https://xx.api.sellercloud.com`.
        pub base_url: String,
        /// API user (a dedicated Sellercloud employee for the integration, §1.2).
        pub username: String,
        /// API user password.
        pub password: SecretString,
        /// Sellercloud companies to pull (`model.companyID`); empty pulls every company.
        #[serde(default)]
        pub company_ids: Vec<i64>,
        /// Statuses to pull (`model.orderStatus`), by documented name.
        #[serde(default = "default_statuses")]
        pub order_statuses: Vec<String>,
        /// Dropship statuses to pull (`model.dropshipStatus`), by documented name (None, Pending,
        /// Requested, Acknowledged, Processed, PartialProcessed, Cancelled, Invalid); empty pulls
        /// every dropship status.
        #[serde(default)]
        pub dropship_statuses: Vec<String>,
        /// Only orders created in the last this many days (`model.createdOnFrom`, in `time_zone`).
        #[serde(default = "default_max_age_days")]
        pub max_age_days: u32,
        /// IANA time zone of the account: Sellercloud datetimes carry no offset (§6.1).
        #[serde(default = "default_time_zone")]
        pub time_zone: String,
        /// `model.pageSize`, 1-50.
        #[serde(default = "default_page_size")]
        pub page_size: u32,
        /// Currency the amounts are in; Sellercloud converts international orders to USD (§1.0.9).
        #[serde(default = "default_currency")]
        pub currency: Currency,
        /// OrderSource code → source name, added to (and overriding) the built-in table.
        #[serde(default)]
        pub order_sources: BTreeMap<i64, String>,
        /// Status set on orders whose import failed (e.g. `ProblemOrder`); none leaves the status.
        #[serde(default)]
        pub failed_status: Option<String>,
        /// Read the order's notes for customer instructions (one more call per order).
        #[serde(default = "default_true")]
        pub read_customer_instructions: bool,
        /// Add a General note "Imported into the ERP as …" to each imported order (one more call
        /// per order; off by default: the ERP order number is in the connector log, and the ERP
        /// order carries the Sellercloud order's Import ID).
        #[serde(default)]
        pub erp_number_note: bool,
        /// `[connection.settings.profit_and_loss]`: charges of imported orders read in bulk from
        /// `Orders/ProfitAndLoss` and written to the ERP order's user-defined fields.
        #[serde(default)]
        pub profit_and_loss: Option<crate::model::ChargeSync>,
    }
    rate_limit("The account's budget: 10,800 requests per hour per IP (§1.4).", default = "default_budget");
}

fn default_statuses() -> Vec<String> {
    vec!["InProcess".into()]
}
fn default_max_age_days() -> u32 {
    30
}
fn default_time_zone() -> String {
    "America/New_York".into()
}
fn default_page_size() -> u32 {
    50
}
fn default_currency() -> Currency {
    Currency::USD
}
fn default_true() -> bool {
    true
}
fn default_budget() -> RateBudget {
    RateBudget::new(10_800, 3_600)
}

/// Order-level money fields of `Orders/ProfitAndLoss` (vendor-apis-erp-out §E.1; `Comission` is
/// Sellercloud's spelling). Each is also answered in USD as `<name>Usd`.
pub const PNL_CHARGES: &[&str] = &[
    "ItemCost",
    "PostingFee",
    "Comission",
    "TransportationFee",
    "TransactionFee",
    "ShippingCost",
    "FbaOrderHandling",
    "FbaPickAndPack",
    "FbaShippingChargeback",
    "FbaGiftWrapChargeback",
    "FbaWeightHandling",
    "Tax",
    "Promotion",
    "Rebates",
    "OrderCost",
    "Payments",
    "Adjustments",
    "DropShipFee",
    "ShippingClaim",
    "ProfitLoss",
    "ProfitLossForParentOrder",
];

/// Orders per `Orders/ProfitAndLoss` request. Sellercloud documents no limit; 100 keeps a request
/// and its answer small (an assumption, README "Sellercloud profit & loss").
pub const PNL_MAX_ORDERS: usize = 100;

/// A profit & loss charge name as Sellercloud spells it (case-insensitive; `Commission` and the
/// `...Usd` variants accepted).
pub fn charge_name(name: &str) -> Option<String> {
    let name = name.trim();
    let (base, usd) = match name.len().checked_sub(3).filter(|&i| name.is_char_boundary(i)) {
        Some(i) if name[i..].eq_ignore_ascii_case("Usd") => (&name[..i], true),
        _ => (name, false),
    };
    let base = if base.eq_ignore_ascii_case("Commission") { "Comission" } else { base };
    PNL_CHARGES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(base))
        .map(|c| if usd { format!("{c}Usd") } else { (*c).to_owned() })
}

/// The built-in OrderSource table (§1.10); names are what mapping files key order types on.
pub const DEFAULT_ORDER_SOURCES: &[(i64, &str)] = &[
    (0, "Local Store"),
    (1, "eBay"),
    (2, "eBay"),
    (3, "Yahoo"),
    (4, "Amazon"),
    (6, "Website"),
    (7, "Buy.com"),
    (12, "Newegg"),
    (15, "Magento"),
    (20, "Amazon FBA"),
    (21, "Wholesale"),
    (22, "Overstock"),
    (23, "Newegg"),
    (24, "Etsy"),
    (27, "Wayfair"),
    (42, "Walmart"),
    (50, "Walmart"),
    (56, "Jet"),
    (62, "Target"),
    (64, "Reverb"),
    (68, "Houzz"),
    (70, "Best Buy"),
];

impl SellercloudConfig {
    /// A config with defaults for everything but the URL and credentials.
    pub fn new(base_url: impl Into<String>, username: impl Into<String>, password: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            username: username.into(),
            password,
            company_ids: Vec::new(),
            order_statuses: default_statuses(),
            dropship_statuses: Vec::new(),
            max_age_days: default_max_age_days(),
            time_zone: default_time_zone(),
            page_size: default_page_size(),
            currency: default_currency(),
            order_sources: BTreeMap::new(),
            failed_status: None,
            read_customer_instructions: true,
            erp_number_note: false,
            profit_and_loss: None,
            rate_limit: default_budget(),
            retry: RetryPolicy::default(),
            http: HttpSettings::default(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |problem: String| Err(InvalidConfig { vendor: VENDOR, problem });
        self.transport().validate().or_else(bad)?;
        if self.username.trim().is_empty() {
            return bad("username: must not be empty".into());
        }
        if !(1..=50).contains(&self.page_size) {
            return bad(format!("page_size: {} is outside 1-50 (Sellercloud's maximum is 50)", self.page_size));
        }
        if self.max_age_days == 0 {
            return bad("max_age_days: must be at least 1".into());
        }
        if let Some(s) = self.order_statuses.iter().find(|s| status_code(s).is_none()) {
            return bad(format!("order_statuses: {s:?} is not a Sellercloud status (InProcess, OnHold, ...)"));
        }
        if let Some(s) = self.dropship_statuses.iter().find(|s| dropship_status_name(s).is_none()) {
            return bad(format!(
                "dropship_statuses: {s:?} is not a Sellercloud dropship status (None, Pending, Requested, Acknowledged, Processed, PartialProcessed, Cancelled, Invalid)"
            ));
        }
        if let Some(s) = self.failed_status.as_ref().filter(|s| status_code(s).is_none()) {
            return bad(format!("failed_status: {s:?} is not a Sellercloud status (e.g. ProblemOrder)"));
        }
        if self.time_zone.parse::<Tz>().is_err() {
            return bad(format!("time_zone: {:?} is not an IANA time zone such as America/New_York", self.time_zone));
        }
        if let Some(id) = self.company_ids.iter().find(|id| **id <= 0) {
            return bad(format!("company_ids: {id} is not a company id"));
        }
        if let Some(pnl) = &self.profit_and_loss {
            pnl.validate().or_else(bad)?;
            if let Some(name) = pnl.fields.keys().find(|n| charge_name(n).is_none()) {
                return bad(format!(
                    "profit_and_loss.fields.{name}: not a Sellercloud profit & loss charge ({})",
                    PNL_CHARGES.join(", ")
                ));
            }
            if pnl.orders_per_call > PNL_MAX_ORDERS {
                return bad(format!(
                    "profit_and_loss.orders_per_call: {} is more than {PNL_MAX_ORDERS} orders per request",
                    pnl.orders_per_call
                ));
            }
        }
        Ok(())
    }

    /// The account's time zone (validated).
    pub fn tz(&self) -> Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::America::New_York)
    }

    /// The source name of an OrderSource code: configured, built in, or `OrderSource {code}`.
    pub fn source_name(&self, code: i64) -> String {
        self.order_sources
            .get(&code)
            .cloned()
            .or_else(|| DEFAULT_ORDER_SOURCES.iter().find(|(c, _)| *c == code).map(|(_, n)| (*n).to_owned()))
            .unwrap_or_else(|| format!("OrderSource {code}"))
    }
}

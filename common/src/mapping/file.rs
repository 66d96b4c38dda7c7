//! The mapping file: what a user writes (TOML, kept in their repo), parsed and validated with
//! errors that name the file, the line and the field.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;

use crate::model::IdentifierKind;

/// A mapping file that cannot be used, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingFileError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    #[error("{file}:{line}: {field}: {message}")]
    Invalid { file: String, line: usize, field: String, message: String },
}

impl crate::error::Classify for MappingFileError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Permanent
    }
}

/// Where an order's ERP order type comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderTypes {
    /// The order type for every source not listed in `by_source` (e.g. "SO").
    pub default: Option<Spanned<String>>,
    /// Order source name (as the connection reports it: "Amazon", "eBay", ...) → order type.
    #[serde(default)]
    pub by_source: BTreeMap<String, Spanned<String>>,
}

/// A payment method target: just the ERP method, or the method with its cash account.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PaymentTarget {
    Method(String),
    Detailed {
        method: String,
        #[serde(default)]
        cash_account: Option<String>,
    },
}

impl PaymentTarget {
    pub fn method(&self) -> &str {
        match self {
            Self::Method(m) | Self::Detailed { method: m, .. } => m,
        }
    }

    pub fn cash_account(&self) -> Option<&str> {
        match self {
            Self::Method(_) => None,
            Self::Detailed { cash_account, .. } => cash_account.as_deref(),
        }
    }
}

/// How customers are found or created.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRules {
    /// Prefix of the CustomerID created for a buyer (e.g. "SC" → "SC12345"); 1-6 letters or digits.
    pub id_prefix: Spanned<String>,
    /// Create a customer when no match is found; if false the order fails with a named reason.
    #[serde(default = "yes")]
    pub create_missing: bool,
    /// Customer class for created customers.
    #[serde(default)]
    pub customer_class: Option<String>,
    /// Customer used when the order carries neither a channel customer id nor an email.
    #[serde(default)]
    pub guest_customer: Option<Spanned<String>>,
    /// Order source → one ERP customer for all its orders (e.g. `Amazon = "AMAZON"`), as
    /// marketplace connectors do: the marketplace owns its buyers and relays their emails, so a
    /// customer per buyer would be an ERP record nobody can contact. The buyer's name and
    /// addresses stay on the sales order (bill-to and ship-to overrides); no customer is looked
    /// up or created, so such an order costs one ERP call.
    #[serde(default)]
    pub by_source: BTreeMap<String, Spanned<String>>,
}

fn yes() -> bool {
    true
}

/// How order lines are matched to ERP items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRules {
    /// Identifiers tried in order until one resolves to an ERP item.
    pub identifier_priority: Spanned<Vec<IdentifierKind>>,
    /// Channel SKU → ERP inventory id, applied before any lookup.
    #[serde(default)]
    pub substitutions: BTreeMap<String, Spanned<String>>,
    /// Warehouse for every line, if the ERP should not choose.
    #[serde(default)]
    pub warehouse: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRules {
    /// ERP tax id for the channel's tax when no named tax matches.
    pub tax_id: Spanned<String>,
    /// Channel tax name → ERP tax id.
    #[serde(default)]
    pub by_name: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateRules {
    /// The merchant's time zone (IANA name): the order date is the business day there.
    pub time_zone: Spanned<String>,
}

/// What a channel without partial shipments (Sellercloud) gets when only part of an order shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialShipmentPolicy {
    /// Hold the tracking until the rest ships, then push every package at once.
    #[default]
    Wait,
    /// Push at the first shipment (the channel shows the order shipped); later tracking follows as notes.
    MarkShipped,
}

/// A carrier as the channel should see it: just the name, or the name with a service.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CarrierTarget {
    Carrier(String),
    Detailed {
        carrier: String,
        #[serde(default)]
        service: Option<String>,
    },
}

impl CarrierTarget {
    pub fn carrier(&self) -> &str {
        match self {
            Self::Carrier(c) | Self::Detailed { carrier: c, .. } => c,
        }
    }

    pub fn service(&self) -> Option<&str> {
        match self {
            Self::Carrier(_) => None,
            Self::Detailed { service, .. } => service.as_deref(),
        }
    }
}

/// Shipments and statuses pushed back to the channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPushRules {
    /// ERP order status as the ERP shows it ("Back Order", "Completed") → channel status. A status
    /// not listed pushes nothing.
    #[serde(default)]
    pub statuses: BTreeMap<String, Spanned<String>>,
    /// Only read for channels that cannot take partial shipments.
    #[serde(default)]
    pub partial_shipments: PartialShipmentPolicy,
    /// Carrier as the ERP or shipping tool names it (ShipVia "UPSGROUND", ShipStation "ups") →
    /// as the channel knows it. Carriers not listed are sent as they are.
    #[serde(default)]
    pub carriers: BTreeMap<String, Spanned<CarrierTarget>>,
    /// Copy the ERP order's note to the channel as a note when it changes.
    #[serde(default = "yes")]
    pub sync_notes: bool,
}

impl Default for StatusPushRules {
    fn default() -> Self {
        Self {
            statuses: BTreeMap::new(),
            partial_shipments: PartialShipmentPolicy::default(),
            carriers: BTreeMap::new(),
            sync_notes: true,
        }
    }
}

/// A storefront shipping method: its `carrier_method` code and the title shown with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodTarget {
    /// `carrier_method`, e.g. `flatrate_flatrate`, `tablerate_bestway`, `freeshipping_freeshipping`.
    pub method: String,
    /// As the storefront shows it, e.g. "Flat Rate - Fixed".
    pub title: String,
}

/// ERP-originated orders sent to this storefront (`[erp_orders]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpOrderRules {
    /// ERP Ship Via → storefront shipping method and title.
    #[serde(default)]
    pub ship_via: BTreeMap<String, Spanned<ShippingMethodTarget>>,
    /// ERP payment method → storefront payment method code (`checkmo`, `purchaseorder`).
    #[serde(default)]
    pub payment_methods: BTreeMap<String, Spanned<String>>,
    /// For orders without a payment method, or with one not listed.
    #[serde(default)]
    pub default_payment_method: Option<Spanned<String>>,
    /// ERP item id → storefront SKU, where they differ (else the item id is the SKU).
    #[serde(default)]
    pub skus: BTreeMap<String, Spanned<String>>,
}

/// The mapping file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    pub order_types: OrderTypes,
    /// Channel payment method → ERP payment method.
    #[serde(default)]
    pub payment_methods: BTreeMap<String, Spanned<PaymentTarget>>,
    /// Channel shipping service → ERP ShipVia.
    #[serde(default)]
    pub shipping_methods: BTreeMap<String, Spanned<String>>,
    pub customers: CustomerRules,
    pub items: ItemRules,
    pub taxes: TaxRules,
    /// Tag ("prime", "rush", "shipment_priority", or a custom tag) → ERP attribute / custom field.
    #[serde(default)]
    pub tags: BTreeMap<String, Spanned<String>>,
    pub dates: DateRules,
    #[serde(default)]
    pub status_push: StatusPushRules,
    /// Orders entered in the ERP and sent to this storefront.
    #[serde(default)]
    pub erp_orders: ErpOrderRules,
    /// Per-field templates for the ERP order (`[fields.header]`, `[fields.bill_to]`, ...).
    #[serde(default)]
    pub fields: super::FieldTemplates,
}

/// A validated mapping, with the file it came from for error messages.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub path: String,
    pub version: u64,
    pub file: MappingFile,
    pub time_zone: chrono_tz::Tz,
}

/// Line (1-based) and column of a byte offset.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A code the ERP stores in a selector field: non-empty, at most 30 characters, no control chars.
fn check_code(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err("must not be empty".into())
    } else if value.len() > 30 {
        Err(format!("{value:?} is longer than the 30 characters the ERP allows"))
    } else if value.chars().any(char::is_control) {
        Err(format!("{value:?} contains control characters"))
    } else {
        Ok(())
    }
}

impl Mapping {
    /// Parses and validates a mapping file. Every error names `path`, the line and the field.
    pub fn parse(path: &str, version: u64, source: &str) -> Result<Self, MappingFileError> {
        let file: MappingFile = toml::from_str(source).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |span| line_col(source, span.start));
            MappingFileError::Syntax { file: path.to_owned(), line, column, message: e.message().to_owned() }
        })?;
        let invalid = |span: std::ops::Range<usize>, field: String, message: String| MappingFileError::Invalid {
            file: path.to_owned(),
            line: line_col(source, span.start).0,
            field,
            message,
        };
        let check = |spanned: &Spanned<String>, field: String| {
            check_code(spanned.get_ref()).map_err(|m| invalid(spanned.span(), field, m))
        };

        if file.order_types.default.is_none() && file.order_types.by_source.is_empty() {
            return Err(invalid(
                0..0,
                "order_types".into(),
                "set `default` or at least one entry in `by_source`".into(),
            ));
        }
        if let Some(default) = &file.order_types.default {
            check(default, "order_types.default".into())?;
            if default.get_ref().len() > 2 {
                return Err(invalid(
                    default.span(),
                    "order_types.default".into(),
                    "an order type has 2 characters".into(),
                ));
            }
        }
        for (source_name, order_type) in &file.order_types.by_source {
            check(order_type, format!("order_types.by_source.{source_name:?}"))?;
        }
        for (channel, target) in &file.payment_methods {
            check_code(target.get_ref().method())
                .map_err(|m| invalid(target.span(), format!("payment_methods.{channel:?}"), m))?;
        }
        for (channel, ship_via) in &file.shipping_methods {
            check(ship_via, format!("shipping_methods.{channel:?}"))?;
        }
        let prefix = &file.customers.id_prefix;
        if prefix.get_ref().is_empty()
            || prefix.get_ref().len() > 6
            || !prefix.get_ref().chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(invalid(prefix.span(), "customers.id_prefix".into(), "use 1-6 letters or digits".into()));
        }
        if let Some(guest) = &file.customers.guest_customer {
            check(guest, "customers.guest_customer".into())?;
        }
        for (source_name, customer) in &file.customers.by_source {
            check(customer, format!("customers.by_source.{source_name:?}"))?;
        }
        let priority = &file.items.identifier_priority;
        let unique: BTreeSet<String> = priority.get_ref().iter().map(|k| format!("{k:?}")).collect();
        if priority.get_ref().is_empty() || unique.len() != priority.get_ref().len() {
            return Err(invalid(
                priority.span(),
                "items.identifier_priority".into(),
                "list each of sku, upc, ean, mpn, asin at most once, at least one".into(),
            ));
        }
        for (sku, target) in &file.items.substitutions {
            check(target, format!("items.substitutions.{sku:?}"))?;
        }
        check(&file.taxes.tax_id, "taxes.tax_id".into())?;
        for (name, tax) in &file.taxes.by_name {
            check(tax, format!("taxes.by_name.{name:?}"))?;
        }
        for (tag, field) in &file.tags {
            check(field, format!("tags.{tag:?}"))?;
        }
        for (erp_status, channel_status) in &file.status_push.statuses {
            let value = channel_status.get_ref();
            if value.trim().is_empty() || value.len() > 50 {
                return Err(invalid(
                    channel_status.span(),
                    format!("status_push.statuses.{erp_status:?}"),
                    "a channel status is 1-50 characters; leave the ERP status out to push nothing".into(),
                ));
            }
        }
        for (source, target) in &file.status_push.carriers {
            if target.get_ref().carrier().trim().is_empty() {
                return Err(invalid(
                    target.span(),
                    format!("status_push.carriers.{source:?}"),
                    "the carrier must not be empty".into(),
                ));
            }
        }
        for (ship_via, target) in &file.erp_orders.ship_via {
            let t = target.get_ref();
            let field = format!("erp_orders.ship_via.{ship_via:?}");
            let method_ok = t.method.split_once('_').is_some_and(|(c, m)| !c.is_empty() && !m.is_empty());
            if !method_ok || t.method.len() > 120 || t.method.chars().any(char::is_whitespace) {
                return Err(invalid(
                    target.span(),
                    field,
                    format!("method {:?} is not a carrier_method code such as \"flatrate_flatrate\"", t.method),
                ));
            }
            if t.title.trim().is_empty() || t.title.len() > 255 {
                return Err(invalid(target.span(), field, "title: 1-255 characters".into()));
            }
        }
        let payment_code = |value: &Spanned<String>, field: String| {
            let v = value.get_ref();
            if v.is_empty() || v.len() > 32 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                Err(invalid(value.span(), field, format!("{v:?} is not a payment method code (letters, digits, _)")))
            } else {
                Ok(())
            }
        };
        for (erp, code) in &file.erp_orders.payment_methods {
            payment_code(code, format!("erp_orders.payment_methods.{erp:?}"))?;
        }
        if let Some(code) = &file.erp_orders.default_payment_method {
            payment_code(code, "erp_orders.default_payment_method".into())?;
        }
        for (item, sku) in &file.erp_orders.skus {
            if sku.get_ref().trim().is_empty() || sku.get_ref().len() > 64 {
                return Err(invalid(
                    sku.span(),
                    format!("erp_orders.skus.{item:?}"),
                    "a SKU is 1-64 characters".into(),
                ));
            }
        }
        file.fields.validate(&file).map_err(|issue| invalid(issue.span, issue.field, issue.message))?;
        let tz_name = &file.dates.time_zone;
        let time_zone: chrono_tz::Tz = tz_name.get_ref().parse().map_err(|_| {
            invalid(
                tz_name.span(),
                "dates.time_zone".into(),
                format!("{:?} is not an IANA time zone", tz_name.get_ref()),
            )
        })?;
        Ok(Self { path: path.to_owned(), version, file, time_zone })
    }
}

/// A complete mapping file, used by tests here and in `apply`.
#[cfg(test)]
pub(crate) const EXAMPLE_FOR_TESTS: &str = r#"
[order_types]
default = "SO"
by_source = { Walmart = "WM" }

[payment_methods]
"Amazon Pay" = { method = "AMAZONPAY", cash_account = "10250" }
PayPal = "PAYPAL"

[shipping_methods]
Standard = "UPSGROUND"

[customers]
id_prefix = "SC"
guest_customer = "GUEST"

[items]
identifier_priority = ["sku", "upc", "ean"]
substitutions = { "OLD-SKU" = "NEW-SKU" }

[taxes]
tax_id = "CHANNELTAX"

[tags]
prime = "PRIME"

[dates]
time_zone = "America/New_York"

[status_push]
statuses = { "Completed" = "ShippingComplete", "Back Order" = "InProcess" }
partial_shipments = "mark_shipped"
carriers = { UPSGROUND = { carrier = "UPS", service = "Ground" }, ups = "UPS" }

[erp_orders]
ship_via = { UPSGROUND = { method = "flatrate_flatrate", title = "Flat Rate - Fixed" }, LOCAL = { method = "freeshipping_freeshipping", title = "Free Shipping - Free" } }
payment_methods = { CHECK = "checkmo" }
default_payment_method = "checkmo"
skus = { "WATER-OLD" = "WATER2809" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = super::EXAMPLE_FOR_TESTS;

    #[test]
    fn a_complete_file_parses() {
        let m = Mapping::parse("mappings/sc.toml", 1, EXAMPLE).unwrap();
        assert_eq!(m.time_zone, chrono_tz::America::New_York);
        assert_eq!(m.file.payment_methods["Amazon Pay"].get_ref().cash_account(), Some("10250"));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let broken = EXAMPLE.replace("Standard = \"UPSGROUND\"", "Standard = UPSGROUND");
        let err = Mapping::parse("mappings/sc.toml", 1, &broken).unwrap_err();
        let line = broken.lines().position(|l| l.starts_with("Standard")).unwrap() + 1;
        assert!(err.to_string().starts_with(&format!("mappings/sc.toml:{line}:")), "{err}");
    }

    #[test]
    fn invalid_values_name_file_line_and_field() {
        let bad = EXAMPLE.replace("time_zone = \"America/New_York\"", "time_zone = \"Mars/Olympus\"");
        let err = Mapping::parse("m.toml", 1, &bad).unwrap_err();
        let line = bad.lines().position(|l| l.starts_with("time_zone")).unwrap() + 1;
        assert_eq!(
            err,
            MappingFileError::Invalid {
                file: "m.toml".into(),
                line,
                field: "dates.time_zone".into(),
                message: "\"Mars/Olympus\" is not an IANA time zone".into()
            }
        );
        let empty = EXAMPLE.replace("Standard = \"UPSGROUND\"", "Standard = \"\"");
        let err = Mapping::parse("m.toml", 1, &empty).unwrap_err().to_string();
        assert!(err.contains("shipping_methods.\"Standard\": must not be empty"), "{err}");
    }

    #[test]
    fn status_push_rules_parse_and_default_to_waiting_for_the_whole_order() {
        let m = Mapping::parse("m.toml", 1, EXAMPLE).unwrap();
        let rules = &m.file.status_push;
        assert_eq!(rules.statuses["Back Order"].get_ref(), "InProcess");
        assert_eq!(rules.partial_shipments, PartialShipmentPolicy::MarkShipped);
        assert_eq!(rules.carriers["UPSGROUND"].get_ref().service(), Some("Ground"));
        assert_eq!(rules.carriers["ups"].get_ref().carrier(), "UPS");
        let start = EXAMPLE.find("[status_push]").unwrap();
        let without = Mapping::parse("m.toml", 1, &EXAMPLE[..start]).unwrap();
        assert_eq!(without.file.status_push.partial_shipments, PartialShipmentPolicy::Wait);
        assert!(without.file.status_push.statuses.is_empty() && without.file.status_push.sync_notes);
    }

    #[test]
    fn status_push_mistakes_name_line_and_field() {
        let empty = EXAMPLE.replace(r#""Back Order" = "InProcess""#, r#""Back Order" = """#);
        let err = Mapping::parse("m.toml", 1, &empty).unwrap_err().to_string();
        let line = empty.lines().position(|l| l.starts_with("statuses")).unwrap() + 1;
        assert!(err.starts_with(&format!("m.toml:{line}: status_push.statuses.\"Back Order\"")), "{err}");
        let typo = EXAMPLE.replace("partial_shipments = \"mark_shipped\"", "partial_shipments = \"later\"");
        assert!(Mapping::parse("m.toml", 1, &typo).unwrap_err().to_string().contains("later"));
    }

    #[test]
    fn erp_order_rules_parse_and_mistakes_name_line_and_field() {
        let m = Mapping::parse("m.toml", 1, EXAMPLE).unwrap();
        let rules = &m.file.erp_orders;
        assert_eq!(rules.ship_via["LOCAL"].get_ref().method, "freeshipping_freeshipping");
        assert_eq!(rules.ship_via["UPSGROUND"].get_ref().title, "Flat Rate - Fixed");
        assert_eq!(rules.default_payment_method.as_ref().unwrap().get_ref(), "checkmo");
        let bad = EXAMPLE.replace(r#"method = "flatrate_flatrate""#, r#"method = "flatrate""#);
        let err = Mapping::parse("m.toml", 1, &bad).unwrap_err().to_string();
        let line = bad.lines().position(|l| l.starts_with("ship_via")).unwrap() + 1;
        assert!(err.starts_with(&format!("m.toml:{line}: erp_orders.ship_via.\"UPSGROUND\"")), "{err}");
        let bad = EXAMPLE.replace(r#"CHECK = "checkmo""#, r#"CHECK = "check mo""#);
        assert!(Mapping::parse("m.toml", 1, &bad).unwrap_err().to_string().contains("erp_orders.payment_methods"));
    }

    #[test]
    fn unknown_sections_and_duplicate_priorities_are_refused() {
        let typo = EXAMPLE.replace("[shipping_methods]", "[shiping_methods]");
        assert!(Mapping::parse("m.toml", 1, &typo).unwrap_err().to_string().contains("shiping_methods"));
        let dup = EXAMPLE.replace(r#"["sku", "upc", "ean"]"#, r#"["sku", "sku"]"#);
        assert!(Mapping::parse("m.toml", 1, &dup).unwrap_err().to_string().contains("identifier_priority"));
    }
}

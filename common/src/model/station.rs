//! Shipments the ERP prepares and a shipping station labels: the ERP shipment as read, the station order it becomes, and the export settings.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Address, ErpOrderRef, ShipmentSource};

/// Where an ERP shipment stands, for export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundState {
    Open,
    OnHold,
    /// Confirmed (or later: completed, invoiced): shipped.
    Shipped,
    Canceled,
    /// Any other status, as the ERP names it.
    Other(String),
}

/// One line of an ERP shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundLine {
    pub line_nbr: i64,
    /// The sales order line it ships (prices come from there).
    #[serde(default)]
    pub order_line_nbr: Option<i64>,
    pub sku: String,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Option<Decimal>,
    /// Weight of one unit, in pounds.
    pub unit_weight_lb: Option<Decimal>,
}

/// One package (box) of an ERP shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundPackage {
    /// The ERP's row id (updates address it).
    pub id: String,
    pub box_id: Option<String>,
    pub tracking: Option<String>,
    pub weight_lb: Option<Decimal>,
}

/// A shipment the ERP prepared for a shipping station to label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundShipment {
    /// `AC-000123`.
    pub source: ShipmentSource,
    pub state: OutboundState,
    /// The status as the ERP shows it (`Open`); export settings name statuses this way.
    pub erp_status: String,
    /// The shipment's business date, in the ERP's time zone.
    pub shipment_date: Option<NaiveDate>,
    pub last_modified: DateTime<Utc>,
    pub ship_via: Option<String>,
    pub customer_id: Option<String>,
    pub orders: Vec<ErpOrderRef>,
    pub ship_to: Address,
    /// The sales order's bill-to, when read (else the ship-to stands in).
    #[serde(default)]
    pub bill_to: Option<Address>,
    pub lines: Vec<OutboundLine>,
    pub packages: Vec<OutboundPackage>,
    pub note: Option<String>,
}

/// The order number a station order shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationOrderNumber {
    /// The ERP shipment number (`000123`).
    #[default]
    Shipment,
    /// The first sales order the shipment covers (`SO000456`).
    Order,
}

/// How ERP shipments are exported to the shipping station (the connections file's export settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationExport {
    /// ERP shipment statuses exported (as the ERP names them).
    #[serde(default = "default_statuses")]
    pub statuses: Vec<String>,
    #[serde(default)]
    pub order_number: StationOrderNumber,
    /// The ERP's time zone (IANA): its business dates are days in this zone. A wrong zone moves
    /// late-evening shipments to the next day.
    #[serde(default = "default_zone")]
    pub erp_time_zone: String,
    /// ERP Ship Via → the service requested in the station (`UPSGROUND = "UPS Ground"`).
    #[serde(default)]
    pub ship_via: BTreeMap<String, String>,
    /// The station store orders are created in (a manual store).
    #[serde(default)]
    pub store_id: Option<i64>,
    /// Confirm the ERP shipment once the station's label is on its package.
    #[serde(default = "yes")]
    pub confirm_shipments: bool,
}

fn default_statuses() -> Vec<String> {
    vec!["Open".into()]
}
fn default_zone() -> String {
    "UTC".into()
}
fn yes() -> bool {
    true
}

impl StationExport {
    pub fn validate(&self) -> Result<(), String> {
        if self.statuses.iter().all(|s| s.trim().is_empty()) {
            return Err("export.statuses: name at least one ERP shipment status (e.g. [\"Open\"])".into());
        }
        if self.erp_time_zone.parse::<Tz>().is_err() {
            return Err(format!(
                "export.erp_time_zone: {:?} is not an IANA time zone such as America/Denver",
                self.erp_time_zone
            ));
        }
        Ok(())
    }

    pub fn erp_tz(&self) -> Tz {
        self.erp_time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Whether a shipment in this ERP status is exported.
    pub fn exports(&self, erp_status: &str) -> bool {
        self.statuses.iter().any(|s| s.trim().eq_ignore_ascii_case(erp_status.trim()))
    }
}

/// The station order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationStatus {
    AwaitingShipment,
    OnHold,
    Cancelled,
}

/// One item of a station order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationItem {
    /// The ERP shipment line it came from.
    pub line_key: String,
    pub sku: String,
    pub name: String,
    pub quantity: Decimal,
    pub unit_price: Option<Decimal>,
    pub unit_weight_lb: Option<Decimal>,
}

/// An order as the shipping station receives it (created or updated by its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationOrder {
    /// Stable for the life of the ERP shipment (`AC-000123`; `AC-000123-2` once a cancelled
    /// station order had to be replaced, because a cancelled station order cannot be reopened).
    pub key: String,
    pub number: String,
    /// The order date as the station reads it: local time in the station's zone, no offset.
    pub order_date: NaiveDateTime,
    pub status: StationStatus,
    pub ship_to: Address,
    pub bill_to: Address,
    pub items: Vec<StationItem>,
    pub requested_service: Option<String>,
    pub notes: Option<String>,
    pub store_id: Option<i64>,
    /// The packages' weight together, in pounds, when the ERP gives them.
    pub weight_lb: Option<Decimal>,
    /// The ERP shipment, as people find it in the station (a custom field).
    pub erp_reference: String,
}

/// What keeps a shipment from being exported: the ship-to fields a label needs that are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteAddress(pub Vec<&'static str>);

impl std::fmt::Display for IncompleteAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the ship-to address lacks {}", self.0.join(", "))
    }
}

/// The ship-to fields a shipping label needs: name, street, city, postal code, a two-letter
/// country, and the state for the US and Canada.
pub fn missing_address_fields(a: &Address) -> Vec<&'static str> {
    let empty = |v: &str| v.trim().is_empty();
    let mut missing = Vec::new();
    if empty(&a.name) && a.company.as_deref().is_none_or(empty) {
        missing.push("name");
    }
    if empty(&a.line1) {
        missing.push("street");
    }
    if empty(&a.city) {
        missing.push("city");
    }
    if a.postal_code.as_deref().is_none_or(empty) {
        missing.push("postal code");
    }
    let country = a.country.trim();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
        missing.push("country (two letters)");
    }
    if matches!(country.to_ascii_uppercase().as_str(), "US" | "CA") && a.region.as_deref().is_none_or(empty) {
        missing.push("state");
    }
    missing
}

/// The order date the station shows for a shipment of business date `date` in the ERP zone: noon
/// of that day there, in the station's zone. A day, not an instant: a shipment entered at 23:30 in
/// a zone west of UTC is dated the same day as one entered at noon, on any side of a DST change.
pub fn station_order_date(date: NaiveDate, erp_zone: Tz, station_zone: Tz) -> NaiveDateTime {
    let noon = date.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    match erp_zone.from_local_datetime(&noon).earliest() {
        Some(at) => at.with_timezone(&station_zone).naive_local(),
        None => noon,
    }
}

/// The business date of an ERP date field that carries an offset (`2026-11-30T00:00:00-07:00`):
/// its own date part, never shifted through UTC.
pub fn business_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.date_naive())
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|d| d.date()))
        .or_else(|| NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> Address {
        Address {
            name: "Ann Lee".into(),
            line1: "1 Main St".into(),
            city: "Austin".into(),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: "US".into(),
            ..Address::default()
        }
    }

    #[test]
    fn a_label_needs_name_street_city_postal_code_country_and_a_state_in_the_us_and_canada() {
        assert!(missing_address_fields(&address()).is_empty());
        let mut a = address();
        a.city = " ".into();
        a.postal_code = None;
        assert_eq!(missing_address_fields(&a), vec!["city", "postal code"]);
        a = address();
        a.region = None;
        assert_eq!(missing_address_fields(&a), vec!["state"]);
        a.country = "GB".into();
        assert!(missing_address_fields(&a).is_empty(), "no state needed outside the US and Canada");
        a.country = "United Kingdom".into();
        assert_eq!(missing_address_fields(&a), vec!["country (two letters)"]);
        let shown = IncompleteAddress(missing_address_fields(&Address::default())).to_string();
        assert_eq!(shown, "the ship-to address lacks name, street, city, postal code, country (two letters)");
    }

    #[test]
    fn a_late_evening_shipment_west_of_utc_keeps_its_day_across_daylight_saving_changes() {
        let denver: Tz = "America/Denver".parse().unwrap();
        let pacific: Tz = "America/Los_Angeles".parse().unwrap();
        // 23:30 in Denver on 30 November is 06:30 UTC on 1 December: the ERP's business date
        // (its own date part) is the 30th, and the station shows the 30th.
        let date = business_date("2026-11-30T00:00:00-07:00").unwrap();
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(station_order_date(date, denver, pacific).date(), date);
        assert_eq!(station_order_date(date, denver, pacific).to_string(), "2026-11-30 11:00:00");
        // The days of the DST changes (8 March and 1 November 2026 in the US) keep their day.
        for d in [(2026, 3, 8), (2026, 11, 1), (2026, 3, 7), (2026, 10, 31)] {
            let day = NaiveDate::from_ymd_opt(d.0, d.1, d.2).unwrap();
            assert_eq!(station_order_date(day, denver, pacific).date(), day, "{day}");
            assert_eq!(station_order_date(day, chrono_tz::UTC, pacific).date(), day, "{day} from UTC");
            assert_eq!(
                station_order_date(day, "Pacific/Auckland".parse().unwrap(), pacific).date(),
                day - chrono::Days::new(1),
                "{day}: noon in Auckland is the previous evening in California"
            );
        }
        assert_eq!(business_date("2026-11-30"), Some(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()));
        assert_eq!(business_date("2026-11-30T23:30:00"), Some(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()));
        assert_eq!(business_date("not a date"), None);
    }

    #[test]
    fn export_settings_name_the_bad_field() {
        let s: StationExport = toml::from_str("erp_time_zone = \"America/Denver\"").unwrap();
        assert!(s.validate().is_ok());
        assert!(s.exports("open") && !s.exports("On Hold"));
        assert_eq!(s.order_number, StationOrderNumber::Shipment);
        assert!(s.confirm_shipments);
        let bad: StationExport = toml::from_str("erp_time_zone = \"Mountain\"").unwrap();
        assert!(bad.validate().unwrap_err().contains("erp_time_zone"));
        assert!(toml::from_str::<StationExport>("statuse = []").is_err(), "unknown fields refused");
    }
}

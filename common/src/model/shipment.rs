//! Shipments, packages and tracking, and the canonical order status they move.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ModelError;

/// Where a shipment was recorded: the system (the ERP or the shipping tool, by its code) and that
/// system's id of the shipment. Displayed `AC-000123`; part of every package's push key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StoredShipmentSource")]
pub struct ShipmentSource {
    pub system: super::SystemCode,
    pub id: String,
}

impl ShipmentSource {
    /// The id is trimmed; the connectors pass ids they have already parsed.
    pub fn new(system: super::SystemCode, id: impl Into<String>) -> Self {
        let id: String = id.into();
        Self { system, id: id.trim().to_owned() }
    }

    /// A source read from a message: the id must be usable in a push key (`AC-000123#1`).
    pub fn parse(system: super::SystemCode, id: &str) -> Result<Self, ModelError> {
        let id = id.trim();
        if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#') {
            return Err(ModelError::InvalidId { field: "shipment id", value: id.to_owned() });
        }
        Ok(Self::new(system, id))
    }
}

/// A shipment source as stored in a message; read through `ShipmentSource::parse`.
#[derive(Deserialize)]
struct StoredShipmentSource {
    system: super::SystemCode,
    // Older messages hold numeric shipment ids.
    #[serde(deserialize_with = "super::ids::id_text")]
    id: String,
}

impl TryFrom<StoredShipmentSource> for ShipmentSource {
    type Error = ModelError;
    fn try_from(stored: StoredShipmentSource) -> Result<Self, ModelError> {
        Self::parse(stored.system, &stored.id)
    }
}

impl std::fmt::Display for ShipmentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.system, self.id)
    }
}

/// A tracking number with the carrier that issued it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tracking {
    pub number: TrackingNumber,
    /// The carrier as the source system names it (`UPS`, `fedex`, `stamps_com`); mapped per channel.
    pub carrier: String,
    /// The service level, e.g. `Ground`.
    pub service: Option<String>,
    pub url: Option<String>,
}

/// A tracking number: trimmed, non-empty, no whitespace inside, at most 50 characters
/// (BigCommerce's limit, the tightest of the channels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub fn parse(text: impl Into<String>) -> Result<Self, ModelError> {
        let text = text.into();
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.len() > 50 || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ModelError::InvalidTracking(text));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TrackingNumber {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<TrackingNumber> for String {
    fn from(t: TrackingNumber) -> String {
        t.0
    }
}

impl std::fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Quantity of one item inside a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageItem {
    /// The item's id in the ERP or shipping tool (InventoryID or SKU).
    pub item_id: String,
    /// The ERP order line number, when the source gives it.
    pub erp_line_nbr: Option<i64>,
    /// The channel's own line id (BigCommerce `order_product_id`, Magento `item_id`), when known;
    /// channels match it before the item id.
    #[serde(default)]
    pub channel_line_id: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
}

/// One physical box with one tracking number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// Stable id of the package within its shipment (box id or line number), part of the push key.
    pub package_id: String,
    pub tracking: Tracking,
    pub items: Vec<PackageItem>,
    // Absent rather than null: the str_option deserializer refuses null.
    #[serde(with = "rust_decimal::serde::str_option", default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
}

/// A shipment confirmed in the ERP or the shipping tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub source: ShipmentSource,
    pub ship_date: NaiveDate,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub packages: Vec<Package>,
    /// True when the source says the order has nothing left to ship.
    pub completes_order: bool,
}

impl Shipment {
    /// The key a push of one package is claimed under, so its tracking is never posted twice.
    pub fn push_key(&self, package: &Package) -> String {
        format!("{}#{}", self.source, package.package_id)
    }
}

/// Canonical order status, the vocabulary status mappings translate from and to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    New,
    Open,
    OnHold,
    BackOrder,
    PartiallyShipped,
    Shipped,
    Completed,
    Cancelled,
    /// A status the ERP has that the canonical list does not name; kept verbatim.
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SystemCode;

    #[test]
    fn tracking_numbers_refuse_concatenations() {
        assert!(TrackingNumber::parse("1Z999AA10123456784").is_ok());
        assert!(TrackingNumber::parse("1Z1, 1Z2").is_err());
        assert!(TrackingNumber::parse("").is_err());
        assert!(TrackingNumber::parse("x".repeat(51)).is_err());
    }

    #[test]
    fn push_key_is_per_package() {
        let shipment = Shipment {
            source: ShipmentSource::new(SystemCode::parse("AC").unwrap(), "000123"),
            ship_date: NaiveDate::from_ymd_opt(2024, 5, 2).unwrap(),
            confirmed_at: None,
            packages: vec![],
            completes_order: true,
        };
        let package = Package {
            package_id: "2".into(),
            tracking: Tracking {
                number: TrackingNumber::parse("1Z2").unwrap(),
                carrier: "UPS".into(),
                service: None,
                url: None,
            },
            items: vec![],
            weight: None,
        };
        assert_eq!(shipment.push_key(&package), "AC-000123#2");
        let mut shipment = shipment;
        shipment.packages.push(package);
        let json = serde_json::to_string(&shipment).unwrap();
        assert_eq!(serde_json::from_str::<Shipment>(&json).unwrap(), shipment, "a package without weight round-trips");
        let json = serde_json::to_string(&shipment).unwrap();
        assert_eq!(serde_json::from_str::<Shipment>(&json).unwrap(), shipment);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [OrderStatus::Shipped, OrderStatus::Other("Back Order".into())] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<OrderStatus>(&json).unwrap(), s);
        }
    }
}

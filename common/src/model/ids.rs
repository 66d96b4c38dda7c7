//! Identifier newtypes, one per system, so an id of one vendor can never stand in for another's.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Defines a newtype over an integer id that a vendor assigns (always positive).
macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            /// Parses a vendor id; zero and negative values are refused because no vendor issues them.
            pub fn new(value: i64) -> Result<Self, ModelError> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(ModelError::InvalidId { field: $field, value: value.to_string() })
                }
            }

            /// Parses the id from its decimal text form (path segments, message attributes).
            pub fn parse(text: &str) -> Result<Self, ModelError> {
                let value = text
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| ModelError::InvalidId { field: $field, value: text.to_owned() })?;
                Self::new(value)
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ModelError;
            fn try_from(value: i64) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

/// Defines a newtype over a non-empty, trimmed text id.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses the id; empty, over-long or control-character values are refused.
            pub fn parse(text: impl Into<String>) -> Result<Self, ModelError> {
                let text = text.into();
                let trimmed = text.trim();
                if trimmed.is_empty() || trimmed.len() > $max || trimmed.chars().any(char::is_control) {
                    return Err(ModelError::InvalidId { field: $field, value: text });
                }
                Ok(Self(trimmed.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ModelError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

numeric_id!(
    /// Sellercloud's internal order `ID`.
    SellercloudOrderId,
    "sellercloud order id"
);
numeric_id!(
    /// BigCommerce v2 order `id`.
    BigCommerceOrderId,
    "bigcommerce order id"
);
numeric_id!(
    /// Magento `entity_id` of an order (the id URLs take; `increment_id` is only for display).
    MagentoOrderId,
    "magento entity_id"
);
numeric_id!(
    /// ShipStation's internal `orderId`.
    ShipStationOrderId,
    "shipstation orderId"
);
numeric_id!(
    /// ShipStation's `shipmentId`.
    ShipStationShipmentId,
    "shipstation shipmentId"
);

text_id!(
    /// Acumatica `OrderNbr` of a sales order (unique only together with its order type).
    AcumaticaOrderNbr,
    "acumatica OrderNbr",
    15
);
text_id!(
    /// Acumatica `OrderType`, such as `SO`.
    AcumaticaOrderType,
    "acumatica OrderType",
    2
);
text_id!(
    /// Acumatica `ShipmentNbr`.
    AcumaticaShipmentNbr,
    "acumatica ShipmentNbr",
    15
);
text_id!(
    /// Acumatica `CustomerID` (a business account code).
    AcumaticaCustomerId,
    "acumatica CustomerID",
    30
);
text_id!(
    /// Acumatica `InventoryID` of a stock or non-stock item.
    AcumaticaInventoryId,
    "acumatica InventoryID",
    30
);

/// Name of one configured connection (one channel account or ERP tenant), e.g. `sc-main`.
///
/// It becomes part of DynamoDB keys and SQS message attributes, so it is limited to
/// lowercase ASCII letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn parse(text: impl Into<String>) -> Result<Self, ModelError> {
        let text = text.into();
        let valid = !text.is_empty()
            && text.len() <= 64
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !text.starts_with('-');
        if valid {
            Ok(Self(text))
        } else {
            Err(ModelError::InvalidId { field: "connection id", value: text })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> String {
        id.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of an order in the sales channel it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "channel", content = "id", rename_all = "snake_case")]
pub enum ChannelOrderId {
    Sellercloud(SellercloudOrderId),
    #[serde(rename = "bigcommerce")]
    BigCommerce(BigCommerceOrderId),
    Magento(MagentoOrderId),
}

impl ChannelOrderId {
    /// Short code of the channel, used in import keys and the Import ID stored on the ERP order.
    pub fn channel_code(&self) -> &'static str {
        match self {
            Self::Sellercloud(_) => "SC",
            Self::BigCommerce(_) => "BC",
            Self::Magento(_) => "MG",
        }
    }

    /// The channel's own id as text.
    pub fn raw(&self) -> String {
        match self {
            Self::Sellercloud(id) => id.to_string(),
            Self::BigCommerce(id) => id.to_string(),
            Self::Magento(id) => id.to_string(),
        }
    }
}

impl fmt::Display for ChannelOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.channel_code(), self.raw())
    }
}

/// An ERP order: type and number together form Acumatica's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErpOrderRef {
    pub order_type: AcumaticaOrderType,
    pub order_nbr: AcumaticaOrderNbr,
}

impl fmt::Display for ErpOrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.order_type, self.order_nbr)
    }
}

/// The key under which one channel order is imported exactly once: `{connection}#{channel order}`.
///
/// Its ERP-facing form (the "Import ID", e.g. `SC-5512345`) is stored on the Acumatica order so
/// that a lost create response can be recovered by searching the ERP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImportKey {
    pub connection: ConnectionId,
    pub order: ChannelOrderId,
}

impl ImportKey {
    pub fn new(connection: ConnectionId, order: ChannelOrderId) -> Self {
        Self { connection, order }
    }

    /// The ledger key: unique across connections.
    pub fn ledger_key(&self) -> String {
        format!("{}#{}", self.connection, self.order)
    }

    /// The Import ID stored on the ERP order (source code + channel order id).
    pub fn import_id(&self) -> String {
        self.order.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_refuse_zero_and_garbage() {
        assert!(SellercloudOrderId::new(0).is_err());
        assert!(SellercloudOrderId::parse("12a").is_err());
        assert_eq!(SellercloudOrderId::parse(" 42 ").map(i64::from).ok(), Some(42));
    }

    #[test]
    fn ids_of_different_systems_do_not_deserialize_into_each_other_shape() {
        let sc = ChannelOrderId::Sellercloud(SellercloudOrderId::new(7).unwrap());
        let json = serde_json::to_string(&sc).unwrap();
        assert_eq!(json, r#"{"channel":"sellercloud","id":7}"#);
        let back: ChannelOrderId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sc);
        let bc: ChannelOrderId = serde_json::from_str(r#"{"channel":"bigcommerce","id":7}"#).unwrap();
        assert_ne!(bc, sc);
    }

    #[test]
    fn connection_ids_are_key_safe() {
        assert!(ConnectionId::parse("sc-main").is_ok());
        assert!(ConnectionId::parse("SC main").is_err());
        assert!(ConnectionId::parse("a#b").is_err());
        assert!(serde_json::from_str::<ConnectionId>(r#""bad#id""#).is_err());
    }

    #[test]
    fn import_id_names_the_channel() {
        let key = ImportKey::new(
            ConnectionId::parse("bc-store").unwrap(),
            ChannelOrderId::BigCommerce(BigCommerceOrderId::new(1042).unwrap()),
        );
        assert_eq!(key.import_id(), "BC-1042");
        assert_eq!(key.ledger_key(), "bc-store#BC-1042");
    }

    #[test]
    fn text_ids_trim_and_refuse_empty() {
        assert_eq!(AcumaticaOrderNbr::parse(" SO001 ").unwrap().as_str(), "SO001");
        assert!(AcumaticaOrderNbr::parse("   ").is_err());
        assert!(AcumaticaOrderType::parse("SOX").is_err());
    }
}

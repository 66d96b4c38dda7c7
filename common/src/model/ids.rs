//! Identifier newtypes: ERP ids named by role, channel order ids as a channel code plus the
//! channel's own id, and the macros connectors use to declare their own id types.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Defines a newtype over an integer id that a vendor assigns (always positive). With
/// `channel = CODE`, the id is a channel's order id: it converts to and from `ChannelOrderId`.
#[macro_export]
macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, channel = $code:expr) => {
        $crate::numeric_id!($(#[$doc])* $name, $field);

        impl $name {
            /// The canonical id of this order.
            pub fn channel_order_id(self) -> $crate::model::ChannelOrderId {
                $crate::model::SystemCode::parse($code)
                    .and_then(|code| $crate::model::ChannelOrderId::new(code, self.0.to_string()))
                    .unwrap_or_else(|_| unreachable!("a connector's code and a positive number make a valid id"))
            }

            /// This channel's id inside a canonical id (None for another channel's order).
            pub fn of(id: &$crate::model::ChannelOrderId) -> Option<Self> {
                (id.channel_code().as_str() == $code).then(|| Self::parse(id.raw()).ok()).flatten()
            }

            /// The canonical id of the order the channel numbers `raw` (a shipping tool's order number).
            pub fn channel_order_id_of(raw: &str) -> Option<$crate::model::ChannelOrderId> {
                Self::parse(raw).ok().map(Self::channel_order_id)
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            /// Parses a vendor id; zero and negative values are refused because no vendor issues them.
            pub fn new(value: i64) -> Result<Self, $crate::model::ModelError> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err($crate::model::ModelError::InvalidId { field: $field, value: value.to_string() })
                }
            }

            /// Parses the id from its decimal text form (path segments, message attributes).
            pub fn parse(text: &str) -> Result<Self, $crate::model::ModelError> {
                let value = text
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| $crate::model::ModelError::InvalidId { field: $field, value: text.to_owned() })?;
                Self::new(value)
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = $crate::model::ModelError;
            fn try_from(value: i64) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

/// Defines a newtype over a non-empty, trimmed text id.
#[macro_export]
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses the id; empty, over-long or control-character values are refused.
            pub fn parse(text: impl Into<String>) -> Result<Self, $crate::model::ModelError> {
                let text = text.into();
                let trimmed = text.trim();
                if trimmed.is_empty() || trimmed.len() > $max || trimmed.chars().any(char::is_control) {
                    return Err($crate::model::ModelError::InvalidId { field: $field, value: text });
                }
                Ok(Self(trimmed.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::model::ModelError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The ERP's number of a sales order (unique only together with its order type).
    ErpOrderNbr,
    "ERP order number",
    15
);
text_id!(
    /// The ERP's order type, such as `SO`.
    ErpOrderType,
    "ERP order type",
    2
);
text_id!(
    /// The ERP's number of a shipment.
    ErpShipmentNbr,
    "ERP shipment number",
    15
);
text_id!(
    /// The ERP's id of a customer (a business account code).
    ErpCustomerId,
    "ERP customer id",
    30
);
text_id!(
    /// The ERP's id of a stock or non-stock item.
    ErpItemId,
    "ERP item id",
    30
);

/// The short code of a system Orderbridge talks to (`SC`, `BC`, `AC`, ...): the prefix of the
/// Import ID on ERP orders and of shipment push keys. Two to four uppercase ASCII letters; each
/// connector declares its own in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SystemCode(String);

impl SystemCode {
    pub fn parse(text: impl Into<String>) -> Result<Self, ModelError> {
        let text = text.into();
        if (2..=4).contains(&text.len()) && text.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(text))
        } else {
            Err(ModelError::InvalidId { field: "system code", value: text })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a code as stored: the code itself, or (records written before codes were stored)
    /// the lowercase system name, translated by the names the connector registry installed.
    fn from_stored(text: &str) -> Result<Self, ModelError> {
        if let Ok(code) = Self::parse(text) {
            return Ok(code);
        }
        LEGACY_NAMES
            .get()
            .and_then(|resolve| resolve(text))
            .map(|code| Self(code.to_owned()))
            .ok_or_else(|| ModelError::InvalidId { field: "system code", value: text.to_owned() })
    }
}

impl fmt::Display for SystemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SystemCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SystemCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_stored(&text).map_err(serde::de::Error::custom)
    }
}

/// Translates a system name of records written before codes were stored (`"<name>"` → `"XX"`).
pub type LegacyNames = fn(&str) -> Option<&'static str>;

static LEGACY_NAMES: std::sync::OnceLock<LegacyNames> = std::sync::OnceLock::new();

/// Installs the translation of stored system names; the connector registry calls it once (the
/// model itself knows no system by name). Later calls are ignored.
pub fn install_legacy_names(resolve: LegacyNames) {
    let _ = LEGACY_NAMES.set(resolve);
}

/// A vendor's own id as stored in messages and records: older records hold numbers.
pub(super) fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected an id, got {other}"))),
    }
}

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

/// The id of an order in the sales channel it came from: the channel's code and the channel's
/// own id, as text (each connector parses and validates its ids at its edge).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "StoredChannelOrderId")]
pub struct ChannelOrderId {
    channel: SystemCode,
    id: String,
}

/// A channel order id as stored; read through `ChannelOrderId::new`, so stored ids are checked
/// like new ones.
#[derive(Deserialize)]
struct StoredChannelOrderId {
    channel: SystemCode,
    #[serde(deserialize_with = "id_text")]
    id: String,
}

impl TryFrom<StoredChannelOrderId> for ChannelOrderId {
    type Error = ModelError;
    fn try_from(stored: StoredChannelOrderId) -> Result<Self, ModelError> {
        Self::new(stored.channel, stored.id)
    }
}

impl ChannelOrderId {
    /// An id of the channel `channel`; `id` must be non-empty and free of spaces and `#`, because
    /// it becomes part of ledger keys.
    pub fn new(channel: SystemCode, id: impl Into<String>) -> Result<Self, ModelError> {
        let id = id.into();
        if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#') {
            return Err(ModelError::InvalidId { field: "channel order id", value: id });
        }
        Ok(Self { channel, id })
    }

    /// Short code of the channel, used in import keys and the Import ID stored on the ERP order.
    pub fn channel_code(&self) -> &SystemCode {
        &self.channel
    }

    /// The channel's own id as text.
    pub fn raw(&self) -> &str {
        &self.id
    }

    /// Reads the displayed form (`SC-1001`, the Import ID): the channel code, a dash, the id.
    pub fn parse_display(text: &str) -> Option<Self> {
        let (code, id) = text.trim().split_once('-')?;
        Self::new(SystemCode::parse(code).ok()?, id).ok()
    }
}

impl fmt::Display for ChannelOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.channel, self.id)
    }
}

/// An ERP order: type and number together form the ERP's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErpOrderRef {
    pub order_type: ErpOrderType,
    pub order_nbr: ErpOrderNbr,
}

impl ErpOrderRef {
    /// Parses `TYPE/NUMBER`, the form claims and logs store.
    pub fn parse(text: &str) -> Option<Self> {
        let (order_type, order_nbr) = text.split_once('/')?;
        Some(Self { order_type: ErpOrderType::parse(order_type).ok()?, order_nbr: ErpOrderNbr::parse(order_nbr).ok()? })
    }
}

impl ErpOrderRef {
    /// The correlation id of an order entered in the ERP (the ERP ref is its only stable key
    /// before the storefront order exists); the same in every message and log line about it.
    pub fn correlation_id(&self) -> String {
        uuid::Uuid::new_v5(&CORRELATION_NAMESPACE, format!("erp#{self}").as_bytes()).to_string()
    }
}

impl fmt::Display for ErpOrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.order_type, self.order_nbr)
    }
}

/// The UUID namespace of order correlation ids (any fixed value; changing it changes every id).
const CORRELATION_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f72_6465_7262_7269_6467_6500_0000_0001);

/// The key under which one channel order is imported exactly once: `{connection}#{channel order}`.
///
/// Its ERP-facing form (the "Import ID", e.g. `SC-5512345`) is stored on the ERP order so
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

    /// The order's correlation id. Derived from the key rather than drawn at random, so every
    /// pull that lists the order, every message, function and connector-log entry about it, and
    /// the pushes of its shipments later carry the same one without storing it anywhere.
    pub fn correlation_id(&self) -> String {
        uuid::Uuid::new_v5(&CORRELATION_NAMESPACE, self.ledger_key().as_bytes()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str) -> SystemCode {
        SystemCode::parse(c).unwrap()
    }

    #[test]
    fn system_codes_are_two_to_four_capitals() {
        assert!(SystemCode::parse("SC").is_ok());
        assert!(SystemCode::parse("s").is_err());
        assert!(SystemCode::parse("ABCDE").is_err());
        assert!(SystemCode::parse("S-").is_err());
    }

    #[test]
    fn channel_order_ids_keep_their_channel_and_refuse_key_breaking_text() {
        let sc = ChannelOrderId::new(code("SC"), "7").unwrap();
        let json = serde_json::to_string(&sc).unwrap();
        assert_eq!(json, r#"{"channel":"SC","id":"7"}"#);
        let back: ChannelOrderId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sc);
        let bc: ChannelOrderId = serde_json::from_str(r#"{"channel":"BC","id":7}"#).unwrap();
        assert_ne!(bc, sc);
        assert!(ChannelOrderId::new(code("SC"), "a#b").is_err());
        assert!(ChannelOrderId::new(code("SC"), "").is_err());
        assert!(serde_json::from_str::<ChannelOrderId>(r#"{"channel":"nobody","id":7}"#).is_err());
        assert!(serde_json::from_str::<ChannelOrderId>(r#"{"channel":"SC","id":"1#2"}"#).is_err(), "checked when read");
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
        let key =
            ImportKey::new(ConnectionId::parse("bc-store").unwrap(), ChannelOrderId::new(code("BC"), "1042").unwrap());
        assert_eq!(key.import_id(), "BC-1042");
        assert_eq!(key.ledger_key(), "bc-store#BC-1042");
        let other = ImportKey::new(ConnectionId::parse("bc-other").unwrap(), key.order.clone());
        assert_eq!(key.correlation_id(), key.clone().correlation_id(), "stable for one order");
        assert_ne!(key.correlation_id(), other.correlation_id(), "distinct across connections");
    }

    #[test]
    fn text_ids_trim_and_refuse_empty() {
        assert_eq!(ErpOrderNbr::parse(" SO001 ").unwrap().as_str(), "SO001");
        assert!(ErpOrderNbr::parse("   ").is_err());
        assert!(ErpOrderType::parse("SOX").is_err());
        assert_eq!(ErpOrderRef::parse("SO/000123").unwrap().to_string(), "SO/000123");
        assert!(ErpOrderRef::parse("SO000123").is_none());
    }
}

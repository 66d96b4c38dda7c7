//! Vendor connectors: one folder per vendor (config, wire, client, mapper, tests).

pub mod acumatica;
pub mod bigcommerce;
pub mod magento;
pub mod registry;
pub mod sellercloud;
pub mod shipstation;

use crate::error::{Classify, ErrorClass};
use crate::model::SystemCode;
pub use crate::ports::{ConnectorError, TransportStage, WebhookError};

/// A connector's system code (a constant each connector declares; checked by the registry test).
pub(crate) fn system_code(code: &'static str) -> SystemCode {
    SystemCode::parse(code).unwrap_or_else(|_| unreachable!("{code} is a connector's constant code"))
}

/// A vendor connection's configuration that cannot work; names the field and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vendor} configuration: {problem}")]
pub struct InvalidConfig {
    pub vendor: &'static str,
    /// The offending field and what is wrong with it, e.g. `page_size: must be 1-50`.
    pub problem: String,
}

impl Classify for InvalidConfig {
    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

/// Serde helpers shared by the vendors' wire types: money and numbers arrive as JSON numbers or
/// numeric strings depending on the vendor (and the field), and must never pass through `f64`.
pub mod lenient {
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    /// Parses a JSON number or numeric string exactly; blank strings and null are `None`.
    pub fn decimal_from_value(value: &Value) -> Result<Option<Decimal>, String> {
        let text = match value {
            Value::Null => return Ok(None),
            // serde_json runs with arbitrary_precision here, so this is the number's exact text.
            Value::Number(n) => n.to_string(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => s.trim().to_owned(),
            other => return Err(format!("expected a number or numeric string, got {other}")),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map(Some)
            .map_err(|_| format!("{text:?} is not a decimal number"))
    }

    /// `deserialize_with` for `Option<Decimal>` fields (use with `#[serde(default)]`).
    pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let value = Value::deserialize(d)?;
        decimal_from_value(&value).map_err(serde::de::Error::custom)
    }

    /// `deserialize_with` for `Decimal` fields that default to zero when absent, null or blank.
    pub fn decimal_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        opt_decimal(d).map(Option::unwrap_or_default)
    }

    /// `deserialize_with` for integer quantities and ids sent as numbers or strings.
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let value = Value::deserialize(d)?;
        match decimal_from_value(&value).map_err(serde::de::Error::custom)? {
            None => Ok(None),
            Some(dec) if dec.fract().is_zero() => {
                i64::try_from(dec).map(Some).map_err(|_| serde::de::Error::custom("integer out of range"))
            }
            Some(dec) => Err(serde::de::Error::custom(format!("{dec} is not an integer"))),
        }
    }

    /// `deserialize_with` for strings that some vendors send as numbers, bools or null.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
    }

    /// Serializes a decimal as an exact JSON number (never through `f64`).
    pub fn serialize_number<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision::serialize(&value.normalize(), s)
    }
}

/// Why a vendor client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] InvalidConfig),
    #[error(transparent)]
    Http(#[from] ConnectorError),
}

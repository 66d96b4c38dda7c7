//! Reading and writing DynamoDB attribute maps without panicking on malformed items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};

use super::LedgerError;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn epoch(time: DateTime<Utc>) -> AttributeValue {
    n(time.timestamp())
}

pub(crate) fn epoch_millis(time: DateTime<Utc>) -> AttributeValue {
    n(time.timestamp_millis())
}

/// Typed accessors that turn a missing or mistyped attribute into `LedgerError::Corrupt`.
pub(crate) struct ItemReader<'a> {
    pub item: &'a Item,
    pub table: &'a str,
}

impl<'a> ItemReader<'a> {
    pub fn new(item: &'a Item, table: &'a str) -> Self {
        Self { item, table }
    }

    fn corrupt(&self, detail: String) -> LedgerError {
        let key = match (self.item.get("pk"), self.item.get("sk")) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => format!("{pk}/{sk}"),
            _ => "<no key>".to_owned(),
        };
        LedgerError::Corrupt { table: self.table.to_owned(), key, detail }
    }

    pub fn string(&self, name: &str) -> Result<String, LedgerError> {
        self.opt_string(name)?.ok_or_else(|| self.corrupt(format!("missing string attribute {name}")))
    }

    pub fn opt_string(&self, name: &str) -> Result<Option<String>, LedgerError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.corrupt(format!("attribute {name} is not a string"))),
        }
    }

    pub fn number(&self, name: &str) -> Result<i64, LedgerError> {
        self.opt_number(name)?.ok_or_else(|| self.corrupt(format!("missing number attribute {name}")))
    }

    pub fn opt_number(&self, name: &str) -> Result<Option<i64>, LedgerError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => {
                v.parse::<i64>().map(Some).map_err(|_| self.corrupt(format!("attribute {name} is not an integer")))
            }
            Some(_) => Err(self.corrupt(format!("attribute {name} is not a number"))),
        }
    }

    pub fn epoch_millis(&self, name: &str) -> Result<DateTime<Utc>, LedgerError> {
        let millis = self.number(name)?;
        Utc.timestamp_millis_opt(millis)
            .single()
            .ok_or_else(|| self.corrupt(format!("attribute {name} is not a valid time")))
    }

    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<T, LedgerError> {
        let raw = self.string(name)?;
        raw.parse::<T>().map_err(|_| self.corrupt(format!("attribute {name} has an unexpected value {raw:?}")))
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, LedgerError> {
        let raw = self.string(name)?;
        serde_json::from_str(&raw).map_err(|e| self.corrupt(format!("attribute {name} is not valid JSON: {e}")))
    }

    /// True when the item carries a TTL that has passed. DynamoDB deletes expired items only
    /// lazily (and the emulator never), so every read must check this itself.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        matches!(self.opt_number(super::schema::TTL_ATTRIBUTE), Ok(Some(at)) if at <= now.timestamp())
    }
}

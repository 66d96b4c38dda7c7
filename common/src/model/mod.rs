//! The canonical model every connector maps to and from.

mod customer;
mod erp_order;
mod followups;
mod ids;
mod money;
mod order;
mod shipment;
mod station;
mod stock;

pub use customer::*;
pub use erp_order::*;
pub use followups::*;
pub use ids::*;
pub use money::{Currency, Money};
pub use order::*;
pub use shipment::*;
pub use station::*;
pub use stock::*;

/// A vendor's local time with second 60 (chrono reads it as a leap second) as the start of the
/// next minute. Moved through a zone offset with seconds (1550's −7:52:58 in Los Angeles), a leap
/// second becomes an instant a queue message writes and reads back differently (found by
/// `make fuzz`); every parser of zone-less vendor times calls this before converting.
pub fn without_leap_second(naive: chrono::NaiveDateTime) -> Option<chrono::NaiveDateTime> {
    use chrono::Timelike;
    match naive.nanosecond().checked_sub(1_000_000_000) {
        Some(nanos) => Some(naive.with_nanosecond(nanos)? + chrono::Duration::seconds(1)),
        None => Some(naive),
    }
}

use crate::error::{Classify, ErrorClass};

/// A value that does not fit the canonical model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid {field}: {value:?}")]
    InvalidId { field: &'static str, value: String },
    #[error("invalid currency code {0:?}: expected three letters such as USD")]
    InvalidCurrency(String),
    #[error("cannot combine amounts in {left} and {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount overflow")]
    Overflow,
    #[error("invalid tracking number {0:?}: expected 1-50 characters without spaces (one number per package)")]
    InvalidTracking(String),
    #[error("order {order}: lines, discounts, shipping and tax add up to {computed}, but the channel's grand total is {reported}")]
    TotalsMismatch { order: String, computed: Money, reported: Money },
}

impl Classify for ModelError {
    fn class(&self) -> ErrorClass {
        // Bad data does not get better by retrying.
        ErrorClass::Permanent
    }
}

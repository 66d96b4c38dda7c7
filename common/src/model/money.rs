//! Money: an exact decimal amount in an ISO 4217 currency. Never a float.

use std::fmt;
use std::ops::{Add, Neg, Sub};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::ModelError;

/// An ISO 4217 alphabetic currency code (`USD`, `EUR`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const GBP: Currency = Currency(*b"GBP");
    pub const CAD: Currency = Currency(*b"CAD");

    /// Parses a three-letter code; lower case is accepted because some vendors send it.
    pub fn parse(code: &str) -> Result<Self, ModelError> {
        let upper = code.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(ModelError::InvalidCurrency(code.to_owned()))
        }
    }

    pub fn code(&self) -> &str {
        // The bytes are checked ASCII upper-case letters at construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Minor units of the currency (cents), for rounding amounts that are presented to people.
    pub fn minor_units(&self) -> u32 {
        match self.code() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money. Arithmetic between different currencies is refused, not converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Serialized as a string so that no JSON reader turns it into a float.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self { amount: Decimal::ZERO, currency }
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    /// Adds two amounts of the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, ModelError> {
        self.same_currency(&other)?;
        let amount = self.amount.checked_add(other.amount).ok_or(ModelError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Subtracts an amount of the same currency.
    pub fn checked_sub(self, other: Money) -> Result<Money, ModelError> {
        self.same_currency(&other)?;
        let amount = self.amount.checked_sub(other.amount).ok_or(ModelError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Multiplies by a quantity (exact; no rounding happens here).
    pub fn times(self, quantity: Decimal) -> Result<Money, ModelError> {
        let amount = self.amount.checked_mul(quantity).ok_or(ModelError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Rounds half away from zero to the currency's minor units, as invoices do.
    pub fn round_to_minor(self) -> Money {
        Money::new(
            self.amount.round_dp_with_strategy(self.currency.minor_units(), RoundingStrategy::MidpointAwayFromZero),
            self.currency,
        )
    }

    /// Sums amounts; an empty list sums to zero in `currency`.
    pub fn sum<'a>(currency: Currency, items: impl IntoIterator<Item = &'a Money>) -> Result<Money, ModelError> {
        items.into_iter().try_fold(Money::zero(currency), |acc, m| acc.checked_add(*m))
    }

    fn same_currency(&self, other: &Money) -> Result<(), ModelError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(ModelError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.round_to_minor().amount, self.currency)
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money::new(-self.amount, self.currency)
    }
}

/// Same-currency addition for code that has already checked currencies; mismatches are a bug.
impl Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        debug_assert_eq!(self.currency, other.currency, "adding money of different currencies");
        Money::new(self.amount + other.amount, self.currency)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, other: Money) -> Money {
        debug_assert_eq!(self.currency, other.currency, "subtracting money of different currencies");
        Money::new(self.amount - other.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn currency_codes_are_validated_and_normalised() {
        assert_eq!(Currency::parse("usd").unwrap(), Currency::USD);
        assert!(Currency::parse("US").is_err());
        assert!(Currency::parse("U$D").is_err());
    }

    #[test]
    fn mixing_currencies_is_refused() {
        let err = Money::new(dec!(1), Currency::USD).checked_add(Money::new(dec!(1), Currency::EUR));
        assert!(matches!(err, Err(ModelError::CurrencyMismatch { .. })));
    }

    #[test]
    fn amounts_serialize_as_strings_and_round_trip_exactly() {
        let m = Money::new(dec!(19.9900), Currency::USD);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"19.9900","currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }

    #[test]
    fn rounding_is_half_away_from_zero_per_currency() {
        assert_eq!(Money::new(dec!(0.125), Currency::USD).round_to_minor().amount, dec!(0.13));
        assert_eq!(Money::new(dec!(-0.125), Currency::USD).round_to_minor().amount, dec!(-0.13));
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(Money::new(dec!(10.5), yen).round_to_minor().amount, dec!(11));
    }

    proptest! {
        #[test]
        fn sum_of_cents_is_exact(cents in proptest::collection::vec(-1_000_000i64..1_000_000, 0..200)) {
            let items: Vec<Money> = cents.iter().map(|c| Money::new(Decimal::new(*c, 2), Currency::USD)).collect();
            let total = Money::sum(Currency::USD, &items).unwrap();
            prop_assert_eq!(total.amount, Decimal::new(cents.iter().sum::<i64>(), 2));
        }

        #[test]
        fn money_round_trips_through_json(units in any::<i64>(), scale in 0u32..8) {
            let m = Money::new(Decimal::new(units, scale), Currency::EUR);
            let back: Money = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            prop_assert_eq!(back, m);
        }
    }
}

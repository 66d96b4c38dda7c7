//! The canonical order: what every channel's order is mapped into before it reaches the ERP.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ChannelOrderId, ConnectionId, Currency, ImportKey, ModelError, Money};

/// An order as a sales channel reported it, in canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The connection (channel account) the order was pulled from.
    pub connection: ConnectionId,
    /// The channel's own id for the order.
    pub channel_order_id: ChannelOrderId,
    /// The number people see (marketplace order number, Magento increment id).
    pub display_number: String,
    /// Where the buyer placed the order: "Amazon", "eBay", "Walmart", "Website", ...
    pub order_source: OrderSource,
    /// The channel's status code or name, as the channel spells it.
    pub channel_status: String,
    pub placed_at: DateTime<Utc>,
    pub requested_delivery: Option<NaiveDate>,
    pub promised_ship_by: Option<NaiveDate>,
    pub currency: Currency,
    pub customer: Customer,
    pub bill_to: Address,
    pub ship_to: Address,
    pub lines: Vec<Line>,
    pub payments: Vec<Payment>,
    pub shipping: ShippingCharge,
    /// Discounts on the whole order (not on a line), as positive amounts.
    pub order_discounts: Vec<Discount>,
    pub taxes: Vec<TaxLine>,
    pub totals: Totals,
    pub notes: Notes,
    pub tags: BTreeSet<Tag>,
}

impl Order {
    pub fn import_key(&self) -> ImportKey {
        ImportKey::new(self.connection.clone(), self.channel_order_id.clone())
    }

    /// Sum of line amounts after line discounts, before order discounts, shipping and tax.
    pub fn lines_net_total(&self) -> Result<Money, ModelError> {
        self.lines.iter().try_fold(Money::zero(self.currency), |acc, line| acc.checked_add(line.net_amount()?))
    }

    /// Recomputes the grand total from the parts: lines − order discounts + shipping + tax.
    pub fn computed_grand_total(&self) -> Result<Money, ModelError> {
        let discounts = Money::sum(self.currency, self.order_discounts.iter().map(|d| &d.amount))?;
        let total = self
            .lines_net_total()?
            .checked_sub(discounts)?
            .checked_add(self.shipping.amount)?
            .checked_add(self.totals.tax)?;
        Ok(total.round_to_minor())
    }

    /// A short digest of everything the ERP order is built from (all but the channel's status),
    /// so an order listed again after its import can be told apart: unchanged (acknowledge it
    /// again) or edited in the channel since (update the ERP order). 16 hex digits.
    pub fn content_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut view = self.clone();
        view.channel_status.clear();
        // Serializing plain data with string keys cannot fail; an empty digest would only make
        // the order look edited, never lose it.
        let bytes = serde_json::to_vec(&view).unwrap_or_default();
        Sha256::digest(&bytes)[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Checks that the parts add up to the channel's grand total to the cent, so a mapping bug
    /// or a vendor rounding quirk is caught before anything reaches the ERP.
    pub fn check_totals(&self) -> Result<(), ModelError> {
        let computed = self.computed_grand_total()?;
        let reported = self.totals.grand_total.round_to_minor();
        if computed == reported {
            Ok(())
        } else {
            Err(ModelError::TotalsMismatch { order: self.channel_order_id.to_string(), computed, reported })
        }
    }
}

/// The marketplace or store front an order came through, as named in the mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderSource(pub String);

/// A buyer as the channel knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The channel's customer id, absent for guests.
    pub channel_customer_id: Option<String>,
    pub email: Option<String>,
    pub name: String,
    pub company: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    /// State or province code where the channel gives one, else its name.
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// The identifiers a channel gives for the product on a line; matched by priority in the mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ItemIdentifiers {
    pub sku: Option<String>,
    pub upc: Option<String>,
    pub ean: Option<String>,
    pub mpn: Option<String>,
    pub asin: Option<String>,
}

/// The kinds of identifier a line can be matched by, in the order a mapping may prefer them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierKind {
    Sku,
    Upc,
    Ean,
    Mpn,
    Asin,
}

impl ItemIdentifiers {
    pub fn get(&self, kind: IdentifierKind) -> Option<&str> {
        let value = match kind {
            IdentifierKind::Sku => &self.sku,
            IdentifierKind::Upc => &self.upc,
            IdentifierKind::Ean => &self.ean,
            IdentifierKind::Mpn => &self.mpn,
            IdentifierKind::Asin => &self.asin,
        };
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The channel's id of this line (Sellercloud order item id, BigCommerce order_product_id).
    pub channel_line_id: String,
    pub identifiers: ItemIdentifiers,
    pub description: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub unit_price: Money,
    /// Discount on this line, a positive amount off `unit_price × quantity`.
    pub discount: Money,
    pub tax: Money,
    pub note: Option<String>,
}

impl Line {
    pub fn gross_amount(&self) -> Result<Money, ModelError> {
        self.unit_price.times(self.quantity)
    }

    pub fn net_amount(&self) -> Result<Money, ModelError> {
        self.gross_amount()?.checked_sub(self.discount)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// The channel's payment method name or code, mapped to an ERP payment method.
    pub method: String,
    pub amount: Money,
    pub reference: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    pub code: Option<String>,
    pub description: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxLine {
    pub name: String,
    // Absent rather than null: the str_option deserializer refuses null, and a whole order
    // travels in a queue message (a rate-less tax line made the message unreadable).
    #[serde(with = "rust_decimal::serde::str_option", default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Decimal>,
    pub taxable: Money,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippingCharge {
    /// The shipping service the buyer chose, as the channel names it; mapped to an ERP ship via.
    pub method: String,
    pub carrier: Option<String>,
    /// What the buyer pays for shipping, before tax.
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    pub tax: Money,
    pub grand_total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Notes {
    /// What the buyer asked for (delivery instructions, customer message).
    pub customer_instructions: Option<String>,
    pub gift_message: Option<String>,
    /// Notes the merchant's staff wrote in the channel.
    pub internal: Option<String>,
}

/// A label carried to the ERP as an attribute (Amazon Prime, shipment priority, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "tag", content = "value", rename_all = "snake_case")]
pub enum Tag {
    Prime,
    Rush,
    ShipmentPriority(String),
    Custom(String),
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Small builders for canonical orders in tests.

    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::SystemCode;

    pub fn usd(amount: Decimal) -> Money {
        Money::new(amount, Currency::USD)
    }

    pub fn line(sku: &str, qty: Decimal, price: Decimal, discount: Decimal, tax: Decimal) -> Line {
        Line {
            channel_line_id: format!("line-{sku}"),
            identifiers: ItemIdentifiers { sku: Some(sku.into()), ..Default::default() },
            description: format!("Item {sku}"),
            quantity: qty,
            unit_price: usd(price),
            discount: usd(discount),
            tax: usd(tax),
            note: None,
        }
    }

    pub fn order() -> Order {
        let lines = vec![line("SKU-RED-M", dec!(2), dec!(19.99), dec!(0), dec!(3.20))];
        Order {
            connection: ConnectionId::parse("sc-main").unwrap(),
            channel_order_id: ChannelOrderId::new(SystemCode::parse("SC").unwrap(), "5512345").unwrap(),
            display_number: "112-0000000-0000000".into(),
            order_source: OrderSource("Amazon".into()),
            channel_status: "InProcess".into(),
            placed_at: Utc.with_ymd_and_hms(2024, 5, 1, 9, 12, 0).unwrap(),
            requested_delivery: None,
            promised_ship_by: None,
            currency: Currency::USD,
            customer: Customer {
                channel_customer_id: Some("77".into()),
                email: Some("buyer@example.com".into()),
                name: "Ann Lee".into(),
                company: None,
                phone: None,
            },
            bill_to: Address {
                name: "Ann Lee".into(),
                line1: "1 Main St".into(),
                city: "Austin".into(),
                country: "US".into(),
                ..Default::default()
            },
            ship_to: Address {
                name: "Ann Lee".into(),
                line1: "1 Main St".into(),
                city: "Austin".into(),
                country: "US".into(),
                ..Default::default()
            },
            lines,
            payments: vec![Payment {
                method: "Amazon Pay".into(),
                amount: usd(dec!(48.18)),
                reference: None,
                paid_at: None,
            }],
            shipping: ShippingCharge { method: "Standard".into(), carrier: None, amount: usd(dec!(5.00)) },
            order_discounts: vec![],
            taxes: vec![],
            totals: Totals {
                subtotal: usd(dec!(39.98)),
                discount: usd(dec!(0)),
                shipping: usd(dec!(5.00)),
                tax: usd(dec!(3.20)),
                grand_total: usd(dec!(48.18)),
            },
            notes: Notes::default(),
            tags: BTreeSet::from([Tag::Prime]),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::fixtures::*;
    use super::*;

    #[test]
    fn an_order_with_a_rateless_tax_line_survives_a_queue_message() {
        let mut o = order();
        o.taxes = vec![TaxLine { name: "Tax".into(), rate: None, taxable: usd(dec!(39.98)), amount: usd(dec!(3.20)) }];
        let back: Order = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        o.taxes[0].rate = Some(dec!(0.08));
        let back: Order = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }

    #[test]
    fn content_digest_ignores_the_status_and_sees_every_edit() {
        let base = order();
        let mut status_only = base.clone();
        status_only.channel_status = "Shipped".into();
        assert_eq!(base.content_digest(), status_only.content_digest());
        assert_eq!(base.content_digest().len(), 16);
        let mut street = base.clone();
        street.ship_to.line1 = "2 Main St".into();
        let mut qty = base.clone();
        qty.lines[0].quantity = dec!(3);
        assert_ne!(base.content_digest(), street.content_digest());
        assert_ne!(base.content_digest(), qty.content_digest());
        assert_ne!(street.content_digest(), qty.content_digest());
    }

    #[test]
    fn consistent_order_passes_the_totals_check() {
        order().check_totals().unwrap();
    }

    #[test]
    fn a_cent_off_fails_the_totals_check() {
        let mut o = order();
        o.totals.grand_total = usd(dec!(48.19));
        let err = o.check_totals().unwrap_err();
        assert!(err.to_string().contains("48.19"), "{err}");
    }

    #[test]
    fn order_discounts_and_line_discounts_both_count() {
        let mut o = order();
        o.lines.push(line("SKU-BLUE-L", dec!(1), dec!(10.00), dec!(1.50), dec!(0)));
        o.order_discounts.push(Discount {
            code: Some("SPRING".into()),
            description: "Spring sale".into(),
            amount: usd(dec!(2.00)),
        });
        o.totals.grand_total = usd(dec!(48.18) + dec!(8.50) - dec!(2.00));
        o.check_totals().unwrap();
    }

    #[test]
    fn order_round_trips_through_json() {
        let o = order();
        let json = serde_json::to_string(&o).unwrap();
        let back: Order = serde_json::from_str(&json).unwrap();
        assert_eq!(back, o);
    }

    #[test]
    fn identifier_lookup_skips_blank_values() {
        let ids = ItemIdentifiers { sku: Some("  ".into()), upc: Some("012345678905".into()), ..Default::default() };
        assert_eq!(ids.get(IdentifierKind::Sku), None);
        assert_eq!(ids.get(IdentifierKind::Upc), Some("012345678905"));
    }
}

//! ERP-originated orders: a sales order entered in the ERP (phone, wholesale, sales reps) as the
//! publish flow reads it, and the vendor-neutral draft of the channel order it becomes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Address, ChannelOrderId, Currency, Customer, ErpOrderRef, Money};

/// A sales order as the ERP holds it (header, lines, totals, addresses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpSalesOrder {
    pub erp: ErpOrderRef,
    /// The status as the ERP shows it (`Open`, `On Hold`, `Back Order`, `Canceled`, ...).
    pub status: String,
    pub hold: bool,
    /// The ERP's customer id (`AACUSTOMER`).
    pub customer_id: String,
    /// The customer's class, filled only when a sync condition needs it (one more read).
    pub customer_class: Option<String>,
    pub location: Option<String>,
    /// The customer order number; orders imported from a channel carry their Import ID here.
    pub customer_order: Option<String>,
    /// Where Orderbridge records the channel's order number once the order is published.
    pub external_ref: Option<String>,
    pub ship_via: Option<String>,
    pub payment_method: Option<String>,
    pub currency: Currency,
    pub ordered_at: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// The buyer: email, name, company, phone (from the order's contact, else the customer's).
    pub customer: Customer,
    pub bill_to: Address,
    pub ship_to: Address,
    pub lines: Vec<ErpSalesLine>,
    pub totals: ErpOrderTotals,
    pub note: Option<String>,
}

/// One line of an ERP sales order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpSalesLine {
    pub line_nbr: i64,
    /// The ERP item id (InventoryID), which the storefront knows as its SKU.
    pub item_id: String,
    pub description: String,
    pub quantity: Decimal,
    pub uom: Option<String>,
    pub warehouse: Option<String>,
    pub unit_price: Money,
    /// Line discount (an amount, already applied to `amount`).
    pub discount: Money,
    /// Quantity × unit price − discount.
    pub amount: Money,
}

/// The order's totals as the ERP computed them; the published order must equal them to the cent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpOrderTotals {
    /// Sum of the lines' amounts (after line discounts).
    pub lines: Money,
    /// Document-level discounts (not line discounts).
    pub discount: Money,
    pub freight: Money,
    pub tax: Money,
    pub order_total: Money,
    /// What is still to be paid; 0 once payments cover the order.
    pub unpaid_balance: Money,
}

/// An ERP invoice of an order, as the follow-up step needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpInvoice {
    /// `Invoice/INV000123`: the type and reference number.
    pub reference: String,
    /// Released (open or closed): only released invoices go to the channel.
    pub released: bool,
    /// (item id, quantity) per invoiced line of this order.
    pub lines: Vec<(String, Decimal)>,
}

/// The buyer of a published order: a storefront customer, or a guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorefrontCustomer {
    /// The storefront's customer id; None for a guest order.
    pub id: Option<String>,
    pub group_id: Option<i64>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// One line of a draft channel order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftLine {
    pub sku: String,
    pub name: String,
    pub quantity: Decimal,
    pub unit_price: Money,
    /// Quantity × unit price, before the line discount.
    pub row_total: Money,
    pub discount: Money,
    pub tax: Money,
}

/// The storefront order an ERP order becomes: built by a pure mapping, sent as is, so its money
/// equals the ERP's to the cent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelOrderDraft {
    pub erp: ErpOrderRef,
    /// The ERP number as shown on the channel order (and searched for before a create).
    pub erp_number: String,
    pub currency: Currency,
    pub placed_at: DateTime<Utc>,
    pub customer: StorefrontCustomer,
    pub bill_to: Address,
    pub ship_to: Address,
    pub lines: Vec<DraftLine>,
    /// `carrier_method` code (`freeshipping_freeshipping`) and its title.
    pub shipping_method: String,
    pub shipping_title: String,
    pub payment_method: String,
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    pub tax: Money,
    pub grand_total: Money,
    pub comment: Option<String>,
}

/// A channel order created from an ERP order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedOrder {
    pub id: ChannelOrderId,
    /// The number the storefront shows (its order increment number).
    pub display_number: String,
}

/// Which ERP orders a storefront receives: the order is sent when **any one** condition set
/// holds; each set holds when every criterion it names holds (an empty set never holds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConditions {
    #[serde(default)]
    pub when: Vec<ConditionSet>,
}

/// One set of criteria, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSet {
    /// The order type is one of these (`SO`).
    #[serde(default)]
    pub order_types: Option<Vec<String>>,
    /// The status is one of these (as the ERP shows it: `Open`, `Back Order`) and the order is
    /// not on hold.
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
    /// The customer's class is one of these (costs one customer read per customer and batch).
    #[serde(default)]
    pub customer_classes: Option<Vec<String>>,
    /// The unpaid balance is 0.00 (payments applied in the ERP cover the order).
    #[serde(default)]
    pub unpaid_balance_zero: Option<bool>,
}

impl ConditionSet {
    /// The criteria that do not hold, each in words; empty when the set holds.
    pub fn failures(&self, order: &ErpSalesOrder) -> Vec<String> {
        let mut failed = Vec::new();
        let listed = |list: &[String], value: &str| list.iter().any(|v| v.trim().eq_ignore_ascii_case(value.trim()));
        if self.is_empty() {
            failed.push("the condition set names no criterion".to_owned());
        }
        if let Some(types) = &self.order_types {
            if !listed(types, order.erp.order_type.as_str()) {
                failed.push(format!("order type {} is not in {types:?}", order.erp.order_type));
            }
        }
        if let Some(statuses) = &self.statuses {
            if !listed(statuses, &order.status) {
                failed.push(format!("status {:?} is not in {statuses:?}", order.status));
            } else if order.hold {
                failed.push("the order is on hold".to_owned());
            }
        }
        if let Some(classes) = &self.customer_classes {
            match &order.customer_class {
                Some(class) if listed(classes, class) => {}
                Some(class) => failed.push(format!("customer class {class} is not in {classes:?}")),
                None => failed.push(format!("customer {} has no class (wanted one of {classes:?})", order.customer_id)),
            }
        }
        if self.unpaid_balance_zero == Some(true) && !order.totals.unpaid_balance.is_zero() {
            let unpaid = &order.totals.unpaid_balance;
            failed.push(format!("unpaid balance is {:.2} {}, not 0.00", unpaid.amount, unpaid.currency));
        }
        failed
    }

    fn is_empty(&self) -> bool {
        self.order_types.is_none()
            && self.statuses.is_none()
            && self.customer_classes.is_none()
            && self.unpaid_balance_zero != Some(true)
    }
}

impl SyncConditions {
    /// True when the customer's class must be read to evaluate the conditions.
    pub fn needs_customer_class(&self) -> bool {
        self.when.iter().any(|set| set.customer_classes.is_some())
    }

    /// `Ok` when any set holds; else why each set failed (`set 1: …; set 2: …`).
    pub fn evaluate(&self, order: &ErpSalesOrder) -> Result<(), String> {
        if self.when.is_empty() {
            return Err("no sync condition is configured".to_owned());
        }
        let mut reasons = Vec::new();
        for (i, set) in self.when.iter().enumerate() {
            let failed = set.failures(order);
            if failed.is_empty() {
                return Ok(());
            }
            reasons.push(format!("condition {}: {}", i + 1, failed.join(", ")));
        }
        Err(reasons.join("; "))
    }
}

/// How the buyer of a published order is found in the storefront.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishCustomers {
    /// Found by email, else created.
    #[default]
    FindOrCreate,
    /// Found by email, else a guest order.
    FindOrGuest,
    /// Always a guest order.
    Guest,
}

/// A storefront connection's settings for ERP-originated orders (`[connection.settings.erp_orders]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpOrderSync {
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// `[[connection.settings.erp_orders.when]]`: the condition sets (any one must hold).
    #[serde(default)]
    pub when: Vec<ConditionSet>,
    #[serde(default)]
    pub customers: PublishCustomers,
    /// Invoices released in the ERP become storefront invoices.
    #[serde(default = "enabled")]
    pub invoices: bool,
}

impl ErpOrderSync {
    pub fn conditions(&self) -> SyncConditions {
        SyncConditions { when: self.when.clone() }
    }
}

fn enabled() -> bool {
    true
}

/// Builders for ERP-originated orders in tests.
#[cfg(test)]
pub(crate) mod erp_fixtures {
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::{ErpOrderNbr, ErpOrderType};

    fn usd(v: Decimal) -> Money {
        Money::new(v, Currency::parse("USD").unwrap())
    }

    /// The reference walkthrough's order: 2 × WATER2809 at 20.00, Ship Via LOCAL, total 40.00.
    pub(crate) fn walkthrough_order() -> ErpSalesOrder {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap();
        let address = Address {
            name: "Alta Ace".into(),
            line1: "1 Main St".into(),
            city: "Seattle".into(),
            region: Some("WA".into()),
            postal_code: Some("98101".into()),
            country: "US".into(),
            email: Some("ap@altaace.com".into()),
            ..Address::default()
        };
        ErpSalesOrder {
            erp: ErpOrderRef {
                order_type: ErpOrderType::parse("SO").unwrap(),
                order_nbr: ErpOrderNbr::parse("SO000123").unwrap(),
            },
            status: "Open".into(),
            hold: false,
            customer_id: "AACUSTOMER".into(),
            customer_class: None,
            location: Some("MAIN".into()),
            customer_order: None,
            external_ref: None,
            ship_via: Some("LOCAL".into()),
            payment_method: None,
            currency: Currency::parse("USD").unwrap(),
            ordered_at: at,
            last_modified: at,
            customer: Customer {
                channel_customer_id: None,
                email: Some("ap@altaace.com".into()),
                name: "Alta Ace".into(),
                company: None,
                phone: None,
            },
            bill_to: address.clone(),
            ship_to: address,
            lines: vec![ErpSalesLine {
                line_nbr: 1,
                item_id: "WATER2809".into(),
                description: "Spring water".into(),
                quantity: dec!(2),
                uom: Some("BOTTLE".into()),
                warehouse: Some("RETAIL".into()),
                unit_price: usd(dec!(20.00)),
                discount: usd(dec!(0)),
                amount: usd(dec!(40.00)),
            }],
            totals: ErpOrderTotals {
                lines: usd(dec!(40.00)),
                discount: usd(dec!(0)),
                freight: usd(dec!(0)),
                tax: usd(dec!(0)),
                order_total: usd(dec!(40.00)),
                unpaid_balance: usd(dec!(40.00)),
            },
            note: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn order(status: &str, hold: bool, unpaid: Decimal, class: Option<&str>) -> ErpSalesOrder {
        let mut order = super::erp_fixtures::walkthrough_order();
        order.status = status.into();
        order.hold = hold;
        order.customer_class = class.map(str::to_owned);
        order.totals.unpaid_balance = Money::new(unpaid, order.currency);
        order
    }

    fn settings(toml_text: &str) -> ErpOrderSync {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn any_one_set_is_enough_and_every_criterion_of_a_set_must_hold() {
        let sync = settings(
            r#"
            [[when]]
            unpaid_balance_zero = true
            [[when]]
            statuses = ["Open", "Back Order"]
            customer_classes = ["WHOLESALE"]
            "#,
        );
        let conditions = sync.conditions();
        assert!(conditions.needs_customer_class());
        assert!(conditions.evaluate(&order("Open", false, dec!(0), None)).is_ok(), "paid: set 1 holds");
        assert!(conditions.evaluate(&order("Open", false, dec!(40), Some("WHOLESALE"))).is_ok(), "set 2 holds");
        let why = conditions.evaluate(&order("Open", false, dec!(40), Some("RETAIL"))).unwrap_err();
        assert_eq!(
            why,
            "condition 1: unpaid balance is 40.00 USD, not 0.00; condition 2: customer class RETAIL is not in [\"WHOLESALE\"]"
        );
        let held = conditions.evaluate(&order("Open", true, dec!(40), Some("WHOLESALE"))).unwrap_err();
        assert!(held.contains("the order is on hold"), "{held}");
        let other = conditions.evaluate(&order("Completed", false, dec!(40), Some("WHOLESALE"))).unwrap_err();
        assert!(other.contains("status \"Completed\" is not in"), "{other}");
    }

    #[test]
    fn order_types_match_ignoring_case_and_empty_settings_never_send() {
        let sync = settings("[[when]]\norder_types = [\"so\"]\n");
        assert!(sync.conditions().evaluate(&order("Open", false, dec!(40), None)).is_ok());
        assert!(!sync.conditions().needs_customer_class());
        let none = settings("");
        assert!(none.enabled && none.invoices, "enabled and invoices default to true");
        assert_eq!(none.customers, PublishCustomers::FindOrCreate);
        assert_eq!(
            none.conditions().evaluate(&order("Open", false, dec!(0), None)).unwrap_err(),
            "no sync condition is configured"
        );
        let empty_set = settings("[[when]]\n");
        assert!(empty_set
            .conditions()
            .evaluate(&order("Open", false, dec!(0), None))
            .unwrap_err()
            .contains("names no criterion"));
        assert!(toml::from_str::<ErpOrderSync>("[[when]]\nunpaid = true\n").is_err(), "unknown criteria are refused");
    }
}

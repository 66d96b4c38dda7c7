//! Profit & Loss per order, as the bulk `POST /api/Orders/ProfitAndLoss` answers it [SC20].
//!
//! Each order carries a [`ScPnl`] seeded from its content: Amazon orders start unsettled (their
//! commission reads `"N/A"`), every other order starts settled with a 15 % commission and card
//! fees. Settlement only moves through the control API ([`ScPnlUpdate`]); the sandbox does not
//! run settlement cycles on its own.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{dt, ScOrder};
use crate::core::{fixed, num_dp};
use crate::seed::{Channel, GenLine, GenOrder};

/// Most ids one ProfitAndLoss request may carry (the sandbox's own limit; UNCONFIRMED upstream).
pub const PNL_MAX_ORDERS: usize = 100;

/// The fee and settlement state behind an order's P&L.
#[derive(Clone, Debug, Serialize)]
pub struct ScPnl {
    /// `SettlementDataAvailable`. While false, `Comission` reads `"N/A"` and counts as 0.
    pub settled: bool,
    /// Channel commission, in the order currency (reported only once settled).
    pub commission: Decimal,
    pub transaction_fee: Decimal,
    pub posting_fee: Decimal,
    /// Explicit shipping cost; `None` → the sum of the order's package costs.
    pub shipping_cost: Option<Decimal>,
    /// Added to the profit (negative for charge-backs).
    pub adjustments: Decimal,
}

/// Changes to an order's P&L (the control API's way to "import a settlement").
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ScPnlUpdate {
    #[serde(default, alias = "SettlementDataAvailable")]
    pub settled: Option<bool>,
    /// A JSON number or numeric string.
    #[serde(default, alias = "Comission", alias = "Commission")]
    pub commission: Option<Decimal>,
    #[serde(default, alias = "TransactionFee")]
    pub transaction_fee: Option<Decimal>,
    #[serde(default, alias = "PostingFee")]
    pub posting_fee: Option<Decimal>,
    /// Overrides the package-derived shipping cost.
    #[serde(default, alias = "ShippingCost")]
    pub shipping_cost: Option<Decimal>,
    #[serde(default, alias = "Adjustments")]
    pub adjustments: Option<Decimal>,
}

fn pct(rate: i64) -> Decimal {
    Decimal::new(rate, 3)
}

/// Per-unit cost of a line: 55 % of its unit price, rounded to cents.
pub(crate) fn unit_cost(l: &GenLine) -> Decimal {
    (l.unit_price * Decimal::new(55, 2)).round_dp(2)
}

impl ScPnl {
    /// The starting P&L of a generated order: Amazon unsettled, everyone else settled with a
    /// 15 % commission and a 2.9 % + 0.30 transaction fee, all rounded to cents.
    pub fn seeded(g: &GenOrder) -> Self {
        let grand = g.grand_total();
        let commission = (grand * pct(150)).round_dp(2);
        let amazon = g.channel == Channel::Amazon;
        Self {
            settled: !amazon,
            commission,
            transaction_fee: if amazon { Decimal::ZERO } else { (grand * pct(29)).round_dp(2) + Decimal::new(30, 2) },
            posting_fee: Decimal::ZERO,
            shipping_cost: None,
            adjustments: Decimal::ZERO,
        }
    }

    pub fn apply(&mut self, u: &ScPnlUpdate) {
        if let Some(x) = u.settled {
            self.settled = x;
        }
        if let Some(x) = u.commission {
            self.commission = x;
        }
        if let Some(x) = u.transaction_fee {
            self.transaction_fee = x;
        }
        if let Some(x) = u.posting_fee {
            self.posting_fee = x;
        }
        if let Some(x) = u.shipping_cost {
            self.shipping_cost = Some(x);
        }
        if let Some(x) = u.adjustments {
            self.adjustments = x;
        }
    }
}

/// Splits `total` over `weights` in proportion, to the cent, the last share taking the rounding
/// rest so the shares add up to `total` exactly.
fn allocate(total: Decimal, weights: &[Decimal]) -> Vec<Decimal> {
    let sum: Decimal = weights.iter().sum();
    let mut out = Vec::with_capacity(weights.len());
    let mut given = Decimal::ZERO;
    for (i, w) in weights.iter().enumerate() {
        let share = if i + 1 == weights.len() {
            total - given
        } else if sum.is_zero() {
            Decimal::ZERO
        } else {
            (total * w / sum).round_dp(2)
        };
        given += share;
        out.push(share);
    }
    out
}

/// `x / base × 100` with one decimal (0 when `base` is 0).
fn percent(x: Decimal, base: Decimal) -> Decimal {
    if base.is_zero() {
        Decimal::ZERO
    } else {
        (x / base * Decimal::ONE_HUNDRED).round_dp(1)
    }
}

impl ScOrder {
    /// Shipping cost the P&L uses: the explicit override, else the sum of package costs.
    pub fn pnl_shipping_cost(&self) -> Decimal {
        self.pnl.shipping_cost.unwrap_or_else(|| self.packages.iter().filter_map(|p| p.cost).sum())
    }

    /// One element of the `Orders/ProfitAndLoss` answer: order-level money as strings with two
    /// decimals (plus `...Usd` at `CurrencyRateToUSD`), item-level money as numbers.
    pub fn pnl_json(&self) -> Value {
        let g = &self.gen;
        let p = &self.pnl;
        let grand = g.grand_total();
        let tax = g.tax();
        let item_cost: Decimal = g.lines.iter().map(|l| unit_cost(l) * Decimal::from(l.qty)).sum();
        let commission = if p.settled { p.commission } else { Decimal::ZERO };
        let shipping_cost = self.pnl_shipping_cost();
        let order_cost = item_cost + commission + p.transaction_fee + p.posting_fee + shipping_cost;
        let profit = grand - tax - order_cost + p.adjustments;
        let payments = if self.payment_status == 30 { grand } else { Decimal::ZERO };
        let rate = g.rate_to_usd;

        let mut m = Map::new();
        let money = |m: &mut Map<String, Value>, k: &str, v: Decimal, usd: bool| {
            m.insert(k.to_string(), json!(fixed(v, 2)));
            if usd {
                m.insert(format!("{k}Usd"), json!(fixed(v * rate, 2)));
            }
        };
        money(&mut m, "ItemCost", item_cost, true);
        money(&mut m, "PostingFee", p.posting_fee, true);
        if p.settled {
            money(&mut m, "Comission", p.commission, true);
        } else {
            m.insert("Comission".into(), json!("N/A"));
            m.insert("ComissionUsd".into(), json!("N/A"));
        }
        money(&mut m, "TransportationFee", Decimal::ZERO, false);
        money(&mut m, "TransactionFee", p.transaction_fee, true);
        money(&mut m, "ShippingCost", shipping_cost, true);
        for k in [
            "FbaOrderHandling",
            "FbaPickAndPack",
            "FbaShippingChargeback",
            "FbaGiftWrapChargeback",
            "FbaWeightHandling",
        ] {
            money(&mut m, k, Decimal::ZERO, false);
        }
        money(&mut m, "Tax", tax, true);
        money(&mut m, "Promotion", g.order_discount + g.line_discounts(), true);
        money(&mut m, "Rebates", Decimal::ZERO, true);
        money(&mut m, "OrderCost", order_cost, true);
        money(&mut m, "Payments", payments, true);
        money(&mut m, "Adjustments", p.adjustments, true);
        money(&mut m, "DropShipFee", Decimal::ZERO, true);
        money(&mut m, "ShippingClaim", Decimal::ZERO, false);
        money(&mut m, "ProfitLoss", profit, true);
        money(&mut m, "ProfitLossForParentOrder", profit, false);
        m.insert("ProfitLossPercentage".into(), json!(format!("{} %", fixed(percent(profit, grand), 1))));

        // Items: each line's share of the commission and fee, so the items add up to the order.
        let nets: Vec<Decimal> = g.lines.iter().map(GenLine::net).collect();
        let commissions = allocate(commission, &nets);
        let fees = allocate(p.transaction_fee, &nets);
        let items: Vec<Value> = g
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let unit = unit_cost(l);
                let cost = unit * Decimal::from(l.qty);
                let selling = l.net();
                let final_cost = cost + commissions[i] + fees[i];
                let item_profit = selling - final_cost;
                json!({
                    "ProductID": l.sku, "QtySold": l.qty,
                    "OrderUnitSiteCost": num_dp(unit, 2), "OrderSiteCost": num_dp(cost, 2),
                    "ProductUnitSiteCost": num_dp(unit, 2), "ProductSiteCost": num_dp(cost, 2),
                    "SellingPrice": num_dp(selling, 2), "RefundTotal": num_dp(Decimal::ZERO, 2),
                    "ChannelCommission": num_dp(commissions[i], 2), "TransactionFee": num_dp(fees[i], 2),
                    "FinalCostTotal": num_dp(final_cost, 2), "Profit": num_dp(item_profit, 2),
                    "ProfitPercent": num_dp(percent(item_profit, selling), 1),
                })
            })
            .collect();
        m.insert("OrderItems".into(), Value::Array(items));
        m.insert("OrderID".into(), json!(self.id));
        m.insert("PaymentStatus".into(), json!(self.payment_status));
        m.insert("ShippingStatus".into(), json!(self.shipping_status));
        m.insert("ShipDate".into(), json!(self.ship_date.as_ref().map(dt)));
        m.insert("Channel".into(), json!(g.channel.sellercloud_source()));
        m.insert("CustomerID".into(), json!(self.customer_id));
        // Same value as the detail's `OrderDetails.CurrencyCode`.
        m.insert("CurrencyCode".into(), json!(0));
        m.insert("IsTaxCollectedByMarketplace".into(), json!(g.channel != Channel::Website));
        m.insert("SettlementDataAvailable".into(), json!(p.settled));
        m.insert("QbExported".into(), json!(false));
        for k in ["FirstSalesRep", "SecondSalesRep", "ThirdSalesRep"] {
            m.insert(k.into(), Value::Null);
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_adds_up_exactly() {
        let w = [Decimal::new(1000, 2), Decimal::new(2000, 2), Decimal::new(3333, 2)];
        let a = allocate(Decimal::new(1001, 2), &w);
        assert_eq!(a.iter().sum::<Decimal>(), Decimal::new(1001, 2));
        assert_eq!(allocate(Decimal::ONE, &[Decimal::ZERO, Decimal::ZERO]), vec![Decimal::ZERO, Decimal::ONE]);
    }

    #[test]
    fn percentage_has_one_decimal() {
        assert_eq!(fixed(percent(Decimal::new(-9, 0), Decimal::new(64, 1)), 1), "-140.6");
        assert_eq!(fixed(percent(Decimal::ONE, Decimal::ZERO), 1), "0.0");
    }
}

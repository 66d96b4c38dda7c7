//! The ERP-originated direction's mapping: an ERP sales order (customer already resolved in the
//! storefront) → the storefront order draft. Pure: no I/O, so every rule is unit-tested.

use rust_decimal::Decimal;

use super::ErpOrderRules;
use crate::model::{ChannelOrderDraft, DraftLine, ErpSalesOrder, Money, StorefrontCustomer};

/// A value the mapping file does not cover, or money that does not add up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishMappingError {
    /// An unmapped value: the order waits until the line is added to the mapping file.
    #[error("{what} {value:?} is not mapped: add `{line}` under [erp_orders.{section}] in {mapping}")]
    Unmapped { what: &'static str, value: String, section: &'static str, line: String, mapping: String },
    #[error("order {order}: {detail}")]
    Invalid { order: String, detail: String },
}

impl crate::error::Classify for PublishMappingError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Permanent
    }
}

/// The storefront SKU of an ERP item (`[erp_orders.skus]`, else the item id itself).
pub fn storefront_sku(rules: &ErpOrderRules, item_id: &str) -> String {
    rules.skus.get(item_id).map_or_else(|| item_id.trim().to_owned(), |s| s.get_ref().trim().to_owned())
}

/// The ERP number as the storefront shows and searches it (`SO/SO000123`).
pub fn erp_number(order: &ErpSalesOrder) -> String {
    order.erp.to_string()
}

/// Splits `total` over `weights` to the currency's minor unit (largest remainder, as order
/// discounts are spread on import): the parts always add up to `total` exactly.
fn allocate(total: Money, weights: &[Money]) -> Vec<Money> {
    let amounts: Vec<Decimal> = weights.iter().map(|w| w.amount).collect();
    super::allocate(total.amount, &amounts, total.currency.minor_units())
        .into_iter()
        .map(|part| Money::new(part, total.currency))
        .collect()
}

/// Builds the storefront order. Ship Via and payment method go through the mapping file; lines
/// keep the ERP's prices; the document discount and the tax are spread over the lines (the
/// storefront keeps them per item) so that lines, shipping, discount and tax add up to the ERP's
/// order total to the cent, which is checked.
pub fn storefront_draft(
    order: &ErpSalesOrder,
    customer: StorefrontCustomer,
    rules: &ErpOrderRules,
    mapping_label: &str,
) -> Result<ChannelOrderDraft, PublishMappingError> {
    let invalid = |detail: String| PublishMappingError::Invalid { order: order.erp.to_string(), detail };
    let ship_via = order.ship_via.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("");
    let shipping = rules
        .ship_via
        .get(ship_via)
        .or_else(|| rules.ship_via.iter().find(|(k, _)| k.eq_ignore_ascii_case(ship_via)).map(|(_, v)| v))
        .map(|t| t.get_ref())
        .ok_or_else(|| PublishMappingError::Unmapped {
            what: "Ship Via",
            value: ship_via.to_owned(),
            section: "ship_via",
            line: format!(
                "{} = {{ method = \"flatrate_flatrate\", title = \"Flat Rate - Fixed\" }}",
                toml_key(if ship_via.is_empty() { "\"\"" } else { ship_via })
            ),
            mapping: mapping_label.to_owned(),
        })?;
    let payment = match order.payment_method.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(method) => rules
            .payment_methods
            .get(method)
            .or(rules.default_payment_method.as_ref())
            .map(|m| m.get_ref().clone())
            .ok_or_else(|| PublishMappingError::Unmapped {
                what: "payment method",
                value: method.to_owned(),
                section: "payment_methods",
                line: format!("{} = \"checkmo\"", toml_key(method)),
                mapping: mapping_label.to_owned(),
            })?,
        None => rules.default_payment_method.as_ref().map(|m| m.get_ref().clone()).ok_or_else(|| {
            PublishMappingError::Unmapped {
                what: "payment method",
                value: String::new(),
                section: "payment_methods",
                line: "default_payment_method = \"checkmo\" (in [erp_orders])".to_owned(),
                mapping: mapping_label.to_owned(),
            }
        })?,
    };
    if order.lines.is_empty() {
        return Err(invalid("Details: the order has no lines".into()));
    }
    let currency = order.currency;
    let totals = &order.totals;
    let row_totals: Vec<Money> =
        order.lines.iter().map(|l| Money::new(l.quantity * l.unit_price.amount, currency).round_to_minor()).collect();
    let amounts: Vec<Money> = order.lines.iter().map(|l| l.amount).collect();
    let doc_discounts = allocate(totals.discount, &amounts);
    let taxes = allocate(totals.tax, &amounts);
    let mut lines = Vec::with_capacity(order.lines.len());
    for (i, line) in order.lines.iter().enumerate() {
        if line.quantity <= Decimal::ZERO {
            return Err(invalid(format!("Details[{i}].OrderQty: {} is not a positive quantity", line.quantity)));
        }
        let discount = Money::new(line.discount.amount + doc_discounts[i].amount, currency);
        lines.push(DraftLine {
            sku: storefront_sku(rules, &line.item_id),
            name: if line.description.trim().is_empty() { line.item_id.clone() } else { line.description.clone() },
            quantity: line.quantity,
            unit_price: line.unit_price,
            row_total: row_totals[i],
            discount,
            tax: taxes[i],
        });
    }
    let sum = |f: fn(&DraftLine) -> Decimal| lines.iter().map(f).sum::<Decimal>();
    let subtotal = Money::new(sum(|l| l.row_total.amount), currency);
    let discount = Money::new(sum(|l| l.discount.amount), currency);
    let computed = subtotal.amount - discount.amount + totals.freight.amount + totals.tax.amount;
    if computed.round_dp(2) != totals.order_total.amount.round_dp(2) {
        return Err(invalid(format!(
            "lines {} − discounts {} + freight {} + tax {} = {computed}, but the ERP's order total is {}",
            subtotal.amount, discount.amount, totals.freight.amount, totals.tax.amount, totals.order_total.amount
        )));
    }
    let comment = Some(format!(
        "Entered in the ERP as {}{}.",
        order.erp,
        order.customer_order.as_deref().map(|c| format!(" (customer order {c})")).unwrap_or_default()
    ));
    Ok(ChannelOrderDraft {
        erp: order.erp.clone(),
        erp_number: erp_number(order),
        currency,
        placed_at: order.ordered_at,
        customer,
        bill_to: order.bill_to.clone(),
        ship_to: order.ship_to.clone(),
        lines,
        shipping_method: shipping.method.clone(),
        shipping_title: shipping.title.clone(),
        payment_method: payment,
        subtotal,
        discount,
        shipping: totals.freight,
        tax: totals.tax,
        grand_total: totals.order_total,
        comment,
    })
}

/// A TOML key as a user would type it: bare when it can be, else quoted.
pub fn toml_key(key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare || key == "\"\"" {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::mapping::{Mapping, EXAMPLE_FOR_TESTS};
    use crate::model::{erp_fixtures as fixtures, Currency};

    fn usd(v: Decimal) -> Money {
        Money::new(v, Currency::parse("USD").unwrap())
    }

    fn buyer() -> StorefrontCustomer {
        StorefrontCustomer {
            id: Some("7".into()),
            group_id: Some(1),
            email: "ap@altaace.com".into(),
            first_name: "Alta".into(),
            last_name: "Ace".into(),
        }
    }

    fn rules() -> ErpOrderRules {
        Mapping::parse("mappings/mg.toml", 1, EXAMPLE_FOR_TESTS).unwrap().file.erp_orders
    }

    #[test]
    fn the_walkthrough_order_maps_to_free_shipping_and_the_erp_total() {
        let draft = storefront_draft(&fixtures::walkthrough_order(), buyer(), &rules(), "mappings/mg.toml").unwrap();
        assert_eq!(draft.shipping_method, "freeshipping_freeshipping");
        assert_eq!(draft.shipping_title, "Free Shipping - Free");
        assert_eq!(draft.payment_method, "checkmo");
        assert_eq!(draft.erp_number, "SO/SO000123");
        assert_eq!(draft.grand_total.amount, dec!(40.00));
        assert_eq!(draft.lines[0].sku, "WATER2809");
        assert_eq!(draft.lines[0].row_total.amount, dec!(40.00));
        assert_eq!(draft.customer.email, "ap@altaace.com");
    }

    #[test]
    fn discount_and_tax_are_spread_over_lines_to_the_cent() {
        let mut order = fixtures::walkthrough_order();
        let mut second = order.lines[0].clone();
        second.line_nbr = 2;
        second.item_id = "WATER-OLD".into();
        second.quantity = dec!(1);
        second.unit_price = usd(dec!(9.99));
        second.amount = usd(dec!(9.99));
        order.lines.push(second);
        order.totals.discount = usd(dec!(1.00));
        order.totals.tax = usd(dec!(4.01));
        order.totals.freight = usd(dec!(5.00));
        order.totals.order_total = usd(dec!(58.00));
        let draft = storefront_draft(&order, buyer(), &rules(), "m.toml").unwrap();
        let tax: Decimal = draft.lines.iter().map(|l| l.tax.amount).sum();
        let discount: Decimal = draft.lines.iter().map(|l| l.discount.amount).sum();
        assert_eq!(tax, dec!(4.01));
        assert_eq!(discount, dec!(1.00));
        assert_eq!(draft.lines[1].sku, "WATER2809", "[erp_orders.skus] substitutes the SKU");
        assert_eq!(
            draft.subtotal.amount - draft.discount.amount + draft.shipping.amount + draft.tax.amount,
            dec!(58.00)
        );
        order.totals.order_total = usd(dec!(58.01));
        let err = storefront_draft(&order, buyer(), &rules(), "m.toml").unwrap_err().to_string();
        assert!(err.contains("order total is 58.01"), "{err}");
    }

    #[test]
    fn an_unmapped_ship_via_names_the_line_to_add() {
        let mut order = fixtures::walkthrough_order();
        order.ship_via = Some("FEDEX2DAY".into());
        let err = storefront_draft(&order, buyer(), &rules(), "mappings/mg.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Ship Via \"FEDEX2DAY\" is not mapped: add `FEDEX2DAY = { method = \"flatrate_flatrate\", title = \"Flat Rate - Fixed\" }` under [erp_orders.ship_via] in mappings/mg.toml"
        );
        order.ship_via = Some("local".into());
        assert!(storefront_draft(&order, buyer(), &rules(), "m").is_ok(), "Ship Via matches ignoring case");
    }

    #[test]
    fn payment_methods_map_or_fall_back_to_the_default() {
        let mut order = fixtures::walkthrough_order();
        order.payment_method = Some("CHECK".into());
        assert_eq!(storefront_draft(&order, buyer(), &rules(), "m").unwrap().payment_method, "checkmo");
        let mut no_default = rules();
        no_default.default_payment_method = None;
        order.payment_method = Some("WIRE".into());
        let err = storefront_draft(&order, buyer(), &no_default, "m.toml").unwrap_err().to_string();
        assert!(err.contains("add `WIRE = \"checkmo\"` under [erp_orders.payment_methods]"), "{err}");
    }

    #[test]
    fn allocation_always_adds_up() {
        let parts = allocate(usd(dec!(0.10)), &[usd(dec!(1)), usd(dec!(1)), usd(dec!(1))]);
        assert_eq!(parts.iter().map(|p| p.amount).sum::<Decimal>(), dec!(0.10));
        assert!(allocate(usd(dec!(5)), &[]).is_empty());
        let zero = allocate(usd(dec!(1.00)), &[usd(dec!(0)), usd(dec!(0))]);
        assert_eq!(zero.iter().map(|p| p.amount).sum::<Decimal>(), dec!(1.00));
    }
}

//! Turns a canonical order into an ERP-ready draft using a validated mapping and the ERP's own
//! customers and items. Every value that has no mapping becomes a named problem that says what
//! to add where; an order with problems is not created.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{DraftContact, DraftLine, DraftPayment, DraftTax, Mapping, SalesOrderDraft};
use crate::model::{Address, Customer, ErpCustomerId, ErpItemId, ErpOrderType, IdentifierKind, ModelError, Order, Tag};
use crate::ports::ConnectorError;

/// One thing that keeps an order out of the ERP until a person acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// Why an order could not be mapped.
#[derive(Debug, thiserror::Error)]
pub enum OrderMappingError {
    /// Values with no mapping or no match in the ERP: permanent until the mapping or the ERP changes.
    #[error("{}", render_problems(.0))]
    Unmapped(Vec<Problem>),
    #[error("order data is inconsistent: {0}")]
    Model(#[from] ModelError),
    /// The ERP could not be asked (customer or item lookup failed).
    #[error("ERP lookup failed")]
    Lookup(#[source] ConnectorError),
}

fn render_problems(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
}

impl crate::error::Classify for OrderMappingError {
    fn class(&self) -> crate::error::ErrorClass {
        match self {
            Self::Lookup(e) => e.class(),
            _ => crate::error::ErrorClass::Permanent,
        }
    }
}

/// An unmapped value read back from a recorded failure (the text [`Mapping::unmapped`] writes),
/// so the operator's inbox can group blocked orders by value and say which line to add.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnmappedValue {
    /// The mapping section (`shipping_methods`, `order_types.by_source`).
    pub section: String,
    /// What the value is (`shipping method`).
    pub what: String,
    pub value: String,
    /// The mapping file named in the failure.
    pub mapping_path: String,
}

impl UnmappedValue {
    /// Every unmapped value a failure text names (problems are joined with "; ", and a value
    /// may itself contain "; ", so the text is scanned for quoted values followed by the
    /// marker rather than split).
    pub fn find_all(failure: &str) -> Vec<Self> {
        const MARKER: &str = ": not mapped; add it to [";
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(offset) = failure[from..].find(" \"") {
            let quote = from + offset + 1;
            from = quote;
            // `{what} {value:?}: not mapped; add it to [{section}] in {path} (mapping v{n})`:
            // the value is Debug-quoted and read back as a JSON string (the escapes agree for
            // the printable text channels send).
            let Some((quoted, tail)) = split_quoted(&failure[quote..]) else { continue };
            let Some(after) = tail.strip_prefix(MARKER) else { continue };
            let Ok(value) = serde_json::from_str::<String>(quoted) else { continue };
            let Some((section, rest)) = after.split_once("] in ") else { continue };
            let head = &failure[..quote - 1];
            let start = [head.rfind("; "), head.rfind(": ")].into_iter().flatten().max().map_or(0, |i| i + 2);
            let what = &head[start..];
            found.push(Self {
                section: section.to_owned(),
                what: what.trim().to_owned(),
                value,
                mapping_path: rest.split(" (mapping v").next().unwrap_or(rest).to_owned(),
            });
            from = quote + quoted.len();
        }
        found
    }

    /// What to add to the mapping file, as TOML.
    pub fn line_to_add(&self) -> String {
        let key = json_quote(&self.value);
        let what = match self.section.as_str() {
            "shipping_methods" => "the ERP Ship Via",
            "payment_methods" => "the ERP payment method",
            "order_types.by_source" => "the ERP order type",
            _ => "the ERP value",
        };
        match self.section.split_once('.') {
            // An inline table of a section (`by_source = { … }`): the entry goes inside it.
            Some((section, table)) => format!("[{section}] {table} = {{ …, {key} = \"<{what}>\" }}"),
            None => format!("[{}] {key} = \"<{what}>\"", self.section),
        }
    }
}

fn json_quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

/// Splits `"…" rest` into the quoted part (with its quotes) and the rest.
fn split_quoted(text: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some((&text[..=i], &text[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

impl Mapping {
    pub(crate) fn unmapped(&self, section: &str, what: &str, value: &str) -> Problem {
        Problem {
            field: format!("{what} {value:?}"),
            message: format!("not mapped; add it to [{section}] in {} (mapping v{})", self.path, self.version),
        }
    }

    /// The ERP order type for the order's source.
    pub fn order_type(&self, order: &Order) -> Result<ErpOrderType, Problem> {
        let by_source = self.file.order_types.by_source.get(&order.order_source.0);
        let chosen = by_source.or(self.file.order_types.default.as_ref());
        let Some(chosen) = chosen else {
            return Err(self.unmapped("order_types.by_source", "order source", &order.order_source.0));
        };
        ErpOrderType::parse(chosen.get_ref().clone()).map_err(|e| Problem {
            field: format!("order type for {:?}", order.order_source.0),
            message: e.to_string(),
        })
    }
}

pub(crate) fn kind_name(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Sku => "SKU",
        IdentifierKind::Upc => "UPC",
        IdentifierKind::Ean => "EAN",
        IdentifierKind::Mpn => "MPN",
        IdentifierKind::Asin => "ASIN",
    }
}

/// Splits `total` over `weights` in proportion, in cents, so the parts add up to `total` exactly
/// (largest remainder). Used to spread order-level discounts over lines.
pub fn allocate(total: Decimal, weights: &[Decimal], scale: u32) -> Vec<Decimal> {
    let sum: Decimal = weights.iter().copied().filter(|w| *w > Decimal::ZERO).sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if sum.is_zero() {
        // Nothing to weigh by: the first line takes it all.
        let mut parts = vec![Decimal::ZERO; weights.len()];
        parts[0] = total;
        return parts;
    }
    let unit = Decimal::new(1, scale);
    let exact: Vec<Decimal> =
        weights.iter().map(|w| if *w > Decimal::ZERO { total * *w / sum } else { Decimal::ZERO }).collect();
    let mut parts: Vec<Decimal> = exact.iter().map(|e| e.trunc_with_scale(scale)).collect();
    let mut remainder = total - parts.iter().copied().sum::<Decimal>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| (exact[*b] - parts[*b]).cmp(&(exact[*a] - parts[*a])).then(a.cmp(b)));
    for i in order.iter().cycle().take(weights.len() * 4) {
        if remainder < unit {
            break;
        }
        parts[*i] += unit;
        remainder -= unit;
    }
    parts
}

fn contact(address: &Address, customer: &Customer) -> DraftContact {
    DraftContact {
        attention: if address.name.trim().is_empty() { customer.name.clone() } else { address.name.clone() },
        business_name: address.company.clone().or_else(|| customer.company.clone()),
        email: address.email.clone().or_else(|| customer.email.clone()),
        phone: address.phone.clone().or_else(|| customer.phone.clone()),
        address: address.clone(),
    }
}

fn tag_key(tag: &Tag) -> (String, String) {
    match tag {
        Tag::Prime => ("prime".into(), "true".into()),
        Tag::Rush => ("rush".into(), "true".into()),
        Tag::ShipmentPriority(p) => ("shipment_priority".into(), p.clone()),
        Tag::Custom(name) => (name.clone(), "true".into()),
    }
}

/// Builds the draft once customer and items are resolved. Collects every unmapped value.
pub fn build_draft(
    mapping: &Mapping,
    order: &Order,
    customer_id: ErpCustomerId,
    items: Vec<ErpItemId>,
) -> Result<SalesOrderDraft, OrderMappingError> {
    order.check_totals()?;
    let mut problems = Vec::new();
    // A `[fields.header]` template replaces the table for its target.
    let order_type = match super::fields::templated_order_type(mapping, order) {
        Some(chosen) => chosen,
        None => mapping.order_type(order),
    }
    .map_err(|p| problems.push(p))
    .ok();

    let ship_via = match mapping.file.shipping_methods.get(&order.shipping.method) {
        _ if mapping.file.fields.header.contains_key("ship_via") => None,
        Some(code) => Some(code.get_ref().clone()),
        None if order.shipping.method.trim().is_empty() => None,
        None => {
            problems.push(mapping.unmapped("shipping_methods", "shipping method", &order.shipping.method));
            None
        }
    };

    let mut payments = Vec::new();
    for payment in &order.payments {
        match mapping.file.payment_methods.get(&payment.method) {
            Some(target) => payments.push(DraftPayment {
                payment_method: target.get_ref().method().to_owned(),
                cash_account: target.get_ref().cash_account().map(str::to_owned),
                amount: payment.amount.amount,
                reference: payment.reference.clone(),
            }),
            None => problems.push(mapping.unmapped("payment_methods", "payment method", &payment.method)),
        }
    }

    let order_discount: Decimal = order.order_discounts.iter().map(|d| d.amount.amount).sum();
    let net: Vec<Decimal> = order.lines.iter().map(|l| l.net_amount().map(|m| m.amount)).collect::<Result<_, _>>()?;
    let shares = allocate(order_discount, &net, order.currency.minor_units());
    let lines: Vec<DraftLine> = order
        .lines
        .iter()
        .zip(items)
        .zip(shares)
        .map(|((line, item_id), share)| DraftLine {
            item_id,
            quantity: line.quantity,
            unit_price: line.unit_price.amount,
            discount_amount: line.discount.amount + share,
            description: line.description.clone(),
            note: line.note.clone(),
            warehouse_id: mapping.file.items.warehouse.clone(),
            channel_line_id: line.channel_line_id.clone(),
        })
        .collect();

    // The channel's own tax lines when they add up to its tax total; otherwise one line for the total.
    let tax_total = order.totals.tax.amount;
    let named_sum: Decimal = order.taxes.iter().map(|t| t.amount.amount).sum();
    let taxes: Vec<DraftTax> = if !order.taxes.is_empty() && named_sum == tax_total {
        order
            .taxes
            .iter()
            .map(|t| DraftTax {
                tax_id: mapping
                    .file
                    .taxes
                    .by_name
                    .get(&t.name)
                    .map_or_else(|| mapping.file.taxes.tax_id.get_ref().clone(), |id| id.get_ref().clone()),
                rate: t.rate,
                taxable_amount: t.taxable.amount,
                tax_amount: t.amount.amount,
            })
            .collect()
    } else if tax_total.is_zero() {
        Vec::new()
    } else {
        let taxable: Decimal = lines.iter().map(DraftLine::amount).sum();
        vec![DraftTax {
            tax_id: mapping.file.taxes.tax_id.get_ref().clone(),
            rate: None,
            taxable_amount: taxable,
            tax_amount: tax_total,
        }]
    };

    let mut note_parts = Vec::new();
    if let Some(instructions) = order.notes.customer_instructions.as_deref().filter(|s| !s.trim().is_empty()) {
        note_parts.push(format!("Customer instructions: {instructions}"));
    }
    if let Some(gift) = order.notes.gift_message.as_deref().filter(|s| !s.trim().is_empty()) {
        note_parts.push(format!("Gift message: {gift}"));
    }
    let codes: Vec<&str> = order.order_discounts.iter().filter_map(|d| d.code.as_deref()).collect();
    if !codes.is_empty() {
        note_parts.push(format!("Discount codes: {}", codes.join(", ")));
    }

    let mut attributes = BTreeMap::new();
    for tag in &order.tags {
        let (key, value) = tag_key(tag);
        if let Some(field) = mapping.file.tags.get(&key) {
            attributes.insert(field.get_ref().clone(), value);
        }
    }

    let (Some(order_type), true) = (order_type, problems.is_empty()) else {
        return Err(OrderMappingError::Unmapped(problems));
    };
    let key = order.import_key();
    let mut draft = SalesOrderDraft {
        import_id: key.import_id(),
        import_key: key,
        external_ref: order.display_number.clone(),
        order_type,
        customer_id,
        order_date: order.placed_at.with_timezone(&mapping.time_zone).date_naive(),
        requested_on: order.requested_delivery,
        description: format!("{} order {}", order.order_source.0, order.display_number),
        currency: order.currency,
        ship_via,
        bill_to: contact(&order.bill_to, &order.customer),
        ship_to: contact(&order.ship_to, &order.customer),
        lines,
        payments,
        freight: order.shipping.amount.amount,
        taxes,
        note: (!note_parts.is_empty()).then(|| note_parts.join("\n")),
        attributes,
        expected_total: order.totals.grand_total.round_to_minor(),
        field_choices: Default::default(),
    };
    super::fields::apply_field_templates(mapping, order, &mut draft, &mut problems);
    if !problems.is_empty() {
        return Err(OrderMappingError::Unmapped(problems));
    }
    let computed = draft.computed_total().round_dp(order.currency.minor_units());
    if computed != draft.expected_total.amount {
        return Err(OrderMappingError::Model(ModelError::TotalsMismatch {
            order: order.channel_order_id.to_string(),
            computed: crate::model::Money::new(computed, order.currency),
            reported: draft.expected_total,
        }));
    }
    Ok(draft)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::fixtures;
    use crate::model::{Discount, Money};

    fn mapping() -> Mapping {
        Mapping::parse("mappings/sc.toml", 3, super::super::file::EXAMPLE_FOR_TESTS).unwrap()
    }

    fn items(n: usize) -> Vec<ErpItemId> {
        (0..n).map(|i| ErpItemId::parse(format!("ITEM{i}")).unwrap()).collect()
    }

    fn customer() -> ErpCustomerId {
        ErpCustomerId::parse("SC77").unwrap()
    }

    #[test]
    fn a_mapped_order_becomes_a_draft_with_exact_totals() {
        let mut order = fixtures::order();
        order.shipping.method = "Standard".into();
        order.payments[0].method = "Amazon Pay".into();
        let draft = build_draft(&mapping(), &order, customer(), items(1)).unwrap();
        assert_eq!(draft.order_type.as_str(), "SO");
        assert_eq!(draft.ship_via.as_deref(), Some("UPSGROUND"));
        assert_eq!(draft.payments[0].payment_method, "AMAZONPAY");
        assert_eq!(draft.payments[0].cash_account.as_deref(), Some("10250"));
        assert_eq!(draft.import_id, "SC-5512345");
        assert_eq!(draft.computed_total(), dec!(48.18));
        assert_eq!(draft.attributes.get("PRIME").map(String::as_str), Some("true"));
        // 09:12 UTC on 1 May is still 1 May in New York.
        assert_eq!(draft.order_date.to_string(), "2024-05-01");
    }

    #[test]
    fn every_unmapped_value_is_named_with_the_file_to_fix() {
        let mut order = fixtures::order();
        order.shipping.method = "UPS Ground Saver".into();
        order.payments[0].method = "Bitcoin".into();
        let err = build_draft(&mapping(), &order, customer(), items(1)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "shipping method \"UPS Ground Saver\": not mapped; add it to [shipping_methods] in mappings/sc.toml"
            ),
            "{text}"
        );
        assert!(text.contains("payment method \"Bitcoin\""), "{text}");
        assert!(!crate::error::Classify::is_retryable(&err));

        // The operator's inbox reads the values back from the recorded text.
        let recorded = format!("mapping v1: {text}");
        let found = UnmappedValue::find_all(&recorded);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].section, "shipping_methods");
        assert_eq!(found[0].what, "shipping method");
        assert_eq!(found[0].value, "UPS Ground Saver");
        assert_eq!(found[0].mapping_path, "mappings/sc.toml");
        assert_eq!(found[0].line_to_add(), "[shipping_methods] \"UPS Ground Saver\" = \"<the ERP Ship Via>\"");
        assert_eq!(found[1].section, "payment_methods");
        assert_eq!(found[1].value, "Bitcoin");
        let tricky =
            "order source \"Say \\\"hi\\\"; ok\": not mapped; add it to [order_types.by_source] in m.toml (mapping v2)";
        let found = UnmappedValue::find_all(tricky);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].value, "Say \"hi\"; ok");
        assert!(found[0].line_to_add().starts_with("[order_types] by_source = { …"), "{}", found[0].line_to_add());
        assert!(UnmappedValue::find_all("ERP refused: customer \"X\" is inactive").is_empty());
    }

    #[test]
    fn order_discounts_are_spread_over_lines_to_the_cent() {
        let mut order = fixtures::order();
        order.shipping.method = "Standard".into();
        order.payments[0].method = "PayPal".into();
        order.lines.push(fixtures::line("SKU-2", dec!(3), dec!(3.33), dec!(0), dec!(0)));
        order.order_discounts.push(Discount {
            code: Some("TENOFF".into()),
            description: "10 off".into(),
            amount: Money::new(dec!(10.00), order.currency),
        });
        order.totals.grand_total = Money::new(dec!(48.18) + dec!(9.99) - dec!(10.00), order.currency);
        let draft = build_draft(&mapping(), &order, customer(), items(2)).unwrap();
        let discounts: Decimal = draft.lines.iter().map(|l| l.discount_amount).sum();
        assert_eq!(discounts, dec!(10.00));
        assert_eq!(draft.computed_total(), order.totals.grand_total.amount);
        assert!(draft.note.unwrap().contains("TENOFF"));
    }

    proptest! {
        #[test]
        fn allocation_always_adds_up(total_cents in 0i64..1_000_000, weights in proptest::collection::vec(0i64..100_000, 1..20)) {
            let total = Decimal::new(total_cents, 2);
            let weights: Vec<Decimal> = weights.into_iter().map(|w| Decimal::new(w, 2)).collect();
            let parts = allocate(total, &weights, 2);
            prop_assert_eq!(parts.iter().copied().sum::<Decimal>(), total);
            prop_assert!(parts.iter().all(|p| *p >= Decimal::ZERO));
        }
    }
}

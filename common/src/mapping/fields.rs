//! The mapping's `[fields]` templates applied to the draft the tables built: a target with a
//! template takes the template's result — a value, sent empty, or left out (the ERP's default
//! applies) — instead of what the tables and the defaults gave it.

use super::{DraftContact, FieldChoice, Mapping, Problem, Resolved, SalesOrderDraft, Scope, TemplateError};
use crate::model::{ErpOrderType, Order};

/// A template's failure as an order problem; a value a mapping set does not list reads exactly as
/// when the table is used without a template ("shipping method \"2Day\": not mapped; add it to …").
fn problem(mapping: &Mapping, target: &str, error: TemplateError) -> Problem {
    match error {
        TemplateError::Unmapped { set, value } => {
            let what = match set.as_str() {
                "order_types" => "order source",
                "shipping_methods" => "shipping method",
                "payment_methods" => "payment method",
                "taxes" => "tax",
                "substitutions" => "SKU",
                _ => "value",
            };
            let section = if set == "substitutions" { "items.substitutions" } else { set.as_str() };
            mapping.unmapped(section, what, &value)
        }
        other => Problem { field: target.to_owned(), message: other.to_string() },
    }
}

/// The header template of `target`, evaluated (None: the target has no template).
pub(crate) fn header_template(mapping: &Mapping, order: &Order, target: &str) -> Option<Result<Resolved, Problem>> {
    let spec = mapping.file.fields.header.get(target)?;
    Some(
        spec.get_ref()
            .evaluate(&Scope { order, line: None }, &mapping.file)
            .map_err(|e| problem(mapping, &format!("fields.header.{target}"), e)),
    )
}

/// The order type a header template chose, when there is one.
pub(crate) fn templated_order_type(mapping: &Mapping, order: &Order) -> Option<Result<ErpOrderType, Problem>> {
    let field = "fields.header.order_type";
    Some(match header_template(mapping, order, "order_type")? {
        Ok(Resolved::Value(value)) => {
            ErpOrderType::parse(value.trim()).map_err(|e| Problem { field: field.to_owned(), message: e.to_string() })
        }
        Ok(_) => Err(Problem {
            field: field.to_owned(),
            message: "the order type is required: it cannot be skipped or empty".into(),
        }),
        Err(p) => Err(p),
    })
}

/// A value, or the choice to send it empty or leave it out.
fn choose(draft: &mut SalesOrderDraft, key: String, resolved: Resolved) -> Option<String> {
    match resolved {
        Resolved::Value(value) => {
            draft.field_choices.remove(&key);
            Some(value)
        }
        Resolved::Empty => {
            draft.field_choices.insert(key, FieldChoice::Empty);
            None
        }
        Resolved::Skip => {
            draft.field_choices.insert(key, FieldChoice::Omit);
            None
        }
    }
}

fn set_contact(contact: &mut DraftContact, target: &str, value: String) {
    let address = &mut contact.address;
    match target {
        "attention" => contact.attention = value,
        "business_name" => contact.business_name = Some(value),
        "email" => contact.email = Some(value),
        "phone" => contact.phone = Some(value),
        "line1" => address.line1 = value,
        "line2" => address.line2 = Some(value),
        "city" => address.city = value,
        "region" => address.region = Some(value),
        "postal_code" => address.postal_code = Some(value),
        "country" => address.country = value,
        // Unknown targets are refused when the mapping file is read.
        _ => {}
    }
}

/// Applies every template except the order type's (chosen before the draft exists); problems
/// (a value a mapping set does not list) are added to `problems`.
pub(crate) fn apply_field_templates(
    mapping: &Mapping,
    order: &Order,
    draft: &mut SalesOrderDraft,
    problems: &mut Vec<Problem>,
) {
    let fields = &mapping.file.fields;
    let scope = Scope { order, line: None };
    for (target, spec) in fields.header.iter().filter(|(t, _)| t.as_str() != "order_type") {
        let resolved = match spec.get_ref().evaluate(&scope, &mapping.file) {
            Ok(resolved) => resolved,
            Err(e) => {
                problems.push(problem(mapping, &format!("fields.header.{target}"), e));
                continue;
            }
        };
        let value = choose(draft, target.clone(), resolved);
        match (target.as_str(), value) {
            ("ship_via", value) => draft.ship_via = value,
            ("description", Some(value)) => draft.description = value,
            ("note", value) => draft.note = value,
            ("external_ref", Some(value)) => draft.external_ref = value,
            _ => {}
        }
    }
    for (section, templates) in [("bill_to", &fields.bill_to), ("ship_to", &fields.ship_to)] {
        for (target, spec) in templates {
            let resolved = match spec.get_ref().evaluate(&scope, &mapping.file) {
                Ok(resolved) => resolved,
                Err(e) => {
                    problems.push(problem(mapping, &format!("fields.{section}.{target}"), e));
                    continue;
                }
            };
            if let Some(value) = choose(draft, format!("{section}.{target}"), resolved) {
                let contact = if section == "bill_to" { &mut draft.bill_to } else { &mut draft.ship_to };
                set_contact(contact, target, value);
            }
        }
    }
    for (i, line) in order.lines.iter().enumerate() {
        let scope = Scope { order, line: Some(line) };
        for (target, spec) in &fields.lines {
            let resolved = match spec.get_ref().evaluate(&scope, &mapping.file) {
                Ok(resolved) => resolved,
                Err(e) => {
                    problems.push(problem(mapping, &format!("fields.lines.{target} (line {})", i + 1), e));
                    continue;
                }
            };
            let value = choose(draft, format!("lines[{i}].{target}"), resolved);
            let Some(draft_line) = draft.lines.get_mut(i) else { continue };
            match (target.as_str(), value) {
                ("description", Some(value)) => draft_line.description = value,
                ("note", value) => draft_line.note = value,
                ("warehouse_id", value) => draft_line.warehouse_id = value,
                _ => {}
            }
        }
    }
    for (name, spec) in &fields.custom {
        match spec.get_ref().evaluate(&scope, &mapping.file) {
            Ok(Resolved::Value(value)) => {
                draft.attributes.insert(name.clone(), value);
            }
            Ok(Resolved::Empty) => {
                draft.attributes.insert(name.clone(), String::new());
            }
            Ok(Resolved::Skip) => {
                draft.attributes.remove(name);
            }
            Err(e) => problems.push(problem(mapping, &format!("fields.custom.{name}"), e)),
        }
    }
}

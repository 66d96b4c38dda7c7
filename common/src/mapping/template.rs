//! `[fields]`: per-field templates for the ERP order (header, addresses, lines, custom fields).
//!
//! Each target field says where its value comes from: nothing (`"skip"`: not sent, the ERP's
//! default applies), an empty value (`"empty"`), a field of the canonical order, a static value or
//! a small template, one of the mapping file's lookup tables, or ordered rules (first match wins,
//! with a default).
//!
//! ```toml
//! [fields.header]
//! order_type = { rules = [
//!     { when = [{ field = "ship_to.country", is_not = "US" }], then = { value = "EX" } },
//! ], default = { set = "order_types" } }
//! ship_via = { rules = [
//!     { when = [{ field = "order_source", is = "Amazon" }, { field = "tags", contains = "prime" }], then = { value = "FEDEX2DAY" } },
//! ], default = { set = "shipping_methods" } }
//! description = { template = "{order_source} order {display_number}" }
//! external_ref = { field = "display_number" }
//!
//! [fields.ship_to]
//! phone = { field = "ship_to.phone" }
//! email = "skip"
//!
//! [fields.lines]
//! note = "empty"
//! warehouse_id = { rules = [{ when = [{ field = "line.quantity", gt = 100 }], then = { value = "BULK" } }] }
//!
//! [fields.custom]
//! UsrChannelStatus = { field = "channel_status" }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use chrono::SecondsFormat;
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::MappingFile;
use crate::model::{Address, Line, Order, Tag};

/// `[fields]`: per-field templates for the ERP order. Keys are target fields.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTemplates {
    /// `[fields.header]`
    #[serde(default)]
    pub header: BTreeMap<String, Spanned<FieldSpec>>,
    /// `[fields.bill_to]`
    #[serde(default)]
    pub bill_to: BTreeMap<String, Spanned<FieldSpec>>,
    /// `[fields.ship_to]`
    #[serde(default)]
    pub ship_to: BTreeMap<String, Spanned<FieldSpec>>,
    /// `[fields.lines]`
    #[serde(default)]
    pub lines: BTreeMap<String, Spanned<FieldSpec>>,
    /// ERP custom field name on the order (e.g. "UsrChannelStatus") → spec. `[fields.custom]`
    #[serde(default)]
    pub custom: BTreeMap<String, Spanned<FieldSpec>>,
}

/// Where one target field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSpec {
    /// `"skip"`: the field is not sent, the ERP's default applies.
    Skip,
    /// `"empty"`: the field is sent empty.
    Empty,
    /// `{ field = "ship_to.phone" }`: a field of the canonical order (or line).
    Field { field: String },
    /// `{ value = "EX" }`: a static value.
    Value { value: String },
    /// `{ template = "{order_source} order {display_number}" }`: `{path}` placeholders, `{{`/`}}` escapes.
    Template { template: String },
    /// `{ set = "shipping_methods" }` or `{ set = "shipping_methods", field = "shipping.carrier" }`.
    Set { set: String, field: Option<String> },
    /// `{ rules = [ { when = [...], then = <spec> }, ... ], default = <spec> }`.
    Rules { rules: Vec<Rule>, default: Option<Box<FieldSpec>> },
}

/// One rule: when every condition holds, `then` applies. An empty `when` always matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub when: Vec<Condition>,
    pub then: Box<FieldSpec>,
}

/// `{ field = "order_source", is = "Amazon" }`: one test on one source field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub test: Test,
}

/// A condition's test. TOML keys: `is`, `is_not`, `in`, `not_in`, `contains`, `gt`, `lt`, `exists`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    Is(String),
    IsNot(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Contains(String),
    Gt(Decimal),
    Lt(Decimal),
    Exists(bool),
}

/// What a spec resolves to for one order (and line). `Value` is never empty: a field, value,
/// template or set that gives no text resolves to `Empty`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Skip,
    Empty,
    Value(String),
}

/// What a spec is evaluated against: the order, and for `[fields.lines]` the line.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub order: &'a Order,
    pub line: Option<&'a Line>,
}

impl<'a> Scope<'a> {
    /// The order alone (header, addresses, custom fields).
    pub fn order(order: &'a Order) -> Self {
        Self { order, line: None }
    }

    /// One line of the order (`[fields.lines]`).
    pub fn line(order: &'a Order, line: &'a Line) -> Self {
        Self { order, line: Some(line) }
    }
}

/// Why a spec could not be evaluated for an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A mapping set has no entry for the value: the order fails with this, naming the set and value.
    #[error("{} {value:?}: not mapped; add it to [{}]", set_what(.set), set_section(.set))]
    Unmapped { set: String, value: String },
    /// The spec cannot be evaluated (a spec that validation would have refused).
    #[error("{target}: {detail}")]
    Invalid { target: String, detail: String },
}

impl crate::error::Classify for TemplateError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Permanent
    }
}

/// The mapping sets a `set` spec may name.
pub const MAPPING_SETS: &[&str] = &["order_types", "shipping_methods", "payment_methods", "taxes", "substitutions"];

fn set_section(set: &str) -> &str {
    match set {
        "order_types" => "order_types.by_source",
        "substitutions" => "items.substitutions",
        "taxes" => "taxes.by_name",
        other => other,
    }
}

fn set_what(set: &str) -> &str {
    match set {
        "order_types" => "order source",
        "shipping_methods" => "shipping method",
        "payment_methods" => "payment method",
        "taxes" => "tax",
        "substitutions" => "SKU",
        other => other,
    }
}

/// The source field a set reads when the spec names none (`None`: the spec must name one).
fn set_default_input(set: &str) -> Option<&'static str> {
    match set {
        "order_types" => Some("order_source"),
        "shipping_methods" => Some("shipping.method"),
        "payment_methods" => Some("payment.method"),
        "substitutions" => Some("line.sku"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Targets

/// The sections of `[fields]`.
pub const FIELD_SECTIONS: &[&str] = &["header", "bill_to", "ship_to", "lines", "custom"];

const HEADER_TARGETS: &[(&str, Option<usize>)] = &[
    ("order_type", Some(2)),
    ("ship_via", Some(15)),
    ("description", Some(256)),
    ("note", None),
    ("external_ref", Some(40)),
];
const ADDRESS_TARGETS: &[(&str, Option<usize>)] = &[
    ("attention", Some(255)),
    ("business_name", Some(255)),
    ("email", Some(255)),
    ("phone", Some(50)),
    ("line1", Some(50)),
    ("line2", Some(50)),
    ("city", Some(50)),
    ("region", Some(50)),
    ("postal_code", Some(20)),
    ("country", Some(2)),
];
const LINE_TARGETS: &[(&str, Option<usize>)] =
    &[("description", Some(256)), ("note", None), ("warehouse_id", Some(10))];
const CUSTOM_MAX_LEN: usize = 255;

/// A custom field name: `^[A-Za-z][A-Za-z0-9_]{0,49}$`.
fn is_custom_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 50
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn lookup_target(section: &str, target: &str) -> Option<Option<usize>> {
    let table = match section {
        "header" => HEADER_TARGETS,
        "bill_to" | "ship_to" => ADDRESS_TARGETS,
        "lines" => LINE_TARGETS,
        "custom" => return is_custom_name(target).then_some(Some(CUSTOM_MAX_LEN)),
        _ => return None,
    };
    table.iter().find(|(name, _)| *name == target).map(|(_, max)| *max)
}

/// Whether `target` is a field of `section` (`custom`: any valid custom field name).
pub fn is_target(section: &str, target: &str) -> bool {
    lookup_target(section, target).is_some()
}

/// Target fields and their maximum lengths (characters), per section. `None` for a target without
/// a limit (`note`) and for an unknown target (see [`is_target`]).
pub fn target_max_len(section: &str, target: &str) -> Option<usize> {
    lookup_target(section, target).flatten()
}

/// Targets that must always get a value (skip and empty are refused).
fn is_required(section: &str, target: &str) -> bool {
    section == "header" && target == "order_type"
}

// ---------------------------------------------------------------------------------------------
// Source paths

const ADDRESS_KEYS: &[&str] =
    &["name", "company", "line1", "line2", "city", "region", "postal_code", "country", "phone", "email"];

const ORDER_PATHS: &[&str] = &[
    "display_number",
    "order_source",
    "channel_status",
    "placed_at",
    "requested_delivery",
    "promised_ship_by",
    "currency",
    "customer.email",
    "customer.name",
    "customer.company",
    "customer.phone",
    "customer.channel_customer_id",
    "shipping.method",
    "shipping.carrier",
    "shipping.amount",
    "totals.subtotal",
    "totals.discount",
    "totals.shipping",
    "totals.tax",
    "totals.grand_total",
    "notes.customer_instructions",
    "notes.gift_message",
    "payment.method",
    "tags",
];

const LINE_PATHS: &[&str] = &[
    "line.sku",
    "line.upc",
    "line.ean",
    "line.mpn",
    "line.asin",
    "line.description",
    "line.quantity",
    "line.unit_price",
    "line.discount",
    "line.tax",
    "line.note",
    "line.channel_line_id",
];

/// Every source path (order paths, `bill_to.*`, `ship_to.*`, then `line.*`).
pub fn field_source_paths() -> Vec<String> {
    let mut paths: Vec<String> = ORDER_PATHS.iter().map(|p| (*p).to_owned()).collect();
    for prefix in ["bill_to", "ship_to"] {
        paths.extend(ADDRESS_KEYS.iter().map(|k| format!("{prefix}.{k}")));
    }
    paths.extend(LINE_PATHS.iter().map(|p| (*p).to_owned()));
    paths
}

fn is_order_path(path: &str) -> bool {
    ORDER_PATHS.contains(&path)
        || path
            .split_once('.')
            .is_some_and(|(prefix, key)| matches!(prefix, "bill_to" | "ship_to") && ADDRESS_KEYS.contains(&key))
}

/// Checks a source path for a section; the message says what is wrong.
fn check_path(path: &str, section: &str) -> Result<(), String> {
    if is_order_path(path) {
        Ok(())
    } else if LINE_PATHS.contains(&path) {
        if section == "lines" {
            Ok(())
        } else {
            Err(format!("{path:?} is a line field; it can only be used in [fields.lines]"))
        }
    } else {
        Err(format!("unknown field {path:?}"))
    }
}

/// A present value: `None` and blank text are absent.
fn present(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty()).map(str::to_owned)
}

fn address_value(address: &Address, key: &str) -> Option<Option<String>> {
    let value = match key {
        "name" => Some(address.name.as_str()),
        "company" => address.company.as_deref(),
        "line1" => Some(address.line1.as_str()),
        "line2" => address.line2.as_deref(),
        "city" => Some(address.city.as_str()),
        "region" => address.region.as_deref(),
        "postal_code" => address.postal_code.as_deref(),
        "country" => Some(address.country.as_str()),
        "phone" => address.phone.as_deref(),
        "email" => address.email.as_deref(),
        _ => return None,
    };
    Some(present(value))
}

/// The names of the order's tags: `prime`, `rush`, `shipment_priority:<v>`, or the custom text.
pub fn order_tag_names(order: &Order) -> Vec<String> {
    order
        .tags
        .iter()
        .map(|tag| match tag {
            Tag::Prime => "prime".to_owned(),
            Tag::Rush => "rush".to_owned(),
            Tag::ShipmentPriority(p) => format!("shipment_priority:{p}"),
            Tag::Custom(text) => text.clone(),
        })
        .collect()
}

impl Scope<'_> {
    /// The text of a source path for this order (and line); `Ok(None)` when the value is absent.
    pub fn value(&self, path: &str) -> Result<Option<String>, TemplateError> {
        let o = self.order;
        let money = |m: &crate::model::Money| Some(m.amount.to_string());
        let value = match path {
            "display_number" => present(Some(&o.display_number)),
            "order_source" => present(Some(&o.order_source.0)),
            "channel_status" => present(Some(&o.channel_status)),
            "placed_at" => Some(o.placed_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            "requested_delivery" => o.requested_delivery.map(|d| d.to_string()),
            "promised_ship_by" => o.promised_ship_by.map(|d| d.to_string()),
            "currency" => Some(o.currency.code().to_owned()),
            "customer.email" => present(o.customer.email.as_deref()),
            "customer.name" => present(Some(&o.customer.name)),
            "customer.company" => present(o.customer.company.as_deref()),
            "customer.phone" => present(o.customer.phone.as_deref()),
            "customer.channel_customer_id" => present(o.customer.channel_customer_id.as_deref()),
            "shipping.method" => present(Some(&o.shipping.method)),
            "shipping.carrier" => present(o.shipping.carrier.as_deref()),
            "shipping.amount" => money(&o.shipping.amount),
            "totals.subtotal" => money(&o.totals.subtotal),
            "totals.discount" => money(&o.totals.discount),
            "totals.shipping" => money(&o.totals.shipping),
            "totals.tax" => money(&o.totals.tax),
            "totals.grand_total" => money(&o.totals.grand_total),
            "notes.customer_instructions" => present(o.notes.customer_instructions.as_deref()),
            "notes.gift_message" => present(o.notes.gift_message.as_deref()),
            "payment.method" => present(o.payments.first().map(|p| p.method.as_str())),
            "tags" => present(Some(&order_tag_names(o).join(","))),
            _ => {
                if let Some((prefix @ ("bill_to" | "ship_to"), key)) = path.split_once('.') {
                    let address = if prefix == "bill_to" { &o.bill_to } else { &o.ship_to };
                    if let Some(value) = address_value(address, key) {
                        return Ok(value);
                    }
                } else if let Some(key) = path.strip_prefix("line.").filter(|_| LINE_PATHS.contains(&path)) {
                    let Some(line) = self.line else {
                        return Err(TemplateError::Invalid {
                            target: path.to_owned(),
                            detail: "a line field, only available in [fields.lines]".into(),
                        });
                    };
                    return Ok(line_value(line, key));
                }
                return Err(TemplateError::Invalid { target: path.to_owned(), detail: "unknown field".into() });
            }
        };
        Ok(value)
    }
}

fn line_value(line: &Line, key: &str) -> Option<String> {
    let ids = &line.identifiers;
    match key {
        "sku" => present(ids.sku.as_deref()),
        "upc" => present(ids.upc.as_deref()),
        "ean" => present(ids.ean.as_deref()),
        "mpn" => present(ids.mpn.as_deref()),
        "asin" => present(ids.asin.as_deref()),
        "description" => present(Some(&line.description)),
        "quantity" => Some(line.quantity.to_string()),
        "unit_price" => Some(line.unit_price.amount.to_string()),
        "discount" => Some(line.discount.amount.to_string()),
        "tax" => Some(line.tax.amount.to_string()),
        "note" => present(line.note.as_deref()),
        "channel_line_id" => present(Some(&line.channel_line_id)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Templates

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Path(String),
}

/// Splits a template into static text and `{path}` placeholders; `{{` and `}}` are braces.
fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut path = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => {
                            return Err("a `{` is not closed by `}` (write `{{` for a brace)".into());
                        }
                        Some(c) => path.push(c),
                    }
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Path(path.trim().to_owned()));
            }
            '}' => return Err("a `}` has no `{` (write `}}` for a brace)".into()),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn resolved(text: String) -> Resolved {
    if text.is_empty() {
        Resolved::Empty
    } else {
        Resolved::Value(text)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Text as rules compare it: surrounding spaces trimmed, ASCII case folded.
fn norm(text: &str) -> String {
    text.trim().to_ascii_lowercase()
}

/// Whether `test` holds for a field's value (`None`: absent). `members` is the tag names for `tags`.
fn test_holds(test: &Test, value: Option<&str>, members: Option<&[String]>) -> bool {
    let text = norm(value.unwrap_or(""));
    match test {
        Test::Is(x) => text == norm(x),
        Test::IsNot(x) => text != norm(x),
        Test::In(xs) => xs.iter().any(|x| text == norm(x)),
        Test::NotIn(xs) => !xs.iter().any(|x| text == norm(x)),
        Test::Contains(x) => match members {
            Some(members) => members.iter().any(|m| norm(m) == norm(x)),
            None => text.contains(&norm(x)),
        },
        Test::Gt(bound) => value.and_then(|v| Decimal::from_str(v.trim()).ok()).is_some_and(|v| v > *bound),
        Test::Lt(bound) => value.and_then(|v| Decimal::from_str(v.trim()).ok()).is_some_and(|v| v < *bound),
        Test::Exists(wanted) => value.is_some() == *wanted,
    }
}

impl Condition {
    /// Whether the condition holds for the scope.
    pub fn holds(&self, scope: &Scope<'_>) -> Result<bool, TemplateError> {
        let value = scope.value(&self.field)?;
        let members = (self.field == "tags").then(|| order_tag_names(scope.order));
        Ok(test_holds(&self.test, value.as_deref(), members.as_deref()))
    }
}

impl Rule {
    /// Whether every condition holds (an empty `when` always does).
    pub fn matches(&self, scope: &Scope<'_>) -> Result<bool, TemplateError> {
        for condition in &self.when {
            if !condition.holds(scope)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl FieldSpec {
    /// What this spec gives for the order (and line) in `scope`. `file` holds the mapping sets.
    pub fn evaluate(&self, scope: &Scope<'_>, file: &MappingFile) -> Result<Resolved, TemplateError> {
        match self {
            Self::Skip => Ok(Resolved::Skip),
            Self::Empty => Ok(Resolved::Empty),
            Self::Field { field } => Ok(scope.value(field)?.map_or(Resolved::Empty, Resolved::Value)),
            Self::Value { value } => Ok(resolved(value.clone())),
            Self::Template { template } => {
                let pieces = parse_template(template)
                    .map_err(|detail| TemplateError::Invalid { target: format!("template {template:?}"), detail })?;
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => out.push_str(&text),
                        Piece::Path(path) => out.push_str(&scope.value(&path)?.unwrap_or_default()),
                    }
                }
                Ok(resolved(out))
            }
            Self::Set { set, field } => evaluate_set(set, field.as_deref(), scope, file),
            Self::Rules { rules, default } => {
                for rule in rules {
                    if rule.matches(scope)? {
                        return rule.then.evaluate(scope, file);
                    }
                }
                match default {
                    Some(default) => default.evaluate(scope, file),
                    None => Ok(Resolved::Skip),
                }
            }
        }
    }
}

fn evaluate_set(
    set: &str,
    field: Option<&str>,
    scope: &Scope<'_>,
    file: &MappingFile,
) -> Result<Resolved, TemplateError> {
    let invalid = |detail: String| TemplateError::Invalid { target: format!("set {set:?}"), detail };
    if !MAPPING_SETS.contains(&set) {
        return Err(invalid(format!("unknown set; use one of {}", MAPPING_SETS.join(", "))));
    }
    let Some(input) = field.or(set_default_input(set)) else {
        return Err(invalid("name the source with `field`".into()));
    };
    let value = scope.value(input)?;
    let unmapped = |value: &str| TemplateError::Unmapped { set: set.to_owned(), value: value.to_owned() };
    let found: Option<String> = match set {
        "order_types" => {
            let types = &file.order_types;
            let chosen = value.as_deref().and_then(|v| types.by_source.get(v)).or(types.default.as_ref());
            return chosen
                .map(|t| resolved(t.get_ref().clone()))
                .ok_or_else(|| unmapped(value.as_deref().unwrap_or("")));
        }
        "taxes" => {
            let taxes = &file.taxes;
            let chosen = value.as_deref().and_then(|v| taxes.by_name.get(v)).unwrap_or(&taxes.tax_id);
            return Ok(resolved(chosen.get_ref().clone()));
        }
        _ => {
            let Some(value) = value.as_deref() else { return Ok(Resolved::Empty) };
            match set {
                "shipping_methods" => file.shipping_methods.get(value).map(|v| v.get_ref().clone()),
                "payment_methods" => file.payment_methods.get(value).map(|v| v.get_ref().method().to_owned()),
                _ => file.items.substitutions.get(value).map(|v| v.get_ref().clone()),
            }
        }
    };
    match (found, value) {
        (Some(found), _) => Ok(resolved(found)),
        (None, value) => Err(unmapped(value.as_deref().unwrap_or(""))),
    }
}

impl FieldTemplates {
    /// No section has any target.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
            && self.bill_to.is_empty()
            && self.ship_to.is_empty()
            && self.lines.is_empty()
            && self.custom.is_empty()
    }

    /// The sections with their names, in file order of [`FIELD_SECTIONS`].
    pub fn sections(&self) -> [(&'static str, &BTreeMap<String, Spanned<FieldSpec>>); 5] {
        [
            ("header", &self.header),
            ("bill_to", &self.bill_to),
            ("ship_to", &self.ship_to),
            ("lines", &self.lines),
            ("custom", &self.custom),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// Deserialization

const EXPECTED: &str = "\"skip\", \"empty\" or a table with one of field, value, template, set, rules";
const CONDITION_EXPECTED: &str =
    "a condition { field = \"...\", <test> = ... } with exactly one of is, is_not, in, not_in, contains, gt, lt, exists";

impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpecVisitor)
    }
}

struct SpecVisitor;

fn set_once<T, E: de::Error>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom(format!("duplicate key `{key}`")));
    }
    Ok(())
}

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = FieldSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldSpec, E> {
        match v {
            "skip" => Ok(FieldSpec::Skip),
            "empty" => Ok(FieldSpec::Empty),
            other => {
                Err(E::custom(format!("{other:?}: expected {EXPECTED} (a static value is {{ value = {other:?} }})")))
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldSpec, A::Error> {
        let (mut field, mut value, mut template, mut set) = (None, None, None, None);
        let mut rules: Option<Vec<Rule>> = None;
        let mut default: Option<FieldSpec> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "field" => set_once(&mut field, &key, map.next_value::<String>()?)?,
                "value" => set_once(&mut value, &key, map.next_value::<String>()?)?,
                "template" => set_once(&mut template, &key, map.next_value::<String>()?)?,
                "set" => set_once(&mut set, &key, map.next_value::<String>()?)?,
                "rules" => set_once(&mut rules, &key, map.next_value()?)?,
                "default" => set_once(&mut default, &key, map.next_value()?)?,
                other => return Err(de::Error::custom(format!("unknown key `{other}`: expected {EXPECTED}"))),
            }
        }
        let custom = |m: &str| Err(de::Error::custom(m));
        if let Some(rules) = rules {
            if field.is_some() || value.is_some() || template.is_some() || set.is_some() {
                return custom("`rules` goes with `default` only (put the other keys in a rule's `then`)");
            }
            return Ok(FieldSpec::Rules { rules, default: default.map(Box::new) });
        }
        if default.is_some() {
            return custom("`default` goes with `rules` only");
        }
        if let Some(set) = set {
            if value.is_some() || template.is_some() {
                return custom("`set` goes with `field` only");
            }
            return Ok(FieldSpec::Set { set, field });
        }
        match (field, value, template) {
            (Some(field), None, None) => Ok(FieldSpec::Field { field }),
            (None, Some(value), None) => Ok(FieldSpec::Value { value }),
            (None, None, Some(template)) => Ok(FieldSpec::Template { template }),
            (None, None, None) => Err(de::Error::custom(format!("empty table: expected {EXPECTED}"))),
            _ => custom("use only one of field, value, template"),
        }
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ConditionVisitor)
    }
}

struct ConditionVisitor;

/// A bound for `gt`/`lt`: a TOML number or a decimal in a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Number {
    fn decimal(self) -> Option<Decimal> {
        match self {
            Self::Int(i) => Some(Decimal::from(i)),
            Self::Float(f) => Decimal::from_str(&f.to_string()).ok(),
            Self::Text(t) => Decimal::from_str(t.trim()).ok(),
        }
    }
}

impl<'de> Visitor<'de> for ConditionVisitor {
    type Value = Condition;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CONDITION_EXPECTED)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Condition, A::Error> {
        let mut field = None;
        let mut test = None;
        while let Some(key) = map.next_key::<String>()? {
            let parsed = match key.as_str() {
                "field" => {
                    set_once(&mut field, "field", map.next_value::<String>()?)?;
                    continue;
                }
                "is" => Test::Is(map.next_value()?),
                "is_not" => Test::IsNot(map.next_value()?),
                "in" => Test::In(map.next_value()?),
                "not_in" => Test::NotIn(map.next_value()?),
                "contains" => Test::Contains(map.next_value()?),
                "gt" | "lt" => {
                    let bound = map.next_value::<Number>()?.decimal().ok_or_else(|| {
                        de::Error::custom(format!("`{key}`: expected a number such as 100 or \"99.95\""))
                    })?;
                    if key == "gt" {
                        Test::Gt(bound)
                    } else {
                        Test::Lt(bound)
                    }
                }
                "exists" => Test::Exists(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!("unknown key `{other}`: expected {CONDITION_EXPECTED}")))
                }
            };
            if test.replace(parsed).is_some() {
                return Err(de::Error::custom(format!("more than one test: expected {CONDITION_EXPECTED}")));
            }
        }
        match (field, test) {
            (Some(field), Some(test)) => Ok(Condition { field, test }),
            (None, _) => Err(de::Error::custom(format!("missing `field`: expected {CONDITION_EXPECTED}"))),
            (_, None) => Err(de::Error::custom(format!("missing test: expected {CONDITION_EXPECTED}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// A problem in `[fields]`: where (byte span in the file), which field, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateIssue {
    pub span: Range<usize>,
    pub field: String,
    pub message: String,
}

struct Target<'a> {
    section: &'a str,
    name: &'a str,
    max: Option<usize>,
    span: Range<usize>,
    file: &'a MappingFile,
}

impl Target<'_> {
    fn issue(&self, field: &str, message: String) -> TemplateIssue {
        TemplateIssue { span: self.span.clone(), field: field.to_owned(), message }
    }

    fn path(&self, field: &str, path: &str) -> Result<(), TemplateIssue> {
        check_path(path, self.section).map_err(|m| self.issue(field, m))
    }

    fn length(&self, field: &str, what: &str, len: usize) -> Result<(), TemplateIssue> {
        match self.max {
            Some(max) if len > max => {
                Err(self.issue(field, format!("{what} is {len} characters; {} takes at most {max}", self.name)))
            }
            _ => Ok(()),
        }
    }

    fn spec(&self, spec: &FieldSpec, field: &str) -> Result<(), TemplateIssue> {
        let required = is_required(self.section, self.name);
        match spec {
            FieldSpec::Skip | FieldSpec::Empty if required => {
                Err(self.issue(field, format!("{} is required: \"skip\" and \"empty\" are not allowed", self.name)))
            }
            FieldSpec::Skip | FieldSpec::Empty => Ok(()),
            FieldSpec::Field { field: path } => self.path(field, path),
            FieldSpec::Value { value } => self.length(field, &format!("value {value:?}"), value.chars().count()),
            FieldSpec::Template { template } => {
                let pieces = parse_template(template).map_err(|m| self.issue(field, m))?;
                let mut fixed = 0;
                for piece in &pieces {
                    match piece {
                        Piece::Text(text) => fixed += text.chars().count(),
                        Piece::Path(path) => check_path(path, self.section)
                            .map_err(|m| self.issue(field, format!("placeholder {{{path}}}: {m}")))?,
                    }
                }
                self.length(field, &format!("the fixed text of template {template:?}"), fixed)
            }
            FieldSpec::Set { set, field: input } => self.set(field, set, input.as_deref()),
            FieldSpec::Rules { rules, default } => {
                let mut always: Option<usize> = None;
                for (i, rule) in rules.iter().enumerate() {
                    let rule_field = format!("{field}.rules[{i}]");
                    if let Some(j) = always {
                        return Err(self.issue(
                            &rule_field,
                            format!("never reached: rules[{j}] has no conditions and always matches"),
                        ));
                    }
                    if rule.when.is_empty() {
                        always = Some(i);
                    }
                    for (k, condition) in rule.when.iter().enumerate() {
                        self.path(&format!("{rule_field}.when[{k}]"), &condition.field)?;
                    }
                    if let Some((k, message)) = contradiction(&rule.when) {
                        return Err(self.issue(&format!("{rule_field}.when[{k}]"), message));
                    }
                    self.spec(&rule.then, &format!("{rule_field}.then"))?;
                }
                match default {
                    Some(default) => self.spec(default, &format!("{field}.default")),
                    None if required => Err(self.issue(
                        field,
                        format!("{} is required: add a `default` for orders no rule matches", self.name),
                    )),
                    None => Ok(()),
                }
            }
        }
    }

    fn set(&self, field: &str, set: &str, input: Option<&str>) -> Result<(), TemplateIssue> {
        if !MAPPING_SETS.contains(&set) {
            return Err(self.issue(field, format!("unknown set {set:?}; use one of {}", MAPPING_SETS.join(", "))));
        }
        match (input, set_default_input(set)) {
            (Some(path), _) => self.path(field, path)?,
            (None, Some(path)) if check_path(path, self.section).is_ok() => {}
            (None, Some(path)) => {
                return Err(self.issue(
                    field,
                    format!("set {set:?} reads {path:?}, which is only available in [fields.lines]; name a `field`"),
                ));
            }
            (None, None) => {
                return Err(self.issue(field, format!("set {set:?} needs a `field` to read (e.g. a tax name)")));
            }
        }
        // Every value the set can give must fit the target.
        let file = self.file;
        let values: Vec<(String, &str)> = match set {
            "order_types" => file
                .order_types
                .by_source
                .iter()
                .map(|(k, v)| (format!("order_types.by_source.{k:?}"), v.get_ref().as_str()))
                .chain(
                    file.order_types.default.iter().map(|v| ("order_types.default".to_owned(), v.get_ref().as_str())),
                )
                .collect(),
            "shipping_methods" => file
                .shipping_methods
                .iter()
                .map(|(k, v)| (format!("shipping_methods.{k:?}"), v.get_ref().as_str()))
                .collect(),
            "payment_methods" => file
                .payment_methods
                .iter()
                .map(|(k, v)| (format!("payment_methods.{k:?}"), v.get_ref().method()))
                .collect(),
            "taxes" => file
                .taxes
                .by_name
                .iter()
                .map(|(k, v)| (format!("taxes.by_name.{k:?}"), v.get_ref().as_str()))
                .chain([("taxes.tax_id".to_owned(), file.taxes.tax_id.get_ref().as_str())])
                .collect(),
            _ => file
                .items
                .substitutions
                .iter()
                .map(|(k, v)| (format!("items.substitutions.{k:?}"), v.get_ref().as_str()))
                .collect(),
        };
        for (entry, value) in values {
            self.length(field, &format!("{entry} = {value:?}"), value.chars().count())?;
        }
        Ok(())
    }
}

fn describe(test: &Test) -> String {
    match test {
        Test::Is(x) => format!("is = {x:?}"),
        Test::IsNot(x) => format!("is_not = {x:?}"),
        Test::In(xs) => format!("in = {xs:?}"),
        Test::NotIn(xs) => format!("not_in = {xs:?}"),
        Test::Contains(x) => format!("contains = {x:?}"),
        Test::Gt(x) => format!("gt = {x}"),
        Test::Lt(x) => format!("lt = {x}"),
        Test::Exists(b) => format!("exists = {b}"),
    }
}

/// The first condition (index) of a rule that makes it impossible, with why.
fn contradiction(when: &[Condition]) -> Option<(usize, String)> {
    let mut by_field: BTreeMap<&str, Vec<&Test>> = BTreeMap::new();
    for (k, condition) in when.iter().enumerate() {
        let earlier = by_field.entry(condition.field.as_str()).or_default();
        earlier.push(&condition.test);
        if let Some(why) = impossible(&condition.field, earlier) {
            let message = if earlier.len() == 1 {
                format!("this rule can never match: {} on {:?} {why}", describe(&condition.test), condition.field)
            } else {
                let before: Vec<String> = earlier[..earlier.len() - 1].iter().map(|t| describe(t)).collect();
                format!(
                    "this rule can never match: {} on {:?} contradicts {} ({why})",
                    describe(&condition.test),
                    condition.field,
                    before.join(", ")
                )
            };
            return Some((k, message));
        }
    }
    None
}

/// Why the tests on one field can never all hold, if they cannot.
fn impossible(field: &str, tests: &[&Test]) -> Option<String> {
    let is_tags = field == "tags";
    let mut allowed: Option<BTreeSet<String>> = None;
    let mut excluded = BTreeSet::new();
    let (mut lower, mut upper): (Option<Decimal>, Option<Decimal>) = (None, None);
    let mut exists: Option<bool> = None;
    for test in tests {
        let restrict = |allowed: &mut Option<BTreeSet<String>>, values: BTreeSet<String>| {
            *allowed = Some(match allowed.take() {
                Some(before) => before.intersection(&values).cloned().collect(),
                None => values,
            });
        };
        match test {
            Test::In(xs) if xs.is_empty() => return Some("`in` with an empty list never holds".into()),
            Test::Is(x) => restrict(&mut allowed, BTreeSet::from([norm(x)])),
            Test::In(xs) => restrict(&mut allowed, xs.iter().map(|x| norm(x)).collect()),
            Test::IsNot(x) => {
                excluded.insert(norm(x));
            }
            Test::NotIn(xs) => excluded.extend(xs.iter().map(|x| norm(x))),
            Test::Contains(_) => {}
            Test::Gt(a) => lower = Some(lower.map_or(*a, |l| l.max(*a))),
            Test::Lt(b) => upper = Some(upper.map_or(*b, |u| u.min(*b))),
            Test::Exists(b) => {
                if exists.is_some_and(|e| e != *b) {
                    return Some("a field cannot both exist and not exist".into());
                }
                exists = Some(*b);
            }
        }
    }
    if exists == Some(false) {
        // The value is known: absent. Every other test can be decided now.
        let members: Option<&[String]> = is_tags.then_some(&[]);
        if tests.iter().any(|t| !test_holds(t, None, members)) {
            return Some("an absent value fails the other test".into());
        }
        return None;
    }
    if let (Some(a), Some(b)) = (lower, upper) {
        if a >= b {
            return Some(format!("no number is greater than {a} and less than {b}"));
        }
    }
    if let Some(allowed) = allowed {
        let mut left: Vec<&String> = allowed.iter().filter(|v| !excluded.contains(*v)).collect();
        if exists == Some(true) {
            left.retain(|v| !v.is_empty());
        }
        if left.is_empty() {
            return Some("no value passes every test".into());
        }
        if lower.is_some() || upper.is_some() {
            let in_range = |v: &&String| {
                Decimal::from_str(v).is_ok_and(|d| lower.is_none_or(|l| d > l) && upper.is_none_or(|u| d < u))
            };
            if !left.iter().any(in_range) {
                return Some("no listed value is a number in the range".into());
            }
        }
    }
    None
}

impl FieldTemplates {
    /// Checks targets, paths, sets, lengths and rules. Called by [`super::Mapping::parse`].
    pub(crate) fn validate(&self, file: &MappingFile) -> Result<(), TemplateIssue> {
        for (section, specs) in self.sections() {
            for (name, spec) in specs {
                let field = format!("fields.{section}.{name}");
                let Some(max) = lookup_target(section, name) else {
                    let message = if section == "custom" {
                        format!("{name:?} is not a custom field name (a letter, then up to 49 letters, digits or _)")
                    } else {
                        let known: Vec<&str> = match section {
                            "header" => HEADER_TARGETS,
                            "lines" => LINE_TARGETS,
                            _ => ADDRESS_TARGETS,
                        }
                        .iter()
                        .map(|(n, _)| *n)
                        .collect();
                        format!("unknown target {name:?}; [fields.{section}] has {}", known.join(", "))
                    };
                    return Err(TemplateIssue { span: spec.span(), field, message });
                };
                let target = Target { section, name, max, span: spec.span(), file };
                target.spec(spec.get_ref(), &field)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::mapping::{Mapping, MappingFileError, EXAMPLE_FOR_TESTS};
    use crate::model::fixtures;

    fn source(fields: &str) -> String {
        format!("{EXAMPLE_FOR_TESTS}\n{fields}")
    }

    fn parse(fields: &str) -> Mapping {
        Mapping::parse("m.toml", 1, &source(fields)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Line (1-based) in `text` of the first line after the example file's containing `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        let skip = EXAMPLE_FOR_TESTS.lines().count();
        let found = text.lines().skip(skip).position(|l| l.contains(needle));
        skip + found.unwrap_or_else(|| panic!("{needle:?} not in the file")) + 1
    }

    /// The validation error for `fields`: (line, field, message).
    fn invalid(fields: &str) -> (usize, String, String) {
        match Mapping::parse("m.toml", 1, &source(fields)).unwrap_err() {
            MappingFileError::Invalid { file, line, field, message } => {
                assert_eq!(file, "m.toml");
                (line, field, message)
            }
            other => panic!("expected a validation error, got {other}"),
        }
    }

    /// Asserts a validation error at the line containing `needle`, on `field`, whose message has `says`.
    fn assert_invalid(fields: &str, needle: &str, field: &str, says: &str) {
        let (line, got_field, message) = invalid(fields);
        assert_eq!((line, got_field.as_str()), (line_of(&source(fields), needle), field), "{message}");
        assert!(message.contains(says), "{message:?} does not say {says:?}");
    }

    fn syntax_error(fields: &str) -> (usize, String) {
        match Mapping::parse("m.toml", 1, &source(fields)).unwrap_err() {
            MappingFileError::Syntax { line, message, .. } => (line, message),
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    fn spec(mapping: &Mapping, section: &str, target: &str) -> FieldSpec {
        let (_, specs) = mapping.file.fields.sections().into_iter().find(|(name, _)| *name == section).unwrap();
        specs[target].get_ref().clone()
    }

    fn value(text: &str) -> Box<FieldSpec> {
        Box::new(FieldSpec::Value { value: text.into() })
    }

    fn cond(field: &str, test: Test) -> Condition {
        Condition { field: field.into(), test }
    }

    /// The fixture order with every optional value set.
    fn full_order() -> Order {
        let mut o = fixtures::order();
        o.requested_delivery = NaiveDate::from_ymd_opt(2024, 5, 10);
        o.promised_ship_by = NaiveDate::from_ymd_opt(2024, 5, 3);
        o.customer.company = Some("Lee Co".into());
        o.customer.phone = Some("555-0100".into());
        for (a, p) in [(&mut o.bill_to, "B"), (&mut o.ship_to, "S")] {
            a.name = format!("{p} Name");
            a.company = Some(format!("{p} Co"));
            a.line1 = format!("{p} 1 Main St");
            a.line2 = Some(format!("{p} Suite 2"));
            a.city = format!("{p} Austin");
            a.region = Some(format!("{p}TX"));
            a.postal_code = Some(format!("{p}78701"));
            a.phone = Some(format!("{p} 555"));
            a.email = Some(format!("{p}@example.com"));
        }
        o.ship_to.country = "CA".into();
        o.shipping.carrier = Some("FedEx".into());
        o.notes.customer_instructions = Some("Leave at door".into());
        o.notes.gift_message = Some("Happy birthday".into());
        o.tags.extend([Tag::Rush, Tag::ShipmentPriority("2".into()), Tag::Custom("vip".into())]);
        o.lines[0].identifiers = crate::model::ItemIdentifiers {
            sku: Some("SKU-RED-M".into()),
            upc: Some("012345678905".into()),
            ean: Some("4006381333931".into()),
            mpn: Some("MPN-1".into()),
            asin: Some("B000TEST".into()),
        };
        o.lines[0].note = Some("gift wrap".into());
        o
    }

    // ------------------------------------------------------------------------------- parsing

    #[test]
    fn every_spec_form_parses() {
        let m = parse(
            r#"
[fields.header]
order_type = { set = "order_types" }
ship_via = { set = "shipping_methods", field = "shipping.carrier" }
description = { template = "{order_source} order {display_number}" }
note = "empty"
external_ref = { field = "display_number" }

[fields.ship_to]
email = "skip"
phone = { value = "000" }

[fields.custom]
UsrChannelStatus = { rules = [{ when = [{ field = "order_source", is = "Amazon" }], then = "empty" }, { then = { value = "X" } }], default = "skip" }
UsrNoDefault = { rules = [] }
"#,
        );
        let f = &m.file.fields;
        assert!(!f.is_empty() && f.bill_to.is_empty() && f.lines.is_empty());
        assert_eq!(spec(&m, "header", "order_type"), FieldSpec::Set { set: "order_types".into(), field: None });
        assert_eq!(
            spec(&m, "header", "ship_via"),
            FieldSpec::Set { set: "shipping_methods".into(), field: Some("shipping.carrier".into()) }
        );
        assert_eq!(
            spec(&m, "header", "description"),
            FieldSpec::Template { template: "{order_source} order {display_number}".into() }
        );
        assert_eq!(spec(&m, "header", "note"), FieldSpec::Empty);
        assert_eq!(spec(&m, "header", "external_ref"), FieldSpec::Field { field: "display_number".into() });
        assert_eq!(spec(&m, "ship_to", "email"), FieldSpec::Skip);
        assert_eq!(spec(&m, "ship_to", "phone"), FieldSpec::Value { value: "000".into() });
        assert_eq!(
            spec(&m, "custom", "UsrChannelStatus"),
            FieldSpec::Rules {
                rules: vec![
                    Rule {
                        when: vec![cond("order_source", Test::Is("Amazon".into()))],
                        then: Box::new(FieldSpec::Empty)
                    },
                    Rule { when: vec![], then: value("X") },
                ],
                default: Some(Box::new(FieldSpec::Skip)),
            }
        );
        assert_eq!(spec(&m, "custom", "UsrNoDefault"), FieldSpec::Rules { rules: vec![], default: None });
        // The existing tables keep working, and a file without [fields] has none.
        assert_eq!(m.file.shipping_methods["Standard"].get_ref(), "UPSGROUND");
        assert!(Mapping::parse("m.toml", 1, EXAMPLE_FOR_TESTS).unwrap().file.fields.is_empty());
    }

    #[test]
    fn every_test_key_parses() {
        let m = parse(
            r#"
[fields.custom]
UsrA = { rules = [{ when = [
    { field = "order_source", is = "Amazon" },
    { field = "ship_to.country", is_not = "US" },
    { field = "channel_status", in = ["A", "B"] },
    { field = "currency", not_in = ["EUR"] },
    { field = "tags", contains = "prime" },
    { field = "totals.grand_total", gt = 100 },
    { field = "totals.tax", lt = 9.5 },
    { field = "shipping.amount", gt = "0.01" },
    { field = "customer.email", exists = true },
], then = { value = "A" } }] }
"#,
        );
        let FieldSpec::Rules { rules, .. } = spec(&m, "custom", "UsrA") else { panic!() };
        let tests: Vec<Test> = rules[0].when.iter().map(|c| c.test.clone()).collect();
        assert_eq!(
            tests,
            vec![
                Test::Is("Amazon".into()),
                Test::IsNot("US".into()),
                Test::In(vec!["A".into(), "B".into()]),
                Test::NotIn(vec!["EUR".into()]),
                Test::Contains("prime".into()),
                Test::Gt(dec!(100)),
                Test::Lt(dec!(9.5)),
                Test::Gt(dec!(0.01)),
                Test::Exists(true),
            ]
        );
        assert_eq!(rules[0].when[0].field, "order_source");
    }

    #[test]
    fn a_spec_can_be_a_table_section_with_rules_as_an_array_of_tables() {
        let fields = r#"
[fields.header.ship_via]
default = { set = "shipping_methods" }

[[fields.header.ship_via.rules]]
when = [{ field = "order_source", is = "Amazon" }]
then = { value = "FEDEX2DAY" }
"#;
        let m = parse(fields);
        let FieldSpec::Rules { rules, default } = spec(&m, "header", "ship_via") else { panic!() };
        assert_eq!(rules.len(), 1);
        assert_eq!(default, Some(Box::new(FieldSpec::Set { set: "shipping_methods".into(), field: None })));
        let long = fields.replace("FEDEX2DAY", "FEDEX2DAY-OVERNIGHT");
        // A table section's errors point at its header.
        let (line, field, _) = invalid(&long);
        assert_eq!(
            (line, field.as_str()),
            (line_of(&source(&long), "[fields.header.ship_via]"), "fields.header.ship_via.rules[0].then")
        );
    }

    #[test]
    fn malformed_specs_are_syntax_errors_that_name_the_line() {
        let cases = [
            ("ship_via = \"UPSGROUND\"", "expected \"skip\", \"empty\" or a table with one of field, value, template, set, rules"),
            ("ship_via = \"Skip\"", "expected \"skip\""),
            ("ship_via = {}", "empty table"),
            ("ship_via = { value = \"A\", field = \"order_source\" }", "only one of field, value, template"),
            ("ship_via = { valeu = \"A\" }", "unknown key `valeu`"),
            ("ship_via = { value = \"A\", default = \"skip\" }", "`default` goes with `rules` only"),
            ("ship_via = { set = \"taxes\", value = \"A\" }", "`set` goes with `field` only"),
            ("ship_via = { rules = [], value = \"A\" }", "`rules` goes with `default` only"),
            ("ship_via = { rules = [{ when = [{ field = \"tags\" }], then = \"skip\" }] }", "missing test"),
            ("ship_via = { rules = [{ when = [{ is = \"A\" }], then = \"skip\" }] }", "missing `field`"),
            (
                "ship_via = { rules = [{ when = [{ field = \"tags\", is = \"a\", is_not = \"b\" }], then = \"skip\" }] }",
                "more than one test",
            ),
            ("ship_via = { rules = [{ when = [{ field = \"tags\", equals = \"a\" }], then = \"skip\" }] }", "unknown key `equals`"),
            ("ship_via = { rules = [{ when = [{ field = \"tags\", gt = \"many\" }], then = \"skip\" }] }", "expected a number"),
            ("ship_via = { rules = [{ when = [] }] }", "missing field `then`"),
            ("ship_via = { rules = [{ then = \"skip\", otherwise = \"empty\" }] }", "unknown field `otherwise`"),
        ];
        for (line, says) in cases {
            let fields = format!("[fields.header]\n{line}\n");
            let (got, message) = syntax_error(&fields);
            assert_eq!(got, line_of(&source(&fields), "ship_via ="), "{line}: {message}");
            assert!(message.contains(says), "{line}: {message:?} does not say {says:?}");
        }
        let (got, message) = syntax_error("[fields.heder]\nship_via = \"skip\"\n");
        assert_eq!(got, line_of(&source("[fields.heder]\n"), "[fields.heder]"));
        assert!(message.contains("heder"), "{message}");
    }

    #[test]
    fn the_module_example_parses() {
        let doc = include_str!("template.rs");
        let example: String = doc
            .lines()
            .map_while(|l| l.strip_prefix("//!"))
            .skip_while(|l| !l.starts_with(" ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with(" ```"))
            .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
            .collect();
        assert!(example.contains("[fields.custom]"), "{example}");
        let m = parse(&example);
        assert_eq!(m.file.fields.sections().iter().map(|(_, s)| s.len()).sum::<usize>(), 9);
    }

    // ---------------------------------------------------------------------------- evaluation

    #[test]
    fn every_source_path_reads_the_order() {
        let o = full_order();
        let scope = Scope::line(&o, &o.lines[0]);
        let expected = [
            ("display_number", "112-0000000-0000000"),
            ("order_source", "Amazon"),
            ("channel_status", "InProcess"),
            ("placed_at", "2024-05-01T09:12:00Z"),
            ("requested_delivery", "2024-05-10"),
            ("promised_ship_by", "2024-05-03"),
            ("currency", "USD"),
            ("customer.email", "buyer@example.com"),
            ("customer.name", "Ann Lee"),
            ("customer.company", "Lee Co"),
            ("customer.phone", "555-0100"),
            ("customer.channel_customer_id", "77"),
            ("bill_to.name", "B Name"),
            ("bill_to.company", "B Co"),
            ("bill_to.line1", "B 1 Main St"),
            ("bill_to.line2", "B Suite 2"),
            ("bill_to.city", "B Austin"),
            ("bill_to.region", "BTX"),
            ("bill_to.postal_code", "B78701"),
            ("bill_to.country", "US"),
            ("bill_to.phone", "B 555"),
            ("bill_to.email", "B@example.com"),
            ("ship_to.name", "S Name"),
            ("ship_to.company", "S Co"),
            ("ship_to.line1", "S 1 Main St"),
            ("ship_to.line2", "S Suite 2"),
            ("ship_to.city", "S Austin"),
            ("ship_to.region", "STX"),
            ("ship_to.postal_code", "S78701"),
            ("ship_to.country", "CA"),
            ("ship_to.phone", "S 555"),
            ("ship_to.email", "S@example.com"),
            ("shipping.method", "Standard"),
            ("shipping.carrier", "FedEx"),
            ("shipping.amount", "5.00"),
            ("totals.subtotal", "39.98"),
            ("totals.discount", "0"),
            ("totals.shipping", "5.00"),
            ("totals.tax", "3.20"),
            ("totals.grand_total", "48.18"),
            ("notes.customer_instructions", "Leave at door"),
            ("notes.gift_message", "Happy birthday"),
            ("payment.method", "Amazon Pay"),
            ("tags", "prime,rush,shipment_priority:2,vip"),
            ("line.sku", "SKU-RED-M"),
            ("line.upc", "012345678905"),
            ("line.ean", "4006381333931"),
            ("line.mpn", "MPN-1"),
            ("line.asin", "B000TEST"),
            ("line.description", "Item SKU-RED-M"),
            ("line.quantity", "2"),
            ("line.unit_price", "19.99"),
            ("line.discount", "0"),
            ("line.tax", "3.20"),
            ("line.note", "gift wrap"),
            ("line.channel_line_id", "line-SKU-RED-M"),
        ];
        let file = &parse("").file;
        for (path, text) in expected {
            assert_eq!(scope.value(path).unwrap().as_deref(), Some(text), "{path}");
            let field = FieldSpec::Field { field: path.into() };
            assert_eq!(field.evaluate(&scope, file).unwrap(), Resolved::Value(text.into()), "{path}");
        }
        // Every path is covered above.
        let covered: BTreeSet<&str> = expected.iter().map(|(p, _)| *p).collect();
        assert_eq!(covered, field_source_paths().iter().map(String::as_str).collect());
    }

    #[test]
    fn missing_values_are_absent_and_resolve_to_empty() {
        let mut o = fixtures::order();
        o.tags.clear();
        o.payments.clear();
        o.ship_to.name = "  ".into();
        let file = &parse("").file;
        let scope = Scope::line(&o, &o.lines[0]);
        for path in [
            "requested_delivery",
            "customer.company",
            "ship_to.phone",
            "ship_to.name",
            "shipping.carrier",
            "notes.gift_message",
            "payment.method",
            "tags",
            "line.upc",
            "line.note",
        ] {
            assert_eq!(scope.value(path).unwrap(), None, "{path}");
            let field = FieldSpec::Field { field: path.into() };
            assert_eq!(field.evaluate(&scope, file).unwrap(), Resolved::Empty, "{path}");
            assert!(cond(path, Test::Exists(false)).holds(&scope).unwrap(), "{path}");
            assert!(!cond(path, Test::Exists(true)).holds(&scope).unwrap(), "{path}");
        }
        assert_eq!(FieldSpec::Skip.evaluate(&scope, file).unwrap(), Resolved::Skip);
        assert_eq!(FieldSpec::Empty.evaluate(&scope, file).unwrap(), Resolved::Empty);
        // A line field without a line, or an unknown path, cannot be read.
        let err = Scope::order(&o).value("line.sku").unwrap_err();
        assert!(matches!(err, TemplateError::Invalid { ref target, .. } if target == "line.sku"), "{err}");
        assert!(Scope::order(&o).value("order.source").is_err());
    }

    #[test]
    fn templates_fill_placeholders_and_keep_escaped_braces() {
        let mut o = fixtures::order();
        o.notes.gift_message = None;
        let file = &parse("").file;
        let scope = Scope::order(&o);
        let eval = |t: &str| FieldSpec::Template { template: t.into() }.evaluate(&scope, file).unwrap();
        assert_eq!(
            eval("{order_source} order {display_number}"),
            Resolved::Value("Amazon order 112-0000000-0000000".into())
        );
        assert_eq!(eval("{{ {currency} }}"), Resolved::Value("{ USD }".into()));
        assert_eq!(eval("Gift: {notes.gift_message}."), Resolved::Value("Gift: .".into()));
        assert_eq!(eval("{notes.gift_message}"), Resolved::Empty);
        assert_eq!(eval("{ order_source }"), Resolved::Value("Amazon".into()));
        assert_eq!(
            FieldSpec::Value { value: "EX".into() }.evaluate(&scope, file).unwrap(),
            Resolved::Value("EX".into())
        );
    }

    #[test]
    fn sets_apply_the_files_tables_and_name_unmapped_values() {
        let m = parse("[taxes.by_name]\n\"State Tax\" = \"STATETAX\"\n");
        let file = &m.file;
        let mut o = fixtures::order();
        let set = |set: &str, field: Option<&str>| FieldSpec::Set { set: set.into(), field: field.map(Into::into) };
        let eval = |o: &Order, s: &FieldSpec| s.evaluate(&Scope::line(o, &o.lines[0]), file);
        // order_types: by_source, else the default.
        assert_eq!(eval(&o, &set("order_types", None)), Ok(Resolved::Value("SO".into())));
        o.order_source.0 = "Walmart".into();
        assert_eq!(eval(&o, &set("order_types", None)), Ok(Resolved::Value("WM".into())));
        // shipping_methods, payment_methods (the method only), substitutions.
        assert_eq!(eval(&o, &set("shipping_methods", None)), Ok(Resolved::Value("UPSGROUND".into())));
        assert_eq!(eval(&o, &set("payment_methods", None)), Ok(Resolved::Value("AMAZONPAY".into())));
        o.lines[0].identifiers.sku = Some("OLD-SKU".into());
        assert_eq!(eval(&o, &set("substitutions", None)), Ok(Resolved::Value("NEW-SKU".into())));
        // taxes: by name, else the tax id.
        o.ship_to.region = Some("State Tax".into());
        assert_eq!(eval(&o, &set("taxes", Some("ship_to.region"))), Ok(Resolved::Value("STATETAX".into())));
        o.ship_to.region = Some("Other".into());
        assert_eq!(eval(&o, &set("taxes", Some("ship_to.region"))), Ok(Resolved::Value("CHANNELTAX".into())));
        // A value not in the table fails the order, naming the set and the value.
        o.shipping.method = "Teleport".into();
        let err = eval(&o, &set("shipping_methods", None)).unwrap_err();
        assert_eq!(err, TemplateError::Unmapped { set: "shipping_methods".into(), value: "Teleport".into() });
        assert_eq!(err.to_string(), "shipping method \"Teleport\": not mapped; add it to [shipping_methods]");
        let err = eval(&o, &set("shipping_methods", Some("ship_to.country"))).unwrap_err();
        assert_eq!(err, TemplateError::Unmapped { set: "shipping_methods".into(), value: "US".into() });
        assert_eq!(eval(&o, &set("substitutions", Some("line.upc"))), Ok(Resolved::Empty));
        o.lines[0].identifiers.upc = Some("0123".into());
        let err = eval(&o, &set("substitutions", Some("line.upc"))).unwrap_err();
        assert_eq!(err.to_string(), "SKU \"0123\": not mapped; add it to [items.substitutions]");
        // An absent input maps to nothing.
        o.shipping.carrier = None;
        assert_eq!(eval(&o, &set("shipping_methods", Some("shipping.carrier"))), Ok(Resolved::Empty));
    }

    #[test]
    fn rules_take_the_first_match_then_the_default_then_skip() {
        let file = &parse("").file;
        let o = fixtures::order(); // Amazon, ship to US, prime, grand total 48.18
        let rules = vec![
            Rule { when: vec![cond("order_source", Test::Is("eBay".into()))], then: value("EB") },
            Rule { when: vec![cond("totals.grand_total", Test::Gt(dec!(40)))], then: value("BIG") },
            Rule { when: vec![cond("order_source", Test::Is(" AMAZON ".into()))], then: value("AMZ") },
        ];
        let scope = Scope::order(&o);
        let with = |rules: Vec<Rule>, default: Option<Box<FieldSpec>>| {
            FieldSpec::Rules { rules, default }.evaluate(&scope, file).unwrap()
        };
        assert_eq!(with(rules.clone(), None), Resolved::Value("BIG".into()));
        assert_eq!(with(rules[2..].to_vec(), None), Resolved::Value("AMZ".into()));
        assert_eq!(with(rules[..1].to_vec(), Some(value("D"))), Resolved::Value("D".into()));
        assert_eq!(with(rules[..1].to_vec(), Some(Box::new(FieldSpec::Empty))), Resolved::Empty);
        assert_eq!(with(rules[..1].to_vec(), None), Resolved::Skip);
        assert_eq!(with(vec![], None), Resolved::Skip);
        // A matching rule's `then` can be any spec, rules included.
        let nested = Rule {
            when: vec![],
            then: Box::new(FieldSpec::Rules {
                rules: rules[..1].to_vec(),
                default: Some(Box::new(FieldSpec::Field { field: "currency".into() })),
            }),
        };
        assert_eq!(with(vec![nested], None), Resolved::Value("USD".into()));
        // Tests on numbers: a value that is not a number fails both gt and lt.
        assert!(cond("totals.grand_total", Test::Lt(dec!(48.19))).holds(&scope).unwrap());
        assert!(!cond("totals.grand_total", Test::Gt(dec!(48.18))).holds(&scope).unwrap());
        assert!(!cond("order_source", Test::Gt(dec!(-1))).holds(&scope).unwrap());
        assert!(!cond("order_source", Test::Lt(dec!(1))).holds(&scope).unwrap());
        // contains: substring for text, membership for tags.
        assert!(cond("display_number", Test::Contains("0000000-".into())).holds(&scope).unwrap());
        assert!(cond("tags", Test::Contains(" PRIME".into())).holds(&scope).unwrap());
        assert!(!cond("tags", Test::Contains("prim".into())).holds(&scope).unwrap());
        assert!(cond("order_source", Test::In(vec!["eBay".into(), "amazon".into()])).holds(&scope).unwrap());
        assert!(cond("order_source", Test::NotIn(vec!["eBay".into()])).holds(&scope).unwrap());
    }

    #[test]
    fn the_issues_examples() {
        let m = parse(
            r#"
[fields.header]
ship_via = { rules = [
    { when = [{ field = "order_source", is = "Amazon" }, { field = "tags", contains = "prime" }], then = { value = "FEDEX2DAY" } },
], default = { set = "shipping_methods" } }
order_type = { rules = [
    { when = [{ field = "ship_to.country", is_not = "US" }], then = { value = "EX" } },
], default = { set = "order_types" } }
"#,
        );
        let (ship_via, order_type) = (spec(&m, "header", "ship_via"), spec(&m, "header", "order_type"));
        let eval = |s: &FieldSpec, o: &Order| s.evaluate(&Scope::order(o), &m.file).unwrap();
        let mut o = fixtures::order(); // Amazon, prime, ship to US, "Standard" shipping
        assert_eq!(eval(&ship_via, &o), Resolved::Value("FEDEX2DAY".into()));
        assert_eq!(eval(&order_type, &o), Resolved::Value("SO".into()));
        o.tags.clear();
        assert_eq!(eval(&ship_via, &o), Resolved::Value("UPSGROUND".into()));
        o.tags.insert(Tag::Prime);
        o.order_source.0 = "eBay".into();
        assert_eq!(eval(&ship_via, &o), Resolved::Value("UPSGROUND".into()));
        o.ship_to.country = "CA".into();
        assert_eq!(eval(&order_type, &o), Resolved::Value("EX".into()));
        o.ship_to.country = " us ".into();
        assert_eq!(eval(&order_type, &o), Resolved::Value("SO".into()));
    }

    #[test]
    fn target_fields_and_their_lengths() {
        assert_eq!(target_max_len("header", "order_type"), Some(2));
        assert_eq!(target_max_len("header", "ship_via"), Some(15));
        assert_eq!(target_max_len("header", "description"), Some(256));
        assert_eq!(target_max_len("header", "external_ref"), Some(40));
        assert_eq!(target_max_len("header", "note"), None);
        assert!(is_target("header", "note") && !is_target("header", "notes"));
        for section in ["bill_to", "ship_to"] {
            assert_eq!(target_max_len(section, "attention"), Some(255));
            assert_eq!(target_max_len(section, "phone"), Some(50));
            assert_eq!(target_max_len(section, "postal_code"), Some(20));
            assert_eq!(target_max_len(section, "country"), Some(2));
        }
        assert_eq!(target_max_len("lines", "description"), Some(256));
        assert_eq!(target_max_len("lines", "warehouse_id"), Some(10));
        assert!(is_target("lines", "note") && target_max_len("lines", "note").is_none());
        assert_eq!(target_max_len("custom", "UsrChannelStatus"), Some(255));
        assert_eq!(target_max_len("custom", &format!("U{}", "x".repeat(49))), Some(255));
        for bad in ["", "1Usr", "Usr-Status", "Usr Status", &format!("U{}", "x".repeat(50))] {
            assert!(!is_target("custom", bad), "{bad:?}");
        }
        assert!(!is_target("footer", "note"));
    }

    // ---------------------------------------------------------------------------- validation

    #[test]
    fn unknown_targets_paths_and_sets_name_line_and_field() {
        let h = |line: &str| format!("[fields.header]\n{line}\n");
        assert_invalid(&h("shipvia = \"skip\""), "shipvia", "fields.header.shipvia", "unknown target \"shipvia\"");
        assert_invalid(
            "[fields.lines]\nwarehouse = \"skip\"\n",
            "warehouse =",
            "fields.lines.warehouse",
            "unknown target",
        );
        assert_invalid(
            "[fields.custom]\n\"Usr-X\" = \"skip\"\n",
            "Usr-X",
            "fields.custom.Usr-X",
            "not a custom field name",
        );
        assert_invalid(
            &h("note = { field = \"ship_to.phon\" }"),
            "note =",
            "fields.header.note",
            "unknown field \"ship_to.phon\"",
        );
        assert_invalid(
            &h("note = { field = \"line.sku\" }"),
            "note =",
            "fields.header.note",
            "only be used in [fields.lines]",
        );
        assert_invalid(
            &h("note = { template = \"#{display_numbr}\" }"),
            "note =",
            "fields.header.note",
            "placeholder {display_numbr}: unknown field",
        );
        assert_invalid(
            &h("note = { template = \"{line.note}\" }"),
            "note =",
            "fields.header.note",
            "only be used in [fields.lines]",
        );
        assert_invalid(&h("note = { template = \"a {b\" }"), "note =", "fields.header.note", "not closed");
        assert_invalid(&h("note = { template = \"a } b\" }"), "note =", "fields.header.note", "has no `{`");
        assert_invalid(
            &h("ship_via = { set = \"carriers\" }"),
            "ship_via",
            "fields.header.ship_via",
            "unknown set \"carriers\"",
        );
        assert_invalid(&h("note = { set = \"taxes\" }"), "note =", "fields.header.note", "needs a `field`");
        assert_invalid(
            &h("note = { set = \"substitutions\" }"),
            "note =",
            "fields.header.note",
            "only available in [fields.lines]",
        );
        assert_invalid(
            &h("note = { set = \"shipping_methods\", field = \"shipping.methd\" }"),
            "note =",
            "fields.header.note",
            "unknown field",
        );
        // In [fields.lines] the line fields are fine.
        parse("[fields.lines]\nnote = { template = \"{line.sku} x{line.quantity}\" }\ndescription = { set = \"substitutions\" }\n");
        let fields = "[fields.header]\nnote = { rules = [{ when = [{ field = \"shiping.method\", is = \"a\" }], then = \"skip\" }] }\n";
        assert_invalid(fields, "note =", "fields.header.note.rules[0].when[0]", "unknown field \"shiping.method\"");
    }

    #[test]
    fn values_longer_than_the_target_name_line_and_field() {
        let h = |line: &str| format!("[fields.header]\n{line}\n");
        assert_invalid(
            &h("ship_via = { value = \"FEDEX-2DAY-AIR-X\" }"),
            "ship_via",
            "fields.header.ship_via",
            "16 characters; ship_via takes at most 15",
        );
        parse(&h("ship_via = { value = \"FEDEX-2DAY-AIRX\" }"));
        assert_invalid(
            "[fields.ship_to]\ncountry = { value = \"USA\" }\n",
            "country",
            "fields.ship_to.country",
            "at most 2",
        );
        assert_invalid(
            "[fields.lines]\nwarehouse_id = { value = \"WAREHOUSE-1\" }\n",
            "warehouse_id",
            "fields.lines.warehouse_id",
            "at most 10",
        );
        let long = "x".repeat(256);
        assert_invalid(
            &format!("[fields.custom]\nUsrX = {{ value = \"{long}\" }}\n"),
            "UsrX",
            "fields.custom.UsrX",
            "at most 255",
        );
        parse(&h(&format!("note = {{ value = \"{long}{long}\" }}")));
        // Templates: the fixed text counts, placeholders do not; escaped braces count once.
        assert_invalid(
            &h("external_ref = { template = \"{display_number}-0123456789012345678901234567890123456789\" }"),
            "external_ref",
            "fields.header.external_ref",
            "the fixed text of template",
        );
        parse(&h("external_ref = { template = \"{display_number}{{01234567890123456789012345678901234567}}\" }"));
        // Inside rules and defaults.
        let rules = "ship_via = { rules = [{ when = [{ field = \"tags\", contains = \"rush\" }], then = \"empty\" }, { when = [{ field = \"tags\", contains = \"prime\" }], then = { value = \"FEDEX-PRIORITY-OVERNIGHT\" } }], default = \"skip\" }";
        assert_invalid(&h(rules), "ship_via", "fields.header.ship_via.rules[1].then", "at most 15");
        let default = "ship_via = { rules = [], default = { value = \"FEDEX-PRIORITY-OVERNIGHT\" } }";
        assert_invalid(&h(default), "ship_via", "fields.header.ship_via.default", "at most 15");
        // A set whose values do not fit.
        parse("[fields.lines]\nwarehouse_id = { set = \"substitutions\" }\n");
        let fields = "[taxes.by_name]\nX = \"STATE-TAX-TX\"\n[fields.lines]\nwarehouse_id = { set = \"taxes\", field = \"line.sku\" }\n";
        assert_invalid(
            fields,
            "warehouse_id",
            "fields.lines.warehouse_id",
            "taxes.by_name.\"X\" = \"STATE-TAX-TX\" is 12 characters",
        );
        let fields = "[fields.header]\norder_type = { set = \"shipping_methods\" }\n";
        assert_invalid(
            fields,
            "order_type",
            "fields.header.order_type",
            "shipping_methods.\"Standard\" = \"UPSGROUND\"",
        );
    }

    #[test]
    fn the_required_order_type_refuses_skip_and_empty_anywhere() {
        let h = |line: &str| format!("[fields.header]\n{line}\n");
        assert_invalid(&h("order_type = \"skip\""), "order_type", "fields.header.order_type", "order_type is required");
        assert_invalid(&h("order_type = \"empty\""), "order_type", "fields.header.order_type", "not allowed");
        let rule = "order_type = { rules = [{ when = [{ field = \"tags\", contains = \"rush\" }], then = \"empty\" }], default = { value = \"SO\" } }";
        assert_invalid(&h(rule), "order_type", "fields.header.order_type.rules[0].then", "order_type is required");
        let default = "order_type = { rules = [], default = \"skip\" }";
        assert_invalid(&h(default), "order_type", "fields.header.order_type.default", "order_type is required");
        let none = "order_type = { rules = [{ when = [{ field = \"tags\", contains = \"rush\" }], then = { value = \"RU\" } }] }";
        assert_invalid(&h(none), "order_type", "fields.header.order_type", "add a `default`");
        // Other targets take skip and empty.
        parse("[fields.header]\nship_via = \"skip\"\nnote = \"empty\"\n");
    }

    #[test]
    fn rules_that_can_never_match_name_the_condition() {
        let rule = |when: &str| {
            format!(
                "[fields.header]\nship_via = {{ rules = [{{ when = [{{ field = \"tags\", contains = \"x\" }}], then = \"skip\" }}, {{ when = [{when}], then = \"empty\" }}] }}\n"
            )
        };
        let cases = [
            (
                r#"{ field = "order_source", is = "Amazon" }, { field = "order_source", is = "eBay" }"#,
                1,
                "contradicts is = \"Amazon\"",
            ),
            (
                r#"{ field = "order_source", is = "Amazon" }, { field = "order_source", is_not = " amazon" }"#,
                1,
                "is_not = \" amazon\"",
            ),
            (
                r#"{ field = "order_source", is_not = "Amazon" }, { field = "order_source", is = "AMAZON" }"#,
                1,
                "contradicts",
            ),
            (r#"{ field = "order_source", in = [] }"#, 0, "`in` with an empty list never holds"),
            (
                r#"{ field = "tags", contains = "a" }, { field = "order_source", is = "Amazon" }, { field = "order_source", in = ["eBay", "Walmart"] }"#,
                2,
                "no value passes every test",
            ),
            (
                r#"{ field = "order_source", in = ["eBay"] }, { field = "order_source", not_in = ["EBAY"] }"#,
                1,
                "no value passes",
            ),
            (
                r#"{ field = "totals.grand_total", gt = 100 }, { field = "totals.grand_total", lt = 100 }"#,
                1,
                "no number is greater than 100 and less than 100",
            ),
            (
                r#"{ field = "totals.grand_total", lt = 50 }, { field = "totals.grand_total", gt = "75.5" }"#,
                1,
                "greater than 75.5 and less than 50",
            ),
            (
                r#"{ field = "totals.tax", is = "abc" }, { field = "totals.tax", gt = 1 }"#,
                1,
                "no listed value is a number in the range",
            ),
            (
                r#"{ field = "customer.email", exists = true }, { field = "customer.email", exists = false }"#,
                1,
                "cannot both exist and not exist",
            ),
            (
                r#"{ field = "customer.email", exists = false }, { field = "customer.email", is = "a@b.c" }"#,
                1,
                "an absent value fails",
            ),
            (
                r#"{ field = "customer.email", contains = "@" }, { field = "customer.email", exists = false }"#,
                1,
                "an absent value fails",
            ),
            (
                r#"{ field = "tags", exists = false }, { field = "tags", contains = "prime" }"#,
                1,
                "an absent value fails",
            ),
            (
                r#"{ field = "totals.tax", gt = 0 }, { field = "totals.tax", exists = false }"#,
                1,
                "an absent value fails",
            ),
            (
                r#"{ field = "customer.email", exists = true }, { field = "customer.email", in = ["", " "] }"#,
                1,
                "no value passes",
            ),
        ];
        for (when, k, says) in cases {
            assert_invalid(&rule(when), "ship_via", &format!("fields.header.ship_via.rules[1].when[{k}]"), says);
        }
        // Tests that can hold together are accepted.
        for when in [
            r#"{ field = "order_source", is = "Amazon" }, { field = "order_source", is = " amazon " }"#,
            r#"{ field = "order_source", is = "Amazon" }, { field = "order_source", in = ["AMAZON", "eBay"] }"#,
            r#"{ field = "order_source", is_not = "Amazon" }, { field = "order_source", is_not = "eBay" }"#,
            r#"{ field = "order_source", is = "Amazon" }, { field = "ship_to.country", is = "CA" }"#,
            r#"{ field = "totals.grand_total", gt = 10 }, { field = "totals.grand_total", lt = 10.01 }"#,
            r#"{ field = "totals.tax", in = ["1", "5"] }, { field = "totals.tax", gt = 2 }"#,
            r#"{ field = "customer.email", exists = false }, { field = "customer.email", is_not = "a@b.c" }"#,
            r#"{ field = "customer.email", exists = true }, { field = "customer.email", contains = "@" }"#,
        ] {
            parse(&rule(when));
        }
    }

    #[test]
    fn a_rule_after_one_without_conditions_is_unreachable() {
        let fields = r#"
[fields.header]
ship_via = { rules = [
    { when = [{ field = "tags", contains = "rush" }], then = { value = "RUSH" } },
    { when = [], then = { value = "ANY" } },
    { when = [{ field = "tags", contains = "prime" }], then = { value = "PRIME" } },
] }
"#;
        assert_invalid(
            fields,
            "ship_via",
            "fields.header.ship_via.rules[2]",
            "never reached: rules[1] has no conditions",
        );
        parse(&fields.replace(
            "    { when = [{ field = \"tags\", contains = \"prime\" }], then = { value = \"PRIME\" } },\n",
            "",
        ));
        // Rules nested in a rule's `then` are checked too, with their path.
        let nested = r#"
[fields.ship_to]
phone = { rules = [{ then = { rules = [{ when = [{ field = "order_source", in = [] }], then = "empty" }] } }] }
"#;
        assert_invalid(nested, "phone", "fields.ship_to.phone.rules[0].then.rules[0].when[0]", "empty list");
    }

    // ---------------------------------------------------------------------------- properties

    const VALUES: &[&str] = &[
        "Amazon", " amazon ", "eBay", "US", "us", "CA", "prime", "PRIME", "rush", "100", "48.18", "7", "", "a@b.c", "b",
    ];
    const FIELDS: &[&str] = &["order_source", "ship_to.country", "tags", "totals.grand_total", "customer.email"];

    fn any_value() -> impl Strategy<Value = String> {
        proptest::sample::select(VALUES).prop_map(str::to_owned)
    }

    fn any_test() -> impl Strategy<Value = Test> {
        let number = (-100i64..30_000).prop_map(|c| Decimal::new(c, 2));
        prop_oneof![
            any_value().prop_map(Test::Is),
            any_value().prop_map(Test::IsNot),
            proptest::collection::vec(any_value(), 0..4).prop_map(Test::In),
            proptest::collection::vec(any_value(), 0..4).prop_map(Test::NotIn),
            any_value().prop_map(Test::Contains),
            number.clone().prop_map(Test::Gt),
            number.prop_map(Test::Lt),
            any::<bool>().prop_map(Test::Exists),
        ]
    }

    fn any_condition() -> impl Strategy<Value = Condition> {
        (proptest::sample::select(FIELDS), any_test()).prop_map(|(f, test)| Condition { field: f.to_owned(), test })
    }

    /// The order's values for `FIELDS`, chosen at random.
    #[derive(Debug, Clone)]
    struct Facts {
        source: String,
        country: String,
        prime: bool,
        rush: bool,
        total_cents: i64,
        email: Option<String>,
    }

    fn any_facts() -> impl Strategy<Value = Facts> {
        (any_value(), any_value(), any::<bool>(), any::<bool>(), 0i64..20_000, proptest::option::of(any_value()))
            .prop_map(|(source, country, prime, rush, total_cents, email)| Facts {
                source,
                country,
                prime,
                rush,
                total_cents,
                email,
            })
    }

    impl Facts {
        fn order(&self) -> Order {
            let mut o = fixtures::order();
            o.order_source.0 = self.source.clone();
            o.ship_to.country = self.country.clone();
            o.tags.clear();
            if self.prime {
                o.tags.insert(Tag::Prime);
            }
            if self.rush {
                o.tags.insert(Tag::Rush);
            }
            o.totals.grand_total.amount = Decimal::new(self.total_cents, 2);
            o.customer.email = self.email.clone();
            o
        }

        /// The reference reading: (text, or None when absent; tag names for `tags`).
        fn read(&self, field: &str) -> (Option<String>, Vec<&'static str>) {
            let some = |s: &str| if s.trim().is_empty() { None } else { Some(s.to_owned()) };
            let tags: Vec<&'static str> =
                [(self.prime, "prime"), (self.rush, "rush")].into_iter().filter(|t| t.0).map(|t| t.1).collect();
            match field {
                "order_source" => (some(&self.source), vec![]),
                "ship_to.country" => (some(&self.country), vec![]),
                "tags" => (some(&tags.join(",")), tags),
                "totals.grand_total" => (Some(Decimal::new(self.total_cents, 2).to_string()), vec![]),
                _ => (self.email.as_deref().and_then(some), vec![]),
            }
        }

        /// Straightforward reference evaluation of one condition.
        fn holds(&self, c: &Condition) -> bool {
            let (value, tags) = self.read(&c.field);
            let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
            let text = value.clone().unwrap_or_default();
            let number = value.as_deref().and_then(|v| v.trim().parse::<Decimal>().ok());
            match &c.test {
                Test::Is(x) => same(&text, x),
                Test::IsNot(x) => !same(&text, x),
                Test::In(xs) => xs.iter().any(|x| same(&text, x)),
                Test::NotIn(xs) => xs.iter().all(|x| !same(&text, x)),
                Test::Contains(x) if c.field == "tags" => tags.iter().any(|t| same(t, x)),
                Test::Contains(x) => text.to_lowercase().trim().contains(x.to_lowercase().trim()),
                Test::Gt(b) => number.is_some_and(|n| n > *b),
                Test::Lt(b) => number.is_some_and(|n| n < *b),
                Test::Exists(e) => value.is_some() == *e,
            }
        }
    }

    proptest! {
        #[test]
        fn rules_return_the_then_of_the_first_rule_that_holds(
            facts in any_facts(),
            whens in proptest::collection::vec(proptest::collection::vec(any_condition(), 0..4), 0..6),
            default in proptest::option::of(any_value()),
        ) {
            let file = &parse("").file;
            let order = facts.order();
            let rules: Vec<Rule> = whens.iter().enumerate()
                .map(|(i, when)| Rule { when: when.clone(), then: value(&format!("R{i}")) })
                .collect();
            let spec = FieldSpec::Rules { rules, default: default.clone().map(|d| value(&format!("D{d}"))) };
            let expected = match whens.iter().position(|when| when.iter().all(|c| facts.holds(c))) {
                Some(i) => Resolved::Value(format!("R{i}")),
                None => default.map_or(Resolved::Skip, |d| Resolved::Value(format!("D{d}"))),
            };
            prop_assert_eq!(spec.evaluate(&Scope::order(&order), file).unwrap(), expected);
        }

        #[test]
        fn in_is_any_is_and_is_not_is_not_is(
            facts in any_facts(),
            field in proptest::sample::select(FIELDS),
            list in proptest::collection::vec(any_value(), 0..5),
            one in any_value(),
        ) {
            let order = facts.order();
            let scope = Scope::order(&order);
            let holds = |test: Test| cond(field, test).holds(&scope).unwrap();
            let any_is = list.iter().any(|x| holds(Test::Is(x.clone())));
            prop_assert_eq!(holds(Test::In(list.clone())), any_is);
            prop_assert_eq!(holds(Test::NotIn(list.clone())), !any_is);
            prop_assert_eq!(holds(Test::IsNot(one.clone())), !holds(Test::Is(one)));
        }

        #[test]
        fn a_template_without_placeholders_is_its_static_text(text in "[ -~]{0,60}") {
            let file = &parse("").file;
            let order = fixtures::order();
            let expected = if text.is_empty() { Resolved::Empty } else { Resolved::Value(text.clone()) };
            let escaped = text.replace('{', "{{").replace('}', "}}");
            let spec = FieldSpec::Template { template: escaped };
            prop_assert_eq!(spec.evaluate(&Scope::order(&order), file).unwrap(), expected.clone());
            if !text.contains(['{', '}']) {
                let spec = FieldSpec::Template { template: text.clone() };
                prop_assert_eq!(spec.evaluate(&Scope::order(&order), file).unwrap(), expected);
            }
        }
    }
}

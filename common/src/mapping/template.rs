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

/// What a spec resolves to for one order (and line).
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
pub const SET_NAMES: &[&str] = &["order_types", "shipping_methods", "payment_methods", "taxes", "substitutions"];

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
pub const SECTIONS: &[&str] = &["header", "bill_to", "ship_to", "lines", "custom"];

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
pub fn source_paths() -> Vec<String> {
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
pub fn tag_names(order: &Order) -> Vec<String> {
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
            "tags" => present(Some(&tag_names(o).join(","))),
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
        let members = (self.field == "tags").then(|| tag_names(scope.order));
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
    if !SET_NAMES.contains(&set) {
        return Err(invalid(format!("unknown set; use one of {}", SET_NAMES.join(", "))));
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

    /// The sections with their names, in file order of [`SECTIONS`].
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
        if !SET_NAMES.contains(&set) {
            return Err(self.issue(field, format!("unknown set {set:?}; use one of {}", SET_NAMES.join(", "))));
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

//! What Orderbridge follows after an order is imported: the charges the channel reports for it
//! (profit & loss, marketplace fees, settled late) and the personal data it keeps about it until
//! the connection's retention period after shipment ends.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Address, ChannelOrderId, Order};

/// What a channel reports an order cost and earned, by the channel's own field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCharges {
    pub order: ChannelOrderId,
    /// When the order shipped, as the channel knows it.
    pub shipped_at: Option<DateTime<Utc>>,
    /// Whether the marketplace settlement is in (its fees are final).
    pub settled: bool,
    /// Each charge; None while the channel reports it as not known yet (e.g. an unsettled commission).
    pub values: BTreeMap<String, Option<Decimal>>,
}

/// Per channel connection: which charges go to which ERP order fields, and for how long orders are
/// followed (`[connection.settings.profit_and_loss]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeSync {
    /// Channel charge name → ERP order field it is written to (`Comission = "UsrSCCommission"`).
    pub fields: BTreeMap<String, String>,
    /// Orders are followed until this many days after they shipped (marketplace fees settle late,
    /// some every two weeks), then no more.
    #[serde(default = "default_stop_after_days")]
    pub stop_after_days: u32,
    /// An order that never ships is followed this many days after its import.
    #[serde(default = "default_unshipped_days")]
    pub unshipped_days: u32,
    /// Orders read per bulk call.
    #[serde(default = "default_orders_per_call")]
    pub orders_per_call: usize,
    /// Channel calls one run may make; the rest waits for the next run (imports come first).
    #[serde(default = "default_max_calls_per_run")]
    pub max_calls_per_run: u32,
    /// ERP writes one run may make (the ERP licence is shared with imports); the rest waits.
    #[serde(default = "default_max_writes_per_run")]
    pub max_writes_per_run: u32,
}

fn default_max_writes_per_run() -> u32 {
    40
}

fn default_stop_after_days() -> u32 {
    30
}
fn default_unshipped_days() -> u32 {
    90
}
fn default_orders_per_call() -> usize {
    50
}
fn default_max_calls_per_run() -> u32 {
    20
}

impl ChargeSync {
    /// Checks the vendor-neutral parts; the channel checks its charge names.
    pub fn validate(&self) -> Result<(), String> {
        if self.fields.is_empty() {
            return Err("profit_and_loss.fields: name at least one charge and the ERP field it goes to \
                        (e.g. Comission = \"UsrSCCommission\")"
                .into());
        }
        for (charge, field) in &self.fields {
            let name = field.rsplit('.').next().unwrap_or("");
            let ok = name.len() > 3
                && name.starts_with("Usr")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && field.split('.').count() <= 2;
            if !ok {
                return Err(format!(
                    "profit_and_loss.fields.{charge}: {field:?} is not an ERP user-defined field; use its name \
                     (UsrSCCommission) or view and name (Document.UsrSCCommission)"
                ));
            }
        }
        if self.stop_after_days == 0 || self.stop_after_days > 365 {
            return Err(format!("profit_and_loss.stop_after_days: {} is outside 1-365", self.stop_after_days));
        }
        if self.unshipped_days == 0 || self.unshipped_days > 365 {
            return Err(format!("profit_and_loss.unshipped_days: {} is outside 1-365", self.unshipped_days));
        }
        if self.orders_per_call == 0 {
            return Err("profit_and_loss.orders_per_call: must be at least 1".into());
        }
        if self.max_calls_per_run == 0 {
            return Err("profit_and_loss.max_calls_per_run: must be at least 1".into());
        }
        if self.max_writes_per_run == 0 {
            return Err("profit_and_loss.max_writes_per_run: must be at least 1".into());
        }
        Ok(())
    }
}

/// How long personal data about a connection's orders is kept after the order shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// Kept as long as the records themselves (connector log: its retention; ledger: forever).
    #[default]
    Indefinitely,
    /// Removed this many days after shipment (30, 60 or 90).
    Days(u32),
}

impl Retention {
    /// The settings a connection may choose (Flxpoint's: indefinitely, or 30, 60, 90 days).
    pub const ALLOWED_DAYS: [u32; 3] = [30, 60, 90];

    pub fn days(self) -> Option<u32> {
        match self {
            Self::Indefinitely => None,
            Self::Days(d) => Some(d),
        }
    }
}

/// The personal data of one order that Orderbridge's own records may contain: what a purge
/// removes from them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalData {
    pub names: Vec<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    /// Street lines and company names of the addresses.
    pub street_lines: Vec<String>,
}

impl PersonalData {
    /// Names, emails, phones and street lines of the buyer and both addresses (distinct, trimmed,
    /// at least three characters so that a purge never rewrites unrelated short words).
    pub fn of_order(order: &Order) -> Self {
        let mut data = Self::default();
        let c = &order.customer;
        data.add_name(&c.name);
        data.add_email(c.email.as_deref());
        data.add_phone(c.phone.as_deref());
        data.add_street(c.company.as_deref());
        for a in [&order.bill_to, &order.ship_to] {
            data.add_address(a);
        }
        data
    }

    pub fn add_address(&mut self, a: &Address) {
        self.add_name(&a.name);
        self.add_email(a.email.as_deref());
        self.add_phone(a.phone.as_deref());
        self.add_street(Some(&a.line1));
        self.add_street(a.line2.as_deref());
        self.add_street(a.company.as_deref());
    }

    fn push(list: &mut Vec<String>, value: Option<&str>) {
        let Some(v) = value.map(str::trim).filter(|v| v.chars().count() >= 3) else { return };
        if !list.iter().any(|x| x.eq_ignore_ascii_case(v)) {
            list.push(v.to_owned());
        }
    }

    pub fn add_name(&mut self, name: &str) {
        Self::push(&mut self.names, Some(name));
    }
    pub fn add_email(&mut self, email: Option<&str>) {
        Self::push(&mut self.emails, email);
    }
    pub fn add_phone(&mut self, phone: Option<&str>) {
        Self::push(&mut self.phones, phone);
    }
    pub fn add_street(&mut self, line: Option<&str>) {
        Self::push(&mut self.street_lines, line);
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.emails.is_empty() && self.phones.is_empty() && self.street_lines.is_empty()
    }

    /// Every value, longest first (so a street line containing a name is replaced whole).
    pub fn values(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .names
            .iter()
            .chain(&self.emails)
            .chain(&self.phones)
            .chain(&self.street_lines)
            .map(String::as_str)
            .collect();
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
        all
    }

    /// `text` with every value replaced by `[removed]` (case-insensitive); None when none occurs.
    pub fn redact(&self, text: &str) -> Option<String> {
        let mut out = text.to_owned();
        let mut changed = false;
        for value in self.values() {
            let (lower_out, lower_value) = (out.to_lowercase(), value.to_lowercase());
            // Case-insensitive search on a lower-cased copy; positions agree only when lower-casing
            // keeps byte lengths, so fall back to an exact match otherwise.
            if lower_out.len() == out.len() && lower_value.len() == value.len() {
                let mut result = String::with_capacity(out.len());
                let mut rest = 0;
                for (at, _) in lower_out.match_indices(&lower_value) {
                    if at < rest {
                        continue;
                    }
                    result.push_str(&out[rest..at]);
                    result.push_str(REMOVED);
                    rest = at + value.len();
                    changed = true;
                }
                result.push_str(&out[rest..]);
                out = result;
            } else if out.contains(value) {
                out = out.replace(value, REMOVED);
                changed = true;
            }
        }
        changed.then_some(out)
    }
}

/// What replaces a purged value in Orderbridge's records.
pub const REMOVED: &str = "[removed]";

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> PersonalData {
        PersonalData {
            names: vec!["Ada Lovelace".into()],
            emails: vec!["ada@example.com".into()],
            phones: vec!["+1 555 0100".into()],
            street_lines: vec!["12 Analytical Engine Way".into()],
        }
    }

    #[test]
    fn every_value_is_replaced_whatever_its_case_and_text_without_one_is_left_alone() {
        let text =
            "Created SO000001 for ADA LOVELACE <Ada@Example.com>, ship to 12 Analytical Engine Way, tel +1 555 0100.";
        let redacted = data().redact(text).expect("changed");
        assert_eq!(redacted, "Created SO000001 for [removed] <[removed]>, ship to [removed], tel [removed].");
        assert_eq!(data().redact("Pushed 2 packages."), None);
        assert_eq!(data().redact(&redacted), None, "idempotent");
    }

    #[test]
    fn short_values_are_not_collected_and_duplicates_are_kept_once() {
        let mut d = PersonalData::default();
        d.add_name("Al");
        d.add_name("Grace Hopper");
        d.add_name("grace hopper");
        d.add_street(Some("  "));
        assert_eq!(d.names, vec!["Grace Hopper".to_owned()]);
        assert!(d.street_lines.is_empty());
        assert!(!d.is_empty());
    }

    #[test]
    fn non_ascii_values_are_replaced_exactly() {
        let d = PersonalData { names: vec!["Jürgen Groß".into()], ..Default::default() };
        assert_eq!(d.redact("for Jürgen Groß.").as_deref(), Some("for [removed]."));
    }
}

//! Dry run of a mapping change: the newest new orders of a connection mapped with the mapping in
//! force and with a candidate file, compared field by field. Read-only by construction: the
//! channel is only listed and read (never acknowledged), the ERP only asked for customers and
//! items (a customer the import would create is named, not created), and no ledger is touched.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::flows::{match_customer, resolve_lines, CustomerMatch};
use crate::mapping::{build_draft, Mapping, OrderMappingError, SalesOrderDraft};
use crate::model::{
    ChannelOrderId, ConnectionId, Customer, ErpCustomerId, ErpItemId, ErpOrderRef, IdentifierKind, Order,
};
use crate::ports::{ConnectorError, CustomerLookup, ListedOrder, OrderSink, OrderSource, PageToken};

/// What a dry run found, newest order first.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunReport {
    pub connection: ConnectionId,
    /// The mapping in force, as `path vN`.
    pub current: String,
    /// The candidate mapping, as `path`.
    pub candidate: String,
    /// How many new orders the channel listed (the report covers the newest `orders.len()`).
    pub listed: usize,
    pub orders: Vec<OrderDiff>,
    pub summary: DryRunSummary,
}

/// One order under both mappings.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDiff {
    pub order: ChannelOrderId,
    pub display_number: String,
    /// None when the channel's order could not be read.
    pub placed_at: Option<DateTime<Utc>>,
    /// The draft the mapping in force builds (or why it fails).
    pub before: DraftOutcome,
    /// The draft the candidate builds (or why it fails).
    pub after: DraftOutcome,
    /// Fields whose value differs, when both sides build a draft.
    pub changes: Vec<FieldChange>,
    /// What the import would do besides the draft (a customer it would create).
    pub notes: Vec<String>,
}

/// A mapping's result for one order.
#[derive(Debug, Clone, PartialEq)]
pub enum DraftOutcome {
    Draft(Box<SalesOrderDraft>),
    /// Why the import would record a failure, in the import's words.
    Failed(String),
}

impl DraftOutcome {
    pub fn draft(&self) -> Option<&SalesOrderDraft> {
        match self {
            Self::Draft(d) => Some(d),
            Self::Failed(_) => None,
        }
    }

    pub fn failure(&self) -> Option<&str> {
        match self {
            Self::Draft(_) => None,
            Self::Failed(reason) => Some(reason),
        }
    }
}

/// One field of the draft: `ship_via`, `lines[0].description`, `ship_to.address.city`,
/// `attributes.PRIME`. None: the field is absent (or null) on that side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// How one order fares under the candidate compared to the mapping in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    Unchanged,
    WouldChange,
    WouldFail,
    WouldStartToSucceed,
    FailBoth,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::WouldChange => "would change",
            Self::WouldFail => "would fail",
            Self::WouldStartToSucceed => "would start to succeed",
            Self::FailBoth => "fails with both",
        }
    }
}

impl OrderDiff {
    pub fn verdict(&self) -> Verdict {
        match (&self.before, &self.after) {
            (DraftOutcome::Draft(a), DraftOutcome::Draft(b)) => {
                if a == b && self.changes.is_empty() {
                    Verdict::Unchanged
                } else {
                    Verdict::WouldChange
                }
            }
            (DraftOutcome::Draft(_), DraftOutcome::Failed(_)) => Verdict::WouldFail,
            (DraftOutcome::Failed(_), DraftOutcome::Draft(_)) => Verdict::WouldStartToSucceed,
            (DraftOutcome::Failed(_), DraftOutcome::Failed(_)) => Verdict::FailBoth,
        }
    }
}

/// Counts by verdict; they add up to `orders`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DryRunSummary {
    pub orders: usize,
    pub unchanged: usize,
    pub would_change: usize,
    pub would_fail: usize,
    pub would_start_to_succeed: usize,
    pub fail_both: usize,
}

impl DryRunSummary {
    fn of(orders: &[OrderDiff]) -> Self {
        let mut s = Self { orders: orders.len(), ..Self::default() };
        for o in orders {
            match o.verdict() {
                Verdict::Unchanged => s.unchanged += 1,
                Verdict::WouldChange => s.would_change += 1,
                Verdict::WouldFail => s.would_fail += 1,
                Verdict::WouldStartToSucceed => s.would_start_to_succeed += 1,
                Verdict::FailBoth => s.fail_both += 1,
            }
        }
        s
    }

    /// The last line of [`DryRunReport::render`].
    pub fn line(&self) -> String {
        format!(
            "Summary: {} orders: {} would change, {} would fail, {} would start to succeed, {} fail with both, {} unchanged.",
            self.orders, self.would_change, self.would_fail, self.would_start_to_succeed, self.fail_both, self.unchanged
        )
    }
}

/// Why a dry run stopped: the channel or the ERP could not be asked. An order the mapping cannot
/// handle is not an error; it is a `Failed` side of the report.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("listing the new orders of {connection} failed (page {page})")]
    List {
        connection: ConnectionId,
        page: u32,
        #[source]
        source: ConnectorError,
    },
    #[error("reading order {order} of {connection} failed")]
    Fetch {
        connection: ConnectionId,
        order: ChannelOrderId,
        #[source]
        source: ConnectorError,
    },
    #[error("looking up the customer or items of order {order} in the ERP failed")]
    Erp {
        order: ChannelOrderId,
        #[source]
        source: ConnectorError,
    },
    #[error("the draft of order {order} could not be compared")]
    Compare {
        order: ChannelOrderId,
        #[source]
        source: serde_json::Error,
    },
}

impl Classify for DryRunError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::List { source, .. } | Self::Fetch { source, .. } | Self::Erp { source, .. } => source.class(),
            Self::Compare { .. } => ErrorClass::Permanent,
        }
    }
}

/// Where a dry run is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunProgress {
    /// A page of the listing was read; `listed` orders so far.
    Listed { pages: u32, listed: usize },
    /// `done` of `total` orders read and mapped with both mappings.
    Mapped { done: usize, total: usize },
}

/// Maps the `max_orders` newest new orders of `source` with `current` and with `candidate` and
/// compares the drafts. Writes nothing anywhere.
pub async fn dry_run(
    source: &dyn OrderSource,
    sink: &dyn OrderSink<Draft = SalesOrderDraft>,
    current: &Mapping,
    candidate: &Mapping,
    max_orders: usize,
) -> Result<DryRunReport, DryRunError> {
    dry_run_with_progress(source, sink, current, candidate, max_orders, &|_| {}).await
}

/// [`dry_run`], telling `progress` after every page and every order.
pub async fn dry_run_with_progress(
    source: &dyn OrderSource,
    sink: &dyn OrderSink<Draft = SalesOrderDraft>,
    current: &Mapping,
    candidate: &Mapping,
    max_orders: usize,
    progress: &(dyn Fn(DryRunProgress) + Sync),
) -> Result<DryRunReport, DryRunError> {
    let result = run(source, sink, current, candidate, max_orders, progress).await;
    // Signs out of the ERP (frees its API-user slot), as the import does after a batch.
    sink.end_session().await;
    result
}

async fn run(
    source: &dyn OrderSource,
    sink: &dyn OrderSink<Draft = SalesOrderDraft>,
    current: &Mapping,
    candidate: &Mapping,
    max_orders: usize,
    progress: &(dyn Fn(DryRunProgress) + Sync),
) -> Result<DryRunReport, DryRunError> {
    let connection = source.connection().clone();
    let (listed, newest) = newest_listed(source, max_orders, progress).await?;
    let total = newest.len();
    let same_rules = same_resolution_rules(current, candidate);
    let resolver = ReadOnlyErp { sink, customers: Mutex::default(), items: Mutex::default() };
    let mut orders = Vec::with_capacity(total);
    for (done, listed) in newest.into_iter().enumerate() {
        let diff = match read(source, &connection, listed).await? {
            Read::Order(order) => {
                let order = *order;
                let before_res = resolver.resolve(current, &order).await?;
                let after_res =
                    if same_rules { before_res.clone() } else { resolver.resolve(candidate, &order).await? };
                let mut notes = Vec::new();
                match (&before_res, &after_res) {
                    (Resolved::Ok { new_customer: Some(a), .. }, Resolved::Ok { new_customer: Some(b), .. })
                        if a == b =>
                    {
                        notes.push(would_create(a));
                    }
                    _ => {
                        for (side, res) in [("before", &before_res), ("after", &after_res)] {
                            if let Resolved::Ok { new_customer: Some(id), .. } = res {
                                notes.push(format!("{side}: {}", would_create(id)));
                            }
                        }
                    }
                }
                let before = draft(current, &order, before_res);
                let after = draft(candidate, &order, after_res);
                let changes = match (&before, &after) {
                    (DraftOutcome::Draft(a), DraftOutcome::Draft(b)) => compare(a, b)
                        .map_err(|source| DryRunError::Compare { order: order.channel_order_id.clone(), source })?,
                    _ => Vec::new(),
                };
                OrderDiff {
                    order: order.channel_order_id.clone(),
                    display_number: order.display_number.clone(),
                    placed_at: Some(order.placed_at),
                    before,
                    after,
                    changes,
                    notes,
                }
            }
            Read::Unreadable { id, display_number, reason } => OrderDiff {
                order: id,
                display_number,
                placed_at: None,
                before: DraftOutcome::Failed(reason.clone()),
                after: DraftOutcome::Failed(reason),
                changes: Vec::new(),
                notes: Vec::new(),
            },
        };
        orders.push(diff);
        progress(DryRunProgress::Mapped { done: done + 1, total });
    }
    // Newest first; an order that could not be read goes last.
    orders.sort_by(|a, b| b.placed_at.cmp(&a.placed_at).then_with(|| a.order.cmp(&b.order)));
    let summary = DryRunSummary::of(&orders);
    Ok(DryRunReport {
        connection,
        current: format!("{} v{}", current.path, current.version),
        candidate: candidate.path.clone(),
        listed,
        orders,
        summary,
    })
}

fn would_create(id: &ErpCustomerId) -> String {
    format!("customer {id} is not in the ERP; the import would create it")
}

/// Reads the whole listing (channels list oldest first, as the pull reads them) and keeps the
/// last `max_orders` entries: the newest. Returns how many were listed and those entries.
async fn newest_listed(
    source: &dyn OrderSource,
    max_orders: usize,
    progress: &(dyn Fn(DryRunProgress) + Sync),
) -> Result<(usize, Vec<ListedOrder>), DryRunError> {
    let mut kept: VecDeque<ListedOrder> = VecDeque::with_capacity(max_orders.min(1024));
    let mut listed = 0usize;
    let mut pages = 0u32;
    let mut seen: HashSet<ChannelOrderId> = HashSet::new();
    let mut token: Option<PageToken> = None;
    loop {
        let page = source.list_new_orders(token.as_ref()).await.map_err(|source_error| DryRunError::List {
            connection: source.connection().clone(),
            page: pages + 1,
            source: source_error,
        })?;
        pages += 1;
        for order in page.orders {
            // A listing that shifts between pages may repeat an order; it is counted once.
            if !seen.insert(order.id().clone()) {
                continue;
            }
            listed += 1;
            if max_orders == 0 {
                continue;
            }
            if kept.len() == max_orders {
                kept.pop_front();
            }
            kept.push_back(order);
        }
        progress(DryRunProgress::Listed { pages, listed });
        match page.next {
            // A channel that hands back the token it was given would list forever.
            Some(next) if token.as_ref() != Some(&next) => token = Some(next),
            _ => break,
        }
    }
    Ok((listed, kept.into()))
}

enum Read {
    Order(Box<Order>),
    /// The channel answered with an order that can never be mapped (the import records this as
    /// the order's failure, whatever the mapping).
    Unreadable {
        id: ChannelOrderId,
        display_number: String,
        reason: String,
    },
}

async fn read(source: &dyn OrderSource, connection: &ConnectionId, listed: ListedOrder) -> Result<Read, DryRunError> {
    match listed {
        ListedOrder::Whole(order) => Ok(Read::Order(order)),
        ListedOrder::Reference { id, display_number } => match source.fetch_order(&id).await {
            Ok(order) => Ok(Read::Order(Box::new(order))),
            Err(e @ ConnectorError::Unmappable { .. }) => {
                Ok(Read::Unreadable { id, display_number, reason: format!("the channel's order cannot be read: {e}") })
            }
            Err(source) => Err(DryRunError::Fetch { connection: connection.clone(), order: id, source }),
        },
    }
}

/// True when both mappings find customers and items the same way and name the same file, so one
/// resolution serves both. Otherwise each mapping resolves on its own (its failures name its own
/// file), and the resolver's memory still asks the ERP each question once.
fn same_resolution_rules(a: &Mapping, b: &Mapping) -> bool {
    let (ca, cb) = (&a.file.customers, &b.file.customers);
    let (ia, ib) = (&a.file.items, &b.file.items);
    ca.id_prefix.get_ref() == cb.id_prefix.get_ref()
        && ca.create_missing == cb.create_missing
        && ca.customer_class == cb.customer_class
        && ca.guest_customer.as_ref().map(|g| g.get_ref()) == cb.guest_customer.as_ref().map(|g| g.get_ref())
        && ia.identifier_priority.get_ref() == ib.identifier_priority.get_ref()
        && ia.substitutions.len() == ib.substitutions.len()
        && ia
            .substitutions
            .iter()
            .zip(&ib.substitutions)
            .all(|((ka, va), (kb, vb))| ka == kb && va.get_ref() == vb.get_ref())
        && a.path == b.path
        && a.version == b.version
}

/// A mapping's customer and items for an order, or why the import would fail on them.
#[derive(Debug, Clone)]
enum Resolved {
    Ok {
        customer: ErpCustomerId,
        items: Vec<ErpItemId>,
        /// Set when the customer does not exist and the import would create it under this id.
        new_customer: Option<ErpCustomerId>,
    },
    Failed(String),
}

fn draft(mapping: &Mapping, order: &Order, resolved: Resolved) -> DraftOutcome {
    match resolved {
        Resolved::Ok { customer, items, .. } => match build_draft(mapping, order, customer, items) {
            Ok(d) => DraftOutcome::Draft(Box::new(d)),
            Err(e) => DraftOutcome::Failed(ErrorChain(&e).to_string()),
        },
        Resolved::Failed(reason) => DraftOutcome::Failed(reason),
    }
}

/// The ERP as the dry run asks it: lookups only, each answer remembered for the run (nothing
/// changes them between two orders); a write is refused, so the shared resolution in
/// `flows::resolve` runs here read-only by construction.
struct ReadOnlyErp<'a> {
    sink: &'a dyn OrderSink<Draft = SalesOrderDraft>,
    customers: Mutex<HashMap<String, Option<ErpCustomerId>>>,
    items: Mutex<HashMap<(IdentifierKind, String), Option<ErpItemId>>>,
}

fn refused(operation: &'static str) -> ConnectorError {
    ConnectorError::Rejected { vendor: "dry run", operation, message: "a dry run writes nothing".into() }
}

#[async_trait]
impl OrderSink for ReadOnlyErp<'_> {
    type Draft = SalesOrderDraft;

    async fn find_by_import_id(&self, import_id: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
        self.sink.find_by_import_id(import_id).await
    }

    async fn create_order(&self, _: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
        Err(refused("create order"))
    }

    fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<ErpCustomerId> {
        self.sink.derive_customer_id(prefix, customer)
    }

    async fn find_customer(&self, lookup: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
        let key = format!("{lookup:?}");
        if let Some(found) = self.customers.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(found);
        }
        let found = self.sink.find_customer(lookup).await?;
        if let Ok(mut cache) = self.customers.lock() {
            cache.insert(key, found.clone());
        }
        Ok(found)
    }

    async fn create_customer(
        &self,
        _: &ErpCustomerId,
        _: &Customer,
        _: &Order,
        _: Option<&str>,
    ) -> Result<ErpCustomerId, ConnectorError> {
        Err(refused("create customer"))
    }

    async fn resolve_item(&self, kind: IdentifierKind, value: &str) -> Result<Option<ErpItemId>, ConnectorError> {
        let key = (kind, value.to_owned());
        if let Some(hit) = self.items.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let hit = self.sink.resolve_item(kind, value).await?;
        if let Ok(mut cache) = self.items.lock() {
            cache.insert(key, hit.clone());
        }
        Ok(hit)
    }
}

impl ReadOnlyErp<'_> {
    /// The order's customer and items under `mapping`, as the import resolves them (the same
    /// functions), except that a customer it would create is only named.
    async fn resolve(&self, mapping: &Mapping, order: &Order) -> Result<Resolved, DryRunError> {
        let customer = match_customer(mapping, order, self).await;
        let items = resolve_lines(mapping, order, self).await;
        let failed = match (customer, items) {
            (Ok(customer), Ok(items)) => {
                let (customer, new_customer) = match customer {
                    CustomerMatch::Existing(id) => (id, None),
                    CustomerMatch::WouldCreate(id) => (id.clone(), Some(id)),
                };
                return Ok(Resolved::Ok { customer, items, new_customer });
            }
            // Every problem at once, as the import reports them.
            (Err(OrderMappingError::Unmapped(mut a)), Err(OrderMappingError::Unmapped(b))) => {
                a.extend(b);
                OrderMappingError::Unmapped(a)
            }
            (Err(e), _) | (_, Err(e)) => e,
        };
        match failed {
            // The import retries these; a dry run cannot say what the order would become.
            OrderMappingError::Lookup(source) if source.is_retryable() => {
                Err(DryRunError::Erp { order: order.channel_order_id.clone(), source })
            }
            other => Ok(Resolved::Failed(ErrorChain(&other).to_string())),
        }
    }
}

/// Fields that are the same for both drafts by construction (the order's key).
const SKIPPED: &[&str] = &["import_key", "import_id"];

/// The fields whose value differs, in the draft's field order.
fn compare(before: &SalesOrderDraft, after: &SalesOrderDraft) -> Result<Vec<FieldChange>, serde_json::Error> {
    let mut a = Vec::new();
    let mut b = Vec::new();
    flatten("", &serde_json::to_value(before)?, &mut a);
    flatten("", &serde_json::to_value(after)?, &mut b);
    let skipped = |field: &str| {
        SKIPPED.iter().any(|s| {
            field.strip_prefix(s).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
        })
    };
    let b_map: HashMap<&str, &str> = b.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a_map: HashMap<&str, &str> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut changes = Vec::new();
    for (field, value) in &a {
        if skipped(field) {
            continue;
        }
        let other = b_map.get(field.as_str()).copied();
        if other != Some(value.as_str()) {
            changes.push(FieldChange {
                field: field.clone(),
                before: Some(value.clone()),
                after: other.map(str::to_owned),
            });
        }
    }
    for (field, value) in &b {
        if !skipped(field) && !a_map.contains_key(field.as_str()) {
            changes.push(FieldChange { field: field.clone(), before: None, after: Some(value.clone()) });
        }
    }
    Ok(changes)
}

/// Leaves of a JSON value as (path, text); nulls are left out (an absent field).
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((prefix.to_owned(), b.to_string())),
        Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&path, item, out);
            }
        }
    }
}

fn shown(value: Option<&str>) -> &str {
    value.unwrap_or("(none)")
}

impl DryRunReport {
    /// The report as people read it: a header, one block per order (newest first), the summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Dry run of {} against the stored {} on connection {}: the {} newest of {} new orders. Nothing was written.",
            self.candidate,
            self.current,
            self.connection,
            self.orders.len(),
            self.listed
        );
        for o in &self.orders {
            let verdict = o.verdict();
            let placed =
                o.placed_at.map_or_else(|| "unreadable".to_owned(), |p| p.format("%Y-%m-%d %H:%M UTC").to_string());
            let _ = writeln!(out, "\n{} ({}, placed {}): {}", o.order, o.display_number, placed, verdict.label());
            match verdict {
                Verdict::Unchanged => {}
                Verdict::WouldChange => {
                    for c in &o.changes {
                        let _ = writeln!(
                            out,
                            "    {}: {} → {}",
                            c.field,
                            shown(c.before.as_deref()),
                            shown(c.after.as_deref())
                        );
                    }
                }
                Verdict::WouldFail => {
                    let _ = writeln!(
                        out,
                        "    maps now; with the candidate it fails: {}",
                        o.after.failure().unwrap_or_default()
                    );
                }
                Verdict::WouldStartToSucceed => {
                    let _ = writeln!(out, "    fails now: {}", o.before.failure().unwrap_or_default());
                }
                Verdict::FailBoth => {
                    let (a, b) = (o.before.failure().unwrap_or_default(), o.after.failure().unwrap_or_default());
                    if a == b {
                        let _ = writeln!(out, "    fails with both: {a}");
                    } else {
                        let _ = writeln!(out, "    fails now: {a}");
                        let _ = writeln!(out, "    fails with the candidate: {b}");
                    }
                }
            }
            for note in &o.notes {
                let _ = writeln!(out, "    note: {note}");
            }
        }
        let _ = writeln!(out, "\n{}", self.summary.line());
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::Duration;

    use super::*;
    use crate::model::fixtures;
    use crate::model::{Customer, ErpOrderRef, SystemCode};
    use crate::ports::{Acknowledgement, OrderPage};

    const MAPPING: &str = r#"
[order_types]
default = "SO"
[payment_methods]
"Amazon Pay" = "AMAZONPAY"
PayPal = "PAYPAL"
[shipping_methods]
Standard = "UPSGROUND"
Express = "FEDEX2DAY"
[customers]
id_prefix = "SC"
[items]
identifier_priority = ["sku"]
[taxes]
tax_id = "CHANNELTAX"
[tags]
prime = "PRIME"
[dates]
time_zone = "UTC"
"#;

    fn mapping(version: u64, source: &str) -> Mapping {
        Mapping::parse("mappings/sc-main.toml", version, source).unwrap()
    }

    fn order(id: i64, shipping: &str, payment: &str) -> Order {
        let mut o = fixtures::order();
        o.channel_order_id = ChannelOrderId::new(SystemCode::parse("SC").unwrap(), id.to_string()).unwrap();
        o.display_number = format!("AMZ-{id}");
        o.placed_at += Duration::hours(id);
        o.shipping.method = shipping.into();
        o.payments[0].method = payment.into();
        o
    }

    /// Lists references two per page; counts every call that would write.
    struct Source {
        connection: ConnectionId,
        orders: Vec<Order>,
        writes: AtomicU32,
    }

    #[async_trait]
    impl OrderSource for Source {
        fn connection(&self) -> &ConnectionId {
            &self.connection
        }
        async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
            let start: usize = page.map_or(0, |p| p.0.parse().unwrap());
            let orders = self
                .orders
                .iter()
                .skip(start)
                .take(2)
                .map(|o| ListedOrder::Reference {
                    id: o.channel_order_id.clone(),
                    display_number: o.display_number.clone(),
                })
                .collect();
            let next = (start + 2 < self.orders.len()).then(|| PageToken((start + 2).to_string()));
            Ok(OrderPage { orders, next, restart: None })
        }
        async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
            self.orders.iter().find(|o| &o.channel_order_id == id).cloned().ok_or(ConnectorError::Rejected {
                vendor: "fake",
                operation: "get order",
                message: format!("{id} not found"),
            })
        }
        async fn acknowledge(&self, _: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
    }

    /// Knows customer 77 only; items are their SKUs except "GONE".
    #[derive(Default)]
    struct Erp {
        writes: AtomicU32,
        lookups: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl OrderSink for Erp {
        type Draft = SalesOrderDraft;
        async fn find_by_import_id(&self, _: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
            Ok(None)
        }
        async fn create_order(&self, _: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            Err(ConnectorError::Rejected { vendor: "fake", operation: "create", message: "dry run".into() })
        }
        fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<ErpCustomerId> {
            ErpCustomerId::parse(format!("{prefix}{}", customer.channel_customer_id.as_deref()?)).ok()
        }
        async fn find_customer(&self, lookup: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
            self.lookups.lock().unwrap().push(format!("{lookup:?}"));
            let id = match lookup {
                CustomerLookup::IdOrEmail { id, .. } | CustomerLookup::ChannelId(id) => id,
                CustomerLookup::Email(_) => return Ok(None),
            };
            Ok((id == "SC77").then(|| ErpCustomerId::parse(id).unwrap()))
        }
        async fn create_customer(
            &self,
            id: &ErpCustomerId,
            _: &Customer,
            _: &Order,
            _: Option<&str>,
        ) -> Result<ErpCustomerId, ConnectorError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(id.clone())
        }
        async fn resolve_item(&self, _: IdentifierKind, value: &str) -> Result<Option<ErpItemId>, ConnectorError> {
            self.lookups.lock().unwrap().push(format!("item {value}"));
            Ok((value != "GONE").then(|| ErpItemId::parse(value).unwrap()))
        }
    }

    fn source(orders: Vec<Order>) -> Source {
        Source { connection: ConnectionId::parse("sc-main").unwrap(), orders, writes: AtomicU32::new(0) }
    }

    #[tokio::test]
    async fn each_kind_of_outcome_is_counted_and_shown_without_a_write() {
        let mut unknown_item = order(5, "Standard", "Amazon Pay");
        unknown_item.lines[0].identifiers.sku = Some("GONE".into());
        let mut new_buyer = order(6, "Express", "Amazon Pay");
        new_buyer.customer.channel_customer_id = Some("88".into());
        let src = source(vec![
            order(1, "Standard", "Amazon Pay"),  // ship via changes
            order(2, "Express", "Amazon Pay"),   // unchanged
            order(3, "Express", "PayPal"),       // would fail: PayPal removed
            order(4, "Overnight", "Amazon Pay"), // would start to succeed: Overnight added
            unknown_item,                        // fails with both
            new_buyer,                           // unchanged, customer would be created
        ]);
        let current = mapping(1, MAPPING);
        let candidate_text = MAPPING
            .replace("Standard = \"UPSGROUND\"", "Standard = \"FEDEXGROUND\"\nOvernight = \"UPSNEXTDAY\"")
            .replace("PayPal = \"PAYPAL\"\n", "");
        let candidate = Mapping::parse("candidate.toml", 2, &candidate_text).unwrap();
        let erp = Erp::default();
        let pages = AtomicU32::new(0);
        let report = dry_run_with_progress(&src, &erp, &current, &candidate, 50, &|p| {
            if let DryRunProgress::Listed { .. } = p {
                pages.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();

        assert_eq!(pages.load(Ordering::SeqCst), 3);
        assert_eq!(
            report.summary,
            DryRunSummary {
                orders: 6,
                unchanged: 2,
                would_change: 1,
                would_fail: 1,
                would_start_to_succeed: 1,
                fail_both: 1
            }
        );
        let by_id = |id: &str| report.orders.iter().find(|o| o.order.to_string().ends_with(id)).unwrap();
        assert_eq!(
            by_id("-1").changes,
            vec![FieldChange {
                field: "ship_via".into(),
                before: Some("UPSGROUND".into()),
                after: Some("FEDEXGROUND".into())
            }]
        );
        assert!(by_id("-3").after.failure().unwrap().contains("payment method \"PayPal\": not mapped"));
        assert!(by_id("-4").before.failure().unwrap().contains("shipping method \"Overnight\": not mapped"));
        assert!(by_id("-5").before.failure().unwrap().contains("no ERP item matches SKU \"GONE\""));
        assert_eq!(by_id("-6").notes, vec![would_create(&ErpCustomerId::parse("SC88").unwrap())]);
        // Newest first.
        let ids: Vec<&str> = report.orders.iter().map(|o| o.display_number.as_str()).collect();
        assert_eq!(ids, ["AMZ-6", "AMZ-5", "AMZ-4", "AMZ-3", "AMZ-2", "AMZ-1"]);
        assert_eq!(erp.writes.load(Ordering::SeqCst) + src.writes.load(Ordering::SeqCst), 0);
        // Same resolution rules: one customer lookup per buyer, one item lookup per SKU.
        let lookups = erp.lookups.lock().unwrap().clone();
        assert_eq!(lookups.iter().filter(|l| l.starts_with("item")).count(), 2, "{lookups:?}");

        let text = report.render();
        assert!(text.contains("    ship_via: UPSGROUND → FEDEXGROUND\n"), "{text}");
        assert!(text.contains(&report.summary.line()), "{text}");
        assert!(text.contains(
            "Summary: 6 orders: 1 would change, 1 would fail, 1 would start to succeed, 1 fail with both, 2 unchanged."
        ));
    }

    #[tokio::test]
    async fn only_the_newest_orders_are_read() {
        let src = source((1..=7).map(|i| order(i, "Standard", "Amazon Pay")).collect());
        let m = mapping(1, MAPPING);
        let report = dry_run(&src, &Erp::default(), &m, &m, 3).await.unwrap();
        assert_eq!(report.listed, 7);
        let ids: Vec<&str> = report.orders.iter().map(|o| o.display_number.as_str()).collect();
        assert_eq!(ids, ["AMZ-7", "AMZ-6", "AMZ-5"]);
        assert_eq!(report.summary.unchanged, 3);
    }

    #[tokio::test]
    async fn a_customer_section_change_is_resolved_per_mapping() {
        let src = source(vec![order(1, "Standard", "Amazon Pay")]);
        let mut o = src.orders[0].clone();
        o.customer.channel_customer_id = Some("88".into());
        let src = source(vec![o]);
        let current = mapping(1, MAPPING);
        let candidate =
            mapping(2, &MAPPING.replace("id_prefix = \"SC\"", "id_prefix = \"SC\"\ncreate_missing = false"));
        let report = dry_run(&src, &Erp::default(), &current, &candidate, 10).await.unwrap();
        assert_eq!(report.summary.would_fail, 1);
        assert!(report.orders[0].after.failure().unwrap().contains("create_missing is false"));
        assert_eq!(
            report.orders[0].notes,
            vec![format!("before: {}", would_create(&ErpCustomerId::parse("SC88").unwrap()))]
        );
    }

    #[tokio::test]
    async fn a_listing_failure_names_the_connection_and_page() {
        struct Down(ConnectionId);
        #[async_trait]
        impl OrderSource for Down {
            fn connection(&self) -> &ConnectionId {
                &self.0
            }
            async fn list_new_orders(&self, _: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
                Err(ConnectorError::Status {
                    vendor: "fake",
                    operation: "list orders",
                    status: 503,
                    message: "unavailable".into(),
                    retry_after: None,
                })
            }
            async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
                Err(ConnectorError::Rejected { vendor: "fake", operation: "get", message: id.to_string() })
            }
            async fn acknowledge(&self, _: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
                Ok(Vec::new())
            }
        }
        let m = mapping(1, MAPPING);
        let err =
            dry_run(&Down(ConnectionId::parse("sc-main").unwrap()), &Erp::default(), &m, &m, 5).await.unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(
            ErrorChain(&err).to_string(),
            "listing the new orders of sc-main failed (page 1): fake list orders: HTTP 503: unavailable"
        );
    }

    #[test]
    fn nested_fields_are_named_by_path() {
        let mut out = Vec::new();
        flatten("", &serde_json::json!({"a": {"b": [1, {"c": "x"}]}, "n": null}), &mut out);
        assert_eq!(out, vec![("a.b[0]".to_owned(), "1".to_owned()), ("a.b[1].c".to_owned(), "x".to_owned())]);
    }
}

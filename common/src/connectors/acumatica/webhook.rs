//! Acumatica push notifications (form SM302000): `{Inserted, Deleted, Query, CompanyId, Id,
//! TimeStamp}` with no signature; authenticated by the custom header configured on the form,
//! compared in constant time, and deduplicated on the data-transaction `Id` with the `Query`.
//!
//! Acumatica documents no row limit for a notification, so the route takes bodies up to
//! [`ACUMATICA_MAX_BODY`] (what API Gateway and a synchronous Lambda invocation carry) and splits
//! an event that would not fit one queue message into parts (`…#part1`, `…#part2`, …).

use secrecy::SecretString;
use serde::Deserialize;

use tracing::{info, warn};

use crate::model::{ErpOrderRef, ErpShipmentNbr};
use crate::ports::{InboundEvent, ReportedStatus, WebhookError, WebhookEvent, WebhookRequest, WebhookVerifier};
use crate::webhooks::{check_secret, check_size, header, MAX_EVENT_MESSAGE};

/// The largest push body the Acumatica route accepts (4 MiB). A synchronous Lambda invocation
/// carries at most 6 MB of request event (API Gateway's HTTP API itself takes 10 MB), and the body
/// may arrive base64-encoded (4/3 as long) or JSON-escaped inside that event: 4 MiB stays under
/// 6 MB either way, with room for the headers. A larger push is refused with 413 (or, beyond 6 MB,
/// by the platform before the function runs); the catch-up poll then finds its shipments and orders.
pub const ACUMATICA_MAX_BODY: usize = 4 * 1024 * 1024;

/// Longest `Query` (a generic-inquiry name) and `Id` (a GUID) accepted: they make the dedupe key
/// every queue message of the delivery carries.
const MAX_KEY_FIELD: usize = 255;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Push {
    #[serde(default)]
    inserted: Vec<AnyRow>,
    #[serde(default)]
    deleted: Vec<AnyRow>,
    query: String,
    id: String,
    time_stamp: i64,
    #[serde(default)]
    company_id: Option<String>,
}

/// The columns of one push row Orderbridge reads; the generic inquiry's other columns are skipped
/// unread, so a push of many rows costs little memory. The shipment query's columns that carry the
/// shipment itself are described in [`super::shipment_rows`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushRow {
    #[serde(rename = "ShipmentNbr", default)]
    pub(super) shipment_nbr: Option<serde_json::Value>,
    #[serde(rename = "OrderType", default)]
    pub(super) order_type: Option<serde_json::Value>,
    #[serde(rename = "OrderNbr", default)]
    pub(super) order_nbr: Option<serde_json::Value>,
    #[serde(rename = "InvoiceNbr", default)]
    invoice_nbr: Option<serde_json::Value>,
    #[serde(rename = "ReferenceNbr", default)]
    reference_nbr: Option<serde_json::Value>,
    /// Rows of an availability query (stock for storefronts) name the item; so do the shipment
    /// query's rows (the line's item).
    #[serde(rename = "InventoryID", default)]
    pub(super) inventory_id: Option<serde_json::Value>,
    /// The row's status: an order's on a sales-order query's row, the shipment's on a shipment row.
    #[serde(rename = "Status", default)]
    pub(super) status: Option<serde_json::Value>,
    #[serde(rename = "ShipmentDate", default)]
    pub(super) shipment_date: Option<serde_json::Value>,
    #[serde(rename = "ShipVia", default)]
    pub(super) ship_via: Option<serde_json::Value>,
    #[serde(rename = "LastModifiedDateTime", default)]
    pub(super) last_modified: Option<serde_json::Value>,
    /// `Some(Null)` when the column is there but empty: a shipment query without these columns
    /// names its shipments for status-push to read.
    #[serde(rename = "ShipmentLineNbr", default, deserialize_with = "present")]
    pub(super) shipment_line_nbr: Option<serde_json::Value>,
    #[serde(rename = "OrderLineNbr", default)]
    pub(super) order_line_nbr: Option<serde_json::Value>,
    #[serde(rename = "ShippedQty", default)]
    pub(super) shipped_qty: Option<serde_json::Value>,
    #[serde(rename = "PackageLineNbr", default, deserialize_with = "present")]
    pub(super) package_line_nbr: Option<serde_json::Value>,
    #[serde(rename = "TrackingNbr", default)]
    pub(super) tracking_nbr: Option<serde_json::Value>,
    #[serde(rename = "PackageWeight", default)]
    pub(super) package_weight: Option<serde_json::Value>,
    #[serde(rename = "PackedQty", default)]
    pub(super) packed_qty: Option<serde_json::Value>,
}

/// A column that is there, even when its value is `null` (`Option`'s own rule reads `null` as
/// absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

impl PushRow {
    /// A row as JSON; anything that is not an object names nothing.
    pub fn of(value: &serde_json::Value) -> Self {
        Self::deserialize(value).unwrap_or_default()
    }

    pub(super) fn text(field: &Option<serde_json::Value>) -> Option<String> {
        field.as_ref().and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
    }
}

/// A row of `Inserted` or `Deleted`: an object with key columns, or anything else (ignored).
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyRow {
    Row(Box<PushRow>),
    Other(serde::de::IgnoredAny),
}

impl AnyRow {
    fn row(&self) -> Option<&PushRow> {
        match self {
            Self::Row(row) => Some(row),
            Self::Other(_) => None,
        }
    }
}

pub struct AcumaticaPushVerifier {
    header_name: String,
    /// Accepted values: the current one, and the previous one while the push definition is switched.
    header_values: Vec<SecretString>,
    max_body: usize,
    /// The largest serialized event of one queue message.
    max_event: usize,
    /// Shipment statuses that mean shipped (`shipped_statuses` of the ERP's settings): a push
    /// that makes a shipment one of these carries the whole shipment.
    shipped_statuses: Vec<String>,
}

impl AcumaticaPushVerifier {
    pub fn new(header_name: &str, header_values: Vec<SecretString>) -> Self {
        Self {
            header_name: header_name.to_owned(),
            header_values,
            max_body: ACUMATICA_MAX_BODY,
            max_event: MAX_EVENT_MESSAGE,
            shipped_statuses: super::config::default_shipped_statuses(),
        }
    }

    /// The shipments whose rows in this push are the whole shipment, each as `shipped` events
    /// (one per sales order it ships) that fit a queue message; the others are named and read.
    fn carried<'a>(
        &self,
        dedupe_key: &str,
        inserted: &[&'a PushRow],
        deleted: &[&'a PushRow],
    ) -> Vec<(ErpShipmentNbr, Vec<InboundEvent>)> {
        let (rows, left) = (shipment_rows(inserted), shipment_rows(deleted));
        if rows.is_empty() {
            return Vec::new();
        }
        // The longest key a carried shipment's event can have.
        let longest = format!("{dedupe_key}#shipped{}", rows.len());
        super::shipment_rows::carried_shipments(&rows, &left, &self.shipped_statuses)
            .into_iter()
            .filter_map(|(nbr, found)| {
                let events: Vec<InboundEvent> = found
                    .into_iter()
                    .map(|(erp_order, shipment)| InboundEvent::Shipped { erp_order, shipment })
                    .collect();
                let fits = events.iter().all(|event| {
                    json_len(&WebhookEvent { dedupe_key: longest.clone(), event: event.clone() }) <= self.max_event
                });
                fits.then_some((nbr, events))
            })
            .collect()
    }

    /// The shipment statuses that mean shipped, as the ERP's settings name them.
    pub fn with_shipped_statuses(mut self, statuses: &[String]) -> Self {
        self.shipped_statuses = statuses.to_vec();
        self
    }
}

impl WebhookVerifier for AcumaticaPushVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        check_size(request, self.max_body)?;
        check_secret(header(request, &self.header_name), &self.header_values)?;
        let push: Push = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(format!("not an Acumatica push notification: {e}")))?;
        let (query, id) = (push.query.trim(), push.id.trim());
        if id.is_empty() {
            return Err(WebhookError::Malformed("push notification without Id".into()));
        }
        for (field, value) in [("Query", query), ("Id", id)] {
            if value.len() > MAX_KEY_FIELD {
                return Err(WebhookError::Malformed(format!(
                    "push notification {field} longer than {MAX_KEY_FIELD} characters"
                )));
            }
        }
        // The company and the time stamp say nothing a push needs.
        let _ = (push.time_stamp, &push.company_id);
        // One transaction firing two push definitions sends two notifications with one `Id`: the
        // documented key is `Id` with `Query`.
        let dedupe_key = format!("acumatica:{query}:{id}");
        let inserted: Vec<&PushRow> = push.inserted.iter().filter_map(AnyRow::row).collect();
        let deleted: Vec<&PushRow> = push.deleted.iter().filter_map(AnyRow::row).collect();
        let stock = stock_items(inserted.iter().chain(deleted.iter()).copied());
        let statuses = reported_statuses(inserted.iter().copied());
        let (mut shipments, orders) = changed_keys(inserted.iter().copied(), deleted.iter().copied());
        let carried = self.carried(&dedupe_key, &inserted, &deleted);
        let carried_nbrs: std::collections::HashSet<&ErpShipmentNbr> = carried.iter().map(|(nbr, _)| nbr).collect();
        shipments.retain(|nbr| !carried_nbrs.contains(nbr));
        let mut shipped: Vec<InboundEvent> = carried.iter().flat_map(|(_, events)| events.iter().cloned()).collect();
        let mut events = if shipments.is_empty() && orders.is_empty() && (!stock.is_empty() || !shipped.is_empty()) {
            Vec::new()
        } else {
            let changed = Changed { shipments, orders, statuses };
            split_event(&dedupe_key, changed, self.max_event, MAX_KEYS_PER_EVENT)
        };
        // The usual push, one shipment for one order, is one event under the delivery's own key.
        if let ([], [_], true) = (events.as_slice(), shipped.as_slice(), stock.is_empty()) {
            events.extend(shipped.drain(..).map(|event| WebhookEvent { dedupe_key: dedupe_key.clone(), event }));
        }
        for (n, event) in shipped.into_iter().enumerate() {
            events.push(WebhookEvent { dedupe_key: format!("{dedupe_key}#shipped{}", n + 1), event });
        }
        // Items of an availability query: one event per few hundred items, each within a message.
        for (n, items) in stock.chunks(STOCK_ITEMS_PER_EVENT).enumerate() {
            events.push(WebhookEvent {
                dedupe_key: format!("{dedupe_key}#stock{}", n + 1),
                event: InboundEvent::StockChanged { items: items.to_vec() },
            });
        }
        if events.len() > 1 {
            info!(key = %dedupe_key, parts = events.len(), "Large Acumatica push split into several events.");
        }
        Ok(events)
    }
}

/// The shipments and orders named by a push notification (rows as JSON): see [`changed_keys`].
pub fn changed_rows(inserted: &[serde_json::Value], deleted: &[serde_json::Value]) -> InboundEvent {
    let inserted: Vec<PushRow> = inserted.iter().map(PushRow::of).collect();
    let deleted: Vec<PushRow> = deleted.iter().map(PushRow::of).collect();
    let (shipments, orders) = changed_keys(inserted.iter(), deleted.iter());
    InboundEvent::ErpChanged { shipments, orders, statuses: reported_statuses(inserted.iter()) }
}

/// Statuses longer than this are no Acumatica status (they are words like `Back Order`).
const MAX_STATUS: usize = 40;

/// The status each changed order's new row (in `Inserted`) reports: only sales-order rows
/// (an order key, no shipment or invoice key), whose `Status` is the order's.
pub fn reported_statuses<'a>(inserted: impl Iterator<Item = &'a PushRow>) -> Vec<ReportedStatus> {
    let mut out: Vec<ReportedStatus> = Vec::new();
    // Where each order's status is in `out`: a push may carry thousands of rows.
    let mut at: std::collections::HashMap<ErpOrderRef, usize> = std::collections::HashMap::new();
    for row in inserted {
        let other_keys =
            [&row.shipment_nbr, &row.invoice_nbr, &row.reference_nbr].iter().any(|f| PushRow::text(f).is_some());
        let (Some(RowKey::Order(erp)), false) = (row_key(row), other_keys) else { continue };
        let Some(status) = PushRow::text(&row.status).filter(|s| s.len() <= MAX_STATUS) else { continue };
        // Two new rows of one order in one push (two changes in one transaction): the last wins.
        match at.get(&erp) {
            Some(&i) => out[i].status = status,
            None => {
                at.insert(erp.clone(), out.len());
                out.push(ReportedStatus { erp, status });
            }
        }
    }
    out
}

/// What one push says changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changed {
    pub shipments: Vec<ErpShipmentNbr>,
    pub orders: Vec<ErpOrderRef>,
    pub statuses: Vec<ReportedStatus>,
}

/// Items per stock event: an item id is at most 30 characters in Acumatica, so 500 of them stay
/// far below a queue message.
const STOCK_ITEMS_PER_EVENT: usize = 500;

/// The items named by rows that are about stock (an `InventoryID` and no shipment or order key),
/// each once, in the order of their rows (old and new rows of one change name the same item).
fn stock_items<'a>(rows: impl Iterator<Item = &'a PushRow>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for row in rows {
        let keyed = [&row.shipment_nbr, &row.order_nbr, &row.invoice_nbr, &row.reference_nbr]
            .iter()
            .any(|f| PushRow::text(f).is_some());
        let Some(item) = PushRow::text(&row.inventory_id).filter(|i| !keyed && i.len() <= 30) else { continue };
        if seen.insert(item.clone()) {
            out.push(item);
        }
    }
    out
}

/// The rows about a shipment, each with its number.
fn shipment_rows<'a>(rows: &[&'a PushRow]) -> Vec<(ErpShipmentNbr, &'a PushRow)> {
    rows.iter()
        .filter_map(|row| match row_key(row) {
            Some(RowKey::Shipment(nbr)) => Some((nbr, *row)),
            _ => None,
        })
        .collect()
}

/// What one row is about.
enum RowKey {
    Shipment(ErpShipmentNbr),
    Order(ErpOrderRef),
}

/// Rows with `ShipmentNbr` are shipments; rows with `OrderType`/`OrderNbr` and no `ShipmentNbr` (a
/// sales-order query, or an invoice query without shipment column) are changed orders, which
/// status-push and the publish flow of ERP-originated orders read again. An invoice row
/// (`InvoiceNbr` or `ReferenceNbr`) that names its order is a changed order even when it also names
/// a shipment: a released invoice is news for the order (its storefront invoice), not for the
/// shipment. None for a row that names neither (or only invalid keys, which are logged).
fn row_key(row: &PushRow) -> Option<RowKey> {
    let order = PushRow::text(&row.order_type).zip(PushRow::text(&row.order_nbr));
    let invoice = PushRow::text(&row.invoice_nbr).or_else(|| PushRow::text(&row.reference_nbr)).is_some();
    let order_key =
        |(order_type, order_nbr): (String, String)| match ErpOrderRef::parse(&format!("{order_type}/{order_nbr}")) {
            Some(erp) => Some(RowKey::Order(erp)),
            None => {
                warn!(order_type, order_nbr, "Acumatica push row names an order that cannot be an order key.");
                None
            }
        };
    if let (true, Some(order)) = (invoice, order.clone()) {
        return order_key(order);
    }
    if let Some(nbr) = PushRow::text(&row.shipment_nbr) {
        return match ErpShipmentNbr::parse(nbr.as_str()) {
            Ok(nbr) => Some(RowKey::Shipment(nbr)),
            Err(_) => {
                warn!(shipment = %nbr, "Acumatica push row names a shipment that cannot be a shipment number.");
                None
            }
        };
    }
    order.and_then(order_key)
}

/// The shipments and orders a push names, each once, in the order of their rows.
///
/// Acumatica sends every change of a query row as the old row in `Deleted` and the new one in
/// `Inserted`. A `Deleted` row without an `Inserted` row of the same key (ShipmentNbr, or
/// OrderType + OrderNbr) left the query: a shipment un-confirmed (Correct Shipment), cancelled or
/// deleted, an order that no longer qualifies. It is named too, so status-push reads its current
/// state again (a shipment that is no longer shipped is found empty and logged; an order's status is
/// re-read); a Deleted + Inserted pair names its key once.
pub fn changed_keys<'a>(
    inserted: impl Iterator<Item = &'a PushRow>,
    deleted: impl Iterator<Item = &'a PushRow>,
) -> (Vec<ErpShipmentNbr>, Vec<ErpOrderRef>) {
    let mut shipments: Vec<ErpShipmentNbr> = Vec::new();
    let mut orders: Vec<ErpOrderRef> = Vec::new();
    let mut seen_shipments = std::collections::HashSet::new();
    let mut seen_orders = std::collections::HashSet::new();
    for row in inserted.chain(deleted) {
        match row_key(row) {
            Some(RowKey::Shipment(nbr)) if seen_shipments.insert(nbr.clone()) => shipments.push(nbr),
            Some(RowKey::Order(erp)) if seen_orders.insert(erp.clone()) => orders.push(erp),
            // Named by an earlier row (the other half of a pair), or naming nothing.
            _ => {}
        }
    }
    (shipments, orders)
}

/// Serialized length of a value (what it adds to a queue message).
fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// Shipments and orders one event names at most: status-push reads each in turn, so one queue
/// message must stay well within its invocation's time (60 s) even when the ERP is slow.
pub const MAX_KEYS_PER_EVENT: usize = 25;

/// One delivery's event, or — when its serialized form would exceed `max_event` bytes or it names
/// more than `max_keys` shipments and orders — several events each within both, keyed
/// `{dedupe_key}#part{n}` (n from 1). The parts cover every key once, in order, and are the same
/// for every redelivery of the push, so a retry after a partly failed intake enqueues only the
/// parts not yet enqueued.
pub fn split_event(dedupe_key: &str, changed: Changed, max_event: usize, max_keys: usize) -> Vec<WebhookEvent> {
    let Changed { shipments, orders, statuses } = changed;
    let max_keys = max_keys.max(1);
    // Each part carries the statuses of its own orders, in the order of its orders.
    let by_order: std::collections::HashMap<&ErpOrderRef, &ReportedStatus> =
        statuses.iter().map(|r| (&r.erp, r)).collect();
    let statuses_of = |orders: &[ErpOrderRef]| -> Vec<ReportedStatus> {
        orders.iter().filter_map(|o| by_order.get(o).map(|r| (*r).clone())).collect()
    };
    if shipments.len() + orders.len() <= max_keys {
        let whole = WebhookEvent {
            dedupe_key: dedupe_key.to_owned(),
            event: InboundEvent::ErpChanged {
                shipments: shipments.clone(),
                orders: orders.clone(),
                statuses: statuses_of(&orders),
            },
        };
        if json_len(&whole) <= max_event {
            return vec![whole];
        }
    }
    // An empty part with the longest part key any part can have.
    let longest_key = format!("{dedupe_key}#part{}", shipments.len() + orders.len());
    let empty = WebhookEvent {
        dedupe_key: longest_key,
        event: InboundEvent::ErpChanged { shipments: Vec::new(), orders: Vec::new(), statuses: Vec::new() },
    };
    // The `"statuses":[]` an empty part leaves out, paid once by a part that reports one.
    let base = json_len(&empty) + r#","statuses":[]"#.len();
    let mut parts: Vec<(Vec<ErpShipmentNbr>, Vec<ErpOrderRef>)> = vec![(Vec::new(), Vec::new())];
    let mut size = base;
    // Each item costs its JSON and a comma; a part holds at least one item.
    let mut place = |len: usize, parts: &mut Vec<(Vec<ErpShipmentNbr>, Vec<ErpOrderRef>)>| {
        let cost = len.saturating_add(1);
        let held = parts.last().map_or(0, |(s, o)| s.len() + o.len());
        if held > 0 && (size.saturating_add(cost) > max_event || held >= max_keys) {
            parts.push((Vec::new(), Vec::new()));
            size = base;
        }
        size = size.saturating_add(cost);
    };
    for nbr in shipments {
        place(json_len(&nbr), &mut parts);
        if let Some(part) = parts.last_mut() {
            part.0.push(nbr);
        }
    }
    for erp in orders {
        let reported = by_order.get(&erp).map_or(0, |r| json_len(r).saturating_add(1));
        place(json_len(&erp).saturating_add(reported), &mut parts);
        if let Some(part) = parts.last_mut() {
            part.1.push(erp);
        }
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (shipments, orders))| WebhookEvent {
            dedupe_key: format!("{dedupe_key}#part{}", i + 1),
            event: InboundEvent::ErpChanged { statuses: statuses_of(&orders), shipments, orders },
        })
        .collect()
}

/// A `webhook_event.v1` payload (enqueued before events were typed) as a typed event.
pub fn legacy_event(payload: &serde_json::Value) -> InboundEvent {
    let rows = |field: &str| payload[field].as_array().map(Vec::as_slice).unwrap_or_default();
    changed_rows(rows("inserted"), rows("deleted"))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    const BODY: &str = r#"{"Inserted":[{"ShipmentNbr":"000123","Status":"Confirmed","OrderNbr":"SO001234"}],"Deleted":[],"Query":"ShipmentsForSync","CompanyId":"Company","Id":"4b6c0f1e-0000-0000-0000-000000000000","TimeStamp":638501234567890123,"AdditionalInfo":{}}"#;

    fn request<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest { path: "/webhooks/acumatica", query: "", headers, body, received_at: Utc::now() }
    }

    #[test]
    fn a_push_with_the_configured_header_is_accepted_and_keyed_on_its_id() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())]);
        let h = vec![("x-orderbridge-key".to_string(), "k3y".to_string())];
        let events = v.verify(&request(&h, BODY.as_bytes())).unwrap();
        assert_eq!(events[0].dedupe_key, "acumatica:ShipmentsForSync:4b6c0f1e-0000-0000-0000-000000000000");
        // Another push definition fired by the same transaction is another delivery.
        let other = BODY.replace("ShipmentsForSync", "OrderStatusForSync");
        let again = v.verify(&request(&h, other.as_bytes())).unwrap();
        assert_ne!(again[0].dedupe_key, events[0].dedupe_key);
        let InboundEvent::ErpChanged { shipments, orders, .. } = &events[0].event else { panic!("{:?}", events[0]) };
        assert_eq!(shipments.iter().map(ErpShipmentNbr::as_str).collect::<Vec<_>>(), ["000123"]);
        assert!(orders.is_empty(), "a row with a shipment number is a shipment, not a status change");
    }

    #[test]
    fn availability_rows_become_one_stock_event_naming_each_item_once() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())]);
        let h = vec![("x-orderbridge-key".to_string(), "k3y".to_string())];
        let body = r#"{"Inserted":[{"InventoryID":"WATER2809","WarehouseID":"MAIN","QtyAvailable":7},{"InventoryID":"MUG-1","WarehouseID":"MAIN","QtyAvailable":0}],"Deleted":[{"InventoryID":"WATER2809","WarehouseID":"MAIN","QtyAvailable":9}],"Query":"OB-StockAvailability","CompanyId":"Company","Id":"aa","TimeStamp":1,"AdditionalInfo":{}}"#;
        let events = v.verify(&request(&h, body.as_bytes())).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].dedupe_key, "acumatica:OB-StockAvailability:aa#stock1");
        let InboundEvent::StockChanged { items } = &events[0].event else { panic!("{:?}", events[0]) };
        assert_eq!(items, &["WATER2809", "MUG-1"]);
        // A shipment row that also names an item stays a shipment.
        let events =
            v.verify(&request(&h, BODY.replace("\"Status\"", "\"InventoryID\":\"X\",\"Status\"").as_bytes())).unwrap();
        assert!(events.iter().all(|e| matches!(e.event, InboundEvent::ErpChanged { .. })), "{events:?}");
    }

    #[test]
    fn order_rows_become_status_changes_and_repeats_are_dropped() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"OrderType":"SO","OrderNbr":"SO1"},{"OrderType":"SO","OrderNbr":"SO1"},{"ShipmentNbr":"7"},{"ShipmentNbr":"7"},{"OrderNbr":"X"}]"#,
        )
        .unwrap();
        let InboundEvent::ErpChanged { shipments, orders, .. } = changed_rows(&rows, &[]) else { panic!() };
        assert_eq!(shipments.len(), 1);
        assert_eq!(orders, vec![ErpOrderRef::parse("SO/SO1").unwrap()]);
        let legacy = serde_json::json!({"inserted": rows});
        assert_eq!(legacy_event(&legacy), changed_rows(&rows, &[]));
    }

    #[test]
    fn sales_order_and_invoice_query_rows_become_changed_orders() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())]);
        let h = vec![("X-Orderbridge-Key".to_string(), "k3y".to_string())];
        let body = r#"{"Inserted":[{"OrderType":"SO","OrderNbr":"SO001234","Status":"Open","LastModified":"2024-05-01T10:00:00"}],"Deleted":[],"Query":"ErpOrdersForSync","CompanyId":"Company","Id":"aa","TimeStamp":1}"#;
        let events = v.verify(&request(&h, body.as_bytes())).unwrap();
        assert_eq!(
            events[0].event,
            InboundEvent::ErpChanged {
                shipments: vec![],
                orders: vec![ErpOrderRef::parse("SO/SO001234").unwrap()],
                statuses: vec![ReportedStatus {
                    erp: ErpOrderRef::parse("SO/SO001234").unwrap(),
                    status: "Open".into()
                }],
            },
            "the sales-order row's status travels with its order"
        );
        // An invoice query: the invoice's order is what changed, even when the row names the shipment.
        let rows: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"Type":"Invoice","ReferenceNbr":"INV000001","Status":"Open","OrderType":"SO","OrderNbr":"SO001234","ShipmentNbr":"000123"},
                {"InvoiceNbr":"INV000002","OrderType":"SO","OrderNbr":"SO005678"},
                {"ReferenceNbr":"INV000003","OrderType":"SO","OrderNbr":"SO001234"},
                {"ReferenceNbr":"INV000004","Status":"Open"}]"#,
        )
        .unwrap();
        let InboundEvent::ErpChanged { shipments, orders, statuses } = changed_rows(&rows, &[]) else { panic!() };
        assert!(statuses.is_empty(), "an invoice row's status is the invoice's, not the order's: {statuses:?}");
        assert!(shipments.is_empty(), "{shipments:?}");
        assert_eq!(
            orders,
            vec![ErpOrderRef::parse("SO/SO001234").unwrap(), ErpOrderRef::parse("SO/SO005678").unwrap()]
        );
    }

    fn verifier() -> AcumaticaPushVerifier {
        AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())])
    }

    fn verify(body: &str) -> Result<Vec<WebhookEvent>, WebhookError> {
        let h = vec![("X-Orderbridge-Key".to_string(), "k3y".to_string())];
        verifier().verify(&request(&h, body.as_bytes()))
    }

    fn names(event: &InboundEvent) -> (Vec<String>, Vec<String>) {
        let InboundEvent::ErpChanged { shipments, orders, .. } = event else { panic!("{event:?}") };
        (shipments.iter().map(ToString::to_string).collect(), orders.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn an_updated_shipment_row_sent_as_a_deleted_and_inserted_pair_names_the_shipment_once() {
        // vendor-apis.md §2.11: the old row in Deleted, the new one in Inserted.
        let body = r#"{"Inserted":[{"ShipmentNbr":"000123","Status":"Confirmed","OrderType":"SO","OrderNbr":"SO001234","TrackingNbr":"1Z999AA10123456784"}],
            "Deleted":[{"ShipmentNbr":"000123","Status":"Open","OrderType":"SO","OrderNbr":"SO001234","TrackingNbr":"1Z999AA10123456784"}],
            "Query":"ShipmentsForSync","CompanyId":"MyTenant","Id":"4b6c0f1e-0000-0000-0000-000000000000","TimeStamp":638501234567890123,"AdditionalInfo":{}}"#;
        let events = verify(body).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].dedupe_key, "acumatica:ShipmentsForSync:4b6c0f1e-0000-0000-0000-000000000000");
        assert_eq!(names(&events[0].event), (vec!["000123".to_string()], vec![]));
    }

    #[test]
    fn a_shipment_that_left_the_query_is_still_named_so_status_push_reads_it_again() {
        // Correct Shipment on a confirmed shipment: it is no longer in a query of shipped shipments.
        let body = r#"{"Inserted":[],
            "Deleted":[{"ShipmentNbr":"000123","Status":"Confirmed","OrderType":"SO","OrderNbr":"SO001234","TrackingNbr":"1Z999AA10123456784"}],
            "Query":"ShipmentsForSync","CompanyId":"MyTenant","Id":"5c7d1f2a-0000-0000-0000-000000000000","TimeStamp":638501234567890999,"AdditionalInfo":{}}"#;
        let events = verify(body).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(names(&events[0].event), (vec!["000123".to_string()], vec![]));
        // A cancelled shipment beside another shipment's update: both named, each once.
        let body = r#"{"Inserted":[{"ShipmentNbr":"000200","Status":"Confirmed","OrderType":"SO","OrderNbr":"SO002000"}],
            "Deleted":[{"ShipmentNbr":"000200","Status":"Open","OrderType":"SO","OrderNbr":"SO002000"},
                       {"ShipmentNbr":"000201","Status":"Confirmed","OrderType":"SO","OrderNbr":"SO002001"}],
            "Query":"ShipmentsForSync","CompanyId":"MyTenant","Id":"6d","TimeStamp":1}"#;
        let events = verify(body).unwrap();
        assert_eq!(names(&events[0].event), (vec!["000200".to_string(), "000201".to_string()], vec![]));
    }

    #[test]
    fn an_order_that_left_the_query_is_named_for_its_status_to_be_read_again() {
        let body = r#"{"Inserted":[],
            "Deleted":[{"OrderType":"SO","OrderNbr":"SO001234","Status":"Open","LastModified":"2024-05-01T10:00:00"}],
            "Query":"ErpOrdersForSync","CompanyId":"MyTenant","Id":"7e","TimeStamp":2}"#;
        let events = verify(body).unwrap();
        assert_eq!(names(&events[0].event), (vec![], vec!["SO/SO001234".to_string()]));
        // An order pair and an invoice withdrawn: the pair's order once, the invoice's order too.
        let body = r#"{"Inserted":[{"OrderType":"SO","OrderNbr":"SO001234","Status":"Completed"}],
            "Deleted":[{"OrderType":"SO","OrderNbr":"SO001234","Status":"Open"},
                       {"ReferenceNbr":"INV000009","Status":"Open","OrderType":"SO","OrderNbr":"SO009999","ShipmentNbr":"000999"}],
            "Query":"ErpOrdersForSync","CompanyId":"MyTenant","Id":"7f","TimeStamp":3}"#;
        let events = verify(body).unwrap();
        assert_eq!(names(&events[0].event), (vec![], vec!["SO/SO001234".to_string(), "SO/SO009999".to_string()]));
    }

    #[test]
    fn inserted_rows_alone_read_as_before_and_rows_that_are_no_objects_are_ignored() {
        let events = verify(BODY).unwrap();
        assert_eq!(names(&events[0].event), (vec!["000123".to_string()], vec![]));
        let body = BODY.replace(r#""Deleted":[]"#, r#""Deleted":["x",1,null,{"Status":"Open"}]"#);
        assert_eq!(verify(&body).unwrap(), events, "rows that are no objects name nothing");
        let legacy =
            serde_json::json!({"inserted": [{"ShipmentNbr": "000123"}], "deleted": [{"ShipmentNbr": "000124"}]});
        assert_eq!(names(&legacy_event(&legacy)), (vec!["000123".to_string(), "000124".to_string()], vec![]));
    }

    #[test]
    fn an_overlong_query_or_id_is_refused_naming_the_field() {
        let body = BODY.replace("ShipmentsForSync", &"Q".repeat(MAX_KEY_FIELD + 1));
        let err = verify(&body).unwrap_err();
        assert_eq!(err.status_code(), 400);
        assert!(err.to_string().contains("Query"), "{err}");
        let body = BODY.replace("4b6c0f1e-0000-0000-0000-000000000000", &"1".repeat(MAX_KEY_FIELD + 1));
        assert!(verify(&body).unwrap_err().to_string().contains("Id"));
    }

    /// A ShipmentsForSync push of `n` shipments, each as a Deleted (Open) + Inserted (Confirmed) pair.
    pub(crate) fn shipments_push(n: usize, id: &str) -> String {
        let row = |i: usize, status: &str| {
            format!(
                r#"{{"ShipmentNbr":"{i:06}","Status":"{status}","OrderType":"SO","OrderNbr":"SO{i:06}","TrackingNbr":"1Z999AA1{i:010}","LastModifiedDateTime":"2024-05-01T10:00:00"}}"#
            )
        };
        let inserted: Vec<String> = (1..=n).map(|i| row(i, "Confirmed")).collect();
        let deleted: Vec<String> = (1..=n).map(|i| row(i, "Open")).collect();
        format!(
            r#"{{"Inserted":[{}],"Deleted":[{}],"Query":"ShipmentsForSync","CompanyId":"MyTenant","Id":"{id}","TimeStamp":638501234567890123,"AdditionalInfo":{{}}}}"#,
            inserted.join(","),
            deleted.join(",")
        )
    }

    /// An ErpOrdersForSync push of `n` orders, each as a Deleted (Open) + Inserted (Completed) pair.
    pub(crate) fn orders_push(n: usize, id: &str) -> String {
        let row = |i: usize, status: &str| {
            format!(
                r#"{{"OrderType":"SO","OrderNbr":"SO{i:06}","Status":"{status}","CustomerID":"C{i:06}","LastModified":"2024-05-01T10:00:00"}}"#
            )
        };
        let inserted: Vec<String> = (1..=n).map(|i| row(i, "Completed")).collect();
        let deleted: Vec<String> = (1..=n).map(|i| row(i, "Open")).collect();
        format!(
            r#"{{"Inserted":[{}],"Deleted":[{}],"Query":"ErpOrdersForSync","CompanyId":"MyTenant","Id":"{id}","TimeStamp":638501234567890123,"AdditionalInfo":{{}}}}"#,
            inserted.join(","),
            deleted.join(",")
        )
    }

    #[test]
    fn a_push_of_thousands_of_rows_is_accepted_and_split_to_fit_queue_messages() {
        // 5,000 shipments as pairs: about 1.3 MB, far over the 64 KiB other routes take.
        let body = shipments_push(5000, "big-1");
        assert!(body.len() > 1_000_000, "{}", body.len());
        let events = verify(&body).unwrap();
        let mut all: Vec<String> = events.iter().flat_map(|e| names(&e.event).0).collect();
        assert_eq!(all.len(), 5000);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5000, "every shipment exactly once");
        for e in &events {
            assert!(serde_json::to_vec(e).unwrap().len() <= MAX_EVENT_MESSAGE);
        }
        assert_eq!(
            events.len(),
            5000usize.div_ceil(MAX_KEYS_PER_EVENT),
            "at most {MAX_KEYS_PER_EVENT} names per event"
        );
        // 7,000 orders (about 1.2 MB as pairs) do not fit one message: parts, each within it, each
        // order once and in row order.
        let body = orders_push(7000, "big-2");
        let events = verify(&body).unwrap();
        assert!(events.len() > 1, "{}", events.len());
        let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
        assert_eq!(keys[0], "acumatica:ErpOrdersForSync:big-2#part1");
        assert_eq!(keys[1], "acumatica:ErpOrdersForSync:big-2#part2");
        let mut all: Vec<String> = Vec::new();
        for e in &events {
            assert!(serde_json::to_vec(e).unwrap().len() <= MAX_EVENT_MESSAGE);
            all.extend(names(&e.event).1);
        }
        assert_eq!(all, (1..=7000).map(|i| format!("SO/SO{i:06}")).collect::<Vec<_>>());
        // The split is the same on every redelivery.
        assert_eq!(verify(&body).unwrap(), events);
    }

    /// Shipments and orders, every third order with a reported status.
    fn changed(shipments: &[ErpShipmentNbr], orders: &[ErpOrderRef]) -> Changed {
        let statuses = orders
            .iter()
            .step_by(3)
            .map(|erp| ReportedStatus { erp: erp.clone(), status: "Back Order".into() })
            .collect();
        Changed { shipments: shipments.to_vec(), orders: orders.to_vec(), statuses }
    }

    #[test]
    fn a_split_keeps_every_part_within_the_budget_covering_shipments_and_orders_once() {
        let shipments: Vec<ErpShipmentNbr> =
            (0..300).map(|i| ErpShipmentNbr::parse(format!("S{i:05}")).unwrap()).collect();
        let orders: Vec<ErpOrderRef> = (0..200).map(|i| ErpOrderRef::parse(&format!("SO/SO{i:06}")).unwrap()).collect();
        let parts = split_event("acumatica:Q:1", changed(&shipments, &orders), 2_000, usize::MAX);
        assert!(parts.len() > 5, "{}", parts.len());
        let mut got = (Vec::new(), Vec::new());
        let mut reported = 0;
        for (n, part) in parts.iter().enumerate() {
            assert_eq!(part.dedupe_key, format!("acumatica:Q:1#part{}", n + 1));
            assert!(serde_json::to_vec(part).unwrap().len() <= 2_000);
            let InboundEvent::ErpChanged { shipments, orders, statuses } = &part.event else { panic!() };
            assert!(!shipments.is_empty() || !orders.is_empty(), "no empty part");
            assert!(statuses.iter().all(|r| orders.contains(&r.erp)), "a part reports only its own orders");
            reported += statuses.len();
            got.0.extend(shipments.iter().cloned());
            got.1.extend(orders.iter().cloned());
        }
        assert_eq!(got, (shipments.clone(), orders.clone()));
        assert_eq!(reported, orders.len().div_ceil(3), "every reported status travels in some part");
        // Within the budget: one event under the delivery's own key.
        let whole = split_event("acumatica:Q:1", changed(&shipments, &orders), MAX_EVENT_MESSAGE, usize::MAX);
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].dedupe_key, "acumatica:Q:1");
        // At most `max_keys` names per part, so one message stays within an invocation.
        let capped = split_event("acumatica:Q:1", changed(&shipments, &orders), MAX_EVENT_MESSAGE, MAX_KEYS_PER_EVENT);
        assert_eq!(capped.len(), 500usize.div_ceil(MAX_KEYS_PER_EVENT));
        for part in &capped {
            let InboundEvent::ErpChanged { shipments, orders, .. } = &part.event else { panic!() };
            assert!(shipments.len() + orders.len() <= MAX_KEYS_PER_EVENT);
        }
        let few = split_event("acumatica:Q:2", changed(&[ErpShipmentNbr::parse("S1").unwrap()], &[]), 2_000, 25);
        assert_eq!(few.len(), 1);
        assert_eq!(few[0].dedupe_key, "acumatica:Q:2", "a small push keeps its own key");
    }

    #[test]
    fn a_body_over_the_route_limit_is_refused_with_413() {
        let mut body = shipments_push(1, "x");
        body.push_str(&" ".repeat(ACUMATICA_MAX_BODY + 1 - body.len()));
        let err = verify(&body).unwrap_err();
        assert_eq!(err.status_code(), 413);
        body.pop();
        assert_eq!(verify(&body).unwrap().len(), 1, "exactly the limit is accepted");
    }

    #[test]
    fn a_wrong_or_missing_header_and_a_malformed_body_are_refused() {
        let v = AcumaticaPushVerifier::new("X-Orderbridge-Key", vec![SecretString::from("k3y".to_string())]);
        let wrong = vec![("X-Orderbridge-Key".to_string(), "k3z".to_string())];
        assert_eq!(v.verify(&request(&wrong, BODY.as_bytes())).unwrap_err().status_code(), 401);
        assert_eq!(v.verify(&request(&[], BODY.as_bytes())).unwrap_err().status_code(), 401);
        let right = vec![("X-Orderbridge-Key".to_string(), "k3y".to_string())];
        assert_eq!(v.verify(&request(&right, br#"{"Query":"x"}"#)).unwrap_err().status_code(), 400);
    }
}

//! A shipment rebuilt from the shipment push notification's own rows, so status-push pushes it
//! without reading it back (`GET Shipment`): one Acumatica call less per shipment.
//!
//! The shipment query (README, "Acumatica push notifications") has **one row per shipment line
//! and package**: the shipment's `ShipmentNbr`, `Status`, `ShipmentDate`, `ShipVia` and
//! `LastModifiedDateTime`; the line's `ShipmentLineNbr`, `OrderType`, `OrderNbr`, `OrderLineNbr`,
//! `InventoryID` and `ShippedQty`; the package's `PackageLineNbr`, `TrackingNbr` and
//! `PackageWeight`; and `PackedQty`, what of the line is in the package (empty when nothing). A
//! shipment without packages has one row per line with empty package columns.
//!
//! The rows are the whole shipment only when the transaction made the shipment shipped: every row
//! carries the shipment's `Status`, so changing it changes every row, and Acumatica sends each
//! changed row in `Inserted`. Any other change (a tracking number typed into a shipment already
//! confirmed changes only that package's rows), a query without these columns, or rows that do not
//! cover every line and package is left to the read, as before. A time without an offset (the
//! generic inquiry's usual form) is not used as the confirmation time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde_json::Value;
use tracing::{debug, warn};

use super::mapper::shipment_to_canonical;
use super::webhook::PushRow;
use super::wire::{
    num, opt, val, PackageContentWire, ShipmentDetailWire, ShipmentOrderWire, ShipmentPackageWire, ShipmentWire,
};
use crate::connectors::lenient::decimal_from_value;
use crate::model::{ErpOrderRef, ErpShipmentNbr, Shipment};

/// The shipments a push's rows carry whole, each as the read would return it (one entry per sales
/// order it ships), in the order of their first rows. `rows` are the `Inserted` rows that are
/// about shipments (with their numbers); `left` the `Deleted` ones.
pub(super) fn carried_shipments(
    rows: &[(ErpShipmentNbr, &PushRow)],
    left: &[(ErpShipmentNbr, &PushRow)],
    shipped_statuses: &[String],
) -> Vec<(ErpShipmentNbr, Vec<(ErpOrderRef, Shipment)>)> {
    let is_shipped = |row: &PushRow| {
        PushRow::text(&row.status).is_some_and(|s| shipped_statuses.iter().any(|x| x.eq_ignore_ascii_case(&s)))
    };
    let mut order: Vec<&ErpShipmentNbr> = Vec::new();
    let mut groups: HashMap<&ErpShipmentNbr, Vec<&PushRow>> = HashMap::new();
    for (nbr, row) in rows {
        groups
            .entry(nbr)
            .or_insert_with(|| {
                order.push(nbr);
                Vec::new()
            })
            .push(row);
    }
    // Shipped before this transaction: the rows are only what changed since.
    let was_shipped: BTreeSet<&ErpShipmentNbr> =
        left.iter().filter(|(_, row)| is_shipped(row)).map(|(nbr, _)| nbr).collect();
    let mut out = Vec::new();
    for nbr in order {
        let Some(group) = groups.get(nbr) else { continue };
        if was_shipped.contains(nbr) || !group.iter().all(|row| is_shipped(row)) {
            continue;
        }
        match rebuild(nbr, group).and_then(|wire| {
            shipment_to_canonical(&wire, shipped_statuses).map_err(|e| format!("cannot be mapped: {e}"))
        }) {
            Ok(found) if !found.is_empty() => out.push((nbr.clone(), found)),
            Ok(_) => debug!(shipment = %nbr, "Shipment rows name no sales order; the shipment is read instead."),
            // The read reports the same problem, naming the field, where status-push records it.
            Err(why) => {
                warn!(shipment = %nbr, why = %why, "Shipment push rows are not the whole shipment; it is read instead.")
            }
        }
    }
    out
}

/// One line of the shipment as its rows describe it.
struct Line {
    order_type: Option<String>,
    order_nbr: Option<String>,
    order_line: Option<Decimal>,
    item: Option<String>,
    shipped: Option<Decimal>,
}

/// One package as its rows describe it.
struct Parcel {
    tracking: Option<String>,
    weight: Option<Decimal>,
    /// Shipment line → quantity of it in this package.
    packed: BTreeMap<i64, Decimal>,
}

fn integer(value: &Value, column: &str) -> Result<i64, String> {
    decimal_from_value(value)
        .map_err(|e| format!("{column}: {e}"))?
        .filter(|d| d.fract().is_zero())
        .and_then(|d| i64::try_from(d).ok())
        .ok_or_else(|| format!("{column} is not a line number"))
}

fn decimal(value: &Option<Value>, column: &str) -> Result<Option<Decimal>, String> {
    value.as_ref().map_or(Ok(None), |v| decimal_from_value(v).map_err(|e| format!("{column}: {e}")))
}

/// The shipment entity the rows describe, or why they do not describe all of it.
fn rebuild(nbr: &ErpShipmentNbr, rows: &[&PushRow]) -> Result<ShipmentWire, String> {
    let first = rows.first().ok_or("no rows")?;
    let status = PushRow::text(&first.status);
    let mut lines: BTreeMap<i64, Line> = BTreeMap::new();
    let mut boxes: BTreeMap<i64, Parcel> = BTreeMap::new();
    // (line, package) of each row: a product of lines and packages, each once.
    let mut pairs: BTreeSet<(i64, Option<i64>)> = BTreeSet::new();
    for row in rows {
        if PushRow::text(&row.status) != status {
            return Err("rows disagree on the shipment's Status".into());
        }
        let line = integer(row.shipment_line_nbr.as_ref().ok_or("no ShipmentLineNbr column")?, "ShipmentLineNbr")?;
        // Present but empty on the rows of a shipment without packages; absent: not this query.
        let package = match row.package_line_nbr.as_ref().ok_or("no PackageLineNbr column")? {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            v => Some(integer(v, "PackageLineNbr")?),
        };
        if !pairs.insert((line, package)) {
            return Err(format!("line {line} and package {package:?} have two rows"));
        }
        lines.entry(line).or_insert(Line {
            order_type: PushRow::text(&row.order_type),
            order_nbr: PushRow::text(&row.order_nbr),
            order_line: decimal(&row.order_line_nbr, "OrderLineNbr")?,
            item: PushRow::text(&row.inventory_id),
            shipped: decimal(&row.shipped_qty, "ShippedQty")?,
        });
        if let Some(package) = package {
            let b = boxes.entry(package).or_insert(Parcel {
                tracking: PushRow::text(&row.tracking_nbr),
                weight: decimal(&row.package_weight, "PackageWeight")?,
                packed: BTreeMap::new(),
            });
            if let Some(qty) = decimal(&row.packed_qty, "PackedQty")?.filter(|q| *q > Decimal::ZERO) {
                b.packed.insert(line, qty);
            }
        }
    }
    let expected = lines.len() * boxes.len().max(1);
    if pairs.len() != expected || (!boxes.is_empty() && pairs.iter().any(|(_, p)| p.is_none())) {
        return Err(format!(
            "{} rows for {} lines and {} packages: not one row per line and package",
            pairs.len(),
            lines.len(),
            boxes.len()
        ));
    }
    let mut orders: Vec<ShipmentOrderWire> = Vec::new();
    let mut seen = BTreeSet::new();
    for line in lines.values() {
        if let (Some(t), Some(n)) = (&line.order_type, &line.order_nbr) {
            if seen.insert((t.clone(), n.clone())) {
                orders.push(ShipmentOrderWire { OrderType: val(t.clone()), OrderNbr: val(n.clone()) });
            }
        }
    }
    let details = lines
        .values()
        .map(|l| ShipmentDetailWire {
            InventoryID: opt(l.item.clone()),
            ShippedQty: l.shipped.and_then(num),
            OrderNbr: opt(l.order_nbr.clone()),
            OrderLineNbr: l.order_line.and_then(num),
        })
        .collect();
    let packages = boxes
        .iter()
        .map(|(n, b)| ShipmentPackageWire {
            PackageContents: b
                .packed
                .iter()
                .map(|(line, qty)| PackageContentWire {
                    InventoryID: opt(lines.get(line).and_then(|l| l.item.clone())),
                    Quantity: num(*qty),
                })
                .collect(),
            LineNbr: num(Decimal::from(*n)),
            TrackingNbr: opt(b.tracking.clone()),
            Weight: b.weight.and_then(num),
        })
        .collect();
    Ok(ShipmentWire {
        ShipmentNbr: val(nbr.as_str().to_owned()),
        Status: opt(status),
        ShipmentDate: opt(PushRow::text(&first.shipment_date)),
        ShipVia: opt(PushRow::text(&first.ship_via)),
        // A generic inquiry's times come without an offset, in the tenant's zone, which the
        // settings do not name: such a time is left out (the shipment's date is what channels
        // need; Sellercloud then ships at noon of it), one with an offset is used.
        LastModifiedDateTime: opt(
            PushRow::text(&first.last_modified).filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
        ),
        Orders: orders,
        Details: details,
        Packages: packages,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::Utc;
    use rust_decimal_macros::dec;
    use secrecy::SecretString;
    use serde_json::{json, Value};

    use super::super::webhook::AcumaticaPushVerifier;
    use crate::ports::{InboundEvent, WebhookEvent, WebhookRequest, WebhookVerifier};

    fn verify(inserted: Vec<Value>, deleted: Vec<Value>) -> Vec<WebhookEvent> {
        verify_body(&json!({"Inserted": inserted, "Deleted": deleted, "Query": "ShipmentsForSync",
            "CompanyId": "Company", "Id": "id-1", "TimeStamp": 1, "AdditionalInfo": {}}))
    }

    /// The events a push notification body (as JSON) becomes at the Acumatica route.
    pub(in crate::connectors::acumatica) fn verify_body(body: &Value) -> Vec<WebhookEvent> {
        let body = serde_json::to_vec(body).unwrap();
        let headers = vec![("x-key".to_string(), "k".to_string())];
        let request = WebhookRequest {
            path: "/webhooks/acumatica",
            query: "",
            headers: &headers,
            body: &body,
            received_at: Utc::now(),
        };
        AcumaticaPushVerifier::new("X-Key", vec![SecretString::from("k".to_string())]).verify(&request).unwrap()
    }

    /// The row of shipment line `line` (`(order line, item, shipped)`) and package `package`
    /// (`(number, tracking, weight)`) holding `packed` of it.
    fn row(
        nbr: &str,
        status: &str,
        line: (i64, i64, &str, i64),
        package: Option<(i64, &str, &str)>,
        packed: Option<i64>,
    ) -> Value {
        let (shipment_line, order_line, item, shipped) = line;
        json!({
            "ShipmentNbr": nbr, "Status": status, "ShipmentDate": "2026-12-03T00:00:00", "ShipVia": "UPSGROUND",
            "LastModifiedDateTime": "2026-12-03T10:11:12.5", "OrderType": "SO", "OrderNbr": "SO000042",
            "ShipmentLineNbr": shipment_line, "OrderLineNbr": order_line, "InventoryID": item, "ShippedQty": shipped,
            "PackageLineNbr": package.map(|p| p.0), "TrackingNbr": package.map(|p| p.1),
            "PackageWeight": package.map(|p| p.2), "PackedQty": packed,
        })
    }

    /// Two lines in two boxes: line 1 (2 mugs) split over both, line 2 (a tee) in box 2.
    fn two_by_two(status: &str) -> Vec<Value> {
        let (mugs, tee) = ((1, 1, "MUG", 2), (2, 3, "TEE", 1));
        let (b1, b2) = ((1, "1ZA", "1.5"), (2, "1ZB", "2.25"));
        vec![
            row("000123", status, mugs, Some(b1), Some(1)),
            row("000123", status, mugs, Some(b2), Some(1)),
            row("000123", status, tee, Some(b1), None),
            row("000123", status, tee, Some(b2), Some(1)),
        ]
    }

    #[test]
    fn a_confirmed_shipments_rows_carry_it_whole_under_the_deliverys_key() {
        let events = verify(two_by_two("Confirmed"), two_by_two("Open"));
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].dedupe_key, "acumatica:ShipmentsForSync:id-1");
        let InboundEvent::Shipped { erp_order, shipment } = &events[0].event else { panic!("{:?}", events[0]) };
        assert_eq!(erp_order.to_string(), "SO/SO000042");
        assert_eq!(shipment.source.to_string(), "AC-000123");
        assert_eq!(shipment.ship_date.to_string(), "2026-12-03");
        let boxes: Vec<_> = shipment
            .packages
            .iter()
            .map(|p| {
                let items: Vec<_> = p.items.iter().map(|i| (i.item_id.clone(), i.erp_line_nbr, i.quantity)).collect();
                (p.package_id.clone(), p.tracking.number.to_string(), p.tracking.carrier.clone(), p.weight, items)
            })
            .collect();
        assert_eq!(
            boxes,
            vec![
                ("1".into(), "1ZA".into(), "UPSGROUND".into(), Some(dec!(1.5)), vec![("MUG".into(), Some(1), dec!(1))]),
                (
                    "2".into(),
                    "1ZB".into(),
                    "UPSGROUND".into(),
                    Some(dec!(2.25)),
                    vec![("MUG".into(), Some(1), dec!(1)), ("TEE".into(), Some(3), dec!(1))]
                ),
            ]
        );
    }

    #[test]
    fn rows_of_a_shipment_shipped_before_or_not_covering_every_line_and_package_are_read() {
        let named = |events: &[WebhookEvent]| -> Vec<String> {
            events
                .iter()
                .flat_map(|e| match &e.event {
                    InboundEvent::ErpChanged { shipments, .. } => {
                        shipments.iter().map(ToString::to_string).collect::<Vec<_>>()
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        // Already confirmed: a later change sends only the rows it changed.
        assert_eq!(named(&verify(two_by_two("Confirmed"), two_by_two("Confirmed"))), ["000123"]);
        // Not shipped yet: read (a shipment to export to the shipping station, or nothing).
        assert_eq!(named(&verify(two_by_two("Open"), Vec::new())), ["000123"]);
        // A row missing: not one row per line and package.
        let mut rows = two_by_two("Confirmed");
        rows.remove(2);
        assert_eq!(named(&verify(rows, Vec::new())), ["000123"]);
        // A query without the line and package columns (the shape before this one).
        let old = json!({"ShipmentNbr": "000123", "Status": "Confirmed", "OrderType": "SO", "OrderNbr": "SO000042",
            "TrackingNbr": "1ZA", "ShipmentDate": "2026-12-03T00:00:00"});
        assert_eq!(named(&verify(vec![old], Vec::new())), ["000123"]);
        // Rows that disagree on the status are not one transaction's whole shipment.
        let mut rows = two_by_two("Confirmed");
        rows[3]["Status"] = json!("Completed");
        assert_eq!(named(&verify(rows, Vec::new())), ["000123"]);
    }

    #[test]
    fn a_push_of_a_carried_and_a_read_shipment_keeps_both_each_once() {
        let mut inserted = two_by_two("Confirmed");
        let other = |status: &str| {
            let mut r = row("000124", status, (1, 1, "MUG", 1), None, None);
            r["TrackingNbr"] = json!("1ZC");
            r
        };
        inserted.push(other("Confirmed"));
        let events = verify(inserted, vec![other("Confirmed")]);
        let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
        assert_eq!(keys, ["acumatica:ShipmentsForSync:id-1", "acumatica:ShipmentsForSync:id-1#shipped1"]);
        let InboundEvent::ErpChanged { shipments, orders, .. } = &events[0].event else { panic!("{events:?}") };
        assert_eq!((shipments.len(), shipments[0].as_str(), orders.len()), (1, "000124", 0));
        assert!(
            matches!(&events[1].event, InboundEvent::Shipped { shipment, .. } if shipment.source.to_string() == "AC-000123")
        );
    }

    #[test]
    fn a_shipment_without_packages_is_carried_and_pushes_nothing_trackable() {
        let rows = vec![row("000125", "Confirmed", (1, 1, "MUG", 1), None, None)];
        let events = verify(rows, Vec::new());
        let InboundEvent::Shipped { shipment, .. } = &events[0].event else { panic!("{events:?}") };
        assert!(shipment.packages.is_empty(), "no package, no tracking: {shipment:?}");
    }
}

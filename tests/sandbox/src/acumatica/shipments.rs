//! Shipments as the ERP's shipping station sees them (SO302000): shipments created Open (or On
//! Hold) for a sales order, edited by `PUT Shipment` (Hold, ship-to address and contact, packages
//! by the detail semantics), confirmed by the `ConfirmShipment` action (202 + `Location`, polled
//! until 204) and cancelled. Every change bumps `LastModifiedDateTime`; a status change sends the
//! shipment push notification (old rows in `Deleted`, new rows in `Inserted`, as a generic inquiry
//! reports a changed row) and, when the sales order's status follows, the order push notification.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{annotate, err, find_key, gate, is_star, merge, with_links, Entity, FieldErrors, Shape, ShipLine};
use super::{render, val, val_dec, val_str, w, AcState, SHIP_VIAS};
use crate::core::{num, parse_bool, parse_decimal, SharedState, Vendor};
use crate::inspect::{ctl_body, ctl_error};

const V: Vendor = Vendor::Acumatica;

/// `ShipToAddress` fields a shipment carries (and `blank` may empty).
const ADDRESS_FIELDS: &[&str] = &["AddressLine1", "AddressLine2", "City", "State", "PostalCode", "Country"];
/// `ShipToContact` fields a shipment carries (and `blank` may empty).
const CONTACT_FIELDS: &[&str] = &["Attention", "BusinessName", "Email", "Phone1"];
/// Statuses in which a shipment can still be edited, held, confirmed or cancelled.
const OPEN: &[&str] = &["Open", "On Hold"];
/// Longest `TrackingNbr` a package takes.
const TRACKING_MAX: usize = 50;

/// Control-API request: create a shipment for a sales order as a warehouse user would
/// (Create Shipment on SO301000), in status Open — or On Hold with `hold` — without tracking.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct CreateShipment {
    /// Default `SO`.
    pub order_type: String,
    pub order_nbr: String,
    /// Order lines and quantities to put on the shipment (`[{"LineNbr":1,"Qty":2}]`); default:
    /// every open quantity.
    pub lines: Option<Vec<ShipLine>>,
    /// `true` → status On Hold (`Hold` true).
    pub hold: bool,
    /// Packages without tracking. `None` = one package with the default box; `Some([])` = none.
    pub packages: Option<Vec<NewPackage>>,
    /// Ship-to fields to leave empty, making the address incomplete: names from `ShipToAddress`
    /// (`AddressLine1`, `AddressLine2`, `City`, `State`, `PostalCode`, `Country`) or
    /// `ShipToContact` (`Attention`, `BusinessName`, `Email`, `Phone1`).
    pub blank: Vec<String>,
    /// Default: the order's `ShipVia` (or `ShippingSettings.ShipVia`), else `UPSGROUND`.
    pub ship_via: Option<String>,
}

impl Default for CreateShipment {
    fn default() -> Self {
        Self {
            order_type: "SO".into(),
            order_nbr: String::new(),
            lines: None,
            hold: false,
            packages: None,
            blank: Vec::new(),
            ship_via: None,
        }
    }
}

impl CreateShipment {
    /// Every open quantity of sales order `SO/order_nbr`, one default package, status Open.
    pub fn for_order(order_nbr: &str) -> Self {
        Self { order_nbr: order_nbr.into(), ..Self::default() }
    }
}

/// A package of a new shipment: box (default: `DEFAULT` when configured, else the first box) and
/// weight in pounds (default 2.5). No tracking number.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewPackage {
    #[serde(alias = "BoxID")]
    pub box_id: Option<String>,
    #[serde(alias = "Weight")]
    pub weight: Option<Decimal>,
}

impl NewPackage {
    pub fn new(box_id: &str, weight: Decimal) -> Self {
        Self { box_id: Some(box_id.into()), weight: Some(weight) }
    }
}

fn default_box(boxes: &[String]) -> String {
    boxes
        .iter()
        .find(|b| b.eq_ignore_ascii_case("DEFAULT"))
        .or_else(|| boxes.first())
        .cloned()
        .unwrap_or_else(|| "DEFAULT".into())
}

fn known_box(boxes: &[String], b: &str) -> bool {
    boxes.iter().any(|x| x.eq_ignore_ascii_case(b))
}

fn status_of(v: &Value) -> String {
    val_str(v, "Status").unwrap_or_default()
}

/// The shipment query's rows for a shipment in `status`, as the generic inquiry README documents
/// has them: one row per shipment line and package (the line's order, item and shipped quantity;
/// the package's number, tracking number (`null` when empty) and weight; `PackedQty`, what of
/// the line is in the package, `null` when nothing), one row per line with empty package columns
/// when the shipment has no package. A shipment without lines (never confirmed in Acumatica) has
/// one row per package with empty line columns. Sent by every change of a shipment's status.
pub(super) fn push_rows(sh: &Value, so: Option<&Value>, status: &str) -> Vec<Value> {
    let order = sh.get("Orders").and_then(|o| o.get(0));
    let stamp = |field: &str| val_str(sh, field).map(|d| d.chars().take(19).collect::<String>());
    let header = json!({
        "ShipmentNbr": val_str(sh, "ShipmentNbr"), "ShipmentType": "Shipment", "Status": status,
        "CustomerOrder": so.and_then(|o| val_str(o, "CustomerOrder")),
        "ExternalRef": so.and_then(|o| val_str(o, "ExternalRef")),
        "ShipVia": val_str(sh, "ShipVia"), "ShipmentDate": stamp("ShipmentDate"),
        "LastModifiedDateTime": stamp("LastModifiedDateTime"),
    });
    let lines = sh.get("Details").and_then(Value::as_array).cloned().unwrap_or_default();
    let packages = sh.get("Packages").and_then(Value::as_array).cloned().unwrap_or_default();
    let number = |v: &Value, field: &str| val(v, field).cloned().unwrap_or(Value::Null);
    let line_columns = |l: Option<&Value>| {
        json!({
            "OrderType": l.and_then(|l| val_str(l, "OrderType")).or_else(|| order.and_then(|o| val_str(o, "OrderType"))),
            "OrderNbr": l.and_then(|l| val_str(l, "OrderNbr")).or_else(|| order.and_then(|o| val_str(o, "OrderNbr"))),
            "ShipmentLineNbr": l.map_or(Value::Null, |l| number(l, "LineNbr")),
            "OrderLineNbr": l.map_or(Value::Null, |l| number(l, "OrderLineNbr")),
            "InventoryID": l.and_then(|l| val_str(l, "InventoryID")),
            "ShippedQty": l.map_or(Value::Null, |l| number(l, "ShippedQty")),
        })
    };
    // What of line `l` package `p` holds: its contents rows tied to the line by
    // `ShipmentSplitLineNbr`, or by item when the row does not say.
    let packed = |l: &Value, p: &Value| -> Option<Decimal> {
        let line = val_dec(l, "LineNbr");
        let item = val_str(l, "InventoryID");
        let total: Decimal = p
            .get("PackageContents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| match val_dec(c, "ShipmentSplitLineNbr") {
                Some(split) => Some(split) == line,
                None => val_str(c, "InventoryID")
                    .is_some_and(|i| item.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(&i))),
            })
            .filter_map(|c| val_dec(c, "Quantity"))
            .sum();
        (total > Decimal::ZERO).then_some(total)
    };
    let package_columns = |l: Option<&Value>, p: Option<&Value>| {
        json!({
            "PackageLineNbr": p.map_or(Value::Null, |p| number(p, "LineNbr")),
            "TrackingNbr": p.and_then(|p| val_str(p, "TrackingNbr")).filter(|t| !t.is_empty()),
            "PackageWeight": p.map_or(Value::Null, |p| number(p, "Weight")),
            "PackedQty": l.zip(p).and_then(|(l, p)| packed(l, p)).map_or(Value::Null, |q| json!(num(q))),
        })
    };
    let row = |l: Option<&Value>, p: Option<&Value>| {
        let mut row = header.clone();
        for part in [line_columns(l), package_columns(l, p)] {
            if let (Some(row), Value::Object(part)) = (row.as_object_mut(), part) {
                row.extend(part);
            }
        }
        row
    };
    match (lines.is_empty(), packages.is_empty()) {
        (true, true) => vec![row(None, None)],
        (true, false) => packages.iter().map(|p| row(None, Some(p))).collect(),
        (false, true) => lines.iter().map(|l| row(Some(l), None)).collect(),
        (false, false) => lines
            .iter()
            .flat_map(|l| packages.iter().map(move |p| (l, p)))
            .map(|(l, p)| row(Some(l), Some(p)))
            .collect(),
    }
}

/// The sales order a shipment ships (its first `Orders[]` row) and its store key.
fn order_of(st: &AcState, sh: &Value) -> Option<(String, Value)> {
    let o = sh.get("Orders").and_then(|o| o.get(0))?;
    let key = format!("{}/{}", val_str(o, "OrderType")?, val_str(o, "OrderNbr")?);
    st.sales_orders.get(&key).map(|so| (key, so.clone()))
}

/// A sales order's status from its shipments: Shipping while one is Open/On Hold, Completed when
/// nothing is left open and something shipped, Back Order when some shipped, else Open. Orders
/// on hold or cancelled keep their status.
fn order_status(so: &Value) -> String {
    let current = status_of(so);
    if matches!(current.as_str(), "On Hold" | "Canceled") {
        return current;
    }
    let rows: Vec<String> =
        so.get("Shipments").and_then(Value::as_array).into_iter().flatten().map(status_of).collect();
    let open_shipment = rows.iter().any(|r| OPEN.contains(&r.as_str()));
    let shipped = rows.iter().any(|r| !OPEN.contains(&r.as_str()));
    let nothing_open = so
        .get("Details")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().all(|l| val_dec(l, "OpenQty").unwrap_or(Decimal::ZERO) <= Decimal::ZERO));
    if open_shipment {
        "Shipping".into()
    } else if shipped && nothing_open {
        "Completed".into()
    } else if shipped {
        "Back Order".into()
    } else {
        "Open".into()
    }
}

/// Set the order's `Shipments[]` row for `nbr` (status and date), or drop it (`None`), then its
/// status and `LastModified`. Returns the order before and after.
fn update_order_row(
    st: &mut AcState,
    key: &str,
    nbr: &str,
    row_status: Option<&str>,
    date: &Value,
) -> Option<(Value, Value)> {
    let now = st.now();
    let so = st.sales_orders.get_mut(key)?;
    let before = so.clone();
    if let Some(list) = so.get_mut("Shipments").and_then(Value::as_array_mut) {
        match row_status {
            Some(s) => {
                for r in list.iter_mut().filter(|r| val_str(r, "ShipmentNbr").as_deref() == Some(nbr)) {
                    r["Status"] = w(s);
                    r["ShipmentDate"] = date.clone();
                }
            }
            None => list.retain(|r| val_str(r, "ShipmentNbr").as_deref() != Some(nbr)),
        }
    }
    so["Status"] = w(order_status(so));
    so["LastModified"] = w(now);
    Some((before, so.clone()))
}

/// Package rows with the fields Acumatica returns, renumbered; `PackageCount`/`PackageWeight`.
fn normalise_packages(sh: &mut Value) {
    let mut max_line =
        sh.get("Packages").and_then(Value::as_array).into_iter().flatten().filter_map(|p| val_dec(p, "LineNbr")).max();
    let mut weight = Decimal::ZERO;
    let mut count = 0usize;
    if let Some(rows) = sh.get_mut("Packages").and_then(Value::as_array_mut) {
        for (i, p) in rows.iter_mut().enumerate() {
            p["rowNumber"] = json!(i + 1);
            if val(p, "LineNbr").is_none() {
                let next = max_line.unwrap_or(Decimal::ZERO) + Decimal::ONE;
                max_line = Some(next);
                p["LineNbr"] = w(num(next));
            }
            if let Some(b) = val_str(p, "BoxID") {
                p["BoxID"] = w(b.to_ascii_uppercase());
            }
            for (f, default) in [
                ("Type", w("Manual")),
                ("TrackingNbr", w("")),
                ("Weight", w(0)),
                ("UOM", w("LB")),
                ("DeclaredValue", w(0)),
                ("CODAmount", w(0)),
                ("Confirmed", w(false)),
                ("Description", w("")),
                ("CustomRefNbr1", w("")),
                ("CustomRefNbr2", w("")),
            ] {
                if val(p, f).is_none() {
                    p[f] = default;
                }
            }
            if p.get("PackageContents").is_none() {
                p["PackageContents"] = json!([]);
            }
            weight += val_dec(p, "Weight").unwrap_or(Decimal::ZERO);
            count += 1;
        }
    }
    sh["PackageCount"] = w(count);
    sh["PackageWeight"] = w(num(weight));
}

impl SharedState {
    /// Create a shipment for a sales order in status Open (On Hold with `hold`), as SO301000's
    /// Create Shipment does: `Details` from the order lines (every open quantity or `lines`),
    /// `ShippingSettings.ShipToAddress/ShipToContact` copied from the order (`blank` fields
    /// emptied), packages without tracking (one default package unless `packages` says
    /// otherwise), `ShipVia` from the order. The order's lines move to `QtyOnShipments`, its
    /// `Shipments[]` lists the shipment and its status becomes Shipping. Sends the shipment push
    /// notification (the new rows in `Inserted`) and the order's. Refused (nothing numbered) for an
    /// order that is not Open / Back Order / Shipping, nothing left to ship, an unknown line or
    /// box, a quantity above the open quantity or an unknown `blank` field.
    pub fn acumatica_create_shipment(&self, req: &CreateShipment) -> Result<Value, String> {
        let boxes = self.config().acumatica_boxes.clone();
        let (shipment, so_before, so_after) = {
            let mut st = self.acumatica();
            let key = format!("{}/{}", req.order_type, req.order_nbr);
            let so = st.sales_orders.get(&key).cloned().ok_or_else(|| format!("sales order {key} not found"))?;
            let status = status_of(&so);
            if !matches!(status.as_str(), "Open" | "Back Order" | "Shipping") {
                return Err(format!(
                    "A shipment cannot be created for sales order {key} in status {status} \
                     (only Open, Back Order or Shipping orders can be shipped)."
                ));
            }
            let rows = so.get("Details").and_then(Value::as_array).cloned().unwrap_or_default();
            if let Some(ls) = &req.lines {
                for l in ls {
                    if !rows.iter().any(|r| val_dec(r, "LineNbr") == Some(Decimal::from(l.line_nbr))) {
                        return Err(format!("line {} does not exist on {key}", l.line_nbr));
                    }
                }
            }
            let mut to_ship: Vec<(usize, Decimal)> = Vec::new();
            for (i, r) in rows.iter().enumerate() {
                let open = val_dec(r, "OpenQty").unwrap_or(Decimal::ZERO);
                let line = val_dec(r, "LineNbr").unwrap_or(Decimal::ZERO);
                let q = match &req.lines {
                    None => open,
                    Some(ls) => ls.iter().filter(|l| Decimal::from(l.line_nbr) == line).map(|l| l.qty).sum::<Decimal>(),
                };
                if q > open {
                    return Err(format!("line {line}: quantity {q} exceeds open quantity {open}"));
                }
                if q > Decimal::ZERO {
                    to_ship.push((i, q));
                }
            }
            if to_ship.is_empty() {
                return Err(format!("nothing left to ship on {key}"));
            }
            let ship_via = match &req.ship_via {
                Some(sv) if !SHIP_VIAS.iter().any(|v| v.eq_ignore_ascii_case(sv)) => {
                    return Err(format!("ShipVia: Ship Via '{sv}' cannot be found in the system."))
                }
                Some(sv) => sv.to_ascii_uppercase(),
                None => val_str(&so, "ShipVia")
                    .or_else(|| so.get("ShippingSettings").and_then(|x| val_str(x, "ShipVia")))
                    .unwrap_or_else(|| "UPSGROUND".into()),
            };
            let pkgs = req.packages.clone().unwrap_or_else(|| vec![NewPackage::default()]);
            for (n, p) in pkgs.iter().enumerate() {
                let b = p.box_id.clone().unwrap_or_else(|| default_box(&boxes));
                if !known_box(&boxes, &b) {
                    return Err(format!("package {}: Box ID '{b}' cannot be found in the system.", n + 1));
                }
                if p.weight.is_some_and(|x| x < Decimal::ZERO) {
                    return Err(format!("package {}: the weight cannot be negative.", n + 1));
                }
            }
            let mut address = json!({});
            let mut contact = json!({});
            let src_addr = so.get("ShipToAddress");
            let src_contact = so.get("ShipToContact");
            for f in ADDRESS_FIELDS {
                address[*f] = w(src_addr.and_then(|a| val_str(a, f)).unwrap_or_default());
            }
            for f in CONTACT_FIELDS {
                contact[*f] = w(src_contact.and_then(|a| val_str(a, f)).unwrap_or_default());
            }
            for b in &req.blank {
                if let Some(f) = ADDRESS_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(b)) {
                    address[*f] = w("");
                } else if let Some(f) = CONTACT_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(b)) {
                    contact[*f] = w("");
                } else {
                    return Err(format!(
                        "blank: '{b}' is not a ship-to field ({} or {})",
                        ADDRESS_FIELDS.join(", "),
                        CONTACT_FIELDS.join(", ")
                    ));
                }
            }
            // Numbered only once the request is known to be valid.
            let nbr = st.next_shipment_nbr();
            let now = st.now();
            let today = st.today();
            let shipped_total: Decimal = to_ship.iter().map(|(_, q)| *q).sum();
            let details: Vec<Value> = to_ship
                .iter()
                .enumerate()
                .map(|(n, (i, q))| {
                    let r = &rows[*i];
                    json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": n + 1,
                        "LineNbr": w(n + 1), "InventoryID": w(val_str(r, "InventoryID")),
                        "ShippedQty": w(num(*q)), "OrderType": w(req.order_type.clone()),
                        "OrderNbr": w(req.order_nbr.clone()),
                        "OrderLineNbr": w(val(r, "LineNbr").cloned().unwrap_or(Value::Null)),
                        "WarehouseID": w(val_str(r, "WarehouseID").unwrap_or_else(|| "MAIN".into())),
                        "UOM": w(val_str(r, "UOM").unwrap_or_else(|| "EA".into())),
                    })
                })
                .collect();
            let single = pkgs.len() == 1;
            let packages: Vec<Value> = pkgs
                .iter()
                .enumerate()
                .map(|(n, p)| {
                    // One box holds everything shipped; several boxes list no contents.
                    let contents: Vec<Value> = if single {
                        details
                            .iter()
                            .enumerate()
                            .map(|(k, d)| {
                                json!({
                                    "id": uuid::Uuid::new_v4().to_string(), "rowNumber": k + 1,
                                    "InventoryID": d["InventoryID"].clone(), "Quantity": d["ShippedQty"].clone(),
                                    "UOM": d["UOM"].clone(), "ShipmentSplitLineNbr": w(k + 1),
                                    "LotSerialNbr": w(""), "Subitem": w(""),
                                })
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": n + 1, "LineNbr": w(n + 1),
                        "BoxID": w(p.box_id.clone().unwrap_or_else(|| default_box(&boxes)).to_ascii_uppercase()),
                        "Type": w("Manual"), "TrackingNbr": w(""),
                        "Weight": w(num(p.weight.unwrap_or(Decimal::new(25, 1)))), "UOM": w("LB"),
                        "DeclaredValue": w(0), "CODAmount": w(0), "Confirmed": w(false),
                        "Description": w(""), "CustomRefNbr1": w(""), "CustomRefNbr2": w(""),
                        "PackageContents": contents,
                    })
                })
                .collect();
            let status = if req.hold { "On Hold" } else { "Open" };
            let mut shipment = json!({
                "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1, "note": w(""),
                "ShipmentNbr": w(nbr.clone()), "Type": w("Shipment"), "Status": w(status),
                "Operation": w("Issue"), "CustomerID": w(val_str(&so, "CustomerID")),
                "LocationID": w(val_str(&so, "LocationID").unwrap_or_else(|| "MAIN".into())),
                "ShipmentDate": w(today), "ShipVia": w(ship_via), "WarehouseID": w("MAIN"),
                "Hold": w(req.hold), "ShippedQty": w(num(shipped_total)), "ShippedWeight": w(0),
                "FreightCost": w(0), "FreightPrice": w(0), "LastModifiedDateTime": w(now.clone()),
                "ShippingSettings": {
                    "ShipToAddress": address, "ShipToContact": contact,
                    "ShipToAddressOverride": w(false), "ShipToContactOverride": w(false),
                },
                "Orders": [{
                    "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1,
                    "OrderType": w(req.order_type.clone()), "OrderNbr": w(req.order_nbr.clone()),
                    "ShipmentNbr": w(nbr.clone()), "ShipmentType": w("Shipment"),
                    "ShippedQty": w(num(shipped_total)), "InvoiceType": w(""), "InvoiceNbr": w(""),
                }],
                "Details": details,
                "Packages": packages,
            });
            normalise_packages(&mut shipment);
            let so_mut = st.sales_orders.get_mut(&key).ok_or("vanished")?;
            if let Some(rows) = so_mut.get_mut("Details").and_then(Value::as_array_mut) {
                for (i, q) in &to_ship {
                    let r = &mut rows[*i];
                    let on_shipments = val_dec(r, "QtyOnShipments").unwrap_or(Decimal::ZERO) + q;
                    let qty = val_dec(r, "OrderQty").unwrap_or(Decimal::ZERO);
                    r["QtyOnShipments"] = w(num(on_shipments));
                    r["OpenQty"] = w(num(qty - on_shipments));
                }
            }
            let entry = json!({
                "id": uuid::Uuid::new_v4().to_string(), "ShipmentNbr": w(nbr.clone()),
                "ShipmentType": w("Shipment"), "Status": w(status),
                "ShippedQty": w(num(shipped_total)), "ShipmentDate": shipment["ShipmentDate"].clone(),
                "InvoiceType": w(""), "InvoiceNbr": w(""),
            });
            match so_mut.get_mut("Shipments").and_then(Value::as_array_mut) {
                Some(list) => list.push(entry),
                None => so_mut["Shipments"] = json!([entry]),
            }
            so_mut["Status"] = w(order_status(so_mut));
            so_mut["LastModified"] = w(now);
            let so_after = so_mut.clone();
            st.shipments.insert(nbr, shipment.clone());
            (shipment, so, so_after)
        };
        let nbr = val_str(&shipment, "ShipmentNbr").unwrap_or_default();
        self.record_write(V, "shipment.created", &nbr, json!({ "OrderNbr": req.order_nbr }));
        let q = self.config().acumatica_shipment_query.clone();
        self.acumatica_push(&q, push_rows(&shipment, Some(&so_after), &status_of(&shipment)), Vec::new());
        if status_of(&so_before) != status_of(&so_after) {
            self.acumatica_push_order_change(&so_before, &so_after);
        }
        Ok(shipment)
    }

    /// Confirm an existing shipment (the `ConfirmShipment` action): status Confirmed,
    /// `ShipmentDate` set when empty, packages `Confirmed`; the order's `Shipments[]` row follows
    /// and its status is recomputed (Completed / Back Order / Shipping). Sends the shipment push
    /// notification (the Confirmed rows in `Inserted`, the previous ones in `Deleted`) and the
    /// order's when its status changed. Refused for a shipment On Hold, already confirmed (or
    /// later) or cancelled.
    pub fn acumatica_confirm_shipment_nbr(&self, shipment_nbr: &str) -> Result<Value, String> {
        let (before, after, order) = {
            let mut st = self.acumatica();
            let before =
                st.shipments.get(shipment_nbr).cloned().ok_or_else(|| format!("shipment {shipment_nbr} not found"))?;
            match status_of(&before).as_str() {
                "Open" => {}
                "On Hold" => {
                    return Err(format!(
                        "The shipment {shipment_nbr} is on hold. Remove it from hold before confirming it."
                    ))
                }
                "Canceled" => return Err(format!("The shipment {shipment_nbr} is canceled and cannot be confirmed.")),
                other => {
                    return Err(format!("The shipment {shipment_nbr} has already been confirmed (status {other})."))
                }
            }
            let now = st.now();
            let today = st.today();
            let sh = st.shipments.get_mut(shipment_nbr).ok_or("vanished")?;
            sh["Status"] = w("Confirmed");
            if val_str(sh, "ShipmentDate").is_none_or(|d| d.is_empty()) {
                sh["ShipmentDate"] = w(today);
            }
            for p in sh.get_mut("Packages").and_then(Value::as_array_mut).into_iter().flatten() {
                p["Confirmed"] = w(true);
            }
            sh["LastModifiedDateTime"] = w(now);
            let after = sh.clone();
            let order = match order_of(&st, &after) {
                Some((key, _)) => {
                    update_order_row(&mut st, &key, shipment_nbr, Some("Confirmed"), &after["ShipmentDate"])
                }
                None => None,
            };
            (before, after, order)
        };
        self.record_write(V, "shipment.confirmed", shipment_nbr, json!({ "action": "ConfirmShipment" }));
        let so = order.as_ref().map(|(_, a)| a);
        let q = self.config().acumatica_shipment_query.clone();
        self.acumatica_push(&q, push_rows(&after, so, "Confirmed"), push_rows(&before, so, &status_of(&before)));
        if let Some((b, a)) = &order {
            if status_of(b) != status_of(a) {
                self.acumatica_push_order_change(b, a);
            }
        }
        Ok(after)
    }

    /// Cancel a shipment that is Open or On Hold: status Canceled, its quantities back to open on
    /// the order (which no longer lists it in `Shipments[]`), the order's status recomputed. Sends
    /// the shipment push notification with the shipment's rows in `Deleted` only (it left the
    /// query) and the order's when its status changed. A confirmed shipment must be corrected
    /// first (Correct Shipment is not modelled), so it is refused.
    pub fn acumatica_cancel_shipment(&self, shipment_nbr: &str) -> Result<Value, String> {
        let (before, after, order) = {
            let mut st = self.acumatica();
            let before =
                st.shipments.get(shipment_nbr).cloned().ok_or_else(|| format!("shipment {shipment_nbr} not found"))?;
            let status = status_of(&before);
            if !OPEN.contains(&status.as_str()) {
                return Err(format!("The shipment {shipment_nbr} cannot be canceled in status {status}."));
            }
            let now = st.now();
            let sh = st.shipments.get_mut(shipment_nbr).ok_or("vanished")?;
            sh["Status"] = w("Canceled");
            sh["Hold"] = w(false);
            sh["LastModifiedDateTime"] = w(now);
            let after = sh.clone();
            let order = match order_of(&st, &after) {
                Some((key, _)) => {
                    if let Some(so) = st.sales_orders.get_mut(&key) {
                        let back: Vec<(Value, Decimal)> = after
                            .get("Details")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|d| {
                                Some((
                                    val(d, "OrderLineNbr")?.clone(),
                                    val_dec(d, "ShippedQty").unwrap_or(Decimal::ZERO),
                                ))
                            })
                            .collect();
                        for r in so.get_mut("Details").and_then(Value::as_array_mut).into_iter().flatten() {
                            for (line, q) in &back {
                                if val(r, "LineNbr") == Some(line) {
                                    let on =
                                        (val_dec(r, "QtyOnShipments").unwrap_or(Decimal::ZERO) - q).max(Decimal::ZERO);
                                    let qty = val_dec(r, "OrderQty").unwrap_or(Decimal::ZERO);
                                    r["QtyOnShipments"] = w(num(on));
                                    r["OpenQty"] = w(num(qty - on));
                                    r["Completed"] = w(false);
                                }
                            }
                        }
                    }
                    update_order_row(&mut st, &key, shipment_nbr, None, &Value::Null)
                }
                None => None,
            };
            (before, after, order)
        };
        self.record_write(V, "shipment.canceled", shipment_nbr, json!({}));
        let so = order.as_ref().map(|(_, a)| a);
        let q = self.config().acumatica_shipment_query.clone();
        self.acumatica_push(&q, Vec::new(), push_rows(&before, so, &status_of(&before)));
        if let Some((b, a)) = &order {
            if status_of(b) != status_of(a) {
                self.acumatica_push_order_change(b, a);
            }
        }
        Ok(after)
    }
}

// ------------------------------------------------------------------------------------------
// PUT Shipment
// ------------------------------------------------------------------------------------------

/// Fields of a PUT body the sandbox ignores: computed or read-only on the Shipment entity.
const READ_ONLY: &[&str] = &[
    "Status",
    "Type",
    "Operation",
    "CustomerID",
    "LastModifiedDateTime",
    "PackageCount",
    "PackageWeight",
    "ShippedQty",
    "ShippedWeight",
];

fn field_errors(st_boxes: &[String], before: &Value, body: &Value) -> FieldErrors {
    let mut errs: FieldErrors = Vec::new();
    let mut push = |p: &[&str], m: String| errs.push((p.iter().map(|x| x.to_string()).collect(), m));
    if let Some(sv) = val_str(body, "ShipVia").filter(|x| !SHIP_VIAS.iter().any(|v| v.eq_ignore_ascii_case(x))) {
        push(&["ShipVia"], format!("Ship Via '{sv}' cannot be found in the system."));
    }
    if let Some(h) = val(body, "Hold") {
        if parse_bool(h).is_none() {
            push(&["Hold"], format!("'{h}' is not a valid value for 'Hold'."));
        }
    }
    if let Some(d) = val_str(body, "ShipmentDate") {
        if super::filter::parse_dt(&d).is_none() {
            push(&["ShipmentDate"], format!("'{d}' is not a valid date."));
        }
    }
    let existing: Vec<&str> = before
        .get("Packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("id").and_then(Value::as_str))
        .collect();
    for (i, p) in body.get("Packages").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let idx = i.to_string();
        if p.get("delete").and_then(Value::as_bool).unwrap_or(false) {
            continue;
        }
        let updating = p.get("id").and_then(Value::as_str).is_some_and(|id| existing.contains(&id));
        match val_str(p, "BoxID") {
            None if !updating => push(&["Packages", &idx, "BoxID"], "'Box ID' cannot be empty.".into()),
            Some(b) if !known_box(st_boxes, &b) => {
                push(&["Packages", &idx, "BoxID"], format!("Box ID '{b}' cannot be found in the system."))
            }
            _ => {}
        }
        if let Some(t) = val_str(p, "TrackingNbr").filter(|t| t.chars().count() > TRACKING_MAX) {
            push(
                &["Packages", &idx, "TrackingNbr"],
                format!(
                    "'Tracking Number' cannot be longer than {TRACKING_MAX} characters ({} given).",
                    t.chars().count()
                ),
            );
        }
        if let Some(v) = val(p, "Weight") {
            if parse_decimal(v).is_none_or(|x| x < Decimal::ZERO || x > Decimal::from(1_000_000)) {
                push(&["Packages", &idx, "Weight"], format!("'{v}' is not a valid value for 'Weight'."));
            }
        }
    }
    errs
}

/// 422 with the body echoed, field errors inside their fields and the summary at the top, as
/// `PUT SalesOrder` answers.
fn refuse(body: &Value, errs: &FieldErrors, general: Option<String>) -> Response {
    let mut echoed = body.clone();
    let mut summary = Vec::new();
    for (path, msg) in errs {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        annotate(&mut echoed, &p, msg);
        summary.push(format!("{}: {msg}", path.last().map(String::as_str).unwrap_or("")));
    }
    summary.extend(general);
    echoed["error"] = json!(format!(
        "Updating 'Shipment' record raised at least one error. Please review the errors.\n{}",
        summary.join("\n")
    ));
    (StatusCode::UNPROCESSABLE_ENTITY, Json(echoed)).into_response()
}

/// Does the body edit the ship-to address or contact (non-empty objects)?
fn edits(body: &Value, part: &str) -> bool {
    body.get("ShippingSettings").and_then(|s| s.get(part)).and_then(Value::as_object).is_some_and(|o| !o.is_empty())
}

/// `PUT Shipment`: update by `id` or `ShipmentNbr` (inserting is not modelled: shipments are
/// created in the ERP), `Hold`, `ShipVia`, `ShipmentDate`, `note`, ship-to address/contact and
/// packages (no `id` = add, `id` = update, `delete: true` = remove).
pub(super) fn put_shipment(s: &SharedState, h: &HeaderMap, body: Value, sh: &Shape, ver: &str) -> Response {
    let boxes = s.config().acumatica_boxes.clone();
    let (before, rec) = {
        let mut st = s.acumatica();
        let key = if let Some(id) = body.get("id").and_then(Value::as_str) {
            find_key(&st, Entity::Shipment, id)
        } else {
            val_str(&body, "ShipmentNbr").filter(|k| st.shipments.contains_key(k))
        };
        let Some(key) = key else {
            if is_star(h, "if-match") {
                return err(StatusCode::PRECONDITION_FAILED, "The record does not exist (If-Match: *).");
            }
            return err(
                StatusCode::BAD_REQUEST,
                "The sandbox does not model inserting shipments through PUT: send the ShipmentNbr or id of an \
                 existing shipment (shipments are created in the ERP).",
            );
        };
        if is_star(h, "if-none-match") {
            return err(StatusCode::PRECONDITION_FAILED, "The record already exists (If-None-Match: *).");
        }
        for f in ["Details", "Orders"] {
            if body.get(f).and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                return err(StatusCode::BAD_REQUEST, format!("The sandbox does not model writes to Shipment.{f}."));
            }
        }
        let before = st.shipments[&key].clone();
        let status = status_of(&before);
        let errs = field_errors(&boxes, &before, &body);
        if !errs.is_empty() {
            return refuse(&body, &errs, None);
        }
        let new_hold = val(&body, "Hold").and_then(parse_bool);
        let old_hold = val(&before, "Hold").and_then(Value::as_bool).unwrap_or(false);
        let touches_packages = body.get("Packages").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        let touches_address = edits(&body, "ShipToAddress") || edits(&body, "ShipToContact");
        let touches_hold = new_hold.is_some_and(|x| x != old_hold);
        if !OPEN.contains(&status.as_str()) && (touches_packages || touches_address || touches_hold) {
            return refuse(&body, &Vec::new(), Some(format!("The shipment cannot be edited in status {status}.")));
        }
        let mut patch = body.clone();
        if let Some(o) = patch.as_object_mut() {
            for f in READ_ONLY.iter().chain(["Details", "Orders", "Hold"].iter()) {
                o.remove(*f);
            }
        }
        let mut rec = before.clone();
        merge(&mut rec, &patch);
        if let Some(hold) = new_hold {
            rec["Hold"] = w(hold);
            if OPEN.contains(&status.as_str()) {
                rec["Status"] = w(if hold { "On Hold" } else { "Open" });
            }
        }
        if let Some(sv) = val_str(&rec, "ShipVia") {
            rec["ShipVia"] = w(sv.to_ascii_uppercase());
        }
        for (part, flag) in [("ShipToAddress", "ShipToAddressOverride"), ("ShipToContact", "ShipToContactOverride")] {
            if edits(&body, part) {
                rec["ShippingSettings"][flag] = w(true);
            }
        }
        normalise_packages(&mut rec);
        rec["LastModifiedDateTime"] = w(st.now());
        st.shipments.insert(key.clone(), rec.clone());
        let new_status = status_of(&rec);
        if new_status != status {
            if let Some((okey, _)) = order_of(&st, &rec) {
                let date = rec["ShipmentDate"].clone();
                update_order_row(&mut st, &okey, &key, Some(&new_status), &date);
            }
        }
        (before, rec)
    };
    let nbr = val_str(&rec, "ShipmentNbr").unwrap_or_default();
    s.record_write(V, "shipment.update", &nbr, json!({}));
    for p in body.get("Packages").and_then(Value::as_array).into_iter().flatten() {
        if let Some(t) = val_str(p, "TrackingNbr").filter(|t| !t.is_empty()) {
            s.record_write(V, "shipment.TrackingNbr", &t, json!({ "ShipmentNbr": nbr }));
        }
    }
    if status_of(&before) != status_of(&rec) {
        let so = order_of(&s.acumatica(), &rec).map(|(_, so)| so);
        let q = s.config().acumatica_shipment_query.clone();
        s.acumatica_push(
            &q,
            push_rows(&rec, so.as_ref(), &status_of(&rec)),
            push_rows(&before, so.as_ref(), &status_of(&before)),
        );
    }
    Json(with_links(render(&rec, &sh.expand, &sh.select), ver, "Shipment")).into_response()
}

// ------------------------------------------------------------------------------------------
// Actions: POST {Entity}/{Action} → 202 + Location; GET Location → 202 running / 204 done
// ------------------------------------------------------------------------------------------

/// The operation id of an action status path `{Action}/status/{id}`.
pub(super) fn operation_id(keys: &str) -> Option<&str> {
    let mut parts = keys.trim_matches('/').split('/');
    let (_action, status, id, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
    (status.eq_ignore_ascii_case("status") && rest.is_none() && !id.is_empty()).then_some(id)
}

/// `GET {Location}`: 202 while the operation runs (the configured number of polls), then 204.
pub(super) fn poll_operation(s: &SharedState, id: &str) -> Response {
    let mut st = s.acumatica();
    match st.operations.get_mut(id) {
        None => err(StatusCode::NOT_FOUND, format!("The operation '{id}' was not found.")),
        Some(0) => StatusCode::NO_CONTENT.into_response(),
        Some(left) => {
            *left -= 1;
            StatusCode::ACCEPTED.into_response()
        }
    }
}

/// `POST …/{Entity}/{Action}` with `{"entity":{keys or id},"parameters":{}}`. Modelled:
/// `Shipment/ConfirmShipment`. The action runs at once; the answer is 202 with a `Location` to
/// poll. Refusals come back before any operation starts: 404 for an unknown shipment, 422
/// (HttpError body) for a shipment that cannot be confirmed.
pub(super) async fn post_action(
    State(s): State<SharedState>,
    Path((instance, ver, entity, action)): Path<(String, String, String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&s, &instance, &ver, &h) {
        return r;
    }
    let action = action.trim_matches('/').to_string();
    if entity != "Shipment" || action != "ConfirmShipment" {
        return err(
            StatusCode::NOT_FOUND,
            format!("The action '{entity}/{action}' is not modelled by the sandbox (Shipment/ConfirmShipment is)."),
        );
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return err(StatusCode::BAD_REQUEST, "The request body must be a JSON object."),
        Err(x) => return err(StatusCode::BAD_REQUEST, format!("The request body is not valid JSON: {x}")),
    };
    let Some(ent) = v.get("entity").filter(|e| e.is_object()) else {
        return err(StatusCode::BAD_REQUEST, "The action body must carry the record in 'entity'.");
    };
    let nbr = {
        let st = s.acumatica();
        match ent.get("id").and_then(Value::as_str) {
            Some(id) => find_key(&st, Entity::Shipment, id),
            None => val_str(ent, "ShipmentNbr").filter(|n| st.shipments.contains_key(n)),
        }
    };
    let Some(nbr) = nbr else {
        return err(StatusCode::NOT_FOUND, "No entity satisfies the condition.");
    };
    if let Err(m) = s.acumatica_confirm_shipment_nbr(&nbr) {
        return err(StatusCode::UNPROCESSABLE_ENTITY, m);
    }
    let op = uuid::Uuid::new_v4().to_string();
    let polls = s.config().acumatica_action_pending_polls;
    s.acumatica().operations.insert(op.clone(), polls);
    let location = format!("/{instance}/entity/Default/{ver}/{entity}/{action}/status/{op}");
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(l) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert("location", l);
    }
    resp
}

// ------------------------------------------------------------------------------------------
// Control API
// ------------------------------------------------------------------------------------------

fn ctl_result(r: Result<Value, String>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(m) if m.contains("not found") => ctl_error(StatusCode::NOT_FOUND, m),
        Err(m) => ctl_error(StatusCode::UNPROCESSABLE_ENTITY, m),
    }
}

pub(super) async fn ctl_create(State(s): State<SharedState>, body: Bytes) -> Response {
    match ctl_body::<CreateShipment>(&body) {
        Ok(req) => ctl_result(s.acumatica_create_shipment(&req)),
        Err(r) => r,
    }
}

pub(super) async fn ctl_confirm_nbr(State(s): State<SharedState>, Path(nbr): Path<String>) -> Response {
    ctl_result(s.acumatica_confirm_shipment_nbr(&nbr))
}

pub(super) async fn ctl_cancel(State(s): State<SharedState>, Path(nbr): Path<String>) -> Response {
    ctl_result(s.acumatica_cancel_shipment(&nbr))
}

//! Pure conversions between the canonical model / draft and Acumatica's wire types; no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::wire::{
    get, num, opt, text, val, AddressWire, ContactWire, CustomDecimalField, CustomField, CustomerPut, DocContactWire,
    Num, SalesInvoiceWire, SalesOrderCustomPut, SalesOrderDetailWire, SalesOrderExternalRefPut, SalesOrderInvoicesWire,
    SalesOrderPaymentWire, SalesOrderPut, SalesOrderWire, ShipmentWire, ShippingSettingsWire, TaxDetailWire, Val,
};
use crate::http::{cap_message, json_message};
use crate::mapping::{DraftContact, FieldChoice, SalesOrderDraft};
use crate::model::{
    Address, Currency, Customer, ErpCustomerId, ErpInvoice, ErpOrderNbr, ErpOrderRef, ErpOrderTotals, ErpOrderType,
    ErpSalesLine, ErpSalesOrder, ErpShipmentNbr, Money, OrderStatus, Package, PackageItem, Shipment, ShipmentSource,
    Tracking, TrackingNumber,
};

/// An OData string literal: quoted, with embedded quotes doubled, so an Import ID such as
/// `O'Brien` cannot end the literal early (the filter is sent URL-encoded).
pub fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A `datetimeoffset'...'` literal with an explicit offset (§2.3).
pub fn datetimeoffset(at: DateTime<Utc>) -> String {
    format!("datetimeoffset'{}'", at.to_rfc3339_opts(SecondsFormat::Millis, false))
}

/// A business date as Acumatica takes it: local midnight without an offset (§2.12).
pub fn business_date(date: NaiveDate) -> String {
    format!("{}T00:00:00", date.format("%Y-%m-%d"))
}

/// The CustomerID Orderbridge gives a buyer: `prefix` + the channel customer id (letters and
/// digits only) when the channel has one, else `prefix` + `E` + 12 hex digits of SHA-256 of the
/// lower-cased email; at most 30 characters. It is the same rule as
/// `OrderSink::derive_customer_id`, so a customer created here is found there by id.
pub fn derive_customer_id(prefix: &str, customer: &Customer) -> Option<ErpCustomerId> {
    let raw = if let Some(id) =
        customer.channel_customer_id.as_deref().map(str::trim).filter(|id| !id.is_empty() && *id != "0")
    {
        let clean: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
        format!("{prefix}{clean}").chars().take(30).collect::<String>()
    } else {
        let email = customer.email.as_deref().map(str::trim).filter(|e| e.contains('@'))?;
        let digest = Sha256::digest(email.to_ascii_lowercase().as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02X}")).collect();
        format!("{prefix}E{hex}")
    };
    ErpCustomerId::parse(raw).ok()
}

fn some_text(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn address(a: &Address) -> AddressWire {
    AddressWire {
        AddressLine1: val(a.line1.clone()),
        AddressLine2: opt(some_text(&a.line2)),
        City: val(a.city.clone()),
        State: opt(some_text(&a.region)),
        PostalCode: opt(some_text(&a.postal_code)),
        Country: val(a.country.clone()),
    }
}

fn doc_contact(c: &DraftContact) -> DocContactWire {
    DocContactWire {
        Attention: val(c.attention.clone()),
        BusinessName: opt(some_text(&c.business_name)),
        Email: opt(some_text(&c.email)),
        Phone1: opt(some_text(&c.phone)),
    }
}

/// Where each template target sits in the sales-order body (`*` = every detail row).
const TARGET_PATHS: &[(&str, &[&str])] = &[
    ("ship_via", &["ShipVia"]),
    ("description", &["Description"]),
    ("note", &["note"]),
    ("external_ref", &["ExternalRef"]),
    ("bill_to.attention", &["BillToContact", "Attention"]),
    ("bill_to.business_name", &["BillToContact", "BusinessName"]),
    ("bill_to.email", &["BillToContact", "Email"]),
    ("bill_to.phone", &["BillToContact", "Phone1"]),
    ("bill_to.line1", &["BillToAddress", "AddressLine1"]),
    ("bill_to.line2", &["BillToAddress", "AddressLine2"]),
    ("bill_to.city", &["BillToAddress", "City"]),
    ("bill_to.region", &["BillToAddress", "State"]),
    ("bill_to.postal_code", &["BillToAddress", "PostalCode"]),
    ("bill_to.country", &["BillToAddress", "Country"]),
    ("ship_to.attention", &["ShipToContact", "Attention"]),
    ("ship_to.business_name", &["ShipToContact", "BusinessName"]),
    ("ship_to.email", &["ShipToContact", "Email"]),
    ("ship_to.phone", &["ShipToContact", "Phone1"]),
    ("ship_to.line1", &["ShipToAddress", "AddressLine1"]),
    ("ship_to.line2", &["ShipToAddress", "AddressLine2"]),
    ("ship_to.city", &["ShipToAddress", "City"]),
    ("ship_to.region", &["ShipToAddress", "State"]),
    ("ship_to.postal_code", &["ShipToAddress", "PostalCode"]),
    ("ship_to.country", &["ShipToAddress", "Country"]),
    ("lines.description", &["Details", "*", "LineDescription"]),
    ("lines.note", &["Details", "*", "note"]),
    ("lines.warehouse_id", &["Details", "*", "WarehouseID"]),
];

/// The body path of a target: `ship_to.phone`, `lines.description` (every line) or
/// `lines[2].description` (one line, as a template chose per line).
fn target_path(target: &str) -> Option<Vec<String>> {
    let (key, index) = match target.strip_prefix("lines[").and_then(|rest| rest.split_once("].")) {
        Some((index, field)) => (format!("lines.{field}"), Some(index.parse::<usize>().ok()?)),
        None => (target.to_owned(), None),
    };
    let (_, path) = TARGET_PATHS.iter().find(|(t, _)| *t == key)?;
    Some(
        path.iter()
            .map(|segment| match (segment, index) {
                (&"*", Some(i)) => i.to_string(),
                _ => (*segment).to_owned(),
            })
            .collect(),
    )
}

/// Applies a template's choice to the field at `path`: removed (the ERP's default applies) or
/// sent as an empty value. `*` is every detail row, a number one row.
fn apply_choice(node: &mut Value, path: &[String], choice: FieldChoice) {
    match path {
        [] => {}
        [head, rest @ ..] if head == "*" => {
            for row in node.as_array_mut().into_iter().flatten() {
                apply_choice(row, rest, choice);
            }
        }
        [head, rest @ ..] if node.is_array() => {
            let row = head.parse::<usize>().ok().and_then(|i| node.as_array_mut().and_then(|rows| rows.get_mut(i)));
            if let Some(row) = row {
                apply_choice(row, rest, choice);
            }
        }
        [last] => {
            if let Some(map) = node.as_object_mut() {
                match choice {
                    FieldChoice::Omit => {
                        map.remove(last);
                    }
                    FieldChoice::Empty => {
                        map.insert(last.clone(), serde_json::json!({ "value": "" }));
                    }
                }
            }
        }
        [head, rest @ ..] => {
            if let Some(child) = node.as_object_mut().and_then(|m| m.get_mut(head)) {
                apply_choice(child, rest, choice);
            }
        }
    }
}

/// The insert body for a draft: every price and discount manual, the channel's freight and taxes
/// (automatic tax calculation off), our Import ID in `CustomerOrder`; fields the mapping's
/// templates chose to skip are left out, those set empty are sent empty.
pub fn sales_order_body(draft: &SalesOrderDraft) -> Value {
    let wire = sales_order_wire(draft);
    let mut body = serde_json::to_value(&wire).unwrap_or(Value::Null);
    for (target, choice) in &draft.field_choices {
        if let Some(path) = target_path(target) {
            apply_choice(&mut body, &path, *choice);
        }
    }
    body
}

fn sales_order_wire(draft: &SalesOrderDraft) -> SalesOrderPut {
    let details = draft
        .lines
        .iter()
        .map(|l| SalesOrderDetailWire {
            InventoryID: val(l.item_id.as_str().to_owned()),
            OrderQty: num(l.quantity),
            UnitPrice: num(l.unit_price),
            ManualPrice: val(true),
            DiscountAmount: num(l.discount_amount),
            ManualDiscount: val(true),
            LineDescription: val(l.description.clone()).filter(|_| !l.description.trim().is_empty()),
            WarehouseID: opt(some_text(&l.warehouse_id)),
            ExternalRef: val(l.channel_line_id.clone()),
            note: opt(some_text(&l.note)),
        })
        .collect();
    let payments = draft
        .payments
        .iter()
        .map(|p| SalesOrderPaymentWire {
            PaymentMethod: val(p.payment_method.clone()),
            CashAccount: opt(some_text(&p.cash_account)),
            PaymentAmount: num(p.amount),
            PaymentRef: opt(some_text(&p.reference)),
        })
        .collect();
    let taxes = draft
        .taxes
        .iter()
        .map(|t| TaxDetailWire {
            TaxID: val(t.tax_id.clone()),
            TaxRate: t.rate.and_then(num),
            TaxableAmount: num(t.taxable_amount),
            TaxAmount: num(t.tax_amount),
        })
        .collect();
    let custom = (!draft.attributes.is_empty()).then(|| {
        let fields: BTreeMap<String, CustomField> = draft
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), CustomField { kind: "CustomStringField", value: v.clone() }))
            .collect();
        BTreeMap::from([("Document", fields)])
    });
    SalesOrderPut {
        OrderType: val(draft.order_type.as_str().to_owned()),
        CustomerID: val(draft.customer_id.as_str().to_owned()),
        CustomerOrder: val(draft.import_id.clone()),
        ExternalRef: val(draft.external_ref.clone()),
        Date: val(business_date(draft.order_date)),
        RequestedOn: draft.requested_on.map(business_date).and_then(val),
        Description: val(draft.description.clone()).filter(|_| !draft.description.trim().is_empty()),
        CurrencyID: val(draft.currency.code().to_owned()),
        ShipVia: opt(some_text(&draft.ship_via)),
        DisableAutomaticTaxCalculation: val(true),
        BillToAddressOverride: val(true),
        BillToContactOverride: val(true),
        BillToAddress: Some(address(&draft.bill_to.address)),
        BillToContact: Some(doc_contact(&draft.bill_to)),
        ShipToAddressOverride: val(true),
        ShipToContactOverride: val(true),
        ShipToAddress: Some(address(&draft.ship_to.address)),
        ShipToContact: Some(doc_contact(&draft.ship_to)),
        ShippingSettings: Some(ShippingSettingsWire {
            FreightPrice: num(draft.freight),
            OverrideFreightPrice: val(true),
        }),
        Details: details,
        Payments: payments,
        TaxDetails: taxes,
        note: opt(some_text(&draft.note)),
        custom,
    }
}

/// The insert body for a customer created from an order's buyer and billing address.
pub fn customer_body(id: &ErpCustomerId, customer: &Customer, bill_to: &Address, class: Option<&str>) -> CustomerPut {
    let name = [customer.name.trim(), customer.company.as_deref().unwrap_or("").trim(), bill_to.name.trim()]
        .into_iter()
        .find(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| customer.email.clone())
        .unwrap_or_else(|| id.as_str().to_owned());
    CustomerPut {
        CustomerID: val(id.as_str().to_owned()),
        CustomerName: val(name.clone()),
        CustomerClass: class.map(str::to_owned).and_then(val),
        MainContact: Some(ContactWire {
            Email: opt(some_text(&customer.email)),
            Phone1: opt(some_text(&customer.phone).or_else(|| some_text(&bill_to.phone))),
            DisplayName: val(name),
            CompanyName: opt(some_text(&customer.company)),
            Address: Some(address(bill_to)).filter(|_| !bill_to.line1.trim().is_empty()),
        }),
    }
}

/// Every `error` string of an entity response, qualified by where it sits
/// (`Details[0].InventoryID: ...`), entity-level first.
pub fn entity_errors(entity: &Value) -> Vec<String> {
    fn walk(node: &Value, path: &str, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(msg) = map.get("error").and_then(Value::as_str).filter(|m| !m.trim().is_empty()) {
                    let first_line = msg.lines().next().unwrap_or(msg);
                    out.push(if path.is_empty() { first_line.to_owned() } else { format!("{path}: {msg}") });
                }
                for (k, v) in map {
                    if k != "error" && (v.is_object() || v.is_array()) {
                        let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                        walk(v, &child, out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(entity, "", &mut out);
    out
}

/// The message of Acumatica's documented error bodies: HttpError (`exceptionMessage`/`message`,
/// §2.9) or an entity echoed back with `error` strings.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let errors = entity_errors(&value);
    if errors.len() > 1 || (errors.len() == 1 && value.get("message").is_none()) {
        // Field errors name what to fix; the entity-level summary only repeats them.
        let fields: Vec<&String> = errors.iter().filter(|e| e.contains(": ")).collect();
        let chosen: Vec<&String> = if fields.is_empty() { errors.iter().collect() } else { fields };
        return Some(cap_message(&chosen.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")));
    }
    json_message(&value, &["exceptionMessage", "message", "error"]).map(|m| cap_message(&m))
}

/// Whether a 500 body is Acumatica's "the entity has errors" outcome rather than a server fault.
pub fn is_entity_outcome_error(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return false };
    let outcome = value
        .get("exceptionType")
        .and_then(Value::as_str)
        .is_some_and(|t| t.contains("OutcomeEntityHasErrorsException"));
    outcome || !entity_errors(&value).is_empty()
}

/// The canonical status of an Acumatica sales order status display string.
pub fn order_status(status: &str) -> OrderStatus {
    match status.trim() {
        "Open" | "Shipping" | "Invoiced" => OrderStatus::Open,
        "On Hold" | "Credit Hold" | "Pending Approval" | "Pending Processing" | "Awaiting Payment" => {
            OrderStatus::OnHold
        }
        "Back Order" => OrderStatus::BackOrder,
        "Completed" => OrderStatus::Completed,
        "Canceled" | "Cancelled" => OrderStatus::Cancelled,
        other => OrderStatus::Other(other.to_owned()),
    }
}

pub(super) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc()))
}

/// A shipped shipment as one canonical shipment per sales order it covers. Packages without a
/// tracking number are left out (nothing to push). Each package's items come from its
/// PackageContents, tied to the shipment's detail lines (see [`pack_contents`]); a package whose
/// contents hold nothing of an order is not part of that order's shipment. A single tracked package
/// without contents holds everything shipped; several packages without contents say nothing
/// about their items (the channel decides whether it can push that).
pub fn shipment_to_canonical(
    wire: &ShipmentWire,
    shipped_statuses: &[String],
) -> Result<Vec<(ErpOrderRef, Shipment)>, String> {
    let nbr = text(&wire.ShipmentNbr).ok_or("shipment without ShipmentNbr")?;
    let status = text(&wire.Status).unwrap_or_default();
    if !shipped_statuses.iter().any(|s| s.eq_ignore_ascii_case(&status)) {
        return Ok(Vec::new());
    }
    let nbr = ErpShipmentNbr::parse(nbr).map_err(|e| e.to_string())?;
    // The number becomes part of every package's push key (`AC-000123#1`), which a queue message
    // must be able to carry: refused here, naming the field, rather than enqueued unreadable.
    let source = ShipmentSource::parse(super::super::system_code(super::CODE), nbr.as_str())
        .map_err(|e| format!("ShipmentNbr: {e}"))?;
    let date_text = text(&wire.ShipmentDate).ok_or_else(|| format!("shipment {nbr} without ShipmentDate"))?;
    let ship_date = NaiveDate::parse_from_str(date_text.get(..10).unwrap_or(&date_text), "%Y-%m-%d")
        .map_err(|_| format!("shipment {nbr}: ShipmentDate {date_text:?} is not a date"))?;
    let confirmed_at = text(&wire.LastModifiedDateTime).as_deref().and_then(parse_datetime);
    let carrier = text(&wire.ShipVia).unwrap_or_default();
    let lines = shipped_lines(wire);
    let contents = pack_contents(&nbr, wire, &lines);
    let tracked = wire.Packages.iter().filter(|p| text(&p.TrackingNbr).is_some()).count();
    let mut results = Vec::new();
    for order in &wire.Orders {
        let (Some(order_type), Some(order_nbr)) = (text(&order.OrderType), text(&order.OrderNbr)) else { continue };
        let erp = ErpOrderRef {
            order_type: ErpOrderType::parse(order_type).map_err(|e| e.to_string())?,
            order_nbr: ErpOrderNbr::parse(order_nbr).map_err(|e| e.to_string())?,
        };
        // Detail lines without an OrderNbr are taken to be this order's (a one-order shipment).
        let ours = |l: &ShippedLine| l.order_nbr.as_deref().is_none_or(|n| n == erp.order_nbr.as_str());
        let mut packages = Vec::new();
        for (i, (p, packed)) in wire.Packages.iter().zip(&contents).enumerate() {
            let Some(tracking) = text(&p.TrackingNbr) else { continue };
            let items = match packed {
                Some(packed) => {
                    let mut items: Vec<PackageItem> = Vec::new();
                    for (line, quantity) in packed.iter().filter(|(l, _)| ours(&lines[*l])) {
                        let item = lines[*line].item.clone();
                        match items
                            .iter_mut()
                            .find(|o| o.erp_line_nbr == item.erp_line_nbr && o.item_id == item.item_id)
                        {
                            Some(o) => o.quantity += *quantity,
                            None => items.push(PackageItem { quantity: *quantity, ..item }),
                        }
                    }
                    if items.is_empty() {
                        continue;
                    }
                    items
                }
                None if tracked == 1 => lines.iter().filter(|l| ours(l)).map(|l| l.item.clone()).collect(),
                None => Vec::new(),
            };
            let number = TrackingNumber::parse(tracking).map_err(|e| format!("shipment {nbr}: {e}"))?;
            let package_id =
                get(&p.LineNbr).map(|n| n.0.normalize().to_string()).unwrap_or_else(|| (i + 1).to_string());
            packages.push(Package {
                package_id,
                tracking: Tracking { number, carrier: carrier.clone(), service: None, url: None },
                items,
                weight: get(&p.Weight).map(|n| n.0),
            });
        }
        let shipment = Shipment { source: source.clone(), ship_date, confirmed_at, packages, completes_order: false };
        results.push((erp, shipment));
    }
    Ok(results)
}

/// One shipment detail line: whose order it ships and what (item, ERP line, shipped quantity).
struct ShippedLine {
    order_nbr: Option<String>,
    item: PackageItem,
}

fn shipped_lines(wire: &ShipmentWire) -> Vec<ShippedLine> {
    wire.Details
        .iter()
        .filter_map(|d| {
            Some(ShippedLine {
                order_nbr: text(&d.OrderNbr),
                item: PackageItem {
                    item_id: text(&d.InventoryID)?,
                    erp_line_nbr: get(&d.OrderLineNbr).and_then(|n| i64::try_from(n.0).ok()),
                    channel_line_id: None,
                    quantity: get(&d.ShippedQty).map(|n| n.0).unwrap_or_default(),
                },
            })
        })
        .collect()
}

/// Each package's contents as (index into `lines`, quantity), or `None` for a package whose
/// contents were not recorded. PackageContents name only the InventoryID, so a row's quantity is
/// taken from the detail lines carrying that item in line order, each capped at its ShippedQty:
/// an item on two lines (or two orders of a shared shipment) is split over them and every unit
/// keeps its ERP line. Every package takes part, tracked or not, so a box without tracking still
/// uses up the lines it holds. What no line has left is dropped (with a warning): Details are
/// what shipped.
fn pack_contents(
    nbr: &ErpShipmentNbr,
    wire: &ShipmentWire,
    lines: &[ShippedLine],
) -> Vec<Option<Vec<(usize, Decimal)>>> {
    let mut left: Vec<Decimal> = lines.iter().map(|l| l.item.quantity).collect();
    let mut out = Vec::with_capacity(wire.Packages.len());
    for (n, p) in wire.Packages.iter().enumerate() {
        if p.PackageContents.is_empty() {
            out.push(None);
            continue;
        }
        let mut packed: Vec<(usize, Decimal)> = Vec::new();
        for row in &p.PackageContents {
            let Some(inventory) = text(&row.InventoryID) else { continue };
            let mut wanted = get(&row.Quantity).map(|n| n.0).unwrap_or_default();
            for (i, line) in lines.iter().enumerate() {
                if wanted <= Decimal::ZERO {
                    break;
                }
                if !line.item.item_id.eq_ignore_ascii_case(&inventory) || left[i] <= Decimal::ZERO {
                    continue;
                }
                let take = wanted.min(left[i]);
                left[i] -= take;
                wanted -= take;
                packed.push((i, take));
            }
            if wanted > Decimal::ZERO {
                warn!(shipment = %nbr, package = n + 1, item = %inventory, quantity = %wanted,
                    "Package contents exceed what the shipment's lines ship; the excess is left out.");
            }
        }
        // Contents that tie to no line (all excess, or items the details do not list) say nothing
        // usable: treated as unrecorded rather than hiding the package's tracking from every order.
        out.push(Some(packed).filter(|p| !p.is_empty()));
    }
    out
}

/// A sales order's state as status-push needs it.
pub fn order_state_from_wire(wire: &super::wire::SalesOrderStateWire) -> Result<crate::ports::ErpOrderState, String> {
    let status = text(&wire.Status).ok_or("no Status in the response")?;
    let note = note_text(&wire.note);
    let lines = wire
        .Details
        .iter()
        .filter_map(|d| {
            Some(crate::ports::ErpOrderLine {
                line_nbr: get(&d.LineNbr).and_then(|n| i64::try_from(n.0).ok())?,
                item_id: text(&d.InventoryID).unwrap_or_default(),
                channel_line_id: text(&d.ExternalRef),
            })
        })
        .collect();
    Ok(crate::ports::ErpOrderState {
        canonical: order_status(&status),
        status,
        note,
        lines,
        shipment_nbrs: wire.Shipments.iter().filter_map(|s| text(&s.ShipmentNbr)).collect(),
    })
}

/// The text of a `note` field: `{"value": "..."}` in current versions, a bare string in some
/// older ones; None when empty.
fn note_text(note: &Option<Value>) -> Option<String> {
    match note {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("value").and_then(|v| v.as_str()).map(str::to_owned),
        _ => None,
    }
    .map(|n| n.trim().to_owned())
    .filter(|n| !n.is_empty())
}

/// The first non-empty text among the fields.
fn first_text<'a>(fields: impl IntoIterator<Item = Option<&'a Option<Val<String>>>>) -> Option<String> {
    fields.into_iter().flatten().find_map(text)
}

/// An order address from its `*ToAddress` and `*ToContact` (Attention → name, BusinessName →
/// company; the name falls back to the business name).
fn erp_address(address: Option<&AddressWire>, contact: Option<&DocContactWire>) -> Address {
    let a = address.cloned().unwrap_or_default();
    let c = contact.cloned().unwrap_or_default();
    Address {
        name: text(&c.Attention).or_else(|| text(&c.BusinessName)).unwrap_or_default(),
        company: text(&c.BusinessName),
        line1: text(&a.AddressLine1).unwrap_or_default(),
        line2: text(&a.AddressLine2),
        city: text(&a.City).unwrap_or_default(),
        region: text(&a.State),
        postal_code: text(&a.PostalCode),
        country: text(&a.Country).unwrap_or_default(),
        phone: text(&c.Phone1),
        email: text(&c.Email),
    }
}

/// A whole sales order as the vendor-neutral [`ErpSalesOrder`]. Refused (naming the order and the
/// field) when a required field is missing or when the lines, freight, tax and document discount
/// do not add up to the order total to the cent. The document discount is `Totals.DiscountTotal`
/// less the lines' `DiscountAmount`; a version whose `DiscountTotal` holds document discounts
/// only is recognised by the totals balancing with it as is (and not with the difference).
/// `customer_class` is left empty (it is on the customer, one more read).
pub fn sales_order_from_wire(wire: &SalesOrderWire) -> Result<ErpSalesOrder, String> {
    let order_type = text(&wire.OrderType).ok_or("sales order without OrderType")?;
    let order_nbr = text(&wire.OrderNbr).ok_or_else(|| format!("sales order {order_type}/?: OrderNbr is missing"))?;
    let name = format!("sales order {order_type}/{order_nbr}");
    let missing = |field: &str| format!("{name}: {field} is missing");
    let erp = ErpOrderRef {
        order_type: ErpOrderType::parse(order_type.as_str()).map_err(|e| format!("{name}: OrderType: {e}"))?,
        order_nbr: ErpOrderNbr::parse(order_nbr.as_str()).map_err(|e| format!("{name}: OrderNbr: {e}"))?,
    };
    let currency_text = text(&wire.CurrencyID).ok_or_else(|| missing("CurrencyID"))?;
    let currency = Currency::parse(&currency_text).map_err(|e| format!("{name}: CurrencyID: {e}"))?;
    let money = |field: &Option<Val<Num>>| get(field).map(|n| Money::new(n.0, currency));
    let time = |field: &Option<Val<String>>, label: &str| -> Result<DateTime<Utc>, String> {
        let raw = text(field).ok_or_else(|| missing(label))?;
        parse_datetime(&raw).ok_or_else(|| format!("{name}: {label} {raw:?} is not a date and time"))
    };
    let mut lines = Vec::with_capacity(wire.Details.len());
    for (i, d) in wire.Details.iter().enumerate() {
        let field = |f: &str| format!("Details[{i}].{f}");
        let line_nbr =
            get(&d.LineNbr).and_then(|n| i64::try_from(n.0).ok()).ok_or_else(|| missing(&field("LineNbr")))?;
        lines.push(ErpSalesLine {
            line_nbr,
            item_id: text(&d.InventoryID).ok_or_else(|| missing(&field("InventoryID")))?,
            description: text(&d.LineDescription).unwrap_or_default(),
            quantity: get(&d.OrderQty).map(|n| n.0).ok_or_else(|| missing(&field("OrderQty")))?,
            uom: text(&d.UOM),
            warehouse: text(&d.WarehouseID),
            unit_price: money(&d.UnitPrice).ok_or_else(|| missing(&field("UnitPrice")))?,
            discount: money(&d.DiscountAmount).unwrap_or(Money::zero(currency)),
            amount: money(&d.Amount).ok_or_else(|| missing(&field("Amount")))?,
        });
    }
    let totals = wire.Totals.as_ref().ok_or_else(|| missing("Totals"))?;
    let lines_total = money(&totals.LineTotalAmount).ok_or_else(|| missing("Totals.LineTotalAmount"))?;
    let freight = money(&totals.Freight).ok_or_else(|| missing("Totals.Freight"))?;
    let tax = money(&wire.TaxTotal).or_else(|| money(&totals.TaxTotal)).ok_or_else(|| missing("TaxTotal"))?;
    let order_total = money(&wire.OrderTotal).ok_or_else(|| missing("OrderTotal"))?;
    let unpaid_balance = money(&totals.UnpaidBalance).ok_or_else(|| missing("Totals.UnpaidBalance"))?;
    let discount_total = money(&totals.DiscountTotal).unwrap_or(Money::zero(currency));
    let overflow = |_| format!("{name}: totals overflow");
    let line_discounts = Money::sum(currency, lines.iter().map(|l| &l.discount)).map_err(overflow)?;
    let balance = |discount: Money| -> Result<bool, String> {
        let computed =
            lines_total.checked_add(freight).and_then(|m| m.checked_add(tax)).and_then(|m| m.checked_sub(discount));
        Ok(computed.map_err(overflow)?.round_to_minor() == order_total.round_to_minor())
    };
    let document_discount = discount_total.checked_sub(line_discounts).map_err(overflow)?;
    let discount = if balance(document_discount)? {
        document_discount
    } else if balance(discount_total)? {
        discount_total
    } else {
        let shown = |m: Money| {
            let mut amount = m.round_to_minor().amount;
            amount.rescale(currency.minor_units());
            amount
        };
        return Err(format!(
            "{name}: OrderTotal {} is not Totals.LineTotalAmount {} + Totals.Freight {} + TaxTotal {} - document discount {} (Totals.DiscountTotal {} less line discounts {})",
            shown(order_total), shown(lines_total), shown(freight), shown(tax), shown(document_discount),
            shown(discount_total), shown(line_discounts)
        ));
    };
    let bill_contact = wire.BillToContact.as_ref();
    let ship_contact = wire.ShipToContact.as_ref();
    let customer_id = text(&wire.CustomerID).ok_or_else(|| missing("CustomerID"))?;
    let customer = Customer {
        channel_customer_id: None,
        email: first_text([bill_contact.map(|c| &c.Email), ship_contact.map(|c| &c.Email)]),
        name: first_text([
            bill_contact.map(|c| &c.Attention),
            ship_contact.map(|c| &c.Attention),
            bill_contact.map(|c| &c.BusinessName),
            ship_contact.map(|c| &c.BusinessName),
        ])
        .unwrap_or_default(),
        company: first_text([bill_contact.map(|c| &c.BusinessName), ship_contact.map(|c| &c.BusinessName)]),
        phone: first_text([bill_contact.map(|c| &c.Phone1), ship_contact.map(|c| &c.Phone1)]),
    };
    Ok(ErpSalesOrder {
        status: text(&wire.Status).ok_or_else(|| missing("Status"))?,
        hold: get(&wire.Hold).unwrap_or(false),
        customer_id,
        customer_class: None,
        location: text(&wire.LocationID),
        customer_order: text(&wire.CustomerOrder),
        external_ref: text(&wire.ExternalRef),
        ship_via: text(&wire.ShipVia),
        payment_method: text(&wire.PaymentMethod),
        currency,
        ordered_at: time(&wire.Date, "Date")?,
        last_modified: time(&wire.LastModified, "LastModified")?,
        customer,
        bill_to: erp_address(wire.BillToAddress.as_ref(), bill_contact),
        ship_to: erp_address(wire.ShipToAddress.as_ref(), ship_contact),
        lines,
        totals: ErpOrderTotals { lines: lines_total, discount, freight, tax, order_total, unpaid_balance },
        note: note_text(&wire.note),
        erp,
    })
}

/// The update that records the channel's order number in the order's `ExternalRef`.
pub fn channel_number_body(erp: &ErpOrderRef, number: &str) -> SalesOrderExternalRefPut {
    SalesOrderExternalRefPut {
        OrderType: val(erp.order_type.as_str().to_owned()),
        OrderNbr: val(erp.order_nbr.as_str().to_owned()),
        ExternalRef: val(number.trim().to_owned()),
    }
}

/// The update that writes charges to the order's user-defined fields: `UsrX` (view `Document`, the
/// order header) or `View.UsrX`, each `{"type": "CustomDecimalField", "value": 12.34}`.
pub fn charges_body(erp: &ErpOrderRef, values: &BTreeMap<String, Decimal>) -> SalesOrderCustomPut {
    let mut custom: BTreeMap<String, BTreeMap<String, CustomDecimalField>> = BTreeMap::new();
    for (field, amount) in values {
        let (view, name) = field.split_once('.').unwrap_or(("Document", field.as_str()));
        custom
            .entry(view.to_owned())
            .or_default()
            .insert(name.to_owned(), CustomDecimalField { kind: "CustomDecimalField", value: Num(*amount) });
    }
    SalesOrderCustomPut {
        OrderType: val(erp.order_type.as_str().to_owned()),
        OrderNbr: val(erp.order_nbr.as_str().to_owned()),
        custom,
    }
}

/// The distinct (InvoiceType, InvoiceNbr) of an order's shipments, in order; shipments not
/// invoiced yet are left out.
pub fn invoice_keys(wire: &SalesOrderInvoicesWire) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for s in &wire.Shipments {
        if let (Some(t), Some(n)) = (text(&s.InvoiceType), text(&s.InvoiceNbr)) {
            if !keys.iter().any(|(kt, kn)| *kt == t && *kn == n) {
                keys.push((t, n));
            }
        }
    }
    keys
}

/// An invoice as the follow-up step needs it: `Invoice/INV000001`, released when its status is
/// Open or Closed (an AR invoice has no "Released" status, B.0 item 6), and the lines of `erp`
/// only (an invoice may cover several orders) as (InventoryID, Qty).
pub fn invoice_from_wire(wire: &SalesInvoiceWire, erp: &ErpOrderRef, key: &(String, String)) -> ErpInvoice {
    let kind = text(&wire.Type).unwrap_or_else(|| key.0.clone());
    let nbr = text(&wire.ReferenceNbr).unwrap_or_else(|| key.1.clone());
    let status = text(&wire.Status).unwrap_or_default();
    let lines = wire
        .Details
        .iter()
        .filter(|d| {
            text(&d.OrderType).is_some_and(|t| t.eq_ignore_ascii_case(erp.order_type.as_str()))
                && text(&d.OrderNbr).is_some_and(|n| n == erp.order_nbr.as_str())
        })
        .filter_map(|d| Some((text(&d.InventoryID)?, get(&d.Qty).map(|q| q.0).unwrap_or_default())))
        .collect();
    ErpInvoice {
        reference: format!("{kind}/{nbr}"),
        released: ["Open", "Closed"].iter().any(|s| status.eq_ignore_ascii_case(s)),
        lines,
    }
}

/// Where an Acumatica shipment stands (SOShipmentStatus, vendor-apis-erp-out B.3).
pub fn outbound_state(status: &str) -> crate::model::OutboundState {
    use crate::model::OutboundState;
    match status.trim().to_ascii_lowercase().as_str() {
        "open" => OutboundState::Open,
        "on hold" | "hold" => OutboundState::OnHold,
        "confirmed" | "completed" | "invoiced" | "partially invoiced" => OutboundState::Shipped,
        "canceled" | "cancelled" => OutboundState::Canceled,
        _ => OutboundState::Other(status.trim().to_owned()),
    }
}

/// A shipment as the export reads it; a missing number, status or modification time is named.
pub fn outbound_from_wire(wire: &super::wire::OutboundShipmentWire) -> Result<crate::model::OutboundShipment, String> {
    use crate::model::{OutboundLine, OutboundPackage, OutboundShipment, ShipmentSource};
    let nbr = text(&wire.ShipmentNbr).ok_or("ShipmentNbr: missing")?;
    let status = text(&wire.Status).ok_or_else(|| format!("shipment {nbr}: Status: missing"))?;
    let last_modified = text(&wire.LastModifiedDateTime)
        .and_then(|t| parse_datetime(&t))
        .ok_or_else(|| format!("shipment {nbr}: LastModifiedDateTime: missing or not a date"))?;
    let source = ShipmentSource::parse(super::super::system_code(super::CODE), &nbr)
        .map_err(|e| format!("shipment {nbr}: {e}"))?;
    let settings = wire.ShippingSettings.clone().unwrap_or_default();
    let lines = wire
        .Details
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let sku = text(&d.InventoryID)?;
            let quantity = get(&d.ShippedQty).map(|n| n.0).filter(|q| *q > Decimal::ZERO)?;
            let line_nbr = get(&d.LineNbr).and_then(|n| i64::try_from(n.0.trunc().mantissa()).ok());
            Some(OutboundLine {
                line_nbr: line_nbr.unwrap_or(i as i64 + 1),
                order_line_nbr: get(&d.OrderLineNbr).and_then(|n| i64::try_from(n.0.trunc().mantissa()).ok()),
                description: text(&d.Description).unwrap_or_else(|| sku.clone()),
                sku,
                quantity,
                unit_price: None,
                unit_weight_lb: None,
            })
        })
        .collect();
    let packages = wire
        .Packages
        .iter()
        .enumerate()
        .map(|(i, p)| OutboundPackage {
            id: p.id.clone().unwrap_or_else(|| format!("#{}", i + 1)),
            box_id: text(&p.BoxID),
            tracking: text(&p.TrackingNbr),
            weight_lb: get(&p.Weight).map(|n| n.0),
        })
        .collect();
    let orders = wire
        .Orders
        .iter()
        .filter_map(|o| {
            Some(ErpOrderRef {
                order_type: crate::model::ErpOrderType::parse(text(&o.OrderType)?).ok()?,
                order_nbr: crate::model::ErpOrderNbr::parse(text(&o.OrderNbr)?).ok()?,
            })
        })
        .collect();
    Ok(OutboundShipment {
        source,
        state: outbound_state(&status),
        erp_status: status,
        shipment_date: text(&wire.ShipmentDate).and_then(|d| crate::model::business_date(&d)),
        last_modified,
        ship_via: text(&wire.ShipVia),
        customer_id: text(&wire.CustomerID),
        orders,
        ship_to: erp_address(settings.ShipToAddress.as_ref(), settings.ShipToContact.as_ref()),
        bill_to: None,
        lines,
        packages,
        note: note_text(&wire.note),
    })
}

//! Pure conversions between the canonical model / draft and Acumatica's wire types; no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::wire::{
    get, num, opt, text, val, AddressWire, ContactWire, CustomField, CustomerPut, DocContactWire, SalesOrderDetailWire,
    SalesOrderPaymentWire, SalesOrderPut, ShipmentWire, ShippingSettingsWire, TaxDetailWire,
};
use crate::http::{cap_message, json_message};
use crate::mapping::{DraftContact, SalesOrderDraft};
use crate::model::{
    Address, Customer, ErpCustomerId, ErpOrderNbr, ErpOrderRef, ErpOrderType, ErpShipmentNbr, OrderStatus, Package,
    PackageItem, Shipment, ShipmentSource, Tracking, TrackingNumber,
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

/// The insert body for a draft: every price and discount manual, the channel's freight and taxes
/// (automatic tax calculation off), our Import ID in `CustomerOrder`.
pub fn sales_order_body(draft: &SalesOrderDraft) -> SalesOrderPut {
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

fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
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
        let shipment = Shipment {
            source: ShipmentSource::new(super::super::system_code(super::CODE), nbr.as_str()),
            ship_date,
            confirmed_at,
            packages,
            completes_order: false,
        };
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
    let note = match &wire.note {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Object(o)) => o.get("value").and_then(|v| v.as_str()).map(str::to_owned),
        _ => None,
    }
    .map(|n| n.trim().to_owned())
    .filter(|n| !n.is_empty());
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

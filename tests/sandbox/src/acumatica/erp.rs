//! ERP-side activity on Acumatica, as users would do it in the screens: sales orders entered in
//! SO301000, payments applied to them, invoices prepared from confirmed shipments and released
//! (SO303000). Each one updates the order's `LastModified` and sends the order push notification,
//! so consumers learn that the order changed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{compute_sales_order, money, validate_sales_order};
use super::{val, val_dec, val_str, w, AcState, PAYMENT_METHODS, SHIP_VIAS};
use crate::core::{num, SharedState, Vendor};
use crate::inspect::{ctl_body, ctl_error};

const V: Vendor = Vendor::Acumatica;

/// A sales order as a user enters it on the Sales Orders form (SO301000).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct EnterOrder {
    /// Default `SO`.
    pub order_type: String,
    pub customer_id: String,
    /// Customer location; default `MAIN` (the only location seeded customers have).
    pub location_id: String,
    pub lines: Vec<EnterLine>,
    /// Default: none (Acumatica takes it from the customer location; the sandbox leaves it empty).
    pub ship_via: Option<String>,
    /// `true` → status On Hold.
    pub hold: bool,
    pub freight: Option<Decimal>,
    /// One `TaxDetails` row with this amount.
    pub tax: Option<Decimal>,
    pub payment_method: Option<String>,
    pub customer_order: Option<String>,
    pub note: Option<String>,
    /// Ship-to override; default: the customer's main contact and address.
    pub ship_to: Option<ShipToOverride>,
}

impl Default for EnterOrder {
    fn default() -> Self {
        Self {
            order_type: "SO".into(),
            customer_id: String::new(),
            location_id: "MAIN".into(),
            lines: Vec::new(),
            ship_via: None,
            hold: false,
            freight: None,
            tax: None,
            payment_method: None,
            customer_order: None,
            note: None,
            ship_to: None,
        }
    }
}

/// One order line: stock item and quantity; UOM and warehouse default to the item's base UOM and
/// default warehouse, the unit price to the item's default price.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct EnterLine {
    pub inventory_id: String,
    pub qty: Decimal,
    pub uom: Option<String>,
    pub warehouse: Option<String>,
    pub unit_price: Option<Decimal>,
}

impl EnterLine {
    pub fn new(inventory_id: &str, qty: Decimal) -> Self {
        Self { inventory_id: inventory_id.into(), qty, ..Self::default() }
    }
}

/// Ship-to override: the fields given replace the customer's defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShipToOverride {
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub attention: Option<String>,
    pub business_name: Option<String>,
    pub email: Option<String>,
    pub phone1: Option<String>,
}

fn s_of(v: Option<&Value>, f: &str) -> String {
    v.and_then(|x| val_str(x, f)).unwrap_or_default()
}

/// `BillToAddress`/`BillToContact` shapes from a customer's main contact.
fn customer_defaults(customer: &Value) -> (Value, Value) {
    let mc = customer.get("MainContact");
    let addr = mc.and_then(|c| c.get("Address"));
    let address = json!({
        "AddressLine1": w(s_of(addr, "AddressLine1")), "AddressLine2": w(s_of(addr, "AddressLine2")),
        "City": w(s_of(addr, "City")), "State": w(s_of(addr, "State")),
        "PostalCode": w(s_of(addr, "PostalCode")), "Country": w(s_of(addr, "Country")),
    });
    let business =
        mc.and_then(|c| val_str(c, "CompanyName")).or_else(|| val_str(customer, "CustomerName")).unwrap_or_default();
    let contact = json!({
        "Attention": w(s_of(mc, "Attention")), "BusinessName": w(business),
        "Email": w(s_of(mc, "Email")), "Phone1": w(s_of(mc, "Phone1")),
    });
    (address, contact)
}

/// Build the order record (without number) or say what is wrong, like the form would.
fn build_order(st: &AcState, req: &EnterOrder) -> Result<Value, String> {
    let customer = st
        .customers
        .get(&req.customer_id)
        .ok_or_else(|| format!("CustomerID: Customer '{}' cannot be found in the system.", req.customer_id))?;
    if !req.location_id.eq_ignore_ascii_case("MAIN") {
        return Err(format!("LocationID: Location '{}' cannot be found in the system.", req.location_id));
    }
    if req.lines.is_empty() {
        return Err("Details: the order has no lines.".into());
    }
    if let Some(sv) = req.ship_via.as_deref().filter(|x| !SHIP_VIAS.iter().any(|v| v.eq_ignore_ascii_case(x))) {
        return Err(format!("ShipVia: Ship Via '{sv}' cannot be found in the system."));
    }
    if let Some(pm) =
        req.payment_method.as_deref().filter(|x| !PAYMENT_METHODS.iter().any(|v| v.eq_ignore_ascii_case(x)))
    {
        return Err(format!("PaymentMethod: Payment Method '{pm}' cannot be found in the system."));
    }
    let mut details = Vec::new();
    for (i, l) in req.lines.iter().enumerate() {
        let item = st.stock_items.get(&l.inventory_id).ok_or_else(|| {
            format!("line {}: Inventory ID '{}' cannot be found in the system.", i + 1, l.inventory_id)
        })?;
        if l.qty <= Decimal::ZERO {
            return Err(format!("line {}: the quantity must be greater than 0.", i + 1));
        }
        if l.unit_price.is_some_and(|p| p < Decimal::ZERO) {
            return Err(format!("line {}: the unit price cannot be negative.", i + 1));
        }
        let mut row = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "InventoryID": w(l.inventory_id.clone()), "OrderQty": w(num(l.qty)),
            "UOM": w(l.uom.clone().or_else(|| val_str(item, "BaseUOM")).unwrap_or_else(|| "EA".into())),
            "WarehouseID": w(l.warehouse.clone().or_else(|| val_str(item, "DefaultWarehouseID")).unwrap_or_else(|| "MAIN".into())),
        });
        if let Some(p) = l.unit_price {
            row["UnitPrice"] = w(num(p));
        }
        details.push(row);
    }
    let (bill_addr, bill_contact) = customer_defaults(customer);
    let (mut ship_addr, mut ship_contact) = (bill_addr.clone(), bill_contact.clone());
    let (mut addr_override, mut contact_override) = (false, false);
    if let Some(o) = &req.ship_to {
        for (f, v) in [
            ("AddressLine1", &o.address_line1),
            ("AddressLine2", &o.address_line2),
            ("City", &o.city),
            ("State", &o.state),
            ("PostalCode", &o.postal_code),
            ("Country", &o.country),
        ] {
            if let Some(v) = v {
                ship_addr[f] = w(v.clone());
                addr_override = true;
            }
        }
        for (f, v) in [
            ("Attention", &o.attention),
            ("BusinessName", &o.business_name),
            ("Email", &o.email),
            ("Phone1", &o.phone1),
        ] {
            if let Some(v) = v {
                ship_contact[f] = w(v.clone());
                contact_override = true;
            }
        }
    }
    let mut so = json!({
        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1,
        "note": w(req.note.clone().unwrap_or_default()),
        "OrderType": w(req.order_type.clone()),
        "Hold": w(req.hold), "CreditHold": w(false), "Approved": w(true),
        "CustomerID": w(req.customer_id.clone()), "LocationID": w(req.location_id.to_ascii_uppercase()),
        "CurrencyID": w(val_str(customer, "CurrencyID").unwrap_or_else(|| "USD".into())),
        "Date": w(st.today()), "RequestedOn": w(st.today()),
        "Description": w(""),
        "ShipToAddress": ship_addr, "ShipToContact": ship_contact,
        "ShipToAddressOverride": w(addr_override), "ShipToContactOverride": w(contact_override),
        "BillToAddress": bill_addr, "BillToContact": bill_contact,
        "BillToAddressOverride": w(false), "BillToContactOverride": w(false),
        "Details": details,
        "Payments": [], "Shipments": [], "TaxDetails": [],
    });
    if let Some(sv) = &req.ship_via {
        so["ShipVia"] = w(sv.to_ascii_uppercase());
        so["ShippingSettings"] = json!({ "ShipVia": w(sv.to_ascii_uppercase()) });
    }
    if let Some(pm) = &req.payment_method {
        so["PaymentMethod"] = w(pm.to_ascii_uppercase());
    }
    if let Some(r) = &req.customer_order {
        so["CustomerOrder"] = w(r.clone());
    }
    if let Some(f) = req.freight {
        if f < Decimal::ZERO {
            return Err("FreightPrice: the freight cannot be negative.".into());
        }
        so["FreightPrice"] = w(num(f));
    }
    if let Some(t) = req.tax {
        so["TaxDetails"] = json!([{
            "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1,
            "TaxID": w("STATETAX"), "TaxAmount": w(num(t)), "TaxType": w("Sales"),
            "OrderType": w(req.order_type.clone()),
        }]);
    }
    // The selector checks the API applies too (same messages).
    if let Some((path, msg)) = validate_sales_order(st, &so, true).into_iter().next() {
        return Err(format!("{}: {msg}", path.join("/")));
    }
    Ok(so)
}

fn order_key(st: &AcState, order_type: &str, order_nbr: &str) -> Result<String, String> {
    let key = format!("{order_type}/{order_nbr}");
    if st.sales_orders.contains_key(&key) {
        Ok(key)
    } else {
        Err(format!("sales order {key} not found"))
    }
}

/// Split `total` over parts in proportion to `weights`; the last share takes the remainder so
/// the shares add up exactly.
fn share(total: Decimal, part: Decimal, whole: Decimal, already: Decimal, last: bool) -> Decimal {
    if last || whole.is_zero() {
        total - already
    } else {
        (total * part / whole).round_dp(2)
    }
}

impl SharedState {
    /// Enter a sales order as a user in SO301000: numbered from the order sequence, status Open
    /// (On Hold with `hold`), customer/location, ship via, payment method and stock items
    /// validated, ship-to/bill-to defaulted from the customer's main contact, totals computed.
    /// Sends the order push notification. Returns the stored order.
    pub fn acumatica_enter_order(&self, req: &EnterOrder) -> Result<Value, String> {
        let so = {
            let mut st = self.acumatica();
            let mut so = build_order(&st, req)?;
            let nbr = st.next_order_nbr();
            let now = st.now();
            so["OrderNbr"] = w(nbr.clone());
            so["Status"] = w(if req.hold { "On Hold" } else { "Open" });
            so["CreatedDate"] = w(now.clone());
            so["LastModified"] = w(now);
            compute_sales_order(&st, &mut so);
            st.sales_orders.insert(format!("{}/{nbr}", req.order_type), so.clone());
            so
        };
        let nbr = val_str(&so, "OrderNbr").unwrap_or_default();
        self.record_write(V, "sales_order.entered", &nbr, json!({ "CustomerID": req.customer_id }));
        self.acumatica_push_order(&so, None);
        Ok(so)
    }

    /// Apply a payment to a sales order (Payments tab → Create Payment, released): a `Payments[]`
    /// row, `Totals.UnpaidBalance` reduced. An amount above the unpaid balance is refused.
    pub fn acumatica_apply_payment(&self, order_type: &str, order_nbr: &str, amount: Decimal) -> Result<Value, String> {
        let (before, after) = {
            let mut st = self.acumatica();
            let key = order_key(&st, order_type, order_nbr)?;
            let before = st.sales_orders[&key].clone();
            if amount <= Decimal::ZERO {
                return Err("The payment amount must be greater than 0.".into());
            }
            if matches!(val_str(&before, "Status").as_deref(), Some("Canceled" | "Completed" | "Invoiced")) {
                return Err(format!(
                    "A payment cannot be applied to the {order_nbr} sales order with the {} status.",
                    val_str(&before, "Status").unwrap_or_default()
                ));
            }
            let unpaid = before.get("Totals").and_then(|t| val_dec(t, "UnpaidBalance")).unwrap_or(Decimal::ZERO);
            if amount > unpaid {
                return Err(format!(
                    "The amount to be applied ({}) cannot exceed the unpaid balance of the order ({}).",
                    amount.round_dp(2),
                    unpaid.round_dp(2)
                ));
            }
            let reference = st.next_payment_nbr();
            let now = st.now();
            let so = st.sales_orders.get_mut(&key).ok_or("vanished")?;
            let method = val_str(so, "PaymentMethod").unwrap_or_else(|| "CHECK".into());
            let currency = val_str(so, "CurrencyID").unwrap_or_else(|| "USD".into());
            let list = match so.get_mut("Payments").and_then(Value::as_array_mut) {
                Some(l) => l,
                None => {
                    so["Payments"] = json!([]);
                    so["Payments"].as_array_mut().ok_or("vanished")?
                }
            };
            list.push(json!({
                "id": uuid::Uuid::new_v4().to_string(), "rowNumber": list.len() + 1,
                "DocType": w("Payment"), "ReferenceNbr": w(reference),
                "PaymentMethod": w(method), "PaymentAmount": money(amount), "AppliedToOrder": money(amount),
                // Not yet applied to an invoice: the whole payment is still open.
                "Balance": money(amount), "Status": w("Open"), "Hold": w(false), "Currency": w(currency),
            }));
            so["LastModified"] = w(now);
            let mut rec = so.clone();
            compute_sales_order(&st, &mut rec);
            st.sales_orders.insert(key, rec.clone());
            (before, rec)
        };
        self.record_write(V, "sales_order.payment", order_nbr, json!({ "amount": num(amount) }));
        self.acumatica_push_order_change(&before, &after);
        Ok(after)
    }

    /// Prepare and release an invoice for the order's confirmed shipments not yet invoiced
    /// (SalesInvoice type Invoice, status Open, or Closed when the order's payments cover it).
    /// Records the invoice on the order's `Shipments[]` rows and on the shipments, sets the order
    /// Completed when everything is shipped and invoiced, and sends the order push notification.
    pub fn acumatica_release_invoice(&self, order_type: &str, order_nbr: &str) -> Result<Value, String> {
        let (invoice, before, after) = {
            let mut st = self.acumatica();
            let key = order_key(&st, order_type, order_nbr)?;
            let before = st.sales_orders[&key].clone();
            let pending: Vec<String> = before
                .get("Shipments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| val_str(r, "Status").as_deref() == Some("Confirmed"))
                .filter(|r| val_str(r, "InvoiceNbr").is_none_or(|n| n.is_empty()))
                .filter_map(|r| val_str(r, "ShipmentNbr"))
                .collect();
            if pending.is_empty() {
                return Err(format!("There are no confirmed shipments to invoice on sales order {key}."));
            }
            let lines = before.get("Details").and_then(Value::as_array).cloned().unwrap_or_default();
            let line_of = |n: &Value| lines.iter().find(|l| val(l, "LineNbr") == Some(n));
            let mut details = Vec::new();
            let mut line_total = Decimal::ZERO;
            for nbr in &pending {
                let Some(sh) = st.shipments.get(nbr) else { continue };
                for d in sh.get("Details").and_then(Value::as_array).into_iter().flatten() {
                    let qty = val_dec(d, "ShippedQty").unwrap_or(Decimal::ZERO);
                    let Some(line_nbr) = val(d, "OrderLineNbr") else { continue };
                    let Some(l) = line_of(line_nbr) else { continue };
                    let price = val_dec(l, "UnitPrice").unwrap_or(Decimal::ZERO);
                    let ordered = val_dec(l, "OrderQty").unwrap_or(Decimal::ONE).max(Decimal::ONE);
                    let amount = (val_dec(l, "Amount").unwrap_or(Decimal::ZERO) * qty / ordered).round_dp(2);
                    line_total += amount;
                    details.push(json!({
                        "id": uuid::Uuid::new_v4().to_string(), "rowNumber": details.len() + 1,
                        "OrderType": w(order_type), "OrderNbr": w(order_nbr), "OrderLineNbr": w(line_nbr.clone()),
                        "ShipmentNbr": w(nbr.clone()), "InventoryID": val(d, "InventoryID").map(|v| w(v.clone())).unwrap_or(w("")),
                        "TransactionDescr": l.get("LineDescription").cloned().unwrap_or(w("")),
                        "Qty": w(num(qty)), "UOM": l.get("UOM").cloned().unwrap_or(w("EA")),
                        "UnitPrice": w(num(price)), "Amount": money(amount),
                    }));
                }
            }
            // What earlier invoices of this order already billed.
            let earlier: Vec<&Value> = st
                .invoices
                .values()
                .filter(|inv| {
                    inv.get("Details").and_then(Value::as_array).into_iter().flatten().any(|d| {
                        val_str(d, "OrderNbr").as_deref() == Some(order_nbr)
                            && val_str(d, "OrderType").as_deref() == Some(order_type)
                    })
                })
                .collect();
            let first = earlier.is_empty();
            let sum_of = |f: &str| earlier.iter().filter_map(|i| val_dec(i, f)).sum::<Decimal>();
            let (tax_before, disc_before) = (sum_of("TaxTotal"), sum_of("DiscountTotal"));
            // The last invoice: nothing open remains on the order and this one bills the rest.
            let all_shipped = lines.iter().all(|l| val_dec(l, "OpenQty").unwrap_or(Decimal::ZERO) <= Decimal::ZERO);
            let totals = before.get("Totals");
            let order_lines = totals.and_then(|t| val_dec(t, "LineTotalAmount")).unwrap_or(Decimal::ZERO);
            let order_tax = val_dec(&before, "TaxTotal").unwrap_or(Decimal::ZERO);
            let doc_discount: Decimal = before
                .get("DiscountDetails")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(|x| val_dec(x, "DiscountAmount")).sum())
                .unwrap_or(Decimal::ZERO);
            let tax = share(order_tax, line_total, order_lines, tax_before, all_shipped);
            let discount = share(doc_discount, line_total, order_lines, disc_before, all_shipped);
            let freight =
                if first { totals.and_then(|t| val_dec(t, "Freight")).unwrap_or(Decimal::ZERO) } else { Decimal::ZERO };
            let amount = line_total + freight + tax - discount;
            let reference = st.next_invoice_nbr();
            let now = st.now();
            let today = st.today();
            let due = crate::acumatica::filter::parse_dt(&today)
                .map(|d| (d + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
                .unwrap_or_else(|| today.clone());
            // Payments applied to the order pay the invoice on release.
            let mut left = amount;
            let mut applications = Vec::new();
            let so = st.sales_orders.get_mut(&key).ok_or("vanished")?;
            for p in so.get_mut("Payments").and_then(Value::as_array_mut).into_iter().flatten() {
                let bal = val_dec(p, "Balance").unwrap_or(Decimal::ZERO);
                if left <= Decimal::ZERO || bal <= Decimal::ZERO {
                    continue;
                }
                let used = bal.min(left);
                left -= used;
                p["Balance"] = money(bal - used);
                if bal - used <= Decimal::ZERO {
                    p["Status"] = w("Closed");
                }
                applications.push(json!({
                    "id": uuid::Uuid::new_v4().to_string(), "rowNumber": applications.len() + 1,
                    "DocType": w(val_str(p, "DocType").unwrap_or_else(|| "Payment".into())),
                    "ReferenceNbr": w(val_str(p, "ReferenceNbr").unwrap_or_default()),
                    "AmountPaid": money(used), "Balance": money(bal - used),
                }));
            }
            let paid = amount - left;
            for r in so.get_mut("Shipments").and_then(Value::as_array_mut).into_iter().flatten() {
                if val_str(r, "ShipmentNbr").is_some_and(|n| pending.contains(&n)) {
                    r["InvoiceType"] = w("Invoice");
                    r["InvoiceNbr"] = w(reference.clone());
                    r["Status"] = w("Invoiced");
                }
            }
            let everything_invoiced = so
                .get("Shipments")
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().all(|r| val_str(r, "InvoiceNbr").is_some_and(|n| !n.is_empty())));
            if all_shipped && everything_invoiced {
                so["Status"] = w("Completed");
            }
            so["LastModified"] = w(now.clone());
            let mut rec = so.clone();
            let invoice = json!({
                "id": uuid::Uuid::new_v4().to_string(), "rowNumber": 1, "note": w(""),
                "Type": w("Invoice"), "ReferenceNbr": w(reference.clone()),
                "Status": w(if left <= Decimal::ZERO { "Closed" } else { "Open" }),
                "Hold": w(false), "CreditHold": w(false), "Date": w(today), "DueDate": w(due),
                "CustomerID": before.get("CustomerID").cloned().unwrap_or(w("")),
                "LocationID": before.get("LocationID").cloned().unwrap_or(w("MAIN")),
                "CustomerOrder": before.get("CustomerOrder").cloned().unwrap_or(w("")),
                "CurrencyID": before.get("CurrencyID").cloned().unwrap_or(w("USD")),
                "Description": w(format!("{order_type} {order_nbr}")),
                "DetailTotal": money(line_total), "FreightPrice": money(freight), "DiscountTotal": money(discount),
                "TaxTotal": money(tax), "Amount": money(amount), "PaymentTotal": money(paid),
                "Balance": money(left.max(Decimal::ZERO)),
                "CreatedDateTime": w(now.clone()), "LastModifiedDateTime": w(now.clone()),
                "Details": details,
                "ApplicationsInvoice": applications,
                "ApplicationsCreditMemo": [],
            });
            for nbr in &pending {
                if let Some(sh) = st.shipments.get_mut(nbr) {
                    sh["Status"] = w("Invoiced");
                    sh["LastModifiedDateTime"] = w(now.clone());
                    for o in sh.get_mut("Orders").and_then(Value::as_array_mut).into_iter().flatten() {
                        o["InvoiceType"] = w("Invoice");
                        o["InvoiceNbr"] = w(reference.clone());
                    }
                }
            }
            st.invoices.insert(format!("Invoice/{reference}"), invoice.clone());
            compute_sales_order(&st, &mut rec);
            st.sales_orders.insert(key, rec.clone());
            (invoice, before, rec)
        };
        let reference = val_str(&invoice, "ReferenceNbr").unwrap_or_default();
        self.record_write(V, "invoice.released", &reference, json!({ "OrderType": order_type, "OrderNbr": order_nbr }));
        self.acumatica_push_order_change(&before, &after);
        Ok(invoice)
    }

    /// Every SalesInvoice, in key order.
    pub fn acumatica_invoices(&self) -> Vec<Value> {
        self.acumatica().invoices.values().cloned().collect()
    }
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

pub(super) async fn ctl_enter(State(s): State<SharedState>, body: Bytes) -> Response {
    match ctl_body::<EnterOrder>(&body) {
        Ok(req) => ctl_result(s.acumatica_enter_order(&req)),
        Err(r) => r,
    }
}

fn so() -> String {
    "SO".into()
}

#[derive(Deserialize)]
pub(super) struct PaymentBody {
    #[serde(default = "so")]
    order_type: String,
    order_nbr: String,
    amount: Decimal,
}

pub(super) async fn ctl_payment(State(s): State<SharedState>, body: Bytes) -> Response {
    match ctl_body::<PaymentBody>(&body) {
        Ok(b) => ctl_result(s.acumatica_apply_payment(&b.order_type, &b.order_nbr, b.amount)),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub(super) struct InvoiceBody {
    #[serde(default = "so")]
    order_type: String,
    order_nbr: String,
}

pub(super) async fn ctl_release_invoice(State(s): State<SharedState>, body: Bytes) -> Response {
    match ctl_body::<InvoiceBody>(&body) {
        Ok(b) => ctl_result(s.acumatica_release_invoice(&b.order_type, &b.order_nbr)),
        Err(r) => r,
    }
}

pub(super) async fn ctl_invoices(State(s): State<SharedState>) -> Json<Value> {
    Json(json!(s.acumatica_invoices()))
}

//! Pure conversions: package items → Magento order items, carriers → carrier codes, errors, and
//! for ERP-originated orders: draft → order body, buyer → customer body, invoice lines → order
//! items, a target status → the calls that reach it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::config::carrier_key;
use super::wire::{
    CustomerAddress, CustomerCreate, CustomerWire, InvoiceComment, InvoiceRequest, NewCustomer, OrderAddress,
    OrderCreate, OrderEntity, OrderExtension, OrderHistory, OrderItemCreate, OrderItemWire, OrderPayment, OrderWire,
    RegionCode, ShipItem, ShipTrack, Shipping, ShippingAssignment,
};
use crate::http::{cap_message, json_message};
use crate::model::{Address, ChannelOrderDraft, Customer, Money, PackageItem, StorefrontCustomer, Tracking};

/// Magento errors: `{"message": "... %fieldName ...", "parameters": {...}}`, placeholders filled.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut message = json_message(&value, &["message"])?;
    match value.get("parameters") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                fill(&mut message, &format!("%{k}"), v.as_str().unwrap_or(&v.to_string()));
            }
        }
        Some(Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                fill(&mut message, &format!("%{}", i + 1), v.as_str().unwrap_or(&v.to_string()));
            }
        }
        _ => {}
    }
    Some(cap_message(&message))
}

/// The longest error text placeholders are filled up to. Values may hold placeholders themselves,
/// so unbounded filling grows exponentially (`%a` → `%b%b…` → …; found by fuzzing): a
/// replacement that would pass this is left out.
const MAX_FILLED: usize = 4096;

fn fill(message: &mut String, placeholder: &str, value: &str) {
    let grows = message.matches(placeholder).count().saturating_mul(value.len());
    if message.len().saturating_add(grows) <= MAX_FILLED {
        *message = message.replace(placeholder, value);
    }
}

/// `total − done…`, never below zero; absurd quantities whose difference overflows a decimal (a
/// panic, found by fuzzing) leave nothing.
fn remaining(total: Decimal, done: &[Decimal]) -> Decimal {
    done.iter().try_fold(total, |left, d| left.checked_sub(*d)).unwrap_or_default().max(Decimal::ZERO)
}

/// Magento's carrier code for a carrier name (`custom` when it has none; the name goes in `title`).
pub fn carrier_code(carrier: &str) -> &'static str {
    let key = carrier_key(carrier);
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| key.starts_with(p));
    // USPS first: "usps" does not start with "ups", but "unitedstatespostal" would match nothing else.
    if starts(&["usps", "stamps", "unitedstatespostal"]) {
        "usps"
    } else if starts(&["ups", "unitedparcel"]) {
        "ups"
    } else if starts(&["fedex", "federalexpress"]) {
        "fedex"
    } else if starts(&["dhl"]) {
        "dhl"
    } else {
        "custom"
    }
}

/// The `/ship` track of a package: the configured code for its carrier (`mapped`), else the
/// built-in one. The title is what the admin and the customer see, so it names the carrier (and
/// service) even when the code is `custom`.
pub fn ship_track(tracking: &Tracking, mapped: Option<&str>) -> ShipTrack {
    let carrier = tracking.carrier.trim();
    let title = [Some(carrier), tracking.service.as_deref().map(str::trim)]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ShipTrack {
        track_number: tracking.number.as_str().to_owned(),
        title: if title.is_empty() { "Carrier".into() } else { title },
        carrier_code: mapped.unwrap_or_else(|| carrier_code(carrier)).to_owned(),
    }
}

/// What is still shippable per top-level order item (children of configurable or bundle items
/// ship through their parent, as `/ship` requires).
pub fn shippable(items: &[OrderItemWire]) -> BTreeMap<i64, Decimal> {
    items
        .iter()
        .filter(|i| i.parent_item_id.is_none())
        .filter_map(|i| Some((i.item_id?, remaining(i.qty_ordered, &[i.qty_canceled, i.qty_shipped]))))
        .collect()
}

/// The `/ship` items of one package, capped at what is left (`left` is updated). An item matches
/// its channel line id (Magento `item_id`) first, else its SKU (ignoring case); a child item ships
/// via its parent. A SKU on several order lines fills them in order. Returns the items and the
/// shortfalls (capped quantities), or an error naming the item.
pub fn ship_items(
    package: &[PackageItem],
    order_items: &[OrderItemWire],
    left: &mut BTreeMap<i64, Decimal>,
) -> Result<(Vec<ShipItem>, Vec<String>), String> {
    let top_of = |o: &OrderItemWire| o.parent_item_id.or(o.item_id);
    let mut out: Vec<ShipItem> = Vec::new();
    let mut capped = Vec::new();
    for item in package {
        let by_line = item.channel_line_id.as_deref().and_then(|l| l.trim().parse::<i64>().ok());
        let mut tops: Vec<i64> = Vec::new();
        match order_items.iter().find(|o| by_line.is_some() && o.item_id == by_line) {
            Some(line) => tops.extend(top_of(line)),
            None => {
                let sku = item.item_id.trim();
                for o in
                    order_items.iter().filter(|o| o.sku.as_deref().is_some_and(|s| s.trim().eq_ignore_ascii_case(sku)))
                {
                    if let Some(top) = top_of(o).filter(|t| !tops.contains(t)) {
                        tops.push(top);
                    }
                }
            }
        }
        if tops.is_empty() {
            return Err(format!("items[{}]: no item on the Magento order has this SKU or item_id", item.item_id));
        }
        let mut wanted = item.quantity;
        for top in tops {
            if wanted <= Decimal::ZERO {
                break;
            }
            let remaining = left.get(&top).copied().unwrap_or_default();
            let take = wanted.min(remaining);
            if take <= Decimal::ZERO {
                continue;
            }
            left.insert(top, remaining - take);
            wanted -= take;
            match out.iter_mut().find(|s| s.order_item_id == top) {
                Some(existing) => existing.qty += take,
                None => out.push(ShipItem { order_item_id: top, qty: take }),
            }
        }
        if wanted > Decimal::ZERO {
            capped.push(format!(
                "{}: {} of {} not shipped, the order has no more left",
                item.item_id, wanted, item.quantity
            ));
        }
    }
    Ok((out, capped))
}

/// A person's name as Magento's `firstname`/`lastname`: the first word, and the rest. Both are
/// required by Magento, so a one-word name gets `-` as its last name, and an empty one `-` as both.
pub fn split_name(name: &str) -> (String, String) {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.split_once(' ') {
        Some((first, rest)) => (first.to_owned(), rest.to_owned()),
        None if name.is_empty() => ("-".to_owned(), "-".to_owned()),
        None => (name, "-".to_owned()),
    }
}

fn some_text(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `street[]`: the address lines that are set.
fn street(address: &Address) -> Vec<String> {
    [Some(address.line1.as_str()), address.line2.as_deref()].into_iter().filter_map(some_text).collect()
}

/// The name on an address, else the buyer's.
fn address_names(address: &Address, fallback: (&str, &str)) -> (String, String) {
    if address.name.trim().is_empty() {
        (fallback.0.to_owned(), fallback.1.to_owned())
    } else {
        split_name(&address.name)
    }
}

/// Magento requires a telephone on every address; `-` stands in for none.
fn telephone(phones: &[Option<&String>]) -> String {
    phones.iter().find_map(|p| some_text(p.map(String::as_str))).unwrap_or_else(|| "-".to_owned())
}

/// `POST /V1/customers` for a buyer and its default (billing and shipping) address, in the
/// configured website. Names come from the buyer (else the address, else the company); no
/// password is sent (Magento e-mails the customer to set one, A.3).
pub fn customer_body(customer: &Customer, address: &Address, website_id: i64) -> Result<CustomerCreate, String> {
    let email = some_text(customer.email.as_deref())
        .or_else(|| some_text(address.email.as_deref()))
        .filter(|e| e.contains('@'))
        .ok_or("customer.email: required to create a Magento customer")?;
    let name = [Some(customer.name.as_str()), Some(address.name.as_str()), customer.company.as_deref()]
        .into_iter()
        .find_map(some_text)
        .unwrap_or_default();
    let (firstname, lastname) = split_name(&name);
    let (line_first, line_last) = address_names(address, (&firstname, &lastname));
    let addresses = if street(address).is_empty() {
        Vec::new()
    } else {
        vec![CustomerAddress {
            firstname: line_first,
            lastname: line_last,
            company: some_text(address.company.as_deref()).or_else(|| some_text(customer.company.as_deref())),
            street: street(address),
            city: address.city.trim().to_owned(),
            region: some_text(address.region.as_deref()).map(|r| RegionCode { region_code: r }),
            postcode: some_text(address.postal_code.as_deref()),
            country_id: address.country.trim().to_ascii_uppercase(),
            telephone: telephone(&[address.phone.as_ref(), customer.phone.as_ref()]),
            default_billing: true,
            default_shipping: true,
        }]
    };
    Ok(CustomerCreate { customer: NewCustomer { email, firstname, lastname, website_id, addresses } })
}

/// A Magento customer as the publish flow knows it (None without an id or email).
pub fn storefront_customer(wire: &CustomerWire) -> Option<StorefrontCustomer> {
    Some(StorefrontCustomer {
        id: Some(wire.id?.to_string()),
        group_id: wire.group_id,
        email: some_text(wire.email.as_deref())?,
        first_name: wire.firstname.clone().unwrap_or_default(),
        last_name: wire.lastname.clone().unwrap_or_default(),
    })
}

fn order_address(
    kind: &'static str,
    address: &Address,
    buyer: &StorefrontCustomer,
    other_phone: Option<&String>,
) -> OrderAddress {
    let (firstname, lastname) = address_names(address, (&buyer.first_name, &buyer.last_name));
    let region = some_text(address.region.as_deref());
    OrderAddress {
        address_type: kind,
        firstname,
        lastname,
        company: some_text(address.company.as_deref()),
        street: street(address),
        city: address.city.trim().to_owned(),
        region_code: region.clone(),
        region,
        postcode: some_text(address.postal_code.as_deref()),
        country_id: address.country.trim().to_ascii_uppercase(),
        telephone: telephone(&[address.phone.as_ref(), other_phone]),
        email: some_text(address.email.as_deref()).or_else(|| some_text(Some(&buyer.email))),
    }
}

/// The direct-route body (`POST /V1/orders`, A.1.1) of a draft: Magento stores it as sent
/// ("history mirror"), so every amount is the draft's, in the order and (at rate 1) the base
/// currency. Amounts in the draft are positive; the order's `discount_amount` goes negative, as
/// Magento stores it, the items' stay positive. Refused (naming the field) when an amount is in
/// another currency, a line has no SKU or quantity, or the totals do not add up to the cent:
/// subtotal = Σ row totals, grand total = subtotal − discount + shipping + tax.
pub fn order_body(draft: &ChannelOrderDraft, store_id: i64) -> Result<OrderCreate, String> {
    let currency = draft.currency;
    let amount = |field: &str, m: &Money| -> Result<rust_decimal::Decimal, String> {
        if m.currency != currency {
            return Err(format!("{field}: currency {} is not the order's {currency}", m.currency));
        }
        Ok(m.round_to_minor().amount)
    };
    if draft.lines.is_empty() {
        return Err("lines: the order has no lines".into());
    }
    if draft.erp_number.trim().is_empty() {
        return Err("erp_number: must not be empty".into());
    }
    if draft.customer.email.trim().is_empty() {
        return Err("customer.email: must not be empty".into());
    }
    let mut items = Vec::with_capacity(draft.lines.len());
    let mut rows = Decimal::ZERO;
    let mut qty = Decimal::ZERO;
    for (i, l) in draft.lines.iter().enumerate() {
        let field = |f: &str| format!("lines[{i}].{f}");
        if l.sku.trim().is_empty() {
            return Err(format!("{}: must not be empty", field("sku")));
        }
        if l.quantity <= Decimal::ZERO {
            return Err(format!("{}: {} is not a quantity", field("quantity"), l.quantity));
        }
        let price = amount(&field("unit_price"), &l.unit_price)?;
        let row_total = amount(&field("row_total"), &l.row_total)?;
        let discount = amount(&field("discount"), &l.discount)?.abs();
        let tax = amount(&field("tax"), &l.tax)?;
        let price_incl_tax = Money::new(price + tax / l.quantity, currency).round_to_minor().amount;
        rows += row_total;
        qty += l.quantity;
        items.push(OrderItemCreate {
            sku: l.sku.trim().to_owned(),
            name: some_text(Some(&l.name)).unwrap_or_else(|| l.sku.trim().to_owned()),
            product_type: "simple",
            qty_ordered: l.quantity,
            price,
            base_price: price,
            original_price: price,
            row_total,
            base_row_total: row_total,
            discount_amount: discount,
            base_discount_amount: discount,
            tax_amount: tax,
            base_tax_amount: tax,
            price_incl_tax,
            base_price_incl_tax: price_incl_tax,
            row_total_incl_tax: row_total + tax,
            base_row_total_incl_tax: row_total + tax,
        });
    }
    let subtotal = amount("subtotal", &draft.subtotal)?;
    let discount = amount("discount", &draft.discount)?.abs();
    let shipping = amount("shipping", &draft.shipping)?;
    let tax = amount("tax", &draft.tax)?;
    let grand_total = amount("grand_total", &draft.grand_total)?;
    if subtotal != rows {
        return Err(format!("subtotal: {subtotal} is not the sum of the lines' row totals {rows}"));
    }
    if subtotal - discount + shipping + tax != grand_total {
        return Err(format!(
            "grand_total: {grand_total} is not subtotal {subtotal} - discount {discount} + shipping {shipping} + tax {tax}"
        ));
    }
    let buyer = &draft.customer;
    let customer_id = match &buyer.id {
        Some(id) => {
            Some(id.trim().parse::<i64>().map_err(|_| format!("customer.id: {id:?} is not a Magento customer id"))?)
        }
        None => None,
    };
    let code = currency.code().to_owned();
    let billing = order_address("billing", &draft.bill_to, buyer, draft.ship_to.phone.as_ref());
    let shipping_address = order_address("shipping", &draft.ship_to, buyer, draft.bill_to.phone.as_ref());
    let status_histories = some_text(draft.comment.as_deref())
        .map(|comment| OrderHistory { comment, status: "pending", is_customer_notified: 0, is_visible_on_front: 0 })
        .into_iter()
        .collect();
    Ok(OrderCreate {
        entity: OrderEntity {
            store_id,
            base_currency_code: code.clone(),
            order_currency_code: code.clone(),
            global_currency_code: code.clone(),
            store_currency_code: code,
            base_to_global_rate: 1,
            base_to_order_rate: 1,
            state: "new",
            status: "pending",
            ext_order_id: draft.erp_number.trim().to_owned(),
            created_at: draft.placed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            customer_is_guest: u8::from(customer_id.is_none()),
            customer_id,
            // Guests are in group 0 (NOT LOGGED IN); a customer without a known group in 1 (General).
            customer_group_id: if customer_id.is_some() { buyer.group_id.unwrap_or(1) } else { 0 },
            customer_email: buyer.email.trim().to_owned(),
            customer_firstname: buyer.first_name.trim().to_owned(),
            customer_lastname: buyer.last_name.trim().to_owned(),
            subtotal,
            base_subtotal: subtotal,
            discount_amount: -discount,
            base_discount_amount: -discount,
            shipping_amount: shipping,
            base_shipping_amount: shipping,
            tax_amount: tax,
            base_tax_amount: tax,
            grand_total,
            base_grand_total: grand_total,
            total_qty_ordered: qty,
            total_due: grand_total,
            base_total_due: grand_total,
            items,
            billing_address: billing,
            payment: OrderPayment {
                method: draft.payment_method.trim().to_owned(),
                amount_ordered: grand_total,
                base_amount_ordered: grand_total,
            },
            extension_attributes: OrderExtension {
                shipping_assignments: vec![ShippingAssignment {
                    shipping: Shipping { address: shipping_address, method: draft.shipping_method.trim().to_owned() },
                }],
            },
            shipping_method: draft.shipping_method.trim().to_owned(),
            shipping_description: draft.shipping_title.trim().to_owned(),
            status_histories,
        },
    })
}

/// `/invoice` items for (SKU, quantity) lines of an ERP invoice: each SKU (ignoring case) fills
/// the order's items carrying it in order, a child item via its parent, each capped at what is
/// still to invoice (ordered − invoiced − canceled). Returns the items (none when everything is
/// invoiced already) and the shortfalls, or an error naming a SKU the order does not have.
pub fn invoice_items(
    lines: &[(String, Decimal)],
    order_items: &[OrderItemWire],
) -> Result<(Vec<ShipItem>, Vec<String>), String> {
    let mut left: BTreeMap<i64, Decimal> = order_items
        .iter()
        .filter(|i| i.parent_item_id.is_none())
        .filter_map(|i| Some((i.item_id?, remaining(i.qty_ordered, &[i.qty_invoiced, i.qty_canceled]))))
        .collect();
    let mut out: Vec<ShipItem> = Vec::new();
    let mut capped = Vec::new();
    for (sku, quantity) in lines {
        let sku = sku.trim();
        let mut tops: Vec<i64> = Vec::new();
        for o in order_items.iter().filter(|o| o.sku.as_deref().is_some_and(|s| s.trim().eq_ignore_ascii_case(sku))) {
            if let Some(top) = o.parent_item_id.or(o.item_id).filter(|t| !tops.contains(t)) {
                tops.push(top);
            }
        }
        if tops.is_empty() {
            return Err(format!("lines[{sku}]: no item on the Magento order has this SKU"));
        }
        let mut wanted = *quantity;
        for top in tops {
            let remaining = left.get(&top).copied().unwrap_or_default();
            let take = wanted.min(remaining);
            if take <= Decimal::ZERO {
                continue;
            }
            left.insert(top, remaining - take);
            wanted -= take;
            match out.iter_mut().find(|s| s.order_item_id == top) {
                Some(existing) => existing.qty += take,
                None => out.push(ShipItem { order_item_id: top, qty: take }),
            }
        }
        if wanted > Decimal::ZERO {
            capped.push(format!("{sku}: {wanted} of {quantity} not invoiced, the order has no more left to invoice"));
        }
    }
    Ok((out, capped))
}

/// The `/invoice` body: captured (the ERP holds the payment), no e-mail, the ERP invoice named in
/// an admin-only comment.
pub fn invoice_request(items: Vec<ShipItem>, erp_invoice: &str) -> InvoiceRequest {
    InvoiceRequest {
        capture: true,
        notify: false,
        items,
        comment: InvoiceComment {
            comment: format!("Acumatica invoice {}", erp_invoice.trim()),
            is_visible_on_front: 0,
        },
    }
}

/// One call on the way to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusStep {
    Unhold,
    Hold,
    Cancel,
    /// A comment carrying the status (custom statuses; since 2.4.7 it may not move the status).
    Comment,
}

/// The calls that take an order to `target`: none when it has that status already; `canceled`
/// → `/cancel`, `holded` → `/hold`; any other target on a held order first `/unhold` (which
/// restores the status it had before the hold: enough when that is the target); other targets
/// end with a comment carrying the status.
pub fn status_steps(order: &OrderWire, target: &str) -> Vec<StatusStep> {
    let same = |a: Option<&str>| a.is_some_and(|s| s.trim().eq_ignore_ascii_case(target.trim()));
    if same(order.status.as_deref()) {
        return Vec::new();
    }
    let held = same_text(order.state.as_deref(), "holded") || same_text(order.status.as_deref(), "holded");
    let target = target.trim();
    let mut steps = Vec::new();
    if target.eq_ignore_ascii_case("holded") {
        steps.push(StatusStep::Hold);
        return steps;
    }
    if held {
        steps.push(StatusStep::Unhold);
    }
    if target.eq_ignore_ascii_case("canceled") {
        steps.push(StatusStep::Cancel);
    } else if !(held && same(order.hold_before_status.as_deref())) {
        steps.push(StatusStep::Comment);
    }
    steps
}

fn same_text(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|s| s.trim().eq_ignore_ascii_case(b))
}

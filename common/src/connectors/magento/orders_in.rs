//! Storefront orders into the ERP (`OrderSource`): the order search by status with an
//! `updated_at` watermark, keyset paging on `entity_id`, the canonical mapping, and the
//! acknowledgement comment that shows the ERP order number on the Magento order.
//!
//! Calls per imported order: ⌈orders / page_size⌉ searches (whole orders come back, so no fetch),
//! one comment, and one status search per acknowledged batch (the comment endpoint sets the
//! status it is given, so the current one is read first).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use tracing::{debug, info, warn};

use super::client::{rejected, search_query, MagentoClient};
use super::config::MagentoImport;
use super::wire::{AddressWire, OrderStatusSearch, StoreOrderSearch, StoreOrderWire};
use super::{MagentoOrderId, VENDOR};
use crate::connectors::ConnectorError;
use crate::http::Idempotency;
use crate::model::{
    Address, ChannelOrderId, ConnectionId, Currency, Customer, Discount, ItemIdentifiers, Line, Money, Notes, Order,
    OrderSource as SourceName, Payment, ShippingCharge, TaxLine, Totals,
};
use crate::ports::{Acknowledgement, CreatedWindow, ListedOrder, OrderPage, OrderSource, PageToken};

/// Magento's wire datetime (UTC, §5.0 item 4).
pub(super) const MG_TIME: &str = "%Y-%m-%d %H:%M:%S";

/// The text the acknowledgement comment starts with; with the order's content digest after
/// `ref`, it tells the listing an order was imported as it is now.
const IMPORTED_MARK: &str = "Imported into the ERP as";

pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text.trim(), MG_TIME).ok().map(|t| t.and_utc())
}

pub(super) fn clean(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// Where a listing is: orders updated at or after `since`, with `entity_id` above `after`; `high`
/// is the latest `updated_at` seen so far in this pass (the next pass starts there, less the
/// overlap). Written `mg1|since|after|high` with Magento's time format (empty = unbounded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Position {
    pub(super) since: Option<DateTime<Utc>>,
    pub(super) after: i64,
    pub(super) high: Option<DateTime<Utc>>,
}

impl Position {
    pub(super) fn parse(token: &PageToken) -> Option<Self> {
        let mut parts = token.0.split('|');
        if parts.next()? != "mg1" {
            return None;
        }
        let time = |p: Option<&str>| -> Option<Option<DateTime<Utc>>> {
            match p? {
                "" => Some(None),
                t => parse_time(t).map(Some),
            }
        };
        let since = time(parts.next())?;
        let after = parts.next()?.parse::<i64>().ok().filter(|a| *a >= 0)?;
        let high = time(parts.next())?;
        parts.next().is_none().then_some(Self { since, after, high })
    }

    /// The search of one keyset page: `filters`, `entity_id gt after` and `updated_at gteq since`,
    /// sorted by `entity_id`, always page 1 of `page_size`.
    pub(super) fn search(&self, filters: &[(&str, &str, &str)], page_size: u32) -> Vec<(String, String)> {
        let after = self.after.to_string();
        let since = self.since.map(|t| t.format(MG_TIME).to_string());
        let mut all = filters.to_vec();
        all.push(("entity_id", "gt", &after));
        if let Some(since) = &since {
            all.push(("updated_at", "gteq", since));
        }
        let size = page_size.to_string();
        search_query(
            &all,
            &[
                ("searchCriteria[sortOrders][0][field]", "entity_id"),
                ("searchCriteria[sortOrders][0][direction]", "ASC"),
                ("searchCriteria[pageSize]", &size),
                ("searchCriteria[currentPage]", "1"),
            ],
        )
    }

    /// After a page that brought `fresh` ids not seen before (the highest `last`, the latest
    /// `updated_at` so far `high`): the next page's token while a full page may have more
    /// (`total` counts every match of the query), else none and where the next pass starts (the
    /// watermark less the overlap).
    pub(super) fn after_page(
        &self,
        last: i64,
        high: Option<DateTime<Utc>>,
        fresh: usize,
        total: Option<i64>,
        page_size: u32,
        overlap_minutes: u32,
    ) -> (Option<PageToken>, Option<PageToken>) {
        let more = total.is_none_or(|total| total > fresh as i64);
        if fresh >= page_size as usize && more {
            return (Some(Position { since: self.since, after: last, high }.token()), None);
        }
        let overlap = Duration::minutes(i64::from(overlap_minutes));
        (None, Some(Position { since: high.map(|h| h - overlap).or(self.since), after: 0, high: None }.token()))
    }

    pub(super) fn token(&self) -> PageToken {
        let time = |t: &Option<DateTime<Utc>>| t.map(|t| t.format(MG_TIME).to_string()).unwrap_or_default();
        PageToken(format!("mg1|{}|{}|{}", time(&self.since), self.after, time(&self.high)))
    }
}

/// The canonical order of a storefront order. Top-level rows are the lines: a configurable
/// product's parent row carries the price and the chosen simple SKU, its child row only repeats
/// the SKU at zero price (§5.3).
pub(super) fn to_order(
    wire: &StoreOrderWire,
    connection: &ConnectionId,
    import: &MagentoImport,
) -> Result<Order, String> {
    let id = wire.entity_id.ok_or("order without entity_id")?;
    let channel_order_id = MagentoOrderId::new(id).map_err(|e| e.to_string())?.channel_order_id();
    let at = |field: &str| format!("order {id}: {field}");
    let currency = Currency::parse(wire.order_currency_code.as_deref().unwrap_or("USD").trim())
        .map_err(|e| format!("{}: {e}", at("order_currency_code")))?;
    let money = |d: Decimal| Money::new(d, currency);
    let created = wire.created_at.as_deref().ok_or_else(|| at("created_at is missing"))?;
    let placed_at =
        parse_time(created).ok_or_else(|| format!("{}: {created:?} is not YYYY-MM-DD HH:MM:SS", at("created_at")))?;
    let mut lines = Vec::new();
    for (n, item) in wire.items.iter().filter(|i| i.parent_item_id.is_none()).enumerate() {
        let sku = clean(&item.sku).ok_or_else(|| at(&format!("items[{n}].sku is missing")))?;
        if item.qty_ordered <= Decimal::ZERO {
            return Err(at(&format!("items[{n}].qty_ordered {} is not positive", item.qty_ordered)));
        }
        lines.push(Line {
            channel_line_id: item
                .item_id
                .map(|i| i.to_string())
                .ok_or_else(|| at(&format!("items[{n}].item_id is missing")))?,
            identifiers: ItemIdentifiers { sku: Some(sku.clone()), ..Default::default() },
            description: clean(&item.name).unwrap_or(sku),
            quantity: item.qty_ordered,
            unit_price: money(item.price),
            discount: money(item.discount_amount.abs()),
            tax: money(item.tax_amount),
            note: None,
        });
    }
    if lines.is_empty() {
        return Err(at("items: no product lines"));
    }
    let line_discounts: Decimal = lines.iter().map(|l| l.discount.amount).sum();
    // Magento keeps one discount for the whole order (its lines' included), negative.
    let order_discount = (wire.discount_amount.unwrap_or_default().abs() - line_discounts).max(Decimal::ZERO);
    let shipping_amount = wire.shipping_amount.unwrap_or_default();
    let tax = wire.tax_amount.unwrap_or_default();
    let grand_total = wire.grand_total.ok_or_else(|| at("grand_total is missing"))?;
    let lines_net: Decimal = lines.iter().map(|l| l.unit_price.amount * l.quantity - l.discount.amount).sum();
    let extension = wire.extension_attributes.as_ref();
    let shipping = extension.and_then(|e| e.shipping_assignments.first()).and_then(|a| a.shipping.as_ref());
    let bill_wire = wire.billing_address.as_ref().ok_or_else(|| at("billing_address is missing"))?;
    let bill_to = address(bill_wire, wire.customer_email.as_deref());
    // A virtual order has no shipping address: the billing address stands in.
    let ship_to = shipping
        .and_then(|s| s.address.as_ref())
        .map(|a| address(a, wire.customer_email.as_deref()))
        .unwrap_or_else(|| bill_to.clone());
    let name = [clean(&wire.customer_firstname), clean(&wire.customer_lastname)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let guest = wire.customer_is_guest.unwrap_or(0) != 0;
    let paid = wire.payment.as_ref().and_then(|p| p.amount_paid).filter(|a| *a > Decimal::ZERO);
    Ok(Order {
        connection: connection.clone(),
        channel_order_id,
        display_number: clean(&wire.increment_id).unwrap_or_else(|| id.to_string()),
        order_source: SourceName(import.order_source.clone()),
        channel_status: clean(&wire.status).unwrap_or_default(),
        placed_at,
        requested_delivery: None,
        promised_ship_by: None,
        currency,
        customer: Customer {
            channel_customer_id: wire.customer_id.filter(|c| *c > 0 && !guest).map(|c| c.to_string()),
            email: clean(&wire.customer_email),
            name: if name.is_empty() { bill_to.name.clone() } else { name },
            company: bill_to.company.clone(),
            phone: bill_to.phone.clone(),
        },
        bill_to,
        ship_to,
        lines,
        payments: match (paid, wire.payment.as_ref()) {
            (Some(amount), Some(p)) => vec![Payment {
                method: clean(&p.method).unwrap_or_default(),
                amount: money(amount),
                reference: clean(&p.last_trans_id),
                paid_at: Some(placed_at),
            }],
            _ => Vec::new(),
        },
        shipping: ShippingCharge {
            method: shipping.and_then(|s| clean(&s.method)).unwrap_or_default(),
            carrier: clean(&wire.shipping_description),
            amount: money(shipping_amount),
        },
        order_discounts: if order_discount.is_zero() {
            Vec::new()
        } else {
            vec![Discount {
                code: clean(&wire.discount_description),
                description: clean(&wire.discount_description).unwrap_or_else(|| "Order discount".into()),
                amount: money(order_discount),
            }]
        },
        taxes: if tax.is_zero() {
            Vec::new()
        } else {
            vec![TaxLine {
                name: "Tax".into(),
                rate: None,
                taxable: money(lines_net - order_discount),
                amount: money(tax),
            }]
        },
        totals: Totals {
            subtotal: money(wire.subtotal.unwrap_or_default()),
            discount: money(order_discount),
            shipping: money(shipping_amount),
            tax: money(tax),
            grand_total: money(grand_total),
        },
        notes: Notes {
            customer_instructions: clean(&wire.customer_note),
            gift_message: extension.and_then(|e| e.gift_message.as_ref()).and_then(|g| clean(&g.message)),
            internal: None,
        },
        tags: BTreeSet::new(),
    })
}

pub(super) fn address(wire: &AddressWire, order_email: Option<&str>) -> Address {
    let name = [clean(&wire.firstname), clean(&wire.lastname)].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let mut street = wire.street.iter().map(|s| s.trim()).filter(|s| !s.is_empty());
    let line1 = street.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = street.collect();
    Address {
        name,
        company: clean(&wire.company),
        line1,
        line2: (!rest.is_empty()).then(|| rest.join(", ")),
        city: clean(&wire.city).unwrap_or_default(),
        region: clean(&wire.region_code).or_else(|| clean(&wire.region)),
        postal_code: clean(&wire.postcode),
        country: clean(&wire.country_id).unwrap_or_default(),
        phone: clean(&wire.telephone),
        email: clean(&wire.email).or_else(|| order_email.map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned)),
    }
}

/// The acknowledgement comment of an imported order: the ERP number for store staff, the content
/// digest for the listing.
fn imported_comment(erp: &impl std::fmt::Display, order: &ChannelOrderId, digest: Option<&str>) -> String {
    let reference = digest.map(|d| format!(", ref {d}")).unwrap_or_default();
    format!("{IMPORTED_MARK} {erp} by Orderbridge (Import ID {order}{reference}).")
}

/// True when a comment on the order says it was imported with exactly this content.
fn imported_as_is(wire: &StoreOrderWire, digest: &str) -> bool {
    let reference = format!("ref {digest})");
    wire.status_histories
        .iter()
        .filter_map(|h| h.comment.as_deref())
        .any(|c| c.starts_with(IMPORTED_MARK) && c.contains(&reference))
}

impl MagentoClient {
    fn import_settings(&self, operation: &'static str) -> Result<&MagentoImport, ConnectorError> {
        self.config()
            .import
            .as_ref()
            .ok_or_else(|| rejected(operation, "the connection has no [connection.settings.import]".into()))
    }

    /// Current statuses of a batch of orders: one search, `fields` trimmed to what is read.
    async fn statuses_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, String>, ConnectorError> {
        const OP: &str = "read order statuses";
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let size = ids.len().to_string();
        let query = search_query(
            &[("entity_id", "in", &list)],
            &[
                ("searchCriteria[pageSize]", &size),
                ("searchCriteria[currentPage]", "1"),
                ("fields", "items[entity_id,status]"),
            ],
        );
        let url = self.url("orders");
        let found: OrderStatusSearch =
            self.call(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;
        Ok(found.items.into_iter().filter_map(|o| Some((o.entity_id?, o.status?))).collect())
    }
}

#[async_trait]
impl OrderSource for MagentoClient {
    fn connection(&self) -> &ConnectionId {
        MagentoClient::connection(self)
    }

    /// `GET /V1/orders` with `status in (…)`, `updated_at gteq since`, `entity_id gt after`,
    /// `created_at gteq created_from`, `ext_order_id null`, sorted by `entity_id` ASC, always
    /// `currentPage=1` (keyset paging: past the last page Magento repeats it, §5.0 item 8, and
    /// acknowledged orders do not shift later pages). Orders whose comments say they were imported
    /// with their present content are left out, so an acknowledgement (which updates the order)
    /// does not list it again.
    async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        const OP: &str = "list orders";
        let import = self.import_settings(OP)?;
        let position = match page {
            None => Position::default(),
            Some(token) => Position::parse(token).ok_or_else(|| {
                rejected(
                    OP,
                    format!("page token {:?} is not one this client issued; clear the connection's cursor", token.0),
                )
            })?,
        };
        let statuses = import.statuses.join(",");
        let created = import.created_from.map(|d| format!("{d} 00:00:00"));
        let mut filters = vec![("status", "in", statuses.as_str())];
        if let Some(created) = &created {
            filters.push(("created_at", "gteq", created));
        }
        if import.skip_external_orders {
            filters.push(("ext_order_id", "null", "1"));
        }
        let query = position.search(&filters, self.config().page_size);
        let url = self.url("orders");
        let found: StoreOrderSearch =
            self.call(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;

        let connection = MagentoClient::connection(self);
        let (mut orders, mut last, mut high, mut fresh) = (Vec::new(), position.after, position.high, 0usize);
        let mut done_already = 0usize;
        for wire in &found.items {
            let Some(id) = wire.entity_id.filter(|i| *i > position.after) else { continue };
            let Ok(order_id) = MagentoOrderId::new(id) else { continue };
            fresh += 1;
            last = last.max(id);
            high = high.max(wire.updated_at.as_deref().and_then(parse_time));
            if import.skip_external_orders && clean(&wire.ext_order_id).is_some() {
                continue;
            }
            match to_order(wire, connection, import) {
                Ok(order) if imported_as_is(wire, &order.content_digest()) => done_already += 1,
                Ok(order) => orders.push(ListedOrder::Whole(Box::new(order))),
                // The import reads it again and records why it cannot be imported.
                Err(detail) => {
                    warn!(connection = %connection, order = id, %detail, "Listed order does not map; the import records the reason.");
                    orders.push(ListedOrder::Reference {
                        id: order_id.channel_order_id(),
                        display_number: clean(&wire.increment_id).unwrap_or_else(|| id.to_string()),
                    })
                }
            }
        }
        debug!(connection = %connection, listed = orders.len(), done_already, "Magento order page read.");
        // A full page of ids not seen before may have more; anything else (Magento repeating
        // the last page included) ends the pass.
        let (next, restart) =
            position.after_page(last, high, fresh, found.total_count, self.config().page_size, import.overlap_minutes);
        Ok(OrderPage { orders, next, restart })
    }

    /// `GET /V1/orders` with `created_at gteq from`, `created_at lt to`, the configured statuses
    /// and (`skip_external_orders`) `ext_order_id null`, keyset-paged on `entity_id` like the
    /// listing of new orders, but without its `updated_at` watermark and without leaving out the
    /// orders whose comments say they were imported (a backfill decides by the bindings).
    async fn list_orders_created(
        &self,
        window: &CreatedWindow,
        page: Option<&PageToken>,
    ) -> Result<OrderPage, ConnectorError> {
        const OP: &str = "list orders by creation date";
        let import = self.import_settings(OP)?;
        let after = match page {
            None => 0,
            Some(t) => {
                t.0.strip_prefix("mgw1|").and_then(|a| a.parse::<i64>().ok()).filter(|a| *a >= 0).ok_or_else(|| {
                    rejected(OP, format!("page token {:?} is not one this client issued for a backfill", t.0))
                })?
            }
        };
        let statuses = import.statuses.join(",");
        let from = window.from.format(MG_TIME).to_string();
        let to = window.to.format(MG_TIME).to_string();
        let mut filters = vec![
            ("status", "in", statuses.as_str()),
            ("created_at", "gteq", from.as_str()),
            ("created_at", "lt", to.as_str()),
        ];
        if import.skip_external_orders {
            filters.push(("ext_order_id", "null", "1"));
        }
        let position = Position { since: None, after, high: None };
        let query = position.search(&filters, self.config().page_size);
        let url = self.url("orders");
        let found: StoreOrderSearch =
            self.call(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;
        let connection = MagentoClient::connection(self);
        let (mut orders, mut last, mut fresh) = (Vec::new(), after, 0usize);
        for wire in &found.items {
            let Some(id) = wire.entity_id.filter(|i| *i > after) else { continue };
            let Ok(order_id) = MagentoOrderId::new(id) else { continue };
            fresh += 1;
            last = last.max(id);
            if import.skip_external_orders && clean(&wire.ext_order_id).is_some() {
                continue;
            }
            match to_order(wire, connection, import) {
                Ok(order) => orders.push(ListedOrder::Whole(Box::new(order))),
                Err(_) => orders.push(ListedOrder::Reference {
                    id: order_id.channel_order_id(),
                    display_number: clean(&wire.increment_id).unwrap_or_else(|| id.to_string()),
                }),
            }
        }
        // Past the last page Magento repeats it; ids not above `after` end the walk.
        let next = (fresh >= self.config().page_size as usize).then(|| PageToken(format!("mgw1|{last}")));
        Ok(OrderPage { orders, next, restart: None })
    }

    /// `GET /V1/orders/{id}`.
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        const OP: &str = "get order";
        let import = self.import_settings(OP)?;
        let raw = MagentoOrderId::of(id).ok_or_else(|| rejected(OP, format!("{id} is not a Magento order")))?;
        let url = self.url(&format!("orders/{}", raw.get()));
        let wire: StoreOrderWire = self.call(OP, Idempotency::Safe, |c| c.get(&url)).await?.json(VENDOR, OP)?;
        to_order(&wire, MagentoClient::connection(self), import).map_err(|detail| ConnectorError::Unmappable {
            vendor: VENDOR,
            operation: OP,
            detail,
        })
    }

    /// A comment per order, with its current status (read for the batch in one search): the ERP
    /// order number and the content digest when imported, the reason when the import failed.
    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        let ids: Vec<i64> =
            acks.iter().filter_map(|a| MagentoOrderId::of(a.order()).map(MagentoOrderId::get)).collect();
        if ids.is_empty() {
            return Ok(acks.iter().map(|a| a.order().clone()).collect());
        }
        let statuses = self.statuses_of(&ids).await?;
        let mut missed = Vec::new();
        for ack in acks {
            let Some(id) = MagentoOrderId::of(ack.order()).map(MagentoOrderId::get) else {
                missed.push(ack.order().clone());
                continue;
            };
            let Some(status) = statuses.get(&id) else {
                warn!(connection = %MagentoClient::connection(self), order = id, "Order not found for its acknowledgement.");
                missed.push(ack.order().clone());
                continue;
            };
            let comment = match ack {
                Acknowledgement::Imported { order, erp, digest, remark } => {
                    let comment = imported_comment(erp, order, digest.as_deref());
                    match remark {
                        Some(remark) => format!("{comment} {remark}"),
                        None => comment,
                    }
                }
                Acknowledgement::Failed { reason, .. } => format!("Orderbridge could not import this order: {reason}"),
            };
            if let Err(e) = self.comment(id, &comment, status).await {
                warn!(connection = %MagentoClient::connection(self), order = id, error = %e, "Could not comment on the order.");
                missed.push(ack.order().clone());
            }
        }
        info!(connection = %MagentoClient::connection(self), acknowledged = acks.len() - missed.len(), missed = missed.len(), "Magento orders acknowledged.");
        Ok(missed)
    }
}

#[cfg(test)]
#[path = "orders_in_tests.rs"]
mod tests;

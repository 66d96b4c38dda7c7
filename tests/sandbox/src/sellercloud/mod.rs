//! Sellercloud REST simulator: `POST /api/token`, order search with the documented `model.*`
//! filters and paging (max 50 per page), order detail in the shape of the community DTO, bulk
//! SetExported, StatusCode, shipping/tracking updates that mark the order fully shipped, notes,
//! the ProfitAndLoss block with marketplace fees, and the bulk `POST Orders/ProfitAndLoss`
//! ([`ScPnl`]). Paths are served under both `/api/...` and
//! `/rest/api/...`, case-insensitively (ASP.NET routing).

mod api;
mod pnl;
mod sim;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::SandboxConfig;
use crate::core::{num, num_dp};
use crate::seed::{Channel, GenOrder, SeedData};

pub use api::{control_router, lowercase_path, router, ScOrderUpdate};
pub use pnl::{ScPnl, ScPnlUpdate, PNL_MAX_ORDERS};
pub use sim::Sim;

/// Sellercloud order status codes [SC8].
pub const STATUS_CODES: &[(&str, i64)] = &[
    ("Cancelled", -1),
    ("Canceled", -1),
    ("ShoppingCart", 1),
    ("InProcess", 2),
    ("Completed", 3),
    ("ProblemOrder", 100),
    ("OnHold", 200),
    ("Quote", 300),
    ("Void", 999),
];

/// `DropShipStatusType` [SC16]: the names `model.dropshipStatus` takes, with their codes.
pub const DROPSHIP_STATUSES: &[(&str, i64)] = &[
    ("None", 0),
    ("Pending", 1),
    ("Requested", 2),
    ("Acknowledged", 3),
    ("Processed", 4),
    ("PartialProcessed", 5),
    ("Cancelled", 6),
    ("Canceled", 6),
    ("Invalid", 7),
];

/// The dropship status of a seeded order, spread deterministically by its ID: most orders are
/// not dropshipped (None); one in ten each is Pending, Requested, Processed and Cancelled.
pub fn seeded_dropship_status(id: i64) -> i64 {
    match id.rem_euclid(10) {
        6 => 1,
        7 => 2,
        8 => 4,
        9 => 6,
        _ => 0,
    }
}

/// A shipped package with tracking.
#[derive(Clone, Debug, Serialize)]
pub struct ScPackage {
    pub id: i64,
    pub tracking_number: String,
    pub carrier: String,
    pub service: String,
    pub ship_date: NaiveDateTime,
    pub cost: Option<Decimal>,
}

/// An order note.
#[derive(Clone, Debug, Serialize)]
pub struct ScNote {
    pub note_id: i64,
    pub category: i64,
    pub message: String,
    pub created: NaiveDateTime,
}

/// One Sellercloud order: generated content plus the mutable workflow state.
#[derive(Clone, Debug, Serialize)]
pub struct ScOrder {
    pub id: i64,
    pub gen: GenOrder,
    pub item_ids: Vec<i64>,
    pub status_code: i64,
    pub payment_status: i64,
    pub shipping_status: i64,
    /// `Statuses.DropshipStatus` (`DropShipStatusType` code).
    pub dropship_status: i64,
    pub is_exported: bool,
    /// Account-local, offset-less times (the wire format).
    pub created_on: NaiveDateTime,
    pub last_updated: NaiveDateTime,
    pub ship_date: Option<NaiveDateTime>,
    pub carrier: String,
    pub service: String,
    pub packages: Vec<ScPackage>,
    pub customer_id: i64,
    /// Fees and settlement state behind `Orders/ProfitAndLoss`.
    pub pnl: ScPnl,
}

#[derive(Debug, Clone)]
pub(crate) struct ScToken {
    pub user: String,
    pub expires: DateTime<Utc>,
}

/// In-memory Sellercloud account.
#[derive(Debug)]
pub struct ScState {
    pub orders: BTreeMap<i64, ScOrder>,
    pub notes: BTreeMap<i64, Vec<ScNote>>,
    pub(crate) tokens: HashMap<String, ScToken>,
    pub tz: Tz,
    next_order_id: i64,
    next_item_id: i64,
    next_note_id: i64,
    next_package_id: i64,
    pub(crate) on_demand: usize,
}

impl ScState {
    pub fn seeded(cfg: &SandboxConfig, data: &SeedData) -> Self {
        let mut s = Self {
            orders: BTreeMap::new(),
            notes: BTreeMap::new(),
            tokens: HashMap::new(),
            tz: cfg.sellercloud_time_zone,
            next_order_id: 5_500_001,
            next_item_id: 900_001,
            next_note_id: 70_001,
            next_package_id: 40_001,
            on_demand: 0,
        };
        for g in &data.sellercloud {
            // Spread the workflow states deterministically over the seeded orders.
            let (status, exported, shipped) = match g.status_roll {
                0..=64 => (2, false, false),
                65..=69 => (2, true, false),
                70..=84 => (3, true, true),
                85..=89 => (200, false, false),
                90..=93 => (-1, false, false),
                94..=96 => (100, false, false),
                _ => (1, false, false),
            };
            let id = s.insert(g.clone(), status, exported);
            if let Some(o) = s.orders.get_mut(&id) {
                o.dropship_status = seeded_dropship_status(id);
            }
            if shipped {
                let o = s.orders.get(&id).map(|o| (o.created_on, o.gen.carrier, o.gen.ship_service));
                if let Some((created, carrier, service)) = o {
                    let pid = s.next_package_id;
                    s.next_package_id += 1;
                    if let Some(o) = s.orders.get_mut(&id) {
                        let when = created + chrono::Duration::hours(20);
                        o.shipping_status = 3;
                        o.ship_date = Some(when);
                        o.packages.push(ScPackage {
                            id: pid,
                            tracking_number: format!("1Z999AA1{:010}", id),
                            carrier: carrier.to_string(),
                            service: service.to_string(),
                            ship_date: when,
                            cost: None,
                        });
                    }
                }
            }
        }
        s
    }

    /// Insert a generated order; returns its Sellercloud ID.
    pub fn insert(&mut self, gen: GenOrder, status_code: i64, is_exported: bool) -> i64 {
        let id = self.next_order_id;
        self.next_order_id += 1;
        let item_ids = gen
            .lines
            .iter()
            .map(|_| {
                let i = self.next_item_id;
                self.next_item_id += 1;
                i
            })
            .collect();
        let created_on = gen.created.with_timezone(&self.tz).naive_local();
        let last_updated = gen.modified.with_timezone(&self.tz).naive_local();
        if let Some(instr) = &gen.instructions {
            let nid = self.next_note_id;
            self.next_note_id += 1;
            self.notes.entry(id).or_default().push(ScNote {
                note_id: nid,
                category: 1,
                message: instr.clone(),
                created: created_on,
            });
        }
        let customer_id = 200_000 + gen.buyer.index as i64;
        self.orders.insert(
            id,
            ScOrder {
                id,
                item_ids,
                status_code,
                payment_status: if status_code == 1 { 10 } else { 30 },
                shipping_status: 1,
                dropship_status: 0,
                is_exported,
                created_on,
                last_updated,
                ship_date: None,
                carrier: gen.carrier.to_string(),
                service: gen.ship_service.to_string(),
                packages: Vec::new(),
                customer_id,
                pnl: ScPnl::seeded(&gen),
                gen,
            },
        );
        id
    }

    pub(crate) fn add_note(&mut self, order_id: i64, category: i64, message: String, at: NaiveDateTime) -> i64 {
        let nid = self.next_note_id;
        self.next_note_id += 1;
        self.notes.entry(order_id).or_default().push(ScNote { note_id: nid, category, message, created: at });
        nid
    }

    pub(crate) fn next_package(&mut self) -> i64 {
        let p = self.next_package_id;
        self.next_package_id += 1;
        p
    }

    /// Account-local "now".
    pub fn now_local(&self) -> NaiveDateTime {
        Utc::now().with_timezone(&self.tz).naive_local()
    }

    /// IDs of orders not yet exported (the import queue).
    pub fn unexported_ids(&self) -> Vec<i64> {
        self.orders.values().filter(|o| !o.is_exported).map(|o| o.id).collect()
    }
}

/// .NET-style offset-less datetime.
pub(crate) fn dt(n: &NaiveDateTime) -> String {
    n.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

/// Money as the community DTO types it: a numeric string.
fn ms(d: Decimal) -> Value {
    Value::String(crate::core::fixed(d, 2))
}

fn commission_rate(c: Channel) -> Decimal {
    match c {
        Channel::Amazon => Decimal::new(15, 2),
        Channel::Ebay => Decimal::new(129, 3),
        Channel::Walmart => Decimal::new(15, 2),
        Channel::Website => Decimal::ZERO,
    }
}

impl ScOrder {
    /// Fields shared by the list summary and the detail.
    pub fn summary_json(&self) -> Value {
        let g = &self.gen;
        json!({
            "ID": self.id,
            "OrderID": self.id,
            "OrderSourceOrderID": g.channel_order_id,
            "OrderSource": g.channel.sellercloud_source(),
            "StatusCode": self.status_code,
            "CompanyId": g.company_id,
            "CustomerEmail": g.buyer.email,
            "CreatedOn": dt(&self.created_on),
            "TimeOfOrder": dt(&self.created_on),
            "LastUpdated": dt(&self.last_updated),
            "IsExported": self.is_exported,
            "ShippingStatus": self.shipping_status,
            "PaymentStatus": self.payment_status,
            "DropshipStatus": self.dropship_status,
            "GrandTotal": ms(g.grand_total()),
        })
    }

    /// The full order as `GET /api/Orders/{id}` returns it (community DTO shape).
    pub fn detail_json(&self) -> Value {
        let g = &self.gen;
        let a = &g.buyer.address;
        let address = |is_ship: bool| {
            json!({
                "ID": self.id * 10 + if is_ship { 1 } else { 2 },
                "FirstName": a.first_name, "MiddleInitial": "", "LastName": a.last_name,
                "CompanyName": a.company, "StreetLine1": a.line1, "StreetLine2": a.line2,
                "City": a.city, "StateName": a.state, "StateCode": a.state, "PostalCode": a.postal,
                "CountryName": a.country, "CountryCode": a.country, "PhoneNumber": a.phone,
                "EmailAddress": g.buyer.email, "AddressClassification": 0,
                "IsShippingAddress": is_ship, "IsBillingAddress": !is_ship,
            })
        };
        let items: Vec<Value> = g
            .lines
            .iter()
            .zip(&self.item_ids)
            .map(|(l, id)| {
                json!({
                    "ID": id, "OrderID": self.id, "ProductID": l.sku, "ProductIDOriginal": l.sku,
                    "ProductIDRequested": l.sku, "DisplayName": l.name, "Qty": l.qty,
                    "SitePrice": ms(l.unit_price), "AdjustedSitePrice": ms(l.unit_price),
                    "LineTotal": ms(l.net()), "DiscountValue": ms(l.discount), "DiscountType": 0,
                    "LineTaxTotal": ms(l.tax), "ShippingCost": ms(Decimal::ZERO),
                    "ShippingTax": ms(Decimal::ZERO), "TaxExempt": false, "WarehouseID": 1,
                    "QtyReturned": 0, "QtyPicked": 0, "BackOrderQty": 0, "Notes": "",
                    "BundleItems": [], "EBayItemID": "", "UPC": l.upc,
                })
            })
            .collect();
        let grand = g.grand_total();
        let item_cost: Decimal =
            g.lines.iter().map(|l| (l.unit_price * Decimal::new(6, 1)).round_dp(2) * Decimal::from(l.qty)).sum();
        let commission = (grand * commission_rate(g.channel)).round_dp(2);
        let transaction_fee = if g.channel == Channel::Website {
            (grand * Decimal::new(29, 3)).round_dp(2) + Decimal::new(30, 2)
        } else {
            Decimal::ZERO
        };
        let ship_cost = if g.shipping.is_zero() { Decimal::new(650, 2) } else { g.shipping };
        let profit = grand - g.tax() - item_cost - commission - transaction_fee - ship_cost;
        let pl_pairs = [
            ("ItemCost", item_cost),
            ("PostingFee", Decimal::ZERO),
            ("Comission", commission),
            ("TransactionFee", transaction_fee),
            ("ShippingCost", ship_cost),
            ("Tax", g.tax()),
            ("Promotion", g.order_discount + g.line_discounts()),
            ("Rebates", Decimal::ZERO),
            ("OrderCost", item_cost + ship_cost),
            ("Adjustments", Decimal::ZERO),
            ("DropShipFee", Decimal::ZERO),
            ("ShippingClaim", Decimal::ZERO),
            ("ProfitLoss", profit),
        ];
        let mut pl = serde_json::Map::new();
        for (k, v) in pl_pairs {
            pl.insert(k.to_string(), num_dp(v, 2));
            pl.insert(format!("{k}Usd"), num_dp(v, 2));
        }
        pl.insert("CurrencyCode".into(), json!(0));
        pl.insert("ProfitLossForParentOrder".into(), num_dp(profit, 2));
        let packages: Vec<Value> = self
            .packages
            .iter()
            .map(|p| {
                json!({
                    "ID": p.id, "TrackingNumber": p.tracking_number, "Length": 0, "Width": 0,
                    "Height": 0, "Weight": 0, "ShippingCost": p.cost.map(num).unwrap_or(json!(0)),
                    "FinalShippingFee": p.cost.map(num).unwrap_or(json!(0)), "DeliveryStatus": 0,
                    "DeclaredValue": 0, "EstimatedDeliveryDate": null, "DeliveryDate": null,
                    "Carrier": p.carrier, "ShippingMethod": p.service, "ShipDate": dt(&p.ship_date),
                    "Items": g.lines.iter().zip(&self.item_ids).map(|(l, id)| json!({
                        "OrderItemID": id, "ProductID": l.sku, "Qty": l.qty, "PackageID": p.id,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let rush = g.prime || g.priority != "Standard";
        let mut custom = vec![json!({ "ColumnName": "Tags", "Value": g.tags().join(",") })];
        if g.prime {
            custom.push(json!({ "ColumnName": "IsPrime", "Value": true }));
        }
        let rate_to_usd = g.rate_to_usd;
        let rate_from_usd = if rate_to_usd.is_zero() { Decimal::ONE } else { (Decimal::ONE / rate_to_usd).round_dp(6) };
        json!({
            "ID": self.id,
            "OrderID": self.id,
            "OrderSourceOrderID": g.channel_order_id,
            "OrderSource": g.channel.sellercloud_source(),
            "OrderSubType": 0,
            "StatusCode": self.status_code,
            "PaymentStatus": self.payment_status,
            "TimeOfOrder": dt(&self.created_on),
            "CreatedOn": dt(&self.created_on),
            "LastUpdated": dt(&self.last_updated),
            "OrderSiteCode": g.company_id,
            "DestinationCountry": a.country,
            "IsWholeSaleOrder": false,
            "RmaID": 0,
            "StoreType": 0,
            "MostExpensiveSKU": g.lines.iter().max_by_key(|l| l.unit_price).map(|l| l.sku.clone()),
            "CurrencyRateFromUSD": num(rate_from_usd),
            "CurrencyRateToUSD": num(rate_to_usd),
            "OrderCurrencyCode": g.currency,
            "OrderDetails": {
                "CompanyId": g.company_id, "ClientId": 0, "SiteCode": g.company_id,
                "OrderSource": g.channel.sellercloud_source(),
                "OrderSourceOrderId": g.channel_order_id, "OrderSourceOrderIdUrl": "",
                "EbaySellingManagerSalesRecordNumber": "",
                "CustomerEmail": g.buyer.email, "CustomerID": self.customer_id,
                "SalesRep1": "", "SalesRep2": "", "SalesRep3": "",
                "PromiseDate": null, "EstimatedOrderDeliveryDate": null,
                "CurrencyCode": 0, "OrderDate": dt(&self.created_on),
                "CreatedOn": dt(&self.created_on), "IsOrderLocked": false, "LockedByUser": "",
            },
            "Statuses": {
                "OrderStatus": self.status_code, "ShippingStatus": self.shipping_status,
                "PaymentStatus": self.payment_status, "DropshipStatus": self.dropship_status,
                "CustomerServiceStatus": 0, "BackorderStatus": 0, "PickingStatus": 0,
                "AddressVerifiedStatus": 0, "RushOrder": rush, "IsDelivered": false,
                "IsExported": self.is_exported, "QBExported": false,
                "ChannelNotifiedOfShipping": false, "IsBlackListed": false, "Confirmed": true,
                "FinalSale": false, "OkToShip": 1, "OkToProcess": 1,
            },
            "OrderItems": items,
            "TotalInfo": {
                "SubTotal": ms(g.subtotal()), "Discount": ms(g.order_discount),
                "PromoCode": g.promo_code.clone().unwrap_or_default(),
                "ShippingDiscount": ms(Decimal::ZERO), "Tax": ms(g.tax()),
                "TaxRate": num(g.tax_rate), "Shipping": ms(g.shipping),
                "Handling": ms(Decimal::ZERO), "Insurance": ms(Decimal::ZERO),
                "GiftWrap": ms(Decimal::ZERO), "GrandTotal": ms(grand),
            },
            "PaymentOptions": {
                "Total": num_dp(grand, 2),
                "Received": num_dp(if self.payment_status == 30 { grand } else { Decimal::ZERO }, 2),
                "Uncleared": 0, "Refunded": 0,
                "RemainingDues": num_dp(if self.payment_status == 30 { Decimal::ZERO } else { grand }, 2),
            },
            "Payments": if self.payment_status == 30 { json!([{
                "ID": self.id * 3, "TransactionReferenceNumber": format!("TXN-{}", self.id),
                "PaidAmount": num_dp(grand, 2), "PaymentDate": dt(&self.created_on),
                "PaymentType": 0, "PaymentMethod": 0, "PaymentStatus": 30,
            }]) } else { json!([]) },
            "ShippingDetails": {
                "ShippingStatus": self.shipping_status, "Carrier": self.carrier,
                "Service": self.service, "ShipDate": self.ship_date.as_ref().map(dt),
                "ShippingTotal": ms(g.shipping), "ShippingDiscountsTotal": ms(Decimal::ZERO),
                "CostOfShipping": ms(Decimal::ZERO),
                "EstShipWeight": { "Pounds": 1, "Ounces": 0 },
                "ShippingLocation": "", "OrderShippingPromiseDate": null, "RushOrder": rush,
            },
            "OrderPackages": packages,
            "ShippingAddress": address(true),
            "BillingAddress": address(false),
            "ProfitAndLoss": Value::Object(pl),
            "CustomColumns": custom,
            "RelatedOrders": [],
            "GiftDetails": {
                "IsGift": g.gift_message.is_some(),
                "GiftMessage": g.gift_message,
            },
        })
    }
}

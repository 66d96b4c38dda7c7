//! Deterministic generator of realistic commerce data: a catalogue with SKU/UPC/EAN, a buyer pool
//! (so customers repeat), and orders from Amazon, eBay, Walmart and the web store with one to many
//! lines, line and order discounts, taxes, shipping, gift notes, customer instructions, Prime and
//! priority tags, and several currencies. All money is `rust_decimal` and every order's totals add
//! up to the cent. Same seed (and anchor) → same data.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::SandboxConfig;

/// Sales channel an order came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Channel {
    Amazon,
    Ebay,
    Walmart,
    Website,
}

impl Channel {
    /// Sellercloud `OrderSource` value [SC19].
    pub fn sellercloud_source(self) -> i64 {
        match self {
            Channel::Amazon => 4,
            Channel::Ebay => 1,
            Channel::Walmart => 50,
            Channel::Website => 6,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub upc: String,
    pub ean: String,
    pub price: Decimal,
    pub weight_oz: Decimal,
    /// The ERP knows this item under a different InventoryID; only the UPC/EAN cross-reference
    /// links it to the channel SKU (identifier-priority matching).
    pub erp_inventory_id: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Address {
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal: String,
    pub country: String,
    pub phone: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Buyer {
    pub index: usize,
    pub email: String,
    pub address: Address,
}

#[derive(Clone, Debug, Serialize)]
pub struct GenLine {
    pub sku: String,
    pub name: String,
    pub upc: String,
    pub qty: i64,
    pub unit_price: Decimal,
    /// Line discount amount (already money, not a percentage).
    pub discount: Decimal,
    pub tax: Decimal,
}

impl GenLine {
    /// Extended price before discount.
    pub fn gross(&self) -> Decimal {
        self.unit_price * Decimal::from(self.qty)
    }
    /// Line total after the line discount, before tax.
    pub fn net(&self) -> Decimal {
        self.gross() - self.discount
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct GenOrder {
    pub index: usize,
    pub channel: Channel,
    pub channel_order_id: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub buyer: Buyer,
    /// Guest checkout (BigCommerce customer_id 0, Magento customer_is_guest).
    pub guest: bool,
    pub lines: Vec<GenLine>,
    pub order_discount: Decimal,
    pub promo_code: Option<String>,
    pub shipping: Decimal,
    pub tax_rate: Decimal,
    pub currency: &'static str,
    /// Units of USD per one unit of `currency`.
    pub rate_to_usd: Decimal,
    pub gift_message: Option<String>,
    pub instructions: Option<String>,
    pub prime: bool,
    /// "Standard", "Expedited", "NextDay".
    pub priority: &'static str,
    pub ship_service: &'static str,
    pub carrier: &'static str,
    pub company_id: i64,
    /// 0..100, used by vendors to spread statuses deterministically.
    pub status_roll: u32,
    pub payment_method: &'static str,
}

impl GenOrder {
    pub fn subtotal(&self) -> Decimal {
        self.lines.iter().map(GenLine::net).sum()
    }
    pub fn line_discounts(&self) -> Decimal {
        self.lines.iter().map(|l| l.discount).sum()
    }
    pub fn tax(&self) -> Decimal {
        self.lines.iter().map(|l| l.tax).sum()
    }
    pub fn total_qty(&self) -> i64 {
        self.lines.iter().map(|l| l.qty).sum()
    }
    /// subtotal − order discount + shipping + tax, exact to the cent.
    pub fn grand_total(&self) -> Decimal {
        self.subtotal() - self.order_discount + self.shipping + self.tax()
    }
    pub fn tags(&self) -> Vec<String> {
        let mut t = Vec::new();
        if self.prime {
            t.push("Prime".to_string());
        }
        t.push(format!("Priority:{}", self.priority));
        t
    }
}

/// An item that exists only in the ERP catalogue (entered on ERP orders, never on the seeded
/// channel orders): an Acumatica stock item and a Magento simple product under the same id.
#[derive(Clone, Debug, Serialize)]
pub struct ErpItem {
    pub inventory_id: &'static str,
    pub description: &'static str,
    pub base_uom: &'static str,
    pub price: Decimal,
    pub warehouse: &'static str,
}

/// The ERP-only items every sandbox is seeded with (whatever the seed).
pub fn erp_items() -> Vec<ErpItem> {
    vec![ErpItem {
        inventory_id: "WATER2809",
        description: "Spring water 28 oz",
        base_uom: "BOTTLE",
        price: Decimal::new(2000, 2),
        warehouse: "RETAIL",
    }]
}

/// Everything the vendors are seeded from.
#[derive(Clone, Debug)]
pub struct SeedData {
    pub products: Vec<Product>,
    pub buyers: Vec<Buyer>,
    pub sellercloud: Vec<GenOrder>,
    pub bigcommerce: Vec<GenOrder>,
    pub magento: Vec<GenOrder>,
    pub shipstation: Vec<GenOrder>,
    pub anchor: DateTime<Utc>,
}

const FIRST: &[&str] = &[
    "Ann", "Ben", "Carla", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kemal", "Lena", "Mateo", "Nia",
    "Oscar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vik", "Wen", "Yara",
];
const LAST: &[&str] = &[
    "Lee", "Garcia", "Okafor", "Novak", "Smith", "Tanaka", "Rossi", "Khan", "Meyer", "Silva", "Dubois", "Ito", "Brown",
    "Nguyen", "Kowalski", "Haddad",
];
const PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("Austin", "TX", "78701", "US", "0.0825"),
    ("Seattle", "WA", "98101", "US", "0.1025"),
    ("Denver", "CO", "80202", "US", "0.0881"),
    ("Portland", "OR", "97201", "US", "0"),
    ("Miami", "FL", "33101", "US", "0.07"),
    ("Newark", "NJ", "07102", "US", "0.06625"),
    ("Chicago", "IL", "60601", "US", "0.1025"),
    ("Toronto", "ON", "M5H 2N2", "CA", "0.13"),
    ("London", "", "SW1A 1AA", "GB", "0.20"),
    ("Berlin", "", "10115", "DE", "0.19"),
];
const ADJ: &[&str] =
    &["Classic", "Organic", "Compact", "Deluxe", "Travel", "Eco", "Pro", "Mini", "Heavy-Duty", "Vintage"];
const NOUN: &[&str] = &[
    "Mug",
    "Backpack",
    "Lamp",
    "Yoga Mat",
    "Water Bottle",
    "Phone Case",
    "Desk Organizer",
    "Candle",
    "Headphones",
    "Tea Set",
    "Notebook",
    "Blanket",
];
const COLOR: &[(&str, &str)] = &[("RED", "Red"), ("BLU", "Blue"), ("BLK", "Black"), ("GRN", "Green"), ("WHT", "White")];
const GIFTS: &[&str] =
    &["Happy birthday!", "Congratulations on the new job", "With love from Grandma", "Merry Christmas"];
const INSTRUCTIONS: &[&str] =
    &["Leave at back door", "Please do not ring the bell", "Deliver to reception", "Call before delivery"];
const CARRIERS: &[(&str, &str, &str)] = &[
    ("UPS", "Ground", "Standard"),
    ("USPS", "Priority Mail", "Standard"),
    ("FedEx", "2Day", "Expedited"),
    ("UPS", "Next Day Air", "NextDay"),
];

fn pick<'a, T>(rng: &mut StdRng, xs: &'a [T]) -> &'a T {
    &xs[rng.gen_range(0..xs.len())]
}

/// Check digit of a GTIN (UPC-A = GTIN-12, EAN-13 = GTIN-13).
fn gtin_check(digits: &str) -> u32 {
    let sum: u32 = digits
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap_or(0);
            if i % 2 == 0 {
                d * 3
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

fn money(rng: &mut StdRng, lo_cents: i64, hi_cents: i64) -> Decimal {
    Decimal::new(rng.gen_range(lo_cents..=hi_cents), 2)
}

impl SeedData {
    pub fn generate(cfg: &SandboxConfig) -> Self {
        let anchor = cfg.anchor();
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let products = gen_products(&mut rng, cfg.products.max(5));
        let buyers = gen_buyers(&mut rng, cfg.buyers.max(5));
        // Each vendor draws from its own stream so changing one count does not reshuffle the
        // others' data.
        let orders = |salt: u64, n: usize, prefix: &str| {
            let mut r = StdRng::seed_from_u64(cfg.seed.wrapping_mul(31).wrapping_add(salt));
            (0..n).map(|i| gen_order(&mut r, i, n, anchor, &products, &buyers, prefix)).collect::<Vec<_>>()
        };
        let sellercloud = orders(1, cfg.sellercloud_orders, "SC");
        let bigcommerce = orders(2, cfg.bigcommerce_orders, "BC");
        let magento = orders(3, cfg.magento_orders, "MG");
        let shipstation = orders(4, cfg.shipstation_orders, "SS");
        Self { products, buyers, sellercloud, bigcommerce, magento, shipstation, anchor }
    }
}

fn gen_products(rng: &mut StdRng, n: usize) -> Vec<Product> {
    (0..n)
        .map(|i| {
            let adj = pick(rng, ADJ);
            let noun = pick(rng, NOUN);
            let (ccode, cname) = *pick(rng, COLOR);
            let base: String =
                noun.chars().filter(|c| c.is_ascii_alphabetic()).take(4).collect::<String>().to_ascii_uppercase();
            let sku = format!("{base}-{ccode}-{:04}", i + 1);
            let upc11 = format!("0{:05}{:05}", 81234 + (i / 1000), i % 100_000);
            let upc = format!("{upc11}{}", gtin_check(&upc11));
            let ean12 = format!("40{:05}{:05}", 12345, i % 100_000);
            let ean = format!("{ean12}{}", gtin_check(&ean12));
            // Roughly one item in eight is known to the ERP under a different id.
            let erp_inventory_id = if i % 8 == 5 { format!("ITEM{:06}", 100_000 + i) } else { sku.clone() };
            Product {
                sku,
                name: format!("{adj} {noun} - {cname}"),
                upc,
                ean,
                price: money(rng, 499, 12999),
                weight_oz: Decimal::new(rng.gen_range(20..=640), 1),
                erp_inventory_id,
            }
        })
        .collect()
}

fn gen_buyers(rng: &mut StdRng, n: usize) -> Vec<Buyer> {
    (0..n)
        .map(|i| {
            let first = pick(rng, FIRST).to_string();
            let last = pick(rng, LAST).to_string();
            let (city, state, postal, country, _) = *pick(rng, PLACES);
            let email = format!("{}.{}{}@example.com", first.to_ascii_lowercase(), last.to_ascii_lowercase(), i);
            Buyer {
                index: i,
                email,
                address: Address {
                    first_name: first,
                    last_name: last,
                    company: if i % 11 == 0 { "Acme Widgets LLC".into() } else { String::new() },
                    line1: format!("{} {} St", 10 + rng.gen_range(0..990), pick(rng, NOUN_STREETS)),
                    line2: if i % 5 == 0 { format!("Apt {}", rng.gen_range(1..40)) } else { String::new() },
                    city: city.into(),
                    state: state.into(),
                    postal: postal.into(),
                    country: country.into(),
                    phone: format!("555-01{:02}", i % 100),
                },
            }
        })
        .collect()
}

const NOUN_STREETS: &[&str] = &["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Lake", "Hill"];

fn gen_order(
    rng: &mut StdRng,
    i: usize,
    n: usize,
    anchor: DateTime<Utc>,
    products: &[Product],
    buyers: &[Buyer],
    prefix: &str,
) -> GenOrder {
    let channel = match rng.gen_range(0..100) {
        0..=44 => Channel::Amazon,
        45..=64 => Channel::Ebay,
        65..=79 => Channel::Walmart,
        _ => Channel::Website,
    };
    // Skew buyer choice towards the front of the pool: repeat customers.
    let bi = {
        let a = rng.gen_range(0..buyers.len());
        let b = rng.gen_range(0..buyers.len());
        a.min(b)
    };
    let buyer = buyers[bi].clone();
    let tax_rate: Decimal =
        PLACES.iter().find(|p| p.0 == buyer.address.city).and_then(|p| p.4.parse().ok()).unwrap_or(Decimal::ZERO);
    let (currency, rate_to_usd) = match buyer.address.country.as_str() {
        "CA" => ("CAD", Decimal::new(73, 2)),
        "GB" => ("GBP", Decimal::new(127, 2)),
        "DE" => ("EUR", Decimal::new(108, 2)),
        _ => ("USD", Decimal::ONE),
    };
    // Orders spread over the 30 days before the anchor, oldest first, so ids follow time.
    let span = Duration::days(30).num_seconds();
    let offset = span - (span * (i as i64 + 1) / (n as i64 + 1));
    let created = anchor - Duration::seconds(offset) + Duration::seconds(rng.gen_range(0..60));
    let modified = created + Duration::minutes(rng.gen_range(0..600));
    let nlines = match rng.gen_range(0..100) {
        0..=59 => 1,
        60..=84 => 2,
        85..=94 => 3,
        _ => rng.gen_range(4..=8),
    };
    let mut lines: Vec<GenLine> = Vec::new();
    for _ in 0..nlines {
        let p = pick(rng, products);
        if lines.iter().any(|l| l.sku == p.sku) {
            continue;
        }
        let qty = if rng.gen_range(0..10) < 7 { 1 } else { rng.gen_range(2..=5) };
        let gross = p.price * Decimal::from(qty);
        let discount = if rng.gen_range(0..100) < 15 {
            (gross * Decimal::new(rng.gen_range(5..=25), 2)).round_dp(2)
        } else {
            Decimal::ZERO
        };
        let tax = ((gross - discount) * tax_rate).round_dp(2);
        lines.push(GenLine {
            sku: p.sku.clone(),
            name: p.name.clone(),
            upc: p.upc.clone(),
            qty,
            unit_price: p.price,
            discount,
            tax,
        });
    }
    let subtotal: Decimal = lines.iter().map(GenLine::net).sum();
    let (order_discount, promo_code) = if channel == Channel::Website && rng.gen_range(0..100) < 30 {
        let d = (subtotal * Decimal::new(10, 2)).round_dp(2);
        (d, Some("WELCOME10".to_string()))
    } else {
        (Decimal::ZERO, None)
    };
    let prime = channel == Channel::Amazon && rng.gen_range(0..100) < 40;
    let (carrier, ship_service, priority) =
        if prime { ("UPS", "Next Day Air", "NextDay") } else { *pick(rng, CARRIERS) };
    let shipping = if prime || subtotal > Decimal::new(75, 0) { Decimal::ZERO } else { money(rng, 399, 1499) };
    let gift_message = (rng.gen_range(0..100) < 8).then(|| pick(rng, GIFTS).to_string());
    let instructions = (rng.gen_range(0..100) < 10).then(|| pick(rng, INSTRUCTIONS).to_string());
    let channel_order_id = match channel {
        Channel::Amazon => format!(
            "{:03}-{:07}-{:07}",
            100 + rng.gen_range(0..900),
            rng.gen_range(0..10_000_000),
            rng.gen_range(0..10_000_000)
        ),
        Channel::Ebay => {
            format!("{:02}-{:05}-{:05}", rng.gen_range(10..99), rng.gen_range(0..100_000), rng.gen_range(0..100_000))
        }
        Channel::Walmart => format!("{}", 108_000_000_000_000u64 + rng.gen_range(0..1_000_000_000)),
        Channel::Website => format!("{prefix}-W{:07}", 1_000 + i),
    };
    let payment_method = match channel {
        Channel::Amazon => "AMAZONPAY",
        Channel::Ebay => "EBAYPAY",
        Channel::Walmart => "WALMARTPAY",
        Channel::Website => {
            if rng.gen_bool(0.5) {
                "CREDITCARD"
            } else {
                "PAYPAL"
            }
        }
    };
    // Amazon relays buyer emails through its own domain.
    let mut buyer = buyer;
    if channel == Channel::Amazon && rng.gen_range(0..100) < 50 {
        buyer.email = format!("{:x}@marketplace.amazon.com", rng.gen::<u64>() & 0xffff_ffff_ffff);
    }
    GenOrder {
        index: i,
        channel,
        channel_order_id,
        created,
        modified,
        guest: channel == Channel::Website && rng.gen_range(0..100) < 35,
        buyer,
        lines,
        order_discount,
        promo_code,
        shipping,
        tax_rate,
        currency,
        rate_to_usd,
        gift_message,
        instructions,
        prime,
        priority,
        ship_service,
        carrier,
        company_id: if rng.gen_range(0..100) < 70 { 163 } else { 164 },
        status_roll: rng.gen_range(0..100),
        payment_method,
    }
}

/// Caller-chosen details for an order created on demand through the control API.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct OrderOverrides {
    /// "amazon" | "ebay" | "walmart" | "website".
    pub channel: Option<String>,
    pub channel_order_id: Option<String>,
    pub email: Option<String>,
    pub company_id: Option<i64>,
    /// Replace the generated lines (unit price defaults to the catalogue price).
    pub lines: Option<Vec<LineOverride>>,
    pub gift_message: Option<String>,
    pub instructions: Option<String>,
    pub currency: Option<String>,
    pub guest: Option<bool>,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct LineOverride {
    pub sku: String,
    #[serde(default = "one_qty")]
    pub qty: i64,
    #[serde(default)]
    pub unit_price: Option<Decimal>,
    #[serde(default)]
    pub discount: Option<Decimal>,
}

fn one_qty() -> i64 {
    1
}

impl SeedData {
    /// A fresh, deterministic order created "now" (the `counter`-th on-demand order of a vendor).
    pub fn on_demand(
        &self,
        seed: u64,
        salt: u64,
        counter: usize,
        at: DateTime<Utc>,
        prefix: &str,
        ov: &OrderOverrides,
    ) -> GenOrder {
        let mut r =
            StdRng::seed_from_u64(seed ^ salt.rotate_left(17) ^ (counter as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut o = gen_order(&mut r, counter, counter, at, &self.products, &self.buyers, prefix);
        o.created = at;
        o.modified = at;
        if let Some(c) = &ov.channel {
            o.channel = match c.to_ascii_lowercase().as_str() {
                "amazon" => Channel::Amazon,
                "ebay" => Channel::Ebay,
                "walmart" => Channel::Walmart,
                _ => Channel::Website,
            };
            if o.channel != Channel::Amazon {
                o.prime = false;
            }
        }
        if let Some(id) = &ov.channel_order_id {
            o.channel_order_id = id.clone();
        }
        if let Some(e) = &ov.email {
            o.buyer.email = e.clone();
        }
        if let Some(c) = ov.company_id {
            o.company_id = c;
        }
        if let Some(g) = &ov.gift_message {
            o.gift_message = Some(g.clone());
        }
        if let Some(i) = &ov.instructions {
            o.instructions = Some(i.clone());
        }
        if let Some(g) = ov.guest {
            o.guest = g;
        }
        if let Some(c) = &ov.currency {
            o.currency = match c.to_ascii_uppercase().as_str() {
                "CAD" => "CAD",
                "GBP" => "GBP",
                "EUR" => "EUR",
                _ => "USD",
            };
        }
        if let Some(lines) = &ov.lines {
            o.lines = lines
                .iter()
                .map(|l| {
                    let p = self.products.iter().find(|p| p.sku == l.sku);
                    let unit_price = l.unit_price.or(p.map(|p| p.price)).unwrap_or(Decimal::new(1000, 2));
                    let discount = l.discount.unwrap_or(Decimal::ZERO);
                    let gross = unit_price * Decimal::from(l.qty);
                    GenLine {
                        sku: l.sku.clone(),
                        name: p.map(|p| p.name.clone()).unwrap_or_else(|| l.sku.clone()),
                        upc: p.map(|p| p.upc.clone()).unwrap_or_default(),
                        qty: l.qty,
                        unit_price,
                        discount,
                        tax: ((gross - discount) * o.tax_rate).round_dp(2),
                    }
                })
                .collect();
            o.order_discount = Decimal::ZERO;
            o.promo_code = None;
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(seed: u64) -> SandboxConfig {
        SandboxConfig {
            seed,
            sellercloud_orders: 300,
            anchor: Some(DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z").unwrap().into()),
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn same_seed_same_data_and_different_seed_different_data() {
        let a = SeedData::generate(&cfg(7));
        let b = SeedData::generate(&cfg(7));
        let c = SeedData::generate(&cfg(8));
        let ids = |d: &SeedData| {
            d.sellercloud.iter().map(|o| (o.channel_order_id.clone(), o.grand_total())).collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
    }

    #[test]
    fn totals_add_up_to_the_cent_and_data_is_varied() {
        let d = SeedData::generate(&cfg(1));
        let mut channels = std::collections::HashSet::new();
        let mut currencies = std::collections::HashSet::new();
        let mut emails = std::collections::HashMap::new();
        for o in &d.sellercloud {
            assert!(!o.lines.is_empty());
            let sum: Decimal = o.lines.iter().map(|l| l.unit_price * Decimal::from(l.qty) - l.discount).sum();
            assert_eq!(sum, o.subtotal());
            assert_eq!(o.grand_total(), sum - o.order_discount + o.shipping + o.tax());
            assert!(o.grand_total().scale() <= 2);
            channels.insert(format!("{:?}", o.channel));
            currencies.insert(o.currency);
            *emails.entry(o.buyer.email.clone()).or_insert(0) += 1;
        }
        assert_eq!(channels.len(), 4);
        assert!(currencies.len() >= 2);
        assert!(emails.values().any(|c| *c > 1), "repeat customers expected");
        assert!(d.sellercloud.iter().any(|o| o.lines.len() > 1));
        assert!(d.sellercloud.iter().any(|o| o.gift_message.is_some()));
        assert!(d.sellercloud.iter().any(|o| o.prime));
        assert!(d.products.iter().any(|p| p.erp_inventory_id != p.sku));
    }

    #[test]
    fn upc_and_ean_have_valid_check_digits() {
        let d = SeedData::generate(&cfg(1));
        for p in &d.products {
            assert_eq!(p.upc.len(), 12);
            assert_eq!(p.ean.len(), 13);
            assert_eq!(gtin_check(&p.upc[..11]), p.upc[11..].parse::<u32>().unwrap());
            assert_eq!(gtin_check(&p.ean[..12]), p.ean[12..].parse::<u32>().unwrap());
        }
    }
}

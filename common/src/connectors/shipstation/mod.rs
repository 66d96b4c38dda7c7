//! ShipStation V1 (vendor-apis.md §4): label shipments read back from the shipping tool
//! (`ShippingTool`): the batch a `SHIP_NOTIFY` webhook points to, and shipments created since a
//! cursor for the catch-up poll. Basic auth with the API key and secret, 40 requests a minute,
//! times without an offset in the account's (Pacific) time zone, converted at this edge.

mod client;
mod config;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod mapper;
pub mod webhook;
mod wire;

pub use client::ShipStationClient;
pub use config::ShipStationConfig;
pub use mapper::{from_shipstation_time, to_shipstation_time};

pub use webhook::ShipStationVerifier;

/// Vendor name in errors and logs.
pub const VENDOR: &str = "shipstation";

/// Code of ShipStation in shipment push keys (`SS-5566#1`).
pub const CODE: &str = "SS";

/// This connector's line in the registry.
pub const VENDOR_ENTRY: super::registry::Vendor = super::registry::Vendor {
    kind: VENDOR,
    name: "ShipStation",
    code: CODE,
    role: super::registry::Role::ShippingTool,
    throttle_hint: true,
    channel: None,
};

#[cfg(test)]
mod tests;

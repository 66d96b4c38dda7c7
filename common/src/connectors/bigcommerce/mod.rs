//! BigCommerce v2 Orders client (vendor-apis.md §3): `X-Auth-Token`, keyset paging over the
//! configured "new" status, order + products + shipping addresses, status-based acknowledgement;
//! one shipment per package, statuses and staff notes back (`StatusPublisher`).

mod client;
mod config;
mod mapper;
mod wire;

pub use client::BigCommerceClient;
pub use config::BigCommerceConfig;

/// Vendor name in errors and logs.
pub const VENDOR: &str = "bigcommerce";

#[cfg(test)]
mod tests;

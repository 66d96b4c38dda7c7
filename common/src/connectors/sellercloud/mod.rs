//! Sellercloud REST client (vendor-apis.md §1): token auth, the not-exported order queue with
//! drift-tolerant paging, full order fetch, bulk SetExported and failure notes; shipments,
//! statuses and notes back (`StatusPublisher`).

mod client;
mod config;
mod mapper;
mod wire;

pub use client::SellercloudClient;
pub use config::SellercloudConfig;
pub use mapper::{local_to_utc, utc_to_local_param};

/// Vendor name in errors and logs.
pub const VENDOR: &str = "sellercloud";

#[cfg(test)]
mod tests;

//! Magento 2 REST (vendor-apis.md §5): shipments, statuses and notes back to orders that came
//! from Magento (`StatusPublisher`). Integration token as Bearer; `/rest/{store}/V1`.

mod client;
mod config;
mod mapper;
mod wire;

pub use client::MagentoClient;
pub use config::MagentoConfig;

/// Vendor name in errors and logs.
pub const VENDOR: &str = "magento";

#[cfg(test)]
mod tests;

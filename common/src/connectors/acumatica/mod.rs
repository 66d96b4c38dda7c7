//! Acumatica contract-based REST client (Default endpoint): cookie session, sales order insert
//! with look-before-you-create support, customers, stock items and shipments (vendor-apis.md §2).

mod client;
mod config;
mod mapper;
mod wire;

pub use client::AcumaticaClient;
pub use config::AcumaticaConfig;
pub use mapper::{derive_customer_id, odata_string};
pub use wire::Val;

/// Vendor name in errors and logs.
pub const VENDOR: &str = "acumatica";

#[cfg(test)]
mod tests;

//! Acumatica contract-based REST client (Default endpoint): cookie session or a shared OAuth
//! token, sales order insert
//! with look-before-you-create support, customers, stock items and shipments (vendor-apis.md §2).

mod client;
mod config;
mod customers;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod mapper;
mod oauth;
mod shipment_rows;
mod stock;
pub mod webhook;
mod wire;

pub use client::AcumaticaClient;
pub use config::{AcumaticaConfig, AcumaticaOAuth};
pub use mapper::{derive_customer_id, odata_string};
pub use wire::Val;

pub use webhook::AcumaticaPushVerifier;

/// Vendor name in errors and logs.
pub const VENDOR: &str = "acumatica";

/// Code of the ERP in shipment push keys (`AC-000123#1`).
pub const CODE: &str = "AC";

/// This connector's line in the registry.
pub const VENDOR_ENTRY: super::registry::Vendor = super::registry::Vendor {
    kind: VENDOR,
    name: "Acumatica",
    code: CODE,
    role: super::registry::Role::Erp,
    // The licence's 429 documents no reset time (vendor-apis.md §2): backoff, then SQS.
    throttle_hint: false,
    channel: None,
};

#[cfg(test)]
mod tests;

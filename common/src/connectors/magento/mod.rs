//! Magento 2 REST (vendor-apis.md §5): shipments, statuses and notes back to orders that came
//! from Magento (`StatusPublisher`). Magento also receives ERP-originated orders
//! (`OrderPublisher`, vendor-apis-erp-out.md A): sales orders entered in the ERP are created on the
//! direct route (`POST /V1/orders`, a "history mirror" that stores the ERP's prices and totals as
//! sent, numbered by the ERP in `ext_order_id`), with their customers, invoices and statuses
//! following. Integration token as Bearer; `/rest/{store}/V1`.

mod client;
mod config;
mod customers_in;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod mapper;
mod orders_in;
mod stock;
mod wire;

pub use client::MagentoClient;
pub use config::MagentoConfig;

/// Vendor name in errors and logs.
pub const VENDOR: &str = "magento";

/// Code of Magento orders in Import IDs and ledger keys (`MG-17`).
pub const CODE: &str = "MG";

crate::numeric_id!(
    /// Magento `entity_id` of an order (the id URLs take; `increment_id` is only for display).
    MagentoOrderId,
    "magento entity_id",
    channel = CODE
);

/// This connector's line in the registry.
pub const VENDOR_ENTRY: super::registry::Vendor = super::registry::Vendor {
    kind: VENDOR,
    name: "Magento",
    code: CODE,
    role: super::registry::Role::Channel,
    throttle_hint: false,
    channel: Some(super::registry::ChannelKind {
        check: |settings| Ok(super::registry::settings::<MagentoConfig>(VENDOR, settings)?.validate()?),
        build: |connection, settings| {
            let config: MagentoConfig = super::registry::settings(VENDOR, settings)?;
            let sync = config.erp_orders.clone();
            let pulled = config.import.is_some();
            let customers = config.import.as_ref().is_some_and(|i| i.customers);
            let stock = config.stock.as_ref().map(stock::MagentoStock::sync);
            let client = MagentoClient::new(connection.clone(), config)?;
            // Shipments and statuses go back; with `import` set its orders are pulled, and with
            // `erp_orders` set it receives orders entered in the ERP.
            Ok(super::registry::ChannelParts::storefront(
                client,
                pulled,
                customers,
                true,
                MagentoOrderId::channel_order_id_of,
                sync,
                stock,
            ))
        },
        order_webhook: None,
    }),
};

#[cfg(test)]
mod tests;

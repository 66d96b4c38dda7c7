//! Sellercloud REST client (vendor-apis.md §1): token auth, the not-exported order queue with
//! drift-tolerant paging, full order fetch, bulk SetExported and failure notes; shipments,
//! statuses and notes back (`StatusPublisher`).

mod client;
mod config;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod mapper;
mod wire;

pub use client::SellercloudClient;
pub use config::SellercloudConfig;
pub use mapper::{local_to_utc, utc_to_local_param};

/// Vendor name in errors and logs.
pub const VENDOR: &str = "sellercloud";

/// Code of Sellercloud orders in Import IDs and ledger keys (`SC-5512345`).
pub const CODE: &str = "SC";

crate::numeric_id!(
    /// Sellercloud's internal order `ID`.
    SellercloudOrderId,
    "sellercloud order id",
    channel = CODE
);

/// This connector's line in the registry.
pub const VENDOR_ENTRY: super::registry::Vendor = super::registry::Vendor {
    kind: VENDOR,
    name: "Sellercloud",
    code: CODE,
    role: super::registry::Role::Channel,
    throttle_hint: true,
    channel: Some(super::registry::ChannelKind {
        check: |settings| Ok(super::registry::settings::<SellercloudConfig>(VENDOR, settings)?.validate()?),
        build: |connection, settings| {
            let config: SellercloudConfig = super::registry::settings(VENDOR, settings)?;
            let charges = config.profit_and_loss.clone();
            let client = std::sync::Arc::new(SellercloudClient::new(connection.clone(), config)?);
            // Sellercloud marks the whole order shipped at once: no partial shipments.
            let mut parts = super::registry::ChannelParts::pulled_shared(
                client.clone(),
                false,
                SellercloudOrderId::channel_order_id_of,
            );
            parts.charges = charges.map(|sync| (client as std::sync::Arc<dyn crate::ports::ChargeSource>, sync));
            Ok(parts)
        },
        order_webhook: None,
    }),
};

#[cfg(test)]
mod tests;

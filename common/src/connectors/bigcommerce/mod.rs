//! BigCommerce v2 Orders client (vendor-apis.md §3): `X-Auth-Token`, keyset paging over the
//! configured "new" status, order + products + shipping addresses, status-based acknowledgement;
//! one shipment per package, statuses and staff notes back (`StatusPublisher`).

mod client;
mod config;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod mapper;
mod wire;

pub use client::BigCommerceClient;
pub use config::BigCommerceConfig;

/// Vendor name in errors and logs.
pub const VENDOR: &str = "bigcommerce";

/// Code of BigCommerce orders in Import IDs and ledger keys (`BC-1042`).
pub const CODE: &str = "BC";

crate::numeric_id!(
    /// BigCommerce v2 order `id`.
    BigCommerceOrderId,
    "bigcommerce order id",
    channel = CODE
);

/// This connector's line in the registry.
pub const VENDOR_ENTRY: super::registry::Vendor = super::registry::Vendor {
    kind: VENDOR,
    name: "BigCommerce",
    code: CODE,
    role: super::registry::Role::Channel,
    throttle_hint: true,
    channel: Some(super::registry::ChannelKind {
        check: |settings| Ok(super::registry::settings::<BigCommerceConfig>(VENDOR, settings)?.validate()?),
        build: |connection, settings| {
            let client = BigCommerceClient::new(connection.clone(), super::registry::settings(VENDOR, settings)?)?;
            Ok(super::registry::ChannelParts::pulled(client, true, BigCommerceOrderId::channel_order_id_of))
        },
    }),
};

#[cfg(test)]
mod tests;

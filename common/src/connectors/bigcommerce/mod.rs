//! BigCommerce v2 Orders client (vendor-apis.md §3): `X-Auth-Token`, keyset paging over the
//! configured "new" status, order + products + shipping addresses, status-based acknowledgement;
//! one shipment per package, statuses and staff notes back (`StatusPublisher`).

mod client;
mod config;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod hooks;
mod mapper;
pub mod webhook;
mod wire;

pub use client::BigCommerceClient;
pub use config::BigCommerceConfig;
pub use webhook::BigCommerceOrderVerifier;

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
            let config: BigCommerceConfig = super::registry::settings(VENDOR, settings)?;
            let hooked = !config.webhook_secret.is_empty();
            let client = std::sync::Arc::new(BigCommerceClient::new(connection.clone(), config)?);
            let mut parts = super::registry::ChannelParts::pulled_shared(
                client.clone(),
                true,
                BigCommerceOrderId::channel_order_id_of,
            );
            parts.hooks = hooked.then_some(client as std::sync::Arc<dyn crate::ports::OrderHooks>);
            Ok(parts)
        },
        order_webhook: Some(|connection, settings| {
            let config: BigCommerceConfig = super::registry::settings(VENDOR, settings)?;
            config.validate()?;
            Ok((!config.webhook_secret.is_empty()).then(|| {
                std::sync::Arc::new(BigCommerceOrderVerifier::new(connection.clone(), &config))
                    as std::sync::Arc<dyn crate::ports::WebhookVerifier>
            }))
        }),
    }),
};

#[cfg(test)]
mod tests;

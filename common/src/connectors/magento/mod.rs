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

/// Code of Magento orders in Import IDs and ledger keys (`MG-17`).
pub const CODE: &str = "MG";

crate::numeric_id!(
    /// Magento `entity_id` of an order (the id URLs take; `increment_id` is only for display).
    MagentoOrderId,
    "magento entity_id"
);

impl MagentoOrderId {
    /// The canonical id of this order.
    pub fn channel_order_id(self) -> crate::model::ChannelOrderId {
        super::channel_order_id(CODE, self.get())
            .unwrap_or_else(|_| unreachable!("a positive number is a valid channel order id"))
    }

    /// This channel's id inside a canonical id (None for another channel's order).
    pub fn of(id: &crate::model::ChannelOrderId) -> Option<Self> {
        super::own_numeric_id(CODE, id).and_then(|n| Self::new(n).ok())
    }
}

/// This connector's line in the registry.
pub const VENDOR_ENTRY: super::registry::Vendor = super::registry::Vendor {
    kind: VENDOR,
    code: CODE,
    role: super::registry::Role::Channel,
    channel: Some(build_channel),
};

fn build_channel(
    connection: &crate::model::ConnectionId,
    settings: &toml::Table,
) -> Result<super::registry::ChannelParts, super::SetupError> {
    let client =
        std::sync::Arc::new(MagentoClient::new(connection.clone(), super::registry::settings(VENDOR, settings)?)?);
    Ok(super::registry::ChannelParts {
        // Publish-only: Magento orders are not pulled yet.
        source: None,
        publisher: client,
        takes_partial_shipments: true,
        order_id: |raw| MagentoOrderId::parse(raw).ok().map(MagentoOrderId::channel_order_id),
    })
}

#[cfg(test)]
mod tests;

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

/// Code of Sellercloud orders in Import IDs and ledger keys (`SC-5512345`).
pub const CODE: &str = "SC";

crate::numeric_id!(
    /// Sellercloud's internal order `ID`.
    SellercloudOrderId,
    "sellercloud order id"
);

impl SellercloudOrderId {
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
        std::sync::Arc::new(SellercloudClient::new(connection.clone(), super::registry::settings(VENDOR, settings)?)?);
    Ok(super::registry::ChannelParts {
        source: Some(client.clone()),
        publisher: client,
        // Sellercloud marks the whole order shipped at once.
        takes_partial_shipments: false,
        order_id: |raw| SellercloudOrderId::parse(raw).ok().map(SellercloudOrderId::channel_order_id),
    })
}

#[cfg(test)]
mod tests;

//! BigCommerce v2 Orders client (vendor-apis.md §3): `X-Auth-Token`, keyset paging over the
//! configured "new" status, order + products + shipping addresses, status-based acknowledgement;
//! one shipment per package, statuses and staff notes back (`StatusPublisher`).

mod client;
mod config;
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
    "bigcommerce order id"
);

impl BigCommerceOrderId {
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
        std::sync::Arc::new(BigCommerceClient::new(connection.clone(), super::registry::settings(VENDOR, settings)?)?);
    Ok(super::registry::ChannelParts {
        source: Some(client.clone()),
        publisher: client,
        takes_partial_shipments: true,
        order_id: |raw| BigCommerceOrderId::parse(raw).ok().map(BigCommerceOrderId::channel_order_id),
    })
}

#[cfg(test)]
mod tests;

//! The vendor registry: the one place that lists the connectors and maps the connections file's
//! `kind` to each. A new vendor is its folder under `connectors/` plus one line in [`VENDORS`].
//!
//! Everything outside `connectors/` reaches vendors only through here: the apps ask for a channel's
//! parts by kind, the ERP and the shipping tool by their sections, the webhook routes by the
//! secrets configured; stored records name systems by the codes declared here.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::connections::{ChannelConnection, Connections};
use crate::mapping::SalesOrderDraft;
use crate::model::{ChannelOrderId, ChargeSync, ConnectionId, ErpOrderSync, StationExport, StockSync};
use crate::ports::{
    ChargeSource, CustomerSource, ErpCharges, ErpCustomerWrites, ErpOrders, ErpShipments, ErpStock, InboundEvent,
    OrderHooks, OrderPublisher, OrderSink, OrderSource, OutboundShipments, Probe, SharedTokens, ShippingStation,
    ShippingTool, StatusPublisher, StockPublisher, WebhookVerifier,
};
use crate::webhooks::StandardWebhooksVerifier;

use super::{acumatica, bigcommerce, magento, sellercloud, shipstation, InvalidConfig, SetupError};

/// What a vendor is to Orderbridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A sales channel: orders are pulled from it (when it has a source) and shipments, statuses
    /// and notes pushed back to it.
    Channel,
    /// The ERP orders are created in and shipments are read from.
    Erp,
    /// The shipping tool labels are read from.
    ShippingTool,
}

/// One channel connection's clients, built from its `[connection.settings]`.
pub struct ChannelParts {
    /// Where orders are pulled from; None for a publish-only channel.
    pub source: Option<Arc<dyn OrderSource>>,
    pub publisher: Arc<dyn StatusPublisher>,
    /// False for channels that mark the whole order shipped at once.
    pub takes_partial_shipments: bool,
    /// Turns the order number a shipping tool shows into this channel's order id.
    pub order_id: fn(&str) -> Option<ChannelOrderId>,
    /// For a storefront that receives ERP-originated orders: its client and settings.
    pub storefront: Option<(Arc<dyn OrderPublisher>, ErpOrderSync)>,
    /// For a channel that reports charges (profit & loss) and is configured to: its client and
    /// which charges go where.
    pub charges: Option<(Arc<dyn ChargeSource>, ChargeSync)>,
    /// For a storefront the ERP's stock is written to: its client and which stock.
    pub stock: Option<(Arc<dyn StockPublisher>, StockSync)>,
    /// For a channel whose customer accounts are imported: where they are listed.
    pub customers: Option<Arc<dyn CustomerSource>>,
    /// Test connection: one cheap authenticated call.
    pub probe: Arc<dyn Probe>,
    /// For a channel whose order webhooks are configured: their subscriptions.
    pub hooks: Option<Arc<dyn OrderHooks>>,
}

impl ChannelParts {
    /// A channel orders are pulled from and shipments pushed back to, by one client.
    pub fn pulled<C: OrderSource + StatusPublisher + Probe + 'static>(
        client: C,
        takes_partial_shipments: bool,
        order_id: fn(&str) -> Option<ChannelOrderId>,
    ) -> Self {
        Self::pulled_shared(Arc::new(client), takes_partial_shipments, order_id)
    }

    /// Like [`Self::pulled`], for a client the connector also hands out in another role.
    pub fn pulled_shared<C: OrderSource + StatusPublisher + Probe + 'static>(
        client: Arc<C>,
        takes_partial_shipments: bool,
        order_id: fn(&str) -> Option<ChannelOrderId>,
    ) -> Self {
        Self {
            source: Some(client.clone()),
            publisher: client.clone(),
            takes_partial_shipments,
            order_id,
            storefront: None,
            charges: None,
            stock: None,
            customers: None,
            probe: client,
            hooks: None,
        }
    }

    /// A channel shipments and statuses are only pushed to.
    pub fn publish_only<C: StatusPublisher + Probe + 'static>(
        client: C,
        takes_partial_shipments: bool,
        order_id: fn(&str) -> Option<ChannelOrderId>,
    ) -> Self {
        let client = Arc::new(client);
        Self {
            source: None,
            publisher: client.clone(),
            probe: client,
            takes_partial_shipments,
            order_id,
            storefront: None,
            charges: None,
            stock: None,
            customers: None,
            hooks: None,
        }
    }

    /// A storefront that also receives ERP-originated orders (when `sync` is set and enabled), and
    /// whose own orders are pulled when `pulled` (the same client in both roles).
    pub fn storefront<
        C: OrderSource + StatusPublisher + OrderPublisher + StockPublisher + CustomerSource + Probe + 'static,
    >(
        client: C,
        pulled: bool,
        customers: bool,
        takes_partial_shipments: bool,
        order_id: fn(&str) -> Option<ChannelOrderId>,
        sync: Option<ErpOrderSync>,
        stock: Option<StockSync>,
    ) -> Self {
        let client = Arc::new(client);
        let storefront = sync.filter(|s| s.enabled).map(|s| (client.clone() as Arc<dyn OrderPublisher>, s));
        let source = pulled.then(|| client.clone() as Arc<dyn OrderSource>);
        let stock = stock.map(|s| (client.clone() as Arc<dyn StockPublisher>, s));
        let customers = customers.then(|| client.clone() as Arc<dyn CustomerSource>);
        Self {
            source,
            publisher: client.clone(),
            probe: client,
            takes_partial_shipments,
            order_id,
            storefront,
            charges: None,
            stock,
            customers,
            hooks: None,
        }
    }
}

/// Builds a channel's parts from its connection (id, settings).
pub type ChannelBuilder = fn(&ConnectionId, &toml::Table) -> Result<ChannelParts, SetupError>;

/// How a channel connection of one vendor is checked and built.
pub struct ChannelKind {
    /// Reads and validates the settings without building a client (done once per cold start when
    /// the connections file is parsed, in every function, so it must cost no connection setup).
    pub check: fn(&toml::Table) -> Result<(), SetupError>,
    pub build: ChannelBuilder,
    /// The verifier of the channel's order webhooks (None: it has none, or they are not
    /// configured on this connection). Cheap: no client is built.
    pub order_webhook: Option<OrderWebhookBuilder>,
}

/// Builds a channel connection's order-webhook verifier from its settings.
pub type OrderWebhookBuilder = fn(&ConnectionId, &toml::Table) -> Result<Option<Arc<dyn WebhookVerifier>>, SetupError>;

/// A registered vendor.
pub struct Vendor {
    /// The connections file's `kind` (and the system name records written before codes were
    /// stored use).
    pub kind: &'static str,
    /// How people write the vendor's name (the console's "Sellercloud to Acumatica").
    pub name: &'static str,
    /// The system code in Import IDs, ledger keys and push keys (`SC-5512345`, `AC-000123#1`).
    pub code: &'static str,
    pub role: Role,
    /// Whether the vendor's 429 says when to try again (`Retry-After` or its own reset header);
    /// the compliance suite holds the client to passing that hint on.
    pub throttle_hint: bool,
    /// For channels: how a connection of this kind is checked and built.
    pub channel: Option<ChannelKind>,
}

/// Every vendor Orderbridge speaks to.
pub const VENDORS: &[Vendor] = &[
    sellercloud::VENDOR_ENTRY,
    bigcommerce::VENDOR_ENTRY,
    magento::VENDOR_ENTRY,
    acumatica::VENDOR_ENTRY,
    shipstation::VENDOR_ENTRY,
];

/// The vendor of a `kind`, if registered.
pub fn vendor(kind: &str) -> Option<&'static Vendor> {
    VENDORS.iter().find(|v| v.kind == kind)
}

/// The registered vendor of a role (the ERP, the shipping tool); channels have several.
pub fn vendor_of_role(role: Role) -> Option<&'static Vendor> {
    VENDORS.iter().find(|v| v.role == role)
}

/// The kinds a channel connection may have, for error messages.
pub fn channel_kinds() -> Vec<&'static str> {
    VENDORS.iter().filter(|v| v.channel.is_some()).map(|v| v.kind).collect()
}

/// Teaches the model the system names older records hold (`"sellercloud"` → `SC`). Idempotent.
pub fn install() {
    crate::model::install_legacy_names(|name| VENDORS.iter().find(|v| v.kind == name).map(|v| v.code));
}

/// Parses a channel connection's settings as `T` (the vendor's config), naming the bad field.
pub fn settings<T: serde::de::DeserializeOwned>(vendor: &'static str, table: &toml::Table) -> Result<T, SetupError> {
    T::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| SetupError::Config(InvalidConfig { vendor, problem: format!("settings: {}", e.message()) }))
}

/// Checks a channel connection's kind and settings (no client is built).
pub fn check_channel(connection: &ChannelConnection) -> Result<(), SetupError> {
    (channel_kind(connection)?.check)(&connection.settings)
}

/// A channel connection's parts, by its `kind`.
/// Codes of the channel vendors (`SC`, `BC`, `MG`): an ERP order whose customer order number is
/// one of their Import IDs was imported from a channel.
pub fn channel_codes() -> Vec<String> {
    VENDORS.iter().filter(|v| v.channel.is_some()).map(|v| v.code.to_owned()).collect()
}

pub fn channel(connection: &ChannelConnection) -> Result<ChannelParts, SetupError> {
    (channel_kind(connection)?.build)(&connection.id, &connection.settings)
}

fn channel_kind(connection: &ChannelConnection) -> Result<&'static ChannelKind, SetupError> {
    vendor(&connection.kind).and_then(|v| v.channel.as_ref()).ok_or_else(|| {
        SetupError::Config(InvalidConfig {
            vendor: "connections",
            problem: format!(
                "kind {:?} is not a sales channel Orderbridge knows ({})",
                connection.kind,
                channel_kinds().join(", ")
            ),
        })
    })
}

/// The ERP's two faces: where orders are created, and where shipments and order states are read.
pub struct ErpParts {
    pub sink: Arc<dyn OrderSink<Draft = SalesOrderDraft>>,
    pub shipments: Arc<dyn ErpShipments>,
    /// Where ERP-originated orders are read.
    pub orders: Arc<dyn ErpOrders>,
    /// Where channel charges are written onto the ERP order.
    pub charges: Arc<dyn ErpCharges>,
    /// Where the available stock storefronts sell is read.
    pub stock: Arc<dyn ErpStock>,
    /// Where channel customer accounts are written.
    pub customer_writes: Arc<dyn ErpCustomerWrites>,
    /// Where shipments to export to a shipping station are read.
    pub outbound: Arc<dyn OutboundShipments>,
    /// Its name in the connector log (shipments come from it; it is no channel connection).
    pub log_name: ConnectionId,
    /// Test connection: sign in and out.
    pub probe: Arc<dyn Probe>,
}

/// The ERP of a deployment. `tokens` keeps its sign-in token where every function shares it
/// (the state table); without it a token-based sign-in is this process's alone.
pub fn erp(connections: &Connections, tokens: Option<Arc<dyn SharedTokens>>) -> Result<ErpParts, SetupError> {
    let mut client = acumatica::AcumaticaClient::new(connections.acumatica.clone())?;
    if let Some(tokens) = tokens {
        client = client.with_shared_tokens(tokens);
    }
    let client = Arc::new(client);
    Ok(ErpParts {
        sink: client.clone(),
        shipments: client.clone(),
        orders: client.clone(),
        charges: client.clone(),
        stock: client.clone(),
        customer_writes: client.clone(),
        outbound: client.clone(),
        probe: client,
        log_name: log_name(acumatica::VENDOR),
    })
}

/// The shipping tool whose labels are pushed back, with its store → connection map.
pub struct ToolParts {
    pub tool: Arc<dyn ShippingTool>,
    pub stores: BTreeMap<i64, ConnectionId>,
    /// The same account as the shipping station ERP shipments are exported to, when configured.
    pub station: Option<(Arc<dyn ShippingStation>, StationExport)>,
    /// Test connection: one small read.
    pub probe: Arc<dyn Probe>,
}

/// The shipping tool, when the connections file configures one.
pub fn shipping_tool(connections: &Connections) -> Result<Option<ToolParts>, SetupError> {
    let Some(section) = &connections.shipstation else { return Ok(None) };
    let tool = Arc::new(shipstation::ShipStationClient::new(section.settings.clone())?);
    let stores = section
        .store_map()
        .map_err(|problem| SetupError::Config(InvalidConfig { vendor: shipstation::VENDOR, problem }))?;
    let station = section.export.clone().map(|export| (tool.clone() as Arc<dyn ShippingStation>, export));
    Ok(Some(ToolParts { tool: tool.clone(), stores, station, probe: tool }))
}

/// The shipping tool's name in the connector log.
pub fn shipping_tool_log_name() -> ConnectionId {
    log_name(shipstation::VENDOR)
}

fn log_name(vendor: &'static str) -> ConnectionId {
    ConnectionId::parse(vendor).unwrap_or_else(|_| unreachable!("{vendor} is a valid connection id"))
}

/// The routes of shipment-webhook (paths as API Gateway's `rawPath`).
pub const SHIPSTATION_ROUTE: &str = "/webhooks/shipstation";
pub const ACUMATICA_ROUTE: &str = "/webhooks/acumatica";
pub const GENERIC_ROUTE: &str = "/webhooks/generic";
/// Followed by the channel connection's id: `/webhooks/orders/bc-main`.
pub const ORDER_ROUTE_PREFIX: &str = "/webhooks/orders/";

/// The route a channel connection's order webhooks are delivered to.
pub fn order_route(connection: &ConnectionId) -> String {
    format!("{ORDER_ROUTE_PREFIX}{connection}")
}

/// Registers (or repairs) a channel connection's order webhooks so they deliver to its route
/// under `api_base` (the shipment-webhook API's URL, e.g.
/// `https://abc.execute-api.us-east-1.amazonaws.com`). Returns each subscription and what was done.
pub async fn register_order_hooks(
    connections: &Connections,
    connection: &str,
    api_base: &str,
) -> Result<Vec<crate::ports::HookChange>, Box<dyn std::error::Error + Send + Sync>> {
    let Some(channel) = connections.connections.iter().find(|c| c.id.as_str() == connection) else {
        let known: Vec<&str> = connections.connections.iter().map(|c| c.id.as_str()).collect();
        return Err(
            format!("connection {connection:?} is not in the connections file (it has: {})", known.join(", ")).into()
        );
    };
    let hooks = self::channel(channel)?.hooks.ok_or_else(|| {
        format!("connection {connection}: its kind has no order webhooks, or its settings set no webhook_secret")
    })?;
    let destination = format!("{}{}", api_base.trim_end_matches('/'), order_route(&channel.id));
    Ok(hooks.register(&destination).await?)
}

/// The webhook routes whose secrets are configured; the others answer 404. A channel
/// connection whose settings cannot be read gets no route (the cold start's check of the
/// connections file names the field).
pub fn webhook_routes(connections: &Connections) -> Vec<(String, Arc<dyn WebhookVerifier>)> {
    let hooks = &connections.webhooks;
    let mut routes: Vec<(String, Arc<dyn WebhookVerifier>)> = Vec::new();
    if !hooks.shipstation_token.is_empty() {
        let base = connections.shipstation.as_ref().map(|s| s.settings.base_url.as_str());
        let verifier = shipstation::ShipStationVerifier::new(hooks.shipstation_token.clone(), base);
        routes.push((SHIPSTATION_ROUTE.into(), Arc::new(verifier)));
    }
    if let (Some(header), false) = (&hooks.acumatica_header, hooks.acumatica_secret.is_empty()) {
        let verifier = acumatica::AcumaticaPushVerifier::new(header, hooks.acumatica_secret.clone())
            .with_shipped_statuses(&connections.acumatica.shipped_statuses);
        routes.push((ACUMATICA_ROUTE.into(), Arc::new(verifier)));
    }
    if !hooks.generic_secrets.is_empty() {
        routes.push((GENERIC_ROUTE.into(), Arc::new(StandardWebhooksVerifier::new("generic", &hooks.generic_secrets))));
    }
    for connection in &connections.connections {
        let Some(build) = vendor(&connection.kind).and_then(|v| v.channel.as_ref()).and_then(|c| c.order_webhook)
        else {
            continue;
        };
        if let Ok(Some(verifier)) = build(&connection.id, &connection.settings) {
            routes.push((order_route(&connection.id), verifier));
        }
    }
    routes
}

/// A `webhook_event.v1` message (enqueued before events were typed) as a typed event, parsed by
/// the sender's own parser. `event` is the v1 kind (`acumatica.<query>`, `shipstation.ship_notify`,
/// `generic`).
pub fn legacy_webhook_event(event: &str, payload: &serde_json::Value) -> Result<InboundEvent, String> {
    if event.starts_with("acumatica.") {
        Ok(acumatica::webhook::legacy_event(payload))
    } else if event == "shipstation.ship_notify" {
        shipstation::webhook::legacy_event(payload)
    } else {
        crate::webhooks::generic_event(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SystemCode;

    #[test]
    fn every_vendor_has_a_unique_kind_and_a_valid_unique_code() {
        let mut kinds = std::collections::BTreeSet::new();
        let mut codes = std::collections::BTreeSet::new();
        for v in VENDORS {
            assert!(SystemCode::parse(v.code).is_ok(), "{}: code {:?}", v.kind, v.code);
            assert!(ConnectionId::parse(v.kind).is_ok(), "{}: kind must be a valid log name", v.kind);
            assert!(kinds.insert(v.kind) && codes.insert(v.code), "{} registered twice", v.kind);
            assert_eq!(v.channel.is_some(), v.role == Role::Channel, "{}: only channels build connections", v.kind);
        }
    }

    #[test]
    fn records_written_with_system_names_still_read() {
        install();
        let old: ChannelOrderId = serde_json::from_str(r#"{"channel":"sellercloud","id":5512345}"#).unwrap();
        assert_eq!(old.to_string(), "SC-5512345");
        let new: ChannelOrderId = serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
        assert_eq!(new, old);
        let bc: ChannelOrderId = serde_json::from_str(r#"{"channel":"bigcommerce","id":7}"#).unwrap();
        assert_eq!(bc.to_string(), "BC-7");
        let shipment: crate::model::ShipmentSource =
            serde_json::from_str(r#"{"system":"shipstation","id":778899}"#).unwrap();
        assert_eq!(shipment.to_string(), "SS-778899");
    }

    #[test]
    fn legacy_webhook_messages_become_typed_events() {
        let acu = serde_json::json!({"inserted": [{"ShipmentNbr": "000123"}]});
        assert!(matches!(
            legacy_webhook_event("acumatica.ShipmentsForSync", &acu),
            Ok(InboundEvent::ErpChanged { shipments, .. }) if shipments.len() == 1
        ));
        let ss = serde_json::json!({"resource_url": "https://ssapi.shipstation.com/shipments?batchId=1"});
        assert!(matches!(
            legacy_webhook_event("shipstation.ship_notify", &ss),
            Ok(InboundEvent::ToolBatchReady { .. })
        ));
        assert!(legacy_webhook_event("generic", &serde_json::json!({"type": "nope"})).is_err());
    }
}

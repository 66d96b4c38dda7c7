//! Ports of the shipping-station direction: ERP shipments read for export, and the station that
//! receives them as orders (created or updated by their key, so a repeat is an update).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ConnectorError;
use crate::model::{OutboundShipment, StationOrder};

/// The ERP as the source of shipments a shipping station labels.
#[async_trait]
pub trait OutboundShipments: Send + Sync {
    /// Shipments modified since `since` whose status is one of `statuses`, whole (lines, packages,
    /// ship-to, the orders they cover).
    async fn outbound_since(
        &self,
        since: DateTime<Utc>,
        statuses: &[String],
    ) -> Result<Vec<OutboundShipment>, ConnectorError>;
    /// One shipment, whole; None when it no longer exists.
    async fn outbound(&self, shipment_nbr: &str) -> Result<Option<OutboundShipment>, ConnectorError>;
    /// Writes `note` on the shipment, where people working it look (what keeps it from export).
    async fn note_on_shipment(&self, shipment_nbr: &str, note: &str) -> Result<(), ConnectorError>;
    /// Puts each label's tracking number on a package of the shipment: the package that already
    /// has it, else the first without tracking, else a new package like the others; a shipment
    /// without any package stores none (`no_package`).
    async fn record_labels(
        &self,
        shipment_nbr: &str,
        labels: &[StationLabel],
    ) -> Result<LabelsRecorded, ConnectorError>;
    /// Confirms the shipment (shipped); one already confirmed is left as it is.
    async fn confirm_shipment(&self, shipment_nbr: &str) -> Result<(), ConnectorError>;
    /// Takes a voided label's tracking number off the shipment's package, while the shipment is
    /// not confirmed yet.
    async fn clear_label(&self, shipment_nbr: &str, tracking: &str) -> Result<LabelCleared, ConnectorError>;
}

/// What `clear_label` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelCleared {
    Cleared,
    /// No package carries that tracking number.
    NotOnShipment,
    /// The shipment is confirmed: its packages no longer change (and its tracking went on).
    AlreadyShipped,
}

/// A label the station voided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidedLabel {
    pub order_key: String,
    pub tracking: String,
}

/// A label the station bought for an exported shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationLabel {
    pub tracking: String,
    pub carrier: Option<String>,
}

/// What `record_labels` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelsRecorded {
    /// Tracking numbers written now.
    pub stored: Vec<String>,
    /// Tracking numbers already on a package.
    pub already: Vec<String>,
    /// The shipment has no package, so no tracking could be stored.
    pub no_package: bool,
}

/// What the station answered for one order of a bulk create-or-update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationOutcome {
    pub key: String,
    /// The station's order id, or its refusal in its own words.
    pub result: Result<String, String>,
}

/// A shipping station orders are created in (created or updated by key).
#[async_trait]
pub trait ShippingStation: Send + Sync {
    /// Creates or updates each order by its key, in as few calls as the station allows; one
    /// outcome per order (a refused order does not fail the others).
    async fn upsert_orders(&self, orders: &[StationOrder]) -> Result<Vec<StationOutcome>, ConnectorError>;
    /// The zone the station reads offset-less order dates in.
    fn time_zone(&self) -> chrono_tz::Tz;
    /// Labels voided since `since`.
    async fn voided_since(&self, since: DateTime<Utc>) -> Result<Vec<VoidedLabel>, ConnectorError>;
}

//! Availability for storefronts (`ErpStock`, vendor-apis-erp-out.md B.2): what changed since a
//! time in one call (`InventoryQuantityAvailable`), one item per warehouse in one call
//! (`InventorySummaryInquiry`). Inquiry entities are called with PUT; both only read. Available,
//! not on hand: stock already allocated to open orders is not for sale.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use super::client::AcumaticaClient;
use super::mapper::parse_datetime;
use super::wire::{get, text, QtyAvailableInquiry, SummaryInquiry};
use super::VENDOR;
use crate::connectors::ConnectorError;
use crate::http::Idempotency;
use crate::model::ChangedItem;
use crate::ports::ErpStock;

#[async_trait]
impl ErpStock for AcumaticaClient {
    /// `PUT InventoryQuantityAvailable?$expand=Results` `{"LastModifiedDateTime": since}`.
    async fn changed_since(&self, since: DateTime<Utc>) -> Result<Vec<ChangedItem>, ConnectorError> {
        const OP: &str = "read changed availability";
        let url = self.entity_url(&["InventoryQuantityAvailable"])?;
        // With its offset: a time without one is read in the instance's own zone.
        let body = json!({ "LastModifiedDateTime": { "value": since.to_rfc3339_opts(SecondsFormat::Millis, false) } });
        let reply = self
            .authed(OP, Idempotency::Safe, |c| c.put(url.clone()).query(&[("$expand", "Results")]).json(&body))
            .await?;
        let inquiry: QtyAvailableInquiry = reply.json(VENDOR, OP)?;
        let mut out = Vec::with_capacity(inquiry.Results.len());
        for row in &inquiry.Results {
            let Some(item) = text(&row.InventoryID).map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()) else {
                continue;
            };
            let changed_at = text(&row.LastModifiedDateTime).as_deref().and_then(parse_datetime).unwrap_or(since);
            out.push(ChangedItem { item, available: get(&row.QtyAvailable).map(|n| n.0), changed_at });
        }
        Ok(out)
    }

    /// `PUT InventorySummaryInquiry?$expand=Results` `{"InventoryID": item}`: the rows of the chosen
    /// warehouses added up. An item the ERP does not know (it answers 422 naming it) is None.
    async fn available(&self, item: &str, warehouses: &[String]) -> Result<Option<Decimal>, ConnectorError> {
        const OP: &str = "read item availability";
        let url = self.entity_url(&["InventorySummaryInquiry"])?;
        let body = json!({ "InventoryID": { "value": item } });
        let reply = match self
            .authed(OP, Idempotency::Safe, |c| c.put(url.clone()).query(&[("$expand", "Results")]).json(&body))
            .await
        {
            Ok(reply) => reply,
            Err(ConnectorError::Rejected { message, .. }) if message.contains("cannot be found") => return Ok(None),
            Err(e) => return Err(e),
        };
        let inquiry: SummaryInquiry = reply.json(VENDOR, OP)?;
        let counts = |row: &super::wire::SummaryRow| {
            warehouses.is_empty()
                || text(&row.WarehouseID).is_some_and(|w| warehouses.iter().any(|x| x.eq_ignore_ascii_case(w.trim())))
        };
        Ok(Some(inquiry.Results.iter().filter(|r| counts(r)).filter_map(|r| get(&r.QtyAvailable)).map(|n| n.0).sum()))
    }
}

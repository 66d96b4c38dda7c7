//! Export: ERP shipments to a shipping station.
//!
//! A shipment in one of the configured statuses becomes a station order keyed on the shipment
//! (`AC-000123`), created or updated by that key, so a redelivered notification, a repeated poll
//! or a crash between the create and the record never makes a second order. Per shipment version
//! (its last-modified time): claim → read the export record → pure station order → create or
//! update → record → complete. A shipment put on hold holds the station order; a cancelled one
//! cancels it; a shipment reinstated after a cancel gets a new key (a cancelled station order
//! cannot be reopened). An incomplete ship-to is not exported: the log and the ERP shipment say
//! what is missing (once per distinct problem), and the next version is tried again.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::LogRecorder;
use super::PushError;
use crate::error::{Classify, ErrorChain};
use crate::mapping::{station_order, StationOrderError};
use crate::model::{ConnectionId, OutboundShipment, OutboundState, StationExport, StationStatus};
use crate::ports::{
    ClaimKey, ClaimOutcome, Claims, Clock, ConnectorError, ConnectorLog, Cursors, Direction, LedgerError, LogGroup,
    LogResult, OutboundShipments, ShippingStation,
};

/// What the export uses.
pub struct ExportContext<'a> {
    pub claims: &'a dyn Claims,
    /// Each shipment's export record is a cursor of the station's log name (`export#000123`).
    pub cursors: &'a dyn Cursors,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub erp: &'a dyn OutboundShipments,
    pub station: &'a dyn ShippingStation,
    pub settings: &'a StationExport,
    /// The station's name in the connector log and the ledger.
    pub station_name: &'a ConnectionId,
    pub owner: String,
    pub lease: Duration,
}

/// What Orderbridge remembers of one exported shipment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// 1 for the first station order; one more each time a cancelled one had to be replaced.
    pub generation: u32,
    pub station_order_id: Option<String>,
    pub status: Option<StationStatus>,
    /// The shipment version (last modified, RFC 3339) last handled.
    pub version: Option<String>,
    /// The problem last reported for this shipment (reported again only when it changes).
    pub problem: Option<String>,
    /// The station order's key (labels coming back are matched on it).
    #[serde(default)]
    pub key: Option<String>,
}

/// How one shipment version ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    Exported {
        shipment: String,
        station_order: String,
        status: StationStatus,
    },
    /// This version was handled before.
    AlreadyExported {
        shipment: String,
    },
    /// Not in an exported status, and never exported.
    NotExported {
        shipment: String,
        status: String,
    },
    /// Not exported until the ERP shipment is fixed; `reported`: logged and noted on the ERP.
    Incomplete {
        shipment: String,
        problem: String,
        reported: bool,
    },
    /// The station refused the order (its words are in the log); tried again on the next version.
    Refused {
        shipment: String,
        reason: String,
    },
}

fn record_stream(shipment: &OutboundShipment) -> String {
    format!("export#{}", shipment.source.id)
}

/// Exports one version of one shipment, exactly once per version.
pub async fn export_shipment(shipment: &OutboundShipment, ctx: &ExportContext<'_>) -> Result<ExportOutcome, PushError> {
    let name = shipment.source.to_string();
    let ledger = |what: &str| {
        let what = format!("{what} of {name}");
        move |source| PushError::Ledger { what, source }
    };
    let stream = record_stream(shipment);
    let stored = ctx.cursors.cursor(ctx.station_name, &stream).await.map_err(ledger("export record"))?;
    let mut record: ExportRecord =
        stored.as_ref().and_then(|c| serde_json::from_str(&c.value).ok()).unwrap_or_default();
    let version = shipment.last_modified.to_rfc3339();
    if record.version.as_deref() == Some(version.as_str()) {
        return Ok(ExportOutcome::AlreadyExported { shipment: name });
    }
    let exported_before = record.station_order_id.is_some();
    let wanted = match &shipment.state {
        OutboundState::OnHold | OutboundState::Canceled => {
            exported_before || ctx.settings.exports(&shipment.erp_status)
        }
        // Shipped: the label path carries it from here.
        OutboundState::Shipped => false,
        _ => ctx.settings.exports(&shipment.erp_status),
    };
    if !wanted {
        return Ok(ExportOutcome::NotExported { shipment: name, status: shipment.erp_status.clone() });
    }
    if shipment.state == OutboundState::Canceled && !exported_before {
        return Ok(ExportOutcome::NotExported { shipment: name, status: shipment.erp_status.clone() });
    }

    let claim = ClaimKey::other(
        "EXPORT",
        &format!("{}#{}@{}", ctx.station_name, name, shipment.last_modified.timestamp_millis()),
    );
    let lease = match ctx.claims.claim(&claim, &ctx.owner, ctx.lease).await.map_err(ledger("export claim"))? {
        ClaimOutcome::Acquired(lease) => lease,
        ClaimOutcome::Completed(_) => return Ok(ExportOutcome::AlreadyExported { shipment: name }),
        ClaimOutcome::InProgress { .. } => return Err(PushError::InProgress { key: claim.to_string() }),
    };
    // A shipment reinstated after its station order was cancelled needs a new one.
    if record.status == Some(StationStatus::Cancelled) && shipment.state != OutboundState::Canceled {
        record.generation += 1;
        record.station_order_id = None;
    }
    record.generation = record.generation.max(1);

    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action =
        recorder.start(ctx.station_name, LogGroup::Shipments, "export_shipment", Direction::Export, name.clone());
    let order = match station_order(shipment, record.generation, ctx.settings, ctx.station.time_zone()) {
        Ok(order) => order,
        Err(problem) => {
            let text = problem.to_string();
            let reported = record.problem.as_deref() != Some(text.as_str());
            if reported {
                if let StationOrderError::Incomplete { .. } = problem {
                    // Where people working the shipment look; a failed note is logged, not fatal.
                    if let Err(e) = ctx.erp.note_on_shipment(&shipment.source.id, &format!("Orderbridge: {text}")).await
                    {
                        warn!(shipment = %name, error = %ErrorChain(&e), "Could not note the problem on the ERP shipment.");
                    }
                }
                recorder.finish(action, LogResult::Failure, format!("Not exported: {text}.")).await;
            }
            record.problem = Some(text.clone());
            record.version = Some(version);
            save_record(ctx, &stream, stored.map(|c| c.version), &record).await.map_err(ledger("export record"))?;
            ctx.claims.complete(&lease, "not exported").await.map_err(ledger("export claim"))?;
            return Ok(ExportOutcome::Incomplete { shipment: name, problem: text, reported });
        }
    };
    let outcome = match ctx.station.upsert_orders(std::slice::from_ref(&order)).await {
        Ok(outcomes) => outcomes.into_iter().find(|o| o.key == order.key).map(|o| o.result),
        Err(e) if e.is_retryable() => {
            let _ = ctx.claims.release(&lease).await;
            recorder.finish(action, LogResult::Retry, format!("{}; retrying.", ErrorChain(&e))).await;
            return Err(PushError::Vendor { what: format!("export of {name}"), source: e });
        }
        Err(e) => Some(Err(ErrorChain(&e).to_string())),
    };
    match outcome {
        Some(Ok(station_order)) => {
            record.station_order_id = Some(station_order.clone());
            record.key = Some(order.key.clone());
            record.status = Some(order.status);
            record.version = Some(version);
            record.problem = None;
            save_record(ctx, &stream, stored.map(|c| c.version), &record).await.map_err(ledger("export record"))?;
            ctx.claims.complete(&lease, &station_order).await.map_err(ledger("export claim"))?;
            info!(shipment = %name, station_order = %station_order, status = ?order.status, "Shipment exported to the shipping station.");
            recorder
                .finish(
                    action,
                    LogResult::Success,
                    format!(
                        "Exported as order {} (key {}, {:?}, dated {}) for {}.",
                        station_order,
                        order.key,
                        order.status,
                        order.order_date.date(),
                        order.erp_reference
                    ),
                )
                .await;
            Ok(ExportOutcome::Exported { shipment: name, station_order, status: order.status })
        }
        other => {
            let reason = match other {
                Some(Err(reason)) => reason,
                _ => "the station did not answer for this order".to_owned(),
            };
            if let Err(e) = ctx.claims.fail(&lease, &reason).await {
                warn!(shipment = %name, error = %e, "Export failure not recorded on the claim.");
            }
            recorder.finish(action, LogResult::Failure, format!("The station refused it: {reason}")).await;
            Ok(ExportOutcome::Refused { shipment: name, reason })
        }
    }
}

async fn save_record(
    ctx: &ExportContext<'_>,
    stream: &str,
    version: Option<u64>,
    record: &ExportRecord,
) -> Result<(), LedgerError> {
    let value = serde_json::to_string(record).unwrap_or_default();
    ctx.cursors.save_cursor(ctx.station_name, stream, &value, version).await.map(|_| ())
}

/// The export record of a shipment (labels back read the station order id from it).
pub async fn export_record(
    cursors: &dyn Cursors,
    station_name: &ConnectionId,
    shipment_nbr: &str,
) -> Result<Option<ExportRecord>, LedgerError> {
    let stored = cursors.cursor(station_name, &format!("export#{shipment_nbr}")).await?;
    Ok(stored.and_then(|c| serde_json::from_str(&c.value).ok()))
}

/// The exported shipment a station order key stands for (`AC-000123`, `AC-000123-2`), if its
/// export record carries that key.
pub(crate) async fn exported_shipment_of(
    cursors: &dyn Cursors,
    station_name: &ConnectionId,
    key: &str,
) -> Result<Option<(String, ExportRecord)>, LedgerError> {
    let Some((_, rest)) = key.split_once('-') else { return Ok(None) };
    let mut candidates = vec![rest.to_owned()];
    if let Some((nbr, generation)) = rest.rsplit_once('-') {
        if generation.chars().all(|c| c.is_ascii_digit()) {
            candidates.push(nbr.to_owned());
        }
    }
    for nbr in candidates {
        if let Some(record) = export_record(cursors, station_name, &nbr).await? {
            if record.key.as_deref() == Some(key) {
                return Ok(Some((nbr, record)));
            }
        }
    }
    Ok(None)
}

/// Labels the station bought for a shipment Orderbridge exported: each tracking number goes onto
/// the ERP shipment's package (once per label: claimed), then the shipment is confirmed when the
/// settings say so. The channel then hears of the tracking once, from the ERP's confirmation —
/// never from the station directly. `None`: not a shipment Orderbridge exported.
pub(crate) async fn labels_to_erp(
    order_key: Option<&str>,
    shipment: &crate::model::Shipment,
    station: &super::StationPorts<'_>,
    ctx: &super::PushContext<'_>,
) -> Result<Option<super::PushOutcome>, super::PushError> {
    use super::PushOutcome;
    let Some(key) = order_key else { return Ok(None) };
    let ledger = |what: String| move |source| PushError::Ledger { what, source };
    let Some((nbr, _)) =
        exported_shipment_of(ctx.cursors, ctx.tool_name, key).await.map_err(ledger(format!("export of {key}")))?
    else {
        return Ok(None);
    };
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let action = recorder.start(ctx.tool_name, LogGroup::Shipments, "label_to_erp", Direction::Import, nbr.clone());
    let mut leases = Vec::new();
    let mut labels = Vec::new();
    for package in &shipment.packages {
        let tracking = package.tracking.number.to_string();
        let claim = ClaimKey::other("LABEL", &format!("{}#{nbr}#{tracking}", ctx.tool_name));
        match ctx.claims.claim(&claim, &ctx.owner, ctx.lease).await.map_err(ledger(claim.to_string()))? {
            ClaimOutcome::Acquired(lease) => {
                leases.push(lease);
                labels.push(crate::ports::StationLabel {
                    tracking,
                    carrier: Some(package.tracking.carrier.clone()).filter(|c| !c.is_empty()),
                });
            }
            ClaimOutcome::Completed(_) => {}
            ClaimOutcome::InProgress { .. } => {
                for lease in &leases {
                    let _ = ctx.claims.release(lease).await;
                }
                return Err(PushError::InProgress { key: claim.to_string() });
            }
        }
    }
    if labels.is_empty() {
        recorder.finish(action, LogResult::Skipped, "Every label was written to the ERP before.").await;
        return Ok(Some(PushOutcome::NotOurs(format!("labels of shipment {nbr} written before"))));
    }
    let written = async {
        let recorded = station.erp.record_labels(&nbr, &labels).await?;
        if station.settings.confirm_shipments {
            station.erp.confirm_shipment(&nbr).await?;
        }
        Ok::<_, ConnectorError>(recorded)
    }
    .await;
    let tracking: Vec<String> = labels.iter().map(|l| l.tracking.clone()).collect();
    match written {
        Ok(recorded) => {
            for lease in &leases {
                if let Err(e) = ctx.claims.complete(lease, &nbr).await {
                    warn!(key = %lease.key, error = %e, "Label written but its claim was not completed.");
                }
            }
            let confirmed = if station.settings.confirm_shipments { "; shipment confirmed" } else { "" };
            let (result, notes) = if recorded.no_package {
                (
                    LogResult::Failure,
                    format!(
                        "Shipment {nbr} has no package, so no tracking could be stored ({}){confirmed}; add a package with the tracking by hand.",
                        tracking.join(", ")
                    ),
                )
            } else {
                (LogResult::Success, format!("Tracking {} written to shipment {nbr}{confirmed}.", tracking.join(", ")))
            };
            recorder.finish(action, result, notes).await;
            info!(shipment = %nbr, tracking = ?tracking, "Station labels written to the ERP shipment.");
            Ok(Some(PushOutcome::LabelsToErp { shipment: nbr, tracking }))
        }
        Err(e) if e.is_retryable() => {
            for lease in &leases {
                let _ = ctx.claims.release(lease).await;
            }
            recorder.finish(action, LogResult::Retry, format!("{}; retrying.", ErrorChain(&e))).await;
            Err(PushError::Vendor { what: format!("labels of shipment {nbr}"), source: e })
        }
        Err(e) => {
            let reason = ErrorChain(&e).to_string();
            for lease in &leases {
                let _ = ctx.claims.fail(lease, &reason).await;
            }
            recorder
                .finish(action, LogResult::Failure, format!("Labels {} not written: {reason}", tracking.join(", ")))
                .await;
            Ok(Some(PushOutcome::Failed(reason)))
        }
    }
}

/// A push notification named a shipment that is not shipped: export it when its status says so.
pub(crate) async fn export_on_notification(
    shipment_nbr: &str,
    station: &super::StationPorts<'_>,
    ctx: &super::PushContext<'_>,
) -> Result<Option<super::PushOutcome>, super::PushError> {
    use super::PushOutcome;
    let Some(shipment) = station
        .erp
        .outbound(shipment_nbr)
        .await
        .map_err(|source| PushError::Vendor { what: format!("ERP shipment {shipment_nbr}"), source })?
    else {
        info!(shipment = %shipment_nbr, "ERP shipment is gone; nothing to export.");
        return Ok(None);
    };
    let export = ExportContext {
        claims: ctx.claims,
        cursors: ctx.cursors,
        log: ctx.log,
        clock: ctx.clock,
        erp: station.erp,
        station: station.station,
        settings: station.settings,
        station_name: ctx.tool_name,
        owner: ctx.owner.clone(),
        lease: ctx.lease,
    };
    let outcome = export_shipment(&shipment, &export).await?;
    Ok(Some(match outcome {
        ExportOutcome::Exported { shipment, station_order, .. } => PushOutcome::Exported { shipment, station_order },
        ExportOutcome::Refused { reason, .. } => PushOutcome::Failed(reason),
        other => PushOutcome::NotOurs(format!("{other:?}")),
    }))
}

/// Labels the station voided since `since`, for shipments Orderbridge exported: while the ERP
/// shipment is not confirmed, the tracking comes off its package (nothing went to a channel yet,
/// and a new label takes the package); after the confirmation the tracking already reached the
/// channel, so an operator is told what to correct. Once per voided label. Returns how many were
/// handled now.
pub async fn handle_voided_labels(
    since: chrono::DateTime<chrono::Utc>,
    ctx: &ExportContext<'_>,
) -> Result<u32, PushError> {
    use crate::ports::LabelCleared;
    let voided = ctx
        .station
        .voided_since(since)
        .await
        .map_err(|source| PushError::Vendor { what: "voided labels".into(), source })?;
    let recorder = LogRecorder { log: ctx.log, clock: ctx.clock };
    let mut handled = 0;
    for label in voided {
        let ledger = |what: String| move |source| PushError::Ledger { what, source };
        let Some((nbr, _)) = exported_shipment_of(ctx.cursors, ctx.station_name, &label.order_key)
            .await
            .map_err(ledger(format!("export of {}", label.order_key)))?
        else {
            continue;
        };
        let claim = ClaimKey::other("VOID", &format!("{}#{nbr}#{}", ctx.station_name, label.tracking));
        let lease = match ctx.claims.claim(&claim, &ctx.owner, ctx.lease).await.map_err(ledger(claim.to_string()))? {
            ClaimOutcome::Acquired(lease) => lease,
            ClaimOutcome::Completed(_) | ClaimOutcome::InProgress { .. } => continue,
        };
        let action =
            recorder.start(ctx.station_name, LogGroup::Shipments, "void_label", Direction::Import, nbr.clone());
        let (result, notes) = match ctx.erp.clear_label(&nbr, &label.tracking).await {
            Ok(LabelCleared::Cleared) => (
                LogResult::Success,
                format!(
                    "Label {} voided in the station: its tracking is off shipment {nbr}'s package before any channel heard of it; a new label takes the package.",
                    label.tracking
                ),
            ),
            Ok(LabelCleared::AlreadyShipped) => (
                LogResult::Failure,
                format!(
                    "Label {} was voided after shipment {nbr} was confirmed, so its tracking already went to the sales channel: correct the shipment's package and the channel order by hand.",
                    label.tracking
                ),
            ),
            Ok(LabelCleared::NotOnShipment) => {
                (LogResult::Skipped, format!("Label {} voided; it was not on shipment {nbr}.", label.tracking))
            }
            Err(e) if e.is_retryable() => {
                let _ = ctx.claims.release(&lease).await;
                recorder.finish(action, LogResult::Retry, format!("{}; retrying.", ErrorChain(&e))).await;
                return Err(PushError::Vendor { what: format!("voided label of {nbr}"), source: e });
            }
            Err(e) => {
                let reason = ErrorChain(&e).to_string();
                let _ = ctx.claims.fail(&lease, &reason).await;
                recorder.finish(action, LogResult::Failure, format!("Voided label {} not cleared: {reason}", label.tracking)).await;
                continue;
            }
        };
        ctx.claims.complete(&lease, &label.tracking).await.map_err(ledger(claim.to_string()))?;
        recorder.finish(action, result, notes).await;
        handled += 1;
    }
    Ok(handled)
}

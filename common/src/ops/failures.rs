//! The operator's view of orders that need a person: failed imports grouped by reason and by
//! unmapped value, and the actions on them — retry now, skip for good, replay what a mapping
//! blocked, re-import after a reset in the channel — and one order's timeline across systems.
//!
//! Every action is written to the connector log with the operator who took it. Retrying,
//! replaying and re-importing only enqueue the order again: the import's claim keeps them
//! exactly-once, whatever else (a pull, a redelivery) enqueues the same order meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::flows::{ImportOrder, LogRecorder, OrderMessage};
use crate::mapping::UnmappedValue;
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef, ImportKey};
use crate::ports::{
    Binding, ClaimChange, ClaimKey, ClaimRecord, ClaimStatus, Clock, ConnectorLog, Direction, Envelope, FailedClaim,
    FailedRecords, Ledger, LedgerError, ListedOrder, LogEntry, LogGroup, LogResult, Queue, QueueError,
};

/// Claim namespace of order imports (see `ClaimKey::import`).
const IMPORTS: &str = "IMPORT";
/// How many failed records the inbox reads at most.
const INBOX_LIMIT: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("reading or writing the state table failed")]
    Ledger(#[from] LedgerError),
    #[error("enqueuing the order failed")]
    Queue(#[from] QueueError),
    #[error("{0} could not be enqueued: {1}")]
    NotEnqueued(String, String),
    #[error("connection {0:?} is not configured in this deployment")]
    UnknownConnection(String),
    #[error("{0:?} is not an Import ID (the channel code, a dash and the channel's id, e.g. SC-1001)")]
    NotAnImportId(String),
    #[error("{0}")]
    Refused(String),
}

impl crate::error::Classify for OpsError {
    fn class(&self) -> crate::error::ErrorClass {
        match self {
            Self::Ledger(e) => e.class(),
            Self::Queue(e) => e.class(),
            Self::NotEnqueued(..) => crate::error::ErrorClass::RETRY,
            _ => crate::error::ErrorClass::Permanent,
        }
    }
}

/// One failed import, as the inbox lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedOrder {
    pub key: ImportKey,
    pub attempts: u32,
    pub failure: String,
    pub failed_at: DateTime<Utc>,
    pub unmapped: Vec<UnmappedValue>,
}

/// Failed orders with the same reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonGroup {
    pub reason: String,
    pub orders: Vec<FailedOrder>,
}

/// Orders one unmapped value blocks, with the line that unblocks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedGroup {
    pub connection: ConnectionId,
    pub value: UnmappedValue,
    pub orders: Vec<ImportKey>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inbox {
    pub by_reason: Vec<ReasonGroup>,
    pub unmapped: Vec<UnmappedGroup>,
    /// Failed records of other kinds (shipment pushes, customers), by namespace.
    pub total: usize,
}

/// The reason a failure is grouped under: its text without the mapping version and with every
/// number and quoted value replaced, so "SKU \"A-1\" not found" and "SKU \"B-2\" not found"
/// read as one reason.
pub fn reason_of(failure: &str) -> String {
    let text = failure.split_once(": ").filter(|(head, _)| head.starts_with("mapping v")).map_or(failure, |(_, t)| t);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push_str("\"…\"");
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            c if c.is_ascii_digit() => {
                out.push('#');
                while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out.chars().take(300).collect()
}

/// How an operator's action on an order ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport {
    pub done: bool,
    /// What happened, for the page and the CLI.
    pub message: String,
}

/// Orders replayed after a mapping change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub enqueued: Vec<ImportKey>,
}

/// One step of an order's way across systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineStep {
    pub at: DateTime<Utc>,
    pub stage: &'static str,
    pub entry: Option<LogEntry>,
    pub detail: String,
}

/// One order across systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub key: ImportKey,
    pub correlation_id: String,
    pub claim: Option<ClaimRecord>,
    pub binding: Option<Binding>,
    pub steps: Vec<TimelineStep>,
}

/// What the record actions use. Built once per process (the console's Lambda, the CLI).
#[derive(Clone)]
pub struct RecordOps {
    pub ledger: Arc<dyn Ledger>,
    pub failed: Arc<dyn FailedRecords>,
    pub log: Arc<dyn ConnectorLog>,
    /// The orders queue (imports are enqueued here).
    pub orders: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    /// The configured connections (the timeline looks an Import ID up in each).
    pub connections: Vec<ConnectionId>,
}

/// What the record actions read from the environment: the common settings and the orders queue.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    pub common: crate::config::CommonSettings,
    pub orders_queue: crate::config::QueueUrl,
}

impl crate::handlers::LoadSettings for RecordSettings {
    fn load<F: Fn(&str) -> Option<String>>(env: &crate::config::Env<F>) -> Result<Self, crate::config::SettingsError> {
        Ok(Self {
            common: crate::config::CommonSettings::load(env)?,
            orders_queue: env.queue_url("ORDERBRIDGE_ORDERS_QUEUE_URL")?,
        })
    }
}

impl crate::handlers::App for RecordOps {
    type Settings = RecordSettings;

    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &RecordSettings,
        connections: &crate::connections::Connections,
    ) -> Result<Self, crate::handlers::SetupError> {
        crate::connectors::registry::install();
        let dynamo = crate::aws::dynamodb(sdk);
        let clock: Arc<dyn Clock> = Arc::new(crate::ports::SystemClock);
        let ledger = Arc::new(crate::aws::DynamoLedger::new(
            dynamo.clone(),
            settings.common.state_table.as_str(),
            clock.clone(),
        ));
        Ok(Self {
            ledger: ledger.clone(),
            failed: ledger,
            log: Arc::new(crate::aws::DynamoConnectorLog::new(
                dynamo,
                settings.common.log_table.as_str(),
                settings.common.log_retention,
            )),
            orders: Arc::new(crate::aws::SqsQueue::new(crate::aws::sqs(sdk), settings.orders_queue.as_str())),
            clock,
            connections: connections.connections.iter().map(|c| c.id.clone()).collect(),
        })
    }
}

impl RecordOps {
    /// Failed imports, grouped by reason and by unmapped value (each with the orders it blocks).
    pub async fn inbox(&self) -> Result<Inbox, OpsError> {
        let failed = self.failed.failed_claims(IMPORTS, INBOX_LIMIT).await?;
        let orders: Vec<FailedOrder> = failed.into_iter().filter_map(failed_order).collect();
        let mut by_reason: BTreeMap<String, Vec<FailedOrder>> = BTreeMap::new();
        let mut unmapped: BTreeMap<(ConnectionId, UnmappedValue), Vec<ImportKey>> = BTreeMap::new();
        for order in &orders {
            by_reason.entry(reason_of(&order.failure)).or_default().push(order.clone());
            for value in &order.unmapped {
                unmapped.entry((order.key.connection.clone(), value.clone())).or_default().push(order.key.clone());
            }
        }
        let mut by_reason: Vec<ReasonGroup> =
            by_reason.into_iter().map(|(reason, orders)| ReasonGroup { reason, orders }).collect();
        by_reason.sort_by(|a, b| b.orders.len().cmp(&a.orders.len()).then(a.reason.cmp(&b.reason)));
        let mut unmapped: Vec<UnmappedGroup> = unmapped
            .into_iter()
            .map(|((connection, value), orders)| UnmappedGroup { connection, value, orders })
            .collect();
        unmapped.sort_by(|a, b| b.orders.len().cmp(&a.orders.len()).then(a.value.cmp(&b.value)));
        Ok(Inbox { by_reason, unmapped, total: orders.len() })
    }

    /// Enqueues a failed (or never imported) order for import now.
    pub async fn retry(&self, key: &ImportKey, actor: &str) -> Result<ActionReport, OpsError> {
        self.known(&key.connection)?;
        let record = self.ledger.claim_record(&ClaimKey::import(key)).await?;
        let report = match record.as_ref().map(|r| r.status) {
            Some(ClaimStatus::Completed) => ActionReport {
                done: false,
                message: match record.as_ref().and_then(ClaimRecord::skipped_note) {
                    Some(note) => format!("{} was skipped ({note}); it is not retried.", key.import_id()),
                    None => format!(
                        "{} is already imported; use re-import after a reset in the channel to import it again.",
                        key.import_id()
                    ),
                },
            },
            _ => {
                self.enqueue(std::slice::from_ref(key)).await?;
                ActionReport { done: true, message: format!("{} enqueued for import.", key.import_id()) }
            }
        };
        self.record(key, "operator_retry", actor, &report).await;
        Ok(report)
    }

    /// Resolves a failed order without importing it; it is never retried or pulled again.
    pub async fn skip(&self, key: &ImportKey, note: &str, actor: &str) -> Result<ActionReport, OpsError> {
        self.known(&key.connection)?;
        let note = if note.trim().is_empty() { "no note" } else { note.trim() };
        let note = format!("{note} (by {actor})");
        let report = match self.failed.skip_failed(&ClaimKey::import(key), &note).await? {
            ClaimChange::Done => ActionReport {
                done: true,
                message: format!("{} skipped: {note}. It will not be retried.", key.import_id()),
            },
            ClaimChange::NotApplicable => ActionReport {
                done: false,
                message: format!(
                    "{} is not failed (imported or being imported now); nothing skipped.",
                    key.import_id()
                ),
            },
        };
        self.record(key, "operator_skip", actor, &report).await;
        Ok(report)
    }

    /// Forgets an import (claim and binding) and enqueues the order again: for an order reset in
    /// the channel to be imported anew. Look before you create still finds an ERP order that
    /// exists, so this never creates a second one for the same Import ID.
    pub async fn reimport(&self, key: &ImportKey, actor: &str) -> Result<ActionReport, OpsError> {
        self.known(&key.connection)?;
        let change = self.failed.reset_import(&ClaimKey::import(key), &key.connection, &key.order).await?;
        let report = match change {
            ClaimChange::Done => {
                self.enqueue(std::slice::from_ref(key)).await?;
                ActionReport {
                    done: true,
                    message: format!(
                        "{} reset and enqueued: it is imported again (an ERP order that still carries its Import ID is found, not duplicated).",
                        key.import_id()
                    ),
                }
            }
            ClaimChange::NotApplicable => ActionReport {
                done: false,
                message: format!(
                    "{} has no finished import to reset (never imported, or being imported now).",
                    key.import_id()
                ),
            },
        };
        self.record(key, "operator_reimport", actor, &report).await;
        Ok(report)
    }

    /// Enqueues every failed import of `connection` (all connections when None) that the unmapped
    /// `value` blocked (every failed import when None) — after the mapping is fixed and uploaded.
    pub async fn replay(
        &self,
        connection: Option<&ConnectionId>,
        value: Option<(&str, &str)>,
        actor: &str,
    ) -> Result<ReplayReport, OpsError> {
        if let Some(c) = connection {
            self.known(c)?;
        }
        let failed = self.failed.failed_claims(IMPORTS, INBOX_LIMIT).await?;
        let keys: Vec<ImportKey> = failed
            .into_iter()
            .filter_map(failed_order)
            .filter(|o| connection.is_none_or(|c| &o.key.connection == c))
            .filter(|o| {
                value.is_none_or(|(section, v)| o.unmapped.iter().any(|u| u.section == section && u.value == v))
            })
            .map(|o| o.key)
            .collect();
        self.enqueue(&keys).await?;
        let scope = match value {
            Some((section, v)) => format!("blocked by {v:?} in [{section}]"),
            None => "failed".to_owned(),
        };
        let connection_name = connection.map_or_else(|| "every connection".to_owned(), ToString::to_string);
        let message = format!("Replay by {actor}: {} order(s) of {connection_name} {scope} enqueued.", keys.len());
        tracing::info!(actor, orders = keys.len(), "{message}");
        for key in &keys {
            let report = ActionReport { done: true, message: message.clone() };
            self.record(key, "operator_replay", actor, &report).await;
        }
        Ok(ReplayReport { enqueued: keys })
    }

    /// One order across systems, found by Import ID (`SC-1001`) or ERP order (`SO/000123`).
    pub async fn timeline(&self, query: &str) -> Result<Option<Timeline>, OpsError> {
        let query = query.trim();
        let key = if let Some(erp) = ErpOrderRef::parse(query) {
            match self.ledger.binding_for_erp(&erp).await? {
                Some(b) => ImportKey::new(b.connection, b.channel_order_id),
                None => return Ok(None),
            }
        } else {
            let order = ChannelOrderId::parse_display(query).ok_or_else(|| OpsError::NotAnImportId(query.into()))?;
            let mut found = None;
            for connection in &self.connections {
                let key = ImportKey::new(connection.clone(), order.clone());
                if self.ledger.claim_record(&ClaimKey::import(&key)).await?.is_some()
                    || self.ledger.binding_for_channel(connection, &order).await?.is_some()
                {
                    found = Some(key);
                    break;
                }
            }
            match found {
                Some(key) => key,
                None => return Ok(None),
            }
        };
        let claim = self.ledger.claim_record(&ClaimKey::import(&key)).await?;
        let binding = self.ledger.binding_for_channel(&key.connection, &key.order).await?;
        let correlation_id = match &binding {
            Some(b) => crate::flows::binding_correlation(b),
            None => key.correlation_id(),
        };
        let mut entries = self.log.entries_for_entity(&key.connection, &key.import_id(), 500).await?;
        // Acknowledgements are written per batch (their entity lists the batch's orders): one
        // read from the first import to 15 minutes after the last finds the ones naming it.
        let imports = entries.iter().filter(|e| e.action == "import_order").map(|e| e.started_at);
        if let (Some(first), Some(last)) = (imports.clone().min(), imports.max()) {
            let until = last + chrono::Duration::minutes(15);
            let window = self.log.entries_between(&key.connection, first, until, 5000).await?;
            entries.extend(window.into_iter().filter(|e| {
                e.action == "acknowledge" && e.entity_id.split(',').any(|id| id.trim() == key.import_id())
            }));
        }
        entries.sort_by_key(|e| e.started_at);
        entries.dedup_by_key(|e| e.id);
        let mut steps: Vec<TimelineStep> = Vec::new();
        // Each time the order was enqueued (by a pull that saw it, or an operator), once.
        let mut queued: Vec<DateTime<Utc>> = entries.iter().filter_map(|e| e.queued_at).collect();
        queued.sort();
        queued.dedup();
        for at in queued {
            steps.push(TimelineStep {
                at,
                stage: "seen, enqueued",
                entry: None,
                detail: "Listed in the channel (or sent by an operator) and enqueued for import.".into(),
            });
        }
        steps.extend(entries.into_iter().map(|e| TimelineStep {
            at: e.started_at,
            stage: stage_of(&e),
            detail: e.notes.clone(),
            entry: Some(e),
        }));
        if let Some(b) = &binding {
            steps.push(TimelineStep {
                at: b.created_at,
                stage: "ERP order",
                entry: None,
                detail: format!("Bound to ERP order {} ({}).", b.erp, b.origin.as_str()),
            });
        }
        steps.sort_by_key(|s| s.at);
        Ok(Some(Timeline { key, correlation_id, claim, binding, steps }))
    }

    fn known(&self, connection: &ConnectionId) -> Result<(), OpsError> {
        if self.connections.contains(connection) {
            Ok(())
        } else {
            Err(OpsError::UnknownConnection(connection.to_string()))
        }
    }

    async fn enqueue(&self, keys: &[ImportKey]) -> Result<(), OpsError> {
        for chunk in keys.chunks(10) {
            let mut messages = Vec::with_capacity(chunk.len());
            for key in chunk {
                let body = OrderMessage::ImportOrderV1(ImportOrder {
                    connection: key.connection.clone(),
                    order: ListedOrder::Reference { id: key.order.clone(), display_number: key.order.raw().to_owned() },
                    announced: false,
                });
                let envelope = Envelope::correlated(body, self.clock.now(), key.correlation_id());
                let outgoing = envelope
                    .to_outgoing(key.import_id())
                    .map_err(|source| QueueError::Encode { queue: "orders".into(), source })?;
                messages.push(outgoing);
            }
            let report = self.orders.send(messages).await?;
            if let Some((id, reason)) = report.failed.first() {
                return Err(OpsError::NotEnqueued(id.clone(), reason.clone()));
            }
        }
        Ok(())
    }

    async fn record(&self, key: &ImportKey, action: &'static str, actor: &str, report: &ActionReport) {
        let recorder = LogRecorder { log: self.log.as_ref(), clock: self.clock.as_ref() };
        let entry = recorder
            .start(&key.connection, LogGroup::Orders, action, Direction::Internal, key.import_id())
            .correlated(&key.correlation_id());
        let result = if report.done { LogResult::Success } else { LogResult::Skipped };
        recorder.finish(entry, result, format!("By {actor}: {}", report.message)).await;
    }
}

fn failed_order(claim: FailedClaim) -> Option<FailedOrder> {
    let rest = claim.key.as_str().strip_prefix("IMPORT#")?;
    let (connection, order) = rest.split_once('#')?;
    let key = ImportKey::new(ConnectionId::parse(connection).ok()?, ChannelOrderId::parse_display(order)?);
    Some(FailedOrder {
        key,
        attempts: claim.attempts,
        unmapped: UnmappedValue::find_all(&claim.failure),
        failure: claim.failure,
        failed_at: claim.updated_at,
    })
}

/// Where on the order's way an entry belongs.
fn stage_of(entry: &LogEntry) -> &'static str {
    let failed = matches!(entry.result, LogResult::Failure | LogResult::Retry);
    match entry.action.as_str() {
        "import_order" if failed => "import failed",
        "import_order" if entry.result == LogResult::Skipped => "import skipped",
        "import_order" => "imported",
        "acknowledge" if failed => "acknowledgement failed",
        "acknowledge" => "acknowledged",
        "push_tracking" | "export_shipment" | "label_to_erp" => "shipment",
        "push_status" => "status",
        "push_note" => "note",
        a if a.starts_with("operator_") => "operator",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::SystemCode;
    use crate::ports::{ClaimOutcome, Claims};
    use crate::testing::{MemoryLedger, MemoryLog, MemoryQueue};

    fn key(connection: &str, id: &str) -> ImportKey {
        ImportKey::new(
            ConnectionId::parse(connection).unwrap(),
            ChannelOrderId::new(SystemCode::parse("BC").unwrap(), id).unwrap(),
        )
    }

    async fn fail(ledger: &MemoryLedger, key: &ImportKey, reason: &str) {
        let ClaimOutcome::Acquired(lease) =
            ledger.claim(&ClaimKey::import(key), "worker", Duration::from_secs(60)).await.unwrap()
        else {
            panic!("claim")
        };
        ledger.fail(&lease, reason).await.unwrap();
    }

    fn ops(ledger: &Arc<MemoryLedger>, log: &Arc<MemoryLog>, queue: &Arc<MemoryQueue>) -> RecordOps {
        RecordOps {
            ledger: ledger.clone(),
            failed: ledger.clone(),
            log: log.clone(),
            orders: queue.clone(),
            clock: Arc::new(crate::ports::SystemClock),
            connections: vec![ConnectionId::parse("bc-store").unwrap()],
        }
    }

    fn unmapped(value: &str) -> String {
        format!(
            "mapping v1: shipping method \"{value}\": not mapped; add it to [shipping_methods] in bc.toml (mapping v1)"
        )
    }

    #[tokio::test]
    async fn the_inbox_groups_blocked_orders_and_the_actions_enqueue_skip_and_reset_them() {
        let ledger = Arc::new(MemoryLedger::default());
        let log = Arc::new(MemoryLog::default());
        let queue = Arc::new(MemoryQueue::default());
        let ops = ops(&ledger, &log, &queue);
        for id in ["1", "2", "3"] {
            fail(&ledger, &key("bc-store", id), &unmapped("Drone")).await;
        }
        fail(&ledger, &key("bc-store", "4"), "mapping v1: SKU \"X-9\" not found in the ERP").await;
        fail(&ledger, &key("bc-store", "5"), "mapping v1: SKU \"Y-1\" not found in the ERP").await;

        let inbox = ops.inbox().await.unwrap();
        assert_eq!(inbox.total, 5);
        assert_eq!(inbox.unmapped.len(), 1);
        assert_eq!(inbox.unmapped[0].orders.len(), 3, "one value blocks three orders");
        assert_eq!(inbox.unmapped[0].value.line_to_add(), "[shipping_methods] \"Drone\" = \"<the ERP Ship Via>\"");
        assert_eq!(inbox.by_reason.len(), 2);
        assert_eq!(inbox.by_reason[0].orders.len(), 3);
        assert_eq!(inbox.by_reason[1].orders.len(), 2, "two SKUs, one reason");

        // Replay of the value enqueues exactly its three orders, as references to fetch.
        let replay = ops.replay(None, Some(("shipping_methods", "Drone")), "console:ana").await.unwrap();
        assert_eq!(replay.enqueued.len(), 3);
        let sent = queue.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 3);
        assert!(
            sent[0].body.contains("import_order.v1") && sent[0].body.contains("\"form\":\"reference\""),
            "{}",
            sent[0].body
        );

        // Skip: never retried again — retry refuses and says why.
        let skipped = ops.skip(&key("bc-store", "4"), "sample order", "console:ana").await.unwrap();
        assert!(skipped.done, "{skipped:?}");
        let retry = ops.retry(&key("bc-store", "4"), "console:ana").await.unwrap();
        assert!(!retry.done && retry.message.contains("skipped"), "{retry:?}");
        assert_eq!(queue.0.lock().unwrap().len(), 3, "a skipped order is not enqueued");
        assert_eq!(ops.inbox().await.unwrap().total, 4, "skipped orders leave the inbox");

        let retry = ops.retry(&key("bc-store", "5"), "console:ana").await.unwrap();
        assert!(retry.done);
        assert_eq!(queue.0.lock().unwrap().len(), 4);

        // Re-import forgets a finished import only.
        assert!(!ops.reimport(&key("bc-store", "9"), "cli").await.unwrap().done, "nothing to reset");
        let entries = log.0.lock().unwrap().clone();
        assert!(entries.iter().any(|e| e.action == "operator_skip" && e.notes.contains("console:ana")));
        assert_eq!(entries.iter().filter(|e| e.action == "operator_replay").count(), 3);
        assert!(ops.retry(&key("other", "1"), "cli").await.is_err(), "unknown connections are refused");
    }

    #[test]
    fn reasons_group_failures_that_differ_only_in_values_and_numbers() {
        assert_eq!(
            reason_of("mapping v3: SKU \"A-1\" not found in the ERP (3 tries)"),
            "SKU \"…\" not found in the ERP (# tries)"
        );
        assert_eq!(
            reason_of("SKU \"B\\\"2\" not found in the ERP (12 tries)"),
            reason_of("SKU \"C\" not found in the ERP (1 tries)")
        );
        assert_ne!(reason_of("customer is inactive"), reason_of("SKU \"C\" not found"));
    }
}

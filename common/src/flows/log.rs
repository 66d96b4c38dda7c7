//! Writing connector-log entries without letting a log failure fail the work it describes.

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::model::ConnectionId;
use crate::ports::{serde_name, Clock, ConnectorLog, Direction, LogEntry, LogGroup, LogResult};

/// Records connector-log entries; a failed write is reported in the function's own logs.
pub struct LogRecorder<'a> {
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
}

/// What an entry is about, before its result is known.
pub struct LogAction {
    pub connection: ConnectionId,
    pub group: LogGroup,
    pub action: &'static str,
    pub direction: Direction,
    pub entity_id: String,
    pub started_at: DateTime<Utc>,
    pub correlation_id: Option<String>,
    /// Written before the notes (the part of an order an entry is about, when the entity is the
    /// order itself).
    pub notes_prefix: Option<String>,
    /// When the message behind the action was enqueued.
    pub queued_at: Option<DateTime<Utc>>,
}

impl LogAction {
    /// Ties the entry to the order or shipment it is about (one id end to end).
    pub fn correlated(mut self, correlation_id: &str) -> Self {
        self.correlation_id = Some(correlation_id.to_owned());
        self
    }

    /// Records when the message behind the action was enqueued.
    pub fn queued(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.queued_at = at;
        self
    }

    /// Starts the notes with `prefix`: an entry about part of an order (one shipment) keeps the
    /// order as its entity, so the order's timeline finds it by the entity index.
    pub fn noting(mut self, prefix: impl Into<String>) -> Self {
        self.notes_prefix = Some(prefix.into());
        self
    }
}

impl LogRecorder<'_> {
    pub fn start(
        &self,
        connection: &ConnectionId,
        group: LogGroup,
        action: &'static str,
        direction: Direction,
        entity_id: impl Into<String>,
    ) -> LogAction {
        LogAction {
            connection: connection.clone(),
            group,
            action,
            direction,
            entity_id: entity_id.into(),
            started_at: self.clock.now(),
            correlation_id: None,
            notes_prefix: None,
            queued_at: None,
        }
    }

    pub async fn finish(&self, action: LogAction, result: LogResult, notes: impl Into<String>) {
        let entry = LogEntry {
            id: uuid::Uuid::new_v4(),
            connection: action.connection,
            group: action.group,
            action: action.action.to_owned(),
            direction: action.direction,
            result,
            entity_id: action.entity_id,
            notes: match action.notes_prefix {
                Some(prefix) => format!("{prefix} {}", notes.into()),
                None => notes.into(),
            },
            started_at: action.started_at,
            completed_at: self.clock.now(),
            correlation_id: action.correlation_id,
            queued_at: action.queued_at,
        };
        if let Err(e) = self.log.record(&entry).await {
            warn!(connection = %entry.connection, action = %entry.action, entity = %entry.entity_id, error = %e, "Connector log entry not written.");
        }
    }
}

/// The connector log as the work of one delivered message sees it: every entry it writes carries
/// the time the message was enqueued (when the delivery arrived), and the wrapper remembers
/// whether the work wrote any entry. An accepted delivery has no entry of its own (two write
/// units per delivery, the largest share of a shipment's): its effects' entries say when it
/// came, and a delivery whose work wrote nothing gets one entry afterwards (see
/// `handlers::status`), so every delivery still shows in the log.
pub struct DeliveryLog<'a> {
    inner: &'a dyn ConnectorLog,
    queued_at: DateTime<Utc>,
    wrote: std::sync::atomic::AtomicBool,
}

impl<'a> DeliveryLog<'a> {
    pub fn new(inner: &'a dyn ConnectorLog, queued_at: DateTime<Utc>) -> Self {
        Self { inner, queued_at, wrote: std::sync::atomic::AtomicBool::new(false) }
    }

    /// Whether the work wrote an entry (successfully) through this log.
    pub fn wrote(&self) -> bool {
        self.wrote.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl ConnectorLog for DeliveryLog<'_> {
    async fn record(&self, entry: &LogEntry) -> Result<(), crate::ports::LedgerError> {
        let result = if entry.queued_at.is_some() {
            self.inner.record(entry).await
        } else {
            let mut stamped = entry.clone();
            stamped.queued_at = Some(self.queued_at);
            self.inner.record(&stamped).await
        };
        if result.is_ok() {
            self.wrote.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        result
    }

    async fn entries_between(
        &self,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, crate::ports::LedgerError> {
        self.inner.entries_between(connection, from, to, limit).await
    }

    async fn rewrite(&self, entry: &LogEntry) -> Result<(), crate::ports::LedgerError> {
        self.inner.rewrite(entry).await
    }

    async fn entries_for_entity(
        &self,
        connection: &ConnectionId,
        entity_id: &str,
        limit: usize,
    ) -> Result<Vec<LogEntry>, crate::ports::LedgerError> {
        self.inner.entries_for_entity(connection, entity_id, limit).await
    }
}

/// One connector-log entry as a line for people: time, group/action, direction, result, entity, notes.
pub fn format_log_line(entry: &LogEntry) -> String {
    format!(
        "{} {:>6}ms {:<9} {:<14} {:<8} {:<8} {:<14} {}",
        entry.started_at.format("%Y-%m-%d %H:%M:%S%.3f"),
        (entry.completed_at - entry.started_at).num_milliseconds(),
        serde_name(&entry.group),
        entry.action,
        serde_name(&entry.direction),
        serde_name(&entry.result),
        entry.entity_id,
        entry.notes
    )
}

//! The connector log on DynamoDB: one item per action, by connection and day, indexed by entity.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use chrono::{DateTime, Days, NaiveDate, Utc};

use super::item::{epoch, epoch_millis, s, Item, ItemReader};
use super::schema::TTL_ATTRIBUTE;
use super::LedgerError;
use crate::model::ConnectionId;
use crate::ports::{serde_name, ConnectorLog, LogEntry};

const ENTITY_INDEX: &str = "by-entity";

/// Connector log on a table shaped like `schema::LOG_TABLE`.
#[derive(Clone)]
pub struct DynamoConnectorLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// How long entries are kept (DynamoDB TTL; reads also hide expired entries).
    retention: Duration,
}

impl DynamoConnectorLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, retention: Duration) -> Self {
        Self { client, table: table.into(), retention }
    }

    fn err<E, R>(&self, operation: &'static str, source: SdkError<E, R>) -> LedgerError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        super::dynamo_error(operation, &self.table, source)
    }

    fn day_pk(connection: &ConnectionId, day: NaiveDate) -> String {
        format!("{connection}#{}", day.format("%Y-%m-%d"))
    }

    fn sort_key(entry: &LogEntry) -> String {
        format!("{}#{}", entry.started_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"), entry.id)
    }

    fn read(&self, item: &Item) -> Result<LogEntry, LedgerError> {
        let r = ItemReader::new(item, &self.table);
        let corrupt =
            |detail: String| LedgerError::Corrupt { table: self.table.clone(), key: "log entry".into(), detail };
        let enum_field =
            |name: &str| -> Result<serde_json::Value, LedgerError> { Ok(serde_json::Value::String(r.string(name)?)) };
        Ok(LogEntry {
            id: r.parsed("id")?,
            connection: ConnectionId::parse(r.string("connection")?).map_err(|e| corrupt(e.to_string()))?,
            group: serde_json::from_value(enum_field("group")?).map_err(|e| corrupt(e.to_string()))?,
            action: r.string("action")?,
            direction: serde_json::from_value(enum_field("direction")?).map_err(|e| corrupt(e.to_string()))?,
            result: serde_json::from_value(enum_field("result")?).map_err(|e| corrupt(e.to_string()))?,
            entity_id: r.string("entity_id")?,
            notes: r.opt_string("notes")?.unwrap_or_default(),
            // The sort key holds the start to the microsecond (the attribute only to the
            // millisecond), so an entry read back has the keys it was written under and
            // `rewrite` replaces it instead of adding a copy.
            started_at: r
                .opt_string("sk")?
                .and_then(|sk| sk.split_once('#').map(|(at, _)| at.to_owned()))
                .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
                .map(|at| at.with_timezone(&Utc))
                .map_or_else(|| r.epoch_millis("started_at"), Ok)?,
            completed_at: r.epoch_millis("completed_at")?,
            correlation_id: r.opt_string("correlation_id")?,
            queued_at: if item.contains_key("queued_at") { Some(r.epoch_millis("queued_at")?) } else { None },
        })
    }

    /// Runs a paginated query, keeping unexpired entries, up to `limit`.
    async fn collect(
        &self,
        mut request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: usize,
        now: DateTime<Utc>,
        out: &mut Vec<LogEntry>,
    ) -> Result<(), LedgerError> {
        loop {
            let page = request.clone().send().await.map_err(|e| self.err("Query", e))?;
            for item in page.items() {
                if ItemReader::new(item, &self.table).is_expired(now) {
                    continue;
                }
                out.push(self.read(item)?);
                if out.len() >= limit {
                    return Ok(());
                }
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => request = request.set_exclusive_start_key(Some(key.clone())),
                _ => return Ok(()),
            }
        }
    }
}

#[async_trait]
impl ConnectorLog for DynamoConnectorLog {
    async fn record(&self, entry: &LogEntry) -> Result<(), LedgerError> {
        let sort_key = Self::sort_key(entry);
        let expires =
            entry.completed_at + chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::days(30));
        // Notes are for people; cap them so a vendor's giant error page cannot exceed the item limit.
        let notes: String = entry.notes.chars().take(4000).collect();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(Self::day_pk(&entry.connection, entry.started_at.date_naive())))
            .item("sk", s(&sort_key))
            .item("entity_pk", s(format!("{}#{}", entry.connection, entry.entity_id)))
            .item("entity_sk", s(&sort_key))
            .item("id", s(entry.id.to_string()))
            .item("connection", s(entry.connection.as_str()))
            .item("group", s(serde_name(&entry.group)))
            .item("action", s(&entry.action))
            .item("direction", s(serde_name(&entry.direction)))
            .item("result", s(serde_name(&entry.result)))
            .item("entity_id", s(&entry.entity_id))
            .item("notes", s(notes))
            .item("started_at", epoch_millis(entry.started_at))
            .item("completed_at", epoch_millis(entry.completed_at))
            .item(TTL_ATTRIBUTE, epoch(expires));
        if let Some(id) = &entry.correlation_id {
            put = put.item("correlation_id", s(id));
        }
        if let Some(at) = entry.queued_at {
            put = put.item("queued_at", epoch_millis(at));
        }
        put.send().await.map_err(|e| self.err("PutItem", e))?;
        Ok(())
    }

    /// The same keys (connection, day, start time, id) as `record`, so the put replaces the entry;
    /// the by-entity index follows the new entity id.
    async fn rewrite(&self, entry: &LogEntry) -> Result<(), LedgerError> {
        self.record(entry).await
    }

    async fn entries_between(
        &self,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, LedgerError> {
        let now = Utc::now();
        let mut out = Vec::new();
        let from_key = from.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let to_key = to.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let mut day = from.date_naive();
        while day <= to.date_naive() && out.len() < limit {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(Self::day_pk(connection, day)))
                .expression_attribute_values(":from", s(&from_key))
                .expression_attribute_values(":to", s(&to_key));
            self.collect(request, limit, now, &mut out).await?;
            day = match day.checked_add_days(Days::new(1)) {
                Some(next) => next,
                None => break,
            };
        }
        // `to` is exclusive; BETWEEN is inclusive.
        out.retain(|e| e.started_at < to);
        Ok(out)
    }

    async fn entries_for_entity(
        &self,
        connection: &ConnectionId,
        entity_id: &str,
        limit: usize,
    ) -> Result<Vec<LogEntry>, LedgerError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ENTITY_INDEX)
            .key_condition_expression("entity_pk = :pk")
            .expression_attribute_values(":pk", s(format!("{connection}#{entity_id}")))
            .scan_index_forward(false);
        let mut out = Vec::new();
        self.collect(request, limit, Utc::now(), &mut out).await?;
        Ok(out)
    }
}

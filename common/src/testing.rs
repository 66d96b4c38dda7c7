//! In-memory ports for unit tests of the flows: same contracts as the DynamoDB/SQS adapters
//! (conditional claims fenced on owner, bindings both ways, optimistic cursors, expiring dedupe).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::aws::{LedgerError, QueueError};
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef};
use crate::ports::{
    Binding, Bindings, ClaimKey, ClaimLease, ClaimOutcome, ClaimRecord, ClaimStatus, Claims, Clock, ConnectorLog,
    Cursor, Cursors, FollowedOrder, FollowedOrders, LogEntry, MappingStore, Markers, OutgoingMessage, Queue,
    SendReport, StoredMapping,
};

/// A clock tests move by hand.
pub struct ManualClock(pub Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Mutex::new(Utc::now()))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[derive(Default)]
pub struct MemoryLedger {
    pub claims: Mutex<HashMap<ClaimKey, ClaimRecord>>,
    pub bindings: Mutex<HashMap<(ConnectionId, ChannelOrderId), Binding>>,
    pub cursors: Mutex<HashMap<(ConnectionId, String), Cursor>>,
    pub dedupe: Mutex<HashMap<(String, String), DateTime<Utc>>>,
    pub mappings: Mutex<Vec<StoredMapping>>,
    pub now: Mutex<Option<DateTime<Utc>>>,
    pub followed: Mutex<std::collections::BTreeMap<(ConnectionId, String), FollowedOrder>>,
    pub stock: Mutex<HashMap<(ConnectionId, String), crate::model::PushedLevel>>,
    pub customers: Mutex<HashMap<(ConnectionId, String), crate::model::ErpCustomerId>>,
    pub backfills: Mutex<HashMap<String, crate::ports::BackfillJob>>,
    pub tokens: Mutex<HashMap<String, LeasedToken>>,
    /// Shared rate budgets: the TAT (µs) of each account and the end of its pause.
    pub budgets: Mutex<HashMap<String, BudgetState>>,
}

/// A shared rate budget: its TAT and the end of a vendor's pause (µs).
type BudgetState = (Option<i64>, Option<i64>);

/// A shared token record and its renewal lease (until, owner).
type LeasedToken = (crate::ports::TokenRecord, Option<(DateTime<Utc>, String)>);

impl MemoryLedger {
    fn now(&self) -> DateTime<Utc> {
        self.now.lock().unwrap().unwrap_or_else(Utc::now)
    }
}

#[async_trait]
impl Claims for MemoryLedger {
    async fn claim(&self, key: &ClaimKey, owner: &str, lease: Duration) -> Result<ClaimOutcome, LedgerError> {
        let now = self.now();
        let mut claims = self.claims.lock().unwrap();
        let lease_until = now + chrono::Duration::from_std(lease).unwrap();
        let attempts = match claims.get(key) {
            Some(r) if r.status == ClaimStatus::Completed => return Ok(ClaimOutcome::Completed(r.clone())),
            Some(r) if r.status == ClaimStatus::InProgress && r.lease_until > now => {
                return Ok(ClaimOutcome::InProgress { owner: r.owner.clone(), lease_until: r.lease_until })
            }
            Some(r) => r.attempts + 1,
            None => 1,
        };
        claims.insert(
            key.clone(),
            ClaimRecord {
                key: key.clone(),
                status: ClaimStatus::InProgress,
                owner: owner.into(),
                attempts,
                lease_until,
                result: None,
                failure: None,
                updated_at: now,
            },
        );
        Ok(ClaimOutcome::Acquired(ClaimLease { key: key.clone(), owner: owner.into(), attempt: attempts, lease_until }))
    }

    async fn complete(&self, lease: &ClaimLease, result: &str) -> Result<(), LedgerError> {
        let mut claims = self.claims.lock().unwrap();
        match claims.get_mut(&lease.key) {
            Some(r) if r.owner == lease.owner => {
                r.status = ClaimStatus::Completed;
                r.result = Some(result.into());
                r.failure = None;
                Ok(())
            }
            _ => Err(LedgerError::LeaseLost { key: lease.key.to_string() }),
        }
    }

    async fn fail(&self, lease: &ClaimLease, reason: &str) -> Result<(), LedgerError> {
        let mut claims = self.claims.lock().unwrap();
        match claims.get_mut(&lease.key) {
            Some(r) if r.owner == lease.owner => {
                r.status = ClaimStatus::Failed;
                r.failure = Some(reason.into());
                Ok(())
            }
            _ => Err(LedgerError::LeaseLost { key: lease.key.to_string() }),
        }
    }

    async fn release(&self, lease: &ClaimLease) -> Result<(), LedgerError> {
        if let Some(r) = self.claims.lock().unwrap().get_mut(&lease.key) {
            if r.owner == lease.owner && r.status == ClaimStatus::InProgress {
                r.lease_until = DateTime::<Utc>::MIN_UTC;
            }
        }
        Ok(())
    }

    async fn claim_record(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, LedgerError> {
        Ok(self.claims.lock().unwrap().get(key).cloned())
    }

    async fn rewrite_failure(&self, key: &ClaimKey, failure: &str) -> Result<(), LedgerError> {
        if let Some(r) = self.claims.lock().unwrap().get_mut(key) {
            r.failure = Some(failure.to_owned());
        }
        Ok(())
    }
}

#[async_trait]
impl Bindings for MemoryLedger {
    async fn bind(&self, binding: &Binding) -> Result<(), LedgerError> {
        let mut bindings = self.bindings.lock().unwrap();
        let key = (binding.connection.clone(), binding.channel_order_id.clone());
        match bindings.get(&key) {
            Some(existing) if existing.erp != binding.erp => Err(LedgerError::BindingConflict {
                channel_order: binding.channel_order_id.to_string(),
                existing: existing.erp.to_string(),
                attempted: binding.erp.to_string(),
            }),
            _ => {
                bindings.insert(key, binding.clone());
                Ok(())
            }
        }
    }

    async fn binding_for_channel(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<Binding>, LedgerError> {
        Ok(self.bindings.lock().unwrap().get(&(connection.clone(), order.clone())).cloned())
    }

    async fn binding_for_erp(&self, erp: &ErpOrderRef) -> Result<Option<Binding>, LedgerError> {
        Ok(self.bindings.lock().unwrap().values().find(|b| &b.erp == erp).cloned())
    }
}

#[async_trait]
impl Cursors for MemoryLedger {
    async fn cursor(&self, connection: &ConnectionId, stream: &str) -> Result<Option<Cursor>, LedgerError> {
        Ok(self.cursors.lock().unwrap().get(&(connection.clone(), stream.to_owned())).cloned())
    }

    async fn save_cursor(
        &self,
        connection: &ConnectionId,
        stream: &str,
        value: &str,
        expected_version: Option<u64>,
    ) -> Result<Cursor, LedgerError> {
        let mut cursors = self.cursors.lock().unwrap();
        let key = (connection.clone(), stream.to_owned());
        if cursors.get(&key).map(|c| c.version) != expected_version {
            return Err(LedgerError::CursorConflict {
                connection: connection.to_string(),
                stream: stream.into(),
                expected: expected_version,
            });
        }
        let cursor = Cursor {
            connection: connection.clone(),
            stream: stream.into(),
            value: value.into(),
            version: expected_version.map_or(1, |v| v + 1),
            updated_at: self.now(),
        };
        cursors.insert(key, cursor.clone());
        Ok(cursor)
    }
}

#[async_trait]
impl Markers for MemoryLedger {
    async fn remember_once(&self, scope: &str, key: &str, ttl: Duration) -> Result<bool, LedgerError> {
        let now = self.now();
        let mut dedupe = self.dedupe.lock().unwrap();
        let k = (scope.to_owned(), key.to_owned());
        if dedupe.get(&k).is_some_and(|expires| *expires > now) {
            return Ok(false);
        }
        dedupe.insert(k, now + chrono::Duration::from_std(ttl).unwrap());
        Ok(true)
    }

    async fn seen(&self, scope: &str, key: &str) -> Result<bool, LedgerError> {
        let now = self.now();
        Ok(self.dedupe.lock().unwrap().get(&(scope.to_owned(), key.to_owned())).is_some_and(|expires| *expires > now))
    }

    async fn forget(&self, scope: &str, key: &str) -> Result<(), LedgerError> {
        self.dedupe.lock().unwrap().remove(&(scope.to_owned(), key.to_owned()));
        Ok(())
    }
}

#[async_trait]
impl MappingStore for MemoryLedger {
    async fn save_mapping(&self, name: &str, source_path: &str, source: &str) -> Result<StoredMapping, LedgerError> {
        let mut mappings = self.mappings.lock().unwrap();
        let version = mappings.iter().filter(|m| m.name == name).map(|m| m.version).max().unwrap_or(0) + 1;
        let stored = StoredMapping {
            name: name.into(),
            version,
            source: source.into(),
            source_path: source_path.into(),
            sha256: String::new(),
            saved_at: self.now(),
        };
        mappings.push(stored.clone());
        Ok(stored)
    }

    async fn latest_mapping(&self, name: &str) -> Result<Option<StoredMapping>, LedgerError> {
        Ok(self.mappings.lock().unwrap().iter().filter(|m| m.name == name).max_by_key(|m| m.version).cloned())
    }

    async fn mapping_version(&self, name: &str, version: u64) -> Result<Option<StoredMapping>, LedgerError> {
        Ok(self.mappings.lock().unwrap().iter().find(|m| m.name == name && m.version == version).cloned())
    }
}

#[derive(Default)]
pub struct MemoryLog(pub Mutex<Vec<LogEntry>>);

#[async_trait]
impl ConnectorLog for MemoryLog {
    async fn record(&self, entry: &LogEntry) -> Result<(), LedgerError> {
        self.0.lock().unwrap().push(entry.clone());
        Ok(())
    }

    async fn rewrite(&self, entry: &LogEntry) -> Result<(), LedgerError> {
        let mut all = self.0.lock().unwrap();
        match all.iter_mut().find(|e| e.id == entry.id) {
            Some(e) => *e = entry.clone(),
            None => all.push(entry.clone()),
        }
        Ok(())
    }

    async fn entries_between(
        &self,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, LedgerError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| &e.connection == connection && e.started_at >= from && e.started_at < to)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn entries_for_entity(
        &self,
        connection: &ConnectionId,
        entity_id: &str,
        limit: usize,
    ) -> Result<Vec<LogEntry>, LedgerError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|e| &e.connection == connection && e.entity_id == entity_id)
            .take(limit)
            .cloned()
            .collect())
    }
}

#[derive(Default)]
pub struct MemoryQueue(pub Mutex<Vec<OutgoingMessage>>);

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>) -> Result<SendReport, QueueError> {
        let sent = messages.iter().map(|m| m.entry_id.clone()).collect();
        self.0.lock().unwrap().extend(messages);
        Ok(SendReport { sent, failed: Vec::new() })
    }
}

#[async_trait]
impl FollowedOrders for MemoryLedger {
    async fn follow(&self, order: &FollowedOrder) -> Result<(), LedgerError> {
        let key = (order.connection.clone(), order.channel_order_id.to_string());
        self.followed.lock().unwrap().entry(key).or_insert_with(|| order.clone());
        Ok(())
    }

    async fn followed(
        &self,
        connection: &ConnectionId,
        after: Option<&ChannelOrderId>,
        limit: usize,
    ) -> Result<Vec<FollowedOrder>, LedgerError> {
        let after = after.map(ToString::to_string);
        Ok(self
            .followed
            .lock()
            .unwrap()
            .iter()
            .filter(|((c, id), _)| c == connection && after.as_ref().is_none_or(|a| id > a))
            .take(limit)
            .map(|(_, o)| o.clone())
            .collect())
    }

    async fn followed_order(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<FollowedOrder>, LedgerError> {
        Ok(self.followed.lock().unwrap().get(&(connection.clone(), order.to_string())).cloned())
    }

    async fn save_followed(&self, order: &FollowedOrder) -> Result<(), LedgerError> {
        let mut all = self.followed.lock().unwrap();
        let key = (order.connection.clone(), order.channel_order_id.to_string());
        let shipped = all.get(&key).and_then(|o| o.shipped_at);
        let mut order = order.clone();
        order.shipped_at = order.shipped_at.or(shipped);
        all.insert(key, order);
        Ok(())
    }

    async fn mark_shipped(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        if let Some(o) = self.followed.lock().unwrap().get_mut(&(connection.clone(), order.to_string())) {
            o.shipped_at.get_or_insert(at);
        }
        Ok(())
    }
}

#[async_trait]
impl crate::ports::StockLevels for MemoryLedger {
    async fn pushed_levels(
        &self,
        connection: &ConnectionId,
    ) -> Result<HashMap<String, crate::model::PushedLevel>, LedgerError> {
        Ok(self
            .stock
            .lock()
            .unwrap()
            .iter()
            .filter(|((c, _), _)| c == connection)
            .map(|((_, item), level)| (item.clone(), level.clone()))
            .collect())
    }

    async fn record_levels(
        &self,
        connection: &ConnectionId,
        levels: &[(String, crate::model::PushedLevel)],
    ) -> Result<(), LedgerError> {
        let mut stock = self.stock.lock().unwrap();
        for (item, level) in levels {
            stock.insert((connection.clone(), item.clone()), level.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl crate::ports::CustomerBindings for MemoryLedger {
    async fn customer_binding(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
    ) -> Result<Option<crate::model::ErpCustomerId>, LedgerError> {
        Ok(self.customers.lock().unwrap().get(&(connection.clone(), channel_customer_id.to_owned())).cloned())
    }

    async fn bind_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &crate::model::ErpCustomerId,
    ) -> Result<(), LedgerError> {
        self.customers.lock().unwrap().insert((connection.clone(), channel_customer_id.to_owned()), erp.clone());
        Ok(())
    }

    async fn forget_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &crate::model::ErpCustomerId,
    ) -> Result<(), LedgerError> {
        let mut customers = self.customers.lock().unwrap();
        let key = (connection.clone(), channel_customer_id.to_owned());
        if customers.get(&key) == Some(erp) {
            customers.remove(&key);
        }
        Ok(())
    }
}

#[async_trait]
impl crate::ports::FailedRecords for MemoryLedger {
    async fn failed_claims(
        &self,
        namespace: &str,
        limit: usize,
    ) -> Result<Vec<crate::ports::FailedClaim>, LedgerError> {
        let prefix = format!("{namespace}#");
        let mut found: Vec<_> = self
            .claims
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.status == ClaimStatus::Failed && r.key.as_str().starts_with(&prefix))
            .map(|r| crate::ports::FailedClaim {
                key: r.key.clone(),
                attempts: r.attempts,
                failure: r.failure.clone().unwrap_or_default(),
                updated_at: r.updated_at,
            })
            .collect();
        found.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        found.truncate(limit);
        Ok(found)
    }

    async fn skip_failed(&self, key: &ClaimKey, note: &str) -> Result<crate::ports::ClaimChange, LedgerError> {
        let now = self.now();
        match self.claims.lock().unwrap().get_mut(key) {
            Some(r) if r.status == ClaimStatus::Failed => {
                r.status = ClaimStatus::Completed;
                r.result = Some(format!("{}{note}", crate::ports::SKIPPED_PREFIX));
                r.updated_at = now;
                Ok(crate::ports::ClaimChange::Done)
            }
            _ => Ok(crate::ports::ClaimChange::NotApplicable),
        }
    }

    async fn reset_import(
        &self,
        key: &ClaimKey,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<crate::ports::ClaimChange, LedgerError> {
        let now = self.now();
        let mut claims = self.claims.lock().unwrap();
        match claims.get(key) {
            Some(r) if r.status != ClaimStatus::InProgress || r.lease_until <= now => {
                claims.remove(key);
                self.bindings.lock().unwrap().remove(&(connection.clone(), order.clone()));
                Ok(crate::ports::ClaimChange::Done)
            }
            _ => Ok(crate::ports::ClaimChange::NotApplicable),
        }
    }
}

#[async_trait]
impl crate::ports::BackfillJobs for MemoryLedger {
    async fn create_backfill(&self, job: &crate::ports::BackfillJob) -> Result<(), LedgerError> {
        let mut jobs = self.backfills.lock().unwrap();
        if jobs.contains_key(&job.id) {
            return Err(LedgerError::Corrupt { table: "memory".into(), key: job.id.clone(), detail: "exists".into() });
        }
        jobs.insert(job.id.clone(), job.clone());
        Ok(())
    }

    async fn backfill(&self, id: &str) -> Result<Option<crate::ports::BackfillJob>, LedgerError> {
        Ok(self.backfills.lock().unwrap().get(id).cloned())
    }

    async fn save_backfill(&self, job: &crate::ports::BackfillJob) -> Result<bool, LedgerError> {
        let mut jobs = self.backfills.lock().unwrap();
        match jobs.get(&job.id) {
            Some(stored) if stored.version + 1 == job.version => {
                jobs.insert(job.id.clone(), job.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl crate::ports::SharedBudgets for MemoryLedger {
    async fn take(
        &self,
        key: &str,
        now_us: i64,
        cost_us: i64,
        ceiling_us: i64,
        _hint: i64,
    ) -> Result<crate::ports::Take, LedgerError> {
        let mut budgets = self.budgets.lock().unwrap();
        let entry = budgets.entry(key.to_owned()).or_default();
        let step = crate::ports::gcra_step(entry.0, entry.1, now_us, cost_us, ceiling_us);
        if let crate::ports::Take::Granted { tat } = step {
            entry.0 = Some(tat);
        }
        Ok(step)
    }

    async fn hold_until(&self, key: &str, until_us: i64) -> Result<(), LedgerError> {
        let mut budgets = self.budgets.lock().unwrap();
        let entry = budgets.entry(key.to_owned()).or_default();
        entry.1 = Some(entry.1.unwrap_or(until_us).max(until_us));
        Ok(())
    }
}

#[async_trait]
impl crate::ports::SharedTokens for MemoryLedger {
    async fn token(&self, key: &str) -> Result<Option<crate::ports::TokenRecord>, LedgerError> {
        Ok(self.tokens.lock().unwrap().get(key).map(|(record, _)| record.clone()))
    }

    async fn lease_renewal(&self, key: &str, version: u64, lease: Duration, owner: &str) -> Result<bool, LedgerError> {
        let now = self.now();
        let mut tokens = self.tokens.lock().unwrap();
        let entry =
            tokens.entry(key.to_owned()).or_insert((crate::ports::TokenRecord { token: None, version: 0 }, None));
        if entry.0.version != version || entry.1.as_ref().is_some_and(|(until, _)| *until > now) {
            return Ok(false);
        }
        entry.1 = Some((now + chrono::Duration::from_std(lease).unwrap(), owner.to_owned()));
        Ok(true)
    }

    async fn save_token(
        &self,
        key: &str,
        token: &crate::ports::StoredToken,
        version: u64,
        owner: &str,
    ) -> Result<bool, LedgerError> {
        let mut tokens = self.tokens.lock().unwrap();
        match tokens.get_mut(key) {
            Some(entry) if entry.0.version == version && entry.1.as_ref().is_some_and(|(_, o)| o == owner) => {
                *entry = (crate::ports::TokenRecord { token: Some(token.clone()), version: version + 1 }, None);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn end_lease(&self, key: &str, owner: &str) -> Result<(), LedgerError> {
        if let Some(entry) = self.tokens.lock().unwrap().get_mut(key) {
            if entry.1.as_ref().is_some_and(|(_, o)| o == owner) {
                entry.1 = None;
            }
        }
        Ok(())
    }
}

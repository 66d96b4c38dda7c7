//! The DynamoDB ledger: claims, bindings, cursors, dedupe keys and mapping versions in one table.
//!
//! Key design (README, "Table design"): `pk` names the thing (`CLAIM#…`, `BINDING#…`,
//! `CURSOR#…`, `DEDUPE#…`, `MAPPING#…`), `sk` its facet or version; `gsi1` indexes bindings by
//! ERP order so they read both ways.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::item::{epoch, epoch_millis, n, s, Item, ItemReader};
use super::schema::TTL_ATTRIBUTE;
use super::LedgerError;
use crate::model::{ChannelOrderId, ConnectionId, ErpOrderRef};
use crate::ports::{
    Binding, BindingOrigin, Bindings, ClaimChange, ClaimKey, ClaimLease, ClaimOutcome, ClaimRecord, ClaimStatus,
    Claims, Clock, Cursor, Cursors, FailedClaim, FailedRecords, FollowedOrder, FollowedOrders, MappingStore, Markers,
    SharedTokens, StoredMapping, StoredToken, TokenRecord, SKIPPED_PREFIX,
};
use secrecy::{ExposeSecret, SecretString};

const CLAIM_SK: &str = "CLAIM";
const BINDING_SK: &str = "BINDING";
const CURSOR_SK: &str = "CURSOR";
const DEDUPE_SK: &str = "DEDUPE";
const TOKEN_SK: &str = "TOKEN";
const BINDING_INDEX: &str = "gsi1";

/// The ledger on a DynamoDB table shaped like `schema::STATE_TABLE`.
#[derive(Clone)]
pub struct DynamoLedger {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
    clock: Arc<dyn Clock>,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self { client, table: table.into(), clock }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(super) fn err<E, R>(&self, operation: &'static str, source: SdkError<E, R>) -> LedgerError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        super::dynamo_error(operation, &self.table, source)
    }

    /// A conditional write whose condition failing means "already done" (written before, or no
    /// longer ours to change): Ok either way; other errors are the operation's.
    fn done_unless_refused<O, E, R>(
        &self,
        operation: &'static str,
        result: Result<O, SdkError<E, R>>,
    ) -> Result<(), LedgerError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        self.applied(operation, result).map(|_| ())
    }

    /// Whether a conditional write was applied (false: DynamoDB refused its condition); other
    /// errors are the operation's.
    fn applied<O, E, R>(&self, operation: &'static str, result: Result<O, SdkError<E, R>>) -> Result<bool, LedgerError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException") => {
                Ok(false)
            }
            Err(e) => Err(self.err(operation, e)),
        }
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err("GetItem", e))?;
        Ok(out.item)
    }

    fn claim_pk(key: &ClaimKey) -> String {
        format!("CLAIM#{key}")
    }

    /// The failed-claims index partition of a claim key (`FAILED#IMPORT` for `IMPORT#…`).
    fn failed_pk(key: &str) -> String {
        format!("FAILED#{}", key.split('#').next().unwrap_or(key))
    }

    fn read_claim(&self, key: &ClaimKey, item: &Item) -> Result<ClaimRecord, LedgerError> {
        let r = ItemReader::new(item, &self.table);
        let status = match r.string("status")?.as_str() {
            "in_progress" => ClaimStatus::InProgress,
            "completed" => ClaimStatus::Completed,
            "failed" => ClaimStatus::Failed,
            other => {
                return Err(LedgerError::Corrupt {
                    table: self.table.clone(),
                    key: key.to_string(),
                    detail: format!("unknown claim status {other:?}"),
                })
            }
        };
        Ok(ClaimRecord {
            key: key.clone(),
            status,
            owner: r.string("owner")?,
            attempts: u32::try_from(r.number("attempts")?).unwrap_or(u32::MAX),
            lease_until: r.epoch_millis("lease_until")?,
            result: r.opt_string("result")?,
            failure: r.opt_string("failure")?,
            updated_at: r.epoch_millis("updated_at")?,
        })
    }

    /// Ends a claim held by `lease` with `status`, fenced on the owner.
    async fn finish_claim(
        &self,
        lease: &ClaimLease,
        status: &str,
        field: &str,
        value: &str,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let other = if field == "result" { "failure" } else { "result" };
        // A failed claim is indexed under `FAILED#{namespace}` (a sparse index: only failed
        // claims carry gsi1 keys), so the operator's inbox is one Query, not a Scan.
        let mut request = self.client.update_item();
        let expression = if status == "failed" {
            request = request
                .expression_attribute_values(":failed_pk", s(Self::failed_pk(lease.key.as_str())))
                .expression_attribute_values(":key", s(lease.key.as_str()));
            "SET #status = :status, #field = :value, updated_at = :now, gsi1pk = :failed_pk, gsi1sk = :key REMOVE #other"
        } else {
            "SET #status = :status, #field = :value, updated_at = :now REMOVE #other, gsi1pk, gsi1sk"
        };
        let result = request
            .table_name(&self.table)
            .key("pk", s(Self::claim_pk(&lease.key)))
            .key("sk", s(CLAIM_SK))
            .update_expression(expression)
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#field", field)
            .expression_attribute_names("#other", other)
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":value", s(value))
            .expression_attribute_values(":now", epoch_millis(now))
            .expression_attribute_values(":owner", s(&lease.owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(LedgerError::LeaseLost { key: lease.key.to_string() })
            }
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }

    fn binding_pk(connection: &ConnectionId, order: &ChannelOrderId) -> String {
        format!("BINDING#{connection}#{order}")
    }

    fn binding_gsi_pk(erp: &ErpOrderRef) -> String {
        format!("ERP#{}#{}", erp.order_type, erp.order_nbr)
    }

    fn read_binding(&self, item: &Item) -> Result<Binding, LedgerError> {
        let r = ItemReader::new(item, &self.table);
        let corrupt =
            |detail: String| LedgerError::Corrupt { table: self.table.clone(), key: "binding".into(), detail };
        Ok(Binding {
            connection: ConnectionId::parse(r.string("connection")?).map_err(|e| corrupt(e.to_string()))?,
            channel_order_id: r.json("channel_order")?,
            display_number: r.string("display_number")?,
            erp: ErpOrderRef {
                order_type: crate::model::ErpOrderType::parse(r.string("order_type")?)
                    .map_err(|e| corrupt(e.to_string()))?,
                order_nbr: crate::model::ErpOrderNbr::parse(r.string("order_nbr")?)
                    .map_err(|e| corrupt(e.to_string()))?,
            },
            created_at: r.epoch_millis("created_at")?,
            // Bindings written before the ERP-originated direction existed are all imports.
            origin: match r.opt_string("origin")?.as_deref() {
                Some("erp") => BindingOrigin::Erp,
                _ => BindingOrigin::Channel,
            },
            digest: r.opt_string("digest")?,
        })
    }

    fn cursor_pk(connection: &ConnectionId, stream: &str) -> String {
        format!("CURSOR#{connection}#{stream}")
    }

    fn read_cursor(&self, item: &Item) -> Result<Cursor, LedgerError> {
        let r = ItemReader::new(item, &self.table);
        Ok(Cursor {
            connection: ConnectionId::parse(r.string("connection")?).map_err(|e| LedgerError::Corrupt {
                table: self.table.clone(),
                key: "cursor".into(),
                detail: e.to_string(),
            })?,
            stream: r.string("stream")?,
            value: r.string("value")?,
            version: u64::try_from(r.number("version")?).unwrap_or_default(),
            updated_at: r.epoch_millis("updated_at")?,
        })
    }

    fn mapping_pk(name: &str) -> String {
        format!("MAPPING#{name}")
    }

    fn read_mapping(&self, item: &Item) -> Result<StoredMapping, LedgerError> {
        let r = ItemReader::new(item, &self.table);
        Ok(StoredMapping {
            name: r.string("name")?,
            version: u64::try_from(r.number("version")?).unwrap_or_default(),
            source: r.string("source")?,
            source_path: r.string("source_path")?,
            sha256: r.string("sha256")?,
            saved_at: r.epoch_millis("saved_at")?,
        })
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(15))
}

#[async_trait]
impl Claims for DynamoLedger {
    async fn claim(&self, key: &ClaimKey, owner: &str, lease: Duration) -> Result<ClaimOutcome, LedgerError> {
        let now = self.clock.now();
        let lease_until = lease_end(now, lease);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::claim_pk(key)))
            .key("sk", s(CLAIM_SK))
            .update_expression("SET #status = :in_progress, #owner = :owner, lease_until = :lease_until, updated_at = :now ADD attempts :one REMOVE gsi1pk, gsi1sk")
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :failed OR (#status = :in_progress AND lease_until <= :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":lease_until", epoch_millis(lease_until))
            .expression_attribute_values(":now", epoch_millis(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let attempts = out
                    .attributes
                    .as_ref()
                    .map(|item| ItemReader::new(item, &self.table).number("attempts"))
                    .transpose()?
                    .unwrap_or(1);
                Ok(ClaimOutcome::Acquired(ClaimLease {
                    key: key.clone(),
                    owner: owner.to_owned(),
                    attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
                    lease_until,
                }))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                let Some(item) = self.get(&Self::claim_pk(key), CLAIM_SK).await? else {
                    // Deleted between the two calls: report contention so the caller retries.
                    return Ok(ClaimOutcome::InProgress { owner: String::new(), lease_until: now });
                };
                let record = self.read_claim(key, &item)?;
                Ok(match record.status {
                    ClaimStatus::Completed => ClaimOutcome::Completed(record),
                    _ => ClaimOutcome::InProgress { owner: record.owner, lease_until: record.lease_until },
                })
            }
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }

    async fn complete(&self, lease: &ClaimLease, result: &str) -> Result<(), LedgerError> {
        self.finish_claim(lease, "completed", "result", result).await
    }

    async fn fail(&self, lease: &ClaimLease, reason: &str) -> Result<(), LedgerError> {
        self.finish_claim(lease, "failed", "failure", reason).await
    }

    async fn release(&self, lease: &ClaimLease) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::claim_pk(&lease.key)))
            .key("sk", s(CLAIM_SK))
            .update_expression("SET lease_until = :zero")
            .condition_expression("#owner = :owner AND #status = :in_progress")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        // Someone else holds it now, or it finished: nothing of ours to release.
        self.done_unless_refused("UpdateItem", result)
    }

    async fn claim_record(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, LedgerError> {
        self.get(&Self::claim_pk(key), CLAIM_SK).await?.map(|item| self.read_claim(key, &item)).transpose()
    }

    async fn rewrite_failure(&self, key: &ClaimKey, failure: &str) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::claim_pk(key)))
            .key("sk", s(CLAIM_SK))
            .update_expression("SET failure = :failure")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":failure", s(failure))
            .send()
            .await;
        self.done_unless_refused("UpdateItem", result)
    }
}

#[async_trait]
impl Bindings for DynamoLedger {
    async fn bind(&self, binding: &Binding) -> Result<(), LedgerError> {
        let pk = Self::binding_pk(&binding.connection, &binding.channel_order_id);
        let channel_order = serde_json::to_string(&binding.channel_order_id).map_err(|e| LedgerError::Corrupt {
            table: self.table.clone(),
            key: pk.clone(),
            detail: e.to_string(),
        })?;
        let mut request = self.client.put_item();
        // A binding written again (same ERP order) replaces its digest: the channel order's
        // content the ERP order now reflects.
        if let Some(digest) = &binding.digest {
            request = request.item("digest", s(digest));
        }
        let result = request
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(BINDING_SK))
            .item("gsi1pk", s(Self::binding_gsi_pk(&binding.erp)))
            .item("gsi1sk", s(&pk))
            .item("connection", s(binding.connection.as_str()))
            .item("channel_order", s(channel_order))
            .item("display_number", s(&binding.display_number))
            .item("order_type", s(binding.erp.order_type.as_str()))
            .item("order_nbr", s(binding.erp.order_nbr.as_str()))
            .item("created_at", epoch_millis(binding.created_at))
            .item("origin", s(binding.origin.as_str()))
            .condition_expression("attribute_not_exists(pk) OR (order_type = :type AND order_nbr = :nbr)")
            .expression_attribute_values(":type", s(binding.erp.order_type.as_str()))
            .expression_attribute_values(":nbr", s(binding.erp.order_nbr.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                let existing = self
                    .binding_for_channel(&binding.connection, &binding.channel_order_id)
                    .await?
                    .map(|b| b.erp.to_string())
                    .unwrap_or_else(|| "<unknown>".into());
                Err(LedgerError::BindingConflict {
                    channel_order: binding.channel_order_id.to_string(),
                    existing,
                    attempted: binding.erp.to_string(),
                })
            }
            Err(e) => Err(self.err("PutItem", e)),
        }
    }

    async fn binding_for_channel(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<Binding>, LedgerError> {
        self.get(&Self::binding_pk(connection, order), BINDING_SK)
            .await?
            .map(|item| self.read_binding(&item))
            .transpose()
    }

    async fn binding_for_erp(&self, erp: &ErpOrderRef) -> Result<Option<Binding>, LedgerError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BINDING_INDEX)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(Self::binding_gsi_pk(erp)))
            .limit(1)
            .send()
            .await
            .map_err(|e| self.err("Query", e))?;
        out.items().first().map(|item| self.read_binding(item)).transpose()
    }
}

#[async_trait]
impl Cursors for DynamoLedger {
    async fn cursor(&self, connection: &ConnectionId, stream: &str) -> Result<Option<Cursor>, LedgerError> {
        self.get(&Self::cursor_pk(connection, stream), CURSOR_SK).await?.map(|item| self.read_cursor(&item)).transpose()
    }

    async fn save_cursor(
        &self,
        connection: &ConnectionId,
        stream: &str,
        value: &str,
        expected_version: Option<u64>,
    ) -> Result<Cursor, LedgerError> {
        let now = self.clock.now();
        let version = expected_version.map_or(1, |v| v + 1);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(Self::cursor_pk(connection, stream)))
            .item("sk", s(CURSOR_SK))
            .item("connection", s(connection.as_str()))
            .item("stream", s(stream))
            .item("value", s(value))
            .item("version", n(version))
            .item("updated_at", epoch_millis(now));
        request = match expected_version {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(expected) => request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(expected)),
        };
        match request.send().await {
            Ok(_) => Ok(Cursor {
                connection: connection.clone(),
                stream: stream.to_owned(),
                value: value.to_owned(),
                version,
                updated_at: now,
            }),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(LedgerError::CursorConflict {
                    connection: connection.to_string(),
                    stream: stream.to_owned(),
                    expected: expected_version,
                })
            }
            Err(e) => Err(self.err("PutItem", e)),
        }
    }
}

#[async_trait]
impl Markers for DynamoLedger {
    async fn remember_once(&self, scope: &str, key: &str, ttl: Duration) -> Result<bool, LedgerError> {
        let now = self.clock.now();
        let expires = lease_end(now, ttl);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("DEDUPE#{scope}#{key}")))
            .item("sk", s(DEDUPE_SK))
            .item(TTL_ATTRIBUTE, epoch(expires))
            // TTL deletion is lazy (and never happens in the emulator): an expired key counts as absent.
            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", epoch(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(self.err("PutItem", e)),
        }
    }

    async fn seen(&self, scope: &str, key: &str) -> Result<bool, LedgerError> {
        let item = self.get(&format!("DEDUPE#{scope}#{key}"), DEDUPE_SK).await?;
        Ok(item.is_some_and(|item| !ItemReader::new(&item, &self.table).is_expired(self.clock.now())))
    }

    async fn forget(&self, scope: &str, key: &str) -> Result<(), LedgerError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("DEDUPE#{scope}#{key}")))
            .key("sk", s(DEDUPE_SK))
            .send()
            .await
            .map_err(|e| self.err("DeleteItem", e))?;
        Ok(())
    }
}

#[async_trait]
impl MappingStore for DynamoLedger {
    async fn save_mapping(&self, name: &str, source_path: &str, source: &str) -> Result<StoredMapping, LedgerError> {
        let sha256 = sha256_hex(source);
        // Two writers racing for the next version: the conditional put lets one win; retry the other.
        for _ in 0..5 {
            let latest = self.latest_mapping(name).await?;
            if let Some(latest) = &latest {
                if latest.sha256 == sha256 {
                    return Ok(latest.clone());
                }
            }
            let version = latest.map_or(1, |m| m.version + 1);
            let now = self.clock.now();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(Self::mapping_pk(name)))
                .item("sk", s(format!("V#{version:012}")))
                .item("name", s(name))
                .item("version", n(version))
                .item("source", s(source))
                .item("source_path", s(source_path))
                .item("sha256", s(&sha256))
                .item("saved_at", epoch_millis(now))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(StoredMapping {
                        name: name.to_owned(),
                        version,
                        source: source.to_owned(),
                        source_path: source_path.to_owned(),
                        sha256,
                        saved_at: now,
                    })
                }
                Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => continue,
                Err(e) => return Err(self.err("PutItem", e)),
            }
        }
        Err(LedgerError::CursorConflict { connection: name.to_owned(), stream: "mapping".into(), expected: None })
    }

    async fn latest_mapping(&self, name: &str) -> Result<Option<StoredMapping>, LedgerError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :v)")
            .expression_attribute_values(":pk", s(Self::mapping_pk(name)))
            .expression_attribute_values(":v", s("V#"))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err("Query", e))?;
        out.items().first().map(|item| self.read_mapping(item)).transpose()
    }

    async fn mapping_version(&self, name: &str, version: u64) -> Result<Option<StoredMapping>, LedgerError> {
        self.get(&Self::mapping_pk(name), &format!("V#{version:012}"))
            .await?
            .map(|item| self.read_mapping(&item))
            .transpose()
    }
}

// ---------------------------------------------------------------------------------------------
// Followed orders: `pk = FOLLOW#<connection>`, `sk = <channel order id>`, the record as JSON, and
// `shipped_at` as its own attribute so the first shipment is one conditional update.
// ---------------------------------------------------------------------------------------------

impl DynamoLedger {
    fn follow_pk(connection: &ConnectionId) -> String {
        format!("FOLLOW#{connection}")
    }

    fn follow_item(&self, order: &FollowedOrder) -> Result<Item, LedgerError> {
        let record = serde_json::to_string(order).map_err(|e| LedgerError::Corrupt {
            table: self.table.clone(),
            key: Self::follow_pk(&order.connection),
            detail: e.to_string(),
        })?;
        let mut item = Item::new();
        item.insert("pk".into(), s(Self::follow_pk(&order.connection)));
        item.insert("sk".into(), s(order.channel_order_id.to_string()));
        item.insert("record".into(), s(record));
        if let Some(at) = order.shipped_at {
            item.insert("shipped_at".into(), epoch_millis(at));
        }
        Ok(item)
    }

    fn read_followed(&self, item: &Item) -> Result<FollowedOrder, LedgerError> {
        let r = ItemReader::new(item, &self.table);
        let mut order: FollowedOrder = r.json("record")?;
        if item.contains_key("shipped_at") {
            let at = r.epoch_millis("shipped_at")?;
            // The earliest shipment wins (the attribute is only ever set once by mark_shipped).
            order.shipped_at = Some(order.shipped_at.map_or(at, |known| known.min(at)));
        }
        Ok(order)
    }
}

#[async_trait]
impl FollowedOrders for DynamoLedger {
    async fn follow(&self, order: &FollowedOrder) -> Result<(), LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.follow_item(order)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        self.done_unless_refused("PutItem", result)
    }

    async fn followed(
        &self,
        connection: &ConnectionId,
        after: Option<&ChannelOrderId>,
        limit: usize,
    ) -> Result<Vec<FollowedOrder>, LedgerError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(Self::follow_pk(connection)));
        request = match after {
            Some(after) => request
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":after", s(after.to_string())),
            None => request.key_condition_expression("pk = :pk"),
        };
        let mut out = Vec::new();
        loop {
            let page = request
                .clone()
                .limit(i32::try_from(limit.saturating_sub(out.len())).unwrap_or(i32::MAX).max(1))
                .send()
                .await
                .map_err(|e| self.err("Query", e))?;
            for item in page.items() {
                out.push(self.read_followed(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() && out.len() < limit => {
                    request = request.set_exclusive_start_key(Some(key.clone()))
                }
                _ => return Ok(out),
            }
        }
    }

    async fn followed_order(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<FollowedOrder>, LedgerError> {
        self.get(&Self::follow_pk(connection), &order.to_string())
            .await?
            .map(|item| self.read_followed(&item))
            .transpose()
    }

    /// An update, not a put: a shipment recorded by `mark_shipped` since the caller read the
    /// record is kept.
    async fn save_followed(&self, order: &FollowedOrder) -> Result<(), LedgerError> {
        let mut item = self.follow_item(order)?;
        let record = item.remove("record").unwrap_or_else(|| s("{}"));
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::follow_pk(&order.connection)))
            .key("sk", s(order.channel_order_id.to_string()))
            .expression_attribute_values(":record", record);
        request = match item.remove("shipped_at") {
            Some(at) => request
                .update_expression("SET #record = :record, shipped_at = if_not_exists(shipped_at, :at)")
                .expression_attribute_values(":at", at),
            None => request.update_expression("SET #record = :record"),
        };
        request.expression_attribute_names("#record", "record").send().await.map_err(|e| self.err("UpdateItem", e))?;
        Ok(())
    }

    async fn mark_shipped(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::follow_pk(connection)))
            .key("sk", s(order.to_string()))
            .update_expression("SET shipped_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(shipped_at)")
            .expression_attribute_values(":at", epoch_millis(at))
            .send()
            .await;
        self.done_unless_refused("UpdateItem", result)
    }
}

// ---------------------------------------------------------------------------------------------
// Stock levels written to storefronts: `pk = STOCK#<connection>`, `sk = bucket-NN` (64 buckets by
// the item's hash), one attribute `i:<item>` per item holding `qty` or `qty|unknown`. One Query
// reads every level of a storefront (a thousand items are about 8 read units), and a pass writes
// one UpdateItem per touched bucket and 50 items, not one item per SKU.
// ---------------------------------------------------------------------------------------------

const STOCK_BUCKETS: u8 = 64;
const STOCK_ATTRIBUTES_PER_UPDATE: usize = 50;

impl DynamoLedger {
    fn stock_pk(connection: &ConnectionId) -> String {
        format!("STOCK#{connection}")
    }

    fn stock_bucket(item: &str) -> String {
        use sha2::{Digest, Sha256};
        format!("bucket-{:02}", Sha256::digest(item.as_bytes())[0] % STOCK_BUCKETS)
    }

    fn stock_value(level: &crate::model::PushedLevel) -> String {
        let qty = level.available.normalize().to_string();
        if level.unknown {
            format!("{qty}|unknown")
        } else {
            qty
        }
    }

    fn read_stock_value(&self, pk: &str, value: &str) -> Result<crate::model::PushedLevel, LedgerError> {
        let (qty, unknown) = match value.split_once('|') {
            Some((qty, "unknown")) => (qty, true),
            _ => (value, false),
        };
        let available = qty.parse().map_err(|_| LedgerError::Corrupt {
            table: self.table.clone(),
            key: pk.to_owned(),
            detail: format!("stock level {value:?} is not a quantity"),
        })?;
        Ok(crate::model::PushedLevel { available, unknown })
    }
}

#[async_trait]
impl crate::ports::StockLevels for DynamoLedger {
    async fn pushed_levels(
        &self,
        connection: &ConnectionId,
    ) -> Result<std::collections::HashMap<String, crate::model::PushedLevel>, LedgerError> {
        let pk = Self::stock_pk(connection);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk.clone()))
            .consistent_read(true);
        let mut out = std::collections::HashMap::new();
        loop {
            let page = request.clone().send().await.map_err(|e| self.err("Query", e))?;
            for item in page.items() {
                for (name, value) in item {
                    let (Some(stock_item), Ok(text)) = (name.strip_prefix("i:"), value.as_s()) else { continue };
                    out.insert(stock_item.to_owned(), self.read_stock_value(&pk, text)?);
                }
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => request = request.set_exclusive_start_key(Some(key.clone())),
                _ => return Ok(out),
            }
        }
    }

    async fn record_levels(
        &self,
        connection: &ConnectionId,
        levels: &[(String, crate::model::PushedLevel)],
    ) -> Result<(), LedgerError> {
        let pk = Self::stock_pk(connection);
        let mut buckets: std::collections::BTreeMap<String, Vec<&(String, crate::model::PushedLevel)>> =
            std::collections::BTreeMap::new();
        for level in levels {
            buckets.entry(Self::stock_bucket(&level.0)).or_default().push(level);
        }
        for (bucket, levels) in buckets {
            for chunk in levels.chunks(STOCK_ATTRIBUTES_PER_UPDATE) {
                let mut request = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(pk.clone()))
                    .key("sk", s(bucket.clone()));
                let mut sets = Vec::with_capacity(chunk.len());
                for (i, (item, level)) in chunk.iter().enumerate() {
                    sets.push(format!("#i{i} = :v{i}"));
                    request = request
                        .expression_attribute_names(format!("#i{i}"), format!("i:{item}"))
                        .expression_attribute_values(format!(":v{i}"), s(Self::stock_value(level)));
                }
                request
                    .update_expression(format!("SET {}", sets.join(", ")))
                    .send()
                    .await
                    .map_err(|e| self.err("UpdateItem", e))?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Customer bindings: `pk = CUSTOMER#<connection>`, `sk = <channel customer id>`, `erp` the ERP
// customer id. Written once (conditional on absence); a second write of the same binding is a no-op.
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl crate::ports::CustomerBindings for DynamoLedger {
    async fn customer_binding(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
    ) -> Result<Option<crate::model::ErpCustomerId>, LedgerError> {
        let pk = format!("CUSTOMER#{connection}");
        let Some(item) = self.get(&pk, channel_customer_id).await? else { return Ok(None) };
        let id = ItemReader::new(&item, &self.table).string("erp")?;
        crate::model::ErpCustomerId::parse(id.clone()).map(Some).map_err(|e| LedgerError::Corrupt {
            table: self.table.clone(),
            key: pk,
            detail: format!("{id:?}: {e}"),
        })
    }

    async fn bind_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &crate::model::ErpCustomerId,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("CUSTOMER#{connection}")))
            .item("sk", s(channel_customer_id))
            .item("erp", s(erp.as_str()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        self.done_unless_refused("PutItem", result)
    }

    async fn forget_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &crate::model::ErpCustomerId,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("CUSTOMER#{connection}")))
            .key("sk", s(channel_customer_id))
            .condition_expression("#erp = :erp")
            .expression_attribute_names("#erp", "erp")
            .expression_attribute_values(":erp", s(erp.as_str()))
            .send()
            .await;
        self.done_unless_refused("DeleteItem", result)
    }
}

#[async_trait]
impl FailedRecords for DynamoLedger {
    async fn failed_claims(&self, namespace: &str, limit: usize) -> Result<Vec<FailedClaim>, LedgerError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BINDING_INDEX)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(Self::failed_pk(namespace)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.err("Query", e))?;
            for item in out.items() {
                let r = ItemReader::new(item, &self.table);
                let stored = r.string("gsi1sk")?;
                let (ns, rest) = stored.split_once('#').unwrap_or((stored.as_str(), ""));
                let record = self.read_claim(&ClaimKey::other(ns, rest), item)?;
                // The index is eventually consistent: a claim retried a moment ago may still show.
                if record.status != ClaimStatus::Failed {
                    continue;
                }
                found.push(FailedClaim {
                    key: record.key,
                    attempts: record.attempts,
                    failure: record.failure.unwrap_or_default(),
                    updated_at: record.updated_at,
                });
                if found.len() >= limit {
                    return Ok(found);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    async fn skip_failed(&self, key: &ClaimKey, note: &str) -> Result<ClaimChange, LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::claim_pk(key)))
            .key("sk", s(CLAIM_SK))
            .update_expression("SET #status = :completed, #result = :result, updated_at = :now REMOVE gsi1pk, gsi1sk")
            .condition_expression("#status = :failed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":result", s(format!("{SKIPPED_PREFIX}{note}")))
            .expression_attribute_values(":now", epoch_millis(self.clock.now()))
            .send()
            .await;
        Ok(if self.applied("UpdateItem", result)? { ClaimChange::Done } else { ClaimChange::NotApplicable })
    }

    async fn reset_import(
        &self,
        key: &ClaimKey,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<ClaimChange, LedgerError> {
        use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
        let build = |e: aws_sdk_dynamodb::error::BuildError| LedgerError::Corrupt {
            table: self.table.clone(),
            key: key.to_string(),
            detail: e.to_string(),
        };
        // One transaction: a claim forgotten while its binding stayed would make the next import
        // bind a new ERP order against the old binding (a conflict), and the reverse would make
        // the pull acknowledge the order again instead of importing it.
        let claim = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(Self::claim_pk(key)))
            .key("sk", s(CLAIM_SK))
            .condition_expression("attribute_exists(pk) AND (#status <> :in_progress OR lease_until <= :now)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":now", epoch_millis(self.clock.now()))
            .build()
            .map_err(build)?;
        let binding = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(Self::binding_pk(connection, order)))
            .key("sk", s(BINDING_SK))
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(claim).build())
            .transact_items(TransactWriteItem::builder().delete(binding).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimChange::Done),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_transaction_canceled_exception()) => {
                Ok(ClaimChange::NotApplicable)
            }
            Err(e) => Err(self.err("TransactWriteItems", e)),
        }
    }
}

/// Backfill jobs: `pk = BACKFILL#{id}`, `sk = JOB`, the job as JSON in `record`, its `version`
/// (saves are conditional on it) and a TTL of [`BACKFILL_KEPT_DAYS`].
const BACKFILL_SK: &str = "JOB";
/// How long a backfill job's record is kept.
pub const BACKFILL_KEPT_DAYS: i64 = 30;

impl DynamoLedger {
    fn backfill_pk(id: &str) -> String {
        format!("BACKFILL#{id}")
    }

    fn backfill_put(
        &self,
        job: &crate::ports::BackfillJob,
    ) -> Result<aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder, LedgerError> {
        let record = serde_json::to_string(job).map_err(|e| LedgerError::Corrupt {
            table: self.table.clone(),
            key: Self::backfill_pk(&job.id),
            detail: format!("backfill job does not serialise: {e}"),
        })?;
        Ok(self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(Self::backfill_pk(&job.id)))
            .item("sk", s(BACKFILL_SK))
            .item("connection", s(job.connection.as_str()))
            .item("record", s(record))
            .item("version", n(job.version))
            .item("updated_at", epoch_millis(job.updated_at))
            .item(TTL_ATTRIBUTE, epoch(job.created_at + chrono::Duration::days(BACKFILL_KEPT_DAYS))))
    }
}

#[async_trait]
impl crate::ports::BackfillJobs for DynamoLedger {
    async fn create_backfill(&self, job: &crate::ports::BackfillJob) -> Result<(), LedgerError> {
        self.backfill_put(job)?
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("PutItem", e))
    }

    async fn backfill(&self, id: &str) -> Result<Option<crate::ports::BackfillJob>, LedgerError> {
        let Some(item) = self.get(&Self::backfill_pk(id), BACKFILL_SK).await? else { return Ok(None) };
        ItemReader::new(&item, &self.table).json("record").map(Some)
    }

    async fn save_backfill(&self, job: &crate::ports::BackfillJob) -> Result<bool, LedgerError> {
        let result = self
            .backfill_put(job)?
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(job.version.saturating_sub(1)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(self.err("PutItem", e)),
        }
    }
}

/// `TOKEN#{key}`: the shared token (`access`, `refresh`, `token_expires` and `token_renew` in
/// epoch milliseconds), its `version`, and while one caller renews it `renewing_until` (epoch
/// milliseconds) and `renewing_by` (that caller's owner token, which fences its save).
#[async_trait]
impl SharedTokens for DynamoLedger {
    async fn token(&self, key: &str) -> Result<Option<TokenRecord>, LedgerError> {
        let Some(item) = self.get(&format!("TOKEN#{key}"), TOKEN_SK).await? else { return Ok(None) };
        let r = ItemReader::new(&item, &self.table);
        let version = u64::try_from(r.number("version")?).unwrap_or(0);
        let token = match r.opt_string("access")? {
            Some(access) => Some(StoredToken {
                access: SecretString::from(access),
                refresh: r.opt_string("refresh")?.map(SecretString::from),
                expires_at: r.epoch_millis("token_expires")?,
                renew_at: r.epoch_millis("token_renew")?,
            }),
            None => None,
        };
        Ok(Some(TokenRecord { token, version }))
    }

    async fn lease_renewal(&self, key: &str, version: u64, lease: Duration, owner: &str) -> Result<bool, LedgerError> {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(90));
        let free = "(attribute_not_exists(#renewing) OR #renewing <= :now)";
        let condition = if version == 0 {
            format!("attribute_not_exists(pk) OR (#version = :version AND {free})")
        } else {
            format!("#version = :version AND {free}")
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("TOKEN#{key}")))
            .key("sk", s(TOKEN_SK))
            .update_expression("SET #renewing = :until, #owner = :owner, #version = if_not_exists(#version, :version)")
            .condition_expression(condition)
            .expression_attribute_names("#renewing", "renewing_until")
            .expression_attribute_names("#owner", "renewing_by")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":until", epoch_millis(until))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":now", epoch_millis(now))
            .send()
            .await;
        self.applied("UpdateItem", result)
    }

    async fn save_token(&self, key: &str, token: &StoredToken, version: u64, owner: &str) -> Result<bool, LedgerError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("TOKEN#{key}")))
            .key("sk", s(TOKEN_SK))
            .condition_expression("#version = :version AND #owner = :owner")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#owner", "renewing_by")
            .expression_attribute_names("#access", "access")
            .expression_attribute_names("#expires", "token_expires")
            .expression_attribute_names("#renew", "token_renew")
            .expression_attribute_names("#refresh", "refresh")
            .expression_attribute_names("#renewing", "renewing_until")
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":access", s(token.access.expose_secret()))
            .expression_attribute_values(":expires", epoch_millis(token.expires_at))
            .expression_attribute_values(":renew", epoch_millis(token.renew_at));
        let set = "SET #version = :next, #access = :access, #expires = :expires, #renew = :renew";
        request = match &token.refresh {
            Some(refresh) => request
                .update_expression(format!("{set}, #refresh = :refresh REMOVE #renewing, #owner"))
                .expression_attribute_values(":refresh", s(refresh.expose_secret())),
            None => request.update_expression(format!("{set} REMOVE #renewing, #owner, #refresh")),
        };
        self.applied("UpdateItem", request.send().await)
    }

    async fn end_lease(&self, key: &str, owner: &str) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("TOKEN#{key}")))
            .key("sk", s(TOKEN_SK))
            .update_expression("REMOVE #renewing, #owner")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#renewing", "renewing_until")
            .expression_attribute_names("#owner", "renewing_by")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        self.done_unless_refused("UpdateItem", result)
    }
}

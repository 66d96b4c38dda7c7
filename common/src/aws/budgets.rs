//! The shared rate budgets in the state table: one item per vendor account
//! (`BUDGET#{vendor}#{base URL}` / `BUDGET`) holding its GCRA time, `tat` (µs since the epoch),
//! and while a vendor asked every caller to wait, `paused` (µs, the end of that pause).
//!
//! A take is one conditional UpdateItem and no read: while the budget is idle the TAT is set to
//! now + cost (`tat <= now`), while it is busy it is moved by the cost (`now < tat <= now +
//! ceiling - cost`). The caller's last-seen TAT picks the first form; a refusal returns the item
//! as it was (ReturnValuesOnConditionCheckFailure), which picks the second attempt or the wait.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::item::{n, s, Item, ItemReader};
use super::ledger::DynamoLedger;
use crate::ports::{gcra_step, LedgerError, SharedBudgets, Take};

const BUDGET_SK: &str = "BUDGET";

/// One attempt's outcome: the TAT written, or the item (TAT, pause) the condition refused.
enum Attempt {
    Written(i64),
    Refused(Option<i64>, Option<i64>),
}

/// Takes only while no pause runs.
const NOT_PAUSED: &str = "(attribute_not_exists(#paused) OR #paused <= :now)";

impl DynamoLedger {
    fn budget_number(&self, key: &str, item: Option<&Item>, name: &str) -> Result<Option<i64>, LedgerError> {
        match item {
            Some(item) => ItemReader::new(item, &self.table).opt_number(name).map_err(|e| match e {
                LedgerError::Corrupt { table, detail, .. } => {
                    LedgerError::Corrupt { table, key: format!("BUDGET#{key}"), detail }
                }
                other => other,
            }),
            None => Ok(None),
        }
    }

    /// `idle`: SET tat = :now + cost if the TAT is not after now; else SET tat = tat + cost if
    /// it stays within the ceiling.
    async fn budget_attempt(
        &self,
        key: &str,
        idle: bool,
        now_us: i64,
        cost_us: i64,
        ceiling_us: i64,
    ) -> Result<Attempt, LedgerError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("BUDGET#{key}")))
            .key("sk", s(BUDGET_SK))
            .expression_attribute_names("#tat", "tat")
            .expression_attribute_names("#paused", "paused")
            .expression_attribute_values(":now", n(now_us))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = if idle {
            request
                .update_expression("SET #tat = :next")
                .condition_expression(format!("(attribute_not_exists(#tat) OR #tat <= :now) AND {NOT_PAUSED}"))
                .expression_attribute_values(":next", n(now_us.saturating_add(cost_us)))
        } else {
            request
                .update_expression("SET #tat = #tat + :cost")
                .condition_expression(format!("#tat > :now AND #tat <= :limit AND {NOT_PAUSED}"))
                .expression_attribute_values(":cost", n(cost_us))
                .expression_attribute_values(":limit", n(now_us.saturating_add(ceiling_us).saturating_sub(cost_us)))
        };
        match request.send().await {
            Ok(out) => {
                let tat = self.budget_number(key, out.attributes.as_ref(), "tat")?;
                Ok(Attempt::Written(tat.unwrap_or(now_us.saturating_add(cost_us))))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => Ok(Attempt::Refused(
                    self.budget_number(key, refused.item.as_ref(), "tat")?,
                    self.budget_number(key, refused.item.as_ref(), "paused")?,
                )),
                _ => Err(self.err("UpdateItem", e)),
            },
        }
    }
}

#[async_trait]
impl SharedBudgets for DynamoLedger {
    async fn take(
        &self,
        key: &str,
        now_us: i64,
        cost_us: i64,
        ceiling_us: i64,
        hint: i64,
    ) -> Result<Take, LedgerError> {
        let mut idle = hint <= now_us;
        // Two attempts settle it: a refusal returns the current TAT, which either picks the other
        // form (the budget went idle or busy meanwhile) or shows the budget is full. A third
        // only happens when others moved the TAT between our two writes; then we report full
        // with what we saw and the caller waits a little.
        let mut seen = None;
        for _ in 0..3 {
            match self.budget_attempt(key, idle, now_us, cost_us, ceiling_us).await? {
                Attempt::Written(tat) => return Ok(Take::Granted { tat }),
                Attempt::Refused(tat, paused) => {
                    seen = tat;
                    match gcra_step(tat, paused, now_us, cost_us, ceiling_us) {
                        refused @ (Take::Full { .. } | Take::Paused { .. }) => return Ok(refused),
                        Take::Granted { .. } => idle = tat.is_none_or(|t| t <= now_us),
                    }
                }
            }
        }
        Ok(Take::Full { tat: seen.unwrap_or(now_us).max(now_us) })
    }

    async fn hold_until(&self, key: &str, until_us: i64) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("BUDGET#{key}")))
            .key("sk", s(BUDGET_SK))
            .update_expression("SET #paused = :until")
            .condition_expression("attribute_not_exists(#paused) OR #paused < :until")
            .expression_attribute_names("#paused", "paused")
            .expression_attribute_values(":until", n(until_us))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already held as long or longer.
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                Ok(())
            }
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }
}

//! A channel's order webhooks kept alive: the catch-up poll re-enables any subscription the
//! channel disabled (it does so after about two days of failed deliveries, telling only the app
//! owner's mailbox), and a delivery-failure report from the channel is recorded and acted on at
//! once. Each re-enabled subscription is a connector-log entry; orders announced while it was
//! off arrive through the scheduled pull in the meantime, so nothing is lost, only slower.

use std::sync::Arc;

use serde::Serialize;
use tracing::{info, warn};

use super::LogRecorder;
use crate::error::ErrorChain;
use crate::model::ConnectionId;
use crate::ports::{ConnectorError, Direction, HookChange, LogGroup, LogResult, OrderHooks};

/// A channel connection whose order webhooks are configured.
#[derive(Clone)]
pub struct HookedChannel {
    pub connection: ConnectionId,
    pub hooks: Arc<dyn OrderHooks>,
}

/// What one check found, per connection.
#[derive(Debug, Clone, Serialize)]
pub struct HookCheck {
    pub connection: String,
    /// Subscriptions re-enabled (`17 store/order/created`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reenabled: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Re-enables the disabled subscriptions of every hooked channel (one list call each, plus one
/// per subscription re-enabled).
pub async fn check_hooks(channels: &[HookedChannel], recorder: &LogRecorder<'_>) -> Vec<HookCheck> {
    let mut checks = Vec::new();
    for channel in channels {
        let check = match reenable(channel, recorder, None).await {
            Ok(changes) => HookCheck {
                connection: channel.connection.to_string(),
                reenabled: changes.iter().map(label).collect(),
                error: None,
            },
            Err(e) => {
                let text = ErrorChain(&e).to_string();
                warn!(connection = %channel.connection, error = %text, "Checking the channel's order webhooks failed.");
                HookCheck { connection: channel.connection.to_string(), reenabled: Vec::new(), error: Some(text) }
            }
        };
        checks.push(check);
    }
    checks
}

/// The channel reports failing deliveries (`code`, `message` as it sent them): the report is
/// recorded, and disabled subscriptions are re-enabled. An error is returned for a retry.
pub async fn hook_trouble(
    channel: &HookedChannel,
    hook: &str,
    code: &str,
    message: &str,
    recorder: &LogRecorder<'_>,
) -> Result<Vec<HookChange>, ConnectorError> {
    let action = recorder.start(
        &channel.connection,
        LogGroup::Webhooks,
        "hook_trouble",
        Direction::Internal,
        format!("hook {hook}"),
    );
    let changes = reenable(channel, recorder, Some(code)).await;
    let fixed = match &changes {
        Ok(c) if c.is_empty() => "none was disabled".to_owned(),
        Ok(c) => format!("re-enabled {}", c.iter().map(label).collect::<Vec<_>>().join(", ")),
        Err(e) => format!("checking the subscriptions failed ({}); retried", ErrorChain(e)),
    };
    let notes = format!(
        "The channel reports failing webhook deliveries to hook {hook} (code {code}: {message}); {fixed}. \
         Orders it could not announce arrive with the scheduled pull."
    );
    // A report of retries exhausted or a blocked destination needs a person to look at the
    // route (the deployment's API, its certificate, its secret); a single failed delivery does not.
    let result = if code == "90001" { LogResult::Skipped } else { LogResult::Failure };
    recorder.finish(action, result, notes).await;
    changes
}

async fn reenable(
    channel: &HookedChannel,
    recorder: &LogRecorder<'_>,
    code: Option<&str>,
) -> Result<Vec<HookChange>, ConnectorError> {
    let changes = channel.hooks.reactivate().await?;
    for change in &changes {
        info!(connection = %channel.connection, hook = %change.id, scope = %change.scope, "Disabled order webhook re-enabled.");
        let action = recorder.start(
            &channel.connection,
            LogGroup::Webhooks,
            "reenable_hook",
            Direction::Export,
            format!("hook {}", change.id),
        );
        let why =
            code.map_or_else(|| "found by the catch-up poll".to_owned(), |c| format!("after the channel's report {c}"));
        let notes = format!(
            "The channel had disabled webhook {} ({} → {}); re-enabled {why}. Orders it missed arrive with the scheduled pull.",
            change.id, change.scope, change.destination
        );
        recorder.finish(action, LogResult::Success, notes).await;
    }
    Ok(changes)
}

fn label(change: &HookChange) -> String {
    format!("{} {}", change.id, change.scope)
}

//! The store's order webhooks (v3 `/v3/hooks`, vendor-apis.md §3.6): registered by
//! `orderbridge-admin order-hooks`, re-enabled by the catch-up poll and on a delivery-failure
//! report. BigCommerce disables a hook whose deliveries failed for about 48 hours (and after 90
//! days without activity) and tells nobody but the app owner's mailbox, so the orders would
//! quietly fall back to the scheduled pull's latency.

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::webhook::{HOOK_KEY_HEADER, ORDER_SCOPES, TROUBLE_QUERY, TROUBLE_SCOPE};
use super::{BigCommerceClient, VENDOR};
use crate::connectors::ConnectorError;
use crate::http::{join_url, Idempotency};
use crate::ports::{HookAction, HookChange, OrderHooks};

/// One hook as `/v3/hooks` returns it.
#[derive(Debug, Clone, Deserialize)]
struct HookWire {
    id: i64,
    scope: String,
    destination: String,
    #[serde(default)]
    is_active: bool,
    #[serde(default)]
    headers: Option<Value>,
}

#[derive(Deserialize)]
struct HookList {
    data: Vec<HookWire>,
    #[serde(default)]
    meta: Option<Value>,
}

#[derive(Deserialize)]
struct HookOne {
    data: HookWire,
}

#[derive(Serialize)]
struct HookBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<&'a str>,
    is_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<Value>,
}

impl HookWire {
    fn carries(&self, secret: &str) -> bool {
        let given = self.headers.as_ref().and_then(|h| h.as_object()).and_then(|h| {
            h.iter().find(|(k, _)| k.eq_ignore_ascii_case(HOOK_KEY_HEADER)).and_then(|(_, v)| v.as_str())
        });
        given == Some(secret)
    }

    fn change(&self, action: HookAction) -> HookChange {
        HookChange {
            id: self.id.to_string(),
            scope: self.scope.clone(),
            // The destination is ours to show; the secret travels in a header, never in it.
            destination: self.destination.clone(),
            action,
        }
    }
}

/// The delivery-failure report's destination: the order route with [`TROUBLE_QUERY`].
fn trouble_destination(destination: &str) -> String {
    let separator = if destination.contains('?') { '&' } else { '?' };
    format!("{destination}{separator}{TROUBLE_QUERY}")
}

impl BigCommerceClient {
    /// Every hook of the store (all pages).
    async fn hooks(&self) -> Result<Vec<HookWire>, ConnectorError> {
        let url = join_url(&self.config.base_url, "v3/hooks");
        let mut hooks = Vec::new();
        for page in 1..=100u32 {
            let query = [("page", page.to_string()), ("limit", "250".to_owned())];
            let list: HookList = self
                .call("list webhooks", Idempotency::Safe, |c| c.get(&url).query(&query))
                .await?
                .json(VENDOR, "list webhooks")?;
            let pages = list
                .meta
                .as_ref()
                .and_then(|m| m.pointer("/pagination/total_pages"))
                .and_then(Value::as_u64)
                .unwrap_or(1);
            hooks.extend(list.data);
            if u64::from(page) >= pages {
                break;
            }
        }
        Ok(hooks)
    }

    fn secret(&self) -> Result<&str, ConnectorError> {
        self.config.webhook_secret.first().map(|s| s.expose_secret()).ok_or_else(|| ConnectorError::Rejected {
            vendor: VENDOR,
            operation: "register webhooks",
            message: format!("connection {}: set webhook_secret in its settings first", self.connection),
        })
    }

    fn ours(&self, hook: &HookWire) -> bool {
        let route = format!("/webhooks/orders/{}", self.connection);
        let path = hook.destination.split('?').next().unwrap_or_default();
        (ORDER_SCOPES.contains(&hook.scope.as_str()) || hook.scope == TROUBLE_SCOPE) && path.ends_with(&route)
    }

    async fn create_hook(&self, scope: &str, destination: &str, secret: &str) -> Result<HookWire, ConnectorError> {
        let url = join_url(&self.config.base_url, "v3/hooks");
        let body = HookBody {
            scope: Some(scope),
            destination: Some(destination),
            is_active: true,
            headers: Some(serde_json::json!({ HOOK_KEY_HEADER: secret })),
        };
        // Not retried blindly: a lost reply would leave a second hook (at most one per scope and
        // destination is allowed, so the retry's 422 would be the answer anyway).
        let created: HookOne = self
            .call("create webhook", Idempotency::Unsafe, |c| c.post(&url).json(&body))
            .await?
            .json(VENDOR, "create webhook")?;
        Ok(created.data)
    }

    async fn update_hook(&self, id: i64, body: &HookBody<'_>) -> Result<HookWire, ConnectorError> {
        let url = join_url(&self.config.base_url, &format!("v3/hooks/{id}"));
        let updated: HookOne = self
            .call("update webhook", Idempotency::Safe, |c| c.put(&url).json(body))
            .await?
            .json(VENDOR, "update webhook")?;
        Ok(updated.data)
    }
}

#[async_trait]
impl OrderHooks for BigCommerceClient {
    async fn register(&self, destination: &str) -> Result<Vec<HookChange>, ConnectorError> {
        let secret = self.secret()?;
        let existing = self.hooks().await?;
        let trouble = trouble_destination(destination);
        let wanted = ORDER_SCOPES.iter().map(|scope| (*scope, destination)).chain([(TROUBLE_SCOPE, trouble.as_str())]);
        let mut changes = Vec::new();
        for (scope, target) in wanted {
            // The trouble scope allows one hook per store and client: that one is moved here.
            let found =
                existing.iter().find(|h| h.scope == scope && (h.destination == target || scope == TROUBLE_SCOPE));
            let change = match found {
                None => self.create_hook(scope, target, secret).await?.change(HookAction::Created),
                Some(hook) if hook.is_active && hook.destination == target && hook.carries(secret) => {
                    hook.change(HookAction::Unchanged)
                }
                Some(hook) => {
                    let body = HookBody {
                        scope: None,
                        destination: Some(target),
                        is_active: true,
                        headers: Some(serde_json::json!({ HOOK_KEY_HEADER: secret })),
                    };
                    let action = if hook.is_active { HookAction::Updated } else { HookAction::Reactivated };
                    self.update_hook(hook.id, &body).await?.change(action)
                }
            };
            changes.push(change);
        }
        Ok(changes)
    }

    async fn reactivate(&self) -> Result<Vec<HookChange>, ConnectorError> {
        let mut changes = Vec::new();
        for hook in self.hooks().await?.into_iter().filter(|h| !h.is_active && self.ours(h)) {
            let body = HookBody { scope: None, destination: None, is_active: true, headers: None };
            changes.push(self.update_hook(hook.id, &body).await?.change(HookAction::Reactivated));
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trouble_report_goes_to_a_destination_of_its_own() {
        assert_eq!(
            trouble_destination("https://x.example/webhooks/orders/bc"),
            "https://x.example/webhooks/orders/bc?report=delivery"
        );
        assert_eq!(trouble_destination("https://x.example/o?a=1"), "https://x.example/o?a=1&report=delivery");
    }
}

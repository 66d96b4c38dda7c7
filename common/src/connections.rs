//! The connections file: which ERP and which sales channels one deployment syncs, with their
//! credentials and filters. In Lambda it is the `ORDERBRIDGE_CONNECTIONS` variable (resolved from
//! Secrets Manager at deploy time); locally a TOML file. `${VAR}` references are replaced from the
//! environment before parsing, so a file in a repository need not hold secrets.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::connectors::acumatica::AcumaticaConfig;
use crate::model::ConnectionId;

/// A connections file that cannot be used; names the source, line and field or variable.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionsError {
    #[error("{source_name}:{line}: {message}")]
    Syntax { source_name: String, line: usize, message: String },
    #[error("{source_name}: references ${{{var}}}, but environment variable {var} is not set")]
    MissingVariable { source_name: String, var: String },
    #[error("{source_name}: connection {connection}: {message}")]
    Invalid { source_name: String, connection: String, message: String },
}

impl crate::error::Classify for ConnectionsError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Permanent
    }
}

fn yes() -> bool {
    true
}

/// One sales channel account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConnection {
    /// Key-safe name (lowercase letters, digits, dashes), e.g. `sc-main`; part of every import key.
    pub id: ConnectionId,
    /// Disabled connections are neither pulled nor imported.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Name the mapping is stored under (`orderbridge-admin mapping-push --name`); defaults to `id`.
    #[serde(default)]
    pub mapping: Option<String>,
    /// The vendor, as registered in `connectors/registry.rs` (`sellercloud`, `bigcommerce`, ...).
    pub kind: String,
    /// Personal data Orderbridge keeps about this connection's orders (buyer names, emails, phones,
    /// street lines in its records and connector log) is removed this many days after the order
    /// shipped: 30, 60 or 90. Absent keeps it as long as the records themselves.
    #[serde(default)]
    pub personal_data_days: Option<u32>,
    /// The vendor's settings (each field is documented on the vendor's config struct).
    #[serde(default)]
    pub settings: toml::Table,
}

impl ChannelConnection {
    pub fn mapping_name(&self) -> &str {
        self.mapping.as_deref().unwrap_or(self.id.as_str())
    }

    /// How long personal data is kept after shipment.
    pub fn retention(&self) -> crate::model::Retention {
        self.personal_data_days.map_or(crate::model::Retention::Indefinitely, crate::model::Retention::Days)
    }
}

/// Webhook intake secrets (shipment-webhook). A route answers only when its secret is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Token ShipStation deliveries carry as `?token=` (put it in the webhook's target URL): one, or a
    /// list while the webhook's URL is being switched to a new token (any listed token is accepted).
    #[serde(default, deserialize_with = "one_or_many")]
    pub shipstation_token: Vec<SecretString>,
    /// Header name and value set on Acumatica's push notification definition (form SM302000).
    #[serde(default)]
    pub acumatica_header: Option<String>,
    /// The header's value: one, or a list while the push definition is switched to a new one.
    #[serde(default, deserialize_with = "one_or_many")]
    pub acumatica_secret: Vec<SecretString>,
    /// Standard Webhooks secrets (`whsec_…`) of the generic endpoint: the current one first, then
    /// any still accepted while senders rotate.
    #[serde(default)]
    pub generic_secrets: Vec<SecretString>,
    /// How long a delivery id is remembered, in hours (default 72: vendors retry for up to 48 h).
    #[serde(default)]
    pub dedupe_hours: Option<u64>,
}

/// The shipping tool whose labels are shipments to push back (ShipStation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipStationSection {
    /// ShipStation store id → the channel connection whose orders that store holds (their
    /// ShipStation order number is the channel's order id). Shipments of other stores are ignored.
    #[serde(default)]
    pub stores: std::collections::BTreeMap<String, ConnectionId>,
    pub settings: crate::connectors::shipstation::ShipStationConfig,
    /// `[shipstation.export]`: ERP shipments exported as ShipStation orders (its shipping station).
    #[serde(default)]
    pub export: Option<crate::model::StationExport>,
}

impl ShipStationSection {
    /// The store map with numeric keys; names the bad key.
    pub fn store_map(&self) -> Result<std::collections::BTreeMap<i64, ConnectionId>, String> {
        self.stores
            .iter()
            .map(|(k, v)| {
                k.trim()
                    .parse::<i64>()
                    .map(|id| (id, v.clone()))
                    .map_err(|_| format!("shipstation.stores: {k:?} is not a ShipStation store id"))
            })
            .collect()
    }
}

/// A secret given as one string or as a list of them (rotation).
pub(crate) fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(SecretString),
        Many(Vec<SecretString>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(secret) => vec![secret],
        OneOrMany::Many(secrets) => secrets,
    })
}

/// Shortest webhook secret accepted: guessable tokens would make the intake an open door.
pub const MIN_WEBHOOK_SECRET: usize = 16;

impl WebhookSettings {
    fn validate(&self) -> Result<(), String> {
        let short = |name: &str, secret: &SecretString| {
            (secret.expose_secret().trim().len() < MIN_WEBHOOK_SECRET)
                .then(|| format!("{name}: use at least {MIN_WEBHOOK_SECRET} random characters"))
        };
        for (i, token) in self.shipstation_token.iter().enumerate() {
            if let Some(problem) = short(&format!("webhooks.shipstation_token[{i}]"), token) {
                return Err(problem);
            }
        }
        match (&self.acumatica_header, self.acumatica_secret.is_empty()) {
            (Some(h), false) => {
                if h.trim().is_empty() || !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(format!("webhooks.acumatica_header: {h:?} is not an HTTP header name"));
                }
                for (i, secret) in self.acumatica_secret.iter().enumerate() {
                    if let Some(problem) = short(&format!("webhooks.acumatica_secret[{i}]"), secret) {
                        return Err(problem);
                    }
                }
            }
            (None, true) => {}
            _ => return Err("webhooks.acumatica_header and webhooks.acumatica_secret go together".into()),
        }
        for (i, secret) in self.generic_secrets.iter().enumerate() {
            if let Some(problem) = short(&format!("webhooks.generic_secrets[{i}]"), secret) {
                return Err(problem);
            }
        }
        if self.dedupe_hours == Some(0) {
            return Err("webhooks.dedupe_hours: must be at least 1".into());
        }
        Ok(())
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connections {
    /// The ERP orders are imported into.
    pub acumatica: AcumaticaConfig,
    #[serde(default, rename = "connection")]
    pub connections: Vec<ChannelConnection>,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    #[serde(default)]
    pub shipstation: Option<ShipStationSection>,
}

/// Replaces `${VAR}` with the variable's value; a missing variable is an error naming it.
pub fn substitute_env(
    source_name: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConnectionsError> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        // Comments may mention the syntax; only values are substituted.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let var = &after[..end];
            let value = lookup(var).ok_or_else(|| ConnectionsError::MissingVariable {
                source_name: source_name.into(),
                var: var.into(),
            })?;
            // The value lands inside a TOML string: keep quotes and backslashes from breaking it.
            out.push_str(&value.replace('\\', "\\\\").replace('"', "\\\""));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

impl Connections {
    /// Parses the file after substituting `${VAR}` references; every error names `source_name`.
    pub fn parse(
        source_name: &str,
        text: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConnectionsError> {
        let text = substitute_env(source_name, text, lookup)?;
        let parsed: Connections = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(1, |s| crate::mapping::line_col(&text, s.start).0);
            ConnectionsError::Syntax { source_name: source_name.into(), line, message: e.message().to_owned() }
        })?;
        parsed.webhooks.validate().map_err(|message| ConnectionsError::Invalid {
            source_name: source_name.into(),
            connection: "webhooks".into(),
            message,
        })?;
        if let Some(ss) = &parsed.shipstation {
            let invalid = |message: String| ConnectionsError::Invalid {
                source_name: source_name.into(),
                connection: "shipstation".into(),
                message,
            };
            let stores = ss.store_map().map_err(invalid)?;
            if let Some((store, c)) = stores.iter().find(|(_, c)| !parsed.connections.iter().any(|k| &k.id == *c)) {
                return Err(invalid(format!("shipstation.stores.{store}: connection {c:?} is not defined")));
            }
            ss.settings.validate().map_err(|e| invalid(e.to_string()))?;
            if let Some(export) = &ss.export {
                export.validate().map_err(invalid)?;
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &parsed.connections {
            // A wrong kind or setting stops the cold start with the connection and field named;
            // the clients themselves are built by the apps that use them.
            if let Err(e) = crate::connectors::registry::check_channel(c) {
                return Err(ConnectionsError::Invalid {
                    source_name: source_name.into(),
                    connection: c.id.to_string(),
                    message: crate::error::ErrorChain(&e).to_string(),
                });
            }
            if let Some(days) = c.personal_data_days.filter(|d| !crate::model::Retention::ALLOWED_DAYS.contains(d)) {
                return Err(ConnectionsError::Invalid {
                    source_name: source_name.into(),
                    connection: c.id.to_string(),
                    message: format!(
                        "personal_data_days: {days} is not offered; choose 30, 60 or 90 (or leave it out to keep personal data)"
                    ),
                });
            }
            if !seen.insert(c.id.clone()) {
                return Err(ConnectionsError::Invalid {
                    source_name: source_name.into(),
                    connection: c.id.to_string(),
                    message: "defined twice".into(),
                });
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_substituted_in_values_not_comments() {
        let text = "# use ${VAR} for secrets\npassword = \"${PW}\"\n";
        let out = substitute_env("f", text, |v| (v == "PW").then(|| "p\"w".to_string())).unwrap();
        assert_eq!(out, "# use ${VAR} for secrets\npassword = \"p\\\"w\"\n");
        let err = substitute_env("f", "a = \"${NOPE}\"", |_| None).unwrap_err();
        assert_eq!(err.to_string(), "f: references ${NOPE}, but environment variable NOPE is not set");
    }

    const ACUMATICA: &str =
        "[acumatica]\nbase_url = \"https://erp.example.com\"\nusername = \"u\"\npassword = \"p\"\ntenant = \"t\"\n";

    #[test]
    fn weak_or_half_configured_webhook_secrets_are_refused_by_name() {
        let ok = format!("{ACUMATICA}[webhooks]\nshipstation_token = \"0123456789abcdef0123\"\n");
        assert!(Connections::parse("c.toml", &ok, |_| None).is_ok());
        let short = format!("{ACUMATICA}[webhooks]\nshipstation_token = \"abc\"\n");
        let err = Connections::parse("c.toml", &short, |_| None).unwrap_err().to_string();
        assert!(err.contains("webhooks.shipstation_token") && !err.contains("abc"), "{err}");
        let rotating = format!(
            "{ACUMATICA}[webhooks]\nshipstation_token = [\"0123456789abcdef0123\", \"fedcba98765432100123\"]\n"
        );
        let parsed = Connections::parse("c.toml", &rotating, |_| None).unwrap();
        assert_eq!(parsed.webhooks.shipstation_token.len(), 2);
        let one_weak = format!("{ACUMATICA}[webhooks]\nshipstation_token = [\"0123456789abcdef0123\", \"abc\"]\n");
        let err = Connections::parse("c.toml", &one_weak, |_| None).unwrap_err().to_string();
        assert!(err.contains("webhooks.shipstation_token[1]"), "{err}");
        let half = format!("{ACUMATICA}[webhooks]\nacumatica_header = \"X-Key\"\n");
        let err = Connections::parse("c.toml", &half, |_| None).unwrap_err().to_string();
        assert!(err.contains("go together"), "{err}");
    }

    #[test]
    fn a_channel_is_built_through_the_registry_and_its_mistakes_are_named() {
        let channel = |kind: &str, extra: &str| {
            format!(
                "{ACUMATICA}[[connection]]\nid = \"c-1\"\nkind = \"{kind}\"\n[connection.settings]\nbase_url = \"https://x.api.sellercloud.com\"\nusername = \"u\"\npassword = \"p\"\n{extra}"
            )
        };
        assert!(Connections::parse("c.toml", &channel("sellercloud", ""), |_| None).is_ok());
        let typo = Connections::parse("c.toml", &channel("sellercloud", "pasword = \"x\"\n"), |_| None).unwrap_err();
        assert!(typo.to_string().contains("c-1") && typo.to_string().contains("pasword"), "{typo}");
        let unknown = Connections::parse("c.toml", &channel("shopify", ""), |_| None).unwrap_err().to_string();
        assert!(unknown.contains("\"shopify\"") && unknown.contains("sellercloud, bigcommerce, magento"), "{unknown}");
        let budget = Connections::parse(
            "c.toml",
            &channel("sellercloud", "rate_limit = { requests = 0, per_seconds = 60 }\n"),
            |_| None,
        );
        assert!(budget.unwrap_err().to_string().contains("rate_limit"), "the shared transport check names the field");
    }
}

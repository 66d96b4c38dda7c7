//! The connections file: which ERP and which sales channels one deployment syncs, with their
//! credentials and filters. In Lambda it is the `ORDERBRIDGE_CONNECTIONS` variable (resolved from
//! Secrets Manager at deploy time); locally a TOML file. `${VAR}` references are replaced from the
//! environment before parsing, so a file in a repository need not hold secrets.

use serde::Deserialize;

use crate::connectors::acumatica::AcumaticaConfig;
use crate::connectors::bigcommerce::BigCommerceConfig;
use crate::connectors::sellercloud::SellercloudConfig;
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
    #[serde(flatten)]
    pub channel: ChannelSettings,
}

impl ChannelConnection {
    pub fn mapping_name(&self) -> &str {
        self.mapping.as_deref().unwrap_or(self.id.as_str())
    }
}

/// The vendor of a channel connection and its settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", content = "settings", rename_all = "lowercase")]
pub enum ChannelSettings {
    Sellercloud(Box<SellercloudConfig>),
    Bigcommerce(Box<BigCommerceConfig>),
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connections {
    /// The ERP orders are imported into.
    pub acumatica: AcumaticaConfig,
    #[serde(default, rename = "connection")]
    pub connections: Vec<ChannelConnection>,
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
        let mut seen = std::collections::BTreeSet::new();
        for c in &parsed.connections {
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
}

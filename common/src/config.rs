//! Typed settings, read once per cold start from the environment.
//!
//! Every error names the variable, so a misconfigured deployment says exactly what to fix.

use std::time::Duration;

use url::Url;

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl crate::error::Classify for SettingsError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Permanent
    }
}

/// Reads variables through a lookup function, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

impl Env<fn(&str) -> Option<String>> {
    /// The process environment.
    pub fn process() -> Self {
        Env { lookup: |name| std::env::var(name).ok() }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn from_lookup(lookup: F) -> Self {
        Env { lookup }
    }

    /// A set, non-blank value, or `Missing` with the hint.
    pub fn required(&self, var: &'static str, hint: &'static str) -> Result<String, SettingsError> {
        self.optional(var).ok_or(SettingsError::Missing { var, hint })
    }

    pub fn optional(&self, var: &str) -> Option<String> {
        (self.lookup)(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn table_name(&self, var: &'static str) -> Result<TableName, SettingsError> {
        TableName::parse(
            var,
            &self.required(var, "set it to the DynamoDB table name (see infra/template.yaml outputs)")?,
        )
    }

    pub fn queue_url(&self, var: &'static str) -> Result<QueueUrl, SettingsError> {
        QueueUrl::parse(var, &self.required(var, "set it to the SQS queue URL (see infra/template.yaml outputs)")?)
    }

    /// A whole number of seconds, with a default when unset.
    pub fn seconds(&self, var: &'static str, default: Duration) -> Result<Duration, SettingsError> {
        match self.optional(var) {
            None => Ok(default),
            Some(raw) => raw.parse::<u64>().map(Duration::from_secs).map_err(|_| SettingsError::Invalid {
                var,
                reason: format!("{raw:?} is not a whole number of seconds"),
            }),
        }
    }

    /// A count that must be at least 1 (concurrency settings).
    pub fn count(&self, var: &'static str, default: usize) -> Result<usize, SettingsError> {
        match self.number(var, default)? {
            0 => Err(SettingsError::Invalid { var, reason: "must be at least 1".into() }),
            n => Ok(n),
        }
    }

    pub fn number<T: std::str::FromStr>(&self, var: &'static str, default: T) -> Result<T, SettingsError> {
        match self.optional(var) {
            None => Ok(default),
            Some(raw) => {
                raw.parse::<T>().map_err(|_| SettingsError::Invalid { var, reason: format!("{raw:?} is not a number") })
            }
        }
    }
}

/// A DynamoDB table name: 3–255 characters of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName(String);

impl TableName {
    pub fn parse(var: &'static str, raw: &str) -> Result<Self, SettingsError> {
        let valid = (3..=255).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(SettingsError::Invalid {
                var,
                reason: format!("{raw:?} is not a DynamoDB table name (3-255 characters of letters, digits, _ - .)"),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An SQS queue URL: `https://sqs.{region}.amazonaws.com/{account}/{name}` in AWS, or the same
/// path shape on the emulator's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrl(String);

impl QueueUrl {
    pub fn parse(var: &'static str, raw: &str) -> Result<Self, SettingsError> {
        let invalid =
            |reason: &str| SettingsError::Invalid { var, reason: format!("{raw:?} is not an SQS queue URL: {reason}") };
        let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("expected an http(s) URL"));
        }
        if url.host_str().is_none() {
            return Err(invalid("no host"));
        }
        let segments: Vec<&str> =
            url.path_segments().map(|s| s.filter(|p| !p.is_empty()).collect()).unwrap_or_default();
        match segments.as_slice() {
            [account, name] if account.chars().all(|c| c.is_ascii_digit()) && !name.is_empty() => {
                Ok(Self(raw.to_owned()))
            }
            _ => Err(invalid("expected the path /{account id}/{queue name}")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The AWS resources every function shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonSettings {
    /// Deployment stage (`dev`, `prod`), used in log fields.
    pub stage: String,
    pub state_table: TableName,
    pub log_table: TableName,
    /// How long connector-log entries are kept.
    pub log_retention: Duration,
}

impl CommonSettings {
    pub fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        let retention_days: u64 = env.number("ORDERBRIDGE_LOG_RETENTION_DAYS", 30)?;
        if retention_days == 0 {
            return Err(SettingsError::Invalid {
                var: "ORDERBRIDGE_LOG_RETENTION_DAYS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            stage: env.optional("ORDERBRIDGE_STAGE").unwrap_or_else(|| "dev".into()),
            state_table: env.table_name("ORDERBRIDGE_STATE_TABLE")?,
            log_table: env.table_name("ORDERBRIDGE_LOG_TABLE")?,
            log_retention: Duration::from_secs(retention_days * 24 * 3600),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn missing_table_name_names_the_variable() {
        let err = CommonSettings::load(&env(&[("ORDERBRIDGE_LOG_TABLE", "log")])).unwrap_err();
        assert!(matches!(err, SettingsError::Missing { var: "ORDERBRIDGE_STATE_TABLE", .. }), "{err}");
        assert!(err.to_string().contains("ORDERBRIDGE_STATE_TABLE"));
    }

    #[test]
    fn blank_values_count_as_missing() {
        let err = CommonSettings::load(&env(&[("ORDERBRIDGE_STATE_TABLE", "  "), ("ORDERBRIDGE_LOG_TABLE", "log")]))
            .unwrap_err();
        assert!(matches!(err, SettingsError::Missing { var: "ORDERBRIDGE_STATE_TABLE", .. }));
    }

    #[test]
    fn malformed_queue_urls_name_the_variable() {
        let e =
            env(&[("Q", "not a url"), ("Q2", "https://sqs.us-east-1.amazonaws.com/queue-only"), ("Q3", "ftp://h/1/q")]);
        for var in ["Q", "Q2", "Q3"] {
            let var: &'static str = Box::leak(var.to_string().into_boxed_str());
            let err = e.queue_url(var).unwrap_err();
            assert!(matches!(&err, SettingsError::Invalid { var: v, .. } if *v == var), "{err}");
        }
        assert!(e.queue_url("MISSING").is_err());
    }

    #[test]
    fn real_and_emulator_queue_urls_are_accepted() {
        assert!(
            QueueUrl::parse("Q", "https://sqs.eu-west-1.amazonaws.com/123456789012/orderbridge-prod-orders").is_ok()
        );
        assert!(QueueUrl::parse("Q", "http://127.0.0.1:5000/123456789012/orderbridge-local-orders").is_ok());
    }

    #[test]
    fn bad_numbers_and_table_names_are_refused() {
        let e = env(&[
            ("ORDERBRIDGE_STATE_TABLE", "state"),
            ("ORDERBRIDGE_LOG_TABLE", "bad table!"),
            ("ORDERBRIDGE_LOG_RETENTION_DAYS", "ten"),
        ]);
        let err = CommonSettings::load(&e).unwrap_err();
        assert!(err.to_string().contains("ORDERBRIDGE_LOG_RETENTION_DAYS"), "{err}");
        let e = env(&[("ORDERBRIDGE_STATE_TABLE", "state"), ("ORDERBRIDGE_LOG_TABLE", "bad table!")]);
        let err = CommonSettings::load(&e).unwrap_err();
        assert!(matches!(err, SettingsError::Invalid { var: "ORDERBRIDGE_LOG_TABLE", .. }), "{err}");
    }
}

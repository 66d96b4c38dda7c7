//! Shared sign-in tokens: one vendor token kept in the state table and used by every function
//! and container, renewed by one of them at a time. A vendor whose licence counts signed-in API
//! users (the ERP) then sees one user, and a refresh token that works once is spent once.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::LedgerError;

/// A token as the vendor issued it.
#[derive(Clone)]
pub struct StoredToken {
    pub access: SecretString,
    /// What renews it without the password (OAuth `refresh_token`), when the vendor gave one.
    pub refresh: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
    /// When it is due for renewal (before `expires_at`).
    pub renew_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("has_refresh", &self.refresh.is_some())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What the store holds under one key.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    /// None while the first token is being fetched.
    pub token: Option<StoredToken>,
    /// Bumped by every save; a renewal lease names the version it renews.
    pub version: u64,
}

#[async_trait]
pub trait SharedTokens: Send + Sync {
    /// The record under `key`; None when nothing was ever stored.
    async fn token(&self, key: &str) -> Result<Option<TokenRecord>, LedgerError>;
    /// Takes the right to renew `key` for `lease` as `owner`, if its version is still `version`
    /// (0: none stored) and no one else holds an unexpired lease. False: another caller renews or
    /// renewed.
    async fn lease_renewal(&self, key: &str, version: u64, lease: Duration, owner: &str) -> Result<bool, LedgerError>;
    /// Stores a renewed token as version `version + 1` and ends the lease, if `owner` still holds
    /// it. False when it does not (its lease ran out and another caller took over).
    async fn save_token(&self, key: &str, token: &StoredToken, version: u64, owner: &str) -> Result<bool, LedgerError>;
    /// Ends `owner`'s lease without a new token (its renewal failed), so the next caller may try.
    async fn end_lease(&self, key: &str, owner: &str) -> Result<(), LedgerError>;
}

//! Test connection: one cheap authenticated call to a vendor, so an operator can see that the
//! URL, the credentials and the permissions work before anything depends on them.

use async_trait::async_trait;

use super::ConnectorError;

/// A connection that can be tried without changing anything.
#[async_trait]
pub trait Probe: Send + Sync {
    /// The call [`Probe::probe`] makes, in the vendor's terms (`POST /api/token`), for people.
    fn probe_call(&self) -> &'static str;
    /// Makes that call with fresh credentials (never a cached session, so a changed password
    /// shows at once). A refusal is the vendor's: `ConnectorError::Unauthorized` or `Status`
    /// carry the message from its error body, never the credentials sent.
    async fn probe(&self) -> Result<(), ConnectorError>;
}

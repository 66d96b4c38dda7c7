//! The one sign-in helper of every vendor that issues a session (a bearer token, a cookie): the
//! credential is cached per container, renewed before it lapses, and renewed once when the vendor
//! refuses it (401); a second refusal right after a fresh sign-in is the vendor's word, not ours.

use std::future::Future;
use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tracing::debug;

use super::{BuildRequest, Idempotency, Reply, VendorHttp};
use crate::ports::ConnectorError;

/// A credential as the vendor issued it.
pub struct Credential {
    pub secret: SecretString,
    /// Renew before this instant (None: until refused).
    pub renew_after: Option<Instant>,
}

/// What a refusal right after a fresh sign-in means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondRefusal {
    /// The new credential does not open this resource: the connection's permission is missing
    /// (`Unauthorized`, permanent, naming the connection).
    Unauthorized,
    /// The sign-in worked but the new session was ended at once (another sign-out, a licence
    /// limit): retried later (`SessionLost`).
    SessionLost,
}

/// One connection's session with one vendor.
pub struct Session {
    second_refusal: SecondRefusal,
    current: Mutex<Option<Credential>>,
}

impl Session {
    pub fn new(second_refusal: SecondRefusal) -> Self {
        Self { second_refusal, current: Mutex::new(None) }
    }

    /// The cached credential, or a new one from `sign_in` when there is none or it is due.
    pub async fn credential<F, Fut>(&self, sign_in: F) -> Result<SecretString, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Credential, ConnectorError>>,
    {
        let mut guard = self.current.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| c.renew_after.is_none_or(|at| Instant::now() < at)) {
            return Ok(c.secret.clone());
        }
        let fresh = sign_in().await?;
        let secret = fresh.secret.clone();
        *guard = Some(fresh);
        Ok(secret)
    }

    /// Drops `secret` if it is still the current credential (another caller may have renewed it).
    pub async fn forget(&self, secret: &SecretString) {
        let mut guard = self.current.lock().await;
        if guard.as_ref().is_some_and(|c| c.secret.expose_secret() == secret.expose_secret()) {
            *guard = None;
        }
    }

    /// Takes the credential out (to sign out with it); the next call signs in again.
    pub async fn take(&self) -> Option<SecretString> {
        self.current.lock().await.take().map(|c| c.secret)
    }

    /// Sends the request `build` makes with the credential `attach` puts on it. A refusal (401,
    /// which `VendorHttp` reports as `Unauthorized`) renews the credential once and repeats: the
    /// vendor refused the request unprocessed, so even a create may be repeated.
    pub async fn send<S, SFut, A, B>(
        &self,
        http: &VendorHttp,
        operation: &'static str,
        idempotency: Idempotency,
        sign_in: S,
        attach: A,
        build: B,
    ) -> Result<Reply, ConnectorError>
    where
        S: Fn() -> SFut,
        SFut: Future<Output = Result<Credential, ConnectorError>>,
        A: Fn(reqwest::RequestBuilder, &SecretString) -> reqwest::RequestBuilder,
        B: BuildRequest,
    {
        let mut renewed = false;
        loop {
            let secret = self.credential(&sign_in).await?;
            match http.send(operation, idempotency, |c| attach(build(c), &secret)).await {
                Err(ConnectorError::Unauthorized { .. }) if !renewed => {
                    renewed = true;
                    debug!(
                        vendor = http.vendor(),
                        connection = http.connection(),
                        operation,
                        "Credential refused; signing in again."
                    );
                    self.forget(&secret).await;
                }
                Err(ConnectorError::Unauthorized { vendor, .. })
                    if self.second_refusal == SecondRefusal::SessionLost =>
                {
                    return Err(ConnectorError::SessionLost { vendor, operation });
                }
                other => return other,
            }
        }
    }
}

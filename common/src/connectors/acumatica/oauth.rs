//! OAuth 2.0 sign-in (`POST {instance}/identity/connect/token`, §2.2): one token for the whole
//! deployment, kept in the state table ([`SharedTokens`]) and renewed by one caller at a time with
//! its refresh token, so every function and container counts as one API user and a licence slot
//! is never spent per batch. Without a store (the admin CLI) the token is this process's alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{info, warn};

use super::client::AcumaticaClient;
use super::config::AcumaticaOAuth;
use super::VENDOR;
use crate::connectors::ConnectorError;
use crate::http::{Credential, Idempotency};
use crate::ports::{SharedTokens, StoredToken};

/// How long one caller may take to renew before another may try: longer than a grant can take
/// (grants are not repeated after a lost reply; only throttling and refused connections retry).
const RENEWAL_LEASE: Duration = Duration::from_secs(90);
/// How long a caller waits for another's renewal before giving up (its message is retried later).
const RENEWAL_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting caller looks again.
const RENEWAL_POLL: Duration = Duration::from_millis(200);
/// A token this container renewed itself and then saw refused (401) sooner than this is not
/// renewed again: the refusal is about the request (a permission), and renewing on every message
/// would hammer the token endpoint. The request fails as `SessionLost` and is retried later.
const YOUNG: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

enum Grant<'a> {
    Password,
    Refresh(&'a SecretString),
}

/// Where the OAuth token of a client lives.
#[derive(Clone)]
pub(super) struct LastToken {
    access: String,
    taken: Instant,
    renewed_here: bool,
}

pub(super) struct OAuthState {
    pub(super) settings: AcumaticaOAuth,
    pub(super) shared: Option<Arc<dyn SharedTokens>>,
    /// The access token this container last took, when, and whether it renewed it itself: asked
    /// for a credential again while the store still holds it, the client knows it is due or was
    /// refused (a 401).
    pub(super) last: std::sync::Mutex<Option<LastToken>>,
}

impl AcumaticaClient {
    /// The key of this tenant's token in the store: instance and tenant, so two deployments of one
    /// table (or two tenants of one instance) never share a token.
    fn token_key(&self) -> String {
        format!("acumatica#{}#{}", self.config.base_url.trim_end_matches('/'), self.config.tenant.to_ascii_lowercase())
    }

    /// A token for this container: the shared one while it is good, else renewed by exactly one
    /// caller (the lease, fenced by an owner token) while the others wait for it.
    pub(super) async fn oauth_sign_in(&self, state: &OAuthState) -> Result<Credential, ConnectorError> {
        let Some(store) = &state.shared else {
            let token = self.renew(&state.settings, None).await?;
            return Ok(use_token(state, &token, true));
        };
        let key = self.token_key();
        let store_err = |source| ConnectorError::TokenStore { vendor: VENDOR, source };
        let deadline = Instant::now() + RENEWAL_WAIT;
        loop {
            let record = store.token(&key).await.map_err(store_err)?;
            let last = state.last.lock().map(|l| l.clone()).unwrap_or_default();
            let stored = record.as_ref().and_then(|r| r.token.as_ref());
            let now = Utc::now();
            // A token this container was given already and asks for again is due or was refused.
            let again = |t: &StoredToken| last.as_ref().is_some_and(|l| l.access == t.access.expose_secret());
            let usable = stored.filter(|t| !again(t) && t.expires_at > now);
            if let Some(token) = usable.filter(|t| t.renew_at > now) {
                return Ok(use_token(state, token, false));
            }
            if let Some(token) = stored.filter(|t| again(t) && t.renew_at > now) {
                // Refused, not due: not renewed again right after this container renewed it.
                if last.as_ref().is_some_and(|l| l.renewed_here && l.taken.elapsed() < YOUNG) {
                    return Ok(use_token(state, token, true));
                }
            }
            let version = record.as_ref().map_or(0, |r| r.version);
            let owner = uuid::Uuid::new_v4().simple().to_string();
            if store.lease_renewal(&key, version, RENEWAL_LEASE, &owner).await.map_err(store_err)? {
                let refresh = stored.and_then(|t| t.refresh.as_ref());
                let token = match self.renew(&state.settings, refresh).await {
                    Ok(token) => token,
                    Err(e) => {
                        // Let the next caller try now rather than after the lease.
                        if let Err(le) = store.end_lease(&key, &owner).await {
                            warn!(error = %le, "The token renewal lease was not ended; it lapses by itself.");
                        }
                        return Err(e);
                    }
                };
                match store.save_token(&key, &token, version, &owner).await {
                    Ok(true) => {}
                    Ok(false) => warn!("The renewed Acumatica token was not stored (the lease ran out and another caller renewed); this container uses its own until it is due."),
                    // The token was issued (and a refresh token spent): use it rather than lose it.
                    Err(e) => warn!(error = %e, "The renewed Acumatica token was not stored; this container uses its own until it is due."),
                }
                return Ok(use_token(state, &token, true));
            }
            // Someone else renews: a token that still works (inside its renewal margin) is used
            // meanwhile; otherwise wait for theirs.
            if let Some(token) = usable {
                return Ok(use_token(state, token, false));
            }
            if Instant::now() >= deadline {
                return Err(ConnectorError::SessionLost { vendor: VENDOR, operation: "sign in (OAuth)" });
            }
            tokio::time::sleep(RENEWAL_POLL).await;
        }
    }

    /// Renews with the refresh token; one that is spent or expired (`invalid_grant`) falls back
    /// to the password grant.
    async fn renew(
        &self,
        settings: &AcumaticaOAuth,
        refresh: Option<&SecretString>,
    ) -> Result<StoredToken, ConnectorError> {
        if let Some(refresh) = refresh {
            match self.grant(settings, Grant::Refresh(refresh)).await {
                Err(ConnectorError::Status { status: 400, message, .. }) if message.contains("invalid_grant") => {
                    info!("The Acumatica refresh token was refused; signing in with the password grant.");
                }
                other => return other.map_err(|e| self.sign_in_refused(e)),
            }
        }
        self.grant(settings, Grant::Password).await.map_err(|e| self.sign_in_refused(e))
    }

    /// The token endpoint's 400 (`invalid_client`, a refused password) is the connection's
    /// credentials, not the request: `Unauthorized`, which no order is failed for.
    fn sign_in_refused(&self, e: ConnectorError) -> ConnectorError {
        match e {
            ConnectorError::Status { status: 400 | 401, operation, message, .. } => ConnectorError::Unauthorized {
                vendor: VENDOR,
                operation,
                connection: self.http.connection().to_owned(),
                message,
            },
            other => other,
        }
    }

    /// Test connection for an OAuth connection, with fresh credentials and nothing left signed
    /// in: the API user signs in and out with a cookie (user, password, tenant), then the token
    /// endpoint is asked to renew a refresh token that cannot exist — it checks the connected
    /// application first (`invalid_client`) and otherwise refuses the token (`invalid_grant`), so
    /// the client ID and secret are tested and no token (no licence slot) is issued.
    pub(super) async fn probe_oauth(&self, settings: &AcumaticaOAuth) -> Result<(), ConnectorError> {
        let session = self.login().await?;
        self.sign_out(session.secret).await;
        let nothing = SecretString::from(format!("orderbridge-probe-{}", uuid::Uuid::new_v4().simple()));
        match self.grant(settings, Grant::Refresh(&nothing)).await {
            Err(ConnectorError::Status { status: 400, message, .. }) if message.contains("invalid_grant") => Ok(()),
            Err(e) => Err(e),
            // A vendor that renewed a token it never issued: the application was accepted.
            Ok(_) => Ok(()),
        }
    }

    /// One call to the token endpoint.
    async fn grant(&self, settings: &AcumaticaOAuth, grant: Grant<'_>) -> Result<StoredToken, ConnectorError> {
        let url = crate::http::join_url(&self.config.base_url, "identity/connect/token");
        let mut form: Vec<(&str, &str)> =
            vec![("client_id", settings.client_id.as_str()), ("client_secret", settings.client_secret.expose_secret())];
        let operation = match grant {
            Grant::Password => {
                form.extend([
                    ("grant_type", "password"),
                    ("username", self.config.username.as_str()),
                    ("password", self.config.password.expose_secret()),
                    ("scope", "api offline_access"),
                ]);
                "sign in (OAuth)"
            }
            Grant::Refresh(refresh) => {
                form.extend([("grant_type", "refresh_token"), ("refresh_token", refresh.expose_secret())]);
                "renew token (OAuth)"
            }
        };
        // Not repeated after a reply that may have been lost: a refresh token works once, and a
        // second password grant would hold a second licence slot.
        let reply = self.http.send(operation, Idempotency::Unsafe, |c| c.post(&url).form(&form)).await?;
        let wire: TokenReply = serde_json::from_slice(&reply.body).map_err(|e| ConnectorError::Decode {
            vendor: VENDOR,
            operation,
            detail: format!("token reply: {e}"),
        })?;
        let lifetime = i64::try_from(wire.expires_in.unwrap_or(3600)).unwrap_or(3600);
        let margin = i64::try_from(settings.renew_margin_secs).unwrap_or(60);
        info!(operation, lifetime_secs = lifetime, "Acumatica token issued.");
        let now = Utc::now();
        Ok(StoredToken {
            access: SecretString::from(wire.access_token),
            refresh: wire.refresh_token.map(SecretString::from),
            expires_at: now + chrono::Duration::seconds(lifetime),
            // Renewed `renew_margin_secs` before it lapses, but never in its first half: a margin
            // as long as the lifetime would renew on every call.
            renew_at: now + chrono::Duration::seconds((lifetime - margin).max(lifetime / 2)),
        })
    }
}

/// The credential of `token`, remembered as this container's (when it took it, and whether it
/// renewed it itself).
fn use_token(state: &OAuthState, token: &StoredToken, renewed_here: bool) -> Credential {
    if let Ok(mut last) = state.last.lock() {
        *last =
            Some(LastToken { access: token.access.expose_secret().to_owned(), taken: Instant::now(), renewed_here });
    }
    let left = (token.renew_at - Utc::now()).num_milliseconds();
    Credential {
        secret: token.access.clone(),
        renew_after: Some(Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::future::join_all;
    use orderbridge_sandbox::{start, Sandbox, SandboxConfig};
    use secrecy::SecretString;

    use super::super::{AcumaticaClient, AcumaticaConfig, AcumaticaOAuth};
    use crate::ports::{ErpShipments, Probe, SharedTokens};
    use crate::testing::MemoryLedger;

    async fn sandbox(token_ttl: Duration) -> Sandbox {
        start(SandboxConfig { seed: 5, acumatica_token_ttl: token_ttl, ..SandboxConfig::default() })
            .await
            .expect("sandbox starts")
    }

    /// One container's client, signing in with OAuth.
    fn container(sb: &Sandbox, store: Option<Arc<MemoryLedger>>) -> AcumaticaClient {
        let c = &sb.state().config().credentials;
        let mut config = AcumaticaConfig::new(
            sb.urls().acumatica.clone(),
            &c.acumatica_username,
            c.acumatica_password.clone().into(),
            &c.acumatica_tenant,
        );
        config.retry.initial_delay_ms = 10;
        config.oauth = Some(AcumaticaOAuth {
            client_id: c.acumatica_client_id.clone(),
            client_secret: SecretString::from(c.acumatica_client_secret.clone()),
            renew_margin_secs: 1,
        });
        let client = AcumaticaClient::new(config).expect("valid config");
        match store {
            Some(store) => client.with_shared_tokens(store),
            None => client,
        }
    }

    /// One authorised read (shipments modified from now on: none).
    async fn read(client: &AcumaticaClient) -> Result<(), crate::ports::ConnectorError> {
        client.shipments_since(chrono::Utc::now()).await.map(|_| ())
    }

    fn tokens_issued(sb: &Sandbox, grant: &str) -> u32 {
        sb.state().acumatica().tokens_issued.get(grant).copied().unwrap_or(0)
    }

    fn api_users(sb: &Sandbox) -> usize {
        sb.state().acumatica().api_users_signed_in(Duration::from_secs(1200))
    }

    #[tokio::test]
    async fn containers_that_find_the_shared_token_expired_together_renew_it_once() {
        let sb = sandbox(Duration::from_secs(3)).await;
        let store = Arc::new(MemoryLedger::default());
        let containers: Vec<AcumaticaClient> = (0..8).map(|_| container(&sb, Some(store.clone()))).collect();

        // Eight cold containers at once: one sign-in between them.
        for result in join_all(containers.iter().map(read)).await {
            result.expect("signed in");
        }
        assert_eq!(tokens_issued(&sb, "password"), 1, "one password grant for all eight");
        assert_eq!(api_users(&sb), 1, "one licensed API user");

        // Past the token's expiry every container needs a new one at the same moment.
        tokio::time::sleep(Duration::from_millis(3200)).await;
        for result in join_all(containers.iter().map(read)).await {
            result.expect("renewed");
        }
        assert_eq!(tokens_issued(&sb, "refresh_token"), 1, "renewed once, with the refresh token");
        assert_eq!(tokens_issued(&sb, "password"), 1, "no second password grant");
        assert_eq!(api_users(&sb), 1, "the renewed token replaced the old one");
        let record = store.token(&containers[0].token_key()).await.unwrap().expect("stored");
        assert_eq!(record.version, 2, "stored twice: the first token and its renewal");

        // Batches end without signing out: the shared token stays, and no new one is needed.
        for c in &containers {
            c.logout().await;
            read(c).await.expect("still signed in");
        }
        assert_eq!(tokens_issued(&sb, "password") + tokens_issued(&sb, "refresh_token"), 2);
    }

    #[tokio::test]
    async fn a_spent_refresh_token_falls_back_to_the_password_grant_and_a_refused_token_is_renewed() {
        let sb = sandbox(Duration::from_secs(3600)).await;
        let store = Arc::new(MemoryLedger::default());
        let a = container(&sb, Some(store.clone()));
        read(&a).await.expect("signed in");
        // The ERP forgets every token (a restart, an administrator's revocation).
        sb.state().acumatica().revoke_tokens();
        // A second container is refused the stored token (401): it renews; the refresh token is
        // refused too, so it signs in again with the password.
        let b = container(&sb, Some(store.clone()));
        read(&b).await.expect("renewed after a refusal");
        assert_eq!(tokens_issued(&sb, "refresh_token"), 0, "the refused refresh issued nothing");
        assert_eq!(tokens_issued(&sb, "password"), 2);
        // The first container, refused its cached token, takes the renewed one from the store.
        read(&a).await.expect("uses the renewed token");
        assert_eq!(tokens_issued(&sb, "password"), 2, "no third sign-in");
        assert_eq!(api_users(&sb), 1);

        // Refused again right after b renewed it: b does not renew at once (a refusal that
        // follows a fresh token is about the request); the call is retried later.
        sb.state().acumatica().revoke_tokens();
        let again = read(&b).await.expect_err("refused again");
        assert!(matches!(again, crate::ports::ConnectorError::SessionLost { .. }), "{again:?}");
        assert_eq!(tokens_issued(&sb, "password") + tokens_issued(&sb, "refresh_token"), 2, "nothing issued");
    }

    #[tokio::test]
    async fn without_a_store_the_token_is_kept_for_the_process() {
        let sb = sandbox(Duration::from_secs(3600)).await;
        let client = container(&sb, None);
        read(&client).await.expect("signed in");
        client.logout().await;
        read(&client).await.expect("still signed in");
        assert_eq!(tokens_issued(&sb, "password"), 1);
    }

    #[tokio::test]
    async fn a_renewal_margin_longer_than_the_token_lifetime_does_not_renew_on_every_call() {
        let sb = sandbox(Duration::from_secs(60)).await;
        let mut config = container(&sb, None).config.clone();
        if let Some(oauth) = config.oauth.as_mut() {
            oauth.renew_margin_secs = 600;
        }
        let client = AcumaticaClient::new(config).unwrap().with_shared_tokens(Arc::new(MemoryLedger::default()));
        for _ in 0..5 {
            read(&client).await.expect("signed in");
        }
        assert_eq!(tokens_issued(&sb, "password") + tokens_issued(&sb, "refresh_token"), 1, "renewed at half-life");
    }

    #[tokio::test]
    async fn test_connection_checks_user_and_application_and_leaves_no_one_signed_in() {
        let sb = sandbox(Duration::from_secs(3600)).await;
        let client = container(&sb, Some(Arc::new(MemoryLedger::default())));
        client.probe().await.expect("the credentials are right");
        assert_eq!(api_users(&sb), 0, "signed out, and no token issued");
        assert_eq!(tokens_issued(&sb, "password") + tokens_issued(&sb, "refresh_token"), 0);

        let mut wrong = container(&sb, None).config.clone();
        if let Some(oauth) = wrong.oauth.as_mut() {
            oauth.client_secret = SecretString::from("not-the-secret".to_owned());
        }
        let refused = AcumaticaClient::new(wrong).unwrap().probe().await.expect_err("wrong client secret");
        assert!(format!("{refused}").contains("invalid_client"), "{refused}");
        assert!(!format!("{refused:?}").contains("not-the-secret"), "{refused:?}");
        assert_eq!(api_users(&sb), 0);
    }
}

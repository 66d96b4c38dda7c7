//! [`VendorHttp`]: one vendor account's HTTP pipe (limiter → send → classify → bounded retry).

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tracing::{debug, trace};

use super::classify::{cap_message, classify_failure};
use super::{build_client, RateLimiter, RetryPolicy, Transport};
use crate::error::{Classify, ErrorClass};
use crate::ports::{ConnectorError, TransportStage};

/// What the shared layer needs to know about a vendor's wire conventions.
#[derive(Debug, Clone, Copy)]
pub struct VendorProfile {
    /// Vendor name used in errors and logs.
    pub name: &'static str,
    /// Reads the human message out of the vendor's documented error envelope.
    pub error_message: fn(&[u8]) -> Option<String>,
    /// A vendor-specific throttling signal on a failed response (a reset header or body field):
    /// `Some(wait)` makes the failure `RateLimited` whatever the status code.
    pub rate_hint: fn(StatusCode, &HeaderMap, &[u8]) -> Option<Duration>,
    /// A pause to impose after any response, success included (e.g. "0 requests left, reset in
    /// N ms"), so the next call waits instead of earning a 429.
    pub pause_hint: fn(&HeaderMap) -> Option<Duration>,
    /// A failed response that is a permanent rejection whatever its status says (Acumatica
    /// answers some validation failures with 500): it becomes `Rejected`, never retried.
    pub rejects: fn(StatusCode, &[u8]) -> bool,
}

/// Whether repeating a request can duplicate its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and idempotent writes (set a flag, set a status): any retryable failure is retried.
    Safe,
    /// Inserts: only retried when the vendor cannot have processed the request (throttled, or the
    /// connection never opened). A 5xx or a lost response may hide a committed insert; the caller
    /// decides (Acumatica looks the order up again before trying once more).
    Unsafe,
}

/// A successful response, body read in full (vendor responses here are small JSON documents).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// Decodes the body; a body that does not fit `T` is a `Decode` error with a capped detail.
    pub fn json<T: DeserializeOwned>(
        &self,
        vendor: &'static str,
        operation: &'static str,
    ) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let detail = cap_message(&format!("{e} (HTTP {}, {} bytes)", self.status.as_u16(), self.body.len()));
            // Well-formed JSON of the wrong shape (a field of the wrong type, a required one
            // missing) is the record itself, and comes back the same on every retry; anything
            // else (an HTML error page, a cut-off body) is most often a proxy and worth retrying.
            if e.classify() == serde_json::error::Category::Data {
                ConnectorError::Unmappable { vendor, operation, detail }
            } else {
                ConnectorError::Decode { vendor, operation, detail }
            }
        })
    }

    /// True for 204 or a blank body (BigCommerce answers an empty page with 204).
    pub fn is_empty(&self) -> bool {
        self.status == StatusCode::NO_CONTENT || self.body.iter().all(u8::is_ascii_whitespace)
    }
}

/// Makes the request of one attempt; called again for every retry, so it must not move anything.
pub trait BuildRequest: Fn(&reqwest::Client) -> reqwest::RequestBuilder {}

impl<F: Fn(&reqwest::Client) -> reqwest::RequestBuilder> BuildRequest for F {}

/// One vendor account's HTTP pipe: the reqwest client, the account's rate limiter and the retry
/// policy. Cheap to share behind an `Arc`; build it once per Lambda container.
#[derive(Debug)]
pub struct VendorHttp {
    client: reqwest::Client,
    profile: VendorProfile,
    /// The connection this pipe serves, named in refusals of its credentials.
    connection: String,
    limiter: RateLimiter,
    retry: RetryPolicy,
}

impl VendorHttp {
    /// The pipe of `connection` over `transport` (checked by the vendor's config beforehand).
    pub fn new(profile: VendorProfile, connection: &str, transport: Transport<'_>) -> Result<Self, ConnectorError> {
        Ok(Self {
            client: build_client(profile.name, transport.http)?,
            profile,
            connection: connection.to_owned(),
            // One budget per account: the vendor and where it is (an ERP instance, a store).
            limiter: RateLimiter::new(transport.rate_limit, format!("{}#{}", profile.name, transport.base_url)),
            retry: transport.retry,
        })
    }

    pub fn vendor(&self) -> &'static str {
        self.profile.name
    }

    pub fn connection(&self) -> &str {
        &self.connection
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Sends the request `build` makes (called again for every attempt), retrying per the policy.
    pub async fn send(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        build: impl BuildRequest,
    ) -> Result<Reply, ConnectorError> {
        let started = Instant::now();
        let budget = self.retry.max_total_wait();
        let mut delays = self.retry.delays();
        let mut waited = Duration::ZERO;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = self.once(operation, &build, budget.saturating_sub(waited)).await;
            let error = match outcome {
                Ok(reply) => {
                    debug!(
                        vendor = self.profile.name,
                        operation,
                        status = reply.status.as_u16(),
                        attempts,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "Vendor call succeeded."
                    );
                    return Ok(reply);
                }
                Err(e) => e,
            };
            let hint = match error.class() {
                ErrorClass::Retryable { after } if may_repeat(&error, idempotency) => after,
                _ => return Err(self.give_up(operation, attempts, started, error)),
            };
            let Some(backoff) = delays.next() else {
                return Err(self.give_up(operation, attempts, started, error));
            };
            // A server hint wins over our backoff; a little jitter keeps woken callers apart.
            let wait = match hint {
                Some(h) => h + Duration::from_millis(rand::thread_rng().gen_range(0..=100)),
                None => backoff,
            };
            if waited + wait > budget {
                return Err(self.give_up(operation, attempts, started, error));
            }
            trace!(vendor = self.profile.name, operation, attempts, wait_ms = wait.as_millis() as u64, error = %error, "Retrying vendor call.");
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    fn give_up(
        &self,
        operation: &'static str,
        attempts: u32,
        started: Instant,
        error: ConnectorError,
    ) -> ConnectorError {
        debug!(
            vendor = self.profile.name,
            operation,
            attempts,
            elapsed_ms = started.elapsed().as_millis() as u64,
            retryable = error.is_retryable(),
            error = %error,
            "Vendor call failed."
        );
        error
    }

    async fn once<F>(&self, operation: &'static str, build: &F, may_wait: Duration) -> Result<Reply, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        // A vendor-imposed pause longer than we may wait goes back to the caller (and SQS).
        if let Some(pause) = self.limiter.pause_remaining().filter(|p| *p > may_wait) {
            return Err(ConnectorError::RateLimited {
                vendor: self.profile.name,
                operation,
                message: "paused by the vendor's last reset hint".to_owned(),
                retry_after: Some(pause),
            });
        }
        let vendor = self.profile.name;
        if let Err(wait) = self.limiter.acquire(may_wait).await {
            return Err(ConnectorError::RateLimited {
                vendor,
                operation,
                message: "the account's shared rate budget is committed to higher-priority calls".to_owned(),
                retry_after: Some(wait),
            });
        }
        // Counted here, the one place every vendor request passes, named by the vendor profile.
        crate::metrics::record_vendor_call(vendor);
        let response = build(&self.client).send().await.map_err(|source| transport_error(vendor, operation, source))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|source| transport_error(vendor, operation, source))?.to_vec();
        if let Some(pause) = (self.profile.pause_hint)(&headers) {
            self.limiter.pause_everyone_for(pause).await;
        }
        if status.is_success() {
            Ok(Reply { status, headers, body })
        } else {
            let failure = classify_failure(&self.profile, operation, status, &headers, &body);
            if let ConnectorError::RateLimited { retry_after, .. } = &failure {
                crate::metrics::record_vendor_throttled(vendor);
                // The vendor's own throttle (not our budget's or pause's refusal): everyone waits.
                if let Some(wait) = retry_after {
                    self.limiter.pause_everyone_for(*wait).await;
                }
            }
            match failure {
                // Named for the connection, so the operator knows whose credentials to fix; a
                // session-holding client renews once on it (`Session::send`). A throttle some
                // vendor sends with a 401 stays a throttle (classified first).
                ConnectorError::Status { status: 401, message, .. } => Err(ConnectorError::Unauthorized {
                    vendor,
                    operation,
                    connection: self.connection.clone(),
                    message,
                }),
                other => Err(other),
            }
        }
    }
}

/// A reqwest failure as the port's transport error, with how far the request got.
pub fn transport_error(vendor: &'static str, operation: &'static str, source: reqwest::Error) -> ConnectorError {
    let stage = if source.is_builder() {
        TransportStage::Build
    } else if source.is_connect() {
        TransportStage::Connect
    } else {
        TransportStage::Exchange
    };
    ConnectorError::Transport { vendor, operation, stage, source: Box::new(source) }
}

/// Whether an error of a request with `idempotency` may be repeated without duplicating it.
fn may_repeat(error: &ConnectorError, idempotency: Idempotency) -> bool {
    match idempotency {
        Idempotency::Safe => true,
        Idempotency::Unsafe => match error {
            ConnectorError::RateLimited { .. } => true,
            ConnectorError::Status { status, .. } => *status == 429,
            ConnectorError::Transport { stage, .. } => *stage == TransportStage::Connect,
            _ => false,
        },
    }
}

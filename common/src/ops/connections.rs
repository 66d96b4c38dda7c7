//! Connections for operators: each connection's kind, schedule, last pull, last success and
//! failures in the last 24 hours; Test connection (one cheap authenticated call, its latency, the
//! vendor's own words on failure); Run now (the order pull of one connection, in-process); and
//! Backfill (see [`super::backfill`] for the job, here for starting and driving it). Every action
//! is written to the connector log with who did it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Env, SettingsError};
use crate::connections::Connections;
use crate::connectors::registry;
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::flows::{
    backfill_page_message, backfill_step, start_backfill, BackfillContext, BackfillError, LogRecorder, PullError,
    PullReport, ORDERS_STREAM,
};
use crate::handlers::{App, LoadSettings, MappingLoadError, PullApp, PullSettings, SetupError};
use crate::model::ConnectionId;
use crate::ports::{
    BackfillJob, BackfillStatus, ConnectorError, CreatedWindow, Direction, LedgerError, LogGroup, LogResult, Probe,
};

/// A test gets this long for its one call (the console answers within API Gateway's 29 s).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connector-log entries read per connection for the overview, at most.
const OVERVIEW_ENTRIES: usize = 5_000;

/// What a connection is to the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionRole {
    /// A sales channel: orders pulled (unless it takes shipments only), shipments pushed back.
    Channel,
    Erp,
    ShippingTool,
}

/// One configured connection: the channels of the connections file, the ERP, the shipping tool.
pub struct ConnectionEntry {
    /// The connection id (channels), or the vendor's name for the ERP and the shipping tool, as
    /// their connector-log entries are named.
    pub id: ConnectionId,
    /// The connections file's `kind` (`sellercloud`, `acumatica`, ...).
    pub kind: String,
    pub role: ConnectionRole,
    pub enabled: bool,
    /// True for a channel orders are pulled from.
    pub pulled: bool,
    pub probe: Arc<dyn Probe>,
}

/// The result of Test connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionTest {
    pub connection: ConnectionId,
    pub kind: String,
    /// The call made (`POST /api/token`).
    pub call: &'static str,
    pub ok: bool,
    pub latency_ms: u64,
    /// The vendor's HTTP status, when it answered with a failure.
    pub status: Option<u16>,
    /// The vendor's own words (its error body's message), when it gave any.
    pub vendor_message: Option<String>,
    /// The whole failure as Orderbridge reports it (vendor, operation, status, words).
    pub error: Option<String>,
    /// Whether trying again later may help (throttled, timed out, a 5xx).
    pub retryable: bool,
}

/// One row of the connections overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionOverview {
    pub connection: ConnectionId,
    pub kind: String,
    pub role: ConnectionRole,
    pub enabled: bool,
    /// How often it runs, in words (`every 5 minutes`, `not pulled (enabled = false)`).
    pub schedule: String,
    /// When the order pull last saved its cursor (a page read and enqueued).
    pub last_pull: Option<DateTime<Utc>>,
    /// The newest successful connector-log entry of the last 24 hours.
    pub last_success: Option<DateTime<Utc>>,
    /// Connector-log entries of the last 24 hours that failed for good.
    pub failures_24h: u32,
    /// Entries of the last 24 hours that failed and are retried.
    pub retries_24h: u32,
    /// The newest failure's action and notes.
    pub last_failure: Option<String>,
    /// Orders imported, failed, skipped and shipments pushed in the same 24 hours, counted like
    /// the EMF metrics (from the entries read for this row).
    pub figures: crate::metrics::Figures,
}

/// Why a connection action could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionOpsError {
    #[error("connection {0:?} is not configured in this deployment (ORDERBRIDGE_CONNECTIONS)")]
    UnknownConnection(String),
    #[error("connection {0} takes shipments only; it has no orders to pull")]
    NotPulled(String),
    #[error("connection {0} is disabled (enabled = false); enable it first")]
    Disabled(String),
    #[error(transparent)]
    Mapping(#[from] MappingLoadError),
    #[error("the order pull of {connection} failed")]
    Pull {
        connection: String,
        #[source]
        source: PullError,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Backfill(#[from] BackfillError),
}

impl Classify for ConnectionOpsError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownConnection(_) | Self::NotPulled(_) | Self::Disabled(_) => ErrorClass::Permanent,
            Self::Mapping(e) => e.class(),
            Self::Pull { source, .. } => source.class(),
            Self::Ledger(e) => e.class(),
            Self::Backfill(e) => e.class(),
        }
    }
}

/// The status and words a vendor answered a failed call with.
fn vendor_words(error: &ConnectorError) -> (Option<u16>, Option<String>) {
    let words = |m: &str| Some(m.trim().to_owned()).filter(|m| !m.is_empty());
    match error {
        ConnectorError::Status { status, message, .. } => (Some(*status), words(message)),
        ConnectorError::Unauthorized { message, .. } => (Some(401), words(message)),
        ConnectorError::RateLimited { message, .. } => (Some(429), words(message)),
        ConnectorError::Rejected { message, .. } => (None, words(message)),
        _ => (None, None),
    }
}

/// `rate(5 minutes)` → `every 5 minutes`; `cron(…)` and anything else as written.
pub fn describe_schedule(expression: &str) -> String {
    let text = expression.trim();
    match text.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        Some(rate) => match rate.trim().split_once(' ') {
            Some(("1", unit)) => format!("every {}", unit.trim_end_matches('s')),
            Some((n, unit)) => format!("every {n} {unit}"),
            None => text.to_owned(),
        },
        None => text.to_owned(),
    }
}

/// Connections for operators, built once (like a function's app) from the settings order-pull
/// uses and the connections file.
pub struct ConnectionOps {
    /// The order pull as order-pull runs it (channels, state table, connector log, orders queue).
    pub pull: PullApp,
    /// Every configured connection, channels first, in the connections file's order.
    pub connections: Vec<ConnectionEntry>,
    /// The pull schedule's expression (`ORDERBRIDGE_PULL_SCHEDULE`, the template's
    /// `PullSchedule`), when the environment says it.
    pub schedule: Option<String>,
    /// Where backfill jobs are kept.
    pub jobs: Arc<dyn crate::ports::BackfillJobs>,
}

impl ConnectionOps {
    fn recorder(&self) -> LogRecorder<'_> {
        LogRecorder { log: self.pull.log.as_ref(), clock: self.pull.clock.as_ref() }
    }

    /// The configured connection `id`.
    pub fn entry(&self, id: &str) -> Result<&ConnectionEntry, ConnectionOpsError> {
        self.connections
            .iter()
            .find(|c| c.id.as_str() == id.trim())
            .ok_or_else(|| ConnectionOpsError::UnknownConnection(id.to_owned()))
    }

    fn schedule_of(&self, entry: &ConnectionEntry) -> String {
        let every = self.schedule.as_deref().map(describe_schedule);
        match (entry.role, entry.pulled, entry.enabled, every) {
            (_, _, false, _) => "not run (enabled = false)".into(),
            (ConnectionRole::Channel, false, _, _) => "shipments only (not pulled)".into(),
            (ConnectionRole::Channel, true, _, Some(every)) => format!("pulled {every}"),
            (_, _, _, Some(every)) => format!("catch-up poll {every}"),
            (_, _, _, None) => "the deployment's schedule (ORDERBRIDGE_PULL_SCHEDULE is not set here)".into(),
        }
    }

    /// Each connection's kind, schedule, last pull, last success and failures in 24 hours.
    pub async fn overview(&self) -> Result<Vec<ConnectionOverview>, ConnectionOpsError> {
        let now = self.pull.clock.now();
        let since = now - crate::metrics::FIGURES_WINDOW;
        let mut rows = Vec::with_capacity(self.connections.len());
        for entry in &self.connections {
            let last_pull = match entry.pulled {
                true => self.pull.ledger.cursor(&entry.id, ORDERS_STREAM).await?.map(|c| c.updated_at),
                false => None,
            };
            let entries = self.pull.log.entries_between(&entry.id, since, now, OVERVIEW_ENTRIES).await?;
            let last_success = entries.iter().filter(|e| e.result == LogResult::Success).map(|e| e.completed_at).max();
            let failures = entries.iter().filter(|e| e.result == LogResult::Failure);
            let last_failure =
                failures.clone().max_by_key(|e| e.started_at).map(|e| format!("{}: {}", e.action, e.notes));
            rows.push(ConnectionOverview {
                connection: entry.id.clone(),
                kind: entry.kind.clone(),
                role: entry.role,
                enabled: entry.enabled,
                schedule: self.schedule_of(entry),
                last_pull,
                last_success,
                failures_24h: failures.count() as u32,
                retries_24h: entries.iter().filter(|e| e.result == LogResult::Retry).count() as u32,
                last_failure,
                figures: crate::metrics::figures_from_log(&entries),
            });
        }
        Ok(rows)
    }

    /// Test connection: one cheap authenticated call, with its latency and, on failure, the
    /// vendor's status and words. Logged (group System, action `test_connection`) with `actor`.
    pub async fn test_connection(&self, id: &str, actor: &str) -> Result<ConnectionTest, ConnectionOpsError> {
        let entry = self.entry(id)?;
        let recorder = self.recorder();
        let action = recorder.start(&entry.id, LogGroup::System, "test_connection", Direction::Internal, &entry.kind);
        let started = Instant::now();
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, entry.probe.probe()).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let call = entry.probe.probe_call();
        let mut test = ConnectionTest {
            connection: entry.id.clone(),
            kind: entry.kind.clone(),
            call,
            ok: false,
            latency_ms,
            status: None,
            vendor_message: None,
            error: None,
            retryable: false,
        };
        let (result, notes) = match outcome {
            Ok(Ok(())) => {
                test.ok = true;
                (LogResult::Success, format!("Test connection by {actor}: OK in {latency_ms} ms ({call})."))
            }
            Ok(Err(e)) => {
                let (status, words) = vendor_words(&e);
                test.status = status;
                test.vendor_message = words;
                test.error = Some(ErrorChain(&e).to_string());
                test.retryable = e.is_retryable();
                let said = test.vendor_message.as_deref().map(|w| format!(" The vendor said: {w}")).unwrap_or_default();
                (
                    LogResult::Failure,
                    format!("Test connection by {actor} failed in {latency_ms} ms ({call}): {e}.{said}"),
                )
            }
            Err(_) => {
                test.error = Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs()));
                test.retryable = true;
                (
                    LogResult::Failure,
                    format!(
                        "Test connection by {actor} failed ({call}): no answer within {} s.",
                        PROBE_TIMEOUT.as_secs()
                    ),
                )
            }
        };
        tracing::info!(connection = %entry.id, ok = test.ok, latency_ms, actor, "Connection tested.");
        recorder.finish(action, result, notes).await;
        Ok(test)
    }

    /// Test connection for every configured connection, one after the other.
    pub async fn test_all(&self, actor: &str) -> Vec<ConnectionTest> {
        let mut tests = Vec::with_capacity(self.connections.len());
        for entry in &self.connections {
            if let Ok(test) = self.test_connection(entry.id.as_str(), actor).await {
                tests.push(test);
            }
        }
        tests
    }

    /// Run now: the order pull of one connection, in this process, until its listing is read
    /// or `deadline` (the caller's time limit) passes; the cursor makes the next run resume.
    /// Logged (group Orders, action `run_pull`) with `actor`. It may overlap the scheduled
    /// pull: the cursor is saved conditionally (the later saver gets a retryable conflict), and
    /// an order both list is enqueued once (the enqueued marker) and imported once (the claim).
    pub async fn run_pull(&self, id: &str, actor: &str, deadline: Instant) -> Result<PullReport, ConnectionOpsError> {
        let entry = self.entry(id)?;
        let recorder = self.recorder();
        let action = recorder.start(&entry.id, LogGroup::Orders, "run_pull", Direction::Import, "run now");
        let channel = match self.pull.channels.get(&entry.id) {
            Some(channel) if channel.enabled => channel,
            Some(_) => {
                let e = ConnectionOpsError::Disabled(entry.id.to_string());
                recorder.finish(action, LogResult::Skipped, format!("Run now by {actor} refused: {e}.")).await;
                return Err(e);
            }
            None => return Err(ConnectionOpsError::NotPulled(entry.id.to_string())),
        };
        // Checked here so a missing mapping is the caller's answer (the scheduled pull only logs it).
        if let Err(e) = self.pull.mappings.get(self.pull.ledger.as_ref(), &channel.mapping_name).await {
            recorder.finish(action, LogResult::Failure, format!("Run now by {actor} refused: {e}")).await;
            return Err(e.into());
        }
        match self.pull.pull_channel(&entry.id, channel, deadline).await {
            Ok(report) => {
                let notes = format!(
                    "Run now by {actor}: {} pages, {} listed, {} enqueued, {} already imported, {} in flight{}.",
                    report.pages,
                    report.listed,
                    report.enqueued,
                    report.reacknowledged,
                    report.in_flight,
                    if report.finished { "" } else { "; stopped at the time limit, the next pull resumes" }
                );
                recorder.finish(action, LogResult::Success, notes).await;
                Ok(report)
            }
            Err(e) => {
                let result = if e.is_retryable() { LogResult::Retry } else { LogResult::Failure };
                recorder.finish(action, result, format!("Run now by {actor} failed: {}", ErrorChain(&e))).await;
                Err(ConnectionOpsError::Pull { connection: entry.id.to_string(), source: e })
            }
        }
    }
}

/// How a started backfill is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillDrive {
    /// The caller calls [`ConnectionOps::backfill_step`] until the job is done (the CLI, or a
    /// console page that polls).
    Caller,
    /// A `backfill_page.v1` message on the orders queue: order-import runs one page per message
    /// and sends the next; the caller only reads [`ConnectionOps::backfill_job`] for progress.
    Queue,
}

impl ConnectionOps {
    fn backfill_context(&self) -> BackfillContext<'_> {
        BackfillContext {
            jobs: self.jobs.as_ref(),
            bindings: self.pull.ledger.as_ref(),
            markers: self.pull.ledger.as_ref(),
            queue: self.pull.queue.as_ref(),
            log: self.pull.log.as_ref(),
            clock: self.pull.clock.as_ref(),
            enqueued_ttl: self.pull.enqueued_ttl,
        }
    }

    fn source(&self, connection: &ConnectionId) -> Result<&dyn crate::ports::OrderSource, ConnectionOpsError> {
        self.pull
            .channels
            .get(connection)
            .map(|c| c.source.as_ref())
            .ok_or_else(|| ConnectionOpsError::NotPulled(connection.to_string()))
    }

    /// Starts a backfill of `connection`'s orders created in `[from, to)`: re-lists them (new,
    /// exported or imported alike) and enqueues those no binding says are in the ERP. Returns
    /// the job at once; `drive` says who runs its pages. Logged with `actor`.
    pub async fn start_backfill(
        &self,
        connection: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        actor: &str,
        drive: BackfillDrive,
    ) -> Result<BackfillJob, ConnectionOpsError> {
        let entry = self.entry(connection)?;
        let window = CreatedWindow::new(from, to).ok_or(BackfillError::EmptyWindow)?;
        let channel =
            self.pull.channels.get(&entry.id).ok_or_else(|| ConnectionOpsError::NotPulled(entry.id.to_string()))?;
        if !channel.enabled {
            return Err(ConnectionOpsError::Disabled(entry.id.to_string()));
        }
        let ctx = self.backfill_context();
        let job = start_backfill(&entry.id, window, actor, &ctx).await?;
        if drive == BackfillDrive::Queue {
            let message = backfill_page_message(&job, self.pull.clock.now()).map_err(BackfillError::from)?;
            let sent = self.pull.queue.send(vec![message]).await.map_err(BackfillError::from)?;
            if let Some((id, reason)) = sent.failed.first() {
                return Err(BackfillError::NotEnqueued { count: 1, first: format!("{id}: {reason}") }.into());
            }
        }
        Ok(job)
    }

    /// One page of a backfill job (see [`crate::flows::backfill_step`]): at most one vendor
    /// listing call, so it fits a console request.
    pub async fn backfill_step(&self, job_id: &str) -> Result<BackfillJob, ConnectionOpsError> {
        let job = self.backfill_job(job_id).await?;
        let source = self.source(&job.connection)?;
        Ok(backfill_step(source, job_id, &self.backfill_context()).await?)
    }

    /// A backfill job as it stands (progress for the console).
    pub async fn backfill_job(&self, job_id: &str) -> Result<BackfillJob, ConnectionOpsError> {
        Ok(self.jobs.backfill(job_id).await?.ok_or_else(|| BackfillError::UnknownJob(job_id.to_owned()))?)
    }

    /// A whole backfill in this process (the CLI): starts it and steps until it is done or
    /// failed, calling `progress` after each page. A retryable failure is retried after a pause,
    /// up to three times in a row.
    pub async fn run_backfill(
        &self,
        connection: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        actor: &str,
        progress: &(dyn Fn(&BackfillJob) + Send + Sync),
    ) -> Result<BackfillJob, ConnectionOpsError> {
        let mut job = self.start_backfill(connection, from, to, actor, BackfillDrive::Caller).await?;
        progress(&job);
        let mut failures = 0;
        while job.status == BackfillStatus::Running {
            match self.backfill_step(&job.id).await {
                Ok(next) => {
                    failures = 0;
                    job = next;
                    progress(&job);
                }
                Err(e) if e.is_retryable() && failures < 3 => {
                    failures += 1;
                    tracing::warn!(job = %job.id, error = %ErrorChain(&e), "Backfill page failed; trying again.");
                    tokio::time::sleep(Duration::from_secs(2 * failures)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(job)
    }
}

/// Settings of the connection actions: order-pull's, and the pull schedule to show.
#[derive(Debug, Clone)]
pub struct ConnectionOpsSettings {
    pub pull: PullSettings,
    /// `ORDERBRIDGE_PULL_SCHEDULE` (optional): the schedule expression the template gives the
    /// pull (`rate(5 minutes)`), only to show it.
    pub pull_schedule: Option<String>,
}

impl LoadSettings for ConnectionOpsSettings {
    fn load<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        Ok(Self { pull: PullSettings::load(env)?, pull_schedule: env.optional("ORDERBRIDGE_PULL_SCHEDULE") })
    }
}

fn connection_error(connection: &str, source: crate::connectors::SetupError) -> SetupError {
    SetupError::Connection { connection: connection.to_owned(), source: Box::new(source) }
}

/// Every configured connection with its probe: the channels, the ERP, the shipping tool.
pub fn connection_entries(
    connections: &Connections,
    tokens: Option<Arc<dyn crate::ports::SharedTokens>>,
    pulled: impl Fn(&ConnectionId) -> bool,
) -> Result<Vec<ConnectionEntry>, SetupError> {
    let mut entries = Vec::new();
    for connection in &connections.connections {
        let parts = registry::channel(connection).map_err(|e| connection_error(connection.id.as_str(), e))?;
        entries.push(ConnectionEntry {
            id: connection.id.clone(),
            kind: connection.kind.clone(),
            role: ConnectionRole::Channel,
            enabled: connection.enabled,
            pulled: parts.source.is_some() && pulled(&connection.id),
            probe: parts.probe,
        });
    }
    let erp = registry::erp(connections, tokens).map_err(|e| connection_error("erp", e))?;
    entries.push(ConnectionEntry {
        kind: erp.log_name.to_string(),
        id: erp.log_name,
        role: ConnectionRole::Erp,
        enabled: true,
        pulled: false,
        probe: erp.probe,
    });
    if let Some(tool) = registry::shipping_tool(connections).map_err(|e| connection_error("shipping tool", e))? {
        let name = registry::shipping_tool_log_name();
        entries.push(ConnectionEntry {
            kind: name.to_string(),
            id: name,
            role: ConnectionRole::ShippingTool,
            enabled: true,
            pulled: false,
            probe: tool.probe,
        });
    }
    Ok(entries)
}

/// So the console builds it like the functions' apps: `handlers::from_env::<ConnectionOps>()`
/// (reads what order-pull reads, plus the optional `ORDERBRIDGE_PULL_SCHEDULE`).
impl App for ConnectionOps {
    type Settings = ConnectionOpsSettings;

    fn build(
        sdk: &aws_config::SdkConfig,
        settings: &ConnectionOpsSettings,
        connections: &Connections,
    ) -> Result<Self, SetupError> {
        let pull = PullApp::build(sdk, &settings.pull, connections)?;
        let jobs = Arc::new(crate::aws::DynamoLedger::new(
            crate::aws::dynamodb(sdk),
            settings.pull.common.state_table.as_str(),
            pull.clock.clone(),
        ));
        let entries = connection_entries(connections, Some(jobs.clone()), |id| pull.channels.contains_key(id))?;
        Ok(Self { pull, connections: entries, schedule: settings.pull_schedule.clone(), jobs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_read_as_words() {
        assert_eq!(describe_schedule("rate(5 minutes)"), "every 5 minutes");
        assert_eq!(describe_schedule("rate(1 minute)"), "every minute");
        assert_eq!(describe_schedule("rate(1 hours)"), "every hour");
        assert_eq!(describe_schedule("cron(0/5 * * * ? *)"), "cron(0/5 * * * ? *)");
    }

    #[test]
    fn a_refusal_is_shown_in_the_vendors_words_with_its_status() {
        let refused = ConnectorError::Unauthorized {
            vendor: "sellercloud",
            operation: "get token",
            connection: "sc-main".into(),
            message: "The user name or password is incorrect.".into(),
        };
        assert_eq!(vendor_words(&refused), (Some(401), Some("The user name or password is incorrect.".into())));
        let failed = ConnectorError::Status {
            vendor: "bigcommerce",
            operation: "test connection",
            status: 403,
            message: " ".into(),
            retry_after: None,
        };
        assert_eq!(vendor_words(&failed), (Some(403), None));
        let decode = ConnectorError::Decode { vendor: "magento", operation: "x", detail: "html".into() };
        assert_eq!(vendor_words(&decode), (None, None));
    }
}

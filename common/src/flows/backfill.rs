//! Backfill: page through a channel's orders created in a window and enqueue each one no binding
//! says is in the ERP, one page per step, the progress kept in a job record. A caller drives the
//! steps (the CLI in a loop, the console per request), or the orders queue does: each
//! `backfill_page.v1` message runs one step and sends the next.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::info;

use super::{ImportOrder, LogRecorder, OrderMessage, ENQUEUED_SCOPE};
use crate::error::{Classify, ErrorChain, ErrorClass};
use crate::model::{ConnectionId, ImportKey};
use crate::ports::{
    BackfillJob, BackfillJobs, BackfillStatus, Bindings, Clock, ConnectorError, ConnectorLog, CreatedWindow, Direction,
    Envelope, LedgerError, LogGroup, LogResult, Markers, OrderSource, OutgoingMessage, Queue, QueueError,
};

/// How long a backfilled order is not enqueued again while its import is pending (the pull's
/// default `ORDERBRIDGE_ENQUEUED_TTL_SECS`).
pub const BACKFILL_ENQUEUED_TTL: Duration = Duration::from_secs(900);

/// The body of a `backfill_page.v1` message: run the step after `pages` pages of job `job_id`.
/// A copy whose `pages` no longer matches the job (a redelivery after the step was saved) does
/// nothing, so one chain of messages drives a job however often SQS delivers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillPage {
    pub job_id: String,
    pub pages: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("backfill job {0:?} does not exist (jobs are kept 30 days)")]
    UnknownJob(String),
    #[error("the window must end after it starts")]
    EmptyWindow,
    #[error("listing the orders of {connection} failed")]
    Channel {
        connection: String,
        #[source]
        source: ConnectorError,
    },
    #[error("backfill bookkeeping failed")]
    Ledger(#[from] LedgerError),
    #[error("enqueueing backfilled orders failed")]
    Queue(#[from] QueueError),
    #[error("{count} backfilled orders were refused by SQS: {first}")]
    NotEnqueued { count: usize, first: String },
}

impl Classify for BackfillError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownJob(_) | Self::EmptyWindow => ErrorClass::Permanent,
            Self::Channel { source, .. } => source.class(),
            Self::Ledger(e) => e.class(),
            Self::Queue(e) => e.class(),
            Self::NotEnqueued { .. } => ErrorClass::RETRY,
        }
    }
}

/// What a backfill step needs besides the channel.
pub struct BackfillContext<'a> {
    pub jobs: &'a dyn BackfillJobs,
    pub bindings: &'a dyn Bindings,
    pub markers: &'a dyn Markers,
    /// The orders queue.
    pub queue: &'a dyn Queue,
    pub log: &'a dyn ConnectorLog,
    pub clock: &'a dyn Clock,
    pub enqueued_ttl: Duration,
}

impl BackfillContext<'_> {
    fn recorder(&self) -> LogRecorder<'_> {
        LogRecorder { log: self.log, clock: self.clock }
    }
}

/// A `backfill_page.v1` message for the job's next step.
pub fn backfill_page_message(
    job: &BackfillJob,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<OutgoingMessage, QueueError> {
    let body = OrderMessage::BackfillPageV1(BackfillPage { job_id: job.id.clone(), pages: job.pages });
    Envelope::correlated(body, now, format!("backfill-{}", job.id))
        .to_outgoing(format!("backfill-{}-{}", job.id, job.pages))
        .map_err(|source| QueueError::Encode { queue: "orders".into(), source })
}

/// Records a new job (nothing is listed yet) and logs who started it.
pub async fn start_backfill(
    connection: &ConnectionId,
    window: CreatedWindow,
    actor: &str,
    ctx: &BackfillContext<'_>,
) -> Result<BackfillJob, BackfillError> {
    let now = ctx.clock.now();
    let job = BackfillJob {
        id: uuid::Uuid::new_v4().to_string(),
        connection: connection.clone(),
        window,
        actor: actor.to_owned(),
        status: BackfillStatus::Running,
        next_page: None,
        pages: 0,
        listed: 0,
        enqueued: 0,
        already_bound: 0,
        already_queued: 0,
        error: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    ctx.jobs.create_backfill(&job).await?;
    let recorder = ctx.recorder();
    let action = recorder.start(connection, LogGroup::Orders, "backfill", Direction::Import, &job.id);
    recorder
        .finish(action, LogResult::Success, format!("Backfill of orders created in {window} started by {actor}."))
        .await;
    info!(connection = %connection, job = %job.id, actor, "Backfill started.");
    Ok(job)
}

/// Saves `job` as the next version; when another caller saved first, their job is the truth.
async fn save(mut job: BackfillJob, ctx: &BackfillContext<'_>) -> Result<BackfillJob, BackfillError> {
    job.version += 1;
    job.updated_at = ctx.clock.now();
    if ctx.jobs.save_backfill(&job).await? {
        Ok(job)
    } else {
        ctx.jobs.backfill(&job.id).await?.ok_or(BackfillError::UnknownJob(job.id))
    }
}

/// One page of job `job_id`: lists it, enqueues the unbound orders, saves the counts. A job that
/// is not running is returned as it is. A retryable listing failure is recorded on the job and
/// returned (the job stays running; the next step tries the same page); a permanent one fails
/// the job (returned Ok, status Failed).
pub async fn backfill_step(
    source: &dyn OrderSource,
    job_id: &str,
    ctx: &BackfillContext<'_>,
) -> Result<BackfillJob, BackfillError> {
    let mut job = ctx.jobs.backfill(job_id).await?.ok_or_else(|| BackfillError::UnknownJob(job_id.to_owned()))?;
    if job.status != BackfillStatus::Running {
        return Ok(job);
    }
    let connection = job.connection.clone();
    let recorder = ctx.recorder();
    let page = match source.list_orders_created(&job.window, job.next_page.as_ref()).await {
        Ok(page) => page,
        Err(e) if e.is_retryable() => {
            job.error = Some(ErrorChain(&e).to_string());
            let _ = save(job, ctx).await;
            return Err(BackfillError::Channel { connection: connection.to_string(), source: e });
        }
        Err(e) => {
            job.status = BackfillStatus::Failed;
            job.error = Some(ErrorChain(&e).to_string());
            let job = save(job, ctx).await?;
            let action = recorder.start(&connection, LogGroup::Orders, "backfill", Direction::Import, &job.id);
            let notes = format!("Backfill of {} started by {} failed: {e}", job.window, job.actor);
            recorder.finish(action, LogResult::Failure, notes).await;
            return Ok(job);
        }
    };
    let action = recorder.start(&connection, LogGroup::Orders, "backfill_page", Direction::Import, &job.id);
    let (mut bound, mut queued) = (0u32, 0u32);
    let mut messages = Vec::new();
    let mut marked = Vec::new();
    let listed = page.orders.len() as u32;
    for order in page.orders {
        let key = ImportKey::new(connection.clone(), order.id().clone());
        if ctx.bindings.binding_for_channel(&connection, &key.order).await?.is_some() {
            bound += 1;
            continue;
        }
        // The pull's marker: an order it (or another backfill) enqueued moments ago is not sent twice.
        if !ctx.markers.remember_once(ENQUEUED_SCOPE, &key.ledger_key(), ctx.enqueued_ttl).await? {
            queued += 1;
            continue;
        }
        marked.push(key.ledger_key());
        let envelope = Envelope::correlated(
            OrderMessage::ImportOrderV1(ImportOrder { connection: connection.clone(), order, announced: false }),
            ctx.clock.now(),
            key.correlation_id(),
        );
        messages.push(
            envelope
                .to_outgoing(key.import_id())
                .map_err(|source| QueueError::Encode { queue: "orders".into(), source })?,
        );
    }
    let enqueued = messages.len() as u32;
    if !messages.is_empty() {
        let refused = match ctx.queue.send(messages).await {
            Ok(sent) => sent.failed,
            Err(e) => vec![(String::new(), e.to_string())],
        };
        if let Some((first_id, reason)) = refused.first() {
            // Nothing of this page counts; the next step lists it again, unmarked.
            for marker in &marked {
                let _ = ctx.markers.forget(ENQUEUED_SCOPE, marker).await;
            }
            let error = BackfillError::NotEnqueued { count: refused.len(), first: format!("{first_id}: {reason}") };
            recorder.finish(action, LogResult::Retry, error.to_string()).await;
            return Err(error);
        }
    }
    job.pages += 1;
    job.listed += listed;
    job.enqueued += enqueued;
    job.already_bound += bound;
    job.already_queued += queued;
    job.error = None;
    job.next_page = page.next;
    if job.next_page.is_none() {
        job.status = BackfillStatus::Done;
    }
    let page_number = job.pages;
    let job = save(job, ctx).await?;
    recorder
        .finish(
            action,
            LogResult::Success,
            format!("Backfill page {page_number}: {listed} listed, {enqueued} enqueued, {bound} already imported (bound), {queued} already queued."),
        )
        .await;
    if job.status == BackfillStatus::Done {
        let action = recorder.start(&connection, LogGroup::Orders, "backfill", Direction::Import, &job.id);
        let notes = format!(
            "Backfill of orders created in {} started by {} done: {} pages, {} listed, {} enqueued, {} already imported, {} already queued.",
            job.window, job.actor, job.pages, job.listed, job.enqueued, job.already_bound, job.already_queued
        );
        recorder.finish(action, LogResult::Success, notes).await;
        info!(connection = %connection, job = %job.id, enqueued = job.enqueued, already_bound = job.already_bound, "Backfill done.");
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::model::{ChannelOrderId, ErpOrderRef, Order};
    use crate::ports::{Acknowledgement, Binding, BindingOrigin, ListedOrder, OrderPage, PageToken};
    use crate::testing::{ManualClock, MemoryLedger, MemoryLog, MemoryQueue};

    /// A channel of orders, each created at a time; lists two per page by creation window.
    struct Dated {
        connection: ConnectionId,
        orders: Vec<(ChannelOrderId, DateTime<Utc>)>,
    }

    #[async_trait]
    impl OrderSource for Dated {
        fn connection(&self) -> &ConnectionId {
            &self.connection
        }
        async fn list_new_orders(&self, _: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
            unreachable!("a backfill lists by creation date")
        }
        async fn fetch_order(&self, _: &ChannelOrderId) -> Result<Order, ConnectorError> {
            unreachable!()
        }
        async fn acknowledge(&self, _: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
            unreachable!()
        }
        async fn list_orders_created(
            &self,
            window: &CreatedWindow,
            page: Option<&PageToken>,
        ) -> Result<OrderPage, ConnectorError> {
            let skip = page.map_or(0, |p| p.0.parse::<usize>().unwrap());
            let hits: Vec<_> = self.orders.iter().filter(|(_, at)| window.contains(*at)).collect();
            let orders = hits
                .iter()
                .skip(skip)
                .take(2)
                .map(|(id, _)| ListedOrder::Reference { id: id.clone(), display_number: id.to_string() })
                .collect();
            let next = (skip + 2 < hits.len()).then(|| PageToken((skip + 2).to_string()));
            Ok(OrderPage { orders, next, restart: None })
        }
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
    }

    fn order_id(n: i64) -> ChannelOrderId {
        serde_json::from_value(serde_json::json!({"channel": "SC", "id": n})).unwrap()
    }

    async fn world() -> (Dated, MemoryLedger, MemoryLog, MemoryQueue, ManualClock) {
        let connection = ConnectionId::parse("sc-main").unwrap();
        // Five orders on 10-14 March, one before and one after the window.
        let mut orders: Vec<_> = (0..5).map(|i| (order_id(100 + i), at(10 + i as u32))).collect();
        orders.push((order_id(99), at(1)));
        orders.push((order_id(200), at(20)));
        let ledger = MemoryLedger::default();
        for n in [101, 103] {
            ledger
                .bind(&Binding {
                    connection: connection.clone(),
                    channel_order_id: order_id(n),
                    display_number: n.to_string(),
                    erp: ErpOrderRef::parse(&format!("SO/SO00{n}")).unwrap(),
                    created_at: Utc::now(),
                    origin: BindingOrigin::Channel,
                    digest: None,
                })
                .await
                .unwrap();
        }
        (Dated { connection, orders }, ledger, MemoryLog::default(), MemoryQueue::default(), ManualClock::new())
    }

    fn ctx<'a>(
        ledger: &'a MemoryLedger,
        log: &'a MemoryLog,
        queue: &'a MemoryQueue,
        clock: &'a ManualClock,
    ) -> BackfillContext<'a> {
        BackfillContext {
            jobs: ledger,
            bindings: ledger,
            markers: ledger,
            queue,
            log,
            clock,
            enqueued_ttl: BACKFILL_ENQUEUED_TTL,
        }
    }

    fn enqueued_ids(queue: &MemoryQueue) -> Vec<String> {
        queue.0.lock().unwrap().iter().map(|m| m.entry_id.clone()).collect()
    }

    #[tokio::test]
    async fn a_window_of_five_orders_two_bound_enqueues_exactly_the_three_unbound() {
        let (channel, ledger, log, queue, clock) = world().await;
        let ctx = ctx(&ledger, &log, &queue, &clock);
        let window = CreatedWindow::new(at(10), at(15)).unwrap();
        let job = start_backfill(&channel.connection, window, "console:ana", &ctx).await.unwrap();

        let mut steps = 0;
        let mut job = job;
        while job.status == BackfillStatus::Running {
            job = backfill_step(&channel, &job.id, &ctx).await.unwrap();
            steps += 1;
            assert!(steps < 10, "the job must end");
        }

        assert_eq!(job.status, BackfillStatus::Done);
        assert_eq!((job.pages, job.listed, job.enqueued, job.already_bound, job.already_queued), (3, 5, 3, 2, 0));
        assert_eq!(enqueued_ids(&queue), ["SC-100", "SC-102", "SC-104"]);
        let stored = ledger.backfill(&job.id).await.unwrap().unwrap();
        assert_eq!(stored, job, "the progress is in the job record");
        let entries = log.0.lock().unwrap().clone();
        let done = entries.iter().filter(|e| e.action == "backfill").collect::<Vec<_>>();
        assert_eq!(done.len(), 2, "started and done: {entries:?}");
        assert!(done.iter().all(|e| e.notes.contains("console:ana")));
        assert!(done[1].notes.contains("3 enqueued"), "{}", done[1].notes);

        // Run again at once: the three are queued already, nothing is sent twice.
        let again = start_backfill(&channel.connection, window, "console:ana", &ctx).await.unwrap();
        let mut again = again;
        while again.status == BackfillStatus::Running {
            again = backfill_step(&channel, &again.id, &ctx).await.unwrap();
        }
        assert_eq!((again.enqueued, again.already_bound, again.already_queued), (0, 2, 3));
        assert_eq!(enqueued_ids(&queue).len(), 3);
    }

    #[tokio::test]
    async fn a_window_outside_the_data_enqueues_nothing() {
        let (channel, ledger, log, queue, clock) = world().await;
        let ctx = ctx(&ledger, &log, &queue, &clock);
        let window = CreatedWindow::new(at(2), at(9)).unwrap();
        let job = start_backfill(&channel.connection, window, "cli:ops", &ctx).await.unwrap();
        let job = backfill_step(&channel, &job.id, &ctx).await.unwrap();
        assert_eq!(job.status, BackfillStatus::Done);
        assert_eq!((job.pages, job.listed, job.enqueued), (1, 0, 0));
        assert!(enqueued_ids(&queue).is_empty());
    }

    #[tokio::test]
    async fn a_channel_that_cannot_list_by_date_fails_the_job_in_its_words() {
        struct Undated(ConnectionId);
        #[async_trait]
        impl OrderSource for Undated {
            fn connection(&self) -> &ConnectionId {
                &self.0
            }
            async fn list_new_orders(&self, _: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
                unreachable!()
            }
            async fn fetch_order(&self, _: &ChannelOrderId) -> Result<Order, ConnectorError> {
                unreachable!()
            }
            async fn acknowledge(&self, _: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
                unreachable!()
            }
        }
        let (channel, ledger, log, queue, clock) = world().await;
        let ctx = ctx(&ledger, &log, &queue, &clock);
        let job =
            start_backfill(&channel.connection, CreatedWindow::new(at(1), at(2)).unwrap(), "cli", &ctx).await.unwrap();
        let job = backfill_step(&Undated(channel.connection.clone()), &job.id, &ctx).await.unwrap();
        assert_eq!(job.status, BackfillStatus::Failed);
        assert!(job.error.as_deref().is_some_and(|e| e.contains("not supported")), "{job:?}");
    }

    #[tokio::test]
    async fn a_page_message_names_its_job_and_step() {
        let (channel, ledger, log, queue, clock) = world().await;
        let ctx = ctx(&ledger, &log, &queue, &clock);
        let job =
            start_backfill(&channel.connection, CreatedWindow::new(at(1), at(2)).unwrap(), "cli", &ctx).await.unwrap();
        let message = backfill_page_message(&job, Utc::now()).unwrap();
        let back = Envelope::<OrderMessage>::parse("m", Some(&message.body)).unwrap();
        assert!(message.body.contains(r#""kind":"backfill_page.v1""#), "{}", message.body);
        assert_eq!(back.body, OrderMessage::BackfillPageV1(BackfillPage { job_id: job.id.clone(), pages: 0 }));
    }
}

//! Runs the functions' handlers the way Lambda would: the scheduled pull, then SQS batches of up
//! to ten through order-import (two at once, like the event source's maximum concurrency),
//! deleting what succeeded and letting failures come back after the visibility timeout.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use orderbridge::aws::schema::QueueUrls;
use orderbridge::handlers::{deadline_from, PullSummary, StatusApp};

use crate::world::OrdersApp;

use crate::aws::LocalAws;

/// What one settle run did.
#[derive(Debug, Clone, Default)]
pub struct DriveReport {
    pub pulls: u32,
    pub batches: u32,
    pub deliveries: u32,
    pub failed_deliveries: u32,
    pub enqueued: u32,
    pub settled: bool,
    pub elapsed: Duration,
}

/// Pulls and imports until a pull finds nothing new and the orders queue is empty, or `limit`
/// passes. `concurrency` import invocations run at once.
pub async fn settle_orders(app: &OrdersApp, aws: &LocalAws, concurrency: usize, limit: Duration) -> DriveReport {
    let started = Instant::now();
    let mut report = DriveReport::default();
    loop {
        let summary = PullSummary::from(app.run_pull(deadline_from(Duration::from_secs(120))).await);
        report.pulls += 1;
        let enqueued: u32 = summary.connections.iter().filter_map(|c| c.report.as_ref()).map(|r| r.enqueued).sum();
        let pull_failed = summary.connections.iter().any(|c| c.error.is_some());
        report.enqueued += enqueued;
        drain_orders(app, aws, concurrency, &mut report, started, limit).await;
        if enqueued == 0 && !pull_failed {
            report.settled = aws.queue_depth(&aws.resources.orders.url).await == (0, 0);
            if report.settled {
                break;
            }
        }
        if started.elapsed() > limit {
            break;
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// Imports until the orders queue is empty, including messages waiting out a visibility timeout.
pub async fn drain_orders(
    app: &OrdersApp,
    aws: &LocalAws,
    concurrency: usize,
    report: &mut DriveReport,
    started: Instant,
    limit: Duration,
) {
    drain_queue(aws, &aws.resources.orders, concurrency, report, started, limit, |event, request_id| async move {
        app.run_import_batch(event, deadline_from(Duration::from_secs(60)), &request_id).await
    })
    .await;
}

/// Runs status-push over the shipments queue until it is empty.
pub async fn drain_shipments(app: &StatusApp, aws: &LocalAws, concurrency: usize, limit: Duration) -> DriveReport {
    let started = Instant::now();
    let mut report = DriveReport::default();
    drain_queue(aws, &aws.resources.shipments, concurrency, &mut report, started, limit, |event, request_id| async move {
        app.run_batch(event, deadline_from(Duration::from_secs(60)), &request_id).await
    })
    .await;
    report.settled = aws.queue_depth(&aws.resources.shipments.url).await == (0, 0);
    report.elapsed = started.elapsed();
    report
}

/// Hands SQS batches of `queue` to `handler`, `concurrency` at once, deleting what succeeded (as
/// the event source mapping does), until the queue is empty or `limit` passes.
pub async fn drain_queue<H, Fut>(
    aws: &LocalAws,
    queue: &QueueUrls,
    concurrency: usize,
    report: &mut DriveReport,
    started: Instant,
    limit: Duration,
    handler: H,
) where
    H: Fn(SqsEvent, String) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let handler = &handler;
    loop {
        let workers = (0..concurrency.max(1)).map(|i| async move {
            let event = aws.receive_event(queue, 0).await;
            if event.records.is_empty() {
                return None;
            }
            let count = event.records.len() as u32;
            let request_id = format!("local-{}-{i}", uuid::Uuid::new_v4());
            let response = handler(event.clone(), request_id).await;
            aws.delete_succeeded(queue, &event, &response).await;
            Some((count, response.batch_item_failures.len() as u32))
        });
        let results: Vec<Option<(u32, u32)>> = futures::future::join_all(workers).await;
        let mut any = false;
        for (count, failed) in results.into_iter().flatten() {
            any = true;
            report.batches += 1;
            report.deliveries += count;
            report.failed_deliveries += failed;
        }
        if !any {
            let (visible, in_flight) = aws.queue_depth(&queue.url).await;
            if visible == 0 && in_flight == 0 {
                return;
            }
            // Failed messages come back after the visibility timeout.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if started.elapsed() > limit {
            return;
        }
    }
}

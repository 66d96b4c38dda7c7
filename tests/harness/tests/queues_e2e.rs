//! The operator's queue actions against the local emulator: import messages that failed into the
//! orders DLQ (received and never deleted, as a crashing order-import leaves them) are listed
//! with their kind and order; a redrive of one selected message moves only it, a redrive of all
//! moves the rest; the stats agree with the queues at each step; each redrive is in the
//! connector log with who did it.

use std::time::Duration;

use chrono::Utc;
use orderbridge::config::{CommonSettings, QueueUrl, TableName};
use orderbridge::connectors::sellercloud::SellercloudOrderId;
use orderbridge::flows::{ImportOrder, OrderMessage};
use orderbridge::model::{ConnectionId, ImportKey};
use orderbridge::ops::queues::{QueueOps, QueueOpsSettings};
use orderbridge::ports::{Envelope, ListedOrder, LogGroup, QueueName, QueueStats, RedriveSelection};
use orderbridge_harness::aws::{unique_prefix, LocalAws};

fn import_body(order: i64) -> String {
    let connection = ConnectionId::parse("sc-main").unwrap();
    let id = SellercloudOrderId::new(order).unwrap().channel_order_id();
    let key = ImportKey::new(connection.clone(), id.clone());
    let message = OrderMessage::ImportOrderV1(ImportOrder {
        connection,
        order: ListedOrder::Reference { id, display_number: format!("112-{order}") },
        announced: false,
    });
    serde_json::to_string(&Envelope::correlated(message, Utc::now(), key.correlation_id())).unwrap()
}

fn stat(stats: &[QueueStats], queue: QueueName, dead_letter: bool) -> &QueueStats {
    stats.iter().find(|s| s.queue == queue && s.dead_letter == dead_letter).expect("every queue and DLQ is reported")
}

/// Receives without deleting until every message has been received more than maxReceiveCount
/// times and SQS has moved it to the DLQ.
async fn fail_into_dlq(aws: &LocalAws, expected: u64) {
    let orders = &aws.resources.orders;
    for _ in 0..30 {
        if aws.queue_depth(&orders.dlq_url).await.0 >= expected {
            return;
        }
        let _ = aws.sqs.receive_message().queue_url(&orders.url).max_number_of_messages(10).send().await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    panic!("messages did not reach the DLQ: {:?}", aws.queue_depth(&orders.dlq_url).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_by_what_they_are_and_redriven_one_then_all() {
    // Visibility 1 s, moved to the DLQ on the second receive.
    let aws = LocalAws::provision(&unique_prefix("queues-e2e"), Some((1, 1))).await.expect("emulator");
    let settings = QueueOpsSettings {
        common: CommonSettings {
            stage: "local".into(),
            state_table: TableName::parse("state", &aws.resources.state_table).unwrap(),
            log_table: TableName::parse("log", &aws.resources.log_table).unwrap(),
            log_retention: Duration::from_secs(3600),
        },
        orders_queue: QueueUrl::parse("orders", &aws.resources.orders.url).unwrap(),
        shipments_queue: QueueUrl::parse("shipments", &aws.resources.shipments.url).unwrap(),
    };
    let ops = QueueOps::open(&aws.sdk, &settings);
    let orders = &aws.resources.orders;
    for body in [import_body(1001), import_body(1002), import_body(1003), "poison: not an envelope".to_owned()] {
        aws.sqs.send_message().queue_url(&orders.url).message_body(body).send().await.unwrap();
    }
    fail_into_dlq(&aws, 4).await;

    // Stats: everything in the orders DLQ, nothing left on the queue, the DLQ's oldest aged.
    let stats = ops.stats().await.unwrap();
    assert_eq!(stats.len(), 4, "{stats:?}");
    assert_eq!(stat(&stats, QueueName::Orders, true).visible, 4, "{stats:?}");
    assert_eq!(stat(&stats, QueueName::Orders, false).visible, 0, "{stats:?}");
    assert!(stat(&stats, QueueName::Orders, true).oldest_age.is_some(), "{stats:?}");
    assert!(stat(&stats, QueueName::Orders, true).name.ends_with("-dlq"), "{stats:?}");
    assert_eq!(stat(&stats, QueueName::Orders, false).oldest_age, None, "work queues are never peeked");
    assert_eq!(stat(&stats, QueueName::Shipments, true).visible, 0);

    // Listed with what they are; the peek leaves them in place and visible.
    let letters = ops.dead_letters(QueueName::Orders, 50).await.unwrap();
    assert_eq!(letters.len(), 4, "{letters:?}");
    let imports: Vec<_> = letters.iter().filter(|l| l.what.kind == "import_order.v1").collect();
    let mut entities: Vec<&str> = imports.iter().filter_map(|l| l.what.entity.as_deref()).collect();
    entities.sort();
    assert_eq!(entities, ["SC-1001", "SC-1002", "SC-1003"]);
    assert!(imports.iter().all(|l| l.what.connection.as_ref().map(ConnectionId::as_str) == Some("sc-main")));
    assert!(imports.iter().all(|l| l.receive_count >= 1 && l.sent_at.is_some()));
    let poison: Vec<_> = letters.iter().filter(|l| !l.what.readable).collect();
    assert_eq!(poison.len(), 1);
    assert!(poison[0].what.detail.contains("poison"), "{:?}", poison[0]);
    assert_eq!(aws.queue_depth(&orders.dlq_url).await, (4, 0), "peeked messages are visible again");

    // Redrive one selected message: only it moves.
    let chosen = imports.iter().find(|l| l.what.entity.as_deref() == Some("SC-1002")).unwrap().message_id.clone();
    let report =
        ops.redrive(QueueName::Orders, &RedriveSelection::Ids(vec![chosen.clone()]), "e2e:ana", &|_| {}).await.unwrap();
    assert_eq!(report.moved, vec![chosen.clone()]);
    assert!(report.failed.is_empty() && report.not_found.is_empty(), "{report:?}");
    let stats = ops.stats().await.unwrap();
    assert_eq!(stat(&stats, QueueName::Orders, true).visible, 3, "{stats:?}");
    assert_eq!(stat(&stats, QueueName::Orders, false).visible, 1, "{stats:?}");
    let back = aws.sqs.receive_message().queue_url(&orders.url).send().await.unwrap();
    let back = back.messages().first().expect("the redriven message is on the queue");
    let back_body = back.body().unwrap_or_default();
    assert!(back_body.contains("1002") && back_body.contains("import_order.v1"), "{back_body}");
    aws.sqs
        .delete_message()
        .queue_url(&orders.url)
        .receipt_handle(back.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();

    // Redrive all: the other three, the poison included, with progress reported.
    let seen = std::sync::Mutex::new(Vec::new());
    let report = ops
        .redrive(QueueName::Orders, &RedriveSelection::All, "e2e:ana", &|p| seen.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!(report.moved.len(), 3, "{report:?}");
    assert!(!report.moved.contains(&chosen));
    let last = *seen.lock().unwrap().last().expect("progress was reported");
    assert_eq!((last.moved, last.expected), (3, 3));
    let stats = ops.stats().await.unwrap();
    assert_eq!(stat(&stats, QueueName::Orders, true).visible, 0, "{stats:?}");
    assert_eq!(stat(&stats, QueueName::Orders, false).visible, 3, "{stats:?}");
    assert_eq!(stat(&stats, QueueName::Orders, true).oldest_age, None);

    // Who did it, in the connector log: the stage's entries and one per known order.
    let now = Utc::now();
    let stage = ops
        .log
        .entries_between(&orderbridge::ops::operator_log(), now - chrono::Duration::hours(1), now, 100)
        .await
        .unwrap();
    assert_eq!(stage.len(), 2, "{stage:?}");
    assert!(stage.iter().all(|e| e.group == LogGroup::System && e.action == "redrive" && e.notes.contains("e2e:ana")));
    assert!(stage[0].notes.contains("1 moved") && stage[1].notes.contains("3 moved"), "{stage:?}");
    let sc = ConnectionId::parse("sc-main").unwrap();
    let order_entries = ops.log.entries_between(&sc, now - chrono::Duration::hours(1), now, 100).await.unwrap();
    let mut redriven: Vec<&str> = order_entries.iter().map(|e| e.entity_id.as_str()).collect();
    redriven.sort();
    assert_eq!(redriven, ["SC-1001", "SC-1002", "SC-1003"]);
}

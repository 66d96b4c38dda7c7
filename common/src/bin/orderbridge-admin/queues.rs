//! `queues`, `dlq list` and `redrive`: the stage's queues and their dead letters, as the console
//! shows them (same library calls, same connector-log entries).

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use orderbridge::ops::queues::QueueOps;
use orderbridge::ports::{QueueName, RedriveProgress, RedriveSelection};

use crate::actor;

fn parse_queue(text: &str) -> Result<QueueName, String> {
    QueueName::parse(text).ok_or_else(|| format!("{text:?} is not a queue: use orders or shipments"))
}

/// `dlq …`
#[derive(Subcommand)]
pub enum DlqCommand {
    /// List the dead letters of a queue's DLQ with what each is (left in place).
    List {
        #[arg(long, default_value = "orders", value_parser = parse_queue)]
        queue: QueueName,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
}

/// `redrive`
#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["all", "id"])))]
pub struct RedriveArgs {
    #[arg(long, default_value = "orders", value_parser = parse_queue)]
    queue: QueueName,
    /// Every dead letter of the queue.
    #[arg(long)]
    all: bool,
    /// The message ids to move back (as `dlq list` shows them); repeatable.
    #[arg(long = "id", num_args = 1..)]
    id: Vec<String>,
}

fn age(d: Option<std::time::Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d.as_secs() < 120 => format!("{} s", d.as_secs()),
        Some(d) if d.as_secs() < 7200 => format!("{} min", d.as_secs() / 60),
        Some(d) if d.as_secs() < 172_800 => format!("{} h", d.as_secs() / 3600),
        Some(d) => format!("{} d", d.as_secs() / 86_400),
    }
}

/// `queues`: a table of depth and age.
pub async fn stats() -> Result<(), Box<dyn std::error::Error>> {
    let ops = QueueOps::from_env().await?;
    let stats = ops.stats().await?;
    println!("{:<44} {:>8} {:>9} {:>8} {:>8}", "queue", "visible", "in flight", "delayed", "oldest");
    for s in stats {
        println!("{:<44} {:>8} {:>9} {:>8} {:>8}", s.name, s.visible, s.in_flight, s.delayed, age(s.oldest_age));
    }
    println!("(oldest: DLQs by their messages' sent time; work queues are not peeked, see CloudWatch's ApproximateAgeOfOldestMessage)");
    Ok(())
}

pub async fn dlq(command: DlqCommand) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        DlqCommand::List { queue, max } => {
            let ops = QueueOps::from_env().await?;
            let letters = ops.dead_letters(queue, max).await?;
            if letters.is_empty() {
                println!("The {queue} DLQ is empty.");
                return Ok(());
            }
            println!(
                "{:<38} {:<20} {:>4} {:<18} {:<12} {:<16} details",
                "message id", "sent (UTC)", "recv", "kind", "connection", "entity"
            );
            for l in letters {
                println!(
                    "{:<38} {:<20} {:>4} {:<18} {:<12} {:<16} {}{}",
                    l.message_id,
                    l.sent_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into()),
                    l.receive_count,
                    l.what.kind,
                    l.what.connection.as_ref().map(|c| c.as_str()).unwrap_or("-"),
                    l.what.entity.as_deref().unwrap_or("-"),
                    l.what.detail,
                    l.what.correlation_id.map(|c| format!(" [correlation {c}]")).unwrap_or_default(),
                );
            }
        }
    }
    Ok(())
}

/// `redrive`: moves dead letters back with a progress bar; exits non-zero when any failed.
pub async fn redrive(args: RedriveArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ops = QueueOps::from_env().await?;
    let selection = if args.all { RedriveSelection::All } else { RedriveSelection::Ids(args.id) };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} redrive {msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{} DLQ", args.queue));
    let progress = |p: RedriveProgress| {
        bar.set_length(p.expected.max(p.moved + p.failed) as u64);
        bar.set_position((p.moved + p.failed) as u64);
    };
    let report = ops.redrive(args.queue, &selection, &actor(), &progress).await?;
    bar.finish_and_clear();
    println!(
        "{} moved back to the {} queue, {} failed, {} not found.",
        report.moved.len(),
        args.queue,
        report.failed.len(),
        report.not_found.len()
    );
    for (id, why) in &report.failed {
        println!("  failed {id}: {why}");
    }
    for id in &report.not_found {
        println!("  not found {id} (moved already, expired, or being read)");
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} dead letters could not be moved", report.failed.len()).into())
    }
}

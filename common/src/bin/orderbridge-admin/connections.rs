//! `connections`, `test-connection`, `run` and `backfill`: the connection actions of the console
//! (same library calls, same connector-log entries), built from the environment order-pull reads.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use orderbridge::handlers::from_env;
use orderbridge::ops::connections::ConnectionOps;
use orderbridge::ports::{BackfillJob, BackfillStatus};

use crate::actor;

/// How long `run` may pull (no Lambda limit here; the cursor resumes anything left).
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// `test-connection`
#[derive(Args)]
pub struct TestArgs {
    /// The connection (`sc-main`, or `acumatica` / `shipstation`); all when omitted.
    #[arg(long)]
    connection: Option<String>,
}

/// `run`
#[derive(Args)]
pub struct RunArgs {
    #[arg(long)]
    connection: String,
}

/// `backfill`
#[derive(Args)]
pub struct BackfillArgs {
    #[arg(long)]
    connection: String,
    /// Start of the window (inclusive): `2026-03-01` (UTC midnight) or RFC 3339.
    #[arg(long, value_parser = parse_time)]
    from: DateTime<Utc>,
    /// End of the window (exclusive), same forms.
    #[arg(long, value_parser = parse_time)]
    to: DateTime<Utc>,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{text:?} is neither a date (2026-03-01) nor an RFC 3339 time"))
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into())
}

/// `connections`: the overview table.
pub async fn overview() -> Result<(), Box<dyn std::error::Error>> {
    let ops: ConnectionOps = from_env().await?;
    println!(
        "{:<14} {:<12} {:<8} {:<28} {:<20} {:<20} {:>8} {:>8}",
        "connection", "kind", "enabled", "schedule", "last pull (UTC)", "last success (UTC)", "fail 24h", "retry 24h"
    );
    for row in ops.overview().await? {
        println!(
            "{:<14} {:<12} {:<8} {:<28} {:<20} {:<20} {:>8} {:>8}",
            row.connection.as_str(),
            row.kind,
            if row.enabled { "yes" } else { "no" },
            row.schedule,
            when(row.last_pull),
            when(row.last_success),
            row.failures_24h,
            row.retries_24h
        );
        if let Some(last) = row.last_failure {
            println!("{:<14} last failure: {last}", "");
        }
    }
    Ok(())
}

/// `test-connection`: one line per connection; exits non-zero when any failed.
/// `order-hooks`
#[derive(Args)]
pub struct OrderHooksArgs {
    #[arg(long)]
    connection: String,
    /// The shipment-webhook API's base URL (the stack's `WebhookApiUrl` output). BigCommerce
    /// delivers only to HTTPS on port 443.
    #[arg(long)]
    api: String,
}

/// `order-hooks`: the connection's order webhooks registered to deliver to this deployment.
pub async fn order_hooks(args: OrderHooksArgs) -> Result<(), Box<dyn std::error::Error>> {
    let api = url::Url::parse(&args.api).map_err(|e| format!("--api {:?}: {e}", args.api))?;
    if api.scheme() != "https" || api.port().is_some_and(|p| p != 443) {
        return Err(format!("--api {}: the channel delivers only to https on port 443", args.api).into());
    }
    let env = orderbridge::config::Env::process();
    let text = env.required("ORDERBRIDGE_CONNECTIONS", "set it to the connections TOML (see README, Configuration)")?;
    let connections =
        orderbridge::connections::Connections::parse("ORDERBRIDGE_CONNECTIONS", &text, |var| env.optional(var))?;
    orderbridge::connectors::registry::install();
    let changes = orderbridge::connectors::registry::register_order_hooks(&connections, &args.connection, api.as_str())
        .await
        .map_err(|e| e.to_string())?;
    for change in changes {
        println!("{:<8} {:<30} {:<10} {}", change.id, change.scope, change.action.as_str(), change.destination);
    }
    Ok(())
}

pub async fn test(args: TestArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ops: ConnectionOps = from_env().await?;
    let tests = match &args.connection {
        Some(id) => vec![ops.test_connection(id, &actor()).await?],
        None => ops.test_all(&actor()).await,
    };
    let mut failed = 0;
    for t in &tests {
        if t.ok {
            println!("{:<14} OK      {:>6} ms  {}", t.connection.as_str(), t.latency_ms, t.call);
        } else {
            failed += 1;
            let status = t.status.map(|s| format!("HTTP {s}: ")).unwrap_or_default();
            let words = t.vendor_message.clone().or_else(|| t.error.clone()).unwrap_or_default();
            println!("{:<14} FAILED  {:>6} ms  {}  {status}{words}", t.connection.as_str(), t.latency_ms, t.call);
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} of {} connections failed the test", tests.len()).into())
    }
}

/// `run`: the order pull of one connection now.
pub async fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ops: ConnectionOps = from_env().await?;
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!("pulling {}", args.connection));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let report = ops.run_pull(&args.connection, &actor(), Instant::now() + RUN_LIMIT).await;
    spinner.finish_and_clear();
    let report = report?;
    println!(
        "{}: {} pages, {} listed, {} enqueued, {} already imported (acknowledged again), {} in flight, {} failed under the current mapping{}",
        args.connection,
        report.pages,
        report.listed,
        report.enqueued,
        report.reacknowledged,
        report.in_flight,
        report.failed_under_current_mapping,
        if report.finished { "" } else { " (stopped at the time limit; the next pull resumes)" }
    );
    Ok(())
}

/// `backfill`: the whole backfill inline, a progress bar per page.
pub async fn backfill(args: BackfillArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ops: ConnectionOps = from_env().await?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} backfill {prefix} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(args.connection.clone());
    bar.enable_steady_tick(Duration::from_millis(120));
    let progress = |job: &BackfillJob| {
        bar.set_message(format!(
            "page {}: {} listed, {} enqueued, {} already imported, {} already queued",
            job.pages, job.listed, job.enqueued, job.already_bound, job.already_queued
        ));
    };
    let job = ops.run_backfill(&args.connection, args.from, args.to, &actor(), &progress).await;
    bar.finish_and_clear();
    let job = job?;
    println!(
        "Backfill {} of {} {}: {:?}, {} pages, {} listed, {} enqueued, {} already imported (bound), {} already queued",
        job.id,
        job.connection.as_str(),
        job.window,
        job.status,
        job.pages,
        job.listed,
        job.enqueued,
        job.already_bound,
        job.already_queued
    );
    match job.status {
        BackfillStatus::Failed => Err(job.error.unwrap_or_else(|| "the backfill failed".into()).into()),
        _ => Ok(()),
    }
}

//! Which trigger invoked a function. Each function accepts only its own triggers and refuses any
//! other event clearly, writing nothing: an API Gateway request must not start a pull, and an SNS
//! or S3 notification must not be answered "done" by an SQS consumer.

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

/// The input the template's schedules send (`Input` of each `ScheduleV2` event).
pub const SCHEDULE_INPUT: &str = r#"{"orderbridge": "schedule"}"#;

/// The input of status-push's follow-ups schedule (charges of imported orders, personal-data
/// retention).
pub const FOLLOWUPS_INPUT: &str = r#"{"orderbridge": "followups"}"#;

/// What invoked the function.
#[derive(Debug)]
pub enum Trigger {
    /// The pull / catch-up schedule.
    Schedule,
    /// The follow-ups schedule (status-push only).
    Followups,
    /// A batch of the function's SQS event source.
    Sqs(SqsEvent),
}

impl Trigger {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Schedule => "the schedule",
            Self::Followups => "the follow-ups schedule",
            Self::Sqs(_) => "an SQS batch",
        }
    }
}

/// An event no Orderbridge trigger sends.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0}; nothing was done")]
pub struct UnexpectedEvent(pub String);

impl crate::error::Classify for UnexpectedEvent {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Permanent
    }
}

/// Reads the invoking event: the schedule's input (or an EventBridge scheduled event), or SQS
/// records; anything else is named in the error.
pub fn classify(payload: Value) -> Result<Trigger, UnexpectedEvent> {
    match payload.get("orderbridge").and_then(Value::as_str) {
        Some("schedule") => return Ok(Trigger::Schedule),
        Some("followups") => return Ok(Trigger::Followups),
        _ => {}
    }
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        && matches!(payload.get("source").and_then(Value::as_str), Some("aws.events" | "aws.scheduler"))
    {
        return Ok(Trigger::Schedule);
    }
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let sources: Vec<&str> =
            records.iter().map(|r| r.get("eventSource").and_then(Value::as_str).unwrap_or("unknown")).collect();
        if records.is_empty() || sources.iter().any(|s| *s != "aws:sqs") {
            let mut named = sources.clone();
            named.sort_unstable();
            named.dedup();
            return Err(UnexpectedEvent(format!("records from {} are not an SQS batch", named.join(", "))));
        }
        return serde_json::from_value(payload)
            .map(Trigger::Sqs)
            .map_err(|e| UnexpectedEvent(format!("an SQS batch that cannot be read: {e}")));
    }
    let what = if payload.get("requestContext").is_some() || payload.get("routeKey").is_some() {
        "an API Gateway request".to_owned()
    } else if let Some(source) = payload.get("source").and_then(Value::as_str) {
        format!("an event from {source}")
    } else {
        "an event that is neither the schedule nor an SQS batch".to_owned()
    };
    Err(UnexpectedEvent(what))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_schedules_and_sqs_batches_are_recognised_and_everything_else_is_named() {
        assert!(matches!(classify(serde_json::from_str(SCHEDULE_INPUT).unwrap()), Ok(Trigger::Schedule)));
        assert!(matches!(classify(serde_json::from_str(FOLLOWUPS_INPUT).unwrap()), Ok(Trigger::Followups)));
        let rule = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert!(matches!(classify(rule), Ok(Trigger::Schedule)));
        let sqs = json!({"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}}]});
        assert!(matches!(classify(sqs), Ok(Trigger::Sqs(e)) if e.records.len() == 1));

        let sns = json!({"Records": [{"EventSource": "aws:sns", "eventSource": "aws:sns"}]});
        assert!(classify(sns).unwrap_err().to_string().contains("aws:sns"));
        let s3 = json!({"Records": [{"eventSource": "aws:s3"}, {"eventSource": "aws:sqs"}]});
        assert!(classify(s3).unwrap_err().to_string().contains("aws:s3"));
        let api = json!({"version": "2.0", "routeKey": "POST /x", "requestContext": {}});
        assert!(classify(api).unwrap_err().to_string().contains("API Gateway"));
        let other = json!({"source": "aws.codepipeline", "detail-type": "Stage Change"});
        assert!(classify(other).unwrap_err().to_string().contains("aws.codepipeline"));
        assert!(classify(json!({})).is_err());
        assert!(classify(json!({"Records": []})).is_err());
    }
}

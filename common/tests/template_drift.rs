//! The SAM template must declare exactly the tables and queues the local stack and the emulator
//! tests create from `orderbridge::aws::schema`. If one side changes without the other, this fails.

use std::collections::BTreeSet;
use std::path::PathBuf;

use orderbridge::aws::schema::{QueueSpec, TableSpec, QUEUES, TABLES};
use serde_yaml::Value;

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Strips CloudFormation short-form tags (`!Sub`, `!GetAtt`, `!Ref`) into `{tag: value}` text.
fn plain(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, plain(&tagged.value)),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}

fn resource<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let r = &template["Resources"][logical_id];
    assert!(!r.is_null(), "infra/template.yaml has no resource {logical_id}, but common/src/aws/schema.rs defines it");
    r
}

fn key_schema(value: &Value) -> Vec<(String, String)> {
    value
        .as_sequence()
        .map(|seq| seq.iter().map(|k| (plain(&k["AttributeName"]), plain(&k["KeyType"]))).collect())
        .unwrap_or_default()
}

fn expected_keys(partition: &str, sort: &str) -> Vec<(String, String)> {
    vec![(partition.to_owned(), "HASH".to_owned()), (sort.to_owned(), "RANGE".to_owned())]
}

/// Every difference between the template's table and the spec, as sentences.
fn table_drift(template: &Value, spec: &TableSpec) -> Vec<String> {
    let mut drift = Vec::new();
    let r = resource(template, spec.logical_id);
    let p = &r["Properties"];
    let id = spec.logical_id;
    if plain(&r["Type"]) != "AWS::DynamoDB::Table" {
        drift.push(format!("{id}: not an AWS::DynamoDB::Table"));
    }
    let expected_name = format!("!Sub orderbridge-${{Stage}}-{}", spec.suffix);
    if plain(&p["TableName"]) != expected_name {
        drift.push(format!("{id}: TableName {} != {expected_name}", plain(&p["TableName"])));
    }
    if key_schema(&p["KeySchema"]) != expected_keys(spec.partition_key, spec.sort_key) {
        drift.push(format!(
            "{id}: KeySchema {:?} != {:?}",
            key_schema(&p["KeySchema"]),
            expected_keys(spec.partition_key, spec.sort_key)
        ));
    }
    let mut expected_attrs: BTreeSet<(String, String)> =
        [spec.partition_key, spec.sort_key].iter().map(|a| (a.to_string(), "S".to_string())).collect();
    for index in spec.indexes {
        expected_attrs.insert((index.partition_key.to_owned(), "S".to_owned()));
        expected_attrs.insert((index.sort_key.to_owned(), "S".to_owned()));
    }
    let attrs: BTreeSet<(String, String)> = p["AttributeDefinitions"]
        .as_sequence()
        .map(|s| s.iter().map(|a| (plain(&a["AttributeName"]), plain(&a["AttributeType"]))).collect())
        .unwrap_or_default();
    if attrs != expected_attrs {
        drift.push(format!("{id}: AttributeDefinitions {attrs:?} != {expected_attrs:?}"));
    }
    let indexes: Vec<&Value> =
        p["GlobalSecondaryIndexes"].as_sequence().map(|s| s.iter().collect()).unwrap_or_default();
    if indexes.len() != spec.indexes.len() {
        drift.push(format!("{id}: {} GlobalSecondaryIndexes, schema.rs has {}", indexes.len(), spec.indexes.len()));
    }
    for index in spec.indexes {
        match indexes.iter().find(|i| plain(&i["IndexName"]) == index.name) {
            None => drift.push(format!("{id}: index {} missing", index.name)),
            Some(i) => {
                if key_schema(&i["KeySchema"]) != expected_keys(index.partition_key, index.sort_key) {
                    drift.push(format!("{id}: index {} KeySchema {:?}", index.name, key_schema(&i["KeySchema"])));
                }
                if plain(&i["Projection"]["ProjectionType"]) != "ALL" {
                    drift.push(format!("{id}: index {} projection is not ALL", index.name));
                }
            }
        }
    }
    if plain(&p["TimeToLiveSpecification"]["AttributeName"]) != spec.ttl_attribute
        || plain(&p["TimeToLiveSpecification"]["Enabled"]) != "true"
    {
        drift.push(format!("{id}: TTL is not enabled on {}", spec.ttl_attribute));
    }
    if plain(&p["BillingMode"]) != "PAY_PER_REQUEST" {
        drift.push(format!("{id}: BillingMode is not PAY_PER_REQUEST"));
    }
    if plain(&p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]) != "true" {
        drift.push(format!("{id}: point-in-time recovery is off"));
    }
    drift
}

fn queue_drift(template: &Value, spec: &QueueSpec) -> Vec<String> {
    let mut drift = Vec::new();
    let q = &resource(template, spec.logical_id)["Properties"];
    let dlq = &resource(template, spec.dlq_logical_id)["Properties"];
    let id = spec.logical_id;
    let checks = [
        ("QueueName", plain(&q["QueueName"]), format!("!Sub orderbridge-${{Stage}}-{}", spec.suffix)),
        ("VisibilityTimeout", plain(&q["VisibilityTimeout"]), spec.visibility_timeout_secs.to_string()),
        ("MessageRetentionPeriod", plain(&q["MessageRetentionPeriod"]), spec.retention_secs.to_string()),
        (
            "RedrivePolicy.maxReceiveCount",
            plain(&q["RedrivePolicy"]["maxReceiveCount"]),
            spec.max_receive_count.to_string(),
        ),
        (
            "RedrivePolicy.deadLetterTargetArn",
            plain(&q["RedrivePolicy"]["deadLetterTargetArn"]),
            format!("!GetAtt {}.Arn", spec.dlq_logical_id),
        ),
        ("DLQ QueueName", plain(&dlq["QueueName"]), format!("!Sub orderbridge-${{Stage}}-{}-dlq", spec.suffix)),
        ("DLQ MessageRetentionPeriod", plain(&dlq["MessageRetentionPeriod"]), spec.dlq_retention_secs.to_string()),
    ];
    for (field, actual, expected) in checks {
        if actual != expected {
            drift.push(format!("{id}: {field} is {actual:?} in the template but {expected:?} in schema.rs"));
        }
    }
    drift
}

/// Functions that consume a queue must time out in at most a sixth of its visibility timeout.
fn consumer_drift(template: &Value, spec: &QueueSpec) -> Vec<String> {
    let mut drift = Vec::new();
    let global_timeout = template["Globals"]["Function"]["Timeout"].as_u64();
    let Some(resources) = template["Resources"].as_mapping() else { return drift };
    for (name, r) in resources {
        if plain(&r["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let Some(events) = r["Properties"]["Events"].as_mapping() else { continue };
        let consumes = events.values().any(|e| {
            plain(&e["Type"]) == "SQS" && plain(&e["Properties"]["Queue"]) == format!("!GetAtt {}.Arn", spec.logical_id)
        });
        if !consumes {
            continue;
        }
        let timeout = r["Properties"]["Timeout"].as_u64().or(global_timeout).unwrap_or(3);
        if u64::from(spec.visibility_timeout_secs) < 6 * timeout {
            drift.push(format!(
                "{}: timeout {timeout}s needs {} visibility ≥ {}s",
                plain(name),
                spec.logical_id,
                6 * timeout
            ));
        }
        if timeout != u64::from(spec.consumer_timeout_secs) {
            drift.push(format!(
                "{}: timeout {timeout}s but schema.rs assumes {}s",
                plain(name),
                spec.consumer_timeout_secs
            ));
        }
    }
    drift
}

#[test]
fn template_tables_match_the_local_stack() {
    let template = template();
    let drift: Vec<String> = TABLES.iter().flat_map(|t| table_drift(&template, t)).collect();
    assert!(drift.is_empty(), "infra/template.yaml and common/src/aws/schema.rs disagree:\n  {}", drift.join("\n  "));
}

#[test]
fn template_queues_match_the_local_stack() {
    let template = template();
    let drift: Vec<String> =
        QUEUES.iter().flat_map(|q| queue_drift(&template, q).into_iter().chain(consumer_drift(&template, q))).collect();
    assert!(drift.is_empty(), "infra/template.yaml and common/src/aws/schema.rs disagree:\n  {}", drift.join("\n  "));
}

#[test]
fn template_declares_no_table_or_queue_the_local_stack_lacks() {
    let template = template();
    let known: BTreeSet<&str> = TABLES
        .iter()
        .map(|t| t.logical_id)
        .chain(QUEUES.iter().flat_map(|q| [q.logical_id, q.dlq_logical_id]))
        .collect();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let unknown: Vec<String> = resources
        .iter()
        .filter(|(_, r)| matches!(plain(&r["Type"]).as_str(), "AWS::DynamoDB::Table" | "AWS::SQS::Queue"))
        .map(|(name, _)| plain(name))
        .filter(|name| !known.contains(name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "template resources missing from schema.rs (the local stack would not create them): {unknown:?}"
    );
}

/// The checker itself must notice a change: a template with another redrive count and another
/// sort key is reported.
#[test]
fn drift_checker_reports_a_changed_key_and_redrive() {
    let mut template = template();
    template["Resources"]["OrdersQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = Value::Number(3.into());
    template["Resources"]["StateTable"]["Properties"]["KeySchema"][1]["AttributeName"] = Value::String("sort".into());
    let queue = queue_drift(&template, &QUEUES[0]);
    assert!(queue.iter().any(|d| d.contains("maxReceiveCount")), "{queue:?}");
    let table = table_drift(&template, &TABLES[0]);
    assert!(table.iter().any(|d| d.contains("KeySchema")), "{table:?}");
}

/// Every schedule in the template sends an input a function recognises: status-push's follow-ups
/// schedule must reach `Trigger::Followups`, the others `Trigger::Schedule`; a typo would make the
/// function refuse every scheduled run.
#[test]
fn every_schedule_sends_an_input_its_function_runs_on() {
    use orderbridge::handlers::{classify, Trigger};
    let template = template();
    let mut seen = Vec::new();
    for (name, r) in template["Resources"].as_mapping().expect("Resources") {
        let Some(events) = r["Properties"]["Events"].as_mapping() else { continue };
        for (event, e) in events {
            if plain(&e["Type"]) != "ScheduleV2" {
                continue;
            }
            let input: serde_json::Value = serde_json::from_str(&plain(&e["Properties"]["Input"]))
                .unwrap_or_else(|err| panic!("{}.{}: Input is not JSON: {err}", plain(name), plain(event)));
            let trigger = classify(input).unwrap_or_else(|err| panic!("{}.{}: {err}", plain(name), plain(event)));
            seen.push((plain(name), matches!(trigger, Trigger::Followups)));
        }
    }
    assert!(seen.contains(&("StatusPushFunction".into(), true)), "no follow-ups schedule on status-push: {seen:?}");
    assert!(seen.contains(&("StatusPushFunction".into(), false)), "no catch-up schedule on status-push: {seen:?}");
    assert!(seen.iter().filter(|(_, followups)| *followups).all(|(f, _)| f == "StatusPushFunction"), "{seen:?}");
    let env = &template["Resources"]["StatusPushFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        plain(&env["ORDERBRIDGE_ORDERS_QUEUE_URL"]),
        "!Ref OrdersQueue",
        "the charges pass reads the import backlog"
    );
}

/// Every function crate is a function of the template (by its binary) and the other way round,
/// and the console's routes, settings and permissions are the ones its code needs.
#[test]
fn every_function_crate_is_deployed_and_the_console_has_its_routes_settings_and_permissions() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut deployed: Vec<String> = resources
        .values()
        .filter(|r| plain(&r["Type"]) == "AWS::Serverless::Function")
        .map(|r| plain(&r["Metadata"]["BuildProperties"]["Binary"]))
        .collect();
    deployed.sort();
    let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut crates: Vec<String> = std::fs::read_dir(functions)
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    assert_eq!(deployed, crates, "functions/ and the template's functions differ");

    let console = resource(&template, "ConsoleFunction");
    let events = console["Properties"]["Events"].as_mapping().expect("console events");
    let routes: Vec<(String, String)> =
        events.values().map(|e| (plain(&e["Properties"]["Method"]), plain(&e["Properties"]["Path"]))).collect();
    assert!(routes.contains(&("GET".into(), "/console".into())), "{routes:?}");
    assert!(routes.contains(&("ANY".into(), "/console/{proxy+}".into())), "{routes:?}");
    let env = &console["Properties"]["Environment"]["Variables"];
    for var in [
        "ORDERBRIDGE_CONSOLE_OPERATORS",
        "ORDERBRIDGE_ORDERS_QUEUE_URL",
        "ORDERBRIDGE_SHIPMENTS_QUEUE_URL",
        "ORDERBRIDGE_CONNECTIONS",
    ] {
        assert!(!plain(&env[var]).is_empty(), "console lacks {var}");
    }
    assert!(
        plain(&env["ORDERBRIDGE_CONSOLE_OPERATORS"]).contains("resolve:secretsmanager"),
        "tokens come from a secret"
    );
    let policies = serde_yaml::to_string(&console["Properties"]["Policies"]).expect("policies");
    for action in
        ["dynamodb:DeleteItem", "dynamodb:Query", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"]
    {
        assert!(policies.contains(action), "console may not {action}");
    }
    assert!(policies.contains("OrdersDeadLetterQueue") && policies.contains("ShipmentsDeadLetterQueue"));
    let import_env = &resource(&template, "OrderImportFunction")["Properties"]["Environment"]["Variables"];
    assert!(!plain(&import_env["ORDERBRIDGE_ORDERS_QUEUE_URL"]).is_empty(), "backfill pages need the orders queue");
}

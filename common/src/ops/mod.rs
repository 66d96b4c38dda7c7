//! Operator actions over the ports: what the console and `orderbridge-admin` do for a person
//! looking after the connector (failures, retries, replays, queues, connections).

pub mod failures;

//! Operator actions the console and `orderbridge-admin` share: failed orders (inbox, retry, skip,
//! replay, re-import, timeline), queues (depth, dead letters, redrive) and connections (overview,
//! test, run now, backfill). Each action takes who asked for it (`actor`) and writes a
//! connector-log entry naming them.

pub mod connections;
pub mod failures;
pub mod queues;

use crate::model::ConnectionId;

/// The connector-log name of actions about the stage rather than one connection (a redrive of
/// a whole DLQ).
pub const OPERATOR_LOG: &str = "operator";

/// [`OPERATOR_LOG`] as the connection id entries are recorded under.
pub fn operator_log() -> ConnectionId {
    ConnectionId::parse(OPERATOR_LOG).unwrap_or_else(|_| unreachable!("{OPERATOR_LOG} is a valid connection id"))
}

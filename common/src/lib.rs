//! Orderbridge: the common library of the order-sync Lambdas. Canonical model, ports, flows,
//! vendor connectors and AWS adapters; each function binary only wires these together.

pub mod aws;
pub mod config;
pub mod connections;
pub mod connectors;
pub mod error;
pub mod flows;
#[doc(hidden)]
pub mod fuzzing;
pub mod handlers;
pub mod http;
pub mod mapping;
pub mod model;
pub mod ops;
pub mod ports;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod testing;
pub mod webhooks;

pub use error::{Classify, ErrorClass};

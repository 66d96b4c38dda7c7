//! Use cases, written against the ports only: pull new orders, import one order, and the
//! bookkeeping they share (connector log, messages).

mod import;
mod log;
mod messages;
mod pull;
mod shipments;

pub use import::*;
pub use log::*;
pub use messages::*;
pub use pull::*;
pub use shipments::*;

#[cfg(test)]
mod shipment_tests;
#[cfg(test)]
mod tests;

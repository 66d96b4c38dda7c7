//! Use cases, written against the ports only: pull new orders, import one order, and the
//! bookkeeping they share (connector log, messages).

mod import;
mod log;
mod messages;
mod pull;

pub use import::*;
pub use log::*;
pub use messages::*;
pub use pull::*;

#[cfg(test)]
mod tests;

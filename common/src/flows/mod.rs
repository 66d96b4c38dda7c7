//! Use cases, written against the ports only, split along the data flow: orders are pulled →
//! imported (customer and items resolved, then a pure draft) → acknowledged; shipments arrive by
//! intake (dedupe + enqueue) → are pushed → statuses and notes follow → the poll catches what
//! webhooks missed.

mod acknowledge;
mod backfill;
mod batch_reads;
mod customers;
mod export;
mod followups;
mod hooks;
mod import;
mod intake;
mod log;
mod messages;
mod poll;
mod publish;
mod pull;
mod push;
mod resolve;
mod status;
mod stock;

pub use acknowledge::*;
pub use backfill::*;
pub use batch_reads::{BindingsReadOnce, StatesReadOnce};
pub use customers::*;
pub use export::*;
pub use followups::*;
pub use hooks::*;
pub use import::*;
pub use intake::*;
pub use log::*;
pub use messages::*;
pub use poll::*;
pub use publish::*;
pub use pull::*;
pub use push::*;
pub use resolve::*;
pub use status::*;
pub use stock::*;

#[cfg(test)]
mod customers_tests;
#[cfg(test)]
mod export_tests;
#[cfg(test)]
mod followups_tests;
#[cfg(test)]
mod publish_tests;
#[cfg(test)]
mod shipment_tests;
#[cfg(test)]
mod stock_tests;
#[cfg(test)]
mod tests;

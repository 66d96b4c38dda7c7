//! What each Lambda does with its event, independent of the Lambda runtime, so the functions,
//! the demo and the end-to-end tests all run the same code.

mod dry_run;
mod mappings;
mod orders;
mod setup;
mod status;
mod trigger;
mod webhooks;

pub use dry_run::*;
pub use mappings::*;
pub use orders::*;
pub use setup::*;
pub use status::*;
pub use trigger::*;
pub use webhooks::*;

pub use crate::connectors::registry::{ACUMATICA_ROUTE, GENERIC_ROUTE, SHIPSTATION_ROUTE};

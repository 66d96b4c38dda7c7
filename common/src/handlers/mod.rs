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

/// The shared-budget scope of an invocation's work at `priority` (None without a budget store).
fn budget_scope(
    budgets: Option<&std::sync::Arc<dyn crate::ports::SharedBudgets>>,
    clock: &std::sync::Arc<dyn crate::ports::Clock>,
    priority: crate::ports::CallPriority,
) -> Option<crate::http::BudgetScope> {
    budgets.map(|budgets| crate::http::BudgetScope { budgets: budgets.clone(), priority, clock: clock.clone() })
}

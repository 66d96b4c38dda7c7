//! bigcommerce (stub).
use crate::config::SandboxConfig;
use crate::core::SharedState;
use crate::seed::SeedData;
use axum::Router;
#[derive(Debug, Default)]
pub struct BcState {}
impl BcState {
    pub fn seeded(_c: &SandboxConfig, _d: &SeedData) -> Self {
        Self {}
    }
}
pub fn router(s: SharedState) -> Router {
    Router::new().with_state(s)
}
pub fn control_router(s: SharedState) -> Router {
    Router::new().with_state(s)
}

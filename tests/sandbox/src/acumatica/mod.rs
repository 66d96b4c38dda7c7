//! Acumatica (stub).
use crate::config::SandboxConfig;
use crate::core::SharedState;
use crate::seed::SeedData;
use axum::Router;
pub const ENDPOINT_VERSIONS: &[&str] = &["22.200.001", "23.200.001", "24.200.001"];
#[derive(Debug, Default)]
pub struct AcState {}
impl AcState {
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

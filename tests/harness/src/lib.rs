//! End-to-end harness for Orderbridge: the local AWS emulator, the vendor sandbox, and drivers that
//! run the functions' handlers exactly as Lambda would. Used by the demo, the e2e tests, chaos
//! and bench.

pub mod aws;
pub mod bench;
pub mod browser;
pub mod chaos;
pub mod drive;
pub mod followups;
pub mod gateway;
pub mod report;
pub mod traffic;
pub mod world;

//! Mapping: the user's mapping file (channel values → ERP values), its validation, and the
//! conversion of a canonical order into an ERP-ready draft.

mod apply;
mod draft;
mod fields;
mod file;
mod publish;
mod station;
mod template;

pub use apply::*;
pub use draft::*;
pub use file::*;
pub use publish::*;
pub use station::*;
pub use template::*;

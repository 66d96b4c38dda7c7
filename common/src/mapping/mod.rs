//! Mapping: the user's mapping file (channel values → ERP values), its validation, and the
//! conversion of a canonical order into an ERP-ready draft.

mod draft;

pub use draft::*;

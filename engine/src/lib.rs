//! The Likeness engine: the library store, its vector index, vision and
//! recognition, driven by the app over channels. See `ARCHITECTURE.md`.

pub mod index;
pub mod types;

pub use types::*;

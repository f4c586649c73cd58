//! The Likeness engine: the library store, its vector index, vision and
//! recognition, driven by the app over channels. See `ARCHITECTURE.md`.

pub mod models;
pub mod types;
pub mod vision;

pub use types::*;

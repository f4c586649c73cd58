//! The Likeness engine: the library store, its vector index, vision and
//! recognition, driven by the app over channels. See `ARCHITECTURE.md`.

pub mod allocator;
pub mod centroid;
pub mod engine;
pub mod error;
pub mod import;
pub mod index;
pub mod media;
pub mod models;
pub mod recognize;
pub mod store;
pub mod thumbs;
pub mod types;
pub mod vision;

pub use engine::{
    Command, Engine, EngineConfig, EngineError, Event, FinderFactory, Reply, RequestId, Waker,
};
pub use error::{ActionError, OpenError, QueryError, StorageError};
pub use store::Library;
pub use types::*;

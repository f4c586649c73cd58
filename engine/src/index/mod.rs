//! The durable, transactional vector index over face embeddings.
//!
//! Everything lives in the library's redb file and changes only inside the
//! caller's write transaction, so an index change commits (or vanishes)
//! atomically with the faces it covers:
//!
//! - [`EMBEDDINGS`] (face id → 512 little-endian `f32`, unit length) is the
//!   ground truth and the only place an embedding is stored.
//! - The **segment**: an HNSW graph (instant-distance `HnswMap`) over
//!   i8-quantised copies of the embeddings, built in one batch by
//!   [`rebuild`] off the caller's path and stored in chunks in
//!   [`SEGMENT`]; [`SEGMENT_FACES`] lists the faces it was built over.
//! - The **delta** ([`DELTA`]): faces added or replaced since that build;
//!   they are scanned exactly.
//! - **Tombstones** ([`TOMBSTONES`]): segment faces removed or replaced
//!   since the build; searches drop them.
//!
//! Invariant (checked by [`check`]): the faces with an embedding are
//! exactly the disjoint union of the live segment faces (segment minus
//! tombstones) and the delta, and each live segment face's quantised
//! segment vector is the quantisation of its current embedding.
//!
//! Costs: [`put`] and [`remove`] are a handful of B-tree updates (about
//! 0.1 ms at 100k faces) and never build anything; [`rebuild`] reads a
//! snapshot, builds with no transaction open (minutes at 100k faces on two
//! cores), and swaps in one short write transaction, superseded if another
//! swap or a [`repair`] committed first. [`needs_rebuild`] says when.
//!
//! [`VectorIndex`] is the in-memory searcher: a cache of the deserialised
//! segment, the tombstones and the delta as a contiguous matrix, keyed by
//! the version stored in [`META`] and brought up to date from whatever
//! transaction a search is given (replaying the change log [`LOG`] in the
//! common case; no explicit notification from the writer is needed, and a
//! search inside an uncommitted or later aborted write transaction cannot
//! poison the cache, as every change carries a unique tag). The best
//! `k + RERANK_MARGIN` segment candidates are re-ranked with the exact f32
//! embeddings read from that same transaction, so similarities are exact
//! and results consistent with the transaction. The segment's search
//! breadth is chosen at load ([`VectorIndex::with_ef_search`], default
//! [`DEFAULT_EF_SEARCH`]).

mod check;
mod delta;
mod ops;
mod rebuild;
mod searcher;
mod segment;
pub mod synthetic;
mod tables;
mod vector;

pub use check::{IndexProblem, IndexReport, RepairReport, check, repair};
pub use ops::{create_tables, get, get_many, put, remove};
pub use rebuild::{
    MAX_DELTA, MIN_DELTA_FOR_REBUILD, PreparedSegment, REBUILD_DELTA_FRACTION, RebuildOutcome,
    RebuildParams, RebuildReport, needs_rebuild, prepare_rebuild, rebuild,
};
pub use searcher::{DEFAULT_EF_SEARCH, RERANK_MARGIN, SyncKind, VectorIndex};
pub use segment::SEGMENT_CHUNK_BYTES;
pub use tables::{DELTA, EMBEDDINGS, IndexTxn, LOG, META, SEGMENT, SEGMENT_FACES, TOMBSTONES};
pub use vector::{
    EMBEDDING_BYTES, QPoint, UNIT_NORM_TOLERANCE, VectorError, dot, dot_i8, normalized,
};

pub use crate::types::{EMBEDDING_DIM, Embedding, FaceId};

/// How many change-log entries are kept. A [`VectorIndex`] further behind
/// than this reloads the delta in full instead of replaying the log.
pub const LOG_KEEP: u64 = 4096;

/// Errors of the index operations.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The redb store failed.
    #[error("storage: {0}")]
    Storage(#[from] redb::Error),
    /// An embedding or query vector was refused.
    #[error("invalid vector: {0}")]
    InvalidVector(#[from] VectorError),
    /// `u64::MAX` is reserved by the index and cannot be a face id.
    #[error("face id {0} is reserved")]
    ReservedFaceId(u64),
    /// The stored index state breaks an invariant; `check` says more and
    /// `repair` fixes it.
    #[error("index state is inconsistent: {0}")]
    Corrupt(String),
    /// The segment could not be (de)serialised.
    #[error("segment encoding: {0}")]
    Encoding(#[from] postcard::Error),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for IndexError {
            fn from(e: $t) -> Self {
                Self::Storage(redb::Error::from(e))
            }
        }
    )*};
}
storage_from!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

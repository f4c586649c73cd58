//! The durable, transactional vector index over face embeddings.
//!
//! Everything lives in the library's redb file and changes only inside the
//! caller's write transaction, so an index change commits (or vanishes)
//! atomically with the faces it covers:
//!
//! - [`EMBEDDINGS`] (face id → 512 little-endian `f32`, unit length) is the
//!   ground truth and the only place an embedding is stored.
//! - **Segments** ([`SEGMENTS`], bytes in [`SEGMENT_CHUNKS`]): HNSW graphs
//!   (instant-distance `HnswMap`) over i8-quantised copies of embeddings,
//!   each built in one batch off the caller's path and never changed after.
//!   [`SEGMENT_FACES`] maps a face to the one segment whose point for it is
//!   live (current).
//! - The **delta** ([`DELTA`]): faces added or replaced since their last
//!   build; they are scanned exactly.
//! - **Tombstones** ([`TOMBSTONES`], keyed (face, segment)): segment points
//!   that are no longer current (the face was removed or replaced since the
//!   build); searches drop them.
//!
//! Invariant (checked by [`check`]): the faces with an embedding are
//! exactly the disjoint union of the faces with a live segment position
//! and the delta; every segment point is either that face's live position
//! or tombstoned; each live point is the quantisation of the face's
//! current embedding. So every live face is found exactly once, and a
//! removed face never.
//!
//! Costs: [`put`] and [`remove`] are a handful of B-tree updates (about
//! 0.1 ms at 100k faces) and never build anything. Segments are built by
//! maintenance steps ([`rebuild`], [`maintain`]; policy in `rebuild.rs`,
//! LSM-style size tiers): the delta is flushed into a *new* segment over
//! its faces only, segments of similar size are merged, a segment with many
//! tombstones is compacted, and no segment grows beyond
//! [`MAX_SEGMENT_FACES`]. A step reads a snapshot, builds with no
//! transaction open, and swaps in one short write transaction, superseded
//! if another swap or a [`repair`] committed first. [`needs_rebuild`] says
//! when one is due.
//!
//! [`VectorIndex`] is the in-memory searcher: a cache of the deserialised
//! segments (by id; a segment never changes once stored), their tombstones
//! and the delta as a contiguous matrix, keyed by the version stored in
//! [`META`] and brought up to date from whatever transaction a search is
//! given (replaying the change log [`LOG`] in the common case; no explicit
//! notification from the writer is needed, and a search inside an
//! uncommitted or later aborted write transaction cannot poison the cache,
//! as every change carries a unique tag). Every segment is searched; the
//! best `k + RERANK_MARGIN` live segment candidates overall are re-ranked
//! with the exact f32 embeddings read from that same transaction, so
//! similarities are exact and results consistent with the transaction.
//! The segments' search breadth is chosen at load
//! ([`VectorIndex::with_ef_search`], default [`DEFAULT_EF_SEARCH`]).
//!
//! Layout versions: [`create_tables`] migrates format 1 (one segment, a
//! face set and a tombstone set) to the current one in place; the old
//! segment becomes one of the new layout, unchanged.

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
    COMPACT_TOMBSTONE_FRACTION, DELTA_FLUSH_FACES, MAX_MAINTAIN_STEPS, MAX_SEGMENT_FACES,
    MERGE_FAN_IN, PreparedSegment, RebuildOutcome, RebuildParams, RebuildReport, RebuildStep,
    TierPolicy, maintain, needs_rebuild, plan, prepare_rebuild, rebuild,
};
pub use searcher::{DEFAULT_EF_SEARCH, RERANK_MARGIN, SyncKind, VectorIndex};
pub use segment::SEGMENT_CHUNK_BYTES;
pub use tables::{
    DELTA, EMBEDDINGS, FORMAT, IndexTxn, LOG, META, SEGMENT_CHUNKS, SEGMENT_FACES, SEGMENTS,
    SegmentInfo, TOMBSTONES,
};
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

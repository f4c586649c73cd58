//! Recognition: person models, auto-assign / suggest / unknown decisions,
//! clustering of unknown faces into unnamed groups, and review queues.
//!
//! Everything here is a pure, deterministic function (or an explicit state
//! value) over plain data: face ids, unit embeddings, photo ids, dates and
//! the user's decisions. The store calls these inside its write
//! transactions; nothing here touches redb.
//!
//! # Confidence
//!
//! There is one meaning of *confidence* for every score the UI shows: the
//! cosine similarity between a face's embedding and the closest vector of a
//! person's model (its robust centroid or one of its look prototypes, all
//! normalised means of confirmed faces), clamped to `[0, 1]`. See
//! [`confidence`]. The thresholds of [`RecognitionSettings`] are in the
//! same unit.
//!
//! # Modules
//!
//! - [`model`]: the person model (robust centroid + prototypes).
//! - [`decide`]: auto-assign / suggest / unknown against person models,
//!   honouring user decisions, rejections, birth dates and cannot-link.
//! - [`knn`]: k-nearest-neighbour graphs (from the vector index, or exact /
//!   partitioned search over i8-quantised vectors).
//! - [`cluster`]: incremental, deterministic average-linkage clustering on a
//!   kNN graph with cannot-link.
//! - [`queue`]: the per-person review queue order.
//! - [`eval`]: quality metrics (pairwise, `BCubed`), the DBSCAN baseline,
//!   the reference-embedding loader and the simulated user.

pub mod cluster;
pub mod date;
pub mod decide;
pub mod eval;
pub mod knn;
pub mod model;
pub mod queue;
pub mod settings;

pub use cluster::{Clustering, Group};
pub use date::CivilDate;
pub use decide::{Candidate, Decision, FaceState, decide, decide_all};
pub use knn::{KnnGraph, Neighbours};
pub use model::PersonModel;
pub use queue::{ReviewItem, review_queue};
pub use settings::RecognitionSettings;

use crate::types::{FaceId, PhotoId};

/// Errors of the recognition functions.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RecognizeError {
    /// An embedding has the wrong length.
    #[error("face {face} has an embedding of {got} values, expected {expected}")]
    Dimension {
        /// The face.
        face: u64,
        /// Its length.
        got: usize,
        /// The expected length.
        expected: usize,
    },
    /// The same face id appears twice in one input.
    #[error("face {0} appears twice")]
    DuplicateFace(u64),
    /// The neighbour source failed.
    #[error("neighbour search failed: {0}")]
    Search(String),
    /// Reference data could not be read.
    #[error("reference data: {0}")]
    Reference(String),
}

/// One face as recognition sees it.
#[derive(Clone, Copy, Debug)]
pub struct FaceRef<'a> {
    /// The face.
    pub id: FaceId,
    /// The photo it is in (cannot-link: faces of one photo are different
    /// people).
    pub photo: PhotoId,
    /// Its unit embedding.
    pub embedding: &'a [f32],
}

/// Cosine similarity mapped to a confidence in `[0, 1]` (negative
/// similarities are 0). The one definition used for every score.
pub fn confidence(similarity: f32) -> f32 {
    if similarity.is_nan() {
        0.0
    } else {
        similarity.clamp(0.0, 1.0)
    }
}

/// Checks that every embedding has [`crate::types::EMBEDDING_DIM`] values
/// and no face id repeats.
pub fn validate(faces: &[FaceRef<'_>]) -> Result<(), RecognizeError> {
    let mut seen = std::collections::HashSet::with_capacity(faces.len());
    for f in faces {
        if f.embedding.len() != crate::types::EMBEDDING_DIM {
            return Err(RecognizeError::Dimension {
                face: f.id.0,
                got: f.embedding.len(),
                expected: crate::types::EMBEDDING_DIM,
            });
        }
        if !seen.insert(f.id) {
            return Err(RecognizeError::DuplicateFace(f.id.0));
        }
    }
    Ok(())
}

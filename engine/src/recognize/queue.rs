//! The per-person review queue of pending suggestions.

use crate::types::{FaceId, PersonId};

/// One pending suggestion as the review queue shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReviewItem {
    /// The face.
    pub face: FaceId,
    /// Suggested person.
    pub person: PersonId,
    /// Confidence (see [`super::confidence`]).
    pub confidence: f32,
}

/// The review queue of `person`: their items of `suggestions`, confidence
/// descending, then face id ascending. Deterministic for any input order.
pub fn review_queue(suggestions: &[ReviewItem], person: PersonId) -> Vec<ReviewItem> {
    let mut q: Vec<ReviewItem> = suggestions
        .iter()
        .filter(|s| s.person == person)
        .copied()
        .collect();
    q.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.face.cmp(&b.face))
    });
    q
}

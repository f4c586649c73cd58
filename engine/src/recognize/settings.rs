//! Recognition settings and their measured defaults.

/// Thresholds and sizes of recognition. All similarities are cosine
/// similarities of unit embeddings; `auto_assign` and `suggest` are
/// confidences (see [`super::confidence`]).
///
/// The defaults are justified by measurement on the reference embeddings
/// (`cargo bench -p likeness-engine --bench recognize` prints the
/// impostor/genuine confidence distributions they are read from and the
/// sensitivity of the clustering to `cluster_link`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecognitionSettings {
    /// A face whose confidence for its best person is at least this (and
    /// beats the runner-up by `auto_margin`) is assigned automatically.
    pub auto_assign: f32,
    /// A face whose best confidence is at least this (but not auto) becomes a
    /// pending suggestion; below, it stays unknown.
    pub suggest: f32,
    /// Auto-assign only when the best person's confidence exceeds the
    /// second best's by at least this much; otherwise it is a suggestion.
    pub auto_margin: f32,
    /// Two groups merge when the average cosine similarity over all pairs of
    /// their faces is at least this (average linkage).
    pub cluster_link: f32,
    /// Groups smaller than this are not shown (strangers stay out of the way).
    pub min_group_size: usize,
    /// Neighbours per face in the kNN graph.
    pub knn_k: usize,
    /// Fraction of a person's confirmed faces trimmed as outliers from the
    /// centroid.
    pub trim_fraction: f32,
    /// At most this many look prototypes per person.
    pub max_prototypes: usize,
}

impl Default for RecognitionSettings {
    fn default() -> Self {
        Self {
            auto_assign: 0.55,
            suggest: 0.35,
            auto_margin: 0.1,
            cluster_link: 0.3,
            min_group_size: 3,
            knn_k: 10,
            trim_fraction: 0.1,
            max_prototypes: 4,
        }
    }
}

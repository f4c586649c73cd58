//! Recognition settings and their measured defaults.

/// Thresholds and sizes of recognition. All similarities are cosine
/// similarities of unit embeddings; `auto_assign` and `suggest` are
/// confidences (see [`super::confidence`]).
///
/// The defaults are justified by measurement on the reference embeddings
/// (`cargo bench -p likeness-engine --bench recognize` prints the
/// impostor/genuine confidence distributions they are read from and the
/// sensitivity of the clustering to `cluster_link`). Measured on the
/// `buffalo_sc` reference embeddings (410 labelled faces of 76 people):
///
/// - `auto_assign` 0.55: no impostor (face vs. another person's model,
///   30 340 pairs) reaches it (max 0.41, p99.99 0.37), while 95 % of
///   genuine faces (leave-one-out, p5 0.56) do: a margin of 0.14 over the
///   worst impostor, because an automatic mistake is the costly one.
/// - `suggest` 0.35: about the impostors' p99.99 (0.37); 99.3 % of genuine
///   faces reach it. Anything between is reviewed, never assigned.
/// - `cluster_link` 0.3: the face-pair similarity that about 1 in 10 000
///   pairs of different people reach (p99.99 0.32; p99.9 0.24), well below
///   same-person pairs (median 0.60, p5 0.39). Average linkage then only
///   gets stricter as groups grow. `BCubed` F stays within 0.01 of its best
///   between 0.25 and 0.40 (0.974, 0.982, 0.981, 0.971 at min size 3), so
///   the choice is not knife-edge; it was not tuned for the F score.
/// - `min_group_size` 2: a pair that average linkage joined at 0.3 is as
///   confident a same-person claim as a larger group (the link is about the
///   impostor pairs' p99.99 whatever the size), so hiding it only hides
///   faces the user could name in one click; every single face (the usual
///   stranger) stays out of the way. Measured: at every link from 0.25 to
///   0.6, min 2 beats min 3 on `BCubed` F (0.994 vs 0.982 at 0.3, precision
///   1.000 both), a property of counting hidden faces as singletons rather
///   than of this folder. Immich's 3 is a DBSCAN density parameter, not a
///   display size.
/// - `knn_k` 10: 5, 10 and 20 give identical groups here.
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

impl RecognitionSettings {
    /// The cosine similarity below which a person's model cannot change a
    /// face's decision: below `suggest` the person can be neither the
    /// choice nor a suggestion, and below `auto_assign - auto_margin` they
    /// cannot be the runner-up that blocks (or unblocks) an automatic
    /// assignment. Less a small allowance for rounding (the index
    /// normalises the query again). The incremental re-decide looks at the
    /// faces at least this similar to a changed model's vectors.
    pub fn redecide_reach(&self) -> f32 {
        self.suggest.min(self.auto_assign - self.auto_margin) - 1e-4
    }
}

impl Default for RecognitionSettings {
    fn default() -> Self {
        Self {
            auto_assign: 0.55,
            suggest: 0.35,
            auto_margin: 0.1,
            cluster_link: 0.3,
            min_group_size: 2,
            knn_k: 10,
            trim_fraction: 0.1,
            max_prototypes: 4,
        }
    }
}

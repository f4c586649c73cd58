//! [`VectorIndex`]: the in-memory searcher, a cache of the stored index
//! state kept consistent with the transaction each search is given.

use super::IndexError;
use super::delta::DeltaMatrix;
use super::ops::malformed;
use super::segment::Segment;
use super::tables::{IndexTxn, LOG_SENTINEL, Meta};
use super::vector::{QPoint, dot, extend_from_bytes, normalized};
use crate::types::{EMBEDDING_DIM, FaceId};
use instant_distance::Search;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

/// How many approximate segment candidates beyond `k` are re-ranked with
/// the exact f32 embeddings (absorbs the i8 quantisation error, about
/// 1e-3 in cosine; each re-ranked face costs one B-tree lookup).
pub const RERANK_MARGIN: usize = 32;

/// Segments up to this many faces are scanned exhaustively instead of searched
/// through the graph: a scan of 10k quantised vectors costs about a
/// millisecond, and a small HNSW graph can leave a node unreachable (the
/// index property test once ranked a face below one it should have found),
/// so small libraries always get exact answers.
pub const EXACT_SCAN_MAX_FACES: usize = 10_000;

/// Default search breadth of the segment graphs, chosen by measurement
/// (`cargo bench --bench index`, 100k clustered faces: recall@10 0.989 and
/// 0.992 in two runs at 200, 0.993 at 256 for 1.7 ms more at p50, 9.0 ms;
/// graph construction is parallel, so recall varies a little by run).
pub const DEFAULT_EF_SEARCH: usize = 256;

/// How the last [`VectorIndex::sync`] brought the cache up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// Already current.
    Current,
    /// Replayed this many change-log entries.
    Replayed(usize),
    /// Reloaded delta and tombstones (segments unchanged).
    DeltaReloaded,
    /// The set of segments changed: loaded this many segments not cached
    /// yet (the others are kept), and reloaded delta and tombstones.
    SegmentsReloaded(usize),
    /// Reloaded everything.
    FullReload,
}

/// A loaded segment with its tombstoned faces.
struct Loaded {
    segment: Segment,
    dead: HashSet<u64>,
}

/// The in-memory searcher, owned by the engine thread.
///
/// It caches the deserialised segments (by id: a segment never changes
/// once stored), their tombstones and the delta matrix for one index
/// version. Every search first compares that version with
/// the one stored in the given transaction and catches up (replaying the
/// change log, or reloading), so results always reflect exactly that
/// transaction, committed or not.
pub struct VectorIndex {
    segments: BTreeMap<u64, Loaded>,
    /// Version the cache holds; `None` before the first sync.
    version: Option<Meta>,
    delta: DeltaMatrix,
    search: Search,
    last_sync: SyncKind,
    ef_search: Option<usize>,
    exact_scan_max_faces: usize,
}

impl Default for VectorIndex {
    fn default() -> Self {
        Self::new()
    }
}

/// Orders (face, similarity) pairs: similarity descending, then id.
pub(super) fn by_rank(a: &(u64, f32), b: &(u64, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

impl VectorIndex {
    /// An empty cache; the first search loads the state.
    pub fn new() -> Self {
        Self {
            segments: BTreeMap::new(),
            version: None,
            delta: DeltaMatrix::default(),
            search: Search::default(),
            last_sync: SyncKind::FullReload,
            ef_search: Some(DEFAULT_EF_SEARCH),
            exact_scan_max_faces: EXACT_SCAN_MAX_FACES,
        }
    }

    /// Sets the largest segment that is scanned exactly instead of searched
    /// through its graph (default [`EXACT_SCAN_MAX_FACES`]; 0 always uses
    /// the graph, as recall measurements must).
    #[must_use]
    pub fn with_exact_scan_max_faces(mut self, faces: usize) -> Self {
        self.exact_scan_max_faces = faces;
        self
    }

    /// Sets the segment's search breadth (`None`: the value stored at
    /// build time). Larger is slower and finds more true neighbours.
    /// Takes effect at the next segment load, so set it before searching.
    #[must_use]
    pub fn with_ef_search(mut self, ef_search: Option<usize>) -> Self {
        self.ef_search = ef_search;
        self.version = None;
        self
    }

    /// Opens the index state of a transaction (loads the segments): the
    /// cost of opening a library.
    pub fn load(txn: &impl IndexTxn) -> Result<Self, IndexError> {
        let mut index = Self::new();
        index.sync(txn)?;
        Ok(index)
    }

    /// How the last sync went (for tests and diagnostics).
    pub fn last_sync(&self) -> SyncKind {
        self.last_sync
    }

    /// Number of faces the cache holds in its segments (points, dead or
    /// alive), its delta, and its tombstones.
    pub fn cached_counts(&self) -> (usize, usize, usize) {
        (
            self.segments.values().map(|l| l.segment.len()).sum(),
            self.delta.len(),
            self.segments.values().map(|l| l.dead.len()).sum(),
        )
    }

    /// Number of segments the cache holds.
    pub fn cached_segments(&self) -> usize {
        self.segments.len()
    }

    /// Brings the cache up to the version stored in `txn`.
    pub fn sync(&mut self, txn: &impl IndexTxn) -> Result<(), IndexError> {
        let meta = txn.meta()?;
        let Some(have) = self.version else {
            self.segments.clear();
            self.reload_segments(txn, meta)?;
            self.last_sync = SyncKind::FullReload;
            return Ok(());
        };
        if have.segment_gen != meta.segment_gen {
            let loaded = self.reload_segments(txn, meta)?;
            self.last_sync = SyncKind::SegmentsReloaded(loaded);
            return Ok(());
        }
        if (have.seq, have.tag) == (meta.seq, meta.tag) {
            self.last_sync = SyncKind::Current;
            return Ok(());
        }
        // Replay only if the log still holds the entry we are at (so we
        // are on the same history, not on an aborted branch) and every
        // entry after it.
        let on_branch = have.seq == 0 || txn.log_tag(have.seq)? == Some(have.tag);
        if meta.seq > have.seq && on_branch {
            let changed = txn.log_after(have.seq)?;
            if changed.len() as u64 == meta.seq - have.seq {
                let mut faces = changed;
                faces.retain(|&f| f != LOG_SENTINEL);
                faces.sort_unstable();
                faces.dedup();
                if let Err(e) = self.replay(txn, &faces) {
                    // Half replayed: start over at the next sync.
                    self.version = None;
                    return Err(e);
                }
                self.version = Some(meta);
                self.last_sync = SyncKind::Replayed(faces.len());
                return Ok(());
            }
        }
        self.version = None;
        self.reload_delta(txn)?;
        self.version = Some(meta);
        self.last_sync = SyncKind::DeltaReloaded;
        Ok(())
    }

    /// Brings the cached segment set to the one in `txn` (loading only
    /// the segments not cached yet), then reloads tombstones and delta.
    /// Returns how many segments were loaded.
    fn reload_segments(&mut self, txn: &impl IndexTxn, meta: Meta) -> Result<usize, IndexError> {
        self.version = None;
        let list = txn.segments()?;
        let wanted: HashSet<u64> = list.iter().map(|&(id, _)| id).collect();
        self.segments.retain(|id, _| wanted.contains(id));
        let mut loaded = 0;
        for (id, info) in list {
            if self.segments.contains_key(&id) {
                continue;
            }
            let segment = Segment::from_bytes(&txn.segment_bytes(id, &info)?, self.ef_search)?;
            self.segments.insert(
                id,
                Loaded {
                    segment,
                    dead: HashSet::new(),
                },
            );
            loaded += 1;
        }
        self.reload_delta(txn)?;
        self.version = Some(meta);
        Ok(loaded)
    }

    fn reload_delta(&mut self, txn: &impl IndexTxn) -> Result<(), IndexError> {
        for l in self.segments.values_mut() {
            l.dead.clear();
        }
        for (face, segment) in txn.tombstones()? {
            self.segments
                .get_mut(&segment)
                .ok_or_else(|| {
                    IndexError::Corrupt(format!("tombstone of face {face} in missing segment"))
                })?
                .dead
                .insert(face);
        }
        let ids = txn.delta_faces()?;
        self.delta.clear();
        let mut row = Vec::with_capacity(EMBEDDING_DIM);
        let delta = &mut self.delta;
        txn.embeddings_for(&mut ids.into_iter(), &mut |id, bytes| {
            let bytes = bytes
                .ok_or_else(|| IndexError::Corrupt(format!("delta face {id} has no embedding")))?;
            row.clear();
            if !extend_from_bytes(&mut row, bytes) {
                return Err(malformed(id));
            }
            delta.upsert(id, &row);
            Ok(())
        })
    }

    fn replay(&mut self, txn: &impl IndexTxn, faces: &[u64]) -> Result<(), IndexError> {
        let mut in_delta = Vec::new();
        for &f in faces {
            // Within one segment generation tombstones are only added.
            for segment in txn.tombstones_of(f)? {
                self.segments
                    .get_mut(&segment)
                    .ok_or_else(|| {
                        IndexError::Corrupt(format!("tombstone of face {f} in missing segment"))
                    })?
                    .dead
                    .insert(f);
            }
            if txn.in_delta(f)? {
                in_delta.push(f);
            } else {
                self.delta.remove(f);
            }
        }
        let mut row = Vec::with_capacity(EMBEDDING_DIM);
        let delta = &mut self.delta;
        txn.embeddings_for(&mut in_delta.into_iter(), &mut |id, bytes| {
            let bytes = bytes
                .ok_or_else(|| IndexError::Corrupt(format!("delta face {id} has no embedding")))?;
            row.clear();
            if !extend_from_bytes(&mut row, bytes) {
                return Err(malformed(id));
            }
            delta.upsert(id, &row);
            Ok(())
        })
    }

    /// The `k` faces most similar to `query` as seen by `txn`, with their
    /// exact cosine similarity, sorted by similarity descending then id.
    ///
    /// The query is normalised (it must be a valid embedding). Every
    /// segment is searched and its tombstoned faces dropped; the best
    /// `k + RERANK_MARGIN` segment candidates overall are re-ranked with
    /// their exact embeddings and merged with the exact scan of the delta.
    /// Approximate (HNSW) for segments larger than
    /// [`EXACT_SCAN_MAX_FACES`]; a segment is scanned exhaustively when it
    /// is smaller, or whenever its graph returns fewer live candidates than
    /// `k` (or its live count), so `k` at least the number of faces is
    /// exact.
    pub fn search(
        &mut self,
        txn: &impl IndexTxn,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(FaceId, f32)>, IndexError> {
        let q = normalized(query)?;
        self.sync(txn)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut hits = self.delta.top_k(&q, k);
        if self.segments.is_empty() {
            hits.sort_unstable_by(by_rank);
            hits.truncate(k);
            return Ok(hits.into_iter().map(|(id, s)| (FaceId(id), s)).collect());
        }
        let qp = QPoint::quantize(&q);
        let mut cands: Vec<(u64, f32)> = Vec::new();
        for loaded in self.segments.values() {
            let Loaded { segment, dead } = loaded;
            let live = segment.len().saturating_sub(dead.len());
            let before = cands.len();
            if segment.len() > self.exact_scan_max_faces {
                cands.extend(
                    segment
                        .search(&qp, &mut self.search)
                        .into_iter()
                        .filter(|(id, _)| !dead.contains(id)),
                );
            }
            if cands.len() - before < k.min(live) {
                // A small segment, or the graph came back short (many
                // tombstones, or k beyond ef_search): scan it exhaustively.
                cands.truncate(before);
                cands.extend(
                    segment
                        .scan(&qp)
                        .into_iter()
                        .filter(|(id, _)| !dead.contains(id)),
                );
            }
        }
        let keep = k.saturating_add(RERANK_MARGIN);
        if keep < cands.len() {
            cands.select_nth_unstable_by(keep, by_rank);
            cands.truncate(keep);
        }
        let mut ids: Vec<u64> = cands.into_iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        let mut row = Vec::with_capacity(EMBEDDING_DIM);
        txn.embeddings_for(&mut ids.into_iter(), &mut |id, bytes| {
            let bytes = bytes.ok_or_else(|| {
                IndexError::Corrupt(format!("live segment face {id} has no embedding"))
            })?;
            row.clear();
            if !extend_from_bytes(&mut row, bytes) {
                return Err(malformed(id));
            }
            hits.push((id, dot(&q, &row)));
            Ok(())
        })?;
        hits.sort_unstable_by(by_rank);
        hits.truncate(k);
        Ok(hits.into_iter().map(|(id, s)| (FaceId(id), s)).collect())
    }
}

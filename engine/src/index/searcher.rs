//! [`VectorIndex`]: the in-memory searcher, a cache of the stored index
//! state kept consistent with the transaction each search is given.

use super::IndexError;
use super::delta::DeltaMatrix;
use super::ops::malformed;
use super::segment::Segment;
use super::tables::{DELTA, IndexTxn, LOG_SENTINEL, Meta, TOMBSTONES};
use super::vector::{QPoint, dot, extend_from_bytes, normalized};
use crate::types::{EMBEDDING_DIM, FaceId};
use instant_distance::Search;
use std::cmp::Ordering;
use std::collections::HashSet;

/// How many approximate segment candidates beyond `k` are re-ranked with
/// the exact f32 embeddings (absorbs the i8 quantisation error, about
/// 1e-3 in cosine; each re-ranked face costs one B-tree lookup).
pub const RERANK_MARGIN: usize = 32;

/// Segments up to this many faces are scanned exactly instead of searched
/// through the graph: a scan of 10k quantised vectors costs about a
/// millisecond, and a small HNSW graph can leave a node unreachable (the
/// index property test once ranked a face below one it should have found),
/// so small libraries always get exact answers.
pub const EXACT_SCAN_MAX_FACES: usize = 10_000;

/// Default search breadth of the segment graph, chosen by measurement
/// (`cargo bench --bench index`: recall@10 ≥ 0.99 at 100k clustered faces).
pub const DEFAULT_EF_SEARCH: usize = 200;

/// How the last [`VectorIndex::sync`] brought the cache up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// Already current.
    Current,
    /// Replayed this many change-log entries.
    Replayed(usize),
    /// Reloaded delta and tombstones (segment unchanged).
    DeltaReloaded,
    /// Reloaded everything, segment included.
    FullReload,
}

/// The in-memory searcher, owned by the engine thread.
///
/// It caches the deserialised segment, the tombstones and the delta matrix
/// for one index version. Every search first compares that version with
/// the one stored in the given transaction and catches up (replaying the
/// change log, or reloading), so results always reflect exactly that
/// transaction, committed or not.
pub struct VectorIndex {
    segment: Option<Segment>,
    /// Version the cache holds; `None` before the first sync.
    version: Option<Meta>,
    tombstones: HashSet<u64>,
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
            segment: None,
            version: None,
            tombstones: HashSet::new(),
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

    /// Opens the index state of a transaction (loads the segment): the
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

    /// Number of faces the cache holds in its segment, its delta, and its
    /// tombstones.
    pub fn cached_counts(&self) -> (usize, usize, usize) {
        (
            self.segment.as_ref().map_or(0, Segment::len),
            self.delta.len(),
            self.tombstones.len(),
        )
    }

    /// Brings the cache up to the version stored in `txn`.
    pub fn sync(&mut self, txn: &impl IndexTxn) -> Result<(), IndexError> {
        let meta = txn.meta()?;
        let Some(have) = self.version else {
            return self.full_reload(txn, meta);
        };
        if have.segment_gen != meta.segment_gen {
            return self.full_reload(txn, meta);
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
                self.replay(txn, &faces)?;
                self.version = Some(meta);
                self.last_sync = SyncKind::Replayed(faces.len());
                return Ok(());
            }
        }
        self.reload_delta(txn)?;
        self.version = Some(meta);
        self.last_sync = SyncKind::DeltaReloaded;
        Ok(())
    }

    fn full_reload(&mut self, txn: &impl IndexTxn, meta: Meta) -> Result<(), IndexError> {
        self.version = None;
        self.segment = if meta.segment_bytes == 0 {
            None
        } else {
            Some(Segment::from_bytes(
                &txn.segment_bytes(&meta)?,
                self.ef_search,
            )?)
        };
        self.reload_delta(txn)?;
        self.version = Some(meta);
        self.last_sync = SyncKind::FullReload;
        Ok(())
    }

    fn reload_delta(&mut self, txn: &impl IndexTxn) -> Result<(), IndexError> {
        self.tombstones = txn.set_keys(TOMBSTONES)?.into_iter().collect();
        let ids = txn.set_keys(DELTA)?;
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
            if txn.set_contains(TOMBSTONES, f)? {
                self.tombstones.insert(f);
            } else {
                self.tombstones.remove(&f);
            }
            if txn.set_contains(DELTA, f)? {
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
    /// The query is normalised (it must be a valid embedding). Approximate
    /// (HNSW) for the segment part; exact when the segment holds at most
    /// [`EXACT_SCAN_MAX_FACES`], when `k` is at least the number of faces,
    /// or whenever the graph returns too few live candidates.
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
        if let Some(segment) = &self.segment {
            let qp = QPoint::quantize(&q);
            let live = segment.len().saturating_sub(self.tombstones.len());
            let mut cands: Vec<(u64, f32)> = if segment.len() <= self.exact_scan_max_faces {
                Vec::new()
            } else {
                segment
                    .search(&qp, &mut self.search)
                    .into_iter()
                    .filter(|(id, _)| !self.tombstones.contains(id))
                    .collect()
            };
            if cands.len() < k.min(live) {
                // A small segment, or the graph came back short (many
                // tombstones, or k beyond ef_search): scan the segment
                // exhaustively.
                cands = segment
                    .scan(&qp)
                    .into_iter()
                    .filter(|(id, _)| !self.tombstones.contains(id))
                    .collect();
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
        }
        hits.sort_unstable_by(by_rank);
        hits.truncate(k);
        Ok(hits.into_iter().map(|(id, s)| (FaceId(id), s)).collect())
    }
}

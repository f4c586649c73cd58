//! Verifying the index invariants, and rebuilding derived state.

use super::IndexError;
use super::ops::fresh_tag;
use super::segment::{Segment, store};
use super::tables::{
    DELTA, EMBEDDINGS, IndexTxn, LOG, META, META_SEQ, META_TAG, SEGMENT_FACES, TOMBSTONES,
};
use super::vector::{QPoint, UNIT_NORM_TOLERANCE, dot, from_bytes};
use crate::types::FaceId;
use redb::{ReadableTable, WriteTransaction};
use std::collections::{HashMap, HashSet};

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexProblem {
    /// A stored embedding has the wrong size, a non-finite component or is
    /// not of unit length.
    MalformedEmbedding(FaceId),
    /// A face with an embedding is neither live in the segment nor in the
    /// delta.
    NotIndexed(FaceId),
    /// A face is both live in the segment and in the delta.
    IndexedTwice(FaceId),
    /// A delta face has no embedding.
    DeltaWithoutEmbedding(FaceId),
    /// A live segment face has no embedding.
    SegmentWithoutEmbedding(FaceId),
    /// A tombstone for a face the segment does not hold.
    StrayTombstone(FaceId),
    /// A live segment face's point is not the quantisation of its current
    /// embedding.
    StaleSegmentPoint(FaceId),
    /// The segment's stored bytes or face list disagree with each other.
    SegmentMismatch(String),
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// Faces with an embedding.
    pub embeddings: u64,
    /// Faces the segment was built over.
    pub segment_faces: u64,
    /// Segment faces removed or replaced since.
    pub tombstones: u64,
    /// Faces scanned exactly.
    pub delta: u64,
    /// Serialised segment size.
    pub segment_bytes: u64,
    /// Broken invariants; empty when consistent.
    pub problems: Vec<IndexProblem>,
}

impl IndexReport {
    /// True when no invariant is broken.
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies every index invariant and counts the parts. Reads everything
/// (segment included): meant for `likeness check` and tests, not for hot
/// paths.
pub fn check(txn: &impl IndexTxn) -> Result<IndexReport, IndexError> {
    let meta = txn.meta()?;
    let mut problems = Vec::new();
    let mut embeddings: HashMap<u64, Option<QPoint>> = HashMap::new();
    txn.scan_embeddings(&mut |id, bytes| {
        let ok = from_bytes(bytes).filter(|v| {
            v.iter().all(|x| x.is_finite()) && (dot(v, v).sqrt() - 1.0).abs() <= UNIT_NORM_TOLERANCE
        });
        if ok.is_none() {
            problems.push(IndexProblem::MalformedEmbedding(FaceId(id)));
        }
        embeddings.insert(id, ok.map(|v| QPoint::quantize(&v)));
        Ok(())
    })?;
    let seg_faces: HashSet<u64> = txn.set_keys(SEGMENT_FACES)?.into_iter().collect();
    let tombstones: HashSet<u64> = txn.set_keys(TOMBSTONES)?.into_iter().collect();
    let delta: HashSet<u64> = txn.set_keys(DELTA)?.into_iter().collect();

    if meta.segment_bytes == 0 {
        if !seg_faces.is_empty() || meta.segment_chunks != 0 {
            problems.push(IndexProblem::SegmentMismatch(
                "no segment, but segment faces or chunks are stored".into(),
            ));
        }
    } else {
        match txn
            .segment_bytes(&meta)
            .and_then(|b| Segment::from_bytes(&b, None))
        {
            Err(e) => problems.push(IndexProblem::SegmentMismatch(e.to_string())),
            Ok(segment) => {
                let mut seen = HashSet::with_capacity(segment.len());
                for (id, point) in segment.entries() {
                    if !seen.insert(id) {
                        problems.push(IndexProblem::SegmentMismatch(format!(
                            "face {id} appears twice in the segment"
                        )));
                    }
                    if !tombstones.contains(&id)
                        && let Some(Some(current)) = embeddings.get(&id)
                        && current != point
                    {
                        problems.push(IndexProblem::StaleSegmentPoint(FaceId(id)));
                    }
                }
                if seen != seg_faces {
                    problems.push(IndexProblem::SegmentMismatch(format!(
                        "segment holds {} faces, its face list {}",
                        seen.len(),
                        seg_faces.len()
                    )));
                }
            }
        }
    }
    let mut sorted_tombstones: Vec<_> = tombstones.iter().copied().collect();
    sorted_tombstones.sort_unstable();
    for t in sorted_tombstones {
        if !seg_faces.contains(&t) {
            problems.push(IndexProblem::StrayTombstone(FaceId(t)));
        }
    }
    let mut all: Vec<u64> = embeddings
        .keys()
        .chain(&seg_faces)
        .chain(&delta)
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    all.sort_unstable();
    for id in all {
        let has = embeddings.contains_key(&id);
        let live_seg = seg_faces.contains(&id) && !tombstones.contains(&id);
        let in_delta = delta.contains(&id);
        let face = FaceId(id);
        match (has, live_seg, in_delta) {
            (true, false, false) => problems.push(IndexProblem::NotIndexed(face)),
            (_, true, true) => problems.push(IndexProblem::IndexedTwice(face)),
            (false, true, _) => problems.push(IndexProblem::SegmentWithoutEmbedding(face)),
            (false, _, true) => problems.push(IndexProblem::DeltaWithoutEmbedding(face)),
            _ => {}
        }
    }
    Ok(IndexReport {
        embeddings: embeddings.len() as u64,
        segment_faces: seg_faces.len() as u64,
        tombstones: tombstones.len() as u64,
        delta: delta.len() as u64,
        segment_bytes: meta.segment_bytes,
        problems,
    })
}

/// What [`repair`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Faces now indexed (all in the delta).
    pub indexed: u64,
    /// Embeddings that were renormalised to unit length.
    pub renormalised: Vec<FaceId>,
    /// Embeddings removed because they could not be read or had no
    /// direction (wrong size, non-finite, zero).
    pub removed: Vec<FaceId>,
}

/// Rebuilds all derived index state from the embeddings table: drops the
/// segment and tombstones and puts every face into the delta (a later
/// [`super::rebuild`] makes a new segment). Unreadable embeddings are
/// removed and reported.
pub fn repair(txn: &WriteTransaction) -> Result<RepairReport, IndexError> {
    super::create_tables(txn)?;
    let mut report = RepairReport::default();
    let mut keep = Vec::new();
    let mut fix = Vec::new();
    txn.scan_embeddings(&mut |id, bytes| {
        match from_bytes(bytes).map(|v| super::vector::normalized(&v).map(|n| (v, n))) {
            Some(Ok((v, n))) => {
                if v != n && (dot(&v, &v).sqrt() - 1.0).abs() > UNIT_NORM_TOLERANCE {
                    fix.push((id, n));
                }
                keep.push(id);
            }
            _ => report.removed.push(FaceId(id)),
        }
        Ok(())
    })?;
    {
        let mut table = txn.open_table(EMBEDDINGS)?;
        for face in &report.removed {
            table.remove(face.0)?;
        }
        for (id, n) in &fix {
            table.insert(*id, super::vector::to_bytes(n).as_slice())?;
            report.renormalised.push(FaceId(*id));
        }
    }
    // A new segment id: a rebuild prepared before the repair is superseded.
    store(txn, &[], &[], fresh_tag())?;
    txn.delete_table(TOMBSTONES)?;
    txn.delete_table(DELTA)?;
    txn.delete_table(LOG)?;
    txn.open_table(TOMBSTONES)?;
    txn.open_table(LOG)?;
    {
        let mut delta = txn.open_table(DELTA)?;
        for &id in &keep {
            delta.insert(id, ())?;
        }
    }
    {
        // A new version, so every cache reloads.
        let mut meta = txn.open_table(META)?;
        let seq = meta.get(META_SEQ)?.map_or(0, |g| g.value()) + 1;
        meta.insert(META_SEQ, seq)?;
        meta.insert(META_TAG, fresh_tag())?;
    }
    report.indexed = keep.len() as u64;
    Ok(report)
}

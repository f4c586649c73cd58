//! Verifying the index invariants, and rebuilding derived state.

use super::IndexError;
use super::ops::fresh_tag;
use super::segment::Segment;
use super::tables::{
    DELTA, EMBEDDINGS, IndexTxn, LOG, META, META_SEGMENT_GEN, META_SEQ, META_TAG, SEGMENT_CHUNKS,
    SEGMENT_FACES, SEGMENTS, TOMBSTONES,
};
use super::vector::{QPoint, UNIT_NORM_TOLERANCE, dot, from_bytes};
use crate::types::FaceId;
use redb::{ReadableTable, WriteTransaction};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexProblem {
    /// A stored embedding has the wrong size, a non-finite component or is
    /// not of unit length.
    MalformedEmbedding(FaceId),
    /// A face with an embedding is neither live in a segment nor in the
    /// delta.
    NotIndexed(FaceId),
    /// A face is both live in a segment and in the delta.
    IndexedTwice(FaceId),
    /// A delta face has no embedding.
    DeltaWithoutEmbedding(FaceId),
    /// A live segment face has no embedding.
    SegmentWithoutEmbedding(FaceId),
    /// A tombstone for a face its segment does not hold, or in a segment
    /// that does not exist, or for the face's live position.
    StrayTombstone(FaceId),
    /// A live position in a segment that does not exist or does not hold
    /// the face.
    StrayLivePosition(FaceId),
    /// A segment point that is neither live nor tombstoned.
    UnaccountedPoint(FaceId),
    /// A live segment face's point is not the quantisation of its current
    /// embedding.
    StaleSegmentPoint(FaceId),
    /// A segment's stored bytes, description or faces disagree with each
    /// other.
    SegmentMismatch(String),
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// Faces with an embedding.
    pub embeddings: u64,
    /// Number of segments.
    pub segments: u64,
    /// Points of all segments (live or tombstoned).
    pub segment_faces: u64,
    /// Segment points removed or replaced since their build.
    pub tombstones: u64,
    /// Faces scanned exactly.
    pub delta: u64,
    /// Serialised size of all segments.
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
    txn.meta()?;
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
    let live: HashMap<u64, u64> = txn.live_positions()?.into_iter().collect();
    let tombstones = txn.tombstones()?;
    let delta: HashSet<u64> = txn.delta_faces()?.into_iter().collect();
    let mut dead_of: BTreeMap<u64, HashSet<u64>> = BTreeMap::new();
    for &(f, s) in &tombstones {
        dead_of.entry(s).or_default().insert(f);
    }

    let segments = txn.segments()?;
    let mut points_of: HashMap<u64, HashSet<u64>> = HashMap::new();
    let mut report = IndexReport {
        segments: segments.len() as u64,
        ..IndexReport::default()
    };
    for (id, info) in &segments {
        report.segment_faces += info.points;
        report.segment_bytes += info.bytes;
        let dead = dead_of.get(id).map_or(0, HashSet::len) as u64;
        if dead != info.tombstones {
            problems.push(IndexProblem::SegmentMismatch(format!(
                "segment {id} counts {} tombstones, has {dead}",
                info.tombstones
            )));
        }
        let segment = match txn
            .segment_bytes(*id, info)
            .and_then(|b| Segment::from_bytes(&b, None))
        {
            Err(e) => {
                problems.push(IndexProblem::SegmentMismatch(format!("segment {id}: {e}")));
                continue;
            }
            Ok(segment) => segment,
        };
        let mut seen = HashSet::with_capacity(segment.len());
        for (face, point) in segment.entries() {
            if !seen.insert(face) {
                problems.push(IndexProblem::SegmentMismatch(format!(
                    "face {face} appears twice in segment {id}"
                )));
            }
            let is_live = live.get(&face) == Some(id);
            let is_dead = dead_of.get(id).is_some_and(|d| d.contains(&face));
            if !is_live && !is_dead {
                problems.push(IndexProblem::UnaccountedPoint(FaceId(face)));
            }
            if is_live
                && let Some(Some(current)) = embeddings.get(&face)
                && current != point
            {
                problems.push(IndexProblem::StaleSegmentPoint(FaceId(face)));
            }
        }
        if seen.len() as u64 != info.points {
            problems.push(IndexProblem::SegmentMismatch(format!(
                "segment {id} holds {} faces, its description {}",
                seen.len(),
                info.points
            )));
        }
        points_of.insert(*id, seen);
    }
    let holds = |s: &u64, f: &u64| points_of.get(s).is_some_and(|p| p.contains(f));
    for &(f, s) in &tombstones {
        if !holds(&s, &f) || live.get(&f) == Some(&s) {
            problems.push(IndexProblem::StrayTombstone(FaceId(f)));
        }
    }
    let mut live_sorted: Vec<(u64, u64)> = live.iter().map(|(&f, &s)| (f, s)).collect();
    live_sorted.sort_unstable();
    for (f, s) in live_sorted {
        if !holds(&s, &f) {
            problems.push(IndexProblem::StrayLivePosition(FaceId(f)));
        }
    }
    let mut all: Vec<u64> = embeddings
        .keys()
        .chain(live.keys())
        .chain(&delta)
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    all.sort_unstable();
    for id in all {
        let has = embeddings.contains_key(&id);
        let live_seg = live.contains_key(&id);
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
    report.embeddings = embeddings.len() as u64;
    report.tombstones = tombstones.len() as u64;
    report.delta = delta.len() as u64;
    report.problems = problems;
    Ok(report)
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

/// Rebuilds all derived index state from the embeddings table: drops every
/// segment and tombstone and puts every face into the delta (later
/// [`super::rebuild`] / [`super::maintain`] steps build new segments).
/// Unreadable embeddings are removed and reported.
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
    txn.delete_table(SEGMENTS)?;
    txn.delete_table(SEGMENT_CHUNKS)?;
    txn.delete_table(SEGMENT_FACES)?;
    txn.delete_table(TOMBSTONES)?;
    txn.delete_table(DELTA)?;
    txn.delete_table(LOG)?;
    txn.open_table(SEGMENTS)?;
    txn.open_table(SEGMENT_CHUNKS)?;
    txn.open_table(SEGMENT_FACES)?;
    txn.open_table(TOMBSTONES)?;
    txn.open_table(LOG)?;
    {
        let mut delta = txn.open_table(DELTA)?;
        for &id in &keep {
            delta.insert(id, ())?;
        }
    }
    {
        // A new version and segment generation, so every cache reloads
        // and a rebuild prepared before the repair is superseded.
        let mut meta = txn.open_table(META)?;
        meta.insert(META_SEGMENT_GEN, fresh_tag())?;
        let seq = meta.get(META_SEQ)?.map_or(0, |g| g.value()) + 1;
        meta.insert(META_SEQ, seq)?;
        meta.insert(META_TAG, fresh_tag())?;
    }
    report.indexed = keep.len() as u64;
    Ok(report)
}

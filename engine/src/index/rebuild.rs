//! Building segments off the caller's path, and the tiering policy that
//! says which to build.
//!
//! One step of maintenance ([`rebuild`], or each step of [`maintain`])
//! takes some inputs — the delta, or some segments — builds new segments
//! over their live faces from a read snapshot with no transaction open,
//! and swaps them in for the inputs in one short write transaction:
//!
//! - **flush**: the delta's faces become new segment(s) (at most
//!   [`MAX_SEGMENT_FACES`] each). Due when the delta reaches
//!   [`DELTA_FLUSH_FACES`]; [`rebuild`] flushes any non-empty delta.
//! - **drop**: segments with no live face left are deleted (no build).
//! - **compact**: a segment whose tombstones reach
//!   [`COMPACT_TOMBSTONE_FRACTION`] of its points is rebuilt over its live
//!   faces.
//! - **merge**: when [`MERGE_FAN_IN`] segments share a size tier (tier `t`
//!   holds segments of `DELTA_FLUSH_FACES · FAN_INᵗ` up to `·FAN_INᵗ⁺¹`
//!   live faces), the smallest of them are merged into one, as long as the
//!   result stays within [`MAX_SEGMENT_FACES`].
//!
//! So a face is built into a new segment about `log_FAN_IN(cap / flush)`
//! times (about 3 with the defaults) over its life, a library of `n` faces
//! holds at most about `n / cap` full segments plus `FAN_IN − 1` per tier
//! below, and the total build work stays within a small factor of one
//! build of each face at the cap's size.

use super::IndexError;
use super::ops::fresh_tag;
use super::segment::{self, Segment};
use super::tables::{
    DELTA, IndexTxn, LOG, LOG_SENTINEL, META, META_SEGMENT_GEN, Meta, SEGMENT_FACES, SegmentInfo,
    TOMBSTONES,
};
use super::vector::{QPoint, from_bytes};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Delta size at which a flush into a new segment is due. An exact scan
/// of 4,096 f32 rows costs about 0.5 ms per query, and a segment of that
/// size builds in about 3 s on two cores (the bench: 100k faces build in
/// 137 s).
pub const DELTA_FLUSH_FACES: u64 = 4096;
/// Segments of one size tier merged at once; also the size ratio between
/// tiers.
pub const MERGE_FAN_IN: usize = 4;
/// No flush or merge builds a segment larger than this. Building costs
/// about `n log n` and a query searches every segment, so the cap trades a
/// step's length (off the caller's path) against the number of segments a
/// large library is searched in. Measured (`cargo bench --bench index`,
/// two cores shared with another benchmark): 100k faces build in 200 s as
/// one segment; 1M faces build as 4 segments of 250k in 3,268 s (about 14
/// minutes each), and a nearest-10 query then takes 50 ms p50 (4 graph
/// searches at `ef_search` 200) against 7 ms at 100k. Those builds used
/// `ef_construction` 64; at today's 128 one 250k segment builds in 591 s
/// against 273 s.
pub const MAX_SEGMENT_FACES: u64 = 250_000;
/// A segment is compacted once this fraction of its points are
/// tombstones (they cost search breadth: the graph returns dead points).
pub const COMPACT_TOMBSTONE_FRACTION: f64 = 0.25;
/// Steps one [`maintain`] call takes at most.
pub const MAX_MAINTAIN_STEPS: usize = 32;

/// The tiering policy; [`Default`] is the constants above. Tests shrink it
/// to exercise many segments on small data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TierPolicy {
    /// See [`DELTA_FLUSH_FACES`].
    pub delta_flush_faces: u64,
    /// See [`MERGE_FAN_IN`].
    pub merge_fan_in: usize,
    /// See [`MAX_SEGMENT_FACES`].
    pub max_segment_faces: u64,
    /// See [`COMPACT_TOMBSTONE_FRACTION`].
    pub compact_tombstone_fraction: f64,
}

impl Default for TierPolicy {
    fn default() -> Self {
        Self {
            delta_flush_faces: DELTA_FLUSH_FACES,
            merge_fan_in: MERGE_FAN_IN,
            max_segment_faces: MAX_SEGMENT_FACES,
            compact_tombstone_fraction: COMPACT_TOMBSTONE_FRACTION,
        }
    }
}

impl TierPolicy {
    /// The size tier of a segment with `live` faces.
    pub fn tier(&self, live: u64) -> u32 {
        let fan_in = self.merge_fan_in.max(2) as u64;
        let mut s = live / self.delta_flush_faces.max(1);
        let mut t = 0;
        while s >= fan_in {
            s /= fan_in;
            t += 1;
        }
        t
    }
}

/// Parameters of a segment build.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RebuildParams {
    /// Candidate list size while inserting (build time grows with it).
    pub ef_construction: usize,
    /// Search breadth stored with the segment (used when the
    /// [`super::VectorIndex`] does not override it).
    pub ef_search: usize,
    /// Use HNSW's neighbour-selection heuristic (better graphs on
    /// clustered data, several times slower to build).
    pub heuristic: bool,
    /// Seed of the level assignment, for reproducible builds.
    pub seed: u64,
    /// Which segments to build.
    pub policy: TierPolicy,
}

impl Default for RebuildParams {
    /// Chosen by measurement (`cargo bench --bench index`, clustered 512-d
    /// vectors, 20 per person): with `ef_construction` 64 one 250k segment
    /// reached recall@10 0.944 (0.993 at 100k); with 128 it reaches 0.995,
    /// for 2.2 times the build time (591 s against 273 s on two cores, off
    /// the caller's path).
    fn default() -> Self {
        Self {
            ef_construction: 128,
            ef_search: super::searcher::DEFAULT_EF_SEARCH,
            heuristic: false,
            seed: 0x5eed_f00d,
            policy: TierPolicy::default(),
        }
    }
}

/// What a rebuild did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebuildOutcome {
    /// The new segments were committed.
    Swapped,
    /// Another rebuild or a repair committed first; nothing was written.
    Superseded,
    /// Nothing was due (empty delta, no segment to drop, compact or merge).
    NothingToDo,
}

/// The inputs of one maintenance step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebuildStep {
    /// The delta's faces go into the new segments.
    pub flush_delta: bool,
    /// These segments' live faces go into the new segments, and the
    /// segments are deleted.
    pub segments: Vec<u64>,
}

/// Result of [`rebuild`] (one step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebuildReport {
    /// Swapped or not.
    pub outcome: RebuildOutcome,
    /// What the step took as input.
    pub step: RebuildStep,
    /// Faces in the new segments.
    pub segment_faces: usize,
    /// New segments built.
    pub new_segments: usize,
    /// Size of the serialised new segments.
    pub segment_bytes: usize,
    /// Faces changed between the snapshot and the swap, left in the
    /// delta and tombstoned in the new segments.
    pub carried_over: usize,
    /// Time to read the snapshot.
    pub read_time: Duration,
    /// Time to build and serialise the graphs (no transaction open).
    pub build_time: Duration,
    /// Time the swap's write transaction took, commit included.
    pub swap_time: Duration,
}

/// The next maintenance step the policy asks for, in priority order:
/// flush a delta of at least `delta_flush_faces` (any non-empty delta when
/// `force_flush`), drop segments with no live face, compact the segment
/// with the highest tombstone fraction at or above the threshold, merge
/// the smallest segments of the lowest full tier.
pub fn plan(
    txn: &impl IndexTxn,
    policy: &TierPolicy,
    force_flush: bool,
) -> Result<Option<RebuildStep>, IndexError> {
    let delta = txn.delta_len()?;
    if delta > 0 && (force_flush || delta >= policy.delta_flush_faces) {
        return Ok(Some(RebuildStep {
            flush_delta: true,
            segments: Vec::new(),
        }));
    }
    let segments = txn.segments()?;
    let empty: Vec<u64> = segments
        .iter()
        .filter(|(_, info)| info.live() == 0)
        .map(|&(id, _)| id)
        .collect();
    if !empty.is_empty() {
        return Ok(Some(inputs(empty)));
    }
    let fraction = |info: &SegmentInfo| info.tombstones as f64 / info.points.max(1) as f64;
    if let Some(&(id, _)) = segments
        .iter()
        .filter(|(_, info)| fraction(info) >= policy.compact_tombstone_fraction)
        .max_by(|a, b| {
            fraction(&a.1)
                .total_cmp(&fraction(&b.1))
                .then(b.0.cmp(&a.0))
        })
    {
        return Ok(Some(inputs(vec![id])));
    }
    let mut tiers: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for &(id, info) in &segments {
        tiers
            .entry(policy.tier(info.live()))
            .or_default()
            .push((info.live(), id));
    }
    for members in tiers.values_mut() {
        if members.len() < policy.merge_fan_in.max(2) {
            continue;
        }
        members.sort_unstable();
        let mut chosen = Vec::new();
        let mut total = 0;
        for &(live, id) in &*members {
            if chosen.len() == policy.merge_fan_in.max(2) || total + live > policy.max_segment_faces
            {
                break;
            }
            total += live;
            chosen.push(id);
        }
        if chosen.len() >= 2 {
            chosen.sort_unstable();
            return Ok(Some(inputs(chosen)));
        }
    }
    Ok(None)
}

fn inputs(segments: Vec<u64>) -> RebuildStep {
    RebuildStep {
        flush_delta: false,
        segments,
    }
}

/// True when the default policy has a step due (see [`plan`]): the delta
/// reached [`DELTA_FLUSH_FACES`], or a segment is to be dropped, compacted
/// or merged. Cheap: reads the segment list and the delta's size.
pub fn needs_rebuild(txn: &impl IndexTxn) -> Result<bool, IndexError> {
    Ok(plan(txn, &TierPolicy::default(), false)?.is_some())
}

/// One maintenance step off the caller's path: flushes the delta into new
/// segments when it is non-empty, else takes the policy's next drop,
/// compaction or merge ([`plan`]); [`prepare_rebuild`] then
/// [`PreparedSegment::commit`]. Faces put or removed after the snapshot
/// stay in the delta and are tombstoned in the new segments, so nothing is
/// lost or duplicated. If another rebuild or a repair committed meanwhile,
/// nothing is written ([`RebuildOutcome::Superseded`]).
///
/// Call from a background thread; it holds the write lock only for the
/// swap.
pub fn rebuild(db: &Database, params: RebuildParams) -> Result<RebuildReport, IndexError> {
    prepare_rebuild(db, params)?.commit(db)
}

/// Runs the policy's due steps (not forcing a flush of a small delta) until
/// none is due, a step is superseded, or [`MAX_MAINTAIN_STEPS`] ran. What
/// the engine's background maintainer calls.
pub fn maintain(db: &Database, params: RebuildParams) -> Result<Vec<RebuildReport>, IndexError> {
    let mut reports = Vec::new();
    for _ in 0..MAX_MAINTAIN_STEPS {
        let prepared = prepare(db, params, false)?;
        if prepared.step.is_none() {
            break;
        }
        let report = prepared.commit(db)?;
        let superseded = report.outcome == RebuildOutcome::Superseded;
        reports.push(report);
        if superseded {
            break;
        }
    }
    Ok(reports)
}

/// One new segment, built.
struct Built {
    /// Its faces, ascending.
    ids: Vec<u64>,
    segment: Segment,
    bytes: Vec<u8>,
}

/// A step's segments built from a snapshot, not yet swapped in.
pub struct PreparedSegment {
    meta0: Meta,
    step: Option<RebuildStep>,
    /// Live positions in the input segments at the snapshot.
    input_live: Vec<(u64, u64)>,
    /// Tombstones of the input segments at the snapshot.
    input_dead: Vec<(u64, u64)>,
    built: Vec<Built>,
    read_time: Duration,
    build_time: Duration,
}

/// First half of [`rebuild`]: plans the step (flushing any non-empty
/// delta), reads its faces' embeddings from one read transaction, and
/// builds and serialises the new segments with no transaction open.
/// Writers are never blocked by this part.
pub fn prepare_rebuild(
    db: &Database,
    params: RebuildParams,
) -> Result<PreparedSegment, IndexError> {
    prepare(db, params, true)
}

fn prepare(
    db: &Database,
    params: RebuildParams,
    force_flush: bool,
) -> Result<PreparedSegment, IndexError> {
    let t0 = Instant::now();
    let rtxn = db.begin_read()?;
    let meta0 = rtxn.meta()?;
    let step = plan(&rtxn, &params.policy, force_flush)?;
    let mut prepared = PreparedSegment {
        meta0,
        step: None,
        input_live: Vec::new(),
        input_dead: Vec::new(),
        built: Vec::new(),
        read_time: Duration::ZERO,
        build_time: Duration::ZERO,
    };
    let Some(step) = step else {
        return Ok(prepared);
    };
    let mut faces = if step.flush_delta {
        rtxn.delta_faces()?
    } else {
        Vec::new()
    };
    if !step.segments.is_empty() {
        let inputs: HashSet<u64> = step.segments.iter().copied().collect();
        prepared.input_live = rtxn
            .live_positions()?
            .into_iter()
            .filter(|(_, s)| inputs.contains(s))
            .collect();
        prepared.input_dead = rtxn
            .tombstones()?
            .into_iter()
            .filter(|(_, s)| inputs.contains(s))
            .collect();
        faces.extend(prepared.input_live.iter().map(|&(f, _)| f));
    }
    faces.sort_unstable();
    faces.dedup();
    let mut points = Vec::with_capacity(faces.len());
    rtxn.embeddings_for(&mut faces.iter().copied(), &mut |id, bytes| {
        let bytes = bytes
            .ok_or_else(|| IndexError::Corrupt(format!("indexed face {id} has no embedding")))?;
        let v = from_bytes(bytes).ok_or_else(|| super::ops::malformed(id))?;
        points.push(QPoint::quantize(&v));
        Ok(())
    })?;
    drop(rtxn);
    prepared.read_time = t0.elapsed();

    let t1 = Instant::now();
    let cap = usize::try_from(params.policy.max_segment_faces.max(1)).unwrap_or(usize::MAX);
    let groups = faces.len().div_ceil(cap);
    let per = if groups == 0 {
        0
    } else {
        faces.len().div_ceil(groups)
    };
    let mut ids = faces.into_iter();
    let mut pts = points.into_iter();
    for _ in 0..groups {
        let ids: Vec<u64> = ids.by_ref().take(per).collect();
        let pts: Vec<QPoint> = pts.by_ref().take(per).collect();
        let segment = Segment::build(
            ids.clone(),
            pts,
            params.ef_construction,
            params.ef_search,
            params.heuristic,
            params.seed,
        );
        let bytes = segment.to_bytes()?;
        prepared.built.push(Built {
            ids,
            segment,
            bytes,
        });
    }
    prepared.build_time = t1.elapsed();
    prepared.step = Some(step);
    Ok(prepared)
}

impl PreparedSegment {
    /// Serialised size of the built segments.
    pub fn segment_bytes(&self) -> usize {
        self.built.iter().map(|b| b.bytes.len()).sum()
    }

    /// The step this prepares (`None`: nothing was due).
    pub fn step(&self) -> Option<&RebuildStep> {
        self.step.as_ref()
    }

    /// Second half of [`rebuild`]: one write transaction that swaps the
    /// new segments in for the step's inputs, unless another swap or a
    /// repair committed since the snapshot. Faces changed since the
    /// snapshot (found in the change log, or by comparison when the log no
    /// longer reaches back) are tombstoned in the new segments and stay
    /// where the change put them (the delta, or nowhere).
    pub fn commit(self, db: &Database) -> Result<RebuildReport, IndexError> {
        let Self {
            meta0,
            step,
            input_live,
            input_dead,
            built,
            read_time,
            build_time,
        } = self;
        let t2 = Instant::now();
        let mut report = RebuildReport {
            outcome: RebuildOutcome::NothingToDo,
            step: step.clone().unwrap_or_default(),
            segment_faces: 0,
            new_segments: 0,
            segment_bytes: 0,
            carried_over: 0,
            read_time,
            build_time,
            swap_time: Duration::ZERO,
        };
        let Some(step) = step else {
            return Ok(report);
        };
        let wtxn = db.begin_write()?;
        let meta1 = wtxn.meta()?;
        if meta1.segment_gen != meta0.segment_gen {
            wtxn.abort()?;
            report.outcome = RebuildOutcome::Superseded;
            report.swap_time = t2.elapsed();
            return Ok(report);
        }
        let (changed, logged) = changed_since(&wtxn, &meta0, &meta1, &built)?;
        let inputs: HashSet<u64> = step.segments.iter().copied().collect();
        {
            let mut dead = wtxn.open_table(TOMBSTONES)?;
            if inputs.is_empty() {
                // Nothing to clear.
            } else if logged {
                // The inputs' tombstones: those of the snapshot, and those
                // of faces changed since.
                for &key in &input_dead {
                    dead.remove(key)?;
                }
                for &f in &changed {
                    for &s in &step.segments {
                        dead.remove((f, s))?;
                    }
                }
            } else {
                dead.retain(|(_, s), ()| !inputs.contains(&s))?;
            }
            let mut live = wtxn.open_table(SEGMENT_FACES)?;
            for &(f, s) in &input_live {
                if live.get(f)?.map(|g| g.value()) == Some(s) {
                    live.remove(f)?;
                }
            }
        }
        for &s in &step.segments {
            segment::delete(&wtxn, s)?;
        }
        let mut carried = HashSet::new();
        for b in &built {
            let id = fresh_tag();
            let is_dead = |f: &u64| changed.contains(f);
            let dead_here = b.ids.iter().filter(|f| is_dead(f)).count() as u64;
            segment::store(&wtxn, id, &b.bytes, b.ids.len() as u64, dead_here)?;
            let mut dead = wtxn.open_table(TOMBSTONES)?;
            let mut live = wtxn.open_table(SEGMENT_FACES)?;
            let mut delta = wtxn.open_table(DELTA)?;
            for &f in &b.ids {
                if is_dead(&f) {
                    dead.insert((f, id), ())?;
                    carried.insert(f);
                } else {
                    live.insert(f, id)?;
                    if step.flush_delta {
                        delta.remove(f)?;
                    }
                }
            }
            report.segment_faces += b.ids.len();
            report.segment_bytes += b.bytes.len();
            report.new_segments += 1;
        }
        // A new generation, so caches reload the segment list and a
        // concurrent rebuild sees that its snapshot was replaced. The log
        // restarts at the current version, so caches that load the new
        // state can replay the changes that follow.
        wtxn.open_table(META)?
            .insert(META_SEGMENT_GEN, fresh_tag())?;
        wtxn.delete_table(LOG)?;
        wtxn.open_table(LOG)?
            .insert(meta1.seq, (meta1.tag, LOG_SENTINEL))?;
        wtxn.commit()?;
        report.outcome = RebuildOutcome::Swapped;
        report.carried_over = carried.len();
        report.swap_time = t2.elapsed();
        Ok(report)
    }
}

/// Faces whose embedding may differ between the snapshot (`meta0`) and the
/// write transaction, and whether the change log covered the interval
/// (else only the built faces were compared, by their quantised point).
fn changed_since(
    wtxn: &redb::WriteTransaction,
    meta0: &Meta,
    meta1: &Meta,
    built: &[Built],
) -> Result<(HashSet<u64>, bool), IndexError> {
    if (meta1.seq, meta1.tag) == (meta0.seq, meta0.tag) {
        return Ok((HashSet::new(), true));
    }
    if meta1.seq > meta0.seq {
        let logged = wtxn.log_after(meta0.seq)?;
        if logged.len() as u64 == meta1.seq - meta0.seq {
            let faces = logged.into_iter().filter(|&f| f != LOG_SENTINEL).collect();
            return Ok((faces, true));
        }
    }
    // The log no longer reaches back to the snapshot: compare every built
    // face's point with its current embedding.
    let mut changed = HashSet::new();
    for b in built {
        let mut points = b.segment.entries().collect::<Vec<_>>();
        points.sort_unstable_by_key(|&(id, _)| id);
        let mut it = points.into_iter();
        wtxn.embeddings_for(&mut b.ids.iter().copied(), &mut |id, bytes| {
            let built_point = it.next().map(|(_, p)| p);
            let same = match (bytes.and_then(from_bytes), built_point) {
                (Some(v), Some(p)) => QPoint::quantize(&v) == *p,
                _ => false,
            };
            if !same {
                changed.insert(id);
            }
            Ok(())
        })?;
    }
    Ok((changed, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_grow_by_the_fan_in() {
        let p = TierPolicy::default();
        let f = DELTA_FLUSH_FACES;
        assert_eq!(p.tier(0), 0);
        assert_eq!(p.tier(f), 0);
        assert_eq!(p.tier(4 * f - 1), 0);
        assert_eq!(p.tier(4 * f), 1);
        assert_eq!(p.tier(16 * f - 1), 1);
        assert_eq!(p.tier(16 * f), 2);
        // Full segments at the cap are in tier 2: four of them cannot merge
        // (the result would pass the cap), so a 1M library is 4 segments.
        assert_eq!(p.tier(MAX_SEGMENT_FACES), 2);
    }
}

//! Property test: random sequences of index operations against an
//! in-memory reference model (a `HashMap` of unit vectors).
//!
//! After every step: `check` passes, an exhaustive search (k ≥ live count)
//! returns exactly the live set (each face once) with exact similarities
//! in the documented order, and small-k searches return only live faces,
//! ranked exactly as the model ranks them. A tiny tiering policy (segments
//! of at most 8 faces, merges of 3) makes the index hold several segments,
//! so flushes split, merges, compactions and drops all happen. Rebuilds
//! include ones whose snapshot is taken, then more writes commit, then the
//! swap commits; aborted write transactions must not leak into later
//! searches; reopening the file gives the same results.

use likeness_engine::index::{
    self, IndexTxn, RebuildOutcome, RebuildParams, TierPolicy, VectorIndex, synthetic::SynthRng,
};
use likeness_engine::{EMBEDDING_DIM, Embedding, FaceId};
use proptest::prelude::*;
use redb::{Database, ReadableDatabase, ReadableTable};
use std::collections::HashMap;
use std::path::Path;

/// Face ids drawn from a small range so replaces and removes hit.
const FACES: u64 = 40;

#[derive(Clone, Debug)]
enum Op {
    /// Insert or replace; vector seeds repeat (equal vectors, tied scores).
    Put(u64, u64),
    Remove(u64),
    /// Several changes in one transaction.
    Batch(Vec<(u64, Option<u64>)>),
    /// Changes in a write transaction that searches, then aborts; then
    /// other changes commit (reaching past the aborted sequence numbers)
    /// before anything syncs the cache again.
    Aborted(Vec<(u64, Option<u64>)>, Vec<(u64, u64)>),
    Search(u64),
    Rebuild,
    /// The policy's due steps (merges, compactions, drops).
    Maintain,
    /// Snapshot and build, then these changes commit, then the swap.
    RebuildInterleaved(Vec<(u64, Option<u64>)>),
    /// Two overlapping rebuilds: A prepared, changes, B prepared, more
    /// changes, A swaps, then B must not (its snapshot's segment is gone).
    RaceRebuilds(Vec<(u64, Option<u64>)>, Vec<(u64, Option<u64>)>),
    /// A rebuild prepared before a repair must not swap after it.
    RebuildThenRepair,
    Repair,
    Reopen,
}

fn change() -> impl Strategy<Value = (u64, Option<u64>)> {
    (0..FACES, prop::option::weighted(0.75, 0..200u64))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..FACES, 0..200u64).prop_map(|(f, s)| Op::Put(f, s)),
        3 => (0..FACES).prop_map(Op::Remove),
        2 => prop::collection::vec(change(), 1..8).prop_map(Op::Batch),
        2 => (
            prop::collection::vec(change(), 1..5),
            prop::collection::vec((0..FACES, 0..200u64), 5..8)
        )
            .prop_map(|(a, b)| Op::Aborted(a, b)),
        3 => (0..200u64).prop_map(Op::Search),
        2 => Just(Op::Rebuild),
        2 => Just(Op::Maintain),
        1 => prop::collection::vec(change(), 0..8).prop_map(Op::RebuildInterleaved),
        1 => (
            prop::collection::vec(change(), 0..5),
            prop::collection::vec(change(), 0..5)
        )
            .prop_map(|(a, b)| Op::RaceRebuilds(a, b)),
        1 => Just(Op::RebuildThenRepair),
        1 => Just(Op::Repair),
        1 => Just(Op::Reopen),
    ]
}

/// The vector for a seed; unnormalised on purpose (put normalises).
fn vector(seed: u64) -> Embedding {
    let mut rng = SynthRng::new(seed);
    let scale = 0.5 + rng.uniform() as f32 * 3.0;
    rng.unit().into_iter().map(|x| x * scale).collect()
}

fn unit(seed: u64) -> Embedding {
    index::normalized(&vector(seed)).expect("valid vector")
}

fn open(path: &Path) -> Database {
    let db = Database::create(path).expect("open db");
    let w = db.begin_write().expect("begin write");
    index::create_tables(&w).expect("create tables");
    w.commit().expect("commit");
    db
}

fn apply(
    w: &redb::WriteTransaction,
    model: &mut HashMap<u64, Embedding>,
    changes: &[(u64, Option<u64>)],
) {
    for &(face, seed) in changes {
        if let Some(s) = seed {
            index::put(w, FaceId(face), &vector(s)).expect("put");
            model.insert(face, unit(s));
        } else {
            let existed = index::remove(w, FaceId(face)).expect("remove");
            assert_eq!(
                existed,
                model.remove(&face).is_some(),
                "remove's answer for face {face}"
            );
        }
    }
}

/// Everything the model says must hold for `txn`.
fn verify(
    vi: &mut VectorIndex,
    txn: &impl IndexTxn,
    model: &HashMap<u64, Embedding>,
    query: &[f32],
) {
    let report = index::check(txn).expect("check");
    assert!(report.is_consistent(), "check failed: {report:?}");
    assert_eq!(report.embeddings, model.len() as u64);

    // Exhaustive: exactly the live set, exact scores, documented order.
    let all = vi.search(txn, query, model.len() + 3).expect("search");
    let mut expected: Vec<(u64, f32)> = model
        .iter()
        .map(|(&id, v)| (id, index::dot(&unit_of(query), v)))
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let got_ids: Vec<u64> = all.iter().map(|(f, _)| f.0).collect();
    let mut got_sorted = got_ids.clone();
    got_sorted.sort_unstable();
    let mut want_sorted: Vec<u64> = model.keys().copied().collect();
    want_sorted.sort_unstable();
    assert_eq!(
        got_sorted, want_sorted,
        "exhaustive search must return exactly the live set"
    );
    for ((id, s), (_, want)) in all.iter().map(|(f, s)| (f.0, *s)).zip(&expected) {
        let exact = index::dot(&unit_of(query), &model[&id]);
        assert!(
            (s - exact).abs() < 1e-5,
            "face {id}: score {s} vs exact {exact}"
        );
        assert!((s - want).abs() < 1e-5, "rank order differs from exact");
    }
    for pair in all.windows(2) {
        let ((a, sa), (b, sb)) = (pair[0], pair[1]);
        assert!(
            sa.total_cmp(&sb).then(b.cmp(&a)).is_gt(),
            "not sorted: {pair:?}"
        );
    }

    // Small k: live faces only, ranked, and the stored vectors round-trip.
    let few = vi.search(txn, query, 3).expect("search");
    assert_eq!(few.len(), model.len().min(3));
    assert_eq!(
        few,
        all[..few.len()].to_vec(),
        "top-3 must match the exhaustive ranking"
    );
    let ids: Vec<FaceId> = (0..FACES).map(FaceId).collect();
    let got = index::get_many(txn, &ids).expect("get_many");
    for (id, v) in ids.iter().zip(got) {
        match (v, model.get(&id.0)) {
            (None, None) => {}
            (Some(v), Some(m)) => assert!(v.iter().zip(m).all(|(a, b)| (a - b).abs() < 1e-6)),
            (v, m) => panic!(
                "face {id}: stored {:?} vs model {:?}",
                v.is_some(),
                m.is_some()
            ),
        }
    }
}

fn unit_of(q: &[f32]) -> Embedding {
    index::normalized(q).expect("valid query")
}

/// Small graphs and a tiny tiering policy: segments of at most 8 faces,
/// merged 3 at a time, compacted at 30 % tombstones.
fn small_params() -> RebuildParams {
    RebuildParams {
        ef_search: 8,
        ef_construction: 16,
        policy: TierPolicy {
            delta_flush_faces: 4,
            merge_fan_in: 3,
            max_segment_faces: 8,
            compact_tombstone_fraction: 0.3,
        },
        ..RebuildParams::default()
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lib.redb");
    let mut db = open(&path);
    let mut model: HashMap<u64, Embedding> = HashMap::new();
    // The small build-time ef_search (8) exercises the exhaustive fallback.
    let mut vi = VectorIndex::new().with_ef_search(None);
    let params = small_params();
    let probe = vector(7777);
    for op in ops {
        let mut query = probe.clone();
        match op {
            Op::Put(f, s) => {
                let w = db.begin_write().expect("write");
                apply(&w, &mut model, &[(f, Some(s))]);
                // Search inside the write transaction sees its own change.
                verify(&mut vi, &w, &model, &probe);
                w.commit().expect("commit");
            }
            Op::Remove(f) => {
                let w = db.begin_write().expect("write");
                apply(&w, &mut model, &[(f, None)]);
                w.commit().expect("commit");
            }
            Op::Batch(changes) => {
                let w = db.begin_write().expect("write");
                apply(&w, &mut model, &changes);
                w.commit().expect("commit");
            }
            Op::Aborted(changes, then) => {
                let mut scratch = model.clone();
                let w = db.begin_write().expect("write");
                apply(&w, &mut scratch, &changes);
                verify(&mut vi, &w, &scratch, &probe);
                w.abort().expect("abort");
                let w = db.begin_write().expect("write");
                let puts: Vec<_> = then.into_iter().map(|(f, s)| (f, Some(s))).collect();
                apply(&w, &mut model, &puts);
                w.commit().expect("commit");
            }
            Op::Search(s) => query = vector(s),
            Op::Rebuild => {
                let delta = index::check(&db.begin_read().expect("read"))
                    .expect("check")
                    .delta;
                let r = index::rebuild(&db, params).expect("rebuild");
                if delta > 0 {
                    // A flush: a new segment over the delta's faces only.
                    assert_eq!(r.outcome, RebuildOutcome::Swapped);
                    assert!(r.step.flush_delta && r.step.segments.is_empty());
                    assert_eq!(r.segment_faces as u64, delta);
                    assert_eq!(r.new_segments as u64, delta.div_ceil(8));
                    assert_eq!(r.carried_over, 0);
                    let after = index::check(&db.begin_read().expect("read")).expect("check");
                    assert_eq!(after.delta, 0);
                } else {
                    assert_ne!(r.outcome, RebuildOutcome::Superseded);
                }
            }
            Op::Maintain => {
                for r in index::maintain(&db, params).expect("maintain") {
                    assert_eq!(r.outcome, RebuildOutcome::Swapped);
                    assert_eq!(r.carried_over, 0);
                }
                let r = db.begin_read().expect("read");
                assert_eq!(
                    index::plan(&r, &params.policy, false).expect("plan"),
                    None,
                    "maintain leaves nothing due"
                );
            }
            Op::RebuildInterleaved(changes) => {
                let prepared = index::prepare_rebuild(&db, params).expect("prepare");
                let w = db.begin_write().expect("write");
                apply(&w, &mut model, &changes);
                w.commit().expect("commit");
                // Searches between the writes and the swap see the writes.
                let r = db.begin_read().expect("read");
                verify(&mut vi, &r, &model, &probe);
                drop(r);
                let had_step = prepared.step().is_some();
                let report = prepared.commit(&db).expect("swap");
                assert_eq!(
                    report.outcome,
                    if had_step {
                        RebuildOutcome::Swapped
                    } else {
                        RebuildOutcome::NothingToDo
                    }
                );
            }
            Op::RaceRebuilds(first, second) => {
                let a = index::prepare_rebuild(&db, params).expect("prepare A");
                let w = db.begin_write().expect("write");
                apply(&w, &mut model, &first);
                w.commit().expect("commit");
                let b = index::prepare_rebuild(&db, params).expect("prepare B");
                let w = db.begin_write().expect("write");
                apply(&w, &mut model, &second);
                w.commit().expect("commit");
                let (a_step, b_step) = (a.step().is_some(), b.step().is_some());
                let a_out = a.commit(&db).expect("swap A").outcome;
                let b_out = b.commit(&db).expect("swap B").outcome;
                if a_step {
                    assert_eq!(a_out, RebuildOutcome::Swapped);
                    // B's snapshot's segments were replaced under it.
                    if b_step {
                        assert_eq!(b_out, RebuildOutcome::Superseded);
                    }
                } else {
                    assert_eq!(a_out, RebuildOutcome::NothingToDo);
                }
            }
            Op::RebuildThenRepair => {
                let prepared = index::prepare_rebuild(&db, params).expect("prepare");
                let w = db.begin_write().expect("write");
                index::repair(&w).expect("repair");
                w.commit().expect("commit");
                let had_step = prepared.step().is_some();
                let report = prepared.commit(&db).expect("swap");
                assert_eq!(
                    report.outcome,
                    if had_step {
                        RebuildOutcome::Superseded
                    } else {
                        RebuildOutcome::NothingToDo
                    }
                );
            }
            Op::Repair => {
                let w = db.begin_write().expect("write");
                let report = index::repair(&w).expect("repair");
                assert_eq!(report.indexed, model.len() as u64);
                assert!(report.removed.is_empty() && report.renormalised.is_empty());
                w.commit().expect("commit");
            }
            Op::Reopen => {
                let before = {
                    let r = db.begin_read().expect("read");
                    vi.search(&r, &probe, 5).expect("search")
                };
                drop(db);
                db = open(&path);
                vi = VectorIndex::new().with_ef_search(None);
                vi.sync(&db.begin_read().expect("read")).expect("load");
                let r = db.begin_read().expect("read");
                assert_eq!(
                    vi.search(&r, &probe, 5).expect("search"),
                    before,
                    "results changed across reopen"
                );
            }
        }
        let r = db.begin_read().expect("read");
        verify(&mut vi, &r, &model, &query);
        // A fresh cache agrees with the long-lived one.
        let mut fresh = VectorIndex::new().with_ef_search(Some(3));
        fresh.sync(&r).expect("load");
        assert_eq!(
            fresh.search(&r, &query, 4).expect("search"),
            vi.search(&r, &query, 4).expect("search")
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}

#[test]
fn rejects_bad_vectors_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("lib.redb"));
    let w = db.begin_write().expect("write");
    assert!(matches!(
        index::put(&w, FaceId(1), &[1.0; 3]),
        Err(index::IndexError::InvalidVector(
            index::VectorError::WrongDimension(3)
        ))
    ));
    assert!(matches!(
        index::put(&w, FaceId(1), &[0.0; EMBEDDING_DIM]),
        Err(index::IndexError::InvalidVector(
            index::VectorError::ZeroLength
        ))
    ));
    let mut v = vector(1);
    v[3] = f32::INFINITY;
    assert!(matches!(
        index::put(&w, FaceId(1), &v),
        Err(index::IndexError::InvalidVector(
            index::VectorError::NotFinite(3)
        ))
    ));
    assert!(!index::remove(&w, FaceId(1)).expect("remove"));
    assert_eq!(index::get(&w, FaceId(1)).expect("get"), None);
    let report = index::check(&w).expect("check");
    assert_eq!(report.embeddings, 0);
    assert!(report.is_consistent());
    let mut vi = VectorIndex::new();
    assert!(vi.search(&w, &[0.0; EMBEDDING_DIM], 3).is_err());
}

#[test]
fn a_lost_tombstone_is_reported_and_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("lib.redb"));
    let w = db.begin_write().expect("write");
    for f in 0..10 {
        index::put(&w, FaceId(f), &vector(f)).expect("put");
    }
    w.commit().expect("commit");
    index::rebuild(&db, RebuildParams::default()).expect("rebuild");
    let w = db.begin_write().expect("write");
    index::put(&w, FaceId(3), &vector(99)).expect("replace");
    // Simulate a bug: the replace did not retire face 3's segment position,
    // so face 3 is now indexed twice.
    let segment = {
        let r = db.begin_read().expect("read");
        r.open_table(index::SEGMENTS)
            .expect("open")
            .first()
            .expect("first")
            .expect("one segment")
            .0
            .value()
    };
    w.open_table(index::TOMBSTONES)
        .expect("open")
        .remove((3, segment))
        .expect("remove");
    w.open_table(index::SEGMENT_FACES)
        .expect("open")
        .insert(3, segment)
        .expect("insert");
    let report = index::check(&w).expect("check");
    assert!(
        report
            .problems
            .contains(&index::IndexProblem::IndexedTwice(FaceId(3))),
        "{report:?}"
    );
    let repaired = index::repair(&w).expect("repair");
    assert_eq!(repaired.indexed, 10);
    assert!(index::check(&w).expect("check").is_consistent());
    w.commit().expect("commit");
}

/// A search given an older read transaction answers for that snapshot,
/// even after the cache moved on to a newer one (and back again).
#[test]
fn older_snapshots_are_answered_for_their_own_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("lib.redb"));
    let mut model = HashMap::new();
    let w = db.begin_write().expect("write");
    apply(
        &w,
        &mut model,
        &(0..20).map(|f| (f, Some(f))).collect::<Vec<_>>(),
    );
    w.commit().expect("commit");
    index::rebuild(&db, RebuildParams::default()).expect("rebuild");
    let old_model = model.clone();
    let old = db.begin_read().expect("read");

    let w = db.begin_write().expect("write");
    apply(&w, &mut model, &[(3, None), (4, Some(100)), (30, Some(30))]);
    w.commit().expect("commit");
    index::rebuild(&db, RebuildParams::default()).expect("rebuild");
    let w = db.begin_write().expect("write");
    apply(&w, &mut model, &[(5, None), (31, Some(31))]);
    w.commit().expect("commit");
    let new = db.begin_read().expect("read");

    let mut vi = VectorIndex::new();
    let probe = vector(4);
    for _ in 0..2 {
        verify(&mut vi, &new, &model, &probe);
        verify(&mut vi, &old, &old_model, &probe);
    }
}

/// Several segments through their whole life with the tiny policy: flushes
/// of a few faces each, merges of similar sizes, a compaction of a segment
/// with many tombstones and the drop of a segment with none live. After
/// each step every live face is found exactly once and no removed one.
#[test]
fn segments_flush_merge_compact_and_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("lib.redb"));
    let params = small_params();
    let mut model = HashMap::new();
    let mut vi = VectorIndex::new();
    let probe = vector(4242);
    let segments = |db: &Database| index::check(&db.begin_read().expect("read")).expect("check");
    // 12 flushes of 2 faces: 12 segments, nothing merged yet.
    for batch in 0..12u64 {
        let w = db.begin_write().expect("write");
        apply(
            &w,
            &mut model,
            &[
                (2 * batch, Some(2 * batch)),
                (2 * batch + 1, Some(2 * batch + 1)),
            ],
        );
        w.commit().expect("commit");
        let r = index::rebuild(&db, params).expect("flush");
        assert_eq!((r.segment_faces, r.new_segments), (2, 1));
    }
    assert_eq!(segments(&db).segments, 12);
    verify(&mut vi, &db.begin_read().expect("read"), &model, &probe);

    // Merges: 3 segments of 2 into one of 6, until no tier holds 3 that fit.
    let reports = index::maintain(&db, params).expect("maintain");
    assert!(
        reports
            .iter()
            .all(|r| r.outcome == RebuildOutcome::Swapped && r.step.segments.len() >= 2)
    );
    let merged = segments(&db);
    assert!(merged.segments < 12, "{merged:?}");
    assert_eq!(merged.segment_faces, 24);
    verify(&mut vi, &db.begin_read().expect("read"), &model, &probe);

    // A big delta splits into segments of at most 8 faces.
    let w = db.begin_write().expect("write");
    let many: Vec<_> = (100..120).map(|f| (f, Some(f))).collect();
    apply(&w, &mut model, &many);
    w.commit().expect("commit");
    let r = index::rebuild(&db, params).expect("flush");
    assert_eq!((r.segment_faces, r.new_segments), (20, 3));
    verify(&mut vi, &db.begin_read().expect("read"), &model, &probe);
    index::maintain(&db, params).expect("maintain");

    // Remove most of one segment's faces: it is compacted (or dropped).
    let (victim, faces) = {
        let r = db.begin_read().expect("read");
        let live = r.live_positions().expect("live");
        let seg = live[0].1;
        let faces: Vec<u64> = live
            .iter()
            .filter(|&&(_, s)| s == seg)
            .map(|&(f, _)| f)
            .collect();
        (seg, faces)
    };
    let w = db.begin_write().expect("write");
    let removals: Vec<_> = faces[..faces.len() - 1]
        .iter()
        .map(|&f| (f, None))
        .collect();
    apply(&w, &mut model, &removals);
    // One replaced: it moves to the delta, found once by its new vector.
    apply(&w, &mut model, &[(faces[faces.len() - 1], Some(999))]);
    w.commit().expect("commit");
    let r = db.begin_read().expect("read");
    assert_eq!(
        index::plan(&r, &params.policy, false).expect("plan"),
        Some(index::RebuildStep {
            flush_delta: false,
            segments: vec![victim]
        }),
        "a segment with no live face is dropped first"
    );
    verify(&mut vi, &r, &model, &probe);
    drop(r);
    index::maintain(&db, params).expect("maintain");
    let r = db.begin_read().expect("read");
    let after = index::check(&r).expect("check");
    assert!(after.is_consistent(), "{after:?}");
    assert!(
        r.segments()
            .expect("segments")
            .iter()
            .all(|(id, info)| *id != victim && (info.tombstones as f64) < 0.3 * info.points as f64)
    );
    verify(&mut vi, &r, &model, &probe);
    let hit = vi.search(&r, &vector(999), 1).expect("search");
    assert_eq!(hit[0].0, FaceId(faces[faces.len() - 1]));
}

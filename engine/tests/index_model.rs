//! Property test: random sequences of index operations against an
//! in-memory reference model (a `HashMap` of unit vectors).
//!
//! After every step: `check` passes, an exhaustive search (k ≥ live count)
//! returns exactly the live set with exact similarities in the documented
//! order, and small-k searches return only live faces, ranked. Rebuilds
//! include ones whose snapshot is taken, then more writes commit, then the
//! swap commits; aborted write transactions must not leak into later
//! searches; reopening the file gives the same results.

use likeness_engine::index::{
    self, IndexTxn, RebuildOutcome, RebuildParams, VectorIndex, synthetic::SynthRng,
};
use likeness_engine::{EMBEDDING_DIM, Embedding, FaceId};
use proptest::prelude::*;
use redb::{Database, ReadableDatabase};
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
        1 => Just(Op::Rebuild),
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

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lib.redb");
    let mut db = open(&path);
    let mut model: HashMap<u64, Embedding> = HashMap::new();
    // The small build-time ef_search (8) exercises the exhaustive fallback.
    let mut vi = VectorIndex::new().with_ef_search(None);
    let params = RebuildParams {
        ef_search: 8,
        ef_construction: 16,
        ..RebuildParams::default()
    };
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
                let r = index::rebuild(&db, params).expect("rebuild");
                assert_eq!(r.outcome, RebuildOutcome::Swapped);
                assert_eq!(r.segment_faces, model.len());
                assert_eq!(r.carried_over, 0);
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
                let report = prepared.commit(&db).expect("swap");
                assert_eq!(report.outcome, RebuildOutcome::Swapped);
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
                assert_eq!(
                    a.commit(&db).expect("swap A").outcome,
                    RebuildOutcome::Swapped
                );
                assert_eq!(
                    b.commit(&db).expect("swap B").outcome,
                    RebuildOutcome::Superseded
                );
            }
            Op::RebuildThenRepair => {
                let prepared = index::prepare_rebuild(&db, params).expect("prepare");
                let w = db.begin_write().expect("write");
                index::repair(&w).expect("repair");
                w.commit().expect("commit");
                let report = prepared.commit(&db).expect("swap");
                assert_eq!(report.outcome, RebuildOutcome::Superseded);
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
    // Simulate a bug: the tombstone is lost, face 3 is now indexed twice.
    w.open_table(index::TOMBSTONES)
        .expect("open")
        .remove(3)
        .expect("remove");
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

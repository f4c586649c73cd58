//! CI-sized quality and concurrency tests of the vector index on seeded
//! synthetic clustered embeddings (faces of people).

use likeness_engine::FaceId;
use likeness_engine::index::{
    self, RebuildOutcome, RebuildParams, VectorIndex,
    synthetic::{clustered, clustered_skewed, exact_top_k},
};
use redb::{Database, ReadableDatabase};
use std::collections::HashSet;
use std::sync::Arc;

const K: usize = 10;

fn open(path: &std::path::Path) -> Database {
    let db = Database::create(path).expect("create db");
    let w = db.begin_write().expect("write");
    index::create_tables(&w).expect("tables");
    w.commit().expect("commit");
    db
}

/// Recall@10 of the default index against exact search, over a segment
/// of 6,000 faces plus a delta of 600 added after the build.
#[test]
fn recall_at_10_is_at_least_0_99() {
    recall_over_segments(RebuildParams::default(), 1);
}

/// The same over three segments of 2,000 (a cap of 2,500 splits the
/// flush), plus a delta, with a tenth of the first segment's faces
/// replaced (tombstoned there, found in the delta).
#[test]
fn recall_at_10_over_several_segments_is_at_least_0_99() {
    let mut params = RebuildParams::default();
    params.policy.max_segment_faces = 2500;
    recall_over_segments(params, 3);
}

fn recall_over_segments(params: RebuildParams, segments: u64) {
    let n_segment = 6000;
    let n_delta = 600;
    let n_queries = 200;
    // Skewed cluster sizes: the harder data set.
    let mut data = clustered_skewed(n_segment + n_delta + n_queries, 330, 1.0, 11);
    let queries = data.split_off(n_segment + n_delta);

    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("lib.redb"));
    let w = db.begin_write().expect("write");
    for (i, v) in data[..n_segment].iter().enumerate() {
        index::put(&w, FaceId(i as u64), v).expect("put");
    }
    w.commit().expect("commit");
    let report = index::rebuild(&db, params).expect("rebuild");
    assert_eq!(report.outcome, RebuildOutcome::Swapped);
    assert_eq!(report.segment_faces, n_segment);
    assert_eq!(report.new_segments as u64, segments);
    let w = db.begin_write().expect("write");
    for (i, v) in data.iter().enumerate().skip(n_segment) {
        index::put(&w, FaceId(i as u64), v).expect("put");
    }
    let mut replaced = 0usize;
    if segments > 1 {
        // Replace faces by their own vector: tombstoned in their segment,
        // now in the delta, and still the right answers.
        for i in (0..2000).step_by(10) {
            index::put(&w, FaceId(i as u64), &data[i]).expect("replace");
            replaced += 1;
        }
    }
    w.commit().expect("commit");

    let r = db.begin_read().expect("read");
    let counts = index::check(&r).expect("check");
    assert!(counts.is_consistent(), "{counts:?}");
    assert_eq!(
        (
            counts.segments,
            counts.segment_faces,
            counts.delta,
            counts.tombstones
        ),
        (
            segments,
            n_segment as u64,
            (n_delta + replaced) as u64,
            replaced as u64
        )
    );

    // Recall of the graph itself: no exact scan of the small segment.
    let mut vi = VectorIndex::load(&r)
        .expect("load")
        .with_exact_scan_max_faces(0);
    let mut found = 0;
    let mut from_delta = 0;
    for q in &queries {
        let truth: HashSet<u64> = exact_top_k(&data, q, K)
            .into_iter()
            .map(|(i, _)| i as u64)
            .collect();
        let got = vi.search(&r, q, K).expect("search");
        assert_eq!(got.len(), K);
        found += got.iter().filter(|(f, _)| truth.contains(&f.0)).count();
        from_delta += got.iter().filter(|(f, _)| f.0 >= n_segment as u64).count();
    }
    let recall = found as f64 / (queries.len() * K) as f64;
    println!("recall@{K} = {recall:.4} ({from_delta} hits from the delta)");
    assert!(recall >= 0.99, "recall@{K} = {recall:.4}");
    assert!(from_delta > 0, "delta faces must be found too");
}

/// A rebuild on a background thread while the foreground keeps committing
/// single-face changes: nothing lost, nothing duplicated, and the swap
/// never waits for the build.
#[test]
fn background_rebuild_races_foreground_writes() {
    let data = clustered(3000, 150, 1.0, 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(open(&dir.path().join("lib.redb")));
    let w = db.begin_write().expect("write");
    for (i, v) in data[..2000].iter().enumerate() {
        index::put(&w, FaceId(i as u64), v).expect("put");
    }
    w.commit().expect("commit");

    let bg = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || index::rebuild(&db, RebuildParams::default()))
    };
    let mut live: HashSet<u64> = (0..2000).collect();
    let mut vi = VectorIndex::new();
    for step in 0..300u64 {
        let w = db.begin_write().expect("write");
        match step % 3 {
            // Add a new face.
            0 => {
                let f = 2000 + step;
                index::put(&w, FaceId(f), &data[f as usize]).expect("put");
                live.insert(f);
            }
            // Replace a segment face's embedding.
            1 => index::put(&w, FaceId(step), &data[2999 - step as usize]).expect("replace"),
            // Remove one.
            _ => {
                assert!(index::remove(&w, FaceId(step)).expect("remove"));
                live.remove(&step);
            }
        }
        w.commit().expect("commit");
        if step % 50 == 0 {
            let r = db.begin_read().expect("read");
            let got = vi.search(&r, &data[7], 5).expect("search");
            assert!(got.iter().all(|(f, _)| live.contains(&f.0)));
        }
    }
    let report = bg.join().expect("thread").expect("rebuild");
    assert_eq!(report.outcome, RebuildOutcome::Swapped);

    let r = db.begin_read().expect("read");
    let check = index::check(&r).expect("check");
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!(check.embeddings, live.len() as u64);
    let all = vi.search(&r, &data[7], live.len() + 10).expect("search");
    let ids: Vec<u64> = all.iter().map(|(f, _)| f.0).collect();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a face was returned twice");
    assert_eq!(
        unique, live,
        "exhaustive search must return exactly the live faces"
    );
    // Replaced faces are found by their new vector.
    let hit = vi.search(&r, &data[2999 - 1], 1).expect("search");
    assert_eq!(hit[0].0, FaceId(1));
    assert!((hit[0].1 - 1.0).abs() < 1e-5);
}

/// The flush policy: nothing to do right after a flush, due once the
/// delta reaches `DELTA_FLUSH_FACES`; a flush covers the delta only.
#[test]
fn needs_rebuild_follows_the_delta_policy() {
    let flush = index::DELTA_FLUSH_FACES as usize;
    let data = clustered(flush + 100, 40, 1.0, 9);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("lib.redb"));
    let w = db.begin_write().expect("write");
    for (i, v) in data[..100].iter().enumerate() {
        index::put(&w, FaceId(i as u64), v).expect("put");
    }
    w.commit().expect("commit");
    assert!(!index::needs_rebuild(&db.begin_read().expect("read")).expect("policy"));
    let first = index::rebuild(&db, RebuildParams::default()).expect("rebuild");
    assert_eq!(first.segment_faces, 100);
    let w = db.begin_write().expect("write");
    for (i, v) in data.iter().enumerate().skip(100).take(flush - 1) {
        index::put(&w, FaceId(i as u64), v).expect("put");
    }
    assert!(!index::needs_rebuild(&w).expect("policy"));
    index::put(&w, FaceId(99_999), &data[data.len() - 1]).expect("put");
    assert!(index::needs_rebuild(&w).expect("policy"));
    w.commit().expect("commit");
    let reports = index::maintain(&db, RebuildParams::default()).expect("maintain");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0].segment_faces, flush,
        "the flush builds the delta only"
    );
    let r = db.begin_read().expect("read");
    let report = index::check(&r).expect("check");
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!((report.segments, report.delta), (2, 0));
    assert!(!index::needs_rebuild(&r).expect("policy"));
}

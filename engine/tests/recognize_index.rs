//! Clustering with the kNN graph taken from the library's vector index
//! (HNSW segment + exact delta, `VectorIndex::search`) gives the same
//! quality on the reference embeddings as the exact graph.

use likeness_engine::FaceId;
use likeness_engine::index::{self, RebuildOutcome, RebuildParams, VectorIndex};
use likeness_engine::recognize::eval::{ReferenceFace, load_reference, score};
use likeness_engine::recognize::{Clustering, FaceRef, KnnGraph, RecognitionSettings};
use likeness_testkit::reference_jsonl;
use redb::{Database, ReadableDatabase};

#[test]
fn clusters_from_the_vector_index_match_the_exact_graph() {
    let faces: Vec<ReferenceFace> = load_reference(&reference_jsonl())
        .expect("reference parses")
        .into_iter()
        .filter(|f| f.path.starts_with("people/") || f.path.starts_with("group/"))
        .collect();
    let refs: Vec<FaceRef<'_>> = faces.iter().map(ReferenceFace::face_ref).collect();
    let labels: Vec<(FaceId, &str)> = faces
        .iter()
        .filter_map(|f| f.label.as_deref().map(|l| (f.id, l)))
        .collect();

    // Two thirds in the HNSW segment, the rest in the delta.
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Database::create(tmp.path().join("lib.redb")).expect("create db");
    let split = refs.len() * 2 / 3;
    let w = db.begin_write().expect("write");
    index::create_tables(&w).expect("tables");
    for f in &refs[..split] {
        index::put(&w, f.id, f.embedding).expect("put");
    }
    w.commit().expect("commit");
    let report = index::rebuild(&db, RebuildParams::default()).expect("rebuild");
    assert_eq!(report.outcome, RebuildOutcome::Swapped);
    let w = db.begin_write().expect("write");
    for f in &refs[split..] {
        index::put(&w, f.id, f.embedding).expect("put");
    }
    w.commit().expect("commit");

    let s = RecognitionSettings::default();
    let r = db.begin_read().expect("read");
    let mut vi = VectorIndex::load(&r).expect("load");
    let graph = KnnGraph::from_search(&refs, s.knn_k, |f, k| vi.search(&r, f.embedding, k))
        .expect("search");
    let exact = KnnGraph::exact(&refs, &refs, s.knn_k);

    let groups = |g: &KnnGraph| {
        let mut c = Clustering::new(s.cluster_link);
        c.add(&refs, g).expect("valid");
        c.groups(s.min_group_size)
            .into_iter()
            .flat_map(|g| g.faces.into_iter().map(move |f| (f, g.id.0)))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let from_index = score(&labels, &groups(&graph));
    let from_exact = score(&labels, &groups(&exact));
    assert!(from_index.bcubed_f >= 0.98, "{from_index:?}");
    assert!(
        (from_index.bcubed_f - from_exact.bcubed_f).abs() < 0.005,
        "index {from_index:?} vs exact {from_exact:?}"
    );
}

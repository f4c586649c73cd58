//! Recognition on the real reference embeddings (`$LIKENESS_SHARED`, else
//! `<workspace>/../shared`): our groups beat DBSCAN with Immich's defaults
//! and reach `BCubed` F ≥ 0.98; a simulated user names ≥ 95 % of the
//! labelled faces correctly with ≤ 3 actions per person and no face ever
//! moves against a user decision.

use likeness_engine::FaceId;
use likeness_engine::recognize::RecognitionSettings;
use likeness_engine::recognize::eval::{
    ReferenceFace, cluster_faces, dbscan, load_reference, score, simulate_user,
};
use likeness_testkit::reference_jsonl;

fn reference() -> Vec<ReferenceFace> {
    load_reference(&reference_jsonl())
        .expect("reference embeddings parse")
        .into_iter()
        .filter(|f| f.path.starts_with("people/") || f.path.starts_with("group/"))
        .collect()
}

#[test]
fn groups_beat_dbscan_and_reach_the_goal() {
    let faces = reference();
    let refs: Vec<_> = faces.iter().map(ReferenceFace::face_ref).collect();
    let labels: Vec<(FaceId, &str)> = faces
        .iter()
        .filter_map(|f| f.label.as_deref().map(|l| (f.id, l)))
        .collect();
    assert!(labels.len() > 400, "{} labelled faces", labels.len());
    let ours = score(
        &labels,
        &cluster_faces(&refs, &RecognitionSettings::default()).expect("clusters"),
    );
    let baseline = score(&labels, &dbscan(&refs, 0.5, 3));
    assert!(
        ours.bcubed_f >= 0.98,
        "BCubed F {:.3} < 0.98 ({ours:?})",
        ours.bcubed_f
    );
    assert!(
        ours.bcubed_f > baseline.bcubed_f,
        "ours {ours:?} vs DBSCAN {baseline:?}"
    );
    assert!(
        ours.pair_f > baseline.pair_f,
        "ours {ours:?} vs DBSCAN {baseline:?}"
    );
}

#[test]
fn simulated_user_names_most_faces_with_few_actions() {
    let faces = reference();
    let r = simulate_user(&faces, &RecognitionSettings::default(), 5).expect("simulation runs");
    assert_eq!(
        r.violations, 0,
        "a face moved against a user decision: {r:?}"
    );
    let correct = r.correct as f64 / r.labelled as f64;
    assert!(
        correct >= 0.95,
        "only {:.1} % named correctly: {r:?}",
        100.0 * correct
    );
    assert!(r.actions as f64 / r.persons as f64 <= 3.0, "{r:?}");
    assert!(
        r.wrong * 100 <= r.labelled,
        "more than 1 % named wrongly: {r:?}"
    );
}

//! Recognition rules on small hand-made data: decisions honour user
//! decisions, rejections, birth dates and same-photo cannot-link; the
//! review queue order; clustering determinism and cannot-link.

use std::collections::BTreeMap;

use likeness_engine::index::synthetic::{SynthRng, clustered};
use likeness_engine::recognize::{
    Candidate, CivilDate, Clustering, Decision, FaceRef, FaceState, KnnGraph, PersonModel,
    RecognitionSettings, ReviewItem, decide, decide_all, review_queue,
};
use likeness_engine::{FaceId, PersonId, PhotoId};

fn photo(n: u64) -> PhotoId {
    PhotoId::of_bytes(&n.to_le_bytes())
}

fn person_and_face() -> (Vec<Vec<f32>>, PersonModel) {
    let data = clustered(12, 1, 0.6, 3);
    let refs: Vec<FaceRef<'_>> = data[..10]
        .iter()
        .enumerate()
        .map(|(i, e)| FaceRef {
            id: FaceId(i as u64),
            photo: photo(i as u64),
            embedding: e,
        })
        .collect();
    let model = PersonModel::build(PersonId(1), &refs, &RecognitionSettings::default())
        .expect("ten faces make a model");
    (data, model)
}

#[test]
fn a_close_face_is_auto_assigned_unless_a_user_rule_forbids_it() {
    let (data, model) = person_and_face();
    let s = RecognitionSettings::default();
    let face = FaceRef {
        id: FaceId(100),
        photo: photo(100),
        embedding: &data[11],
    };
    let mut c = Candidate {
        face,
        state: FaceState::Unknown,
        taken: None,
        rejected: &[],
    };
    let births = BTreeMap::new();
    let d = decide(&c, std::slice::from_ref(&model), &births, &s).expect("unknown face is decided");
    assert!(
        matches!(
            d,
            Decision::Auto {
                person: PersonId(1),
                ..
            }
        ),
        "{d:?}"
    );
    assert!(d.confidence() > 0.0 && d.confidence() <= 1.0);

    // Rejected for that person: never proposed again.
    let rejected = [PersonId(1)];
    c.rejected = &rejected;
    assert_eq!(
        decide(&c, std::slice::from_ref(&model), &births, &s),
        Some(Decision::Unknown)
    );
    c.rejected = &[];

    // Taken before the birth date: never proposed; after it: fine.
    let births: BTreeMap<_, _> =
        [(PersonId(1), CivilDate::parse("2000-01-01").expect("date"))].into();
    c.taken = CivilDate::parse("1999:12:31 10:00:00");
    assert_eq!(
        decide(&c, std::slice::from_ref(&model), &births, &s),
        Some(Decision::Unknown)
    );
    c.taken = CivilDate::parse("2000:01:01 10:00:00");
    assert!(matches!(
        decide(&c, std::slice::from_ref(&model), &births, &s),
        Some(Decision::Auto { .. })
    ));

    // The user's faces are never touched.
    for state in [FaceState::User(PersonId(2)), FaceState::Ignored] {
        c.state = state;
        assert_eq!(decide(&c, std::slice::from_ref(&model), &births, &s), None);
    }
}

#[test]
fn two_faces_of_one_photo_never_go_to_one_person() {
    let (data, model) = person_and_face();
    let s = RecognitionSettings::default();
    let a = FaceRef {
        id: FaceId(100),
        photo: photo(500),
        embedding: &data[10],
    };
    let b = FaceRef {
        id: FaceId(101),
        photo: photo(500),
        embedding: &data[11],
    };
    let cands = [a, b].map(|face| Candidate {
        face,
        state: FaceState::Unknown,
        taken: None,
        rejected: &[],
    });
    let out = decide_all(&cands, std::slice::from_ref(&model), &BTreeMap::new(), &s);
    let proposed = out.iter().filter(|(_, d)| d.person().is_some()).count();
    assert_eq!(proposed, 1, "{out:?}");
    // A photo that already holds a confirmed face of the person.
    let c = FaceRef {
        id: FaceId(102),
        photo: photo(3),
        embedding: &data[11],
    };
    let cand = Candidate {
        face: c,
        state: FaceState::Unknown,
        taken: None,
        rejected: &[],
    };
    assert_eq!(
        decide(&cand, std::slice::from_ref(&model), &BTreeMap::new(), &s),
        Some(Decision::Unknown)
    );
}

#[test]
fn review_queue_is_confidence_then_id() {
    let item = |f, c| ReviewItem {
        face: FaceId(f),
        person: PersonId(1),
        confidence: c,
    };
    let other = ReviewItem {
        face: FaceId(1),
        person: PersonId(2),
        confidence: 0.9,
    };
    let q = review_queue(
        &[item(5, 0.4), other, item(3, 0.6), item(2, 0.4)],
        PersonId(1),
    );
    let order: Vec<u64> = q.iter().map(|i| i.face.0).collect();
    assert_eq!(order, vec![3, 2, 5]);
}

fn random_faces(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<PhotoId>) {
    let data = clustered(n, 6, 0.9, seed);
    let mut rng = SynthRng::new(seed);
    // About a third of the faces share a photo with another face.
    let photos = (0..n).map(|_| photo(rng.below(n as u64 * 2 / 3))).collect();
    (data, photos)
}

fn groups_of(refs: &[FaceRef<'_>], s: &RecognitionSettings) -> Vec<Vec<FaceId>> {
    let graph = KnnGraph::exact(refs, refs, s.knn_k);
    let mut c = Clustering::new(s.cluster_link);
    c.add(refs, &graph).expect("valid input");
    c.groups(1).into_iter().map(|g| g.faces).collect()
}

#[test]
fn clustering_is_order_independent_and_respects_cannot_link() {
    let s = RecognitionSettings::default();
    let (data, photos) = random_faces(300, 11);
    let refs: Vec<FaceRef<'_>> = data
        .iter()
        .zip(&photos)
        .enumerate()
        .map(|(i, (e, p))| FaceRef {
            id: FaceId(i as u64 * 7 % 307),
            photo: *p,
            embedding: e,
        })
        .collect();
    let forward = groups_of(&refs, &s);
    let mut reversed = refs.clone();
    reversed.reverse();
    assert_eq!(forward, groups_of(&reversed, &s));
    assert!(forward.iter().any(|g| g.len() >= 10), "clusters were found");
    let photo_of: BTreeMap<FaceId, PhotoId> = refs.iter().map(|f| (f.id, f.photo)).collect();
    for g in &forward {
        let mut seen = std::collections::HashSet::new();
        assert!(
            g.iter().all(|f| seen.insert(photo_of[f])),
            "two faces of one photo in a group"
        );
    }
}

#[test]
fn new_faces_join_existing_groups() {
    let s = RecognitionSettings::default();
    let data = clustered(200, 4, 0.9, 5);
    let refs: Vec<FaceRef<'_>> = data
        .iter()
        .enumerate()
        .map(|(i, e)| FaceRef {
            id: FaceId(i as u64),
            photo: photo(i as u64),
            embedding: e,
        })
        .collect();
    let (old, new) = refs.split_at(150);
    let mut c = Clustering::new(s.cluster_link);
    c.add(old, &KnnGraph::exact(old, old, s.knn_k))
        .expect("valid");
    let before = c.groups(s.min_group_size);
    c.add(new, &KnnGraph::exact(new, &refs, s.knn_k))
        .expect("valid");
    let after = c.groups(s.min_group_size);
    // Every old group keeps its id and all its faces; new faces joined.
    for g in &before {
        let now = after
            .iter()
            .find(|a| a.id == g.id)
            .expect("old group keeps its id");
        assert!(g.faces.iter().all(|f| now.faces.contains(f)));
    }
    let joined = new
        .iter()
        .filter(|f| before.iter().any(|g| Some(g.id) == c.group_of(f.id)))
        .count();
    assert!(
        joined >= 45,
        "only {joined} of 50 new faces joined old groups"
    );
}

#[test]
fn a_restored_clustering_continues_like_the_original() {
    let s = RecognitionSettings::default();
    let (data, photos) = random_faces(240, 21);
    let refs: Vec<FaceRef<'_>> = data
        .iter()
        .zip(&photos)
        .enumerate()
        .map(|(i, (e, p))| FaceRef {
            id: FaceId(i as u64),
            photo: *p,
            embedding: e,
        })
        .collect();
    let (old, new) = refs.split_at(180);
    let mut original = Clustering::new(s.cluster_link);
    original
        .add(old, &KnnGraph::exact(old, old, s.knn_k))
        .expect("valid");
    let stored: Vec<_> = old.iter().map(|f| (*f, original.group_of(f.id))).collect();
    let mut restored = Clustering::restore(s.cluster_link, &stored).expect("valid");
    assert_eq!(restored.groups(1), original.groups(1));
    let graph = KnnGraph::exact(new, &refs, s.knn_k);
    original.add(new, &graph).expect("valid");
    restored.add(new, &graph).expect("valid");
    let (a, b) = (
        original.groups(s.min_group_size),
        restored.groups(s.min_group_size),
    );
    assert_eq!(a.len(), b.len());
    // Sums may differ in the last bit (addition order), so compare sets.
    let same = a.iter().filter(|g| b.contains(g)).count();
    assert!(same + 1 >= a.len(), "{same} of {} groups equal", a.len());
}

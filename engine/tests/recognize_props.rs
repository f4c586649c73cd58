//! Property test: random user decisions interleaved with adding faces,
//! re-clustering and re-deciding never violate a user decision or a
//! cannot-link.

use std::collections::{BTreeMap, HashMap, HashSet};

use likeness_engine::index::synthetic::clustered;
use likeness_engine::recognize::eval::violations;
use likeness_engine::recognize::{
    Candidate, CivilDate, Clustering, Decision, FaceRef, FaceState, KnnGraph, PersonModel,
    RecognitionSettings, decide_all,
};
use likeness_engine::{FaceId, PersonId, PhotoId};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Import this many faces (from the pool, in order).
    Add(usize),
    /// The user assigns face (index mod faces) to person.
    Assign(usize, u64),
    /// The user rejects a face for a person (unassigning it if it was theirs).
    Reject(usize, u64),
    /// The user ignores a face.
    Ignore(usize),
    /// The user sets a person's birth date (year).
    Birth(u64, i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1usize..25).prop_map(Op::Add),
        (any::<usize>(), 1u64..4).prop_map(|(f, p)| Op::Assign(f, p)),
        (any::<usize>(), 1u64..4).prop_map(|(f, p)| Op::Reject(f, p)),
        any::<usize>().prop_map(Op::Ignore),
        (1u64..4, 2000i32..2020).prop_map(|(p, y)| Op::Birth(p, y)),
    ]
}

const POOL: usize = 160;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn user_decisions_and_cannot_link_always_hold(seed in 0u64..1000, ops in prop::collection::vec(op(), 1..30)) {
        let s = RecognitionSettings { min_group_size: 2, ..RecognitionSettings::default() };
        let pool = clustered(POOL, 4, 0.9, seed);
        // Photos hold 1-3 faces; years 1995-2024.
        let photo = |i: usize| PhotoId::of_bytes(&(((i as u64 * 7) ^ seed) % 97).to_le_bytes());
        let taken = |i: usize| CivilDate { year: 1995 + ((i as u64 * 13 + seed) % 30) as i32, month: 6, day: 1 };
        let face = |i: usize| FaceRef { id: FaceId(i as u64 + 1), photo: photo(i), embedding: &pool[i] };

        let mut added = 0usize;
        let mut state: BTreeMap<FaceId, FaceState> = BTreeMap::new();
        let mut user: HashMap<FaceId, PersonId> = HashMap::new();
        let mut rejected: HashMap<FaceId, Vec<PersonId>> = HashMap::new();
        let mut births: BTreeMap<PersonId, CivilDate> = BTreeMap::new();
        let mut clustering = Clustering::new(s.cluster_link);

        for op in ops {
            match op {
                Op::Add(n) => {
                    let end = (added + n).min(POOL);
                    for i in added..end { state.insert(face(i).id, FaceState::Unknown); }
                    added = end;
                }
                Op::Assign(f, p) | Op::Reject(f, p) if added > 0 => {
                    let i = f % added;
                    let id = face(i).id;
                    let p = PersonId(p);
                    if matches!(op, Op::Assign(..)) {
                        if rejected.get(&id).is_some_and(|r| r.contains(&p)) { continue; }
                        user.insert(id, p);
                        state.insert(id, FaceState::User(p));
                        // The store removes a user's face from the clustering.
                        clustering.remove(id, &pool[i]);
                    } else {
                        rejected.entry(id).or_default().push(p);
                        if user.get(&id) == Some(&p) {
                            user.remove(&id);
                            state.insert(id, FaceState::Unknown);
                        }
                        if state.get(&id) == Some(&FaceState::Auto(p)) {
                            state.insert(id, FaceState::Unknown);
                        }
                    }
                }
                Op::Ignore(f) if added > 0 => {
                    let i = f % added;
                    let id = face(i).id;
                    user.remove(&id);
                    state.insert(id, FaceState::Ignored);
                    clustering.remove(id, &pool[i]);
                }
                Op::Birth(p, y) => { births.insert(PersonId(p), CivilDate { year: y, month: 1, day: 1 }); }
                _ => {}
            }

            // Re-decide everything the user does not own.
            let mut confirmed: BTreeMap<PersonId, Vec<FaceRef<'_>>> = BTreeMap::new();
            for (&id, &p) in &user { confirmed.entry(p).or_default().push(face(id.0 as usize - 1)); }
            let models: Vec<PersonModel> = confirmed.iter().filter_map(|(p, fs)| PersonModel::build(*p, fs, &s)).collect();
            let empty = Vec::new();
            let cands: Vec<Candidate<'_>> = (0..added).map(|i| Candidate {
                face: face(i),
                state: state[&face(i).id],
                taken: Some(taken(i)),
                rejected: rejected.get(&face(i).id).unwrap_or(&empty),
            }).collect();
            let decisions = decide_all(&cands, &models, &births, &s);
            let mut per_photo: HashSet<(PhotoId, PersonId)> = HashSet::new();
            for (&id, &p) in &user { per_photo.insert((face(id.0 as usize - 1).photo, p)); }
            for (id, d) in decisions {
                let i = id.0 as usize - 1;
                prop_assert!(!user.contains_key(&id) && state[&id] != FaceState::Ignored, "decided a user's face");
                if let Some(p) = d.person() {
                    prop_assert!(!rejected.get(&id).is_some_and(|r| r.contains(&p)), "proposed a rejected person");
                    prop_assert!(births.get(&p).is_none_or(|b| taken(i) >= *b), "proposed before birth");
                    prop_assert!(per_photo.insert((face(i).photo, p)), "two faces of one photo for one person");
                }
                state.insert(id, match d { Decision::Auto { person, .. } => FaceState::Auto(person), _ => FaceState::Unknown });
            }
            prop_assert_eq!(violations(&state, &user, &rejected), 0);

            // Re-cluster incrementally: the unknown faces not yet clustered.
            let unknown: Vec<FaceRef<'_>> = (0..added).map(face).filter(|f| state[&f.id] == FaceState::Unknown).collect();
            let new: Vec<FaceRef<'_>> = unknown.iter().filter(|f| !clustering.contains(f.id)).copied().collect();
            let graph = KnnGraph::exact(&new, &unknown, s.knn_k);
            clustering.add(&new, &graph).expect("valid faces");
            let mut photo_group: HashSet<(PhotoId, u64)> = HashSet::new();
            for g in clustering.groups(1) {
                for f in &g.faces {
                    let i = f.0 as usize - 1;
                    prop_assert!(!matches!(state[f], FaceState::User(_) | FaceState::Ignored), "a user's face is in a group");
                    prop_assert!(photo_group.insert((face(i).photo, g.id.0)), "two faces of one photo in one group");
                }
            }
        }
    }
}

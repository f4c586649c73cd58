//! Model-based property test of the library's user actions: random sequences
//! of API operations run against the real library and against a simple
//! in-memory reference model; after every step both must agree (results,
//! errors, persons, assignments, rejections) and `check` must pass.

use likeness_engine::store::names::{clean_name, name_key};
use likeness_engine::{ActionError, DeleteFaces, FaceId, Library, Page, PersonId, PersonSort};
use likeness_tests::populate;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NAMES: [&str; 9] = [
    "Alice", "alice", "Bob", " BOB ", "Carol", "Dave", "Eve", "Frank", "  ",
];

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Rename(usize, usize),
    Delete(usize, bool),
    Merge(usize, usize),
    Assign(Vec<usize>, usize),
    Unassign(Vec<usize>),
    /// Person, face selector, and whether to pick among the person's own faces.
    Cover(usize, usize, bool),
    Hide(usize, bool),
    Undo,
    Reopen,
    Nearest(usize),
    /// Build an index segment over the current embeddings and swap it in.
    Rebuild,
}

fn op() -> impl Strategy<Value = Op> {
    // Selectors mostly pick existing rows; a few pick ids that do not exist.
    let sel = 0..5usize;
    let faces = || prop::collection::vec(0..13usize, 0..4);
    prop_oneof![
        3 => (0..NAMES.len()).prop_map(Op::Create),
        1 => (sel.clone(), 0..NAMES.len()).prop_map(|(p, n)| Op::Rename(p, n)),
        1 => (sel.clone(), any::<bool>()).prop_map(|(p, w)| Op::Delete(p, w)),
        2 => (sel.clone(), sel.clone()).prop_map(|(a, b)| Op::Merge(a, b)),
        4 => (faces(), sel.clone()).prop_map(|(f, p)| Op::Assign(f, p)),
        2 => faces().prop_map(Op::Unassign),
        2 => (sel.clone(), 0..13usize, any::<bool>()).prop_map(|(p, f, own)| Op::Cover(p, f, own)),
        1 => (sel, any::<bool>()).prop_map(|(p, h)| Op::Hide(p, h)),
        2 => Just(Op::Undo),
        1 => Just(Op::Reopen),
        1 => (0..13usize).prop_map(Op::Nearest),
        1 => Just(Op::Rebuild),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct MPerson {
    name: String,
    hidden: bool,
    cover: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct State {
    persons: BTreeMap<u64, MPerson>,
    /// face → person (`None`: unassigned); absent: deleted.
    faces: BTreeMap<u64, Option<u64>>,
    rejections: BTreeSet<(u64, u64)>,
}

struct Model {
    state: State,
    next_person: u64,
    undo: Vec<State>,
}

impl Model {
    /// A selector picks an existing id, or (past the end) one that does not exist.
    fn person(&self, sel: usize) -> PersonId {
        let ids: Vec<u64> = self.state.persons.keys().copied().collect();
        PersonId(ids.get(sel).copied().unwrap_or(900 + sel as u64))
    }

    fn face(all_faces: &[FaceId], sel: usize) -> FaceId {
        all_faces
            .get(sel)
            .copied()
            .unwrap_or(FaceId(9000 + sel as u64))
    }

    fn free_name(&self, name: &str, except: Option<u64>) -> Result<(), ActionError> {
        let key = name_key(name);
        match self
            .state
            .persons
            .iter()
            .find(|(id, p)| name_key(&p.name) == key && Some(**id) != except)
        {
            Some((id, p)) => Err(ActionError::DuplicateName {
                name: p.name.clone(),
                existing: PersonId(*id),
            }),
            None => Ok(()),
        }
    }

    fn need_person(&self, p: PersonId) -> Result<(), ActionError> {
        if self.state.persons.contains_key(&p.0) {
            Ok(())
        } else {
            Err(ActionError::UnknownPerson(p))
        }
    }

    fn need_faces(&self, faces: &[FaceId]) -> Result<BTreeSet<u64>, ActionError> {
        if faces.is_empty() {
            return Err(ActionError::EmptySelection);
        }
        let set: BTreeSet<u64> = faces.iter().map(|f| f.0).collect();
        match set.iter().find(|f| !self.state.faces.contains_key(f)) {
            Some(&f) => Err(ActionError::UnknownFace(FaceId(f))),
            None => Ok(set),
        }
    }

    /// Takes a face out of its person, as the library does.
    fn detach(s: &mut State, face: u64, reject: bool) {
        if let Some(Some(old)) = s.faces.get(&face).copied() {
            if let Some(p) = s.persons.get_mut(&old)
                && p.cover == Some(face)
            {
                p.cover = None;
            }
            if reject {
                s.rejections.insert((face, old));
            }
            s.faces.insert(face, None);
        }
    }

    /// Applies a mutation; on success the previous state becomes an undo step.
    fn mutate<T>(
        &mut self,
        f: impl FnOnce(&mut State, &mut u64) -> Result<T, ActionError>,
    ) -> Result<T, ActionError> {
        let mut s = self.state.clone();
        let mut next = self.next_person;
        let out = f(&mut s, &mut next)?;
        self.undo.push(std::mem::replace(&mut self.state, s));
        self.next_person = next;
        Ok(out)
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lib.redb");
    let mut lib = Library::open(&path).expect("open new library");
    let faces = populate(&mut lib, 6, 2, 7);
    let mut model = Model {
        state: State {
            faces: faces.iter().map(|f| (f.0, None)).collect(),
            ..State::default()
        },
        next_person: 1,
        undo: Vec::new(),
    };
    for (step, op) in ops.into_iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::Create(n) => {
                let got = lib.create_person(NAMES[n]).map(|p| p.0);
                let want = clean_name(NAMES[n]).and_then(|name| {
                    model.free_name(&name, None)?;
                    model.mutate(|s, next| {
                        let id = *next;
                        *next += 1;
                        s.persons.insert(
                            id,
                            MPerson {
                                name,
                                hidden: false,
                                cover: None,
                            },
                        );
                        Ok(id)
                    })
                });
                assert_eq!(got, want, "{ctx}");
            }
            Op::Rename(p, n) => {
                let person = model.person(p);
                let got = lib.rename_person(person, NAMES[n]);
                let want = clean_name(NAMES[n]).and_then(|name| {
                    model.need_person(person)?;
                    model.free_name(&name, Some(person.0))?;
                    model.mutate(|s, _| {
                        if let Some(mp) = s.persons.get_mut(&person.0) {
                            mp.name = name;
                        }
                        Ok(())
                    })
                });
                assert_eq!(got, want, "{ctx}");
            }
            Op::Delete(p, with_faces) => {
                let person = model.person(p);
                let mode = if with_faces {
                    DeleteFaces::Delete
                } else {
                    DeleteFaces::Unassign
                };
                let got = lib.delete_person(person, mode);
                let want = model.need_person(person).map(|()| {
                    let s = &mut model.state;
                    let theirs: Vec<u64> = s
                        .faces
                        .iter()
                        .filter(|(_, o)| **o == Some(person.0))
                        .map(|(f, _)| *f)
                        .collect();
                    for f in &theirs {
                        if with_faces {
                            s.faces.remove(f);
                            s.rejections.retain(|(rf, _)| rf != f);
                        } else {
                            s.faces.insert(*f, None);
                        }
                    }
                    s.rejections.retain(|(_, rp)| *rp != person.0);
                    s.persons.remove(&person.0);
                    model.undo.clear();
                    theirs.len() as u64
                });
                assert_eq!(got, want, "{ctx}");
            }
            Op::Merge(a, b) => {
                let (from, into) = (model.person(a), model.person(b));
                let got = lib.merge_persons(from, into);
                let want = if from == into {
                    Err(ActionError::MergeIntoSelf(from))
                } else {
                    model
                        .need_person(from)
                        .and_then(|()| model.need_person(into))
                        .and_then(|()| {
                            model.mutate(|s, _| {
                                let moved: Vec<u64> = s
                                    .faces
                                    .iter()
                                    .filter(|(_, o)| **o == Some(from.0))
                                    .map(|(f, _)| *f)
                                    .collect();
                                for f in &moved {
                                    s.faces.insert(*f, Some(into.0));
                                    s.rejections.remove(&(*f, into.0));
                                }
                                let rejected: Vec<u64> = s
                                    .rejections
                                    .iter()
                                    .filter(|(_, p)| *p == from.0)
                                    .map(|(f, _)| *f)
                                    .collect();
                                for f in rejected {
                                    s.rejections.remove(&(f, from.0));
                                    if s.faces.get(&f).copied().flatten() != Some(into.0) {
                                        s.rejections.insert((f, into.0));
                                    }
                                }
                                let from_cover = s.persons.remove(&from.0).and_then(|p| p.cover);
                                if let Some(ip) = s.persons.get_mut(&into.0) {
                                    ip.cover = ip.cover.or(from_cover);
                                }
                                Ok(moved.len() as u64)
                            })
                        })
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::Assign(sels, p) => {
                let person = model.person(p);
                let chosen: Vec<FaceId> = sels.iter().map(|&f| Model::face(&faces, f)).collect();
                let got = lib.assign_faces(&chosen, person);
                let want = model
                    .need_person(person)
                    .and_then(|()| model.need_faces(&chosen))
                    .and_then(|set| {
                        model.mutate(|s, _| {
                            for f in set {
                                if s.faces.get(&f).copied().flatten() != Some(person.0) {
                                    Model::detach(s, f, true);
                                }
                                s.rejections.remove(&(f, person.0));
                                s.faces.insert(f, Some(person.0));
                            }
                            Ok(())
                        })
                    });
                assert_eq!(got, want, "{ctx}");
            }
            Op::Unassign(sels) => {
                let chosen: Vec<FaceId> = sels.iter().map(|&f| Model::face(&faces, f)).collect();
                let got = lib.unassign_faces(&chosen);
                let want = model.need_faces(&chosen).and_then(|set| {
                    model.mutate(|s, _| {
                        for f in set {
                            Model::detach(s, f, true);
                        }
                        Ok(())
                    })
                });
                assert_eq!(got, want, "{ctx}");
            }
            Op::Cover(p, f, own) => {
                let person = model.person(p);
                let theirs: Vec<u64> = model
                    .state
                    .faces
                    .iter()
                    .filter(|(_, o)| **o == Some(person.0))
                    .map(|(f, _)| *f)
                    .collect();
                let face = if own && !theirs.is_empty() {
                    FaceId(theirs[f % theirs.len()])
                } else {
                    Model::face(&faces, f)
                };
                let got = lib.set_cover_face(person, Some(face));
                let want =
                    model
                        .need_person(person)
                        .and_then(|()| match model.state.faces.get(&face.0) {
                            None => Err(ActionError::UnknownFace(face)),
                            Some(owner) if *owner != Some(person.0) => {
                                Err(ActionError::FaceNotOfPerson { face, person })
                            }
                            Some(_) => model.mutate(|s, _| {
                                if let Some(mp) = s.persons.get_mut(&person.0) {
                                    mp.cover = Some(face.0);
                                }
                                Ok(())
                            }),
                        });
                assert_eq!(got, want, "{ctx}");
            }
            Op::Hide(p, hidden) => {
                let person = model.person(p);
                let got = lib.set_person_hidden(person, hidden);
                let want = model.need_person(person).and_then(|()| {
                    model.mutate(|s, _| {
                        if let Some(mp) = s.persons.get_mut(&person.0) {
                            mp.hidden = hidden;
                        }
                        Ok(())
                    })
                });
                assert_eq!(got, want, "{ctx}");
            }
            Op::Undo => {
                let got = lib.undo().map(|_| ());
                let want = match model.undo.pop() {
                    Some(previous) => {
                        model.state = previous;
                        Ok(())
                    }
                    None => Err(ActionError::NothingToUndo),
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::Reopen => {
                drop(lib);
                lib = Library::open(&path).expect("reopen");
            }
            Op::Rebuild => {
                let report = likeness_engine::index::rebuild(
                    &lib.database(),
                    likeness_engine::index::RebuildParams::default(),
                )
                .expect("rebuild");
                assert_eq!(report.segment_faces, model.state.faces.len(), "{ctx}");
            }
            Op::Nearest(f) => {
                // The index finds every other live face exactly once, and the
                // owner it reports is the one in the store.
                let face = Model::face(&faces, f);
                match lib.nearest_to_face(face, 100) {
                    Ok(hits) => {
                        let found: Vec<u64> = hits.iter().map(|h| h.face.0).collect();
                        let unique: BTreeSet<u64> = found.iter().copied().collect();
                        let want: BTreeSet<u64> = model
                            .state
                            .faces
                            .keys()
                            .copied()
                            .filter(|&x| x != face.0)
                            .collect();
                        assert_eq!(found.len(), unique.len(), "{ctx}: duplicate hits");
                        assert_eq!(unique, want, "{ctx}");
                        for h in hits {
                            assert_eq!(
                                h.person.map(|p| p.0),
                                model.state.faces[&h.face.0],
                                "{ctx}"
                            );
                        }
                    }
                    Err(e) => assert!(!model.state.faces.contains_key(&face.0), "{ctx}: {e}"),
                }
            }
        }
        compare(&lib, &model, &ctx);
    }
}

fn compare(lib: &Library, model: &Model, ctx: &str) {
    let people = lib
        .list_persons(PersonSort::Name, Page::default(), true)
        .expect("list persons");
    let got: BTreeMap<u64, MPerson> = people
        .iter()
        .map(|p| {
            (
                p.person.id.0,
                MPerson {
                    name: p.person.name.clone(),
                    hidden: p.person.hidden,
                    cover: p.person.cover_face.map(|f| f.0),
                },
            )
        })
        .collect();
    assert_eq!(got, model.state.persons, "{ctx}: persons");
    for p in &people {
        let want = model
            .state
            .faces
            .values()
            .filter(|o| **o == Some(p.person.id.0))
            .count() as u64;
        assert_eq!(p.face_count, want, "{ctx}: face count of {}", p.person.id);
    }
    let export = lib.export(false).expect("export");
    let got_faces: BTreeMap<u64, Option<u64>> =
        export.faces.iter().map(|f| (f.id, f.person)).collect();
    assert_eq!(got_faces, model.state.faces, "{ctx}: faces");
    let got_rejections: BTreeSet<(u64, u64)> = lib
        .rejections()
        .expect("rejections")
        .into_iter()
        .map(|(f, p)| (f.0, p.0))
        .collect();
    assert_eq!(got_rejections, model.state.rejections, "{ctx}: rejections");
    let report = lib.check().expect("check");
    assert!(report.is_consistent(), "{ctx}: {:?}", report.problems);
    assert_eq!(
        report.undo_history,
        model.undo.len() as u64,
        "{ctx}: undo history"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn library_matches_reference_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

/// Regression: renaming two persons into each other's names and undoing both
/// must restore both names (undo restores persons in two passes).
#[test]
fn undo_of_swapped_names() {
    run(vec![
        Op::Create(0),
        Op::Create(2),
        Op::Rename(0, 4),
        Op::Rename(1, 0),
        Op::Undo,
        Op::Undo,
    ]);
}

/// Regression: unassigning a face records that it is not that person.
#[test]
fn unassign_records_rejection() {
    run(vec![
        Op::Create(0),
        Op::Assign(vec![0], 0),
        Op::Unassign(vec![0]),
        Op::Assign(vec![1], 0),
        Op::Create(2),
        Op::Assign(vec![1], 1),
    ]);
}

/// Regression: a face rejected for B, later given to A, stays B's after A is
/// merged into B without a stale "not B" rejection.
#[test]
fn merge_clears_rejection_for_target() {
    run(vec![
        Op::Create(0),
        Op::Create(2),
        Op::Assign(vec![3], 1),
        Op::Assign(vec![3], 0),
        Op::Merge(0, 1),
        Op::Undo,
        Op::Merge(0, 1),
    ]);
}

/// Regression: merging takes the merged person's cover when the kept one has none.
#[test]
fn merge_takes_cover_when_target_has_none() {
    run(vec![
        Op::Create(0),
        Op::Create(2),
        Op::Assign(vec![3, 4], 0),
        Op::Cover(0, 1, true),
        Op::Merge(0, 1),
        Op::Undo,
    ]);
}

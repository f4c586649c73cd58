//! A simulated user on the real engine commands, over the reference
//! embeddings of `faces/people` + `faces/group` stored in a real library:
//! the recognise phase groups the faces; the user names, for each identity,
//! the largest unnamed group where it is the majority (one action), then
//! reviews each person's suggestions as the labels say (accept the right
//! ones, reject the wrong ones: one action each per round). The engine
//! re-runs recognition after every change, as it does for the GUI.
//!
//! Asserts the goals: at least 95 % of the labelled faces end with
//! their identity, at most 3 actions per person, and no face ever moved
//! against a user decision (checked after every action), with `check`
//! passing at the end.

use likeness_engine::recognize::eval::{ReferenceFace, load_reference};
use likeness_engine::store::{LibraryExport, NewPhoto};
use likeness_engine::{
    AssignedBy, ClusterId, Command, Engine, EngineConfig, FaceId, Library, Page, PersonId, PhotoId,
    Reply, ScanStatus,
};
use likeness_tests::reference_jsonl;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Stores the reference faces (embeddings, synthetic boxes) of every
/// `part`-th photo of `parts` photo by photo, then runs the import's
/// recognise phase (batches of decisions, then clustering) as the import job
/// does; returns library face id → reference face.
fn import(
    path: &std::path::Path,
    faces: &[ReferenceFace],
    part: usize,
    parts: usize,
) -> HashMap<FaceId, ReferenceFace> {
    let mut lib = Library::open(path).expect("open library");
    let mut by_photo: Vec<(String, Vec<&ReferenceFace>)> = Vec::new();
    for f in faces {
        match by_photo.last_mut() {
            Some((p, list)) if *p == f.path => list.push(f),
            _ => by_photo.push((f.path.clone(), vec![f])),
        }
    }
    let mut out = HashMap::new();
    for (path, list) in by_photo.into_iter().skip(part).step_by(parts) {
        let photo = NewPhoto {
            id: PhotoId::of_bytes(path.as_bytes()),
            path: path.clone(),
            size_bytes: 1,
            width: 100 * (list.len() as u32 + 1),
            height: 100,
            taken_at: None,
            status: ScanStatus::Detected,
        };
        let new = likeness_tests::row_of_faces(list.iter().map(|f| &f.embedding));
        let commit = lib.record_photo(&photo, &new).expect("record photo");
        for (id, f) in commit.faces.into_iter().zip(list) {
            out.insert(id, f.clone());
        }
    }
    while lib
        .recognise_new_step(likeness_engine::store::RECOGNISE_BATCH)
        .expect("recognise step")
        .0
        > 0
    {}
    lib.cluster_unknown().expect("cluster");
    out
}

fn start(path: &std::path::Path) -> Engine {
    Engine::start(
        EngineConfig {
            library_path: path.to_owned(),
            finder: Arc::new(|| Err("no vision in this test".to_owned())),
        },
        Arc::new(|| {}),
    )
    .expect("start engine")
}

fn call(engine: &Engine, command: Command) -> Reply {
    let shown = format!("{command:?}");
    engine
        .call(command)
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
}

fn export(engine: &Engine) -> LibraryExport {
    match call(
        engine,
        Command::Export {
            with_embeddings: false,
        },
    ) {
        Reply::Export(e) => *e,
        other => panic!("export: {other:?}"),
    }
}

/// What the user decided: faces they placed, and (face, person) they said no to.
#[derive(Default)]
struct Decisions {
    placed: BTreeMap<u64, u64>,
    rejected: BTreeSet<(u64, u64)>,
}

impl Decisions {
    /// Faces whose state contradicts a decision.
    fn violations(&self, export: &LibraryExport) -> Vec<String> {
        let mut out = Vec::new();
        for f in &export.faces {
            if let Some(&p) = self.placed.get(&f.id)
                && (f.person != Some(p) || !f.assigned_by.is_some_and(AssignedBy::is_confirmed))
            {
                out.push(format!("face {} left person {p}: {:?}", f.id, f.person));
            }
            if let Some(p) = f.person
                && self.rejected.contains(&(f.id, p))
            {
                out.push(format!("face {} is with person {p}, rejected", f.id));
            }
        }
        out
    }
}

/// The simulated user and what they did.
#[derive(Default)]
struct User {
    decisions: Decisions,
    actions: usize,
    persons: BTreeMap<String, PersonId>,
    /// Suggestions accepted and rejected.
    reviewed: (usize, usize),
}

impl User {
    /// Labelled faces with their identity's person, and with another one.
    fn counts(&self, engine: &Engine, label: &HashMap<u64, String>) -> (usize, usize) {
        let names: HashMap<u64, &str> = self
            .persons
            .iter()
            .map(|(n, p)| (p.0, n.as_str()))
            .collect();
        let (mut correct, mut wrong) = (0, 0);
        for f in &export(engine).faces {
            let Some(l) = label.get(&f.id) else { continue };
            match f.person.and_then(|p| names.get(&p)) {
                Some(n) if n == l => correct += 1,
                Some(_) => wrong += 1,
                None => {}
            }
        }
        (correct, wrong)
    }

    fn check(&self, engine: &Engine, what: &str) {
        let v = self.decisions.violations(&export(engine));
        assert!(v.is_empty(), "after {what}: {v:?}");
    }

    /// Names the largest group of each identity not named yet, re-reading
    /// the groups after each naming (recognition runs again after it), then
    /// reviews suggestions.
    fn work(&mut self, engine: &Engine, label: &HashMap<u64, String>) {
        self.name_groups(engine, label);
        self.review(engine, label);
    }

    fn name_groups(&mut self, engine: &Engine, label: &HashMap<u64, String>) {
        loop {
            let Reply::Clusters(groups) = call(
                engine,
                Command::ListClusters {
                    page: Page::default(),
                },
            ) else {
                panic!("clusters")
            };
            let mut best: BTreeMap<String, (usize, usize, ClusterId)> = BTreeMap::new();
            for g in &groups {
                let Reply::Faces(members) = call(
                    engine,
                    Command::FacesOfCluster {
                        cluster: g.id,
                        page: Page::default(),
                    },
                ) else {
                    panic!("faces of cluster")
                };
                let mut count: BTreeMap<&str, usize> = BTreeMap::new();
                for m in &members {
                    if let Some(l) = label.get(&m.id.0) {
                        *count.entry(l).or_default() += 1;
                    }
                }
                let Some((major, n)) = count
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(l, n)| ((*l).to_owned(), *n))
                else {
                    continue;
                };
                if self.persons.contains_key(&major) {
                    continue;
                }
                let e = best.entry(major).or_insert((0, 0, g.id));
                if (n, members.len()) > (e.0, e.1) {
                    *e = (n, members.len(), g.id);
                }
            }
            let Some((name, (_, _, group))) = best.into_iter().next() else {
                break;
            };
            let Reply::PersonCreated(person) = call(
                engine,
                Command::NameCluster {
                    cluster: group,
                    name: name.clone(),
                },
            ) else {
                panic!("name cluster")
            };
            self.actions += 1;
            self.persons.insert(name, person);
            let Reply::Faces(theirs) = call(
                engine,
                Command::FacesOfPerson {
                    person,
                    page: Page::default(),
                },
            ) else {
                panic!("faces of person")
            };
            for f in theirs {
                if f.assigned_by == Some(AssignedBy::User) {
                    self.decisions.placed.insert(f.id.0, person.0);
                }
            }
            self.check(engine, "naming");
        }
    }

    /// Accepts and rejects each person's suggestions as the labels say, one
    /// action each per person and round, until nothing is left to do.
    fn review(&mut self, engine: &Engine, label: &HashMap<u64, String>) {
        for _round in 0..5 {
            let mut acted = false;
            let persons = self.persons.clone();
            for (name, &person) in &persons {
                let Reply::Suggestions(queue) = call(
                    engine,
                    Command::ListSuggestions {
                        person,
                        page: Page::default(),
                    },
                ) else {
                    panic!("suggestions")
                };
                let (mut accept, mut reject) = (Vec::new(), Vec::new());
                for s in queue {
                    match label.get(&s.face.0) {
                        Some(l) if l == name => accept.push(s.face),
                        Some(_) => reject.push(s.face),
                        None => {}
                    }
                }
                self.reviewed.0 += accept.len();
                self.reviewed.1 += reject.len();
                if !accept.is_empty() {
                    for f in &accept {
                        self.decisions.placed.insert(f.0, person.0);
                    }
                    call(
                        engine,
                        Command::AcceptSuggestions {
                            person,
                            faces: accept,
                        },
                    );
                    self.actions += 1;
                    acted = true;
                    self.check(engine, "accepting");
                }
                if !reject.is_empty() {
                    for f in &reject {
                        self.decisions.rejected.insert((f.0, person.0));
                    }
                    call(
                        engine,
                        Command::RejectSuggestions {
                            person,
                            faces: reject,
                        },
                    );
                    self.actions += 1;
                    acted = true;
                    self.check(engine, "rejecting");
                }
            }
            if !acted {
                break;
            }
        }
    }
}

#[test]
fn simulated_user_names_most_faces_in_few_actions() {
    let reference = load_reference(&reference_jsonl()).expect("reference embeddings");
    let reference: Vec<ReferenceFace> = reference
        .into_iter()
        .filter(|f| f.path.starts_with("people/") || f.path.starts_with("group/"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lib.redb");
    // Two imports: half the photos, the user works, then the other half
    // (whose faces meet the named persons' models in the recognise phase).
    let mut faces = import(&path, &reference, 0, 2);
    let label = |faces: &HashMap<FaceId, ReferenceFace>| -> HashMap<u64, String> {
        faces
            .iter()
            .filter_map(|(id, f)| f.label.clone().map(|l| (id.0, l)))
            .collect()
    };
    let mut user = User::default();
    {
        let engine = start(&path);
        user.work(&engine, &label(&faces));
    }
    faces.extend(import(&path, &reference, 1, 2));
    let label = label(&faces);
    let engine = start(&path);
    let (before_second, _) = user.counts(&engine, &label);
    user.work(&engine, &label);
    let decisions = &user.decisions;
    let persons = &user.persons;
    let actions = user.actions;
    let export = export(&engine);
    let names: HashMap<u64, &str> = persons.iter().map(|(n, p)| (p.0, n.as_str())).collect();
    let (mut correct, mut wrong, mut auto) = (0usize, 0usize, 0usize);
    for f in &export.faces {
        let Some(l) = label.get(&f.id) else { continue };
        match f.person.and_then(|p| names.get(&p)) {
            Some(n) if n == l => {
                correct += 1;
                if f.assigned_by == Some(AssignedBy::Auto) {
                    auto += 1;
                }
            }
            Some(_) => wrong += 1,
            None => {}
        }
    }
    let identities: BTreeSet<&String> = label.values().collect();
    println!(
        "after the second import's recognise phase, before any review: {before_second} labelled faces correct; suggestions accepted {}, rejected {}",
        user.reviewed.0, user.reviewed.1
    );
    assert!(decisions.violations(&export).is_empty());
    let per_person = actions as f64 / persons.len().max(1) as f64;
    let fraction = correct as f64 / label.len() as f64;
    println!(
        "simulated user (real store commands): {} identities, {} named; labelled faces {}: correct {} ({:.1} %, {} of them auto-assigned), wrong {}; actions {} ({:.2} per person); violations 0",
        identities.len(),
        persons.len(),
        label.len(),
        correct,
        100.0 * fraction,
        auto,
        wrong,
        actions,
        per_person
    );
    let Reply::Check(report) = call(&engine, Command::Check { repair: false }) else {
        panic!("check")
    };
    assert!(report.is_consistent(), "{:?}", report.problems);
    assert!(fraction >= 0.95, "only {:.1} % correct", 100.0 * fraction);
    assert!(per_person <= 3.0, "{per_person:.2} actions per person");
    assert_eq!(wrong, 0, "labelled faces with the wrong person");
}

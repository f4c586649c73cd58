//! Evaluation: clustering quality metrics, the DBSCAN baseline, the
//! reference-embedding loader and a simulated user. Used by the
//! `recognize` benchmark and tests; not on any user path.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{
    Candidate, Clustering, Decision, FaceRef, FaceState, KnnGraph, PersonModel,
    RecognitionSettings, RecognizeError, ReviewItem, decide_all, review_queue,
};
use crate::index::dot;
use crate::types::{FaceId, PersonId, PhotoId};

/// One face of the reference file.
#[derive(Clone, Debug)]
pub struct ReferenceFace {
    /// Sequential id (file order).
    pub id: FaceId,
    /// Photo id (blake3 of the relative path).
    pub photo: PhotoId,
    /// Path relative to `faces/`.
    pub path: String,
    /// Identity: the folder of a `people/` photo, for its largest face only.
    pub label: Option<String>,
    /// Unit embedding.
    pub embedding: Vec<f32>,
}

impl ReferenceFace {
    /// As recognition sees it.
    pub fn face_ref(&self) -> FaceRef<'_> {
        FaceRef {
            id: self.id,
            photo: self.photo,
            embedding: &self.embedding,
        }
    }
}

/// Reads `insightface_buffalo_sc.jsonl` (one JSON object per image:
/// `path`, `faces: [{bbox, embedding, ..}]`).
pub fn load_reference(path: &Path) -> Result<Vec<ReferenceFace>, RecognizeError> {
    #[derive(serde::Deserialize)]
    struct Line {
        path: String,
        faces: Vec<RawFace>,
    }
    #[derive(serde::Deserialize)]
    struct RawFace {
        bbox: [f32; 4],
        embedding: Vec<f32>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| RecognizeError::Reference(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line: Line = serde_json::from_str(line)
            .map_err(|e| RecognizeError::Reference(format!("line {}: {e}", n + 1)))?;
        let photo = PhotoId::of_bytes(line.path.as_bytes());
        let identity = line
            .path
            .strip_prefix("people/")
            .and_then(|r| r.split('/').next())
            .map(str::to_owned);
        let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        let largest = (0..line.faces.len()).max_by(|&a, &b| {
            area(&line.faces[a].bbox)
                .total_cmp(&area(&line.faces[b].bbox))
                .then(b.cmp(&a))
        });
        for (i, f) in line.faces.into_iter().enumerate() {
            out.push(ReferenceFace {
                id: FaceId(out.len() as u64 + 1),
                photo,
                path: line.path.clone(),
                label: identity.clone().filter(|_| Some(i) == largest),
                embedding: f.embedding,
            });
        }
    }
    Ok(out)
}

/// Quality of a clustering against labels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Pairwise precision.
    pub pair_p: f64,
    /// Pairwise recall.
    pub pair_r: f64,
    /// Pairwise F1.
    pub pair_f: f64,
    /// `BCubed` precision.
    pub bcubed_p: f64,
    /// `BCubed` recall.
    pub bcubed_r: f64,
    /// `BCubed` F1.
    pub bcubed_f: f64,
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Scores `predicted` (face → group) on the labelled faces; a labelled face
/// without a group counts as its own singleton. Unlabelled faces are not
/// scored.
#[allow(clippy::implicit_hasher)]
pub fn score(labels: &[(FaceId, &str)], predicted: &HashMap<FaceId, u64>) -> Scores {
    let mut cells: HashMap<(u64, &str), f64> = HashMap::new();
    let mut cluster: HashMap<u64, f64> = HashMap::new();
    let mut class: HashMap<&str, f64> = HashMap::new();
    for &(f, l) in labels {
        // Singletons get a key outside the group id space.
        let c = predicted.get(&f).copied().unwrap_or(u64::MAX - f.0);
        *cells.entry((c, l)).or_default() += 1.0;
        *cluster.entry(c).or_default() += 1.0;
        *class.entry(l).or_default() += 1.0;
    }
    let n = labels.len() as f64;
    let pairs = |x: f64| x * (x - 1.0) / 2.0;
    let tp: f64 = cells.values().map(|&x| pairs(x)).sum();
    let pred: f64 = cluster.values().map(|&x| pairs(x)).sum();
    let truth: f64 = class.values().map(|&x| pairs(x)).sum();
    let pair_p = if pred == 0.0 { 1.0 } else { tp / pred };
    let pair_r = if truth == 0.0 { 1.0 } else { tp / truth };
    let (mut bp, mut br) = (0.0, 0.0);
    for (&(c, l), &x) in &cells {
        bp += x * x / cluster[&c];
        br += x * x / class[l];
    }
    let (bcubed_p, bcubed_r) = if n == 0.0 {
        (1.0, 1.0)
    } else {
        (bp / n, br / n)
    };
    Scores {
        pair_p,
        pair_r,
        pair_f: f1(pair_p, pair_r),
        bcubed_p,
        bcubed_r,
        bcubed_f: f1(bcubed_p, bcubed_r),
    }
}

/// Our clustering of `faces` (exact kNN graph), as face → group id for
/// groups of at least `settings.min_group_size`.
pub fn cluster_faces(
    faces: &[FaceRef<'_>],
    settings: &RecognitionSettings,
) -> Result<HashMap<FaceId, u64>, RecognizeError> {
    let graph = KnnGraph::exact(faces, faces, settings.knn_k);
    let mut c = Clustering::new(settings.cluster_link);
    c.add(faces, &graph)?;
    Ok(c.groups(settings.min_group_size)
        .into_iter()
        .flat_map(|g| g.faces.into_iter().map(move |f| (f, g.id.0)))
        .collect())
}

/// DBSCAN as Immich runs it: cosine distance `≤ eps`, a core point has at
/// least `min_points` neighbours within `eps` counting itself; noise is
/// left out (singletons). Exact, O(n²): for evaluation only.
pub fn dbscan(faces: &[FaceRef<'_>], eps: f32, min_points: usize) -> HashMap<FaceId, u64> {
    let n = faces.len();
    let near: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| 1.0 - dot(faces[i].embedding, faces[j].embedding) <= eps)
                .collect()
        })
        .collect();
    let mut label: Vec<Option<u64>> = vec![None; n];
    let mut next = 0u64;
    for i in 0..n {
        if label[i].is_some() || near[i].len() < min_points {
            continue;
        }
        let id = next;
        next += 1;
        label[i] = Some(id);
        let mut stack = near[i].clone();
        while let Some(j) = stack.pop() {
            if label[j].is_some() {
                continue;
            }
            label[j] = Some(id);
            if near[j].len() >= min_points {
                stack.extend(near[j].iter().copied().filter(|&x| label[x].is_none()));
            }
        }
    }
    (0..n)
        .filter_map(|i| label[i].map(|l| (faces[i].id, l)))
        .collect()
}

/// Outcome of [`simulate_user`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimulationReport {
    /// Labelled faces.
    pub labelled: usize,
    /// Labelled faces that ended with their identity's person.
    pub correct: usize,
    /// Labelled faces that ended with another person.
    pub wrong: usize,
    /// Persons the user created (identities with a group to name).
    pub persons: usize,
    /// User actions: name a group, accept a selection, reject a selection.
    pub actions: usize,
    /// Faces whose state ever contradicted a user decision (must be 0).
    pub violations: usize,
}

/// A user who names, for each identity, the largest group where that
/// identity is the majority (smallest groups included: the user also
/// browses ungrouped faces), then reviews each person's queue: "accept"
/// the suggestions the labels confirm and "reject" the others, one action
/// each per round, until nothing new is proposed (at most `rounds`).
/// Models are rebuilt from confirmed faces every round; auto-assignments
/// are applied as the decisions say. Unlabelled faces are never reviewed.
pub fn simulate_user(
    faces: &[ReferenceFace],
    settings: &RecognitionSettings,
    rounds: usize,
) -> Result<SimulationReport, RecognizeError> {
    let refs: Vec<FaceRef<'_>> = faces.iter().map(ReferenceFace::face_ref).collect();
    let graph = KnnGraph::exact(&refs, &refs, settings.knn_k);
    let mut clustering = Clustering::new(settings.cluster_link);
    clustering.add(&refs, &graph)?;
    let label: HashMap<FaceId, &str> = faces
        .iter()
        .filter_map(|f| f.label.as_deref().map(|l| (f.id, l)))
        .collect();

    let mut state: BTreeMap<FaceId, FaceState> =
        faces.iter().map(|f| (f.id, FaceState::Unknown)).collect();
    let mut user: HashMap<FaceId, PersonId> = HashMap::new();
    let mut rejected: HashMap<FaceId, Vec<PersonId>> = HashMap::new();
    let mut names: BTreeMap<PersonId, &str> = BTreeMap::new();
    let mut report = SimulationReport {
        labelled: label.len(),
        ..SimulationReport::default()
    };

    // Name one group per identity.
    let mut named_groups = std::collections::HashSet::new();
    let mut best: BTreeMap<&str, (usize, usize, u64)> = BTreeMap::new();
    for g in clustering.groups(1) {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &g.faces {
            if let Some(l) = label.get(f) {
                *count.entry(l).or_default() += 1;
            }
        }
        let Some((&major, &n)) = count.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else {
            continue;
        };
        let entry = best.entry(major).or_insert((0, 0, g.id.0));
        if (n, g.faces.len()) > (entry.0, entry.1) {
            *entry = (n, g.faces.len(), g.id.0);
        }
    }
    let groups: HashMap<u64, Vec<FaceId>> = clustering
        .groups(1)
        .into_iter()
        .map(|g| (g.id.0, g.faces))
        .collect();
    for (i, (&identity, &(_, _, gid))) in best.iter().enumerate() {
        if !named_groups.insert(gid) {
            continue;
        }
        let person = PersonId(i as u64 + 1);
        names.insert(person, identity);
        report.persons += 1;
        report.actions += 1;
        for f in groups.get(&gid).into_iter().flatten() {
            state.insert(*f, FaceState::User(person));
            user.insert(*f, person);
        }
    }

    let by_id: HashMap<FaceId, &ReferenceFace> = faces.iter().map(|f| (f.id, f)).collect();
    for _ in 0..rounds {
        let mut confirmed: BTreeMap<PersonId, Vec<FaceRef<'_>>> = BTreeMap::new();
        for (f, s) in &state {
            if let (FaceState::User(p), Some(r)) = (s, by_id.get(f)) {
                confirmed.entry(*p).or_default().push(r.face_ref());
            }
        }
        let models: Vec<PersonModel> = confirmed
            .iter()
            .filter_map(|(p, fs)| PersonModel::build(*p, fs, settings))
            .collect();
        let empty = Vec::new();
        let cands: Vec<Candidate<'_>> = faces
            .iter()
            .map(|f| Candidate {
                face: f.face_ref(),
                state: state[&f.id],
                taken: None,
                rejected: rejected.get(&f.id).unwrap_or(&empty),
            })
            .collect();
        let decisions = decide_all(&cands, &models, &BTreeMap::new(), settings);
        let mut suggestions = Vec::new();
        for (f, d) in decisions {
            match d {
                Decision::Auto { person, .. } => {
                    state.insert(f, FaceState::Auto(person));
                }
                Decision::Suggest { person, confidence } => {
                    state.insert(f, FaceState::Unknown);
                    suggestions.push(ReviewItem {
                        face: f,
                        person,
                        confidence,
                    });
                }
                Decision::Unknown => {
                    state.insert(f, FaceState::Unknown);
                }
            }
        }
        let mut acted = false;
        for (&person, &name) in &names {
            let queue = review_queue(&suggestions, person);
            let (mut accept, mut reject) = (Vec::new(), Vec::new());
            for item in queue {
                match label.get(&item.face) {
                    Some(&l) if l == name => accept.push(item.face),
                    Some(_) => reject.push(item.face),
                    None => {}
                }
            }
            for (list, is_accept) in [(accept, true), (reject, false)] {
                if list.is_empty() {
                    continue;
                }
                report.actions += 1;
                acted = true;
                for f in list {
                    if is_accept {
                        state.insert(f, FaceState::User(person));
                        user.insert(f, person);
                    } else {
                        rejected.entry(f).or_default().push(person);
                    }
                }
            }
        }
        report.violations += violations(&state, &user, &rejected);
        if !acted {
            break;
        }
    }
    for (f, l) in &label {
        let person = match state[f] {
            FaceState::User(p) | FaceState::Auto(p) => Some(p),
            FaceState::Unknown | FaceState::Ignored => None,
        };
        match person.and_then(|p| names.get(&p)) {
            Some(n) if n == l => report.correct += 1,
            Some(_) => report.wrong += 1,
            None => {}
        }
    }
    Ok(report)
}

/// Faces whose state contradicts a user decision: a user-assigned face not
/// with its person, or a face with a person it was rejected for.
#[allow(clippy::implicit_hasher)]
pub fn violations(
    state: &BTreeMap<FaceId, FaceState>,
    user: &HashMap<FaceId, PersonId>,
    rejected: &HashMap<FaceId, Vec<PersonId>>,
) -> usize {
    let moved = user
        .iter()
        .filter(|(f, p)| state.get(f) != Some(&FaceState::User(**p)))
        .count();
    let against = state
        .iter()
        .filter(|(f, s)| match s {
            FaceState::User(p) | FaceState::Auto(p) => {
                rejected.get(f).is_some_and(|r| r.contains(p))
            }
            _ => false,
        })
        .count();
    moved + against
}

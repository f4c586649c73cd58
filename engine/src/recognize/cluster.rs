//! Clustering of unknown faces into unnamed groups.
//!
//! Average linkage restricted to a kNN graph, with cannot-link:
//!
//! - Every face starts as its own group. Each kNN edge with similarity at
//!   least `cluster_link` is a candidate merge of the two groups it joins.
//! - Candidates are taken best first (up to a factor `1 + ε`, see
//!   [`APPROX_EPSILON`]). A group keeps the sum of its
//!   members' unit embeddings, so the *exact* average similarity over all
//!   pairs of two groups is `sum_a · sum_b / (|a| |b|)`, O(d) per check, no
//!   pair matrix. A candidate whose groups changed since it was scored is
//!   re-scored and put back; an up-to-date one merges when its average is
//!   at least `cluster_link` and the groups share no photo (two faces of one
//!   photo are never in one group).
//! - Memory is O(n·k) edges plus one sum per group; time O(n·k·d·log).
//!
//! Deterministic: faces are processed in id order, candidates are ordered
//! by (similarity desc, smaller face id, larger face id), so the result
//! does not depend on input order. Incremental: [`Clustering::add`] adds
//! new faces as singletons and merges only along edges that touch them,
//! so existing groups are kept and new faces join them. A group's id is
//! the smallest face id it ever had (stable as faces join).

use std::cmp::Ordering;

/// Approximation factor of the best-first order: a re-scored candidate is
/// merged at once when its average similarity is within `1 + ε` of the best
/// waiting candidate, as in (1+ε)-approximate graph HAC (`ParHAC`,
/// `TeraHAC`). Exact best-first re-scores a growing group's candidates
/// again and again; this bounds that work with a negligible change in the
/// result (each merge still needs average similarity ≥ `cluster_link`).
pub const APPROX_EPSILON: f32 = 0.1;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{FaceRef, KnnGraph, RecognizeError, validate};
use crate::index::dot;
use crate::types::{ClusterId, FaceId, PhotoId};

/// An unnamed group as shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Stable id (the smallest face id the group ever had).
    pub id: ClusterId,
    /// Its faces, ascending.
    pub faces: Vec<FaceId>,
}

#[derive(Clone, Debug)]
struct Cluster {
    members: Vec<u32>,
    sum: Vec<f32>,
    photos: HashSet<PhotoId>,
    label: FaceId,
    version: u32,
}

/// The clustering state of the unknown faces; see the module docs.
#[derive(Clone, Debug)]
pub struct Clustering {
    link: f32,
    slot_of: HashMap<FaceId, u32>,
    face: Vec<FaceId>,
    photo: Vec<PhotoId>,
    parent: Vec<u32>,
    alive: Vec<bool>,
    clusters: Vec<Option<Cluster>>,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    sim: f32,
    a: u32,
    b: u32,
    ids: (FaceId, FaceId),
    versions: (u32, u32),
    roots: (u32, u32),
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Max-heap order: higher similarity first, then smaller ids first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim
            .total_cmp(&other.sim)
            .then(other.ids.cmp(&self.ids))
    }
}

impl Clustering {
    /// An empty clustering merging groups at average similarity `link`.
    pub fn new(link: f32) -> Self {
        Self {
            link,
            slot_of: HashMap::new(),
            face: Vec::new(),
            photo: Vec::new(),
            parent: Vec::new(),
            alive: Vec::new(),
            clusters: Vec::new(),
        }
    }

    /// Rebuilds the state the store persisted: each face with the group it
    /// is in (`None`: a group of its own). O(n·d), no neighbour search, so
    /// opening a library does not re-cluster. Group ids are kept. Faces of
    /// one photo stored in one group (a damaged row) are split off as
    /// singletons rather than break cannot-link.
    pub fn restore(
        link: f32,
        faces: &[(FaceRef<'_>, Option<ClusterId>)],
    ) -> Result<Self, RecognizeError> {
        let refs: Vec<FaceRef<'_>> = faces.iter().map(|f| f.0).collect();
        validate(&refs)?;
        let mut order: Vec<&(FaceRef<'_>, Option<ClusterId>)> = faces.iter().collect();
        order.sort_by_key(|f| f.0.id);
        let mut state = Self::new(link);
        let mut root_of: HashMap<ClusterId, u32> = HashMap::new();
        for (f, group) in order {
            let s = state.face.len() as u32;
            state.slot_of.insert(f.id, s);
            state.face.push(f.id);
            state.photo.push(f.photo);
            state.parent.push(s);
            state.alive.push(true);
            state.clusters.push(None);
            let joined = group.and_then(|g| root_of.get(&g).copied()).and_then(|r| {
                let c = state.clusters[r as usize].as_mut()?;
                if !c.photos.insert(f.photo) {
                    return None;
                }
                c.members.push(s);
                for (x, y) in c.sum.iter_mut().zip(f.embedding) {
                    *x += y;
                }
                Some(r)
            });
            if let Some(r) = joined {
                state.parent[s as usize] = r;
                continue;
            }
            let label = match group {
                Some(g) if !root_of.contains_key(g) => {
                    root_of.insert(*g, s);
                    FaceId(g.0)
                }
                _ => f.id,
            };
            state.clusters[s as usize] = Some(Cluster {
                members: vec![s],
                sum: f.embedding.to_vec(),
                photos: std::iter::once(f.photo).collect(),
                label,
                version: 0,
            });
        }
        Ok(state)
    }

    /// Number of faces currently clustered.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// True when no face is clustered.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// True when `face` is clustered.
    pub fn contains(&self, face: FaceId) -> bool {
        self.slot_of.contains_key(&face)
    }

    fn find(&mut self, mut s: u32) -> u32 {
        let mut root = s;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        while self.parent[s as usize] != root {
            let next = self.parent[s as usize];
            self.parent[s as usize] = root;
            s = next;
        }
        root
    }

    fn find_ro(&self, mut s: u32) -> u32 {
        while self.parent[s as usize] != s {
            s = self.parent[s as usize];
        }
        s
    }

    /// Adds `faces` (unknown faces not yet clustered; ones already present
    /// are skipped) and merges along the edges of `graph` that touch them.
    /// `graph` must hold a list for each new face; neighbours that are not
    /// clustered (assigned, ignored, unknown to this state) are skipped.
    pub fn add(&mut self, faces: &[FaceRef<'_>], graph: &KnnGraph) -> Result<(), RecognizeError> {
        validate(faces)?;
        let mut new: Vec<&FaceRef<'_>> = faces.iter().filter(|f| !self.contains(f.id)).collect();
        new.sort_by_key(|f| f.id);
        for f in &new {
            let s = self.face.len() as u32;
            self.slot_of.insert(f.id, s);
            self.face.push(f.id);
            self.photo.push(f.photo);
            self.parent.push(s);
            self.alive.push(true);
            self.clusters.push(Some(Cluster {
                members: vec![s],
                sum: f.embedding.to_vec(),
                photos: std::iter::once(f.photo).collect(),
                label: f.id,
                version: 0,
            }));
        }
        let mut heap = BinaryHeap::new();
        let mut seen = HashSet::new();
        for f in &new {
            let Some(list) = graph.neighbours(f.id) else {
                continue;
            };
            for &(other, sim) in list {
                if sim < self.link {
                    break;
                }
                let (Some(&a), Some(&b)) = (self.slot_of.get(&f.id), self.slot_of.get(&other))
                else {
                    continue;
                };
                if a == b || !self.alive[b as usize] {
                    continue;
                }
                let (a, b) = if self.face[a as usize] < self.face[b as usize] {
                    (a, b)
                } else {
                    (b, a)
                };
                if seen.insert((a, b))
                    && let Some(c) = self.score(a, b)
                {
                    heap.push(c);
                }
            }
        }
        while let Some(c) = heap.pop() {
            let (ra, rb) = (self.find(c.a), self.find(c.b));
            if ra == rb {
                continue;
            }
            let (Some(ca), Some(cb)) = (&self.clusters[ra as usize], &self.clusters[rb as usize])
            else {
                continue;
            };
            let versions = (ca.version, cb.version);
            let c = if (ra, rb) != c.roots || versions != c.versions {
                // Stale: re-score; within (1+ε) of the best candidate →
                // take it now, else put it back.
                let Some(fresh) = self.score(c.a, c.b) else {
                    continue;
                };
                if heap
                    .peek()
                    .is_some_and(|top| fresh.sim * (1.0 + APPROX_EPSILON) < top.sim)
                {
                    heap.push(fresh);
                    continue;
                }
                fresh
            } else {
                c
            };
            if c.sim >= self.link && !self.conflict(ra, rb) {
                self.merge(ra, rb);
            }
        }
        Ok(())
    }

    /// The current candidate for the groups of slots `a` and `b`, if their
    /// average similarity reaches the link threshold.
    fn score(&mut self, a: u32, b: u32) -> Option<Candidate> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return None;
        }
        let ca = self.clusters[ra as usize].as_ref()?;
        let cb = self.clusters[rb as usize].as_ref()?;
        let n = (ca.members.len() * cb.members.len()) as f32;
        let sim = dot(&ca.sum, &cb.sum) / n;
        (sim >= self.link).then_some(Candidate {
            sim,
            a,
            b,
            ids: (self.face[a as usize], self.face[b as usize]),
            versions: (ca.version, cb.version),
            roots: (ra, rb),
        })
    }

    fn conflict(&self, ra: u32, rb: u32) -> bool {
        let (Some(ca), Some(cb)) = (&self.clusters[ra as usize], &self.clusters[rb as usize])
        else {
            return true;
        };
        let (small, large) = if ca.photos.len() <= cb.photos.len() {
            (ca, cb)
        } else {
            (cb, ca)
        };
        small.photos.iter().any(|p| large.photos.contains(p))
    }

    /// Merges the smaller group into the larger.
    fn merge(&mut self, ra: u32, rb: u32) {
        let la = self.clusters[ra as usize]
            .as_ref()
            .map_or(0, |c| c.members.len());
        let lb = self.clusters[rb as usize]
            .as_ref()
            .map_or(0, |c| c.members.len());
        let (big, small) = if la >= lb { (ra, rb) } else { (rb, ra) };
        let Some(s) = self.clusters[small as usize].take() else {
            return;
        };
        self.parent[small as usize] = big;
        if let Some(b) = self.clusters[big as usize].as_mut() {
            for (x, y) in b.sum.iter_mut().zip(&s.sum) {
                *x += y;
            }
            b.members.extend(s.members);
            b.photos.extend(s.photos);
            b.label = b.label.min(s.label);
            b.version = b.version.wrapping_add(1).max(s.version.wrapping_add(1));
        }
    }

    /// Takes `face` out of the clustering (the user assigned or ignored it);
    /// its group keeps its other faces. `embedding` must be the one it was
    /// added with. Returns whether it was present.
    pub fn remove(&mut self, face: FaceId, embedding: &[f32]) -> bool {
        let Some(s) = self.slot_of.remove(&face) else {
            return false;
        };
        self.alive[s as usize] = false;
        let r = self.find(s);
        let photo = self.photo[s as usize];
        if let Some(c) = self.clusters[r as usize].as_mut() {
            c.members.retain(|&m| m != s);
            for (x, y) in c.sum.iter_mut().zip(embedding) {
                *x -= y;
            }
            c.photos.remove(&photo);
            c.version = c.version.wrapping_add(1);
        }
        true
    }

    /// The group of `face`, if it is clustered.
    pub fn group_of(&self, face: FaceId) -> Option<ClusterId> {
        let s = *self.slot_of.get(&face)?;
        let r = self.find_ro(s);
        self.clusters[r as usize]
            .as_ref()
            .map(|c| ClusterId(c.label.0))
    }

    /// All groups with at least `min_size` faces, largest first, then id.
    pub fn groups(&self, min_size: usize) -> Vec<Group> {
        let mut out: Vec<Group> = self
            .clusters
            .iter()
            .flatten()
            .filter(|c| c.members.len() >= min_size.max(1))
            .map(|c| {
                let mut faces: Vec<FaceId> =
                    c.members.iter().map(|&m| self.face[m as usize]).collect();
                faces.sort_unstable();
                Group {
                    id: ClusterId(c.label.0),
                    faces,
                }
            })
            .collect();
        out.sort_by(|a, b| b.faces.len().cmp(&a.faces.len()).then(a.id.cmp(&b.id)));
        out
    }
}

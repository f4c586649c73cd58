//! k-nearest-neighbour graphs for clustering.
//!
//! The clustering only needs, for each face to cluster, its nearest faces
//! with their cosine similarity. Three ways to get them:
//!
//! - [`KnnGraph::from_search`]: from any search function, e.g. the
//!   library's `VectorIndex::search` inside a read transaction (ask for a
//!   few more than `k`: faces that are not candidates for clustering are
//!   skipped by the clustering).
//! - [`KnnGraph::exact`]: exact f32 search, for tests and small sets.
//! - [`KnnGraph::partitioned`]: for large batches (a whole library at
//!   first import): vectors are quantised to i16 (10 bits; measured 1.5×
//!   faster than `index::dot_i8` on baseline x86-64 and finer), partitioned by a short spherical
//!   k-means into about √(2n) lists, and each face is compared only with the
//!   lists of its [`PROBES`] nearest list centres; the best candidates are
//!   re-ranked with exact f32 dot products. O(n·√n·d) time, O(n·d) memory.

use rayon::prelude::*;

use super::{FaceRef, RecognizeError};
use crate::centroid::centroid;
use crate::index::dot;
use crate::types::{EMBEDDING_DIM, FaceId};

/// Neighbours of one face: (face, cosine similarity), similarity
/// descending, then face id ascending; never the face itself.
pub type Neighbours = Vec<(FaceId, f32)>;

/// Lists each face is compared against in [`KnnGraph::partitioned`].
pub const PROBES: usize = 2;
/// Candidates kept from the i8 pass per neighbour wanted, before the exact
/// re-rank.
const RERANK_EXTRA: usize = 8;
/// The k-means recentring step uses every this-many-th face.
const SAMPLE_STEP: usize = 4;
/// Below this many faces [`KnnGraph::partitioned`] is exact.
const EXACT_BELOW: usize = 4096;

/// The neighbour lists of a set of faces, by face id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnnGraph {
    /// (face, its neighbours), face id ascending.
    pub lists: Vec<(FaceId, Neighbours)>,
}

fn by_rank(a: &(FaceId, f32), b: &(FaceId, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

impl KnnGraph {
    /// The neighbour list of `face`, if it is in the graph.
    pub fn neighbours(&self, face: FaceId) -> Option<&Neighbours> {
        self.lists
            .binary_search_by_key(&face, |l| l.0)
            .ok()
            .map(|i| &self.lists[i].1)
    }

    /// A graph from a search function: `search(face, k)` returns the faces
    /// nearest `face` (it may include `face` itself, which is dropped).
    /// Lists are re-sorted (similarity, then id) and cut to `k`.
    pub fn from_search<E: std::fmt::Display>(
        queries: &[FaceRef<'_>],
        k: usize,
        mut search: impl FnMut(&FaceRef<'_>, usize) -> Result<Neighbours, E>,
    ) -> Result<Self, RecognizeError> {
        let mut lists = Vec::with_capacity(queries.len());
        for q in queries {
            let mut n = search(q, k + 1).map_err(|e| RecognizeError::Search(e.to_string()))?;
            n.retain(|(f, _)| *f != q.id);
            n.sort_by(by_rank);
            n.dedup_by_key(|x| x.0);
            n.truncate(k);
            lists.push((q.id, n));
        }
        lists.sort_by_key(|l| l.0);
        Ok(Self { lists })
    }

    /// Exact k nearest of each query among `corpus` (f32 dot products,
    /// parallel).
    pub fn exact(queries: &[FaceRef<'_>], corpus: &[FaceRef<'_>], k: usize) -> Self {
        let mut lists: Vec<(FaceId, Neighbours)> = queries
            .par_iter()
            .map(|q| {
                let mut top = TopK::new(k);
                for c in corpus {
                    if c.id != q.id {
                        top.push(c.id, dot(q.embedding, c.embedding));
                    }
                }
                (q.id, top.into_sorted())
            })
            .collect();
        lists.sort_by_key(|l| l.0);
        Self { lists }
    }

    /// Approximate k nearest of each face among `faces` (see the module
    /// docs); exact below a few thousand faces. Deterministic.
    pub fn partitioned(faces: &[FaceRef<'_>], k: usize) -> Self {
        let n = faces.len();
        if n < EXACT_BELOW {
            return Self::exact(faces, faces, k);
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| faces[i].id);
        let faces: Vec<FaceRef<'_>> = order.iter().map(|&i| faces[i]).collect();
        let q = Quantized::new(faces.iter().map(|f| f.embedding), faces.len());

        // Spherical k-means, seeded with evenly spaced faces (by id).
        // About √(PROBES·n) lists balance the assignment (n·lists dot
        // products) against the scan (PROBES·n²/lists).
        let lists_n = ((PROBES * n) as f64).sqrt().round().max(1.0) as usize;
        let seeds: Vec<&[f32]> = (0..lists_n)
            .map(|c| faces[c * n / lists_n].embedding)
            .collect();
        let centres = Quantized::new(seeds.iter().copied(), lists_n);
        // One recentring step on a sample of every `SAMPLE_STEP`-th face.
        let sample: Vec<usize> = (0..n).step_by(SAMPLE_STEP).collect();
        let sq = Quantized::gather(&q, &sample);
        let assign = nearest_centres(&sq, &centres, 1);
        let members = group(&assign, lists_n);
        let recentred: Vec<Vec<f32>> = members
            .par_iter()
            .enumerate()
            .map(|(c, m)| {
                centroid(m.iter().map(|&i| faces[sample[i]].embedding))
                    .unwrap_or_else(|| seeds[c].to_vec())
            })
            .collect();
        let centres = Quantized::new(recentred.iter().map(Vec::as_slice), lists_n);
        let assign = nearest_centres(&q, &centres, PROBES);
        let members = group(&assign, lists_n);
        // Each list's vectors contiguous, for cache-friendly scans.
        let list_q: Vec<Quantized> = members.iter().map(|m| Quantized::gather(&q, m)).collect();

        let keep = k + RERANK_EXTRA;
        let mut lists: Vec<(FaceId, Neighbours)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut top = TopKIdx::new(keep);
                let qi = q.row(i);
                for &c in &assign[i] {
                    let lq = &list_q[c];
                    for (r, &j) in members[c].iter().enumerate() {
                        if j != i {
                            top.push(j, dot_i16(qi, lq.row(r)) as f32 * q.scale[i] * lq.scale[r]);
                        }
                    }
                }
                let mut exact = TopK::new(k);
                for j in top.items() {
                    exact.push(faces[j].id, dot(faces[i].embedding, faces[j].embedding));
                }
                (faces[i].id, exact.into_sorted())
            })
            .collect();
        lists.sort_by_key(|l| l.0);
        Self { lists }
    }
}

/// Vectors quantised to i16 (largest component ±[`Q_MAX`]), stored
/// contiguously. 10 bits keep the i32 dot product far from overflow for
/// unit vectors and are finer than `QPoint`'s i8; i16 products vectorise
/// well (`pmaddwd`) even on baseline x86-64, where i8 does not.
struct Quantized {
    data: Vec<i16>,
    scale: Vec<f32>,
    dim: usize,
}

/// Largest quantised component.
const Q_MAX: f32 = 1023.0;

impl Quantized {
    fn new<'a>(vectors: impl Iterator<Item = &'a [f32]>, n: usize) -> Self {
        let mut data = Vec::with_capacity(n * EMBEDDING_DIM);
        let mut scale = Vec::with_capacity(n);
        let mut dim = EMBEDDING_DIM;
        for v in vectors {
            dim = v.len();
            let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let (s, inv) = if max > 0.0 && max.is_finite() {
                (max / Q_MAX, Q_MAX / max)
            } else {
                (0.0, 0.0)
            };
            data.extend(
                v.iter()
                    .map(|x| (x * inv).round().clamp(-Q_MAX, Q_MAX) as i16),
            );
            scale.push(s);
        }
        Self { data, scale, dim }
    }

    fn gather(from: &Self, rows: &[usize]) -> Self {
        let mut data = Vec::with_capacity(rows.len() * from.dim);
        for &r in rows {
            data.extend_from_slice(from.row(r));
        }
        Self {
            data,
            scale: rows.iter().map(|&r| from.scale[r]).collect(),
            dim: from.dim,
        }
    }

    fn row(&self, i: usize) -> &[i16] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    fn len(&self) -> usize {
        self.scale.len()
    }
}

/// Dot product of two i16 vectors, exact in i32 (see [`Quantized`]).
fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    const LANES: usize = 16;
    let mut acc = [0i32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// Each point's `probes` nearest centres, nearest first (ties: lower
/// centre). Only the first is its list; the others are probed.
fn nearest_centres(q: &Quantized, centres: &Quantized, probes: usize) -> Vec<Vec<usize>> {
    (0..q.len())
        .into_par_iter()
        .map(|i| {
            let mut top = TopKIdx::new(probes);
            let qi = q.row(i);
            for c in 0..centres.len() {
                top.push(c, dot_i16(qi, centres.row(c)) as f32 * centres.scale[c]);
            }
            top.items()
        })
        .collect()
}

/// Members of each list (by primary centre), ascending.
fn group(assign: &[Vec<usize>], lists: usize) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); lists];
    for (i, a) in assign.iter().enumerate() {
        if let Some(&c) = a.first() {
            members[c].push(i);
        }
    }
    members
}

/// The `k` best (face, similarity) pairs seen.
struct TopK {
    k: usize,
    items: Vec<(FaceId, f32)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn push(&mut self, id: FaceId, s: f32) {
        if self.k == 0 {
            return;
        }
        if self.items.len() == self.k {
            let worst = self.items[self.k - 1];
            if by_rank(&(id, s), &worst) != std::cmp::Ordering::Less {
                return;
            }
            self.items.pop();
        }
        let at = self
            .items
            .partition_point(|x| by_rank(x, &(id, s)) == std::cmp::Ordering::Less);
        self.items.insert(at, (id, s));
    }

    fn into_sorted(self) -> Neighbours {
        self.items
    }
}

/// The `k` best (index, similarity) pairs seen; ties by lower index.
struct TopKIdx {
    k: usize,
    items: Vec<(usize, f32)>,
}

impl TopKIdx {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn push(&mut self, i: usize, s: f32) {
        let better = |a: &(usize, f32), b: &(usize, f32)| {
            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)) == std::cmp::Ordering::Less
        };
        if self.k == 0 {
            return;
        }
        if self.items.len() == self.k {
            if !better(&(i, s), &self.items[self.k - 1]) {
                return;
            }
            self.items.pop();
        }
        let at = self.items.partition_point(|x| better(x, &(i, s)));
        self.items.insert(at, (i, s));
    }

    fn items(&self) -> Vec<usize> {
        self.items.iter().map(|x| x.0).collect()
    }
}

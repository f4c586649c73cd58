//! Seeded synthetic embeddings for tests and benchmarks: clusters of unit
//! vectors with noise, like many photos of a few people. No dependencies,
//! so results are identical everywhere.

use super::vector::normalized;
use crate::types::{EMBEDDING_DIM, Embedding};

/// A small deterministic generator (`SplitMix64`).
#[derive(Clone, Debug)]
pub struct SynthRng(u64);

impl SynthRng {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f32 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// A uniformly random unit vector of [`EMBEDDING_DIM`] components.
    pub fn unit(&mut self) -> Embedding {
        loop {
            let v: Vec<f32> = (0..EMBEDDING_DIM).map(|_| self.gaussian()).collect();
            if let Ok(n) = normalized(&v) {
                return n;
            }
        }
    }
}

/// `n` unit vectors in `clusters` clusters ("people") of about equal size
/// (each vector picks its cluster uniformly); each is its cluster centre
/// plus isotropic noise of total length `noise` (relative to the unit
/// centre), normalised. `noise` = 1 gives a cosine of about 0.7 to the
/// centre and about 0.5 between two faces of one person, roughly what
/// `ArcFace` gives for photos of one person.
pub fn clustered(n: usize, clusters: usize, noise: f32, seed: u64) -> Vec<Embedding> {
    generate(n, clusters, noise, seed, false)
}

/// Like [`clustered`], but cluster sizes are skewed: the first clusters
/// hold most vectors (cluster `c` is picked with probability about
/// `1/(2·sqrt(c·clusters))`), the last ones hold one or none. A harder
/// test: giant clusters of nearly equidistant vectors, and many lone
/// vectors whose ten nearest neighbours are unrelated faces.
pub fn clustered_skewed(n: usize, clusters: usize, noise: f32, seed: u64) -> Vec<Embedding> {
    generate(n, clusters, noise, seed, true)
}

fn generate(n: usize, clusters: usize, noise: f32, seed: u64, skewed: bool) -> Vec<Embedding> {
    let mut rng = SynthRng::new(seed);
    let clusters = clusters.max(1);
    let centres: Vec<Embedding> = (0..clusters).map(|_| rng.unit()).collect();
    let sigma = noise / (EMBEDDING_DIM as f32).sqrt();
    (0..n)
        .map(|_| {
            let u = rng.uniform();
            // Squaring a uniform skews the choice towards low indices.
            let c = (if skewed { u * u } else { u } * clusters as f64) as usize;
            let centre = &centres[c.min(clusters - 1)];
            loop {
                let v: Vec<f32> = centre.iter().map(|x| x + sigma * rng.gaussian()).collect();
                if let Ok(n) = normalized(&v) {
                    break n;
                }
            }
        })
        .collect()
}

/// The exact `k` nearest (by cosine) of `query` among `data`, as indices,
/// similarity descending then index ascending.
pub fn exact_top_k(data: &[Embedding], query: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut all: Vec<(usize, f32)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (i, super::vector::dot(query, v)))
        .collect();
    all.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

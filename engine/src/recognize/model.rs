//! The person model: a robust centroid of the user-confirmed faces plus a
//! few prototypes, one per "look" (age, glasses, profile).

use std::collections::HashSet;

use super::{FaceRef, RecognitionSettings, confidence};
use crate::centroid::{centroid, robust_centroid};
use crate::index::dot;
use crate::types::{Embedding, FaceId, PersonId, PhotoId};

/// A person's model, built from their confirmed faces by [`PersonModel::build`].
#[derive(Clone, Debug, PartialEq)]
pub struct PersonModel {
    /// The person.
    pub person: PersonId,
    /// Robust centroid (outliers trimmed).
    pub centroid: Embedding,
    /// Look prototypes: the normalised mean of each look group of the inlier
    /// faces (empty when the person has too few faces to split).
    pub prototypes: Vec<Embedding>,
    /// The medoid face of each look group (same order as `prototypes`, or
    /// the overall medoid when there are no prototypes): good cover faces
    /// and "find more" queries.
    pub medoids: Vec<FaceId>,
    /// Photos that already hold a face of this person (cannot-link).
    pub photos: HashSet<PhotoId>,
    /// Number of confirmed faces the model was built from.
    pub faces: usize,
}

/// Faces per look group below which a person is not split further.
const MIN_FACES_PER_LOOK: usize = 4;

impl PersonModel {
    /// Builds the model of `person` from their confirmed faces; `None` when
    /// there are none. Deterministic: faces are taken in id order.
    pub fn build(
        person: PersonId,
        faces: &[FaceRef<'_>],
        settings: &RecognitionSettings,
    ) -> Option<Self> {
        let mut faces: Vec<&FaceRef<'_>> = faces.iter().collect();
        faces.sort_by_key(|f| f.id);
        let embs: Vec<&[f32]> = faces.iter().map(|f| f.embedding).collect();
        let (centre, kept) = robust_centroid(&embs, settings.trim_fraction)?;
        let looks = (kept.len() / MIN_FACES_PER_LOOK).min(settings.max_prototypes);
        let groups = if looks >= 2 {
            look_groups(&embs, &kept, looks)
        } else {
            vec![kept.clone()]
        };
        let mut prototypes = Vec::new();
        let mut medoids = Vec::new();
        for g in &groups {
            let Some(c) = centroid(g.iter().map(|&i| embs[i])) else {
                continue;
            };
            if let Some(m) = medoid(&embs, g, &c) {
                medoids.push(faces[m].id);
            }
            if groups.len() > 1 {
                prototypes.push(c);
            }
        }
        Some(Self {
            person,
            centroid: centre,
            prototypes,
            medoids,
            photos: faces.iter().map(|f| f.photo).collect(),
            faces: faces.len(),
        })
    }

    /// Confidence that `embedding` is this person: the best similarity to
    /// the centroid or a prototype, see [`super::confidence`].
    pub fn confidence(&self, embedding: &[f32]) -> f32 {
        let best = self
            .prototypes
            .iter()
            .map(|p| dot(embedding, p))
            .fold(dot(embedding, &self.centroid), f32::max);
        confidence(best)
    }
}

/// The member of `group` most similar to its centre (ties: lowest index).
fn medoid(embs: &[&[f32]], group: &[usize], centre: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for &i in group {
        let s = dot(embs[i], centre);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i)
}

/// Splits the inlier faces `kept` into `looks` groups: farthest-point seeds
/// then three rounds of assign-to-nearest and recentre (spherical k-means).
/// Empty groups are dropped.
fn look_groups(embs: &[&[f32]], kept: &[usize], looks: usize) -> Vec<Vec<usize>> {
    let Some(all) = centroid(kept.iter().map(|&i| embs[i])) else {
        return vec![kept.to_vec()];
    };
    // Seeds: the face closest to the centre, then repeatedly the face least
    // similar to every seed so far.
    let mut seeds: Vec<Embedding> = Vec::with_capacity(looks);
    if let Some(m) = medoid(embs, kept, &all) {
        seeds.push(embs[m].to_vec());
    }
    while seeds.len() < looks {
        let far = kept
            .iter()
            .map(|&i| {
                let s = seeds
                    .iter()
                    .map(|c| dot(embs[i], c))
                    .fold(f32::MIN, f32::max);
                (i, s)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        match far {
            Some((i, _)) => seeds.push(embs[i].to_vec()),
            None => break,
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for _ in 0..3 {
        groups = vec![Vec::new(); seeds.len()];
        for &i in kept {
            let mut best = (0usize, f32::MIN);
            for (g, c) in seeds.iter().enumerate() {
                let s = dot(embs[i], c);
                if s > best.1 {
                    best = (g, s);
                }
            }
            groups[best.0].push(i);
        }
        for (g, members) in groups.iter().enumerate() {
            if let Some(c) = centroid(members.iter().map(|&i| embs[i])) {
                seeds[g] = c;
            }
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}

//! Auto-assign / suggest / unknown decisions of faces against person
//! models.
//!
//! Rules, in order: a face the user assigned or ignored is never
//! considered; a person the face was rejected for, a person with a birth
//! date after the photo was taken, and a person who already has a
//! confirmed face in the same photo are never candidates. Among the rest,
//! the best confidence decides: at least `auto_assign` and ahead of the
//! runner-up by `auto_margin` → auto; at least `suggest` → suggestion;
//! else unknown. Within one batch, two faces of one photo never go to the
//! same person: the more confident (then lower id) keeps it, the other
//! falls back to unknown.

use std::collections::{BTreeMap, HashSet};

use super::{CivilDate, FaceRef, PersonModel, RecognitionSettings};
use crate::types::{FaceId, PersonId, PhotoId};

/// Who a face belongs to now, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaceState {
    /// No person.
    Unknown,
    /// Assigned automatically (may be revised).
    Auto(PersonId),
    /// Assigned or confirmed by the user (never revised).
    User(PersonId),
    /// Ignored by the user (a stranger; never resurfaces).
    Ignored,
}

/// A face to decide, with everything the rules need.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The face.
    pub face: FaceRef<'a>,
    /// Its current state.
    pub state: FaceState,
    /// When its photo was taken, if known (an unknown date never blocks).
    pub taken: Option<CivilDate>,
    /// Persons the user said this face is not.
    pub rejected: &'a [PersonId],
}

/// The outcome for one face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Assign automatically.
    Auto {
        /// To this person.
        person: PersonId,
        /// With this confidence.
        confidence: f32,
    },
    /// Suggest for review.
    Suggest {
        /// This person.
        person: PersonId,
        /// With this confidence.
        confidence: f32,
    },
    /// Leave unknown.
    Unknown,
}

impl Decision {
    /// The person proposed, if any.
    pub fn person(&self) -> Option<PersonId> {
        match *self {
            Self::Auto { person, .. } | Self::Suggest { person, .. } => Some(person),
            Self::Unknown => None,
        }
    }

    /// The confidence of the proposal (0 for unknown).
    pub fn confidence(&self) -> f32 {
        match *self {
            Self::Auto { confidence, .. } | Self::Suggest { confidence, .. } => confidence,
            Self::Unknown => 0.0,
        }
    }
}

/// Decides one face; `None` when the face is the user's (assigned or
/// ignored) and must not be touched.
pub fn decide(
    candidate: &Candidate<'_>,
    models: &[PersonModel],
    births: &BTreeMap<PersonId, CivilDate>,
    settings: &RecognitionSettings,
) -> Option<Decision> {
    if matches!(candidate.state, FaceState::User(_) | FaceState::Ignored) {
        return None;
    }
    let mut best: Option<(PersonId, f32)> = None;
    let mut second = 0.0f32;
    for m in models {
        if candidate.rejected.contains(&m.person) || m.photos.contains(&candidate.face.photo) {
            continue;
        }
        if let (Some(birth), Some(taken)) = (births.get(&m.person), candidate.taken)
            && taken < *birth
        {
            continue;
        }
        let c = m.confidence(candidate.face.embedding);
        match best {
            Some((p, b)) if c.total_cmp(&b).then(p.cmp(&m.person)).is_lt() => {
                second = second.max(c);
            }
            _ => {
                if let Some((_, b)) = best {
                    second = second.max(b);
                }
                best = Some((m.person, c));
            }
        }
    }
    let Some((person, confidence)) = best else {
        return Some(Decision::Unknown);
    };
    Some(
        if confidence >= settings.auto_assign && confidence - second >= settings.auto_margin {
            Decision::Auto { person, confidence }
        } else if confidence >= settings.suggest {
            Decision::Suggest { person, confidence }
        } else {
            Decision::Unknown
        },
    )
}

/// Decides a batch, in face-id order, and resolves same-photo conflicts
/// (two faces of one photo proposed for one person: the more confident,
/// then lower id, keeps the proposal; the other becomes unknown). Faces the
/// user owns are left out of the result.
pub fn decide_all(
    candidates: &[Candidate<'_>],
    models: &[PersonModel],
    births: &BTreeMap<PersonId, CivilDate>,
    settings: &RecognitionSettings,
) -> Vec<(FaceId, Decision)> {
    let mut out: Vec<(FaceId, PhotoId, Decision)> = candidates
        .iter()
        .filter_map(|c| decide(c, models, births, settings).map(|d| (c.face.id, c.face.photo, d)))
        .collect();
    // Faces the user placed also occupy their photo for their person.
    let mut taken: HashSet<(PhotoId, PersonId)> = candidates
        .iter()
        .filter_map(|c| match c.state {
            FaceState::User(p) => Some((c.face.photo, p)),
            _ => None,
        })
        .collect();
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|&a, &b| {
        out[b]
            .2
            .confidence()
            .total_cmp(&out[a].2.confidence())
            .then(out[a].0.cmp(&out[b].0))
    });
    for i in order {
        if let Some(p) = out[i].2.person()
            && !taken.insert((out[i].1, p))
        {
            out[i].2 = Decision::Unknown;
        }
    }
    out.sort_by_key(|o| o.0);
    out.into_iter().map(|(f, _, d)| (f, d)).collect()
}

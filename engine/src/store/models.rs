//! Person models as the store keeps them: built by
//! [`crate::recognize::PersonModel::build`] from a person's confirmed
//! faces (the one implementation), stored in `person_models`, rebuilt by
//! [`super::tx::Tx::commit`] for every person a transaction touched, and
//! verified by `check`.

use super::schema::{self, PERSON_MODELS, PersonModelRow};
use super::tx::Tx;
use crate::error::StorageError;
use crate::recognize::{FaceRef, PersonModel, RecognitionSettings};
use crate::types::{Embedding, FaceId, PersonId, PhotoId};
use redb::ReadableTable;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The model row of `person` from their confirmed faces (face, photo,
/// embedding); `None` when they have none.
pub(super) fn model_row(
    person: u64,
    confirmed: &[(u64, [u8; 32], Embedding)],
    settings: &RecognitionSettings,
) -> Option<PersonModelRow> {
    let refs: Vec<FaceRef<'_>> = confirmed
        .iter()
        .map(|(f, p, e)| FaceRef {
            id: FaceId(*f),
            photo: PhotoId(*p),
            embedding: e,
        })
        .collect();
    PersonModel::build(PersonId(person), &refs, settings).map(|m| PersonModelRow {
        centroid: m.centroid,
        prototypes: m.prototypes,
        medoids: m.medoids.into_iter().map(|f| f.0).collect(),
        faces: m.faces as u64,
    })
}

/// Every stored model, with its photo set (cannot-link) restricted to
/// `photos` (the photos of the faces being decided: the only ones a decision
/// asks about) and taken from the person's faces there except `exclude`
/// (the faces being decided, so a face never blocks itself). Person id
/// order. Cost: the model rows plus the faces of `photos`, whatever the
/// library's size.
pub(super) fn load_models(
    tx: &Tx,
    exclude: &HashSet<u64>,
    photos: &BTreeSet<[u8; 32]>,
) -> Result<Vec<PersonModel>, StorageError> {
    let mut held: BTreeMap<u64, HashSet<PhotoId>> = BTreeMap::new();
    for &photo in photos {
        for face in tx.faces_of_photo(photo)? {
            if exclude.contains(&face) {
                continue;
            }
            if let Some(person) = tx.face(face)?.and_then(|r| r.person) {
                held.entry(person).or_default().insert(PhotoId(photo));
            }
        }
    }
    let mut out = Vec::new();
    for entry in tx.txn().open_table(PERSON_MODELS)?.iter()? {
        let (k, v) = entry?;
        let row: PersonModelRow = schema::decode("person_models", v.value())?;
        let person = k.value();
        out.push(PersonModel {
            person: PersonId(person),
            centroid: row.centroid,
            prototypes: row.prototypes,
            medoids: row.medoids.into_iter().map(FaceId).collect(),
            photos: held.remove(&person).unwrap_or_default(),
            faces: row.faces as usize,
        });
    }
    Ok(out)
}

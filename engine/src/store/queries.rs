//! Read-only queries. Each runs in one read transaction, so what it returns is
//! one consistent snapshot; who a face belongs to is always read from the
//! faces table in that same transaction, never from the index.

use super::Library;
use super::names::name_key;
use super::schema::{
    self, FACES, FaceRow, PERSON_FACES, PERSON_MODELS, PERSONS, PHOTO_FACES, PHOTOS,
    PersonModelRow, PersonRow, PhotoRow,
};
use crate::centroid::centroid;
use crate::error::{QueryError, StorageError};
use crate::index;
use crate::types::{
    AssignedBy, Face, FaceId, Neighbour, Page, Person, PersonId, PersonSort, PersonSummary, Photo,
    PhotoDetail, PhotoId, PhotoSummary,
};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Sizes of the library.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryCounts {
    /// Photos.
    pub photos: u64,
    /// Faces.
    pub faces: u64,
    /// Persons.
    pub persons: u64,
    /// Faces with a person.
    pub assigned_faces: u64,
}

pub(super) fn read_face(txn: &ReadTransaction, id: u64) -> Result<Option<FaceRow>, StorageError> {
    let table = txn.open_table(FACES)?;
    let row = table.get(id)?;
    row.map(|v| schema::decode("faces", v.value())).transpose()
}

pub(super) fn read_person(
    txn: &ReadTransaction,
    id: u64,
) -> Result<Option<PersonRow>, StorageError> {
    let table = txn.open_table(PERSONS)?;
    let row = table.get(id)?;
    row.map(|v| schema::decode("persons", v.value()))
        .transpose()
}

pub(super) fn face_view(
    txn: &ReadTransaction,
    id: u64,
    row: FaceRow,
) -> Result<Face, StorageError> {
    Ok(Face {
        id: FaceId(id),
        photo: PhotoId(row.photo),
        bbox: row.bbox,
        landmarks: row.landmarks,
        score: row.score,
        model_pack: row.model_pack,
        source: row.source,
        person: row.person.map(PersonId),
        assigned_by: row.assigned_by,
        cluster: row.cluster.map(crate::types::ClusterId),
        ignored: row.ignored,
        has_embedding: index::get(txn, FaceId(id))?.is_some(),
    })
}

pub(super) fn person_view(id: u64, row: PersonRow) -> Person {
    Person {
        id: PersonId(id),
        name: row.name,
        notes: row.notes,
        cover_face: row.cover_face.map(FaceId),
        hidden: row.hidden,
        birth_date: row.birth_date,
        created_ms: row.created_ms,
    }
}

pub(super) fn photo_view(id: [u8; 32], row: PhotoRow) -> Photo {
    Photo {
        id: PhotoId(id),
        paths: row.paths,
        size_bytes: row.size_bytes,
        width: row.width,
        height: row.height,
        taken_at: row.taken_at,
        status: row.status,
    }
}

/// Photos in which every one of `persons` appears.
fn photos_with_all_in(
    txn: &ReadTransaction,
    persons: &[PersonId],
) -> Result<BTreeSet<[u8; 32]>, QueryError> {
    let mut result: Option<BTreeSet<[u8; 32]>> = None;
    for &p in persons {
        read_person(txn, p.0)?.ok_or(QueryError::UnknownPerson(p))?;
        let photos: BTreeSet<[u8; 32]> =
            faces_of(txn, p.0)?.into_iter().map(|(_, ph)| ph).collect();
        result = Some(match result {
            None => photos,
            Some(acc) => acc.intersection(&photos).copied().collect(),
        });
    }
    Ok(result.unwrap_or_default())
}

fn faces_of(txn: &ReadTransaction, person: u64) -> Result<Vec<(u64, [u8; 32])>, StorageError> {
    let table = txn.open_table(PERSON_FACES)?;
    let mut out = Vec::new();
    for entry in table.range((person, 0)..=(person, u64::MAX))? {
        let (k, v) = entry?;
        out.push((k.value().1, v.value()));
    }
    Ok(out)
}

impl Library {
    /// Persons with face and photo counts, sorted and paged.
    pub fn list_persons(
        &self,
        sort: PersonSort,
        page: Page,
        include_hidden: bool,
    ) -> Result<Vec<PersonSummary>, QueryError> {
        let txn = self.read()?;
        // Per person: faces, their photos, and the lowest face id.
        let mut counts: BTreeMap<u64, (u64, BTreeSet<[u8; 32]>, u64)> = BTreeMap::new();
        for entry in txn.open_table(PERSON_FACES)?.iter()? {
            let (k, v) = entry?;
            let (person, face) = k.value();
            let c = counts
                .entry(person)
                .or_insert_with(|| (0, BTreeSet::new(), face));
            c.0 += 1;
            c.1.insert(v.value());
        }
        let models = txn.open_table(PERSON_MODELS)?;
        let mut out = Vec::new();
        for entry in txn.open_table(PERSONS)?.iter()? {
            let (k, v) = entry?;
            let row: PersonRow = schema::decode("persons", v.value())?;
            if row.hidden && !include_hidden {
                continue;
            }
            let id = k.value();
            let (faces, photos, first_face) =
                counts.get(&id).map_or((0, 0, None), |(f, p, first)| {
                    (*f, p.len() as u64, Some(*first))
                });
            let medoid = match (row.cover_face, first_face) {
                (None, Some(_)) => match models.get(id)? {
                    Some(m) => {
                        let model: PersonModelRow = schema::decode("person_models", m.value())?;
                        model.medoids.first().copied()
                    }
                    None => None,
                },
                _ => None,
            };
            let card_face = row.cover_face.or(medoid).or(first_face).map(FaceId);
            out.push(PersonSummary {
                person: person_view(id, row),
                face_count: faces,
                photo_count: photos,
                card_face,
            });
        }
        // Sort keys computed once per person, not once per comparison.
        match sort {
            PersonSort::Name => out.sort_by_cached_key(|s| (name_key(&s.person.name), s.person.id)),
            PersonSort::FaceCount => out.sort_by_cached_key(|s| {
                (
                    std::cmp::Reverse(s.face_count),
                    name_key(&s.person.name),
                    s.person.id,
                )
            }),
        }
        Ok(out.into_iter().skip(page.offset).take(page.limit).collect())
    }

    /// One person.
    pub fn person(&self, id: PersonId) -> Result<Person, QueryError> {
        let txn = self.read()?;
        let row = read_person(&txn, id.0)?.ok_or(QueryError::UnknownPerson(id))?;
        Ok(person_view(id.0, row))
    }

    /// One face.
    pub fn face(&self, id: FaceId) -> Result<Face, QueryError> {
        let txn = self.read()?;
        let row = read_face(&txn, id.0)?.ok_or(QueryError::UnknownFace(id))?;
        Ok(face_view(&txn, id.0, row)?)
    }

    /// One photo.
    pub fn photo(&self, id: PhotoId) -> Result<Option<Photo>, QueryError> {
        let txn = self.read()?;
        let table = txn.open_table(PHOTOS)?;
        let row = table.get(id.0)?;
        let row: Option<PhotoRow> = row
            .map(|v| schema::decode("photos", v.value()))
            .transpose()?;
        Ok(row.map(|r| photo_view(id.0, r)))
    }

    /// A person's faces in id order, paged.
    pub fn faces_of_person(&self, person: PersonId, page: Page) -> Result<Vec<Face>, QueryError> {
        let txn = self.read()?;
        read_person(&txn, person.0)?.ok_or(QueryError::UnknownPerson(person))?;
        let mut out = Vec::new();
        for (face, _) in faces_of(&txn, person.0)?
            .into_iter()
            .skip(page.offset)
            .take(page.limit)
        {
            if let Some(row) = read_face(&txn, face)? {
                out.push(face_view(&txn, face, row)?);
            }
        }
        Ok(out)
    }

    /// Photos in which every one of `persons` appears, in id order.
    pub fn photos_with_all(&self, persons: &[PersonId]) -> Result<Vec<PhotoId>, QueryError> {
        let txn = self.read()?;
        Ok(photos_with_all_in(&txn, persons)?
            .into_iter()
            .map(PhotoId)
            .collect())
    }

    /// The `k` faces most similar to a face (itself excluded).
    pub fn nearest_to_face(&self, face: FaceId, k: usize) -> Result<Vec<Neighbour>, QueryError> {
        let txn = self.read()?;
        read_face(&txn, face.0)?.ok_or(QueryError::UnknownFace(face))?;
        let query = index::get(&txn, face)?
            .ok_or_else(|| QueryError::NoEmbedding(format!("face {face}")))?;
        let exclude = HashSet::from([face.0]);
        self.neighbours(&txn, &query, k, &exclude)
    }

    /// The `k` faces most similar to a person's centre (their user-confirmed
    /// faces, or all their faces when none is confirmed), excluding the
    /// person's own faces.
    pub fn nearest_to_person(
        &self,
        person: PersonId,
        k: usize,
    ) -> Result<Vec<Neighbour>, QueryError> {
        let txn = self.read()?;
        read_person(&txn, person.0)?.ok_or(QueryError::UnknownPerson(person))?;
        let own: Vec<u64> = faces_of(&txn, person.0)?
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        let mut confirmed = Vec::new();
        let mut all = Vec::new();
        for &f in &own {
            let Some(e) = index::get(&txn, FaceId(f))? else {
                continue;
            };
            if read_face(&txn, f)?
                .and_then(|r| r.assigned_by)
                .is_some_and(AssignedBy::is_confirmed)
            {
                confirmed.push(e.clone());
            }
            all.push(e);
        }
        let basis = if confirmed.is_empty() {
            &all
        } else {
            &confirmed
        };
        let query = centroid(basis.iter().map(Vec::as_slice))
            .ok_or_else(|| QueryError::NoEmbedding(format!("person {person}")))?;
        let exclude: HashSet<u64> = own.into_iter().collect();
        self.neighbours(&txn, &query, k, &exclude)
    }

    fn neighbours(
        &self,
        txn: &ReadTransaction,
        query: &[f32],
        k: usize,
        exclude: &HashSet<u64>,
    ) -> Result<Vec<Neighbour>, QueryError> {
        let hits = self
            .index
            .borrow_mut()
            .search(txn, query, k + exclude.len())?;
        let mut out = Vec::with_capacity(k);
        for (face, similarity) in hits {
            if exclude.contains(&face.0) {
                continue;
            }
            // The index knows face ids only; the owner comes from this snapshot.
            let person = read_face(txn, face.0)?.and_then(|r| r.person).map(PersonId);
            out.push(Neighbour {
                face,
                similarity,
                person,
            });
            if out.len() == k {
                break;
            }
        }
        Ok(out)
    }

    /// Every rejection ("face is not person"), in (face, person) order.
    pub fn rejections(&self) -> Result<Vec<(FaceId, PersonId)>, QueryError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(super::schema::REJECTIONS)?.iter()? {
            let (f, p) = entry?.0.value();
            out.push((FaceId(f), PersonId(p)));
        }
        Ok(out)
    }

    /// How big the library is.
    pub fn counts(&self) -> Result<LibraryCounts, QueryError> {
        let txn = self.read()?;
        Ok(LibraryCounts {
            photos: txn.open_table(PHOTOS)?.len()?,
            faces: txn.open_table(FACES)?.len()?,
            persons: txn.open_table(PERSONS)?.len()?,
            assigned_faces: txn.open_table(PERSON_FACES)?.len()?,
        })
    }
}

impl Library {
    /// A face's embedding (private data: for recognition and tests, never
    /// shown or logged); `None` when it has none.
    pub fn face_embedding(
        &self,
        id: FaceId,
    ) -> Result<Option<crate::types::Embedding>, QueryError> {
        let txn = self.read()?;
        read_face(&txn, id.0)?.ok_or(QueryError::UnknownFace(id))?;
        Ok(index::get(&txn, id)?)
    }
}

/// Faces of a photo, ascending by id.
fn faces_in_photo(txn: &ReadTransaction, photo: [u8; 32]) -> Result<Vec<u64>, StorageError> {
    let table = txn.open_table(PHOTO_FACES)?;
    let mut out = Vec::new();
    for entry in table.range((photo, 0)..=(photo, u64::MAX))? {
        out.push(entry?.0.value().1);
    }
    Ok(out)
}

/// Photo-grid order: by capture date, undated photos last, then by id.
fn by_capture_date(
    a: &(Option<String>, [u8; 32]),
    b: &(Option<String>, [u8; 32]),
) -> std::cmp::Ordering {
    match (&a.0, &b.0) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
    .then(a.1.cmp(&b.1))
}

impl Library {
    /// Photos by capture date (undated last), then id, paged; with
    /// `persons`, only the photos in which all of them appear. Only the
    /// page's photos are fully read.
    pub fn list_photos(
        &self,
        persons: &[PersonId],
        page: Page,
    ) -> Result<Vec<PhotoSummary>, QueryError> {
        let txn = self.read()?;
        let photos = txn.open_table(PHOTOS)?;
        let mut keys: Vec<(Option<String>, [u8; 32])> = Vec::new();
        if persons.is_empty() {
            for entry in photos.iter()? {
                let (k, v) = entry?;
                let row: PhotoRow = schema::decode("photos", v.value())?;
                keys.push((row.taken_at, k.value()));
            }
        } else {
            for id in photos_with_all_in(&txn, persons)? {
                if let Some(v) = photos.get(id)? {
                    let row: PhotoRow = schema::decode("photos", v.value())?;
                    keys.push((row.taken_at, id));
                }
            }
        }
        keys.sort_by(by_capture_date);
        let mut out = Vec::new();
        for (_, id) in keys.into_iter().skip(page.offset).take(page.limit) {
            let Some(v) = photos.get(id)? else { continue };
            let row: PhotoRow = schema::decode("photos", v.value())?;
            out.push(PhotoSummary {
                id: PhotoId(id),
                path: row.paths.first().map(std::path::PathBuf::from),
                width: row.width,
                height: row.height,
                faces: faces_in_photo(&txn, id)?.len(),
                taken: row.taken_at,
            });
        }
        Ok(out)
    }

    /// One photo with its faces (by id) and the name of each face's person.
    pub fn photo_detail(&self, id: PhotoId) -> Result<PhotoDetail, QueryError> {
        let txn = self.read()?;
        let row: PhotoRow = txn
            .open_table(PHOTOS)?
            .get(id.0)?
            .map(|v| schema::decode("photos", v.value()))
            .transpose()?
            .ok_or(QueryError::UnknownPhoto(id))?;
        let mut faces = Vec::new();
        let mut names = Vec::new();
        for face in faces_in_photo(&txn, id.0)? {
            let Some(face_row) = read_face(&txn, face)? else {
                continue;
            };
            let name = match face_row.person {
                Some(p) => read_person(&txn, p)?.map(|r| r.name),
                None => None,
            };
            faces.push(face_view(&txn, face, face_row)?);
            names.push(name);
        }
        Ok(PhotoDetail {
            photo: photo_view(id.0, row),
            faces,
            names,
        })
    }

    /// A face and its photo, read together (what a face thumbnail needs).
    pub fn face_and_photo(&self, id: FaceId) -> Result<(Face, Photo), QueryError> {
        let txn = self.read()?;
        let row = read_face(&txn, id.0)?.ok_or(QueryError::UnknownFace(id))?;
        let photo_id = row.photo;
        let photo: PhotoRow = txn
            .open_table(PHOTOS)?
            .get(photo_id)?
            .map(|v| schema::decode("photos", v.value()))
            .transpose()?
            .ok_or(QueryError::UnknownPhoto(PhotoId(photo_id)))?;
        Ok((face_view(&txn, id.0, row)?, photo_view(photo_id, photo)))
    }
}

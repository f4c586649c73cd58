//! Recognition's user actions and reads: unnamed groups (list, faces, name,
//! ignore), suggestions (review queue, accept, reject, find more),
//! corrections (split, remove, ignore, unignore) and enrolment. Each action
//! is one write transaction recorded in the undo history; a refused one
//! returns its error before the first write. Person models follow through
//! [`Tx::commit`].

use super::Library;
use super::actions::{
    detach_face, drop_suggestions_of_face, insert_person, require_face, require_faces,
    require_free_name, require_person, resolve_photo,
};
use super::import::{NewPhoto, record_in};
use super::names::{clean_name, name_key};
use super::queries::face_view;
use super::schema::{self, FACES, FaceRow, PHOTO_FACES, PersonRow, SUGGESTIONS, SuggestionRow};
use super::tx::Tx;
use crate::error::{ActionError, QueryError, StorageError};
use crate::index;
use crate::recognize::{CivilDate, PersonModel};
use crate::types::{
    AssignedBy, ClusterId, ClusterSummary, Face, FaceId, NewFace, Page, PersonId, PhotoId,
    Suggestion, SuggestionStatus,
};
use redb::ReadableTable;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Sample faces per group in [`ClusterSummary`].
pub const CLUSTER_SAMPLES: usize = 8;

/// The faces of unnamed group `cluster` (unknown, not ignored), id order.
fn group_faces<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    cluster: ClusterId,
) -> Result<Vec<(u64, FaceRow)>, StorageError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        let row: FaceRow = schema::decode("faces", v.value())?;
        if row.cluster == Some(cluster.0) && row.person.is_none() && !row.ignored {
            out.push((k.value(), row));
        }
    }
    Ok(out)
}

/// The person named `name` (any case), or a new one with that name.
fn person_named(tx: &mut Tx, name: &str) -> Result<(PersonId, PersonRow), ActionError> {
    if let Some(id) = tx.person_by_name_key(&name_key(name))? {
        let row = require_person(tx, PersonId(id))?;
        return Ok((PersonId(id), row));
    }
    Ok(insert_person(tx, name.to_owned())?)
}

/// Gives `face` to `person` as a user decision (`how`): leaving another
/// person records that it is not them; it leaves its group, is no longer
/// ignored, and its suggestions go.
fn give_face(
    tx: &mut Tx,
    face: FaceId,
    mut row: FaceRow,
    person: PersonId,
    how: AssignedBy,
) -> Result<(), ActionError> {
    if row.person != Some(person.0) {
        detach_face(tx, face, &mut row, true)?;
    }
    tx.put_rejection(face.0, person.0, false)?;
    row.person = Some(person.0);
    row.assigned_by = Some(how);
    row.cluster = None;
    row.ignored = false;
    tx.put_face(face.0, Some(&row))?;
    drop_suggestions_of_face(tx, face)?;
    resolve_photo(tx, row.photo, person.0)
}

/// Photos that hold a face of `person`.
fn photos_of(tx: &Tx, person: PersonId) -> Result<HashSet<[u8; 32]>, StorageError> {
    let mut out = HashSet::new();
    for f in tx.faces_of_person(person.0)? {
        if let Some(r) = tx.face(f)? {
            out.insert(r.photo);
        }
    }
    Ok(out)
}

fn ignore(tx: &mut Tx, faces: Vec<(FaceId, FaceRow)>) -> Result<u64, ActionError> {
    let mut n = 0;
    for (face, mut row) in faces {
        if row.ignored {
            continue;
        }
        detach_face(tx, face, &mut row, false)?;
        row.ignored = true;
        row.cluster = None;
        tx.put_face(face.0, Some(&row))?;
        drop_suggestions_of_face(tx, face)?;
        n += 1;
    }
    Ok(n)
}

/// The person and the faces of an accept or reject: each face must exist and
/// have a pending suggestion for the person.
fn require_pending(
    tx: &Tx,
    person: PersonId,
    faces: &[FaceId],
) -> Result<(PersonRow, Vec<(FaceId, FaceRow)>), ActionError> {
    let person_row = require_person(tx, person)?;
    let selected = require_faces(tx, faces)?;
    for (face, _) in &selected {
        require_suggestion(tx, *face, person)?;
    }
    Ok((person_row, selected))
}

/// The pending suggestion of `face` for `person`, or the refusal.
fn require_suggestion(tx: &Tx, face: FaceId, person: PersonId) -> Result<(), ActionError> {
    match tx.suggestion(face.0, person.0)? {
        Some(s) if s.status == SuggestionStatus::Pending => Ok(()),
        _ => Err(ActionError::NoSuggestion { face, person }),
    }
}

impl Library {
    /// Unnamed groups of at least the settings' minimum size, biggest first
    /// then id, each with up to [`CLUSTER_SAMPLES`] sample faces (highest
    /// detector score first, then id). Ignored and assigned faces are in no
    /// group.
    pub fn list_clusters(&self, page: Page) -> Result<Vec<ClusterSummary>, QueryError> {
        let txn = self.read()?;
        let mut groups: BTreeMap<u64, Vec<(f32, u64)>> = BTreeMap::new();
        for entry in txn.open_table(FACES)?.iter()? {
            let (k, v) = entry?;
            let row: FaceRow = schema::decode("faces", v.value())?;
            if let Some(c) = row.cluster
                && row.person.is_none()
                && !row.ignored
            {
                groups.entry(c).or_default().push((row.score, k.value()));
            }
        }
        let min = self.settings.min_group_size.max(1);
        let mut out: Vec<ClusterSummary> = groups
            .into_iter()
            .filter(|(_, faces)| faces.len() >= min)
            .map(|(id, mut faces)| {
                faces.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                ClusterSummary {
                    id: ClusterId(id),
                    size: faces.len(),
                    faces: faces
                        .iter()
                        .take(CLUSTER_SAMPLES)
                        .map(|f| FaceId(f.1))
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
        Ok(out.into_iter().skip(page.offset).take(page.limit).collect())
    }

    /// The faces of an unnamed group, in id order, paged.
    pub fn faces_of_cluster(
        &self,
        cluster: ClusterId,
        page: Page,
    ) -> Result<Vec<Face>, QueryError> {
        let txn = self.read()?;
        let faces = group_faces(&txn.open_table(FACES)?, cluster)?;
        if faces.is_empty() {
            return Err(QueryError::UnknownCluster(cluster));
        }
        faces
            .into_iter()
            .skip(page.offset)
            .take(page.limit)
            .map(|(id, row)| Ok(face_view(&txn, id, row)?))
            .collect()
    }

    /// Names an unnamed group: its faces become the user-confirmed faces of
    /// the person with that name (an existing name, any case, merges into
    /// that person; otherwise a person is created). A face the user
    /// rejected for that person, or in a photo that already holds one of
    /// their faces, stays unknown.
    pub fn name_cluster(
        &mut self,
        cluster: ClusterId,
        name: &str,
    ) -> Result<PersonId, ActionError> {
        let name = clean_name(name)?;
        let mut tx = self.begin(true)?;
        let faces = group_faces(&tx.txn().open_table(FACES)?, cluster)?;
        if faces.is_empty() {
            return Err(ActionError::UnknownCluster(cluster));
        }
        let (person, row) = person_named(&mut tx, &name)?;
        let mut photos = photos_of(&tx, person)?;
        for (face, row) in faces {
            if tx.is_rejected(face, person.0)? || !photos.insert(row.photo) {
                continue;
            }
            give_face(&mut tx, FaceId(face), row, person, AssignedBy::User)?;
        }
        tx.commit(&format!("name group {cluster} as {:?}", row.name))?;
        Ok(person)
    }

    /// Ignores faces (strangers): they leave their person and group, lose
    /// their suggestions and never resurface. Returns how many were not
    /// ignored before.
    pub fn ignore_faces(&mut self, faces: &[FaceId]) -> Result<u64, ActionError> {
        let mut tx = self.begin(true)?;
        let selected = require_faces(&tx, faces)?;
        let n = ignore(&mut tx, selected)?;
        tx.commit(&format!("ignore {n} face(s)"))?;
        Ok(n)
    }

    /// Ignores every face of an unnamed group.
    pub fn ignore_cluster(&mut self, cluster: ClusterId) -> Result<u64, ActionError> {
        let mut tx = self.begin(true)?;
        let faces = group_faces(&tx.txn().open_table(FACES)?, cluster)?;
        if faces.is_empty() {
            return Err(ActionError::UnknownCluster(cluster));
        }
        let selected = faces.into_iter().map(|(f, r)| (FaceId(f), r)).collect();
        let n = ignore(&mut tx, selected)?;
        tx.commit(&format!("ignore group {cluster}"))?;
        Ok(n)
    }

    /// Stops ignoring faces: they are unknown again (and grouped by the next
    /// recognise phase). Returns how many were ignored.
    pub fn unignore_faces(&mut self, faces: &[FaceId]) -> Result<u64, ActionError> {
        let mut tx = self.begin(true)?;
        let mut n = 0;
        for (face, mut row) in require_faces(&tx, faces)? {
            if row.ignored {
                row.ignored = false;
                row.cluster = None;
                tx.put_face(face.0, Some(&row))?;
                n += 1;
            }
        }
        tx.commit(&format!("unignore {n} face(s)"))?;
        Ok(n)
    }

    /// Splits faces off into a new person named `name` (which must be free):
    /// they become that person's confirmed faces and are recorded as not
    /// being the persons they leave.
    pub fn split_faces(&mut self, faces: &[FaceId], name: &str) -> Result<PersonId, ActionError> {
        let name = clean_name(name)?;
        let mut tx = self.begin(true)?;
        require_free_name(&tx, &name, None)?;
        let selected = require_faces(&tx, faces)?;
        let (person, _) = person_named(&mut tx, &name)?;
        for (face, row) in selected {
            give_face(&mut tx, face, row, person, AssignedBy::User)?;
        }
        tx.commit(&format!("split {} face(s) into {name:?}", faces.len()))?;
        Ok(person)
    }

    /// Removes faces from a person: they become unknown and are rejected
    /// for that person for good. Every face must be that person's.
    pub fn remove_faces(&mut self, person: PersonId, faces: &[FaceId]) -> Result<u64, ActionError> {
        let mut tx = self.begin(true)?;
        let person_row = require_person(&tx, person)?;
        let selected = require_faces(&tx, faces)?;
        if let Some((face, _)) = selected.iter().find(|(_, r)| r.person != Some(person.0)) {
            return Err(ActionError::FaceNotOfPerson {
                face: *face,
                person,
            });
        }
        let n = selected.len() as u64;
        for (face, mut row) in selected {
            detach_face(&mut tx, face, &mut row, true)?;
            row.cluster = None;
            tx.put_face(face.0, Some(&row))?;
            tx.put_suggestion(face.0, person.0, None)?;
        }
        tx.commit(&format!("remove {n} face(s) from {:?}", person_row.name))?;
        Ok(n)
    }

    /// A person's pending suggestions in review order: confidence
    /// descending, then face id.
    pub fn list_suggestions(
        &self,
        person: PersonId,
        page: Page,
    ) -> Result<Vec<Suggestion>, QueryError> {
        let txn = self.read()?;
        super::queries::read_person(&txn, person.0)?.ok_or(QueryError::UnknownPerson(person))?;
        let mut out = Vec::new();
        let table = txn.open_table(SUGGESTIONS)?;
        for entry in table.iter()? {
            let (k, v) = entry?;
            let (face, p) = k.value();
            if p != person.0 {
                continue;
            }
            let row: SuggestionRow = schema::decode("suggestions", v.value())?;
            if row.status == SuggestionStatus::Pending {
                out.push(Suggestion {
                    face: FaceId(face),
                    person,
                    score: row.score,
                    status: row.status,
                });
            }
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.face.cmp(&b.face)));
        Ok(out.into_iter().skip(page.offset).take(page.limit).collect())
    }

    /// Accepts pending suggestions: the faces become the person's
    /// (`AssignedBy::AcceptedSuggestion`). Returns how many.
    pub fn accept_suggestions(
        &mut self,
        person: PersonId,
        faces: &[FaceId],
    ) -> Result<u64, ActionError> {
        let mut tx = self.begin(true)?;
        let (person_row, selected) = require_pending(&tx, person, faces)?;
        let n = selected.len() as u64;
        for (face, row) in selected {
            give_face(&mut tx, face, row, person, AssignedBy::AcceptedSuggestion)?;
        }
        tx.commit(&format!(
            "accept {n} suggestion(s) for {:?}",
            person_row.name
        ))?;
        Ok(n)
    }

    /// Rejects pending suggestions: each face is recorded as not being the
    /// person, for good, and is never suggested for them again.
    pub fn reject_suggestions(
        &mut self,
        person: PersonId,
        faces: &[FaceId],
    ) -> Result<u64, ActionError> {
        let mut tx = self.begin(true)?;
        let (person_row, selected) = require_pending(&tx, person, faces)?;
        let n = selected.len() as u64;
        for (face, _) in selected {
            tx.put_suggestion(face.0, person.0, None)?;
            tx.put_rejection(face.0, person.0, true)?;
        }
        tx.commit(&format!(
            "reject {n} suggestion(s) for {:?}",
            person_row.name
        ))?;
        Ok(n)
    }

    /// "Find more": the `k` faces most like the person's model (centroid and
    /// look prototypes, searched in the index), excluding faces that have a
    /// person, are ignored, were rejected for them, share a photo with one
    /// of their faces or predate their birth date. They are stored as
    /// pending suggestions (one undoable action) and returned in review
    /// order.
    pub fn find_more(
        &mut self,
        person: PersonId,
        k: usize,
    ) -> Result<Vec<Suggestion>, ActionError> {
        let mut tx = self.begin(true)?;
        let person_row = require_person(&tx, person)?;
        let model_row = tx
            .person_model(person.0)?
            .ok_or(ActionError::NoModel(person))?;
        let model = PersonModel {
            person,
            centroid: model_row.centroid,
            prototypes: model_row.prototypes,
            medoids: Vec::new(),
            photos: std::collections::HashSet::new(),
            faces: model_row.faces as usize,
        };
        let photos = photos_of(&tx, person)?;
        let birth = person_row.birth_date.as_deref().and_then(CivilDate::parse);
        let wanted = k
            .saturating_mul(4)
            .saturating_add(tx.faces_of_person(person.0)?.len());
        let mut candidates: BTreeSet<u64> = BTreeSet::new();
        {
            let mut searcher = self.index.borrow_mut();
            for query in std::iter::once(&model.centroid).chain(&model.prototypes) {
                for (face, _) in searcher.search(tx.txn(), query, wanted)? {
                    candidates.insert(face.0);
                }
            }
        }
        let mut scored = Vec::new();
        for &face in &candidates {
            let Some(row) = tx.face(face)? else { continue };
            if row.person.is_some()
                || row.ignored
                || photos.contains(&row.photo)
                || tx.is_rejected(face, person.0)?
            {
                continue;
            }
            if let Some(birth) = birth {
                let taken = tx
                    .photo(row.photo)?
                    .and_then(|p| p.taken_at)
                    .as_deref()
                    .and_then(CivilDate::parse);
                if taken.is_some_and(|t| t < birth) {
                    continue;
                }
            }
            let Some(e) = index::get(tx.txn(), FaceId(face))? else {
                continue;
            };
            scored.push((FaceId(face), model.confidence(&e)));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        let mut out = Vec::with_capacity(scored.len());
        for (face, score) in scored {
            let row = SuggestionRow {
                score,
                status: SuggestionStatus::Pending,
            };
            tx.put_suggestion(face.0, person.0, Some(&row))?;
            out.push(Suggestion {
                face,
                person,
                score,
                status: SuggestionStatus::Pending,
            });
        }
        tx.commit(&format!("find more of {:?}", person_row.name))?;
        Ok(out)
    }

    /// Enrols a person from reference photos (as the vision pipeline saw
    /// them): each photo is recorded like an import (content already in the
    /// library keeps its faces) and its largest face becomes a confirmed
    /// face of the person named `name` (an existing name, any case, adds to
    /// that person). A photo with no face refuses the whole enrolment.
    pub fn enrol_person(
        &mut self,
        name: &str,
        photos: &[(NewPhoto, Vec<NewFace>)],
    ) -> Result<PersonId, ActionError> {
        let name = clean_name(name)?;
        if photos.is_empty() {
            return Err(ActionError::EmptySelection);
        }
        let mut tx = self.begin(true)?;
        let mut chosen = Vec::new();
        for (photo, faces) in photos {
            record_in(&mut tx, photo, faces)?;
            let largest = largest_face(&tx, photo.id)?
                .ok_or_else(|| ActionError::NoFaceFound(photo.path.clone()))?;
            chosen.push(largest);
        }
        let (person, _) = person_named(&mut tx, &name)?;
        for face in chosen {
            let row = require_face(&tx, face)?;
            give_face(&mut tx, face, row, person, AssignedBy::User)?;
        }
        tx.commit(&format!("enrol {name:?}"))?;
        Ok(person)
    }
}

/// The largest face (by box area, then lowest id) of a photo.
fn largest_face(tx: &Tx, photo: PhotoId) -> Result<Option<FaceId>, StorageError> {
    let mut best: Option<(f32, u64)> = None;
    let table = tx.txn().open_table(PHOTO_FACES)?;
    for entry in table.range((photo.0, 0)..=(photo.0, u64::MAX))? {
        let face = entry?.0.value().1;
        if let Some(row) = tx.face(face)? {
            let area = row.bbox.area();
            if best.is_none_or(|(a, _)| area > a) {
                best = Some((area, face));
            }
        }
    }
    Ok(best.map(|b| FaceId(b.1)))
}

//! User actions on persons and faces. Each is one write transaction recorded
//! in the undo history; a refused action returns its error before anything is
//! written, and a failing one drops its transaction, so nothing changes.

use super::names::{clean_date, clean_name, name_key};
use super::schema::{FaceRow, META_NEXT_PERSON, PersonRow};
use super::tx::{PairTable, Tx};
use super::{Library, now_ms, undo};
use crate::error::{ActionError, StorageError};
use crate::types::{AssignedBy, DeleteFaces, FaceId, PersonId};
use std::collections::BTreeSet;

/// Writes a new person named `name` (already checked) with a fresh id.
pub(super) fn insert_person(
    tx: &mut Tx,
    name: String,
) -> Result<(PersonId, PersonRow), StorageError> {
    let id = tx.alloc(META_NEXT_PERSON)?;
    let row = PersonRow {
        name,
        notes: String::new(),
        cover_face: None,
        hidden: false,
        birth_date: None,
        created_ms: now_ms(),
    };
    tx.put_person(id, Some(&row))?;
    Ok((PersonId(id), row))
}

pub(super) fn require_person(tx: &Tx, id: PersonId) -> Result<PersonRow, ActionError> {
    tx.person(id.0)?.ok_or(ActionError::UnknownPerson(id))
}

pub(super) fn require_face(tx: &Tx, id: FaceId) -> Result<FaceRow, ActionError> {
    tx.face(id.0)?.ok_or(ActionError::UnknownFace(id))
}

/// Refuses a name held by a person other than `except`.
pub(super) fn require_free_name(
    tx: &Tx,
    name: &str,
    except: Option<PersonId>,
) -> Result<(), ActionError> {
    if let Some(existing) = tx.person_by_name_key(&name_key(name))?
        && Some(PersonId(existing)) != except
    {
        let held = tx
            .person(existing)?
            .map_or_else(|| name.to_owned(), |p| p.name);
        return Err(ActionError::DuplicateName {
            name: held,
            existing: PersonId(existing),
        });
    }
    Ok(())
}

/// The distinct faces of a selection, all existing, or an error naming the
/// first unknown one.
pub(super) fn require_faces(
    tx: &Tx,
    faces: &[FaceId],
) -> Result<Vec<(FaceId, FaceRow)>, ActionError> {
    if faces.is_empty() {
        return Err(ActionError::EmptySelection);
    }
    let unique: BTreeSet<FaceId> = faces.iter().copied().collect();
    unique
        .into_iter()
        .map(|f| Ok((f, require_face(tx, f)?)))
        .collect()
}

/// Takes a face out of its person: clears the person's cover if it was this
/// face and, when `reject`, records that the face is not that person.
pub(super) fn detach_face(
    tx: &mut Tx,
    face: FaceId,
    row: &mut FaceRow,
    reject: bool,
) -> Result<(), ActionError> {
    if let Some(old) = row.person.take() {
        if let Some(mut person) = tx.person(old)?
            && person.cover_face == Some(face.0)
        {
            person.cover_face = None;
            tx.put_person(old, Some(&person))?;
        }
        if reject {
            tx.put_rejection(face.0, old, true)?;
        }
    }
    row.assigned_by = None;
    Ok(())
}

/// Keeps cannot-link after a user decision put `person` in `photo`: when
/// the photo holds several faces of that person, automatic assignments give
/// way (to the user's faces, or, among automatic ones only, to the lowest
/// id). Faces the user placed are never touched.
pub(super) fn resolve_photo(tx: &mut Tx, photo: [u8; 32], person: u64) -> Result<(), ActionError> {
    let mut same = Vec::new();
    for f in tx.faces_of_photo(photo)? {
        if let Some(row) = tx.face(f)?
            && row.person == Some(person)
        {
            same.push((f, row));
        }
    }
    if same.len() <= 1 {
        return Ok(());
    }
    let confirmed = |r: &FaceRow| r.assigned_by.is_some_and(AssignedBy::is_confirmed);
    let keep = if same.iter().any(|(_, r)| confirmed(r)) {
        None
    } else {
        same.first().map(|(f, _)| *f)
    };
    for (f, mut row) in same {
        if !confirmed(&row) && Some(f) != keep {
            detach_face(tx, FaceId(f), &mut row, false)?;
            tx.put_face(f, Some(&row))?;
        }
    }
    Ok(())
}

/// Drops every suggestion for a face (it has been decided by the user).
pub(super) fn drop_suggestions_of_face(tx: &mut Tx, face: FaceId) -> Result<(), ActionError> {
    for person in tx.pairs_of_face(PairTable::Suggestions, face.0)? {
        tx.put_suggestion(face.0, person, None)?;
    }
    Ok(())
}

impl Library {
    /// Creates a person. Refuses an empty name or one another person has
    /// (ignoring case).
    pub fn create_person(&mut self, name: &str) -> Result<PersonId, ActionError> {
        let name = clean_name(name)?;
        let mut tx = self.begin(true)?;
        require_free_name(&tx, &name, None)?;
        let (id, row) = insert_person(&mut tx, name)?;
        tx.commit(&format!("create person {:?}", row.name))?;
        Ok(id)
    }

    /// Renames a person (a change of case alone is allowed).
    pub fn rename_person(&mut self, person: PersonId, name: &str) -> Result<(), ActionError> {
        let name = clean_name(name)?;
        let mut tx = self.begin(true)?;
        let mut row = require_person(&tx, person)?;
        require_free_name(&tx, &name, Some(person))?;
        let label = format!("rename {:?} to {name:?}", row.name);
        row.name = name;
        tx.put_person(person.0, Some(&row))?;
        tx.commit(&label)?;
        Ok(())
    }

    /// Hides or shows a person in the people list.
    pub fn set_person_hidden(&mut self, person: PersonId, hidden: bool) -> Result<(), ActionError> {
        self.edit_person(person, "hide or show", |row| {
            row.hidden = hidden;
            Ok(())
        })
    }

    /// Sets a person's notes.
    pub fn set_person_notes(&mut self, person: PersonId, notes: &str) -> Result<(), ActionError> {
        self.edit_person(person, "edit notes of", |row| {
            notes.clone_into(&mut row.notes);
            Ok(())
        })
    }

    /// Sets or clears a person's birth date (`YYYY-MM-DD`).
    pub fn set_birth_date(
        &mut self,
        person: PersonId,
        date: Option<&str>,
    ) -> Result<(), ActionError> {
        let date = date.map(clean_date).transpose()?;
        self.edit_person(person, "set birth date of", |row| {
            row.birth_date = date;
            Ok(())
        })
    }

    /// Sets or clears a person's cover face; the face must be theirs.
    pub fn set_cover_face(
        &mut self,
        person: PersonId,
        face: Option<FaceId>,
    ) -> Result<(), ActionError> {
        let mut tx = self.begin(true)?;
        let mut row = require_person(&tx, person)?;
        if let Some(face) = face {
            let face_row = require_face(&tx, face)?;
            if face_row.person != Some(person.0) {
                return Err(ActionError::FaceNotOfPerson { face, person });
            }
        }
        row.cover_face = face.map(|f| f.0);
        tx.put_person(person.0, Some(&row))?;
        tx.commit(&format!("set cover of {:?}", row.name))?;
        Ok(())
    }

    fn edit_person(
        &mut self,
        person: PersonId,
        what: &str,
        edit: impl FnOnce(&mut PersonRow) -> Result<(), ActionError>,
    ) -> Result<(), ActionError> {
        let mut tx = self.begin(true)?;
        let mut row = require_person(&tx, person)?;
        edit(&mut row)?;
        tx.put_person(person.0, Some(&row))?;
        tx.commit(&format!("{what} {:?}", row.name))?;
        Ok(())
    }

    /// Deletes a person with their suggestions and rejections; their faces
    /// become unassigned or are deleted with their embeddings. Deleting is
    /// permanent: it also clears the undo history, so none of the person's
    /// data survives in it. Returns the number of faces affected.
    pub fn delete_person(
        &mut self,
        person: PersonId,
        faces: DeleteFaces,
    ) -> Result<u64, ActionError> {
        let mut tx = self.begin(false)?;
        tx.track_redecide();
        require_person(&tx, person)?;
        tx.clear_undo_history()?;
        let face_ids = tx.faces_of_person(person.0)?;
        for &f in &face_ids {
            match faces {
                DeleteFaces::Unassign => {
                    if let Some(mut row) = tx.face(f)? {
                        row.person = None;
                        row.assigned_by = None;
                        tx.put_face(f, Some(&row))?;
                    }
                }
                DeleteFaces::Delete => delete_face(&mut tx, f)?,
            }
        }
        for f in tx.pairs_of_person(PairTable::Suggestions, person.0)? {
            tx.put_suggestion(f, person.0, None)?;
        }
        for f in tx.pairs_of_person(PairTable::Rejections, person.0)? {
            tx.put_rejection(f, person.0, false)?;
        }
        tx.put_person(person.0, None)?;
        tx.commit("delete person")?;
        Ok(face_ids.len() as u64)
    }

    /// Merges `from` into `into`: faces, rejections and suggestions move,
    /// `into` keeps its name and takes `from`'s cover, notes and birth date
    /// where it has none; `from` is removed. Returns the faces moved.
    pub fn merge_persons(&mut self, from: PersonId, into: PersonId) -> Result<u64, ActionError> {
        if from == into {
            return Err(ActionError::MergeIntoSelf(from));
        }
        let mut tx = self.begin(true)?;
        let from_row = require_person(&tx, from)?;
        require_person(&tx, into)?;
        let moved = tx.faces_of_person(from.0)?;
        for &f in &moved {
            if let Some(mut row) = tx.face(f)? {
                row.person = Some(into.0);
                tx.put_face(f, Some(&row))?;
                // The merge says from and into are one person: an old "not
                // into" about a face of from no longer holds.
                tx.put_rejection(f, into.0, false)?;
                tx.put_suggestion(f, into.0, None)?;
            }
        }
        for f in tx.pairs_of_person(PairTable::Rejections, from.0)? {
            tx.put_rejection(f, from.0, false)?;
            let owner = tx.face(f)?.and_then(|r| r.person);
            if owner != Some(into.0) {
                tx.put_rejection(f, into.0, true)?;
                tx.put_suggestion(f, into.0, None)?;
            }
        }
        for f in tx.pairs_of_person(PairTable::Suggestions, from.0)? {
            let Some(moving) = tx.suggestion(f, from.0)? else {
                continue;
            };
            tx.put_suggestion(f, from.0, None)?;
            let owner = tx.face(f)?.and_then(|r| r.person);
            let keep = match tx.suggestion(f, into.0)? {
                Some(existing) => moving.score > existing.score,
                None => true,
            };
            if owner != Some(into.0) && !tx.is_rejected(f, into.0)? && keep {
                tx.put_suggestion(f, into.0, Some(&moving))?;
            }
        }
        let mut photos = BTreeSet::new();
        for f in tx.faces_of_person(into.0)? {
            if let Some(r) = tx.face(f)? {
                photos.insert(r.photo);
            }
        }
        for photo in photos {
            resolve_photo(&mut tx, photo, into.0)?;
        }
        // Re-read: resolving may have cleared a cover.
        let mut into_row = require_person(&tx, into)?;
        let from_cover = match from_row.cover_face {
            Some(c) if tx.face(c)?.and_then(|r| r.person) == Some(into.0) => Some(c),
            _ => None,
        };
        into_row.cover_face = into_row.cover_face.or(from_cover);
        if into_row.notes.is_empty() {
            into_row.notes.clone_from(&from_row.notes);
        }
        into_row.birth_date = into_row.birth_date.or(from_row.birth_date.clone());
        tx.put_person(from.0, None)?;
        tx.put_person(into.0, Some(&into_row))?;
        tx.commit(&format!(
            "merge {:?} into {:?}",
            from_row.name, into_row.name
        ))?;
        Ok(moved.len() as u64)
    }

    /// Assigns faces to a person as a user decision (also how faces move
    /// between persons: leaving a person records that the face is not them).
    pub fn assign_faces(&mut self, faces: &[FaceId], person: PersonId) -> Result<(), ActionError> {
        let mut tx = self.begin(true)?;
        let person_row = require_person(&tx, person)?;
        let selected = require_faces(&tx, faces)?;
        for (face, mut row) in selected {
            if row.person != Some(person.0) {
                detach_face(&mut tx, face, &mut row, true)?;
            }
            tx.put_rejection(face.0, person.0, false)?;
            row.person = Some(person.0);
            row.assigned_by = Some(AssignedBy::User);
            row.cluster = None;
            row.ignored = false;
            tx.put_face(face.0, Some(&row))?;
            drop_suggestions_of_face(&mut tx, face)?;
            resolve_photo(&mut tx, row.photo, person.0)?;
        }
        tx.commit(&format!(
            "assign {} face(s) to {:?}",
            faces.len(),
            person_row.name
        ))?;
        Ok(())
    }

    /// Takes faces away from their persons: they become unknown and are
    /// recorded as not being those persons.
    pub fn unassign_faces(&mut self, faces: &[FaceId]) -> Result<(), ActionError> {
        let mut tx = self.begin(true)?;
        for (face, mut row) in require_faces(&tx, faces)? {
            if row.person.is_some() {
                detach_face(&mut tx, face, &mut row, true)?;
                tx.put_face(face.0, Some(&row))?;
            }
        }
        tx.commit(&format!("unassign {} face(s)", faces.len()))?;
        Ok(())
    }

    /// Undoes the newest user action; returns what it was.
    pub fn undo(&mut self) -> Result<String, ActionError> {
        let mut tx = self.begin(false)?;
        tx.track_redecide();
        let label = undo::undo_last(&mut tx)?;
        tx.commit("undo")?;
        Ok(label)
    }

    /// Redoes the newest undone action (any new action clears what can be
    /// redone); returns what it was.
    pub fn redo(&mut self) -> Result<String, ActionError> {
        let mut tx = self.begin(false)?;
        tx.track_redecide();
        let label = undo::redo_last(&mut tx)?;
        tx.commit("redo")?;
        Ok(label)
    }
}

/// Deletes a face with its embedding, suggestions and rejections.
pub(super) fn delete_face(tx: &mut Tx, face: u64) -> Result<(), ActionError> {
    tx.put_face(face, None)?;
    tx.put_embedding(face, None)?;
    for p in tx.pairs_of_face(PairTable::Suggestions, face)? {
        tx.put_suggestion(face, p, None)?;
    }
    for p in tx.pairs_of_face(PairTable::Rejections, face)? {
        tx.put_rejection(face, p, false)?;
    }
    Ok(())
}

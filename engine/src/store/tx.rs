//! [`Tx`]: the one way rows are written.
//!
//! Every write of a ground-truth row goes through a `put_*` method here, which
//! keeps the derived tables in step in the same redb transaction and, for a
//! user action, records the row's before-image once so the action can be
//! undone. Nothing else in the store writes those tables.

use super::schema::{
    self, FACES, FaceRow, META, OPLOG, PERSON_FACES, PERSON_MODELS, PERSON_NAMES, PERSONS,
    PHOTO_FACES, PHOTO_PATHS, PHOTOS, PersonRow, PhotoRow, REDECIDE_FACES, REDECIDE_PERSONS, REDO,
    REJECTIONS, SUGGESTIONS, SuggestionRow,
};
use super::undo::{Before, OpRecord};
use crate::error::StorageError;
use crate::index;
use crate::recognize::RecognitionSettings;
use crate::types::{AssignedBy, Embedding, FaceId};
use redb::{ReadableTable, WriteTransaction};
use std::collections::{BTreeSet, HashSet};

/// How many user actions the undo history keeps.
pub const UNDO_HISTORY_LEN: u64 = 200;

/// A row a before-image was taken of.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum RowKey {
    Face(u64),
    Person(u64),
    Suggestion(u64, u64),
    Rejection(u64, u64),
    Embedding(u64),
}

/// A write transaction of the library.
///
/// Person models are derived state kept in step here too: every write that
/// changes who a face belongs to (or how), a confirmed face's embedding or
/// a person row marks the persons involved, and [`Tx::commit`] rebuilds
/// their models (`person_models`) inside the same transaction.
pub struct Tx {
    txn: WriteTransaction,
    /// Before-images of a user action; `None` for system writes (import).
    undo: Option<(Vec<Before>, HashSet<RowKey>)>,
    /// Persons whose model must be rebuilt before commit.
    dirty: BTreeSet<u64>,
    /// Settings the models are built with.
    settings: RecognitionSettings,
    /// Records what it changes for the post-action re-decide (user
    /// actions, undo, redo, deleting a person).
    track: bool,
    /// Faces written while tracking.
    touched: BTreeSet<u64>,
}

impl Tx {
    /// Wraps a write transaction. `record_undo` makes it a user action that
    /// [`Tx::commit`] adds to the undo history.
    pub fn new(txn: WriteTransaction, record_undo: bool) -> Self {
        Self {
            txn,
            undo: record_undo.then(|| (Vec::new(), HashSet::new())),
            dirty: BTreeSet::new(),
            settings: RecognitionSettings::default(),
            track: record_undo,
            touched: BTreeSet::new(),
        }
    }

    /// Records what this transaction changes for the post-action re-decide
    /// ([`super::Library::recognise_changed`]) even though it is not an
    /// undo step (undo, redo, deleting a person). User actions always do.
    pub fn track_redecide(&mut self) {
        self.track = true;
    }

    fn touch(&mut self, face: u64) {
        if self.track {
            self.touched.insert(face);
        }
    }

    /// Uses `settings` for the person models this transaction rebuilds.
    #[must_use]
    pub fn with_settings(mut self, settings: RecognitionSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The recognition settings of this transaction.
    pub fn settings(&self) -> &RecognitionSettings {
        &self.settings
    }

    /// Marks a person's model for rebuilding at commit.
    pub fn mark_model_dirty(&mut self, person: u64) {
        self.dirty.insert(person);
    }

    /// The underlying transaction, for the index module and reads.
    pub fn txn(&self) -> &WriteTransaction {
        &self.txn
    }

    fn remember(
        &mut self,
        key: RowKey,
        before: impl FnOnce(&Self) -> Result<Before, StorageError>,
    ) -> Result<(), StorageError> {
        let fresh = match &self.undo {
            Some((_, seen)) => !seen.contains(&key),
            None => false,
        };
        if fresh {
            let image = before(self)?;
            if let Some((list, seen)) = &mut self.undo {
                seen.insert(key);
                list.push(image);
            }
        }
        Ok(())
    }

    /// Reads a counter from `meta` (0 when absent).
    pub fn meta(&self, key: &str) -> Result<u64, StorageError> {
        let table = self.txn.open_table(META)?;
        Ok(table.get(key)?.map_or(0, |v| v.value()))
    }

    /// Sets a counter in `meta`.
    pub fn set_meta(&self, key: &str, value: u64) -> Result<(), StorageError> {
        self.txn.open_table(META)?.insert(key, value)?;
        Ok(())
    }

    /// Allocates the next id of a counter (ids start at 1 and are never reused).
    pub fn alloc(&self, key: &str) -> Result<u64, StorageError> {
        let id = self.meta(key)?.max(1);
        self.set_meta(key, id + 1)?;
        Ok(id)
    }

    /// A face row.
    pub fn face(&self, id: u64) -> Result<Option<FaceRow>, StorageError> {
        let table = self.txn.open_table(FACES)?;
        let row = table.get(id)?;
        row.map(|v| schema::decode("faces", v.value())).transpose()
    }

    /// Writes (or with `None` deletes) a face row, keeping `photo_faces` and
    /// `person_faces` in step.
    pub fn put_face(&mut self, id: u64, row: Option<&FaceRow>) -> Result<(), StorageError> {
        self.remember(RowKey::Face(id), |tx| Ok(Before::Face(id, tx.face(id)?)))?;
        self.touch(id);
        let old = self.face(id)?;
        // Models depend on confirmed faces only: automatic assignments do
        // not mark anyone.
        let (before, after) = (confirmed_owner(old.as_ref()), confirmed_owner(row));
        if before != after {
            self.dirty.extend(before);
            self.dirty.extend(after);
        }
        let mut photo_faces = self.txn.open_table(PHOTO_FACES)?;
        let mut person_faces = self.txn.open_table(PERSON_FACES)?;
        if let Some(old) = &old {
            photo_faces.remove((old.photo, id))?;
            if let Some(p) = old.person {
                person_faces.remove((p, id))?;
            }
        }
        let mut faces = self.txn.open_table(FACES)?;
        match row {
            Some(row) => {
                faces.insert(id, schema::encode(row)?.as_slice())?;
                photo_faces.insert((row.photo, id), ())?;
                if let Some(p) = row.person {
                    person_faces.insert((p, id), row.photo)?;
                }
            }
            None => {
                faces.remove(id)?;
            }
        }
        Ok(())
    }

    /// A person row.
    pub fn person(&self, id: u64) -> Result<Option<PersonRow>, StorageError> {
        let table = self.txn.open_table(PERSONS)?;
        let row = table.get(id)?;
        row.map(|v| schema::decode("persons", v.value()))
            .transpose()
    }

    /// The person holding this name key, if any.
    pub fn person_by_name_key(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let table = self.txn.open_table(PERSON_NAMES)?;
        Ok(table.get(key)?.map(|v| v.value()))
    }

    /// Writes (or deletes) a person row, keeping `person_names` in step. The
    /// caller has checked that the name is free; a clash here is a storage
    /// error (the transaction is then dropped, so nothing changes).
    pub fn put_person(&mut self, id: u64, row: Option<&PersonRow>) -> Result<(), StorageError> {
        self.remember(RowKey::Person(id), |tx| {
            Ok(Before::Person(id, tx.person(id)?))
        })?;
        self.dirty.insert(id);
        let old = self.person(id)?;
        let mut names = self.txn.open_table(PERSON_NAMES)?;
        if let Some(old) = &old {
            names.remove(super::names::name_key(&old.name).as_str())?;
        }
        let mut persons = self.txn.open_table(PERSONS)?;
        match row {
            Some(row) => {
                let key = super::names::name_key(&row.name);
                if let Some(other) = names.get(key.as_str())?.map(|v| v.value())
                    && other != id
                {
                    return Err(StorageError::new(format!(
                        "name {:?} is already held by person {other}",
                        row.name
                    )));
                }
                names.insert(key.as_str(), id)?;
                persons.insert(id, schema::encode(row)?.as_slice())?;
            }
            None => {
                persons.remove(id)?;
            }
        }
        Ok(())
    }

    /// A photo row.
    pub fn photo(&self, id: [u8; 32]) -> Result<Option<PhotoRow>, StorageError> {
        let table = self.txn.open_table(PHOTOS)?;
        let row = table.get(id)?;
        row.map(|v| schema::decode("photos", v.value())).transpose()
    }

    /// Writes a photo row, keeping `photo_paths` in step. Photos are written
    /// by import, not by user actions, so they are not in the undo history.
    pub fn put_photo(&mut self, id: [u8; 32], row: &PhotoRow) -> Result<(), StorageError> {
        let old = self.photo(id)?;
        let mut paths = self.txn.open_table(PHOTO_PATHS)?;
        if let Some(old) = &old {
            for p in &old.paths {
                paths.remove(p.as_str())?;
            }
        }
        for p in &row.paths {
            paths.insert(p.as_str(), id)?;
        }
        self.txn
            .open_table(PHOTOS)?
            .insert(id, schema::encode(row)?.as_slice())?;
        Ok(())
    }

    /// A suggestion row.
    pub fn suggestion(
        &self,
        face: u64,
        person: u64,
    ) -> Result<Option<SuggestionRow>, StorageError> {
        let table = self.txn.open_table(SUGGESTIONS)?;
        let row = table.get((face, person))?;
        row.map(|v| schema::decode("suggestions", v.value()))
            .transpose()
    }

    /// Writes (or deletes) a suggestion.
    pub fn put_suggestion(
        &mut self,
        face: u64,
        person: u64,
        row: Option<&SuggestionRow>,
    ) -> Result<(), StorageError> {
        self.remember(RowKey::Suggestion(face, person), |tx| {
            Ok(Before::Suggestion(
                face,
                person,
                tx.suggestion(face, person)?,
            ))
        })?;
        self.touch(face);
        let mut table = self.txn.open_table(SUGGESTIONS)?;
        match row {
            Some(row) => {
                table.insert((face, person), schema::encode(row)?.as_slice())?;
            }
            None => {
                table.remove((face, person))?;
            }
        }
        Ok(())
    }

    /// True when the face is rejected for the person.
    pub fn is_rejected(&self, face: u64, person: u64) -> Result<bool, StorageError> {
        Ok(self
            .txn
            .open_table(REJECTIONS)?
            .get((face, person))?
            .is_some())
    }

    /// Records or forgets "face is not person".
    pub fn put_rejection(
        &mut self,
        face: u64,
        person: u64,
        rejected: bool,
    ) -> Result<(), StorageError> {
        self.remember(RowKey::Rejection(face, person), |tx| {
            Ok(Before::Rejection(
                face,
                person,
                tx.is_rejected(face, person)?,
            ))
        })?;
        self.touch(face);
        let mut table = self.txn.open_table(REJECTIONS)?;
        if rejected {
            table.insert((face, person), ())?;
        } else {
            table.remove((face, person))?;
        }
        Ok(())
    }

    /// Writes (or removes) a face's embedding through the vector index.
    pub fn put_embedding(
        &mut self,
        face: u64,
        embedding: Option<&[f32]>,
    ) -> Result<(), StorageError> {
        self.remember(RowKey::Embedding(face), |tx| {
            Ok(Before::Embedding(face, index::get(tx.txn(), FaceId(face))?))
        })?;
        self.touch(face);
        if let Some(p) = confirmed_owner(self.face(face)?.as_ref()) {
            self.dirty.insert(p);
        }
        match embedding {
            Some(e) => index::put(&self.txn, FaceId(face), e)?,
            None => {
                index::remove(&self.txn, FaceId(face))?;
            }
        }
        Ok(())
    }

    /// A face's embedding.
    pub fn embedding(&self, face: u64) -> Result<Option<Embedding>, StorageError> {
        Ok(index::get(&self.txn, FaceId(face))?)
    }

    /// Faces of a person, ascending.
    pub fn faces_of_person(&self, person: u64) -> Result<Vec<u64>, StorageError> {
        let table = self.txn.open_table(PERSON_FACES)?;
        let mut out = Vec::new();
        for entry in table.range((person, 0)..=(person, u64::MAX))? {
            out.push(entry?.0.value().1);
        }
        Ok(out)
    }

    /// Faces of a photo, ascending.
    pub fn faces_of_photo(&self, photo: [u8; 32]) -> Result<Vec<u64>, StorageError> {
        let table = self.txn.open_table(PHOTO_FACES)?;
        let mut out = Vec::new();
        for entry in table.range((photo, 0)..=(photo, u64::MAX))? {
            out.push(entry?.0.value().1);
        }
        Ok(out)
    }

    /// Keys of the rows of a (face, person)-keyed table whose person is `person`.
    pub fn pairs_of_person(&self, which: PairTable, person: u64) -> Result<Vec<u64>, StorageError> {
        let mut out = Vec::new();
        match which {
            PairTable::Suggestions => {
                for entry in self.txn.open_table(SUGGESTIONS)?.iter()? {
                    let (f, p) = entry?.0.value();
                    if p == person {
                        out.push(f);
                    }
                }
            }
            PairTable::Rejections => {
                for entry in self.txn.open_table(REJECTIONS)?.iter()? {
                    let (f, p) = entry?.0.value();
                    if p == person {
                        out.push(f);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Persons of the rows of a (face, person)-keyed table for this face.
    pub fn pairs_of_face(&self, which: PairTable, face: u64) -> Result<Vec<u64>, StorageError> {
        let mut out = Vec::new();
        let range = (face, 0)..=(face, u64::MAX);
        match which {
            PairTable::Suggestions => {
                for entry in self.txn.open_table(SUGGESTIONS)?.range(range)? {
                    out.push(entry?.0.value().1);
                }
            }
            PairTable::Rejections => {
                for entry in self.txn.open_table(REJECTIONS)?.range(range)? {
                    out.push(entry?.0.value().1);
                }
            }
        }
        Ok(out)
    }

    /// Drops the whole undo history (after an action that cannot be undone,
    /// such as deleting a person, whose data must really go).
    pub fn clear_undo_history(&mut self) -> Result<(), StorageError> {
        self.txn.open_table(OPLOG)?.retain(|_, _| false)?;
        self.txn.open_table(REDO)?.retain(|_, _| false)?;
        self.undo = None;
        Ok(())
    }

    /// Commits; for a user action, first appends it to the undo history
    /// (trimmed to [`UNDO_HISTORY_LEN`]).
    pub fn commit(mut self, label: &str) -> Result<(), StorageError> {
        if self.track {
            self.record_redecide()?;
        }
        for person in std::mem::take(&mut self.dirty) {
            self.refresh_model(person)?;
        }
        // Every successful user action is one undo step, even one that
        // happened to change nothing, so undo always matches what the user did.
        if let Some((before, _)) = self.undo.take() {
            // A new action makes the undone ones unreachable: redo is cleared.
            self.txn.open_table(REDO)?.retain(|_, _| false)?;
            let op = self.alloc(schema::META_NEXT_OP)?;
            let record = OpRecord {
                label: label.to_owned(),
                at_ms: super::now_ms(),
                before,
            };
            let mut log = self.txn.open_table(OPLOG)?;
            log.insert(op, schema::encode(&record)?.as_slice())?;
            if op > UNDO_HISTORY_LEN {
                let cutoff = op - UNDO_HISTORY_LEN;
                log.retain(|k, _| k > cutoff)?;
            }
        }
        self.txn.commit()?;
        Ok(())
    }
}

impl Tx {
    /// Adds the faces this transaction wrote and the persons whose model it
    /// is about to rebuild (with their model's vectors as they are now, unless
    /// an earlier action since the last re-decide recorded them already) to
    /// the re-decide work list.
    fn record_redecide(&mut self) -> Result<(), StorageError> {
        let mut faces = self.txn.open_table(REDECIDE_FACES)?;
        for &f in &self.touched {
            faces.insert(f, ())?;
        }
        drop(faces);
        for &p in &self.dirty {
            if self.txn.open_table(REDECIDE_PERSONS)?.get(p)?.is_some() {
                continue;
            }
            let vectors: Vec<Embedding> = self
                .person_model(p)?
                .map(|m| std::iter::once(m.centroid).chain(m.prototypes).collect())
                .unwrap_or_default();
            self.txn
                .open_table(REDECIDE_PERSONS)?
                .insert(p, schema::encode(&vectors)?.as_slice())?;
        }
        Ok(())
    }

    /// The stored model of a person.
    pub fn person_model(
        &self,
        person: u64,
    ) -> Result<Option<schema::PersonModelRow>, StorageError> {
        let table = self.txn.open_table(PERSON_MODELS)?;
        let row = table.get(person)?;
        row.map(|v| schema::decode("person_models", v.value()))
            .transpose()
    }

    /// Rebuilds (or removes) the stored model of `person` from their
    /// confirmed faces.
    pub fn refresh_model(&mut self, person: u64) -> Result<(), StorageError> {
        let row = if self.person(person)?.is_some() {
            let mut confirmed = Vec::new();
            for face in self.faces_of_person(person)? {
                if let Some(r) = self.face(face)?
                    && r.assigned_by.is_some_and(AssignedBy::is_confirmed)
                {
                    confirmed.push((face, r.photo));
                }
            }
            let ids: Vec<FaceId> = confirmed.iter().map(|c| FaceId(c.0)).collect();
            let embeddings = index::get_many(&self.txn, &ids)?;
            let with: Vec<(u64, [u8; 32], Embedding)> = confirmed
                .into_iter()
                .zip(embeddings)
                .filter_map(|((f, ph), e)| e.map(|e| (f, ph, e)))
                .collect();
            super::models::model_row(person, &with, &self.settings)
        } else {
            None
        };
        let mut table = self.txn.open_table(PERSON_MODELS)?;
        match row {
            Some(row) => {
                table.insert(person, schema::encode(&row)?.as_slice())?;
            }
            None => {
                table.remove(person)?;
            }
        }
        Ok(())
    }
}

/// The person a face is a confirmed face of, if any.
fn confirmed_owner(row: Option<&FaceRow>) -> Option<u64> {
    row.filter(|r| r.assigned_by.is_some_and(AssignedBy::is_confirmed))
        .and_then(|r| r.person)
}

/// The two (face, person)-keyed tables.
#[derive(Clone, Copy, Debug)]
pub enum PairTable {
    /// `suggestions`.
    Suggestions,
    /// `rejections`.
    Rejections,
}

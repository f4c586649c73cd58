//! `check`: verifies every invariant of the library file; `repair` rebuilds
//! the derived state (lookup tables, counters, index) from ground truth and
//! drops references to rows that do not exist.

use super::Library;
use super::names::name_key;
use super::schema::{
    self, FACES, FaceRow, META, META_NEXT_FACE, META_NEXT_PERSON, META_SCHEMA_VERSION, OPLOG,
    PERSON_FACES, PERSON_MODELS, PERSON_NAMES, PERSONS, PHOTO_FACES, PHOTO_PATHS, PHOTOS,
    PersonModelRow, PersonRow, PhotoRow, REDO, REJECTIONS, SCHEMA_VERSION, SUGGESTIONS,
};
use super::undo::OpRecord;
use crate::error::StorageError;
use crate::index::{self, IndexReport};
use crate::recognize::RecognitionSettings;
use crate::types::{AssignedBy, FaceId};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The table it was found in.
    pub table: String,
    /// What is wrong.
    pub message: String,
}

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Photos.
    pub photos: u64,
    /// Faces.
    pub faces: u64,
    /// Persons.
    pub persons: u64,
    /// Faces with an embedding, as the index counts them.
    pub indexed_faces: u64,
    /// Suggestions.
    pub suggestions: u64,
    /// Rejections.
    pub rejections: u64,
    /// User actions in the undo history.
    pub undo_history: u64,
    /// Broken invariants; empty when the library is consistent.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when no invariant is broken.
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Rows {
    photos: BTreeMap<[u8; 32], PhotoRow>,
    faces: BTreeMap<u64, FaceRow>,
    persons: BTreeMap<u64, PersonRow>,
}

fn problem(problems: &mut Vec<Problem>, table: &str, message: String) {
    problems.push(Problem {
        table: table.to_owned(),
        message,
    });
}

fn load_rows(txn: &ReadTransaction, problems: &mut Vec<Problem>) -> Result<Rows, StorageError> {
    let mut rows = Rows {
        photos: BTreeMap::new(),
        faces: BTreeMap::new(),
        persons: BTreeMap::new(),
    };
    for entry in txn.open_table(PHOTOS)?.iter()? {
        let (k, v) = entry?;
        match schema::decode::<PhotoRow>("photos", v.value()) {
            Ok(row) => drop(rows.photos.insert(k.value(), row)),
            Err(e) => problem(problems, "photos", e.message),
        }
    }
    for entry in txn.open_table(FACES)?.iter()? {
        let (k, v) = entry?;
        match schema::decode::<FaceRow>("faces", v.value()) {
            Ok(row) => drop(rows.faces.insert(k.value(), row)),
            Err(e) => problem(problems, "faces", e.message),
        }
    }
    for entry in txn.open_table(PERSONS)?.iter()? {
        let (k, v) = entry?;
        match schema::decode::<PersonRow>("persons", v.value()) {
            Ok(row) => drop(rows.persons.insert(k.value(), row)),
            Err(e) => problem(problems, "persons", e.message),
        }
    }
    Ok(rows)
}

fn pairs(
    txn: &ReadTransaction,
    def: redb::TableDefinition<(u64, u64), impl redb::Value + 'static>,
) -> Result<Vec<(u64, u64)>, StorageError> {
    let mut out = Vec::new();
    for entry in txn.open_table(def)?.iter()? {
        out.push(entry?.0.value());
    }
    Ok(out)
}

/// The person models the rows imply: person → model row (persons without a
/// confirmed face with an embedding have none).
fn expected_models(
    txn: &impl index::IndexTxn,
    rows: &Rows,
    settings: &RecognitionSettings,
) -> Result<BTreeMap<u64, PersonModelRow>, StorageError> {
    let mut confirmed: BTreeMap<u64, Vec<(u64, [u8; 32])>> = BTreeMap::new();
    for (&id, face) in &rows.faces {
        if let Some(p) = face.person
            && face.assigned_by.is_some_and(AssignedBy::is_confirmed)
            && rows.persons.contains_key(&p)
        {
            confirmed.entry(p).or_default().push((id, face.photo));
        }
    }
    let mut out = BTreeMap::new();
    for (person, faces) in confirmed {
        let ids: Vec<FaceId> = faces.iter().map(|f| FaceId(f.0)).collect();
        let with: Vec<(u64, [u8; 32], Vec<f32>)> = faces
            .into_iter()
            .zip(index::get_many(txn, &ids)?)
            .filter_map(|((f, p), e)| e.map(|e| (f, p, e)))
            .collect();
        if let Some(row) = super::models::model_row(person, &with, settings) {
            out.insert(person, row);
        }
    }
    Ok(out)
}

/// Checks every invariant in one read transaction.
pub fn check(
    txn: &ReadTransaction,
    settings: &RecognitionSettings,
) -> Result<CheckReport, StorageError> {
    let mut p = Vec::new();
    let meta = txn.open_table(META)?;
    let version = meta.get(META_SCHEMA_VERSION)?.map(|v| v.value());
    if version != Some(SCHEMA_VERSION) {
        problem(
            &mut p,
            "meta",
            format!("schema version {version:?}, expected {SCHEMA_VERSION}"),
        );
    }
    let next_face = meta.get(META_NEXT_FACE)?.map_or(1, |v| v.value());
    let next_person = meta.get(META_NEXT_PERSON)?.map_or(1, |v| v.value());
    let rows = load_rows(txn, &mut p)?;

    // Photos and their paths.
    let mut expected_paths = BTreeMap::new();
    for (id, row) in &rows.photos {
        for path in &row.paths {
            expected_paths.insert(path.clone(), *id);
        }
    }
    let mut actual_paths = BTreeMap::new();
    for entry in txn.open_table(PHOTO_PATHS)?.iter()? {
        let (k, v) = entry?;
        actual_paths.insert(k.value().to_owned(), v.value());
    }
    if expected_paths != actual_paths {
        problem(
            &mut p,
            "photo_paths",
            "does not match the paths of the photos".into(),
        );
    }

    // Faces and the lookups derived from them.
    let mut expected_photo_faces = BTreeSet::new();
    let mut expected_person_faces = BTreeMap::new();
    for (&id, face) in &rows.faces {
        if id >= next_face {
            problem(
                &mut p,
                "faces",
                format!("face {id} is not below the next face id {next_face}"),
            );
        }
        match rows.photos.get(&face.photo) {
            None => problem(
                &mut p,
                "faces",
                format!("face {id} is in a photo that does not exist"),
            ),
            Some(photo) if photo.width > 0 && !face.bbox.is_in_image(photo.width, photo.height) => {
                problem(
                    &mut p,
                    "faces",
                    format!("face {id} has a box outside its photo"),
                );
            }
            Some(_) => {}
        }
        expected_photo_faces.insert((face.photo, id));
        if let Some(person) = face.person {
            if !rows.persons.contains_key(&person) {
                problem(
                    &mut p,
                    "faces",
                    format!("face {id} belongs to person {person}, who does not exist"),
                );
            }
            expected_person_faces.insert((person, id), face.photo);
        }
        if face.person.is_some() != face.assigned_by.is_some() {
            problem(
                &mut p,
                "faces",
                format!("face {id} has a person without how it was assigned, or the reverse"),
            );
        }
    }
    let mut actual_photo_faces = BTreeSet::new();
    for entry in txn.open_table(PHOTO_FACES)?.iter()? {
        actual_photo_faces.insert(entry?.0.value());
    }
    if expected_photo_faces != actual_photo_faces {
        problem(
            &mut p,
            "photo_faces",
            "does not match the faces table".into(),
        );
    }
    let mut actual_person_faces = BTreeMap::new();
    for entry in txn.open_table(PERSON_FACES)?.iter()? {
        let (k, v) = entry?;
        actual_person_faces.insert(k.value(), v.value());
    }
    if expected_person_faces != actual_person_faces {
        problem(
            &mut p,
            "person_faces",
            "does not match the faces table".into(),
        );
    }

    // Persons and names.
    let mut expected_names = BTreeMap::new();
    for (&id, person) in &rows.persons {
        if id >= next_person {
            problem(
                &mut p,
                "persons",
                format!("person {id} is not below the next person id {next_person}"),
            );
        }
        if let Some(other) = expected_names.insert(name_key(&person.name), id) {
            problem(
                &mut p,
                "persons",
                format!("persons {other} and {id} have the same name"),
            );
        }
        if let Some(cover) = person.cover_face
            && rows.faces.get(&cover).and_then(|f| f.person) != Some(id)
        {
            problem(
                &mut p,
                "persons",
                format!("person {id}'s cover face {cover} is not theirs"),
            );
        }
    }
    let mut actual_names = BTreeMap::new();
    for entry in txn.open_table(PERSON_NAMES)?.iter()? {
        let (k, v) = entry?;
        actual_names.insert(k.value().to_owned(), v.value());
    }
    if expected_names != actual_names {
        problem(
            &mut p,
            "person_names",
            "does not match the persons table".into(),
        );
    }

    // Suggestions and rejections point at existing rows.
    let suggestions = pairs(txn, SUGGESTIONS)?;
    let rejections = pairs(txn, REJECTIONS)?;
    for (table, list) in [("suggestions", &suggestions), ("rejections", &rejections)] {
        for &(face, person) in list {
            if !rows.faces.contains_key(&face) || !rows.persons.contains_key(&person) {
                problem(
                    &mut p,
                    table,
                    format!("({face}, {person}) names a face or person that does not exist"),
                );
            }
        }
    }
    for &(face, person) in &rejections {
        if rows.faces.get(&face).and_then(|f| f.person) == Some(person) {
            problem(
                &mut p,
                "rejections",
                format!("face {face} is rejected for person {person}, its own"),
            );
        }
    }
    for entry in txn.open_table(SUGGESTIONS)?.iter()? {
        if let Err(e) = schema::decode::<schema::SuggestionRow>("suggestions", entry?.1.value()) {
            problem(&mut p, "suggestions", e.message);
        }
    }
    // A pending suggestion is for a face the user has not decided, and a
    // person it was not rejected for.
    let rejected: BTreeSet<(u64, u64)> = rejections.iter().copied().collect();
    for &(face, person) in &suggestions {
        let decided = rows
            .faces
            .get(&face)
            .is_some_and(|f| f.ignored || f.assigned_by.is_some_and(AssignedBy::is_confirmed));
        if decided || rejected.contains(&(face, person)) {
            problem(
                &mut p,
                "suggestions",
                format!("({face}, {person}) is pending for a decided face or a rejected pair"),
            );
        }
    }

    // Person models are what the confirmed faces imply.
    let expected = expected_models(txn, &rows, settings)?;
    let mut actual = BTreeMap::new();
    for entry in txn.open_table(PERSON_MODELS)?.iter()? {
        let (k, v) = entry?;
        match schema::decode::<PersonModelRow>("person_models", v.value()) {
            Ok(row) => drop(actual.insert(k.value(), row)),
            Err(e) => problem(&mut p, "person_models", e.message),
        }
    }
    for (person, row) in &actual {
        if expected.get(person) != Some(row) {
            problem(
                &mut p,
                "person_models",
                format!("the model of person {person} does not match their confirmed faces"),
            );
        }
    }
    for person in expected.keys() {
        if !actual.contains_key(person) {
            problem(
                &mut p,
                "person_models",
                format!("person {person} has confirmed faces but no model"),
            );
        }
    }

    // Recognition never breaks cannot-link on its own: no two faces of one
    // photo are in one unnamed group.
    let mut group_photos = BTreeSet::new();
    for (&id, face) in &rows.faces {
        if let Some(c) = face.cluster {
            if face.person.is_some() || face.ignored {
                problem(
                    &mut p,
                    "faces",
                    format!("face {id} is in group {c} but is assigned or ignored"),
                );
            }
            if !group_photos.insert((c, face.photo)) {
                problem(
                    &mut p,
                    "faces",
                    format!("group {c} holds two faces of one photo (face {id})"),
                );
            }
        }
    }

    // Undo and redo histories decode.
    let log = txn.open_table(OPLOG)?;
    for (name, table) in [("oplog", OPLOG), ("redo", REDO)] {
        for entry in txn.open_table(table)?.iter()? {
            if let Err(e) = schema::decode::<OpRecord>(name, entry?.1.value()) {
                problem(&mut p, name, e.message);
            }
        }
    }

    // The index: its own invariants, and embeddings only for existing faces.
    let index_report: IndexReport = index::check(txn)?;
    for issue in &index_report.problems {
        problem(&mut p, "index", format!("{issue:?}"));
    }
    let mut embedded = 0u64;
    for &id in rows.faces.keys() {
        if index::get(txn, FaceId(id))?.is_some() {
            embedded += 1;
        }
    }
    if embedded != index_report.embeddings {
        problem(
            &mut p,
            "embeddings",
            format!(
                "{} embeddings indexed but {embedded} faces have one",
                index_report.embeddings
            ),
        );
    }

    Ok(CheckReport {
        photos: rows.photos.len() as u64,
        faces: rows.faces.len() as u64,
        persons: rows.persons.len() as u64,
        indexed_faces: index_report.embeddings,
        suggestions: suggestions.len() as u64,
        rejections: rejections.len() as u64,
        undo_history: log.len()?,
        problems: p,
    })
}

/// Rebuilds derived state from ground truth in one write transaction: drops
/// undecodable rows and references to missing rows, renames duplicate names,
/// refills the lookup tables, fixes counters and repairs the index.
fn repair(
    txn: &WriteTransaction,
    rows: &Rows,
    settings: &RecognitionSettings,
) -> Result<(), StorageError> {
    let mut faces = txn.open_table(FACES)?;
    let mut persons = txn.open_table(PERSONS)?;
    let mut photos = txn.open_table(PHOTOS)?;
    faces.retain(|k, _| rows.faces.contains_key(&k))?;
    persons.retain(|k, _| rows.persons.contains_key(&k))?;
    photos.retain(|k, _| rows.photos.contains_key(&k))?;

    let mut photo_paths = txn.open_table(PHOTO_PATHS)?;
    photo_paths.retain(|_, _| false)?;
    for (id, row) in &rows.photos {
        for path in &row.paths {
            photo_paths.insert(path.as_str(), *id)?;
        }
    }

    let mut names = txn.open_table(PERSON_NAMES)?;
    names.retain(|_, _| false)?;
    let mut kept_persons = BTreeMap::new();
    for (&id, row) in &rows.persons {
        let mut row = row.clone();
        let mut n = 2;
        let base = row.name.clone();
        while names.get(name_key(&row.name).as_str())?.is_some() {
            row.name = format!("{base} ({n})");
            n += 1;
        }
        names.insert(name_key(&row.name).as_str(), id)?;
        kept_persons.insert(id, row);
    }

    let mut photo_faces = txn.open_table(PHOTO_FACES)?;
    let mut person_faces = txn.open_table(PERSON_FACES)?;
    photo_faces.retain(|_, ()| false)?;
    person_faces.retain(|_, _| false)?;
    let mut next_face = 1;
    let mut group_photos = BTreeSet::new();
    for (&id, row) in &rows.faces {
        if !rows.photos.contains_key(&row.photo) {
            faces.remove(id)?;
            index::remove(txn, FaceId(id))?;
            continue;
        }
        let mut row = row.clone();
        if row.person.is_some_and(|p| !kept_persons.contains_key(&p)) {
            row.person = None;
        }
        if row.person.is_none() {
            row.assigned_by = None;
        } else if row.assigned_by.is_none() {
            row.assigned_by = Some(crate::types::AssignedBy::User);
        }
        // Only unknown faces are in groups, and one photo once per group
        // (a dropped face is clustered again by the next recognise phase).
        if row.person.is_some()
            || row.ignored
            || row
                .cluster
                .is_some_and(|c| !group_photos.insert((c, row.photo)))
        {
            row.cluster = None;
        }
        faces.insert(id, schema::encode(&row)?.as_slice())?;
        photo_faces.insert((row.photo, id), ())?;
        if let Some(person) = row.person {
            person_faces.insert((person, id), row.photo)?;
        }
        next_face = next_face.max(id + 1);
    }
    let mut next_person = 1;
    for (&id, row) in &mut kept_persons {
        if let Some(cover) = row.cover_face
            && person_faces.get((id, cover))?.is_none()
        {
            row.cover_face = None;
        }
        persons.insert(id, schema::encode(&*row)?.as_slice())?;
        next_person = next_person.max(id + 1);
    }
    let live_face = |f: u64| faces.get(f).map(|v| v.is_some());
    let mut dangling = Vec::new();
    for entry in txn.open_table(SUGGESTIONS)?.iter()? {
        let (k, v) = entry?;
        let (f, p) = k.value();
        let bad = schema::decode::<schema::SuggestionRow>("suggestions", v.value()).is_err();
        if bad || !live_face(f)? || !kept_persons.contains_key(&p) {
            dangling.push((f, p));
        }
    }
    let mut suggestions = txn.open_table(SUGGESTIONS)?;
    for key in dangling {
        suggestions.remove(key)?;
    }
    let mut rejections = txn.open_table(REJECTIONS)?;
    let mut dangling = Vec::new();
    for entry in rejections.iter()? {
        let (f, p) = entry?.0.value();
        if !live_face(f)? || !kept_persons.contains_key(&p) {
            dangling.push((f, p));
        }
    }
    for key in dangling {
        rejections.remove(key)?;
    }
    // Embeddings of faces that no longer exist go, then the index rebuilds
    // its derived state from the embeddings.
    let mut orphans = Vec::new();
    for entry in txn.open_table(index::EMBEDDINGS)?.iter()? {
        let face = entry?.0.value();
        if !rows.faces.contains_key(&face) {
            orphans.push(FaceId(face));
        }
    }
    for f in orphans {
        index::remove(txn, f)?;
    }
    index::repair(txn)?;
    let mut log = txn.open_table(OPLOG)?;
    log.retain(|_, v| schema::decode::<OpRecord>("oplog", v).is_ok())?;
    txn.open_table(REDO)?
        .retain(|_, v| schema::decode::<OpRecord>("redo", v).is_ok())?;
    // Person models are rebuilt from the (repaired) confirmed faces.
    let mut repaired = Rows {
        photos: BTreeMap::new(),
        faces: BTreeMap::new(),
        persons: kept_persons.clone(),
    };
    for entry in faces.iter()? {
        let (k, v) = entry?;
        if let Ok(row) = schema::decode::<FaceRow>("faces", v.value()) {
            repaired.faces.insert(k.value(), row);
        }
    }
    let models = expected_models(txn, &repaired, settings)?;
    let mut model_table = txn.open_table(PERSON_MODELS)?;
    model_table.retain(|_, _| false)?;
    for (person, row) in &models {
        model_table.insert(*person, schema::encode(row)?.as_slice())?;
    }
    let mut meta = txn.open_table(META)?;
    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
    let nf = meta
        .get(META_NEXT_FACE)?
        .map_or(1, |v| v.value())
        .max(next_face);
    let np = meta
        .get(META_NEXT_PERSON)?
        .map_or(1, |v| v.value())
        .max(next_person);
    meta.insert(META_NEXT_FACE, nf)?;
    meta.insert(META_NEXT_PERSON, np)?;
    Ok(())
}

impl Library {
    /// Verifies every invariant of the library.
    pub fn check(&self) -> Result<CheckReport, StorageError> {
        check(&self.read()?, &self.settings)
    }

    /// Rebuilds derived state from ground truth, then checks again.
    pub fn repair(&mut self) -> Result<CheckReport, StorageError> {
        let rows = load_rows(&self.read()?, &mut Vec::new())?;
        let txn = self.db.begin_write()?;
        repair(&txn, &rows, &self.settings)?;
        txn.commit()?;
        self.check()
    }
}

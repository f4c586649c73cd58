//! The library's tables and row types.
//!
//! Ground truth lives in `photos`, `faces`, `persons`, `suggestions`,
//! `rejections` (and the index module's `embeddings`). The tables marked
//! *derived* are lookups kept in step by [`super::tx::Tx`] in the same write
//! transaction; `check` verifies them and `check --repair` rebuilds them.
//!
//! Rows are postcard-encoded byte strings, decoded explicitly so a damaged row
//! is an error, never a panic. Postcard is not self-describing: any change to
//! a row type needs a schema version bump and a migration in `super::open`.

use crate::error::StorageError;
use crate::types::{AssignedBy, BBox, FaceSource, Landmarks, ScanStatus, SuggestionStatus};
use redb::TableDefinition;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The schema version this build writes. Version 1 is the first; version 2
/// adds the derived `person_models` and the `redo` history (the migration
/// computes the models).
pub const SCHEMA_VERSION: u64 = 2;

/// Counters and the schema version.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Meta key: schema version.
pub const META_SCHEMA_VERSION: &str = "schema_version";
/// Meta key: the next face id to allocate.
pub const META_NEXT_FACE: &str = "next_face_id";
/// Meta key: the next person id to allocate.
pub const META_NEXT_PERSON: &str = "next_person_id";
/// Meta key: the next operation-log id.
pub const META_NEXT_OP: &str = "next_op_id";
/// Meta key: faces with an id up to this one have been through the
/// recognise phase's decisions (the phase's resume point).
pub const META_RECOGNISED_FACE: &str = "recognised_face_id";

/// Photo id → [`PhotoRow`].
pub const PHOTOS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("photos");
/// *Derived*: path → photo id.
pub const PHOTO_PATHS: TableDefinition<&str, [u8; 32]> = TableDefinition::new("photo_paths");
/// Face id → [`FaceRow`].
pub const FACES: TableDefinition<u64, &[u8]> = TableDefinition::new("faces");
/// *Derived*: (photo, face) → ().
pub const PHOTO_FACES: TableDefinition<([u8; 32], u64), ()> = TableDefinition::new("photo_faces");
/// Person id → [`PersonRow`].
pub const PERSONS: TableDefinition<u64, &[u8]> = TableDefinition::new("persons");
/// *Derived*: name key (see `names::name_key`) → person id.
pub const PERSON_NAMES: TableDefinition<&str, u64> = TableDefinition::new("person_names");
/// *Derived*: (person, face) → photo of the face.
pub const PERSON_FACES: TableDefinition<(u64, u64), [u8; 32]> =
    TableDefinition::new("person_faces");
/// (face, person) → [`SuggestionRow`].
pub const SUGGESTIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("suggestions");
/// (face, person) → (): "this face is not this person", kept until the face
/// or the person is deleted.
pub const REJECTIONS: TableDefinition<(u64, u64), ()> = TableDefinition::new("rejections");
/// Folders the user imported (watched for changes) → ().
pub const IMPORT_ROOTS: TableDefinition<&str, ()> = TableDefinition::new("import_roots");
/// Operation id → [`super::undo::OpRecord`]: the undo history.
pub const OPLOG: TableDefinition<u64, &[u8]> = TableDefinition::new("oplog");
/// Operation id → [`super::undo::OpRecord`] holding *after*-images: the
/// actions undone since the last new action, newest last (redo pops it).
pub const REDO: TableDefinition<u64, &[u8]> = TableDefinition::new("redo");
/// *Derived*: person id → [`PersonModelRow`], the model of the person's
/// user-confirmed faces (absent when they have none).
pub const PERSON_MODELS: TableDefinition<u64, &[u8]> = TableDefinition::new("person_models");
/// Work left for the post-action re-decide: person id → postcard
/// `Vec<Embedding>`, the vectors (centroid, prototypes) of the person's
/// model as it was before the first user action that changed it since the
/// last re-decide (empty when they had no model). Cleared by
/// [`super::Library::recognise_changed`] and [`super::Library::recognise`].
pub const REDECIDE_PERSONS: TableDefinition<u64, &[u8]> = TableDefinition::new("redecide_persons");
/// Work left for the post-action re-decide: faces a user action wrote
/// (row, suggestion, rejection or embedding) → ().
pub const REDECIDE_FACES: TableDefinition<u64, ()> = TableDefinition::new("redecide_faces");

/// A photo as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoRow {
    /// Every path the content was seen at, sorted, no duplicates.
    pub paths: Vec<String>,
    /// File size.
    pub size_bytes: u64,
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// EXIF `DateTimeOriginal`.
    pub taken_at: Option<String>,
    /// Scan state.
    pub status: ScanStatus,
}

/// A face as stored (its embedding is in the index module's table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceRow {
    /// Photo id.
    pub photo: [u8; 32],
    /// Box in image pixels.
    pub bbox: BBox,
    /// Landmarks in image pixels.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
    /// Model pack of the embedding.
    pub model_pack: String,
    /// Detector or user.
    pub source: FaceSource,
    /// Person id.
    pub person: Option<u64>,
    /// How it got that person.
    pub assigned_by: Option<AssignedBy>,
    /// Unnamed group.
    pub cluster: Option<u64>,
    /// Ignored stranger.
    pub ignored: bool,
}

/// A person as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonRow {
    /// Display name.
    pub name: String,
    /// Notes.
    pub notes: String,
    /// Cover face id.
    pub cover_face: Option<u64>,
    /// Hidden from the people list.
    pub hidden: bool,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
}

/// A suggestion as stored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuggestionRow {
    /// Confidence.
    pub score: f32,
    /// Status.
    pub status: SuggestionStatus,
}

/// A person's model as stored: what [`crate::recognize::PersonModel`]
/// computes from the person's confirmed faces, except the photo set (read
/// from `person_faces` when it is needed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonModelRow {
    /// Robust centroid.
    pub centroid: Vec<f32>,
    /// Look prototypes.
    pub prototypes: Vec<Vec<f32>>,
    /// Medoid face of each look.
    pub medoids: Vec<u64>,
    /// Number of confirmed faces it was built from.
    pub faces: u64,
}

/// Encodes a row.
pub fn encode<T: Serialize>(row: &T) -> Result<Vec<u8>, StorageError> {
    postcard::to_stdvec(row).map_err(StorageError::from)
}

/// Decodes a row; a damaged row is an error naming the table.
pub fn decode<T: DeserializeOwned>(table: &str, bytes: &[u8]) -> Result<T, StorageError> {
    postcard::from_bytes(bytes)
        .map_err(|e| StorageError::new(format!("damaged row in table {table}: {e}")))
}

/// Creates every table of the schema (idempotent), so read transactions never
/// meet a missing table.
pub fn create_tables(txn: &redb::WriteTransaction) -> Result<(), StorageError> {
    txn.open_table(META)?;
    txn.open_table(PHOTOS)?;
    txn.open_table(PHOTO_PATHS)?;
    txn.open_table(FACES)?;
    txn.open_table(PHOTO_FACES)?;
    txn.open_table(PERSONS)?;
    txn.open_table(PERSON_NAMES)?;
    txn.open_table(PERSON_FACES)?;
    txn.open_table(SUGGESTIONS)?;
    txn.open_table(REJECTIONS)?;
    txn.open_table(OPLOG)?;
    txn.open_table(REDO)?;
    txn.open_table(PERSON_MODELS)?;
    txn.open_table(IMPORT_ROOTS)?;
    txn.open_table(REDECIDE_PERSONS)?;
    txn.open_table(REDECIDE_FACES)?;
    Ok(())
}

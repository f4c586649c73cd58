//! `export --json`: the whole library as one plain JSON document. Embeddings
//! are included only when asked for: they are private data.

use super::Library;
use super::queries::{face_view, person_view, photo_view};
use super::schema::{self, FACES, FaceRow, PERSONS, PHOTOS, PersonRow, PhotoRow};
use crate::error::StorageError;
use crate::index;
use crate::types::{AssignedBy, FaceId, FaceSource, Person};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

/// A photo in an export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoExport {
    /// Content hash, hex.
    pub id: String,
    /// Paths it was seen at.
    pub paths: Vec<String>,
    /// `pending`, `detected`, `no_faces` or `failed`.
    pub status: String,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// File size.
    pub size_bytes: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// EXIF capture date.
    pub taken_at: Option<String>,
}

/// A face in an export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceExport {
    /// Face id.
    pub id: u64,
    /// Photo id, hex.
    pub photo: String,
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Five `[x, y]` points.
    pub landmarks: [[f32; 2]; 5],
    /// Detector score.
    pub score: f32,
    /// Person id.
    pub person: Option<u64>,
    /// How it got that person.
    pub assigned_by: Option<AssignedBy>,
    /// Unnamed group.
    pub cluster: Option<u64>,
    /// Detector or user.
    pub source: FaceSource,
    /// Ignored stranger.
    pub ignored: bool,
    /// Model pack.
    pub model_pack: String,
    /// Embedding, only with `--with-embeddings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// The whole library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraryExport {
    /// Photos in id order.
    pub photos: Vec<PhotoExport>,
    /// Faces in id order.
    pub faces: Vec<FaceExport>,
    /// Persons in id order.
    pub persons: Vec<Person>,
}

impl Library {
    /// Exports the library from one read snapshot.
    pub fn export(&self, with_embeddings: bool) -> Result<LibraryExport, StorageError> {
        let txn = self.read()?;
        let mut photos = Vec::new();
        for entry in txn.open_table(PHOTOS)?.iter()? {
            let (k, v) = entry?;
            let photo = photo_view(k.value(), schema::decode::<PhotoRow>("photos", v.value())?);
            let failure = match &photo.status {
                crate::types::ScanStatus::Failed { reason, .. } => Some(reason.clone()),
                _ => None,
            };
            photos.push(PhotoExport {
                id: photo.id.to_hex(),
                paths: photo.paths,
                status: photo.status.name().to_owned(),
                failure,
                size_bytes: photo.size_bytes,
                width: photo.width,
                height: photo.height,
                taken_at: photo.taken_at,
            });
        }
        let mut faces = Vec::new();
        for entry in txn.open_table(FACES)?.iter()? {
            let (k, v) = entry?;
            let id = k.value();
            let face = face_view(&txn, id, schema::decode::<FaceRow>("faces", v.value())?)?;
            let embedding = if with_embeddings {
                index::get(&txn, FaceId(id))?
            } else {
                None
            };
            let b = face.bbox;
            faces.push(FaceExport {
                id,
                photo: face.photo.to_hex(),
                bbox: [b.x1, b.y1, b.x2, b.y2],
                landmarks: face.landmarks,
                score: face.score,
                person: face.person.map(|p| p.0),
                assigned_by: face.assigned_by,
                cluster: face.cluster.map(|c| c.0),
                source: face.source,
                ignored: face.ignored,
                model_pack: face.model_pack,
                embedding,
            });
        }
        let mut persons = Vec::new();
        for entry in txn.open_table(PERSONS)?.iter()? {
            let (k, v) = entry?;
            persons.push(person_view(
                k.value(),
                schema::decode::<PersonRow>("persons", v.value())?,
            ));
        }
        Ok(LibraryExport {
            photos,
            faces,
            persons,
        })
    }
}

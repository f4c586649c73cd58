//! Face edits by the user: move a face's box, draw a new face, delete a face.
//! Each is one write transaction recorded in the undo history; the face row
//! and its embedding (the vector index state) change together.
//!
//! Finding and embedding the face inside a drawn box is vision's work and
//! happens before the transaction (see `crate::media`); these functions take
//! its outcome, `None` when no face was found in the box.

use super::Library;
use super::actions::delete_face;
use super::schema::{FaceRow, META_NEXT_FACE, PhotoRow};
use super::tx::Tx;
use crate::error::ActionError;
use crate::types::{BBox, FaceId, FaceSource, Landmarks, NewFace, PhotoId};

/// Refuses a box that is empty, not finite or outside a photo of known size.
pub fn require_box_in_image(bbox: &BBox, width: u32, height: u32) -> Result<(), ActionError> {
    if width == 0 || height == 0 || !bbox.is_in_image(width, height) {
        return Err(ActionError::BoxOutsideImage {
            bbox: format!("{},{},{},{}", bbox.x1, bbox.y1, bbox.x2, bbox.y2),
            width,
            height,
        });
    }
    Ok(())
}

fn require_photo(tx: &Tx, id: PhotoId) -> Result<PhotoRow, ActionError> {
    tx.photo(id.0)?.ok_or(ActionError::UnknownPhoto(id))
}

/// The ArcFace template's landmarks scaled into a box: where a face drawn
/// without a detection has its landmarks (so they lie in the box).
fn template_in_box(b: &BBox) -> Landmarks {
    let side = crate::vision::align::ALIGNED_SIZE as f32;
    crate::vision::align::ARCFACE_TEMPLATE
        .map(|[x, y]| [b.x1 + x / side * b.width(), b.y1 + y / side * b.height()])
}

/// Checks the embedding a re-detection produced before anything is written.
fn require_valid_embedding(found: Option<&NewFace>) -> Result<(), ActionError> {
    if let Some(e) = found.and_then(|f| f.embedding.as_ref()) {
        crate::index::normalized(e).map_err(|e| ActionError::InvalidEmbedding(e.to_string()))?;
    }
    Ok(())
}

impl Library {
    /// Moves a face's box to `bbox` (a user correction: the face becomes
    /// manual). When `found` holds the face vision found in the new box, its
    /// landmarks, score and embedding replace the old ones (re-indexed in the
    /// same transaction); with `None` the box edit stands and the old
    /// landmarks and embedding are kept. Returns true when re-embedded.
    pub fn set_face_box(
        &mut self,
        face: FaceId,
        bbox: BBox,
        found: Option<&NewFace>,
    ) -> Result<bool, ActionError> {
        require_valid_embedding(found)?;
        let mut tx = self.begin(true)?;
        let mut row = tx.face(face.0)?.ok_or(ActionError::UnknownFace(face))?;
        let photo = require_photo(&tx, PhotoId(row.photo))?;
        require_box_in_image(&bbox, photo.width, photo.height)?;
        row.bbox = bbox;
        row.source = FaceSource::Manual;
        let embedding = found.and_then(|f| f.embedding.as_deref());
        if let (Some(found), Some(embedding)) = (found, embedding) {
            row.landmarks = found.landmarks;
            row.score = found.score;
            row.model_pack.clone_from(&found.model_pack);
            tx.put_embedding(face.0, Some(embedding))?;
        }
        tx.put_face(face.0, Some(&row))?;
        tx.commit(&format!("move the box of face {face}"))?;
        Ok(embedding.is_some())
    }

    /// Adds a face the user drew on a photo. With `found` (the face vision
    /// found in the box) it gets that face's landmarks, score and embedding;
    /// without, it is added with no embedding (landmarks placed by the
    /// template in the box, score 1). Returns the new face's id.
    pub fn add_face(
        &mut self,
        photo: PhotoId,
        bbox: BBox,
        found: Option<&NewFace>,
    ) -> Result<FaceId, ActionError> {
        require_valid_embedding(found)?;
        let mut tx = self.begin(true)?;
        let photo_row = require_photo(&tx, photo)?;
        require_box_in_image(&bbox, photo_row.width, photo_row.height)?;
        let id = tx.alloc(META_NEXT_FACE)?;
        let embedding = found.and_then(|f| f.embedding.as_deref());
        let (landmarks, score, model_pack) = match (found, embedding) {
            (Some(f), Some(_)) => (f.landmarks, f.score, f.model_pack.clone()),
            _ => (template_in_box(&bbox), 1.0, String::new()),
        };
        let row = FaceRow {
            photo: photo.0,
            bbox,
            landmarks,
            score,
            model_pack,
            source: FaceSource::Manual,
            person: None,
            assigned_by: None,
            cluster: None,
            ignored: false,
        };
        tx.put_face(id, Some(&row))?;
        if let Some(e) = embedding {
            tx.put_embedding(id, Some(e))?;
        }
        tx.commit(&format!("add face {id}"))?;
        Ok(FaceId(id))
    }

    /// Deletes a face with its embedding, suggestions and rejections; a
    /// person whose cover it was loses the cover. Undoable.
    pub fn delete_face(&mut self, face: FaceId) -> Result<(), ActionError> {
        let mut tx = self.begin(true)?;
        let row = tx.face(face.0)?.ok_or(ActionError::UnknownFace(face))?;
        if let Some(owner) = row.person
            && let Some(mut person) = tx.person(owner)?
            && person.cover_face == Some(face.0)
        {
            person.cover_face = None;
            tx.put_person(owner, Some(&person))?;
        }
        delete_face(&mut tx, face.0)?;
        tx.commit(&format!("delete face {face}"))?;
        Ok(())
    }
}

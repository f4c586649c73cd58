//! Recording a scanned photo and its faces: the import's commit, one write
//! transaction per photo (photo row, face rows and index state together).

use super::Library;
use super::schema::{FaceRow, META_NEXT_FACE, PhotoRow};
use super::tx::Tx;
use crate::error::ActionError;
use crate::types::{FaceId, NewFace, PhotoId, ScanStatus};
use redb::ReadableTable;

/// A photo as the scanner saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPhoto {
    /// Content hash.
    pub id: PhotoId,
    /// The path it was found at.
    pub path: String,
    /// File size.
    pub size_bytes: u64,
    /// Width after EXIF orientation (0 when it could not be decoded).
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// EXIF `DateTimeOriginal`.
    pub taken_at: Option<String>,
    /// Result of the scan.
    pub status: ScanStatus,
}

/// What recording a photo did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoCommit {
    /// True when the content was new to the library (or its earlier scan
    /// failed transiently and was retried).
    pub scanned: bool,
    /// Ids of the faces created.
    pub faces: Vec<FaceId>,
}

/// True when a photo in this state needs (another) scan.
pub fn needs_scan(status: &ScanStatus) -> bool {
    matches!(
        status,
        ScanStatus::Pending
            | ScanStatus::Failed {
                permanent: false,
                ..
            }
    )
}

impl Library {
    /// Records a photo and its faces in one transaction. Idempotent: content
    /// already scanned only gains the new path, and no face is added twice.
    /// A path that held other content before moves to this photo.
    pub fn record_photo(
        &mut self,
        photo: &NewPhoto,
        faces: &[NewFace],
    ) -> Result<PhotoCommit, ActionError> {
        let mut tx = self.begin(false)?;
        let commit = record_in(&mut tx, photo, faces)?;
        tx.commit("record photo")?;
        Ok(commit)
    }
}

/// Records a photo and its faces in `tx` (see [`Library::record_photo`]);
/// validation happens before the first write.
pub(super) fn record_in(
    tx: &mut Tx,
    photo: &NewPhoto,
    faces: &[NewFace],
) -> Result<PhotoCommit, ActionError> {
    for face in faces {
        if photo.width > 0 && !face.bbox.is_in_image(photo.width, photo.height) {
            let b = face.bbox;
            return Err(ActionError::BoxOutsideImage {
                bbox: format!("{},{},{},{}", b.x1, b.y1, b.x2, b.y2),
                width: photo.width,
                height: photo.height,
            });
        }
        if let Some(e) = &face.embedding {
            crate::index::normalized(e)
                .map_err(|e| ActionError::InvalidEmbedding(e.to_string()))?;
        }
    }
    // A file whose content changed is another photo now: the old content
    // no longer lives at this path (it is missing if it has no other path;
    // its faces stay).
    let previous = tx
        .txn()
        .open_table(super::schema::PHOTO_PATHS)?
        .get(photo.path.as_str())?
        .map(|v| v.value());
    if let Some(previous) = previous.filter(|p| *p != photo.id.0)
        && let Some(mut row) = tx.photo(previous)?
    {
        row.paths.retain(|p| *p != photo.path);
        tx.put_photo(previous, &row)?;
    }
    let existing = tx.photo(photo.id.0)?;
    let mut paths = existing
        .as_ref()
        .map(|p| p.paths.clone())
        .unwrap_or_default();
    if !paths.contains(&photo.path) {
        paths.push(photo.path.clone());
        paths.sort();
    }
    let scan = existing.as_ref().is_none_or(|p| needs_scan(&p.status));
    let row = match (&existing, scan) {
        (Some(old), false) => PhotoRow {
            paths,
            ..old.clone()
        },
        _ => PhotoRow {
            paths,
            size_bytes: photo.size_bytes,
            width: photo.width,
            height: photo.height,
            taken_at: photo.taken_at.clone(),
            status: photo.status.clone(),
        },
    };
    tx.put_photo(photo.id.0, &row)?;
    let mut created = Vec::new();
    if scan {
        for face in faces {
            let id = tx.alloc(META_NEXT_FACE)?;
            let face_row = FaceRow {
                photo: photo.id.0,
                bbox: face.bbox,
                landmarks: face.landmarks,
                score: face.score,
                model_pack: face.model_pack.clone(),
                source: face.source,
                person: None,
                assigned_by: None,
                cluster: None,
                ignored: false,
            };
            tx.put_face(id, Some(&face_row))?;
            if let Some(e) = &face.embedding {
                tx.put_embedding(id, Some(e))?;
            }
            created.push(FaceId(id));
        }
    }
    Ok(PhotoCommit {
        scanned: scan,
        faces: created,
    })
}

impl Library {
    /// Remembers folders the user imported, so they are watched.
    pub fn add_import_roots(&mut self, roots: &[std::path::PathBuf]) -> Result<(), ActionError> {
        let tx = self.begin(false)?;
        {
            let mut table = tx.txn().open_table(super::schema::IMPORT_ROOTS)?;
            for root in roots {
                table.insert(root.display().to_string().as_str(), ())?;
            }
        }
        tx.commit("add import roots")?;
        Ok(())
    }

    /// The folders the user imported, sorted.
    pub fn import_roots(&self) -> Result<Vec<std::path::PathBuf>, crate::error::QueryError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(super::schema::IMPORT_ROOTS)?.iter()? {
            out.push(std::path::PathBuf::from(entry?.0.value()));
        }
        Ok(out)
    }

    /// Forgets paths that no longer exist on disk. A photo left with no path
    /// is *missing*: its faces and people stay until the user purges it, and
    /// it comes back if its content reappears anywhere. Returns the number
    /// of paths forgotten.
    pub fn forget_paths(&mut self, paths: &[String]) -> Result<u64, ActionError> {
        let mut tx = self.begin(false)?;
        let mut forgotten = 0;
        for path in paths {
            let id = tx
                .txn()
                .open_table(super::schema::PHOTO_PATHS)?
                .get(path.as_str())?
                .map(|v| v.value());
            let Some(id) = id else { continue };
            if let Some(mut row) = tx.photo(id)? {
                row.paths.retain(|p| p != path);
                tx.put_photo(id, &row)?;
                forgotten += 1;
            }
        }
        tx.commit("forget paths")?;
        Ok(forgotten)
    }
}

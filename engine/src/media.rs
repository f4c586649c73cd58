//! Photos and media: face edits that need the photo's pixels (moving a box,
//! drawing a face), and the thumbnail worker.
//!
//! A face edit reads the photo file and runs vision with the library
//! unlocked, then commits the outcome in one write transaction (see
//! `store::faces`), so the import and other readers are never held up by
//! inference. The box is checked against the photo before any work.
//!
//! Thumbnails and photo previews are made by an [`ImageWorker`]: the engine
//! thread reads the rows a picture needs and hands the decoding, scaling and
//! caching to the worker's threads, which deliver the reply themselves, so a
//! slow photo never holds up the command loop.

use crate::Library;
use crate::error::ActionError;
use crate::import::FaceFinder;
use crate::store::faces::require_box_in_image;
use crate::thumbs::{ThumbCache, ThumbError};
use crate::types::{BBox, Face, FaceEdit, FaceId, NewFace, Photo, PhotoId, RgbaImage};
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Why a face edit failed. A failed edit changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum EditError {
    /// The edit was refused (unknown face or photo, box outside the photo,
    /// photo file unavailable) or its transaction failed.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// Vision could not run on the photo (models, device, decoding).
    #[error("cannot look for a face in the box: {0}")]
    Vision(String),
}

impl From<crate::error::QueryError> for EditError {
    fn from(e: crate::error::QueryError) -> Self {
        use crate::error::QueryError as Q;
        Self::Action(match e {
            Q::UnknownFace(f) => ActionError::UnknownFace(f),
            Q::UnknownPerson(p) => ActionError::UnknownPerson(p),
            Q::UnknownPhoto(p) => ActionError::UnknownPhoto(p),
            Q::UnknownCluster(c) => ActionError::UnknownCluster(c),
            Q::NoEmbedding(what) => ActionError::InvalidEmbedding(what),
            Q::Storage(s) => ActionError::Storage(s),
        })
    }
}

fn lock(library: &Mutex<Library>) -> MutexGuard<'_, Library> {
    library.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bytes of a photo: its first file that still exists and still holds
/// the photo's content (a file changed on disk is another photo now).
pub fn read_photo_bytes(photo: &Photo) -> Result<(PathBuf, Vec<u8>), ActionError> {
    let unavailable = |reason: String| ActionError::PhotoUnavailable {
        photo: photo.id.to_hex(),
        reason,
    };
    if photo.paths.is_empty() {
        return Err(unavailable("the photo is missing (no file left)".into()));
    }
    let mut last = String::new();
    for path in &photo.paths {
        match std::fs::read(Path::new(path)) {
            Ok(bytes) if PhotoId::of_bytes(&bytes) == photo.id => {
                return Ok((PathBuf::from(path), bytes));
            }
            Ok(_) => last = format!("{path} has changed since it was imported"),
            Err(e) => last = format!("{path}: {e}"),
        }
    }
    Err(unavailable(last))
}

/// Reads the photo and asks the finder for a face in `bbox`, with the
/// library unlocked. The face found must carry an embedding to count.
fn find_in_box(
    finder: &dyn FaceFinder,
    photo: &Photo,
    bbox: BBox,
) -> Result<Option<NewFace>, EditError> {
    require_box_in_image(&bbox, photo.width, photo.height)?;
    let (path, bytes) = read_photo_bytes(photo)?;
    let found = finder
        .find_face_in_box(&path, &bytes, bbox)
        .map_err(|e| EditError::Vision(e.reason))?;
    Ok(found.filter(|f| f.embedding.is_some()))
}

fn photo_of(library: &Mutex<Library>, id: PhotoId) -> Result<Photo, EditError> {
    lock(library)
        .photo(id)?
        .ok_or(EditError::Action(ActionError::UnknownPhoto(id)))
}

/// Moves a face's box and re-embeds the face from the new region: vision
/// looks for a face inside the (padded) box; found, the face's landmarks,
/// score and embedding are replaced; not found, the box edit stands and the
/// old embedding is kept. One undoable transaction either way.
pub fn set_face_box(
    library: &Mutex<Library>,
    finder: &dyn FaceFinder,
    face: FaceId,
    bbox: BBox,
) -> Result<FaceEdit, EditError> {
    let photo = {
        let library = lock(library);
        let row = library.face(face)?;
        library
            .photo(row.photo)?
            .ok_or(EditError::Action(ActionError::UnknownPhoto(row.photo)))?
    };
    let found = find_in_box(finder, &photo, bbox)?;
    let reembedded = lock(library).set_face_box(face, bbox, found.as_ref())?;
    Ok(FaceEdit { face, reembedded })
}

/// Adds a face the user drew: embedded from the face vision finds in the
/// box, or added without an embedding when there is none. One undoable
/// transaction.
pub fn add_face(
    library: &Mutex<Library>,
    finder: &dyn FaceFinder,
    photo: PhotoId,
    bbox: BBox,
) -> Result<FaceEdit, EditError> {
    let row = photo_of(library, photo)?;
    let found = find_in_box(finder, &row, bbox)?;
    let face = lock(library).add_face(photo, bbox, found.as_ref())?;
    Ok(FaceEdit {
        face,
        reembedded: found.is_some(),
    })
}

/// A picture to serve from the thumbnail cache.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageJob {
    /// A square face crop.
    Face {
        /// The face (its box keys the cache).
        face: Box<Face>,
        /// Its photo.
        photo: Box<Photo>,
        /// Side in pixels.
        size_px: u32,
    },
    /// A photo preview.
    Photo {
        /// The photo.
        photo: Box<Photo>,
        /// Longest side in pixels.
        max_side_px: u32,
    },
}

impl ImageJob {
    /// Makes (or reads from the cache) the picture.
    pub fn run(&self, cache: &ThumbCache) -> Result<RgbaImage, ThumbError> {
        match self {
            Self::Face {
                face,
                photo,
                size_px,
            } => cache.face_image(face, photo, *size_px),
            Self::Photo { photo, max_side_px } => cache.photo_image(photo, *max_side_px),
        }
    }
}

/// Receives a finished picture (on a worker thread).
pub type Deliver = Box<dyn FnOnce(Result<RgbaImage, ThumbError>) + Send + 'static>;

/// Threads that make thumbnails off the engine's command loop.
pub struct ImageWorker {
    jobs: Option<Sender<(ImageJob, Deliver)>>,
    threads: Vec<JoinHandle<()>>,
}

impl ImageWorker {
    /// Starts `threads` worker threads (at least one) over `cache`.
    pub fn start(cache: ThumbCache, threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = unbounded::<(ImageJob, Deliver)>();
        let cache = Arc::new(cache);
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let rx: Receiver<(ImageJob, Deliver)> = rx.clone();
            let cache = Arc::clone(&cache);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("likeness-thumbs-{i}"))
                    .spawn(move || {
                        for (job, deliver) in rx {
                            deliver(job.run(&cache));
                        }
                    })?,
            );
        }
        Ok(Self {
            jobs: Some(tx),
            threads: handles,
        })
    }

    /// Queues a picture; `deliver` gets it (or why not) on a worker thread.
    pub fn submit(&self, job: ImageJob, deliver: Deliver) {
        if let Some(jobs) = &self.jobs
            && let Err(crossbeam_channel::SendError((_, deliver))) = jobs.send((job, deliver))
        {
            deliver(Err(ThumbError::Io(
                "the thumbnail worker has stopped".into(),
            )));
        }
    }
}

impl Drop for ImageWorker {
    fn drop(&mut self) {
        // Closing the queue ends the threads once the queued jobs are served.
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

//! The import job: scan → detect & embed → recognise → done.
//!
//! Each photo is committed on its own (photo row, faces and index state in one
//! write transaction), so a killed import resumes where it stopped: content
//! already scanned is recognised by its hash and only gains the new path.
//! Reading and hashing run ahead of detection on a second thread through a
//! bounded channel, so memory stays bounded whatever the number of photos.

use super::scan::{FileError, ScanOptions, scan};
use crate::Library;
use crate::store::{NewPhoto, RECOGNISE_BATCH, RecogniseReport, needs_scan};
use crate::types::{BBox, NewFace, PhotoId, ScanStatus};
use crossbeam_channel::bounded;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Files larger than this are refused (a photo this big is not a photo).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// How many read-and-hashed files may wait for detection.
const READ_AHEAD: usize = 4;

/// What a face finder reports for one photo.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundFaces {
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// EXIF `DateTimeOriginal`.
    pub taken_at: Option<String>,
    /// Faces found, with embeddings.
    pub faces: Vec<NewFace>,
}

/// Why a photo could not be run through detection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{reason}")]
pub struct FindError {
    /// In words.
    pub reason: String,
    /// True when retrying cannot help (corrupt or unsupported file).
    pub permanent: bool,
}

/// Decodes a photo and finds its faces (the vision pipeline).
pub trait FaceFinder {
    /// Finds the faces in the photo whose file bytes are `bytes`.
    fn find_faces(&mut self, path: &Path, bytes: &[u8]) -> Result<FoundFaces, FindError>;

    /// Finds the face inside a box the user drew on the photo whose file
    /// bytes are `bytes` and embeds it; `Ok(None)` when there is no face in
    /// the box. The returned face keeps the detector's own box, landmarks and
    /// score. A finder that cannot look inside a box (a test double) says so
    /// with an error rather than pretending no face is there.
    fn find_face_in_box(
        &mut self,
        path: &Path,
        bytes: &[u8],
        bbox: BBox,
    ) -> Result<Option<NewFace>, FindError> {
        let _ = (path, bytes, bbox);
        Err(FindError {
            reason: "this face finder cannot look inside a box".into(),
            permanent: true,
        })
    }
}

/// A phase of the import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportPhase {
    /// Walking folders.
    Scan,
    /// Detecting and embedding faces.
    Detect,
    /// Recognising people among the new faces.
    Recognise,
    /// Finished (or cancelled).
    Done,
}

/// Progress of the running phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportProgress {
    /// Phase.
    pub phase: ImportPhase,
    /// Items done in this phase.
    pub done: u64,
    /// Items in this phase (0 while unknown).
    pub total: u64,
    /// Items per second so far.
    pub rate_per_s: f64,
    /// Seconds left at that rate.
    pub eta_s: Option<f64>,
    /// File being worked on.
    pub current: Option<String>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// Image files seen.
    pub photos_seen: u64,
    /// Photos whose content was new and scanned now (failures are counted
    /// in `failed` only).
    pub new_photos: u64,
    /// Files whose content the library already had (same photo, maybe a new path).
    pub duplicates: u64,
    /// New photos with no face.
    pub no_faces: u64,
    /// Files that failed, with reasons (each reported once).
    pub failed: Vec<FileError>,
    /// Faces added.
    pub faces_found: u64,
    /// Files skipped as not images.
    pub not_images: u64,
    /// Wall time.
    pub duration_ms: u64,
    /// New photos scanned per second.
    pub images_per_s: f64,
    /// True when the user cancelled.
    pub cancelled: bool,
    /// What the recognise phase did.
    pub recognised: RecogniseReport,
    /// Why the recognise phase stopped early, if it did (the photos stay
    /// committed; the next import or `Recognise` continues it).
    pub recognition_failed: Option<String>,
}

/// Running, paused or cancelled: shared between the job and its controller.
#[derive(Debug, Default)]
pub struct JobControl {
    state: Mutex<RunState>,
    changed: Condvar,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum RunState {
    #[default]
    Running,
    Paused,
    Cancelled,
}

impl JobControl {
    fn lock(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: RunState) {
        let mut s = self.lock();
        if *s != RunState::Cancelled {
            *s = state;
        }
        self.changed.notify_all();
    }

    /// Pauses the job after the photo in hand.
    pub fn pause(&self) {
        self.set(RunState::Paused);
    }

    /// Resumes a paused job.
    pub fn resume(&self) {
        self.set(RunState::Running);
    }

    /// Stops the job after the photo in hand; what was committed stays.
    pub fn cancel(&self) {
        self.set(RunState::Cancelled);
    }

    /// Waits while paused; false once cancelled.
    pub fn keep_going(&self) -> bool {
        let mut s = self.lock();
        while *s == RunState::Paused {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(200))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *s == RunState::Running
    }
}

/// Where the job reports to.
pub trait ImportSink {
    /// Progress of the running phase.
    fn progress(&mut self, progress: &ImportProgress);
    /// A file failed (reported once per file).
    fn file_failed(&mut self, error: &FileError);
}

/// A file read and hashed, ready for detection.
struct ReadFile {
    path: PathBuf,
    result: Result<(Vec<u8>, PhotoId), FileError>,
}

fn read_file(path: PathBuf) -> ReadFile {
    let result = (|| {
        let meta = std::fs::metadata(&path).map_err(|e| e.to_string())?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!("file is larger than {} MiB", MAX_FILE_BYTES >> 20));
        }
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let id = PhotoId::of_bytes(&bytes);
        Ok((bytes, id))
    })()
    .map_err(|reason| FileError {
        path: path.display().to_string(),
        reason,
    });
    ReadFile { path, result }
}

fn lock(library: &Mutex<Library>) -> MutexGuard<'_, Library> {
    library.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Meter {
    start: Instant,
}

impl Meter {
    fn progress(
        &self,
        phase: ImportPhase,
        done: u64,
        total: u64,
        current: Option<String>,
    ) -> ImportProgress {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = (rate > 0.0 && total >= done).then(|| (total - done) as f64 / rate);
        ImportProgress {
            phase,
            done,
            total,
            rate_per_s: rate,
            eta_s: eta,
            current,
        }
    }
}

/// Runs an import of `folders` to completion (or cancellation). The library
/// is locked only for each photo's lookup and commit, so user actions
/// interleave with the import.
pub fn run_import(
    library: &Mutex<Library>,
    finder: &mut dyn FaceFinder,
    folders: &[PathBuf],
    options: &ScanOptions,
    control: &Arc<JobControl>,
    sink: &mut dyn ImportSink,
) -> ImportSummary {
    let start = Instant::now();
    let mut summary = ImportSummary::default();
    let scan_meter = Meter { start };
    sink.progress(&scan_meter.progress(ImportPhase::Scan, 0, 0, None));
    let found = scan(folders, options, &|| control.keep_going());
    summary.not_images = found.not_images;
    for e in &found.errors {
        sink.file_failed(e);
    }
    summary.failed.extend(found.errors);
    let total = found.images.len() as u64;
    summary.photos_seen = total;

    let detect_meter = Meter {
        start: Instant::now(),
    };
    let (tx, rx) = bounded::<ReadFile>(READ_AHEAD);
    let reader_control = Arc::clone(control);
    let images = found.images;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for path in images {
                if !reader_control.keep_going() || tx.send(read_file(path)).is_err() {
                    break;
                }
            }
        });
        let mut done = 0;
        for file in &rx {
            if !control.keep_going() {
                break;
            }
            let shown = file.path.display().to_string();
            sink.progress(&detect_meter.progress(
                ImportPhase::Detect,
                done,
                total,
                Some(shown.clone()),
            ));
            match import_one(library, finder, file, &mut summary) {
                Ok(()) => {}
                Err(e) => {
                    sink.file_failed(&e);
                    summary.failed.push(e);
                }
            }
            done += 1;
        }
        // Dropping the receiver stops the reader if we stopped early.
        drop(rx);
        sink.progress(&detect_meter.progress(ImportPhase::Detect, done, total, None));
    });
    summary.cancelled = !control.keep_going();
    if !summary.cancelled {
        recognise_phase(library, control, sink, &mut summary);
    }
    summary.duration_ms = start.elapsed().as_millis() as u64;
    summary.images_per_s = summary.new_photos as f64 / start.elapsed().as_secs_f64().max(1e-3);
    sink.progress(&scan_meter.progress(ImportPhase::Done, total, total, None));
    summary
}

/// The recognise phase: decides the faces not yet through recognition in
/// batches (one transaction each, the lock released between them), then
/// clusters the unknown faces in one transaction. Resumable: a killed or
/// cancelled phase continues from its mark on the next run.
fn recognise_phase(
    library: &Mutex<Library>,
    control: &Arc<JobControl>,
    sink: &mut dyn ImportSink,
    summary: &mut ImportSummary,
) {
    let meter = Meter {
        start: Instant::now(),
    };
    let total = match lock(library).faces_to_recognise() {
        Ok(n) => n,
        Err(e) => {
            summary.recognition_failed = Some(e.to_string());
            return;
        }
    };
    let mut done = 0u64;
    sink.progress(&meter.progress(ImportPhase::Recognise, done, total, None));
    loop {
        if !control.keep_going() {
            summary.cancelled = true;
            return;
        }
        let step = lock(library).recognise_new_step(RECOGNISE_BATCH);
        match step {
            Ok((0, _)) => break,
            Ok((n, report)) => {
                done += n as u64;
                summary.recognised.decided += report.decided;
                summary.recognised.auto_assigned += report.auto_assigned;
                summary.recognised.suggested += report.suggested;
                sink.progress(&meter.progress(ImportPhase::Recognise, done, total, None));
            }
            Err(e) => {
                summary.recognition_failed = Some(e.to_string());
                return;
            }
        }
    }
    let clustered = lock(library).cluster_unknown();
    match clustered {
        Ok(n) => summary.recognised.clustered = n as u64,
        Err(e) => summary.recognition_failed = Some(e.to_string()),
    }
}

/// Imports one read file: a known, scanned photo only gains the path; a new
/// one is decoded, its faces found and everything committed together.
fn import_one(
    library: &Mutex<Library>,
    finder: &mut dyn FaceFinder,
    file: ReadFile,
    summary: &mut ImportSummary,
) -> Result<(), FileError> {
    let path_text = file.path.display().to_string();
    let fail = |reason: String| FileError {
        path: path_text.clone(),
        reason,
    };
    let (bytes, id) = file.result?;
    let known = lock(library).photo(id).map_err(|e| fail(e.to_string()))?;
    let mut photo = NewPhoto {
        id,
        path: path_text.clone(),
        size_bytes: bytes.len() as u64,
        width: 0,
        height: 0,
        taken_at: None,
        status: ScanStatus::Pending,
    };
    if let Some(known) = known.filter(|p| !needs_scan(&p.status)) {
        summary.duplicates += 1;
        photo.status = known.status;
        lock(library)
            .record_photo(&photo, &[])
            .map_err(|e| fail(e.to_string()))?;
        return Ok(());
    }
    let (faces, failure) = match finder.find_faces(&file.path, &bytes) {
        Ok(found) => {
            photo.width = found.width;
            photo.height = found.height;
            photo.taken_at = found.taken_at;
            photo.status = if found.faces.is_empty() {
                ScanStatus::NoFaces
            } else {
                ScanStatus::Detected
            };
            (found.faces, None)
        }
        Err(e) => {
            photo.status = ScanStatus::Failed {
                reason: e.reason.clone(),
                permanent: e.permanent,
            };
            (Vec::new(), Some(fail(e.reason)))
        }
    };
    let commit = lock(library)
        .record_photo(&photo, &faces)
        .map_err(|e| fail(e.to_string()))?;
    if !commit.scanned {
        summary.duplicates += 1;
    } else if failure.is_none() {
        summary.new_photos += 1;
        summary.faces_found += commit.faces.len() as u64;
        if photo.status == ScanStatus::NoFaces {
            summary.no_faces += 1;
        }
    }
    failure.map_or(Ok(()), Err)
}

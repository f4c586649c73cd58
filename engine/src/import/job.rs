//! The import job: scan → detect & embed → recognise → done.
//!
//! Each photo is committed on its own (photo row, faces and index state in one
//! write transaction), so a killed import resumes where it stopped: content
//! already scanned is recognised by its hash and only gains the new path.
//! Reading and hashing run ahead of detection on a second thread through a
//! bounded channel, so memory stays bounded whatever the number of photos.
//! Faces are found in [`PHOTOS_IN_FLIGHT`] photos at a time, each one task
//! on the rayon pool, then the photos are committed in the order read.

use super::scan::{FileError, ScanOptions, scan};
use crate::Library;
use crate::store::{NewPhoto, RECOGNISE_BATCH, RecogniseReport, needs_scan};
use crate::types::{BBox, NewFace, PhotoId, ScanStatus};
use crossbeam_channel::bounded;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Files larger than this are refused (a photo this big is not a photo).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// How many photos faces are found in at once. Each is one task on the
/// rayon pool, from decoding to embedding, and the convolutions inside it
/// are tasks on the same pool, so a core that waits inside one photo takes
/// work from another. Also bounds the decoded photos held in memory.
pub const PHOTOS_IN_FLIGHT: usize = 4;

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

/// Decodes a photo and finds its faces (the vision pipeline). Shared by
/// the photos in flight, so it takes `&self` and is `Sync`.
pub trait FaceFinder: Sync {
    /// Finds the faces in the photo whose file bytes are `bytes`.
    fn find_faces(&self, path: &Path, bytes: &[u8]) -> Result<FoundFaces, FindError>;

    /// Finds the face inside a box the user drew on the photo whose file
    /// bytes are `bytes` and embeds it; `Ok(None)` when there is no face in
    /// the box. The returned face keeps the detector's own box, landmarks and
    /// score. A finder that cannot look inside a box (a test double) says so
    /// with an error rather than pretending no face is there.
    fn find_face_in_box(
        &self,
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
    finder: &dyn FaceFinder,
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
    // One batch read ahead while the current one is in flight.
    let (tx, rx) = bounded::<ReadFile>(PHOTOS_IN_FLIGHT);
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
        loop {
            let batch: Vec<ReadFile> = rx.iter().take(PHOTOS_IN_FLIGHT).collect();
            if batch.is_empty() || !control.keep_going() {
                break;
            }
            let shown = batch[0].path.display().to_string();
            sink.progress(&detect_meter.progress(ImportPhase::Detect, done, total, Some(shown)));
            done += batch.len() as u64;
            for e in import_batch(library, finder, batch, &mut summary) {
                sink.file_failed(&e);
                summary.failed.push(e);
            }
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

/// A new photo waiting for its faces.
struct Pending {
    path: PathBuf,
    bytes: Vec<u8>,
    photo: NewPhoto,
}

fn file_error(path: &Path, reason: String) -> FileError {
    FileError {
        path: path.display().to_string(),
        reason,
    }
}

/// Imports a batch of read files: a known, scanned photo only gains its
/// path; the new ones have their faces found side by side, then each is
/// committed on its own (photo, faces and index state together), in the
/// order read. Returns the failures, in that order too.
fn import_batch(
    library: &Mutex<Library>,
    finder: &dyn FaceFinder,
    batch: Vec<ReadFile>,
    summary: &mut ImportSummary,
) -> Vec<FileError> {
    let mut failures = Vec::new();
    let mut pending = Vec::with_capacity(batch.len());
    for file in batch {
        match triage(library, file, summary) {
            Ok(Some(p)) => pending.push(p),
            Ok(None) => {}
            Err(e) => failures.push(e),
        }
    }
    let found: Vec<_> = pending
        .par_iter()
        .map(|p| finder.find_faces(&p.path, &p.bytes))
        .collect();
    for (p, f) in pending.into_iter().zip(found) {
        if let Err(e) = commit_found(library, p, f, summary) {
            failures.push(e);
        }
    }
    failures
}

/// A file whose content the library has already scanned only gains its
/// path (`None`); any other needs its faces found.
fn triage(
    library: &Mutex<Library>,
    file: ReadFile,
    summary: &mut ImportSummary,
) -> Result<Option<Pending>, FileError> {
    let path = file.path;
    let (bytes, id) = file.result?;
    let known = lock(library)
        .photo(id)
        .map_err(|e| file_error(&path, e.to_string()))?;
    let mut photo = NewPhoto {
        id,
        path: path.display().to_string(),
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
            .map_err(|e| file_error(&path, e.to_string()))?;
        return Ok(None);
    }
    Ok(Some(Pending { path, bytes, photo }))
}

/// Commits a new photo with what the finder made of it.
fn commit_found(
    library: &Mutex<Library>,
    pending: Pending,
    found: Result<FoundFaces, FindError>,
    summary: &mut ImportSummary,
) -> Result<(), FileError> {
    let Pending {
        path, mut photo, ..
    } = pending;
    let (faces, failure) = match found {
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
            (Vec::new(), Some(file_error(&path, e.reason)))
        }
    };
    let commit = lock(library)
        .record_photo(&photo, &faces)
        .map_err(|e| file_error(&path, e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Finds no face in any photo and refuses those named `*-bad.jpg`;
    /// counts its calls.
    #[derive(Default)]
    struct FakeFinder {
        calls: AtomicUsize,
    }

    impl FaceFinder for FakeFinder {
        fn find_faces(&self, path: &Path, _bytes: &[u8]) -> Result<FoundFaces, FindError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if path.to_string_lossy().ends_with("-bad.jpg") {
                return Err(FindError {
                    reason: "refused".into(),
                    permanent: true,
                });
            }
            Ok(FoundFaces {
                width: 8,
                height: 8,
                taken_at: None,
                faces: Vec::new(),
            })
        }
    }

    struct Quiet;

    impl ImportSink for Quiet {
        fn progress(&mut self, _: &ImportProgress) {}
        fn file_failed(&mut self, _: &FileError) {}
    }

    /// Regression test for photos in flight: eleven files over several
    /// batches. File 1 repeats file 0's content inside the first batch
    /// (both are looked at, one photo is committed); file 9 repeats file
    /// 2's in a later batch (only its path is recorded). Failures come back
    /// in the order read.
    #[test]
    fn photos_in_flight_commit_in_order_and_count_each_content_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let photos = dir.path().join("photos");
        std::fs::create_dir(&photos).expect("folder");
        let bad = [3, 6, 10];
        let content = |i: u8| match i {
            1 => 0,
            9 => 2,
            i => i,
        };
        for i in 0..11u8 {
            let name = format!("{i:02}{}.jpg", if bad.contains(&i) { "-bad" } else { "" });
            // A JPEG signature, then bytes that make the content unique.
            let bytes = [0xff, 0xd8, 0xff, 0xe0, content(i)];
            std::fs::write(photos.join(name), bytes).expect("write");
        }
        let library = Mutex::new(Library::open(&dir.path().join("lib.redb")).expect("library"));
        let finder = FakeFinder::default();
        let summary = run_import(
            &library,
            &finder,
            &[photos],
            &ScanOptions::default(),
            &Arc::new(JobControl::default()),
            &mut Quiet,
        );
        assert_eq!(
            (summary.photos_seen, summary.new_photos, summary.duplicates),
            (11, 6, 2),
            "{summary:?}"
        );
        assert_eq!(summary.no_faces, 6);
        let failed: Vec<_> = summary
            .failed
            .iter()
            .map(|e| {
                Path::new(&e.path)
                    .file_name()
                    .map(std::ffi::OsStr::to_os_string)
            })
            .collect();
        assert_eq!(
            failed,
            ["03-bad.jpg", "06-bad.jpg", "10-bad.jpg"].map(|n| Some(n.into()))
        );
        let later_batch = 9 / PHOTOS_IN_FLIGHT != 2 / PHOTOS_IN_FLIGHT;
        assert_eq!(
            finder.calls.load(Ordering::Relaxed),
            11 - usize::from(later_batch)
        );
        let library = lock(&library);
        for (a, b) in [(0u8, 1u8), (2, 9)] {
            let id = PhotoId::of_bytes(&[0xff, 0xd8, 0xff, 0xe0, a]);
            let photo = library.photo(id).expect("query").expect("committed");
            let names: Vec<_> = photo
                .paths
                .iter()
                .filter_map(|p| Path::new(p).file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, [format!("{a:02}.jpg"), format!("{b:02}.jpg")]);
            assert_eq!(photo.status, ScanStatus::NoFaces);
        }
    }
}

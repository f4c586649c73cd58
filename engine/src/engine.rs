//! The engine thread and its channel API.
//!
//! Callers (the GUI, the CLI) send a [`Command`] and receive [`Event`]s over
//! crossbeam channels. The engine owns the [`Library`]; nothing outside this
//! thread holds a database or index handle. After each event the engine calls
//! the waker closure it was started with, so a GUI can repaint without the
//! engine depending on any GUI crate.
//!
//! **Architecture Invariant:** each error is reported once, in the reply to
//! the command that caused it; the engine never logs and returns the same
//! error.

use crate::Library;
use crate::error::{ActionError, OpenError, QueryError, StorageError};
use crate::import::watch::{FolderChanges, FolderWatcher};
use crate::import::{
    FaceFinder, FileError, ImportProgress, ImportSink, ImportSummary, JobControl, ScanOptions,
    run_import,
};
use crate::index;
use crate::media::{self, EditError, ImageJob, ImageWorker};
use crate::store::{CheckReport, LibraryExport};
use crate::thumbs::{ThumbCache, ThumbError};
use crate::types::{
    BBox, ClusterId, ClusterSummary, DeleteFaces, Face, FaceEdit, FaceId, Neighbour, Page, Person,
    PersonId, PersonSort, PersonSummary, PhotoDetail, PhotoId, PhotoSummary, RgbaImage, Suggestion,
};
use crossbeam_channel::{Receiver, Sender, unbounded};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Called by the engine after it sends an event (e.g. `egui::Context::request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync + 'static>;

/// Makes the face finder an import runs with (the vision pipeline), on the
/// import's own thread.
pub type FinderFactory =
    Arc<dyn Fn() -> Result<Box<dyn FaceFinder>, String> + Send + Sync + 'static>;

/// Correlates a reply with its command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// Something the caller asks the engine to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Create a person.
    CreatePerson {
        /// Name.
        name: String,
    },
    /// Rename a person.
    RenamePerson {
        /// Person.
        person: PersonId,
        /// New name.
        name: String,
    },
    /// Delete a person (permanent; clears the undo history).
    DeletePerson {
        /// Person.
        person: PersonId,
        /// What happens to their faces.
        faces: DeleteFaces,
    },
    /// Hide or show a person.
    SetPersonHidden {
        /// Person.
        person: PersonId,
        /// Hidden.
        hidden: bool,
    },
    /// Set or clear a birth date (`YYYY-MM-DD`).
    SetBirthDate {
        /// Person.
        person: PersonId,
        /// Date.
        date: Option<String>,
    },
    /// Merge `from` into `into`.
    MergePersons {
        /// Merged away.
        from: PersonId,
        /// Kept.
        into: PersonId,
    },
    /// Assign (or move) faces to a person.
    AssignFaces {
        /// Faces.
        faces: Vec<FaceId>,
        /// Person.
        person: PersonId,
    },
    /// Take faces away from their persons.
    UnassignFaces {
        /// Faces.
        faces: Vec<FaceId>,
    },
    /// Set or clear a person's cover face.
    SetCoverFace {
        /// Person.
        person: PersonId,
        /// Face, one of theirs.
        face: Option<FaceId>,
    },
    /// Undo the newest user action.
    Undo,
    /// The people list.
    ListPersons {
        /// Order.
        sort: PersonSort,
        /// Page.
        page: Page,
        /// Include hidden persons.
        include_hidden: bool,
    },
    /// One person.
    GetPerson {
        /// Person.
        person: PersonId,
    },
    /// A person's faces.
    FacesOfPerson {
        /// Person.
        person: PersonId,
        /// Page.
        page: Page,
    },
    /// Photos containing all of these persons.
    PhotosWithAll {
        /// Persons.
        persons: Vec<PersonId>,
    },
    /// Faces most similar to a face.
    NearestToFace {
        /// Face.
        face: FaceId,
        /// How many.
        k: usize,
    },
    /// Faces most similar to a person (not already theirs).
    NearestToPerson {
        /// Person.
        person: PersonId,
        /// How many.
        k: usize,
    },
    /// Check every invariant; with `repair`, rebuild derived state first.
    Check {
        /// Repair before checking.
        repair: bool,
    },
    /// Export the whole library.
    Export {
        /// Include embeddings.
        with_embeddings: bool,
    },
    /// Import folders of photos (runs in the background; progress arrives
    /// as events, the reply when it ends).
    Import {
        /// Folders to walk.
        folders: Vec<PathBuf>,
        /// Names or paths to skip besides hidden and system folders.
        exclusions: Vec<String>,
    },
    /// Pause the running import.
    PauseImport,
    /// Resume a paused import.
    ResumeImport,
    /// Cancel the running import (what it committed stays).
    CancelImport,
    /// Redo the newest undone user action.
    Redo,

    // --- Recognition: unnamed groups, suggestions, corrections ---
    /// Unnamed groups, biggest first, then by id (only groups of at least
    /// the minimum group size; ignored faces never count).
    ListClusters {
        /// Page.
        page: Page,
    },
    /// The faces of an unnamed group.
    FacesOfCluster {
        /// Group.
        cluster: ClusterId,
        /// Page.
        page: Page,
    },
    /// Name a group: creates the person, or merges the group into the
    /// person of that name (ignoring case).
    NameCluster {
        /// Group.
        cluster: ClusterId,
        /// Name.
        name: String,
    },
    /// Ignore faces (strangers): never suggested, never clustered.
    IgnoreFaces {
        /// Faces.
        faces: Vec<FaceId>,
    },
    /// Ignore every face of a group.
    IgnoreCluster {
        /// Group.
        cluster: ClusterId,
    },
    /// Stop ignoring faces.
    UnignoreFaces {
        /// Faces.
        faces: Vec<FaceId>,
    },
    /// Move faces into a new person.
    SplitFaces {
        /// Faces.
        faces: Vec<FaceId>,
        /// The new person's name.
        name: String,
    },
    /// Take faces away from a person and record that they are not them.
    RemoveFaces {
        /// Person.
        person: PersonId,
        /// Faces, each one of theirs.
        faces: Vec<FaceId>,
    },
    /// A person's pending suggestions in review order (confidence, then face id).
    ListSuggestions {
        /// Person.
        person: PersonId,
        /// Page.
        page: Page,
    },
    /// Accept suggestions: the faces become the person's.
    AcceptSuggestions {
        /// Person.
        person: PersonId,
        /// Suggested faces.
        faces: Vec<FaceId>,
    },
    /// Reject suggestions: never suggested for that person again.
    RejectSuggestions {
        /// Person.
        person: PersonId,
        /// Suggested faces.
        faces: Vec<FaceId>,
    },
    /// Search for more faces like a person's, excluding assigned, rejected
    /// and ignored ones; what is found is stored as pending suggestions.
    FindMore {
        /// Person.
        person: PersonId,
        /// How many at most.
        k: usize,
    },
    /// Add a person from reference photos: their faces become confirmed
    /// faces of that person.
    EnrolPerson {
        /// Name.
        name: String,
        /// Photo files, one face each.
        photos: Vec<PathBuf>,
    },
    /// Run the recognise phase over the whole library.
    Recognise,

    // --- Photos and media ---
    /// Photos, by capture date then id; with persons, only photos with all of them.
    ListPhotos {
        /// Persons that must all appear (empty: every photo).
        persons: Vec<PersonId>,
        /// Page.
        page: Page,
    },
    /// One photo with its faces.
    GetPhoto {
        /// Photo.
        photo: PhotoId,
    },
    /// A face crop, from the thumbnail cache.
    FaceThumbnail {
        /// Face.
        face: FaceId,
        /// Side of the square thumbnail in pixels.
        size_px: u32,
    },
    /// A photo scaled to fit a square, from the thumbnail cache.
    PhotoImage {
        /// Photo.
        photo: PhotoId,
        /// Longest side in pixels.
        max_side_px: u32,
    },
    /// Move or resize a face's box; the face is re-embedded from the new region.
    SetFaceBox {
        /// Face.
        face: FaceId,
        /// New box in image pixels.
        bbox: BBox,
    },
    /// Add a face the detector missed, from a box the user drew.
    AddFace {
        /// Photo.
        photo: PhotoId,
        /// Box in image pixels.
        bbox: BBox,
    },
    /// Delete a face.
    DeleteFace {
        /// Face.
        face: FaceId,
    },
}

impl Command {
    /// True for commands that can change a person model or what the
    /// recognise phase may decide (confirmed faces, birth dates, persons,
    /// faces becoming unknown, a face box re-embedded, drawn or deleted):
    /// the engine re-runs recognition after them.
    pub fn changes_models(&self) -> bool {
        matches!(
            self,
            Self::DeletePerson { .. }
                | Self::SetBirthDate { .. }
                | Self::MergePersons { .. }
                | Self::AssignFaces { .. }
                | Self::UnassignFaces { .. }
                | Self::Undo
                | Self::Redo
                | Self::NameCluster { .. }
                | Self::UnignoreFaces { .. }
                | Self::SplitFaces { .. }
                | Self::RemoveFaces { .. }
                | Self::AcceptSuggestions { .. }
                | Self::EnrolPerson { .. }
                | Self::SetFaceBox { .. }
                | Self::AddFace { .. }
                | Self::DeleteFace { .. }
        )
    }

    /// True for commands that change the library.
    pub fn is_mutation(&self) -> bool {
        matches!(
            self,
            Self::CreatePerson { .. }
                | Self::RenamePerson { .. }
                | Self::DeletePerson { .. }
                | Self::SetPersonHidden { .. }
                | Self::SetBirthDate { .. }
                | Self::MergePersons { .. }
                | Self::AssignFaces { .. }
                | Self::UnassignFaces { .. }
                | Self::SetCoverFace { .. }
                | Self::Undo
                | Self::Redo
                | Self::Check { repair: true }
                | Self::NameCluster { .. }
                | Self::IgnoreFaces { .. }
                | Self::IgnoreCluster { .. }
                | Self::UnignoreFaces { .. }
                | Self::SplitFaces { .. }
                | Self::RemoveFaces { .. }
                | Self::AcceptSuggestions { .. }
                | Self::RejectSuggestions { .. }
                | Self::FindMore { .. }
                | Self::EnrolPerson { .. }
                | Self::Recognise
                | Self::SetFaceBox { .. }
                | Self::AddFace { .. }
                | Self::DeleteFace { .. }
        )
    }
}

/// The successful result of a command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// The action was carried out.
    Done,
    /// A person was created.
    PersonCreated(PersonId),
    /// Number of faces affected (delete, merge).
    FacesAffected(u64),
    /// What was undone.
    Undone(String),
    /// The people list.
    Persons(Vec<PersonSummary>),
    /// One person.
    Person(Person),
    /// Faces.
    Faces(Vec<Face>),
    /// Photos.
    Photos(Vec<PhotoId>),
    /// Nearest faces.
    Neighbours(Vec<Neighbour>),
    /// Check result.
    Check(CheckReport),
    /// Export.
    Export(Box<LibraryExport>),
    /// An import ended.
    Imported(Box<ImportSummary>),
    /// What was redone.
    Redone(String),
    /// Unnamed groups.
    Clusters(Vec<ClusterSummary>),
    /// Suggestions in review order.
    Suggestions(Vec<Suggestion>),
    /// Photos of the photo grid.
    PhotoList(Vec<PhotoSummary>),
    /// One photo with its faces.
    PhotoDetail(Box<PhotoDetail>),
    /// Pixels.
    Image(RgbaImage),
    /// A face box was drawn or changed.
    FaceEdited(FaceEdit),
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum EngineError {
    /// The library could not be opened, so no command can run.
    #[error(transparent)]
    NotOpen(#[from] OpenError),
    /// An action was refused or failed.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The engine thread is gone.
    #[error("the engine has stopped")]
    Stopped,
    /// An import is already running.
    #[error("an import is already running")]
    ImportRunning,
    /// Pause, resume or cancel with no import running.
    #[error("no import is running")]
    NoImport,
    /// The face finder (models, device) could not be set up.
    #[error("cannot start face detection: {0}")]
    Vision(String),
    /// This engine build does not serve the command yet.
    #[error("not available yet: {0}")]
    Unsupported(String),
    /// A thumbnail or photo preview could not be made.
    #[error(transparent)]
    Thumbnail(#[from] ThumbError),
}

impl From<EditError> for EngineError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Action(e) => Self::Action(e),
            EditError::Vision(reason) => Self::Vision(reason),
        }
    }
}

/// What the engine tells its caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// The library is open.
    Opened {
        /// Library file.
        path: PathBuf,
    },
    /// The library could not be opened.
    OpenFailed(OpenError),
    /// The result of a command.
    Reply {
        /// The command's id.
        id: RequestId,
        /// Result.
        result: Result<Reply, EngineError>,
    },
    /// The library changed (after any mutation or imported photo): views
    /// should refresh.
    LibraryChanged,
    /// Progress of the running import.
    ImportProgress(ImportProgress),
    /// A file of the running import failed (reported once per file).
    ImportFileFailed(FileError),
    /// An import started by the folder watcher ended (an import started by
    /// a command ends with its reply instead).
    ImportFinished(Box<ImportSummary>),
    /// Background maintenance (an index rebuild) failed; the library stays
    /// consistent and searches stay exact over the delta.
    BackgroundFailed {
        /// What was being done.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

struct Request {
    id: RequestId,
    command: Command,
}

/// A running engine.
pub struct Engine {
    requests: Option<Sender<Request>>,
    events: Receiver<Event>,
    next_id: std::sync::atomic::AtomicU64,
    thread: Option<JoinHandle<()>>,
}

/// How to start the engine.
#[derive(Clone)]
pub struct EngineConfig {
    /// Library file.
    pub library_path: PathBuf,
    /// Makes the face finder for imports.
    pub finder: FinderFactory,
}

impl Engine {
    /// Starts the engine thread; it opens the library and then serves
    /// commands in order.
    pub fn start(config: EngineConfig, waker: Waker) -> std::io::Result<Self> {
        let (request_tx, request_rx) = unbounded::<Request>();
        let (event_tx, event_rx) = unbounded::<Event>();
        let thread = std::thread::Builder::new()
            .name("likeness-engine".into())
            .spawn(move || run(config, &request_rx, &event_tx, &waker))?;
        Ok(Self {
            requests: Some(request_tx),
            events: event_rx,
            next_id: std::sync::atomic::AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    /// Sends a command; its reply arrives as [`Event::Reply`] with this id.
    pub fn send(&self, command: Command) -> RequestId {
        let id = RequestId(
            self.next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        if let Some(tx) = &self.requests {
            // A send fails only when the engine thread has stopped; the caller
            // then sees the channel close on `events`.
            let _ = tx.send(Request { id, command });
        }
        id
    }

    /// The events channel.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Sends a command and blocks until its reply (for the CLI and tests;
    /// a GUI polls [`Engine::events`] instead). Other events are dropped,
    /// except that an open failure is returned as the error.
    pub fn call(&self, command: Command) -> Result<Reply, EngineError> {
        let want = self.send(command);
        loop {
            match self.events.recv() {
                Ok(Event::Reply { id, result }) if id == want => return result,
                Ok(_) => {}
                Err(_) => return Err(EngineError::Stopped),
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the request channel ends the engine loop.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs the index's due maintenance steps (flush the delta into a new
/// segment, merge or compact segments: `index::maintain`) on a background
/// thread; at most one runs at a time.
#[derive(Clone)]
struct IndexMaintainer {
    running: Arc<AtomicBool>,
    events: Sender<Event>,
    waker: Waker,
}

impl IndexMaintainer {
    /// Starts a rebuild if one is due and none is running.
    fn poke(&self, library: &Library) {
        let due = match library.index_needs_rebuild() {
            Ok(due) => due,
            Err(e) => return self.failed(&e.to_string()),
        };
        if !due || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let db = library.database();
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("likeness-index-rebuild".into())
            .spawn(move || {
                if let Err(e) = index::maintain(&db, index::RebuildParams::default()) {
                    this.failed(&e.to_string());
                }
                this.running.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            self.running.store(false, Ordering::Release);
            self.failed(&e.to_string());
        }
    }

    fn failed(&self, reason: &str) {
        let _ = self.events.send(Event::BackgroundFailed {
            what: "index rebuild".into(),
            reason: reason.to_owned(),
        });
        (self.waker)();
    }
}

/// The import running in the background, if any.
struct RunningImport {
    control: Arc<JobControl>,
    thread: JoinHandle<()>,
    /// Set by the import thread before it reports its end, so a command
    /// sent right after the reply never sees the import as still running.
    done: Arc<AtomicBool>,
    /// Started by a command (not by the folder watcher).
    from_command: bool,
}

/// Forwards import progress to the event channel.
struct EventSink {
    events: Sender<Event>,
    waker: Waker,
    last_done: u64,
    maintainer: IndexMaintainer,
    /// The library an import writes to (checked for a due index rebuild).
    library: Option<Arc<Mutex<Library>>>,
}

impl EventSink {
    fn emit(&self, event: Event) {
        // The caller dropped its receiver: nobody is listening any more.
        let _ = self.events.send(event);
        (self.waker)();
    }
}

impl ImportSink for EventSink {
    fn progress(&mut self, progress: &ImportProgress) {
        // Each committed photo changes the library.
        if progress.done > self.last_done {
            self.last_done = progress.done;
            self.emit(Event::LibraryChanged);
            if let Some(library) = &self.library {
                self.maintainer.poke(&lock(library));
            }
        }
        self.emit(Event::ImportProgress(progress.clone()));
    }

    fn file_failed(&mut self, error: &FileError) {
        self.emit(Event::ImportFileFailed(error.clone()));
    }
}

fn lock(library: &Mutex<Library>) -> std::sync::MutexGuard<'_, Library> {
    library.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An import to start: who asked (a command, or the folder watcher) and
/// what to walk.
struct ImportRequest {
    id: Option<RequestId>,
    folders: Vec<PathBuf>,
    exclusions: Vec<String>,
}

/// The engine thread's state between messages.
struct EngineLoop {
    config: EngineConfig,
    library: Result<Arc<Mutex<Library>>, OpenError>,
    sink: EventSink,
    import: Option<RunningImport>,
    watcher: Option<FolderWatcher>,
    /// Changed files waiting for the running import to end.
    pending: BTreeSet<PathBuf>,
    /// A command's import waiting for a watcher-started import to end.
    queued: Option<ImportRequest>,
    /// Makes thumbnails off this thread (`None` if its threads could not start).
    images: Option<ImageWorker>,
    /// The face finder of face edits, loaded on the first edit.
    editor: Option<Box<dyn FaceFinder>>,
}

/// Threads making thumbnails (decoding a big photo takes a while; two keep
/// a grid filling while one photo decodes).
const IMAGE_THREADS: usize = 2;

impl EngineLoop {
    fn open(
        config: EngineConfig,
        events: &Sender<Event>,
        waker: &Waker,
        changes: Sender<FolderChanges>,
    ) -> Self {
        let library = Library::open(&config.library_path).map(|l| Arc::new(Mutex::new(l)));
        let maintainer = IndexMaintainer {
            running: Arc::new(AtomicBool::new(false)),
            events: events.clone(),
            waker: Arc::clone(waker),
        };
        let sink = EventSink {
            events: events.clone(),
            waker: Arc::clone(waker),
            last_done: 0,
            maintainer,
            library: None,
        };
        let images =
            ImageWorker::start(ThumbCache::for_library(&config.library_path), IMAGE_THREADS);
        let mut this = Self {
            config,
            library,
            sink,
            import: None,
            watcher: None,
            pending: BTreeSet::new(),
            queued: None,
            images: None,
            editor: None,
        };
        match images {
            Ok(images) => this.images = Some(images),
            Err(e) => this.background_failed("starting the thumbnail threads", &e.to_string()),
        }
        match &this.library {
            Ok(library) => {
                this.sink.emit(Event::Opened {
                    path: this.config.library_path.clone(),
                });
                let wake = Arc::clone(waker);
                match FolderWatcher::new(changes, move || wake()) {
                    Ok(watcher) => this.watcher = Some(watcher),
                    Err(e) => this.background_failed("watching folders", &e.to_string()),
                }
                let roots = lock(library).import_roots();
                match roots {
                    Ok(roots) => this.watch(&roots),
                    Err(e) => this.background_failed("watching folders", &e.to_string()),
                }
            }
            Err(e) => this.sink.emit(Event::OpenFailed(e.clone())),
        }
        this
    }

    fn background_failed(&self, what: &str, reason: &str) {
        self.sink.emit(Event::BackgroundFailed {
            what: what.to_owned(),
            reason: reason.to_owned(),
        });
    }

    fn watch(&mut self, roots: &[PathBuf]) {
        let Some(watcher) = &mut self.watcher else {
            return;
        };
        let mut failures = Vec::new();
        for root in roots.iter().filter(|r| r.is_dir()) {
            if let Err(e) = watcher.watch(root) {
                failures.push(format!("{}: {e}", root.display()));
            }
        }
        for f in failures {
            self.background_failed("watching folders", &f);
        }
    }

    fn handle(&mut self, Request { id, command }: Request) {
        let library = match &self.library {
            Ok(library) => Arc::clone(library),
            Err(e) => {
                let result = Err(EngineError::NotOpen(e.clone()));
                self.sink.emit(Event::Reply { id, result });
                return;
            }
        };
        let mutation = command.is_mutation();
        let redecides = command.changes_models();
        let result = match command {
            Command::PauseImport | Command::ResumeImport | Command::CancelImport => {
                match &self.import {
                    None => Err(EngineError::NoImport),
                    Some(running) => {
                        match command {
                            Command::PauseImport => running.control.pause(),
                            Command::ResumeImport => running.control.resume(),
                            _ => running.control.cancel(),
                        }
                        Ok(Reply::Done)
                    }
                }
            }
            Command::Import { .. }
                if self.queued.is_some()
                    || self
                        .import
                        .as_ref()
                        .is_some_and(|i| i.from_command && !i.done.load(Ordering::Acquire)) =>
            {
                Err(EngineError::ImportRunning)
            }
            Command::Import {
                folders,
                exclusions,
            } => {
                let remembered = lock(&library).add_import_roots(&folders);
                match remembered {
                    Ok(()) => {
                        self.watch(&folders);
                        // Runs once a watcher-started import (if any) ends;
                        // the reply comes when this import ends.
                        self.queued = Some(ImportRequest {
                            id: Some(id),
                            folders,
                            exclusions,
                        });
                        self.tick();
                        return;
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Command::FaceThumbnail { face, size_px } => {
                let rows = lock(&library).face_and_photo(face);
                match rows {
                    Ok((face, photo)) => {
                        let job = ImageJob::Face {
                            face: Box::new(face),
                            photo: Box::new(photo),
                            size_px,
                        };
                        return self.render(id, job);
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Command::PhotoImage { photo, max_side_px } => {
                let row = lock(&library).photo(photo);
                match row {
                    Ok(Some(photo)) => {
                        let job = ImageJob::Photo {
                            photo: Box::new(photo),
                            max_side_px,
                        };
                        return self.render(id, job);
                    }
                    Ok(None) => Err(QueryError::UnknownPhoto(photo).into()),
                    Err(e) => Err(e.into()),
                }
            }
            Command::SetFaceBox { face, bbox } => self.edit(&library, |library, finder| {
                media::set_face_box(library, finder, face, bbox)
            }),
            Command::AddFace { photo, bbox } => self.edit(&library, |library, finder| {
                media::add_face(library, finder, photo, bbox)
            }),
            Command::EnrolPerson { name, photos } => {
                let result = self.enrol(&library, &name, &photos);
                if result.is_ok() {
                    self.sink.maintainer.poke(&lock(&library));
                }
                result
            }
            command => {
                let mut library = lock(&library);
                let result = execute(&mut library, command);
                if mutation && result.is_ok() {
                    self.sink.maintainer.poke(&library);
                }
                result
            }
        };
        let changed = mutation && result.is_ok();
        self.sink.emit(Event::Reply { id, result });
        if changed {
            self.sink.emit(Event::LibraryChanged);
            if redecides {
                // Models changed: the faces the change can affect are
                // decided again and new unknown faces grouped (system
                // writes, after the reply; see `Library::recognise_changed`).
                let redone = lock(&library).recognise_changed();
                match redone {
                    Ok(_) => self.sink.emit(Event::LibraryChanged),
                    Err(e) => self.background_failed("recognising after a change", &e.to_string()),
                }
            }
        }
    }

    /// Hands a picture to the thumbnail worker, which sends the reply.
    fn render(&self, id: RequestId, job: ImageJob) {
        let Some(images) = &self.images else {
            let result = Err(EngineError::Thumbnail(ThumbError::Io(
                "the thumbnail threads could not start".into(),
            )));
            return self.sink.emit(Event::Reply { id, result });
        };
        let events = self.sink.events.clone();
        let waker = Arc::clone(&self.sink.waker);
        images.submit(
            job,
            Box::new(move |result| {
                let result = result.map(Reply::Image).map_err(EngineError::from);
                let _ = events.send(Event::Reply { id, result });
                waker();
            }),
        );
    }

    /// A face edit that looks inside a box: vision runs with the library
    /// unlocked (the import goes on), the outcome commits in one
    /// transaction. The finder is loaded on the first edit and kept.
    fn edit(
        &mut self,
        library: &Arc<Mutex<Library>>,
        run: impl FnOnce(&Mutex<Library>, &dyn FaceFinder) -> Result<FaceEdit, EditError>,
    ) -> Result<Reply, EngineError> {
        if self.editor.is_none() {
            self.editor = Some((self.config.finder)().map_err(EngineError::Vision)?);
        }
        let Some(finder) = self.editor.as_deref() else {
            return Err(EngineError::Vision("no face finder".into()));
        };
        let edit = run(library, finder)?;
        self.sink.maintainer.poke(&lock(library));
        Ok(Reply::FaceEdited(edit))
    }

    /// Enrolment: the reference photos go through the vision pipeline here
    /// (without the library lock), then one transaction records them and
    /// makes their largest faces the person's.
    fn enrol(
        &self,
        library: &Mutex<Library>,
        name: &str,
        photos: &[PathBuf],
    ) -> Result<Reply, EngineError> {
        let finder = (self.config.finder)().map_err(EngineError::Vision)?;
        let mut found = Vec::with_capacity(photos.len());
        for path in photos {
            let bad = |reason: String| {
                EngineError::Action(ActionError::BadPhoto {
                    path: path.display().to_string(),
                    reason,
                })
            };
            let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let faces = finder.find_faces(path, &bytes).map_err(|e| bad(e.reason))?;
            let photo = crate::store::NewPhoto {
                id: PhotoId::of_bytes(&bytes),
                path: path.display().to_string(),
                size_bytes: bytes.len() as u64,
                width: faces.width,
                height: faces.height,
                taken_at: faces.taken_at,
                status: if faces.faces.is_empty() {
                    crate::types::ScanStatus::NoFaces
                } else {
                    crate::types::ScanStatus::Detected
                },
            };
            found.push((photo, faces.faces));
        }
        Ok(Reply::PersonCreated(
            lock(library).enrol_person(name, &found)?,
        ))
    }

    /// Folder changes: forget what disappeared, import what appeared (now,
    /// or when the running import ends).
    fn on_changes(&mut self, changes: FolderChanges) {
        let (Ok(library), Some(watcher)) = (&self.library, &self.watcher) else {
            return;
        };
        let changes = watcher.relevant(changes, &ScanOptions::default());
        for e in &changes.errors {
            self.background_failed("watching folders", e);
        }
        if !changes.removed.is_empty() {
            let removed: Vec<String> = changes
                .removed
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let forgotten = lock(library).forget_paths(&removed);
            match forgotten {
                Ok(n) if n > 0 => self.sink.emit(Event::LibraryChanged),
                Ok(_) => {}
                Err(e) => self.background_failed("forgetting deleted photos", &e.to_string()),
            }
        }
        self.pending.extend(changes.changed);
        self.tick();
    }

    /// Reaps a finished import and starts the pending watched changes.
    fn tick(&mut self) {
        if self
            .import
            .as_ref()
            .is_some_and(|i| i.done.load(Ordering::Acquire))
            && let Some(done) = self.import.take()
        {
            // The thread reported its own result; joining only reaps it.
            let _ = done.thread.join();
        }
        if self.import.is_none()
            && let Some(request) = self.queued.take()
        {
            self.start_import(request);
        }
        if self.import.is_none() && !self.pending.is_empty() && self.library.is_ok() {
            let folders: Vec<PathBuf> = std::mem::take(&mut self.pending).into_iter().collect();
            self.start_import(ImportRequest {
                id: None,
                folders,
                exclusions: Vec::new(),
            });
        }
    }

    fn start_import(&mut self, request: ImportRequest) {
        let Ok(library) = &self.library else { return };
        let control = Arc::new(JobControl::default());
        let job_control = Arc::clone(&control);
        let library = Arc::clone(library);
        let factory = Arc::clone(&self.config.finder);
        let mut sink = EventSink {
            events: self.sink.events.clone(),
            waker: Arc::clone(&self.sink.waker),
            last_done: 0,
            maintainer: self.sink.maintainer.clone(),
            library: Some(Arc::clone(&library)),
        };
        let ImportRequest {
            id,
            folders,
            exclusions,
        } = request;
        let done = Arc::new(AtomicBool::new(false));
        let thread_done = Arc::clone(&done);
        let spawned = std::thread::Builder::new()
            .name("likeness-import".into())
            .spawn(move || {
                let result = factory().map_err(EngineError::Vision).map(|finder| {
                    let options = ScanOptions { exclusions };
                    run_import(
                        &library,
                        finder.as_ref(),
                        &folders,
                        &options,
                        &job_control,
                        &mut sink,
                    )
                });
                thread_done.store(true, Ordering::Release);
                match (id, result) {
                    (Some(id), result) => sink.emit(Event::Reply {
                        id,
                        result: result.map(|s| Reply::Imported(Box::new(s))),
                    }),
                    (None, Ok(summary)) => sink.emit(Event::ImportFinished(Box::new(summary))),
                    (None, Err(e)) => sink.emit(Event::BackgroundFailed {
                        what: "importing changed photos".into(),
                        reason: e.to_string(),
                    }),
                }
                sink.emit(Event::LibraryChanged);
            });
        match spawned {
            Ok(thread) => {
                self.import = Some(RunningImport {
                    control,
                    thread,
                    done,
                    from_command: id.is_some(),
                });
            }
            Err(e) => {
                let reason = format!("cannot start the import thread: {e}");
                match id {
                    Some(id) => self.sink.emit(Event::Reply {
                        id,
                        result: Err(EngineError::Vision(reason)),
                    }),
                    None => self.background_failed("importing changed photos", &reason),
                }
            }
        }
    }

    fn shutdown(self) {
        if let Some(running) = self.import {
            running.control.cancel();
            let _ = running.thread.join();
        }
    }
}

fn run(config: EngineConfig, requests: &Receiver<Request>, events: &Sender<Event>, waker: &Waker) {
    let (changes_tx, changes_rx) = unbounded::<FolderChanges>();
    let mut engine = EngineLoop::open(config, events, waker, changes_tx);
    loop {
        crossbeam_channel::select! {
            recv(requests) -> request => match request {
                Ok(request) => engine.handle(request),
                Err(_) => break,
            },
            recv(changes_rx) -> changes => {
                if let Ok(changes) = changes {
                    engine.on_changes(changes);
                }
            },
            default(TICK) => {},
        }
        engine.tick();
    }
    engine.shutdown();
}

/// How often the engine loop checks for a finished import with watched
/// changes waiting.
const TICK: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs one command against the library.
fn execute(library: &mut Library, command: Command) -> Result<Reply, EngineError> {
    Ok(match command {
        Command::CreatePerson { name } => Reply::PersonCreated(library.create_person(&name)?),
        Command::RenamePerson { person, name } => {
            library.rename_person(person, &name)?;
            Reply::Done
        }
        Command::DeletePerson { person, faces } => {
            Reply::FacesAffected(library.delete_person(person, faces)?)
        }
        Command::SetPersonHidden { person, hidden } => {
            library.set_person_hidden(person, hidden)?;
            Reply::Done
        }
        Command::SetBirthDate { person, date } => {
            library.set_birth_date(person, date.as_deref())?;
            Reply::Done
        }
        Command::MergePersons { from, into } => {
            Reply::FacesAffected(library.merge_persons(from, into)?)
        }
        Command::AssignFaces { faces, person } => {
            library.assign_faces(&faces, person)?;
            Reply::Done
        }
        Command::UnassignFaces { faces } => {
            library.unassign_faces(&faces)?;
            Reply::Done
        }
        Command::SetCoverFace { person, face } => {
            library.set_cover_face(person, face)?;
            Reply::Done
        }
        Command::Undo => Reply::Undone(library.undo()?),
        Command::ListPersons {
            sort,
            page,
            include_hidden,
        } => Reply::Persons(library.list_persons(sort, page, include_hidden)?),
        Command::GetPerson { person } => Reply::Person(library.person(person)?),
        Command::FacesOfPerson { person, page } => {
            Reply::Faces(library.faces_of_person(person, page)?)
        }
        Command::PhotosWithAll { persons } => Reply::Photos(library.photos_with_all(&persons)?),
        Command::NearestToFace { face, k } => Reply::Neighbours(library.nearest_to_face(face, k)?),
        Command::NearestToPerson { person, k } => {
            Reply::Neighbours(library.nearest_to_person(person, k)?)
        }
        Command::Check { repair } => Reply::Check(if repair {
            library.repair()?
        } else {
            library.check()?
        }),
        Command::Export { with_embeddings } => {
            Reply::Export(Box::new(library.export(with_embeddings)?))
        }
        Command::ListPhotos { persons, page } => {
            Reply::PhotoList(library.list_photos(&persons, page)?)
        }
        Command::GetPhoto { photo } => Reply::PhotoDetail(Box::new(library.photo_detail(photo)?)),
        Command::DeleteFace { face } => {
            library.delete_face(face)?;
            Reply::FacesAffected(1)
        }
        // Import control is the engine loop's, never a library call.
        Command::Import { .. }
        | Command::PauseImport
        | Command::ResumeImport
        | Command::CancelImport => return Err(EngineError::NoImport),
        Command::Redo => Reply::Redone(library.redo()?),
        Command::ListClusters { page } => Reply::Clusters(library.list_clusters(page)?),
        Command::FacesOfCluster { cluster, page } => {
            Reply::Faces(library.faces_of_cluster(cluster, page)?)
        }
        Command::NameCluster { cluster, name } => {
            Reply::PersonCreated(library.name_cluster(cluster, &name)?)
        }
        Command::IgnoreFaces { faces } => Reply::FacesAffected(library.ignore_faces(&faces)?),
        Command::IgnoreCluster { cluster } => {
            Reply::FacesAffected(library.ignore_cluster(cluster)?)
        }
        Command::UnignoreFaces { faces } => Reply::FacesAffected(library.unignore_faces(&faces)?),
        Command::SplitFaces { faces, name } => {
            Reply::PersonCreated(library.split_faces(&faces, &name)?)
        }
        Command::RemoveFaces { person, faces } => {
            Reply::FacesAffected(library.remove_faces(person, &faces)?)
        }
        Command::ListSuggestions { person, page } => {
            Reply::Suggestions(library.list_suggestions(person, page)?)
        }
        Command::AcceptSuggestions { person, faces } => {
            Reply::FacesAffected(library.accept_suggestions(person, &faces)?)
        }
        Command::RejectSuggestions { person, faces } => {
            Reply::FacesAffected(library.reject_suggestions(person, &faces)?)
        }
        Command::FindMore { person, k } => Reply::Suggestions(library.find_more(person, k)?),
        Command::Recognise => {
            library.recognise()?;
            Reply::Done
        }
        command => return execute_unsupported(&command),
    })
}

/// Commands of the contract this build does not serve yet: a typed error,
/// never a panic. Each arm moves out of here as its work lands.
fn execute_unsupported(command: &Command) -> Result<Reply, EngineError> {
    let name = format!("{command:?}");
    let name = name.split([' ', '{', '(']).next().unwrap_or_default();
    Err(EngineError::Unsupported(name.to_owned()))
}

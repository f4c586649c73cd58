//! The GUI's state: which view is shown, each view's data as last received
//! from the engine, and how engine events update it.
//!
//! Views never fetch synchronously. Each view keeps the library generation its
//! data was requested at; [`Event::LibraryChanged`] bumps the generation and
//! the view asks again (one request in flight per view, so a stream of
//! changes during an import costs one refresh at a time).

use crate::gui::bridge::{Bridge, Incoming, Purpose};
use crate::gui::groups::GroupsState;
use crate::gui::import::ImportState;
use crate::gui::people::PeopleState;
use crate::gui::person::PersonState;
use crate::gui::photos::PhotosState;
use crate::gui::textures::{Textures, ThumbKey};
use crate::gui::toasts::Toasts;
use crate::gui::viewer::ViewerState;
use crossbeam_channel::{Receiver, TryRecvError};
use likeness_engine::{ClusterId, Command, Event, PersonId, PhotoId, Reply};
use std::path::PathBuf;

/// Events handled per frame at most (the rest wait for the next frame).
pub const MAX_EVENTS_PER_FRAME: usize = 512;

/// Thumbnail textures kept uploaded at once.
pub const TEXTURE_CAPACITY: usize = 1500;

/// Which screen the central area shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The people grid.
    People,
    /// One person's faces.
    Person(PersonId),
    /// Unnamed groups of unknown faces.
    Groups,
    /// One unnamed group's faces.
    Group(ClusterId),
    /// The photo grid.
    Photos,
    /// One photo with its face boxes.
    Photo(PhotoId),
}

/// A view to open at start (the screenshot script drives the real app
/// with it; `LIKENESS_START_VIEW`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartView {
    /// The people grid.
    People,
    /// The person with the most faces.
    BiggestPerson,
    /// The unnamed groups.
    Groups,
    /// The photo with the most faces, in the viewer.
    BusiestPhoto,
    /// Start importing this folder and show the import panel.
    Import(PathBuf),
}

impl StartView {
    /// Parses `people`, `person`, `groups`, `photo` or `import:DIR`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "people" => Self::People,
            "person" => Self::BiggestPerson,
            "groups" => Self::Groups,
            "photo" => Self::BusiestPhoto,
            other => Self::Import(PathBuf::from(other.strip_prefix("import:")?)),
        })
    }
}

/// Starts choosing a folder to import and returns where the choice (`None`:
/// cancelled) will arrive. The app runs the native dialog on its own thread,
/// so the window keeps drawing while it is open; tests answer at once
/// ([`folder_chosen`]).
pub type FolderPicker = Box<dyn FnMut() -> Receiver<Option<PathBuf>>>;

/// A choice that is already made: the answer a test's [`FolderPicker`]
/// returns.
pub fn folder_chosen(folder: Option<PathBuf>) -> Receiver<Option<PathBuf>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    // The receiver is alive: the send cannot fail.
    let _ = tx.send(folder);
    rx
}

/// How the GUI starts.
pub struct GuiOptions {
    /// Why face detection cannot run (missing or damaged models), shown on
    /// the first-run screen; `None` when the models are in place.
    pub models_problem: Option<String>,
    /// Where the models are expected (shown on the first-run screen).
    pub models_dir: PathBuf,
    /// The folder dialog.
    pub folder_picker: FolderPicker,
}

/// A view's data freshness: the library generation it was requested at and
/// when.
#[derive(Clone, Copy, Debug, Default)]
pub struct Freshness {
    /// Generation of the newest request, if any.
    pub requested: Option<u64>,
    /// `ctx` time of that request, in seconds.
    pub at_s: f64,
}

impl Freshness {
    /// True when the data is older than `generation` and, if it was fetched
    /// before, at least `min_interval_s` ago.
    pub fn is_stale(&self, generation: u64, now_s: f64, min_interval_s: f64) -> bool {
        match self.requested {
            None => true,
            Some(g) => g < generation && now_s - self.at_s >= min_interval_s,
        }
    }

    /// Records a request at `generation`.
    pub fn mark(&mut self, generation: u64, now_s: f64) {
        self.requested = Some(generation);
        self.at_s = now_s;
    }

    /// Forces the next check to fetch.
    pub fn reset(&mut self) {
        self.requested = None;
    }
}

/// The whole GUI: views, their data, the engine bridge.
pub struct Gui {
    /// The engine.
    pub bridge: Bridge,
    /// Thumbnail textures.
    pub textures: Textures,
    /// The view shown.
    pub view: View,
    /// Views to go back to (Escape, the back button).
    pub back: Vec<View>,
    /// Bumped on every [`Event::LibraryChanged`].
    pub generation: u64,
    /// People grid.
    pub people: PeopleState,
    /// Person page.
    pub person: PersonState,
    /// Unnamed groups.
    pub groups: GroupsState,
    /// Photo grid.
    pub photos: PhotosState,
    /// Photo viewer.
    pub viewer: ViewerState,
    /// Import panel.
    pub import: ImportState,
    /// Notices.
    pub toasts: Toasts,
    /// First-run problem with the models, until the user dismisses it.
    pub models_problem: Option<String>,
    /// Where models are expected.
    pub models_dir: PathBuf,
    /// The user chose to continue past the first-run screen.
    pub first_run_dismissed: bool,
    /// The library file, once open.
    pub library_path: Option<PathBuf>,
    /// Why the library could not be opened.
    pub open_error: Option<String>,
    /// The folder dialog.
    pub folder_picker: FolderPicker,
    /// Where the open folder dialog's choice will arrive.
    pub picking_folder: Option<Receiver<Option<PathBuf>>>,
    /// `ctx` time of the current frame, in seconds.
    pub now_s: f64,
    /// A view to open once its data is there.
    pub start: Option<StartView>,
}

impl Gui {
    /// A GUI talking to the engine through `bridge`.
    pub fn new(bridge: Bridge, options: GuiOptions) -> Self {
        Self {
            bridge,
            textures: Textures::new(TEXTURE_CAPACITY),
            view: View::People,
            back: Vec::new(),
            generation: 0,
            people: PeopleState::default(),
            person: PersonState::default(),
            groups: GroupsState::default(),
            photos: PhotosState::default(),
            viewer: ViewerState::default(),
            import: ImportState::default(),
            toasts: Toasts::default(),
            models_problem: options.models_problem,
            models_dir: options.models_dir,
            first_run_dismissed: false,
            library_path: None,
            open_error: None,
            folder_picker: options.folder_picker,
            picking_folder: None,
            now_s: 0.0,
            start: None,
        }
    }

    /// Opens `view`, remembering the current one for going back.
    pub fn open(&mut self, view: View) {
        if self.view != view {
            self.back.push(self.view);
            if self.back.len() > 64 {
                self.back.remove(0);
            }
            self.enter(view);
        }
    }

    /// Switches to a top-level view (forgetting the back stack).
    pub fn open_top(&mut self, view: View) {
        self.back.clear();
        self.enter(view);
    }

    /// Goes back to the previous view.
    pub fn go_back(&mut self) {
        if let Some(view) = self.back.pop() {
            self.enter(view);
        }
    }

    fn enter(&mut self, view: View) {
        match view {
            View::Person(id) if self.person.id != Some(id) => self.person.open(id),
            View::Group(id) if self.groups.open_group != Some(id) => self.groups.open(id),
            View::Photo(id) if self.viewer.photo != Some(id) => self.viewer.open(id),
            _ => {}
        }
        self.view = view;
    }

    /// Sends a user action; its failure becomes a notice naming `what`.
    pub fn act(&mut self, command: Command, what: &str) {
        self.bridge.send(command, Purpose::Action(what.to_owned()));
    }

    /// Sends undo.
    pub fn undo(&mut self) {
        self.bridge.send(Command::Undo, Purpose::Undo);
    }

    /// Sends redo.
    pub fn redo(&mut self) {
        self.bridge.send(Command::Redo, Purpose::Redo);
    }

    /// Handles every event that has arrived (never blocks).
    pub fn pump(&mut self, ctx: &egui::Context) {
        for incoming in self.bridge.drain(MAX_EVENTS_PER_FRAME) {
            self.apply(ctx, incoming);
        }
        if self.bridge.is_disconnected() && self.open_error.is_none() {
            self.open_error = Some("the engine stopped; restart Likeness".into());
        }
    }

    /// Applies one engine event to the state.
    pub fn apply(&mut self, ctx: &egui::Context, Incoming { event, purpose }: Incoming) {
        match event {
            Event::Opened { path } => self.library_path = Some(path),
            Event::OpenFailed(e) => self.open_error = Some(e.to_string()),
            Event::LibraryChanged => self.generation += 1,
            Event::ImportProgress(p) => self.import.progress(p, self.now_s),
            Event::ImportFileFailed(f) => self.import.failed.push(f),
            Event::ImportFinished(summary) => {
                self.toasts.info(
                    format!(
                        "Imported changed photos: {} new, {} faces",
                        summary.new_photos, summary.faces_found
                    ),
                    self.now_s,
                );
            }
            Event::BackgroundFailed { what, reason } => {
                self.toasts
                    .error(format!("{what} failed: {reason}"), self.now_s);
            }
            Event::Reply { result, .. } => {
                let Some(purpose) = purpose else { return };
                match result {
                    Ok(reply) => self.on_reply(ctx, purpose, reply),
                    Err(e) => self.on_error(ctx, purpose, &e.to_string()),
                }
            }
        }
    }

    fn on_error(&mut self, ctx: &egui::Context, purpose: Purpose, error: &str) {
        match purpose {
            Purpose::Thumbnail(face) => self.textures.arrived(ctx, ThumbKey::Face(face), None),
            Purpose::PhotoThumbnail(photo) => {
                self.textures.arrived(ctx, ThumbKey::Photo(photo), None);
            }
            Purpose::PhotoImage(photo) => {
                if self.viewer.photo == Some(photo) {
                    self.viewer.image_failed = Some(error.to_owned());
                }
            }
            Purpose::Import => {
                self.import.ended(None);
                self.toasts
                    .error(format!("Import failed: {error}"), self.now_s);
            }
            Purpose::FaceEdit => {
                self.viewer.edit_failed(error);
                self.toasts.error(
                    format!("Box change failed (you can retry): {error}"),
                    self.now_s,
                );
            }
            Purpose::Undo => self.toasts.error(format!("Undo: {error}"), self.now_s),
            Purpose::Redo => self.toasts.error(format!("Redo: {error}"), self.now_s),
            Purpose::Action(what) => self.toasts.error(format!("{what}: {error}"), self.now_s),
            other => self
                .toasts
                .error(format!("Loading {other:?} failed: {error}"), self.now_s),
        }
    }

    fn on_reply(&mut self, ctx: &egui::Context, purpose: Purpose, reply: Reply) {
        match (purpose, reply) {
            (Purpose::PeopleList, Reply::Persons(list)) => self.people.loaded(list),
            (Purpose::Person(id), Reply::Person(p)) if self.person.id == Some(id) => {
                self.person.person = Some(p);
            }
            (Purpose::PersonFaces(id), Reply::Faces(faces)) if self.person.id == Some(id) => {
                self.person.faces_loaded(faces);
            }
            (Purpose::Suggestions(id), Reply::Suggestions(list)) if self.person.id == Some(id) => {
                self.person.review.loaded(list);
            }
            (Purpose::Groups, Reply::Clusters(list)) => self.groups.loaded(list),
            (Purpose::GroupFaces(id), Reply::Faces(faces))
                if self.groups.open_group == Some(id) =>
            {
                self.groups.faces_loaded(faces);
            }
            (Purpose::Photos, Reply::PhotoList(list)) => self.photos.loaded(list),
            (Purpose::PhotoDetail(id), Reply::PhotoDetail(detail))
                if self.viewer.photo == Some(id) =>
            {
                self.viewer.detail_loaded(*detail);
            }
            (Purpose::PhotoImage(id), Reply::Image(image)) if self.viewer.photo == Some(id) => {
                self.viewer.image_loaded(ctx, &image);
            }
            (Purpose::Thumbnail(face), Reply::Image(image)) => {
                self.textures
                    .arrived(ctx, ThumbKey::Face(face), Some(&image));
            }
            (Purpose::PhotoThumbnail(photo), Reply::Image(image)) => {
                self.textures
                    .arrived(ctx, ThumbKey::Photo(photo), Some(&image));
            }
            (Purpose::FaceEdit, Reply::FaceEdited(edit)) => {
                self.textures.invalidate(ThumbKey::Face(edit.face));
                self.viewer.edit_done(&edit);
            }
            (Purpose::Import, Reply::Imported(summary)) => {
                self.toasts.info(
                    format!(
                        "Import finished: {} new photos, {} faces{}",
                        summary.new_photos,
                        summary.faces_found,
                        if summary.cancelled {
                            " (cancelled)"
                        } else {
                            ""
                        }
                    ),
                    self.now_s,
                );
                self.import.ended(Some(*summary));
            }
            (Purpose::Undo, Reply::Undone(what)) => {
                self.toasts.info(format!("Undone: {what}"), self.now_s);
            }
            (Purpose::Redo, Reply::Redone(what)) => {
                self.toasts.info(format!("Redone: {what}"), self.now_s);
            }
            (Purpose::Action(what), Reply::PersonCreated(id)) => {
                self.toasts.info(format!("{what}: done"), self.now_s);
                self.people.created = Some(id);
            }
            // Replies for a view that was left meanwhile, and plain `Done`s.
            _ => {}
        }
    }

    /// Starts importing the folder the dialog returned, once it has.
    fn take_picked_folder(&mut self) {
        let Some(choice) = &self.picking_folder else {
            return;
        };
        match choice.try_recv() {
            Ok(Some(folder)) => {
                self.picking_folder = None;
                self.import.start(&mut self.bridge, vec![folder]);
            }
            Ok(None) | Err(TryRecvError::Disconnected) => self.picking_folder = None,
            Err(TryRecvError::Empty) => {}
        }
    }

    /// Draws one frame of the whole window.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.now_s = ctx.input(|i| i.time);
        self.textures.begin_frame();
        self.pump(&ctx);
        self.shortcuts(&ctx);
        self.import.take_dropped_folders(&ctx, &mut self.bridge);
        self.take_picked_folder();
        self.scripted_start();

        if self.models_problem.is_some() && !self.first_run_dismissed {
            self.first_run_ui(ui);
            return;
        }
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        if self.import.panel_visible() {
            egui::Panel::right("import_panel")
                .resizable(false)
                .exact_size(280.0)
                .show(ui, |ui| self.import_panel_ui(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(error) = &self.open_error {
                ui.heading("The library could not be opened");
                ui.label(error.as_str());
                return;
            }
            match self.view {
                View::People => self.people_ui(ui),
                View::Person(_) => self.person_ui(ui),
                View::Groups => self.groups_ui(ui),
                View::Group(_) => self.group_ui(ui),
                View::Photos => self.photos_ui(ui),
                View::Photo(_) => self.viewer_ui(ui),
            }
        });
        self.import.drop_overlay_ui(&ctx);
        self.toasts.ui(&ctx, self.now_s);
    }

    fn scripted_start(&mut self) {
        let Some(start) = self.start.take() else {
            return;
        };
        match start {
            StartView::People => self.open_top(View::People),
            StartView::Groups => self.open_top(View::Groups),
            StartView::Import(folder) => self.import.start(&mut self.bridge, vec![folder]),
            StartView::BiggestPerson => {
                self.people
                    .refresh(self.generation, self.now_s, &mut self.bridge);
                let biggest = self
                    .people
                    .list
                    .iter()
                    .max_by_key(|p| (p.face_count, std::cmp::Reverse(p.person.id)))
                    .map(|p| p.person.id);
                match biggest {
                    Some(id) => self.open(View::Person(id)),
                    None => self.start = Some(StartView::BiggestPerson),
                }
            }
            StartView::BusiestPhoto => {
                self.open_top(View::Photos);
                let busiest = self
                    .photos
                    .list
                    .iter()
                    .max_by_key(|p| (p.faces, std::cmp::Reverse(p.id)))
                    .map(|p| p.id);
                match busiest {
                    Some(id) => {
                        self.viewer.sequence = self.photos.list.iter().map(|p| p.id).collect();
                        self.open(View::Photo(id));
                    }
                    None => self.start = Some(StartView::BusiestPhoto),
                }
            }
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (undo, redo, back) = ctx.input_mut(|i| {
            let redo = i.consume_key(
                egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
                egui::Key::Z,
            ) || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Y);
            let undo = i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z);
            let back = self.back.last().is_some()
                && !self.person.review.active
                && !self.viewer.is_busy()
                && i.consume_key(egui::Modifiers::NONE, egui::Key::Escape);
            (undo, redo, back)
        });
        if undo {
            self.undo();
        }
        if redo {
            self.redo();
        }
        if back {
            self.go_back();
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Likeness");
            ui.separator();
            let tabs = [
                ("People", View::People),
                ("Unnamed groups", View::Groups),
                ("Photos", View::Photos),
            ];
            for (label, view) in tabs {
                let on = match (self.view, view) {
                    (View::Person(_) | View::People, View::People)
                    | (View::Group(_) | View::Groups, View::Groups)
                    | (View::Photo(_) | View::Photos, View::Photos) => true,
                    (a, b) => a == b,
                };
                if ui.selectable_label(on, label).clicked() {
                    self.open_top(view);
                }
            }
            ui.separator();
            let can_import = !self.import.running() && self.picking_folder.is_none();
            if ui
                .add_enabled(can_import, egui::Button::new("Import folder…"))
                .on_hover_text("Add a folder of photos to the library (or drop it on the window)")
                .clicked()
            {
                self.picking_folder = Some((self.folder_picker)());
            }
            if ui
                .button("Undo")
                .on_hover_text("Undo the last change (Ctrl+Z)")
                .clicked()
            {
                self.undo();
            }
            if ui
                .button("Redo")
                .on_hover_text("Redo (Ctrl+Shift+Z)")
                .clicked()
            {
                self.redo();
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let dark = ui.ctx().theme() == egui::Theme::Dark;
                let label = if dark { "Light theme" } else { "Dark theme" };
                if ui.button(label).clicked() {
                    ui.ctx().set_theme(if dark {
                        egui::Theme::Light
                    } else {
                        egui::Theme::Dark
                    });
                }
            });
        });
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        // The counts are shown on every page, so the list is kept fresh
        // here (throttled, one request in flight), not only by the People page.
        self.people
            .refresh(self.generation, self.now_s, &mut self.bridge);
        ui.horizontal(|ui| {
            let (people, faces) = self.people.totals();
            ui.label(format!("{people} people · {faces} named faces"));
            ui.separator();
            match self.import.status_text() {
                Some(text) => {
                    if ui.link(text).clicked() {
                        self.import.show_panel = true;
                    }
                }
                None => {
                    ui.label("No import running");
                }
            }
            let pending = self.bridge.pending_count();
            if pending > 0 {
                ui.separator();
                ui.label(format!("{pending} request(s) pending"));
            }
            if let Some(path) = &self.library_path {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.weak(path.display().to_string());
                });
            }
        });
    }

    fn first_run_ui(&mut self, ui: &mut egui::Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(24.0);
                ui.heading("Welcome to Likeness");
                ui.add_space(8.0);
                ui.label(
                    "Likeness finds the faces in your photos on this computer. \
                     It needs two small face models, and they are not installed yet.",
                );
            });
            ui.add_space(12.0);
            ui.group(|ui| {
                ui.strong("What is missing");
                if let Some(problem) = &self.models_problem {
                    ui.label(problem.as_str());
                }
                ui.add_space(6.0);
                ui.strong("How to fix it");
                ui.label(format!(
                    "Run `scripts/fetch-models.sh` from the Likeness source folder, or put the \
                     `buffalo_sc` model pack in {} (or point the LIKENESS_MODELS variable at \
                     a folder that holds it), then restart Likeness.",
                    self.models_dir.display()
                ));
            });
            ui.add_space(12.0);
            ui.label(
                "You can still browse and organise a library that was already imported; \
                 importing new photos needs the models.",
            );
            if ui.button("Continue without models").clicked() {
                self.first_run_dismissed = true;
            }
        });
    }
}

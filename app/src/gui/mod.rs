//! The desktop window (eframe/egui, wgpu renderer).
//!
//! Code map:
//! - [`bridge`]: the app's side of the engine channels (send, pending ids,
//!   non-blocking drain); a test pair plays the engine from plain channels.
//! - [`state`]: the [`Gui`]: views, their data, how events update them, the
//!   top bar, status bar, shortcuts and the first-run screen.
//! - [`people`], [`person`], [`groups`], [`photos`], [`viewer`], [`import`]:
//!   one page (or panel) each.
//! - [`textures`]: thumbnails requested lazily from the engine, uploaded as
//!   textures with an LRU bound.
//! - [`toasts`], [`widgets`]: notices and small shared widgets.
//!
//! **Architecture Invariant:** the UI thread never blocks on the engine: it
//! sends commands and drains events with `try_recv` once a frame; the engine
//! wakes the window (`request_repaint`) when an event arrives.

pub mod bridge;
pub mod groups;
pub mod import;
pub mod people;
pub mod person;
pub mod photos;
pub mod state;
pub mod textures;
pub mod toasts;
pub mod viewer;
pub mod widgets;

pub use bridge::{Bridge, FakeEngine, Purpose, test_pair};
pub use state::{FolderPicker, Gui, GuiOptions, StartView, View, folder_chosen};

use anyhow::anyhow;
use likeness_engine::import::vision_finder::DEFAULT_PACK;
use likeness_engine::import::vision_finder_factory;
use likeness_engine::models::ModelPack;
use likeness_engine::{Engine, EngineConfig, Waker};
use std::path::PathBuf;
use std::sync::Arc;

/// The eframe application: the [`Gui`] drawn into the native window.
pub struct LikenessApp {
    gui: Gui,
}

impl eframe::App for LikenessApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.gui.ui(ui);
    }
}

/// The native folder dialog, run on a thread of its own so the window keeps
/// drawing (and the import panel moving) while it is open; the window is
/// woken when the choice is made.
fn folder_dialog(ctx: egui::Context) -> FolderPicker {
    fn pick() -> Option<PathBuf> {
        rfd::FileDialog::new()
            .set_title("Import a folder of photos")
            .pick_folder()
    }
    Box::new(move || {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let here = tx.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("folder dialog".into())
            .spawn(move || {
                // The window may have closed meanwhile: nobody to tell.
                let _ = tx.send(pick());
                ctx.request_repaint();
            });
        if spawned.is_err() {
            // No thread to spare: the dialog runs here, as a modal one.
            let _ = here.send(pick());
        }
        rx
    })
}

/// Opens the window on the library at `library_path` and runs until it is
/// closed. `start` optionally opens a given view first (used by the
/// screenshot script).
pub fn run(
    library_path: PathBuf,
    models_dir: PathBuf,
    start: Option<StartView>,
) -> anyhow::Result<()> {
    // A missing or damaged model pack is explained on the first-run screen,
    // not an error: browsing an imported library does not need the models.
    let models_problem = ModelPack::load(&models_dir, DEFAULT_PACK)
        .err()
        .map(|e| e.to_string());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Likeness")
            .with_app_id("likeness")
            .with_inner_size([1180.0, 740.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "Likeness",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let waker: Waker = Arc::new(move || ctx.request_repaint());
            let engine = Engine::start(
                EngineConfig {
                    library_path,
                    finder: vision_finder_factory(models_dir.clone()),
                },
                waker,
            )?;
            let mut gui = Gui::new(
                Bridge::new(engine),
                GuiOptions {
                    models_problem,
                    models_dir,
                    folder_picker: folder_dialog(cc.egui_ctx.clone()),
                },
            );
            gui.start = start;
            Ok(Box::new(LikenessApp { gui }))
        }),
    )
    .map_err(|e| anyhow!("cannot open the window: {e}"))
}

//! Frame time of the People and Person pages at library scale: 5,000 people
//! and 100,000 faces, while an import runs. Two parts:
//!
//! 1. **Fabricated engine**: the engine's side is played on the bench thread
//!    between frames, answering reads from fabricated data, serving 32×32
//!    thumbnails and streaming import progress every frame: the UI thread's
//!    own cost, frames back to back.
//! 2. **Real engine**: a real library of 100,000 synthetic faces (20 per
//!    person, clustered embeddings) and 5,000 people, the real engine thread
//!    answering, and a real import of the shared test photos running (vision
//!    on the CPU) the whole time; frames paced at 60 Hz as a display would.
//!    On a 2-core machine the import competes with the UI thread for the
//!    cores, so this is the harder figure.
//!
//! Each timed frame is what the UI thread does in the app: drain events, lay
//! out the page (`Gui::ui`) and tessellate the shapes. GPU submission is left
//! out: on lavapipe it measures the software rasteriser, not the app.
//!
//! Run: `cargo bench --profile dev --workspace --bench frame_time`.
//! Env: `LIKENESS_BENCH_REAL=0` skips part 2; `LIKENESS_SHARED`,
//! `LIKENESS_MODELS` as for the tests.

#![allow(missing_docs)]

use likeness::gui::{Bridge, FakeEngine, Gui, GuiOptions, View, test_pair};
use likeness_engine::import::{ImportPhase, ImportProgress, vision_finder_factory};
use likeness_engine::index::RebuildParams;
use likeness_engine::index::synthetic::clustered;
use likeness_engine::store::NewPhoto;
use likeness_engine::{
    AssignedBy, BBox, Command, Engine, EngineConfig, Event, Face, FaceId, FaceSource,
    Library as Store, NewFace, Person, PersonId, PersonSummary, PhotoId, Reply, RgbaImage,
    ScanStatus,
};
use likeness_testkit::{models_dir, shared_dir};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PERSONS: u64 = 5_000;
const FACES: u64 = 100_000;
const FRAMES: usize = 600;

struct Library {
    people: Vec<PersonSummary>,
    /// The faces of person 1, the page under test (all 100k: the worst case).
    faces: Vec<Face>,
    thumb: RgbaImage,
}

fn library() -> Library {
    let people = (1..=PERSONS)
        .map(|i| PersonSummary {
            person: Person {
                id: PersonId(i),
                name: format!("Person {i:05}"),
                notes: String::new(),
                cover_face: Some(FaceId(i)),
                hidden: false,
                birth_date: None,
                created_ms: 0,
            },
            face_count: FACES / PERSONS,
            photo_count: FACES / PERSONS,
            card_face: Some(FaceId(i)),
        })
        .collect();
    let faces = (1..=FACES)
        .map(|i| Face {
            id: FaceId(i),
            photo: PhotoId([(i % 251) as u8; 32]),
            bbox: BBox {
                x1: 10.0,
                y1: 10.0,
                x2: 110.0,
                y2: 110.0,
            },
            landmarks: [[0.0; 2]; 5],
            score: 0.9,
            model_pack: "buffalo_sc".into(),
            source: FaceSource::Auto,
            person: Some(PersonId(1)),
            assigned_by: Some(AssignedBy::Auto),
            cluster: None,
            ignored: false,
            has_embedding: true,
        })
        .collect();
    let thumb = RgbaImage {
        width: 32,
        height: 32,
        pixels: (0..32 * 32 * 4).map(|i| (i % 251) as u8).collect(),
    };
    Library {
        people,
        faces,
        thumb,
    }
}

/// Answers what the UI asked, like the engine thread would.
fn serve(engine: &FakeEngine, lib: &Library) {
    for (id, command) in engine.sent() {
        let reply = match command {
            Command::ListPersons { .. } => Reply::Persons(lib.people.clone()),
            Command::GetPerson { person } => {
                let mut p = lib.people[0].person.clone();
                p.id = person;
                Reply::Person(p)
            }
            Command::FacesOfPerson { .. } => Reply::Faces(lib.faces.clone()),
            Command::FaceThumbnail { .. } => Reply::Image(lib.thumb.clone()),
            _ => Reply::Done,
        };
        engine.reply(id, reply);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn gui_on(bridge: Bridge, view: View) -> Gui {
    let mut gui = Gui::new(
        bridge,
        GuiOptions {
            models_problem: None,
            models_dir: PathBuf::from("/models"),
            folder_picker: Box::new(|| likeness::gui::folder_chosen(None)),
        },
    );
    gui.open(view);
    gui
}

/// Runs `FRAMES` timed frames (after 30 untimed ones) of `gui`, scrolling
/// steadily down and back up; `between` plays whatever happens off the UI
/// thread before each frame; `pace` waits out each frame's remainder of a
/// 60 Hz display's interval. Prints p50, p99 and the worst frame.
fn run_frames(
    name: &str,
    ctx: &egui::Context,
    gui: &mut Gui,
    mut between: impl FnMut(usize),
    pace: bool,
) {
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let interval = Duration::from_secs_f64(1.0 / 60.0);
    let mut frame_ms = Vec::with_capacity(FRAMES);
    let started = Instant::now();
    for frame in 0..FRAMES + 30 {
        between(frame);
        let time = if pace {
            started.elapsed().as_secs_f64()
        } else {
            frame as f64 / 60.0
        };
        let mut input = egui::RawInput {
            screen_rect: Some(screen),
            time: Some(time),
            ..Default::default()
        };
        input
            .events
            .push(egui::Event::PointerMoved(egui::pos2(600.0, 400.0)));
        // Scroll down steadily, then back up: new rows, new thumbnails.
        let direction = if (frame / 150) % 2 == 0 { -1.0 } else { 1.0 };
        input.events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, 40.0 * direction),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        let start = Instant::now();
        let mut output = ctx.run_ui(input, |ui| gui.ui(ui));
        let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
        // No GPU here: the texture uploads a renderer would apply are dropped.
        output.textures_delta.clear();
        let elapsed = start.elapsed();
        std::hint::black_box(primitives);
        if frame >= 30 {
            frame_ms.push(elapsed.as_secs_f64() * 1e3);
        }
        if pace && let Some(rest) = interval.checked_sub(elapsed) {
            std::thread::sleep(rest);
        }
    }
    frame_ms.sort_by(f64::total_cmp);
    println!(
        "{name}: {} frames, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} thumbnails uploaded)",
        frame_ms.len(),
        percentile(&frame_ms, 0.5),
        percentile(&frame_ms, 0.99),
        frame_ms.last().copied().unwrap_or_default(),
        gui.textures.uploaded(),
    );
}

fn measure_fabricated(name: &str, view: View, lib: &Library) {
    let (bridge, engine) = test_pair();
    let mut gui = gui_on(bridge, view);
    let between = |frame: usize| {
        // The engine's work, off the UI thread's clock.
        serve(&engine, lib);
        engine.emit(Event::ImportProgress(ImportProgress {
            phase: ImportPhase::Detect,
            done: frame as u64,
            total: 10_000,
            rate_per_s: 7.0,
            eta_s: Some(1000.0),
            current: Some(format!("/photos/img_{frame:05}.jpg")),
        }));
        if frame.is_multiple_of(8) {
            // A photo committed about every 130 ms (7.5 photos/s).
            engine.emit(Event::LibraryChanged);
        }
    };
    run_frames(name, &egui::Context::default(), &mut gui, between, false);
}

/// Identities merged into the first person of the real library, so the
/// Person page shows about 9,000 faces.
const BIG_PERSON_IDENTITIES: usize = 500;

/// Writes a library of `FACES` synthetic faces (10 a photo, embeddings
/// clustered by identity) and `PERSONS` people, assigned the way a user
/// would: the first person holds `BIG_PERSON_IDENTITIES` identities' faces,
/// every other person one identity's. Returns the people.
/// The photo every synthetic photo is a copy of (250×250), so thumbnails
/// are cut from real JPEGs as in the app.
const PHOTO: &str = "faces/people/Aaron_Peirsol/Aaron_Peirsol_0001.jpg";

fn write_library(path: &Path, photos_dir: &Path) -> Vec<PersonId> {
    let start = Instant::now();
    let jpeg = std::fs::read(shared_dir().join(PHOTO)).expect("the bench photo");
    std::fs::create_dir_all(photos_dir).expect("photos dir");
    let mut store = Store::open(path).expect("open the bench library");
    let identities = PERSONS as usize + BIG_PERSON_IDENTITIES - 1;
    let embeddings = clustered(FACES as usize, identities, 1.0, 7);
    // Face i belongs to identity i % identities (that is how `clustered`
    // deals them).
    let mut by_person: Vec<Vec<FaceId>> = vec![Vec::new(); PERSONS as usize];
    let mut next = 0usize;
    for (n, chunk) in embeddings.chunks(10).enumerate() {
        // Distinct bytes (a trailer after the end-of-image marker), same pixels.
        let mut bytes = jpeg.clone();
        bytes.extend_from_slice(format!("likeness-bench-{n:07}").as_bytes());
        let file = photos_dir.join(format!("photo_{n:06}.jpg"));
        std::fs::write(&file, &bytes).expect("write a bench photo");
        let photo = NewPhoto {
            id: PhotoId::of_bytes(&bytes),
            path: file.display().to_string(),
            size_bytes: bytes.len() as u64,
            width: 250,
            height: 250,
            taken_at: None,
            status: ScanStatus::Detected,
        };
        let faces: Vec<NewFace> = chunk
            .iter()
            .enumerate()
            .map(|(slot, e)| {
                // Ten 50×50 boxes in a 5×2 grid.
                let x = 50.0 * (slot % 5) as f32;
                let y = 50.0 * (slot / 5) as f32 + 50.0;
                NewFace {
                    bbox: BBox {
                        x1: x,
                        y1: y,
                        x2: x + 50.0,
                        y2: y + 50.0,
                    },
                    landmarks: [[x + 25.0, y + 25.0]; 5],
                    score: 0.9,
                    embedding: Some(e.clone()),
                    model_pack: "bench".into(),
                    source: FaceSource::Auto,
                }
            })
            .collect();
        let commit = store.record_photo(&photo, &faces).expect("record");
        for face in commit.faces {
            let identity = next % identities;
            let person = identity.saturating_sub(BIG_PERSON_IDENTITIES - 1);
            by_person[person].push(face);
            next += 1;
        }
    }
    let people: Vec<PersonId> = by_person
        .iter()
        .enumerate()
        .map(|(i, faces)| {
            let person = store
                .create_person(&format!("Person {i:05}"))
                .expect("create");
            store.assign_faces(faces, person).expect("assign");
            person
        })
        .collect();
    // The index's segment built, as the engine's maintainer keeps it in a
    // library that grew over time (not a 100k-face delta to build first).
    let indexed = Instant::now();
    likeness_engine::index::rebuild(&store.database(), RebuildParams::default())
        .expect("index rebuild");
    println!(
        "  library of {FACES} faces and {PERSONS} people ({} faces in the first) written in {:.0} s, index built in {:.0} s",
        by_person[0].len(),
        start.elapsed().as_secs_f64(),
        indexed.elapsed().as_secs_f64()
    );
    people
}

fn measure_real(name: &str, library: &Path, view: View) {
    let engine = Engine::start(
        EngineConfig {
            library_path: library.to_owned(),
            finder: vision_finder_factory(models_dir()),
        },
        Arc::new(|| {}),
    )
    .expect("start the engine");
    let mut gui = gui_on(Bridge::new(engine), view);
    let ctx = egui::Context::default();
    let Gui { import, bridge, .. } = &mut gui;
    import.start(bridge, vec![shared_dir().join("faces")]);
    // Time only while photos are being detected: wait (drawing frames, as
    // the window would) until the import has committed its first photo.
    let waited = Instant::now();
    while detected(&gui) == 0 && waited.elapsed() < Duration::from_mins(2) {
        run_untimed_frame(&ctx, &mut gui);
        std::thread::sleep(Duration::from_millis(16));
    }
    let before = detected(&gui);
    let started = Instant::now();
    run_frames(name, &ctx, &mut gui, |_| {}, true);
    let during = detected(&gui).saturating_sub(before);
    println!(
        "  import during the frames: {} photos detected and committed in {:.1} s ({:.2} photos/s), now {}",
        during,
        started.elapsed().as_secs_f64(),
        during as f64 / started.elapsed().as_secs_f64(),
        import_phase_text(&gui)
    );
    if gui.import.running() {
        gui.bridge.send(
            Command::CancelImport,
            likeness::gui::Purpose::Action("cancel".into()),
        );
    }
}

/// Photos the running import has detected so far, as the window knows it.
fn detected(gui: &Gui) -> u64 {
    gui.import
        .latest
        .as_ref()
        .filter(|p| p.phase != ImportPhase::Scan)
        .map_or(0, |p| p.done)
}

/// One frame whose time is not measured (events drained, page laid out).
fn run_untimed_frame(ctx: &egui::Context, gui: &mut Gui) {
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let input = egui::RawInput {
        screen_rect: Some(screen),
        ..Default::default()
    };
    let mut output = ctx.run_ui(input, |ui| gui.ui(ui));
    output.textures_delta.clear();
}

fn import_phase_text(gui: &Gui) -> &'static str {
    gui.import.latest.as_ref().map_or("not started", |p| {
        likeness::gui::import::phase_name(p.phase)
    })
}

fn main() {
    let lib = library();
    println!(
        "Part 1, fabricated engine: {PERSONS} people and {FACES} faces, import progress every frame, \
         a library change every 8 frames, scrolling 40 pt per frame, frames back to back"
    );
    measure_fabricated("People page", View::People, &lib);
    measure_fabricated("Person page (100k faces)", View::Person(PersonId(1)), &lib);
    drop(lib);
    if std::env::var("LIKENESS_BENCH_REAL").is_ok_and(|v| v == "0") {
        return;
    }
    println!(
        "Part 2, real engine: {PERSONS} people and {FACES} faces in a real library, a real import \
         of the shared photos running, scrolling 40 pt per frame, frames paced at 60 Hz"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let written = dir.path().join("written.redb");
    let people = write_library(&written, &dir.path().join("photos"));
    // A fresh copy of the library for each page, so each sees a whole import.
    let copy = |name: &str| {
        let path = dir.path().join(name);
        std::fs::copy(&written, &path).expect("copy the library");
        path
    };
    measure_real("People page", &copy("people.redb"), View::People);
    measure_real(
        "Person page (the person with the most faces)",
        &copy("person.redb"),
        View::Person(people[0]),
    );
}

//! Frame time of the People and Person pages at library scale: 5,000 people
//! and 100,000 faces, while import progress and library changes stream in.
//!
//! The engine's side is played on the bench thread between frames (its work
//! is not the UI thread's), answering reads from fabricated data and serving
//! 32×32 thumbnails. Each timed frame is what the UI thread does in the app:
//! drain events, lay out the page (`Gui::ui`) and tessellate the shapes. GPU
//! submission is left out: on lavapipe it measures the software rasteriser,
//! not the app.
//!
//! Run: `cargo bench --profile dev --workspace --bench frame_time`.

#![allow(missing_docs)]

use likeness::gui::{FakeEngine, Gui, GuiOptions, View, test_pair};
use likeness_engine::import::{ImportPhase, ImportProgress};
use likeness_engine::{
    AssignedBy, BBox, Command, Event, Face, FaceId, FaceSource, Person, PersonId, PersonSummary,
    PhotoId, Reply, RgbaImage,
};
use std::path::PathBuf;
use std::time::Instant;

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

fn measure(name: &str, view: View, lib: &Library) {
    let (bridge, engine) = test_pair();
    let mut gui = Gui::new(
        bridge,
        GuiOptions {
            models_problem: None,
            models_dir: PathBuf::from("/models"),
            folder_picker: Box::new(|| None),
        },
    );
    gui.open(view);
    let ctx = egui::Context::default();
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let mut frame_ms = Vec::with_capacity(FRAMES);
    let mut time = 0.0;
    for frame in 0..FRAMES + 30 {
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
        if frame % 8 == 0 {
            // A photo committed about every 130 ms (7.5 photos/s).
            engine.emit(Event::LibraryChanged);
        }
        time += 1.0 / 60.0;
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
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        std::hint::black_box(primitives);
        if frame >= 30 {
            frame_ms.push(elapsed);
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

fn main() {
    let lib = library();
    println!(
        "frame time with {PERSONS} people and {FACES} faces, import progress every frame, \
         a library change every 8 frames, scrolling 40 pt per frame"
    );
    measure("People page", View::People, &lib);
    measure("Person page (100k faces)", View::Person(PersonId(1)), &lib);
}

//! Shared helpers for the GUI tests: a fabricated library and a fake engine
//! that answers the read queries from it, so each test sees exactly the
//! commands the UI sent for user actions.

#![allow(dead_code, clippy::missing_panics_doc)]

use egui_kittest::Harness;
use likeness::gui::{FakeEngine, Gui, GuiOptions, test_pair};
use likeness_engine::{
    AssignedBy, BBox, ClusterId, ClusterSummary, Command, Face, FaceId, FaceSource, Person,
    PersonId, PersonSummary, Photo, PhotoDetail, PhotoId, PhotoSummary, Reply, RequestId,
    RgbaImage, ScanStatus, Suggestion, SuggestionStatus,
};
use std::path::PathBuf;

/// The snapshot size of the main screens.
pub const SIZE: egui::Vec2 = egui::vec2(800.0, 500.0);

/// A fabricated library the fake engine answers from.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// People.
    pub people: Vec<PersonSummary>,
    /// Faces.
    pub faces: Vec<Face>,
    /// Pending suggestions.
    pub suggestions: Vec<Suggestion>,
    /// Unnamed groups.
    pub clusters: Vec<ClusterSummary>,
    /// Photos.
    pub photos: Vec<PhotoSummary>,
    /// The photo the viewer shows.
    pub detail: Option<PhotoDetail>,
    /// Size of the photo image served.
    pub photo_px: (u32, u32),
}

/// A person summary.
pub fn person(id: u64, name: &str, faces: u64, cover: Option<u64>) -> PersonSummary {
    PersonSummary {
        person: Person {
            id: PersonId(id),
            name: name.to_owned(),
            notes: String::new(),
            cover_face: cover.map(FaceId),
            hidden: false,
            birth_date: None,
            created_ms: 0,
        },
        face_count: faces,
        photo_count: faces,
        card_face: cover.map(FaceId),
    }
}

/// A photo id from a small number.
pub fn photo_id(n: u8) -> PhotoId {
    PhotoId([n; 32])
}

/// A face.
pub fn face(id: u64, photo: u8, person: Option<u64>, bbox: BBox) -> Face {
    Face {
        id: FaceId(id),
        photo: photo_id(photo),
        bbox,
        landmarks: [[0.0; 2]; 5],
        score: 0.9,
        model_pack: "buffalo_sc".into(),
        source: FaceSource::Auto,
        person: person.map(PersonId),
        assigned_by: person.map(|_| AssignedBy::User),
        cluster: None,
        ignored: false,
        has_embedding: true,
    }
}

/// A box.
pub fn bbox(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
    BBox { x1, y1, x2, y2 }
}

/// A pending suggestion.
pub fn suggestion(face: u64, person: u64, score: f32) -> Suggestion {
    Suggestion {
        face: FaceId(face),
        person: PersonId(person),
        score,
        status: SuggestionStatus::Pending,
    }
}

/// A photo record.
pub fn photo(n: u8, width: u32, height: u32) -> Photo {
    Photo {
        id: photo_id(n),
        paths: vec![format!("/photos/summer/img_{n:03}.jpg")],
        size_bytes: 1000,
        width,
        height,
        taken_at: None,
        status: ScanStatus::Detected,
    }
}

/// A deterministic picture: a soft gradient tinted by `seed`, with a darker
/// "face" disc in the middle.
pub fn picture(width: u32, height: u32, seed: u64) -> RgbaImage {
    let hue = [
        [220u8, 150, 120],
        [120, 170, 220],
        [150, 210, 140],
        [210, 190, 110],
        [190, 140, 210],
    ][(seed % 5) as usize];
    let mut pixels = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let dx = x as f32 / width as f32 - 0.5;
            let dy = y as f32 / height as f32 - 0.45;
            let inside = dx * dx + dy * dy < 0.08;
            let shade = if inside { 0.75 } else { 1.0 } * (0.7 + 0.3 * y as f32 / height as f32);
            for c in hue {
                pixels.push((f32::from(c) * shade) as u8);
            }
            pixels.push(255);
        }
    }
    RgbaImage {
        width,
        height,
        pixels,
    }
}

/// A GUI over a fake engine, with the folder picker answering `folder`.
pub fn gui_with_picker(folder: Option<PathBuf>) -> (Gui, FakeEngine) {
    let (bridge, engine) = test_pair();
    let gui = Gui::new(
        bridge,
        GuiOptions {
            models_problem: None,
            models_dir: PathBuf::from("/models"),
            folder_picker: Box::new(move || likeness::gui::folder_chosen(folder.clone())),
        },
    );
    (gui, engine)
}

/// A GUI over a fake engine.
pub fn gui() -> (Gui, FakeEngine) {
    gui_with_picker(None)
}

/// A harness drawing the whole window at the snapshot size, light theme.
pub fn harness(gui: Gui) -> Harness<'static, Gui> {
    Harness::builder()
        .with_size(SIZE)
        .with_theme(egui::Theme::Light)
        .build_ui_state(|ui, gui: &mut Gui| gui.ui(ui), gui)
}

/// Answers every read query the UI sent from `world` and returns the other
/// commands (user actions), in order.
pub fn serve(engine: &FakeEngine, world: &World) -> Vec<(RequestId, Command)> {
    let mut actions = Vec::new();
    for (id, command) in engine.sent() {
        let reply = match &command {
            Command::ListPersons { include_hidden, .. } => Reply::Persons(
                world
                    .people
                    .iter()
                    .filter(|p| *include_hidden || !p.person.hidden)
                    .cloned()
                    .collect(),
            ),
            Command::GetPerson { person } => {
                match world.people.iter().find(|p| p.person.id == *person) {
                    Some(p) => Reply::Person(p.person.clone()),
                    None => continue,
                }
            }
            Command::FacesOfPerson { person, .. } => Reply::Faces(
                world
                    .faces
                    .iter()
                    .filter(|f| f.person == Some(*person))
                    .cloned()
                    .collect(),
            ),
            Command::ListSuggestions { .. } => Reply::Suggestions(world.suggestions.clone()),
            Command::ListClusters { .. } => Reply::Clusters(world.clusters.clone()),
            Command::FacesOfCluster { cluster, .. } => Reply::Faces(
                world
                    .faces
                    .iter()
                    .filter(|f| f.cluster == Some(*cluster))
                    .cloned()
                    .collect(),
            ),
            Command::ListPhotos { .. } => Reply::PhotoList(world.photos.clone()),
            Command::GetPhoto { .. } => match &world.detail {
                Some(d) => Reply::PhotoDetail(Box::new(d.clone())),
                None => continue,
            },
            Command::FaceThumbnail { face, .. } => Reply::Image(picture(32, 32, face.0)),
            Command::PhotoImage { max_side_px, .. } => {
                let (w, h) = world.photo_px;
                let k = (*max_side_px).min(w.max(h)) as f32 / w.max(h).max(1) as f32;
                Reply::Image(picture(
                    ((w as f32 * k) as u32).max(1),
                    ((h as f32 * k) as u32).max(1),
                    7,
                ))
            }
            _ => {
                actions.push((id, command));
                continue;
            }
        };
        engine.reply(id, reply);
    }
    actions
}

/// Runs frames and answers reads until the UI settles; returns the user
/// actions sent meanwhile.
pub fn pump(h: &mut Harness<'_, Gui>, engine: &FakeEngine, world: &World) -> Vec<Command> {
    let mut actions = Vec::new();
    for _ in 0..6 {
        h.step();
        actions.extend(serve(engine, world).into_iter().map(|(_, c)| c));
    }
    h.step();
    actions
}

/// Like [`pump`], keeping the request ids (to answer them).
pub fn pump_ids(
    h: &mut Harness<'_, Gui>,
    engine: &FakeEngine,
    world: &World,
) -> Vec<(RequestId, Command)> {
    let mut actions = Vec::new();
    for _ in 0..6 {
        h.step();
        actions.extend(serve(engine, world));
    }
    h.step();
    actions
}

/// A library of three people with faces, two groups, photos and a photo with
/// two faces.
pub fn sample_world() -> World {
    let mut faces = Vec::new();
    for i in 0..10 {
        faces.push(face(
            101 + i,
            (i % 4) as u8 + 1,
            Some(1),
            bbox(100.0, 100.0, 300.0, 300.0),
        ));
    }
    for i in 0..3 {
        faces.push(face(111 + i, 5, Some(2), bbox(50.0, 60.0, 150.0, 180.0)));
    }
    for i in 0..6 {
        let mut f = face(301 + i, 6, None, bbox(10.0, 10.0, 60.0, 60.0));
        f.cluster = Some(ClusterId(if i < 4 { 1 } else { 2 }));
        faces.push(f);
    }
    let mut viewer_faces = vec![
        face(7, 9, Some(1), bbox(100.0, 100.0, 300.0, 300.0)),
        face(8, 9, None, bbox(450.0, 120.0, 600.0, 290.0)),
    ];
    viewer_faces[1].cluster = Some(ClusterId(1));
    World {
        people: vec![
            person(1, "Alice", 10, Some(101)),
            person(2, "Bob", 3, Some(111)),
            person(3, "Chen", 1, None),
        ],
        faces,
        suggestions: vec![
            suggestion(201, 1, 0.93),
            suggestion(202, 1, 0.81),
            suggestion(203, 1, 0.64),
        ],
        clusters: vec![
            ClusterSummary {
                id: ClusterId(1),
                size: 4,
                faces: vec![FaceId(301), FaceId(302), FaceId(303), FaceId(304)],
            },
            ClusterSummary {
                id: ClusterId(2),
                size: 2,
                faces: vec![FaceId(305), FaceId(306)],
            },
        ],
        photos: (1..=9)
            .map(|n| PhotoSummary {
                id: photo_id(n),
                path: Some(PathBuf::from(format!("/photos/summer/img_{n:03}.jpg"))),
                width: 800,
                height: 400,
                faces: if n == 9 { 2 } else { 1 },
                taken: None,
            })
            .collect(),
        detail: Some(PhotoDetail {
            photo: photo(9, 800, 400),
            faces: viewer_faces,
            names: vec![Some("Alice".into()), None],
        }),
        photo_px: (800, 400),
    }
}

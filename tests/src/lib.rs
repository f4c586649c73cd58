//! Shared helpers of the end-to-end tests (`tests/tests/*.rs`): synthetic
//! libraries, and where the shared test data lives.

pub mod crash;

use likeness_engine::store::NewPhoto;
use likeness_engine::{
    BBox, EMBEDDING_DIM, Embedding, FaceId, FaceSource, Library, NewFace, Page, PersonSort,
    PhotoId, ScanStatus,
};
pub use likeness_testkit::{models_dir, reference_jsonl, shared_dir};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

/// A random unit vector of [`EMBEDDING_DIM`] values.
pub fn random_unit(rng: &mut impl Rng) -> Embedding {
    let mut v: Vec<f32> = (0..EMBEDDING_DIM)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    for x in &mut v {
        *x /= n;
    }
    v
}

/// Detector-style faces with these embeddings side by side (80×80, 100 px
/// apart) in a photo 100 px high and `100 × (n + 1)` wide.
pub fn row_of_faces<'a>(embeddings: impl IntoIterator<Item = &'a Embedding>) -> Vec<NewFace> {
    embeddings
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let mut face = new_face(i, Some(e.clone()));
            face.bbox.y1 = 10.0;
            face.bbox.y2 = 90.0;
            face
        })
        .collect()
}

/// Everything recognition decides in `lib`, comparable across runs: per
/// face (id, person, how, group, ignored) and every pending suggestion
/// (face, person, score bits), sorted.
pub type RecognitionOutcome = (Vec<String>, Vec<(u64, u64, u32)>);

/// What recognition decided in `lib` (see [`RecognitionOutcome`]).
pub fn recognition_outcome(lib: &Library) -> RecognitionOutcome {
    let export = lib.export(false).expect("export");
    let faces = export
        .faces
        .iter()
        .map(|f| {
            format!(
                "{} {:?} {:?} {:?} {}",
                f.id, f.person, f.assigned_by, f.cluster, f.ignored
            )
        })
        .collect();
    let all = Page {
        offset: 0,
        limit: usize::MAX,
    };
    let mut suggestions = Vec::new();
    for p in lib
        .list_persons(PersonSort::default(), all, true)
        .expect("persons")
    {
        for s in lib.list_suggestions(p.person.id, all).expect("suggestions") {
            suggestions.push((s.face.0, s.person.0, s.score.to_bits()));
        }
    }
    suggestions.sort_unstable();
    (faces, suggestions)
}

/// A detector-style face with this embedding, inside a 640×480 photo.
pub fn new_face(slot: usize, embedding: Option<Embedding>) -> NewFace {
    let x = 10.0 + 100.0 * slot as f32;
    NewFace {
        bbox: BBox {
            x1: x,
            y1: 20.0,
            x2: x + 80.0,
            y2: 120.0,
        },
        landmarks: [
            [x + 20.0, 50.0],
            [x + 60.0, 50.0],
            [x + 40.0, 70.0],
            [x + 25.0, 95.0],
            [x + 55.0, 95.0],
        ],
        score: 0.9,
        embedding,
        model_pack: "synthetic".into(),
        source: FaceSource::Auto,
    }
}

/// A scanned 640×480 photo whose content hash is derived from `n`.
pub fn new_photo(n: u64) -> NewPhoto {
    NewPhoto {
        id: PhotoId::of_bytes(&n.to_le_bytes()),
        path: format!("/photos/{n:05}.jpg"),
        size_bytes: 1000 + n,
        width: 640,
        height: 480,
        taken_at: None,
        status: ScanStatus::Detected,
    }
}

/// Fills a library with `photos` photos of `faces_per_photo` faces with
/// random embeddings; returns the face ids.
pub fn populate(
    library: &mut Library,
    photos: u64,
    faces_per_photo: usize,
    seed: u64,
) -> Vec<FaceId> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids = Vec::new();
    for n in 0..photos {
        let faces: Vec<NewFace> = (0..faces_per_photo)
            .map(|s| new_face(s, Some(random_unit(&mut rng))))
            .collect();
        let commit = library
            .record_photo(&new_photo(n), &faces)
            .expect("recording a synthetic photo");
        ids.extend(commit.faces);
    }
    ids
}

/// Starts an engine on `library` whose imports use the real vision pipeline.
pub fn engine_with_vision(library: &std::path::Path) -> likeness_engine::Engine {
    let config = likeness_engine::EngineConfig {
        library_path: library.to_owned(),
        finder: likeness_engine::import::vision_finder_factory(models_dir()),
    };
    likeness_engine::Engine::start(config, std::sync::Arc::new(|| {})).expect("start engine")
}

/// Runs an import through the engine and returns its summary.
pub fn import_folders(
    engine: &likeness_engine::Engine,
    folders: Vec<PathBuf>,
) -> likeness_engine::import::ImportSummary {
    match engine.call(likeness_engine::Command::Import {
        folders,
        exclusions: Vec::new(),
    }) {
        Ok(likeness_engine::Reply::Imported(summary)) => *summary,
        other => panic!("import failed: {other:?}"),
    }
}

//! Store benchmark: commit latency of single user actions, the latency of
//! an assign action including the re-decide after it (incremental, and the
//! full pass it replaced), and library open time at a given library size
//! (default 100,000 faces, synthetic identities of about 20 faces each).
//!
//! `cargo bench -p likeness-engine --bench store [-- FACES]`

use likeness_engine::index::RebuildParams;
use likeness_engine::index::synthetic::clustered;
use likeness_engine::store::NewPhoto;
use likeness_engine::{BBox, FaceId, FaceSource, Library, NewFace, PersonId, PhotoId, ScanStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const FACES_PER_PHOTO: usize = 10;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what:<34} p50 {:>8.3} ms   p99 {:>8.3} ms   ({} samples)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len()
    );
}

fn main() {
    let faces: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.redb");
    let mut lib = Library::open(&path).expect("open");
    let mut rng = StdRng::seed_from_u64(1);
    let start = Instant::now();
    let mut ids = Vec::with_capacity(faces);
    // Identities of about 20 faces (noise 1: cosine about 0.7 to the
    // identity's centre), so person models have neighbourhoods.
    let mut embeddings = clustered(faces, faces.div_ceil(20), 1.0, 1).into_iter();
    for n in 0..faces.div_ceil(FACES_PER_PHOTO) {
        let photo = NewPhoto {
            id: PhotoId::of_bytes(&(n as u64).to_le_bytes()),
            path: format!("/bench/{n}.jpg"),
            size_bytes: 1,
            width: 4000,
            height: 3000,
            taken_at: None,
            status: ScanStatus::Detected,
        };
        let new: Vec<NewFace> = (0..FACES_PER_PHOTO)
            .map(|s| NewFace {
                bbox: BBox {
                    x1: 10.0 + 300.0 * s as f32,
                    y1: 10.0,
                    x2: 250.0 + 300.0 * s as f32,
                    y2: 250.0,
                },
                landmarks: [[0.0; 2]; 5],
                score: 0.9,
                embedding: embeddings.next(),
                model_pack: "bench".into(),
                source: FaceSource::Auto,
            })
            .collect();
        ids.extend(lib.record_photo(&photo, &new).expect("record").faces);
    }
    println!(
        "library of {} faces built in {:.1} s ({:.0} photo commits/s)",
        ids.len(),
        start.elapsed().as_secs_f64(),
        (faces / FACES_PER_PHOTO) as f64 / start.elapsed().as_secs_f64()
    );

    let persons: Vec<PersonId> = (0..200)
        .map(|i| lib.create_person(&format!("person {i}")).expect("create"))
        .collect();
    let mut assign = Vec::new();
    for i in 0..500 {
        let face: FaceId = ids[rng.random_range(0..ids.len())];
        let t = Instant::now();
        lib.assign_faces(&[face], persons[i % persons.len()])
            .expect("assign");
        assign.push(t.elapsed());
    }
    report("assign one face (commit)", assign);
    let mut rename = Vec::new();
    for (i, p) in persons.iter().enumerate().take(200) {
        let t = Instant::now();
        lib.rename_person(*p, &format!("renamed {i}"))
            .expect("rename");
        rename.push(t.elapsed());
    }
    report("rename person (commit)", rename);

    // The engine's maintainer keeps the index's segment built in the
    // background; searches below run against it as in the app.
    let t = Instant::now();
    likeness_engine::index::rebuild(&lib.database(), RebuildParams::default()).expect("rebuild");
    println!("index segment built in {:.1} s", t.elapsed().as_secs_f64());

    // A few hundred persons with models of one identity each (a face and
    // its 4 nearest), as after naming groups; then one assign action plus
    // the re-decide the engine runs after it.
    let named: Vec<PersonId> = (0..300)
        .map(|i| {
            let p = lib.create_person(&format!("named {i}")).expect("create");
            let seed = ids[rng.random_range(0..ids.len())];
            let mut faces = vec![seed];
            faces.extend(
                lib.nearest_to_face(seed, 4)
                    .expect("nearest")
                    .into_iter()
                    .map(|n| n.face),
            );
            lib.assign_faces(&faces, p).expect("assign");
            p
        })
        .collect();
    lib.recognise().expect("settle");
    let mut incremental = Vec::new();
    for i in 0..200 {
        let face: FaceId = ids[rng.random_range(0..ids.len())];
        let t = Instant::now();
        lib.assign_faces(&[face], named[i % named.len()])
            .expect("assign");
        lib.recognise_changed().expect("re-decide");
        incremental.push(t.elapsed());
    }
    report("assign + incremental re-decide", incremental);
    let mut full = Vec::new();
    for i in 0..3 {
        let face: FaceId = ids[rng.random_range(0..ids.len())];
        let t = Instant::now();
        lib.assign_faces(&[face], named[i % named.len()])
            .expect("assign");
        lib.recognise().expect("full re-decide");
        full.push(t.elapsed());
    }
    report("assign + full re-decide (before)", full);
    let mut nearest = Vec::new();
    for _ in 0..50 {
        let face = ids[rng.random_range(0..ids.len())];
        let t = Instant::now();
        lib.nearest_to_face(face, 10).expect("nearest");
        nearest.push(t.elapsed());
    }
    report("nearest 10 to a face", nearest);
    drop(lib);
    let mut open = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let lib = Library::open(&path).expect("reopen");
        lib.nearest_to_face(ids[0], 10).expect("first query");
        open.push(t.elapsed());
    }
    report("open + first query", open);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!("library file {:.1} MB", size as f64 / 1e6);
}

//! `check` detects damaged derived state and `repair` rebuilds it from ground
//! truth without losing a user decision.

use likeness_engine::store::NewPhoto;
use likeness_engine::store::schema::{PERSON_FACES, PERSON_NAMES, PHOTO_PATHS};
use likeness_engine::{BBox, FaceSource, Library, NewFace, PhotoId, ScanStatus};

fn face(x: f32) -> NewFace {
    NewFace {
        bbox: BBox {
            x1: x,
            y1: 10.0,
            x2: x + 50.0,
            y2: 60.0,
        },
        landmarks: [[x + 10.0, 20.0]; 5],
        score: 0.8,
        embedding: Some(
            (0..512)
                .map(|i| if i == x as usize { 1.0 } else { 0.0 })
                .collect(),
        ),
        model_pack: "test".into(),
        source: FaceSource::Auto,
    }
}

#[test]
fn repair_rebuilds_derived_tables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lib.redb");
    let mut lib = Library::open(&path).expect("open");
    let photo = NewPhoto {
        id: PhotoId::of_bytes(b"photo"),
        path: "/p/a.jpg".into(),
        size_bytes: 5,
        width: 200,
        height: 100,
        taken_at: None,
        status: ScanStatus::Detected,
    };
    let faces = lib
        .record_photo(&photo, &[face(0.0), face(100.0)])
        .expect("record")
        .faces;
    let alice = lib.create_person("Alice").expect("create");
    lib.assign_faces(&faces[..1], alice).expect("assign");
    assert!(lib.check().expect("check").is_consistent());
    drop(lib);

    // Damage every derived table behind the library's back.
    {
        let db = redb::Database::open(&path).expect("raw open");
        let txn = db.begin_write().expect("write");
        txn.open_table(PERSON_NAMES)
            .expect("names")
            .remove("alice")
            .expect("remove");
        txn.open_table(PERSON_FACES)
            .expect("person faces")
            .remove((alice.0, faces[0].0))
            .expect("remove");
        txn.open_table(PHOTO_PATHS)
            .expect("paths")
            .insert("/p/ghost.jpg", [7u8; 32])
            .expect("insert");
        txn.commit().expect("commit");
    }

    let mut lib = Library::open(&path).expect("reopen");
    let report = lib.check().expect("check");
    let tables: Vec<&str> = report.problems.iter().map(|p| p.table.as_str()).collect();
    assert_eq!(
        tables,
        ["photo_paths", "person_faces", "person_names"],
        "{:?}",
        report.problems
    );
    let repaired = lib.repair().expect("repair");
    assert!(repaired.is_consistent(), "{:?}", repaired.problems);
    assert_eq!(
        lib.face(faces[0]).expect("face").person,
        Some(alice),
        "the user's assignment survives"
    );
    assert_eq!(
        lib.create_person("ALICE").err().map(|e| e.to_string()),
        Some("there is already a person named \"Alice\" (id 1)".into())
    );
}

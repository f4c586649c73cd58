//! Face edits on real photos with the real vision pipeline: a box moved a few
//! pixels on a real face is re-embedded close to the old embedding; a box on
//! a blank wall keeps the old embedding; undo restores box and embedding; a
//! box outside the photo is refused; drawn and deleted faces; `check` passes
//! after every step.

use likeness_engine::import::FaceFinder;
use likeness_engine::import::vision_finder::VisionFinder;
use likeness_engine::media::{self, EditError};
use likeness_engine::store::NewPhoto;
use likeness_engine::vision::DevicePreference;
use likeness_engine::{ActionError, BBox, FaceId, FaceSource, Library, PhotoId, ScanStatus};
use likeness_testkit::{models_dir, shared_dir};
use std::path::Path;
use std::sync::Mutex;

fn finder() -> VisionFinder {
    VisionFinder::load(&models_dir(), "buffalo_sc", DevicePreference::Cpu).expect("vision")
}

/// Imports one photo the way the import job does; returns its id and faces.
fn import(library: &Mutex<Library>, finder: &VisionFinder, path: &Path) -> (PhotoId, Vec<FaceId>) {
    let bytes = std::fs::read(path).expect("photo");
    let found = finder.find_faces(path, &bytes).expect("vision");
    let id = PhotoId::of_bytes(&bytes);
    let photo = NewPhoto {
        id,
        path: path.display().to_string(),
        size_bytes: bytes.len() as u64,
        width: found.width,
        height: found.height,
        taken_at: found.taken_at,
        status: ScanStatus::Detected,
    };
    let commit = library
        .lock()
        .expect("lock")
        .record_photo(&photo, &found.faces)
        .expect("record");
    (id, commit.faces)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn consistent(library: &Mutex<Library>) {
    let report = library.lock().expect("lock").check().expect("check");
    assert!(report.is_consistent(), "{:?}", report.problems);
}

fn shifted(b: BBox, dx: f32, dy: f32) -> BBox {
    BBox {
        x1: b.x1 + dx,
        y1: b.y1 + dy,
        x2: b.x2 + dx,
        y2: b.y2 + dy,
    }
}

#[test]
fn moving_a_box_reembeds_or_keeps_and_undo_restores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let library = Mutex::new(Library::open(&dir.path().join("lib.redb")).expect("open"));
    let finder = finder();
    let path = shared_dir().join("faces/people/Aaron_Peirsol/Aaron_Peirsol_0001.jpg");
    let (_, faces) = import(&library, &finder, &path);
    assert_eq!(faces.len(), 1, "one face in {}", path.display());
    let face = faces[0];
    let before = library.lock().expect("lock").face(face).expect("face");
    let old = library
        .lock()
        .expect("lock")
        .face_embedding(face)
        .expect("read")
        .expect("an embedding");

    // A few pixels off on the real face: found again, embedded again.
    let moved = shifted(before.bbox, 4.0, -3.0);
    let edit = media::set_face_box(&library, &finder, face, moved).expect("edit");
    assert!(edit.reembedded, "the face is found in the moved box");
    let after = library.lock().expect("lock").face(face).expect("face");
    assert_eq!(after.bbox, moved, "the user's box is stored");
    assert_eq!(after.source, FaceSource::Manual);
    let new = library
        .lock()
        .expect("lock")
        .face_embedding(face)
        .expect("read")
        .expect("an embedding");
    let sim = cosine(&old, &new);
    assert!(sim > 0.9, "cosine to the old embedding {sim}");
    consistent(&library);

    // A loose box drawn well around the face (twice its size) and a tight
    // one inside it: the face is found in both.
    let (cx, cy) = (
        f32::midpoint(before.bbox.x1, before.bbox.x2),
        f32::midpoint(before.bbox.y1, before.bbox.y2),
    );
    let (w, h) = (before.bbox.width(), before.bbox.height());
    for (scale, what) in [(2.0f32, "loose"), (0.6, "tight")] {
        let b = BBox {
            x1: (cx - w * scale / 2.0).max(0.0),
            y1: (cy - h * scale / 2.0).max(0.0),
            x2: (cx + w * scale / 2.0).min(250.0),
            y2: (cy + h * scale / 2.0).min(250.0),
        };
        let edit = media::set_face_box(&library, &finder, face, b).expect("edit");
        assert!(edit.reembedded, "the face is found in a {what} box");
        let e = library
            .lock()
            .expect("lock")
            .face_embedding(face)
            .expect("read")
            .expect("an embedding");
        assert!(
            cosine(&old, &e) > 0.9,
            "{what} box: cosine {}",
            cosine(&old, &e)
        );
        library.lock().expect("lock").undo().expect("undo");
    }

    // A box on the background (top-left corner, no face within its padding).
    let wall = BBox {
        x1: 0.0,
        y1: 0.0,
        x2: 30.0,
        y2: 30.0,
    };
    let edit = media::set_face_box(&library, &finder, face, wall).expect("edit");
    assert!(!edit.reembedded, "no face on the wall");
    let on_wall = library.lock().expect("lock").face(face).expect("face");
    assert_eq!(on_wall.bbox, wall, "the box edit stands");
    assert_eq!(
        library
            .lock()
            .expect("lock")
            .face_embedding(face)
            .expect("read"),
        Some(new.clone()),
        "the embedding is unchanged"
    );
    consistent(&library);

    // Undo twice: the wall edit, then the first move; box and embedding back.
    library.lock().expect("lock").undo().expect("undo");
    assert_eq!(
        library.lock().expect("lock").face(face).expect("face").bbox,
        moved
    );
    library.lock().expect("lock").undo().expect("undo");
    let restored = library.lock().expect("lock").face(face).expect("face");
    assert_eq!(restored, before, "the face row is back as it was");
    assert_eq!(
        library
            .lock()
            .expect("lock")
            .face_embedding(face)
            .expect("read"),
        Some(old.clone())
    );
    // The index serves the restored embedding: the face is its own nearest.
    consistent(&library);

    // A box outside the photo is a typed error and changes nothing.
    let outside = BBox {
        x1: 200.0,
        y1: 200.0,
        x2: 400.0,
        y2: 300.0,
    };
    match media::set_face_box(&library, &finder, face, outside) {
        Err(EditError::Action(ActionError::BoxOutsideImage { width, height, .. })) => {
            assert_eq!((width, height), (250, 250));
        }
        other => panic!("expected a box-outside-image error, got {other:?}"),
    }
    assert_eq!(
        library.lock().expect("lock").face(face).expect("face"),
        before
    );
    match media::set_face_box(&library, &finder, FaceId(999), moved) {
        Err(EditError::Action(ActionError::UnknownFace(FaceId(999)))) => {}
        other => panic!("expected unknown face, got {other:?}"),
    }
    consistent(&library);
}

#[test]
fn drawn_faces_and_deleted_faces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let library = Mutex::new(Library::open(&dir.path().join("lib.redb")).expect("open"));
    let finder = finder();
    let path = shared_dir().join("faces/group/fr_two_people.jpg");
    let (photo, faces) = import(&library, &finder, &path);
    assert_eq!(faces.len(), 2, "two faces in {}", path.display());
    let first = library.lock().expect("lock").face(faces[0]).expect("face");
    let old = library
        .lock()
        .expect("lock")
        .face_embedding(faces[0])
        .expect("read")
        .expect("embedding");

    // A loose box around the second face (1.8 times its size) picks that
    // face, not its neighbour.
    let second = library.lock().expect("lock").face(faces[1]).expect("face");
    let second_old = library
        .lock()
        .expect("lock")
        .face_embedding(faces[1])
        .expect("read")
        .expect("embedding");
    let (cx, cy) = (
        f32::midpoint(second.bbox.x1, second.bbox.x2),
        f32::midpoint(second.bbox.y1, second.bbox.y2),
    );
    let (pw, ph) = {
        let p = library
            .lock()
            .expect("lock")
            .photo(photo)
            .expect("read")
            .expect("photo");
        (p.width as f32, p.height as f32)
    };
    let loose = BBox {
        x1: (cx - 0.9 * second.bbox.width()).max(0.0),
        y1: (cy - 0.9 * second.bbox.height()).max(0.0),
        x2: (cx + 0.9 * second.bbox.width()).min(pw),
        y2: (cy + 0.9 * second.bbox.height()).min(ph),
    };
    let edit = media::set_face_box(&library, &finder, faces[1], loose).expect("edit");
    assert!(edit.reembedded);
    let e = library
        .lock()
        .expect("lock")
        .face_embedding(faces[1])
        .expect("read")
        .expect("embedding");
    assert!(
        cosine(&second_old, &e) > 0.9,
        "cosine {}",
        cosine(&second_old, &e)
    );
    assert!(
        cosine(&old, &e) < 0.5,
        "not the neighbour: {}",
        cosine(&old, &e)
    );
    library.lock().expect("lock").undo().expect("undo");

    // Delete a detected face, then draw it again by hand: it is found and
    // embedded like the detector's face.
    library
        .lock()
        .expect("lock")
        .delete_face(faces[0])
        .expect("delete");
    assert!(library.lock().expect("lock").face(faces[0]).is_err());
    consistent(&library);
    let drawn = shifted(first.bbox, -2.0, 2.0);
    let edit = media::add_face(&library, &finder, photo, drawn).expect("add");
    assert!(edit.reembedded);
    assert!(edit.face > faces[1], "a new id, never reused");
    let added = library.lock().expect("lock").face(edit.face).expect("face");
    assert_eq!((added.bbox, added.source), (drawn, FaceSource::Manual));
    let e = library
        .lock()
        .expect("lock")
        .face_embedding(edit.face)
        .expect("read")
        .expect("embedding");
    assert!(cosine(&old, &e) > 0.9, "cosine {}", cosine(&old, &e));
    consistent(&library);

    // A box with no face in it is still added, without an embedding.
    let (w, h) = {
        let p = library
            .lock()
            .expect("lock")
            .photo(photo)
            .expect("read")
            .expect("photo");
        (p.width as f32, p.height as f32)
    };
    let corner = BBox {
        x1: w - 40.0,
        y1: h - 40.0,
        x2: w - 1.0,
        y2: h - 1.0,
    };
    let blank = media::add_face(&library, &finder, photo, corner).expect("add");
    assert!(!blank.reembedded);
    let face = library
        .lock()
        .expect("lock")
        .face(blank.face)
        .expect("face");
    assert!(!face.has_embedding);
    assert!(
        face.landmarks
            .iter()
            .all(|[x, y]| *x >= corner.x1 && *x <= corner.x2 && *y >= corner.y1 && *y <= corner.y2)
    );
    consistent(&library);

    // Undo: the blank face goes, the drawn face goes, the deleted face and
    // its embedding come back.
    for _ in 0..3 {
        library.lock().expect("lock").undo().expect("undo");
        consistent(&library);
    }
    assert!(library.lock().expect("lock").face(blank.face).is_err());
    assert!(library.lock().expect("lock").face(edit.face).is_err());
    assert_eq!(
        library.lock().expect("lock").face(faces[0]).expect("face"),
        first
    );
    assert_eq!(
        library
            .lock()
            .expect("lock")
            .face_embedding(faces[0])
            .expect("read"),
        Some(old)
    );
    match media::add_face(&library, &finder, PhotoId([7; 32]), drawn) {
        Err(EditError::Action(ActionError::UnknownPhoto(_))) => {}
        other => panic!("expected unknown photo, got {other:?}"),
    }
}

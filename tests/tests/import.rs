//! End-to-end import of the real photos in the shared folder: every photo is
//! accounted for, face counts equal the reference pipeline's, a second
//! import does nothing, and the library is consistent.

use likeness_engine::import::FaceFinder;
use likeness_engine::import::vision_finder::VisionFinder;
use likeness_engine::vision::DevicePreference;
use likeness_engine::{Command, PhotoId, Reply};
use likeness_tests::{engine_with_vision, import_folders, models_dir, shared_dir};
use std::collections::BTreeMap;

/// Files whose first bytes are a JPEG or PNG signature, counted without the
/// importer's own code (the shared folder holds only those two formats).
fn count_images(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("read folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            n += count_images(&path);
        } else {
            let head: Vec<u8> = std::fs::read(&path)
                .expect("read file")
                .into_iter()
                .take(4)
                .collect();
            if head.starts_with(&[0xff, 0xd8, 0xff]) || head.starts_with(b"\x89PNG") {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn import_shared_faces_end_to_end() {
    let faces_dir = shared_dir().join("faces");
    let reference =
        std::fs::read_to_string(faces_dir.join("reference/insightface_buffalo_sc.jsonl"))
            .expect("reference");
    let images = count_images(&faces_dir);
    assert!(
        images >= reference.lines().count() as u64,
        "{images} images"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let library = dir.path().join("lib.redb");
    let engine = engine_with_vision(&library);

    let first = import_folders(&engine, vec![faces_dir.clone()]);
    assert_eq!(
        first.photos_seen, images,
        "every image file is seen: {first:?}"
    );
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert_eq!(first.new_photos + first.duplicates, images);
    assert!(first.faces_found > 0);

    let Reply::Export(export) = engine
        .call(Command::Export {
            with_embeddings: false,
        })
        .expect("export")
    else {
        panic!("unexpected reply");
    };
    assert_eq!(export.photos.len() as u64, first.new_photos);
    assert_eq!(export.faces.len() as u64, first.faces_found);
    let mut per_photo: BTreeMap<String, usize> = BTreeMap::new();
    for f in &export.faces {
        *per_photo.entry(f.photo.clone()).or_default() += 1;
    }

    // Face counts per photo equal the reference pipeline's (our vision is
    // bit-exact with it on these photos; see vision_parity), for every photo
    // it covers; the few photos it does not cover are run through our
    // vision pipeline on its own.
    let mut covered = std::collections::BTreeSet::new();
    for line in reference.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("reference line");
        let path = faces_dir.join(v["path"].as_str().expect("path"));
        let id = PhotoId::of_bytes(&std::fs::read(&path).expect("read photo")).to_hex();
        let expected = v["faces"].as_array().map_or(0, Vec::len);
        assert_eq!(
            per_photo.get(&id).copied().unwrap_or(0),
            expected,
            "{}",
            path.display()
        );
        covered.insert(id);
    }
    let finder =
        VisionFinder::load(&models_dir(), "buffalo_sc", DevicePreference::Cpu).expect("vision");
    let uncovered: Vec<_> = export
        .photos
        .iter()
        .filter(|p| !covered.contains(&p.id))
        .collect();
    assert!(
        uncovered.len() <= 4,
        "{} photos not in the reference",
        uncovered.len()
    );
    for photo in uncovered {
        let path = std::path::Path::new(&photo.paths[0]);
        let bytes = std::fs::read(path).expect("read photo");
        let found = finder.find_faces(path, &bytes).expect("vision");
        assert_eq!(
            per_photo.get(&photo.id).copied().unwrap_or(0),
            found.faces.len(),
            "{}",
            path.display()
        );
    }

    // A second import does nothing and creates nothing.
    let second = import_folders(&engine, vec![faces_dir]);
    assert_eq!(
        (second.new_photos, second.faces_found),
        (0, 0),
        "{second:?}"
    );
    assert_eq!(second.duplicates, images);
    let Reply::Check(report) = engine
        .call(Command::Check { repair: false })
        .expect("check")
    else {
        panic!("unexpected reply");
    };
    assert!(report.is_consistent(), "{:?}", report.problems);
    assert_eq!(report.faces, first.faces_found);
    assert_eq!(
        report.indexed_faces, first.faces_found,
        "every face has its embedding indexed"
    );
}

//! A folder of bad inputs (corrupt, truncated, zero-byte, wrong extension,
//! huge dimensions, a symbolic link loop, a dangling link, an unreadable
//! file) imports to completion: each bad file is reported exactly once with
//! its reason, the good photo is imported, and a second import reports
//! nothing new.

use likeness_tests::{engine_with_vision, import_folders, shared_dir};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[test]
fn bad_inputs_are_reported_once_and_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("sub")).expect("mkdir");
    // The vision issue's bad-image fixtures: corrupt, truncated, zero-byte,
    // wrong extension, huge declared dimensions.
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/bad_images");
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(&fixtures).expect("fixtures") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_owned();
        std::fs::copy(&path, photos.join(&name)).expect("copy");
        bad.push(photos.join(name).display().to_string());
    }
    assert!(bad.len() >= 10, "fixtures: {bad:?}");
    // A good photo, a symbolic link loop and a dangling link.
    let good = shared_dir().join("faces/group/fr_two_people.jpg");
    std::fs::copy(&good, photos.join("sub/good.jpg")).expect("copy good");
    std::os::unix::fs::symlink(&photos, photos.join("sub/loop")).expect("loop");
    std::os::unix::fs::symlink(photos.join("nowhere.jpg"), photos.join("dangling.jpg"))
        .expect("dangling");
    bad.push(photos.join("sub/loop").display().to_string());
    bad.push(photos.join("dangling.jpg").display().to_string());
    // A file the system refuses to read. For a normal user that is mode
    // 000; root (as CI runs) reads any mode, so there the stand-in is a link
    // to `/proc/self/mem`, whose read at offset 0 fails (EIO): the same
    // error path, an I/O error when the file is opened and read.
    let locked = photos.join("locked.jpg");
    std::fs::copy(&good, &locked).expect("copy locked");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    if std::fs::read(&locked).is_ok() {
        std::fs::remove_file(&locked).expect("remove");
        std::os::unix::fs::symlink("/proc/self/mem", &locked).expect("link");
    }
    bad.push(locked.display().to_string());

    let engine = engine_with_vision(&dir.path().join("lib.redb"));
    let summary = import_folders(&engine, vec![photos.clone()]);
    let mut reported: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &summary.failed {
        reported
            .entry(f.path.clone())
            .or_default()
            .push(f.reason.clone());
    }
    for path in &bad {
        let reasons = reported
            .get(path)
            .unwrap_or_else(|| panic!("{path} not reported: {reported:#?}"));
        assert_eq!(
            reasons.len(),
            1,
            "{path} reported more than once: {reasons:?}"
        );
        assert!(!reasons[0].trim().is_empty(), "{path}: empty reason");
    }
    assert_eq!(
        reported.len(),
        bad.len(),
        "only bad files are reported: {reported:#?}"
    );
    assert_eq!(
        summary.new_photos, 1,
        "only the good photo is new: {summary:?}"
    );
    assert!(
        summary.faces_found >= 2,
        "the good photo has two people: {summary:?}"
    );

    let again = import_folders(&engine, vec![photos]);
    assert_eq!((again.new_photos, again.faces_found), (0, 0), "{again:?}");
}

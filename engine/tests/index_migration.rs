//! A library written before the tiered index (index format 1: one segment,
//! a face set, a tombstone set; `fixtures/library_index_v1.md` says how it
//! was made) opens, migrates in place and passes `check`; its old segment
//! becomes one segment of the new layout, with its tombstones, and every
//! face is found exactly once, before and after new segments are built.

use likeness_engine::index::{self, RebuildOutcome, RebuildParams};
use likeness_engine::{FaceId, Library};
use redb::ReadableDatabase;
use std::collections::BTreeSet;
use std::path::Path;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/library_index_v1.redb"
);

fn index_format(path: &Path) -> u64 {
    let db = redb::Database::open(path).expect("raw open");
    let r = db.begin_read().expect("read");
    r.open_table(index::META)
        .expect("meta")
        .get("format")
        .expect("get")
        .expect("format is set")
        .value()
}

/// Every face except `face`, each once, with the store's owner.
fn assert_finds_all_others(lib: &Library, face: FaceId, all: &BTreeSet<u64>) {
    let hits = lib.nearest_to_face(face, all.len() + 5).expect("nearest");
    let found: Vec<u64> = hits.iter().map(|h| h.face.0).collect();
    let unique: BTreeSet<u64> = found.iter().copied().collect();
    assert_eq!(found.len(), unique.len(), "a face was found twice");
    let want: BTreeSet<u64> = all.iter().copied().filter(|&f| f != face.0).collect();
    assert_eq!(unique, want);
    for pair in hits.windows(2) {
        assert!(pair[0].similarity >= pair[1].similarity);
    }
}

#[test]
fn a_format_1_library_migrates_and_passes_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("library.redb");
    std::fs::copy(FIXTURE, &path).expect("copy fixture");
    assert_eq!(index_format(&path), 1, "the fixture is in the old format");

    let lib = Library::open(&path).expect("open migrates");
    let report = lib.check().expect("check");
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!((report.photos, report.faces, report.persons), (50, 140, 1));
    assert_eq!(report.indexed_faces, 140);
    let db = lib.database();
    let idx = index::check(&db.begin_read().expect("read")).expect("index check");
    assert!(idx.is_consistent(), "{idx:?}");
    assert_eq!(
        (idx.segments, idx.segment_faces, idx.tombstones, idx.delta),
        (1, 120, 12, 32),
        "the old segment, its tombstones and the delta are kept"
    );
    let all: BTreeSet<u64> = lib
        .export(false)
        .expect("export")
        .faces
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(all.len(), 140);
    let first = FaceId(*all.iter().next().expect("a face"));
    assert_finds_all_others(&lib, first, &all);

    // The delta flushes into a second segment beside the migrated one.
    let r = index::rebuild(&db, RebuildParams::default()).expect("flush");
    assert_eq!(r.outcome, RebuildOutcome::Swapped);
    assert_eq!(r.segment_faces, 32, "only the delta is built");
    let idx = index::check(&db.begin_read().expect("read")).expect("index check");
    assert!(idx.is_consistent(), "{idx:?}");
    assert_eq!((idx.segments, idx.delta), (2, 0));
    assert_finds_all_others(&lib, first, &all);
    drop(db);
    drop(lib);

    // Reopening does not migrate again.
    assert_eq!(index_format(&path), index::FORMAT);
    let lib = Library::open(&path).expect("reopen");
    assert!(lib.check().expect("check").problems.is_empty());
    assert_finds_all_others(&lib, first, &all);
    // Alice's faces still belong to her (read from the store).
    let hits = lib.nearest_to_face(first, 200).expect("nearest");
    assert!(hits.iter().any(|h| h.person.is_some()));
}

//! Opening libraries: a new file gets the current schema; a file from a newer
//! Likeness is refused with a clear error and left untouched; a file in use
//! by another process is reported as such.

use likeness_engine::store::schema::{META, META_SCHEMA_VERSION, SCHEMA_VERSION};
use likeness_engine::{Library, OpenError};

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lib.redb");
    let mut lib = Library::open(&path).expect("create");
    lib.create_person("Alice").expect("create person");
    drop(lib);
    {
        let db = redb::Database::open(&path).expect("raw open");
        let txn = db.begin_write().expect("write");
        txn.open_table(META)
            .expect("meta")
            .insert(META_SCHEMA_VERSION, SCHEMA_VERSION + 1)
            .expect("bump");
        txn.commit().expect("commit");
    }
    let err = Library::open(&path)
        .err()
        .expect("a newer schema must be refused");
    assert_eq!(
        err,
        OpenError::NewerSchema {
            path: path.display().to_string(),
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION
        }
    );
    assert!(
        err.to_string()
            .contains("newer than this Likeness understands"),
        "{err}"
    );
    let db = redb::Database::open(&path).expect("raw open");
    let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
    let version = txn
        .open_table(META)
        .expect("meta")
        .get(META_SCHEMA_VERSION)
        .expect("get")
        .map(|v| v.value());
    assert_eq!(
        version,
        Some(SCHEMA_VERSION + 1),
        "the refused file is not rewritten"
    );
}

#[test]
fn second_open_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lib.redb");
    let _first = Library::open(&path).expect("first open");
    let err = Library::open(&path).err().expect("second open must fail");
    assert_eq!(
        err,
        OpenError::InUse {
            path: path.display().to_string()
        }
    );
}

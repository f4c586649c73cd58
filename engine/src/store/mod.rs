//! The library store: one redb file holding photos, faces, persons,
//! suggestions, rejections, the undo history and the vector index.
//!
//! [`Library`] is the synchronous API over that file. It is owned by the
//! engine thread (see `crate::engine`); the app never holds one.
//!
//! **Architecture Invariant:** every user action is one write transaction,
//! and the vector index state changes in the same transaction as the faces
//! it covers.

mod actions;
mod check;
mod export;
pub mod faces;
mod import;
pub mod names;
mod queries;
pub mod schema;
pub mod tx;
pub mod undo;

pub use check::{CheckReport, Problem};
pub use export::{FaceExport, LibraryExport, PhotoExport};
pub use import::{NewPhoto, PhotoCommit, needs_scan};
pub use queries::LibraryCounts;

use crate::error::{OpenError, StorageError};
use crate::index::{self, VectorIndex};
use redb::{Database, ReadableDatabase, ReadableTable};
use schema::{META, META_SCHEMA_VERSION, SCHEMA_VERSION};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tx::Tx;

/// An open library.
pub struct Library {
    db: Arc<Database>,
    /// The searcher's cache; interior mutability so searches can refresh it
    /// from a read snapshot.
    index: RefCell<VectorIndex>,
    path: PathBuf,
}

/// The default library file: `library.redb` in the platform data directory
/// (`~/.local/share/likeness` on Linux).
pub fn default_library_path() -> PathBuf {
    directories::ProjectDirs::from("org", "Likeness", "Likeness").map_or_else(
        || PathBuf::from("likeness-library.redb"),
        |dirs| dirs.data_dir().join("library.redb"),
    )
}

impl Library {
    /// Opens the library at `path`, creating it (and its folder) when absent
    /// and migrating an older schema. Refuses a newer schema.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| OpenError::Folder {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::InUse {
                path: path.display().to_string(),
            },
            other => OpenError::Storage(other.into()),
        })?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(META_SCHEMA_VERSION)?.map(|v| v.value());
            match found {
                None => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                }
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(OpenError::NewerSchema {
                        path: path.display().to_string(),
                        found: v,
                        supported: SCHEMA_VERSION,
                    });
                }
                // Older versions migrate here, one step at a time. Version 1
                // is the first, so there is nothing to migrate yet.
                Some(_) => {}
            }
        }
        schema::create_tables(&txn)?;
        index::create_tables(&txn)?;
        txn.commit()?;
        Ok(Self {
            db: Arc::new(db),
            index: RefCell::new(VectorIndex::new()),
            path: path.to_owned(),
        })
    }

    /// Where the library file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying database, for background jobs (index rebuild) that run
    /// off the engine thread.
    pub fn database(&self) -> Arc<Database> {
        Arc::clone(&self.db)
    }

    /// True when the index's delta has grown enough that a segment rebuild
    /// (run off the engine thread, see `index::rebuild`) is due.
    pub fn index_needs_rebuild(&self) -> Result<bool, StorageError> {
        Ok(index::needs_rebuild(&self.read()?)?)
    }

    fn begin(&self, user_action: bool) -> Result<Tx, StorageError> {
        Ok(Tx::new(self.db.begin_write()?, user_action))
    }

    fn read(&self) -> Result<redb::ReadTransaction, StorageError> {
        Ok(self.db.begin_read()?)
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

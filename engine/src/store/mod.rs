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
mod models;
pub mod names;
mod queries;
mod recognition;
mod review;
pub mod schema;
pub mod tx;
pub mod undo;

pub use check::{CheckReport, Problem};
pub use export::{FaceExport, LibraryExport, PhotoExport};
pub use import::{NewPhoto, PhotoCommit, needs_scan};
pub use queries::LibraryCounts;
pub use recognition::{RECOGNISE_BATCH, RecogniseReport};
pub use review::CLUSTER_SAMPLES;

use crate::error::{OpenError, StorageError};
use crate::index::{self, VectorIndex};
use crate::recognize::RecognitionSettings;
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
    /// Recognition thresholds and sizes (the one place they are set).
    settings: RecognitionSettings,
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
        let mut migrate_from = None;
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
                // Older versions migrate here, one step at a time.
                Some(v) => {
                    if v < SCHEMA_VERSION {
                        meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                    }
                    migrate_from = Some(v).filter(|&v| v < SCHEMA_VERSION);
                }
            }
        }
        schema::create_tables(&txn)?;
        index::create_tables(&txn)?;
        let settings = RecognitionSettings::default();
        let mut tx = Tx::new(txn, false).with_settings(settings);
        if migrate_from == Some(1) {
            // Version 2 adds the derived person models: compute them.
            refresh_all_models(&mut tx)?;
        }
        tx.commit("open")?;
        Ok(Self {
            db: Arc::new(db),
            index: RefCell::new(VectorIndex::new()),
            path: path.to_owned(),
            settings,
        })
    }

    /// The recognition settings in use.
    pub fn settings(&self) -> &RecognitionSettings {
        &self.settings
    }

    /// Changes the recognition settings and rebuilds every person model with
    /// them (one transaction).
    pub fn set_settings(&mut self, settings: RecognitionSettings) -> Result<(), StorageError> {
        self.settings = settings;
        let mut tx = self.begin(false)?;
        refresh_all_models(&mut tx)?;
        tx.commit("settings")
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

    /// True when an index maintenance step (flush the delta into a new
    /// segment, or merge, compact or drop segments; run off the engine
    /// thread, see `index::maintain`) is due.
    pub fn index_needs_rebuild(&self) -> Result<bool, StorageError> {
        Ok(index::needs_rebuild(&self.read()?)?)
    }

    fn begin(&self, user_action: bool) -> Result<Tx, StorageError> {
        Ok(Tx::new(self.db.begin_write()?, user_action).with_settings(self.settings))
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

/// Recomputes every person's model in `tx` (after a migration or a change
/// of settings).
fn refresh_all_models(tx: &mut Tx) -> Result<(), StorageError> {
    let persons: Vec<u64> = {
        let table = tx.txn().open_table(schema::PERSONS)?;
        let mut ids = Vec::new();
        for entry in table.iter()? {
            ids.push(entry?.0.value());
        }
        ids
    };
    for p in persons {
        tx.refresh_model(p)?;
    }
    Ok(())
}

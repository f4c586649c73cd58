//! Watching imported folders: file-system events, debounced, become lists of
//! paths that appeared or changed (imported by the same job) and paths that
//! disappeared (forgotten; a photo with no path left is *missing*).

use super::scan::{ScanOptions, is_skipped_path};
use crossbeam_channel::Sender;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a burst of events is merged before it is reported.
pub const DEBOUNCE: Duration = Duration::from_millis(750);

/// What changed under the watched folders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderChanges {
    /// Files that appeared or changed.
    pub changed: Vec<PathBuf>,
    /// Paths that no longer exist.
    pub removed: Vec<PathBuf>,
    /// Errors the watcher reported.
    pub errors: Vec<String>,
}

/// Watches folders recursively and sends [`FolderChanges`].
pub struct FolderWatcher {
    debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    roots: Vec<PathBuf>,
}

impl FolderWatcher {
    /// Starts a watcher that sends changes to `changes` and then calls `wake`.
    pub fn new(
        changes: Sender<FolderChanges>,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Self, notify::Error> {
        let debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let mut out = FolderChanges::default();
            match result {
                Ok(events) => {
                    for event in events {
                        // Reading a photo (our own import) is not a change.
                        if matches!(event.kind, notify::EventKind::Access(_)) {
                            continue;
                        }
                        for path in &event.paths {
                            if path.exists() {
                                if path.is_file() {
                                    out.changed.push(path.clone());
                                }
                            } else {
                                out.removed.push(path.clone());
                            }
                        }
                    }
                }
                Err(errors) => out.errors.extend(errors.iter().map(ToString::to_string)),
            }
            out.changed.sort();
            out.changed.dedup();
            out.removed.sort();
            out.removed.dedup();
            if out != FolderChanges::default() && changes.send(out).is_ok() {
                wake();
            }
        })?;
        Ok(Self {
            debouncer,
            roots: Vec::new(),
        })
    }

    /// Watches `root` and everything below it (once per root).
    pub fn watch(&mut self, root: &Path) -> Result<(), notify::Error> {
        if self.roots.iter().any(|r| r == root) {
            return Ok(());
        }
        self.debouncer.watch(root, RecursiveMode::Recursive)?;
        self.roots.push(root.to_owned());
        Ok(())
    }

    /// Keeps the changes under a watched root that an import would take:
    /// nothing in hidden, system or excluded folders.
    pub fn relevant(&self, changes: FolderChanges, options: &ScanOptions) -> FolderChanges {
        let keep = |p: &PathBuf| {
            self.roots
                .iter()
                .any(|root| p.starts_with(root) && !is_skipped_path(root, p, options))
        };
        FolderChanges {
            changed: changes.changed.into_iter().filter(keep).collect(),
            removed: changes.removed.into_iter().filter(keep).collect(),
            errors: changes.errors,
        }
    }
}

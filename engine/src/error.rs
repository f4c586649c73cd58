//! Error types of the store and the engine API.
//!
//! One enum per kind of operation (opening a library, a user action, a
//! query), each plain data (`Clone`, serde) so it can cross the engine's
//! channel and be shown by the app. Storage failures are carried as
//! [`StorageError`], which keeps the kind and the message of the underlying
//! redb error.

use crate::types::{ClusterId, FaceId, PersonId, PhotoId};
use serde::{Deserialize, Serialize};

/// The library file could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("library storage failed: {message}")]
pub struct StorageError {
    /// What redb (or the row codec) said.
    pub message: String,
}

impl StorageError {
    /// A storage error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                Self::new(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    postcard::Error,
    crate::index::IndexError
);

/// Opening (or creating) a library failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum OpenError {
    /// The file was written by a newer Likeness.
    #[error(
        "the library at {path} has schema version {found}, newer than this Likeness understands ({supported}); update Likeness"
    )]
    NewerSchema {
        /// Library path.
        path: String,
        /// Version in the file.
        found: u64,
        /// Newest version this build reads.
        supported: u64,
    },
    /// The file is in use by another Likeness process.
    #[error("the library at {path} is open in another Likeness process")]
    InUse {
        /// Library path.
        path: String,
    },
    /// The folder for the library could not be created.
    #[error("cannot create the library folder {path}: {reason}")]
    Folder {
        /// Folder path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Anything else the storage layer reported.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A user action (a mutation) was refused or failed. A refused action
/// changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ActionError {
    /// A name that is empty after trimming.
    #[error("a person's name cannot be empty")]
    EmptyName,
    /// A name with control characters or over the length limit.
    #[error("invalid name: {reason}")]
    InvalidName {
        /// Why.
        reason: String,
    },
    /// Another person has this name (ignoring case).
    #[error("there is already a person named {name:?} (id {existing})")]
    DuplicateName {
        /// The name as the other person spells it.
        name: String,
        /// The other person.
        existing: PersonId,
    },
    /// No person has this id.
    #[error("no person with id {0}")]
    UnknownPerson(PersonId),
    /// No face has this id.
    #[error("no face with id {0}")]
    UnknownFace(FaceId),
    /// No photo has this id.
    #[error("no photo with id {}", .0.to_hex())]
    UnknownPhoto(PhotoId),
    /// The photo's file is gone or no longer holds the photo's content, so
    /// nothing can be read from it.
    #[error("cannot read photo {photo}: {reason}")]
    PhotoUnavailable {
        /// Photo id, hex.
        photo: String,
        /// Why.
        reason: String,
    },
    /// Merging a person into itself.
    #[error("cannot merge person {0} into itself")]
    MergeIntoSelf(PersonId),
    /// A cover face that does not belong to the person.
    #[error("face {face} does not belong to person {person}")]
    FaceNotOfPerson {
        /// The face.
        face: FaceId,
        /// The person.
        person: PersonId,
    },
    /// A date that is not `YYYY-MM-DD`.
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    InvalidDate(String),
    /// A box that is empty, not finite or outside its photo.
    #[error("box {bbox} is outside the {width}×{height} photo or empty")]
    BoxOutsideImage {
        /// The box, as `x1,y1,x2,y2`.
        bbox: String,
        /// Photo width.
        width: u32,
        /// Photo height.
        height: u32,
    },
    /// An embedding of the wrong length or with non-finite values.
    #[error("invalid embedding: {0}")]
    InvalidEmbedding(String),
    /// Undo with an empty history.
    #[error("nothing to undo")]
    NothingToUndo,
    /// Redo with nothing undone since the last action.
    #[error("nothing to redo")]
    NothingToRedo,
    /// No unnamed group has this id (or it has no faces left).
    #[error("no unnamed group with id {0}")]
    UnknownCluster(ClusterId),
    /// Accepting or rejecting a suggestion that is not pending.
    #[error("face {face} has no pending suggestion for person {person}")]
    NoSuggestion {
        /// The face.
        face: FaceId,
        /// The person.
        person: PersonId,
    },
    /// "Find more" for a person with no confirmed face with an embedding.
    #[error("person {0} has no confirmed face to search from")]
    NoModel(PersonId),
    /// An enrolment photo in which no face was found.
    #[error("no face found in {0}")]
    NoFaceFound(String),
    /// An enrolment photo that could not be read or decoded.
    #[error("cannot use {path}: {reason}")]
    BadPhoto {
        /// The photo.
        path: String,
        /// Why.
        reason: String,
    },
    /// An empty list of faces or persons where at least one is needed.
    #[error("nothing selected")]
    EmptySelection,
    /// The library file failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A read-only query failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum QueryError {
    /// No person has this id.
    #[error("no person with id {0}")]
    UnknownPerson(PersonId),
    /// No face has this id.
    #[error("no face with id {0}")]
    UnknownFace(FaceId),
    /// No photo has this id.
    #[error("no photo with id {}", .0.to_hex())]
    UnknownPhoto(PhotoId),
    /// No unnamed group has this id.
    #[error("no unnamed group with id {0}")]
    UnknownCluster(ClusterId),
    /// The face or person has no embedding to search with.
    #[error("{0} has no embedding to search with")]
    NoEmbedding(String),
    /// The library file failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

macro_rules! via_storage {
    ($target:ty: $($t:ty),*) => {$(
        impl From<$t> for $target {
            fn from(e: $t) -> Self {
                Self::Storage(e.into())
            }
        }
    )*};
}
via_storage!(ActionError: redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError, postcard::Error, crate::index::IndexError);
via_storage!(QueryError: redb::TransactionError, redb::TableError, redb::StorageError, postcard::Error, crate::index::IndexError);
via_storage!(OpenError: redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError, postcard::Error, crate::index::IndexError);

//! The undo history: each user action stores the before-image of every row it
//! changed; undoing writes those images back, newest action first, through
//! the same [`Tx`] methods, so derived tables and the index follow.

use super::schema::{self, FaceRow, OPLOG, PersonRow, SuggestionRow};
use super::tx::Tx;
use crate::error::{ActionError, StorageError};
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

/// The state of one row before an action changed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Before {
    /// A face row (`None`: it did not exist).
    Face(u64, Option<FaceRow>),
    /// A person row.
    Person(u64, Option<PersonRow>),
    /// A suggestion (face, person).
    Suggestion(u64, u64, Option<SuggestionRow>),
    /// A rejection (face, person): whether it existed.
    Rejection(u64, u64, bool),
    /// A face's embedding.
    Embedding(u64, Option<Vec<f32>>),
}

/// One undoable user action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    /// What the user did, in words ("rename person 3").
    pub label: String,
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Before-images, in the order they were taken.
    pub before: Vec<Before>,
}

/// Undoes the newest action in `tx` (a non-recording transaction) and returns
/// its label.
pub fn undo_last(tx: &mut Tx) -> Result<String, ActionError> {
    let (op, record) = {
        let log = tx.txn().open_table(OPLOG)?;
        let Some(last) = log.last()? else {
            return Err(ActionError::NothingToUndo);
        };
        let op = last.0.value();
        let record: OpRecord = schema::decode("oplog", last.1.value())?;
        (op, record)
    };
    // Persons are restored in two passes so a rename chain (A→B, B→A) never
    // meets its own old name: first every touched person is removed, then the
    // images are written back.
    for image in record.before.iter().rev() {
        if let Before::Person(id, _) = image {
            tx.put_person(*id, None)?;
        }
    }
    for image in record.before.into_iter().rev() {
        restore(tx, image)?;
    }
    tx.txn().open_table(OPLOG)?.remove(op)?;
    Ok(record.label)
}

fn restore(tx: &mut Tx, image: Before) -> Result<(), StorageError> {
    match image {
        Before::Face(id, row) => tx.put_face(id, row.as_ref()),
        Before::Person(id, row) => tx.put_person(id, row.as_ref()),
        Before::Suggestion(face, person, row) => tx.put_suggestion(face, person, row.as_ref()),
        Before::Rejection(face, person, was) => tx.put_rejection(face, person, was),
        Before::Embedding(face, e) => tx.put_embedding(face, e.as_deref()),
    }
}

/// Number of actions in the undo history.
pub fn history_len(txn: &redb::ReadTransaction) -> Result<u64, StorageError> {
    match txn.open_table(OPLOG) {
        Ok(t) => Ok(t.len()?),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

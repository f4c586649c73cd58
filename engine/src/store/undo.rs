//! The undo history: each user action stores the before-image of every row it
//! changed; undoing writes those images back, newest action first, through
//! the same [`Tx`] methods, so derived tables and the index follow.

use super::schema::{self, FaceRow, OPLOG, PersonRow, REDO, SuggestionRow};
use super::tx::{PairTable, Tx};
use crate::error::{ActionError, StorageError};
use crate::types::AssignedBy;
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
/// its label. The rows' current images go to the redo history.
pub fn undo_last(tx: &mut Tx) -> Result<String, ActionError> {
    let (op, record) = last(tx, OPLOG)?.ok_or(ActionError::NothingToUndo)?;
    let after = current_images(tx, &record.before)?;
    apply(tx, record.before)?;
    tx.txn().open_table(OPLOG)?.remove(op)?;
    let redo_op = last(tx, REDO)?.map_or(1, |(k, _)| k + 1);
    let redo = OpRecord {
        label: record.label.clone(),
        at_ms: record.at_ms,
        before: after,
    };
    tx.txn()
        .open_table(REDO)?
        .insert(redo_op, schema::encode(&redo)?.as_slice())?;
    Ok(record.label)
}

/// Redoes the newest undone action in `tx` (a non-recording transaction):
/// its after-images are written back and it becomes an undo step again.
/// Returns its label.
pub fn redo_last(tx: &mut Tx) -> Result<String, ActionError> {
    let (op, record) = last(tx, REDO)?.ok_or(ActionError::NothingToRedo)?;
    let before = current_images(tx, &record.before)?;
    apply(tx, record.before)?;
    tx.txn().open_table(REDO)?.remove(op)?;
    let undo_op = tx.alloc(schema::META_NEXT_OP)?;
    let undo = OpRecord {
        label: record.label.clone(),
        at_ms: record.at_ms,
        before,
    };
    tx.txn()
        .open_table(OPLOG)?
        .insert(undo_op, schema::encode(&undo)?.as_slice())?;
    Ok(record.label)
}

fn last(
    tx: &Tx,
    table: redb::TableDefinition<u64, &[u8]>,
) -> Result<Option<(u64, OpRecord)>, StorageError> {
    let log = tx.txn().open_table(table)?;
    let Some(last) = log.last()? else {
        return Ok(None);
    };
    let record: OpRecord = schema::decode("oplog", last.1.value())?;
    Ok(Some((last.0.value(), record)))
}

/// The current image of every row `images` name, in the same order.
fn current_images(tx: &Tx, images: &[Before]) -> Result<Vec<Before>, StorageError> {
    images
        .iter()
        .map(|image| {
            Ok(match *image {
                Before::Face(id, _) => Before::Face(id, tx.face(id)?),
                Before::Person(id, _) => Before::Person(id, tx.person(id)?),
                Before::Suggestion(f, p, _) => Before::Suggestion(f, p, tx.suggestion(f, p)?),
                Before::Rejection(f, p, _) => Before::Rejection(f, p, tx.is_rejected(f, p)?),
                Before::Embedding(f, _) => Before::Embedding(f, tx.embedding(f)?),
            })
        })
        .collect()
}

/// Writes `images` back, newest first. Persons are restored in two passes so
/// a rename chain (A→B, B→A) never meets its own old name: first every
/// touched person is removed, then the images are written back. A person
/// the images remove takes along what automatic steps gave them since
/// (auto-assigned faces, pending suggestions), so nothing points at them.
fn apply(tx: &mut Tx, images: Vec<Before>) -> Result<(), StorageError> {
    let images_keys = images.clone();
    let removed: Vec<u64> = images
        .iter()
        .filter_map(|i| match i {
            Before::Person(id, None) => Some(*id),
            _ => None,
        })
        .collect();
    for image in images.iter().rev() {
        if let Before::Person(id, _) = image {
            tx.put_person(*id, None)?;
        }
    }
    for image in images.into_iter().rev() {
        restore(tx, image)?;
    }
    let mut touched: Vec<u64> = images_faces(&images_keys);
    touched.sort_unstable();
    touched.dedup();
    for person in removed {
        if tx.person(person)?.is_some() {
            continue;
        }
        for face in tx.faces_of_person(person)? {
            if let Some(mut row) = tx.face(face)? {
                row.person = None;
                row.assigned_by = None;
                tx.put_face(face, Some(&row))?;
            }
        }
        for face in tx.pairs_of_person(PairTable::Suggestions, person)? {
            tx.put_suggestion(face, person, None)?;
        }
        for face in tx.pairs_of_person(PairTable::Rejections, person)? {
            tx.put_rejection(face, person, false)?;
        }
    }
    for face in touched {
        settle(tx, face)?;
    }
    Ok(())
}

fn images_faces(images: &[Before]) -> Vec<u64> {
    images
        .iter()
        .filter_map(|i| match *i {
            Before::Face(f, _)
            | Before::Suggestion(f, _, _)
            | Before::Rejection(f, _, _)
            | Before::Embedding(f, _) => Some(f),
            Before::Person(..) => None,
        })
        .collect()
}

/// Makes a face restored by undo or redo agree with what automatic steps
/// did since: a face the user placed or ignored, and a rejected pair, keep
/// no pending suggestion; a face put back into a group (or an automatic
/// person) that meanwhile holds another face of its photo leaves it, so
/// cannot-link holds (recognition decides and groups it again).
fn settle(tx: &mut Tx, face: u64) -> Result<(), StorageError> {
    let Some(mut row) = tx.face(face)? else {
        return Ok(());
    };
    let user_owned = row.ignored || row.assigned_by.is_some_and(AssignedBy::is_confirmed);
    for p in tx.pairs_of_face(PairTable::Suggestions, face)? {
        if user_owned || tx.is_rejected(face, p)? {
            tx.put_suggestion(face, p, None)?;
        }
    }
    let mut changed = false;
    if row.cluster.is_some() || row.assigned_by == Some(AssignedBy::Auto) {
        for other in tx.faces_of_photo(row.photo)? {
            if other == face {
                continue;
            }
            let Some(o) = tx.face(other)? else { continue };
            if row.cluster.is_some() && o.cluster == row.cluster {
                row.cluster = None;
                changed = true;
            }
            if row.assigned_by == Some(AssignedBy::Auto)
                && o.person == row.person
                && let Some(p) = row.person
            {
                super::recognition::clear_cover(tx, p, face)?;
                row.person = None;
                row.assigned_by = None;
                changed = true;
            }
        }
    }
    if changed {
        tx.put_face(face, Some(&row))?;
    }
    Ok(())
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

/// Number of undone actions that can be redone.
pub fn redo_len(txn: &redb::ReadTransaction) -> Result<u64, StorageError> {
    match txn.open_table(REDO) {
        Ok(t) => Ok(t.len()?),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
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

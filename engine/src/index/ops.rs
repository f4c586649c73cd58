//! Per-face changes inside the caller's write transaction, and reads.

use super::tables::{
    DELTA, EMBEDDINGS, FORMAT, IndexTxn, LOG, LOG_SENTINEL, META, META_FORMAT, META_SEGMENT_BYTES,
    META_SEGMENT_CHUNKS, META_SEGMENT_GEN, META_SEQ, META_TAG, SEGMENT, SEGMENT_FACES, TOMBSTONES,
    read_meta,
};
use super::vector::{from_bytes, normalized, to_bytes};
use super::{IndexError, LOG_KEEP};
use crate::types::{Embedding, FaceId};
use redb::{ReadableTable, WriteTransaction};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Creates the index tables if missing (idempotent). Call when a library
/// is created or opened, before any read transaction uses the index.
pub fn create_tables(txn: &WriteTransaction) -> Result<(), IndexError> {
    txn.open_table(EMBEDDINGS)?;
    txn.open_table(SEGMENT)?;
    txn.open_table(SEGMENT_FACES)?;
    txn.open_table(DELTA)?;
    txn.open_table(TOMBSTONES)?;
    txn.open_table(LOG)?;
    let mut meta = txn.open_table(META)?;
    read_meta(&meta)?;
    if meta.get(META_FORMAT)?.is_none() {
        meta.insert(META_FORMAT, FORMAT)?;
        for key in [
            META_SEQ,
            META_TAG,
            META_SEGMENT_GEN,
            META_SEGMENT_CHUNKS,
            META_SEGMENT_BYTES,
        ] {
            meta.insert(key, 0)?;
        }
    }
    Ok(())
}

/// Inserts or replaces a face's embedding.
///
/// The vector must have [`crate::types::EMBEDDING_DIM`] finite components
/// and a non-zero length; it is **stored normalised to unit length** (so
/// [`get`] returns the normalised vector and similarities are cosines).
/// Cost: a handful of B-tree updates; never builds anything. Face id
/// `u64::MAX` is reserved ([`IndexError::ReservedFaceId`]).
pub fn put(txn: &WriteTransaction, face: FaceId, embedding: &[f32]) -> Result<(), IndexError> {
    if face.0 == LOG_SENTINEL {
        return Err(IndexError::ReservedFaceId(face.0));
    }
    let unit = normalized(embedding)?;
    txn.open_table(EMBEDDINGS)?
        .insert(face.0, to_bytes(&unit).as_slice())?;
    if txn.open_table(SEGMENT_FACES)?.get(face.0)?.is_some() {
        txn.open_table(TOMBSTONES)?.insert(face.0, ())?;
    }
    txn.open_table(DELTA)?.insert(face.0, ())?;
    log_change(txn, face.0)
}

/// Removes a face's embedding; false when it had none (nothing changes).
pub fn remove(txn: &WriteTransaction, face: FaceId) -> Result<bool, IndexError> {
    if txn.open_table(EMBEDDINGS)?.remove(face.0)?.is_none() {
        return Ok(false);
    }
    txn.open_table(DELTA)?.remove(face.0)?;
    if txn.open_table(SEGMENT_FACES)?.get(face.0)?.is_some() {
        txn.open_table(TOMBSTONES)?.insert(face.0, ())?;
    }
    log_change(txn, face.0)?;
    Ok(true)
}

/// The embedding of a face (unit length), if it has one.
pub fn get(txn: &impl IndexTxn, face: FaceId) -> Result<Option<Embedding>, IndexError> {
    Ok(get_many(txn, &[face])?.pop().flatten())
}

/// The embeddings of many faces, in the order asked, with one table open.
pub fn get_many(
    txn: &impl IndexTxn,
    faces: &[FaceId],
) -> Result<Vec<Option<Embedding>>, IndexError> {
    let mut out = Vec::with_capacity(faces.len());
    txn.embeddings_for(&mut faces.iter().map(|f| f.0), &mut |id, bytes| {
        out.push(match bytes {
            None => None,
            Some(b) => Some(from_bytes(b).ok_or_else(|| malformed(id))?),
        });
        Ok(())
    })?;
    Ok(out)
}

/// The error for a stored embedding of the wrong size.
pub(super) fn malformed(id: u64) -> IndexError {
    IndexError::Corrupt(format!("embedding of face {id} has the wrong size"))
}

/// Records that `face` changed: bumps the version and appends to the log,
/// dropping the entry that falls out of the [`LOG_KEEP`] window.
pub(super) fn log_change(txn: &WriteTransaction, face: u64) -> Result<(), IndexError> {
    let mut meta = txn.open_table(META)?;
    let seq = meta.get(META_SEQ)?.map_or(0, |g| g.value()) + 1;
    let tag = fresh_tag();
    meta.insert(META_SEQ, seq)?;
    meta.insert(META_TAG, tag)?;
    let mut log = txn.open_table(LOG)?;
    log.insert(seq, (tag, face))?;
    if seq > LOG_KEEP {
        log.remove(seq - LOG_KEEP)?;
    }
    Ok(())
}

/// A tag no other change made by this process has. Tags tell apart two
/// states with the same sequence number (one from an aborted transaction
/// a cache saw, one committed later), so they must not repeat within a
/// process; the time-based start makes a repeat across runs unlikely too.
pub(super) fn fresh_tag() -> u64 {
    static BASE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 40)
    });
    // Odd, so never 0 (the "no change yet" tag); stepping by 2 keeps the
    // tags distinct after setting the low bit.
    base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(2)) | 1
}

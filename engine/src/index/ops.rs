//! Per-face changes inside the caller's write transaction, and reads.

use super::tables::{
    DELTA, EMBEDDINGS, FORMAT, IndexTxn, LOG, LOG_SENTINEL, META, META_FORMAT, META_SEGMENT_GEN,
    META_SEQ, META_TAG, SEGMENT_CHUNKS, SEGMENT_FACES, SEGMENTS, SegmentInfo, TOMBSTONES,
    read_meta, v1,
};
use super::vector::{from_bytes, normalized, to_bytes};
use super::{IndexError, LOG_KEEP};
use crate::types::{Embedding, FaceId};
use redb::{ReadableTable, WriteTransaction};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Creates the index tables if missing (idempotent), and migrates an
/// older layout. Call when a library is created or opened, before any
/// read transaction uses the index.
pub fn create_tables(txn: &WriteTransaction) -> Result<(), IndexError> {
    txn.open_table(EMBEDDINGS)?;
    txn.open_table(SEGMENTS)?;
    txn.open_table(SEGMENT_CHUNKS)?;
    txn.open_table(SEGMENT_FACES)?;
    txn.open_table(DELTA)?;
    txn.open_table(TOMBSTONES)?;
    txn.open_table(LOG)?;
    let format = {
        let mut meta = txn.open_table(META)?;
        read_meta(&meta)?;
        let format = meta.get(META_FORMAT)?.map(|g| g.value());
        if format.is_none() {
            meta.insert(META_FORMAT, FORMAT)?;
            for key in [META_SEQ, META_TAG, META_SEGMENT_GEN] {
                meta.insert(key, 0)?;
            }
        }
        format
    };
    if format == Some(1) {
        migrate_v1(txn)?;
    }
    Ok(())
}

/// Format 1 → 2: the single segment becomes one segment of the tiered
/// layout, its bytes moved unchanged; its faces become live positions or
/// tombstones, the delta stays. A new segment generation makes every cache
/// reload.
fn migrate_v1(txn: &WriteTransaction) -> Result<(), IndexError> {
    let (chunks, bytes) = {
        let meta = txn.open_table(META)?;
        let get =
            |k: &str| -> Result<u64, IndexError> { Ok(meta.get(k)?.map_or(0, |g| g.value())) };
        (get(v1::META_SEGMENT_CHUNKS)?, get(v1::META_SEGMENT_BYTES)?)
    };
    if bytes > 0 {
        let id = fresh_tag();
        let old = txn.open_table(v1::SEGMENT)?;
        let mut new = txn.open_table(SEGMENT_CHUNKS)?;
        for chunk in 0..chunks {
            let g = old.get(chunk)?.ok_or_else(|| {
                IndexError::Corrupt(format!("format-1 segment chunk {chunk} is missing"))
            })?;
            new.insert((id, chunk), g.value())?;
        }
        let dead_faces = txn.open_table(v1::TOMBSTONES)?;
        let mut live = txn.open_table(SEGMENT_FACES)?;
        let mut dead = txn.open_table(TOMBSTONES)?;
        let mut info = SegmentInfo {
            chunks,
            bytes,
            ..SegmentInfo::default()
        };
        for row in txn.open_table(v1::SEGMENT_FACES)?.iter()? {
            let face = row?.0.value();
            info.points += 1;
            if dead_faces.get(face)?.is_some() {
                dead.insert((face, id), ())?;
                info.tombstones += 1;
            } else {
                live.insert(face, id)?;
            }
        }
        txn.open_table(SEGMENTS)?.insert(id, info.to_tuple())?;
    }
    txn.delete_table(v1::SEGMENT)?;
    txn.delete_table(v1::SEGMENT_FACES)?;
    txn.delete_table(v1::TOMBSTONES)?;
    let mut meta = txn.open_table(META)?;
    meta.remove(v1::META_SEGMENT_CHUNKS)?;
    meta.remove(v1::META_SEGMENT_BYTES)?;
    meta.insert(META_SEGMENT_GEN, fresh_tag())?;
    meta.insert(META_FORMAT, FORMAT)?;
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
    retire(txn, face.0)?;
    txn.open_table(DELTA)?.insert(face.0, ())?;
    log_change(txn, face.0)
}

/// Removes a face's embedding; false when it had none (nothing changes).
pub fn remove(txn: &WriteTransaction, face: FaceId) -> Result<bool, IndexError> {
    if txn.open_table(EMBEDDINGS)?.remove(face.0)?.is_none() {
        return Ok(false);
    }
    txn.open_table(DELTA)?.remove(face.0)?;
    retire(txn, face.0)?;
    log_change(txn, face.0)?;
    Ok(true)
}

/// Tombstones the face's live segment position, if it has one, and counts
/// it in that segment's description.
fn retire(txn: &WriteTransaction, face: u64) -> Result<(), IndexError> {
    let Some(segment) = txn
        .open_table(SEGMENT_FACES)?
        .remove(face)?
        .map(|g| g.value())
    else {
        return Ok(());
    };
    txn.open_table(TOMBSTONES)?.insert((face, segment), ())?;
    let mut segments = txn.open_table(SEGMENTS)?;
    // A missing segment is corruption `check` reports and `repair` clears;
    // removing a face must still work then (repair itself removes faces).
    let info = segments
        .get(segment)?
        .map(|g| SegmentInfo::from_tuple(g.value()));
    if let Some(mut info) = info {
        info.tombstones += 1;
        segments.insert(segment, info.to_tuple())?;
    }
    Ok(())
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

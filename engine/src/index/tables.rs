//! The index's redb tables and read access to them from either kind of
//! transaction.

use super::IndexError;
use redb::{
    ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

/// Face id → its embedding, [`super::EMBEDDING_DIM`] little-endian `f32`
/// (unit length). The only place an embedding is stored.
pub const EMBEDDINGS: TableDefinition<u64, &[u8]> = TableDefinition::new("embeddings");
/// Index bookkeeping: see the `META_*` keys.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("index_meta");
/// Chunk number → bytes of the serialized HNSW segment (concatenated in
/// chunk order).
pub const SEGMENT: TableDefinition<u64, &[u8]> = TableDefinition::new("index_segment");
/// Faces the current segment was built over (live or tombstoned).
pub const SEGMENT_FACES: TableDefinition<u64, ()> = TableDefinition::new("index_segment_faces");
/// Faces whose current embedding is scanned exactly (not in the segment).
pub const DELTA: TableDefinition<u64, ()> = TableDefinition::new("index_delta");
/// Segment faces whose segment vector is no longer current (removed or
/// replaced since the build).
pub const TOMBSTONES: TableDefinition<u64, ()> = TableDefinition::new("index_tombstones");
/// Change log: sequence number → (change tag, face id). Lets an in-memory
/// [`super::VectorIndex`] catch up with a transaction by replaying only the
/// faces changed since its cached state. Bounded to [`super::LOG_KEEP`]
/// entries.
pub const LOG: TableDefinition<u64, (u64, u64)> = TableDefinition::new("index_log");

/// Face id of a log entry that records a version but no face change
/// (written by a segment swap). Never a real face id.
pub const LOG_SENTINEL: u64 = u64::MAX;

/// Meta key: layout version of the index tables.
pub const META_FORMAT: &str = "format";
/// Meta key: sequence number of the last change (0 before any).
pub const META_SEQ: &str = "seq";
/// Meta key: unique tag of the last change.
pub const META_TAG: &str = "tag";
/// Meta key: unique id of the current segment, new at every swap or
/// repair (0: never built). The segment is empty when its size is 0.
pub const META_SEGMENT_GEN: &str = "segment_gen";
/// Meta key: number of chunks of the current segment.
pub const META_SEGMENT_CHUNKS: &str = "segment_chunks";
/// Meta key: total bytes of the current segment.
pub const META_SEGMENT_BYTES: &str = "segment_bytes";

/// Current value of [`META_FORMAT`].
pub const FORMAT: u64 = 1;

/// Version of the index state a transaction sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Sequence number of the last change.
    pub seq: u64,
    /// Unique tag of the last change.
    pub tag: u64,
    /// Current segment id, new at every swap or repair.
    pub segment_gen: u64,
    /// Number of segment chunks.
    pub segment_chunks: u64,
    /// Segment size in bytes.
    pub segment_bytes: u64,
}

/// Callback over (face id, stored embedding bytes).
pub type BytesFn<'a> = dyn FnMut(u64, &[u8]) -> Result<(), IndexError> + 'a;
/// Callback over (face id, stored embedding bytes if present).
pub type MaybeBytesFn<'a> = dyn FnMut(u64, Option<&[u8]>) -> Result<(), IndexError> + 'a;

/// Read access to the index tables, implemented for [`ReadTransaction`] and
/// [`WriteTransaction`] so every reading function works on both.
///
/// With a write transaction, the caller must not hold any index table open
/// while calling into this module (redb refuses to open a table twice).
pub trait IndexTxn: sealed::Sealed {
    /// Reads the meta values.
    #[doc(hidden)]
    fn meta(&self) -> Result<Meta, IndexError>;
    /// Calls `f` with the stored bytes of each id (`None` when absent), in
    /// the order given, opening the table once.
    #[doc(hidden)]
    fn embeddings_for(
        &self,
        ids: &mut dyn Iterator<Item = u64>,
        f: &mut MaybeBytesFn<'_>,
    ) -> Result<(), IndexError>;
    /// Calls `f` for every stored embedding in id order.
    #[doc(hidden)]
    fn scan_embeddings(&self, f: &mut BytesFn<'_>) -> Result<(), IndexError>;
    /// All keys of a set table ([`DELTA`], [`TOMBSTONES`], [`SEGMENT_FACES`]).
    #[doc(hidden)]
    fn set_keys(&self, table: TableDefinition<u64, ()>) -> Result<Vec<u64>, IndexError>;
    /// Whether a set table contains `id`.
    #[doc(hidden)]
    fn set_contains(&self, table: TableDefinition<u64, ()>, id: u64) -> Result<bool, IndexError>;
    /// Number of entries in a set table.
    #[doc(hidden)]
    fn set_len(&self, table: TableDefinition<u64, ()>) -> Result<u64, IndexError>;
    /// Tag of log entry `seq`, when it is still in the log.
    #[doc(hidden)]
    fn log_tag(&self, seq: u64) -> Result<Option<u64>, IndexError>;
    /// Face ids of log entries after `seq`, in order.
    #[doc(hidden)]
    fn log_after(&self, seq: u64) -> Result<Vec<u64>, IndexError>;
    /// The concatenated segment chunks.
    #[doc(hidden)]
    fn segment_bytes(&self, meta: &Meta) -> Result<Vec<u8>, IndexError>;
}

mod sealed {
    /// Only redb's two transaction types implement [`super::IndexTxn`].
    pub trait Sealed {}
    impl Sealed for redb::ReadTransaction {}
    impl Sealed for redb::WriteTransaction {}
}

/// Reads the meta values from an open meta table.
pub(super) fn read_meta(t: &impl ReadableTable<&'static str, u64>) -> Result<Meta, IndexError> {
    let get = |k: &str| -> Result<u64, IndexError> { Ok(t.get(k)?.map_or(0, |g| g.value())) };
    let format = get(META_FORMAT)?;
    if format > FORMAT {
        return Err(IndexError::Corrupt(format!(
            "index format {format} is newer than this program's {FORMAT}"
        )));
    }
    Ok(Meta {
        seq: get(META_SEQ)?,
        tag: get(META_TAG)?,
        segment_gen: get(META_SEGMENT_GEN)?,
        segment_chunks: get(META_SEGMENT_CHUNKS)?,
        segment_bytes: get(META_SEGMENT_BYTES)?,
    })
}

macro_rules! impl_index_txn {
    ($t:ty) => {
        impl IndexTxn for $t {
            fn meta(&self) -> Result<Meta, IndexError> {
                read_meta(&self.open_table(META)?)
            }

            fn embeddings_for(
                &self,
                ids: &mut dyn Iterator<Item = u64>,
                f: &mut MaybeBytesFn<'_>,
            ) -> Result<(), IndexError> {
                let t = self.open_table(EMBEDDINGS)?;
                for id in ids {
                    let g = t.get(id)?;
                    f(id, g.as_ref().map(|g| g.value()))?;
                }
                Ok(())
            }

            fn scan_embeddings(&self, f: &mut BytesFn<'_>) -> Result<(), IndexError> {
                let t = self.open_table(EMBEDDINGS)?;
                for row in t.iter()? {
                    let (k, v) = row?;
                    f(k.value(), v.value())?;
                }
                Ok(())
            }

            fn set_keys(&self, table: TableDefinition<u64, ()>) -> Result<Vec<u64>, IndexError> {
                let t = self.open_table(table)?;
                let mut out = Vec::with_capacity(usize::try_from(t.len()?).unwrap_or(0));
                for row in t.iter()? {
                    out.push(row?.0.value());
                }
                Ok(out)
            }

            fn set_contains(
                &self,
                table: TableDefinition<u64, ()>,
                id: u64,
            ) -> Result<bool, IndexError> {
                Ok(self.open_table(table)?.get(id)?.is_some())
            }

            fn set_len(&self, table: TableDefinition<u64, ()>) -> Result<u64, IndexError> {
                Ok(self.open_table(table)?.len()?)
            }

            fn log_tag(&self, seq: u64) -> Result<Option<u64>, IndexError> {
                Ok(self.open_table(LOG)?.get(seq)?.map(|g| g.value().0))
            }

            fn log_after(&self, seq: u64) -> Result<Vec<u64>, IndexError> {
                let t = self.open_table(LOG)?;
                let mut out = Vec::new();
                for row in t.range((seq.saturating_add(1))..)? {
                    out.push(row?.1.value().1);
                }
                Ok(out)
            }

            fn segment_bytes(&self, meta: &Meta) -> Result<Vec<u8>, IndexError> {
                let t = self.open_table(SEGMENT)?;
                let mut out = Vec::with_capacity(usize::try_from(meta.segment_bytes).unwrap_or(0));
                for chunk in 0..meta.segment_chunks {
                    let g = t.get(chunk)?.ok_or_else(|| {
                        IndexError::Corrupt(format!("segment chunk {chunk} is missing"))
                    })?;
                    out.extend_from_slice(g.value());
                }
                if out.len() as u64 != meta.segment_bytes {
                    return Err(IndexError::Corrupt(format!(
                        "segment has {} bytes, meta says {}",
                        out.len(),
                        meta.segment_bytes
                    )));
                }
                Ok(out)
            }
        }
    };
}

impl_index_txn!(ReadTransaction);
impl_index_txn!(WriteTransaction);

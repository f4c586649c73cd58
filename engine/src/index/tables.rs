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
/// Segment id → its description `(points, tombstones, chunks, bytes)`:
/// how many faces it was built over, how many of those are tombstoned, and
/// the number and total size of its stored chunks.
pub const SEGMENTS: TableDefinition<u64, (u64, u64, u64, u64)> =
    TableDefinition::new("index_segments");
/// (segment id, chunk number) → bytes of that serialised HNSW segment
/// (concatenated in chunk order).
pub const SEGMENT_CHUNKS: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("index_segment_chunks");
/// Face → the segment whose point for it is live (current). A face has at
/// most one live position, so a face is never found in two segments.
pub const SEGMENT_FACES: TableDefinition<u64, u64> = TableDefinition::new("index_live");
/// Faces whose current embedding is scanned exactly (not in any segment).
pub const DELTA: TableDefinition<u64, ()> = TableDefinition::new("index_delta");
/// (face, segment): a point of that segment that is no longer current
/// (the face was removed or replaced since the build); searches drop it.
/// Keyed by face first, so a face's tombstones are one range.
pub const TOMBSTONES: TableDefinition<(u64, u64), ()> = TableDefinition::new("index_dead");
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
/// Meta key: unique id of the current set of segments, new at every swap
/// or repair (0: never built).
pub const META_SEGMENT_GEN: &str = "segment_gen";

/// Current value of [`META_FORMAT`]: 2 is the tiered layout (several
/// segments); 1 had one segment and is migrated by
/// [`super::create_tables`].
pub const FORMAT: u64 = 2;

/// Format-1 tables, read only to migrate them.
pub(super) mod v1 {
    use redb::TableDefinition;
    /// Chunk → bytes of the single segment.
    pub const SEGMENT: TableDefinition<u64, &[u8]> = TableDefinition::new("index_segment");
    /// Faces the single segment was built over.
    pub const SEGMENT_FACES: TableDefinition<u64, ()> = TableDefinition::new("index_segment_faces");
    /// Segment faces no longer current.
    pub const TOMBSTONES: TableDefinition<u64, ()> = TableDefinition::new("index_tombstones");
    /// Meta key: number of chunks of the single segment.
    pub const META_SEGMENT_CHUNKS: &str = "segment_chunks";
    /// Meta key: total bytes of the single segment.
    pub const META_SEGMENT_BYTES: &str = "segment_bytes";
}

/// What [`SEGMENTS`] says about one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Faces the segment was built over.
    pub points: u64,
    /// How many of them are tombstoned.
    pub tombstones: u64,
    /// Stored chunks.
    pub chunks: u64,
    /// Serialised size.
    pub bytes: u64,
}

impl SegmentInfo {
    /// Points that are still live.
    pub fn live(&self) -> u64 {
        self.points.saturating_sub(self.tombstones)
    }

    /// The [`SEGMENTS`] value.
    pub(super) fn to_tuple(self) -> (u64, u64, u64, u64) {
        (self.points, self.tombstones, self.chunks, self.bytes)
    }

    /// From a [`SEGMENTS`] value.
    pub(super) fn from_tuple((points, tombstones, chunks, bytes): (u64, u64, u64, u64)) -> Self {
        Self {
            points,
            tombstones,
            chunks,
            bytes,
        }
    }
}

/// Version of the index state a transaction sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Sequence number of the last change.
    pub seq: u64,
    /// Unique tag of the last change.
    pub tag: u64,
    /// Id of the current set of segments, new at every swap or repair.
    pub segment_gen: u64,
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
    /// All delta faces, in id order.
    #[doc(hidden)]
    fn delta_faces(&self) -> Result<Vec<u64>, IndexError>;
    /// Whether `id` is in the delta.
    #[doc(hidden)]
    fn in_delta(&self, id: u64) -> Result<bool, IndexError>;
    /// Number of delta faces.
    #[doc(hidden)]
    fn delta_len(&self) -> Result<u64, IndexError>;
    /// Every segment, in id order.
    #[doc(hidden)]
    fn segments(&self) -> Result<Vec<(u64, SegmentInfo)>, IndexError>;
    /// Every live segment position (face, segment), in face order.
    #[doc(hidden)]
    fn live_positions(&self) -> Result<Vec<(u64, u64)>, IndexError>;
    /// Every tombstone (face, segment), in face order.
    #[doc(hidden)]
    fn tombstones(&self) -> Result<Vec<(u64, u64)>, IndexError>;
    /// The segments in which `face` has a tombstone.
    #[doc(hidden)]
    fn tombstones_of(&self, face: u64) -> Result<Vec<u64>, IndexError>;
    /// Tag of log entry `seq`, when it is still in the log.
    #[doc(hidden)]
    fn log_tag(&self, seq: u64) -> Result<Option<u64>, IndexError>;
    /// Face ids of log entries after `seq`, in order.
    #[doc(hidden)]
    fn log_after(&self, seq: u64) -> Result<Vec<u64>, IndexError>;
    /// The concatenated chunks of one segment.
    #[doc(hidden)]
    fn segment_bytes(&self, id: u64, info: &SegmentInfo) -> Result<Vec<u8>, IndexError>;
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

            fn delta_faces(&self) -> Result<Vec<u64>, IndexError> {
                let t = self.open_table(DELTA)?;
                let mut out = Vec::with_capacity(usize::try_from(t.len()?).unwrap_or(0));
                for row in t.iter()? {
                    out.push(row?.0.value());
                }
                Ok(out)
            }

            fn in_delta(&self, id: u64) -> Result<bool, IndexError> {
                Ok(self.open_table(DELTA)?.get(id)?.is_some())
            }

            fn delta_len(&self) -> Result<u64, IndexError> {
                Ok(self.open_table(DELTA)?.len()?)
            }

            fn segments(&self) -> Result<Vec<(u64, SegmentInfo)>, IndexError> {
                let t = self.open_table(SEGMENTS)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, v) = row?;
                    out.push((k.value(), SegmentInfo::from_tuple(v.value())));
                }
                Ok(out)
            }

            fn live_positions(&self) -> Result<Vec<(u64, u64)>, IndexError> {
                let t = self.open_table(SEGMENT_FACES)?;
                let mut out = Vec::with_capacity(usize::try_from(t.len()?).unwrap_or(0));
                for row in t.iter()? {
                    let (k, v) = row?;
                    out.push((k.value(), v.value()));
                }
                Ok(out)
            }

            fn tombstones(&self) -> Result<Vec<(u64, u64)>, IndexError> {
                let t = self.open_table(TOMBSTONES)?;
                let mut out = Vec::with_capacity(usize::try_from(t.len()?).unwrap_or(0));
                for row in t.iter()? {
                    out.push(row?.0.value());
                }
                Ok(out)
            }

            fn tombstones_of(&self, face: u64) -> Result<Vec<u64>, IndexError> {
                let t = self.open_table(TOMBSTONES)?;
                let mut out = Vec::new();
                for row in t.range((face, 0)..=(face, u64::MAX))? {
                    out.push(row?.0.value().1);
                }
                Ok(out)
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

            fn segment_bytes(&self, id: u64, info: &SegmentInfo) -> Result<Vec<u8>, IndexError> {
                let t = self.open_table(SEGMENT_CHUNKS)?;
                let mut out = Vec::with_capacity(usize::try_from(info.bytes).unwrap_or(0));
                for chunk in 0..info.chunks {
                    let g = t.get((id, chunk))?.ok_or_else(|| {
                        IndexError::Corrupt(format!("chunk {chunk} of segment {id} is missing"))
                    })?;
                    out.extend_from_slice(g.value());
                }
                if out.len() as u64 != info.bytes {
                    return Err(IndexError::Corrupt(format!(
                        "segment {id} has {} bytes, its description says {}",
                        out.len(),
                        info.bytes
                    )));
                }
                Ok(out)
            }
        }
    };
}

impl_index_txn!(ReadTransaction);
impl_index_txn!(WriteTransaction);

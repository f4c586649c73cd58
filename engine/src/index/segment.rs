//! The HNSW segment: building, (de)serialising, chunked storage and search.

use super::IndexError;
use super::tables::{
    META, META_SEGMENT_BYTES, META_SEGMENT_CHUNKS, META_SEGMENT_GEN, SEGMENT, SEGMENT_FACES,
};
use super::vector::QPoint;
use instant_distance::{Builder, HnswMap, Search};
use redb::WriteTransaction;

/// Size of one stored segment chunk. Keeps single redb values moderate.
pub const SEGMENT_CHUNK_BYTES: usize = 8 << 20;

/// A loaded segment: the HNSW map from quantised points to face ids.
pub struct Segment {
    map: HnswMap<QPoint, u64>,
}

impl Segment {
    /// Builds a segment over `points` labelled with `ids` (same length).
    pub fn build(
        ids: Vec<u64>,
        points: Vec<QPoint>,
        ef_construction: usize,
        ef_search: usize,
        heuristic: bool,
        seed: u64,
    ) -> Self {
        let builder = Builder::default()
            .ef_construction(ef_construction)
            .ef_search(ef_search)
            .select_heuristic(heuristic.then(instant_distance::Heuristic::default))
            .seed(seed);
        Self {
            map: builder.build(points, ids),
        }
    }

    /// Decodes bytes written by [`Segment::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IndexError> {
        Ok(Self {
            map: postcard::from_bytes(bytes)?,
        })
    }

    /// Encodes the segment.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        Ok(postcard::to_allocvec(&self.map)?)
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.map.values.len()
    }

    /// The face ids and quantised points, in point order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &QPoint)> {
        self.map
            .iter()
            .map(|(pid, p)| (self.map.values[pid.into_inner() as usize], p))
    }

    /// Approximate nearest neighbours: (face, approximate similarity), at
    /// most the build's `ef_search` of them, nearest first.
    pub fn search(&self, query: &QPoint, search: &mut Search) -> Vec<(u64, f32)> {
        self.map
            .search(query, search)
            .map(|item| (*item.value, 1.0 - item.distance))
            .collect()
    }

    /// Approximate similarity of every point (exhaustive).
    pub fn scan(&self, query: &QPoint) -> Vec<(u64, f32)> {
        self.entries()
            .map(|(id, p)| (id, query.approx_dot(p)))
            .collect()
    }
}

/// Replaces the stored segment (chunks, face list, meta) with `bytes` over
/// `ids`; `gen` 0 with no ids stores "no segment".
pub fn store(
    txn: &WriteTransaction,
    bytes: &[u8],
    ids: &[u64],
    segment_gen: u64,
) -> Result<(), IndexError> {
    txn.delete_table(SEGMENT)?;
    txn.delete_table(SEGMENT_FACES)?;
    let mut chunks = txn.open_table(SEGMENT)?;
    let mut n = 0u64;
    for chunk in bytes.chunks(SEGMENT_CHUNK_BYTES) {
        chunks.insert(n, chunk)?;
        n += 1;
    }
    let mut faces = txn.open_table(SEGMENT_FACES)?;
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    for id in sorted {
        faces.insert(id, ())?;
    }
    let mut meta = txn.open_table(META)?;
    meta.insert(META_SEGMENT_GEN, segment_gen)?;
    meta.insert(META_SEGMENT_CHUNKS, n)?;
    meta.insert(META_SEGMENT_BYTES, bytes.len() as u64)?;
    Ok(())
}

//! The HNSW segment: building, (de)serialising, chunked storage and search.

use super::IndexError;
use super::tables::{SEGMENT_CHUNKS, SEGMENTS, SegmentInfo};
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

    /// Decodes bytes written by [`Segment::to_bytes`]; with `ef_search`,
    /// the search breadth stored at build time is replaced.
    pub fn from_bytes(bytes: &[u8], ef_search: Option<usize>) -> Result<Self, IndexError> {
        let map = match ef_search {
            None => postcard::from_bytes(bytes)?,
            Some(ef) => postcard::from_bytes(&with_ef_search(bytes, ef)?)?,
        };
        Ok(Self { map })
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

/// Rewrites the search breadth of an encoded segment.
///
/// instant-distance fixes `ef_search` at build time and offers no setter.
/// Its postcard encoding starts with that value (`HnswMap { hnsw: Hnsw {
/// ef_search, .. }, .. }`, a LEB128 varint), so it is swapped in the bytes;
/// the unit test `ef_search_override_takes_effect` guards the layout.
fn with_ef_search(bytes: &[u8], ef: usize) -> Result<Vec<u8>, IndexError> {
    let len = bytes
        .iter()
        .take(10)
        .position(|b| b & 0x80 == 0)
        .ok_or_else(|| IndexError::Corrupt("segment does not start with a varint".into()))?
        + 1;
    let mut out = postcard::to_allocvec(&ef)?;
    out.extend_from_slice(&bytes[len..]);
    Ok(out)
}

/// Stores a new segment's chunks and description under `id`, with
/// `tombstones` of its `points` already dead; returns the description.
pub fn store(
    txn: &WriteTransaction,
    id: u64,
    bytes: &[u8],
    points: u64,
    tombstones: u64,
) -> Result<SegmentInfo, IndexError> {
    let mut chunks = txn.open_table(SEGMENT_CHUNKS)?;
    let mut n = 0u64;
    for chunk in bytes.chunks(SEGMENT_CHUNK_BYTES) {
        chunks.insert((id, n), chunk)?;
        n += 1;
    }
    let info = SegmentInfo {
        points,
        tombstones,
        chunks: n,
        bytes: bytes.len() as u64,
    };
    txn.open_table(SEGMENTS)?.insert(id, info.to_tuple())?;
    Ok(info)
}

/// Deletes a segment's chunks and description (not its face positions).
pub fn delete(txn: &WriteTransaction, id: u64) -> Result<(), IndexError> {
    let mut chunks = txn.open_table(SEGMENT_CHUNKS)?;
    chunks.retain_in((id, 0)..=(id, u64::MAX), |_, _| false)?;
    txn.open_table(SEGMENTS)?.remove(id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::synthetic::SynthRng;

    #[test]
    fn ef_search_override_takes_effect() {
        let mut rng = SynthRng::new(3);
        let points: Vec<QPoint> = (0..300).map(|_| QPoint::quantize(&rng.unit())).collect();
        let query = points[0].clone();
        let built = Segment::build((0..300).collect(), points, 16, 8, false, 1);
        let bytes = built.to_bytes().expect("encode");
        let mut search = Search::default();
        assert_eq!(
            Segment::from_bytes(&bytes, None)
                .expect("decode")
                .search(&query, &mut search)
                .len(),
            8
        );
        let wide = Segment::from_bytes(&bytes, Some(200)).expect("decode");
        let hits = wide.search(&query, &mut search);
        assert_eq!(hits.len(), 200);
        assert_eq!(hits[0].0, 0, "a point is its own nearest neighbour");
        assert_eq!(wide.len(), 300);
    }
}

//! Temporary exact-scan stand-in for the vector index (replaced by the HNSW
//! segment + delta + tombstones index on merge). Same contract.

use crate::types::{EMBEDDING_DIM, Embedding, FaceId};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

const EMBEDDINGS: TableDefinition<u64, &[u8]> = TableDefinition::new("embeddings");

/// Index errors.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] redb::Error),
    /// Wrong dimension or not finite.
    #[error("invalid embedding: {0}")]
    InvalidEmbedding(String),
}

impl From<redb::TableError> for IndexError {
    fn from(e: redb::TableError) -> Self {
        Self::Storage(e.into())
    }
}
impl From<redb::StorageError> for IndexError {
    fn from(e: redb::StorageError) -> Self {
        Self::Storage(e.into())
    }
}

/// Transactions the index can read from.
pub trait ReadTxn {
    /// Reads embeddings table.
    fn read_embeddings(&self, f: &mut dyn FnMut(FaceId, &[f32])) -> Result<(), IndexError>;
    /// One embedding.
    fn read_embedding(&self, face: FaceId) -> Result<Option<Embedding>, IndexError>;
}

fn decode(bytes: &[u8]) -> Embedding {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl ReadTxn for redb::ReadTransaction {
    fn read_embeddings(&self, f: &mut dyn FnMut(FaceId, &[f32])) -> Result<(), IndexError> {
        let t = match self.open_table(EMBEDDINGS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for e in t.iter()? {
            let (k, v) = e?;
            f(FaceId(k.value()), &decode(v.value()));
        }
        Ok(())
    }
    fn read_embedding(&self, face: FaceId) -> Result<Option<Embedding>, IndexError> {
        let t = self.open_table(EMBEDDINGS)?;
        Ok(t.get(face.0)?.map(|v| decode(v.value())))
    }
}
impl ReadTxn for WriteTransaction {
    fn read_embeddings(&self, f: &mut dyn FnMut(FaceId, &[f32])) -> Result<(), IndexError> {
        let t = self.open_table(EMBEDDINGS)?;
        for e in t.iter()? {
            let (k, v) = e?;
            f(FaceId(k.value()), &decode(v.value()));
        }
        Ok(())
    }
    fn read_embedding(&self, face: FaceId) -> Result<Option<Embedding>, IndexError> {
        let t = self.open_table(EMBEDDINGS)?;
        Ok(t.get(face.0)?.map(|v| decode(v.value())))
    }
}

/// Creates tables.
pub fn create_tables(txn: &WriteTransaction) -> Result<(), IndexError> {
    txn.open_table(EMBEDDINGS)?;
    Ok(())
}

/// Insert or replace.
pub fn put(txn: &WriteTransaction, face: FaceId, embedding: &[f32]) -> Result<(), IndexError> {
    if embedding.len() != EMBEDDING_DIM || !embedding.iter().all(|v| v.is_finite()) {
        return Err(IndexError::InvalidEmbedding("bad".into()));
    }
    let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
    txn.open_table(EMBEDDINGS)?
        .insert(face.0, bytes.as_slice())?;
    Ok(())
}

/// Remove.
pub fn remove(txn: &WriteTransaction, face: FaceId) -> Result<bool, IndexError> {
    Ok(txn.open_table(EMBEDDINGS)?.remove(face.0)?.is_some())
}

/// One embedding.
pub fn get(txn: &impl ReadTxn, face: FaceId) -> Result<Option<Embedding>, IndexError> {
    txn.read_embedding(face)
}

/// Report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexReport {
    /// Faces indexed.
    pub indexed: u64,
    /// Problems.
    pub problems: Vec<String>,
}

/// Check.
pub fn check(txn: &redb::ReadTransaction) -> Result<IndexReport, IndexError> {
    let t = txn.open_table(EMBEDDINGS)?;
    Ok(IndexReport {
        indexed: t.len()?,
        problems: vec![],
    })
}

/// Repair.
pub fn repair(_txn: &WriteTransaction) -> Result<(), IndexError> {
    Ok(())
}

/// Searcher.
#[derive(Default)]
pub struct VectorIndex;

impl VectorIndex {
    /// New.
    pub fn new() -> Self {
        Self
    }
    /// Exact search.
    pub fn search(
        &self,
        txn: &impl ReadTxn,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(FaceId, f32)>, IndexError> {
        let mut all = Vec::new();
        txn.read_embeddings(&mut |f, e| {
            all.push((f, e.iter().zip(query).map(|(a, b)| a * b).sum::<f32>()));
        })?;
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        Ok(all)
    }
}

/// Calls `f` for every face with an embedding.
pub fn for_each_embedded(txn: &impl ReadTxn, f: &mut dyn FnMut(FaceId)) -> Result<(), IndexError> {
    txn.read_embeddings(&mut |id, _| f(id))
}

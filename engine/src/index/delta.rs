//! The delta as a contiguous row-major matrix, scanned exactly.

use super::vector::dot;
use crate::types::EMBEDDING_DIM;
use std::collections::HashMap;

/// Unit vectors of the delta faces, one row each.
#[derive(Default)]
pub struct DeltaMatrix {
    ids: Vec<u64>,
    rows: Vec<f32>,
    pos: HashMap<u64, usize>,
}

impl DeltaMatrix {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.rows.clear();
        self.pos.clear();
    }

    /// Inserts or replaces the row of `id`.
    pub fn upsert(&mut self, id: u64, v: &[f32]) {
        debug_assert_eq!(v.len(), EMBEDDING_DIM);
        if let Some(&i) = self.pos.get(&id) {
            self.rows[i * EMBEDDING_DIM..(i + 1) * EMBEDDING_DIM].copy_from_slice(v);
        } else {
            self.pos.insert(id, self.ids.len());
            self.ids.push(id);
            self.rows.extend_from_slice(v);
        }
    }

    /// Removes the row of `id` (swapping the last row into its place).
    pub fn remove(&mut self, id: u64) {
        let Some(i) = self.pos.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        if i != last {
            let moved = self.ids[last];
            self.ids[i] = moved;
            self.rows.copy_within(
                last * EMBEDDING_DIM..(last + 1) * EMBEDDING_DIM,
                i * EMBEDDING_DIM,
            );
            self.pos.insert(moved, i);
        }
        self.ids.pop();
        self.rows.truncate(last * EMBEDDING_DIM);
    }

    /// The `k` rows most similar to `query` (exact), unsorted.
    pub fn top_k(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let mut scored: Vec<(u64, f32)> = self
            .ids
            .iter()
            .zip(self.rows.chunks_exact(EMBEDDING_DIM))
            .map(|(&id, row)| (id, dot(query, row)))
            .collect();
        if k < scored.len() {
            scored.select_nth_unstable_by(k, super::searcher::by_rank);
            scored.truncate(k);
        }
        scored
    }
}

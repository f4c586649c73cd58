//! Vector arithmetic: validation, normalisation, the byte encoding of
//! embeddings, i8 quantisation and the dot products the index spends its
//! time in.
//!
//! The dot products are written as fixed-width lane accumulators over
//! `chunks_exact`, a shape LLVM auto-vectorises on every target (SSE2 on
//! baseline x86-64) without `unsafe` or fast-math flags.

use crate::types::{EMBEDDING_DIM, Embedding};
use serde::{Deserialize, Serialize};

/// Bytes of one stored embedding: [`EMBEDDING_DIM`] little-endian `f32`.
pub const EMBEDDING_BYTES: usize = EMBEDDING_DIM * 4;

/// How far from 1 a vector's L2 norm may be and still count as unit length
/// (for [`crate::index::check`]).
pub const UNIT_NORM_TOLERANCE: f32 = 1e-3;

/// Smallest L2 norm accepted as a direction; shorter vectors are rejected.
pub const MIN_NORM: f32 = 1e-6;

/// Lanes of the f32 accumulator.
const F32_LANES: usize = 16;
/// Lanes of the i8 accumulator.
const I8_LANES: usize = 32;

/// Why a vector was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VectorError {
    /// Not [`EMBEDDING_DIM`] values.
    #[error("expected {EMBEDDING_DIM} values, got {0}")]
    WrongDimension(usize),
    /// A NaN or infinite component.
    #[error("component {0} is not finite")]
    NotFinite(usize),
    /// (Nearly) the zero vector: it has no direction.
    #[error("the vector has (nearly) zero length")]
    ZeroLength,
}

/// Checks dimension and finiteness and returns the vector scaled to unit
/// length.
pub fn normalized(v: &[f32]) -> Result<Embedding, VectorError> {
    if v.len() != EMBEDDING_DIM {
        return Err(VectorError::WrongDimension(v.len()));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::NotFinite(i));
    }
    // Accumulate in f64 so huge but finite components cannot overflow.
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() || norm < f64::from(MIN_NORM) {
        return Err(VectorError::ZeroLength);
    }
    Ok(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect())
}

/// Dot product of two equally long f32 slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; F32_LANES];
    let ca = a.chunks_exact(F32_LANES);
    let cb = b.chunks_exact(F32_LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..F32_LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Dot product of two equally long i8 slices, exact in i32.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0i32; I8_LANES];
    let ca = a.chunks_exact(I8_LANES);
    let cb = b.chunks_exact(I8_LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..I8_LANES {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let tail: i32 = ra
        .iter()
        .zip(rb)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    acc.iter().sum::<i32>() + tail
}

/// Encodes an embedding as little-endian `f32` bytes.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes bytes written by [`to_bytes`]; `None` unless exactly
/// [`EMBEDDING_BYTES`] long.
pub fn from_bytes(bytes: &[u8]) -> Option<Embedding> {
    if bytes.len() != EMBEDDING_BYTES {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Appends the decoded embedding to `out` (no allocation per row); false
/// when `bytes` has the wrong length.
pub fn extend_from_bytes(out: &mut Vec<f32>, bytes: &[u8]) -> bool {
    if bytes.len() != EMBEDDING_BYTES {
        return false;
    }
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
    true
}

/// A unit vector quantised to one signed byte per component with its own
/// scale: `x[i] ≈ scale * q[i]`. A quarter of the f32 size, and its dot
/// product runs on 8-bit lanes. Used as the HNSW point type; candidates are
/// re-ranked with the exact f32 embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QPoint {
    /// Value of one quantisation step.
    pub scale: f32,
    /// Quantised components.
    pub q: Box<[i8]>,
}

impl QPoint {
    /// Quantises a (unit) vector: the largest component maps to ±127.
    pub fn quantize(v: &[f32]) -> Self {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if max == 0.0 || !max.is_finite() {
            return Self {
                scale: 0.0,
                q: vec![0; v.len()].into_boxed_slice(),
            };
        }
        let scale = max / 127.0;
        let inv = 127.0 / max;
        let q = v
            .iter()
            .map(|x| (x * inv).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Self { scale, q }
    }

    /// Approximate dot product with another quantised point.
    pub fn approx_dot(&self, other: &Self) -> f32 {
        dot_i8(&self.q, &other.q) as f32 * self.scale * other.scale
    }
}

impl instant_distance::Point for QPoint {
    /// Cosine distance `1 - cos`, the points being (approximately) unit
    /// vectors.
    fn distance(&self, other: &Self) -> f32 {
        1.0 - self.approx_dot(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(seed: f32) -> Vec<f32> {
        (0..EMBEDDING_DIM)
            .map(|i| ((i as f32 + seed) * 0.37).sin())
            .collect()
    }

    #[test]
    fn dot_matches_scalar() {
        let a = ramp(1.0);
        let b = ramp(2.5);
        let scalar: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!((f64::from(dot(&a, &b)) - scalar).abs() < 1e-3);
        let odd = &a[..37];
        let odd_b = &b[..37];
        let s: f32 = odd.iter().zip(odd_b).map(|(x, y)| x * y).sum();
        assert!((dot(odd, odd_b) - s).abs() < 1e-4);
    }

    #[test]
    fn i8_dot_is_exact() {
        let a: Vec<i8> = (0..70).map(|i| (i * 7 % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..70).map(|i| (i * 13 % 255 - 127) as i8).collect();
        let scalar: i32 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| i32::from(x) * i32::from(y))
            .sum();
        assert_eq!(dot_i8(&a, &b), scalar);
    }

    #[test]
    fn normalize_validates() {
        assert_eq!(normalized(&[1.0; 3]), Err(VectorError::WrongDimension(3)));
        let mut v = ramp(0.0);
        v[5] = f32::NAN;
        assert_eq!(normalized(&v), Err(VectorError::NotFinite(5)));
        assert_eq!(
            normalized(&[0.0; EMBEDDING_DIM]),
            Err(VectorError::ZeroLength)
        );
        let n = normalized(&ramp(3.0)).expect("valid");
        assert!((dot(&n, &n) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn quantized_dot_is_close() {
        let a = normalized(&ramp(1.0)).expect("valid");
        let b = normalized(&ramp(1.3)).expect("valid");
        let (qa, qb) = (QPoint::quantize(&a), QPoint::quantize(&b));
        assert!((qa.approx_dot(&qb) - dot(&a, &b)).abs() < 0.01);
    }

    #[test]
    fn bytes_round_trip() {
        let v = ramp(4.0);
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v));
        assert_eq!(from_bytes(&[0; 7]), None);
    }
}

//! The one centroid implementation: the L2-normalised mean of unit
//! embeddings. Everything that needs "the centre of these faces" calls
//! [`centroid`].

use crate::types::Embedding;

/// The normalised mean of `embeddings`; `None` when there are none or they
/// cancel out.
pub fn centroid<'a>(embeddings: impl IntoIterator<Item = &'a [f32]>) -> Option<Embedding> {
    let mut sum: Option<Vec<f32>> = None;
    for e in embeddings {
        let acc = sum.get_or_insert_with(|| vec![0.0; e.len()]);
        for (a, v) in acc.iter_mut().zip(e) {
            *a += v;
        }
    }
    let mut sum = sum?;
    let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
    if !norm.is_finite() || norm <= f32::EPSILON {
        return None;
    }
    for v in &mut sum {
        *v /= norm;
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::centroid;

    #[test]
    fn mean_direction_is_normalised() {
        let a = [1.0, 0.0];
        let b = [0.0, 1.0];
        let c = centroid([&a[..], &b[..]]).expect("two vectors have a centroid");
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((c[0] - h).abs() < 1e-6 && (c[1] - h).abs() < 1e-6, "{c:?}");
        assert_eq!(centroid(std::iter::empty::<&[f32]>()), None);
        assert_eq!(centroid([&[1.0, 0.0][..], &[-1.0, 0.0][..]]), None);
    }
}

//! The one centroid implementation: the L2-normalised mean of unit
//! embeddings. Everything that needs "the centre of these faces" calls
//! [`centroid`], or [`robust_centroid`] when outliers (a mislabelled face,
//! a bad crop) must not pull the centre.

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

/// The centroid of `embeddings` after trimming outliers: the centroid of
/// all is computed, the `trim_fraction` of faces least similar to it
/// (at least one face is always kept, ties broken by position) are dropped,
/// and the centroid of the rest is returned; this is repeated twice so the
/// trimmed set follows the moved centre. Returns the centre and the indices
/// (into `embeddings`) of the faces kept, ascending. `None` as for
/// [`centroid`].
pub fn robust_centroid(
    embeddings: &[&[f32]],
    trim_fraction: f32,
) -> Option<(Embedding, Vec<usize>)> {
    let n = embeddings.len();
    let drop = ((n as f32) * trim_fraction.clamp(0.0, 0.5)).floor() as usize;
    let drop = drop.min(n.saturating_sub(1));
    let mut kept: Vec<usize> = (0..n).collect();
    let mut centre = centroid(embeddings.iter().copied())?;
    if drop == 0 {
        return Some((centre, kept));
    }
    for _ in 0..2 {
        let mut ranked: Vec<(usize, f32)> = embeddings
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.iter().zip(&centre).map(|(a, b)| a * b).sum::<f32>()))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        kept = ranked[..n - drop].iter().map(|&(i, _)| i).collect();
        kept.sort_unstable();
        centre = centroid(kept.iter().map(|&i| embeddings[i]))?;
    }
    Some((centre, kept))
}

#[cfg(test)]
mod tests {
    use super::{centroid, robust_centroid};

    #[test]
    fn trimming_ignores_an_outlier() {
        let a = [1.0, 0.0];
        let b = [0.995, 0.0998];
        let c = [0.995, -0.0998];
        let out = [0.0, 1.0];
        let all = [&a[..], &b[..], &c[..], &out[..]];
        let (centre, kept) = robust_centroid(&all, 0.25).expect("has a centre");
        assert_eq!(kept, vec![0, 1, 2]);
        assert!(
            (centre[0] - 1.0).abs() < 1e-3 && centre[1].abs() < 1e-3,
            "{centre:?}"
        );
        let plain = centroid(all).expect("has a centre");
        assert!(plain[1] > 0.2, "the plain mean is pulled: {plain:?}");
    }

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

//! Face alignment: the least-squares similarity transform (Umeyama) of the
//! five landmarks onto the standard ArcFace 112×112 template, and a bilinear
//! warp that follows OpenCV's `warpAffine` (1/32-pixel fixed point, black
//! border), as the reference pipeline does.

use crate::types::Landmarks;

use super::decode::DecodedImage;

/// Side of the aligned face crop.
pub const ALIGNED_SIZE: usize = 112;

/// Where the five landmarks go in the 112×112 crop (insightface's template).
pub const ARCFACE_TEMPLATE: Landmarks = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A 2×3 affine matrix `[[a, b, tx], [c, d, ty]]` mapping image to crop.
pub type Affine = [[f64; 3]; 2];

/// Least-squares similarity (rotation, uniform scale, translation) taking
/// `src` points onto `dst` points: Umeyama's method, which in 2-D reduces to
/// one complex ratio. `None` when the source points coincide.
#[allow(clippy::many_single_char_names)]
pub fn similarity(src: &Landmarks, dst: &Landmarks) -> Option<Affine> {
    let n = src.len() as f64;
    let mean = |p: &Landmarks| {
        let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| {
            (x + f64::from(q[0]), y + f64::from(q[1]))
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    // a = Σ conj(s) d / Σ |s|², with s, d the centred points as complex numbers.
    let (mut re, mut im, mut var) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
        let (dx, dy) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
        re += sx * dx + sy * dy;
        im += sx * dy - sy * dx;
        var += sx * sx + sy * sy;
    }
    if var <= f64::EPSILON || !re.is_finite() || !im.is_finite() {
        return None;
    }
    let (a, b) = (re / var, im / var);
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    Some([[a, -b, tx], [b, a, ty]])
}

/// Inverse of a similarity/affine matrix; `None` if singular.
#[allow(clippy::many_single_char_names)]
pub fn invert(m: &Affine) -> Option<Affine> {
    let [[a, b, tx], [c, d, ty]] = *m;
    let det = a * d - b * c;
    if det.abs() < 1e-12 {
        return None;
    }
    let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
    Some([
        [ia, ib, -(ia * tx + ib * ty)],
        [ic, id, -(ic * tx + id * ty)],
    ])
}

/// OpenCV's bilinear weights for a 1/32-pixel offset, 15-bit fixed point,
/// summing exactly to 32768.
fn weights(fx: usize, fy: usize) -> [i32; 4] {
    let (x, y) = (fx as f32 / 32.0, fy as f32 / 32.0);
    let f = [(1.0 - x) * (1.0 - y), x * (1.0 - y), (1.0 - x) * y, x * y];
    let mut w = f.map(|v| (v * 32768.0).round_ties_even() as i32);
    let diff: i32 = w.iter().sum::<i32>() - 32768;
    // The remainder goes to the first largest weight (the WGSL shader agrees).
    let mut imax = 0;
    for i in 1..4 {
        if w[i] > w[imax] {
            imax = i;
        }
    }
    w[imax] -= diff;
    w
}

/// Warps the face into a 112×112 RGB8 crop (`m` maps image to crop).
#[allow(clippy::many_single_char_names)]
pub fn warp_u8(img: &DecodedImage, m: &Affine) -> Option<Vec<u8>> {
    let inv = invert(m)?;
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    let mut out = vec![0u8; ALIGNED_SIZE * ALIGNED_SIZE * 3];
    let round = |v: f64| v.round_ties_even() as i64;
    for y in 0..ALIGNED_SIZE {
        let x0 = round((inv[0][1] * y as f64 + inv[0][2]) * 1024.0) + 16;
        let y0 = round((inv[1][1] * y as f64 + inv[1][2]) * 1024.0) + 16;
        for x in 0..ALIGNED_SIZE {
            let xx = (x0 + round(inv[0][0] * x as f64 * 1024.0)) >> 5;
            let yy = (y0 + round(inv[1][0] * x as f64 * 1024.0)) >> 5;
            let (sx, sy) = (xx >> 5, yy >> 5);
            let wts = weights((xx & 31) as usize, (yy & 31) as usize);
            let o = (y * ALIGNED_SIZE + x) * 3;
            for c in 0..3 {
                let px = |px: i64, py: i64| -> i32 {
                    if px < 0 || py < 0 || px >= w || py >= h {
                        0
                    } else {
                        i32::from(img.rgb[((py * w + px) * 3) as usize + c])
                    }
                };
                let v = px(sx, sy) * wts[0]
                    + px(sx + 1, sy) * wts[1]
                    + px(sx, sy + 1) * wts[2]
                    + px(sx + 1, sy + 1) * wts[3];
                out[o + c] = ((v + (1 << 14)) >> 15).clamp(0, 255) as u8;
            }
        }
    }
    Some(out)
}

/// Aligns a face and writes it normalised for ArcFace, planar RGB,
/// `(p - 127.5) / 127.5`, into `out` (`3 * 112 * 112` floats).
pub fn align_into(img: &DecodedImage, landmarks: &Landmarks, out: &mut [f32]) -> bool {
    let Some(m) = similarity(landmarks, &ARCFACE_TEMPLATE) else {
        return false;
    };
    let Some(crop) = warp_u8(img, &m) else {
        return false;
    };
    let plane = ALIGNED_SIZE * ALIGNED_SIZE;
    for (i, px) in crop.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) - 127.5) / 127.5;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, tx, ty) = (1.7f64, 0.3f64, 12.0, -4.0);
        let src = ARCFACE_TEMPLATE;
        let mut dst = [[0.0f32; 2]; 5];
        for (d, p) in dst.iter_mut().zip(&src) {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            d[0] = (s * (th.cos() * x - th.sin() * y) + tx) as f32;
            d[1] = (s * (th.sin() * x + th.cos() * y) + ty) as f32;
        }
        let m = similarity(&src, &dst).expect("non-degenerate");
        assert!((m[0][0] - s * th.cos()).abs() < 1e-4);
        assert!((m[1][0] - s * th.sin()).abs() < 1e-4);
        assert!((m[0][2] - tx).abs() < 1e-3 && (m[1][2] - ty).abs() < 1e-3);
        let inv = invert(&m).expect("invertible");
        let back = inv[0][0] * m[0][2] + inv[0][1] * m[1][2] + inv[0][2];
        assert!(back.abs() < 1e-6);
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let (w, h) = (120u32, 120u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let img = DecodedImage::from_rgb(w, h, rgb.clone()).expect("sizes match");
        let m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let crop = warp_u8(&img, &m).expect("invertible");
        for y in 0..ALIGNED_SIZE {
            for x in 0..ALIGNED_SIZE {
                for c in 0..3 {
                    assert_eq!(
                        crop[(y * ALIGNED_SIZE + x) * 3 + c],
                        rgb[(y * w as usize + x) * 3 + c]
                    );
                }
            }
        }
    }

    #[test]
    fn degenerate_landmarks_are_refused() {
        assert!(similarity(&[[5.0, 5.0]; 5], &ARCFACE_TEMPLATE).is_none());
    }
}

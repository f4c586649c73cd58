//! SCRFD pre- and post-processing: the letterbox into the detector's input,
//! decoding of the three strides (two anchors per cell) and non-maximum
//! suppression. Pixel arithmetic follows OpenCV's `resize` (`INTER_LINEAR`,
//! fixed point), which the reference pipeline uses, so inputs agree bit for
//! bit in most pixels.

use crate::types::{BBox, Landmarks};

use super::decode::DecodedImage;

/// Detector score threshold (insightface's default).
pub const SCORE_THRESHOLD: f32 = 0.5;
/// IoU above which the weaker of two overlapping detections is dropped.
pub const NMS_IOU: f32 = 0.4;
/// Strides of SCRFD's three feature maps.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Anchors per feature-map cell.
pub const ANCHORS: usize = 2;

/// One detection before embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Box in image pixels.
    pub bbox: BBox,
    /// Five landmarks in image pixels.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
}

/// How an image was placed into the detector input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// Resized width inside the input (top-left aligned).
    pub new_w: usize,
    /// Resized height inside the input.
    pub new_h: usize,
    /// Input pixels per image pixel.
    pub scale: f32,
}

/// insightface's letterbox geometry for an image of `w`×`h` into `det_w`×`det_h`.
pub fn letterbox_geometry(w: u32, h: u32, det_w: usize, det_h: usize) -> Letterbox {
    let im_ratio = f64::from(h) / f64::from(w);
    let model_ratio = det_h as f64 / det_w as f64;
    let (new_w, new_h) = if im_ratio > model_ratio {
        let nh = det_h;
        ((nh as f64 / im_ratio) as usize, nh)
    } else {
        let nw = det_w;
        (nw, (nw as f64 * im_ratio) as usize)
    };
    let new_w = new_w.clamp(1, det_w);
    let new_h = new_h.clamp(1, det_h);
    Letterbox {
        new_w,
        new_h,
        scale: (new_h as f64 / f64::from(h)) as f32,
    }
}

/// Writes the letterboxed, normalised image as planar RGB into `out`
/// (`3 * det_h * det_w` floats, `(p - 127.5) / 128`, padding = black).
pub fn letterbox_into(
    img: &DecodedImage,
    det_w: usize,
    det_h: usize,
    out: &mut [f32],
) -> Letterbox {
    let lb = letterbox_geometry(img.width, img.height, det_w, det_h);
    let resized = resize_linear_u8(
        &img.rgb,
        img.width as usize,
        img.height as usize,
        lb.new_w,
        lb.new_h,
    );
    let plane = det_w * det_h;
    let pad = (0.0 - 127.5) / 128.0;
    out[..3 * plane].fill(pad);
    for y in 0..lb.new_h {
        let row = &resized[y * lb.new_w * 3..(y + 1) * lb.new_w * 3];
        for (x, px) in row.chunks_exact(3).enumerate() {
            let o = y * det_w + x;
            out[o] = (f32::from(px[0]) - 127.5) / 128.0;
            out[plane + o] = (f32::from(px[1]) - 127.5) / 128.0;
            out[2 * plane + o] = (f32::from(px[2]) - 127.5) / 128.0;
        }
    }
    lb
}

/// Per-axis tables of OpenCV's linear resize: source index and 11-bit weights.
fn linear_table(src: usize, dst: usize) -> Vec<(usize, i32, i32)> {
    // OpenCV: scale = 1 / (dst / src), in double precision.
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut frac = f - s as f32;
            if s < 0 {
                s = 0;
                frac = 0.0;
            }
            if s >= src as i64 - 1 {
                s = src as i64 - 1;
                frac = 0.0;
            }
            // OpenCV rounds with cvRound: half to even.
            let a1 = (frac * 2048.0).round_ties_even() as i32;
            let a0 = ((1.0 - frac) * 2048.0).round_ties_even() as i32;
            (s as usize, a0, a1)
        })
        .collect()
}

/// OpenCV-compatible `resize(INTER_LINEAR)` of packed RGB8 (including its
/// switch to area averaging for an exact 2× reduction).
pub fn resize_linear_u8(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    if dw == sw && dh == sh {
        return src.to_vec();
    }
    let mut dst = vec![0u8; dw * dh * 3];
    if sw == 2 * dw && sh == 2 * dh {
        for y in 0..dh {
            for x in 0..dw {
                for c in 0..3 {
                    let p = |yy: usize, xx: usize| u32::from(src[(yy * sw + xx) * 3 + c]);
                    let s = p(2 * y, 2 * x)
                        + p(2 * y, 2 * x + 1)
                        + p(2 * y + 1, 2 * x)
                        + p(2 * y + 1, 2 * x + 1);
                    dst[(y * dw + x) * 3 + c] = ((s + 2) >> 2) as u8;
                }
            }
        }
        return dst;
    }
    let xt = linear_table(sw, dw);
    let yt = linear_table(sh, dh);
    // Horizontal pass for each source row on demand, cached by row index.
    let hrow = |sy: usize, buf: &mut Vec<i32>| {
        buf.clear();
        let row = &src[sy * sw * 3..(sy + 1) * sw * 3];
        for &(sx, a0, a1) in &xt {
            let nx = (sx + 1).min(sw - 1);
            for c in 0..3 {
                let p0 = i32::from(row[sx * 3 + c]);
                let p1 = i32::from(row[nx * 3 + c]);
                buf.push(p0 * a0 + p1 * a1);
            }
        }
    };
    let mut r0 = Vec::with_capacity(dw * 3);
    let mut r1 = Vec::with_capacity(dw * 3);
    let mut cached: (Option<usize>, Option<usize>) = (None, None);
    for (dy, &(sy, b0, b1)) in yt.iter().enumerate() {
        let ny = (sy + 1).min(sh - 1);
        if cached.0 != Some(sy) {
            if cached.1 == Some(sy) {
                std::mem::swap(&mut r0, &mut r1);
                cached.0 = Some(sy);
                cached.1 = None;
            } else {
                hrow(sy, &mut r0);
                cached.0 = Some(sy);
            }
        }
        if cached.1 != Some(ny) {
            hrow(ny, &mut r1);
            cached.1 = Some(ny);
        }
        let out = &mut dst[dy * dw * 3..(dy + 1) * dw * 3];
        for i in 0..dw * 3 {
            // OpenCV's SIMD vertical pass: 16-bit high multiplies, then round.
            let v = (((r0[i] >> 4) * b0) >> 16) + (((r1[i] >> 4) * b1) >> 16) + 2;
            out[i] = (v >> 2).clamp(0, 255) as u8;
        }
    }
    dst
}

/// Decodes one image's SCRFD outputs (`scores[s]`, `boxes[s]`, `kps[s]` per
/// stride, already sliced to that image) into detections in image pixels.
pub fn decode_outputs(
    scores: [&[f32]; 3],
    boxes: [&[f32]; 3],
    kps: [&[f32]; 3],
    det_w: usize,
    det_h: usize,
    scale: f32,
    threshold: f32,
) -> Vec<Detection> {
    let mut out = Vec::new();
    for (si, &stride) in STRIDES.iter().enumerate() {
        let fw = det_w / stride;
        let fh = det_h / stride;
        let k = fw * fh * ANCHORS;
        let (sc, bx, kp) = (scores[si], boxes[si], kps[si]);
        if sc.len() < k || bx.len() < k * 4 || kp.len() < k * 10 {
            continue;
        }
        let s = stride as f32;
        for i in 0..k {
            let score = sc[i];
            if score < threshold || !score.is_finite() {
                continue;
            }
            let cell = i / ANCHORS;
            let cx = (cell % fw) as f32 * s;
            let cy = (cell / fw) as f32 * s;
            let b = &bx[i * 4..i * 4 + 4];
            let bbox = BBox {
                x1: (cx - b[0] * s) / scale,
                y1: (cy - b[1] * s) / scale,
                x2: (cx + b[2] * s) / scale,
                y2: (cy + b[3] * s) / scale,
            };
            let p = &kp[i * 10..i * 10 + 10];
            let mut landmarks = [[0.0f32; 2]; 5];
            for (j, lm) in landmarks.iter_mut().enumerate() {
                lm[0] = (cx + p[2 * j] * s) / scale;
                lm[1] = (cy + p[2 * j + 1] * s) / scale;
            }
            out.push(Detection {
                bbox,
                landmarks,
                score,
            });
        }
    }
    nms(out, NMS_IOU)
}

/// Greedy non-maximum suppression, highest score first, with insightface's
/// `+1` pixel box areas.
pub fn nms(mut dets: Vec<Detection>, iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::new();
    'outer: for d in dets {
        for k in &keep {
            if iou_plus1(&d.bbox, &k.bbox) > iou {
                continue 'outer;
            }
        }
        keep.push(d);
    }
    keep
}

fn iou_plus1(a: &BBox, b: &BBox) -> f32 {
    let area = |r: &BBox| (r.x2 - r.x1 + 1.0) * (r.y2 - r.y1 + 1.0);
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1) + 1.0).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1) + 1.0).max(0.0);
    let inter = w * h;
    inter / (area(a) + area(b) - inter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_insightface() {
        let lb = letterbox_geometry(427, 240, 640, 640);
        assert_eq!((lb.new_w, lb.new_h), (640, 359));
        let lb = letterbox_geometry(250, 250, 640, 640);
        assert_eq!((lb.new_w, lb.new_h), (640, 640));
        let lb = letterbox_geometry(300, 600, 640, 640);
        assert_eq!((lb.new_w, lb.new_h), (320, 640));
    }

    #[test]
    fn resize_identity_and_constant() {
        let src = vec![77u8; 5 * 4 * 3];
        assert_eq!(resize_linear_u8(&src, 5, 4, 5, 4), src);
        let up = resize_linear_u8(&src, 5, 4, 13, 9);
        assert!(up.iter().all(|&v| v == 77));
    }

    #[test]
    fn nms_drops_overlaps() {
        let d = |x: f32, s: f32| Detection {
            bbox: BBox {
                x1: x,
                y1: 0.0,
                x2: x + 10.0,
                y2: 10.0,
            },
            landmarks: [[0.0; 2]; 5],
            score: s,
        };
        let kept = nms(vec![d(0.0, 0.6), d(1.0, 0.9), d(50.0, 0.7)], 0.4);
        assert_eq!(kept.len(), 2);
        assert!((kept[0].score - 0.9).abs() < 1e-6);
    }
}

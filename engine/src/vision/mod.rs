//! Vision: photo file to faces (boxes, five landmarks, scores and
//! L2-normalised ArcFace embeddings).
//!
//! The ONNX models of a [`ModelPack`] are parsed at run time by `onnx-ir` and
//! executed node by node with burn tensor ops ([`graph`]), on burn's wgpu
//! backend when a GPU exists, otherwise on its `flex` CPU backend. The
//! pipeline matches insightface's `FaceAnalysis` (the reference): SCRFD on a
//! 640×640 letterbox ([`detect`]), Umeyama alignment to the ArcFace template
//! ([`align`]), ArcFace embedding of all faces of a batch at once. On the
//! GPU the letterbox and the alignment warp are the WGSL shaders of
//! `shaders/` ([`gpu_prep`]): a photo's pixels are uploaded once and the
//! models' inputs never come back through the CPU.

pub mod align;
pub mod conv_cpu;
pub mod decode;
pub mod detect;
pub mod device;
pub mod gpu_prep;
pub mod graph;
pub mod record;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::models::ModelPack;
use crate::types::{BBox, EMBEDDING_DIM, Embedding, Landmarks};

pub use decode::{DecodeError, DecodedImage, decode_bytes, decode_path};
pub use detect::Detection;
pub use device::DevicePreference;
pub use graph::GraphError;
pub use record::{DetectRecord, FaceRecord};

use align::ALIGNED_SIZE;
use detect::Letterbox;
use gpu_prep::GpuPixels;

/// Default detector input side (insightface's `det_size`).
pub const DEFAULT_DET_SIZE: usize = 640;

/// Largest number of faces embedded in one model run.
const EMBED_CHUNK: usize = 64;

/// Why a vision operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// A model could not be loaded into the executor.
    #[error("model {model}: {source}")]
    Model {
        /// Which model.
        model: &'static str,
        /// The executor's reason.
        source: GraphError,
    },
    /// Running a model failed.
    #[error("inference failed: {0}")]
    Inference(#[from] GraphError),
    /// The compute device could not be set up or failed.
    #[error("device: {0}")]
    Device(String),
    /// A caller-supplied argument is invalid.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// A face found in a photo, with its embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectedFace {
    /// Box in image pixels (after EXIF orientation).
    pub bbox: BBox,
    /// Five landmarks in image pixels.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
    /// L2-normalised 512-d ArcFace embedding.
    pub embedding: Embedding,
}

/// One photo's width, height and faces, or why it could not be decoded.
pub type PhotoOutcome = Result<(u32, u32, Vec<DetectedFace>), DecodeError>;

/// Accumulated time spent per stage, summed over the threads (photos run
/// side by side in [`Vision::detect_paths`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTimes {
    /// Reading and decoding files (plus the detector letterbox, done alongside).
    pub decode: Duration,
    /// Detector inference and output decoding.
    pub detect: Duration,
    /// Landmark alignment (warps).
    pub align: Duration,
    /// Recognizer inference.
    pub embed: Duration,
    /// Images processed.
    pub images: u64,
    /// Faces embedded.
    pub faces: u64,
}

#[derive(Default)]
struct Stats {
    decode: AtomicU64,
    detect: AtomicU64,
    align: AtomicU64,
    embed: AtomicU64,
    images: AtomicU64,
    faces: AtomicU64,
}

fn add(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

/// A decoded photo with its detector input built ([`Vision::prepare`]).
struct Prepared {
    image: DecodedImage,
    /// The photo's pixels on the GPU, for the alignment warp.
    pixels: Option<GpuPixels>,
    input: DetectorInput,
    letterbox: Letterbox,
}

/// A detector input (planar RGB, normalised, `det` × `det`).
enum DetectorInput {
    /// Built on the CPU (`3 * det * det` floats).
    Host(Vec<f32>),
    /// Built on the GPU by the letterbox shader (`[1, 3, det, det]`).
    Device(Box<Tensor<4>>),
}

/// Where the alignment warp reads a photo's pixels.
#[derive(Clone, Copy)]
struct Source<'a> {
    image: &'a DecodedImage,
    /// Already on the GPU; on a GPU device a photo without them is uploaded.
    pixels: Option<&'a GpuPixels>,
}

impl<'a> Source<'a> {
    fn host(image: &'a DecodedImage) -> Self {
        Self {
            image,
            pixels: None,
        }
    }

    fn of(p: &'a Prepared) -> Self {
        Self {
            image: &p.image,
            pixels: p.pixels.as_ref(),
        }
    }
}

/// The vision pipeline with its models loaded on a device.
pub struct Vision {
    detector: graph::Graph,
    recognizer: graph::Graph,
    device: Device,
    backend: String,
    pack_id: String,
    det_size: usize,
    stats: Stats,
}

impl std::fmt::Debug for Vision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vision")
            .field("backend", &self.backend)
            .field("pack", &self.pack_id)
            .field("det_size", &self.det_size)
            .finish_non_exhaustive()
    }
}

/// Runs `f`, turning a panic inside the tensor backend into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, VisionError>) -> Result<T, VisionError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "backend panicked".into());
        Err(VisionError::Device(msg))
    })
}

impl Vision {
    /// Loads the pack's models onto the preferred device.
    pub fn new(pack: &ModelPack, device: DevicePreference) -> Result<Self, VisionError> {
        let (device, backend) = device::select(device)?;
        guarded(|| {
            let detector =
                graph::Graph::from_bytes(pack.detector_onnx(), &device).map_err(|source| {
                    VisionError::Model {
                        model: "detector",
                        source,
                    }
                })?;
            let recognizer =
                graph::Graph::from_bytes(pack.recognizer_onnx(), &device).map_err(|source| {
                    VisionError::Model {
                        model: "recognizer",
                        source,
                    }
                })?;
            Ok(Self {
                detector,
                recognizer,
                device: device.clone(),
                backend: backend.clone(),
                pack_id: pack.id().to_owned(),
                det_size: DEFAULT_DET_SIZE,
                stats: Stats::default(),
            })
        })
    }

    /// Uses a different detector input side (a multiple of 32, 64 to 2048).
    pub fn with_det_size(mut self, size: usize) -> Result<Self, VisionError> {
        if !size.is_multiple_of(32) || !(64..=2048).contains(&size) {
            return Err(VisionError::Invalid(format!(
                "detector size {size} must be a multiple of 32 between 64 and 2048"
            )));
        }
        self.det_size = size;
        Ok(self)
    }

    /// The detector input side in use.
    pub fn det_size(&self) -> usize {
        self.det_size
    }

    /// The backend running the models, e.g. `flex (CPU)`.
    pub fn backend_name(&self) -> &str {
        &self.backend
    }

    /// The model pack id recorded with every embedding.
    pub fn pack_id(&self) -> &str {
        &self.pack_id
    }

    /// Time spent per stage since this `Vision` was created.
    pub fn stage_times(&self) -> StageTimes {
        let d = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        StageTimes {
            decode: d(&self.stats.decode),
            detect: d(&self.stats.detect),
            align: d(&self.stats.align),
            embed: d(&self.stats.embed),
            images: self.stats.images.load(Ordering::Relaxed),
            faces: self.stats.faces.load(Ordering::Relaxed),
        }
    }

    /// Finds and embeds every face of a photo.
    pub fn detect(&self, img: &DecodedImage) -> Result<Vec<DetectedFace>, VisionError> {
        let prepared = self.prepare(img.clone())?;
        Ok(self.detect_prepared(&[prepared])?.pop().unwrap_or_default())
    }

    /// Builds a photo's detector input: on the GPU with the letterbox
    /// shader (the pixels stay there for the warp), else on the CPU.
    fn prepare(&self, image: DecodedImage) -> Result<Prepared, VisionError> {
        let s = self.det_size;
        let on_gpu = if gpu_prep::is_gpu(&self.device) {
            guarded(|| {
                Ok(GpuPixels::upload(&image, &self.device).map(|p| {
                    let (input, lb) = p.letterbox(s);
                    (p, input, lb)
                }))
            })?
        } else {
            None
        };
        let (pixels, input, letterbox) = if let Some((p, input, lb)) = on_gpu {
            (Some(p), DetectorInput::Device(Box::new(input)), lb)
        } else {
            let mut input = vec![0.0f32; 3 * s * s];
            let lb = detect::letterbox_into(&image, s, s, &mut input);
            (None, DetectorInput::Host(input), lb)
        };
        Ok(Prepared {
            image,
            pixels,
            input,
            letterbox,
        })
    }

    /// Finds and embeds the faces of several prepared photos: one detector run
    /// for the batch, one recognizer run for all their faces.
    fn detect_prepared(&self, batch: &[Prepared]) -> Result<Vec<Vec<DetectedFace>>, VisionError> {
        let dets = self.run_detector(batch)?;
        let items: Vec<(Source<'_>, Landmarks)> = batch
            .iter()
            .zip(&dets)
            .flat_map(|(p, ds)| ds.iter().map(move |d| (Source::of(p), d.landmarks)))
            .collect();
        let mut embeddings = self.embed_aligned(&items)?.into_iter();
        self.stats
            .images
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(dets
            .into_iter()
            .map(|ds| {
                ds.into_iter()
                    .filter_map(|d| {
                        let e = embeddings.next()??;
                        Some(DetectedFace {
                            bbox: d.bbox,
                            landmarks: d.landmarks,
                            score: d.score,
                            embedding: e,
                        })
                    })
                    .collect()
            })
            .collect())
    }

    /// The detector input of a batch (`[n, 3, det, det]`): one upload of
    /// the CPU-built inputs, or the shader-built ones joined on the GPU.
    fn detector_input(&self, batch: &[Prepared]) -> Tensor<4> {
        let s = self.det_size;
        let to_tensor = |v: Vec<f32>| {
            let n = v.len() / (3 * s * s);
            Tensor::from_data(TensorData::new(v, [n, 3, s, s]), &self.device)
        };
        if batch
            .iter()
            .all(|p| matches!(p.input, DetectorInput::Host(_)))
        {
            let mut host = Vec::with_capacity(batch.len() * 3 * s * s);
            for p in batch {
                if let DetectorInput::Host(v) = &p.input {
                    host.extend_from_slice(v);
                }
            }
            return to_tensor(host);
        }
        // In batch order; a photo too large for one GPU buffer was
        // prepared on the CPU.
        let parts = batch
            .iter()
            .map(|p| match &p.input {
                DetectorInput::Host(v) => to_tensor(v.clone()),
                DetectorInput::Device(t) => (**t).clone(),
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// Runs the detector on a batch; detections per image, in image pixels.
    fn run_detector(&self, batch: &[Prepared]) -> Result<Vec<Vec<Detection>>, VisionError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.det_size;
        let t0 = Instant::now();
        let n = batch.len();
        let outs = guarded(|| {
            let input = self.detector_input(batch);
            let outs = self.detector.run(input)?;
            if outs.len() < 9 {
                return Err(VisionError::Invalid(format!(
                    "detector has {} outputs, expected 9 (scores, boxes, landmarks per stride)",
                    outs.len()
                )));
            }
            Ok(graph::read_all(
                outs.into_iter().map(graph::Ft::into_tensor).collect(),
            )?)
        })?;
        let result = (0..n)
            .map(|b| {
                let part = |i: usize| {
                    let per = outs[i].len() / n;
                    &outs[i][b * per..(b + 1) * per]
                };
                detect::decode_outputs(
                    [part(0), part(1), part(2)],
                    [part(3), part(4), part(5)],
                    [part(6), part(7), part(8)],
                    s,
                    s,
                    batch[b].letterbox.scale,
                    detect::SCORE_THRESHOLD,
                )
            })
            .collect();
        add(&self.stats.detect, t0);
        Ok(result)
    }

    /// Aligned recognizer inputs (`[n, 3, 112, 112]`) on the CPU, and per
    /// face whether its landmarks could be aligned.
    fn aligned_on_cpu(&self, items: &[(Source<'_>, Landmarks)]) -> (Tensor<4>, Vec<bool>) {
        let per = 3 * ALIGNED_SIZE * ALIGNED_SIZE;
        let mut data = vec![0.0f32; items.len() * per];
        let ok: Vec<bool> = data
            .par_chunks_mut(per)
            .zip(items.par_iter())
            .map(|(out, (src, lm))| align::align_into(src.image, lm, out))
            .collect();
        let n = items.len();
        let input = Tensor::from_data(
            TensorData::new(data, [n, 3, ALIGNED_SIZE, ALIGNED_SIZE]),
            &self.device,
        );
        (input, ok)
    }

    /// Aligned recognizer inputs: on the GPU the warp shader runs once per
    /// photo over its faces (a photo not yet on the GPU is uploaded; one too
    /// large for a GPU buffer is aligned on the CPU).
    fn aligned_input(
        &self,
        items: &[(Source<'_>, Landmarks)],
    ) -> Result<(Tensor<4>, Vec<bool>), VisionError> {
        if !gpu_prep::is_gpu(&self.device) {
            return Ok(self.aligned_on_cpu(items));
        }
        let mut parts = Vec::new();
        let mut ok = Vec::with_capacity(items.len());
        for run in items.chunk_by(|a, b| std::ptr::eq(a.0.image, b.0.image)) {
            let uploaded = match run[0].0.pixels {
                Some(_) => None,
                None => GpuPixels::upload(run[0].0.image, &self.device),
            };
            let pixels = run[0].0.pixels.or(uploaded.as_ref());
            let (crops, run_ok) = match pixels {
                Some(p) => {
                    let faces: Vec<Landmarks> = run.iter().map(|(_, lm)| *lm).collect();
                    p.warp(&faces)?
                }
                None => self.aligned_on_cpu(run),
            };
            parts.push(crops);
            ok.extend(run_ok);
        }
        Ok((Tensor::cat(parts, 0), ok))
    }

    /// Aligns and embeds faces given by their landmarks; `None` for a face
    /// whose landmarks are degenerate.
    fn embed_aligned(
        &self,
        items: &[(Source<'_>, Landmarks)],
    ) -> Result<Vec<Option<Embedding>>, VisionError> {
        let mut result = Vec::with_capacity(items.len());
        for chunk in items.chunks(EMBED_CHUNK) {
            let t0 = Instant::now();
            let (input, ok) = guarded(|| self.aligned_input(chunk))?;
            add(&self.stats.align, t0);
            let t1 = Instant::now();
            let n = chunk.len();
            let out = guarded(|| {
                let mut outs = self.recognizer.run(input)?;
                let first = outs
                    .drain(..)
                    .next()
                    .ok_or_else(|| VisionError::Invalid("recognizer has no output".into()))?;
                if first.shape().last().copied() != Some(EMBEDDING_DIM) {
                    return Err(VisionError::Invalid(format!(
                        "recognizer output {:?}, expected [N, {EMBEDDING_DIM}]",
                        first.shape()
                    )));
                }
                Ok(graph::read_all(vec![first.into_tensor()])?
                    .pop()
                    .unwrap_or_default())
            })?;
            add(&self.stats.embed, t1);
            self.stats.faces.fetch_add(n as u64, Ordering::Relaxed);
            for (i, good) in ok.into_iter().enumerate() {
                let Some(v) = out.get(i * EMBEDDING_DIM..(i + 1) * EMBEDDING_DIM) else {
                    result.push(None);
                    continue;
                };
                result.push(good.then(|| l2_normalise(v)).flatten());
            }
        }
        Ok(result)
    }

    /// Finds the face inside a user-drawn box and embeds it; `None` when no
    /// face is there. The detector runs on the box padded by its longer side
    /// on every side (a face filling the whole input is missed, and a box
    /// drawn tight may cut the face), and the detection kept is the one the
    /// box matches best ([`box_match`]).
    pub fn embed_region(
        &self,
        img: &DecodedImage,
        bbox: BBox,
    ) -> Result<Option<DetectedFace>, VisionError> {
        let vals = [bbox.x1, bbox.y1, bbox.x2, bbox.y2];
        if vals.iter().any(|v| !v.is_finite()) || bbox.width() < 2.0 || bbox.height() < 2.0 {
            return Err(VisionError::Invalid(format!(
                "box {bbox:?} is empty or not finite"
            )));
        }
        let pad = bbox.width().max(bbox.height());
        let x0 = (bbox.x1 - pad).floor().max(0.0) as u32;
        let y0 = (bbox.y1 - pad).floor().max(0.0) as u32;
        let x1 = ((bbox.x2 + pad).ceil().max(0.0) as u32).min(img.width);
        let y1 = ((bbox.y2 + pad).ceil().max(0.0) as u32).min(img.height);
        if x1 <= x0 + 1 || y1 <= y0 + 1 {
            return Ok(None);
        }
        let (cw, ch) = (x1 - x0, y1 - y0);
        let mut rgb = Vec::with_capacity((cw * ch * 3) as usize);
        for y in y0..y1 {
            let start = ((y * img.width + x0) * 3) as usize;
            rgb.extend_from_slice(&img.rgb[start..start + (cw * 3) as usize]);
        }
        let Some(crop) = DecodedImage::from_rgb(cw, ch, rgb) else {
            return Ok(None);
        };
        let prepared = self.prepare(crop)?;
        let dets = self.run_detector(std::slice::from_ref(&prepared))?;
        let (ox, oy) = (x0 as f32, y0 as f32);
        let best = dets
            .into_iter()
            .flatten()
            .map(|mut d| {
                d.bbox = BBox {
                    x1: d.bbox.x1 + ox,
                    y1: d.bbox.y1 + oy,
                    x2: d.bbox.x2 + ox,
                    y2: d.bbox.y2 + oy,
                };
                for p in &mut d.landmarks {
                    p[0] += ox;
                    p[1] += oy;
                }
                d
            })
            .filter_map(|d| box_match(&bbox, &d.bbox).map(|m| (m, d)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, d)| d);
        let Some(d) = best else {
            return Ok(None);
        };
        let emb = self
            .embed_aligned(&[(Source::host(img), d.landmarks)])?
            .pop()
            .flatten();
        Ok(emb.map(|embedding| DetectedFace {
            bbox: d.bbox,
            landmarks: d.landmarks,
            score: d.score,
            embedding,
        }))
    }

    /// Processes many files, `in_flight` photos at a time. Each photo is one
    /// task on the rayon pool, decoded, detected and embedded start to end,
    /// and the convolutions inside it split into tasks on the same pool: a
    /// core that finishes its photo (or waits inside one) takes work from
    /// another, and one photo's decoding overlaps another's inference
    /// without a stage waiting on a queue. `on_result` receives each path's
    /// index and outcome, in order.
    pub fn detect_paths<P, F>(
        &self,
        paths: &[P],
        in_flight: usize,
        mut on_result: F,
    ) -> Result<(), VisionError>
    where
        P: AsRef<Path> + Sync,
        F: FnMut(usize, PhotoOutcome),
    {
        let in_flight = in_flight.max(1);
        for (ci, chunk) in paths.chunks(in_flight).enumerate() {
            let results: Vec<_> = chunk
                .par_iter()
                .map(|p| self.detect_path(p.as_ref()))
                .collect();
            for (i, r) in results.into_iter().enumerate() {
                on_result(ci * in_flight + i, r?);
            }
        }
        Ok(())
    }

    /// One file: its size and faces, or why it could not be decoded (the
    /// outer error: the models failed).
    fn detect_path(&self, path: &Path) -> Result<PhotoOutcome, VisionError> {
        let t = Instant::now();
        let image = match decode_path(path) {
            Ok(image) => image,
            Err(e) => {
                add(&self.stats.decode, t);
                return Ok(Err(e));
            }
        };
        let prepared = self.prepare(image);
        add(&self.stats.decode, t);
        let prepared = prepared?;
        let faces = self
            .detect_prepared(std::slice::from_ref(&prepared))?
            .pop()
            .unwrap_or_default();
        Ok(Ok((prepared.image.width, prepared.image.height, faces)))
    }

    /// The JSON record (`likeness detect --json` line) for one file.
    pub fn detect_record(&self, path: &str) -> DetectRecord {
        let mut out = None;
        let res = self.detect_paths(&[path], 1, |_, r| out = Some(r));
        match (res, out) {
            (Err(e), _) => DetectRecord::error(path, &e.to_string()),
            (Ok(()), Some(Ok((w, h, faces)))) => DetectRecord::faces(path, w, h, &faces),
            (Ok(()), Some(Err(e))) => DetectRecord::error(path, &e.to_string()),
            (Ok(()), None) => DetectRecord::error(path, "not processed"),
        }
    }

    /// JSON records for many files, `in_flight` photos at a time (see
    /// [`Self::detect_paths`]).
    pub fn detect_records(
        &self,
        paths: &[String],
        in_flight: usize,
    ) -> Result<Vec<DetectRecord>, VisionError> {
        let mut out: Vec<DetectRecord> = paths
            .iter()
            .map(|p| DetectRecord::error(p, "not processed"))
            .collect();
        self.detect_paths(paths, in_flight, |i, r| {
            out[i] = match r {
                Ok((w, h, faces)) => DetectRecord::faces(&paths[i], w, h, &faces),
                Err(e) => DetectRecord::error(&paths[i], &e.to_string()),
            };
        })?;
        Ok(out)
    }
}

/// How well a user's box matches a detection: `None` when it does not
/// (IoU at most 0.2 and neither box at least 60 % inside the other), else
/// IoU plus containment (the larger share of either box inside the other),
/// so among faces in a loose box the one it surrounds best wins.
pub fn box_match(user: &BBox, detected: &BBox) -> Option<f32> {
    let ix = (user.x2.min(detected.x2) - user.x1.max(detected.x1)).max(0.0);
    let iy = (user.y2.min(detected.y2) - user.y1.max(detected.y1)).max(0.0);
    let inter = ix * iy;
    if inter <= 0.0 {
        return None;
    }
    let iou = user.iou(detected);
    let inside =
        (inter / user.area().max(f32::EPSILON)).max(inter / detected.area().max(f32::EPSILON));
    (iou > 0.2 || inside >= 0.6).then_some(iou + inside)
}

/// Scales a vector to unit length; `None` for a zero or non-finite vector.
pub fn l2_normalise(v: &[f32]) -> Option<Embedding> {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() || norm <= f64::EPSILON {
        return None;
    }
    Some(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}

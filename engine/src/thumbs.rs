//! Thumbnails for the GUI: face crops and photo previews, made off the UI and
//! engine threads and cached on disk as small JPEGs under a size bound.
//!
//! A face thumbnail's file name holds the face id and a hash of its box, so
//! editing a box makes a new thumbnail and the old one simply ages out: no
//! invalidation step can be forgotten.

use crate::types::{BBox, Face, Photo, RgbaImage};
use crate::vision::decode_path;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Side of a face thumbnail, pixels.
pub const FACE_THUMB_PX: u32 = 160;
/// Longest side of a photo thumbnail, pixels.
pub const PHOTO_THUMB_PX: u32 = 512;
/// Margin around a face box in a face thumbnail, as a fraction of its size.
pub const FACE_MARGIN: f32 = 0.25;
/// Largest face thumbnail side served, pixels.
pub const MAX_FACE_PX: u32 = 1024;
/// Largest photo preview side served, pixels.
pub const MAX_PHOTO_PX: u32 = 8192;
/// Smallest thumbnail side served, pixels.
pub const MIN_SIDE_PX: u32 = 16;
/// Default bound of the cache on disk.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Numbers the partial files of writes in progress.
static NEXT_PARTIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// JPEG quality of thumbnails.
const JPEG_QUALITY: u8 = 85;

/// Why a thumbnail could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ThumbError {
    /// None of the photo's files exists any more.
    #[error("the photo is missing (no file left)")]
    Missing,
    /// The photo could not be decoded.
    #[error("cannot decode the photo: {0}")]
    Decode(String),
    /// The cache could not be written.
    #[error("cannot write the thumbnail cache: {0}")]
    Io(String),
}

/// The on-disk thumbnail cache.
#[derive(Clone, Debug)]
pub struct ThumbCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// The default cache folder (`~/.cache/likeness/thumbs` on Linux).
pub fn default_thumb_dir() -> PathBuf {
    directories::ProjectDirs::from("org", "Likeness", "Likeness").map_or_else(
        || std::env::temp_dir().join("likeness-thumbs"),
        |d| d.cache_dir().join("thumbs"),
    )
}

fn io(e: &std::io::Error) -> ThumbError {
    ThumbError::Io(e.to_string())
}

/// A short stable hash of a box, so a moved box gets a new file name.
fn bbox_key(b: &BBox) -> String {
    let mut bytes = Vec::with_capacity(16);
    for v in [b.x1, b.y1, b.x2, b.y2] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    blake3::hash(&bytes).to_hex()[..12].to_owned()
}

/// A requested side clamped to what is served.
fn clamp_side(px: u32, max: u32) -> u32 {
    px.clamp(MIN_SIDE_PX, max)
}

/// The longest side a photo preview really has for a request: the request
/// (clamped), or the photo's own when it is smaller (never enlarged). A
/// photo of unknown size keys by the request.
fn photo_side(photo: &Photo, max_side_px: u32) -> u32 {
    let limit = clamp_side(max_side_px, MAX_PHOTO_PX);
    match photo.width.max(photo.height) {
        0 => limit,
        own => limit.min(own),
    }
}

/// RGB pixels as the GUI takes them (RGBA, opaque).
fn rgba(image: image::RgbImage) -> RgbaImage {
    let (width, height) = image.dimensions();
    let rgba = image::DynamicImage::ImageRgb8(image).into_rgba8();
    RgbaImage {
        width,
        height,
        pixels: rgba.into_raw(),
    }
}

/// A cached thumbnail, when there is a readable one (a damaged file is made
/// again, not an error).
fn read_cached(path: &Path) -> Option<RgbaImage> {
    let image = image::open(path).ok()?.into_rgba8();
    let (width, height) = image.dimensions();
    Some(RgbaImage {
        width,
        height,
        pixels: image.into_raw(),
    })
}

/// The square crop around a face box, with margin, clamped to the image.
pub fn face_crop_in_image(b: &BBox, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let side = b.width().max(b.height()) * (1.0 + 2.0 * FACE_MARGIN);
    let cx = f32::midpoint(b.x1, b.x2);
    let cy = f32::midpoint(b.y1, b.y2);
    let x0 = (cx - side / 2.0).clamp(0.0, width as f32 - 1.0);
    let y0 = (cy - side / 2.0).clamp(0.0, height as f32 - 1.0);
    let x1 = (cx + side / 2.0).clamp(x0 + 1.0, width as f32);
    let y1 = (cy + side / 2.0).clamp(y0 + 1.0, height as f32);
    (
        x0 as u32,
        y0 as u32,
        (x1 - x0).max(1.0) as u32,
        (y1 - y0).max(1.0) as u32,
    )
}

impl ThumbCache {
    /// A cache in `dir` holding at most about `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self { dir, max_bytes }
    }

    /// The cache of a library: a folder beside the library file
    /// (`library.redb` → `library.thumbs/`). Face ids are per library, so a
    /// cache shared by two libraries could mix up their faces.
    pub fn for_library(library_path: &Path) -> Self {
        Self::new(library_path.with_extension("thumbs"), DEFAULT_MAX_BYTES)
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a face's default-size thumbnail lives (whether made yet or not).
    pub fn face_path(&self, face: &Face) -> PathBuf {
        self.face_path_sized(face, FACE_THUMB_PX)
    }

    /// Where a face's thumbnail of side `size_px` lives. The name holds the
    /// face id, a hash of its box and the size: a moved box is a new file.
    pub fn face_path_sized(&self, face: &Face, size_px: u32) -> PathBuf {
        self.dir.join("faces").join(format!(
            "{}-{}-{}.jpg",
            face.id.0,
            bbox_key(&face.bbox),
            clamp_side(size_px, MAX_FACE_PX)
        ))
    }

    /// Where a photo's default-size thumbnail lives.
    pub fn photo_path(&self, photo: &Photo) -> PathBuf {
        self.photo_path_sized(photo, PHOTO_THUMB_PX)
    }

    /// Where a photo's preview of longest side at most `max_side_px` lives
    /// (named by the side it really has, so requests larger than the photo
    /// share one file).
    pub fn photo_path_sized(&self, photo: &Photo, max_side_px: u32) -> PathBuf {
        let side = photo_side(photo, max_side_px);
        self.dir
            .join("photos")
            .join(format!("{}-{side}.jpg", photo.id.to_hex()))
    }

    /// The face's default-size thumbnail file, made now if not cached.
    pub fn face_thumb(&self, face: &Face, photo: &Photo) -> Result<PathBuf, ThumbError> {
        let path = self.face_path(face);
        if !path.is_file() {
            self.make_face(face, photo, FACE_THUMB_PX, &path)?;
        }
        Ok(path)
    }

    /// The photo's default-size thumbnail file, made now if not cached.
    pub fn photo_thumb(&self, photo: &Photo) -> Result<PathBuf, ThumbError> {
        let path = self.photo_path(photo);
        if !path.is_file() {
            self.make_photo(photo, PHOTO_THUMB_PX, &path)?;
        }
        Ok(path)
    }

    /// A square face crop of side `size_px` (clamped to 16..=1024): read
    /// from the cache, or made from the photo and cached.
    pub fn face_image(
        &self,
        face: &Face,
        photo: &Photo,
        size_px: u32,
    ) -> Result<RgbaImage, ThumbError> {
        let path = self.face_path_sized(face, size_px);
        if let Some(image) = read_cached(&path) {
            return Ok(image);
        }
        Ok(rgba(self.make_face(face, photo, size_px, &path)?))
    }

    /// The photo scaled to a longest side of at most `max_side_px` (never
    /// enlarged): read from the cache, or made and cached.
    pub fn photo_image(&self, photo: &Photo, max_side_px: u32) -> Result<RgbaImage, ThumbError> {
        let path = self.photo_path_sized(photo, max_side_px);
        if let Some(image) = read_cached(&path) {
            return Ok(image);
        }
        Ok(rgba(self.make_photo(photo, max_side_px, &path)?))
    }

    fn make_face(
        &self,
        face: &Face,
        photo: &Photo,
        size_px: u32,
        path: &Path,
    ) -> Result<image::RgbImage, ThumbError> {
        let side = clamp_side(size_px, MAX_FACE_PX);
        let image = load(photo)?;
        let (x, y, w, h) = face_crop_in_image(&face.bbox, image.width(), image.height());
        let crop = image::imageops::crop_imm(&image, x, y, w, h).to_image();
        let thumb =
            image::imageops::resize(&crop, side, side, image::imageops::FilterType::Triangle);
        self.store(path, &thumb)?;
        Ok(thumb)
    }

    fn make_photo(
        &self,
        photo: &Photo,
        max_side_px: u32,
        path: &Path,
    ) -> Result<image::RgbImage, ThumbError> {
        let limit = clamp_side(max_side_px, MAX_PHOTO_PX);
        let image = load(photo)?;
        let scale = limit as f32 / image.width().max(image.height()) as f32;
        let thumb = if scale < 1.0 {
            let w = ((image.width() as f32 * scale).round() as u32).max(1);
            let h = ((image.height() as f32 * scale).round() as u32).max(1);
            image::imageops::resize(&image, w, h, image::imageops::FilterType::Triangle)
        } else {
            image
        };
        self.store(path, &thumb)?;
        Ok(thumb)
    }

    fn store(&self, path: &Path, image: &image::RgbImage) -> Result<(), ThumbError> {
        let dir = path
            .parent()
            .ok_or_else(|| ThumbError::Io("no folder".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        // Write beside and rename, so a reader never sees half a file.
        // A name of its own per write: two workers making the same
        // thumbnail never share a partial file.
        let n = NEXT_PARTIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = path.with_extension(format!("{}-{n}.part", std::process::id()));
        {
            let file = std::fs::File::create(&partial).map_err(|e| io(&e))?;
            let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(
                BufWriter::new(file),
                JPEG_QUALITY,
            );
            encoder
                .encode_image(image)
                .map_err(|e| ThumbError::Io(e.to_string()))?;
        }
        std::fs::rename(&partial, path).map_err(|e| io(&e))?;
        self.evict(path);
        Ok(())
    }

    /// Deletes the least recently written thumbnails (never `keep`, the one
    /// just made) until the cache is under 90 % of its bound. Best effort: a
    /// file that cannot be listed or deleted is left for the next time.
    fn evict(&self, keep: &Path) {
        let mut files: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        for sub in ["faces", "photos"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                // Partial files belong to writers still at work.
                if entry.path().extension().is_none_or(|e| e != "jpg") {
                    continue;
                }
                if let Ok(meta) = entry.metadata() {
                    let when = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    files.push((when, meta.len(), entry.path()));
                }
            }
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_bytes {
            return;
        }
        files.sort();
        let target = self.max_bytes / 10 * 9;
        for (_, len, path) in files {
            if total <= target {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

/// Decodes the first existing file of a photo (EXIF orientation applied).
fn load(photo: &Photo) -> Result<image::RgbImage, ThumbError> {
    let path = photo
        .paths
        .iter()
        .find(|p| Path::new(p).is_file())
        .ok_or(ThumbError::Missing)?;
    let decoded = decode_path(path).map_err(|e| ThumbError::Decode(e.to_string()))?;
    image::RgbImage::from_raw(decoded.width, decoded.height, decoded.rgb)
        .ok_or_else(|| ThumbError::Decode("decoder returned a buffer of the wrong size".into()))
}

//! Thumbnails for the GUI: face crops and photo previews, made off the UI and
//! engine threads and cached on disk as small JPEGs under a size bound.
//!
//! A face thumbnail's file name holds the face id and a hash of its box, so
//! editing a box makes a new thumbnail and the old one simply ages out: no
//! invalidation step can be forgotten.

use crate::types::{BBox, Face, Photo};
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
/// Default bound of the cache on disk.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
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

    /// Where a face's thumbnail lives (whether made yet or not).
    pub fn face_path(&self, face: &Face) -> PathBuf {
        self.dir
            .join("faces")
            .join(format!("{}-{}.jpg", face.id.0, bbox_key(&face.bbox)))
    }

    /// Where a photo's thumbnail lives.
    pub fn photo_path(&self, photo: &Photo) -> PathBuf {
        self.dir
            .join("photos")
            .join(format!("{}.jpg", photo.id.to_hex()))
    }

    /// The face's thumbnail, made now if not cached.
    pub fn face_thumb(&self, face: &Face, photo: &Photo) -> Result<PathBuf, ThumbError> {
        let path = self.face_path(face);
        if path.is_file() {
            return Ok(path);
        }
        let image = load(photo)?;
        let (x, y, w, h) = face_crop_in_image(&face.bbox, image.width(), image.height());
        let crop = image::imageops::crop_imm(&image, x, y, w, h).to_image();
        let thumb = image::imageops::resize(
            &crop,
            FACE_THUMB_PX,
            FACE_THUMB_PX,
            image::imageops::FilterType::Triangle,
        );
        self.store(&path, &thumb)?;
        Ok(path)
    }

    /// The photo's thumbnail, made now if not cached.
    pub fn photo_thumb(&self, photo: &Photo) -> Result<PathBuf, ThumbError> {
        let path = self.photo_path(photo);
        if path.is_file() {
            return Ok(path);
        }
        let image = load(photo)?;
        let scale = PHOTO_THUMB_PX as f32 / image.width().max(image.height()) as f32;
        let thumb = if scale < 1.0 {
            let w = ((image.width() as f32 * scale).round() as u32).max(1);
            let h = ((image.height() as f32 * scale).round() as u32).max(1);
            image::imageops::resize(&image, w, h, image::imageops::FilterType::Triangle)
        } else {
            image
        };
        self.store(&path, &thumb)?;
        Ok(path)
    }

    fn store(&self, path: &Path, image: &image::RgbImage) -> Result<(), ThumbError> {
        let dir = path
            .parent()
            .ok_or_else(|| ThumbError::Io("no folder".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        // Write beside and rename, so a reader never sees half a file.
        let partial = path.with_extension("part");
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

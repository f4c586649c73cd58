//! The import's face finder: the vision pipeline (decode with EXIF
//! orientation, detect, align, embed) behind [`FaceFinder`].

use super::job::{FaceFinder, FindError, FoundFaces};
use crate::engine::FinderFactory;
use crate::models::ModelPack;
use crate::types::{BBox, FaceSource, NewFace};
use crate::vision::{DevicePreference, Vision, decode_bytes};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The model pack imports use.
pub const DEFAULT_PACK: &str = "buffalo_sc";

/// Finds faces with the vision pipeline.
pub struct VisionFinder {
    vision: Vision,
}

impl VisionFinder {
    /// Loads the model pack (sha256-verified) onto the preferred device.
    pub fn load(models_dir: &Path, pack: &str, device: DevicePreference) -> Result<Self, String> {
        let pack = ModelPack::load(models_dir, pack).map_err(|e| e.to_string())?;
        let vision = Vision::new(&pack, device).map_err(|e| e.to_string())?;
        Ok(Self { vision })
    }
}

/// The part of a detector box inside the image (the library keeps boxes in
/// the image; the detector may reach past the edge for a cut-off face).
fn clamp_to_image(b: BBox, width: u32, height: u32) -> BBox {
    let (w, h) = (width as f32, height as f32);
    BBox {
        x1: b.x1.clamp(0.0, w),
        y1: b.y1.clamp(0.0, h),
        x2: b.x2.clamp(0.0, w),
        y2: b.y2.clamp(0.0, h),
    }
}

impl FaceFinder for VisionFinder {
    fn find_faces(&self, _path: &Path, bytes: &[u8]) -> Result<FoundFaces, FindError> {
        let image = decode_bytes(bytes).map_err(|e| FindError {
            reason: e.to_string(),
            permanent: e.is_permanent(),
        })?;
        let found = self.vision.detect(&image).map_err(|e| FindError {
            reason: e.to_string(),
            permanent: false,
        })?;
        let pack = self.vision.pack_id().to_owned();
        let faces = found
            .into_iter()
            .map(|f| NewFace {
                bbox: clamp_to_image(f.bbox, image.width, image.height),
                landmarks: f.landmarks,
                score: f.score,
                embedding: Some(f.embedding),
                model_pack: pack.clone(),
                source: FaceSource::Auto,
            })
            .filter(|f| f.bbox.is_in_image(image.width, image.height))
            .collect();
        Ok(FoundFaces {
            width: image.width,
            height: image.height,
            taken_at: image.taken_at,
            faces,
        })
    }

    fn find_face_in_box(
        &self,
        _path: &Path,
        bytes: &[u8],
        bbox: BBox,
    ) -> Result<Option<NewFace>, FindError> {
        let image = decode_bytes(bytes).map_err(|e| FindError {
            reason: e.to_string(),
            permanent: e.is_permanent(),
        })?;
        let found = self
            .vision
            .embed_region(&image, bbox)
            .map_err(|e| FindError {
                reason: e.to_string(),
                permanent: false,
            })?;
        Ok(found.map(|f| NewFace {
            bbox: clamp_to_image(f.bbox, image.width, image.height),
            landmarks: f.landmarks,
            score: f.score,
            embedding: Some(f.embedding),
            model_pack: self.vision.pack_id().to_owned(),
            source: FaceSource::Manual,
        }))
    }
}

/// A factory that loads the vision pipeline from `models_dir` (device from
/// `LIKENESS_DEVICE`, default auto) on the import's thread.
pub fn vision_finder_factory(models_dir: PathBuf) -> FinderFactory {
    Arc::new(move || {
        let device = DevicePreference::from_env().map_err(|e| e.to_string())?;
        let finder = VisionFinder::load(&models_dir, DEFAULT_PACK, device)?;
        Ok(Box::new(finder) as Box<dyn FaceFinder>)
    })
}

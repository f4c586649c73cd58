//! The JSON line shape shared with the reference file
//! (`reference/insightface_buffalo_sc.jsonl`) and `likeness detect --json`.

use serde::{Deserialize, Serialize};

use super::DetectedFace;

/// One face of a [`DetectRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    /// `[x1, y1, x2, y2]` in image pixels.
    pub bbox: [f32; 4],
    /// Five `[x, y]` landmarks.
    pub kps: [[f32; 2]; 5],
    /// Detector score.
    pub score: f32,
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
}

/// One image: its faces, or why it could not be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectRecord {
    /// The path as given.
    pub path: String,
    /// Width after EXIF orientation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height after EXIF orientation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Faces found (absent when `error` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<FaceRecord>>,
    /// Why the image could not be processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds spent (present in the reference file only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
}

impl DetectRecord {
    /// A record of the faces of an image.
    pub fn faces(path: &str, width: u32, height: u32, faces: &[DetectedFace]) -> Self {
        Self {
            path: path.to_owned(),
            width: Some(width),
            height: Some(height),
            faces: Some(
                faces
                    .iter()
                    .map(|f| FaceRecord {
                        bbox: [f.bbox.x1, f.bbox.y1, f.bbox.x2, f.bbox.y2],
                        kps: f.landmarks,
                        score: f.score,
                        embedding: f.embedding.clone(),
                    })
                    .collect(),
            ),
            error: None,
            ms: None,
        }
    }

    /// A record of an image that could not be processed.
    pub fn error(path: &str, reason: &str) -> Self {
        Self {
            path: path.to_owned(),
            width: None,
            height: None,
            faces: None,
            error: Some(reason.to_owned()),
            ms: None,
        }
    }

    /// The JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"path\":\"?\",\"error\":\"{e}\"}}"))
    }
}

/// Runs detection over image files without touching any library: loads the
/// model pack from `models_dir` (device from `LIKENESS_DEVICE`) and returns
/// one record per path, errors included. This is what `likeness detect`
/// calls; it returns plain data and keeps no handle.
pub fn detect_files(
    models_dir: &std::path::Path,
    paths: &[String],
) -> Result<Vec<DetectRecord>, String> {
    let pack =
        crate::models::ModelPack::load(models_dir, "buffalo_sc").map_err(|e| e.to_string())?;
    let device = super::DevicePreference::from_env().map_err(|e| e.to_string())?;
    let vision = super::Vision::new(&pack, device).map_err(|e| e.to_string())?;
    vision
        .detect_records(paths, DETECT_IN_FLIGHT)
        .map_err(|e| e.to_string())
}

/// Photos in flight at once in [`detect_files`] (see
/// [`super::Vision::detect_paths`]). Measured (`cargo bench --bench vision`,
/// 436 photos, two runs each, side by side with the reference): 1.14× and
/// 1.61× its speed at 2, 1.71× and 1.68× at 8, for the same peak memory
/// (345 against 351 MiB): a lone photo's last layers and its decoding
/// leave a core idle that another photo fills.
const DETECT_IN_FLIGHT: usize = 8;

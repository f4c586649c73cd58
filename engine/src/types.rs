//! Plain data types of the engine's public API.
//!
//! Everything here is plain data: no handles, no lifetimes, serde-friendly, so
//! the app can hold and display these values without touching the store.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Length of an ArcFace embedding.
pub const EMBEDDING_DIM: usize = 512;

/// An L2-normalised ArcFace embedding.
pub type Embedding = Vec<f32>;

/// Identifies a face; allocated by the store, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FaceId(pub u64);

/// Identifies a person; allocated by the store, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PersonId(pub u64);

/// Identifies an unnamed group (cluster) of unknown faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterId(pub u64);

/// Identifies a photo by the blake3 hash of its bytes: the same content at two
/// paths is one photo.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PhotoId(pub [u8; 32]);

impl PhotoId {
    /// The photo id of these file bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, as shown in exports and on the command line.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses the 64-character hex form written by [`PhotoId::to_hex`].
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for PhotoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhotoId({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for FaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An axis-aligned box in image pixels (after EXIF orientation): `x1,y1` top
/// left, `x2,y2` bottom right.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// Width in pixels (0 for an inverted box).
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height in pixels (0 for an inverted box).
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union with another box; 0 when either is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// True when every coordinate is finite, the box is non-empty and it lies
    /// within an image of `width` × `height` pixels.
    pub fn is_in_image(&self, width: u32, height: u32) -> bool {
        [self.x1, self.y1, self.x2, self.y2]
            .iter()
            .all(|v| v.is_finite())
            && self.x1 >= 0.0
            && self.y1 >= 0.0
            && self.x2 <= width as f32
            && self.y2 <= height as f32
            && self.x2 > self.x1
            && self.y2 > self.y1
    }
}

/// The five facial landmarks (left eye, right eye, nose, left and right mouth
/// corners) in image pixels.
pub type Landmarks = [[f32; 2]; 5];

/// Whether a face came from the detector or was drawn by the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceSource {
    /// Found by the face detector.
    Auto,
    /// Drawn or corrected by the user.
    Manual,
}

/// How a face came to belong to its person. Anything but `Auto` is a user
/// decision that nothing automatic may override.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignedBy {
    /// The user assigned it directly.
    User,
    /// Recognition assigned it automatically.
    Auto,
    /// The user accepted a suggestion.
    AcceptedSuggestion,
}

impl AssignedBy {
    /// True when the assignment is a user decision.
    pub fn is_confirmed(self) -> bool {
        !matches!(self, Self::Auto)
    }
}

/// Scan state of a photo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    /// Known but not yet run through detection.
    Pending,
    /// Detection ran and found at least one face.
    Detected,
    /// Detection ran and found no face.
    NoFaces,
    /// Detection could not run.
    Failed {
        /// Why, in words.
        reason: String,
        /// True when retrying will not help (corrupt file); false for a
        /// transient failure that a later import retries.
        permanent: bool,
    },
}

impl ScanStatus {
    /// The state's name as exports and the CLI show it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Detected => "detected",
            Self::NoFaces => "no_faces",
            Self::Failed { .. } => "failed",
        }
    }
}

/// A photo of the library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Photo {
    /// Content hash.
    pub id: PhotoId,
    /// Every path this content was seen at, sorted.
    pub paths: Vec<String>,
    /// File size in bytes.
    pub size_bytes: u64,
    /// Width in pixels after EXIF orientation (0 when unknown).
    pub width: u32,
    /// Height in pixels after EXIF orientation (0 when unknown).
    pub height: u32,
    /// EXIF `DateTimeOriginal` as written in the file (`YYYY:MM:DD HH:MM:SS`).
    pub taken_at: Option<String>,
    /// Scan state.
    pub status: ScanStatus,
}

impl Photo {
    /// True when none of the photo's files exists any more (its faces are
    /// kept until the user purges it).
    pub fn is_missing(&self) -> bool {
        self.paths.is_empty()
    }
}

/// A face as the API shows it (no embedding: see [`FaceEmbedding`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Face id.
    pub id: FaceId,
    /// The photo it is in.
    pub photo: PhotoId,
    /// Box in image pixels.
    pub bbox: BBox,
    /// Landmarks in image pixels.
    pub landmarks: Landmarks,
    /// Detector score in `[0, 1]` (1 for a manual face with no detection).
    pub score: f32,
    /// Model pack that produced the embedding, e.g. `buffalo_sc`.
    pub model_pack: String,
    /// Detector or user.
    pub source: FaceSource,
    /// The person it belongs to.
    pub person: Option<PersonId>,
    /// How it got that person; `None` when it has none.
    pub assigned_by: Option<AssignedBy>,
    /// Unnamed group, for faces without a person.
    pub cluster: Option<ClusterId>,
    /// Ignored (a stranger): never suggested, never clustered.
    pub ignored: bool,
    /// True when the face has an embedding (and so is in the vector index).
    pub has_embedding: bool,
}

/// A face's embedding, returned only when asked for: embeddings are private.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceEmbedding {
    /// Face id.
    pub face: FaceId,
    /// L2-normalised embedding.
    pub embedding: Embedding,
}

/// A face to add to the library (from detection or drawn by the user).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewFace {
    /// Box in image pixels.
    pub bbox: BBox,
    /// Landmarks in image pixels.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
    /// L2-normalised embedding, when one could be computed.
    pub embedding: Option<Embedding>,
    /// Model pack id of the embedding.
    pub model_pack: String,
    /// Detector or user.
    pub source: FaceSource,
}

/// A person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Person id.
    pub id: PersonId,
    /// Display name, unique ignoring case.
    pub name: String,
    /// Free text.
    pub notes: String,
    /// Face shown on the person's card.
    pub cover_face: Option<FaceId>,
    /// Hidden from the people list.
    pub hidden: bool,
    /// Birth date as `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// A person with counts, as the people list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonSummary {
    /// The person.
    pub person: Person,
    /// Number of faces assigned to them.
    pub face_count: u64,
    /// Number of distinct photos those faces are in.
    pub photo_count: u64,
    /// The face to show for them: the cover face they chose, else the
    /// medoid of their model's first look (their most typical confirmed
    /// face), else their lowest face id; `None` without faces.
    pub card_face: Option<FaceId>,
}

/// Status of a suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionStatus {
    /// Waiting for the user.
    Pending,
    /// The user accepted it (the face now belongs to the person).
    Accepted,
    /// The user rejected it (recorded as a rejection too).
    Rejected,
}

/// "Face F may be person P".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The face.
    pub face: FaceId,
    /// The person.
    pub person: PersonId,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Pending, accepted or rejected.
    pub status: SuggestionStatus,
}

/// A nearest-neighbour hit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The face found.
    pub face: FaceId,
    /// Cosine similarity to the query, in `[-1, 1]`.
    pub similarity: f32,
    /// Its person, read from the store in the same transaction.
    pub person: Option<PersonId>,
}

/// How to order the people list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonSort {
    /// By name, ignoring case.
    #[default]
    Name,
    /// Most faces first, then by name.
    FaceCount,
}

/// A page of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Items to skip.
    pub offset: usize,
    /// Items to return at most.
    pub limit: usize,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: usize::MAX,
        }
    }
}

/// What to do with a deleted person's faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteFaces {
    /// Keep the faces, unassigned (and rejected for nobody: the person is gone).
    Unassign,
    /// Delete the faces with the person.
    Delete,
}

/// An unnamed group of unknown faces, as the groups page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// The group.
    pub id: ClusterId,
    /// Number of faces in it (ignored faces excluded).
    pub size: usize,
    /// Up to eight sample faces, best first (highest detector score, then
    /// id).
    pub faces: Vec<FaceId>,
}

/// A photo as the photo grid lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoSummary {
    /// The photo.
    pub id: PhotoId,
    /// One of its paths (the first, sorted); `None` when it is missing.
    pub path: Option<PathBuf>,
    /// Width in pixels after EXIF orientation.
    pub width: u32,
    /// Height in pixels after EXIF orientation.
    pub height: u32,
    /// Number of faces in it.
    pub faces: usize,
    /// EXIF `DateTimeOriginal` as written in the file.
    pub taken: Option<String>,
}

/// A photo with its faces, as the photo viewer shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoDetail {
    /// The photo.
    pub photo: Photo,
    /// Its faces.
    pub faces: Vec<Face>,
    /// The name of each face's person, in the order of `faces`.
    pub names: Vec<Option<String>>,
}

/// Pixels for the GUI: RGBA, 8 bits per channel, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RgbaImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub pixels: Vec<u8>,
}

/// The outcome of drawing or moving a face box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceEdit {
    /// The face edited or added.
    pub face: FaceId,
    /// True when a face was found in the new region and re-embedded; false
    /// when none was found: the box stands and the old embedding (if any)
    /// is kept.
    pub reembedded: bool,
}

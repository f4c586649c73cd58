//! Photo decoding: any supported format to 8-bit RGB, EXIF orientation
//! applied first, so every coordinate the engine produces is in the
//! orientation the user sees.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};

/// Largest photo decoded, in pixels (after this a photo is refused as too
/// large rather than allocating gigabytes).
pub const MAX_PIXELS: u64 = 200_000_000;

/// Largest decoder allocation allowed, in bytes.
const MAX_ALLOC: u64 = 2 << 30;

/// A decoded photo: tightly packed 8-bit RGB rows, after EXIF orientation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, row-major RGB.
    pub rgb: Vec<u8>,
    /// EXIF `DateTimeOriginal` as written in the file (`YYYY:MM:DD HH:MM:SS`).
    pub taken_at: Option<String>,
}

impl DecodedImage {
    /// Wraps RGB pixels; `None` when the buffer length does not match.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Option<Self> {
        (rgb.len() as u64 == u64::from(width) * u64::from(height) * 3 && width > 0 && height > 0)
            .then_some(Self {
                width,
                height,
                rgb,
                taken_at: None,
            })
    }
}

/// Why a photo could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a valid image of the format they claim.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// The file ends before the image does (including an empty file).
    #[error("truncated image: {0}")]
    Truncated(String),
    /// Not an image format Likeness reads.
    #[error("unsupported image format: {0}")]
    Unsupported(String),
    /// Dimensions beyond what Likeness decodes.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
}

impl DecodeError {
    /// True when retrying cannot help (the file itself is bad).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Io(_))
    }
}

/// Reads and decodes a photo file.
pub fn decode_path(path: impl AsRef<Path>) -> Result<DecodedImage, DecodeError> {
    let bytes = std::fs::read(path.as_ref())?;
    decode_bytes(&bytes)
}

/// Decodes a photo held in memory.
pub fn decode_bytes(bytes: &[u8]) -> Result<DecodedImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Truncated("empty file".into()));
    }
    // A decoder bug must not take the app down: treat a panic as a corrupt file.
    let mut img = catch_unwind(AssertUnwindSafe(|| decode_inner(bytes)))
        .map_err(|_| DecodeError::Corrupt("the decoder failed on this file".into()))??;
    img.taken_at = exif_date(bytes);
    Ok(img)
}

fn decode_inner(bytes: &[u8]) -> Result<DecodedImage, DecodeError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(DecodeError::Io)?;
    let Some(format) = reader.format() else {
        return Err(DecodeError::Unsupported(
            "not a JPEG, PNG, WebP, TIFF, BMP or GIF file".into(),
        ));
    };
    if format == image::ImageFormat::Jpeg && jpeg_lacks_end(bytes) {
        return Err(DecodeError::Truncated(
            "JPEG data ends before its end marker".into(),
        ));
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(DecodeError::TooLarge(format!(
            "{w}x{h} pixels (at most {MAX_PIXELS} decoded)"
        )));
    }
    if w == 0 || h == 0 {
        return Err(DecodeError::Corrupt(format!("{w}x{h} pixels")));
    }
    let orientation = decoder.orientation().map_err(map_image_error)?;
    let jpeg = (format == image::ImageFormat::Jpeg)
        .then(|| jpeg_rgb(bytes))
        .flatten();
    let mut dynimg = match jpeg {
        Some(rgb) => DynamicImage::ImageRgb8(rgb),
        None => DynamicImage::from_decoder(decoder).map_err(map_image_error)?,
    };
    dynimg.apply_orientation(orientation);
    let rgb = dynimg.into_rgb8();
    let (width, height) = rgb.dimensions();
    Ok(DecodedImage {
        width,
        height,
        rgb: rgb.into_raw(),
        taken_at: None,
    })
}

/// Decodes a JPEG with libjpeg-turbo, the decoder OpenCV and Pillow use, so
/// our pixels are the reference pipeline's bit for bit (image's pure-Rust
/// decoder differs by up to 4 levels on an eighth of the pixels, enough to
/// flip a near-tie in detection). `None` for what `TurboJPEG` cannot turn
/// into RGB (CMYK) or refuses; the caller falls back to the `image` decoder,
/// which also gives the typed error for a really bad file.
fn jpeg_rgb(bytes: &[u8]) -> Option<image::RgbImage> {
    let img = turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB).ok()?;
    let (w, h) = (
        u32::try_from(img.width).ok()?,
        u32::try_from(img.height).ok()?,
    );
    if img.pitch != img.width * 3 {
        return None;
    }
    image::RgbImage::from_raw(w, h, img.pixels)
}

/// True when a JPEG's last bytes hold no end-of-image marker. Entropy-coded
/// data never contains `FF D9`, so a file cut inside the scan has none there.
fn jpeg_lacks_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    !tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn map_image_error(e: ImageError) -> DecodeError {
    match e {
        ImageError::Limits(l) => DecodeError::TooLarge(l.to_string()),
        ImageError::Unsupported(u) => DecodeError::Unsupported(u.to_string()),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated(io.to_string())
        }
        ImageError::IoError(io) => DecodeError::Corrupt(io.to_string()),
        other => {
            let msg = other.to_string();
            let lower = msg.to_ascii_lowercase();
            if [
                "eof",
                "truncat",
                "unexpected end",
                "not enough data",
                "no more data",
            ]
            .iter()
            .any(|k| lower.contains(k))
            {
                DecodeError::Truncated(msg)
            } else {
                DecodeError::Corrupt(msg)
            }
        }
    }
}

/// EXIF `DateTimeOriginal`, when the file carries one.
fn exif_date(bytes: &[u8]) -> Option<String> {
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()?;
    let field = exif.get_field(exif::Tag::DateTimeOriginal, exif::In::PRIMARY)?;
    match &field.value {
        exif::Value::Ascii(parts) => {
            let s = String::from_utf8_lossy(parts.first()?).trim().to_owned();
            (!s.is_empty()).then_some(s)
        }
        _ => None,
    }
}

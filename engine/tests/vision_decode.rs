//! Decoding: every bad-input fixture gives its typed error (never a panic),
//! and good inputs of every supported format decode with EXIF orientation.

use std::path::PathBuf;

use likeness_engine::vision::{DecodeError, decode_path};

fn fixtures(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Corrupt,
    Truncated,
    Unsupported,
    TooLarge,
}

fn kind(e: &DecodeError) -> Option<Kind> {
    match e {
        DecodeError::Corrupt(_) => Some(Kind::Corrupt),
        DecodeError::Truncated(_) => Some(Kind::Truncated),
        DecodeError::Unsupported(_) => Some(Kind::Unsupported),
        DecodeError::TooLarge(_) => Some(Kind::TooLarge),
        DecodeError::Io(_) => None,
    }
}

#[test]
fn every_bad_fixture_gives_its_typed_error() {
    let expected = [
        ("corrupt.jpg", Kind::Corrupt),
        ("corrupt_crc.png", Kind::Corrupt),
        ("unknown_header.bmp", Kind::Unsupported),
        ("empty.jpg", Kind::Truncated),
        ("empty.png", Kind::Truncated),
        ("truncated.jpg", Kind::Truncated),
        ("truncated.png", Kind::Truncated),
        ("truncated.webp", Kind::Truncated),
        ("not_an_image.jpg", Kind::Unsupported),
        ("not_an_image.png", Kind::Unsupported),
        ("huge_dimensions.png", Kind::TooLarge),
        ("huge_dimensions.gif", Kind::TooLarge),
    ];
    let dir = fixtures("bad_images");
    let mut seen = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixture folder exists") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let result = std::panic::catch_unwind(|| decode_path(&path));
        let Ok(result) = result else {
            failures.push(format!("{name}: panicked"));
            continue;
        };
        seen += 1;
        let want = expected.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
        match (result, want) {
            (Ok(img), _) => {
                failures.push(format!("{name}: decoded as {}x{}", img.width, img.height));
            }
            (Err(e), Some(w)) if kind(&e) == Some(w) => println!("{name}: {e}"),
            (Err(e), w) => failures.push(format!("{name}: got {e:?}, expected {w:?}")),
        }
    }
    assert_eq!(
        seen,
        expected.len(),
        "fixture count; failures: {failures:#?}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn missing_file_is_an_io_error() {
    let err = decode_path(fixtures("bad_images").join("no_such_file.jpg")).expect_err("missing");
    assert!(matches!(err, DecodeError::Io(_)), "{err:?}");
}

fn px(img: &likeness_engine::vision::DecodedImage, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * img.width + x) * 3) as usize;
    [img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]]
}

#[test]
fn exif_orientation_and_date_are_applied() {
    // Stored 40x20, left half red, right half blue, orientation 6 (90° clockwise).
    let img = decode_path(fixtures("vision_ok").join("oriented_6.jpg")).expect("decodes");
    assert_eq!((img.width, img.height), (20, 40));
    let top = px(&img, 10, 5);
    let bottom = px(&img, 10, 35);
    assert!(top[0] > 200 && top[2] < 60, "top should be red: {top:?}");
    assert!(
        bottom[2] > 200 && bottom[0] < 60,
        "bottom should be blue: {bottom:?}"
    );
    assert_eq!(img.taken_at.as_deref(), Some("2021:07:04 12:34:56"));
}

#[test]
fn every_supported_format_decodes_to_rgb8() {
    for name in [
        "png_named.jpg",
        "plain.gif",
        "plain.bmp",
        "plain.tiff",
        "plain.webp",
    ] {
        let img =
            decode_path(fixtures("vision_ok").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((img.width, img.height), (40, 20), "{name}");
        let left = px(&img, 5, 10);
        let right = px(&img, 35, 10);
        assert!(left[0] > 200 && left[2] < 60, "{name}: left {left:?}");
        assert!(right[2] > 200 && right[0] < 60, "{name}: right {right:?}");
        assert_eq!(img.rgb.len(), 40 * 20 * 3);
    }
    let rgba = decode_path(fixtures("vision_ok").join("rgba.png")).expect("rgba");
    assert_eq!(px(&rgba, 3, 3), [200, 0, 0], "alpha dropped, colour kept");
    let g16 = decode_path(fixtures("vision_ok").join("gray16.png")).expect("16-bit");
    let v = px(&g16, 2, 2);
    assert!(
        v.iter().all(|&c| c.abs_diff(156) <= 1),
        "16-bit scaled to 8-bit: {v:?}"
    );
}

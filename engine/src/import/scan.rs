//! Finding photos: walks folders recursively in a deterministic order, skips
//! hidden, system and excluded folders, and takes files by their content
//! (magic bytes), not their extension. Problems (unreadable folders, symlink
//! loops) are reported per path and never stop the walk.

use std::io::Read;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Folder names skipped wherever they appear: thumbnail caches, NAS metadata,
/// version control, trash.
pub const SYSTEM_FOLDERS: [&str; 8] = [
    ".thumbnails",
    "@eaDir",
    ".git",
    "#recycle",
    "$RECYCLE.BIN",
    "System Volume Information",
    "lost+found",
    ".Trash",
];

/// What to skip besides hidden and system folders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// Folder or file names to skip (exact, case-sensitive), and absolute
    /// paths whose subtree is skipped.
    pub exclusions: Vec<String>,
}

/// A file or folder that could not be taken, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileError {
    /// Path as found.
    pub path: String,
    /// Why, in words.
    pub reason: String,
}

/// The result of a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Image files found, in walk order (sorted by name within a folder).
    pub images: Vec<PathBuf>,
    /// Files skipped because their content is not an image we read.
    pub not_images: u64,
    /// Paths that could not be walked or read.
    pub errors: Vec<FileError>,
}

fn skipped(path: &Path, name: &str, depth: usize, options: &ScanOptions) -> bool {
    // The roots themselves are walked even when hidden: the user chose them.
    depth > 0
        && ((name.starts_with('.') && name.len() > 1)
            || SYSTEM_FOLDERS.contains(&name)
            || options
                .exclusions
                .iter()
                .any(|e| e == name || Path::new(e) == path))
}

/// True when a path below `root` lies in (or is) a hidden, system or
/// excluded folder or file, so a walk from `root` would not take it.
pub fn is_skipped_path(root: &Path, path: &Path, options: &ScanOptions) -> bool {
    let Ok(relative) = path.strip_prefix(root) else {
        return true;
    };
    let mut current = root.to_path_buf();
    relative.components().any(|c| {
        current.push(c);
        skipped(&current, &c.as_os_str().to_string_lossy(), 1, options)
    })
}

/// Extensions people give photos; a file with one of these whose content is
/// not an image we read is reported, not silently skipped.
pub const PHOTO_EXTENSIONS: [&str; 11] = [
    "jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif", "heic", "heif", "avif",
];

fn has_photo_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| PHOTO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// True when the file starts like an image format we decode.
pub fn looks_like_image(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 32];
    let mut file = std::fs::File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        let read = file.read(&mut head[n..])?;
        if read == 0 {
            break;
        }
        n += read;
    }
    Ok(image::guess_format(&head[..n]).is_ok_and(|f| {
        matches!(
            f,
            image::ImageFormat::Jpeg
                | image::ImageFormat::Png
                | image::ImageFormat::WebP
                | image::ImageFormat::Tiff
                | image::ImageFormat::Bmp
                | image::ImageFormat::Gif
        )
    }))
}

/// Why a pipe, socket or device named like a photo is not imported.
const NOT_REGULAR: &str = "not a regular file (a pipe, socket or device)";

/// Walks `roots` and collects the image files. `keep_going` is polled between
/// entries so a cancelled import stops promptly.
pub fn scan(
    roots: &[PathBuf],
    options: &ScanOptions,
    keep_going: &dyn Fn() -> bool,
) -> ScanOutcome {
    let mut out = ScanOutcome::default();
    for root in roots {
        let walker = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                !skipped(
                    e.path(),
                    &e.file_name().to_string_lossy(),
                    e.depth(),
                    options,
                )
            });
        for entry in walker {
            if !keep_going() {
                return out;
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().unwrap_or(root).display().to_string();
                    let reason = if e.loop_ancestor().is_some() {
                        "symbolic link loop".to_owned()
                    } else {
                        e.io_error()
                            .map_or_else(|| e.to_string(), ToString::to_string)
                    };
                    out.errors.push(FileError { path, reason });
                    continue;
                }
            };
            let kind = entry.file_type();
            if !kind.is_file() {
                // A pipe, socket or device named like a photo is never read
                // (reading a pipe would block the import), but is reported.
                if !kind.is_dir() && has_photo_extension(entry.path()) {
                    out.errors.push(FileError {
                        path: entry.path().display().to_string(),
                        reason: NOT_REGULAR.to_owned(),
                    });
                }
                continue;
            }
            match looks_like_image(entry.path()) {
                Ok(true) => out.images.push(entry.into_path()),
                Ok(false) if has_photo_extension(entry.path()) => {
                    let empty = entry.metadata().is_ok_and(|m| m.len() == 0);
                    out.errors.push(FileError {
                        path: entry.path().display().to_string(),
                        reason: if empty {
                            "empty file".to_owned()
                        } else {
                            "not an image we can read (content does not match the extension, or an unsupported format)".to_owned()
                        },
                    });
                }
                Ok(false) => out.not_images += 1,
                Err(e) => out.errors.push(FileError {
                    path: entry.path().display().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
    ];

    #[test]
    fn walks_by_content_skipping_hidden_system_and_excluded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for sub in ["a", "a/.hidden", "a/@eaDir", "b", "private"] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        for file in [
            "a/1.png",
            "a/no_ext",
            "a/.hidden/x.png",
            "a/@eaDir/t.png",
            "b/2.jpg.png",
            "private/p.png",
        ] {
            fs::write(root.join(file), PNG_1X1).expect("write");
        }
        fs::write(root.join("b/fake.jpg"), b"not an image at all").expect("write");
        fs::write(root.join("b/empty.png"), b"").expect("write");
        fs::write(root.join("b/notes.txt"), b"shopping list").expect("write");
        let options = ScanOptions {
            exclusions: vec!["private".into()],
        };
        let out = scan(&[root.to_path_buf()], &options, &|| true);
        let found: Vec<String> = out
            .images
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(found, ["a/1.png", "a/no_ext", "b/2.jpg.png"]);
        assert_eq!(out.not_images, 1, "notes.txt is skipped quietly");
        let errors: Vec<(String, &str)> = out
            .errors
            .iter()
            .map(|e| {
                (
                    Path::new(&e.path)
                        .strip_prefix(root)
                        .expect("under root")
                        .display()
                        .to_string(),
                    e.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            errors,
            [
                ("b/empty.png".to_owned(), "empty file"),
                (
                    "b/fake.jpg".to_owned(),
                    "not an image we can read (content does not match the extension, or an unsupported format)"
                ),
            ]
        );
    }

    /// Regression test: a socket (like a pipe) named like a photo was
    /// skipped without a word.
    #[cfg(unix)]
    #[test]
    fn special_file_named_like_a_photo_is_reported_not_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        fs::write(root.join("1.png"), PNG_1X1).expect("write");
        let _socket = std::os::unix::net::UnixListener::bind(root.join("2.jpg")).expect("socket");
        let _quiet = std::os::unix::net::UnixListener::bind(root.join("s")).expect("socket");
        let out = scan(&[root.to_path_buf()], &ScanOptions::default(), &|| true);
        assert_eq!(out.images, [root.join("1.png")]);
        let errors: Vec<_> = out
            .errors
            .iter()
            .map(|e| (e.path.clone(), e.reason.as_str()))
            .collect();
        assert_eq!(
            errors,
            [(root.join("2.jpg").display().to_string(), NOT_REGULAR)]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_is_reported_once_and_walk_goes_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        fs::create_dir_all(root.join("a")).expect("mkdir");
        fs::write(root.join("a/1.png"), PNG_1X1).expect("write");
        std::os::unix::fs::symlink(root, root.join("a/loop")).expect("symlink");
        let out = scan(&[root.to_path_buf()], &ScanOptions::default(), &|| true);
        assert_eq!(out.images.len(), 1);
        assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
        assert_eq!(out.errors[0].reason, "symbolic link loop");
    }
}

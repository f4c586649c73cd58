//! Thumbnails from a real photo: a face crop of the right size, a new file
//! when the box moves, and a cache that stays under its bound.

use likeness_engine::thumbs::{FACE_THUMB_PX, PHOTO_THUMB_PX, ThumbCache};
use likeness_engine::{BBox, Face, FaceId, FaceSource, Photo, PhotoId, ScanStatus};
use likeness_testkit::shared_dir;

fn face(id: u64, photo: &Photo, bbox: BBox) -> Face {
    Face {
        id: FaceId(id),
        photo: photo.id,
        bbox,
        landmarks: [[0.0; 2]; 5],
        score: 0.9,
        model_pack: "buffalo_sc".into(),
        source: FaceSource::Auto,
        person: None,
        assigned_by: None,
        cluster: None,
        ignored: false,
        has_embedding: true,
    }
}

/// The shared group photo of two people, as a library photo.
fn two_people() -> Photo {
    let path = shared_dir().join("faces/group/fr_two_people.jpg");
    let bytes = std::fs::read(&path).expect("photo");
    Photo {
        id: PhotoId::of_bytes(&bytes),
        paths: vec![path.display().to_string()],
        size_bytes: bytes.len() as u64,
        width: 0,
        height: 0,
        taken_at: None,
        status: ScanStatus::Detected,
    }
}

#[test]
fn face_and_photo_thumbnails() {
    let photo = two_people();
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = ThumbCache::new(dir.path().to_owned(), 10 << 20);
    let b = BBox {
        x1: 50.0,
        y1: 40.0,
        x2: 150.0,
        y2: 160.0,
    };
    let first = cache
        .face_thumb(&face(1, &photo, b), &photo)
        .expect("face thumb");
    let img = image::open(&first).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (FACE_THUMB_PX, FACE_THUMB_PX));
    let moved = cache
        .face_thumb(&face(1, &photo, BBox { x1: 60.0, ..b }), &photo)
        .expect("moved box");
    assert_ne!(first, moved, "a moved box makes a new thumbnail");
    let preview = image::open(cache.photo_thumb(&photo).expect("photo thumb")).expect("a JPEG");
    assert!(preview.width().max(preview.height()) <= PHOTO_THUMB_PX);

    // A cache bounded below one thumbnail keeps only the one just made.
    let small = ThumbCache::new(dir.path().join("small"), 1);
    let a = small
        .face_thumb(&face(2, &photo, b), &photo)
        .expect("thumb");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let c = small
        .face_thumb(&face(3, &photo, b), &photo)
        .expect("thumb");
    assert!(!a.exists(), "the older thumbnail is evicted");
    assert!(c.exists(), "the thumbnail just made is kept");

    let missing = Photo {
        paths: vec![],
        ..photo
    };
    let fresh = ThumbCache::new(dir.path().join("fresh"), 10 << 20);
    assert_eq!(
        fresh.photo_thumb(&missing).err(),
        Some(likeness_engine::thumbs::ThumbError::Missing)
    );
}

/// Sized pictures come from the worker's threads, not the caller's; the
/// second request for one is served from the file the first one cached.
#[test]
fn image_worker_makes_pictures_off_the_calling_thread() {
    use likeness_engine::media::{ImageJob, ImageWorker};
    let photo = two_people();
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = ThumbCache::new(dir.path().to_owned(), 10 << 20);
    let worker = ImageWorker::start(cache.clone(), 2).expect("worker");
    let (tx, rx) = crossbeam_channel::unbounded();
    let b = BBox {
        x1: 50.0,
        y1: 40.0,
        x2: 150.0,
        y2: 160.0,
    };
    let jobs = [
        ImageJob::Face {
            face: Box::new(face(1, &photo, b)),
            photo: Box::new(photo.clone()),
            size_px: 64,
        },
        ImageJob::Photo {
            photo: Box::new(photo.clone()),
            max_side_px: 100,
        },
    ];
    for job in jobs.iter().chain(jobs.iter()) {
        let tx = tx.clone();
        worker.submit(
            job.clone(),
            Box::new(move |result| {
                let thread = std::thread::current().name().map(str::to_owned);
                let _ = tx.send((result, thread));
            }),
        );
        // The second round reads what the first one cached.
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(worker);
    let results: Vec<_> = rx.try_iter().collect();
    assert_eq!(results.len(), 4);
    for (result, thread) in &results {
        let image = result.as_ref().expect("a picture");
        assert!(
            thread
                .as_deref()
                .is_some_and(|t| t.starts_with("likeness-thumbs")),
            "made on {thread:?}"
        );
        assert_eq!(
            image.pixels.len(),
            (image.width * image.height * 4) as usize
        );
        assert!(
            (image.width, image.height) == (64, 64) || image.width.max(image.height) == 100,
            "{}x{}",
            image.width,
            image.height
        );
    }
    assert!(cache.face_path_sized(&face(1, &photo, b), 64).is_file());
    assert!(cache.photo_path_sized(&photo, 100).is_file());
}

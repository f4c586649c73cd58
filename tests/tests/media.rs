//! Photos and media through the engine's commands, on real photos: the photo
//! list and detail, face thumbnails and photo previews from the on-disk
//! cache (a moved box gets a new thumbnail), face-box edits re-embedded by
//! vision, drawn and deleted faces, undo, typed errors, and `check`.

use likeness_engine::{
    ActionError, BBox, Command, Engine, EngineError, FaceEdit, FaceId, Page, PhotoId, QueryError,
    Reply, RgbaImage,
};
use likeness_tests::{engine_with_vision, import_folders, shared_dir};
use std::path::Path;

fn copy(from: &Path, to_dir: &Path) {
    let name = from.file_name().expect("file name");
    std::fs::copy(from, to_dir.join(name)).expect("copy photo");
}

fn photos(
    engine: &Engine,
    persons: Vec<likeness_engine::PersonId>,
) -> Vec<likeness_engine::PhotoSummary> {
    match engine.call(Command::ListPhotos {
        persons,
        page: Page::default(),
    }) {
        Ok(Reply::PhotoList(list)) => list,
        other => panic!("list photos: {other:?}"),
    }
}

fn detail(engine: &Engine, photo: PhotoId) -> likeness_engine::PhotoDetail {
    match engine.call(Command::GetPhoto { photo }) {
        Ok(Reply::PhotoDetail(d)) => *d,
        other => panic!("get photo: {other:?}"),
    }
}

fn image(engine: &Engine, command: Command) -> RgbaImage {
    match engine.call(command) {
        Ok(Reply::Image(image)) => image,
        other => panic!("image: {other:?}"),
    }
}

fn edited(engine: &Engine, command: Command) -> FaceEdit {
    match engine.call(command) {
        Ok(Reply::FaceEdited(edit)) => edit,
        other => panic!("face edit: {other:?}"),
    }
}

fn consistent(engine: &Engine) {
    match engine.call(Command::Check { repair: false }) {
        Ok(Reply::Check(report)) => assert!(report.is_consistent(), "{:?}", report.problems),
        other => panic!("check: {other:?}"),
    }
}

fn shifted(b: BBox, dx: f32, dy: f32) -> BBox {
    BBox {
        x1: b.x1 + dx,
        y1: b.y1 + dy,
        x2: b.x2 + dx,
        y2: b.y2 + dy,
    }
}

#[test]
fn photos_thumbnails_and_face_edits_through_the_engine() {
    let faces = shared_dir().join("faces");
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("photos");
    std::fs::create_dir(&folder).expect("folder");
    copy(
        &faces.join("people/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"),
        &folder,
    );
    copy(&faces.join("group/fr_two_people.jpg"), &folder);
    copy(&faces.join("negative/dogs.jpg"), &folder);
    let library = dir.path().join("lib.redb");
    let engine = engine_with_vision(&library);
    let summary = import_folders(&engine, vec![folder.clone()]);
    assert_eq!(summary.new_photos, 3, "{summary:?}");

    // The photo list: every photo once, in capture-date-then-id order,
    // with its face count; the detail agrees.
    let list = photos(&engine, Vec::new());
    assert_eq!(list.len(), 3);
    let keys: Vec<_> = list.iter().map(|p| (p.taken.clone(), p.id)).collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| match (&a.0, &b.0) {
        (Some(x), Some(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    assert_eq!(keys, sorted);
    let by_name = |name: &str| {
        list.iter()
            .find(|p| p.path.as_ref().is_some_and(|path| path.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} listed"))
            .clone()
    };
    let single = by_name("Aaron_Peirsol_0001.jpg");
    let pair = by_name("fr_two_people.jpg");
    let dogs = by_name("dogs.jpg");
    // The reference pipeline, too, takes one dog for a face.
    assert_eq!((single.faces, pair.faces, dogs.faces), (1, 2, 1));
    assert_eq!((single.width, single.height), (250, 250));
    let paged = match engine.call(Command::ListPhotos {
        persons: Vec::new(),
        page: Page {
            offset: 1,
            limit: 1,
        },
    }) {
        Ok(Reply::PhotoList(l)) => l,
        other => panic!("{other:?}"),
    };
    assert_eq!(paged, list[1..2].to_vec());
    let pair_detail = detail(&engine, pair.id);
    assert_eq!(pair_detail.faces.len(), 2);
    assert_eq!(pair_detail.names, vec![None, None]);
    assert!(pair_detail.faces.windows(2).all(|w| w[0].id < w[1].id));

    // With persons: only photos with all of them; names in the detail.
    let Ok(Reply::PersonCreated(aaron)) = engine.call(Command::CreatePerson {
        name: "Aaron".into(),
    }) else {
        panic!("create person");
    };
    let face = detail(&engine, single.id).faces[0].clone();
    engine
        .call(Command::AssignFaces {
            faces: vec![face.id],
            person: aaron,
        })
        .expect("assign");
    let with_aaron = photos(&engine, vec![aaron]);
    assert_eq!(
        with_aaron.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![single.id]
    );
    assert_eq!(
        detail(&engine, single.id).names,
        vec![Some("Aaron".to_owned())]
    );
    let face = detail(&engine, single.id).faces[0].clone();

    // Thumbnails: the requested size, cached on disk beside the library.
    let thumb = image(
        &engine,
        Command::FaceThumbnail {
            face: face.id,
            size_px: 96,
        },
    );
    assert_eq!((thumb.width, thumb.height), (96, 96));
    assert_eq!(thumb.pixels.len(), 96 * 96 * 4);
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("lib.thumbs/faces"))
        .expect("face thumbnails cached")
        .collect();
    assert_eq!(cached.len(), 1);
    let again = image(
        &engine,
        Command::FaceThumbnail {
            face: face.id,
            size_px: 96,
        },
    );
    assert_eq!((again.width, again.height), (96, 96));
    let other = image(
        &engine,
        Command::FaceThumbnail {
            face: pair_detail.faces[0].id,
            size_px: 96,
        },
    );
    assert_ne!(other.pixels, thumb.pixels, "two faces, two pictures");
    let preview = image(
        &engine,
        Command::PhotoImage {
            photo: pair.id,
            max_side_px: 128,
        },
    );
    assert_eq!(preview.width.max(preview.height), 128);
    let ratio = f64::from(pair.width) / f64::from(pair.height);
    let got = f64::from(preview.width) / f64::from(preview.height);
    assert!((ratio - got).abs() < 0.05, "aspect {ratio} vs {got}");
    let full = image(
        &engine,
        Command::PhotoImage {
            photo: single.id,
            max_side_px: 1000,
        },
    );
    assert_eq!((full.width, full.height), (250, 250), "never enlarged");
    match engine.call(Command::PhotoImage {
        photo: PhotoId([9; 32]),
        max_side_px: 64,
    }) {
        Err(EngineError::Query(QueryError::UnknownPhoto(_))) => {}
        other => panic!("expected unknown photo, got {other:?}"),
    }

    // Moving the box a few pixels: re-embedded, and the thumbnail follows.
    let moved = shifted(face.bbox, 5.0, 3.0);
    let edit = edited(
        &engine,
        Command::SetFaceBox {
            face: face.id,
            bbox: moved,
        },
    );
    assert_eq!(
        edit,
        FaceEdit {
            face: face.id,
            reembedded: true
        }
    );
    let after = detail(&engine, single.id).faces[0].clone();
    assert_eq!(after.bbox, moved);
    assert_eq!(after.person, Some(aaron), "the edit keeps who it is");
    let moved_thumb = image(
        &engine,
        Command::FaceThumbnail {
            face: face.id,
            size_px: 96,
        },
    );
    assert_ne!(
        moved_thumb.pixels, thumb.pixels,
        "a moved box, a new thumbnail"
    );
    consistent(&engine);
    match engine.call(Command::SetFaceBox {
        face: face.id,
        bbox: BBox {
            x1: -5.0,
            y1: 10.0,
            x2: 40.0,
            y2: 60.0,
        },
    }) {
        Err(EngineError::Action(ActionError::BoxOutsideImage { .. })) => {}
        other => panic!("expected a box outside the image, got {other:?}"),
    }
    match engine.call(Command::Undo) {
        Ok(Reply::Undone(label)) => assert!(label.contains("box"), "{label}"),
        other => panic!("undo: {other:?}"),
    }
    assert_eq!(detail(&engine, single.id).faces[0], face);

    // Drawing a face on the dogs photo, far from the dog the detector took
    // for a face: none found, added without an embedding; deleting it;
    // undo brings it back.
    let dogs_before = detail(&engine, dogs.id).faces;
    let drawn = edited(
        &engine,
        Command::AddFace {
            photo: dogs.id,
            bbox: BBox {
                x1: 10.0,
                y1: 10.0,
                x2: 60.0,
                y2: 70.0,
            },
        },
    );
    assert!(!drawn.reembedded);
    let dogs_detail = detail(&engine, dogs.id);
    assert_eq!(dogs_detail.faces.len(), 2);
    let added = dogs_detail
        .faces
        .iter()
        .find(|f| f.id == drawn.face)
        .expect("the drawn face");
    assert!(!added.has_embedding);
    assert_eq!(added.source, likeness_engine::FaceSource::Manual);
    assert_eq!(
        engine.call(Command::DeleteFace { face: drawn.face }),
        Ok(Reply::FacesAffected(1))
    );
    assert_eq!(detail(&engine, dogs.id).faces, dogs_before);
    engine.call(Command::Undo).expect("undo the delete");
    assert_eq!(detail(&engine, dogs.id).faces, dogs_detail.faces);
    match engine.call(Command::DeleteFace { face: FaceId(9999) }) {
        Err(EngineError::Action(ActionError::UnknownFace(FaceId(9999)))) => {}
        other => panic!("expected unknown face, got {other:?}"),
    }
    consistent(&engine);
}

/// The photo list's order on dated and undated photos: by capture date,
/// undated last, ties by id; paging; persons filter with all of them.
#[test]
fn photo_list_order_paging_and_persons() {
    use likeness_engine::Library;
    use likeness_tests::{new_face, new_photo};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut library = Library::open(&dir.path().join("lib.redb")).expect("open");
    let dates = [
        Some("2021:05:01 10:00:00"),
        None,
        Some("2019:12:31 23:59:59"),
        Some("2021:05:01 10:00:00"),
        None,
    ];
    let mut faces = Vec::new();
    for (n, date) in dates.iter().enumerate() {
        let mut photo = new_photo(n as u64);
        photo.taken_at = date.map(str::to_owned);
        let commit = library
            .record_photo(&photo, &[new_face(0, None), new_face(1, None)][..n % 3])
            .expect("record");
        faces.push(commit.faces);
    }
    let list = library.list_photos(&[], Page::default()).expect("list");
    let mut expected: Vec<(Option<String>, PhotoId)> = (0..dates.len() as u64)
        .map(|n| (dates[n as usize].map(str::to_owned), new_photo(n).id))
        .collect();
    expected.sort_by(|a, b| (a.0.is_none(), &a.0, a.1).cmp(&(b.0.is_none(), &b.0, b.1)));
    let got: Vec<(Option<String>, PhotoId)> =
        list.iter().map(|p| (p.taken.clone(), p.id)).collect();
    assert_eq!(got, expected);
    assert_eq!(list[0].taken.as_deref(), Some("2019:12:31 23:59:59"));
    assert!(list[3].taken.is_none() && list[4].taken.is_none());
    for p in &list {
        let n = (0..5u64)
            .find(|&n| new_photo(n).id == p.id)
            .expect("known photo");
        assert_eq!(p.faces, n as usize % 3);
        assert_eq!(
            p.path.as_deref(),
            Some(std::path::Path::new(&new_photo(n).path))
        );
    }
    let page = library
        .list_photos(
            &[],
            Page {
                offset: 2,
                limit: 2,
            },
        )
        .expect("page");
    assert_eq!(page, list[2..4].to_vec());

    // Photos 1 and 4 have one face each, photo 2 has two.
    let a = library.create_person("A").expect("person");
    let b = library.create_person("B").expect("person");
    library
        .assign_faces(&[faces[1][0], faces[2][0]], a)
        .expect("assign");
    library.assign_faces(&[faces[2][1]], b).expect("assign");
    let with_a: Vec<PhotoId> = library
        .list_photos(&[a], Page::default())
        .expect("list")
        .iter()
        .map(|p| p.id)
        .collect();
    // Photo 2 is dated, photo 1 is not: 2 first.
    assert_eq!(with_a, vec![new_photo(2).id, new_photo(1).id]);
    let with_both: Vec<PhotoId> = library
        .list_photos(&[a, b], Page::default())
        .expect("list")
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(with_both, vec![new_photo(2).id]);
    match library.list_photos(&[likeness_engine::PersonId(99)], Page::default()) {
        Err(QueryError::UnknownPerson(_)) => {}
        other => panic!("expected unknown person, got {other:?}"),
    }
}

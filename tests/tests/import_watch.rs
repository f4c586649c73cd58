//! Issue 4's watched folders and import control, through the engine's
//! commands and events on real photos:
//! - a photo copied into an imported folder is picked up (its faces appear),
//!   a deleted one becomes missing with its faces kept, a file overwritten
//!   with other content moves to the new photo;
//! - pause stops the import after the photo in hand, resume continues,
//!   cancel ends it with what was committed kept; `check` passes throughout
//!   and a second import completes the library.

use likeness_engine::import::PHOTOS_IN_FLIGHT;
use likeness_engine::{Command, Engine, Event, Page, PhotoSummary, Reply};
use likeness_tests::{engine_with_vision, import_folders, shared_dir};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A generous deadline for background work on a busy machine (a deadline
/// to fail instead of hanging, not a speed assertion).
const DEADLINE: Duration = Duration::from_mins(2);

fn photos(engine: &Engine) -> Vec<PhotoSummary> {
    match engine.call(Command::ListPhotos {
        persons: Vec::new(),
        page: Page::default(),
    }) {
        Ok(Reply::PhotoList(list)) => list,
        other => panic!("list photos: {other:?}"),
    }
}

fn consistent(engine: &Engine) {
    match engine.call(Command::Check { repair: false }) {
        Ok(Reply::Check(report)) => assert!(report.is_consistent(), "{:?}", report.problems),
        other => panic!("check: {other:?}"),
    }
}

/// Waits for an event matching `want`, dropping others.
fn wait_for(engine: &Engine, what: &str, want: impl Fn(&Event) -> bool) -> Event {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match engine.events().recv_timeout(left) {
            Ok(e) if want(&e) => return e,
            Ok(_) => {}
            Err(e) => panic!("no {what} within {DEADLINE:?}: {e}"),
        }
    }
}

/// Polls `query` until `done` holds for its value.
fn poll<T: std::fmt::Debug>(
    what: &str,
    mut query: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        let v = query();
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < end,
            "{what}: still {v:?} after {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Puts a file into a watched folder in one step (copied beside, then
/// renamed), so the watcher never sees half a file.
fn drop_in(from: &Path, staging: &Path, to: &Path) {
    let tmp = staging.join(to.file_name().expect("name"));
    std::fs::copy(from, &tmp).expect("copy");
    std::fs::rename(&tmp, to).expect("rename into the folder");
}

fn faces_of(list: &[PhotoSummary], name: &str) -> Option<usize> {
    list.iter()
        .find(|p| p.path.as_ref().is_some_and(|path| path.ends_with(name)))
        .map(|p| p.faces)
}

#[test]
fn watched_folder_picks_up_new_deleted_and_changed_photos() {
    let faces = shared_dir().join("faces");
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("photos");
    let staging = dir.path().join("staging");
    std::fs::create_dir(&folder).expect("folder");
    std::fs::create_dir(&staging).expect("staging");
    let first = faces.join("people/Aaron_Peirsol/Aaron_Peirsol_0001.jpg");
    std::fs::copy(&first, folder.join("a.jpg")).expect("copy");
    let engine = engine_with_vision(&dir.path().join("lib.redb"));
    let summary = import_folders(&engine, vec![folder.clone()]);
    assert_eq!(summary.new_photos, 1);

    // A new photo appears: the watcher's import picks it up with its faces.
    drop_in(
        &faces.join("group/fr_two_people.jpg"),
        &staging,
        &folder.join("b.jpg"),
    );
    let finished = wait_for(
        &engine,
        "watcher import",
        |e| matches!(e, Event::ImportFinished(s) if s.new_photos > 0),
    );
    let Event::ImportFinished(s) = finished else {
        unreachable!()
    };
    assert_eq!((s.new_photos, s.faces_found), (1, 2), "{s:?}");
    let list = photos(&engine);
    assert_eq!(list.len(), 2);
    assert_eq!(faces_of(&list, "b.jpg"), Some(2));
    consistent(&engine);

    // A photo is deleted: it becomes missing (no path), its face kept.
    std::fs::remove_file(folder.join("a.jpg")).expect("delete");
    let list = poll(
        "the deleted photo marked missing",
        || photos(&engine),
        |l| l.iter().any(|p| p.path.is_none()),
    );
    let missing: Vec<_> = list.iter().filter(|p| p.path.is_none()).collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].faces, 1, "a missing photo keeps its faces");
    consistent(&engine);

    // A file overwritten with other content: the path moves to the new
    // photo; the old content becomes missing, faces kept.
    drop_in(
        &faces.join("people/Al_Sharpton/Al_Sharpton_0001.jpg"),
        &staging,
        &folder.join("b.jpg"),
    );
    let list = poll(
        "the changed file re-imported",
        || photos(&engine),
        |l| l.len() == 3,
    );
    assert_eq!(faces_of(&list, "b.jpg"), Some(1), "{list:?}");
    let missing: Vec<usize> = list
        .iter()
        .filter(|p| p.path.is_none())
        .map(|p| p.faces)
        .collect();
    assert_eq!(missing.len(), 2, "{list:?}");
    assert!(
        missing.contains(&2),
        "the two-face photo is missing, its faces kept: {list:?}"
    );
    consistent(&engine);

    // Its content comes back at a new path: the photo is found again, no
    // new faces (known by its hash).
    drop_in(&first, &staging, &folder.join("back.jpg"));
    let list = poll(
        "the moved-back photo found again",
        || photos(&engine),
        |l| faces_of(l, "back.jpg").is_some(),
    );
    assert_eq!(list.len(), 3, "no new photo: {list:?}");
    assert_eq!(faces_of(&list, "back.jpg"), Some(1));
    consistent(&engine);
}

/// Copies `n` single-face photos of the shared people folder into `to`.
fn copy_people(n: usize, to: &Path) -> Vec<PathBuf> {
    let people = shared_dir().join("faces/people");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&people)
        .expect("people")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    for d in dirs {
        let mut inner: Vec<_> = std::fs::read_dir(&d)
            .expect("person")
            .map(|e| e.expect("entry").path())
            .collect();
        inner.sort();
        files.extend(inner);
    }
    files.truncate(n);
    for (i, f) in files.iter().enumerate() {
        std::fs::copy(f, to.join(format!("{i:03}.jpg"))).expect("copy");
    }
    files
}

#[test]
fn pause_resume_and_cancel_take_effect_and_leave_a_consistent_library() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("photos");
    std::fs::create_dir(&folder).expect("folder");
    let total = copy_people(60, &folder).len();
    let engine = engine_with_vision(&dir.path().join("lib.redb"));
    let import = engine.send(Command::Import {
        folders: vec![folder.clone()],
        exclusions: Vec::new(),
    });
    wait_for(
        &engine,
        "detection under way",
        |e| matches!(e, Event::ImportProgress(p) if p.phase == likeness_engine::import::ImportPhase::Detect && p.done >= 3),
    );

    // Pause: at most the photos in flight are committed after the reply
    // (their faces are found; committing them loses nothing and keeps
    // them if the app is closed while paused).
    assert_eq!(engine.call(Command::PauseImport), Ok(Reply::Done));
    let paused_at = Instant::now();
    let at_pause = photos(&engine).len();
    let mut last = at_pause;
    let mut last_change = paused_at;
    while last_change.elapsed() < Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(50));
        let n = photos(&engine).len();
        if n != last {
            last = n;
            last_change = Instant::now();
        }
    }
    assert!(
        last <= at_pause + PHOTOS_IN_FLIGHT,
        "paused at {at_pause}, then {last} photos"
    );
    assert!(last < total, "the import had not finished");
    eprintln!(
        "pause took effect {} ms after its reply ({} photo(s) in flight finished)",
        last_change.duration_since(paused_at).as_millis(),
        last - at_pause
    );
    consistent(&engine);

    // Resume: photos come in again.
    assert_eq!(engine.call(Command::ResumeImport), Ok(Reply::Done));
    poll(
        "the import resumed",
        || photos(&engine).len(),
        |&n| n > last,
    );

    // Cancel: the import ends, reporting cancelled; what it committed stays.
    assert_eq!(engine.call(Command::CancelImport), Ok(Reply::Done));
    let cancelled_at = Instant::now();
    let reply = wait_for(
        &engine,
        "the import's reply",
        |e| matches!(e, Event::Reply { id, .. } if *id == import),
    );
    let Event::Reply {
        result: Ok(Reply::Imported(summary)),
        ..
    } = reply
    else {
        panic!("import reply: {reply:?}");
    };
    eprintln!(
        "cancel ended the import {} ms after its reply",
        cancelled_at.elapsed().as_millis()
    );
    assert!(summary.cancelled, "{summary:?}");
    let kept = photos(&engine).len();
    assert!(kept < total, "cancelled before the end: {kept} of {total}");
    assert_eq!(summary.new_photos as usize, kept, "{summary:?}");
    assert_eq!(
        engine.call(Command::PauseImport),
        Err(likeness_engine::EngineError::NoImport)
    );
    consistent(&engine);

    // Importing again finishes the job: nothing lost, nothing twice.
    let rest = import_folders(&engine, vec![folder]);
    assert_eq!(rest.duplicates as usize, kept, "{rest:?}");
    assert_eq!(photos(&engine).len(), total);
    consistent(&engine);
}

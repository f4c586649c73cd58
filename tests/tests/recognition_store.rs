//! The recognise phase and recognition actions on a real library file:
//! the phase is resumable (stopped after any transaction and rerun, it ends
//! in the same state as an uninterrupted run) and idempotent; find-more
//! and enrolment keep their rules; bad input gets typed errors and changes
//! nothing; redo is cleared by a new action.

use likeness_engine::recognize::eval::{ReferenceFace, load_reference};
use likeness_engine::store::{NewPhoto, RECOGNISE_BATCH};
use likeness_engine::{
    ActionError, ClusterId, FaceId, Library, NewFace, Page, PersonId, PhotoId, ScanStatus,
};
use likeness_tests::{RecognitionOutcome, recognition_outcome, reference_jsonl, row_of_faces};

fn reference() -> Vec<ReferenceFace> {
    load_reference(&reference_jsonl())
        .expect("reference embeddings")
        .into_iter()
        .filter(|f| f.path.starts_with("people/") || f.path.starts_with("group/"))
        .collect()
}

fn photo_of(path: &str, faces: usize) -> NewPhoto {
    NewPhoto {
        id: PhotoId::of_bytes(path.as_bytes()),
        path: path.to_owned(),
        size_bytes: 1,
        width: 100 * (faces as u32 + 1),
        height: 100,
        taken_at: Some("2010:06:01 12:00:00".into()),
        status: ScanStatus::Detected,
    }
}

fn faces_of(list: &[&ReferenceFace]) -> Vec<NewFace> {
    row_of_faces(list.iter().map(|f| &f.embedding))
}

/// Records the photos of `faces` (grouped by path, file order).
fn record(lib: &mut Library, faces: &[ReferenceFace]) {
    let mut by_photo: Vec<(String, Vec<&ReferenceFace>)> = Vec::new();
    for f in faces {
        match by_photo.last_mut() {
            Some((p, list)) if *p == f.path => list.push(f),
            _ => by_photo.push((f.path.clone(), vec![f])),
        }
    }
    for (path, list) in by_photo {
        lib.record_photo(&photo_of(&path, list.len()), &faces_of(&list))
            .expect("record");
    }
}

/// Two imports with a user naming groups in between, the second one's
/// recognise phase either uninterrupted or stopped after every single
/// transaction (the library closed and reopened, as after a kill).
fn scenario(dir: &std::path::Path, interrupt: bool) -> RecognitionOutcome {
    let all = reference();
    let (first, second): (Vec<ReferenceFace>, Vec<ReferenceFace>) = {
        let mut paths: Vec<&str> = all.iter().map(|f| f.path.as_str()).collect();
        paths.dedup();
        let half: std::collections::HashSet<&str> = paths.iter().step_by(2).copied().collect();
        all.iter()
            .cloned()
            .partition(|f| half.contains(f.path.as_str()))
    };
    let path = dir.join(if interrupt { "b.redb" } else { "a.redb" });
    let mut lib = Library::open(&path).expect("open");
    record(&mut lib, &first);
    lib.recognise().expect("recognise");
    let groups = lib.list_clusters(Page::default()).expect("groups");
    for (i, g) in groups.iter().take(20).enumerate() {
        lib.name_cluster(g.id, &format!("P{i}")).expect("name");
    }
    record(&mut lib, &second);
    if interrupt {
        loop {
            let (n, _) = lib.recognise_new_step(7).expect("step");
            drop(lib);
            lib = Library::open(&path).expect("reopen after a stop");
            if n == 0 {
                break;
            }
        }
    } else {
        while lib.recognise_new_step(RECOGNISE_BATCH).expect("step").0 > 0 {}
    }
    lib.cluster_unknown().expect("cluster");
    let out = recognition_outcome(&lib);
    // Rerunning a finished phase changes nothing.
    assert_eq!(lib.recognise_new_step(RECOGNISE_BATCH).expect("step").0, 0);
    assert_eq!(lib.cluster_unknown().expect("cluster"), 0);
    assert_eq!(
        recognition_outcome(&lib),
        out,
        "a rerun of a finished phase changed something"
    );
    let report = lib.check().expect("check");
    assert!(report.is_consistent(), "{:?}", report.problems);
    out
}

#[test]
fn recognise_phase_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().expect("temp dir");
    let straight = scenario(dir.path(), false);
    let stopped = scenario(dir.path(), true);
    let auto = straight
        .0
        .iter()
        .filter(|f| f.contains("Some(Auto)"))
        .count();
    assert!(auto > 0, "the second import assigned nothing automatically");
    assert_eq!(straight, stopped);
}

#[test]
fn find_more_enrol_errors_and_redo() {
    let all = reference();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut lib = Library::open(&dir.path().join("lib.redb")).expect("open");
    // Enrol one identity from two of its photos; the rest is imported.
    let name = "Andre_Agassi";
    let theirs: Vec<&ReferenceFace> = all
        .iter()
        .filter(|f| f.label.as_deref() == Some(name))
        .collect();
    assert!(
        theirs.len() >= 4,
        "{name} has {} labelled faces",
        theirs.len()
    );
    let enrol: Vec<(NewPhoto, Vec<NewFace>)> = theirs[..2]
        .iter()
        .map(|f| (photo_of(&f.path, 1), faces_of(&[*f])))
        .collect();
    let person = lib.enrol_person(name, &enrol).expect("enrol");
    assert_eq!(
        lib.faces_of_person(person, Page::default())
            .expect("faces")
            .len(),
        2
    );
    let rest: Vec<ReferenceFace> = all
        .iter()
        .filter(|f| !theirs[..2].iter().any(|t| t.path == f.path))
        .cloned()
        .collect();
    record(&mut lib, &rest);
    let before_redo = lib.check().expect("check").undo_history;
    assert_eq!(before_redo, 1);

    // Find more: their other photos come first, nothing assigned or rejected.
    let found = lib.find_more(person, 5).expect("find more");
    assert_eq!(found.len(), 5);
    for s in &found {
        assert!(lib.face(s.face).expect("face").person.is_none());
    }
    let queue = lib
        .list_suggestions(person, Page::default())
        .expect("queue");
    assert_eq!(queue.len(), 5);
    assert!(queue.windows(2).all(|w| w[0].score >= w[1].score));
    // Reject the best: it is never suggested again, even by find more.
    let best = queue[0].face;
    assert_eq!(lib.reject_suggestions(person, &[best]).expect("reject"), 1);
    let again = lib.find_more(person, 20).expect("find more");
    assert!(again.iter().all(|s| s.face != best));
    lib.recognise().expect("recognise");
    assert!(
        lib.list_suggestions(person, Page::default())
            .expect("queue")
            .iter()
            .all(|s| s.face != best)
    );
    assert!(lib.face(best).expect("face").person != Some(person));

    // Typed errors for bad input, and nothing changes.
    let depth = lib.check().expect("check").undo_history;
    let cases: Vec<(ActionError, ActionError)> = vec![
        (
            lib.name_cluster(ClusterId(999_999), "X")
                .expect_err("unknown group"),
            ActionError::UnknownCluster(ClusterId(999_999)),
        ),
        (
            lib.name_cluster(ClusterId(1), "   ")
                .expect_err("empty name"),
            ActionError::EmptyName,
        ),
        (
            lib.split_faces(&[FaceId(1)], name).expect_err("taken name"),
            ActionError::DuplicateName {
                name: name.into(),
                existing: person,
            },
        ),
        (
            lib.remove_faces(person, &[best]).expect_err("not theirs"),
            ActionError::FaceNotOfPerson { face: best, person },
        ),
        (
            lib.accept_suggestions(person, &[best])
                .expect_err("rejected"),
            ActionError::NoSuggestion { face: best, person },
        ),
        (
            lib.ignore_faces(&[FaceId(9_999_999)])
                .expect_err("unknown face"),
            ActionError::UnknownFace(FaceId(9_999_999)),
        ),
        (
            lib.find_more(PersonId(77_777), 3)
                .expect_err("unknown person"),
            ActionError::UnknownPerson(PersonId(77_777)),
        ),
        (
            lib.enrol_person("Nobody", &[]).expect_err("no photos"),
            ActionError::EmptySelection,
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
    assert_eq!(lib.check().expect("check").undo_history, depth);

    // Undo, redo, and a new action clears redo.
    let label = lib.undo().expect("undo");
    assert!(label.starts_with("find more"), "{label}");
    assert_eq!(lib.redo().expect("redo"), label);
    lib.undo().expect("undo");
    lib.create_person("Someone").expect("create");
    assert_eq!(lib.redo(), Err(ActionError::NothingToRedo));
    let report = lib.check().expect("check");
    assert!(report.is_consistent(), "{:?}", report.problems);
}

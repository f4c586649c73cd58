//! Enrolment through the engine with the real vision pipeline: reference
//! photos become a person's confirmed faces in one undoable action; a photo
//! without a face refuses the whole enrolment and changes nothing.

use likeness_engine::{ActionError, AssignedBy, Command, EngineError, Page, PersonSort, Reply};
use likeness_tests::{engine_with_vision, shared_dir};

#[test]
fn enrol_from_reference_photos() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_with_vision(&dir.path().join("lib.redb"));
    let people = shared_dir().join("faces/people/Andre_Agassi");
    let photos = vec![
        people.join("Andre_Agassi_0001.jpg"),
        people.join("Andre_Agassi_0002.jpg"),
    ];
    // The reference pipeline finds no face in this one.
    let no_face = shared_dir().join("faces/edge/prealigned_112.png");
    let refused = engine.call(Command::EnrolPerson {
        name: "Andre".into(),
        photos: vec![photos[0].clone(), no_face.clone()],
    });
    assert_eq!(
        refused,
        Err(EngineError::Action(ActionError::NoFaceFound(
            no_face.display().to_string()
        )))
    );
    let Ok(Reply::Persons(none)) = engine.call(Command::ListPersons {
        sort: PersonSort::Name,
        page: Page::default(),
        include_hidden: true,
    }) else {
        panic!("list persons")
    };
    assert!(none.is_empty(), "a refused enrolment created {none:?}");

    let Ok(Reply::PersonCreated(person)) = engine.call(Command::EnrolPerson {
        name: "Andre".into(),
        photos,
    }) else {
        panic!("enrol")
    };
    let Ok(Reply::Faces(faces)) = engine.call(Command::FacesOfPerson {
        person,
        page: Page::default(),
    }) else {
        panic!("faces of person")
    };
    assert_eq!(faces.len(), 2, "{faces:?}");
    assert!(
        faces
            .iter()
            .all(|f| f.assigned_by == Some(AssignedBy::User) && f.has_embedding)
    );
    let Ok(Reply::Undone(label)) = engine.call(Command::Undo) else {
        panic!("undo")
    };
    assert!(label.starts_with("enrol"), "{label}");
    let Ok(Reply::Check(report)) = engine.call(Command::Check { repair: false }) else {
        panic!("check")
    };
    assert!(report.is_consistent(), "{:?}", report.problems);
    assert_eq!(report.persons, 0);
}

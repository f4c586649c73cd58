//! The people list: each person's card face is their chosen cover, else
//! their most typical confirmed face (not merely their first), else none;
//! sorting by name ignores case and breaks ties by id.

use likeness_engine::index::synthetic::clustered;
use likeness_engine::{FaceId, Library, Page, PersonId, PersonSort, PersonSummary};
use likeness_tests::{new_photo, row_of_faces};

fn summary(lib: &Library, person: PersonId) -> PersonSummary {
    lib.list_persons(PersonSort::Name, Page::default(), true)
        .expect("list")
        .into_iter()
        .find(|s| s.person.id == person)
        .expect("listed")
}

#[test]
fn card_face_is_the_cover_else_the_most_typical_face() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut lib = Library::open(&dir.path().join("l.redb")).expect("open");
    // Two identities dealt alternately: even entries are identity 0.
    let embeddings = clustered(10, 2, 0.3, 3);
    // The first photo (so the lowest face id) holds an identity-1 face, the
    // others identity-0 faces: one person of four alike faces and a stranger.
    let outlier = lib
        .record_photo(&new_photo(0), &row_of_faces([&embeddings[1]]))
        .expect("record")
        .faces[0];
    let mut alike: Vec<FaceId> = Vec::new();
    for n in 1..=4 {
        let faces = row_of_faces([&embeddings[2 * n as usize]]);
        alike.extend(
            lib.record_photo(&new_photo(n), &faces)
                .expect("record")
                .faces,
        );
    }
    let person = lib.create_person("Alice").expect("create");
    let empty = lib.create_person("bob").expect("create");
    let mut all = vec![outlier];
    all.extend(&alike);
    lib.assign_faces(&all, person).expect("assign");
    assert!(outlier < alike[0], "the stranger has the lowest id");

    let card = summary(&lib, person).card_face.expect("a card face");
    assert!(alike.contains(&card), "{card:?} is not one of {alike:?}");
    assert_eq!(summary(&lib, empty).card_face, None);

    lib.set_cover_face(person, Some(outlier)).expect("cover");
    assert_eq!(summary(&lib, person).card_face, Some(outlier));
}

#[test]
fn names_sort_without_case() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut lib = Library::open(&dir.path().join("l.redb")).expect("open");
    for name in ["carol", "Bob", "alice", "Dave"] {
        lib.create_person(name).expect("create");
    }
    let names: Vec<String> = lib
        .list_persons(PersonSort::Name, Page::default(), true)
        .expect("list")
        .into_iter()
        .map(|s| s.person.name)
        .collect();
    assert_eq!(names, ["alice", "Bob", "carol", "Dave"]);
}

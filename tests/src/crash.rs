//! The crash-test workload: a deterministic, resumable sequence of user
//! actions and photo commits. [`write_forever`] runs it (in a child process
//! that gets `SIGKILL`); [`verify`] checks a library against what the child
//! said it committed.

use crate::{new_face, new_photo, random_unit};
use likeness_engine::index::{self, RebuildParams, TierPolicy};
use likeness_engine::{FaceId, Library, Page, PersonId, PersonSort};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::io::Write;
use std::path::Path;

/// Sub-steps of step `i`, in order.
pub const SUBSTEPS: [char; 4] = ['a', 'b', 'c', 'd'];

fn name_new(i: u64) -> String {
    format!("p{i}")
}

fn name_done(i: u64) -> String {
    format!("P{i} done")
}

/// The photo recorded by sub-step d of step `i` (step photos start at 1000).
fn step_photo(i: u64) -> u64 {
    1000 + i
}

fn person_named(lib: &Library, name: &str) -> Option<PersonId> {
    lib.list_persons(PersonSort::Name, Page::default(), true)
        .expect("list persons")
        .into_iter()
        .find(|p| p.person.name == name)
        .map(|p| p.person.id)
}

/// The face step `i` assigns: the first face of its own photo.
fn step_face(lib: &Library, i: u64) -> Option<FaceId> {
    lib.export(false)
        .expect("export")
        .faces
        .into_iter()
        .find(|f| f.photo == new_photo(step_photo(i)).id.to_hex())
        .map(|f| FaceId(f.id))
}

/// Runs the workload forever, printing `committed <i><sub>` after each commit
/// (index maintenance every other step commits too, but changes no user data).
pub fn write_forever(path: &Path) {
    let mut lib = Library::open(path).expect("open library");
    let mut out = std::io::stdout().lock();
    let mut i = 0;
    // Resume: skip the steps that are fully done.
    while person_named(&lib, &name_done(i)).is_some() {
        i += 1;
    }
    let mut rng = StdRng::seed_from_u64(11);
    loop {
        // d first in effect: the photo carries the face that b assigns.
        let photo = new_photo(step_photo(i));
        if lib.photo(photo.id).expect("photo").is_none() {
            let faces = vec![
                new_face(0, Some(random_unit(&mut rng))),
                new_face(1, Some(random_unit(&mut rng))),
            ];
            lib.record_photo(&photo, &faces).expect("record photo");
            writeln!(out, "committed {i}d").expect("stdout");
            out.flush().expect("stdout");
        }
        let existing =
            person_named(&lib, &name_new(i)).or_else(|| person_named(&lib, &name_done(i)));
        let person = if let Some(p) = existing {
            p
        } else {
            let p = lib.create_person(&name_new(i)).expect("create");
            writeln!(out, "committed {i}a").expect("stdout");
            out.flush().expect("stdout");
            p
        };
        let face = step_face(&lib, i).expect("step face exists after d");
        if lib.face(face).expect("face").person != Some(person) {
            lib.assign_faces(&[face], person).expect("assign");
            writeln!(out, "committed {i}b").expect("stdout");
            out.flush().expect("stdout");
        }
        if person_named(&lib, &name_done(i)).is_none() {
            lib.rename_person(person, &name_done(i)).expect("rename");
            writeln!(out, "committed {i}c").expect("stdout");
            out.flush().expect("stdout");
        }
        if i % 2 == 1 {
            // Index maintenance with a tiny policy, so kills also land in
            // segment builds and swaps: flush the delta into a new segment,
            // then merge small segments.
            let db = lib.database();
            index::rebuild(&db, tiny_index_params()).expect("index flush");
            index::maintain(&db, tiny_index_params()).expect("index maintain");
        }
        i += 1;
    }
}

/// Index build parameters that make many small segments.
fn tiny_index_params() -> RebuildParams {
    RebuildParams {
        policy: TierPolicy {
            delta_flush_faces: 4,
            merge_fan_in: 3,
            max_segment_faces: 16,
            compact_tombstone_fraction: 0.25,
        },
        ..RebuildParams::default()
    }
}

/// Checks that every step before `step` is fully done, and that sub-step
/// `sub` of `step` (and what precedes it in the workload) is in the library.
pub fn verify(lib: &Library, step: u64, sub: char) -> Result<(), String> {
    let done = |i: u64| -> Result<(), String> {
        let p = person_named(lib, &name_done(i)).ok_or(format!("step {i}: person not renamed"))?;
        let f = step_face(lib, i).ok_or(format!("step {i}: photo lost"))?;
        let owner = lib.face(f).map_err(|e| e.to_string())?.person;
        if owner != Some(p) {
            return Err(format!("step {i}: face not assigned"));
        }
        Ok(())
    };
    for i in 0..step {
        done(i)?;
    }
    // Sub-steps run d, a, b, c.
    let rank = |c: char| match c {
        'd' => 0,
        'a' => 1,
        'b' => 2,
        _ => 3,
    };
    let r = rank(sub);
    if r >= 0 && step_face(lib, step).is_none() {
        return Err(format!("step {step}: photo lost"));
    }
    let person = person_named(lib, &name_new(step)).or_else(|| person_named(lib, &name_done(step)));
    if r >= 1 && person.is_none() {
        return Err(format!("step {step}: person lost"));
    }
    if r >= 2 {
        let f = step_face(lib, step).ok_or("photo lost")?;
        if lib.face(f).map_err(|e| e.to_string())?.person != person {
            return Err(format!("step {step}: assignment lost"));
        }
    }
    if r >= 3 {
        done(step)?;
    }
    Ok(())
}

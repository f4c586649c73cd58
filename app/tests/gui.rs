//! The desktop window driven through its real widgets (`egui_kittest`), with the
//! engine's side of the channels played by the test: each test asserts the
//! exact command a user action sent and what is drawn after the reply.

mod common;

use common::{SIZE, bbox, gui, gui_with_picker, harness, person, pump, pump_ids, sample_world};
use egui_kittest::SnapshotOptions;
use egui_kittest::kittest::{NodeT, Queryable};
use likeness::gui::View;
use likeness_engine::import::{FileError, ImportPhase, ImportProgress, ImportSummary};
use likeness_engine::{Command, DeleteFaces, Event, FaceEdit, FaceId, Page, PersonId, Reply};
use std::path::PathBuf;

/// Snapshot comparison: lavapipe renders the same pixels run to run, so the
/// tolerance only absorbs anti-aliasing differences across Mesa versions; a
/// moved widget or changed text fails it.
fn snapshot_options() -> SnapshotOptions {
    SnapshotOptions::new().threshold(1.2).max_failed_pixels(40)
}

#[test]
fn rename_a_person_inline() {
    let (gui, engine) = gui();
    let mut world = sample_world();
    let mut h = harness(gui);
    assert!(pump(&mut h, &engine, &world).is_empty());
    h.get_by_label("Person Alice").hover();
    h.get_by_label("Select Alice").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Rename").click();
    pump(&mut h, &engine, &world);
    assert_eq!(h.get_by_label("New name").value().as_deref(), Some("Alice"));
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("New name").type_text("Alicia");
    h.step();
    h.key_press(egui::Key::Enter);
    let sent = pump_ids(&mut h, &engine, &world);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].1,
        Command::RenamePerson {
            person: PersonId(1),
            name: "Alicia".into()
        }
    );
    // The engine renames and announces the change; the grid asks again.
    world.people[0].person.name = "Alicia".into();
    engine.reply(sent[0].0, Reply::Done);
    engine.emit(Event::LibraryChanged);
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("Alicia").is_some());
    assert!(h.query_by_label("Alice").is_none());
}

#[test]
fn merge_two_people_by_selection_and_by_dragging_a_card() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    h.get_by_label("Select Alice").click();
    h.step();
    h.get_by_label("Select Bob").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Merge 2 people").click();
    let sent = pump(&mut h, &engine, &world);
    // The person with the most faces is kept.
    assert_eq!(
        sent,
        vec![Command::MergePersons {
            from: PersonId(2),
            into: PersonId(1)
        }]
    );

    // Drag Chen's card onto Bob's.
    let from = h.get_by_label("Person Chen").rect().center();
    let to = h.get_by_label("Person Bob").rect().center();
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for t in 1..=5 {
        h.hover_at(from + (to - from) * (t as f32 / 5.0));
        h.step();
    }
    h.drop_at(to);
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::MergePersons {
            from: PersonId(3),
            into: PersonId(2)
        }]
    );
}

#[test]
fn hide_and_delete_keeping_faces() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    h.get_by_label("Select Chen").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Hide").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::SetPersonHidden {
            person: PersonId(3),
            hidden: true
        }]
    );
    h.get_by_label("Delete…").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Delete, keep the faces unnamed").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::DeletePerson {
            person: PersonId(3),
            faces: DeleteFaces::Unassign
        }]
    );
}

#[test]
fn search_filters_the_people_grid() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    h.get_by_label("Search people").click();
    h.step();
    h.get_by_label("Search people").type_text("bo");
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("Bob").is_some());
    assert!(h.query_by_label("Alice").is_none());
}

fn open_alice(
    h: &mut egui_kittest::Harness<'static, likeness::gui::Gui>,
    engine: &likeness::gui::FakeEngine,
    world: &common::World,
) {
    pump(h, engine, world);
    h.get_by_label("Person Alice").click();
    let sent = pump(h, engine, world);
    assert!(sent.is_empty(), "{sent:?}");
    assert!(h.query_by_label("Face 101").is_some());
}

#[test]
fn move_faces_by_multi_select() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    open_alice(&mut h, &engine, &world);
    h.get_by_label("Face 101").click();
    h.step();
    h.get_by_label("Face 103")
        .click_modifiers(egui::Modifiers::SHIFT);
    h.step();
    h.get_by_label("Face 105")
        .click_modifiers(egui::Modifiers::COMMAND);
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("4 selected").is_some());
    h.get_by_label("Move to…").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Bob (3 faces)").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::AssignFaces {
            faces: vec![FaceId(101), FaceId(102), FaceId(103), FaceId(105)],
            person: PersonId(2)
        }]
    );
    // The moved faces leave the grid at once; the others stay.
    assert!(h.query_by_label("Face 101").is_none());
    assert!(h.query_by_label("Face 105").is_none());
    assert!(h.query_by_label("Face 104").is_some());
}

#[test]
fn the_picker_creates_a_new_person_for_the_selected_faces() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    open_alice(&mut h, &engine, &world);
    h.get_by_label("Face 102").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Move to…").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Find or create a person").type_text("Dana");
    pump(&mut h, &engine, &world);
    h.get_by_label("Create “Dana”").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::SplitFaces {
            faces: vec![FaceId(102)],
            name: "Dana".into()
        }]
    );
}

#[test]
fn accept_and_reject_suggestions_with_the_keyboard() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    open_alice(&mut h, &engine, &world);
    h.get_by_label("Review suggestions").click();
    let sent = pump(&mut h, &engine, &world);
    assert!(sent.is_empty(), "the list query is answered: {sent:?}");
    assert!(h.query_by_label("Suggested face 201").is_some());
    h.key_press(egui::Key::Y);
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::AcceptSuggestions {
            person: PersonId(1),
            faces: vec![FaceId(201)]
        }]
    );
    assert!(h.query_by_label("Suggested face 202").is_some());
    h.key_press(egui::Key::N);
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::RejectSuggestions {
            person: PersonId(1),
            faces: vec![FaceId(202)]
        }]
    );
    assert!(h.query_by_label("Suggested face 203").is_some());
    assert!(h.query_by_label("1 accepted, 1 rejected").is_some());
    h.get_by_label("Accept all 1").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::AcceptSuggestions {
            person: PersonId(1),
            faces: vec![FaceId(203)]
        }]
    );
    assert!(
        h.query_by_label("No more suggestions for this person.")
            .is_some()
    );
}

fn open_viewer() -> (
    egui_kittest::Harness<'static, likeness::gui::Gui>,
    likeness::gui::FakeEngine,
    common::World,
) {
    let (mut gui, engine) = gui();
    gui.open(View::Photo(common::photo_id(9)));
    let world = sample_world();
    let mut h = harness(gui);
    let sent = pump(&mut h, &engine, &world);
    assert!(sent.is_empty(), "{sent:?}");
    (h, engine, world)
}

/// Presses the mouse at `from`, moves it to `to` in a few frames and lets
/// go, as a user's drag.
fn drag_mouse(
    h: &mut egui_kittest::Harness<'static, likeness::gui::Gui>,
    from: egui::Pos2,
    to: egui::Pos2,
) {
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for t in 1..=4 {
        h.hover_at(from + (to - from) * (t as f32 / 4.0));
        h.step();
    }
    h.drop_at(to);
}

#[test]
fn drag_a_box_corner_sends_the_resize_and_redraws_the_box() {
    let (mut h, engine, mut world) = open_viewer();
    // Select the box, then pull its bottom-right corner.
    h.get_by_label("Box of Alice (face 7)").click();
    pump(&mut h, &engine, &world);
    let before = h.get_by_label("Box of Alice (face 7)").rect();
    let scale = before.width() / 200.0;
    let from = before.right_bottom();
    let to = from + egui::vec2(40.0, 20.0);
    drag_mouse(&mut h, from, to);
    let sent = pump_ids(&mut h, &engine, &world);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let Command::SetFaceBox {
        face,
        bbox: sent_box,
    } = sent[0].1
    else {
        panic!("expected SetFaceBox, got {:?}", sent[0].1);
    };
    assert_eq!(face, FaceId(7));
    assert!(
        (sent_box.x1 - 100.0).abs() < 0.01 && (sent_box.y1 - 100.0).abs() < 0.01,
        "{sent_box:?} {before:?} scale {scale}"
    );
    assert!(
        (sent_box.x2 - (300.0 + 40.0 / scale)).abs() < 1.0,
        "{sent_box:?} scale {scale}"
    );
    assert!(
        (sent_box.y2 - (300.0 + 20.0 / scale)).abs() < 1.0,
        "{sent_box:?}"
    );
    // Redrawn at once, before the engine answers.
    let after = h.get_by_label("Box of Alice (face 7)").rect();
    assert!((after.max.x - to.x).abs() < 1.5, "{after:?} vs {to:?}");
    assert!((after.max.y - to.y).abs() < 1.5, "{after:?} vs {to:?}");
    assert_eq!(after.min, before.min);
    // No face in the new region: the box stands and the user is told.
    engine.reply(
        sent[0].0,
        Reply::FaceEdited(FaceEdit {
            face: FaceId(7),
            reembedded: false,
        }),
    );
    if let Some(d) = &mut world.detail {
        d.faces[0].bbox = sent_box;
    }
    engine.emit(Event::LibraryChanged);
    pump(&mut h, &engine, &world);
    assert!(
        h.query_by_label_contains("No face found in the new box")
            .is_some()
    );
    // The notice row moved the photo down a little; the box keeps its new shape.
    let settled = h.get_by_label("Box of Alice (face 7)").rect();
    let want = sent_box.width() / sent_box.height();
    assert!(
        (settled.width() / settled.height() - want).abs() < 0.01,
        "{settled:?} vs {sent_box:?}"
    );
}

#[test]
fn draw_a_new_box() {
    let (mut h, engine, world) = open_viewer();
    let photo_rect = h.get_by_label("Box of Alice (face 7)").rect();
    let scale = photo_rect.width() / 200.0;
    h.get_by_label("Draw new box").click();
    pump(&mut h, &engine, &world);
    // An empty patch of the photo below Alice's box.
    let from = photo_rect.left_bottom() + egui::vec2(0.0, 10.0);
    let to = from + egui::vec2(30.0, 24.0);
    drag_mouse(&mut h, from, to);
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let Command::AddFace { photo, bbox: b } = sent[0] else {
        panic!("expected AddFace, got {:?}", sent[0]);
    };
    assert_eq!(photo, common::photo_id(9));
    let expect = bbox(
        100.0,
        300.0 + 10.0 / scale,
        100.0 + 30.0 / scale,
        300.0 + 34.0 / scale,
    );
    for (got, want) in [
        (b.x1, expect.x1),
        (b.y1, expect.y1),
        (b.x2, expect.x2),
        (b.y2, expect.y2),
    ] {
        assert!((got - want).abs() < 1.0, "{b:?} vs {expect:?}");
    }
}

#[test]
fn delete_and_assign_a_box() {
    let (mut h, engine, world) = open_viewer();
    h.get_by_label("Box of Unnamed (face 8)").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Assign…").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Chen (1 faces)").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::AssignFaces {
            faces: vec![FaceId(8)],
            person: PersonId(3)
        }]
    );
    h.get_by_label("Delete box").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(sent, vec![Command::DeleteFace { face: FaceId(8) }]);
    assert!(h.query_by_label("Box of Unnamed (face 8)").is_none());
}

#[test]
fn start_an_import_and_see_progress() {
    let (gui, engine) = gui_with_picker(Some(PathBuf::from("/photos/summer")));
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    h.get_by_label("Import folder…").click();
    let sent = pump_ids(&mut h, &engine, &world);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].1,
        Command::Import {
            folders: vec![PathBuf::from("/photos/summer")],
            exclusions: vec![]
        }
    );
    let import_id = sent[0].0;
    engine.emit(Event::ImportProgress(ImportProgress {
        phase: ImportPhase::Detect,
        done: 3,
        total: 12,
        rate_per_s: 1.5,
        eta_s: Some(6.0),
        current: Some("/photos/summer/beach.jpg".into()),
    }));
    engine.emit(Event::ImportFileFailed(FileError {
        path: "/photos/summer/broken.jpg".into(),
        reason: "not a JPEG file".into(),
    }));
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("Phase: finding faces").is_some());
    assert!(h.query_by_label("1.5 photos/s").is_some());
    assert!(h.query_by_label("About 0:06 left").is_some());
    assert!(h.query_by_label("Now: beach.jpg").is_some());
    assert!(h.query_by_label("broken.jpg: not a JPEG file").is_some());
    assert!(h.query_by_label("Import: finding faces 25%").is_some());
    assert!(!h.get_by_label("Import folder…").is_focused());
    h.get_by_label("Pause").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(sent, vec![Command::PauseImport]);
    h.get_by_label("Resume").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(sent, vec![Command::ResumeImport]);
    engine.reply(
        import_id,
        Reply::Imported(Box::new(ImportSummary {
            photos_seen: 12,
            new_photos: 11,
            faces_found: 17,
            duration_ms: 8000,
            ..ImportSummary::default()
        })),
    );
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("Import finished").is_some());
    assert!(h.query_by_label("No import running").is_some());
}

#[test]
fn the_folder_dialog_does_not_block_the_window() {
    // A dialog the user has not answered yet: its channel is held here.
    let (answer, choice) = crossbeam_channel::bounded(1);
    let mut choice = Some(choice);
    let (bridge, engine) = likeness::gui::test_pair();
    let gui = likeness::gui::Gui::new(
        bridge,
        likeness::gui::GuiOptions {
            models_problem: None,
            models_dir: PathBuf::from("/models"),
            folder_picker: Box::new(move || choice.take().expect("one dialog at a time")),
        },
    );
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    h.get_by_label("Import folder…").click();
    // Frames go on while the dialog is open; no second dialog can be opened.
    assert!(pump(&mut h, &engine, &world).is_empty());
    assert!(
        h.get_by_label("Import folder…")
            .accesskit_node()
            .is_disabled()
    );
    answer
        .send(Some(PathBuf::from("/photos/winter")))
        .expect("the window is listening");
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::Import {
            folders: vec![PathBuf::from("/photos/winter")],
            exclusions: vec![]
        }]
    );
}

#[test]
fn undo_and_redo_from_the_keyboard() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    let sent = pump_ids(&mut h, &engine, &world);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, Command::Undo);
    engine.reply(sent[0].0, Reply::Undone("rename person".into()));
    engine.emit(Event::LibraryChanged);
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("Undone: rename person").is_some());
    h.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::Z,
    );
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(sent, vec![Command::Redo]);
}

#[test]
fn name_and_ignore_unnamed_groups() {
    let (mut gui, engine) = gui();
    gui.open_top(View::Groups);
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    h.get_by_label("Name group 1").click();
    h.step();
    h.get_by_label("Name group 1").type_text("Erin");
    h.step();
    h.key_press(egui::Key::Enter);
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::NameCluster {
            cluster: likeness_engine::ClusterId(1),
            name: "Erin".into()
        }]
    );
    h.get_by_label("Ignore").click();
    let sent = pump(&mut h, &engine, &world);
    assert_eq!(
        sent,
        vec![Command::IgnoreCluster {
            cluster: likeness_engine::ClusterId(2)
        }]
    );
    assert!(h.query_by_label("Name group 2").is_none());
}

#[test]
fn errors_are_notices_and_the_people_query_is_paged_whole() {
    let (gui, engine) = gui();
    let world = sample_world();
    let mut h = harness(gui);
    h.step();
    let first = engine.sent();
    assert_eq!(
        first[0].1,
        Command::ListPersons {
            sort: likeness_engine::PersonSort::Name,
            page: Page::default(),
            include_hidden: false
        }
    );
    engine.reply(first[0].0, Reply::Persons(vec![person(4, "Fay", 0, None)]));
    pump(&mut h, &engine, &world);
    h.get_by_label("Select Fay").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Hide").click();
    let sent = pump_ids(&mut h, &engine, &world);
    engine.emit(Event::Reply {
        id: sent[0].0,
        result: Err(likeness_engine::EngineError::Stopped),
    });
    pump(&mut h, &engine, &world);
    assert!(
        h.query_by_label_contains("Hide person: the engine has stopped")
            .is_some()
    );
}

#[test]
fn first_run_without_models_explains_and_can_continue() {
    let (bridge, engine) = likeness::gui::test_pair();
    let gui = likeness::gui::Gui::new(
        bridge,
        likeness::gui::GuiOptions {
            models_problem: Some(
                "model file /m/buffalo_sc/scrfd_500m_bnkps.onnx is missing".into(),
            ),
            models_dir: PathBuf::from("/m"),
            folder_picker: Box::new(|| likeness::gui::folder_chosen(None)),
        },
    );
    let world = sample_world();
    let mut h = harness(gui);
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("Welcome to Likeness").is_some());
    assert!(
        h.query_by_label_contains("scrfd_500m_bnkps.onnx is missing")
            .is_some()
    );
    h.snapshot_options("first_run", &snapshot_options());
    h.get_by_label("Continue without models").click();
    pump(&mut h, &engine, &world);
    assert!(h.query_by_label("Alice").is_some());
}

/// The main screens as PNGs (compared with `tests/snapshots/*.png`; write
/// new ones with `UPDATE_SNAPSHOTS=1`).
#[test]
fn snapshots_of_the_main_screens() {
    let options = snapshot_options();
    let (gui, engine) = gui_with_picker(Some(PathBuf::from("/photos/summer")));
    let world = sample_world();
    let mut h = harness(gui);
    assert_eq!(h.ctx.content_rect().size(), SIZE);
    pump(&mut h, &engine, &world);
    h.snapshot_options("people", &options);

    h.get_by_label("Person Alice").click();
    pump(&mut h, &engine, &world);
    h.get_by_label("Face 102").click();
    h.step();
    h.get_by_label("Face 104")
        .click_modifiers(egui::Modifiers::SHIFT);
    pump(&mut h, &engine, &world);
    h.remove_cursor();
    pump(&mut h, &engine, &world);
    h.snapshot_options("person", &options);

    h.get_by_label("Review suggestions").click();
    pump(&mut h, &engine, &world);
    h.remove_cursor();
    pump(&mut h, &engine, &world);
    h.snapshot_options("review", &options);

    h.get_by_label("Unnamed groups").click();
    pump(&mut h, &engine, &world);
    h.remove_cursor();
    pump(&mut h, &engine, &world);
    h.snapshot_options("groups", &options);

    h.state_mut().open(View::Photo(common::photo_id(9)));
    pump(&mut h, &engine, &world);
    h.get_by_label("Box of Alice (face 7)").click();
    pump(&mut h, &engine, &world);
    h.remove_cursor();
    pump(&mut h, &engine, &world);
    h.snapshot_options("viewer", &options);

    h.get_by_label("Import folder…").click();
    pump(&mut h, &engine, &world);
    engine.emit(Event::ImportProgress(ImportProgress {
        phase: ImportPhase::Detect,
        done: 40,
        total: 120,
        rate_per_s: 6.5,
        eta_s: Some(12.3),
        current: Some("/photos/summer/img_041.jpg".into()),
    }));
    engine.emit(Event::ImportFileFailed(FileError {
        path: "/photos/summer/broken.jpg".into(),
        reason: "not a JPEG file".into(),
    }));
    h.get_by_label("People").click();
    pump(&mut h, &engine, &world);
    h.remove_cursor();
    pump(&mut h, &engine, &world);
    h.snapshot_options("import", &options);
}

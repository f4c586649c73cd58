//! The Person page: the person's faces in a virtualised grid (only the
//! visible rows are laid out, so 100k faces scroll like 100), click /
//! shift-click / ctrl-click / select-all selection, move to another person
//! (searchable picker that can create one), remove, split, set cover, and
//! the "Review suggestions" mode (Y / N / arrow keys, accept all).

use crate::gui::bridge::{Bridge, Purpose};
use crate::gui::state::{Freshness, Gui, View};
use crate::gui::textures::{Textures, ThumbKey};
use crate::gui::widgets::{Picked, face_image_ui, labelled_text_edit, person_picker_ui};
use likeness_engine::{Command, Face, FaceId, Page, Person, PersonId, PhotoId, Suggestion};
use std::collections::BTreeSet;

/// Face tile side in points.
pub const TILE: f32 = 96.0;

/// Suggestions fetched per review batch.
pub const REVIEW_BATCH: usize = 200;

/// The person page's state.
#[derive(Debug, Default)]
pub struct PersonState {
    /// The person shown.
    pub id: Option<PersonId>,
    /// Their record.
    pub person: Option<Person>,
    /// Their faces as last received.
    pub faces: Vec<Face>,
    /// True once faces arrived.
    pub loaded_once: bool,
    /// Freshness of `person` and `faces`.
    pub fresh: Freshness,
    /// Selected faces.
    pub selected: BTreeSet<FaceId>,
    /// Index of the last plainly clicked face (shift-click extends from it).
    pub anchor: Option<usize>,
    /// The move picker, open with this query.
    pub picker: Option<String>,
    /// The split dialog, open with this name.
    pub split: Option<String>,
    /// Suggestion review.
    pub review: Review,
}

/// The suggestion review mode.
#[derive(Debug, Default)]
pub struct Review {
    /// Review mode is on.
    pub active: bool,
    /// Pending suggestions, in review order.
    pub list: Vec<Suggestion>,
    /// The suggestion shown.
    pub index: usize,
    /// True once the list arrived.
    pub loaded: bool,
    /// Decisions made in this session (accepted, rejected).
    pub decided: (usize, usize),
}

impl Review {
    /// A suggestion list arrived.
    pub fn loaded(&mut self, list: Vec<Suggestion>) {
        self.list = list;
        self.loaded = true;
        self.index = self.index.min(self.list.len().saturating_sub(1));
    }
}

impl PersonState {
    /// Shows person `id` (clears the previous person's data).
    pub fn open(&mut self, id: PersonId) {
        *self = Self {
            id: Some(id),
            ..Self::default()
        };
    }

    /// Faces arrived.
    pub fn faces_loaded(&mut self, faces: Vec<Face>) {
        self.faces = faces;
        self.loaded_once = true;
        let present: BTreeSet<FaceId> = self.faces.iter().map(|f| f.id).collect();
        self.selected.retain(|f| present.contains(f));
    }

    /// Drops faces that were moved away, before the engine's refresh lands.
    fn forget(&mut self, gone: &BTreeSet<FaceId>) {
        self.faces.retain(|f| !gone.contains(&f.id));
        self.selected.retain(|f| !gone.contains(f));
        self.anchor = None;
    }

    fn refresh(&mut self, generation: u64, now_s: f64, bridge: &mut Bridge) {
        let Some(id) = self.id else { return };
        let purpose = Purpose::PersonFaces(id);
        if self.fresh.is_stale(generation, now_s, 1.0) && !bridge.is_pending(&purpose) {
            self.fresh.mark(generation, now_s);
            bridge.send(Command::GetPerson { person: id }, Purpose::Person(id));
            bridge.send(
                Command::FacesOfPerson {
                    person: id,
                    page: Page::default(),
                },
                purpose,
            );
        }
    }

    /// Applies a click on the face at `index` with `modifiers`.
    pub fn click(&mut self, index: usize, modifiers: egui::Modifiers) {
        apply_click(
            &mut self.selected,
            &mut self.anchor,
            &self.faces,
            index,
            modifiers,
        );
    }
}

/// Click selection over a face list: a plain click selects one face,
/// ctrl/cmd-click toggles one, shift-click selects the range from the last
/// plainly clicked face (keeping the rest with ctrl/cmd held).
pub fn apply_click(
    selected: &mut BTreeSet<FaceId>,
    anchor: &mut Option<usize>,
    faces: &[Face],
    index: usize,
    modifiers: egui::Modifiers,
) {
    let Some(face) = faces.get(index).map(|f| f.id) else {
        return;
    };
    if modifiers.shift
        && let Some(from) = *anchor
    {
        let (a, b) = (from.min(index), from.max(index).min(faces.len() - 1));
        if !modifiers.command {
            selected.clear();
        }
        selected.extend(faces[a..=b].iter().map(|f| f.id));
    } else if modifiers.command {
        if !selected.remove(&face) {
            selected.insert(face);
        }
        *anchor = Some(index);
    } else {
        selected.clear();
        selected.insert(face);
        *anchor = Some(index);
    }
}

enum Action {
    Move(PersonId),
    Split(String),
    OpenPhoto(PhotoId),
    Accept(Vec<FaceId>),
    Reject(Vec<FaceId>),
}

impl Gui {
    /// Draws the Person page.
    pub fn person_ui(&mut self, ui: &mut egui::Ui) {
        let Some(id) = self.person.id else { return };
        self.person
            .refresh(self.generation, self.now_s, &mut self.bridge);
        let mut actions = Vec::new();
        self.person_header_ui(ui, id);
        ui.separator();
        if self.person.review.active {
            self.review_ui(ui, id, &mut actions);
        } else {
            self.person_toolbar_ui(ui);
            if self.person.loaded_once {
                let selected = &mut self.person.selected;
                let mut clicked = None;
                face_grid_ui(
                    ui,
                    &self.person.faces,
                    selected,
                    self.person
                        .id
                        .and_then(|_| self.person.person.as_ref().and_then(|p| p.cover_face)),
                    &mut self.textures,
                    &mut self.bridge,
                    &mut clicked,
                );
                match clicked {
                    Some(GridClick::Select(index, modifiers)) => {
                        self.person.click(index, modifiers);
                    }
                    Some(GridClick::Open(photo)) => actions.push(Action::OpenPhoto(photo)),
                    None => {}
                }
            } else {
                ui.label("Loading faces…");
            }
        }
        self.person_dialogs_ui(ui, &mut actions);
        for action in actions {
            self.apply_person_action(id, action);
        }
    }

    fn person_header_ui(&mut self, ui: &mut egui::Ui, id: PersonId) {
        ui.horizontal(|ui| {
            if ui.button("Back").clicked() {
                self.go_back();
            }
            let name = self
                .person
                .person
                .as_ref()
                .map_or_else(|| format!("Person {id}"), |p| p.name.clone());
            ui.heading(name.as_str());
            ui.label(format!("{} faces", self.person.faces.len()));
            if let Some(date) = self
                .person
                .person
                .as_ref()
                .and_then(|p| p.birth_date.clone())
            {
                ui.label(format!("born {date}"));
            }
            ui.separator();
            if !self.person.review.active && ui.button("Review suggestions").clicked() {
                self.person.review = Review {
                    active: true,
                    ..Review::default()
                };
                self.bridge.send(
                    Command::ListSuggestions {
                        person: id,
                        page: Page {
                            offset: 0,
                            limit: REVIEW_BATCH,
                        },
                    },
                    Purpose::Suggestions(id),
                );
            }
            if ui
                .button("Find more")
                .on_hover_text("Look for more faces that may be this person")
                .clicked()
            {
                self.person.review = Review {
                    active: true,
                    ..Review::default()
                };
                self.bridge.send(
                    Command::FindMore {
                        person: id,
                        k: REVIEW_BATCH,
                    },
                    Purpose::Suggestions(id),
                );
            }
            if ui.button(format!("Photos of {name}")).clicked() {
                self.photos.filter = BTreeSet::from([id]);
                self.photos.fresh.reset();
                self.open(View::Photos);
            }
        });
    }

    fn person_toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui.button("Select all").clicked() {
                self.person.selected = self.person.faces.iter().map(|f| f.id).collect();
            }
            let n = self.person.selected.len();
            if n == 0 {
                ui.weak("Click a face to select it; shift-click a range, ctrl-click to add; double-click opens the photo.");
                return;
            }
            ui.label(format!("{n} selected"));
            if ui.button("Move to…").clicked() {
                self.person.picker = Some(String::new());
            }
            if ui.button("Remove from person").clicked() {
                let id = self.person.id;
                if let Some(person) = id {
                    let faces: Vec<FaceId> = self.person.selected.iter().copied().collect();
                    self.act(Command::RemoveFaces { person, faces }, "Remove faces");
                    let gone = self.person.selected.clone();
                    self.person.forget(&gone);
                }
            }
            if ui.button("Split to new person…").clicked() {
                self.person.split = Some(String::new());
            }
            if n == 1
                && let Some(&face) = self.person.selected.iter().next()
                && ui.button("Set as cover").clicked()
                && let Some(person) = self.person.id
            {
                self.act(
                    Command::SetCoverFace {
                        person,
                        face: Some(face),
                    },
                    "Set cover",
                );
            }
            if ui.button("Clear selection").clicked() {
                self.person.selected.clear();
            }
        });
        // Ctrl+A selects every face while no text field has the keyboard.
        if !ui.ctx().egui_wants_keyboard_input()
            && ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::A))
        {
            self.person.selected = self.person.faces.iter().map(|f| f.id).collect();
        }
    }

    fn person_dialogs_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let ctx = ui.ctx().clone();
        if let Some(query) = &mut self.person.picker {
            let exclude = self.person.id;
            let mut choice = None;
            let mut cancel = false;
            let n = self.person.selected.len();
            let modal = egui::Modal::new(egui::Id::unique("move_picker")).show(&ctx, |ui| {
                ui.heading(format!("Move {n} face(s) to…"));
                choice = person_picker_ui(ui, query, &self.people.list, exclude);
                cancel = ui.button("Cancel").clicked();
            });
            let chosen = choice.is_some();
            match choice {
                Some(Picked::Existing(p)) => actions.push(Action::Move(p)),
                Some(Picked::New(name)) => actions.push(Action::Split(name)),
                None => {}
            }
            if chosen || cancel || modal.should_close() {
                self.person.picker = None;
            }
            // The picker lists people; make sure the list is there.
            self.people
                .refresh(self.generation, self.now_s, &mut self.bridge);
        }
        if let Some(name) = &mut self.person.split {
            let mut done = None;
            let mut cancel = false;
            let modal = egui::Modal::new(egui::Id::unique("split")).show(&ctx, |ui| {
                ui.heading("Split into a new person");
                let edit = labelled_text_edit(ui, "New person's name", name, 200.0);
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    let ok = !name.trim().is_empty();
                    if (ui.add_enabled(ok, egui::Button::new("Split")).clicked() || enter) && ok {
                        done = Some(name.trim().to_owned());
                    }
                    cancel = ui.button("Cancel").clicked();
                });
            });
            if let Some(name) = done.clone() {
                actions.push(Action::Split(name));
            }
            if done.is_some() || cancel || modal.should_close() {
                self.person.split = None;
            }
        }
    }

    fn review_ui(&mut self, ui: &mut egui::Ui, _id: PersonId, actions: &mut Vec<Action>) {
        let review = &mut self.person.review;
        ui.horizontal(|ui| {
            ui.heading("Review suggestions");
            ui.label(format!(
                "{} accepted, {} rejected",
                review.decided.0, review.decided.1
            ));
            if ui.button("Done").clicked() {
                review.active = false;
            }
        });
        if !review.loaded {
            ui.label("Looking for suggestions…");
            return;
        }
        if review.list.is_empty() {
            ui.label("No more suggestions for this person.");
            return;
        }
        review.index = review.index.min(review.list.len() - 1);
        let current = review.list[review.index].clone();
        let (accept, reject, prev, next, exit) = if ui.ctx().egui_wants_keyboard_input() {
            (false, false, false, false, false)
        } else {
            ui.input_mut(|i| {
                (
                    i.consume_key(egui::Modifiers::NONE, egui::Key::Y),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::N),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowLeft),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowRight),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::Escape),
                )
            })
        };
        ui.label(format!(
            "Suggestion {} of {} · confidence {:.0}%",
            review.index + 1,
            review.list.len(),
            current.score * 100.0
        ));
        let side = (ui.available_height() - 80.0).clamp(120.0, 320.0);
        let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::click());
        response.widget_info(|| {
            egui::WidgetInfo::labeled(
                egui::Role::Image,
                true,
                format!("Suggested face {}", current.face),
            )
        });
        let texture = self
            .textures
            .get(ThumbKey::Face(current.face), &mut self.bridge);
        face_image_ui(ui, rect, texture, "?");
        let review = &mut self.person.review;
        let mut accept_all = false;
        let (mut accept, mut reject, mut prev, mut next) = (accept, reject, prev, next);
        ui.horizontal(|ui| {
            accept |= ui.button("Accept (Y)").clicked();
            reject |= ui.button("Reject (N)").clicked();
            prev |= ui.button("Previous (Left)").clicked();
            next |= ui.button("Next (Right)").clicked();
            accept_all = ui
                .button(format!("Accept all {}", review.list.len()))
                .clicked();
        });
        if exit {
            review.active = false;
        }
        if accept || reject {
            review.list.remove(review.index);
            if accept {
                review.decided.0 += 1;
                actions.push(Action::Accept(vec![current.face]));
            } else {
                review.decided.1 += 1;
                actions.push(Action::Reject(vec![current.face]));
            }
        } else if accept_all {
            let faces: Vec<FaceId> = review.list.drain(..).map(|s| s.face).collect();
            review.decided.0 += faces.len();
            actions.push(Action::Accept(faces));
        } else if next {
            review.index = (review.index + 1).min(review.list.len() - 1);
        } else if prev {
            review.index = review.index.saturating_sub(1);
        }
    }

    fn apply_person_action(&mut self, person: PersonId, action: Action) {
        let selected: Vec<FaceId> = self.person.selected.iter().copied().collect();
        match action {
            Action::Move(to) => {
                let name = self.people.name_of(to).unwrap_or("person").to_owned();
                self.act(
                    Command::AssignFaces {
                        faces: selected,
                        person: to,
                    },
                    &format!("Move to {name}"),
                );
                let gone = self.person.selected.clone();
                self.person.forget(&gone);
            }
            Action::Split(name) => {
                self.act(
                    Command::SplitFaces {
                        faces: selected,
                        name: name.clone(),
                    },
                    &format!("New person {name}"),
                );
                let gone = self.person.selected.clone();
                self.person.forget(&gone);
            }
            Action::OpenPhoto(photo) => {
                self.viewer.sequence = photo_sequence(&self.person.faces);
                self.open(View::Photo(photo));
            }
            Action::Accept(faces) => {
                self.act(
                    Command::AcceptSuggestions { person, faces },
                    "Accept suggestion",
                );
            }
            Action::Reject(faces) => {
                self.act(
                    Command::RejectSuggestions { person, faces },
                    "Reject suggestion",
                );
            }
        }
    }
}

/// The distinct photos of `faces`, in order of first appearance (the viewer's
/// next / previous order).
pub fn photo_sequence(faces: &[Face]) -> Vec<PhotoId> {
    let mut seen = std::collections::HashSet::new();
    faces
        .iter()
        .filter(|f| seen.insert(f.photo))
        .map(|f| f.photo)
        .collect()
}

/// A click in a face grid.
pub enum GridClick {
    /// Select the face at this index with these modifiers.
    Select(usize, egui::Modifiers),
    /// Open this photo (double-click).
    Open(PhotoId),
}

/// A virtualised grid of face tiles: lays out only the visible rows.
pub fn face_grid_ui(
    ui: &mut egui::Ui,
    faces: &[Face],
    selected: &BTreeSet<FaceId>,
    cover: Option<FaceId>,
    textures: &mut Textures,
    bridge: &mut Bridge,
    clicked: &mut Option<GridClick>,
) {
    let spacing = ui.spacing().item_spacing;
    let columns =
        (((ui.available_width() + spacing.x) / (TILE + spacing.x)).floor() as usize).max(1);
    let rows = faces.len().div_ceil(columns);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .id_salt("face_grid")
        .show_rows(ui, TILE, rows, |ui, range| {
            for row in range {
                ui.horizontal(|ui| {
                    for col in 0..columns {
                        let index = row * columns + col;
                        let Some(face) = faces.get(index) else { break };
                        let is_selected = selected.contains(&face.id);
                        let (rect, response) =
                            ui.allocate_exact_size(egui::vec2(TILE, TILE), egui::Sense::click());
                        response.widget_info(|| {
                            egui::WidgetInfo::selected(
                                egui::Role::Button,
                                true,
                                is_selected,
                                format!("Face {}", face.id),
                            )
                        });
                        if response.double_clicked() {
                            *clicked = Some(GridClick::Open(face.photo));
                        } else if response.clicked() {
                            *clicked = Some(GridClick::Select(index, ui.input(|i| i.modifiers)));
                        }
                        if !ui.is_rect_visible(rect) {
                            continue;
                        }
                        let texture = textures.get(ThumbKey::Face(face.id), bridge);
                        face_image_ui(ui, rect.shrink(2.0), texture, "");
                        let visuals = ui.visuals();
                        if is_selected {
                            ui.painter().rect_stroke(
                                rect,
                                4.0,
                                egui::Stroke::new(3.0, visuals.selection.stroke.color),
                                egui::StrokeKind::Inside,
                            );
                        } else if response.hovered() {
                            ui.painter().rect_stroke(
                                rect,
                                4.0,
                                visuals.widgets.hovered.bg_stroke,
                                egui::StrokeKind::Inside,
                            );
                        }
                        if cover == Some(face.id) {
                            // The cover face: a gold dot in the corner.
                            ui.painter().circle(
                                rect.left_top() + egui::vec2(10.0, 10.0),
                                5.0,
                                egui::Color32::GOLD,
                                egui::Stroke::new(1.0, egui::Color32::BLACK),
                            );
                        }
                    }
                });
            }
        });
}

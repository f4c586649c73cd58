//! Unnamed groups: clusters of unknown faces, biggest first. Name a group in
//! one step (an existing name merges into that person), ignore a group, or
//! open it to take out the faces that do not belong.

use crate::gui::bridge::{Bridge, Purpose};
use crate::gui::person::{GridClick, apply_click, face_grid_ui};
use crate::gui::state::{Freshness, Gui, View};
use crate::gui::textures::ThumbKey;
use crate::gui::widgets::{Picked, face_image_ui, labelled_text_edit, person_picker_ui};
use likeness_engine::{ClusterId, ClusterSummary, Command, Face, FaceId, Page};
use std::collections::{BTreeSet, HashMap};

/// Row height of the groups list, in points.
pub const ROW_HEIGHT: f32 = 76.0;
/// Sample face side on a group row, in points.
const SAMPLE: f32 = 64.0;

/// The groups page's state.
#[derive(Debug, Default)]
pub struct GroupsState {
    /// Groups as last received, biggest first.
    pub list: Vec<ClusterSummary>,
    /// True once a list arrived.
    pub loaded_once: bool,
    /// Freshness of `list`.
    pub fresh: Freshness,
    /// Name typed per group.
    pub names: HashMap<ClusterId, String>,
    /// The group opened.
    pub open_group: Option<ClusterId>,
    /// Its faces.
    pub faces: Vec<Face>,
    /// True once its faces arrived.
    pub faces_loaded_once: bool,
    /// Freshness of `faces`.
    pub faces_fresh: Freshness,
    /// Selected faces of the opened group.
    pub selected: BTreeSet<FaceId>,
    /// Shift-click anchor.
    pub anchor: Option<usize>,
    /// Move picker open with this query.
    pub picker: Option<String>,
}

impl GroupsState {
    /// The list arrived.
    pub fn loaded(&mut self, list: Vec<ClusterSummary>) {
        self.list = list;
        self.loaded_once = true;
    }

    /// Opens group `id`.
    pub fn open(&mut self, id: ClusterId) {
        self.open_group = Some(id);
        self.faces.clear();
        self.faces_loaded_once = false;
        self.faces_fresh.reset();
        self.selected.clear();
        self.anchor = None;
        self.picker = None;
    }

    /// The opened group's faces arrived.
    pub fn faces_loaded(&mut self, faces: Vec<Face>) {
        self.faces = faces;
        self.faces_loaded_once = true;
        let present: BTreeSet<FaceId> = self.faces.iter().map(|f| f.id).collect();
        self.selected.retain(|f| present.contains(f));
    }

    fn refresh(&mut self, generation: u64, now_s: f64, bridge: &mut Bridge) {
        if self.fresh.is_stale(generation, now_s, 1.0) && !bridge.is_pending(&Purpose::Groups) {
            self.fresh.mark(generation, now_s);
            bridge.send(
                Command::ListClusters {
                    page: Page::default(),
                },
                Purpose::Groups,
            );
        }
    }

    fn refresh_faces(&mut self, generation: u64, now_s: f64, bridge: &mut Bridge) {
        let Some(id) = self.open_group else { return };
        let purpose = Purpose::GroupFaces(id);
        if self.faces_fresh.is_stale(generation, now_s, 1.0) && !bridge.is_pending(&purpose) {
            self.faces_fresh.mark(generation, now_s);
            bridge.send(
                Command::FacesOfCluster {
                    cluster: id,
                    page: Page::default(),
                },
                purpose,
            );
        }
    }
}

enum Action {
    Name(ClusterId, String),
    Ignore(ClusterId),
    Open(ClusterId),
}

impl Gui {
    /// Draws the unnamed groups list.
    pub fn groups_ui(&mut self, ui: &mut egui::Ui) {
        self.groups
            .refresh(self.generation, self.now_s, &mut self.bridge);
        ui.horizontal(|ui| {
            ui.heading("Unnamed groups");
            ui.label(format!("{} groups, biggest first", self.groups.list.len()));
        });
        ui.weak("Type a name and press Enter to name a group; an existing name adds the faces to that person.");
        ui.separator();
        if !self.groups.loaded_once {
            ui.label("Loading groups…");
            return;
        }
        if self.groups.list.is_empty() {
            ui.label(
                "No unnamed groups: every recurring face has a name, or nothing was imported yet.",
            );
            return;
        }
        let mut actions = Vec::new();
        let rows = self.groups.list.len();
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show_rows(ui, ROW_HEIGHT, rows, |ui, range| {
                for index in range {
                    self.group_row_ui(ui, index, &mut actions);
                }
            });
        for action in actions {
            match action {
                Action::Name(id, name) => {
                    self.groups.list.retain(|g| g.id != id);
                    self.groups.names.remove(&id);
                    self.act(
                        Command::NameCluster {
                            cluster: id,
                            name: name.clone(),
                        },
                        &format!("Name group {name}"),
                    );
                }
                Action::Ignore(id) => {
                    self.groups.list.retain(|g| g.id != id);
                    self.act(Command::IgnoreCluster { cluster: id }, "Ignore group");
                }
                Action::Open(id) => self.open(View::Group(id)),
            }
        }
    }

    fn group_row_ui(&mut self, ui: &mut egui::Ui, index: usize, actions: &mut Vec<Action>) {
        let Some(group) = self.groups.list.get(index).cloned() else {
            return;
        };
        ui.horizontal(|ui| {
            ui.set_height(ROW_HEIGHT);
            for &face in group.faces.iter().take(8) {
                let (rect, response) =
                    ui.allocate_exact_size(egui::vec2(SAMPLE, SAMPLE), egui::Sense::click());
                response.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Face {face}"))
                });
                if response.clicked() {
                    actions.push(Action::Open(group.id));
                }
                let texture = self.textures.get(ThumbKey::Face(face), &mut self.bridge);
                face_image_ui(ui, rect, texture, "");
            }
            ui.vertical(|ui| {
                ui.label(format!("{} faces", group.size));
                let name = self.groups.names.entry(group.id).or_default();
                let edit =
                    labelled_text_edit(ui, &format!("Name group {}", group.id.0), name, 160.0);
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    let typed = name.trim().to_owned();
                    if (ui
                        .add_enabled(!typed.is_empty(), egui::Button::new("Name"))
                        .clicked()
                        || enter)
                        && !typed.is_empty()
                    {
                        actions.push(Action::Name(group.id, typed));
                    }
                    if ui
                        .button("Ignore")
                        .on_hover_text("Strangers: never suggested again")
                        .clicked()
                    {
                        actions.push(Action::Ignore(group.id));
                    }
                    if ui.button("Open").clicked() {
                        actions.push(Action::Open(group.id));
                    }
                });
            });
        });
    }

    /// Draws one opened group: its faces, to take out the wrong ones.
    pub fn group_ui(&mut self, ui: &mut egui::Ui) {
        let Some(id) = self.groups.open_group else {
            return;
        };
        self.groups
            .refresh_faces(self.generation, self.now_s, &mut self.bridge);
        ui.horizontal(|ui| {
            if ui.button("Back").clicked() {
                self.go_back();
            }
            ui.heading(format!("Unnamed group {}", id.0));
            ui.label(format!("{} faces", self.groups.faces.len()));
        });
        ui.horizontal(|ui| {
            let n = self.groups.selected.len();
            if ui.button("Select all").clicked() {
                self.groups.selected = self.groups.faces.iter().map(|f| f.id).collect();
            }
            if n == 0 {
                ui.weak(
                    "Select faces that do not belong, then ignore them or move them to a person.",
                );
                return;
            }
            ui.label(format!("{n} selected"));
            if ui
                .button("Ignore selected")
                .on_hover_text("Take them out of the group: strangers, never suggested")
                .clicked()
            {
                let faces: Vec<FaceId> = self.groups.selected.iter().copied().collect();
                let gone = std::mem::take(&mut self.groups.selected);
                self.groups.faces.retain(|f| !gone.contains(&f.id));
                self.act(Command::IgnoreFaces { faces }, "Ignore faces");
            }
            if ui.button("Move to…").clicked() {
                self.groups.picker = Some(String::new());
            }
        });
        ui.separator();
        if !self.groups.faces_loaded_once {
            ui.label("Loading faces…");
            return;
        }
        let mut clicked = None;
        face_grid_ui(
            ui,
            &self.groups.faces,
            &self.groups.selected,
            None,
            &mut self.textures,
            &mut self.bridge,
            &mut clicked,
        );
        match clicked {
            Some(GridClick::Select(index, modifiers)) => apply_click(
                &mut self.groups.selected,
                &mut self.groups.anchor,
                &self.groups.faces,
                index,
                modifiers,
            ),
            Some(GridClick::Open(photo)) => {
                self.viewer.sequence = crate::gui::person::photo_sequence(&self.groups.faces);
                self.open(View::Photo(photo));
            }
            None => {}
        }
        if let Some(query) = &mut self.groups.picker {
            let mut choice = None;
            let mut cancel = false;
            let modal = egui::Modal::new(egui::Id::unique("group_picker")).show(ui.ctx(), |ui| {
                ui.heading("Move to…");
                choice = person_picker_ui(ui, query, &self.people.list, None);
                cancel = ui.button("Cancel").clicked();
            });
            if choice.is_some() || cancel || modal.should_close() {
                self.groups.picker = None;
            }
            self.people
                .refresh(self.generation, self.now_s, &mut self.bridge);
            if let Some(choice) = choice {
                let faces: Vec<FaceId> = self.groups.selected.iter().copied().collect();
                let gone = std::mem::take(&mut self.groups.selected);
                self.groups.faces.retain(|f| !gone.contains(&f.id));
                match choice {
                    Picked::Existing(person) => {
                        self.act(Command::AssignFaces { faces, person }, "Move faces");
                    }
                    Picked::New(name) => {
                        self.act(Command::SplitFaces { faces, name }, "New person");
                    }
                }
            }
        }
    }
}

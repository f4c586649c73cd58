//! The People grid: person cards (cover face, name, counts), search, sort,
//! hidden people, inline rename, multi-select merge, drag-a-card-onto-another
//! merge, hide, delete (keep or delete the faces), birth date.

use crate::gui::state::{Freshness, Gui, View};
use crate::gui::textures::ThumbKey;
use crate::gui::widgets::{face_image_ui, labelled_text_edit};
use likeness_engine::{Command, DeleteFaces, Page, PersonId, PersonSort, PersonSummary};
use std::collections::BTreeSet;

/// Card size in points.
pub const CARD_SIZE: egui::Vec2 = egui::vec2(150.0, 196.0);

/// The people grid's state.
#[derive(Debug, Default)]
pub struct PeopleState {
    /// The list as last received, in the engine's order.
    pub list: Vec<PersonSummary>,
    /// Freshness of `list`.
    pub fresh: Freshness,
    /// True once a list has arrived.
    pub loaded_once: bool,
    /// Name filter.
    pub search: String,
    /// Order asked of the engine.
    pub sort: PersonSort,
    /// Include hidden people.
    pub show_hidden: bool,
    /// Selected cards.
    pub selected: BTreeSet<PersonId>,
    /// Inline rename in progress: person and the text typed.
    pub renaming: Option<(PersonId, String)>,
    /// Birth date edit in progress.
    pub birth_edit: Option<(PersonId, String)>,
    /// Delete confirmation open for this person.
    pub confirm_delete: Option<PersonId>,
    /// The newest person created from this GUI.
    pub created: Option<PersonId>,
    /// Indices into `list` that match `search`, in display order.
    filtered: Vec<usize>,
    /// The search text `filtered` was computed for (`None`: recompute).
    filtered_for: Option<String>,
}

/// What a click on the People page asks for (applied after drawing).
enum Action {
    Open(PersonId),
    Toggle(PersonId),
    Merge { from: PersonId, into: PersonId },
    Command(Command, &'static str),
}

impl PeopleState {
    /// A new list arrived.
    pub fn loaded(&mut self, list: Vec<PersonSummary>) {
        self.list = list;
        self.loaded_once = true;
        self.filtered_for = None;
        let present: BTreeSet<PersonId> = self.list.iter().map(|p| p.person.id).collect();
        self.selected.retain(|id| present.contains(id));
    }

    /// People and their faces, for the status bar.
    pub fn totals(&self) -> (usize, u64) {
        (
            self.list.len(),
            self.list.iter().map(|p| p.face_count).sum(),
        )
    }

    /// The person's name as last received.
    pub fn name_of(&self, id: PersonId) -> Option<&str> {
        self.list
            .iter()
            .find(|p| p.person.id == id)
            .map(|p| p.person.name.as_str())
    }

    /// Asks for the list when it is stale (one request in flight).
    pub fn refresh(&mut self, gui_generation: u64, now_s: f64, bridge: &mut crate::gui::Bridge) {
        let purpose = crate::gui::bridge::Purpose::PeopleList;
        if self.fresh.is_stale(gui_generation, now_s, 0.25) && !bridge.is_pending(&purpose) {
            self.fresh.mark(gui_generation, now_s);
            bridge.send(
                Command::ListPersons {
                    sort: self.sort,
                    page: Page::default(),
                    include_hidden: self.show_hidden,
                },
                purpose,
            );
        }
    }

    fn filtered(&mut self) -> &[usize] {
        if self.filtered_for.as_deref() != Some(self.search.as_str()) {
            let needle = self.search.trim().to_lowercase();
            self.filtered = self
                .list
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    needle.is_empty() || p.person.name.to_lowercase().contains(&needle)
                })
                .map(|(i, _)| i)
                .collect();
            self.filtered_for = Some(self.search.clone());
        }
        &self.filtered
    }
}

impl Gui {
    /// Draws the People page.
    pub fn people_ui(&mut self, ui: &mut egui::Ui) {
        self.people
            .refresh(self.generation, self.now_s, &mut self.bridge);
        let mut actions = Vec::new();
        self.people_toolbar_ui(ui, &mut actions);
        ui.separator();
        if !self.people.loaded_once {
            ui.label("Loading people…");
        } else if self.people.list.is_empty() {
            ui.label("No people yet. Import a folder, then name the unnamed groups.");
        } else {
            self.people_grid_ui(ui, &mut actions);
        }
        self.people_dialogs_ui(ui, &mut actions);
        for action in actions {
            self.apply_people_action(action);
        }
    }

    fn people_toolbar_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        ui.horizontal_wrapped(|ui| {
            let before = self.people.search.clone();
            labelled_text_edit(ui, "Search people", &mut self.people.search, 160.0);
            if before != self.people.search {
                self.people.filtered_for = None;
            }
            let sort_before = (self.people.sort, self.people.show_hidden);
            let sort = egui::ComboBox::from_id_salt("people_sort")
                .selected_text(match self.people.sort {
                    PersonSort::Name => "Sort: name",
                    PersonSort::FaceCount => "Sort: most faces",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.people.sort, PersonSort::Name, "Sort: name");
                    ui.selectable_value(
                        &mut self.people.sort,
                        PersonSort::FaceCount,
                        "Sort: most faces",
                    );
                });
            sort.response.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::ComboBox, true, "Sort people")
            });
            ui.checkbox(&mut self.people.show_hidden, "Show hidden");
            if sort_before != (self.people.sort, self.people.show_hidden) {
                self.people.fresh.reset();
            }
            let selected: Vec<PersonId> = self.people.selected.iter().copied().collect();
            if selected.is_empty() {
                ui.weak("Tick cards to rename, merge, hide or delete; drag a card onto another to merge.");
                return;
            }
            ui.separator();
            ui.label(format!("{} selected", selected.len()));
            if selected.len() == 1 {
                let id = selected[0];
                let name = self.people.name_of(id).unwrap_or_default().to_owned();
                if ui.button("Rename").clicked() {
                    self.people.renaming = Some((id, name));
                }
                if ui.button("Birth date…").clicked() {
                    let current = self
                        .people
                        .list
                        .iter()
                        .find(|p| p.person.id == id)
                        .and_then(|p| p.person.birth_date.clone())
                        .unwrap_or_default();
                    self.people.birth_edit = Some((id, current));
                }
            }
            if selected.len() >= 2
                && ui
                    .button(format!("Merge {} people", selected.len()))
                    .on_hover_text("Keeps the person with the most faces")
                    .clicked()
            {
                // Keep the person with the most faces (ties: lowest id).
                let into = self
                    .people
                    .list
                    .iter()
                    .filter(|p| self.people.selected.contains(&p.person.id))
                    .max_by_key(|p| (p.face_count, std::cmp::Reverse(p.person.id)))
                    .map(|p| p.person.id);
                if let Some(into) = into {
                    for from in selected.iter().copied().filter(|&f| f != into) {
                        actions.push(Action::Merge { from, into });
                    }
                }
            }
            let all_hidden = self
                .people
                .list
                .iter()
                .filter(|p| self.people.selected.contains(&p.person.id))
                .all(|p| p.person.hidden);
            if ui.button(if all_hidden { "Show" } else { "Hide" }).clicked() {
                for &person in &selected {
                    actions.push(Action::Command(
                        Command::SetPersonHidden {
                            person,
                            hidden: !all_hidden,
                        },
                        "Hide person",
                    ));
                }
            }
            if selected.len() == 1 && ui.button("Delete…").clicked() {
                self.people.confirm_delete = Some(selected[0]);
            }
            if ui.button("Clear selection").clicked() {
                self.people.selected.clear();
            }
        });
    }

    fn people_grid_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let spacing = ui.spacing().item_spacing;
        let columns = (((ui.available_width() + spacing.x) / (CARD_SIZE.x + spacing.x)).floor()
            as usize)
            .max(1);
        let count = self.people.filtered().len();
        if count == 0 {
            ui.label(format!("Nobody matches “{}”.", self.people.search.trim()));
            return;
        }
        let rows = count.div_ceil(columns);
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show_rows(ui, CARD_SIZE.y, rows, |ui, range| {
                for row in range {
                    ui.horizontal(|ui| {
                        for col in 0..columns {
                            let Some(&index) = self.people.filtered.get(row * columns + col) else {
                                break;
                            };
                            self.person_card_ui(ui, index, actions);
                        }
                    });
                }
            });
    }

    fn person_card_ui(&mut self, ui: &mut egui::Ui, index: usize, actions: &mut Vec<Action>) {
        let Some(summary) = self.people.list.get(index) else {
            return;
        };
        let id = summary.person.id;
        let name = summary.person.name.clone();
        let hidden = summary.person.hidden;
        let cover = summary.card_face;
        let counts = format!(
            "{} photo{} · {} face{}",
            summary.photo_count,
            if summary.photo_count == 1 { "" } else { "s" },
            summary.face_count,
            if summary.face_count == 1 { "" } else { "s" }
        );
        let selected = self.people.selected.contains(&id);
        let (rect, response) = ui.allocate_exact_size(CARD_SIZE, egui::Sense::click_and_drag());
        let label = if hidden {
            format!("Person {name} (hidden)")
        } else {
            format!("Person {name}")
        };
        response.widget_info(|| {
            egui::WidgetInfo::selected(egui::Role::Button, true, selected, label.clone())
        });
        response.dnd_set_drag_payload(id);
        let drop_target = response
            .dnd_hover_payload::<PersonId>()
            .is_some_and(|from| *from != id);
        if let Some(from) = response.dnd_release_payload::<PersonId>()
            && *from != id
        {
            actions.push(Action::Merge {
                from: *from,
                into: id,
            });
        }
        if !ui.is_rect_visible(rect) {
            return;
        }
        let visuals = ui.visuals();
        let (fill, stroke) = if drop_target {
            (visuals.selection.bg_fill, visuals.selection.stroke)
        } else if selected {
            (
                visuals.selection.bg_fill.gamma_multiply(0.5),
                visuals.selection.stroke,
            )
        } else if response.hovered() {
            (
                visuals.widgets.hovered.bg_fill,
                visuals.widgets.hovered.bg_stroke,
            )
        } else {
            (
                visuals.faint_bg_color,
                visuals.widgets.noninteractive.bg_stroke,
            )
        };
        ui.painter()
            .rect(rect, 6.0, fill, stroke, egui::StrokeKind::Inside);
        let image_rect = egui::Rect::from_min_size(
            rect.min + egui::vec2(10.0, 10.0),
            egui::vec2(CARD_SIZE.x - 20.0, CARD_SIZE.x - 20.0),
        );
        let texture = cover.and_then(|f| self.textures.get(ThumbKey::Face(f), &mut self.bridge));
        face_image_ui(ui, image_rect, texture, &name);
        if hidden {
            ui.painter().rect_filled(
                image_rect,
                4.0,
                ui.visuals().extreme_bg_color.gamma_multiply(0.6),
            );
        }
        let text_rect = egui::Rect::from_min_max(
            egui::pos2(rect.min.x + 6.0, image_rect.max.y + 4.0),
            rect.max - egui::vec2(6.0, 4.0),
        );
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(text_rect));
        child.vertical_centered(|ui| {
            if let Some((renaming, text)) = &mut self.people.renaming
                && *renaming == id
            {
                let edit = labelled_text_edit(ui, "New name", text, CARD_SIZE.x - 16.0);
                if !edit.has_focus() && !edit.lost_focus() {
                    edit.request_focus();
                }
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
                if enter {
                    let new_name = text.trim().to_owned();
                    if !new_name.is_empty() && new_name != name {
                        actions.push(Action::Command(
                            Command::RenamePerson {
                                person: id,
                                name: new_name,
                            },
                            "Rename",
                        ));
                    }
                    self.people.renaming = None;
                } else if escape || edit.lost_focus() {
                    self.people.renaming = None;
                }
            } else {
                let name_label = ui.add(
                    egui::Label::new(egui::RichText::new(name.as_str()).strong())
                        .truncate()
                        .sense(egui::Sense::click()),
                );
                if name_label.double_clicked() {
                    self.people.renaming = Some((id, name.clone()));
                }
                ui.small(counts.as_str());
            }
        });
        // The tick box over the cover's corner.
        let tick_rect =
            egui::Rect::from_min_size(rect.min + egui::vec2(4.0, 4.0), egui::vec2(22.0, 22.0));
        let mut ticked = selected;
        let tick = ui.place(tick_rect, egui::Checkbox::without_text(&mut ticked));
        tick.widget_info(|| {
            egui::WidgetInfo::selected(egui::Role::CheckBox, true, ticked, format!("Select {name}"))
        });
        if tick.clicked() {
            actions.push(Action::Toggle(id));
        } else if response.clicked() {
            let modifiers = ui.input(|i| i.modifiers);
            if modifiers.command || modifiers.shift {
                actions.push(Action::Toggle(id));
            } else {
                actions.push(Action::Open(id));
            }
        }
    }

    fn people_dialogs_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let ctx = ui.ctx().clone();
        if let Some(id) = self.people.confirm_delete {
            let name = self.people.name_of(id).unwrap_or("this person").to_owned();
            let modal = egui::Modal::new(egui::Id::unique("confirm_delete")).show(&ctx, |ui| {
                ui.heading(format!("Delete {name}?"));
                ui.label("Deleting a person cannot be undone.");
                ui.add_space(8.0);
                if ui.button("Delete, keep the faces unnamed").clicked() {
                    actions.push(Action::Command(
                        Command::DeletePerson {
                            person: id,
                            faces: DeleteFaces::Unassign,
                        },
                        "Delete person",
                    ));
                    self.people.confirm_delete = None;
                }
                if ui.button("Delete with their faces").clicked() {
                    actions.push(Action::Command(
                        Command::DeletePerson {
                            person: id,
                            faces: DeleteFaces::Delete,
                        },
                        "Delete person",
                    ));
                    self.people.confirm_delete = None;
                }
                if ui.button("Cancel").clicked() {
                    self.people.confirm_delete = None;
                }
            });
            if modal.should_close() {
                self.people.confirm_delete = None;
            }
        }
        if let Some((id, text)) = &mut self.people.birth_edit {
            let id = *id;
            let mut close = false;
            let modal = egui::Modal::new(egui::Id::unique("birth_date")).show(&ctx, |ui| {
                ui.heading("Birth date");
                labelled_text_edit(ui, "Birth date (YYYY-MM-DD)", text, 140.0);
                let trimmed = text.trim().to_owned();
                let valid = trimmed.is_empty() || is_date(&trimmed);
                if !valid {
                    ui.colored_label(ui.visuals().error_fg_color, "Use the form 1990-07-31.");
                }
                ui.horizontal(|ui| {
                    if ui.add_enabled(valid, egui::Button::new("Save")).clicked() {
                        actions.push(Action::Command(
                            Command::SetBirthDate {
                                person: id,
                                date: (!trimmed.is_empty()).then_some(trimmed),
                            },
                            "Birth date",
                        ));
                        close = true;
                    }
                    if ui.button("Cancel").clicked() {
                        close = true;
                    }
                });
            });
            if close || modal.should_close() {
                self.people.birth_edit = None;
            }
        }
    }

    fn apply_people_action(&mut self, action: Action) {
        match action {
            Action::Open(id) => self.open(View::Person(id)),
            Action::Toggle(id) => {
                if !self.people.selected.remove(&id) {
                    self.people.selected.insert(id);
                }
            }
            Action::Merge { from, into } => {
                let what = format!(
                    "Merge {} into {}",
                    self.people.name_of(from).unwrap_or("person"),
                    self.people.name_of(into).unwrap_or("person")
                );
                self.people.selected.remove(&from);
                self.act(Command::MergePersons { from, into }, &what);
            }
            Action::Command(command, what) => self.act(command, what),
        }
    }
}

/// True for a `YYYY-MM-DD` date with a plausible month and day.
pub fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    matches!(
        (num(y, 4), num(m, 2), num(d, 2)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
}

#[cfg(test)]
mod tests {
    use super::is_date;

    #[test]
    fn dates_are_checked_before_they_are_sent() {
        assert!(is_date("1990-07-31"));
        assert!(!is_date("1990-13-01"));
        assert!(!is_date("90-07-31"));
        assert!(!is_date("1990/07/31"));
        assert!(!is_date("1990-07-32"));
    }
}

//! The Photos grid, filtered by people: with A and B ticked it shows the
//! photos in which both appear.

use crate::gui::bridge::{Bridge, Purpose};
use crate::gui::state::{Freshness, Gui, View};
use crate::gui::textures::ThumbKey;
use likeness_engine::{Command, Page, PersonId, PhotoSummary};
use std::collections::BTreeSet;

/// Photo tile side in points.
pub const PHOTO_TILE: f32 = 150.0;

/// The photo grid's state.
#[derive(Debug, Default)]
pub struct PhotosState {
    /// People who must all appear.
    pub filter: BTreeSet<PersonId>,
    /// Photos as last received.
    pub list: Vec<PhotoSummary>,
    /// True once a list arrived.
    pub loaded_once: bool,
    /// Freshness of `list`.
    pub fresh: Freshness,
    /// The filter `list` was requested with.
    requested_filter: Option<BTreeSet<PersonId>>,
}

impl PhotosState {
    /// The list arrived.
    pub fn loaded(&mut self, list: Vec<PhotoSummary>) {
        self.list = list;
        self.loaded_once = true;
    }

    fn refresh(&mut self, generation: u64, now_s: f64, bridge: &mut Bridge) {
        let filter_changed = self.requested_filter.as_ref() != Some(&self.filter);
        if (filter_changed || self.fresh.is_stale(generation, now_s, 2.0))
            && !bridge.is_pending(&Purpose::Photos)
        {
            self.fresh.mark(generation, now_s);
            self.requested_filter = Some(self.filter.clone());
            bridge.send(
                Command::ListPhotos {
                    persons: self.filter.iter().copied().collect(),
                    page: Page::default(),
                },
                Purpose::Photos,
            );
        }
    }
}

impl Gui {
    /// Draws the Photos page.
    pub fn photos_ui(&mut self, ui: &mut egui::Ui) {
        self.photos
            .refresh(self.generation, self.now_s, &mut self.bridge);
        self.people
            .refresh(self.generation, self.now_s, &mut self.bridge);
        egui::Panel::left("photo_filter")
            .resizable(false)
            .exact_size(170.0)
            .show(ui, |ui| {
                ui.strong("With everyone ticked");
                egui::ScrollArea::vertical()
                    .id_salt("photo_filter_list")
                    .show(ui, |ui| {
                        for p in &self.people.list {
                            let id = p.person.id;
                            let mut on = self.photos.filter.contains(&id);
                            if ui.checkbox(&mut on, p.person.name.as_str()).changed() {
                                if on {
                                    self.photos.filter.insert(id);
                                } else {
                                    self.photos.filter.remove(&id);
                                }
                            }
                        }
                    });
            });
        ui.horizontal(|ui| {
            ui.heading("Photos");
            ui.label(format!("{} photos", self.photos.list.len()));
            if !self.photos.filter.is_empty() && ui.button("Clear filter").clicked() {
                self.photos.filter.clear();
            }
        });
        ui.separator();
        if !self.photos.loaded_once {
            ui.label("Loading photos…");
            return;
        }
        let spacing = ui.spacing().item_spacing;
        let columns = (((ui.available_width() + spacing.x) / (PHOTO_TILE + spacing.x)).floor()
            as usize)
            .max(1);
        let rows = self.photos.list.len().div_ceil(columns);
        let mut open = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show_rows(ui, PHOTO_TILE, rows, |ui, range| {
                for row in range {
                    ui.horizontal(|ui| {
                        for col in 0..columns {
                            let Some(photo) = self.photos.list.get(row * columns + col) else {
                                break;
                            };
                            let (rect, response) = ui.allocate_exact_size(
                                egui::vec2(PHOTO_TILE, PHOTO_TILE),
                                egui::Sense::click(),
                            );
                            let label =
                                photo.path.as_ref().and_then(|p| p.file_name()).map_or_else(
                                    || "missing photo".to_owned(),
                                    |n| n.to_string_lossy().into_owned(),
                                );
                            response.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::Role::Button, true, &label)
                            });
                            if response.clicked() {
                                open = Some(photo.id);
                            }
                            if !ui.is_rect_visible(rect) {
                                continue;
                            }
                            let fit = fit_rect(rect.shrink(3.0), photo.width, photo.height);
                            match self
                                .textures
                                .get(ThumbKey::Photo(photo.id), &mut self.bridge)
                            {
                                Some(texture) => ui.painter().image(
                                    texture,
                                    fit,
                                    egui::Rect::from_min_max(
                                        egui::Pos2::ZERO,
                                        egui::pos2(1.0, 1.0),
                                    ),
                                    egui::Color32::WHITE,
                                ),
                                None => ui.painter().rect_filled(
                                    fit,
                                    2.0,
                                    ui.visuals().extreme_bg_color,
                                ),
                            };
                            if response.hovered() {
                                ui.painter().rect_stroke(
                                    rect,
                                    3.0,
                                    ui.visuals().widgets.hovered.bg_stroke,
                                    egui::StrokeKind::Inside,
                                );
                            }
                        }
                    });
                }
            });
        if let Some(photo) = open {
            self.viewer.sequence = self.photos.list.iter().map(|p| p.id).collect();
            self.open(View::Photo(photo));
        }
    }
}

/// The largest rect with the image's aspect ratio centred in `outer`
/// (`outer` itself when the size is unknown).
pub fn fit_rect(outer: egui::Rect, width: u32, height: u32) -> egui::Rect {
    if width == 0 || height == 0 {
        return outer;
    }
    let aspect = width as f32 / height as f32;
    let size = if outer.width() / outer.height() > aspect {
        egui::vec2(outer.height() * aspect, outer.height())
    } else {
        egui::vec2(outer.width(), outer.width() / aspect)
    };
    egui::Rect::from_center_size(outer.center(), size)
}

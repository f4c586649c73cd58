//! The photo viewer: the photo with its face boxes and names. Select a box;
//! drag it to move it, drag a corner handle to resize it, draw a new box
//! where the detector missed a face, delete a box, assign the selected face
//! to a person; zoom (ctrl+scroll, buttons) and pan (drag the background);
//! arrow keys go to the next / previous photo.
//!
//! A box edit is shown at once (an optimistic override) and sent as one
//! `SetFaceBox` / `AddFace`; when the engine finds no face in the new region
//! the box stands, the old embedding is kept, and a notice says so.

use crate::gui::bridge::{Bridge, Purpose};
use crate::gui::photos::fit_rect;
use crate::gui::state::{Freshness, Gui, View};
use crate::gui::textures::color_image;
use crate::gui::widgets::{Picked, person_picker_ui};
use likeness_engine::{BBox, Command, FaceEdit, FaceId, PhotoDetail, PhotoId, RgbaImage};
use std::collections::HashMap;

/// Longest side of the photo the viewer asks for, in pixels.
pub const VIEWER_MAX_SIDE_PX: u32 = 2048;

/// Smallest box side the user can make, in image pixels.
pub const MIN_BOX_PX: f32 = 8.0;

/// Corner handle half-size for hit testing, in points.
pub const HANDLE_PT: f32 = 7.0;

/// Which part of a box a drag holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handle {
    /// The whole box (move).
    Move,
    /// Top-left corner.
    TopLeft,
    /// Top-right corner.
    TopRight,
    /// Bottom-left corner.
    BottomLeft,
    /// Bottom-right corner.
    BottomRight,
}

/// Maps between image pixels and screen points for the current zoom and pan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewTransform {
    /// Where the whole image lies on screen.
    pub image_rect: egui::Rect,
    /// Screen points per image pixel.
    pub scale: f32,
}

impl ViewTransform {
    /// The transform that fits a `width` × `height` image in `canvas`, zoomed
    /// by `zoom` about the canvas centre and moved by `pan` points.
    pub fn new(canvas: egui::Rect, width: u32, height: u32, zoom: f32, pan: egui::Vec2) -> Self {
        let fit = fit_rect(canvas, width.max(1), height.max(1));
        let size = fit.size() * zoom;
        let image_rect = egui::Rect::from_center_size(fit.center() + pan, size);
        Self {
            image_rect,
            scale: size.x / width.max(1) as f32,
        }
    }

    /// A box's rect on screen.
    pub fn to_screen(&self, b: &BBox) -> egui::Rect {
        egui::Rect::from_min_max(
            self.image_rect.min + egui::vec2(b.x1, b.y1) * self.scale,
            self.image_rect.min + egui::vec2(b.x2, b.y2) * self.scale,
        )
    }

    /// A screen point in image pixels.
    pub fn to_image(&self, p: egui::Pos2) -> egui::Pos2 {
        ((p - self.image_rect.min) / self.scale).to_pos2()
    }
}

/// The handle of a box (drawn at `rect` on screen) under `pointer`: corners
/// first, then the inside.
pub fn hit_handle(rect: egui::Rect, pointer: egui::Pos2) -> Option<Handle> {
    let corners = [
        (rect.left_top(), Handle::TopLeft),
        (rect.right_top(), Handle::TopRight),
        (rect.left_bottom(), Handle::BottomLeft),
        (rect.right_bottom(), Handle::BottomRight),
    ];
    for (corner, handle) in corners {
        if (pointer - corner).abs().max_elem() <= HANDLE_PT {
            return Some(handle);
        }
    }
    rect.contains(pointer).then_some(Handle::Move)
}

/// `start` changed by dragging `handle` by `delta` image pixels, kept inside
/// the `width` × `height` image and at least [`MIN_BOX_PX`] on each side.
pub fn drag_box(start: &BBox, handle: Handle, delta: egui::Vec2, width: u32, height: u32) -> BBox {
    let (w, h) = (width as f32, height as f32);
    let mut b = *start;
    match handle {
        Handle::Move => {
            let dx = delta.x.clamp(-b.x1, w - b.x2);
            let dy = delta.y.clamp(-b.y1, h - b.y2);
            b.x1 += dx;
            b.x2 += dx;
            b.y1 += dy;
            b.y2 += dy;
            return b;
        }
        Handle::TopLeft => {
            b.x1 = (b.x1 + delta.x).clamp(0.0, b.x2 - MIN_BOX_PX);
            b.y1 = (b.y1 + delta.y).clamp(0.0, b.y2 - MIN_BOX_PX);
        }
        Handle::TopRight => {
            b.x2 = (b.x2 + delta.x).clamp(b.x1 + MIN_BOX_PX, w);
            b.y1 = (b.y1 + delta.y).clamp(0.0, b.y2 - MIN_BOX_PX);
        }
        Handle::BottomLeft => {
            b.x1 = (b.x1 + delta.x).clamp(0.0, b.x2 - MIN_BOX_PX);
            b.y2 = (b.y2 + delta.y).clamp(b.y1 + MIN_BOX_PX, h);
        }
        Handle::BottomRight => {
            b.x2 = (b.x2 + delta.x).clamp(b.x1 + MIN_BOX_PX, w);
            b.y2 = (b.y2 + delta.y).clamp(b.y1 + MIN_BOX_PX, h);
        }
    }
    b
}

/// The box spanned by two image points, clamped to the image.
pub fn box_between(a: egui::Pos2, b: egui::Pos2, width: u32, height: u32) -> BBox {
    let (w, h) = (width as f32, height as f32);
    BBox {
        x1: a.x.min(b.x).clamp(0.0, w),
        y1: a.y.min(b.y).clamp(0.0, h),
        x2: a.x.max(b.x).clamp(0.0, w),
        y2: a.y.max(b.y).clamp(0.0, h),
    }
}

/// A drag in progress on the canvas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Drag {
    /// Moving or resizing an existing box.
    Box {
        /// The face.
        face: FaceId,
        /// What is held.
        handle: Handle,
        /// The box when the drag began.
        start: BBox,
        /// Where the drag began, in image pixels.
        origin: egui::Pos2,
        /// The box now.
        current: BBox,
    },
    /// Drawing a new box.
    New {
        /// Where the drag began, in image pixels.
        origin: egui::Pos2,
        /// The box now.
        current: BBox,
    },
    /// Panning the view.
    Pan,
}

/// The viewer's state.
#[derive(Default)]
pub struct ViewerState {
    /// The photo shown.
    pub photo: Option<PhotoId>,
    /// Its record and faces.
    pub detail: Option<PhotoDetail>,
    /// Freshness of `detail`.
    pub fresh: Freshness,
    /// The photo's pixels.
    pub image: Option<egui::TextureHandle>,
    /// The image was asked for.
    pub image_requested: bool,
    /// Why the pixels could not be had.
    pub image_failed: Option<String>,
    /// The selected face.
    pub selected: Option<FaceId>,
    /// Drag in progress.
    pub drag: Option<Drag>,
    /// Boxes changed here and not yet confirmed by a fresh detail.
    pub edits: HashMap<FaceId, BBox>,
    /// A drawn box waiting for the engine.
    pub pending_new: Option<BBox>,
    /// The next drag on the photo draws a new box.
    pub draw_mode: bool,
    /// Zoom factor over fit-to-window.
    pub zoom: f32,
    /// Pan in points.
    pub pan: egui::Vec2,
    /// A notice about the last box edit.
    pub notice: Option<String>,
    /// The last box edit, for retrying after a failure.
    pub last_edit: Option<Command>,
    /// Photos that next / previous step through.
    pub sequence: Vec<PhotoId>,
    /// Assign picker open with this query.
    pub picker: Option<String>,
}

impl ViewerState {
    /// Shows photo `id`.
    pub fn open(&mut self, id: PhotoId) {
        let sequence = std::mem::take(&mut self.sequence);
        *self = Self {
            photo: Some(id),
            zoom: 1.0,
            sequence,
            ..Self::default()
        };
    }

    /// True while a drag or the draw mode is on (Escape cancels it rather
    /// than leaving the viewer).
    pub fn is_busy(&self) -> bool {
        self.drag.is_some() || self.draw_mode || self.picker.is_some()
    }

    /// The photo's record arrived: it is the truth now.
    pub fn detail_loaded(&mut self, detail: PhotoDetail) {
        self.edits.clear();
        if self.last_edit.is_none() {
            self.pending_new = None;
        }
        if let Some(sel) = self.selected
            && !detail.faces.iter().any(|f| f.id == sel)
        {
            self.selected = None;
        }
        self.detail = Some(detail);
    }

    /// The pixels arrived.
    pub fn image_loaded(&mut self, ctx: &egui::Context, image: &RgbaImage) {
        match color_image(image) {
            Some(pixels) => {
                self.image = Some(ctx.load_texture("viewer", pixels, egui::TextureOptions::LINEAR));
            }
            None => self.image_failed = Some("the image data was malformed".into()),
        }
    }

    /// A box edit was carried out.
    pub fn edit_done(&mut self, edit: &FaceEdit) {
        self.last_edit = None;
        self.selected = Some(edit.face);
        self.notice = (!edit.reembedded).then(|| {
            "No face found in the new box: the box was kept, with the old embedding.".to_owned()
        });
        self.fresh.reset();
    }

    /// A box edit failed: drop the optimistic boxes, keep the command to retry.
    pub fn edit_failed(&mut self, error: &str) {
        self.edits.clear();
        self.pending_new = None;
        self.notice = Some(format!("The box change failed: {error}"));
    }

    fn refresh(&mut self, generation: u64, now_s: f64, bridge: &mut Bridge) {
        let Some(id) = self.photo else { return };
        let purpose = Purpose::PhotoDetail(id);
        if self.fresh.is_stale(generation, now_s, 0.5) && !bridge.is_pending(&purpose) {
            self.fresh.mark(generation, now_s);
            bridge.send(Command::GetPhoto { photo: id }, purpose);
        }
        if !self.image_requested {
            self.image_requested = true;
            bridge.send(
                Command::PhotoImage {
                    photo: id,
                    max_side_px: VIEWER_MAX_SIDE_PX,
                },
                Purpose::PhotoImage(id),
            );
        }
    }

    /// The box of `face` as shown (an unconfirmed edit wins).
    fn box_of(&self, face: FaceId, stored: &BBox) -> BBox {
        match self.drag {
            Some(Drag::Box {
                face: f, current, ..
            }) if f == face => current,
            _ => self.edits.get(&face).copied().unwrap_or(*stored),
        }
    }

    fn step(&self, by: isize) -> Option<PhotoId> {
        let here = self.photo?;
        let at = self.sequence.iter().position(|p| *p == here)?;
        let next = at.checked_add_signed(by)?;
        self.sequence.get(next).copied()
    }
}

impl Gui {
    /// Draws the photo viewer.
    pub fn viewer_ui(&mut self, ui: &mut egui::Ui) {
        let Some(photo_id) = self.viewer.photo else {
            return;
        };
        self.viewer
            .refresh(self.generation, self.now_s, &mut self.bridge);
        self.viewer_toolbar_ui(ui);
        if let Some(notice) = self.viewer.notice.clone() {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, notice);
                if let Some(command) = self.viewer.last_edit.clone()
                    && ui.button("Retry").clicked()
                {
                    self.bridge.send(command, Purpose::FaceEdit);
                    self.viewer.notice = None;
                }
                if ui.small_button("Dismiss").clicked() {
                    self.viewer.notice = None;
                }
            });
        }
        let Some(detail) = self.viewer.detail.clone() else {
            ui.label("Loading photo…");
            return;
        };
        let (w, h) = (detail.photo.width, detail.photo.height);
        let (canvas, response) =
            ui.allocate_exact_size(ui.available_size(), egui::Sense::click_and_drag());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Photo"));
        let view = ViewTransform::new(canvas, w, h, self.viewer.zoom, self.viewer.pan);
        self.viewer_input(ui, &response, &view, &detail, photo_id);
        let view = ViewTransform::new(canvas, w, h, self.viewer.zoom, self.viewer.pan);

        let painter = ui.painter_at(canvas);
        painter.rect_filled(canvas, 0.0, ui.visuals().extreme_bg_color);
        match (&self.viewer.image, &self.viewer.image_failed) {
            (Some(texture), _) => {
                painter.image(
                    texture.id(),
                    view.image_rect,
                    egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(1.0, 1.0)),
                    egui::Color32::WHITE,
                );
            }
            (None, Some(why)) => {
                painter.rect_filled(view.image_rect, 0.0, ui.visuals().faint_bg_color);
                painter.text(
                    view.image_rect.center(),
                    egui::Align2::CENTER_CENTER,
                    format!("The photo cannot be shown: {why}"),
                    egui::FontId::proportional(14.0),
                    ui.visuals().error_fg_color,
                );
            }
            (None, None) => {
                painter.rect_filled(view.image_rect, 0.0, ui.visuals().faint_bg_color);
            }
        }
        for (face, name) in detail.faces.iter().zip(detail.names.iter()) {
            let b = self.viewer.box_of(face.id, &face.bbox);
            let rect = view.to_screen(&b);
            let selected = self.viewer.selected == Some(face.id);
            let label = name.clone().unwrap_or_else(|| "Unnamed".to_owned());
            let box_response = ui.interact(
                rect,
                ui.scope_id().with(("face_box", face.id)),
                egui::Sense::hover(),
            );
            let description = format!("Box of {label} (face {})", face.id);
            box_response.widget_info(|| {
                egui::WidgetInfo::selected(egui::Role::Image, true, selected, &description)
            });
            // Unnamed faces are amber boxes; their tag shows when pointed at
            // or selected, so a crowded group photo stays readable.
            let tag =
                (name.is_some() || selected || box_response.hovered()).then_some(label.as_str());
            let named = name.is_some();
            draw_box(&painter, rect, tag, named, selected, ui.visuals());
        }
        let new_box = match self.viewer.drag {
            Some(Drag::New { current, .. }) => Some(current),
            _ => self.viewer.pending_new,
        };
        if let Some(b) = new_box {
            draw_box(
                &painter,
                view.to_screen(&b),
                Some("New face"),
                true,
                true,
                ui.visuals(),
            );
        }
        if self.viewer.draw_mode {
            ui.ctx().set_cursor_icon(egui::CursorIcon::Crosshair);
        }
        self.viewer_picker_ui(ui, &detail);
    }

    fn viewer_toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if ui.button("Back").clicked() {
                self.go_back();
            }
            if let Some(detail) = &self.viewer.detail {
                let name = detail
                    .photo
                    .paths
                    .first()
                    .map_or("missing photo", |p| p.rsplit('/').next().unwrap_or(p));
                ui.strong(name);
                ui.label(format!("{} faces", detail.faces.len()));
            }
            ui.separator();
            if ui.button("Previous").clicked() {
                self.viewer_step(-1);
            }
            if ui.button("Next").clicked() {
                self.viewer_step(1);
            }
            ui.separator();
            if ui.button("Zoom out").clicked() {
                self.viewer.zoom = (self.viewer.zoom / 1.25).max(0.2);
            }
            if ui.button("Fit").clicked() {
                self.viewer.zoom = 1.0;
                self.viewer.pan = egui::Vec2::ZERO;
            }
            if ui.button("Zoom in").clicked() {
                self.viewer.zoom = (self.viewer.zoom * 1.25).min(16.0);
            }
            ui.separator();
            ui.toggle_value(&mut self.viewer.draw_mode, "Draw new box")
                .on_hover_text("Drag on the photo to draw a box around a face the detector missed");
            if let Some(face) = self.viewer.selected {
                if ui.button("Assign…").clicked() {
                    self.viewer.picker = Some(String::new());
                }
                if ui.button("Delete box").clicked() {
                    self.delete_box(face);
                }
            }
        });
    }

    fn viewer_step(&mut self, by: isize) {
        if let Some(next) = self.viewer.step(by) {
            // Replace rather than stack: back goes to the grid, not through
            // every photo seen.
            self.viewer.open(next);
            self.view = View::Photo(next);
        }
    }

    fn delete_box(&mut self, face: FaceId) {
        self.viewer.selected = None;
        if let Some(detail) = &mut self.viewer.detail
            && let Some(i) = detail.faces.iter().position(|f| f.id == face)
        {
            detail.faces.remove(i);
            detail.names.remove(i);
        }
        self.act(Command::DeleteFace { face }, "Delete box");
    }

    fn viewer_input(
        &mut self,
        ui: &egui::Ui,
        response: &egui::Response,
        view: &ViewTransform,
        detail: &PhotoDetail,
        photo: PhotoId,
    ) {
        let (w, h) = (detail.photo.width, detail.photo.height);
        let v = &mut self.viewer;
        // Keys: next / previous, delete, cancel.
        if !ui.ctx().egui_wants_keyboard_input() && v.picker.is_none() {
            let (left, right, delete, escape) = ui.input_mut(|i| {
                (
                    i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowLeft),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowRight),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::Delete)
                        || i.consume_key(egui::Modifiers::NONE, egui::Key::Backspace),
                    v.is_busy() && i.consume_key(egui::Modifiers::NONE, egui::Key::Escape),
                )
            });
            if escape {
                v.drag = None;
                v.draw_mode = false;
            }
            if delete && let Some(face) = v.selected {
                self.delete_box(face);
                return;
            }
            if left {
                self.viewer_step(-1);
                return;
            }
            if right {
                self.viewer_step(1);
                return;
            }
        }
        let v = &mut self.viewer;
        // Zoom about the pointer.
        if response.hovered() {
            let zoom_delta = ui.input(egui::InputState::zoom_delta);
            if (zoom_delta - 1.0).abs() > f32::EPSILON
                && let Some(pointer) = response.hover_pos()
            {
                let old = v.zoom;
                v.zoom = (v.zoom * zoom_delta).clamp(0.2, 16.0);
                let old_centre = view.image_rect.center();
                let fit_centre = old_centre - v.pan;
                let new_centre = pointer + (old_centre - pointer) * (v.zoom / old);
                v.pan = new_centre - fit_centre;
            }
        }
        let boxes: Vec<(FaceId, BBox)> = detail
            .faces
            .iter()
            .map(|f| (f.id, v.box_of(f.id, &f.bbox)))
            .collect();
        let face_under = |p: egui::Pos2| {
            boxes
                .iter()
                .rev()
                .find(|(_, b)| view.to_screen(b).contains(p))
                .map(|(id, _)| *id)
        };
        if response.drag_started() {
            let origin_screen = ui
                .input(|i| i.pointer.press_origin())
                .or(response.interact_pointer_pos());
            if let Some(p) = origin_screen {
                let origin = view.to_image(p);
                let held = v.selected.and_then(|sel| {
                    let b = boxes.iter().find(|(id, _)| *id == sel)?.1;
                    hit_handle(view.to_screen(&b), p).map(|h| (sel, h, b))
                });
                v.drag = if v.draw_mode {
                    Some(Drag::New {
                        origin,
                        current: box_between(origin, origin, w, h),
                    })
                } else if let Some((face, handle, start)) = held {
                    Some(Drag::Box {
                        face,
                        handle,
                        start,
                        origin,
                        current: start,
                    })
                } else if let Some(face) = face_under(p) {
                    v.selected = Some(face);
                    let start = boxes.iter().find(|(id, _)| *id == face).map(|b| b.1);
                    start.map(|start| Drag::Box {
                        face,
                        handle: Handle::Move,
                        start,
                        origin,
                        current: start,
                    })
                } else {
                    Some(Drag::Pan)
                };
            }
        }
        if response.dragged()
            && let Some(p) = response.interact_pointer_pos()
        {
            let now = view.to_image(p);
            match &mut v.drag {
                Some(Drag::Box {
                    handle,
                    start,
                    origin,
                    current,
                    ..
                }) => *current = drag_box(start, *handle, now - *origin, w, h),
                Some(Drag::New { origin, current }) => *current = box_between(*origin, now, w, h),
                Some(Drag::Pan) => v.pan += response.drag_delta(),
                None => {}
            }
        }
        if response.drag_stopped() {
            match v.drag.take() {
                Some(Drag::Box {
                    face,
                    start,
                    current,
                    ..
                }) if current != start => {
                    v.edits.insert(face, current);
                    let command = Command::SetFaceBox {
                        face,
                        bbox: current,
                    };
                    v.last_edit = Some(command.clone());
                    v.notice = None;
                    self.bridge.send(command, Purpose::FaceEdit);
                }
                Some(Drag::New { current, .. })
                    if current.width() >= MIN_BOX_PX && current.height() >= MIN_BOX_PX =>
                {
                    v.pending_new = Some(current);
                    v.draw_mode = false;
                    let command = Command::AddFace {
                        photo,
                        bbox: current,
                    };
                    v.last_edit = Some(command.clone());
                    v.notice = None;
                    self.bridge.send(command, Purpose::FaceEdit);
                }
                _ => {}
            }
        } else if response.clicked()
            && let Some(p) = response.interact_pointer_pos()
        {
            v.selected = face_under(p);
        }
    }

    fn viewer_picker_ui(&mut self, ui: &egui::Ui, detail: &PhotoDetail) {
        let Some(query) = &mut self.viewer.picker else {
            return;
        };
        let mut choice = None;
        let mut cancel = false;
        let current = self
            .viewer
            .selected
            .and_then(|s| detail.faces.iter().find(|f| f.id == s))
            .and_then(|f| f.person);
        let modal = egui::Modal::new(egui::Id::unique("viewer_picker")).show(ui.ctx(), |ui| {
            ui.heading("This face is…");
            choice = person_picker_ui(ui, query, &self.people.list, current);
            cancel = ui.button("Cancel").clicked();
        });
        if choice.is_some() || cancel || modal.should_close() {
            self.viewer.picker = None;
        }
        self.people
            .refresh(self.generation, self.now_s, &mut self.bridge);
        if let (Some(choice), Some(face)) = (choice, self.viewer.selected) {
            match choice {
                Picked::Existing(person) => self.act(
                    Command::AssignFaces {
                        faces: vec![face],
                        person,
                    },
                    "Assign face",
                ),
                Picked::New(name) => self.act(
                    Command::SplitFaces {
                        faces: vec![face],
                        name,
                    },
                    "New person",
                ),
            }
        }
    }
}

/// Draws a face box (green when named, amber when not) with its tag when
/// given and, when selected, corner handles.
fn draw_box(
    painter: &egui::Painter,
    rect: egui::Rect,
    tag: Option<&str>,
    named: bool,
    selected: bool,
    visuals: &egui::Visuals,
) {
    let colour = if selected {
        visuals.selection.stroke.color
    } else if named {
        egui::Color32::from_rgb(80, 200, 120)
    } else {
        egui::Color32::from_rgb(240, 180, 60)
    };
    painter.rect_stroke(
        rect,
        0.0,
        egui::Stroke::new(if selected { 3.0 } else { 2.0 }, colour),
        egui::StrokeKind::Outside,
    );
    if let Some(label) = tag {
        let galley = painter.layout_no_wrap(
            label.to_owned(),
            egui::FontId::proportional(13.0),
            egui::Color32::WHITE,
        );
        let tag_rect = egui::Rect::from_min_size(
            rect.left_bottom() + egui::vec2(0.0, 3.0),
            galley.size() + egui::vec2(8.0, 4.0),
        );
        painter.rect_filled(tag_rect, 3.0, egui::Color32::from_black_alpha(170));
        painter.galley(
            tag_rect.min + egui::vec2(4.0, 2.0),
            galley,
            egui::Color32::WHITE,
        );
    }
    if selected {
        for corner in [
            rect.left_top(),
            rect.right_top(),
            rect.left_bottom(),
            rect.right_bottom(),
        ] {
            painter.rect_filled(
                egui::Rect::from_center_size(corner, egui::vec2(HANDLE_PT, HANDLE_PT) * 1.4),
                1.0,
                colour,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    #[test]
    fn corner_drags_resize_and_stay_inside_the_image() {
        let b = bbox(10.0, 10.0, 50.0, 60.0);
        let r = drag_box(&b, Handle::BottomRight, egui::vec2(20.0, 5.0), 100, 100);
        assert_eq!(r, bbox(10.0, 10.0, 70.0, 65.0));
        let r = drag_box(&b, Handle::BottomRight, egui::vec2(500.0, 500.0), 100, 100);
        assert_eq!(r, bbox(10.0, 10.0, 100.0, 100.0));
        let r = drag_box(&b, Handle::TopLeft, egui::vec2(100.0, 100.0), 100, 100);
        assert_eq!(
            r,
            bbox(42.0, 52.0, 50.0, 60.0),
            "never smaller than the minimum"
        );
        let r = drag_box(&b, Handle::Move, egui::vec2(-30.0, 45.0), 100, 100);
        assert_eq!(r, bbox(0.0, 50.0, 40.0, 100.0), "moved, clamped, same size");
    }

    #[test]
    fn the_transform_round_trips_and_handles_are_hit_at_corners() {
        let canvas = egui::Rect::from_min_size(egui::pos2(0.0, 0.0), egui::vec2(400.0, 200.0));
        let view = ViewTransform::new(canvas, 800, 400, 1.0, egui::Vec2::ZERO);
        assert!((view.scale - 0.5).abs() < 1e-6);
        let b = bbox(100.0, 100.0, 200.0, 300.0);
        let r = view.to_screen(&b);
        assert_eq!(
            r,
            egui::Rect::from_min_max(egui::pos2(50.0, 50.0), egui::pos2(100.0, 150.0))
        );
        let back = view.to_image(r.max);
        assert!((back.x - 200.0).abs() < 1e-4 && (back.y - 300.0).abs() < 1e-4);
        assert_eq!(
            hit_handle(r, egui::pos2(101.0, 149.0)),
            Some(Handle::BottomRight)
        );
        assert_eq!(hit_handle(r, egui::pos2(75.0, 100.0)), Some(Handle::Move));
        assert_eq!(hit_handle(r, egui::pos2(300.0, 100.0)), None);
    }
}

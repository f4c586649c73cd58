//! Small shared widgets: labelled text fields, face images with
//! placeholders, the searchable person picker.

use likeness_engine::{PersonId, PersonSummary};

/// A single-line text field whose accessible name (and hint) is `label`.
pub fn labelled_text_edit(
    ui: &mut egui::Ui,
    label: &str,
    text: &mut String,
    width: f32,
) -> egui::Response {
    let response = ui.add(
        egui::TextEdit::singleline(text)
            .hint_text(label)
            .desired_width(width),
    );
    let value = text.clone();
    response.widget_info(|| {
        let mut info = egui::WidgetInfo::labeled(egui::Role::TextInput, true, label);
        info.current_text_value = Some(value.clone());
        info
    });
    response
}

/// Paints a face texture into `rect`, or a neutral placeholder with the
/// name's initial while the thumbnail is not there yet.
pub fn face_image_ui(
    ui: &egui::Ui,
    rect: egui::Rect,
    texture: Option<egui::TextureId>,
    name: &str,
) {
    let painter = ui.painter();
    if let Some(texture) = texture {
        painter.image(
            texture,
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            egui::Color32::WHITE,
        );
    } else {
        painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        let initial: String = name.chars().take(1).collect::<String>().to_uppercase();
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            if initial.is_empty() { "?" } else { &initial },
            egui::FontId::proportional(rect.height() * 0.35),
            ui.visuals().weak_text_color(),
        );
    }
}

/// What the person picker chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Picked {
    /// An existing person.
    Existing(PersonId),
    /// A new person with this name.
    New(String),
}

/// A searchable list of people with "create" for a name nobody has.
/// Returns the choice when one is made.
pub fn person_picker_ui(
    ui: &mut egui::Ui,
    query: &mut String,
    people: &[PersonSummary],
    exclude: Option<PersonId>,
) -> Option<Picked> {
    let search = labelled_text_edit(ui, "Find or create a person", query, 220.0);
    if !search.has_focus() && query.is_empty() {
        search.request_focus();
    }
    let needle = query.trim().to_lowercase();
    let mut picked = None;
    let mut exact = false;
    egui::ScrollArea::vertical()
        .max_height(220.0)
        .id_salt("picker_list")
        .show(ui, |ui| {
            for p in people
                .iter()
                .filter(|p| Some(p.person.id) != exclude)
                .filter(|p| needle.is_empty() || p.person.name.to_lowercase().contains(&needle))
                .take(200)
            {
                exact |= p.person.name.to_lowercase() == needle;
                if ui
                    .button(format!("{} ({} faces)", p.person.name, p.face_count))
                    .clicked()
                {
                    picked = Some(Picked::Existing(p.person.id));
                }
            }
        });
    let name = query.trim();
    if !name.is_empty() && !exact {
        let create = ui.button(format!("Create “{name}”"));
        let enter = search.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if create.clicked() || enter {
            picked = Some(Picked::New(name.to_owned()));
        }
    }
    picked
}

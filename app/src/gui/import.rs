//! The import panel: start an import ("Import folder…" or a folder dropped on
//! the window), follow its phases with a progress bar, rate, ETA and current
//! file, see the files that failed and why, and pause, resume or cancel it.
//! The rest of the window stays usable while it runs.

use crate::gui::bridge::{Bridge, Purpose};
use crate::gui::state::Gui;
use likeness_engine::Command;
use likeness_engine::import::{FileError, ImportPhase, ImportProgress, ImportSummary};
use std::path::PathBuf;

/// Where an import started from this window is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ImportRun {
    /// No import runs.
    #[default]
    Idle,
    /// An import runs.
    Running,
    /// The import is paused.
    Paused,
    /// Cancel was asked; the engine has not ended the import yet.
    Cancelling,
}

/// The import panel's state.
#[derive(Debug, Default)]
pub struct ImportState {
    /// Where the import is.
    pub run: ImportRun,
    /// Folders being imported.
    pub folders: Vec<PathBuf>,
    /// The newest progress.
    pub latest: Option<ImportProgress>,
    /// `ctx` time of the newest progress, in seconds.
    pub latest_at_s: f64,
    /// Files that failed, with reasons.
    pub failed: Vec<FileError>,
    /// How the last import ended.
    pub summary: Option<ImportSummary>,
    /// The panel is open.
    pub show_panel: bool,
}

impl ImportState {
    /// True while an import runs (started here, or a watched-folder import
    /// reporting progress).
    pub fn running(&self) -> bool {
        self.run != ImportRun::Idle
    }

    /// True when the side panel is shown.
    pub fn panel_visible(&self) -> bool {
        self.show_panel
    }

    /// Starts importing `folders`.
    pub fn start(&mut self, bridge: &mut Bridge, folders: Vec<PathBuf>) {
        if self.running() || folders.is_empty() {
            return;
        }
        bridge.send(
            Command::Import {
                folders: folders.clone(),
                exclusions: Vec::new(),
            },
            Purpose::Import,
        );
        *self = Self {
            run: ImportRun::Running,
            folders,
            show_panel: true,
            ..Self::default()
        };
    }

    /// Progress arrived.
    pub fn progress(&mut self, progress: ImportProgress, now_s: f64) {
        self.latest = Some(progress);
        self.latest_at_s = now_s;
    }

    /// The import ended (`None`: it failed).
    pub fn ended(&mut self, summary: Option<ImportSummary>) {
        self.run = ImportRun::Idle;
        if let Some(summary) = summary {
            for f in &summary.failed {
                if !self.failed.contains(f) {
                    self.failed.push(f.clone());
                }
            }
            self.summary = Some(summary);
        }
    }

    /// One line for the status bar while something runs.
    pub fn status_text(&self) -> Option<String> {
        if !self.running() {
            return None;
        }
        let p = self.latest.as_ref()?;
        let pct = if p.total > 0 {
            format!(" {:.0}%", 100.0 * p.done as f64 / p.total as f64)
        } else {
            String::new()
        };
        Some(format!(
            "Import: {}{pct}{}",
            phase_name(p.phase),
            if self.run == ImportRun::Paused {
                " (paused)"
            } else {
                ""
            }
        ))
    }

    /// Starts an import of folders dropped on the window.
    pub fn take_dropped_folders(&mut self, ctx: &egui::Context, bridge: &mut Bridge) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| p.is_dir())
                .collect()
        });
        if !dropped.is_empty() {
            self.start(bridge, dropped);
        }
    }

    /// Says what a drop would do while files hover over the window.
    pub fn drop_overlay_ui(&self, ctx: &egui::Context) {
        let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
        if !hovering {
            return;
        }
        let screen = ctx.content_rect();
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::unique("drop_overlay"),
        ));
        painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(160));
        painter.text(
            screen.center(),
            egui::Align2::CENTER_CENTER,
            if self.running() {
                "An import is already running"
            } else {
                "Drop a folder to import its photos"
            },
            egui::FontId::proportional(24.0),
            egui::Color32::WHITE,
        );
    }
}

/// The phase in words.
pub fn phase_name(phase: ImportPhase) -> &'static str {
    match phase {
        ImportPhase::Scan => "finding photos",
        ImportPhase::Detect => "finding faces",
        ImportPhase::Recognise => "recognising people",
        ImportPhase::Done => "done",
    }
}

/// Seconds as `1:05` or `1:02:03`.
pub fn format_eta(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

impl Gui {
    /// Draws the import side panel.
    pub fn import_panel_ui(&mut self, ui: &mut egui::Ui) {
        let imp = &mut self.import;
        ui.horizontal(|ui| {
            ui.heading("Import");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("Close panel").clicked() {
                    imp.show_panel = false;
                }
            });
        });
        for folder in &imp.folders {
            ui.label(folder.display().to_string());
        }
        ui.separator();
        if let Some(p) = &imp.latest {
            ui.label(format!("Phase: {}", phase_name(p.phase)));
            let fraction = if p.total > 0 {
                (p.done as f32 / p.total as f32).clamp(0.0, 1.0)
            } else {
                0.0
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .text(format!("{} / {}", p.done, p.total))
                    .desired_width(ui.available_width()),
            );
            ui.label(format!("{:.1} photos/s", p.rate_per_s));
            if imp.running()
                && let Some(eta) = p.eta_s
            {
                ui.label(format!("About {} left", format_eta(eta)));
            }
            if let Some(current) = &p.current {
                let name = current.rsplit('/').next().unwrap_or(current);
                ui.add(egui::Label::new(format!("Now: {name}")).truncate())
                    .on_hover_text(current.as_str());
            }
        } else if imp.running() {
            ui.label("Starting…");
        }
        if imp.running() {
            ui.horizontal(|ui| {
                if imp.run == ImportRun::Paused {
                    if ui.button("Resume").clicked() {
                        self.bridge.send(
                            Command::ResumeImport,
                            Purpose::Action("Resume import".into()),
                        );
                        imp.run = ImportRun::Running;
                    }
                } else if ui
                    .add_enabled(imp.run == ImportRun::Running, egui::Button::new("Pause"))
                    .clicked()
                {
                    self.bridge
                        .send(Command::PauseImport, Purpose::Action("Pause import".into()));
                    imp.run = ImportRun::Paused;
                }
                if ui
                    .add_enabled(
                        imp.run != ImportRun::Cancelling,
                        egui::Button::new("Cancel import"),
                    )
                    .clicked()
                {
                    self.bridge.send(
                        Command::CancelImport,
                        Purpose::Action("Cancel import".into()),
                    );
                    imp.run = ImportRun::Cancelling;
                }
            });
            if imp.run == ImportRun::Paused {
                ui.weak("Paused: what was imported so far is saved.");
            }
        }
        if let Some(s) = &imp.summary {
            ui.separator();
            ui.strong(if s.cancelled {
                "Import cancelled"
            } else {
                "Import finished"
            });
            ui.label(format!(
                "{} photos seen, {} new, {} duplicates, {} without faces, {} faces found, {:.1} s",
                s.photos_seen,
                s.new_photos,
                s.duplicates,
                s.no_faces,
                s.faces_found,
                s.duration_ms as f64 / 1e3
            ));
        }
        if !imp.failed.is_empty() {
            ui.separator();
            egui::CollapsingHeader::new(format!("{} file(s) failed", imp.failed.len()))
                .default_open(true)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("failed_files")
                        .max_height(200.0)
                        .show(ui, |ui| {
                            for f in &imp.failed {
                                let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                                ui.label(format!("{name}: {}", f.reason))
                                    .on_hover_text(f.path.as_str());
                            }
                        });
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_eta;

    #[test]
    fn eta_reads_as_a_clock() {
        assert_eq!(format_eta(5.4), "0:05");
        assert_eq!(format_eta(65.0), "1:05");
        assert_eq!(format_eta(3723.0), "1:02:03");
        assert_eq!(format_eta(-3.0), "0:00");
    }
}

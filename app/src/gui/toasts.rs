//! Non-blocking notices in the window's corner: errors stay until closed or
//! for a while, information fades after a few seconds.

/// How long a notice stays, in seconds.
const INFO_S: f64 = 5.0;
/// How long an error stays unless closed, in seconds.
const ERROR_S: f64 = 15.0;
/// Notices shown at once (older ones are dropped).
const MAX_SHOWN: usize = 5;

/// One notice.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    /// Text.
    pub text: String,
    /// An error (red) or information.
    pub is_error: bool,
    /// `ctx` time after which it disappears, in seconds.
    pub until_s: f64,
}

/// The notices shown.
#[derive(Debug, Default)]
pub struct Toasts {
    /// Current notices, oldest first.
    pub items: Vec<Toast>,
}

impl Toasts {
    /// Adds an information notice.
    pub fn info(&mut self, text: String, now_s: f64) {
        self.push(Toast {
            text,
            is_error: false,
            until_s: now_s + INFO_S,
        });
    }

    /// Adds an error notice.
    pub fn error(&mut self, text: String, now_s: f64) {
        self.push(Toast {
            text,
            is_error: true,
            until_s: now_s + ERROR_S,
        });
    }

    fn push(&mut self, toast: Toast) {
        self.items.push(toast);
        if self.items.len() > MAX_SHOWN {
            self.items.remove(0);
        }
    }

    /// Draws the notices over the bottom-right corner and drops expired ones.
    pub fn ui(&mut self, ctx: &egui::Context, now_s: f64) {
        self.items.retain(|t| t.until_s > now_s);
        if self.items.is_empty() {
            return;
        }
        if let Some(next) = self.items.iter().map(|t| t.until_s).reduce(f64::min) {
            ctx.request_repaint_after_secs((next - now_s).max(0.05) as f32);
        }
        let mut close = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                ui.set_max_width(360.0);
                for (i, toast) in self.items.iter().enumerate() {
                    let visuals = ui.visuals();
                    let fill = if toast.is_error {
                        visuals.error_fg_color.gamma_multiply(0.25)
                    } else {
                        visuals.extreme_bg_color
                    };
                    egui::Frame::popup(ui.style()).fill(fill).show(ui, |ui| {
                        ui.horizontal(|ui| {
                            ui.label(toast.text.as_str());
                            if ui.small_button("Dismiss").clicked() {
                                close = Some(i);
                            }
                        });
                    });
                }
            });
        if let Some(i) = close {
            self.items.remove(i);
        }
    }
}

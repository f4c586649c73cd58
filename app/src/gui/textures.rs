//! Face and photo thumbnails as GPU textures, requested lazily from the
//! engine and bounded by a least-recently-used limit.
//!
//! A view asks for a thumbnail only when it draws it; the first ask sends
//! `Command::FaceThumbnail` (or `PhotoImage`) and the tile shows a
//! placeholder until the reply's pixels are uploaded. Decoding and scaling
//! happen on the engine's side, never on the UI thread; at most
//! [`MAX_IN_FLIGHT`] requests are outstanding so a fast scroll does not queue
//! thousands of stale requests.

use crate::gui::bridge::{Bridge, Purpose};
use likeness_engine::{Command, FaceId, PhotoId, RgbaImage};
use std::collections::HashMap;

/// Thumbnail requests outstanding at once.
pub const MAX_IN_FLIGHT: usize = 48;

/// Side of a face thumbnail as requested from the engine, in pixels (tiles
/// are drawn at up to this size on a 2× display).
pub const FACE_THUMB_PX: u32 = 160;

/// Longest side of a photo-grid thumbnail, in pixels.
pub const PHOTO_THUMB_PX: u32 = 320;

/// What a thumbnail shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThumbKey {
    /// A face crop.
    Face(FaceId),
    /// A whole photo, scaled down.
    Photo(PhotoId),
}

enum Slot {
    Requested,
    Ready {
        texture: egui::TextureHandle,
        last_used: u64,
    },
    Failed,
}

/// The thumbnail texture cache.
pub struct Textures {
    slots: HashMap<ThumbKey, Slot>,
    capacity: usize,
    frame: u64,
}

impl Textures {
    /// A cache holding at most `capacity` uploaded textures.
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: HashMap::new(),
            capacity: capacity.max(1),
            frame: 0,
        }
    }

    /// Marks the start of a frame (the clock the LRU order uses).
    pub fn begin_frame(&mut self) {
        self.frame += 1;
    }

    /// Number of uploaded textures.
    pub fn uploaded(&self) -> usize {
        self.slots
            .values()
            .filter(|s| matches!(s, Slot::Ready { .. }))
            .count()
    }

    /// The texture for `key` when it is uploaded; otherwise asks the engine
    /// for it (once, and only while fewer than [`MAX_IN_FLIGHT`] requests are
    /// outstanding) and returns `None`.
    pub fn get(&mut self, key: ThumbKey, bridge: &mut Bridge) -> Option<egui::TextureId> {
        match self.slots.get_mut(&key) {
            Some(Slot::Ready { texture, last_used }) => {
                *last_used = self.frame;
                return Some(texture.id());
            }
            Some(Slot::Requested | Slot::Failed) => return None,
            None => {}
        }
        let in_flight = bridge
            .pending_where(|p| matches!(p, Purpose::Thumbnail(_) | Purpose::PhotoThumbnail(_)));
        if in_flight >= MAX_IN_FLIGHT {
            return None;
        }
        let (command, purpose) = match key {
            ThumbKey::Face(face) => (
                Command::FaceThumbnail {
                    face,
                    size_px: FACE_THUMB_PX,
                },
                Purpose::Thumbnail(face),
            ),
            ThumbKey::Photo(photo) => (
                Command::PhotoImage {
                    photo,
                    max_side_px: PHOTO_THUMB_PX,
                },
                Purpose::PhotoThumbnail(photo),
            ),
        };
        bridge.send(command, purpose);
        self.slots.insert(key, Slot::Requested);
        None
    }

    /// Stores the engine's answer for `key`: uploads the pixels, or remembers
    /// the failure so the tile shows a placeholder instead of asking again.
    pub fn arrived(&mut self, ctx: &egui::Context, key: ThumbKey, image: Option<&RgbaImage>) {
        let slot = match image.and_then(color_image) {
            Some(pixels) => Slot::Ready {
                texture: ctx.load_texture(format!("{key:?}"), pixels, egui::TextureOptions::LINEAR),
                last_used: self.frame,
            },
            None => Slot::Failed,
        };
        self.slots.insert(key, slot);
        self.evict();
    }

    /// Forgets `key` (its face box changed), so the next draw asks again.
    pub fn invalidate(&mut self, key: ThumbKey) {
        self.slots.remove(&key);
    }

    /// Forgets every failed or requested-but-dropped slot so they are asked
    /// again (after the library changed).
    pub fn retry_failed(&mut self) {
        self.slots.retain(|_, s| !matches!(s, Slot::Failed));
    }

    /// Drops the least recently used textures above the capacity.
    fn evict(&mut self) {
        let ready = self.uploaded();
        if ready <= self.capacity {
            return;
        }
        let mut ages: Vec<(u64, ThumbKey)> = self
            .slots
            .iter()
            .filter_map(|(k, s)| match s {
                Slot::Ready { last_used, .. } => Some((*last_used, *k)),
                _ => None,
            })
            .collect();
        // Evict down to 90% so eviction (a sort) is not paid every upload.
        let target = self.capacity * 9 / 10;
        ages.sort_unstable_by_key(|(age, _)| *age);
        for (_, key) in ages.into_iter().take(ready - target) {
            self.slots.remove(&key);
        }
    }
}

/// The engine's RGBA8 pixels as an egui image; `None` when the buffer does not
/// match its size.
pub fn color_image(image: &RgbaImage) -> Option<egui::ColorImage> {
    let (w, h) = (image.width as usize, image.height as usize);
    if w == 0 || h == 0 || image.pixels.len() != w * h * 4 {
        return None;
    }
    Some(egui::ColorImage::from_rgba_unmultiplied(
        [w, h],
        &image.pixels,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::bridge::test_pair;

    fn image(side: u32) -> RgbaImage {
        RgbaImage {
            width: side,
            height: side,
            pixels: vec![128; (side * side * 4) as usize],
        }
    }

    #[test]
    fn a_thumbnail_is_requested_once_then_served_and_the_lru_bound_holds() {
        let ctx = egui::Context::default();
        let (mut bridge, engine) = test_pair();
        let mut textures = Textures::new(10);
        textures.begin_frame();
        assert!(
            textures
                .get(ThumbKey::Face(FaceId(1)), &mut bridge)
                .is_none()
        );
        assert!(
            textures
                .get(ThumbKey::Face(FaceId(1)), &mut bridge)
                .is_none()
        );
        let sent = engine.sent();
        assert_eq!(sent.len(), 1, "asked once: {sent:?}");
        assert_eq!(
            sent[0].1,
            Command::FaceThumbnail {
                face: FaceId(1),
                size_px: FACE_THUMB_PX
            }
        );
        textures.arrived(&ctx, ThumbKey::Face(FaceId(1)), Some(&image(4)));
        assert!(
            textures
                .get(ThumbKey::Face(FaceId(1)), &mut bridge)
                .is_some()
        );
        for i in 2..=30 {
            textures.begin_frame();
            textures.arrived(&ctx, ThumbKey::Face(FaceId(i)), Some(&image(2)));
        }
        assert!(textures.uploaded() <= 10, "{}", textures.uploaded());
        assert!(
            textures
                .get(ThumbKey::Face(FaceId(30)), &mut bridge)
                .is_some(),
            "the newest stays"
        );
        assert!(
            textures
                .get(ThumbKey::Face(FaceId(1)), &mut bridge)
                .is_none(),
            "the oldest was evicted and is asked for again"
        );
        assert_eq!(engine.sent().len(), 1);
    }

    #[test]
    fn a_bad_buffer_is_a_failed_slot_not_a_panic() {
        let ctx = egui::Context::default();
        let (mut bridge, _engine) = test_pair();
        let mut textures = Textures::new(4);
        let bad = RgbaImage {
            width: 3,
            height: 3,
            pixels: vec![0; 5],
        };
        textures.arrived(&ctx, ThumbKey::Face(FaceId(9)), Some(&bad));
        assert!(
            textures
                .get(ThumbKey::Face(FaceId(9)), &mut bridge)
                .is_none()
        );
        assert_eq!(textures.uploaded(), 0);
    }
}

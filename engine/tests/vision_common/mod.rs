//! Shared helpers of the vision tests: where the shared test data is, and the
//! one model load every test of a binary reuses.

#![allow(dead_code)]

pub use likeness_testkit::{models_dir, shared_dir};

use likeness_engine::models::ModelPack;
use likeness_engine::vision::{DevicePreference, Vision};

/// The `buffalo_sc` pack from the shared models folder (or `$LIKENESS_MODELS`).
pub fn pack() -> ModelPack {
    ModelPack::load(&models_dir(), "buffalo_sc").unwrap_or_else(|e| panic!("model pack: {e}"))
}

/// Vision on the device `LIKENESS_DEVICE` asks for (auto by default).
pub fn vision() -> Vision {
    let pref = DevicePreference::from_env().unwrap_or_else(|e| panic!("{e}"));
    Vision::new(&pack(), pref).unwrap_or_else(|e| panic!("vision: {e}"))
}

/// Cosine similarity of two embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Median of values (sorts a copy).
pub fn median(v: &[f32]) -> f32 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    if s.is_empty() {
        f32::NAN
    } else {
        s[s.len() / 2]
    }
}

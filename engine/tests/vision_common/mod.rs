//! Shared helpers of the vision tests: where the shared test data is, and the
//! one model load every test of a binary reuses.

#![allow(dead_code)]

use std::path::PathBuf;

use likeness_engine::models::ModelPack;
use likeness_engine::vision::{DevicePreference, Vision};

/// `$LIKENESS_SHARED`, else `<workspace root>/../shared`. Panics with a clear
/// message when absent: these tests must fail, not pass, without their data.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("LIKENESS_SHARED")
        .filter(|d| !d.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
            PathBuf::from,
        );
    assert!(
        dir.join("faces/reference").is_dir() && dir.join("models/buffalo_sc").is_dir(),
        "shared test data not found at {} (expected faces/ and models/buffalo_sc/ there); \
         set LIKENESS_SHARED to the folder holding them",
        dir.display()
    );
    dir
}

/// The `buffalo_sc` pack from the shared models folder (or `$LIKENESS_MODELS`).
pub fn pack() -> ModelPack {
    let models = std::env::var_os("LIKENESS_MODELS")
        .filter(|d| !d.is_empty())
        .map_or_else(|| shared_dir().join("models"), PathBuf::from);
    ModelPack::load(&models, "buffalo_sc").unwrap_or_else(|e| panic!("model pack: {e}"))
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

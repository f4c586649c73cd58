//! Test support shared by every crate's tests and benchmarks: where the
//! shared test data and models are, the reference pipeline (insightface +
//! onnxruntime) run side by side, and this process's memory figures.
//!
//! It depends on nothing of Likeness, so the engine's own tests can use it
//! without a dependency cycle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The shared test data folder: `$LIKENESS_SHARED`, else `../shared` beside
/// the workspace. Panics with a clear message when it has no `faces/`:
/// tests that need real photos must fail, not pass, without them.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("LIKENESS_SHARED")
        .filter(|d| !d.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            PathBuf::from,
        );
    assert!(
        dir.join("faces").is_dir(),
        "shared test data not found at {} (set LIKENESS_SHARED to the folder holding faces/ and models/)",
        dir.display()
    );
    dir
}

/// The models directory: `$LIKENESS_MODELS`, else the shared folder's
/// `models/`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("LIKENESS_MODELS")
        .filter(|d| !d.is_empty())
        .map_or_else(|| shared_dir().join("models"), PathBuf::from)
}

/// The reference pipeline's output for every shared photo
/// (`faces/reference/insightface_buffalo_sc.jsonl`).
pub fn reference_jsonl() -> PathBuf {
    shared_dir().join("faces/reference/insightface_buffalo_sc.jsonl")
}

/// What one run of the reference pipeline reported.
#[derive(Clone, Debug)]
pub struct ReferenceRun {
    /// Images per second as the script reports them (inference only).
    pub images_per_s: f64,
    /// Wall time of the whole run, process start included, in seconds.
    pub wall_s: f64,
    /// The script's own summary line.
    pub line: String,
}

/// Runs the reference pipeline (`shared/bench/reference_insightface.py`,
/// insightface + onnxruntime) with `python` over the images listed in the
/// file `list` (one path a line), writing its JSONL to `out`.
///
/// # Errors
/// A message when the script cannot start, fails, or prints no images/s.
pub fn run_reference(python: &str, list: &Path, out: &Path) -> Result<ReferenceRun, String> {
    let shared = shared_dir();
    // insightface wants a model root with its own file names.
    let root = std::env::temp_dir().join("likeness_reference_root");
    let pack = root.join("models/buffalo_sc");
    std::fs::create_dir_all(&pack).map_err(|e| e.to_string())?;
    let src = shared.join("models/buffalo_sc");
    for (from, to) in [
        ("scrfd_500m_bnkps.onnx", "det_500m.onnx"),
        ("w600k_mbf.onnx", "w600k_mbf.onnx"),
    ] {
        if !pack.join(to).exists() {
            std::fs::copy(src.join(from), pack.join(to)).map_err(|e| e.to_string())?;
        }
    }
    let start = Instant::now();
    let output = Command::new(python)
        .arg(shared.join("bench/reference_insightface.py"))
        .arg(&root)
        .arg(out)
        .arg(format!("@{}", list.display()))
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    let wall_s = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(stderr);
    }
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("images/s"))
        .unwrap_or_default()
        .to_owned();
    let images_per_s = line
        .split(',')
        .find(|p| p.contains("images/s"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no images/s in: {stderr}"))?;
    Ok(ReferenceRun {
        images_per_s,
        wall_s,
        line,
    })
}

/// This process's peak resident memory (`VmHWM`) in MiB; NaN where
/// `/proc` has no figure.
pub fn peak_rss_mib() -> f64 {
    rss_field_mib("VmHWM:")
}

/// This process's current resident memory (`VmRSS`) in MiB; NaN where
/// `/proc` has no figure.
pub fn rss_mib() -> f64 {
    rss_field_mib("VmRSS:")
}

fn rss_field_mib(name: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets this process's peak RSS to its current RSS (Linux: `5` to
/// `/proc/self/clear_refs`), so each step of a benchmark reports its own
/// peak. False where that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

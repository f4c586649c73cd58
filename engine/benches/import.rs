//! Import benchmark (issue 4): the whole import job, through the engine's
//! `Import` command, into a fresh library.
//!
//! 1. `faces/` of the shared data: images/s, then the reference pipeline
//!    (insightface + onnxruntime, `shared/bench/reference_insightface.py`)
//!    on the same images in the same run, and the ratio.
//! 2. The folder replicated to N files with distinct bytes (each JPEG gets a
//!    unique trailer after its end marker, which decoders ignore, so each
//!    copy is a new photo by hash), imported in growing steps into one
//!    library: images/s, current RSS and the step's peak RSS (the peak is
//!    reset before each step). A peak that stays flat from step to step
//!    shows memory does not grow with the number of photos.
//!
//! `cargo bench --profile dev --workspace --bench import`
//!
//! Env: `LIKENESS_SHARED`, `LIKENESS_MODELS`, `LIKENESS_DEVICE`;
//! `LIKENESS_BENCH_SIZES` (replica steps, default `1000`; the size
//! is `1000,5000`; `0` skips part 2); `LIKENESS_BENCH_DIR` (where replicas
//! are written, default the temp dir); `LIKENESS_REFERENCE_PYTHON` (default
//! `/root/.cache/likeness/venv/bin/python`; `none` skips the reference).

use likeness_engine::import::{ImportSummary, vision_finder_factory};
use likeness_engine::{Command, Engine, EngineConfig, Reply};
use likeness_testkit::{
    models_dir, peak_rss_mib, reset_peak_rss, rss_mib, run_reference, shared_dir,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Image files under `dir` (JPEG or PNG by their first bytes), sorted.
fn images(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && (bytes.starts_with(&[0xff, 0xd8, 0xff]) || bytes.starts_with(b"\x89PNG"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn engine(library: &Path) -> Engine {
    let models = models_dir();
    let config = EngineConfig {
        library_path: library.to_owned(),
        finder: vision_finder_factory(models),
    };
    Engine::start(config, Arc::new(|| {})).expect("start the engine")
}

fn import(engine: &Engine, folder: &Path) -> (ImportSummary, f64) {
    let t = Instant::now();
    let reply = engine.call(Command::Import {
        folders: vec![folder.to_owned()],
        exclusions: Vec::new(),
    });
    let secs = t.elapsed().as_secs_f64();
    match reply {
        Ok(Reply::Imported(summary)) => (*summary, secs),
        other => panic!("import failed: {other:?}"),
    }
}

/// Writes replicas `from..to` of the JPEGs into `dir`, each with a unique
/// trailer after the end-of-image marker (distinct bytes, same pixels).
fn replicate(jpegs: &[(PathBuf, Vec<u8>)], dir: &Path, from: usize, to: usize) {
    for i in from..to {
        let (src, bytes) = &jpegs[i % jpegs.len()];
        let stem = src
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let mut out = bytes.clone();
        out.extend_from_slice(format!("likeness-replica-{i:07}").as_bytes());
        // Spread over folders like a real library (100 per folder).
        let sub = dir.join(format!("{:04}", i / 100));
        std::fs::create_dir_all(&sub).expect("replica folder");
        std::fs::write(sub.join(format!("{i:07}-{stem}.jpg")), out).expect("write replica");
    }
}

fn summary_line(what: &str, s: &ImportSummary, secs: f64) {
    println!(
        "{what}: {} files, {} new photos, {} duplicates, {} no faces, {} failed, {} faces in {secs:.1} s = {:.2} images/s (new photos / wall time)",
        s.photos_seen,
        s.new_photos,
        s.duplicates,
        s.no_faces,
        s.failed.len(),
        s.faces_found,
        s.new_photos as f64 / secs
    );
}

fn main() {
    // As the app does (`app/src/main.rs`).
    likeness_engine::allocator::keep_freed_memory();
    let shared = shared_dir();
    let faces = shared.join("faces");
    if !faces.is_dir() {
        eprintln!(
            "shared data not found at {} (set LIKENESS_SHARED)",
            shared.display()
        );
        std::process::exit(1);
    }
    let work = tempfile::tempdir_in(
        std::env::var_os("LIKENESS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
    )
    .expect("work dir");

    // Part 1: the shared folder, then the reference on the same images.
    let files = images(&faces);
    let engine1 = engine(&work.path().join("faces.redb"));
    let (summary, secs) = import(&engine1, &faces);
    drop(engine1);
    let ours = summary.new_photos as f64 / secs;
    summary_line("likeness import of faces/", &summary, secs);
    println!(
        "  RSS after: {:.0} MiB, peak {:.0} MiB",
        rss_mib(),
        peak_rss_mib()
    );
    let python = std::env::var("LIKENESS_REFERENCE_PYTHON")
        .unwrap_or_else(|_| "/root/.cache/likeness/venv/bin/python".into());
    if python == "none" || !Path::new(&python).exists() {
        println!("reference: skipped (no Python at {python}; set LIKENESS_REFERENCE_PYTHON)");
    } else {
        let list = work.path().join("reference_list.txt");
        let text: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        std::fs::write(&list, text.join("\n")).expect("list file");
        let out = work.path().join("reference_out.jsonl");
        match run_reference(&python, &list, &out) {
            Ok(reference) => {
                let (ips, wall) = (reference.images_per_s, reference.wall_s);
                println!(
                    "reference (insightface 2.1 + onnxruntime, CPU) on the same {} images: {}",
                    files.len(),
                    reference.line
                );
                println!(
                    "  reference wall {wall:.1} s incl. start-up and imread = {:.2} images/s",
                    files.len() as f64 / wall
                );
                println!(
                    "ratio likeness import / reference = {:.2}x against its app.get time, {:.2}x against its wall time (the import also hashes, decodes, commits and indexes)",
                    ours / ips,
                    ours / (files.len() as f64 / wall)
                );
            }
            Err(e) => println!("reference failed: {e}"),
        }
    }

    // Part 2: replicas in growing steps, one library.
    let sizes: Vec<usize> = std::env::var("LIKENESS_BENCH_SIZES")
        .unwrap_or_else(|_| "1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    if sizes.is_empty() {
        return;
    }
    let jpegs: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok().map(|b| (p.clone(), b)))
        .filter(|(_, b)| b.starts_with(&[0xff, 0xd8, 0xff]))
        .collect();
    let replicas = work.path().join("replicas");
    let engine2 = engine(&work.path().join("replicas.redb"));
    let mut written = 0;
    println!(
        "replicas of the {} JPEGs of faces/ (distinct bytes each), imported in steps into one library:",
        jpegs.len()
    );
    for size in sizes {
        if size <= written {
            continue;
        }
        replicate(&jpegs, &replicas, written, size);
        written = size;
        let reset = reset_peak_rss();
        let (summary, secs) = import(&engine2, &replicas);
        summary_line(&format!("  step to {size} files"), &summary, secs);
        println!(
            "    library of {size} photos: RSS {:.0} MiB, peak RSS {:.0} MiB {}",
            rss_mib(),
            peak_rss_mib(),
            if reset {
                "during this step"
            } else {
                "since start (could not reset it)"
            }
        );
    }
}

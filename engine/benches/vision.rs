//! Vision benchmark: images/s and per-stage times over the shared test
//! photos, peak memory, and the reference pipeline (insightface +
//! onnxruntime) side by side on the same images and cores when its Python
//! environment exists.
//!
//! `cargo bench -p likeness-engine --bench vision`
//! Env: `LIKENESS_SHARED` (test data), `LIKENESS_DEVICE`, `LIKENESS_BENCH_BATCH`
//! (photos in flight at once, default 8, as `likeness detect`),
//! `LIKENESS_BENCH_LIMIT` (use N images spread over the set),
//! `LIKENESS_REFERENCE_PYTHON` (a Python
//! with insightface 2.1, onnxruntime and opencv; default
//! `/root/.cache/likeness/venv/bin/python`; `none` skips the reference).

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use likeness_engine::models::ModelPack;
use likeness_engine::vision::{DetectRecord, DevicePreference, Vision};
use likeness_testkit::{peak_rss_mib, run_reference, shared_dir};

fn main() {
    // As the app does (`app/src/main.rs`).
    likeness_engine::allocator::keep_freed_memory();
    let shared = shared_dir();
    let faces = shared.join("faces");
    let reference = faces.join("reference/insightface_buffalo_sc.jsonl");
    let Ok(file) = std::fs::File::open(&reference) else {
        eprintln!(
            "shared data not found at {} (set LIKENESS_SHARED)",
            shared.display()
        );
        std::process::exit(1);
    };
    let paths: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<DetectRecord>(&l).ok())
        .map(|r| faces.join(r.path).to_string_lossy().into_owned())
        .collect();
    let mut paths = paths;
    if let Some(limit) = std::env::var("LIKENESS_BENCH_LIMIT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // An even spread over the folders, not just the first ones.
        let step = (paths.len() / limit.max(1)).max(1);
        paths = paths.into_iter().step_by(step).take(limit).collect();
    }
    let batch: usize = std::env::var("LIKENESS_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);

    let t = Instant::now();
    let pack = ModelPack::load(&shared.join("models"), "buffalo_sc").expect("model pack");
    let pref = DevicePreference::from_env().expect("LIKENESS_DEVICE");
    let vision = Vision::new(&pack, pref).expect("vision");
    println!(
        "models loaded in {:.2} s on {}",
        t.elapsed().as_secs_f64(),
        vision.backend_name()
    );

    // Warm-up on a few images (kernel set-up), not counted.
    let warm: Vec<String> = paths.iter().take(batch).cloned().collect();
    vision.detect_records(&warm, batch).expect("warm-up");
    let before = vision.stage_times();

    let t = Instant::now();
    let mut faces_found = 0usize;
    vision
        .detect_paths(&paths, batch, |_, r| {
            if let Ok((_, _, f)) = r {
                faces_found += f.len();
            }
        })
        .expect("pipeline");
    let secs = t.elapsed().as_secs_f64();
    let after = vision.stage_times();
    let n = paths.len() as f64;
    let ours = n / secs;
    let ms = |a: std::time::Duration, b: std::time::Duration| {
        a.saturating_sub(b).as_secs_f64() * 1000.0 / n
    };
    println!(
        "likeness: {} images, {faces_found} faces in {secs:.2} s = {ours:.2} images/s ({batch} in flight)",
        paths.len()
    );
    println!(
        "  per image, summed over the photos in flight: decode+letterbox {:.1} ms, detect {:.1} ms, align {:.2} ms, embed {:.1} ms",
        ms(after.decode, before.decode),
        ms(after.detect, before.detect),
        ms(after.align, before.align),
        ms(after.embed, before.embed)
    );
    println!("  peak RSS {:.0} MiB", peak_rss_mib());

    let python = std::env::var("LIKENESS_REFERENCE_PYTHON")
        .unwrap_or_else(|_| "/root/.cache/likeness/venv/bin/python".into());
    if python == "none" || !Path::new(&python).exists() {
        println!("reference: skipped (no Python at {python}; set LIKENESS_REFERENCE_PYTHON)");
        return;
    }
    let list = std::env::temp_dir().join("likeness_bench_list.txt");
    std::fs::write(&list, paths.join("\n")).expect("list file");
    let out = std::env::temp_dir().join("likeness_reference_out.jsonl");
    match run_reference(&python, &list, &out) {
        Ok(reference) => {
            println!(
                "reference (insightface 2.1 + onnxruntime, CPU): {}; wall {:.1} s incl. start-up and imread",
                reference.line, reference.wall_s
            );
            println!(
                "ratio likeness / reference = {:.2}x (reference counts app.get only, we count decode too)",
                ours / reference.images_per_s
            );
        }
        Err(e) => println!("reference failed: {e}"),
    }
}

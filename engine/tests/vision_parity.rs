//! Parity with the reference pipeline (insightface + onnxruntime) on every
//! image of the shared test set, and recognition sanity on the same run.

mod vision_common;

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::OnceLock;
use std::time::Instant;

use likeness_engine::types::BBox;
use likeness_engine::vision::{DetectRecord, FaceRecord};
use vision_common::{cosine, median, shared_dir, vision};

struct Run {
    reference: Vec<DetectRecord>,
    ours: Vec<DetectRecord>,
}

/// Runs our pipeline once over every reference image (shared by the tests).
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let faces = shared_dir().join("faces");
        let file = std::fs::File::open(faces.join("reference/insightface_buffalo_sc.jsonl"))
            .expect("reference file");
        let reference: Vec<DetectRecord> = std::io::BufReader::new(file)
            .lines()
            .map(|l| serde_json::from_str(&l.expect("line")).expect("reference line parses"))
            .collect();
        assert_eq!(reference.len(), 436, "reference lines");
        let vision = vision();
        let paths: Vec<String> = reference
            .iter()
            .map(|r| faces.join(&r.path).to_string_lossy().into_owned())
            .collect();
        let t = Instant::now();
        let ours = vision.detect_records(&paths, 8).expect("pipeline runs");
        let secs = t.elapsed().as_secs_f64();
        let st = vision.stage_times();
        println!(
            "{} images in {secs:.1} s ({:.2} images/s) on {}; stage totals: decode {:?}, detect {:?}, align {:?}, embed {:?}; {} faces",
            paths.len(),
            paths.len() as f64 / secs,
            vision.backend_name(),
            st.decode,
            st.detect,
            st.align,
            st.embed,
            st.faces
        );
        let dump = std::env::temp_dir().join("likeness_vision_parity.jsonl");
        let text: String = ours.iter().map(|r| r.to_json_line() + "\n").collect();
        let _ = std::fs::write(&dump, text);
        println!("our output: {}", dump.display());
        Run { reference, ours }
    })
}

fn bbox(f: &FaceRecord) -> BBox {
    BBox {
        x1: f.bbox[0],
        y1: f.bbox[1],
        x2: f.bbox[2],
        y2: f.bbox[3],
    }
}

#[test]
fn parity_with_reference() {
    let run = run();
    let (mut ref_faces, mut matched, mut extra) = (0usize, 0usize, 0usize);
    let mut lm_err = Vec::new();
    let mut cosines = Vec::new();
    let mut worst: Vec<(f32, String)> = Vec::new();
    for (r, o) in run.reference.iter().zip(&run.ours) {
        let rf = r.faces.as_deref().unwrap_or_default();
        let Some(of) = o.faces.as_deref() else {
            panic!("{}: we failed: {:?}", r.path, o.error);
        };
        assert_eq!(
            (o.width, o.height),
            (r.width, r.height),
            "{} dimensions",
            r.path
        );
        ref_faces += rf.len();
        // Greedy one-to-one matching by IoU, best pairs first.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (i, a) in rf.iter().enumerate() {
            for (j, b) in of.iter().enumerate() {
                let iou = bbox(a).iou(&bbox(b));
                if iou >= 0.9 {
                    pairs.push((iou, i, j));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut used_r, mut used_o) = (vec![false; rf.len()], vec![false; of.len()]);
        for (_, i, j) in pairs {
            if used_r[i] || used_o[j] {
                continue;
            }
            used_r[i] = true;
            used_o[j] = true;
            matched += 1;
            for k in 0..5 {
                let dx = rf[i].kps[k][0] - of[j].kps[k][0];
                let dy = rf[i].kps[k][1] - of[j].kps[k][1];
                lm_err.push(dx.hypot(dy));
            }
            let c = cosine(&rf[i].embedding, &of[j].embedding);
            cosines.push(c);
            worst.push((c, r.path.clone()));
        }
        extra += used_o.iter().filter(|u| !**u).count();
        let missed = used_r.iter().filter(|u| !**u).count();
        if missed > 0 || used_o.iter().any(|u| !u) {
            println!(
                "{}: {} reference faces, {} ours, {missed} unmatched",
                r.path,
                rf.len(),
                of.len()
            );
        }
    }
    worst.sort_by(|a, b| a.0.total_cmp(&b.0));
    let min_cos = cosines.iter().copied().fold(f32::INFINITY, f32::min);
    let match_rate = matched as f64 / ref_faces as f64;
    let extra_rate = extra as f64 / ref_faces as f64;
    println!(
        "reference faces {ref_faces}, matched {matched} ({:.2} %), extra {extra} ({:.2} %)",
        100.0 * match_rate,
        100.0 * extra_rate
    );
    println!(
        "landmark error median {:.3} px, max {:.3} px",
        median(&lm_err),
        lm_err.iter().copied().fold(0.0, f32::max)
    );
    println!(
        "embedding cosine median {:.5}, min {min_cos:.5}; lowest: {:?}",
        median(&cosines),
        &worst[..worst.len().min(5)]
    );
    assert!(
        match_rate >= 0.99,
        "only {:.2} % of reference faces matched",
        100.0 * match_rate
    );
    assert!(
        extra_rate <= 0.01,
        "{:.2} % extra faces",
        100.0 * extra_rate
    );
    assert!(
        median(&lm_err) <= 2.0,
        "landmark median error {}",
        median(&lm_err)
    );
    // Every matched face: cosine ≥ 0.99 (JPEGs decode with libjpeg-turbo,
    // as OpenCV's do, so inputs are the reference's bit for bit).
    assert!(min_cos >= 0.99, "minimum embedding cosine {min_cos}");
    assert!(
        median(&cosines) >= 0.999,
        "median embedding cosine {}",
        median(&cosines)
    );
}

/// The largest face of each `people/` photo with its identity (folder name).
fn people() -> Vec<(String, Vec<f32>)> {
    let run = run();
    run.ours
        .iter()
        .zip(&run.reference)
        .filter(|(_, r)| r.path.starts_with("people/"))
        .filter_map(|(o, r)| {
            let id = r.path.split('/').nth(1)?.to_owned();
            let main = o
                .faces
                .as_ref()?
                .iter()
                .max_by(|a, b| bbox(a).area().total_cmp(&bbox(b).area()))?;
            Some((id, main.embedding.clone()))
        })
        .collect()
}

#[test]
fn recognition_roc_auc() {
    let people = people();
    assert!(
        people.len() >= 400,
        "only {} people photos with a face",
        people.len()
    );
    let mut scored: Vec<(f32, bool)> = Vec::new();
    for i in 0..people.len() {
        for j in i + 1..people.len() {
            scored.push((
                cosine(&people[i].1, &people[j].1),
                people[i].0 == people[j].0,
            ));
        }
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut pos, mut neg) = (0f64, 0f64, 0f64);
    for (rank, (_, same)) in scored.iter().enumerate() {
        if *same {
            rank_sum += (rank + 1) as f64;
            pos += 1.0;
        } else {
            neg += 1.0;
        }
    }
    let auc = (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg);
    println!("ROC AUC {auc:.5} over {pos} same-person and {neg} different-person pairs");
    assert!(auc >= 0.99, "AUC {auc}");
}

/// Union-find root with path halving.
fn find(p: &mut [usize], i: usize) -> usize {
    let mut i = i;
    while p[i] != i {
        p[i] = p[p[i]];
        i = p[i];
    }
    i
}

#[test]
fn bald_guys_split_into_four() {
    let run = run();
    let rec = run
        .ours
        .iter()
        .zip(&run.reference)
        .find(|(_, r)| r.path.ends_with("dlib_bald_guys.jpg"))
        .map(|(o, _)| o)
        .expect("dlib_bald_guys.jpg is in the reference set");
    let faces = rec.faces.as_deref().expect("decoded");
    let n = faces.len();
    assert!(n >= 20, "only {n} faces found");
    // Connected components of the graph "cosine >= threshold".
    let threshold = 0.4;
    let mut parent: Vec<usize> = (0..n).collect();
    for i in 0..n {
        for j in i + 1..n {
            if cosine(&faces[i].embedding, &faces[j].embedding) >= threshold {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        *sizes.entry(find(&mut parent, i)).or_default() += 1;
    }
    let mut s: Vec<usize> = sizes.values().copied().collect();
    s.sort_unstable();
    println!("{n} faces, clusters at cosine >= {threshold}: {s:?}");
    assert_eq!(s.len(), 4, "cluster sizes {s:?}");
}

//! Recognition benchmark: quality on the reference embeddings (ours vs
//! DBSCAN with Immich's defaults), the measurements behind the default
//! thresholds, a simulated user, and clustering 100k synthetic faces.
//!
//! `cargo bench --profile dev --workspace --bench recognize`. Needs the
//! shared test data (`$LIKENESS_SHARED`, else `<workspace>/../shared`);
//! `LIKENESS_BENCH_QUALITY_ONLY=1` skips the scale part.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use likeness_engine::index::synthetic::{clustered, clustered_skewed};
use likeness_engine::recognize::eval::{
    ReferenceFace, cluster_faces, dbscan, load_reference, score, simulate_user,
};
use likeness_engine::recognize::{Clustering, FaceRef, KnnGraph, PersonModel, RecognitionSettings};
use likeness_engine::{FaceId, PersonId, PhotoId};
use likeness_testkit::{peak_rss_mib, reference_jsonl};

fn percentile(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let faces = load_reference(&reference_jsonl()).expect("reference embeddings load");
    let faces: Vec<ReferenceFace> = faces
        .into_iter()
        .filter(|f| f.path.starts_with("people/") || f.path.starts_with("group/"))
        .collect();
    let refs: Vec<FaceRef<'_>> = faces.iter().map(ReferenceFace::face_ref).collect();
    let labels: Vec<(FaceId, &str)> = faces
        .iter()
        .filter_map(|f| f.label.as_deref().map(|l| (f.id, l)))
        .collect();
    let settings = RecognitionSettings::default();
    println!(
        "reference: {} faces clustered (people/ + group/), {} labelled (largest face of each people/ photo); \
         unlabelled faces are clustered but not scored; a labelled face in no group counts as a singleton",
        faces.len(),
        labels.len()
    );

    thresholds(&faces, &settings);

    println!("\n== clustering quality (labelled faces) ==");
    println!(
        "{:<44} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7}",
        "method", "pairP", "pairR", "pairF", "B3 P", "B3 R", "B3 F"
    );
    let t = Instant::now();
    let ours = cluster_faces(&refs, &settings).expect("clustering");
    let ours_ms = t.elapsed().as_secs_f64() * 1e3;
    let show = |name: &str, s: likeness_engine::recognize::eval::Scores| {
        println!(
            "{name:<44} {:>7.3} {:>7.3} {:>7.3} | {:>7.3} {:>7.3} {:>7.3}",
            s.pair_p, s.pair_r, s.pair_f, s.bcubed_p, s.bcubed_r, s.bcubed_f
        );
    };
    show(
        &format!(
            "ours (avg-link kNN k={}, link {}, min {})",
            settings.knn_k, settings.cluster_link, settings.min_group_size
        ),
        score(&labels, &ours),
    );
    show(
        "DBSCAN (Immich: cos dist <= 0.5, min 3)",
        score(&labels, &dbscan(&refs, 0.5, 3)),
    );
    show(
        "ours at Immich's size (min 3)",
        score(
            &labels,
            &cluster_faces(
                &refs,
                &RecognitionSettings {
                    min_group_size: 3,
                    ..settings
                },
            )
            .expect("clustering"),
        ),
    );
    show(
        "DBSCAN at our size (cos dist <= 0.5, min 2)",
        score(&labels, &dbscan(&refs, 0.5, 2)),
    );
    // Average linkage over all pairs (every face in every kNN list), at
    // the cosine distance 0.6: the reference figure 0.982.
    let all_pairs = |min: usize| RecognitionSettings {
        knn_k: refs.len(),
        cluster_link: 0.4,
        min_group_size: min,
        ..settings
    };
    show(
        "avg-link all pairs, cos dist <= 0.6, min 3",
        score(
            &labels,
            &cluster_faces(&refs, &all_pairs(3)).expect("clustering"),
        ),
    );
    show(
        "avg-link all pairs, cos dist <= 0.6, min 2",
        score(
            &labels,
            &cluster_faces(&refs, &all_pairs(2)).expect("clustering"),
        ),
    );
    // Faces of one photo are different people (cannot-link): their
    // similarities are a label-free impostor sample of this library. Those
    // above `cluster_link` are kept apart only by cannot-link.
    let mut same_photo = Vec::new();
    for (i, a) in refs.iter().enumerate() {
        for b in &refs[i + 1..] {
            if a.photo == b.photo {
                same_photo.push(likeness_engine::index::dot(a.embedding, b.embedding));
            }
        }
    }
    same_photo.sort_by(f32::total_cmp);
    let above = same_photo
        .iter()
        .filter(|&&x| x >= settings.cluster_link)
        .count();
    println!(
        "cannot-link pairs (two faces of one photo, n={}): p50 {:.3} p99 {:.3} max {:.3}; {above} reach cluster_link {} and are kept apart only by cannot-link",
        same_photo.len(),
        percentile(&same_photo, 0.5),
        percentile(&same_photo, 0.99),
        same_photo.last().copied().unwrap_or(f32::NAN),
        settings.cluster_link
    );
    println!("(ours took {ours_ms:.1} ms for {} faces)", refs.len());

    println!("\n== sensitivity to cluster_link (ours) and min group size ==");
    for link in [0.25f32, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6] {
        for min in [2usize, 3] {
            let s = RecognitionSettings {
                cluster_link: link,
                min_group_size: min,
                ..settings
            };
            show(
                &format!("  link {link:.2} min {min}"),
                score(&labels, &cluster_faces(&refs, &s).expect("clustering")),
            );
        }
    }
    for k in [5usize, 20] {
        let s = RecognitionSettings {
            knn_k: k,
            ..settings
        };
        show(
            &format!("  k {k}"),
            score(&labels, &cluster_faces(&refs, &s).expect("clustering")),
        );
    }

    println!("\n== simulated user ==");
    let t = Instant::now();
    let r = simulate_user(&faces, &settings, 5).expect("simulation");
    println!(
        "persons named {}, labelled faces {}: correct {} ({:.1} %), wrong {} ({:.1} %), actions {} ({:.2} per person), violations {} ({:.0} ms)",
        r.persons,
        r.labelled,
        r.correct,
        100.0 * r.correct as f64 / r.labelled as f64,
        r.wrong,
        100.0 * r.wrong as f64 / r.labelled as f64,
        r.actions,
        r.actions as f64 / r.persons.max(1) as f64,
        r.violations,
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(r.violations, 0, "a face moved against a user decision");

    // `LIKENESS_BENCH_QUALITY_ONLY=1` skips the (minutes-long) scale part.
    if std::env::var_os("LIKENESS_BENCH_QUALITY_ONLY").is_none() {
        scale();
    }
}

/// Genuine (leave-one-out) and impostor confidences: what the default
/// auto/suggest thresholds are read from.
fn thresholds(faces: &[ReferenceFace], settings: &RecognitionSettings) {
    let mut by_id: BTreeMap<&str, Vec<&ReferenceFace>> = BTreeMap::new();
    for f in faces {
        if let Some(l) = f.label.as_deref() {
            by_id.entry(l).or_default().push(f);
        }
    }
    let names: Vec<&str> = by_id.keys().copied().collect();
    let models: HashMap<&str, PersonModel> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let fs: Vec<FaceRef<'_>> = by_id[n].iter().map(|f| f.face_ref()).collect();
            PersonModel::build(PersonId(i as u64), &fs, settings).map(|m| (*n, m))
        })
        .collect();
    let mut genuine = Vec::new();
    let mut impostor_best = Vec::new();
    let mut impostor_all = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let fs = &by_id[n];
        for f in fs {
            if fs.len() >= 2 {
                let others: Vec<FaceRef<'_>> = fs
                    .iter()
                    .filter(|g| g.id != f.id)
                    .map(|g| g.face_ref())
                    .collect();
                if let Some(m) = PersonModel::build(PersonId(i as u64), &others, settings) {
                    genuine.push(m.confidence(&f.embedding));
                }
            }
            let mut best = 0.0f32;
            for (other, m) in &models {
                if other != n {
                    let c = m.confidence(&f.embedding);
                    impostor_all.push(c);
                    best = best.max(c);
                }
            }
            impostor_best.push(best);
        }
    }
    for v in [&mut genuine, &mut impostor_best, &mut impostor_all] {
        v.sort_by(f32::total_cmp);
    }
    println!("\n== confidence distributions (person models of the labelled identities) ==");
    println!(
        "genuine (leave-one-out, n={}): p1 {:.3} p5 {:.3} p10 {:.3} p50 {:.3}",
        genuine.len(),
        percentile(&genuine, 0.01),
        percentile(&genuine, 0.05),
        percentile(&genuine, 0.10),
        percentile(&genuine, 0.5)
    );
    println!(
        "impostor, all face×other-person pairs (n={}): p50 {:.3} p99 {:.3} p99.9 {:.3} p99.99 {:.3} max {:.3}",
        impostor_all.len(),
        percentile(&impostor_all, 0.5),
        percentile(&impostor_all, 0.99),
        percentile(&impostor_all, 0.999),
        percentile(&impostor_all, 0.9999),
        impostor_all.last().copied().unwrap_or(f32::NAN)
    );
    println!(
        "impostor, best other person per face (n={}): p50 {:.3} p99 {:.3} max {:.3}",
        impostor_best.len(),
        percentile(&impostor_best, 0.5),
        percentile(&impostor_best, 0.99),
        impostor_best.last().copied().unwrap_or(f32::NAN)
    );
    // Face-to-face similarities: what average linkage compares.
    let labelled: Vec<&ReferenceFace> = faces.iter().filter(|f| f.label.is_some()).collect();
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for (i, a) in labelled.iter().enumerate() {
        for b in &labelled[i + 1..] {
            let s = likeness_engine::index::dot(&a.embedding, &b.embedding);
            if a.label == b.label {
                same.push(s);
            } else {
                diff.push(s);
            }
        }
    }
    same.sort_by(f32::total_cmp);
    diff.sort_by(f32::total_cmp);
    println!(
        "face pairs, same identity (n={}): p1 {:.3} p5 {:.3} p10 {:.3} p50 {:.3}; different (n={}): p50 {:.3} p99.9 {:.3} p99.99 {:.3} max {:.3}",
        same.len(),
        percentile(&same, 0.01),
        percentile(&same, 0.05),
        percentile(&same, 0.10),
        percentile(&same, 0.5),
        diff.len(),
        percentile(&diff, 0.5),
        percentile(&diff, 0.999),
        percentile(&diff, 0.9999),
        diff.last().copied().unwrap_or(f32::NAN)
    );
    let rate =
        |v: &[f32], t: f32| v.iter().filter(|&&x| x >= t).count() as f64 / v.len().max(1) as f64;
    println!(
        "at auto_assign {:.2}: genuine accepted {:.1} %, impostor pairs above {:.4} %; at suggest {:.2}: genuine {:.1} %, impostor pairs {:.3} %",
        settings.auto_assign,
        100.0 * rate(&genuine, settings.auto_assign),
        100.0 * rate(&impostor_all, settings.auto_assign),
        settings.suggest,
        100.0 * rate(&genuine, settings.suggest),
        100.0 * rate(&impostor_all, settings.suggest)
    );
}

fn scale() {
    println!("\n== scale: 100k synthetic 512-d faces, 1000 people, noise 1.0 ==");
    let settings = RecognitionSettings::default();
    for (name, skewed) in [("uniform", false), ("skewed", true)] {
        let data = if skewed {
            clustered_skewed(100_000, 1000, 1.0, 7)
        } else {
            clustered(100_000, 1000, 1.0, 7)
        };
        let photos: Vec<PhotoId> = (0..data.len())
            .map(|i| PhotoId::of_bytes(&(i as u64).to_le_bytes()))
            .collect();
        let refs: Vec<FaceRef<'_>> = data
            .iter()
            .zip(&photos)
            .enumerate()
            .map(|(i, (e, p))| FaceRef {
                id: FaceId(i as u64 + 1),
                photo: *p,
                embedding: e,
            })
            .collect();
        let truth = synthetic_labels(100_000, 1000, 1.0, 7, skewed, &data);
        let t = Instant::now();
        let graph = KnnGraph::partitioned(&refs, settings.knn_k);
        let knn_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut c = Clustering::new(settings.cluster_link);
        c.add(&refs, &graph).expect("clustering");
        let groups = c.groups(settings.min_group_size);
        let cl_s = t.elapsed().as_secs_f64();
        // kNN recall against exact on a sample.
        let sample: Vec<FaceRef<'_>> = refs.iter().step_by(1000).copied().collect();
        let exact = KnnGraph::exact(&sample, &refs, settings.knn_k);
        let (mut hit, mut tot) = (0usize, 0usize);
        for (f, list) in &exact.lists {
            let got = graph.neighbours(*f).cloned().unwrap_or_default();
            tot += list.len();
            hit += list
                .iter()
                .filter(|x| got.iter().any(|g| g.0 == x.0))
                .count();
        }
        let predicted: HashMap<FaceId, u64> = groups
            .iter()
            .flat_map(|g| g.faces.iter().map(move |f| (*f, g.id.0)))
            .collect();
        let names: Vec<String> = truth.iter().map(ToString::to_string).collect();
        let labels: Vec<(FaceId, &str)> = refs
            .iter()
            .zip(&names)
            .map(|(f, l)| (f.id, l.as_str()))
            .collect();
        let q = score(&labels, &predicted);
        println!(
            "{name:>8}: vs generator labels pairwise F {:.3}, BCubed P {:.3} R {:.3} F {:.3}",
            q.pair_f, q.bcubed_p, q.bcubed_r, q.bcubed_f
        );
        println!(
            "{name:>8}: kNN {knn_s:.2} s (recall@{} {:.3} on {} sampled faces) + clustering {cl_s:.2} s = {:.2} s total; {} groups of >= {}; peak RSS (VmHWM) {:.0} MiB",
            settings.knn_k,
            hit as f64 / tot.max(1) as f64,
            sample.len(),
            knn_s + cl_s,
            groups.len(),
            settings.min_group_size,
            peak_rss_mib()
        );
    }
}

/// The cluster of each vector `index::synthetic` generated: its generator
/// replayed with the same seed (checked against the data it returned).
fn synthetic_labels(
    n: usize,
    clusters: usize,
    noise: f32,
    seed: u64,
    skewed: bool,
    data: &[Vec<f32>],
) -> Vec<usize> {
    use likeness_engine::index::synthetic::SynthRng;
    let mut rng = SynthRng::new(seed);
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| rng.unit()).collect();
    let sigma = noise / (likeness_engine::EMBEDDING_DIM as f32).sqrt();
    let mut labels = Vec::with_capacity(n);
    for (i, expected) in data.iter().enumerate().take(n) {
        let u = rng.uniform();
        let c = ((if skewed { u * u } else { u } * clusters as f64) as usize).min(clusters - 1);
        loop {
            let v: Vec<f32> = centres[c]
                .iter()
                .map(|x| x + sigma * rng.gaussian())
                .collect();
            if let Ok(v) = likeness_engine::index::normalized(&v) {
                assert_eq!(&v, expected, "replayed generator differs at {i}");
                break;
            }
        }
        labels.push(c);
    }
    labels
}

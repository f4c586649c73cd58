#![allow(clippy::many_single_char_names)]
//! Vector index benchmark: `cargo bench --profile dev --workspace --bench index`.
//!
//! On seeded synthetic clustered 512-d unit vectors (faces of people) it
//! prints, per size: insert time, the maintenance steps that build the
//! segments (each step's build time, and their total), the segments'
//! sizes, library open + first query time, recall@10 against exact search,
//! query p50/p99, and commit latency of a single put at that size.
//!
//! The 1M run (about 30 minutes on two cores, 2 GB of vectors) is a mode,
//! not the default: `INDEX_BENCH_SIZES=1000000` (output kept in
//! `notes/index_1m.txt` of the session that measured it).
//!
//! Environment: `INDEX_BENCH_SIZES` (comma-separated, default `100000`),
//! `INDEX_BENCH_STREAM=1` (insert in commits of `DELTA_FLUSH_FACES` faces
//! with the maintainer's steps after each, as an import does, instead of
//! one bulk commit and one flush),
//! `INDEX_BENCH_QUERIES` (default 500), `INDEX_BENCH_SKEWED=1` (skewed
//! cluster sizes, see `synthetic::clustered_skewed`), `INDEX_BENCH_EF_C` /
//! `INDEX_BENCH_HEURISTIC` to try other build parameters, and
//! `INDEX_BENCH_EF_S` (comma-separated search breadths to compare; default
//! [`index::DEFAULT_EF_SEARCH`]).

use likeness_engine::FaceId;
use likeness_engine::index::{
    self, RebuildOutcome, RebuildParams, VectorIndex,
    synthetic::{SynthRng, clustered, clustered_skewed},
};
use rayon::prelude::*;
use redb::{Database, ReadableDatabase};
use std::time::{Duration, Instant};

/// Faces per synthetic person, on average.
const FACES_PER_PERSON: usize = 20;
/// Noise relative to the unit cluster centre (≈ 0.5 cosine within a person).
const NOISE: f32 = 1.0;
/// Neighbours compared for recall.
const K: usize = 10;
/// Single-put transactions timed for commit latency.
const COMMITS: usize = 200;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;
/// Recall, sorted latencies, and how many queries found 0..=K neighbours.
type Measured = (f64, Vec<Duration>, [usize; K + 1]);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::var("INDEX_BENCH_SIZES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let queries = env_usize("INDEX_BENCH_QUERIES", 500);
    let defaults = RebuildParams::default();
    let params = RebuildParams {
        ef_construction: env_usize("INDEX_BENCH_EF_C", defaults.ef_construction),
        ef_search: defaults.ef_search,
        heuristic: std::env::var("INDEX_BENCH_HEURISTIC").map_or(defaults.heuristic, |v| v == "1"),
        ..defaults
    };
    println!(
        "index bench: {} threads, params {params:?}, {FACES_PER_PERSON} faces/person, noise {NOISE}",
        rayon::current_num_threads()
    );
    let efs: Vec<usize> = std::env::var("INDEX_BENCH_EF_S")
        .unwrap_or_else(|_| index::DEFAULT_EF_SEARCH.to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in sizes {
        bench_size(n, queries, params, &efs)?;
    }
    Ok(())
}

fn bench_size(
    n: usize,
    queries: usize,
    params: RebuildParams,
    efs: &[usize],
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== {n} faces ==");
    let t = Instant::now();
    let skewed = std::env::var("INDEX_BENCH_SKEWED").is_ok_and(|v| v == "1");
    let mut data = if skewed {
        clustered_skewed(n + queries, n / FACES_PER_PERSON, NOISE, 42)
    } else {
        clustered(n + queries, n / FACES_PER_PERSON, NOISE, 42)
    };
    println!(
        "cluster sizes: {}",
        if skewed { "skewed" } else { "uniform" }
    );
    let query_set = data.split_off(n);
    println!("generate: {:.1} s", t.elapsed().as_secs_f64());

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.redb");
    let db = Database::create(&path)?;
    let stream = std::env::var("INDEX_BENCH_STREAM").is_ok_and(|v| v == "1");
    let t = Instant::now();
    let mut steps = Vec::new();
    if stream {
        // As an import would: commits of a flush's worth of faces, each
        // followed by the engine maintainer's due steps.
        let w = db.begin_write()?;
        index::create_tables(&w)?;
        w.commit()?;
        let batch = usize::try_from(index::DELTA_FLUSH_FACES)?;
        for (b, chunk) in data.chunks(batch).enumerate() {
            let w = db.begin_write()?;
            for (i, v) in chunk.iter().enumerate() {
                index::put(&w, FaceId((b * batch + i) as u64), v)?;
            }
            w.commit()?;
            steps.extend(index::maintain(&db, params)?);
        }
        println!(
            "streamed {n} embeddings in commits of {batch}, maintaining after each: {:.1} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        let w = db.begin_write()?;
        index::create_tables(&w)?;
        for (i, v) in data.iter().enumerate() {
            index::put(&w, FaceId(i as u64), v)?;
        }
        w.commit()?;
        println!(
            "insert {n} embeddings (one txn): {:.2} s",
            t.elapsed().as_secs_f64()
        );
    }

    // Build the segments as the engine would: flush the delta (split at
    // the segment cap), then the policy's merges until nothing is due. A
    // bulk load also flushes what is left in the delta; a streamed one
    // leaves it to the exact scan, as the engine does.
    steps.extend(index::maintain(&db, params)?);
    if !stream {
        let forced = index::rebuild(&db, params)?;
        if forced.outcome != RebuildOutcome::NothingToDo {
            steps.push(forced);
        }
        steps.extend(index::maintain(&db, params)?);
    }
    let mut total_build = Duration::ZERO;
    for r in &steps {
        total_build += r.build_time;
        println!(
            "step {:?} (flush {}, merge {} segments): {} faces into {} segments, read {:.2} s, \
             build {:.1} s, swap {:.2} s; {:.1} MB ({:.0} B/face)",
            r.outcome,
            r.step.flush_delta,
            r.step.segments.len(),
            r.segment_faces,
            r.new_segments,
            r.read_time.as_secs_f64(),
            r.build_time.as_secs_f64(),
            r.swap_time.as_secs_f64(),
            r.segment_bytes as f64 / 1e6,
            r.segment_bytes as f64 / r.segment_faces.max(1) as f64
        );
    }
    {
        let r = db.begin_read()?;
        let c = index::check(&r)?;
        println!(
            "segments: {} holding {} faces, {} tombstones, delta {}, {:.1} MB; \
             total build time {:.1} s ({} steps)",
            c.segments,
            c.segment_faces,
            c.tombstones,
            c.delta,
            c.segment_bytes as f64 / 1e6,
            total_build.as_secs_f64(),
            steps.len()
        );
        if !c.is_consistent() {
            return Err(format!(
                "index check failed: {:?}",
                &c.problems[..c.problems.len().min(5)]
            )
            .into());
        }
    }
    drop(db);

    let t = Instant::now();
    let db = Database::open(&path)?;
    let mut vi = VectorIndex::load(&db.begin_read()?)?.with_exact_scan_max_faces(0);
    let loaded = t.elapsed();
    vi.search(&db.begin_read()?, &query_set[0], K)?;
    println!(
        "open: database + segment load {:.0} ms; open + first query {:.0} ms ({} segments)",
        ms(loaded),
        ms(t.elapsed()),
        vi.cached_segments()
    );
    println!(
        "file size: {:.1} MB",
        std::fs::metadata(&path)?.len() as f64 / 1e6
    );

    let t = Instant::now();
    let truth: Vec<Vec<u64>> = query_set
        .par_iter()
        .map(|q| {
            index::synthetic::exact_top_k(&data, q, K)
                .into_iter()
                .map(|(i, _)| i as u64)
                .collect()
        })
        .collect();
    println!("exact ground truth: {:.1} s", t.elapsed().as_secs_f64());

    for &ef in efs {
        let mut probe = VectorIndex::new()
            .with_ef_search(Some(ef))
            .with_exact_scan_max_faces(0);
        probe.sync(&db.begin_read()?)?;
        // Warm-up pass (page cache), then the measured one.
        measure(&db, &mut probe, &query_set, &truth)?;
        let (recall, lat, hist) = measure(&db, &mut probe, &query_set, &truth)?;
        println!(
            "search k={K} ef_search={ef}: recall@{K} {recall:.4}, p50 {:.3} ms, p99 {:.3} ms \
             ({} queries; by neighbours found 0..={K}: {hist:?})",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            lat.len()
        );
    }

    // Single-face user actions at this size: one put per transaction,
    // alternately a new face and a replaced segment face (which also
    // tombstones its segment position).
    let mut rng = SynthRng::new(7);
    let mut commits = Vec::with_capacity(COMMITS);
    let mut puts = Vec::with_capacity(COMMITS);
    for i in 0..COMMITS {
        let v = rng.unit();
        let face = if i % 2 == 0 { n + i } else { i * (n / COMMITS) };
        let t = Instant::now();
        let w = db.begin_write()?;
        let p = Instant::now();
        index::put(&w, FaceId(face as u64), &v)?;
        puts.push(p.elapsed());
        w.commit()?;
        commits.push(t.elapsed());
    }
    commits.sort_unstable();
    puts.sort_unstable();
    println!(
        "one put per transaction (new or replaced face): put p50 {:.3} ms, p99 {:.3} ms; whole txn with commit (fsync) p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&puts, 0.5)),
        ms(percentile(&puts, 0.99)),
        ms(percentile(&commits, 0.5)),
        ms(percentile(&commits, 0.99))
    );
    let t = Instant::now();
    let r = db.begin_read()?;
    vi.search(&r, &query_set[0], K)?;
    println!(
        "catch-up after {COMMITS} commits: {:.2} ms ({:?})",
        ms(t.elapsed()),
        vi.last_sync()
    );
    Ok(())
}

fn measure(
    db: &Database,
    vi: &mut VectorIndex,
    queries: &[Vec<f32>],
    truth: &[Vec<u64>],
) -> BenchResult<Measured> {
    let r = db.begin_read()?;
    let mut found = 0usize;
    let mut lat = Vec::with_capacity(queries.len());
    let mut hist = [0usize; K + 1];
    for (q, want) in queries.iter().zip(truth) {
        let t = Instant::now();
        let got = vi.search(&r, q, K)?;
        lat.push(t.elapsed());
        let hits = got.iter().filter(|(f, _)| want.contains(&f.0)).count();
        hist[hits] += 1;
        found += hits;
    }
    lat.sort_unstable();
    Ok((found as f64 / (queries.len() * K) as f64, lat, hist))
}

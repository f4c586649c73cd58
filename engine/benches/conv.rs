//! Convolution benchmark: each convolution shape of the detector (SCRFD
//! 500M at 640×640) and the recognizer (MobileFaceNet at 112×112), timed on
//! burn's flex backend and on this crate's CPU kernels (`vision::conv_cpu`)
//! side by side, with the GFLOP/s of each.
//!
//! `cargo bench --profile dev --workspace --bench conv`
//! Env: `LIKENESS_BENCH_BATCH` (images per run, default 8),
//! `LIKENESS_BENCH_FILTER` (only the shapes whose name contains it).

use std::time::Instant;

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData, module};
use likeness_engine::vision::conv_cpu::{BufferPool, ConvCpu};

/// `(name, [out, in/groups, k, k], stride, groups, input h = w)`.
const SHAPES: &[(&str, [usize; 4], usize, usize, usize)] = &[
    ("det first 3x3 s2", [16, 3, 3, 3], 2, 1, 640),
    ("det depthwise 320", [16, 1, 3, 3], 1, 16, 320),
    ("det pointwise 320", [16, 16, 1, 1], 1, 1, 320),
    ("det depthwise s2 320", [16, 1, 3, 3], 2, 16, 320),
    ("det depthwise 160", [40, 1, 3, 3], 1, 40, 160),
    ("det pointwise 160", [40, 40, 1, 1], 1, 1, 160),
    ("det pointwise 80", [72, 72, 1, 1], 1, 1, 80),
    ("det pointwise 40", [152, 152, 1, 1], 1, 1, 40),
    ("det pointwise 20", [288, 288, 1, 1], 1, 1, 20),
    ("det head 3x3 80", [20, 64, 3, 3], 1, 1, 80),
    ("det fpn 3x3 80", [16, 16, 3, 3], 1, 1, 80),
    ("rec first 3x3 s2", [128, 3, 3, 3], 2, 1, 112),
    ("rec groups of 2", [128, 2, 3, 3], 1, 64, 56),
    ("rec pointwise 56", [128, 128, 1, 1], 1, 1, 56),
    ("rec depthwise 28", [128, 1, 3, 3], 1, 128, 28),
    ("rec pointwise 14", [256, 256, 1, 1], 1, 1, 14),
    ("rec pointwise 7", [512, 256, 1, 1], 1, 1, 7),
];

fn values(n: usize, seed: u32) -> Vec<f32> {
    // A small deterministic generator: the values do not matter, only that
    // they are not all equal.
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn median_ms(mut f: impl FnMut(), runs: usize) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let batch: usize = std::env::var("LIKENESS_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let device = Device::flex();
    println!(
        "{:<22} {:>10} {:>9} {:>10} {:>9} {:>7}",
        "convolution", "flex ms", "GFLOP/s", "ours ms", "GFLOP/s", "ratio"
    );
    let (mut flex_total, mut ours_total) = (0.0, 0.0);
    let filter = std::env::var("LIKENESS_BENCH_FILTER").unwrap_or_default();
    for &(name, wshape, stride, groups, hw) in SHAPES {
        if !name.contains(&filter) {
            continue;
        }
        let cin = wshape[1] * groups;
        let input_shape = [batch, cin, hw, hw];
        let input = values(input_shape.iter().product(), 1);
        let weight = values(wshape.iter().product(), 2);
        let bias = values(wshape[0], 3);
        let pad = wshape[2] / 2;
        let conv = ConvCpu::new(
            weight.clone(),
            wshape,
            Some(bias.clone()),
            [stride; 2],
            [pad; 4],
            groups,
        )
        .expect("valid convolution");
        let out_shape = conv.output_shape(input_shape).expect("shape");
        let flops = 2.0
            * out_shape.iter().product::<usize>() as f64
            * (wshape[1] * wshape[2] * wshape[3]) as f64;
        let x = Tensor::<4>::from_data(TensorData::new(input.clone(), input_shape), &device);
        let w = Tensor::<4>::from_data(TensorData::new(weight, wshape), &device);
        let b = Tensor::<1>::from_data(TensorData::new(bias, [wshape[0]]), &device);
        let options = ConvOptions::new([stride; 2], [pad; 2], [1, 1], groups);
        let flex_ms = median_ms(
            || {
                let y = module::conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone());
                std::hint::black_box(y.into_data());
            },
            15,
        );
        // Outputs recycled as in the graph (`Graph::run`): a fresh buffer
        // each run would time the kernel faulting its pages in.
        let pool = BufferPool::default();
        let ours_ms = median_ms(
            || {
                let (out, _) = conv.run_with(&input, input_shape, &pool).expect("run");
                pool.give(std::hint::black_box(out));
            },
            15,
        );
        flex_total += flex_ms;
        ours_total += ours_ms;
        println!(
            "{name:<22} {flex_ms:>10.2} {:>9.1} {ours_ms:>10.2} {:>9.1} {:>6.2}x",
            flops / flex_ms / 1e6,
            flops / ours_ms / 1e6,
            flex_ms / ours_ms
        );
    }
    println!(
        "{:<22} {flex_total:>10.2} {:>9} {ours_total:>10.2} {:>9} {:>6.2}x",
        "total",
        "",
        "",
        flex_total / ours_total
    );
}

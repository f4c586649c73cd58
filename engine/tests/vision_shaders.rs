//! The WGSL pre-processing shaders (`shaders/`), launched on burn's wgpu
//! device as the GPU inference path launches them, agree with the CPU path.
//! Needs a wgpu adapter: a GPU, or Mesa's software Vulkan driver lavapipe,
//! which `scripts/system-deps.sh` installs (`mesa-vulkan-drivers`), so CI
//! runs it. Without an adapter the test fails: it must not pass unproven.

use burn::tensor::{Device, Tensor};
use likeness_engine::vision::align::align_into;
use likeness_engine::vision::detect::letterbox_into;
use likeness_engine::vision::device::select;
use likeness_engine::vision::gpu_prep::GpuPixels;
use likeness_engine::vision::{DecodedImage, DevicePreference};

/// A deterministic photo-like image: gradients plus pseudo-random texture.
fn synthetic(w: u32, h: u32) -> DecodedImage {
    let mut state = 0x2545_f491_u32;
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let n = state % 64;
            rgb.push(((x * 255 / w + n) % 256) as u8);
            rgb.push(((y * 255 / h + n / 2) % 256) as u8);
            rgb.push((((x + y) * 128 / (w + h) + n) % 256) as u8);
        }
    }
    DecodedImage::from_rgb(w, h, rgb).expect("sizes match")
}

/// `max_levels`: the warp computes sample positions in f32 on the GPU and
/// f64 on the CPU, so a few samples land on the neighbouring 1/32 pixel.
fn compare(name: &str, gpu: &[f32], cpu: &[f32], step: f32, max_levels: f32) {
    assert_eq!(gpu.len(), cpu.len(), "{name}: lengths");
    let mut off = 0usize;
    let mut max = 0f32;
    for (a, b) in gpu.iter().zip(cpu) {
        let d = (a - b).abs();
        max = max.max(d);
        if d > step * 0.5 {
            off += 1;
        }
    }
    let frac = off as f64 / cpu.len() as f64;
    println!(
        "{name}: {off} of {} values differ ({:.4} %), max diff {:.2} levels",
        cpu.len(),
        100.0 * frac,
        max / step
    );
    assert!(
        max <= step * (max_levels + 0.01),
        "{name}: max difference {} levels",
        max / step
    );
    assert!(
        frac < 0.01,
        "{name}: {:.3} % of values differ",
        100.0 * frac
    );
}

fn upload(img: &DecodedImage, device: &Device) -> GpuPixels {
    GpuPixels::upload(img, device).expect("a GPU device takes a small photo")
}

fn read(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 output")
}

#[test]
fn letterbox_and_warp_shaders_match_cpu() {
    let (device, name) = select(DevicePreference::Gpu).expect("a wgpu adapter");
    println!("device: {name}");
    // Odd widths check the packing of three bytes a pixel into u32 words.
    for (w, h) in [
        (427u32, 240u32),
        (250, 250),
        (1280, 1280),
        (300, 700),
        (641, 3),
    ] {
        let img = synthetic(w, h);
        let (g, lb) = upload(&img, &device).letterbox(640);
        assert_eq!(g.dims(), [1, 3, 640, 640]);
        let mut c = vec![0.0; 3 * 640 * 640];
        let lb_cpu = letterbox_into(&img, 640, 640, &mut c);
        assert_eq!((lb.new_w, lb.new_h), (lb_cpu.new_w, lb_cpu.new_h));
        compare(
            &format!("letterbox {w}x{h}"),
            &read(g),
            &c,
            1.0 / 128.0,
            1.0,
        );
    }
    let img = synthetic(400, 300);
    let faces = [
        [
            [150.0, 120.0],
            [210.0, 118.0],
            [182.0, 150.0],
            [158.0, 185.0],
            [205.0, 183.0],
        ],
        [
            [20.0, 30.0],
            [60.0, 40.0],
            [35.0, 60.0],
            [25.0, 80.0],
            [55.0, 85.0],
        ],
        [
            [350.0, 250.0],
            [390.0, 262.0],
            [372.0, 280.0],
            [355.0, 295.0],
            [385.0, 299.0],
        ],
    ];
    let (g, ok) = upload(&img, &device).warp(&faces).expect("warp shader");
    assert_eq!(ok, [true; 3]);
    assert_eq!(g.dims(), [3, 3, 112, 112]);
    let g = read(g);
    let per = 3 * 112 * 112;
    for (i, lm) in faces.iter().enumerate() {
        let mut c = vec![0.0; per];
        assert!(align_into(&img, lm, &mut c));
        compare(
            &format!("warp face {i}"),
            &g[i * per..(i + 1) * per],
            &c,
            1.0 / 127.5,
            16.0,
        );
    }
}

/// Degenerate landmarks (all on one point) cannot be aligned: the shader
/// path flags the face, as the CPU path does, and its crop is black.
#[test]
fn warp_flags_degenerate_landmarks() {
    let (device, _) = select(DevicePreference::Gpu).expect("a wgpu adapter");
    let img = synthetic(64, 64);
    let point = [[30.0, 30.0]; 5];
    let mut cpu = vec![0.0; 3 * 112 * 112];
    assert!(!align_into(&img, &point, &mut cpu));
    let (g, ok) = upload(&img, &device).warp(&[point]).expect("warp shader");
    assert_eq!(ok, [false]);
    assert!(
        read(g).iter().all(|v| (v + 1.0).abs() < 1e-6),
        "a black crop"
    );
}

/// A photo larger than one buffer of this GPU may be is not uploaded (the
/// pipeline then prepares it on the CPU). Lavapipe allows 128 MiB a buffer.
#[test]
fn photo_beyond_the_buffer_limit_is_not_uploaded() {
    let (device, _) = select(DevicePreference::Gpu).expect("a wgpu adapter");
    let limit = GpuPixels::max_bytes(&device).expect("a GPU device");
    if limit > 1 << 30 {
        println!("skipped: this GPU takes {limit} bytes a buffer, too many to allocate here");
        return;
    }
    let width = 4096u32;
    let height = (limit / (u64::from(width) * 3)) as u32 + 1;
    let huge = DecodedImage::from_rgb(width, height, vec![0; (width * height * 3) as usize])
        .expect("sizes match");
    assert!(GpuPixels::upload(&huge, &device).is_none());
    let fits = DecodedImage::from_rgb(
        width,
        height - 2,
        vec![0; (width * (height - 2) * 3) as usize],
    )
    .expect("sizes match");
    assert!(GpuPixels::upload(&fits, &device).is_some());
}

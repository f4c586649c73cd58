//! The wgpu path gives the same faces as the CPU path. Needs a wgpu adapter:
//! a GPU, or Mesa's software Vulkan driver lavapipe, which
//! `scripts/system-deps.sh` installs (`mesa-vulkan-drivers`), so CI runs it
//! (about 40 s on lavapipe, most of it compiling kernels). Without an
//! adapter the test fails: the GPU path must not pass unproven.

mod vision_common;

use likeness_engine::vision::{DevicePreference, Vision, decode_path};
use vision_common::{cosine, pack, shared_dir};

#[test]
fn gpu_matches_cpu() {
    let pack = pack();
    let cpu = Vision::new(&pack, DevicePreference::Cpu).expect("cpu");
    let gpu = Vision::new(&pack, DevicePreference::Gpu).expect("a wgpu adapter");
    println!("gpu backend: {}", gpu.backend_name());
    let faces = shared_dir().join("faces");
    for rel in ["group/insightface_t1.jpg", "edge/low_res_240p.jpg"] {
        let img = decode_path(faces.join(rel)).expect("decodes");
        let a = cpu.detect(&img).expect("cpu detect");
        let t = std::time::Instant::now();
        let b = gpu.detect(&img).expect("gpu detect");
        println!(
            "{rel}: {} faces cpu, {} gpu ({:?} on gpu)",
            a.len(),
            b.len(),
            t.elapsed()
        );
        assert_eq!(a.len(), b.len(), "{rel}");
        for (x, y) in a.iter().zip(&b) {
            assert!(
                x.bbox.iou(&y.bbox) > 0.98,
                "{rel}: {:?} vs {:?}",
                x.bbox,
                y.bbox
            );
            let c = cosine(&x.embedding, &y.embedding);
            assert!(c > 0.999, "{rel}: cosine {c}");
        }
        // A drawn box: the photo is uploaded for the warp on its own.
        let drawn = a[0].bbox;
        let on_cpu = cpu.embed_region(&img, drawn).expect("cpu region");
        let on_gpu = gpu.embed_region(&img, drawn).expect("gpu region");
        let (on_cpu, on_gpu) = (on_cpu.expect("cpu finds it"), on_gpu.expect("gpu finds it"));
        let drawn_cosine = cosine(&on_cpu.embedding, &on_gpu.embedding);
        println!("{rel}: drawn box, cosine {drawn_cosine}");
        assert!(
            drawn_cosine > 0.999,
            "{rel}: drawn box, cosine {drawn_cosine}"
        );
    }
}

// Letterbox + normalise: packed RGB8 photo -> SCRFD input, planar RGB f32,
// (p - 127.5) / 128, resized into the top-left `new_w` x `new_h` of a
// `det` x `det` canvas (the rest is black). Same arithmetic as the CPU path
// (`engine/src/vision/detect.rs`): OpenCV's fixed-point INTER_LINEAR, and
// 2x2 area averaging for an exact 2x reduction.

struct Params {
    src_w: u32,
    src_h: u32,
    new_w: u32,
    new_h: u32,
    det: u32,
    _pad: u32,
    scale_x: f32,
    scale_y: f32,
}

// Every binding is read_write, inputs too: burn's runtime (cubecl) carves
// small buffers out of shared pages, and wgpu refuses one buffer bound both
// read-only and read-write in a dispatch.
@group(0) @binding(0) var<storage, read_write> p: Params;
@group(0) @binding(1) var<storage, read_write> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn px(x: u32, y: u32, c: u32) -> i32 {
    let i = (y * p.src_w + x) * 3u + c;
    return i32((src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

struct Tap {
    s: u32,
    a0: i32,
    a1: i32,
}

fn tap(d: u32, scale: f32, n: u32) -> Tap {
    let f = (f32(d) + 0.5) * scale - 0.5;
    var s = i32(floor(f));
    var frac = f - f32(s);
    if (s < 0) {
        s = 0;
        frac = 0.0;
    }
    if (s >= i32(n) - 1) {
        s = i32(n) - 1;
        frac = 0.0;
    }
    return Tap(u32(s), i32(round((1.0 - frac) * 2048.0)), i32(round(frac * 2048.0)));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    if (x >= p.det || y >= p.det) {
        return;
    }
    let plane = p.det * p.det;
    let o = y * p.det + x;
    if (x >= p.new_w || y >= p.new_h) {
        for (var c = 0u; c < 3u; c++) {
            dst[c * plane + o] = -127.5 / 128.0;
        }
        return;
    }
    if (p.src_w == p.new_w && p.src_h == p.new_h) {
        for (var c = 0u; c < 3u; c++) {
            dst[c * plane + o] = (f32(px(x, y, c)) - 127.5) / 128.0;
        }
        return;
    }
    if (p.src_w == 2u * p.new_w && p.src_h == 2u * p.new_h) {
        for (var c = 0u; c < 3u; c++) {
            let s = px(2u * x, 2u * y, c) + px(2u * x + 1u, 2u * y, c)
                + px(2u * x, 2u * y + 1u, c) + px(2u * x + 1u, 2u * y + 1u, c);
            dst[c * plane + o] = (f32((s + 2) >> 2u) - 127.5) / 128.0;
        }
        return;
    }
    let tx = tap(x, p.scale_x, p.src_w);
    let ty = tap(y, p.scale_y, p.src_h);
    let nx = min(tx.s + 1u, p.src_w - 1u);
    let ny = min(ty.s + 1u, p.src_h - 1u);
    for (var c = 0u; c < 3u; c++) {
        let h0 = px(tx.s, ty.s, c) * tx.a0 + px(nx, ty.s, c) * tx.a1;
        let h1 = px(tx.s, ny, c) * tx.a0 + px(nx, ny, c) * tx.a1;
        let v = (((h0 >> 4u) * ty.a0) >> 16u) + (((h1 >> 4u) * ty.a1) >> 16u) + 2;
        let u = clamp(v >> 2u, 0, 255);
        dst[c * plane + o] = (f32(u) - 127.5) / 128.0;
    }
}

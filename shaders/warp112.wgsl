// ArcFace alignment warp: for each face (gid.z), sample the packed RGB8
// photo through the inverse similarity transform into a 112x112 crop,
// bilinear on OpenCV's 1/32-pixel grid with a black border, written as
// planar RGB f32 normalised (p - 127.5) / 127.5. Same arithmetic as the CPU
// path (`engine/src/vision/align.rs`).

struct Params {
    src_w: u32,
    src_h: u32,
    faces: u32,
    _pad: u32,
}

// Inverse affine per face: (a, b, c, d) in m0 and (tx, ty) in m1.xy,
// image = [[a, b], [c, d]] * crop + (tx, ty).
struct Face {
    m0: vec4<f32>,
    m1: vec4<f32>,
}

// Every binding is read_write, inputs too: burn's runtime (cubecl) carves
// small buffers out of shared pages, and wgpu refuses one buffer bound both
// read-only and read-write in a dispatch.
@group(0) @binding(0) var<storage, read_write> p: Params;
@group(0) @binding(1) var<storage, read_write> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> faces: array<Face>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

const SIZE: u32 = 112u;

fn px(x: i32, y: i32, c: u32) -> i32 {
    if (x < 0 || y < 0 || x >= i32(p.src_w) || y >= i32(p.src_h)) {
        return 0;
    }
    let i = (u32(y) * p.src_w + u32(x)) * 3u + c;
    return i32((src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    let f = gid.z;
    if (x >= SIZE || y >= SIZE || f >= p.faces) {
        return;
    }
    let m = faces[f];
    let x0 = i32(round((m.m0.y * f32(y) + m.m1.x) * 1024.0)) + 16;
    let y0 = i32(round((m.m0.w * f32(y) + m.m1.y) * 1024.0)) + 16;
    let xx = (x0 + i32(round(m.m0.x * f32(x) * 1024.0))) >> 5u;
    let yy = (y0 + i32(round(m.m0.z * f32(x) * 1024.0))) >> 5u;
    let sx = xx >> 5u;
    let sy = yy >> 5u;
    let fx = f32(xx & 31) / 32.0;
    let fy = f32(yy & 31) / 32.0;
    var w = vec4<i32>(
        i32(round((1.0 - fx) * (1.0 - fy) * 32768.0)),
        i32(round(fx * (1.0 - fy) * 32768.0)),
        i32(round((1.0 - fx) * fy * 32768.0)),
        i32(round(fx * fy * 32768.0)),
    );
    let diff = w.x + w.y + w.z + w.w - 32768;
    // Give the rounding remainder to the largest weight, as the CPU path does.
    if (w.x >= w.y && w.x >= w.z && w.x >= w.w) {
        w.x -= diff;
    } else if (w.y >= w.z && w.y >= w.w) {
        w.y -= diff;
    } else if (w.z >= w.w) {
        w.z -= diff;
    } else {
        w.w -= diff;
    }
    let plane = SIZE * SIZE;
    let o = f * 3u * plane + y * SIZE + x;
    for (var c = 0u; c < 3u; c++) {
        let v = px(sx, sy, c) * w.x + px(sx + 1, sy, c) * w.y
            + px(sx, sy + 1, c) * w.z + px(sx + 1, sy + 1, c) * w.w;
        let u = clamp((v + 16384) >> 15u, 0, 255);
        dst[o + c * plane] = (f32(u) - 127.5) / 127.5;
    }
}

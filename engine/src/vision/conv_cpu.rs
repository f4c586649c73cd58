//! Convolutions on the CPU device, with the activation that follows them
//! fused in.
//!
//! burn's flex backend runs every convolution of a batch as one operation
//! over the whole batch: its planes (52 MB for the detector's first layers
//! at a batch of 8) stream through memory once per layer and again for the
//! `ReLU` after it, and its depthwise, three-input-channel and few-output 3×3
//! paths reach 2 to 8 GFLOP/s (`LIKENESS_PROFILE_OPS=1`: two thirds of the
//! detector's time). Here each image of a batch is one task on the rayon
//! pool, done start to end by one core while its planes sit in that core's
//! cache:
//!
//! - 1×1 (pointwise): one matrix product (the `gemm` crate, burn flex's
//!   own, with its AVX-512 kernels) per image, then one vectorised pass
//!   adding the bias and the activation; over planes of at most 8×8, one
//!   product over the whole batch instead;
//! - other ungrouped ones (RGB first layers, SCRFD's 3×3 necks and heads): a
//!   direct convolution, 16 output channels × 16 columns of sums held in
//!   vector registers while every tap adds to them, so nothing is unrolled
//!   into memory, then stored with the bias and activation (SCRFD's first
//!   layer at 42-52 GFLOP/s, `cargo bench --bench conv`; an im2col + gemm
//!   comparison was last made while `gemm` still ran with debug
//!   assertions, and is not repeated here);
//! - depthwise 3×3: all nine taps, the bias and the activation in one pass
//!   over each output row;
//! - other grouped ones (MobileFaceNet's groups of two): a direct stencil,
//!   where each kernel tap is one multiply-add over a contiguous output
//!   row, a loop the compiler vectorises.
//!
//! The last three read their input through a padded, stride-phased copy of
//! each plane ([`Phased`]), so no tap ever tests a border. The `ReLU` or
//! `PReLU` that follows in the graph is applied in the store, or while the
//! output is hot.
//! Dilated convolutions are not handled here (the graph keeps burn's).

// The small helpers of the vector kernels are `#[inline(always)]` so that
// they are compiled inside the `#[target_feature]` functions calling them;
// otherwise they would be baseline x86-64 code and stay scalar.
#![allow(clippy::inline_always)]

use std::cell::RefCell;

use rayon::prelude::*;

/// Plane size (`h·w`) up to which a 1×1 convolution runs as one matrix
/// product over the whole batch ([`ConvCpu::pointwise_batched`]). Above it
/// one product per image is as wide and saves regrouping the planes (at
/// 40×40, the regrouping took as long as the product).
const MAX_BATCHED_POINTWISE_PLANE: usize = 8 * 8;

/// The activation applied to a convolution's output.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    /// None: the convolution's output as is.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `x` if positive, else `x * slope[channel]`.
    PRelu(Vec<f32>),
}

/// Why a convolution cannot run on this path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvCpuError {
    /// The weights, bias, groups or input disagree in size.
    #[error("{0}")]
    Shape(String),
}

/// A convolution's geometry and weights, ready to run on the CPU.
#[derive(Clone, Debug)]
pub struct ConvCpu {
    /// `[out, in / groups, kh, kw]`, row-major.
    weight: Vec<f32>,
    /// One per output channel (zeros when the model has none).
    bias: Vec<f32>,
    out_channels: usize,
    in_per_group: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    /// Top, left, bottom, right.
    padding: [usize; 4],
    groups: usize,
    activation: Activation,
}

impl ConvCpu {
    /// A convolution with `weight` of shape `[out, in / groups, kh, kw]`.
    pub fn new(
        weight: Vec<f32>,
        weight_shape: [usize; 4],
        bias: Option<Vec<f32>>,
        stride: [usize; 2],
        padding: [usize; 4],
        groups: usize,
    ) -> Result<Self, ConvCpuError> {
        let [out_channels, in_per_group, kh, kw] = weight_shape;
        let bad = |detail: String| Err(ConvCpuError::Shape(detail));
        if weight.len() != weight_shape.iter().product::<usize>() {
            return bad(format!(
                "{} weights for shape {weight_shape:?}",
                weight.len()
            ));
        }
        if groups == 0 || out_channels % groups != 0 {
            return bad(format!("{out_channels} outputs in {groups} groups"));
        }
        if stride.contains(&0) || kh == 0 || kw == 0 {
            return bad("zero stride or kernel".into());
        }
        let bias = bias.unwrap_or_else(|| vec![0.0; out_channels]);
        if bias.len() != out_channels {
            return bad(format!("{} biases for {out_channels} outputs", bias.len()));
        }
        Ok(Self {
            weight,
            bias,
            out_channels,
            in_per_group,
            kernel: [kh, kw],
            stride,
            padding,
            groups,
            activation: Activation::Identity,
        })
    }

    /// Fuses `activation` into the output; only over [`Activation::Identity`].
    pub fn fuse(&mut self, activation: Activation) -> bool {
        let fits = match &activation {
            Activation::PRelu(slope) => slope.len() == self.out_channels,
            Activation::Identity | Activation::Relu => true,
        };
        if self.activation != Activation::Identity || !fits {
            return false;
        }
        self.activation = activation;
        true
    }

    /// Whether `other` reads its input the same way (kernel, stride,
    /// padding, one group, same input channels and activation), so that the
    /// two can run as one with their output channels stacked.
    pub fn same_geometry(&self, other: &Self) -> bool {
        self.groups == 1
            && other.groups == 1
            && self.in_per_group == other.in_per_group
            && self.kernel == other.kernel
            && self.stride == other.stride
            && self.padding == other.padding
            && self.activation == other.activation
    }

    /// Stacks `other`'s output channels after this one's (see
    /// [`Self::same_geometry`]).
    pub fn append(&mut self, other: &Self) {
        debug_assert!(self.same_geometry(other));
        self.weight.extend_from_slice(&other.weight);
        self.bias.extend_from_slice(&other.bias);
        self.out_channels += other.out_channels;
        if let (Activation::PRelu(a), Activation::PRelu(b)) =
            (&mut self.activation, &other.activation)
        {
            a.extend_from_slice(b);
        }
    }

    /// The weight shape, stride and groups, for profiles.
    pub fn summary(&self) -> String {
        format!(
            "weight [{}, {}, {}, {}] stride {:?} groups {}",
            self.out_channels,
            self.in_per_group,
            self.kernel[0],
            self.kernel[1],
            self.stride,
            self.groups
        )
    }

    /// The output shape for an `[n, c, h, w]` input.
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4], ConvCpuError> {
        let [n, c, h, w] = input;
        if c != self.in_per_group * self.groups {
            return Err(ConvCpuError::Shape(format!(
                "input has {c} channels, the convolution takes {}",
                self.in_per_group * self.groups
            )));
        }
        let geometry = self.geometry(h, w)?;
        Ok([n, self.out_channels, geometry.out_h, geometry.out_w])
    }

    fn geometry(&self, h: usize, w: usize) -> Result<Geometry, ConvCpuError> {
        let [top, left, bottom, right] = self.padding;
        let (padded_h, padded_w) = (h + top + bottom, w + left + right);
        let [kh, kw] = self.kernel;
        if padded_h < kh || padded_w < kw {
            return Err(ConvCpuError::Shape(format!(
                "a {h}x{w} input is smaller than the {kh}x{kw} kernel"
            )));
        }
        Ok(Geometry {
            h,
            w,
            out_h: (padded_h - kh) / self.stride[0] + 1,
            out_w: (padded_w - kw) / self.stride[1] + 1,
        })
    }

    /// Runs on an `[n, c, h, w]` input (row-major); returns the output and
    /// its shape. Images run in parallel on the rayon pool.
    pub fn run(
        &self,
        input: &[f32],
        shape: [usize; 4],
    ) -> Result<(Vec<f32>, [usize; 4]), ConvCpuError> {
        self.run_with(input, shape, &BufferPool::default())
    }

    /// [`Self::run`], writing into a buffer taken from `pool`.
    pub fn run_with(
        &self,
        input: &[f32],
        shape: [usize; 4],
        pool: &BufferPool,
    ) -> Result<(Vec<f32>, [usize; 4]), ConvCpuError> {
        if input.len() != shape.iter().product::<usize>() {
            return Err(ConvCpuError::Shape(format!(
                "{} values for shape {shape:?}",
                input.len()
            )));
        }
        let out_shape = self.output_shape(shape)?;
        let geometry = self.geometry(shape[2], shape[3])?;
        if self.is_pointwise() && shape[2] * shape[3] <= MAX_BATCHED_POINTWISE_PLANE {
            return Ok((self.pointwise_batched(input, shape, pool), out_shape));
        }
        let in_image = shape[1] * shape[2] * shape[3];
        let out_image = out_shape[1] * out_shape[2] * out_shape[3];
        // Every value is written (by the matrix product, or the bias before
        // the direct kernels add to it), so stale contents do not matter.
        let mut out = pool.take(out_shape.iter().product());
        if out_image == 0 {
            return Ok((out, out_shape));
        }
        // A lone image splits its work across the pool instead.
        let parallel_inside = shape[0] == 1;
        let direct = self.is_direct().then(|| {
            let block = direct_block_channels(self.out_channels, parallel_inside);
            (self.blocked_weights(block), block)
        });
        out.par_chunks_mut(out_image)
            .zip(input.par_chunks(in_image.max(1)))
            .for_each(|(out, input)| {
                self.image(input, out, &geometry, parallel_inside, direct.as_ref());
            });
        Ok((out, out_shape))
    }

    /// A 1×1 convolution over small planes as one matrix product over the
    /// whole batch: the input is regrouped channel-major (`[c, n, h·w]`), so
    /// the product is `out × c` by `c × n·h·w` instead of `n` thin ones
    /// (MobileFaceNet's 7×7 layers: `h·w` of 49 columns leave most of each
    /// matrix-product tile empty).
    fn pointwise_batched(&self, input: &[f32], shape: [usize; 4], pool: &BufferPool) -> Vec<f32> {
        let [n, c, h, w] = shape;
        let (plane, cols) = (h * w, n * h * w);
        let out_c = self.out_channels;
        let mut out = pool.take(n * out_c * plane);
        with_scratch(
            |Scratch {
                 columns, product, ..
             }| {
                // Both are overwritten whole (gather, product): no clearing.
                columns.resize(c * cols, 0.0);
                for (b, image) in input.chunks_exact(c * plane).enumerate() {
                    for (ci, src) in image.chunks_exact(plane).enumerate() {
                        columns[(ci * n + b) * plane..][..plane].copy_from_slice(src);
                    }
                }
                product.resize(out_c * cols, 0.0);
                matmul(out_c, cols, c, &self.weight, columns, product, true);
                // Rows of `product` are whole channels, over every image.
                self.finish(product, cols, 0, true);
                for (co, row) in product.chunks_exact(cols).enumerate() {
                    for (b, src) in row.chunks_exact(plane).enumerate() {
                        out[(b * out_c + co) * plane..][..plane].copy_from_slice(src);
                    }
                }
            },
        );
        out
    }

    /// One image: `input` is `[c, h, w]`, `out` is `[out, oh, ow]`.
    /// `direct` holds the blocked weights of a direct convolution.
    fn image(
        &self,
        input: &[f32],
        out: &mut [f32],
        g: &Geometry,
        parallel: bool,
        direct: Option<&(Vec<f32>, usize)>,
    ) {
        let plane = g.out_h * g.out_w;
        if self.groups == 1 && direct.is_none() {
            // A 1×1 convolution: the image already is the columns.
            let k = self.in_per_group;
            matmul(
                self.out_channels,
                plane,
                k,
                &self.weight,
                input,
                out,
                parallel,
            );
            self.finish(out, plane, 0, true);
            return;
        }
        if let Some((blocked, block)) = direct {
            self.image_direct(input, out, g, blocked, *block, parallel);
            return;
        }
        if parallel {
            let per_group = self.out_channels / self.groups * plane;
            out.par_chunks_mut(per_group)
                .enumerate()
                .for_each(|(group, out)| self.group_stencil(input, out, g, group));
        } else {
            for (group, out) in out
                .chunks_mut(self.out_channels / self.groups * plane)
                .enumerate()
            {
                self.group_stencil(input, out, g, group);
            }
        }
    }

    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0; 4]
    }

    /// Whether this runs as a direct, register-blocked convolution
    /// ([`direct_rows`]): one group and a kernel larger than 1×1.
    fn is_direct(&self) -> bool {
        self.groups == 1 && !self.is_pointwise()
    }

    /// The weights regrouped for [`direct_rows`]: blocks of `block` output
    /// channels (the last padded with zeros), and in each block, for each
    /// tap (input channel, row, column), the block's `block` weights.
    fn blocked_weights(&self, block: usize) -> Vec<f32> {
        let taps = self.in_per_group * self.kernel[0] * self.kernel[1];
        let blocks = self.out_channels.div_ceil(block);
        let mut blocked = vec![0.0; blocks * taps * block];
        for (o, weights) in self.weight.chunks_exact(taps).enumerate() {
            let (b, c) = (o / block, o % block);
            for (t, w) in weights.iter().enumerate() {
                blocked[(b * taps + t) * block + c] = *w;
            }
        }
        blocked
    }

    /// A direct convolution of one image: every input plane is phased
    /// once, then [`direct`] writes the output, bias and activation
    /// included.
    fn image_direct(
        &self,
        input: &[f32],
        out: &mut [f32],
        g: &Geometry,
        blocked: &[f32],
        block: usize,
        parallel: bool,
    ) {
        let slopes = self.negative_slopes();
        with_scratch(|scratch| {
            let buffers = &mut scratch.planes;
            buffers.resize_with(self.in_per_group, PhasedBuffer::default);
            let planes: Vec<Phased> = buffers
                .iter_mut()
                .zip(input.chunks_exact(g.h * g.w))
                .map(|(buffer, plane)| buffer.fill(plane, g, self.stride, self.padding))
                .collect();
            let shape = |first: usize, out_channels: usize| DirectShape {
                out_channels,
                kernel: self.kernel,
                out_h: g.out_h,
                out_w: g.out_w,
                bias: &self.bias[first..first + out_channels],
                negative_slope: &slopes[first..first + out_channels],
            };
            if parallel {
                // A lone image: its channel blocks in parallel.
                let plane = g.out_h * g.out_w;
                let taps = self.in_per_group * self.kernel[0] * self.kernel[1];
                out.par_chunks_mut(block * plane)
                    .zip(blocked.par_chunks(block * taps))
                    .enumerate()
                    .for_each(|(i, (out, blocked))| {
                        let s = shape(i * block, out.len() / plane.max(1));
                        direct(out, &planes, blocked, block, &s);
                    });
            } else {
                direct(out, &planes, blocked, block, &shape(0, self.out_channels));
            }
        });
    }

    /// Per output channel, what the activation multiplies a negative value
    /// by: 1 for none, 0 for `ReLU`, the slope for `PReLU`.
    fn negative_slopes(&self) -> Vec<f32> {
        (0..self.out_channels)
            .map(|c| self.negative_slope(c))
            .collect()
    }

    /// [`Self::negative_slopes`] of one channel.
    fn negative_slope(&self, channel: usize) -> f32 {
        match &self.activation {
            Activation::Identity => 1.0,
            Activation::Relu => 0.0,
            Activation::PRelu(slope) => slope.get(channel).copied().unwrap_or(1.0),
        }
    }

    /// One group of a grouped convolution by direct stencil; `out` holds the
    /// group's output planes.
    fn group_stencil(&self, input: &[f32], out: &mut [f32], g: &Geometry, group: usize) {
        let [kh, kw] = self.kernel;
        let plane_in = g.h * g.w;
        let plane_out = g.out_h * g.out_w;
        let out_per_group = self.out_channels / self.groups;
        let first = group * out_per_group;
        if let ([3, 3], 1, 1) = (self.kernel, self.in_per_group, out_per_group) {
            // Depthwise 3×3: the whole output in one pass.
            let taps: &[f32; 9] = self.weight[first * 9..][..9].try_into().expect("nine taps");
            let slope = self.negative_slope(first);
            with_scratch(|scratch| {
                let p = scratch.phased.fill(
                    &input[first * plane_in..][..plane_in],
                    g,
                    self.stride,
                    self.padding,
                );
                let kernel = Depthwise3 {
                    taps,
                    bias: self.bias[first],
                    slope,
                };
                depthwise3(out, &p, &kernel, g.out_w);
            });
            return;
        }
        // The stencils add to the bias.
        for (o, b) in out.chunks_mut(plane_out).zip(&self.bias[first..]) {
            o.fill(*b);
        }
        with_scratch(|scratch| {
            let phased = &mut scratch.phased;
            for j in 0..self.in_per_group {
                let c = group * self.in_per_group + j;
                let p = phased.fill(
                    &input[c * plane_in..][..plane_in],
                    g,
                    self.stride,
                    self.padding,
                );
                for (i, out) in out.chunks_mut(plane_out).enumerate().take(out_per_group) {
                    let o = group * out_per_group + i;
                    let taps = &self.weight[(o * self.in_per_group + j) * kh * kw..][..kh * kw];
                    stencil(out, &p, taps, self.kernel, g.out_w);
                }
            }
        });
        // While the group's planes are still in cache.
        self.finish(out, plane_out, first, false);
    }

    /// Adds the bias (when `add_bias`) and applies the activation to
    /// `out`: planes of `plane` values, the first being channel
    /// `first_channel`. One pass, with AVX-512 when the CPU has it.
    fn finish(&self, out: &mut [f32], plane: usize, first_channel: usize, add_bias: bool) {
        if !add_bias && self.activation == Activation::Identity {
            return;
        }
        let f = Finish {
            bias: add_bias.then(|| &self.bias[first_channel..]),
            activation: &self.activation,
            first_channel,
            plane,
        };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU has AVX-512F, checked just above.
            unsafe {
                finish_avx512(out, &f);
            }
            return;
        }
        finish_planes(out, &f);
    }
}

/// What [`ConvCpu::finish`] does to each output plane.
struct Finish<'a> {
    bias: Option<&'a [f32]>,
    activation: &'a Activation,
    first_channel: usize,
    plane: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn finish_avx512(out: &mut [f32], f: &Finish) {
    finish_planes(out, f);
}

/// `out = activation(out + bias)`, plane by plane, without branches so
/// the loops vectorise.
#[inline(always)]
fn finish_planes(out: &mut [f32], f: &Finish) {
    for (i, plane) in out.chunks_mut(f.plane.max(1)).enumerate() {
        let b = f.bias.and_then(|b| b.get(i)).copied().unwrap_or(0.0);
        match f.activation {
            Activation::Identity => plane.iter_mut().for_each(|v| *v += b),
            Activation::Relu => plane.iter_mut().for_each(|v| *v = (*v + b).max(0.0)),
            Activation::PRelu(slope) => {
                let s = slope.get(f.first_channel + i).copied().unwrap_or(1.0);
                for v in plane {
                    let y = *v + b;
                    *v = if y < 0.0 { y * s } else { y };
                }
            }
        }
    }
}

/// Splits an `[n, c, h, w]` tensor along its channels into parts of
/// `channels[i]` channels each (which sum to `c`).
pub fn split_channels(
    data: &[f32],
    [n, c, h, w]: [usize; 4],
    channels: &[usize],
) -> Vec<(Vec<f32>, [usize; 4])> {
    debug_assert_eq!(channels.iter().sum::<usize>(), c);
    let plane = h * w;
    let mut first = 0;
    channels
        .iter()
        .map(|&k| {
            let mut part = Vec::with_capacity(n * k * plane);
            for image in data.chunks_exact(c * plane) {
                part.extend_from_slice(&image[first * plane..(first + k) * plane]);
            }
            first += k;
            (part, [n, k, h, w])
        })
        .collect()
}

/// Adds the convolution of one phased input plane with `taps` (`kh × kw`)
/// to the output plane `out`, with AVX2 and FMA when the CPU has them (the
/// crate is compiled for baseline x86-64, whose vectors are half as wide and
/// have no fused multiply-add).
fn stencil(out: &mut [f32], p: &Phased, taps: &[f32], kernel: [usize; 2], out_w: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe {
            stencil_avx2(out, p, taps, kernel, out_w);
        }
        return;
    }
    stencil_rows::<false>(out, p, taps, kernel, out_w);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn stencil_avx2(out: &mut [f32], p: &Phased, taps: &[f32], kernel: [usize; 2], out_w: usize) {
    stencil_rows::<true>(out, p, taps, kernel, out_w);
}

/// One depthwise 3×3 output plane: `out = activation(bias + taps ∗ p)`,
/// where a negative sum is multiplied by `slope`, in one pass over each
/// output row (the general [`stencil`] adds one kernel row at a time to an
/// output already holding the bias, then the activation is another pass),
/// with AVX2 and FMA when the CPU has them.
fn depthwise3(out: &mut [f32], p: &Phased, k: &Depthwise3, out_w: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe {
            depthwise3_avx2(out, p, k, out_w);
        }
        return;
    }
    depthwise3_rows::<false>(out, p, k, out_w);
}

/// One channel of a depthwise 3×3 convolution: its taps, bias, and what
/// its activation multiplies a negative sum by.
struct Depthwise3<'a> {
    taps: &'a [f32; 9],
    bias: f32,
    slope: f32,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn depthwise3_avx2(out: &mut [f32], p: &Phased, k: &Depthwise3, out_w: usize) {
    depthwise3_rows::<true>(out, p, k, out_w);
}

#[inline(always)]
fn depthwise3_rows<const FMA: bool>(out: &mut [f32], p: &Phased, k: &Depthwise3, out_w: usize) {
    // Where each tap reads, found once per plane, not once per row (the
    // divisions by the stride cost more than a 28-column row's sums).
    let offsets: [usize; 9] = std::array::from_fn(|t| p.tap_offset(t / 3, t % 3));
    for (oy, row) in out.chunks_exact_mut(out_w).enumerate() {
        // Slices of one known length, so the loop has no bounds checks and
        // vectorises.
        let n = row.len();
        let base = p.row_base(oy);
        let input: [&[f32]; 9] = std::array::from_fn(|t| &p.data[base + offsets[t]..][..n]);
        for x in 0..n {
            let mut v = k.bias;
            for (w, src) in k.taps.iter().zip(&input) {
                v = mul_add::<FMA>(*w, src[x], v);
            }
            row[x] = if v < 0.0 { v * k.slope } else { v };
        }
    }
}

/// `a * b + c`, fused when `FMA` (only where the CPU has it: otherwise
/// `mul_add` is a slow library call).
#[inline(always)]
fn mul_add<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

#[inline(always)]
#[allow(clippy::many_single_char_names)]
fn stencil_rows<const FMA: bool>(
    out: &mut [f32],
    p: &Phased,
    taps: &[f32],
    [kh, kw]: [usize; 2],
    out_w: usize,
) {
    // As in `depthwise3_rows`: tap positions once per plane.
    let offsets: Vec<usize> = (0..kh * kw).map(|t| p.tap_offset(t / kw, t % kw)).collect();
    for (oy, row) in out.chunks_exact_mut(out_w).enumerate() {
        // Slices of one known length, so the loops below have no bounds
        // checks and vectorise.
        let n = row.len();
        let base = p.row_base(oy);
        let tap = |dy: usize, dx: usize| &p.data[base + offsets[dy * kw + dx]..][..n];
        for dy in 0..kh {
            let w = &taps[dy * kw..][..kw];
            if let [w0, w1, w2] = *w {
                let (a, b, c) = (tap(dy, 0), tap(dy, 1), tap(dy, 2));
                for x in 0..n {
                    let v = mul_add::<FMA>(w0, a[x], row[x]);
                    let v = mul_add::<FMA>(w1, b[x], v);
                    row[x] = mul_add::<FMA>(w2, c[x], v);
                }
            } else {
                for (dx, w) in w.iter().enumerate() {
                    let src = tap(dy, dx);
                    for x in 0..n {
                        row[x] = mul_add::<FMA>(*w, src[x], row[x]);
                    }
                }
            }
        }
    }
}

/// Output channels per block of [`direct_rows`] on this CPU: sixteen
/// accumulators of sixteen lanes fill half of AVX-512's 32 registers; AVX2
/// has 16 registers of eight lanes, so eight channels. A lone image
/// (`parallel`) with at most 16 outputs takes blocks of eight, so that its
/// blocks can run on two cores.
fn direct_block_channels(out_channels: usize, parallel: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && !(parallel && out_channels <= 16) {
        return 16;
    }
    8
}

/// What [`direct_rows`] computes.
struct DirectShape<'a> {
    out_channels: usize,
    kernel: [usize; 2],
    out_h: usize,
    out_w: usize,
    /// One per output channel.
    bias: &'a [f32],
    /// One per output channel: see [`ConvCpu::negative_slopes`].
    negative_slope: &'a [f32],
}

/// Where each tap (input channel, kernel row, kernel column, in the order
/// of the blocked weights) reads, relative to an output position's
/// [`Phased::row_base`] plus its column.
struct Taps {
    /// The plane and the offset in it, per tap.
    at: Vec<(usize, usize)>,
    /// How many values every plane holds (they share one geometry).
    len: usize,
    /// The largest offset.
    max_offset: usize,
}

impl Taps {
    fn new(planes: &[Phased], [kh, kw]: [usize; 2]) -> Self {
        let at: Vec<(usize, usize)> = planes
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                (0..kh).flat_map(move |dy| (0..kw).map(move |dx| (i, p.tap_offset(dy, dx))))
            })
            .collect();
        Self {
            len: planes.iter().map(|p| p.data.len()).min().unwrap_or(0),
            max_offset: at.iter().map(|(_, o)| *o).max().unwrap_or(0),
            at,
        }
    }

    /// Whether `lanes` values from `base` plus every tap's offset lie
    /// inside every plane.
    fn all_inside(&self, base: usize, lanes: usize) -> bool {
        base + self.max_offset + lanes <= self.len
    }
}

/// Writes a direct convolution of `planes` (one per input channel) with
/// the blocked weights (see [`ConvCpu::blocked_weights`], `block` channels
/// per block), plus the bias and through the activation, to `out`
/// (`[out_channels, out_h × out_w]`), with the widest vectors the CPU has.
fn direct(out: &mut [f32], planes: &[Phased], blocked: &[f32], block: usize, s: &DirectShape) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if block == 16 && has!("avx512f") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU has AVX-512F, checked just above.
            unsafe {
                direct_avx512(out, planes, blocked, s);
            }
            return;
        }
        if block == 8 && has!("avx512f") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU has AVX-512F, checked just above.
            unsafe {
                direct_avx512_narrow(out, planes, blocked, s);
            }
            return;
        }
        if block == 8 && has!("avx2") && has!("fma") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            unsafe {
                direct_avx2(out, planes, blocked, s);
            }
            return;
        }
    }
    match block {
        16 => direct_rows::<16, 8, false>(out, planes, blocked, s),
        _ => direct_rows::<8, 8, false>(out, planes, blocked, s),
    }
}

/// [`direct_rows`] written with x86 vector intrinsics: left to itself the
/// compiler vectorised the generic version across channels, with gathers
/// (measured 2-4 GFLOP/s), instead of keeping one register per channel.
/// Away from a plane's end every tap is one unaligned vector load at a
/// precomputed offset (finding each tap's position with two divisions and
/// copying its inputs through the stack had held SCRFD's first layer to
/// about 30 GFLOP/s).
#[cfg(target_arch = "x86_64")]
macro_rules! direct_kernel {
    (
        $name:ident, $feature:literal, $vector:ty, $lanes:literal, $channels:literal,
        $splat:ident, $fmadd:ident, $loadu:ident, $storeu:ident, $max:ident, $min:ident
    ) => {
        #[target_feature(enable = $feature)]
        #[allow(unsafe_code)]
        fn $name(out: &mut [f32], planes: &[Phased], blocked: &[f32], s: &DirectShape) {
            use std::arch::x86_64::*;
            let Some(first) = planes.first() else {
                return;
            };
            let taps = Taps::new(planes, s.kernel);
            let plane = s.out_h * s.out_w;
            for (b, weights) in blocked.chunks_exact(taps.at.len() * $channels).enumerate() {
                let c0 = b * $channels;
                let channels = s.out_channels.saturating_sub(c0).min($channels);
                let (mut bias, mut slope) = ([0.0f32; $channels], [1.0f32; $channels]);
                bias[..channels].copy_from_slice(&s.bias[c0..c0 + channels]);
                slope[..channels].copy_from_slice(&s.negative_slope[c0..c0 + channels]);
                let weights: Vec<&[f32; $channels]> = weights
                    .chunks_exact($channels)
                    .filter_map(|w| w.try_into().ok())
                    .collect();
                for oy in 0..s.out_h {
                    let row = first.row_base(oy);
                    for x0 in (0..s.out_w).step_by($lanes) {
                        let base = row + x0;
                        let mut sums: [$vector; $channels] =
                            std::array::from_fn(|c| $splat(bias[c]));
                        if taps.all_inside(base, $lanes) {
                            for (w, (p, offset)) in weights.iter().zip(&taps.at) {
                                let data = planes[*p].data;
                                // SAFETY: `base + offset + lanes` is at most
                                // the plane's length (`all_inside`).
                                let v = unsafe { $loadu(data.as_ptr().add(base + offset)) };
                                for c in 0..$channels {
                                    sums[c] = $fmadd($splat(w[c]), v, sums[c]);
                                }
                            }
                        } else {
                            for (w, (p, offset)) in weights.iter().zip(&taps.at) {
                                let v: $vector =
                                    bytemuck::cast(planes[*p].lanes_at::<$lanes>(base + offset));
                                for c in 0..$channels {
                                    sums[c] = $fmadd($splat(w[c]), v, sums[c]);
                                }
                            }
                        }
                        let lanes = (s.out_w - x0).min($lanes);
                        let zero = $splat(0.0);
                        for c in 0..channels {
                            let y =
                                $fmadd($splat(slope[c]), $min(sums[c], zero), $max(sums[c], zero));
                            let at = (c0 + c) * plane + oy * s.out_w + x0;
                            let dst = &mut out[at..at + lanes];
                            if lanes == $lanes {
                                // SAFETY: `dst` holds exactly one vector.
                                unsafe { $storeu(dst.as_mut_ptr(), y) };
                            } else {
                                let y: [f32; $lanes] = bytemuck::cast(y);
                                dst.copy_from_slice(&y[..lanes]);
                            }
                        }
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
direct_kernel!(
    direct_avx512,
    "avx512f",
    __m512,
    16,
    16,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_max_ps,
    _mm512_min_ps
);
#[cfg(target_arch = "x86_64")]
direct_kernel!(
    direct_avx512_narrow,
    "avx512f",
    __m512,
    16,
    8,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_max_ps,
    _mm512_min_ps
);
#[cfg(target_arch = "x86_64")]
direct_kernel!(
    direct_avx2,
    "avx2,fma",
    __m256,
    8,
    8,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_max_ps,
    _mm256_min_ps
);

/// The direct convolution, `CO` output channels by `L` output columns at a
/// time: their `CO × L` sums stay in registers while every tap (input
/// channel, kernel row, kernel column) adds its `L` inputs times its `CO`
/// weights, so each input value is loaded once per block and nothing is
/// unrolled into memory. The sums start at the bias and pass through the
/// activation on their way out.
#[inline(always)]
fn direct_rows<const CO: usize, const L: usize, const FMA: bool>(
    out: &mut [f32],
    planes: &[Phased],
    blocked: &[f32],
    s: &DirectShape,
) {
    let Some(first) = planes.first() else {
        return;
    };
    let taps = Taps::new(planes, s.kernel);
    let plane = s.out_h * s.out_w;
    for (b, weights) in blocked.chunks_exact(taps.at.len() * CO).enumerate() {
        let c0 = b * CO;
        let channels = CO.min(s.out_channels - c0);
        for oy in 0..s.out_h {
            let row = first.row_base(oy);
            for x0 in (0..s.out_w).step_by(L) {
                let mut sums: [[f32; L]; CO] =
                    std::array::from_fn(|c| [s.bias.get(c0 + c).copied().unwrap_or(0.0); L]);
                for (w, (p, offset)) in weights.chunks_exact(CO).zip(&taps.at) {
                    let v = planes[*p].lanes_at::<L>(row + x0 + offset);
                    for c in 0..CO {
                        axpy::<L, FMA>(w[c], &v, &mut sums[c]);
                    }
                }
                let lanes = L.min(s.out_w - x0);
                for (c, sum) in sums.iter().enumerate().take(channels) {
                    let slope = s.negative_slope[c0 + c];
                    let dst = &mut out[(c0 + c) * plane + oy * s.out_w + x0..][..lanes];
                    for (d, v) in dst.iter_mut().zip(sum) {
                        *d = if *v < 0.0 { v * slope } else { *v };
                    }
                }
            }
        }
    }
}

/// `acc += w * v`, lane by lane (one vector instruction per register).
#[inline(always)]
fn axpy<const L: usize, const FMA: bool>(w: f32, v: &[f32; L], acc: &mut [f32; L]) {
    for l in 0..L {
        acc[l] = mul_add::<FMA>(w, v[l], acc[l]);
    }
}

/// One input plane's size and the output plane's.
struct Geometry {
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
}

/// Output buffers of dead tensors, kept for later outputs: a fresh
/// allocation of tens of megabytes comes from the kernel as untouched pages,
/// and faulting them in cost as much as the depthwise convolution writing
/// them. The graph hands back a convolution's input once no later step
/// reads it.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: std::sync::Mutex<Vec<Vec<f32>>>,
}

impl BufferPool {
    /// Buffers kept at most; the graphs here never have more than a few
    /// large tensors alive at once.
    const KEEP: usize = 4;
    /// Buffers smaller than this (256 KiB) are left to the allocator.
    const MIN_LEN: usize = 1 << 16;

    /// A buffer of `len` values, recycled when one is big enough (its
    /// contents are then whatever it last held).
    pub fn take(&self, len: usize) -> Vec<f32> {
        let recycled = {
            let mut free = self
                .free
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            best.map(|i| free.swap_remove(i))
        };
        match recycled {
            Some(mut buffer) => {
                if buffer.len() >= len {
                    buffer.truncate(len);
                } else {
                    buffer.resize(len, 0.0);
                }
                buffer
            }
            None => vec![0.0; len],
        }
    }

    /// Keeps `buffer` for a later [`Self::take`].
    pub fn give(&self, buffer: Vec<f32>) {
        if buffer.capacity() < Self::MIN_LEN {
            return;
        }
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        free.push(buffer);
        if free.len() > Self::KEEP
            && let Some(smallest) = free
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)
        {
            free.swap_remove(smallest);
        }
    }
}

/// Per-thread buffers, reused from image to image (fresh multi-megabyte
/// allocations would be page-faulted in on every layer).
#[derive(Default)]
struct Scratch {
    columns: Vec<f32>,
    /// One phased plane per input channel, for [`direct`].
    planes: Vec<PhasedBuffer>,
    /// The batched 1×1 product before it is scattered back per image.
    product: Vec<f32>,
    phased: PhasedBuffer,
}

/// The storage of a [`Phased`] plane and the shape it was last filled for:
/// the padding stays zero from one plane to the next of the same shape, so
/// only the first of a layer is cleared.
#[derive(Default)]
struct PhasedBuffer {
    data: Vec<f32>,
    shape: Option<PhasedShape>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers, or fresh ones if they are
/// in use (a rayon thread waiting inside one convolution's matrix product
/// may be handed another convolution's image).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// One input plane, zero-padded, with each padded row split into its
/// `stride` column phases: padded column `x` is at phase `x % stride`,
/// position `x / stride`. The input of kernel tap `(dy, dx)` for output row
/// `oy` is then one contiguous run, whatever the stride.
struct Phased<'a> {
    data: &'a [f32],
    stride: [usize; 2],
    /// Positions per phase row.
    phase_w: usize,
}

/// The input shape a [`PhasedBuffer`] was last filled for.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PhasedShape {
    h: usize,
    w: usize,
    stride_x: usize,
    padding: [usize; 4],
}

impl PhasedBuffer {
    /// Copies `plane` (`g.h × g.w`) in, padded and phase-split.
    fn fill(
        &mut self,
        plane: &[f32],
        g: &Geometry,
        stride: [usize; 2],
        padding: [usize; 4],
    ) -> Phased<'_> {
        let [top, left, bottom, right] = padding;
        let (padded_h, padded_w) = (g.h + top + bottom, g.w + left + right);
        let sx = stride[1];
        let phase_w = padded_w.div_ceil(sx);
        let shape = PhasedShape {
            h: g.h,
            w: g.w,
            stride_x: sx,
            padding,
        };
        if self.shape != Some(shape) {
            self.data.clear();
            self.data.resize(padded_h * sx * phase_w, 0.0);
            self.shape = Some(shape);
        }
        for (y, src) in plane.chunks_exact(g.w).enumerate() {
            let base = (y + top) * sx * phase_w;
            if sx == 1 {
                self.data[base + left..][..g.w].copy_from_slice(src);
                continue;
            }
            if sx == 2 {
                // Image columns 2i and 2i + 1 go to positions i + a0 and
                // i + b0 of opposite phases: one pass over pairs, which the
                // compiler vectorises (the general loop below is scalar).
                let (even, odd) = self.data[base..][..2 * phase_w].split_at_mut(phase_w);
                let (dst_a, dst_b) = if left % 2 == 0 {
                    (even, odd)
                } else {
                    (odd, even)
                };
                let (a0, b0) = (left / 2, left.div_ceil(2));
                let pairs = src.chunks_exact(2);
                if let [last] = pairs.remainder() {
                    dst_a[a0 + g.w / 2] = *last;
                }
                for ((a, b), pair) in dst_a[a0..].iter_mut().zip(&mut dst_b[b0..]).zip(pairs) {
                    *a = pair[0];
                    *b = pair[1];
                }
                continue;
            }
            for phase in 0..sx {
                // The first position whose padded column j * sx + phase is
                // in the image, and that column's image column.
                let first = left.saturating_sub(phase).div_ceil(sx);
                let x0 = first * sx + phase - left;
                if x0 >= g.w {
                    continue;
                }
                let dst = &mut self.data[base + phase * phase_w + first..];
                for (d, v) in dst.iter_mut().zip(src[x0..].iter().step_by(sx)) {
                    *d = *v;
                }
            }
        }
        Phased {
            data: &self.data,
            stride,
            phase_w,
        }
    }
}

impl Phased<'_> {
    /// Where output row `oy`'s inputs start: tap `(dy, dx)` of output
    /// column `x` reads at `row_base(oy) + tap_offset(dy, dx) + x`.
    #[inline(always)]
    fn row_base(&self, oy: usize) -> usize {
        oy * self.stride[0] * self.stride[1] * self.phase_w
    }

    /// See [`Self::row_base`].
    fn tap_offset(&self, dy: usize, dx: usize) -> usize {
        let sx = self.stride[1];
        (dy * sx + dx % sx) * self.phase_w + dx / sx
    }

    /// `L` values from `start` (past the end: zeros; those lanes belong to
    /// columns past the row's end and are never stored).
    #[inline(always)]
    fn lanes_at<const L: usize>(&self, start: usize) -> [f32; L] {
        let mut v = [0.0; L];
        if let Some(s) = self.data.get(start..start + L) {
            v.copy_from_slice(s);
        } else {
            let s = self.data.get(start..).unwrap_or_default();
            v[..s.len()].copy_from_slice(s);
        }
        v
    }
}

/// Columns (or rows) of one matrix-product task: below this a task's
/// packing and start-up outweigh what a second core gains.
const MIN_TASK_SPAN: usize = 64;

/// `out[m × n] = lhs[m × k] · rhs[k × n]`, all row-major.
///
/// With `parallel`, the product is cut into independent blocks (of output
/// columns when `n ≥ m`, else of rows), one per pool thread, each one
/// single-threaded product: a block waits for no other, so a thread busy
/// with something else (decoding the next photos) delays only the block it
/// would have taken, which another steals.
///
/// # Panics
/// If a slice is shorter than its matrix (a bug in the caller: every caller
/// sizes them from the same geometry).
#[allow(unsafe_code)]
fn matmul(m: usize, n: usize, k: usize, lhs: &[f32], rhs: &[f32], out: &mut [f32], parallel: bool) {
    assert!(lhs.len() >= m * k && rhs.len() >= k * n && out.len() >= m * n);
    let tasks = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let by_columns = n >= m;
    let span = if by_columns { n } else { m };
    // Multiples of 16: whole vector registers for the product's kernel.
    let block = span.div_ceil(tasks).max(MIN_TASK_SPAN).next_multiple_of(16);
    if block >= span {
        gemm_block(m, n, k, Block::whole(lhs, rhs, out, n, k));
        return;
    }
    if by_columns {
        let out = SharedOut(out.as_mut_ptr());
        (0..n.div_ceil(block)).into_par_iter().for_each(|b| {
            let c0 = b * block;
            let cols = block.min(n - c0);
            // SAFETY: blocks are disjoint column ranges `c0..c0 + cols` of
            // `out`, so no two tasks write the same value; `out` outlives the
            // parallel loop, which returns only when every task has.
            let out = unsafe { out.at(c0) };
            gemm_block(
                m,
                cols,
                k,
                Block {
                    lhs: lhs.as_ptr(),
                    lhs_row: k,
                    rhs: rhs[c0..].as_ptr(),
                    rhs_row: n,
                    out,
                    out_row: n,
                },
            );
        });
    } else {
        out[..m * n]
            .par_chunks_mut(block * n)
            .zip(lhs[..m * k].par_chunks(block * k))
            .for_each(|(out, lhs)| {
                let rows = out.len() / n;
                gemm_block(rows, n, k, Block::whole(lhs, rhs, out, n, k));
            });
    }
}

/// A row-major output block's base pointer, sent to the tasks that write
/// disjoint parts of it.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);

impl SharedOut {
    /// The pointer `offset` values past the base.
    ///
    /// # Safety
    /// `offset` must lie inside the allocation the base points into.
    #[allow(unsafe_code)]
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller keeps `offset` inside the allocation.
        unsafe { self.0.add(offset) }
    }
}

// SAFETY: each task writes only its own disjoint block (see `matmul`).
#[allow(unsafe_code)]
unsafe impl Send for SharedOut {}
// SAFETY: as above; the pointer itself is only read.
#[allow(unsafe_code)]
unsafe impl Sync for SharedOut {}

/// The operands of one block product: base pointers and row strides (in
/// values; columns are contiguous).
#[derive(Clone, Copy)]
struct Block {
    lhs: *const f32,
    lhs_row: usize,
    rhs: *const f32,
    rhs_row: usize,
    out: *mut f32,
    out_row: usize,
}

impl Block {
    /// Whole matrices: `lhs` is `· × k`, `rhs` and `out` are `· × n`.
    fn whole(lhs: &[f32], rhs: &[f32], out: &mut [f32], n: usize, k: usize) -> Self {
        Self {
            lhs: lhs.as_ptr(),
            lhs_row: k,
            rhs: rhs.as_ptr(),
            rhs_row: n,
            out: out.as_mut_ptr(),
            out_row: n,
        }
    }
}

/// `out[m × n] = lhs[m × k] · rhs[k × n]` on this thread, through the
/// strides of `b`. Callers (only [`matmul`]) have checked that every row
/// and column addressed lies inside its slice.
#[allow(unsafe_code)]
fn gemm_block(m: usize, n: usize, k: usize, b: Block) {
    let stride = |s: usize| isize::try_from(s).expect("matrix too large");
    // SAFETY: `matmul` bounds every access (its assertion, and blocks cut
    // inside the asserted sizes); `out` does not alias `lhs` or `rhs` (one
    // came from a `&mut`, the others from `&`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            b.out,
            1,
            stride(b.out_row),
            false,
            b.lhs,
            1,
            stride(b.lhs_row),
            b.rhs,
            1,
            stride(b.rhs_row),
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Tensor, TensorData, module};

    use super::*;

    /// Deterministic values in [-1, 1) that are not all alike.
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0)
            .collect()
    }

    /// One convolution case: `[out, in / groups, kh, kw]`, stride, padding
    /// (top, left, bottom, right), groups, batch, input `h × w`, activation.
    struct Case {
        weight: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 4],
        groups: usize,
        batch: usize,
        hw: [usize; 2],
        activation: Activation,
    }

    /// What burn's own convolution and a plain activation give.
    fn burn_reference(case: &Case, input: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
        let device = Device::flex();
        let cin = case.weight[1] * case.groups;
        let shape = [case.batch, cin, case.hw[0], case.hw[1]];
        let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), shape), &device);
        let w = Tensor::<4>::from_data(TensorData::new(weight.to_vec(), case.weight), &device);
        let b = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [case.weight[0]]), &device);
        let [top, left, bottom, right] = case.padding;
        let options = ConvOptions::new_with_padding(
            case.stride,
            [(top, bottom), (left, right)],
            [1, 1],
            case.groups,
        );
        let y = module::conv2d(x, w, Some(b), options);
        let plane = y.dims()[2] * y.dims()[3];
        let mut y = y.into_data().try_to_vec::<f32>().expect("f32 output");
        for (i, v) in y.iter_mut().enumerate() {
            let channel = (i / plane) % case.weight[0];
            match &case.activation {
                Activation::Relu => *v = v.max(0.0),
                Activation::PRelu(slope) if *v < 0.0 => *v *= slope[channel],
                Activation::Identity | Activation::PRelu(_) => {}
            }
        }
        y
    }

    fn check(case: &Case) {
        let cin = case.weight[1] * case.groups;
        let shape = [case.batch, cin, case.hw[0], case.hw[1]];
        let input = values(shape.iter().product(), 1);
        let weight = values(case.weight.iter().product(), 2);
        let bias = values(case.weight[0], 3);
        let mut conv = ConvCpu::new(
            weight.clone(),
            case.weight,
            Some(bias.clone()),
            case.stride,
            case.padding,
            case.groups,
        )
        .expect("a valid convolution");
        assert!(conv.fuse(case.activation.clone()));
        let (ours, out_shape) = conv.run(&input, shape).expect("runs");
        let expected = burn_reference(case, &input, &weight, &bias);
        assert_eq!(ours.len(), expected.len(), "output size for {out_shape:?}");
        let worst = ours
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "{}: max difference {worst} against burn",
            conv.summary()
        );
    }

    fn case(weight: [usize; 4], stride: usize, pad: usize, groups: usize) -> Case {
        Case {
            weight,
            stride: [stride; 2],
            padding: [pad; 4],
            groups,
            batch: 2,
            hw: [9, 11],
            activation: Activation::Identity,
        }
    }

    #[test]
    fn pointwise_matches_burn_batched_and_per_image() {
        // Small planes run as one product over the batch, large ones per
        // image (`MAX_BATCHED_POINTWISE_PLANE`).
        for hw in [[9, 11], [41, 41]] {
            for batch in [1, 3] {
                check(&Case {
                    activation: Activation::Relu,
                    hw,
                    batch,
                    ..case([6, 5, 1, 1], 1, 0, 1)
                });
            }
        }
        // More output channels than columns: the product is cut into
        // blocks of rows (above, of columns).
        check(&Case {
            hw: [3, 3],
            batch: 1,
            ..case([160, 5, 1, 1], 1, 0, 1)
        });
    }

    #[test]
    fn direct_3x3_matches_burn_at_both_strides() {
        for stride in [1, 2] {
            check(&Case {
                activation: Activation::PRelu(values(7, 4)),
                ..case([7, 6, 3, 3], stride, 1, 1)
            });
            // A lone image runs its channel blocks in parallel; 16 and 20
            // outputs make two and three blocks (whole and partial).
            for out in [16, 20] {
                check(&Case {
                    batch: 1,
                    activation: Activation::PRelu(values(out, 5)),
                    ..case([out, 6, 3, 3], stride, 1, 1)
                });
            }
        }
    }

    #[test]
    fn rgb_first_layers_match_burn() {
        // SCRFD's and MobileFaceNet's first layers: RGB in, stride 2.
        let c = case([8, 3, 3, 3], 2, 1, 1);
        check(&c);
        check(&Case { hw: [16, 16], ..c });
    }

    #[test]
    fn depthwise_matches_burn_at_both_strides() {
        for stride in [1, 2] {
            check(&Case {
                activation: Activation::Relu,
                ..case([5, 1, 3, 3], stride, 1, 5)
            });
        }
    }

    #[test]
    fn groups_of_two_match_burn() {
        // MobileFaceNet's second layer: 64 groups of 2 in and 2 out.
        check(&Case {
            activation: Activation::PRelu(values(8, 5)),
            ..case([8, 2, 3, 3], 1, 1, 4)
        });
    }

    #[test]
    fn asymmetric_padding_wide_kernels_and_lone_images_match_burn() {
        for groups in [1, 4] {
            check(&Case {
                padding: [0, 2, 1, 0],
                batch: 1,
                ..case([4, 8 / groups, 5, 3], 2, 0, groups)
            });
        }
        check(&Case {
            stride: [1, 3],
            padding: [2, 1, 0, 2],
            ..case([3, 2, 2, 4], 1, 0, 1)
        });
    }

    #[test]
    fn appended_convolutions_equal_the_separate_ones_stacked() {
        let input = values(2 * 4 * 6 * 6, 6);
        let shape = [2, 4, 6, 6];
        let make = |out: usize, seed: usize| {
            ConvCpu::new(
                values(out * 4 * 9, seed),
                [out, 4, 3, 3],
                Some(values(out, seed + 1)),
                [1, 1],
                [1; 4],
                1,
            )
            .expect("valid")
        };
        let (a, b) = (make(2, 10), make(3, 20));
        assert!(a.same_geometry(&b));
        let mut merged = a.clone();
        merged.append(&b);
        let (both, both_shape) = merged.run(&input, shape).expect("runs");
        let parts = split_channels(&both, both_shape, &[2, 3]);
        assert_eq!(parts[0], a.run(&input, shape).expect("runs"));
        assert_eq!(parts[1], b.run(&input, shape).expect("runs"));
    }

    /// The portable direct kernel (CPUs without AVX2) computes what the
    /// vector one does, for both channel block sizes.
    #[test]
    #[allow(clippy::many_single_char_names)]
    fn portable_direct_kernel_matches_the_vector_one() {
        let (c, h, w) = (5, 7, 19);
        let input = values(c * h * w, 7);
        let mut conv = ConvCpu::new(
            values(11 * c * 9, 8),
            [11, c, 3, 3],
            Some(values(11, 9)),
            [1, 2],
            [1, 1, 1, 0],
            1,
        )
        .expect("valid");
        assert!(conv.fuse(Activation::PRelu(values(11, 10))));
        let (expected, shape) = conv.run(&input, [1, c, h, w]).expect("runs");
        let g = conv.geometry(h, w).expect("fits");
        let plane = g.out_h * g.out_w;
        for block in [8, 16] {
            let mut buffers: Vec<PhasedBuffer> = (0..c).map(|_| PhasedBuffer::default()).collect();
            let planes: Vec<Phased> = buffers
                .iter_mut()
                .zip(input.chunks_exact(h * w))
                .map(|(b, p)| b.fill(p, &g, conv.stride, conv.padding))
                .collect();
            let mut out = vec![f32::NAN; 11 * plane];
            let slopes = conv.negative_slopes();
            let s = DirectShape {
                out_channels: 11,
                kernel: [3, 3],
                out_h: g.out_h,
                out_w: g.out_w,
                bias: &conv.bias,
                negative_slope: &slopes,
            };
            let blocked = conv.blocked_weights(block);
            if block == 16 {
                direct_rows::<16, 8, false>(&mut out, &planes, &blocked, &s);
            } else {
                direct_rows::<8, 8, false>(&mut out, &planes, &blocked, &s);
            }
            assert_eq!(out.len(), shape.iter().product::<usize>());
            for (a, b) in out.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-4, "block {block}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let bad = |weights: usize, shape: [usize; 4], bias: Option<Vec<f32>>, groups: usize| {
            ConvCpu::new(vec![0.0; weights], shape, bias, [1, 1], [0; 4], groups)
                .expect_err("must be refused")
        };
        // Too few weights; groups that do not divide the outputs; a bias of
        // the wrong length.
        bad(5, [1, 1, 3, 3], None, 1);
        bad(27, [3, 1, 3, 3], None, 2);
        bad(9, [1, 1, 3, 3], Some(vec![0.0; 2]), 1);
        let conv =
            ConvCpu::new(vec![0.0; 9], [1, 1, 3, 3], None, [1, 1], [0; 4], 1).expect("valid");
        // Wrong channel count, too small an input, wrong value count.
        assert!(conv.run(&[0.0; 18], [1, 2, 3, 3]).is_err());
        assert!(conv.run(&[0.0; 4], [1, 1, 2, 2]).is_err());
        assert!(conv.run(&[0.0; 8], [1, 1, 3, 3]).is_err());
    }
}

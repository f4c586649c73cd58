//! GPU pre-processing with the WGSL shaders of `shaders/`: the detector
//! letterbox + normalisation and the 112×112 alignment warp, computed on a
//! wgpu adapter with the same arithmetic as the CPU path ([`super::detect`],
//! [`super::align`]), which the tests check pixel by pixel.

use std::borrow::Cow;

use burn::tensor::wgpu::wgpu;

use super::VisionError;
use super::align::{ALIGNED_SIZE, ARCFACE_TEMPLATE, invert, similarity};
use super::decode::DecodedImage;
use super::detect::{Letterbox, letterbox_geometry};
use crate::types::Landmarks;

const LETTERBOX_WGSL: &str = include_str!("../../../shaders/letterbox.wgsl");
const WARP_WGSL: &str = include_str!("../../../shaders/warp112.wgsl");

/// A wgpu device with the pre-processing pipelines compiled.
pub struct GpuPrep {
    device: wgpu::Device,
    queue: wgpu::Queue,
    letterbox: wgpu::ComputePipeline,
    warp: wgpu::ComputePipeline,
    adapter_name: String,
}

impl std::fmt::Debug for GpuPrep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuPrep")
            .field("adapter", &self.adapter_name)
            .finish_non_exhaustive()
    }
}

fn gpu_err(e: impl std::fmt::Display) -> VisionError {
    VisionError::Device(e.to_string())
}

fn bytes_u32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// RGB8 bytes padded to whole `u32` words.
fn packed(rgb: &[u8]) -> Vec<u8> {
    let mut b = rgb.to_vec();
    b.resize(rgb.len().div_ceil(4) * 4, 0);
    b
}

impl GpuPrep {
    /// Opens the default wgpu adapter and compiles both shaders.
    pub fn new() -> Result<Self, VisionError> {
        let instance = wgpu::Instance::default();
        let adapter = super::device::block_on(
            instance.request_adapter(&wgpu::RequestAdapterOptions::default()),
        )
        .map_err(gpu_err)?;
        let adapter_name = adapter.get_info().name;
        let (device, queue) =
            super::device::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
                .map_err(gpu_err)?;
        let pipeline = |src: &str, label: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(src)),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            })
        };
        let letterbox = pipeline(LETTERBOX_WGSL, "letterbox");
        let warp = pipeline(WARP_WGSL, "warp112");
        Ok(Self {
            device,
            queue,
            letterbox,
            warp,
            adapter_name,
        })
    }

    /// The adapter in use.
    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    fn buffer(&self, data: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: data.len().max(4) as u64,
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buf, 0, data);
        buf
    }

    /// Runs `pipeline` with `inputs` bound at 0.. and an output of `out_len`
    /// floats bound last; returns the output.
    fn run(
        &self,
        pipeline: &wgpu::ComputePipeline,
        inputs: &[&wgpu::Buffer],
        out_len: usize,
        groups: [u32; 3],
    ) -> Result<Vec<f32>, VisionError> {
        let size = (out_len * 4) as u64;
        let out = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut entries: Vec<wgpu::BindGroupEntry> = inputs
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: inputs.len() as u32,
            resource: out.as_entire_binding(),
        });
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        enc.copy_buffer_to_buffer(&out, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        let slice = staging.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(gpu_err)?;
        let view = slice.get_mapped_range().map_err(gpu_err)?;
        let floats = view
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        drop(view);
        staging.unmap();
        Ok(floats)
    }

    /// The detector input of `img` (`3 * det * det` floats), as
    /// [`super::detect::letterbox_into`] computes it on the CPU.
    pub fn letterbox(
        &self,
        img: &DecodedImage,
        det: usize,
    ) -> Result<(Vec<f32>, Letterbox), VisionError> {
        let lb = letterbox_geometry(img.width, img.height, det, det);
        let sx = (1.0 / (lb.new_w as f64 / f64::from(img.width))) as f32;
        let sy = (1.0 / (lb.new_h as f64 / f64::from(img.height))) as f32;
        let mut params = bytes_u32(&[
            img.width,
            img.height,
            lb.new_w as u32,
            lb.new_h as u32,
            det as u32,
            0,
        ]);
        params.extend(bytes_f32(&[sx, sy]));
        let p = self.buffer(&params, wgpu::BufferUsages::UNIFORM);
        let src = self.buffer(&packed(&img.rgb), wgpu::BufferUsages::STORAGE);
        let g = (det as u32).div_ceil(8);
        let out = self.run(&self.letterbox, &[&p, &src], 3 * det * det, [g, g, 1])?;
        Ok((out, lb))
    }

    /// Aligned, normalised ArcFace inputs for faces of `img`
    /// (`3 * 112 * 112` floats each); a face with degenerate landmarks gets a black crop.
    pub fn warp(&self, img: &DecodedImage, faces: &[Landmarks]) -> Result<Vec<f32>, VisionError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let mut mats = Vec::with_capacity(faces.len() * 8);
        for lm in faces {
            let inv = similarity(lm, &ARCFACE_TEMPLATE)
                .and_then(|m| invert(&m))
                .unwrap_or([[0.0, 0.0, -1e6], [0.0, 0.0, -1e6]]);
            mats.extend(
                [
                    inv[0][0], inv[0][1], inv[1][0], inv[1][1], inv[0][2], inv[1][2], 0.0, 0.0,
                ]
                .map(|v| v as f32),
            );
        }
        let params = bytes_u32(&[img.width, img.height, faces.len() as u32, 0]);
        let p = self.buffer(&params, wgpu::BufferUsages::UNIFORM);
        let src = self.buffer(&packed(&img.rgb), wgpu::BufferUsages::STORAGE);
        let m = self.buffer(&bytes_f32(&mats), wgpu::BufferUsages::STORAGE);
        let g = (ALIGNED_SIZE as u32).div_ceil(8);
        self.run(
            &self.warp,
            &[&p, &src, &m],
            faces.len() * 3 * ALIGNED_SIZE * ALIGNED_SIZE,
            [g, g, faces.len() as u32],
        )
    }
}

//! GPU pre-processing: the WGSL shaders of `shaders/` run on burn's own wgpu
//! device, so a photo's pixels go to the GPU once, as RGB8, and the detector
//! and recognizer inputs are built there and handed to the models as burn
//! tensors, never read back. The shaders compute the same arithmetic as the
//! CPU path ([`super::detect::letterbox_into`], [`super::align::align_into`]),
//! which `engine/tests/vision_shaders.rs` checks value by value.
//!
//! The shaders are launched through cubecl, burn's kernel runtime, as
//! precompiled kernels: cubecl compiles the WGSL text once per device, binds
//! the buffers in order (binding 0, 1, ...) and schedules the launch on the
//! same queue as the models' own kernels.

use burn::backend::wgpu::CubeTensor;
use burn::backend::{Cube, DispatchDevice};
use burn::cubecl::ir::UIntKind;
use burn::cubecl::ir::metadata::Info;
use burn::cubecl::prelude::{
    AddressType, Client, CubeCount, CubeDim, CubeKernel, ElemType, ExecutionMode, KernelDefinition,
    KernelId, KernelMetadata, KernelSettings, PrecompiledSource, Scope,
};
use burn::cubecl::server::{Handle, KernelArguments};
use burn::tensor::{DType, Device, Shape, Tensor};

use super::VisionError;
use super::align::{ALIGNED_SIZE, ARCFACE_TEMPLATE, invert, similarity};
use super::decode::DecodedImage;
use super::detect::{Letterbox, letterbox_geometry};
use crate::types::Landmarks;

/// Side of the square workgroups both shaders declare (`@workgroup_size(8, 8, 1)`).
const WORKGROUP_SIDE: u32 = 8;

/// One of the WGSL shaders, as a kernel cubecl can launch.
struct Shader {
    name: &'static str,
    wgsl: &'static str,
}

const LETTERBOX: Shader = Shader {
    name: "letterbox",
    wgsl: include_str!("../../../shaders/letterbox.wgsl"),
};

const WARP: Shader = Shader {
    name: "warp112",
    wgsl: include_str!("../../../shaders/warp112.wgsl"),
};

impl KernelMetadata for Shader {
    fn name(&self) -> &'static str {
        self.name
    }

    /// Keyed by the text itself: cubecl's compilation caches see only the id.
    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
            .info(self.wgsl)
            .cube_dim(CubeDim::new_2d(WORKGROUP_SIDE, WORKGROUP_SIDE).0)
    }

    fn address_type(&self) -> ElemType {
        ElemType::UInt(UIntKind::U32)
    }
}

impl CubeKernel for Shader {
    /// Empty: the WGSL text of [`Self::source`] is the kernel.
    fn define(&self) -> KernelDefinition {
        let settings = KernelSettings::new(
            CubeDim::new_2d(WORKGROUP_SIDE, WORKGROUP_SIDE).0,
            ExecutionMode::Checked,
            AddressType::U32,
        );
        KernelDefinition {
            body: Scope::root(settings.clone()),
            settings,
            info: Info::default(),
        }
    }

    fn source(&self) -> Option<PrecompiledSource> {
        Some(PrecompiledSource {
            source: self.wgsl.to_owned(),
            entrypoint_name: "main".to_owned(),
            lang: "wgsl",
        })
    }
}

/// The compute client of `device` when it is a GPU (cubecl) device.
fn client_of(device: &Device) -> Option<(Client, burn::cubecl::Device)> {
    if let DispatchDevice::Cube(d) = device.as_dispatch() {
        Some((d.client(), d.clone()))
    } else {
        None
    }
}

/// Whether `device` runs on cubecl (the wgpu backend), where the shaders run.
pub fn is_gpu(device: &Device) -> bool {
    matches!(device.as_dispatch(), DispatchDevice::Cube(_))
}

/// The largest buffer `client`'s device binds.
fn max_bytes_of(client: &Client) -> u64 {
    client.properties().memory.max_page_size
}

fn words(v: impl IntoIterator<Item = u32>) -> Vec<u8> {
    v.into_iter().flat_map(u32::to_le_bytes).collect()
}

/// A photo's RGB8 pixels on the GPU, packed four bytes to a `u32` word as
/// the shaders read them.
pub struct GpuPixels {
    client: Client,
    device: burn::cubecl::Device,
    pixels: Handle,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for GpuPixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuPixels")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl GpuPixels {
    /// Uploads `img` to `device`. `None` when `device` is not a GPU
    /// device, or when the photo is larger than one buffer of this GPU may
    /// be: that photo is then prepared on the CPU.
    pub fn upload(img: &DecodedImage, device: &Device) -> Option<Self> {
        let (client, device) = client_of(device)?;
        let bytes = img.rgb.len().div_ceil(4) * 4;
        if bytes as u64 > max_bytes_of(&client) {
            return None;
        }
        let pixels = if bytes == img.rgb.len() {
            client.create_from_slice(&img.rgb)
        } else {
            let mut padded = Vec::with_capacity(bytes);
            padded.extend_from_slice(&img.rgb);
            padded.resize(bytes, 0);
            client.create_from_slice(&padded)
        };
        Some(Self {
            client,
            device,
            pixels,
            width: img.width,
            height: img.height,
        })
    }

    /// The largest photo upload `device` takes, in bytes (`None`: not a GPU
    /// device).
    pub fn max_bytes(device: &Device) -> Option<u64> {
        client_of(device).map(|(client, _)| max_bytes_of(&client))
    }

    /// Launches `shader` with `params` and the pixels bound first, then
    /// `extra`, then a fresh output of `shape` (f32), returned as a tensor.
    fn launch(
        &self,
        shader: Shader,
        params: &[u8],
        extra: Option<&[u8]>,
        shape: [usize; 4],
        groups: [u32; 3],
    ) -> Tensor<4> {
        let floats: usize = shape.iter().product();
        let out = self.client.empty(floats * size_of::<f32>());
        let mut args = KernelArguments::new()
            .with_buffer(self.client.create_from_slice(params).binding())
            .with_buffer(self.pixels.clone().binding());
        if let Some(extra) = extra {
            args = args.with_buffer(self.client.create_from_slice(extra).binding());
        }
        args = args.with_buffer(out.clone().binding());
        self.client.launch(
            Box::new(shader),
            CubeCount::Static(groups[0], groups[1], groups[2]),
            args,
        );
        let tensor = CubeTensor::new_contiguous(
            self.client.clone(),
            self.device.clone(),
            Shape::new(shape),
            out,
            DType::F32,
        );
        Tensor::from_primitive::<Cube>(tensor)
    }

    /// The detector input (`[1, 3, det, det]`), as
    /// [`super::detect::letterbox_into`] computes it on the CPU.
    pub fn letterbox(&self, det: usize) -> (Tensor<4>, Letterbox) {
        let lb = letterbox_geometry(self.width, self.height, det, det);
        let sx = (1.0 / (lb.new_w as f64 / f64::from(self.width))) as f32;
        let sy = (1.0 / (lb.new_h as f64 / f64::from(self.height))) as f32;
        let params = words([
            self.width,
            self.height,
            lb.new_w as u32,
            lb.new_h as u32,
            det as u32,
            0,
            sx.to_bits(),
            sy.to_bits(),
        ]);
        let g = (det as u32).div_ceil(WORKGROUP_SIDE);
        let input = self.launch(LETTERBOX, &params, None, [1, 3, det, det], [g, g, 1]);
        (input, lb)
    }

    /// Aligned, normalised ArcFace inputs (`[n, 3, 112, 112]`) for faces of
    /// this photo, as [`super::align::align_into`] computes them on the CPU,
    /// and per face whether its landmarks could be aligned (a face whose
    /// landmarks are degenerate gets a black crop and `false`).
    pub fn warp(&self, faces: &[Landmarks]) -> Result<(Tensor<4>, Vec<bool>), VisionError> {
        if faces.is_empty() {
            return Err(VisionError::Invalid("no faces to align".into()));
        }
        let mut ok = Vec::with_capacity(faces.len());
        let mut mats = Vec::with_capacity(faces.len() * 8);
        for lm in faces {
            let inv = similarity(lm, &ARCFACE_TEMPLATE).and_then(|m| invert(&m));
            ok.push(inv.is_some());
            // A degenerate face samples far outside the photo: black.
            let inv = inv.unwrap_or([[0.0, 0.0, -1e6], [0.0, 0.0, -1e6]]);
            mats.extend(
                [
                    inv[0][0], inv[0][1], inv[1][0], inv[1][1], inv[0][2], inv[1][2], 0.0, 0.0,
                ]
                .map(|v| (v as f32).to_bits()),
            );
        }
        let params = words([self.width, self.height, faces.len() as u32, 0]);
        let g = (ALIGNED_SIZE as u32).div_ceil(WORKGROUP_SIDE);
        let crops = self.launch(
            WARP,
            &params,
            Some(&words(mats)),
            [faces.len(), 3, ALIGNED_SIZE, ALIGNED_SIZE],
            [g, g, faces.len() as u32],
        );
        Ok((crops, ok))
    }
}
